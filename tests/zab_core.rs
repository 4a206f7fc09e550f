//! Transcript tests of the ZAB peer core (`zksim::zab`) on the in-process test ensemble:
//! each phase, each sync mode, and the persist-before-ACK rules.
//!
//! Expected behaviour is ZooKeeper 3.8's (`FastLeaderElection.lookForLeader`, `Leader.lead`,
//! `LearnerHandler.syncFollower` / `queueCommittedProposals`, `Learner.syncWithLeader`,
//! `Follower.processPacket`, `FollowerZooKeeperServer.commit`) and the ZAB paper's phases
//! (Junqueira, Reed, Serafini, DSN 2011: Phase 0 election, Phase 1 discovery, Phase 2
//! synchronization, Phase 3 broadcast).

use std::sync::Arc;

use zksim::proto::{Acl, CreateMode, EventType, Request, Response, Zxid};
use zksim::tree::{Txn, TxnEntry, TxnHeader};
use zksim::wire::{ClientMessage, ConnectRequest, ConnectResponse, ServerMessage};
use zksim::zab::database::{DiskMirror, ZkDatabase};
use zksim::zab::peer::Observation;
use zksim::zab::testkit::TestEnsemble;
use zksim::zab::{make_zxid, Bug, Bugs, PeerConfig, PeerMessage, ServerId, ServerState};

// ====================================================================== helpers

fn connect_request(session_id: i64, password: [u8; 16], last_zxid_seen: Zxid) -> ConnectRequest {
    ConnectRequest { protocol_version: 0, last_zxid_seen, timeout_ms: 10_000, session_id, password, read_only: false }
}

/// Opens `conn` to `server` with `req`; the Connected answer (timeout > 0), if any.
fn try_connect(e: &mut TestEnsemble, server: ServerId, conn: u64, req: ConnectRequest) -> Option<ConnectResponse> {
    e.client_connect(server, conn);
    e.client_send(server, conn, ClientMessage::Connect(req));
    e.run_for(100);
    e.client_out.iter().find_map(|(s, c, m)| match m {
        ServerMessage::Connected(r) if *s == server && *c == conn && r.timeout_ms > 0 => Some(r.clone()),
        _ => None,
    })
}

fn connect(e: &mut TestEnsemble, server: ServerId, conn: u64) -> i64 {
    try_connect(e, server, conn, connect_request(0, [0; 16], 0)).expect("session established").session_id
}

fn create(path: &str) -> Request {
    Request::Create { path: path.into(), data: b"x".to_vec(), acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: 0, with_stat: false }
}

fn send(e: &mut TestEnsemble, server: ServerId, conn: u64, xid: i32, request: Request) {
    e.client_send(server, conn, ClientMessage::Request { xid, request });
}

fn reply(e: &TestEnsemble, conn: u64, xid: i32) -> Option<(i64, Result<Response, zksim::proto::Code>)> {
    e.client_out.iter().find_map(|(_, c, m)| match m {
        ServerMessage::Reply { xid: x, zxid, result } if *c == conn && *x == xid => Some((*zxid, result.clone())),
        _ => None,
    })
}

/// Index in `client_out` of the reply to `xid` on `conn`.
fn reply_index(e: &TestEnsemble, conn: u64, xid: i32) -> Option<usize> {
    e.client_out.iter().position(|(_, c, m)| *c == conn && matches!(m, ServerMessage::Reply { xid: x, .. } if *x == xid))
}

/// Creates each path through `server` (one request at a time) and returns the zxids.
fn write_all(e: &mut TestEnsemble, server: ServerId, conn: u64, first_xid: i32, paths: &[&str]) -> Vec<Zxid> {
    let mut zxids = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let xid = first_xid + i as i32;
        send(e, server, conn, xid, create(path));
        e.run_for(100);
        let (zxid, result) = reply(e, conn, xid).unwrap_or_else(|| panic!("reply to create {path}"));
        assert!(result.is_ok(), "create {path}: {result:?}");
        zxids.push(zxid);
    }
    zxids
}

/// Every live server has the same tree and the same last processed zxid.
fn assert_converged(e: &TestEnsemble) {
    let (first, peer) = e.peers.iter().next().expect("a live server");
    for (id, p) in &e.peers {
        assert_eq!(p.digest(), peer.digest(), "digest of {id} differs from {first}'s");
        assert_eq!(p.last_processed_zxid(), peer.last_processed_zxid(), "last processed zxid of {id} differs from {first}'s");
    }
}

/// What `id` would load after a crash (durable snapshot + log) is the tree it serves.
fn assert_durable_state_matches_tree(e: &TestEnsemble, id: ServerId) {
    let reloaded = ZkDatabase::load(&e.disks[&id].durable, 500);
    assert_eq!(reloaded.tree.digest(), e.peer(id).digest(), "server {id}'s durable state lags its tree");
}

/// The quorum packets `to` received since `mark` (an index into `e.delivered`), without
/// election traffic and heartbeats.
fn zab_kinds_since(e: &TestEnsemble, to: ServerId, mark: usize) -> Vec<&'static str> {
    e.delivered[mark..].iter().filter(|(_, t, k)| *t == to && *k != "NOTIFICATION" && *k != "PING").map(|(_, _, k)| *k).collect()
}

/// The synchronization transcript of `to` since `mark`: the packets after LEADERINFO up to
/// and including UPTODATE.
fn sync_transcript(e: &TestEnsemble, to: ServerId, mark: usize) -> Vec<&'static str> {
    let kinds = zab_kinds_since(e, to, mark);
    let start = kinds.iter().position(|k| *k == "LEADERINFO").expect("a LEADERINFO") + 1;
    let end = kinds.iter().position(|k| *k == "UPTODATE").map_or(kinds.len(), |i| i + 1);
    kinds[start..end].to_vec()
}

fn acks_from_since(e: &TestEnsemble, from: ServerId, mark: usize) -> usize {
    e.delivered[mark..].iter().filter(|(f, _, k)| *f == from && *k == "ACK").count()
}

