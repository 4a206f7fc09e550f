//! The golden trace recorded from a real ZooKeeper 3.8.0 is the specification: zksim must
//! reproduce every one of its 244 steps, both on the standalone server and through a follower of
//! a 3-server ensemble on the simulated network (client library, ZAB, sessions, reconnects).

use std::path::Path;

use zksim::conformance::{run_file, run_text, ConformanceReport, ReplayOptions, Target};

const GOLDEN: &str = "../shared/reference/zk-3.8.0-golden.json";

#[test]
fn golden_trace_matches_all_244_steps() {
    let report = run_file(Path::new(GOLDEN), ReplayOptions::default()).expect("golden trace parses");
    for m in &report.mismatches {
        eprintln!("step {}: {}\n  expected {}\n  got      {}", m.step, m.what, m.expected, m.got);
    }
    assert_eq!(report.total, 244);
    assert_eq!(report.matched, 244);
    assert!(report.all_matched());
    // zksim reproduces Java's hash-set order, so even raw child lists match.
    assert_eq!(report.raw_child_order_matched, report.raw_child_order_total);
    assert!(report.raw_child_order_total >= 15);
}

fn ensemble(seed: u64) -> ReplayOptions {
    ReplayOptions { target: Target::Ensemble { seed }, ..ReplayOptions::default() }
}

fn require_all_matched(report: &ConformanceReport, what: &str) {
    for m in &report.mismatches {
        eprintln!("{what}: step {}: {}\n  expected {}\n  got      {}", m.step, m.what, m.expected, m.got);
    }
    assert_eq!((report.total, report.matched), (244, 244), "{what}");
    assert!(report.all_matched(), "{what}");
    assert_eq!(report.raw_child_order_matched, report.raw_child_order_total, "{what}");
}

#[test]
fn golden_trace_matches_all_244_steps_through_a_follower_of_an_ensemble() {
    for seed in [1, 2, 3] {
        let report = run_file(Path::new(GOLDEN), ensemble(seed)).expect("golden trace parses");
        require_all_matched(&report, &format!("ensemble seed {seed}"));
    }
}

#[test]
fn ensemble_replay_is_deterministic() {
    let first = run_file(Path::new(GOLDEN), ensemble(7)).unwrap();
    let second = run_file(Path::new(GOLDEN), ensemble(7)).unwrap();
    assert!(first.sim_trace_hash.is_some());
    assert_eq!(first, second, "two runs of one seed differ");
    // The hash covers the servers' timing, which the seed changes.
    let other = run_file(Path::new(GOLDEN), ensemble(8)).unwrap();
    assert_ne!(first.sim_trace_hash, other.sim_trace_hash);
}

fn golden_json() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap()
}

#[test]
fn a_planted_difference_is_reported_as_a_mismatch() {
    // Change what the recording says one step returned: the replay must notice.
    let mut trace = golden_json();
    trace["steps"][92]["result"]["stat"]["cversion"] = serde_json::json!(3);
    trace["steps"][20]["hdr_zxid"] = serde_json::json!(8);
    trace["steps"][153]["result"] = serde_json::json!([["NodeChildrenChanged", "/g/w"], ["NodeCreated", "/g/w/c"]]);
    let report = run_text("planted.json", &trace.to_string(), ReplayOptions::default()).unwrap();
    let steps: Vec<usize> = report.mismatches.iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![20, 92, 153]);
    assert_eq!(report.matched, 241);
}

#[test]
fn a_planted_difference_is_reported_through_the_ensemble_too() {
    let mut trace = golden_json();
    trace["steps"][92]["result"]["stat"]["cversion"] = serde_json::json!(3);
    trace["steps"][240]["hdr_zxid"] = serde_json::json!(144);
    trace["steps"][201]["result"] = serde_json::json!([["NodeChildrenChanged", "/g"]]);
    let report = run_text("planted.json", &trace.to_string(), ensemble(1)).unwrap();
    let steps: Vec<usize> = report.mismatches.iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![92, 201, 240]);
    // Through the ensemble the maximum session timeout is the servers' setting too.
    let capped = run_file(Path::new(GOLDEN), ReplayOptions { max_session_timeout_ms: 4_000, ..ensemble(1) }).unwrap();
    let steps: Vec<usize> = capped.mismatches.iter().map(|m| m.step).collect();
    assert!(steps.contains(&0) && steps.contains(&230), "{steps:?}");
}

