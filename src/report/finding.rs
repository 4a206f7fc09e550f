//! Findings as data: what `zksim run` prints, what `summary.json` holds and what the HTML
//! report opens with.
//!
//! Why structured: a researcher (or a script) wants the server, the epoch, the zxid and the
//! txns an invariant is about, and the first violation of each check with how many followed,
//! without parsing prose. The prose (`detail`) is kept for people.

use serde::Serialize;
use std::collections::BTreeMap;

/// One finding: the first (in time) of an online invariant or a history check, with how many
/// of its kind followed; or a liveness failure or a crash.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Finding {
    /// Invariant or check name (`liveness`, `crash`, `history` for the run's own failures).
    pub check: String,
    /// What happened, in one readable sentence.
    pub detail: String,
    /// `invariant` (online, while the run went), `check` (a history check), `liveness`,
    /// `crash` or `history` (the recorded history did not parse).
    pub kind: String,
    /// When it showed, in simulated ms from the start (checks: the completion of the last op
    /// involved; none for liveness).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_ms: Option<f64>,
    /// The server an invariant finding is about (`s3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zxid: Option<i64>,
    /// Txns concerned (e.g. acknowledged txns a new leader lacks), the first 64.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub txns: Vec<i64>,
    #[serde(skip_serializing_if = "is_zero")]
    pub txn_count: usize,
    /// Where the property comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The anomaly (history checks: `reply differs from replay`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<String>,
    /// History ops involved (their index in the history, `#N` in the text).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<u32>,
    /// Findings of this check or invariant in all (this one is the earliest).
    pub count: usize,
    /// The later ones, grouped by anomaly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub later: Vec<Later>,
}

/// Later findings of one anomaly, after the first.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Later {
    pub anomaly: String,
    pub count: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Finding {
    /// A finding of the run itself (`liveness`, `crash`, `history`).
    pub fn new(check: &str, detail: impl Into<String>) -> Finding {
        Finding { check: check.to_string(), detail: detail.into(), kind: check.to_string(), count: 1, ..Finding::default() }
    }

    /// Root-cause order: a crash, then online invariants and history checks by the time they
    /// showed (an invariant first on a tie: it is what the server did, the check what a client
    /// saw of it), then liveness and the rest.
    pub fn order_key(&self) -> (u8, u64, u8) {
        let class = match self.kind.as_str() {
            "crash" => 0,
            "invariant" | "check" => 1,
            _ => 2,
        };
        let t = self.t_ms.map_or(u64::MAX, |t| (t * 1_000.0) as u64);
        (class, t, u8::from(self.kind != "invariant"))
    }

    /// `and 47 later replies that differ from the replay` — the later ones in words.
    pub fn later_text(&self) -> Option<String> {
        let total: usize = self.later.iter().map(|l| l.count).sum();
        if total == 0 {
            return None;
        }
        let parts: Vec<String> = self.later.iter().map(|l| format!("{} {}", l.count, l.anomaly)).collect();
        let reason = if self.later.len() == 1 && Some(&self.later[0].anomaly) == self.anomaly.as_ref() { " for the same reason" } else { "" };
        Some(format!("and {total} later {}{reason} ({})", if total == 1 { "finding" } else { "findings" }, parts.join(", ")))
    }
}

/// Sorts findings root cause first (stable: equal keys keep their order).
pub fn root_cause_order(findings: &mut [Finding]) {
    findings.sort_by_key(Finding::order_key);
}

/// Groups counts of later findings: `counts` of every finding by anomaly, less the first.
pub fn later_groups(counts: &BTreeMap<String, usize>, first: &str) -> Vec<Later> {
    let mut later: Vec<Later> = counts
        .iter()
        .map(|(anomaly, &count)| Later { anomaly: anomaly.clone(), count: if anomaly == first { count.saturating_sub(1) } else { count } })
        .filter(|l| l.count > 0)
        .collect();
    later.sort_by(|a, b| b.count.cmp(&a.count).then(a.anomaly.cmp(&b.anomaly)));
    later
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cause_first_liveness_last_invariant_before_check_on_a_tie() {
        let at = |kind: &str, t: Option<f64>| Finding { kind: kind.into(), check: kind.into(), t_ms: t, ..Finding::default() };
        let mut f = vec![at("liveness", None), at("check", Some(5.0)), at("check", Some(2.0)), at("invariant", Some(5.0))];
        root_cause_order(&mut f);
        let order: Vec<(&str, Option<f64>)> = f.iter().map(|f| (f.kind.as_str(), f.t_ms)).collect();
        assert_eq!(order, vec![("check", Some(2.0)), ("invariant", Some(5.0)), ("check", Some(5.0)), ("liveness", None)]);
    }

    #[test]
    fn later_findings_are_grouped_by_anomaly() {
        let counts = BTreeMap::from([("reply differs from replay".to_string(), 48), ("duplicate zxid".to_string(), 2)]);
        let f = Finding { anomaly: Some("reply differs from replay".into()), later: later_groups(&counts, "reply differs from replay"), ..Finding::default() };
        assert_eq!(f.later_text().unwrap(), "and 49 later findings (47 reply differs from replay, 2 duplicate zxid)");
        let same = Finding { anomaly: Some("x".into()), later: later_groups(&BTreeMap::from([("x".to_string(), 48)]), "x"), ..Finding::default() };
        assert_eq!(same.later_text().unwrap(), "and 47 later findings for the same reason (47 x)");
        assert_eq!(Finding::default().later_text(), None);
    }
}
