//! The in-memory history every parser produces and every check reads.
//!
//! Why a separate in-memory model: four input formats (zksim JSONL, real-ZooKeeper JSONL,
//! Jepsen log text, Jepsen EDN) must be checked by one set of checks, and a million-op
//! history must fit comfortably in memory. So paths and sessions are interned to small
//! integers, rarely used fields live behind a `Box`, and the op's position in `History::ops`
//! is its identity (`OpId`).

use std::collections::BTreeMap;

/// ZooKeeper transaction id (`epoch << 32 | counter`); Java `long`.
pub type Zxid = i64;
/// Index of an op in `History::ops`.
pub type OpId = u32;
/// Interned path (`History::paths`).
pub type PathId = u32;
/// Interned session id (`History::sessions`).
pub type SessionId = u32;

/// What the client learned about an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The op took effect and the client saw the reply.
    Ok,
    /// The op certainly did not take effect (an error reply such as BadVersion or NoNode).
    Fail,
    /// Indeterminate (Jepsen `:info`, e.g. ConnectionLoss on a write): it may or may not
    /// take effect, at any time after its invocation.
    Unknown,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The ZooKeeper API call (or register-style shorthand) an op made.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Create,
    Delete,
    Exists,
    GetData,
    SetData,
    GetChildren,
    Multi,
    Sync,
    /// Plain read: getData served by the local server.
    Read,
    /// sync followed by getData, recorded as one op.
    SyncRead,
    /// A multi's version check (`Op.check`), only as a sub-op.
    Check,
    /// Unconditional setData (version -1).
    Write,
    /// Conditional setData (version = `args.expected_version`).
    Cas,
    /// Jepsen-style compare-and-set on values (`[from to]`), no versions.
    CasValue,
    CloseSession,
    LockAcquire,
    LockRelease,
    /// A write to a resource protected by a fencing token (`args.token`).
    FencedWrite,
    /// The lock recipe's `exists(predecessor, watch)` that found the node: a read of another
    /// session's ephemeral, judged by `ephemerals` only (its creator's create may be missing
    /// from the history: a session that ended mid-create never learned its node's name).
    LockWatch,
    /// `multiRead`: several reads answered at once (`args.ops`, results in `result.ops`).
    MultiRead,
    /// `addWatch`: a persistent (or persistent-recursive: `args.mode`) watch on `path`.
    AddWatch,
    Other(String),
}

impl OpKind {
    pub fn parse(name: &str) -> OpKind {
        match name {
            "create" | "create2" => OpKind::Create,
            "delete" => OpKind::Delete,
            "exists" => OpKind::Exists,
            "get_data" | "get" | "getData" => OpKind::GetData,
            "set_data" | "set" | "setData" => OpKind::SetData,
            "get_children" | "children" | "children2" | "getChildren" => OpKind::GetChildren,
            "multi" => OpKind::Multi,
            "sync" => OpKind::Sync,
            "read" => OpKind::Read,
            "sync_read" => OpKind::SyncRead,
            "write" => OpKind::Write,
            "cas" => OpKind::Cas,
            "cas_value" => OpKind::CasValue,
            "close" | "close_session" => OpKind::CloseSession,
            "lock_acquire" => OpKind::LockAcquire,
            "lock_release" => OpKind::LockRelease,
            "fenced_write" => OpKind::FencedWrite,
            "lock_watch" => OpKind::LockWatch,
            "multi_read" | "multiRead" => OpKind::MultiRead,
            "add_watch" | "addWatch" => OpKind::AddWatch,
            "check" => OpKind::Check,
            other => OpKind::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            OpKind::Create => "create",
            OpKind::Delete => "delete",
            OpKind::Exists => "exists",
            OpKind::GetData => "get_data",
            OpKind::SetData => "set_data",
            OpKind::GetChildren => "get_children",
            OpKind::Multi => "multi",
            OpKind::Sync => "sync",
            OpKind::Read => "read",
            OpKind::SyncRead => "sync_read",
            OpKind::Write => "write",
            OpKind::Cas => "cas",
            OpKind::CasValue => "cas_value",
            OpKind::CloseSession => "close_session",
            OpKind::LockAcquire => "lock_acquire",
            OpKind::LockRelease => "lock_release",
            OpKind::FencedWrite => "fenced_write",
            OpKind::LockWatch => "lock_watch",
            OpKind::MultiRead => "multi_read",
            OpKind::AddWatch => "add_watch",
            OpKind::Check => "check",
            OpKind::Other(name) => name,
        }
    }