#[test]
fn negotiated_timeout_depends_on_the_server_maximum() {
    let report = run_file(Path::new(GOLDEN), ReplayOptions { max_session_timeout_ms: 4_000, ..ReplayOptions::default() }).unwrap();
    // With the 20 × tickTime default, A's 10 s and E's 60 s requests come back as 4 s.
    let steps: Vec<usize> = report.mismatches.iter().map(|m| m.step).collect();
    assert!(steps.contains(&0) && steps.contains(&230), "{steps:?}");
}

fn error_for(text: &str) -> String {
    run_text("bad.json", text, ReplayOptions::default()).unwrap_err().to_string()
}

#[test]
fn malformed_traces_get_errors_naming_file_step_and_problem() {
    assert_eq!(error_for("{not json"), "bad.json: not valid JSON: key must be a string at line 1 column 2");
    assert_eq!(error_for(r#"{"steps": []}"#), "bad.json: missing object `meta`");
    let meta = r#""meta": {"tickTime_ms": 200, "base_abs_zxid": 2}"#;
    assert_eq!(error_for(&format!("{{{meta}}}")), "bad.json: missing array `steps`");
    let step = |s: &str| format!(r#"{{{meta}, "steps": [{s}]}}"#);
    assert_eq!(
        error_for(&step(r#"{"i": 0, "client": "A", "op": "connect", "args": {}, "result": null}"#)),
        "bad.json: step 0: connect needs integer `requested_timeout_ms`"
    );
    assert_eq!(
        error_for(&step(r#"{"i": 7, "client": "A", "op": "get", "args": {"path": "/"}, "result": 1}"#)),
        "bad.json: step 7: client A used before it connected"
    );
    assert_eq!(
        error_for(&step(r#"{"i": 3, "client": "A", "op": "get"}"#)),
        "bad.json: step 3: has neither `result` nor `error`"
    );
    let connect = r#"{"i": 0, "client": "A", "op": "connect", "args": {"requested_timeout_ms": 1000}, "result": null}"#;
    assert_eq!(
        error_for(&step(&format!(r#"{connect}, {{"i": 1, "client": "A", "op": "frobnicate", "args": {{}}, "result": 1}}"#))),
        "bad.json: step 1: unknown op `frobnicate`"
    );
    assert_eq!(
        error_for(&step(&format!(r#"{connect}, {{"i": 1, "client": "A", "op": "set", "args": {{"path": "/x", "data": "y"}}, "result": 1}}"#))),
        "bad.json: step 1: missing integer `version`"
    );
    assert_eq!(
        error_for(&step(r#"{"i": 0, "client": "A", "op": "connect", "args": {"requested_timeout_ms": 0}, "result": null}"#)),
        "bad.json: step 0: `requested_timeout_ms` must be between 1 and 2147483647, got 0"
    );
    let missing = run_file(Path::new("no/such/trace.json"), ReplayOptions::default()).unwrap_err().to_string();
    assert!(missing.starts_with("no/such/trace.json: cannot read:"), "{missing}");
    // The ensemble target checks the whole trace before it starts a simulation.
    let bad_op = step(r#"{"i": 0, "client": "A", "op": "connect", "args": {"requested_timeout_ms": 1000}, "result": null}, {"i": 1, "client": "A", "op": "frobnicate", "result": 1}"#);
    let error = run_text("bad.json", &bad_op, ensemble(1)).unwrap_err().to_string();
    assert_eq!(error, "bad.json: step 1: unknown op `frobnicate`");
}
