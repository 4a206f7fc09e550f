//! The `zksim` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use zksim::conformance::{self, ReplayOptions, Target};

/// Exit codes shared by every subcommand.
mod exit {
    pub const PASS: u8 = 0;
    pub const VIOLATION: u8 = 1;
    pub const BAD_INPUT: u8 = 4;
}

const GOLDEN_TRACE: &str = "../shared/reference/zk-3.8.0-golden.json";

#[derive(Parser)]
#[command(name = "zksim", version, about = "Apache ZooKeeper as a deterministic simulation testbed")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a trace recorded from a real ZooKeeper (golden format) and score the match.
    Conformance {
        /// The trace file.
        #[arg(default_value = GOLDEN_TRACE)]
        file: PathBuf,
        /// maxSessionTimeout of the recording server.
        #[arg(long, default_value_t = 30_000)]
        max_session_timeout_ms: i32,
        /// What to replay against: the standalone server core, or every client through a
        /// follower of a 3-server ensemble on the simulated network.
        #[arg(long, value_enum, default_value_t = ConformanceTarget::Standalone)]
        target: ConformanceTarget,
        /// The simulation seed of `--target ensemble`.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print every mismatch in full (expected and got).
        #[arg(long)]
        verbose: bool,
    },
    /// Run one seed of a scenario (a file, a name in sim-scenarios/, or `default`).
    Run {
        scenario: Option<String>,
        /// Default: the scenario file's `seed`, else 1.
        #[arg(long)]
        seed: Option<u64>,
        /// Put a historical bug back (repeatable; see `zksim list`).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Where to write <scenario>-<seed>/history.jsonl, summary.json (and report.html).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write report.html even when the run has no finding (it always does when it has one).
        #[arg(long)]
        report: bool,
    },
    /// Run a range of seeds of a scenario on several threads; table of failing seeds, JSON summary.
    /// Exit 0 if every seed is as the scenario expects, else 1 safety / 2 liveness / 3 crash.
    Sweep {
        /// A file, a name in sim-scenarios/, or `default`.
        scenario: String,
        /// Seeds: A..B (B excluded), A..=B, or N.
        #[arg(long)]
        seeds: String,
        /// Worker threads (default: available cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// I/N: run only the seeds s with s mod N == I (CI matrices, indexed Jobs).
        #[arg(long)]
        shard: Option<String>,
        /// Put a historical bug back (repeatable; see `zksim list`).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Where to write the JSON summary (default reports/sweep-<scenario>-<A>-<B>[-shard-I-of-N].json).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Stop at the first seed that is not as expected.
        #[arg(long)]
        stop_on_first: bool,
        /// Also run the black-box linearizability search on every seed (slower).
        #[arg(long)]
        full_checks: bool,
        /// Fail (exit 5) when one of these coverage probes never fired: fault point names,
        /// `a>b` transitions, `fired:<point>:<action>`, or `points` for every fault point.
        #[arg(long = "require-coverage")]
        require_coverage: Vec<String>,
    },
    /// Coverage-guided search: keep runs that reached new coverage, mutate their fault plans,
    /// stop at the first run not as expected and write the scenario that reproduces it.
    Explore {
        /// A file, a name in sim-scenarios/, or `default`.
        scenario: String,
        /// Most runs before giving up.
        #[arg(long, default_value_t = 2_000)]
        runs: usize,
        /// Worker threads (default: available cores); results are the same for the same --jobs.
        #[arg(long)]
        jobs: Option<usize>,
        /// The search's own seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Where to write the scenario of a finding (default reports/explore/<name>-explore-<seed>.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the search's summary (runs, corpus, probes-vs-runs curve) as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Combine sweep summaries of shards into one table and JSON.
    Merge {
        #[arg(required = true)]
        summaries: Vec<PathBuf>,
        /// Where to write the merged JSON (default reports/sweep-<scenario>-<A>-<B>-merged.json).
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Run one seed twice (fresh threads), confirm the same trace hash, then the verdict.
    /// Logs: RUST_LOG (e.g. RUST_LOG=zksim=debug), to stderr.
    Replay {
        scenario: String,
        #[arg(long)]
        seed: u64,
        #[arg(long = "bug")]
        bugs: Vec<String>,
    },
    /// Turn a failing seed's faults into an explicit schedule and shrink it greedily.
    Shrink {
        scenario: String,
        #[arg(long)]
        seed: u64,
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Where to write the minimal scenario (default sim-scenarios/shrunk/<name>-<seed>.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Give up shrinking after this many runs.
        #[arg(long, default_value_t = 200)]
        max_runs: usize,
    },
    /// Regenerate reports/bugs.md: per bug flag, its targeted scenario's first failing seed,
    /// the same seeds clean without the flag, the shrunk reproducer, and what the generic
    /// swarm scenario finds.
    BugsReport {
        /// Seeds for each targeted sweep (and its clean sweep).
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// Seeds of sim-scenarios/swarm.json per flag (0 skips it).
        #[arg(long, default_value_t = 10_000)]
        swarm_seeds: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long, default_value = "reports/bugs.md")]
        out: PathBuf,
        /// Most runs per flag and method of the generic comparison: (a) swarm, (b) fault-point
        /// swarm, (c) explore (0 skips it).
        #[arg(long, default_value_t = 2_000)]
        generic_runs: usize,
        /// Most wall seconds per flag and method of the generic comparison.
        #[arg(long, default_value_t = 120.0)]
        generic_time_limit_s: f64,
    },
    /// Regenerate reports/faults.md: per disk fault and per fault kept through the liveness
    /// phase, a sweep of its scenario in sim-scenarios/faults/, the outcomes, what the servers
    /// did, and what ZooKeeper 3.8 does.
    FaultsReport {
        /// Seeds per scenario.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long, default_value = "reports/faults.md")]
        out: PathBuf,
    },
    /// Shipped scenarios, bug flags, history checks and online invariants.
    List,
    /// Throughput of the simulator: simulated s and client ops per wall s, seeds per minute.
    Bench {
        /// Seeds in each sweep (run with --jobs 1 and --jobs 2).
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Another zksim binary (say, built from an older commit): instead of the figures, run
        /// the swarm sweep (--jobs 2) and the default sweep (--jobs 1) with both builds in
        /// alternating rounds and print this build's ratios.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// With --baseline: alternating rounds per build and sweep (the best of each counts).
        /// This VM's figures swing by up to 40% within minutes; 2 rounds can overstate a 3%
        /// change fourfold, 5 hold it within ~3%.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Check a recorded history (zksim JSONL, real-ZooKeeper JSONL, Jepsen log or EDN).
    /// Run `zksim check --help-checker` for its options.
    #[command(disable_help_flag = true)]
    Check {
        /// HISTORY [--format F] [--html OUT] [--export-edn OUT] [--time-limit-ms N]
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ConformanceTarget {
    Standalone,
    Ensemble,
}

fn main() -> ExitCode {
    end_quietly_when_the_reader_goes();
    keep_freed_memory();
    let cli = Cli::parse();
    // Without RUST_LOG: errors only, and none of madsim's per-task spans (formatting one per
    // spawned task cost a fifth of a sweep's time).
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "error,madsim=off".to_string());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Some(Command::Sweep { scenario, seeds, jobs, shard, bugs, json, stop_on_first, full_checks, require_coverage }) => {
            let args = zksim::testbed::cli::SweepArgs { scenario, seeds, jobs, shard, bugs, json, stop_on_first, full_checks, require_coverage };
            code(zksim::testbed::cli::sweep_command(&args))
        }
        Some(Command::Explore { scenario, runs, jobs, seed, bugs, out, json }) => {
            let args = zksim::testbed::explore::ExploreArgs { scenario, runs, jobs, seed, bugs, out, json };
            code(zksim::testbed::explore::explore_command(&args))
        }
        Some(Command::Merge { summaries, json }) => code(zksim::testbed::cli::merge_command(&summaries, json.as_deref())),
        Some(Command::Replay { scenario, seed, bugs }) => code(zksim::testbed::cli::replay_command(&scenario, seed, &bugs)),
        Some(Command::Shrink { scenario, seed, bugs, out, max_runs }) => {
            code(zksim::testbed::cli::shrink_command(&scenario, seed, &bugs, out.as_deref(), max_runs))
        }
        Some(Command::BugsReport { seeds, swarm_seeds, jobs, out, generic_runs, generic_time_limit_s }) => {
            let jobs = jobs.unwrap_or_else(zksim::testbed::cli::default_jobs);
            let args = zksim::testbed::bugs_report::BugsReportArgs { seeds, swarm_seeds, jobs, out, generic_runs, generic_time_limit_s };
            code(zksim::testbed::bugs_report::bugs_report_command(&args))
        }
        Some(Command::FaultsReport { seeds, jobs, out }) => {
            let jobs = jobs.unwrap_or_else(zksim::testbed::cli::default_jobs);
            code(zksim::testbed::faults_report::faults_report_command(&zksim::testbed::faults_report::FaultsReportArgs { seeds, jobs, out }))
        }
        Some(Command::List) => code(zksim::testbed::cli::list_command()),
        Some(Command::Bench { seeds, baseline: None, .. }) => code(zksim::testbed::bench::bench_command(seeds)),
        Some(Command::Bench { seeds, baseline: Some(old), rounds }) => code(zksim::testbed::bench_baseline::compare(&old, seeds, rounds)),
        None => code(zksim::testbed::cli::run_command(None, None, &[], None, false)),
        Some(Command::Run { scenario, seed, bugs, out, report }) => {
            code(zksim::testbed::cli::run_command(scenario.as_deref(), seed, &bugs, out.as_deref(), report))
        }
        Some(Command::Conformance { file, max_session_timeout_ms, target, seed, verbose }) => {
            let target = match target {
                ConformanceTarget::Standalone => Target::Standalone,
                ConformanceTarget::Ensemble => Target::Ensemble { seed },
            };
            run_conformance(file, ReplayOptions { max_session_timeout_ms, target }, verbose)
        }
        Some(Command::Check { args }) => {
            let code = zksim::checker::cli::run_check_cli(&args);
            ExitCode::from(u8::try_from(code).unwrap_or(exit::BAD_INPUT))
        }
    }
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c).unwrap_or(exit::BAD_INPUT))
}

