//! `replica-convergence`: replicas that applied the same transactions hold the same tree.
//!
//! Source: ZAB agreement and prefix consistency (TLA+ `zookeeper-specifications`:
//! `Agreement`, `PrefixConsistency`); ZooKeeper 3.6+ digest checks (ZOOKEEPER-3114,
//! `digest.enabled`). Historical breaks: ZOOKEEPER-1154, -2355, -2845 (replicas diverge).

use super::context::Context;
use super::report::{CheckReport, Severity, Violation};
use super::CheckOptions;
use crate::history::Zxid;
use std::collections::BTreeMap;

pub const NAME: &str = "replica-convergence";
const SOURCE: &str = "ZAB Agreement / PrefixConsistency (TLA+); ZOOKEEPER-3114 tree digests";

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let Some(final_state) = context.history.final_state.as_ref() else {
        return report.not_applicable("no `final` line");
    };
    let mut by_zxid: BTreeMap<Zxid, Vec<(&str, &str)>> = BTreeMap::new();
    for (name, replica) in &final_state.replicas {
        if let (Some(zxid), Some(digest)) = (replica.zxid, replica.digest.as_deref()) {
            by_zxid.entry(zxid).or_default().push((name, digest));
        }
    }
    if by_zxid.is_empty() {
        return report.not_applicable(format!(
            "{} replicas but no digests recorded",
            final_state.replicas.len()
        ));
    }
    for (zxid, replicas) in &by_zxid {
        let (first_name, first_digest) = replicas[0];
        for &(name, digest) in &replicas[1..] {
            if digest != first_digest {
                let text = format!("replicas {first_name} and {name} both applied up to zxid {zxid:#x} but their tree digests differ ({first_digest} vs {digest})");
                report.violate(Violation {
                    anomaly: "replicas diverged",
                    severity: Severity::Safety,
                    ops: vec![],
                    lines: vec![final_state.line],
                    explanation: text,
                });
            }
        }
    }
    let compared: usize = by_zxid.values().map(Vec::len).sum();
    report.finish(format!(
        "{compared} replica digests in {} zxid group(s)",
        by_zxid.len()
    ))
}
