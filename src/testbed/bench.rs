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
    bench_mixed_against_register(seeds);
    bench_fault_points(seeds);
    0
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
