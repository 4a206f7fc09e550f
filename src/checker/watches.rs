//! `watches`: what a session is told about the changes it watches, and when.
//!
//! Source: ZooKeeper Programmer's Guide, "ZooKeeper Watches": "a client will see a watch event
//! for a znode it is watching before seeing the new data that corresponds to that znode";
//! "watches are one time triggers"; "watches are ordered with respect to other events, other
//! watches, and asynchronous replies"; "Persistent, Recursive Watches" (3.6: they stay and fire
//! for every change; recursive ones for the subtree, without NodeChildrenChanged); ZooKeeper
//! paper §2.3. ZooKeeper 3.8 sends no zxid with an event, so the checks place events through
//! the replay (`timeline`, `children`).
//!
//! Per session, replies, events and state changes are merged in delivery order (`arrival`
//! when recorded, else time with events first at equal times). A reply is evidence that its
//! server had applied every txn up to its reply zxid (and up to the zxid of any state or child
//! list it showed): ZooKeeper applies txns in zxid order and sends an event on the same
//! connection when it applies the change. So:
//! - a one-time watch left by a read is triggered by the first known change after the state
//!   the read saw; a reply with evidence at or past that change before the event arrived is a
//!   violation ("change seen before watch event"). (An unknown-outcome write could trigger it
//!   earlier — the evidence bar only rises, so this stays sound.)
//! - an event needs a watch that it fires — a one-time watch fires once — or a persistent one
//!   ("watch event without a watch"); a one-time watch's event needs a change after the state
//!   its read saw ("watch event without a change"), where every change of that path is known.
//! - a persistent watch reports every change it covers while its connection lives: each reply
//!   in a connection needs as many events per (path, type) as there were known changes since
//!   the watch was (re-)registered on that connection up to its evidence ("persistent watch
//!   missed a change"). After a reconnect, changes up to the connection's first reply are not
//!   required (ZooKeeper re-registers persistent watches without replaying what was missed).
//! - where every change of the path is known, each event's zxid is known (the change it
//!   reports); a session's events come in zxid order ("watch events out of zxid order").

use std::collections::{BTreeMap, BTreeSet};

use super::context::Context;
use super::report::CheckReport;
use super::timeline::Observed;
use super::CheckOptions;
use crate::history::{Op, OpId, OpKind, Outcome, PathId, SessionId, WatchMode, Zxid};

pub const NAME: &str = "watches";
const SOURCE: &str = "Programmer's Guide, ZooKeeper Watches (ordering, one-time triggers, persistent/recursive watches); ZooKeeper paper §2.3";

/// Event types, as the history names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum EventType {
    Created,
    Deleted,
    DataChanged,
    ChildrenChanged,
}

impl EventType {
    fn parse(name: &str) -> Option<EventType> {
        match name {
            "NodeCreated" => Some(EventType::Created),
            "NodeDeleted" => Some(EventType::Deleted),
            "NodeDataChanged" => Some(EventType::DataChanged),
            "NodeChildrenChanged" => Some(EventType::ChildrenChanged),
            _ => None,
        }
    }
}

/// A one-time watch: a data watch (node present), an exist watch (absent), a child watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum OneTime {
    Data,
    Exist,
    Child,
}

impl OneTime {
    /// `ZKWatchManager.materialize`: which watches an event type fires.
    fn fired_by(self, t: EventType) -> bool {
        match self {
            OneTime::Data | OneTime::Exist => matches!(t, EventType::Created | EventType::DataChanged | EventType::Deleted),
            OneTime::Child => matches!(t, EventType::ChildrenChanged | EventType::Deleted),
        }
    }
}

/// An armed one-time watch.
#[derive(Clone, Copy, Debug)]
struct Armed {
    op: OpId,
    /// The first known change after the state the read saw (`None`: none known).
    trigger: Option<Zxid>,
    /// The read's state could be placed (so "no change" can be judged).
    placed: bool,
    interval: usize,
    /// Not registered on the server on this connection (see `child_watches_dormant_under_recursive`).
    dormant: bool,
}

