//! One seeded run of a scenario: start the ensemble, create the workload's keys, run clients
//! and the nemesis for the scenario's duration, heal everything and require the ensemble to
//! serve and converge (the liveness phase), then judge: online ZAB invariants plus the history
//! checker over what the clients saw.
//!
//! Why a single function: `zksim run`, `sweep`, `replay`, `shrink` and the tests all reduce to
//! "this scenario, this seed → this outcome", which must be the same bytes every time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::lock_workload::{run_lock_client, FencedStore, LOCK_PATH};
use super::nemesis::{plan, plan_points, ClientHost, Nemesis};
use crate::sim::fault_points::{FsyncTail, PointRule};
use super::recorder::Recorder;
use super::scenario::{Fault, Scenario};
use super::workload::{run_client, spawn_session, wait_connected, ClientPlan, WorkloadShared};
use crate::checker::{check_history, CheckOptions, Status};
use crate::history::record::{FinalRecord, NodeRecord, ReplicaRecord};
use crate::proto::{Acl, CreateMode};
use crate::sim::client_node::{spawn_client_host, ClientEndpoint};
use crate::sim::cluster::{Cluster, ClusterConfig};
use crate::sim::net::{ip_of, Addr, SharedConditions, CLIENT_ADDR_BASE};
use crate::sim::server_node::elapsed_ms;
use crate::zab::{Bugs, ServerState};

/// How a run ended. Exit codes: pass 0, safety violation 1, liveness failure 2, crash 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    SafetyViolation,
    LivenessFailure,
    Crash,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::SafetyViolation => 1,
            Verdict::LivenessFailure => 2,
            Verdict::Crash => 3,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::SafetyViolation => "SAFETY VIOLATION",
            Verdict::LivenessFailure => "LIVENESS FAILURE",
            Verdict::Crash => "CRASH",
        }
    }
}

/// One finding: an invariant or a history check that failed.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Invariant or check name.
    pub check: String,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    pub scenario: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub ops: usize,
    pub ops_ok: usize,
    pub ops_unknown: usize,
    pub faults: usize,
    pub sim_ms: i64,
    pub wall_ms: u64,
    pub trace_hash: String,
    pub leader_elections: u64,
    pub commits: u64,
    /// Coverage probes: fault points passed, transitions between them per server
    /// (`a>b`), and faults fired at a point (`fired:<point>:<action>`), with their counts.
    pub coverage: BTreeMap<String, u64>,
    /// Every fault-point firing, as the explicit rule that fires it again.
    pub firings: Vec<PointRule>,
    /// Acknowledged txns that no surviving disk held when a wipe emptied the ones that did
    /// (disk faults on a majority): a loss the checks must report.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub acked_lost: usize,
    /// With a `liveness` section: the bound on electing, serving and converging, and its formula.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_bound: Option<(i64, String)>,
    /// The bound the run exceeded (`sim::limits`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<String>,
    /// Nemesis records of the history by action (faults, and what servers reported: refusals,
    /// disk errors, recoveries), for `zksim faults-report`.
    #[serde(skip)]
    pub nemesis_counts: BTreeMap<String, u64>,
    #[serde(skip)]
    pub history: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RunOutcome {
    /// Whether the outcome is what the scenario expects.
    pub fn as_expected(&self, scenario: &Scenario) -> bool {
        match scenario.expect.outcome.as_str() {
            "violation" => {
                self.verdict == Verdict::SafetyViolation
                    && scenario.expect.check.as_ref().is_none_or(|c| self.findings.iter().any(|f| &f.check == c))
            }
            // A flag that can only stall the ensemble (no safety violation is reachable).
            "liveness" => self.verdict == Verdict::LivenessFailure,
            _ => self.verdict == Verdict::Pass,
        }
    }

    /// The finding that decided the verdict: a safety violation's first non-liveness finding
    /// (a run can fail both ways; the liveness note comes first in time).
    pub fn anomaly(&self) -> String {
        let deciding = match self.verdict {
            Verdict::SafetyViolation => self.findings.iter().find(|f| f.check != "liveness").or(self.findings.first()),
            _ => self.findings.first(),
        };
        match deciding {
            Some(f) => f.check.clone(),
            None => self.verdict.name().to_lowercase(),
        }
    }
}

