//! The transaction log: files `log.<hex zxid of their first txn>` (ZooKeeper's names, hex
//! without padding), each a 16-byte file header then records
//! `[u32 length][u32 crc32 of payload][payload]`, payload = [`codec`](super::codec) bytes of one
//! [`TxnEntry`].
//!
//! Why the tail rule: a crash can leave the last record of the last file half written (a torn
//! write) or as garbage. Such a record was never fsynced, so never acknowledged: recovery cuts it
//! away and never applies it. A damaged record anywhere else — inside an earlier file, or
//! followed by more bytes — means lost acknowledged data, and recovery must fail loudly rather
//! than silently drop everything after it. A record counts as *the torn tail* when it is in the
//! last non-empty log file, runs past the end of the file (short header, short payload), and no
//! valid record starts anywhere after it. A whole record whose checksum does not match (or whose
//! payload does not decode) is never a torn tail, wherever it is: a crash keeps a *prefix* of the
//! unsynced bytes, so only bit rot makes a complete record wrong. ZooKeeper agrees:
//! `FileTxnIterator.next` treats a record cut short (EOF, or a missing end-of-record byte) as the
//! end of the file, but a complete record with a bad CRC throws "CRC check failed", and
//! `QuorumPeer.loadDataBase` refuses to start ("Unable to load database on disk").

use super::codec;
use super::disk::Disk;
use super::error::StorageError;
use crate::proto::Zxid;
use crate::tree::TxnEntry;

pub const LOG_PREFIX: &str = "log.";
/// `FileHeader`: magic "ZKLG", version 2, dbid 0 (as ZooKeeper writes it).
pub const FILE_HEADER: [u8; 16] = *b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0";
/// Bytes before a record's payload: length and checksum.
pub const RECORD_HEADER_BYTES: usize = 8;
/// A record longer than this is damage, not data (ZooKeeper's `jute.maxbuffer` is ~1 MiB; a
/// multi of large creates stays well below this).
pub const RECORD_BYTES_MAX: usize = 64 << 20;

pub fn log_file_name(first_zxid: Zxid) -> String {
    format!("{LOG_PREFIX}{first_zxid:x}")
}

/// The first zxid named by a log file name, if it is one.
pub fn parse_log_name(name: &str) -> Option<Zxid> {
    parse_hex_suffix(name, LOG_PREFIX)
}

pub(crate) fn parse_hex_suffix(name: &str, prefix: &str) -> Option<Zxid> {
    let hex = name.strip_prefix(prefix)?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
}

/// Log files sorted by first zxid.
pub fn log_files(disk: &dyn Disk) -> Vec<(Zxid, String)> {
    let mut files: Vec<(Zxid, String)> = disk.list().into_iter().filter_map(|n| parse_log_name(&n).map(|z| (z, n))).collect();
    files.sort();
    files
}

/// Appends one record for `entry` to `out`.
pub fn encode_record(entry: &TxnEntry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
    codec::encode_entry(entry, out);
    let payload_len = out.len() - start - RECORD_HEADER_BYTES;
    assert!(payload_len <= RECORD_BYTES_MAX, "transaction of {payload_len} bytes exceeds the record limit");
    let crc = crc32fast::hash(&out[start + RECORD_HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

/// One decoded record and where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub entry: TxnEntry,
    /// Index into [`LogScan::files`].
    pub file_index: usize,
    pub offset: usize,
}

/// The damaged tail found (and, on recovery, cut away).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailDamage {
    pub file: String,
    pub offset: usize,
    /// Bytes from `offset` to the end of the file.
    pub bytes: usize,
    pub reason: String,
}

/// Every valid record of every log file, in zxid order, plus the torn tail if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogScan {
    pub files: Vec<(Zxid, String)>,
    pub records: Vec<LogRecord>,
    pub tail: Option<TailDamage>,
}

struct Damage {
    offset: usize,
    reason: String,
    tail_shaped: bool,
}

/// Decodes one file's records, stopping at the first damage. Damage that looks like a torn
/// tail but is followed by a valid record (say, a length field hit by bit rot) is corruption.
fn scan_file(bytes: &[u8], file_index: usize, records: &mut Vec<LogRecord>) -> Option<Damage> {
    let mut damage = scan_file_until_damage(bytes, file_index, records)?;
    if damage.tail_shaped {
        if let Some(later) = first_valid_record_from(bytes, damage.offset + 1) {
            damage.tail_shaped = false;
            damage.reason = format!("{}; a valid record follows at byte {later}", damage.reason);
        }
    }
    Some(damage)
}

/// The first offset at or after `from` where a whole, checksummed, decodable record starts.
fn first_valid_record_from(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(RECORD_HEADER_BYTES - 1)).find(|&pos| {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let Some(end) = (pos + RECORD_HEADER_BYTES).checked_add(len).filter(|&e| e <= bytes.len()) else { return false };
        let crc = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
        let payload = &bytes[pos + RECORD_HEADER_BYTES..end];
        crc32fast::hash(payload) == crc && codec::decode_entry(payload).is_ok()
    })
}

