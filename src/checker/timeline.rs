//! Replay of the write order: every path's sequence of states, rebuilt from the zxids the
//! history recorded, following ZooKeeper's data-tree semantics (DataTree.setData/createNode/
//! deleteNode; ZooKeeper Programmer's Guide, "ZooKeeper Stat Structure").
//!
//! Why: ZooKeeper gives every write a unique zxid and applies writes in zxid order on every
//! replica (ZAB total order). So instead of searching for a linearization, the checks can
//! sort the acknowledged writes by zxid, replay them, and compare every reply against the
//! replay. Reads then map to a state of this timeline by the mzxid they returned.
//!
//! Unknown-outcome writes (`info`) are never assumed to have happened or not: one is placed
//! in the timeline only when evidence proves it happened — a read that returned its value
//! with an mzxid no acknowledged write has, or a version number that jumped (a later reply's
//! version, or a successful conditional set's expected version, higher than the replay's).

use crate::history::{ErrorCode, History, Op, OpId, OpKind, Outcome, PathId, SessionId, Zxid};
use std::collections::BTreeMap;

/// Who produced a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Writer {
    /// The initial state from the meta line (or absent before anything was created).
    Init,
    /// An acknowledged write.
    Op(OpId),
    /// An unknown-outcome write that evidence proves happened.
    Inferred(OpId),
    /// The closeSession transaction (expiry or close) that deleted a session's ephemeral:
    /// the `session` line it was recorded on, or the `close_session` op.
    SessionEnd { line: u32, op: Option<OpId> },
}

impl Writer {
    pub fn op(self) -> Option<OpId> {
        match self {
            Writer::Init => None,
            Writer::Op(id) | Writer::Inferred(id) => Some(id),
            Writer::SessionEnd { op, .. } => op,
        }
    }
}

/// One state of one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeVersion {
    /// zxid of the transaction that produced this state (the mzxid if present, the delete's
    /// zxid if absent; the initial absent state has `Zxid::MIN`).
    pub since_zxid: Zxid,
    pub present: bool,
    pub version: i32,
    pub writer: Writer,
    /// Unknown-outcome writes proven to have happened (by a version jump) between the
    /// previous state and this one, whose own states no one observed.
    pub hidden_writes_before: u32,
}

/// What the transaction that produced a state did to its path: created it, changed its data
/// or deleted it. By presence where nothing hidden came between; after a hidden write (an
/// unknown-outcome write placed only by the gap it explains, at no zxid), by the producing
/// write's own kind (the hidden one's change has no zxid to be placed at).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transition {
    Created,
    DataChanged,
    Deleted,
}

/// The transition into `states[index]` (index ≥ 1), if any.
pub fn transition(history: &History, path: PathId, states: &[NodeVersion], index: usize) -> Option<Transition> {
    let (before, after) = (&states[index - 1], &states[index]);
    if after.hidden_writes_before == 0 {
        return match (before.present, after.present) {
            (false, true) => Some(Transition::Created),
            (true, true) => Some(Transition::DataChanged),
            (true, false) => Some(Transition::Deleted),
            (false, false) => None,
        };
    }
    let kind = match after.writer {
        Writer::Init => return None,
        Writer::SessionEnd { .. } => OpKind::Delete,
        Writer::Op(id) | Writer::Inferred(id) => {
            let op = &history.ops[id as usize];
            match op.kind {
                OpKind::Multi => op.args.sub_ops.iter().rev().find(|s| s.path == path && s.kind.is_mutation())?.kind.clone(),
                ref other => other.clone(),
            }
        }
    };
    match kind {
        OpKind::Create => Some(Transition::Created),
        OpKind::Delete => Some(Transition::Deleted),
        _ => Some(Transition::DataChanged),
    }
}

/// All states of one path, in zxid order.
#[derive(Clone, Debug, Default)]
pub struct PathTimeline {
    pub states: Vec<NodeVersion>,
    /// Index of the state each present mzxid maps to.
    by_mzxid: BTreeMap<Zxid, usize>,
    /// Indices of absent states, ascending.
    absent: Vec<usize>,
    /// Suffix minimum of writer completion times (for real-time windows).
    complete_suffix_min_ns: Vec<u64>,
    /// Suffix minimum of writer invocation times.
    invoke_suffix_min_ns: Vec<u64>,
}

/// What kind of replay problem an issue is (each check picks the kinds it owns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IssueKind {
    DuplicateZxid,
    ReplyMismatch,
    UnjustifiedError,
    UnexplainedObservation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayIssue {
    pub kind: IssueKind,
    pub anomaly: &'static str,
    pub ops: Vec<OpId>,
    pub explanation: String,
}

/// What a read op observed, mapped onto the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Exactly this state.
    State(usize),
    /// "No node": any absent state.
    Absent,
    /// A present node with an mzxid no state has (already reported by the replay).
    Unexplained,
    /// The state with this mzxid, but the reply's version/value differ from it.
    Corrupt(usize),
}

