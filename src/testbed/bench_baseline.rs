//! `zksim bench --baseline OLD`: this build against another build of zksim, in one run.
//!
//! Why: a speed-up is a ratio measured on one machine in one session (the VM's host and load
//! change from day to day); issue 18 asks for the swarm's seeds per minute and the default's
//! simulated seconds per wall second against the build it was filed at. Both builds run as
//! child processes of the same `zksim sweep` command line, in alternating rounds, and each
//! figure is the best of its rounds, so a burst of load elsewhere costs both alike. Besides the
//! wall time (what seeds per minute means) each round's CPU time (user + system of the child,
//! from `getrusage`) is kept: on a shared VM it swings less than the wall clock, so its ratio is
//! the steadier figure for a small change.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::cli::bad_input;

/// One sweep both builds run: scenario, `--jobs`, and what the figure is called.
struct Sweep {
    scenario: &'static str,
    jobs: usize,
    what: &'static str,
}

const SWEEPS: [Sweep; 2] = [
    Sweep { scenario: "swarm", jobs: 2, what: "swarm sweep, --jobs 2" },
    Sweep { scenario: "default", jobs: 1, what: "default sweep, one core (--jobs 1)" },
];

/// Runs every sweep of [`SWEEPS`] with both builds and prints seeds per minute, simulated s per
/// wall s and this build's ratio. Exit 4 if `baseline` cannot run a sweep.
pub fn compare(baseline: &Path, seeds: u64, rounds: usize) -> i32 {
    let this = match std::env::current_exe() {
        Ok(path) => path,
        Err(e) => return bad_input(format!("cannot find this zksim binary: {e}")),
    };
    if !baseline.is_file() {
        return bad_input(format!("--baseline {}: no such file (a zksim binary built from the commit to compare with)", baseline.display()));
    }
    if rounds == 0 {
        return bad_input("--rounds 0: at least one round per build".to_string());
    }
    println!("this build {} against the baseline {}, seeds 0..{seeds}, best of {rounds} alternating rounds", this.display(), baseline.display());
    for sweep in &SWEEPS {
        // A first run pays for loading the binary and the scenario files: one seed each, untimed.
        for binary in [baseline, this.as_path()] {
            if let Err(problem) = time_sweep(binary, sweep, 1) {
                return bad_input(format!("--baseline {}: {problem}", binary.display()));
            }
        }
        let mut best = [f64::INFINITY; 2];
        let mut best_cpu = [f64::INFINITY; 2];
        let mut simulated_s = [0.0; 2];
        for _ in 0..rounds {
            for (i, binary) in [baseline, this.as_path()].into_iter().enumerate() {
                match time_sweep(binary, sweep, seeds) {
                    Ok(timed) => {
                        best[i] = best[i].min(timed.wall_s);
                        best_cpu[i] = best_cpu[i].min(timed.cpu_s);
                        simulated_s[i] = timed.simulated_s;
                    }
                    Err(problem) => return bad_input(format!("--baseline {}: {problem}", binary.display())),
                }
            }
        }
        let per_min = |wall_s: f64| seeds as f64 * 60.0 / wall_s;
        println!(
            "{}: baseline {:.0} seeds/min ({:.1} simulated s per wall s), this build {:.0} seeds/min ({:.1}): {:.2}x",
            sweep.what,
            per_min(best[0]),
            simulated_s[0] / best[0],
            per_min(best[1]),
            simulated_s[1] / best[1],
            best[0] / best[1]
        );
        println!("  CPU (user + system): baseline {:.2} s, this build {:.2} s: {:.2}x", best_cpu[0], best_cpu[1], best_cpu[0] / best_cpu[1]);
    }
    0
}

/// What one sweep of one build took.
struct Timed {
    wall_s: f64,
    /// User + system seconds of the child process.
    cpu_s: f64,
    simulated_s: f64,
}

/// CPU seconds (user + system) of every child process this one has waited for so far.
fn children_cpu_s() -> f64 {
    // SAFETY: `getrusage` fills the struct it is given; a zeroed `rusage` is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } == 0;
    assert!(ok, "getrusage(RUSAGE_CHILDREN) cannot fail with a valid pointer");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Wall and CPU seconds of `binary sweep SCENARIO --seeds 0..N --jobs J`, and the simulated
/// seconds its JSON summary adds up (`results[].sim_ms`, which every zksim version writes).
fn time_sweep(binary: &Path, sweep: &Sweep, seeds: u64) -> Result<Timed, String> {
    let json = summary_path(sweep.scenario);
    let cpu_before = children_cpu_s();
    let start = Instant::now();
    let status = Command::new(binary)
        .args(["sweep", sweep.scenario, "--seeds", &format!("0..{seeds}"), "--jobs", &sweep.jobs.to_string(), "--json"])
        .arg(&json)
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_s = children_cpu_s() - cpu_before;
    // A sweep with failing seeds exits 1-3 and still writes its summary; 4 and up is an error.
    if status.code().is_none_or(|code| code > 3) {
        return Err(format!("`sweep {}` ended with {status}", sweep.scenario));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| format!("no summary at {}: {e}", json.display()))?;
    let _ = std::fs::remove_file(&json);
    let summary: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", json.display()))?;
    let results = summary["results"].as_array().ok_or_else(|| format!("{}: no `results` array", json.display()))?;
    let sim_ms: f64 = results.iter().filter_map(|r| r["sim_ms"].as_f64()).sum();
    Ok(Timed { wall_s, cpu_s, simulated_s: sim_ms / 1000.0 })
}

fn summary_path(scenario: &str) -> PathBuf {
    std::env::temp_dir().join(format!("zksim-bench-baseline-{}-{scenario}.json", std::process::id()))
}
