//! `Learner.syncWithLeader` (ZAB phase 2 on the learner): the first packet decides the mode
//! (DIFF, TRUNC, SNAP); proposals and commits are queued; NEWLEADER persists them, then
//! currentEpoch, then ACKs; UPTODATE starts serving. The NEWLEADER steps are the seam whose
//! reorderings are ZOOKEEPER-3911, -4643 and -4646.

use std::sync::Arc;

use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::zab::action::Observation;
use crate::zab::fault_point::FaultPoint;
use crate::zab::message::PeerMessage;
use crate::zab::peer::{QuorumPeer, Role};
use crate::zab::{epoch_of, make_zxid, zxid_str, Bug};
use crate::zab::database::ZkDatabase;
use crate::zab::learner::state::{LearnerPhase, SyncMode};

impl QuorumPeer {
    /// `syncWithLeader`.
    pub(in crate::zab) fn learner_sync(&mut self, now_ms: i64, msg: PeerMessage) {
        assert_eq!(self.learner_ref().phase, LearnerPhase::Sync, "syncWithLeader runs between ACKEPOCH and UPTODATE");
        if self.sync_state().mode.is_none() {
            self.learner_sync_first_packet(now_ms, msg);
            return;
        }
        let leader = Some(self.learner_ref().leader);
        match msg {
            PeerMessage::Proposal(entry) => {
                let s = self.sync_state();
                assert!(entry.header.zxid > s.last_queued, "sync proposals arrive in zxid order");
                s.last_queued = entry.header.zxid;
                s.packets_not_committed.push_back(entry);
                self.pass(FaultPoint::SyncProposal, leader);
            }
            PeerMessage::Commit { zxid } => {
                self.learner_sync_commit(zxid);
                self.pass(FaultPoint::SyncCommit, leader);
            }
            PeerMessage::Inform(entry) => {
                let s = self.sync_state();
                if s.write_to_txn_log {
                    s.packets_not_committed.push_back(Arc::clone(&entry));
                    s.packets_committed.push_back(entry.header.zxid);
                } else {
                    self.apply_committed(&entry);
                }
            }
            PeerMessage::NewLeader { zxid } => self.learner_on_new_leader(zxid),
            PeerMessage::UpToDate => self.learner_on_up_to_date(),
            PeerMessage::Ping { .. } => self.learner_ping_reply(),
            _ => {}
        }
    }

    pub(in crate::zab) fn learner_sync_first_packet(&mut self, now_ms: i64, msg: PeerMessage) {
        let leader = Some(self.learner_ref().leader);
        match msg {
            PeerMessage::Diff { zxid } => {
                assert!(zxid >= self.db.last_processed_zxid(), "a DIFF brings the learner forward, to {}", zxid_str(zxid));
                let s = self.sync_state();
                s.mode = Some(SyncMode::Diff);
                s.snapshot_needed = false;
                s.write_to_txn_log = true;
                if self.config.bugs.has(Bug::Zk2355) {
                    // ZOOKEEPER-2355 (before commit 6971018): `setlastProcessedZxid(qp.getZxid())`
                    // ran for every sync mode, so a DIFF claims the leader's last committed zxid
                    // before any of its txns is applied. If the sync then fails and the tree is
                    // kept, the next FOLLOWERINFO reports that zxid and the DIFF comes back empty.
                    self.db.set_last_processed_zxid(zxid);
                }
                self.pass(FaultPoint::SyncDiff, leader);
            }
            PeerMessage::Snap { snapshot } => {
                self.db = ZkDatabase::from_snapshot(&snapshot, self.config.commit_log_count);
                assert_eq!(self.db.last_processed_zxid(), snapshot.last_zxid, "a SNAP puts the learner at the snapshot's zxid");
                self.fuzzy = None;
                let digest = self.db.tree.digest();
                self.observe(Observation::Loaded { zxid: snapshot.last_zxid, digest });
                self.sync_state().mode = Some(SyncMode::Snap);
                self.pass(FaultPoint::SyncSnap, leader);
            }
            PeerMessage::Trunc { zxid } => {
                if !self.mirror.can_truncate_to(zxid) {
                    // The log does not reach back to `zxid` (it was purged below the oldest
                    // snapshot kept), so the database cannot be rebuilt at the leader's zxid.
                    // ZooKeeper exits here, its files untouched ("Not able to truncate the
                    // log"); zksim leaves them untouched too and rejoins. Truncating anyway would
                    // drop every snapshot, wiping committed txns this replica may be the last
                    // quorum member to hold.
                    tracing::warn!(
                        server = self.config.my_id,
                        zxid = %zxid_str(zxid),
                        snapshots = ?self.mirror.snapshots.iter().map(|s| zxid_str(s.last_zxid)).collect::<Vec<_>>(),
                        log = ?self.mirror.log.first().zip(self.mirror.log.last()).map(|(a, b)| (zxid_str(a.header.zxid), zxid_str(b.header.zxid))),
                        "cannot truncate the log to the leader's zxid"
                    );
                    self.become_looking(now_ms);
                    return;
                }
                self.truncate_log(zxid);
                self.reload_database();
                assert_eq!(self.db.last_processed_zxid(), zxid, "a TRUNC puts the learner at the leader's zxid");
                self.sync_state().mode = Some(SyncMode::Trunc);
                self.pass(FaultPoint::SyncTrunc, leader);
            }
            other => {
                tracing::warn!(server = self.config.my_id, kind = other.kind(), "unexpected first sync packet");
                self.become_looking(now_ms);
            }
        }
    }