/// The replayed write order of a whole history.
#[derive(Clone, Debug, Default)]
pub struct Timelines {
    pub paths: BTreeMap<PathId, PathTimeline>,
    pub issues: Vec<ReplayIssue>,
    /// Acknowledged mutations replayed.
    pub replayed_writes: usize,
    /// Unknown-outcome writes the evidence proved happened.
    pub proven_unknown_writes: usize,
    /// Unknown-outcome mutations never proven to have happened.
    pub unproven_unknown_writes: usize,
    /// Acknowledged mutations with no zxid (cannot be placed).
    pub unplaced_writes: usize,
    /// Paths holding an ephemeral whose session ended at an unrecorded zxid: its deletion
    /// cannot be placed, so reads of these paths are not judged.
    pub uncertain_paths: std::collections::BTreeSet<PathId>,
    /// Paths an unknown-outcome delete no evidence placed may have removed at any zxid after
    /// its invocation: a read that found no node there is not judged.
    pub unplaced_deletes: std::collections::BTreeSet<PathId>,
}

/// One change to one path at one zxid.
#[derive(Clone, Debug)]
struct Effect {
    zxid: Zxid,
    writer: Writer,
    kind: OpKind,
    value_version: Option<i32>,
    expected_version: i32,
    /// Session-end deletes: the ephemeral create they undo (no-op if the node was since
    /// deleted and re-created).
    undoes_create: Option<OpId>,
}

impl PathTimeline {
    fn new(initial: NodeVersion) -> PathTimeline {
        PathTimeline {
            states: vec![initial],
            ..PathTimeline::default()
        }
    }

    fn index(&mut self, history: &History) {
        self.by_mzxid.clear();
        self.absent.clear();
        for (i, state) in self.states.iter().enumerate() {
            if state.present {
                self.by_mzxid.insert(state.since_zxid, i);
            } else {
                self.absent.push(i);
            }
        }
        // A session end's time is not tied to an op: widest bounds (invoked at 0, completed never).
        let times = |f: &dyn Fn(&Op) -> u64, session_end_ns: u64| -> Vec<u64> {
            let mut out = vec![0u64; self.states.len()];
            let mut running = u64::MAX;
            for i in (0..self.states.len()).rev() {
                let t = match self.states[i].writer {
                    Writer::Init => 0,
                    Writer::Op(id) | Writer::Inferred(id) => f(&history.ops[id as usize]),
                    Writer::SessionEnd { .. } => session_end_ns,
                };
                running = running.min(t);
                out[i] = running;
            }
            out
        };
        self.complete_suffix_min_ns = times(&|op: &Op| op.effect_deadline_ns(), u64::MAX);
        self.invoke_suffix_min_ns = times(&|op: &Op| op.invoke_ns, 0);
    }

    /// Index of the state in effect just before the transaction `zxid`.
    pub fn state_before(&self, zxid: Zxid) -> usize {
        self.states
            .partition_point(|s| s.since_zxid < zxid)
            .saturating_sub(1)
    }

    /// Index of the present state with this mzxid.
    pub fn present_with_mzxid(&self, mzxid: Zxid) -> Option<usize> {
        self.by_mzxid.get(&mzxid).copied()
    }

    /// First absent state at or after `index`.
    pub fn absent_at_or_after(&self, index: usize) -> Option<usize> {
        let i = self.absent.partition_point(|&a| a < index);
        self.absent.get(i).copied()
    }

    /// Indices of the absent states, ascending.
    pub fn absent_states(&self) -> &[usize] {
        &self.absent
    }

    /// zxid at which state `index` stops being current (`Zxid::MAX` for the last).
    pub fn until_zxid(&self, index: usize) -> Zxid {
        self.states
            .get(index + 1)
            .map(|s| s.since_zxid)
            .unwrap_or(Zxid::MAX)
    }

    /// States that may have been current at some instant of `[invoke_ns, complete_ns]`:
    /// from the last state whose writer completed before the window opened, to the last
    /// state whose writer was invoked before the window closed.
    pub fn possible_during(
        &self,
        invoke_ns: u64,
        complete_ns: u64,
    ) -> std::ops::RangeInclusive<usize> {
        let first = self
            .complete_suffix_min_ns
            .partition_point(|&t| t < invoke_ns)
            .saturating_sub(1);
        let last = self
            .invoke_suffix_min_ns
            .partition_point(|&t| t < complete_ns)
            .saturating_sub(1);
        first..=last.max(first)
    }

    /// Value of a state, as written.
    pub fn value<'h>(&self, history: &'h History, path: PathId, index: usize) -> Option<&'h str> {
        let state = &self.states[index];
        match state.writer {
            Writer::Init => history.init.get(&path).and_then(|n| n.value.as_deref()),
            Writer::Op(id) | Writer::Inferred(id) => written_value(&history.ops[id as usize], path),
            Writer::SessionEnd { .. } => None,
        }
    }
}

/// What a mutation does to `path`: its kind (a multi: its last sub-op there), expected
/// version (-1: any) and written value.
fn effect_on(op: &Op, path: PathId) -> Option<(OpKind, i32, Option<&str>)> {
    if op.kind == OpKind::Multi {
        let sub = op.args.sub_ops.iter().rev().find(|s| s.path == path && s.kind.is_mutation())?;
        return Some((sub.kind.clone(), sub.expected_version.unwrap_or(-1), sub.value.as_deref()));
    }
    op.kind.is_mutation().then(|| (op.kind.clone(), op.set_data_version(), op.args.value.as_deref()))
}

