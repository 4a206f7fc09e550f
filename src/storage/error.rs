//! What can go wrong reading or writing a data directory. Every variant names the file and the
//! problem; bad bytes always end here, never in a panic.

use crate::proto::Zxid;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageError {
    /// A damaged record that is not the torn tail of the log: recovery refuses to drop it.
    CorruptLog { file: String, offset: usize, reason: String },
    /// Zxids in the log do not strictly increase.
    LogOutOfOrder { file: String, offset: usize, previous: Zxid, zxid: Zxid },
    /// An append whose zxid is not above the last logged one.
    AppendOutOfOrder { last_logged: Zxid, zxid: Zxid },
    /// Snapshots exist but none decodes (`FileSnap`: "Not able to find valid snapshots").
    NoValidSnapshot { problems: Vec<(String, String)> },
    /// `write_snapshot(zxid, s)` with `s.last_zxid != zxid`.
    SnapshotZxidMismatch { zxid: Zxid, snapshot_last_zxid: Zxid },
    /// An epoch file that is not a decimal integer.
    CorruptEpoch { file: String, reason: String },
    /// `acceptedEpoch < currentEpoch`: ZooKeeper refuses to start.
    EpochOrder { accepted_epoch: i64, current_epoch: i64 },
    /// The snapshot's node images do not form a tree.
    BadSnapshotTree { file: String, reason: String },
    /// A write needing new space failed: the disk is full (nothing of it was written, except a
    /// snapshot's partial file).
    DiskFull { file: String },
    /// An fsync returned an error; the bytes it should have made durable are not.
    FsyncFailed { file: String },
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::CorruptLog { file, offset, reason } => {
                write!(f, "{file}: corrupt transaction log record at byte {offset}: {reason} (not a torn tail; refusing to drop later records)")
            }
            StorageError::LogOutOfOrder { file, offset, previous, zxid } => {
                write!(f, "{file}: record at byte {offset} has zxid {zxid:#x}, not above the previous {previous:#x}")
            }
            StorageError::AppendOutOfOrder { last_logged, zxid } => {
                write!(f, "append of zxid {zxid:#x} after zxid {last_logged:#x}: the log must grow in zxid order")
            }
            StorageError::NoValidSnapshot { problems } => {
                write!(f, "no valid snapshot found:")?;
                for (file, problem) in problems {
                    write!(f, " {file}: {problem};")?;
                }
                Ok(())
            }
            StorageError::SnapshotZxidMismatch { zxid, snapshot_last_zxid } => {
                write!(f, "snapshot named for zxid {zxid:#x} but taken from zxid {snapshot_last_zxid:#x}")
            }
            StorageError::CorruptEpoch { file, reason } => write!(f, "{file}: {reason}"),
            StorageError::EpochOrder { accepted_epoch, current_epoch } => {
                write!(f, "The accepted epoch, {accepted_epoch} is less than the current epoch, {current_epoch}")
            }
            StorageError::BadSnapshotTree { file, reason } => write!(f, "{file}: snapshot does not restore: {reason}"),
            StorageError::DiskFull { file } => write!(f, "{file}: No space left on device"),
            StorageError::FsyncFailed { file } => write!(f, "{file}: fsync failed: Input/output error"),
        }
    }
}

impl std::error::Error for StorageError {}
