//! The client connection state machine (`ClientCnxn` with its `SendThread`, `HostProvider` and
//! watch manager), as a deterministic core: events in, [`ClientAction`]s out.
//!
//! Rules kept from ZooKeeper 3.8's `ClientCnxn`, with the Java they come from:
//! - servers are tried in list order, round-robin (`StaticHostProvider.next`); after a full
//!   round back to the last server that accepted us, `spin_delay_ms` more (`next(1000)`); every
//!   connect but the first waits `reconnect_delay_ms` (ZooKeeper: a random 0–1000 ms; the shell
//!   draws it and hands it in with [`ClientCore::set_reconnect_delay_ms`]);
//! - `primeConnection`: `ConnectRequest` first; after the `ConnectResponse`, the auth packets
//!   (xid −4), then `SetWatches` (xid −8, relative to the last zxid seen), then queued requests;
//! - `readTimeout = negotiated * 2 / 3`, `connectTimeout = negotiated / servers` (before the
//!   first response: the requested timeout); a connection silent that long is dropped;
//! - a ping when idle: `readTimeout / 2 - idleSend - (idleSend > 1000 ? 1000 : 0) <= 0` or
//!   `idleSend > 10 s`;
//! - replies are matched FIFO against the pending queue; another xid is "Xid out of order" and
//!   drops the connection; `lastZxid` moves on every reply with a zxid > 0 (pings, auth and
//!   events do not move it);
//! - `cleanup()` on any connection loss fails pending *and* queued requests: ConnectionLoss
//!   while the session lives, SessionExpired once closed/expired, AuthFailed after an auth
//!   failure; a `ConnectResponse` with timeout 0 is expiry: no more reconnects;
//! - xids are taken when a request is written (`ClientCnxnSocket.doIO`), not when submitted.
//!
//! Deliberate differences: a `State` action is emitted only when the state changes (ZooKeeper
//! queues another `Disconnected` after every failed attempt); `Expired` and `AuthFailed` are
//! final (no `Closed` after them); `close()` while waiting to reconnect ends at once instead of
//! connecting first; auth packets without a user op (re-sent ones) complete nothing.

use std::collections::VecDeque;

use crate::proto::{Code, Request, Response, SessionId, WatchedEvent, Zxid};
use crate::wire::{ClientMessage, ConnectRequest, ServerMessage, AUTH_XID, PING_XID, SET_WATCHES_XID};

use super::watches::ClientWatches;

/// A server's id (`myid`); the shell maps it to an address.
pub type ServerId = i64;

/// A user operation, numbered in submission order (unlike xids, which are taken at send time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// `Watcher.Event.KeeperState`, the states an application is told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeeperState {
    Disconnected,
    SyncConnected,
    AuthFailed,
    Expired,
    Closed,
}

/// `ClientCnxn.MAX_SEND_PING_INTERVAL`.
pub const MAX_SEND_PING_INTERVAL_MS: i64 = 10_000;
/// Bound on queued plus pending operations (a limit on every queue).
pub const MAX_OUTSTANDING_OPS: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Servers to try, in order; the caller shuffles them with the run's seed (ZooKeeper
    /// shuffles its connect string).
    pub servers: Vec<ServerId>,
    /// The requested session timeout (`sessionTimeout`).
    pub session_timeout_ms: i32,
    pub can_be_read_only: bool,
    /// Wait before every reconnect but the first; ZooKeeper draws 0–1000 ms at random.
    pub reconnect_delay_ms: i64,
    /// `StaticHostProvider`'s spin delay once every server was tried (ZooKeeper: 1000 ms).
    pub spin_delay_ms: i64,
}

