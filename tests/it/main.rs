/*!
netdrill's integration tests: one test binary, one module per area.
*/

mod cli;
mod docs;
mod engine;
mod explore;
mod failures;
mod grade;
mod init;
mod isolate;
mod link;
mod loader;
mod procs;
mod protocols;
mod rubric;
mod shape;
mod suite;
mod vocab;
