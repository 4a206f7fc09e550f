//! Ground truth from real systems (`/work/shared/reference`):
//! - the real ZooKeeper 3.8.0 history passes every guarantee ZooKeeper makes, and its 7 stale
//!   plain reads are reported as allowed, not as violations;
//! - copies with one planted fault each are caught, with the right anomaly;
//! - the black-box search agrees with every Jepsen etcd verdict (also after an EDN round trip).

use std::collections::BTreeMap;
use zksim::checker::{check_history, check_one, CheckOptions, CheckReport, Status};
use zksim::history::{
    export_edn, load_history, parse_history, History, NodeState, OpId, OpKind, OpResult, Outcome,
    PathId, Zxid,
};

const ZK_HISTORY: &str = "../shared/reference/zk-3.8.0-history-3node.jsonl";
const ETCD_DIR: &str = "../shared/reference/jepsen-etcd-register";

fn zk_history() -> History {
    load_history(ZK_HISTORY, None).expect("the reference history parses")
}

fn check(history: &History, name: &str) -> CheckReport {
    check_one(history, name, &CheckOptions::default()).expect("check exists")
}

fn assert_caught(report: &CheckReport, anomaly: &str) {
    assert!(
        matches!(report.status, Status::Fail | Status::Warn),
        "{}",
        report.verdict_line()
    );
    assert!(
        report.anomalies().contains(&anomaly),
        "expected {anomaly:?}: {}",
        report.verdict_line()
    );
}

#[test]
fn real_zookeeper_history_passes_what_zookeeper_guarantees() {
    let history = zk_history();
    assert_eq!(history.ops.len(), 19_745);
    let reports = check_history(&history, &CheckOptions::default());
    let status: BTreeMap<&str, Status> = reports.iter().map(|r| (r.name, r.status)).collect();
    for name in [
        "linearizable-writes",
        "linearizable-writes-blackbox",
        "fifo-client-order",
        "monotonic-reads",
        "read-your-writes",
        "sequential-consistency",
        "sync-read-real-time",
        "durability",
    ] {
        assert_eq!(
            status[name],
            Status::Pass,
            "{name}: {}",
            reports
                .iter()
                .find(|r| r.name == name)
                .unwrap()
                .verdict_line()
        );
    }
    for report in &reports {
        assert_ne!(report.status, Status::Fail, "{}", report.verdict_line());
    }
}

#[test]
fn real_zookeeper_stale_plain_reads_are_reported_as_allowed() {
    let report = check(&zk_history(), "sync-read-real-time");
    assert_eq!(
        report.allowed_count, 7,
        "the recorder counted 7 stale plain reads"
    );
    assert!(report
        .allowed
        .iter()
        .all(|v| v.anomaly == "stale plain read"));
    assert!(
        report.summary.contains("7 allowed non-linearizable"),
        "{}",
        report.summary
    );
    // Not every read is linearizable: these 7 are exactly the ones that are not.
    for v in &report.allowed {
        let read = &zk_history().ops[*v.ops.last().unwrap() as usize];
        assert_eq!(read.kind, OpKind::Read);
    }
}

// ---- planted faults ----

