//! `acceptedEpoch` and `currentEpoch`: one decimal number each, as ZooKeeper writes them.
//!
//! Why: ZAB's discovery phase needs them to survive crashes — a peer that acked a NEWEPOCH
//! (`acceptedEpoch`) or a NEWLEADER (`currentEpoch`) must never go back. Written with
//! `write_file` + `sync` in one call, so a crash leaves either the old or the new value (the
//! effect of ZooKeeper's `AtomicFileOutputStream`).

use super::disk::Disk;
use super::error::StorageError;

pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";

pub fn write_epoch(disk: &mut dyn Disk, file: &str, epoch: i64) {
    disk.write_file(file, format!("{epoch}\n").as_bytes());
    disk.sync(file);
    debug_assert_eq!(read_epoch(disk, file), Ok(Some(epoch)));
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
