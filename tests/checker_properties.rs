//! Hand-built histories, one property at a time: each violation is caught with the right
//! anomaly name, and each near miss (a history that looks suspicious but is allowed) passes.
//! Histories are written as zksim JSONL text, so the parser is exercised too.

use serde_json::{json, Value};
use zksim::checker::{check_one, CheckOptions, CheckReport, Status};
use zksim::history::parse_history;

const Z: i64 = 0x1_0000_0000; // epoch 1

/// A zksim history under construction: meta line with /k0 and /k1 at version 0.
struct Hist {
    lines: Vec<Value>,
}

impl Hist {
    fn new() -> Hist {
        let meta = json!({"kind": "meta", "format": "zksim-history", "format_version": 1,
            "init": {"/k0": {"value": "init", "version": 0, "mzxid": Z + 1}, "/k1": {"value": "init", "version": 0, "mzxid": Z + 2}}});
        Hist { lines: vec![meta] }
    }

    fn push(mut self, line: Value) -> Hist {
        self.lines.push(line);
        self
    }

    fn op(
        self,
        client: i64,
        op: &str,
        path: &str,
        t: (u64, u64),
        outcome: &str,
        extra: Value,
    ) -> Hist {
        let mut line = json!({"kind": "op", "process": client, "client": client, "session": format!("0x{client}"),
            "op": op, "path": path, "invoke_ns": t.0, "complete_ns": t.1, "outcome": outcome});
        for (k, v) in extra.as_object().expect("extra is an object") {
            line[k] = v.clone();
        }
        self.push(line)
    }

    /// An acknowledged unconditional setData.
    fn write(
        self,
        client: i64,
        path: &str,
        value: &str,
        t: (u64, u64),
        zxid: i64,
        version: i32,
    ) -> Hist {
        self.op(client, "write", path, t, "ok", json!({"args": {"value": value}, "zxid": zxid, "result": {"version": version, "mzxid": zxid}}))
    }

    fn cas(
        self,
        client: i64,
        path: &str,
        value: &str,
        expected: i32,
        t: (u64, u64),
        zxid: i64,
    ) -> Hist {
        self.op(client, "cas", path, t, "ok", json!({"args": {"value": value, "expected_version": expected}, "zxid": zxid, "result": {"version": expected + 1, "mzxid": zxid}}))
    }

    fn bad_version(self, client: i64, path: &str, expected: i32, t: (u64, u64)) -> Hist {
        self.op(
            client,
            "cas",
            path,
            t,
            "fail",
            json!({"args": {"value": "x", "expected_version": expected}, "error": "BadVersion"}),
        )
    }

    fn unknown_write(self, client: i64, path: &str, value: &str, invoke_ns: u64) -> Hist {
        self.push(json!({"kind": "op", "process": client, "client": client, "session": format!("0x{client}"), "op": "write",
            "path": path, "args": {"value": value}, "invoke_ns": invoke_ns, "outcome": "unknown", "error": "ConnectionLoss"}))
    }

    #[allow(clippy::too_many_arguments)] // mirrors an op line's fields one to one
    fn read_kind(
        self,
        kind: &str,
        client: i64,
        path: &str,
        t: (u64, u64),
        value: &str,
        version: i32,
        mzxid: i64,
    ) -> Hist {
        self.op(
            client,
            kind,
            path,
            t,
            "ok",
            json!({"result": {"value": value, "version": version, "mzxid": mzxid}}),
        )
    }

    fn read(
        self,
        client: i64,
        path: &str,
        t: (u64, u64),
        value: &str,
        version: i32,
        mzxid: i64,
    ) -> Hist {
        self.read_kind("read", client, path, t, value, version, mzxid)
    }

    fn sync_read(
        self,
        client: i64,
        path: &str,
        t: (u64, u64),
        value: &str,
        version: i32,
        mzxid: i64,
    ) -> Hist {
        self.read_kind("sync_read", client, path, t, value, version, mzxid)
    }

    fn final_line(self, nodes: Value, replicas: Value) -> Hist {
        self.push(json!({"kind": "final", "nodes": nodes, "replicas": replicas}))
    }

