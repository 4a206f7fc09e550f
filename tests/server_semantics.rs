//! Standalone-server semantics beyond the golden trace: ACLs and auth, persistent and recursive
//! watches, watch re-registration on reconnect, session expiry, containers and TTL nodes, the
//! request size limit, reconnect rules.

use zksim::proto::*;
use zksim::server::{ServerConfig, ServerOutput, StandaloneServer};

/// (session, event type, path) of a delivered watch event.
type Delivered = (SessionId, String, String);

struct Harness {
    server: StandaloneServer,
    now_ms: i64,
    cxid: i32,
}

impl Harness {
    fn new(config: ServerConfig) -> Harness {
        Harness { server: StandaloneServer::new(config, 1_000_000), now_ms: 1_000_000, cxid: 0 }
    }

    fn connect(&mut self, timeout_ms: i32) -> SessionId {
        let id = self.server.on_connect(self.now_ms, timeout_ms, None, 0).unwrap();
        self.server.drain_outputs();
        id
    }

    /// Sends a request; returns (result, events every session received meanwhile).
    fn call(&mut self, session: SessionId, request: Request) -> (Result<Response, Code>, Vec<Delivered>) {
        self.now_ms += 1;
        self.cxid += 1;
        self.server.on_request(self.now_ms, session, self.cxid, request);
        let mut result = Err(Code::SystemError);
        let mut events = Vec::new();
        for o in self.server.drain_outputs() {
            match o {
                ServerOutput::Reply { session: s, result: r, .. } if s == session => result = r,
                ServerOutput::Event { session: s, event } => events.push((s, event.event_type.name().to_string(), event.path)),
                _ => {}
            }
        }
        (result, events)
    }

    fn ok(&mut self, session: SessionId, request: Request) -> Response {
        let (r, _) = self.call(session, request.clone());
        r.unwrap_or_else(|e| panic!("{request:?} failed with {e}"))
    }

    fn err(&mut self, session: SessionId, request: Request) -> Code {
        self.call(session, request).0.expect_err("expected an error")
    }
}

fn create(path: &str, acl: Vec<Acl>, mode: CreateMode) -> Request {
    Request::Create { path: path.into(), data: b"d".to_vec(), acl, mode, ttl_ms: -1, with_stat: true }
}

fn plain(path: &str) -> Request {
    create(path, Acl::open_unsafe(), CreateMode::Persistent)
}

fn set(path: &str) -> Request {
    Request::SetData { path: path.into(), data: b"x".to_vec(), version: -1 }
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData { path: path.into(), watch }
}

fn ev(session: SessionId, kind: &str, path: &str) -> Delivered {
    (session, kind.to_string(), path.to_string())
}

fn harness() -> Harness {
    Harness::new(ServerConfig::new(200))
}

#[test]
fn digest_acl_denies_others_and_allows_the_owner() {
    let mut h = harness();
    let (bob, eve) = (h.connect(4000), h.connect(4000));
    h.ok(bob, Request::Auth { scheme: "digest".into(), auth: b"bob:secret".to_vec() });
    h.ok(bob, create("/bob", Acl::creator_all(), CreateMode::Persistent));
    assert_eq!(h.err(eve, get("/bob", false)), Code::NoAuth);
    assert_eq!(h.err(eve, set("/bob")), Code::NoAuth);
    assert_eq!(h.err(eve, plain("/bob/kid")), Code::NoAuth, "CREATE is checked on the parent");
    h.ok(bob, set("/bob"));
    h.ok(bob, plain("/bob/kid"));
    assert_eq!(h.err(eve, Request::Delete { path: "/bob/kid".into(), version: -1 }), Code::NoAuth, "DELETE on the parent");
    // exists is not ACL-checked; getACL needs READ or ADMIN.
    assert!(matches!(h.ok(eve, Request::Exists { path: "/bob".into(), watch: false }), Response::Exists { .. }));
    assert_eq!(h.err(eve, Request::GetAcl { path: "/bob".into() }), Code::NoAuth);
    let Response::GetAcl { acl, .. } = h.ok(bob, Request::GetAcl { path: "/bob".into() }) else { panic!() };
    assert_eq!(acl, vec![Acl::new(perms::ALL, "digest", &zksim::tree::acl::generate_digest("bob:secret"))]);
    // The same identity in another session gets in.
    let bob2 = h.connect(4000);
    h.ok(bob2, Request::Auth { scheme: "digest".into(), auth: b"bob:secret".to_vec() });
    h.ok(bob2, get("/bob", false));
    // A digest ACL readable by everyone shows the hash only to ADMIN holders.
    let digest_id = zksim::tree::acl::generate_digest("carol:pw");
    h.ok(bob, create("/shared", vec![Acl::new(perms::READ, "world", "anyone"), Acl::new(perms::ALL, "digest", &digest_id)], CreateMode::Persistent));
    let Response::GetAcl { acl, .. } = h.ok(eve, Request::GetAcl { path: "/shared".into() }) else { panic!() };
    assert_eq!(acl[1].id.id, "carol:x");
}

