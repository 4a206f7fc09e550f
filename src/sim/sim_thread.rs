//! Long-lived simulation threads: each thread that runs seeds keeps one helper thread with a
//! big stack and hands it one run at a time.
//!
//! Why: a run needs a deep stack (the data tree and the checkers recurse) and was given a fresh
//! thread each time. A fresh thread starts on fresh heap pages, and the kernel zeroing them was
//! ~15% of a default run's time (`perf`: `clear_page_erms`). Reusing the thread reuses its
//! allocator's pages. Nothing of a run survives into the next: each run builds a new madsim
//! runtime, the node list of [`super::reap_nodes`] is cleared before it, and a run that panics
//! is caught here and reported as the thread's result, as a join would.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// Stack of a simulation thread.
pub const STACK_BYTES: usize = 64 << 20;

thread_local! {
    static WORKER: RefCell<Option<mpsc::SyncSender<Job>>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's simulation thread (started on first use) and waits for it: `Err`
/// with the panic's payload if it panicked, as `JoinHandle::join` returns.
pub fn run_on_sim_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::thread::Result<T> {
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        super::forget_nodes();
        let result = catch_unwind(AssertUnwindSafe(f));
        let _ = done_tx.send(result);
    });
    WORKER.with(|worker| {
        let mut worker = worker.borrow_mut();
        let sender = worker.get_or_insert_with(spawn_worker);
        if let Err(mpsc::SendError(job)) = sender.send(job) {
            // The thread is gone (it cannot be, short of an abort): start another.
            let fresh = spawn_worker();
            fresh.send(job).expect("a fresh simulation thread takes a job");
            *worker = Some(fresh);
        }
    });
    done_rx.recv().unwrap_or_else(|_| Err(Box::new("the simulation thread ended without a result")))
}

fn spawn_worker() -> mpsc::SyncSender<Job> {
    // One job at a time: the caller waits for its result before it can send another.
    let (tx, rx) = mpsc::sync_channel::<Job>(1);
    std::thread::Builder::new()
        .name("simulation".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            for job in rx {
                job();
            }
        })
        .expect("spawn a simulation thread");
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_run_is_reported_and_the_thread_serves_the_next() {
        let first = std::thread::current().id();
        let panicked = run_on_sim_thread(|| -> u32 { panic!("planted") });
        let message = crate::sim::cluster::panic_message(panicked.expect_err("the panic is the result").as_ref());
        assert_eq!(message, "planted");
        let a = run_on_sim_thread(|| std::thread::current().id()).unwrap();
        let b = run_on_sim_thread(|| std::thread::current().id()).unwrap();
        assert_eq!(a, b, "one simulation thread serves this thread's runs");
        assert_ne!(a, first, "runs go to the simulation thread, not the caller");
    }
}