/// Extra switches for a run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Extra bug flags on top of the scenario's.
    pub bugs: Vec<crate::zab::Bug>,
    /// Skip the black-box linearizability search (sweeps).
    pub fast_checks: bool,
}

/// Budget of the black-box linearizability search per key; the zxid-based checks are exact
/// and fast, the black-box one is a cross-check that may answer "unknown".
const BLACKBOX_TIME_LIMIT_MS: u64 = 300;

pub fn cluster_config(scenario: &Scenario, bugs: &Bugs) -> ClusterConfig {
    let e = &scenario.ensemble;
    ClusterConfig {
        voters: e.voters,
        observers: e.observers,
        tick_time_ms: e.tick_time_ms,
        init_limit_ticks: e.init_limit,
        sync_limit_ticks: e.sync_limit,
        snap_count: e.snap_count,
        commit_log_count: e.commit_log_count,
        fsync_latency_ms: e.fsync_latency_ms,
        latency_ms: (scenario.network.latency_ms[0], scenario.network.latency_ms[1]),
        bugs: bugs.clone(),
        ..ClusterConfig::default()
    }
}

/// Runs one seed of a scenario on a fresh thread with a fresh madsim runtime.
pub fn run(scenario: &Scenario, seed: u64, options: &RunOptions) -> RunOutcome {
    let wall = Instant::now();
    let scenario = &scenario.for_seed(seed);
    let mut bugs = Bugs::none();
    for bug in scenario.bug_flags().into_iter().chain(options.bugs.iter().copied()) {
        bugs = bugs.with(bug);
    }
    let bug_names: Vec<String> = bugs.iter().map(|b| b.name().to_string()).collect();
    let s = scenario.clone();
        let result = std::thread::Builder::new()
        .name(format!("seed-{seed}"))
        .stack_size(64 << 20)
        .spawn(move || {
            crate::sim::cluster::block_on_seed(seed, simulate(s, seed, bugs))
        })
        .expect("spawn a simulation thread")
        .join();
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = crate::sim::cluster::panic_message(panic.as_ref());
            RunOutcome {
                scenario: scenario.name.clone(),
                seed,
                bugs: Vec::new(),
                verdict: Verdict::Crash,
                findings: vec![Finding { check: "crash".into(), detail: message }],
                ops: 0,
                ops_ok: 0,
                ops_unknown: 0,
                faults: 0,
                sim_ms: 0,
                wall_ms: 0,
                trace_hash: String::new(),
                leader_elections: 0,
                commits: 0,
                coverage: BTreeMap::new(),
                firings: Vec::new(),
                acked_lost: 0,
                liveness_bound: None,
                overflow: None,
                nemesis_counts: BTreeMap::new(),
                history: String::new(),
            }
        }
    };
    outcome.bugs = bug_names;
    // Outside the simulation: the checker's time limits need the wall clock.
    judge_history(&mut outcome, scenario, options.fast_checks);
    outcome.wall_ms = wall.elapsed().as_millis() as u64;
    outcome
}

fn key_paths(scenario: &Scenario) -> Vec<String> {
    if scenario.workload.kind == "lock" {
        return vec![LOCK_PATH.to_string()];
    }
    (0..scenario.workload.keys).map(|i| format!("/k{i}")).collect()
}

