//! Parser for JSON-lines histories: zksim's own format and the real-ZooKeeper recorder's
//! (`/work/shared/reference/zk-3.8.0-history-3node.jsonl`).
//!
//! Both share one record shape (see `record.rs`); the only differences are spellings
//! (`type: info` vs `outcome: unknown`, `servers.Zxid` vs `replicas.zxid`) handled by serde
//! aliases, and the meta line's `format` field, which tells them apart.
//! Lines are dispatched on their `kind` with a cheap scan so a million-line file parses
//! through typed structs, never through `serde_json::Value`.

use super::error::ParseError;
use super::model::*;
use super::record::*;

/// Parses a whole JSONL history held in memory.
pub fn parse_jsonl(file: &str, text: &str, format: Format) -> Result<History, ParseError> {
    let mut history = History::new(file, format);
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1)
            .map_err(|_| ParseError::new(file, 0, "more than 2^32 lines"))?;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let ctx = LineCtx { file, line };
        let record = ctx.decode_line(trimmed)?;
        let meta_value = match record {
            Record::Meta(_) => Some(ctx.decode(trimmed, "meta")?),
            _ => None,
        };
        ctx.push_record(&mut history, record, meta_value)?;
    }
    Ok(history)
}

/// The history a simulation recorded, straight from its records (meta first, final last):
/// the same `History`, line numbers included, as writing them one per line and parsing the
/// text back — without the JSON round trip, which was a tenth of a swarm sweep's time.
/// `tests/testbed.rs` holds the two equal over whole runs.
pub fn history_from_records(file: &str, records: impl IntoIterator<Item = Record>) -> Result<History, ParseError> {
    let mut history = History::new(file, Format::Zksim);
    for (index, record) in records.into_iter().enumerate() {
        let line = u32::try_from(index + 1)
            .map_err(|_| ParseError::new(file, 0, "more than 2^32 lines"))?;
        let ctx = LineCtx { file, line };
        let meta_value = match &record {
            Record::Meta(_) => Some(serde_json::to_value(&record).map_err(|e| ctx.error(format!("bad meta line: {e}")))?),
            _ => None,
        };
        ctx.push_record(&mut history, record, meta_value)?;
    }
    Ok(history)
}

/// Finds the value of the `"kind"` member without a full parse.
fn line_kind(line: &str) -> Option<&str> {
    let start = line.find("\"kind\"")? + "\"kind\"".len();
    let rest = line[start..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(&rest[..end])
}

struct LineCtx<'a> {
    file: &'a str,
    line: u32,
}

