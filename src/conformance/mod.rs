//! Conformance: replays a trace recorded from a real ZooKeeper (the golden format of
//! `shared/reference/zk-3.8.0-golden.json`) against zksim, and scores how many steps give exactly
//! what the real server gave.
//!
//! Why: ZooKeeper's recorded behaviour is the specification. Every step's result or error,
//! every stat field, the reply header zxid and the watch events each client received must match.
//! Children are compared as sets (the trace's own rule); whether the raw child order also
//! matches (zksim reproduces Java's hash-set order) is reported on the side.
//!
//! Zxids: each side's are related to its own first created node (`/g`): the trace's through its
//! `base_abs_zxid`, the run's through the zxid its first create got. Epochs are compared only
//! where both sides' epoch structure matches: the initial tree (zxid 0, before any transaction)
//! sits in epoch 0 on a server that never had an election and below the base's epoch on an
//! ensemble, so it is related by the counter alone ([`relate`]). A trace recorded through an
//! ensemble (`base_abs_zxid` in epoch 1 or later) thus scores as one from a standalone server.
//!
//! Two targets share the parsing, the requests, the rendering and the comparison here:
//! - [`Target::Standalone`] ([`standalone`]): the standalone server core, called synchronously;
//! - [`Target::Ensemble`] ([`ensemble`]): a 3-server ensemble on madsim, each trace client a
//!   session of the client library connected to one follower, so every write goes through ZAB
//!   and every reply, event and reconnect through the simulated network (the recording's
//!   second run, through a follower of a real ensemble, gave the same steps).

mod ensemble;
mod standalone;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::proto::{Acl, Code, CreateMode, Op, OpResult, Request, Response, SessionId, Stat, Zxid};

/// A malformed trace (which file, which step, what is wrong), or a target that could not run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    pub file: String,
    pub step: Option<usize>,
    pub problem: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(i) => write!(f, "{}: step {}: {}", self.file, i, self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

impl std::error::Error for TraceError {}

/// One step whose outcome differs from the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub step: usize,
    pub what: String,
    pub expected: Value,
    pub got: Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConformanceReport {
    pub total: usize,
    pub matched: usize,
    pub mismatches: Vec<Mismatch>,
    /// Child lists whose raw (hash-set) order also matched, of those compared.
    pub raw_child_order_matched: usize,
    pub raw_child_order_total: usize,
    /// The ensemble target's hash of everything its servers observed (two runs of one seed
    /// must agree); `None` for the standalone target.
    pub sim_trace_hash: Option<u64>,
}

impl ConformanceReport {
    pub fn all_matched(&self) -> bool {
        self.matched == self.total && self.mismatches.is_empty()
    }

    /// Scores one step: `got` is the rendered outcome, `got_hdr` the reply header zxid relative
    /// to the base (compared only where the recording has one).
    fn score(&mut self, step: &Step, got: Value, got_hdr: Option<i64>) {
        self.total += 1;
        let mut problems = Vec::new();
        if step.op == "children" || step.op == "children2" {
            self.note_raw_child_order(&step.expected, &got);
        }
        if !values_match(&step.expected, &got) {
            problems.push("outcome".to_string());
        }
        if let Some(expected_hdr) = step.hdr_zxid {
            if got_hdr != Some(expected_hdr) {
                problems.push(format!("hdr_zxid expected {expected_hdr} got {got_hdr:?}"));
            }
        }
        if problems.is_empty() {
            self.matched += 1;
        } else {
            self.mismatches.push(Mismatch {
                step: step.index,
                what: format!("{} {} {}: {}", step.client, step.op, step.args, problems.join("; ")),
                expected: step.expected.clone(),
                got,
            });
        }
    }

    fn note_raw_child_order(&mut self, expected: &Value, got: &Value) {
        let raw = |v: &Value| -> Option<Value> {
            let r = v.get("result")?;
            if r.is_array() {
                Some(r.clone())
            } else {
                r.get("children").cloned()
            }
        };
        if let (Some(e), Some(g)) = (raw(expected), raw(got)) {
            self.raw_child_order_total += 1;
            if e == g {
                self.raw_child_order_matched += 1;
            }
        }
    }
}

/// What the trace is replayed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The standalone server core, called synchronously.
    Standalone,
    /// A 3-server ensemble on madsim with this seed; every client talks to one follower.
    Ensemble { seed: u64 },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Standalone => f.write_str("standalone"),
            Target::Ensemble { seed } => write!(f, "ensemble (3 servers, via a follower, seed {seed})"),
        }
    }
}

