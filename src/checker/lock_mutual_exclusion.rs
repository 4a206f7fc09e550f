//! `lock-mutual-exclusion`: lock holders' critical sections never overlap in real time, and a
//! fenced resource never accepts a token lower than one it already accepted.
//!
//! Source: ZooKeeper Recipes, "Locks" (sequential ephemeral children; the lowest holds the
//! lock); Kleppmann, "How to do distributed locking" (2016) for fencing tokens — here the
//! lock node's czxid, which only grows. Why both: a ZooKeeper lock cannot by itself prevent
//! overlap when a holder's session expires while it pauses; fencing makes that safe.
//!
//! A critical section runs from its lock_acquire's reply to its lock_release's invocation
//! (or the end of its session, or the end of the history): the span the client surely
//! believed it held the lock. Also: tokens granted to acquisitions ordered in real time
//! increase (czxids follow real time), or the fencing scheme protects nothing.
//!
//! The paused holder: a holder whose session *expired* may learn it only after another client
//! was granted the lock, so the two believed spans overlap although ZooKeeper kept its promise
//! (the lock belongs to live sessions); likewise a paused waiter whose session expired can be
//! told by a lagging follower's read that its node is the lowest. Such an overlap is reported
//! as allowed ("expired holder overlapped"), not as a violation, when one of the two sessions
//! expired (an `expired` session line, or an op refused with SessionExpired) and no write on
//! it succeeded after the later grant (a success would prove the session was still alive, and
//! the grant wrong). Whether the overlap did damage is the fencing check's
//! question: a write accepted with a stale token is a violation. Limitation: an overlap with a
//! session that expired later for an unrelated reason, and that did nothing after the grant,
//! is excused too.

use super::context::Context;
use super::report::{CheckReport, Severity, Violation};
use super::CheckOptions;
use crate::history::{ErrorCode, Op, OpId, OpKind, Outcome, PathId, SessionId};
use std::collections::BTreeMap;

pub const NAME: &str = "lock-mutual-exclusion";
const SOURCE: &str = "ZooKeeper Recipes: Locks; fencing tokens (Kleppmann 2016)";

#[derive(Clone, Copy, Debug)]
struct Section {
    start_ns: u64,
    end_ns: u64,
    client: i64,
    acquire: OpId,
    session: Option<SessionId>,
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let history = context.history;
    let fenced = history
        .ops
        .iter()
        .filter(|op| op.kind == OpKind::FencedWrite)
        .count();
    if fenced == 0 && !history.ops.iter().any(|op| op.kind == OpKind::LockAcquire) {
        return report.not_applicable("no lock_acquire or fenced_write ops");
    }
    let sections = critical_sections(context);
    for (lock, sections) in &sections {
        check_overlaps(context, *lock, sections, &mut report);
    }
    check_fencing(context, &mut report);
    check_granted_tokens(context, &mut report);
    let count: usize = sections.values().map(Vec::len).sum();
    report.finish(format!(
        "{count} critical sections on {} lock(s), {fenced} fenced writes",
        sections.len()
    ))
}

fn critical_sections(context: &Context) -> BTreeMap<PathId, Vec<Section>> {
    let history = context.history;
    let session_end = session_end_times(context);
    let mut out: BTreeMap<PathId, Vec<Section>> = BTreeMap::new();
    let mut open: BTreeMap<(i64, PathId), Section> = BTreeMap::new();
    let mut ids: Vec<OpId> = (0..history.ops.len() as OpId).collect();
    ids.sort_by_key(|&id| (history.ops[id as usize].invoke_ns, id));
    for id in ids {
        let op = &history.ops[id as usize];
        let Some(lock) = op.path else { continue };
        match op.kind {
            OpKind::LockAcquire if op.outcome == Outcome::Ok => {
                let end_ns = op
                    .session
                    .and_then(|s| session_end.get(&s).copied())
                    .unwrap_or(u64::MAX);
                let section = Section {
                    start_ns: op.complete_ns,
                    end_ns,
                    client: op.client,
                    acquire: id,
                    session: op.session,
                };
                // A client that acquires again without a release (a new session) still held
                // the previous one until that session ended.
                if let Some(previous) = open.insert((op.client, lock), section) {
                    out.entry(lock).or_default().push(previous);
                }
            }
            OpKind::LockRelease => {
                if let Some(mut section) = open.remove(&(op.client, lock)) {
                    section.end_ns = section.end_ns.min(op.invoke_ns);
                    out.entry(lock).or_default().push(section);
                }
            }
            _ => {}
        }
    }
    for ((_, lock), section) in open {
        out.entry(lock).or_default().push(section);
    }
    for sections in out.values_mut() {
        sections.sort_by_key(|s| (s.start_ns, s.acquire));
    }
    out
}

fn session_end_times(context: &Context) -> BTreeMap<SessionId, u64> {
    let mut ends = BTreeMap::new();
    // What the clients saw: the ensemble's own closeSession lines are not a holder's end.
    for event in context.history.session_events.iter().filter(|e| !e.by_ensemble) {
        if let (true, Some(session)) = (event.ends_session(), event.session) {
            let entry = ends.entry(session).or_insert(event.t_ns);
            *entry = (*entry).min(event.t_ns);
        }
    }
    ends
}

