//! The run's simulated clock, read without cloning madsim's time handle at every call.
//!
//! Why: `TimeHandle::current()` clones two `Arc`s out of the runtime's thread-local context and
//! drops them again; the shell reads the clock for every packet, timer and record (~7% of a
//! swarm sweep's time went there). `block_on_seed` keeps the run's handle in a thread-local for
//! as long as the run lasts; outside one, the clock is read the ordinary way.

use std::cell::RefCell;
use std::time::Duration;

use madsim::time::TimeHandle;

thread_local! {
    static RUN_CLOCK: RefCell<Option<TimeHandle>> = const { RefCell::new(None) };
}

/// Simulated time since the run started.
pub fn elapsed() -> Duration {
    RUN_CLOCK.with(|clock| match &*clock.borrow() {
        Some(handle) => handle.elapsed(),
        None => TimeHandle::current().elapsed(),
    })
}

/// Keeps the current runtime's clock for [`elapsed`] until the guard drops (also when the run
/// panics). Call inside the runtime.
pub fn keep_for_this_run() -> RunClock {
    RUN_CLOCK.with(|clock| {
        let mut clock = clock.borrow_mut();
        assert!(clock.is_none(), "one run at a time on a thread");
        *clock = Some(TimeHandle::current());
    });
    RunClock(())
}

/// The guard of [`keep_for_this_run`].
pub struct RunClock(());

impl Drop for RunClock {
    fn drop(&mut self) {
        RUN_CLOCK.with(|clock| *clock.borrow_mut() = None);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A run that panics lets its clock go: the next run on this thread reads its own clock.
    #[test]
    fn the_next_run_on_a_thread_reads_its_own_clock_even_after_a_panic() {
        let first = std::panic::catch_unwind(|| {
            crate::sim::cluster::block_on_seed(1, async {
                madsim::time::sleep(Duration::from_millis(50)).await;
                panic!("the run fails");
            })
        });
        assert!(first.is_err());
        let ms = crate::sim::cluster::block_on_seed(2, async {
            madsim::time::sleep(Duration::from_millis(5)).await;
            super::elapsed().as_millis()
        });
        assert_eq!(ms, 5, "the second run's clock, not the first's");
    }
}
