//! The per-session request pipeline: reads wait behind the session's own writes, writes go to
//! the leader, and each committed txn answers its client after the watch events it fires.

use std::sync::Arc;

use crate::proto::{Id, Request, Response, SessionId, JUTE_MAX_BUFFER_BYTES};
use crate::server::{response_for_txn, serve_read, ServerOutput};
use crate::tree::acl::authenticate;
use crate::tree::data_tree::ProcessTxnResult;
use crate::tree::watch::Notification;
use crate::tree::{Txn, TxnEntry};
use crate::wire::{ServerMessage, AUTH_XID, PING_XID};
use crate::zab::action::{ConnId, Observation};
use crate::zab::peer::QuorumPeer;
use crate::zab::serving::state::Pending;
use crate::zab::{Bug, PeerMessage};

impl QuorumPeer {
    // ------------------------------------------------------------------ requests

    pub(in crate::zab) fn on_client_request(&mut self, conn: ConnId, xid: i32, request: Request) {
        assert!(xid >= 0 || !request.is_write(), "a write carries a client xid, not {xid}");
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
    pub(in crate::zab) fn on_add_auth(&mut self, conn: ConnId, scheme: &str, auth: &[u8]) {
        let zxid = self.db.last_processed_zxid();
        assert!(self.serving.conns[&conn].session.is_some(), "addAuth on an established session");
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

    pub(in crate::zab) fn submit_to_leader(&mut self, session: SessionId, xid: i32, request: Request, auth: Vec<Id>) {
        assert!(request.is_write() || matches!(request, Request::Sync { .. } | Request::CloseSession), "only writes, sync and close go to the leader");
        if self.is_leader() {
            let me = self.config.my_id;
            self.leader_submit(me, session, xid, request, auth);
        } else {
            self.send_to_leader(PeerMessage::Request { session, cxid: xid, request: Box::new(request), auth });
        }
    }

    /// Serves the session's requests from the head until one waits for the leader.
    pub(in crate::zab) fn drain_queue(&mut self, session: SessionId) {
        loop {
            let Some(queue) = self.serving.queues.get_mut(&session) else { return };
            let Some(head) = queue.front() else { return };
            if head.waits_for_leader() {
                return;
            }
            let head = queue.pop_front().expect("head");
            assert!(self.serving.session_conn.get(&session) == Some(&head.conn), "a session's requests came on its connection");
            self.serve_local(session, head);
        }
    }

    pub(in crate::zab) fn serve_local(&mut self, session: SessionId, pending: Pending) {
        assert!(!pending.waits_for_leader(), "only reads are served locally");
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
    pub(in crate::zab) fn on_applied_for_clients(&mut self, entry: &Arc<TxnEntry>, rc: &ProcessTxnResult, events: Vec<Notification>) {
        for (watcher, event) in events {
            if let Some(&conn) = self.serving.session_conn.get(&watcher) {
                self.to_client(conn, ServerMessage::Event { event });
            }
        }
        let header = entry.header;
        let session = header.client_id;
        assert!(
            header.zxid == self.db.last_processed_zxid() || self.config.bugs.has(Bug::Zk2355),
            "clients hear of a txn once the tree is at it"
        );
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

    pub(in crate::zab) fn answer_committed_write(&mut self, entry: &Arc<TxnEntry>, rc: &ProcessTxnResult) {
        let header = entry.header;
        let Some(queue) = self.serving.queues.get_mut(&header.client_id) else { return };
        let Some(head) = queue.front() else { return };
        if head.xid != header.cxid || !head.waits_for_leader() || matches!(head.request, Request::Sync { .. }) {
            return;
        }
        let head = queue.pop_front().expect("head");
        assert!(header.zxid > 0 && head.request.is_write() || matches!(head.request, Request::CloseSession), "a committed txn answers a write");
        let result = match &entry.txn {
            Txn::Error { err } if !matches!(head.request, Request::Multi { .. }) => Err(*err),
            Txn::CloseSession { .. } => Ok(Response::Empty),
            _ => response_for_txn(&head.request, rc),
        };
        self.observe(Observation::Acknowledged { zxid: header.zxid });
        self.to_client(head.conn, ServerMessage::Reply { xid: head.xid, zxid: header.zxid, result });
    }

    /// The leader says a sync is through: answer it (the COMMITs before it are applied).
    pub(in crate::zab) fn on_sync_done(&mut self, session: SessionId, cxid: i32) {
        let zxid = self.db.last_processed_zxid();
        let Some(queue) = self.serving.queues.get_mut(&session) else { return };
        let Some(head) = queue.front() else { return };
        let Request::Sync { path } = &head.request else { return };
        if head.xid != cxid {
            return;
        }
        let path = path.clone();
        let head = queue.pop_front().expect("head");
        assert!(self.serving.session_conn.get(&session) == Some(&head.conn), "a sync is answered on its session's connection");
        self.to_client(head.conn, ServerMessage::Reply { xid: head.xid, zxid, result: Ok(Response::Sync { path }) });
        self.drain_queue(session);
    }
}
