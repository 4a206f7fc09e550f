//! Client connections: connect, session establishment through the leader, revalidation,
//! disconnect.


use crate::proto::SessionId;
use crate::server::session_tracker::session_password;
use crate::wire::{ClientMessage, ConnectRequest, ConnectResponse, ServerMessage};
use crate::zab::action::{Action, ConnId};
use crate::zab::peer::QuorumPeer;
use crate::zab::serving::state::{Conn, PendingConnect};
use crate::zab::fault_point::FaultPoint;
use crate::zab::{Bug, PeerMessage};

impl QuorumPeer {
    pub(in crate::zab) fn to_client(&mut self, conn: ConnId, msg: ServerMessage) {
        let c = self.serving.conns.get_mut(&conn).expect("a message goes to a connection this server holds");
        if let ServerMessage::Reply { xid, zxid, .. } = &msg {
            c.record_reply(*xid, *zxid);
        }
        self.out.push(Action::ToClient { conn, msg: Box::new(msg) });
    }

    pub(in crate::zab) fn close_client(&mut self, conn: ConnId) {
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
        assert!(!self.serving.session_conn.values().any(|&c| c == conn), "no session stays bound to a closed connection");
        self.out.push(Action::CloseClient { conn });
    }

    /// The server stops serving (it left following or leading): every client is cut off.
    pub(in crate::zab) fn close_all_clients(&mut self) {
        let conns: Vec<ConnId> = self.serving.conns.keys().copied().collect();
        for conn in conns {
            self.close_client(conn);
        }
        self.serving.queues.clear();
        self.serving.pending_connects.clear();
        assert!(self.serving.conns.is_empty() && self.serving.session_conn.is_empty(), "every client is cut off");
    }

    /// The shell reset this server's client port (a nemesis: ZooKeeper's
    /// `ServerCnxnFactory.closeAll`): every client is cut off and moves to another server with
    /// the last zxid it saw here. The sessions live on at the leader; the server keeps its role.
    pub fn reset_client_port(&mut self, now_ms: i64) {
        self.set_now_ms(now_ms);
        self.close_all_clients();
    }

    /// A client opened a connection to this server.
    pub fn on_client_connected(&mut self, now_ms: i64, conn: ConnId) {
        self.set_now_ms(now_ms);
        if !self.is_serving() {
            // ZooKeeper refuses connections while its server is not running.
            self.out.push(Action::CloseClient { conn });
            return;
        }
        let fresh = self.serving.conns.insert(conn, Conn::new()).is_none();
        assert!(fresh, "the shell numbers connections uniquely ({conn})");
    }

    /// The client's connection went away.
    pub fn on_client_disconnected(&mut self, now_ms: i64, conn: ConnId) {
        self.set_now_ms(now_ms);
        if self.serving.conns.contains_key(&conn) {
            self.close_client(conn);
            // The shell knows; the CloseClient just pushed is harmless.
        }
        assert!(!self.serving.conns.contains_key(&conn), "a disconnected client is forgotten");
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
        assert!(self.leader_id().is_some(), "a serving server has a leader");
        match msg {
            ClientMessage::Connect(request) => self.on_connect_request(conn, request),
            ClientMessage::Request { xid, request } => self.on_client_request(conn, xid, request),
        }
    }

    // ------------------------------------------------------------------ connect

    pub(in crate::zab) fn on_connect_request(&mut self, conn: ConnId, request: ConnectRequest) {
        if request.last_zxid_seen > self.db.last_processed_zxid() {
            self.pass(FaultPoint::ClientAhead, None);
            if !self.config.bugs.has(Bug::AcceptClientAhead) {
                // "Refusing session request for client as it has seen zxid ... our last zxid is ...".
                self.close_client(conn);
                return;
            }
        }
        assert!(self.serving.conns[&conn].session.is_none(), "one handshake per connection");
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

    pub(in crate::zab) fn send_to_leader(&mut self, msg: PeerMessage) {
        assert!(!self.is_leader(), "the leader handles its own clients' requests in place");
        if let Some(leader) = self.leader_id() {
            self.send(leader, msg);
        }
    }

    /// Expired or unknown session: timeout 0, then the connection closes.
    pub(in crate::zab) fn refuse_session(&mut self, conn: ConnId, session: SessionId) {
        let response = ConnectResponse { protocol_version: 0, timeout_ms: 0, session_id: session, password: [0; 16], read_only: false };
        self.to_client(conn, ServerMessage::Connected(response));
        self.close_client(conn);
        assert!(self.serving.session_conn.get(&session) != Some(&conn), "a refused session is not bound");
    }

    pub(in crate::zab) fn finish_session_init(&mut self, session: SessionId) {
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
        assert_eq!(self.serving.session_conn.get(&session), Some(&conn), "an established session is bound to its connection");
        self.touch_session(session, timeout_ms);
    }

    /// The leader's answer to a reconnect (`Learner.validateSession`).
    pub(in crate::zab) fn on_revalidate_reply(&mut self, session: SessionId, valid: bool) {
        assert_ne!(session, 0, "only an existing session is revalidated");
        if valid {
            self.finish_session_init(session);
        } else if let Some(pending) = self.serving.pending_connects.remove(&session) {
            self.refuse_session(pending.conn, session);
        }
    }

    pub(in crate::zab) fn touch_session(&mut self, session: SessionId, timeout_ms: i32) {
        assert_ne!(session, 0, "a client's session has an id");
        let now = self.now_ms();
        if let Some((_, sessions, _)) = self.leader_state_parts() {
            sessions.touch(session, now);
        } else {
            self.learner_touch(session, timeout_ms);
        }
    }
}
