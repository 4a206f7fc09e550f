//! `Leader.lead`: becoming leader, the half-tick loop (synced quorum, pings, session expiry),
//! stepping down, and the dispatch of learner messages to the phase that handles them.

use std::sync::Arc;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::zab::action::Action;
use crate::zab::message::PeerMessage;
use crate::zab::peer::{QuorumPeer, Role};
use crate::zab::{ServerId, ServerState};
use crate::server::session_tracker::SessionTracker;
use crate::tree::prep::{PrepConfig, Preparer};
use crate::zab::leader::state::{HandlerPhase, LeaderState};

impl QuorumPeer {
    // ================================================================== leader

    pub(in crate::zab) fn become_leader(&mut self, now_ms: i64) {
        assert!(self.config.is_voter(self.config.my_id), "only a voter leads");
        self.set_state(ServerState::Leading);
        // `zk.loadData()` ends with a clean snapshot.
        self.take_snapshot_now();
        let my_id = self.config.my_id;
        let summary = (self.mirror.current_epoch, self.db.last_processed_zxid());
        let proposed_epoch = self.mirror.accepted_epoch + 1;
        let prep = PrepConfig::default();
        let mut leader = LeaderState {
            epoch: None,
            proposed_epoch,
            connecting: BTreeSet::from([my_id]),
            electing: BTreeSet::new(),
            election_finished: false,
            new_leader_acks: BTreeSet::new(),
            established: false,
            summary,
            handlers: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            last_proposed: 0,
            last_committed: 0,
            pending_syncs: BTreeMap::new(),
            phase_deadline_ms: now_ms + self.init_limit_ms(),
            tick: 0,
            tick_skip: true,
            next_half_tick_ms: now_ms + self.config.tick_time_ms / 2,
            preparer: Preparer::new(prep),
            sessions: SessionTracker::new(self.config.tick_time_ms, my_id as i64, now_ms),
            session_owner: BTreeMap::new(),
            unsynced_own: VecDeque::new(),
        };
        leader.last_committed = self.db.last_processed_zxid();
        assert!(leader.summary.0 < proposed_epoch, "the epoch to propose is beyond the leader's current epoch");
        self.role = Role::Leading(Box::new(leader));
        self.try_fix_epoch();
    }

    pub(in crate::zab) fn leader_on_timer(&mut self, now_ms: i64) {
        let (established, deadline) = {
            let l = self.leader_ref();
            assert!(!l.established || (l.epoch.is_some() && l.election_finished), "an established leader fixed its epoch and finished discovery");
            (l.established, l.phase_deadline_ms)
        };
        if !established && now_ms >= deadline {
            self.leader_give_up(now_ms, "timeout waiting for a quorum in discovery/sync");
            return;
        }
        while matches!(&self.role, Role::Leading(l) if now_ms >= l.next_half_tick_ms) {
            if !self.leader_half_tick(now_ms) {
                return;
            }
        }
    }

    /// Every half tick (`Leader.lead` main loop): count ticks, check a synced quorum, ping.
    /// Returns false when the leader stepped down.
    pub(in crate::zab) fn leader_half_tick(&mut self, now_ms: i64) -> bool {
        let config = Arc::clone(&self.config);
        let l = self.leader();
        l.next_half_tick_ms += config.tick_time_ms / 2;
        if !l.established {
            return true;
        }
        if !l.tick_skip {
            l.tick += 1;
        }
        let tick = l.tick;
        let mut synced: BTreeSet<ServerId> =
            l.handlers.iter().filter(|(_, h)| !h.observer && tick <= h.tick_of_next_ack_deadline).map(|(id, _)| *id).collect();
        synced.insert(config.my_id);
        assert!(synced.iter().all(|id| config.is_voter(*id)), "the synced quorum is drawn from voters only");
        if !l.tick_skip && !config.is_quorum(&synced) {
            self.leader_give_up(now_ms, "not sufficient followers synced");
            return false;
        }
        l.tick_skip = !l.tick_skip;
        let dead: Vec<ServerId> = l.handlers.iter().filter(|(_, h)| tick > h.tick_of_next_ack_deadline).map(|(id, _)| *id).collect();
        for sid in dead {
            // `LearnerHandler.ping`: a learner silent past its deadline is shut down.
            self.leader().handlers.remove(&sid);
            self.out.push(Action::ClosePeer { peer: sid });
        }
        // `LearnerHandler.ping` ignores a learner whose sending thread has not started: a PING
        // must never reach a learner before its first sync packet.
        let active: Vec<ServerId> = self
            .leader_ref()
            .handlers
            .iter()
            .filter(|(_, h)| matches!(h.phase, HandlerPhase::WaitingForNewLeaderAck | HandlerPhase::WaitingForEstablished | HandlerPhase::Active))
            .map(|(id, _)| *id)
            .collect();
        for sid in active {
            self.send(sid, PeerMessage::Ping { sessions: Vec::new() });
        }
        self.expire_sessions(now_ms);
        true
    }

    pub(in crate::zab) fn leader_give_up(&mut self, now_ms: i64, reason: &str) {
        assert_eq!(self.state, ServerState::Leading, "only a leader steps down");
        tracing::debug!(now = now_ms, server = self.config.my_id, reason, "leader stepping down");
        self.become_looking(now_ms);
    }

    pub(in crate::zab) fn leader_on_message(&mut self, now_ms: i64, from: ServerId, msg: PeerMessage) {
        assert!(!matches!(msg, PeerMessage::Notification(_)), "election notifications are handled before the role");
        let deadline = {
            let l = self.leader_ref();
            if l.established {
                l.tick + self.config.sync_limit_ticks
            } else {
                l.tick + self.config.init_limit_ticks + self.config.sync_limit_ticks
            }
        };
        if let Some(h) = self.leader().handlers.get_mut(&from) {
            h.tick_of_next_ack_deadline = deadline;
        }
        match msg {
            PeerMessage::FollowerInfo { accepted_epoch, last_zxid, observer } => {
                self.on_follower_info(from, accepted_epoch, last_zxid, observer)
            }
            PeerMessage::AckEpoch { current_epoch, last_zxid } => self.on_ack_epoch(now_ms, from, current_epoch, last_zxid),
            PeerMessage::Ack { zxid } => self.on_ack(from, zxid),
            PeerMessage::Ping { sessions } => self.on_learner_ping(now_ms, sessions),
            PeerMessage::Request { session, cxid, request, auth } => {
                if self.leader_ref().established {
                    self.leader_submit(from, session, cxid, *request, auth)
                }
            }
            PeerMessage::CreateSession { session, timeout_ms } => {
                if self.leader_ref().established {
                    self.leader_create_session(from, session, timeout_ms)
                }
            }
            PeerMessage::Revalidate { session, .. } => {
                let valid = self.leader_revalidate(from, session);
                self.send(from, PeerMessage::RevalidateReply { session, valid });
            }
            _ => {}
        }
    }
}