/// The ACKs `learner` sent and the UPTODATE it received since `mark`, in delivery order.
fn acks_and_uptodate_since(e: &TestEnsemble, learner: ServerId, mark: usize) -> Vec<&'static str> {
    e.delivered[mark..]
        .iter()
        .filter(|(f, t, k)| (*f == learner && *k == "ACK") || (*t == learner && *k == "UPTODATE"))
        .map(|(_, _, k)| *k)
        .collect()
}

fn states_of(e: &TestEnsemble, id: ServerId) -> Vec<ServerState> {
    e.observations
        .iter()
        .filter_map(|(s, o)| match o {
            Observation::StateChanged { state, .. } if *s == id => Some(*state),
            _ => None,
        })
        .collect()
}

fn established_epochs(e: &TestEnsemble, id: ServerId) -> Vec<i64> {
    e.observations
        .iter()
        .filter_map(|(s, o)| match o {
            Observation::Established { epoch, .. } if *s == id => Some(*epoch),
            _ => None,
        })
        .collect()
}

/// A persistent create as the leader would have logged it.
fn create_txn(zxid: Zxid, path: &str, parent_cversion: i32) -> Arc<TxnEntry> {
    let header = TxnHeader { client_id: 0, cxid: 0, zxid, time_ms: 1_000 };
    let txn = Txn::Create { path: path.into(), data: b"d".to_vec(), acl: Acl::open_unsafe(), ephemeral: false, parent_cversion, with_stat: false };
    Arc::new(TxnEntry { header, txn })
}

/// A durable disk holding `entries` (zxid, path) as creates under `/`, in epoch `epoch`.
fn disk(epoch: i64, entries: &[(Zxid, &str)]) -> DiskMirror {
    let mut mirror = DiskMirror { accepted_epoch: epoch, current_epoch: epoch, ..DiskMirror::default() };
    for (i, (zxid, path)) in entries.iter().enumerate() {
        mirror.append(create_txn(*zxid, path, i as i32 + 1));
    }
    mirror
}

/// An ensemble whose servers start from the given durable disks (servers not listed start
/// empty).
fn ensemble_with_disks(voters: usize, tweak: impl Fn(&mut PeerConfig), disks: Vec<(ServerId, DiskMirror)>) -> TestEnsemble {
    let mut e = TestEnsemble::new(voters, 0, tweak);
    let ids: Vec<ServerId> = e.peers.keys().copied().collect();
    for &id in &ids {
        e.crash(id);
    }
    for (id, mirror) in disks {
        e.disks.get_mut(&id).expect("a member").durable = mirror;
    }
    for id in ids {
        e.start(id);
    }
    e
}

/// Three servers established with leader 3, a client `conn` 7 on the leader.
fn established_three() -> TestEnsemble {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000), "ensemble established");
    assert_eq!(e.leader(), Some(3));
    connect(&mut e, 3, 7);
    e
}

// ====================================================================== Phase 0: election

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

/// `FastLeaderElection.totalOrderPredicate`: with equal epochs the longer log wins before the
/// id is looked at.
#[test]
fn election_prefers_a_longer_log_over_a_higher_id() {
    let mut e = established_three();
    e.crash(2);
    write_all(&mut e, 3, 7, 1, &["/a", "/b"]);
    e.crash(3);
    e.start(2);
    assert!(e.stabilize(20_000), "1 and 2 form a quorum");
    assert_eq!(e.leader(), Some(1), "server 1 holds /a and /b, server 2 does not: 1 leads despite its lower id");
    assert_eq!(e.state(2), Some(ServerState::Following));
    for id in [1, 2] {
        assert!(e.peer(id).tree().node("/b").is_some(), "committed /b survives on {id}");
    }
    assert_converged(&e);
}

/// `totalOrderPredicate` compares the currentEpoch before the zxid: a server that synced with
/// a newer leader beats an old leader holding uncommitted txns of an older epoch. (The vote
/// whose zxid is larger must lose, or its txns are resurrected: ZOOKEEPER-4643's shape.)
#[test]
fn election_prefers_a_higher_epoch_over_a_longer_log() {
    let (a, b, c, d) = (make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3), make_zxid(1, 4));
    let mut newer = disk(1, &[(a, "/a"), (b, "/b")]);
    newer.accepted_epoch = 2;
    newer.current_epoch = 2;
    let old_leader = disk(1, &[(a, "/a"), (b, "/b"), (c, "/c"), (d, "/d")]);
    let mut e = ensemble_with_disks(3, |_| {}, vec![(1, newer), (2, disk(1, &[(a, "/a"), (b, "/b")])), (3, old_leader)]);
    let mark = e.delivered.len();
    assert!(e.stabilize(20_000));
    assert_eq!(e.leader(), Some(1), "currentEpoch 2 beats zxid 0x1_4");
    assert_eq!(sync_transcript(&e, 3, mark)[0], "TRUNC", "the old leader's uncommitted txns are truncated");
    assert!(e.peer(3).tree().node("/d").is_none());
    assert_converged(&e);
}

/// `lookForLeader` FOLLOWING/LEADING notifications (`outofelection`, `checkLeader`): a
/// restarted server follows the established leader, which keeps its epoch.
#[test]
fn restarted_follower_joins_the_established_leader_without_a_new_epoch() {
    let mut e = established_three();
    let epoch = e.peer(3).current_epoch();
    e.crash(1);
    write_all(&mut e, 3, 7, 1, &["/a"]);
    let leader_states = states_of(&e, 3).len();
    e.start(1);
    assert!(e.stabilize(10_000));
    assert_eq!(e.state(1), Some(ServerState::Following));
    assert_eq!(e.peer(1).leader_id(), Some(3), "follows the established leader");
    assert_eq!(e.leader(), Some(3));
    assert_eq!(e.peer(3).current_epoch(), epoch, "no new epoch");
    assert_eq!(e.peer(1).current_epoch(), epoch);
    assert_eq!(states_of(&e, 3).len(), leader_states, "the leader never left Leading");
    assert_converged(&e);
}

