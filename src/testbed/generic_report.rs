//! The "generic exploration, no targeted scenario" part of `zksim bugs-report`: for each bug
//! flag, runs and wall time to the first violation for (a) today's swarm
//! (`sim-scenarios/swarm.json`), (b) the fault-point swarm (`sim-scenarios/explore.json`, every
//! run fresh) and (c) `explore` guided by coverage on that same scenario — one configuration
//! for every flag, the search never told which flag is on. And the plot of distinct probes
//! reached against runs, (b) against (c), on the correct build.
//!
//! Why a file of its own: the targeted part answers "can the testbed reproduce a known
//! schedule"; this part answers the question that matters for an uncatalogued bug, "does a
//! generic search find it", and must be rerun whenever the search changes.

use std::fmt::Write as _;
use std::path::Path;

use super::explore::{explore, ExploreConfig, ExploreResult, Want};
use super::scenario::Scenario;
use crate::zab::Bug;

/// Limits of the generic comparison.
pub struct GenericArgs {
    /// Most runs per flag and method.
    pub runs: usize,
    /// Most wall seconds per flag and method.
    pub time_limit_s: f64,
    pub jobs: usize,
    /// The searches' seed.
    pub seed: u64,
}

struct Method {
    label: &'static str,
    scenario: Scenario,
    guided: bool,
}

/// What a flag's search should end with: a safety violation, or the stall of a flag that can
/// only stall the ensemble.
fn want_for(bug: Bug) -> Want {
    if bug == Bug::ElectByZxidOnly {
        Want::Liveness
    } else {
        Want::Safety
    }
}

fn cell(result: &ExploreResult, limit_s: f64) -> String {
    let wall_s = result.wall_ms as f64 / 1_000.0;
    match &result.found {
        Some((_, outcome)) => format!("**{} runs**, {wall_s:.1} s (`{}`)", result.runs, outcome.anomaly()),
        None if wall_s >= limit_s => format!("not in {wall_s:.0} s ({} runs)", result.runs),
        None => format!("not in {} runs ({wall_s:.0} s)", result.runs),
    }
}

/// The markdown section and the SVG plot (written to `plot_path`).
pub fn generic_section(args: &GenericArgs, plot_path: &Path) -> String {
    let load = |name: &str| Scenario::load(&Path::new(super::cli::SCENARIO_DIR).join(name));
    let (swarm, fault_points) = match (load("swarm.json"), load("explore.json")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return format!("generic scenarios do not load: {e}\n"),
    };
    let methods = [
        Method { label: "(a) swarm", scenario: swarm, guided: false },
        Method { label: "(b) fault-point swarm", scenario: fault_points.clone(), guided: false },
        Method { label: "(c) explore", scenario: fault_points.clone(), guided: true },
    ];
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Each flag, each method: runs until the first safety violation (elect-by-zxid-only: the first liveness failure), at most {} runs and {:.0} wall s, `--jobs {}`, search seed {}. (a) is `sim-scenarios/swarm.json`; (b) and (c) are `sim-scenarios/explore.json` for every flag, (b) drawing every run afresh, (c) keeping runs that reached new coverage and mutating them.\n",
        args.runs, args.time_limit_s, args.jobs, args.seed
    );
    let _ = writeln!(md, "| flag | (a) swarm | (b) fault-point swarm | (c) explore | found by (b) or (c) |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
    let mut found_count = 0;
    // The catalogue, then the flags `explore` itself found in the correct build (not counted).
    for bug in Bug::ALL.into_iter().chain(Bug::FOUND_BY_EXPLORE) {
        let mut cells = Vec::new();
        let mut found_by = Vec::new();
        for (i, m) in methods.iter().enumerate() {
            let config = ExploreConfig {
                runs: args.runs,
                jobs: args.jobs,
                seed: args.seed,
                bugs: vec![bug],
                guided: m.guided,
                want: want_for(bug),
                time_limit_s: Some(args.time_limit_s),
            };
            let result = explore(&m.scenario, &config, |_, _, _| {});
            eprintln!("bugs-report: generic {} {} -> {}", bug.name(), m.label, cell(&result, args.time_limit_s));
            if i > 0 && result.found.is_some() {
                found_by.push(if m.guided { "(c)" } else { "(b)" });
            }
            cells.push(cell(&result, args.time_limit_s));
        }
        let catalogued = Bug::ALL.contains(&bug);
        if !found_by.is_empty() && catalogued {
            found_count += 1;
        }
        let by = if found_by.is_empty() { "no".to_string() } else { found_by.join(" ") };
        let name = if catalogued { bug.name().to_string() } else { format!("{} (found by explore)", bug.name()) };
        let _ = writeln!(md, "| {name} | {} | {} | {} | {by} |", cells[0], cells[1], cells[2]);
    }
    let _ = writeln!(md, "\n(b) or (c) find {found_count} of {} flags within the limits.\n", Bug::ALL.len());
    md.push_str(&coverage_plot(&fault_points, args, plot_path));
    md
}

