/*!
A pool of single-threaded runtimes for runs: each run (its steps, its sockets, its
built-in server, its `parallel` copies) lives on ONE thread, whose own I/O driver wakes
it, so a round trip costs no hand-off between threads; runs spread over up to one thread
per core, so `-j` still uses every core.

A multi-thread runtime would move a run's task between workers and wake a second worker
on every readiness event: a futex wake and a context switch per step, which is most of
the cost of a short round trip when netdrill shares a CPU with the server under test.
*/

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// One thread driving a current-thread runtime until the pool is dropped.
struct Worker {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Up to `threads` single-threaded runtimes; runs are handed out in turn.
pub struct RunPool {
    workers: Vec<Worker>,
    next: AtomicUsize,
}

impl RunPool {
    /// A pool of `threads` runtimes (at least one).
    pub fn new(threads: usize) -> std::io::Result<RunPool> {
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("netdrill-run-{i}"))
                .spawn(move || {
                    let _ = runtime.block_on(stopped);
                })?;
            workers.push(Worker {
                handle,
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(RunPool {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// The number of threads to use for `jobs` concurrent runs: one per core at most.
    pub fn threads_for(jobs: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        jobs.clamp(1, cores)
    }

    /// Runs `future` on the next thread of the pool; its output, or the panic's message
    /// when it panicked.
    pub async fn run<F>(&self, future: F) -> Result<F::Output, String>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[i]
            .handle
            .spawn(future)
            .await
            .map_err(|e| e.to_string())
    }
}

impl Drop for RunPool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(());
            }
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_spread_over_the_threads_and_each_stays_on_one() {
        let pool = RunPool::new(2).unwrap();
        let main = Builder::new_current_thread().enable_all().build().unwrap();
        let names = main.block_on(async {
            let mut names = Vec::new();
            for _ in 0..4 {
                let name = pool
                    .run(async {
                        let before = std::thread::current().name().map(str::to_string);
                        tokio::task::yield_now().await;
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        let after = std::thread::current().name().map(str::to_string);
                        assert_eq!(before, after, "a run never changes threads");
                        after
                    })
                    .await
                    .unwrap();
                names.push(name.unwrap());
            }
            names
        });
        assert_eq!(
            names,
            [
                "netdrill-run-0",
                "netdrill-run-1",
                "netdrill-run-0",
                "netdrill-run-1"
            ]
        );
        let failed = main.block_on(pool.run(async { panic!("boom") }));
        assert!(failed.unwrap_err().contains("panicked"));
    }
}
