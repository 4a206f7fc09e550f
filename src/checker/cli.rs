//! `zksim check HISTORY [--format auto|zksim|zk-jsonl|jepsen-log|jepsen-edn] [--html OUT.html]
//! [--export-edn OUT.edn] [--time-limit-ms N] [--strict]`
//!
//! Prints one verdict line per check and returns the exit code: 0 = no safety violation
//! (PASS, N/A, WARN, UNKNOWN), 1 = a safety violation (or, with `--strict`, a WARN),
//! 4 = bad input or usage (the message names file, line and problem). Never panics on input.

use super::html::render_html;
use super::report::{CheckReport, Status};
use super::{check_history, CheckOptions};
use crate::history::{export_edn, load_history, parse_format_name, Format, History};

pub const EXIT_PASS: i32 = 0;
pub const EXIT_VIOLATION: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 4;

const USAGE: &str = "usage: zksim check HISTORY [--format auto|zksim|zk-jsonl|jepsen-log|jepsen-edn] [--html OUT.html] [--export-edn OUT.edn] [--time-limit-ms N] [--strict]";

/// Printed by `zksim check --help` (also `-h`, `--help-checker`).
pub const HELP: &str = "\
Checks a recorded history against ZooKeeper's guarantees and prints one verdict line per check.

Formats (--format, default auto): zksim (docs/history-format.md), zk-jsonl (the real-ZooKeeper
recorder), jepsen-log (Jepsen's log text), jepsen-edn (Jepsen op maps, one per line).

Checks: linearizable-writes (zxid replay), linearizable-writes-blackbox (search without zxids;
--time-limit-ms bounds it per key, default 10000), fifo-client-order, monotonic-reads,
read-your-writes, sequential-consistency, sync-read-real-time (stale sync+read = WARN; stale
plain reads are counted as allowed), durability, replica-convergence, ephemerals, watches,
lock-mutual-exclusion.

Outputs: --html OUT.html (self-contained report with a per-client timeline),
--export-edn OUT.edn (the history as Jepsen EDN).

Exit codes: 0 no safety violation (PASS, WARN, N/A, UNKNOWN); 1 a safety violation (with
--strict, a WARN too); 4 bad input or usage.";

/// Parsed command line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckArgs {
    pub history: String,
    pub format: Option<Format>,
    pub html: Option<String>,
    pub export_edn: Option<String>,
    pub time_limit_ms: Option<u64>,
    pub strict: bool,
    /// `--help`: print usage and exit 0.
    pub help: bool,
}

/// Parses the arguments after `zksim check` (a leading `check` is skipped too).
pub fn parse_args(args: &[String]) -> Result<CheckArgs, String> {
    let mut parsed = CheckArgs::default();
    let mut iter = args.iter().peekable();
    if iter.peek().map(|a| a.as_str()) == Some("check") {
        iter.next();
    }
    let mut history = None;
    while let Some(arg) = iter.next() {
        let mut value = |flag: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--format" => parsed.format = parse_format_name(&value("--format")?)?,
            "--html" => parsed.html = Some(value("--html")?),
            "--export-edn" => parsed.export_edn = Some(value("--export-edn")?),
            "--time-limit-ms" => {
                let text = value("--time-limit-ms")?;
                parsed.time_limit_ms = Some(text.parse().map_err(|_| {
                    format!("--time-limit-ms needs a whole number of milliseconds, not {text:?}")
                })?);
            }
            "--strict" => parsed.strict = true,
            "--help" | "-h" | "--help-checker" => parsed.help = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path if history.is_none() => history = Some(path.to_string()),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    if parsed.help {
        return Ok(parsed);
    }
    parsed.history = history.ok_or("missing HISTORY")?;
    Ok(parsed)
}

/// Entry point for `zksim check`; returns the process exit code.
pub fn run_check_cli(args: &[String]) -> i32 {
    let args = match parse_args(args) {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("zksim check: {problem}\n{USAGE}");
            return EXIT_BAD_INPUT;
        }
    };
    if args.help {
        println!("{USAGE}\n\n{HELP}");
        return EXIT_PASS;
    }
    let history = match load_history(&args.history, args.format) {
        Ok(history) => history,
        Err(error) => {
            eprintln!("zksim check: bad input: {error}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut options = CheckOptions::default();
    if let Some(limit) = args.time_limit_ms {
        options.time_limit_ms = limit;
    }
    let reports = check_history(&history, &options);
    print!("{}", render_text(&history, &reports));
    if let Err(problem) = write_outputs(&args, &history, &reports) {
        eprintln!("zksim check: {problem}");
        return EXIT_BAD_INPUT;
    }
    exit_code(&reports, args.strict)
}

/// 1 if any check failed (or warned, when strict), else 0.
pub fn exit_code(reports: &[CheckReport], strict: bool) -> i32 {
    let failed = reports
        .iter()
        .any(|r| r.status == Status::Fail || (strict && r.status == Status::Warn));
    if failed {
        EXIT_VIOLATION
    } else {
        EXIT_PASS
    }
}

fn write_outputs(
    args: &CheckArgs,
    history: &History,
    reports: &[CheckReport],
) -> Result<(), String> {
    if let Some(path) = &args.html {
        std::fs::write(path, render_html(history, reports))
            .map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    if let Some(path) = &args.export_edn {
        std::fs::write(path, export_edn(history))
            .map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    Ok(())
}

/// Header, one verdict line per check, then the first violations of each failing check.
pub fn render_text(history: &History, reports: &[CheckReport]) -> String {
    let mut out = format!(
        "zksim check: {} ({}, {} ops)\n",
        history.source,
        history.format.name(),
        history.ops.len()
    );
    for report in reports {
        out.push_str(&report.verdict_line());
        out.push('\n');
    }
    for report in reports.iter().filter(|r| r.violation_count > 0) {
        out.push_str(&format!(
            "\n{} — {} violation(s) (source: {}):\n",
            report.name, report.violation_count, report.source
        ));
        for violation in report.violations.iter().take(5) {
            out.push_str(&format!(
                "  [{}] {}\n",
                violation.anomaly, violation.explanation
            ));
        }
        if report.violation_count > 5 {
            out.push_str(&format!("  ... and {} more\n", report.violation_count - 5));
        }
    }
    out
}
