/*!
netdrill's integration tests: one test binary, one module per area.
*/

mod cli;
mod engine;
mod link;
mod loader;
mod procs;