async fn simulate(scenario: Scenario, seed: u64, bugs: Bugs) -> RunOutcome {
    let mut cluster = Cluster::start(cluster_config(&scenario, &bugs));
    let shared = Arc::new(WorkloadShared {
        recorder: Mutex::new(Recorder::default()),
        stop: std::sync::atomic::AtomicBool::new(false),
        conditions: Arc::clone(&cluster.ctx.conditions),
        store: Mutex::new(FencedStore::new(scenario.workload.fencing)),
        lock_holder: Arc::default(),
        in_flight: Mutex::default(),
    });
    let mut findings = Vec::new();
    let server_list: Vec<i64> = if scenario.clients.servers.is_empty() {
        cluster.ids().into_iter().map(|id| id as i64).collect()
    } else {
        scenario.clients.servers.iter().map(|&s| s as i64).collect()
    };
    let keys = key_paths(&scenario);
    // Setup: wait for a leader, create the keys, record their initial state.
    if cluster.wait_for_leader(60_000).await.is_none() {
        if !cluster.ctx.limits_exceeded() {
            findings.push(Finding { check: "liveness".into(), detail: "no leader within 60 s at start".into() });
        }
        return finish(&scenario, seed, &cluster, &shared, findings, true);
    }
    let init = setup_keys(Arc::clone(&cluster.ctx.conditions), &server_list, &keys).await;
    shared.recorder.lock().expect("recorder").meta = meta(&scenario, seed, &cluster, init);
    // Clients.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x636c_6965_6e74);
    let mut hosts = Vec::new();
    for client in 0..scenario.clients.count {
        let plan = ClientPlan {
            client: client + 1,
            addr: CLIENT_ADDR_BASE + 1 + client as u64,
            servers: server_list.clone(),
            session_timeout_ms: scenario.clients.session_timeout_ms,
            keys: keys.clone(),
            workload: scenario.workload.clone(),
            seed: rng.gen(),
        };
        let shared = Arc::clone(&shared);
        let addr = plan.addr;
        let lock = scenario.workload.kind == "lock";
        let node = crate::sim::build_node(
            madsim::runtime::Handle::current()
                .create_node()
                .name(format!("client-{}", client + 1))
                .ip(ip_of(plan.addr))
                .init(move || {
                    let (plan, shared) = (plan.clone(), Arc::clone(&shared));
                    async move {
                        if lock {
                            run_lock_client(plan, shared).await
                        } else {
                            run_client(plan, shared).await
                        }
                    }
                })
        );
        hosts.push(ClientHost { client: client + 1, addr, node: node.id() });
    }
    // Safety phase: faults on schedule, and at the armed fault points.
    let start = elapsed_ms();
    let faults = plan(&scenario, seed);
    let fault_count = faults.len();
    let mut nemesis = Nemesis::new(seed).with_clients(hosts, Arc::clone(&shared.lock_holder));
    let (wake_tx, mut wake_rx) = futures::channel::mpsc::unbounded();
    cluster.ctx.events.lock().expect("events").set_wake(wake_tx.clone());
    let tail = scenario.ensemble.fsync_tail.as_ref().map_or_else(FsyncTail::default, |t| FsyncTail { probability: t.probability, extra_ms: t.extra_ms });
    cluster.ctx.points.lock().expect("points").configure(plan_points(&scenario, seed), tail, seed, wake_tx);
    cluster.ctx.points.lock().expect("points").set_armed(true);
    let end = start + scenario.duration_s as i64 * 1_000;
    run_faults(&mut cluster, &shared, &mut nemesis, &faults, start, end, &mut wake_rx).await;
    cluster.ctx.points.lock().expect("points").set_armed(false);
    apply_firings(&mut cluster, &shared, &mut nemesis);
    super::liveness::drain_events(&mut cluster, &shared, &mut nemesis);
    if cluster.ctx.limits_exceeded() {
        let mut outcome = finish(&scenario, seed, &cluster, &shared, findings, true);
        outcome.faults = fault_count;
        return outcome;
    }
    if scenario.liveness.is_some() {
        // Liveness with a minority that stays broken (`liveness` section).
        let phase = super::liveness::run(&mut cluster, &shared, &mut nemesis, &scenario, seed, &server_list, &keys).await;
        findings.extend(phase.findings);
        let mut outcome = finish(&scenario, seed, &cluster, &shared, findings, phase.failed);
        outcome.faults = fault_count;
        outcome.acked_lost = nemesis.acked_lost.len();
        outcome.liveness_bound = Some((phase.bound.total_ms, phase.bound.explain));
        return outcome;
    }
    // Liveness phase: heal everything, the ensemble must serve and converge.
    {
        let mut recorder = shared.recorder.lock().expect("recorder");
        nemesis.undo_due(&mut cluster, &mut recorder, elapsed_ms(), true);
        heal_all(&mut cluster, &mut recorder);
    }
    // Serving again is required while the clients still run; identical replicas only once they
    // stop (under load followers trail the leader by a commit or two at any instant).
    let serving = cluster.wait_for_leader(scenario.liveness_s as i64 * 1_000).await.is_some();
    shared.stop.store(true, Ordering::Relaxed);
    madsim::time::sleep(Duration::from_millis(2 * scenario.clients.session_timeout_ms as u64)).await;
    let converged = serving && cluster.wait_converged(scenario.liveness_s as i64 * 1_000).await;
    let mut settled = true;
    if !converged {
        let views: Vec<String> = cluster.ids().iter().map(|&id| format!("s{id}: {:?}", cluster.view(id))).collect();
        findings.push(Finding { check: "liveness".into(), detail: format!("not converged {} s after healing: {}", scenario.liveness_s, views.join("; ")) });
    } else {
        let nodes = final_nodes(Arc::clone(&cluster.ctx.conditions), &server_list, &keys).await;
        // The final reader's closeSession is a txn too, acknowledged once the leader commits it:
        // let every replica apply it before the end-of-run checks compare zxids.
        if !cluster.wait_converged(scenario.liveness_s as i64 * 1_000).await {
            settled = false;
            findings.push(Finding { check: "liveness".into(), detail: "replicas did not converge again after the final reads".into() });
        }
        let replicas = cluster
            .ids()
            .into_iter()
            .map(|id| {
                let v = cluster.view(id);
                let mode = match v.state {
                    Some(ServerState::Leading) => "leader",
                    Some(ServerState::Following) => "follower",
                    Some(ServerState::Observing) => "observer",
                    _ => "looking",
                };
                (format!("s{id}"), ReplicaRecord { zxid: Some(v.last_zxid), digest: Some(format!("{:016x}", v.digest)), mode: Some(mode.into()) })
            })
            .collect();
        shared.recorder.lock().expect("recorder").final_record = Some(FinalRecord { nodes, replicas, extra: BTreeMap::new() });
        cluster.check_final();
    }
    let mut outcome = finish(&scenario, seed, &cluster, &shared, findings, !converged || !settled);
    outcome.faults = fault_count;
    outcome.acked_lost = nemesis.acked_lost.len();
    outcome
}