impl LineCtx<'_> {
    fn error(&self, problem: impl Into<String>) -> ParseError {
        ParseError::new(self.file, self.line, problem)
    }

    fn no_kind(&self, text: &str) -> ParseError {
        match serde_json::from_str::<serde_json::Value>(text) {
            Err(e) => self.error(format!("not valid JSON: {e}")),
            Ok(serde_json::Value::Object(_)) => self.error("missing string member \"kind\""),
            Ok(_) => self.error("expected a JSON object"),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        text: &str,
        what: &str,
    ) -> Result<T, ParseError> {
        serde_json::from_str(text).map_err(|e| self.error(format!("bad {what} line: {e}")))
    }

    /// One line's record, decoded by its `kind` (cheap scan first: errors name the kind).
    fn decode_line(&self, text: &str) -> Result<Record, ParseError> {
        Ok(match line_kind(text) {
            Some("op") => Record::Op(self.decode(text, "op")?),
            Some("meta") => Record::Meta(self.decode(text, "meta")?),
            Some("event") => Record::Event(self.decode(text, "event")?),
            Some("session") | Some("state") => Record::Session(self.decode(text, "session")?),
            Some("nemesis") => Record::Nemesis(self.decode(text, "nemesis")?),
            Some("server") => Record::Server(self.decode(text, "server")?),
            Some("final") => Record::Final(self.decode(text, "final")?),
            Some(other) => return Err(self.error(format!("unknown line kind {other:?}"))),
            None => return Err(self.no_kind(text)),
        })
    }

    /// Adds one record to the history; `meta_value` is the meta line as JSON (for the report).
    fn push_record(&self, history: &mut History, record: Record, meta_value: Option<serde_json::Value>) -> Result<(), ParseError> {
        if history.final_state.is_some() {
            return Err(self.error("a line after the `final` line"));
        }
        match record {
            Record::Op(record) => {
                let op = self.convert_op(history, record)?;
                history.ops.push(op);
            }
            Record::Meta(record) => {
                let value = meta_value.expect("a meta record comes with its JSON value");
                self.apply_meta(history, record, value)?;
            }
            Record::Event(record) => self.push_event(history, record),
            Record::Session(record) | Record::State(record) => push_session_event(history, record, self.line),
            Record::Nemesis(record) => {
                let detail = record.extra.get("detail").and_then(|d| d.as_str()).map(str::to_string);
                history.nemesis.push(NemesisEvent {
                    line: self.line,
                    t_ns: record.t_ns,
                    action: record.action,
                    target: record.server,
                    detail,
                });
            }
            Record::Server(record) => history.server_events.push(ServerEvent { line: self.line, record }),
            Record::Final(record) => history.final_state = Some(self.convert_final(history, record)?),
        }
        Ok(())
    }

    fn apply_meta(&self, history: &mut History, record: MetaRecord, value: serde_json::Value) -> Result<(), ParseError> {
        if !history.ops.is_empty() || !history.meta.is_null() {
            return Err(self.error("the `meta` line must be the first line, once"));
        }
        if history.format == Format::Zksim {
            self.check_zksim_format(&record)?;
        }
        for (path, node) in &record.init {
            let id = history.paths.intern(path);
            history.init.insert(id, node_state(node));
            if let Some(children) = &node.children {
                let children = ChildrenState {
                    children: children.clone(),
                    pzxid: node.pzxid.or(node.czxid).unwrap_or(node.mzxid),
                    cversion: node.cversion.unwrap_or(0),
                };
                history.init_children.insert(id, children);
            }
        }
        history.meta = value;
        Ok(())
    }

    fn check_zksim_format(&self, record: &MetaRecord) -> Result<(), ParseError> {
        match (&record.format, record.format_version) {
            (Some(name), Some(version))
                if name == ZKSIM_FORMAT && version <= ZKSIM_FORMAT_VERSION =>
            {
                Ok(())
            }
            (Some(name), Some(version)) if name == ZKSIM_FORMAT => Err(self.error(format!(
                "format_version {version} is newer than this checker ({ZKSIM_FORMAT_VERSION})"
            ))),
            _ => Err(self.error(format!(
                "meta line lacks \"format\":\"{ZKSIM_FORMAT}\" and \"format_version\""
            ))),
        }
    }

    fn convert_op(&self, history: &mut History, record: OpRecord) -> Result<Op, ParseError> {
        let kind = OpKind::parse(&record.op);
        let outcome = self.outcome(&record.outcome)?;
        let complete_ns = self.complete_ns(&record, outcome)?;
        // A create's effect is on the path actually created (sequential names differ).
        let created = record
            .result
            .as_ref()
            .and_then(|r| r.path.as_deref())
            .filter(|_| kind == OpKind::Create);
        let path = self.op_path(history, &kind, created.or(record.path.as_deref()))?;
        let args = self.convert_args(history, &kind, record.args)?;
        if kind == OpKind::AddWatch && args.watch_mode.is_none() {
            return Err(self.error("an add_watch needs args.mode: persistent or persistent_recursive"));
        }
        let session = record
            .session
            .as_deref()
            .map(|s| history.sessions.intern(s));
        let mut result = convert_result(history, record.result);
        if kind.is_node_read()
            && outcome == Outcome::Ok
            && result.version.is_none()
            && result.mzxid.is_none()
        {
            result.exists = Some(false);
        } else if kind.is_node_read() && outcome == Outcome::Ok && result.exists.is_none() {
            result.exists = Some(true);
        }
        Ok(Op {
            line: self.line,
            process: record.process,
            client: record.client,
            session,
            server: record.server,
            kind,
            path,
            args,
            invoke_ns: record.invoke_ns,
            complete_ns,
            outcome,
            error: record.error.as_deref().map(ErrorCode::parse),
            zxid: record.zxid,
            result,
            seq: record.seq,
            arrival: record.arrival,
        })
    }

    fn outcome(&self, text: &str) -> Result<Outcome, ParseError> {
        match text {
            "ok" => Ok(Outcome::Ok),
            "fail" => Ok(Outcome::Fail),
            "unknown" | "info" => Ok(Outcome::Unknown),
            other => Err(self.error(format!(
                "outcome must be ok, fail or unknown (info), not {other:?}"
            ))),
        }
    }

    fn complete_ns(&self, record: &OpRecord, outcome: Outcome) -> Result<u64, ParseError> {
        match (record.complete_ns, outcome) {
            (Some(complete_ns), _) if complete_ns < record.invoke_ns => Err(self.error(format!(
                "complete_ns {complete_ns} is before invoke_ns {}",
                record.invoke_ns
            ))),
            (Some(complete_ns), _) => Ok(complete_ns),
            (None, Outcome::Unknown) => Ok(u64::MAX),
            (None, _) => Err(self.error(format!(
                "an op with outcome {:?} needs complete_ns",
                record.outcome
            ))),
        }
    }

    fn op_path(
        &self,
        history: &mut History,
        kind: &OpKind,
        path: Option<&str>,
    ) -> Result<Option<PathId>, ParseError> {
        let needs_path = kind.is_node_read()
            || (kind.is_mutation() && *kind != OpKind::Multi)
            || *kind == OpKind::GetChildren;
        match path {
            Some(path) => Ok(Some(history.paths.intern(path))),
            None if needs_path => Err(self.error(format!(
                "op {:?} needs a \"path\" (or \"key\")",
                kind.name()
            ))),
            None => Ok(None),
        }
    }

    fn convert_args(
        &self,
        history: &mut History,
        kind: &OpKind,
        args: ArgsRecord,
    ) -> Result<OpArgs, ParseError> {
        if matches!(kind, OpKind::Multi | OpKind::MultiRead) && args.ops.is_empty() {
            return Err(self.error(format!("a {} needs args.ops", kind.name())));
        }
        let watch_mode = match args.mode.as_deref() {
            None => None,
            Some(text) => Some(WatchMode::parse(text).ok_or_else(|| {
                self.error(format!("args.mode {text:?}: expected persistent or persistent_recursive"))
            })?),
        };
        let sub_ops = args
            .ops
            .into_iter()
            .map(|sub| SubOp {
                kind: OpKind::parse(&sub.op),
                path: history.paths.intern(&sub.path),
                value: sub.value,
                expected_version: sub.expected_version,
            })
            .collect();
        Ok(OpArgs {
            value: args.value,
            expected_version: args.expected_version,
            expected_value: args.expected_value,
            ephemeral: args.ephemeral,
            sequential: args.sequential,
            watch: args.watch,
            token: args.token,
            sub_ops,
            watch_mode,
            container: args.container,
            ttl_ms: args.ttl_ms,
        })
    }

    fn push_event(&self, history: &mut History, record: EventRecord) {
        let session = record
            .session
            .as_deref()
            .map(|s| history.sessions.intern(s));
        let path = history.paths.intern(&record.path);
        history.events.push(WatchEvent {
            line: self.line,
            client: record.client,
            session,
            t_ns: record.t_ns,
            event_type: record.event_type,
            path,
            zxid: record.zxid,
            arrival: record.arrival,
        });
    }

    fn convert_final(
        &self,
        history: &mut History,
        record: FinalRecord,
    ) -> Result<FinalState, ParseError> {
        let mut state = FinalState {
            line: self.line,
            ..FinalState::default()
        };
        for (path, node) in &record.nodes {
            let id = history.paths.intern(path);
            state.nodes.insert(id, node.as_ref().map(node_state));
        }
        for (name, replica) in record.replicas {
            state.replicas.insert(
                name,
                ReplicaFinal {
                    zxid: replica.zxid,
                    digest: replica.digest,
                    mode: replica.mode,
                },
            );
        }
        Ok(state)
    }
}

