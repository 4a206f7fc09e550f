//! The simulated wire: every packet in flight, delivered to its host's mailbox at its arrival
//! time by one driver task per run.
//!
//! Why not madsim's `Endpoint`: each `send_to_raw` spawned a task and armed three timers (a send
//! jitter, the latency, a receive jitter), and each receiver ran a forwarding task — the
//! simulator's largest cost per committed write. Here a packet is one heap entry; the driver
//! sleeps until the earliest arrival, hands every due packet to its host's channel, and sleeps
//! again. Latency is drawn from the run's seeded RNG, as madsim drew it, in whole
//! milliseconds, and every arrival falls on a millisecond: packets due in the same millisecond
//! share one wake-up of the driver and of their receiver (with the alarms' memory of pending
//! timers, 913 -> 651 timers per simulated second; `reports/testbed-bench.md`). A server's
//! deadlines (ticks, fsyncs, session timeouts) fall on the millisecond too; what is due at the
//! same instant runs in madsim's seeded order.
//!
//! Faithful to what the shell needs from the network: a killed host's mailbox is gone, so what
//! arrives while it is down is lost; a paused host's mailbox fills and is read when it resumes;
//! a restarted host binds a new mailbox. Data sent just before its sender crashes still
//! arrives, as a kernel sends what was written to a socket before the process died.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::task::Waker;

use rand::Rng;

use super::limits::InFlight;
use super::mailbox::{mailbox, Mailbox, MailboxSender};
use super::alarm::now_ns;

/// A host's address on the wire (`net::Addr`).
pub type Host = u64;

/// A packet on its way, with the guard that keeps its messages counted in flight
/// (`limits::MESSAGES_IN_FLIGHT_MAX` bounds the wire: past it the run ends as a verdict) until
/// the receiving process has handled it.
struct Arrival<P> {
    at_ns: u64,
    seq: u64,
    to: Host,
    packet: P,
    guard: InFlight,
}

impl<P> PartialEq for Arrival<P> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ns, self.seq) == (other.at_ns, other.seq)
    }
}
impl<P> Eq for Arrival<P> {}
impl<P> PartialOrd for Arrival<P> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for Arrival<P> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_ns, self.seq).cmp(&(other.at_ns, other.seq))
    }
}

/// The packets (of type `P`) in flight and the hosts' mailboxes.
pub struct Wire<P> {
    in_flight: BinaryHeap<Reverse<Arrival<P>>>,
    next_seq: u64,
    mailboxes: BTreeMap<Host, MailboxSender<(P, InFlight)>>,
    /// One-way latency range in whole milliseconds, [min, max] (uniform, both ends included:
    /// the mean is that of the continuous [min, max) it replaced).
    latency_ms: (u64, u64),
    /// The earliest arrival the driver sleeps until (None: it waits for a packet).
    armed_ns: Option<u64>,
    driver: Option<Waker>,
    woken: bool,
}

impl<P> Default for Wire<P> {
    fn default() -> Self {
        Wire { in_flight: BinaryHeap::new(), next_seq: 0, mailboxes: BTreeMap::new(), latency_ms: (0, 0), armed_ns: None, driver: None, woken: false }
    }
}

impl<P> std::fmt::Debug for Wire<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire").field("in_flight", &self.in_flight.len()).field("hosts", &self.mailboxes.len()).finish()
    }
}

impl<P> Wire<P> {
    pub fn set_latency_ms(&mut self, min_ms: u64, max_ms: u64) {
        assert!(min_ms <= max_ms, "latency range [{min_ms}, {max_ms}]");
        self.latency_ms = (min_ms, max_ms);
    }

    /// A host (re)binds: packets for it go to the returned channel from now on.
    pub fn bind(&mut self, addr: Host) -> Mailbox<(P, InFlight)> {
        let (tx, rx) = mailbox();
        self.mailboxes.insert(addr, tx);
        rx
    }