    fn check(&self, name: &str) -> CheckReport {
        let text: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        let history =
            parse_history("hand-built.jsonl", &text, None).expect("hand-built history parses");
        check_one(&history, name, &CheckOptions::default()).expect("check exists")
    }
}

fn assert_caught(report: &CheckReport, anomaly: &str) {
    assert!(
        matches!(report.status, Status::Fail | Status::Warn),
        "{} should fail: {}",
        report.name,
        report.verdict_line()
    );
    assert!(
        report.anomalies().contains(&anomaly),
        "{}: expected anomaly {anomaly:?}, got {:?}",
        report.name,
        report.anomalies()
    );
    for v in &report.violations {
        assert!(
            !v.explanation.is_empty() && (!v.ops.is_empty() || !v.lines.is_empty()),
            "violations name ops and explain: {v:?}"
        );
    }
}

fn assert_passes(report: &CheckReport) {
    assert_eq!(report.status, Status::Pass, "{}", report.verdict_line());
}

// ---- linearizable-writes ----

#[test]
fn duplicate_zxid_is_caught() {
    let h = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).write(
        2,
        "/k1",
        "b",
        (12, 22),
        Z + 3,
        1,
    );
    assert_caught(&h.check("linearizable-writes"), "duplicate zxid");
}

#[test]
fn zxid_against_real_time_is_caught_but_concurrent_order_is_free() {
    // w1 completes at 20, w2 starts at 30, yet w2 got the smaller zxid.
    let bad = Hist::new().write(1, "/k0", "a", (10, 20), Z + 4, 1).write(
        2,
        "/k1",
        "b",
        (30, 40),
        Z + 3,
        1,
    );
    assert_caught(&bad.check("linearizable-writes"), "zxid against real time");
    // Near miss: the same zxids, but the writes overlap in time.
    let ok = Hist::new().write(1, "/k0", "a", (10, 35), Z + 4, 1).write(
        2,
        "/k1",
        "b",
        (30, 40),
        Z + 3,
        1,
    );
    assert_passes(&ok.check("linearizable-writes"));
}

#[test]
fn reply_version_that_replay_cannot_produce_is_caught() {
    let bad = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).write(
        1,
        "/k0",
        "b",
        (30, 40),
        Z + 4,
        3,
    );
    assert_caught(
        &bad.check("linearizable-writes"),
        "reply differs from replay",
    );
    let ok = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).write(
        1,
        "/k0",
        "b",
        (30, 40),
        Z + 4,
        2,
    );
    assert_passes(&ok.check("linearizable-writes"));
}

#[test]
fn version_gap_explained_by_unknown_write_passes() {
    // An unknown-outcome write makes version 2 plausible for the next acknowledged one.
    let ok = Hist::new()
        .unknown_write(3, "/k0", "u", 5)
        .write(1, "/k0", "b", (30, 40), Z + 4, 2);
    assert_passes(&ok.check("linearizable-writes"));
    // Without the unknown write the gap is unexplained.
    let bad = Hist::new().write(1, "/k0", "b", (30, 40), Z + 4, 2);
    assert_caught(
        &bad.check("linearizable-writes"),
        "reply differs from replay",
    );
}

#[test]
fn cas_against_stale_version_is_caught() {
    let bad =
        Hist::new()
            .write(1, "/k0", "a", (10, 20), Z + 3, 1)
            .cas(2, "/k0", "c", 0, (30, 40), Z + 4);
    assert_caught(
        &bad.check("linearizable-writes"),
        "cas succeeded against a stale version",
    );
    let ok =
        Hist::new()
            .write(1, "/k0", "a", (10, 20), Z + 3, 1)
            .cas(2, "/k0", "c", 1, (30, 40), Z + 4);
    assert_passes(&ok.check("linearizable-writes"));
}

