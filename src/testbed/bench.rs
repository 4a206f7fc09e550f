//! `zksim bench`: the simulator's throughput — simulated seconds and client ops per wall
//! second, seeds per minute — and two comparisons measured in the same run (ratios, not
//! absolute times, on a shared machine): the mixed workload against the register workload,
//! and the guided search against swarm sweeps.
//!
//! Why its own file: the bench drives `zksim sweep`'s machinery and the explorer; keeping it
//! out of `cli` keeps `cli` free of the explorer (which uses `cli`).

use std::time::Instant;

use super::cli::{resolve_scenario, run_seeds};
use super::runner::{run, RunOptions};
use super::scenario::Scenario;
use crate::sim::profile::Profile;

/// `zksim bench [--seeds N]`: one run on one core, then a sweep with --jobs 1 and --jobs 2.
pub fn bench_command(seeds: u64) -> i32 {
    let scenario = Scenario::builtin_default();
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let one = run(&scenario, 1, &options);
    let wall_s = one.wall_ms as f64 / 1000.0;
    println!(
        "single run (default scenario, seed 1, fast checks): {:.1} simulated s in {:.2} wall s = {:.1} simulated s per wall s, {} client ops = {:.0} ops per wall s",
        one.sim_ms as f64 / 1000.0,
        wall_s,
        one.sim_ms as f64 / 1000.0 / wall_s,
        one.ops,
        one.ops as f64 / wall_s
    );
    let list: Vec<u64> = (0..seeds).collect();
    for jobs in [1usize, 2] {
        let wall = Instant::now();
        let (results, _) = run_seeds(&scenario, &list, jobs, &options, false, false);
        let w = wall.elapsed().as_secs_f64();
        let sim: f64 = results.iter().map(|r| r.sim_ms as f64 / 1000.0).sum();
        let ops: usize = results.iter().map(|r| r.ops).sum();
        let bad = results.iter().filter(|r| !r.as_expected).count();
        println!(
            "sweep default seeds 0..{seeds} --jobs {jobs}: {w:.1} wall s, {:.1} seeds/min, {:.1} simulated s per wall s, {:.0} ops per wall s ({bad} not as expected)",
            results.len() as f64 * 60.0 / w,
            sim / w,
            ops as f64 / w
        );
    }
    bench_swarm(seeds);
    bench_mixed_against_register(seeds);
    bench_fault_points(seeds);
    // Last: it turns on the wall-clock timing, which costs the runs after it.
    bench_breakdown(seeds);
    0
}

/// The swarm sweep's seeds per minute (`--jobs 2`), the figure issue 18 measures against.
fn bench_swarm(seeds: u64) {
    let Ok((swarm, _)) = resolve_scenario(Some("swarm")) else { return println!("swarm scenario missing") };
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let list: Vec<u64> = (0..seeds).collect();
    let wall = Instant::now();
    let (results, _) = run_seeds(&swarm, &list, 2, &options, false, false);
    let w = wall.elapsed().as_secs_f64();
    let sim: f64 = results.iter().map(|r| r.sim_ms as f64 / 1000.0).sum();
    println!(
        "sweep swarm seeds 0..{seeds} --jobs 2: {w:.1} wall s, {:.1} seeds/min, {:.1} simulated s per wall s",
        results.len() as f64 * 60.0 / w,
        sim / w
    );
}