fn run_conformance(file: PathBuf, options: ReplayOptions, verbose: bool) -> ExitCode {
    let report = match conformance::run_file(&file, options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zksim: bad input: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    for m in &report.mismatches {
        println!("MISMATCH step {}: {}", m.step, m.what);
        if verbose || report.mismatches.len() <= 20 {
            println!("  expected: {}", m.expected);
            println!("  got:      {}", m.got);
        }
    }
    println!(
        "conformance {} on {}: {}/{} steps match real ZooKeeper 3.8.0 (raw child order also matched in {}/{} listings)",
        file.display(),
        options.target,
        report.matched,
        report.total,
        report.raw_child_order_matched,
        report.raw_child_order_total
    );
    if report.all_matched() {
        println!("verdict: PASS");
        ExitCode::from(exit::PASS)
    } else {
        println!("verdict: FAIL ({} mismatching steps)", report.mismatches.len());
        ExitCode::from(exit::VIOLATION)
    }
}

/// mimalloc: a simulation allocates and frees a packet, a timer and a task per message; the
/// system allocator spent about a tenth of a sweep's time there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same number in its v2 and v3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Freed memory stays with the process (`purge_delay` -1): by default mimalloc hands freed
/// pages back to the kernel after 10 ms, and every seed of a sweep faulted them in again, the
/// kernel zeroing each (12,000 page faults in 60 swarm seeds, 271 without; ~2-3% of the CPU).
/// Peak memory stays the high-water mark (a 20-seed swarm / default sweep: within 5%). The
/// option's number is mimalloc's (libmimalloc-sys 0.1.49, headers v2 and v3): check it when
/// the `mimalloc` crate moves.
/// A reader that stops early (`zksim run | head`) ends the process as it ends `cat`, by SIGPIPE:
/// Rust starts with SIGPIPE ignored, so the next `println!` would panic on the closed pipe.
fn end_quietly_when_the_reader_goes() {
    // SAFETY: setting a signal's disposition to its default before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn keep_freed_memory() {
    // SAFETY: `mi_option_set` is mimalloc's documented way to set an option at run time; it
    // takes any option number and value and only stores the value.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
