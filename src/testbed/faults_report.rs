//! `zksim faults-report`: what each disk fault and each fault kept through the liveness phase
//! does to the ensemble, run by run, next to what ZooKeeper 3.8's code does with it.
//!
//! Why one command: the claims "a disk fault on a minority loses nothing and never makes
//! replicas diverge", "corrupting a majority is reported, never passed silently" and "a healthy
//! majority makes progress while a minority stays broken" are worth what their evidence is, so
//! every figure of `reports/faults.md` comes from sweeps this command runs (the same
//! `cli::run_seeds` as `zksim sweep`) over `sim-scenarios/faults/`, with the seeds it used.
//! Every run that is not as its scenario expects is listed with its reproduce line and, when it
//! matches one of the ZooKeeper behaviours the README explains, the explanation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cli::{bad_input, reproduce_line, run_seeds, SeedResult, SCENARIO_DIR};
use super::runner::{RunOptions, Verdict};
use super::scenario::Scenario;

/// Arguments of `zksim faults-report`.
pub struct FaultsReportArgs {
    /// Seeds per scenario.
    pub seeds: u64,
    pub jobs: usize,
    pub out: PathBuf,
}

/// One scenario of the report: the fault it injects and what ZooKeeper does with it.
struct Kind {
    scenario: &'static str,
    fault: &'static str,
    zookeeper: &'static str,
}

const DISK_KINDS: [Kind; 8] = [
    Kind {
        scenario: "disk-log-bitflip",
        fault: "a bit flipped in a synced txn-log record (after the newest snapshot) of server 4 or 5, found at restart",
        zookeeper: "`FileTxnIterator.next`: \"CRC check failed\" (IOException); `QuorumPeer.loadDataBase`: \"Unable to load database on disk\": the server refuses to start. The operator empties its data directory; it resyncs from the leader",
    },
    Kind {
        scenario: "disk-snapshot-bitflip",
        fault: "a bit flipped in the newest snapshot of server 4 or 5, found at restart",
        zookeeper: "`FileSnap.deserialize`: \"problem reading snap file\", then the next older snapshot and the log from it; none left: \"Not able to find valid snapshots\", refuses to start. `restore` does not check that the log it replays has no hole",
    },
    Kind {
        scenario: "disk-snapshot-cut",
        fault: "the newest snapshot of server 4 or 5 cut short, found at restart",
        zookeeper: "`SnapStream.isValidSnapshot` fails (no seal), the snapshot is skipped, the next older one loads; none left with log entries: \"No snapshot found, but there are log entries. Something is broken!\", refuses to start",
    },
    Kind {
        scenario: "disk-fsync-error",
        fault: "every fsync of server 4 or 5 fails for 0.2–4 s",
        zookeeper: "`FileTxnLog.commit` throws, `SyncRequestProcessor` dies (`ZooKeeperCriticalThread`: \"Severe unrecoverable error\"), the server state goes ERROR: `Leader.lead` \"Unexpected internal error\" / the follower loop ends, LOOKING, rejoin. No ACK for the txns of the failed fsync",
    },
    Kind {
        scenario: "disk-full",
        fault: "the disk of server 4 or 5 full for 0.5–6 s",
        zookeeper: "an append throws: as a failed fsync; an epoch write (`AtomicFileOutputStream`) throws out of `setAcceptedEpoch`/`setCurrentEpoch`: the role ends, the old epoch stays; `takeSnapshot`: \"Severe unrecoverable error, exiting\", `System.exit(TXNLOG_ERROR_TAKING_SNAPSHOT)`",
    },
    Kind {
        scenario: "disk-epoch-tmp-crash",
        fault: "server 2 or 3 (of 3) loses power between its next epoch file's tmp copy and the rename, while leaders are killed",
        zookeeper: "the old `acceptedEpoch`/`currentEpoch` stays; `loadDataBase` reads `currentEpoch.tmp` only when the log's last zxid is of a newer epoch, and then adopts it",
    },
    Kind {
        scenario: "disk-swarm",
        fault: "all of the above on servers 4 and 5, mixed with crashes, pauses and partitions of any server",
        zookeeper: "as above, per fault",
    },
    Kind {
        scenario: "majority-corruption",
        fault: "servers 4 and 5 paused while 1–3 acknowledge writes; bit flips in the logs of 1, 2 and 3; the operator empties their data directories",
        zookeeper: "1–3 refuse to start; once emptied they rejoin with nothing, and the writes only they held are gone: ZooKeeper cannot know. The checks must report the loss (`expect: violation`)",
    },
];

