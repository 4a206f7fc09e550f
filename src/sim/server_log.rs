//! Server events for the history's server lanes: role and epoch changes, election results,
//! sync decisions, NEWLEADER / UPTODATE, crashes, restarts, recoveries, snapshots,
//! truncations and session expiries, each stamped with the true simulated time.
//!
//! Why here, in the shell: the ZAB core already reports all of this (observations, fault-point
//! passages, persistence actions); the shell only writes down what it executes. Writing down
//! draws no random number and sends nothing, so recording leaves every schedule (and the
//! trace hash) as it was. The runner turns the log into `server` lines of the history
//! (`docs/history-format.md`).

use crate::history::record::ServerRecord;
use crate::proto::Zxid;
use crate::zab::ServerId;

/// At most this many events are kept per run; later ones are counted, not kept.
pub const MAX_SERVER_EVENTS: usize = 100_000;

/// One thing a server did or had done to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoggedEvent {
    pub t_ns: u64,
    pub server: ServerId,
    /// `looking`, `leading`, `following`, `observing`, `elected`, `established`, `sync`,
    /// `newleader`, `newleader_ack`, `uptodate`, `crash`, `exit`, `restart`, `recovered`,
    /// `pause`, `resume`, `snapshot`, `truncate`, `loaded`, `session_expired`.
    pub event: &'static str,
    pub epoch: Option<i64>,
    pub zxid: Option<Zxid>,
    /// The other server the event concerns (the leader chosen, the learner synced).
    pub peer: Option<ServerId>,
    /// `sync`: DIFF, TRUNC, TRUNC+DIFF or SNAP.
    pub mode: Option<&'static str>,
    /// `sync`: the first and last txn sent (DIFF), the truncation point (TRUNC) or the
    /// snapshot's zxid (SNAP).
    pub from_zxid: Option<Zxid>,
    pub to_zxid: Option<Zxid>,
    /// `session_expired`: the session id.
    pub session: Option<i64>,
    pub detail: String,
}

impl LoggedEvent {
    pub fn new(t_ns: u64, server: ServerId, event: &'static str) -> LoggedEvent {
        LoggedEvent { t_ns, server, event, ..LoggedEvent::default() }
    }

    /// The history line's record.
    pub fn to_record(&self) -> ServerRecord {
        ServerRecord {
            t_ns: self.t_ns,
            server: format!("s{}", self.server),
            event: self.event.to_string(),
            epoch: self.epoch,
            zxid: self.zxid,
            peer: self.peer.map(|p| format!("s{p}")),
            mode: self.mode.map(str::to_string),
            from_zxid: self.from_zxid,
            to_zxid: self.to_zxid,
            session: self.session.map(|s| format!("0x{s:x}")),
            detail: (!self.detail.is_empty()).then(|| self.detail.clone()),
        }
    }
}

/// The run's server events, in the order they happened.
#[derive(Default)]
pub struct ServerLog {
    pub events: Vec<LoggedEvent>,
    /// Events not kept because the log was full.
    pub dropped: u64,
}

impl ServerLog {
    pub fn push(&mut self, event: LoggedEvent) {
        if self.events.len() < MAX_SERVER_EVENTS {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }
}

/// The true simulated time (servers' local clocks may drift; the history uses true time).
pub fn true_now_ns() -> u64 {
    crate::sim::clock::elapsed().as_nanos() as u64
}

/// What a leader sent a learner between the first sync packet and NEWLEADER, summed up when
/// it passes `sync_packets_queued`.
#[derive(Clone, Debug, Default)]
pub struct SyncSummary {
    /// `Diff`, `Trunc` or `Snap`, with its zxid.
    pub first: Option<(&'static str, Zxid)>,
    pub proposals: u64,
    pub first_proposal: Option<Zxid>,
    pub last_proposal: Option<Zxid>,
}

impl SyncSummary {
    pub fn proposal(&mut self, zxid: Zxid) {
        self.proposals += 1;
        self.first_proposal.get_or_insert(zxid);
        self.last_proposal = Some(zxid);
    }

    /// The `sync` event: the mode as ZooKeeper logs it and its zxid range.
    pub fn event(&self, t_ns: u64, leader: ServerId, learner: ServerId) -> LoggedEvent {
        let mut e = LoggedEvent::new(t_ns, leader, "sync");
        e.peer = Some(learner);
        let txns = |n: u64| if n == 1 { "1 txn".to_string() } else { format!("{n} txns") };
        match self.first {
            Some(("SNAP", zxid)) => {
                e.mode = Some("SNAP");
                e.to_zxid = Some(zxid);
                e.detail = format!("snapshot at {}", crate::zab::zxid_str(zxid));
            }
            Some(("TRUNC", zxid)) if self.proposals > 0 => {
                e.mode = Some("TRUNC+DIFF");
                e.zxid = Some(zxid);
                e.from_zxid = self.first_proposal;
                e.to_zxid = self.last_proposal;
                e.detail = format!("truncate to {}, then {}", crate::zab::zxid_str(zxid), txns(self.proposals));
            }
            Some(("TRUNC", zxid)) => {
                e.mode = Some("TRUNC");
                e.zxid = Some(zxid);
                e.detail = format!("truncate to {}", crate::zab::zxid_str(zxid));
            }
            Some((_, zxid)) => {
                e.mode = Some("DIFF");
                e.zxid = Some(zxid);
                e.from_zxid = self.first_proposal;
                e.to_zxid = self.last_proposal;
                e.detail = txns(self.proposals);
            }
            None => {
                e.mode = Some("DIFF");
                e.detail = txns(self.proposals);
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::make_zxid;

    #[test]
    fn sync_modes_are_named_as_zookeeper_logs_them() {
        let mut s = SyncSummary { first: Some(("TRUNC", make_zxid(1, 4))), ..SyncSummary::default() };
        assert_eq!(s.event(0, 1, 2).mode, Some("TRUNC"));
        s.proposal(make_zxid(2, 1));
        s.proposal(make_zxid(2, 2));
        let e = s.event(0, 1, 2);
        assert_eq!((e.mode, e.from_zxid, e.to_zxid), (Some("TRUNC+DIFF"), Some(make_zxid(2, 1)), Some(make_zxid(2, 2))));
        let diff = SyncSummary { first: Some(("DIFF", make_zxid(2, 2))), ..SyncSummary::default() };
        assert_eq!(diff.event(0, 1, 3).mode, Some("DIFF"));
        let snap = SyncSummary { first: Some(("SNAP", make_zxid(2, 9))), ..SyncSummary::default() };
        assert_eq!(snap.event(0, 1, 3).to_zxid, Some(make_zxid(2, 9)));
    }

    #[test]
    fn the_log_is_bounded() {
        let mut log = ServerLog::default();
        for i in 0..MAX_SERVER_EVENTS + 5 {
            log.push(LoggedEvent::new(i as u64, 1, "snapshot"));
        }
        assert_eq!((log.events.len(), log.dropped), (MAX_SERVER_EVENTS, 5));
    }
}