/// Where a default run's time goes, `--jobs 1`, summed over the seeds: the simulation (the
/// runtime, the nodes, the network), the online invariants and the history recorder inside
/// it, then the history checks (parse + checks) and one report (JSON + HTML) after it; and the
/// simulator's own work per simulated second and per commit.
fn bench_breakdown(seeds: u64) {
    crate::sim::profile::enable_timing();
    let scenario = Scenario::builtin_default();
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let mut total = Profile::default();
    let (mut sim_s, mut commits, mut wall_s) = (0.0, 0u64, 0.0);
    for seed in 0..seeds {
        let outcome = run(&scenario, seed, &options);
        total.add(&outcome.profile);
        sim_s += outcome.sim_ms as f64 / 1000.0;
        commits += outcome.commits;
        wall_s += outcome.wall_ms as f64 / 1000.0;
    }
    let report_s = time_one_report(&scenario, &options);
    let ms = |ns: u64| ns as f64 / 1e6;
    let core_ns = total.simulation_ns.saturating_sub(total.invariants_ns + total.recording_ns + total.history_build_ns);
    let checks_ns = total.history_build_ns + total.checks_ns;
    let share = |ns: u64| 100.0 * ns as f64 / 1e9 / wall_s.max(1e-9);
    println!("breakdown, default scenario seeds 0..{seeds} --jobs 1: {wall_s:.2} wall s for {sim_s:.1} simulated s ({:.1} simulated s per wall s)", sim_s / wall_s.max(1e-9));
    println!("  simulation (runtime, nodes, network) {:>9.1} ms  {:>5.1}%", ms(core_ns), share(core_ns));
    println!("  online invariants                    {:>9.1} ms  {:>5.1}%", ms(total.invariants_ns), share(total.invariants_ns));
    println!("  history text (JSONL; sweeps skip it) {:>9.1} ms  {:>5.1}%", ms(total.recording_ns), share(total.recording_ns));
    println!("  history checks (build + check)       {:>9.1} ms  {:>5.1}%", ms(checks_ns), share(checks_ns));
    println!("  one report (JSON + HTML), seed 0     {:>9.1} ms", report_s * 1000.0);
    let per = |n: u64, d: f64| n as f64 / d.max(1e-9);
    println!(
        "  per simulated s: {:.0} timers armed, {:.1} tasks spawned, {:.0} packets; per commit: {:.2} timers, {:.3} tasks, {:.2} packets ({commits} commits)",
        per(total.timers_armed, sim_s),
        per(total.tasks_spawned, sim_s),
        per(total.packets_sent, sim_s),
        per(total.timers_armed, commits as f64),
        per(total.tasks_spawned, commits as f64),
        per(total.packets_sent, commits as f64)
    );
    let events = total.timers_armed + total.packets_sent;
    bench_ceiling(core_ns as f64 / events.max(1) as f64, per(events, sim_s));
}

/// The shell's own limit (`sim::ceiling`): empty hosts on the same wire, mailboxes and alarms,
/// moving about the default scenario's packets per simulated second, against the default's
/// simulation share per event; and madsim's own `Endpoint` ping-pong, the yardstick.
fn bench_ceiling(default_ns_per_event: f64, default_events_per_sim_s: f64) {
    use crate::sim::ceiling::{endpoint_ping_pong, measure, Load};
    // 5 servers and 10 clients; 3 packets of 1-5 ms always in flight (~1,000 per simulated
    // s); each host's own timer every 150 ms (~100 per simulated s), as the default counts.
    let load = Load { hosts: 15, packets_in_flight: 3, host_timer_period_ms: 150, latency_ms: (1, 5), sim_s: 200 };
    let empty = measure(1, load);
    let (messages, ping_pong_s) = endpoint_ping_pong(1, 400_000);
    println!(
        "shell ceiling, {} empty hosts for {:.0} simulated s: {:.0} packets + {:.0} timers per simulated s, {:.0} ns per event, {:.0} events per wall s; madsim Endpoint ping-pong: {:.0} messages per wall s",
        load.hosts,
        empty.sim_s,
        empty.packets as f64 / empty.sim_s,
        empty.timers as f64 / empty.sim_s,
        empty.ns_per_event(),
        empty.events_per_wall_s(),
        messages as f64 / ping_pong_s.max(1e-9)
    );
    println!(
        "  default scenario: {default_ns_per_event:.0} ns per event in its simulation share ({:.1}x the empty shell's); its {default_events_per_sim_s:.0} events per simulated s at the empty shell's cost: at most {:.0} simulated s per wall s",
        default_ns_per_event / empty.ns_per_event(),
        1e9 / (empty.ns_per_event() * default_events_per_sim_s.max(1e-9))
    );
}

/// Wall seconds to write one run's report (history, summary, report.html) to a scratch dir.
fn time_one_report(scenario: &Scenario, options: &RunOptions) -> f64 {
    let (outcome, analysis) = super::runner::run_with_analysis(scenario, 0, options);
    let dir = std::env::temp_dir().join(format!("zksim-bench-report-{}", std::process::id()));
    let start = Instant::now();
    let written = super::runner::write_report(&dir, &outcome);
    if let (Ok(path), Some(analysis)) = (&written, &analysis) {
        let reproduce = super::cli::reproduce_line("default", 0, &[]);
        let _ = super::runner::write_html_report(path, &outcome, analysis, scenario, &reproduce);
    }
    let seconds = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    seconds
}

