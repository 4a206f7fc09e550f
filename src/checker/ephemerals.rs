//! `ephemerals`: an ephemeral node is gone once its session's expiry or close completed.
//!
//! Source: ZooKeeper Programmer's Guide, "Ephemeral Nodes: these znodes exist as long as the
//! session that created the znode is active. When the session ends the znode is deleted";
//! ZooKeeper paper §2.1. Historical break: ZOOKEEPER-2355 (an ephemeral survives on a replica).
//!
//! Reads include the lock recipe's `lock_watch` (its exists on the predecessor node).
//!
//! A read that observes the node (its stat's ephemeralOwner is the session, or its czxid is
//! the ephemeral's) after the session ended is a violation — unless the reply header shows
//! the serving replica had not yet applied the closeSession transaction: that is a stale
//! plain read, which ZooKeeper allows (counted, not a violation).
//!
//! A client can be told "expired" before the ensemble commits the closeSession: the leader
//! refuses a session it is closing (`SessionTrackerImpl.touchSession` returns false once
//! `setSessionClosing` ran), and if that leader loses its quorum before the txn commits, the
//! next leader restores the session from its tree and the ephemerals live until it expires the
//! session again. When the history has the ensemble's commit (`by: ensemble`), a read before
//! that commit is allowed and counted ("expiry told before its closeSession committed").

use super::context::Context;
use super::report::{CheckReport, Severity, Violation};
use super::CheckOptions;
use crate::history::{OpId, OpKind, Outcome, SessionId, Zxid};
use std::collections::BTreeMap;

pub const NAME: &str = "ephemerals";
const SOURCE: &str = "Programmer's Guide, Ephemeral Nodes; ZooKeeper paper §2.1";

/// When a session ended, as recorded.
#[derive(Clone, Copy)]
struct SessionEnd {
    t_ns: u64,
    zxid: Option<Zxid>,
    line: u32,
    op: Option<OpId>,
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let history = context.history;
    let ephemerals = ephemeral_creations(context);
    if ephemerals.is_empty() {
        return report.not_applicable("no ephemeral nodes created");
    }
    let ends = session_ends(context);
    let mut observations = 0usize;
    for (id, op) in history.ops.iter().enumerate() {
        let read = op.kind.is_node_read() || op.kind == OpKind::LockWatch;
        if !read || op.outcome != Outcome::Ok || op.result.exists == Some(false) {
            continue;
        }
        let owner = op.result.ephemeral_owner.or_else(|| {
            op.result
                .czxid
                .and_then(|c| ephemerals.get(&c).map(|e| e.1))
        });
        let Some(&(end, committed)) = owner.and_then(|s| ends.get(&s)) else {
            continue;
        };
        observations += 1;
        if op.invoke_ns <= end.t_ns {
            continue;
        }
        if let Some(commit) = committed.filter(|c| op.invoke_ns <= c.t_ns) {
            report.allow(told_before_commit(history, id as OpId, owner.expect("owner"), end, commit));
            continue;
        }
        let end = committed.unwrap_or(end);
        let stale_replica =
            matches!((op.zxid, end.zxid), (Some(read), Some(close)) if read < close);
        let session = owner.expect("owner checked above");
        let mut ops = vec![id as OpId];
        ops.extend(end.op);
        let when = format!(
            "{} ended at {} ns (line {})",
            history.session_name(Some(session)),
            end.t_ns,
            end.line
        );
        if stale_replica {
            let text = format!("{} still saw the ephemeral after session {when}, from a replica behind the closeSession zxid: an allowed stale read", history.describe_op(id as OpId));
            report.allow(Violation {
                anomaly: "stale ephemeral read",
                severity: Severity::Weak,
                ops,
                lines: vec![end.line],
                explanation: text,
            });
        } else {
            let text = format!(
                "{} observed an ephemeral node of session {when}, invoked after that",
                history.describe_op(id as OpId)
            );
            report.violate(Violation {
                anomaly: "ephemeral outlived its session",
                severity: Severity::Safety,
                ops,
                lines: vec![end.line],
                explanation: text,
            });
        }
    }
    report.finish(format!(
        "{} ephemerals, {} sessions ended, {observations} reads of ephemerals of ended sessions",
        ephemerals.len(),
        ends.len()
    ))
}