/// Settings of the recording server that the trace does not state, and the target.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// The golden recording's server granted 30000 ms to a 60000 ms request (step 230), so it
    /// ran with `maxSessionTimeout=30000` rather than the 20 × tickTime default.
    pub max_session_timeout_ms: i32,
    pub target: Target,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions { max_session_timeout_ms: 30_000, target: Target::Standalone }
    }
}

/// Reads and replays a trace file.
pub fn run_file(path: &Path, options: ReplayOptions) -> Result<ConformanceReport, TraceError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| TraceError { file: file.clone(), step: None, problem: format!("cannot read: {e}") })?;
    run_text(&file, &text, options)
}

/// Replays a trace given as text; `file` names it in errors. The whole trace is checked before
/// anything runs, so a malformed one is reported the same way on every target.
pub fn run_text(file: &str, text: &str, options: ReplayOptions) -> Result<ConformanceReport, TraceError> {
    let plan = plan(file, text)?;
    match options.target {
        Target::Standalone => Ok(standalone::replay(&plan, options)),
        Target::Ensemble { seed } => ensemble::replay(file, plan, options, seed),
    }
}

// -------------------------------------------------------------------- parsing

/// A parsed step.
#[derive(Debug, Clone)]
struct Step {
    index: usize,
    client: String,
    op: String,
    args: Value,
    expected: Value,
    hdr_zxid: Option<i64>,
}

/// What a step asks the target to do.
#[derive(Debug, Clone)]
enum Action {
    /// Open a new session for the step's client.
    Connect { requested_timeout_ms: i32 },
    /// Hand over the watch events the client received since its previous `events` step.
    Events,
    /// Send a request on the client's session (`close` is `CloseSession`).
    Request(Request),
}

#[derive(Debug, Clone)]
struct PlannedStep {
    step: Step,
    action: Action,
}

/// A checked trace: every step's action built, every client connected before use.
#[derive(Debug, Clone)]
struct Plan {
    tick_time_ms: i64,
    base_abs_zxid: i64,
    steps: Vec<PlannedStep>,
}

fn plan(file: &str, text: &str) -> Result<Plan, TraceError> {
    let err = |step: Option<usize>, problem: String| TraceError { file: file.to_string(), step, problem };
    let root: Value = serde_json::from_str(text).map_err(|e| err(None, format!("not valid JSON: {e}")))?;
    let meta = root.get("meta").and_then(Value::as_object).ok_or_else(|| err(None, "missing object `meta`".into()))?;
    let tick_time_ms = meta
        .get("tickTime_ms")
        .and_then(Value::as_i64)
        .filter(|t| (1..=i64::from(i32::MAX) / 20).contains(t))
        .ok_or_else(|| err(None, "`meta.tickTime_ms` must be a positive integer".into()))?;
    let base_abs_zxid = meta
        .get("base_abs_zxid")
        .and_then(Value::as_i64)
        .filter(|z| *z >= 0)
        .ok_or_else(|| err(None, "`meta.base_abs_zxid` must be a non-negative integer".into()))?;
    let raw_steps = root.get("steps").and_then(Value::as_array).ok_or_else(|| err(None, "missing array `steps`".into()))?;
    let mut steps = Vec::with_capacity(raw_steps.len());
    let mut connected = std::collections::BTreeSet::new();
    for (pos, raw) in raw_steps.iter().enumerate() {
        let mut step = parse_step(file, pos, raw)?;
        relate_recorded(&mut step, base_abs_zxid);
        let action = StepArgs { file, step: &step }.action()?;
        if let Action::Connect { .. } = action {
            connected.insert(step.client.clone());
        } else if !connected.contains(&step.client) {
            return Err(err(Some(step.index), format!("client {} used before it connected", step.client)));
        }
        steps.push(PlannedStep { step, action });
    }
    Ok(Plan { tick_time_ms, base_abs_zxid, steps })
}

