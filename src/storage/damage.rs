//! Damage to a stopped server's data directory, the way disks damage files: a bit flipped in an
//! already-synced transaction-log record or snapshot (bit rot), a snapshot file cut short.
//!
//! Why here, and why pure: what a fault may hit is a storage question (which records are synced,
//! which snapshot recovery will read), while *which* one is hit is the caller's seeded choice,
//! passed in as `choose(n) -> index < n`. No randomness, clock or I/O of its own.
//!
//! What is hit, and why (ZooKeeper 3.8 is the spec of what recovery then does, see `recovery`):
//! - a log bit flip hits the payload of a record *after the newest valid snapshot* — the records
//!   `FileTxnSnapLog.restore` replays, so ZooKeeper's CRC check reads it ("CRC check failed") and
//!   the server refuses to start; zksim's scan refuses too (`StorageError::CorruptLog`). A flip
//!   in a length field could instead look like a cut record, which both take for the end of the
//!   file; this module never makes one.
//! - a snapshot bit flip and a cut both hit the *newest valid* snapshot: ZooKeeper's
//!   `FileSnap.deserialize` skips it (a CRC failure is "problem reading snap file", a cut one
//!   fails `SnapStream.isValidSnapshot`) and loads the next older valid one; with none left it
//!   refuses to start. zksim's `newest_valid_snapshot` does the same.

use super::disk::{Disk, MemDisk};
use super::snap_files::{newest_valid_snapshot, snapshot_files};
use super::txn_log::{scan_log, RECORD_HEADER_BYTES};
use crate::proto::Zxid;

/// What was damaged, for the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    LogBitFlip { file: String, offset: usize, bit: u8, zxid: Zxid },
    SnapshotBitFlip { file: String, offset: usize, bit: u8 },
    SnapshotCut { file: String, from_len: usize, to_len: usize },
}

impl Damage {
    pub fn describe(&self) -> String {
        match self {
            Damage::LogBitFlip { file, offset, bit, zxid } => {
                format!("bit {bit} of byte {offset} of {file} flipped (the synced record of zxid {zxid:#x})")
            }
            Damage::SnapshotBitFlip { file, offset, bit } => format!("bit {bit} of byte {offset} of {file} flipped"),
            Damage::SnapshotCut { file, from_len, to_len } => format!("{file} cut from {from_len} to {to_len} bytes"),
        }
    }
}

/// Flips one bit in the payload of a synced log record after the newest valid snapshot; `None`
/// when there is no such record (nothing is damaged).
pub fn flip_log_bit(disk: &mut MemDisk, choose: &mut dyn FnMut(usize) -> usize) -> Option<Damage> {
    let after = newest_valid_snapshot(disk).0.map_or(Zxid::MIN, |(zxid, _, _)| zxid);
    let scan = scan_log(disk).ok()?;
    let records: Vec<_> = scan.records.iter().filter(|r| r.entry.header.zxid > after).collect();
    if records.is_empty() {
        return None;
    }
    let record = records[choose(records.len())];
    let file = scan.files[record.file_index].1.clone();
    let bytes = Disk::read(disk, &file)?;
    let len = u32::from_be_bytes(bytes[record.offset..record.offset + 4].try_into().ok()?) as usize;
    assert!(len > 0, "a decoded record has a payload");
    let offset = record.offset + RECORD_HEADER_BYTES + choose(len);
    let bit = choose(8) as u8;
    disk.corrupt(&file, offset, &[bytes[offset] ^ (1 << bit)]);
    Some(Damage::LogBitFlip { file, offset, bit, zxid: record.entry.header.zxid })
}

/// Flips one bit anywhere in the newest valid snapshot.
pub fn flip_snapshot_bit(disk: &mut MemDisk, choose: &mut dyn FnMut(usize) -> usize) -> Option<Damage> {
    let (_, _, file) = newest_valid_snapshot(disk).0?;
    let bytes = Disk::read(disk, &file)?;
    let offset = choose(bytes.len());
    let bit = choose(8) as u8;
    disk.corrupt(&file, offset, &[bytes[offset] ^ (1 << bit)]);
    Some(Damage::SnapshotBitFlip { file, offset, bit })
}