/// The data a mutation wrote to `path` (sub-op aware).
pub fn written_value(op: &Op, path: PathId) -> Option<&str> {
    if op.kind == OpKind::Multi {
        return op
            .args
            .sub_ops
            .iter()
            .rev()
            .find(|s| s.path == path && s.kind != OpKind::Delete)
            .and_then(|s| s.value.as_deref());
    }
    op.args.value.as_deref()
}

impl Timelines {
    /// Replays `history`. Cost: O(n log n) in the number of ops.
    pub fn build(history: &History) -> Timelines {
        let mut builder = Builder::new(history);
        builder.check_unique_zxids();
        builder.collect_effects();
        builder.infer_observed_unknown_writes();
        builder.replay_all();
        builder.check_error_replies();
        builder.finish()
    }

    pub fn path(&self, path: PathId) -> Option<&PathTimeline> {
        self.paths.get(&path)
    }

    /// Maps a node read (ok reply, or NoNode) onto the timeline.
    pub fn observe(&self, history: &History, op: &Op) -> Option<(PathId, Observed)> {
        let path = op.path?;
        if self.uncertain_paths.contains(&path)
            || !(op.kind.is_node_read() || op.kind == OpKind::GetChildren)
        {
            return None;
        }
        let timeline = self.paths.get(&path)?;
        let absent = op.result.exists == Some(false)
            || (op.outcome == Outcome::Fail && op.error == Some(ErrorCode::NoNode));
        if absent {
            if self.unplaced_deletes.contains(&path) {
                return None;
            }
            return Some((path, Observed::Absent));
        }
        if op.outcome != Outcome::Ok {
            return None;
        }
        let mzxid = op.result.mzxid?;
        let Some(index) = timeline.present_with_mzxid(mzxid) else {
            return Some((path, Observed::Unexplained));
        };
        let state = &timeline.states[index];
        let version_ok = op.result.version.is_none_or(|v| v == state.version);
        let value_ok = op.kind == OpKind::Exists
            || op.result.value.is_none()
            || op.result.value.as_deref() == timeline.value(history, path, index);
        if version_ok && value_ok {
            Some((path, Observed::State(index)))
        } else {
            Some((path, Observed::Corrupt(index)))
        }
    }
}

struct Builder<'h> {
    history: &'h History,
    effects: BTreeMap<PathId, Vec<Effect>>,
    /// Unknown-outcome mutations per path, by invocation time, not yet proven.
    unknown_by_path: BTreeMap<PathId, Vec<OpId>>,
    /// Unknown-outcome writes evidence placed, per path they wrote (a multi writes several;
    /// a sequential create is keyed by its prefix).
    used_unknown: std::collections::BTreeSet<(OpId, PathId)>,
    /// Each session's end: its closeSession zxid (if recorded) and where it was recorded.
    session_ends: BTreeMap<SessionId, (Option<Zxid>, Writer)>,
    out: Timelines,
}

impl<'h> Builder<'h> {
    fn new(history: &'h History) -> Builder<'h> {
        Builder {
            history,
            effects: BTreeMap::new(),
            unknown_by_path: BTreeMap::new(),
            used_unknown: Default::default(),
            session_ends: BTreeMap::new(),
            out: Timelines::default(),
        }
    }

    fn op(&self, id: OpId) -> &'h Op {
        &self.history.ops[id as usize]
    }

    fn issue(
        &mut self,
        kind: IssueKind,
        anomaly: &'static str,
        ops: Vec<OpId>,
        explanation: String,
    ) {
        self.out.issues.push(ReplayIssue {
            kind,
            anomaly,
            ops,
            explanation,
        });
    }

    /// ZooKeeper assigns each transaction its own zxid: two ops sharing one is a violation.
    fn check_unique_zxids(&mut self) {
        let mut by_zxid: Vec<(Zxid, OpId)> = Vec::new();
        for (id, op) in self.history.ops.iter().enumerate() {
            if let Some(zxid) = op.txn_zxid() {
                by_zxid.push((zxid, id as OpId));
            }
        }
        by_zxid.sort_unstable();
        for pair in by_zxid.windows(2) {
            if pair[0].0 == pair[1].0 {
                let text = format!("ops #{} and #{} both report transaction zxid {:#x}; ZooKeeper gives every transaction its own zxid", pair[0].1, pair[1].1, pair[0].0);
                self.issue(
                    IssueKind::DuplicateZxid,
                    "duplicate zxid",
                    vec![pair[0].1, pair[1].1],
                    text,
                );
            }
        }
    }

    fn collect_effects(&mut self) {
        for (id, op) in self.history.ops.iter().enumerate() {
            let id = id as OpId;
            if !op.kind.is_mutation() {
                continue;
            }
            match (op.outcome, op.txn_zxid()) {
                (Outcome::Ok, Some(zxid)) => self.push_effects(id, op, zxid),
                (Outcome::Ok, None) => self.out.unplaced_writes += 1,
                (Outcome::Unknown, _) => {
                    for path in mutated_paths(op) {
                        self.unknown_by_path.entry(path).or_default().push(id);
                    }
                }
                (Outcome::Fail, _) => {}
            }
        }
        for ids in self.unknown_by_path.values_mut() {
            ids.sort_by_key(|&id| (self.history.ops[id as usize].invoke_ns, id));
        }
        self.collect_session_end_deletes();
    }

