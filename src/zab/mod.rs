//! ZAB: ZooKeeper's atomic broadcast, as a deterministic core.
//!
//! Why: the ensemble is where ZooKeeper's hardest bugs lived (`known-bugs.md`). Each server is a
//! [`peer::QuorumPeer`]: events in (a peer message, a tick, "the log is fsynced", a client
//! message), actions out (send, append to the log, fsync, truncate, write an epoch file, reply to
//! a client). No I/O, clock or randomness inside, so the same core runs under plain unit tests,
//! transcripts and the madsim shell (`crate::sim`), and a run is a function of its seed.
//!
//! Phases, as in the ZAB paper (Junqueira, Reed, Serafini, DSN 2011) and ZooKeeper 3.8's
//! `QuorumPeer`: fast leader election ([`election`]), discovery (FOLLOWERINFO / LEADERINFO /
//! ACKEPOCH), synchronization (DIFF / TRUNC / SNAP, NEWLEADER, UPTODATE) and broadcast
//! (PROPOSAL / ACK / COMMIT / INFORM). Names follow ZooKeeper's source.
//!
//! The code is cut along those phases: [`peer`] holds a server's state and dispatches each event
//! to the phase that owns it; [`persistence`] logs, fsyncs, snapshots and applies; [`leader`] and
//! [`learner`] hold one file per phase of each side; [`serving`] is the client pipeline;
//! [`action`] is the vocabulary all of them emit. Dependencies point one way: the phase files use
//! `peer` and the state modules, never each other's internals.
//!
//! # Invariants, and where each is checked
//!
//! Online (`crate::sim::invariants`, across servers, reported as a SAFETY VIOLATION):
//!
//! | invariant | source |
//! | --- | --- |
//! | one-leader-per-epoch | ZAB paper §III primary uniqueness; TLA+ Zab `Leadership` |
//! | acknowledged-write-durable | ZAB §III primary integrity; TLA+ Zab `PrimaryIntegrity` |
//! | commits-in-order | ZAB §III total order; TLA+ Zab `Monotonicity` |
//! | committed-prefixes-agree | ZAB §III agreement; TLA+ Zab `PrefixConsistency` |
//! | same-zxid-same-digest | ZooKeeper's digest check (ZOOKEEPER-3114); TLA+ Zab `ProcessConsistency` |
//!
//! Assertions in the core (one server, at the moment the invariant must hold; a failure ends the
//! run as a CRASH with its reproduce line), by family:
//!
//! | family | where | source |
//! | --- | --- | --- |
//! | acceptedEpoch ≥ currentEpoch, both only grow, on every write and read | `persistence::write_*_epoch`, `peer::current_epoch` | ZAB §IV-A (phase 1 persists the epoch before ACKEPOCH); TLA+ Zab `acceptedEpoch`/`currentEpoch` |
//! | the log grows in zxid order on append and replays so on load; a load ends at the last logged zxid | `persistence::log_txn`, `database::{append, load}` | ZAB §IV-C (a follower accepts proposals in zxid order); `FileTxnLog` |
//! | ACK only for a logged and fsynced zxid; NEWLEADER ACK only when the sync's txns are durable | `persistence::after_durable`, `learner::sync_with_leader` | ZAB §IV-C; ZOOKEEPER-3911/-4646 fixes |
//! | COMMIT in zxid order, in the leader's own epoch, each applying exactly the txn it names | `leader::broadcast::try_commit`, `learner::broadcast::follower_commit`, `persistence::apply_committed` | ZAB §III total order; TLA+ Zab `Monotonicity` |
//! | quorums (epoch, NEWLEADER, synced, ACK) counted from members only; only voters lead and ACK | `PeerConfig::is_quorum`, `leader::*` | `QuorumMaj.containsQuorum` |
//! | a vote carries the last logged zxid; a reload, TRUNC or SNAP puts the tree exactly where the files or the leader say | `peer::{last_logged_zxid_for_vote, reload_database}`, `learner::sync_with_leader` | ZOOKEEPER-2845 fix; TLA+ Zab `SyncFollower` |
//! | a sync never brings a learner past the leader; NEWLEADER names the epoch LEADERINFO announced | `leader::sync_follower`, `learner::sync_with_leader` | ZAB §IV-B; `LearnerHandler.syncFollower` |
//! | replies leave each connection in request order, their zxids never go back; a looking server serves nobody | `serving::state::Conn::record_reply`, `peer::become_looking` | ZooKeeper's FIFO client order and "never go back" promise |
//! | a failed multi leaves the tree unchanged; child counts never negative; a created node is linked, a deleted one unlinked | `tree::data_tree` | `DataTree.processTxn`, multi atomicity |
//!
//! Flags that put a historical bug back (`bugs`) switch off exactly the assertion that bug breaks
//! (e.g. ZOOKEEPER-2355 claims a zxid its tree has not reached), so the bug's symptom reaches the
//! checker as it would in ZooKeeper.

pub mod action;
pub mod bugs;
pub mod database;
pub mod election;
pub mod fault_point;
pub mod leader;
pub mod learner;
pub mod load_memo;
pub mod message;
pub mod peer;
pub mod persistence;
pub mod serving;
pub mod testkit;

pub use bugs::{Bug, Bugs};
pub use fault_point::{FaultPoint, Passage};
pub use message::PeerMessage;
pub use action::{Action, ConnId, Observation};
pub use peer::QuorumPeer;
pub use persistence::{DiskFailure, DiskFailureKind};

use crate::proto::Zxid;

/// A server's id (`myid`).
pub type ServerId = u64;

/// The epoch part of a zxid (high 32 bits).
pub fn epoch_of(zxid: Zxid) -> i64 {
    zxid >> 32
}

