//! The client-facing half of a replicated server: connections, sessions and the per-session
//! request pipeline (`FollowerRequestProcessor` / `PrepRequestProcessor` → `CommitProcessor` →
//! `FinalRequestProcessor`).
//!
//! Why here and not in `crate::server`: in an ensemble a write is not applied when it arrives —
//! it is forwarded to the leader, prepared there, broadcast, and answered by the server the
//! client is connected to when the COMMIT comes back. What the client sees is still
//! ZooKeeper's promise: replies in request order per session (a read waits behind the session's
//! own pending writes), watch events before the reply that reflects them, a reply zxid that
//! never goes back on one connection.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::fault_point::FaultPoint;
use super::peer::{Action, Observation, QuorumPeer};
use super::{Bug, PeerConfig, PeerMessage, ServerId};
use crate::proto::{Code, Id, Request, Response, SessionId, Zxid, JUTE_MAX_BUFFER_BYTES};
use crate::server::session_tracker::{initial_session_id, session_password};
use crate::server::{response_for_txn, serve_read, ServerOutput};
use crate::tree::acl::authenticate;
use crate::tree::data_tree::ProcessTxnResult;
use crate::tree::prep::Requester;
use crate::tree::watch::Notification;
use crate::tree::{Txn, TxnEntry, TxnHeader};
use crate::wire::{ClientMessage, ConnectRequest, ConnectResponse, ServerMessage, AUTH_XID, PING_XID};

/// A client connection, numbered by the shell.
pub type ConnId = u64;

struct Conn {
    session: Option<SessionId>,
    auth: Vec<Id>,
}

/// A request of a session not answered yet.
struct Pending {
    conn: ConnId,
    xid: i32,
    request: Request,
}

impl Pending {
    /// Writes, sync and closeSession wait for the leader; everything else is served locally.
    fn waits_for_leader(&self) -> bool {
        self.request.is_write() || matches!(self.request, Request::Sync { .. } | Request::CloseSession)
    }
}

/// A connect waiting for the leader (createSession commit or revalidation).
struct PendingConnect {
    conn: ConnId,
    timeout_ms: i32,
}

pub struct Serving {
    conns: BTreeMap<ConnId, Conn>,
    session_conn: BTreeMap<SessionId, ConnId>,
    queues: BTreeMap<SessionId, VecDeque<Pending>>,
    pending_connects: BTreeMap<SessionId, PendingConnect>,
    next_session_id: SessionId,
    min_session_timeout_ms: i32,
    max_session_timeout_ms: i32,
}

impl Serving {
    pub fn new(config: &PeerConfig, now_ms: i64) -> Serving {
        Serving {
            conns: BTreeMap::new(),
            session_conn: BTreeMap::new(),
            queues: BTreeMap::new(),
            pending_connects: BTreeMap::new(),
            next_session_id: initial_session_id(config.my_id as i64, now_ms.max(1)),
            min_session_timeout_ms: config.min_session_timeout_ms,
            max_session_timeout_ms: config.max_session_timeout_ms,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }
}

impl QuorumPeer {
    fn to_client(&mut self, conn: ConnId, msg: ServerMessage) {
        self.out.push(Action::ToClient { conn, msg });
    }

    fn close_client(&mut self, conn: ConnId) {
        if let Some(c) = self.serving.conns.remove(&conn) {
            if let Some(session) = c.session {
                if self.serving.session_conn.get(&session) == Some(&conn) {
                    self.serving.session_conn.remove(&session);
                    self.serving.queues.remove(&session);
                    self.db.tree.remove_watcher(session);
                }
            }
        }
        self.serving.pending_connects.retain(|_, p| p.conn != conn);
        self.out.push(Action::CloseClient { conn });
    }

    /// The server stops serving (it left following or leading): every client is cut off.
    pub(super) fn close_all_clients(&mut self) {
        let conns: Vec<ConnId> = self.serving.conns.keys().copied().collect();
        for conn in conns {
            self.close_client(conn);
        }
        self.serving.queues.clear();
        self.serving.pending_connects.clear();
    }

    /// A client opened a connection to this server.
    pub fn on_client_connected(&mut self, now_ms: i64, conn: ConnId) {
        self.set_now_ms(now_ms);
        if !self.is_serving() {
            // ZooKeeper refuses connections while its server is not running.
            self.out.push(Action::CloseClient { conn });
            return;
        }
        self.serving.conns.insert(conn, Conn { session: None, auth: Vec::new() });
    }

    /// The client's connection went away.
    pub fn on_client_disconnected(&mut self, now_ms: i64, conn: ConnId) {
        self.set_now_ms(now_ms);
        if self.serving.conns.contains_key(&conn) {
            self.close_client(conn);
            // The shell knows; the CloseClient just pushed is harmless.
        }
    }

