//! Discovery on the learner's side (`Learner.connectToLeader`, `registerWithLeader`):
//! FOLLOWERINFO, LEADERINFO → persist acceptedEpoch → ACKEPOCH; the learner's timers (leader
//! silence, reconnect) and the dispatch of the leader's messages to the current phase.

use std::collections::{BTreeMap, VecDeque};

use crate::zab::fault_point::FaultPoint;
use crate::zab::message::PeerMessage;
use crate::zab::peer::{Observation, QuorumPeer, Role};
use crate::zab::{ServerId, ServerState};
use crate::zab::learner::state::{LearnerPhase, LearnerState, SyncState};

impl QuorumPeer {
    // ================================================================== learner

    pub(in crate::zab) fn become_learner(&mut self, now_ms: i64, leader: ServerId) {
        assert!(leader != self.config.my_id && self.config.is_voter(leader), "a learner follows another voter, not {leader}");
        let state = if self.config.is_observer() { ServerState::Observing } else { ServerState::Following };
        self.set_state(state);
        self.role = Role::Learning(Box::new(LearnerState {
            leader,
            phase: LearnerPhase::Discovery,
            new_epoch: 0,
            sync: None,
            last_heard_ms: now_ms,
            pending_txns: VecDeque::new(),
            unacked: VecDeque::new(),
            touched: BTreeMap::new(),
            reconnect_at_ms: None,
        }));
        self.send_follower_info(leader);
    }

    pub(in crate::zab) fn send_follower_info(&mut self, leader: ServerId) {
        assert_eq!(self.learner_ref().phase, LearnerPhase::Discovery, "FOLLOWERINFO opens discovery");
        let info = PeerMessage::FollowerInfo {
            accepted_epoch: self.mirror.accepted_epoch,
            last_zxid: self.db.last_processed_zxid(),
            observer: self.config.is_observer(),
        };
        self.send(leader, info);
        self.pass(FaultPoint::FollowerInfoSent, Some(leader));
    }

    pub(in crate::zab) fn learner_on_timer(&mut self, now_ms: i64) {
        if let Some(at) = self.learner_ref().reconnect_at_ms {
            if now_ms >= at {
                self.learner().reconnect_at_ms = None;
                let leader = self.learner_ref().leader;
                self.send_follower_info(leader);
            }
        }
        let l = self.learner_ref();
        assert!(l.last_heard_ms <= now_ms, "the leader was not heard from in the future");
        if now_ms - l.last_heard_ms > self.learner_silence_limit_ms(l) {
            tracing::debug!(server = self.config.my_id, leader = l.leader, "leader silent, back to election");
            self.keep_db_on_looking = l.phase == LearnerPhase::Sync;
            self.become_looking(now_ms);
        }
    }

    /// How long the leader may be silent: syncLimit once synced, initLimit before.
    pub(in crate::zab) fn learner_silence_limit_ms(&self, l: &LearnerState) -> i64 {
        assert!(self.sync_limit_ms() > 0 && self.init_limit_ms() > 0, "silence limits are positive");
        if l.phase == LearnerPhase::Broadcast || l.sync.as_ref().is_some_and(|s| s.new_leader_acked) {
            self.sync_limit_ms()
        } else {
            self.init_limit_ms()
        }
    }

    pub(in crate::zab) fn learner_on_message(&mut self, now_ms: i64, msg: PeerMessage) {
        assert!(!matches!(msg, PeerMessage::Notification(_)), "election notifications are handled before the role");
        self.learner().last_heard_ms = now_ms;
        match self.learner_ref().phase {
            LearnerPhase::Discovery => self.learner_discovery(now_ms, msg),
            LearnerPhase::Sync => self.learner_sync(now_ms, msg),
            LearnerPhase::Broadcast => self.learner_broadcast(msg),
        }
    }

    /// `registerWithLeader`: LEADERINFO → persist acceptedEpoch → ACKEPOCH.
    pub(in crate::zab) fn learner_discovery(&mut self, now_ms: i64, msg: PeerMessage) {
        let PeerMessage::LeaderInfo { new_epoch } = msg else { return };
        let leader = self.learner_ref().leader;
        self.pass(FaultPoint::LeaderInfoReceived, Some(leader));
        let accepted = self.mirror.accepted_epoch;
        let epoch_to_report = if new_epoch > accepted {
            let current = self.mirror.current_epoch;
            self.write_accepted_epoch(new_epoch);
            current
        } else if new_epoch == accepted {
            -1
        } else {
            tracing::debug!(server = self.config.my_id, new_epoch, accepted, "leader's epoch is older than ours");
            self.observe(Observation::EpochRefused { leader, new_epoch, accepted_epoch: accepted });
            self.become_looking(now_ms);
            return;
        };
        let last_zxid = self.db.last_processed_zxid();
        assert!(self.mirror.accepted_epoch >= new_epoch, "ACKEPOCH only after acceptedEpoch is persisted");
        let leader = {
            let l = self.learner();
            // The leader answered: a retry still pending from a refused attempt is moot (it
            // re-sent FOLLOWERINFO in the middle of the sync; found by the assertion in
            // `send_follower_info`, explore seeds 72 and 87).
            l.reconnect_at_ms = None;
            l.phase = LearnerPhase::Sync;
            l.new_epoch = new_epoch;
            l.sync = Some(SyncState {
                mode: None,
                snapshot_needed: true,
                write_to_txn_log: false,
                packets_not_committed: VecDeque::new(),
                packets_committed: VecDeque::new(),
                last_queued: 0,
                new_leader_wait: None,
                new_leader_acked: false,
                ack_after_up_to_date: Vec::new(),
            });
            l.leader
        };
        self.send(leader, PeerMessage::AckEpoch { current_epoch: epoch_to_report, last_zxid });
        self.pass(FaultPoint::AckEpochSent, Some(leader));
    }
}
