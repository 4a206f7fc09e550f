//! The cluster harness: an ensemble of voting servers and observers as madsim nodes, with the
//! faults a nemesis applies — kill (a power failure of the node: its [`SimDisk`] loses every
//! unsynced byte, perhaps tearing the last append), restart, pause, partitions,
//! latency, loss, clock drift — and the checks that the ensemble serves and converges.
//!
//! Why a harness apart from the nemesis: tests drive it directly with exact schedules, the
//! scenario runner drives it from a seeded plan; both see the same API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::runtime::{Handle, NodeHandle};

use super::disk::SimDisk;
use super::invariants::{Invariants, Violation};
use super::events::ServerEvents;
use super::net::{ip_of, Addr, NetConditions, SharedConditions};
use super::server_node::{elapsed_ms, server_main, RunContext, ServerShared, ServerView, TraceHash};
use crate::zab::{Bugs, PeerConfig, ServerId, ServerState};

/// The shape and timing of an ensemble.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub voters: usize,
    pub observers: usize,
    pub tick_time_ms: i64,
    pub init_limit_ticks: i64,
    pub sync_limit_ticks: i64,
    pub snap_count: u64,
    pub commit_log_count: usize,
    pub fsync_latency_ms: u64,
    /// Probability in [0, 1] that a power failure (kill) tears the last unsynced log append,
    /// leaving a prefix of it on disk (recovery must cut it away).
    pub torn_write_probability: f64,
    /// One-way network latency range.
    pub latency_ms: (u64, u64),
    /// `maxSessionTimeout`; `None` is ZooKeeper's default, 20 × tickTime.
    pub max_session_timeout_ms: Option<i32>,
    /// Nodes a fuzzy snapshot walks per applied txn.
    pub snapshot_nodes_per_step: usize,
    /// [`crate::zab::PeerConfig::fle_renotify_on_interval`] (a candidate fix; off by default).
    pub fle_renotify_on_interval: bool,
    pub bugs: Bugs,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            voters: 3,
            observers: 0,
            tick_time_ms: 2_000,
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            snap_count: 10_000,
            commit_log_count: 500,
            fsync_latency_ms: 2,
            torn_write_probability: 0.0,
            latency_ms: (1, 5),
            max_session_timeout_ms: None,
            snapshot_nodes_per_step: 64,
            fle_renotify_on_interval: false,
            bugs: Bugs::none(),
        }
    }
}

impl ClusterConfig {
    pub fn peer_config(&self, id: ServerId) -> PeerConfig {
        let voters: Vec<ServerId> = (1..=self.voters as u64).collect();
        let observers: Vec<ServerId> = (self.voters as u64 + 1..=(self.voters + self.observers) as u64).collect();
        let mut c = PeerConfig::new(id, &voters, &observers, self.tick_time_ms);
        c.init_limit_ticks = self.init_limit_ticks;
        c.sync_limit_ticks = self.sync_limit_ticks;
        c.snap_count = self.snap_count;
        c.commit_log_count = self.commit_log_count;
        c.snapshot_nodes_per_step = self.snapshot_nodes_per_step;
        c.fle_renotify_on_interval = self.fle_renotify_on_interval;
        if let Some(max_ms) = self.max_session_timeout_ms {
            c.max_session_timeout_ms = max_ms;
        }
        c.bugs = self.bugs.clone();
        c
    }

    pub fn server_ids(&self) -> Vec<ServerId> {
        (1..=(self.voters + self.observers) as u64).collect()
    }
}

pub struct Cluster {
    pub config: ClusterConfig,
    handle: Handle,
    nodes: BTreeMap<ServerId, NodeHandle>,
    pub shared: BTreeMap<ServerId, Arc<ServerShared>>,
    pub ctx: Arc<RunContext>,
    paused: BTreeMap<ServerId, bool>,
    /// Servers killed and not restarted since (or exited on their own).
    down: std::collections::BTreeSet<ServerId>,
}