    /// closeSession (expiry or close) deletes the session's ephemerals in its transaction.
    fn collect_session_end_deletes(&mut self) {
        let history = self.history;
        let mut ends: BTreeMap<SessionId, (Option<Zxid>, Writer)> = BTreeMap::new();
        for event in history.session_events.iter().filter(|e| e.ends_session()) {
            if let Some(session) = event.session {
                let end = (
                    event.zxid,
                    Writer::SessionEnd {
                        line: event.line,
                        op: None,
                    },
                );
                // The end whose closeSession zxid is recorded places the deletes.
                let entry = ends.entry(session).or_insert(end);
                if entry.0.is_none() {
                    *entry = end;
                }
            }
        }
        for (id, op) in history.ops.iter().enumerate() {
            if let (OpKind::CloseSession, Outcome::Ok, Some(session)) =
                (&op.kind, op.outcome, op.session)
            {
                ends.insert(
                    session,
                    (
                        op.zxid,
                        Writer::SessionEnd {
                            line: op.line,
                            op: Some(id as OpId),
                        },
                    ),
                );
            }
        }
        self.session_ends = ends.clone();
        for (id, op) in history.ops.iter().enumerate() {
            // (An unknown-outcome ephemeral create gets its delete when evidence places it.)
            let ephemeral =
                op.kind == OpKind::Create && op.args.ephemeral && op.outcome == Outcome::Ok;
            let (Some(session), Some(path), true) = (op.session, op.path, ephemeral) else {
                continue;
            };
            match ends.get(&session) {
                Some(&(Some(zxid), writer)) => {
                    let effect = Effect {
                        zxid,
                        writer,
                        kind: OpKind::Delete,
                        value_version: None,
                        expected_version: -1,
                        undoes_create: Some(id as OpId),
                    };
                    self.effects.entry(path).or_default().push(effect);
                }
                Some(&(None, _)) => {
                    self.out.uncertain_paths.insert(path);
                }
                None => {}
            }
        }
    }

    fn push_effects(&mut self, id: OpId, op: &Op, zxid: Zxid) {
        if op.kind == OpKind::Multi {
            let results = op.result.extra.as_ref().map(|e| e.sub_results.as_slice()).unwrap_or_default();
            for (i, sub) in op.args.sub_ops.iter().enumerate() {
                if sub.kind.is_mutation() {
                    // A setData's result carries the version it produced.
                    let reply_version = results.get(i).filter(|r| r.error.is_none()).and_then(|r| r.result.version);
                    let effect = Effect {
                        zxid,
                        writer: Writer::Op(id),
                        kind: sub.kind.clone(),
                        value_version: reply_version.filter(|_| sub.kind.is_set_data()),
                        expected_version: sub.expected_version.unwrap_or(-1),
                        undoes_create: None,
                    };
                    self.effects.entry(sub.path).or_default().push(effect);
                }
            }
            return;
        }
        let Some(path) = op.path else { return };
        let effect = Effect {
            zxid,
            writer: Writer::Op(id),
            kind: op.kind.clone(),
            value_version: op.result.version,
            expected_version: op.set_data_version(),
            undoes_create: None,
        };
        self.effects.entry(path).or_default().push(effect);
    }

    /// A read returning an mzxid no acknowledged write has must have seen an unknown-outcome
    /// write of the same value; place that write at the observed mzxid.
    fn infer_observed_unknown_writes(&mut self) {
        let mut known: std::collections::BTreeSet<(PathId, Zxid)> = Default::default();
        for (&path, effects) in &self.effects {
            known.extend(effects.iter().map(|e| (path, e.zxid)));
        }
        known.extend(
            self.history
                .init
                .iter()
                .map(|(&path, node)| (path, node.mzxid)),
        );
        let mut observed: BTreeMap<(PathId, Zxid), OpId> = BTreeMap::new();
        for (id, op) in self.history.ops.iter().enumerate() {
            let (Some(path), Some(mzxid)) = (op.path, op.result.mzxid) else {
                continue;
            };
            let is_read = (op.kind.is_node_read() || op.kind == OpKind::GetChildren) && op.outcome == Outcome::Ok;
            if is_read && !known.contains(&(path, mzxid)) {
                // Prefer an observer whose reply carried the data (exists() returns only a stat).
                let entry = observed.entry((path, mzxid)).or_insert(id as OpId);
                if self.op(*entry).result.value.is_none() && op.result.value.is_some() {
                    *entry = id as OpId;
                }
            }
        }
        for ((path, mzxid), reader) in observed {
            // A multi placed through another of its paths may already explain this one.
            if self.effects.get(&path).is_some_and(|e| e.iter().any(|e| e.zxid == mzxid)) {
                continue;
            }
            self.infer_one(path, mzxid, reader);
        }
        self.infer_observed_creates();
    }