#[test]
fn bad_version_against_matching_version_is_caught() {
    // Throughout [30, 40] the version was 1: BadVersion for expected 1 is impossible.
    let bad = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .bad_version(2, "/k0", 1, (30, 40))
        .write(1, "/k0", "b", (50, 60), Z + 4, 2);
    assert_caught(
        &bad.check("linearizable-writes"),
        "BadVersion against a matching version",
    );
    // Near miss: a concurrent write could have bumped the version first.
    let ok = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .bad_version(2, "/k0", 1, (30, 40))
        .write(1, "/k0", "b", (35, 60), Z + 4, 2);
    assert_passes(&ok.check("linearizable-writes"));
}

// ---- linearizable-writes-blackbox ----

fn edn_check(text: &str) -> CheckReport {
    let history = parse_history("hand-built.edn", text, None).expect("EDN parses");
    check_one(
        &history,
        "linearizable-writes-blackbox",
        &CheckOptions::default(),
    )
    .expect("check exists")
}

#[test]
fn blackbox_catches_stale_read_and_accepts_concurrent_one() {
    let bad = "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n\
               {:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value nil}\n";
    assert_caught(&edn_check(bad), "not linearizable");
    let ok = "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 1, :type :invoke, :f :read, :value nil}\n\
              {:process 0, :type :ok, :f :write, :value 1}\n{:process 1, :type :ok, :f :read, :value nil}\n";
    assert_passes(&edn_check(ok));
}

#[test]
fn blackbox_time_limit_yields_unknown() {
    // Many concurrent unknown writes, then a read no order can explain: huge search.
    let mut text = String::new();
    for p in 0..40 {
        text.push_str(&format!(
            "{{:process {p}, :type :invoke, :f :write, :value {p}}}\n"
        ));
    }
    for p in 0..40 {
        text.push_str(&format!(
            "{{:process {p}, :type :info, :f :write, :value {p}}}\n"
        ));
    }
    text.push_str("{:process 100, :type :invoke, :f :read, :value nil}\n{:process 100, :type :ok, :f :read, :value 77}\n");
    let history = parse_history("big.edn", &text, None).unwrap();
    let options = CheckOptions {
        time_limit_ms: 1,
        ..CheckOptions::default()
    };
    let report = check_one(&history, "linearizable-writes-blackbox", &options).unwrap();
    assert!(
        matches!(report.status, Status::Unknown | Status::Fail),
        "{}",
        report.verdict_line()
    );
}

// ---- fifo-client-order ----

#[test]
fn fifo_reorder_of_replies_is_caught() {
    // Session 1 pipelines two requests; the second one's reply arrives first.
    let bad = Hist::new().write(1, "/k0", "a", (10, 50), Z + 3, 1).write(
        1,
        "/k1",
        "b",
        (20, 30),
        Z + 4,
        1,
    );
    assert_caught(&bad.check("fifo-client-order"), "FIFO reorder");
    // Near miss: the same timing across two sessions.
    let ok = Hist::new().write(1, "/k0", "a", (10, 50), Z + 3, 1).write(
        2,
        "/k1",
        "b",
        (20, 30),
        Z + 4,
        1,
    );
    assert_passes(&ok.check("fifo-client-order"));
}

#[test]
fn session_zxid_going_back_is_caught() {
    let bad = Hist::new().write(1, "/k0", "a", (10, 20), Z + 4, 1).write(
        1,
        "/k1",
        "b",
        (30, 40),
        Z + 3,
        1,
    );
    assert_caught(&bad.check("fifo-client-order"), "FIFO reorder");
}

// ---- monotonic-reads / read-your-writes ----

#[test]
fn read_going_backwards_is_caught() {
    let base = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1);
    let bad =
        base.read(2, "/k0", (30, 40), "a", 1, Z + 3)
            .read(2, "/k0", (50, 60), "init", 0, Z + 1);
    assert_caught(&bad.check("monotonic-reads"), "read went backwards");
    // Near miss: another session may lag behind (a different follower).
    let ok = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .read(2, "/k0", (30, 40), "a", 1, Z + 3)
        .read(3, "/k0", (50, 60), "init", 0, Z + 1);
    assert_passes(&ok.check("monotonic-reads"));
}

