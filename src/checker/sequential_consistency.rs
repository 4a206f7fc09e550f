//! `sequential-consistency`: every read returns a state that existed in the write (zxid)
//! order, and each session's reads and writes fit one forward-moving position in that order.
//!
//! Source: ZooKeeper Programmer's Guide, "Consistency Guarantees: Sequential Consistency,
//! Single System Image"; ZooKeeper paper §2.3 (reads are served locally, so they may be
//! stale but are sequentially consistent); TLA+ `zookeeper-specifications` local primary order.
//!
//! Why windows: a read of path k that returned the state written at zxid m was served by a
//! server whose last applied zxid lay in [m, next write of k). A session's server position only
//! moves forward (writes wait for the session's pending ops; a reconnect needs a server at
//! least as new), so the greedy earliest point in each successive window must exist.
//! Cross-path: this catches a session that reads k1 new and then k2 older than a write it
//! already saw — what per-path monotonicity cannot see.

use super::context::Context;
use super::report::CheckReport;
use super::timeline::{IssueKind, Observed, PathTimeline};
use super::CheckOptions;
use crate::history::{History, Op, OpId, Outcome, Zxid};

pub const NAME: &str = "sequential-consistency";
const SOURCE: &str =
    "Programmer's Guide, Consistency Guarantees: Sequential Consistency; ZooKeeper paper §2.3";

/// The furthest point in the zxid order a session is known to have reached.
#[derive(Clone, Copy)]
struct Position {
    zxid: Zxid,
    op: Option<OpId>,
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    if !context.has_zxids() {
        return report.not_applicable("needs zxids to place reads in the write order");
    }
    let timelines = context.timelines();
    for issue in timelines
        .issues
        .iter()
        .filter(|i| i.kind == IssueKind::UnexplainedObservation)
    {
        report.violation(issue.anomaly, issue.ops.clone(), issue.explanation.clone());
    }
    let reads = check_reads_exist(context, &mut report);
    for ids in context.session_ops().values() {
        check_session(context, ids, &mut report);
    }
    report.finish(format!(
        "{reads} reads placed in the zxid order, {} sessions",
        context.session_ops().len()
    ))
}

/// Each read's state must be one the writes produced, not from a write invoked after the
/// read had already completed.
fn check_reads_exist(context: &Context, report: &mut CheckReport) -> usize {
    let history = context.history;
    let timelines = context.timelines();
    let mut reads = 0;
    for (id, op) in history.ops.iter().enumerate() {
        let Some((path, observed)) = timelines.observe(history, op) else {
            continue;
        };
        reads += 1;
        let timeline = timelines
            .path(path)
            .expect("observe() only answers for replayed paths");
        match observed {
            Observed::Corrupt(index) => {
                let state = &timeline.states[index];
                let text = format!(
                    "{} returned mzxid {:#x} with a version or value that differs from the write at that zxid (version {}, value {:?})",
                    history.describe_op(id as OpId),
                    state.since_zxid,
                    state.version,
                    timeline.value(history, path, index)
                );
                report.violation("phantom read", vec![id as OpId], text);
            }
            Observed::State(index) => {
                check_not_from_future(history, timeline, index, id as OpId, op, report)
            }
            _ => {}
        }
    }
    reads
}

fn check_not_from_future(
    history: &History,
    timeline: &PathTimeline,
    index: usize,
    id: OpId,
    op: &Op,
    report: &mut CheckReport,
) {
    let Some(writer) = timeline.states[index].writer.op() else {
        return;
    };
    let writer_op = &history.ops[writer as usize];
    if writer_op.invoke_ns > op.complete_ns {
        let text = format!(
            "{} returned the value of {}, which was invoked only after the read completed",
            history.describe_op(id),
            history.describe_op(writer)
        );
        report.violation("read from the future", vec![writer, id], text);
    }
}

