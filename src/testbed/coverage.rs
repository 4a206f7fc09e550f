//! Coverage probes across runs: which fault points a run or a sweep passed, which faults fired
//! where, and which never happened.
//!
//! Why: a clean sweep means little if the dangerous moments were never reached. As
//! FoundationDB's nightly runs fail when a `CODE_PROBE` never fired, `zksim sweep
//! --require-coverage` fails (exit [`EXIT_COVERAGE`]) when a listed probe was never reached.
//! Probe names: a fault point's name (`current_epoch_written`), a transition between two points
//! on one server (`newleader_received>sync_txns_logged`), or a fault fired at a point
//! (`fired:current_epoch_written:kill`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::zab::FaultPoint;

/// Exit code of a sweep whose verdicts were as expected but a required probe never fired.
pub const EXIT_COVERAGE: i32 = 5;

/// One probe over a sweep.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeTotal {
    /// Passages over every seed.
    pub count: u64,
    /// Seeds in which it fired at least once.
    pub seeds: u64,
}

/// Adds one run's probes to the totals.
pub fn add_run(totals: &mut BTreeMap<String, ProbeTotal>, run: &BTreeMap<String, u64>) {
    for (probe, &count) in run {
        let t = totals.entry(probe.clone()).or_default();
        t.count += count;
        t.seeds += 1;
    }
}

/// Combines two sweeps' totals (for `zksim merge`).
pub fn merge_totals(into: &mut BTreeMap<String, ProbeTotal>, other: &BTreeMap<String, ProbeTotal>) {
    for (probe, t) in other {
        let e = into.entry(probe.clone()).or_default();
        e.count += t.count;
        e.seeds += t.seeds;
    }
}

/// Fault points never passed.
pub fn points_never_passed<V>(reached: &BTreeMap<String, V>) -> Vec<&'static str> {
    FaultPoint::ALL.iter().map(|p| p.name()).filter(|n| !reached.contains_key(*n)).collect()
}

/// A probe's count: passages in one run, or in a whole sweep.
pub trait ProbeCount {
    fn passages(&self) -> u64;
}

impl ProbeCount for u64 {
    fn passages(&self) -> u64 {
        *self
    }
}

impl ProbeCount for ProbeTotal {
    fn passages(&self) -> u64 {
        self.count
    }
}

/// One line for a run or a sweep: points passed, never passed, faults fired, storage probes
/// (snapshot walks that interleaved with commits, torn appends, torn tails cut).
pub fn describe<V: ProbeCount>(reached: &BTreeMap<String, V>) -> String {
    let never = points_never_passed(reached);
    let passed = FaultPoint::ALL.len() - never.len();
    let fired: Vec<&str> = reached.keys().filter_map(|k| k.strip_prefix("fired:")).collect();
    let transitions = reached.keys().filter(|k| k.contains('>')).count();
    let mut line = format!("coverage: {passed}/{} fault points passed, {transitions} transitions", FaultPoint::ALL.len());
    if !never.is_empty() {
        line.push_str(&format!("; never: {}", never.join(", ")));
    }
    if fired.len() > 6 {
        let points: std::collections::BTreeSet<&str> = fired.iter().filter_map(|f| f.split(':').next()).collect();
        line.push_str(&format!("; {} (point, action) faults fired, at {} points", fired.len(), points.len()));
    } else if !fired.is_empty() {
        line.push_str(&format!("; faults fired at: {}", fired.join(", ")));
    }
    let storage: Vec<String> = reached.iter().filter_map(|(k, v)| Some(format!("{} {}", k.strip_prefix("storage:")?, v.passages()))).collect();
    if !storage.is_empty() {
        line.push_str(&format!("; storage: {}", storage.join(", ")));
    }
    line
}

/// Parses `--require-coverage`: comma-separated probe names, `points` for every fault point.
/// Unknown fault-point names are an error (a typo must not pass as "never fired").
pub fn parse_required(args: &[String]) -> Result<Vec<String>, String> {
    let mut required = Vec::new();
    for arg in args {
        for name in arg.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "points" {
                required.extend(FaultPoint::ALL.iter().map(|p| p.name().to_string()));
                continue;
            }
            let points_named: Vec<&str> = match name.strip_prefix("fired:") {
                Some(rest) => vec![rest.split(':').next().unwrap_or("")],
                None => name.split('>').collect(),
            };
            if let Some(bad) = points_named.iter().find(|p| FaultPoint::parse(p).is_none()) {
                return Err(format!("--require-coverage: `{name}` names no fault point (`{bad}`; see `zksim list`)"));
            }
            required.push(name.to_string());
        }
    }
    Ok(required)
}

/// Required probes that never fired.
pub fn missing<V>(required: &[String], reached: &BTreeMap<String, V>) -> Vec<String> {
    required.iter().filter(|r| !reached.contains_key(r.as_str())).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_probes_are_checked_and_typos_refused() {
        let required = parse_required(&["sync_diff,fired:current_epoch_written:kill".into(), "newleader_received>sync_txns_logged".into()]).unwrap();
        assert_eq!(required.len(), 3);
        let mut reached = BTreeMap::new();
        reached.insert("sync_diff".to_string(), 3u64);
        assert_eq!(missing(&required, &reached), vec!["fired:current_epoch_written:kill".to_string(), "newleader_received>sync_txns_logged".to_string()]);
        assert!(parse_required(&["sync_dif".into()]).unwrap_err().contains("sync_dif"));
        assert_eq!(parse_required(&["points".into()]).unwrap().len(), FaultPoint::ALL.len());
    }

    #[test]
    fn totals_count_seeds_and_passages() {
        let mut totals = BTreeMap::new();
        let run: BTreeMap<String, u64> = [("sync_diff".to_string(), 2)].into();
        add_run(&mut totals, &run);
        add_run(&mut totals, &run);
        assert_eq!(totals["sync_diff"], ProbeTotal { count: 4, seeds: 2 });
        assert!(describe(&totals).contains("1/30 fault points passed"));
        assert!(points_never_passed(&totals).contains(&"sync_trunc"));
    }
}
