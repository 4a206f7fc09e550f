//! Disk faults, one kind at a time, each against what ZooKeeper 3.8's code does with it
//! (`FileTxnLog`, `FileSnap` / `SnapStream`, `SyncRequestProcessor`, `AtomicFileOutputStream`,
//! `QuorumPeer.loadDataBase`, `ZooKeeperServer.takeSnapshot`; the module headers of
//! `zksim::storage::damage`, `zksim::storage::recovery` and `zksim::zab::persistence` quote it):
//!
//! | fault | ZooKeeper | shown by |
//! | --- | --- | --- |
//! | bit flip in a synced log record | CRC check failed: refuses to start | `a_log_bit_flip_*` |
//! | bit flip in the newest snapshot | skips it, loads the next older valid one | `a_snapshot_bit_flip_*` |
//! | newest snapshot cut short | skips it (invalid), loads the next older one | `a_cut_snapshot_*` |
//! | fsync fails | SyncRequestProcessor dies, ERROR: leaves its role, rejoins; no ACK | `a_failed_fsync_*` |
//! | disk full | append fails: as above; epoch write fails: role ends, old epoch kept; snapshot fails: System.exit | `a_failed_append_*`, `a_full_disk_*`, `a_failed_epoch_write_*`, `a_failed_snapshot_*` |
//! | crash between an epoch's tmp copy and its rename | old epoch kept (tmp used only when the log is ahead) | `a_crash_inside_an_epoch_write_*` (+ storage unit tests) |
//!
//! Core tests drive the peer on the in-process test ensemble; the others run seeded scenarios
//! through the testbed and read what the history recorded.

use zksim::proto::{Acl, CreateMode, Request, Response, Zxid};
use zksim::testbed::runner::{run, RunOptions, RunOutcome, Verdict};
use zksim::testbed::scenario::Scenario;
use zksim::wire::{ClientMessage, ConnectRequest, ServerMessage};
use zksim::zab::testkit::TestEnsemble;
use zksim::zab::{DiskFailure, DiskFailureKind, PeerMessage, ServerId, ServerState};

// ====================================================================== the peer core

fn established_three() -> TestEnsemble {
    let mut e = TestEnsemble::new(3, 0, |_| {});
    assert!(e.stabilize(10_000), "ensemble established");
    assert_eq!(e.leader(), Some(3));
    e.client_connect(3, 7);
    let req = ConnectRequest { protocol_version: 0, last_zxid_seen: 0, timeout_ms: 10_000, session_id: 0, password: [0; 16], read_only: false };
    e.client_send(3, 7, ClientMessage::Connect(req));
    e.run_for(100);
    e
}

fn create(e: &mut TestEnsemble, xid: i32, path: &str) {
    let request = Request::Create { path: path.into(), data: b"x".to_vec(), acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: 0, with_stat: false };
    e.client_send(3, 7, ClientMessage::Request { xid, request });
}

fn reply(e: &TestEnsemble, xid: i32) -> Option<(Zxid, Result<Response, zksim::proto::Code>)> {
    e.client_out.iter().find_map(|(_, c, m)| match m {
        ServerMessage::Reply { xid: x, zxid, result } if *c == 7 && *x == xid => Some((*zxid, result.clone())),
        _ => None,
    })
}

/// What `id`'s disk holds now, as its shell would report it with a failure of `kind`.
fn failure(e: &TestEnsemble, id: ServerId, kind: DiskFailureKind, last_logged_zxid: Zxid) -> DiskFailure {
    let peer = e.peer(id);
    let snapshot_zxids = peer.mirror().snapshots.iter().map(|s| s.last_zxid).collect();
    DiskFailure { kind, detail: "injected".into(), last_logged_zxid, snapshot_zxids, accepted_epoch: peer.accepted_epoch(), current_epoch: peer.current_epoch() }
}

fn acks_from(e: &TestEnsemble, from: ServerId) -> usize {
    e.delivered.iter().filter(|(f, _, kind)| *f == from && *kind == PeerMessage::Ack { zxid: 0 }.kind()).count()
}

