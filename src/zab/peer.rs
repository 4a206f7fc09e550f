//! `QuorumPeer`: one ZooKeeper server of an ensemble — election, discovery, synchronization and
//! broadcast — as a deterministic state machine. This file holds the peer's state and the event
//! dispatcher: `on_message`, `on_timer`, `on_log_synced` (in [`super::persistence`]) and
//! `on_peer_disconnected` hand each event to the phase that owns it.
//!
//! Why one struct: the roles share the database, the on-disk mirror and the log-sync
//! bookkeeping, and a role change must reset exactly the right parts (the ZOOKEEPER-2845 and
//! -2355 fixes reload the database from the log whenever a server leaves following or leading).
//! Its behaviour is cut along ZAB's phases, one file each, as `impl QuorumPeer` blocks:
//! - [`super::persistence`]: `SyncRequestProcessor` (log, fsync, snapshots) and the epoch files;
//! - [`super::leader`]: `Leader.lead` ([`super::leader::lead`]), discovery
//!   ([`super::leader::discovery`]), `LearnerHandler.syncFollower`
//!   ([`super::leader::sync_follower`]), `processAck` / `propose` / `commit`
//!   ([`super::leader::broadcast`]);
//! - [`super::learner`]: `registerWithLeader` ([`super::learner::discovery`]), `syncWithLeader`
//!   ([`super::learner::sync_with_leader`]), following and observing
//!   ([`super::learner::broadcast`]);
//! - [`super::serving`]: the client-facing request pipeline.
//!
//! The actions it emits and their ordering contract are in [`super::action`].

use std::collections::VecDeque;
use std::sync::Arc;

pub use super::action::{Action, Observation};
use super::database::{DiskMirror, ZkDatabase};
use super::load_memo::LoadMemo;
use super::election::{Election, ElectionOutput, NO_VOTE};
use super::fault_point::{FaultPoint, Passage};
use super::leader::state::LeaderState;
use super::learner::state::{LearnerPhase, LearnerState, SyncState, LEARNER_CONNECT_RETRY_MS};
use super::message::{Notification, PeerMessage, Vote};
use super::serving::state::Serving;
use super::{zxid_str, Bug, PeerConfig, ServerId, ServerState};
use crate::proto::Zxid;
use crate::tree::snapshot::FuzzySnapshot;

pub(in crate::zab) enum Role {
    Looking,
    Leading(Box<LeaderState>),
    Learning(Box<LearnerState>),
}

pub struct QuorumPeer {
    /// Shared so that handlers can hold it while they change the role (a clone is a count).
    pub config: Arc<PeerConfig>,
    pub state: ServerState,
    pub(in crate::zab) mirror: DiskMirror,
    pub(in crate::zab) db: ZkDatabase,
    pub(in crate::zab) election: Election,
    /// The decided vote and the round it was decided in.
    pub(in crate::zab) current_vote: (Vote, i64),
    pub(in crate::zab) role: Role,
    pub(in crate::zab) serving: Serving,
    pub(in crate::zab) out: Vec<Action>,
    pub(in crate::zab) now_ms: i64,
    // log sync bookkeeping
    pub(in crate::zab) next_sync_token: u64,
    pub(in crate::zab) sync_tokens: VecDeque<(u64, Zxid)>,
    pub(in crate::zab) last_appended: Zxid,
    pub(in crate::zab) durable_zxid: Zxid,
    pub(in crate::zab) logged_since_snapshot: u64,
    pub(in crate::zab) snapshot_threshold: u64,
    pub(in crate::zab) fuzzy: Option<FuzzySnapshot>,
    /// The database reflects an interrupted sync (ZOOKEEPER-2355 keeps it).
    pub(in crate::zab) keep_db_on_looking: bool,
    /// The last load of the files, which the next reload starts from.
    pub(in crate::zab) load_memo: LoadMemo,
}

