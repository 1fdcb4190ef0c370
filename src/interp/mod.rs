/*!
The interpreter: runs a validated scenario against real sockets and processes on tokio.

- `engine`: walks the steps in order, owns the actors and the transcript.
- `tcp`, `udp`: the socket actors.
- `process`: spawned programs (process groups, stdin/stdout, exit, kill).
- `target`: the program under test: start, readiness, teardown.
- `link`: the impairing relay between actors and target.
*/

pub mod engine;
pub mod link;
pub mod process;
pub mod target;
pub mod tcp;
pub mod udp;
