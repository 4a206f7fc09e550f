//! Snapshot files `snapshot.<hex zxid>`: [`Snapshot::encode`] bytes, written then synced. The
//! zxid in the name is the last processed zxid when the (fuzzy) snapshot *began*, so recovery
//! replays the log from just after it.
//!
//! Why the retention rule: recovery may have to fall back from a damaged newest snapshot to an
//! older one (`FileSnap.findNValidSnapshots`), so the log must still hold every txn after the
//! *oldest retained* snapshot. `PurgeTxnLog` therefore keeps the log files whose first zxid is
//! above that snapshot's zxid, plus the newest one at or below it (it may hold later txns too).

use super::disk::Disk;
use super::txn_log::{log_files, parse_hex_suffix};
use crate::proto::Zxid;
use crate::tree::snapshot::Snapshot;

pub const SNAPSHOT_PREFIX: &str = "snapshot.";

pub fn snapshot_file_name(zxid: Zxid) -> String {
    format!("{SNAPSHOT_PREFIX}{zxid:x}")
}

pub fn parse_snapshot_name(name: &str) -> Option<Zxid> {
    parse_hex_suffix(name, SNAPSHOT_PREFIX)
}

/// Snapshot files sorted by zxid, oldest first.
pub fn snapshot_files(disk: &dyn Disk) -> Vec<(Zxid, String)> {
    let mut files: Vec<(Zxid, String)> = disk.list().into_iter().filter_map(|n| parse_snapshot_name(&n).map(|z| (z, n))).collect();
    files.sort();
    files
}

/// Writes and syncs `snapshot.<last_zxid>`; returns the file name.
pub fn write_snapshot_file(disk: &mut dyn Disk, snapshot: &Snapshot) -> String {
    let name = snapshot_file_name(snapshot.last_zxid);
    disk.write_file(&name, &snapshot.encode());
    disk.sync(&name);
    debug_assert!(disk.read(&name).is_some_and(|b| Snapshot::decode(&b).is_ok()));
    name
}

/// The newest snapshot that decodes and whose content matches its name, and the newer ones
/// skipped with the reason. `Ok((None, _))` only when no snapshot file exists at all.
#[allow(clippy::type_complexity)]
pub fn newest_valid_snapshot(disk: &dyn Disk) -> (Option<(Zxid, Snapshot, String)>, Vec<(String, String)>) {
    let mut skipped = Vec::new();
    for (zxid, name) in snapshot_files(disk).into_iter().rev() {
        let Some(bytes) = disk.read(&name) else { continue };
        match Snapshot::decode(&bytes) {
            Ok(snapshot) if snapshot.last_zxid == zxid => return (Some((zxid, snapshot, name)), skipped),
            Ok(snapshot) => skipped.push((name, format!("holds zxid {:#x}, not the one in its name", snapshot.last_zxid))),
            Err(e) => skipped.push((name, e)),
        }
    }
    (None, skipped)
}

/// Keeps the newest `retain` snapshots (by name, like `PurgeTxnLog`) and the log files they
/// may need; removes the rest. Returns the removed file names.
pub fn purge(disk: &mut dyn Disk, retain: usize) -> Vec<String> {
    assert!(retain >= 1, "keep at least one snapshot");
    let snapshots = snapshot_files(disk);
    if snapshots.len() <= retain {
        return Vec::new();
    }
    let (old, kept) = snapshots.split_at(snapshots.len() - retain);
    let oldest_kept_zxid = kept[0].0;
    let mut removed: Vec<String> = old.iter().map(|(_, name)| name.clone()).collect();
    let logs = log_files(disk);
    // The newest log starting at or below the oldest kept snapshot may hold txns after it.
    let newest_at_or_below = logs.iter().rposition(|(first, _)| *first <= oldest_kept_zxid);
    if let Some(keep_from) = newest_at_or_below {
        removed.extend(logs[..keep_from].iter().map(|(_, name)| name.clone()));
    }
    for name in &removed {
        disk.remove(name);
    }
    debug_assert_eq!(snapshot_files(disk).len(), retain);
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::MemDisk;
    use crate::storage::txn_log::log_file_name;
    use crate::tree::DataTree;

    fn snapshot_at(zxid: Zxid) -> Snapshot {
        let mut s = Snapshot::of(&DataTree::new(), &[]);
        s.last_zxid = zxid;
        s
    }

    #[test]
    fn purge_keeps_newest_snapshots_and_the_logs_they_need() {
        let mut disk = MemDisk::new();
        for first in [1, 10, 20, 30, 40] {
            disk.append(&log_file_name(first), b"");
        }
        for zxid in [5, 15, 25, 35] {
            write_snapshot_file(&mut disk, &snapshot_at(zxid));
        }
        let removed = purge(&mut disk, 3);
        // Oldest kept snapshot 0x15: log.10 may hold 0x16.., so keep it; drop log.1.
        assert_eq!(removed, vec!["snapshot.5".to_string(), "log.1".to_string()]);
        assert_eq!(snapshot_files(&disk).len(), 3);
    }

    #[test]
    fn newest_invalid_snapshot_falls_back_to_an_older_one() {
        let mut disk = MemDisk::new();
        write_snapshot_file(&mut disk, &snapshot_at(7));
        let name = write_snapshot_file(&mut disk, &snapshot_at(9));
        disk.corrupt(&name, 20, b"\x55");
        let (found, skipped) = newest_valid_snapshot(&disk);
        assert_eq!(found.unwrap().0, 7);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].1.contains("checksum"), "{skipped:?}");
    }
}
