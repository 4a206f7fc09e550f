//! Fault points, coverage probes and the guided search (issue 13).
//!
//! - the core passes its points at the seams (transcript: NEWLEADER handling, correct build
//!   against ZOOKEEPER-4643 and -3911);
//! - a kill at `current_epoch_written` exposes ZOOKEEPER-4643, -4646 and -3911 with a 2 ms
//!   fsync (their targeted scenarios need 800 ms), and the correct build survives it;
//! - same seed, same trace hash with points armed; firings recorded in the history;
//! - malformed fault-point entries are refused naming the file and the field (exit 4);
//! - shrink replaces a random arming by the firings and keeps the anomaly;
//! - `--require-coverage` fails a sweep (exit 5) when a probe never fired;
//! - `explore` finds a flag that took the plain swarm 6,576 seeds (CI guard: a change that
//!   blinds the search fails here);
//! - `drop_clients` cuts off every client of the struck server and they move on; a client that
//!   arrives ahead of a server passes `client_ahead` and is refused by the correct build.

use std::path::{Path, PathBuf};
use std::process::Command;

use zksim::testbed::cli::{run_seeds, shrink};
use zksim::testbed::explore::{explore, ExploreConfig, Want};
use zksim::testbed::runner::{run, RunOptions, Verdict};
use zksim::testbed::scenario::Scenario;
use zksim::zab::testkit::TestEnsemble;
use zksim::zab::{Bug, Bugs, FaultPoint};

fn zksim() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zksim"));
    c.current_dir(env!("CARGO_MANIFEST_DIR")).env("CI", "true");
    c
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zksim-fault-points-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn shipped(name: &str) -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios").join(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The points server 1 passes while it rejoins the established leader after a crash.
fn rejoin_passages(bug: Option<Bug>) -> Vec<FaultPoint> {
    let mut e = TestEnsemble::new(3, 0, move |c| {
        if let Some(bug) = bug {
            c.bugs = Bugs::none().with(bug);
        }
    });
    assert!(e.stabilize(10_000));
    assert_eq!(e.leader(), Some(3));
    e.crash(1);
    let mark = e.passages.len();
    e.start(1);
    assert!(e.stabilize(10_000));
    let sync = [
        FaultPoint::NewLeaderReceived,
        FaultPoint::SyncTxnsLogged,
        FaultPoint::CurrentEpochWritten,
        FaultPoint::NewLeaderAckSent,
        FaultPoint::UpToDateReceived,
    ];
    e.passages[mark..].iter().filter(|(id, p)| *id == 1 && sync.contains(&p.point)).map(|(_, p)| p.point).collect()
}

/// `Learner.syncWithLeader` (3.8): NEWLEADER → log the synced txns → (fsync) → currentEpoch →
/// ACK; ZOOKEEPER-4643 writes the epoch first, ZOOKEEPER-3911 acks without logging.
#[test]
fn the_newleader_seam_is_reported_in_protocol_order() {
    use FaultPoint::*;
    assert_eq!(rejoin_passages(None), vec![NewLeaderReceived, SyncTxnsLogged, CurrentEpochWritten, NewLeaderAckSent, UpToDateReceived]);
    assert_eq!(rejoin_passages(Some(Bug::Zk4643)), vec![NewLeaderReceived, CurrentEpochWritten, SyncTxnsLogged, NewLeaderAckSent, UpToDateReceived]);
    assert_eq!(rejoin_passages(Some(Bug::Zk3911)), vec![NewLeaderReceived, CurrentEpochWritten, NewLeaderAckSent, UpToDateReceived]);
}

/// One follower syncs a new epoch from a leader that just lost its quorum (the 4643 family's
/// setting); at `current_epoch_written` it and its leader lose power.
fn epoch_seam_scenario() -> Scenario {
    Scenario::parse(
        "epoch-seam.json",
        r#"{"name": "epoch-seam", "ensemble": {"voters": 3}, "duration_s": 30,
            "nemesis": {
              "points": [{"on": "current_epoch_written", "server": "follower", "action": "kill_pair", "probability": 1.0, "duration_s": 0.9}],
              "schedule": [{"at_s": 4, "action": "kill", "target": "1", "duration_s": 8}, {"at_s": 8, "action": "kill", "target": "2", "duration_s": 5.5}]}}"#,
    )
    .unwrap()
}

