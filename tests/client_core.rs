//! The client core driven against the real standalone server, in process: every op, FIFO
//! pipelining, connection loss and reconnect, watch re-registration, expiry, refusal of a
//! client that is ahead, pings and read timeouts, auth re-sent, a planted out-of-order reply.
//!
//! The harness plays the shell: it executes the core's actions, maps client messages to the
//! server's `on_connect` / `on_request` and the server's outputs back to `ServerMessage`s.
//! Several server ids may share one server instance (an ensemble with one state), so a
//! reconnect to "another server" keeps the session; a fresh instance is a server behind.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use zksim::client::{ClientAction, ClientConfig, ClientCore, KeeperState, OpId, ServerId};
use zksim::proto::*;
use zksim::server::{ConnectRefusal, ServerConfig, ServerOutput, StandaloneServer};
use zksim::wire::*;

const START_MS: i64 = 1_000_000;
const TIMEOUT_MS: i32 = 10_000;

struct Conn {
    server: ServerId,
    session: Option<SessionId>,
}

struct World {
    instances: Vec<StandaloneServer>,
    instance_of: BTreeMap<ServerId, usize>,
    /// Servers that refuse connections.
    down: BTreeSet<ServerId>,
    /// Servers that accept connections but never answer (messages vanish).
    silent: BTreeSet<ServerId>,
    /// The server handles requests but its replies are lost.
    drop_replies: bool,
    client: ClientCore,
    conn: Option<Conn>,
    inbound: VecDeque<ServerMessage>,
    /// Transport closed by the server after the inbound messages are delivered.
    close_after_inbound: bool,
    now_ms: i64,
    /// Every action the client produced, in order.
    log: Vec<ClientAction>,
}

fn server_config() -> ServerConfig {
    ServerConfig::new(2000)
}

impl World {
    /// Servers 1..=n sharing one instance.
    fn new(n: i64) -> World {
        World::with_instances(vec![StandaloneServer::new(server_config(), START_MS)], (1..=n).map(|id| (id, 0)).collect())
    }

    fn with_instances(instances: Vec<StandaloneServer>, map: Vec<(ServerId, usize)>) -> World {
        let servers = map.iter().map(|(id, _)| *id).collect();
        World {
            instances,
            instance_of: map.into_iter().collect(),
            down: BTreeSet::new(),
            silent: BTreeSet::new(),
            drop_replies: false,
            client: ClientCore::new(ClientConfig::new(servers, TIMEOUT_MS)),
            conn: None,
            inbound: VecDeque::new(),
            close_after_inbound: false,
            now_ms: START_MS,
            log: Vec::new(),
        }
    }

    fn start(&mut self) {
        self.client.on_start(self.now_ms);
        self.run();
        assert!(self.client.is_connected(), "client connects at start: {:?}", self.log);
    }

    fn server(&mut self) -> &mut StandaloneServer {
        &mut self.instances[0]
    }

    /// Maps server outputs for our session into inbound messages.
    fn collect(&mut self, instance: usize) {
        let outputs = self.instances[instance].drain_outputs();
        let Some(conn) = &self.conn else { return };
        let Some(session) = conn.session else { return };
        for output in outputs {
            match output {
                ServerOutput::Connected { session: s, timeout_ms, password } if s == session => {
                    self.inbound.push_back(ServerMessage::Connected(ConnectResponse {
                        protocol_version: 0,
                        timeout_ms,
                        session_id: s,
                        password,
                        read_only: false,
                    }))
                }
                ServerOutput::Reply { session: s, cxid, zxid, result } if s == session && !self.drop_replies => {
                    self.inbound.push_back(ServerMessage::Reply { xid: cxid, zxid, result })
                }
                ServerOutput::Event { session: s, event } if s == session => {
                    self.inbound.push_back(ServerMessage::Event { event })
                }
                ServerOutput::CloseConnection { session: s, .. } if s == session => self.close_after_inbound = true,
                _ => {}
            }
        }
    }

