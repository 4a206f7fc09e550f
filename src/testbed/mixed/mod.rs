//! The `mixed` workload: every client runs sessions with several requests in flight (one
//! Jepsen process per lane), over registers (`/k0`…) and growing directories (`/d0`…):
//! reads that leave data, exist and child watches; persistent and persistent-recursive watches
//! (`addWatch`, at each session's start); ephemeral, sequential, container and TTL creates;
//! grandchildren; deletes; multi (check + setData + create, sometimes a delete) and multiRead;
//! getChildren with a stat; sync+read. The seed draws how fast the tree grows (thousands of
//! nodes in a minute at the defaults).
//!
//! What the history gets: every reply (with `seq`, the op's submission order in its session,
//! and `arrival`, its place among everything the session delivered), every watch event and
//! every session state change (with their `arrival`). So the checks can tell, for one
//! session, which came first — the reply that shows a change or the event announcing it —
//! and whether pipelined replies came back in submission order.
//!
//! Why lanes on a 25 ms grid: independent lanes rarely overlap at 20 ops/s; quantized to a
//! grid, several lanes of a session often submit in the same instant, so requests really are
//! pipelined.

pub mod choose;
pub mod reply;

pub use choose::OP_NAMES;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use self::choose::{choose, Knowledge, Mix, Planned, Targets};
use self::reply::{learn, multi_failure, result_record};
use super::workload::{now_ns, session_config, state_name, ClientPlan, WorkloadShared};
use crate::client::api::{ClientEvent, Traced, ZooKeeper};
use crate::client::KeeperState;
use crate::history::record::{ArgsRecord, EventRecord, OpRecord, ResultRecord, SessionRecord};
use crate::proto::{AddWatchMode, Code, EventType, Request, Response};
use crate::sim::client_node::{ClientEndpoint, SimClientTransport};

type Zk = ZooKeeper<SimClientTransport>;

/// Lanes submit on this grid (see the module header).
const GRID_MS: u64 = 25;

/// What every lane of a client shares.
struct Lanes {
    plan: ClientPlan,
    shared: Arc<WorkloadShared>,
    mix: Mix,
    knowledge: Rc<RefCell<Knowledge>>,
}

fn session_text(zk: &Zk) -> Option<String> {
    match zk.session_id() {
        0 => None,
        id => Some(format!("0x{id:x}")),
    }
}

fn session_over(zk: &Zk) -> bool {
    matches!(zk.state(), Some(KeeperState::Expired | KeeperState::Closed | KeeperState::AuthFailed))
}

/// The client node's main future for the mixed workload.
pub async fn run_mixed_client(plan: ClientPlan, shared: Arc<WorkloadShared>) {
    let mut endpoint = ClientEndpoint::bind(plan.addr, Arc::clone(&shared.conditions)).await;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mix = Mix::new(&plan.workload.ops, plan.growth);
    let lanes = Rc::new(Lanes { plan: plan.clone(), shared: Arc::clone(&shared), mix, knowledge: Rc::default() });
    while !shared.stop.load(Ordering::Relaxed) {
        let (zk, driver) = endpoint.session(session_config(&plan, &mut rng));
        let driver = crate::sim::profile::spawn_local(driver.run());
        let deliveries = crate::sim::profile::spawn_local(record_deliveries(zk.clone(), plan.client as i64, Arc::clone(&shared)));
        run_session(&lanes, &zk, rng.gen()).await;
        close(&lanes, &zk).await;
        let _ = driver.await;
        // The driver is done: the queue drains and the recorder returns.
        let _ = deliveries.await;
    }
}

