//! From a run's raw results (online invariant violations, history check reports) to findings
//! in root-cause order, per-check verdicts and the allowed anomalies a researcher counts.
//!
//! Why: a failing run typically shows one cause (an acknowledged txn missing when a leader
//! started) and dozens of consequences (every later reply of that key differs from the
//! replay). The earliest of each kind, with how many followed, reads as a story; a flat list
//! of 120 violations does not.

use serde::Serialize;
use std::collections::BTreeMap;

use super::finding::{later_groups, Finding};
use crate::checker::{CheckReport, Severity, Status, Violation};
use crate::history::{ErrorCode, History, Outcome};
use crate::sim::invariants::Violation as InvariantViolation;

/// A check's verdict as `summary.json` holds it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckVerdict {
    pub name: String,
    /// PASS, FAIL, WARN, UNKNOWN or N/A.
    pub status: String,
    pub summary: String,
    pub source: String,
    pub violations: usize,
    /// Violations per anomaly.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub anomalies: BTreeMap<String, usize>,
    /// Allowed anomalies (e.g. stale plain reads) per name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub allowed: BTreeMap<String, usize>,
    /// The earliest violation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<ViolationRecord>,
}

/// One violation, structured.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ViolationRecord {
    pub anomaly: String,
    /// `safety` or `weak`.
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_ms: Option<f64>,
    pub ops: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<u32>,
    pub explanation: String,
}

/// Anomalies ZooKeeper allows, counted per run (a sweep sums them).
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AllowedCounts {
    /// Plain reads that missed a write completed before they were invoked (allowed: served
    /// by the local replica).
    pub stale_plain_reads: usize,
    /// sync+reads that missed such a write: a WARN (ZooKeeper means sync to prevent it, but
    /// it is not strictly linearizable).
    pub stale_sync_reads: usize,
    /// Requests refused with SessionMoved (a late revalidation moved the session).
    pub session_moved: usize,
    /// Ops whose outcome the client never learned.
    pub unknown_outcomes: usize,
}

impl AllowedCounts {
    pub fn add(&mut self, other: &AllowedCounts) {
        self.stale_plain_reads += other.stale_plain_reads;
        self.stale_sync_reads += other.stale_sync_reads;
        self.session_moved += other.session_moved;
        self.unknown_outcomes += other.unknown_outcomes;
    }
}

pub fn ms(t_ns: u64) -> f64 {
    t_ns as f64 / 1e6
}

/// The end of the history: its last op completion, event or fault.
pub fn end_ns(history: &History) -> u64 {
    let ops = history.ops.iter().map(|o| if o.complete_ns == u64::MAX { o.invoke_ns } else { o.complete_ns });
    let others = history.nemesis.iter().map(|n| n.t_ns).chain(history.server_events.iter().map(|e| e.record.t_ns));
    ops.chain(others).chain(history.session_events.iter().map(|e| e.t_ns)).max().unwrap_or(0)
}

/// When a violation showed: the completion of its last op (an unknown op: its invocation);
/// one shown by the final state only: the end of the history.
pub fn violation_time_ns(history: &History, violation: &Violation) -> u64 {
    let op_time = violation
        .ops
        .iter()
        .filter_map(|&id| history.ops.get(id as usize))
        .map(|o| if o.complete_ns == u64::MAX { o.invoke_ns } else { o.complete_ns })
        .max();
    let final_line = history.final_state.as_ref().map(|f| f.line);
    let shows_at_end = violation.lines.iter().any(|l| Some(*l) == final_line) || violation.ops.is_empty();
    match (op_time, shows_at_end) {
        (_, true) => end_ns(history).max(op_time.unwrap_or(0)),
        (Some(t), false) => t,
        (None, false) => end_ns(history),
    }
}

/// The earliest violation of a report in time (not only in history order).
pub fn earliest<'r>(history: &History, report: &'r CheckReport) -> Option<&'r Violation> {
    report.violations.iter().enumerate().min_by_key(|(i, v)| (violation_time_ns(history, v), *i)).map(|(_, v)| v)
}

fn record(history: &History, v: &Violation) -> ViolationRecord {
    ViolationRecord {
        anomaly: v.anomaly.to_string(),
        severity: if v.severity == Severity::Safety { "safety" } else { "weak" }.to_string(),
        t_ms: Some(ms(violation_time_ns(history, v))),
        ops: v.ops.clone(),
        lines: v.lines.clone(),
        explanation: v.explanation.clone(),
    }
}

