//! A standalone ZooKeeper server core (`ZooKeeperServer` with its request pipeline), with no
//! network: connections, sessions, per-session FIFO handling, reads, writes through the
//! prepare → apply pipeline, watch delivery, sync and session expiry.
//!
//! Why: it is the smallest complete ZooKeeper — enough to replay the golden trace recorded
//! from a real 3.8.0 server — and the template the replicated servers follow (where the apply
//! step waits for a ZAB commit instead of happening at once). Events in, outputs out: the caller
//! (a test, the conformance replayer, a simulator node) delivers what it gets back.
//!
//! Output order is a contract: watch events a transaction fires are emitted before the reply
//! of the request that caused it, as ZooKeeper sends them on the connection.

pub mod session_tracker;

use crate::proto::{
    Code, OpCode, OpResult, Request, Response, SessionId, WatchedEvent, Zxid, JUTE_MAX_BUFFER_BYTES,
};
use crate::tree::acl::{authenticate, check_acl, redact_digests, READ_OR_ADMIN};
use crate::tree::data_tree::ProcessTxnResult;
use crate::tree::prep::{PrepConfig, Preparer, Requester};
use crate::tree::snapshot::Snapshot;
use crate::tree::{DataTree, Txn, TxnEntry, TxnHeader};
use crate::proto::{perms, Op};
use session_tracker::SessionTracker;

/// Server settings (`zoo.cfg`), with ZooKeeper's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub server_id: i64,
    pub tick_time_ms: i64,
    /// Default 2 × tickTime.
    pub min_session_timeout_ms: i32,
    /// Default 20 × tickTime.
    pub max_session_timeout_ms: i32,
    pub max_buffer_bytes: usize,
    pub extended_types_enabled: bool,
    /// Keep every applied transaction in memory (tests and conformance replay).
    pub keep_txn_log: bool,
}

impl ServerConfig {
    pub fn new(tick_time_ms: i64) -> ServerConfig {
        ServerConfig {
            server_id: 0,
            tick_time_ms,
            min_session_timeout_ms: (2 * tick_time_ms) as i32,
            max_session_timeout_ms: (20 * tick_time_ms) as i32,
            max_buffer_bytes: JUTE_MAX_BUFFER_BYTES,
            extended_types_enabled: false,
            keep_txn_log: false,
        }
    }

    /// The timeout a server grants: the request clamped to [min, max].
    pub fn negotiate_timeout(&self, requested_ms: i32) -> i32 {
        requested_ms.clamp(self.min_session_timeout_ms, self.max_session_timeout_ms)
    }
}

/// What the server asks its caller to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerOutput {
    /// The answer to a connect: `timeout_ms == 0` means the session is expired or refused.
    Connected { session: SessionId, timeout_ms: i32, password: [u8; 16] },
    Reply { session: SessionId, cxid: i32, zxid: Zxid, result: Result<Response, Code> },
    Event { session: SessionId, event: WatchedEvent },
    /// The server drops the client's connection (the session itself lives on).
    CloseConnection { session: SessionId, reason: &'static str },
}

/// Why a connect was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// The client has seen a zxid this server has not: it must try another server.
    ClientAhead,
}

pub struct StandaloneServer {
    pub config: ServerConfig,
    pub tree: DataTree,
    pub sessions: SessionTracker,
    preparer: Preparer,
    last_zxid: Zxid,
    txn_log: Vec<TxnEntry>,
    out: Vec<ServerOutput>,
}

