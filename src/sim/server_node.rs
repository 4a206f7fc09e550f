//! A ZooKeeper server as a madsim node: it owns a [`QuorumPeer`], feeds it packets, timers and
//! fsync completions, and executes its actions against the network and the simulated disk.
//!
//! Why this shape: the node's future is re-run from scratch on every restart (madsim re-runs a
//! node's `init`), so everything a real process would lose — the peer, its connections, its
//! timers, its `Storage` bookkeeping — lives inside it. The bytes live in the [`SimDisk`] plugin
//! outside it: madsim's `Handle::kill` calls the plugin's `reset_node`, a power failure that drops
//! every unsynced byte (and may tear the last append). At start the node runs
//! [`Storage::recover`] over what survived and builds the peer from it, as ZooKeeper's
//! `QuorumPeer.loadDataBase` does.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;

use super::disk::{SimDisk, SimDiskHandle};
use super::events::{ServerEvent, ServerEventKind, ServerEvents};
use super::fault_points::{PointHub, Strike};
use super::invariants::Invariants;
use super::alarm::Alarm;
use super::limits::{InFlight, TurnBudget, LOOP_TURNS_PER_SIM_SECOND_MAX};
use super::net::{Addr, Body, Channel, Delivery, Packet, SharedConditions, Transport};
use super::server_log::{true_now_ns, LoggedEvent, ServerLog, SyncSummary};
use crate::proto::Zxid;
use crate::storage::{Disk, MemDisk, Recovered, Storage, StorageConfig, StorageError};
use crate::tree::TxnEntry;
use crate::zab::database::DiskMirror;
use crate::zab::peer::{Action, QuorumPeer};
use crate::zab::persistence::{DiskFailure, DiskFailureKind};
use crate::zab::{FaultPoint, Passage, PeerConfig, PeerMessage, ServerState};

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

/// State of one server that outlives its process (its bytes live in the [`SimDisk`] plugin).
pub struct ServerShared {
    pub config: PeerConfig,
    pub view: Mutex<ServerView>,
    /// The madsim node this server runs on (its disk in the plugin); set by the harness.
    pub node: Mutex<Option<madsim::task::NodeId>>,
    /// The server's hardware clock; it outlives the process, like a real one.
    pub clock: Mutex<DriftClock>,
    /// Wakes the running process when its clock's rate changes (its sleep was computed with
    /// the old rate).
    rate_changed: Mutex<Option<mpsc::UnboundedSender<()>>>,
}

/// A local clock that runs at `rate` × true time from an anchor. Changing the rate takes effect
/// at once and keeps the clock continuous and monotonic (drift, not a jump).
#[derive(Clone, Copy, Debug)]
pub struct DriftClock {
    anchor_true_ms: i64,
    anchor_local_ms: f64,
    rate: f64,
}

impl Default for DriftClock {
    fn default() -> DriftClock {
        DriftClock { anchor_true_ms: 0, anchor_local_ms: 0.0, rate: 1.0 }
    }
}

impl DriftClock {
    /// Local time at true time `true_ms` (not before the anchor).
    pub fn local_ms(&self, true_ms: i64) -> i64 {
        (self.anchor_local_ms + (true_ms - self.anchor_true_ms) as f64 * self.rate) as i64
    }

    /// True milliseconds until the local clock reads `local_deadline_ms`.
    pub fn true_ms_until(&self, true_now_ms: i64, local_deadline_ms: i64) -> u64 {
        let ahead = (local_deadline_ms - self.local_ms(true_now_ms)).max(0) as f64;
        (ahead / self.rate).ceil() as u64
    }

    /// From `true_ms` on, the clock runs at `rate`.
    pub fn set_rate(&mut self, true_ms: i64, rate: f64) {
        assert!(rate > 0.0, "a clock rate is positive, got {rate}");
        self.anchor_local_ms += (true_ms - self.anchor_true_ms) as f64 * self.rate;
        self.anchor_true_ms = true_ms;
        self.rate = rate;
    }
}

impl ServerShared {
    /// The server's local clock now.
    pub fn local_ms(&self) -> i64 {
        self.clock.lock().expect("clock").local_ms(elapsed_ms())
    }

    /// Drift from now on (takes effect at once, also on a running server).
    pub fn set_clock_rate(&self, rate: f64) {
        self.clock.lock().expect("clock").set_rate(elapsed_ms(), rate);
        if let Some(tx) = self.rate_changed.lock().expect("rate_changed").as_ref() {
            let _ = tx.unbounded_send(());
        }
    }

    pub fn new(config: PeerConfig) -> ServerShared {
        ServerShared { config, view: Mutex::new(ServerView::default()), node: Mutex::new(None), clock: Mutex::new(DriftClock::default()), rate_changed: Mutex::new(None) }
    }

    /// The process is gone (killed): the view says so. The disk lost its unsynced bytes in
    /// the plugin's `reset_node`.
    pub fn mark_down(&self) {
        let mut view = self.view.lock().expect("view");
        view.up = false;
        view.serving = false;
        view.state = None;
    }

