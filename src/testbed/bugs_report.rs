//! `zksim bugs-report`: does the testbed find each historical bug, and only with its flag?
//!
//! Why one command: the claim "the testbed finds these bugs" is only worth what its evidence
//! is, so the evidence (seeds swept to the first violation, the same seeds clean without the
//! flag, the shrunk reproducer, what the generic swarm finds) is regenerated from scratch by
//! one command, with the limits it actually used printed next to the numbers. The sweeps are
//! `cli::run_seeds`, the same machinery as `zksim sweep`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cli::{bad_input, reproduce_line, run_seeds, SCENARIO_DIR};
use super::generic_report::{generic_section, GenericArgs};
use super::runner::{run, RunOptions, Verdict};
use super::scenario::Scenario;
use crate::zab::Bug;

/// Arguments of `zksim bugs-report`.
pub struct BugsReportArgs {
    /// Seeds for each targeted sweep and for its clean (flag removed) sweep.
    pub seeds: u64,
    /// Seeds of the generic swarm scenario per flag (0 skips the swarm part).
    pub swarm_seeds: u64,
    pub jobs: usize,
    pub out: PathBuf,
    /// Most runs per flag and method of the generic comparison (0 skips it).
    pub generic_runs: usize,
    /// Most wall seconds per flag and method of the generic comparison.
    pub generic_time_limit_s: f64,
}

/// The first safety violation in `0..limit`, and how long the search took.
struct Search {
    first: Option<u64>,
    /// Seeds run (all seeds below `first` and maybe a few above, run in parallel).
    swept: u64,
    wall_s: f64,
    /// The first liveness failure seen on the way (a flag may only stall the ensemble).
    first_liveness: Option<u64>,
}

/// Runs seeds in order (in parallel) until one ends in a safety violation; liveness failures
/// are not what a bug flag is expected to cause, so the search goes on past them.
fn first_safety_violation(scenario: &Scenario, limit: u64, jobs: usize, options: &RunOptions) -> Search {
    let wall = Instant::now();
    let mut probe = scenario.clone();
    probe.expect.outcome = "pass".into();
    probe.expect.check = None;
    let mut next = 0;
    let mut swept = 0;
    let mut first_liveness = None;
    while next < limit {
        let seeds: Vec<u64> = (next..limit).collect();
        let (results, _) = run_seeds(&probe, &seeds, jobs, options, true, false);
        swept += results.len() as u64;
        if first_liveness.is_none() {
            first_liveness = results.iter().find(|r| r.verdict == "liveness_failure").map(|r| r.seed);
        }
        if let Some(r) = results.iter().find(|r| r.verdict == "safety_violation") {
            return Search { first: Some(r.seed), swept: r.seed + 1, wall_s: wall.elapsed().as_secs_f64(), first_liveness };
        }
        next = results.iter().map(|r| r.seed + 1).max().unwrap_or(limit);
    }
    Search { first: None, swept, wall_s: wall.elapsed().as_secs_f64(), first_liveness }
}