impl ClientConfig {
    pub fn new(servers: Vec<ServerId>, session_timeout_ms: i32) -> ClientConfig {
        ClientConfig { servers, session_timeout_ms, can_be_read_only: false, reconnect_delay_ms: 0, spin_delay_ms: 1000 }
    }
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    /// Open a FIFO transport to `server`, then report `on_transport_connected` or
    /// `on_transport_lost`.
    Connect { server: ServerId },
    /// Write this message on the open transport.
    Send(ClientMessage),
    /// Close the current transport; report nothing more about it.
    Disconnect,
    /// A user operation finished: (reply zxid, response) or the error code.
    Complete { op: OpId, result: Result<(Zxid, Response), Code> },
    /// A watch notification for the application (only ones a registered watch wants).
    Watch(WatchedEvent),
    /// The session's state changed.
    State(KeeperState),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    NotStarted,
    /// No transport; `Connect` is due at `connect_at_ms`.
    Waiting { connect_at_ms: i64 },
    /// `Connect` emitted, transport not open yet.
    Opening { server: ServerId },
    /// Transport open, `ConnectRequest` written, waiting for the `ConnectResponse`.
    Handshake { server: ServerId },
    Connected { server: ServerId },
    /// No more connections: `Expired`, `AuthFailed` or `Closed`.
    Ended(KeeperState),
}

#[derive(Clone, Debug)]
struct Pending {
    xid: i32,
    op: OpId,
    request: Request,
}

#[derive(Clone, Debug)]
struct AuthEntry {
    scheme: String,
    auth: Vec<u8>,
    /// The user op of an `addAuth` submitted while disconnected, completed by its first send.
    unsent_op: Option<OpId>,
}

pub struct ClientCore {
    config: ClientConfig,
    phase: Phase,
    out: Vec<ClientAction>,
    session_id: SessionId,
    password: [u8; 16],
    negotiated_timeout_ms: i32,
    read_timeout_ms: i64,
    connect_timeout_ms: i64,
    last_zxid: Zxid,
    next_xid: i32,
    next_op: u64,
    /// `StaticHostProvider`: index of the server tried last, and of the last one connected
    /// (`lastIndex`: 0 after the first attempt until a connection succeeds).
    current_index: Option<usize>,
    last_connected_index: Option<usize>,
    is_first_connect: bool,
    closing: bool,
    last_heard_ms: i64,
    last_sent_ms: i64,
    /// Sent, awaiting replies in xid order (`pendingQueue`).
    pending: VecDeque<Pending>,
    /// Submitted while not connected (`outgoingQueue`).
    outgoing: VecDeque<(OpId, Request)>,
    auth_info: Vec<AuthEntry>,
    /// Auth packets sent, awaiting their −4 replies in order; `Some` for a user op.
    auth_waiters: VecDeque<Option<OpId>>,
    watches: ClientWatches,
    last_state: Option<KeeperState>,
}

impl ClientCore {
    pub fn new(config: ClientConfig) -> ClientCore {
        assert!(!config.servers.is_empty(), "a client needs at least one server");
        assert!(config.session_timeout_ms > 0, "session timeout must be positive");
        let count = config.servers.len() as i64;
        ClientCore {
            read_timeout_ms: config.session_timeout_ms as i64 * 2 / 3,
            connect_timeout_ms: config.session_timeout_ms as i64 / count,
            config,
            phase: Phase::NotStarted,
            out: Vec::new(),
            session_id: 0,
            password: [0; 16],
            negotiated_timeout_ms: 0,
            last_zxid: 0,
            next_xid: 1,
            next_op: 0,
            current_index: None,
            last_connected_index: None,
            is_first_connect: true,
            closing: false,
            last_heard_ms: 0,
            last_sent_ms: 0,
            pending: VecDeque::new(),
            outgoing: VecDeque::new(),
            auth_info: Vec::new(),
            auth_waiters: VecDeque::new(),
            watches: ClientWatches::default(),
            last_state: None,
        }
    }

    // ------------------------------------------------------------------ queries

    /// Takes the actions produced since the last call, in order.
    pub fn drain_actions(&mut self) -> Vec<ClientAction> {
        std::mem::take(&mut self.out)
    }

    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    pub fn session_password(&self) -> [u8; 16] {
        self.password
    }

    /// The highest zxid seen in a reply (`lastZxid`).
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    pub fn negotiated_timeout_ms(&self) -> i32 {
        self.negotiated_timeout_ms
    }

    pub fn read_timeout_ms(&self) -> i64 {
        self.read_timeout_ms
    }

    pub fn connect_timeout_ms(&self) -> i64 {
        self.connect_timeout_ms
    }

