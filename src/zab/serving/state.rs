//! The client-facing server's state: connections, sessions bound to them, and each session's
//! queue of requests not answered yet.

use std::collections::{BTreeMap, VecDeque};

use crate::proto::{Id, Request, SessionId};
use crate::server::session_tracker::initial_session_id;
use crate::zab::action::ConnId;
use crate::zab::PeerConfig;

pub(in crate::zab) struct Conn {
    pub(in crate::zab) session: Option<SessionId>,
    pub(in crate::zab) auth: Vec<Id>,
}

/// A request of a session not answered yet.
pub(in crate::zab) struct Pending {
    pub(in crate::zab) conn: ConnId,
    pub(in crate::zab) xid: i32,
    pub(in crate::zab) request: Request,
}

impl Pending {
    /// Writes, sync and closeSession wait for the leader; everything else is served locally.
    pub(in crate::zab) fn waits_for_leader(&self) -> bool {
        self.request.is_write() || matches!(self.request, Request::Sync { .. } | Request::CloseSession)
    }
}

/// A connect waiting for the leader (createSession commit or revalidation).
pub(in crate::zab) struct PendingConnect {
    pub(in crate::zab) conn: ConnId,
    pub(in crate::zab) timeout_ms: i32,
}

pub struct Serving {
    pub(in crate::zab) conns: BTreeMap<ConnId, Conn>,
    pub(in crate::zab) session_conn: BTreeMap<SessionId, ConnId>,
    pub(in crate::zab) queues: BTreeMap<SessionId, VecDeque<Pending>>,
    pub(in crate::zab) pending_connects: BTreeMap<SessionId, PendingConnect>,
    pub(in crate::zab) next_session_id: SessionId,
    pub(in crate::zab) min_session_timeout_ms: i32,
    pub(in crate::zab) max_session_timeout_ms: i32,
}

impl Serving {
    pub fn new(config: &PeerConfig, now_ms: i64) -> Serving {
        Serving {
            conns: BTreeMap::new(),
            session_conn: BTreeMap::new(),
            queues: BTreeMap::new(),
            pending_connects: BTreeMap::new(),
            next_session_id: initial_session_id(config.my_id as i64, now_ms.max(1)),
            min_session_timeout_ms: config.min_session_timeout_ms,
            max_session_timeout_ms: config.max_session_timeout_ms,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }
}
