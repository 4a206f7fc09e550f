//! `sync-read-real-time`: a sync followed by a read sees every write that completed before
//! the sync was invoked.
//!
//! Source: ZooKeeper Programmer's Guide, "Consistency Guarantees" (sync "causes the server
//! to catch up with the leader"); ZooKeeper paper §2.3 ("sync ... a read after sync sees
//! all updates preceding the sync"); zookeeper-notes: sync+read is still not strictly
//! linearizable (a deposed leader can answer a sync). So a stale sync+read is a violation
//! unless the write it missed is of a newer epoch than its reply zxid (the serving server had
//! not yet joined that epoch): then it is a warning. Without a reply zxid, a warning.
//!
//! Also counts plain reads that missed a write completed before they were invoked: ZooKeeper
//! allows these (plain reads are served from the local replica; sequentially consistent, not
//! linearizable), so they are reported as "allowed non-linearizable reads", never violations.

use super::context::Context;
use super::report::{CheckReport, Severity, Violation};
use super::timeline::{Observed, PathTimeline, Writer};
use super::CheckOptions;
use crate::history::{History, OpId, OpKind, Outcome, PathId};
use std::collections::BTreeMap;

pub const NAME: &str = "sync-read-real-time";
const SOURCE: &str = "Programmer's Guide, Consistency Guarantees (sync); ZooKeeper paper §2.3";

/// Per path: `(completion time, state index)` of acknowledged writes by completion time,
/// with the running maximum index, so "newest state completed before t" is a binary search.
struct CompletedWrites {
    by_time: Vec<(u64, usize)>,
}

impl CompletedWrites {
    fn new(history: &History, timeline: &PathTimeline) -> CompletedWrites {
        let mut by_time: Vec<(u64, usize)> = timeline
            .states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.writer {
                Writer::Op(id) => Some((history.ops[id as usize].complete_ns, i)),
                _ => None,
            })
            .collect();
        by_time.sort_unstable();
        let mut running = 0;
        for entry in &mut by_time {
            running = running.max(entry.1);
            entry.1 = running;
        }
        CompletedWrites { by_time }
    }

    /// Index of the newest state whose write completed strictly before `t_ns` (0 if none).
    fn required_before(&self, t_ns: u64) -> usize {
        let n = self.by_time.partition_point(|&(t, _)| t < t_ns);
        if n == 0 {
            0
        } else {
            self.by_time[n - 1].1
        }
    }
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    if !context.has_zxids() {
        return report.not_applicable("needs zxids to order read results");
    }
    let history = context.history;
    let timelines = context.timelines();
    let completed: BTreeMap<PathId, CompletedWrites> = timelines
        .paths
        .iter()
        .map(|(&p, t)| (p, CompletedWrites::new(history, t)))
        .collect();
    let sync_starts = sync_invocations(context);
    let (mut sync_reads, mut plain_reads) = (0usize, 0usize);
    for (id, op) in history.ops.iter().enumerate() {
        let id = id as OpId;
        let Some((path, observed)) = timelines.observe(history, op) else {
            continue;
        };
        let (timeline, writes) = (timelines.path(path).expect("replayed"), &completed[&path]);
        let synced_at = sync_starts
            .get(&id)
            .copied()
            .or((op.kind == OpKind::SyncRead).then_some(op.invoke_ns));
        let start_ns = synced_at.unwrap_or(op.invoke_ns);
        let required = writes.required_before(start_ns);
        let fresh = match observed {
            Observed::State(i) | Observed::Corrupt(i) => i >= required,
            Observed::Absent => timeline.absent_at_or_after(required).is_some(),
            Observed::Unexplained => true,
        };
        if synced_at.is_some() {
            sync_reads += 1;
        } else {
            plain_reads += 1;
        }
        if !fresh {
            report_stale(
                context,
                timeline,
                id,
                required,
                synced_at.is_some(),
                &mut report,
            );
        }
    }
    let summary = format!(
        "{sync_reads} sync+reads, {plain_reads} plain reads; {} allowed non-linearizable (stale) plain reads",
        report.allowed_count
    );
    report.finish(summary)
}

fn report_stale(
    context: &Context,
    timeline: &PathTimeline,
    id: OpId,
    required: usize,
    synced: bool,
    report: &mut CheckReport,
) {
    let history = context.history;
    let missed = timeline.states[required].writer.op();
    let mut ops: Vec<OpId> = missed.into_iter().collect();
    ops.push(id);
    let missed_text = missed
        .map(|w| history.describe_op(w))
        .unwrap_or_else(|| "a write".to_string());
    let op = &history.ops[id as usize];
    let missed_zxid = timeline.states[required].since_zxid;
    // The sync went through the leader of the reply's epoch or a later one, which had
    // committed the missed write: unless the write's epoch is newer than the reply's (the
    // serving server had not joined that epoch: a deposed leader answered the sync), missing
    // it is a violation.
    let strict = op.zxid.is_some_and(|header| epoch(missed_zxid) <= epoch(header));
    let (anomaly, severity, text) = if synced && strict {
        let text = format!(
            "{} (sync+read) missed {missed_text}, which completed before the sync was invoked; the write's epoch {} is not newer than the reply's ({}), so the sync passed through a leader that had committed it",
            history.describe_op(id),
            epoch(missed_zxid),
            op.zxid.map_or(0, epoch)
        );
        ("stale sync+read within one epoch", Severity::Safety, text)
    } else if synced {
        let why = match op.zxid {
            Some(_) => "in an epoch newer than the reply's: a deposed leader can answer a sync",
            None => "and no reply zxid shows whether an epoch change came between",
        };
        let text = format!(
            "{} (sync+read) missed {missed_text}, which completed before the sync was invoked, {why} (ZooKeeper's sync+read is not strictly linearizable)",
            history.describe_op(id)
        );
        ("stale sync+read", Severity::Weak, text)
    } else {
        let text = format!("{} missed {missed_text}, completed before it was invoked: allowed, plain reads are served by the local replica", history.describe_op(id));
        ("stale plain read", Severity::Weak, text)
    };
    let violation = Violation {
        anomaly,
        severity,
        ops,
        lines: Vec::new(),
        explanation: text,
    };
    if synced {
        report.violate(violation);
    } else {
        report.allow(violation);
    }
}

fn epoch(zxid: crate::history::Zxid) -> i64 {
    zxid >> 32
}

/// zksim may record `sync` and the following read as two ops: map each such read to the
/// invocation time of the session's sync of the same path just before it.
fn sync_invocations(context: &Context) -> BTreeMap<OpId, u64> {
    let history = context.history;
    let mut starts = BTreeMap::new();
    for ids in context.session_ops().values() {
        let mut pending: BTreeMap<Option<PathId>, u64> = BTreeMap::new();
        for &id in ids {
            let op = &history.ops[id as usize];
            if op.kind == OpKind::Sync && op.outcome == Outcome::Ok {
                pending.insert(op.path, op.invoke_ns);
            } else if op.kind.is_node_read() && op.kind != OpKind::SyncRead {
                if let Some(t) = pending.remove(&op.path) {
                    starts.insert(id, t);
                }
            }
        }
    }
    starts
}