    pub fn on_client_message(&mut self, now_ms: i64, conn: ConnId, msg: ClientMessage) {
        // The leader stamps txns (ctime/mtime) and touches sessions with this clock.
        self.set_now_ms(now_ms);
        if !self.serving.conns.contains_key(&conn) {
            return;
        }
        if !self.is_serving() {
            self.close_client(conn);
            return;
        }
        match msg {
            ClientMessage::Connect(request) => self.on_connect_request(conn, request),
            ClientMessage::Request { xid, request } => self.on_client_request(conn, xid, request),
        }
    }

    // ------------------------------------------------------------------ connect

    fn on_connect_request(&mut self, conn: ConnId, request: ConnectRequest) {
        if request.last_zxid_seen > self.db.last_processed_zxid() && !self.config.bugs.has(Bug::AcceptClientAhead) {
            // "Refusing session request for client as it has seen zxid ... our last zxid is ...".
            self.close_client(conn);
            return;
        }
        let timeout_ms = request.timeout_ms.clamp(self.serving.min_session_timeout_ms, self.serving.max_session_timeout_ms);
        if request.session_id == 0 {
            let session = self.serving.next_session_id;
            self.serving.next_session_id += 1;
            self.serving.pending_connects.insert(session, PendingConnect { conn, timeout_ms });
            if self.is_leader() {
                let me = self.config.my_id;
                self.leader_create_session(me, session, timeout_ms);
            } else {
                self.send_to_leader(PeerMessage::CreateSession { session, timeout_ms });
            }
            return;
        }
        let session = request.session_id;
        if session_password(session) != request.password {
            self.refuse_session(conn, session);
            return;
        }
        self.serving.pending_connects.insert(session, PendingConnect { conn, timeout_ms });
        if self.is_leader() {
            let me = self.config.my_id;
            let valid = self.leader_revalidate(me, session);
            self.on_revalidate_reply(session, valid);
        } else {
            self.send_to_leader(PeerMessage::Revalidate { session, timeout_ms });
        }
    }

    fn send_to_leader(&mut self, msg: PeerMessage) {
        if let Some(leader) = self.leader_id() {
            self.send(leader, msg);
        }
    }

    /// Expired or unknown session: timeout 0, then the connection closes.
    fn refuse_session(&mut self, conn: ConnId, session: SessionId) {
        let response = ConnectResponse { protocol_version: 0, timeout_ms: 0, session_id: session, password: [0; 16], read_only: false };
        self.to_client(conn, ServerMessage::Connected(response));
        self.close_client(conn);
    }

    fn finish_session_init(&mut self, session: SessionId) {
        let Some(pending) = self.serving.pending_connects.remove(&session) else { return };
        let conn = pending.conn;
        if !self.serving.conns.contains_key(&conn) {
            return;
        }
        if let Some(old) = self.serving.session_conn.insert(session, conn) {
            if old != conn {
                self.serving.queues.remove(&session);
                self.out.push(Action::CloseClient { conn: old });
                self.serving.conns.remove(&old);
            }
        }
        self.serving.conns.get_mut(&conn).expect("checked").session = Some(session);
        let timeout_ms = self.db.sessions.get(&session).copied().unwrap_or(pending.timeout_ms);
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms,
            session_id: session,
            password: session_password(session),
            read_only: false,
        };
        self.to_client(conn, ServerMessage::Connected(response));
        self.touch_session(session, timeout_ms);
    }

    /// The leader's answer to a reconnect (`Learner.validateSession`).
    pub(super) fn on_revalidate_reply(&mut self, session: SessionId, valid: bool) {
        if valid {
            self.finish_session_init(session);
        } else if let Some(pending) = self.serving.pending_connects.remove(&session) {
            self.refuse_session(pending.conn, session);
        }
    }

    fn touch_session(&mut self, session: SessionId, timeout_ms: i32) {
        let now = self.now_ms();
        if let Some((_, sessions, _)) = self.leader_state_parts() {
            sessions.touch(session, now);
        } else {
            self.learner_touch(session, timeout_ms);
        }
    }

    // ------------------------------------------------------------------ requests

    fn on_client_request(&mut self, conn: ConnId, xid: i32, request: Request) {
        let Some(session) = self.serving.conns[&conn].session else {
            // A request before the handshake finished: a protocol error.
            self.close_client(conn);
            return;
        };
        if request.wire_length() > JUTE_MAX_BUFFER_BYTES {
            self.close_client(conn);
            return;
        }
        let timeout = self.db.sessions.get(&session).copied().unwrap_or(0);
        self.touch_session(session, timeout);
        if let Request::Auth { scheme, auth } = &request {
            self.on_add_auth(conn, scheme, auth);
            return;
        }
        // Queue first: on the leader the answer (a sync with nothing outstanding) can come
        // back within `submit_to_leader`, and must find the request waiting for it.
        let pending = Pending { conn, xid, request };
        let to_leader = pending.waits_for_leader().then(|| pending.request.clone());
        self.serving.queues.entry(session).or_default().push_back(pending);
        self.drain_queue(session);
        if let Some(request) = to_leader {
            let auth = self.serving.conns[&conn].auth.clone();
            self.submit_to_leader(session, xid, request, auth);
        }
    }