fn parse_step(file: &str, pos: usize, raw: &Value) -> Result<Step, TraceError> {
    let index = raw.get("i").and_then(Value::as_u64).map(|i| i as usize).unwrap_or(pos);
    let err = |problem: String| TraceError { file: file.to_string(), step: Some(index), problem };
    let field = |name: &str| -> Result<String, TraceError> {
        raw.get(name).and_then(Value::as_str).map(String::from).ok_or_else(|| err(format!("missing string field `{name}`")))
    };
    let client = field("client")?;
    let op = field("op")?;
    let expected = match (raw.get("result"), raw.get("error")) {
        (Some(r), None) => json!({ "result": r }),
        (None, Some(e)) => json!({ "error": e }),
        (Some(_), Some(_)) => return Err(err("has both `result` and `error`".into())),
        (None, None) => return Err(err("has neither `result` nor `error`".into())),
    };
    let hdr_zxid = match raw.get("hdr_zxid") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| err("`hdr_zxid` must be an integer or null".into()))?),
    };
    let args = raw.get("args").cloned().unwrap_or_else(|| json!({}));
    Ok(Step { index, client, op, args, expected, hdr_zxid })
}

// -------------------------------------------------------------------- zxids

/// The low 32 bits of a zxid are a counter within the epoch in the high 32 bits.
const COUNTER_MASK: i64 = 0xffff_ffff;

/// An absolute zxid as the comparison sees it: its distance from `base`, the czxid of the
/// side's first created node. The initial tree (zxid 0, or the base epoch's zxid 0, which is
/// where a recording shifted whole into that epoch puts it) is related by the counter alone,
/// since its epoch depends on how the server came up, not on what the steps did.
fn relate(zxid: i64, base: i64) -> i64 {
    let epoch_start = base & !COUNTER_MASK;
    if zxid == 0 || zxid == epoch_start {
        -(base & COUNTER_MASK)
    } else {
        zxid.saturating_sub(base)
    }
}

/// Rewrites a step's recorded zxids (relative to the trace's `base_abs_zxid`) in [`relate`]'s
/// terms, so both sides are compared alike.
fn relate_recorded(step: &mut Step, base: i64) {
    relate_stat_zxids(&mut step.expected, base);
    step.hdr_zxid = step.hdr_zxid.map(|rel| relate(rel.saturating_add(base), base));
}

fn relate_stat_zxids(value: &mut Value, base: i64) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), v.as_i64()) {
                    ("czxid" | "mzxid" | "pzxid", Some(rel)) => *v = json!(relate(rel.saturating_add(base), base)),
                    _ => relate_stat_zxids(v, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| relate_stat_zxids(v, base)),
        _ => {}
    }
}

// -------------------------------------------------------------------- requests

/// Builds a step's action from its arguments; errors name the file and the step.
struct StepArgs<'a> {
    file: &'a str,
    step: &'a Step,
}