#[test]
fn bad_acls_and_bad_auth_are_refused() {
    let mut h = harness();
    let s = h.connect(4000);
    assert_eq!(h.err(s, create("/x", Acl::creator_all(), CreateMode::Persistent)), Code::InvalidAcl);
    assert_eq!(h.err(s, create("/x", vec![], CreateMode::Persistent)), Code::InvalidAcl);
    let zxid_before = h.server.last_processed_zxid();
    h.now_ms += 1;
    h.server.on_request(h.now_ms, s, 99, Request::Auth { scheme: "digest".into(), auth: b"no-colon".to_vec() });
    let out = h.server.drain_outputs();
    assert!(out.iter().any(|o| matches!(o, ServerOutput::Reply { result: Err(Code::AuthFailed), .. })));
    assert!(out.iter().any(|o| matches!(o, ServerOutput::CloseConnection { .. })));
    assert_eq!(h.server.last_processed_zxid(), zxid_before, "auth is not a transaction");
}

#[test]
fn persistent_watches_stay_and_recursive_ones_see_descendants() {
    let mut h = harness();
    let (w, c) = (h.connect(4000), h.connect(4000));
    h.ok(c, plain("/p"));
    h.ok(c, plain("/r"));
    h.ok(w, Request::AddWatch { path: "/p".into(), mode: AddWatchMode::Persistent });
    h.ok(w, Request::AddWatch { path: "/r".into(), mode: AddWatchMode::PersistentRecursive });
    assert_eq!(h.call(c, set("/p")).1, vec![ev(w, "NodeDataChanged", "/p")]);
    assert_eq!(h.call(c, set("/p")).1, vec![ev(w, "NodeDataChanged", "/p")], "still armed");
    assert_eq!(h.call(c, plain("/p/k")).1, vec![ev(w, "NodeChildrenChanged", "/p")]);
    assert_eq!(h.call(c, set("/p/k")).1, vec![], "persistent (not recursive) ignores descendants");
    assert_eq!(h.call(c, plain("/r/a")).1, vec![ev(w, "NodeCreated", "/r/a")], "recursive: no NodeChildrenChanged");
    assert_eq!(h.call(c, plain("/r/a/b")).1, vec![ev(w, "NodeCreated", "/r/a/b")]);
    assert_eq!(h.call(c, set("/r/a/b")).1, vec![ev(w, "NodeDataChanged", "/r/a/b")]);
    assert_eq!(h.call(c, Request::Delete { path: "/r/a/b".into(), version: -1 }).1, vec![ev(w, "NodeDeleted", "/r/a/b")]);
    h.ok(w, Request::RemoveWatches { path: "/p".into(), watcher_type: WatcherType::Any });
    assert_eq!(h.call(c, set("/p")).1, vec![]);
    assert_eq!(h.err(w, Request::RemoveWatches { path: "/p".into(), watcher_type: WatcherType::Data }), Code::NoWatcher);
}

#[test]
fn removed_one_time_watches_do_not_fire() {
    let mut h = harness();
    let s = h.connect(4000);
    h.ok(s, plain("/n"));
    h.ok(s, get("/n", true));
    h.ok(s, Request::GetChildren { path: "/n".into(), watch: true, with_stat: false });
    h.ok(s, Request::CheckWatches { path: "/n".into(), watcher_type: WatcherType::Children });
    h.ok(s, Request::RemoveWatches { path: "/n".into(), watcher_type: WatcherType::Data });
    assert_eq!(h.call(s, set("/n")).1, vec![], "data watch removed");
    assert_eq!(h.call(s, plain("/n/c")).1, vec![ev(s, "NodeChildrenChanged", "/n")], "child watch kept");
}

