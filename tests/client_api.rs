//! The async facade on madsim's executor and clock, over a transport that calls the
//! standalone server in process: ops, watch events, a long idle sleep kept alive by the
//! driver's pings, close.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zksim::client::api::{ClientEvent, ClientTransport, TransportEvent, TransportEvents, ZooKeeper};
use zksim::client::{ClientConfig, KeeperState, ServerId};
use zksim::proto::*;
use zksim::server::{ServerConfig, ServerOutput, StandaloneServer};
use zksim::wire::{ClientMessage, ConnectResponse, ServerMessage};

struct Net {
    server: StandaloneServer,
    session: Option<SessionId>,
    open: bool,
    inbound: VecDeque<TransportEvent>,
    start: madsim::time::Instant,
    sent: Vec<ClientMessage>,
}

impl Net {
    fn now_ms(&self) -> i64 {
        1_000_000 + self.start.elapsed().as_millis() as i64
    }

    fn collect(&mut self) {
        for output in self.server.drain_outputs() {
            let Some(session) = self.session else { continue };
            let message = match output {
                ServerOutput::Connected { session: s, timeout_ms, password } if s == session => {
                    ServerMessage::Connected(ConnectResponse { protocol_version: 0, timeout_ms, session_id: s, password, read_only: false })
                }
                ServerOutput::Reply { session: s, cxid, zxid, result } if s == session => ServerMessage::Reply { xid: cxid, zxid, result },
                ServerOutput::Event { session: s, event } if s == session => ServerMessage::Event { event },
                ServerOutput::CloseConnection { session: s, .. } if s == session => {
                    self.inbound.push_back(TransportEvent::Lost);
                    self.open = false;
                    continue;
                }
                _ => continue,
            };
            if self.open {
                self.inbound.push_back(TransportEvent::Message(message));
            }
        }
    }
}

#[derive(Clone)]
struct Transport(Arc<Mutex<Net>>);

impl ClientTransport for Transport {
    fn now_ms(&self) -> i64 {
        self.0.lock().unwrap().now_ms()
    }

    fn connect(&mut self, _server: ServerId) {
        let mut net = self.0.lock().unwrap();
        net.inbound.clear();
        net.open = true;
        net.inbound.push_back(TransportEvent::Connected);
    }

    fn send(&mut self, message: ClientMessage) {
        let mut net = self.0.lock().unwrap();
        assert!(net.open);
        let now = net.now_ms();
        net.sent.push(message.clone());
        match message {
            ClientMessage::Connect(request) => {
                let existing = (request.session_id != 0).then_some((request.session_id, request.password));
                let session = net.server.on_connect(now, request.timeout_ms, existing, request.last_zxid_seen).unwrap();
                net.session = Some(session);
            }
            ClientMessage::Request { xid, request } => {
                let session = net.session.unwrap();
                net.server.on_request(now, session, xid, request);
            }
        }
        net.collect();
    }

    fn disconnect(&mut self) {
        let mut net = self.0.lock().unwrap();
        net.inbound.clear();
        net.open = false;
        if let Some(session) = net.session {
            net.server.on_disconnect(session);
        }
    }
}

