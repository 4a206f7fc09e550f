//! What a run does to the ensemble as a whole, outside the workload: heal every fault, run a
//! helper client on its own node, read the final state of the keys, and describe each
//! replica for the history's `final` line.
//!
//! Why its own file: the plain liveness phase (`runner`) and the phase that keeps faults on a
//! minority (`liveness`) both end a run this way; neither should have to reach into the other.

use std::collections::BTreeMap;

use super::recorder::Recorder;
use super::workload::{spawn_session, wait_connected};
use crate::history::record::{NodeRecord, ReplicaRecord};
use crate::sim::client_node::{spawn_client_host, ClientEndpoint};
use crate::sim::cluster::Cluster;
use crate::sim::net::{Addr, SharedConditions, CLIENT_ADDR_BASE};
use crate::sim::server_node::elapsed_ms;
use crate::zab::ServerState;

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

/// Runs `body` on a fresh client host of the cluster's network and returns what it returns.
pub(super) async fn on_client_node<T, F, Fut>(name: &str, addr: Addr, conditions: SharedConditions, body: F) -> Option<T>
where
    T: Send + 'static,
    F: Fn(ClientEndpoint) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    spawn_client_host(name, addr, conditions, body).1.await.ok()
}

pub(super) fn node_record(data: &[u8], stat: &crate::proto::Stat) -> NodeRecord {
    NodeRecord { value: Some(String::from_utf8_lossy(data).into_owned()), version: stat.version, mzxid: stat.mzxid, czxid: Some(stat.czxid), ..NodeRecord::default() }
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

/// `s1 following s3, not serving, at 0x200000005 (currentEpoch 2)` — a server's view in words.
pub(super) fn describe_view(id: u64, v: &crate::sim::server_node::ServerView) -> String {
    if let Some(reason) = &v.exited {
        return format!("s{id} exited ({reason})");
    }
    if !v.up {
        return format!("s{id} down");
    }
    let role = match (v.state, v.leader) {
        (Some(ServerState::Leading), _) => "leading".to_string(),
        (Some(ServerState::Following), Some(l)) => format!("following s{l}"),
        (Some(ServerState::Observing), Some(l)) => format!("observing s{l}"),
        _ => "looking".to_string(),
    };
    let serving = if v.serving { "serving" } else { "not serving" };
    format!("s{id} {role}, {serving}, at {:#x} (currentEpoch {}, digest {:016x})", v.last_zxid, v.current_epoch, v.digest)
}

/// Servers that kept refusing their leader's older epoch (the last refusal of each), in words:
/// the cause of a stall ZooKeeper 3.8 has too (README, *Faults that do not heal*).
pub fn epoch_refusals(cluster: &Cluster) -> String {
    let log = cluster.ctx.server_log.lock().expect("server log");
    let mut last: BTreeMap<u64, (Option<u64>, Option<i64>, String)> = BTreeMap::new();
    for e in log.events.iter().filter(|e| e.event == "epoch_refused") {
        last.insert(e.server, (e.peer, e.epoch, e.detail.clone()));
    }
    last.iter()
        .map(|(server, (leader, epoch, accepted))| {
            let leader = leader.map(|l| format!("s{l}")).unwrap_or_else(|| "its leader".into());
            format!(
                "; s{server} refuses {leader}'s epoch {} at every rejoin ({accepted} is newer: an attempt that never established; ZooKeeper 3.8's registerWithLeader does the same)",
                epoch.unwrap_or(0)
            )
        })
        .collect()
}
