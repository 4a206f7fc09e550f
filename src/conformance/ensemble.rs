//! The ensemble target: the trace through the client library and the simulated network to a
//! follower of a 3-server ensemble on madsim, and through it to the leader.
//!
//! Why: the standalone target checks the data tree's semantics; this one checks that ZAB, the
//! follower's request pipeline, the session protocol and the client library keep them — a write
//! answered only after its COMMIT, reads served by the follower with its own zxid, watch events
//! delivered before the reply that reflects them, an oversized packet costing the connection but
//! not the session. ZooKeeper's second recording, through a follower of a real ensemble, gave
//! the same 244 steps.
//!
//! How: each trace client is its own madsim node with a [`ClientEndpoint`] and one session whose
//! server list is just the chosen follower; the replay (on the supervisor) hands each step to
//! its client's node and awaits the answer, so steps run one at a time, in order. Reply header
//! zxids are what kazoo (the recorder) reads as `last_zxid`: the reply's zxid, which an error
//! reply carries too but only as the client's last seen zxid. Zxids are related to the
//! ensemble's own first created node (the zxid the first create's reply carries, in the
//! established epoch), as the recording's are to its own (see the parent module).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, StreamExt};
use serde_json::Value;

use super::{harness_failure, Action, ConformanceReport, Plan, Renderer, ReplayOptions, TraceError};
use crate::client::api::{ClientEvent, ZooKeeper};
use crate::client::{ClientConfig, KeeperState};
use crate::proto::{Code, Request, Response, SessionId, WatchedEvent, Zxid};
use crate::sim::client_node::{ClientEndpoint, SimClientTransport};
use crate::sim::cluster::{block_on_seed, Cluster, ClusterConfig};
use crate::sim::net::{ip_of, Addr, SharedConditions, CLIENT_ADDR_BASE};
use crate::sim::server_node::elapsed_ms;
use crate::zab::{ServerId, ServerState};

/// How long the ensemble may take to elect a leader and bring every server up to date.
const ESTABLISH_LIMIT_MS: i64 = 60_000;
/// How long a session may take to connect (or reconnect before a request).
const CONNECT_LIMIT_MS: i64 = 30_000;
/// How long one step may take before the replay gives up on it.
const STEP_LIMIT_MS: u64 = 120_000;

/// A step for a client's node.
enum Command {
    Connect { requested_timeout_ms: i32 },
    /// Wait `settle_ms` for events in flight, then hand over the watch events received.
    Events { settle_ms: u64 },
    Call(Request),
}

enum Answer {
    Connected { session: SessionId, negotiated_timeout_ms: i32 },
    Events(Vec<WatchedEvent>),
    /// The request's result and the client's last seen zxid afterwards.
    Done { result: Result<(Zxid, Response), Code>, last_zxid: Zxid },
    Failed(String),
}

type Envelope = (Command, oneshot::Sender<Answer>);

pub(super) fn replay(file: &str, plan: Plan, options: ReplayOptions, seed: u64) -> Result<ConformanceReport, TraceError> {
    let fail = |problem: String| TraceError { file: file.to_string(), step: None, problem };
    let result = std::thread::Builder::new()
        .name(format!("conformance-seed-{seed}"))
        .stack_size(64 << 20)
        .spawn(move || block_on_seed(seed, simulate(plan, options)))
        .map_err(|e| fail(format!("cannot start the simulation thread: {e}")))?
        .join();
    match result {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(problem)) => Err(fail(format!("ensemble target, seed {seed}: {problem}"))),
        Err(panic) => {
            let message = crate::sim::cluster::panic_message(panic.as_ref());
            Err(fail(format!("ensemble target, seed {seed}: the simulation panicked: {message}")))
        }
    }
}

fn cluster_config(plan: &Plan, options: &ReplayOptions) -> ClusterConfig {
    ClusterConfig {
        voters: 3,
        tick_time_ms: plan.tick_time_ms,
        max_session_timeout_ms: Some(options.max_session_timeout_ms),
        ..ClusterConfig::default()
    }
}