/// What the history's final line says of a replica.
pub(super) fn replica_record(cluster: &Cluster, id: u64) -> ReplicaRecord {
    let v = cluster.view(id);
    let mode = match v.state {
        Some(ServerState::Leading) => "leader",
        Some(ServerState::Following) => "follower",
        Some(ServerState::Observing) => "observer",
        _ => "looking",
    };
    ReplicaRecord { zxid: Some(v.last_zxid), digest: Some(format!("{:016x}", v.digest)), mode: Some(mode.into()) }
}

pub(super) fn heal_all(cluster: &mut Cluster, recorder: &mut Recorder) {
    cluster.heal();
    let now_ns = (elapsed_ms() as u64) * 1_000_000;
    for id in cluster.ids() {
        cluster.resume(id);
        cluster.set_clock_rate(id, 1.0);
        if cluster.is_down(id) {
            cluster.restart(id);
            recorder.nemesis(now_ns, "restart", Some(id), "liveness phase");
        }
    }
    recorder.nemesis(now_ns, "heal", None, "liveness phase: everything healed");
}

async fn run_faults(
    cluster: &mut Cluster,
    shared: &WorkloadShared,
    nemesis: &mut Nemesis,
    faults: &[Fault],
    start: i64,
    end: i64,
    fired: &mut futures::channel::mpsc::UnboundedReceiver<()>,
) {
    use futures::{FutureExt, StreamExt};
    let mut next = 0;
    loop {
        apply_firings(cluster, shared, nemesis);
        super::liveness::drain_events(cluster, shared, nemesis);
        let now = elapsed_ms();
        if now >= end || cluster.ctx.limits_exceeded() {
            return;
        }
        {
            let mut recorder = shared.recorder.lock().expect("recorder");
            nemesis.undo_due(cluster, &mut recorder, now, false);
            while next < faults.len() && start + (faults[next].at_s * 1_000.0) as i64 <= now {
                nemesis.apply(cluster, &mut recorder, &faults[next], now);
                next += 1;
            }
        }
        let next_fault = faults.get(next).map(|f| start + (f.at_s * 1_000.0) as i64).unwrap_or(end);
        let wake = next_fault.min(nemesis.next_undo_ms().unwrap_or(end)).min(end).max(now + 1);
        let sleep = madsim::time::sleep(Duration::from_millis((wake - now) as u64)).fuse();
        futures::pin_mut!(sleep);
        futures::select_biased! {
            _ = fired.next() => {}
            _ = sleep => {}
        }
    }
}

