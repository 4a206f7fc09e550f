//! Hand-built histories for what the mixed workload exercises: watches (one-time, persistent,
//! ordering, ZOOKEEPER-4466), multi atomicity, sequential names, replayed child lists, strict
//! sync+read, pipelined FIFO order. Each check is shown a violation it must catch and a near
//! miss it must accept. Histories are zksim JSONL text, so the parser's new fields are
//! exercised too.

use serde_json::{json, Value};
use zksim::checker::{check_one, CheckOptions, CheckReport, Status};
use zksim::history::{parse_history, to_zksim_jsonl};

const Z: i64 = 0x1_0000_0000; // epoch 1

/// A zksim history: registers /k0, /k1 (version 0) and directory /d0 (no children).
struct Hist {
    lines: Vec<Value>,
    /// Delivery numbers per session, handed out in the order lines are added.
    arrival: std::collections::BTreeMap<i64, u64>,
}

impl Hist {
    fn new() -> Hist {
        let meta = json!({"kind": "meta", "format": "zksim-history", "format_version": 1, "init": {
            "/k0": {"value": "init", "version": 0, "mzxid": Z + 1, "czxid": Z + 1},
            "/k1": {"value": "init", "version": 0, "mzxid": Z + 2, "czxid": Z + 2},
            "/d0": {"value": "init", "version": 0, "mzxid": Z + 3, "czxid": Z + 3, "children": [], "pzxid": Z + 3, "cversion": 0}}});
        Hist { lines: vec![meta], arrival: Default::default() }
    }

    fn next_arrival(&mut self, client: i64) -> u64 {
        let n = self.arrival.entry(client).or_default();
        *n += 1;
        *n
    }

    /// An op by `client` (session `0x<client>`), delivered now: `extra` adds/overrides fields.
    fn op(mut self, client: i64, op: &str, path: &str, t: (u64, u64), outcome: &str, extra: Value) -> Hist {
        let arrival = self.next_arrival(client);
        let mut line = json!({"kind": "op", "process": client, "client": client, "session": format!("0x{client}"),
            "op": op, "path": path, "invoke_ns": t.0, "complete_ns": t.1, "outcome": outcome, "seq": arrival, "arrival": arrival});
        for (k, v) in extra.as_object().expect("extra is an object") {
            line[k] = v.clone();
        }
        self.lines.push(line);
        self
    }

    fn event(mut self, client: i64, t_ns: u64, event_type: &str, path: &str) -> Hist {
        let arrival = self.next_arrival(client);
        self.lines.push(json!({"kind": "event", "client": client, "session": format!("0x{client}"), "t_ns": t_ns, "type": event_type, "path": path, "arrival": arrival}));
        self
    }

    fn state(mut self, client: i64, t_ns: u64, state: &str) -> Hist {
        let arrival = self.next_arrival(client);
        self.lines.push(json!({"kind": "session", "client": client, "session": format!("0x{client}"), "t_ns": t_ns, "state": state, "arrival": arrival}));
        self
    }

    /// An acknowledged setData (version -1) at `zxid` producing `version`.
    fn set(self, client: i64, path: &str, value: &str, t: (u64, u64), zxid: i64, version: i32) -> Hist {
        self.op(client, "set_data", path, t, "ok", json!({"args": {"value": value, "expected_version": -1}, "zxid": zxid, "result": {"version": version, "mzxid": zxid}}))
    }

    /// A getData that saw (value, version, mzxid), reply zxid `zxid`, leaving a watch or not.
    #[allow(clippy::too_many_arguments)] // one field each
    fn get(self, client: i64, path: &str, t: (u64, u64), watch: bool, seen: (&str, i32, i64), zxid: i64) -> Hist {
        let (value, version, mzxid) = seen;
        self.op(client, "get_data", path, t, "ok", json!({"args": {"watch": watch}, "zxid": zxid, "result": {"value": value, "version": version, "mzxid": mzxid}}))
    }

    fn add_watch(self, client: i64, path: &str, mode: &str, t: (u64, u64), zxid: i64) -> Hist {
        self.op(client, "add_watch", path, t, "ok", json!({"args": {"mode": mode}, "zxid": zxid}))
    }

