//! `linearizable-writes`, fast path: ZooKeeper's writes are linearizable.
//!
//! Source: Hunt et al., "ZooKeeper: Wait-free coordination for Internet-scale systems"
//! (USENIX ATC 2010), §2.3 "Linearizable writes"; ZAB total order and primary order
//! (TLA+ `zookeeper-specifications`: `TotalOrder`, `PrimaryIntegrity`); DataTree.setData
//! semantics (version +1 per set, mzxid = zxid, BadVersion when an expected version differs,
//! -1 matches any).
//!
//! Why zxids make this near-linear: every write takes a unique zxid and all replicas apply
//! writes in zxid order. So the write order *is* the zxid order, and linearizability of the
//! writes reduces to (1) zxids unique, (2) the zxid order respects real time, and (3)
//! replaying the writes in zxid order reproduces every reply and every error
//! (`timeline::Timelines`). O(n log n).

use super::context::Context;
use super::report::CheckReport;
use super::timeline::{IssueKind, Writer};
use super::CheckOptions;
use crate::history::{OpId, Zxid};

pub const NAME: &str = "linearizable-writes";
const SOURCE: &str = "ZooKeeper paper (Hunt et al. 2010) §2.3 linearizable writes; ZAB TotalOrder/PrimaryIntegrity; DataTree.setData";

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    if !context.has_zxids() {
        return report.not_applicable("no zxids in this format (the black-box search covers it)");
    }
    let timelines = context.timelines();
    for issue in &timelines.issues {
        if matches!(
            issue.kind,
            IssueKind::DuplicateZxid | IssueKind::ReplyMismatch | IssueKind::UnjustifiedError
        ) {
            report.violation(issue.anomaly, issue.ops.clone(), issue.explanation.clone());
        }
    }
    check_real_time_order(context, &mut report);
    let summary = format!(
        "{} acknowledged writes replayed in zxid order; {} unknown-outcome writes proven to have happened, {} not",
        timelines.replayed_writes, timelines.proven_unknown_writes, timelines.unproven_unknown_writes
    );
    report.finish(summary)
}

/// A placed write: its zxid and the real-time bounds of its effect.
struct Placed {
    zxid: Zxid,
    invoke_ns: u64,
    deadline_ns: u64,
    op: OpId,
}

/// If write A completed before write B was invoked, A's zxid must be smaller.
fn check_real_time_order(context: &Context, report: &mut CheckReport) {
    let placed = placed_writes(context);
    let mut by_deadline: Vec<usize> = (0..placed.len()).collect();
    by_deadline.sort_by_key(|&i| (placed[i].deadline_ns, placed[i].op));
    let mut by_invoke: Vec<usize> = (0..placed.len()).collect();
    by_invoke.sort_by_key(|&i| (placed[i].invoke_ns, placed[i].op));
    let mut next = 0;
    let mut latest: Option<usize> = None; // completed write with the largest zxid so far
    for &b in &by_invoke {
        while next < by_deadline.len()
            && placed[by_deadline[next]].deadline_ns < placed[b].invoke_ns
        {
            let a = by_deadline[next];
            if latest.is_none_or(|l| placed[a].zxid > placed[l].zxid) {
                latest = Some(a);
            }
            next += 1;
        }
        let Some(a) = latest else { continue };
        if placed[a].zxid > placed[b].zxid {
            report_real_time(context, report, &placed[a], &placed[b]);
        }
    }
}

fn report_real_time(context: &Context, report: &mut CheckReport, a: &Placed, b: &Placed) {
    let history = context.history;
    let text = format!(
        "{} completed at {} ns, before {} was invoked at {} ns, yet its zxid {:#x} is larger than {:#x}: the write order contradicts real time",
        history.describe_op(a.op),
        a.deadline_ns,
        history.describe_op(b.op),
        b.invoke_ns,
        a.zxid,
        b.zxid
    );
    report.violation("zxid against real time", vec![a.op, b.op], text);
}

/// Every write whose zxid is known: acknowledged ones, failed ones whose reply header
/// carried a zxid, and unknown-outcome ones the replay proved (no deadline for those).
fn placed_writes(context: &Context) -> Vec<Placed> {
    let history = context.history;
    let mut placed: Vec<Placed> = Vec::new();
    for (id, op) in history.ops.iter().enumerate() {
        if let Some(zxid) = op.txn_zxid() {
            placed.push(Placed {
                zxid,
                invoke_ns: op.invoke_ns,
                deadline_ns: op.effect_deadline_ns(),
                op: id as OpId,
            });
        }
    }
    for timeline in context.timelines().paths.values() {
        for state in &timeline.states {
            if let Writer::Inferred(id) = state.writer {
                let op = &history.ops[id as usize];
                placed.push(Placed {
                    zxid: state.since_zxid,
                    invoke_ns: op.invoke_ns,
                    deadline_ns: u64::MAX,
                    op: id,
                });
            }
        }
    }
    placed
}
