/*!
netdrill: a declarative, scenario-driven network exercise runner.

A TOML scenario file describes a scripted exchange (connect, send, recv, shutdown,
close, UDP datagrams, simulated loss); netdrill runs it against real sockets, against a
program under test, and records a deterministic transcript.

# Layout
Data flows one way, and the modules follow it (see `docs/architecture.md`):

- [`scenario`]: reading a scenario file: raw TOML tree with spans → validated
  [`scenario::Scenario`] whose steps carry their source spans; the step grammar and
  actor-state rules; templating; the JSON Schema document.
- [`action`]: one file per action (or small family): its declaration, parse, transcript
  detail and exec; the registry every list of words is derived from.
- [`diagnostic`]: miette diagnostics for everything wrong in a file, all at once.
- [`interp`]: the interpreter on tokio: the run lifecycle, sessions and `parallel`
  copies, actors (TCP, UDP, listener, process), the target's lifecycle, the impairing
  link, PID namespaces around spawned programs, a pool of single-threaded runtimes.
- [`outcome`]: how a run ended, as plain data that reports read.
- [`limits`]: the bounds on what peers and programs may make netdrill hold.
- [`transcript`]: what a run did, as plain data with no ports, times or PIDs.
- [`report`]: human, JSON, JUnit and TAP output of a set of runs; snapshots.
- [`grade`]: rubrics, a worker per submission (namespaces, limits), Gradescope and
  PrairieLearn results, summaries, shards.
- [`builtin`]: the embedded reference servers (`uppercase`, `echo`, flawed variants).
- [`cli`]: the `netdrill` command line (`run`, `check`, `serve`, `schema`, `grade`).
*/

pub mod action;
pub mod builtin;
pub mod cli;
pub mod diagnostic;
pub mod explore;
pub mod grade;
pub mod interp;
pub mod limits;
pub mod outcome;
pub mod report;
pub mod scenario;
pub mod transcript;

pub use scenario::{Scenario, load_file, load_str};
pub use transcript::Transcript;