const KEEP_KINDS: [Kind; 11] = [
    Kind { scenario: "keep-crash", fault: "the leader and a follower crashed", zookeeper: "followers notice the silence after syncLimit, elect among the rest (FLE), sync within initLimit" },
    Kind { scenario: "keep-pause", fault: "the leader and a follower paused", zookeeper: "as a crash, for the others" },
    Kind { scenario: "keep-isolate", fault: "the leader and a follower cut from every server", zookeeper: "the isolated leader loses its quorum and steps down after syncLimit; the rest elect" },
    Kind { scenario: "keep-one-way-from-leader", fault: "a follower that cannot hear the leader", zookeeper: "the follower times out and looks for a leader it cannot reach; the leader keeps its quorum" },
    Kind { scenario: "keep-one-way-to-leader", fault: "a follower whose packets never reach the leader", zookeeper: "the leader drops it after syncLimit; it keeps trying to rejoin" },
    Kind { scenario: "keep-slow-disk", fault: "fsync of 1.5 s on the leader, 2.5 s on a follower", zookeeper: "commits wait for the fastest quorum; the slow follower acks late but within syncLimit" },
    Kind { scenario: "keep-slow-link", fault: "+500 ms on the leader's packets, +700 ms on a follower's", zookeeper: "slower, within syncLimit (a 2.4 s round trip between them against 2.5 s)" },
    Kind { scenario: "keep-drift", fault: "the leader's clock at 0.6x, a follower's at 1.8x", zookeeper: "timeouts stretch or shrink on the drifting servers only" },
    Kind { scenario: "keep-disk-full", fault: "the disks of the leader and a follower full", zookeeper: "they fail (ERROR, or System.exit on a snapshot) and rejoin in a loop; the rest elect" },
    Kind { scenario: "keep-fsync-error", fault: "every fsync of the leader and a follower failing", zookeeper: "they fail and rejoin in a loop; a server with the best vote (highest zxid, then id) is elected again and again and fails its epoch write each time: FLE has no notion of a server that cannot write" },
    Kind { scenario: "keep-random", fault: "1–2 kept faults of any kind drawn per seed, after a swarm fault phase", zookeeper: "as above, per fault" },
];

/// Nemesis records the report counts, and how it names them.
const COUNTED: [(&str, &str); 13] = [
    ("refused_to_start", "refused to start"),
    ("recovered", "recovered past damage"),
    ("recovered:gap", "…replaying a log with a hole"),
    ("wipe", "data dirs emptied"),
    ("disk_error", "disk errors"),
    ("disk_error:leading", "…of a leader"),
    ("disk_error:following_epoch", "…of a follower writing acceptedEpoch"),
    ("power_failure", "power lost in an epoch write"),
    ("log_bitflip", "log bit flips"),
    ("snapshot_bitflip", "snapshot bit flips"),
    ("snapshot_cut", "cut snapshots"),
    ("epoch_tmp_crash", "epoch crashes armed"),
    ("keep", "kept faults"),
];

