//! One seeded run of a scenario: start the ensemble, create the workload's keys, run clients
//! and the nemesis for the scenario's duration, heal everything and require the ensemble to
//! serve and converge (the liveness phase), then judge: online ZAB invariants plus the history
//! checker over what the clients saw.
//!
//! Why a single function: `zksim run`, `sweep`, `replay`, `shrink` and the tests all reduce to
//! "this scenario, this seed → this outcome", which must be the same bytes every time.

use crate::sim::profile::Profile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::ensemble_ops::{describe_view, final_nodes, heal_all, node_record, on_client_node, replica_record};
use super::fenced_store::FencedStore;
use super::lock_workload::{run_lock_client, LOCK_PATH};
use super::nemesis::{plan, plan_points, ClientHost, Nemesis};
use crate::sim::fault_points::{FsyncTail, PointRule};
use super::recorder::Recorder;
use super::scenario::{Fault, Scenario};
use super::workload::{run_client, spawn_session, wait_connected, ClientPlan, WorkloadShared};
use crate::checker::{check_history, CheckOptions, Status};
use crate::history::record::{FinalRecord, NodeRecord};
use crate::history::{History, ParseError};
use crate::proto::{Acl, CreateMode};
use crate::sim::client_node::ClientEndpoint;
use crate::sim::cluster::{Cluster, ClusterConfig};
use crate::sim::net::{ip_of, SharedConditions, CLIENT_ADDR_BASE};
use crate::sim::server_node::elapsed_ms;
use crate::zab::Bugs;

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

pub use crate::report::finding::Finding;
use crate::report::analysis::{allowed_counts, check_finding, check_verdicts, invariant_findings, AllowedCounts, CheckVerdict};
use crate::report::Analysis;

#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    pub scenario: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub verdict: Verdict,
    /// The liveness phase failed (also when a safety violation decides the verdict).
    pub liveness_failed: bool,
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
    /// Every history check's verdict and its first violation, structured.
    pub checks: Vec<CheckVerdict>,
    /// Anomalies ZooKeeper allows, counted (stale plain reads, ...).
    pub allowed: AllowedCounts,
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
    /// The history as JSONL text (what `history.jsonl` holds); empty for a run made with
    /// [`HistoryText::Skip`] (sweeps judge from `recorded` and never write it).
    #[serde(skip)]
    pub history: String,
    /// `history` as the checks read it, built from the recorder's records (no JSON round
    /// trip); taken by the judging.
    #[serde(skip)]
    pub(crate) recorded: Option<Result<History, ParseError>>,
    /// Where the run's wall time went (`zksim bench`); not in the JSON (wall clock).
    #[serde(skip)]
    pub profile: Profile,
}

/// The name a run's history has in its messages and beside its report.
const HISTORY_FILE: &str = "history.jsonl";

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

    /// The verdict in words, naming both failures when a run has both.
    pub fn verdict_text(&self) -> String {
        match (self.verdict, self.liveness_failed) {
            (Verdict::SafetyViolation, true) => "SAFETY VIOLATION and LIVENESS FAILURE".to_string(),
            (verdict, _) => verdict.name().to_string(),
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
        torn_write_probability: e.torn_write_probability,
        snapshot_nodes_per_step: e.snapshot_nodes_per_step,
        fle_renotify_on_interval: e.fle_renotify_on_interval,
        latency_ms: (scenario.network.latency_ms[0], scenario.network.latency_ms[1]),
        bugs: bugs.clone(),
        ..ClusterConfig::default()
    }
}

/// Whether a run writes its history out as JSONL text ([`RunOutcome::history`]).
///
/// Why a choice: the checks read the recorder's records directly, so the text is needed only
/// where it is written or compared (`zksim run`, `replay`, the bench's report, the tests).
/// Serializing it cost 2-4% of every sweep's run for a string nobody read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryText {
    Keep,
    Skip,
}

/// Runs one seed of a scenario with a fresh madsim runtime, on this thread's simulation thread.
pub fn run(scenario: &Scenario, seed: u64, options: &RunOptions) -> RunOutcome {
    run_with_analysis(scenario, seed, options).0
}

/// [`run`] for a sweep: the same run, judged the same way, without the history's JSONL text.
pub fn run_judged_only(scenario: &Scenario, seed: u64, options: &RunOptions) -> RunOutcome {
    run_keeping(scenario, seed, options, HistoryText::Skip).0
}

/// [`run`], also returning the parsed history and the check reports (for the report files).
pub fn run_with_analysis(scenario: &Scenario, seed: u64, options: &RunOptions) -> (RunOutcome, Option<Analysis>) {
    run_keeping(scenario, seed, options, HistoryText::Keep)
}

