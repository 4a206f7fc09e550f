//! The leader's side of serving (`PrepRequestProcessor`, `SessionTrackerImpl`): createSession,
//! revalidation and session ownership, writes prepared against outstanding changes, expiry.


use crate::proto::{Code, Id, Request, SessionId, Zxid};
use crate::tree::prep::Requester;
use crate::tree::{Txn, TxnEntry, TxnHeader};
use crate::zab::fault_point::FaultPoint;
use crate::zab::peer::QuorumPeer;
use crate::zab::{Bug, ServerId};

impl QuorumPeer {
    // ------------------------------------------------------------------ leader side

    /// `PrepRequestProcessor` for a createSession from `origin`.
    pub(in crate::zab) fn leader_create_session(&mut self, origin: ServerId, session: SessionId, timeout_ms: i32) {
        assert!(session != 0 && self.config.is_member(origin), "createSession {session:#x} from server {origin}");
        let now = self.now_ms();
        let Some(zxid) = self.next_zxid() else { return };
        let Some((preparer, sessions, owners)) = self.leader_state_parts() else { return };
        sessions.track_session(session, timeout_ms, now);
        owners.insert(session, origin);
        let txn = preparer.prepare_create_session(timeout_ms);
        let header = TxnHeader { client_id: session, cxid: 0, zxid, time_ms: now };
        self.propose(TxnEntry { header, txn });
    }

    /// Touches a reconnecting session and moves its ownership; false if expired or unknown.
    pub(in crate::zab) fn leader_revalidate(&mut self, origin: ServerId, session: SessionId) -> bool {
        assert!(self.config.is_member(origin), "revalidation from server {origin}");
        let now = self.now_ms();
        let Some((_, sessions, owners)) = self.leader_state_parts() else { return false };
        let valid = sessions.touch(session, now);
        let moved = valid && owners.insert(session, origin).is_some_and(|previous| previous != origin);
        if moved {
            self.pass(FaultPoint::ConnectionMoved, Some(origin));
        }
        valid
    }

    /// A write, sync or close from a client of `origin`, prepared against outstanding changes.
    pub(in crate::zab) fn leader_submit(&mut self, origin: ServerId, session: SessionId, cxid: i32, request: Request, auth: Vec<Id>) {
        assert!(request.is_write() || matches!(request, Request::Sync { .. } | Request::CloseSession), "the leader is sent writes, sync and close only");
        if let Request::Sync { .. } = request {
            self.leader_process_sync(origin, session, cxid);
            return;
        }
        let now = self.now_ms();
        let Some(zxid) = self.next_zxid() else {
            self.on_zxid_overflow();
            return;
        };
        let header = TxnHeader { client_id: session, cxid, zxid, time_ms: now };
        let txn = self.prepare_txn(origin, &header, &request, &auth);
        self.propose(TxnEntry { header, txn });
    }

    pub(in crate::zab) fn prepare_txn(&mut self, origin: ServerId, header: &TxnHeader, request: &Request, auth: &[Id]) -> Txn {
        let now = self.now_ms();
        let session = header.client_id;
        assert!(self.is_leader(), "only the leader prepares txns");
        let prepared = self.with_leader_prep(|preparer, sessions, owners, tree| {
            let known = sessions.get(session).is_some_and(|s| !s.closing);
            if let Request::CloseSession = request {
                sessions.set_closing(session);
                preparer.prepare_close_session(tree, header)
            } else if !known {
                Txn::Error { err: Code::SessionExpired }
            } else if owners.get(&session).is_some_and(|&owner| owner != origin) {
                Txn::Error { err: Code::SessionMoved }
            } else {
                sessions.touch(session, now);
                preparer.prepare(tree, header, request, Requester { session_id: session, auth })
            }
        });
        prepared.expect("prepare runs on an established leader")
    }

    pub(in crate::zab) fn on_zxid_overflow(&mut self) {
        assert!(self.is_leader(), "only the leader assigns zxids");
        tracing::warn!(server = self.config.my_id, "zxid counter would overflow: leader gives up");
        self.force_looking();
    }

    /// Sessions whose deadline passed become closeSession transactions (leader only).
    pub(in crate::zab) fn expire_sessions(&mut self, now_ms: i64) {
        assert!(self.is_leader(), "only the leader expires sessions");
        let keep_ephemerals = self.config.bugs.has(Bug::ExpiryKeepsEphemerals);
        let expired = match self.leader_state_parts() {
            Some((_, sessions, _)) => sessions.expire(now_ms),
            None => return,
        };
        for session in expired {
            if keep_ephemerals {
                // The bug: the session is closed to its client (marked closing: reconnects and
                // requests get SessionExpired) but no closeSession txn is proposed, so no
                // replica ever deletes its ephemerals. (Emptying the txn's path list is not
                // enough: like ZooKeeper's killSession, a replica also deletes the session's
                // ephemerals it tracks locally.)
                continue;
            }
            let Some(zxid) = self.next_zxid() else { return };
            self.pass(FaultPoint::SessionExpired, None);
            let header = TxnHeader { client_id: session, cxid: 0, zxid, time_ms: now_ms };
            let prepared = self.with_leader_prep(|preparer, sessions, _, tree| {
                sessions.set_closing(session);
                preparer.prepare_close_session(tree, &header)
            });
            let txn = prepared.expect("expiry runs on an established leader");
            self.propose(TxnEntry { header, txn });
        }
    }

    /// The zxid of the last committed txn this server applied.
    pub fn last_applied_zxid(&self) -> Zxid {
        self.db.last_processed_zxid()
    }
}