impl QuorumPeer {
    /// A server starting from what its disk holds (`QuorumPeer.start` → `loadDataBase`).
    pub fn new(config: PeerConfig, mirror: DiskMirror, now_ms: i64) -> QuorumPeer {
        assert!(
            mirror.accepted_epoch >= mirror.current_epoch,
            "acceptedEpoch {} is less than currentEpoch {}",
            mirror.accepted_epoch,
            mirror.current_epoch
        );
        assert!(config.is_member(config.my_id), "server {} is not a member of its ensemble", config.my_id);
        let mut load_memo = LoadMemo::default();
        let db = load_memo.load(&mirror, config.commit_log_count);
        let last = db.last_processed_zxid();
        assert_eq!(last, mirror.last_logged_zxid(), "a server starts from exactly what its data directory holds");
        let snapshot_threshold = config.snap_count / 2 + (config.my_id * 7919) % (config.snap_count / 2).max(1);
        let config = Arc::new(config);
        let mut peer = QuorumPeer {
            serving: Serving::new(&config, now_ms),
            current_vote: (Vote { leader: config.my_id, zxid: last, peer_epoch: mirror.current_epoch }, 0),
            election: Election::new(0),
            config,
            state: ServerState::Looking,
            mirror,
            db,
            role: Role::Looking,
            out: Vec::new(),
            now_ms,
            next_sync_token: 1,
            sync_tokens: VecDeque::new(),
            last_appended: last,
            durable_zxid: last,
            logged_since_snapshot: 0,
            snapshot_threshold: snapshot_threshold.max(1),
            fuzzy: None,
            load_memo,
            keep_db_on_looking: false,
        };
        let digest = peer.db.tree.digest();
        tracing::debug!(server = peer.config.my_id, zxid = %zxid_str(last), digest = format!("{digest:016x}"), "database loaded");
        peer.observe(Observation::Loaded { zxid: last, digest });
        peer.become_looking(now_ms);
        peer
    }

    /// Takes the actions produced so far, in order.
    pub fn drain_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// Hands back a drained vector, emptied, so the next actions reuse its allocation (kept
    /// only when no action came since the drain).
    pub fn recycle_actions(&mut self, spent: Vec<Action>) {
        assert!(spent.is_empty(), "a recycled action vector was executed to the end");
        if self.out.is_empty() && self.out.capacity() < spent.capacity() {
            self.out = spent;
        }
    }

    pub fn last_processed_zxid(&self) -> Zxid {
        self.db.last_processed_zxid()
    }

    pub fn digest(&self) -> u64 {
        self.db.tree.digest()
    }

    pub fn tree(&self) -> &crate::tree::DataTree {
        &self.db.tree
    }

    pub fn mirror(&self) -> &DiskMirror {
        &self.mirror
    }

    pub fn leader_id(&self) -> Option<ServerId> {
        match &self.role {
            Role::Leading(_) => Some(self.config.my_id),
            Role::Learning(l) => {
                assert!(self.config.is_voter(l.leader), "a learner follows a voter, not {}", l.leader);
                Some(l.leader)
            }
            Role::Looking => None,
        }
    }

    /// Whether the server answers clients (its ZooKeeperServer is running).
    pub fn is_serving(&self) -> bool {
        assert_eq!(matches!(self.role, Role::Looking), self.state == ServerState::Looking, "the state names the role");
        match &self.role {
            Role::Leading(l) => l.established,
            Role::Learning(l) => l.phase == LearnerPhase::Broadcast,
            Role::Looking => false,
        }
    }

    pub fn current_epoch(&self) -> i64 {
        assert!(self.mirror.current_epoch <= self.mirror.accepted_epoch, "currentEpoch never passes acceptedEpoch");
        self.mirror.current_epoch
    }

    pub fn accepted_epoch(&self) -> i64 {
        assert!(self.mirror.current_epoch <= self.mirror.accepted_epoch, "currentEpoch never passes acceptedEpoch");
        self.mirror.accepted_epoch
    }

    pub(in crate::zab) fn observe(&mut self, o: Observation) {
        self.out.push(Action::Observe(o));
    }

    /// Reports a passage of `point` (concerning `peer`, if any) to the shell.
    pub(in crate::zab) fn pass(&mut self, point: FaultPoint, peer: Option<ServerId>) {
        self.out.push(Action::Point(Passage { point, peer }));
    }

    pub(in crate::zab) fn send(&mut self, to: ServerId, msg: PeerMessage) {
        assert_ne!(to, self.config.my_id, "a peer never sends to itself");
        assert!(self.config.is_member(to), "server {to} is not in the ensemble");
        self.out.push(Action::Send { to, msg });
    }

    // ------------------------------------------------------------------ role changes

    pub(in crate::zab) fn set_state(&mut self, state: ServerState) {
        tracing::debug!(now = self.now_ms, server = self.config.my_id, ?state, "state");
        // Observers never lead nor follow; voters never observe.
        let observer = self.config.is_observer();
        assert!(!observer || matches!(state, ServerState::Looking | ServerState::Observing), "observer {} cannot be {state:?}", self.config.my_id);
        assert!(observer || state != ServerState::Observing, "voter {} cannot observe", self.config.my_id);
        self.state = state;
        let epoch = self.mirror.current_epoch;
        self.observe(Observation::StateChanged { state, epoch });
    }