    /// An acknowledged create of `path` (the created name) under a parent at `zxid`.
    fn create(self, client: i64, path: &str, sequential: bool, t: (u64, u64), zxid: i64) -> Hist {
        self.op(client, "create", path, t, "ok", json!({"args": {"value": "v", "sequential": sequential}, "zxid": zxid,
            "result": {"path": path, "version": 0, "mzxid": zxid, "czxid": zxid}}))
    }

    fn children(self, client: i64, path: &str, t: (u64, u64), names: &[&str], stat: (i64, i32), zxid: i64) -> Hist {
        self.op(client, "get_children", path, t, "ok", json!({"zxid": zxid,
            "result": {"children": names, "pzxid": stat.0, "cversion": stat.1, "version": 0, "mzxid": Z + 3}}))
    }

    fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn check(&self, name: &str) -> CheckReport {
        let history = parse_history("hand-built.jsonl", &self.text(), None).expect("hand-built history parses");
        check_one(&history, name, &CheckOptions::default()).expect("check exists")
    }
}

fn assert_caught(report: &CheckReport, anomaly: &str) {
    assert_eq!(report.status, Status::Fail, "{} should fail with {anomaly:?}: {}", report.name, report.verdict_line());
    assert!(report.anomalies().contains(&anomaly), "{}: expected {anomaly:?}, got {:?}", report.name, report.anomalies());
    for v in &report.violations {
        assert!(!v.explanation.is_empty() && (!v.ops.is_empty() || !v.lines.is_empty()), "violations name ops or lines: {v:?}");
    }
}

fn assert_passes(report: &CheckReport) {
    assert_eq!(report.status, Status::Pass, "{}", report.verdict_line());
}

// ======================================================================= watches

/// A one-time data watch on /k0 (read at version 0), then another session sets /k0 at Z+10.
fn armed() -> Hist {
    Hist::new().state(2, 1, "connected").get(2, "/k0", (5, 8), true, ("init", 0, Z + 1), Z + 5).set(1, "/k0", "a", (10, 20), Z + 10, 1)
}

#[test]
fn a_reply_showing_the_change_before_its_event_is_caught() {
    // Session 2's reply to a read of another path carries zxid Z+11: its server had applied
    // Z+10, yet the NodeDataChanged comes after it.
    let bad = armed().get(2, "/k1", (30, 40), false, ("init", 0, Z + 2), Z + 11).event(2, 41, "NodeDataChanged", "/k0");
    assert_caught(&bad.check("watches"), "change seen before watch event");
    // Near miss: the event arrives first.
    let ok = armed().event(2, 39, "NodeDataChanged", "/k0").get(2, "/k1", (30, 40), false, ("init", 0, Z + 2), Z + 11);
    assert_passes(&ok.check("watches"));
    // Near miss: the reply's zxid is below the change (a lagging server): no evidence.
    let lagging = armed().get(2, "/k1", (30, 40), false, ("init", 0, Z + 2), Z + 9).event(2, 41, "NodeDataChanged", "/k0");
    assert_passes(&lagging.check("watches"));
}

#[test]
fn a_one_time_watch_firing_twice_is_caught() {
    let bad = armed().event(2, 25, "NodeDataChanged", "/k0").set(1, "/k0", "b", (30, 40), Z + 12, 2).event(2, 45, "NodeDataChanged", "/k0");
    assert_caught(&bad.check("watches"), "watch event without a watch");
    // Near miss: the session read again with a watch between the two changes.
    let ok = armed()
        .event(2, 25, "NodeDataChanged", "/k0")
        .get(2, "/k0", (26, 28), true, ("a", 1, Z + 10), Z + 10)
        .set(1, "/k0", "b", (30, 40), Z + 12, 2)
        .event(2, 45, "NodeDataChanged", "/k0");
    assert_passes(&ok.check("watches"));
}

#[test]
fn an_event_for_a_change_that_never_happened_is_caught() {
    let base = Hist::new().state(2, 1, "connected").get(2, "/k1", (5, 8), true, ("init", 0, Z + 2), Z + 5);
    let bad = base.event(2, 30, "NodeDataChanged", "/k1");
    assert_caught(&bad.check("watches"), "watch event without a change");
    // Near miss: an unknown-outcome write of /k1 may have been the change.
    let ok = Hist::new()
        .state(2, 1, "connected")
        .get(2, "/k1", (5, 8), true, ("init", 0, Z + 2), Z + 5)
        .op(1, "set_data", "/k1", (10, 10), "unknown", json!({"args": {"value": "x", "expected_version": -1}, "error": "ConnectionLoss"}))
        .event(2, 30, "NodeDataChanged", "/k1");
    assert_passes(&ok.check("watches"));
}

