//! `zksim run` and the scenario lookup shared by the testbed's subcommands.
//!
//! Why: every failure must end with one command that reproduces it bit for bit, so the
//! reproduce line is built here from exactly what the run used.

use std::path::{Path, PathBuf};

use super::runner::{run, write_report, RunOptions, RunOutcome, Verdict};
use super::scenario::Scenario;
use crate::zab::Bug;

/// Exit code for bad input (a malformed scenario, argument or history).
pub const EXIT_BAD_INPUT: i32 = 4;

/// The directory holding shipped scenarios.
pub const SCENARIO_DIR: &str = "sim-scenarios";

/// `default`, a shipped scenario's name, or a file path.
pub fn resolve_scenario(arg: Option<&str>) -> Result<(Scenario, String), String> {
    match arg {
        None | Some("default") => Ok((Scenario::default(), "default".into())),
        Some(name) => {
            let as_path = Path::new(name);
            let path: PathBuf = if as_path.exists() {
                as_path.to_path_buf()
            } else {
                let shipped = Path::new(SCENARIO_DIR).join(format!("{name}.json"));
                if shipped.exists() {
                    shipped
                } else {
                    return Err(format!("{name}: no such scenario file, and no `{}` (see `zksim list`)", shipped.display()));
                }
            };
            let scenario = Scenario::load(&path)?;
            Ok((scenario, path.display().to_string()))
        }
    }
}

pub fn parse_bugs(names: &[String]) -> Result<Vec<Bug>, String> {
    names.iter().map(|n| n.parse::<Bug>()).collect()
}

/// The one command that reproduces a run.
pub fn reproduce_line(scenario_ref: &str, seed: u64, bugs: &[Bug]) -> String {
    let mut line = format!("cargo run --release -- run {scenario_ref} --seed {seed}");
    for bug in bugs {
        line.push_str(&format!(" --bug {}", bug.name()));
    }
    line
}

pub fn print_outcome(outcome: &RunOutcome, scenario: &Scenario) {
    println!(
        "scenario {} seed {}: {} client ops ({} ok, {} unknown), {} faults, {} leaders established, {} commits, {:.1} simulated s in {:.2} wall s, trace {}",
        outcome.scenario,
        outcome.seed,
        outcome.ops,
        outcome.ops_ok,
        outcome.ops_unknown,
        outcome.faults,
        outcome.leader_elections,
        outcome.commits,
        outcome.sim_ms as f64 / 1000.0,
        outcome.wall_ms as f64 / 1000.0,
        outcome.trace_hash
    );
    if !outcome.bugs.is_empty() {
        println!("bug flags: {}", outcome.bugs.join(", "));
    }
    for f in outcome.findings.iter().take(10) {
        println!("  {}: {}", f.check, f.detail);
    }
    let expected = outcome.as_expected(scenario);
    let note = match (scenario.expect.outcome.as_str(), expected) {
        ("violation", true) => " (expected: the scenario must show an anomaly)",
        ("violation", false) => " (NOT as expected: the scenario should show an anomaly)",
        _ => "",
    };
    println!("verdict: {}{note}", outcome.verdict.name());
}

/// `zksim run [SCENARIO] [--seed N] [--bug NAME]... [--out DIR]`.
pub fn run_command(scenario_arg: Option<&str>, seed: u64, bug_names: &[String], out: Option<&Path>) -> i32 {
    let (scenario, scenario_ref) = match resolve_scenario(scenario_arg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zksim: bad input: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let bugs = match parse_bugs(bug_names) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("zksim: bad input: --bug: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let outcome = run(&scenario, seed, &RunOptions { bugs: bugs.clone(), fast_checks: false });
    print_outcome(&outcome, &scenario);
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("reports"));
    match write_report(&dir, &outcome) {
        Ok(path) => println!("history and summary: {}", path.display()),
        Err(e) => eprintln!("zksim: could not write the report under {}: {e}", dir.display()),
    }
    println!("reproduce: {}", reproduce_line(&scenario_ref, seed, &bugs));
    if outcome.verdict != Verdict::Pass && !outcome.as_expected(&scenario) {
        return outcome.verdict.exit_code();
    }
    if outcome.as_expected(&scenario) {
        0
    } else {
        1
    }
}
