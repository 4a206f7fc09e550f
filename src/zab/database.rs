//! `ZKDatabase`: the in-memory tree, the sessions, and the window of recently committed
//! proposals a leader syncs followers from — plus a mirror of what this server wrote to disk.
//!
//! Why a mirror: ZooKeeper reloads its database from its own files (newest snapshot + txn log)
//! on TRUNC and whenever it leaves the following/leading state (the ZOOKEEPER-2845 fix). A
//! running process reads back what it wrote whether or not it was fsynced (the page cache), so
//! the mirror — updated by the same actions the shell applies to the simulated disk — is exactly
//! what a reload sees, without the core doing I/O. After a crash the shell rebuilds the mirror
//! from the durable bytes only (`crate::storage`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::proto::{SessionId, Zxid};
use crate::tree::data_tree::ProcessTxnResult;
use crate::tree::snapshot::Snapshot;
use crate::tree::watch::Notification;
use crate::tree::{DataTree, Txn, TxnEntry};

/// Snapshots a server keeps (`autopurge.snapRetainCount` default 3).
pub const SNAP_RETAIN_COUNT: usize = 3;

/// What this server has written to its data directory (durable or not).
#[derive(Clone, Debug, Default)]
pub struct DiskMirror {
    /// Oldest first.
    pub snapshots: Vec<Arc<Snapshot>>,
    /// Logged transactions in zxid order, from the oldest retained snapshot on.
    pub log: Vec<Arc<TxnEntry>>,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
}

impl DiskMirror {
    pub fn last_logged_zxid(&self) -> Zxid {
        let snap = self.snapshots.last().map_or(0, |s| s.last_zxid);
        self.log.last().map_or(snap, |e| e.header.zxid.max(snap))
    }

    pub fn append(&mut self, entry: Arc<TxnEntry>) {
        assert!(self.log.last().is_none_or(|last| last.header.zxid < entry.header.zxid), "the txn log only grows in zxid order");
        self.log.push(entry);
    }

    /// `FileTxnSnapLog.truncateLog`: nothing after `zxid` remains. Snapshots newer than `zxid`
    /// are removed too (ZooKeeper 3.8 leaves them, which can resurrect truncated txns on the
    /// next load; zksim takes the safe reading).
    pub fn truncate(&mut self, zxid: Zxid) {
        self.log.retain(|e| e.header.zxid <= zxid);
        self.snapshots.retain(|s| s.last_zxid <= zxid);
        assert!(self.last_logged_zxid() <= zxid, "nothing after {zxid:#x} remains");
    }

    /// After a disk error: drops the logged txns above `last_written` (their append failed or
    /// was never carried out) and the snapshots the disk does not hold (their write was dropped
    /// with the rest of the failed step). What remains, the disk holds.
    pub fn forget_unwritten(&mut self, last_written: Zxid, snapshots_on_disk: &[Zxid]) {
        self.log.retain(|e| e.header.zxid <= last_written);
        self.snapshots.retain(|s| snapshots_on_disk.contains(&s.last_zxid));
        assert!(self.snapshots.iter().all(|s| s.last_zxid <= last_written), "a snapshot on disk above the log's last written zxid");
        assert!(self.last_logged_zxid() <= last_written, "nothing unwritten remains in the mirror");
    }

    /// Whether `truncate(zxid)` leaves a database at exactly `zxid`: a snapshot at or below it
    /// is kept (or none was ever taken) and the log reaches it.
    pub fn can_truncate_to(&self, zxid: Zxid) -> bool {
        assert!(zxid >= 0, "a TRUNC names a zxid");
        let mut after = DiskMirror { snapshots: self.snapshots.clone(), log: self.log.clone(), ..DiskMirror::default() };
        after.truncate(zxid);
        after.last_logged_zxid() == zxid
    }

    /// Mirrors `Storage::write_snapshot`: the file is named by its zxid (a second snapshot at the
    /// same zxid replaces the first), and the purge removes snapshots and the log before the
    /// oldest kept one only once more than `SNAP_RETAIN_COUNT` exist. Trimming the log at every
    /// snapshot made a learner unable to TRUNC below its only snapshot although its disk could
    /// (a correct-build livelock, swarm seed 2023).
    pub fn add_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshots.retain(|s| s.last_zxid != snapshot.last_zxid);
        self.snapshots.push(snapshot);
        if self.snapshots.len() > SNAP_RETAIN_COUNT {
            self.snapshots.remove(0);
            let oldest = self.snapshots[0].last_zxid;
            self.log.retain(|e| e.header.zxid > oldest);
        }
        assert!(self.snapshots.len() <= SNAP_RETAIN_COUNT, "at most {SNAP_RETAIN_COUNT} snapshots are kept");
    }
}

/// The replicated state a server serves from.
#[derive(Clone, Debug)]
pub struct ZkDatabase {
    pub tree: DataTree,
    /// `sessionsWithTimeouts`: every live global session and its timeout.
    pub sessions: BTreeMap<SessionId, i32>,
    committed_log: VecDeque<Arc<TxnEntry>>,
    commit_log_count: usize,
    lineage: Lineage,
}

