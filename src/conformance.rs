//! Conformance: replays a trace recorded from a real ZooKeeper (the golden format of
//! `shared/reference/zk-3.8.0-golden.json`) against zksim's standalone server core, and scores
//! how many steps give exactly what the real server gave.
//!
//! Why: ZooKeeper's recorded behaviour is the specification. Every step's result or error,
//! every stat field, the reply header zxid and the watch events each client received must match.
//! Children are compared as sets (the trace's own rule), and zxids relative to `base_abs_zxid`;
//! whether the raw child order also matches (zksim reproduces Java's hash-set order) is reported
//! on the side.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::proto::{Acl, Code, CreateMode, OpResult, Request, Response, SessionId, Stat, Zxid};
use crate::server::{ServerConfig, ServerOutput, StandaloneServer};

/// A malformed trace: which file, which step, what is wrong.
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

#[derive(Debug, Clone, Default)]
pub struct ConformanceReport {
    pub total: usize,
    pub matched: usize,
    pub mismatches: Vec<Mismatch>,
    /// Child lists whose raw (hash-set) order also matched, of those compared.
    pub raw_child_order_matched: usize,
    pub raw_child_order_total: usize,
}

impl ConformanceReport {
    pub fn all_matched(&self) -> bool {
        self.matched == self.total && self.mismatches.is_empty()
    }
}

/// Settings of the recording server that the trace does not state.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// The golden recording's server granted 30000 ms to a 60000 ms request (step 230), so it
    /// ran with `maxSessionTimeout=30000` rather than the 20 × tickTime default.
    pub max_session_timeout_ms: i32,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions { max_session_timeout_ms: 30_000 }
    }
}

/// The simulated clock at the start of a replay; each step advances it 10 ms.
const START_TIME_MS: i64 = 1_000_000;

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

struct Trace {
    tick_time_ms: i64,
    base_abs_zxid: i64,
    steps: Vec<Step>,
}

fn parse_trace(file: &str, text: &str) -> Result<Trace, TraceError> {
    let err = |step: Option<usize>, problem: String| TraceError { file: file.to_string(), step, problem };
    let root: Value = serde_json::from_str(text).map_err(|e| err(None, format!("not valid JSON: {e}")))?;
    let meta = root.get("meta").and_then(Value::as_object).ok_or_else(|| err(None, "missing object `meta`".into()))?;
    let tick_time_ms = meta
        .get("tickTime_ms")
        .and_then(Value::as_i64)
        .filter(|t| *t > 0)
        .ok_or_else(|| err(None, "`meta.tickTime_ms` must be a positive integer".into()))?;
    let base_abs_zxid = meta
        .get("base_abs_zxid")
        .and_then(Value::as_i64)
        .ok_or_else(|| err(None, "`meta.base_abs_zxid` must be an integer".into()))?;
    let raw_steps = root.get("steps").and_then(Value::as_array).ok_or_else(|| err(None, "missing array `steps`".into()))?;
    let mut steps = Vec::with_capacity(raw_steps.len());
    for (pos, raw) in raw_steps.iter().enumerate() {
        let index = raw.get("i").and_then(Value::as_u64).map(|i| i as usize).unwrap_or(pos);
        let field = |name: &str| -> Result<String, TraceError> {
            raw.get(name)
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| err(Some(index), format!("missing string field `{name}`")))
        };
        let client = field("client")?;
        let op = field("op")?;
        let expected = match (raw.get("result"), raw.get("error")) {
            (Some(r), None) => json!({ "result": r }),
            (None, Some(e)) => json!({ "error": e }),
            (Some(_), Some(_)) => return Err(err(Some(index), "has both `result` and `error`".into())),
            (None, None) => return Err(err(Some(index), "has neither `result` nor `error`".into())),
        };
        let hdr_zxid = match raw.get("hdr_zxid") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| err(Some(index), "`hdr_zxid` must be an integer or null".into()))?),
        };
        let args = raw.get("args").cloned().unwrap_or_else(|| json!({}));
        steps.push(Step { index, client, op, args, expected, hdr_zxid });
    }
    Ok(Trace { tick_time_ms, base_abs_zxid, steps })
}

/// Reads and replays a trace file.
pub fn run_file(path: &Path, options: ReplayOptions) -> Result<ConformanceReport, TraceError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| TraceError { file: file.clone(), step: None, problem: format!("cannot read: {e}") })?;
    run_text(&file, &text, options)
}

/// Replays a trace given as text; `file` names it in errors.
pub fn run_text(file: &str, text: &str, options: ReplayOptions) -> Result<ConformanceReport, TraceError> {
    let trace = parse_trace(file, text)?;
    let mut replay = Replay::new(file, &trace, options);
    for step in &trace.steps {
        replay.run_step(step)?;
    }
    Ok(replay.report)
}

