//! `QuorumPeer`: one ZooKeeper server of an ensemble — election, discovery, synchronization and
//! broadcast — as a deterministic state machine.
//!
//! Why one struct: the roles share the database, the on-disk mirror and the log-sync
//! bookkeeping, and a role change must reset exactly the right parts (the ZOOKEEPER-2845 and
//! -2355 fixes reload the database from the log whenever a server leaves following or leading).
//! Client-facing serving (sessions, the per-session pipeline) lives in [`super::serving`].
//!
//! Contract of the actions (the shell executes them in order):
//! - `AppendLog` is buffered, `SyncLog` asks for an fsync and is answered by
//!   [`QuorumPeer::on_log_synced`]; an ACK for a proposal is only sent once its log write is
//!   durable (ZAB paper §IV-C: "a follower acknowledges a proposal after it has written it to
//!   stable storage");
//! - epoch files and snapshots are written durably before the next action;
//! - `Send`s to one peer arrive in order (TCP), unless `ClosePeer` cut the connection between.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::database::{DiskMirror, ZkDatabase};
use super::election::{Election, ElectionOutput};
use super::fault_point::{FaultPoint, Passage};
use super::message::{Notification, PeerMessage, Vote};
use super::serving::{ConnId, Serving};
use super::{epoch_of, make_zxid, zxid_str, Bug, PeerConfig, ServerId, ServerState};
use crate::proto::Zxid;
use crate::server::session_tracker::SessionTracker;
use crate::tree::prep::{PrepConfig, Preparer};
use crate::tree::snapshot::{FuzzySnapshot, Snapshot};
use crate::tree::TxnEntry;
use crate::wire::ServerMessage;


/// What the peer asks its shell to do.
#[derive(Clone, Debug)]
pub enum Action {
    Send { to: ServerId, msg: PeerMessage },
    /// Cut the ZAB connection to `peer`: whatever was in flight on it is lost.
    ClosePeer { peer: ServerId },
    /// Append to the txn log (not yet durable).
    AppendLog(Arc<TxnEntry>),
    /// fsync the log; answer with `on_log_synced(token)` once durable.
    SyncLog { token: u64 },
    /// Remove every logged txn after `zxid` (durable at once).
    TruncateLog { zxid: Zxid },
    /// Write a snapshot file durably.
    WriteSnapshot(Arc<Snapshot>),
    WriteAcceptedEpoch(i64),
    WriteCurrentEpoch(i64),
    ToClient { conn: ConnId, msg: ServerMessage },
    /// Close a client connection.
    CloseClient { conn: ConnId },
    /// The process exits (ZooKeeper's `System.exit`), e.g. on an out-of-order COMMIT.
    Exit { reason: String },
    /// Something the invariant checker and the trace want to know.
    Observe(Observation),
    /// The peer passes a named protocol moment: the shell may inject a fault right here,
    /// after the actions before it and before those after it (see [`super::fault_point`]).
    Point(Passage),
}

/// Facts for the simulation's invariant checks (`crate::sim::invariants`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    StateChanged { state: ServerState, epoch: i64 },
    /// A leader got a quorum of NEWLEADER ACKs: it is established in `epoch`.
    Established { epoch: i64, last_zxid: Zxid, digest: u64 },
    /// A committed transaction was applied through the broadcast or sync path; the digest is
    /// the tree's after it.
    Committed { entry: Arc<TxnEntry>, digest: u64 },
    /// The database was (re)loaded or replaced by a snapshot at this zxid.
    Loaded { zxid: Zxid, digest: u64 },
    /// A write was answered to a client with this zxid.
    Acknowledged { zxid: Zxid },
    /// A txn offered for the log under a zxid already logged for a different txn (skipped).
    LogConflict { logged: Arc<TxnEntry>, offered: Arc<TxnEntry> },
}

