//! The replicated data tree (`DataTree` / `DataNode`): znodes, stats, ACLs, ephemerals,
//! containers and TTL nodes, the watch managers, and the order-independent tree digest.
//!
//! Why: this is the state machine every replica applies transactions to, and the part whose
//! exact semantics clients observe. It does no I/O and has no clock: times come in transaction
//! headers. Everything here is deterministic: hash maps use a fixed hasher and nothing that
//! leaves this module depends on their iteration order, except where ZooKeeper's own Java
//! hash-set order is reproduced on purpose (children, a session's ephemerals).
//!
//! Stat rules (ZooKeeper 3.8, `DataNode.copyStat`): the stored `cversion` counts child
//! *creations*; the reported one is `2 * stored - numChildren`, i.e. creates plus deletes.
//! `pzxid` only moves forward; `mzxid`/`mtime` change on create and setData only.

use std::collections::hash_map::Entry;
use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::java_hash_set::JavaHashSet;
use super::path::{child_name, parent_key, tree_key, watch_path};
use super::txn::{Txn, TxnHeader};
use super::watch::{Notification, WatchManager, WatcherId, WatcherMode};
use crate::proto::ephemeral_type::{self, EphemeralType};
use crate::proto::{Acl, AddWatchMode, Code, EventType, SessionId, Stat, WatchedEvent, WatcherType, Zxid};

/// `StatPersisted`: what a node stores; `cversion` is the child-creation counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatPersisted {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: Zxid,
}