/// Cuts the newest valid snapshot to a random shorter length (possibly empty).
pub fn cut_snapshot(disk: &mut MemDisk, choose: &mut dyn FnMut(usize) -> usize) -> Option<Damage> {
    let (_, _, file) = newest_valid_snapshot(disk).0?;
    let from_len = Disk::read(disk, &file)?.len();
    let to_len = choose(from_len);
    disk.cut(&file, to_len);
    Some(Damage::SnapshotCut { file, from_len, to_len })
}

/// Snapshot files on the disk (any state), for reports.
pub fn snapshot_count(disk: &MemDisk) -> usize {
    snapshot_files(disk).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{recover, Storage, StorageConfig, StorageError};
    use crate::tree::snapshot::Snapshot;
    use crate::tree::{DataTree, Txn, TxnEntry, TxnHeader};

    fn entry(zxid: Zxid) -> TxnEntry {
        TxnEntry { header: TxnHeader { client_id: 1, cxid: 0, zxid, time_ms: 0 }, txn: Txn::SetData { path: "/a".into(), data: vec![7; 20], version: 0 } }
    }

    /// A data directory with snapshots at 2 and 4 and txns 1..=6, all synced.
    fn data_dir() -> MemDisk {
        let mut storage = Storage::new(MemDisk::new(), StorageConfig { txns_per_log_file: 2, snapshots_retained: 3 });
        storage.append_txns(&(1..=6).map(entry).collect::<Vec<_>>()).unwrap();
        let mut snapshot = Snapshot::of(&DataTree::new(), &[]);
        for zxid in [2, 4] {
            snapshot.last_zxid = zxid;
            storage.write_snapshot(zxid, &snapshot).unwrap();
        }
        storage.sync_log();
        let mut disk = storage.into_disk();
        disk.crash(None);
        disk
    }

    #[test]
    fn a_log_bit_flip_hits_a_replayed_record_and_recovery_refuses_to_start() {
        for pick in 0..4 {
            let mut disk = data_dir();
            let damage = flip_log_bit(&mut disk, &mut |n| pick % n).expect("records after snapshot 4");
            let Damage::LogBitFlip { file, zxid, .. } = &damage else { panic!("{damage:?}") };
            assert!(*zxid > 4, "only records the restore replays: {damage:?}");
            match recover(&mut disk) {
                Err(StorageError::CorruptLog { file: bad, reason, .. }) => {
                    assert_eq!(&bad, file);
                    assert!(reason.contains("CRC check failed"), "{reason}");
                }
                other => panic!("{}: expected a refusal, got {other:?}", damage.describe()),
            }
        }
    }

    #[test]
    fn a_damaged_newest_snapshot_falls_back_to_the_older_one_then_refuses() {
        for cut in [false, true] {
            let mut disk = data_dir();
            let mut choose = |n: usize| n / 3;
            let damage = if cut { cut_snapshot(&mut disk, &mut choose) } else { flip_snapshot_bit(&mut disk, &mut choose) }.unwrap();
            let recovered = recover(&mut disk).unwrap_or_else(|e| panic!("{}: {e}", damage.describe()));
            assert_eq!(recovered.snapshot.as_ref().unwrap().0, 2, "{}", damage.describe());
            assert_eq!(recovered.log.iter().map(|e| e.header.zxid).collect::<Vec<_>>(), vec![3, 4, 5, 6], "the log replays from the older one");
            let damage = if cut { cut_snapshot(&mut disk, &mut choose) } else { flip_snapshot_bit(&mut disk, &mut choose) }.unwrap();
            let err = recover(&mut disk).unwrap_err();
            assert!(matches!(err, StorageError::NoValidSnapshot { .. }), "{}: {err}", damage.describe());
            assert_eq!(snapshot_count(&disk), 2, "a failed start removes no file");
        }
    }
}
