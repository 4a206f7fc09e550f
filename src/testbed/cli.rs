//! `zksim run` and the scenario lookup shared by the testbed's subcommands.
//!
//! Why: every failure must end with one command that reproduces it bit for bit, so the
//! reproduce line is built here from exactly what the run used.

use std::path::{Path, PathBuf};

use super::runner::{run, run_judged_only, run_with_analysis, write_html_report, write_report, RunOptions, RunOutcome, Verdict};
use super::scenario::Scenario;
use crate::zab::Bug;

/// Exit code for bad input (a malformed scenario, argument or history).
pub const EXIT_BAD_INPUT: i32 = 4;

/// The directory holding shipped scenarios.
pub const SCENARIO_DIR: &str = "sim-scenarios";

/// `default`, a shipped scenario's name, or a file path.
pub fn resolve_scenario(arg: Option<&str>) -> Result<(Scenario, String), String> {
    match arg {
        None | Some("default") => Ok((Scenario::builtin_default(), "default".into())),
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
    with_bug_flags(format!("cargo run --release -- run {scenario_ref} --seed {seed}"), bugs)
}

/// The reproduce line of a run of a scenario that may carry its own seed: `--seed` only when
/// the file does not already say that seed.
pub fn reproduce_run_line(scenario_ref: &str, file_seed: Option<u64>, seed: u64, bugs: &[Bug]) -> String {
    if file_seed == Some(seed) {
        return with_bug_flags(format!("cargo run --release -- run {scenario_ref}"), bugs);
    }
    reproduce_line(scenario_ref, seed, bugs)
}

fn with_bug_flags(mut line: String, bugs: &[Bug]) -> String {
    for bug in bugs {
        line.push_str(&format!(" --bug {}", bug.name()));
    }
    line
}

/// The seed of `zksim run`: `--seed`, else the scenario file's `seed`, else 1.
pub fn run_seed(flag: Option<u64>, scenario: &Scenario) -> u64 {
    flag.or(scenario.seed).unwrap_or(1)
}

pub fn print_outcome(outcome: &RunOutcome, scenario: &Scenario) {
    print_outcome_with(outcome, scenario, None);
}

/// The run's header line, its findings root cause first (with the faults and server events
/// before each when the history is at hand), coverage and the verdict.
pub fn print_outcome_with(outcome: &RunOutcome, scenario: &Scenario, history: Option<&crate::history::History>) {
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
    if let Some((ms, explain)) = &outcome.liveness_bound {
        println!("liveness bound: {:.1} s = {explain}", *ms as f64 / 1000.0);
    }
    if outcome.acked_lost > 0 {
        println!("disk faults lost {} acknowledged txns (no surviving disk held them when the last copies were wiped)", outcome.acked_lost);
    }
    print!("{}", crate::report::text::render_findings(&outcome.findings, history));
    let a = &outcome.allowed;
    println!(
        "allowed anomalies: {} stale plain reads, {} stale sync+reads (WARN), {} SessionMoved, {} unknown outcomes",
        a.stale_plain_reads, a.stale_sync_reads, a.session_moved, a.unknown_outcomes
    );
    println!("{}", super::coverage::describe(&outcome.coverage));
    for rule in &outcome.firings {
        println!("  fault point fired: {}", serde_json::to_string(rule).expect("serializable"));
    }
    let expected = outcome.as_expected(scenario);
    let note = match (scenario.expect.outcome.as_str(), expected) {
        ("violation", true) => " (expected: the scenario must show an anomaly)",
        ("violation", false) => " (NOT as expected: the scenario should show an anomaly)",
        ("liveness", true) => " (expected: the scenario must stall the ensemble)",
        ("liveness", false) => " (NOT as expected: the scenario should stall the ensemble)",
        _ => "",
    };
    println!("verdict: {}{note}", outcome.verdict_text());
}

/// `zksim run [SCENARIO] [--seed N] [--bug NAME]... [--out DIR] [--report]`; without
/// `--seed`, the scenario's own `seed` (else 1). Writes `report.html` on any finding (or
/// with `--report`).
pub fn run_command(scenario_arg: Option<&str>, seed_flag: Option<u64>, bug_names: &[String], out: Option<&Path>, force_report: bool) -> i32 {
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
    let seed = run_seed(seed_flag, &scenario);
    let (outcome, analysis) = run_with_analysis(&scenario, seed, &RunOptions { bugs: bugs.clone(), fast_checks: false });
    print_outcome_with(&outcome, &scenario, analysis.as_ref().map(|a| &a.history));
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("reports"));
    let reproduce = reproduce_run_line(&scenario_ref, scenario.seed, seed, &bugs);
    match write_report(&dir, &outcome) {
        Ok(path) => {
            let want_html = force_report || !outcome.findings.is_empty();
            match (want_html, &analysis) {
                (true, Some(analysis)) => match write_html_report(&path, &outcome, analysis, &scenario, &reproduce) {
                    Ok(html) => println!("history, summary and report: {} ({})", path.display(), html.display()),
                    Err(e) => eprintln!("zksim: could not write the HTML report under {}: {e}", path.display()),
                },
                _ => println!("history and summary: {}", path.display()),
            }
        }
        Err(e) => eprintln!("zksim: could not write the report under {}: {e}", dir.display()),
    }
    println!("reproduce: {reproduce}");
    if outcome.verdict != Verdict::Pass && !outcome.as_expected(&scenario) {
        return outcome.verdict.exit_code();
    }
    if outcome.as_expected(&scenario) {
        0
    } else {
        1
    }
}

