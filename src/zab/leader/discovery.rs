//! Discovery on the leader's side (ZAB phase 1, `Leader.getEpochToPropose`,
//! `waitForEpochAck`, `waitForNewLeaderAck`): FOLLOWERINFO fixes the new epoch once a quorum
//! sent theirs, LEADERINFO announces it, ACKEPOCH from a quorum makes it current, NEWLEADER ACKs
//! from a quorum establish the leader, then UPTODATE lets learners serve.


use std::sync::Arc;
use crate::proto::Zxid;
use crate::zab::action::Observation;
use crate::zab::fault_point::FaultPoint;
use crate::zab::message::PeerMessage;
use crate::zab::peer::QuorumPeer;
use crate::zab::{make_zxid, ServerId};
use crate::zab::leader::state::{HandlerPhase, LearnerHandler};

impl QuorumPeer {
    /// `getEpochToPropose`: once a quorum (the leader included) sent its acceptedEpoch, the new
    /// epoch is one past the largest, persisted as our acceptedEpoch, and sent to everyone.
    pub(in crate::zab) fn try_fix_epoch(&mut self) {
        let config = Arc::clone(&self.config);
        let now_ms = self.now_ms;
        let l = self.leader();
        if l.epoch.is_some() || !config.is_quorum(&l.connecting) {
            return;
        }
        let epoch = l.proposed_epoch;
        assert!(l.connecting.contains(&config.my_id), "the leader's own acceptedEpoch counts toward the new epoch");
        l.epoch = Some(epoch);
        l.last_proposed = make_zxid(epoch, 0);
        l.phase_deadline_ms = now_ms + config.init_limit_ticks * config.tick_time_ms;
        self.write_accepted_epoch(epoch);
        let waiting: Vec<ServerId> =
            self.leader_ref().handlers.iter().filter(|(_, h)| h.phase == HandlerPhase::WaitingForEpoch).map(|(id, _)| *id).collect();
        for sid in waiting {
            self.send_leader_info(sid, epoch);
        }
        // The leader's own epoch ACK (`waitForEpochAck(self.getId(), leaderStateSummary)`).
        let my_id = self.config.my_id;
        self.leader().electing.insert(my_id);
        self.try_finish_epoch_acks();
    }

    pub(in crate::zab) fn send_leader_info(&mut self, sid: ServerId, epoch: i64) {
        assert_eq!(self.leader_ref().epoch, Some(epoch), "LEADERINFO announces the epoch this leader fixed");
        if let Some(h) = self.leader().handlers.get_mut(&sid) {
            h.phase = HandlerPhase::WaitingForAckEpoch;
        }
        self.send(sid, PeerMessage::LeaderInfo { new_epoch: epoch });
        self.pass(FaultPoint::LeaderInfoSent, Some(sid));
    }

    /// `waitForEpochAck` done: the leader takes the new epoch as current and syncs learners.
    pub(in crate::zab) fn try_finish_epoch_acks(&mut self) {
        let config = Arc::clone(&self.config);
        let now_ms = self.now_ms;
        let l = self.leader();
        if l.election_finished || !config.is_quorum(&l.electing) {
            return;
        }
        l.election_finished = true;
        let epoch = l.epoch.expect("epoch fixed before epoch acks");
        assert!(l.electing.contains(&config.my_id), "the leader's own epoch ACK is part of the quorum");
        l.phase_deadline_ms = now_ms + config.init_limit_ticks * config.tick_time_ms;
        self.write_current_epoch(epoch);
        let ready: Vec<ServerId> = self
            .leader_ref()
            .handlers
            .iter()
            .filter(|(_, h)| h.phase == HandlerPhase::WaitingForEpochQuorum)
            .map(|(id, _)| *id)
            .collect();
        for sid in ready {
            self.sync_learner(sid);
        }
        // The leader's own NEWLEADER ACK: its log already holds its history.
        let my_id = self.config.my_id;
        self.leader().new_leader_acks.insert(my_id);
        self.try_establish();
    }

