//! Durable storage of one ZooKeeper server: transaction log, snapshots, epoch files, and
//! recovery — over a [`Disk`] that loses what was not fsynced.
//!
//! Why this module exists: the ZAB peer core does no I/O. It emits persistence actions ("log
//! these txns", "sync", "truncate after zxid Z", "write acceptedEpoch") and keeps an in-memory
//! mirror of what it wrote. The madsim shell executes those actions against a [`Storage`], and
//! on a restart calls [`Storage::recover`] to rebuild the peer. Everything here is plain,
//! deterministic Rust: no madsim, no clock, no randomness (a crash's torn write is chosen by the
//! caller), so it is tested with unit tests and proptest on [`MemDisk`]; `sim::disk` puts the
//! same `MemDisk` behind madsim's node kill.
//!
//! Layout of a data directory (ZooKeeper's names):
//! - `log.<hex zxid>`: transaction log files, see [`txn_log`];
//! - `snapshot.<hex zxid>`: snapshots, see [`snap_files`];
//! - `acceptedEpoch`, `currentEpoch`: see [`epoch`].
//!
//! Durability contract of [`Storage`]: `append_txns` only writes (page cache); `sync_log` makes
//! every appended txn durable (group commit: one call covers all of them). A log roll syncs
//! the previous file, so the durable log is always a prefix of the appended one.
//! Acknowledge a proposal only after `sync_log` returned. Snapshot, epoch and truncation writes
//! are durable when their call returns.
//!
//! Injected disk faults surface as errors, never panics: on a full disk `append_txns` writes
//! nothing and returns [`StorageError::DiskFull`], [`Storage::try_write_snapshot`] leaves a
//! partial file (as `FileSnap.serialize` does on ENOSPC) and the `try_write_*_epoch` calls keep
//! the old value; an fsync error makes [`Storage::try_sync_log`] fail with the bytes still
//! unsynced. Truncation only shrinks files and never fails. What the server then does is
//! ZooKeeper's reaction, decided by the peer (`zab::persistence`), not here.

pub mod codec;
pub mod damage;
pub mod disk;
pub mod epoch;
pub mod error;
pub mod recovery;
pub mod snap_files;
pub mod txn_log;

use std::collections::BTreeSet;

pub use disk::{CrashOutcome, Disk, DiskFaults, DiskIoError, MemDisk, TornWrite};
pub use error::StorageError;
pub use recovery::{inspect, recover, RebuiltState, Recovered};
pub use txn_log::TailDamage;

use crate::proto::Zxid;
use crate::tree::snapshot::Snapshot;
use crate::tree::TxnEntry;

/// Log-roll and snapshot-retention knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// Start a new log file after this many txns in the current one.
    pub txns_per_log_file: usize,
    /// Snapshots kept by the purge after each snapshot (ZooKeeper's `autopurge.snapRetainCount`).
    pub snapshots_retained: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { txns_per_log_file: 10_000, snapshots_retained: 3 }
    }
}

/// The log file being appended to.
#[derive(Clone, Debug)]
struct CurrentLog {
    name: String,
    txns: usize,
}

/// One server's storage over a [`Disk`]: owns the log-roll and snapshot-retention bookkeeping.
#[derive(Debug)]
pub struct Storage<D: Disk> {
    disk: D,
    config: StorageConfig,
    current_log: Option<CurrentLog>,
    /// Log files with appended but unsynced bytes.
    unsynced_logs: BTreeSet<String>,
    last_logged_zxid: Option<Zxid>,
}

impl<D: Disk> Storage<D> {
    /// Wraps `disk`. On a disk that may hold data, call [`Storage::recover`] before appending
    /// (it also learns the last logged zxid, which appends must exceed).
    pub fn new(disk: D, config: StorageConfig) -> Storage<D> {
        assert!(config.txns_per_log_file >= 1 && config.snapshots_retained >= 1, "bad storage config {config:?}");
        Storage { disk, config, current_log: None, unsynced_logs: BTreeSet::new(), last_logged_zxid: None }
    }

    pub fn disk(&self) -> &D {
        &self.disk
    }

    pub fn disk_mut(&mut self) -> &mut D {
        &mut self.disk
    }

    pub fn into_disk(self) -> D {
        self.disk
    }

    pub fn config(&self) -> StorageConfig {
        self.config
    }

