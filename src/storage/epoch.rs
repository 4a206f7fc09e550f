//! `acceptedEpoch` and `currentEpoch`: one decimal number each, as ZooKeeper writes them.
//!
//! Why: ZAB's discovery phase needs them to survive crashes — a peer that acked a NEWEPOCH
//! (`acceptedEpoch`) or a NEWLEADER (`currentEpoch`) must never go back. Written with
//! `write_file` + `sync` in one call, so a crash leaves either the old or the new value (the
//! effect of ZooKeeper's `AtomicFileOutputStream`).
//!
//! `AtomicFileOutputStream` writes `<name>.tmp`, fsyncs it, then renames it over `<name>`. A
//! crash between the fsync and the rename leaves the old `<name>` and a durable `<name>.tmp`
//! ([`write_epoch_tmp_only`] makes that state); `QuorumPeer.loadDataBase` reads the tmp copy only
//! when the log is ahead of `currentEpoch` (see `recovery`). A completed write renames the tmp
//! away, so [`write_epoch`] removes a stale one. On a full disk the tmp cannot be created and an
//! fsync error aborts it ([`try_write_epoch`]): the old value stays and the caller hears of it.

use super::disk::Disk;
use super::error::StorageError;

pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";

/// `AtomicFileOutputStream.TMP_EXTENSION`.
pub const TMP_EXTENSION: &str = ".tmp";

pub fn tmp_name(file: &str) -> String {
    format!("{file}{TMP_EXTENSION}")
}

pub fn write_epoch(disk: &mut dyn Disk, file: &str, epoch: i64) {
    disk.write_file(file, format!("{epoch}\n").as_bytes());
    disk.sync(file);
    disk.remove(&tmp_name(file));
    debug_assert_eq!(read_epoch(disk, file), Ok(Some(epoch)));
}

/// [`write_epoch`] on a disk that may be full or fail its fsyncs: on `Err` the file keeps its
/// old value (the tmp copy is abandoned, as `AtomicFileOutputStream.abort` does).
pub fn try_write_epoch(disk: &mut dyn Disk, file: &str, epoch: i64) -> Result<(), StorageError> {
    let tmp = tmp_name(file);
    if disk.is_full() {
        return Err(StorageError::DiskFull { file: tmp });
    }
    disk.write_file(&tmp, format!("{epoch}\n").as_bytes());
    if let Err(e) = disk.try_sync(&tmp) {
        disk.remove(&tmp);
        return Err(StorageError::FsyncFailed { file: e.file });
    }
    write_epoch(disk, file, epoch);
    Ok(())
}

/// The first half of an atomic epoch write: `<file>.tmp` written and fsynced, `<file>` not yet
/// replaced. What a crash between the two leaves behind.
pub fn write_epoch_tmp_only(disk: &mut dyn Disk, file: &str, epoch: i64) {
    let tmp = tmp_name(file);
    disk.write_file(&tmp, format!("{epoch}\n").as_bytes());
    disk.sync(&tmp);
}

/// `None` if the file does not exist.
pub fn read_epoch(disk: &dyn Disk, file: &str) -> Result<Option<i64>, StorageError> {
    let Some(bytes) = disk.read(file) else { return Ok(None) };
    let text = std::str::from_utf8(&bytes).map_err(|_| StorageError::CorruptEpoch { file: file.into(), reason: "not text".into() })?;
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|_| StorageError::CorruptEpoch { file: file.into(), reason: format!("not a decimal epoch: {:?}", text.trim()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::MemDisk;

    #[test]
    fn a_crash_before_the_rename_keeps_the_old_value_and_a_durable_tmp() {
        let mut disk = MemDisk::new();
        write_epoch(&mut disk, CURRENT_EPOCH_FILE, 3);
        write_epoch_tmp_only(&mut disk, CURRENT_EPOCH_FILE, 4);
        disk.crash(None);
        assert_eq!(read_epoch(&disk, CURRENT_EPOCH_FILE), Ok(Some(3)));
        assert_eq!(read_epoch(&disk, &tmp_name(CURRENT_EPOCH_FILE)), Ok(Some(4)));
        write_epoch(&mut disk, CURRENT_EPOCH_FILE, 5);
        assert_eq!(disk.read(&tmp_name(CURRENT_EPOCH_FILE)), None, "a completed write renames the tmp away");
    }

    #[test]
    fn a_full_disk_or_a_failed_fsync_keeps_the_old_epoch() {
        let mut disk = MemDisk::new();
        write_epoch(&mut disk, ACCEPTED_EPOCH_FILE, 2);
        disk.faults.full = true;
        assert!(matches!(try_write_epoch(&mut disk, ACCEPTED_EPOCH_FILE, 3), Err(StorageError::DiskFull { .. })));
        disk.faults = Default::default();
        disk.faults.fsync_fails = true;
        assert!(matches!(try_write_epoch(&mut disk, ACCEPTED_EPOCH_FILE, 3), Err(StorageError::FsyncFailed { .. })));
        assert_eq!(disk.list(), vec![ACCEPTED_EPOCH_FILE.to_string()], "the tmp copy is abandoned");
        disk.crash(None);
        assert_eq!(read_epoch(&disk, ACCEPTED_EPOCH_FILE), Ok(Some(2)));
        disk.faults = Default::default();
        try_write_epoch(&mut disk, ACCEPTED_EPOCH_FILE, 3).unwrap();
        assert_eq!(read_epoch(&disk, ACCEPTED_EPOCH_FILE), Ok(Some(3)));
    }

    #[test]
    fn epochs_round_trip_and_garbage_is_named() {
        let mut disk = MemDisk::new();
        assert_eq!(read_epoch(&disk, CURRENT_EPOCH_FILE), Ok(None));
        write_epoch(&mut disk, CURRENT_EPOCH_FILE, 42);
        assert_eq!(disk.read(CURRENT_EPOCH_FILE).unwrap(), b"42\n");
        disk.crash(None);
        assert_eq!(read_epoch(&disk, CURRENT_EPOCH_FILE), Ok(Some(42)));
        disk.write_file(ACCEPTED_EPOCH_FILE, b"4x");
        let err = read_epoch(&disk, ACCEPTED_EPOCH_FILE).unwrap_err();
        assert!(err.to_string().contains("acceptedEpoch"), "{err}");
    }
}