impl TransportEvents for Transport {
    async fn recv(&mut self, deadline_ms: i64) -> Option<TransportEvent> {
        loop {
            {
                let mut net = self.0.lock().unwrap();
                let now = net.now_ms();
                net.server.on_tick(now);
                net.collect();
                if let Some(event) = net.inbound.pop_front() {
                    return Some(event);
                }
                if now >= deadline_ms {
                    return None;
                }
            }
            madsim::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn new_client(timeout_ms: i32) -> (ZooKeeper<Transport>, zksim::client::api::Driver<Transport, Transport>, Arc<Mutex<Net>>) {
    let net = Arc::new(Mutex::new(Net {
        server: StandaloneServer::new(ServerConfig::new(2000), 1_000_000),
        session: None,
        open: false,
        inbound: VecDeque::new(),
        start: madsim::time::Instant::now(),
        sent: Vec::new(),
    }));
    let transport = Transport(net.clone());
    let (zk, driver) = ZooKeeper::new(ClientConfig::new(vec![1], timeout_ms), transport.clone(), transport);
    (zk, driver, net)
}

#[test]
fn facade_runs_ops_delivers_watches_and_closes_on_madsim() {
    let runtime = madsim::runtime::Runtime::new();
    runtime.block_on(async {
        let (zk, driver, net) = new_client(10_000);
        let driver = madsim::task::spawn_local(driver.run());
        assert_eq!(zk.next_event().await, Some(ClientEvent::State(KeeperState::SyncConnected)));
        let session = zk.session_id();
        assert_ne!(session, 0);

        assert_eq!(zk.create("/a", b"1", Acl::open_unsafe(), CreateMode::Persistent).await, Ok("/a".to_string()));
        let (path, stat) = zk.create2("/a/e-", b"", Acl::open_unsafe(), CreateMode::EphemeralSequential).await.unwrap();
        assert_eq!(path, "/a/e-0000000000");
        assert_eq!(stat.ephemeral_owner, session);
        assert_eq!(zk.exists("/missing", true).await, Ok(None));
        let (data, _) = zk.get_data("/a", true).await.unwrap();
        assert_eq!(data, b"1");
        assert_eq!(zk.get_children("/a", false).await, Ok(vec!["e-0000000000".to_string()]));
        let stat = zk.set_data("/a", b"2", 0).await.unwrap();
        assert_eq!(stat.version, 1);
        assert_eq!(zk.next_event().await, Some(ClientEvent::Watch(WatchedEvent { event_type: EventType::NodeDataChanged, path: "/a".into() })));
        assert_eq!(zk.set_data("/a", b"3", 0).await, Err(Code::BadVersion));
        let results = zk.multi(vec![Op::Create { path: "/missing".into(), data: vec![], acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: -1, with_stat: false }]).await.unwrap();
        assert!(matches!(results[..], [OpResult::Create { .. }]));
        assert_eq!(zk.next_event().await, Some(ClientEvent::Watch(WatchedEvent { event_type: EventType::NodeCreated, path: "/missing".into() })));
        zk.sync("/").await.unwrap();
        zk.add_watch("/a", AddWatchMode::PersistentRecursive).await.unwrap();
        zk.remove_watches("/a", WatcherType::Any).await.unwrap();
        assert_eq!(zk.next_event().await, Some(ClientEvent::Watch(WatchedEvent { event_type: EventType::PersistentWatchRemoved, path: "/a".into() })));
        zk.add_auth("digest", b"u:p").await.unwrap();
        zk.set_acl("/missing", Acl::creator_all(), -1).await.unwrap();
        let (acl, _) = zk.get_acl("/missing").await.unwrap();
        assert_eq!(acl[0].id.scheme, "digest");
        zk.delete("/missing", -1).await.unwrap();

        // Concurrent callers pipeline on one connection and complete in order.
        let calls: Vec<_> = (0..10)
            .map(|i| {
                let zk = zk.clone();
                madsim::task::spawn_local(async move { zk.create(&format!("/p{i}"), b"", Acl::open_unsafe(), CreateMode::Persistent).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Ok(format!("/p{i}")));
        }

        // A long idle sleep: the driver's pings keep the session.
        let sent_before = net.lock().unwrap().sent.len();
        madsim::time::sleep(Duration::from_secs(60)).await;
        let pings = net.lock().unwrap().sent[sent_before..].iter().filter(|m| matches!(m, ClientMessage::Request { request: Request::Ping, .. })).count();
        assert!(pings >= 20, "pings while idle: {pings}");
        assert_eq!(zk.exists("/a", false).await.map(|s| s.is_some()), Ok(true));
        assert_eq!(zk.session_id(), session);

        zk.close().await.unwrap();
        assert_eq!(zk.next_event().await, Some(ClientEvent::State(KeeperState::Closed)));
        driver.await.unwrap();
        assert_eq!(zk.next_event().await, None);
        assert_eq!(zk.exists("/a", false).await, Err(Code::SessionExpired));
        assert!(net.lock().unwrap().server.tree.node("/a/e-0000000000").is_none());
    });
}