    /// Back to election: leave the current role, drop clients, reload the database.
    pub(in crate::zab) fn become_looking(&mut self, now_ms: i64) {
        self.shutdown_role();
        self.role = Role::Looking;
        self.set_state(ServerState::Looking);
        assert_eq!(self.serving.connection_count(), 0, "a looking server serves no client");
        let initial = Vote { leader: self.config.my_id, zxid: self.last_logged_zxid_for_vote(), peer_epoch: self.mirror.current_epoch };
        let out = self.election.start(&self.config, now_ms, initial);
        self.apply_election_output(now_ms, out);
    }

    /// The zxid a vote carries: the last processed zxid of the database as loaded.
    pub(in crate::zab) fn last_logged_zxid_for_vote(&self) -> Zxid {
        // The ZOOKEEPER-2845 fix: a vote carries what this server logged (the database was
        // reloaded from its files when it left its role). The two flags keep a stale database.
        let stale_db_allowed = self.config.bugs.has(Bug::Zk2845) || self.config.bugs.has(Bug::Zk2355);
        assert!(
            stale_db_allowed || self.db.last_processed_zxid() == self.mirror.last_logged_zxid(),
            "vote zxid {} differs from the last logged {}",
            zxid_str(self.db.last_processed_zxid()),
            zxid_str(self.mirror.last_logged_zxid())
        );
        self.db.last_processed_zxid()
    }

    pub(in crate::zab) fn shutdown_role(&mut self) {
        let previous = std::mem::replace(&mut self.role, Role::Looking);
        let peers: Vec<ServerId> = match &previous {
            Role::Leading(l) => l.handlers.keys().copied().collect(),
            Role::Learning(l) => vec![l.leader],
            Role::Looking => Vec::new(),
        };
        for peer in peers {
            self.out.push(Action::ClosePeer { peer });
        }
        let was_active = !matches!(previous, Role::Looking);
        self.close_all_clients();
        assert_eq!(self.serving.connection_count(), 0, "leaving a role cuts every client off");
        if was_active {
            self.reload_database_on_shutdown();
        }
    }

    /// The ZOOKEEPER-2845 fix: a server that stops following or leading reloads its database
    /// from its log, so its vote and its sync decisions use what it really logged.
    pub(in crate::zab) fn reload_database_on_shutdown(&mut self) {
        let keep = self.config.bugs.has(Bug::Zk2845) || (self.keep_db_on_looking && self.config.bugs.has(Bug::Zk2355));
        assert!(matches!(self.role, Role::Looking), "the database is reloaded after the role is left");
        self.keep_db_on_looking = false;
        if keep {
            return;
        }
        self.reload_database();
    }

    pub(in crate::zab) fn reload_database(&mut self) {
        self.load_memo.reload(&self.mirror, self.config.commit_log_count, &mut self.db);
        self.fuzzy = None;
        let (zxid, digest) = (self.db.last_processed_zxid(), self.db.tree.digest());
        assert_eq!(zxid, self.mirror.last_logged_zxid(), "a reload sees exactly what the data directory holds");
        tracing::debug!(server = self.config.my_id, zxid = %zxid_str(zxid), digest = format!("{digest:016x}"), "database reloaded from the log");
        self.observe(Observation::Loaded { zxid, digest });
    }

    pub(in crate::zab) fn apply_election_output(&mut self, now_ms: i64, out: ElectionOutput) {
        if !out.send.is_empty() {
            for (to, n) in out.send {
                self.send(to, PeerMessage::Notification(n));
            }
            self.pass(FaultPoint::VoteSent, None);
        }
        if let Some((vote, round)) = out.decided {
            assert!(self.config.is_voter(vote.leader), "only a voter leads, not {}", vote.leader);
            assert!(matches!(self.role, Role::Looking), "an election decides only for a looking server");
            self.current_vote = (vote, round);
            let leader = (vote.leader != self.config.my_id).then_some(vote.leader);
            self.pass(FaultPoint::LeaderChosen, leader);
            if vote.leader == self.config.my_id {
                self.become_leader(now_ms);
            } else {
                self.become_learner(now_ms, vote.leader);
            }
        }
    }

    // ------------------------------------------------------------------ events

    /// Time passes. The shell calls this at `next_deadline_ms()` at the latest.
    pub fn on_timer(&mut self, now_ms: i64) {
        self.set_now_ms(now_ms);
        assert_eq!(matches!(self.role, Role::Looking), self.state == ServerState::Looking, "the state names the role");
        match &self.role {
            Role::Looking => {
                let out = self.election.on_timer(&self.config, now_ms);
                self.apply_election_output(now_ms, out);
            }
            Role::Leading(_) => self.leader_on_timer(now_ms),
            Role::Learning(_) => self.learner_on_timer(now_ms),
        }
    }

