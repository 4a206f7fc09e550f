//! Workloads: each client is a madsim node running a ZooKeeper session and issuing a seeded
//! mix of operations, every one recorded with invoke and completion times.
//!
//! Why Jepsen's rules: an operation whose outcome is unknown (ConnectionLoss on a write) may
//! still take effect at any time, so the client continues as a *new process* and the checker
//! treats the op as concurrent with everything after it — never as absent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::recorder::Recorder;
use super::scenario::WorkloadSpec;
use crate::client::api::{ClientEvent, ZooKeeper};
use crate::client::{ClientConfig, KeeperState};
use crate::history::record::{ArgsRecord, OpRecord, ResultRecord, SessionRecord};
use crate::proto::{Code, Request, Response};
use crate::sim::client_node::{ClientEndpoint, SimClientTransport};
use crate::sim::net::{Addr, SharedConditions};
use crate::sim::server_node::elapsed_ms;

/// What one client does.
#[derive(Clone, Debug)]
pub struct ClientPlan {
    pub client: usize,
    pub addr: Addr,
    pub servers: Vec<i64>,
    pub session_timeout_ms: i32,
    pub keys: Vec<String>,
    /// `mixed`: the directories whose children grow.
    pub dirs: Vec<String>,
    /// `mixed`: the factor on create weights the run drew (tree growth).
    pub growth: f64,
    pub workload: WorkloadSpec,
    pub seed: u64,
}

/// Shared by the runner and its clients.
pub struct WorkloadShared {
    pub recorder: Mutex<Recorder>,
    pub stop: AtomicBool,
    pub conditions: SharedConditions,
    /// `lock` workload: the store the lock protects, and who holds the lock now.
    pub store: Mutex<super::fenced_store::FencedStore>,
    pub lock_holder: Arc<Mutex<Option<usize>>>,
    /// Ops invoked but not yet answered, per client (`lock` workload: a `lock_release`, whose
    /// invocation ends the critical section). Whatever is left when the run ends goes into
    /// the history as unknown (no completion), so the invocation is not lost.
    pub in_flight: Mutex<std::collections::BTreeMap<i64, crate::history::record::OpRecord>>,
}

pub(super) fn now_ns() -> u64 {
    crate::sim::clock::elapsed().as_nanos() as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Read,
    Write,
    Cas,
    SyncRead,
}

impl OpKind {
    fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Cas => "cas",
            OpKind::SyncRead => "sync_read",
        }
    }
}

fn pick_op(rng: &mut ChaCha8Rng, w: &WorkloadSpec) -> OpKind {
    let total = w.read + w.write + w.cas + w.sync_read;
    let mut x = rng.gen::<f64>() * total;
    for (weight, kind) in [(w.read, OpKind::Read), (w.write, OpKind::Write), (w.cas, OpKind::Cas)] {
        if x < weight {
            return kind;
        }
        x -= weight;
    }
    OpKind::SyncRead
}

/// The client node's main future: sessions one after another until told to stop.
pub async fn run_client(plan: ClientPlan, shared: Arc<WorkloadShared>) {
    let mut endpoint = ClientEndpoint::bind(plan.addr, Arc::clone(&shared.conditions)).await;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mut counter = 0u64;
    let mut versions: BTreeMap<String, i32> = BTreeMap::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let (zk, driver) = endpoint.session(session_config(&plan, &mut rng));
        let driver = crate::sim::profile::spawn_local(driver.run());
        let events = crate::sim::profile::spawn_local(record_events(zk.clone(), plan.client as i64, Arc::clone(&shared)));
        let process = shared.recorder.lock().expect("recorder").new_process();
        run_session(&plan, &zk, &shared, &mut rng, process, &mut counter, &mut versions).await;
        let _ = zk.close().await;
        let _ = driver.await;
        events.abort();
    }
}

/// A new session's configuration: the server list in an order drawn from the client's seed
/// (ZooKeeper shuffles its host list) and a seeded reconnect delay.
pub(super) fn session_config(plan: &ClientPlan, rng: &mut ChaCha8Rng) -> ClientConfig {
    let mut servers = plan.servers.clone();
    rotate_by_seed(&mut servers, rng);
    let mut config = ClientConfig::new(servers, plan.session_timeout_ms);
    config.reconnect_delay_ms = rng.gen_range(0..200);
    config
}

/// The history's name of a session state.
pub(super) fn state_name(state: KeeperState) -> &'static str {
    match state {
        KeeperState::SyncConnected => "connected",
        KeeperState::Disconnected => "disconnected",
        KeeperState::Expired => "expired",
        KeeperState::Closed => "closed",
        KeeperState::AuthFailed => "auth_failed",
    }
}

fn rotate_by_seed(servers: &mut [i64], rng: &mut ChaCha8Rng) {
    // Fisher–Yates with the client's seeded generator: ZooKeeper shuffles its host list.
    for i in (1..servers.len()).rev() {
        let j = rng.gen_range(0..=i);
        servers.swap(i, j);
    }
}

async fn record_events(zk: ZooKeeper<SimClientTransport>, client: i64, shared: Arc<WorkloadShared>) {
    while let Some(event) = zk.next_event().await {
        let ClientEvent::State(state) = event else { continue };
        let name = state_name(state);
        let session = Some(format!("0x{:x}", zk.session_id()));
        shared.recorder.lock().expect("recorder").session(SessionRecord { client, session, t_ns: now_ns(), state: name.into(), zxid: None, arrival: None, by: None });
    }
}