/// A persistent watch on /k0 registered at Z+5; /k0 set at Z+10 and Z+12.
fn persistent() -> Hist {
    Hist::new().state(2, 1, "connected").add_watch(2, "/k0", "persistent", (2, 4), Z + 5).set(1, "/k0", "a", (10, 20), Z + 10, 1).set(1, "/k0", "b", (21, 30), Z + 12, 2)
}

#[test]
fn a_persistent_watch_missing_a_change_is_caught() {
    let bad = persistent().event(2, 22, "NodeDataChanged", "/k0").get(2, "/k1", (40, 50), false, ("init", 0, Z + 2), Z + 13);
    assert_caught(&bad.check("watches"), "persistent watch missed a change");
    let ok = persistent().event(2, 22, "NodeDataChanged", "/k0").event(2, 31, "NodeDataChanged", "/k0").get(2, "/k1", (40, 50), false, ("init", 0, Z + 2), Z + 13);
    assert_passes(&ok.check("watches"));
    // Near miss: the connection broke in between. ZooKeeper re-registers persistent watches
    // without replaying what was missed: the new connection owes events only from its first
    // reply's zxid on.
    let reconnected = persistent()
        .event(2, 22, "NodeDataChanged", "/k0")
        .state(2, 23, "disconnected")
        .state(2, 35, "connected")
        .get(2, "/k1", (40, 50), false, ("init", 0, Z + 2), Z + 13);
    assert_passes(&reconnected.check("watches"));
}

#[test]
fn events_out_of_zxid_order_are_caught() {
    let base = || {
        Hist::new()
            .state(2, 1, "connected")
            .add_watch(2, "/k0", "persistent", (2, 3), Z + 5)
            .add_watch(2, "/k1", "persistent", (3, 4), Z + 5)
            .set(1, "/k0", "a", (10, 20), Z + 10, 1)
            .set(1, "/k1", "b", (21, 30), Z + 12, 1)
            .get(2, "/d0", (5, 6), false, ("init", 0, Z + 3), Z + 6)
    };
    let bad = base().event(2, 31, "NodeDataChanged", "/k1").event(2, 32, "NodeDataChanged", "/k0");
    assert_caught(&bad.check("watches"), "watch events out of zxid order");
    let ok = base().event(2, 31, "NodeDataChanged", "/k0").event(2, 32, "NodeDataChanged", "/k1");
    assert_passes(&ok.check("watches"));
}

#[test]
fn a_one_time_watch_replacing_a_persistent_one_is_zookeeper_4466_and_accepted() {
    // ZooKeeper 3.8 keeps one mode per (watcher, path): getData(watch) on /k0 turns the
    // persistent watch's data half into a one-time watch, which fires once (Z+10); the
    // change at Z+12 reports nothing until a reconnect re-registers the persistent watch.
    let h = Hist::new()
        .state(2, 1, "connected")
        .add_watch(2, "/k0", "persistent", (2, 4), Z + 5)
        .get(2, "/k0", (5, 8), true, ("init", 0, Z + 1), Z + 6)
        .set(1, "/k0", "a", (10, 20), Z + 10, 1)
        .event(2, 21, "NodeDataChanged", "/k0")
        .set(1, "/k0", "b", (22, 30), Z + 12, 2)
        .get(2, "/k1", (40, 50), false, ("init", 0, Z + 2), Z + 13);
    assert_passes(&h.check("watches"));
    // Without the one-time read, the same gap is a missed change.
    let bad = Hist::new()
        .state(2, 1, "connected")
        .add_watch(2, "/k0", "persistent", (2, 4), Z + 5)
        .set(1, "/k0", "a", (10, 20), Z + 10, 1)
        .event(2, 21, "NodeDataChanged", "/k0")
        .set(1, "/k0", "b", (22, 30), Z + 12, 2)
        .get(2, "/k1", (40, 50), false, ("init", 0, Z + 2), Z + 13);
    assert_caught(&bad.check("watches"), "persistent watch missed a change");
}