    /// `addAuth` is answered at once (xid −4); a bad credential closes the connection.
    fn on_add_auth(&mut self, conn: ConnId, scheme: &str, auth: &[u8]) {
        let zxid = self.db.last_processed_zxid();
        match authenticate(scheme, auth, "127.0.0.1") {
            Ok(id) => {
                let c = self.serving.conns.get_mut(&conn).expect("known");
                if !c.auth.contains(&id) {
                    c.auth.push(id);
                }
                self.to_client(conn, ServerMessage::Reply { xid: AUTH_XID, zxid, result: Ok(Response::Empty) });
            }
            Err(code) => {
                self.to_client(conn, ServerMessage::Reply { xid: AUTH_XID, zxid, result: Err(code) });
                self.close_client(conn);
            }
        }
    }

    fn submit_to_leader(&mut self, session: SessionId, xid: i32, request: Request, auth: Vec<Id>) {
        if self.is_leader() {
            let me = self.config.my_id;
            self.leader_submit(me, session, xid, request, auth);
        } else {
            self.send_to_leader(PeerMessage::Request { session, cxid: xid, request, auth });
        }
    }

    /// Serves the session's requests from the head until one waits for the leader.
    fn drain_queue(&mut self, session: SessionId) {
        loop {
            let Some(queue) = self.serving.queues.get_mut(&session) else { return };
            let Some(head) = queue.front() else { return };
            if head.waits_for_leader() {
                return;
            }
            let head = queue.pop_front().expect("head");
            self.serve_local(session, head);
        }
    }

    fn serve_local(&mut self, session: SessionId, pending: Pending) {
        let zxid = self.db.last_processed_zxid();
        if let Request::Ping = pending.request {
            self.to_client(pending.conn, ServerMessage::Reply { xid: PING_XID, zxid, result: Ok(Response::Empty) });
            return;
        }
        let auth = self.serving.conns.get(&pending.conn).map(|c| c.auth.clone()).unwrap_or_default();
        let mut outputs = Vec::new();
        let result = serve_read(&mut self.db.tree, session, &auth, &pending.request, &mut outputs);
        for output in outputs {
            if let ServerOutput::Event { event, .. } = output {
                self.to_client(pending.conn, ServerMessage::Event { event });
            }
        }
        self.to_client(pending.conn, ServerMessage::Reply { xid: pending.xid, zxid, result });
    }

    /// After a committed txn is applied: watch events, then the reply to the local client that
    /// asked for it, then whatever of its session can now be served.
    pub(super) fn on_applied_for_clients(&mut self, entry: &Arc<TxnEntry>, rc: &ProcessTxnResult, events: Vec<Notification>) {
        for (watcher, event) in events {
            if let Some(&conn) = self.serving.session_conn.get(&watcher) {
                self.to_client(conn, ServerMessage::Event { event });
            }
        }
        let header = entry.header;
        let session = header.client_id;
        if let Txn::CreateSession { .. } = entry.txn {
            self.finish_session_init(session);
            return;
        }
        self.answer_committed_write(entry, rc);
        if let Txn::CloseSession { .. } = entry.txn {
            if let Some(&conn) = self.serving.session_conn.get(&session) {
                self.close_client(conn);
            }
            return;
        }
        self.drain_queue(session);
    }

    fn answer_committed_write(&mut self, entry: &Arc<TxnEntry>, rc: &ProcessTxnResult) {
        let header = entry.header;
        let Some(queue) = self.serving.queues.get_mut(&header.client_id) else { return };
        let Some(head) = queue.front() else { return };
        if head.xid != header.cxid || !head.waits_for_leader() || matches!(head.request, Request::Sync { .. }) {
            return;
        }
        let head = queue.pop_front().expect("head");
        let result = match &entry.txn {
            Txn::Error { err } if !matches!(head.request, Request::Multi { .. }) => Err(*err),
            Txn::CloseSession { .. } => Ok(Response::Empty),
            _ => response_for_txn(&head.request, rc),
        };
        self.observe(Observation::Acknowledged { zxid: header.zxid });
        self.to_client(head.conn, ServerMessage::Reply { xid: head.xid, zxid: header.zxid, result });
    }