/// Distinct probes against runs, (b) against (c), on the correct build.
fn coverage_plot(scenario: &Scenario, args: &GenericArgs, plot_path: &Path) -> String {
    let curve = |guided: bool| {
        let config = ExploreConfig { runs: args.runs, jobs: args.jobs, seed: args.seed, bugs: Vec::new(), guided, want: Want::Nothing, time_limit_s: None };
        explore(scenario, &config, |_, _, _| {}).curve
    };
    let swarm = curve(false);
    let guided = curve(true);
    let svg = svg_plot(&[("fault-point swarm (b)", "#1f77b4", &swarm), ("explore (c)", "#d62728", &guided)], args.runs);
    if let Some(dir) = plot_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let written = std::fs::write(plot_path, svg).is_ok();
    let last = |c: &[(usize, usize)]| c.last().map_or(0, |p| p.1);
    format!(
        "Distinct coverage probes (fault points, transitions, faults fired at a point) after {} runs of the correct build: fault-point swarm {}, explore {}.{}\n",
        args.runs,
        last(&swarm),
        last(&guided),
        if written { format!(" Plot: `{}`.", plot_path.display()) } else { String::new() }
    )
}

/// A line plot of (runs, probes) series as SVG.
fn svg_plot(series: &[(&str, &str, &Vec<(usize, usize)>)], max_runs: usize) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 400.0, 60.0, 40.0, 30.0, 20.0);
    let max_y = series.iter().flat_map(|(_, _, c)| c.iter().map(|p| p.1)).max().unwrap_or(1).max(1) as f64 * 1.1;
    let x = |runs: usize| left + (runs as f64 / max_runs.max(1) as f64) * (w - left - right);
    let y = |probes: usize| h - bottom - (probes as f64 / max_y) * (h - bottom - top);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n");
    svg.push_str(&format!("<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n<text x=\"{left}\" y=\"18\">distinct coverage probes vs runs (correct build)</text>\n"));
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    ));
    for i in 0..=4 {
        let runs = max_runs * i / 4;
        let probes = (max_y * i as f64 / 4.0) as usize;
        svg.push_str(&format!("<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{runs}</text>\n", x(runs), h - bottom + 16.0));
        svg.push_str(&format!("<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{probes}</text>\n", left - 6.0, y(probes) + 4.0));
    }
    svg.push_str(&format!("<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">runs</text>\n", (left + w - right) / 2.0, h - 6.0));
    for (i, (label, colour, curve)) in series.iter().enumerate() {
        let points: Vec<String> = curve.iter().map(|&(r, p)| format!("{:.1},{:.1}", x(r), y(p))).collect();
        svg.push_str(&format!("<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n", points.join(" ")));
        let ly = top + 20.0 + 16.0 * i as f64;
        svg.push_str(&format!("<text x=\"{}\" y=\"{ly}\" fill=\"{colour}\">{label}</text>\n", left + 20.0));
    }
    svg.push_str("</svg>\n");
    svg
}