#[test]
fn set_watches_fires_what_was_missed_and_rearms_the_rest() {
    let mut h = harness();
    let (s, c) = (h.connect(4000), h.connect(4000));
    for p in ["/same", "/changed", "/gone", "/kids", "/later"] {
        if p != "/later" {
            h.ok(c, plain(p));
        }
    }
    let seen = h.server.last_processed_zxid();
    h.ok(c, set("/changed"));
    h.ok(c, Request::Delete { path: "/gone".into(), version: -1 });
    h.ok(c, plain("/kids/k"));
    h.ok(c, plain("/later"));
    let (_, events) = h.call(
        s,
        Request::SetWatches {
            relative_zxid: seen,
            data_watches: vec!["/same".into(), "/changed".into(), "/gone".into()],
            exist_watches: vec!["/later".into(), "/never".into()],
            child_watches: vec!["/kids".into(), "/same".into()],
            persistent_watches: vec![],
            persistent_recursive_watches: vec![],
        },
    );
    assert_eq!(
        events,
        vec![
            ev(s, "NodeDataChanged", "/changed"),
            ev(s, "NodeDeleted", "/gone"),
            ev(s, "NodeCreated", "/later"),
            ev(s, "NodeChildrenChanged", "/kids"),
        ]
    );
    // Re-armed: /same data + child, /never existence.
    assert_eq!(h.call(c, set("/same")).1, vec![ev(s, "NodeDataChanged", "/same")]);
    assert_eq!(h.call(c, plain("/never")).1, vec![ev(s, "NodeCreated", "/never")]);
    assert_eq!(h.call(c, plain("/same/x")).1, vec![ev(s, "NodeChildrenChanged", "/same")]);
}

#[test]
fn an_expired_session_loses_its_ephemerals_and_watchers_are_told() {
    let mut h = harness();
    let (owner, watcher) = (h.connect(1000), h.connect(30_000));
    assert_eq!(h.server.sessions.get(watcher).unwrap().timeout_ms, 4000, "clamped to 20 x tickTime");
    let mut other = harness();
    let short = other.connect(10);
    assert_eq!(other.server.sessions.get(short).unwrap().timeout_ms, 400, "clamped to 2 x tickTime");
    h.ok(owner, create("/lock", Acl::open_unsafe(), CreateMode::Ephemeral));
    h.ok(watcher, Request::Exists { path: "/lock".into(), watch: true });
    let created_at = h.now_ms;
    // The owner falls silent; the watcher keeps its session alive.
    h.now_ms = created_at + 1000;
    h.server.on_tick(h.now_ms);
    assert!(h.server.drain_outputs().is_empty(), "not yet: expiry rounds up to the next tick");
    h.now_ms = created_at + 1000 + 200;
    h.server.on_tick(h.now_ms);
    let out = h.server.drain_outputs();
    assert!(out.contains(&ServerOutput::Event { session: watcher, event: WatchedEvent { event_type: EventType::NodeDeleted, path: "/lock".into() } }));
    assert!(out.iter().any(|o| matches!(o, ServerOutput::CloseConnection { session, .. } if *session == owner)));
    assert_eq!(h.err(watcher, Request::Exists { path: "/lock".into(), watch: false }), Code::NoNode);
    assert_eq!(h.err(owner, get("/", false)), Code::SessionExpired);
    // Reconnecting to an expired session is answered with timeout 0.
    h.server.on_connect(h.now_ms, 1000, Some((owner, [0; 16])), 0).unwrap();
    assert!(matches!(h.server.drain_outputs()[0], ServerOutput::Connected { timeout_ms: 0, .. }));
}

#[test]
fn reconnect_rules() {
    let mut h = harness();
    let s = h.connect(4000);
    let password = h.server.sessions.get(s).unwrap().password;
    h.ok(s, plain("/a"));
    let ahead = h.server.last_processed_zxid() + 1;
    assert!(h.server.on_connect(h.now_ms, 4000, Some((s, password)), ahead).is_err(), "client saw a newer zxid");
    h.server.on_connect(h.now_ms, 4000, Some((s, [7; 16])), 0).unwrap();
    assert!(matches!(h.server.drain_outputs()[0], ServerOutput::Connected { timeout_ms: 0, .. }), "wrong password");
    h.server.on_connect(h.now_ms, 4000, Some((s, password)), 0).unwrap();
    assert!(matches!(h.server.drain_outputs()[0], ServerOutput::Connected { timeout_ms: 4000, .. }));
}