impl Cluster {
    /// Starts every server. Call inside the madsim runtime.
    pub fn start(config: ClusterConfig) -> Cluster {
        let handle = Handle::current();
        let conditions: SharedConditions = Arc::new(Mutex::new(NetConditions::new()));
        conditions.lock().expect("conditions").wire.set_latency_ms(config.latency_ms.0, config.latency_ms.1.max(config.latency_ms.0));
        crate::sim::net::spawn_driver(Arc::clone(&conditions));
        let disks = SimDisk::current();
        disks.set_default_fsync_latency(Duration::from_millis(config.fsync_latency_ms));
        disks.set_torn_write_probability(config.torn_write_probability);
        let over = conditions.lock().expect("conditions").over.clone();
        let events = Mutex::new(ServerEvents::sharing(over.clone()));
        let ctx = Arc::new(RunContext { conditions, invariants: Mutex::new(Invariants::default()), trace: Mutex::new(TraceHash::default()), points: Mutex::default(), server_log: Mutex::default(), events, over });
        let mut cluster = Cluster { config: config.clone(), handle, nodes: BTreeMap::new(), shared: BTreeMap::new(), ctx, paused: BTreeMap::new(), down: Default::default() };
        for id in config.server_ids() {
            let shared = Arc::new(ServerShared::new(config.peer_config(id)));
            let (s, c) = (Arc::clone(&shared), Arc::clone(&cluster.ctx));
            let node = crate::sim::build_node(
                cluster
                    .handle
                    .create_node()
                    .name(format!("server-{id}"))
                    .ip(ip_of(id))
                    .init(move || server_main(Arc::clone(&s), Arc::clone(&c)))
            );
            *shared.node.lock().expect("node") = Some(node.id());
            cluster.nodes.insert(id, node);
            cluster.shared.insert(id, shared);
        }
        cluster
    }

    pub fn ids(&self) -> Vec<ServerId> {
        self.nodes.keys().copied().collect()
    }

    pub fn voters(&self) -> Vec<ServerId> {
        (1..=self.config.voters as u64).collect()
    }

    pub fn view(&self, id: ServerId) -> ServerView {
        self.shared[&id].view.lock().expect("view").clone()
    }

    pub fn is_paused(&self, id: ServerId) -> bool {
        self.paused.get(&id).copied().unwrap_or(false)
    }

    /// Kills a server: a power failure. Its process is gone, and madsim's kill calls the
    /// [`SimDisk`] plugin's `reset_node`, which drops every unsynced byte.
    pub fn kill(&mut self, id: ServerId) {
        self.log(id, "crash");
        self.handle.kill(self.nodes[&id].id());
        self.shared[&id].mark_down();
        self.paused.insert(id, false);
        self.down.insert(id);
    }

    /// Whether a server is down: killed and not restarted, or exited on its own.
    pub fn is_down(&self, id: ServerId) -> bool {
        self.down.contains(&id) || self.view(id).exited.is_some()
    }

    /// Restarts a server from its disk. madsim needs a kill before a restart, so restarting a
    /// running server is a power failure too; an exited server synced its page cache on exit.
    pub fn restart(&mut self, id: ServerId) {
        self.log(id, "restart");
        let node = self.nodes[&id].id();
        self.handle.kill(node);
        self.handle.restart(node);
        self.paused.insert(id, false);
        self.down.remove(&id);
    }

    /// Stop-the-world pause (a long GC): the process keeps its state but runs nothing.
    pub fn pause(&mut self, id: ServerId) {
        if !self.is_paused(id) {
            self.log(id, "pause");
            self.handle.pause(self.nodes[&id].id());
            self.paused.insert(id, true);
        }
    }

    pub fn resume(&mut self, id: ServerId) {
        if self.is_paused(id) {
            self.log(id, "resume");
            self.handle.resume(self.nodes[&id].id());
            self.paused.insert(id, false);
        }
    }

