//! A server's disk as a flat namespace of files, and [`MemDisk`], an in-memory disk that loses
//! every byte not yet fsynced when it crashes.
//!
//! Why: ZooKeeper's durability argument is "a follower acknowledges a proposal only after the
//! log holding it was fsynced". To test that argument the simulated disk must make the
//! difference between *written* (in the page cache, visible to reads) and *synced* (survives a
//! power failure) observable. Each file is modelled as its current content plus what is durable
//! (see [`MemDisk`]); a crash throws away everything written since the file's last `sync`,
//! except, optionally, a prefix of the unsynced appended bytes: a torn write.
//!
//! Metadata: a file that is only appended to exists durably (possibly empty) from its first
//! append; a file replaced with `write_file` and never synced disappears on a crash (or reverts
//! to its old content); `remove` is durable at once (a journaled unlink).
//!
//! Injected faults ([`DiskFaults`], set by the shell, never decided here): a *full* disk refuses
//! writes that need new space ([`Disk::is_full`]: appends, new files), and an *fsync error*
//! makes [`Disk::try_sync`] fail and leave the bytes unsynced (the page cache keeps them dirty;
//! a later successful fsync makes them durable — Linux may instead drop them, "fsyncgate", which
//! is not modelled). Bit rot and cut files are made with [`MemDisk::corrupt`] and
//! [`MemDisk::cut`] on a crashed disk.

use std::collections::BTreeMap;

/// A flat namespace of files, like one ZooKeeper data directory.
///
/// Writes are visible to `read` at once but durable only after `sync(name)`. The infallible
/// operations never fail; a caller that must see injected faults asks [`Disk::is_full`] before
/// writing and syncs with [`Disk::try_sync`] (both default to a healthy disk).
pub trait Disk {
    /// Appends to the end of `name`, creating it if absent. Not durable until synced.
    fn append(&mut self, name: &str, bytes: &[u8]);
    /// Replaces the whole content of `name`, creating it if absent. Not durable until synced.
    fn write_file(&mut self, name: &str, bytes: &[u8]);
    /// fsync: everything written so far to `name` becomes durable. No-op for a missing file.
    fn sync(&mut self, name: &str);
    /// The current content, synced or not (what the page cache shows).
    fn read(&self, name: &str) -> Option<Vec<u8>>;
    /// Cuts `name` to `len` bytes (no-op if shorter or missing). Not durable until synced.
    fn truncate(&mut self, name: &str, len: usize);
    /// Deletes `name`; durable at once. No-op for a missing file.
    fn remove(&mut self, name: &str);
    /// Every file name, sorted.
    fn list(&self) -> Vec<String>;
    /// The current length of `name` (default: via `read`).
    fn len(&self, name: &str) -> Option<usize> {
        self.read(name).map(|b| b.len())
    }
    /// Whether a write needing new space would fail now (ENOSPC). Default: never.
    fn is_full(&self) -> bool {
        false
    }
    /// fsync that may fail (EIO): on `Err` nothing became durable. Default: [`Disk::sync`].
    fn try_sync(&mut self, name: &str) -> Result<(), DiskIoError> {
        self.sync(name);
        Ok(())
    }
}

/// An fsync that returned an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskIoError {
    pub file: String,
}

/// Faults the shell injects into a [`MemDisk`]: they last until cleared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskFaults {
    /// Writes needing new space fail (`No space left on device`).
    pub full: bool,
    /// Every fsync fails (`Input/output error`) and leaves its bytes unsynced.
    pub fsync_fails: bool,
}

/// What survives of a file on a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Durable {
    /// The durable content is `content[..n]`; everything after it was appended since (the
    /// pending ops are appends only, possibly after a truncate that kept at least `n` bytes).
    Prefix(usize),
    /// A `write_file` or a shortening `truncate` is pending: the durable content is this copy
    /// (`None`: the file does not exist durably).
    Copy(Option<Vec<u8>>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct MemFile {
    content: Vec<u8>,
    durable: Durable,
}

impl MemFile {
    fn durable_content(&self) -> Option<Vec<u8>> {
        match &self.durable {
            Durable::Prefix(n) => Some(self.content[..*n].to_vec()),
            Durable::Copy(copy) => copy.clone(),
        }
    }

    /// Unsynced appended bytes a torn write could keep a prefix of.
    fn unsynced_append_len(&self) -> usize {
        match self.durable {
            Durable::Prefix(n) => self.content.len() - n,
            Durable::Copy(_) => 0,
        }
    }
}

/// How a crash tears the last unsynced append: keep this many bytes of the unsynced appended
/// bytes of the file that received the most recent append (clamped to what there is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornWrite {
    pub keep_bytes: usize,
}

