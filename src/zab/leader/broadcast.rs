//! Broadcast on the leader's side (ZAB phase 3): `Leader.propose`, `processAck`, `commit`,
//! `processSync`, and the learners' session pings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::zab::fault_point::FaultPoint;
use crate::zab::message::PeerMessage;
use crate::zab::peer::{QuorumPeer, Role};
use crate::zab::{epoch_of, zxid_str, Bug, ServerId};
use crate::server::session_tracker::SessionTracker;
use crate::tree::prep::Preparer;
use crate::zab::leader::state::{HandlerPhase, Proposal};

impl QuorumPeer {
    /// `processAck`.
    pub(in crate::zab) fn on_ack(&mut self, from: ServerId, zxid: Zxid) {
        let config = Arc::clone(&self.config);
        let l = self.leader();
        if zxid & 0xffff_ffff == 0 {
            // The NEWLEADER ACK (or the one after UPTODATE).
            let Some(h) = l.handlers.get_mut(&from) else { return };
            if h.phase != HandlerPhase::WaitingForNewLeaderAck {
                return;
            }
            h.phase = HandlerPhase::WaitingForEstablished;
            if config.is_voter(from) {
                l.new_leader_acks.insert(from);
            }
            if l.established {
                self.send_up_to_date(from);
            } else {
                self.try_establish();
            }
            return;
        }
        assert!(config.is_voter(from), "only voters acknowledge proposals, not server {from}");
        if zxid <= l.last_committed {
            return;
        }
        if let Some(p) = l.outstanding.get_mut(&zxid) {
            p.acks.insert(from);
        }
        self.try_commit();
    }

    /// Commits every leading outstanding proposal that has a quorum, in zxid order.
    pub(in crate::zab) fn try_commit(&mut self) {
        let config = Arc::clone(&self.config);
        loop {
            let l = self.leader();
            let Some((&zxid, p)) = l.outstanding.iter().next() else { return };
            let quorum = if config.bugs.has(Bug::CommitWithoutQuorum) {
                p.acks.contains(&config.my_id)
            } else {
                config.is_quorum(&p.acks)
            };
            if !quorum {
                return;
            }
            let p = l.outstanding.remove(&zxid).expect("present");
            assert!(zxid > l.last_committed, "COMMITs go out in zxid order: {} after {}", zxid_str(zxid), zxid_str(l.last_committed));
            assert_eq!(epoch_of(zxid), l.epoch.unwrap_or(-1), "a leader commits only its own epoch's proposals");
            l.last_committed = zxid;
            self.pass(FaultPoint::QuorumReached, None);
            self.commit(p.entry);
        }
    }

    /// `Leader.commit` + `inform` + local apply, then answer pending syncs.
    pub(in crate::zab) fn commit(&mut self, entry: Arc<TxnEntry>) {
        let zxid = entry.header.zxid;
        assert_eq!(self.leader_ref().last_committed, zxid, "commit() follows try_commit's bookkeeping");
        let targets: Vec<(ServerId, bool)> = self
            .leader_ref()
            .handlers
            .iter()
            .filter(|(_, h)| h.phase != HandlerPhase::WaitingForEpoch && h.phase != HandlerPhase::WaitingForAckEpoch && h.phase != HandlerPhase::WaitingForEpochQuorum)
            .map(|(id, h)| (*id, h.observer))
            .collect();
        for (sid, observer) in targets {
            if observer {
                self.send(sid, PeerMessage::Inform(Arc::clone(&entry)));
            } else {
                self.send(sid, PeerMessage::Commit { zxid });
            }
        }
        self.apply_committed(&entry);
        let due: Vec<Zxid> = self.leader_ref().pending_syncs.range(..=zxid).map(|(z, _)| *z).collect();
        for z in due {
            let waiting = self.leader().pending_syncs.remove(&z).unwrap_or_default();
            for (origin, session, cxid) in waiting {
                self.send_sync_done(origin, session, cxid);
            }
        }
    }

    /// The leader's own ACKs, once its log write is durable.
    pub(in crate::zab) fn leader_self_acks(&mut self, durable: Zxid) {
        assert!(durable <= self.last_appended, "the leader's ACK covers only what it appended");
        let my_id = self.config.my_id;
        let l = self.leader();
        while let Some(&z) = l.unsynced_own.front() {
            if z > durable {
                break;
            }
            l.unsynced_own.pop_front();
            if let Some(p) = l.outstanding.get_mut(&z) {
                p.acks.insert(my_id);
            }
        }
        self.try_commit();
    }

