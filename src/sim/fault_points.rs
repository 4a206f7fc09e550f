//! The shell's answer to fault points: which passages strike (kill, power loss, pause, cut,
//! slow fsync), how often each point passed (coverage probes), and what fired.
//!
//! Why here and not in the core: the core reports passages ([`crate::zab::fault_point`]) and
//! stays free of randomness; every decision is made here, from rules the scenario wrote or the
//! seed drew, with a private RNG so that arming more or fewer points never moves any other
//! random draw of the run. Decisions depend only on the order of passages, which the seed fixes,
//! so a run with points armed replays bit for bit.
//!
//! A rule fires at its `nth` matching passage, or with `probability` at each, at most `max`
//! times; only while armed (the workload's fault phase, never setup or the liveness phase), and
//! never more than the run's bound on firings. Each firing is turned into an explicit rule
//! (`on`, the server's id, the `nth` passage of that point on that server) so `zksim shrink` can
//! replace a probabilistic arming by exactly what happened, then drop firings one by one.

use std::collections::BTreeMap;

use futures::channel::mpsc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::zab::{FaultPoint, Passage, ServerId, ServerState};

/// Storage probes: a fuzzy snapshot walk during which two or more commits were applied, a
/// crash that tore the last unsynced append, a recovery that cut a torn log tail.
pub const STORAGE_WALK_INTERLEAVED: &str = "fuzzy_snapshot_interleaved";
pub const STORAGE_TORN_WRITE: &str = "torn_write";
pub const STORAGE_TORN_TAIL_CUT: &str = "torn_tail_cut";

/// What a rule does when it fires.
pub const POINT_ACTIONS: [&str; 9] =
    ["kill", "kill_peer", "kill_pair", "power_loss", "pause", "isolate", "disconnect", "delay_fsync", "drop_clients"];

/// A fault armed at a fault point (a scenario's `nemesis.points` entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointRule {
    /// The point's name (`zksim list`).
    pub on: String,
    /// Which server's passages count: `any` (default), `leader`, `follower`, `observer`,
    /// `looking`, or a server id — the server's role when it passes the point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// kill | kill_peer | kill_pair | power_loss | pause | isolate | disconnect | delay_fsync |
    /// drop_clients.
    pub action: String,
    /// Fire at the nth matching passage (1-based) of the fault phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Or fire with this probability at each matching passage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Most firings of this rule (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Undo after this many seconds (restart, resume, heal); default 1 s. For `kill_pair` the
    /// peer stays down three times as long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// `delay_fsync`: extra milliseconds of the server's next fsync (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

impl PointRule {
    /// Checks names and ranges; the error names the field.
    pub fn validate(&self, servers: u64) -> Result<(), String> {
        if FaultPoint::parse(&self.on).is_none() {
            let known: Vec<&str> = FaultPoint::ALL.iter().map(|p| p.name()).collect();
            return Err(format!("`on`: unknown fault point `{}` (known: {})", self.on, known.join(", ")));
        }
        if !POINT_ACTIONS.contains(&self.action.as_str()) {
            return Err(format!("`action`: unknown fault-point action `{}` (known: {})", self.action, POINT_ACTIONS.join(", ")));
        }
        if let Some(server) = &self.server {
            let named = matches!(server.as_str(), "any" | "leader" | "follower" | "observer" | "looking");
            let id_ok = server.parse::<u64>().is_ok_and(|id| id >= 1 && id <= servers);
            if !named && !id_ok {
                return Err(format!("`server`: expected any, leader, follower, observer, looking or a server id 1..={servers}, got `{server}`"));
            }
        }
        match (self.nth, self.probability) {
            (Some(_), Some(_)) => return Err("`nth` and `probability`: give one, not both".into()),
            (None, None) => return Err("`nth` or `probability`: one is required".into()),
            (Some(0), _) => return Err("`nth`: passages count from 1".into()),
            (_, Some(p)) if !(p > 0.0 && p <= 1.0) => return Err(format!("`probability`: expected (0, 1], got {p}")),
            _ => {}
        }
        if self.max == Some(0) {
            return Err("`max`: expected at least 1".into());
        }
        if self.duration_s.is_some_and(|d| !(0.0..=3_600.0).contains(&d)) {
            return Err("`duration_s`: expected 0..=3600".into());
        }
        if self.value.is_some_and(|v| !(0.0..=60_000.0).contains(&v)) {
            return Err("`value`: expected 0..=60000 ms".into());
        }
        Ok(())
    }