/// The counter part of a zxid (low 32 bits).
pub fn counter_of(zxid: Zxid) -> i64 {
    zxid & 0xffff_ffff
}

/// `ZxidUtils.makeZxid`.
pub fn make_zxid(epoch: i64, counter: i64) -> Zxid {
    assert!((0..=0xffff_ffff).contains(&counter), "zxid counter out of range");
    assert!(epoch >= 0, "epochs are non-negative");
    (epoch << 32) | counter
}

/// Display a zxid as ZooKeeper logs it: `0x<epoch>_<counter>` reads better in traces.
pub fn zxid_str(zxid: Zxid) -> String {
    format!("{:x}.{:x}", epoch_of(zxid), counter_of(zxid))
}

/// `ServerState` of `QuorumPeer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ServerState {
    Looking,
    Following,
    Leading,
    Observing,
}

/// The ensemble and its timing (`zoo.cfg`). Times are in ms of the simulated clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub my_id: ServerId,
    /// Voting members (participants), sorted. Private, as `observers`: the membership bits
    /// below are derived from them once, in `new`.
    voters: Vec<ServerId>,
    /// Non-voting members that follow the leader's commits.
    observers: Vec<ServerId>,
    pub tick_time_ms: i64,
    /// Ticks a follower may take to connect and sync (discovery + synchronization).
    pub init_limit_ticks: i64,
    /// Ticks a follower may lag (no PING answer) before the leader drops it, and the silence
    /// after which a follower abandons its leader.
    pub sync_limit_ticks: i64,
    /// `zookeeper.commitLogCount`: committed proposals kept in memory for DIFF syncs.
    pub commit_log_count: usize,
    /// `snapCount`: a snapshot after about this many logged transactions.
    pub snap_count: u64,
    /// `finalizeWait` of fast leader election.
    pub finalize_wait_ms: i64,
    /// `maxNotificationInterval` cap of election re-notification backoff.
    pub max_notification_interval_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// Nodes a fuzzy snapshot walks per applied txn (smaller: the walk spans more commits).
    pub snapshot_nodes_per_step: usize,
    /// Not ZooKeeper 3.8 (a candidate fix of its FLE): a LOOKING server re-sends its
    /// notifications once `notTimeout` has passed since it last sent them, however many
    /// notifications arrived meanwhile; ZooKeeper waits for `notTimeout` *without* one.
    pub fle_renotify_on_interval: bool,
    pub bugs: Bugs,
    /// Bit `id` set for each voter (ids below 128), and for each member: asked for every
    /// message a server handles, so a bit test rather than a search.
    voter_bits: u128,
    member_bits: u128,
}

/// The bits of the ids below 128 (larger ids are looked up in the lists).
fn id_bits(ids: &[ServerId]) -> u128 {
    ids.iter().filter(|&&id| id < 128).fold(0, |bits, &id| bits | 1u128 << id)
}

impl PeerConfig {
    /// ZooKeeper's defaults for an ensemble of the given voters and observers.
    pub fn new(my_id: ServerId, voters: &[ServerId], observers: &[ServerId], tick_time_ms: i64) -> PeerConfig {
        let mut voters = voters.to_vec();
        voters.sort_unstable();
        let mut observers = observers.to_vec();
        observers.sort_unstable();
        assert!(!voters.is_empty(), "an ensemble needs voters");
        assert!(voters.contains(&my_id) || observers.contains(&my_id), "myid {my_id} is not in the ensemble");
        let voter_bits = id_bits(&voters);
        let member_bits = voter_bits | id_bits(&observers);
        PeerConfig {
            my_id,
            voter_bits,
            member_bits,
            voters,
            observers,
            tick_time_ms,
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            commit_log_count: 500,
            snap_count: 100_000,
            finalize_wait_ms: 200,
            max_notification_interval_ms: 4_000,
            min_session_timeout_ms: (2 * tick_time_ms) as i32,
            max_session_timeout_ms: (20 * tick_time_ms) as i32,
            snapshot_nodes_per_step: 64,
            fle_renotify_on_interval: false,
            bugs: Bugs::default(),
        }
    }

    pub fn is_voter(&self, id: ServerId) -> bool {
        if id < 128 {
            return self.voter_bits & 1u128 << id != 0;
        }
        self.voters.binary_search(&id).is_ok()
    }

    pub fn is_observer(&self) -> bool {
        !self.is_voter(self.my_id)
    }

    /// A voter or an observer of this ensemble.
    pub fn is_member(&self, id: ServerId) -> bool {
        if id < 128 {
            return self.member_bits & 1u128 << id != 0;
        }
        self.is_voter(id) || self.observers.binary_search(&id).is_ok()
    }

    /// Every other member, voters then observers.
    pub fn others(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.voters.iter().chain(self.observers.iter()).copied().filter(move |&id| id != self.my_id)
    }

    /// `QuorumMaj.containsQuorum`: more than half of the voters.
    pub fn is_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a ServerId>) -> bool {
        let mut count = 0;
        for id in ids {
            assert!(self.is_member(*id), "a quorum is counted from members only, not server {id}");
            count += usize::from(self.is_voter(*id));
        }
        count * 2 > self.voters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_by_bits_agrees_with_the_lists_also_past_127() {
        let voters = [1, 5, 127, 128, 300];
        let observers = [2, 126, 129];
        let config = PeerConfig::new(5, &voters, &observers, 2_000);
        for id in 0..400 {
            assert_eq!(config.is_voter(id), voters.contains(&id), "voter {id}");
            assert_eq!(config.is_member(id), voters.contains(&id) || observers.contains(&id), "member {id}");
        }
        assert!(!config.is_observer());
        assert!(PeerConfig::new(129, &voters, &observers, 2_000).is_observer());
    }
}
