//! The context of a finding: which faults were in force or had just ended, what the servers
//! concerned did just before, and which client op a txn was.
//!
//! Why: "leader of epoch 3 starts at 1.1a but txn 1.28 was acknowledged" is a fact; the
//! story — s1 acked NEWLEADER before logging the DIFF, lost power, came back with the newer
//! epoch and won the election — is what makes it a bug report.

use crate::history::{History, OpId, Outcome, ServerEvent};
use crate::proto::Zxid;

/// A fault from its start to its end (`end_ns` none: never undone in the history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultBand {
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    /// `kill s1`, `partition [1] | [2, 3]`, `pause client 3`, ...
    pub label: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// The record that undoes a fault, if the history has one: (action, same target required).
fn undone_by(action: &str) -> Option<(&'static [&'static str], bool)> {
    Some(match action {
        "kill" => (&["restart", "restart_all"], true),
        "pause" => (&["resume"], true),
        "partition" | "one_way" | "latency" | "loss" | "isolate_client" => (&["heal"], false),
        "power_loss" => (&["restart_all"], false),
        "pause_client" => (&["resume_client"], false),
        "drift" => (&["drift_reset", "heal"], true),
        _ => return None,
    })
}

/// Pairs each fault record with the record that undid it. Undo records themselves (restart,
/// heal, ...) are not bands; a fault nothing undid lasts to the end.
pub fn fault_bands(history: &History) -> Vec<FaultBand> {
    let mut nemesis: Vec<&crate::history::NemesisEvent> = history.nemesis.iter().collect();
    nemesis.sort_by_key(|n| (n.t_ns, n.line));
    let mut bands = Vec::new();
    for (i, n) in nemesis.iter().enumerate() {
        let Some((undo, same_target)) = undone_by(&n.action) else {
            if !is_undo(&n.action) {
                bands.push(band(n, Some(n.t_ns)));
            }
            continue;
        };
        let end = nemesis[i + 1..]
            .iter()
            .find(|m| {
                undo.contains(&m.action.as_str())
                    && (!same_target || m.target.is_none() || m.target == n.target || n.action == "pause_client")
                    && (n.action != "pause_client" || m.detail == n.detail)
            })
            .map(|m| m.t_ns);
        bands.push(band(n, end));
    }
    bands
}

fn is_undo(action: &str) -> bool {
    matches!(action, "restart" | "restart_all" | "resume" | "heal" | "resume_client" | "drift_reset")
}

fn band(n: &crate::history::NemesisEvent, end_ns: Option<u64>) -> FaultBand {
    let mut label = n.action.clone();
    if let Some(target) = &n.target {
        label.push(' ');
        label.push_str(target);
    }
    if let Some(detail) = n.detail.as_deref().filter(|d| !d.is_empty()) {
        label.push_str(&format!(" ({detail})"));
    }
    FaultBand { start_ns: n.t_ns, end_ns, label, action: n.action.clone(), target: n.target.clone(), detail: n.detail.clone() }
}

/// The faults that started before `t_ns`, most recent last, at most `max`.
pub fn faults_before(bands: &[FaultBand], t_ns: u64, max: usize) -> Vec<&FaultBand> {
    let before: Vec<&FaultBand> = bands.iter().filter(|b| b.start_ns <= t_ns).collect();
    before[before.len().saturating_sub(max)..].to_vec()
}

/// Events that tell a server's story (elections, the syncs it received, NEWLEADER/UPTODATE,
/// crashes, recoveries, truncations); role changes (the election says them), restarts (the
/// recovery says it), snapshots, reloads and the syncs it sent others are left out.
fn tells_the_story(e: &ServerEvent, server: &str) -> bool {
    let r = &e.record;
    if r.event == "sync" {
        return r.peer.as_deref() == Some(server);
    }
    r.server == server && !matches!(r.event.as_str(), "snapshot" | "loaded" | "looking" | "following" | "leading" | "observing" | "restart")
}

/// What `server` did (or had done) in the `window_ns` before `t_ns` (and the millisecond
/// after: findings carry millisecond times), most recent last, at most `max`.
pub fn server_story<'h>(history: &'h History, server: &str, t_ns: u64, window_ns: u64, max: usize) -> Vec<&'h ServerEvent> {
    let from = t_ns.saturating_sub(window_ns);
    let story: Vec<&ServerEvent> = history
        .server_events
        .iter()
        .filter(|e| e.record.t_ns >= from && e.record.t_ns < t_ns + 1_000_000)
        .filter(|e| tells_the_story(e, server))
        .collect();
    story[story.len().saturating_sub(max)..].to_vec()
}

