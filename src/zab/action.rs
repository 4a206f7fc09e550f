//! The peer's outbox: what the deterministic core asks its shell to do, and what it reports.
//!
//! Why a module of its own: the peer ([`super::peer`]), the client-facing pipeline
//! ([`super::serving`]) and the shell ([`crate::sim`]) all speak this vocabulary; keeping it apart
//! lets their dependencies point one way (each uses this, none uses the others' internals).
//!
//! Contract of the actions (the shell executes them in order):
//! - `AppendLog` is buffered, `SyncLog` asks for an fsync and is answered by
//!   `QuorumPeer::on_log_synced`; an ACK for a proposal is only sent once its log write is
//!   durable (ZAB paper §IV-C: "a follower acknowledges a proposal after it has written it to
//!   stable storage");
//! - epoch files and snapshots are written durably before the next action;
//! - `Send`s to one peer arrive in order (TCP), unless `ClosePeer` cut the connection between.

use std::sync::Arc;

use super::fault_point::Passage;
use super::message::PeerMessage;
use super::{ServerId, ServerState};
use crate::proto::Zxid;
use crate::tree::snapshot::Snapshot;
use crate::tree::TxnEntry;
use crate::wire::ServerMessage;

/// A client connection, numbered by the shell.
pub type ConnId = u64;

/// What the peer asks its shell to do.
#[derive(Clone, Debug)]
pub enum Action {
    Send { to: ServerId, msg: PeerMessage },
    /// Cut the ZAB connection to `peer`: whatever was in flight on it is lost.
    ClosePeer { peer: ServerId },
    /// Append to the txn log (not yet durable).
    AppendLog(Arc<TxnEntry>),
    /// fsync the log; answer with `on_log_synced(token)` once durable.
    SyncLog { token: u64 },
    /// Remove every logged txn after `zxid` (durable at once).
    TruncateLog { zxid: Zxid },
    /// Write a snapshot file durably.
    WriteSnapshot(Arc<Snapshot>),
    WriteAcceptedEpoch(i64),
    WriteCurrentEpoch(i64),
    /// Boxed: a reply is 128 bytes and would make every action that large (see
    /// `PeerMessage::Request`).
    ToClient { conn: ConnId, msg: Box<ServerMessage> },
    /// Close a client connection.
    CloseClient { conn: ConnId },
    /// The process exits (ZooKeeper's `System.exit`), e.g. on an out-of-order COMMIT.
    Exit { reason: String },
    /// Something the invariant checker and the trace want to know.
    Observe(Observation),
    /// The peer passes a named protocol moment: the shell may inject a fault right here,
    /// after the actions before it and before those after it (see [`super::fault_point`]).
    Point(Passage),
}

/// Facts for the simulation's invariant checks (`crate::sim::invariants`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    StateChanged { state: ServerState, epoch: i64 },
    /// A leader got a quorum of NEWLEADER ACKs: it is established in `epoch`.
    Established { epoch: i64, last_zxid: Zxid, digest: u64 },
    /// A committed transaction was applied through the broadcast or sync path; the digest is
    /// the tree's after it.
    Committed { entry: Arc<TxnEntry>, digest: u64 },
    /// The database was (re)loaded or replaced by a snapshot at this zxid.
    Loaded { zxid: Zxid, digest: u64 },
    /// A write was answered to a client with this zxid.
    Acknowledged { zxid: Zxid },
    /// A txn offered for the log under a zxid already logged for a different txn (skipped).
    LogConflict { logged: Arc<TxnEntry>, offered: Arc<TxnEntry> },
    /// A learner refused its leader's LEADERINFO: the new epoch is below the epoch it accepted
    /// (`Learner.registerWithLeader`: "Leaders epoch, N is less than accepted epoch, M").
    EpochRefused { leader: ServerId, new_epoch: i64, accepted_epoch: i64 },
}

