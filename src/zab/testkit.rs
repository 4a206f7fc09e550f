//! An in-process ensemble for transcript tests of the peer core: FIFO queues per connection,
//! a disk per server that keeps only what was fsynced across a crash, and a manual clock.
//!
//! Why: the madsim shell runs the same core under realistic timing, but a test that must drive
//! one exact schedule (a crash between a log write and its fsync, a leader change in the middle
//! of a sync) wants every delivery under its control, the way etcd-raft's interaction tests do.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::database::DiskMirror;
use super::fault_point::Passage;
use super::peer::{Action, Observation, QuorumPeer};
use super::{PeerConfig, PeerMessage, ServerId, ServerState};
use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::wire::{ClientMessage, ServerMessage};

/// What a server's disk holds: durable state plus appends not yet fsynced.
#[derive(Clone, Debug, Default)]
pub struct TestDisk {
    pub durable: DiskMirror,
    pub unsynced: Vec<Arc<TxnEntry>>,
}

impl TestDisk {
    /// Applies a persistence action (others are ignored).
    pub fn apply_action(&mut self, action: &Action) {
        match action {
            Action::AppendLog(entry) => self.unsynced.push(Arc::clone(entry)),
            Action::SyncLog { .. } => {
                for entry in self.unsynced.drain(..) {
                    self.durable.append(entry);
                }
            }
            Action::TruncateLog { zxid } => {
                self.unsynced.retain(|e| e.header.zxid <= *zxid);
                self.durable.truncate(*zxid);
            }
            Action::WriteSnapshot(snapshot) => self.durable.add_snapshot(Arc::clone(snapshot)),
            Action::WriteAcceptedEpoch(e) => self.durable.accepted_epoch = *e,
            Action::WriteCurrentEpoch(e) => self.durable.current_epoch = *e,
            _ => {}
        }
    }
}

/// One message in flight.
#[derive(Clone, Debug)]
pub struct InFlight {
    pub from: ServerId,
    pub to: ServerId,
    pub msg: PeerMessage,
}

pub struct TestEnsemble {
    pub configs: BTreeMap<ServerId, PeerConfig>,
    pub peers: BTreeMap<ServerId, QuorumPeer>,
    pub disks: BTreeMap<ServerId, TestDisk>,
    /// (from, to, election?) → FIFO queue.
    queues: BTreeMap<(ServerId, ServerId, bool), VecDeque<PeerMessage>>,
    /// Pending fsyncs per server: tokens not yet reported.
    pending_syncs: BTreeMap<ServerId, Vec<u64>>,
    /// When false, fsyncs complete only through `complete_syncs`.
    pub auto_sync: bool,
    /// Links that drop every message: (from, to).
    pub cut: BTreeSet<(ServerId, ServerId)>,
    pub now_ms: i64,
    pub observations: Vec<(ServerId, Observation)>,
    /// Every fault point passed, in order: (server, passage).
    pub passages: Vec<(ServerId, Passage)>,
    pub client_out: Vec<(ServerId, u64, ServerMessage)>,
    pub exited: BTreeMap<ServerId, String>,
    /// Every peer message delivered, for transcripts: (from, to, kind).
    pub delivered: Vec<(ServerId, ServerId, &'static str)>,
    /// Client connections a server closed: (server, conn).
    pub closed_clients: Vec<(ServerId, u64)>,
}

impl TestEnsemble {
    /// Voters 1..=n plus the given observers, all starting with empty disks.
    pub fn new(voters: usize, observers: usize, tweak: impl Fn(&mut PeerConfig)) -> TestEnsemble {
        let voter_ids: Vec<ServerId> = (1..=voters as u64).collect();
        let observer_ids: Vec<ServerId> = (voters as u64 + 1..=(voters + observers) as u64).collect();
        let mut e = TestEnsemble {
            configs: BTreeMap::new(),
            peers: BTreeMap::new(),
            disks: BTreeMap::new(),
            queues: BTreeMap::new(),
            pending_syncs: BTreeMap::new(),
            auto_sync: true,
            cut: BTreeSet::new(),
            now_ms: 1_000,
            observations: Vec::new(),
            passages: Vec::new(),
            client_out: Vec::new(),
            exited: BTreeMap::new(),
            delivered: Vec::new(),
            closed_clients: Vec::new(),
        };
        for &id in voter_ids.iter().chain(observer_ids.iter()) {
            let mut config = PeerConfig::new(id, &voter_ids, &observer_ids, 2_000);
            tweak(&mut config);
            e.configs.insert(id, config);
            e.disks.insert(id, TestDisk::default());
        }
        let ids: Vec<ServerId> = e.configs.keys().copied().collect();
        for id in ids {
            e.start(id);
        }
        e
    }