    fn matches(&self, point: FaultPoint, server: ServerId, state: ServerState) -> bool {
        // Names are unique (`FaultPoint::parse` is their inverse): one comparison per passage.
        if self.on != point.name() {
            return false;
        }
        match self.server.as_deref().unwrap_or("any") {
            "any" => true,
            "leader" => state == ServerState::Leading,
            "follower" => state == ServerState::Following,
            "observer" => state == ServerState::Observing,
            "looking" => state == ServerState::Looking,
            id => id.parse::<u64>().ok() == Some(server),
        }
    }
}

/// What the firing server's shell must do at once; the rest is the runner's (through
/// [`PointHub::take_firings`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strike {
    /// The process dies here: execute nothing after the passage.
    Crash,
    /// The runner applies the fault (pause, cut, a peer's kill) before this server goes on.
    Hold,
    /// Add this many ms to the server's next fsync, and go on.
    DelayFsync(u64),
    /// Close every client connection of this server at once (its client port reset), then go
    /// on: each client moves to another server carrying the last zxid it saw here.
    DropClients,
}

/// One firing, for the runner to apply and record.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    pub time_ms: i64,
    pub server: ServerId,
    pub peer: Option<ServerId>,
    pub point: FaultPoint,
    /// The nth passage of `point` on `server` in the fault phase.
    pub nth: u64,
    pub action: String,
    pub duration_ms: i64,
    pub value: Option<f64>,
}

impl Firing {
    /// The explicit rule that fires exactly this again (for shrink).
    pub fn as_rule(&self) -> PointRule {
        PointRule {
            on: self.point.name().to_string(),
            server: Some(self.server.to_string()),
            action: self.action.clone(),
            nth: Some(self.nth),
            probability: None,
            max: None,
            duration_s: Some(self.duration_ms as f64 / 1_000.0),
            value: self.value,
        }
    }

    pub fn describe(&self) -> String {
        let peer = self.peer.map(|p| format!(", peer s{p}")).unwrap_or_default();
        format!("at fault point {} (passage {} on s{}{peer})", self.point.name(), self.nth, self.server)
    }
}

/// A slow tail of fsync latencies: with `probability` an fsync takes `extra_ms` more.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FsyncTail {
    pub probability: f64,
    pub extra_ms: [u64; 2],
}

/// Bound on firings per run (every queue has a bound): a rule set that would strike on every
/// passage stops here, the run goes on healed.
pub const MAX_FIRINGS_PER_RUN: usize = 64;

/// Run-wide fault-point state, shared by every server node and the runner.
#[derive(Default)]
pub struct PointHub {
    rules: Vec<(PointRule, u64, u64)>,
    rng: Option<ChaCha8Rng>,
    tail: FsyncTail,
    tail_rng: Option<ChaCha8Rng>,
    armed: bool,
    /// Passages per (point, server) while armed: the `nth` of a firing.
    armed_passages: BTreeMap<(FaultPoint, ServerId), u64>,
    /// Coverage over the whole run, counted by [`FaultPoint::index`] (no allocation or search
    /// per passage; names are made once, by [`PointHub::coverage`], for counts above 0).
    point_counts: [u64; FaultPoint::COUNT],
    /// `[from][to]`: consecutive passages of one server.
    transitions: Box<[[u64; FaultPoint::COUNT]; FaultPoint::COUNT]>,
    fired_counts: BTreeMap<(FaultPoint, String), u64>,
    /// The last point each server passed (for transition probes).
    last_point: BTreeMap<ServerId, FaultPoint>,
    /// Commits each server applied since its fuzzy snapshot walk started (none walking: absent).
    walk_commits: BTreeMap<ServerId, u64>,
    /// Storage probes the shell counts (`storage:<what>`): snapshot walks that interleaved with
    /// commits, torn appends at a crash, torn tails cut at recovery.
    storage_counts: BTreeMap<&'static str, u64>,
    pending: Vec<Firing>,
    /// Every firing of the run, in order.
    pub fired: Vec<Firing>,
    wake: Option<mpsc::UnboundedSender<()>>,
}

impl PointHub {
    /// Arms `rules` (not yet active: see [`PointHub::set_armed`]) with decisions drawn from `seed`.
    pub fn configure(&mut self, rules: Vec<PointRule>, tail: FsyncTail, seed: u64, wake: mpsc::UnboundedSender<()>) {
        self.rules = rules.into_iter().map(|r| (r, 0, 0)).collect();
        self.rng = Some(ChaCha8Rng::seed_from_u64(seed ^ 0x706f_696e_7473));
        self.tail_rng = Some(ChaCha8Rng::seed_from_u64(seed ^ 0x7461_696c));
        self.tail = tail;
        self.wake = Some(wake);
    }

