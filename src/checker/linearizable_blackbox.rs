//! `linearizable-writes-blackbox`: a linearizability search that trusts no zxid.
//!
//! Source: Herlihy & Wing, "Linearizability" (1990); Wing & Gong (1993) search; Lowe,
//! "Testing for linearizability" (2017: memoising (linearized set, state) pairs); Horn & Kroening,
//! P-compositionality (2015: check each key on its own); Porcupine (Athalye) and Knossos
//! (Kingsbury) do the same. ZooKeeper paper §2.3: writes are linearizable.
//!
//! Why: the fast path believes the system's own zxids. A bug that corrupts zxids could hide
//! behind them; this search looks only at invocation/completion times and results. Over
//! ZooKeeper histories it checks the writes (setData, conditional setData, create, delete —
//! plain reads are not linearizable in ZooKeeper); over Jepsen histories, whose systems claim
//! linearizable reads, it includes the reads. A time limit yields "unknown".
//!
//! Semantics: an unknown-outcome op may take effect at any time after its invocation, or
//! never (it returns "at infinity", where linearizing it last is the same as never); a failed
//! op did not take effect, but a failed compare-and-set is an observation that the compare
//! failed (as in Porcupine's etcd model) and a BadVersion reply one that the version differed.

use super::context::Context;
use super::report::CheckReport;
use super::CheckOptions;
use crate::history::{ErrorCode, History, Op, OpId, OpKind, Outcome, PathId};
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

pub const NAME: &str = "linearizable-writes-blackbox";
const SOURCE: &str = "Herlihy & Wing 1990; Wing & Gong 1993 / Lowe 2017 search with P-compositionality (as Porcupine, Knossos); ZooKeeper paper §2.3";

/// Register value: interned per key; `NIL` = no value.
type ValueId = u32;
const NIL: ValueId = 0;

/// State of one register (a ZooKeeper node's data, version and existence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegisterState {
    pub present: bool,
    pub value: ValueId,
    pub version: i32,
}

/// One op as the register model sees it: input and (when known) output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// A read that returned this value (and version, if recorded).
    Read {
        value: ValueId,
        version: Option<i32>,
    },
    /// A read that found no node.
    ReadAbsent,
    /// Unconditional write; `reply_version` is the version the reply reported;
    /// `succeeded` None = unknown outcome (on a missing node it would fail with NoNode).
    Write {
        value: ValueId,
        reply_version: Option<i32>,
        succeeded: Option<bool>,
    },
    /// Compare-and-set on values (Jepsen); `succeeded` None = unknown outcome.
    CasValue {
        from: ValueId,
        to: ValueId,
        succeeded: Option<bool>,
    },
    /// Conditional setData; `succeeded` None = unknown. A failure is BadVersion.
    CasVersion {
        expected: i32,
        value: ValueId,
        succeeded: Option<bool>,
        reply_version: Option<i32>,
    },
    Create {
        value: ValueId,
        succeeded: Option<bool>,
    },
    Delete {
        expected: i32,
        succeeded: Option<bool>,
    },
}

impl RegisterOp {
    /// Looks at versions (compares or reports them).
    pub fn uses_versions(&self) -> bool {
        match *self {
            RegisterOp::Read { version, .. } => version.is_some(),
            RegisterOp::Write { reply_version, .. } => reply_version.is_some(),
            RegisterOp::CasVersion { .. } => true,
            RegisterOp::Delete { expected, .. } => expected != -1,
            RegisterOp::ReadAbsent | RegisterOp::CasValue { .. } | RegisterOp::Create { .. } => {
                false
            }
        }
    }