    /// A reply's czxid names its node's create: one no acknowledged (or already placed) create
    /// of that path has must be an unknown-outcome create of it (or a sequential one whose
    /// prefix it extends), placed at that czxid. (The read may show later data: only the
    /// create is placed.)
    fn infer_observed_creates(&mut self) {
        let mut known: std::collections::BTreeSet<(PathId, Zxid)> = Default::default();
        for (&path, effects) in &self.effects {
            known.extend(effects.iter().filter(|e| e.kind == OpKind::Create).map(|e| (path, e.zxid)));
        }
        known.extend(self.history.init.iter().filter_map(|(&path, node)| Some((path, node.czxid?))));
        let mut observed: BTreeMap<(PathId, Zxid), OpId> = BTreeMap::new();
        for (id, op) in self.history.ops.iter().enumerate() {
            let (Some(path), Some(czxid)) = (op.path, op.result.czxid) else { continue };
            let is_read = (op.kind.is_node_read() || op.kind == OpKind::GetChildren) && op.outcome == Outcome::Ok;
            if is_read && !known.contains(&(path, czxid)) {
                observed.entry((path, czxid)).or_insert(id as OpId);
            }
        }
        for ((path, czxid), reader) in observed {
            let read = self.op(reader);
            let fitting = self.unknown_candidates(path).into_iter().find(|&id| {
                let op = self.op(id);
                effect_on(op, path).is_some_and(|(kind, _, _)| kind == OpKind::Create)
                    && op.invoke_ns < read.complete_ns
                    && !self.used_unknown.contains(&(id, key_of(self.history, id, path)))
            });
            // (No candidate: the data check above reports what no write explains.)
            if let Some(id) = fitting {
                self.place_inferred(id, path, czxid, None);
            }
        }
    }

    /// Unknown-outcome mutations that may have written `path`: of the path itself, and
    /// sequential creates whose prefix the path extends.
    fn unknown_candidates(&self, path: PathId) -> Vec<OpId> {
        let mut out = self.unknown_by_path.get(&path).cloned().unwrap_or_default();
        let name = self.history.paths.name(path);
        let prefix = name.len().checked_sub(10).and_then(|cut| {
            let tail = name.get(cut..)?;
            tail.bytes().all(|b| b.is_ascii_digit() || b == b'-').then(|| &name[..cut])
        });
        if let Some(ids) = prefix.and_then(|p| self.history.paths.get(p)).and_then(|p| self.unknown_by_path.get(&p)) {
            out.extend(ids.iter().copied().filter(|&id| {
                let op = &self.history.ops[id as usize];
                op.kind == OpKind::Create && op.args.sequential
            }));
        }
        out
    }

    fn infer_one(&mut self, path: PathId, mzxid: Zxid, reader: OpId) {
        let read = self.op(reader);
        let fits = |id: OpId| {
            let op = self.op(id);
            let Some((kind, expected, value)) = effect_on(op, path) else { return false };
            let value_fits = read.result.value.is_none() || value == read.result.value.as_deref();
            let version_fits = match (read.result.version, &kind) {
                (Some(v), OpKind::Create) => v == 0,
                (Some(v), _) if expected != -1 => v == expected.saturating_add(1),
                _ => true,
            };
            !self.used_unknown.contains(&(id, key_of(self.history, id, path)))
                && op.invoke_ns < read.complete_ns
                && kind != OpKind::Delete
                && value_fits
                && version_fits
        };
        let fitting: Vec<OpId> = self.unknown_candidates(path).into_iter().filter(|&id| fits(id)).collect();
        // Written values are unique, so a read that returned one names its write; a read
        // without data (exists) names one only if a single candidate fits its version.
        let named = match read.result.value.is_some() || fitting.len() == 1 {
            true => fitting.first().copied(),
            false => None,
        };
        match named {
            Some(id) => self.place_inferred(id, path, mzxid, read.result.version),
            None if !fitting.is_empty() => {} // more than one could have: not judged
            None => {
                let text = format!(
                    "{} returned mzxid {:#x}, which no acknowledged write of {} has, and no unknown-outcome write of that value could have produced it",
                    self.history.describe_op(reader),
                    mzxid,
                    self.history.paths.name(path)
                );
                self.issue(
                    IssueKind::UnexplainedObservation,
                    "read of a value never written",
                    vec![reader],
                    text,
                );
            }
        }
    }

    /// Places an unknown-outcome write evidence proved at `zxid`: all of it (every path of a
    /// multi: all or nothing).
    fn place_inferred(&mut self, id: OpId, observed: PathId, zxid: Zxid, observed_version: Option<i32>) {
        let op = self.op(id);
        let paths: Vec<PathId> = match op.kind {
            OpKind::Multi => mutated_paths(op),
            _ => vec![observed],
        };
        for path in paths {
            let Some((kind, expected_version, _)) = effect_on(op, path) else { continue };
            self.used_unknown.insert((id, key_of(self.history, id, path)));
            let effect = Effect {
                zxid,
                writer: Writer::Inferred(id),
                kind: kind.clone(),
                value_version: if path == observed { observed_version } else { None },
                expected_version,
                undoes_create: None,
            };
            self.effects.entry(path).or_default().push(effect);
            if kind == OpKind::Create && op.args.ephemeral {
                self.end_of_inferred_ephemeral(id, path);
            }
        }
        self.out.proven_unknown_writes += 1;
    }