    pub fn set_armed(&mut self, armed: bool) {
        self.armed = armed;
    }

    /// A server passes a point in `state`: count it, and decide whether a fault strikes.
    pub fn pass(&mut self, time_ms: i64, server: ServerId, state: ServerState, passage: Passage) -> Option<Strike> {
        let point = passage.point;
        self.point_counts[point.index()] += 1;
        self.follow_snapshot_walk(server, point);
        if let Some(prev) = self.last_point.insert(server, point) {
            self.transitions[prev.index()][point.index()] += 1;
        }
        if !self.armed || self.rules.is_empty() || self.fired.len() >= MAX_FIRINGS_PER_RUN {
            return None;
        }
        let nth = {
            let n = self.armed_passages.entry((point, server)).or_default();
            *n += 1;
            *n
        };
        let rng = self.rng.as_mut().expect("configured before armed");
        let mut chosen = None;
        for (rule, matched, fired) in self.rules.iter_mut() {
            if !rule.matches(point, server, state) {
                continue;
            }
            *matched += 1;
            if *fired >= rule.max.unwrap_or(1) {
                continue;
            }
            let fire = match (rule.nth, rule.probability) {
                (Some(n), _) => *matched == n,
                (None, Some(p)) => rng.gen_bool(p),
                (None, None) => false,
            };
            if fire && chosen.is_none() {
                *fired += 1;
                chosen = Some(rule.clone());
            }
        }
        let rule = chosen?;
        let firing = Firing {
            time_ms,
            server,
            peer: passage.peer,
            point,
            nth,
            action: rule.action.clone(),
            duration_ms: (rule.duration_s.unwrap_or(1.0) * 1_000.0) as i64,
            value: rule.value,
        };
        *self.fired_counts.entry((point, rule.action.clone())).or_default() += 1;
        let strike = match rule.action.as_str() {
            "kill" | "kill_pair" | "power_loss" => Strike::Crash,
            "delay_fsync" => Strike::DelayFsync(rule.value.unwrap_or(500.0) as u64),
            "drop_clients" => Strike::DropClients,
            _ => Strike::Hold,
        };
        self.fired.push(firing.clone());
        self.pending.push(firing);
        if let Some(wake) = &self.wake {
            let _ = wake.unbounded_send(());
        }
        Some(strike)
    }

    /// A fuzzy walk starts after a commit (`snapshot_started`) and takes its first step at the
    /// next (`commit_applied` then `snapshot_finished` if it is done); it really interleaved
    /// with commits when two or more were applied while it walked.
    fn follow_snapshot_walk(&mut self, server: ServerId, point: FaultPoint) {
        match point {
            FaultPoint::SnapshotStarted => {
                self.walk_commits.insert(server, 0);
            }
            FaultPoint::CommitApplied => {
                if let Some(n) = self.walk_commits.get_mut(&server) {
                    *n += 1;
                }
            }
            FaultPoint::SnapshotFinished => {
                if self.walk_commits.remove(&server).is_some_and(|n| n >= 2) {
                    self.note_storage(STORAGE_WALK_INTERLEAVED);
                }
            }
            _ => {}
        }
    }

    /// Counts a storage probe (`storage:<what>`).
    pub fn note_storage(&mut self, what: &'static str) {
        *self.storage_counts.entry(what).or_default() += 1;
    }

    /// Every probe's count by name: `point`, `a>b`, `fired:<point>:<action>`, `storage:<what>`.
    pub fn coverage(&self) -> BTreeMap<String, u64> {
        let passed = |n: u64| n > 0;
        let mut out: BTreeMap<String, u64> =
            FaultPoint::ALL.iter().map(|p| (p.name().to_string(), self.point_counts[p.index()])).filter(|&(_, n)| passed(n)).collect();
        out.extend(self.storage_counts.iter().map(|(what, &n)| (format!("storage:{what}"), n)));
        for a in FaultPoint::ALL {
            let row = &self.transitions[a.index()];
            out.extend(FaultPoint::ALL.iter().filter(|b| passed(row[b.index()])).map(|b| (format!("{}>{}", a.name(), b.name()), row[b.index()])));
        }
        out.extend(self.fired_counts.iter().map(|((p, action), &n)| (format!("fired:{}:{action}", p.name()), n)));
        out
    }