    pub(in crate::zab) fn try_establish(&mut self) {
        let config = Arc::clone(&self.config);
        let now_ms = self.now_ms;
        let l = self.leader();
        if l.established || !config.is_quorum(&l.new_leader_acks) {
            return;
        }
        assert!(l.election_finished, "NEWLEADER ACKs count only after the epoch is current");
        l.established = true;
        let epoch = l.epoch.expect("established with an epoch");
        l.tick = 0;
        l.next_half_tick_ms = now_ms + config.tick_time_ms / 2;
        let (last_zxid, digest) = (self.db.last_processed_zxid(), self.db.tree.digest());
        self.observe(Observation::Established { epoch, last_zxid, digest });
        self.pass(FaultPoint::LeaderEstablished, None);
        // ZOOKEEPER-1732: every member reports the same vote to newcomers.
        self.current_vote.0.peer_epoch = epoch;
        assert_eq!(self.mirror.current_epoch, epoch, "an established leader's currentEpoch is its epoch");
        self.start_leader_sessions(now_ms);
        let waiting: Vec<ServerId> = self
            .leader_ref()
            .handlers
            .iter()
            .filter(|(_, h)| h.phase == HandlerPhase::WaitingForEstablished)
            .map(|(id, _)| *id)
            .collect();
        for sid in waiting {
            self.send_up_to_date(sid);
        }
    }

    /// `startZkServer`: the leader's session tracker takes every session in the database.
    pub(in crate::zab) fn start_leader_sessions(&mut self, now_ms: i64) {
        let sessions = self.db.session_list();
        let l = self.leader();
        assert!(l.established, "the session tracker starts with the established leader");
        for (id, timeout) in sessions {
            l.sessions.track_session(id, timeout, now_ms);
        }
    }

    pub(in crate::zab) fn send_up_to_date(&mut self, sid: ServerId) {
        assert!(self.leader_ref().established, "UPTODATE comes only from an established leader");
        if let Some(h) = self.leader().handlers.get_mut(&sid) {
            h.phase = HandlerPhase::Active;
        }
        self.send(sid, PeerMessage::UpToDate);
    }

    pub(in crate::zab) fn on_follower_info(&mut self, from: ServerId, accepted_epoch: i64, last_zxid: Zxid, observer: bool) {
        self.pass(FaultPoint::FollowerInfoReceived, Some(from));
        let config = Arc::clone(&self.config);
        assert_eq!(observer, !config.is_voter(from), "server {from} says it is {} an observer", if observer { "" } else { "not" });
        let l = self.leader();
        let deadline = l.tick + config.init_limit_ticks + config.sync_limit_ticks;
        l.handlers.insert(
            from,
            LearnerHandler { observer, phase: HandlerPhase::WaitingForEpoch, peer_last_zxid: last_zxid, tick_of_next_ack_deadline: deadline },
        );
        match l.epoch {
            Some(epoch) => self.send_leader_info(from, epoch),
            None => {
                if accepted_epoch >= l.proposed_epoch {
                    l.proposed_epoch = accepted_epoch + 1;
                }
                if config.is_voter(from) {
                    l.connecting.insert(from);
                }
                self.try_fix_epoch();
            }
        }
    }

    pub(in crate::zab) fn on_ack_epoch(&mut self, now_ms: i64, from: ServerId, current_epoch: i64, last_zxid: Zxid) {
        let config = Arc::clone(&self.config);
        let l = self.leader();
        let Some(h) = l.handlers.get_mut(&from) else { return };
        if h.phase != HandlerPhase::WaitingForAckEpoch {
            return;
        }
        assert!(l.epoch.is_some(), "ACKEPOCH answers a LEADERINFO, sent only once the epoch is fixed");
        h.peer_last_zxid = last_zxid;
        h.phase = HandlerPhase::WaitingForEpochQuorum;
        self.pass(FaultPoint::AckEpochReceived, Some(from));
        let l = self.leader();
        if l.election_finished {
            self.sync_learner(from);
            return;
        }
        if current_epoch != -1 {
            let (my_epoch, my_zxid) = l.summary;
            if current_epoch > my_epoch || (current_epoch == my_epoch && last_zxid > my_zxid) {
                self.leader_give_up(now_ms, "a follower is ahead of the leader");
                return;
            }
            if config.is_voter(from) {
                l.electing.insert(from);
            }
        }
        self.try_finish_epoch_acks();
    }
}