/// Carries out the fault points that fired since the last call (at this instant).
fn apply_firings(cluster: &mut Cluster, shared: &WorkloadShared, nemesis: &mut Nemesis) {
    let firings = cluster.ctx.points.lock().expect("points").take_firings();
    if firings.is_empty() {
        return;
    }
    let now = elapsed_ms();
    let mut recorder = shared.recorder.lock().expect("recorder");
    for firing in &firings {
        nemesis.apply_firing(cluster, &mut recorder, firing, now);
    }
}

/// Runs `body` on a fresh client host of the cluster's network and returns what it returns.
async fn on_client_node<T, F, Fut>(name: &str, addr: Addr, conditions: SharedConditions, body: F) -> Option<T>
where
    T: Send + 'static,
    F: Fn(ClientEndpoint) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    spawn_client_host(name, addr, conditions, body).1.await.ok()
}

fn node_record(data: &[u8], stat: &crate::proto::Stat) -> NodeRecord {
    NodeRecord { value: Some(String::from_utf8_lossy(data).into_owned()), version: stat.version, mzxid: stat.mzxid, czxid: Some(stat.czxid) }
}

/// Creates the workload's keys from a setup client; returns their initial state. A create
/// whose reply was lost may have happened: NodeExists is then answered by reading the node.
async fn setup_keys(conditions: SharedConditions, servers: &[i64], keys: &[String]) -> BTreeMap<String, NodeRecord> {
    let (servers, keys) = (servers.to_vec(), keys.to_vec());
    let body = move |mut endpoint: ClientEndpoint| {
        let (servers, keys) = (servers.clone(), keys.clone());
        async move {
            let mut init = BTreeMap::new();
            for _attempt in 0..20 {
                let zk = spawn_session(&mut endpoint, servers.clone(), 10_000);
                if wait_connected(&zk, 20_000).await {
                    for key in keys.iter().filter(|k| !init.contains_key(*k)).cloned().collect::<Vec<_>>() {
                        let created = match zk.create2(&key, b"init", Acl::open_unsafe(), CreateMode::Persistent).await {
                            Ok((_, stat)) => Some(node_record(b"init", &stat)),
                            Err(crate::proto::Code::NodeExists) => zk.get_data(&key, false).await.ok().map(|(data, stat)| node_record(&data, &stat)),
                            Err(_) => None,
                        };
                        let Some(record) = created else { break };
                        init.insert(key, record);
                    }
                }
                let _ = zk.close().await;
                if init.len() == keys.len() {
                    break;
                }
            }
            init
        }
    };
    on_client_node("setup", CLIENT_ADDR_BASE, conditions, body).await.unwrap_or_default()
}

