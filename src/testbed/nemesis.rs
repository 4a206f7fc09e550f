//! The nemesis: turns a scenario's explicit schedule and random fault rates into a timed plan
//! (drawn from the seed), and applies it to the cluster.
//!
//! Why a plan first: the plan is data — printed, recorded in the history, shrinkable by
//! `zksim shrink` — and its execution is the only place that touches the cluster.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use madsim::task::NodeId;

use super::recorder::Recorder;
use super::scenario::{Fault, Scenario, DISK_FAULT_KINDS, FAULT_KINDS};
use crate::sim::fault_points::{Firing, PointRule, POINT_ACTIONS};
use crate::zab::FaultPoint;
use crate::sim::cluster::Cluster;
use crate::sim::net::Addr;
use crate::zab::ServerId;

/// Draws the random faults of a scenario into explicit ones; the result replays exactly.
pub fn plan(scenario: &Scenario, seed: u64) -> Vec<Fault> {
    let mut faults = scenario.nemesis.schedule.clone();
    if let Some(random) = &scenario.nemesis.random {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_6d65_7369_73);
        let kinds: Vec<String> = if random.swarm {
            // Swarm testing: the seed picks which fault kinds this run uses.
            let pool: Vec<&str> = if random.kinds.is_empty() { FAULT_KINDS.to_vec() } else { random.kinds.iter().map(String::as_str).collect() };
            let mut chosen: Vec<String> = pool.iter().filter(|_| rng.gen_bool(0.5)).map(|k| k.to_string()).collect();
            if chosen.is_empty() {
                chosen.push(pool.choose(&mut rng).expect("non-empty pool").to_string());
            }
            chosen
        } else {
            random.kinds.clone()
        };
        let rate = if random.swarm { rng.gen_range(0.5..2.0) } else { 1.0 };
        let mut t = 0.0;
        loop {
            t += rng.gen_range(random.interval_s[0]..=random.interval_s[1]) / rate;
            if t >= scenario.duration_s as f64 {
                break;
            }
            let kind = kinds.choose(&mut rng).expect("kinds").clone();
            let duration = rng.gen_range(random.duration_s[0]..=random.duration_s[1]);
            let mut fault = random_fault(&mut rng, &kind, t, duration);
            if DISK_FAULT_KINDS.contains(&kind.as_str()) && !random.disk_targets.is_empty() {
                fault.target = random.disk_targets.choose(&mut rng).map(|id| id.to_string());
            }
            faults.push(fault);
        }
    }
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    faults
}

/// The fault points a run arms: the scenario's explicit rules plus those its seed draws.
pub fn plan_points(scenario: &Scenario, seed: u64) -> Vec<PointRule> {
    let mut rules = scenario.nemesis.points.clone();
    let Some(r) = &scenario.nemesis.random_points else { return rules };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6172_6d65_6421);
    let points: Vec<FaultPoint> =
        if r.points.is_empty() { FaultPoint::ALL.to_vec() } else { r.points.iter().filter_map(|p| FaultPoint::parse(p)).collect() };
    let actions: Vec<&str> = if r.actions.is_empty() { POINT_ACTIONS.to_vec() } else { r.actions.iter().map(String::as_str).collect() };
    let count = rng.gen_range(r.rules[0]..=r.rules[1]);
    for _ in 0..count {
        let point = *points.choose(&mut rng).expect("points");
        let action = actions.choose(&mut rng).expect("actions").to_string();
        let mut probability = rng.gen_range(r.probability[0]..=r.probability[1]);
        if point.is_per_txn() {
            probability /= 100.0;
        }
        let duration_s = (rng.gen_range(r.duration_s[0]..=r.duration_s[1]) * 10.0).round() / 10.0;
        let max = rng.gen_range(r.max[0]..=r.max[1]);
        let value = (action == "delay_fsync").then(|| rng.gen_range(100.0f64..2_000.0).round());
        rules.push(PointRule {
            on: point.name().to_string(),
            server: None,
            action,
            nth: None,
            probability: Some((probability * 10_000.0).round().max(1.0) / 10_000.0),
            max: Some(max),
            duration_s: Some(duration_s),
            value,
        });
    }
    rules
}