#[test]
fn recursive_watches_report_descendants_but_not_child_lists() {
    let base = || {
        Hist::new()
            .state(2, 1, "connected")
            .add_watch(2, "/d0", "persistent_recursive", (2, 4), Z + 5)
            .create(1, "/d0/a", false, (10, 20), Z + 10)
    };
    let ok = base().event(2, 21, "NodeCreated", "/d0/a").get(2, "/k1", (40, 50), false, ("init", 0, Z + 2), Z + 13);
    assert_passes(&ok.check("watches"));
    let missed = base().get(2, "/k1", (40, 50), false, ("init", 0, Z + 2), Z + 13);
    assert_caught(&missed.check("watches"), "persistent watch missed a change");
    let child_event = base().event(2, 21, "NodeCreated", "/d0/a").event(2, 22, "NodeChildrenChanged", "/d0");
    assert_caught(&child_event.check("watches"), "watch event without a watch");
}

// ======================================================================= multi

fn multi_ops() -> Value {
    json!([{"op": "check", "path": "/k1", "expected_version": 0}, {"op": "set_data", "path": "/k0", "value": "m", "expected_version": -1},
           {"op": "create", "path": "/d0/m", "value": "m"}])
}

#[test]
fn a_failed_multi_whose_effect_is_seen_is_caught() {
    let failed = |h: Hist| {
        h.op(1, "multi", "/k0", (10, 20), "fail", json!({"args": {"ops": multi_ops()}, "error": "BadVersion", "zxid": Z + 10,
            "result": {"ops": [{"error": "BadVersion"}, {"error": "RuntimeInconsistency"}, {"error": "RuntimeInconsistency"}]}}))
    };
    // The multi's setData of /k0 was applied although the multi failed.
    let bad = failed(Hist::new().set(3, "/k1", "x", (1, 5), Z + 5, 1)).get(2, "/k0", (30, 40), false, ("m", 1, Z + 10), Z + 11);
    let report = bad.check("multi-atomicity");
    assert_caught(&report, "failed multi applied partly");
    // Near miss: a read of the state before the multi.
    let ok = failed(Hist::new().set(3, "/k1", "x", (1, 5), Z + 5, 1)).get(2, "/k0", (30, 40), false, ("init", 0, Z + 1), Z + 11);
    assert_passes(&ok.check("multi-atomicity"));
}

#[test]
fn a_read_missing_part_of_a_committed_multi_is_caught() {
    let committed = || {
        Hist::new().op(1, "multi", "/k0", (10, 20), "ok", json!({"args": {"ops": multi_ops()}, "zxid": Z + 10,
            "result": {"ops": [{}, {"version": 1, "mzxid": Z + 10}, {"path": "/d0/m"}]}}))
    };
    // Reply zxid Z+11: the multi was applied there, yet /k0 shows its old state.
    let bad = committed().get(2, "/k0", (30, 40), false, ("init", 0, Z + 1), Z + 11);
    assert_caught(&bad.check("multi-atomicity"), "read missed part of a committed multi");
    // Near miss: a lagging replica (reply zxid before the multi) may show the old state.
    let ok = committed().get(2, "/k0", (30, 40), false, ("init", 0, Z + 1), Z + 9);
    assert_passes(&ok.check("multi-atomicity"));
}

#[test]
fn multi_checks_and_failures_are_replayed() {
    // A committed multi whose check(/k1, version 0) met /k1 at version 1.
    let passed_wrongly = Hist::new().set(3, "/k1", "x", (1, 5), Z + 5, 1).op(1, "multi", "/k0", (10, 20), "ok", json!({"args": {"ops": multi_ops()}, "zxid": Z + 10,
        "result": {"ops": [{}, {"version": 1, "mzxid": Z + 10}, {"path": "/d0/m"}]}}));
    assert_caught(&passed_wrongly.check("multi-atomicity"), "multi check passed against a different version");
    // A multi failing its check(/k1, version 0) while /k1 was at version 0.
    let failed = |h: Hist| {
        h.op(1, "multi", "/k0", (10, 20), "fail", json!({"args": {"ops": multi_ops()}, "error": "BadVersion", "zxid": Z + 10,
            "result": {"ops": [{"error": "BadVersion"}, {"error": "RuntimeInconsistency"}, {"error": "RuntimeInconsistency"}]}}))
    };
    assert_caught(&failed(Hist::new()).check("multi-atomicity"), "multi failed without cause");
    // Near misses: the check met version 1 (a real BadVersion); or an unknown-outcome write
    // of /k1 may have changed its version.
    assert_passes(&failed(Hist::new().set(3, "/k1", "x", (1, 5), Z + 5, 1)).check("multi-atomicity"));
    let unknown = Hist::new().op(3, "set_data", "/k1", (1, 1), "unknown", json!({"args": {"value": "y", "expected_version": -1}, "error": "ConnectionLoss"}));
    assert_passes(&failed(unknown).check("multi-atomicity"));
}