    /// Firings the runner has not applied yet.
    pub fn take_firings(&mut self) -> Vec<Firing> {
        std::mem::take(&mut self.pending)
    }

    /// Extra latency of the next fsync drawn from the slow tail (0 most of the time).
    pub fn fsync_tail_ms(&mut self) -> u64 {
        if self.tail.probability <= 0.0 {
            return 0;
        }
        let rng = self.tail_rng.as_mut().expect("configured");
        if rng.gen_bool(self.tail.probability.min(1.0)) {
            rng.gen_range(self.tail.extra_ms[0]..=self.tail.extra_ms[1].max(self.tail.extra_ms[0]))
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(on: &str, nth: Option<u64>, probability: Option<f64>) -> PointRule {
        PointRule { on: on.into(), server: None, action: "kill".into(), nth, probability, max: None, duration_s: None, value: None }
    }

    fn hub(rules: Vec<PointRule>) -> (PointHub, mpsc::UnboundedReceiver<()>) {
        let (tx, rx) = mpsc::unbounded();
        let mut hub = PointHub::default();
        hub.configure(rules, FsyncTail::default(), 7, tx);
        hub.set_armed(true);
        (hub, rx)
    }

    const P: Passage = Passage { point: FaultPoint::CurrentEpochWritten, peer: Some(3) };

    #[test]
    fn nth_fires_once_at_the_nth_matching_passage() {
        let (mut hub, _rx) = hub(vec![rule("current_epoch_written", Some(2), None)]);
        assert_eq!(hub.pass(1, 1, ServerState::Following, P), None);
        assert_eq!(hub.pass(2, 2, ServerState::Following, P), Some(Strike::Crash));
        assert_eq!(hub.pass(3, 1, ServerState::Following, P), None, "nth fires once");
        let f = hub.take_firings();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].server, f[0].nth, f[0].peer), (2, 1, Some(3)), "nth counts per point and server");
        assert!(hub.take_firings().is_empty());
        assert_eq!(hub.coverage()["current_epoch_written"], 3);
        assert_eq!(hub.coverage()["fired:current_epoch_written:kill"], 1);
    }

    #[test]
    fn nothing_fires_unarmed_or_on_other_points_or_roles() {
        let mut r = rule("current_epoch_written", Some(1), None);
        r.server = Some("leader".into());
        let (mut hub, _rx) = hub(vec![r]);
        assert_eq!(hub.pass(1, 1, ServerState::Following, P), None, "role does not match");
        hub.set_armed(false);
        assert_eq!(hub.pass(1, 1, ServerState::Leading, P), None, "not armed");
        hub.set_armed(true);
        let other = Passage { point: FaultPoint::AckSent, peer: None };
        assert_eq!(hub.pass(1, 1, ServerState::Leading, other), None, "other point");
        assert_eq!(hub.pass(1, 1, ServerState::Leading, P), Some(Strike::Crash));
    }

    #[test]
    fn a_firing_replays_as_its_explicit_rule() {
        let (mut a, _ra) = hub(vec![rule("current_epoch_written", None, Some(0.3))]);
        let servers = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3];
        let first = servers.iter().enumerate().find_map(|(i, &s)| a.pass(i as i64, s, ServerState::Following, P).map(|_| i));
        let firing = a.take_firings().pop().expect("p = 0.3 over 12 passages fires (seed 7)");
        let (mut b, _rb) = hub(vec![firing.as_rule()]);
        let again = servers.iter().enumerate().find_map(|(i, &s)| b.pass(i as i64, s, ServerState::Following, P).map(|_| i));
        assert_eq!(first, again, "the explicit rule fires at the same passage");
    }

    #[test]
    fn validation_names_the_field() {
        assert!(rule("current_epoch_written", Some(1), None).validate(3).is_ok());
        assert!(rule("no_point", Some(1), None).validate(3).unwrap_err().contains("`on`"));
        assert!(rule("ack_sent", None, None).validate(3).unwrap_err().contains("`nth` or `probability`"));
        assert!(rule("ack_sent", Some(0), None).validate(3).unwrap_err().contains("`nth`"));
        assert!(rule("ack_sent", None, Some(1.5)).validate(3).unwrap_err().contains("`probability`"));
        let mut r = rule("ack_sent", Some(1), None);
        r.server = Some("9".into());
        assert!(r.validate(3).unwrap_err().contains("`server`"));
        r.server = None;
        r.action = "explode".into();
        assert!(r.validate(3).unwrap_err().contains("`action`"));
    }
}