struct ClientState {
    session: SessionId,
    password: [u8; 16],
    events: Vec<Value>,
    next_cxid: i32,
}

struct Replay<'a> {
    file: &'a str,
    base_abs_zxid: i64,
    server: StandaloneServer,
    clients: BTreeMap<String, ClientState>,
    names: BTreeMap<SessionId, String>,
    report: ConformanceReport,
}

impl<'a> Replay<'a> {
    fn new(file: &'a str, trace: &Trace, options: ReplayOptions) -> Replay<'a> {
        let mut config = ServerConfig::new(trace.tick_time_ms);
        config.max_session_timeout_ms = options.max_session_timeout_ms;
        Replay {
            file,
            base_abs_zxid: trace.base_abs_zxid,
            server: StandaloneServer::new(config, START_TIME_MS),
            clients: BTreeMap::new(),
            names: BTreeMap::new(),
            report: ConformanceReport::default(),
        }
    }

    fn error(&self, step: &Step, problem: impl Into<String>) -> TraceError {
        TraceError { file: self.file.to_string(), step: Some(step.index), problem: problem.into() }
    }

    fn now_ms(step: &Step) -> i64 {
        START_TIME_MS + 10 * (step.index as i64 + 1)
    }

    fn run_step(&mut self, step: &Step) -> Result<(), TraceError> {
        self.report.total += 1;
        let (got, got_hdr) = match step.op.as_str() {
            "connect" => (self.connect(step)?, None),
            "events" => {
                let client = self.client_mut(step)?;
                (json!({ "result": std::mem::take(&mut client.events) }), None)
            }
            _ => self.request(step)?,
        };
        let mut problems = Vec::new();
        if !self.outcome_matches(step, &step.expected, &got) {
            problems.push("outcome".to_string());
        }
        if let Some(expected_hdr) = step.hdr_zxid {
            if got_hdr != Some(expected_hdr) {
                problems.push(format!("hdr_zxid expected {expected_hdr} got {got_hdr:?}"));
            }
        }
        if problems.is_empty() {
            self.report.matched += 1;
        } else {
            self.report.mismatches.push(Mismatch {
                step: step.index,
                what: format!("{} {} {}: {}", step.client, step.op, step.args, problems.join("; ")),
                expected: step.expected.clone(),
                got,
            });
        }
        Ok(())
    }

    fn client_mut(&mut self, step: &Step) -> Result<&mut ClientState, TraceError> {
        let missing = self.error(step, format!("client {} used before it connected", step.client));
        self.clients.get_mut(&step.client).ok_or(missing)
    }

    fn connect(&mut self, step: &Step) -> Result<Value, TraceError> {
        let requested = step
            .args
            .get("requested_timeout_ms")
            .and_then(Value::as_i64)
            .ok_or_else(|| self.error(step, "connect needs integer `requested_timeout_ms`"))?;
        let now = Self::now_ms(step);
        self.server
            .on_connect(now, requested as i32, None, 0)
            .map_err(|r| self.error(step, format!("server refused the connect: {r:?}")))?;
        let mut result = json!(null);
        for output in self.server.drain_outputs() {
            if let ServerOutput::Connected { session, timeout_ms, password } = output {
                self.clients.insert(step.client.clone(), ClientState { session, password, events: Vec::new(), next_cxid: 1 });
                self.names.insert(session, step.client.clone());
                result = json!({ "negotiated_timeout_ms": timeout_ms });
            }
        }
        Ok(json!({ "result": result }))
    }

    /// Sends one request and returns (outcome, reply header zxid relative to the base).
    fn request(&mut self, step: &Step) -> Result<(Value, Option<i64>), TraceError> {
        let request = self.build_request(step)?;
        let now = Self::now_ms(step);
        let client = self.client_mut(step)?;
        let (session, cxid) = (client.session, client.next_cxid);
        client.next_cxid += 1;
        self.server.on_request(now, session, cxid, request.clone());
        let mut outcome = None;
        let mut hdr = None;
        let mut dropped = false;
        for output in self.server.drain_outputs() {
            match output {
                ServerOutput::Event { session: to, event } => {
                    if let Some(name) = self.names.get(&to) {
                        let client = self.clients.get_mut(name).expect("named clients exist");
                        client.events.push(json!([event.event_type.name(), event.path]));
                    }
                }
                ServerOutput::Reply { session: to, zxid, result, .. } if to == session => {
                    hdr = Some(zxid - self.base_abs_zxid);
                    outcome = Some(self.outcome_json(step, &request, result));
                }
                ServerOutput::CloseConnection { session: to, .. } if to == session => dropped = true,
                _ => {}
            }
        }
        if dropped && outcome.is_none() {
            // The client library sees ConnectionLoss, reconnects, and keeps its session.
            let (id, password) = (self.clients[&step.client].session, self.clients[&step.client].password);
            let last = self.server.last_processed_zxid();
            let _ = self.server.on_connect(now, 0, Some((id, password)), last);
            self.server.drain_outputs();
            let code = Code::ConnectionLoss;
            return Ok((json!({ "error": { "class": code.kazoo_class(), "code": code.int_value() } }), Some(last - self.base_abs_zxid)));
        }
        let outcome = outcome.ok_or_else(|| self.error(step, "the server sent no reply"))?;
        if matches!(request, Request::CloseSession) {
            return Ok((outcome, None));
        }
        Ok((outcome, hdr))
    }

    fn build_request(&self, step: &Step) -> Result<Request, TraceError> {
        let a = &step.args;
        let path = || self.str_arg(step, a, "path");
        let flag = |name: &str| a.get(name).and_then(Value::as_bool).unwrap_or(false);
        let version = || a.get("version").and_then(Value::as_i64).map(|v| v as i32).ok_or_else(|| self.error(step, "missing integer `version`"));
        Ok(match step.op.as_str() {
            "create" | "create2" => Request::Create {
                path: path()?,
                data: self.data_arg(step, a.get("data"))?,
                acl: Acl::open_unsafe(),
                mode: CreateMode::from_bools(flag("ephemeral"), flag("sequence")),
                ttl_ms: -1,
                with_stat: step.op == "create2",
            },
            "get" => Request::GetData { path: path()?, watch: flag("watch") },
            "exists" => Request::Exists { path: path()?, watch: flag("watch") },
            "children" | "children2" => Request::GetChildren {
                path: path()?,
                watch: flag("watch"),
                with_stat: flag("include_data") || step.op == "children2",
            },
            "set" => Request::SetData { path: path()?, data: self.data_arg(step, a.get("data"))?, version: version()? },
            "delete" => Request::Delete { path: path()?, version: version()? },
            "sync" => Request::Sync { path: path()? },
            "get_acls" => Request::GetAcl { path: path()? },
            "set_acls" => Request::SetAcl { path: path()?, acl: self.acl_arg(step, a.get("acls"))?, version: version()? },
            "multi" => {
                let ops = a.get("ops").and_then(Value::as_array).ok_or_else(|| self.error(step, "multi needs array `ops`"))?;
                Request::Multi { ops: ops.iter().map(|op| self.multi_op(step, op)).collect::<Result<_, _>>()? }
            }
            "close" => Request::CloseSession,
            other => return Err(self.error(step, format!("unknown op `{other}`"))),
        })
    }

    fn str_arg(&self, step: &Step, args: &Value, name: &str) -> Result<String, TraceError> {
        args.get(name).and_then(Value::as_str).map(String::from).ok_or_else(|| self.error(step, format!("missing string `{name}`")))
    }

    /// Data is a string, or `{"bytes_len": N}` for large payloads.
    fn data_arg(&self, step: &Step, value: Option<&Value>) -> Result<Vec<u8>, TraceError> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            Some(v) => match v.get("bytes_len").and_then(Value::as_u64) {
                Some(n) if n <= 64 << 20 => Ok(vec![b'x'; n as usize]),
                _ => Err(self.error(step, format!("data must be a string or {{\"bytes_len\": N}}, got {v}"))),
            },
        }
    }

    fn acl_arg(&self, step: &Step, value: Option<&Value>) -> Result<Vec<Acl>, TraceError> {
        match value {
            Some(Value::String(name)) => match name.as_str() {
                "OPEN_ACL_UNSAFE" => Ok(Acl::open_unsafe()),
                "READ_ACL_UNSAFE" => Ok(Acl::read_unsafe()),
                "CREATOR_ALL_ACL" => Ok(Acl::creator_all()),
                other => Err(self.error(step, format!("unknown ACL name `{other}`"))),
            },
            Some(Value::Array(entries)) => entries
                .iter()
                .map(|e| {
                    let perms = e.get("perms").and_then(Value::as_u64);
                    let scheme = e.get("scheme").and_then(Value::as_str);
                    let id = e.get("id").and_then(Value::as_str);
                    match (perms, scheme, id) {
                        (Some(p), Some(s), Some(i)) => Ok(Acl::new(p as u32, s, i)),
                        _ => Err(self.error(step, format!("ACL entry needs perms, scheme, id: {e}"))),
                    }
                })
                .collect(),
            _ => Err(self.error(step, "`acls` must be an ACL name or a list")),
        }
    }

    fn multi_op(&self, step: &Step, op: &Value) -> Result<crate::proto::Op, TraceError> {
        use crate::proto::Op;
        let parts = op.as_array().filter(|p| p.len() >= 2).ok_or_else(|| self.error(step, format!("multi op must be [kind, path, ...]: {op}")))?;
        let kind = parts[0].as_str().unwrap_or("");
        let path = parts[1].as_str().ok_or_else(|| self.error(step, format!("multi op path must be a string: {op}")))?.to_string();
        let int_at = |i: usize| parts.get(i).and_then(Value::as_i64).map(|v| v as i32).ok_or_else(|| self.error(step, format!("multi op needs an integer at position {i}: {op}")));
        let bool_at = |i: usize| parts.get(i).and_then(Value::as_bool).unwrap_or(false);
        Ok(match kind {
            "create" => Op::Create {
                path,
                data: self.data_arg(step, parts.get(2))?,
                acl: Acl::open_unsafe(),
                mode: CreateMode::from_bools(bool_at(3), bool_at(4)),
                ttl_ms: -1,
                with_stat: false,
            },
            "set" => Op::SetData { path, data: self.data_arg(step, parts.get(2))?, version: int_at(3)? },
            "check" => Op::Check { path, version: int_at(2)? },
            "delete" => Op::Delete { path, version: int_at(2)? },
            other => return Err(self.error(step, format!("unknown multi op kind `{other}`"))),
        })
    }

    // ---------------------------------------------------------------- rendering

    fn rel(&self, zxid: Zxid) -> i64 {
        zxid - self.base_abs_zxid
    }

    fn stat_json(&self, stat: &Stat) -> Value {
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

    fn error_json(code: Code) -> Value {
        json!({ "class": code.kazoo_class(), "code": code.int_value() })
    }

    fn outcome_json(&self, step: &Step, request: &Request, result: Result<Response, Code>) -> Value {
        let response = match result {
            Err(Code::NoNode) if step.op == "exists" => return json!({ "result": null }),
            Err(code) => return json!({ "error": Self::error_json(code) }),
            Ok(r) => r,
        };
        let data_json = |data: &[u8]| json!(String::from_utf8_lossy(data));
        let result = match (step.op.as_str(), response) {
            ("create", Response::Create { path, .. }) => json!(path),
            ("create2", Response::Create { path, stat }) => json!({ "data": path, "stat": self.stat_json(&stat.unwrap_or_default()) }),
            ("get", Response::GetData { data, stat }) => json!({ "data": data_json(&data), "stat": self.stat_json(&stat) }),
            ("exists", Response::Exists { stat }) => json!({ "stat": self.stat_json(&stat) }),
            ("set", Response::SetData { stat }) | ("set_acls", Response::SetAcl { stat }) => json!({ "stat": self.stat_json(&stat) }),
            ("delete", Response::Delete) => json!(true),
            ("children", Response::GetChildren { children, stat: None }) => json!(children),
            ("children" | "children2", Response::GetChildren { children, stat: Some(stat) }) => {
                let mut sorted = children.clone();
                sorted.sort();
                json!({ "children": children, "sorted": sorted, "stat": self.stat_json(&stat) })
            }
            ("sync", Response::Sync { path }) => json!(path),
            ("get_acls", Response::GetAcl { acl, stat }) => json!({
                "acls": acl.iter().map(|a| json!({ "perms": a.perms, "scheme": a.id.scheme, "id": a.id.id })).collect::<Vec<_>>(),
                "stat": self.stat_json(&stat),
            }),
            ("multi", Response::Multi { results }) => json!(results.iter().map(|r| self.op_result_json(r)).collect::<Vec<_>>()),
            ("close", Response::Empty) => json!("closed"),
            (op, other) => json!({ "unexpected_response": format!("{op}: {other:?} for {request:?}") }),
        };
        json!({ "result": result })
    }

    fn op_result_json(&self, r: &OpResult) -> Value {
        match r {
            OpResult::Create { path, stat: None } => json!(path),
            OpResult::Create { path, stat: Some(stat) } => json!({ "data": path, "stat": self.stat_json(stat) }),
            OpResult::SetData { stat } => json!({ "stat": self.stat_json(stat) }),
            OpResult::Delete | OpResult::Check => json!(true),
            OpResult::Error { code } => Self::error_json(*code),
            OpResult::GetData { data, stat } => json!({ "data": String::from_utf8_lossy(data), "stat": self.stat_json(stat) }),
            OpResult::GetChildren { children } => json!(children),
        }
    }

    // ---------------------------------------------------------------- comparison

    /// Compares an outcome with the recording: children as sets, large data by length.
    fn outcome_matches(&mut self, step: &Step, expected: &Value, got: &Value) -> bool {
        if step.op == "children" || step.op == "children2" {
            self.note_raw_child_order(expected, got);
        }
        values_match(expected, got)
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
            self.report.raw_child_order_total += 1;
            if e == g {
                self.report.raw_child_order_matched += 1;
            }
        }
    }
}

/// Structural equality with the trace's comparison rules.
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