#[test]
fn read_missing_own_write_is_caught() {
    let bad = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).read(
        1,
        "/k0",
        (30, 40),
        "init",
        0,
        Z + 1,
    );
    assert_caught(&bad.check("read-your-writes"), "read missed own write");
    assert_caught(&bad.check("monotonic-reads"), "read missed own write");
    let ok = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).read(
        2,
        "/k0",
        (30, 40),
        "init",
        0,
        Z + 1,
    );
    assert_passes(&ok.check("read-your-writes"));
}

// ---- sequential-consistency ----

#[test]
fn cross_key_inconsistency_is_caught() {
    // Writes: k0 := a @3, k1 := b @4. Session 2 reads k1 = b (so it reached zxid 4), then
    // reads k0 = init, which stopped being current at zxid 3.
    let writes = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).write(
        1,
        "/k1",
        "b",
        (30, 40),
        Z + 4,
        1,
    );
    let bad =
        writes
            .read(2, "/k1", (50, 60), "b", 1, Z + 4)
            .read(2, "/k0", (70, 80), "init", 0, Z + 1);
    assert_caught(
        &bad.check("sequential-consistency"),
        "read inconsistent with session order",
    );
    // Near miss: in the other order the session may still be before zxid 3.
    let writes = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).write(
        1,
        "/k1",
        "b",
        (30, 40),
        Z + 4,
        1,
    );
    let ok =
        writes
            .read(2, "/k0", (50, 60), "init", 0, Z + 1)
            .read(2, "/k1", (70, 80), "b", 1, Z + 4);
    assert_passes(&ok.check("sequential-consistency"));
}

#[test]
fn phantom_and_future_reads_are_caught() {
    let phantom = Hist::new().read(2, "/k0", (50, 60), "zzz", 1, Z + 9);
    assert_caught(
        &phantom.check("sequential-consistency"),
        "read of a value never written",
    );
    let future =
        Hist::new()
            .read(2, "/k0", (5, 8), "a", 1, Z + 3)
            .write(1, "/k0", "a", (10, 20), Z + 3, 1);
    assert_caught(
        &future.check("sequential-consistency"),
        "read from the future",
    );
    // Near miss: an unknown-outcome write of that value explains the read.
    let ok =
        Hist::new()
            .unknown_write(1, "/k0", "zzz", 40)
            .read(2, "/k0", (50, 60), "zzz", 1, Z + 9);
    assert_passes(&ok.check("sequential-consistency"));
    assert_passes(&ok.check("linearizable-writes"));
}

// ---- sync-read-real-time ----

#[test]
fn stale_sync_read_warns_and_stale_plain_read_is_allowed() {
    let bad = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .sync_read(2, "/k0", (30, 40), "init", 0, Z + 1);
    let report = bad.check("sync-read-real-time");
    assert_caught(&report, "stale sync+read");
    assert_eq!(
        report.status,
        Status::Warn,
        "stale sync+read has its own lower severity"
    );
    let plain = Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1).read(
        2,
        "/k0",
        (30, 40),
        "init",
        0,
        Z + 1,
    );
    let report = plain.check("sync-read-real-time");
    assert_passes(&report);
    assert_eq!(report.allowed_count, 1);
    assert_eq!(report.allowed[0].anomaly, "stale plain read");
    // Near miss: a sync+read concurrent with the write may miss it.
    let ok = Hist::new()
        .write(1, "/k0", "a", (10, 35), Z + 3, 1)
        .sync_read(2, "/k0", (30, 40), "init", 0, Z + 1);
    assert_passes(&ok.check("sync-read-real-time"));
}

// ---- durability ----

#[test]
fn lost_acknowledged_write_is_caught() {
    let lost = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .final_line(
            json!({"/k0": {"value": "init", "version": 0, "mzxid": Z + 1}}),
            json!({"s1": {"zxid": Z + 3}}),
        );
    assert_caught(&lost.check("durability"), "lost acknowledged write");
    let behind = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .final_line(
            json!({"/k0": {"value": "a", "version": 1, "mzxid": Z + 3}}),
            json!({"s1": {"zxid": Z + 2}}),
        );
    assert_caught(&behind.check("durability"), "lost acknowledged write");
    // Near miss: the final value comes from an unknown-outcome write that took effect late.
    let ok = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .unknown_write(2, "/k0", "late", 30)
        .final_line(
            json!({"/k0": {"value": "late", "version": 2, "mzxid": Z + 5}}),
            json!({"s1": {"zxid": Z + 5}}),
        );
    assert_passes(&ok.check("durability"));
}

