//! `SyncRequestProcessor` and `FileTxnSnapLog` as the peer sees them: append to the txn log,
//! fsync, truncate, snapshot (fuzzy, interleaved with commits), the epoch files, and applying a
//! committed txn to the database.
//!
//! Why here: every role logs and applies; what is durable decides when an ACK may be sent
//! (after fsync) and what a restarted server votes with. The mirror (`DiskMirror`) is updated
//! in the same step as the action that writes the disk, so they never disagree.
//!
//! When the disk refuses an action (the shell reports it with [`QuorumPeer::on_disk_error`]),
//! the peer reacts as ZooKeeper 3.8 does:
//! - a log append (full disk) or a log fsync fails: `SyncRequestProcessor` dies,
//!   `ZooKeeperCriticalThread.handleException` logs "Severe unrecoverable error" and sets the
//!   server's state to ERROR; `Leader.lead` shuts down with "Unexpected internal error" and
//!   `Follower.followLeader` leaves its loop, so the server goes back to LOOKING and rejoins (its
//!   next sync may fail the same way). zksim leaves its role at once (ZooKeeper notices within
//!   half a tick on a leader, at its next packet on a follower);
//! - an epoch file cannot be written (`setAcceptedEpoch` / `setCurrentEpoch` throw
//!   `IOException`): the role ends the same way, and the epoch keeps its old value;
//! - a snapshot cannot be written: `ZooKeeperServer.takeSnapshot` logs "Severe unrecoverable
//!   error, exiting" and calls `System.exit(TXNLOG_ERROR_TAKING_SNAPSHOT)`.
//!
//! In every case no ACK leaves for a txn whose fsync did not succeed, and the mirror is put
//! back to what the disk (page cache) holds before the database is reloaded from it.

use std::sync::Arc;

use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::zab::action::{Action, Observation};
use crate::zab::fault_point::FaultPoint;
use crate::zab::message::PeerMessage;
use crate::zab::peer::{QuorumPeer, Role};
use crate::zab::{zxid_str, Bug};
use crate::tree::snapshot::FuzzySnapshot;

/// Which persistence action the disk refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFailureKind {
    /// Appending to the txn log (a full disk): nothing of the batch was written.
    LogAppend,
    /// The txn log's fsync: the appended bytes stay unsynced (the page cache keeps them).
    LogFsync,
    /// Writing `acceptedEpoch` or `currentEpoch`: the file keeps its old value.
    EpochWrite,
    /// Writing a snapshot.
    Snapshot,
}

/// A refused persistence action and what the data directory holds after it (the shell's
/// storage knows; the peer's mirror must agree before it reloads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFailure {
    pub kind: DiskFailureKind,
    /// The storage error, for the log line.
    pub detail: String,
    /// The last zxid the log holds (written, synced or not).
    pub last_logged_zxid: Zxid,
    /// The zxids of the snapshot files the data directory holds (a snapshot the peer took in
    /// the failed step may never have been written).
    pub snapshot_zxids: Vec<Zxid>,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
}

impl QuorumPeer {
    /// The shell could not carry out a persistence action; its later actions of the same step
    /// were not carried out either. React as ZooKeeper does (module header).
    pub fn on_disk_error(&mut self, now_ms: i64, failure: DiskFailure) {
        self.set_now_ms(now_ms);
        assert!(failure.last_logged_zxid <= self.mirror.last_logged_zxid(), "the disk never holds more than the peer wrote");
        assert!(
            failure.accepted_epoch <= self.mirror.accepted_epoch && failure.current_epoch <= self.mirror.current_epoch,
            "the disk's epochs never pass the ones the peer wrote"
        );
        tracing::warn!(now = now_ms, server = self.config.my_id, kind = ?failure.kind, detail = %failure.detail, "Severe unrecoverable error");
        if failure.kind == DiskFailureKind::Snapshot {
            self.out.push(Action::Exit { reason: format!("Severe unrecoverable error, exiting: {}", failure.detail) });
            return;
        }
        // The txns of a failed append never reached the log; the epochs keep their old values.
        self.mirror.forget_unwritten(failure.last_logged_zxid, &failure.snapshot_zxids);
        self.mirror.accepted_epoch = failure.accepted_epoch;
        self.mirror.current_epoch = failure.current_epoch;
        self.sync_tokens.clear();
        self.last_appended = self.mirror.last_logged_zxid();
        self.durable_zxid = self.durable_zxid.min(self.last_appended);
        self.fuzzy = None;
        if matches!(self.role, Role::Looking) {
            // No role to leave: reload here so the next vote carries what the log holds.
            self.reload_database();
        }
        self.become_looking(now_ms);
        assert!(self.sync_tokens.is_empty() && self.durable_zxid <= self.last_appended, "no fsync is awaited after a disk error");
    }