    /// The highest zxid appended (synced or not), or recovered.
    pub fn last_logged_zxid(&self) -> Option<Zxid> {
        self.last_logged_zxid
    }

    /// Recovers (cutting a torn tail away) and resets the bookkeeping: the next append starts a
    /// new log file, as ZooKeeper does after a restart.
    pub fn recover(&mut self) -> Result<Recovered, StorageError> {
        let recovered = recover(&mut self.disk)?;
        self.current_log = None;
        self.unsynced_logs.clear();
        let snapshot_zxid = recovered.snapshot.as_ref().map(|(z, _)| *z);
        self.last_logged_zxid = recovered.last_logged_zxid.max(snapshot_zxid);
        Ok(recovered)
    }

    /// Writes `entries` to the log (not durable until [`Storage::sync_log`]). Zxids must
    /// strictly increase, above every logged zxid; nothing is written if they do not.
    /// Takes `&[TxnEntry]` or `&[Arc<TxnEntry>]` (the shell's entries are shared with the peer).
    pub fn append_txns<E: std::borrow::Borrow<TxnEntry>>(&mut self, entries: &[E]) -> Result<(), StorageError> {
        if self.disk.is_full() && !entries.is_empty() {
            let file = self.current_log.as_ref().map_or_else(|| "the transaction log".to_string(), |c| c.name.clone());
            return Err(StorageError::DiskFull { file });
        }
        let mut last = self.last_logged_zxid;
        for entry in entries {
            let entry: &TxnEntry = entry.borrow();
            let zxid = entry.header.zxid;
            if let Some(last_logged) = last.filter(|&l| zxid <= l) {
                return Err(StorageError::AppendOutOfOrder { last_logged, zxid });
            }
            last = Some(zxid);
        }
        let mut pending: Vec<u8> = Vec::new();
        for entry in entries {
            let entry: &TxnEntry = entry.borrow();
            let full = self.current_log.as_ref().is_none_or(|c| c.txns >= self.config.txns_per_log_file);
            if full {
                self.flush_pending(&mut pending);
                self.start_log_file(entry.header.zxid, &mut pending);
            }
            txn_log::encode_record(entry, &mut pending);
            self.current_log.as_mut().expect("a log file is open").txns += 1;
        }
        self.flush_pending(&mut pending);
        self.last_logged_zxid = last;
        Ok(())
    }

    fn flush_pending(&mut self, pending: &mut Vec<u8>) {
        if pending.is_empty() {
            return;
        }
        let name = &self.current_log.as_ref().expect("bytes belong to an open log file").name;
        self.disk.append(name, pending);
        self.unsynced_logs.insert(name.clone());
        pending.clear();
    }

    /// Opens `log.<first_zxid>`; a stale file of that name (left empty or cut by a truncation)
    /// is replaced.
    ///
    /// The previous file is fsynced first. ZooKeeper defers that sync to the next commit, but
    /// then a crash can keep unsynced bytes of the new file while losing those of the old one,
    /// leaving a gap in the log that replay would silently skip. Syncing at the roll keeps the
    /// log on disk a prefix of what was appended, whatever a crash keeps (one extra fsync per
    /// roll).
    fn start_log_file(&mut self, first_zxid: Zxid, pending: &mut Vec<u8>) {
        debug_assert!(pending.is_empty(), "earlier bytes are flushed to the old file first");
        self.sync_log();
        let name = txn_log::log_file_name(first_zxid);
        if self.disk.len(&name).is_some() {
            self.disk.remove(&name);
        }
        pending.extend_from_slice(&txn_log::FILE_HEADER);
        self.current_log = Some(CurrentLog { name, txns: 0 });
    }

    /// fsync every log file with appended bytes: all appended txns become durable.
    pub fn sync_log(&mut self) {
        for name in std::mem::take(&mut self.unsynced_logs) {
            self.disk.sync(&name);
        }
    }

    /// [`Storage::sync_log`] on a disk whose fsync may fail: on `Err` the failed file and those
    /// after it stay unsynced (a later call retries them).
    pub fn try_sync_log(&mut self) -> Result<(), StorageError> {
        let names: Vec<String> = self.unsynced_logs.iter().cloned().collect();
        for name in names {
            if let Err(e) = self.disk.try_sync(&name) {
                return Err(StorageError::FsyncFailed { file: e.file });
            }
            self.unsynced_logs.remove(&name);
        }
        Ok(())
    }

