//! The prepare step (`PrepRequestProcessor`): turns a write request into a transaction against
//! the *future* state of the tree — the committed tree plus every change already prepared but
//! not yet applied (`outstandingChanges`).
//!
//! Why: the leader prepares request N+1 before request N is committed, so validation must see
//! N's effects (a create after a pending create of the parent succeeds; a second create of the
//! same path fails). Failures become `Error` transactions that still take a zxid.
//!
//! Check order per request is ZooKeeper's, because it decides which error a client sees:
//! - create: TTL mode/ttl → path shape → ACL list (InvalidACL) → parent (NoNode) → CREATE on
//!   parent (NoAuth) → sequential suffix → full path (BadArguments) → NodeExists →
//!   ephemeral parent (NoChildrenForEphemerals);
//! - delete: shape/special path (BadArguments) → parent (NoNode) → DELETE on parent → node
//!   (NoNode) → version (BadVersion) → children (NotEmpty);
//! - setData: path → node → WRITE → version; setACL: path → ACL list → node → ADMIN →
//!   aversion; check (multi only): path → node → READ → version.

use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::acl::{check_acl, fixup_acl};
use super::data_tree::{DataTree, StatPersisted};
use super::path::{parent_key, validate_path};
use super::txn::{Txn, TxnHeader};
use crate::proto::ephemeral_type::{self, EphemeralType};
use crate::proto::{perms, Acl, Code, CreateMode, Id, Op, Request, SessionId, Zxid};

/// A pending change to one path: its future stat (None = deleted) and child count.
#[derive(Clone, Debug)]
pub struct ChangeRecord {
    pub zxid: Zxid,
    pub path: String,
    pub stat: Option<StatPersisted>,
    pub child_count: i32,
    pub acl: Arc<Vec<Acl>>,
    /// Identity, standing in for Java's reference equality.
    seq: u64,
}

/// Server settings the prepare step depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrepConfig {
    /// `zookeeper.extendedTypesEnabled`: TTL nodes (off by default → Unimplemented).
    pub extended_types_enabled: bool,
}

/// Who is asking: the session and its authenticated identities.
#[derive(Clone, Copy, Debug)]
pub struct Requester<'a> {
    pub session_id: SessionId,
    pub auth: &'a [Id],
}

#[derive(Debug, Default)]
pub struct Preparer {
    pub config: PrepConfig,
    outstanding: VecDeque<ChangeRecord>,
    outstanding_for_path: FxHashMap<String, ChangeRecord>,
    next_seq: u64,
}

/// Upper bound on prepared-but-unapplied changes; beyond it the pipeline is broken.
const OUTSTANDING_CHANGES_MAX: usize = 10_000_000;

impl Preparer {
    pub fn new(config: PrepConfig) -> Preparer {
        Preparer { config, ..Preparer::default() }
    }

    pub fn outstanding_count(&self) -> usize {
        self.outstanding.len()
    }

    /// `FinalRequestProcessor`: once `zxid` is applied, its change records (and any older) go.
    pub fn on_applied(&mut self, zxid: Zxid) {
        while self.outstanding.front().is_some_and(|c| c.zxid <= zxid) {
            let change = self.outstanding.pop_front().expect("front exists");
            if self.outstanding_for_path.get(&change.path).is_some_and(|c| c.seq == change.seq) {
                self.outstanding_for_path.remove(&change.path);
            }
        }
    }

    /// Forgets every pending change (a server that stops leading).
    pub fn clear(&mut self) {
        self.outstanding.clear();
        self.outstanding_for_path.clear();
    }

    fn add_change_record(&mut self, mut change: ChangeRecord) {
        change.seq = self.next_seq;
        self.next_seq += 1;
        assert!(self.outstanding.len() < OUTSTANDING_CHANGES_MAX, "outstanding changes unbounded");
        self.outstanding_for_path.insert(change.path.clone(), change.clone());
        self.outstanding.push_back(change);
    }

    /// `getRecordForPath`: the pending change, else the committed node; NoNode if neither.
    fn record_for_path(&self, tree: &DataTree, path: &str) -> Result<ChangeRecord, Code> {
        let record = match self.outstanding_for_path.get(path) {
            Some(c) => c.clone(),
            None => {
                let node = tree.node(path).ok_or(Code::NoNode)?;
                ChangeRecord {
                    zxid: -1,
                    path: path.to_string(),
                    stat: Some(node.stat),
                    child_count: node.num_children() as i32,
                    acl: node.acl.clone(),
                    seq: u64::MAX,
                }
            }
        };
        if record.stat.is_none() {
            return Err(Code::NoNode);
        }
        Ok(record)
    }

