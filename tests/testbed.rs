//! The testbed's scenario files and CLI: every shipped scenario parses and runs as it expects,
//! runs are deterministic, malformed files are rejected with the file and field named,
//! `--shard` partitions seed ranges, `merge` rejects overlaps, and `shrink` minimises a
//! failing run.
//!
//! Budget: these run in CI (`cargo test --release`) on 2 cores, so each scenario gets a few
//! seeds, and the determinism test uses shortened copies (see `DETERMINISM_SEEDS`).

use std::path::{Path, PathBuf};
use std::process::Command;

use zksim::testbed::cli::{merge_summaries, parse_seeds, parse_shard, run_seed, run_seeds, shard_seeds, shipped_scenarios, shrink, SweepSummary};
use zksim::testbed::runner::{run, RunOptions, Verdict};
use zksim::testbed::scenario::Scenario;
use zksim::zab::Bug;

fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios"))
        .expect("sim-scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn load_all() -> Vec<(String, Scenario)> {
    scenario_files()
        .into_iter()
        .map(|p| {
            let s = Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), s)
        })
        .collect()
}

fn zksim() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zksim"));
    c.current_dir(env!("CARGO_MANIFEST_DIR")).env("CI", "true");
    c
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zksim-testbed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn every_scenario_file_parses_validates_and_is_named_after_its_file() {
    let all = load_all();
    assert!(all.len() >= 15, "expected at least 15 shipped scenarios, found {}", all.len());
    for wanted in [
        "default", "leader-crash", "follower-crash", "minority-partition", "majority-partition", "isolated-leader", "bridge-partition", "one-way-link",
        "rolling-restart", "power-loss", "session-expiry-pause", "loss-and-delay-storm", "observers", "many-clients", "swarm",
    ] {
        assert!(all.iter().any(|(n, _)| n == wanted), "missing sim-scenarios/{wanted}.json");
    }
    for (file, s) in &all {
        assert_eq!(&s.name, file, "sim-scenarios/{file}.json: `name` must match the file name");
        assert!(!s.description.is_empty(), "sim-scenarios/{file}.json: needs a description");
        assert!(s.duration_s <= 60, "sim-scenarios/{file}.json: keep runs short");
    }
    let default = all.iter().find(|(n, _)| n == "default").unwrap();
    assert_eq!(default.1, Scenario::builtin_default(), "sim-scenarios/default.json must equal the built-in default");
    assert_eq!(default.1.workload.kind, "mixed", "the default scenario runs the mixed workload");
    assert_eq!(Scenario::default().workload.kind, "register", "a file that names no workload keeps the register workload");
    let shipped = shipped_scenarios();
    assert!(shipped.iter().all(|(_, s)| s.is_ok()));
}

#[test]
fn a_slice_of_every_scenario_runs_as_it_expects() {
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let mut bad = Vec::new();
    for (file, s) in load_all() {
        let seeds: Vec<u64> = (0..3).collect();
        let (results, _) = run_seeds(&s, &seeds, 2, &options, false, false);
        for r in results.iter().filter(|r| !r.as_expected) {
            bad.push(format!("{file} seed {}: {} {:?}: {:?}", r.seed, r.verdict, r.anomaly, r.detail));
        }
    }
    assert!(bad.is_empty(), "seeds not as expected:\n{}", bad.join("\n"));
}

/// Seeds per scenario for the determinism tests. The issue asks for 50 seeds of every
/// scenario; at 2 processes x ~0.4 wall s per shortened run that is ~10 min on 2 cores, far
/// over the CI budget, so CI runs this many (`ZKSIM_DETERMINISM_SEEDS=50` for the full set).
const DETERMINISM_SEEDS: u64 = 2;