/// Sections sorted by start: each must start after every earlier one (of another client)
/// ended, unless that holder's session had expired (see the module doc).
fn check_overlaps(context: &Context, lock: PathId, sections: &[Section], report: &mut CheckReport) {
    let history = context.history;
    let expired = expired_sessions(context);
    let mut active: Vec<Section> = Vec::new();
    for section in sections {
        active.retain(|h| h.end_ns > section.start_ns);
        let mut reported = false;
        for holder in active.iter().filter(|h| h.client != section.client) {
            let pair = format!(
                "lock {}: client {} held it from {} ns (via {}) while client {} acquired it at {} ns (via {})",
                history.paths.name(lock),
                holder.client,
                holder.start_ns,
                history.describe_op(holder.acquire),
                section.client,
                section.start_ns,
                history.describe_op(section.acquire)
            );
            let ops = vec![holder.acquire, section.acquire];
            if expired_before_grant(context, &expired, holder, section) {
                report.allow(Violation {
                    anomaly: "expired holder overlapped",
                    severity: Severity::Weak,
                    ops,
                    lines: Vec::new(),
                    explanation: format!("{pair}; one of the two sessions had expired and wrote nothing after that grant (fencing decides whether it did damage)"),
                });
            } else if !reported {
                reported = true;
                report.violation("overlapping critical sections", ops, pair);
            }
        }
        active.push(*section);
    }
}

/// Sessions that ended by expiry: an `expired` state, or an op refused with SessionExpired.
fn expired_sessions(context: &Context) -> std::collections::BTreeSet<SessionId> {
    let history = context.history;
    let by_state = history.session_events.iter().filter(|e| e.state == "expired").filter_map(|e| e.session);
    let by_error = history
        .ops
        .iter()
        .filter(|op| op.error == Some(ErrorCode::SessionExpired))
        .filter_map(|op| op.session);
    by_state.chain(by_error).collect()
}

/// Either holder's session expired and showed no sign of life after the later grant: no
/// write of it (a mutation, or a release that deleted its node) succeeded after that moment.
/// Reads do not count: a follower may still answer a session the leader already expired (a
/// paused waiter can even be told its node is the lowest by such a read).
fn expired_before_grant(
    context: &Context,
    expired: &std::collections::BTreeSet<SessionId>,
    holder: &Section,
    later: &Section,
) -> bool {
    let dead = |section: &Section| {
        section.session.filter(|s| expired.contains(s)).is_some_and(|session| {
            !context.history.ops.iter().any(|op| {
                op.session == Some(session)
                    && op.outcome == Outcome::Ok
                    && (op.kind.is_mutation() || op.kind == OpKind::LockRelease)
                    && op.complete_ns > later.start_ns
                    && op.complete_ns != u64::MAX
            })
        })
    };
    dead(holder) || dead(later)
}

/// A fenced write accepted (ok) with a token lower than one accepted before it was invoked.
fn check_fencing(context: &Context, report: &mut CheckReport) {
    let history = context.history;
    let accepted = ops_with_token(context, OpKind::FencedWrite, |op| op.args.token);
    for ids in accepted.values() {
        for (a, b) in tokens_against_real_time(context, ids, |op| op.args.token) {
            let text = format!(
                "{} was accepted with token {:?} after {} had been accepted with the higher token {:?}",
                history.describe_op(b),
                history.ops[b as usize].args.token,
                history.describe_op(a),
                history.ops[a as usize].args.token
            );
            report.violation("stale fencing token accepted", vec![a, b], text);
        }
    }
}

/// Tokens are lock-node czxids: an acquisition that completed before another was invoked
/// must hold the smaller token (zxids follow real time).
fn check_granted_tokens(context: &Context, report: &mut CheckReport) {
    let history = context.history;
    let granted = ops_with_token(context, OpKind::LockAcquire, |op| op.result.token);
    for ids in granted.values() {
        for (a, b) in tokens_against_real_time(context, ids, |op| op.result.token) {
            let text = format!(
                "{} was granted token {:?} after {} had been granted the higher token {:?}: lock-node czxids go back in real time",
                history.describe_op(b),
                history.ops[b as usize].result.token,
                history.describe_op(a),
                history.ops[a as usize].result.token
            );
            report.violation("fencing token went backwards", vec![a, b], text);
        }
    }
}

/// Acknowledged ops of `kind` that carry a token, per path.
fn ops_with_token(
    context: &Context,
    kind: OpKind,
    token: fn(&Op) -> Option<i64>,
) -> BTreeMap<PathId, Vec<OpId>> {
    let mut by_path: BTreeMap<PathId, Vec<OpId>> = BTreeMap::new();
    for (id, op) in context.history.ops.iter().enumerate() {
        if let (true, Outcome::Ok, Some(path), Some(_)) =
            (op.kind == kind, op.outcome, op.path, token(op))
        {
            by_path.entry(path).or_default().push(id as OpId);
        }
    }
    by_path
}

/// Pairs (a, b): a completed before b was invoked, yet a's token is higher (a = the highest
/// token completed so far). One sweep over ops sorted by completion and by invocation.
fn tokens_against_real_time(
    context: &Context,
    ids: &[OpId],
    token: fn(&Op) -> Option<i64>,
) -> Vec<(OpId, OpId)> {
    let ops = &context.history.ops;
    let token_of = |id: OpId| token(&ops[id as usize]).expect("filtered on token");
    let mut by_complete = ids.to_vec();
    by_complete.sort_by_key(|&id| (ops[id as usize].complete_ns, id));
    let mut by_invoke = ids.to_vec();
    by_invoke.sort_by_key(|&id| (ops[id as usize].invoke_ns, id));
    let (mut next, mut highest): (usize, Option<OpId>) = (0, None);
    let mut pairs = Vec::new();
    for &b in &by_invoke {
        while next < by_complete.len()
            && ops[by_complete[next] as usize].complete_ns < ops[b as usize].invoke_ns
        {
            let a = by_complete[next];
            if highest.is_none_or(|h| token_of(a) > token_of(h)) {
                highest = Some(a);
            }
            next += 1;
        }
        if let Some(a) = highest.filter(|&a| token_of(a) > token_of(b)) {
            pairs.push((a, b));
        }
    }
    pairs
}