fn run_keeping(scenario: &Scenario, seed: u64, options: &RunOptions, text: HistoryText) -> (RunOutcome, Option<Analysis>) {
    let wall = Instant::now();
    let scenario = &scenario.for_seed(seed);
    let mut bugs = Bugs::none();
    for bug in scenario.bug_flags().into_iter().chain(options.bugs.iter().copied()) {
        bugs = bugs.with(bug);
    }
    let bug_names: Vec<String> = bugs.iter().map(|b| b.name().to_string()).collect();
    let s = scenario.clone();
    let result = crate::sim::sim_thread::run_on_sim_thread(move || {
        // A run that panicked left its counts behind on this thread.
        let _ = crate::sim::profile::take();
        let start = crate::sim::profile::real_now_ns();
        let mut outcome = crate::sim::cluster::block_on_seed(seed, simulate(s, seed, bugs, text));
        outcome.profile = crate::sim::profile::take();
        outcome.profile.simulation_ns = crate::sim::profile::real_now_ns().saturating_sub(start);
        outcome
    });
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = crate::sim::cluster::panic_message(panic.as_ref());
            RunOutcome {
                scenario: scenario.name.clone(),
                seed,
                bugs: Vec::new(),
                verdict: Verdict::Crash,
                liveness_failed: false,
                findings: vec![Finding::new("crash", message)],
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
                checks: Vec::new(),
                allowed: AllowedCounts::default(),
                acked_lost: 0,
                liveness_bound: None,
                overflow: None,
                nemesis_counts: BTreeMap::new(),
                history: String::new(),
                recorded: None,
                profile: Profile::default(),
            }
        }
    };
    outcome.bugs = bug_names;
    // Outside the simulation: the checker's time limits need the wall clock.
    let checks = Instant::now();
    let analysis = judge_history(&mut outcome, scenario, options.fast_checks);
    outcome.profile.checks_ns = checks.elapsed().as_nanos() as u64;
    crate::report::finding::root_cause_order(&mut outcome.findings);
    outcome.wall_ms = wall.elapsed().as_millis() as u64;
    (outcome, analysis)
}

fn key_paths(scenario: &Scenario) -> Vec<String> {
    if scenario.workload.kind == "lock" {
        return vec![LOCK_PATH.to_string()];
    }
    (0..scenario.workload.keys).map(|i| format!("/k{i}")).collect()
}

/// `mixed`: the directories whose children grow (created in setup, children replayed).
fn dir_paths(scenario: &Scenario) -> Vec<String> {
    if scenario.workload.kind != "mixed" {
        return Vec::new();
    }
    (0..scenario.workload.dirs).map(|i| format!("/d{i}")).collect()
}

/// `mixed`: how fast the tree grows this run, from its own stream of the seed (so no other
/// draw of the run moves).
fn growth(scenario: &Scenario, seed: u64) -> f64 {
    let [min, max] = scenario.workload.growth;
    if scenario.workload.kind != "mixed" || max <= min {
        return min;
    }
    ChaCha8Rng::seed_from_u64(seed ^ 0x6772_6f77_7468).gen_range(min..=max)
}