/// Reads each key after convergence (sync first) for the history's final line.
pub(super) async fn final_nodes(conditions: SharedConditions, servers: &[i64], keys: &[String]) -> BTreeMap<String, Option<NodeRecord>> {
    let (servers, keys) = (servers.to_vec(), keys.to_vec());
    let body = move |mut endpoint: ClientEndpoint| {
        let (servers, keys) = (servers.clone(), keys.clone());
        async move {
            let zk = spawn_session(&mut endpoint, servers, 10_000);
            let mut nodes = BTreeMap::new();
            if wait_connected(&zk, 20_000).await {
                for key in &keys {
                    let _ = zk.sync(key).await;
                    match zk.get_data(key, false).await {
                        Ok((data, stat)) => {
                            nodes.insert(key.clone(), Some(node_record(&data, &stat)));
                        }
                        Err(crate::proto::Code::NoNode) => {
                            nodes.insert(key.clone(), None);
                        }
                        Err(_) => {}
                    }
                }
            }
            let _ = zk.close().await;
            nodes
        }
    };
    on_client_node("final-reader", CLIENT_ADDR_BASE + 999, conditions, body).await.unwrap_or_default()
}

fn meta(scenario: &Scenario, seed: u64, cluster: &Cluster, init: BTreeMap<String, NodeRecord>) -> crate::history::record::MetaRecord {
    let mut extra = BTreeMap::new();
    extra.insert("seed".to_string(), serde_json::json!(seed));
    extra.insert("scenario".to_string(), serde_json::json!(scenario.name));
    extra.insert("servers".to_string(), serde_json::json!(cluster.ids().iter().map(|id| format!("s{id}")).collect::<Vec<_>>()));
    extra.insert("bugs".to_string(), serde_json::json!(scenario.bugs));
    crate::history::record::MetaRecord {
        format: Some(crate::history::record::ZKSIM_FORMAT.into()),
        format_version: Some(crate::history::record::ZKSIM_FORMAT_VERSION),
        init,
        extra,
    }
}

fn finish(scenario: &Scenario, seed: u64, cluster: &Cluster, shared: &WorkloadShared, mut findings: Vec<Finding>, liveness_failed: bool) -> RunOutcome {
    let mut recorder = shared.recorder.lock().expect("recorder");
    for (_, record) in std::mem::take(&mut *shared.in_flight.lock().expect("in flight")) {
        recorder.op(record);
    }
    let overflow = cluster.ctx.conditions.lock().expect("conditions").overflow.clone().map(|o| format!("{} (t={} ms)", o.what, o.time_ms));
    let overflow = overflow
        .or_else(|| cluster.ctx.events.lock().expect("events").overflowed.then(|| format!("server events queued > {}", crate::sim::events::SERVER_EVENTS_MAX)))
        .or_else(|| recorder.overflowed.then(|| format!("history records > {}", crate::sim::limits::HISTORY_RECORDS_MAX)));
    let liveness_failed = liveness_failed || overflow.is_some();
    if let Some(what) = &overflow {
        let detail = format!("a bound of the run was exceeded: {what}; the run was ended (a livelock is a verdict, not a crash)");
        findings.insert(0, Finding { check: "liveness".into(), detail });
    }
    let history = recorder.to_jsonl();
    let mut safety = false;
    for v in cluster.violations() {
        safety = true;
        findings.push(Finding { check: v.invariant.to_string(), detail: format!("t={} ms s{}: {} [{}]", v.time_ms, v.server, v.detail, v.source) });
    }
    let (ops, ops_ok, ops_unknown) = count_ops(&recorder);
    let verdict = if safety {
        Verdict::SafetyViolation
    } else if liveness_failed {
        Verdict::LivenessFailure
    } else {
        Verdict::Pass
    };
    let (coverage, firings) = {
        let points = cluster.ctx.points.lock().expect("points");
        (points.coverage(), points.fired.iter().map(|f| f.as_rule()).collect())
    };
    let invariants = cluster.invariants();
    RunOutcome {
        scenario: scenario.name.clone(),
        seed,
        bugs: Vec::new(),
        verdict,
        findings,
        ops,
        ops_ok,
        ops_unknown,
        faults: 0,
        sim_ms: elapsed_ms(),
        wall_ms: 0,
        trace_hash: format!("{:016x}", cluster.trace_hash()),
        leader_elections: invariants.established_count,
        commits: invariants.commits_observed,
        coverage,
        firings,
        acked_lost: 0,
        liveness_bound: None,
        overflow,
        nemesis_counts: nemesis_counts(&recorder),
        history,
    }
}