    /// The register model: the state after the op, or None if its output is impossible here.
    /// Versions are counted only when `versioned` (some op of the history looks at them):
    /// otherwise two orders that leave the same value leave the same state, which keeps the
    /// search's cache effective on plain registers.
    pub fn step(&self, s: RegisterState, versioned: bool) -> Option<RegisterState> {
        let set = |value: ValueId| RegisterState {
            present: true,
            value,
            version: s.version.wrapping_add(versioned as i32),
        };
        let version_ok = |reply: Option<i32>| reply.is_none_or(|r| r == s.version.wrapping_add(1));
        match *self {
            RegisterOp::Read { value, version } => {
                (s.present && s.value == value && version.is_none_or(|v| v == s.version))
                    .then_some(s)
            }
            RegisterOp::ReadAbsent => (!s.present).then_some(s),
            RegisterOp::Write {
                value,
                reply_version,
                succeeded,
            } => match succeeded {
                None => Some(if s.present { set(value) } else { s }),
                _ => (s.present && version_ok(reply_version)).then(|| set(value)),
            },
            RegisterOp::CasValue {
                from,
                to,
                succeeded,
            } => {
                let matches = s.present && s.value == from;
                match succeeded {
                    Some(true) => matches.then(|| set(to)),
                    Some(false) => (!matches).then_some(s),
                    None => Some(if matches { set(to) } else { s }),
                }
            }
            RegisterOp::CasVersion {
                expected,
                value,
                succeeded,
                reply_version,
            } => {
                let matches = s.present && (expected == -1 || s.version == expected);
                match succeeded {
                    Some(true) => (matches && version_ok(reply_version)).then(|| set(value)),
                    Some(false) => (!matches).then_some(s),
                    None => Some(if matches { set(value) } else { s }),
                }
            }
            RegisterOp::Create { value, succeeded } => match (succeeded, s.present) {
                (Some(true), false) | (None, false) => Some(RegisterState {
                    present: true,
                    value,
                    version: 0,
                }),
                (Some(false), true) | (None, true) => Some(s),
                _ => None,
            },
            RegisterOp::Delete {
                expected,
                succeeded,
            } => {
                let matches = s.present && (expected == -1 || s.version == expected);
                let gone = RegisterState {
                    present: false,
                    value: NIL,
                    version: 0,
                };
                match succeeded {
                    Some(true) => matches.then_some(gone),
                    Some(false) => (!matches).then_some(s),
                    None => Some(if matches { gone } else { s }),
                }
            }
        }
    }
}

/// An op with its real-time interval, ready for the search.
#[derive(Clone, Copy, Debug)]
pub struct TimedOp {
    pub id: OpId,
    pub invoke_ns: u64,
    /// `u64::MAX` = never returned (unknown outcome).
    pub return_ns: u64,
    pub op: RegisterOp,
}

/// The result of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchResult {
    Linearizable,
    /// No linearization. `stuck` is the op the deepest partial linearization could not get
    /// past, `depth` how many ops that partial linearization held.
    NotLinearizable {
        stuck: OpId,
        depth: usize,
    },
    TimedOut,
}

/// Doubly linked list of call/return entries (Lowe's "lift"/"unlift").
struct EntryList {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For entry e: the op index, and whether it is the call.
    op_of: Vec<usize>,
    is_call: Vec<bool>,
    /// For a call entry: its return entry.
    return_of: Vec<usize>,
    head: usize,
}

impl EntryList {
    fn new(ops: &[TimedOp]) -> EntryList {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.invoke_ns, false, i));
            events.push((op.return_ns, true, i));
        }
        // Calls before returns at equal times: equal stamps are treated as concurrent.
        events.sort_unstable();
        let n = events.len();
        let head = n;
        let mut list = EntryList {
            next: vec![0; n + 1],
            prev: vec![0; n + 1],
            op_of: vec![0; n],
            is_call: vec![false; n],
            return_of: vec![usize::MAX; n],
            head,
        };
        let mut call_entry = vec![usize::MAX; ops.len()];
        for (e, &(_, is_return, i)) in events.iter().enumerate() {
            list.op_of[e] = i;
            list.is_call[e] = !is_return;
            if is_return {
                list.return_of[call_entry[i]] = e;
            } else {
                call_entry[i] = e;
            }
        }
        // Circular list through the head sentinel.
        let order: Vec<usize> = std::iter::once(head).chain(0..n).collect();
        for w in 0..order.len() {
            let a = order[w];
            let b = order[(w + 1) % order.len()];
            list.next[a] = b;
            list.prev[b] = a;
        }
        list
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        self.prev[n] = e;
    }

    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.return_of[call]);
    }

    fn unlift(&mut self, call: usize) {
        self.relink(self.return_of[call]);
        self.relink(call);
    }
}