    // ------------------------------------------------------------------ persistence

    pub(in crate::zab) fn write_accepted_epoch(&mut self, epoch: i64) {
        assert!(epoch > self.mirror.accepted_epoch, "acceptedEpoch only grows: {} -> {epoch}", self.mirror.accepted_epoch);
        assert!(epoch >= self.mirror.current_epoch, "acceptedEpoch {epoch} below currentEpoch {}", self.mirror.current_epoch);
        self.mirror.accepted_epoch = epoch;
        self.out.push(Action::WriteAcceptedEpoch(epoch));
    }

    pub(in crate::zab) fn write_current_epoch(&mut self, epoch: i64) {
        assert!(epoch <= self.mirror.accepted_epoch, "currentEpoch never passes acceptedEpoch");
        assert!(epoch >= self.mirror.current_epoch, "currentEpoch only grows: {} -> {epoch}", self.mirror.current_epoch);
        self.mirror.current_epoch = epoch;
        self.out.push(Action::WriteCurrentEpoch(epoch));
    }

    /// Appends a txn to the log (`SyncRequestProcessor`); durable after the next sync.
    pub(in crate::zab) fn log_txn(&mut self, entry: &Arc<TxnEntry>) {
        let zxid = entry.header.zxid;
        if zxid <= self.mirror.last_logged_zxid() {
            // Already in the log (a DIFF resending what a reloaded follower had): it must be the
            // same txn; another one under a logged zxid is reported, never silently dropped.
            let at = self.mirror.log.binary_search_by_key(&zxid, |e| e.header.zxid).ok();
            if let Some(logged) = at.map(|i| Arc::clone(&self.mirror.log[i])).filter(|e| **e != **entry) {
                self.observe(Observation::LogConflict { logged, offered: Arc::clone(entry) });
            }
            return;
        }
        assert!(zxid > self.last_appended, "the log grows in zxid order: {} after {}", zxid_str(zxid), zxid_str(self.last_appended));
        self.mirror.append(Arc::clone(entry));
        self.out.push(Action::AppendLog(Arc::clone(entry)));
        self.last_appended = zxid;
        self.logged_since_snapshot += 1;
        assert_eq!(self.mirror.last_logged_zxid(), zxid, "the mirror ends with the txn just logged");
    }

    /// Requests an fsync of everything appended so far.
    pub(in crate::zab) fn sync_log(&mut self) {
        assert!(
            self.sync_tokens.back().is_none_or(|&(_, zxid)| zxid <= self.last_appended),
            "an fsync never covers less than the one before it"
        );
        let token = self.next_sync_token;
        self.next_sync_token += 1;
        self.sync_tokens.push_back((token, self.last_appended));
        self.out.push(Action::SyncLog { token });
    }

    pub(in crate::zab) fn truncate_log(&mut self, zxid: Zxid) {
        self.mirror.truncate(zxid);
        self.out.push(Action::TruncateLog { zxid });
        self.sync_tokens.clear();
        self.last_appended = self.mirror.last_logged_zxid();
        self.durable_zxid = self.durable_zxid.min(self.last_appended);
        self.fuzzy = None;
        assert_eq!(self.mirror.last_logged_zxid(), zxid, "a TRUNC leaves the log ending exactly at the leader's zxid");
    }

    pub(in crate::zab) fn take_snapshot_now(&mut self) {
        let snapshot = Arc::new(self.db.snapshot());
        assert_eq!(snapshot.last_zxid, self.db.last_processed_zxid(), "a clean snapshot is taken at the tree's zxid");
        self.mirror.add_snapshot(Arc::clone(&snapshot));
        self.db.forget_lineage();
        assert!(self.mirror.last_logged_zxid() >= snapshot.last_zxid, "the data directory holds the snapshot just written");
        self.pass(FaultPoint::SnapshotStarted, None);
        self.out.push(Action::WriteSnapshot(snapshot));
        self.logged_since_snapshot = 0;
        self.fuzzy = None;
        self.pass(FaultPoint::SnapshotFinished, None);
    }