    fn execute(&mut self, action: ClientAction) {
        match action.clone() {
            ClientAction::Connect { server } => {
                assert!(self.conn.is_none(), "connect while a transport is open");
                if self.down.contains(&server) {
                    self.client.on_transport_lost(self.now_ms);
                } else {
                    self.conn = Some(Conn { server, session: None });
                    self.client.on_transport_connected(self.now_ms);
                }
            }
            ClientAction::Disconnect => {
                let conn = self.conn.take().expect("disconnect without a transport");
                if let Some(session) = conn.session {
                    let instance = self.instance_of[&conn.server];
                    self.instances[instance].on_disconnect(session);
                }
                self.inbound.clear();
                self.close_after_inbound = false;
            }
            ClientAction::Send(message) => {
                let conn = self.conn.as_ref().expect("send without a transport");
                if self.silent.contains(&conn.server) {
                    return;
                }
                let instance = self.instance_of[&conn.server];
                match message {
                    ClientMessage::Connect(request) => {
                        let existing = (request.session_id != 0).then_some((request.session_id, request.password));
                        let server = &mut self.instances[instance];
                        match server.on_connect(self.now_ms, request.timeout_ms, existing, request.last_zxid_seen) {
                            Ok(session) => {
                                self.conn.as_mut().unwrap().session = Some(session);
                                self.collect(instance);
                            }
                            Err(ConnectRefusal::ClientAhead) => self.close_after_inbound = true,
                        }
                    }
                    ClientMessage::Request { xid, request } => {
                        let session = conn.session.expect("request before connect");
                        self.instances[instance].on_request(self.now_ms, session, xid, request);
                        self.collect(instance);
                    }
                }
            }
            _ => {}
        }
        self.log.push(action);
    }

    /// Executes actions and delivers messages until quiet.
    fn run(&mut self) {
        for _ in 0..100_000 {
            let actions = self.client.drain_actions();
            if !actions.is_empty() {
                for action in actions {
                    self.execute(action);
                }
                continue;
            }
            if let Some(message) = self.inbound.pop_front() {
                self.client.on_message(self.now_ms, message);
                continue;
            }
            if self.close_after_inbound {
                self.close_after_inbound = false;
                let conn = self.conn.take().expect("close without a transport");
                if let Some(session) = conn.session {
                    self.instances[self.instance_of[&conn.server]].on_disconnect(session);
                }
                self.client.on_transport_lost(self.now_ms);
                continue;
            }
            return;
        }
        panic!("harness did not settle");
    }

    /// Advances time in 10 ms steps, ticking the servers and the client.
    fn advance(&mut self, ms: i64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 10;
            for i in 0..self.instances.len() {
                self.instances[i].on_tick(self.now_ms);
                self.collect(i);
            }
            self.client.on_tick(self.now_ms);
            self.run();
        }
    }

    fn submit(&mut self, request: Request) -> OpId {
        self.client.submit(self.now_ms, request)
    }

    fn result_of(&self, op: OpId) -> Option<Result<(Zxid, Response), Code>> {
        self.log.iter().find_map(|a| match a {
            ClientAction::Complete { op: o, result } if *o == op => Some(result.clone()),
            _ => None,
        })
    }

    fn call(&mut self, request: Request) -> Result<(Zxid, Response), Code> {
        let op = self.submit(request.clone());
        self.run();
        self.result_of(op).unwrap_or_else(|| panic!("{request:?} did not complete"))
    }

    fn ok(&mut self, request: Request) -> Response {
        let r = self.call(request.clone());
        r.unwrap_or_else(|e| panic!("{request:?} failed: {e}")).1
    }

    fn states(&self) -> Vec<KeeperState> {
        self.log.iter().filter_map(|a| if let ClientAction::State(s) = a { Some(*s) } else { None }).collect()
    }

    fn connects(&self) -> Vec<ServerId> {
        self.log.iter().filter_map(|a| if let ClientAction::Connect { server } = a { Some(*server) } else { None }).collect()
    }

    fn watch_events(&self) -> Vec<(EventType, String)> {
        self.log
            .iter()
            .filter_map(|a| if let ClientAction::Watch(e) = a { Some((e.event_type, e.path.clone())) } else { None })
            .collect()
    }

    fn sent_requests(&self) -> Vec<(i32, Request)> {
        self.log
            .iter()
            .filter_map(|a| match a {
                ClientAction::Send(ClientMessage::Request { xid, request }) => Some((*xid, request.clone())),
                _ => None,
            })
            .collect()
    }

    fn position(&self, f: impl Fn(&ClientAction) -> bool) -> usize {
        self.log.iter().position(f).expect("action present")
    }

    /// Another session on instance 0, for changes the client does not make.
    fn other_session(&mut self) -> SessionId {
        let now = self.now_ms;
        let id = self.server().on_connect(now, TIMEOUT_MS, None, 0).unwrap();
        self.server().drain_outputs();
        id
    }

    fn other_request(&mut self, session: SessionId, request: Request) {
        let now = self.now_ms;
        self.server().on_request(now, session, 9999, request);
        self.collect(0);
    }
}