    /// What a recovery would find now if the server lost power: the durable bytes only,
    /// inspected (not changed). Call inside the runtime.
    pub fn durable_recovered(&self) -> Result<Recovered, StorageError> {
        let node = self.node.lock().expect("node").expect("server placed on a node");
        let mut disk = MemDisk::new();
        for (name, bytes) in SimDisk::current().durable_files(node) {
            disk.write_file(&name, &bytes);
            disk.sync(&name);
        }
        crate::storage::inspect(&disk)
    }

    /// The server's durable state as the peer would start from it.
    pub fn durable(&self) -> Result<DiskMirror, StorageError> {
        self.durable_recovered().map(|r| mirror_from_recovered(r).0)
    }
}

/// Builds the peer's [`DiskMirror`] from a recovery. Missing epoch files are derived as
/// `QuorumPeer.loadDataBase` does: the epoch of the last processed zxid. Returns which epochs
/// were derived (accepted, current), so the caller can write them as ZooKeeper does.
pub fn mirror_from_recovered(recovered: Recovered) -> (DiskMirror, bool, bool) {
    let epoch_of_last_zxid = recovered.last_zxid() >> 32;
    let derived_accepted = recovered.accepted_epoch.is_none();
    let derived_current = recovered.current_epoch.is_none();
    let mirror = DiskMirror {
        // Every snapshot and log record still on disk: a TRUNC after a restart can go below the
        // newest snapshot, as it could before the restart.
        snapshots: recovered.older_snapshots.into_iter().chain(recovered.snapshot.map(|(_, s)| s)).map(Arc::new).collect(),
        log: recovered.older_log.into_iter().chain(recovered.log).map(Arc::new).collect(),
        accepted_epoch: recovered.accepted_epoch.unwrap_or(epoch_of_last_zxid),
        current_epoch: recovered.current_epoch.unwrap_or(epoch_of_last_zxid),
    };
    (mirror, derived_accepted, derived_current)
}

/// Run-wide context shared by every node.
pub struct RunContext {
    pub conditions: SharedConditions,
    pub invariants: Mutex<Invariants>,
    pub trace: Mutex<TraceHash>,
    /// Fault points armed for the run, and the coverage they count.
    pub points: Mutex<PointHub>,
    /// What the servers did, for the history's server lanes (never read by the simulation).
    pub server_log: Mutex<ServerLog>,
    /// Refusals to start, disk errors and disk-caused crashes, for the runner.
    pub events: Mutex<ServerEvents>,
    /// Set when `conditions` or `events` overflowed (the same flag both set).
    pub over: crate::sim::limits::RunOver,
}

impl RunContext {
    /// Whether the run exceeded one of its bounds (`limits`): it is over.
    pub fn limits_exceeded(&self) -> bool {
        let over = self.over.is_set();
        debug_assert_eq!(over, self.conditions.lock().expect("conditions").overflow.is_some() || self.events.lock().expect("events").overflowed);
        over
    }

    pub fn report(&self, server: u64, kind: ServerEventKind) {
        self.events.lock().expect("events").push(ServerEvent { time_ms: elapsed_ms(), server, kind });
    }
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
    crate::sim::clock::elapsed().as_millis() as i64
}

/// Group commit: one fsync in flight (it takes the disk's fsync latency, then syncs); syncs
/// asked for meanwhile ride on the next one.
#[derive(Default)]
struct Fsync {
    /// (local time it completes, token).
    inflight: Option<(i64, u64)>,
    queued: Option<u64>,
}

struct Node {
    id: u64,
    shared: Arc<ServerShared>,
    ctx: Arc<RunContext>,
    peer: QuorumPeer,
    transport: Transport,
    storage: Storage<SimDiskHandle>,
    /// Consecutive AppendLog actions, written to storage in one call.
    pending_appends: Vec<Arc<TxnEntry>>,
    fsync: Fsync,
    client_addr: BTreeMap<u64, Addr>,
    /// Messages of this step per connection, sent as one packet each at the step's end
    /// (`Body::Peer` or `Body::ToClient`, built in place: no per-message conversion).
    batches: BTreeMap<(Addr, Channel), Body>,
    /// Extra ms of the next fsync (a `delay_fsync` fault point fired).
    fsync_extra_ms: u64,
    /// Actions after a fault point that held this server: run once the runner applied the
    /// fault (a paused server runs them when it resumes).
    deferred: VecDeque<Action>,
    /// Per learner: the sync packets sent since its first one, for the `sync` server event.
    sync_sent: BTreeMap<u64, SyncSummary>,
    /// A session expiry passed; its closeSession txn is the next one logged.
    expiring: bool,
    /// The view this process published last: while it lives only it writes the shared view
    /// (a kill drops it with its task), so an unchanged view needs no write.
    published: Option<ServerView>,
    /// The transport's deliveries of one packet (a buffer kept across packets).
    deliveries: Vec<Delivery>,
    /// The local clock read in this poll of the server's task: simulated time stands still
    /// while a task runs (madsim moves it between polls), and the drift rate is set by other
    /// tasks, so one reading serves the whole turn. Cleared wherever the loop awaits.
    turn_local_ms: std::cell::Cell<Option<i64>>,
}