    /// An ephemeral create evidence placed is deleted by its session's end, like an
    /// acknowledged one.
    fn end_of_inferred_ephemeral(&mut self, id: OpId, path: PathId) {
        let Some(session) = self.op(id).session else { return };
        match self.session_ends.get(&session) {
            Some(&(Some(zxid), writer)) => {
                let effect = Effect { zxid, writer, kind: OpKind::Delete, value_version: None, expected_version: -1, undoes_create: Some(id) };
                self.effects.entry(path).or_default().push(effect);
            }
            Some(&(None, _)) => {
                self.out.uncertain_paths.insert(path);
            }
            None => {}
        }
    }

    fn initial_state(&self, path: PathId) -> NodeVersion {
        match self.history.init.get(&path) {
            Some(node) => NodeVersion {
                since_zxid: node.mzxid,
                present: true,
                version: node.version,
                writer: Writer::Init,
                hidden_writes_before: 0,
            },
            None => NodeVersion {
                since_zxid: Zxid::MIN,
                present: false,
                version: 0,
                writer: Writer::Init,
                hidden_writes_before: 0,
            },
        }
    }

    fn replay_all(&mut self) {
        let mut paths: std::collections::BTreeSet<PathId> = self.effects.keys().copied().collect();
        paths.extend(self.history.init.keys().copied());
        for op in &self.history.ops {
            paths.extend(op.path);
        }
        for path in paths {
            let mut effects = self.effects.remove(&path).unwrap_or_default();
            effects.sort_by_key(|e| (e.zxid, e.writer));
            let timeline = self.replay_path(path, &effects);
            self.out.paths.insert(path, timeline);
        }
        for (&path, ids) in &self.unknown_by_path {
            let deletes = ids.iter().any(|&id| {
                let op = self.op(id);
                let deletes = match op.kind {
                    OpKind::Multi => op.args.sub_ops.iter().any(|s| s.path == path && s.kind == OpKind::Delete),
                    ref kind => *kind == OpKind::Delete,
                };
                deletes && !self.used_unknown.contains(&(id, path))
            });
            if deletes {
                self.out.unplaced_deletes.insert(path);
            }
        }
        self.out.unproven_unknown_writes = self
            .unknown_by_path
            .values()
            .flatten()
            .filter(|id| !self.used_unknown.iter().any(|(used, _)| used == *id))
            .collect::<std::collections::BTreeSet<_>>()
            .len();
    }

    fn replay_path(&mut self, path: PathId, effects: &[Effect]) -> PathTimeline {
        let mut timeline = PathTimeline::new(self.initial_state(path));
        let mut last_create: Option<OpId> = None;
        for effect in effects {
            let current = timeline
                .states
                .last()
                .expect("a timeline starts with its initial state")
                .clone();
            if effect.undoes_create.is_some()
                && (effect.undoes_create != last_create || !current.present)
            {
                continue; // the ephemeral was already deleted (and maybe re-created by another session)
            }
            if effect.kind == OpKind::Create {
                last_create = effect.writer.op();
            }
            if matches!(effect.writer, Writer::Op(_)) {
                self.out.replayed_writes += 1;
            }
            if effect.zxid < current.since_zxid {
                self.mismatch(
                    path,
                    effect,
                    &current,
                    "its zxid is older than the state it would replace",
                );
                continue;
            }
            if let Some(next) = self.apply(path, &current, effect) {
                if next.since_zxid == current.since_zxid {
                    *timeline.states.last_mut().expect("non-empty") = next; // a multi touching a path twice
                } else {
                    timeline.states.push(next);
                }
            }
        }
        timeline.index(self.history);
        timeline
    }

    /// Applies one effect, ZooKeeper style; returns the new state (or None if the effect is
    /// inconsistent, after reporting it).
    fn apply(
        &mut self,
        path: PathId,
        current: &NodeVersion,
        effect: &Effect,
    ) -> Option<NodeVersion> {
        let writer = effect.writer;
        // A write that needs the node to exist (or not) where the replay has it the other way:
        // an unknown-outcome create (delete) of the path, invoked before, must have happened
        // in between — its zxid unknown, counted as a hidden write.
        let deadline_ns = effect.writer.op().map(|id| self.op(id).effect_deadline_ns()).unwrap_or(u64::MAX);
        let needs_present = matches!(effect.kind, OpKind::Delete | OpKind::SetData | OpKind::Write | OpKind::Cas);
        let hidden_flip = match (current.present, needs_present, effect.kind == OpKind::Create) {
            (false, true, _) => self.explain_flip(path, OpKind::Create, deadline_ns),
            (true, _, true) => self.explain_flip(path, OpKind::Delete, deadline_ns),
            _ => false,
        };
        if hidden_flip {
            let flipped = NodeVersion { present: !current.present, version: 0, hidden_writes_before: 1, ..current.clone() };
            return self.apply_after_flip(path, &flipped, effect);
        }
        let fresh = |present: bool, version: i32, hidden: u32| NodeVersion {
            since_zxid: effect.zxid,
            present,
            version,
            writer,
            hidden_writes_before: hidden,
        };
        match effect.kind {
            OpKind::Create => {
                if current.present {
                    self.mismatch(
                        path,
                        effect,
                        current,
                        "create succeeded although the node existed",
                    );
                }
                Some(fresh(true, 0, 0))
            }
            OpKind::Delete => {
                if !current.present {
                    self.mismatch(
                        path,
                        effect,
                        current,
                        "delete succeeded although the node did not exist",
                    );
                } else if effect.expected_version != -1
                    && effect.expected_version != current.version
                {
                    self.mismatch(
                        path,
                        effect,
                        current,
                        "conditional delete succeeded against a different version",
                    );
                }
                Some(fresh(false, 0, 0))
            }
            OpKind::SetData | OpKind::Write | OpKind::Cas => {
                self.apply_set_data(path, current, effect, writer)
            }
            _ => None,
        }
    }