    /// A recipe-level op (the lock recipe's acquire and release, a write to a fenced resource):
    /// many ZooKeeper requests or none, so not one request in a session's FIFO order.
    pub fn is_recipe(&self) -> bool {
        matches!(self, OpKind::LockAcquire | OpKind::LockRelease | OpKind::FencedWrite | OpKind::LockWatch)
    }

    /// setData in any of its spellings.
    pub fn is_set_data(&self) -> bool {
        matches!(self, OpKind::SetData | OpKind::Write | OpKind::Cas)
    }

    /// Changes the data tree when it succeeds (and takes a zxid in ZooKeeper).
    pub fn is_mutation(&self) -> bool {
        matches!(
            self,
            OpKind::Create
                | OpKind::Delete
                | OpKind::SetData
                | OpKind::Write
                | OpKind::Cas
                | OpKind::Multi
        )
    }

    /// Returns the state of one node (stat and/or data) in its reply.
    pub fn is_node_read(&self) -> bool {
        matches!(
            self,
            OpKind::Exists | OpKind::GetData | OpKind::Read | OpKind::SyncRead
        )
    }
}

/// ZooKeeper error codes the checks reason about (KeeperException.Code names).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    NoNode,
    NodeExists,
    BadVersion,
    NotEmpty,
    ConnectionLoss,
    OperationTimeout,
    SessionExpired,
    SessionMoved,
    RuntimeInconsistency,
    TimedOut,
    Other(String),
}

impl ErrorCode {
    /// Accepts ZooKeeper code names ("BadVersion"), kazoo class names ("BadVersionError"),
    /// numeric codes ("-103") and Jepsen's ":timed-out".
    pub fn parse(text: &str) -> ErrorCode {
        let trimmed = text.trim_start_matches(':');
        let base = trimmed.strip_suffix("Error").unwrap_or(trimmed);
        let base = base.strip_suffix("Exception").unwrap_or(base);
        match base {
            "NoNode" | "-101" => ErrorCode::NoNode,
            "NodeExists" | "-110" => ErrorCode::NodeExists,
            "BadVersion" | "-103" => ErrorCode::BadVersion,
            "NotEmpty" | "-111" => ErrorCode::NotEmpty,
            "ConnectionLoss" | "ConnectionLost" | "-4" => ErrorCode::ConnectionLoss,
            "OperationTimeout" | "-7" => ErrorCode::OperationTimeout,
            "SessionExpired" | "-112" => ErrorCode::SessionExpired,
            "SessionMoved" | "-118" => ErrorCode::SessionMoved,
            "RuntimeInconsistency" | "-2" => ErrorCode::RuntimeInconsistency,
            "timed-out" => ErrorCode::TimedOut,
            _ => ErrorCode::Other(text.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            ErrorCode::NoNode => "NoNode",
            ErrorCode::NodeExists => "NodeExists",
            ErrorCode::BadVersion => "BadVersion",
            ErrorCode::NotEmpty => "NotEmpty",
            ErrorCode::ConnectionLoss => "ConnectionLoss",
            ErrorCode::OperationTimeout => "OperationTimeout",
            ErrorCode::SessionExpired => "SessionExpired",
            ErrorCode::SessionMoved => "SessionMoved",
            ErrorCode::RuntimeInconsistency => "RuntimeInconsistency",
            ErrorCode::TimedOut => "timed-out",
            ErrorCode::Other(text) => text,
        }
    }
}

/// What the op asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpArgs {
    /// Data to write (setData/create/write/cas), as UTF-8 text; `None` = no data / nil.
    pub value: Option<String>,
    /// Expected version for setData/delete/check (-1 matches anything).
    pub expected_version: Option<i32>,
    /// Jepsen cas: the value the register must hold.
    pub expected_value: Option<String>,
    pub ephemeral: bool,
    pub sequential: bool,
    /// The read left a watch on the path.
    pub watch: bool,
    /// Fencing token presented to a protected resource.
    pub token: Option<i64>,
    /// Sub-ops of a multi.
    pub sub_ops: Vec<SubOp>,
    /// `add_watch`: the mode.
    pub watch_mode: Option<WatchMode>,
    /// `create`: a container (`CreateMode.CONTAINER`) or a TTL node (`ttl_ms`).
    pub container: bool,
    pub ttl_ms: Option<i64>,
}