/// What executing the peer's actions led to.
#[derive(PartialEq, Eq)]
enum Executed {
    Done,
    /// A fault point holds the rest of the actions (see [`Node::deferred`]).
    Held,
    /// The process is gone (exited, or crashed at a fault point).
    Gone,
    /// A persistence action failed: the rest of the step is dropped and the peer told.
    DiskFailed(DiskFailure),
}

/// The node's main future (madsim `init`).
pub async fn server_main(shared: Arc<ServerShared>, ctx: Arc<RunContext>) {
    let id = shared.config.my_id;
    let mut transport = Transport::bind(id, Arc::clone(&ctx.conditions)).await;
    let mut storage = Storage::new(SimDisk::current_node_disk(), StorageConfig::default());
    let mirror = match recover(&mut storage, &ctx, id) {
        Ok(mirror) => mirror,
        Err(error) => {
            let reason = format!("recovery failed: {error}");
            let mut exit = LoggedEvent::new(true_now_ns(), id, "exit");
            exit.detail = reason.clone();
            ctx.server_log.lock().expect("server log").push(exit);
            tracing::error!(server = id, %reason, "server does not start");
            ctx.trace.lock().expect("trace").add((elapsed_ms(), id, reason.as_str()));
            ctx.report(id, ServerEventKind::RefusedToStart { reason: format!("Unable to load database on disk: {error}") });
            let mut view = shared.view.lock().expect("view");
            *view = ServerView { exited: Some(reason), ..ServerView::default() };
            return;
        }
    };
    ctx.trace.lock().expect("trace").add((elapsed_ms(), id, "recovered", mirror.last_logged_zxid(), mirror.accepted_epoch, mirror.current_epoch));
    ctx.server_log.lock().expect("server log").push(recovered_event(id, &mirror));
    let peer = QuorumPeer::new(shared.config.clone(), mirror, shared.local_ms());
    let mut rx = transport.inbox();
    let (rate_tx, mut rate_rx) = mpsc::unbounded::<()>();
    *shared.rate_changed.lock().expect("rate_changed") = Some(rate_tx);
    let mut node = Node {
        id,
        shared,
        ctx,
        peer,
        transport,
        storage,
        pending_appends: Vec::new(),
        fsync: Fsync::default(),
        client_addr: BTreeMap::new(),
        batches: BTreeMap::new(),
        fsync_extra_ms: 0,
        deferred: VecDeque::new(),
        sync_sent: BTreeMap::new(),
        expiring: false,
        published: None,
        deliveries: Vec::new(),
        turn_local_ms: std::cell::Cell::new(None),
    };
    {
        let mut view = node.shared.view.lock().expect("view");
        view.up = true;
        view.exited = None;
    }
    let mut alarm = Alarm::new();
    let mut budget = TurnBudget::default();
    loop {
        if node.ctx.limits_exceeded() {
            // The run exceeded a bound and is over: this process stops (the runner reports it).
            return;
        }
        match node.execute() {
            Executed::Gone => return,
            Executed::DiskFailed(_) => unreachable!("execute handles disk failures"),
            Executed::Held => {
                // The runner applies the fault at this instant; a millisecond later the server
                // goes on (unless it was paused, then when it resumes).
                node.publish_view();
                madsim::time::sleep(Duration::from_millis(1)).await;
                node.turn_local_ms.set(None);
                continue;
            }
            Executed::Done => {}
        }
        node.publish_view();
        let deadline = node.next_deadline_local_ms();
        let clock = *node.shared.clock.lock().expect("clock");
        let now_ms = elapsed_ms();
        if !budget.turn(now_ms as u64) {
            let what = format!("server {id}: event-loop turns in one simulated second > {LOOP_TURNS_PER_SIM_SECOND_MAX}");
            node.transport.exceed(what);
            return;
        }
        let wake_ms = now_ms + clock.true_ms_until(now_ms, deadline) as i64;
        let sleep = alarm.until(wake_ms as u64 * 1_000_000);
        futures::pin_mut!(sleep);
        let woke = futures::select_biased! {
            packet = rx.next() => Woke::Packet(packet),
            _ = sleep => Woke::Time,
            _ = rate_rx.next() => Woke::RateChanged,
        };
        // A new poll: the clock may have moved.
        node.turn_local_ms.set(None);
        match woke {
            Woke::Packet(Some((packet, _in_flight))) => node.on_packet(packet),
            Woke::Packet(None) => return,
            Woke::Time => node.on_time(),
            Woke::RateChanged => {}
        }
    }
}