#[test]
fn a_crash_at_current_epoch_written_exposes_the_epoch_bugs_and_the_correct_build_survives_it() {
    let s = epoch_seam_scenario();
    // 24 seeds: each flag loses an acknowledged write on 7 to 10 of them.
    let seeds: Vec<u64> = (0..24).collect();
    let (clean, _) = run_seeds(&s, &seeds, 2, &RunOptions { bugs: vec![], fast_checks: true }, false, false);
    for r in &clean {
        assert_eq!(r.verdict, "pass", "correct build, seed {}: {:?}", r.seed, r.detail);
        assert!(r.firings >= 1, "seed {}: the point fired", r.seed);
    }
    for bug in [Bug::Zk4643, Bug::Zk4646, Bug::Zk3911] {
        let (results, _) = run_seeds(&s, &seeds, 2, &RunOptions { bugs: vec![bug], fast_checks: true }, false, false);
        let failing = results.iter().filter(|r| r.anomaly.as_deref() == Some("acknowledged-write-durable")).count();
        assert!(failing >= 5, "{}: only {failing} of 24 seeds lost an acknowledged write", bug.name());
    }
}

#[test]
fn the_same_seed_gives_the_same_trace_hash_with_points_armed_and_firings_are_recorded() {
    let mut s = shipped("explore.json");
    s.duration_s = 15;
    let seeds: Vec<u64> = (0..8).collect();
    let options = RunOptions { bugs: vec![], fast_checks: true };
    let (a, _) = run_seeds(&s, &seeds, 2, &options, false, false);
    let (b, _) = run_seeds(&s, &seeds, 2, &options, false, false);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.trace_hash, y.trace_hash, "seed {}: two runs differ", x.seed);
        assert_eq!(x.firings, y.firings);
    }
    let fired: usize = a.iter().map(|r| r.firings).sum();
    assert!(fired > 0, "no fault point fired in 8 seeds");
    let one = run(&s, a.iter().find(|r| r.firings > 0).unwrap().seed, &options);
    let recorded = one.history.lines().filter(|l| l.contains("\"kind\":\"nemesis\"") && l.contains("at fault point")).count();
    assert_eq!(recorded, one.firings.len(), "every firing is a nemesis record of the history");
    assert!(one.coverage.contains_key("leader_chosen") && one.coverage.contains_key("commit_applied"), "{:?}", one.coverage.keys());
}

