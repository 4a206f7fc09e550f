//! Fast leader election (`FastLeaderElection.lookForLeader`), as a pure state machine.
//!
//! Why separate: election is the one phase where every server talks to every other, and where
//! votes must be ordered exactly as ZooKeeper orders them (epoch, then zxid, then server id;
//! ZAB paper §IV-A "Phase 0"; `totalOrderPredicate`). Rounds (`logicalclock`) reset the
//! collected votes; a quorum on one vote is final once nothing better arrives within
//! `finalizeWait`; votes from servers already following or leading let a newcomer join the
//! established leader (`outofelection` with `checkLeader`). Observers vote but are never
//! counted and never proposed. `fle_renotify_on_interval` (off by default) is not ZooKeeper:
//! a candidate fix of a starvation zksim found in `lookForLeader`'s re-notification wait
//! (reports/real-zookeeper/looking-starvation.md).

use std::collections::BTreeMap;

use super::message::{Notification, Vote};
use super::{Bug, PeerConfig, ServerId, ServerState};

/// The vote an observer starts with: worse than any real one, never counted.
pub const NO_VOTE: Vote = Vote { leader: ServerId::MAX, zxid: i64::MIN, peer_epoch: i64::MIN };

/// What the election wants done after an event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ElectionOutput {
    /// Notifications to send: (to, notification).
    pub send: Vec<(ServerId, Notification)>,
    /// The election ended with this leader, in this round.
    pub decided: Option<(Vote, i64)>,
}

#[derive(Clone, Debug)]
struct Received {
    vote: Vote,
    election_epoch: i64,
    state: ServerState,
}

pub struct Election {
    pub logical_clock: i64,
    proposal: Vote,
    initial_vote: Vote,
    recv_set: BTreeMap<ServerId, Received>,
    out_of_election: BTreeMap<ServerId, Received>,
    /// Set while a quorum agrees with our proposal and we wait `finalizeWait` for better votes.
    finalize_deadline_ms: Option<i64>,
    notification_interval_ms: i64,
    next_renotify_ms: i64,
    elect_by_zxid_only: bool,
    /// [`PeerConfig::fle_renotify_on_interval`]: the re-notification wait counts from our last
    /// broadcast, not from the last arrival.
    renotify_on_interval: bool,
    /// Broadcasts of our proposal so far (tells `on_notification` whether it sent one).
    broadcasts: u64,
}

impl Election {
    pub fn new(logical_clock: i64) -> Election {
        assert!(logical_clock >= 0, "the logical clock counts rounds from 0");
        Election {
            logical_clock,
            proposal: NO_VOTE,
            initial_vote: NO_VOTE,
            recv_set: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            finalize_deadline_ms: None,
            notification_interval_ms: 0,
            next_renotify_ms: i64::MAX,
            elect_by_zxid_only: false,
            renotify_on_interval: false,
            broadcasts: 0,
        }
    }

    pub fn proposal(&self) -> Vote {
        self.proposal
    }

    /// `lookForLeader` begins: a new round, vote for ourselves (observers: for nobody).
    pub fn start(&mut self, config: &PeerConfig, now_ms: i64, initial_vote: Vote) -> ElectionOutput {
        self.logical_clock += 1;
        self.initial_vote = if config.is_observer() { NO_VOTE } else { initial_vote };
        self.proposal = self.initial_vote;
        self.recv_set.clear();
        self.out_of_election.clear();
        self.finalize_deadline_ms = None;
        self.notification_interval_ms = config.finalize_wait_ms;
        self.next_renotify_ms = now_ms + self.notification_interval_ms;
        self.elect_by_zxid_only = config.bugs.has(Bug::ElectByZxidOnly);
        self.renotify_on_interval = config.fle_renotify_on_interval;
        let mut out = ElectionOutput::default();
        self.send_notifications(config, &mut out);
        assert!(config.is_observer() || self.recv_set.contains_key(&config.my_id), "a voter counts its own vote");
        out
    }