/// A persistent watch and the zxid after which this connection must report changes.
#[derive(Clone, Copy, Debug)]
struct Persistent {
    path: PathId,
    recursive: bool,
    /// Registered in this interval at this zxid (the add_watch reply's).
    registered: (usize, Zxid),
    /// ZOOKEEPER-4466 (3.8: one mode per watcher and path in each of the data and child watch
    /// managers): a one-time data/exist watch the session sets on the same path turns the data
    /// half of this watch into that one-time watch (a child watch: the child half), on the
    /// server, until a reconnect's SetWatches registers it again.
    data_downgraded: bool,
    child_downgraded: bool,
}

/// One change a watch can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Change {
    zxid: Zxid,
    path: PathId,
    event: EventType,
}

/// The known changes, and from which zxid each path's data or children are not all known.
struct Changes {
    /// Every known change, zxid order.
    all: Vec<Change>,
    /// Per (path, type): the zxids of its known changes, ascending.
    by_key: BTreeMap<(PathId, EventType), Vec<Zxid>>,
    data_uncertain_from: BTreeMap<PathId, Zxid>,
}

impl Changes {
    fn build(context: &Context) -> Changes {
        let history = context.history;
        let timelines = context.timelines();
        let mut all = Vec::new();
        for (&path, timeline) in &timelines.paths {
            for i in 1..timeline.states.len() {
                let event = match super::timeline::transition(history, path, &timeline.states, i) {
                    Some(super::timeline::Transition::Created) => EventType::Created,
                    Some(super::timeline::Transition::DataChanged) => EventType::DataChanged,
                    Some(super::timeline::Transition::Deleted) => EventType::Deleted,
                    None => continue,
                };
                all.push(Change { zxid: timeline.states[i].since_zxid, path, event });
            }
        }
        let replay = context.children();
        for &parent in replay.parents.keys() {
            for zxid in replay.child_change_zxids(parent) {
                all.push(Change { zxid, path: parent, event: EventType::ChildrenChanged });
            }
        }
        all.sort_unstable();
        let mut by_key: BTreeMap<(PathId, EventType), Vec<Zxid>> = BTreeMap::new();
        for c in &all {
            by_key.entry((c.path, c.event)).or_default().push(c.zxid);
        }
        let mut data_uncertain_from: BTreeMap<PathId, Zxid> = BTreeMap::new();
        let proven: BTreeSet<OpId> = timelines.paths.values().flat_map(|t| t.states.iter().filter_map(|s| match s.writer {
            super::timeline::Writer::Inferred(id) => Some(id),
            _ => None,
        })).collect();
        for (id, op) in history.ops.iter().enumerate() {
            if op.outcome == Outcome::Unknown && op.kind.is_mutation() && !proven.contains(&(id as OpId)) {
                let from = context.zxid_floor_at(op.invoke_ns).map_or(Zxid::MIN, |z| z.saturating_add(1));
                for path in super::timeline::mutated_paths(op) {
                    let entry = data_uncertain_from.entry(path).or_insert(from);
                    *entry = (*entry).min(from);
                }
            }
        }
        for &path in &timelines.uncertain_paths {
            data_uncertain_from.insert(path, Zxid::MIN);
        }
        Changes { all, by_key, data_uncertain_from }
    }

    /// From which zxid changes of this kind on `path` may be missing.
    fn uncertain_from(&self, context: &Context, path: PathId, event: EventType) -> Zxid {
        match event {
            EventType::ChildrenChanged => context.children().uncertain_from(path),
            _ => self.data_uncertain_from.get(&path).copied().unwrap_or(Zxid::MAX),
        }
    }

    /// The first known change of `path` of one of `events` after `zxid`.
    fn next_after(&self, path: PathId, events: &[EventType], zxid: Zxid) -> Option<Zxid> {
        events
            .iter()
            .filter_map(|&e| {
                let zs = self.by_key.get(&(path, e))?;
                zs.get(zs.partition_point(|&z| z <= zxid)).copied()
            })
            .min()
    }
}