pub(crate) fn random_fault(rng: &mut ChaCha8Rng, kind: &str, at_s: f64, duration_s: f64) -> Fault {
    let targets = ["leader", "follower", "random"];
    let mut f = Fault { at_s, action: kind.to_string(), target: None, kind: None, value: None, duration_s: Some(duration_s) };
    match kind {
        "kill" | "pause" => f.target = Some(targets.choose(rng).expect("targets").to_string()),
        "partition" => {
            let kinds = ["halves", "isolate_leader", "isolate_one", "bridge", "majority_minority"];
            f.kind = Some(kinds.choose(rng).expect("kinds").to_string());
        }
        "one_way" => f.target = Some(targets.choose(rng).expect("targets").to_string()),
        "pause_client" | "isolate_client" => f.target = Some(["holder", "random"].choose(rng).expect("targets").to_string()),
        "latency" => {
            f.target = Some("random".into());
            f.value = Some(rng.gen_range(50.0..500.0));
        }
        "loss" => f.value = Some(rng.gen_range(0.05..0.3)),
        "drift" => {
            f.target = Some("random".into());
            f.value = Some(rng.gen_range(0.8..1.25));
        }
        k if DISK_FAULT_KINDS.contains(&k) => f.target = Some(targets.choose(rng).expect("targets").to_string()),
        _ => {}
    }
    f
}

/// Applies faults to a cluster and remembers what to undo in the liveness phase.
pub struct Nemesis {
    rng: ChaCha8Rng,
    /// (time ms, undo) pending.
    pub undo: Vec<(i64, Undo)>,
    /// The workload's client hosts, for client faults.
    clients: Vec<ClientHost>,
    /// The client (number) holding the lock now, if the workload says.
    holder: Arc<Mutex<Option<usize>>>,
    paused_clients: BTreeSet<usize>,
    /// Servers whose disk the nemesis damaged (bit rot, a cut snapshot) since their last wipe:
    /// a refusal to start is what they may legitimately do.
    pub damaged: BTreeSet<ServerId>,
    /// Armed epoch crashes: how long the server stays down once it strikes.
    epoch_crash_down_ms: std::collections::BTreeMap<ServerId, i64>,
    /// Acknowledged txns that no surviving disk held when a wipe emptied the only ones that
    /// did: the loss the checker must report (the oracle of the majority-corruption scenario).
    pub acked_lost: BTreeSet<crate::proto::Zxid>,
    /// Per (server, disk error): when it was last recorded and how often it came again since.
    disk_error_streak: std::collections::BTreeMap<(ServerId, String), (i64, u64)>,
}

/// A workload client's host: its number (1-based), address and madsim node.
#[derive(Clone, Debug)]
pub struct ClientHost {
    pub client: usize,
    pub addr: Addr,
    pub node: NodeId,
}

#[derive(Clone, Debug)]
pub enum Undo {
    Restart(ServerId),
    Resume(ServerId),
    Heal,
    RestartAll,
    Drift(ServerId),
    ResumeClient(usize),
    /// Clear a full disk and failing fsyncs.
    DiskHeal(ServerId),
}