impl StepArgs<'_> {
    fn error(&self, problem: impl Into<String>) -> TraceError {
        TraceError { file: self.file.to_string(), step: Some(self.step.index), problem: problem.into() }
    }

    fn action(&self) -> Result<Action, TraceError> {
        match self.step.op.as_str() {
            "connect" => {
                let requested = self
                    .step
                    .args
                    .get("requested_timeout_ms")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| self.error("connect needs integer `requested_timeout_ms`"))?;
                let requested_timeout_ms = i32::try_from(requested)
                    .ok()
                    .filter(|t| *t > 0)
                    .ok_or_else(|| self.error(format!("`requested_timeout_ms` must be between 1 and {}, got {requested}", i32::MAX)))?;
                Ok(Action::Connect { requested_timeout_ms })
            }
            "events" => Ok(Action::Events),
            _ => self.request().map(Action::Request),
        }
    }

    fn request(&self) -> Result<Request, TraceError> {
        let a = &self.step.args;
        let path = || self.str_arg(a, "path");
        let flag = |name: &str| a.get(name).and_then(Value::as_bool).unwrap_or(false);
        let version = || self.int_arg(a.get("version")).ok_or_else(|| self.error("missing integer `version`"));
        Ok(match self.step.op.as_str() {
            "create" | "create2" => Request::Create {
                path: path()?,
                data: self.data_arg(a.get("data"))?,
                acl: Acl::open_unsafe(),
                mode: CreateMode::from_bools(flag("ephemeral"), flag("sequence")),
                ttl_ms: -1,
                with_stat: self.step.op == "create2",
            },
            "get" => Request::GetData { path: path()?, watch: flag("watch") },
            "exists" => Request::Exists { path: path()?, watch: flag("watch") },
            "children" | "children2" => Request::GetChildren {
                path: path()?,
                watch: flag("watch"),
                with_stat: flag("include_data") || self.step.op == "children2",
            },
            "set" => Request::SetData { path: path()?, data: self.data_arg(a.get("data"))?, version: version()? },
            "delete" => Request::Delete { path: path()?, version: version()? },
            "sync" => Request::Sync { path: path()? },
            "get_acls" => Request::GetAcl { path: path()? },
            "set_acls" => Request::SetAcl { path: path()?, acl: self.acl_arg(a.get("acls"))?, version: version()? },
            "multi" => {
                let ops = a.get("ops").and_then(Value::as_array).ok_or_else(|| self.error("multi needs array `ops`"))?;
                Request::Multi { ops: ops.iter().map(|op| self.multi_op(op)).collect::<Result<_, _>>()? }
            }
            "close" => Request::CloseSession,
            other => return Err(self.error(format!("unknown op `{other}`"))),
        })
    }

    fn str_arg(&self, args: &Value, name: &str) -> Result<String, TraceError> {
        args.get(name).and_then(Value::as_str).map(String::from).ok_or_else(|| self.error(format!("missing string `{name}`")))
    }

    /// A version: an integer that fits ZooKeeper's `int`.
    fn int_arg(&self, value: Option<&Value>) -> Option<i32> {
        value.and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok())
    }

    /// Data is a string, or `{"bytes_len": N}` for large payloads.
    fn data_arg(&self, value: Option<&Value>) -> Result<Vec<u8>, TraceError> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            Some(v) => match v.get("bytes_len").and_then(Value::as_u64) {
                Some(n) if n <= 64 << 20 => Ok(vec![b'x'; n as usize]),
                _ => Err(self.error(format!("data must be a string or {{\"bytes_len\": N}} (N up to 64 MiB), got {v}"))),
            },
        }
    }

    fn acl_arg(&self, value: Option<&Value>) -> Result<Vec<Acl>, TraceError> {
        match value {
            Some(Value::String(name)) => match name.as_str() {
                "OPEN_ACL_UNSAFE" => Ok(Acl::open_unsafe()),
                "READ_ACL_UNSAFE" => Ok(Acl::read_unsafe()),
                "CREATOR_ALL_ACL" => Ok(Acl::creator_all()),
                other => Err(self.error(format!("unknown ACL name `{other}`"))),
            },
            Some(Value::Array(entries)) => entries
                .iter()
                .map(|e| {
                    let perms = e.get("perms").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok());
                    let scheme = e.get("scheme").and_then(Value::as_str);
                    let id = e.get("id").and_then(Value::as_str);
                    match (perms, scheme, id) {
                        (Some(p), Some(s), Some(i)) => Ok(Acl::new(p, s, i)),
                        _ => Err(self.error(format!("ACL entry needs perms, scheme, id: {e}"))),
                    }
                })
                .collect(),
            _ => Err(self.error("`acls` must be an ACL name or a list")),
        }
    }

    fn multi_op(&self, op: &Value) -> Result<Op, TraceError> {
        let parts = op.as_array().filter(|p| p.len() >= 2).ok_or_else(|| self.error(format!("multi op must be [kind, path, ...]: {op}")))?;
        let kind = parts[0].as_str().unwrap_or("");
        let path = parts[1].as_str().ok_or_else(|| self.error(format!("multi op path must be a string: {op}")))?.to_string();
        let int_at = |i: usize| self.int_arg(parts.get(i)).ok_or_else(|| self.error(format!("multi op needs an integer at position {i}: {op}")));
        let bool_at = |i: usize| parts.get(i).and_then(Value::as_bool).unwrap_or(false);
        Ok(match kind {
            "create" => Op::Create {
                path,
                data: self.data_arg(parts.get(2))?,
                acl: Acl::open_unsafe(),
                mode: CreateMode::from_bools(bool_at(3), bool_at(4)),
                ttl_ms: -1,
                with_stat: false,
            },
            "set" => Op::SetData { path, data: self.data_arg(parts.get(2))?, version: int_at(3)? },
            "check" => Op::Check { path, version: int_at(2)? },
            "delete" => Op::Delete { path, version: int_at(2)? },
            other => return Err(self.error(format!("unknown multi op kind `{other}`"))),
        })
    }
}