// ======================================================================= sequential names

#[test]
fn sequential_names_reused_or_going_back_are_caught() {
    let reused = Hist::new().create(1, "/d0/s-0000000000", true, (10, 20), Z + 10).create(2, "/d0/s-0000000000", true, (30, 40), Z + 12);
    assert_caught(&reused.check("sequential-names"), "sequential name reused");
    let back = Hist::new().create(1, "/d0/s-0000000001", true, (10, 20), Z + 10).create(2, "/d0/e2-0000000000", true, (30, 40), Z + 12);
    assert_caught(&back.check("sequential-names"), "sequential counter went back");
    // Near miss: one counter for every prefix, plain creates counting too.
    let ok = Hist::new()
        .create(1, "/d0/s-0000000000", true, (10, 20), Z + 10)
        .create(2, "/d0/plain", false, (21, 25), Z + 11)
        .create(2, "/d0/e2-0000000002", true, (30, 40), Z + 12);
    assert_passes(&ok.check("sequential-names"));
}

#[test]
fn a_sequential_counter_other_than_the_replayed_child_count_is_caught() {
    // /d0 starts with no children: its first sequential child is number 0.
    let bad = Hist::new().create(1, "/d0/s-0000000005", true, (10, 20), Z + 10);
    assert_caught(&bad.check("sequential-names"), "sequential counter differs from replay");
    // Near miss: an unknown-outcome create under /d0 may have taken numbers before it.
    let ok = Hist::new()
        .op(2, "create", "/d0/s-", (1, 1), "unknown", json!({"args": {"value": "v", "sequential": true}, "error": "ConnectionLoss"}))
        .create(1, "/d0/s-0000000005", true, (10, 20), Z + 10);
    assert_passes(&ok.check("sequential-names"));
}

// ======================================================================= child lists

#[test]
fn child_lists_are_replayed_with_pzxid_and_cversion() {
    let base = || Hist::new().create(1, "/d0/a", false, (10, 20), Z + 10).create(1, "/d0/b", false, (21, 30), Z + 12);
    // The list at pzxid Z+12 has a and b, cversion 2 (two creations, no deletion).
    let ok = base().children(2, "/d0", (40, 50), &["b", "a"], (Z + 12, 2), Z + 13);
    assert_passes(&ok.check("child-lists"));
    let missing = base().children(2, "/d0", (40, 50), &["a"], (Z + 12, 2), Z + 13);
    assert_caught(&missing.check("child-lists"), "child list differs from replay");
    let pzxid = base().children(2, "/d0", (40, 50), &["a", "b"], (Z + 11, 2), Z + 13);
    assert_caught(&pzxid.check("child-lists"), "child list never existed");
    let cversion = base().children(2, "/d0", (40, 50), &["a", "b"], (Z + 12, 5), Z + 13);
    assert_caught(&cversion.check("child-lists"), "cversion differs from replay");
    // The list at pzxid Z+10 (only a) from a server whose reply zxid shows it had applied Z+12.
    let stale = base().children(2, "/d0", (40, 50), &["a"], (Z + 10, 1), Z + 13);
    assert_caught(&stale.check("child-lists"), "child list contradicts its reply zxid");
    // Near miss: the same older list from a lagging server.
    let lagging = base().children(2, "/d0", (40, 50), &["a"], (Z + 10, 1), Z + 11);
    assert_passes(&lagging.check("child-lists"));
}