/// The mixed workload's cost per simulated second against the register workload's on the same
/// scenario (the built-in default; its workload replaced by the register workload's defaults, as
/// the default scenario ran before issue 14), `--jobs 1`, best of three alternating rounds (the
/// machine is shared: the best round is the least disturbed).
fn bench_mixed_against_register(seeds: u64) {
    let mixed = Scenario::builtin_default();
    let mut register = mixed.clone();
    register.workload = super::scenario::WorkloadSpec::default();
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let list: Vec<u64> = (0..seeds).collect();
    let mut best = [(f64::MAX, 0.0, 0usize); 2]; // (wall s per simulated s, simulated s, ops)
    for _round in 0..3 {
        for (i, scenario) in [&register, &mixed].into_iter().enumerate() {
            let wall = Instant::now();
            let (results, _) = run_seeds(scenario, &list, 1, &options, false, false);
            let w = wall.elapsed().as_secs_f64();
            let sim: f64 = results.iter().map(|r| r.sim_ms as f64 / 1000.0).sum();
            let ops: usize = results.iter().map(|r| r.ops).sum();
            if w / sim < best[i].0 {
                best[i] = (w / sim, sim, ops);
            }
        }
    }
    for (label, (cost, sim, ops)) in [("register", best[0]), ("mixed", best[1])] {
        println!("default scenario, {label} workload, {seeds} seeds --jobs 1 (best of 3): {:.1} simulated s per wall s, {:.0} client ops per simulated s", 1.0 / cost, ops as f64 / sim);
    }
    println!("cost of the mixed workload per simulated second: {:.2}x the register workload's", best[1].0 / best[0].0);
}

/// Runs per minute of the swarm, the same swarm with fault points armed, the fault-point swarm
/// scenario and `explore` on it (all `--jobs 2`, correct build), and the cost ratio per
/// simulated second of arming points.
fn bench_fault_points(runs: u64) {
    use super::explore::{explore, ExploreConfig, Want};
    let Ok((swarm, _)) = resolve_scenario(Some("swarm")) else { return println!("swarm scenario missing") };
    let Ok((generic, _)) = resolve_scenario(Some("explore")) else { return println!("explore scenario missing") };
    let mut armed = swarm.clone();
    armed.nemesis.random_points = Some(super::scenario::RandomPoints::default());
    let list: Vec<u64> = (0..runs).collect();
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let mut per_sim_s = Vec::new();
    for (label, scenario) in [("swarm", &swarm), ("swarm + fault points armed", &armed)] {
        let wall = Instant::now();
        let (results, _) = run_seeds(scenario, &list, 2, &options, false, false);
        let w = wall.elapsed().as_secs_f64();
        let sim: f64 = results.iter().map(|r| r.sim_ms as f64 / 1000.0).sum();
        let fired: usize = results.iter().map(|r| r.firings).sum();
        per_sim_s.push(w / sim.max(1e-9));
        println!("{label}, {runs} seeds --jobs 2: {:.1} runs/min, {:.1} simulated s per wall s, {fired} fault-point firings", runs as f64 * 60.0 / w, sim / w);
    }
    println!("cost of arming fault points per simulated second: {:.2}x the plain swarm's", per_sim_s[1] / per_sim_s[0]);
    for (label, guided) in [("fault-point swarm (explore.json, every run fresh)", false), ("explore (explore.json, guided)", true)] {
        let config = ExploreConfig { runs: runs as usize, jobs: 2, seed: 1, bugs: Vec::new(), guided, want: Want::Nothing, time_limit_s: None };
        let result = explore(&generic, &config, |_, _, _| {});
        let w = result.wall_ms as f64 / 1000.0;
        println!("{label}, {} runs --jobs 2: {:.1} runs/min, corpus {}, {} distinct probes", result.runs, result.runs as f64 * 60.0 / w.max(1e-3), result.corpus, result.curve.last().map_or(0, |c| c.1));
    }
}