    pub fn next_deadline_ms(&self) -> i64 {
        let deadline_ms = match &self.role {
            Role::Looking => self.election.next_deadline_ms(),
            Role::Leading(l) => {
                if l.established {
                    l.next_half_tick_ms
                } else {
                    l.phase_deadline_ms.min(l.next_half_tick_ms)
                }
            }
            // Absolute deadlines: events arrive all the time and must not push the check away.
            Role::Learning(l) => {
                let silence_deadline = l.last_heard_ms + self.learner_silence_limit_ms(l) + 1;
                l.reconnect_at_ms.map_or(silence_deadline, |at| at.min(silence_deadline))
            }
        };
        assert!(deadline_ms > 0, "deadlines are absolute simulated times");
        deadline_ms
    }

    /// A message from another server.
    pub fn on_message(&mut self, now_ms: i64, from: ServerId, msg: PeerMessage) {
        assert!(from != self.config.my_id && self.config.is_member(from), "a message from server {from}");
        self.set_now_ms(now_ms);
        if let PeerMessage::Notification(n) = msg {
            self.on_notification(now_ms, from, n);
            return;
        }
        match &self.role {
            Role::Leading(_) => self.leader_on_message(now_ms, from, msg),
            Role::Learning(l) if l.leader == from => self.learner_on_message(now_ms, msg),
            // Nobody here accepts this learner yet: refuse the connection, it will retry.
            Role::Looking if matches!(msg, PeerMessage::FollowerInfo { .. }) => self.out.push(Action::ClosePeer { peer: from }),
            _ => {}
        }
    }

    /// The ZAB connection to `peer` broke (or was replaced by a new one).
    pub fn on_peer_disconnected(&mut self, now_ms: i64, peer: ServerId) {
        assert_ne!(peer, self.config.my_id, "a server has no connection to itself");
        self.set_now_ms(now_ms);
        match &mut self.role {
            Role::Leading(l) => {
                l.handlers.remove(&peer);
            }
            Role::Learning(l) if l.leader == peer && l.phase == LearnerPhase::Discovery => {
                // `connectToLeader` retries a refused connection after a second.
                l.reconnect_at_ms = Some(now_ms + LEARNER_CONNECT_RETRY_MS);
            }
            Role::Learning(l) if l.leader == peer => {
                let in_sync = l.phase == LearnerPhase::Sync;
                self.keep_db_on_looking = in_sync;
                self.become_looking(now_ms);
            }
            _ => {}
        }
    }

    pub(in crate::zab) fn on_notification(&mut self, now_ms: i64, from: ServerId, n: Notification) {
        assert!(self.config.is_member(n.vote.leader) || n.vote == NO_VOTE, "a vote names a member, not {}", n.vote.leader);
        if let Role::Looking = self.role {
            let out = self.election.on_notification(&self.config, now_ms, from, n);
            self.apply_election_output(now_ms, out);
            return;
        }
        // Decided servers answer a looking peer with the vote they follow (`WorkerReceiver`).
        if n.state == ServerState::Looking {
            let (vote, round) = self.current_vote;
            let reply = Notification { vote, election_epoch: round, state: self.state };
            self.send(from, PeerMessage::Notification(reply));
        }
    }

    pub(in crate::zab) fn init_limit_ms(&self) -> i64 {
        self.config.init_limit_ticks * self.config.tick_time_ms
    }

    pub(in crate::zab) fn sync_limit_ms(&self) -> i64 {
        self.config.sync_limit_ticks * self.config.tick_time_ms
    }

    pub(in crate::zab) fn leader(&mut self) -> &mut LeaderState {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => panic!("not leading"),
        }
    }

    pub(in crate::zab) fn leader_ref(&self) -> &LeaderState {
        match &self.role {
            Role::Leading(l) => l,
            _ => panic!("not leading"),
        }
    }

    pub(in crate::zab) fn learner(&mut self) -> &mut LearnerState {
        match &mut self.role {
            Role::Learning(l) => l,
            _ => panic!("not learning"),
        }
    }

    pub(in crate::zab) fn learner_ref(&self) -> &LearnerState {
        match &self.role {
            Role::Learning(l) => l,
            _ => panic!("not learning"),
        }
    }

    pub(in crate::zab) fn sync_state(&mut self) -> &mut SyncState {
        self.learner().sync.as_mut().expect("in sync")
    }

    pub(in crate::zab) fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Every event carries the time; the clock never goes back.
    pub(in crate::zab) fn set_now_ms(&mut self, now_ms: i64) {
        assert!(now_ms >= self.now_ms, "time goes forward: {} after {}", now_ms, self.now_ms);
        self.now_ms = now_ms;
    }

    /// Leaves the current role at once (the leader's zxid counter would overflow).
    pub(in crate::zab) fn force_looking(&mut self) {
        assert!(self.is_leader(), "only a leader's zxid counter can run out");
        let now = self.now_ms;
        self.become_looking(now);
    }

    pub(in crate::zab) fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leading(_))
    }
}