    /// Puts a packet on the wire; it arrives after the drawn latency plus `extra_ms`.
    pub fn send(&mut self, to: Host, packet: P, guard: InFlight, extra_ms: u64) {
        crate::sim::profile::packet_sent();
        let (lo, hi) = self.latency_ms;
        let latency_ms = if hi > lo { madsim::rand::thread_rng().gen_range(lo..=hi) } else { lo };
        // madsim moves the clock a few ns per poll, so `now` is rarely on the millisecond: round
        // down (rounding up would add most of a millisecond to every latency), never before now.
        let now = now_ns();
        let at_ns = ((now + (latency_ms + extra_ms) * 1_000_000) / 1_000_000 * 1_000_000).max(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.push(Reverse(Arrival { at_ns, seq, to, packet, guard }));
        if self.armed_ns.is_none_or(|armed| at_ns < armed) {
            self.woken = true;
            if let Some(waker) = self.driver.take() {
                waker.wake();
            }
        }
    }

    /// Hands every packet due by `now_ns` to its host; returns the next arrival time.
    pub fn deliver_due(&mut self, now_ns: u64) -> Option<u64> {
        while let Some(Reverse(head)) = self.in_flight.peek() {
            if head.at_ns > now_ns {
                break;
            }
            let Reverse(Arrival { to, packet, guard, .. }) = self.in_flight.pop().expect("peeked");
            let delivered = self.mailboxes.get(&to).is_some_and(|mailbox| mailbox.send((packet, guard)).is_ok());
            if !delivered {
                // The host is down (its mailbox went with its tasks): the packet is lost.
                self.mailboxes.remove(&to);
            }
        }
        let next = self.in_flight.peek().map(|Reverse(head)| head.at_ns);
        assert!(next.is_none_or(|at| at > now_ns), "every due packet was handed over");
        self.armed_ns = next;
        self.woken = false;
        next
    }

    /// Whether a packet earlier than the armed arrival came since the driver last looked
    /// (clears it).
    pub fn take_woken(&mut self) -> bool {
        std::mem::take(&mut self.woken)
    }

    /// The driver waits: `waker` is woken by the next packet earlier than the armed arrival.
    pub fn park_driver(&mut self, waker: Waker) {
        self.driver = Some(waker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::limits::InFlightCounter;

    const MS: u64 = 1_000_000;

    /// Arrivals fall on the millisecond, never before the send, and the latency keeps the range
    /// and the mean of `[1, 5]` ms — also when `now` is off the millisecond, as madsim's per-poll
    /// nudge leaves it (rounding up there added most of a millisecond to every latency).
    #[test]
    fn latencies_are_whole_milliseconds_with_the_range_and_mean_of_the_configured_one() {
        crate::sim::cluster::block_on_seed(7, async {
            madsim::time::sleep(std::time::Duration::from_millis(3)).await;
            let now = now_ns();
            assert_ne!(now % MS, 0, "the test needs a send off the millisecond");
            let counter = InFlightCounter::default();
            let mut wire: Wire<u32> = Wire::default();
            wire.set_latency_ms(1, 5);
            let _mailbox = wire.bind(1);
            const SENT: u64 = 2_000;
            for i in 0..SENT {
                wire.send(1, i as u32, counter.enter(1).0, 0);
            }
            wire.send(1, u32::MAX, counter.enter(1).0, 100);
            let mut seen = [0u64; 6];
            let mut total_ns = 0;
            while let Some(Reverse(arrival)) = wire.in_flight.pop() {
                assert_eq!(arrival.at_ns % MS, 0, "on the millisecond");
                let after_ns = arrival.at_ns - now;
                if arrival.packet == u32::MAX {
                    assert!((100 * MS..=105 * MS).contains(&after_ns) && after_ns > 100 * MS, "extra_ms adds to the drawn latency: {after_ns} ns");
                    continue;
                }
                assert!(after_ns > 0 && after_ns <= 5 * MS, "within (0, 5] ms: {after_ns} ns");
                seen[after_ns.div_ceil(MS) as usize] += 1;
                total_ns += after_ns;
            }
            assert_eq!(seen[0], 0);
            assert!(seen[1..].iter().all(|&n| n > SENT / 8), "every whole latency of 1..=5 ms drawn evenly: {seen:?}");
            let mean_ms = total_ns as f64 / SENT as f64 / MS as f64;
            assert!((2.85..=3.1).contains(&mean_ms), "mean latency {mean_ms:.3} ms, the range's 3 ms");
        });
    }
}