/// Something a session was handed.
#[derive(Clone, Copy, Debug)]
enum Arrival {
    Reply(OpId),
    Event(usize),
    /// A state line: connected (true) or any other.
    Connected,
    Disconnected,
    Ended,
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    let history = context.history;
    let watching = history.ops.iter().filter(|op| (op.args.watch && !op.kind.is_recipe()) || op.kind == OpKind::AddWatch).count();
    if watching == 0 {
        return report.not_applicable("no reads left watches");
    }
    let changes = Changes::build(context);
    let mut tally = Tally::default();
    for (session, arrivals) in arrivals_by_session(context) {
        let mut walk = SessionWalk::new(context, &changes, session);
        for arrival in arrivals {
            walk.step(arrival, &mut report, &mut tally);
        }
    }
    report.finish(format!(
        "{watching} watches set ({} persistent), {} watch events ({} placed at a zxid); {} replies checked against armed watches",
        tally.persistent, history.events.len(), tally.placed, tally.replies
    ))
}

#[derive(Default)]
struct Tally {
    persistent: usize,
    placed: usize,
    replies: usize,
}

fn arrivals_by_session(context: &Context) -> BTreeMap<SessionId, Vec<Arrival>> {
    let history = context.history;
    // (arrival or time, order at equal times: events and states before replies, file order)
    let mut keyed: BTreeMap<SessionId, Vec<(Option<u64>, u64, u8, u32, Arrival)>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if let (Some(session), false) = (op.session, op.outcome == Outcome::Unknown) {
            keyed.entry(session).or_default().push((op.arrival, op.complete_ns, 1, id as u32, Arrival::Reply(id as OpId)));
        }
    }
    for (i, event) in history.events.iter().enumerate() {
        if let Some(session) = event.session {
            keyed.entry(session).or_default().push((event.arrival, event.t_ns, 0, i as u32, Arrival::Event(i)));
        }
    }
    for (i, event) in history.session_events.iter().enumerate() {
        let Some(session) = event.session.filter(|_| !event.by_ensemble) else { continue };
        let arrival = match event.state.as_str() {
            "connected" => Arrival::Connected,
            "disconnected" => Arrival::Disconnected,
            _ if event.ends_session() => Arrival::Ended,
            _ => continue,
        };
        keyed.entry(session).or_default().push((event.arrival, event.t_ns, 0, i as u32, arrival));
    }
    keyed
        .into_iter()
        .map(|(session, mut items)| {
            if items.iter().all(|i| i.0.is_some()) {
                items.sort_by_key(|i| (i.0, i.3));
            } else {
                items.sort_by_key(|i| (i.1, i.2, i.3));
            }
            (session, items.into_iter().map(|i| i.4).collect())
        })
        .collect()
}

/// One session's walk through its deliveries.
struct SessionWalk<'a, 'h> {
    context: &'a Context<'h>,
    changes: &'a Changes,
    session: SessionId,
    armed: BTreeMap<(PathId, OneTime), Armed>,
    persistent: Vec<Persistent>,
    interval: usize,
    connected: bool,
    /// The interval's first reply zxid (changes after it must be reported).
    interval_start: Option<Zxid>,
    /// Events delivered in this interval per (path, type).
    delivered: BTreeMap<(PathId, EventType), u32>,
    /// Known changes a persistent watch covers, counted so far in this interval.
    expected: BTreeMap<(PathId, EventType), u32>,
    /// Index into `changes.all` of the next change to count in this interval.
    cursor: usize,
    /// The zxid the last placed event reported, and that event.
    last_placed: Option<(Zxid, usize)>,
    /// Per (path, type), the zxid of the last event placed in this interval.
    placed_by_key: BTreeMap<(PathId, EventType), Zxid>,
    /// (path, type) with an event this interval that could not be placed: later ones of that
    /// key cannot be counted from a known change either.
    unplaceable: BTreeSet<(PathId, EventType)>,
    ended: bool,
    missed_reported: BTreeSet<(PathId, EventType)>,
    /// The connection's SetWatches is done (a reply came after it).
    settled: bool,
}