/// Why a run that is not as expected is still ZooKeeper's behaviour (the README says more).
fn explanation(scenario: &str, r: &SeedResult) -> Option<&'static str> {
    let count = |key: &str| r.nemesis_counts.get(key).copied().unwrap_or(0);
    let divergence = matches!(r.anomaly.as_deref(), Some("same-zxid-same-digest" | "committed-prefixes-agree" | "commits-in-order"));
    // A leader serves a quorum; a healthy member is LOOKING for good; a kept server flaps
    // (it may have failed as a leader too: a serving leader says the best-vote livelock is over).
    if r.verdict == "liveness_failure" && count("disk_error:following_epoch") >= 4 && r.liveness_detail.as_deref().is_some_and(looking_beside_a_leader) {
        return Some("livelock: a kept server that cannot write acceptedEpoch flaps LOOKING -> FOLLOWING every few ms, and its stale LOOKING notifications keep a healthy LOOKING server's wait from ever timing out, so it never asks the established quorum again (FastLeaderElection.lookForLeader re-sends only on a time-out; reproduced on a real ZooKeeper 3.8.0 ensemble: reports/real-zookeeper/looking-starvation.md)");
    }
    if r.verdict == "liveness_failure" && count("disk_error:leading") > 0 && (scenario == "keep-fsync-error" || scenario == "keep-disk-full" || scenario == "keep-random") {
        return Some("livelock: the kept server holds the best vote, wins every election and cannot write its epoch (ZooKeeper's FLE does the same; README, Faults that do not heal)");
    }
    // Every ~5 s (initLimit) a kept server elects a leader and fails its epoch write as a
    // follower: a handful of these in the liveness phase is the swing-voter livelock.
    if r.verdict == "liveness_failure" && count("disk_error:leading") == 0 && count("disk_error:following_epoch") >= 4 && scenario.starts_with("keep-") {
        return Some("livelock: kept servers that vote but cannot write acceptedEpoch elect two leaders out of phase and leave each one short of a quorum (FLE, registerWithLeader and waitForEpochAck do the same; README, Faults that do not heal)");
    }
    // A server accepted a newer epoch in an attempt that never established and refuses every
    // LEADERINFO of the ensemble's older one, over and over.
    if r.verdict == "liveness_failure" && count("epoch_refused") >= 3 {
        return Some("a server holds an acceptedEpoch above the established leader's and refuses it at every rejoin until a new election passes that epoch (Learner.registerWithLeader: \"Leaders epoch, N is less than accepted epoch, M\"; ZooKeeper 3.8 does the same; README)");
    }
    if divergence && count("recovered:gap") > 0 {
        return Some("divergence: a damaged newest snapshot made the server load an older one and replay a log with the hole a SNAP sync left (ZooKeeper's restore does the same; README)");
    }
    None
}

/// The liveness finding says some member of the final convergence is LOOKING, not serving,
/// while a leader serves (`servers [2, 3] not converged …: s3 looking, not serving, …; s4
/// leading, serving, …`): the views `liveness::run` prints.
fn looking_beside_a_leader(detail: &str) -> bool {
    let Some((members, _)) = detail.strip_prefix("servers [").and_then(|rest| rest.split_once(']')) else { return false };
    let mut ids = members.split(", ").filter_map(|id| id.parse::<u64>().ok());
    ids.any(|id| detail.contains(&format!("s{id} looking, not serving"))) && detail.contains(" leading, serving")
}

struct Swept {
    results: Vec<SeedResult>,
    wall_s: f64,
}

fn sweep(path: &Path, args: &FaultsReportArgs) -> Result<(Scenario, Swept), String> {
    let scenario = Scenario::load(path)?;
    let seeds: Vec<u64> = (0..args.seeds).collect();
    let wall = Instant::now();
    let (results, _) = run_seeds(&scenario, &seeds, args.jobs, &RunOptions { bugs: Vec::new(), fast_checks: true }, false, false);
    Ok((scenario, Swept { results, wall_s: wall.elapsed().as_secs_f64() }))
}

fn verdicts(results: &[SeedResult]) -> BTreeMap<&str, usize> {
    let mut by = BTreeMap::new();
    for r in results {
        *by.entry(r.verdict.as_str()).or_default() += 1;
    }
    by
}

