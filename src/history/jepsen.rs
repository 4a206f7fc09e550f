//! Jepsen histories: the old log text format, EDN op maps (one per line), and export to EDN.
//!
//! Jepsen records an invocation and a completion per op, paired by process. A process that
//! got `:info` (indeterminate) never invokes again. Jepsen gives no wall-clock times in the
//! log format, so the line number stands in for time: only the order of events matters to a
//! linearizability search.
//!
//! Why lenient about layout: Jepsen versions separate a log line's fields by tabs or by runs
//! of spaces, and may follow the value with an error message (`indeterminate: ...`); Porcupine
//! reads them all, so a user's log must not be rejected for its whitespace. Histories of
//! `jepsen.independent` tests carry `[key value]` tuples; each key becomes its own register.
//!
//! Mapping into the model: `:read` → `read`, `:write` → `write`, `:cas [from to]` →
//! `cas_value` (value compare), `:cas-version [expected-version value]` → `cas` (ZooKeeper
//! version compare). `:fail` → outcome fail, `:info` → unknown. Op maps may carry `:key`
//! (a path), `:time` (ns), `:version`, `:mzxid`, `:zxid`, `:session` extras (our exporter writes them).

use super::edn::{keyword_map, parse_edn, parse_edn_prefix, Edn};
use super::error::ParseError;
use super::model::*;
use std::collections::BTreeMap;

/// Default path for single-register histories.
pub const REGISTER_PATH: &str = "register";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One Jepsen history event before pairing.
struct JepsenEvent {
    line: u32,
    process: i64,
    event_type: EventType,
    f: String,
    value: Edn,
    time_ns: u64,
    map: Option<Edn>,
    /// The register, from a `jepsen.independent` `[key value]` tuple.
    key: Option<String>,
    /// A log line's text after the value (Jepsen's `:error`, e.g. `indeterminate: timed out`).
    message: Option<String>,
}

/// Parses the old Jepsen log text format
/// (`INFO  jepsen.util - <process> :<type> :<f> <value> [<message>]`, fields separated by any
/// run of spaces or tabs). Other log lines are skipped.
pub fn parse_jepsen_log(file: &str, text: &str) -> Result<History, ParseError> {
    let mut events = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = (index + 1) as u32;
        let Some(body) = log_body(raw.trim_end()) else {
            continue;
        };
        events.extend(log_event(file, line, body)?);
    }
    assemble(file, Format::JepsenLog, events)
}

/// Spaces or tabs between a log line's fields.
const FIELD_GAP: [char; 2] = [' ', '\t'];

/// The event part of a `jepsen.util - ...` log line (None for other lines).
pub(crate) fn log_body(raw: &str) -> Option<&str> {
    let at = raw.find("jepsen.util")?;
    let after = &raw[at + "jepsen.util".len()..];
    let dash = after.trim_start_matches(FIELD_GAP).strip_prefix('-')?;
    Some(dash.trim_start_matches(FIELD_GAP))
}

/// Splits off the next field; the rest starts at the following field.
fn next_field(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start_matches(FIELD_GAP);
    if text.is_empty() {
        return None;
    }
    let end = text.find(FIELD_GAP).unwrap_or(text.len());
    Some((&text[..end], text[end..].trim_start_matches(FIELD_GAP)))
}

fn log_event(file: &str, line: u32, body: &str) -> Result<Option<JepsenEvent>, ParseError> {
    let fields = next_field(body).and_then(|(process, rest)| {
        let (type_name, rest) = next_field(rest)?;
        let (f, rest) = next_field(rest)?;
        Some((process, type_name, f, rest))
    });
    let Some((process, type_name, f, rest)) = fields else {
        return Err(ParseError::new(
            file,
            line,
            "expected <process> :<type> :<f> [<value>] (separated by spaces or tabs)",
        ));
    };
    let Ok(process) = process.parse::<i64>() else {
        return Ok(None); // :nemesis and other non-client processes carry no register ops
    };
    let event_type = event_type(type_name).ok_or_else(|| {
        ParseError::new(file, line, format!("unknown event type {type_name:?}"))
    })?;
    let (value, message) = log_value(file, line, rest)?;
    Ok(Some(JepsenEvent {
        line,
        process,
        event_type,
        f: f.trim_start_matches(':').to_string(),
        value,
        time_ns: line as u64,
        map: None,
        key: None,
        message,
    }))
}