/// `FastLeaderElection`: an observer proposes no one and is never counted; it never leads,
/// not even with the highest ids and with the voters gone.
#[test]
fn observers_never_lead() {
    let mut e = TestEnsemble::new(3, 2, |_| {});
    assert!(e.stabilize(10_000));
    assert_eq!(e.leader(), Some(3), "voters only");
    assert_eq!(e.state(4), Some(ServerState::Observing));
    assert_eq!(e.state(5), Some(ServerState::Observing));
    e.crash(3);
    assert!(e.stabilize(20_000));
    assert_eq!(e.leader(), Some(2));
    e.crash(2);
    e.run_for(30_000);
    assert_eq!(e.leader(), None, "one voter of three is no quorum, observers do not count");
    for id in [4, 5] {
        assert!(!states_of(&e, id).contains(&ServerState::Leading), "observer {id} never leads");
        assert!(!states_of(&e, id).contains(&ServerState::Following), "observer {id} never follows as a voter");
    }
}

/// ZAB Phase 1: a new leader's epoch is larger than every epoch a quorum accepted.
#[test]
fn leader_crash_elects_a_new_leader_with_a_higher_epoch() {
    let mut e = established_three();
    let zxids = write_all(&mut e, 3, 7, 1, &["/a"]);
    let old_epoch = e.peer(3).current_epoch();
    e.crash(3);
    assert!(e.stabilize(20_000));
    let leader = e.leader().expect("a new leader");
    assert_eq!(leader, 2);
    assert!(e.peer(2).current_epoch() > old_epoch, "new epoch");
    assert_eq!(established_epochs(&e, 2), vec![old_epoch + 1]);
    connect(&mut e, 1, 8);
    let new = write_all(&mut e, 1, 8, 1, &["/b"]);
    assert_eq!(new[0] >> 32, old_epoch + 1, "new zxids carry the new epoch");
    assert!(new[0] > zxids[0]);
    assert!(e.peer(1).tree().node("/a").is_some(), "committed txn kept");
    assert_converged(&e);
}

// ====================================================================== Phase 1: discovery

/// `Leader.lead` / `Learner.registerWithLeader`: acceptedEpoch is persisted when LEADERINFO
/// is accepted, currentEpoch at NEWLEADER; both durable on every server once established.
#[test]
fn epochs_are_durable_on_every_server_after_establishment() {
    let mut e = established_three();
    for id in 1..=3 {
        let d = &e.disks[&id].durable;
        assert_eq!((d.accepted_epoch, d.current_epoch), (1, 1), "server {id}");
    }
    e.crash(3);
    assert!(e.stabilize(20_000));
    for id in [1, 2] {
        let d = &e.disks[&id].durable;
        assert_eq!((d.accepted_epoch, d.current_epoch), (2, 2), "server {id} after the second election");
    }
    e.start(3);
    assert!(e.stabilize(10_000));
    let d = &e.disks[&3].durable;
    assert_eq!((d.accepted_epoch, d.current_epoch), (2, 2), "the old leader after rejoining");
}

/// `Leader.waitForEpochAck`: "Follower is ahead of the leader". Server 1 (currentEpoch 1, a
/// logged txn) is kept out of the election, so 2 and 3 elect 3 (epoch 0, empty); 1 then joins
/// through their decided votes and its FOLLOWERINFO arrives before the epoch is fixed. Its
/// ACKEPOCH shows (1, 0x1_1) > the leader's (0, 0): the leader must not establish.
/// (ZooKeeper throws in that learner's handler and keeps waiting for a quorum; zksim steps
/// down at once, which is stricter: the ahead server then wins the next election.)
/// Server 1 (currentEpoch 1, a logged txn) is kept out of the election, so 2 and 3 elect 3
/// (epoch 0, empty) while 2's FOLLOWERINFO is held; 1 then joins through their decided votes
/// and its FOLLOWERINFO arrives before the epoch is fixed, so its ACKEPOCH reports
/// currentEpoch 1.
fn ensemble_with_an_ahead_follower_in_discovery() -> TestEnsemble {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    e.crash(1);
    e.disks.get_mut(&1).unwrap().durable = disk(1, &[(make_zxid(1, 1), "/ahead")]);
    let hold = |m: &zksim::zab::testkit::InFlight| !(m.from == 2 && m.msg.kind() == "FOLLOWERINFO");
    for _ in 0..200 {
        while e.deliver_matching(hold) {}
        if e.state(3) == Some(ServerState::Leading) && e.state(2) == Some(ServerState::Following) {
            break;
        }
        e.advance(10);
    }
    assert_eq!(e.state(3), Some(ServerState::Leading));
    e.start(1);
    while e.deliver_matching(hold) {}
    assert!(e.delivered.iter().any(|(f, t, k)| (*f, *t, *k) == (1, 3, "ACKEPOCH")), "server 1 reached ACKEPOCH");
    e
}

/// `Leader.waitForEpochAck`: "Follower is ahead of the leader": the ACKEPOCH's
/// (currentEpoch 1, 0x1_1) is more recent than the leader's (0, 0), so it must not establish.
/// (ZooKeeper throws in that learner's handler and keeps waiting for a quorum; zksim steps
/// down at once, which is stricter: the ahead server then wins the next election.)
#[test]
fn leader_steps_down_when_a_follower_acks_a_more_recent_epoch() {
    let mut e = ensemble_with_an_ahead_follower_in_discovery();
    assert_ne!(e.state(3), Some(ServerState::Leading), "the leader gave up");
    assert!(established_epochs(&e, 3).is_empty(), "and never established");
    // Server 2's FOLLOWERINFO was still in flight: it waits out initLimit (20 s), see
    // `learner_of_a_leader_that_stepped_down_returns_to_election_promptly`.
    assert!(e.stabilize(60_000));
    assert_eq!(e.leader(), Some(1), "the most recent server leads the next epoch");
    assert!(e.peer(2).tree().node("/ahead").is_some());
    assert_converged(&e);
}