/// `AddWatchMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WatchMode {
    Persistent,
    PersistentRecursive,
}

impl WatchMode {
    pub fn parse(text: &str) -> Option<WatchMode> {
        match text {
            "persistent" | "PERSISTENT" => Some(WatchMode::Persistent),
            "persistent_recursive" | "PERSISTENT_RECURSIVE" => Some(WatchMode::PersistentRecursive),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WatchMode::Persistent => "persistent",
            WatchMode::PersistentRecursive => "persistent_recursive",
        }
    }
}

/// One op inside a multi (all-or-nothing under one zxid).
#[derive(Clone, Debug, PartialEq)]
pub struct SubOp {
    pub kind: OpKind,
    pub path: PathId,
    pub value: Option<String>,
    pub expected_version: Option<i32>,
}

/// What the reply said. Fields are `None` when the reply did not carry them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpResult {
    pub value: Option<String>,
    pub version: Option<i32>,
    pub mzxid: Option<Zxid>,
    pub czxid: Option<Zxid>,
    pub pzxid: Option<Zxid>,
    /// `exists`: whether the node was there. Reads that returned a stat imply `Some(true)`.
    pub exists: Option<bool>,
    pub ephemeral_owner: Option<SessionId>,
    /// Fencing token granted (lock_acquire: the lock node's czxid).
    pub token: Option<i64>,
    pub extra: Option<Box<ResultExtra>>,
}

/// Rarely present reply parts, boxed to keep `Op` small.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultExtra {
    pub children: Option<Vec<String>>,
    pub created_path: Option<String>,
    /// Stat fields the register checks do not need.
    pub cversion: Option<i32>,
    pub num_children: Option<i32>,
    /// multi / multi_read: one result per sub-op.
    pub sub_results: Vec<SubResult>,
}

/// One sub-op's result in a multi or multi_read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubResult {
    pub error: Option<ErrorCode>,
    pub result: OpResult,
}

/// One operation: invocation, completion, and what the client learned.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// 1-based line of the input file the op came from (its completion line for Jepsen logs).
    pub line: u32,
    /// Jepsen process: a fresh one after an indeterminate op.
    pub process: i64,
    /// The client (thread/connection owner) that issued it.
    pub client: i64,
    pub session: Option<SessionId>,
    pub server: Option<String>,
    pub kind: OpKind,
    pub path: Option<PathId>,
    pub args: OpArgs,
    pub invoke_ns: u64,
    /// When the client saw the outcome; `u64::MAX` if it never did.
    pub complete_ns: u64,
    pub outcome: Outcome,
    pub error: Option<ErrorCode>,
    /// The zxid in the reply header, if recorded.
    pub zxid: Option<Zxid>,
    pub result: OpResult,
    /// Submission order within the session, if recorded (pipelined clients).
    pub seq: Option<u64>,
    /// Delivery order of the reply among the session's replies, events and state changes.
    pub arrival: Option<u64>,
}

impl Op {
    /// The zxid this op's own transaction took, if the history says: the reply header zxid
    /// of a mutation, else the mzxid a successful setData/create returned.
    pub fn txn_zxid(&self) -> Option<Zxid> {
        if !self.kind.is_mutation() {
            return None;
        }
        if self.zxid.is_some() {
            return self.zxid;
        }
        if self.outcome == Outcome::Ok
            && matches!(
                self.kind,
                OpKind::Create | OpKind::SetData | OpKind::Write | OpKind::Cas
            )
        {
            return self.result.mzxid;
        }
        None
    }

