/*!
The interpreter: runs a validated scenario against real sockets and processes on tokio.

- `engine`: the run lifecycle: target up, the top session over the steps, teardown.
- `session`: the actors, variables and transcript of a run (or a `parallel` copy), and
  the step loop; `parallel`: the copies of a block; `peers`: where names and addresses
  lead (the link included).
- `tcp`, `udp`: the socket actors.
- `process`: spawned programs (process groups, stdin/stdout, exit, kill).
- `pidns`: a PID namespace around each spawned program, so that nothing outlives netdrill.
- `target`: the program under test: start, readiness, teardown.
- `link`: the impairing relay between actors and target.
- `pool`: single-threaded runtimes, one run on one thread, runs spread over the cores.
*/

pub mod engine;
pub mod link;
mod parallel;
mod peers;
pub mod pidns;
pub mod pool;
pub mod process;
pub mod session;
pub mod target;
pub mod tcp;
pub mod udp;

/// Locks `m`, also when a thread panicked while holding it (the data is still usable
/// for netdrill's bookkeeping: registries, logs, caches).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