#[test]
fn a_failed_fsync_sends_no_ack_and_the_follower_leaves_its_role_and_rejoins() {
    let mut e = established_three();
    e.auto_sync = false;
    create(&mut e, 1, "/a");
    e.deliver_all(1_000);
    let zxid = e.peer(1).mirror().last_logged_zxid();
    assert!(zxid > 0, "follower 1 appended the proposal");
    let acks = acks_from(&e, 1);
    e.disk_error(1, failure(&e, 1, DiskFailureKind::LogFsync, zxid));
    assert_eq!(e.state(1), Some(ServerState::Looking), "ERROR state: the follower leaves its role");
    assert_eq!(e.peer(1).mirror().last_logged_zxid(), zxid, "the page cache still holds the txn");
    e.deliver_all(1_000);
    assert_eq!(acks_from(&e, 1), acks, "no ACK for a txn whose fsync failed");
    e.auto_sync = true;
    e.complete_syncs(2);
    e.complete_syncs(3);
    assert!(e.stabilize(20_000), "the follower rejoins");
    assert!(reply(&e, 1).is_some_and(|(z, r)| z == zxid && r.is_ok()), "committed by the leader and follower 2");
    assert_eq!(e.peer(1).digest(), e.peer(3).digest());
}

#[test]
fn a_failed_append_forgets_the_txn_and_the_follower_rejoins() {
    let mut e = established_three();
    e.auto_sync = false;
    create(&mut e, 1, "/a");
    e.deliver_all(1_000);
    let zxid = e.peer(1).mirror().last_logged_zxid();
    e.disk_error(1, failure(&e, 1, DiskFailureKind::LogAppend, zxid - 1));
    assert_eq!(e.state(1), Some(ServerState::Looking));
    assert_eq!(e.peer(1).mirror().last_logged_zxid(), zxid - 1, "the failed append never reached the log");
    assert_eq!(e.peer(1).last_processed_zxid(), zxid - 1, "reloaded from what the log holds");
    e.auto_sync = true;
    e.complete_syncs(2);
    e.complete_syncs(3);
    assert!(e.stabilize(20_000));
    assert_eq!(e.peer(1).last_processed_zxid(), e.peer(3).last_processed_zxid(), "the rejoin brings the txn back (DIFF)");
    assert_eq!(e.peer(1).digest(), e.peer(3).digest());
}

#[test]
fn a_failed_epoch_write_keeps_the_old_epoch_and_ends_the_role() {
    let mut e = established_three();
    let epoch = e.peer(1).current_epoch();
    let mut f = failure(&e, 1, DiskFailureKind::EpochWrite, e.peer(1).mirror().last_logged_zxid());
    // The write of `epoch` failed: the disk still holds the one before.
    f.accepted_epoch = epoch - 1;
    f.current_epoch = epoch - 1;
    e.disk_error(1, f);
    assert_eq!(e.state(1), Some(ServerState::Looking));
    assert_eq!((e.peer(1).accepted_epoch(), e.peer(1).current_epoch()), (epoch - 1, epoch - 1), "setAcceptedEpoch threw: the old value stays");
    assert!(e.stabilize(20_000));
    assert_eq!(e.peer(1).current_epoch(), e.peer(3).current_epoch(), "rejoining writes the epoch again");
}

#[test]
fn a_failed_snapshot_exits_the_process() {
    let mut e = established_three();
    e.disk_error(2, failure(&e, 2, DiskFailureKind::Snapshot, e.peer(2).mirror().last_logged_zxid()));
    let reason = e.exited.get(&2).expect("System.exit(TXNLOG_ERROR_TAKING_SNAPSHOT)");
    assert!(reason.contains("Severe unrecoverable error, exiting"), "{reason}");
    assert!(e.stabilize(10_000), "the other two go on");
}

// ====================================================================== through the testbed

fn scenario(json: &str) -> Scenario {
    Scenario::parse("tests/disk_faults.rs", json).unwrap_or_else(|e| panic!("{e}"))
}

