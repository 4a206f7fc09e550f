//! The golden trace recorded from a real ZooKeeper 3.8.0 is the specification: zksim's
//! standalone server must reproduce every one of its 244 steps.

use std::path::Path;

use zksim::conformance::{run_file, run_text, ReplayOptions};

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
fn negotiated_timeout_depends_on_the_server_maximum() {
    let report = run_file(Path::new(GOLDEN), ReplayOptions { max_session_timeout_ms: 4_000 }).unwrap();
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
    let missing = run_file(Path::new("no/such/trace.json"), ReplayOptions::default()).unwrap_err().to_string();
    assert!(missing.starts_with("no/such/trace.json: cannot read:"), "{missing}");
}