/// FxHash-style word hasher: the cache is probed millions of times, SipHash would dominate.
#[derive(Default)]
struct WordHasher(u64);

impl WordHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        for &b in chunks.remainder() {
            self.mix(b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
}

/// The set of linearized ops, as the cache keys it: an exact bitset in a fixed-size array
/// when the partition is small (no allocation per cache probe), else a 128-bit Zobrist hash
/// of the set (per-op random keys XORed in and out), so the cache costs O(1) memory per entry
/// instead of O(n) — a million-op partition would otherwise need terabytes. Two different
/// sets collide with probability 2^-128 per pair: negligible next to hardware faults.
trait OpSet: Clone + Eq + std::hash::Hash {
    fn empty(n: usize) -> Self;
    /// Adds op `i` if absent, removes it if present.
    fn flip(&mut self, i: usize);
}

impl<const W: usize> OpSet for [u64; W] {
    fn empty(n: usize) -> Self {
        assert!(
            n <= W * 64,
            "an op set of {W} words holds at most {} ops",
            W * 64
        );
        [0; W]
    }
    fn flip(&mut self, i: usize) {
        self[i / 64] ^= 1 << (i % 64);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Zobrist(u64, u64);

/// SplitMix64 of (i, lane): deterministic per-op keys.
fn zobrist_key(i: usize, lane: u64) -> u64 {
    let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ lane;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl OpSet for Zobrist {
    fn empty(_n: usize) -> Self {
        Zobrist(0, 0)
    }
    fn flip(&mut self, i: usize) {
        self.0 ^= zobrist_key(i, 0x5151_5151);
        self.1 ^= zobrist_key(i, 0xA3A3_0000_A3A3);
    }
}

/// Wing–Gong–Lowe search over one register's ops.
pub fn search(ops: &[TimedOp], init: RegisterState, deadline: Option<Instant>) -> SearchResult {
    search_recording::<false>(ops, init, deadline, &mut Vec::new())
}

/// The search, also keeping (with `RECORD`) the longest linearizable prefix it found, in
/// linearization order, in `prefix` (Porcupine's partial linearization).
fn search_recording<const RECORD: bool>(
    ops: &[TimedOp],
    init: RegisterState,
    deadline: Option<Instant>,
    prefix: &mut Vec<OpId>,
) -> SearchResult {
    match ops.len() {
        0 => SearchResult::Linearizable,
        1..=64 => search_with::<[u64; 1], RECORD>(ops, init, deadline, prefix),
        65..=128 => search_with::<[u64; 2], RECORD>(ops, init, deadline, prefix),
        129..=256 => search_with::<[u64; 4], RECORD>(ops, init, deadline, prefix),
        257..=512 => search_with::<[u64; 8], RECORD>(ops, init, deadline, prefix),
        _ => search_with::<Zobrist, RECORD>(ops, init, deadline, prefix),
    }
}

/// A non-linearizable key's partial linearization: the longest prefix of its ops that some
/// order explains (in that order) and the op that cannot follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialLinearization {
    pub path: PathId,
    pub prefix: Vec<OpId>,
    pub stuck: OpId,
    /// Ops of the key searched.
    pub ops: usize,
}

/// Searches `path` again and returns its partial linearization if it is not linearizable
/// (None if it is, or the time limit ran out first).
pub fn partial_linearization(history: &History, path: PathId, time_limit: Duration) -> Option<PartialLinearization> {
    let partition = partitions(history).into_iter().find(|p| p.path == path)?;
    let mut prefix = Vec::new();
    match search_recording::<true>(&partition.ops, partition.init, Some(Instant::now() + time_limit), &mut prefix) {
        SearchResult::NotLinearizable { stuck, .. } => Some(PartialLinearization { path, prefix, stuck, ops: partition.ops.len() }),
        _ => None,
    }
}

fn search_with<S: OpSet, const RECORD: bool>(
    ops: &[TimedOp],
    init: RegisterState,
    deadline: Option<Instant>,
    prefix: &mut Vec<OpId>,
) -> SearchResult {
    let mut list = EntryList::new(ops);
    let mut cache: HashSet<(S, RegisterState), BuildHasherDefault<WordHasher>> = HashSet::default();
    // `probe.0` is the linearized set; `probe.1` the state after it (reused to avoid copies).
    let mut probe: (S, RegisterState) = (S::empty(ops.len()), init);
    let mut stack: Vec<(usize, RegisterState)> = Vec::new();
    let mut state = init;
    let mut entry = list.next[list.head];
    let mut best = (0usize, ops[list.op_of[entry]].id);
    let mut steps: u64 = 0;
    let versioned = ops.iter().any(|t| t.op.uses_versions());
    while list.next[list.head] != list.head {
        steps += 1;
        if steps & 0xfff == 0 && deadline.is_some_and(|d| Instant::now() > d) {
            return SearchResult::TimedOut;
        }
        if list.is_call[entry] {
            let i = list.op_of[entry];
            if let Some(after) = ops[i].op.step(state, versioned) {
                probe.0.flip(i);
                probe.1 = after;
                if cache.insert(probe.clone()) {
                    stack.push((entry, state));
                    state = after;
                    list.lift(entry);
                    entry = list.next[list.head];
                    continue;
                }
                probe.0.flip(i);
            }
            entry = list.next[entry];
        } else {
            if stack.len() >= best.0 {
                best = (stack.len(), ops[list.op_of[entry]].id);
                if RECORD {
                    prefix.clear();
                    prefix.extend(stack.iter().map(|&(call, _)| ops[list.op_of[call]].id));
                }
            }
            let Some((call, before)) = stack.pop() else {
                return SearchResult::NotLinearizable {
                    stuck: best.1,
                    depth: best.0,
                };
            };
            probe.0.flip(list.op_of[call]);
            state = before;
            list.unlift(call);
            entry = list.next[call];
        }
    }
    SearchResult::Linearizable
}

/// Per-key inputs for the search, built from a history.
pub struct Partition {
    pub path: PathId,
    pub init: RegisterState,
    pub ops: Vec<TimedOp>,
}

/// Splits a history into per-key register histories (P-compositionality).
pub fn partitions(history: &History) -> Vec<Partition> {
    let include_reads = history.format.reads_claim_linearizable();
    let unmodelled = unmodelled_paths(history);
    let mut values: BTreeMap<PathId, BTreeMap<String, ValueId>> = BTreeMap::new();
    let mut by_path: BTreeMap<PathId, Vec<TimedOp>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        let Some(path) = op.path.filter(|p| !unmodelled.contains(p)) else { continue };
        let interner = values.entry(path).or_default();
        if let Some(register_op) = register_op(op, include_reads, interner) {
            // (max: an in-memory history may not have been validated like a parsed one)
            let return_ns = if op.outcome == Outcome::Unknown {
                u64::MAX
            } else {
                op.complete_ns.max(op.invoke_ns)
            };
            by_path.entry(path).or_default().push(TimedOp {
                id: id as OpId,
                invoke_ns: op.invoke_ns,
                return_ns,
                op: register_op,
            });
        }
    }
    by_path
        .into_iter()
        .map(|(path, ops)| {
            let interner = values.entry(path).or_default();
            let init = initial_state(history, path, interner);
            Partition { path, init, ops }
        })
        .collect()
}

/// Paths whose writes are not all single register ops: written by a multi (not modelled
/// here), or holding an ephemeral (its session's end deletes it with no op). The zxid replay
/// judges them.
/// So are the nodes an unknown-outcome sequential create may have made (its name is not
/// known: the prefix and any counter).
pub fn unmodelled_paths(history: &History) -> std::collections::BTreeSet<PathId> {
    let mut out = std::collections::BTreeSet::new();
    let mut prefixes = std::collections::BTreeSet::new();
    for op in &history.ops {
        match op.kind {
            OpKind::Multi => out.extend(op.args.sub_ops.iter().filter(|s| s.kind.is_mutation()).map(|s| s.path)),
            OpKind::Create if op.args.ephemeral && op.outcome != Outcome::Fail => out.extend(op.path),
            _ => {}
        }
        if op.kind == OpKind::Create && op.args.sequential && op.outcome == Outcome::Unknown {
            prefixes.extend(op.path.map(|p| history.paths.name(p).to_string()));
        }
    }
    if !prefixes.is_empty() {
        for id in 0..history.paths.len() as PathId {
            let name = history.paths.name(id);
            let counted = name.len() > 10 && name[name.len() - 10..].bytes().all(|b| b.is_ascii_digit() || b == b'-');
            if counted && prefixes.contains(&name[..name.len() - 10]) {
                out.insert(id);
            }
        }
    }
    out
}

fn intern(interner: &mut BTreeMap<String, ValueId>, value: Option<&str>) -> ValueId {
    let Some(value) = value else { return NIL };
    let next = interner.len() as ValueId + 1;
    *interner.entry(value.to_string()).or_insert(next)
}

fn initial_state(
    history: &History,
    path: PathId,
    interner: &mut BTreeMap<String, ValueId>,
) -> RegisterState {
    match history.init.get(&path) {
        Some(node) => RegisterState {
            present: true,
            value: intern(interner, node.value.as_deref()),
            version: node.version,
        },
        // Jepsen registers start as nil; ZooKeeper paths not in `init` start absent.
        None if history.format.has_zxids() => RegisterState {
            present: false,
            value: NIL,
            version: 0,
        },
        None => RegisterState {
            present: true,
            value: NIL,
            version: 0,
        },
    }
}

/// Maps a history op to a register op; None = the op does not constrain the register.
fn register_op(
    op: &Op,
    include_reads: bool,
    interner: &mut BTreeMap<String, ValueId>,
) -> Option<RegisterOp> {
    let succeeded = match op.outcome {
        Outcome::Ok => Some(true),
        Outcome::Unknown => None,
        Outcome::Fail => Some(false),
    };
    let value = intern(interner, op.args.value.as_deref());
    match op.kind {
        OpKind::Read | OpKind::GetData | OpKind::SyncRead | OpKind::Exists
            if include_reads && op.outcome == Outcome::Ok =>
        {
            if op.result.exists == Some(false) {
                return Some(RegisterOp::ReadAbsent);
            }
            Some(RegisterOp::Read {
                value: intern(interner, op.result.value.as_deref()),
                version: op.result.version,
            })
        }
        OpKind::Write | OpKind::SetData | OpKind::Cas if op.set_data_version() == -1 => {
            match succeeded {
                Some(false) => None,
                _ => Some(RegisterOp::Write {
                    value,
                    reply_version: op.result.version,
                    succeeded,
                }),
            }
        }
        OpKind::SetData | OpKind::Cas => match succeeded {
            Some(false) if op.error != Some(ErrorCode::BadVersion) => None,
            _ => Some(RegisterOp::CasVersion {
                expected: op.set_data_version(),
                value,
                succeeded,
                reply_version: op.result.version,
            }),
        },
        OpKind::CasValue => Some(RegisterOp::CasValue {
            from: intern(interner, op.args.expected_value.as_deref()),
            to: value,
            succeeded,
        }),
        OpKind::Create => match (succeeded, &op.error) {
            (Some(false), Some(ErrorCode::NodeExists)) | (Some(true), _) | (None, _) => {
                Some(RegisterOp::Create { value, succeeded })
            }
            _ => None,
        },
        OpKind::Delete => match (succeeded, &op.error) {
            (Some(false), Some(ErrorCode::BadVersion | ErrorCode::NoNode))
            | (Some(true), _)
            | (None, _) => Some(RegisterOp::Delete {
                expected: op.args.expected_version.unwrap_or(-1),
                succeeded,
            }),
            _ => None,
        },
        _ => None,
    }
}

pub fn check(context: &Context, options: &CheckOptions) -> CheckReport {
    let history = context.history;
    let mut report = CheckReport::new(NAME, SOURCE);
    if !options.blackbox {
        return report.not_applicable("disabled");
    }
    let scope = if history.format.reads_claim_linearizable() {
        "reads and writes"
    } else {
        "writes"
    };
    let mut checked = 0usize;
    let mut timed_out: Vec<String> = Vec::new();
    for partition in partitions(history) {
        let deadline = Instant::now() + Duration::from_millis(options.time_limit_ms);
        checked += partition.ops.len();
        match search(&partition.ops, partition.init, Some(deadline)) {
            SearchResult::Linearizable => {}
            SearchResult::TimedOut => {
                timed_out.push(history.paths.name(partition.path).to_string())
            }
            SearchResult::NotLinearizable { stuck, depth } => {
                let budget = Duration::from_millis((options.time_limit_ms / 4).clamp(1, 250));
                explain(history, &partition, stuck, depth, budget, &mut report)
            }
        }
    }
    if report.violation_count == 0 && !timed_out.is_empty() {
        return report.unknown(format!(
            "time limit of {} ms reached on {}",
            options.time_limit_ms,
            timed_out.join(", ")
        ));
    }
    report.finish(format!("{checked} ops ({scope}) searched without zxids"))
}

impl RegisterOp {
    /// Changes nothing whatever the state: a read, or a failed conditional op. Removing such
    /// an op from a linearizable history leaves it linearizable.
    pub fn is_observation(&self) -> bool {
        match *self {
            RegisterOp::Read { .. } | RegisterOp::ReadAbsent => true,
            RegisterOp::CasValue { succeeded, .. } | RegisterOp::CasVersion { succeeded, .. } => {
                succeeded == Some(false)
            }
            RegisterOp::Create { succeeded, .. } | RegisterOp::Delete { succeeded, .. } => {
                succeeded == Some(false)
            }
            RegisterOp::Write { .. } => false,
        }
    }
}

/// Drops observations one by one while the rest stays non-linearizable. Sound as a witness:
/// if the full history were linearizable, so would be any of it minus observations.
fn shrink_observations(partition: &Partition, budget: Duration) -> Vec<bool> {
    let deadline = Instant::now() + budget;
    let mut kept = vec![true; partition.ops.len()];
    for i in (0..partition.ops.len()).rev() {
        if !partition.ops[i].op.is_observation() || Instant::now() > deadline {
            continue;
        }
        kept[i] = false;
        let sub: Vec<TimedOp> = partition
            .ops
            .iter()
            .zip(&kept)
            .filter(|(_, &k)| k)
            .map(|(t, _)| *t)
            .collect();
        if !matches!(
            search(&sub, partition.init, Some(deadline)),
            SearchResult::NotLinearizable { .. }
        ) {
            kept[i] = true;
        }
    }
    kept
}

/// The evidence: the observations no order explains, and the writes around each of them
/// (those overlapping it and the last one completed before it).
fn evidence(partition: &Partition, kept: &[bool], stuck: OpId) -> Vec<OpId> {
    const MAX_OPS: usize = 12;
    let observations: Vec<&TimedOp> = partition
        .ops
        .iter()
        .zip(kept)
        .filter(|(t, &k)| k && t.op.is_observation())
        .map(|(t, _)| t)
        .collect();
    let mut ids: Vec<OpId> = observations.iter().map(|t| t.id).collect();
    if ids.is_empty() {
        ids.push(stuck);
    }
    for obs in &observations {
        let writes = partition.ops.iter().filter(|t| !t.op.is_observation());
        let before = writes
            .clone()
            .filter(|t| t.return_ns < obs.invoke_ns)
            .max_by_key(|t| t.return_ns);
        ids.extend(before.map(|t| t.id));
        ids.extend(
            writes
                .filter(|t| t.invoke_ns <= obs.return_ns && t.return_ns >= obs.invoke_ns)
                .map(|t| t.id),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    ids.retain(|id| seen.insert(*id));
    ids.truncate(MAX_OPS);
    ids
}

fn explain(
    history: &History,
    partition: &Partition,
    stuck: OpId,
    depth: usize,
    budget: Duration,
    report: &mut CheckReport,
) {
    let kept = shrink_observations(partition, budget);
    let mut ops = evidence(partition, &kept, stuck);
    // The op that cannot follow the longest linearizable prefix is where the history stops
    // being linearizable: it belongs to the evidence (and dates the violation).
    if !ops.contains(&stuck) {
        ops.push(stuck);
    }
    let observations = kept
        .iter()
        .zip(&partition.ops)
        .filter(|(&k, t)| k && t.op.is_observation())
        .count();
    let text = format!(
        "no order of the {} ops on {} explains every result (the longest consistent prefix holds {} ops and cannot get past {}); even with only {} of the reads/failed compares kept, none exists — see the listed ops",
        partition.ops.len(),
        history.paths.name(partition.path),
        depth,
        history.describe_op(stuck),
        observations
    );
    report.violation("not linearizable", ops, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(id: u32, invoke_ns: u64, return_ns: u64, op: RegisterOp) -> TimedOp {
        TimedOp {
            id,
            invoke_ns,
            return_ns,
            op,
        }
    }

    const INIT: RegisterState = RegisterState {
        present: true,
        value: NIL,
        version: 0,
    };

    #[test]
    fn concurrent_write_and_read_linearize() {
        let ops = [
            timed(
                0,
                0,
                10,
                RegisterOp::Write {
                    value: 1,
                    reply_version: None,
                    succeeded: Some(true),
                },
            ),
            timed(
                1,
                5,
                6,
                RegisterOp::Read {
                    value: 1,
                    version: None,
                },
            ),
        ];
        assert_eq!(search(&ops, INIT, None), SearchResult::Linearizable);
    }

    #[test]
    fn stale_read_after_write_is_caught() {
        let ops = [
            timed(
                0,
                0,
                1,
                RegisterOp::Write {
                    value: 1,
                    reply_version: None,
                    succeeded: Some(true),
                },
            ),
            timed(
                1,
                2,
                3,
                RegisterOp::Read {
                    value: NIL,
                    version: None,
                },
            ),
        ];
        assert!(matches!(
            search(&ops, INIT, None),
            SearchResult::NotLinearizable { stuck: 1, .. }
        ));
    }

    #[test]
    fn unknown_write_may_or_may_not_happen() {
        let w = timed(
            0,
            0,
            u64::MAX,
            RegisterOp::Write {
                value: 1,
                reply_version: None,
                succeeded: None,
            },
        );
        let saw_it = [
            w,
            timed(
                1,
                2,
                3,
                RegisterOp::Read {
                    value: 1,
                    version: None,
                },
            ),
        ];
        let missed_it = [
            w,
            timed(
                1,
                2,
                3,
                RegisterOp::Read {
                    value: NIL,
                    version: None,
                },
            ),
        ];
        assert_eq!(search(&saw_it, INIT, None), SearchResult::Linearizable);
        assert_eq!(search(&missed_it, INIT, None), SearchResult::Linearizable);
    }
}