fn run_seed(s: &Scenario, seed: u64) -> RunOutcome {
    run(s, seed, &RunOptions { bugs: Vec::new(), fast_checks: true })
}

/// (action, server, detail) of every nemesis record of the run's history.
fn nemesis(o: &RunOutcome) -> Vec<(String, String, String)> {
    o.history
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "nemesis")
        .map(|v| (v["action"].as_str().unwrap_or("").to_string(), v["server"].as_str().unwrap_or("").to_string(), v["detail"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn has(o: &RunOutcome, action: &str, server: &str, detail: &str) -> bool {
    nemesis(o).iter().any(|(a, s, d)| a == action && s == server && d.contains(detail))
}

fn replicas(o: &RunOutcome) -> Vec<String> {
    let last = o.history.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_default();
    v["replicas"].as_object().map(|r| r.keys().cloned().collect()).unwrap_or_default()
}

fn assert_pass(o: &RunOutcome) {
    assert_eq!(o.verdict, Verdict::Pass, "seed {}: {:?}\n{:#?}", o.seed, o.findings, nemesis(o));
}

const THREE: &str = r#""ensemble": { "voters": 3, "snap_count": 40 }, "clients": { "count": 4 }, "duration_s": 12"#;

#[test]
fn a_log_bit_flip_refuses_to_start_and_the_repaired_server_resyncs() {
    let s = scenario(&format!(r#"{{ {THREE}, "nemesis": {{ "schedule": [ {{ "at_s": 6, "action": "log_bitflip", "target": "1", "duration_s": 1 }} ] }}, "liveness": {{ "repair": true }} }}"#));
    let o = run_seed(&s, 1);
    assert_pass(&o);
    assert!(has(&o, "log_bitflip", "s1", "flipped (the synced record"), "{:#?}", nemesis(&o));
    assert!(has(&o, "refused_to_start", "s1", "CRC check failed"), "ZooKeeper: FileTxnIterator throws, loadDataBase refuses: {:#?}", nemesis(&o));
    assert!(has(&o, "wipe", "s1", "refused to start"));
    assert_eq!(replicas(&o), vec!["s1", "s2", "s3"], "after the wipe s1 resyncs from the leader and converges");
}

#[test]
fn a_log_bit_flip_without_repair_leaves_the_server_down_and_the_others_converge() {
    let s = scenario(&format!(r#"{{ {THREE}, "nemesis": {{ "schedule": [ {{ "at_s": 6, "action": "log_bitflip", "target": "1", "duration_s": 1 }} ] }}, "liveness": {{}} }}"#));
    let o = run_seed(&s, 1);
    assert_pass(&o);
    assert!(has(&o, "refused_to_start", "s1", "CRC check failed"));
    assert!(!nemesis(&o).iter().any(|(a, _, _)| a == "wipe"));
    assert_eq!(replicas(&o), vec!["s2", "s3"], "the broken server is left out, the others converge");
}

#[test]
fn a_snapshot_bit_flip_falls_back_to_the_older_snapshot() {
    let s = scenario(&format!(r#"{{ {THREE}, "nemesis": {{ "schedule": [ {{ "at_s": 8, "action": "snapshot_bitflip", "target": "1", "duration_s": 1 }} ] }}, "liveness": {{}} }}"#));
    let o = run_seed(&s, 2);
    assert_pass(&o);
    assert!(has(&o, "snapshot_bitflip", "s1", "flipped"), "{:#?}", nemesis(&o));
    assert!(has(&o, "recovered", "s1", "problem reading snap file"), "ZooKeeper: FileSnap.deserialize skips it: {:#?}", nemesis(&o));
    assert!(!nemesis(&o).iter().any(|(a, _, _)| a == "refused_to_start"));
    assert_eq!(replicas(&o), vec!["s1", "s2", "s3"]);
}

#[test]
fn a_cut_snapshot_falls_back_to_the_older_snapshot() {
    let s = scenario(&format!(r#"{{ {THREE}, "nemesis": {{ "schedule": [ {{ "at_s": 8, "action": "snapshot_cut", "target": "1", "duration_s": 1 }} ] }}, "liveness": {{}} }}"#));
    let o = run_seed(&s, 3);
    assert_pass(&o);
    assert!(has(&o, "snapshot_cut", "s1", "cut from"), "{:#?}", nemesis(&o));
    assert!(has(&o, "recovered", "s1", "problem reading snap file"), "ZooKeeper: SnapStream.isValidSnapshot fails, the next one loads: {:#?}", nemesis(&o));
    assert_eq!(replicas(&o), vec!["s1", "s2", "s3"]);
}

#[test]
fn a_failed_fsync_on_the_leader_ends_its_role_and_nothing_acknowledged_is_lost() {
    let s = scenario(&format!(r#"{{ {THREE}, "nemesis": {{ "schedule": [ {{ "at_s": 5, "action": "fsync_error", "target": "leader", "duration_s": 2 }} ] }}, "liveness": {{}} }}"#));
    let o = run_seed(&s, 4);
    assert_pass(&o);
    assert!(nemesis(&o).iter().any(|(a, _, d)| a == "disk_error" && d.contains("fsync failed") && d.contains("leaves its role")), "{:#?}", nemesis(&o));
    assert!(o.leader_elections >= 2, "the leader left its role and a leader was established again");
}

#[test]
fn a_full_disk_fails_appends_and_epoch_writes_and_the_server_keeps_rejoining() {
    let s = scenario(&format!(r#"{{ {THREE}, "nemesis": {{ "schedule": [ {{ "at_s": 5, "action": "disk_full", "target": "1", "duration_s": 3 }} ] }}, "liveness": {{}} }}"#));
    let o = run_seed(&s, 5);
    assert_pass(&o);
    assert!(has(&o, "disk_error", "s1", "No space left on device"), "{:#?}", nemesis(&o));
    assert!(has(&o, "disk_heal", "s1", ""));
    assert_eq!(replicas(&o), vec!["s1", "s2", "s3"], "once space is back the server resyncs");
}

#[test]
fn a_crash_inside_an_epoch_write_keeps_the_old_epoch_and_the_server_rejoins() {
    // Armed on server 1, then the leader (3: equal zxids elect the highest id) is killed: the
    // next election makes 1 write acceptedEpoch, and it loses power before the rename.
    let s = scenario(&format!(
        r#"{{ {THREE}, "nemesis": {{ "schedule": [ {{ "at_s": 2, "action": "epoch_tmp_crash", "target": "1", "duration_s": 1 }}, {{ "at_s": 3, "action": "kill", "target": "leader", "duration_s": 2 }} ] }}, "liveness": {{}} }}"#
    ));
    let o = run_seed(&s, 6);
    assert_pass(&o);
    assert!(has(&o, "power_failure", "s1", "Epoch.tmp"), "{:#?}", nemesis(&o));
    assert!(!nemesis(&o).iter().any(|(a, _, _)| a == "refused_to_start"), "the old epoch file is intact: the server starts");
    assert_eq!(replicas(&o), vec!["s1", "s2", "s3"]);
}

#[test]
fn corrupting_a_majority_loses_acknowledged_writes_and_the_checks_report_it() {
    let s = zksim::testbed::cli::resolve_scenario(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios/faults/majority-corruption.json"))).unwrap().0;
    for seed in 0..3 {
        let o = run_seed(&s, seed);
        assert!(o.acked_lost > 0, "seed {seed}: servers 1-3 held writes 4 and 5 never saw");
        assert_eq!(o.verdict, Verdict::SafetyViolation, "seed {seed}: a loss of {} acknowledged txns must not pass", o.acked_lost);
        assert!(o.as_expected(&s));
    }
}

// ====================================================================== faults kept through the liveness phase

#[test]
fn a_minority_kept_crashed_leaves_the_rest_electing_serving_and_converging_within_the_bound() {
    let s = scenario(r#"{ "ensemble": { "voters": 3 }, "clients": { "count": 4 }, "duration_s": 8, "liveness": { "keep": [{ "kind": "crash", "target": "leader" }] } }"#);
    let o = run_seed(&s, 7);
    assert_pass(&o);
    let (bound_ms, explain) = o.liveness_bound.clone().expect("the bound is computed and reported");
    assert_eq!(bound_ms, 2 * (5 * 500 + 200 + 8_000 + 10 * 500) + 6_000, "{explain}");
    let crashed: Vec<String> = nemesis(&o).into_iter().filter(|(a, _, d)| a == "keep" && d.starts_with("crash")).map(|(_, s, _)| s).collect();
    assert_eq!(crashed.len(), 1, "{:#?}", nemesis(&o));
    assert_eq!(replicas(&o).len(), 2, "the crashed server is left out, the other two converge");
    assert!(!replicas(&o).contains(&crashed[0]));
}

/// keep-random seed 69 (found by a 5,000-seed sweep of a build that panicked when the final check
/// had to wait; only this seed did): the leader, left out of the converging members by a kept
/// fault, committed a session's close just before the final check read the members, which did
/// not hold it yet (seed 3146 before the wire's whole-millisecond latencies moved every schedule). Not a loss: the check waits for them to hold every
/// acknowledged txn. (A real loss is still reported, at the bound:
/// `corrupting_a_majority_loses_acknowledged_writes_and_the_checks_report_it` above.)
#[test]
fn a_commit_in_flight_to_the_members_at_the_final_check_is_not_a_loss() {
    let s = zksim::testbed::cli::resolve_scenario(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios/faults/keep-random.json"))).unwrap().0;
    let o = run_seed(&s, 69);
    assert_pass(&o);
    let closed_late = o.history.lines().any(|l| l.contains("\"state\":\"closed\"") && l.contains("\"by\":\"ensemble\"") && l.contains("\"t_ns\":45218000000"));
    assert!(closed_late, "the session's close the leader committed just before the final check");
}

/// keep-random seed 3345: the liveness phase keeps +924 ms on s3 and +897 ms on the leader s5; s3's
/// sync to s5 ends with a ~3.6 s quiet round trip against a 2.5 s syncLimit, and it rejoins
/// again and again, as ZooKeeper's would. Both are impaired (need not converge): the run passes
/// (it ended in a liveness failure while they counted as merely degraded).
#[test]
fn two_kept_slow_links_too_slow_for_sync_limit_between_them_need_not_converge() {
    let s = zksim::testbed::cli::resolve_scenario(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios/faults/keep-random.json"))).unwrap().0;
    let o = run_seed(&s, 3345);
    assert_pass(&o);
    let slow: Vec<(String, String, String)> = nemesis(&o).into_iter().filter(|(a, _, d)| a == "keep" && d.starts_with("slow_link")).collect();
    assert_eq!(slow.len(), 2, "{slow:#?}");
    assert_eq!(replicas(&o), vec!["s1", "s2", "s4"], "the impaired pair is left out of the final convergence");
}

/// keep-random seed 7660: the liveness phase keeps +907 ms on s4 and a clock running 1.8x fast
/// on s5, which leads. s5 measures syncLimit on its own clock (2.5 s, ~1.4 s real) against s4's
/// ~1.8 s quiet round trip at the end of its sync, and drops it again and again, as ZooKeeper's
/// LearnerHandler would. s4 is impaired (need not converge): the run passes (it ended in a
/// liveness failure, "s4 following s5, not serving", while s4 counted as merely degraded).
#[test]
fn a_kept_slow_link_too_slow_for_a_fast_clocked_leader_need_not_converge() {
    let s = zksim::testbed::cli::resolve_scenario(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios/faults/keep-random.json"))).unwrap().0;
    let o = run_seed(&s, 7660);
    assert_pass(&o);
    let kept: Vec<(String, String, String)> = nemesis(&o).into_iter().filter(|(a, _, _)| a == "keep").collect();
    assert!(kept.iter().any(|(_, id, d)| id == "s4" && d.starts_with("slow_link")) && kept.iter().any(|(_, id, d)| id == "s5" && d.contains("clock rate 1.80")), "{kept:#?}");
    assert_eq!(replicas(&o), vec!["s1", "s2", "s3", "s5"], "the slow server is left out of the final convergence");
}

#[test]
fn a_leader_that_cannot_write_its_epoch_but_holds_the_best_vote_livelocks_the_election_and_the_phase_says_so() {
    // keep-fsync-error seed 18 (the first of `reports/faults.md`'s 18 livelocks): server 5 holds the highest zxid and id, is
    // elected again and again and fails its acceptedEpoch write each time, as ZooKeeper's would.
    let s = zksim::testbed::cli::resolve_scenario(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios/faults/keep-fsync-error.json"))).unwrap().0;
    let o = run_seed(&s, 18);
    assert_eq!(o.verdict, Verdict::LivenessFailure, "{:?}", o.findings);
    assert!(o.findings[0].detail.contains("no leader among the healthy servers within the liveness bound"), "{}", o.findings[0].detail);
    assert!(o.nemesis_counts.get("disk_error:leading").copied().unwrap_or(0) >= 3, "elected and failing again and again: {:?}", o.nemesis_counts);
}

#[test]
fn liveness_sections_that_keep_a_majority_or_name_no_kind_are_rejected() {
    let err = |json: &str| Scenario::parse("f.json", json).unwrap_err();
    let e = err(r#"{ "liveness": { "keep": [{ "kind": "crash" }, { "kind": "pause" }, { "kind": "isolate" }] } }"#);
    assert!(e.contains("f.json") && e.contains("liveness.keep") && e.contains("minority"), "{e}");
    let e = err(r#"{ "liveness": { "keep": [{ "kind": "one_way_to_leader" }, { "kind": "pause" }] } }"#);
    assert!(e.contains("one-way link also takes the leader"), "{e}");
    let e = err(r#"{ "liveness": { "keep": [{ "kind": "melt" }] } }"#);
    assert!(e.contains("liveness.keep[0]") && e.contains("unknown kept fault `melt`"), "{e}");
    let e = err(r#"{ "liveness": { "keep": [{ "kind": "slow_disk", "value": 10 }] } }"#);
    assert!(e.contains("`value`"), "{e}");
    let e = err(r#"{ "liveness": { "keep": [{ "kind": "drift", "target": "9" }] } }"#);
    assert!(e.contains("`target`"), "{e}");
    let e = err(r#"{ "liveness": { "kept": [] } }"#);
    assert!(e.contains("unknown field `kept`"), "{e}");
    let e = err(r#"{ "nemesis": { "random": { "kinds": ["disk_full"], "disk_targets": [6] } } }"#);
    assert!(e.contains("nemesis.random.disk_targets"), "{e}");
    let e = err(r#"{ "nemesis": { "schedule": [{ "at_s": 1, "action": "bit_rot" }] } }"#);
    assert!(e.contains("unknown action `bit_rot`") && e.contains("log_bitflip"), "{e}");
}

#[test]
fn a_slice_of_every_faults_scenario_runs_as_it_expects() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/faults");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    assert!(files.len() >= 19, "expected the 8 disk and 11 kept-fault scenarios, found {}", files.len());
    let mut bad = Vec::new();
    for path in files {
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Some(s.name.as_str()), path.file_stem().and_then(|n| n.to_str()), "{}: `name` must match the file name", path.display());
        let (results, _) = zksim::testbed::cli::run_seeds(&s, &[0, 1], 2, &RunOptions { bugs: Vec::new(), fast_checks: true }, false, false);
        bad.extend(results.iter().filter(|r| !r.as_expected).map(|r| format!("{} seed {}: {} {:?}", s.name, r.seed, r.verdict, r.detail)));
    }
    assert!(bad.is_empty(), "{bad:#?}");
}