/// A log line's value (nil when absent) and the message after it, if any.
fn log_value(file: &str, line: u32, text: &str) -> Result<(Edn, Option<String>), ParseError> {
    let text = text.trim_end();
    if text.is_empty() {
        return Ok((Edn::Nil, None));
    }
    let (value, rest) = parse_edn_prefix(text).map_err(|(col, problem)| {
        ParseError::new(file, line, format!("value {text:?}, column {col}: {problem}"))
    })?;
    let message = rest.trim_matches(FIELD_GAP);
    Ok((value, (!message.is_empty()).then(|| message.to_string())))
}

fn event_type(text: &str) -> Option<EventType> {
    match text.trim_start_matches(':') {
        "invoke" => Some(EventType::Invoke),
        "ok" => Some(EventType::Ok),
        "fail" => Some(EventType::Fail),
        "info" => Some(EventType::Info),
        _ => None,
    }
}

/// Parses Jepsen EDN op maps, one per line (`{:process 0, :type :invoke, :f :read, :value nil}`).
pub fn parse_jepsen_edn(file: &str, text: &str) -> Result<History, ParseError> {
    let mut events = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = (index + 1) as u32;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        let map = parse_edn(trimmed).map_err(|(col, problem)| {
            ParseError::new(file, line, format!("column {col}: {problem}"))
        })?;
        events.extend(edn_event(file, line, map)?);
    }
    assemble(file, Format::JepsenEdn, events)
}

fn edn_event(file: &str, line: u32, map: Edn) -> Result<Option<JepsenEvent>, ParseError> {
    if !matches!(map, Edn::Map(_)) {
        return Err(ParseError::new(
            file,
            line,
            "expected an op map {:process .., :type .., :f .., :value ..}",
        ));
    }
    let Some(process) = map.get("process").and_then(Edn::as_int) else {
        if map.get("process").is_some() {
            return Ok(None); // :nemesis
        }
        return Err(ParseError::new(file, line, "op map lacks :process"));
    };
    let type_name = map
        .get("type")
        .and_then(Edn::as_keyword)
        .ok_or_else(|| ParseError::new(file, line, "op map lacks :type keyword"))?;
    let event_type = event_type(type_name)
        .ok_or_else(|| ParseError::new(file, line, format!("unknown :type :{type_name}")))?;
    let f = map
        .get("f")
        .and_then(Edn::as_keyword)
        .ok_or_else(|| ParseError::new(file, line, "op map lacks :f keyword"))?
        .to_string();
    let value = map.get("value").cloned().unwrap_or(Edn::Nil);
    let time_ns = match map.get("time") {
        Some(Edn::Int(t)) if *t >= 0 => *t as u64,
        Some(other) => {
            return Err(ParseError::new(
                file,
                line,
                format!(":time must be a non-negative integer, not {other}"),
            ))
        }
        None => line as u64,
    };
    Ok(Some(JepsenEvent {
        line,
        process,
        event_type,
        f,
        value,
        time_ns,
        map: Some(map),
        key: None,
        message: None,
    }))
}

/// Whether a history is `jepsen.independent`'s: every invocation's value a `[key value]` tuple
/// (for a cas, the value itself a pair), and no op map naming its `:key` otherwise.
fn is_independent(events: &[JepsenEvent]) -> bool {
    let mut invocations = events.iter().filter(|e| e.event_type == EventType::Invoke).peekable();
    invocations.peek().is_some()
        && invocations.all(|e| {
            let named = e.map.as_ref().and_then(|m| m.get("key")).is_some();
            match independent_tuple(&e.value) {
                Some((_, inner)) if !named => {
                    !matches!(e.f.as_str(), "cas" | "cas-version") || pair(inner).is_some()
                }
                _ => false,
            }
        })
}

/// `[key value]` with a scalar key.
fn independent_tuple(value: &Edn) -> Option<(&Edn, &Edn)> {
    let (key, inner) = pair(value)?;
    matches!(key, Edn::Int(_) | Edn::Str(_) | Edn::Keyword(_) | Edn::Symbol(_)).then_some((key, inner))
}

/// Splits each event's `[key value]` tuple into its register and value.
fn split_independent(events: &mut [JepsenEvent]) {
    for event in events {
        if let Some((key, inner)) = independent_tuple(&event.value) {
            let (key, inner) = (key.as_value_text(), inner.clone());
            event.key = key;
            event.value = inner;
        }
    }
}