    /// The next append starts a new log file (ZooKeeper rolls the log when it snapshots).
    pub fn roll_log(&mut self) {
        self.current_log = None;
    }

    /// Durably removes every logged txn with zxid > `zxid` (ZAB's TRUNC) and every snapshot
    /// newer than `zxid`. Unsynced appends are synced or cut first, so this is durable on return.
    pub fn truncate_log(&mut self, zxid: Zxid) -> Result<(), StorageError> {
        self.sync_log();
        txn_log::truncate_log(&mut self.disk, zxid)?;
        for (snapshot_zxid, name) in snap_files::snapshot_files(&self.disk) {
            if snapshot_zxid > zxid {
                self.disk.remove(&name);
            }
        }
        self.current_log = None;
        self.last_logged_zxid = self.last_logged_zxid.map(|l| l.min(zxid));
        Ok(())
    }

    /// Rolls the log, writes and syncs `snapshot.<zxid>`, then purges old snapshots and the log
    /// files no retained snapshot needs.
    pub fn write_snapshot(&mut self, zxid: Zxid, snapshot: &Snapshot) -> Result<(), StorageError> {
        if snapshot.last_zxid != zxid {
            return Err(StorageError::SnapshotZxidMismatch { zxid, snapshot_last_zxid: snapshot.last_zxid });
        }
        self.roll_log();
        snap_files::write_snapshot_file(&mut self.disk, snapshot);
        // Never purge a log file with unsynced bytes out from under the group commit.
        self.sync_log();
        snap_files::purge(&mut self.disk, self.config.snapshots_retained);
        Ok(())
    }

    /// [`Storage::write_snapshot`] on a disk that may be full: then half of the snapshot's bytes
    /// reach the file (`FileSnap.serialize` writes straight to `snapshot.<zxid>`), which recovery
    /// skips as invalid, and nothing is purged.
    pub fn try_write_snapshot(&mut self, zxid: Zxid, snapshot: &Snapshot) -> Result<(), StorageError> {
        if self.disk.is_full() {
            let name = snap_files::snapshot_file_name(zxid);
            let bytes = snapshot.encode();
            self.disk.write_file(&name, &bytes[..bytes.len() / 2]);
            self.disk.sync(&name);
            return Err(StorageError::DiskFull { file: name });
        }
        self.write_snapshot(zxid, snapshot)
    }

    pub fn try_write_accepted_epoch(&mut self, epoch: i64) -> Result<(), StorageError> {
        epoch::try_write_epoch(&mut self.disk, epoch::ACCEPTED_EPOCH_FILE, epoch)
    }

    pub fn try_write_current_epoch(&mut self, epoch: i64) -> Result<(), StorageError> {
        epoch::try_write_epoch(&mut self.disk, epoch::CURRENT_EPOCH_FILE, epoch)
    }

    pub fn write_accepted_epoch(&mut self, epoch: i64) {
        epoch::write_epoch(&mut self.disk, epoch::ACCEPTED_EPOCH_FILE, epoch);
    }

    pub fn write_current_epoch(&mut self, epoch: i64) {
        epoch::write_epoch(&mut self.disk, epoch::CURRENT_EPOCH_FILE, epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{DataTree, Txn, TxnHeader};

    fn entry(zxid: Zxid) -> TxnEntry {
        TxnEntry { header: TxnHeader { client_id: 1, cxid: 0, zxid, time_ms: 0 }, txn: Txn::Check { path: "/".into(), version: 0 } }
    }

    fn zxids(recovered: &Recovered) -> Vec<Zxid> {
        recovered.log.iter().map(|e| e.header.zxid).collect()
    }

    #[test]
    fn synced_txns_survive_a_crash_and_unsynced_ones_do_not() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig { txns_per_log_file: 2, snapshots_retained: 3 });
        storage.append_txns(&[entry(1), entry(2), entry(3)]).unwrap();
        storage.sync_log();
        storage.append_txns(&[entry(4), entry(5)]).unwrap();
        assert_eq!(storage.disk().list(), vec!["log.1", "log.3", "log.5"]);
        // Starting log.5 synced log.3 (holding 4); 5 itself was never synced.
        storage.disk_mut().crash(None);
        let recovered = storage.recover().unwrap();
        assert_eq!(zxids(&recovered), vec![1, 2, 3, 4]);
        assert_eq!(recovered.truncated_tail_bytes, 0);
        // Appending 5 again after the restart replaces the stale, empty log.5 cleanly.
        storage.append_txns(&[entry(5)]).unwrap();
        storage.sync_log();
        assert_eq!(zxids(&storage.recover().unwrap()), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn torn_tail_is_cut_and_reported() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig::default());
        storage.append_txns(&[entry(1)]).unwrap();
        storage.sync_log();
        storage.append_txns(&[entry(2)]).unwrap();
        let (_, unsynced) = storage.disk().torn_write_candidate().unwrap();
        storage.disk_mut().crash(Some(TornWrite { keep_bytes: unsynced - 1 }));
        let recovered = storage.recover().unwrap();
        assert_eq!(zxids(&recovered), vec![1]);
        assert_eq!(recovered.truncated_tail_bytes, unsynced - 1);
        assert!(recovered.tail_damage.unwrap().reason.contains("cut short"));
        assert_eq!(storage.recover().unwrap().truncated_tail_bytes, 0, "the cut is durable");
    }

