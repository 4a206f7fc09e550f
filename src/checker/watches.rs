//! `watches`: a client sees the watch event for a change before it sees the changed data.
//!
//! Source: ZooKeeper Programmer's Guide, "ZooKeeper Watches — ... a client will see a watch
//! event for a znode it is watching before seeing the new data that corresponds to that
//! znode"; "watches are ordered with respect to other events, other watches, and asynchronous
//! replies"; ZooKeeper paper §2.3.
//!
//! Method: per session, merge op replies and `event` lines in arrival order. A read with
//! `watch` arms a watch on its path remembering what it saw; an event for the path (or the
//! session's end) disarms it. A later read reply of the same path, by the same session,
//! showing a different state while the watch is still armed is a violation.

use super::context::Context;
use super::report::CheckReport;
use super::CheckOptions;
use crate::history::{Op, OpId, OpKind, Outcome, PathId, SessionId, Zxid};
use std::collections::BTreeMap;

pub const NAME: &str = "watches";
const SOURCE: &str =
    "Programmer's Guide, ZooKeeper Watches (ordering guarantee); ZooKeeper paper §2.3";

/// What a watching read saw.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Data { mzxid: Option<Zxid>, exists: bool },
    Children(Vec<String>),
}

/// One thing arriving at a client: a reply or a watch event.
enum Arrival {
    Reply(OpId),
    Event { path: PathId },
    SessionEnd,
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let history = context.history;
    let watching = history.ops.iter().filter(|op| op.args.watch).count();
    if watching == 0 {
        return report.not_applicable("no reads left watches");
    }
    for (session, arrivals) in arrivals_by_session(context) {
        check_session(context, session, &arrivals, &mut report);
    }
    report.finish(format!(
        "{watching} watching reads, {} watch events",
        history.events.len()
    ))
}

fn arrivals_by_session(context: &Context) -> BTreeMap<SessionId, Vec<Arrival>> {
    let history = context.history;
    // (time, order: events before replies at equal times, sequence) for a stable merge.
    let mut keyed: BTreeMap<SessionId, Vec<(u64, u8, u32, Arrival)>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if let (Some(session), true) = (op.session, op.outcome != Outcome::Unknown) {
            keyed.entry(session).or_default().push((
                op.complete_ns,
                1,
                id as u32,
                Arrival::Reply(id as OpId),
            ));
        }
    }
    for (i, event) in history.events.iter().enumerate() {
        if let Some(session) = event.session {
            keyed.entry(session).or_default().push((
                event.t_ns,
                0,
                i as u32,
                Arrival::Event { path: event.path },
            ));
        }
    }
    for (i, event) in history.session_events.iter().enumerate() {
        if let (Some(session), true) = (event.session, event.ends_session()) {
            keyed
                .entry(session)
                .or_default()
                .push((event.t_ns, 0, i as u32, Arrival::SessionEnd));
        }
    }
    keyed
        .into_iter()
        .map(|(session, mut items)| {
            items.sort_by_key(|(t, order, seq, _)| (*t, *order, *seq));
            (session, items.into_iter().map(|(_, _, _, a)| a).collect())
        })
        .collect()
}

fn check_session(
    context: &Context,
    session: SessionId,
    arrivals: &[Arrival],
    report: &mut CheckReport,
) {
    let history = context.history;
    // Armed watches: (path, is child watch) → (watching op, what it saw).
    let mut armed: BTreeMap<(PathId, bool), (OpId, Seen)> = BTreeMap::new();
    for arrival in arrivals {
        match arrival {
            Arrival::Event { path } => armed.retain(|(p, _), _| p != path),
            Arrival::SessionEnd => armed.clear(),
            Arrival::Reply(id) => {
                let op = &history.ops[*id as usize];
                let (Some(path), Some(seen)) = (op.path, seen_by(op)) else {
                    continue;
                };
                let child = matches!(seen, Seen::Children(_));
                if let Some((watcher, before)) = armed.get(&(path, child)) {
                    if *before != seen {
                        let text = format!(
                            "session {}: {} left a watch on {}, and {} already saw a changed state before any watch event arrived",
                            history.session_name(Some(session)),
                            history.describe_op(*watcher),
                            history.paths.name(path),
                            history.describe_op(*id)
                        );
                        report.violation(
                            "change seen before watch event",
                            vec![*watcher, *id],
                            text,
                        );
                        armed.remove(&(path, child));
                    }
                }
                if op.args.watch {
                    armed.insert((path, child), (*id, seen));
                }
            }
        }
    }
}

fn seen_by(op: &Op) -> Option<Seen> {
    if op.outcome != Outcome::Ok && !(op.outcome == Outcome::Fail && op.kind.is_node_read()) {
        return None;
    }
    if op.kind == OpKind::GetChildren {
        let mut children = op.result.extra.as_ref()?.children.clone()?;
        children.sort();
        return Some(Seen::Children(children));
    }
    if !op.kind.is_node_read() {
        return None;
    }
    let exists = op.outcome == Outcome::Ok && op.result.exists != Some(false);
    Some(Seen::Data {
        mzxid: op.result.mzxid.filter(|_| exists),
        exists,
    })
}