/// Acknowledged setData states of each path, in zxid order: (zxid, version, value, op).
fn acked_writes(history: &History) -> BTreeMap<PathId, Vec<(Zxid, i32, String, OpId)>> {
    let mut out: BTreeMap<PathId, Vec<(Zxid, i32, String, OpId)>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if op.kind.is_set_data() && op.outcome == Outcome::Ok {
            let entry = (
                op.result.mzxid.unwrap(),
                op.result.version.unwrap(),
                op.args.value.clone().unwrap(),
                id as OpId,
            );
            out.entry(op.path.unwrap()).or_default().push(entry);
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

fn state_result(
    history: &History,
    path: PathId,
    writes: &[(Zxid, i32, String, OpId)],
    index: Option<usize>,
) -> OpResult {
    let (zxid, version, value) = match index {
        Some(i) => (writes[i].0, writes[i].1, writes[i].2.clone()),
        None => {
            let init = &history.init[&path];
            (init.mzxid, init.version, init.value.clone().unwrap())
        }
    };
    OpResult {
        value: Some(value),
        version: Some(version),
        mzxid: Some(zxid),
        exists: Some(true),
        ..OpResult::default()
    }
}

#[test]
fn planted_stale_sync_read_is_caught() {
    let mut history = zk_history();
    let writes = acked_writes(&history);
    // A sync+read after at least two writes of its path completed: make it return the state
    // before the newest of them.
    let (id, path, older) = history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.kind == OpKind::SyncRead && op.outcome == Outcome::Ok)
        .find_map(|(id, op)| {
            let list = &writes[&op.path.unwrap()];
            let done = list
                .iter()
                .filter(|w| history.ops[w.3 as usize].complete_ns < op.invoke_ns)
                .map(|w| list.iter().position(|x| x == w).unwrap())
                .max()?;
            (done >= 1).then(|| (id, op.path.unwrap(), done - 1))
        })
        .expect("some sync+read follows two completed writes");
    history.ops[id].result = state_result(&history, path, &writes[&path], Some(older));
    // This recorder writes no reply zxid for reads: nothing rules out a deposed leader that
    // answered the sync, so a warning, at its own lower severity.
    assert_eq!(history.ops[id].zxid, None);
    let report = check(&history, "sync-read-real-time");
    assert_caught(&report, "stale sync+read");
    assert_eq!(report.status, Status::Warn, "reported at its own, lower severity");
    assert_eq!(check(&history, "linearizable-writes").status, Status::Pass);
    // With a reply zxid of the missed write's epoch, the sync went through a leader that had
    // committed it: a violation.
    let missed = writes[&path][older + 1].0;
    history.ops[id].zxid = Some(missed + 1);
    let report = check(&history, "sync-read-real-time");
    assert_caught(&report, "stale sync+read within one epoch");
    assert_eq!(report.status, Status::Fail);
}

#[test]
fn planted_lost_acknowledged_write_is_caught() {
    let mut history = zk_history();
    let writes = acked_writes(&history);
    let path = *writes.keys().next().unwrap();
    let list = &writes[&path];
    let before_last = &list[list.len() - 2];
    let final_state = history.final_state.as_mut().unwrap();
    final_state.nodes.insert(
        path,
        Some(NodeState {
            value: Some(before_last.2.clone()),
            version: before_last.1,
            mzxid: before_last.0,
            czxid: None,
        }),
    );
    let report = check(&history, "durability");
    assert_caught(&report, "lost acknowledged write");
    assert_eq!(
        report.violations[0].ops,
        vec![list.last().unwrap().3],
        "the smallest evidence: the lost write"
    );
}

#[test]
fn planted_swapped_replies_are_caught() {
    let mut history = zk_history();
    let (a, b) =
        consecutive_session_writes(&history).expect("a session wrote one path twice in a row");
    let reply_a = history.ops[a].result.clone();
    history.ops[a].result = history.ops[b].result.clone();
    history.ops[b].result = reply_a;
    assert_caught(&check(&history, "fifo-client-order"), "FIFO reorder");
}

/// Two acknowledged writes of the same path, consecutive in one session's issue order.
fn consecutive_session_writes(history: &History) -> Option<(usize, usize)> {
    let mut by_session: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if let (Some(s), true) = (op.session, op.outcome == Outcome::Ok) {
            by_session.entry(s).or_default().push(id);
        }
    }
    for ids in by_session.values_mut() {
        ids.sort_by_key(|&id| history.ops[id].invoke_ns);
        for pair in ids.windows(2) {
            let (a, b) = (&history.ops[pair[0]], &history.ops[pair[1]]);
            if a.kind.is_set_data() && b.kind.is_set_data() && a.path == b.path {
                return Some((pair[0], pair[1]));
            }
        }
    }
    None
}

#[test]
fn planted_read_going_backwards_is_caught() {
    let mut history = zk_history();
    let writes = acked_writes(&history);
    // Session reads r1 then r2 of the same path with no own write of it in between, r1 having
    // seen a written state: make r2 return the state before r1's.
    let (r2, path, older) =
        backwards_candidate(&history, &writes).expect("a session read one path twice");
    history.ops[r2].result = state_result(&history, path, &writes[&path], older);
    assert_caught(&check(&history, "monotonic-reads"), "read went backwards");
    assert_eq!(check(&history, "linearizable-writes").status, Status::Pass);
}