/// Runs the whole trace inside the simulation.
async fn simulate(plan: Plan, options: ReplayOptions) -> Result<ConformanceReport, String> {
    let config = cluster_config(&plan, &options);
    // Events are sent before the reply that follows them on the same connection; one from
    // another client's write is in flight for at most one network latency.
    let settle_ms = 4 * config.latency_ms.1.max(1);
    let cluster = Cluster::start(config);
    let follower = establish(&cluster).await?;
    // A new epoch's first txn is (epoch << 32) + 1, whatever the follower applied before.
    let view = cluster.view(follower);
    let before_first_step = view.last_zxid.max(view.current_epoch << 32);
    let mut renderer = Renderer::new(before_first_step, plan.base_abs_zxid);
    let mut clients: BTreeMap<String, mpsc::UnboundedSender<Envelope>> = BTreeMap::new();
    let mut report = ConformanceReport::default();
    let mut next_addr = CLIENT_ADDR_BASE + 1;
    for planned in &plan.steps {
        let step = &planned.step;
        let (got, got_hdr) = match &planned.action {
            Action::Connect { requested_timeout_ms } => {
                let commands = spawn_client(&step.client, next_addr, follower, Arc::clone(&cluster.ctx.conditions));
                next_addr += 1;
                clients.insert(step.client.clone(), commands);
                match ask(&clients[&step.client], Command::Connect { requested_timeout_ms: *requested_timeout_ms }).await {
                    Answer::Connected { session, negotiated_timeout_ms } => {
                        (renderer.connected(&step.client, session, negotiated_timeout_ms), None)
                    }
                    other => (unexpected(other), None),
                }
            }
            Action::Events => match ask(&clients[&step.client], Command::Events { settle_ms }).await {
                Answer::Events(events) => (Renderer::events(&events), None),
                other => (unexpected(other), None),
            },
            Action::Request(request) => match ask(&clients[&step.client], Command::Call(request.clone())).await {
                Answer::Done { result, last_zxid } => {
                    let hdr = match &result {
                        Ok((zxid, _)) => *zxid,
                        Err(_) => last_zxid,
                    };
                    let result = result.map(|(_, response)| response);
                    renderer.observe_reply(hdr, &result);
                    let got = renderer.outcome(step, request, result);
                    let got_hdr = (!matches!(request, Request::CloseSession)).then(|| renderer.rel(hdr));
                    (got, got_hdr)
                }
                other => (unexpected(other), None),
            },
        };
        report.score(step, got, got_hdr);
    }
    report.sim_trace_hash = Some(cluster.trace_hash());
    Ok(report)
}

fn unexpected(answer: Answer) -> Value {
    match answer {
        Answer::Failed(problem) => harness_failure(problem),
        _ => harness_failure("the client node gave an answer of the wrong kind"),
    }
}

/// Waits for a leader and every server in step with it; returns the follower to use (the
/// lowest-numbered one).
async fn establish(cluster: &Cluster) -> Result<ServerId, String> {
    let leader = cluster.wait_for_leader(ESTABLISH_LIMIT_MS).await.ok_or("no leader was elected within 60 s")?;
    if !cluster.wait_converged(ESTABLISH_LIMIT_MS).await {
        return Err("the servers did not converge within 60 s of the election".into());
    }
    cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader && cluster.view(id).state == Some(ServerState::Following))
        .ok_or_else(|| "no server is following the leader".into())
}

/// Hands a step to a client's node and waits for its answer.
async fn ask(commands: &mpsc::UnboundedSender<Envelope>, command: Command) -> Answer {
    let (tx, rx) = oneshot::channel();
    if commands.unbounded_send((command, tx)).is_err() {
        return Answer::Failed("the client's node is gone".into());
    }
    let limit = madsim::time::sleep(Duration::from_millis(STEP_LIMIT_MS)).fuse();
    let rx = rx.fuse();
    futures::pin_mut!(limit, rx);
    futures::select_biased! {
        answer = rx => answer.unwrap_or_else(|_| Answer::Failed("the client's node dropped the step".into())),
        _ = limit => Answer::Failed(format!("no answer within {} s", STEP_LIMIT_MS / 1_000)),
    }
}