impl<'a, 'h> SessionWalk<'a, 'h> {
    fn new(context: &'a Context<'h>, changes: &'a Changes, session: SessionId) -> SessionWalk<'a, 'h> {
        SessionWalk {
            context,
            changes,
            session,
            armed: BTreeMap::new(),
            persistent: Vec::new(),
            interval: 0,
            connected: true,
            interval_start: None,
            delivered: BTreeMap::new(),
            expected: BTreeMap::new(),
            cursor: 0,
            last_placed: None,
            placed_by_key: BTreeMap::new(),
            unplaceable: BTreeSet::new(),
            ended: false,
            missed_reported: BTreeSet::new(),
            settled: true,
        }
    }

    fn step(&mut self, arrival: Arrival, report: &mut CheckReport, tally: &mut Tally) {
        if self.ended {
            return;
        }
        match arrival {
            Arrival::Connected => self.new_interval(),
            Arrival::Disconnected => self.connected = false,
            Arrival::Ended => {
                self.ended = true;
                self.armed.clear();
                self.persistent.clear();
            }
            Arrival::Event(i) => self.on_event(i, report, tally),
            Arrival::Reply(id) => {
                tally.replies += 1;
                self.on_reply(id, report, tally);
            }
        }
    }

    fn new_interval(&mut self) {
        self.interval += 1;
        for w in &mut self.persistent {
            w.data_downgraded = false;
            w.child_downgraded = false;
        }
        self.settled = false;
        for armed in self.armed.values_mut() {
            armed.dormant = false;
        }
        self.connected = true;
        self.interval_start = None;
        self.delivered.clear();
        self.expected.clear();
        self.placed_by_key.clear();
        self.unplaceable.clear();
        self.last_placed = None;
    }

    /// Child watches a recursive watch of the same path absorbed on the server: they stay in
    /// the client (and in its next SetWatches, which may fire them at once), but report
    /// nothing on this connection.
    fn child_watches_dormant_under_recursive(&mut self) {
        let recursive: BTreeSet<PathId> = self.persistent.iter().filter(|w| w.recursive).map(|w| w.path).collect();
        for ((path, kind), armed) in self.armed.iter_mut() {
            if *kind == OneTime::Child && recursive.contains(path) {
                armed.dormant = true;
            }
        }
    }