fn create(path: &str, mode: CreateMode) -> Request {
    Request::Create { path: path.into(), data: b"v".to_vec(), acl: Acl::open_unsafe(), mode, ttl_ms: -1, with_stat: true }
}

fn set(path: &str, data: &[u8]) -> Request {
    Request::SetData { path: path.into(), data: data.to_vec(), version: -1 }
}

fn is_complete(op: OpId) -> impl Fn(&ClientAction) -> bool {
    move |a| matches!(a, ClientAction::Complete { op: o, .. } if *o == op)
}

#[test]
fn every_operation_completes_with_the_server_reply() {
    let mut w = World::new(1);
    w.start();
    assert_eq!(w.states(), [KeeperState::SyncConnected]);
    assert_eq!(w.client.negotiated_timeout_ms(), TIMEOUT_MS);
    assert_eq!(w.client.read_timeout_ms(), TIMEOUT_MS as i64 * 2 / 3);
    assert_eq!(w.client.connect_timeout_ms(), TIMEOUT_MS as i64);
    let session = w.client.session_id();
    assert_ne!(session, 0);

    let Response::Create { path, stat: Some(stat) } = w.ok(create("/a", CreateMode::Persistent)) else { panic!() };
    assert_eq!(path, "/a");
    assert_eq!(w.client.last_zxid(), stat.czxid, "last zxid follows replies");
    let r = w.ok(Request::Create { path: "/a/s-".into(), data: vec![], acl: Acl::open_unsafe(), mode: CreateMode::EphemeralSequential, ttl_ms: -1, with_stat: false });
    assert_eq!(r, Response::Create { path: "/a/s-0000000000".into(), stat: None });
    let Response::Exists { stat } = w.ok(Request::Exists { path: "/a".into(), watch: false }) else { panic!() };
    assert_eq!(stat.num_children, 1);
    assert_eq!(w.call(Request::Exists { path: "/nope".into(), watch: false }).map(|r| r.1), Err(Code::NoNode));
    let Response::SetData { stat } = w.ok(set("/a", b"x")) else { panic!() };
    assert_eq!(stat.version, 1);
    let Response::GetData { data, .. } = w.ok(Request::GetData { path: "/a".into(), watch: false }) else { panic!() };
    assert_eq!(data, b"x");
    let r = w.ok(Request::GetChildren { path: "/a".into(), watch: false, with_stat: false });
    assert_eq!(r, Response::GetChildren { children: vec!["s-0000000000".into()], stat: None });
    assert_eq!(w.ok(Request::GetAllChildrenNumber { path: "/a".into() }), Response::GetAllChildrenNumber { number: 1 });
    assert_eq!(w.ok(Request::GetEphemerals { prefix_path: "/".into() }), Response::GetEphemerals { paths: vec!["/a/s-0000000000".into()] });
    let Response::Multi { results } = w.ok(Request::Multi {
        ops: vec![
            Op::Create { path: "/m".into(), data: vec![], acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: -1, with_stat: false },
            Op::SetData { path: "/m".into(), data: b"1".to_vec(), version: 0 },
            Op::Check { path: "/m".into(), version: 1 },
        ],
    }) else {
        panic!()
    };
    assert!(matches!(results[..], [OpResult::Create { .. }, OpResult::SetData { .. }, OpResult::Check]));
    let Response::MultiRead { results } = w.ok(Request::MultiRead { ops: vec![Op::GetData { path: "/m".into() }] }) else { panic!() };
    assert!(matches!(&results[..], [OpResult::GetData { data, .. }] if data == b"1"));
    assert_eq!(w.ok(Request::Sync { path: "/a".into() }), Response::Sync { path: "/a".into() });
    assert_eq!(w.ok(Request::AddWatch { path: "/m".into(), mode: AddWatchMode::Persistent }), Response::Empty);
    assert!(w.client.watches().persistent.contains("/m"));
    assert_eq!(w.ok(Request::RemoveWatches { path: "/m".into(), watcher_type: WatcherType::Any }), Response::Empty);
    assert!(w.client.watches().is_empty());
    assert_eq!(w.watch_events(), [(EventType::PersistentWatchRemoved, "/m".to_string())]);
    assert_eq!(w.ok(Request::Auth { scheme: "digest".into(), auth: b"u:p".to_vec() }), Response::Empty);
    let Response::SetAcl { stat } = w.ok(Request::SetAcl { path: "/m".into(), acl: Acl::creator_all(), version: -1 }) else { panic!() };
    assert_eq!(stat.aversion, 1);
    let Response::GetAcl { acl, .. } = w.ok(Request::GetAcl { path: "/m".into() }) else { panic!() };
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].id.scheme, "digest");
    assert_eq!(w.ok(Request::Delete { path: "/m".into(), version: -1 }), Response::Delete);
    assert_eq!(w.call(Request::Delete { path: "/m".into(), version: -1 }).map(|r| r.1), Err(Code::NoNode));

    // Close: the reply completes it, then the transport goes and the state is Closed.
    let close = w.client.close(w.now_ms);
    w.run();
    assert_eq!(w.result_of(close).unwrap().map(|r| r.1), Ok(Response::Empty));
    let done = w.position(is_complete(close));
    assert_eq!(w.log[done + 1], ClientAction::Disconnect);
    assert_eq!(w.log[done + 2], ClientAction::State(KeeperState::Closed));
    assert!(w.server().tree.node("/a/s-0000000000").is_none(), "close removes the ephemerals");
    assert!(w.server().sessions.get(session).is_none());
    assert_eq!(w.call(Request::Exists { path: "/a".into(), watch: false }), Err(Code::SessionExpired));
    w.advance(30_000);
    assert_eq!(w.connects(), [1], "a closed client never reconnects");
    assert_eq!(w.sent_requests().iter().filter(|(xid, _)| *xid == PING_XID).count(), 0);
}

