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

/// The golden trace as a recording through a follower of a 3-server ensemble gives it: every
/// transaction's zxid in epoch 1, so `base_abs_zxid` is `0x100000002`. The recorded values
/// stay relative to `/g`; only the initial tree's (absolute zxid 0, before any transaction)
/// move, unless `shift_initial_tree` puts it in epoch 1 too (the whole trace shifted).
fn golden_in_epoch_1(shift_initial_tree: bool) -> String {
    let mut trace = golden_json();
    let base = trace["meta"]["base_abs_zxid"].as_i64().unwrap();
    let shifted_base = base + (1 << 32);
    trace["meta"]["base_abs_zxid"] = serde_json::json!(shifted_base);
    let shift = |rel: i64| -> i64 {
        let abs = rel + base;
        let abs = if abs == 0 && !shift_initial_tree { 0 } else { abs + (1 << 32) };
        abs - shifted_base
    };
    let mut moved = 0;
    for step in trace["steps"].as_array_mut().unwrap() {
        shift_zxids(step, &shift, &mut moved);
    }
    assert!(shift_initial_tree || moved == 16, "the initial tree's 16 zxids moved ({moved})");
    trace.to_string()
}

fn shift_zxids(value: &mut serde_json::Value, shift: &dyn Fn(i64) -> i64, moved: &mut usize) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), v.as_i64()) {
                    ("czxid" | "mzxid" | "pzxid" | "hdr_zxid", Some(rel)) => {
                        *moved += usize::from(shift(rel) != rel);
                        *v = serde_json::json!(shift(rel));
                    }
                    _ => shift_zxids(v, shift, moved),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| shift_zxids(v, shift, moved)),
        _ => {}
    }
}

#[test]
fn a_trace_recorded_in_epoch_1_scores_as_a_standalone_recording_on_both_targets() {
    for shift_initial_tree in [false, true] {
        let trace = golden_in_epoch_1(shift_initial_tree);
        assert!(trace.contains("\"base_abs_zxid\":4294967298"));
        let standalone = run_text("epoch1.json", &trace, ReplayOptions::default()).unwrap();
        require_all_matched(&standalone, &format!("epoch 1 (initial tree shifted: {shift_initial_tree}), standalone"));
        let through_ensemble = run_text("epoch1.json", &trace, ensemble(1)).unwrap();
        require_all_matched(&through_ensemble, &format!("epoch 1 (initial tree shifted: {shift_initial_tree}), ensemble"));
    }
}

#[test]
fn an_epoch_1_trace_still_catches_a_planted_zxid_difference() {
    // Relating to each side's own base must not make zxids unchecked.
    let mut trace: serde_json::Value = serde_json::from_str(&golden_in_epoch_1(false)).unwrap();
    trace["steps"][20]["hdr_zxid"] = serde_json::json!(8);
    trace["steps"][3]["result"]["stat"]["czxid"] = serde_json::json!(-1);
    let report = run_text("planted.json", &trace.to_string(), ReplayOptions::default()).unwrap();
    let steps: Vec<usize> = report.mismatches.iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![3, 20]);
}