    /// `totalOrderPredicate`: is `new` a better leader than `current`?
    pub fn total_order(&self, new: Vote, current: Vote) -> bool {
        if new == NO_VOTE {
            return false;
        }
        if self.elect_by_zxid_only {
            // Bug: epochs are not compared, so a server with a stale epoch but a long log wins.
            return new.zxid > current.zxid || (new.zxid == current.zxid && new.leader > current.leader);
        }
        let better = new.peer_epoch > current.peer_epoch
            || (new.peer_epoch == current.peer_epoch
                && (new.zxid > current.zxid || (new.zxid == current.zxid && new.leader > current.leader)));
        assert!(!(better && new == current), "a vote is never better than itself");
        better
    }

    fn notification(&self) -> Notification {
        assert!(self.logical_clock > 0, "notifications belong to a started round");
        Notification { vote: self.proposal, election_epoch: self.logical_clock, state: ServerState::Looking }
    }

    /// `sendNotifications`: our proposal to every voter (observers learn from replies). The
    /// copy ZooKeeper sends to itself is counted at once.
    fn send_notifications(&mut self, config: &PeerConfig, out: &mut ElectionOutput) {
        let n = self.notification();
        self.broadcasts += 1;
        let queued = out.send.len();
        if !config.is_observer() {
            self.recv_set.insert(config.my_id, Received { vote: n.vote, election_epoch: n.election_epoch, state: n.state });
        }
        for &to in config.voters.iter().filter(|&&id| id != config.my_id) {
            out.send.push((to, n));
        }
        let other_voters = config.voters.len() - usize::from(!config.is_observer());
        assert_eq!(out.send.len() - queued, other_voters, "one notification per other voter");
    }

    fn update_proposal(&mut self, vote: Vote) {
        assert!(vote != NO_VOTE, "an adopted proposal names a candidate");
        self.proposal = vote;
    }

    /// Time passes: re-notify with backoff when nothing arrives; end a finalize wait.
    pub fn on_timer(&mut self, config: &PeerConfig, now_ms: i64) -> ElectionOutput {
        let mut out = ElectionOutput::default();
        if let Some(deadline) = self.finalize_deadline_ms {
            if now_ms >= deadline {
                self.finalize_deadline_ms = None;
                if self.proposal_has_quorum(config) {
                    assert!(self.proposal != NO_VOTE, "nobody is elected by no vote");
                    out.decided = Some((self.proposal, self.logical_clock));
                    return out;
                }
            }
        }
        if now_ms >= self.next_renotify_ms {
            self.send_notifications(config, &mut out);
            self.notification_interval_ms = (self.notification_interval_ms * 2).min(config.max_notification_interval_ms);
            self.next_renotify_ms = now_ms + self.notification_interval_ms;
        }
        out
    }

    /// The next time `on_timer` has something to do.
    pub fn next_deadline_ms(&self) -> i64 {
        assert!(self.finalize_deadline_ms.is_none_or(|d| d > 0), "a finalize wait ends at a real time");
        self.finalize_deadline_ms.unwrap_or(i64::MAX).min(self.next_renotify_ms)
    }

    fn proposal_has_quorum(&self, config: &PeerConfig) -> bool {
        let agreeing = self
            .recv_set
            .iter()
            .filter(|(_, r)| r.vote == self.proposal && r.election_epoch == self.logical_clock)
            .map(|(id, _)| id);
        let quorum = config.is_quorum(agreeing);
        assert!(!(quorum && self.proposal == NO_VOTE), "voters never agree on no vote");
        quorum
    }

    /// A notification arrived while we are looking.
    pub fn on_notification(&mut self, config: &PeerConfig, now_ms: i64, from: ServerId, n: Notification) -> ElectionOutput {
        assert_ne!(from, config.my_id, "our own vote is counted without a message");
        if !self.renotify_on_interval {
            // Any arrival resets the re-notification wait (`recvqueue.poll` returned something).
            self.next_renotify_ms = now_ms + self.notification_interval_ms;
            return self.handle_notification(config, now_ms, from, n);
        }
        // The candidate fix: only a broadcast restarts the wait, so stale arrivals cannot
        // postpone the next one forever.
        let broadcasts = self.broadcasts;
        let out = self.handle_notification(config, now_ms, from, n);
        if self.broadcasts != broadcasts {
            self.next_renotify_ms = now_ms + self.notification_interval_ms;
        }
        out
    }