// ---- replica-convergence ----

#[test]
fn diverged_replicas_are_caught() {
    let bad = Hist::new().final_line(
        json!({}),
        json!({"s1": {"zxid": Z + 9, "digest": "aa"}, "s2": {"zxid": Z + 9, "digest": "bb"}}),
    );
    assert_caught(&bad.check("replica-convergence"), "replicas diverged");
    let ok = Hist::new().final_line(json!({}), json!({"s1": {"zxid": Z + 9, "digest": "aa"}, "s2": {"zxid": Z + 8, "digest": "bb"}, "s3": {"zxid": Z + 9, "digest": "aa"}}));
    assert_passes(&ok.check("replica-convergence"));
}

// ---- ephemerals ----

fn ephemeral_base() -> Hist {
    Hist::new()
        .op(1, "create", "/e", (10, 20), "ok", json!({"args": {"value": "x", "ephemeral": true}, "zxid": Z + 3, "result": {"path": "/e"}}))
        .push(json!({"kind": "session", "client": 1, "session": "0x1", "t_ns": 100, "state": "expired", "zxid": Z + 4}))
}

#[test]
fn ephemeral_seen_after_expiry_is_caught() {
    let seen =
        json!({"result": {"value": "x", "version": 0, "mzxid": Z + 3, "ephemeral_owner": "0x1"}});
    let bad = ephemeral_base().op(2, "get_data", "/e", (150, 160), "ok", seen.clone());
    assert_caught(&bad.check("ephemerals"), "ephemeral outlived its session");
    // Near miss 1: observed before the expiry completed.
    let ok = ephemeral_base().op(2, "get_data", "/e", (50, 60), "ok", seen.clone());
    assert_passes(&ok.check("ephemerals"));
    // Near miss 2: a lagging replica (reply zxid before the closeSession) — allowed, counted.
    let mut lagging = seen;
    lagging["zxid"] = json!(Z + 3);
    let report = ephemeral_base()
        .op(2, "get_data", "/e", (150, 160), "ok", lagging)
        .check("ephemerals");
    assert_passes(&report);
    assert_eq!(report.allowed_count, 1);
}

/// A client told "expired" before the ensemble committed the closeSession (the leader refused
/// the closing session, then lost its quorum; the next leader expired it again later): reads
/// of the ephemeral before that commit are allowed and counted, reads after it are violations.
#[test]
fn ephemeral_seen_between_the_expiry_notice_and_the_commit_is_allowed() {
    let seen = json!({"result": {"value": "x", "version": 0, "mzxid": Z + 3, "ephemeral_owner": "0x1"}, "zxid": Z + 5});
    let committed_later = || {
        Hist::new()
            .op(1, "create", "/e", (10, 20), "ok", json!({"args": {"value": "x", "ephemeral": true}, "zxid": Z + 3, "result": {"path": "/e"}}))
            .push(json!({"kind": "session", "client": 1, "session": "0x1", "t_ns": 100, "state": "expired"}))
            .push(json!({"kind": "session", "client": 0, "session": "0x1", "t_ns": 300, "state": "closed", "zxid": Z + 9, "by": "ensemble"}))
    };
    let report = committed_later().op(2, "get_data", "/e", (150, 160), "ok", seen.clone()).check("ephemerals");
    assert_passes(&report);
    assert_eq!(report.allowed_count, 1, "counted as expiry told before its closeSession committed");
    let mut after = seen;
    after["zxid"] = json!(Z + 9);
    let bad = committed_later().op(2, "get_data", "/e", (350, 360), "ok", after).check("ephemerals");
    assert_caught(&bad, "ephemeral outlived its session");
}

// ---- watches ----