fn push_session_event(history: &mut History, record: SessionRecord, line: u32) {
    let session = record
        .session
        .as_deref()
        .map(|s| history.sessions.intern(s));
    let state = match record.state.as_str() {
        "CONNECTED" | "CONNECTED_READ_ONLY" => "connected".to_string(),
        "SUSPENDED" => "disconnected".to_string(),
        "LOST" => "expired".to_string(),
        other => other.to_ascii_lowercase(),
    };
    history.session_events.push(SessionEvent {
        line,
        client: record.client,
        session,
        t_ns: record.t_ns,
        state,
        zxid: record.zxid,
        arrival: record.arrival,
        by_ensemble: record.by.as_deref() == Some("ensemble"),
    });
}

fn node_state(node: &NodeRecord) -> NodeState {
    NodeState {
        value: node.value.clone(),
        version: node.version,
        mzxid: node.mzxid,
        czxid: node.czxid,
    }
}

fn convert_result(history: &mut History, record: Option<ResultRecord>) -> OpResult {
    let Some(record) = record else {
        return OpResult::default();
    };
    let sub_results: Vec<SubResult> = record
        .ops
        .into_iter()
        .map(|sub| SubResult {
            error: sub.error.as_deref().map(ErrorCode::parse),
            result: convert_result(history, Some(sub.result)),
        })
        .collect();
    let owner = record
        .ephemeral_owner
        .as_deref()
        .filter(|o| !matches!(*o, "0" | "0x0" | ""))
        .map(|o| history.sessions.intern(o));
    let rare = record.children.is_some()
        || record.path.is_some()
        || record.cversion.is_some()
        || record.num_children.is_some()
        || !sub_results.is_empty();
    let extra = rare.then(|| {
        Box::new(ResultExtra {
            children: record.children,
            created_path: record.path,
            cversion: record.cversion,
            num_children: record.num_children,
            sub_results,
        })
    });
    OpResult {
        value: record.value,
        version: record.version,
        mzxid: record.mzxid,
        czxid: record.czxid,
        pzxid: record.pzxid,
        exists: record.exists,
        ephemeral_owner: owner,
        token: record.token,
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_kind_finds_the_kind_member() {
        assert_eq!(line_kind(r#"{"kind":"op","client":1}"#), Some("op"));
        assert_eq!(
            line_kind(r#"{"client":1, "kind" : "final"}"#),
            Some("final")
        );
        assert_eq!(line_kind(r#"{"client":1}"#), None);
    }

    #[test]
    fn bad_lines_name_file_line_and_problem() {
        let text = "{\"kind\":\"meta\",\"format\":\"zksim-history\",\"format_version\":1}\n{\"kind\":\"op\",\"client\":1}\n";
        let err = parse_jsonl("h.jsonl", text, Format::Zksim).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("h.jsonl", 2));
        assert!(err.problem.contains("missing field"), "{}", err.problem);
    }
}