/// `Leader.shutdown` closes every learner connection it accepted (`LearnerHandler.shutdown`),
/// so a follower whose FOLLOWERINFO was sent to a leader that then stepped down gets an
/// IOException and is back in election at once, not after initLimit.
#[test]
#[ignore = "core bug (liveness): a leader that steps down closes only the learners whose FOLLOWERINFO it handled; one still in flight waits initLimit"]
fn learner_of_a_leader_that_stepped_down_returns_to_election_promptly() {
    let mut e = ensemble_with_an_ahead_follower_in_discovery();
    assert_ne!(e.state(3), Some(ServerState::Leading));
    e.run_for(5_000);
    assert_ne!(e.peer(2).leader_id(), Some(3), "server 2 no longer waits for the old leader");
    assert!(e.peer(2).is_serving(), "server 2 joined the new leader");
}

// ====================================================================== Phase 2: synchronization

/// `syncFollower`: a follower inside the committed log gets DIFF, then PROPOSAL+COMMIT for
/// each missing txn (`queueCommittedProposals`), then NEWLEADER and UPTODATE.
#[test]
fn sync_diff_sends_the_missing_committed_txns() {
    let mut e = established_three();
    e.crash(1);
    let zxids = write_all(&mut e, 3, 7, 1, &["/a", "/b", "/c"]);
    let mark = e.delivered.len();
    let seen = e.committed(1).len();
    e.start(1);
    assert!(e.stabilize(10_000));
    let mut expected = vec!["DIFF"];
    for _ in &zxids {
        expected.extend(["PROPOSAL", "COMMIT"]);
    }
    expected.extend(["NEWLEADER", "UPTODATE"]);
    assert_eq!(sync_transcript(&e, 1, mark), expected);
    assert_eq!(e.committed(1)[seen..], zxids, "the DIFF's txns are applied in order");
    assert_eq!(e.disks[&1].durable.last_logged_zxid(), zxids[2], "and logged");
    assert_converged(&e);
}

/// `syncFollower`: `lastProcessedZxid == peerLastZxid` gives an empty DIFF.
#[test]
fn sync_empty_diff_when_the_follower_is_up_to_date() {
    let mut e = established_three();
    write_all(&mut e, 3, 7, 1, &["/a"]);
    let mark = e.delivered.len();
    e.crash(1);
    e.start(1);
    assert!(e.stabilize(10_000));
    assert_eq!(sync_transcript(&e, 1, mark), vec!["DIFF", "NEWLEADER", "UPTODATE"]);
    assert_converged(&e);
}

/// `syncFollower`: `peerLastZxid > maxCommittedLog` gives TRUNC. The old leader logged (and
/// fsynced) a proposal no follower received, then crashed; it must drop it when rejoining.
#[test]
fn sync_trunc_removes_an_old_leaders_uncommitted_txn() {
    let mut e = established_three();
    let committed = write_all(&mut e, 3, 7, 1, &["/a"]);
    e.cut.insert((3, 1));
    e.cut.insert((3, 2));
    send(&mut e, 3, 7, 2, create("/lost"));
    e.run_for(10);
    let lost = e.disks[&3].durable.last_logged_zxid();
    assert!(lost > committed[0], "the old leader logged /lost durably");
    assert!(reply(&e, 7, 2).is_none(), "never acknowledged");
    e.crash(3);
    e.cut.clear();
    assert!(e.stabilize(20_000));
    assert_eq!(e.leader(), Some(2));
    let mark = e.delivered.len();
    e.start(3);
    assert!(e.stabilize(10_000));
    assert_eq!(sync_transcript(&e, 3, mark), vec!["TRUNC", "NEWLEADER", "UPTODATE"]);
    assert!(e.disks[&3].durable.log.iter().all(|t| t.header.zxid != lost), "truncated from the log");
    assert!(e.peer(3).tree().node("/lost").is_none());
    assert_converged(&e);
}

/// ZOOKEEPER-2845's schedule: the leader, cut off from its followers, logs a txn, steps down
/// (no restart) and rejoins the new leader. It must vote and sync from what it logged (the
/// fix reloads the database from the log on leaving leading), so it gets TRUNC, not DIFF.
#[test]
fn deposed_leader_rejoining_without_restart_truncates_its_logged_txn() {
    let mut e = established_three();
    write_all(&mut e, 3, 7, 1, &["/a"]);
    for other in [1, 2] {
        e.cut.insert((3, other));
        e.cut.insert((other, 3));
    }
    send(&mut e, 3, 7, 2, create("/lost"));
    e.run_for(10);
    let lost = e.disks[&3].durable.last_logged_zxid();
    assert!(e.peer(3).tree().node("/lost").is_none(), "logged, never committed");
    e.run_for(15_000);
    assert_ne!(e.state(3), Some(ServerState::Leading), "the isolated leader stepped down");
    assert_eq!(e.leader(), Some(2));
    let mark = e.delivered.len();
    e.cut.clear();
    assert!(e.stabilize(20_000));
    assert_eq!(sync_transcript(&e, 3, mark)[0], "TRUNC");
    assert!(e.disks[&3].durable.log.iter().all(|t| t.header.zxid != lost), "truncated from the log");
    assert_converged(&e);
    e.crash(3);
    e.start(3);
    assert!(e.stabilize(10_000));
    assert!(e.peer(3).tree().node("/lost").is_none(), "not resurrected by a restart");
    assert_converged(&e);
}