fn scan_file_until_damage(bytes: &[u8], file_index: usize, records: &mut Vec<LogRecord>) -> Option<Damage> {
    if bytes.is_empty() {
        return None;
    }
    if bytes.len() < FILE_HEADER.len() {
        return Some(Damage { offset: 0, reason: format!("file header cut short at {} bytes", bytes.len()), tail_shaped: true });
    }
    if bytes[..FILE_HEADER.len()] != FILE_HEADER {
        return Some(Damage { offset: 0, reason: "bad file header (not a zksim transaction log)".into(), tail_shaped: false });
    }
    let mut pos = FILE_HEADER.len();
    while pos < bytes.len() {
        let remaining = bytes.len() - pos;
        if remaining < RECORD_HEADER_BYTES {
            return Some(Damage { offset: pos, reason: format!("record header cut short at {remaining} bytes"), tail_shaped: true });
        }
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
        if len > RECORD_BYTES_MAX {
            let runs_past_end = len > remaining - RECORD_HEADER_BYTES;
            return Some(Damage { offset: pos, reason: format!("record length {len} exceeds the limit"), tail_shaped: runs_past_end });
        }
        if len > remaining - RECORD_HEADER_BYTES {
            let have = remaining - RECORD_HEADER_BYTES;
            return Some(Damage { offset: pos, reason: format!("record of {len} bytes cut short at {have} bytes"), tail_shaped: true });
        }
        let end = pos + RECORD_HEADER_BYTES + len;
        let payload = &bytes[pos + RECORD_HEADER_BYTES..end];
        let at_end = end == bytes.len();
        if crc32fast::hash(payload) != crc {
            let reason = if at_end { "CRC check failed (a whole record: bit rot, not a torn write)" } else { "CRC check failed" };
            return Some(Damage { offset: pos, reason: reason.into(), tail_shaped: false });
        }
        match codec::decode_entry(payload) {
            Ok(entry) => records.push(LogRecord { entry, file_index, offset: pos }),
            Err(e) => return Some(Damage { offset: pos, reason: format!("undecodable record: {e}"), tail_shaped: false }),
        }
        pos = end;
    }
    None
}

/// Reads every log file. A torn tail is reported in [`LogScan::tail`]; any other damage, or
/// zxids that do not strictly increase, is an error.
pub fn scan_log(disk: &dyn Disk) -> Result<LogScan, StorageError> {
    let files = log_files(disk);
    let contents: Vec<Vec<u8>> = files.iter().map(|(_, name)| disk.read(name).unwrap_or_default()).collect();
    let last_non_empty = contents.iter().rposition(|c| !c.is_empty());
    let mut scan = LogScan { files, records: Vec::new(), tail: None };
    for (index, bytes) in contents.iter().enumerate() {
        let first_new = scan.records.len();
        let damage = scan_file(bytes, index, &mut scan.records);
        let name = &scan.files[index].1;
        // Order: strictly increasing across all files.
        for i in first_new..scan.records.len() {
            let zxid = scan.records[i].entry.header.zxid;
            if let Some(previous) = i.checked_sub(1).map(|p| scan.records[p].entry.header.zxid) {
                if zxid <= previous {
                    return Err(StorageError::LogOutOfOrder { file: name.clone(), offset: scan.records[i].offset, previous, zxid });
                }
            }
        }
        if let Some(damage) = damage {
            if damage.tail_shaped && Some(index) == last_non_empty {
                scan.tail = Some(TailDamage { file: name.clone(), offset: damage.offset, bytes: bytes.len() - damage.offset, reason: damage.reason });
            } else {
                return Err(StorageError::CorruptLog { file: name.clone(), offset: damage.offset, reason: damage.reason });
            }
        }
    }
    debug_assert!(scan.records.windows(2).all(|w| w[0].entry.header.zxid < w[1].entry.header.zxid));
    Ok(scan)
}

/// Cuts `name` at `offset` durably; a file cut to nothing (or to less than its header) is
/// removed.
pub(crate) fn cut_file(disk: &mut dyn Disk, name: &str, offset: usize) {
    if offset < FILE_HEADER.len() {
        disk.remove(name);
    } else {
        disk.truncate(name, offset);
        disk.sync(name);
    }
}

