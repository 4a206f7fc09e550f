//! Scenario files: what a seeded run sets up, injects and expects (schema in the README).
//!
//! Why JSON with every field defaulted: a researcher writes only what differs from the
//! default scenario; a typo is an error naming the file, the field and what was expected,
//! never a silently ignored knob.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::sim::fault_points::{PointRule, POINT_ACTIONS};
use crate::zab::{Bug, FaultPoint};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub ensemble: EnsembleSpec,
    pub network: NetworkSpec,
    pub clients: ClientsSpec,
    pub workload: WorkloadSpec,
    /// Simulated seconds of workload with faults.
    pub duration_s: u64,
    pub nemesis: NemesisSpec,
    /// Simulated seconds the healed ensemble gets to serve again and converge.
    pub liveness_s: u64,
    /// Checks to run on the history (`all`, or names from `zksim list`).
    pub checks: Vec<String>,
    pub expect: Expect,
    /// Bug flags (names from `zksim list`).
    pub bugs: Vec<String>,
    /// The seed `zksim run FILE` uses when no `--seed` is given (shrink writes the seed it
    /// minimized for, so the file alone reproduces the failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// A liveness phase that does not heal everything: faults kept on a minority of voters,
    /// damaged servers repaired or left broken, progress required within a computed bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessSpec>,
}

/// The `liveness` section (absent: the liveness phase heals everything, as before).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LivenessSpec {
    /// Faults kept on voters through the liveness phase (together with `random_keep`, at most
    /// a minority of the voters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keep: Vec<Keep>,
    /// Kept faults drawn from the seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_keep: Option<RandomKeep>,
    /// Servers that refuse to start after the nemesis damaged their disk get an empty data
    /// directory and start again when the liveness phase begins (what an operator does); off,
    /// they stay down and count as broken.
    pub repair: bool,
}

/// One fault kept through the liveness phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    /// One of [`KEEP_KINDS`].
    pub kind: String,
    /// `leader`, `follower`, `random` (default) or a voter id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `slow_disk`: fsync ms (default 1500, at least 1000); `slow_link`: extra one-way ms
    /// (default 300); `drift`: clock rate in (0.5, 2.0) (default 1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Voters the kept faults may take out of the healthy majority: one each, plus the leader
/// side of one-way links (once).
pub fn budget_used(keeps: &[Keep]) -> usize {
    keeps.len() + usize::from(keeps.iter().any(|k| k.kind.starts_with("one_way")))
}

/// Kept faults drawn per seed (from a stream of their own).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomKeep {
    /// Kinds to draw from (empty: every kind).
    pub kinds: Vec<String>,
    /// [min, max] kept faults; the max is cut to a minority of the voters.
    pub count: [usize; 2],
}

impl Default for RandomKeep {
    fn default() -> RandomKeep {
        RandomKeep { kinds: Vec::new(), count: [1, 4] }
    }
}

/// What `liveness.keep` can hold: a voter crashed, paused, cut from every other server, a link
/// cut one way from or to the leader, a slow disk, a slow network link, a drifting clock, a full
/// disk, failing fsyncs.
pub const KEEP_KINDS: [&str; 10] =
    ["crash", "pause", "isolate", "one_way_from_leader", "one_way_to_leader", "slow_disk", "slow_link", "drift", "disk_full", "fsync_error"];