#[test]
fn a_child_an_unknown_create_may_have_made_is_accepted_by_name() {
    let h = Hist::new()
        .create(1, "/d0/a", false, (10, 20), Z + 10)
        .op(3, "create", "/d0/x", (21, 21), "unknown", json!({"args": {"value": "v"}, "error": "ConnectionLoss"}))
        .children(2, "/d0", (40, 50), &["a", "x"], (Z + 14, 3), Z + 15);
    assert_passes(&h.check("child-lists"));
    // A name nothing could have created is still caught.
    let bad = Hist::new()
        .create(1, "/d0/a", false, (10, 20), Z + 10)
        .op(3, "create", "/d0/x", (21, 21), "unknown", json!({"args": {"value": "v"}, "error": "ConnectionLoss"}))
        .children(2, "/d0", (40, 50), &["a", "y"], (Z + 14, 3), Z + 15);
    assert_caught(&bad.check("child-lists"), "child list differs from replay");
}

// ======================================================================= sync+read

#[test]
fn a_stale_sync_read_within_one_epoch_is_a_violation_across_epochs_a_warning() {
    let sync_read = |h: Hist, header: i64| h.op(2, "sync_read", "/k0", (30, 40), "ok", json!({"zxid": header, "result": {"value": "init", "version": 0, "mzxid": Z + 1}}));
    let within = sync_read(Hist::new().set(1, "/k0", "a", (10, 20), Z + 10, 1), Z + 11);
    let report = within.check("sync-read-real-time");
    assert_caught(&report, "stale sync+read within one epoch");
    // The missed write is of epoch 2, the reply's zxid of epoch 1: a deposed leader of epoch 1
    // may have answered the sync.
    let across = sync_read(Hist::new().set(1, "/k0", "a", (10, 20), 2 * Z + 1, 1), Z + 11);
    let report = across.check("sync-read-real-time");
    assert_eq!(report.status, Status::Warn, "{}", report.verdict_line());
    assert!(report.anomalies().contains(&"stale sync+read"));
}

// ======================================================================= FIFO, pipelined

#[test]
fn pipelined_replies_are_judged_in_submission_order() {
    // Two requests submitted at the same instant (seq 1, 2), answered in the same instant.
    let pipelined = |arrivals: (u64, u64)| {
        let mut h = Hist::new();
        for (seq, arrival, path) in [(1u64, arrivals.0, "/k0"), (2, arrivals.1, "/k1")] {
            h.lines.push(json!({"kind": "op", "process": 2, "client": 2, "session": "0x2", "op": "get_data", "path": path, "invoke_ns": 10,
                "complete_ns": 20, "outcome": "ok", "seq": seq, "arrival": arrival, "zxid": Z + 5, "result": {"value": "init", "version": 0, "mzxid": Z + 1 + seq as i64 - 1}}));
        }
        h
    };
    assert_passes(&pipelined((1, 2)).check("fifo-client-order"));
    assert_caught(&pipelined((2, 1)).check("fifo-client-order"), "FIFO reorder");
    let report = pipelined((1, 2)).check("fifo-client-order");
    assert!(report.summary.contains("1 issued while an earlier op of the session was in flight"), "{}", report.summary);
}

// ======================================================================= format

#[test]
fn new_fields_round_trip_and_bad_ones_are_named() {
    let h = armed().add_watch(2, "/d0", "persistent_recursive", (50, 60), Z + 20).op(1, "multi", "/k0", (61, 70), "ok", json!({"args": {"ops": multi_ops()}, "zxid": Z + 21,
        "result": {"ops": [{}, {"version": 2, "mzxid": Z + 21}, {"path": "/d0/m"}]}}));
    let history = parse_history("h.jsonl", &h.text(), None).unwrap();
    let again = parse_history("again.jsonl", &to_zksim_jsonl(&history), None).unwrap();
    // (Line numbers differ: the writer puts ops before events.)
    let unlined = |ops: &[zksim::history::Op]| ops.iter().map(|op| zksim::history::Op { line: 0, ..op.clone() }).collect::<Vec<_>>();
    assert_eq!(unlined(&history.ops), unlined(&again.ops));
    let events = |h: &zksim::history::History| h.events.iter().map(|e| (e.t_ns, e.arrival, e.event_type.clone())).collect::<Vec<_>>();
    assert_eq!(events(&history), events(&again));
    assert_eq!(history.init_children, again.init_children);
    assert!(history.ops.iter().all(|op| op.seq.is_some() && op.arrival.is_some()));
    let bad = h.text().replace("persistent_recursive", "sometimes");
    let err = parse_history("bad.jsonl", &bad, None).unwrap_err();
    assert!(err.file == "bad.jsonl" && err.problem.contains("args.mode"), "{err:?}");
}