    /// Expected version of a setData (-1 = any).
    pub fn set_data_version(&self) -> i32 {
        match self.kind {
            OpKind::Write => -1,
            _ => self.args.expected_version.unwrap_or(-1),
        }
    }

    /// Latest time the op can have taken effect: its completion, or never-bounded if unknown.
    pub fn effect_deadline_ns(&self) -> u64 {
        match self.outcome {
            Outcome::Unknown => u64::MAX,
            _ => self.complete_ns,
        }
    }
}

/// A node's state as the data tree holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    pub value: Option<String>,
    pub version: i32,
    pub mzxid: Zxid,
    pub czxid: Option<Zxid>,
}

/// A directory's children as a stat and `getChildren` describe them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildrenState {
    pub children: Vec<String>,
    pub pzxid: Zxid,
    pub cversion: i32,
}

/// A watch notification a client received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub line: u32,
    pub client: i64,
    pub session: Option<SessionId>,
    pub t_ns: u64,
    /// NodeCreated, NodeDeleted, NodeDataChanged, NodeChildrenChanged.
    pub event_type: String,
    pub path: PathId,
    pub zxid: Option<Zxid>,
    /// Delivery order within the session, if recorded.
    pub arrival: Option<u64>,
}

/// A session/connection state change (zksim `session` lines, ZooKeeper-JSONL `state` lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    pub line: u32,
    pub client: i64,
    pub session: Option<SessionId>,
    pub t_ns: u64,
    /// connected, disconnected, expired, closed (lower case).
    pub state: String,
    pub zxid: Option<Zxid>,
    /// Delivery order within the session, if recorded.
    pub arrival: Option<u64>,
    /// Recorded from the ensemble's commit of the closeSession txn, not from the client.
    pub by_ensemble: bool,
}

impl SessionEvent {
    /// The session is gone for good: its ephemerals must be deleted.
    pub fn ends_session(&self) -> bool {
        matches!(self.state.as_str(), "expired" | "closed")
    }
}

/// A fault the nemesis injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NemesisEvent {
    pub line: u32,
    pub t_ns: u64,
    pub action: String,
    pub target: Option<String>,
    /// The record's `detail` (sides of a partition, the fault point it fired at, ...).
    pub detail: Option<String>,
}

/// A server event the simulator recorded (`server` lines): what the server lanes draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerEvent {
    pub line: u32,
    pub record: super::record::ServerRecord,
}

/// A replica's state at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaFinal {
    pub zxid: Option<Zxid>,
    pub digest: Option<String>,
    pub mode: Option<String>,
}

/// The `final` line: what the ensemble holds once the run is over.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinalState {
    pub line: u32,
    /// Final state of each recorded path; `None` = the node does not exist.
    pub nodes: BTreeMap<PathId, Option<NodeState>>,
    pub replicas: BTreeMap<String, ReplicaFinal>,
}

/// Input format of a history file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zksim,
    ZkJsonl,
    JepsenLog,
    JepsenEdn,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Zksim => "zksim",
            Format::ZkJsonl => "zk-jsonl",
            Format::JepsenLog => "jepsen-log",
            Format::JepsenEdn => "jepsen-edn",
        }
    }

    /// Zxids and ZooKeeper stats are recorded (so the near-linear checks apply).
    pub fn has_zxids(self) -> bool {
        matches!(self, Format::Zksim | Format::ZkJsonl)
    }

    /// The system under test claims linearizable reads (Jepsen register tests do;
    /// ZooKeeper does not: plain reads are only sequentially consistent).
    pub fn reads_claim_linearizable(self) -> bool {
        matches!(self, Format::JepsenLog | Format::JepsenEdn)
    }
}

/// String interner with deterministic ids (first-seen order). `ids` is only looked up, never
/// iterated, so its hasher (Fx: fast on the short paths interned per record) leaks no order.
#[derive(Clone, Default)]
pub struct Interner {
    names: Vec<String>,
    ids: rustc_hash::FxHashMap<String, u32>,
}