async fn run_session(
    plan: &ClientPlan,
    zk: &ZooKeeper<SimClientTransport>,
    shared: &WorkloadShared,
    rng: &mut ChaCha8Rng,
    mut process: i64,
    counter: &mut u64,
    versions: &mut BTreeMap<String, i32>,
) {
    let mean_gap_ms = 1_000.0 / plan.workload.rate_per_client;
    while !shared.stop.load(Ordering::Relaxed) {
        if matches!(zk.state(), Some(KeeperState::Expired | KeeperState::Closed | KeeperState::AuthFailed)) {
            return;
        }
        let gap = (-mean_gap_ms * (1.0 - rng.gen::<f64>()).ln()).min(mean_gap_ms * 20.0);
        madsim::time::sleep(Duration::from_micros((gap * 1_000.0) as u64)).await;
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let kind = pick_op(rng, &plan.workload);
        let key = plan.keys[rng.gen_range(0..plan.keys.len())].clone();
        *counter += 1;
        let value = format!("c{}-{}", plan.client, counter);
        let record = issue(zk, kind, &key, &value, versions, plan, process).await;
        let unknown = record.outcome == "unknown";
        shared.recorder.lock().expect("recorder").op(record);
        if unknown {
            // Jepsen: the op may still happen; this client carries on as a new process.
            process = shared.recorder.lock().expect("recorder").new_process();
        }
    }
}

async fn issue(
    zk: &ZooKeeper<SimClientTransport>,
    kind: OpKind,
    key: &str,
    value: &str,
    versions: &mut BTreeMap<String, i32>,
    plan: &ClientPlan,
    process: i64,
) -> OpRecord {
    let invoke_ns = now_ns();
    let mut args = ArgsRecord::default();
    let result = match kind {
        OpKind::Read => zk.call(Request::GetData { path: key.into(), watch: false }).await,
        OpKind::SyncRead => match zk.call(Request::Sync { path: key.into() }).await {
            Ok(_) => zk.call(Request::GetData { path: key.into(), watch: false }).await,
            Err(code) => Err(code),
        },
        OpKind::Write => {
            args.value = Some(value.into());
            args.expected_version = Some(-1);
            zk.call(Request::SetData { path: key.into(), data: value.as_bytes().to_vec(), version: -1 }).await
        }
        OpKind::Cas => {
            let expected = versions.get(key).copied().unwrap_or(0);
            args.value = Some(value.into());
            args.expected_version = Some(expected);
            zk.call(Request::SetData { path: key.into(), data: value.as_bytes().to_vec(), version: expected }).await
        }
    };
    let complete_ns = now_ns().max(invoke_ns);
    // The session (and server) the request went out on are known once it completes.
    let server = zk.with_core(|c| c.current_server()).map(|s| format!("s{s}"));
    let session = match zk.session_id() {
        0 => None,
        id => Some(format!("0x{id:x}")),
    };
    let mut record = OpRecord {
        process,
        client: plan.client as i64,
        session,
        server,
        op: kind.name().into(),
        path: Some(key.into()),
        args,
        invoke_ns,
        complete_ns: Some(complete_ns),
        outcome: "ok".into(),
        ..OpRecord::default()
    };
    match result {
        Ok((zxid, response)) => {
            record.zxid = Some(zxid);
            record.result = Some(result_record(&response));
            if let Some(v) = record.result.as_ref().and_then(|r| r.version) {
                versions.insert(key.to_string(), v);
            }
        }
        Err(Code::NoNode) if matches!(kind, OpKind::Read | OpKind::SyncRead) => {
            record.result = Some(ResultRecord::default());
        }
        Err(code) => {
            record.error = Some(format!("{code:?}"));
            let indeterminate = matches!(code, Code::ConnectionLoss | Code::OperationTimeout);
            let is_write = matches!(kind, OpKind::Write | OpKind::Cas);
            if indeterminate && is_write {
                record.outcome = "unknown".into();
                record.complete_ns = None;
            } else {
                record.outcome = "fail".into();
            }
        }
    }
    record
}

fn result_record(response: &Response) -> ResultRecord {
    match response {
        Response::GetData { data, stat } => ResultRecord {
            value: Some(String::from_utf8_lossy(data).into_owned()),
            version: Some(stat.version),
            mzxid: Some(stat.mzxid),
            czxid: Some(stat.czxid),
            ..ResultRecord::default()
        },
        Response::SetData { stat } => ResultRecord { version: Some(stat.version), mzxid: Some(stat.mzxid), ..ResultRecord::default() },
        _ => ResultRecord::default(),
    }
}

/// Runs to completion a setup or final-read session on this node; returns the handle's driver
/// result once closed.
pub fn spawn_session(endpoint: &mut ClientEndpoint, servers: Vec<i64>, timeout_ms: i32) -> ZooKeeper<SimClientTransport> {
    let (zk, driver) = endpoint.session(ClientConfig::new(servers, timeout_ms));
    crate::sim::profile::spawn_local(driver.run());
    zk
}

/// Waits until `zk` is connected, up to `max_ms`.
pub async fn wait_connected(zk: &ZooKeeper<SimClientTransport>, max_ms: i64) -> bool {
    let end = elapsed_ms() + max_ms;
    while elapsed_ms() < end {
        if zk.state() == Some(KeeperState::SyncConnected) {
            return true;
        }
        madsim::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
