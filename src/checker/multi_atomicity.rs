//! `multi-atomicity`: a multi is all or nothing. A failed multi changes nothing — no reply
//! ever shows a node or child list stamped with its zxid — and fails for a reason its state
//! gives; a committed multi's checks held at its zxid, and no read placed at or after its zxid
//! misses any of its writes.
//!
//! Source: ZooKeeper Programmer's Guide, "Multi-update" ("all succeed or none do"; `Op.check`);
//! PrepRequestProcessor / DataTree.processTxn for multi (a failed multi is an error txn that
//! still takes a zxid; ops before the failing one report Ok, later ones RuntimeInconsistency).
//!
//! Unknown-outcome writes of a path invoked before the multi completed make its state there
//! unknown: those paths' checks and failures are not judged.

use std::collections::{BTreeMap, BTreeSet};

use super::context::Context;
use super::report::CheckReport;
use super::timeline::{Observed, Writer};
use super::CheckOptions;
use crate::history::{ErrorCode, Op, OpId, OpKind, OpResult, Outcome, PathId, SubOp, Zxid};

pub const NAME: &str = "multi-atomicity";
const SOURCE: &str = "Programmer's Guide, Multi-update (all or none; Op.check); PrepRequestProcessor / DataTree.processTxn multi";

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let history = context.history;
    let multis: Vec<OpId> = history.ops.iter().enumerate().filter(|(_, op)| op.kind == OpKind::Multi).map(|(i, _)| i as OpId).collect();
    if multis.is_empty() {
        return report.not_applicable("no multi ops");
    }
    if !context.has_zxids() {
        return report.not_applicable("needs zxids to place multis");
    }
    let failed: BTreeMap<Zxid, OpId> = multis.iter().filter_map(|&id| {
        let op = &history.ops[id as usize];
        (op.outcome == Outcome::Fail).then_some(op.zxid?).map(|z| (z, id))
    }).collect();
    let stamped = failed_multis_never_observed(context, &failed, &mut report);
    let reads = reads_see_whole_multis(context, &mut report);
    let unknown = unknown_writes_by_path(context);
    let (mut checks, mut failures) = (0usize, 0usize);
    for &id in &multis {
        let op = &history.ops[id as usize];
        match op.outcome {
            Outcome::Ok => checks += checks_held(context, id, &unknown, &mut report),
            Outcome::Fail => failures += failure_justified(context, id, &unknown, &mut report) as usize,
            Outcome::Unknown => {}
        }
    }
    report.finish(format!(
        "{} multis ({} failed): {stamped} replies scanned for a failed multi's zxid, {reads} reads against committed multis, {checks} checks and {failures} failures replayed",
        multis.len(),
        failed.len()
    ))
}

/// Every zxid a reply shows a node or list stamped with (mzxid, czxid, pzxid), sub-results
/// included.
fn stamps(result: &OpResult, out: &mut Vec<Zxid>) {
    out.extend(result.mzxid);
    out.extend(result.czxid);
    out.extend(result.pzxid);
    if let Some(extra) = &result.extra {
        for sub in &extra.sub_results {
            stamps(&sub.result, out);
        }
    }
}

/// A failed multi's zxid is an error txn's: nothing may carry it as mzxid, czxid or pzxid.
fn failed_multis_never_observed(context: &Context, failed: &BTreeMap<Zxid, OpId>, report: &mut CheckReport) -> usize {
    let history = context.history;
    let mut scanned = 0;
    let mut seen = Vec::new();
    for (id, op) in history.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        seen.clear();
        stamps(&op.result, &mut seen);
        scanned += 1;
        if let Some((&zxid, &multi)) = seen.iter().find_map(|z| failed.get_key_value(z)) {
            let text = format!(
                "{} failed (reply zxid {zxid:#x}), yet {} shows a node or child list changed at that zxid: part of the multi was applied",
                history.describe_op(multi),
                history.describe_op(id as OpId)
            );
            report.violation("failed multi applied partly", vec![multi, id as OpId], text);
        }
    }
    scanned
}