#[test]
fn pipelined_requests_complete_in_submission_order() {
    let mut w = World::new(1);
    // Submitted before the session exists: queued, sent after the ConnectResponse.
    let early: Vec<OpId> = (0..5).map(|i| w.submit(create(&format!("/e{i}"), CreateMode::Persistent))).collect();
    w.start();
    let mut ops = early.clone();
    for i in 0..50 {
        ops.push(w.submit(if i % 2 == 0 { create(&format!("/n{i}"), CreateMode::Persistent) } else { Request::Exists { path: format!("/n{}", i - 1), watch: false } }));
    }
    assert_eq!(w.client.pending_count(), 50, "many requests in flight at once");
    w.run();
    let completed: Vec<OpId> = w.log.iter().filter_map(|a| if let ClientAction::Complete { op, .. } = a { Some(*op) } else { None }).collect();
    assert_eq!(completed, ops, "FIFO completion");
    let xids: Vec<i32> = w.sent_requests().iter().map(|(x, _)| *x).collect();
    assert!(xids.windows(2).all(|p| p[0] < p[1]), "xids increase: {xids:?}");
    assert_eq!(xids[0], 1, "xids start at 1");
    let zxids: Vec<Zxid> = ops.iter().map(|op| w.result_of(*op).unwrap().unwrap().0).collect();
    assert!(zxids.windows(2).all(|p| p[0] <= p[1]));
    assert_eq!(w.client.last_zxid(), *zxids.last().unwrap());
    assert!(ops.iter().all(|op| w.result_of(*op).unwrap().is_ok()));
}