// -------------------------------------------------------------------- rendering

/// Renders what a target returned in the trace's terms: zxids [`relate`]d to the run's first
/// created node, session ids by client name, kazoo's shapes for results and errors.
struct Renderer {
    /// The absolute zxid of the first node created on this target; until a create succeeds,
    /// where it is expected to be (see [`Renderer::new`]).
    base_abs_zxid: Zxid,
    base_known: bool,
    names: BTreeMap<SessionId, String>,
}

impl Renderer {
    /// `before_first_step`: the target's zxid before the trace starts; the first node is expected
    /// as many transactions later as the recording's was into its epoch.
    fn new(before_first_step: Zxid, recorded_base_abs_zxid: Zxid) -> Renderer {
        let expected = before_first_step + (recorded_base_abs_zxid & COUNTER_MASK);
        Renderer { base_abs_zxid: expected, base_known: false, names: BTreeMap::new() }
    }

    fn rel(&self, zxid: Zxid) -> i64 {
        relate(zxid, self.base_abs_zxid)
    }

    /// Takes the run's base from its first successful create (its reply zxid is the czxid).
    fn observe_reply(&mut self, zxid: Zxid, result: &Result<Response, Code>) {
        let created = match result {
            Ok(Response::Create { .. }) => true,
            Ok(Response::Multi { results }) => results.iter().any(|r| matches!(r, OpResult::Create { .. })),
            _ => false,
        };
        if created && !self.base_known {
            self.base_abs_zxid = zxid;
            self.base_known = true;
        }
    }

    fn connected(&mut self, client: &str, session: SessionId, negotiated_timeout_ms: i32) -> Value {
        self.names.insert(session, client.to_string());
        json!({ "result": { "negotiated_timeout_ms": negotiated_timeout_ms } })
    }

    fn events(events: &[crate::proto::WatchedEvent]) -> Value {
        json!({ "result": events.iter().map(|e| json!([e.event_type.name(), e.path])).collect::<Vec<_>>() })
    }

    fn stat(&self, stat: &Stat) -> Value {
        let owner = if stat.ephemeral_owner == 0 {
            json!(0)
        } else {
            self.names.get(&stat.ephemeral_owner).map_or(json!(stat.ephemeral_owner), |n| json!(n))
        };
        json!({
            "czxid": self.rel(stat.czxid), "mzxid": self.rel(stat.mzxid), "pzxid": self.rel(stat.pzxid),
            "version": stat.version, "cversion": stat.cversion, "aversion": stat.aversion,
            "ephemeralOwner": owner, "dataLength": stat.data_length, "numChildren": stat.num_children,
            "mtime_eq_ctime": stat.mtime == stat.ctime,
        })
    }

    fn error(code: Code) -> Value {
        json!({ "class": code.kazoo_class(), "code": code.int_value() })
    }