/// The first safety finding of a seed (the check that caught it, and its detail).
fn safety_finding(scenario: &Scenario, seed: u64, options: &RunOptions) -> (String, String) {
    let outcome = run(scenario, seed, options);
    match outcome.findings.iter().find(|f| f.check != "liveness") {
        Some(f) => (f.check.clone(), one_line(&crate::report::text::headline(f), 200)),
        None => ("none".into(), format!("seed {seed} gave {}", outcome.verdict.name())),
    }
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '|'], " ");
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The seed a shrunk scenario was minimized for: its `seed`, else its description's `seed N`.
fn shrunk_seed(scenario: &Scenario) -> Option<u64> {
    if scenario.seed.is_some() {
        return scenario.seed;
    }
    let d = &scenario.description;
    let at = d.find(" seed ")?;
    d[at + 6..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

struct Row {
    bug: Bug,
    text: String,
}

fn targeted_section(bug: Bug, args: &BugsReportArgs) -> Row {
    let path = Path::new(SCENARIO_DIR).join("bugs").join(format!("{}.json", bug.name()));
    let mut text = format!("### {}\n\n{}\n\n", bug.name(), bug.description());
    if !path.exists() {
        text.push_str(&format!("not yet targeted (no `{}`)\n\n", path.display()));
        return Row { bug, text };
    }
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => {
            text.push_str(&format!("scenario does not load: {e}\n\n"));
            return Row { bug, text };
        }
    };
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let found = first_safety_violation(&scenario, args.seeds, args.jobs, &options);
    let _ = writeln!(text, "- targeted scenario: `{}` ({})", path.display(), scenario.description);
    let stall_expected = scenario.expect.outcome == "liveness";
    match (found.first, found.first_liveness) {
        (None, Some(seed)) if stall_expected => {
            let _ = writeln!(text, "- no safety violation in {} seeds ({:.1} wall s); as the scenario expects, the flag stalls the ensemble", found.swept, found.wall_s);
            let _ = writeln!(text, "- found (liveness): first liveness failure at seed {seed}");
            let _ = writeln!(text, "- caught by: `liveness` (the run's liveness phase: no serving leader / no convergence after every fault healed)");
            let _ = writeln!(text, "- reproduce: `{}`", reproduce_line(&path.display().to_string(), seed, &[]));
        }
        (Some(seed), _) => {
            let (check, detail) = safety_finding(&scenario, seed, &options);
            let _ = writeln!(text, "- found: seed {seed}, after {} seeds in {:.1} wall s", found.swept, found.wall_s);
            let _ = writeln!(text, "- caught by: `{check}`");
            let _ = writeln!(text, "- anomaly: {detail}");
            let _ = writeln!(text, "- reproduce: `{}`", reproduce_line(&path.display().to_string(), seed, &[]));
        }
        (None, _) => {
            let _ = writeln!(text, "- NOT FOUND: no safety violation in {} seeds ({:.1} wall s)", found.swept, found.wall_s);
            if let Some(seed) = found.first_liveness {
                let _ = writeln!(
                    text,
                    "- the flag does stall the ensemble: first liveness failure at seed {seed} (`{}`)",
                    reproduce_line(&path.display().to_string(), seed, &[])
                );
            }
        }
    }
    let mut clean = scenario.clone();
    clean.bugs.clear();
    clean.expect.outcome = "pass".into();
    clean.expect.check = None;
    let clean_seeds = found.swept.max(args.seeds);
    let wall = Instant::now();
    let seeds: Vec<u64> = (0..clean_seeds).collect();
    let (results, _) = run_seeds(&clean, &seeds, args.jobs, &options, true, false);
    let wall_s = wall.elapsed().as_secs_f64();
    match results.iter().find(|r| r.verdict != "pass") {
        None => {
            let _ = writeln!(text, "- correct build (flag removed), same schedule: seeds 0..{clean_seeds} all pass ({wall_s:.1} wall s)");
        }
        Some(r) => {
            let _ = writeln!(
                text,
                "- correct build (flag removed): seed {} gives {} ({}) after {} seeds ({wall_s:.1} wall s)",
                r.seed,
                r.verdict,
                r.detail.as_deref().map(|d| one_line(d, 160)).unwrap_or_default(),
                results.len()
            );
        }
    }
    text.push_str(&shrunk_line(bug));
    text.push('\n');
    Row { bug, text }
}

fn shrunk_line(bug: Bug) -> String {
    let path = Path::new(SCENARIO_DIR).join("bugs").join(format!("{}-shrunk.json", bug.name()));
    if !path.exists() {
        return "- shrunk scenario: none yet\n".into();
    }
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => return format!("- shrunk scenario `{}` does not load: {e}\n", path.display()),
    };
    let Some(seed) = shrunk_seed(&scenario) else {
        return format!("- shrunk scenario `{}`: its description names no seed\n", path.display());
    };
    let options = RunOptions { bugs: Vec::new(), fast_checks: true };
    let buggy = run(&scenario, seed, &options);
    let mut clean = scenario.clone();
    clean.bugs.clear();
    let correct = run(&clean, seed, &options);
    format!(
        "- shrunk scenario: `{}` seed {seed}: {} faults, {} s, {} clients; with the flag {}, without it {}\n",
        path.display(),
        scenario.nemesis.schedule.len(),
        scenario.duration_s,
        scenario.clients.count,
        buggy.verdict.name(),
        correct.verdict.name()
    )
}