fn determinism_seeds() -> u64 {
    std::env::var("ZKSIM_DETERMINISM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(DETERMINISM_SEEDS)
}

/// A shortened copy (determinism shows in 20 s as well as in 60 s) written to a temp file.
fn short_copy(file: &str, s: &Scenario) -> PathBuf {
    let mut s = s.clone();
    s.duration_s = s.duration_s.min(20);
    s.liveness_s = s.liveness_s.min(30);
    let path = tmp(&format!("short-{file}.json"));
    std::fs::write(&path, serde_json::to_string(&s).unwrap()).unwrap();
    path
}

/// Same seed, same trace hash: each run in its own process (the first run of a process).
#[test]
fn same_seed_same_trace_hash_for_every_scenario_across_processes() {
    for (file, s) in load_all() {
        let path = short_copy(&file, &s);
        for seed in 100..100 + determinism_seeds() {
            let hashes: Vec<(String, usize)> = (0..2)
                .map(|run| {
                    let json = tmp(&format!("det-{file}-{seed}-{run}.json"));
                    let out = zksim().arg("sweep").arg(&path).args(["--seeds", &seed.to_string(), "--jobs", "1", "--json"]).arg(&json).output().unwrap();
                    assert!(out.status.code().is_some_and(|c| c < 4), "{file} seed {seed}: {}", String::from_utf8_lossy(&out.stderr));
                    let summary: SweepSummary = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
                    (summary.results[0].trace_hash.clone(), summary.results[0].ops)
                })
                .collect();
            assert!(!hashes[0].0.is_empty(), "{file} seed {seed}: no trace hash");
            assert_eq!(hashes[0], hashes[1], "{file} seed {seed}: two processes differ");
        }
    }
}

/// Two runs of a seed in one process give the same trace. (This once failed: `futures::select!`
/// shuffles its branches with a process-global RNG; the node loops now use `select_biased!`.)
#[test]
fn same_seed_same_trace_hash_in_one_process() {
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    // 50 seeds of every scenario, each run twice in this process. The runs are shortened to
    // 8 s of faults (explicit faults are pulled into that window) so the test fits CI.
    for (file, mut s) in load_all() {
        shorten_for_determinism(&mut s);
        let list: Vec<u64> = (0..IN_PROCESS_DETERMINISM_SEEDS).collect();
        let (a, _) = run_seeds(&s, &list, 2, &options, false, false);
        let (b, _) = run_seeds(&s, &list, 2, &options, false, false);
        assert_eq!(a.len(), list.len());
        // A hash that did not depend on the run would pass the comparison below trivially.
        let distinct: std::collections::BTreeSet<&String> = a.iter().map(|o| &o.trace_hash).collect();
        assert!(distinct.len() > list.len() / 2, "{file}: trace hashes barely differ across seeds");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.trace_hash, y.trace_hash, "{file} seed {}: two runs differ", x.seed);
        }
    }
}

const IN_PROCESS_DETERMINISM_SEEDS: u64 = 50;

/// 8 s of faults with every explicit fault moved into that window, a short liveness phase.
fn shorten_for_determinism(s: &mut Scenario) {
    let scale = 8.0 / s.duration_s as f64;
    if scale < 1.0 {
        for fault in &mut s.nemesis.schedule {
            fault.at_s *= scale;
            fault.duration_s = fault.duration_s.map(|d| d * scale);
        }
        if let Some(r) = &mut s.nemesis.random {
            r.interval_s = [r.interval_s[0] * scale, r.interval_s[1] * scale];
            r.duration_s = [r.duration_s[0] * scale, r.duration_s[1] * scale];
        }
        s.duration_s = 8;
    }
    s.liveness_s = s.liveness_s.min(30);
}

fn parse_err(text: &str) -> String {
    Scenario::parse("bad.json", text).expect_err(text)
}

