//! A task's reusable deadline that arms a madsim timer only when it has to.
//!
//! Why: madsim's `Sleep` adds a timer to the runtime's heap on *every* poll while pending, and a
//! node's event loop used to build a fresh `Sleep` for every packet it handled. Each left a
//! stale timer behind that later woke the task for nothing, so a run spent much of its time
//! pushing, popping and firing timers nobody waited for. An `Alarm` remembers the timer it armed
//! and arms another only when the deadline is earlier, or the armed one has gone off.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::FusedFuture;

/// Simulated nanoseconds since the run started.
pub fn now_ns() -> u64 {
    crate::sim::clock::elapsed().as_nanos() as u64
}

/// One task's deadline. Wait on it with [`Alarm::until`]; reuse it across loop iterations.
#[derive(Debug, Default)]
pub struct Alarm {
    /// The deadline of the madsim timer this alarm armed last, still pending if in the future.
    armed_ns: Option<u64>,
}

impl Alarm {
    pub fn new() -> Alarm {
        Alarm::default()
    }

    /// Resolves once simulated time reaches `deadline_ns` (since the run started).
    pub fn until(&mut self, deadline_ns: u64) -> Until<'_> {
        Until { alarm: self, deadline_ns, done: false }
    }
}

/// The future of [`Alarm::until`].
pub struct Until<'a> {
    alarm: &'a mut Alarm,
    deadline_ns: u64,
    done: bool,
}

impl Future for Until<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = now_ns();
        if now >= self.deadline_ns {
            self.done = true;
            return Poll::Ready(());
        }
        let deadline = self.deadline_ns;
        // A pending timer at or before the deadline wakes this task in time; it is the same task
        // (an alarm belongs to one loop), so its waker is still the right one.
        let covered = self.alarm.armed_ns.is_some_and(|armed| armed > now && armed <= deadline);
        if !covered {
            let mut sleep = madsim::time::sleep(Duration::from_nanos(deadline - now));
            // Polling a pending `Sleep` registers its timer with this task's waker.
            let pending = Pin::new(&mut sleep).poll(cx).is_pending();
            assert!(pending, "a future deadline is pending");
            self.alarm.armed_ns = Some(deadline);
            super::profile::timer_armed();
        }
        Poll::Pending
    }
}

impl FusedFuture for Until<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}
