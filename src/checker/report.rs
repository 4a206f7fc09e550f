//! Verdicts: what each check found, worded for a person.
//!
//! Why: a violation is only useful if it says which anomaly it is, shows the smallest set of
//! ops that proves it, and explains it in one sentence. Reports keep every count (per
//! anomaly too) but store at most `MAX_STORED` examples per check — the earliest ones, so the
//! first violation in time is always among them — and a broken million-op run stays readable.

use crate::history::OpId;
use std::collections::BTreeMap;

/// Examples kept per check (all are counted).
pub const MAX_STORED: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Breaks a guarantee ZooKeeper makes: exit code 1.
    Safety,
    /// Breaks a stronger property ZooKeeper does not strictly promise (sync+read real time):
    /// reported as WARN.
    Weak,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Anomaly name, e.g. "stale sync+read", "FIFO reorder".
    pub anomaly: &'static str,
    pub severity: Severity,
    /// The smallest set of ops that shows it.
    pub ops: Vec<OpId>,
    /// Input lines that are not ops (the `final` line, an event line), if involved.
    pub lines: Vec<u32>,
    pub explanation: String,
}

impl Violation {
    /// Where the violation shows in the history: its latest op (ops are numbered in
    /// completion order, the order the recorder writes them), or the end for one shown by
    /// non-op lines only (the final state). Smaller is earlier.
    pub fn position(&self) -> OpId {
        match self.ops.iter().max() {
            Some(&op) => op,
            None => OpId::MAX,
        }
    }
}

/// Keeps at most `MAX_STORED` examples, the earliest by [`Violation::position`]; the order
/// among the kept ones stays the order they were found in.
fn keep_earliest(stored: &mut Vec<Violation>, violation: Violation) {
    if stored.len() < MAX_STORED {
        stored.push(violation);
        return;
    }
    let latest = (0..stored.len()).max_by_key(|&i| (stored[i].position(), i)).expect("full");
    if violation.position() < stored[latest].position() {
        stored.remove(latest);
        stored.push(violation);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    /// Only weak-severity violations.
    Warn,
    Fail,
    /// Could not decide (time limit).
    Unknown,
    /// The history lacks what the check needs (e.g. no zxids, no final line).
    NotApplicable,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Unknown => "UNKNOWN",
            Status::NotApplicable => "N/A",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CheckReport {
    pub name: &'static str,
    /// Where the property comes from (paper section, docs, TLA+ name).
    pub source: &'static str,
    pub status: Status,
    pub summary: String,
    pub violations: Vec<Violation>,
    pub violation_count: usize,
    /// Anomalies the guarantee allows but worth counting (e.g. stale plain reads).
    pub allowed: Vec<Violation>,
    pub allowed_count: usize,
    /// Violations per anomaly name (all counted, stored or not).
    pub anomaly_counts: BTreeMap<&'static str, usize>,
    /// Allowed anomalies per name.
    pub allowed_counts: BTreeMap<&'static str, usize>,
    /// Violations of safety severity (stored or not): any makes the check FAIL.
    pub safety_count: usize,
}

impl CheckReport {
    pub fn new(name: &'static str, source: &'static str) -> CheckReport {
        CheckReport {
            name,
            source,
            status: Status::Pass,
            summary: String::new(),
            violations: Vec::new(),
            violation_count: 0,
            allowed: Vec::new(),
            allowed_count: 0,
            anomaly_counts: BTreeMap::new(),
            allowed_counts: BTreeMap::new(),
            safety_count: 0,
        }
    }

    pub fn violate(&mut self, violation: Violation) {
        self.violation_count += 1;
        *self.anomaly_counts.entry(violation.anomaly).or_default() += 1;
        if violation.severity == Severity::Safety {
            self.safety_count += 1;
        }
        keep_earliest(&mut self.violations, violation);
    }

    pub fn violation(&mut self, anomaly: &'static str, ops: Vec<OpId>, explanation: String) {
        self.violate(Violation {
            anomaly,
            severity: Severity::Safety,
            ops,
            lines: Vec::new(),
            explanation,
        });
    }

    pub fn allow(&mut self, violation: Violation) {
        self.allowed_count += 1;
        *self.allowed_counts.entry(violation.anomaly).or_default() += 1;
        keep_earliest(&mut self.allowed, violation);
    }

    /// Sets the status from the violations found and the summary text.
    pub fn finish(mut self, summary: impl Into<String>) -> CheckReport {
        self.summary = summary.into();
        self.status = if self.safety_count > 0 {
            Status::Fail
        } else if self.violation_count > 0 {
            Status::Warn
        } else {
            Status::Pass
        };
        self
    }

    pub fn not_applicable(mut self, reason: impl Into<String>) -> CheckReport {
        self.status = Status::NotApplicable;
        self.summary = reason.into();
        self
    }

    pub fn unknown(mut self, reason: impl Into<String>) -> CheckReport {
        self.status = Status::Unknown;
        self.summary = reason.into();
        self
    }

    /// Anomaly names found, sorted and de-duplicated.
    pub fn anomalies(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.violations.iter().map(|v| v.anomaly).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The earliest stored violation (by [`Violation::position`]; ties: the first found).
    pub fn first_violation(&self) -> Option<&Violation> {
        self.violations.iter().enumerate().min_by_key(|(i, v)| (v.position(), *i)).map(|(_, v)| v)
    }

    /// `name  STATUS  summary` — one line per check.
    pub fn verdict_line(&self) -> String {
        let mut line = format!(
            "{:<30} {:<7} {}",
            self.name,
            self.status.label(),
            self.summary
        );
        if self.violation_count > 0 {
            line.push_str(&format!(
                " [{} violation(s): {}]",
                self.violation_count,
                self.anomalies().join(", ")
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(op: OpId) -> Violation {
        Violation { anomaly: if op % 2 == 0 { "even" } else { "odd" }, severity: Severity::Safety, ops: vec![op], lines: Vec::new(), explanation: String::new() }
    }

    #[test]
    fn the_earliest_violations_are_kept_and_every_one_counted_per_anomaly() {
        let mut report = CheckReport::new("t", "s");
        // Found latest first: the earliest 50 must survive, with op 0 the first.
        for op in (0..200).rev() {
            report.violate(at(op));
        }
        assert_eq!(report.violation_count, 200);
        assert_eq!(report.violations.len(), MAX_STORED);
        assert!(report.violations.iter().all(|v| v.position() < MAX_STORED as OpId));
        assert_eq!(report.first_violation().map(|v| v.ops[0]), Some(0));
        assert_eq!(report.anomaly_counts.get("even"), Some(&100));
        assert_eq!(report.anomaly_counts.get("odd"), Some(&100));
    }
}
