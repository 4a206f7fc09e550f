//! Replay of child lists: each parent's children, pzxid and cversion at every zxid, rebuilt
//! from the per-path replay (`timeline`): a child's absent→present state change is its
//! creation, present→absent its deletion, at that state's zxid.
//!
//! ZooKeeper's rules (3.8, `DataTree.createNode` / `deleteNode`, `DataNode.copyStat`): a
//! parent stores a child-*creation* counter (the next sequential suffix); a stat reports
//! `cversion = 2 × stored − numChildren` (creations plus deletions); `pzxid` is the zxid of the
//! last child creation or deletion, or the parent's own creation. A parent created anew starts
//! with no children, counter 0.
//!
//! Why a walk and not stored states: a directory of thousands of children changing thousands
//! of times would hold millions of names; the checks ask their questions sorted by zxid and
//! get the state as the walk passes.
//!
//! What cannot be replayed is marked, never guessed: a parent's list is uncertain from the
//! first zxid an unknown-outcome create or delete of one of its children could have taken
//! (anything after the writes acknowledged before that op was invoked), and from the creation
//! of an ephemeral child whose session ended at an unrecorded zxid.

use std::collections::{BTreeMap, BTreeSet};

use super::timeline::{mutated_paths, transition, Timelines, Transition, Writer};
use crate::history::{History, OpId, OpKind, Outcome, PathId, Zxid};

/// What happens to a parent's child list at one zxid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The parent itself is created: no children, counter 0, pzxid = this zxid.
    ParentCreated,
    /// The parent was created by a write placed at no zxid (before this one): no children,
    /// counter 0, its pzxid unknown until a child changes.
    ParentCreatedHidden,
    Added(PathId),
    Removed(PathId),
    /// The parent is deleted (its children were deleted first).
    ParentDeleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub zxid: Zxid,
    pub kind: ChangeKind,
    pub writer: Writer,
}

/// A child that an unknown-outcome op may have created or deleted (from `from` on): a
/// name, or any name with a sequential prefix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unsure {
    pub from: Zxid,
    pub name: String,
    pub sequential: bool,
}

/// One parent's replay.
#[derive(Clone, Debug, Default)]
pub struct ParentReplay {
    /// In zxid order (parent creation first, deletion last at one zxid).
    pub changes: Vec<Change>,
    /// Child changes from this zxid on are not all known (`Zxid::MAX`: all known): pzxid and
    /// cversion are judged only before it.
    pub uncertain_from: Zxid,
    /// The children unknown-outcome ops may have changed, by `from`.
    pub unsure: Vec<Unsure>,
    /// The parent exists before the history starts.
    pub initially_present: bool,
    /// Its children then (`None`: not recorded, so unknown until it is created anew).
    pub init: Option<crate::history::ChildrenState>,
}

/// Every parent's replay.
#[derive(Clone, Debug, Default)]
pub struct ChildReplay {
    pub parents: BTreeMap<PathId, ParentReplay>,
}

/// The parent's state where the walk stands.
#[derive(Clone, Debug)]
pub struct ChildState {
    pub present: bool,
    /// The child list is known (recorded at the start, or the parent was created since).
    pub known: bool,
    pub names: BTreeSet<String>,
    /// Children created since the counter started (the next sequential suffix).
    pub stored_cversion: i64,
    pub pzxid: Zxid,
    /// The walk stands at or past `uncertain_from`: pzxid and cversion are not known.
    pub uncertain: bool,
    /// Children that may or may not be there (unknown-outcome creates and deletes so far).
    pub unsure_names: BTreeSet<String>,
    /// Sequential prefixes an unknown-outcome create may have added a child with.
    pub unsure_prefixes: BTreeSet<String>,
    /// zxid of the next change after the query point (`Zxid::MAX`: none).
    pub next_change: Zxid,
    /// The parent's creation was placed at no zxid and no child changed since: pzxid unknown.
    pub pzxid_unknown: bool,
    /// The writer of the last change applied (for messages).
    pub last_writer: Option<Writer>,
}

impl ChildState {
    /// What a stat reports: creations plus deletions.
    pub fn reported_cversion(&self) -> i64 {
        2 * self.stored_cversion - self.names.len() as i64
    }

    /// pzxid, cversion and counters can be judged: the list is known, and certain.
    pub fn judgeable(&self) -> bool {
        self.known && !self.uncertain && !self.pzxid_unknown
    }

    /// A listed name the replay cannot rule out: there, or possibly added by an unknown op.
    pub fn may_list(&self, name: &str) -> bool {
        self.names.contains(name) || self.unsure_names.contains(name) || self.unsure_prefixes.iter().any(|p| is_sequential_of(name, p))
    }

    /// A replayed child a list may leave out (possibly deleted by an unknown op).
    pub fn may_omit(&self, name: &str) -> bool {
        self.unsure_names.contains(name)
    }
}