/// `queueCommittedProposals`: the peer's last zxid is not in the committed log but an entry of
/// the same epoch after it is: TRUNC to the previous committed zxid, then the proposals
/// (`LearnerHandlerTest` builds the same gap). Server 1 holds a divergent 0x1_3; the leader
/// committed 0x1_1, 0x1_2, 0x1_4, 0x1_5.
#[test]
fn sync_trunc_plus_diff_for_a_divergent_txn_inside_the_window() {
    let z = |c| make_zxid(1, c);
    let leader_log = [(z(1), "/a"), (z(2), "/b"), (z(4), "/d"), (z(5), "/e")];
    let divergent = disk(1, &[(z(1), "/a"), (z(2), "/b"), (z(3), "/diverged")]);
    let mut e = ensemble_with_disks(3, |_| {}, vec![(1, divergent), (2, disk(1, &leader_log)), (3, disk(1, &leader_log))]);
    let mark = e.delivered.len();
    assert!(e.stabilize(20_000));
    assert_eq!(e.leader(), Some(3));
    assert_eq!(sync_transcript(&e, 2, mark), vec!["DIFF", "NEWLEADER", "UPTODATE"], "server 2 is level");
    assert_eq!(
        sync_transcript(&e, 1, mark),
        vec!["TRUNC", "PROPOSAL", "COMMIT", "PROPOSAL", "COMMIT", "NEWLEADER", "UPTODATE"],
        "TRUNC to 0x1_2, then 0x1_4 and 0x1_5"
    );
    assert!(e.peer(1).tree().node("/diverged").is_none());
    assert!(e.peer(1).tree().node("/e").is_some());
    assert_durable_state_matches_tree(&e, 1);
    assert_converged(&e);
}

/// `syncFollower`: a follower older than `minCommittedLog` gets a SNAP.
#[test]
fn sync_snap_when_the_follower_is_older_than_the_committed_log() {
    let mut e = TestEnsemble::new(3, 0, |c| c.commit_log_count = 3);
    assert!(e.stabilize(10_000));
    connect(&mut e, 3, 7);
    e.crash(1);
    write_all(&mut e, 3, 7, 1, &["/a", "/b", "/c", "/d", "/e", "/f"]);
    let mark = e.delivered.len();
    e.start(1);
    assert!(e.stabilize(10_000));
    assert_eq!(sync_transcript(&e, 1, mark), vec!["SNAP", "NEWLEADER", "UPTODATE"]);
    assert!(e.peer(1).tree().node("/f").is_some());
    assert!(!e.disks[&1].durable.snapshots.is_empty(), "the snapshot is persisted before the NEWLEADER ACK");
    assert_durable_state_matches_tree(&e, 1);
    assert_converged(&e);
}

/// `Learner.syncWithLeader` interrupted: the leader dies after the DIFF, before NEWLEADER.
/// The follower goes back to election; the survivors elect a new leader; nothing committed
/// is lost.
#[test]
fn leader_crash_between_diff_and_newleader_sends_the_follower_back_to_election() {
    let mut e = established_three();
    e.crash(1);
    write_all(&mut e, 3, 7, 1, &["/a", "/b", "/c"]);
    let mark = e.delivered.len();
    e.start(1);
    let hold = |m: &zksim::zab::testkit::InFlight| !(m.to == 1 && m.msg.kind() == "NEWLEADER");
    for _ in 0..200 {
        while e.deliver_matching(hold) {}
        if zab_kinds_since(&e, 1, mark).contains(&"DIFF") {
            break;
        }
        e.advance(10);
    }
    let got = zab_kinds_since(&e, 1, mark);
    assert!(got.contains(&"DIFF") && !got.contains(&"NEWLEADER"), "{got:?}");
    e.crash(3);
    assert_eq!(e.state(1), Some(ServerState::Looking), "back to election at once");
    assert!(e.stabilize(20_000));
    assert_eq!(e.leader(), Some(2), "server 2 holds every committed txn");
    assert!(e.peer(2).current_epoch() >= 2);
    for path in ["/a", "/b", "/c"] {
        assert!(e.peer(1).tree().node(path).is_some(), "{path} on server 1");
    }
    assert_converged(&e);
    e.start(3);
    assert!(e.stabilize(10_000));
    assert_converged(&e);
}

/// Server 1 misses three writes, restarts, and receives the DIFF with them; the leader dies
/// before NEWLEADER. Returns whether server 1 ends up holding the writes once everything
/// has settled (`bugs` are switched on on every server).
fn follower_keeps_the_diffs_txns_after_an_interrupted_sync(bugs: Bugs) -> bool {
    let mut e = TestEnsemble::new(3, 0, |c| c.bugs = bugs.clone());
    assert!(e.stabilize(10_000), "ensemble established");
    assert_eq!(e.leader(), Some(3));
    connect(&mut e, 3, 7);
    e.crash(1);
    write_all(&mut e, 3, 7, 1, &["/a", "/b", "/c"]);
    let mark = e.delivered.len();
    e.start(1);
    let hold = |m: &zksim::zab::testkit::InFlight| !(m.to == 1 && m.msg.kind() == "NEWLEADER");
    for _ in 0..200 {
        while e.deliver_matching(hold) {}
        if zab_kinds_since(&e, 1, mark).contains(&"DIFF") {
            break;
        }
        e.advance(10);
    }
    e.crash(3);
    assert!(e.stabilize(20_000));
    ["/a", "/b", "/c"].iter().all(|path| e.peer(1).tree().node(path).is_some())
}

/// ZOOKEEPER-2355: the follower must not claim the DIFF's zxid before applying its txns
/// (`setlastProcessedZxid` only for SNAP and TRUNC, commit 6971018), and must reload its
/// database after the failed sync. With the flag, its next FOLLOWERINFO claims the leader's
/// zxid, the DIFF comes back empty, and the three writes never reach it.
#[test]
fn interrupted_diff_does_not_advance_the_followers_last_processed_zxid() {
    assert!(follower_keeps_the_diffs_txns_after_an_interrupted_sync(Bugs::none()));
    assert!(!follower_keeps_the_diffs_txns_after_an_interrupted_sync(Bugs::none().with(Bug::Zk2355)), "the ZOOKEEPER-2355 flag shows");
}

// ====================================================================== persist before ACK