    fn handle_notification(&mut self, config: &PeerConfig, now_ms: i64, from: ServerId, n: Notification) -> ElectionOutput {
        let mut out = ElectionOutput::default();
        if !config.is_voter(from) {
            // A non-voter asks: answer with our current proposal, count nothing.
            out.send.push((from, self.notification()));
            return out;
        }
        if n.vote != NO_VOTE && !config.is_voter(n.vote.leader) {
            return out;
        }
        match n.state {
            ServerState::Looking => self.on_looking_vote(config, now_ms, from, n, &mut out),
            ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => self.on_decided_vote(config, from, n, &mut out),
        }
        out
    }

    fn on_looking_vote(&mut self, config: &PeerConfig, now_ms: i64, from: ServerId, n: Notification, out: &mut ElectionOutput) {
        if n.vote == NO_VOTE {
            return;
        }
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recv_set.clear();
            self.finalize_deadline_ms = None;
            let best = if self.total_order(n.vote, self.initial_vote) { n.vote } else { self.initial_vote };
            self.update_proposal(best);
            self.send_notifications(config, out);
        } else if n.election_epoch < self.logical_clock {
            // A straggler: tell it where the election is (`WorkerReceiver`).
            out.send.push((from, self.notification()));
            return;
        } else if self.total_order(n.vote, self.proposal) {
            self.update_proposal(n.vote);
            self.finalize_deadline_ms = None;
            self.send_notifications(config, out);
        }
        assert_eq!(n.election_epoch, self.logical_clock, "only votes of the current round are counted");
        self.recv_set.insert(from, Received { vote: n.vote, election_epoch: n.election_epoch, state: n.state });
        if self.finalize_deadline_ms.is_none() && self.proposal_has_quorum(config) {
            self.finalize_deadline_ms = Some(now_ms + config.finalize_wait_ms);
        }
    }

    /// A vote from a server that already follows or leads (`outofelection`).
    fn on_decided_vote(&mut self, config: &PeerConfig, from: ServerId, n: Notification, out: &mut ElectionOutput) {
        assert!(config.is_voter(n.vote.leader), "a decided server follows a voter, not {}", n.vote.leader);
        let received = Received { vote: n.vote, election_epoch: n.election_epoch, state: n.state };
        if n.election_epoch == self.logical_clock {
            self.recv_set.insert(from, received.clone());
            if self.decided_quorum(config, &self.recv_set, n) && self.check_leader(config, &self.recv_set, n) {
                out.decided = Some((n.vote, n.election_epoch));
                return;
            }
        }
        self.out_of_election.insert(from, received);
        if self.decided_quorum(config, &self.out_of_election, n) && self.check_leader(config, &self.out_of_election, n) {
            self.logical_clock = n.election_epoch;
            out.decided = Some((n.vote, n.election_epoch));
        }
    }

    /// `Vote.equals` for decided votes compares leader and peer epoch only.
    fn decided_quorum(&self, config: &PeerConfig, set: &BTreeMap<ServerId, Received>, n: Notification) -> bool {
        assert!(set.keys().all(|id| config.is_voter(*id)), "only voters' votes are kept");
        let agreeing = set.iter().filter(|(_, r)| r.vote.leader == n.vote.leader && r.vote.peer_epoch == n.vote.peer_epoch);
        config.is_quorum(agreeing.map(|(id, _)| id))
    }

    /// `checkLeader`: the leader we would follow must itself say it leads.
    fn check_leader(&self, config: &PeerConfig, set: &BTreeMap<ServerId, Received>, n: Notification) -> bool {
        assert!(n.vote != NO_VOTE, "a decided vote names its leader");
        if n.vote.leader == config.my_id {
            return n.election_epoch == self.logical_clock;
        }
        set.get(&n.vote.leader).is_some_and(|r| r.state == ServerState::Leading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(me: ServerId) -> PeerConfig {
        PeerConfig::new(me, &[1, 2, 3], &[], 2000)
    }

    fn vote(leader: ServerId, zxid: i64, epoch: i64) -> Vote {
        Vote { leader, zxid, peer_epoch: epoch }
    }

    #[test]
    fn votes_order_by_epoch_then_zxid_then_id() {
        let e = Election::new(0);
        assert!(e.total_order(vote(1, 0, 2), vote(3, 100, 1)), "epoch first");
        assert!(e.total_order(vote(1, 5, 1), vote(3, 4, 1)), "then zxid");
        assert!(e.total_order(vote(3, 5, 1), vote(2, 5, 1)), "then id");
        assert!(!e.total_order(vote(2, 5, 1), vote(2, 5, 1)), "not better than itself");
    }

    #[test]
    fn quorum_then_finalize_wait_decides() {
        let c = config(1);
        let mut e = Election::new(0);
        let out = e.start(&c, 0, vote(1, 10, 1));
        assert_eq!(out.send.len(), 2);
        let n = |v| Notification { vote: v, election_epoch: 1, state: ServerState::Looking };
        let out = e.on_notification(&c, 1, 2, n(vote(2, 12, 1)));
        assert_eq!(e.proposal(), vote(2, 12, 1), "a better vote is adopted");
        assert_eq!(out.send.len(), 2, "and re-broadcast");
        assert!(out.decided.is_none(), "a quorum (1 and 2) waits finalizeWait first");
        assert!(e.on_timer(&c, 100).decided.is_none());
        let out = e.on_notification(&c, 150, 3, n(vote(3, 12, 1)));
        assert_eq!(e.proposal(), vote(3, 12, 1), "a better vote during the wait cancels it");
        assert!(out.decided.is_none());
        e.on_notification(&c, 160, 2, n(vote(3, 12, 1)));
        assert!(e.on_timer(&c, 300).decided.is_none(), "a fresh finalize wait started at 150");
        assert_eq!(e.on_timer(&c, 351).decided, Some((vote(3, 12, 1), 1)));
    }

    #[test]
    fn newcomer_joins_established_leader() {
        let c = config(3);
        let mut e = Election::new(0);
        e.start(&c, 0, vote(3, 0, 0));
        let leading = Notification { vote: vote(1, 50, 2), election_epoch: 4, state: ServerState::Leading };
        let following = Notification { vote: vote(1, 50, 2), election_epoch: 4, state: ServerState::Following };
        assert!(e.on_notification(&c, 1, 2, following).decided.is_none(), "one follower is no quorum");
        let out = e.on_notification(&c, 2, 1, leading);
        assert_eq!(out.decided, Some((vote(1, 50, 2), 4)));
        assert_eq!(e.logical_clock, 4, "the round is taken from the established leader");
    }

    /// A stale LOOKING notification every 10 ms (a flapping server's: an older round, a worse
    /// vote) keeps ZooKeeper's wait from ever timing out, so the proposal never goes out again;
    /// with the candidate fix it goes out at the backoff's pace all the same (200, 600, 1400,
    /// 3000, 6200 ms).
    #[test]
    fn stale_notifications_starve_renotification_unless_the_fix_is_on() {
        for fix in [false, true] {
            let mut c = config(3);
            c.fle_renotify_on_interval = fix;
            let mut e = Election::new(3);
            e.start(&c, 0, vote(3, 10, 2));
            let stale = Notification { vote: vote(1, 5, 1), election_epoch: 2, state: ServerState::Looking };
            let mut renotified_at = Vec::new();
            for t in (10..10_000).step_by(10) {
                let out = e.on_notification(&c, t, 1, stale);
                assert_eq!(out.send, vec![(1, e.notification())], "the straggler is answered, nobody else");
                if !e.on_timer(&c, t + 5).send.is_empty() {
                    renotified_at.push(t + 5);
                }
            }
            let expected: Vec<i64> = if fix { vec![205, 605, 1405, 3005, 6205] } else { Vec::new() };
            assert_eq!(renotified_at, expected, "fix {fix}");
        }
    }

    #[test]
    fn higher_round_resets_votes_and_lower_round_is_answered() {
        let c = config(1);
        let mut e = Election::new(0);
        e.start(&c, 0, vote(1, 10, 1));
        let out = e.on_notification(&c, 1, 2, Notification { vote: vote(2, 1, 1), election_epoch: 5, state: ServerState::Looking });
        assert_eq!(e.logical_clock, 5);
        assert_eq!(e.proposal(), vote(1, 10, 1), "our own vote is better than theirs");
        assert_eq!(out.send.len(), 2);
        let out = e.on_notification(&c, 2, 3, Notification { vote: vote(3, 1, 1), election_epoch: 2, state: ServerState::Looking });
        assert_eq!(out.send, vec![(3, e.notification())], "a straggler gets our current vote back");
    }
}