// ---------------------------------------------------------------------------------------------
// sweep, merge, replay, shrink, list, bench
// ---------------------------------------------------------------------------------------------

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::coverage::{add_run, describe, merge_totals, missing, parse_required, ProbeTotal, EXIT_COVERAGE};
use crate::report::analysis::AllowedCounts;
use super::nemesis::plan;

/// Parses `A..B` (B excluded), `A..=B` (B included) or a single seed `N`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let bad = |why: &str| format!("--seeds `{text}`: {why} (expected A..B, A..=B or N)");
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad(&format!("`{s}` is not a seed number")));
    let range = if let Some((a, b)) = text.split_once("..=") {
        let (a, b) = (num(a)?, num(b)?);
        a..b.checked_add(1).ok_or_else(|| bad("end out of range"))?
    } else if let Some((a, b)) = text.split_once("..") {
        num(a)?..num(b)?
    } else {
        let n = num(text)?;
        n..n + 1
    };
    if range.start >= range.end {
        return Err(bad("the range is empty"));
    }
    Ok(range)
}

/// Parses `I/N` with 0 <= I < N.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = |why: &str| format!("--shard `{text}`: {why} (expected I/N with 0 <= I < N, e.g. 0/4)");
    let (i, n) = text.split_once('/').ok_or_else(|| bad("no `/`"))?;
    let i = i.trim().parse::<u64>().map_err(|_| bad("I is not a number"))?;
    let n = n.trim().parse::<u64>().map_err(|_| bad("N is not a number"))?;
    if n == 0 {
        return Err(bad("N must be at least 1"));
    }
    if i >= n {
        return Err(bad("I must be less than N"));
    }
    Ok((i, n))
}

/// The seeds of `range` that belong to shard `I/N`: seed s belongs to shard s mod N.
pub fn shard_seeds(range: Range<u64>, shard: Option<(u64, u64)>) -> Vec<u64> {
    match shard {
        None => range.collect(),
        Some((i, n)) => range.filter(|s| s % n == i).collect(),
    }
}

/// One seed of a sweep, as kept in the JSON summary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeedResult {
    pub seed: u64,
    pub verdict: String,
    pub exit_code: i32,
    pub as_expected: bool,
    pub anomaly: Option<String>,
    pub detail: Option<String>,
    pub trace_hash: String,
    pub ops: usize,
    pub faults: usize,
    pub sim_ms: i64,
    pub wall_ms: u64,
    /// Fault-point firings of the run.
    #[serde(default)]
    pub firings: usize,
    /// Anomalies ZooKeeper allows, counted in this run.
    #[serde(default)]
    pub allowed: AllowedCounts,
    /// Acknowledged txns the run's disk faults left on no surviving disk (`RunOutcome::acked_lost`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub acked_lost: usize,
    /// The run's coverage probes (summed into the sweep's totals, not written per seed).
    #[serde(skip)]
    pub coverage: BTreeMap<String, u64>,
    /// The run's nemesis records by action (`RunOutcome::nemesis_counts`; not written).
    #[serde(skip)]
    pub nemesis_counts: BTreeMap<String, u64>,
    /// The liveness finding's whole text, server views included (`detail` is cut; not written).
    #[serde(skip)]
    pub liveness_detail: Option<String>,
}

