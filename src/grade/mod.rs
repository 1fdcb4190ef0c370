/*!
Grading a class: a rubric of scenarios with points, run against every submission.

- [`model`]: the rubric as plain data.
- [`rubric`]: reading and validating a rubric file (miette diagnostics, like scenarios).
- [`isolate`]: a network, PID and mount namespace per submission.
- [`limits`]: CPU, memory, process, file-size and output limits on student programs.
- [`grader`]: grading a class: a worker per submission, outputs as each one ends.
- [`worker`]: grading one submission, in a worker process of its own.
- [`outcome`]: what grading a submission produced, as plain data.
- [`output`]: results.json (Gradescope, PrairieLearn), transcripts, summaries, merge.
*/

pub mod grader;
pub mod isolate;
pub mod limits;
pub mod model;
pub mod outcome;
pub mod output;
pub mod rubric;
pub mod worker;

pub use model::{Limits, Rubric, RubricTarget, RubricTest, Visibility};