/// `s3 sync s1 by DIFF 0x100000001b..0x10000002f (21 txns)` — one server event in words.
pub fn describe_server_event(e: &ServerEvent) -> String {
    let r = &e.record;
    let z = |z: Option<Zxid>| z.map(|z| format!("{z:#x}")).unwrap_or_default();
    let peer = r.peer.clone().unwrap_or_default();
    let text = match r.event.as_str() {
        "sync" => {
            let range = match (r.from_zxid, r.to_zxid) {
                (Some(a), Some(b)) => format!(" {}..{}", z(Some(a)), z(Some(b))),
                (None, Some(b)) => format!(" at {}", z(Some(b))),
                _ => String::new(),
            };
            format!("{} synced {peer} by {}{range} ({})", r.server, r.mode.as_deref().unwrap_or("?"), r.detail.as_deref().unwrap_or(""))
        }
        "elected" if r.peer.as_deref() == Some(r.server.as_str()) => format!("{} elected itself leader", r.server),
        "elected" => format!("{} elected {peer} leader", r.server),
        "established" => format!("{} established as leader of epoch {} at {}", r.server, r.epoch.unwrap_or(0), z(r.zxid)),
        "newleader" => format!("{} got NEWLEADER from {peer} (at {})", r.server, z(r.zxid)),
        "newleader_ack" => format!("{} acked NEWLEADER to {peer} (currentEpoch {})", r.server, r.epoch.unwrap_or(0)),
        "uptodate" => format!("{} got UPTODATE from {peer}, serving at {}", r.server, z(r.zxid)),
        "recovered" => format!("{} recovered at {} ({})", r.server, z(r.zxid), r.detail.as_deref().unwrap_or("")),
        "truncate" => format!("{} truncated its log to {}", r.server, z(r.zxid)),
        "snapshot" => format!("{} wrote a snapshot at {}", r.server, z(r.zxid)),
        "session_expired" => format!("{} expired session {} (closeSession {})", r.server, r.session.as_deref().unwrap_or("?"), z(r.zxid)),
        "epoch_refused" => format!(
            "{} refused {peer}'s epoch {}: its {} is newer (registerWithLeader)",
            r.server,
            r.epoch.unwrap_or(0),
            r.detail.as_deref().unwrap_or("acceptedEpoch")
        ),
        "client_ahead" => format!("{} got a client that had seen past its last zxid {}", r.server, z(r.zxid)),
        "crash" => format!("{} crashed (power loss: unsynced bytes lost)", r.server),
        "exit" => format!("{} exited: {}", r.server, r.detail.as_deref().unwrap_or("")),
        other => {
            let mut t = format!("{} {other}", r.server);
            if let Some(epoch) = r.epoch {
                t.push_str(&format!(" (epoch {epoch})"));
            }
            t
        }
    };
    text.trim_end().to_string()
}

/// The acknowledged client op whose txn has this zxid, if the history has it.
pub fn op_of_txn(history: &History, zxid: Zxid) -> Option<OpId> {
    history.ops.iter().position(|o| o.outcome == Outcome::Ok && o.txn_zxid() == Some(zxid)).map(|i| i as OpId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{parse_history, Format};

    const HISTORY: &str = concat!(
        "{\"kind\":\"meta\",\"format\":\"zksim-history\",\"format_version\":1}\n",
        "{\"kind\":\"nemesis\",\"t_ns\":10,\"action\":\"kill\",\"server\":\"s1\"}\n",
        "{\"kind\":\"nemesis\",\"t_ns\":12,\"action\":\"partition\",\"detail\":\"[1] | [2, 3]\"}\n",
        "{\"kind\":\"nemesis\",\"t_ns\":20,\"action\":\"restart\",\"server\":\"s2\"}\n",
        "{\"kind\":\"nemesis\",\"t_ns\":30,\"action\":\"restart\",\"server\":\"s1\"}\n",
        "{\"kind\":\"nemesis\",\"t_ns\":31,\"action\":\"heal\"}\n",
        "{\"kind\":\"nemesis\",\"t_ns\":40,\"action\":\"pause\",\"server\":\"s3\"}\n",
        "{\"kind\":\"server\",\"t_ns\":15,\"server\":\"s3\",\"event\":\"sync\",\"peer\":\"s1\",\"mode\":\"DIFF\",\"from_zxid\":4294967297,\"to_zxid\":4294967299,\"detail\":\"3 txns\"}\n",
        "{\"kind\":\"server\",\"t_ns\":16,\"server\":\"s1\",\"event\":\"snapshot\",\"zxid\":4294967299}\n",
    );

    #[test]
    fn faults_become_bands_ended_by_their_undo() {
        let history = parse_history("h", HISTORY, Some(Format::Zksim)).unwrap();
        let bands = fault_bands(&history);
        let got: Vec<(u64, Option<u64>, &str)> = bands.iter().map(|b| (b.start_ns, b.end_ns, b.label.as_str())).collect();
        assert_eq!(got, vec![(10, Some(30), "kill s1"), (12, Some(31), "partition ([1] | [2, 3])"), (40, None, "pause s3")]);
        assert_eq!(faults_before(&bands, 35, 1).len(), 1);
        assert_eq!(faults_before(&bands, 35, 5).len(), 2);
    }

    #[test]
    fn a_server_story_holds_its_events_and_the_syncs_it_received() {
        let history = parse_history("h", HISTORY, Some(Format::Zksim)).unwrap();
        let story = server_story(&history, "s1", 20, 100, 10);
        assert_eq!(story.len(), 1, "the snapshot is left out");
        assert_eq!(describe_server_event(story[0]), "s3 synced s1 by DIFF 0x100000001..0x100000003 (3 txns)");
    }
}
