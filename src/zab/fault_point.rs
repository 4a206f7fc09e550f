//! Fault points: named protocol moments the core reports as it passes them.
//!
//! Why: ZooKeeper's worst bugs live where the code splits a step the protocol treats as atomic
//! (a follower handling NEWLEADER writes the epoch, logs the txns and acks: ZOOKEEPER-3911,
//! -4643, -4646), and those windows are milliseconds wide, far narrower than a nemesis that
//! strikes every few seconds can hit by chance. So the core says where it is: each passage is an
//! [`Action::Point`](super::Action) in its outbox, placed exactly between the actions it
//! separates. The shell executes actions in order, so a fault injected at a passage sees every
//! action before it done and none after it (a kill there loses exactly what was not yet
//! durable). The core only reports; whether anything happens is the shell's decision, drawn
//! from the run's seed (`crate::sim::fault_points`). The same passages, counted, are the run's
//! coverage probes (FoundationDB's `CODE_PROBE`).

use super::ServerId;

/// A named moment of the protocol (the ZAB paper's phases, ZooKeeper's method names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultPoint {
    // fast leader election
    /// Notifications of a new or changed vote were sent.
    VoteSent,
    /// The election decided this server's leader (itself or another).
    LeaderChosen,
    // discovery
    /// A learner sent FOLLOWERINFO (`registerWithLeader`).
    FollowerInfoSent,
    /// The leader got a FOLLOWERINFO (`LearnerHandler.run`).
    FollowerInfoReceived,
    /// The leader sent LEADERINFO with the new epoch.
    LeaderInfoSent,
    /// A learner got LEADERINFO, before it persists acceptedEpoch.
    LeaderInfoReceived,
    /// A learner persisted acceptedEpoch and sent ACKEPOCH.
    AckEpochSent,
    /// The leader got an ACKEPOCH.
    AckEpochReceived,
    // synchronization (`syncFollower` on the leader, `syncWithLeader` on the learner)
    /// The leader queued a learner's sync packets and NEWLEADER.
    SyncPacketsQueued,
    /// A learner began a DIFF sync.
    SyncDiff,
    /// A learner truncated its log for a TRUNC sync.
    SyncTrunc,
    /// A learner loaded a SNAP.
    SyncSnap,
    /// A PROPOSAL arrived inside the sync.
    SyncProposal,
    /// A COMMIT arrived inside the sync.
    SyncCommit,
    /// A learner got NEWLEADER, before it snapshots or logs anything.
    NewLeaderReceived,
    /// A learner logged the synced proposals (not yet durable).
    SyncTxnsLogged,
    /// A learner persisted currentEpoch.
    CurrentEpochWritten,
    /// A learner sent the NEWLEADER ACK.
    NewLeaderAckSent,
    /// The leader got a quorum of NEWLEADER ACKs.
    LeaderEstablished,
    /// A learner got UPTODATE and starts serving.
    UpToDateReceived,
    // broadcast
    /// A follower logged a PROPOSAL (not yet durable, not yet acked).
    ProposalLogged,
    /// A follower sent an ACK for a durable proposal.
    AckSent,
    /// The leader has a quorum of ACKs for a proposal, before it sends COMMIT.
    QuorumReached,
    /// A committed txn was applied to the tree.
    CommitApplied,
    // storage and sessions
    /// A fuzzy (or a clean) snapshot started.
    SnapshotStarted,
    /// A snapshot file was written.
    SnapshotFinished,
    /// The shell rolled the txn log to a new file.
    LogRolled,
    /// The leader expired a session (its closeSession is proposed next).
    SessionExpired,
    /// The leader moved a session to another server (a client reconnected elsewhere).
    ConnectionMoved,
    /// A client connected carrying a zxid this server has not seen; ZooKeeper refuses it
    /// ("Refusing session request ... client must try another server").
    ClientAhead,
}

/// One passage of a point: where and, when the moment concerns one, with which other server
/// (the leader for a learner's points, the learner for the leader's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Passage {
    pub point: FaultPoint,
    pub peer: Option<ServerId>,
}