impl StatPersisted {
    pub fn created(zxid: Zxid, time_ms: i64, ephemeral_owner: i64) -> StatPersisted {
        assert!(zxid >= 0, "a node is created by a transaction, zxid {zxid}");
        StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DataNode {
    pub data: Vec<u8>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
    children: Option<Box<JavaHashSet>>,
    /// This node's share of the tree digest (0 for the /zookeeper/ subtree).
    digest: u64,
}

/// Initial capacity of a node's children set (`new HashSet<String>(8)` in `DataNode`).
const CHILDREN_INITIAL_CAPACITY: usize = 8;
/// `new HashSet<String>()` for a session's ephemerals.
const EPHEMERALS_INITIAL_CAPACITY: usize = 16;

impl DataNode {
    fn new(data: Vec<u8>, acl: Arc<Vec<Acl>>, stat: StatPersisted) -> DataNode {
        assert!(stat.cversion >= 0, "a node's child-creation counter is never negative");
        DataNode { data, acl, stat, children: None, digest: 0 }
    }

    pub fn num_children(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }

    /// Children in ZooKeeper's (Java hash-set) order.
    pub fn children(&self) -> Vec<String> {
        let children: Vec<String> = self.children.as_ref().map_or_else(Vec::new, |c| c.iter_order().into_iter().map(String::from).collect());
        assert_eq!(children.len(), self.num_children(), "the listing holds every child once");
        children
    }

    fn add_child(&mut self, name: &str) -> bool {
        assert!(!name.is_empty() && !name.contains('/'), "a child name is one path segment, not {name:?}");
        self.children.get_or_insert_with(|| Box::new(JavaHashSet::with_capacity(CHILDREN_INITIAL_CAPACITY))).insert(name)
    }

    fn remove_child(&mut self, name: &str) -> bool {
        assert!(!name.is_empty() && !name.contains('/'), "a child name is one path segment, not {name:?}");
        self.children.as_mut().is_some_and(|c| c.remove(name))
    }

    /// The stat a client sees.
    pub fn copy_stat(&self) -> Stat {
        let num_children = i32::try_from(self.num_children()).expect("a child count fits ZooKeeper's int");
        assert!(self.stat.cversion >= 0, "child counts are never negative");
        let owner = self.stat.ephemeral_owner;
        Stat {
            czxid: self.stat.czxid,
            mzxid: self.stat.mzxid,
            ctime: self.stat.ctime,
            mtime: self.stat.mtime,
            version: self.stat.version,
            cversion: self.stat.cversion * 2 - num_children,
            aversion: self.stat.aversion,
            ephemeral_owner: if ephemeral_type::get(owner) == EphemeralType::Normal { owner } else { 0 },
            data_length: self.data.len() as i32,
            num_children,
            pzxid: self.stat.pzxid,
        }
    }
}

/// A node's snapshot image under tree key `key` (the image's path: `/` for the root).
fn image_of(key: String, node: &DataNode) -> NodeImage {
    assert!(!node.acl.is_empty(), "a node always has an ACL");
    NodeImage { path: if key.is_empty() { "/".to_string() } else { key }, data: node.data.clone(), acl: Arc::clone(&node.acl), stat: node.stat }
}

/// `DigestCalculator.calculateDigest` (digest version 2): CRC32 of the path, the data and the
/// persisted stat fields; nodes under `/zookeeper/` do not count.
fn node_digest(key: &str, data: &[u8], stat: &StatPersisted) -> u64 {
    assert!(key.is_empty() || key.starts_with('/'), "tree keys are absolute paths, not {key:?}");
    if key.starts_with("/zookeeper/") {
        return 0;
    }
    let mut b = [0u8; 60];
    b[0..8].copy_from_slice(&stat.czxid.to_be_bytes());
    b[8..16].copy_from_slice(&stat.mzxid.to_be_bytes());
    b[16..24].copy_from_slice(&stat.pzxid.to_be_bytes());
    b[24..32].copy_from_slice(&stat.ctime.to_be_bytes());
    b[32..40].copy_from_slice(&stat.mtime.to_be_bytes());
    b[40..44].copy_from_slice(&stat.version.to_be_bytes());
    b[44..48].copy_from_slice(&stat.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&stat.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&stat.ephemeral_owner.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(key.as_bytes());
    crc.update(data);
    crc.update(&b);
    crc.finalize() as u64
}

/// What applying one transaction did (`ProcessTxnResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessTxnResult {
    pub zxid: Zxid,
    pub err: Code,
    /// The transaction type applied (`error` for a failed op).
    pub kind: &'static str,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi_result: Vec<ProcessTxnResult>,
}

impl ProcessTxnResult {
    fn new(zxid: Zxid, kind: &'static str) -> ProcessTxnResult {
        assert!(zxid >= 0, "a transaction has a zxid");
        ProcessTxnResult { zxid, err: Code::Ok, kind, path: String::new(), stat: None, multi_result: Vec::new() }
    }
}

/// A serializable image of one node, used by snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeImage {
    pub path: String,
    pub data: Vec<u8>,
    /// The tree's interned list, shared (a snapshot copied two strings per node otherwise).
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
}

#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: FxHashMap<String, DataNode>,
    ephemerals: FxHashMap<SessionId, JavaHashSet>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    data_watches: WatchManager,
    child_watches: WatchManager,
    acl_cache: FxHashMap<Vec<Acl>, Arc<Vec<Acl>>>,
    digest: u64,
    pub last_processed_zxid: Zxid,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// No nodes at all: the start of `new` and of a snapshot restore.
    fn empty(last_processed_zxid: Zxid) -> DataTree {
        assert!(last_processed_zxid >= 0, "a tree starts at a zxid");
        DataTree {
            nodes: FxHashMap::default(),
            ephemerals: FxHashMap::default(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_watches: WatchManager::default(),
            child_watches: WatchManager::default(),
            acl_cache: FxHashMap::default(),
            digest: 0,
            last_processed_zxid,
        }
    }

    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, and the read-only
    /// `/zookeeper/config` (aversion -1, as `addConfigNode` leaves it).
    pub fn new() -> DataTree {
        let mut tree = DataTree::empty(0);
        let open = tree.intern_acl(&Acl::open_unsafe());
        tree.insert_node(String::new(), DataNode::new(Vec::new(), open.clone(), StatPersisted::default()));
        tree.link_system_child("", "zookeeper", open.clone());
        tree.link_system_child("/zookeeper", "quota", open);
        let read_only = tree.intern_acl(&Acl::read_unsafe());
        tree.link_system_child("/zookeeper", "config", read_only);
        tree.with_node_mut("/zookeeper/config", |n| n.stat.aversion = -1);
        assert_eq!(tree.node_count(), 4, "/, /zookeeper, /zookeeper/quota, /zookeeper/config");
        tree
    }

    /// System nodes are linked without touching the parent's counters, as the Java constructor
    /// does (which is why `/zookeeper` reports cversion -2).
    fn link_system_child(&mut self, parent: &str, name: &str, acl: Arc<Vec<Acl>>) {
        assert!(Self::is_special_path(&format!("{parent}/{name}")), "only system nodes are linked without a txn");
        self.nodes.get_mut(parent).expect("system parent exists").add_child(name);
        self.insert_node(format!("{parent}/{name}"), DataNode::new(Vec::new(), acl, StatPersisted::default()));
    }

    fn intern_acl(&mut self, acl: &[Acl]) -> Arc<Vec<Acl>> {
        if let Some(shared) = self.acl_cache.get(acl) {
            return shared.clone();
        }
        let shared = Arc::new(acl.to_vec());
        self.acl_cache.insert(acl.to_vec(), shared.clone());
        assert!(!shared.is_empty(), "a node always has an ACL (an empty one is InvalidACL in prepare)");
        shared
    }

    /// Adds a node. Replaying a delete over a fuzzy snapshot can leave a child of the deleted
    /// node behind, unlinked; the replayed create of that child then replaces it, exactly as
    /// ZooKeeper's `nodes.put` does.
    fn insert_node(&mut self, key: String, mut node: DataNode) {
        assert!(key.is_empty() || self.nodes.contains_key(parent_key(&key)), "node {key} is inserted under an existing parent");
        node.digest = node_digest(&key, &node.data, &node.stat);
        self.digest = self.digest.wrapping_add(node.digest);
        match self.nodes.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(node);
            }
            Entry::Occupied(mut slot) => {
                let orphan = slot.insert(node);
                let key = slot.key().clone();
                self.digest = self.digest.wrapping_sub(orphan.digest);
                self.untrack_owner(&key, orphan.stat.ephemeral_owner);
            }
        }
    }

    /// Applies `change` to a node and keeps the tree digest in step (pre/postChange).
    fn with_node_mut<R>(&mut self, key: &str, change: impl FnOnce(&mut DataNode) -> R) -> Option<R> {
        let node = self.nodes.get_mut(key)?;
        let result = change(node);
        assert!(node.stat.cversion >= 0, "child counts are never negative");
        let new_digest = node_digest(key, &node.data, &node.stat);
        self.digest = self.digest.wrapping_sub(node.digest).wrapping_add(new_digest);
        node.digest = new_digest;
        Some(result)
    }

    /// The node at a client path (`/` included).
    pub fn node(&self, path: &str) -> Option<&DataNode> {
        self.nodes.get(tree_key(path))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The order-independent digest of every node (sum of per-node CRCs, as ZooKeeper's
    /// `NodeHashMapImpl` keeps it).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Recomputes the digest from scratch (to check the incremental one).
    pub fn recompute_digest(&self) -> u64 {
        self.nodes.iter().fold(0u64, |acc, (k, n)| acc.wrapping_add(node_digest(k, &n.data, &n.stat)))
    }

    pub fn is_special_path(path: &str) -> bool {
        matches!(path, "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config")
    }

    // ---------------------------------------------------------------- transactions

    /// `DataTree.processTxn`: applies one transaction; watch events go to `events`.
    pub fn process_txn(&mut self, header: &TxnHeader, txn: &Txn, events: &mut Vec<Notification>) -> ProcessTxnResult {
        let result = self.process_one(header, txn, events);
        if header.zxid > self.last_processed_zxid {
            self.last_processed_zxid = header.zxid;
        }
        assert_eq!(result.zxid, header.zxid, "the result names the txn applied");
        result
    }

    fn process_one(&mut self, header: &TxnHeader, txn: &Txn, events: &mut Vec<Notification>) -> ProcessTxnResult {
        let mut rc = ProcessTxnResult::new(header.zxid, txn.type_name());
        let outcome: Result<(), Code> = match txn {
            Txn::Create { path, data, acl, ephemeral, parent_cversion, with_stat } => {
                let owner = if *ephemeral { header.client_id } else { 0 };
                rc.path = path.clone();
                self.create_node(path, data, acl, owner, *parent_cversion, header, events)
                    .map(|stat| rc.stat = with_stat.then_some(stat))
            }
            Txn::CreateContainer { path, data, acl, parent_cversion } => {
                rc.path = path.clone();
                let owner = ephemeral_type::CONTAINER_EPHEMERAL_OWNER;
                self.create_node(path, data, acl, owner, *parent_cversion, header, events).map(|s| rc.stat = Some(s))
            }
            Txn::CreateTtl { path, data, acl, parent_cversion, ttl_ms } => {
                rc.path = path.clone();
                let owner = ephemeral_type::ttl_owner(*ttl_ms);
                self.create_node(path, data, acl, owner, *parent_cversion, header, events).map(|s| rc.stat = Some(s))
            }
            Txn::Delete { path } | Txn::DeleteContainer { path } => {
                rc.path = path.clone();
                self.delete_node(path, header.zxid, events)
            }
            Txn::SetData { path, data, version } => {
                rc.path = path.clone();
                self.set_data(path, data, *version, header.zxid, header.time_ms, events).map(|s| rc.stat = Some(s))
            }
            Txn::SetAcl { path, acl, version } => {
                rc.path = path.clone();
                self.set_acl(path, acl, *version).map(|s| rc.stat = Some(s))
            }
            Txn::Check { path, .. } => {
                rc.path = path.clone();
                Ok(())
            }
            Txn::CreateSession { .. } => Ok(()),
            Txn::CloseSession { paths_to_delete } => {
                self.kill_session(header.client_id, header.zxid, paths_to_delete, events);
                Ok(())
            }
            Txn::Error { err } => Err(*err),
            Txn::Multi { txns } => {
                rc.multi_result = self.process_multi(header, txns, events);
                match rc.multi_result.iter().find(|r| r.err != Code::Ok) {
                    Some(first) => Err(first.err),
                    None => Ok(()),
                }
            }
        };
        if let Err(err) = outcome {
            rc.err = err;
        }
        assert!(rc.err != Code::Ok || !matches!(txn, Txn::Error { .. }), "an error txn never succeeds");
        rc
    }

    /// A failed multi applies nothing: ops before the failing one report Ok (kazoo's
    /// RolledBack), the failing one its error, later ones RuntimeInconsistency.
    fn process_multi(&mut self, header: &TxnHeader, txns: &[Txn], events: &mut Vec<Notification>) -> Vec<ProcessTxnResult> {
        let failed = txns.iter().any(|t| matches!(t, Txn::Error { .. }));
        let (digest_before, nodes_before) = (self.digest, self.nodes.len());
        let mut post_failed = false;
        let mut results = Vec::with_capacity(txns.len());
        for sub in txns {
            let sub_rc = if !failed {
                self.process_one(header, sub, events)
            } else {
                let err = match sub {
                    Txn::Error { err } => {
                        post_failed = true;
                        *err
                    }
                    _ if post_failed => Code::RuntimeInconsistency,
                    _ => Code::Ok,
                };
                let mut r = ProcessTxnResult::new(header.zxid, "error");
                r.err = err;
                r
            };
            results.push(sub_rc);
        }
        // A multi is all or nothing: a failed one leaves the tree exactly as it was.
        assert!(!failed || (self.digest, self.nodes.len()) == (digest_before, nodes_before), "a failed multi changed the tree");
        assert_eq!(results.len(), txns.len(), "one result per op");
        results
    }

    /// `DataTree.createNode`. `parent_cversion` is the parent's new stored counter, or -1 to
    /// increment it. On replay over a fuzzy snapshot the parent's counter and pzxid only move
    /// forward, and an existing node reports NodeExists after advancing them.
    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        header: &TxnHeader,
        events: &mut Vec<Notification>,
    ) -> Result<Stat, Code> {
        let parent = parent_key(path);
        let name = child_name(path);
        let zxid = header.zxid;
        let exists = self.nodes.get(parent).ok_or(Code::NoNode)?.children.as_ref().is_some_and(|c| c.contains(name));
        let advance = |n: &mut DataNode| {
            let new_cversion = if parent_cversion == -1 { n.stat.cversion + 1 } else { parent_cversion };
            if new_cversion > n.stat.cversion {
                n.stat.cversion = new_cversion;
                n.stat.pzxid = zxid;
            }
        };
        if exists {
            self.with_node_mut(parent, advance);
            return Err(Code::NodeExists);
        }
        self.with_node_mut(parent, |n| {
            advance(n);
            n.add_child(name);
        });
        let acl = self.intern_acl(acl);
        let stat = StatPersisted::created(zxid, header.time_ms, ephemeral_owner);
        self.insert_node(path.to_string(), DataNode::new(data.to_vec(), acl, stat));
        self.track_owner(path, ephemeral_owner);
        let created = self.nodes[path].copy_stat();
        assert!(self.nodes[parent].children.as_ref().is_some_and(|c| c.contains(name)), "a created node is linked to its parent");
        self.data_watches.trigger(path, EventType::NodeCreated, &[], events);
        self.child_watches.trigger(watch_path(parent), EventType::NodeChildrenChanged, &[], events);
        Ok(created)
    }

    fn track_owner(&mut self, path: &str, owner: i64) {
        assert!(path.starts_with('/') || path.is_empty(), "owners track absolute paths");
        match ephemeral_type::get(owner) {
            EphemeralType::Container => {
                self.containers.insert(path.to_string());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(path.to_string());
            }
            EphemeralType::Normal => {
                self.ephemerals
                    .entry(owner)
                    .or_insert_with(|| JavaHashSet::with_capacity(EPHEMERALS_INITIAL_CAPACITY))
                    .insert(path);
            }
            EphemeralType::Void => {}
        }
    }

    fn untrack_owner(&mut self, path: &str, owner: i64) {
        assert!(path.starts_with('/') || path.is_empty(), "owners track absolute paths");
        match ephemeral_type::get(owner) {
            EphemeralType::Container => {
                self.containers.remove(path);
            }
            EphemeralType::Ttl => {
                self.ttls.remove(path);
            }
            EphemeralType::Normal => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                }
            }
            EphemeralType::Void => {}
        }
    }

    /// `DataTree.deleteNode`: the parent's pzxid advances even if the child is already gone
    /// (replay over a fuzzy snapshot).
    fn delete_node(&mut self, path: &str, zxid: Zxid, events: &mut Vec<Notification>) -> Result<(), Code> {
        let parent = parent_key(path);
        let name = child_name(path);
        if !self.nodes.contains_key(parent) {
            return Err(Code::NoNode);
        }
        self.with_node_mut(parent, |n| {
            n.remove_child(name);
            if zxid > n.stat.pzxid {
                n.stat.pzxid = zxid;
            }
        });
        let node = self.nodes.remove(path).ok_or(Code::NoNode)?;
        self.digest = self.digest.wrapping_sub(node.digest);
        self.untrack_owner(path, node.stat.ephemeral_owner);
        assert!(!self.nodes[parent].children.as_ref().is_some_and(|c| c.contains(name)), "a deleted node is unlinked from its parent");
        let fired = self.data_watches.trigger(path, EventType::NodeDeleted, &[], events);
        self.child_watches.trigger(path, EventType::NodeDeleted, &fired, events);
        self.child_watches.trigger(watch_path(parent), EventType::NodeChildrenChanged, &[], events);
        Ok(())
    }

    fn set_data(&mut self, path: &str, data: &[u8], version: i32, zxid: Zxid, time_ms: i64, events: &mut Vec<Notification>) -> Result<Stat, Code> {
        let key = tree_key(path);
        let stat = self
            .with_node_mut(key, |n| {
                n.data.clear();
                n.data.extend_from_slice(data);
                n.stat.mtime = time_ms;
                n.stat.mzxid = zxid;
                n.stat.version = version;
                n.copy_stat()
            })
            .ok_or(Code::NoNode)?;
        assert!(stat.version == version && stat.mzxid == zxid, "setData stores the version and zxid it was given");
        self.data_watches.trigger(path, EventType::NodeDataChanged, &[], events);
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, Code> {
        let key = tree_key(path);
        if !self.nodes.contains_key(key) {
            return Err(Code::NoNode);
        }
        let acl = self.intern_acl(acl);
        assert!(!acl.is_empty(), "a node always has an ACL (an empty one is InvalidACL in prepare)");
        self.with_node_mut(key, |n| {
            n.stat.aversion = version;
            n.acl = acl;
            n.copy_stat()
        })
        .ok_or(Code::NoNode)
    }

    /// `killSession`: deletes the paths the closeSession transaction lists, in that order, then
    /// any other ephemeral the session still owns here (there should be none).
    fn kill_session(&mut self, session: SessionId, zxid: Zxid, paths: &[String], events: &mut Vec<Notification>) {
        let local = self.ephemerals.remove(&session);
        for path in paths {
            let _ = self.delete_node(path, zxid, events); // NoNode is expected on replay
        }
        if let Some(local) = local {
            let leftover: Vec<String> =
                local.iter_order().into_iter().filter(|p| !paths.iter().any(|q| q == p)).map(String::from).collect();
            for path in leftover {
                let _ = self.delete_node(&path, zxid, events);
            }
        }
        assert!(self.ephemerals.get(&session).is_none_or(|s| s.is_empty()), "a closed session owns no ephemeral");
    }

    // ---------------------------------------------------------------- reads

    /// `getData`: the watch is set only if the node exists.
    pub fn get_data(&mut self, path: &str, watcher: Option<WatcherId>) -> Result<(Vec<u8>, Stat), Code> {
        let node = self.node(path).ok_or(Code::NoNode)?;
        let result = (node.data.clone(), node.copy_stat());
        assert_eq!(result.0.len() as i32, result.1.data_length, "the stat describes the data returned");
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        Ok(result)
    }

    /// `statNode` (exists): the watch is set whether or not the node exists.
    pub fn stat_node(&mut self, path: &str, watcher: Option<WatcherId>) -> Result<Stat, Code> {
        assert!(path.starts_with('/'), "client paths are absolute, not {path:?}");
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        self.node(path).map(DataNode::copy_stat).ok_or(Code::NoNode)
    }

    /// `getChildren`: children in ZooKeeper's order, the node's stat; watch only if it exists.
    pub fn get_children(&mut self, path: &str, watcher: Option<WatcherId>) -> Result<(Vec<String>, Stat), Code> {
        let node = self.node(path).ok_or(Code::NoNode)?;
        let result = (node.children(), node.copy_stat());
        assert_eq!(result.0.len() as i32, result.1.num_children, "the stat counts the children listed");
        if let Some(w) = watcher {
            self.child_watches.add_watch(path, w, WatcherMode::Standard);
        }
        Ok(result)
    }

    /// `getAllChildrenNumber`: every descendant, not only direct children.
    pub fn get_all_children_number(&self, path: &str) -> i32 {
        assert!(!self.nodes.is_empty(), "the root always exists");
        if path == "/" {
            return self.nodes.len() as i32 - 1;
        }
        let prefix = format!("{path}/");
        self.nodes.keys().filter(|k| k.starts_with(&prefix)).count() as i32
    }

    /// `getEphemerals(sessionId)`: a Java clone of the session's set.
    pub fn get_ephemerals(&self, session: SessionId) -> JavaHashSet {
        self.ephemerals.get(&session).map_or_else(|| JavaHashSet::with_capacity(16), JavaHashSet::java_clone)
    }

    /// Sessions that own ephemerals here, sorted.
    pub fn sessions_with_ephemerals(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.ephemerals.iter().filter(|(_, s)| !s.is_empty()).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// Containers that are empty and had a child, and TTL nodes that are empty and unmodified
    /// for longer than their TTL: what the leader's `ContainerManager` deletes.
    pub fn expired_containers_and_ttls(&self, now_ms: i64) -> Vec<String> {
        let mut out = Vec::new();
        for path in &self.containers {
            let node = &self.nodes[path.as_str()];
            assert_eq!(ephemeral_type::get(node.stat.ephemeral_owner), EphemeralType::Container, "the container set holds containers");
            if node.stat.cversion > 0 && node.num_children() == 0 {
                out.push(path.clone());
            }
        }
        for path in &self.ttls {
            let node = &self.nodes[path.as_str()];
            let ttl_ms = ephemeral_type::ttl_of(node.stat.ephemeral_owner);
            if node.num_children() == 0 && now_ms - node.stat.mtime > ttl_ms {
                out.push(path.clone());
            }
        }
        out
    }

    // ---------------------------------------------------------------- watches

    /// `addWatch`: a persistent watch lives in both managers.
    /// Every watch gone: the watch managers as a fresh tree has them (not merely emptied).
    pub fn reset_watches(&mut self) {
        self.data_watches = WatchManager::default();
        self.child_watches = WatchManager::default();
    }

    pub fn add_watch(&mut self, path: &str, watcher: WatcherId, mode: AddWatchMode) {
        let mode = match mode {
            AddWatchMode::Persistent => WatcherMode::Persistent,
            AddWatchMode::PersistentRecursive => WatcherMode::PersistentRecursive,
        };
        assert!(path.starts_with('/'), "watched paths are absolute, not {path:?}");
        self.data_watches.add_watch(path, watcher, mode);
        self.child_watches.add_watch(path, watcher, mode);
    }

    /// `removeWatches` / `checkWatches`: NoWatcher if none matched.
    pub fn remove_watch(&mut self, path: &str, watcher_type: WatcherType, watcher: WatcherId, remove: bool) -> Result<(), Code> {
        let (data, child) = match watcher_type {
            WatcherType::Data => (true, false),
            WatcherType::Children => (false, true),
            WatcherType::Any => (true, true),
        };
        let has_data = data && self.data_watches.contains_watcher(path, watcher);
        let has_child = child && self.child_watches.contains_watcher(path, watcher);
        if !has_data && !has_child {
            return Err(Code::NoWatcher);
        }
        assert!(data || child, "a watcher type selects at least one manager");
        if remove {
            if has_data {
                self.data_watches.remove_watch(path, watcher);
            }
            if has_child {
                self.child_watches.remove_watch(path, watcher);
            }
        }
        Ok(())
    }

    /// Forgets every watch of a closed connection (`removeCnxn`).
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.data_watches.remove_watcher(watcher);
        self.child_watches.remove_watcher(watcher);
        assert!(self.data_watches.watches_of(watcher).is_empty() && self.child_watches.watches_of(watcher).is_empty(), "a closed connection keeps no watch");
    }

    /// `DataTree.setWatches`: re-registration after a reconnect, given the last zxid the client
    /// saw. A watch whose condition already happened fires at once instead of being re-armed.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &mut self,
        relative_zxid: Zxid,
        data_watches: &[String],
        exist_watches: &[String],
        child_watches: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        watcher: WatcherId,
        events: &mut Vec<Notification>,
    ) {
        let events_before = events.len();
        let fire = |events: &mut Vec<Notification>, event_type, path: &str| {
            events.push((watcher, WatchedEvent { event_type, path: path.to_string() }));
        };
        for path in data_watches {
            match self.node(path).map(|n| n.stat.mzxid) {
                None => fire(events, EventType::NodeDeleted, path),
                Some(mzxid) if mzxid > relative_zxid => fire(events, EventType::NodeDataChanged, path),
                Some(_) => self.data_watches.add_watch(path, watcher, WatcherMode::Standard),
            }
        }
        for path in exist_watches {
            if self.node(path).is_some() {
                fire(events, EventType::NodeCreated, path);
            } else {
                self.data_watches.add_watch(path, watcher, WatcherMode::Standard);
            }
        }
        for path in child_watches {
            match self.node(path).map(|n| n.stat.pzxid) {
                None => fire(events, EventType::NodeDeleted, path),
                Some(pzxid) if pzxid > relative_zxid => fire(events, EventType::NodeChildrenChanged, path),
                Some(_) => self.child_watches.add_watch(path, watcher, WatcherMode::Standard),
            }
        }
        for path in persistent {
            self.add_watch(path, watcher, AddWatchMode::Persistent);
        }
        for path in persistent_recursive {
            self.add_watch(path, watcher, AddWatchMode::PersistentRecursive);
        }
        assert!(events[events_before..].iter().all(|(w, _)| *w == watcher), "re-registration fires only the reconnecting watcher's events");
    }

    pub fn watch_count(&self) -> usize {
        self.data_watches.watch_count() + self.child_watches.watch_count()
    }

    // ---------------------------------------------------------------- snapshots

    /// One node's image for a snapshot (the client path, `/` for the root).
    pub fn node_image(&self, key: &str) -> Option<NodeImage> {
        Some(image_of(key.to_string(), self.nodes.get(key)?))
    }

    /// A snapshot's visit of one node (one lookup): its image, taking `key` as the image's path,
    /// and its child names (any order) in `children`.
    pub fn snapshot_visit<'a>(&'a self, key: String, children: &mut Vec<&'a str>) -> Option<NodeImage> {
        let node = self.nodes.get(&key)?;
        children.extend(node.children.iter().flat_map(|c| c.iter_unordered()));
        Some(image_of(key, node))
    }

    /// Rebuilds a tree from node images in parent-before-child order (`DataTree.deserialize`):
    /// a node whose parent is missing is an error, as in ZooKeeper.
    pub fn from_images(images: &[NodeImage], last_processed_zxid: Zxid) -> Result<DataTree, String> {
        let mut tree = DataTree::empty(last_processed_zxid);
        for image in images {
            let key = tree_key(&image.path).to_string();
            if !key.is_empty() {
                let parent = parent_key(&key);
                let name = child_name(&key).to_string();
                let parent_node = tree.nodes.get_mut(parent).ok_or_else(|| format!("parent of {} missing", image.path))?;
                parent_node.add_child(&name);
            }
            if tree.nodes.contains_key(&key) {
                return Err(format!("node {} appears twice", image.path));
            }
            let acl = tree.intern_acl(&image.acl);
            tree.insert_node(key.clone(), DataNode::new(image.data.clone(), acl, image.stat));
            tree.track_owner(&key, image.stat.ephemeral_owner);
        }
        if !tree.nodes.contains_key("") {
            return Err("snapshot has no root node".into());
        }
        assert_eq!(tree.node_count(), images.len(), "every image became one node");
        Ok(tree)
    }

    /// Every node's image, sorted by path: a canonical dump for comparisons (tests).
    pub fn canonical_images(&self) -> Vec<NodeImage> {
        let mut keys: Vec<&String> = self.nodes.keys().collect();
        keys.sort();
        keys.into_iter().filter_map(|k| self.node_image(k)).collect()
    }
}