    pub fn conditions(&self) -> std::sync::MutexGuard<'_, NetConditions> {
        self.ctx.conditions.lock().expect("conditions")
    }

    /// Cuts every link between the two sides (both directions); other hosts (clients) keep
    /// their links unless listed.
    ///
    /// Only the transport's conditions are cut, never madsim's links: the transport holds a cut
    /// link's packets and retransmits them once it heals (TCP), while a madsim clog silently
    /// drops a packet whose send task runs just after the cut — a sequence gap that stalled an
    /// election stream forever (explore seed 251, a cut at a fault point right after a vote).
    pub fn partition(&self, side_a: &[Addr], side_b: &[Addr]) {
        self.conditions().partition(side_a, side_b);
    }

    /// One-way cut: `from` can no longer reach `to`.
    pub fn cut_one_way(&self, from: Addr, to: Addr) {
        self.conditions().cut.insert((from, to));
    }

    /// Heals every partition, latency spike and loss.
    pub fn heal(&self) {
        self.conditions().heal();
    }

    pub fn set_clock_rate(&self, id: ServerId, rate: f64) {
        self.shared[&id].set_clock_rate(rate);
    }

    /// The madsim node a server runs on (its disk in the [`SimDisk`] plugin).
    pub fn node_of(&self, id: ServerId) -> madsim::task::NodeId {
        self.nodes[&id].id()
    }

    /// Runs `f` on a server's disk (the nemesis damages a crashed disk this way).
    pub fn with_disk<R>(&self, id: ServerId, f: impl FnOnce(&mut crate::storage::MemDisk) -> R) -> R {
        SimDisk::current().with_disk(self.node_of(id), f)
    }

    /// Injects (or clears, with the default) a full disk and failing fsyncs on a server.
    pub fn set_disk_faults(&self, id: ServerId, faults: crate::storage::DiskFaults) {
        SimDisk::current().set_faults(self.node_of(id), faults);
    }

    pub fn disk_faults(&self, id: ServerId) -> crate::storage::DiskFaults {
        SimDisk::current().faults(self.node_of(id))
    }

    /// Arms (or disarms) a crash inside the server's next epoch-file write.
    pub fn arm_epoch_crash(&self, id: ServerId, armed: bool) {
        SimDisk::current().arm_epoch_crash(self.node_of(id), armed);
    }

    /// A server's fsync latency (`None`: back to the ensemble's).
    pub fn set_fsync_latency(&self, id: ServerId, latency_ms: Option<u64>) {
        let ms = latency_ms.unwrap_or(self.config.fsync_latency_ms);
        SimDisk::current().set_fsync_latency(self.node_of(id), Duration::from_millis(ms));
    }

    /// The established leader most servers follow, if any.
    pub fn leader(&self) -> Option<ServerId> {
        self.ids().into_iter().find(|&id| {
            let v = self.view(id);
            v.up && v.state == Some(ServerState::Leading) && v.serving && !self.is_paused(id)
        })
    }

    /// Waits until a leader serves with a quorum of serving voters, up to `max_ms`.
    pub async fn wait_for_leader(&self, max_ms: i64) -> Option<ServerId> {
        let end = elapsed_ms() + max_ms;
        while elapsed_ms() < end && !self.ctx.limits_exceeded() {
            if let Some(leader) = self.leader() {
                let serving = self.voters().into_iter().filter(|&id| self.view(id).serving && self.view(id).leader == Some(leader)).count();
                if serving * 2 > self.config.voters {
                    return Some(leader);
                }
            }
            madsim::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Waits until every server is up, serving, and at the same zxid and digest.
    pub async fn wait_converged(&self, max_ms: i64) -> bool {
        let end = elapsed_ms() + max_ms;
        while elapsed_ms() < end && !self.ctx.limits_exceeded() {
            if self.converged() {
                return true;
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn converged(&self) -> bool {
        let views: Vec<ServerView> = self.ids().into_iter().map(|id| self.view(id)).collect();
        let first = &views[0];
        views.iter().all(|v| v.up && v.serving && v.last_zxid == first.last_zxid && v.digest == first.digest)
    }

    /// Runs the end-of-run invariant checks over the servers' final states.
    pub fn check_final(&self) {
        let now = elapsed_ms();
        let finals: Vec<(ServerId, i64, u64)> = self
            .ids()
            .into_iter()
            .map(|id| {
                let v = self.view(id);
                (id, v.last_zxid, v.digest)
            })
            .collect();
        crate::sim::profile::in_invariants(|| self.ctx.invariants.lock().expect("invariants").check_final(now, &finals));
    }

    /// Notes a fault done to a server in the run's server log (the history's server lanes).
    fn log(&self, id: ServerId, event: &'static str) {
        let entry = crate::sim::server_log::LoggedEvent::new(crate::sim::server_log::true_now_ns(), id, event);
        self.ctx.server_log.lock().expect("server log").push(entry);
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.ctx.invariants.lock().expect("invariants").violations.clone()
    }

    pub fn trace_hash(&self) -> u64 {
        self.ctx.trace.lock().expect("trace").value()
    }

    pub fn invariants(&self) -> std::sync::MutexGuard<'_, Invariants> {
        self.ctx.invariants.lock().expect("invariants")
    }
}

/// A madsim runtime for one seed, with the simulated disk plugged in.
pub fn new_runtime(seed: u64) -> madsim::runtime::Runtime {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.add_simulator::<SimDisk>();
    rt
}

/// Runs `future` to completion in a fresh runtime for `seed` on this thread, then ends every
/// task its nodes still have, so nothing of the run outlives it (see [`crate::sim::reap_nodes`]).
pub fn block_on_seed<T>(seed: u64, future: impl std::future::Future<Output = T>) -> T {
    new_runtime(seed).block_on(async move {
        let _clock = crate::sim::clock::keep_for_this_run();
        let out = future.await;
        crate::sim::reap_nodes().await;
        out
    })
}

/// The text of a simulation thread's panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs `body` in a fresh madsim runtime seeded with `seed`, on its own thread (so no state of
/// an earlier run on this thread leaks into this one).
pub fn run_seeded<T: Send + 'static, F>(seed: u64, body: impl FnOnce() -> F + Send + 'static) -> T
where
    F: std::future::Future<Output = T> + 'static,
{
    std::thread::spawn(move || block_on_seed(seed, body()))
    .join()
    .expect("simulation thread panicked")
}