/// ZAB paper §IV-C and `SyncRequestProcessor` → `SendAckRequestProcessor`: a follower ACKs a
/// proposal only once it is fsynced; the leader commits (and the client hears back) only
/// with a quorum of fsyncs.
#[test]
fn follower_acks_a_proposal_only_after_its_fsync() {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000));
    connect(&mut e, 1, 7);
    e.auto_sync = false;
    let mark = e.delivered.len();
    send(&mut e, 1, 7, 1, create("/a"));
    e.run_for(1_000);
    assert_eq!(zab_kinds_since(&e, 1, mark).iter().filter(|k| **k == "PROPOSAL").count(), 1);
    assert_eq!(acks_from_since(&e, 1, mark), 0, "no ACK before the fsync");
    assert_eq!(acks_from_since(&e, 2, mark), 0);
    assert!(reply(&e, 7, 1).is_none());
    e.complete_syncs(1);
    e.run_for(100);
    assert_eq!(acks_from_since(&e, 1, mark), 1, "ACK once durable");
    assert!(reply(&e, 7, 1).is_none(), "one fsync of three is no quorum");
    assert!(e.peer(3).tree().node("/a").is_none(), "the leader has not committed /a");
    e.complete_syncs(2);
    e.run_for(100);
    let (zxid, result) = reply(&e, 7, 1).expect("answered after a quorum (1, 2) fsynced");
    assert!(result.is_ok());
    assert!(e.disks[&1].durable.log.iter().any(|t| t.header.zxid == zxid));
    assert!(e.disks[&2].durable.log.iter().any(|t| t.header.zxid == zxid));
    e.auto_sync = true;
    e.complete_syncs(3);
    e.run_for(100);
    assert_converged(&e);
}

/// `Learner.syncWithLeader` on NEWLEADER: the DIFF's txns are logged and fsynced, then
/// currentEpoch is written, then the ACK goes out (the order ZOOKEEPER-3911, -4643 and -4646
/// broke).
#[test]
fn newleader_ack_and_current_epoch_wait_for_the_synced_txns_fsync() {
    let mut e = established_three();
    e.crash(1);
    let zxids = write_all(&mut e, 3, 7, 1, &["/a", "/b"]);
    e.crash(3);
    e.start(3);
    assert!(e.stabilize(20_000), "2 and 3 in epoch 2");
    let epoch = e.peer(2).current_epoch();
    assert_eq!(epoch, 2);
    e.auto_sync = false;
    let mark = e.delivered.len();
    e.start(1);
    e.run_for(1_000);
    let got = zab_kinds_since(&e, 1, mark);
    assert!(got.contains(&"NEWLEADER"), "{got:?}");
    assert_eq!(acks_from_since(&e, 1, mark), 0, "no NEWLEADER ACK before the fsync");
    assert_eq!(e.disks[&1].durable.current_epoch, 1, "currentEpoch not written before the txns are durable");
    assert!(!e.peer(1).is_serving());
    e.complete_syncs(1);
    assert_eq!(e.disks[&1].durable.last_logged_zxid(), zxids[1]);
    assert_eq!(e.disks[&1].durable.current_epoch, epoch);
    e.run_for(100);
    // The NEWLEADER ACK, UPTODATE, then one ACK per txn logged at NEWLEADER: ZooKeeper's
    // `logRequest` feeds them to SendAckRequestProcessor (the leader drops them as committed).
    assert_eq!(acks_and_uptodate_since(&e, 1, mark), ["ACK", "UPTODATE", "ACK", "ACK"]);
    assert!(e.peer(1).is_serving());
    e.auto_sync = true;
    for id in 1..=3 {
        e.complete_syncs(id);
    }
    assert!(e.stabilize(1_000));
    assert_converged(&e);
}

/// Delivers everything but the messages `hold` names (they stay queued, and so does whatever
/// follows them on their link), advancing the clock `ms` in 10 ms steps; returns every peer
/// message delivered, in order.
fn run_holding(e: &mut TestEnsemble, ms: i64, hold: impl Fn(&zksim::zab::testkit::InFlight) -> bool) -> Vec<zksim::zab::testkit::InFlight> {
    let delivered = std::cell::RefCell::new(Vec::new());
    let end = e.now_ms + ms;
    while e.now_ms < end {
        while e.deliver_matching(|m| {
            let go = !hold(m);
            if go {
                delivered.borrow_mut().push(m.clone());
            }
            go
        }) {}
        e.advance(10);
    }
    delivered.into_inner()
}

/// The learner ACK question (issue 14), against ZooKeeper 3.8's `Learner.syncWithLeader`: a
/// proposal still outstanding when a follower syncs is forwarded to it before NEWLEADER
/// (`LearnerHandler.syncFollower` → `startForwarding`). The follower logs and fsyncs it before
/// its NEWLEADER ACK and ACKs the proposal itself only after UPTODATE — 3.8.5+ (ZOOKEEPER-4646's
/// fix) sends these `requestsToAck` "after ACK of NEWLEADER to avoid leader shutdown"; 3.8.0–3.8.4
/// ACKed them through `logRequest` → `SendAckRequestProcessor`; never not at all. Here that ACK
/// is the one that commits the write: the other follower's ACK is held back.
#[test]
fn a_proposal_outstanding_at_sync_is_logged_before_the_newleader_ack_and_acked_after_uptodate() {
    let mut e = established_three();
    e.crash(1);
    let held_ack = |m: &zksim::zab::testkit::InFlight| m.from == 2 && matches!(m.msg, PeerMessage::Ack { .. });
    send(&mut e, 3, 7, 1, create("/a"));
    run_holding(&mut e, 300, held_ack);
    assert!(reply(&e, 7, 1).is_none(), "only the leader has ACKed /a");
    let proposal = e.peer(3).tree().node("/a").map(|n| n.stat.czxid);
    assert!(proposal.is_none(), "/a is outstanding, not committed");
    e.start(1);
    let transcript = run_holding(&mut e, 2_000, held_ack);
    let (zxid, result) = reply(&e, 7, 1).expect("/a committed once the resynced follower ACKed it");
    assert!(result.is_ok());
    let to_1: Vec<&str> = transcript.iter().filter(|m| m.to == 1 && m.from == 3).map(|m| m.msg.kind()).filter(|k| *k != "PING").collect();
    let proposal_at = to_1.iter().position(|k| *k == "PROPOSAL").expect("the outstanding proposal is forwarded");
    let newleader_at = to_1.iter().position(|k| *k == "NEWLEADER").expect("NEWLEADER");
    assert!(proposal_at < newleader_at, "forwarded before NEWLEADER: {to_1:?}");
    // 1's ACKs to 3 in order, each with whether UPTODATE had reached 1 before it.
    let mut up_to_date = false;
    let mut acks = Vec::new();
    for m in &transcript {
        match &m.msg {
            PeerMessage::UpToDate if m.to == 1 => up_to_date = true,
            PeerMessage::Ack { zxid: acked } if m.from == 1 => acks.push((*acked, up_to_date)),
            _ => {}
        }
    }
    let epoch = e.peer(3).current_epoch();
    assert_eq!(acks.first(), Some(&(make_zxid(epoch, 0), false)), "the NEWLEADER ACK comes first, before UPTODATE: {acks:?}");
    assert!(acks.contains(&(zxid, true)), "/a ({zxid:#x}) ACKed after UPTODATE: {acks:?}");
    assert!(!acks.iter().any(|&(z, after)| z == zxid && !after), "and not before: {acks:?}");
    assert!(e.disks[&1].durable.log.iter().any(|t| t.header.zxid == zxid), "logged and fsynced on 1");
}