/// What ended a server loop's wait.
enum Woke {
    Packet(Option<(Packet, InFlight)>),
    Time,
    RateChanged,
}

/// `loadDataBase`: recover the data directory (cutting a torn tail), write missing epoch files
/// from the last zxid, and return what the peer starts from.
fn recover(storage: &mut Storage<SimDiskHandle>, ctx: &RunContext, id: u64) -> Result<DiskMirror, StorageError> {
    let recovered = storage.recover()?;
    if recovered.truncated_tail_bytes > 0 {
        tracing::info!(bytes = recovered.truncated_tail_bytes, damage = ?recovered.tail_damage, "cut a torn log tail");
        ctx.points.lock().expect("points").note_storage(crate::sim::fault_points::STORAGE_TORN_TAIL_CUT);
    }
    // What damaged files the start got past, as ZooKeeper logs it.
    for (file, problem) in &recovered.skipped_snapshots {
        let loaded = recovered.snapshot.as_ref().map_or("none".to_string(), |(z, _)| crate::storage::snap_files::snapshot_file_name(*z));
        let gap = replay_gap(&recovered).map(|(a, b)| format!("; the replayed log skips from {} to {}", crate::zab::zxid_str(a), crate::zab::zxid_str(b))).unwrap_or_default();
        ctx.report(id, ServerEventKind::Recovered { detail: format!("problem reading snap file {file} ({problem}); loaded {loaded} and replayed {} txns{gap}", recovered.log.len()) });
    }
    if recovered.current_epoch_from_tmp {
        ctx.report(id, ServerEventKind::Recovered { detail: format!("currentEpoch.tmp found. Setting current epoch to {}", recovered.current_epoch.unwrap_or(0)) });
    }
    let (mirror, derived_accepted, derived_current) = mirror_from_recovered(recovered);
    if mirror.accepted_epoch < mirror.current_epoch {
        return Err(StorageError::EpochOrder { accepted_epoch: mirror.accepted_epoch, current_epoch: mirror.current_epoch });
    }
    // "currentEpoch not found! Creating with a reasonable default": a write that a full disk
    // refuses, and then the server does not start.
    if derived_current {
        storage.try_write_current_epoch(mirror.current_epoch)?;
    }
    if derived_accepted {
        storage.try_write_accepted_epoch(mirror.accepted_epoch)?;
    }
    Ok(mirror)
}

/// The first place where the txns a recovery replays are visibly not consecutive: a counter
/// that jumps within an epoch, a new epoch that does not start at counter 1, or a skipped newer
/// snapshot whose zxid the replayed log never reaches (a SNAP sync's state that the log does not
/// hold, even when the log then goes on at counter 1 of a later epoch). `restore` replays
/// whatever the log holds; neither ZooKeeper nor zksim refuses such a log.
fn replay_gap(recovered: &Recovered) -> Option<(Zxid, Zxid)> {
    let start = recovered.snapshot.as_ref().map_or(0, |(z, _)| *z);
    let zxids: Vec<Zxid> = std::iter::once(start).chain(recovered.log.iter().map(|e| e.header.zxid)).collect();
    let jump = zxids.windows(2).map(|w| (w[0], w[1])).find(|&(a, b)| {
        let same_epoch = crate::zab::epoch_of(a) == crate::zab::epoch_of(b);
        (same_epoch && b != a + 1) || (!same_epoch && crate::zab::counter_of(b) != 1)
    });
    jump.or_else(|| {
        let skipped = recovered.skipped_snapshots.iter().filter_map(|(file, _)| crate::storage::snap_files::parse_snapshot_name(file));
        let uncovered = skipped.filter(|&z| z > start && !zxids.contains(&z)).min()?;
        let before = zxids.iter().copied().filter(|&z| z < uncovered).max().unwrap_or(start);
        let after = zxids.iter().copied().find(|&z| z > uncovered).unwrap_or(uncovered);
        Some((before, after))
    })
}

impl Node {
    fn now(&self) -> i64 {
        let local_ms = self.turn_local_ms.get().unwrap_or_else(|| self.shared.local_ms());
        debug_assert_eq!(local_ms, self.shared.local_ms(), "the clock stands still within a turn");
        self.turn_local_ms.set(Some(local_ms));
        local_ms
    }

    fn next_deadline_local_ms(&self) -> i64 {
        let fsync = self.fsync.inflight.map_or(i64::MAX, |(done, _)| done);
        self.peer.next_deadline_ms().min(fsync).max(self.now())
    }

    fn on_time(&mut self) {
        let now = self.now();
        if let Some((done, token)) = self.fsync.inflight {
            if now >= done {
                self.fsync.inflight = None;
                if let Err(failure) = self.complete_fsync(now, token) {
                    self.disk_failed(now, failure);
                    return;
                }
            }
        }
        if self.peer.next_deadline_ms() <= now {
            self.peer.on_timer(now);
        }
    }