    /// Starts (or restarts) a server from its durable disk.
    pub fn start(&mut self, id: ServerId) {
        let mirror = self.disks[&id].durable.clone();
        let peer = QuorumPeer::new(self.configs[&id].clone(), mirror, self.now_ms);
        self.peers.insert(id, peer);
        self.exited.remove(&id);
        self.flush(id);
    }

    /// Kills a server: unsynced appends are lost, its connections break.
    pub fn crash(&mut self, id: ServerId) {
        self.peers.remove(&id);
        if let Some(disk) = self.disks.get_mut(&id) {
            disk.unsynced.clear();
        }
        self.pending_syncs.remove(&id);
        self.queues.retain(|(from, to, _), _| *from != id && *to != id);
        let others: Vec<ServerId> = self.peers.keys().copied().collect();
        for other in others {
            let now = self.now_ms;
            self.peers.get_mut(&other).expect("live").on_peer_disconnected(now, id);
            self.flush(other);
        }
    }

    pub fn peer(&self, id: ServerId) -> &QuorumPeer {
        &self.peers[&id]
    }

    pub fn state(&self, id: ServerId) -> Option<ServerState> {
        self.peers.get(&id).map(|p| p.state)
    }

    pub fn leader(&self) -> Option<ServerId> {
        self.peers.iter().find(|(_, p)| p.state == ServerState::Leading && p.is_serving()).map(|(id, _)| *id)
    }

