//! Transcript tests of the ZAB peer core (`zksim::zab`) on the in-process test ensemble:
//! each phase, each sync mode, and the persist-before-ACK rules.

use zksim::proto::{CreateMode, Request, Response};
use zksim::wire::{ClientMessage, ConnectRequest, ServerMessage};
use zksim::zab::testkit::TestEnsemble;
use zksim::zab::ServerState;

fn connect(e: &mut TestEnsemble, server: u64, conn: u64) -> i64 {
    e.client_connect(server, conn);
    let req = ConnectRequest { protocol_version: 0, last_zxid_seen: 0, timeout_ms: 10_000, session_id: 0, password: [0; 16], read_only: false };
    e.client_send(server, conn, ClientMessage::Connect(req));
    e.run_for(100);
    let session = e.client_out.iter().find_map(|(s, c, m)| match m {
        ServerMessage::Connected(r) if *s == server && *c == conn && r.timeout_ms > 0 => Some(r.session_id),
        _ => None,
    });
    session.expect("session established")
}

fn create(path: &str) -> Request {
    Request::Create { path: path.into(), data: b"x".to_vec(), acl: zksim::proto::Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: 0, with_stat: false }
}

fn reply(e: &TestEnsemble, conn: u64, xid: i32) -> Option<(i64, Result<Response, zksim::proto::Code>)> {
    e.client_out.iter().find_map(|(_, c, m)| match m {
        ServerMessage::Reply { xid: x, zxid, result } if *c == conn && *x == xid => Some((*zxid, result.clone())),
        _ => None,
    })
}

#[test]
fn three_servers_elect_the_highest_id_and_serve_a_write_through_a_follower() {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000), "ensemble established");
    assert_eq!(e.leader(), Some(3), "equal zxids and epochs: the highest id wins");
    assert_eq!(e.state(1), Some(ServerState::Following));
    connect(&mut e, 1, 7);
    e.client_send(1, 7, ClientMessage::Request { xid: 1, request: create("/a") });
    e.run_for(100);
    let (zxid, result) = reply(&e, 7, 1).expect("reply");
    assert_eq!(result, Ok(Response::Create { path: "/a".into(), stat: None }));
    assert_eq!(zxid >> 32, 1, "first epoch");
    for id in 1..=3 {
        assert!(e.peer(id).tree().node("/a").is_some(), "replica {id} applied the create");
        assert_eq!(e.peer(id).digest(), e.peer(3).digest());
    }
}