/// Starts a node for one trace client; steps reach it through the returned sender.
fn spawn_client(name: &str, addr: Addr, follower: ServerId, conditions: SharedConditions) -> mpsc::UnboundedSender<Envelope> {
    let (tx, rx) = mpsc::unbounded::<Envelope>();
    // madsim's init must be re-runnable; this node is never restarted, so it takes the
    // receiver once.
    let rx = Arc::new(Mutex::new(Some(rx)));
    crate::sim::build_node(
        madsim::runtime::Handle::current()
            .create_node()
            .name(format!("trace-client-{name}"))
            .ip(ip_of(addr))
            .init(move || {
                let rx = rx.lock().unwrap_or_else(|p| p.into_inner()).take();
                let conditions = Arc::clone(&conditions);
                async move {
                    if let Some(rx) = rx {
                        client_main(addr, conditions, follower, rx).await;
                    }
                }
            })
    );
    tx
}

/// A trace client's node: one session at a time, one step at a time.
async fn client_main(addr: Addr, conditions: SharedConditions, follower: ServerId, mut steps: mpsc::UnboundedReceiver<Envelope>) {
    let mut endpoint = ClientEndpoint::bind(addr, conditions).await;
    let mut session: Option<ZooKeeper<SimClientTransport>> = None;
    while let Some((command, reply)) = steps.next().await {
        let answer = match (command, &session) {
            (Command::Connect { requested_timeout_ms }, _) => {
                let (zk, driver) = endpoint.session(ClientConfig::new(vec![follower as i64], requested_timeout_ms));
                madsim::task::spawn_local(driver.run());
                let answer = if wait_connected(&zk).await {
                    Answer::Connected { session: zk.session_id(), negotiated_timeout_ms: zk.with_core(|c| c.negotiated_timeout_ms()) }
                } else {
                    Answer::Failed(format!("no connection within {} s", CONNECT_LIMIT_MS / 1_000))
                };
                session = Some(zk);
                answer
            }
            (_, None) => Answer::Failed("no session".into()),
            (Command::Events { settle_ms }, Some(zk)) => {
                madsim::time::sleep(Duration::from_millis(settle_ms)).await;
                Answer::Events(received_watch_events(zk))
            }
            (Command::Call(request), Some(zk)) => call(zk, request).await,
        };
        let _ = reply.send(answer);
    }
}

/// Sends a request once the session is connected (a kazoo client reconnects in the background
/// between steps; `close` must reach the server to end the session there).
async fn call(zk: &ZooKeeper<SimClientTransport>, request: Request) -> Answer {
    wait_connected(zk).await;
    let result = if request == Request::CloseSession {
        zk.close().await.map(|()| (zk.last_zxid(), Response::Empty))
    } else {
        zk.call(request).await
    };
    Answer::Done { result, last_zxid: zk.last_zxid() }
}

fn received_watch_events(zk: &ZooKeeper<SimClientTransport>) -> Vec<WatchedEvent> {
    std::iter::from_fn(|| zk.try_next_event())
        .filter_map(|event| match event {
            ClientEvent::Watch(w) => Some(w),
            ClientEvent::State(_) => None,
        })
        .collect()
}

/// Waits until the session is connected; false after [`CONNECT_LIMIT_MS`] or once it ended.
async fn wait_connected(zk: &ZooKeeper<SimClientTransport>) -> bool {
    let end = elapsed_ms() + CONNECT_LIMIT_MS;
    while elapsed_ms() < end {
        match zk.state() {
            Some(KeeperState::SyncConnected) => return true,
            Some(KeeperState::Expired | KeeperState::AuthFailed | KeeperState::Closed) => return false,
            _ => madsim::time::sleep(Duration::from_millis(5)).await,
        }
    }
    false
}
