//! Broadcast on the learner's side (ZAB phase 3): `Follower.processPacket` logs a PROPOSAL and
//! ACKs it once durable, applies a COMMIT only if it matches the oldest pending txn
//! (`FollowerZooKeeperServer.commit`), an observer applies an INFORM; pings carry the sessions
//! its clients touched.

use std::sync::Arc;

use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::zab::action::Action;
use crate::zab::fault_point::FaultPoint;
use crate::zab::message::PeerMessage;
use crate::zab::peer::{QuorumPeer, Role};
use crate::zab::learner::state::LearnerPhase;
use crate::zab::{zxid_str, Bug};

impl QuorumPeer {
    /// `FollowerZooKeeperServer.logRequest`: into the log and the pending queue.
    pub(in crate::zab) fn learner_log_request(&mut self, entry: Arc<TxnEntry>, ack: bool) {
        self.log_txn(&entry);
        assert!(entry.header.zxid <= self.mirror.last_logged_zxid(), "a pending txn is in the log");
        if self.learner().pending_txns.back().is_some_and(|last| last.header.zxid >= entry.header.zxid) {
            // A PROPOSAL at or below one already queued (a FIFO link never delivers one; only a
            // test's injection does). ZooKeeper warns "Got zxid .. expected .." and queues it,
            // so the next COMMIT ends the follower; zksim keeps the queue in zxid order, and
            // `log_txn` has reported it if the txn differs from the logged one.
            return;
        }
        let l = self.learner();
        assert!(
            l.pending_txns.back().is_none_or(|last| last.header.zxid < entry.header.zxid),
            "pending txns are queued in zxid order"
        );
        l.pending_txns.push_back(entry.clone());
        if ack {
            l.unacked.push_back(entry.header.zxid);
        }
    }

    /// `FollowerZooKeeperServer.commit`: the COMMIT must match the oldest pending txn.
    /// Returns false when the server exits.
    pub(in crate::zab) fn follower_commit(&mut self, zxid: Zxid) -> bool {
        let head = self.learner_ref().pending_txns.front().map(|e| e.header.zxid);
        match head {
            None => {
                tracing::warn!(server = self.config.my_id, zxid = %zxid_str(zxid), "committing without seeing the txn");
                true
            }
            Some(h) if h != zxid => {
                let reason = format!("committing zxid {} but next pending txn is {}", zxid_str(zxid), zxid_str(h));
                self.out.push(Action::Exit { reason });
                false
            }
            Some(_) => {
                let entry = self.learner().pending_txns.pop_front().expect("head");
                self.apply_committed(&entry);
                assert!(self.db.last_processed_zxid() == zxid || self.config.bugs.has(Bug::Zk2355), "a COMMIT applies exactly the txn it names");
                true
            }
        }
    }

    pub(in crate::zab) fn observer_commit(&mut self, entry: Arc<TxnEntry>) {
        assert!(self.config.is_observer(), "only observers apply INFORMs");
        self.log_txn(&entry);
        self.sync_log();
        self.apply_committed(&entry);
    }

    pub(in crate::zab) fn learner_broadcast(&mut self, msg: PeerMessage) {
        assert_eq!(self.learner_ref().phase, LearnerPhase::Broadcast, "broadcast follows UPTODATE");
        match msg {
            PeerMessage::Proposal(entry) => {
                self.learner_log_request(entry, true);
                self.sync_log();
                let leader = Some(self.learner_ref().leader);
                self.pass(FaultPoint::ProposalLogged, leader);
                if self.config.bugs.has(Bug::AckBeforeFsync) {
                    self.after_durable();
                }
            }
            PeerMessage::Commit { zxid } => {
                self.follower_commit(zxid);
            }
            PeerMessage::Inform(entry) => self.observer_commit(entry),
            PeerMessage::Ping { .. } => self.learner_ping_reply(),
            PeerMessage::RevalidateReply { session, valid } => self.on_revalidate_reply(session, valid),
            PeerMessage::SyncDone { session, cxid } => self.on_sync_done(session, cxid),
            _ => {}
        }
    }

    pub(in crate::zab) fn learner_ping_reply(&mut self) {
        let l = self.learner();
        let sessions: Vec<(i64, i32)> = std::mem::take(&mut l.touched).into_iter().collect();
        let leader = l.leader;
        assert!(sessions.iter().all(|(id, _)| *id != 0), "only real sessions are touched");
        self.send(leader, PeerMessage::Ping { sessions });
    }

    pub(in crate::zab) fn learner_touch(&mut self, session: i64, timeout_ms: i32) {
        assert_ne!(session, 0, "a client's session has an id");
        if let Role::Learning(l) = &mut self.role {
            l.touched.insert(session, timeout_ms);
        }
    }
}