fn nemesis_counts(recorder: &Recorder) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in &recorder.records {
        if let crate::history::record::Record::Nemesis(n) = r {
            *counts.entry(n.action.clone()).or_default() += 1;
            // A disk error of a leader: the one a livelocked election keeps choosing.
            let detail = n.extra.get("detail").and_then(|d| d.as_str()).unwrap_or("");
            if n.action == "disk_error" && detail.contains("(while Leading)") {
                *counts.entry("disk_error:leading".to_string()).or_default() += 1;
            }
            // A recovery that fell back to an older snapshot and replayed a log with a hole.
            if n.action == "recovered" && detail.contains("the replayed log skips") {
                *counts.entry("recovered:gap".to_string()).or_default() += 1;
            }
        }
    }
    counts
}

/// Runs the history checks over the recorded history and folds failures into the verdict.
fn judge_history(outcome: &mut RunOutcome, scenario: &Scenario, fast_checks: bool) {
    if outcome.history.is_empty() || !outcome.history.contains("\"kind\":\"final\"") {
        return;
    }
    let parsed = match crate::history::load::parse_history("history.jsonl", &outcome.history, Some(crate::history::Format::Zksim)) {
        Ok(parsed) => parsed,
        Err(e) => {
            outcome.findings.push(Finding { check: "history".into(), detail: format!("the recorded history does not parse: {e:?}") });
            outcome.verdict = Verdict::SafetyViolation;
            return;
        }
    };
    let options = CheckOptions { blackbox: !fast_checks, time_limit_ms: BLACKBOX_TIME_LIMIT_MS };
    let wanted: Vec<&String> = scenario.checks.iter().filter(|c| *c != "all").collect();
    for report in check_history(&parsed, &options) {
        if !wanted.is_empty() && !wanted.iter().any(|w| w.as_str() == report.name) {
            continue;
        }
        if report.status == Status::Fail {
            outcome.verdict = Verdict::SafetyViolation;
            let first = report.violations.first().map(|v| format!("{v:?}")).unwrap_or_default();
            outcome.findings.push(Finding { check: report.name.to_string(), detail: format!("{} {}", report.summary, truncate(&first, 400)) });
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_string()
    } else {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

fn count_ops(recorder: &Recorder) -> (usize, usize, usize) {
    let mut total = 0;
    let mut ok = 0;
    let mut unknown = 0;
    for r in &recorder.records {
        if let crate::history::record::Record::Op(op) = r {
            total += 1;
            match op.outcome.as_str() {
                "ok" => ok += 1,
                "unknown" => unknown += 1,
                _ => {}
            }
        }
    }
    (total, ok, unknown)
}

/// Writes `history.jsonl` and `summary.json` under `dir/<scenario>-<seed>/`.
pub fn write_report(dir: &Path, outcome: &RunOutcome) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{}-{}", outcome.scenario, outcome.seed));
    std::fs::create_dir_all(&path)?;
    std::fs::write(path.join("history.jsonl"), &outcome.history)?;
    std::fs::write(path.join("summary.json"), serde_json::to_string_pretty(outcome).expect("serializable"))?;
    Ok(path)
}