#[test]
fn change_seen_before_watch_event_is_caught() {
    let watch =
        json!({"args": {"watch": true}, "result": {"value": "init", "version": 0, "mzxid": Z + 1}});
    let base = Hist::new()
        .op(2, "get_data", "/k0", (5, 8), "ok", watch)
        .write(1, "/k0", "a", (10, 20), Z + 3, 1);
    let bad = base.read(2, "/k0", (30, 40), "a", 1, Z + 3);
    assert_caught(&bad.check("watches"), "change seen before watch event");
    // Near miss: the NodeDataChanged event arrived before the read's reply.
    let watch =
        json!({"args": {"watch": true}, "result": {"value": "init", "version": 0, "mzxid": Z + 1}});
    let ok = Hist::new()
        .op(2, "get_data", "/k0", (5, 8), "ok", watch)
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .push(json!({"kind": "event", "client": 2, "session": "0x2", "t_ns": 25, "type": "NodeDataChanged", "path": "/k0", "zxid": Z + 3}))
        .read(2, "/k0", (30, 40), "a", 1, Z + 3);
    assert_passes(&ok.check("watches"));
}

// ---- lock-mutual-exclusion ----

fn lock(h: Hist, client: i64, acquire: (u64, u64), release: (u64, u64), token: i64) -> Hist {
    h.op(
        client,
        "lock_acquire",
        "/lock",
        acquire,
        "ok",
        json!({"result": {"token": token}}),
    )
    .op(client, "lock_release", "/lock", release, "ok", json!({}))
}

#[test]
fn overlapping_critical_sections_are_caught() {
    let bad = lock(
        lock(Hist::new(), 1, (0, 10), (50, 55), Z + 3),
        2,
        (20, 30),
        (60, 65),
        Z + 4,
    );
    assert_caught(
        &bad.check("lock-mutual-exclusion"),
        "overlapping critical sections",
    );
    // Near miss: client 2's acquire was pending during client 1's section but returned after the release began.
    let ok = lock(
        lock(Hist::new(), 1, (0, 10), (50, 55), Z + 3),
        2,
        (20, 52),
        (60, 65),
        Z + 4,
    );
    assert_passes(&ok.check("lock-mutual-exclusion"));
}

#[test]
fn stale_fencing_token_is_caught() {
    let fenced = |h: Hist, client: i64, t: (u64, u64), token: i64| {
        h.op(
            client,
            "fenced_write",
            "/resource",
            t,
            "ok",
            json!({"args": {"token": token}}),
        )
    };
    let bad = fenced(fenced(Hist::new(), 2, (10, 20), 9), 1, (30, 40), 7);
    assert_caught(
        &bad.check("lock-mutual-exclusion"),
        "stale fencing token accepted",
    );
    let ok = fenced(fenced(Hist::new(), 1, (10, 20), 7), 2, (30, 40), 9);
    assert_passes(&ok.check("lock-mutual-exclusion"));
}

#[test]
fn session_end_deletes_its_ephemerals_in_the_replay() {
    // Client 1's ephemeral /e goes away with its session (closeSession zxid Z+4). Another
    // session then sees "no node", and the final state has no /e: all consistent.
    let absent = json!({"result": {"exists": false}, "zxid": Z + 4});
    let ok = ephemeral_base()
        .op(2, "exists", "/e", (150, 160), "ok", absent)
        .final_line(json!({"/e": null}), json!({"s1": {"zxid": Z + 4}}));
    for name in [
        "sequential-consistency",
        "monotonic-reads",
        "durability",
        "linearizable-writes",
        "ephemerals",
    ] {
        let report = ok.check(name);
        assert!(
            matches!(report.status, Status::Pass | Status::NotApplicable),
            "{}",
            report.verdict_line()
        );
    }
    // A sequential create is replayed on the path it actually created.
    let seq = Hist::new()
        .op(1, "create", "/q/n-", (10, 20), "ok", json!({"args": {"value": "x", "sequential": true}, "zxid": Z + 3, "result": {"path": "/q/n-0000000000"}}))
        .read_kind("get_data", 1, "/q/n-0000000000", (30, 40), "x", 0, Z + 3);
    assert_passes(&seq.check("sequential-consistency"));
}

