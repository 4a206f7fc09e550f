//! Historical ZooKeeper bugs and classic protocol mistakes, put back behind flags.
//!
//! Why: a testbed earns trust by catching real bugs. Each flag re-introduces a *mechanism* in the
//! protocol code (a wrong order of persisting and acknowledging, a missing comparison), never a
//! symptom; the checker must then find the damage from the recorded history alone.
//! Descriptions and triggering schedules: `../shared/reference/known-bugs.md`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// ZOOKEEPER-1154: the leader sends DIFF where the follower holds an uncommitted txn of an
    /// old epoch inside the committed-log range (no TRUNC before the DIFF).
    Zk1154,
    /// ZOOKEEPER-2355: a DIFF sets the follower's last processed zxid to the leader's before
    /// its txns are applied, and the follower keeps its in-memory tree after a sync that failed
    /// midway, so the next sync is an empty DIFF.
    Zk2355,
    /// ZOOKEEPER-2845: the in-memory tree is kept across elections instead of reloaded from the
    /// log, so the leader's view of a peer's history lags its txn log.
    Zk2845,
    /// ZOOKEEPER-3911: txns received in a DIFF are logged only after UPTODATE but the NEWLEADER
    /// ACK goes out at once.
    Zk3911,
    /// ZOOKEEPER-4643: the follower writes currentEpoch before persisting the synced txns.
    Zk4643,
    /// ZOOKEEPER-4646: the synced txns are logged asynchronously and NEWLEADER is ACKed before
    /// the log write is durable.
    Zk4646,
    /// The leader commits a proposal as soon as it logged it, without a quorum of ACKs.
    CommitWithoutQuorum,
    /// A follower ACKs a proposal before its log write is fsynced.
    AckBeforeFsync,
    /// Leader election compares zxids without comparing epochs first.
    ElectByZxidOnly,
    /// A server accepts a client whose last seen zxid is ahead of its own.
    AcceptClientAhead,
    /// Session expiry closes the session but leaves its ephemeral nodes.
    ExpiryKeepsEphemerals,
    /// The leader keeps a learner's ACKs of outstanding proposals when the learner syncs again
    /// and is truncated below them (ZooKeeper 3.8's `processAck`; uncatalogued as far as we
    /// searched, found by `zksim explore`).
    StaleAckAcrossResync,
}

impl Bug {
    pub const ALL: [Bug; 11] = [
        Bug::Zk1154,
        Bug::Zk2355,
        Bug::Zk2845,
        Bug::Zk3911,
        Bug::Zk4643,
        Bug::Zk4646,
        Bug::CommitWithoutQuorum,
        Bug::AckBeforeFsync,
        Bug::ElectByZxidOnly,
        Bug::AcceptClientAhead,
        Bug::ExpiryKeepsEphemerals,
    ];

    /// Mistakes `zksim explore` found in the correct build, fixed there and kept behind a flag
    /// so the finding can be replayed. Not in `ALL`, the historical catalogue the reports use.
    pub const FOUND_BY_EXPLORE: [Bug; 1] = [Bug::StaleAckAcrossResync];

    /// Every flag a scenario or `--bug` may name.
    pub fn every() -> impl Iterator<Item = Bug> {
        Bug::ALL.into_iter().chain(Bug::FOUND_BY_EXPLORE)
    }

    pub fn name(self) -> &'static str {
        match self {
            Bug::Zk1154 => "ZOOKEEPER-1154",
            Bug::Zk2355 => "ZOOKEEPER-2355",
            Bug::Zk2845 => "ZOOKEEPER-2845",
            Bug::Zk3911 => "ZOOKEEPER-3911",
            Bug::Zk4643 => "ZOOKEEPER-4643",
            Bug::Zk4646 => "ZOOKEEPER-4646",
            Bug::CommitWithoutQuorum => "commit-without-quorum",
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::ElectByZxidOnly => "elect-by-zxid-only",
            Bug::AcceptClientAhead => "accept-client-ahead",
            Bug::ExpiryKeepsEphemerals => "expiry-keeps-ephemerals",
            Bug::StaleAckAcrossResync => "stale-ack-across-resync",
        }
    }

    /// One line for `zksim list`.
    pub fn description(self) -> &'static str {
        match self {
            Bug::Zk1154 => "leader sends DIFF instead of TRUNC+DIFF to a follower holding an old epoch's uncommitted txn: replicas diverge",
            Bug::Zk2355 => "DIFF sets the last processed zxid before applying, tree kept after a failed sync: the next DIFF is empty, replicas diverge",
            Bug::Zk2845 => "in-memory tree kept across elections lags the txn log: leader sends DIFF where TRUNC was needed",
            Bug::Zk3911 => "DIFF txns logged only after UPTODATE but NEWLEADER ACKed at once: an acknowledged write is lost",
            Bug::Zk4643 => "follower writes currentEpoch before persisting synced txns: a committed txn is truncated away",
            Bug::Zk4646 => "synced txns logged asynchronously while NEWLEADER is ACKed at once: an acknowledged write is lost",
            Bug::CommitWithoutQuorum => "leader commits a proposal once it has logged it, without waiting for a quorum of ACKs",
            Bug::AckBeforeFsync => "follower ACKs a proposal before its log write is fsynced",
            Bug::ElectByZxidOnly => "leader election orders votes by zxid without comparing epochs first",
            Bug::AcceptClientAhead => "server accepts a client whose last seen zxid is ahead of its own: reads go back in time",
            Bug::ExpiryKeepsEphemerals => "session expiry closes the session but leaves its ephemeral nodes behind",
            Bug::StaleAckAcrossResync => "leader keeps a learner's ACKs when it resyncs and is truncated below them: an acknowledged write is lost",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Bug, String> {
        let wanted = s.trim().to_ascii_lowercase();
        Bug::every().find(|b| b.name().to_ascii_lowercase() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Bug::every().map(|b| b.name()).collect();
            format!("unknown bug flag `{s}` (known: {})", names.join(", "))
        })
    }
}

/// The set of bugs switched on for a run. Empty means the correct build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bugs(BTreeSet<Bug>);

impl Bugs {
    pub fn none() -> Bugs {
        Bugs::default()
    }
    pub fn with(mut self, bug: Bug) -> Bugs {
        self.0.insert(bug);
        self
    }
    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }
    pub fn iter(&self) -> impl Iterator<Item = Bug> + '_ {
        self.0.iter().copied()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
