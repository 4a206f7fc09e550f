//! A ZooKeeper server as a madsim node: it owns a [`QuorumPeer`], feeds it packets, timers and
//! fsync completions, and executes its actions against the network and the simulated disk.
//!
//! Why this shape: the node's future is re-run from scratch on every restart (madsim re-runs a
//! node's `init`), so everything a real process would lose — the peer, its connections, its
//! timers — lives inside it, while the disk lives in [`ServerShared`] outside it and keeps only
//! what was fsynced across a kill.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};

use super::invariants::Invariants;
use super::net::{Addr, Body, Channel, Delivery, Packet, SharedConditions, Transport};
use crate::proto::Zxid;
use crate::wire::ServerMessage;
use crate::zab::database::DiskMirror;
use crate::zab::peer::{Action, QuorumPeer};
use crate::zab::testkit::TestDisk;
use crate::zab::{PeerConfig, PeerMessage, ServerState};

/// What the harness can see of a running server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerView {
    pub up: bool,
    pub state: Option<ServerState>,
    pub serving: bool,
    pub leader: Option<u64>,
    pub last_zxid: Zxid,
    pub digest: u64,
    pub current_epoch: i64,
    pub exited: Option<String>,
}

/// State of one server that outlives its process.
pub struct ServerShared {
    pub config: PeerConfig,
    pub disk: Mutex<TestDisk>,
    pub view: Mutex<ServerView>,
    pub fsync_latency_ms: Mutex<u64>,
    /// Local clock rate: 1.0 is true time; 1.1 runs ticks 10% fast.
    pub clock_rate: Mutex<f64>,
}

impl ServerShared {
    pub fn new(config: PeerConfig, fsync_latency_ms: u64) -> ServerShared {
        ServerShared {
            config,
            disk: Mutex::new(TestDisk::default()),
            view: Mutex::new(ServerView::default()),
            fsync_latency_ms: Mutex::new(fsync_latency_ms),
            clock_rate: Mutex::new(1.0),
        }
    }

    /// A kill: what was not fsynced is gone.
    pub fn lose_unsynced(&self) {
        self.disk.lock().expect("disk").unsynced.clear();
        let mut view = self.view.lock().expect("view");
        view.up = false;
        view.serving = false;
        view.state = None;
    }

    pub fn durable(&self) -> DiskMirror {
        self.disk.lock().expect("disk").durable.clone()
    }
}

/// Run-wide context shared by every node.
pub struct RunContext {
    pub conditions: SharedConditions,
    pub invariants: Mutex<Invariants>,
    pub trace: Mutex<TraceHash>,
}

/// A running hash of everything observable, to show two runs of a seed are identical.
#[derive(Default)]
pub struct TraceHash {
    pub hasher: rustc_hash::FxHasher,
    pub events: u64,
}

impl TraceHash {
    pub fn add(&mut self, item: impl Hash) {
        item.hash(&mut self.hasher);
        self.events += 1;
    }
    pub fn value(&self) -> u64 {
        self.hasher.finish()
    }
}

pub fn elapsed_ms() -> i64 {
    madsim::time::TimeHandle::current().elapsed().as_millis() as i64
}

/// A server's own clock: true time scaled by its drift.
fn local_ms(rate: f64) -> i64 {
    (elapsed_ms() as f64 * rate) as i64
}

/// Group commit: one fsync in flight; appends made meanwhile ride on the next one.
#[derive(Default)]
struct Fsync {
    inflight: Option<(i64, u64, usize)>,
    queued: Option<u64>,
}

struct Node {
    id: u64,
    shared: Arc<ServerShared>,
    ctx: Arc<RunContext>,
    peer: QuorumPeer,
    transport: Transport,
    fsync: Fsync,
    client_addr: BTreeMap<u64, Addr>,
    batches: BTreeMap<(Addr, Channel), Vec<Outgoing>>,
    rate: f64,
}

enum Outgoing {
    Peer(PeerMessage),
    Client(ServerMessage),
}

