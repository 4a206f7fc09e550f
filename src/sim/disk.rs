//! The simulated disk: a madsim [`Simulator`] plugin holding one [`MemDisk`] per node, which
//! loses every unsynced byte when madsim kills the node.
//!
//! Why a plugin: madsim's own fs keeps unsynced writes across a kill, so it cannot show a lost
//! acknowledged write. madsim calls [`Simulator::reset_node`] from `Handle::kill`; we crash the
//! node's `MemDisk` there (a power failure), tearing the last unsynced append with a configured
//! probability, decided by the plugin's own RNG seeded from madsim's seeded RNG — same seed, same
//! tears. `Handle::restart` alone does not call `reset_node`: that is a process crash, and the
//! page cache (unsynced bytes) survives, as on a real machine. Use `kill` then `restart` for a
//! power failure.
//!
//! Disk faults beyond power loss, each armed by the nemesis (never drawn here): a full disk and
//! failing fsyncs ([`SimDisk::set_faults`], seen by storage through [`Disk::is_full`] and
//! [`Disk::try_sync`]); a crash inside the next epoch-file write, between the tmp copy's fsync
//! and its rename ([`SimDisk::arm_epoch_crash`], carried out by the server's shell); bit rot and
//! cut files on a crashed disk (`storage::damage`, through [`SimDisk::with_disk`]).
//!
//! Inside a node, [`SimDisk::current_node_disk`] gives a [`SimDiskHandle`] implementing
//! [`Disk`]; wrap it in a `storage::Storage`. The shell should `madsim::time::sleep` for
//! [`SimDisk::fsync_latency`] before it calls `sync_log` and reports the txns durable, so a kill
//! can land while a sync is "in flight". Test harnesses inspect a node's state with
//! [`SimDisk::durable_files`], [`SimDisk::with_disk`] and [`SimDisk::crashes`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use madsim::plugin::{self, Simulator};
use madsim::rand::{GlobalRng, RngCore};
use madsim::task::NodeId;
use madsim::time::TimeHandle;
use madsim::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::storage::{CrashOutcome, Disk, DiskFaults, DiskIoError, MemDisk, TornWrite};

/// Default time an fsync takes (a fast SSD with a write cache off).
pub const FSYNC_LATENCY_DEFAULT: Duration = Duration::from_millis(2);

/// One crash as the plugin performed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashRecord {
    pub node: NodeId,
    pub outcome: CrashOutcome,
}

struct State {
    disks: BTreeMap<NodeId, MemDisk>,
    rng: ChaCha8Rng,
    torn_write_probability: f64,
    fsync_latency_default: Duration,
    fsync_latency: BTreeMap<NodeId, Duration>,
    crashes: Vec<CrashRecord>,
    /// Nodes whose next epoch-file write crashes between the tmp copy and the rename.
    epoch_crash_armed: std::collections::BTreeSet<NodeId>,
}

/// The simulated disks of every node. Register with `runtime.add_simulator::<SimDisk>()`.
pub struct SimDisk {
    state: Mutex<State>,
}

impl Simulator for SimDisk {
    fn new(rand: &GlobalRng, _time: &TimeHandle, _config: &Config) -> Self {
        let seed = rand.clone().next_u64();
        SimDisk {
            state: Mutex::new(State {
                disks: BTreeMap::new(),
                rng: ChaCha8Rng::seed_from_u64(seed),
                torn_write_probability: 0.0,
                fsync_latency_default: FSYNC_LATENCY_DEFAULT,
                fsync_latency: BTreeMap::new(),
                crashes: Vec::new(),
                epoch_crash_armed: Default::default(),
            }),
        }
    }

    fn create_node(&self, id: NodeId) {
        self.state().disks.entry(id).or_default();
    }

    fn reset_node(&self, id: NodeId) {
        self.power_fail(id);
    }
}

