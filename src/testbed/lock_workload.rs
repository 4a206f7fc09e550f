//! The `lock` workload: every client takes the lock recipe (`crate::client::recipes::lock`)
//! on `/lock`, holds it for a while writing to a protected store, and releases it; a client
//! whose session ended starts a new one.
//!
//! What is recorded, for `lock-mutual-exclusion` and `ephemerals`: `lock_acquire` (ok with the
//! fencing token = the lock node's czxid, or fail), `fenced_write` (ok if the store accepted
//! the token, fail if it refused it), `lock_release` (its invocation ends the critical
//! section), the recipe's own `create` of its ephemeral node and every `exists` that found a
//! predecessor, as `lock_watch` (reads of other sessions' ephemerals; not a plain `exists`,
//! because the node's create may be missing: a session that ended mid-create never learned
//! the name of what it created, so register checks could not explain the read), and session state changes ("closed"
//! only once the ensemble acknowledged the close; "expired" once the next session saw the
//! old lock nodes gone, see [`confirm_expired`]; the moment the client was told is
//! "expiry_notified").
//!
//! Why a fenced store by default: a holder paused past its session timeout still believes it
//! holds the lock when it runs again, after ZooKeeper granted the lock to someone else; no
//! lock service can prevent that. With `fencing` the store refuses the stale token and the
//! history shows a refused write; with `fencing: false` the stale write is accepted and the
//! checker reports "stale fencing token accepted" — the naive use of the lock is unsafe.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::workload::{now_ns, session_config, state_name, ClientPlan, WorkloadShared};
use crate::client::api::{ClientEvent, ZooKeeper};
use crate::client::recipes::lock::{Lock, LockStep};
use crate::client::recipes::{session_over, Events, RecipeError, Subscription};
use crate::client::KeeperState;
use crate::history::record::{ArgsRecord, OpRecord, ResultRecord, SessionRecord};
use crate::proto::{Code, Stat};
use crate::sim::client_node::{ClientEndpoint, SimClientTransport};

/// The lock's directory (created in setup as the workload's only key).
pub const LOCK_PATH: &str = "/lock";

type Zk = ZooKeeper<SimClientTransport>;

fn session_text(zk: &Zk) -> Option<String> {
    match zk.session_id() {
        0 => None,
        id => Some(format!("0x{id:x}")),
    }
}

/// The client node's main future for the lock workload.
pub async fn run_lock_client(plan: ClientPlan, shared: Arc<WorkloadShared>) {
    let mut endpoint = ClientEndpoint::bind(plan.addr, Arc::clone(&shared.conditions)).await;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    // A session that ended without an acknowledged close, and the lock nodes it created.
    let mut unclosed: Option<(Option<String>, Vec<String>)> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let (zk, driver) = endpoint.session(session_config(&plan, &mut rng));
        let driver = crate::sim::profile::spawn_local(driver.run());
        let events = Events::new(&zk);
        let hub = crate::sim::profile::spawn_local(events.clone().run());
        let states = crate::sim::profile::spawn_local(record_states(zk.clone(), events.subscribe(), plan.client as i64, Arc::clone(&shared)));
        let process = shared.recorder.lock().expect("recorder").new_process();
        if let Some((session, nodes)) = unclosed.take() {
            confirm_expired(&plan, &zk, &shared, session, &nodes).await;
        }
        let created = Rc::new(RefCell::new(Vec::new()));
        let lost = lock_session(&plan, &zk, &events, &shared, &mut rng, process, Rc::clone(&created)).await;
        // A close sent on a live connection completes once the ensemble committed it; one on a
        // lost session or while disconnected ends only the client's side.
        let sent = !lost && zk.state() == Some(KeeperState::SyncConnected);
        let closed = zk.close().await.is_ok() && sent;
        let _ = driver.await;
        states.abort();
        hub.abort();
        if closed {
            // Only a close the ensemble acknowledged ends the session (and its ephemerals)
            // now; a close while disconnected leaves them to the session's expiry.
            let record = SessionRecord { client: plan.client as i64, session: session_text(&zk), t_ns: now_ns(), state: "closed".into(), zxid: None, arrival: None, by: None };
            shared.recorder.lock().expect("recorder").session(record);
        } else {
            unclosed = Some((session_text(&zk), created.take()));
        }
    }
}