    /// Starts a fuzzy snapshot once enough txns were logged since the last one.
    pub(in crate::zab) fn maybe_begin_snapshot(&mut self) {
        assert!(self.snapshot_threshold >= 1, "a snapshot follows at least one logged txn");
        if self.fuzzy.is_none() && self.logged_since_snapshot >= self.snapshot_threshold {
            self.fuzzy = Some(FuzzySnapshot::begin(&self.db.tree, &self.db.session_list()));
            self.logged_since_snapshot = 0;
            self.pass(FaultPoint::SnapshotStarted, None);
        }
    }

    pub(in crate::zab) fn step_snapshot(&mut self) {
        let Some(walk) = self.fuzzy.as_mut() else { return };
        if walk.step(&self.db.tree, self.config.snapshot_nodes_per_step.max(1)) {
            let snapshot = Arc::new(self.fuzzy.take().expect("walking").finish());
            assert!(snapshot.last_zxid <= self.db.last_processed_zxid(), "a fuzzy snapshot starts at a zxid the tree reached");
            self.mirror.add_snapshot(Arc::clone(&snapshot));
            self.db.forget_lineage();
            self.out.push(Action::WriteSnapshot(snapshot));
            self.pass(FaultPoint::SnapshotFinished, None);
        }
    }

    /// The shell reports an fsync done: every append before `SyncLog{token}` is durable.
    pub fn on_log_synced(&mut self, now_ms: i64, token: u64) {
        assert!(token < self.next_sync_token, "the shell answers only fsyncs it was asked for (token {token})");
        self.set_now_ms(now_ms);
        while let Some(&(t, zxid)) = self.sync_tokens.front() {
            if t > token {
                break;
            }
            self.sync_tokens.pop_front();
            self.durable_zxid = self.durable_zxid.max(zxid);
        }
        assert!(self.durable_zxid <= self.last_appended, "durable only what was appended");
        self.after_durable();
    }

    pub(in crate::zab) fn after_durable(&mut self) {
        let durable = self.durable_zxid;
        let ack_before_fsync = self.config.bugs.has(Bug::AckBeforeFsync);
        match &mut self.role {
            Role::Leading(_) => self.leader_self_acks(durable),
            Role::Learning(l) => {
                let mut acks = Vec::new();
                while let Some(&z) = l.unacked.front() {
                    if z > durable && !ack_before_fsync {
                        break;
                    }
                    l.unacked.pop_front();
                    acks.push(z);
                }
                let leader = l.leader;
                let observer = self.config.is_observer();
                if !observer {
                    for zxid in acks {
                        // ZAB §IV-C: a follower acknowledges only what it has written to its log.
                        assert!(zxid <= self.mirror.last_logged_zxid(), "ACK of {} that is not in the log", zxid_str(zxid));
                        assert!(zxid <= durable || ack_before_fsync, "ACK of {} before its fsync", zxid_str(zxid));
                        self.send(leader, PeerMessage::Ack { zxid });
                        self.pass(FaultPoint::AckSent, Some(leader));
                    }
                }
                self.maybe_ack_new_leader();
            }
            Role::Looking => {}
        }
    }

    // ------------------------------------------------------------------ applying

    /// Applies a committed txn: tree, sessions, watches, local replies, snapshot walk.
    pub(in crate::zab) fn apply_committed(&mut self, entry: &Arc<TxnEntry>) {
        let before = self.db.last_processed_zxid();
        assert!(
            entry.header.zxid > before || self.config.bugs.has(Bug::Zk2355),
            "committed txns apply in zxid order: {} after {}",
            zxid_str(entry.header.zxid),
            zxid_str(before)
        );
        let mut events = Vec::new();
        let rc = self.db.apply(entry, &mut events);
        let digest = self.db.tree.digest();
        self.observe(Observation::Committed { entry: Arc::clone(entry), digest });
        if let Role::Leading(l) = &mut self.role {
            l.preparer.on_applied(entry.header.zxid);
        }
        self.on_applied_for_clients(entry, &rc, events);
        self.pass(FaultPoint::CommitApplied, None);
        self.step_snapshot();
        self.maybe_begin_snapshot();
    }
}