/// Disk faults (`nemesis.schedule` actions and `nemesis.random.kinds`; never drawn by swarm):
/// a bit flipped in a synced log record or in the newest snapshot, the newest snapshot cut
/// short (each on a server losing power, found when it restarts), failing fsyncs, a full disk,
/// a crash between an epoch file's tmp copy and its rename (armed for the server's next epoch
/// write).
pub const DISK_FAULT_KINDS: [&str; 6] = ["log_bitflip", "snapshot_bitflip", "snapshot_cut", "fsync_error", "disk_full", "epoch_tmp_crash"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleSpec {
    pub voters: usize,
    pub observers: usize,
    pub tick_time_ms: i64,
    pub init_limit: i64,
    pub sync_limit: i64,
    pub snap_count: u64,
    pub commit_log_count: usize,
    pub fsync_latency_ms: u64,
    /// A slow tail: each fsync takes `extra_ms` more with `probability` (none by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsync_tail: Option<FsyncTailSpec>,
    /// Probability that a crash (kill, power loss) tears the last unsynced log append,
    /// leaving a prefix of it that recovery must cut away.
    #[serde(skip_serializing_if = "is_zero")]
    pub torn_write_probability: f64,
    /// Nodes the fuzzy snapshot walk copies per applied txn (ZooKeeper walks concurrently
    /// with commits; smaller steps make the walk span more of them).
    #[serde(skip_serializing_if = "is_default_step")]
    pub snapshot_nodes_per_step: usize,
    /// A candidate fix, *not* ZooKeeper 3.8: a LOOKING server re-sends its notifications every
    /// `notTimeout` even while notifications keep arriving. ZooKeeper re-sends only when none
    /// arrives within it, so a flapping server's stale ones can starve it for good
    /// (`reports/real-zookeeper/looking-starvation.md`). Off unless a scenario sets it.
    #[serde(skip_serializing_if = "is_false")]
    pub fle_renotify_on_interval: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_default_step(n: &usize) -> bool {
    *n == DEFAULT_SNAPSHOT_NODES_PER_STEP
}

/// The walk's step when a scenario does not say.
pub const DEFAULT_SNAPSHOT_NODES_PER_STEP: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsyncTailSpec {
    pub probability: f64,
    /// [min, max] extra ms of a slow fsync.
    pub extra_ms: [u64; 2],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// One-way latency range [min, max] in ms.
    pub latency_ms: [u64; 2],
    /// Probability a packet needs a retransmission (costs a 200 ms RTO).
    pub loss: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsSpec {
    pub count: usize,
    pub session_timeout_ms: i32,
    /// Servers the clients may use (empty: all); each client shuffles them by the seed.
    pub servers: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// `register` (read / write / cas / sync_read on a few keys) or `lock` (the lock recipe
    /// on `/lock`, holders writing to a protected store; `keys` and the mix are unused).
    pub kind: String,
    pub keys: usize,
    /// Operations per second per client.
    pub rate_per_client: f64,
    pub read: f64,
    pub write: f64,
    pub cas: f64,
    pub sync_read: f64,
    /// `lock`: the protected store refuses writes whose fencing token (the lock node's czxid)
    /// is lower than one it accepted. Off, a holder paused past its session timeout damages it.
    pub fencing: bool,
    /// `lock`: how long a holder keeps the lock, [min, max] ms (it writes every ~100 ms).
    pub hold_ms: [u64; 2],
    /// Swarm over workloads: the seed picks one of these kinds per run (overrides `kind`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub swarm_kinds: Vec<String>,
    /// `mixed`: requests each session keeps in flight (pipelined lanes).
    #[serde(skip_serializing_if = "is_default_pipeline")]
    pub pipeline: usize,
    /// `mixed`: directories `/d0`… whose children grow, are listed and watched.
    #[serde(skip_serializing_if = "is_default_dirs")]
    pub dirs: usize,
    /// `mixed`: [min, max] of the factor the seed draws for the create weights (how large
    /// the tree grows).
    #[serde(skip_serializing_if = "is_default_growth")]
    pub growth: [f64; 2],
    /// `mixed`: operation weights by name (`zksim list`); empty = the built-in mix.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub ops: std::collections::BTreeMap<String, f64>,
}

pub const DEFAULT_PIPELINE: usize = 4;
pub const DEFAULT_DIRS: usize = 16;
pub const DEFAULT_GROWTH: [f64; 2] = [0.5, 1.5];

fn is_default_pipeline(n: &usize) -> bool {
    *n == DEFAULT_PIPELINE
}

fn is_default_dirs(n: &usize) -> bool {
    *n == DEFAULT_DIRS
}

fn is_default_growth(g: &[f64; 2]) -> bool {
    *g == DEFAULT_GROWTH
}

/// Workload kinds: `register`, `lock`, `mixed`.
pub const WORKLOAD_KINDS: [&str; 3] = ["register", "lock", "mixed"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NemesisSpec {
    /// Explicit faults at given times.
    pub schedule: Vec<Fault>,
    /// Random faults drawn from the seed.
    pub random: Option<RandomFaults>,
    /// Faults armed at named protocol moments (`zksim list` names the points).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<PointRule>,
    /// Fault points armed from the seed (swarm style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_points: Option<RandomPoints>,
}

/// How the seed arms fault points: how many rules, at which points, with which actions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomPoints {
    /// [min, max] rules armed per run.
    pub rules: [usize; 2],
    /// Points to draw from (empty: every point).
    pub points: Vec<String>,
    /// Actions to draw from (empty: every fault-point action).
    pub actions: Vec<String>,
    /// [min, max] probability of a rule at each passage (per-txn points get a hundredth).
    pub probability: [f64; 2],
    /// [min, max] seconds a struck server stays down, paused or cut.
    pub duration_s: [f64; 2],
    /// [min, max] firings per rule.
    pub max: [u64; 2],
}

impl Default for RandomPoints {
    fn default() -> RandomPoints {
        RandomPoints { rules: [1, 4], points: Vec::new(), actions: Vec::new(), probability: [0.05, 0.5], duration_s: [0.5, 6.0], max: [1, 2] }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Simulated seconds after the workload starts.
    pub at_s: f64,
    /// kill | restart | pause | resume | partition | heal | one_way | latency | loss | drift
    /// | power_loss | restart_all | rolling_restart | pause_client | isolate_client
    pub action: String,
    /// `leader`, `follower`, `observer`, `random`, or a server id as text; for the client
    /// faults `holder` (the lock holder, else a random client), `random` or a client number.
    #[serde(default)]
    pub target: Option<String>,
    /// partition: `halves`, `isolate_leader`, `isolate_one`, `bridge`, `majority_minority`.
    #[serde(default)]
    pub kind: Option<String>,
    /// latency ms / loss probability / drift rate.
    #[serde(default)]
    pub value: Option<f64>,
    /// Undo the fault after this many seconds (restart, resume, heal).
    #[serde(default)]
    pub duration_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomFaults {
    /// Seconds between faults, drawn uniformly from [min, max].
    pub interval_s: [f64; 2],
    /// How long each fault lasts, drawn uniformly from [min, max].
    pub duration_s: [f64; 2],
    /// Fault kinds to draw from; empty with `swarm` = the seed chooses.
    pub kinds: Vec<String>,
    /// Swarm testing: the seed picks a subset of kinds and the rates.
    pub swarm: bool,
    /// Server ids the disk faults ([`DISK_FAULT_KINDS`]) are drawn on (empty: leader, follower
    /// or random, like the others): a fixed minority keeps damage to a minority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disk_targets: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// `pass` (no violation) or `violation` (an anomaly must appear).
    pub outcome: String,
    /// For `violation`: a check or invariant name that must report it (optional).
    pub check: Option<String>,
}

pub const FAULT_KINDS: [&str; 9] = ["kill", "pause", "partition", "one_way", "latency", "loss", "drift", "power_loss", "rolling_restart"];
/// Faults of client hosts: a stop-the-world pause (GC) of a client, or every link between a
/// client and the servers cut. Allowed in `nemesis.random.kinds`, never drawn by swarm.
pub const CLIENT_FAULT_KINDS: [&str; 2] = ["pause_client", "isolate_client"];
pub const PARTITION_KINDS: [&str; 5] = ["halves", "isolate_leader", "isolate_one", "bridge", "majority_minority"];

impl Scenario {
    /// The built-in default scenario (`zksim run`, `cargo run --release`): the base every
    /// file's missing fields come from ([`Scenario::default`], register workload), with the
    /// `mixed` workload, torn writes at crashes and a fuzzy snapshot walk of 16 nodes a step.
    /// (Files keep the register workload unless they say otherwise, so a shipped file's run
    /// does not change when this default does.)
    pub fn builtin_default() -> Scenario {
        let mut s = Scenario::default();
        s.description = "5 servers, 10 clients on the mixed workload (pipelined sessions, watches, multi, ephemeral and sequential nodes, a tree of thousands of nodes), 60 s with random crashes (torn writes), pauses and partitions".into();
        s.workload.kind = "mixed".into();
        // 15 ops/s per client over 4 lanes gives as many client ops per simulated second as
        // the register workload's 20 (whose clients wait for each reply); the growth factor
        // keeps the tree at thousands of nodes.
        s.workload.rate_per_client = 15.0;
        s.workload.growth = [0.75, 2.0];
        s.ensemble.torn_write_probability = 0.3;
        s.ensemble.snapshot_nodes_per_step = 16;
        s
    }
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            name: "default".into(),
            description: "5 servers, 10 clients on a register workload, 60 s with random crashes, pauses and partitions".into(),
            ensemble: EnsembleSpec::default(),
            network: NetworkSpec::default(),
            clients: ClientsSpec::default(),
            workload: WorkloadSpec::default(),
            duration_s: 60,
            nemesis: NemesisSpec {
                points: Vec::new(),
                random_points: None,
                schedule: Vec::new(),
                random: Some(RandomFaults {
                    interval_s: [4.0, 10.0],
                    duration_s: [2.0, 8.0],
                    kinds: vec!["kill".into(), "pause".into(), "partition".into()],
                    swarm: false,
                    disk_targets: Vec::new(),
                }),
            },
            liveness_s: 60,
            checks: vec!["all".into()],
            expect: Expect::default(),
            bugs: Vec::new(),
            seed: None,
            liveness: None,
        }
    }
}

impl Default for EnsembleSpec {
    fn default() -> EnsembleSpec {
        EnsembleSpec {
            voters: 5,
            observers: 0,
            tick_time_ms: 500,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 2_000,
            commit_log_count: 500,
            fsync_latency_ms: 2,
            fsync_tail: None,
            torn_write_probability: 0.0,
            snapshot_nodes_per_step: DEFAULT_SNAPSHOT_NODES_PER_STEP,
            fle_renotify_on_interval: false,
        }
    }
}

impl Default for NetworkSpec {
    fn default() -> NetworkSpec {
        NetworkSpec { latency_ms: [1, 5], loss: 0.0 }
    }
}

impl Default for ClientsSpec {
    fn default() -> ClientsSpec {
        ClientsSpec { count: 10, session_timeout_ms: 6_000, servers: Vec::new() }
    }
}

impl Default for WorkloadSpec {
    fn default() -> WorkloadSpec {
        WorkloadSpec {
            kind: "register".into(),
            keys: 5,
            rate_per_client: 20.0,
            read: 0.4,
            write: 0.3,
            cas: 0.2,
            sync_read: 0.1,
            fencing: true,
            hold_ms: [100, 1_000],
            swarm_kinds: Vec::new(),
            pipeline: DEFAULT_PIPELINE,
            dirs: DEFAULT_DIRS,
            growth: DEFAULT_GROWTH,
            ops: std::collections::BTreeMap::new(),
        }
    }
}

impl Default for NemesisSpec {
    fn default() -> NemesisSpec {
        NemesisSpec { schedule: Vec::new(), random: None, points: Vec::new(), random_points: None }
    }
}

impl Default for RandomFaults {
    fn default() -> RandomFaults {
        RandomFaults { interval_s: [4.0, 10.0], duration_s: [2.0, 8.0], kinds: Vec::new(), swarm: false, disk_targets: Vec::new() }
    }
}

impl Default for Expect {
    fn default() -> Expect {
        Expect { outcome: "pass".into(), check: None }
    }
}

impl Scenario {
    /// Reads and validates a scenario file; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
        Scenario::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Scenario, String> {
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|e| format!("{file}: line {} column {}: {e}", e.line(), e.column()))?;
        scenario.validate().map_err(|e| format!("{file}: {e}"))?;
        Ok(scenario)
    }

    /// Checks values serde cannot: ranges, names, consistency.
    pub fn validate(&self) -> Result<(), String> {
        let e = &self.ensemble;
        if e.voters == 0 || e.voters > 9 {
            return Err(format!("field `ensemble.voters`: expected 1..=9, got {}", e.voters));
        }
        if e.observers > 5 {
            return Err(format!("field `ensemble.observers`: expected 0..=5, got {}", e.observers));
        }
        if e.tick_time_ms < 10 {
            return Err(format!("field `ensemble.tick_time_ms`: expected at least 10, got {}", e.tick_time_ms));
        }
        if e.init_limit < 1 || e.sync_limit < 1 {
            return Err("fields `ensemble.init_limit` and `ensemble.sync_limit`: expected at least 1".into());
        }
        if e.snap_count < 2 {
            return Err(format!("field `ensemble.snap_count`: expected at least 2, got {}", e.snap_count));
        }
        if e.commit_log_count < 1 {
            return Err("field `ensemble.commit_log_count`: expected at least 1".into());
        }
        let n = &self.network;
        if n.latency_ms[0] > n.latency_ms[1] {
            return Err(format!("field `network.latency_ms`: expected [min, max] with min <= max, got {:?}", n.latency_ms));
        }
        if !(0.0..1.0).contains(&n.loss) {
            return Err(format!("field `network.loss`: expected a probability in [0, 1), got {}", n.loss));
        }
        if self.clients.count > 200 {
            return Err(format!("field `clients.count`: expected at most 200, got {}", self.clients.count));
        }
        if self.clients.session_timeout_ms < 1 {
            return Err("field `clients.session_timeout_ms`: expected a positive timeout".into());
        }
        let servers = (e.voters + e.observers) as u64;
        if let Some(bad) = self.clients.servers.iter().find(|&&s| s == 0 || s > servers) {
            return Err(format!("field `clients.servers`: server {bad} is not in the ensemble (1..={servers})"));
        }
        self.validate_workload()?;
        if self.duration_s == 0 || self.duration_s > 3_600 {
            return Err(format!("field `duration_s`: expected 1..=3600, got {}", self.duration_s));
        }
        if self.liveness_s == 0 {
            return Err("field `liveness_s`: expected at least 1".into());
        }
        for (i, fault) in self.nemesis.schedule.iter().enumerate() {
            validate_fault(fault, servers, self.clients.count).map_err(|e| format!("field `nemesis.schedule[{i}]`: {e}"))?;
        }
        if !(0.0..=1.0).contains(&e.torn_write_probability) {
            return Err(format!("field `ensemble.torn_write_probability`: expected a probability in [0, 1], got {}", e.torn_write_probability));
        }
        if e.snapshot_nodes_per_step == 0 {
            return Err("field `ensemble.snapshot_nodes_per_step`: expected at least 1".into());
        }
        if let Some(t) = &e.fsync_tail {
            if !(0.0..=1.0).contains(&t.probability) || t.extra_ms[0] > t.extra_ms[1] || t.extra_ms[1] > 60_000 {
                return Err(format!("field `ensemble.fsync_tail`: expected a probability in [0, 1] and extra_ms [min, max] <= 60000, got {t:?}"));
            }
        }
        for (i, rule) in self.nemesis.points.iter().enumerate() {
            rule.validate(servers).map_err(|e| format!("field `nemesis.points[{i}]`: {e}"))?;
        }
        if let Some(r) = &self.nemesis.random_points {
            validate_random_points(r)?;
        }
        if let Some(r) = &self.nemesis.random {
            if r.interval_s[0] <= 0.0 || r.interval_s[0] > r.interval_s[1] {
                return Err(format!("field `nemesis.random.interval_s`: expected 0 < min <= max, got {:?}", r.interval_s));
            }
            if r.duration_s[0] < 0.0 || r.duration_s[0] > r.duration_s[1] {
                return Err(format!("field `nemesis.random.duration_s`: expected 0 <= min <= max, got {:?}", r.duration_s));
            }
            let known = |k: &str| FAULT_KINDS.contains(&k) || CLIENT_FAULT_KINDS.contains(&k) || DISK_FAULT_KINDS.contains(&k);
            if let Some(bad) = r.kinds.iter().find(|k| !known(k.as_str())) {
                return Err(format!(
                    "field `nemesis.random.kinds`: unknown fault kind `{bad}` (known: {}, {}, {})",
                    FAULT_KINDS.join(", "),
                    CLIENT_FAULT_KINDS.join(", "),
                    DISK_FAULT_KINDS.join(", ")
                ));
            }
            if r.kinds.is_empty() && !r.swarm {
                return Err("field `nemesis.random.kinds`: expected at least one kind (or `swarm`: true)".into());
            }
            if let Some(bad) = r.disk_targets.iter().find(|&&id| id == 0 || id > servers) {
                return Err(format!("field `nemesis.random.disk_targets`: server {bad} is not in the ensemble (1..={servers})"));
            }
        }
        if !matches!(self.expect.outcome.as_str(), "pass" | "violation" | "liveness") {
            return Err(format!("field `expect.outcome`: expected `pass`, `violation` or `liveness`, got `{}`", self.expect.outcome));
        }
        for name in &self.checks {
            if name != "all" && !crate::checker::all_check_names().contains(&name.as_str()) {
                return Err(format!("field `checks`: unknown check `{name}` (see `zksim list`)"));
            }
        }
        for bug in &self.bugs {
            bug.parse::<Bug>().map_err(|e| format!("field `bugs`: {e}"))?;
        }
        if let Some(l) = &self.liveness {
            validate_liveness(l, e.voters)?;
        }
        Ok(())
    }

    fn validate_workload(&self) -> Result<(), String> {
        let w = &self.workload;
        if !WORKLOAD_KINDS.contains(&w.kind.as_str()) {
            return Err(format!("field `workload.kind`: expected `register`, `lock` or `mixed`, got `{}`", w.kind));
        }
        if let Some(bad) = w.swarm_kinds.iter().find(|k| !WORKLOAD_KINDS.contains(&k.as_str())) {
            return Err(format!("field `workload.swarm_kinds`: expected `register`, `lock` or `mixed`, got `{bad}`"));
        }
        if w.pipeline == 0 || w.pipeline > 64 {
            return Err(format!("field `workload.pipeline`: expected 1..=64, got {}", w.pipeline));
        }
        if w.dirs == 0 || w.dirs > 100 {
            return Err(format!("field `workload.dirs`: expected 1..=100, got {}", w.dirs));
        }
        if !(w.growth[0] >= 0.0 && w.growth[0] <= w.growth[1] && w.growth[1] <= 100.0) {
            return Err(format!("field `workload.growth`: expected [min, max] with 0 <= min <= max <= 100, got {:?}", w.growth));
        }
        if let Some(bad) = w.ops.keys().find(|k| !super::mixed::choose::OP_NAMES.contains(&k.as_str())) {
            return Err(format!("field `workload.ops`: unknown operation `{bad}` (known: {})", super::mixed::choose::OP_NAMES.join(", ")));
        }
        if w.ops.values().any(|&p| !(p >= 0.0 && p.is_finite())) || (!w.ops.is_empty() && w.ops.values().sum::<f64>() <= 0.0) {
            return Err("field `workload.ops`: expected non-negative weights with a positive sum".into());
        }
        if w.hold_ms[0] > w.hold_ms[1] || w.hold_ms[1] > 600_000 {
            return Err(format!("field `workload.hold_ms`: expected [min, max] with min <= max <= 600000, got {:?}", w.hold_ms));
        }
        if w.keys == 0 || w.keys > 1_000 {
            return Err(format!("field `workload.keys`: expected 1..=1000, got {}", w.keys));
        }
        if !(w.rate_per_client > 0.0 && w.rate_per_client <= 10_000.0) {
            return Err(format!("field `workload.rate_per_client`: expected (0, 10000], got {}", w.rate_per_client));
        }
        let mix = [w.read, w.write, w.cas, w.sync_read];
        if mix.iter().any(|&p| p < 0.0) || mix.iter().sum::<f64>() <= 0.0 {
            return Err("fields `workload.read/write/cas/sync_read`: expected non-negative weights with a positive sum".into());
        }
        Ok(())
    }

    /// The scenario as a run of `seed` uses it: a workload swarm resolved to one kind.
    pub fn for_seed(&self, seed: u64) -> Scenario {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut s = self.clone();
        if !s.workload.swarm_kinds.is_empty() {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x776f_726b_6c6f_6164);
            s.workload.kind = s.workload.swarm_kinds.choose(&mut rng).expect("non-empty").clone();
            s.workload.swarm_kinds.clear();
        }
        s
    }

    pub fn bug_flags(&self) -> Vec<Bug> {
        self.bugs.iter().filter_map(|b| b.parse().ok()).collect()
    }
}

/// At most this many voters may stay broken: a minority.
pub fn minority(voters: usize) -> usize {
    (voters - 1) / 2
}

fn validate_liveness(l: &LivenessSpec, voters: usize) -> Result<(), String> {
    let most = minority(voters);
    for (i, keep) in l.keep.iter().enumerate() {
        validate_keep(&keep.kind, keep.target.as_deref(), keep.value, voters).map_err(|e| format!("field `liveness.keep[{i}]`: {e}"))?;
    }
    let random_min = l.random_keep.as_ref().map_or(0, |r| r.count[0]);
    let used = budget_used(&l.keep) + random_min;
    if used > most {
        return Err(format!(
            "field `liveness.keep`: at most a minority of the {voters} voters may stay broken ({most}); these keep {used} (a one-way link also takes the leader's side)"
        ));
    }
    if let Some(r) = &l.random_keep {
        if let Some(bad) = r.kinds.iter().find(|k| !KEEP_KINDS.contains(&k.as_str())) {
            return Err(format!("field `liveness.random_keep.kinds`: unknown kind `{bad}` (known: {})", KEEP_KINDS.join(", ")));
        }
        if r.count[0] > r.count[1] {
            return Err(format!("field `liveness.random_keep.count`: expected [min, max] with min <= max, got {:?}", r.count));
        }
    }
    Ok(())
}

fn validate_keep(kind: &str, target: Option<&str>, value: Option<f64>, voters: usize) -> Result<(), String> {
    if !KEEP_KINDS.contains(&kind) {
        return Err(format!("`kind`: unknown kept fault `{kind}` (known: {})", KEEP_KINDS.join(", ")));
    }
    if let Some(target) = target {
        let named = matches!(target, "leader" | "follower" | "random");
        let id_ok = target.parse::<usize>().is_ok_and(|id| id >= 1 && id <= voters);
        if !named && !id_ok {
            return Err(format!("`target`: expected leader, follower, random or a voter id 1..={voters}, got `{target}`"));
        }
        if kind.starts_with("one_way") && target == "leader" {
            return Err("`target`: a one-way link to or from the leader is kept on a follower".into());
        }
    }
    if let Some(v) = value {
        let ok = match kind {
            "slow_disk" => (1_000.0..=60_000.0).contains(&v),
            "slow_link" => (0.0..=60_000.0).contains(&v),
            "drift" => v > 0.5 && v < 2.0,
            _ => false,
        };
        if !ok {
            return Err(format!("`value`: {v} does not fit `{kind}` (slow_disk: fsync ms in [1000, 60000]; slow_link: ms in [0, 60000]; drift: rate in (0.5, 2.0); others take none)"));
        }
    }
    Ok(())
}

fn validate_random_points(r: &RandomPoints) -> Result<(), String> {
    let field = "field `nemesis.random_points";
    if r.rules[0] > r.rules[1] || r.rules[1] > 32 {
        return Err(format!("{field}.rules`: expected [min, max] with min <= max <= 32, got {:?}", r.rules));
    }
    if let Some(bad) = r.points.iter().find(|p| FaultPoint::parse(p).is_none()) {
        return Err(format!("{field}.points`: unknown fault point `{bad}` (see `zksim list`)"));
    }
    if let Some(bad) = r.actions.iter().find(|a| !POINT_ACTIONS.contains(&a.as_str())) {
        return Err(format!("{field}.actions`: unknown fault-point action `{bad}` (known: {})", POINT_ACTIONS.join(", ")));
    }
    if !(r.probability[0] > 0.0 && r.probability[0] <= r.probability[1] && r.probability[1] <= 1.0) {
        return Err(format!("{field}.probability`: expected 0 < min <= max <= 1, got {:?}", r.probability));
    }
    if !(r.duration_s[0] >= 0.0 && r.duration_s[0] <= r.duration_s[1] && r.duration_s[1] <= 3_600.0) {
        return Err(format!("{field}.duration_s`: expected 0 <= min <= max <= 3600, got {:?}", r.duration_s));
    }
    if r.max[0] == 0 || r.max[0] > r.max[1] {
        return Err(format!("{field}.max`: expected 1 <= min <= max, got {:?}", r.max));
    }
    Ok(())
}

fn validate_fault(fault: &Fault, servers: u64, clients: usize) -> Result<(), String> {
    const ACTIONS: [&str; 22] = [
        "kill", "restart", "pause", "resume", "partition", "heal", "one_way", "latency", "loss", "drift", "power_loss", "restart_all", "rolling_restart",
        "pause_client", "isolate_client", "log_bitflip", "snapshot_bitflip", "snapshot_cut", "fsync_error", "disk_full", "epoch_tmp_crash", "wipe",
    ];
    if !ACTIONS.contains(&fault.action.as_str()) {
        return Err(format!("unknown action `{}` (known: {})", fault.action, ACTIONS.join(", ")));
    }
    if fault.at_s < 0.0 {
        return Err(format!("`at_s` must be >= 0, got {}", fault.at_s));
    }
    if CLIENT_FAULT_KINDS.contains(&fault.action.as_str()) {
        if let Some(target) = &fault.target {
            let named = matches!(target.as_str(), "holder" | "random");
            let id_ok = target.parse::<usize>().is_ok_and(|id| id >= 1 && id <= clients);
            if !named && !id_ok {
                return Err(format!("`target`: expected holder, random or a client number 1..={clients}, got `{target}`"));
            }
        }
    } else if let Some(target) = &fault.target {
        let named = matches!(target.as_str(), "leader" | "follower" | "observer" | "random");
        let id_ok = target.parse::<u64>().is_ok_and(|id| id >= 1 && id <= servers);
        if !named && !id_ok {
            return Err(format!("`target`: expected leader, follower, observer, random or a server id 1..={servers}, got `{target}`"));
        }
    }
    if fault.action == "partition" {
        let kind = fault.kind.as_deref().unwrap_or("halves");
        if !PARTITION_KINDS.contains(&kind) {
            return Err(format!("`kind`: unknown partition `{kind}` (known: {})", PARTITION_KINDS.join(", ")));
        }
    }
    if matches!(fault.action.as_str(), "latency" | "loss" | "drift") && fault.value.is_none() {
        return Err(format!("`value`: required for `{}`", fault.action));
    }
    if fault.action == "loss" && !fault.value.is_some_and(|v| (0.0..1.0).contains(&v)) {
        return Err("`value`: expected a loss probability in [0, 1)".into());
    }
    if fault.action == "drift" && !fault.value.is_some_and(|v| v > 0.5 && v < 2.0) {
        return Err("`value`: expected a clock rate in (0.5, 2.0)".into());
    }
    Ok(())
}