    fn outcome(&self, step: &Step, request: &Request, result: Result<Response, Code>) -> Value {
        let response = match result {
            Err(Code::NoNode) if step.op == "exists" => return json!({ "result": null }),
            Err(code) => return json!({ "error": Self::error(code) }),
            Ok(r) => r,
        };
        let data_json = |data: &[u8]| json!(String::from_utf8_lossy(data));
        let result = match (step.op.as_str(), response) {
            ("create", Response::Create { path, .. }) => json!(path),
            ("create2", Response::Create { path, stat }) => json!({ "data": path, "stat": self.stat(&stat.unwrap_or_default()) }),
            ("get", Response::GetData { data, stat }) => json!({ "data": data_json(&data), "stat": self.stat(&stat) }),
            ("exists", Response::Exists { stat }) => json!({ "stat": self.stat(&stat) }),
            ("set", Response::SetData { stat }) | ("set_acls", Response::SetAcl { stat }) => json!({ "stat": self.stat(&stat) }),
            ("delete", Response::Delete) => json!(true),
            ("children", Response::GetChildren { children, stat: None }) => json!(children),
            ("children" | "children2", Response::GetChildren { children, stat: Some(stat) }) => {
                let mut sorted = children.clone();
                sorted.sort();
                json!({ "children": children, "sorted": sorted, "stat": self.stat(&stat) })
            }
            ("sync", Response::Sync { path }) => json!(path),
            ("get_acls", Response::GetAcl { acl, stat }) => json!({
                "acls": acl.iter().map(|a| json!({ "perms": a.perms, "scheme": a.id.scheme, "id": a.id.id })).collect::<Vec<_>>(),
                "stat": self.stat(&stat),
            }),
            ("multi", Response::Multi { results }) => json!(results.iter().map(|r| self.op_result(r)).collect::<Vec<_>>()),
            ("close", Response::Empty) => json!("closed"),
            (op, other) => json!({ "unexpected_response": format!("{op}: {other:?} for {request:?}") }),
        };
        json!({ "result": result })
    }

    fn op_result(&self, r: &OpResult) -> Value {
        match r {
            OpResult::Create { path, stat: None } => json!(path),
            OpResult::Create { path, stat: Some(stat) } => json!({ "data": path, "stat": self.stat(stat) }),
            OpResult::SetData { stat } => json!({ "stat": self.stat(stat) }),
            OpResult::Delete | OpResult::Check => json!(true),
            OpResult::Error { code } => Self::error(*code),
            OpResult::GetData { data, stat } => json!({ "data": String::from_utf8_lossy(data), "stat": self.stat(stat) }),
            OpResult::GetChildren { children } => json!(children),
        }
    }
}

/// What a target could not produce (no reply, no connection): never equal to a recording.
fn harness_failure(problem: impl Into<String>) -> Value {
    json!({ "harness_failure": problem.into() })
}

// -------------------------------------------------------------------- comparison

/// Structural equality with the trace's comparison rules: children as sets, large data by length.
fn values_match(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => objects_match(e, g),
        (Value::Array(e), Value::Array(g)) => {
            if e.iter().all(Value::is_string) && g.iter().all(Value::is_string) {
                let mut a: Vec<&str> = e.iter().filter_map(Value::as_str).collect();
                let mut b: Vec<&str> = g.iter().filter_map(Value::as_str).collect();
                a.sort_unstable();
                b.sort_unstable();
                return a == b;
            }
            e.len() == g.len() && e.iter().zip(g).all(|(x, y)| values_match(x, y))
        }
        _ => expected == got,
    }
}

fn objects_match(e: &Map<String, Value>, g: &Map<String, Value>) -> bool {
    if let Some(len) = e.get("bytes_len").and_then(Value::as_u64) {
        return g.get("bytes_len").and_then(Value::as_u64) == Some(len);
    }
    e.len() == g.len()
        && e.iter().all(|(k, ev)| {
            let Some(gv) = g.get(k) else { return false };
            // Large data is recorded as {"bytes_len": N}; zksim renders the bytes.
            if let (Some(len), Some(s)) = (ev.get("bytes_len").and_then(Value::as_u64), gv.as_str()) {
                return s.len() as u64 == len;
            }
            values_match(ev, gv)
        })
}