/// Truncates the log so that no txn with zxid > `zxid` remains (ZooKeeper's
/// `FileTxnLog.truncate`): later files are removed, the file holding the boundary is cut, and a
/// torn tail is cut too. Durable when it returns. Returns the bytes removed.
pub fn truncate_log(disk: &mut dyn Disk, zxid: Zxid) -> Result<usize, StorageError> {
    let scan = scan_log(disk)?;
    let mut removed = 0;
    for (index, (first_zxid, name)) in scan.files.iter().enumerate() {
        let len = disk.len(name).unwrap_or(0);
        let first_after = scan.records.iter().find(|r| r.file_index == index && r.entry.header.zxid > zxid).map(|r| r.offset);
        let tail = scan.tail.as_ref().filter(|t| t.file == *name).map(|t| t.offset);
        let cut = if *first_zxid > zxid { Some(0) } else { first_after.or(tail) };
        if let Some(offset) = cut {
            removed += len - offset.min(len);
            cut_file(disk, name, offset);
        }
    }
    debug_assert!(scan_log(disk).is_ok_and(|s| s.tail.is_none() && s.records.iter().all(|r| r.entry.header.zxid <= zxid)));
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::MemDisk;
    use crate::tree::{Txn, TxnHeader};

    fn entry(zxid: Zxid) -> TxnEntry {
        TxnEntry { header: TxnHeader { client_id: 1, cxid: zxid as i32, zxid, time_ms: 0 }, txn: Txn::SetData { path: "/a".into(), data: vec![zxid as u8; 10], version: zxid as i32 } }
    }

    fn write(disk: &mut MemDisk, first: Zxid, zxids: std::ops::Range<i64>) -> Vec<usize> {
        let name = log_file_name(first);
        let mut bytes = FILE_HEADER.to_vec();
        let mut offsets = Vec::new();
        for z in zxids {
            offsets.push(bytes.len());
            encode_record(&entry(z), &mut bytes);
        }
        disk.append(&name, &bytes);
        disk.sync(&name);
        offsets
    }

    #[test]
    fn names_round_trip_and_sort_numerically() {
        assert_eq!(log_file_name(0x1_0000_0001), "log.100000001");
        assert_eq!(parse_log_name("log.100000001"), Some(0x1_0000_0001));
        assert_eq!(parse_log_name("log."), None);
        assert_eq!(parse_log_name("log.xyz"), None);
        let mut disk = MemDisk::new();
        write(&mut disk, 0x10, 0x10..0x12);
        write(&mut disk, 0x9, 0x9..0xa);
        assert_eq!(log_files(&disk).iter().map(|f| f.0).collect::<Vec<_>>(), vec![0x9, 0x10]);
    }

    #[test]
    fn short_tail_is_reported_not_an_error_but_middle_damage_is() {
        let mut disk = MemDisk::new();
        write(&mut disk, 1, 1..4);
        let name = log_file_name(1);
        let full = disk.read(&name).unwrap();
        disk.truncate(&name, full.len() - 3);
        let scan = scan_log(&disk).unwrap();
        assert_eq!(scan.records.len(), 2);
        assert!(scan.tail.as_ref().unwrap().reason.contains("cut short"));

        // Damage in the first record of a file followed by more records: an error.
        let mut disk = MemDisk::new();
        let offsets = write(&mut disk, 1, 1..4);
        disk.corrupt(&name, offsets[1] + 12, b"\xff");
        let err = scan_log(&disk).unwrap_err();
        assert!(matches!(&err, StorageError::CorruptLog { offset, .. } if *offset == offsets[1]), "{err}");
        assert!(err.to_string().contains("log.1"));
    }

    #[test]
    fn a_bit_flip_in_the_very_last_record_is_corruption_not_a_torn_tail() {
        let mut disk = MemDisk::new();
        let offsets = write(&mut disk, 1, 1..4);
        let name = log_file_name(1);
        let payload_byte = offsets[2] + RECORD_HEADER_BYTES + 5;
        let old = disk.read(&name).unwrap()[payload_byte];
        disk.corrupt(&name, payload_byte, &[old ^ 0x04]);
        let err = scan_log(&disk).unwrap_err();
        assert!(matches!(&err, StorageError::CorruptLog { offset, .. } if *offset == offsets[2]), "{err}");
        assert!(err.to_string().contains("CRC check failed"), "{err}");
    }

    #[test]
    fn a_bad_length_followed_by_valid_records_is_corruption_not_a_torn_tail() {
        let mut disk = MemDisk::new();
        let offsets = write(&mut disk, 1, 1..4);
        disk.corrupt(&log_file_name(1), offsets[1], &u32::MAX.to_be_bytes());
        let err = scan_log(&disk).unwrap_err();
        assert!(err.to_string().contains("valid record follows"), "{err}");
    }

    #[test]
    fn damage_in_an_earlier_file_is_an_error_even_at_its_end() {
        let mut disk = MemDisk::new();
        let offsets = write(&mut disk, 1, 1..3);
        write(&mut disk, 3, 3..5);
        disk.corrupt(&log_file_name(1), offsets[1] + 20, b"\x00\x01");
        assert!(matches!(scan_log(&disk), Err(StorageError::CorruptLog { .. })));
    }

    #[test]
    fn truncate_removes_later_files_and_cuts_the_boundary_file() {
        let mut disk = MemDisk::new();
        write(&mut disk, 1, 1..4);
        write(&mut disk, 4, 4..7);
        write(&mut disk, 7, 7..9);
        truncate_log(&mut disk, 5).unwrap();
        assert_eq!(disk.list(), vec!["log.1".to_string(), "log.4".to_string()]);
        let zxids: Vec<Zxid> = scan_log(&disk).unwrap().records.iter().map(|r| r.entry.header.zxid).collect();
        assert_eq!(zxids, vec![1, 2, 3, 4, 5]);
        disk.crash(None);
        assert_eq!(scan_log(&disk).unwrap().records.len(), 5, "truncation is durable");
    }
}