/// A proposal the leader waits on (`Leader.Proposal`).
struct Proposal {
    entry: Arc<TxnEntry>,
    acks: BTreeSet<ServerId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HandlerPhase {
    /// FOLLOWERINFO received; waiting for a quorum to fix the new epoch.
    WaitingForEpoch,
    /// LEADERINFO sent; waiting for ACKEPOCH.
    WaitingForAckEpoch,
    /// ACKEPOCH received; waiting for a quorum of them.
    WaitingForEpochQuorum,
    /// Sync and NEWLEADER queued; waiting for the NEWLEADER ACK.
    WaitingForNewLeaderAck,
    /// NEWLEADER acked; waiting for the leader to be established.
    WaitingForEstablished,
    /// UPTODATE sent.
    Active,
}

/// The leader's view of one learner (`LearnerHandler`).
struct LearnerHandler {
    observer: bool,
    phase: HandlerPhase,
    peer_last_zxid: Zxid,
    /// In ticks: the learner is synced while `tick <= tick_of_next_ack_deadline`.
    tick_of_next_ack_deadline: i64,
}

/// Leader state (`Leader`).
struct LeaderState {
    /// The new epoch once a quorum of FOLLOWERINFO fixed it.
    epoch: Option<i64>,
    proposed_epoch: i64,
    connecting: BTreeSet<ServerId>,
    electing: BTreeSet<ServerId>,
    election_finished: bool,
    new_leader_acks: BTreeSet<ServerId>,
    established: bool,
    /// The leader's (currentEpoch, last zxid) when it started (`leaderStateSummary`).
    summary: (i64, Zxid),
    handlers: BTreeMap<ServerId, LearnerHandler>,
    outstanding: BTreeMap<Zxid, Proposal>,
    last_proposed: Zxid,
    last_committed: Zxid,
    /// sync requests waiting for a zxid to commit: zxid → (origin, session, cxid).
    pending_syncs: BTreeMap<Zxid, Vec<(ServerId, i64, i32)>>,
    /// Deadline for the current discovery/sync wait (initLimit).
    phase_deadline_ms: i64,
    tick: i64,
    tick_skip: bool,
    next_half_tick_ms: i64,
    preparer: Preparer,
    sessions: SessionTracker,
    session_owner: BTreeMap<i64, ServerId>,
    /// Zxids whose log write the leader has not yet seen durable (its own ACK).
    unsynced_own: VecDeque<Zxid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

/// Learner state during `syncWithLeader`.
struct SyncState {
    mode: Option<SyncMode>,
    snapshot_needed: bool,
    write_to_txn_log: bool,
    packets_not_committed: VecDeque<Arc<TxnEntry>>,
    packets_committed: VecDeque<Zxid>,
    last_queued: Zxid,
    /// NEWLEADER seen; the ACK waits for these zxids to be durable.
    new_leader_wait: Option<Zxid>,
    new_leader_acked: bool,
    /// Uncommitted proposals logged at NEWLEADER; ACKed after UPTODATE, as ZooKeeper's
    /// `packetsNotLogged` are (the leader's handler reads no ACK before the NEWLEADER ACK).
    ack_after_up_to_date: Vec<Zxid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LearnerPhase {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent, in `syncWithLeader`.
    Sync,
    /// UPTODATE received: serving.
    Broadcast,
}

/// Follower or observer state (`Learner`).
struct LearnerState {
    leader: ServerId,
    phase: LearnerPhase,
    new_epoch: i64,
    sync: Option<SyncState>,
    last_heard_ms: i64,
    /// Logged proposals awaiting COMMIT (`FollowerZooKeeperServer.pendingTxns`).
    pending_txns: VecDeque<Arc<TxnEntry>>,
    /// Logged zxids whose ACK waits for their fsync.
    unacked: VecDeque<Zxid>,
    /// Sessions touched by local clients since the last PING answer.
    touched: BTreeMap<i64, i32>,
    /// When to retry FOLLOWERINFO after the leader refused the connection.
    reconnect_at_ms: Option<i64>,
}

/// `Learner.connectToLeader` sleeps a second between attempts.
const LEARNER_CONNECT_RETRY_MS: i64 = 1_000;

enum Role {
    Looking,
    Leading(Box<LeaderState>),
    Learning(Box<LearnerState>),
}

pub struct QuorumPeer {
    pub config: PeerConfig,
    pub state: ServerState,
    pub(super) mirror: DiskMirror,
    pub(super) db: ZkDatabase,
    election: Election,
    /// The decided vote and the round it was decided in.
    current_vote: (Vote, i64),
    role: Role,
    pub(super) serving: Serving,
    pub(super) out: Vec<Action>,
    now_ms: i64,
    // log sync bookkeeping
    next_sync_token: u64,
    sync_tokens: VecDeque<(u64, Zxid)>,
    last_appended: Zxid,
    durable_zxid: Zxid,
    logged_since_snapshot: u64,
    snapshot_threshold: u64,
    fuzzy: Option<FuzzySnapshot>,
    /// The database reflects an interrupted sync (ZOOKEEPER-2355 keeps it).
    keep_db_on_looking: bool,
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
        let db = ZkDatabase::load(&mirror, config.commit_log_count);
        let last = db.last_processed_zxid();
        let snapshot_threshold = config.snap_count / 2 + (config.my_id * 7919) % (config.snap_count / 2).max(1);
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
            Role::Learning(l) => Some(l.leader),
            Role::Looking => None,
        }
    }

    /// Whether the server answers clients (its ZooKeeperServer is running).
    pub fn is_serving(&self) -> bool {
        match &self.role {
            Role::Leading(l) => l.established,
            Role::Learning(l) => l.phase == LearnerPhase::Broadcast,
            Role::Looking => false,
        }
    }

    pub fn current_epoch(&self) -> i64 {
        self.mirror.current_epoch
    }

    pub fn accepted_epoch(&self) -> i64 {
        self.mirror.accepted_epoch
    }

    pub(super) fn observe(&mut self, o: Observation) {
        self.out.push(Action::Observe(o));
    }

    /// Reports a passage of `point` (concerning `peer`, if any) to the shell.
    pub(super) fn pass(&mut self, point: FaultPoint, peer: Option<ServerId>) {
        self.out.push(Action::Point(Passage { point, peer }));
    }

    pub(super) fn send(&mut self, to: ServerId, msg: PeerMessage) {
        debug_assert_ne!(to, self.config.my_id, "a peer never sends to itself");
        self.out.push(Action::Send { to, msg });
    }

    // ------------------------------------------------------------------ persistence

    fn write_accepted_epoch(&mut self, epoch: i64) {
        self.mirror.accepted_epoch = epoch;
        self.out.push(Action::WriteAcceptedEpoch(epoch));
    }

    fn write_current_epoch(&mut self, epoch: i64) {
        assert!(epoch <= self.mirror.accepted_epoch, "currentEpoch never passes acceptedEpoch");
        self.mirror.current_epoch = epoch;
        self.out.push(Action::WriteCurrentEpoch(epoch));
    }

    /// Appends a txn to the log (`SyncRequestProcessor`); durable after the next sync.
    fn log_txn(&mut self, entry: &Arc<TxnEntry>) {
        let zxid = entry.header.zxid;
        if zxid <= self.mirror.last_logged_zxid() {
            // Already in the log (a DIFF resending what a reloaded follower had): it must be the
            // same txn; another one under a logged zxid is reported, never silently dropped.
            let at = self.mirror.log.binary_search_by_key(&zxid, |e| e.header.zxid).ok();
            if let Some(logged) = at.map(|i| Arc::clone(&self.mirror.log[i])).filter(|e| **e != **entry) {
                self.observe(Observation::LogConflict { logged, offered: Arc::clone(entry) });
            }
            return;
        }
        self.mirror.append(Arc::clone(entry));
        self.out.push(Action::AppendLog(Arc::clone(entry)));
        self.last_appended = zxid;
        self.logged_since_snapshot += 1;
    }

    /// Requests an fsync of everything appended so far.
    fn sync_log(&mut self) {
        let token = self.next_sync_token;
        self.next_sync_token += 1;
        self.sync_tokens.push_back((token, self.last_appended));
        self.out.push(Action::SyncLog { token });
    }

    fn truncate_log(&mut self, zxid: Zxid) {
        self.mirror.truncate(zxid);
        self.out.push(Action::TruncateLog { zxid });
        self.sync_tokens.clear();
        self.last_appended = self.mirror.last_logged_zxid();
        self.durable_zxid = self.durable_zxid.min(self.last_appended);
        self.fuzzy = None;
    }