    /// The leader says a sync is through: answer it (the COMMITs before it are applied).
    pub(super) fn on_sync_done(&mut self, session: SessionId, cxid: i32) {
        let zxid = self.db.last_processed_zxid();
        let Some(queue) = self.serving.queues.get_mut(&session) else { return };
        let Some(head) = queue.front() else { return };
        let Request::Sync { path } = &head.request else { return };
        if head.xid != cxid {
            return;
        }
        let path = path.clone();
        let head = queue.pop_front().expect("head");
        self.to_client(head.conn, ServerMessage::Reply { xid: head.xid, zxid, result: Ok(Response::Sync { path }) });
        self.drain_queue(session);
    }

    // ------------------------------------------------------------------ leader side

    /// `PrepRequestProcessor` for a createSession from `origin`.
    pub(super) fn leader_create_session(&mut self, origin: ServerId, session: SessionId, timeout_ms: i32) {
        let now = self.now_ms();
        let Some(zxid) = self.next_zxid() else { return };
        let Some((preparer, sessions, owners)) = self.leader_state_parts() else { return };
        sessions.track_session(session, timeout_ms, now);
        owners.insert(session, origin);
        let txn = preparer.prepare_create_session(timeout_ms);
        let header = TxnHeader { client_id: session, cxid: 0, zxid, time_ms: now };
        self.propose(TxnEntry { header, txn });
    }

    /// Touches a reconnecting session and moves its ownership; false if expired or unknown.
    pub(super) fn leader_revalidate(&mut self, origin: ServerId, session: SessionId) -> bool {
        let now = self.now_ms();
        let Some((_, sessions, owners)) = self.leader_state_parts() else { return false };
        let valid = sessions.touch(session, now);
        let moved = valid && owners.insert(session, origin).is_some_and(|previous| previous != origin);
        if moved {
            self.pass(FaultPoint::ConnectionMoved, Some(origin));
        }
        valid
    }

    /// A write, sync or close from a client of `origin`, prepared against outstanding changes.
    pub(super) fn leader_submit(&mut self, origin: ServerId, session: SessionId, cxid: i32, request: Request, auth: Vec<Id>) {
        if let Request::Sync { .. } = request {
            self.leader_process_sync(origin, session, cxid);
            return;
        }
        let now = self.now_ms();
        let Some(zxid) = self.next_zxid() else {
            self.on_zxid_overflow();
            return;
        };
        let header = TxnHeader { client_id: session, cxid, zxid, time_ms: now };
        let txn = self.prepare_txn(origin, &header, &request, &auth);
        self.propose(TxnEntry { header, txn });
    }

    fn prepare_txn(&mut self, origin: ServerId, header: &TxnHeader, request: &Request, auth: &[Id]) -> Txn {
        let now = self.now_ms();
        let session = header.client_id;
        let prepared = self.with_leader_prep(|preparer, sessions, owners, tree| {
            let known = sessions.get(session).is_some_and(|s| !s.closing);
            if let Request::CloseSession = request {
                sessions.set_closing(session);
                preparer.prepare_close_session(tree, header)
            } else if !known {
                Txn::Error { err: Code::SessionExpired }
            } else if owners.get(&session).is_some_and(|&owner| owner != origin) {
                Txn::Error { err: Code::SessionMoved }
            } else {
                sessions.touch(session, now);
                preparer.prepare(tree, header, request, Requester { session_id: session, auth })
            }
        });
        prepared.expect("prepare runs on an established leader")
    }

    fn on_zxid_overflow(&mut self) {
        tracing::warn!(server = self.config.my_id, "zxid counter would overflow: leader gives up");
        self.force_looking();
    }

    /// Sessions whose deadline passed become closeSession transactions (leader only).
    pub(super) fn expire_sessions(&mut self, now_ms: i64) {
        let keep_ephemerals = self.config.bugs.has(Bug::ExpiryKeepsEphemerals);
        let expired = match self.leader_state_parts() {
            Some((_, sessions, _)) => sessions.expire(now_ms),
            None => return,
        };
        for session in expired {
            if keep_ephemerals {
                // The bug: the session is closed to its client (marked closing: reconnects and
                // requests get SessionExpired) but no closeSession txn is proposed, so no
                // replica ever deletes its ephemerals. (Emptying the txn's path list is not
                // enough: like ZooKeeper's killSession, a replica also deletes the session's
                // ephemerals it tracks locally.)
                continue;
            }
            let Some(zxid) = self.next_zxid() else { return };
            self.pass(FaultPoint::SessionExpired, None);
            let header = TxnHeader { client_id: session, cxid: 0, zxid, time_ms: now_ms };
            let prepared = self.with_leader_prep(|preparer, sessions, _, tree| {
                sessions.set_closing(session);
                preparer.prepare_close_session(tree, &header)
            });
            let txn = prepared.expect("expiry runs on an established leader");
            self.propose(TxnEntry { header, txn });
        }
    }

    /// The zxid of the last committed txn this server applied.
    pub fn last_applied_zxid(&self) -> Zxid {
        self.db.last_processed_zxid()
    }
}
