//! `durability`: every acknowledged write survives — the final state reflects it unless a
//! later write replaced it, and some replica's log reaches its zxid.
//!
//! Source: ZAB (Junqueira, Reed, Serafini, DSN 2011) and TLA+ `zookeeper-specifications`:
//! "committed txns are never lost"; ZooKeeper Programmer's Guide, "Reliability: once an
//! update has been applied, it will persist from that time forward until a client
//! overwrites the update". Historical breaks: ZOOKEEPER-3911, -4643, -4646.

use super::context::Context;
use super::report::{CheckReport, Severity, Violation};
use super::timeline::{PathTimeline, Writer};
use super::CheckOptions;
use crate::history::{FinalState, NodeState, OpId, Outcome, PathId, Zxid};

pub const NAME: &str = "durability";
const SOURCE: &str = "ZAB/TLA+: committed txns are never lost; Programmer's Guide, Reliability";

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let Some(final_state) = context.history.final_state.as_ref() else {
        return report.not_applicable("no `final` line");
    };
    if !context.has_zxids() {
        return report.not_applicable("needs zxids");
    }
    let timelines = context.timelines();
    for (&path, node) in &final_state.nodes {
        if let Some(timeline) = timelines.path(path) {
            check_path(
                context,
                final_state,
                path,
                timeline,
                node.as_ref(),
                &mut report,
            );
        }
    }
    check_replicas(context, final_state, &mut report);
    report.finish(format!(
        "{} final node states and {} replicas compared with the acknowledged writes",
        final_state.nodes.len(),
        final_state.replicas.len()
    ))
}

fn check_path(
    context: &Context,
    final_state: &FinalState,
    path: PathId,
    timeline: &PathTimeline,
    node: Option<&NodeState>,
    report: &mut CheckReport,
) {
    let history = context.history;
    let last = timeline.states.len() - 1;
    let reached = match node {
        Some(node) => timeline.present_with_mzxid(node.mzxid),
        None => timeline.absent_states().last().copied(),
    };
    let Some(index) = reached else {
        if !unknown_write_may_explain(context, path, node) {
            let text = format!(
                "the final state of {} ({}) was produced by no recorded write",
                history.paths.name(path),
                describe(node)
            );
            report.violate(Violation {
                anomaly: "final state never written",
                severity: Severity::Safety,
                ops: vec![],
                lines: vec![final_state.line],
                explanation: text,
            });
        }
        return;
    };
    let lost: Option<OpId> =
        timeline.states[index + 1..=last]
            .iter()
            .find_map(|s| match s.writer {
                Writer::Op(id) => Some(id),
                _ => None,
            });
    if let Some(lost) = lost {
        let text = format!(
            "{} was acknowledged, but the final state of {} is {}, older than it in zxid order: the acknowledged write was lost",
            history.describe_op(lost),
            history.paths.name(path),
            describe(node)
        );
        report.violate(Violation {
            anomaly: "lost acknowledged write",
            severity: Severity::Safety,
            ops: vec![lost],
            lines: vec![final_state.line],
            explanation: text,
        });
    } else if let Some(node) = node.filter(|n| n.version != timeline.states[index].version) {
        let text = format!("the final state of {} has version {} but the write at its mzxid {:#x} produced version {}", history.paths.name(path), node.version, node.mzxid, timeline.states[index].version);
        report.violate(Violation {
            anomaly: "final state differs from replay",
            severity: Severity::Safety,
            ops: timeline.states[index].writer.op().into_iter().collect(),
            lines: vec![final_state.line],
            explanation: text,
        });
    }
}

/// An unknown-outcome write of this value may have taken effect after everything recorded
/// (a multi: through its sub-op of this path).
fn unknown_write_may_explain(context: &Context, path: PathId, node: Option<&NodeState>) -> bool {
    context.history.ops.iter().any(|op| {
        op.outcome == Outcome::Unknown
            && op.kind.is_mutation()
            && super::timeline::mutated_paths(op).contains(&path)
            && node.is_none_or(|n| super::timeline::written_value(op, path) == n.value.as_deref())
    })
}

fn describe(node: Option<&NodeState>) -> String {
    match node {
        Some(n) => format!(
            "{:?} at version {} (mzxid {:#x})",
            n.value.as_deref().unwrap_or("nil"),
            n.version,
            n.mzxid
        ),
        None => "absent".to_string(),
    }
}

/// Some replica must have logged the newest acknowledged transaction.
fn check_replicas(context: &Context, final_state: &FinalState, report: &mut CheckReport) {
    let history = context.history;
    let newest_replica: Option<Zxid> = final_state.replicas.values().filter_map(|r| r.zxid).max();
    let Some(newest_replica) = newest_replica else {
        return;
    };
    let newest_ack = history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.outcome == Outcome::Ok)
        .filter_map(|(id, op)| op.txn_zxid().map(|z| (z, id as OpId)))
        .max();
    let Some((zxid, op)) = newest_ack else { return };
    if zxid > newest_replica {
        let text = format!("{} was acknowledged with zxid {:#x}, but no replica's final zxid reaches it (newest {:#x})", history.describe_op(op), zxid, newest_replica);
        report.violate(Violation {
            anomaly: "lost acknowledged write",
            severity: Severity::Safety,
            ops: vec![op],
            lines: vec![final_state.line],
            explanation: text,
        });
    }
}