    /// Executes what a peer asked for.
    fn flush(&mut self, id: ServerId) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        let actions = peer.drain_actions();
        for action in actions {
            if let Some(disk) = self.disks.get_mut(&id) {
                disk.apply_action(&action);
            }
            match action {
                Action::Send { to, msg } => {
                    if self.cut.contains(&(id, to)) {
                        continue;
                    }
                    let election = msg.is_election();
                    self.queues.entry((id, to, election)).or_default().push_back(msg);
                }
                Action::ClosePeer { peer } => {
                    self.queues.remove(&(id, peer, false));
                    self.queues.remove(&(peer, id, false));
                    let now = self.now_ms;
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.on_peer_disconnected(now, id);
                        self.flush(peer);
                    }
                }
                Action::SyncLog { token } => {
                    self.pending_syncs.entry(id).or_default().push(token);
                }
                Action::ToClient { conn, msg } => self.client_out.push((id, conn, *msg)),
                Action::CloseClient { conn } => self.closed_clients.push((id, conn)),
                Action::Exit { reason } => {
                    self.exited.insert(id, reason);
                    self.crash(id);
                    return;
                }
                Action::Observe(o) => self.observations.push((id, o)),
                Action::Point(p) => self.passages.push((id, p)),
                _ => {}
            }
        }
        if self.auto_sync {
            self.complete_syncs(id);
        }
    }

    /// The server's disk refused a persistence action: its pending fsyncs are dropped, and the
    /// appends above the failure's last logged zxid never reached the disk (this disk counts a
    /// requested fsync as done at once, so they may already sit in `durable`).
    pub fn disk_error(&mut self, id: ServerId, failure: super::persistence::DiskFailure) {
        self.pending_syncs.remove(&id);
        if let Some(disk) = self.disks.get_mut(&id) {
            disk.unsynced.retain(|e| e.header.zxid <= failure.last_logged_zxid);
            disk.durable.log.retain(|e| e.header.zxid <= failure.last_logged_zxid);
        }
        let now = self.now_ms;
        self.peers.get_mut(&id).expect("live").on_disk_error(now, failure);
        self.flush(id);
    }

    /// Completes every pending fsync of a server.
    pub fn complete_syncs(&mut self, id: ServerId) {
        let tokens = self.pending_syncs.remove(&id).unwrap_or_default();
        if tokens.is_empty() {
            return;
        }
        let now = self.now_ms;
        if let Some(peer) = self.peers.get_mut(&id) {
            if let Some(&last) = tokens.last() {
                peer.on_log_synced(now, last);
            }
        }
        self.flush(id);
    }

    /// Delivers one message on the first non-empty queue in key order; false if none.
    pub fn deliver_one(&mut self) -> bool {
        self.deliver_matching(|_| true)
    }

    /// Delivers the first queued message for which `pick` is true.
    pub fn deliver_matching(&mut self, pick: impl Fn(&InFlight) -> bool) -> bool {
        let key = self.queues.iter().find_map(|((from, to, election), q)| {
            let msg = q.front()?;
            pick(&InFlight { from: *from, to: *to, msg: msg.clone() }).then_some((*from, *to, *election))
        });
        let Some(key) = key else { return false };
        let msg = self.queues.get_mut(&key).and_then(|q| q.pop_front()).expect("non-empty");
        let (from, to, _) = key;
        self.delivered.push((from, to, msg.kind()));
        let now = self.now_ms;
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.on_message(now, from, msg);
            self.flush(to);
        }
        true
    }

    /// Delivers until quiet (or `max` messages).
    pub fn deliver_all(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.deliver_one() {
            n += 1;
        }
        n
    }

    /// Advances the clock in 10 ms steps, firing timers and delivering everything in between.
    pub fn run_for(&mut self, ms: i64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.deliver_all(100_000);
            self.now_ms += 10;
            self.fire_timers();
        }
        self.deliver_all(100_000);
    }

    /// Advances the clock in 10 ms steps firing due timers, delivering nothing: with
    /// `deliver_matching` this lets a test hold chosen messages while time passes.
    pub fn advance(&mut self, ms: i64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 10;
            self.fire_timers();
        }
    }

    fn fire_timers(&mut self) {
        let ids: Vec<ServerId> = self.peers.keys().copied().collect();
        for id in ids {
            let now = self.now_ms;
            let Some(peer) = self.peers.get_mut(&id) else { continue };
            if peer.next_deadline_ms() <= now {
                peer.on_timer(now);
                self.flush(id);
            }
        }
    }

    /// Delivers a message no peer queued (a forged or reordered packet) at once.
    pub fn inject(&mut self, from: ServerId, to: ServerId, msg: PeerMessage) {
        self.delivered.push((from, to, msg.kind()));
        let now = self.now_ms;
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.on_message(now, from, msg);
            self.flush(to);
        }
    }

    /// Runs until a leader is established and every live voter serves, or `max_ms` pass.
    pub fn stabilize(&mut self, max_ms: i64) -> bool {
        let end = self.now_ms + max_ms;
        while self.now_ms < end {
            self.run_for(50);
            let serving = self.peers.values().all(|p| p.is_serving());
            if serving && self.leader().is_some() {
                return true;
            }
        }
        false
    }

    // ------------------------------------------------------------------ clients

    pub fn client_connect(&mut self, server: ServerId, conn: u64) {
        let now = self.now_ms;
        self.peers.get_mut(&server).expect("live").on_client_connected(now, conn);
        self.flush(server);
    }

    pub fn client_send(&mut self, server: ServerId, conn: u64, msg: ClientMessage) {
        let now = self.now_ms;
        self.peers.get_mut(&server).expect("live").on_client_message(now, conn, msg);
        self.flush(server);
    }

    /// Committed (zxid, entry) pairs observed on a server, in order.
    pub fn committed(&self, id: ServerId) -> Vec<Zxid> {
        self.observations
            .iter()
            .filter(|(s, _)| *s == id)
            .filter_map(|(_, o)| match o {
                Observation::Committed { entry, .. } => Some(entry.header.zxid),
                _ => None,
            })
            .collect()
    }

    /// Messages of a kind delivered to `to`.
    pub fn delivered_kinds(&self, to: ServerId) -> Vec<&'static str> {
        self.delivered.iter().filter(|(_, t, _)| *t == to).map(|(_, _, k)| *k).collect()
    }
}
