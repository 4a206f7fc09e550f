//! What a server's shell tells the runner as it happens: a refusal to start (recovery failed),
//! a disk error and ZooKeeper's reaction to it, a crash the disk itself caused (power lost
//! between an epoch file's tmp copy and its rename).
//!
//! Why a queue: the runner owns the history and the nemesis; the shell only reports. The runner
//! is woken at once (like fault-point firings), so a crash is completed — the node killed, its
//! restart scheduled — in the same simulated instant. The queue has a bound: a run that
//! overflows it ends as a liveness failure naming it (`limits`).

use std::collections::VecDeque;

use futures::channel::mpsc;

use crate::zab::ServerId;

/// Most events queued between two drains by the runner.
pub const SERVER_EVENTS_MAX: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEventKind {
    /// Recovery failed: the process exits at start (`QuorumPeer.loadDataBase` throws), with
    /// ZooKeeper's log line.
    RefusedToStart { reason: String },
    /// A persistence action failed; `reaction` is what the server did (ZooKeeper's).
    DiskError { detail: String, reaction: String },
    /// The server lost power inside a write (the runner kills its node now).
    PowerFailure { detail: String },
    /// Recovery got past damaged files (a skipped snapshot, an epoch taken from its tmp copy).
    Recovered { detail: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerEvent {
    pub time_ms: i64,
    pub server: ServerId,
    pub kind: ServerEventKind,
}

/// The run's queue of server events.
#[derive(Default)]
pub struct ServerEvents {
    queue: VecDeque<ServerEvent>,
    wake: Option<mpsc::UnboundedSender<()>>,
    /// Set when the queue was full: the run's liveness verdict names it.
    pub overflowed: bool,
    /// Set with `overflowed` (shared with the network's: see [`ServerEvents::sharing`]).
    over: crate::sim::limits::RunOver,
}

impl ServerEvents {
    /// A queue whose overflow sets `over`, the run's flag.
    pub fn sharing(over: crate::sim::limits::RunOver) -> ServerEvents {
        ServerEvents { over, ..ServerEvents::default() }
    }

    /// Wakes the runner whenever an event is pushed.
    pub fn set_wake(&mut self, wake: mpsc::UnboundedSender<()>) {
        self.wake = Some(wake);
    }

    pub fn push(&mut self, event: ServerEvent) {
        if self.queue.len() >= SERVER_EVENTS_MAX {
            self.overflowed = true;
            self.over.set();
            return;
        }
        // One wake per batch: the runner drains the whole queue when it wakes.
        if self.queue.is_empty() {
            if let Some(wake) = &self.wake {
                let _ = wake.unbounded_send(());
            }
        }
        self.queue.push_back(event);
    }

    pub fn take(&mut self) -> Vec<ServerEvent> {
        self.queue.drain(..).collect()
    }
}