fn totals(results: &[SeedResult]) -> BTreeMap<String, u64> {
    let mut sum: BTreeMap<String, u64> = BTreeMap::new();
    for r in results {
        for (k, v) in &r.nemesis_counts {
            *sum.entry(k.clone()).or_default() += v;
        }
    }
    sum
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '|'], " ");
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// One scenario's section: outcomes, what the servers did, the runs not as expected.
fn section(kind: &Kind, args: &FaultsReportArgs, summary: &mut Vec<String>, unexplained: &mut usize) -> String {
    let path = Path::new(SCENARIO_DIR).join("faults").join(format!("{}.json", kind.scenario));
    let mut text = format!("### {}\n\n", kind.scenario);
    let (scenario, swept) = match sweep(&path, args) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(text, "scenario does not load: {e}\n");
            *unexplained += 1;
            return text;
        }
    };
    let results = &swept.results;
    let by = verdicts(results);
    let expected = results.iter().filter(|r| r.as_expected).count();
    let sums = totals(results);
    let lost_seeds: Vec<&SeedResult> = results.iter().filter(|r| r.acked_lost > 0).collect();
    let lost_reported = lost_seeds.iter().filter(|r| r.verdict == "safety_violation").count();
    let _ = writeln!(text, "- fault: {}", kind.fault);
    let _ = writeln!(text, "- ZooKeeper 3.8: {}", kind.zookeeper);
    let _ = writeln!(text, "- `{}` ({}), seeds 0..{}, expect `{}`: {expected} as expected; {} ({:.1} wall s)", path.display(), scenario.description, args.seeds, scenario.expect.outcome, verdict_list(&by), swept.wall_s);
    let counted: Vec<String> = COUNTED.iter().filter_map(|(key, name)| sums.get(*key).map(|n| format!("{name} {n}"))).collect();
    if scenario.liveness.is_some() {
        let b = super::liveness::bound(&scenario, &super::liveness::plan_keeps(&scenario, 0));
        let _ = writeln!(text, "- liveness bound (seed 0's kept faults): {:.1} s = {}", b.total_ms as f64 / 1000.0, b.explain);
    }
    let _ = writeln!(text, "- what the servers did, over all runs: {}", if counted.is_empty() { "nothing recorded".to_string() } else { counted.join(", ") });
    let _ = writeln!(
        text,
        "- acknowledged writes lost (no surviving disk held them when the last copies were wiped): {} runs; reported by a safety check in {} of them",
        lost_seeds.len(),
        lost_reported
    );
    let failing: Vec<&SeedResult> = results.iter().filter(|r| !r.as_expected).collect();
    let mut explained = 0;
    for r in &failing {
        let why = explanation(kind.scenario, r);
        explained += usize::from(why.is_some());
        let _ = writeln!(
            text,
            "  - seed {}: {} `{}`: {} — {}; reproduce: `{}`",
            r.seed,
            r.verdict,
            r.anomaly.as_deref().unwrap_or("-"),
            one_line(r.detail.as_deref().unwrap_or(""), 160),
            why.unwrap_or("NOT EXPLAINED"),
            reproduce_line(&path.display().to_string(), r.seed, &[])
        );
    }
    *unexplained += failing.len() - explained;
    // A loss must never pass: that is the majority scenario's point, and an error anywhere.
    *unexplained += lost_seeds.len() - lost_reported;
    summary.push(format!(
        "| `{}` | {} | {} | {expected} | {} | {} | {}/{} | {} |",
        kind.scenario,
        kind.fault,
        results.len(),
        verdict_list(&by),
        failing.len() - explained,
        lost_reported,
        lost_seeds.len(),
        counted_short(&sums)
    ));
    text.push('\n');
    eprintln!("faults-report: {} done ({expected}/{} as expected, {:.1} wall s)", kind.scenario, results.len(), swept.wall_s);
    text
}

fn verdict_list(by: &BTreeMap<&str, usize>) -> String {
    by.iter().map(|(v, n)| format!("{v} {n}")).collect::<Vec<_>>().join(", ")
}