/// The node's main future (madsim `init`).
pub async fn server_main(shared: Arc<ServerShared>, ctx: Arc<RunContext>) {
    let id = shared.config.my_id;
    let transport = Transport::bind(id, Arc::clone(&ctx.conditions)).await;
    let rate = *shared.clock_rate.lock().expect("rate");
    let mirror = shared.durable();
    let peer = QuorumPeer::new(shared.config.clone(), mirror, local_ms(rate));
    let endpoint = transport.endpoint();
    let (tx, mut rx) = mpsc::unbounded::<Packet>();
    madsim::task::spawn(async move {
        while let Some(packet) = Transport::recv(&endpoint).await {
            if tx.unbounded_send(packet).is_err() {
                break;
            }
        }
    });
    let mut node =
        Node { id, shared, ctx, peer, transport, fsync: Fsync::default(), client_addr: BTreeMap::new(), batches: BTreeMap::new(), rate };
    {
        let mut view = node.shared.view.lock().expect("view");
        view.up = true;
        view.exited = None;
    }
    loop {
        if !node.execute() {
            return;
        }
        node.publish_view();
        let deadline = node.next_deadline_local_ms();
        let wait_ms = ((deadline - local_ms(node.rate)).max(0) as f64 / node.rate).ceil() as u64;
        let sleep = madsim::time::sleep(Duration::from_millis(wait_ms)).fuse();
        futures::pin_mut!(sleep);
        futures::select! {
            packet = rx.next() => match packet {
                Some(packet) => node.on_packet(packet),
                None => return,
            },
            _ = sleep => node.on_time(),
        }
    }
}

impl Node {
    fn now(&self) -> i64 {
        local_ms(self.rate)
    }

    fn next_deadline_local_ms(&self) -> i64 {
        let fsync = self.fsync.inflight.map_or(i64::MAX, |(done, _, _)| done);
        self.peer.next_deadline_ms().min(fsync).max(self.now())
    }

    fn on_time(&mut self) {
        let now = self.now();
        if let Some((done, token, count)) = self.fsync.inflight {
            if now >= done {
                self.fsync.inflight = None;
                self.complete_fsync(now, token, count);
            }
        }
        if self.peer.next_deadline_ms() <= now {
            self.peer.on_timer(now);
        }
    }

    fn complete_fsync(&mut self, now: i64, token: u64, count: usize) {
        {
            let mut disk = self.shared.disk.lock().expect("disk");
            let count = count.min(disk.unsynced.len());
            let synced: Vec<_> = disk.unsynced.drain(..count).collect();
            for entry in synced {
                disk.durable.append(entry);
            }
        }
        self.peer.on_log_synced(now, token);
        if let Some(next) = self.fsync.queued.take() {
            self.start_fsync(now, next);
        }
    }

    fn start_fsync(&mut self, now: i64, token: u64) {
        if self.fsync.inflight.is_some() {
            self.fsync.queued = Some(token);
            return;
        }
        let latency = *self.shared.fsync_latency_ms.lock().expect("latency") as i64;
        let count = self.shared.disk.lock().expect("disk").unsynced.len();
        self.fsync.inflight = Some((now + latency, token, count));
    }

    fn on_packet(&mut self, packet: Packet) {
        let now = self.now();
        let from = packet.from;
        for delivery in self.transport.on_packet(packet) {
            self.ctx.trace.lock().expect("trace").add((now, self.id, from, delivery_tag(&delivery)));
            if std::env::var("ZKSIM_DEBUG").is_ok() { eprintln!("{now} {} <- {from}: {:?}", self.id, delivery_tag(&delivery)); }
            match delivery {
                Delivery::Peer { from, messages } => {
                    for msg in messages {
                        self.peer.on_message(now, from, msg);
                    }
                }
                Delivery::PeerDisconnected { from } => self.peer.on_peer_disconnected(now, from),
                Delivery::ClientConnected { conn } => {
                    self.client_addr.insert(conn, from);
                    self.peer.on_client_connected(now, conn);
                }
                Delivery::FromClient { conn, messages } => {
                    for msg in messages {
                        self.peer.on_client_message(now, conn, msg);
                    }
                }
                Delivery::ClientDisconnected { conn } => {
                    self.peer.on_client_disconnected(now, conn);
                    self.client_addr.remove(&conn);
                }
                Delivery::ToClient { .. } | Delivery::ServerClosed { .. } => {}
            }
        }
    }