/// A read placed at or after a committed multi's zxid (its reply zxid) shows the multi's
/// write to that path, or a later one — never the state the multi replaced.
fn reads_see_whole_multis(context: &Context, report: &mut CheckReport) -> usize {
    let history = context.history;
    let timelines = context.timelines();
    // Per path, the timeline indices of states a committed multi wrote.
    let mut by_multi: BTreeMap<PathId, Vec<usize>> = BTreeMap::new();
    for (&path, timeline) in &timelines.paths {
        let indices: Vec<usize> = timeline
            .states
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.writer, Writer::Op(id) if history.ops[id as usize].kind == OpKind::Multi))
            .map(|(i, _)| i)
            .collect();
        if !indices.is_empty() {
            by_multi.insert(path, indices);
        }
    }
    let mut judged = 0;
    for (id, op) in history.ops.iter().enumerate() {
        let Some(header) = op.zxid else { continue };
        for (path, index) in observed_states(context, op) {
            let (Some(timeline), Some(multi_states)) = (timelines.path(path), by_multi.get(&path)) else { continue };
            judged += 1;
            // A multi's state after the one read, already in place at the reply's zxid.
            let first_after = multi_states.partition_point(|&i| i <= index);
            let Some(&missed) = multi_states.get(first_after).filter(|&&i| timeline.states[i].since_zxid <= header) else { continue };
            let multi = timeline.states[missed].writer.op().expect("a multi's state");
            let text = format!(
                "{} carried reply zxid {header:#x} but showed {} as before {} (zxid {:#x}), a committed multi: the read saw part of it",
                history.describe_op(id as OpId),
                history.paths.name(path),
                history.describe_op(multi),
                timeline.states[missed].since_zxid
            );
            report.violation("read missed part of a committed multi", vec![multi, id as OpId], text);
        }
    }
    judged
}

/// The timeline states a reply showed: a node read's, or a multiRead's getData results.
fn observed_states(context: &Context, op: &Op) -> Vec<(PathId, usize)> {
    let history = context.history;
    let timelines = context.timelines();
    if op.kind == OpKind::MultiRead && op.outcome == Outcome::Ok {
        let Some(extra) = op.result.extra.as_ref() else { return Vec::new() };
        return op
            .args
            .sub_ops
            .iter()
            .zip(&extra.sub_results)
            .filter(|(sub, r)| sub.kind == OpKind::GetData && r.error.is_none())
            .filter_map(|(sub, r)| {
                let timeline = timelines.path(sub.path)?;
                let index = timeline.present_with_mzxid(r.result.mzxid?)?;
                Some((sub.path, index))
            })
            .collect();
    }
    match timelines.observe(history, op) {
        Some((path, Observed::State(i))) => vec![(path, i)],
        _ => Vec::new(),
    }
}

/// Unknown-outcome mutations of each path that no evidence placed, by invocation time.
fn unknown_writes_by_path(context: &Context) -> BTreeMap<PathId, Vec<u64>> {
    let history = context.history;
    let mut proven: BTreeSet<OpId> = BTreeSet::new();
    for timeline in context.timelines().paths.values() {
        proven.extend(timeline.states.iter().filter_map(|s| match s.writer {
            Writer::Inferred(id) => Some(id),
            _ => None,
        }));
    }
    let mut out: BTreeMap<PathId, Vec<u64>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if op.outcome == Outcome::Unknown && op.kind.is_mutation() && !proven.contains(&(id as OpId)) {
            for path in super::timeline::mutated_paths(op) {
                out.entry(path).or_default().push(op.invoke_ns);
            }
        }
    }
    out
}

