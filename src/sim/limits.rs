//! Bounds on everything a run keeps, and what happens when one is exceeded.
//!
//! Why (TigerBeetle puts a limit on everything): a build whose election never settles sends
//! notifications faster than they are consumed; with nothing bounded a single seed grew past
//! 24 GiB and took a whole sweep down with it, reporting nothing. Here each queue or buffer has
//! a static limit far above what a healthy run uses (measured: see the constants), and a run
//! that exceeds one ends as a *liveness failure naming what overflowed*: the transport stops
//! sending, every server process stops, and the runner ends the run at its next check. A
//! sweep's memory then stays flat whatever the build does.
//!
//! Bounded elsewhere: the server-event queue (`events::SERVER_EVENTS_MAX`), online-invariant
//! violations (100), fault-point firings (64), the leader's outstanding changes
//! (`tree::prep`), the committed log (`commitLogCount`), retained snapshots (3).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Whether the run exceeded a bound, readable without the locks of the state that records
/// what overflowed (every server's event loop asks before each step). Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct RunOver(Arc<AtomicBool>);

impl RunOver {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Messages sent and not yet handled by the receiving process (in madsim's network, held on a
/// cut link, or queued for a busy process); a packet carries a batch of messages. Healthy runs
/// peak at ~2,000 (measured over 20 seeds of default, swarm, many-clients, explore,
/// power-loss, loss-and-delay-storm, observers; `many-clients` is the highest); an election
/// that never settles batches a growing storm of notifications into each packet and passes
/// this within simulated milliseconds.
pub const MESSAGES_IN_FLIGHT_MAX: usize = 100_000;

/// Messages sent in one simulated second: the run's budget of work, so a steady storm below the
/// in-flight bound still ends in bounded wall time. Healthy runs peak at ~4,600 a second
/// (measured as above).
pub const MESSAGES_PER_SIM_SECOND_MAX: u64 = 500_000;

/// Turns of one event loop — a server's (a packet handled, a deadline reached) or a client
/// session's driver (an event or a timeout) — in one simulated second. A loop whose deadline is
/// always already due never waits, so simulated time stops and no other bound sees it: the run
/// would spin forever. Healthy runs stay under 1,000 (every
/// shipped scenario, `bugs/` and `faults/` included, seeds 0..8; `rolling-restart` is the
/// highest).
pub const LOOP_TURNS_PER_SIM_SECOND_MAX: u64 = 100_000;

/// Counts an event loop's turns per simulated second against
/// [`LOOP_TURNS_PER_SIM_SECOND_MAX`].
#[derive(Debug, Default)]
pub struct TurnBudget {
    second: u64,
    turns: u64,
}

impl TurnBudget {
    /// One more turn at simulated `now_ms`; false once this second's turns pass the bound.
    pub fn turn(&mut self, now_ms: u64) -> bool {
        let second = now_ms / 1_000;
        if second != self.second {
            self.second = second;
            self.turns = 0;
        }
        self.turns += 1;
        self.turns <= LOOP_TURNS_PER_SIM_SECOND_MAX
    }
}

/// Out-of-order packets one connection may buffer while it waits for a missing one.
pub const REORDER_BUFFER_MAX: usize = 100_000;

/// Records (operations, session events, faults) in one run's history.
pub const HISTORY_RECORDS_MAX: usize = 2_000_000;

/// The bound a run exceeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// What overflowed and its limit, e.g. "network: messages in flight > 100000".
    pub what: String,
    pub time_ms: i64,
}

/// Counts messages in flight: one [`InFlight`] guard travels with each packet, weighing its
/// messages, and is dropped when the receiving process has handled it (or the network drops it).
#[derive(Clone, Debug, Default)]
pub struct InFlightCounter(Arc<AtomicUsize>);

impl InFlightCounter {
    /// A guard for a packet of `messages` messages; returns it with the count including them.
    pub fn enter(&self, messages: usize) -> (InFlight, usize) {
        let now = self.0.fetch_add(messages, Ordering::Relaxed) + messages;
        (InFlight { count: Arc::clone(&self.0), messages }, now)
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One packet's messages in flight.
#[derive(Debug)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
    messages: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(self.messages, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_and_the_event_queue_set_the_flag_the_run_shares() {
        use crate::sim::events::{ServerEvent, ServerEventKind, ServerEvents, SERVER_EVENTS_MAX};
        let mut events = ServerEvents::sharing(RunOver::default());
        let over = RunOver::default();
        let mut shared = ServerEvents::sharing(over.clone());
        for _ in 0..SERVER_EVENTS_MAX {
            shared.push(ServerEvent { time_ms: 0, server: 1, kind: ServerEventKind::Recovered { detail: String::new() } });
        }
        assert!(!over.is_set(), "a full queue is not yet an overflow");
        shared.push(ServerEvent { time_ms: 0, server: 1, kind: ServerEventKind::Recovered { detail: String::new() } });
        assert!(over.is_set() && shared.overflowed);
        events.push(ServerEvent { time_ms: 0, server: 1, kind: ServerEventKind::Recovered { detail: String::new() } });
        assert!(!events.overflowed);

        let net_over = crate::sim::cluster::block_on_seed(1, async {
            let mut net = crate::sim::net::NetConditions::new();
            let over = net.over.clone();
            assert!(!over.is_set());
            net.exceed("network: a bound".into());
            over.is_set() && net.overflow.is_some()
        });
        assert!(net_over, "exceeding a network bound sets the flag");
    }

    #[test]
    fn a_guard_counts_its_messages_until_dropped() {
        let counter = InFlightCounter::default();
        let (a, n) = counter.enter(1);
        let (b, m) = counter.enter(3);
        assert_eq!((n, m), (1, 4));
        drop(a);
        assert_eq!(counter.count(), 3);
        drop(b);
        assert_eq!(counter.count(), 0);
    }

    #[test]
    fn a_loop_passes_its_turn_budget_only_within_one_simulated_second() {
        let mut budget = TurnBudget::default();
        let max = LOOP_TURNS_PER_SIM_SECOND_MAX;
        for _ in 0..max {
            assert!(budget.turn(1_999));
        }
        assert!(!budget.turn(1_999), "turn {} in second 1", max + 1);
        assert!(budget.turn(2_000), "a new second starts a new budget");
        for _ in 1..max {
            assert!(budget.turn(2_500));
        }
        assert!(!budget.turn(2_999));
    }
}
