//! A task's reusable deadline that arms a madsim timer only when it has to.
//!
//! Why: madsim's `Sleep` adds a timer to the runtime's heap on *every* poll while pending, and a
//! node's event loop used to build a fresh `Sleep` for every packet it handled. Each left a
//! stale timer behind that later woke the task for nothing, so a run spent much of its time
//! pushing, popping and firing timers nobody waited for. An `Alarm` remembers the timers it armed
//! that are still pending and arms another only when none of them fires by the deadline. (It
//! once remembered only the last: a loop whose far deadline — a tick, a session timeout — was
//! interrupted by a near one — an fsync — armed the far one again after the near one fired, a
//! fifth of all timers of a run.)

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::FusedFuture;

/// Simulated nanoseconds since the run started.
pub fn now_ns() -> u64 {
    crate::sim::clock::elapsed().as_nanos() as u64
}

/// madsim never sleeps less than this (`TimeHandle::sleep_until` takes the later of the
/// deadline and a millisecond from now): a timer armed for an earlier deadline fires then.
const MADSIM_MIN_SLEEP_NS: u64 = 1_000_000;

/// Timers an alarm remembers; past this the farthest is forgotten (it still fires, waking the
/// task once for nothing, and its deadline is armed again if still wanted).
const ARMED_REMEMBERED_MAX: usize = 8;

/// One task's deadline. Wait on it with [`Alarm::until`]; reuse it across loop iterations.
#[derive(Debug, Default)]
pub struct Alarm {
    /// When the madsim timers this alarm armed fire, earliest first; those still in the future
    /// are pending. Every timer is armed earlier than those pending, so it goes in front.
    armed_ns: VecDeque<u64>,
}

impl Alarm {
    pub fn new() -> Alarm {
        Alarm::default()
    }

    /// Resolves once simulated time reaches `deadline_ns` (since the run started).
    pub fn until(&mut self, deadline_ns: u64) -> Until<'_> {
        Until { alarm: self, deadline_ns, done: false }
    }

    /// Whether a pending timer wakes the task by `fires_ns`; forgets the timers that fired.
    fn covered(&mut self, fires_ns: u64, now: u64) -> bool {
        while self.armed_ns.front().is_some_and(|&at| at <= now) {
            self.armed_ns.pop_front();
        }
        self.armed_ns.front().is_some_and(|&first| first <= fires_ns)
    }

    fn remember(&mut self, fires_ns: u64) {
        debug_assert!(self.armed_ns.front().is_none_or(|&first| fires_ns < first), "armed before every pending timer");
        self.armed_ns.push_front(fires_ns);
        if self.armed_ns.len() > ARMED_REMEMBERED_MAX {
            self.armed_ns.pop_back();
        }
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
        let fires_ns = deadline.max(now + MADSIM_MIN_SLEEP_NS);
        // A pending timer firing by then wakes this task in time; it is the same task (an alarm
        // belongs to one loop), so its waker is still the right one.
        if !self.alarm.covered(fires_ns, now) {
            let mut sleep = madsim::time::sleep(Duration::from_nanos(deadline - now));
            // Polling a pending `Sleep` registers its timer with this task's waker.
            let pending = Pin::new(&mut sleep).poll(cx).is_pending();
            assert!(pending, "a future deadline is pending");
            self.alarm.remember(fires_ns);
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn timers_armed() -> u64 {
        crate::sim::profile::take().timers_armed
    }

    #[test]
    fn a_far_deadline_interrupted_by_a_near_one_is_armed_once() {
        crate::sim::cluster::block_on_seed(3, async {
            let mut alarm = Alarm::new();
            let _ = timers_armed();
            let start = now_ns();
            let far = start + 100 * MS;
            // The loop waits for its far deadline, then something nearer comes (an fsync).
            futures::future::select(alarm.until(far), Box::pin(madsim::time::sleep(Duration::from_millis(1)))).await;
            alarm.until(start + 3 * MS).await;
            assert_eq!(now_ns() - start, 3 * MS + 50);
            alarm.until(far).await;
            assert_eq!(now_ns(), far + 50, "woken by the far timer armed first");
            assert_eq!(timers_armed(), 2, "the far deadline's timer was still pending: not armed again");
        });
    }

    #[test]
    fn an_alarm_remembers_a_bounded_number_of_timers() {
        crate::sim::cluster::block_on_seed(4, async {
            let mut alarm = Alarm::new();
            let start = now_ns();
            for i in 0..20u64 {
                // Ever nearer deadlines, each armed in front of the pending ones.
                let until = alarm.until(start + (100 - i) * MS);
                futures::pin_mut!(until);
                assert!(futures::poll!(until.as_mut()).is_pending());
                assert!(alarm.armed_ns.len() <= ARMED_REMEMBERED_MAX);
            }
            assert_eq!(alarm.armed_ns.front(), Some(&(start + 81 * MS)));
            alarm.until(start + 90 * MS).await;
            let later = alarm.until(start + 95 * MS);
            futures::pin_mut!(later);
            assert!(futures::poll!(later.as_mut()).is_pending());
            assert!(alarm.armed_ns.iter().all(|&at| at > start + 90 * MS), "the fired ones are forgotten at the next wait");
            assert_eq!(alarm.armed_ns.front(), Some(&(start + 95 * MS)), "95 ms is the earliest still pending");
        });
    }
}
