//! `sequential-names`: the names ZooKeeper gives sequential nodes are unique per parent and
//! increase in zxid order, and each is the parent's child-creation counter at its create.
//!
//! Source: ZooKeeper Programmer's Guide, "Sequence Nodes -- Unique Naming" ("the counter ...
//! is unique to the parent znode ... a monotonically increasing counter"); PrepRequestProcessor
//! (3.8): the suffix is the parent's stored cversion, `%010d`. Historical break: a counter
//! restored wrong after a restart hands out a name twice.
//!
//! Unique and increasing is judged always (two acknowledged creates of one parent, in zxid
//! order); the exact counter only where the parent's child replay is certain (`children`).

use std::collections::BTreeMap;

use super::children::parent_path;
use super::context::Context;
use super::report::CheckReport;
use super::CheckOptions;
use crate::history::{OpId, OpKind, Outcome, PathId, Zxid};

pub const NAME: &str = "sequential-names";
const SOURCE: &str = "Programmer's Guide, Sequence Nodes -- Unique Naming; PrepRequestProcessor (suffix = parent cversion, %010d)";

/// A sequential create: its zxid, counter and op.
#[derive(Clone, Copy)]
struct Named {
    zxid: Zxid,
    counter: i64,
    op: OpId,
}

/// The counter a sequential name ends with (ten digits, or a negative wrapped one).
pub fn sequence_counter(path: &str) -> Option<i64> {
    let tail = path.get(path.len().checked_sub(10)?..)?;
    let digits = tail.strip_prefix('-').unwrap_or(tail);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return tail.parse().ok();
    }
    None
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let history = context.history;
    let mut by_parent: BTreeMap<PathId, Vec<Named>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if op.kind != OpKind::Create || !op.args.sequential || op.outcome != Outcome::Ok {
            continue;
        }
        let created = op.result.extra.as_ref().and_then(|e| e.created_path.as_deref()).or(op.path.map(|p| history.paths.name(p)));
        let (Some(created), Some(zxid)) = (created, op.txn_zxid().or(op.result.czxid)) else { continue };
        let Some(counter) = sequence_counter(created) else {
            let text = format!("{} created {created:?}, which does not end in a sequence number", history.describe_op(id as OpId));
            report.violation("sequential name without a counter", vec![id as OpId], text);
            continue;
        };
        let Some(parent) = parent_path(created).and_then(|p| history.paths.get(p)) else { continue };
        by_parent.entry(parent).or_default().push(Named { zxid, counter, op: id as OpId });
    }
    if by_parent.is_empty() {
        return report.not_applicable("no sequential creates");
    }
    let creates: usize = by_parent.values().map(Vec::len).sum();
    let mut exact = 0usize;
    for (&parent, named) in by_parent.iter_mut() {
        named.sort_by_key(|n| (n.zxid, n.op));
        check_increasing(context, parent, named, &mut report);
        exact += check_counters(context, parent, named, &mut report);
    }
    report.finish(format!("{creates} sequential creates under {} parents increase in zxid order; {exact} counters replayed exactly", by_parent.len()))
}

/// In zxid order the counters strictly increase (so no name is handed out twice).
fn check_increasing(context: &Context, parent: PathId, named: &[Named], report: &mut CheckReport) {
    let history = context.history;
    for pair in named.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.counter > a.counter {
            continue;
        }
        let anomaly = if b.counter == a.counter { "sequential name reused" } else { "sequential counter went back" };
        let text = format!(
            "under {}: {} (zxid {:#x}) got counter {}, after {} (zxid {:#x}) got {}: a parent's sequence numbers only grow",
            history.paths.name(parent),
            history.describe_op(b.op),
            b.zxid,
            b.counter,
            history.describe_op(a.op),
            a.zxid,
            a.counter
        );
        report.violation(anomaly, vec![a.op, b.op], text);
    }
}

/// Where the parent's children are replayed exactly, each counter is the number of children
/// created under it before (its stored cversion just before the create). Returns how many
/// were judged.
fn check_counters(context: &Context, parent: PathId, named: &[Named], report: &mut CheckReport) -> usize {
    let history = context.history;
    let mut queries: Vec<(Zxid, usize)> = named.iter().enumerate().map(|(i, n)| (n.zxid - 1, i)).collect();
    let mut judged = 0;
    context.children().walk(history, parent, &mut queries, |i, state| {
        if !state.judgeable() || !state.present {
            return;
        }
        judged += 1;
        let n = named[i];
        if n.counter != state.stored_cversion {
            let text = format!(
                "{} got counter {} under {}, but {} children were created there before it (the replay's child-creation counter)",
                history.describe_op(n.op),
                n.counter,
                history.paths.name(parent),
                state.stored_cversion
            );
            let mut ops = vec![n.op];
            ops.extend(state.last_writer.and_then(|w| w.op()));
            report.violation("sequential counter differs from replay", ops, text);
        }
    });
    judged
}