    pub(in crate::zab) fn learner_sync_commit(&mut self, zxid: Zxid) {
        let s = self.sync_state();
        assert!(zxid <= s.last_queued, "a COMMIT during sync follows its PROPOSAL ({})", zxid_str(zxid));
        if s.write_to_txn_log {
            s.packets_committed.push_back(zxid);
            return;
        }
        match s.packets_not_committed.front() {
            Some(head) if head.header.zxid == zxid => {
                let entry = s.packets_not_committed.pop_front().expect("head");
                self.apply_committed(&entry);
            }
            _ => {
                tracing::warn!(server = self.config.my_id, zxid = %zxid_str(zxid), "commit during sync does not match the next proposal");
            }
        }
    }

    /// NEWLEADER: snapshot if needed, log the pending proposals, make them durable, then write
    /// currentEpoch and ACK — the order whose violations are ZOOKEEPER-3911, -4643 and -4646.
    pub(in crate::zab) fn learner_on_new_leader(&mut self, zxid: Zxid) {
        let config = Arc::clone(&self.config);
        let new_epoch = epoch_of(zxid);
        assert_eq!(new_epoch, self.learner_ref().new_epoch, "NEWLEADER names the epoch LEADERINFO announced");
        let leader = Some(self.learner_ref().leader);
        self.pass(FaultPoint::NewLeaderReceived, leader);
        if self.sync_state().snapshot_needed {
            self.take_snapshot_now();
        }
        if config.bugs.has(Bug::Zk4643) {
            // ZOOKEEPER-4643: the epoch is written before the txns are persisted.
            self.write_current_epoch(new_epoch);
            self.pass(FaultPoint::CurrentEpochWritten, leader);
        }
        self.sync_state().write_to_txn_log = true;
        let observer = self.config.is_observer();
        if !observer && !config.bugs.has(Bug::Zk3911) {
            let pending: Vec<Arc<TxnEntry>> = self.sync_state().packets_not_committed.drain(..).collect();
            self.sync_state().ack_after_up_to_date = pending.iter().map(|e| e.header.zxid).collect();
            for entry in pending {
                self.learner_log_request(entry, false);
            }
            self.sync_log();
            self.pass(FaultPoint::SyncTxnsLogged, leader);
        }
        let wait_for = if config.bugs.has(Bug::Zk3911) || config.bugs.has(Bug::Zk4646) { 0 } else { self.last_appended };
        self.sync_state().new_leader_wait = Some(wait_for);
        self.maybe_ack_new_leader();
    }

    /// Sends the NEWLEADER ACK once the synced txns are durable.
    pub(in crate::zab) fn maybe_ack_new_leader(&mut self) {
        let durable = self.durable_zxid;
        let config = Arc::clone(&self.config);
        let Role::Learning(l) = &mut self.role else { return };
        let Some(s) = l.sync.as_mut() else { return };
        let Some(wait_for) = s.new_leader_wait else { return };
        if s.new_leader_acked || wait_for > durable {
            return;
        }
        s.new_leader_acked = true;
        let new_epoch = l.new_epoch;
        let leader = l.leader;
        if !config.bugs.has(Bug::Zk4643) {
            self.write_current_epoch(new_epoch);
            self.pass(FaultPoint::CurrentEpochWritten, Some(leader));
        }
        assert_eq!(self.mirror.current_epoch, new_epoch, "the NEWLEADER ACK follows the currentEpoch write");
        // The ZOOKEEPER-4646 fix: everything the sync logged is on disk before the ACK.
        assert!(
            self.durable_zxid >= self.last_appended || config.bugs.has(Bug::Zk3911) || config.bugs.has(Bug::Zk4646),
            "NEWLEADER ACK with {} appended but only {} durable",
            zxid_str(self.last_appended),
            zxid_str(self.durable_zxid)
        );
        self.send(leader, PeerMessage::Ack { zxid: make_zxid(new_epoch, 0) });
        self.pass(FaultPoint::NewLeaderAckSent, Some(leader));
    }

    /// UPTODATE: start serving; log what came after NEWLEADER and commit what was committed.
    pub(in crate::zab) fn learner_on_up_to_date(&mut self) {
        if !self.sync_state().new_leader_acked {
            tracing::warn!(server = self.config.my_id, "UPTODATE before our NEWLEADER ACK");
            return;
        }
        let leader = Some(self.learner_ref().leader);
        assert_eq!(self.mirror.current_epoch, self.learner_ref().new_epoch, "a learner serves only in the epoch it acknowledged");
        self.pass(FaultPoint::UpToDateReceived, leader);
        let s = self.learner().sync.take().expect("in sync");
        self.learner().phase = LearnerPhase::Broadcast;
        // `updateElectionVote(newEpoch)` (ZOOKEEPER-1732): report the vote everyone reports.
        self.current_vote.0.peer_epoch = self.learner_ref().new_epoch;
        if self.config.is_observer() {
            let mut committed = s.packets_committed;
            for entry in s.packets_not_committed {
                if committed.front() == Some(&entry.header.zxid) {
                    committed.pop_front();
                    self.observer_commit(entry);
                }
            }
        } else {
            self.learner().unacked.extend(s.ack_after_up_to_date);
            for entry in s.packets_not_committed {
                self.learner_log_request(entry, true);
            }
            self.sync_log();
            for zxid in s.packets_committed {
                if !self.follower_commit(zxid) {
                    return;
                }
            }
            self.after_durable();
        }
    }
}