/// The names in id order: `ids` is their index, and its hash order differs between two equal
/// interners.
impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner").field("names", &self.names).finish_non_exhaustive()
    }
}

impl Interner {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 names");
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A whole recorded run.
#[derive(Clone, Debug)]
pub struct History {
    /// Where it was read from (for messages).
    pub source: String,
    pub format: Format,
    pub paths: Interner,
    pub sessions: Interner,
    /// Initial state of the recorded paths (absent paths are not listed).
    pub init: BTreeMap<PathId, NodeState>,
    /// Initial child lists of the directories whose children are replayed.
    pub init_children: BTreeMap<PathId, ChildrenState>,
    /// The meta line as recorded, for the report.
    pub meta: serde_json::Value,
    pub ops: Vec<Op>,
    pub events: Vec<WatchEvent>,
    pub session_events: Vec<SessionEvent>,
    pub nemesis: Vec<NemesisEvent>,
    /// Server events (zksim histories from a simulation; empty elsewhere).
    pub server_events: Vec<ServerEvent>,
    pub final_state: Option<FinalState>,
}

impl History {
    pub fn new(source: &str, format: Format) -> History {
        History {
            source: source.to_string(),
            format,
            paths: Interner::default(),
            sessions: Interner::default(),
            init: BTreeMap::new(),
            init_children: BTreeMap::new(),
            meta: serde_json::Value::Null,
            ops: Vec::new(),
            events: Vec::new(),
            session_events: Vec::new(),
            nemesis: Vec::new(),
            server_events: Vec::new(),
            final_state: None,
        }
    }

    pub fn path_name(&self, path: Option<PathId>) -> &str {
        path.map(|id| self.paths.name(id)).unwrap_or("-")
    }

    pub fn session_name(&self, session: Option<SessionId>) -> &str {
        session.map(|id| self.sessions.name(id)).unwrap_or("-")
    }

    /// One-line human description of an op, e.g. `#12 client 3 set_data /h/k0 "v" -> ok zxid 0x..`.
    pub fn describe_op(&self, id: OpId) -> String {
        let op = &self.ops[id as usize];
        let mut text = format!(
            "#{} (line {}) client {} {} {}",
            id,
            op.line,
            op.client,
            op.kind.name(),
            self.path_name(op.path)
        );
        describe_args(&mut text, op);
        text.push_str(&format!(" -> {}", op.outcome.name()));
        if let Some(error) = &op.error {
            text.push_str(&format!(" {}", error.name()));
        }
        describe_result(&mut text, op);
        text
    }
}

fn describe_args(text: &mut String, op: &Op) {
    if let Some(expected) = &op.args.expected_value {
        text.push_str(&format!(" from {:?}", expected));
    }
    if let Some(value) = &op.args.value {
        text.push_str(&format!(" {:?}", value));
    }
    if let Some(version) = op.args.expected_version {
        text.push_str(&format!(" expecting version {}", version));
    }
    if let Some(token) = op.args.token {
        text.push_str(&format!(" token {}", token));
    }
}

fn describe_result(text: &mut String, op: &Op) {
    let result = &op.result;
    if result.exists == Some(false) {
        text.push_str(" (no node)");
    }
    if op.kind.is_node_read() {
        if let Some(value) = &result.value {
            text.push_str(&format!(" value {:?}", value));
        } else if op.outcome == Outcome::Ok
            && result.exists != Some(false)
            && result.version.is_none()
        {
            text.push_str(" value nil");
        }
    }
    if let Some(version) = result.version {
        text.push_str(&format!(" version {}", version));
    }
    if let Some(mzxid) = result.mzxid {
        text.push_str(&format!(" mzxid {:#x}", mzxid));
    }
    if let Some(token) = result.token {
        text.push_str(&format!(" token {}", token));
    }
    if let Some(zxid) = op.zxid {
        text.push_str(&format!(" zxid {:#x}", zxid));
    }
}