    #[test]
    fn appends_must_grow_in_zxid_order() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig::default());
        storage.append_txns(&[entry(5)]).unwrap();
        let err = storage.append_txns(&[entry(6), entry(5)]).unwrap_err();
        assert_eq!(err, StorageError::AppendOutOfOrder { last_logged: 6, zxid: 5 });
        assert_eq!(storage.disk().unsynced_bytes(), FILE_HEADER_AND_ONE_RECORD, "nothing written on error");
    }

    const FILE_HEADER_AND_ONE_RECORD: usize = 16 + 8 + 28 + 4 + 4 + 1 + 4;

    #[test]
    fn truncate_then_snapshot_then_recover() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig { txns_per_log_file: 3, snapshots_retained: 1 });
        storage.append_txns(&(1..=10).map(entry).collect::<Vec<_>>()).unwrap();
        let mut snapshot = Snapshot::of(&DataTree::new(), &[]);
        snapshot.last_zxid = 2;
        storage.write_snapshot(2, &snapshot).unwrap();
        storage.truncate_log(6).unwrap();
        assert_eq!(storage.last_logged_zxid(), Some(6));
        storage.append_txns(&[entry(7)]).unwrap();
        snapshot.last_zxid = 4;
        storage.write_snapshot(4, &snapshot).unwrap();
        storage.disk_mut().crash(None);
        let recovered = storage.recover().unwrap();
        assert_eq!(recovered.snapshot.as_ref().unwrap().0, 4);
        assert_eq!(zxids(&recovered), vec![5, 6, 7]);
        assert_eq!(recovered.last_logged_zxid, Some(7));
        assert!(storage.disk().list().contains(&"log.4".to_string()), "log.4 holds 5 and 6");
        assert!(!storage.disk().list().contains(&"log.1".to_string()), "log.1 purged");
        assert!(!storage.disk().list().contains(&"snapshot.2".to_string()), "snapshot.2 purged");
    }

    #[test]
    fn recovery_reports_every_retained_snapshot_and_the_log_below_the_newest() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig { txns_per_log_file: 2, snapshots_retained: 3 });
        storage.append_txns(&(1..=6).map(entry).collect::<Vec<_>>()).unwrap();
        let mut snapshot = Snapshot::of(&DataTree::new(), &[]);
        for zxid in [2, 4] {
            snapshot.last_zxid = zxid;
            storage.write_snapshot(zxid, &snapshot).unwrap();
        }
        storage.sync_log();
        storage.disk_mut().crash(None);
        let recovered = storage.recover().unwrap();
        assert_eq!(recovered.snapshot.as_ref().unwrap().0, 4);
        assert_eq!(zxids(&recovered), vec![5, 6]);
        assert_eq!(recovered.older_snapshots.iter().map(|s| s.last_zxid).collect::<Vec<_>>(), vec![2]);
        assert_eq!(recovered.older_log.iter().map(|e| e.header.zxid).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_full_disk_writes_no_txn_and_a_failed_fsync_leaves_them_unsynced() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig::default());
        storage.append_txns(&[entry(1)]).unwrap();
        storage.disk_mut().faults.fsync_fails = true;
        assert!(matches!(storage.try_sync_log(), Err(StorageError::FsyncFailed { .. })));
        assert!(storage.disk().unsynced_bytes() > 0, "nothing became durable");
        storage.disk_mut().faults = DiskFaults { full: true, fsync_fails: false };
        let before = storage.disk().files();
        assert!(matches!(storage.append_txns(&[entry(2)]), Err(StorageError::DiskFull { .. })));
        assert_eq!(storage.disk().files(), before, "a full disk takes no byte of the txn");
        assert_eq!(storage.last_logged_zxid(), Some(1));
        storage.try_sync_log().unwrap();
        storage.disk_mut().crash(None);
        assert_eq!(zxids(&storage.recover().unwrap()), vec![1], "the retried fsync made txn 1 durable");
    }

    #[test]
    fn a_snapshot_on_a_full_disk_leaves_a_partial_file_that_recovery_skips() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig::default());
        storage.append_txns(&[entry(1), entry(2)]).unwrap();
        let mut snapshot = Snapshot::of(&DataTree::new(), &[]);
        snapshot.last_zxid = 1;
        storage.write_snapshot(1, &snapshot).unwrap();
        storage.sync_log();
        storage.disk_mut().faults.full = true;
        snapshot.last_zxid = 2;
        assert!(matches!(storage.try_write_snapshot(2, &snapshot), Err(StorageError::DiskFull { .. })));
        storage.disk_mut().crash(None);
        let recovered = storage.recover().unwrap();
        assert_eq!(recovered.snapshot.as_ref().unwrap().0, 1, "the partial snapshot.2 is skipped");
        assert_eq!(recovered.skipped_snapshots.len(), 1);
        assert_eq!(zxids(&recovered), vec![2]);
    }

    #[test]
    fn a_log_ahead_of_current_epoch_takes_the_tmp_copy() {
        // A learner logged txns of epoch 2 and crashed writing currentEpoch = 2: between the
        // tmp copy's fsync and the rename (`QuorumPeer.loadDataBase`, ZOOKEEPER-1653's check).
        let mut storage = Storage::new(MemDisk::new(), StorageConfig::default());
        storage.write_accepted_epoch(2);
        storage.write_current_epoch(1);
        storage.append_txns(&[entry(1 << 32 | 1), entry(2 << 32 | 1)]).unwrap();
        storage.sync_log();
        epoch::write_epoch_tmp_only(storage.disk_mut(), epoch::CURRENT_EPOCH_FILE, 2);
        storage.disk_mut().crash(None);
        let recovered = storage.recover().unwrap();
        assert_eq!((recovered.current_epoch, recovered.current_epoch_from_tmp), (Some(2), true));
        assert_eq!(epoch::read_epoch(storage.disk(), epoch::CURRENT_EPOCH_FILE), Ok(Some(2)), "setCurrentEpoch(epochOfTmp)");
        assert_eq!(storage.disk().read("currentEpoch.tmp"), None);
        // Without the tmp copy ZooKeeper refuses to start; zksim keeps the older epoch (a stated
        // simplification, see `recovery`).
        storage.write_current_epoch(1);
        let recovered = storage.recover().unwrap();
        assert_eq!((recovered.current_epoch, recovered.current_epoch_from_tmp), (Some(1), false));
        // A tmp copy is ignored while the log is not ahead of currentEpoch.
        storage.write_current_epoch(2);
        epoch::write_epoch_tmp_only(storage.disk_mut(), epoch::CURRENT_EPOCH_FILE, 5);
        let recovered = storage.recover().unwrap();
        assert_eq!((recovered.current_epoch, recovered.current_epoch_from_tmp), (Some(2), false));
    }

    #[test]
    fn accepted_epoch_below_current_epoch_refuses_to_start() {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig::default());
        storage.write_accepted_epoch(3);
        storage.write_current_epoch(4);
        let err = storage.recover().unwrap_err();
        assert_eq!(err, StorageError::EpochOrder { accepted_epoch: 3, current_epoch: 4 });
        assert!(err.to_string().contains("less than the current epoch"));
        storage.write_accepted_epoch(4);
        let recovered = storage.recover().unwrap();
        assert_eq!((recovered.accepted_epoch, recovered.current_epoch), (Some(4), Some(4)));
    }
}