fn backwards_candidate(
    history: &History,
    writes: &BTreeMap<PathId, Vec<(Zxid, i32, String, OpId)>>,
) -> Option<(usize, PathId, Option<usize>)> {
    let mut by_session: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if let (Some(s), true) = (op.session, op.outcome == Outcome::Ok) {
            by_session.entry(s).or_default().push(id);
        }
    }
    for ids in by_session.values_mut() {
        ids.sort_by_key(|&id| history.ops[id].invoke_ns);
        for pair in ids.windows(2) {
            let (r1, r2) = (&history.ops[pair[0]], &history.ops[pair[1]]);
            let reads = r1.kind == OpKind::Read && r2.kind == OpKind::Read && r1.path == r2.path;
            if !reads {
                continue;
            }
            let path = r1.path.unwrap();
            let list = &writes[&path];
            if let Some(i) = list.iter().position(|w| Some(w.0) == r1.result.mzxid) {
                return Some((pair[1], path, i.checked_sub(1)));
            }
        }
    }
    None
}

#[test]
fn planted_zxid_against_real_time_is_caught() {
    let mut history = zk_history();
    // Two writes of different paths and sessions, adjacent in zxid order, the first completed
    // before the second was invoked: swap their zxids everywhere (replies, reads, final).
    let mut placed: Vec<(Zxid, usize)> = history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.kind.is_set_data() && op.outcome == Outcome::Ok)
        .map(|(id, op)| (op.result.mzxid.unwrap(), id))
        .collect();
    placed.sort();
    let (za, a, zb, b) = placed
        .windows(2)
        .map(|w| (w[0].0, w[0].1, w[1].0, w[1].1))
        .find(|&(za, a, zb, b)| {
            let (x, y) = (&history.ops[a], &history.ops[b]);
            zb == za + 1
                && x.path != y.path
                && x.session != y.session
                && x.complete_ns < y.invoke_ns
        })
        .expect("two adjacent writes separated in real time");
    let swap = |z: Zxid| {
        if z == za {
            zb
        } else if z == zb {
            za
        } else {
            z
        }
    };
    for op in &mut history.ops {
        op.result.mzxid = op.result.mzxid.map(swap);
        op.zxid = op.zxid.map(swap);
    }
    for node in history
        .final_state
        .as_mut()
        .unwrap()
        .nodes
        .values_mut()
        .flatten()
    {
        node.mzxid = swap(node.mzxid);
    }
    let report = check(&history, "linearizable-writes");
    assert_caught(&report, "zxid against real time");
    assert_eq!(report.violations[0].ops, vec![a as OpId, b as OpId]);
}

// ---- Jepsen etcd verdicts ----

fn etcd_verdicts() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(format!("{ETCD_DIR}/VERDICTS.txt")).expect("VERDICTS.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, verdict) = l.split_once(' ').expect("file verdict");
            (file.to_string(), verdict.trim() == "linearizable")
        })
        .collect()
}

#[test]
fn blackbox_agrees_with_every_etcd_verdict() {
    let verdicts = etcd_verdicts();
    assert_eq!(verdicts.len(), 51);
    assert_eq!(verdicts.iter().filter(|v| v.1).count(), 10);
    for (file, linearizable) in verdicts {
        let history = load_history(&format!("{ETCD_DIR}/{file}"), None).expect("etcd log parses");
        let report = check(&history, "linearizable-writes-blackbox");
        let expected = if linearizable {
            Status::Pass
        } else {
            Status::Fail
        };
        assert_eq!(report.status, expected, "{file}: {}", report.verdict_line());
        if !linearizable {
            assert_eq!(report.anomalies(), vec!["not linearizable"]);
        }
    }
}

#[test]
fn edn_export_round_trip_keeps_etcd_verdicts() {
    for (file, linearizable) in etcd_verdicts() {
        let history = load_history(&format!("{ETCD_DIR}/{file}"), None).unwrap();
        let edn = export_edn(&history);
        let again = parse_history(&format!("{file}.edn"), &edn, None).expect("exported EDN parses");
        assert_eq!(again.ops.len(), history.ops.len(), "{file}");
        let report = check(&again, "linearizable-writes-blackbox");
        assert_eq!(
            report.status == Status::Pass,
            linearizable,
            "{file} after EDN round trip"
        );
    }
}

#[test]
fn zookeeper_history_exports_to_edn() {
    let history = zk_history();
    let edn = export_edn(&history);
    let again = parse_history("zk.edn", &edn, None).expect("exported EDN parses");
    assert_eq!(again.ops.len(), history.ops.len());
    assert!(edn.lines().next().unwrap().starts_with("{:process"));
}