fn counted_short(sums: &BTreeMap<String, u64>) -> String {
    ["refused_to_start", "recovered", "wipe", "disk_error", "power_failure"]
        .iter()
        .filter_map(|k| sums.get(*k).map(|n| format!("{k} {n}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `zksim faults-report [--seeds N] [--jobs J] [--out FILE]`. Exit 0 when every run is as its
/// scenario expects or explained, 1 otherwise.
pub fn faults_report_command(args: &FaultsReportArgs) -> i32 {
    if args.jobs == 0 {
        return bad_input("--jobs: expected at least 1");
    }
    let wall = Instant::now();
    let mut unexplained = 0;
    let mut disk_summary = Vec::new();
    let mut keep_summary = Vec::new();
    let disk: String = DISK_KINDS.iter().map(|k| section(k, args, &mut disk_summary, &mut unexplained)).collect();
    let keep: String = KEEP_KINDS.iter().map(|k| section(k, args, &mut keep_summary, &mut unexplained)).collect();
    let mut md = String::new();
    let _ = writeln!(md, "# Faults that do not heal: damaged disks and a minority that stays broken\n");
    let _ = writeln!(
        md,
        "Regenerate: `cargo run --release -- faults-report --seeds {} --jobs {}` (one sweep of seeds 0..{} per scenario of `sim-scenarios/faults/`, correct build, fast checks: every online invariant and every history check but the black-box linearizability search). A run is *as expected* when its verdict is what its scenario expects; the others are listed with their reproduce line and, when they are a ZooKeeper behaviour the README explains, why.\n",
        args.seeds, args.jobs, args.seeds
    );
    let header = "| scenario | fault | runs | as expected | verdicts | not as expected, unexplained | losses reported / runs with a loss | what the servers did (records) |\n| --- | --- | --- | --- | --- | --- | --- | --- |";
    let _ = writeln!(md, "## Disk faults (server 4 or 5 of 5 unless said)\n\n{header}\n{}\n", disk_summary.join("\n"));
    let _ = writeln!(md, "## Faults kept through the liveness phase (a minority of 5 voters)\n\nBound on electing, serving every client and converging once the kept faults are in place (`testbed::liveness::bound`, printed with every run and per scenario below): `2 × (syncLimit·tick + finalizeWait + 2 × 4 s + initLimit·tick) × drift + session timeout + 2 × (kept fsync + kept link latency)`.\n\n{header}\n{}\n", keep_summary.join("\n"));
    let _ = writeln!(md, "## Per scenario\n\n{disk}{keep}");
    let _ = writeln!(md, "Runs not as expected and not explained: {unexplained}. Total wall time: {:.1} s with --jobs {}.", wall.elapsed().as_secs_f64(), args.jobs);
    print!("{md}");
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&args.out, &md) {
        eprintln!("zksim: could not write {}: {e}", args.out.display());
        return Verdict::Crash.exit_code();
    }
    eprintln!("report: {}", args.out.display());
    i32::from(unexplained > 0)
}

#[cfg(test)]
mod tests {
    use super::super::cli::{run_seeds, SeedResult};
    use super::super::runner::RunOptions;
    use super::super::scenario::Scenario;
    use super::{explanation, looking_beside_a_leader};
    use std::path::Path;

    /// Sweeps a stalling seed and a passing one of a faults scenario.
    fn stalled_and_passing(file: &str, stalled: u64, passing: u64) -> (Scenario, SeedResult, SeedResult) {
        let scenario = Scenario::load(Path::new("sim-scenarios/faults").join(file).as_path()).unwrap();
        sweep_two(scenario, stalled, passing)
    }

    fn sweep_two(scenario: Scenario, stalled: u64, passing: u64) -> (Scenario, SeedResult, SeedResult) {
        let options = RunOptions { bugs: Vec::new(), fast_checks: true };
        let (results, _) = run_seeds(&scenario, &[stalled, passing], 1, &options, false, false);
        let by_seed = |seed: u64| results.iter().find(|r| r.seed == seed).expect("swept").clone();
        (scenario.clone(), by_seed(stalled), by_seed(passing))
    }

    /// Servers 1 and 2 kept unable to write (failing fsyncs, a full disk), never the best vote:
    /// seed 36 (found by a 600-seed sweep; 2 of them stall this way) is the swing-voter livelock,
    /// both failing their acceptedEpoch write as followers again and again and no server ever
    /// failing as a leader; the report names it. Seed 0 passes and gets no explanation. (The
    /// same family showed in `keep-random` seed 2957 before the wire's whole-millisecond
    /// latencies moved every schedule; seeds 0..13000 of it now show none.)
    #[test]
    fn the_swing_voter_livelock_is_explained_and_a_passing_run_is_not() {
        let json = r#"{ "name": "keep-swing-voters", "duration_s": 20,
            "nemesis": { "random": { "interval_s": [3.0, 6.0], "duration_s": [1.0, 4.0], "kinds": ["kill", "pause", "partition"] } },
            "liveness": { "keep": [{ "kind": "fsync_error", "target": "1" }, { "kind": "disk_full", "target": "2" }] } }"#;
        let (_, livelock, pass) = sweep_two(Scenario::parse("keep-swing-voters.json", json).unwrap(), 36, 0);
        assert_eq!(livelock.nemesis_counts.get("disk_error:leading"), None, "{:?}", livelock.nemesis_counts);
        assert_eq!(livelock.verdict, "liveness_failure");
        assert!(livelock.nemesis_counts.get("disk_error:following_epoch").is_some_and(|&n| n >= 4), "{:?}", livelock.nemesis_counts);
        assert!(explanation("keep-swing-voters", &livelock).is_some_and(|e| e.starts_with("livelock: kept servers that vote")));
        assert!(explanation("keep-swing-voters", &pass).is_none());
    }

    /// keep-random seed 7811 (4551, 10654 and 10917 of seeds 0..13,000 are the same): server 1's
    /// fsyncs fail for good, so it flaps LOOKING -> FOLLOWING every few ms; server 3 went LOOKING
    /// during an election, its one round of notifications found no quorum agreeing on s4's
    /// epoch, and s1's stale notifications never let its wait time out again. The report names
    /// it, not as the swing-voter livelock (no leader short of a quorum here). Seed 0 passes.
    #[test]
    fn a_looking_server_starved_by_a_flapping_one_is_explained() {
        let (_, starved, pass) = stalled_and_passing("keep-random.json", 7811, 0);
        assert_eq!(starved.verdict, "liveness_failure");
        let detail = starved.liveness_detail.as_deref().expect("a liveness finding");
        assert!(detail.contains("s3 looking, not serving") && detail.contains("s4 leading, serving"), "{detail}");
        assert!(starved.nemesis_counts.get("disk_error:following_epoch").is_some_and(|&n| n >= 4), "{:?}", starved.nemesis_counts);
        assert!(explanation("keep-random", &starved).is_some_and(|e| e.contains("stale LOOKING notifications")));
        assert!(explanation("keep-random", &pass).is_none());
    }

    /// The candidate fix of FLE (`ensemble.fle_renotify_on_interval`: re-send every
    /// `notTimeout` however many notifications arrive) ends it: the same seed passes with
    /// server 1 still flapping (its fsyncs still fail, its acceptedEpoch writes still fail).
    #[test]
    fn the_candidate_fle_fix_ends_the_starvation() {
        let mut scenario = Scenario::load(Path::new("sim-scenarios/faults/keep-random.json")).unwrap();
        scenario.ensemble.fle_renotify_on_interval = true;
        let (_, fixed, _) = sweep_two(scenario, 7811, 0);
        assert_eq!(fixed.verdict, "pass", "{:?}", fixed.liveness_detail);
        assert!(fixed.nemesis_counts.get("disk_error:following_epoch").is_some_and(|&n| n >= 4), "{:?}", fixed.nemesis_counts);
    }

    /// Only a member of the final convergence counts as starved (a kept server LOOKING is
    /// expected), and only beside a serving leader (no leader is another livelock).
    #[test]
    fn a_starved_server_is_a_looking_member_beside_a_serving_leader() {
        let views = |s1: &str, s3: &str| format!("servers [2, 3, 4] not converged within the liveness bound of 37.4 s (...); kept: down s1; impaired none; degraded none: s1 {s1}, at 0x4 (currentEpoch 4); s2 following s4, serving, at 0x5; s3 {s3}, at 0x4; s4 leading, serving, at 0x5");
        assert!(looking_beside_a_leader(&views("looking, not serving", "looking, not serving")));
        assert!(!looking_beside_a_leader(&views("looking, not serving", "following s4, serving")), "only the kept s1 is LOOKING");
        assert!(!looking_beside_a_leader(&views("following s4, serving", "following s4, serving")));
        let leaderless = views("looking, not serving", "looking, not serving").replace("s4 leading, serving", "s4 looking, not serving");
        assert!(!looking_beside_a_leader(&leaderless), "no leader serves");
        assert!(!looking_beside_a_leader("no leader among the healthy servers within the liveness bound: s3 looking, not serving; s4 leading, serving"));
        assert!(!looking_beside_a_leader("servers [2, 3 not converged"), "no closing bracket");
    }

    /// disk-epoch-tmp-crash seed 381 (380 before the wire's whole-millisecond latencies): server 3 accepted epoch 3 in an attempt that never
    /// established and refuses the ensemble's epoch 2 at every rejoin; the report names it (it
    /// was NOT EXPLAINED before the refusal became a server event). Seed 0 passes.
    #[test]
    fn a_server_stuck_on_a_newer_accepted_epoch_is_explained() {
        let (scenario, stuck, pass) = stalled_and_passing("disk-epoch-tmp-crash.json", 381, 0);
        assert_eq!(stuck.verdict, "liveness_failure");
        assert!(stuck.nemesis_counts.get("epoch_refused").is_some_and(|&n| n >= 3), "{:?}", stuck.nemesis_counts);
        assert!(explanation("disk-epoch-tmp-crash", &stuck).is_some_and(|e| e.contains("acceptedEpoch above")));
        assert!(explanation("disk-epoch-tmp-crash", &pass).is_none());
        let run = super::super::runner::run(&scenario, 381, &RunOptions { bugs: Vec::new(), fast_checks: true });
        let liveness = run.findings.iter().find(|f| f.check == "liveness").expect("a liveness finding");
        assert!(liveness.detail.contains("s3 refuses s2's epoch 2 at every rejoin (acceptedEpoch 3 is newer"), "{}", liveness.detail);
    }
}