    /// The server of the current transport (opening, handshaking or connected).
    pub fn current_server(&self) -> Option<ServerId> {
        match self.phase {
            Phase::Opening { server } | Phase::Handshake { server } | Phase::Connected { server } => Some(server),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected { .. })
    }

    /// Whether the client can still reach the session (`States.isAlive`).
    pub fn is_alive(&self) -> bool {
        !matches!(self.phase, Phase::Ended(_))
    }

    /// The last state reported to the application.
    pub fn state(&self) -> Option<KeeperState> {
        self.last_state
    }

    /// Sent requests awaiting a reply.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Requests waiting for a connection.
    pub fn queued_count(&self) -> usize {
        self.outgoing.len()
    }

    pub fn watches(&self) -> &ClientWatches {
        &self.watches
    }

    /// When the shell must call `on_tick` at the latest (None: nothing timed is due).
    pub fn next_deadline_ms(&self) -> Option<i64> {
        match self.phase {
            Phase::Waiting { connect_at_ms } => Some(connect_at_ms),
            Phase::Opening { .. } | Phase::Handshake { .. } => Some(self.last_heard_ms + self.connect_timeout_ms),
            Phase::Connected { .. } => Some(
                (self.last_heard_ms + self.read_timeout_ms).min(self.last_sent_ms + self.ping_idle_threshold_ms()),
            ),
            Phase::NotStarted | Phase::Ended(_) => None,
        }
    }

    /// Sets the wait before the next reconnect (the shell's seeded draw of ZooKeeper's random
    /// 0–1000 ms); it stays until set again.
    pub fn set_reconnect_delay_ms(&mut self, delay_ms: i64) {
        assert!(delay_ms >= 0);
        self.config.reconnect_delay_ms = delay_ms;
    }

    // ------------------------------------------------------------------ events

    pub fn on_start(&mut self, now_ms: i64) {
        if self.phase != Phase::NotStarted {
            return;
        }
        self.start_connect(now_ms);
        assert!(matches!(self.phase, Phase::Opening { .. }));
    }