/// czxid → (creating op, owner session) for every acknowledged ephemeral create.
fn ephemeral_creations(context: &Context) -> BTreeMap<Zxid, (OpId, SessionId)> {
    let mut out = BTreeMap::new();
    for (id, op) in context.history.ops.iter().enumerate() {
        if op.kind == OpKind::Create && op.args.ephemeral && op.outcome == Outcome::Ok {
            if let (Some(zxid), Some(session)) = (op.txn_zxid().or(op.result.czxid), op.session) {
                out.insert(zxid, (id as OpId, session));
            }
        }
    }
    out
}

/// A read that saw the ephemeral after its client was told the session expired but before
/// the ensemble committed the closeSession.
fn told_before_commit(history: &crate::history::History, id: OpId, session: SessionId, end: SessionEnd, commit: SessionEnd) -> Violation {
    let mut ops = vec![id];
    ops.extend(end.op);
    let explanation = format!(
        "{} saw an ephemeral of {} after its client was told it ended (line {}) but before the ensemble committed its closeSession{} at {} ns: \
         the leader refuses a closing session before the txn commits (SessionTrackerImpl.touchSession); allowed",
        history.describe_op(id),
        history.session_name(Some(session)),
        end.line,
        commit.zxid.map(|z| format!(" {z:#x}")).unwrap_or_default(),
        commit.t_ns
    );
    Violation { anomaly: "expiry told before its closeSession committed", severity: Severity::Weak, ops, lines: vec![end.line, commit.line], explanation }
}

/// Each session's first recorded end (expiry, close), and the ensemble's commit of its
/// closeSession when the history has it.
fn session_ends(context: &Context) -> BTreeMap<SessionId, (SessionEnd, Option<SessionEnd>)> {
    let firsts = first_session_ends(context);
    let mut committed: BTreeMap<SessionId, SessionEnd> = BTreeMap::new();
    for event in context.history.session_events.iter().filter(|e| e.by_ensemble && e.ends_session()) {
        if let Some(session) = event.session {
            let end = SessionEnd { t_ns: event.t_ns, zxid: event.zxid, line: event.line, op: None };
            let entry = committed.entry(session).or_insert(end);
            if end.t_ns < entry.t_ns {
                *entry = end;
            }
        }
    }
    firsts.into_iter().map(|(session, first)| (session, (first, committed.get(&session).copied()))).collect()
}

/// The first recorded end (expiry, close) of each session.
fn first_session_ends(context: &Context) -> BTreeMap<SessionId, SessionEnd> {
    let history = context.history;
    let mut ends: BTreeMap<SessionId, SessionEnd> = BTreeMap::new();
    let mut keep_first = |session: SessionId, end: SessionEnd| {
        let entry = ends.entry(session).or_insert(end);
        if end.t_ns < entry.t_ns {
            *entry = end;
        }
    };
    for event in &history.session_events {
        if let (true, Some(session)) = (event.ends_session(), event.session) {
            keep_first(
                session,
                SessionEnd {
                    t_ns: event.t_ns,
                    zxid: event.zxid,
                    line: event.line,
                    op: None,
                },
            );
        }
    }
    for (id, op) in history.ops.iter().enumerate() {
        if let (OpKind::CloseSession, Outcome::Ok, Some(session)) =
            (&op.kind, op.outcome, op.session)
        {
            keep_first(
                session,
                SessionEnd {
                    t_ns: op.complete_ns,
                    zxid: op.zxid,
                    line: op.line,
                    op: Some(id as OpId),
                },
            );
        }
    }
    ends
}