#[test]
fn successful_cas_proves_an_unknown_write_happened() {
    // The cas expecting version 1 succeeded: only the unknown write can have made version 1.
    let ok = Hist::new()
        .unknown_write(3, "/k0", "u", 5)
        .cas(1, "/k0", "c", 1, (30, 40), Z + 4);
    assert_passes(&ok.check("linearizable-writes"));
    assert_passes(&ok.check("linearizable-writes-blackbox"));
    let bad = Hist::new().cas(1, "/k0", "c", 1, (30, 40), Z + 4);
    assert_caught(
        &bad.check("linearizable-writes"),
        "reply differs from replay",
    );
    assert_caught(
        &bad.check("linearizable-writes-blackbox"),
        "not linearizable",
    );
}

#[test]
fn multi_is_replayed_all_or_nothing_under_one_zxid() {
    let multi = json!({"args": {"ops": [
        {"op": "create", "path": "/m", "value": "x"},
        {"op": "set_data", "path": "/k0", "value": "y", "expected_version": 0}]}, "zxid": Z + 3});
    let h = Hist::new()
        .op(1, "multi", "/", (10, 20), "ok", multi)
        .read_kind("get_data", 2, "/m", (30, 40), "x", 0, Z + 3)
        .read(2, "/k0", (50, 60), "y", 1, Z + 3);
    for name in [
        "linearizable-writes",
        "sequential-consistency",
        "monotonic-reads",
    ] {
        assert_passes(&h.check(name));
    }
    let stale = Hist::new()
        .op(1, "multi", "/", (10, 20), "ok", json!({"args": {"ops": [{"op": "set_data", "path": "/k0", "value": "y"}]}, "zxid": Z + 3}))
        .read(2, "/k0", (50, 60), "y", 1, Z + 3)
        .read(2, "/k0", (70, 80), "init", 0, Z + 1);
    assert_caught(&stale.check("monotonic-reads"), "read went backwards");
}

#[test]
fn sync_then_read_as_two_ops_is_a_sync_read() {
    let h = Hist::new()
        .write(1, "/k0", "a", (10, 20), Z + 3, 1)
        .op(2, "sync", "/k0", (30, 35), "ok", json!({}))
        .read_kind("get_data", 2, "/k0", (36, 40), "init", 0, Z + 1);
    assert_caught(&h.check("sync-read-real-time"), "stale sync+read");
}

#[test]
fn fencing_token_going_backwards_is_caught() {
    // Client 2 acquired after client 1 released, yet got a smaller lock-node czxid.
    let bad = lock(
        lock(Hist::new(), 1, (0, 10), (20, 25), Z + 5),
        2,
        (30, 40),
        (50, 55),
        Z + 4,
    );
    assert_caught(
        &bad.check("lock-mutual-exclusion"),
        "fencing token went backwards",
    );
    let ok = lock(
        lock(Hist::new(), 1, (0, 10), (20, 25), Z + 4),
        2,
        (30, 40),
        (50, 55),
        Z + 5,
    );
    assert_passes(&ok.check("lock-mutual-exclusion"));
}

#[test]
fn read_older_than_its_reply_zxid_is_caught() {
    let base = || Hist::new().write(1, "/k0", "a", (10, 20), Z + 3, 1);
    let with_header = |zxid: i64| json!({"zxid": zxid, "result": {"value": "init", "version": 0, "mzxid": Z + 1}});
    // The replica had applied zxid Z+3 (the write) yet returned the state before it.
    let bad = base().op(2, "read", "/k0", (30, 40), "ok", with_header(Z + 3));
    assert_caught(
        &bad.check("sequential-consistency"),
        "read contradicts its reply zxid",
    );
    // Near miss: header Z+2, the write not yet applied there.
    let ok = base().op(2, "read", "/k0", (30, 40), "ok", with_header(Z + 2));
    assert_passes(&ok.check("sequential-consistency"));
    // Near miss: data newer than the header (a commit landed while the read ran).
    let racing = base().op(
        2,
        "read",
        "/k0",
        (30, 40),
        "ok",
        json!({"zxid": Z + 2, "result": {"value": "a", "version": 1, "mzxid": Z + 3}}),
    );
    assert_passes(&racing.check("sequential-consistency"));
}