/// Walks one session in issue order, keeping the earliest position consistent with all of it.
fn check_session(context: &Context, ids: &[OpId], report: &mut CheckReport) {
    let history = context.history;
    let timelines = context.timelines();
    let mut position = Position {
        zxid: Zxid::MIN,
        op: None,
    };
    for &id in ids {
        let op = &history.ops[id as usize];
        if op.outcome != Outcome::Unknown && op.kind.is_mutation() {
            if let Some(zxid) = op.txn_zxid() {
                position = Position {
                    zxid: zxid.max(position.zxid),
                    op: Some(id),
                };
            }
            continue;
        }
        let Some((path, observed)) = timelines.observe(history, op) else {
            continue;
        };
        let timeline = timelines
            .path(path)
            .expect("observe() only answers for replayed paths");
        let window = match observed {
            Observed::State(i) => Some((i, timeline.states[i].since_zxid, timeline.until_zxid(i))),
            Observed::Absent => {
                absent_window(timeline, position.zxid.max(op.zxid.unwrap_or(Zxid::MIN)))
            }
            _ => continue,
        };
        let Some((index, since, until)) = window else {
            report_stale(context, id, position, None, report);
            continue;
        };
        if let Some(header_zxid) = op.zxid.filter(|&z| z >= until) {
            report_header_mismatch(context, id, header_zxid, since, until, report);
        }
        let point = position.zxid.max(since);
        if point >= until {
            report_stale(context, id, position, Some(index), report);
            continue;
        }
        let exact = op
            .zxid
            .filter(|&z| z >= point && z < until)
            .unwrap_or(point);
        position = Position {
            zxid: exact,
            op: Some(id),
        };
    }
}

/// A read's reply header carries the serving replica's last applied zxid, taken before the
/// read runs (ZooKeeper 3.6+ serves reads in parallel with commits of other sessions, so the
/// data may be newer than the header, never older): a state already overwritten at that
/// zxid is a violation.
fn report_header_mismatch(
    context: &Context,
    id: OpId,
    header_zxid: Zxid,
    since: Zxid,
    until: Zxid,
    report: &mut CheckReport,
) {
    let history = context.history;
    let until_text = if until == Zxid::MAX {
        "on".to_string()
    } else {
        format!("{until:#x}")
    };
    let text = format!(
        "{} carried reply zxid {:#x}, but the state it returned was current only from {:#x} to {until_text}: the replica returned data it had already overwritten",
        history.describe_op(id),
        header_zxid,
        since
    );
    report.violation("read contradicts its reply zxid", vec![id], text);
}

/// The first absent state of the path still current after `zxid`.
fn absent_window(timeline: &PathTimeline, zxid: Zxid) -> Option<(usize, Zxid, Zxid)> {
    let absent = timeline.absent_states();
    let first = absent.partition_point(|&i| timeline.until_zxid(i) <= zxid);
    absent
        .get(first)
        .map(|&i| (i, timeline.states[i].since_zxid, timeline.until_zxid(i)))
}

fn report_stale(
    context: &Context,
    id: OpId,
    position: Position,
    index: Option<usize>,
    report: &mut CheckReport,
) {
    let history = context.history;
    let op = &history.ops[id as usize];
    let mut ops: Vec<OpId> = position.op.into_iter().collect();
    ops.push(id);
    let overwritten_by = index.and_then(|i| {
        let timeline = context.timelines().path(op.path?)?;
        timeline.states.get(i + 1)?.writer.op()
    });
    ops.extend(overwritten_by);
    let by = overwritten_by
        .map(|w| format!(", overwritten by {}", history.describe_op(w)))
        .unwrap_or_default();
    let after = position
        .op
        .map(|p| history.describe_op(p))
        .unwrap_or_else(|| "the start".to_string());
    let text = format!(
        "session {} had already reached zxid {:#x} (at {after}), yet {} returned a state that was no longer current there{by}",
        history.session_name(op.session),
        position.zxid,
        history.describe_op(id)
    );
    report.violation("read inconsistent with session order", ops, text);
}
