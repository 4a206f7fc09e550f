//! A `mixed` reply as the history records it (`docs/history-format.md`), and what the client
//! learns from it.
//!
//! Why Jepsen's outcome rules: a write that ends in ConnectionLoss or OperationTimeout may
//! still take effect, so it is `unknown`; every other error reply is a certain `fail`; a
//! read's NoNode is an answer (`exists: false`), not a failure.

use crate::history::record::{ResultRecord, SubResultRecord};
use crate::proto::{Code, OpResult, Response, Stat};

use super::choose::{Knowledge, Planned};

/// Stat fields every reply carrying a stat records.
pub fn stat_result(stat: &Stat) -> ResultRecord {
    ResultRecord {
        version: Some(stat.version),
        mzxid: Some(stat.mzxid),
        czxid: Some(stat.czxid),
        pzxid: Some(stat.pzxid),
        cversion: Some(stat.cversion),
        num_children: Some(stat.num_children),
        exists: Some(true),
        ephemeral_owner: is_session_owner(stat.ephemeral_owner).then(|| format!("0x{:x}", stat.ephemeral_owner)),
        ..ResultRecord::default()
    }
}

/// The history's result of a successful reply.
pub fn result_record(response: &Response) -> ResultRecord {
    match response {
        Response::Create { path, stat } => {
            let mut r = stat.as_ref().map(stat_result).unwrap_or_default();
            r.path = Some(path.clone());
            r
        }
        Response::SetData { stat } | Response::Exists { stat } => stat_result(stat),
        Response::GetData { data, stat } => ResultRecord { value: Some(String::from_utf8_lossy(data).into_owned()), ..stat_result(stat) },
        Response::GetChildren { children, stat } => {
            let mut r = stat.as_ref().map(stat_result).unwrap_or_default();
            r.children = Some(children.clone());
            r
        }
        Response::Multi { results } | Response::MultiRead { results } => {
            ResultRecord { ops: results.iter().map(sub_result).collect(), ..ResultRecord::default() }
        }
        _ => ResultRecord::default(),
    }
}

fn sub_result(result: &OpResult) -> SubResultRecord {
    let (error, result) = match result {
        OpResult::Error { code } => (Some(format!("{code:?}")), ResultRecord::default()),
        OpResult::Create { path, stat } => {
            let mut r = stat.as_ref().map(stat_result).unwrap_or_default();
            r.path = Some(path.clone());
            (None, r)
        }
        OpResult::SetData { stat } => (None, stat_result(stat)),
        OpResult::GetData { data, stat } => (None, ResultRecord { value: Some(String::from_utf8_lossy(data).into_owned()), ..stat_result(stat) }),
        OpResult::GetChildren { children } => (None, ResultRecord { children: Some(children.clone()), ..ResultRecord::default() }),
        OpResult::Delete | OpResult::Check => (None, ResultRecord::default()),
    };
    SubResultRecord { error, result }
}

/// The code a failed multi reports: its first sub-result that is neither Ok (the ops before
/// the failure) nor RuntimeInconsistency (the ops after it).
pub fn multi_failure(results: &[OpResult]) -> Option<Code> {
    results.iter().find_map(|r| match r {
        OpResult::Error { code } if !matches!(code, Code::Ok | Code::RuntimeInconsistency) => Some(*code),
        _ => None,
    })
}

/// Whether the op may change the tree (so an indeterminate error leaves it `unknown`).
pub fn is_write(planned: &Planned) -> bool {
    planned.request.is_write()
}

/// What the client learns from a reply.
pub fn learn(knowledge: &mut Knowledge, planned: &Planned, result: &Result<Response, Code>) {
    match result {
        Ok(Response::Create { path, stat }) => {
            knowledge.learn_child(path);
            if let Some(stat) = stat {
                knowledge.versions.insert(path.clone(), stat.version);
            }
        }
        Ok(Response::SetData { stat } | Response::Exists { stat } | Response::GetData { stat, .. }) => {
            knowledge.versions.insert(planned.path.clone(), stat.version);
        }
        Ok(Response::GetChildren { children, .. }) => knowledge.learn_children(&planned.path, children),
        Ok(Response::Delete) | Err(Code::NoNode) if planned.op == "delete" || planned.op == "get_data" => knowledge.forget(&planned.path),
        Ok(Response::Multi { results }) if multi_failure(results).is_none() => {
            for result in results {
                if let OpResult::Create { path, .. } = result {
                    knowledge.learn_child(path);
                }
            }
        }
        _ => {}
    }
}

/// An ephemeralOwner that names a session (not a container's or TTL node's marker).
fn is_session_owner(owner: i64) -> bool {
    use crate::proto::ephemeral_type::{get, EphemeralType};
    owner != 0 && get(owner) == EphemeralType::Normal
}