#[test]
fn oversized_requests_drop_the_connection_without_a_transaction() {
    let mut h = harness();
    let s = h.connect(4000);
    let before = h.server.last_processed_zxid();
    h.now_ms += 1;
    let big = Request::Create { path: "/big".into(), data: vec![0; JUTE_MAX_BUFFER_BYTES], acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: -1, with_stat: false };
    h.server.on_request(h.now_ms, s, 1, big);
    assert!(matches!(h.server.drain_outputs()[..], [ServerOutput::CloseConnection { .. }]));
    assert_eq!(h.server.last_processed_zxid(), before);
    h.ok(s, get("/", false)); // the session survives
}

#[test]
fn containers_and_ttl_nodes_are_cleaned_up() {
    let mut config = ServerConfig::new(200);
    config.extended_types_enabled = true;
    let mut h = Harness::new(config);
    let s = h.connect(4000);
    h.ok(s, create("/box", Acl::open_unsafe(), CreateMode::Container));
    h.server.check_containers(h.now_ms);
    assert!(h.server.tree.node("/box").is_some(), "a container that never had a child stays");
    h.ok(s, plain("/box/item"));
    h.ok(s, Request::Delete { path: "/box/item".into(), version: -1 });
    h.server.check_containers(h.now_ms);
    assert!(h.server.tree.node("/box").is_none(), "an emptied container is deleted");
    let ttl = |ttl_ms| Request::Create { path: "/t".into(), data: vec![], acl: Acl::open_unsafe(), mode: CreateMode::PersistentWithTtl, ttl_ms, with_stat: true };
    assert_eq!(h.err(s, ttl(0)), Code::BadArguments);
    let Response::Create { stat: Some(stat), .. } = h.ok(s, ttl(500)) else { panic!() };
    assert_eq!(stat.ephemeral_owner, 0, "TTL nodes report no owner");
    h.server.check_containers(h.now_ms + 400);
    assert!(h.server.tree.node("/t").is_some());
    h.server.check_containers(h.now_ms + 600);
    assert!(h.server.tree.node("/t").is_none(), "unmodified past its TTL");
}

#[test]
fn ttl_nodes_need_extended_types() {
    let mut h = harness();
    let s = h.connect(4000);
    let req = Request::Create { path: "/t".into(), data: vec![], acl: Acl::open_unsafe(), mode: CreateMode::PersistentWithTtl, ttl_ms: 100, with_stat: true };
    assert_eq!(h.err(s, req), Code::Unimplemented);
}

#[test]
fn read_only_queries() {
    let mut h = harness();
    let s = h.connect(4000);
    h.ok(s, plain("/q"));
    h.ok(s, plain("/q/a"));
    h.ok(s, plain("/q/a/b"));
    h.ok(s, create("/q/e1", Acl::open_unsafe(), CreateMode::Ephemeral));
    h.ok(s, create("/e2", Acl::open_unsafe(), CreateMode::Ephemeral));
    assert_eq!(h.ok(s, Request::GetAllChildrenNumber { path: "/q".into() }), Response::GetAllChildrenNumber { number: 3 });
    let Response::GetEphemerals { mut paths } = h.ok(s, Request::GetEphemerals { prefix_path: "/".into() }) else { panic!() };
    paths.sort();
    assert_eq!(paths, vec!["/e2", "/q/e1"]);
    assert_eq!(h.ok(s, Request::GetEphemerals { prefix_path: "/q".into() }), Response::GetEphemerals { paths: vec!["/q/e1".into()] });
    let Response::MultiRead { results } = h.ok(s, Request::MultiRead { ops: vec![Op::GetData { path: "/q".into() }, Op::GetChildren { path: "/nope".into() }] }) else { panic!() };
    assert!(matches!(results[0], OpResult::GetData { .. }));
    assert_eq!(results[1], OpResult::Error { code: Code::NoNode });
}