/// Every check's verdict, structured.
pub fn check_verdicts(history: &History, reports: &[CheckReport]) -> Vec<CheckVerdict> {
    reports
        .iter()
        .map(|r| CheckVerdict {
            name: r.name.to_string(),
            status: r.status.label().to_string(),
            summary: r.summary.clone(),
            source: r.source.to_string(),
            violations: r.violation_count,
            anomalies: r.anomaly_counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            allowed: r.allowed_counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            first: earliest(history, r).map(|v| record(history, v)),
        })
        .collect()
}

/// One finding per failing check: its earliest violation, the rest grouped.
pub fn check_finding(history: &History, report: &CheckReport) -> Option<Finding> {
    if report.status != Status::Fail {
        return None;
    }
    let first = earliest(history, report)?;
    let counts: BTreeMap<String, usize> = report.anomaly_counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Some(Finding {
        check: report.name.to_string(),
        detail: first.explanation.clone(),
        kind: "check".into(),
        t_ms: Some(ms(violation_time_ns(history, first))),
        source: Some(report.source.to_string()),
        anomaly: Some(first.anomaly.to_string()),
        ops: first.ops.clone(),
        count: report.violation_count,
        later: later_groups(&counts, first.anomaly),
        ..Finding::default()
    })
}

/// One finding per online invariant: its earliest violation, the rest counted.
pub fn invariant_findings(violations: &[InvariantViolation]) -> Vec<Finding> {
    let mut by_name: BTreeMap<&str, Vec<&InvariantViolation>> = BTreeMap::new();
    for v in violations {
        by_name.entry(v.invariant).or_default().push(v);
    }
    let mut out: Vec<Finding> = by_name
        .into_values()
        .map(|list| {
            let first = list.iter().min_by_key(|v| v.time_ms).expect("non-empty");
            let counts = BTreeMap::from([(first.invariant.to_string(), list.len())]);
            Finding {
                check: first.invariant.to_string(),
                detail: first.detail.clone(),
                kind: "invariant".into(),
                t_ms: Some(first.time_ms as f64),
                server: Some(format!("s{}", first.server)),
                epoch: first.epoch,
                zxid: first.zxid,
                txns: first.txns.clone(),
                txn_count: first.txn_count,
                source: Some(first.source.to_string()),
                anomaly: Some(first.invariant.to_string()),
                count: list.len(),
                later: later_groups(&counts, first.invariant),
                ..Finding::default()
            }
        })
        .collect();
    out.sort_by(|a, b| a.t_ms.partial_cmp(&b.t_ms).unwrap_or(std::cmp::Ordering::Equal));
    out
}

/// The anomalies ZooKeeper allows, counted over one history.
pub fn allowed_counts(history: &History, reports: &[CheckReport]) -> AllowedCounts {
    let sync = reports.iter().find(|r| r.name == crate::checker::sync_read_real_time::NAME);
    AllowedCounts {
        stale_plain_reads: sync.and_then(|r| r.allowed_counts.get("stale plain read")).copied().unwrap_or(0),
        stale_sync_reads: sync.and_then(|r| r.anomaly_counts.get("stale sync+read")).copied().unwrap_or(0),
        session_moved: history.ops.iter().filter(|o| o.error == Some(ErrorCode::SessionMoved)).count(),
        unknown_outcomes: history.ops.iter().filter(|o| o.outcome == Outcome::Unknown).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(name: &'static str, t: i64, server: u64) -> InvariantViolation {
        InvariantViolation { invariant: name, source: "src", time_ms: t, server, detail: format!("at {t}"), epoch: Some(3), zxid: Some(26), txns: vec![40], txn_count: 1 }
    }

    #[test]
    fn invariant_findings_keep_the_earliest_with_its_subject_and_count_the_rest() {
        let f = invariant_findings(&[inv("same-zxid-same-digest", 20, 1), inv("same-zxid-same-digest", 10, 3), inv("acknowledged-write-durable", 15, 1)]);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].check.as_str(), f[0].t_ms, f[0].server.as_deref(), f[0].count), ("same-zxid-same-digest", Some(10.0), Some("s3"), 2));
        assert_eq!(f[0].later_text().as_deref(), Some("and 1 later finding for the same reason (1 same-zxid-same-digest)"));
        assert_eq!((f[1].epoch, f[1].zxid, f[1].txns.clone()), (Some(3), Some(26), vec![40]));
    }
}
