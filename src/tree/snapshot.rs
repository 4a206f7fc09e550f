//! Snapshots of the data tree: a checksummed binary image, and the *fuzzy* snapshot ZooKeeper
//! takes while transactions keep being applied.
//!
//! Why: a server recovers from its newest valid snapshot plus the transaction log from the
//! snapshot's starting zxid. ZooKeeper never stops the world to snapshot: it walks the tree
//! while it changes, so the image mixes states; replaying the transactions from the zxid at
//! which the walk *started* repairs it, because transactions are idempotent. This module
//! reproduces that walk so tests can show: fuzzy snapshot + replay ≡ never having snapshotted.

use super::data_tree::{DataTree, NodeImage, StatPersisted};
use super::path::tree_key;
use crate::proto::{Acl, Id, SessionId, Zxid};

const MAGIC: &[u8; 4] = b"ZKSN";
const FORMAT_VERSION: u32 = 1;

/// A decoded snapshot: the zxid it is valid from, sessions, and nodes parent-first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub last_zxid: Zxid,
    /// (session id, timeout ms), sorted by id.
    pub sessions: Vec<(SessionId, i32)>,
    pub nodes: Vec<NodeImage>,
}

impl Snapshot {
    /// A consistent snapshot of a tree that is not changing.
    pub fn of(tree: &DataTree, sessions: &[(SessionId, i32)]) -> Snapshot {
        let mut walk = FuzzySnapshot::begin(tree, sessions);
        while !walk.step(tree, usize::MAX) {}
        walk.finish()
    }

    pub fn restore(&self) -> Result<DataTree, String> {
        DataTree::from_images(&self.nodes, self.last_zxid)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes.extend_from_slice(MAGIC);
        w.u32(FORMAT_VERSION);
        w.i64(self.last_zxid);
        w.u32(self.sessions.len() as u32);
        for (id, timeout) in &self.sessions {
            w.i64(*id);
            w.i32(*timeout);
        }
        w.u32(self.nodes.len() as u32);
        for node in &self.nodes {
            write_node(&mut w, node);
        }
        let crc = crc32fast::hash(&w.bytes);
        w.u32(crc);
        w.bytes
    }

    /// Decodes and verifies the checksum; any damage is an error, never a partial tree.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err("not a zksim snapshot (bad magic)".into());
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_be_bytes(tail.try_into().expect("4 bytes"));
        if crc32fast::hash(body) != stored {
            return Err("snapshot checksum mismatch".into());
        }
        let mut r = Reader { bytes: body, pos: 4 };
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(format!("unsupported snapshot format version {version}"));
        }
        let last_zxid = r.i64()?;
        let session_count = r.u32()? as usize;
        let mut sessions = Vec::with_capacity(session_count.min(1 << 20));
        for _ in 0..session_count {
            sessions.push((r.i64()?, r.i32()?));
        }
        let node_count = r.u32()? as usize;
        let mut nodes = Vec::with_capacity(node_count.min(1 << 20));
        for _ in 0..node_count {
            nodes.push(read_node(&mut r)?);
        }
        if r.pos != body.len() {
            return Err("trailing bytes after the last node".into());
        }
        Ok(Snapshot { last_zxid, sessions, nodes })
    }
}

/// A snapshot walk in progress over a tree that keeps changing between steps.
#[derive(Clone, Debug)]
pub struct FuzzySnapshot {
    start_zxid: Zxid,
    sessions: Vec<(SessionId, i32)>,
    pending: Vec<String>,
    nodes: Vec<NodeImage>,
}

impl FuzzySnapshot {
    /// Starts at the tree's last processed zxid: replay must begin just after it.
    pub fn begin(tree: &DataTree, sessions: &[(SessionId, i32)]) -> FuzzySnapshot {
        let mut sessions = sessions.to_vec();
        sessions.sort_unstable();
        FuzzySnapshot { start_zxid: tree.last_processed_zxid, sessions, pending: vec![String::new()], nodes: Vec::new() }
    }

    /// Serializes up to `max_nodes` more nodes, depth first, each with the children it has
    /// now. Returns true when the walk is complete.
    pub fn step(&mut self, tree: &DataTree, max_nodes: usize) -> bool {
        let mut done = 0;
        let mut children = Vec::new();
        while done < max_nodes {
            let Some(key) = self.pending.pop() else { return true };
            children.clear();
            let Some(image) = tree.snapshot_visit(key, &mut children) else { continue };
            children.sort_unstable_by(|a, b| b.cmp(a)); // popped in ascending order
            let key = tree_key(&image.path);
            self.pending.extend(children.iter().map(|c| format!("{key}/{c}")));
            self.nodes.push(image);
            done += 1;
        }
        self.pending.is_empty()
    }

    pub fn finish(self) -> Snapshot {
        assert!(self.pending.is_empty(), "finish() after the walk completes");
        Snapshot { last_zxid: self.start_zxid, sessions: self.sessions, nodes: self.nodes }
    }
}

fn write_node(w: &mut Writer, node: &NodeImage) {
    w.str(&node.path);
    w.blob(&node.data);
    w.u32(node.acl.len() as u32);
    for a in node.acl.iter() {
        w.u32(a.perms);
        w.str(&a.id.scheme);
        w.str(&a.id.id);
    }
    let s = &node.stat;
    for v in [s.czxid, s.mzxid, s.ctime, s.mtime, s.ephemeral_owner, s.pzxid] {
        w.i64(v);
    }
    for v in [s.version, s.cversion, s.aversion] {
        w.i32(v);
    }
}

fn read_node(r: &mut Reader) -> Result<NodeImage, String> {
    let path = r.str()?;
    let data = r.blob()?;
    let acl_count = r.u32()? as usize;
    let mut acl = Vec::with_capacity(acl_count.min(1024));
    for _ in 0..acl_count {
        let perms = r.u32()?;
        let scheme = r.str()?;
        let id = r.str()?;
        acl.push(Acl { perms, id: Id { scheme, id } });
    }
    let (czxid, mzxid, ctime, mtime, ephemeral_owner, pzxid) = (r.i64()?, r.i64()?, r.i64()?, r.i64()?, r.i64()?, r.i64()?);
    let (version, cversion, aversion) = (r.i32()?, r.i32()?, r.i32()?);
    let stat = StatPersisted { czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner, pzxid };
    Ok(NodeImage { path, data, acl: std::sync::Arc::new(acl), stat })
}

#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    fn blob(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.bytes.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.blob(s.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("snapshot truncated")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn blob(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String, String> {
        String::from_utf8(self.blob()?).map_err(|_| "snapshot has a non-UTF-8 path".to_string())
    }
}
