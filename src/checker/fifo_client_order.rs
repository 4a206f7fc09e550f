//! `fifo-client-order`: each session's requests are answered in the order it issued them,
//! and the zxids it sees never go back.
//!
//! Source: ZooKeeper paper §2.3 "FIFO client order: all requests from a given client are
//! executed in the order that they were sent by the client"; ZooKeeper Programmer's Guide,
//! "ZooKeeper guarantees: Sequential Consistency ... Updates from a client will be applied in
//! the order that they were sent"; a server refuses a client whose last zxid is ahead of it.
//!
//! Recipe-level ops (lock_acquire spans the recipe's own requests) are not requests and are
//! left out.
//!
//! Why per session, across reconnects: the session, not the TCP connection, carries the
//! guarantee (the client library replays pending requests in order and sends its last zxid).

use super::context::Context;
use super::report::CheckReport;
use super::CheckOptions;
use crate::history::{OpId, Outcome, SessionId, Zxid};

pub const NAME: &str = "fifo-client-order";
const SOURCE: &str =
    "ZooKeeper paper §2.3 FIFO client order; Programmer's Guide, ZooKeeper guarantees";

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let sessions = context.session_ops();
    if sessions.is_empty() {
        return report.not_applicable("no sessions recorded");
    }
    let mut ops_seen = 0usize;
    let mut pipelined = 0usize;
    for (&session, ids) in sessions {
        ops_seen += ids.len();
        pipelined += count_pipelined(context, ids);
        check_reply_order(context, session, ids, &mut report);
        check_zxid_order(context, session, ids, &mut report);
    }
    report.finish(format!(
        "{} sessions, {} ops in issue order ({pipelined} issued while an earlier op of the session was in flight)",
        sessions.len(),
        ops_seen
    ))
}

/// Ops submitted before an earlier-issued op of their session had its reply: pipelining.
fn count_pipelined(context: &Context, ids: &[OpId]) -> usize {
    let history = context.history;
    let mut latest_reply = 0u64;
    let mut count = 0;
    for &id in ids {
        let op = &history.ops[id as usize];
        if op.kind.is_recipe() {
            continue;
        }
        if op.invoke_ns < latest_reply {
            count += 1;
        }
        if op.outcome != crate::history::Outcome::Unknown {
            latest_reply = latest_reply.max(op.complete_ns);
        }
    }
    count
}

/// Replies arrive in issue order: no op completes before an op issued earlier in the session.
fn check_reply_order(
    context: &Context,
    session: SessionId,
    ids: &[OpId],
    report: &mut CheckReport,
) {
    let history = context.history;
    let mut latest: Option<OpId> = None; // op with the latest completion so far
    for &id in ids {
        let op = &history.ops[id as usize];
        if op.outcome == Outcome::Unknown || op.kind.is_recipe() {
            continue;
        }
        if let Some(earlier) = latest {
            let earlier_op = &history.ops[earlier as usize];
            // Delivery numbers, when recorded, order replies of one instant too.
            let reordered = match (op.arrival, earlier_op.arrival) {
                (Some(a), Some(b)) => a < b,
                _ => op.complete_ns < earlier_op.complete_ns,
            };
            if reordered {
                let text = format!(
                    "session {}: {} was issued before {} but its reply came later ({} ns > {} ns): replies must come back in issue order",
                    history.session_name(Some(session)),
                    history.describe_op(earlier),
                    history.describe_op(id),
                    earlier_op.complete_ns,
                    op.complete_ns
                );
                report.violation("FIFO reorder", vec![earlier, id], text);
                continue;
            }
        }
        latest = Some(id);
    }
}

/// The zxids a session sees (reply headers, its own writes' zxids) never decrease.
fn check_zxid_order(context: &Context, session: SessionId, ids: &[OpId], report: &mut CheckReport) {
    let history = context.history;
    let mut high: Option<(Zxid, OpId)> = None;
    for &id in ids {
        let op = &history.ops[id as usize];
        if op.outcome == Outcome::Unknown {
            continue;
        }
        let Some(zxid) = op.zxid.or_else(|| op.txn_zxid()) else {
            continue;
        };
        if let Some((high_zxid, high_op)) = high {
            if zxid < high_zxid {
                let text = format!(
                    "session {}: {} saw zxid {:#x} after the earlier-issued {} saw {:#x}: a session's zxids never go back",
                    history.session_name(Some(session)),
                    history.describe_op(id),
                    zxid,
                    history.describe_op(high_op),
                    high_zxid
                );
                report.violation("FIFO reorder", vec![high_op, id], text);
                continue;
            }
        }
        high = Some((zxid, id));
    }
}