    /// Prepares a write request into the transaction the leader will propose.
    pub fn prepare(&mut self, tree: &DataTree, header: &TxnHeader, request: &Request, who: Requester) -> Txn {
        let result = match request {
            Request::Multi { ops } => return self.prepare_multi(tree, header, ops, who),
            Request::CloseSession => return self.prepare_close_session(tree, header),
            Request::Create { path, data, acl, mode, ttl_ms, with_stat } => {
                self.prep_create(tree, header, path, data, acl, *mode, *ttl_ms, *with_stat, who)
            }
            Request::Delete { path, version } => self.prep_delete(tree, header, path, *version, who),
            Request::SetData { path, data, version } => self.prep_set_data(tree, header, path, data, *version, who),
            Request::SetAcl { path, acl, version } => self.prep_set_acl(tree, header, path, acl, *version, who),
            _ => panic!("prepare() takes write requests only, got {request:?}"),
        };
        result.unwrap_or_else(|err| Txn::Error { err })
    }

    fn prep_op(&mut self, tree: &DataTree, header: &TxnHeader, op: &Op, who: Requester) -> Result<Txn, Code> {
        match op {
            Op::Create { path, data, acl, mode, ttl_ms, with_stat } => {
                self.prep_create(tree, header, path, data, acl, *mode, *ttl_ms, *with_stat, who)
            }
            Op::Delete { path, version } => self.prep_delete(tree, header, path, *version, who),
            Op::SetData { path, data, version } => self.prep_set_data(tree, header, path, data, *version, who),
            Op::Check { path, version } => self.prep_check(tree, path, *version, who),
            Op::GetData { .. } | Op::GetChildren { .. } => Err(Code::BadArguments),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_create(
        &mut self,
        tree: &DataTree,
        header: &TxnHeader,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        ttl_ms: i64,
        with_stat: bool,
        who: Requester,
    ) -> Result<Txn, Code> {
        if mode.is_ttl() {
            if !self.config.extended_types_enabled {
                return Err(Code::Unimplemented);
            }
            if ttl_ms <= 0 || ttl_ms > ephemeral_type::MAX_TTL_MS {
                return Err(Code::BadArguments);
            }
        }
        if !path.contains('/') || path.contains('\0') {
            return Err(Code::BadArguments);
        }
        let parent_path = parent_key(path);
        let acl = fixup_acl(acl, who.auth)?;
        let parent = self.record_for_path(tree, if parent_path.is_empty() { "/" } else { parent_path })?;
        check_acl(&parent.acl, perms::CREATE, who.auth)?;
        let parent_stat = parent.stat.expect("record_for_path returns live records");
        let path = if mode.is_sequential() { format!("{path}{:010}", parent_stat.cversion) } else { path.to_string() };
        validate_path(&path).map_err(|_| Code::BadArguments)?;
        if self.record_for_path(tree, &path).is_ok() {
            return Err(Code::NodeExists);
        }
        if ephemeral_type::get(parent_stat.ephemeral_owner) == EphemeralType::Normal {
            return Err(Code::NoChildrenForEphemerals);
        }
        let new_cversion = parent_stat.cversion + 1;
        let owner = match mode {
            CreateMode::Container => ephemeral_type::CONTAINER_EPHEMERAL_OWNER,
            m if m.is_ttl() => ephemeral_type::ttl_owner(ttl_ms),
            m if m.is_ephemeral() => who.session_id,
            _ => 0,
        };
        let txn = match mode {
            CreateMode::Container => {
                Txn::CreateContainer { path: path.clone(), data: data.to_vec(), acl: acl.clone(), parent_cversion: new_cversion }
            }
            m if m.is_ttl() => Txn::CreateTtl {
                path: path.clone(),
                data: data.to_vec(),
                acl: acl.clone(),
                parent_cversion: new_cversion,
                ttl_ms,
            },
            m => Txn::Create {
                path: path.clone(),
                data: data.to_vec(),
                acl: acl.clone(),
                ephemeral: m.is_ephemeral(),
                parent_cversion: new_cversion,
                with_stat,
            },
        };
        let mut parent = parent;
        let mut new_parent_stat = parent_stat;
        new_parent_stat.cversion = new_cversion;
        new_parent_stat.pzxid = header.zxid;
        parent.zxid = header.zxid;
        parent.child_count += 1;
        parent.stat = Some(new_parent_stat);
        self.add_change_record(parent);
        self.add_change_record(ChangeRecord {
            zxid: header.zxid,
            path,
            stat: Some(StatPersisted::created(header.zxid, header.time_ms, owner)),
            child_count: 0,
            acl: Arc::new(acl),
            seq: 0,
        });
        Ok(txn)
    }

    /// `getParentPathAndValidate`: no slash, a NUL, or a system path → BadArguments.
    fn parent_for_delete(path: &str) -> Result<&str, Code> {
        if !path.contains('/') || path.contains('\0') || DataTree::is_special_path(path) {
            return Err(Code::BadArguments);
        }
        let parent = parent_key(path);
        Ok(if parent.is_empty() { "/" } else { parent })
    }

    fn prep_delete(&mut self, tree: &DataTree, header: &TxnHeader, path: &str, version: i32, who: Requester) -> Result<Txn, Code> {
        let parent_path = Self::parent_for_delete(path)?;
        let parent = self.record_for_path(tree, parent_path)?;
        check_acl(&parent.acl, perms::DELETE, who.auth)?;
        let node = self.record_for_path(tree, path)?;
        check_and_inc_version(node.stat.expect("live").version, version)?;
        if node.child_count > 0 {
            return Err(Code::NotEmpty);
        }
        self.record_child_deleted(parent, header.zxid, path);
        Ok(Txn::Delete { path: path.to_string() })
    }

    /// The pending changes of a delete: the parent loses a child and takes the zxid as
    /// pzxid; the node becomes a deletion record.
    fn record_child_deleted(&mut self, mut parent: ChangeRecord, zxid: Zxid, path: &str) {
        let mut parent_stat = parent.stat.expect("record_for_path returns live records");
        parent_stat.pzxid = zxid;
        parent.stat = Some(parent_stat);
        parent.zxid = zxid;
        parent.child_count -= 1;
        assert!(parent.child_count >= 0, "a parent never has a negative child count");
        self.add_change_record(parent);
        self.add_deleted_record(zxid, path);
    }

    fn add_deleted_record(&mut self, zxid: Zxid, path: &str) {
        self.add_change_record(ChangeRecord {
            zxid,
            path: path.to_string(),
            stat: None,
            child_count: -1,
            acl: Arc::new(Vec::new()),
            seq: 0,
        });
    }

    fn prep_set_data(&mut self, tree: &DataTree, header: &TxnHeader, path: &str, data: &[u8], version: i32, who: Requester) -> Result<Txn, Code> {
        validate_path(path).map_err(|_| Code::BadArguments)?;
        let mut node = self.record_for_path(tree, path)?;
        check_acl(&node.acl, perms::WRITE, who.auth)?;
        let mut stat = node.stat.expect("live");
        let new_version = check_and_inc_version(stat.version, version)?;
        stat.version = new_version;
        stat.mtime = header.time_ms;
        stat.mzxid = header.zxid;
        node.stat = Some(stat);
        node.zxid = header.zxid;
        self.add_change_record(node);
        Ok(Txn::SetData { path: path.to_string(), data: data.to_vec(), version: new_version })
    }

    fn prep_set_acl(&mut self, tree: &DataTree, header: &TxnHeader, path: &str, acl: &[Acl], version: i32, who: Requester) -> Result<Txn, Code> {
        validate_path(path).map_err(|_| Code::BadArguments)?;
        let acl = fixup_acl(acl, who.auth)?;
        let mut node = self.record_for_path(tree, path)?;
        check_acl(&node.acl, perms::ADMIN, who.auth)?;
        let mut stat = node.stat.expect("live");
        let new_version = check_and_inc_version(stat.aversion, version)?;
        stat.aversion = new_version;
        node.stat = Some(stat);
        node.zxid = header.zxid;
        node.acl = Arc::new(acl.clone());
        self.add_change_record(node);
        Ok(Txn::SetAcl { path: path.to_string(), acl, version: new_version })
    }

    fn prep_check(&mut self, tree: &DataTree, path: &str, version: i32, who: Requester) -> Result<Txn, Code> {
        validate_path(path).map_err(|_| Code::BadArguments)?;
        let node = self.record_for_path(tree, path)?;
        check_acl(&node.acl, perms::READ, who.auth)?;
        let new_version = check_and_inc_version(node.stat.expect("live").version, version)?;
        Ok(Txn::Check { path: path.to_string(), version: new_version })
    }

    /// A multi shares one zxid; on the first failure the change records it added are rolled
    /// back and the remaining ops become RuntimeInconsistency errors.
    fn prepare_multi(&mut self, tree: &DataTree, header: &TxnHeader, ops: &[Op], who: Requester) -> Txn {
        let pending = self.pending_changes(ops);
        let mut failed = false;
        let mut txns = Vec::with_capacity(ops.len());
        for op in ops {
            if failed {
                txns.push(Txn::Error { err: Code::RuntimeInconsistency });
                continue;
            }
            match self.prep_op(tree, header, op, who) {
                Ok(txn) => txns.push(txn),
                Err(err) => {
                    failed = true;
                    txns.push(Txn::Error { err });
                    self.rollback_pending_changes(header.zxid, &pending);
                }
            }
        }
        Txn::Multi { txns }
    }

    /// `getPendingChanges`: the outstanding records of each op's path and parent.
    fn pending_changes(&self, ops: &[Op]) -> Vec<ChangeRecord> {
        let mut pending: Vec<ChangeRecord> = Vec::new();
        for op in ops {
            let path = op.path();
            let mut keys = vec![path];
            if path.contains('/') && !path.contains('\0') {
                let parent = parent_key(path);
                keys.push(if parent.is_empty() { "/" } else { parent });
            }
            for key in keys {
                if let Some(c) = self.outstanding_for_path.get(key) {
                    if !pending.iter().any(|p| p.path == c.path) {
                        pending.push(c.clone());
                    }
                }
            }
        }
        pending
    }

    /// `rollbackPendingChanges`.
    fn rollback_pending_changes(&mut self, zxid: Zxid, pending: &[ChangeRecord]) {
        while self.outstanding.back().is_some_and(|c| c.zxid == zxid) {
            let change = self.outstanding.pop_back().expect("back exists");
            self.outstanding_for_path.remove(&change.path);
        }
        let Some(first_zxid) = self.outstanding.front().map(|c| c.zxid) else { return };
        for change in pending.iter().filter(|c| c.zxid >= first_zxid) {
            self.outstanding_for_path.insert(change.path.clone(), change.clone());
        }
    }

    /// `createSession`: nothing to validate; the transaction carries the negotiated timeout.
    pub fn prepare_create_session(&mut self, timeout_ms: i32) -> Txn {
        Txn::CreateSession { timeout_ms }
    }

    /// `closeSession`: the session's ephemerals (in Java hash-set order), adjusted for pending
    /// creates and deletes, each becoming a pending delete.
    pub fn prepare_close_session(&mut self, tree: &DataTree, header: &TxnHeader) -> Txn {
        let session = header.client_id;
        let mut ephemerals = tree.get_ephemerals(session);
        for change in &self.outstanding {
            match change.stat {
                None => {
                    ephemerals.remove(&change.path);
                }
                Some(stat) if stat.ephemeral_owner == session => {
                    ephemerals.insert(&change.path);
                }
                Some(_) => {}
            }
        }
        let paths: Vec<String> = ephemerals.iter_order().into_iter().map(String::from).collect();
        for path in &paths {
            let parent_path = parent_key(path);
            let parent_path = if parent_path.is_empty() { "/" } else { parent_path };
            if let Ok(mut parent) = self.record_for_path(tree, parent_path) {
                let mut stat = parent.stat.expect("live");
                stat.pzxid = header.zxid;
                parent.stat = Some(stat);
                parent.zxid = header.zxid;
                self.add_change_record(parent);
            }
            self.add_deleted_record(header.zxid, path);
        }
        Txn::CloseSession { paths_to_delete: paths }
    }
}

/// `checkAndIncVersion`: -1 matches any version.
fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, Code> {
    if expected != -1 && expected != current {
        return Err(Code::BadVersion);
    }
    Ok(current + 1)
}

impl Preparer {
    /// `deleteContainer`, submitted by the leader's container manager for an empty container
    /// or an expired TTL node: NotEmpty if it gained a child meanwhile; a normal ephemeral is
    /// refused with BadVersion as in ZooKeeper.
    pub fn prepare_delete_container(&mut self, tree: &DataTree, header: &TxnHeader, path: &str) -> Txn {
        let result = (|| {
            let parent_path = Self::parent_for_delete(path)?;
            let node = self.record_for_path(tree, path)?;
            if node.child_count > 0 {
                return Err(Code::NotEmpty);
            }
            if ephemeral_type::get(node.stat.expect("live").ephemeral_owner) == EphemeralType::Normal {
                return Err(Code::BadVersion);
            }
            let parent = self.record_for_path(tree, parent_path)?;
            self.record_child_deleted(parent, header.zxid, path);
            Ok(Txn::DeleteContainer { path: path.to_string() })
        })();
        result.unwrap_or_else(|err| Txn::Error { err })
    }
}