impl FaultPoint {
    pub const ALL: [FaultPoint; 30] = [
        FaultPoint::VoteSent,
        FaultPoint::LeaderChosen,
        FaultPoint::FollowerInfoSent,
        FaultPoint::FollowerInfoReceived,
        FaultPoint::LeaderInfoSent,
        FaultPoint::LeaderInfoReceived,
        FaultPoint::AckEpochSent,
        FaultPoint::AckEpochReceived,
        FaultPoint::SyncPacketsQueued,
        FaultPoint::SyncDiff,
        FaultPoint::SyncTrunc,
        FaultPoint::SyncSnap,
        FaultPoint::SyncProposal,
        FaultPoint::SyncCommit,
        FaultPoint::NewLeaderReceived,
        FaultPoint::SyncTxnsLogged,
        FaultPoint::CurrentEpochWritten,
        FaultPoint::NewLeaderAckSent,
        FaultPoint::LeaderEstablished,
        FaultPoint::UpToDateReceived,
        FaultPoint::ProposalLogged,
        FaultPoint::AckSent,
        FaultPoint::QuorumReached,
        FaultPoint::CommitApplied,
        FaultPoint::SnapshotStarted,
        FaultPoint::SnapshotFinished,
        FaultPoint::LogRolled,
        FaultPoint::SessionExpired,
        FaultPoint::ConnectionMoved,
        FaultPoint::ClientAhead,
    ];

    /// The name scenario files and coverage reports use.
    pub fn name(self) -> &'static str {
        match self {
            FaultPoint::VoteSent => "vote_sent",
            FaultPoint::LeaderChosen => "leader_chosen",
            FaultPoint::FollowerInfoSent => "followerinfo_sent",
            FaultPoint::FollowerInfoReceived => "followerinfo_received",
            FaultPoint::LeaderInfoSent => "leaderinfo_sent",
            FaultPoint::LeaderInfoReceived => "leaderinfo_received",
            FaultPoint::AckEpochSent => "ackepoch_sent",
            FaultPoint::AckEpochReceived => "ackepoch_received",
            FaultPoint::SyncPacketsQueued => "sync_packets_queued",
            FaultPoint::SyncDiff => "sync_diff",
            FaultPoint::SyncTrunc => "sync_trunc",
            FaultPoint::SyncSnap => "sync_snap",
            FaultPoint::SyncProposal => "sync_proposal",
            FaultPoint::SyncCommit => "sync_commit",
            FaultPoint::NewLeaderReceived => "newleader_received",
            FaultPoint::SyncTxnsLogged => "sync_txns_logged",
            FaultPoint::CurrentEpochWritten => "current_epoch_written",
            FaultPoint::NewLeaderAckSent => "newleader_ack_sent",
            FaultPoint::LeaderEstablished => "leader_established",
            FaultPoint::UpToDateReceived => "uptodate_received",
            FaultPoint::ProposalLogged => "proposal_logged",
            FaultPoint::AckSent => "ack_sent",
            FaultPoint::QuorumReached => "quorum_reached",
            FaultPoint::CommitApplied => "commit_applied",
            FaultPoint::SnapshotStarted => "snapshot_started",
            FaultPoint::SnapshotFinished => "snapshot_finished",
            FaultPoint::LogRolled => "log_rolled",
            FaultPoint::SessionExpired => "session_expired",
            FaultPoint::ConnectionMoved => "connection_moved",
            FaultPoint::ClientAhead => "client_ahead",
        }
    }

    /// How many points there are.
    pub const COUNT: usize = FaultPoint::ALL.len();

    /// The point's place in [`FaultPoint::ALL`] (its declaration order), for counting in arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(name: &str) -> Option<FaultPoint> {
        FaultPoint::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// Points that pass on every committed txn: arming them with a high probability makes a
    /// fault on nearly every write, so random arming gives them a small one.
    pub fn is_per_txn(self) -> bool {
        matches!(self, FaultPoint::ProposalLogged | FaultPoint::AckSent | FaultPoint::QuorumReached | FaultPoint::CommitApplied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut names: Vec<&str> = FaultPoint::ALL.iter().map(|p| p.name()).collect();
        for p in FaultPoint::ALL {
            assert_eq!(FaultPoint::parse(p.name()), Some(p), "{p:?}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FaultPoint::ALL.len(), "duplicate fault point names");
        assert_eq!(FaultPoint::parse("no_such_point"), None);
    }

    #[test]
    fn index_is_the_place_in_all() {
        for (i, p) in FaultPoint::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i, "{p:?}");
        }
    }
}