/// What a database was built from: the snapshot it started at (none: the empty tree) and every
/// txn applied to it since, in order — while nothing else changed it but watches.
///
/// Why: a reload (`load_memo`) builds `at_snapshot(newest) + replay(log after it)`. When this
/// database started at that same snapshot (by `Arc`) and the txns it applied are the log's
/// first ones (by `Arc`), it *is* what those calls build up to there (the same calls in the same
/// order from the same start), so the reload keeps it, drops its watches, and replays only the
/// rest — instead of cloning a kept copy and applying every txn a second time.
#[derive(Clone, Default)]
pub struct Lineage {
    /// `None`: unknown (built from a snapshot not shared by `Arc`, or changed outside `apply`).
    base: Option<Option<Arc<Snapshot>>>,
    applied: Vec<Arc<TxnEntry>>,
}

/// Not part of what a database is: two equal databases may have different lineages.
impl std::fmt::Debug for Lineage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lineage")
    }
}

impl Lineage {
    fn from(base: Option<&Arc<Snapshot>>) -> Lineage {
        Lineage { base: Some(base.cloned()), applied: Vec::new() }
    }

    fn unknown() -> Lineage {
        Lineage::default()
    }

    /// How many of `after` (the log after `snapshot`) this lineage applied, when it started at
    /// `snapshot` and applied exactly `after`'s first txns.
    pub fn applied_prefix_of(&self, snapshot: Option<&Arc<Snapshot>>, after: &[&Arc<TxnEntry>]) -> Option<usize> {
        let base = self.base.as_ref()?;
        let same_base = match (base, snapshot) {
            (None, None) => true,
            (Some(kept), Some(now)) => Arc::ptr_eq(kept, now),
            _ => false,
        };
        let prefix = same_base && self.applied.len() <= after.len() && self.applied.iter().zip(after).all(|(a, b)| Arc::ptr_eq(a, b));
        prefix.then_some(self.applied.len())
    }
}

impl ZkDatabase {
    pub fn empty(commit_log_count: usize) -> ZkDatabase {
        assert!(commit_log_count >= 1, "commitLogCount keeps at least one proposal");
        ZkDatabase { tree: DataTree::new(), sessions: BTreeMap::new(), committed_log: VecDeque::new(), commit_log_count, lineage: Lineage::from(None) }
    }

    /// `loadDataBase`: the newest snapshot, then every logged txn after it.
    /// A server reloads through its [`super::load_memo::LoadMemo`], which gives the same
    /// database; this is the plain definition (and the tests' reference).
    pub fn load(mirror: &DiskMirror, commit_log_count: usize) -> ZkDatabase {
        let mut db = ZkDatabase::at_snapshot(mirror.snapshots.last(), commit_log_count);
        let from = db.tree.last_processed_zxid;
        for entry in mirror.log.iter().filter(|e| e.header.zxid > from) {
            db.replay(entry);
        }
        assert_eq!(db.last_processed_zxid(), mirror.last_logged_zxid(), "a load ends at the last logged zxid");
        db
    }

    /// Where a load starts: the newest snapshot's database, or an empty one.
    pub fn at_snapshot(snapshot: Option<&Arc<Snapshot>>, commit_log_count: usize) -> ZkDatabase {
        match snapshot {
            Some(snap) => ZkDatabase { lineage: Lineage::from(Some(snap)), ..ZkDatabase::from_snapshot(snap, commit_log_count) },
            None => ZkDatabase::empty(commit_log_count),
        }
    }

    /// Applies one logged txn during a load.
    pub fn replay(&mut self, entry: &Arc<TxnEntry>) {
        // Read back in the order `append` asserted when it wrote them.
        assert!(entry.header.zxid > self.last_processed_zxid(), "the log replays in zxid order");
        self.apply(entry, &mut Vec::new());
    }

    /// A database restored from a snapshot (SNAP sync, or load).
    pub fn from_snapshot(snapshot: &Snapshot, commit_log_count: usize) -> ZkDatabase {
        let tree = snapshot.restore().expect("snapshots in memory are valid");
        assert_eq!(tree.last_processed_zxid, snapshot.last_zxid, "a restored tree starts at its snapshot's zxid");
        ZkDatabase {
            tree,
            sessions: snapshot.sessions.iter().copied().collect(),
            committed_log: VecDeque::new(),
            commit_log_count,
            lineage: Lineage::unknown(),
        }
    }

    pub fn last_processed_zxid(&self) -> Zxid {
        self.tree.last_processed_zxid
    }

    pub fn commit_log_count(&self) -> usize {
        self.commit_log_count
    }

    pub fn lineage(&self) -> &Lineage {
        &self.lineage
    }

    /// A snapshot was written: no reload starts at this database's base any more, so its
    /// lineage can only hold txns alive.
    pub fn forget_lineage(&mut self) {
        self.lineage = Lineage::unknown();
    }