#[test]
fn connection_loss_fails_outstanding_ops_and_reconnect_keeps_the_session() {
    let mut w = World::new(3);
    w.start();
    let session = w.client.session_id();
    w.ok(create("/eph", CreateMode::Ephemeral));
    // Replies lost on the way back: the writes happen, the client never learns it.
    w.drop_replies = true;
    let a = w.submit(create("/x", CreateMode::Persistent));
    let b = w.submit(Request::Exists { path: "/x".into(), watch: false });
    w.run();
    assert_eq!(w.client.pending_count(), 2);
    w.drop_replies = false;
    w.conn = None; // the harness's socket breaks
    w.client.on_transport_lost(w.now_ms);
    let before = w.log.len();
    w.run();
    assert_eq!(w.result_of(a), Some(Err(Code::ConnectionLoss)));
    assert_eq!(w.result_of(b), Some(Err(Code::ConnectionLoss)));
    assert!(w.position(is_complete(b)) < w.position(|x| *x == ClientAction::State(KeeperState::Disconnected)), "failures before Disconnected");
    assert!(w.log[before..].iter().all(|x| *x != ClientAction::Disconnect), "the core does not close a transport it lost");
    assert_eq!(w.states(), [KeeperState::SyncConnected, KeeperState::Disconnected, KeeperState::SyncConnected]);
    assert_eq!(w.connects(), [1, 2], "moves on to the next server");
    assert_eq!(w.client.session_id(), session, "same session after reconnect");
    let Response::Exists { stat } = w.ok(Request::Exists { path: "/eph".into(), watch: false }) else { panic!() };
    assert_eq!(stat.ephemeral_owner, session, "ephemerals survive a reconnect");
    assert!(w.server().tree.node("/x").is_some(), "the lost write happened (outcome unknown to the client)");
    let connect_requests: Vec<ConnectRequest> = w.log.iter().filter_map(|x| if let ClientAction::Send(ClientMessage::Connect(c)) = x { Some(c.clone()) } else { None }).collect();
    assert_eq!(connect_requests[0].session_id, 0);
    assert_eq!(connect_requests[1].session_id, session);
    assert_eq!(connect_requests[1].password, w.client.session_password());
    assert!(connect_requests[1].last_zxid_seen > 0);
    assert_eq!(connect_requests[1].timeout_ms, TIMEOUT_MS);
    // Round-robin: 2 → 3 → 1.
    for _ in 0..2 {
        w.conn = None;
        w.client.on_transport_lost(w.now_ms);
        w.run();
    }
    assert_eq!(w.connects(), [1, 2, 3, 1]);
}

#[test]
fn requests_submitted_while_disconnected_are_sent_after_reconnect_behind_auth_and_set_watches() {
    let mut w = World::new(2);
    w.client.set_reconnect_delay_ms(100);
    w.start();
    w.ok(Request::Auth { scheme: "digest".into(), auth: b"u:p".to_vec() });
    w.ok(create("/a", CreateMode::Persistent));
    w.ok(create("/c", CreateMode::Persistent));
    w.ok(create("/d", CreateMode::Persistent));
    w.ok(create("/p", CreateMode::Persistent));
    w.ok(Request::GetData { path: "/a".into(), watch: true });
    assert_eq!(w.call(Request::Exists { path: "/b".into(), watch: true }).map(|r| r.1), Err(Code::NoNode));
    w.ok(Request::GetChildren { path: "/c".into(), watch: true, with_stat: false });
    w.ok(Request::Exists { path: "/d".into(), watch: true });
    w.ok(Request::AddWatch { path: "/p".into(), mode: AddWatchMode::Persistent });
    assert!(w.client.watches().exist.contains("/b"), "exists on a missing node registers an exist watch");
    let seen = w.client.last_zxid();

    // Lose the connection; changes happen while the client is away.
    w.conn = None;
    w.client.on_transport_lost(w.now_ms);
    w.run();
    let other = w.other_session();
    w.other_request(other, set("/a", b"new"));
    w.other_request(other, create("/b", CreateMode::Persistent));
    w.other_request(other, create("/c/x", CreateMode::Persistent));
    w.other_request(other, Request::Delete { path: "/d".into(), version: -1 });
    w.other_request(other, set("/p", b"p"));
    let queued = w.submit(Request::GetData { path: "/b".into(), watch: false });
    assert_eq!(w.client.queued_count(), 1);
    let mark = w.log.len();
    w.advance(200);
    assert_eq!(w.connects(), [1, 2]);
    let mut events: Vec<(&str, String)> = w.watch_events().into_iter().map(|(t, p)| (t.name(), p)).collect();
    events.sort();
    assert_eq!(
        events,
        [
            ("NodeChildrenChanged", "/c".to_string()),
            ("NodeCreated", "/b".to_string()),
            ("NodeDataChanged", "/a".to_string()),
            ("NodeDeleted", "/d".to_string()),
        ]
    );
    // (A persistent watch is re-armed by SetWatches, not fired for changes missed meanwhile.)
    assert!(w.watch_events().iter().all(|(_, p)| p != "/b" || w.position(|x| matches!(x, ClientAction::Watch(e) if e.path == "/b")) < w.position(is_complete(queued))));
    // Order on the new connection: ConnectRequest, auth, SetWatches, then the queued request.
    let sent: Vec<&ClientMessage> = w.log[mark..].iter().filter_map(|x| if let ClientAction::Send(m) = x { Some(m) } else { None }).collect();
    assert!(matches!(sent[0], ClientMessage::Connect(_)));
    assert!(matches!(sent[1], ClientMessage::Request { xid: AUTH_XID, request: Request::Auth { .. } }));
    let ClientMessage::Request { xid: SET_WATCHES_XID, request: Request::SetWatches { relative_zxid, data_watches, exist_watches, child_watches, persistent_watches, .. } } = sent[2] else {
        panic!("SetWatches third: {sent:?}")
    };
    assert_eq!(*relative_zxid, seen);
    let mut data = data_watches.clone();
    data.sort();
    assert_eq!(data, ["/a", "/d"]);
    assert_eq!(exist_watches, &["/b"]);
    assert_eq!(child_watches, &["/c"]);
    assert_eq!(persistent_watches, &["/p"]);
    assert!(matches!(sent[3], ClientMessage::Request { request: Request::GetData { .. }, .. }));
    assert!(w.result_of(queued).unwrap().is_ok());
    // One-time watches are spent, the persistent one stays.
    let watches = w.client.watches();
    assert!(watches.data.is_empty() && watches.exist.is_empty() && watches.child.is_empty());
    assert!(watches.persistent.contains("/p"));
    let n = w.watch_events().len();
    w.other_request(other, set("/p", b"again"));
    w.other_request(other, set("/a", b"again"));
    w.run();
    assert_eq!(w.watch_events()[n..], [(EventType::NodeDataChanged, "/p".to_string())]);
}