    /// The fsync's latency has passed: every byte appended so far becomes durable (at least
    /// those appended before `SyncLog{token}`), then the peer hears of it.
    fn complete_fsync(&mut self, now: i64, token: u64) -> Result<(), DiskFailure> {
        self.flush_appends()?;
        if let Err(error) = self.storage.try_sync_log() {
            return Err(self.failure(DiskFailureKind::LogFsync, &error));
        }
        self.peer.on_log_synced(now, token);
        if let Some(next) = self.fsync.queued.take() {
            self.start_fsync(now, next);
        }
        Ok(())
    }

    /// What the disk refused and what it holds now, for the peer.
    fn failure(&self, kind: DiskFailureKind, error: &StorageError) -> DiskFailure {
        let mirror = self.peer.mirror();
        let on_disk = |file: &str, fallback: i64| crate::storage::epoch::read_epoch(self.storage.disk(), file).ok().flatten().unwrap_or(fallback);
        let accepted_epoch = on_disk(crate::storage::epoch::ACCEPTED_EPOCH_FILE, mirror.accepted_epoch).min(mirror.accepted_epoch);
        let current_epoch = on_disk(crate::storage::epoch::CURRENT_EPOCH_FILE, mirror.current_epoch).min(mirror.current_epoch);
        let snapshot_zxids: Vec<Zxid> = crate::storage::snap_files::snapshot_files(self.storage.disk()).into_iter().map(|(zxid, _)| zxid).collect();
        // As `FileTxnSnapLog.getLastLoggedZxid` after a SNAP sync: a snapshot may be ahead of the log.
        let on_disk = self.storage.last_logged_zxid().unwrap_or(0).max(snapshot_zxids.iter().copied().max().unwrap_or(0));
        DiskFailure {
            kind,
            detail: error.to_string(),
            last_logged_zxid: on_disk.min(mirror.last_logged_zxid()),
            snapshot_zxids,
            accepted_epoch,
            current_epoch,
        }
    }

    /// A persistence action failed: what was sent before it is on the wire, the rest of the
    /// step is dropped (ZooKeeper's critical thread died), no fsync is awaited any more, and
    /// the peer reacts as ZooKeeper does.
    fn disk_failed(&mut self, now: i64, failure: DiskFailure) {
        self.flush_all();
        self.pending_appends.clear();
        self.fsync = Fsync::default();
        let reaction = match failure.kind {
            DiskFailureKind::Snapshot => "System.exit(TXNLOG_ERROR_TAKING_SNAPSHOT)",
            _ => "server state ERROR: leaves its role, LOOKING",
        };
        self.ctx.trace.lock().expect("trace").add((now, self.id, "disk error", failure.detail.as_str()));
        let detail = format!("{} (while {:?})", failure.detail, self.peer.state);
        self.ctx.report(self.id, ServerEventKind::DiskError { detail, reaction: reaction.to_string() });
        self.peer.on_disk_error(now, failure);
    }

    fn start_fsync(&mut self, now: i64, token: u64) {
        if self.fsync.inflight.is_some() {
            self.fsync.queued = Some(token);
            return;
        }
        let tail_ms = self.ctx.points.lock().expect("points").fsync_tail_ms();
        let extra_ms = std::mem::take(&mut self.fsync_extra_ms) + tail_ms;
        let latency_ms = self.storage.disk().fsync_latency().as_millis() as i64 + extra_ms as i64;
        self.fsync.inflight = Some((now + latency_ms, token));
    }

    /// Writes the buffered appends to the log (page cache: not durable until an fsync). A full
    /// disk refuses the whole batch.
    fn flush_appends(&mut self) -> Result<(), DiskFailure> {
        if self.pending_appends.is_empty() {
            return Ok(());
        }
        // Cleared, not taken: the vector keeps its room for the next step's appends.
        let appended = self.storage.append_txns(&self.pending_appends);
        self.pending_appends.clear();
        match appended {
            Ok(()) => Ok(()),
            Err(error @ StorageError::DiskFull { .. }) => Err(self.failure(DiskFailureKind::LogAppend, &error)),
            // The peer's mirror and the storage disagree: a shell or core bug, never a fault.
            Err(error) => panic!("server {}: log append failed: {error}", self.id),
        }
    }