async fn simulate(scenario: Scenario, seed: u64, bugs: Bugs, text: HistoryText) -> RunOutcome {
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
    let dirs = dir_paths(&scenario);
    let growth = growth(&scenario, seed);
    // Setup: wait for a leader, create the keys, record their initial state.
    if cluster.wait_for_leader(60_000).await.is_none() {
        if !cluster.ctx.limits_exceeded() {
            findings.push(Finding::new("liveness", "no leader within 60 s at start"));
        }
        return finish(&scenario, seed, &cluster, &shared, findings, true, text);
    }
    let all_nodes: Vec<String> = keys.iter().chain(dirs.iter()).cloned().collect();
    let init = setup_keys(Arc::clone(&cluster.ctx.conditions), &server_list, &all_nodes, &dirs).await;
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
            dirs: dirs.clone(),
            growth,
            workload: scenario.workload.clone(),
            seed: rng.gen(),
        };
        let shared = Arc::clone(&shared);
        let addr = plan.addr;
        let kind = scenario.workload.kind.clone();
        let node = crate::sim::build_node(
            madsim::runtime::Handle::current()
                .create_node()
                .name(format!("client-{}", client + 1))
                .ip(ip_of(plan.addr))
                .init(move || {
                    let (plan, shared, kind) = (plan.clone(), Arc::clone(&shared), kind.clone());
                    async move {
                        match kind.as_str() {
                            "lock" => run_lock_client(plan, shared).await,
                            "mixed" => super::mixed::run_mixed_client(plan, shared).await,
                            _ => run_client(plan, shared).await,
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
        let mut outcome = finish(&scenario, seed, &cluster, &shared, findings, true, text);
        outcome.faults = fault_count;
        return outcome;
    }
    if scenario.liveness.is_some() {
        // Liveness with a minority that stays broken (`liveness` section).
        let phase = super::liveness::run(&mut cluster, &shared, &mut nemesis, &scenario, seed, &server_list, &keys).await;
        findings.extend(phase.findings);
        let mut outcome = finish(&scenario, seed, &cluster, &shared, findings, phase.failed, text);
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
        let views: Vec<String> = cluster.ids().iter().map(|&id| describe_view(id, &cluster.view(id))).collect();
        let refusals = super::ensemble_ops::epoch_refusals(&cluster);
        findings.push(Finding::new("liveness", format!("not converged {} s after healing: {}{refusals}", scenario.liveness_s, views.join("; "))));
    } else {
        let nodes = final_nodes(Arc::clone(&cluster.ctx.conditions), &server_list, &all_nodes).await;
        // The final reader's closeSession is a txn too, acknowledged once the leader commits it:
        // let every replica apply it before the end-of-run checks compare zxids.
        if !cluster.wait_converged(scenario.liveness_s as i64 * 1_000).await {
            settled = false;
            findings.push(Finding::new("liveness", "replicas did not converge again after the final reads"));
        }
        let replicas = cluster
            .ids()
            .into_iter()
            .map(|id| (format!("s{id}"), replica_record(&cluster, id)))
            .collect();
        shared.recorder.lock().expect("recorder").final_record = Some(FinalRecord { nodes, replicas, extra: BTreeMap::new() });
        cluster.check_final();
    }
    let mut outcome = finish(&scenario, seed, &cluster, &shared, findings, !converged || !settled, text);
    outcome.faults = fault_count;
    outcome.acked_lost = nemesis.acked_lost.len();
    outcome
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



/// A directory's initial record: data and stat, and its (empty) child list for the replay.
fn dir_record(data: &[u8], stat: &crate::proto::Stat) -> Option<NodeRecord> {
    (stat.num_children == 0).then(|| NodeRecord { children: Some(Vec::new()), pzxid: Some(stat.pzxid), cversion: Some(stat.cversion), ..node_record(data, stat) })
}

/// Creates the workload's keys from a setup client; returns their initial state. A create
/// whose reply was lost may have happened: NodeExists is then answered by reading the node.
/// `dirs` (among `keys`) also record their child list, pzxid and cversion.
async fn setup_keys(conditions: SharedConditions, servers: &[i64], keys: &[String], dirs: &[String]) -> BTreeMap<String, NodeRecord> {
    let (servers, keys, dirs) = (servers.to_vec(), keys.to_vec(), dirs.to_vec());
    let body = move |mut endpoint: ClientEndpoint| {
        let (servers, keys, dirs) = (servers.clone(), keys.clone(), dirs.clone());
        let record = move |key: &str, data: &[u8], stat: &crate::proto::Stat| match dirs.iter().any(|d| d == key) {
            true => dir_record(data, stat),
            false => Some(node_record(data, stat)),
        };
        async move {
            let mut init = BTreeMap::new();
            for _attempt in 0..20 {
                let zk = spawn_session(&mut endpoint, servers.clone(), 10_000);
                if wait_connected(&zk, 20_000).await {
                    for key in keys.iter().filter(|k| !init.contains_key(*k)).cloned().collect::<Vec<_>>() {
                        let created = match zk.create2(&key, b"init", Acl::open_unsafe(), CreateMode::Persistent).await {
                            Ok((_, stat)) => record(&key, b"init", &stat),
                            Err(crate::proto::Code::NodeExists) => zk.get_data(&key, false).await.ok().and_then(|(data, stat)| record(&key, &data, &stat)),
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

fn finish(
    scenario: &Scenario,
    seed: u64,
    cluster: &Cluster,
    shared: &WorkloadShared,
    mut findings: Vec<Finding>,
    liveness_failed: bool,
    text: HistoryText,
) -> RunOutcome {
    let mut recorder = shared.recorder.lock().expect("recorder");
    for (_, record) in std::mem::take(&mut *shared.in_flight.lock().expect("in flight")) {
        recorder.op(record);
    }
    record_server_events(cluster, &mut recorder);
    record_ensemble_session_ends(&mut recorder, cluster);
    let overflow = cluster.ctx.conditions.lock().expect("conditions").overflow.clone().map(|o| format!("{} (t={} ms)", o.what, o.time_ms));
    let overflow = overflow
        .or_else(|| cluster.ctx.events.lock().expect("events").overflowed.then(|| format!("server events queued > {}", crate::sim::events::SERVER_EVENTS_MAX)))
        .or_else(|| recorder.overflowed.then(|| format!("history records > {}", crate::sim::limits::HISTORY_RECORDS_MAX)));
    let liveness_failed = liveness_failed || overflow.is_some();
    if let Some(what) = &overflow {
        let detail = format!("a bound of the run was exceeded: {what}; the run was ended (a livelock is a verdict, not a crash)");
        findings.insert(0, Finding::new("liveness", detail));
    }
    let history = match text {
        HistoryText::Keep => recorder.to_jsonl(),
        HistoryText::Skip => String::new(),
    };
    let violations = cluster.violations();
    let safety = !violations.is_empty();
    findings.extend(invariant_findings(&violations));
    let (ops, ops_ok, ops_unknown) = count_ops(&recorder);
    let verdict = if safety {
        Verdict::SafetyViolation
    } else if liveness_failed {
        Verdict::LivenessFailure
    } else {
        Verdict::Pass
    };
    let (mut coverage, firings) = {
        let points = cluster.ctx.points.lock().expect("points");
        (points.coverage(), points.fired.iter().map(|f| f.as_rule()).collect())
    };
    let torn = crate::sim::disk::SimDisk::current().crashes().iter().filter(|c| c.outcome.torn.is_some()).count() as u64;
    if torn > 0 {
        coverage.insert(format!("storage:{}", crate::sim::fault_points::STORAGE_TORN_WRITE), torn);
    }
    let invariants = cluster.invariants();
    let nemesis_counts = nemesis_counts(&recorder);
    let records = recorder.take_records();
    let recorded = Some(crate::sim::profile::in_history_build(|| crate::history::jsonl::history_from_records(HISTORY_FILE, records)));
    RunOutcome {
        scenario: scenario.name.clone(),
        seed,
        bugs: Vec::new(),
        verdict,
        liveness_failed,
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
        checks: Vec::new(),
        allowed: AllowedCounts::default(),
        acked_lost: 0,
        liveness_bound: None,
        overflow,
        nemesis_counts,
        history,
        recorded,
        profile: Profile::default(),
    }
}

/// The servers' events (their lanes in the report) as `server` lines, in time order; how many
/// the bounded log dropped goes into the meta line.
fn record_server_events(cluster: &Cluster, recorder: &mut Recorder) {
    let log = std::mem::take(&mut *cluster.ctx.server_log.lock().expect("server log"));
    if log.dropped > 0 {
        recorder.meta.extra.insert("server_events_dropped".into(), serde_json::json!(log.dropped));
    }
    for event in &log.events {
        recorder.records.push(crate::history::record::Record::Server(event.to_record()));
    }
}

/// Ephemerals and child lists are replayed exactly only if every session end has its zxid,
/// and a client can be told "expired" before the closeSession commits (or without it ever
/// committing in that epoch): the ensemble's commit of each closeSession txn (expiry or close)
/// is recorded as a `session` line `by: ensemble` (the client learns of an expiry without it).
fn record_ensemble_session_ends(recorder: &mut Recorder, cluster: &Cluster) {
    let closed = cluster.ctx.invariants.lock().expect("invariants").closed_sessions.clone();
    for (session, (zxid, time_ms)) in closed {
        recorder.session(crate::history::record::SessionRecord {
            client: 0,
            session: Some(format!("0x{session:x}")),
            t_ns: time_ms.max(0) as u64 * 1_000_000,
            state: "closed".into(),
            zxid: Some(zxid),
            arrival: None,
            by: Some("ensemble".into()),
        });
    }
}

fn nemesis_counts(recorder: &Recorder) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in &recorder.records {
        // A learner refusing its leader's older epoch (the stuck-acceptedEpoch livelock).
        if let crate::history::record::Record::Server(s) = r {
            if s.event == "epoch_refused" {
                *counts.entry("epoch_refused".to_string()).or_default() += 1;
            }
        }
        if let crate::history::record::Record::Nemesis(n) = r {
            *counts.entry(n.action.clone()).or_default() += 1;
            // A disk error of a leader: the one a livelocked election keeps choosing.
            let detail = n.extra.get("detail").and_then(|d| d.as_str()).unwrap_or("");
            if n.action == "disk_error" && detail.contains("(while Leading)") {
                *counts.entry("disk_error:leading".to_string()).or_default() += 1;
            }
            // An epoch write a follower fails: a swing voter that elects a leader, then leaves.
            if n.action == "disk_error" && detail.contains("acceptedEpoch") && detail.contains("(while Following)") {
                *counts.entry("disk_error:following_epoch".to_string()).or_default() += 1;
            }
            // A recovery that fell back to an older snapshot and replayed a log with a hole.
            if n.action == "recovered" && detail.contains("the replayed log skips") {
                *counts.entry("recovered:gap".to_string()).or_default() += 1;
            }
        }
    }
    counts
}

/// Runs the history checks over the recorded history and folds failures into the verdict —
/// also when the liveness phase failed (the history then has no `final` line: the checks that
/// need one report N/A), so a stalled run still shows what its clients saw: one finding per
/// failing check (its earliest violation, the rest grouped), every check's verdict, and the
/// allowed anomalies counted. Returns the parsed history and the reports.
fn judge_history(outcome: &mut RunOutcome, scenario: &Scenario, fast_checks: bool) -> Option<Analysis> {
    let recorded = outcome.recorded.take()?;
    if outcome.overflow.is_some() {
        // A bound ended the run and the recorder may have dropped records: the history is
        // incomplete, so it is shown (the report) but not judged.
        let parsed = recorded.ok()?;
        outcome.allowed = allowed_counts(&parsed, &[]);
        return Some(Analysis { history: parsed, reports: Vec::new() });
    }
    let parsed = match recorded {
        Ok(parsed) => parsed,
        Err(e) => {
            outcome.findings.push(Finding::new("history", format!("the recorded history does not parse: {e}")));
            outcome.verdict = Verdict::SafetyViolation;
            return None;
        }
    };
    let options = CheckOptions { blackbox: !fast_checks, time_limit_ms: BLACKBOX_TIME_LIMIT_MS };
    let wanted: Vec<&String> = scenario.checks.iter().filter(|c| *c != "all").collect();
    let reports = check_history(&parsed, &options);
    for report in &reports {
        if !wanted.is_empty() && !wanted.iter().any(|w| w.as_str() == report.name) {
            continue;
        }
        if report.status == Status::Fail {
            outcome.verdict = Verdict::SafetyViolation;
            outcome.findings.extend(check_finding(&parsed, report));
        }
    }
    outcome.checks = check_verdicts(&parsed, &reports);
    outcome.allowed = allowed_counts(&parsed, &reports);
    Some(Analysis { history: parsed, reports })
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

/// Writes `report.html` beside the history: findings root cause first, verdicts, allowed
/// anomalies, the timeline with server lanes, plots. Returns its path.
pub fn write_html_report(dir: &Path, outcome: &RunOutcome, analysis: &Analysis, scenario: &Scenario, reproduce: &str) -> std::io::Result<PathBuf> {
    let mut facts = vec![
        format!(
            "{} client ops ({} ok, {} unknown), {} faults, {} leaders established, {} commits, {:.1} simulated s, trace {}",
            outcome.ops, outcome.ops_ok, outcome.ops_unknown, outcome.faults, outcome.leader_elections, outcome.commits, outcome.sim_ms as f64 / 1000.0, outcome.trace_hash
        ),
        format!("verdict: {}", outcome.verdict.name()),
    ];
    if !outcome.bugs.is_empty() {
        facts.push(format!("bug flags: {}", outcome.bugs.join(", ")));
    }
    if !scenario.description.is_empty() {
        facts.push(format!("scenario: {}", scenario.description));
    }
    facts.push(format!("reproduce: {reproduce}"));
    let page = crate::report::html::Page {
        title: format!("zksim run: {} seed {} — {}", outcome.scenario, outcome.seed, outcome.verdict.name()),
        facts,
        findings: &outcome.findings,
        allowed: outcome.allowed,
        sync_limit_ms: Some(scenario.ensemble.sync_limit * scenario.ensemble.tick_time_ms),
    };
    let path = dir.join("report.html");
    std::fs::write(&path, crate::report::html::render(&analysis.history, &analysis.reports, &page))?;
    Ok(path)
}

/// Writes `history.jsonl` and `summary.json` under `dir/<scenario>-<seed>/`.
pub fn write_report(dir: &Path, outcome: &RunOutcome) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{}-{}", outcome.scenario, outcome.seed));
    std::fs::create_dir_all(&path)?;
    std::fs::write(path.join("history.jsonl"), &outcome.history)?;
    std::fs::write(path.join("summary.json"), serde_json::to_string_pretty(outcome).expect("serializable"))?;
    Ok(path)
}