/// The path's state just before `zxid`, if the replay knows it: (present, version).
fn state_before(context: &Context, path: PathId, zxid: Zxid, deadline_ns: u64, unknown: &BTreeMap<PathId, Vec<u64>>) -> Option<(bool, i32)> {
    if unknown.get(&path).is_some_and(|ts| ts.iter().any(|&t| t < deadline_ns)) || context.timelines().uncertain_paths.contains(&path) {
        return None;
    }
    let timeline = context.timelines().path(path)?;
    let index = timeline.state_before(zxid);
    let state = &timeline.states[index];
    let hidden = timeline.states.get(index + 1).is_some_and(|s| s.hidden_writes_before > 0);
    (!hidden).then_some((state.present, state.version))
}

/// A committed multi's `check` ops held: the version just before its zxid is the expected one.
fn checks_held(context: &Context, id: OpId, unknown: &BTreeMap<PathId, Vec<u64>>, report: &mut CheckReport) -> usize {
    let history = context.history;
    let op = &history.ops[id as usize];
    let Some(zxid) = op.txn_zxid() else { return 0 };
    let mut judged = 0;
    for (i, sub) in op.args.sub_ops.iter().enumerate() {
        let (OpKind::Check, Some(expected)) = (&sub.kind, sub.expected_version) else { continue };
        if touched_before(&op.args.sub_ops[..i], sub.path) || expected == -1 {
            continue;
        }
        let Some((present, version)) = state_before(context, sub.path, zxid, op.effect_deadline_ns(), unknown) else { continue };
        judged += 1;
        if !present || version != expected {
            let found = if present { format!("version {version}") } else { "absent".to_string() };
            let text = format!("{} committed with check({}, version {expected}), but just before its zxid {zxid:#x} the node was {found}", history.describe_op(id), history.paths.name(sub.path));
            report.violation("multi check passed against a different version", vec![id], text);
        }
    }
    judged
}

fn touched_before(earlier: &[SubOp], path: PathId) -> bool {
    earlier.iter().any(|s| s.path == path && s.kind != OpKind::Check)
}

/// A failed multi's failing op met the state its error names (judged when no earlier op of
/// the multi touched its path and the state is known). Returns whether it was judged.
fn failure_justified(context: &Context, id: OpId, unknown: &BTreeMap<PathId, Vec<u64>>, report: &mut CheckReport) -> bool {
    let history = context.history;
    let op = &history.ops[id as usize];
    let (Some(zxid), Some(extra)) = (op.zxid, op.result.extra.as_ref()) else { return false };
    let failing = extra.sub_results.iter().position(|r| r.error.as_ref().is_some_and(|e| !matches!(e, ErrorCode::RuntimeInconsistency) && e.name() != "Ok"));
    let Some(k) = failing else { return false };
    let (Some(sub), Some(error)) = (op.args.sub_ops.get(k), extra.sub_results[k].error.clone()) else { return false };
    if touched_before(&op.args.sub_ops[..k], sub.path) {
        return false;
    }
    let Some((present, version)) = state_before(context, sub.path, zxid, op.effect_deadline_ns(), unknown) else { return false };
    let expected = sub.expected_version.unwrap_or(-1);
    let justified = match (&sub.kind, &error) {
        (_, ErrorCode::BadVersion) => !present || (expected != -1 && version != expected),
        (OpKind::Create, ErrorCode::NodeExists) => present,
        (OpKind::Create, ErrorCode::NoNode) => true, // the parent is missing: not replayed here
        (_, ErrorCode::NoNode) => !present,
        _ => return false,
    };
    if !justified {
        let found = if present { format!("at version {version}") } else { "absent".to_string() };
        let text = format!(
            "{} failed with {} at its op #{k} ({} {}), but just before its zxid {zxid:#x} the node was {found}",
            history.describe_op(id),
            error.name(),
            sub.kind.name(),
            history.paths.name(sub.path)
        );
        report.violation("multi failed without cause", vec![id], text);
    }
    true
}