/// One session: persistent watches first, then every lane until the session ends or the run
/// stops.
async fn run_session(lanes: &Rc<Lanes>, zk: &Zk, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let process = lanes.shared.recorder.lock().expect("recorder").new_process();
    let plan = &lanes.plan;
    if rng.gen_bool(0.5) {
        let path = plan.keys[rng.gen_range(0..plan.keys.len())].clone();
        add_watch(lanes, zk, process, &path, AddWatchMode::Persistent).await;
    }
    if rng.gen_bool(0.5) {
        let path = plan.dirs[rng.gen_range(0..plan.dirs.len())].clone();
        add_watch(lanes, zk, process, &path, AddWatchMode::PersistentRecursive).await;
    }
    let mut handles = Vec::new();
    for lane in 0..plan.workload.pipeline {
        let lane_rng = ChaCha8Rng::seed_from_u64(seed ^ (lane as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        handles.push(crate::sim::profile::spawn_local(run_lane(Rc::clone(lanes), zk.clone(), lane, lane_rng)));
    }
    for handle in handles {
        let _ = handle.await;
    }
}

/// The in-flight key of a lane (what the run records as unknown if it never completes).
fn in_flight_key(client: usize, lane: usize) -> i64 {
    (client as i64) << 8 | lane as i64
}

async fn run_lane(lanes: Rc<Lanes>, zk: Zk, lane: usize, mut rng: ChaCha8Rng) {
    let plan = &lanes.plan;
    let shared = &lanes.shared;
    let mut process = shared.recorder.lock().expect("recorder").new_process();
    let mean_gap_ms = plan.workload.pipeline as f64 * 1_000.0 / plan.workload.rate_per_client;
    let registers = &plan.keys;
    let targets = Targets { client: plan.client, registers, dirs: &plan.dirs };
    while !shared.stop.load(Ordering::Relaxed) && !session_over(&zk) {
        let gap_ms = (-mean_gap_ms * (1.0 - rng.gen::<f64>()).ln()).min(mean_gap_ms * 20.0) as u64;
        let now_ms = (now_ns() / 1_000_000) as u64;
        let at_ms = (now_ms + gap_ms).div_ceil(GRID_MS) * GRID_MS;
        madsim::time::sleep(Duration::from_millis(at_ms.saturating_sub(now_ms).max(1))).await;
        if shared.stop.load(Ordering::Relaxed) || session_over(&zk) {
            return;
        }
        let planned = choose(&mut rng, &lanes.mix, &targets, &mut lanes.knowledge.borrow_mut());
        let record = issue(&lanes, &zk, &planned, process, in_flight_key(plan.client, lane)).await;
        let unknown = record.outcome == "unknown";
        shared.recorder.lock().expect("recorder").op(record);
        if unknown {
            process = shared.recorder.lock().expect("recorder").new_process();
        }
    }
}

/// Sends one planned request (a sync first for `sync_read`) and records it.
async fn issue(lanes: &Lanes, zk: &Zk, planned: &Planned, process: i64, key: i64) -> OpRecord {
    let invoke_ns = now_ns();
    let mut record = OpRecord {
        process,
        client: lanes.plan.client as i64,
        session: session_text(zk),
        op: planned.op.into(),
        path: Some(planned.path.clone()),
        args: planned.args.clone(),
        invoke_ns,
        outcome: "unknown".into(),
        ..OpRecord::default()
    };
    let mut traced = None;
    if planned.sync_first {
        let sync = zk.submit_traced(Request::Sync { path: planned.path.clone() });
        record.seq = Some(sync.seq());
        lanes.shared.in_flight.lock().expect("in flight").insert(key, record.clone());
        let sync = sync.wait().await;
        if sync.result.is_err() {
            traced = Some(sync);
        }
    }
    let traced = match traced {
        Some(failed_sync) => failed_sync,
        None => {
            // The op's place in the session's order is its read's (a sync_read's sync goes
            // first, and other requests may be submitted in between).
            let submitted = zk.submit_traced(planned.request.clone());
            record.seq = Some(submitted.seq());
            lanes.shared.in_flight.lock().expect("in flight").insert(key, record.clone());
            submitted.wait().await
        }
    };
    lanes.shared.in_flight.lock().expect("in flight").remove(&key);
    learn(&mut lanes.knowledge.borrow_mut(), planned, &traced.result.as_ref().map(|(_, r)| r.clone()).map_err(|c| *c));
    complete(&mut record, zk, planned, traced);
    record
}

/// Fills in the reply: outcome, error, zxid, result, seq and arrival.
fn complete(record: &mut OpRecord, zk: &Zk, planned: &Planned, traced: Traced) {
    record.complete_ns = Some(now_ns().max(record.invoke_ns));
    record.session = record.session.take().or_else(|| session_text(zk));
    record.server = zk.with_core(|c| c.current_server()).map(|s| format!("s{s}"));
    record.seq = Some(traced.seq);
    record.arrival = Some(traced.arrival);
    record.outcome = "ok".into();
    match traced.result {
        Ok((zxid, response)) => {
            record.zxid = Some(zxid);
            if let Response::Multi { results } = &response {
                if let Some(code) = multi_failure(results) {
                    record.outcome = "fail".into();
                    record.error = Some(format!("{code:?}"));
                } else if results.is_empty() {
                    // The whole request failed before its ops were prepared (an error txn:
                    // session expired or moved); the reply carries no results.
                    record.outcome = "fail".into();
                    record.error = Some("EmptyMultiResponse".into());
                }
            }
            record.result = Some(result_record(&response));
        }
        Err(Code::NoNode) if matches!(planned.op, "get_data" | "exists" | "sync_read") => {
            record.result = Some(ResultRecord { exists: Some(false), ..ResultRecord::default() });
        }
        Err(code) => {
            record.error = Some(format!("{code:?}"));
            let indeterminate = matches!(code, Code::ConnectionLoss | Code::OperationTimeout);
            if indeterminate && reply::is_write(planned) {
                record.outcome = "unknown".into();
                record.complete_ns = None;
            } else {
                record.outcome = "fail".into();
            }
        }
    }
}

/// `addWatch` on `path`, recorded as an op.
async fn add_watch(lanes: &Lanes, zk: &Zk, process: i64, path: &str, mode: AddWatchMode) {
    let name = match mode {
        AddWatchMode::Persistent => "persistent",
        AddWatchMode::PersistentRecursive => "persistent_recursive",
    };
    let planned = Planned {
        op: "add_watch",
        path: path.to_string(),
        args: ArgsRecord { mode: Some(name.into()), ..ArgsRecord::default() },
        sync_first: false,
        request: Request::AddWatch { path: path.to_string(), mode },
    };
    let key = in_flight_key(lanes.plan.client, 255);
    let record = issue(lanes, zk, &planned, process, key).await;
    lanes.shared.recorder.lock().expect("recorder").op(record);
}

/// Ends the session; a close the ensemble answered is a `close_session` op with its zxid.
async fn close(lanes: &Lanes, zk: &Zk) {
    let connected = zk.state() == Some(KeeperState::SyncConnected);
    let invoke_ns = now_ns();
    let session = session_text(zk);
    let traced = zk.call_traced(Request::CloseSession).await;
    if let (true, Ok((zxid, _))) = (connected, &traced.result) {
        let record = OpRecord {
            process: lanes.shared.recorder.lock().expect("recorder").new_process(),
            client: lanes.plan.client as i64,
            session,
            op: "close_session".into(),
            invoke_ns,
            complete_ns: Some(now_ns().max(invoke_ns)),
            outcome: "ok".into(),
            zxid: Some(*zxid),
            seq: Some(traced.seq),
            arrival: Some(traced.arrival),
            ..OpRecord::default()
        };
        lanes.shared.recorder.lock().expect("recorder").op(record);
    }
}

fn event_name(t: EventType) -> Option<&'static str> {
    match t {
        EventType::NodeCreated => Some("NodeCreated"),
        EventType::NodeDeleted => Some("NodeDeleted"),
        EventType::NodeDataChanged => Some("NodeDataChanged"),
        EventType::NodeChildrenChanged => Some("NodeChildrenChanged"),
        _ => None,
    }
}

/// Records every watch event and state change the session delivers, with its delivery
/// number, until the session's driver is done.
async fn record_deliveries(zk: Zk, client: i64, shared: Arc<WorkloadShared>) {
    while let Some((arrival, event)) = zk.next_event_traced().await {
        let session = session_text(&zk);
        let t_ns = now_ns();
        let mut recorder = shared.recorder.lock().expect("recorder");
        match event {
            ClientEvent::Watch(w) => {
                let Some(event_type) = event_name(w.event_type) else { continue };
                recorder.event(EventRecord { client, session, t_ns, event_type: event_type.into(), path: w.path, zxid: None, arrival: Some(arrival) });
            }
            ClientEvent::State(state) => {
                recorder.session(SessionRecord { client, session, t_ns, state: state_name(state).into(), zxid: None, arrival: Some(arrival), by: None });
            }
        }
    }
}