    fn take_snapshot_now(&mut self) {
        let snapshot = Arc::new(self.db.snapshot());
        self.mirror.add_snapshot(Arc::clone(&snapshot));
        self.pass(FaultPoint::SnapshotStarted, None);
        self.out.push(Action::WriteSnapshot(snapshot));
        self.logged_since_snapshot = 0;
        self.fuzzy = None;
        self.pass(FaultPoint::SnapshotFinished, None);
    }

    /// Starts a fuzzy snapshot once enough txns were logged since the last one.
    fn maybe_begin_snapshot(&mut self) {
        if self.fuzzy.is_none() && self.logged_since_snapshot >= self.snapshot_threshold {
            self.fuzzy = Some(FuzzySnapshot::begin(&self.db.tree, &self.db.session_list()));
            self.logged_since_snapshot = 0;
            self.pass(FaultPoint::SnapshotStarted, None);
        }
    }

    fn step_snapshot(&mut self) {
        let Some(walk) = self.fuzzy.as_mut() else { return };
        if walk.step(&self.db.tree, self.config.snapshot_nodes_per_step.max(1)) {
            let snapshot = Arc::new(self.fuzzy.take().expect("walking").finish());
            self.mirror.add_snapshot(Arc::clone(&snapshot));
            self.out.push(Action::WriteSnapshot(snapshot));
            self.pass(FaultPoint::SnapshotFinished, None);
        }
    }

    /// The shell reports an fsync done: every append before `SyncLog{token}` is durable.
    pub fn on_log_synced(&mut self, now_ms: i64, token: u64) {
        self.now_ms = now_ms;
        while let Some(&(t, zxid)) = self.sync_tokens.front() {
            if t > token {
                break;
            }
            self.sync_tokens.pop_front();
            self.durable_zxid = self.durable_zxid.max(zxid);
        }
        self.after_durable();
    }

    fn after_durable(&mut self) {
        let durable = self.durable_zxid;
        let ack_before_fsync = self.config.bugs.has(Bug::AckBeforeFsync);
        match &mut self.role {
            Role::Leading(_) => self.leader_self_acks(durable),
            Role::Learning(l) => {
                let mut acks = Vec::new();
                while let Some(&z) = l.unacked.front() {
                    if z > durable && !ack_before_fsync {
                        break;
                    }
                    l.unacked.pop_front();
                    acks.push(z);
                }
                let leader = l.leader;
                let observer = self.config.is_observer();
                if !observer {
                    for zxid in acks {
                        self.send(leader, PeerMessage::Ack { zxid });
                        self.pass(FaultPoint::AckSent, Some(leader));
                    }
                }
                self.maybe_ack_new_leader();
            }
            Role::Looking => {}
        }
    }

    // ------------------------------------------------------------------ applying

    /// Applies a committed txn: tree, sessions, watches, local replies, snapshot walk.
    fn apply_committed(&mut self, entry: &Arc<TxnEntry>) {
        let mut events = Vec::new();
        let rc = self.db.apply(entry, &mut events);
        let digest = self.db.tree.digest();
        self.observe(Observation::Committed { entry: Arc::clone(entry), digest });
        if let Role::Leading(l) = &mut self.role {
            l.preparer.on_applied(entry.header.zxid);
        }
        self.on_applied_for_clients(entry, &rc, events);
        self.pass(FaultPoint::CommitApplied, None);
        self.step_snapshot();
        self.maybe_begin_snapshot();
    }

    // ------------------------------------------------------------------ role changes

    fn set_state(&mut self, state: ServerState) {
        tracing::debug!(now = self.now_ms, server = self.config.my_id, ?state, "state");
        self.state = state;
        let epoch = self.mirror.current_epoch;
        self.observe(Observation::StateChanged { state, epoch });
    }

    /// Back to election: leave the current role, drop clients, reload the database.
    fn become_looking(&mut self, now_ms: i64) {
        self.shutdown_role();
        self.role = Role::Looking;
        self.set_state(ServerState::Looking);
        let initial = Vote { leader: self.config.my_id, zxid: self.last_logged_zxid_for_vote(), peer_epoch: self.mirror.current_epoch };
        let out = self.election.start(&self.config, now_ms, initial);
        self.apply_election_output(now_ms, out);
    }

    /// The zxid a vote carries: the last processed zxid of the database as loaded.
    fn last_logged_zxid_for_vote(&self) -> Zxid {
        self.db.last_processed_zxid()
    }

    fn shutdown_role(&mut self) {
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
        if was_active {
            self.reload_database_on_shutdown();
        }
    }

    /// The ZOOKEEPER-2845 fix: a server that stops following or leading reloads its database
    /// from its log, so its vote and its sync decisions use what it really logged.
    fn reload_database_on_shutdown(&mut self) {
        let keep = self.config.bugs.has(Bug::Zk2845) || (self.keep_db_on_looking && self.config.bugs.has(Bug::Zk2355));
        self.keep_db_on_looking = false;
        if keep {
            return;
        }
        self.reload_database();
    }

    fn reload_database(&mut self) {
        self.db = ZkDatabase::load(&self.mirror, self.config.commit_log_count);
        self.fuzzy = None;
        let (zxid, digest) = (self.db.last_processed_zxid(), self.db.tree.digest());
        tracing::debug!(server = self.config.my_id, zxid = %zxid_str(zxid), digest = format!("{digest:016x}"), "database reloaded from the log");
        self.observe(Observation::Loaded { zxid, digest });
    }

