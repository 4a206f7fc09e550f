//! What the leader keeps while it leads (`Leader`, `LearnerHandler`, `Leader.Proposal`).
//!
//! Why apart from the handlers: the peer holds a `LeaderState` in its role, and every leader
//! phase (discovery, sync, broadcast) reads and writes it; the data lives here, each phase's
//! behaviour in its own file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::proto::Zxid;
use crate::server::session_tracker::SessionTracker;
use crate::tree::prep::Preparer;
use crate::tree::TxnEntry;
use crate::zab::ServerId;

/// A proposal the leader waits on (`Leader.Proposal`).
pub(in crate::zab) struct Proposal {
    pub(in crate::zab) entry: Arc<TxnEntry>,
    pub(in crate::zab) acks: BTreeSet<ServerId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::zab) enum HandlerPhase {
    /// FOLLOWERINFO received; waiting for a quorum to fix the new epoch.
    WaitingForEpoch,
    /// LEADERINFO sent; waiting for ACKEPOCH.
    WaitingForAckEpoch,
    /// ACKEPOCH received; waiting for a quorum of them.
    WaitingForEpochQuorum,
    /// Sync and NEWLEADER queued; waiting for the NEWLEADER ACK.
    WaitingForNewLeaderAck,
    /// NEWLEADER acked; waiting for the leader to be established.
    WaitingForEstablished,
    /// UPTODATE sent.
    Active,
}

/// The leader's view of one learner (`LearnerHandler`).
pub(in crate::zab) struct LearnerHandler {
    pub(in crate::zab) observer: bool,
    pub(in crate::zab) phase: HandlerPhase,
    pub(in crate::zab) peer_last_zxid: Zxid,
    /// In ticks: the learner is synced while `tick <= tick_of_next_ack_deadline`.
    pub(in crate::zab) tick_of_next_ack_deadline: i64,
}

/// Leader state (`Leader`).
pub(in crate::zab) struct LeaderState {
    /// The new epoch once a quorum of FOLLOWERINFO fixed it.
    pub(in crate::zab) epoch: Option<i64>,
    pub(in crate::zab) proposed_epoch: i64,
    pub(in crate::zab) connecting: BTreeSet<ServerId>,
    pub(in crate::zab) electing: BTreeSet<ServerId>,
    pub(in crate::zab) election_finished: bool,
    pub(in crate::zab) new_leader_acks: BTreeSet<ServerId>,
    pub(in crate::zab) established: bool,
    /// The leader's (currentEpoch, last zxid) when it started (`leaderStateSummary`).
    pub(in crate::zab) summary: (i64, Zxid),
    pub(in crate::zab) handlers: BTreeMap<ServerId, LearnerHandler>,
    pub(in crate::zab) outstanding: BTreeMap<Zxid, Proposal>,
    pub(in crate::zab) last_proposed: Zxid,
    pub(in crate::zab) last_committed: Zxid,
    /// sync requests waiting for a zxid to commit: zxid → (origin, session, cxid).
    pub(in crate::zab) pending_syncs: BTreeMap<Zxid, Vec<(ServerId, i64, i32)>>,
    /// Deadline for the current discovery/sync wait (initLimit).
    pub(in crate::zab) phase_deadline_ms: i64,
    pub(in crate::zab) tick: i64,
    pub(in crate::zab) tick_skip: bool,
    pub(in crate::zab) next_half_tick_ms: i64,
    pub(in crate::zab) preparer: Preparer,
    pub(in crate::zab) sessions: SessionTracker,
    pub(in crate::zab) session_owner: BTreeMap<i64, ServerId>,
    /// Zxids whose log write the leader has not yet seen durable (its own ACK).
    pub(in crate::zab) unsynced_own: VecDeque<Zxid>,
}