/// `log_txn` meets a zxid it already logged: the same txn is skipped (a DIFF resending what a
/// reloaded follower has), a different one is reported (`Observation::LogConflict`, the online
/// invariant one-txn-per-zxid) instead of being silently dropped.
#[test]
fn a_different_txn_under_a_logged_zxid_is_reported_not_silently_skipped() {
    let mut e = established_three();
    let zxids = write_all(&mut e, 3, 7, 1, &["/a"]);
    let conflicts = |e: &TestEnsemble| e.observations.iter().filter(|(s, o)| *s == 1 && matches!(o, Observation::LogConflict { .. })).count();
    let same = e.disks[&1].durable.log.iter().find(|t| t.header.zxid == zxids[0]).cloned().expect("/a logged on 1");
    e.inject(3, 1, PeerMessage::Proposal(same));
    assert_eq!(conflicts(&e), 0, "the same txn again is no conflict");
    e.inject(3, 1, PeerMessage::Proposal(create_txn(zxids[0], "/other", 1)));
    assert_eq!(conflicts(&e), 1, "a different txn under {:#x} is reported", zxids[0]);
    assert!(e.disks[&1].durable.log.iter().all(|t| t.header.zxid != zxids[0] || matches!(&t.txn, Txn::Create { path, .. } if path == "/a")), "the log keeps its txn");
}

// ====================================================================== Phase 3: broadcast

/// `CommitProcessor` / `Leader.tryToCommit`: every server applies commits in zxid order,
/// the same sequence everywhere.
#[test]
fn commits_apply_in_zxid_order_on_every_server() {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000));
    for id in 1..=3 {
        connect(&mut e, id, 10 + id);
    }
    for round in 0..4 {
        for id in 1..=3 {
            send(&mut e, id, 10 + id, round + 1, create(&format!("/n{id}-{round}")));
        }
    }
    e.run_for(500);
    let leader = e.committed(3);
    assert!(leader.windows(2).all(|w| w[0] < w[1]), "increasing: {leader:?}");
    assert!(leader.len() >= 15, "3 sessions + 12 creates");
    for id in [1, 2] {
        assert_eq!(e.committed(id), leader, "server {id} applied the same sequence");
    }
    assert_converged(&e);
}

/// `FollowerZooKeeperServer.commit`: a COMMIT that is not for the oldest pending txn makes
/// the follower exit ("Committing zxid ... but next pending txn ...").
#[test]
fn out_of_order_commit_makes_a_follower_exit() {
    let mut e = established_three();
    let hold = |m: &zksim::zab::testkit::InFlight| !(m.to == 1 && m.msg.kind() == "COMMIT");
    send(&mut e, 3, 7, 1, create("/a"));
    send(&mut e, 3, 7, 2, create("/b"));
    while e.deliver_matching(hold) {}
    let second = *e.committed(3).last().expect("committed on the leader");
    assert!(reply(&e, 7, 2).is_some());
    assert!(e.peer(1).tree().node("/a").is_none(), "COMMITs held");
    e.inject(3, 1, PeerMessage::Commit { zxid: second });
    assert!(e.exited.contains_key(&1), "the follower exits");
    assert!(e.state(1).is_none());
}

/// `Leader.processSync` / `FollowerRequestProcessor`: a sync on a follower is answered only
/// after every write the leader proposed before it is committed and applied there.
#[test]
fn sync_is_answered_after_earlier_writes_commit_on_the_follower() {
    let mut e = established_three();
    connect(&mut e, 1, 8);
    e.auto_sync = false;
    send(&mut e, 3, 7, 1, create("/a"));
    e.run_for(10);
    send(&mut e, 1, 8, 1, Request::Sync { path: "/".into() });
    e.run_for(1_000);
    assert!(reply(&e, 8, 1).is_none(), "the write before it is not committed");
    e.auto_sync = true;
    for id in 1..=3 {
        e.complete_syncs(id);
    }
    e.run_for(100);
    let (write_zxid, _) = reply(&e, 7, 1).expect("write answered");
    let (sync_zxid, result) = reply(&e, 8, 1).expect("sync answered");
    assert_eq!(result, Ok(Response::Sync { path: "/".into() }));
    assert!(sync_zxid >= write_zxid, "the sync reply comes after the write is applied on the follower");
    let applied_at = e.observations.iter().position(|(s, o)| *s == 1 && matches!(o, Observation::Committed { entry, .. } if entry.header.zxid == write_zxid));
    assert!(applied_at.is_some());
    send(&mut e, 1, 8, 2, Request::GetData { path: "/a".into(), watch: false });
    assert!(matches!(reply(&e, 8, 2), Some((_, Ok(Response::GetData { .. })))), "sync + read sees the write");
}

// ====================================================================== client pipeline