impl StandaloneServer {
    pub fn new(config: ServerConfig, now_ms: i64) -> StandaloneServer {
        let preparer = Preparer::new(PrepConfig { extended_types_enabled: config.extended_types_enabled });
        StandaloneServer {
            sessions: SessionTracker::new(config.tick_time_ms, config.server_id, now_ms),
            config,
            tree: DataTree::new(),
            preparer,
            last_zxid: 0,
            txn_log: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Takes what the server produced since the last call, in order.
    pub fn drain_outputs(&mut self) -> Vec<ServerOutput> {
        std::mem::take(&mut self.out)
    }

    pub fn last_processed_zxid(&self) -> Zxid {
        self.tree.last_processed_zxid
    }

    pub fn txn_log(&self) -> &[TxnEntry] {
        &self.txn_log
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.tree, &self.sessions.snapshot())
    }

    fn next_header(&mut self, session: SessionId, cxid: i32, now_ms: i64) -> TxnHeader {
        self.last_zxid += 1;
        TxnHeader { client_id: session, cxid, zxid: self.last_zxid, time_ms: now_ms }
    }

    /// Applies a prepared transaction: tree, outstanding changes, events out, log.
    fn apply(&mut self, header: TxnHeader, txn: Txn) -> ProcessTxnResult {
        let mut events = Vec::new();
        let rc = self.tree.process_txn(&header, &txn, &mut events);
        self.preparer.on_applied(header.zxid);
        for (session, event) in events {
            self.out.push(ServerOutput::Event { session, event });
        }
        match &txn {
            Txn::CreateSession { timeout_ms } => self.sessions.track_session(header.client_id, *timeout_ms, header.time_ms),
            Txn::CloseSession { .. } => {
                self.sessions.remove(header.client_id);
                self.tree.remove_watcher(header.client_id);
            }
            _ => {}
        }
        if self.config.keep_txn_log {
            self.txn_log.push(TxnEntry { header, txn });
        }
        debug_assert_eq!(self.tree.last_processed_zxid, header.zxid, "transactions apply in zxid order");
        rc
    }

    // ------------------------------------------------------------------ connections

    /// A connect request: a new session (`existing == None`) or a reconnect with id and password.
    pub fn on_connect(
        &mut self,
        now_ms: i64,
        requested_timeout_ms: i32,
        existing: Option<(SessionId, [u8; 16])>,
        last_zxid_seen: Zxid,
    ) -> Result<SessionId, ConnectRefusal> {
        if last_zxid_seen > self.tree.last_processed_zxid {
            return Err(ConnectRefusal::ClientAhead);
        }
        let timeout_ms = self.config.negotiate_timeout(requested_timeout_ms);
        match existing {
            None => {
                let id = self.sessions.create_session(timeout_ms, now_ms);
                let header = self.next_header(id, 0, now_ms);
                let txn = self.preparer.prepare_create_session(timeout_ms);
                self.apply(header, txn);
                let password = self.sessions.get(id).expect("just created").password;
                self.out.push(ServerOutput::Connected { session: id, timeout_ms, password });
                Ok(id)
            }
            Some((id, password)) => {
                let valid = self.sessions.get(id).is_some_and(|s| !s.closing && s.password == password);
                if valid && self.sessions.touch(id, now_ms) {
                    let granted = self.sessions.get(id).expect("valid").timeout_ms;
                    self.out.push(ServerOutput::Connected { session: id, timeout_ms: granted, password });
                } else {
                    self.out.push(ServerOutput::Connected { session: id, timeout_ms: 0, password });
                }
                Ok(id)
            }
        }
    }

    /// The client's connection went away: its watches go with it; its session does not.
    pub fn on_disconnect(&mut self, session: SessionId) {
        self.tree.remove_watcher(session);
    }

    /// Session expiry and container cleanup, run every tick by the caller.
    pub fn on_tick(&mut self, now_ms: i64) {
        for id in self.sessions.expire(now_ms) {
            let header = self.next_header(id, 0, now_ms);
            let txn = self.preparer.prepare_close_session(&self.tree, &header);
            self.apply(header, txn);
            self.out.push(ServerOutput::CloseConnection { session: id, reason: "session expired" });
        }
    }

    /// The leader's `ContainerManager` pass: deletes empty containers and expired TTL nodes.
    pub fn check_containers(&mut self, now_ms: i64) {
        for path in self.tree.expired_containers_and_ttls(now_ms) {
            let header = self.next_header(0, 0, now_ms);
            let txn = self.preparer.prepare_delete_container(&self.tree, &header, &path);
            self.apply(header, txn);
        }
    }

    // ------------------------------------------------------------------ requests

    /// One request on a session's connection. Requests of a session are handled in arrival
    /// order; in a standalone server each completes before the next starts, so replies are FIFO.
    pub fn on_request(&mut self, now_ms: i64, session: SessionId, cxid: i32, request: Request) {
        if request.wire_length() > self.config.max_buffer_bytes {
            self.out.push(ServerOutput::CloseConnection { session, reason: "packet exceeds jute.maxbuffer" });
            self.on_disconnect(session);
            return;
        }
        if !self.sessions.touch(session, now_ms) {
            self.reply(session, cxid, Err(Code::SessionExpired));
            return;
        }
        match request {
            Request::Auth { scheme, auth } => self.on_auth(session, cxid, &scheme, &auth),
            Request::CloseSession => {
                self.sessions.set_closing(session);
                let header = self.next_header(session, cxid, now_ms);
                let txn = self.preparer.prepare_close_session(&self.tree, &header);
                self.apply(header, txn);
                self.reply(session, cxid, Ok(Response::Empty));
                self.out.push(ServerOutput::CloseConnection { session, reason: "session closed" });
            }
            r if r.is_write() => {
                let header = self.next_header(session, cxid, now_ms);
                let auth = self.sessions.get(session).map(|s| s.auth.clone()).unwrap_or_default();
                let txn = self.preparer.prepare(&self.tree, &header, &r, Requester { session_id: session, auth: &auth });
                let rc = self.apply(header, txn);
                self.reply(session, cxid, response_for_txn(&r, &rc));
            }
            r => {
                let result = self.read(session, &r);
                self.reply(session, cxid, result);
            }
        }
    }

    fn reply(&mut self, session: SessionId, cxid: i32, result: Result<Response, Code>) {
        let zxid = self.tree.last_processed_zxid;
        self.out.push(ServerOutput::Reply { session, cxid, zxid, result });
    }

    /// `addAuth`: a bad credential fails the request and closes the connection.
    fn on_auth(&mut self, session: SessionId, cxid: i32, scheme: &str, auth: &[u8]) {
        match authenticate(scheme, auth, "127.0.0.1") {
            Ok(id) => {
                let s = self.sessions.get_mut(session).expect("touched above");
                if !s.auth.contains(&id) {
                    s.auth.push(id);
                }
                self.reply(session, cxid, Ok(Response::Empty));
            }
            Err(code) => {
                self.reply(session, cxid, Err(code));
                self.out.push(ServerOutput::CloseConnection { session, reason: "authentication failed" });
            }
        }
    }

    /// Reads, served from the local tree (`FinalRequestProcessor`).
    fn read(&mut self, session: SessionId, request: &Request) -> Result<Response, Code> {
        let auth = self.sessions.get(session).map(|s| s.auth.clone()).unwrap_or_default();
        serve_read(&mut self.tree, session, &auth, request, &mut self.out)
    }
}

/// Serves a read request against a tree (shared by every kind of server).
pub fn serve_read(
    tree: &mut DataTree,
    session: SessionId,
    auth: &[crate::proto::Id],
    request: &Request,
    out: &mut Vec<ServerOutput>,
) -> Result<Response, Code> {
    let watcher = |watch: bool| watch.then_some(session);
    let check_read = |tree: &DataTree, path: &str| -> Result<(), Code> {
        let node = tree.node(path).ok_or(Code::NoNode)?;
        check_acl(&node.acl, perms::READ, auth)
    };
    match request {
        Request::Exists { path, watch } => {
            if path.contains('\0') {
                return Err(Code::BadArguments);
            }
            tree.stat_node(path, watcher(*watch)).map(|stat| Response::Exists { stat })
        }
        Request::GetData { path, watch } => {
            check_read(tree, path)?;
            let (data, stat) = tree.get_data(path, watcher(*watch))?;
            Ok(Response::GetData { data, stat })
        }
        Request::GetChildren { path, watch, with_stat } => {
            check_read(tree, path)?;
            let (children, stat) = tree.get_children(path, watcher(*watch))?;
            Ok(Response::GetChildren { children, stat: with_stat.then_some(stat) })
        }
        Request::GetAllChildrenNumber { path } => {
            check_read(tree, path)?;
            Ok(Response::GetAllChildrenNumber { number: tree.get_all_children_number(path) })
        }
        Request::GetAcl { path } => {
            let node = tree.node(path).ok_or(Code::NoNode)?;
            check_acl(&node.acl, READ_OR_ADMIN, auth)?;
            let stat = node.copy_stat();
            let acl = if check_acl(&node.acl, perms::ADMIN, auth).is_ok() {
                node.acl.to_vec()
            } else {
                redact_digests(&node.acl)
            };
            Ok(Response::GetAcl { acl, stat })
        }
        Request::GetEphemerals { prefix_path } => {
            let all = tree.get_ephemerals(session);
            let prefix = prefix_path.trim();
            let paths = all
                .iter_order()
                .into_iter()
                .filter(|p| prefix.is_empty() || prefix == "/" || p.starts_with(prefix_path.as_str()))
                .map(String::from)
                .collect();
            Ok(Response::GetEphemerals { paths })
        }
        Request::MultiRead { ops } => {
            let results = ops.iter().map(|op| multi_read_op(tree, auth, op)).collect();
            Ok(Response::MultiRead { results })
        }
        Request::Sync { path } => Ok(Response::Sync { path: path.clone() }),
        Request::AddWatch { path, mode } => {
            tree.add_watch(path, session, *mode);
            Ok(Response::Empty)
        }
        Request::RemoveWatches { path, watcher_type } => {
            tree.remove_watch(path, *watcher_type, session, true).map(|_| Response::Empty)
        }
        Request::CheckWatches { path, watcher_type } => {
            tree.remove_watch(path, *watcher_type, session, false).map(|_| Response::Empty)
        }
        Request::SetWatches {
            relative_zxid,
            data_watches,
            exist_watches,
            child_watches,
            persistent_watches,
            persistent_recursive_watches,
        } => {
            let mut events = Vec::new();
            tree.set_watches(
                *relative_zxid,
                data_watches,
                exist_watches,
                child_watches,
                persistent_watches,
                persistent_recursive_watches,
                session,
                &mut events,
            );
            out.extend(events.into_iter().map(|(session, event)| ServerOutput::Event { session, event }));
            Ok(Response::Empty)
        }
        Request::Ping => Ok(Response::Empty),
        other => panic!("serve_read got a write or session request: {other:?}"),
    }
}

fn multi_read_op(tree: &mut DataTree, auth: &[crate::proto::Id], op: &Op) -> OpResult {
    let result = (|| {
        let node = tree.node(op.path()).ok_or(Code::NoNode)?;
        check_acl(&node.acl, perms::READ, auth)?;
        match op {
            Op::GetData { path } => tree.get_data(path, None).map(|(data, stat)| OpResult::GetData { data, stat }),
            Op::GetChildren { path } => tree.get_children(path, None).map(|(children, _)| OpResult::GetChildren { children }),
            _ => Err(Code::BadArguments),
        }
    })();
    result.unwrap_or_else(|code| OpResult::Error { code })
}

/// The reply to a write, from what applying its transaction did.
pub fn response_for_txn(request: &Request, rc: &ProcessTxnResult) -> Result<Response, Code> {
    if let Request::Multi { .. } = request {
        let results = rc.multi_result.iter().map(op_result).collect();
        return Ok(Response::Multi { results });
    }
    if rc.err != Code::Ok {
        return Err(rc.err);
    }
    let stat = || rc.stat.unwrap_or_default();
    Ok(match request {
        Request::Create { with_stat, .. } => Response::Create { path: rc.path.clone(), stat: with_stat.then(stat) },
        Request::Delete { .. } => Response::Delete,
        Request::SetData { .. } => Response::SetData { stat: stat() },
        Request::SetAcl { .. } => Response::SetAcl { stat: stat() },
        _ => Response::Empty,
    })
}

fn op_result(rc: &ProcessTxnResult) -> OpResult {
    let stat = || rc.stat.unwrap_or_default();
    match rc.kind {
        _ if rc.err != Code::Ok || rc.kind == "error" => OpResult::Error { code: rc.err },
        "create" => OpResult::Create { path: rc.path.clone(), stat: None },
        "create2" | "createContainer" | "createTTL" => OpResult::Create { path: rc.path.clone(), stat: Some(stat()) },
        "delete" | "deleteContainer" => OpResult::Delete,
        "setData" => OpResult::SetData { stat: stat() },
        "check" => OpResult::Check,
        other => panic!("unexpected sub-transaction kind {other} in a multi"),
    }
}

/// The operation a request is, for histories and logs.
pub fn op_code(request: &Request) -> OpCode {
    match request {
        Request::Create { with_stat: false, .. } => OpCode::Create,
        Request::Create { .. } => OpCode::Create2,
        Request::Delete { .. } => OpCode::Delete,
        Request::SetData { .. } => OpCode::SetData,
        Request::SetAcl { .. } => OpCode::SetAcl,
        Request::Multi { .. } => OpCode::Multi,
        Request::Exists { .. } => OpCode::Exists,
        Request::GetData { .. } => OpCode::GetData,
        Request::GetAcl { .. } => OpCode::GetAcl,
        Request::GetChildren { with_stat: false, .. } => OpCode::GetChildren,
        Request::GetChildren { .. } => OpCode::GetChildren2,
        Request::GetAllChildrenNumber { .. } => OpCode::GetAllChildrenNumber,
        Request::GetEphemerals { .. } => OpCode::GetEphemerals,
        Request::MultiRead { .. } => OpCode::MultiRead,
        Request::Sync { .. } => OpCode::Sync,
        Request::AddWatch { .. } => OpCode::AddWatch,
        Request::RemoveWatches { .. } => OpCode::RemoveWatches,
        Request::CheckWatches { .. } => OpCode::CheckWatches,
        Request::SetWatches { .. } => OpCode::SetWatches2,
        Request::Auth { .. } => OpCode::Auth,
        Request::Ping => OpCode::Ping,
        Request::CloseSession => OpCode::CloseSession,
    }
}
