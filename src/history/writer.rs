//! Writes an in-memory history back out as zksim JSONL (the inverse of `jsonl`).
//!
//! Why: tests build or mutate histories in memory and round-trip them through the file
//! format; a simulator can also build a `History` and write it in one go.

use super::model::*;
use super::record::*;
use std::collections::BTreeMap;

/// The whole history as zksim JSONL, one record per line.
pub fn to_zksim_jsonl(history: &History) -> String {
    let mut out = String::new();
    let mut push = |record: Record| {
        out.push_str(&record.to_line());
        out.push('\n');
    };
    push(Record::Meta(meta_record(history)));
    for op in &history.ops {
        push(Record::Op(op_record(history, op)));
    }
    for event in &history.events {
        push(Record::Event(EventRecord {
            client: event.client,
            session: session_name(history, event.session),
            t_ns: event.t_ns,
            event_type: event.event_type.clone(),
            path: history.paths.name(event.path).to_string(),
            zxid: event.zxid,
            arrival: event.arrival,
        }));
    }
    for event in &history.session_events {
        push(Record::Session(SessionRecord {
            client: event.client,
            session: session_name(history, event.session),
            t_ns: event.t_ns,
            state: event.state.clone(),
            zxid: event.zxid,
            arrival: event.arrival,
            by: event.by_ensemble.then(|| "ensemble".to_string()),
        }));
    }
    for nemesis in &history.nemesis {
        let mut extra = BTreeMap::new();
        if let Some(detail) = &nemesis.detail {
            extra.insert("detail".to_string(), serde_json::Value::String(detail.clone()));
        }
        push(Record::Nemesis(NemesisRecord {
            t_ns: nemesis.t_ns,
            action: nemesis.action.clone(),
            server: nemesis.target.clone(),
            extra,
        }));
    }
    for event in &history.server_events {
        push(Record::Server(event.record.clone()));
    }
    if let Some(final_state) = &history.final_state {
        push(Record::Final(final_record(history, final_state)));
    }
    out
}

fn session_name(history: &History, session: Option<SessionId>) -> Option<String> {
    session.map(|s| history.sessions.name(s).to_string())
}

fn node_record(node: &NodeState) -> NodeRecord {
    NodeRecord {
        value: node.value.clone(),
        version: node.version,
        mzxid: node.mzxid,
        czxid: node.czxid,
        ..NodeRecord::default()
    }
}

fn meta_record(history: &History) -> MetaRecord {
    let init = history
        .init
        .iter()
        .map(|(&p, n)| {
            let mut record = node_record(n);
            if let Some(c) = history.init_children.get(&p) {
                record.children = Some(c.children.clone());
                record.pzxid = Some(c.pzxid);
                record.cversion = Some(c.cversion);
            }
            (history.paths.name(p).to_string(), record)
        })
        .collect();
    MetaRecord {
        format: Some(ZKSIM_FORMAT.into()),
        format_version: Some(ZKSIM_FORMAT_VERSION),
        init,
        extra: BTreeMap::new(),
    }
}

/// One op as its zksim record.
pub fn op_record(history: &History, op: &Op) -> OpRecord {
    let args = ArgsRecord {
        value: op.args.value.clone(),
        expected_version: op.args.expected_version,
        expected_value: op.args.expected_value.clone(),
        ephemeral: op.args.ephemeral,
        sequential: op.args.sequential,
        watch: op.args.watch,
        token: op.args.token,
        ops: op
            .args
            .sub_ops
            .iter()
            .map(|s| SubOpRecord {
                op: s.kind.name().to_string(),
                path: history.paths.name(s.path).to_string(),
                value: s.value.clone(),
                expected_version: s.expected_version,
            })
            .collect(),
        mode: op.args.watch_mode.map(|m| m.name().to_string()),
        container: op.args.container,
        ttl_ms: op.args.ttl_ms,
    };
    let has_result = op.result != OpResult::default();
    let result = has_result.then(|| result_record(history, &op.result));
    OpRecord {
        process: op.process,
        client: op.client,
        session: session_name(history, op.session),
        server: op.server.clone(),
        op: op.kind.name().to_string(),
        path: op.path.map(|p| history.paths.name(p).to_string()),
        args,
        invoke_ns: op.invoke_ns,
        complete_ns: (op.complete_ns != u64::MAX).then_some(op.complete_ns),
        outcome: op.outcome.name().to_string(),
        error: op.error.as_ref().map(|e| e.name().to_string()),
        zxid: op.zxid,
        result,
        seq: op.seq,
        arrival: op.arrival,
    }
}

fn result_record(history: &History, r: &OpResult) -> ResultRecord {
    let extra = r.extra.as_deref();
    ResultRecord {
        value: r.value.clone(),
        version: r.version,
        mzxid: r.mzxid,
        czxid: r.czxid,
        pzxid: r.pzxid,
        exists: r.exists,
        ephemeral_owner: r
            .ephemeral_owner
            .map(|s| history.sessions.name(s).to_string()),
        children: extra.and_then(|e| e.children.clone()),
        path: extra.and_then(|e| e.created_path.clone()),
        token: r.token,
        cversion: extra.and_then(|e| e.cversion),
        num_children: extra.and_then(|e| e.num_children),
        ops: extra
            .map(|e| {
                e.sub_results
                    .iter()
                    .map(|sub| SubResultRecord {
                        error: sub.error.as_ref().map(|e| e.name().to_string()),
                        result: result_record(history, &sub.result),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn final_record(history: &History, final_state: &FinalState) -> FinalRecord {
    FinalRecord {
        nodes: final_state
            .nodes
            .iter()
            .map(|(&p, n)| {
                (
                    history.paths.name(p).to_string(),
                    n.as_ref().map(node_record),
                )
            })
            .collect(),
        replicas: final_state
            .replicas
            .iter()
            .map(|(name, r)| {
                (
                    name.clone(),
                    ReplicaRecord {
                        zxid: r.zxid,
                        digest: r.digest.clone(),
                        mode: r.mode.clone(),
                    },
                )
            })
            .collect(),
        extra: BTreeMap::new(),
    }
}