/// What a crash did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashOutcome {
    /// Unsynced bytes lost, over all files (bytes of content that did not survive).
    pub lost_bytes: usize,
    /// Files that did not exist durably and vanished.
    pub vanished_files: Vec<String>,
    /// The torn file and how many of its unsynced bytes were kept, if a tear happened.
    pub torn: Option<(String, usize)>,
}

/// An in-memory [`Disk`] that can crash. Deterministic: the caller decides every tear.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemDisk {
    files: BTreeMap<String, MemFile>,
    /// The file that got the most recent unsynced append.
    last_append: Option<String>,
    /// Injected faults (none by default).
    pub faults: DiskFaults,
}

impl MemDisk {
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    /// The file a torn write would hit and how many unsynced appended bytes it has (> 0).
    /// A caller picks `TornWrite::keep_bytes` in `0..=len` from this.
    pub fn torn_write_candidate(&self) -> Option<(String, usize)> {
        let name = self.last_append.as_ref()?;
        let len = self.files.get(name)?.unsynced_append_len();
        (len > 0).then(|| (name.clone(), len))
    }

    /// Power failure: every file reverts to its durable content; with `torn`, the file of the
    /// most recent append keeps a prefix of its unsynced appended bytes.
    pub fn crash(&mut self, torn: Option<TornWrite>) -> CrashOutcome {
        let mut outcome = CrashOutcome::default();
        let torn_target = torn.and_then(|t| self.torn_write_candidate().map(|(name, len)| (name, t.keep_bytes.min(len))));
        let names: Vec<String> = self.files.keys().cloned().collect();
        for name in names {
            let file = self.files.get_mut(&name).expect("listed");
            let before = file.content.len();
            match std::mem::replace(&mut file.durable, Durable::Prefix(0)) {
                Durable::Prefix(n) => {
                    let keep = match &torn_target {
                        Some((torn_name, kept)) if *torn_name == name => n + kept,
                        _ => n,
                    };
                    file.content.truncate(keep);
                    outcome.lost_bytes += before - keep;
                }
                Durable::Copy(Some(copy)) => {
                    outcome.lost_bytes += before;
                    file.content = copy;
                }
                Durable::Copy(None) => {
                    outcome.lost_bytes += before;
                    outcome.vanished_files.push(name.clone());
                    self.files.remove(&name);
                    continue;
                }
            }
            file.durable = Durable::Prefix(file.content.len());
        }
        outcome.torn = torn_target.filter(|(_, kept)| *kept > 0);
        self.last_append = None;
        debug_assert_eq!(self.unsynced_bytes(), 0, "a crash leaves nothing unsynced");
        outcome
    }

    /// The content that would survive a crash now, per file.
    pub fn durable_files(&self) -> BTreeMap<String, Vec<u8>> {
        self.files.iter().filter_map(|(name, f)| f.durable_content().map(|c| (name.clone(), c))).collect()
    }

    /// The durable content of one file.
    pub fn durable(&self, name: &str) -> Option<Vec<u8>> {
        self.files.get(name).and_then(MemFile::durable_content)
    }

    /// Current content of every file (synced or not).
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.files.iter().map(|(name, f)| (name.clone(), f.content.clone())).collect()
    }

    /// Bytes a crash without a tear would lose now (0 when everything is synced).
    pub fn unsynced_bytes(&self) -> usize {
        self.files
            .values()
            .map(|f| match &f.durable {
                Durable::Prefix(n) => f.content.len() - n,
                Durable::Copy(_) => f.content.len(),
            })
            .sum()
    }

    /// Cuts `name` to `len` bytes, durably, bypassing the page cache: a file left short (a
    /// snapshot cut off by a crash while it was written). No-op if shorter or missing.
    pub fn cut(&mut self, name: &str, len: usize) {
        if let Some(file) = self.files.get_mut(name) {
            file.content.truncate(len);
            file.durable = Durable::Prefix(file.content.len());
        }
    }

    /// Empties the data directory (an operator's `rm -rf` of a damaged server's files).
    pub fn wipe(&mut self) {
        self.files.clear();
        self.last_append = None;
    }

    /// Overwrites bytes in place, durably, bypassing the page cache: a test's bit rot.
    pub fn corrupt(&mut self, name: &str, offset: usize, bytes: &[u8]) {
        if let Some(file) = self.files.get_mut(name) {
            let end = (offset + bytes.len()).min(file.content.len());
            if offset < end {
                file.content[offset..end].copy_from_slice(&bytes[..end - offset]);
            }
            file.durable = Durable::Prefix(file.content.len());
        }
    }

    fn file_mut(&mut self, name: &str) -> &mut MemFile {
        // The name is copied only for a new file (an append to the current log is the common case).
        if !self.files.contains_key(name) {
            self.files.insert(name.to_string(), MemFile { content: Vec::new(), durable: Durable::Prefix(0) });
        }
        self.files.get_mut(name).expect("present")
    }
}