    /// Executes one persistence action against storage. `Ok(false)`: the server lost power in
    /// the middle of it (an armed epoch crash), nothing after it runs.
    fn persist(&mut self, action: Action) -> Result<bool, DiskFailure> {
        self.flush_appends()?;
        let (kind, result) = match action {
            Action::TruncateLog { zxid } => (DiskFailureKind::LogAppend, self.storage.truncate_log(zxid)),
            Action::WriteSnapshot(snapshot) => (DiskFailureKind::Snapshot, self.storage.try_write_snapshot(snapshot.last_zxid, &snapshot)),
            Action::WriteAcceptedEpoch(epoch) => {
                if self.epoch_crash(crate::storage::epoch::ACCEPTED_EPOCH_FILE, epoch) {
                    return Ok(false);
                }
                (DiskFailureKind::EpochWrite, self.storage.try_write_accepted_epoch(epoch))
            }
            Action::WriteCurrentEpoch(epoch) => {
                if self.epoch_crash(crate::storage::epoch::CURRENT_EPOCH_FILE, epoch) {
                    return Ok(false);
                }
                (DiskFailureKind::EpochWrite, self.storage.try_write_current_epoch(epoch))
            }
            other => unreachable!("not a persistence action: {other:?}"),
        };
        match result {
            Ok(()) => Ok(true),
            Err(error @ (StorageError::DiskFull { .. } | StorageError::FsyncFailed { .. })) => Err(self.failure(kind, &error)),
            Err(error) => panic!("server {}: storage failed: {error}", self.id),
        }
    }

    /// An armed epoch crash strikes this write: `<file>.tmp` is written and fsynced, then power
    /// fails before the rename (the runner kills the node at this instant).
    fn epoch_crash(&mut self, file: &str, epoch: i64) -> bool {
        let node = self.storage.disk().node();
        if !SimDisk::current().take_epoch_crash(node) {
            return false;
        }
        crate::storage::epoch::write_epoch_tmp_only(self.storage.disk_mut(), file, epoch);
        let detail = format!("power lost between {file}.tmp (epoch {epoch}) and its rename");
        tracing::warn!(server = self.id, %detail, "crash inside an epoch write");
        self.ctx.trace.lock().expect("trace").add((self.now(), self.id, "epoch crash", epoch));
        self.flush_all();
        self.ctx.report(self.id, ServerEventKind::PowerFailure { detail });
        true
    }