impl SimDisk {
    fn state(&self) -> MutexGuard<'_, State> {
        // madsim runs one task at a time; a poisoned lock means a panic already failed the run.
        self.state.lock().expect("sim disk lock")
    }

    /// The plugin of the current runtime (panics outside a runtime that registered it).
    pub fn current() -> Arc<SimDisk> {
        plugin::simulator::<SimDisk>()
    }

    /// The disk of the node the calling task runs on.
    pub fn current_node_disk() -> SimDiskHandle {
        SimDiskHandle { sim: SimDisk::current(), node: plugin::node() }
    }

    /// A [`Disk`] handle on `node`'s disk (usable from the supervisor too).
    pub fn handle(self: &Arc<Self>, node: NodeId) -> SimDiskHandle {
        self.state().disks.entry(node).or_default();
        SimDiskHandle { sim: self.clone(), node }
    }

    /// Probability in [0, 1] that a crash tears the last unsynced append (keeps a random
    /// strict prefix of the unsynced appended bytes).
    pub fn set_torn_write_probability(&self, probability: f64) {
        assert!((0.0..=1.0).contains(&probability), "torn-write probability {probability} not in [0, 1]");
        self.state().torn_write_probability = probability;
    }

    pub fn torn_write_probability(&self) -> f64 {
        self.state().torn_write_probability
    }

    /// The fsync latency of every node without its own setting.
    pub fn set_default_fsync_latency(&self, latency: Duration) {
        self.state().fsync_latency_default = latency;
    }

    pub fn set_fsync_latency(&self, node: NodeId, latency: Duration) {
        self.state().fsync_latency.insert(node, latency);
    }

    /// How long the shell should sleep before reporting a sync of `node` durable.
    pub fn fsync_latency(&self, node: NodeId) -> Duration {
        let state = self.state();
        state.fsync_latency.get(&node).copied().unwrap_or(state.fsync_latency_default)
    }

    /// Power failure of `node`: unsynced bytes are lost, perhaps with a torn write. Called by
    /// madsim on `Handle::kill`; callable directly too.
    pub fn power_fail(&self, node: NodeId) -> CrashOutcome {
        let mut state = self.state();
        let state = &mut *state;
        let disk = state.disks.entry(node).or_default();
        let mut torn = None;
        if let Some((_, unsynced_bytes)) = disk.torn_write_candidate() {
            // Draw only when a tear is possible, so runs without unsynced data draw nothing.
            if state.torn_write_probability > 0.0 && state.rng.gen_bool(state.torn_write_probability) {
                let keep_bytes = if unsynced_bytes > 1 { state.rng.gen_range(1..unsynced_bytes) } else { 0 };
                torn = Some(TornWrite { keep_bytes });
            }
        }
        let outcome = disk.crash(torn);
        tracing::debug!(%node, lost_bytes = outcome.lost_bytes, torn = ?outcome.torn, "sim disk power failure");
        state.crashes.push(CrashRecord { node, outcome: outcome.clone() });
        outcome
    }

    /// Injects (or, with `DiskFaults::default()`, clears) a full disk and failing fsyncs.
    pub fn set_faults(&self, node: NodeId, faults: DiskFaults) {
        self.state().disks.entry(node).or_default().faults = faults;
    }

    pub fn faults(&self, node: NodeId) -> DiskFaults {
        self.state().disks.get(&node).map(|d| d.faults).unwrap_or_default()
    }

    /// The node's next `acceptedEpoch` / `currentEpoch` write crashes after its tmp copy is
    /// fsynced and before the rename.
    pub fn arm_epoch_crash(&self, node: NodeId, armed: bool) {
        let mut state = self.state();
        if armed {
            state.epoch_crash_armed.insert(node);
        } else {
            state.epoch_crash_armed.remove(&node);
        }
    }

    /// Whether an epoch crash is armed for `node`; disarms it (it strikes once).
    pub fn take_epoch_crash(&self, node: NodeId) -> bool {
        self.state().epoch_crash_armed.remove(&node)
    }

    /// Every crash so far, in order.
    pub fn crashes(&self) -> Vec<CrashRecord> {
        self.state().crashes.clone()
    }

    /// What would survive a crash of `node` now.
    pub fn durable_files(&self, node: NodeId) -> BTreeMap<String, Vec<u8>> {
        self.state().disks.get(&node).map(MemDisk::durable_files).unwrap_or_default()
    }

    /// Runs `f` on `node`'s disk (inspection, or deliberate corruption in a test).
    pub fn with_disk<R>(&self, node: NodeId, f: impl FnOnce(&mut MemDisk) -> R) -> R {
        f(self.state().disks.entry(node).or_default())
    }
}

/// One node's disk, as a [`Disk`].
#[derive(Clone)]
pub struct SimDiskHandle {
    sim: Arc<SimDisk>,
    node: NodeId,
}

impl std::fmt::Debug for SimDiskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimDiskHandle(node {})", self.node)
    }
}

impl SimDiskHandle {
    pub fn node(&self) -> NodeId {
        self.node
    }

    pub fn fsync_latency(&self) -> Duration {
        self.sim.fsync_latency(self.node)
    }

    fn with<R>(&self, f: impl FnOnce(&mut MemDisk) -> R) -> R {
        self.sim.with_disk(self.node, f)
    }
}

impl Disk for SimDiskHandle {
    fn append(&mut self, name: &str, bytes: &[u8]) {
        self.with(|d| d.append(name, bytes))
    }
    fn write_file(&mut self, name: &str, bytes: &[u8]) {
        self.with(|d| d.write_file(name, bytes))
    }
    fn sync(&mut self, name: &str) {
        self.with(|d| d.sync(name))
    }
    fn read(&self, name: &str) -> Option<Vec<u8>> {
        self.with(|d| d.read(name))
    }
    fn truncate(&mut self, name: &str, len: usize) {
        self.with(|d| d.truncate(name, len))
    }
    fn remove(&mut self, name: &str) {
        self.with(|d| d.remove(name))
    }
    fn list(&self) -> Vec<String> {
        self.with(|d| d.list())
    }
    fn len(&self, name: &str) -> Option<usize> {
        self.with(|d| d.len(name))
    }
    fn is_full(&self) -> bool {
        self.with(|d| d.is_full())
    }
    fn try_sync(&mut self, name: &str) -> Result<(), DiskIoError> {
        self.with(|d| d.try_sync(name))
    }
}