impl SeedResult {
    pub fn from_outcome(outcome: &RunOutcome, scenario: &Scenario) -> SeedResult {
        let failed = outcome.verdict != Verdict::Pass;
        SeedResult {
            seed: outcome.seed,
            verdict: serde_json::to_value(outcome.verdict).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            exit_code: outcome.verdict.exit_code(),
            as_expected: outcome.as_expected(scenario),
            anomaly: failed.then(|| outcome.anomaly()),
            detail: outcome.findings.first().map(|f| truncate_line(&crate::report::text::headline(f), 300)),
            trace_hash: outcome.trace_hash.clone(),
            ops: outcome.ops,
            faults: outcome.faults,
            sim_ms: outcome.sim_ms,
            wall_ms: outcome.wall_ms,
            firings: outcome.firings.len(),
            allowed: outcome.allowed,
            acked_lost: outcome.acked_lost,
            coverage: outcome.coverage.clone(),
            nemesis_counts: outcome.nemesis_counts.clone(),
            liveness_detail: outcome.findings.iter().find(|f| f.check == "liveness").map(|f| f.detail.clone()),
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn truncate_line(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShardSpec {
    pub index: u64,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Counts {
    pub seeds: usize,
    pub as_expected: usize,
    pub not_as_expected: usize,
    /// verdict name → seeds.
    pub by_verdict: BTreeMap<String, usize>,
    /// anomaly → seeds (only seeds not as expected).
    pub by_anomaly: BTreeMap<String, usize>,
    /// Allowed anomalies summed over the seeds.
    #[serde(default)]
    pub allowed: AllowedCounts,
    /// Seeds with at least one stale plain read, and the fewest any seed had.
    #[serde(default)]
    pub seeds_with_stale_reads: usize,
    #[serde(default)]
    pub min_stale_plain_reads: usize,
}

/// The JSON written by `zksim sweep` and `zksim merge`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepSummary {
    pub scenario: String,
    /// How the scenario was named on the command line (for reproduce lines).
    pub scenario_ref: String,
    pub expect: String,
    pub bugs: Vec<String>,
    /// [start, end) of the requested range.
    pub seeds: [u64; 2],
    pub shard: Option<ShardSpec>,
    /// Shard files merged into this one (empty for a sweep).
    #[serde(default)]
    pub merged_from: Vec<String>,
    pub fast_checks: bool,
    pub stopped_early: bool,
    pub wall_ms: u64,
    pub results: Vec<SeedResult>,
    pub counts: Counts,
    /// Coverage probes over every seed: passages and seeds that reached each.
    #[serde(default)]
    pub coverage: BTreeMap<String, ProbeTotal>,
    /// Probes `--require-coverage` asked for, and those of them that never fired.
    #[serde(default)]
    pub required_coverage: Vec<String>,
    #[serde(default)]
    pub missing_coverage: Vec<String>,
}

impl SweepSummary {
    pub fn recount(&mut self) {
        self.results.sort_by_key(|r| r.seed);
        let mut c = Counts { seeds: self.results.len(), ..Counts::default() };
        c.min_stale_plain_reads = self.results.iter().map(|r| r.allowed.stale_plain_reads).min().unwrap_or(0);
        for r in &self.results {
            c.allowed.add(&r.allowed);
            c.seeds_with_stale_reads += usize::from(r.allowed.stale_plain_reads > 0);
            *c.by_verdict.entry(r.verdict.clone()).or_default() += 1;
            if r.as_expected {
                c.as_expected += 1;
            } else {
                c.not_as_expected += 1;
                *c.by_anomaly.entry(r.anomaly.clone().unwrap_or_else(|| "no anomaly (one was expected)".into())).or_default() += 1;
            }
        }
        self.counts = c;
    }

    /// 0 if every seed is as the scenario expects, else 1 (safety) / 2 (liveness) / 3 (crash),
    /// the lowest code among the unexpected seeds; a missing expected anomaly is 1.
    /// With every seed as expected, [`EXIT_COVERAGE`] when a required probe never fired.
    pub fn exit_code(&self) -> i32 {
        let verdicts = self.results.iter().filter(|r| !r.as_expected).map(|r| if r.exit_code == 0 { 1 } else { r.exit_code }).min().unwrap_or(0);
        if verdicts == 0 && !self.missing_coverage.is_empty() {
            return EXIT_COVERAGE;
        }
        verdicts
    }

    /// Sums the seeds' probes (a sweep), and judges the required ones.
    pub fn total_coverage(&mut self) {
        for r in &self.results {
            add_run(&mut self.coverage, &r.coverage);
        }
        self.judge_coverage();
    }

    fn judge_coverage(&mut self) {
        self.missing_coverage = missing(&self.required_coverage, &self.coverage);
    }

    /// Allowed anomalies: totals, and per seed for a short sweep.
    fn print_allowed(&self) {
        let a = &self.counts.allowed;
        println!(
            "allowed anomalies (ZooKeeper permits them): {} stale plain reads ({} of {} seeds had some, fewest {} per seed), {} stale sync+reads (WARN), {} SessionMoved, {} unknown outcomes",
            a.stale_plain_reads, self.counts.seeds_with_stale_reads, self.counts.seeds, self.counts.min_stale_plain_reads, a.stale_sync_reads, a.session_moved, a.unknown_outcomes
        );
        if self.results.len() <= 40 {
            println!("{:>8} {:>18} {:>18} {:>13} {:>16}", "seed", "stale plain reads", "stale sync+reads", "SessionMoved", "unknown outcomes");
            for r in &self.results {
                let a = &r.allowed;
                println!("{:>8} {:>18} {:>18} {:>13} {:>16}", r.seed, a.stale_plain_reads, a.stale_sync_reads, a.session_moved, a.unknown_outcomes);
            }
        }
    }

    /// The failing-seed table, reproduce lines and totals.
    pub fn print_report(&self) {
        let failing: Vec<&SeedResult> = self.results.iter().filter(|r| !r.as_expected).collect();
        let shard = self.shard.as_ref().map(|s| format!(" shard {}/{}", s.index, s.count)).unwrap_or_default();
        println!(
            "sweep {} seeds {}..{}{shard}{}: {} seeds, {} as expected ({}), {} not",
            self.scenario,
            self.seeds[0],
            self.seeds[1],
            if self.bugs.is_empty() { String::new() } else { format!(" bugs {}", self.bugs.join(",")) },
            self.counts.seeds,
            self.counts.as_expected,
            self.expect,
            self.counts.not_as_expected
        );
        if !failing.is_empty() {
            let mut groups: BTreeMap<String, Vec<&SeedResult>> = BTreeMap::new();
            for r in &failing {
                groups.entry(r.anomaly.clone().unwrap_or_else(|| "(no anomaly; one was expected)".into())).or_default().push(r);
            }
            println!("{:<34} {:<18} {:>6}  seeds", "anomaly", "verdict", "count");
            for (anomaly, rs) in &groups {
                let seeds: Vec<String> = rs.iter().take(12).map(|r| r.seed.to_string()).collect();
                let more = if rs.len() > 12 { format!(" … (+{})", rs.len() - 12) } else { String::new() };
                println!("{:<34} {:<18} {:>6}  {}{more}", anomaly, rs[0].verdict, rs.len(), seeds.join(" "));
            }
            for r in failing.iter().take(5) {
                if let Some(d) = &r.detail {
                    println!("  seed {}: {}", r.seed, truncate_line(d, 160));
                }
            }
            let bugs: Vec<Bug> = self.bugs.iter().filter_map(|b| b.parse().ok()).collect();
            for r in failing.iter().take(5) {
                println!("reproduce: {}", reproduce_line(&self.scenario_ref, r.seed, &bugs));
            }
            if failing.len() > 5 {
                println!("({} more failing seeds in the JSON summary)", failing.len() - 5);
            }
        }
        self.print_allowed();
        println!("{}", describe(&self.coverage));
        if !self.missing_coverage.is_empty() {
            println!("required coverage MISSING (exit {EXIT_COVERAGE}): {}", self.missing_coverage.join(", "));
        } else if !self.required_coverage.is_empty() {
            println!("required coverage: all {} probes fired", self.required_coverage.len());
        }
        let sim_s: f64 = self.results.iter().map(|r| r.sim_ms as f64 / 1000.0).sum();
        let wall_s = (self.wall_ms as f64 / 1000.0).max(1e-3);
        let ops: usize = self.results.iter().map(|r| r.ops).sum();
        println!(
            "totals: {:.1} wall s, {:.1} seeds/min, {:.1} simulated s per wall s, {:.0} client ops per wall s{}",
            wall_s,
            self.results.len() as f64 * 60.0 / wall_s,
            sim_s / wall_s,
            ops as f64 / wall_s,
            if self.stopped_early { " (stopped at the first unexpected seed)" } else { "" }
        );
    }
}

/// Runs `seeds` on `jobs` worker threads; results in seed order.
pub fn run_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    options: &RunOptions,
    stop_on_first: bool,
    progress: bool,
) -> (Vec<SeedResult>, bool) {
    let bar = indicatif::ProgressBar::new(seeds.len() as u64);
    if progress {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {per_sec}, eta {eta} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let results: Mutex<Vec<SeedResult>> = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { return };
                let outcome = run_judged_only(scenario, seed, options);
                let result = SeedResult::from_outcome(&outcome, scenario);
                if !result.as_expected {
                    let n = failures.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("{n} not as expected"));
                    if stop_on_first {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                results.lock().expect("results").push(result);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|r| r.seed);
    let stopped = stop.load(Ordering::Relaxed) && results.len() < seeds.len();
    (results, stopped)
}

fn progress_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// A progress bar on a terminal (hidden elsewhere and when `CI` is set).
pub(crate) fn progress_bar(len: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if progress_wanted() {
        let template = format!("{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit}, {{per_sec}}, eta {{eta}} {{msg}}");
        bar.set_style(indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()).progress_chars("=> "));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

pub(crate) fn bad_input(e: impl std::fmt::Display) -> i32 {
    eprintln!("zksim: bad input: {e}");
    EXIT_BAD_INPUT
}

/// Arguments of `zksim sweep`.
pub struct SweepArgs {
    pub scenario: String,
    pub seeds: String,
    pub jobs: Option<usize>,
    pub shard: Option<String>,
    pub bugs: Vec<String>,
    pub json: Option<PathBuf>,
    pub stop_on_first: bool,
    pub full_checks: bool,
    /// Probes that must fire (comma-separated names, `points` for every fault point).
    pub require_coverage: Vec<String>,
}

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `zksim sweep SCENARIO --seeds A..B [--jobs J] [--shard I/N] [--bug NAME]... [--json OUT] [--stop-on-first]`.
pub fn sweep_command(args: &SweepArgs) -> i32 {
    let (scenario, scenario_ref) = match resolve_scenario(Some(&args.scenario)) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let range = match parse_seeds(&args.seeds) {
        Ok(r) => r,
        Err(e) => return bad_input(e),
    };
    let shard = match args.shard.as_deref().map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let bugs = match parse_bugs(&args.bugs) {
        Ok(b) => b,
        Err(e) => return bad_input(format!("--bug: {e}")),
    };
    if args.jobs == Some(0) {
        return bad_input("--jobs: expected at least 1");
    }
    let required_coverage = match parse_required(&args.require_coverage) {
        Ok(r) => r,
        Err(e) => return bad_input(e),
    };
    let seeds = shard_seeds(range.clone(), shard);
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let options = RunOptions { bugs: bugs.clone(), fast_checks: !args.full_checks };
    let wall = Instant::now();
    let (results, stopped_early) = run_seeds(&scenario, &seeds, jobs, &options, args.stop_on_first, progress_wanted());
    let mut all_bugs: Vec<String> = scenario.bugs.clone();
    all_bugs.extend(bugs.iter().map(|b| b.name().to_string()));
    let mut summary = SweepSummary {
        scenario: scenario.name.clone(),
        scenario_ref,
        expect: scenario.expect.outcome.clone(),
        bugs: all_bugs,
        seeds: [range.start, range.end],
        shard: shard.map(|(index, count)| ShardSpec { index, count }),
        merged_from: Vec::new(),
        fast_checks: options.fast_checks,
        stopped_early,
        wall_ms: wall.elapsed().as_millis() as u64,
        results,
        counts: Counts::default(),
        coverage: BTreeMap::new(),
        required_coverage,
        missing_coverage: Vec::new(),
    };
    summary.recount();
    summary.total_coverage();
    summary.print_report();
    let out = args.json.clone().unwrap_or_else(|| {
        let shard = shard.map(|(i, n)| format!("-shard-{i}-of-{n}")).unwrap_or_default();
        PathBuf::from("reports").join(format!("sweep-{}-{}-{}{shard}.json", scenario.name, range.start, range.end))
    });
    write_summary(&out, &summary);
    summary.exit_code()
}

fn write_summary(out: &Path, summary: &SweepSummary) {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(out, serde_json::to_string_pretty(summary).expect("serializable")) {
        Ok(()) => println!("summary: {}", out.display()),
        Err(e) => eprintln!("zksim: could not write {}: {e}", out.display()),
    }
}

/// Combines shard summaries; errors name the offending file.
pub fn merge_summaries(files: &[PathBuf]) -> Result<SweepSummary, String> {
    if files.is_empty() {
        return Err("merge: expected at least one summary file".into());
    }
    let mut merged: Option<SweepSummary> = None;
    let mut owner: BTreeMap<u64, String> = BTreeMap::new();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
        let s: SweepSummary = serde_json::from_str(&text).map_err(|e| format!("{name}: not a sweep summary: line {} column {}: {e}", e.line(), e.column()))?;
        for r in &s.results {
            if let Some(other) = owner.insert(r.seed, name.clone()) {
                return Err(format!("{name}: seed {} is also in {other} (overlapping shards)", r.seed));
            }
        }
        match &mut merged {
            None => {
                let mut m = s;
                m.merged_from = vec![name];
                m.shard = None;
                merged = Some(m);
            }
            Some(m) => {
                if m.scenario != s.scenario {
                    return Err(format!("{name}: scenario `{}` differs from `{}` in {}", s.scenario, m.scenario, m.merged_from[0]));
                }
                if m.bugs != s.bugs {
                    return Err(format!("{name}: bug flags {:?} differ from {:?} in {}", s.bugs, m.bugs, m.merged_from[0]));
                }
                m.seeds = [m.seeds[0].min(s.seeds[0]), m.seeds[1].max(s.seeds[1])];
                // Shards run in parallel: the merged wall time is the slowest shard's.
                m.wall_ms = m.wall_ms.max(s.wall_ms);
                m.stopped_early |= s.stopped_early;
                m.results.extend(s.results);
                merge_totals(&mut m.coverage, &s.coverage);
                m.merged_from.push(name);
            }
        }
    }
    let mut m = merged.expect("at least one file");
    m.recount();
    m.judge_coverage();
    Ok(m)
}

/// `zksim merge SUMMARY.json... [--json OUT]`.
pub fn merge_command(files: &[PathBuf], json: Option<&Path>) -> i32 {
    let merged = match merge_summaries(files) {
        Ok(m) => m,
        Err(e) => return bad_input(e),
    };
    merged.print_report();
    let out = json.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("sweep-{}-{}-{}-merged.json", merged.scenario, merged.seeds[0], merged.seeds[1]))
    });
    write_summary(&out, &merged);
    merged.exit_code()
}

/// `zksim replay SCENARIO --seed N [--bug NAME]...`: two runs, same trace hash, then the verdict.
pub fn replay_command(scenario_arg: &str, seed: u64, bug_names: &[String]) -> i32 {
    let (scenario, scenario_ref) = match resolve_scenario(Some(scenario_arg)) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let bugs = match parse_bugs(bug_names) {
        Ok(b) => b,
        Err(e) => return bad_input(format!("--bug: {e}")),
    };
    let options = RunOptions { bugs: bugs.clone(), fast_checks: false };
    let (first, analysis) = run_with_analysis(&scenario, seed, &options);
    let second = run(&scenario, seed, &options);
    println!("run 1: trace {} ({} ops, {} faults, {})", first.trace_hash, first.ops, first.faults, first.verdict.name());
    println!("run 2: trace {} ({} ops, {} faults, {})", second.trace_hash, second.ops, second.faults, second.verdict.name());
    if first.trace_hash != second.trace_hash || first.history != second.history {
        println!("NONDETERMINISM: the two runs of seed {seed} differ (trace hashes or histories); this is a simulator bug");
        return Verdict::Crash.exit_code();
    }
    println!("deterministic: both runs give trace {}", first.trace_hash);
    print_outcome_with(&first, &scenario, analysis.as_ref().map(|a| &a.history));
    println!("reproduce: {}", reproduce_line(&scenario_ref, seed, &bugs));
    if first.as_expected(&scenario) {
        0
    } else if first.verdict == Verdict::Pass {
        1
    } else {
        first.verdict.exit_code()
    }
}

/// What a shrink produced.
pub struct ShrinkResult {
    pub scenario: Scenario,
    pub anomaly: String,
    pub before: (usize, u64, usize),
    pub after: (usize, u64, usize),
    pub runs: usize,
}

/// Greedy shrink of a failing (scenario, seed); `Err` if the seed does not fail or its explicit
/// plan does not reproduce the failure.
pub fn shrink(scenario: &Scenario, seed: u64, bugs: &[Bug], max_runs: usize) -> Result<ShrinkResult, String> {
    let options = RunOptions { bugs: bugs.to_vec(), fast_checks: true };
    let mut runs = 0usize;
    let original = run(scenario, seed, &options);
    runs += 1;
    if original.as_expected(scenario) {
        return Err(format!("seed {seed} of `{}` is as the scenario expects ({}): nothing to shrink", scenario.name, original.verdict.name()));
    }
    let target = (original.verdict, original.anomaly());
    let fails = |s: &Scenario, runs: &mut usize| {
        *runs += 1;
        let o = run(s, seed, &options);
        !o.as_expected(s) && (o.verdict, o.anomaly()) == target
    };
    let mut current = scenario.clone();
    current.bugs.extend(bugs.iter().map(|b| b.name().to_string()));
    current.bugs.sort();
    current.bugs.dedup();
    current.nemesis.schedule = plan(scenario, seed);
    current.nemesis.random = None;
    // Fault points: exactly the firings of the failing run, each as the explicit rule that
    // fires it again (rules that never fired change nothing: their decisions are private).
    current.nemesis.points = original.firings.clone();
    current.nemesis.random_points = None;
    let before = (current.nemesis.schedule.len() + current.nemesis.points.len(), current.duration_s, current.clients.count);
    if !fails(&current, &mut runs) {
        return Err(format!(
            "seed {seed}: the explicit fault plan ({} faults, {} fault-point firings) does not fail the same way ({}: {}); cannot shrink",
            current.nemesis.schedule.len(),
            current.nemesis.points.len(),
            target.0.name(),
            target.1
        ));
    }
    let min_duration = |s: &Scenario| -> u64 {
        let last = s.nemesis.schedule.iter().map(|f| f.at_s).fold(0.0, f64::max);
        (last.ceil() as u64 + 5).max(5)
    };
    let mut progress = true;
    while progress && runs < max_runs {
        progress = false;
        // Drop faults, last first.
        let mut i = current.nemesis.schedule.len();
        while i > 0 && runs < max_runs {
            i -= 1;
            let mut c = current.clone();
            c.nemesis.schedule.remove(i);
            if fails(&c, &mut runs) {
                current = c;
                progress = true;
            }
        }
        // Drop fault-point firings, last first.
        let mut i = current.nemesis.points.len();
        while i > 0 && runs < max_runs {
            i -= 1;
            let mut c = current.clone();
            c.nemesis.points.remove(i);
            if fails(&c, &mut runs) {
                current = c;
                progress = true;
            }
        }
        // Halve the duration.
        let floor = min_duration(&current);
        if current.duration_s > floor && runs < max_runs {
            let mut c = current.clone();
            c.duration_s = (current.duration_s / 2).max(floor);
            if fails(&c, &mut runs) {
                current = c;
                progress = true;
            }
        }
        // Fewer clients, keys, lower rate.
        if current.clients.count > 1 && runs < max_runs {
            let mut c = current.clone();
            c.clients.count = (current.clients.count / 2).max(1);
            if fails(&c, &mut runs) {
                current = c;
                progress = true;
            }
        }
        if current.workload.keys > 1 && runs < max_runs {
            let mut c = current.clone();
            c.workload.keys = (current.workload.keys / 2).max(1);
            if fails(&c, &mut runs) {
                current = c;
                progress = true;
            }
        }
        if current.workload.rate_per_client > 1.0 && runs < max_runs {
            let mut c = current.clone();
            c.workload.rate_per_client = (current.workload.rate_per_client / 2.0).max(1.0);
            if fails(&c, &mut runs) {
                current = c;
                progress = true;
            }
        }
    }
    let after = (current.nemesis.schedule.len() + current.nemesis.points.len(), current.duration_s, current.clients.count);
    current.name = format!("{}-{seed}-shrunk", scenario.name);
    current.seed = Some(seed);
    current.description = format!(
        "shrunk from `{}` seed {seed}: fails with {} ({}); {} -> {} faults, {} -> {} s, {} -> {} clients",
        scenario.name,
        target.1,
        target.0.name(),
        before.0,
        after.0,
        before.1,
        after.1,
        before.2,
        after.2
    );
    Ok(ShrinkResult { scenario: current, anomaly: target.1, before, after, runs })
}

/// `zksim shrink SCENARIO --seed N [--bug NAME]... [--out FILE]`.
pub fn shrink_command(scenario_arg: &str, seed: u64, bug_names: &[String], out: Option<&Path>, max_runs: usize) -> i32 {
    let (scenario, _) = match resolve_scenario(Some(scenario_arg)) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let bugs = match parse_bugs(bug_names) {
        Ok(b) => b,
        Err(e) => return bad_input(format!("--bug: {e}")),
    };
    let result = match shrink(&scenario, seed, &bugs, max_runs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zksim shrink: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| Path::new(SCENARIO_DIR).join("shrunk").join(format!("{}-{seed}.json", scenario.name)));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&result.scenario).expect("serializable");
    if let Err(e) = std::fs::write(&out, text + "\n") {
        eprintln!("zksim: could not write {}: {e}", out.display());
        return EXIT_BAD_INPUT;
    }
    println!("anomaly: {} ({} runs)", result.anomaly, result.runs);
    println!("before: {} faults, {} s, {} clients", result.before.0, result.before.1, result.before.2);
    println!("after:  {} faults, {} s, {} clients", result.after.0, result.after.1, result.after.2);
    for f in &result.scenario.nemesis.schedule {
        println!("  fault: {}", serde_json::to_string(f).expect("serializable"));
    }
    for rule in &result.scenario.nemesis.points {
        println!("  fault point: {}", serde_json::to_string(rule).expect("serializable"));
    }
    println!("minimal scenario: {}", out.display());
    println!("reproduce: {}", reproduce_run_line(&out.display().to_string(), result.scenario.seed, seed, &[]));
    0
}

