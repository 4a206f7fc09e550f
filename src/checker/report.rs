//! Verdicts: what each check found, worded for a person.
//!
//! Why: a violation is only useful if it says which anomaly it is, shows the smallest set of
//! ops that proves it, and explains it in one sentence. Reports keep every count but store
//! at most `MAX_STORED` examples per check, so a broken million-op run stays readable.

use crate::history::OpId;

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
        }
    }

    pub fn violate(&mut self, violation: Violation) {
        self.violation_count += 1;
        if self.violations.len() < MAX_STORED {
            self.violations.push(violation);
        }
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
        if self.allowed.len() < MAX_STORED {
            self.allowed.push(violation);
        }
    }

    /// Sets the status from the violations found and the summary text.
    pub fn finish(mut self, summary: impl Into<String>) -> CheckReport {
        self.summary = summary.into();
        self.status = if self
            .violations
            .iter()
            .any(|v| v.severity == Severity::Safety)
        {
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