/// Pairs invocations with completions by process and builds the history.
fn assemble(file: &str, format: Format, mut events: Vec<JepsenEvent>) -> Result<History, ParseError> {
    if is_independent(&events) {
        split_independent(&mut events);
    }
    let mut history = History::new(file, format);
    let mut pending: BTreeMap<i64, JepsenEvent> = BTreeMap::new();
    for event in events {
        if event.event_type == EventType::Invoke {
            if let Some(open) = pending.get(&event.process) {
                return Err(ParseError::new(
                    file,
                    event.line,
                    format!(
                        "process {} invokes again while its op from line {} is open",
                        event.process, open.line
                    ),
                ));
            }
            pending.insert(event.process, event);
            continue;
        }
        let Some(invoke) = pending.remove(&event.process) else {
            return Err(ParseError::new(
                file,
                event.line,
                format!(
                    "completion for process {} without an invocation",
                    event.process
                ),
            ));
        };
        if invoke.f != event.f {
            return Err(ParseError::new(
                file,
                event.line,
                format!(
                    "completion :{} does not match invocation :{} (line {})",
                    event.f, invoke.f, invoke.line
                ),
            ));
        }
        let op = build_op(&mut history, &invoke, Some(&event))?;
        history.ops.push(op);
    }
    for invoke in pending.into_values() {
        let op = build_op(&mut history, &invoke, None)?;
        history.ops.push(op);
    }
    Ok(history)
}

fn build_op(
    history: &mut History,
    invoke: &JepsenEvent,
    completion: Option<&JepsenEvent>,
) -> Result<Op, ParseError> {
    let file = history.source.clone();
    let err = |line: u32, problem: String| ParseError::new(&file, line, problem);
    let outcome = match completion.map(|c| c.event_type) {
        Some(EventType::Ok) => Outcome::Ok,
        Some(EventType::Fail) => Outcome::Fail,
        _ => Outcome::Unknown,
    };
    let line = completion.map(|c| c.line).unwrap_or(invoke.line);
    let complete_ns = completion.map(|c| c.time_ns).unwrap_or(u64::MAX);
    if complete_ns < invoke.time_ns {
        return Err(err(
            line,
            format!(
                "completion time {complete_ns} is before invocation time {}",
                invoke.time_ns
            ),
        ));
    }
    let key = invoke
        .key
        .clone()
        .or_else(|| extra_text(invoke, "key"))
        .unwrap_or_else(|| REGISTER_PATH.to_string());
    let path = Some(history.paths.intern(&key));
    let mut op = Op {
        line,
        process: invoke.process,
        client: invoke.process,
        session: extra_text(invoke, "session").map(|s| history.sessions.intern(&s)),
        server: None,
        kind: OpKind::Read,
        path,
        args: OpArgs::default(),
        invoke_ns: invoke.time_ns,
        complete_ns,
        outcome,
        error: None,
        zxid: None,
        result: OpResult::default(),
        seq: None,
        arrival: None,
    };
    if outcome != Outcome::Ok {
        let reason = completion
            .and_then(|c| c.map.as_ref())
            .and_then(|m| m.get("error"))
            .map(|e| e.to_string());
        op.error = reason
            .or_else(|| completion.and_then(|c| c.message.clone()))
            .or_else(|| {
                completion
                    .map(|c| c.value.to_string())
                    .filter(|v| v.starts_with(':'))
            })
            .map(|e| ErrorCode::parse(&e));
    }
    fill_kind_and_values(&mut op, invoke, completion).map_err(|problem| err(line, problem))?;
    fill_extras(&mut op, completion);
    Ok(op)
}

fn fill_kind_and_values(
    op: &mut Op,
    invoke: &JepsenEvent,
    completion: Option<&JepsenEvent>,
) -> Result<(), String> {
    let done_value = completion
        .filter(|c| c.event_type == EventType::Ok)
        .map(|c| &c.value);
    match invoke.f.as_str() {
        "read" | "sync-read" | "get-data" => {
            op.kind = OpKind::parse(&invoke.f.replace('-', "_"));
            op.result.value = done_value.and_then(Edn::as_value_text);
        }
        "write" => {
            op.kind = OpKind::Write;
            op.args.value = invoke.value.as_value_text();
        }
        "cas" => {
            let (from, to) = pair(&invoke.value)
                .ok_or_else(|| format!(":cas value must be [from to], not {}", invoke.value))?;
            op.kind = OpKind::CasValue;
            op.args.expected_value = from.as_value_text();
            op.args.value = to.as_value_text();
        }
        "cas-version" => {
            let (version, to) = pair(&invoke.value).ok_or_else(|| {
                format!(
                    ":cas-version value must be [version value], not {}",
                    invoke.value
                )
            })?;
            op.kind = OpKind::Cas;
            op.args.expected_version = Some(
                version
                    .as_int()
                    .ok_or("expected version must be an integer")? as i32,
            );
            op.args.value = to.as_value_text();
        }
        other => {
            op.kind = OpKind::parse(&other.replace('-', "_"));
            op.args.value = invoke.value.as_value_text();
        }
    }
    Ok(())
}

