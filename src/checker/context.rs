//! Data several checks share, computed once: the replayed write order and each session's
//! ops in issue order.

use super::timeline::Timelines;
use crate::history::{History, OpId, Outcome, SessionId, Zxid};
use std::cell::OnceCell;
use std::collections::BTreeMap;

pub struct Context<'h> {
    pub history: &'h History,
    timelines: OnceCell<Timelines>,
    sessions: OnceCell<BTreeMap<SessionId, Vec<OpId>>>,
    floors: OnceCell<Vec<(u64, Zxid)>>,
    children: OnceCell<super::children::ChildReplay>,
}

impl<'h> Context<'h> {
    pub fn new(history: &'h History) -> Context<'h> {
        Context {
            history,
            timelines: OnceCell::new(),
            sessions: OnceCell::new(),
            floors: OnceCell::new(),
            children: OnceCell::new(),
        }
    }

    /// The write order replayed from zxids (see `timeline`).
    pub fn timelines(&self) -> &Timelines {
        self.timelines
            .get_or_init(|| Timelines::build(self.history))
    }

    /// Each session's ops in issue order: by `seq` (the client's submission order) when every
    /// op of the session records one — pipelined requests share invocation instants — else by
    /// invocation time; ties keep file order.
    pub fn session_ops(&self) -> &BTreeMap<SessionId, Vec<OpId>> {
        self.sessions.get_or_init(|| {
            let mut sessions: BTreeMap<SessionId, Vec<OpId>> = BTreeMap::new();
            for (id, op) in self.history.ops.iter().enumerate() {
                if let Some(session) = op.session {
                    sessions.entry(session).or_default().push(id as OpId);
                }
            }
            let ops = &self.history.ops;
            for ids in sessions.values_mut() {
                if ids.iter().all(|&id| ops[id as usize].seq.is_some()) {
                    ids.sort_by_key(|&id| (ops[id as usize].seq, id));
                } else {
                    ids.sort_by_key(|&id| (ops[id as usize].invoke_ns, id));
                }
            }
            sessions
        })
    }

    /// The largest transaction zxid acknowledged before `t_ns`: a write invoked at `t_ns`
    /// or later takes a larger one (ZooKeeper's writes are linearizable in zxid order).
    pub fn zxid_floor_at(&self, t_ns: u64) -> Option<Zxid> {
        let floors = self.floors.get_or_init(|| {
            let mut done: Vec<(u64, Zxid)> = self
                .history
                .ops
                .iter()
                .filter(|op| op.outcome == Outcome::Ok)
                .filter_map(|op| op.txn_zxid().map(|z| (op.complete_ns, z)))
                .collect();
            done.sort_unstable();
            let mut running = Zxid::MIN;
            for entry in &mut done {
                running = running.max(entry.1);
                entry.1 = running;
            }
            done
        });
        let n = floors.partition_point(|&(t, _)| t < t_ns);
        (n > 0).then(|| floors[n - 1].1)
    }

    /// The child lists replayed from the same write order (see `children`).
    pub fn children(&self) -> &super::children::ChildReplay {
        self.children.get_or_init(|| super::children::ChildReplay::build(self.history, self.timelines(), &|t_ns| self.zxid_floor_at(t_ns)))
    }

    /// True if the history records zxids (zksim or real-ZooKeeper JSONL).
    pub fn has_zxids(&self) -> bool {
        self.history.format.has_zxids()
    }
}