/// When did the previous session's expiry *complete*? A client learns "expired" as soon as
/// the leader marks the session closing, before the closeSession txn commits and deletes its
/// ephemerals, so that moment is no session end for the `ephemerals` check. The next session
/// syncs and looks for the old lock nodes until they are gone — then records `expired` — or
/// for at most three session timeouts (a healed ensemble commits a closeSession within a few
/// ticks; a new leader re-expires the session within one timeout), then records it anyway:
/// from then on the ephemerals must be gone.
async fn confirm_expired(plan: &ClientPlan, zk: &Zk, shared: &WorkloadShared, session: Option<String>, nodes: &[String]) {
    let deadline_ms = crate::sim::server_node::elapsed_ms() + 3 * plan.session_timeout_ms as i64;
    for node in nodes {
        while crate::sim::server_node::elapsed_ms() < deadline_ms && !shared.stop.load(Ordering::Relaxed) {
            let _ = zk.sync(node).await;
            if let Ok(None) = zk.exists(node, false).await {
                break;
            }
            madsim::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if shared.stop.load(Ordering::Relaxed) {
        return;
    }
    let record = SessionRecord { client: plan.client as i64, session, t_ns: now_ns(), state: "expired".into(), zxid: None, arrival: None, by: None };
    shared.recorder.lock().expect("recorder").session(record);
}

/// Records the session's state changes until it ends.
async fn record_states(zk: Zk, mut events: Subscription<SimClientTransport>, client: i64, shared: Arc<WorkloadShared>) {
    loop {
        let ClientEvent::State(state) = events.next().await else { continue };
        let name = match state {
            // Recorded by the caller once the close or expiry is known to have completed.
            KeeperState::Closed => continue,
            KeeperState::Expired => "expiry_notified",
            other => state_name(other),
        };
        let record = SessionRecord { client, session: session_text(&zk), t_ns: now_ns(), state: name.into(), zxid: None, arrival: None, by: None };
        shared.recorder.lock().expect("recorder").session(record);
        if session_over(state) {
            return;
        }
    }
}

/// The recipe's internal create and predecessor reads, as ops.
fn step_record(step: &LockStep, client: i64, process: i64, session: Option<String>) -> OpRecord {
    let (op, path, stat, invoke_ms, complete_ms, args, zxid) = match step {
        LockStep::Created { path, stat, invoke_ms, complete_ms } => {
            let args = ArgsRecord { ephemeral: true, sequential: true, value: Some(String::new()), ..ArgsRecord::default() };
            ("create", path, stat, invoke_ms, complete_ms, args, None)
        }
        LockStep::SawPredecessor { path, stat, zxid, invoke_ms, complete_ms } => {
            ("lock_watch", path, stat, invoke_ms, complete_ms, ArgsRecord { watch: true, ..ArgsRecord::default() }, Some(*zxid))
        }
    };
    let mut result = stat_result(stat);
    if op == "create" {
        result.path = Some(path.clone());
    }
    OpRecord {
        process,
        client,
        session,
        server: None,
        op: op.into(),
        path: Some(path.clone()),
        args,
        invoke_ns: invoke_ms * 1_000_000,
        complete_ns: Some(complete_ms * 1_000_000),
        outcome: "ok".into(),
        error: None,
        zxid,
        result: Some(result),
        seq: None,
        arrival: None,
    }
}

fn stat_result(stat: &Stat) -> ResultRecord {
    ResultRecord {
        version: Some(stat.version),
        mzxid: Some(stat.mzxid),
        czxid: Some(stat.czxid),
        exists: Some(true),
        ephemeral_owner: (stat.ephemeral_owner != 0).then(|| format!("0x{:x}", stat.ephemeral_owner)),
        ..ResultRecord::default()
    }
}

/// The error as the history names it: a lost session is ZooKeeper's SessionExpired (the
/// checker takes it as proof that the session expired).
fn error_name(error: RecipeError) -> String {
    match error {
        RecipeError::SessionLost => "SessionExpired".into(),
        RecipeError::Timeout => "Timeout".into(),
        RecipeError::Zk(code) => format!("{code:?}"),
    }
}

/// A lock-level op on `/lock`.
fn lock_record(op: &str, client: i64, process: i64, zk: &Zk, invoke_ns: u64, outcome: &str) -> OpRecord {
    OpRecord {
        process,
        client,
        session: session_text(zk),
        server: zk.with_core(|c| c.current_server()).map(|s| format!("s{s}")),
        op: op.into(),
        path: Some(LOCK_PATH.into()),
        invoke_ns,
        complete_ns: Some(now_ns().max(invoke_ns)),
        outcome: outcome.into(),
        ..OpRecord::default()
    }
}

/// Acquire, hold (writing to the store), release — until the session ends or the run stops.
/// Returns whether the session was lost (expired, or moved away).
async fn lock_session(
    plan: &ClientPlan,
    zk: &Zk,
    events: &Events<SimClientTransport>,
    shared: &Arc<WorkloadShared>,
    rng: &mut ChaCha8Rng,
    process: i64,
    created: Rc<RefCell<Vec<String>>>,
) -> bool {
    let client = plan.client as i64;
    let mut lock = Lock::new(events, LOCK_PATH, rng.gen());
    {
        let (shared, zk) = (Arc::clone(shared), zk.clone());
        lock.observe(move |step| {
            if let LockStep::Created { path, .. } = &step {
                created.borrow_mut().push(path.clone());
            }
            shared.recorder.lock().expect("recorder").op(step_record(&step, client, process, session_text(&zk)));
        });
    }
    let mean_gap_ms = 1_000.0 / plan.workload.rate_per_client;
    let acquire_ms = 2 * plan.session_timeout_ms.max(1) as u64;
    while !shared.stop.load(Ordering::Relaxed) {
        if zk.state().is_some_and(session_over) {
            return true;
        }
        let gap = (-mean_gap_ms * (1.0 - rng.gen::<f64>()).ln()).min(mean_gap_ms * 20.0);
        madsim::time::sleep(Duration::from_micros((gap * 1_000.0) as u64)).await;
        let invoke_ns = now_ns();
        let guard = match lock.acquire(acquire_ms).await {
            Ok(guard) => guard,
            Err(error) => {
                let mut record = lock_record("lock_acquire", client, process, zk, invoke_ns, "fail");
                record.error = Some(error_name(error));
                shared.recorder.lock().expect("recorder").op(record);
                if matches!(error, RecipeError::SessionLost | RecipeError::Zk(Code::SessionMoved)) {
                    return true;
                }
                continue;
            }
        };
        let mut record = lock_record("lock_acquire", client, process, zk, invoke_ns, "ok");
        record.result = Some(ResultRecord { token: Some(guard.token), path: Some(guard.path.clone()), ..ResultRecord::default() });
        shared.recorder.lock().expect("recorder").op(record);
        *shared.lock_holder.lock().expect("holder") = Some(plan.client);
        hold(plan, zk, &lock, guard.token, shared, rng, process).await;
        {
            let mut holder = shared.lock_holder.lock().expect("holder");
            if *holder == Some(plan.client) {
                *holder = None;
            }
        }
        let invoke_ns = now_ns();
        // The release's invocation ends the critical section: a release still unanswered when
        // the run ends (a client cut off to the end, or never told its session expired) is
        // recorded as unknown, not dropped — else the section would last to the end of the
        // history and overlap every later (legitimate) grant.
        let mut pending = lock_record("lock_release", client, process, zk, invoke_ns, "unknown");
        pending.complete_ns = None;
        shared.in_flight.lock().expect("in flight").insert(client, pending);
        let released = lock.release(&guard).await;
        shared.in_flight.lock().expect("in flight").remove(&client);
        let mut record = lock_record("lock_release", client, process, zk, invoke_ns, if released.is_ok() { "ok" } else { "fail" });
        record.error = released.err().map(error_name);
        shared.recorder.lock().expect("recorder").op(record);
        if released.is_err() {
            return true;
        }
    }
    false
}

/// While the lock is believed held: work a little, then write with the token. The check
/// comes before the work, as in any real client — a pause during the work goes unnoticed.
async fn hold(plan: &ClientPlan, zk: &Zk, lock: &Lock<SimClientTransport>, token: i64, shared: &WorkloadShared, rng: &mut ChaCha8Rng, process: i64) {
    let [min, max] = plan.workload.hold_ms;
    let until_ms = crate::sim::server_node::elapsed_ms() as u64 + rng.gen_range(min..=max);
    while (crate::sim::server_node::elapsed_ms() as u64) < until_ms && !shared.stop.load(Ordering::Relaxed) {
        if !lock.still_held() {
            return;
        }
        madsim::time::sleep(Duration::from_millis(rng.gen_range(50..150))).await;
        let invoke_ns = now_ns();
        let accepted = shared.store.lock().expect("store").write(token);
        let mut record = lock_record("fenced_write", plan.client as i64, process, zk, invoke_ns, if accepted { "ok" } else { "fail" });
        record.args = ArgsRecord { token: Some(token), value: Some(format!("c{}", plan.client)), ..ArgsRecord::default() };
        if !accepted {
            record.error = Some("StaleToken".into());
        }
        shared.recorder.lock().expect("recorder").op(record);
    }
}
