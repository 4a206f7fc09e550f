//! What a follower or observer keeps while it follows (`Learner`, `syncWithLeader`'s locals).
//!
//! Why apart from the handlers: the peer holds a `LearnerState` in its role; discovery, sync and
//! broadcast each read and write it from their own file.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::zab::ServerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::zab) enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

/// Learner state during `syncWithLeader`.
pub(in crate::zab) struct SyncState {
    pub(in crate::zab) mode: Option<SyncMode>,
    pub(in crate::zab) snapshot_needed: bool,
    pub(in crate::zab) write_to_txn_log: bool,
    pub(in crate::zab) packets_not_committed: VecDeque<Arc<TxnEntry>>,
    pub(in crate::zab) packets_committed: VecDeque<Zxid>,
    pub(in crate::zab) last_queued: Zxid,
    /// NEWLEADER seen; the ACK waits for these zxids to be durable.
    pub(in crate::zab) new_leader_wait: Option<Zxid>,
    pub(in crate::zab) new_leader_acked: bool,
    /// Uncommitted proposals logged at NEWLEADER; ACKed after UPTODATE, as ZooKeeper's
    /// `packetsNotLogged` are (the leader's handler reads no ACK before the NEWLEADER ACK).
    pub(in crate::zab) ack_after_up_to_date: Vec<Zxid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::zab) enum LearnerPhase {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent, in `syncWithLeader`.
    Sync,
    /// UPTODATE received: serving.
    Broadcast,
}

/// Follower or observer state (`Learner`).
pub(in crate::zab) struct LearnerState {
    pub(in crate::zab) leader: ServerId,
    pub(in crate::zab) phase: LearnerPhase,
    pub(in crate::zab) new_epoch: i64,
    pub(in crate::zab) sync: Option<SyncState>,
    pub(in crate::zab) last_heard_ms: i64,
    /// Logged proposals awaiting COMMIT (`FollowerZooKeeperServer.pendingTxns`).
    pub(in crate::zab) pending_txns: VecDeque<Arc<TxnEntry>>,
    /// Logged zxids whose ACK waits for their fsync.
    pub(in crate::zab) unacked: VecDeque<Zxid>,
    /// Sessions touched by local clients since the last PING answer.
    pub(in crate::zab) touched: BTreeMap<i64, i32>,
    /// When to retry FOLLOWERINFO after the leader refused the connection.
    pub(in crate::zab) reconnect_at_ms: Option<i64>,
}

/// `Learner.connectToLeader` sleeps a second between attempts.
pub(in crate::zab) const LEARNER_CONNECT_RETRY_MS: i64 = 1_000;

