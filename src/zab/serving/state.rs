//! The client-facing server's state: connections, sessions bound to them, and each session's
//! queue of requests not answered yet.

use std::collections::{BTreeMap, VecDeque};

use crate::proto::{Id, Request, SessionId, Zxid};
use crate::server::session_tracker::initial_session_id;
use crate::zab::action::ConnId;
use crate::zab::PeerConfig;

pub(in crate::zab) struct Conn {
    pub(in crate::zab) session: Option<SessionId>,
    pub(in crate::zab) auth: Vec<Id>,
    /// The last request xid answered on this connection and the highest reply zxid, kept to
    /// assert ZooKeeper's promise where it is made: replies in request order, zxids never back.
    pub(in crate::zab) last_reply: (i32, Zxid),
}

impl Conn {
    pub(in crate::zab) fn new() -> Conn {
        Conn { session: None, auth: Vec::new(), last_reply: (i32::MIN, 0) }
    }

    /// Records a reply; request xids (non-negative) strictly increase, zxids never decrease.
    pub(in crate::zab) fn record_reply(&mut self, xid: i32, zxid: Zxid) {
        let (last_xid, last_zxid) = self.last_reply;
        assert!(xid < 0 || xid > last_xid, "reply xid {xid} after {last_xid}: replies leave in request order");
        assert!(zxid >= last_zxid, "reply zxid {zxid:#x} after {last_zxid:#x}: a connection's zxid never goes back");
        self.last_reply = (if xid >= 0 { xid } else { last_xid }, zxid);
    }
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
        assert!(self.xid >= 0 || !self.request.is_write(), "a write carries a client xid, not {}", self.xid);
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
        assert!(config.min_session_timeout_ms <= config.max_session_timeout_ms, "minSessionTimeout above maxSessionTimeout");
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