    /// `Leader.propose`: log it, send it to forwarding followers, wait for ACKs.
    pub(in crate::zab) fn propose(&mut self, entry: TxnEntry) {
        let entry = Arc::new(entry);
        let zxid = entry.header.zxid;
        let l = self.leader();
        assert!(zxid > l.last_proposed, "proposals get increasing zxids");
        assert!(l.established && Some(epoch_of(zxid)) == l.epoch, "only an established leader proposes, in its epoch");
        l.last_proposed = zxid;
        l.outstanding.insert(zxid, Proposal { entry: Arc::clone(&entry), acks: BTreeSet::new() });
        l.unsynced_own.push_back(zxid);
        let followers: Vec<ServerId> = l
            .handlers
            .iter()
            .filter(|(_, h)| !h.observer && matches!(h.phase, HandlerPhase::WaitingForNewLeaderAck | HandlerPhase::WaitingForEstablished | HandlerPhase::Active))
            .map(|(id, _)| *id)
            .collect();
        for sid in followers {
            self.send(sid, PeerMessage::Proposal(Arc::clone(&entry)));
        }
        self.log_txn(&entry);
        self.sync_log();
        if self.config.bugs.has(Bug::CommitWithoutQuorum) || self.config.bugs.has(Bug::AckBeforeFsync) {
            let my_id = self.config.my_id;
            if let Some(p) = self.leader().outstanding.get_mut(&zxid) {
                p.acks.insert(my_id);
            }
            self.try_commit();
        }
    }

    /// The next zxid, or `None` when the counter would overflow (the leader then steps down).
    pub(in crate::zab) fn next_zxid(&mut self) -> Option<Zxid> {
        let l = self.leader();
        let next = l.last_proposed + 1;
        if next & 0xffff_ffff == 0xffff_ffff {
            return None;
        }
        assert_eq!(Some(epoch_of(next)), l.epoch, "zxids carry the leader's epoch");
        Some(next)
    }

    /// `processSync`: answered once everything proposed before it is committed.
    pub(in crate::zab) fn leader_process_sync(&mut self, origin: ServerId, session: i64, cxid: i32) {
        let l = self.leader();
        assert!(l.established, "sync is processed by an established leader");
        if l.outstanding.is_empty() {
            self.send_sync_done(origin, session, cxid);
        } else {
            let last = l.last_proposed;
            l.pending_syncs.entry(last).or_default().push((origin, session, cxid));
        }
    }

    pub(in crate::zab) fn send_sync_done(&mut self, origin: ServerId, session: i64, cxid: i32) {
        assert!(self.config.is_member(origin), "a sync came from server {origin}");
        if origin == self.config.my_id {
            self.on_sync_done(session, cxid);
        } else {
            self.send(origin, PeerMessage::SyncDone { session, cxid });
        }
    }

    pub(in crate::zab) fn on_learner_ping(&mut self, now_ms: i64, sessions: Vec<(i64, i32)>) {
        let l = self.leader();
        assert!(sessions.iter().all(|(id, _)| *id != 0), "a learner reports real sessions");
        for (id, _timeout) in sessions {
            l.sessions.touch(id, now_ms);
        }
    }

    /// Runs `f` over the established leader's prepare state and the tree, borrowed apart.
    pub(in crate::zab) fn with_leader_prep<R>(
        &mut self,
        f: impl FnOnce(&mut Preparer, &mut SessionTracker, &mut BTreeMap<i64, ServerId>, &crate::tree::DataTree) -> R,
    ) -> Option<R> {
        match &mut self.role {
            Role::Leading(l) if l.established => Some(f(&mut l.preparer, &mut l.sessions, &mut l.session_owner, &self.db.tree)),
            _ => None,
        }
    }

    pub(in crate::zab) fn leader_state_parts(&mut self) -> Option<(&mut Preparer, &mut SessionTracker, &mut BTreeMap<i64, ServerId>)> {
        match &mut self.role {
            Role::Leading(l) if l.established => Some((&mut l.preparer, &mut l.sessions, &mut l.session_owner)),
            _ => None,
        }
    }
}