    /// The transport asked for with `Connect` is open: write the `ConnectRequest`.
    pub fn on_transport_connected(&mut self, now_ms: i64) {
        let Phase::Opening { server } = self.phase else {
            tracing::debug!("client: transport connected while {:?}; ignored", self.phase);
            return;
        };
        self.is_first_connect = false;
        self.phase = Phase::Handshake { server };
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            timeout_ms: self.config.session_timeout_ms,
            session_id: self.session_id,
            password: self.password,
            read_only: self.config.can_be_read_only,
        };
        self.send(now_ms, ClientMessage::Connect(request));
    }

    /// The transport broke, was refused or was closed by the server.
    pub fn on_transport_lost(&mut self, now_ms: i64) {
        if self.current_server().is_none() {
            tracing::debug!("client: transport lost while {:?}; ignored", self.phase);
            return;
        }
        self.lose_connection(now_ms, false, "transport lost");
    }

    pub fn on_message(&mut self, now_ms: i64, message: ServerMessage) {
        match self.phase {
            Phase::Handshake { server } => {
                self.last_heard_ms = now_ms;
                match message {
                    ServerMessage::Connected(response) => {
                        self.on_connected(now_ms, server, response.timeout_ms, response.session_id, response.password)
                    }
                    other => {
                        tracing::warn!("client: {other:?} before the ConnectResponse");
                        self.lose_connection(now_ms, true, "message before ConnectResponse");
                    }
                }
            }
            Phase::Connected { .. } => {
                self.last_heard_ms = now_ms;
                match message {
                    ServerMessage::Event { event } => {
                        if self.watches.materialize(&event) {
                            self.out.push(ClientAction::Watch(event));
                        }
                    }
                    ServerMessage::Reply { xid, zxid, result } => self.on_reply(now_ms, xid, zxid, result),
                    ServerMessage::Connected(_) => {
                        self.lose_connection(now_ms, true, "second ConnectResponse");
                    }
                }
            }
            _ => tracing::debug!("client: message while {:?}; ignored", self.phase),
        }
        self.check_invariants();
    }

    /// Timers: reconnect due, connect or read timeout, ping.
    pub fn on_tick(&mut self, now_ms: i64) {
        match self.phase {
            Phase::Waiting { connect_at_ms } if now_ms >= connect_at_ms => self.start_connect(now_ms),
            Phase::Opening { .. } | Phase::Handshake { .. } if now_ms - self.last_heard_ms >= self.connect_timeout_ms => {
                self.lose_connection(now_ms, true, "connect timeout")
            }
            Phase::Connected { .. } => {
                if now_ms - self.last_heard_ms >= self.read_timeout_ms {
                    self.lose_connection(now_ms, true, "read timeout");
                } else if now_ms - self.last_sent_ms >= self.ping_idle_threshold_ms() {
                    self.send(now_ms, ClientMessage::Request { xid: PING_XID, request: Request::Ping });
                }
            }
            _ => {}
        }
        self.check_invariants();
    }

    // ------------------------------------------------------------------ user calls

    /// Submits any request but `Ping` and `SetWatches` (the client's own); `CloseSession` is
    /// [`close`](Self::close). Sent at once when connected, queued otherwise.
    pub fn submit(&mut self, now_ms: i64, request: Request) -> OpId {
        if request == Request::CloseSession {
            return self.close(now_ms);
        }
        let op = self.new_op();
        if matches!(request, Request::Ping | Request::SetWatches { .. }) {
            self.complete(op, Err(Code::BadArguments));
            return op;
        }
        if let Some(code) = self.refusal_code() {
            self.complete(op, Err(code));
            return op;
        }
        assert!(self.pending.len() + self.outgoing.len() < MAX_OUTSTANDING_OPS, "too many outstanding ops");
        if let Request::Auth { scheme, auth } = &request {
            let connected = self.is_connected();
            self.auth_info.push(AuthEntry {
                scheme: scheme.clone(),
                auth: auth.clone(),
                unsent_op: (!connected).then_some(op),
            });
            if connected {
                self.auth_waiters.push_back(Some(op));
                self.send(now_ms, ClientMessage::Request { xid: AUTH_XID, request });
            }
            return op;
        }
        if self.is_connected() {
            self.send_request(now_ms, op, request);
        } else {
            self.outgoing.push_back((op, request));
        }
        op
    }

    /// `ZooKeeper.close()`: sends `closeSession`; the op completes with its reply (or with
    /// ConnectionLoss if the connection goes first), then the state is `Closed`. On a client
    /// already ended it completes at once (ZooKeeper returns quietly).
    pub fn close(&mut self, now_ms: i64) -> OpId {
        let op = self.new_op();
        if let Phase::Ended(_) = self.phase {
            self.complete(op, Ok((self.last_zxid, Response::Empty)));
            return op;
        }
        if self.closing {
            self.complete(op, Err(Code::ConnectionLoss));
            return op;
        }
        self.closing = true;
        match self.phase {
            Phase::Connected { .. } => self.send_request(now_ms, op, Request::CloseSession),
            Phase::Opening { .. } | Phase::Handshake { .. } => self.outgoing.push_back((op, Request::CloseSession)),
            Phase::NotStarted | Phase::Waiting { .. } => {
                self.outgoing.push_back((op, Request::CloseSession));
                self.end_session(KeeperState::Closed, false);
            }
            Phase::Ended(_) => unreachable!(),
        }
        op
    }

    // ------------------------------------------------------------------ internals

    fn new_op(&mut self) -> OpId {
        self.next_op += 1;
        OpId(self.next_op)
    }

    fn complete(&mut self, op: OpId, result: Result<(Zxid, Response), Code>) {
        self.out.push(ClientAction::Complete { op, result });
    }

    fn set_state(&mut self, state: KeeperState) {
        if self.last_state != Some(state) {
            self.last_state = Some(state);
            self.out.push(ClientAction::State(state));
        }
    }

    /// `conLossPacket`'s code for a request that cannot be sent, or None if it can.
    fn refusal_code(&self) -> Option<Code> {
        match self.phase {
            Phase::Ended(state) => Some(ended_code(state)),
            _ if self.closing => Some(Code::ConnectionLoss),
            _ => None,
        }
    }

    fn send(&mut self, now_ms: i64, message: ClientMessage) {
        debug_assert!(self.current_server().is_some(), "send without a transport");
        self.last_sent_ms = now_ms;
        self.out.push(ClientAction::Send(message));
    }

    fn send_request(&mut self, now_ms: i64, op: OpId, request: Request) {
        assert!(self.is_connected());
        let xid = self.next_xid;
        assert!(xid > 0 && xid < i32::MAX, "xids increase and stay positive");
        self.next_xid += 1;
        if let Some(last) = self.pending.back() {
            assert!(last.xid < xid, "pending queue in xid order");
        }
        self.pending.push_back(Pending { xid, op, request: request.clone() });
        self.send(now_ms, ClientMessage::Request { xid, request });
    }

    /// `ZooKeeper`'s wait after `readTimeout / 2` idle, in ms of idle sending.
    fn ping_idle_threshold_ms(&self) -> i64 {
        let half = self.read_timeout_ms / 2;
        let threshold = if half <= 1000 { half } else { (half - 1000).max(1001) };
        threshold.min(MAX_SEND_PING_INTERVAL_MS + 1)
    }

    fn start_connect(&mut self, now_ms: i64) {
        let index = self.current_index.map_or(0, |i| (i + 1) % self.config.servers.len());
        self.current_index = Some(index);
        // StaticHostProvider: the first ever attempt sets lastIndex to 0 (spin after a full round).
        self.last_connected_index.get_or_insert(0);
        let server = self.config.servers[index];
        self.phase = Phase::Opening { server };
        self.last_heard_ms = now_ms;
        self.last_sent_ms = now_ms;
        self.out.push(ClientAction::Connect { server });
    }

    /// The wait before the next `Connect`: the spin delay after a full round, plus the reconnect
    /// delay for every attempt but the first.
    fn reconnect_delay_ms(&self) -> i64 {
        let next = self.current_index.map_or(0, |i| (i + 1) % self.config.servers.len());
        let spin = if Some(next) == self.last_connected_index { self.config.spin_delay_ms } else { 0 };
        let reconnect = if self.is_first_connect { 0 } else { self.config.reconnect_delay_ms };
        spin + reconnect
    }

    /// `onConnected`.
    fn on_connected(&mut self, now_ms: i64, server: ServerId, timeout_ms: i32, session_id: SessionId, password: [u8; 16]) {
        if timeout_ms <= 0 {
            tracing::info!("client: session {session_id:#x} expired");
            self.end_session(KeeperState::Expired, true);
            return;
        }
        self.negotiated_timeout_ms = timeout_ms;
        self.read_timeout_ms = timeout_ms as i64 * 2 / 3;
        self.connect_timeout_ms = timeout_ms as i64 / self.config.servers.len() as i64;
        self.last_connected_index = self.current_index;
        self.session_id = session_id;
        self.password = password;
        self.phase = Phase::Connected { server };
        self.set_state(KeeperState::SyncConnected);
        // primeConnection: auth packets (pushed to the front one by one, so the last added goes
        // first), then SetWatches, then whatever was queued.
        for index in (0..self.auth_info.len()).rev() {
            let entry = &mut self.auth_info[index];
            let request = Request::Auth { scheme: entry.scheme.clone(), auth: entry.auth.clone() };
            let op = entry.unsent_op.take();
            self.auth_waiters.push_back(op);
            self.send(now_ms, ClientMessage::Request { xid: AUTH_XID, request });
        }
        if let Some(request) = self.watches.set_watches_request(self.last_zxid) {
            self.send(now_ms, ClientMessage::Request { xid: SET_WATCHES_XID, request });
        }
        while let Some((op, request)) = self.outgoing.pop_front() {
            self.send_request(now_ms, op, request);
        }
    }

    fn on_reply(&mut self, now_ms: i64, xid: i32, zxid: Zxid, result: Result<Response, Code>) {
        match xid {
            PING_XID => return,
            SET_WATCHES_XID => {
                if let Err(code) = result {
                    tracing::warn!("client: setWatches failed with {code}");
                }
                return;
            }
            AUTH_XID => {
                let op = self.auth_waiters.pop_front().flatten();
                let failed = result == Err(Code::AuthFailed);
                if let Some(op) = op {
                    self.complete(op, result.map(|r| (zxid, r)));
                }
                if failed {
                    self.end_session(KeeperState::AuthFailed, true);
                }
                return;
            }
            _ => {}
        }
        let head_xid = self.pending.front().map(|p| p.xid);
        if head_xid != Some(xid) {
            tracing::warn!("client: Xid out of order. Got Xid {xid} with err {result:?} expected Xid {head_xid:?}");
            self.lose_connection(now_ms, true, "xid out of order");
            return;
        }
        let pending = self.pending.pop_front().expect("head checked");
        if zxid > 0 {
            let before = self.last_zxid;
            self.last_zxid = self.last_zxid.max(zxid);
            assert!(self.last_zxid >= before, "last zxid never decreases");
        }
        self.watches.register(&pending.request, &result);
        let removal_events = match (&pending.request, &result) {
            (Request::RemoveWatches { path, watcher_type }, Ok(_)) => self.watches.remove(path, *watcher_type),
            _ => Vec::new(),
        };
        self.out.extend(removal_events.into_iter().map(ClientAction::Watch));
        let is_close = pending.request == Request::CloseSession;
        self.complete(pending.op, result.map(|r| (zxid, r)));
        if is_close {
            self.end_session(KeeperState::Closed, true);
        }
    }

    /// Fails every pending and queued op with `code` (`cleanup()`), pending first.
    fn fail_outstanding(&mut self, code: Code) {
        let pending: Vec<OpId> = self.pending.drain(..).map(|p| p.op).collect();
        let auth: Vec<OpId> = self.auth_waiters.drain(..).flatten().collect();
        let unsent_auth: Vec<OpId> = self.auth_info.iter_mut().filter_map(|e| e.unsent_op.take()).collect();
        let queued: Vec<OpId> = self.outgoing.drain(..).map(|(op, _)| op).collect();
        for op in pending.into_iter().chain(auth).chain(unsent_auth).chain(queued) {
            self.complete(op, Err(code));
        }
    }

    /// The connection is gone (`cleanAndNotifyState`): fail what is outstanding, then reconnect,
    /// or end if closing.
    fn lose_connection(&mut self, now_ms: i64, disconnect: bool, reason: &str) {
        assert!(self.current_server().is_some());
        tracing::debug!("client: connection to {:?} lost: {reason}", self.current_server());
        if self.closing {
            if disconnect {
                self.out.push(ClientAction::Disconnect);
            }
            self.fail_outstanding(Code::ConnectionLoss);
            self.set_state(KeeperState::Disconnected);
            self.phase = Phase::Ended(KeeperState::Closed);
            self.set_state(KeeperState::Closed);
            return;
        }
        if disconnect {
            self.out.push(ClientAction::Disconnect);
        }
        self.fail_outstanding(Code::ConnectionLoss);
        self.set_state(KeeperState::Disconnected);
        let delay_ms = self.reconnect_delay_ms();
        self.phase = Phase::Waiting { connect_at_ms: now_ms + delay_ms };
        if delay_ms == 0 {
            self.start_connect(now_ms);
        }
    }

    /// No more connections: expired (state first, as `onConnected` queues it before cleanup),
    /// auth failed, or closed.
    fn end_session(&mut self, state: KeeperState, disconnect: bool) {
        let code = ended_code(state);
        if state != KeeperState::Closed {
            self.set_state(state);
        }
        if disconnect {
            self.out.push(ClientAction::Disconnect);
        }
        self.phase = Phase::Ended(state);
        self.fail_outstanding(if state == KeeperState::Closed { Code::ConnectionLoss } else { code });
        self.set_state(state);
    }

    fn check_invariants(&self) {
        debug_assert!(self.pending.iter().zip(self.pending.iter().skip(1)).all(|(a, b)| a.xid < b.xid));
        debug_assert!(self.pending.iter().all(|p| p.xid > 0 && p.xid < self.next_xid));
        debug_assert!(self.pending.is_empty() || self.is_connected(), "pending only on a live connection");
        debug_assert!(self.is_alive() || (self.pending.is_empty() && self.outgoing.is_empty()));
    }
}

/// `conLossPacket`'s code once the client has ended.
fn ended_code(state: KeeperState) -> Code {
    match state {
        KeeperState::AuthFailed => Code::AuthFailed,
        _ => Code::SessionExpired,
    }
}