/// Per flag: the first seed of the generic swarm scenario with a safety violation.
fn swarm_section(args: &BugsReportArgs) -> String {
    let mut text = String::new();
    let path = Path::new(SCENARIO_DIR).join("swarm.json");
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => return format!("swarm scenario does not load: {e}\n"),
    };
    let _ = writeln!(text, "Generic `{}`, seeds 0..{} per flag, stop at the first safety violation.\n", path.display(), args.swarm_seeds);
    let _ = writeln!(text, "| flag | first failing seed | caught by | seeds run | first liveness failure | wall s | reproduce |");
    let _ = writeln!(text, "| --- | --- | --- | --- | --- | --- | --- |");
    let mut found = Vec::new();
    for bug in Bug::ALL {
        let options = RunOptions { bugs: vec![bug], fast_checks: true };
        let s = first_safety_violation(&scenario, args.swarm_seeds, args.jobs, &options);
        let (first, check, reproduce) = match s.first {
            Some(seed) => {
                found.push(bug.name());
                let (check, _) = safety_finding(&scenario, seed, &options);
                (seed.to_string(), format!("`{check}`"), format!("`{}`", reproduce_line("swarm", seed, &[bug])))
            }
            None => (format!("not found in {}", args.swarm_seeds), "—".into(), "—".into()),
        };
        let liveness = s.first_liveness.map(|seed| seed.to_string()).unwrap_or_else(|| "—".into());
        let _ = writeln!(text, "| {} | {first} | {check} | {} | {liveness} | {:.1} | {reproduce} |", bug.name(), s.swept, s.wall_s);
        eprintln!("bugs-report: swarm {} -> {first} ({} seeds, {:.1} wall s)", bug.name(), s.swept, s.wall_s);
    }
    let _ = writeln!(
        text,
        "\nThe swarm scenario finds {} of {} flags within {} seeds: {}.",
        found.len(),
        Bug::ALL.len(),
        args.swarm_seeds,
        if found.is_empty() { "none".to_string() } else { found.join(", ") }
    );
    text
}

/// `zksim bugs-report [--seeds N] [--swarm-seeds N] [--jobs J] [--out FILE]`.
pub fn bugs_report_command(args: &BugsReportArgs) -> i32 {
    if args.jobs == 0 {
        return bad_input("--jobs: expected at least 1");
    }
    let wall = Instant::now();
    let mut md = String::new();
    let _ = writeln!(md, "# Historical bugs: does the testbed find them?\n");
    let _ = writeln!(
        md,
        "Regenerate: `cargo run --release -- bugs-report --seeds {} --swarm-seeds {} --generic-runs {} --generic-time-limit-s {} --jobs {} --out {}` (0 skips a part). Sweeps use fast checks (no black-box linearizability search); \"found\" means a safety violation (online invariant or history check), liveness failures do not count, except for a flag whose scenario expects one (`expect.outcome = liveness`).\n",
        args.seeds,
        args.swarm_seeds,
        args.generic_runs,
        args.generic_time_limit_s,
        args.jobs,
        args.out.display()
    );
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let _ = writeln!(md, "Machine: {cores} cores visible to the process; wall times are for `--jobs {}`.\n", args.jobs);
    if args.generic_runs > 0 {
        let _ = writeln!(md, "## Generic exploration, no targeted scenario\n");
        let generic = GenericArgs { runs: args.generic_runs, time_limit_s: args.generic_time_limit_s, jobs: args.jobs, seed: 1 };
        let plot = args.out.with_file_name("coverage-swarm-vs-explore.svg");
        md.push_str(&generic_section(&generic, &plot));
    }
    if args.seeds > 0 {
        let _ = writeln!(md, "## Targeted scenarios (`sim-scenarios/bugs/`), seeds 0..{} each\n", args.seeds);
    }
    let mut rows = Vec::new();
    for bug in Bug::ALL.into_iter().filter(|_| args.seeds > 0) {
        let row = targeted_section(bug, args);
        eprintln!("bugs-report: targeted {} done", row.bug.name());
        rows.push(row);
    }
    for row in &rows {
        md.push_str(&row.text);
    }
    let _ = writeln!(md, "## Generic swarm scenario\n");
    if args.swarm_seeds == 0 {
        let _ = writeln!(md, "skipped (--swarm-seeds 0)\n");
    } else {
        md.push_str(&swarm_section(args));
    }
    let _ = writeln!(md, "\nTotal wall time: {:.1} s with --jobs {}.", wall.elapsed().as_secs_f64(), args.jobs);
    print!("{md}");
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&args.out, &md) {
        Ok(()) => {
            eprintln!("report: {}", args.out.display());
            0
        }
        Err(e) => {
            eprintln!("zksim: could not write {}: {e}", args.out.display());
            Verdict::Crash.exit_code()
        }
    }
}