    /// What a reload keeps of this database: its watches go (a fresh load has none; they are
    /// the only state that changes outside `apply`), its lineage stays.
    pub fn drop_watches(&mut self) {
        self.tree.reset_watches();
    }

    /// `ZKDatabase.setlastProcessedZxid`: only the buggy ZOOKEEPER-2355 DIFF path claims a zxid
    /// the tree has not reached.
    pub fn set_last_processed_zxid(&mut self, zxid: Zxid) {
        assert!(zxid >= self.tree.last_processed_zxid, "the buggy DIFF path claims a zxid ahead, never behind");
        self.tree.last_processed_zxid = zxid;
        self.lineage = Lineage::unknown();
    }

    /// Applies a committed txn (`ZKDatabase.processTxn` + `addCommittedProposal`).
    pub fn apply(&mut self, entry: &Arc<TxnEntry>, events: &mut Vec<Notification>) -> ProcessTxnResult {
        let rc = self.tree.process_txn(&entry.header, &entry.txn, events);
        if self.lineage.base.is_some() {
            self.lineage.applied.push(Arc::clone(entry));
        }
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(entry.header.client_id, *timeout_ms);
            }
            Txn::CloseSession { .. } => {
                self.sessions.remove(&entry.header.client_id);
            }
            _ => {}
        }
        if self.committed_log.back().is_none_or(|last| last.header.zxid < entry.header.zxid) {
            self.committed_log.push_back(Arc::clone(entry));
            if self.committed_log.len() > self.commit_log_count {
                self.committed_log.pop_front();
            }
        }
        assert!(self.committed_log.len() <= self.commit_log_count, "the committed log is bounded by commitLogCount");
        rc
    }

    pub fn committed_log(&self) -> &VecDeque<Arc<TxnEntry>> {
        &self.committed_log
    }

    /// (minCommittedLog, maxCommittedLog); an empty window is the last processed zxid.
    pub fn committed_window(&self) -> (Zxid, Zxid) {
        assert!(self.committed_log.len() <= self.commit_log_count, "the committed log is bounded by commitLogCount");
        match (self.committed_log.front(), self.committed_log.back()) {
            (Some(first), Some(last)) => (first.header.zxid, last.header.zxid),
            _ => (self.last_processed_zxid(), self.last_processed_zxid()),
        }
    }

    pub fn session_list(&self) -> Vec<(SessionId, i32)> {
        self.sessions.iter().map(|(id, t)| (*id, *t)).collect()
    }

    pub fn snapshot(&self) -> Snapshot {
        let snapshot = Snapshot::of(&self.tree, &self.session_list());
        assert_eq!(snapshot.last_zxid, self.last_processed_zxid(), "a clean snapshot is at the tree's zxid");
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TxnHeader;

    fn mirror_with_log(zxids: std::ops::RangeInclusive<Zxid>) -> DiskMirror {
        let mut mirror = DiskMirror::default();
        for zxid in zxids {
            let header = TxnHeader { client_id: 1, cxid: 0, zxid, time_ms: 0 };
            mirror.append(Arc::new(TxnEntry { header, txn: Txn::Check { path: "/".into(), version: 0 } }));
        }
        mirror
    }

    fn snapshot_at(zxid: Zxid) -> Arc<Snapshot> {
        let mut snapshot = Snapshot::of(&DataTree::new(), &[]);
        snapshot.last_zxid = zxid;
        Arc::new(snapshot)
    }

    fn snapshot_zxids(mirror: &DiskMirror) -> Vec<Zxid> {
        mirror.snapshots.iter().map(|s| s.last_zxid).collect()
    }

    #[test]
    fn a_truncation_may_go_below_the_only_snapshot() {
        let mut mirror = mirror_with_log(1..=5);
        mirror.add_snapshot(snapshot_at(5));
        assert!(mirror.can_truncate_to(4), "no snapshot was purged, so the log still starts at 1");
        mirror.truncate(4);
        assert_eq!((snapshot_zxids(&mirror), mirror.last_logged_zxid()), (vec![], 4));
    }

    #[test]
    fn a_snapshot_at_the_same_zxid_replaces_the_earlier_one() {
        let mut mirror = mirror_with_log(1..=6);
        for zxid in [2, 4, 4, 4, 6] {
            mirror.add_snapshot(snapshot_at(zxid));
        }
        assert_eq!(snapshot_zxids(&mirror), vec![2, 4, 6]);
        assert!(mirror.can_truncate_to(1), "three distinct snapshots: nothing purged yet");
    }

    #[test]
    fn the_log_before_the_oldest_kept_snapshot_goes_with_the_purge() {
        let mut mirror = mirror_with_log(1..=10);
        for zxid in [2, 4, 6, 8] {
            mirror.add_snapshot(snapshot_at(zxid));
        }
        assert_eq!(snapshot_zxids(&mirror), vec![4, 6, 8]);
        assert_eq!(mirror.log.first().map(|e| e.header.zxid), Some(5));
        assert!(mirror.can_truncate_to(5));
        assert!(!mirror.can_truncate_to(3), "below the oldest kept snapshot the log is gone");
    }
}