impl Disk for MemDisk {
    fn append(&mut self, name: &str, bytes: &[u8]) {
        self.file_mut(name).content.extend_from_slice(bytes);
        if self.last_append.as_deref() != Some(name) {
            self.last_append = Some(name.to_string());
        }
    }

    fn write_file(&mut self, name: &str, bytes: &[u8]) {
        let durable_before = self.files.get(name).map(MemFile::durable_content);
        let file = self.file_mut(name);
        if let Durable::Prefix(_) = file.durable {
            file.durable = Durable::Copy(durable_before.flatten());
        }
        file.content = bytes.to_vec();
        if self.last_append.as_deref() == Some(name) {
            self.last_append = None;
        }
    }

    fn sync(&mut self, name: &str) {
        if let Some(file) = self.files.get_mut(name) {
            file.durable = Durable::Prefix(file.content.len());
        }
        if self.last_append.as_deref() == Some(name) {
            self.last_append = None;
        }
    }

    fn read(&self, name: &str) -> Option<Vec<u8>> {
        self.files.get(name).map(|f| f.content.clone())
    }

    fn len(&self, name: &str) -> Option<usize> {
        self.files.get(name).map(|f| f.content.len())
    }

    fn truncate(&mut self, name: &str, len: usize) {
        let Some(file) = self.files.get_mut(name) else { return };
        if len >= file.content.len() {
            return;
        }
        if let Durable::Prefix(n) = file.durable {
            if len < n {
                file.durable = Durable::Copy(Some(file.content[..n].to_vec()));
            }
        }
        file.content.truncate(len);
    }

    fn remove(&mut self, name: &str) {
        self.files.remove(name);
        if self.last_append.as_deref() == Some(name) {
            self.last_append = None;
        }
    }

    fn list(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    fn is_full(&self) -> bool {
        self.faults.full
    }

    fn try_sync(&mut self, name: &str) -> Result<(), DiskIoError> {
        if self.faults.fsync_fails {
            return Err(DiskIoError { file: name.to_string() });
        }
        self.sync(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_synced_bytes_and_drops_the_rest() {
        let mut disk = MemDisk::new();
        disk.append("log", b"abc");
        disk.sync("log");
        disk.append("log", b"def");
        assert_eq!(disk.read("log").unwrap(), b"abcdef", "reads see the page cache");
        assert_eq!(disk.durable("log").unwrap(), b"abc");
        let outcome = disk.crash(None);
        assert_eq!(outcome.lost_bytes, 3);
        assert_eq!(disk.read("log").unwrap(), b"abc");
    }

    #[test]
    fn torn_write_keeps_a_prefix_of_the_last_append_only() {
        let mut disk = MemDisk::new();
        disk.append("a", b"1111");
        disk.append("b", b"2222");
        assert_eq!(disk.torn_write_candidate(), Some(("b".to_string(), 4)));
        let outcome = disk.crash(Some(TornWrite { keep_bytes: 3 }));
        assert_eq!(outcome.torn, Some(("b".to_string(), 3)));
        assert_eq!(disk.read("a").unwrap(), b"");
        assert_eq!(disk.read("b").unwrap(), b"222");
        assert_eq!(disk.unsynced_bytes(), 0);
    }

    #[test]
    fn unsynced_write_file_vanishes_or_reverts() {
        let mut disk = MemDisk::new();
        disk.write_file("new", b"x");
        disk.write_file("old", b"v1");
        disk.sync("old");
        disk.write_file("old", b"v2");
        disk.truncate("old", 1);
        let outcome = disk.crash(Some(TornWrite { keep_bytes: 9 }));
        assert_eq!(outcome.vanished_files, vec!["new".to_string()]);
        assert_eq!(outcome.torn, None, "only appends tear");
        assert_eq!(disk.list(), vec!["old".to_string()]);
        assert_eq!(disk.read("old").unwrap(), b"v1");
    }

    #[test]
    fn unsynced_truncate_is_undone_by_a_crash() {
        let mut disk = MemDisk::new();
        disk.append("log", b"abcdef");
        disk.sync("log");
        disk.truncate("log", 2);
        disk.append("log", b"XY");
        assert_eq!(disk.read("log").unwrap(), b"abXY");
        disk.crash(None);
        assert_eq!(disk.read("log").unwrap(), b"abcdef");
        disk.truncate("log", 2);
        disk.sync("log");
        disk.crash(None);
        assert_eq!(disk.read("log").unwrap(), b"ab");
    }
}