    fn on_packet(&mut self, packet: Packet) {
        let now = self.now();
        let from = packet.from;
        let mut deliveries = std::mem::take(&mut self.deliveries);
        self.transport.on_packet_into(packet, &mut deliveries);
        for delivery in deliveries.drain(..) {
            self.ctx.trace.lock().expect("trace").add((now, self.id, from, delivery_tag(&delivery)));
            tracing::trace!(now, server = self.id, from, delivery = ?delivery_tag(&delivery), "deliver");
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
        self.deliveries = deliveries;
    }

    /// Executes the peer's actions in order (first those a fault point held); a disk failure
    /// ends the step, the peer reacts, and its new actions run.
    fn execute(&mut self) -> Executed {
        loop {
            match self.execute_step() {
                Executed::DiskFailed(failure) => {
                    let now = self.now();
                    self.disk_failed(now, failure);
                }
                other => return other,
            }
        }
    }

    fn execute_step(&mut self) -> Executed {
        let mut actions = std::mem::take(&mut self.deferred);
        if actions.is_empty() {
            // Nothing held back (the common case): the peer's vector becomes the queue as is,
            // not copied action by action (an action is ~176 bytes).
            actions = VecDeque::from(self.peer.drain_actions());
        } else {
            actions.extend(self.peer.drain_actions());
        }
        let now = self.now();
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Send { to, msg } => {
                    self.note_send(to, &msg);
                    let channel = if msg.is_election() { Channel::Election } else { Channel::Zab };
                    self.trace_send(now, to, msg.kind());
                    match self.batches.entry((to, channel)).or_insert_with(|| Body::Peer(Vec::new())) {
                        Body::Peer(batch) => batch.push(msg),
                        _ => unreachable!("a peer channel's batch holds peer messages"),
                    }
                }
                Action::ClosePeer { peer } => {
                    self.flush_one((peer, Channel::Zab));
                    self.transport.close(peer, Channel::Zab);
                }
                Action::ToClient { conn, msg } => {
                    if let Some(&addr) = self.client_addr.get(&conn) {
                        match self.batches.entry((addr, Channel::Client(conn))).or_insert_with(|| Body::ToClient(Vec::new())) {
                            Body::ToClient(batch) => batch.push(*msg),
                            _ => unreachable!("a client channel's batch holds client replies"),
                        }
                    }
                }
                Action::CloseClient { conn } => {
                    // ZooKeeper closes a client's socket after the responses it wrote (the
                    // closeSession reply, a refused session's timeout 0): a FIN, not a RST.
                    if let Some(addr) = self.client_addr.remove(&conn) {
                        self.flush_one((addr, Channel::Client(conn)));
                        self.transport.shutdown(addr, Channel::Client(conn));
                    }
                }
                Action::AppendLog(entry) => {
                    self.note_append(&entry);
                    self.pending_appends.push(entry);
                }
                Action::SyncLog { token } => {
                    if let Err(failure) = self.flush_appends() {
                        return Executed::DiskFailed(failure);
                    }
                    self.start_fsync(now, token);
                }
                Action::Observe(o) => {
                    self.note_observation(&o);
                    // A refusal is already in the trace as the role change that follows it.
                    if !matches!(o, crate::zab::peer::Observation::EpochRefused { .. }) {
                        self.ctx.trace.lock().expect("trace").add((now, self.id, observation_key(&o)));
                    }
                    // Reported at the true time (the server's clock may drift).
                    crate::sim::profile::in_invariants(|| self.ctx.invariants.lock().expect("invariants").observe(self.id, elapsed_ms(), o));
                }
                Action::Exit { reason } => {
                    self.log(LoggedEvent { detail: reason.clone(), ..LoggedEvent::new(true_now_ns(), self.id, "exit") });
                    // The process exits: whatever the disk refuses is lost with it.
                    let _ = self.flush_appends();
                    self.flush_all();
                    self.exit(reason);
                    return Executed::Gone;
                }
                Action::Point(passage) => {
                    self.note_passage(passage);
                    if let Some(stop) = self.at_point(now, passage, &mut actions) {
                        return stop;
                    }
                }
                Action::WriteSnapshot(snapshot) => {
                    self.log(LoggedEvent { zxid: Some(snapshot.last_zxid), ..LoggedEvent::new(true_now_ns(), self.id, "snapshot") });
                    if let Err(failure) = self.persist(Action::WriteSnapshot(snapshot)) {
                        return Executed::DiskFailed(failure);
                    }
                    // Storage rolls the log at every snapshot (`FileTxnSnapLog.save` + roll).
                    let roll = Passage { point: FaultPoint::LogRolled, peer: None };
                    if let Some(stop) = self.at_point(now, roll, &mut actions) {
                        return stop;
                    }
                }
                Action::TruncateLog { zxid } => {
                    self.log(LoggedEvent { zxid: Some(zxid), ..LoggedEvent::new(true_now_ns(), self.id, "truncate") });
                    match self.persist(Action::TruncateLog { zxid }) {
                        Ok(true) => {}
                        Ok(false) => return Executed::Gone,
                        Err(failure) => return Executed::DiskFailed(failure),
                    }
                }
                other => match self.persist(other) {
                    Ok(true) => {}
                    Ok(false) => return Executed::Gone,
                    Err(failure) => return Executed::DiskFailed(failure),
                },
            }
        }
        self.peer.recycle_actions(Vec::from(actions));
        if let Err(failure) = self.flush_appends() {
            return Executed::DiskFailed(failure);
        }
        self.flush_all();
        Executed::Done
    }

    // ------------------------------------------------------------ server events (lanes)
    // Written down only: nothing here draws a random number, sends or changes the peer.

    fn log(&self, event: LoggedEvent) {
        self.ctx.server_log.lock().expect("server log").push(event);
    }

    fn event(&self, name: &'static str) -> LoggedEvent {
        LoggedEvent::new(true_now_ns(), self.id, name)
    }

    /// Role and epoch changes, leaders established, databases (re)loaded.
    fn note_observation(&self, o: &crate::zab::peer::Observation) {
        use crate::zab::peer::Observation as O;
        let event = match o {
            O::StateChanged { state, epoch } => {
                let name = match state {
                    ServerState::Looking => "looking",
                    ServerState::Leading => "leading",
                    ServerState::Following => "following",
                    ServerState::Observing => "observing",
                };
                LoggedEvent { epoch: Some(*epoch), ..self.event(name) }
            }
            O::Established { epoch, last_zxid, .. } => LoggedEvent { epoch: Some(*epoch), zxid: Some(*last_zxid), ..self.event("established") },
            O::Loaded { zxid, .. } => LoggedEvent { zxid: Some(*zxid), ..self.event("loaded") },
            O::EpochRefused { leader, new_epoch, accepted_epoch } => LoggedEvent {
                peer: Some(*leader),
                epoch: Some(*new_epoch),
                detail: format!("acceptedEpoch {accepted_epoch}"),
                ..self.event("epoch_refused")
            },
            O::Committed { .. } | O::Acknowledged { .. } | O::LogConflict { .. } => return,
        };
        self.log(event);
    }

    /// Election results, the leader's sync decision per learner, NEWLEADER and UPTODATE.
    fn note_passage(&mut self, passage: Passage) {
        let leader = passage.peer;
        let event = match passage.point {
            FaultPoint::LeaderChosen => LoggedEvent { peer: Some(leader.unwrap_or(self.id)), ..self.event("elected") },
            FaultPoint::SyncPacketsQueued => {
                let Some(learner) = passage.peer else { return };
                let summary = self.sync_sent.remove(&learner).unwrap_or_default();
                LoggedEvent { epoch: Some(self.peer.accepted_epoch()), ..summary.event(true_now_ns(), self.id, learner) }
            }
            FaultPoint::NewLeaderReceived => LoggedEvent { peer: leader, zxid: Some(self.peer.last_processed_zxid()), ..self.event("newleader") },
            FaultPoint::NewLeaderAckSent => LoggedEvent { peer: leader, epoch: Some(self.peer.current_epoch()), ..self.event("newleader_ack") },
            FaultPoint::UpToDateReceived => LoggedEvent { peer: leader, zxid: Some(self.peer.last_processed_zxid()), ..self.event("uptodate") },
            FaultPoint::SessionExpired => {
                self.expiring = true;
                return;
            }
            FaultPoint::ClientAhead => LoggedEvent { zxid: Some(self.peer.last_processed_zxid()), ..self.event("client_ahead") },
            _ => return,
        };
        self.log(event);
    }

    /// The first sync packet to a learner opens its summary; proposals after it are counted.
    fn note_send(&mut self, to: u64, msg: &PeerMessage) {
        let first = match msg {
            PeerMessage::Diff { zxid } => ("DIFF", *zxid),
            PeerMessage::Trunc { zxid } => ("TRUNC", *zxid),
            PeerMessage::Snap { snapshot } => ("SNAP", snapshot.last_zxid),
            PeerMessage::Proposal(entry) => {
                if let Some(summary) = self.sync_sent.get_mut(&to) {
                    summary.proposal(entry.header.zxid);
                }
                return;
            }
            _ => return,
        };
        self.sync_sent.insert(to, SyncSummary { first: Some(first), ..SyncSummary::default() });
    }

    /// The closeSession txn of a session the leader expired.
    fn note_append(&mut self, entry: &TxnEntry) {
        if self.expiring && matches!(entry.txn, crate::tree::Txn::CloseSession { .. }) {
            self.expiring = false;
            let event = LoggedEvent { session: Some(entry.header.client_id), zxid: Some(entry.header.zxid), ..self.event("session_expired") };
            self.log(event);
        }
    }

    /// A passage: report it to the run's fault points and carry out a strike. `Some` when the
    /// rest of `actions` must wait (held, kept in `deferred`) or never run (crashed).
    fn at_point(&mut self, now: i64, passage: Passage, actions: &mut VecDeque<Action>) -> Option<Executed> {
        let state = self.peer.state;
        let strike = self.ctx.points.lock().expect("points").pass(now, self.id, state, passage)?;
        if let Strike::DelayFsync(ms) = strike {
            self.fsync_extra_ms += ms;
            return None;
        }
        tracing::debug!(now, server = self.id, point = passage.point.name(), ?strike, "fault point fired");
        self.ctx.trace.lock().expect("trace").add((now, self.id, "fault point", passage.point.name()));
        // What was sent before the passage is on the wire.
        self.flush_all();
        if strike == Strike::Crash {
            // Power fails here: the page cache is lost with the kill the runner applies now.
            return Some(Executed::Gone);
        }
        if strike == Strike::DropClients {
            // The closes queue behind the held actions; the runner only records the firing.
            self.peer.reset_client_port(now);
        }
        if let Err(failure) = self.flush_appends() {
            return Some(Executed::DiskFailed(failure));
        }
        self.deferred = std::mem::take(actions);
        Some(Executed::Held)
    }
    fn trace_send(&self, now: i64, to: u64, kind: &'static str) {
        tracing::trace!(now, server = self.id, to, kind, "send");
        self.ctx.trace.lock().expect("trace").add((now, self.id, to, kind));
    }

    /// `System.exit`: the process is gone but the OS still writes its page cache out, so a
    /// later restart (which madsim models as kill + restart, a power failure) loses nothing.
    fn exit(&mut self, reason: String) {
        tracing::warn!(server = self.id, %reason, "server exits");
        self.storage.sync_log();
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

    /// A batch exists only once a message was pushed into it: never empty.
    fn send_batch(&mut self, (to, channel): (Addr, Channel), batch: Body) {
        self.transport.send(to, channel, batch);
    }

    fn publish_view(&mut self) {
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
        if self.published.as_ref() == Some(&view) {
            return;
        }
        *self.shared.view.lock().expect("view") = view.clone();
        self.published = Some(view);
    }
}

/// `recovered`: what a starting server rebuilt from its disk.
fn recovered_event(id: u64, mirror: &DiskMirror) -> LoggedEvent {
    let snapshot = mirror.snapshots.last().map(|s| s.last_zxid);
    let replayed = mirror.log.iter().filter(|e| Some(e.header.zxid) > snapshot).count();
    let from = snapshot.map_or_else(|| "no snapshot".to_string(), |z| format!("snapshot {}", crate::zab::zxid_str(z)));
    let detail = format!("{from} + {replayed} logged txns; acceptedEpoch {}, currentEpoch {}", mirror.accepted_epoch, mirror.current_epoch);
    LoggedEvent { zxid: Some(mirror.last_logged_zxid()), epoch: Some(mirror.current_epoch), detail, ..LoggedEvent::new(true_now_ns(), id, "recovered") }
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
        O::LogConflict { offered, .. } => (5, offered.header.zxid, 0),
        O::EpochRefused { new_epoch, accepted_epoch, .. } => (6, *new_epoch, *accepted_epoch as u64),
    }
}
