//! Data several checks share, computed once: the replayed write order and each session's
//! ops in issue order.

use super::timeline::Timelines;
use crate::history::{History, OpId, SessionId};
use std::cell::OnceCell;
use std::collections::BTreeMap;

pub struct Context<'h> {
    pub history: &'h History,
    timelines: OnceCell<Timelines>,
    sessions: OnceCell<BTreeMap<SessionId, Vec<OpId>>>,
}

impl<'h> Context<'h> {
    pub fn new(history: &'h History) -> Context<'h> {
        Context {
            history,
            timelines: OnceCell::new(),
            sessions: OnceCell::new(),
        }
    }

    /// The write order replayed from zxids (see `timeline`).
    pub fn timelines(&self) -> &Timelines {
        self.timelines
            .get_or_init(|| Timelines::build(self.history))
    }

    /// Each session's ops in issue (invocation) order; ties keep file order.
    pub fn session_ops(&self) -> &BTreeMap<SessionId, Vec<OpId>> {
        self.sessions.get_or_init(|| {
            let mut sessions: BTreeMap<SessionId, Vec<OpId>> = BTreeMap::new();
            for (id, op) in self.history.ops.iter().enumerate() {
                if let Some(session) = op.session {
                    sessions.entry(session).or_default().push(id as OpId);
                }
            }
            for ids in sessions.values_mut() {
                ids.sort_by_key(|&id| (self.history.ops[id as usize].invoke_ns, id));
            }
            sessions
        })
    }

    /// True if the history records zxids (zksim or real-ZooKeeper JSONL).
    pub fn has_zxids(&self) -> bool {
        self.history.format.has_zxids()
    }
}