    fn apply_set_data(
        &mut self,
        path: PathId,
        current: &NodeVersion,
        effect: &Effect,
        writer: Writer,
    ) -> Option<NodeVersion> {
        if !current.present {
            self.mismatch(
                path,
                effect,
                current,
                "setData succeeded although the node did not exist",
            );
            return None;
        }
        // The version the node must have had just before this set.
        let implied_before = match (effect.expected_version, effect.value_version) {
            (-1, Some(reply)) => reply.saturating_sub(1),
            (-1, None) => current.version,
            (expected, _) => expected,
        };
        let mut hidden = 0u32;
        if implied_before > current.version {
            let gap =
                u32::try_from(implied_before as i64 - current.version as i64).unwrap_or(u32::MAX);
            let deadline_ns = effect
                .writer
                .op()
                .map(|id| self.op(id).effect_deadline_ns())
                .unwrap_or(u64::MAX);
            if self.explain_gap(path, gap, deadline_ns) {
                hidden = gap;
            } else {
                let text = format!(
                    "version jumped from {} to {} with no write in between that could explain it",
                    current.version,
                    implied_before as i64 + 1
                );
                self.mismatch(path, effect, current, &text);
            }
        } else if implied_before < current.version {
            let text = if effect.expected_version != -1 {
                format!(
                    "conditional set expecting version {} succeeded, but the replay has version {}",
                    effect.expected_version, current.version
                )
            } else {
                format!(
                    "reply version {} but the replay gives {}",
                    implied_before as i64 + 1,
                    current.version as i64 + 1
                )
            };
            self.mismatch(path, effect, current, &text);
        }
        let version = implied_before.max(current.version).saturating_add(1);
        if let Some(reply) = effect
            .value_version
            .filter(|&r| r != version && effect.expected_version != -1)
        {
            let text = format!(
                "reply version {reply}, but setData from version {} gives {version}",
                version - 1
            );
            self.mismatch(path, effect, current, &text);
        }
        Some(NodeVersion {
            since_zxid: effect.zxid,
            present: true,
            version,
            writer,
            hidden_writes_before: hidden,
        })
    }

    /// Applies an effect after a hidden create or delete: the new state records that a write
    /// with no zxid came between.
    fn apply_after_flip(&mut self, path: PathId, flipped: &NodeVersion, effect: &Effect) -> Option<NodeVersion> {
        let mut next = self.apply(path, flipped, effect)?;
        next.hidden_writes_before = next.hidden_writes_before.max(1);
        Some(next)
    }

    /// Claims an unused unknown-outcome `kind` (create or delete) of `path` invoked before
    /// `deadline_ns` — for a create, also a sequential one whose prefix the path extends.
    fn explain_flip(&mut self, path: PathId, kind: OpKind, deadline_ns: u64) -> bool {
        let name = self.history.paths.name(path);
        let prefix = name.len().checked_sub(10).filter(|_| kind == OpKind::Create).and_then(|cut| {
            let (head, tail) = (name.get(..cut)?, name.get(cut..)?);
            tail.bytes().all(|b| b.is_ascii_digit() || b == b'-').then_some(head)
        });
        let prefix_id = prefix.and_then(|p| self.history.paths.get(p));
        let history = self.history;
        let fits = |id: &OpId, sequential: bool| {
            let op = &history.ops[*id as usize];
            let does = match op.kind == OpKind::Multi {
                true => !sequential && op.args.sub_ops.iter().any(|s| s.path == path && s.kind == kind),
                false => op.kind == kind && op.args.sequential == sequential,
            };
            op.invoke_ns < deadline_ns && does
        };
        let mut candidates = self.unknown_by_path.get(&path).into_iter().flatten().copied().filter(|id| fits(id, false));
        let exact = candidates.find(|id| !self.used_unknown.contains(&(*id, path))).map(|id| (id, path));
        let found = exact.or_else(|| {
            let prefix_id = prefix_id?;
            let id = self.unknown_by_path.get(&prefix_id)?.iter().copied().find(|id| fits(id, true) && !self.used_unknown.contains(&(*id, prefix_id)))?;
            Some((id, prefix_id))
        });
        let Some(used) = found else { return false };
        self.used_unknown.insert(used);
        self.out.proven_unknown_writes += 1;
        true
    }