    /// Executes the peer's actions in order; false when the process exits.
    fn execute(&mut self) -> bool {
        let actions = self.peer.drain_actions();
        let now = self.now();
        for action in actions {
            match action {
                Action::Send { to, msg } => {
                    let channel = if msg.is_election() { Channel::Election } else { Channel::Zab };
                    self.trace_send(now, to, msg.kind());
                    self.batches.entry((to, channel)).or_default().push(Outgoing::Peer(msg));
                }
                Action::ClosePeer { peer } => {
                    self.flush_one((peer, Channel::Zab));
                    self.transport.close(peer, Channel::Zab);
                }
                Action::ToClient { conn, msg } => {
                    if let Some(&addr) = self.client_addr.get(&conn) {
                        self.batches.entry((addr, Channel::Client(conn))).or_default().push(Outgoing::Client(msg));
                    }
                }
                Action::CloseClient { conn } => {
                    if let Some(addr) = self.client_addr.remove(&conn) {
                        self.flush_one((addr, Channel::Client(conn)));
                        self.transport.close(addr, Channel::Client(conn));
                    }
                }
                Action::SyncLog { token } => self.start_fsync(now, token),
                Action::Observe(o) => {
                    self.ctx.trace.lock().expect("trace").add((now, self.id, observation_key(&o)));
                    self.ctx.invariants.lock().expect("invariants").observe(self.id, now, o);
                }
                Action::Exit { reason } => {
                    self.flush_all();
                    self.exit(reason);
                    return false;
                }
                other => self.shared.disk.lock().expect("disk").apply_action(&other),
            }
        }
        self.flush_all();
        true
    }

    fn trace_send(&self, now: i64, to: u64, kind: &'static str) {
        if std::env::var("ZKSIM_DEBUG").is_ok() { eprintln!("{now} {} -> {to}: {kind}", self.id); }
        self.ctx.trace.lock().expect("trace").add((now, self.id, to, kind));
    }

    /// `System.exit`: the process is gone but the OS still writes its page cache out.
    fn exit(&mut self, reason: String) {
        tracing::warn!(server = self.id, %reason, "server exits");
        let mut disk = self.shared.disk.lock().expect("disk");
        let pending: Vec<_> = disk.unsynced.drain(..).collect();
        for entry in pending {
            disk.durable.append(entry);
        }
        drop(disk);
        let mut view = self.shared.view.lock().expect("view");
        view.up = false;
        view.serving = false;
        view.state = None;
        view.exited = Some(reason);
    }

    fn flush_one(&mut self, key: (Addr, Channel)) {
        if let Some(batch) = self.batches.remove(&key) {
            self.send_batch(key, batch);
        }
    }

    fn flush_all(&mut self) {
        let batches = std::mem::take(&mut self.batches);
        for (key, batch) in batches {
            self.send_batch(key, batch);
        }
    }

    fn send_batch(&mut self, (to, channel): (Addr, Channel), batch: Vec<Outgoing>) {
        if batch.is_empty() {
            return;
        }
        let body = match channel {
            Channel::Client(_) => Body::ToClient(
                batch
                    .into_iter()
                    .map(|o| match o {
                        Outgoing::Client(m) => m,
                        Outgoing::Peer(_) => unreachable!("peer message on a client channel"),
                    })
                    .collect(),
            ),
            _ => Body::Peer(
                batch
                    .into_iter()
                    .map(|o| match o {
                        Outgoing::Peer(m) => m,
                        Outgoing::Client(_) => unreachable!("client message on a peer channel"),
                    })
                    .collect(),
            ),
        };
        self.transport.send(to, channel, body);
    }

    fn publish_view(&self) {
        let view = ServerView {
            up: true,
            state: Some(self.peer.state),
            serving: self.peer.is_serving(),
            leader: self.peer.leader_id(),
            last_zxid: self.peer.last_processed_zxid(),
            digest: self.peer.digest(),
            current_epoch: self.peer.current_epoch(),
            exited: None,
        };
        *self.shared.view.lock().expect("view") = view;
    }
}

fn delivery_tag(d: &Delivery) -> (u8, usize) {
    match d {
        Delivery::Peer { messages, .. } => (0, messages.len()),
        Delivery::PeerDisconnected { .. } => (1, 0),
        Delivery::ClientConnected { .. } => (2, 0),
        Delivery::FromClient { messages, .. } => (3, messages.len()),
        Delivery::ClientDisconnected { .. } => (4, 0),
        Delivery::ToClient { messages, .. } => (5, messages.len()),
        Delivery::ServerClosed { .. } => (6, 0),
    }
}

fn observation_key(o: &crate::zab::peer::Observation) -> (u8, i64, u64) {
    use crate::zab::peer::Observation as O;
    match o {
        O::StateChanged { state, epoch } => (0, *epoch, *state as u64),
        O::Established { epoch, last_zxid, .. } => (1, *epoch, *last_zxid as u64),
        O::Committed { entry, digest } => (2, entry.header.zxid, *digest),
        O::Loaded { zxid, digest } => (3, *zxid, *digest),
        O::Acknowledged { zxid } => (4, *zxid, 0),
    }
}