#[test]
fn malformed_scenarios_name_the_file_and_the_field() {
    let e = parse_err(r#"{"duraton_s": 10}"#);
    assert!(e.starts_with("bad.json:") && e.contains("unknown field `duraton_s`"), "{e}");
    let e = parse_err(r#"{"clients": {"count": "ten"}}"#);
    assert!(e.starts_with("bad.json:") && e.contains("invalid type") && e.contains("line 1"), "{e}");
    let e = parse_err(r#"{"ensemble": {"voters": 12}}"#);
    assert!(e.starts_with("bad.json:") && e.contains("`ensemble.voters`"), "{e}");
    let e = parse_err(r#"{"network": {"loss": 1.5}}"#);
    assert!(e.contains("`network.loss`"), "{e}");
    let e = parse_err(r#"{"nemesis": {"schedule": [{"at_s": 1, "action": "explode"}]}}"#);
    assert!(e.starts_with("bad.json:") && e.contains("`nemesis.schedule[0]`") && e.contains("unknown action `explode`"), "{e}");
    let e = parse_err(r#"{"nemesis": {"schedule": [{"at_s": 1, "action": "partition", "kind": "triangle"}]}}"#);
    assert!(e.contains("unknown partition `triangle`"), "{e}");
    let e = parse_err(r#"{"nemesis": {"random": {"kinds": ["meteor"]}}}"#);
    assert!(e.contains("`nemesis.random.kinds`") && e.contains("meteor"), "{e}");
    let e = parse_err(r#"{"bugs": ["ZOOKEEPER-9999"]}"#);
    assert!(e.starts_with("bad.json:") && e.contains("`bugs`") && e.contains("unknown bug flag `ZOOKEEPER-9999`"), "{e}");
    let e = parse_err(r#"{"workload": {"kind": "queue"}}"#);
    assert!(e.starts_with("bad.json:") && e.contains("`workload.kind`") && e.contains("`register`, `lock` or `mixed`"), "{e}");
    let e = parse_err(r#"{"workload": {"kind": "mixed", "pipeline": 0}}"#);
    assert!(e.contains("`workload.pipeline`"), "{e}");
    let e = parse_err(r#"{"workload": {"kind": "mixed", "ops": {"teleport": 1.0}}}"#);
    assert!(e.contains("`workload.ops`") && e.contains("teleport"), "{e}");
    let e = parse_err(r#"{"ensemble": {"torn_write_probability": 2.0}}"#);
    assert!(e.contains("`ensemble.torn_write_probability`"), "{e}");
    let e = parse_err(r#"{"workload": {"kind": "lock", "hold_ms": [900, 100]}}"#);
    assert!(e.contains("`workload.hold_ms`"), "{e}");
    let e = parse_err(r#"{"clients": {"count": 3}, "nemesis": {"schedule": [{"at_s": 1, "action": "pause_client", "target": "7"}]}}"#);
    assert!(e.contains("`nemesis.schedule[0]`") && e.contains("client number 1..=3"), "{e}");
    let e = parse_err(r#"{"checks": ["vibes"]}"#);
    assert!(e.contains("`checks`") && e.contains("vibes"), "{e}");
    let e = parse_err(r#"{"seed": -1}"#);
    assert!(e.starts_with("bad.json:") && e.contains("invalid value") && e.contains("line 1"), "{e}");
    let e = parse_err("{ not json");
    assert!(e.starts_with("bad.json: line 1"), "{e}");
}

#[test]
fn the_cli_rejects_bad_input_with_exit_4_naming_the_problem() {
    let file = tmp("typo.json");
    std::fs::write(&file, r#"{"name": "typo", "clients": {"cuont": 3}}"#).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["sweep".into(), "no-such-scenario".into(), "--seeds".into(), "0..2".into()], "no-such-scenario"),
        (vec!["sweep".into(), file.display().to_string(), "--seeds".into(), "0..2".into()], "unknown field `cuont`"),
        (vec!["sweep".into(), "default".into(), "--seeds".into(), "5..2".into()], "--seeds `5..2`"),
        (vec!["sweep".into(), "default".into(), "--seeds".into(), "a..b".into()], "--seeds `a..b`"),
        (vec!["sweep".into(), "default".into(), "--seeds".into(), "0..2".into(), "--shard".into(), "4/4".into()], "--shard `4/4`"),
        (vec!["sweep".into(), "default".into(), "--seeds".into(), "0..2".into(), "--bug".into(), "nope".into()], "unknown bug flag `nope`"),
        (vec!["run".into(), "no-such-scenario".into()], "no-such-scenario"),
        (vec!["replay".into(), "default".into(), "--seed".into(), "1".into(), "--bug".into(), "nope".into()], "nope"),
    ];
    for (args, needle) in cases {
        let out = zksim().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {stderr}");
        assert!(stderr.contains(needle) && !stderr.contains("panicked"), "{args:?}: {stderr}");
        if args.iter().any(|a| a.ends_with("typo.json")) {
            assert!(stderr.contains("typo.json"), "{stderr}");
        }
    }
}

#[test]
fn seeds_and_shards_parse_and_partition_a_range_exactly() {
    assert_eq!(parse_seeds("0..4000").unwrap(), 0..4000);
    assert_eq!(parse_seeds("3..=5").unwrap(), 3..6);
    assert_eq!(parse_seeds("7").unwrap(), 7..8);
    assert!(parse_seeds("5..5").is_err() && parse_seeds("x").is_err() && parse_seeds("1..y").is_err());
    assert_eq!(parse_shard("1/4").unwrap(), (1, 4));
    assert!(parse_shard("4/4").is_err() && parse_shard("1/0").is_err() && parse_shard("1").is_err() && parse_shard("a/2").is_err());
    for n in 1..=7u64 {
        let mut all: Vec<u64> = (0..n).flat_map(|i| shard_seeds(13..4013, Some((i, n)))).collect();
        for i in 0..n {
            assert!(shard_seeds(13..4013, Some((i, n))).iter().all(|s| s % n == i));
        }
        all.sort();
        assert_eq!(all, (13..4013).collect::<Vec<_>>(), "shards of {n} must cover the range exactly once");
    }
}

#[test]
fn sharded_sweeps_merge_and_overlapping_shards_are_rejected() {
    let mut files = Vec::new();
    for i in 0..2 {
        let json = tmp(&format!("shard-{i}.json"));
        let out = zksim()
            .args(["sweep", "observers", "--seeds", "0..4", "--jobs", "2", "--shard", &format!("{i}/2"), "--json"])
            .arg(&json)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        let s: SweepSummary = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(s.results.iter().map(|r| r.seed).collect::<Vec<_>>(), if i == 0 { vec![0, 2] } else { vec![1, 3] });
        files.push(json);
    }
    let merged = merge_summaries(&files).unwrap();
    assert_eq!(merged.results.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(merged.counts.seeds, 4);
    let out = zksim().arg("merge").args(&files).arg("--json").arg(tmp("merged.json")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The same shard twice overlaps.
    let out = zksim().arg("merge").arg(&files[0]).arg(&files[1]).arg(&files[0]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("shard-0.json") && stderr.contains("overlapping"), "{stderr}");
    // A different scenario is rejected too.
    let mut other: SweepSummary = serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
    other.scenario = "swarm".into();
    other.results.iter_mut().for_each(|r| r.seed += 100);
    let other_file = tmp("other.json");
    std::fs::write(&other_file, serde_json::to_string(&other).unwrap()).unwrap();
    let e = merge_summaries(&[files[0].clone(), other_file]).unwrap_err();
    assert!(e.contains("other.json") && e.contains("scenario `swarm`"), "{e}");
}

#[test]
fn replay_runs_twice_and_compares_trace_hashes() {
    let out = zksim().args(["replay", "observers", "--seed", "2"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run 1: trace ") && stdout.contains("run 2: trace "), "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("deterministic: both runs give trace"), "{stdout}");
}

/// `commit-without-quorum` on `isolated-leader` fails on seed 0 (found by
/// `zksim sweep isolated-leader --seeds 0..6 --bug commit-without-quorum`: seeds 0, 1, 3).
#[test]
fn shrink_produces_a_smaller_scenario_that_still_fails() {
    let s = Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/isolated-leader.json")).unwrap();
    let bugs = [Bug::CommitWithoutQuorum];
    let before = run(&s, 0, &RunOptions { bugs: bugs.to_vec(), fast_checks: true });
    assert_eq!(before.verdict, Verdict::SafetyViolation, "{:?}", before.findings);
    let result = shrink(&s, 0, &bugs, 60).unwrap();
    let small = &result.scenario;
    assert!(small.nemesis.random.is_none());
    assert!(small.bugs.contains(&"commit-without-quorum".to_string()), "the bug flag travels in the file");
    assert!(
        result.after.0 < result.before.0 || result.after.1 < result.before.1 || result.after.2 < result.before.2,
        "nothing shrank: {:?} -> {:?}",
        result.before,
        result.after
    );
    // The written file reproduces on its own, without --bug or --seed: it carries the seed.
    assert_eq!(small.seed, Some(0));
    let text = serde_json::to_string_pretty(small).unwrap();
    assert!(text.contains("\"seed\": 0"), "{text}");
    let reparsed = Scenario::parse("shrunk.json", &text).unwrap();
    let again = run(&reparsed, run_seed(None, &reparsed), &RunOptions { bugs: Vec::new(), fast_checks: true });
    assert!(!again.as_expected(&reparsed));
    assert_eq!(again.anomaly(), result.anomaly);
    // And a seed that passes cannot be shrunk.
    assert!(shrink(&s, 0, &[], 5).is_err(), "the correct build passes seed 0: nothing to shrink");
}

#[test]
fn a_sweep_with_a_bug_flag_exits_1_and_prints_reproduce_lines() {
    let json = tmp("bug-sweep.json");
    let out = zksim()
        .args(["sweep", "isolated-leader", "--seeds", "0..2", "--jobs", "2", "--bug", "commit-without-quorum", "--stop-on-first", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("reproduce: cargo run --release -- run sim-scenarios/isolated-leader.json --seed 0 --bug commit-without-quorum"), "{stdout}");
    let s: SweepSummary = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(s.counts.not_as_expected >= 1);
}

/// A run that fails its liveness phase is still judged by the history checks, and the verdict
/// names both failures: `accept-client-ahead`'s shrunk reproducer (a FIFO violation) with a
/// 1 s liveness budget (too short to converge after healing).
#[test]
fn a_liveness_failed_run_is_still_judged_and_the_verdict_names_both_failures() {
    let mut s = Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/bugs/accept-client-ahead-shrunk.json")).unwrap();
    s.liveness_s = 1;
    let outcome = run(&s, s.seed.unwrap(), &RunOptions { bugs: Vec::new(), fast_checks: true });
    assert!(outcome.liveness_failed, "{:?}", outcome.findings);
    assert_eq!(outcome.verdict, Verdict::SafetyViolation, "{:?}", outcome.findings);
    assert!(outcome.findings.iter().any(|f| f.check == "liveness"));
    assert!(outcome.findings.iter().any(|f| f.check == "fifo-client-order"), "{:?}", outcome.findings);
    assert_eq!(outcome.verdict_text(), "SAFETY VIOLATION and LIVENESS FAILURE");
    assert_eq!(outcome.anomaly(), "fifo-client-order", "the safety finding decides");
}

/// The default scenario's run judges what its mixed workload exercises: no check it could
/// judge reports N/A, and the storage paths show up in its coverage.
#[test]
fn the_default_scenario_judges_watches_ephemerals_multi_sequential_and_pipelining() {
    use zksim::checker::{check_history, CheckOptions, Status};
    let s = Scenario::builtin_default();
    let outcome = run(&s, 1, &RunOptions { bugs: Vec::new(), fast_checks: true });
    assert_eq!(outcome.verdict, Verdict::Pass, "{:?}", outcome.findings);
    let history = zksim::history::parse_history("default-1.jsonl", &outcome.history, None).unwrap();
    let reports = check_history(&history, &CheckOptions { blackbox: false, time_limit_ms: 300 });
    for r in &reports {
        let judged = r.status == Status::Pass;
        let not_for_this_workload = matches!(r.name, "linearizable-writes-blackbox" | "lock-mutual-exclusion");
        assert!(judged || not_for_this_workload, "{}", r.verdict_line());
    }
    let summary = |name: &str| reports.iter().find(|r| r.name == name).unwrap().summary.clone();
    assert!(!summary("fifo-client-order").contains("(0 issued while"), "pipelined: {}", summary("fifo-client-order"));
    assert!(outcome.coverage.get("storage:fuzzy_snapshot_interleaved").is_some_and(|&n| n > 0), "{:?}", outcome.coverage.keys().filter(|k| k.starts_with("storage")).collect::<Vec<_>>());
    // Thousands of nodes: creates acknowledged in the run.
    let creates = history.ops.iter().filter(|op| op.kind == zksim::history::OpKind::Create && op.outcome == zksim::history::Outcome::Ok).count();
    assert!(creates > 1_000, "{creates} creates");
}

/// The checks read a run's history straight from the recorder's records; writing the records
/// as JSON lines and parsing them back must give the same history, line numbers included, for
/// every kind of record (ops of the register, mixed and lock workloads, watch events, sessions,
/// nemesis and server records) and with a bug flag on.
#[test]
fn the_history_the_checks_read_is_the_recorded_files_history() {
    use zksim::testbed::runner::run_with_analysis;
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let mut compared = 0;
    for (file, mut s) in load_all() {
        if !["default", "swarm", "lock-under-pauses", "session-expiry-pause", "observers"].contains(&file.as_str()) {
            continue;
        }
        shorten_for_determinism(&mut s);
        for seed in 0..2 {
            let (outcome, analysis) = run_with_analysis(&s, seed, &options);
            let from_records = analysis.expect("a run's history is judged").history;
            let from_text = zksim::history::parse_history("history.jsonl", &outcome.history, None).unwrap();
            assert!(from_text.ops.len() > 20, "{file} seed {seed}: {} ops", from_text.ops.len());
            assert_eq!(format!("{from_records:?}"), format!("{from_text:?}"), "{file} seed {seed}");
            compared += 1;
        }
    }
    assert_eq!(compared, 10, "every listed scenario file was found");
    // The mixed workload's full length, with a flag that breaks ZAB.
    let mut s = Scenario::builtin_default();
    s.bugs = vec!["commit-without-quorum".into()];
    let (outcome, analysis) = run_with_analysis(&s, 0, &options);
    let from_text = zksim::history::parse_history("history.jsonl", &outcome.history, None).unwrap();
    assert_eq!(format!("{:?}", analysis.unwrap().history), format!("{from_text:?}"));
}

/// A sweep's runs skip the history's JSONL text and nothing else: the same trace, verdict,
/// findings and figures as the run that writes it, on a clean run and on one a flag breaks.
#[test]
fn a_sweep_run_is_the_same_run_without_its_history_text() {
    use zksim::testbed::runner::run_judged_only;
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let shrunk = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/bugs/commit-without-quorum-shrunk.json");
    let flagged = Scenario::load(&shrunk).unwrap();
    let mut verdicts = Vec::new();
    for (s, seed) in [(Scenario::builtin_default(), 0), (flagged, 1)] {
        let full = run(&s, seed, &options);
        let lean = run_judged_only(&s, seed, &options);
        let figures = |o: &zksim::testbed::runner::RunOutcome| {
            (o.trace_hash.clone(), o.verdict, format!("{:?}", o.findings), o.ops, o.ops_ok, o.commits, o.coverage.clone())
        };
        assert_eq!(figures(&lean), figures(&full), "{}", s.name);
        assert!(full.history.lines().count() > 100, "run writes the text");
        assert!(lean.history.is_empty(), "a sweep's run does not");
        verdicts.push(full.verdict);
    }
    assert_eq!(verdicts, [Verdict::Pass, Verdict::SafetyViolation], "the flag's finding is compared too");
}

/// `zksim bench`'s counts are the run's own: a run arms timers, spawns tasks and puts packets on
/// the wire, the same seed counts the same (nothing of an earlier run on the reused simulation
/// thread leaks in), and every commit took packets.
#[test]
fn a_runs_profile_counts_its_own_timers_tasks_and_packets() {
    let mut s = Scenario::builtin_default();
    shorten_for_determinism(&mut s);
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let a = run(&s, 3, &options);
    let b = run(&s, 3, &options);
    let counts = |o: &zksim::testbed::runner::RunOutcome| (o.profile.timers_armed, o.profile.tasks_spawned, o.profile.packets_sent);
    assert!(a.profile.timers_armed > 0 && a.profile.tasks_spawned > 0, "{:?}", a.profile);
    assert!(a.commits > 100 && a.profile.packets_sent > a.commits, "{} packets for {} commits", a.profile.packets_sent, a.commits);
    assert_eq!(counts(&a), counts(&b), "same seed, same counts");
}

/// `zksim bench --baseline OLD` runs both builds' sweeps and prints a ratio per sweep (here
/// against this binary slowed by a second per sweep, one seed: this build must come out faster);
/// a baseline that is not a file is bad input, named.
#[test]
fn bench_compares_this_build_with_a_baseline_binary() {
    use std::os::unix::fs::PermissionsExt;
    let slow = std::env::temp_dir().join(format!("zksim-slow-baseline-{}", std::process::id()));
    // Slower in wall and CPU time alike: it sweeps four default seeds before each sweep asked of it.
    let bin = env!("CARGO_BIN_EXE_zksim");
    std::fs::write(&slow, format!("#!/bin/sh\n'{bin}' sweep default --seeds 0..4 --jobs 1 >/dev/null\nexec '{bin}' \"$@\"\n")).unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = zksim().args(["bench", "--seeds", "1", "--rounds", "1", "--baseline"]).arg(&slow).output().unwrap();
    let _ = std::fs::remove_file(&slow);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let ratios: Vec<&str> = text.lines().filter(|l| l.contains("baseline ") && l.contains("seeds/min") && l.ends_with('x')).collect();
    assert_eq!(ratios.len(), 2, "one ratio for the swarm and one for the default sweep:\n{text}");
    assert!(ratios[0].starts_with("swarm sweep") && ratios[1].starts_with("default sweep"), "{text}");
    for line in &ratios {
        let ratio: f64 = line.rsplit(": ").next().and_then(|r| r.trim_end_matches('x').parse().ok()).unwrap_or_else(|| panic!("no ratio in {line}"));
        assert!(ratio > 1.2, "a baseline that does four seeds more per sweep is slower: {line}");
    }
    let cpu: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("CPU (user + system): baseline")).collect();
    assert_eq!(cpu.len(), 2, "a CPU ratio under each sweep's line:\n{text}");
    for line in &cpu {
        let ratio: f64 = line.rsplit(": ").next().and_then(|r| r.trim_end_matches('x').parse().ok()).unwrap_or_else(|| panic!("no ratio in {line}"));
        assert!(ratio > 1.2, "the baseline's extra seeds are CPU time of its own children, counted: {line}");
    }
    let zero = zksim().args(["bench", "--seeds", "1", "--rounds", "0", "--baseline"]).arg(bin).output().unwrap();
    assert_eq!(zero.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--rounds 0"), "{}", String::from_utf8_lossy(&zero.stderr));
    let missing = zksim().args(["bench", "--baseline", "/nonexistent/zksim-old"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(4));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/zksim-old") && err.contains("no such file"), "{err}");
    // A baseline that runs but writes no sweep summary (not a zksim): bad input, not a ratio.
    let broken = zksim().args(["bench", "--seeds", "1", "--baseline", "/bin/false"]).output().unwrap();
    assert_eq!(broken.status.code(), Some(4), "{}", String::from_utf8_lossy(&broken.stdout));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("no summary"), "{}", String::from_utf8_lossy(&broken.stderr));
}

#[test]
fn a_reader_that_stops_early_ends_the_process_by_sigpipe_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let out = tmp("pipe-out");
    let mut child = zksim()
        .args(["sweep", "sim-scenarios/default.json", "--seeds", "0..2", "--json"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes before the first line is written (as `| head -0` would), so the first
    // `println!` meets a closed pipe whatever the timing.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}: {stderr}");
}