#[test]
fn malformed_fault_point_entries_name_the_file_and_the_field() {
    let cases = [
        (r#"{"nemesis": {"points": [{"on": "no_such_point", "action": "kill", "nth": 1}]}}"#, "nemesis.points[0]` : `on`"),
        (r#"{"nemesis": {"points": [{"on": "ack_sent", "action": "explode", "nth": 1}]}}"#, "`action`"),
        (r#"{"nemesis": {"points": [{"on": "ack_sent", "action": "kill"}]}}"#, "`nth` or `probability`"),
        (r#"{"nemesis": {"points": [{"on": "ack_sent", "action": "kill", "nth": 0}]}}"#, "`nth`"),
        (r#"{"nemesis": {"points": [{"on": "ack_sent", "action": "kill", "nth": 1, "probability": 0.5}]}}"#, "not both"),
        (r#"{"nemesis": {"points": [{"on": "ack_sent", "action": "kill", "probability": 2}]}}"#, "`probability`"),
        (r#"{"nemesis": {"points": [{"on": "ack_sent", "action": "kill", "nth": 1, "server": "9"}]}}"#, "`server`"),
        (r#"{"nemesis": {"points": [{"on": "ack_sent", "action": "kill", "nth": 1, "when": 3}]}}"#, "unknown field `when`"),
        (r#"{"nemesis": {"random_points": {"points": ["nope"]}}}"#, "random_points.points"),
        (r#"{"nemesis": {"random_points": {"rules": [3, 1]}}}"#, "random_points.rules"),
        (r#"{"nemesis": {"random_points": {"probability": [0, 0.5]}}}"#, "random_points.probability"),
        (r#"{"ensemble": {"fsync_tail": {"probability": 2, "extra_ms": [1, 2]}}}"#, "ensemble.fsync_tail"),
    ];
    for (text, wanted) in cases {
        let e = Scenario::parse("bad.json", text).unwrap_err();
        let wanted = wanted.replace("` : ", "`: ");
        assert!(e.starts_with("bad.json"), "{e}");
        assert!(e.contains(&wanted), "expected `{wanted}` in: {e}");
    }
    let file = tmp("bad-point.json");
    std::fs::write(&file, cases[0].0).unwrap();
    let out = zksim().args(["run", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad-point.json") && stderr.contains("no_such_point"), "{stderr}");
}

#[test]
fn shrink_replaces_random_arming_by_its_firings_and_keeps_the_anomaly() {
    let mut s = epoch_seam_scenario();
    // Noise the shrink must remove: slow fsyncs at points that pass all the time.
    s.nemesis.random_points = Some(zksim::testbed::scenario::RandomPoints {
        rules: [2, 2],
        points: vec!["commit_applied".into(), "vote_sent".into()],
        actions: vec!["delay_fsync".into()],
        probability: [0.5, 0.5],
        ..Default::default()
    });
    let options = RunOptions { bugs: vec![Bug::Zk4643], fast_checks: true };
    let seed = (0..12).find(|&seed| {
        let o = run(&s, seed, &options);
        o.verdict == Verdict::SafetyViolation && o.firings.len() >= 2
    });
    let seed = seed.expect("a failing seed with the noise firing");
    let original = run(&s, seed, &options);
    let result = shrink(&s, seed, &[Bug::Zk4643], 80).expect("shrinks");
    let shrunk = &result.scenario;
    assert!(shrunk.nemesis.random_points.is_none(), "the random arming is replaced");
    assert!(shrunk.nemesis.points.iter().all(|r| r.nth.is_some() && r.probability.is_none()), "explicit firings only");
    assert!(shrunk.nemesis.points.len() < original.firings.len(), "{} firings shrunk to {}", original.firings.len(), shrunk.nemesis.points.len());
    assert!(shrunk.nemesis.points.iter().any(|r| r.on == "current_epoch_written"), "the firing that matters stays");
    let again = run(shrunk, seed, &RunOptions { bugs: vec![], fast_checks: true });
    assert_eq!(again.verdict, Verdict::SafetyViolation, "the shrunk scenario (flag inside) still fails");
    assert_eq!(again.anomaly(), original.anomaly());
}

#[test]
fn require_coverage_fails_a_sweep_with_exit_5_when_a_probe_never_fired() {
    let file = tmp("quiet.json");
    std::fs::write(&file, r#"{"name": "quiet", "ensemble": {"voters": 3}, "duration_s": 3, "liveness_s": 20, "clients": {"count": 2}}"#).unwrap();
    let sweep = |probes: &str| {
        let json = tmp(&format!("sweep-{}.json", probes.len()));
        zksim().args(["sweep", file.to_str().unwrap(), "--seeds", "0..2", "--jobs", "1", "--json", json.to_str().unwrap(), "--require-coverage", probes]).output().unwrap()
    };
    let ok = sweep("leader_established,sync_diff,fired:current_epoch_written:kill");
    assert_eq!(ok.status.code(), Some(5), "no fault fired: {}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("MISSING (exit 5): fired:current_epoch_written:kill"));
    let ok = sweep("leader_established,commit_applied");
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let typo = sweep("leader_establish");
    assert_eq!(typo.status.code(), Some(4), "a typo is bad input, not a missing probe");
}

/// CI guard for the search: ZOOKEEPER-3911 took the plain swarm 6,576 seeds.
#[test]
fn explore_finds_a_flag_the_plain_swarm_hardly_found() {
    let base = shipped("explore.json");
    let config = ExploreConfig { runs: 600, jobs: 2, seed: 1, bugs: vec![Bug::Zk3911], guided: true, want: Want::Safety, time_limit_s: None };
    let result = explore(&base, &config, |_, _, _| {});
    let (candidate, outcome) = result.found.unwrap_or_else(|| panic!("not found in {} runs", result.runs));
    assert_eq!(outcome.verdict, Verdict::SafetyViolation);
    let replay = run(&candidate.scenario(&base), candidate.seed, &RunOptions { bugs: vec![Bug::Zk3911], fast_checks: true });
    assert_eq!(replay.trace_hash, outcome.trace_hash, "the candidate replays exactly");
    let clean = run(&candidate.scenario(&base), candidate.seed, &RunOptions { bugs: vec![], fast_checks: true });
    assert_eq!(clean.verdict, Verdict::Pass, "the same plan on the correct build: {:?}", clean.findings);
}

/// `drop_clients` at the leader's 40th commit: a nemesis record, and every session that lived
/// on the leader is disconnected at that instant and connected again elsewhere; nothing breaks.
#[test]
fn drop_clients_cuts_off_every_client_of_the_struck_server() {
    let s = Scenario::parse(
        "drop-clients.json",
        r#"{"name": "drop-clients", "ensemble": {"voters": 3}, "duration_s": 12,
            "nemesis": {"points": [{"on": "commit_applied", "server": "leader", "action": "drop_clients", "nth": 40}]}}"#,
    )
    .unwrap();
    let options = RunOptions { bugs: vec![], fast_checks: true };
    for seed in 0..3 {
        let outcome = run(&s, seed, &options);
        assert_eq!(outcome.verdict, Verdict::Pass, "seed {seed}: {:?}", outcome.findings);
        assert_eq!(outcome.firings.len(), 1, "seed {seed}: one firing");
        let lines: Vec<serde_json::Value> = outcome.history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let record = lines.iter().find(|l| l["kind"] == "nemesis" && l["action"] == "drop_clients");
        let fired_ns = record.unwrap_or_else(|| panic!("seed {seed}: the firing is a nemesis record"))["t_ns"].as_u64().unwrap();
        let cut: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| l["kind"] == "session" && l["state"] == "disconnected")
            .filter(|l| l["t_ns"].as_u64().is_some_and(|t| t >= fired_ns && t < fired_ns + 50_000_000))
            .collect();
        assert!(!cut.is_empty(), "seed {seed}: the leader's clients were cut off at the firing");
        for c in cut {
            let back = lines.iter().any(|l| l["kind"] == "session" && l["session"] == c["session"] && l["state"] == "connected" && l["t_ns"].as_u64() > c["t_ns"].as_u64());
            assert!(back, "seed {seed}: session {} connected again", c["session"]);
        }
    }
}

/// The targeted accept-client-ahead schedule sends clients to a stale leader: it passes
/// `client_ahead` (a server event of the history too) and refuses them; with the flag it serves
/// them and the history shows the reads going back.
#[test]
fn a_client_ahead_of_its_server_is_a_probe_and_the_correct_build_refuses_it() {
    const SEED: u64 = 2;
    let mut s = shipped("bugs/accept-client-ahead.json");
    s.bugs.clear();
    let correct = run(&s, SEED, &RunOptions { bugs: vec![], fast_checks: true });
    assert_eq!(correct.verdict, Verdict::Pass, "{:?}", correct.findings);
    assert!(correct.coverage.get("client_ahead").is_some_and(|&n| n > 0), "{:?}", correct.coverage.keys());
    assert!(correct.history.lines().any(|l| l.contains("\"event\":\"client_ahead\"")), "the server event is recorded");
    let flagged = run(&s, SEED, &RunOptions { bugs: vec![Bug::AcceptClientAhead], fast_checks: true });
    assert_eq!(flagged.verdict, Verdict::SafetyViolation, "{:?}", flagged.findings);
    assert!(flagged.coverage.get("client_ahead").is_some_and(|&n| n > 0));
}