    /// Claims `gap` unused unknown-outcome writes of `path` invoked before `deadline_ns`.
    fn explain_gap(&mut self, path: PathId, gap: u32, deadline_ns: u64) -> bool {
        let candidates: Vec<OpId> = self
            .unknown_by_path
            .get(&path)
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|id| {
                        !self.used_unknown.contains(&(*id, path)) && self.op(*id).invoke_ns < deadline_ns
                    })
                    .take(gap as usize)
                    .collect()
            })
            .unwrap_or_default();
        if candidates.len() < gap as usize {
            return false;
        }
        self.out.proven_unknown_writes += candidates.len();
        self.used_unknown.extend(candidates.into_iter().map(|id| (id, path)));
        true
    }

    fn mismatch(&mut self, path: PathId, effect: &Effect, current: &NodeVersion, problem: &str) {
        let mut ops: Vec<OpId> = effect.writer.op().into_iter().collect();
        ops.extend(current.writer.op());
        let before = describe_state(current);
        let who = match effect.writer {
            Writer::SessionEnd { line, .. } => format!("the session end on line {line}"),
            other => self
                .history
                .describe_op(other.op().expect("ops write everything but session ends")),
        };
        let text = format!("{who}: {problem} (replaying writes of {} in zxid order, the node was {before} just before zxid {:#x})", self.history.paths.name(path), effect.zxid);
        let anomaly = if effect.expected_version != -1 && problem.starts_with("conditional") {
            "cas succeeded against a stale version"
        } else {
            "reply differs from replay"
        };
        self.issue(IssueKind::ReplyMismatch, anomaly, ops, text);
    }

    /// Error replies (BadVersion, NoNode, NodeExists) must be justified by the state the
    /// write met: at its zxid if the reply carried one, else at some instant of its window.
    fn check_error_replies(&mut self) {
        for (id, op) in self.history.ops.iter().enumerate() {
            if op.outcome != Outcome::Fail || !op.kind.is_mutation() || op.kind == OpKind::Multi {
                continue;
            }
            let (Some(path), Some(error)) = (op.path, op.error.clone()) else {
                continue;
            };
            if !matches!(
                error,
                ErrorCode::BadVersion | ErrorCode::NoNode | ErrorCode::NodeExists
            ) {
                continue;
            }
            self.check_error_reply(id as OpId, op, path, &error);
        }
    }

    fn check_error_reply(&mut self, id: OpId, op: &Op, path: PathId, error: &ErrorCode) {
        let Some(timeline) = self.out.paths.get(&path) else {
            return;
        };
        let justified = |state: &NodeVersion| match error {
            ErrorCode::BadVersion => {
                !state.present
                    || (op.set_data_version() != -1 && state.version != op.set_data_version())
            }
            ErrorCode::NoNode => !state.present,
            _ => state.present,
        };
        let range = match op.zxid {
            Some(zxid) => {
                let i = timeline.state_before(zxid);
                i..=i
            }
            None => timeline.possible_during(op.invoke_ns, op.complete_ns),
        };
        let (first, last) = (*range.start(), *range.end());
        let hidden = timeline.states[first + 1..=last]
            .iter()
            .any(|s| s.hidden_writes_before > 0)
            || timeline
                .states
                .get(last + 1)
                .is_some_and(|s| s.hidden_writes_before > 0);
        let unknown_pending = self.unknown_by_path.get(&path).is_some_and(|ids| {
            ids.iter()
                .any(|u| !self.used_unknown.contains(&(*u, path)) && self.op(*u).invoke_ns < op.complete_ns)
        });
        if hidden || unknown_pending || timeline.states[first..=last].iter().any(justified) {
            return;
        }
        let state = &timeline.states[last];
        let mut ops = vec![id];
        ops.extend(
            timeline.states[first..=last]
                .iter()
                .filter_map(|s| s.writer.op()),
        );
        let when = if op.zxid.is_some() {
            "at its zxid"
        } else {
            "throughout its real-time window"
        };
        let text = format!(
            "{} failed with {}, but {when} the node was {}",
            self.history.describe_op(id),
            error.name(),
            describe_state(state)
        );
        let anomaly = match error {
            ErrorCode::BadVersion => "BadVersion against a matching version",
            ErrorCode::NoNode => "NoNode for an existing node",
            _ => "NodeExists for a missing node",
        };
        self.issue(IssueKind::UnjustifiedError, anomaly, ops, text);
    }

    fn finish(self) -> Timelines {
        self.out
    }
}

fn describe_state(state: &NodeVersion) -> String {
    if state.present {
        format!(
            "at version {} (mzxid {:#x})",
            state.version, state.since_zxid
        )
    } else {
        "absent".to_string()
    }
}

/// The key an unknown-outcome write is claimed under for `path`: the path, or for a
/// sequential create (recorded under its prefix) the prefix.
fn key_of(history: &History, id: OpId, path: PathId) -> PathId {
    let op = &history.ops[id as usize];
    match (op.kind == OpKind::Create && op.args.sequential, op.path) {
        (true, Some(prefix)) => prefix,
        _ => path,
    }
}

/// Paths an op would change if it took effect.
pub fn mutated_paths(op: &Op) -> Vec<PathId> {
    if op.kind == OpKind::Multi {
        let mut paths: Vec<PathId> = op
            .args
            .sub_ops
            .iter()
            .filter(|s| s.kind.is_mutation())
            .map(|s| s.path)
            .collect();
        paths.sort_unstable();
        paths.dedup();
        return paths;
    }
    op.path.into_iter().collect()
}