#[test]
fn events_come_before_the_reply_they_precede() {
    let mut w = World::new(1);
    w.start();
    assert_eq!(w.call(Request::Exists { path: "/n".into(), watch: true }).map(|r| r.1), Err(Code::NoNode));
    let op = w.submit(create("/n", CreateMode::Persistent));
    w.run();
    let event = w.position(|x| matches!(x, ClientAction::Watch(e) if e.event_type == EventType::NodeCreated && e.path == "/n"));
    assert!(event < w.position(is_complete(op)));
    // Fired once: no second event on the next change.
    w.ok(set("/n", b"2"));
    assert_eq!(w.watch_events().len(), 1);
    // Events carry no zxid: last zxid is the last reply's.
    assert_eq!(w.client.last_zxid(), w.server().last_processed_zxid());
}

#[test]
fn expired_session_fails_everything_and_stops_reconnecting() {
    let mut w = World::new(2);
    w.start();
    w.ok(create("/eph", CreateMode::Ephemeral));
    w.down.extend([1, 2]);
    w.conn = None;
    w.client.on_transport_lost(w.now_ms);
    w.run();
    // Away longer than the session timeout: the server expires it.
    w.advance(TIMEOUT_MS as i64 + 4_000);
    assert!(w.server().tree.node("/eph").is_none());
    assert!(w.client.is_alive());
    w.down.clear();
    let mut queued = Vec::new();
    while w.client.is_alive() {
        if w.client.is_connected() {
            break;
        }
        queued.push(w.submit(Request::Exists { path: "/".into(), watch: false }));
        w.advance(10);
    }
    assert!(!w.client.is_alive(), "the ConnectResponse with timeout 0 ends the client");
    assert_eq!(*w.states().last().unwrap(), KeeperState::Expired);
    assert_eq!(w.result_of(*queued.last().unwrap()), Some(Err(Code::SessionExpired)));
    let expired = w.position(|x| *x == ClientAction::State(KeeperState::Expired));
    assert!(w.position(is_complete(*queued.last().unwrap())) > expired);
    assert_eq!(w.call(Request::Exists { path: "/".into(), watch: false }), Err(Code::SessionExpired));
    let connects = w.connects().len();
    w.advance(20_000);
    assert_eq!(w.connects().len(), connects, "no reconnect after expiry");
    assert!(w.client.next_deadline_ms().is_none());
}