    fn history(&self) -> &'h crate::history::History {
        self.context.history
    }

    /// The highest zxid a reply proves its server had applied.
    fn evidence(&self, op: &Op) -> Option<Zxid> {
        let mut best = op.zxid;
        if op.outcome == Outcome::Ok {
            if let Some(Observed::State(i)) = self.context.timelines().observe(self.history(), op).map(|(_, o)| o) {
                let path = op.path.expect("observed ops have a path");
                let since = self.context.timelines().path(path).expect("replayed").states[i].since_zxid;
                best = best.max(Some(since));
            }
            if op.kind == OpKind::GetChildren {
                best = best.max(op.result.pzxid);
            }
            best = best.max(op.txn_zxid());
        }
        best
    }

    fn on_reply(&mut self, id: OpId, report: &mut CheckReport, tally: &mut Tally) {
        let op = &self.history().ops[id as usize];
        if self.connected && !self.settled {
            // The reconnect's SetWatches came first: it fired the one-time watches whose node
            // changed (those events arrived already), registered the rest, then the persistent
            // ones over them (ZOOKEEPER-4466): a recursive watch on the same path turns a child
            // watch into a recursive one, which never reports NodeChildrenChanged.
            self.settled = true;
            self.child_watches_dormant_under_recursive();
        }
        if self.connected && self.interval_start.is_none() {
            self.interval_start = op.zxid;
            if let Some(start) = op.zxid {
                self.cursor = self.changes.all.partition_point(|c| c.zxid <= start);
            }
        }
        if let Some(evidence) = self.evidence(op) {
            self.changes_before_reply(id, evidence, report);
            if self.connected {
                self.persistent_reported(id, evidence, report);
            }
        }
        self.arm(id, op, tally);
    }

    /// R1: armed one-time watches whose trigger the reply's evidence reached fire first.
    fn changes_before_reply(&mut self, id: OpId, evidence: Zxid, report: &mut CheckReport) {
        let reached: Vec<(PathId, OneTime)> = self.armed.iter().filter(|(_, a)| !a.dormant && a.trigger.is_some_and(|t| t <= evidence)).map(|(k, _)| *k).collect();
        for key in reached {
            let armed = self.armed.remove(&key).expect("listed");
            let history = self.history();
            let text = format!(
                "session {}: {} left a watch on {}, whose first change after what it saw is zxid {:#x}; {} already showed zxid {evidence:#x} before any watch event arrived",
                history.session_name(Some(self.session)),
                history.describe_op(armed.op),
                history.paths.name(key.0),
                armed.trigger.expect("reached"),
                history.describe_op(id)
            );
            report.violation("change seen before watch event", vec![armed.op, id], text);
        }
    }

    /// R3: every known change a persistent watch covers, up to the reply's evidence, was
    /// reported on this connection before the reply.
    fn persistent_reported(&mut self, id: OpId, evidence: Zxid, report: &mut CheckReport) {
        let Some(start) = self.interval_start else { return };
        while let Some(&change) = self.changes.all.get(self.cursor).filter(|c| c.zxid <= evidence) {
            self.cursor += 1;
            if change.zxid <= start || !self.covered(change) {
                continue;
            }
            if change.zxid >= self.changes.uncertain_from(self.context, change.path, change.event) {
                continue;
            }
            let key = (change.path, change.event);
            let expected = {
                let count = self.expected.entry(key).or_default();
                *count += 1;
                *count
            };
            let delivered = self.delivered.get(&key).copied().unwrap_or(0);
            if delivered < expected && self.missed_reported.insert(key) {
                let history = self.history();
                let text = format!(
                    "session {}: a persistent watch covers {} ({:?}), changed {} time(s) on this connection up to zxid {:#x} (last at {:#x}), but only {delivered} event(s) arrived before {}",
                    history.session_name(Some(self.session)),
                    history.paths.name(change.path),
                    change.event,
                    expected,
                    evidence,
                    change.zxid,
                    history.describe_op(id)
                );
                report.violation("persistent watch missed a change", vec![id], text);
            }
        }
    }

    /// Whether a live persistent watch of this session covers the change.
    fn covered(&self, change: Change) -> bool {
        let history = self.history();
        self.persistent.iter().any(|w| {
            let registered_here = w.registered.0 == self.interval;
            if registered_here && change.zxid <= w.registered.1 {
                return false;
            }
            let half_live = match change.event {
                EventType::ChildrenChanged => !w.child_downgraded,
                _ => !w.data_downgraded,
            };
            if !half_live {
                return false;
            }
            if w.path == change.path {
                return !(w.recursive && change.event == EventType::ChildrenChanged);
            }
            w.recursive && change.event != EventType::ChildrenChanged && is_descendant(history.paths.name(change.path), history.paths.name(w.path))
        })
    }

    /// A read with `watch` arms a one-time watch; an `add_watch` a persistent one.
    fn arm(&mut self, id: OpId, op: &Op, tally: &mut Tally) {
        let Some(path) = op.path else { return };
        if op.kind == OpKind::AddWatch && op.outcome == Outcome::Ok {
            let recursive = op.args.watch_mode == Some(WatchMode::PersistentRecursive);
            let zxid = op.zxid.unwrap_or(Zxid::MAX);
            self.persistent.push(Persistent { path, recursive, registered: (self.interval, zxid), data_downgraded: false, child_downgraded: false });
            tally.persistent += 1;
            self.child_watches_dormant_under_recursive();
            return;
        }
        if !op.args.watch || op.kind.is_recipe() || op.outcome != Outcome::Ok {
            return;
        }
        let timelines = self.context.timelines();
        let (kind, trigger, placed) = match op.kind {
            OpKind::GetChildren => {
                let after = op.result.pzxid.or(op.zxid);
                let trigger = after.and_then(|a| self.changes.next_after(path, &[EventType::ChildrenChanged, EventType::Deleted], a));
                (OneTime::Child, trigger, after.is_some())
            }
            _ if op.result.exists == Some(false) => {
                // An exist watch, from the absent state the read saw (placed by its reply zxid).
                let trigger = op.zxid.and_then(|h| self.changes.next_after(path, &[EventType::Created], h));
                (OneTime::Exist, trigger, op.zxid.is_some())
            }
            _ => match timelines.observe(self.history(), op) {
                Some((_, Observed::State(i))) => {
                    let until = timelines.path(path).expect("replayed").until_zxid(i);
                    (OneTime::Data, (until != Zxid::MAX).then_some(until), true)
                }
                _ => (OneTime::Data, None, false),
            },
        };
        for w in self.persistent.iter_mut().filter(|w| w.path == path) {
            match kind {
                OneTime::Child => w.child_downgraded = true,
                OneTime::Data | OneTime::Exist => w.data_downgraded = true,
            }
        }
        let entry = self.armed.entry((path, kind)).or_insert(Armed { op: id, trigger, placed, interval: self.interval, dormant: false });
        // One watcher per session: a second registration before the first fired is the same
        // watch; the earlier trigger stands — unless the server did not hold it (dormant):
        // then it is registered anew, from what this read saw.
        if entry.dormant {
            *entry = Armed { op: id, trigger, placed, interval: self.interval, dormant: false };
        } else if entry.trigger.is_none() || trigger.is_some_and(|t| Some(t) < entry.trigger) {
            *entry = Armed { op: entry.op, trigger: trigger.or(entry.trigger), placed: placed && entry.placed, interval: entry.interval, dormant: false };
        }
    }

    fn on_event(&mut self, index: usize, report: &mut CheckReport, tally: &mut Tally) {
        let history = self.history();
        let event = &history.events[index];
        let Some(t) = EventType::parse(&event.event_type) else { return };
        let path = event.path;
        *self.delivered.entry((path, t)).or_default() += 1;
        let fired: Vec<((PathId, OneTime), Armed)> = self
            .armed
            .iter()
            .filter(|((p, kind), _)| *p == path && kind.fired_by(t))
            .map(|(k, a)| (*k, *a))
            .collect();
        for (key, _) in &fired {
            self.armed.remove(key);
        }
        let persistent = self.covered_by_persistent(path, t);
        if fired.is_empty() && !persistent {
            let text = format!(
                "session {}: {} on {} (line {}) arrived with no watch armed to fire (a one-time watch fires once)",
                history.session_name(Some(self.session)),
                event.event_type,
                history.paths.name(path),
                event.line
            );
            report.violate(super::report::Violation { anomaly: "watch event without a watch", severity: super::report::Severity::Safety, ops: Vec::new(), lines: vec![event.line], explanation: text });
            return;
        }
        let certain = self.changes.uncertain_from(self.context, path, t) == Zxid::MAX;
        let one_time = fired.iter().map(|(_, a)| *a).min_by_key(|a| a.trigger);
        if let Some(armed) = one_time.filter(|a| a.placed && a.trigger.is_none() && certain && !persistent) {
            let text = format!(
                "session {}: {} on {} (line {}) fired the watch {} left, but no change of {} after what it saw is in the history",
                history.session_name(Some(self.session)),
                event.event_type,
                history.paths.name(path),
                event.line,
                history.describe_op(armed.op),
                history.paths.name(path)
            );
            report.violate(super::report::Violation { anomaly: "watch event without a change", severity: super::report::Severity::Safety, ops: vec![armed.op], lines: vec![event.line], explanation: text });
            return;
        }
        // Place the event: a one-time watch armed on this connection reports its trigger;
        // a persistent one the next change of this kind after the last it reported.
        let zxid = match one_time {
            _ if !certain || self.unplaceable.contains(&(path, t)) => None,
            Some(a) if a.interval == self.interval => a.trigger,
            Some(_) => None,
            None => {
                let after = self.placed_by_key.get(&(path, t)).copied().or_else(|| self.persistent_start(path, t));
                after.and_then(|a| self.changes.next_after(path, &[t], a))
            }
        };
        let Some(zxid) = zxid else {
            self.unplaceable.insert((path, t));
            return;
        };
        tally.placed += 1;
        self.placed_by_key.insert((path, t), zxid);
        if let Some((last, last_index)) = self.last_placed.filter(|(last, _)| *last > zxid) {
            let earlier = &history.events[last_index];
            let text = format!(
                "session {}: {} on {} (line {}, the change at zxid {zxid:#x}) arrived after {} on {} (line {}, the change at zxid {last:#x})",
                history.session_name(Some(self.session)),
                event.event_type,
                history.paths.name(path),
                event.line,
                earlier.event_type,
                history.paths.name(earlier.path),
                earlier.line
            );
            report.violate(super::report::Violation { anomaly: "watch events out of zxid order", severity: super::report::Severity::Safety, ops: Vec::new(), lines: vec![earlier.line, event.line], explanation: text });
        }
        if self.last_placed.is_none_or(|(last, _)| zxid >= last) {
            self.last_placed = Some((zxid, index));
        }
    }

    fn covered_by_persistent(&self, path: PathId, t: EventType) -> bool {
        self.covered(Change { zxid: Zxid::MAX, path, event: t })
    }

    /// Where a persistent watch covering (path, type) starts reporting on this connection.
    fn persistent_start(&self, path: PathId, t: EventType) -> Option<Zxid> {
        let history = self.history();
        self.persistent
            .iter()
            .filter(|w| {
                w.path == path && !(w.recursive && t == EventType::ChildrenChanged)
                    || w.recursive && t != EventType::ChildrenChanged && is_descendant(history.paths.name(path), history.paths.name(w.path))
            })
            .map(|w| if w.registered.0 == self.interval { w.registered.1 } else { self.interval_start.unwrap_or(Zxid::MAX) })
            .min()
    }
}

