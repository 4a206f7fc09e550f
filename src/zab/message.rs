//! Messages between servers: election notifications (`QuorumCnxManager`) and quorum packets
//! (`QuorumPacket` types of `Leader`), as values.
//!
//! Why values and not bytes: the simulator hands them between madsim nodes without encoding;
//! the FIFO order ZAB relies on comes from the connection layer (`crate::sim::net`).

use std::sync::Arc;

use super::{ServerId, ServerState};
use crate::proto::{Id, Request, SessionId, Zxid};
use crate::tree::snapshot::Snapshot;
use crate::tree::TxnEntry;

/// A vote: who should lead, with the zxid and epoch that make the case for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vote {
    pub leader: ServerId,
    /// The candidate's last logged zxid.
    pub zxid: Zxid,
    /// The candidate's currentEpoch.
    pub peer_epoch: i64,
}

/// An election notification (`FastLeaderElection.Notification` / `ToSend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    pub vote: Vote,
    /// The sender's election round (`logicalclock`), or for a decided server the round it
    /// decided in.
    pub election_epoch: i64,
    pub state: ServerState,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PeerMessage {
    Notification(Notification),
    // ---- discovery
    /// Learner → leader: FOLLOWERINFO / OBSERVERINFO with the learner's acceptedEpoch.
    FollowerInfo { accepted_epoch: i64, last_zxid: Zxid, observer: bool },
    /// Leader → learner: the proposed new epoch.
    LeaderInfo { new_epoch: i64 },
    /// Learner → leader: its currentEpoch and last logged zxid.
    AckEpoch { current_epoch: i64, last_zxid: Zxid },
    // ---- synchronization
    Diff { zxid: Zxid },
    Trunc { zxid: Zxid },
    Snap { snapshot: Arc<Snapshot> },
    NewLeader { zxid: Zxid },
    UpToDate,
    // ---- broadcast
    Proposal(Arc<TxnEntry>),
    Ack { zxid: Zxid },
    Commit { zxid: Zxid },
    /// Leader → observer: a committed transaction in full.
    Inform(Arc<TxnEntry>),
    /// Leader → learner: a heartbeat. Learner → leader: the answer, with the sessions its
    /// clients touched since the last one and their timeouts.
    Ping { sessions: Vec<(SessionId, i32)> },
    // ---- requests from learners' clients
    /// A write or sync forwarded by the server the client is connected to (`Leader.REQUEST`).
    /// The request is boxed: the largest variant otherwise, it made every message (and every
    /// `Action::Send`) 168 bytes, copied at each hand-over from the peer to the wire and back.
    Request { session: SessionId, cxid: i32, request: Box<Request>, auth: Vec<Id> },
    /// A new session created on a learner, to become a createSession transaction.
    CreateSession { session: SessionId, timeout_ms: i32 },
    /// A reconnecting client's session, to be checked and touched by the leader.
    Revalidate { session: SessionId, timeout_ms: i32 },
    RevalidateReply { session: SessionId, valid: bool },
    /// Leader → learner: everything proposed before the sync is committed (`Leader.SYNC`).
    SyncDone { session: SessionId, cxid: i32 },
}

impl PeerMessage {
    /// Election traffic travels on its own connections (`QuorumCnxManager`), apart from ZAB's.
    pub fn is_election(&self) -> bool {
        matches!(self, PeerMessage::Notification(_))
    }

    /// A short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerMessage::Notification(_) => "NOTIFICATION",
            PeerMessage::FollowerInfo { .. } => "FOLLOWERINFO",
            PeerMessage::LeaderInfo { .. } => "LEADERINFO",
            PeerMessage::AckEpoch { .. } => "ACKEPOCH",
            PeerMessage::Diff { .. } => "DIFF",
            PeerMessage::Trunc { .. } => "TRUNC",
            PeerMessage::Snap { .. } => "SNAP",
            PeerMessage::NewLeader { .. } => "NEWLEADER",
            PeerMessage::UpToDate => "UPTODATE",
            PeerMessage::Proposal(_) => "PROPOSAL",
            PeerMessage::Ack { .. } => "ACK",
            PeerMessage::Commit { .. } => "COMMIT",
            PeerMessage::Inform(_) => "INFORM",
            PeerMessage::Ping { .. } => "PING",
            PeerMessage::Request { .. } => "REQUEST",
            PeerMessage::CreateSession { .. } => "CREATESESSION",
            PeerMessage::Revalidate { .. } => "REVALIDATE",
            PeerMessage::RevalidateReply { .. } => "REVALIDATE_REPLY",
            PeerMessage::SyncDone { .. } => "SYNC",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PeerMessage;
    use crate::zab::peer::Action;

    /// A message, and an action carrying one, is moved at every hand-over (peer, batch, wire,
    /// peer): a large variant makes all of them that large. Box it, as `Request` is.
    #[test]
    fn messages_and_actions_stay_small() {
        assert!(std::mem::size_of::<PeerMessage>() <= 48, "PeerMessage is {} bytes", std::mem::size_of::<PeerMessage>());
        assert!(std::mem::size_of::<Action>() <= 56, "Action is {} bytes", std::mem::size_of::<Action>());
    }
}