#[test]
fn a_server_behind_the_client_refuses_it_and_the_client_moves_on() {
    // Servers 1 and 3 share the up-to-date instance; 2 is a fresh one, behind.
    let instances = vec![StandaloneServer::new(server_config(), START_MS), StandaloneServer::new(server_config(), START_MS)];
    let mut w = World::with_instances(instances, vec![(1, 0), (2, 1), (3, 0)]);
    w.start();
    let session = w.client.session_id();
    for i in 0..5 {
        w.ok(create(&format!("/n{i}"), CreateMode::Persistent));
    }
    w.conn = None;
    w.client.on_transport_lost(w.now_ms);
    w.run();
    assert_eq!(w.connects(), [1, 2, 3]);
    assert!(w.client.is_connected());
    assert_eq!(w.client.session_id(), session);
    assert!(w.instances[1].sessions.get(session).is_none(), "server 2 refused before creating anything");
    assert_eq!(w.states(), [KeeperState::SyncConnected, KeeperState::Disconnected, KeeperState::SyncConnected]);
}

#[test]
fn idle_client_pings_and_a_silent_server_is_abandoned_after_the_read_timeout() {
    let mut w = World::new(2);
    w.start();
    let session = w.client.session_id();
    // readTimeout = 6666, half = 3333 → ping after 2333 ms idle (ZooKeeper's "- 1000" once idle > 1 s).
    let start = w.now_ms;
    w.advance(2_320);
    assert!(w.sent_requests().is_empty(), "no ping before the idle threshold");
    w.advance(20);
    assert_eq!(w.sent_requests(), [(PING_XID, Request::Ping)]);
    w.advance(30_000 - 2_340);
    let pings = w.sent_requests().iter().filter(|(x, r)| *x == PING_XID && *r == Request::Ping).count();
    assert_eq!(pings, 30_000 / 2_340, "a ping every 2.34 s (2333 ms rounded up to a 10 ms tick) over 30 s");
    assert_eq!(w.connects(), [1], "pings keep the connection and the session alive");
    assert!(w.server().sessions.get(session).is_some());
    assert!(w.log.iter().all(|x| !matches!(x, ClientAction::Complete { .. })), "ping replies complete nothing");

    // Server 1 goes silent: 2/3 of the timeout after the last byte heard (the last ping's
    // reply) the client gives up on it and moves to 2.
    w.silent.insert(1);
    let last_heard = start + 12 * 2_340;
    w.advance(last_heard + 6_660 - w.now_ms);
    assert_eq!(w.connects(), [1]);
    w.advance(10);
    assert_eq!(w.connects(), [1, 2]);
    let disconnect = w.position(|x| *x == ClientAction::Disconnect);
    assert_eq!(w.log[disconnect + 1], ClientAction::State(KeeperState::Disconnected));
    assert!(w.client.is_connected());
    assert_eq!(w.client.session_id(), session);
}

#[test]
fn a_server_that_never_answers_the_connect_is_left_after_the_connect_timeout() {
    let mut w = World::new(2);
    w.silent.insert(1);
    w.client.on_start(w.now_ms);
    w.run();
    assert_eq!(w.client.connect_timeout_ms(), TIMEOUT_MS as i64 / 2);
    w.advance(4_990);
    assert_eq!(w.connects(), [1]);
    w.advance(20);
    assert_eq!(w.connects(), [1, 2]);
    assert!(w.client.is_connected());
    assert_eq!(w.states(), [KeeperState::Disconnected, KeeperState::SyncConnected]);
}

#[test]
fn all_servers_down_spins_round_robin_with_the_spin_delay() {
    let mut w = World::new(2);
    w.down.extend([1, 2]);
    w.client.on_start(w.now_ms);
    w.run();
    // 1 and 2 refuse at once; back at the first server ZooKeeper's host provider sleeps 1 s.
    assert_eq!(w.connects(), [1, 2]);
    w.advance(990);
    assert_eq!(w.connects(), [1, 2]);
    w.down.clear();
    w.advance(20);
    assert_eq!(w.connects(), [1, 2, 1]);
    assert!(w.client.is_connected());
}