/// The shipped scenarios: (file stem, parsed scenario or the error).
pub fn shipped_scenarios() -> Vec<(String, Result<Scenario, String>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(SCENARIO_DIR)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default();
    files.sort();
    files.into_iter().map(|p| (p.file_stem().unwrap_or_default().to_string_lossy().into_owned(), Scenario::load(&p))).collect()
}

/// `zksim list`.
pub fn list_command() -> i32 {
    println!("scenarios ({SCENARIO_DIR}/; `default` is also built in):");
    for (name, s) in shipped_scenarios() {
        match s {
            Ok(s) => println!("  {name:<24} {}", s.description),
            Err(e) => println!("  {name:<24} MALFORMED: {e}"),
        }
    }
    println!("workload kinds: {}; mixed operations (`workload.ops`): {}", super::scenario::WORKLOAD_KINDS.join(", "), super::mixed::choose::OP_NAMES.join(", "));
    println!("bug flags (--bug NAME, or `bugs` in a scenario):");
    for bug in Bug::every() {
        println!("  {:<24} {}", bug.name(), bug.description());
    }
    println!("history checks (`checks` in a scenario; `all` = every one):");
    for name in crate::checker::all_check_names() {
        println!("  {name}");
    }
    println!("fault points (`on` of a `nemesis.points` rule; also coverage probes):");
    for point in crate::zab::FaultPoint::ALL {
        println!("  {}", point.name());
    }
    println!("fault-point actions: {}", crate::sim::fault_points::POINT_ACTIONS.join(", "));
    println!("online ZAB invariants (always on):");
    for (name, what) in crate::sim::invariants::INVARIANTS {
        println!("  {name:<28} {what}");
    }
    0
}