/// ZooKeeper's per-session ordering (`CommitProcessor`): a read queued behind its session's
/// write on a follower waits for that write, and sees it.
#[test]
fn read_behind_same_session_write_is_answered_after_it() {
    let mut e = established_three();
    connect(&mut e, 1, 8);
    send(&mut e, 1, 8, 1, create("/a"));
    send(&mut e, 1, 8, 2, Request::GetData { path: "/a".into(), watch: false });
    assert!(reply(&e, 8, 2).is_none(), "the read waits for the write");
    e.run_for(100);
    let (w, r) = (reply_index(&e, 8, 1).expect("write reply"), reply_index(&e, 8, 2).expect("read reply"));
    assert!(w < r, "FIFO per session");
    assert!(matches!(reply(&e, 8, 2), Some((_, Ok(Response::GetData { .. })))), "read-your-writes");
}

/// `FinalRequestProcessor` / `DataTree` watches: the watch event reaches the client before any
/// reply that reflects the change.
#[test]
fn watch_event_precedes_the_reply_reflecting_the_change() {
    let mut e = established_three();
    connect(&mut e, 1, 8);
    connect(&mut e, 2, 9);
    let is_event = |m: &ServerMessage, t: EventType| matches!(m, ServerMessage::Event { event } if event.path == "/w" && event.event_type == t);
    // Own write: the NodeCreated of an exists watch comes before the create's reply.
    send(&mut e, 1, 8, 1, Request::Exists { path: "/w".into(), watch: true });
    send(&mut e, 1, 8, 2, create("/w"));
    e.run_for(100);
    let created = e.client_out.iter().position(|(_, c, m)| *c == 8 && is_event(m, EventType::NodeCreated)).expect("NodeCreated");
    assert!(created < reply_index(&e, 8, 2).expect("create reply"));
    // Another session's write on another server: the event comes before a later read's reply.
    send(&mut e, 1, 8, 3, Request::GetData { path: "/w".into(), watch: true });
    e.run_for(100);
    send(&mut e, 2, 9, 1, Request::SetData { path: "/w".into(), data: b"new".to_vec(), version: -1 });
    e.run_for(100);
    send(&mut e, 1, 8, 4, Request::GetData { path: "/w".into(), watch: false });
    let changed = e.client_out.iter().position(|(_, c, m)| *c == 8 && is_event(m, EventType::NodeDataChanged)).expect("NodeDataChanged");
    let read = reply_index(&e, 8, 4).expect("read reply");
    assert!(changed < read);
    assert!(matches!(reply(&e, 8, 4), Some((_, Ok(Response::GetData { data, .. }))) if data == b"new"));
}

/// `ZooKeeperServer.processConnectRequest`: "Refusing session request for client as it has
/// seen zxid ... our last zxid is ...": the connection is closed without a session.
#[test]
fn reconnect_with_a_zxid_ahead_of_the_server_is_refused() {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000));
    let session = try_connect(&mut e, 3, 7, connect_request(0, [0; 16], 0)).expect("connected");
    e.cut.insert((3, 1));
    let zxids = write_all(&mut e, 3, 7, 1, &["/a"]);
    assert!(e.peer(1).last_processed_zxid() < zxids[0], "server 1 lags");
    let req = connect_request(session.session_id, session.password, zxids[0]);
    assert!(try_connect(&mut e, 1, 8, req.clone()).is_none(), "no session on the lagging server");
    assert!(!e.client_out.iter().any(|(s, c, m)| (*s, *c) == (1, 8) && matches!(m, ServerMessage::Connected(_))));
    assert!(e.closed_clients.contains(&(1, 8)), "the connection is closed");
    let moved = try_connect(&mut e, 2, 9, req).expect("server 2 has seen the zxid");
    assert_eq!(moved.session_id, session.session_id);
}

/// The leader stamps a client's txn with the time the request arrived (`Request.createTime`
/// → `TxnHeader.time`), also when the client is connected to the leader itself.
#[test]
fn leader_stamps_a_local_clients_write_with_the_arrival_time() {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000));
    let leader = e.leader().expect("leader");
    connect(&mut e, leader, 9);
    e.run_for(5_000);
    e.now_ms += 3; // between timer steps: only the request itself brings this time
    let arrival = e.now_ms;
    let request = Request::Create { path: "/t".into(), data: vec![], acl: zksim::proto::Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: 0, with_stat: true };
    e.client_send(leader, 9, ClientMessage::Request { xid: 1, request });
    e.run_for(100);
    let (_, result) = reply(&e, 9, 1).expect("reply");
    let Ok(Response::Create { stat: Some(stat), .. }) = result else { panic!("{result:?}") };
    assert_eq!(stat.ctime, arrival, "ctime is the leader's clock when the request arrived");
    assert_eq!(e.peer(1).tree().node("/t").expect("replicated").stat.ctime, arrival);
}

/// `Leader.processSync` answers at once when nothing is outstanding; a client connected to the
/// leader itself must get that answer (it once arrived before the sync was queued, and was lost).
#[test]
fn sync_on_the_leader_with_nothing_outstanding_is_answered() {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000));
    let leader = e.leader().expect("leader");
    connect(&mut e, leader, 11);
    e.run_for(100);
    e.client_send(leader, 11, ClientMessage::Request { xid: 1, request: Request::Sync { path: "/".into() } });
    e.run_for(100);
    let (_, result) = reply(&e, 11, 1).expect("the sync is answered");
    assert_eq!(result, Ok(Response::Sync { path: "/".into() }));
}

/// A follower whose leader falls silent goes back to election after syncLimit ticks, even
/// while its clients keep it busy: events must not push the silence check away.
#[test]
fn follower_abandons_a_silent_leader_while_clients_keep_arriving() {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000));
    let leader = e.leader().expect("leader");
    let follower = (1..=3).find(|&id| id != leader).expect("a follower");
    e.cut.insert((leader, follower));
    e.cut.insert((follower, leader));
    for conn in 0..300 {
        e.client_connect(follower, 1_000 + conn);
        e.run_for(50);
    }
    let silence_limit_ms = e.configs[&follower].sync_limit_ticks * e.configs[&follower].tick_time_ms;
    assert!(300 * 50 > silence_limit_ms + 2_000, "the test outlasts syncLimit");
    assert_ne!(e.peer(follower).leader_id(), Some(leader), "still following a leader silent for 15 s");
}