impl Nemesis {
    pub fn new(seed: u64) -> Nemesis {
        Nemesis {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6170_706c_79),
            undo: Vec::new(),
            clients: Vec::new(),
            holder: Arc::default(),
            paused_clients: BTreeSet::new(),
            damaged: BTreeSet::new(),
            epoch_crash_down_ms: Default::default(),
            acked_lost: BTreeSet::new(),
            disk_error_streak: Default::default(),
        }
    }

    /// Lets client faults reach the workload's hosts; `holder` names the lock holder.
    pub fn with_clients(mut self, clients: Vec<ClientHost>, holder: Arc<Mutex<Option<usize>>>) -> Nemesis {
        self.clients = clients;
        self.holder = holder;
        self
    }

    fn resolve_client(&mut self, target: Option<&str>) -> Option<ClientHost> {
        let by_number = |n: usize, clients: &[ClientHost]| clients.iter().find(|c| c.client == n).cloned();
        match target.unwrap_or("random") {
            "holder" => match *self.holder.lock().expect("holder") {
                Some(n) => by_number(n, &self.clients),
                None => self.clients.choose(&mut self.rng).cloned(),
            },
            "random" => self.clients.choose(&mut self.rng).cloned(),
            n => n.parse().ok().and_then(|n| by_number(n, &self.clients)),
        }
    }

    fn resume_client(&mut self, client: usize) {
        if self.paused_clients.remove(&client) {
            if let Some(host) = self.clients.iter().find(|c| c.client == client) {
                madsim::runtime::Handle::current().resume(host.node);
            }
        }
    }

    fn resolve(&mut self, cluster: &Cluster, target: Option<&str>) -> Option<ServerId> {
        let ids = cluster.ids();
        let leader = cluster.leader();
        match target.unwrap_or("random") {
            "leader" => leader.or_else(|| ids.choose(&mut self.rng).copied()),
            "follower" => {
                let followers: Vec<ServerId> = ids.iter().copied().filter(|&id| Some(id) != leader && cluster.config.voters as u64 >= id).collect();
                followers.choose(&mut self.rng).copied()
            }
            "observer" => ids.iter().copied().filter(|&id| id > cluster.config.voters as u64).collect::<Vec<_>>().choose(&mut self.rng).copied(),
            "random" => ids.choose(&mut self.rng).copied(),
            id => id.parse().ok(),
        }
    }

    /// Applies one fault now (time `now_ms`), recording it.
    pub fn apply(&mut self, cluster: &mut Cluster, recorder: &mut Recorder, fault: &Fault, now_ms: i64) {
        let t_ns = (now_ms as u64) * 1_000_000;
        let until = fault.duration_s.map(|d| now_ms + (d * 1_000.0) as i64);
        match fault.action.as_str() {
            "kill" => {
                if let Some(id) = self.resolve(cluster, fault.target.as_deref()) {
                    cluster.kill(id);
                    recorder.nemesis(t_ns, "kill", Some(id), "");
                    self.schedule(until, Undo::Restart(id));
                }
            }
            "restart" => {
                if let Some(id) = self.resolve(cluster, fault.target.as_deref()) {
                    cluster.restart(id);
                    recorder.nemesis(t_ns, "restart", Some(id), "");
                }
            }
            "pause" => {
                if let Some(id) = self.resolve(cluster, fault.target.as_deref()) {
                    cluster.pause(id);
                    recorder.nemesis(t_ns, "pause", Some(id), "");
                    self.schedule(until, Undo::Resume(id));
                }
            }
            "resume" => {
                if let Some(id) = self.resolve(cluster, fault.target.as_deref()) {
                    cluster.resume(id);
                    recorder.nemesis(t_ns, "resume", Some(id), "");
                }
            }
            "partition" => {
                let (a, b) = self.partition_sides(cluster, fault.kind.as_deref().unwrap_or("halves"), fault.target.as_deref());
                cluster.partition(&a, &b);
                recorder.nemesis(t_ns, "partition", None, &format!("{a:?} | {b:?}"));
                self.schedule(until, Undo::Heal);
            }
            "one_way" => {
                if let Some(from) = self.resolve(cluster, fault.target.as_deref()) {
                    let others: Vec<ServerId> = cluster.ids().into_iter().filter(|&id| id != from).collect();
                    if let Some(&to) = others.choose(&mut self.rng) {
                        cluster.cut_one_way(from, to);
                        recorder.nemesis(t_ns, "one_way", Some(from), &format!("{from} -/-> {to}"));
                        self.schedule(until, Undo::Heal);
                    }
                }
            }
            "latency" => {
                if let Some(id) = self.resolve(cluster, fault.target.as_deref()) {
                    let ms = fault.value.unwrap_or(100.0) as u64;
                    cluster.conditions().extra_delay_ms.insert(id, ms);
                    recorder.nemesis(t_ns, "latency", Some(id), &format!("+{ms} ms"));
                    self.schedule(until, Undo::Heal);
                }
            }
            "loss" => {
                let p = fault.value.unwrap_or(0.1);
                cluster.conditions().loss_rate = p;
                recorder.nemesis(t_ns, "loss", None, &format!("{p:.2}"));
                self.schedule(until, Undo::Heal);
            }
            "drift" => {
                if let Some(id) = self.resolve(cluster, fault.target.as_deref()) {
                    let rate = fault.value.unwrap_or(1.1);
                    cluster.set_clock_rate(id, rate);
                    recorder.nemesis(t_ns, "drift", Some(id), &format!("rate {rate:.2}"));
                    self.schedule(until, Undo::Drift(id));
                }
            }
            "heal" => {
                cluster.heal();
                recorder.nemesis(t_ns, "heal", None, "");
            }
            "power_loss" => {
                for id in cluster.ids() {
                    cluster.kill(id);
                }
                recorder.nemesis(t_ns, "power_loss", None, "every server killed");
                self.schedule(until.or(Some(now_ms + 1_000)), Undo::RestartAll);
            }
            "restart_all" => {
                for id in cluster.ids() {
                    cluster.restart(id);
                }
                recorder.nemesis(t_ns, "restart_all", None, "");
            }
            "rolling_restart" => {
                let gap_ms = fault.duration_s.map_or(3_000, |d| (d * 1_000.0) as i64).max(500);
                for (i, id) in cluster.ids().into_iter().enumerate() {
                    let at = now_ms + gap_ms * i as i64;
                    self.undo.push((at, Undo::Restart(id)));
                    if i == 0 {
                        cluster.kill(id);
                    }
                }
                recorder.nemesis(t_ns, "rolling_restart", None, &format!("one server every {gap_ms} ms"));
            }
            "pause_client" => {
                if let Some(host) = self.resolve_client(fault.target.as_deref()) {
                    if self.paused_clients.insert(host.client) {
                        madsim::runtime::Handle::current().pause(host.node);
                    }
                    recorder.nemesis(t_ns, "pause_client", None, &format!("client {}", host.client));
                    self.schedule(until, Undo::ResumeClient(host.client));
                }
            }
            "isolate_client" => {
                if let Some(host) = self.resolve_client(fault.target.as_deref()) {
                    cluster.conditions().partition(&[host.addr], &cluster.ids());
                    recorder.nemesis(t_ns, "isolate_client", None, &format!("client {} cut from every server", host.client));
                    self.schedule(until, Undo::Heal);
                }
            }
            action if DISK_FAULT_KINDS.contains(&action) || action == "wipe" => self.apply_disk(cluster, recorder, fault, now_ms),
            other => tracing::warn!(action = other, "unknown nemesis action ignored"),
        }
    }

    /// The disk faults (`storage::damage`, `SimDisk`): what each does is in the scenario's
    /// `DISK_FAULT_KINDS`; ZooKeeper's reaction is the server's (`zab::persistence`, recovery).
    fn apply_disk(&mut self, cluster: &mut Cluster, recorder: &mut Recorder, fault: &Fault, now_ms: i64) {
        use crate::storage::damage;
        let t_ns = (now_ms as u64) * 1_000_000;
        let until = fault.duration_s.map(|d| now_ms + (d * 1_000.0) as i64);
        let Some(id) = self.resolve(cluster, fault.target.as_deref()) else { return };
        let action = fault.action.as_str();
        match action {
            "log_bitflip" | "snapshot_bitflip" | "snapshot_cut" => {
                // Power is lost (unsynced bytes gone), then the disk rots; the restart reads it.
                cluster.kill(id);
                let rng = &mut self.rng;
                let mut choose = |n: usize| rng.gen_range(0..n.max(1));
                let hit = cluster.with_disk(id, |disk| match action {
                    "log_bitflip" => damage::flip_log_bit(disk, &mut choose),
                    "snapshot_bitflip" => damage::flip_snapshot_bit(disk, &mut choose),
                    _ => damage::cut_snapshot(disk, &mut choose),
                });
                let detail = match &hit {
                    Some(d) => {
                        self.damaged.insert(id);
                        format!("power lost, then {}", d.describe())
                    }
                    None => "power lost; nothing to damage (no synced record after the newest snapshot / no valid snapshot)".to_string(),
                };
                recorder.nemesis(t_ns, action, Some(id), &detail);
                self.schedule(until.or(Some(now_ms + 1_000)), Undo::Restart(id));
            }
            "fsync_error" | "disk_full" => {
                let mut faults = cluster.disk_faults(id);
                if action == "disk_full" {
                    faults.full = true;
                } else {
                    faults.fsync_fails = true;
                }
                cluster.set_disk_faults(id, faults);
                let what = if action == "disk_full" { "disk full: writes needing space fail" } else { "every fsync fails" };
                recorder.nemesis(t_ns, action, Some(id), what);
                self.schedule(until, Undo::DiskHeal(id));
            }
            "epoch_tmp_crash" => {
                cluster.arm_epoch_crash(id, true);
                self.epoch_crash_down_ms.insert(id, until.map_or(1_000, |u| u - now_ms));
                recorder.nemesis(t_ns, action, Some(id), "armed: the next acceptedEpoch/currentEpoch write loses power between its tmp copy and the rename");
            }
            "wipe" => self.wipe(cluster, recorder, &[id], now_ms, "operator empties the data directory"),
            other => unreachable!("not a disk fault: {other}"),
        }
    }

    /// Empties the data directories of `ids` (each loses power first) and starts them again,
    /// noting which acknowledged txns no other server's disk still holds.
    pub fn wipe(&mut self, cluster: &mut Cluster, recorder: &mut Recorder, ids: &[ServerId], now_ms: i64, why: &str) {
        let t_ns = (now_ms as u64) * 1_000_000;
        for &id in ids {
            cluster.kill(id);
        }
        let lost = acked_held_by_none(cluster, ids);
        for &id in ids {
            cluster.with_disk(id, |disk| disk.wipe());
            self.damaged.remove(&id);
            let loss = match (lost.first(), lost.len()) {
                (Some(first), n) => format!("; {n} acknowledged txns are on no other disk (first {})", crate::zab::zxid_str(*first)),
                (None, _) => String::new(),
            };
            recorder.nemesis(t_ns, "wipe", Some(id), &format!("{why}{loss}"));
            cluster.restart(id);
            recorder.nemesis(t_ns, "restart", Some(id), "after the wipe");
        }
        self.acked_lost.extend(lost);
    }

    /// A server's shell reported something (`sim::events`): record it; complete a disk-caused
    /// crash (kill the node now, restart it later).
    pub fn on_server_event(&mut self, cluster: &mut Cluster, recorder: &mut Recorder, event: &crate::sim::events::ServerEvent, now_ms: i64) {
        use crate::sim::events::ServerEventKind;
        let t_ns = (event.time_ms.max(0) as u64) * 1_000_000;
        let server = event.server;
        match &event.kind {
            ServerEventKind::RefusedToStart { reason } => recorder.nemesis(t_ns, "refused_to_start", Some(server), reason),
            ServerEventKind::Recovered { detail } => recorder.nemesis(t_ns, "recovered", Some(server), detail),
            ServerEventKind::DiskError { detail, reaction } => {
                // A server on a full disk fails the same way at every rejoin (ZooKeeper too):
                // one line per second per server, with the count of repeats.
                let key = (server, detail.clone());
                let (last_ms, repeats) = self.disk_error_streak.get(&key).copied().unwrap_or((event.time_ms - 1_000, 0));
                if event.time_ms - last_ms < 1_000 {
                    self.disk_error_streak.insert(key, (last_ms, repeats + 1));
                    return;
                }
                let again = if repeats > 0 { format!(" (and {repeats} times more within the second before)") } else { String::new() };
                recorder.nemesis(t_ns, "disk_error", Some(server), &format!("{detail}: {reaction}{again}"));
                self.disk_error_streak.insert(key, (event.time_ms, 0));
            }
            ServerEventKind::PowerFailure { detail } => {
                cluster.kill(server);
                recorder.nemesis(t_ns, "power_failure", Some(server), detail);
                let down_ms = self.epoch_crash_down_ms.remove(&server).unwrap_or(1_000);
                self.schedule(Some(now_ms + down_ms), Undo::Restart(server));
            }
        }
    }

    /// Applies a fault point's firing: the struck server already stopped (a crash) or waits
    /// (held) at its passage; this does the rest at the same instant and records it.
    pub fn apply_firing(&mut self, cluster: &mut Cluster, recorder: &mut Recorder, firing: &Firing, now_ms: i64) {
        let t_ns = (now_ms as u64) * 1_000_000;
        let until = Some(now_ms + firing.duration_ms.max(0));
        let at = firing.describe();
        let server = firing.server;
        let peer = firing.peer.filter(|&p| p != server && cluster.ids().contains(&p));
        match firing.action.as_str() {
            "kill" => {
                cluster.kill(server);
                recorder.nemesis(t_ns, "kill", Some(server), &at);
                self.schedule(until, Undo::Restart(server));
            }
            "kill_pair" => {
                cluster.kill(server);
                recorder.nemesis(t_ns, "kill", Some(server), &at);
                self.schedule(until, Undo::Restart(server));
                if let Some(peer) = peer.filter(|&p| !cluster.is_down(p)) {
                    cluster.kill(peer);
                    recorder.nemesis(t_ns, "kill", Some(peer), &format!("{at}: its peer, down 3x as long"));
                    self.schedule(Some(now_ms + 3 * firing.duration_ms.max(0)), Undo::Restart(peer));
                }
            }
            "kill_peer" => {
                if let Some(peer) = peer.filter(|&p| !cluster.is_down(p)) {
                    cluster.kill(peer);
                    recorder.nemesis(t_ns, "kill", Some(peer), &format!("{at}: its peer"));
                    self.schedule(until, Undo::Restart(peer));
                }
            }
            "power_loss" => {
                for id in cluster.ids() {
                    cluster.kill(id);
                }
                recorder.nemesis(t_ns, "power_loss", Some(server), &format!("{at}: every server killed"));
                self.schedule(until, Undo::RestartAll);
            }
            "pause" => {
                cluster.pause(server);
                recorder.nemesis(t_ns, "pause", Some(server), &at);
                self.schedule(until, Undo::Resume(server));
            }
            "isolate" => {
                let others: Vec<ServerId> = cluster.ids().into_iter().filter(|&id| id != server).collect();
                cluster.partition(&[server], &others);
                recorder.nemesis(t_ns, "partition", Some(server), &format!("{at}: [{server}] | {others:?}"));
                self.schedule(until, Undo::Heal);
            }
            "disconnect" => {
                let other = peer.or_else(|| cluster.leader().filter(|&l| l != server));
                if let Some(other) = other {
                    cluster.partition(&[server], &[other]);
                    recorder.nemesis(t_ns, "partition", Some(server), &format!("{at}: link s{server} - s{other} cut"));
                    self.schedule(until, Undo::Heal);
                }
            }
            "drop_clients" => {
                // The struck server closed its client connections itself (Strike::DropClients).
                recorder.nemesis(t_ns, "drop_clients", Some(server), &format!("{at}: every client connection closed"));
            }
            "delay_fsync" => {
                let ms = firing.value.unwrap_or(500.0);
                recorder.nemesis(t_ns, "delay_fsync", Some(server), &format!("{at}: next fsync +{ms} ms"));
            }
            other => tracing::warn!(action = other, "unknown fault-point action ignored"),
        }
    }

    fn schedule(&mut self, until: Option<i64>, undo: Undo) {
        if let Some(at) = until {
            self.undo.push((at, undo));
        }
    }

    /// The two sides of a partition. `isolate_one` cuts off `target` when one is given
    /// (`follower`, `leader`, `random` or an id), else a random server.
    fn partition_sides(&mut self, cluster: &Cluster, kind: &str, target: Option<&str>) -> (Vec<ServerId>, Vec<ServerId>) {
        let mut ids = cluster.ids();
        let n = ids.len();
        match kind {
            "isolate_leader" => {
                let leader = cluster.leader().unwrap_or(ids[n - 1]);
                (vec![leader], ids.into_iter().filter(|&id| id != leader).collect())
            }
            "isolate_one" => {
                let one = match target {
                    Some(target) => self.resolve(cluster, Some(target)).unwrap_or(ids[0]),
                    None => *ids.choose(&mut self.rng).expect("servers"),
                };
                (vec![one], ids.into_iter().filter(|&id| id != one).collect())
            }
            "bridge" => {
                // Two halves that cannot talk; the server left out of both talks to both.
                ids.shuffle(&mut self.rng);
                ids.pop().expect("servers");
                let half = ids.len() / 2;
                (ids[..half].to_vec(), ids[half..].to_vec())
            }
            "majority_minority" => {
                ids.shuffle(&mut self.rng);
                let minority = (n - 1) / 2;
                (ids[..minority].to_vec(), ids[minority..].to_vec())
            }
            _ => {
                ids.shuffle(&mut self.rng);
                let half = n / 2;
                (ids[..half].to_vec(), ids[half..].to_vec())
            }
        }
    }

    /// Undoes what is due by `now_ms` (or everything, with `all`).
    pub fn undo_due(&mut self, cluster: &mut Cluster, recorder: &mut Recorder, now_ms: i64, all: bool) {
        let mut due: Vec<(i64, Undo)> = Vec::new();
        self.undo.retain(|(at, u)| {
            if all || *at <= now_ms {
                due.push((*at, u.clone()));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(at, _)| *at);
        if all {
            for client in self.paused_clients.clone() {
                due.push((now_ms, Undo::ResumeClient(client)));
            }
        }
        let t_ns = (now_ms as u64) * 1_000_000;
        for (_, undo) in due {
            match undo {
                Undo::Restart(id) => {
                    cluster.restart(id);
                    recorder.nemesis(t_ns, "restart", Some(id), "");
                }
                Undo::Resume(id) => {
                    cluster.resume(id);
                    recorder.nemesis(t_ns, "resume", Some(id), "");
                }
                Undo::Heal => {
                    cluster.heal();
                    recorder.nemesis(t_ns, "heal", None, "");
                }
                Undo::RestartAll => {
                    for id in cluster.ids() {
                        cluster.restart(id);
                    }
                    recorder.nemesis(t_ns, "restart_all", None, "");
                }
                Undo::Drift(id) => {
                    cluster.set_clock_rate(id, 1.0);
                    recorder.nemesis(t_ns, "drift_reset", Some(id), "clock rate 1.00");
                }
                Undo::DiskHeal(id) => {
                    cluster.set_disk_faults(id, Default::default());
                    recorder.nemesis(t_ns, "disk_heal", Some(id), "");
                }
                Undo::ResumeClient(client) => {
                    self.resume_client(client);
                    recorder.nemesis(t_ns, "resume_client", None, &format!("client {client}"));
                }
            }
        }
    }

    /// The next undo time, if any.
    pub fn next_undo_ms(&self) -> Option<i64> {
        self.undo.iter().map(|(at, _)| *at).min()
    }
}

/// The acknowledged zxids that no server outside `wiped` holds on its durable disk (in a log
/// record, or under a snapshot's zxid). A server whose files do not recover holds nothing.
pub fn acked_held_by_none(cluster: &Cluster, wiped: &[ServerId]) -> Vec<crate::proto::Zxid> {
    let acked: Vec<crate::proto::Zxid> = cluster.invariants().acknowledged().iter().copied().collect();
    if acked.is_empty() {
        return Vec::new();
    }
    let mut holders: Vec<(crate::proto::Zxid, BTreeSet<crate::proto::Zxid>)> = Vec::new();
    for id in cluster.ids().into_iter().filter(|id| !wiped.contains(id)) {
        let Ok(recovered) = cluster.shared[&id].durable_recovered() else { continue };
        let snapshot_zxid = recovered.snapshot.iter().map(|(z, _)| *z).chain(recovered.older_snapshots.iter().map(|s| s.last_zxid)).max().unwrap_or(0);
        let logged = recovered.older_log.iter().chain(recovered.log.iter()).map(|e| e.header.zxid).collect();
        holders.push((snapshot_zxid, logged));
    }
    acked.into_iter().filter(|z| !holders.iter().any(|(snap, logged)| z <= snap || logged.contains(z))).collect()
}