#[test]
fn auth_is_resent_on_reconnect_and_a_failed_auth_ends_the_client() {
    let mut w = World::new(2);
    w.start();
    w.ok(Request::Auth { scheme: "digest".into(), auth: b"alice:secret".to_vec() });
    w.ok(Request::Create { path: "/private".into(), data: b"s".to_vec(), acl: Acl::creator_all(), mode: CreateMode::Persistent, ttl_ms: -1, with_stat: false });
    w.conn = None;
    w.client.on_transport_lost(w.now_ms);
    let mark = w.log.len();
    w.run();
    let sent: Vec<&ClientMessage> = w.log[mark..].iter().filter_map(|x| if let ClientAction::Send(m) = x { Some(m) } else { None }).collect();
    assert_eq!(
        sent[1],
        &ClientMessage::Request { xid: AUTH_XID, request: Request::Auth { scheme: "digest".into(), auth: b"alice:secret".to_vec() } },
        "auth re-sent right after the ConnectResponse"
    );
    assert!(w.call(Request::GetData { path: "/private".into(), watch: false }).is_ok());

    // A bad credential: AuthFailed, the connection goes, nothing more works.
    let pending = w.submit(Request::Exists { path: "/".into(), watch: false });
    let bad = w.submit(Request::Auth { scheme: "nosuchscheme".into(), auth: vec![] });
    let after = w.submit(Request::Exists { path: "/".into(), watch: false });
    w.run();
    assert!(w.result_of(pending).unwrap().is_ok());
    assert_eq!(w.result_of(bad), Some(Err(Code::AuthFailed)));
    assert_eq!(w.result_of(after), Some(Err(Code::AuthFailed)), "an op behind the failed auth fails with AuthFailed");
    assert_eq!(*w.states().last().unwrap(), KeeperState::AuthFailed);
    assert!(!w.client.is_alive());
    assert_eq!(w.call(Request::Exists { path: "/".into(), watch: false }), Err(Code::AuthFailed));
    let connects = w.connects().len();
    w.advance(5_000);
    assert_eq!(w.connects().len(), connects);
}

#[test]
fn a_reply_out_of_order_drops_the_connection() {
    let mut w = World::new(2);
    w.start();
    let a = w.submit(Request::Exists { path: "/".into(), watch: false });
    let b = w.submit(Request::Exists { path: "/".into(), watch: false });
    let xid_b = w.client.drain_actions().iter().filter_map(|x| if let ClientAction::Send(ClientMessage::Request { xid, .. }) = x { Some(*xid) } else { None }).next_back().unwrap();
    // The requests never reach the server (drained above); plant b's reply first.
    w.client.on_message(w.now_ms, ServerMessage::Reply { xid: xid_b, zxid: 1, result: Ok(Response::Empty) });
    let mark = w.log.len();
    w.run();
    assert_eq!(w.log[mark], ClientAction::Disconnect);
    assert_eq!(w.result_of(a), Some(Err(Code::ConnectionLoss)));
    assert_eq!(w.result_of(b), Some(Err(Code::ConnectionLoss)));
    assert!(w.position(is_complete(a)) < w.position(is_complete(b)));
    assert_eq!(w.connects(), [1, 2]);
    assert!(w.client.is_connected());
    // A reply with nothing pending is as bad.
    w.client.on_message(w.now_ms, ServerMessage::Reply { xid: 77, zxid: 1, result: Ok(Response::Empty) });
    w.run();
    assert_eq!(w.connects(), [1, 2, 1]);
}

#[test]
fn close_while_disconnected_ends_at_once_and_close_twice_is_harmless() {
    let mut w = World::new(1);
    w.client.set_reconnect_delay_ms(500);
    w.start();
    w.conn = None;
    w.client.on_transport_lost(w.now_ms);
    w.run();
    let close = w.client.close(w.now_ms);
    w.run();
    assert_eq!(w.result_of(close), Some(Err(Code::ConnectionLoss)));
    assert_eq!(w.states(), [KeeperState::SyncConnected, KeeperState::Disconnected, KeeperState::Closed]);
    let again = w.client.close(w.now_ms);
    w.run();
    assert!(w.result_of(again).unwrap().is_ok());
    w.advance(2_000);
    assert_eq!(w.connects(), [1]);
}
