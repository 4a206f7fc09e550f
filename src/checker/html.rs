//! Self-contained HTML report: verdicts, explained violations, and a per-client timeline
//! with the violating ops highlighted. No external JS or CSS — one file to attach to a bug.
//!
//! Large histories are drawn around the violations only (a few windows of at most
//! `MAX_DRAWN` ops), so the file stays small enough to open.

use super::report::{CheckReport, Status};
use crate::history::{History, OpId, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const MAX_DRAWN: usize = 2_000;
const MAX_WINDOWS: usize = 8;
const WIDTH_PX: f64 = 1200.0;
const LANE_PX: f64 = 18.0;

pub fn render_html(history: &History, reports: &[CheckReport]) -> String {
    let mut out = String::new();
    let title = format!("zksim check: {}", escape(&history.source));
    let _ = write!(out, "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>{}</style></head><body>", STYLE);
    let _ = write!(
        out,
        "<h1>{title}</h1><p>{} format, {} ops, {} watch events, {} nemesis events.</p>",
        history.format.name(),
        history.ops.len(),
        history.events.len(),
        history.nemesis.len()
    );
    verdict_table(&mut out, reports);
    violations_section(&mut out, history, reports);
    timeline_section(&mut out, history, reports);
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
.PASS{background:#dfd}.FAIL{background:#fcc}.WARN{background:#ffd9a0}.UNKNOWN{background:#eee}.NA{color:#888}\
.op{fill:#9bd}.op.w{fill:#7b7}.op.f{fill:#ccc}.op.u{fill:#fd8}.op.bad{fill:#e33;stroke:#900;stroke-width:1.5}\
svg{border:1px solid #ccc;background:#fcfcfc}code{font-size:90%}li{margin:.3em 0}";

fn verdict_table(out: &mut String, reports: &[CheckReport]) {
    out.push_str("<h2>Verdicts</h2><table><tr><th>check</th><th>verdict</th><th>summary</th><th>source</th></tr>");
    for report in reports {
        let class = if report.status == Status::NotApplicable {
            "NA"
        } else {
            report.status.label()
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
            report.name,
            report.status.label(),
            escape(&report.summary),
            escape(report.source)
        );
    }
    out.push_str("</table>");
}

fn violations_section(out: &mut String, history: &History, reports: &[CheckReport]) {
    out.push_str("<h2>Violations</h2>");
    let mut any = false;
    for report in reports {
        for (kind, list) in [
            ("violation", &report.violations),
            ("allowed", &report.allowed),
        ] {
            for violation in list.iter().take(20) {
                any = true;
                let _ = write!(
                    out,
                    "<h3>{}: {} <small>({kind}, {})</small></h3><p>{}</p><ul>",
                    escape(violation.anomaly),
                    report.name,
                    report.status.label(),
                    escape(&violation.explanation)
                );
                for &op in &violation.ops {
                    let _ = write!(
                        out,
                        "<li><a href=\"#op-{op}\"><code>{}</code></a></li>",
                        escape(&history.describe_op(op))
                    );
                }
                for line in &violation.lines {
                    let _ = write!(out, "<li>input line {line}</li>");
                }
                out.push_str("</ul>");
            }
        }
    }
    if !any {
        out.push_str("<p>None.</p>");
    }
}

/// Time windows to draw: the whole history if small, else around each violation.
fn windows(history: &History, flagged: &BTreeSet<OpId>) -> Vec<(u64, u64)> {
    let span = |ids: &mut dyn Iterator<Item = OpId>| -> Option<(u64, u64)> {
        let mut lo = u64::MAX;
        let mut hi = 0;
        for id in ids {
            let op = &history.ops[id as usize];
            lo = lo.min(op.invoke_ns);
            hi = hi.max(if op.complete_ns == u64::MAX {
                op.invoke_ns
            } else {
                op.complete_ns
            });
        }
        (lo <= hi).then_some((lo, hi))
    };
    if history.ops.len() <= MAX_DRAWN {
        return span(&mut (0..history.ops.len() as OpId))
            .into_iter()
            .collect();
    }
    // A window of context around each flagged op (5x its duration, at least 20 ms each
    // side), overlapping windows merged, the first MAX_WINDOWS kept.
    let mut around: Vec<(u64, u64)> = flagged
        .iter()
        .filter_map(|&id| span(&mut std::iter::once(id)))
        .map(|(lo, hi)| {
            let pad = ((hi - lo).saturating_mul(5)).max(20_000_000);
            (lo.saturating_sub(pad), hi.saturating_add(pad))
        })
        .collect();
    around.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (lo, hi) in around {
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out.truncate(MAX_WINDOWS);
    if out.is_empty() {
        out.extend(span(&mut (0..MAX_DRAWN as OpId)));
    }
    out
}

fn timeline_section(out: &mut String, history: &History, reports: &[CheckReport]) {
    let flagged: BTreeSet<OpId> = reports
        .iter()
        .flat_map(|r| r.violations.iter().flat_map(|v| v.ops.iter().copied()))
        .collect();
    out.push_str("<h2>Timeline</h2><p>One lane per client; bars run from invocation to completion (hover for the op). Red: ops in a violation. Yellow: unknown outcome; grey: failed; green: writes; blue: reads. Dashed red lines: nemesis faults.</p>");
    for (lo, hi) in windows(history, &flagged) {
        draw_window(out, history, &flagged, lo, hi);
    }
}

fn draw_window(out: &mut String, history: &History, flagged: &BTreeSet<OpId>, lo: u64, hi: u64) {
    let mut drawn: Vec<OpId> = (0..history.ops.len() as OpId)
        .filter(|&id| {
            let op = &history.ops[id as usize];
            op.invoke_ns <= hi && op.complete_ns >= lo
        })
        .collect();
    if drawn.len() > MAX_DRAWN {
        // Keep every flagged op; fill up with the others in time order.
        let (mut keep, others): (Vec<OpId>, Vec<OpId>) =
            drawn.into_iter().partition(|id| flagged.contains(id));
        keep.extend(
            others
                .into_iter()
                .take(MAX_DRAWN.saturating_sub(keep.len())),
        );
        drawn = keep;
    }
    let lanes: BTreeMap<i64, usize> = drawn
        .iter()
        .map(|&id| history.ops[id as usize].client)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let height = (lanes.len() as f64 + 1.0) * LANE_PX + 10.0;
    let scale = WIDTH_PX / ((hi - lo).max(1) as f64);
    let _ = write!(out, "<p>{} ns to {} ns ({} ops)</p><svg width=\"{}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">", lo, hi, drawn.len(), WIDTH_PX + 80.0);
    for (client, lane) in &lanes {
        let _ = write!(
            out,
            "<text x=\"2\" y=\"{}\" font-size=\"11\">c{client}</text>",
            (*lane as f64 + 1.0) * LANE_PX
        );
    }
    draw_nemesis(out, history, lo, hi, scale, height);
    for id in drawn {
        let op = &history.ops[id as usize];
        let x = 60.0 + (op.invoke_ns.max(lo) - lo) as f64 * scale;
        let end = op.complete_ns.min(hi).max(op.invoke_ns.max(lo));
        let w = ((end - op.invoke_ns.max(lo)) as f64 * scale).max(2.0);
        let y = lanes[&op.client] as f64 * LANE_PX + 6.0;
        let class = match (flagged.contains(&id), op.outcome) {
            (true, _) => "op bad",
            (_, Outcome::Unknown) => "op u",
            (_, Outcome::Fail) => "op f",
            _ if op.kind.is_mutation() => "op w",
            _ => "op",
        };
        let anchor = if flagged.contains(&id) {
            format!(" id=\"op-{id}\"")
        } else {
            String::new()
        };
        let _ = write!(out, "<rect{anchor} class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{}\"><title>{}</title></rect>", LANE_PX - 6.0, escape(&history.describe_op(id)));
    }
    out.push_str("</svg>");
}

/// Faults as dashed vertical lines, so a violation can be read against what the nemesis did.
fn draw_nemesis(out: &mut String, history: &History, lo: u64, hi: u64, scale: f64, height: f64) {
    for nemesis in history
        .nemesis
        .iter()
        .filter(|n| n.t_ns >= lo && n.t_ns <= hi)
    {
        let x = 60.0 + (nemesis.t_ns - lo) as f64 * scale;
        let what = format!(
            "{} {} at {} ns (line {})",
            nemesis.action,
            nemesis.target.as_deref().unwrap_or(""),
            nemesis.t_ns,
            nemesis.line
        );
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"0\" y2=\"{height}\" stroke=\"#c00\" stroke-dasharray=\"4 3\"><title>{}</title></line>",
            escape(&what)
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