/// `path` is strictly below `ancestor`: `ancestor` is one of `path`'s successive parents
/// (`parent_path`), i.e. the part of `path` before one of its slashes past the first byte, or
/// `/` for an absolute path longer than `/`. One prefix comparison instead of a walk up the
/// path comparing each parent (the check asks it per change and persistent watch).
fn is_descendant(path: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return path.len() > 1 && path.starts_with('/');
    }
    !ancestor.is_empty() && path.len() > ancestor.len() && path.starts_with(ancestor) && path.as_bytes()[ancestor.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use super::is_descendant;
    use crate::checker::children::parent_path;

    /// The definition: `ancestor` is met walking up `path` with `parent_path`.
    fn by_walking(path: &str, ancestor: &str) -> bool {
        let mut p = path;
        while let Some(parent) = parent_path(p) {
            if parent == ancestor {
                return true;
            }
            p = parent;
        }
        false
    }

    #[test]
    fn is_descendant_is_the_walk_up_the_parents() {
        let paths = ["/", "", "/a", "/ab", "/a/b", "/a/b/c", "/a/bc", "/ab/c", "//", "//a", "/a/", "/a//b", "a", "a/b", "a/b/c", "/x/a/b"];
        let mut below = 0;
        for path in paths {
            for ancestor in paths {
                assert_eq!(is_descendant(path, ancestor), by_walking(path, ancestor), "{path:?} below {ancestor:?}");
                below += usize::from(by_walking(path, ancestor));
            }
        }
        assert!(below > 10, "the cases include descendants ({below})");
    }
}
