//! `lock-mutual-exclusion` on hand-built histories: when an overlap of two critical sections
//! is a violation, when it is the paused-holder anomaly ZooKeeper cannot prevent ("expired
//! holder overlapped", allowed), and how fencing then decides whether it did damage.
//!
//! Times are in ns; client N's session is "0xN". The shape of every history: client 1 takes
//! the lock (token T1) and never releases it before client 2 is granted it (token T2 > T1),
//! as when client 1 pauses past its session timeout and ZooKeeper deletes its lock node.

use serde_json::{json, Value};
use zksim::checker::{check_one, CheckOptions, CheckReport, Status};
use zksim::history::parse_history;

const Z: i64 = 0x1_0000_0000; // epoch 1
const T1: i64 = Z + 3;
const T2: i64 = Z + 4;
const CHECK: &str = "lock-mutual-exclusion";

struct Hist {
    lines: Vec<Value>,
}

impl Hist {
    fn new() -> Hist {
        let meta = json!({"kind": "meta", "format": "zksim-history", "format_version": 1,
            "init": {"/lock": {"value": "init", "version": 0, "mzxid": Z + 1}}});
        Hist { lines: vec![meta] }
    }

    fn push(mut self, line: Value) -> Hist {
        self.lines.push(line);
        self
    }

    fn op(self, client: i64, op: &str, t: (u64, Option<u64>), outcome: &str, extra: Value) -> Hist {
        let mut line = json!({"kind": "op", "process": client, "client": client, "session": format!("0x{client}"),
            "op": op, "path": "/lock", "invoke_ns": t.0, "outcome": outcome});
        if let Some(complete) = t.1 {
            line["complete_ns"] = json!(complete);
        }
        for (k, v) in extra.as_object().expect("extra is an object") {
            line[k] = v.clone();
        }
        self.push(line)
    }

    fn acquire(self, client: i64, t: (u64, u64), token: i64) -> Hist {
        self.op(client, "lock_acquire", (t.0, Some(t.1)), "ok", json!({"result": {"token": token}}))
    }

    fn release(self, client: i64, t: (u64, u64)) -> Hist {
        self.op(client, "lock_release", (t.0, Some(t.1)), "ok", json!({}))
    }

    /// A write to the protected store: accepted (`ok`) or refused for a stale token.
    fn fenced(self, client: i64, t: u64, token: i64, accepted: bool) -> Hist {
        let extra = if accepted {
            json!({"args": {"token": token, "value": format!("c{client}")}})
        } else {
            json!({"args": {"token": token, "value": format!("c{client}")}, "error": "StaleToken"})
        };
        self.op(client, "fenced_write", (t, Some(t)), if accepted { "ok" } else { "fail" }, extra)
    }

    /// The workload's `expired` line: the session's end, confirmed by its next session.
    fn expired(self, client: i64, t_ns: u64) -> Hist {
        self.push(json!({"kind": "session", "client": client, "session": format!("0x{client}"), "t_ns": t_ns, "state": "expired"}))
    }

    fn check(&self) -> CheckReport {
        let text: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        let history = parse_history("hand-built.jsonl", &text, None).expect("hand-built history parses");
        check_one(&history, CHECK, &CheckOptions::default()).expect("check exists")
    }
}

fn assert_caught(report: &CheckReport, anomaly: &str) {
    assert_eq!(report.status, Status::Fail, "{}", report.verdict_line());
    assert!(report.anomalies().contains(&anomaly), "expected {anomaly:?}, got {:?}", report.anomalies());
}

fn assert_passes(report: &CheckReport) {
    assert_eq!(report.status, Status::Pass, "{} {:?}", report.verdict_line(), report.violations);
}

fn allowed(report: &CheckReport) -> Vec<&'static str> {
    report.allowed.iter().map(|v| v.anomaly).collect()
}

/// Client 1 holds from 10 on; client 2 is granted at 100 and releases at 150.
fn client1_holds_client2_granted() -> Hist {
    Hist::new()
        .acquire(1, (0, 10), T1)
        .fenced(1, 20, T1, true)
        .acquire(2, (30, 100), T2)
        .fenced(2, 110, T2, true)
        .release(2, (150, 160))
}

/// (a) Both sessions alive (no expiry anywhere): ZooKeeper's lock promise itself was broken.
#[test]
fn two_live_holders_overlapping_is_a_violation() {
    let h = client1_holds_client2_granted().release(1, (300, 310));
    assert_caught(&h.check(), "overlapping critical sections");
}

/// (b) The paused holder: client 1's session expired (confirmed at 200, after the grant) and
/// it wrote nothing after the grant. Allowed, and reported as such.
#[test]
fn expired_holder_that_wrote_nothing_after_the_grant_is_allowed() {
    let h = client1_holds_client2_granted().expired(1, 200);
    let report = h.check();
    assert_passes(&report);
    assert_eq!(allowed(&report), vec!["expired holder overlapped"]);
    // The same with a waiter told on a stale read that it holds the lock after its own
    // session expired: the later section's session is the dead one.
    // (Its release is refused: a release that deleted its node would prove it alive.)
    let waiter = Hist::new()
        .acquire(1, (0, 10), T1)
        .acquire(2, (30, 100), T2)
        .fenced(2, 110, T2, true)
        .op(2, "lock_release", (150, Some(160)), "fail", json!({"error": "SessionExpired"}))
        .release(1, (300, 310))
        .expired(2, 200);
    let report = waiter.check();
    assert_passes(&report);
    assert_eq!(allowed(&report), vec!["expired holder overlapped"]);
}

/// (c) The expired holder comes back and writes with its stale token, and the store (fencing
/// off) accepts it after a write with the newer token: damage, "stale fencing token accepted".
/// The overlap itself stays excused: a store write proves nothing about the session.
#[test]
fn expired_holder_stale_write_accepted_without_fencing_is_a_violation() {
    let h = client1_holds_client2_granted().fenced(1, 120, T1, true).expired(1, 200);
    let report = h.check();
    assert_caught(&report, "stale fencing token accepted");
    assert!(!report.anomalies().contains(&"overlapping critical sections"), "{:?}", report.anomalies());
}

/// (c') A ZooKeeper write of the expired session succeeding after the grant (its release
/// deleted its node) proves the session was alive then: the grant was wrong.
#[test]
fn expired_holder_with_a_successful_zookeeper_write_after_the_grant_is_a_violation() {
    let h = client1_holds_client2_granted().release(1, (120, 130)).expired(1, 200);
    assert_caught(&h.check(), "overlapping critical sections");
}

/// (d) The fenced store refuses the stale token: no damage, the history passes.
#[test]
fn fenced_store_refusing_the_stale_write_passes() {
    let h = client1_holds_client2_granted().fenced(1, 120, T1, false).expired(1, 200);
    let report = h.check();
    assert_passes(&report);
    assert_eq!(allowed(&report), vec!["expired holder overlapped"]);
}

/// A release still unanswered when the run ended (recorded as unknown, no completion) ends
/// the section at its invocation: client 1 released at 50, before client 2's grant at 100.
/// Without that line the section would last to the end of the history (seed 235 of the
/// expiry-keeps-ephemerals scenario without its flag, before the workload recorded it).
#[test]
fn unanswered_release_ends_the_section_at_its_invocation() {
    let with = client1_holds_client2_granted().op(1, "lock_release", (50, None), "unknown", json!({}));
    let report = with.check();
    assert_passes(&report);
    assert!(report.allowed.is_empty(), "{:?}", report.allowed);
    let without = client1_holds_client2_granted();
    assert_caught(&without.check(), "overlapping critical sections");
}