/// The last path component.
pub fn child_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The parent path (`None` for `/`).
pub fn parent_path(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

impl ChildReplay {
    /// Replays every parent's children from the write order; `zxid_floor_at(t_ns)` is the
    /// highest zxid acknowledged before `t_ns` (`Context::zxid_floor_at`).
    pub fn build(history: &History, timelines: &Timelines, zxid_floor_at: &dyn Fn(u64) -> Option<Zxid>) -> ChildReplay {
        let parent_of = |path: PathId| parent_path(history.paths.name(path)).and_then(|p| history.paths.get(p));
        let mut found: Vec<(PathId, Change)> = Vec::new();
        for (&path, timeline) in &timelines.paths {
            for i in 1..timeline.states.len() {
                let (zxid, writer) = (timeline.states[i].since_zxid, timeline.states[i].writer);
                let (before, after) = (timeline.states[i - 1].present, timeline.states[i].present);
                let (created, deleted) = match transition(history, path, &timeline.states, i) {
                    Some(Transition::Created) => (ChangeKind::Added(path), ChangeKind::ParentCreated),
                    Some(Transition::Deleted) => (ChangeKind::Removed(path), ChangeKind::ParentDeleted),
                    Some(Transition::DataChanged) if !before && after => {
                        found.push((path, Change { zxid, kind: ChangeKind::ParentCreatedHidden, writer }));
                        continue;
                    }
                    _ => continue,
                };
                if let Some(parent) = parent_of(path) {
                    found.push((parent, Change { zxid, kind: created, writer }));
                }
                // The same transition, seen as the path's own life as a parent.
                found.push((path, Change { zxid, kind: deleted, writer }));
            }
        }
        let mut parents: BTreeMap<PathId, ParentReplay> = BTreeMap::new();
        for &(parent, _) in &found {
            parents.entry(parent).or_insert_with(|| new_parent(history, parent));
        }
        for &parent in history.init_children.keys() {
            parents.entry(parent).or_insert_with(|| new_parent(history, parent));
        }
        for (parent, change) in found {
            parents.get_mut(&parent).expect("inserted above").changes.push(change);
        }
        for (&parent, replay) in parents.iter_mut() {
            if let Some(timeline) = timelines.paths.get(&parent) {
                replay.initially_present = timeline.states.first().is_some_and(|s| s.present) || replay.init.is_some();
            }
            replay.changes.sort_unstable();
        }
        mark_uncertain(history, timelines, zxid_floor_at, &mut parents);
        ChildReplay { parents }
    }

    /// Walks `parent`'s replay, answering `queries` (zxid, tag) in zxid order: `answer` sees
    /// the state after every change at or before the query's zxid.
    pub fn walk<Q: Copy>(&self, history: &History, parent: PathId, queries: &mut [(Zxid, Q)], mut answer: impl FnMut(Q, &ChildState)) {
        let Some(replay) = self.parents.get(&parent) else { return };
        queries.sort_by_key(|q| q.0);
        let mut state = initial_state(replay);
        let mut next = 0;
        let mut next_unsure = 0;
        for &(zxid, tag) in queries.iter() {
            while next < replay.changes.len() && replay.changes[next].zxid <= zxid {
                apply(history, &mut state, &replay.changes[next]);
                next += 1;
            }
            while next_unsure < replay.unsure.len() && replay.unsure[next_unsure].from <= zxid {
                let unsure = &replay.unsure[next_unsure];
                match unsure.sequential {
                    true => state.unsure_prefixes.insert(unsure.name.clone()),
                    false => state.unsure_names.insert(unsure.name.clone()),
                };
                next_unsure += 1;
            }
            state.uncertain = zxid >= replay.uncertain_from;
            state.next_change = replay.changes.get(next).map_or(Zxid::MAX, |c| c.zxid);
            answer(tag, &state);
        }
    }

    /// zxids at which `parent`'s children changed (creation or deletion of a child), known ones.
    pub fn child_change_zxids(&self, parent: PathId) -> Vec<Zxid> {
        self.parents
            .get(&parent)
            .map(|r| r.changes.iter().filter(|c| matches!(c.kind, ChangeKind::Added(_) | ChangeKind::Removed(_))).map(|c| c.zxid).collect())
            .unwrap_or_default()
    }

    pub fn uncertain_from(&self, parent: PathId) -> Zxid {
        self.parents.get(&parent).map_or(Zxid::MAX, |r| r.uncertain_from)
    }
}

fn new_parent(history: &History, parent: PathId) -> ParentReplay {
    ParentReplay {
        changes: Vec::new(),
        uncertain_from: Zxid::MAX,
        unsure: Vec::new(),
        // A parent the history never mentions exists (it has children) with an unknown list.
        initially_present: true,
        init: history.init_children.get(&parent).cloned(),
    }
}

fn initial_state(replay: &ParentReplay) -> ChildState {
    let (known, names, stored, pzxid) = match (&replay.init, replay.initially_present) {
        (Some(init), _) => {
            let names: BTreeSet<String> = init.children.iter().cloned().collect();
            let stored = (init.cversion as i64 + names.len() as i64) / 2;
            (true, names, stored, init.pzxid)
        }
        (None, true) => (false, BTreeSet::new(), 0, Zxid::MIN),
        (None, false) => (true, BTreeSet::new(), 0, Zxid::MIN),
    };
    ChildState {
        present: replay.initially_present || replay.init.is_some(),
        known,
        names,
        stored_cversion: stored,
        pzxid,
        uncertain: false,
        unsure_names: BTreeSet::new(),
        unsure_prefixes: BTreeSet::new(),
        next_change: Zxid::MAX,
        pzxid_unknown: false,
        last_writer: None,
    }
}

/// `name` is `prefix` followed by a ten-digit sequence number.
fn is_sequential_of(name: &str, prefix: &str) -> bool {
    name.len() == prefix.len() + 10 && name.starts_with(prefix) && name[prefix.len()..].bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

fn apply(history: &History, state: &mut ChildState, change: &Change) {
    state.last_writer = Some(change.writer);
    match change.kind {
        ChangeKind::ParentCreated | ChangeKind::ParentCreatedHidden => {
            state.present = true;
            state.known = true;
            state.names.clear();
            state.stored_cversion = 0;
            state.pzxid = change.zxid;
            state.pzxid_unknown = change.kind == ChangeKind::ParentCreatedHidden;
        }
        ChangeKind::ParentDeleted => {
            state.present = false;
            state.names.clear();
        }
        ChangeKind::Added(child) => {
            state.pzxid_unknown = false;
            state.pzxid = state.pzxid.max(change.zxid);
            state.stored_cversion += 1;
            state.names.insert(child_name(history.paths.name(child)).to_string());
        }
        ChangeKind::Removed(child) => {
            state.pzxid_unknown = false;
            state.pzxid = state.pzxid.max(change.zxid);
            state.names.remove(child_name(history.paths.name(child)));
        }
    }
}

/// Every parent whose children some unknown-outcome create or delete may have changed, from
/// the first zxid that write could have taken; and parents of ephemerals whose session ended
/// at an unrecorded zxid, from the ephemeral's creation.
fn mark_uncertain(history: &History, timelines: &Timelines, zxid_floor_at: &dyn Fn(u64) -> Option<Zxid>, parents: &mut BTreeMap<PathId, ParentReplay>) {
    let mut proven: BTreeSet<(OpId, PathId)> = BTreeSet::new();
    for (&path, timeline) in &timelines.paths {
        for state in &timeline.states {
            if let Writer::Inferred(id) = state.writer {
                proven.insert((id, path));
            }
        }
    }
    let mut mark = |path: &str, from: Zxid, sequential: bool| {
        let Some(parent) = parent_path(path).and_then(|p| history.paths.get(p)) else { return };
        let replay = parents.entry(parent).or_insert_with(|| new_parent(history, parent));
        replay.uncertain_from = replay.uncertain_from.min(from);
        replay.unsure.push(Unsure { from, name: child_name(path).to_string(), sequential });
    };
    for (id, op) in history.ops.iter().enumerate() {
        if op.outcome != Outcome::Unknown || !op.kind.is_mutation() {
            continue;
        }
        let from = zxid_floor_at(op.invoke_ns).map_or(Zxid::MIN, |z| z.saturating_add(1));
        for (path, sequential) in changed_children(op) {
            if !proven.contains(&(id as OpId, path)) {
                mark(history.paths.name(path), from, sequential);
            }
        }
    }
    for &path in &timelines.uncertain_paths {
        let created = timelines.paths.get(&path).and_then(|t| t.states.iter().find(|s| s.present)).map_or(Zxid::MIN, |s| s.since_zxid);
        mark(history.paths.name(path), created, false);
    }
    for replay in parents.values_mut() {
        replay.unsure.sort();
    }
}

/// Paths an op would create or delete, and whether the name is a sequential prefix (the
/// created node's name is the prefix and a counter).
fn changed_children(op: &crate::history::Op) -> Vec<(PathId, bool)> {
    if op.kind == OpKind::Multi {
        return op.args.sub_ops.iter().filter(|s| matches!(s.kind, OpKind::Create | OpKind::Delete)).map(|s| (s.path, false)).collect();
    }
    match op.kind {
        OpKind::Create => mutated_paths(op).into_iter().map(|p| (p, op.args.sequential)).collect(),
        OpKind::Delete => mutated_paths(op).into_iter().map(|p| (p, false)).collect(),
        _ => Vec::new(),
    }
}