fn pair(value: &Edn) -> Option<(&Edn, &Edn)> {
    match value {
        Edn::Vector(items) | Edn::List(items) if items.len() == 2 => Some((&items[0], &items[1])),
        _ => None,
    }
}

fn extra_text(event: &JepsenEvent, key: &str) -> Option<String> {
    event.map.as_ref()?.get(key).and_then(Edn::as_value_text)
}

fn fill_extras(op: &mut Op, completion: Option<&JepsenEvent>) {
    let Some(map) = completion.and_then(|c| c.map.as_ref()) else {
        return;
    };
    op.result.version = map.get("version").and_then(Edn::as_int).map(|v| v as i32);
    op.result.mzxid = map.get("mzxid").and_then(Edn::as_int);
    op.zxid = map.get("zxid").and_then(Edn::as_int);
}

/// Exports a history as Jepsen EDN op maps, one per line, invocations and completions
/// interleaved in time order (ties: invocations first, then by op id).
pub fn export_edn(history: &History) -> String {
    let mut lines: Vec<(u64, u8, usize, String)> = Vec::with_capacity(history.ops.len() * 2);
    for (id, op) in history.ops.iter().enumerate() {
        let Some((f, invoke_value, done_value)) = edn_f_and_values(op) else {
            continue;
        };
        let mut invoke = vec![
            ("process", Edn::Int(op.process)),
            ("type", Edn::Keyword("invoke".into())),
            ("f", Edn::Keyword(f.clone())),
            ("value", invoke_value.clone()),
        ];
        invoke.push(("time", Edn::Int(op.invoke_ns as i64)));
        invoke.extend(common_extras(history, op));
        lines.push((op.invoke_ns, 0, id, keyword_map(invoke)));
        if op.complete_ns == u64::MAX {
            continue;
        }
        let type_name = match op.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Unknown => "info",
        };
        let mut done = vec![
            ("process", Edn::Int(op.process)),
            ("type", Edn::Keyword(type_name.into())),
            ("f", Edn::Keyword(f)),
            ("value", done_value),
        ];
        done.push(("time", Edn::Int(op.complete_ns as i64)));
        done.extend(common_extras(history, op));
        done.extend(result_extras(op));
        lines.push((op.complete_ns, 1, id, keyword_map(done)));
    }
    lines.sort_by_key(|line| (line.0, line.1, line.2));
    let mut out = String::new();
    for (_, _, _, line) in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `(:f, invocation :value, completion :value)`; None for ops with no register meaning.
fn edn_f_and_values(op: &Op) -> Option<(String, Edn, Edn)> {
    let text = |v: &Option<String>| v.as_ref().map(|s| Edn::Str(s.clone())).unwrap_or(Edn::Nil);
    let read_value = if op.outcome == Outcome::Ok {
        text(&op.result.value)
    } else {
        Edn::Nil
    };
    Some(match op.kind {
        OpKind::Read | OpKind::GetData | OpKind::SyncRead => {
            (op.kind.name().replace('_', "-"), Edn::Nil, read_value)
        }
        OpKind::Write => ("write".into(), text(&op.args.value), text(&op.args.value)),
        OpKind::SetData if op.set_data_version() == -1 => {
            ("write".into(), text(&op.args.value), text(&op.args.value))
        }
        OpKind::Cas | OpKind::SetData => {
            let v = Edn::Vector(vec![
                Edn::Int(op.set_data_version() as i64),
                text(&op.args.value),
            ]);
            ("cas-version".into(), v.clone(), v)
        }
        OpKind::CasValue => {
            let v = Edn::Vector(vec![text(&op.args.expected_value), text(&op.args.value)]);
            ("cas".into(), v.clone(), v)
        }
        _ => return None,
    })
}

fn common_extras(history: &History, op: &Op) -> Vec<(&'static str, Edn)> {
    let mut extras = Vec::new();
    if let Some(path) = op.path {
        extras.push(("key", Edn::Str(history.paths.name(path).to_string())));
    }
    if let Some(session) = op.session {
        extras.push((
            "session",
            Edn::Str(history.sessions.name(session).to_string()),
        ));
    }
    extras
}

fn result_extras(op: &Op) -> Vec<(&'static str, Edn)> {
    let mut extras = Vec::new();
    if let Some(error) = &op.error {
        extras.push(("error", Edn::Keyword(error.name().to_string())));
    }
    if let Some(version) = op.result.version {
        extras.push(("version", Edn::Int(version as i64)));
    }
    if let Some(mzxid) = op.result.mzxid {
        extras.push(("mzxid", Edn::Int(mzxid)));
    }
    if let Some(zxid) = op.zxid {
        extras.push(("zxid", Edn::Int(zxid)));
    }
    extras
}