    fn apply_election_output(&mut self, now_ms: i64, out: ElectionOutput) {
        if !out.send.is_empty() {
            for (to, n) in out.send {
                self.send(to, PeerMessage::Notification(n));
            }
            self.pass(FaultPoint::VoteSent, None);
        }
        if let Some((vote, round)) = out.decided {
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
        self.now_ms = now_ms;
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
        match &self.role {
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
        }
    }

    /// A message from another server.
    pub fn on_message(&mut self, now_ms: i64, from: ServerId, msg: PeerMessage) {
        self.now_ms = now_ms;
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
        self.now_ms = now_ms;
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

    fn on_notification(&mut self, now_ms: i64, from: ServerId, n: Notification) {
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

    // ================================================================== leader

    fn become_leader(&mut self, now_ms: i64) {
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
        self.role = Role::Leading(Box::new(leader));
        self.try_fix_epoch();
    }

    fn init_limit_ms(&self) -> i64 {
        self.config.init_limit_ticks * self.config.tick_time_ms
    }

    fn sync_limit_ms(&self) -> i64 {
        self.config.sync_limit_ticks * self.config.tick_time_ms
    }

    fn leader(&mut self) -> &mut LeaderState {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => panic!("not leading"),
        }
    }

    fn leader_ref(&self) -> &LeaderState {
        match &self.role {
            Role::Leading(l) => l,
            _ => panic!("not leading"),
        }
    }

    /// `getEpochToPropose`: once a quorum (the leader included) sent its acceptedEpoch, the new
    /// epoch is one past the largest, persisted as our acceptedEpoch, and sent to everyone.
    fn try_fix_epoch(&mut self) {
        let config = self.config.clone();
        let now_ms = self.now_ms;
        let l = self.leader();
        if l.epoch.is_some() || !config.is_quorum(&l.connecting) {
            return;
        }
        let epoch = l.proposed_epoch;
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

    fn send_leader_info(&mut self, sid: ServerId, epoch: i64) {
        if let Some(h) = self.leader().handlers.get_mut(&sid) {
            h.phase = HandlerPhase::WaitingForAckEpoch;
        }
        self.send(sid, PeerMessage::LeaderInfo { new_epoch: epoch });
        self.pass(FaultPoint::LeaderInfoSent, Some(sid));
    }

    /// `waitForEpochAck` done: the leader takes the new epoch as current and syncs learners.
    fn try_finish_epoch_acks(&mut self) {
        let config = self.config.clone();
        let now_ms = self.now_ms;
        let l = self.leader();
        if l.election_finished || !config.is_quorum(&l.electing) {
            return;
        }
        l.election_finished = true;
        let epoch = l.epoch.expect("epoch fixed before epoch acks");
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

    fn try_establish(&mut self) {
        let config = self.config.clone();
        let now_ms = self.now_ms;
        let l = self.leader();
        if l.established || !config.is_quorum(&l.new_leader_acks) {
            return;
        }
        l.established = true;
        let epoch = l.epoch.expect("established with an epoch");
        l.tick = 0;
        l.next_half_tick_ms = now_ms + config.tick_time_ms / 2;
        let (last_zxid, digest) = (self.db.last_processed_zxid(), self.db.tree.digest());
        self.observe(Observation::Established { epoch, last_zxid, digest });
        self.pass(FaultPoint::LeaderEstablished, None);
        // ZOOKEEPER-1732: every member reports the same vote to newcomers.
        self.current_vote.0.peer_epoch = epoch;
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
    fn start_leader_sessions(&mut self, now_ms: i64) {
        let sessions = self.db.session_list();
        let l = self.leader();
        for (id, timeout) in sessions {
            l.sessions.track_session(id, timeout, now_ms);
        }
    }

    fn send_up_to_date(&mut self, sid: ServerId) {
        if let Some(h) = self.leader().handlers.get_mut(&sid) {
            h.phase = HandlerPhase::Active;
        }
        self.send(sid, PeerMessage::UpToDate);
    }

    fn leader_on_timer(&mut self, now_ms: i64) {
        let (established, deadline) = {
            let l = self.leader_ref();
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
    fn leader_half_tick(&mut self, now_ms: i64) -> bool {
        let config = self.config.clone();
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

    fn leader_give_up(&mut self, now_ms: i64, reason: &str) {
        tracing::debug!(now = now_ms, server = self.config.my_id, reason, "leader stepping down");
        self.become_looking(now_ms);
    }

    fn leader_on_message(&mut self, now_ms: i64, from: ServerId, msg: PeerMessage) {
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
                    self.leader_submit(from, session, cxid, request, auth)
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

    fn on_follower_info(&mut self, from: ServerId, accepted_epoch: i64, last_zxid: Zxid, observer: bool) {
        self.pass(FaultPoint::FollowerInfoReceived, Some(from));
        let config = self.config.clone();
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

    fn on_ack_epoch(&mut self, now_ms: i64, from: ServerId, current_epoch: i64, last_zxid: Zxid) {
        let config = self.config.clone();
        let l = self.leader();
        let Some(h) = l.handlers.get_mut(&from) else { return };
        if h.phase != HandlerPhase::WaitingForAckEpoch {
            return;
        }
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

    /// `LearnerHandler.syncFollower` + `startForwarding` + NEWLEADER.
    fn sync_learner(&mut self, sid: ServerId) {
        let peer_last_zxid = self.leader_ref().handlers[&sid].peer_last_zxid;
        let (packets, current_zxid) = self.sync_packets(peer_last_zxid);
        if !self.config.bugs.has(Bug::StaleAckAcrossResync) {
            self.forget_acks_above(sid, current_zxid);
        }
        tracing::debug!(
            server = self.config.my_id,
            learner = sid,
            peer_last_zxid = %zxid_str(peer_last_zxid),
            mode = packets.first().map_or("DIFF", |p| p.kind()),
            packets = packets.len(),
            "syncing a learner"
        );
        for msg in packets {
            self.send(sid, msg);
        }
        // startForwarding: uncommitted proposals after what the learner has now.
        let observer = self.leader_ref().handlers[&sid].observer;
        if !observer {
            let pending: Vec<Arc<TxnEntry>> = self
                .leader_ref()
                .outstanding
                .values()
                .filter(|p| p.entry.header.zxid > current_zxid)
                .map(|p| Arc::clone(&p.entry))
                .collect();
            for entry in pending {
                self.send(sid, PeerMessage::Proposal(entry));
            }
        }
        let epoch = self.leader_ref().epoch.expect("syncing in an epoch");
        self.send(sid, PeerMessage::NewLeader { zxid: make_zxid(epoch, 0) });
        if let Some(h) = self.leader().handlers.get_mut(&sid) {
            h.phase = HandlerPhase::WaitingForNewLeaderAck;
        }
        self.pass(FaultPoint::SyncPacketsQueued, Some(sid));
    }

    /// A learner that syncs again holds nothing above `synced_zxid` once the sync packets are
    /// applied (a TRUNC removes what it had logged and ACKed in its previous connection), so
    /// its earlier ACKs of outstanding proposals above that point no longer stand for a copy
    /// on its disk. It ACKs them again after UPTODATE, once `startForwarding`'s copies are
    /// logged. ZooKeeper 3.8 keeps the stale ACKs (`Leader.processAck` never drops them): a
    /// proposal ACKed by a follower that was then truncated can commit on that ACK and be
    /// lost (`StaleAckAcrossResync`, found by `zksim explore`).
    fn forget_acks_above(&mut self, sid: ServerId, synced_zxid: Zxid) {
        for (_, p) in self.leader().outstanding.range_mut(synced_zxid + 1..) {
            p.acks.remove(&sid);
        }
    }

    /// Chooses DIFF / TRUNC / TRUNC+DIFF / SNAP from the committed-log window, exactly as
    /// ZooKeeper 3.8's `syncFollower` and `queueCommittedProposals`. Returns the packets and
    /// the zxid the learner will be at.
    fn sync_packets(&self, peer_last_zxid: Zxid) -> (Vec<PeerMessage>, Zxid) {
        let last_processed = self.db.last_processed_zxid();
        let (min_committed, max_committed) = self.db.committed_window();
        let is_peer_new_epoch_zxid = peer_last_zxid & 0xffff_ffff == 0;
        let mut packets = Vec::new();
        if last_processed == peer_last_zxid {
            packets.push(PeerMessage::Diff { zxid: peer_last_zxid });
            return (packets, peer_last_zxid);
        }
        if peer_last_zxid > max_committed && !is_peer_new_epoch_zxid {
            packets.push(PeerMessage::Trunc { zxid: max_committed });
            return (packets, max_committed);
        }
        if max_committed >= peer_last_zxid && min_committed <= peer_last_zxid {
            if let Some(result) = self.queue_committed_proposals(peer_last_zxid, max_committed) {
                return result;
            }
        }
        let snapshot = Arc::new(self.db.snapshot());
        (vec![PeerMessage::Snap { snapshot }], last_processed)
    }

    /// `queueCommittedProposals`; `None` means "fall back to SNAP".
    fn queue_committed_proposals(&self, peer_last_zxid: Zxid, last_committed: Zxid) -> Option<(Vec<PeerMessage>, Zxid)> {
        let is_peer_new_epoch_zxid = peer_last_zxid & 0xffff_ffff == 0;
        let mut packets = Vec::new();
        let mut need_op_packet = true;
        let mut queued_zxid = peer_last_zxid;
        let mut prev_proposal_zxid = -1;
        for entry in self.db.committed_log() {
            let packet_zxid = entry.header.zxid;
            if packet_zxid < peer_last_zxid {
                prev_proposal_zxid = packet_zxid;
                continue;
            }
            if need_op_packet {
                if packet_zxid == peer_last_zxid {
                    packets.push(PeerMessage::Diff { zxid: last_committed });
                    need_op_packet = false;
                    continue;
                }
                if is_peer_new_epoch_zxid {
                    packets.push(PeerMessage::Diff { zxid: last_committed });
                    need_op_packet = false;
                } else if packet_zxid > peer_last_zxid {
                    // The peer has a txn we never committed.
                    if self.config.bugs.has(Bug::Zk1154) {
                        // ZOOKEEPER-1154: the peer's zxid lies inside the committed range, so a
                        // plain DIFF is sent, without the TRUNC that removes the peer's txn.
                        packets.push(PeerMessage::Diff { zxid: last_committed });
                    } else if epoch_of(packet_zxid) != epoch_of(peer_last_zxid) {
                        return None;
                    } else {
                        packets.push(PeerMessage::Trunc { zxid: prev_proposal_zxid });
                    }
                    need_op_packet = false;
                }
            }
            if packet_zxid <= queued_zxid {
                continue;
            }
            packets.push(PeerMessage::Proposal(Arc::clone(entry)));
            packets.push(PeerMessage::Commit { zxid: packet_zxid });
            queued_zxid = packet_zxid;
        }
        if need_op_packet && is_peer_new_epoch_zxid {
            packets.push(PeerMessage::Diff { zxid: last_committed });
            need_op_packet = false;
        }
        if need_op_packet {
            return None;
        }
        Some((packets, queued_zxid))
    }

    /// `processAck`.
    fn on_ack(&mut self, from: ServerId, zxid: Zxid) {
        let config = self.config.clone();
        let l = self.leader();
        if zxid & 0xffff_ffff == 0 {
            // The NEWLEADER ACK (or the one after UPTODATE).
            let Some(h) = l.handlers.get_mut(&from) else { return };
            if h.phase != HandlerPhase::WaitingForNewLeaderAck {
                return;
            }
            h.phase = HandlerPhase::WaitingForEstablished;
            if config.is_voter(from) {
                l.new_leader_acks.insert(from);
            }
            if l.established {
                self.send_up_to_date(from);
            } else {
                self.try_establish();
            }
            return;
        }
        if zxid <= l.last_committed {
            return;
        }
        if let Some(p) = l.outstanding.get_mut(&zxid) {
            p.acks.insert(from);
        }
        self.try_commit();
    }

    /// Commits every leading outstanding proposal that has a quorum, in zxid order.
    fn try_commit(&mut self) {
        let config = self.config.clone();
        loop {
            let l = self.leader();
            let Some((&zxid, p)) = l.outstanding.iter().next() else { return };
            let quorum = if config.bugs.has(Bug::CommitWithoutQuorum) {
                p.acks.contains(&config.my_id)
            } else {
                config.is_quorum(&p.acks)
            };
            if !quorum {
                return;
            }
            let p = l.outstanding.remove(&zxid).expect("present");
            l.last_committed = zxid;
            self.pass(FaultPoint::QuorumReached, None);
            self.commit(p.entry);
        }
    }

    /// `Leader.commit` + `inform` + local apply, then answer pending syncs.
    fn commit(&mut self, entry: Arc<TxnEntry>) {
        let zxid = entry.header.zxid;
        let targets: Vec<(ServerId, bool)> = self
            .leader_ref()
            .handlers
            .iter()
            .filter(|(_, h)| h.phase != HandlerPhase::WaitingForEpoch && h.phase != HandlerPhase::WaitingForAckEpoch && h.phase != HandlerPhase::WaitingForEpochQuorum)
            .map(|(id, h)| (*id, h.observer))
            .collect();
        for (sid, observer) in targets {
            if observer {
                self.send(sid, PeerMessage::Inform(Arc::clone(&entry)));
            } else {
                self.send(sid, PeerMessage::Commit { zxid });
            }
        }
        self.apply_committed(&entry);
        let due: Vec<Zxid> = self.leader_ref().pending_syncs.range(..=zxid).map(|(z, _)| *z).collect();
        for z in due {
            let waiting = self.leader().pending_syncs.remove(&z).unwrap_or_default();
            for (origin, session, cxid) in waiting {
                self.send_sync_done(origin, session, cxid);
            }
        }
    }

    /// The leader's own ACKs, once its log write is durable.
    fn leader_self_acks(&mut self, durable: Zxid) {
        let my_id = self.config.my_id;
        let l = self.leader();
        while let Some(&z) = l.unsynced_own.front() {
            if z > durable {
                break;
            }
            l.unsynced_own.pop_front();
            if let Some(p) = l.outstanding.get_mut(&z) {
                p.acks.insert(my_id);
            }
        }
        self.try_commit();
    }

    /// `Leader.propose`: log it, send it to forwarding followers, wait for ACKs.
    pub(super) fn propose(&mut self, entry: TxnEntry) {
        let entry = Arc::new(entry);
        let zxid = entry.header.zxid;
        let l = self.leader();
        assert!(zxid > l.last_proposed, "proposals get increasing zxids");
        l.last_proposed = zxid;
        l.outstanding.insert(zxid, Proposal { entry: Arc::clone(&entry), acks: BTreeSet::new() });
        l.unsynced_own.push_back(zxid);
        let followers: Vec<ServerId> = l
            .handlers
            .iter()
            .filter(|(_, h)| !h.observer && matches!(h.phase, HandlerPhase::WaitingForNewLeaderAck | HandlerPhase::WaitingForEstablished | HandlerPhase::Active))
            .map(|(id, _)| *id)
            .collect();
        for sid in followers {
            self.send(sid, PeerMessage::Proposal(Arc::clone(&entry)));
        }
        self.log_txn(&entry);
        self.sync_log();
        if self.config.bugs.has(Bug::CommitWithoutQuorum) || self.config.bugs.has(Bug::AckBeforeFsync) {
            let my_id = self.config.my_id;
            if let Some(p) = self.leader().outstanding.get_mut(&zxid) {
                p.acks.insert(my_id);
            }
            self.try_commit();
        }
    }

    /// The next zxid, or `None` when the counter would overflow (the leader then steps down).
    pub(super) fn next_zxid(&mut self) -> Option<Zxid> {
        let l = self.leader();
        let next = l.last_proposed + 1;
        if next & 0xffff_ffff == 0xffff_ffff {
            return None;
        }
        Some(next)
    }

    /// `processSync`: answered once everything proposed before it is committed.
    pub(super) fn leader_process_sync(&mut self, origin: ServerId, session: i64, cxid: i32) {
        let l = self.leader();
        if l.outstanding.is_empty() {
            self.send_sync_done(origin, session, cxid);
        } else {
            let last = l.last_proposed;
            l.pending_syncs.entry(last).or_default().push((origin, session, cxid));
        }
    }

    fn send_sync_done(&mut self, origin: ServerId, session: i64, cxid: i32) {
        if origin == self.config.my_id {
            self.on_sync_done(session, cxid);
        } else {
            self.send(origin, PeerMessage::SyncDone { session, cxid });
        }
    }

    fn on_learner_ping(&mut self, now_ms: i64, sessions: Vec<(i64, i32)>) {
        let l = self.leader();
        for (id, _timeout) in sessions {
            l.sessions.touch(id, now_ms);
        }
    }

    /// Runs `f` over the established leader's prepare state and the tree, borrowed apart.
    pub(super) fn with_leader_prep<R>(
        &mut self,
        f: impl FnOnce(&mut Preparer, &mut SessionTracker, &mut BTreeMap<i64, ServerId>, &crate::tree::DataTree) -> R,
    ) -> Option<R> {
        match &mut self.role {
            Role::Leading(l) if l.established => Some(f(&mut l.preparer, &mut l.sessions, &mut l.session_owner, &self.db.tree)),
            _ => None,
        }
    }

    pub(super) fn leader_state_parts(&mut self) -> Option<(&mut Preparer, &mut SessionTracker, &mut BTreeMap<i64, ServerId>)> {
        match &mut self.role {
            Role::Leading(l) if l.established => Some((&mut l.preparer, &mut l.sessions, &mut l.session_owner)),
            _ => None,
        }
    }

    // ================================================================== learner

    fn become_learner(&mut self, now_ms: i64, leader: ServerId) {
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

    fn send_follower_info(&mut self, leader: ServerId) {
        let info = PeerMessage::FollowerInfo {
            accepted_epoch: self.mirror.accepted_epoch,
            last_zxid: self.db.last_processed_zxid(),
            observer: self.config.is_observer(),
        };
        self.send(leader, info);
        self.pass(FaultPoint::FollowerInfoSent, Some(leader));
    }

    fn learner(&mut self) -> &mut LearnerState {
        match &mut self.role {
            Role::Learning(l) => l,
            _ => panic!("not learning"),
        }
    }

    fn learner_ref(&self) -> &LearnerState {
        match &self.role {
            Role::Learning(l) => l,
            _ => panic!("not learning"),
        }
    }

    fn learner_on_timer(&mut self, now_ms: i64) {
        if let Some(at) = self.learner_ref().reconnect_at_ms {
            if now_ms >= at {
                self.learner().reconnect_at_ms = None;
                let leader = self.learner_ref().leader;
                self.send_follower_info(leader);
            }
        }
        let l = self.learner_ref();
        if now_ms - l.last_heard_ms > self.learner_silence_limit_ms(l) {
            tracing::debug!(server = self.config.my_id, leader = l.leader, "leader silent, back to election");
            self.keep_db_on_looking = l.phase == LearnerPhase::Sync;
            self.become_looking(now_ms);
        }
    }

    /// How long the leader may be silent: syncLimit once synced, initLimit before.
    fn learner_silence_limit_ms(&self, l: &LearnerState) -> i64 {
        if l.phase == LearnerPhase::Broadcast || l.sync.as_ref().is_some_and(|s| s.new_leader_acked) {
            self.sync_limit_ms()
        } else {
            self.init_limit_ms()
        }
    }

    fn learner_on_message(&mut self, now_ms: i64, msg: PeerMessage) {
        self.learner().last_heard_ms = now_ms;
        match self.learner_ref().phase {
            LearnerPhase::Discovery => self.learner_discovery(now_ms, msg),
            LearnerPhase::Sync => self.learner_sync(now_ms, msg),
            LearnerPhase::Broadcast => self.learner_broadcast(msg),
        }
    }

    /// `registerWithLeader`: LEADERINFO → persist acceptedEpoch → ACKEPOCH.
    fn learner_discovery(&mut self, now_ms: i64, msg: PeerMessage) {
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
            self.become_looking(now_ms);
            return;
        };
        let last_zxid = self.db.last_processed_zxid();
        let leader = {
            let l = self.learner();
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

    fn sync_state(&mut self) -> &mut SyncState {
        self.learner().sync.as_mut().expect("in sync")
    }

    /// `syncWithLeader`.
    fn learner_sync(&mut self, now_ms: i64, msg: PeerMessage) {
        if self.sync_state().mode.is_none() {
            self.learner_sync_first_packet(now_ms, msg);
            return;
        }
        let leader = Some(self.learner_ref().leader);
        match msg {
            PeerMessage::Proposal(entry) => {
                let s = self.sync_state();
                s.last_queued = entry.header.zxid;
                s.packets_not_committed.push_back(entry);
                self.pass(FaultPoint::SyncProposal, leader);
            }
            PeerMessage::Commit { zxid } => {
                self.learner_sync_commit(zxid);
                self.pass(FaultPoint::SyncCommit, leader);
            }
            PeerMessage::Inform(entry) => {
                let s = self.sync_state();
                if s.write_to_txn_log {
                    s.packets_not_committed.push_back(Arc::clone(&entry));
                    s.packets_committed.push_back(entry.header.zxid);
                } else {
                    self.apply_committed(&entry);
                }
            }
            PeerMessage::NewLeader { zxid } => self.learner_on_new_leader(zxid),
            PeerMessage::UpToDate => self.learner_on_up_to_date(),
            PeerMessage::Ping { .. } => self.learner_ping_reply(),
            _ => {}
        }
    }

    fn learner_sync_first_packet(&mut self, now_ms: i64, msg: PeerMessage) {
        let leader = Some(self.learner_ref().leader);
        match msg {
            PeerMessage::Diff { zxid } => {
                let s = self.sync_state();
                s.mode = Some(SyncMode::Diff);
                s.snapshot_needed = false;
                s.write_to_txn_log = true;
                if self.config.bugs.has(Bug::Zk2355) {
                    // ZOOKEEPER-2355 (before commit 6971018): `setlastProcessedZxid(qp.getZxid())`
                    // ran for every sync mode, so a DIFF claims the leader's last committed zxid
                    // before any of its txns is applied. If the sync then fails and the tree is
                    // kept, the next FOLLOWERINFO reports that zxid and the DIFF comes back empty.
                    self.db.set_last_processed_zxid(zxid);
                }
                self.pass(FaultPoint::SyncDiff, leader);
            }
            PeerMessage::Snap { snapshot } => {
                self.db = ZkDatabase::from_snapshot(&snapshot, self.config.commit_log_count);
                self.fuzzy = None;
                let digest = self.db.tree.digest();
                self.observe(Observation::Loaded { zxid: snapshot.last_zxid, digest });
                self.sync_state().mode = Some(SyncMode::Snap);
                self.pass(FaultPoint::SyncSnap, leader);
            }
            PeerMessage::Trunc { zxid } => {
                if !self.mirror.can_truncate_to(zxid) {
                    // The log does not reach back to `zxid` (it was purged below the oldest
                    // snapshot kept), so the database cannot be rebuilt at the leader's zxid.
                    // ZooKeeper exits here, its files untouched ("Not able to truncate the
                    // log"); zksim leaves them untouched too and rejoins. Truncating anyway would
                    // drop every snapshot, wiping committed txns this replica may be the last
                    // quorum member to hold.
                    tracing::warn!(
                        server = self.config.my_id,
                        zxid = %zxid_str(zxid),
                        snapshots = ?self.mirror.snapshots.iter().map(|s| zxid_str(s.last_zxid)).collect::<Vec<_>>(),
                        log = ?self.mirror.log.first().zip(self.mirror.log.last()).map(|(a, b)| (zxid_str(a.header.zxid), zxid_str(b.header.zxid))),
                        "cannot truncate the log to the leader's zxid"
                    );
                    self.become_looking(now_ms);
                    return;
                }
                self.truncate_log(zxid);
                self.reload_database();
                self.sync_state().mode = Some(SyncMode::Trunc);
                self.pass(FaultPoint::SyncTrunc, leader);
            }
            other => {
                tracing::warn!(server = self.config.my_id, kind = other.kind(), "unexpected first sync packet");
                self.become_looking(now_ms);
            }
        }
    }

    fn learner_sync_commit(&mut self, zxid: Zxid) {
        let s = self.sync_state();
        if s.write_to_txn_log {
            s.packets_committed.push_back(zxid);
            return;
        }
        match s.packets_not_committed.front() {
            Some(head) if head.header.zxid == zxid => {
                let entry = s.packets_not_committed.pop_front().expect("head");
                self.apply_committed(&entry);
            }
            _ => {
                tracing::warn!(server = self.config.my_id, zxid = %zxid_str(zxid), "commit during sync does not match the next proposal");
            }
        }
    }

    /// NEWLEADER: snapshot if needed, log the pending proposals, make them durable, then write
    /// currentEpoch and ACK — the order whose violations are ZOOKEEPER-3911, -4643 and -4646.
    fn learner_on_new_leader(&mut self, zxid: Zxid) {
        let bugs = self.config.bugs.clone();
        let new_epoch = epoch_of(zxid);
        let leader = Some(self.learner_ref().leader);
        self.pass(FaultPoint::NewLeaderReceived, leader);
        if self.sync_state().snapshot_needed {
            self.take_snapshot_now();
        }
        if bugs.has(Bug::Zk4643) {
            // ZOOKEEPER-4643: the epoch is written before the txns are persisted.
            self.write_current_epoch(new_epoch);
            self.pass(FaultPoint::CurrentEpochWritten, leader);
        }
        self.sync_state().write_to_txn_log = true;
        let observer = self.config.is_observer();
        if !observer && !bugs.has(Bug::Zk3911) {
            let pending: Vec<Arc<TxnEntry>> = self.sync_state().packets_not_committed.drain(..).collect();
            self.sync_state().ack_after_up_to_date = pending.iter().map(|e| e.header.zxid).collect();
            for entry in pending {
                self.learner_log_request(entry, false);
            }
            self.sync_log();
            self.pass(FaultPoint::SyncTxnsLogged, leader);
        }
        let wait_for = if bugs.has(Bug::Zk3911) || bugs.has(Bug::Zk4646) { 0 } else { self.last_appended };
        self.sync_state().new_leader_wait = Some(wait_for);
        self.maybe_ack_new_leader();
    }

    /// Sends the NEWLEADER ACK once the synced txns are durable.
    fn maybe_ack_new_leader(&mut self) {
        let durable = self.durable_zxid;
        let bugs = self.config.bugs.clone();
        let Role::Learning(l) = &mut self.role else { return };
        let Some(s) = l.sync.as_mut() else { return };
        let Some(wait_for) = s.new_leader_wait else { return };
        if s.new_leader_acked || wait_for > durable {
            return;
        }
        s.new_leader_acked = true;
        let new_epoch = l.new_epoch;
        let leader = l.leader;
        if !bugs.has(Bug::Zk4643) {
            self.write_current_epoch(new_epoch);
            self.pass(FaultPoint::CurrentEpochWritten, Some(leader));
        }
        self.send(leader, PeerMessage::Ack { zxid: make_zxid(new_epoch, 0) });
        self.pass(FaultPoint::NewLeaderAckSent, Some(leader));
    }

    /// UPTODATE: start serving; log what came after NEWLEADER and commit what was committed.
    fn learner_on_up_to_date(&mut self) {
        if !self.sync_state().new_leader_acked {
            tracing::warn!(server = self.config.my_id, "UPTODATE before our NEWLEADER ACK");
            return;
        }
        let leader = Some(self.learner_ref().leader);
        self.pass(FaultPoint::UpToDateReceived, leader);
        let s = self.learner().sync.take().expect("in sync");
        self.learner().phase = LearnerPhase::Broadcast;
        // `updateElectionVote(newEpoch)` (ZOOKEEPER-1732): report the vote everyone reports.
        self.current_vote.0.peer_epoch = self.learner_ref().new_epoch;
        if self.config.is_observer() {
            let mut committed = s.packets_committed;
            for entry in s.packets_not_committed {
                if committed.front() == Some(&entry.header.zxid) {
                    committed.pop_front();
                    self.observer_commit(entry);
                }
            }
        } else {
            self.learner().unacked.extend(s.ack_after_up_to_date);
            for entry in s.packets_not_committed {
                self.learner_log_request(entry, true);
            }
            self.sync_log();
            for zxid in s.packets_committed {
                if !self.follower_commit(zxid) {
                    return;
                }
            }
            self.after_durable();
        }
    }

    /// `FollowerZooKeeperServer.logRequest`: into the log and the pending queue.
    fn learner_log_request(&mut self, entry: Arc<TxnEntry>, ack: bool) {
        self.log_txn(&entry);
        let l = self.learner();
        l.pending_txns.push_back(entry.clone());
        if ack {
            l.unacked.push_back(entry.header.zxid);
        }
    }

    /// `FollowerZooKeeperServer.commit`: the COMMIT must match the oldest pending txn.
    /// Returns false when the server exits.
    fn follower_commit(&mut self, zxid: Zxid) -> bool {
        let head = self.learner_ref().pending_txns.front().map(|e| e.header.zxid);
        match head {
            None => {
                tracing::warn!(server = self.config.my_id, zxid = %zxid_str(zxid), "committing without seeing the txn");
                true
            }
            Some(h) if h != zxid => {
                let reason = format!("committing zxid {} but next pending txn is {}", zxid_str(zxid), zxid_str(h));
                self.out.push(Action::Exit { reason });
                false
            }
            Some(_) => {
                let entry = self.learner().pending_txns.pop_front().expect("head");
                self.apply_committed(&entry);
                true
            }
        }
    }

    fn observer_commit(&mut self, entry: Arc<TxnEntry>) {
        self.log_txn(&entry);
        self.sync_log();
        self.apply_committed(&entry);
    }

    fn learner_broadcast(&mut self, msg: PeerMessage) {
        match msg {
            PeerMessage::Proposal(entry) => {
                self.learner_log_request(entry, true);
                self.sync_log();
                let leader = Some(self.learner_ref().leader);
                self.pass(FaultPoint::ProposalLogged, leader);
                if self.config.bugs.has(Bug::AckBeforeFsync) {
                    self.after_durable();
                }
            }
            PeerMessage::Commit { zxid } => {
                self.follower_commit(zxid);
            }
            PeerMessage::Inform(entry) => self.observer_commit(entry),
            PeerMessage::Ping { .. } => self.learner_ping_reply(),
            PeerMessage::RevalidateReply { session, valid } => self.on_revalidate_reply(session, valid),
            PeerMessage::SyncDone { session, cxid } => self.on_sync_done(session, cxid),
            _ => {}
        }
    }

    fn learner_ping_reply(&mut self) {
        let l = self.learner();
        let sessions: Vec<(i64, i32)> = std::mem::take(&mut l.touched).into_iter().collect();
        let leader = l.leader;
        self.send(leader, PeerMessage::Ping { sessions });
    }

    pub(super) fn learner_touch(&mut self, session: i64, timeout_ms: i32) {
        if let Role::Learning(l) = &mut self.role {
            l.touched.insert(session, timeout_ms);
        }
    }

    pub(super) fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Every event carries the time; the clock never goes back.
    pub(super) fn set_now_ms(&mut self, now_ms: i64) {
        debug_assert!(now_ms >= self.now_ms, "time goes forward");
        self.now_ms = now_ms;
    }

    /// Leaves the current role at once (the leader's zxid counter would overflow).
    pub(super) fn force_looking(&mut self) {
        let now = self.now_ms;
        self.become_looking(now);
    }

    pub(super) fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leading(_))
    }
}
