//! Shared walk for the per-session, per-path read checks (`monotonic-reads`,
//! `read-your-writes`): the index, in the path's replayed timeline, of the newest state the
//! session is known to have observed or written, and every read that returned something older.

use super::context::Context;
use super::report::CheckReport;
use super::timeline::{Observed, PathTimeline};
use crate::history::{Op, OpId, OpKind, Outcome, PathId};
use std::collections::BTreeMap;

/// The newest state a session has seen of one path.
#[derive(Clone, Copy)]
struct Seen {
    index: usize,
    op: OpId,
    by_own_write: bool,
}

/// Reports reads older than what the session already knew. `count_reads` = false keeps only
/// the session's own writes as the bar (read-your-writes).
pub fn check_sessions(context: &Context, count_reads: bool, report: &mut CheckReport) -> usize {
    let history = context.history;
    let timelines = context.timelines();
    let mut reads = 0usize;
    for ids in context.session_ops().values() {
        let mut seen: BTreeMap<PathId, Seen> = BTreeMap::new();
        for &id in ids {
            let op = &history.ops[id as usize];
            if let Some((path, index)) = own_write_state(context, op) {
                raise(
                    &mut seen,
                    path,
                    Seen {
                        index,
                        op: id,
                        by_own_write: true,
                    },
                );
                continue;
            }
            let Some((path, observed)) = timelines.observe(history, op) else {
                continue;
            };
            let Some(timeline) = timelines.path(path) else {
                continue;
            };
            reads += 1;
            let Some(index) = reached(timeline, &observed, seen.get(&path), id, context, report)
            else {
                continue;
            };
            if count_reads {
                raise(
                    &mut seen,
                    path,
                    Seen {
                        index,
                        op: id,
                        by_own_write: false,
                    },
                );
            }
        }
    }
    reads
}

fn raise(seen: &mut BTreeMap<PathId, Seen>, path: PathId, candidate: Seen) {
    let entry = seen.entry(path).or_insert(candidate);
    if candidate.index >= entry.index {
        *entry = candidate;
    }
}

/// Timeline index of the state an acknowledged write of this session produced.
fn own_write_state(context: &Context, op: &Op) -> Option<(PathId, usize)> {
    if op.outcome != Outcome::Ok || !op.kind.is_mutation() || op.kind == OpKind::Multi {
        return None;
    }
    let (path, zxid) = (op.path?, op.txn_zxid()?);
    let timeline = context.timelines().path(path)?;
    let index = timeline.state_before(zxid.checked_add(1)?);
    (timeline.states[index].since_zxid == zxid).then_some((path, index))
}

/// The state index the read reached, or None (after reporting) if it went backwards.
fn reached(
    timeline: &PathTimeline,
    observed: &Observed,
    bar: Option<&Seen>,
    id: OpId,
    context: &Context,
    report: &mut CheckReport,
) -> Option<usize> {
    let floor = bar.map(|b| b.index).unwrap_or(0);
    let index = match observed {
        Observed::State(i) | Observed::Corrupt(i) => *i,
        Observed::Absent => timeline
            .absent_at_or_after(floor)
            .or_else(|| timeline.absent_states().last().copied())?,
        Observed::Unexplained => return None,
    };
    let Some(bar) = bar.filter(|b| index < b.index) else {
        return Some(index);
    };
    let history = context.history;
    let (anomaly, what) = if bar.by_own_write {
        ("read missed own write", "its own earlier write")
    } else {
        ("read went backwards", "its earlier read")
    };
    let text = format!(
        "{} returned an older state of {} than {} {} (state #{} vs #{} in zxid order)",
        history.describe_op(id),
        history.path_name(history.ops[id as usize].path),
        what,
        history.describe_op(bar.op),
        index,
        bar.index
    );
    report.violation(anomaly, vec![bar.op, id], text);
    None
}
