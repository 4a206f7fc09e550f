//! The HTML report: one self-contained file (no external script, style or font) that opens
//! with the root cause, then the verdicts, the allowed anomalies, the whole run on a zoomable
//! timeline (server lanes above client lanes, faults as labelled bands), latency and
//! throughput plots, and each non-linearizable key's partial linearization.
//!
//! Why one file: it is attached to a bug report or opened from a CI artifact. Size stays
//! bounded by drawing ops from compact arrays in the browser (a few dozen bytes per op)
//! instead of an SVG element each with its description.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use super::analysis::{ms, AllowedCounts};
use super::finding::Finding;
use super::plots::{latency_svg, throughput_svg};
use super::story::{describe_server_event, fault_bands, faults_before, op_of_txn, server_story, FaultBand};
use super::text::headline;
use crate::checker::linearizable_blackbox::{self, partial_linearization, PartialLinearization};
use crate::checker::{CheckReport, Status};
use crate::history::{History, OpId, Outcome};

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("timeline.js");
/// Violations listed per check in the details section (all are counted).
const LISTED: usize = 20;
/// Time to find one key's partial linearization again.
const LINEARIZATION_BUDGET: Duration = Duration::from_millis(500);
/// Non-linearizable keys shown with their partial linearization.
const MAX_KEYS: usize = 4;
/// Ops on the timeline (about 70 bytes each); a larger history keeps every op in a violation
/// and an even sample of the rest, and says so.
const MAX_TIMELINE_OPS: usize = 200_000;

/// What the page says beyond the history and the checks.
#[derive(Default)]
pub struct Page<'a> {
    pub title: String,
    /// Facts under the title (scenario, seed, verdict, reproduce line).
    pub facts: Vec<String>,
    /// Findings in root-cause order (online invariants included for a run).
    pub findings: &'a [Finding],
    pub allowed: AllowedCounts,
    /// syncLimit × tickTime of the ensemble, when known (explains stale reads).
    pub sync_limit_ms: Option<i64>,
}

pub fn render(history: &History, reports: &[CheckReport], page: &Page) -> String {
    let bands = fault_bands(history);
    let lins = linearizations(history, reports);
    let mut out = String::new();
    let _ = write!(out, "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>", esc(&page.title));
    let _ = write!(out, "<header><h1>{}</h1>", esc(&page.title));
    for fact in &page.facts {
        let _ = write!(out, "<p class=\"fact\">{}</p>", esc(fact));
    }
    let _ = write!(
        out,
        "<p class=\"fact\">{} format, {} ops, {} server events, {} faults, {} watch events.</p>",
        history.format.name(),
        history.ops.len(),
        history.server_events.len(),
        bands.len(),
        history.events.len()
    );
    out.push_str("</header>");
    out.push_str("<section id=\"sec-findings\">");
    findings_section(&mut out, history, page, &bands);
    out.push_str("</section>");
    out.push_str("<section id=\"sec-verdict\">");
    verdict_table(&mut out, reports);
    out.push_str("</section>");
    out.push_str("<section id=\"sec-allowed\">");
    allowed_section(&mut out, history, reports, page);
    out.push_str("</section>");
    out.push_str("<section id=\"sec-timeline\">");
    timeline_section(&mut out, history, reports, &bands, &lins);
    out.push_str("</section>");
    out.push_str("<section id=\"sec-plots\">");
    plots_section(&mut out, history, &bands);
    out.push_str("</section>");
    out.push_str("<section id=\"sec-linearization\">");
    linearization_section(&mut out, history, &lins);
    out.push_str("</section>");
    out.push_str("<section id=\"sec-details\">");
    details_section(&mut out, history, reports);
    out.push_str("</section>");
    out.push_str("<div id=\"tip\"></div>");
    let _ = write!(out, "<script>{SCRIPT}</script></body></html>\n");
    out
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn secs(t_ns: u64) -> String {
    format!("{:.3} s", t_ns as f64 / 1e9)
}

fn op_link(history: &History, id: OpId) -> String {
    format!("<a class=\"op\" href=\"#timeline-section\" onclick=\"return zksimFocusOp({id})\"><code>{}</code></a>", esc(&history.describe_op(id)))
}

fn findings_section(out: &mut String, history: &History, page: &Page, bands: &[FaultBand]) {
    out.push_str("<h2 id=\"findings\">Findings, root cause first</h2>");
    if page.findings.is_empty() {
        out.push_str("<p class=\"ok\">No violation.</p>");
        return;
    }
    out.push_str("<ol class=\"findings\">");
    for (i, f) in page.findings.iter().enumerate() {
        let class = if i == 0 { "root" } else { "then" };
        let _ = write!(out, "<li class=\"{class}\"><p><b>{}</b></p><ul>", esc(&headline(f)));
        if let Some(source) = &f.source {
            let _ = write!(out, "<li>source: {}</li>", esc(source));
        }
        if !f.txns.is_empty() {
            txn_items(out, history, f);
        }
        for &op in f.ops.iter().take(8) {
            let _ = write!(out, "<li>{}</li>", op_link(history, op));
        }
        if let Some(t_ms) = f.t_ms {
            let t_ns = (t_ms * 1e6) as u64;
            let faults: Vec<String> = faults_before(bands, t_ns, if i == 0 { 8 } else { 3 })
                .iter()
                .map(|b| format!("{} {}{}", secs(b.start_ns), b.label, b.end_ns.map_or_else(|| " (not undone)".to_string(), |e| format!(" until {}", secs(e)))))
                .collect();
            if !faults.is_empty() {
                let _ = write!(out, "<li>faults before it: {}</li>", esc(&faults.join("; ")));
            }
            if let Some(server) = &f.server {
                let story = server_story(history, server, t_ns, 5_000_000_000, 12);
                if !story.is_empty() {
                    let _ = write!(out, "<li>{} just before:<ul>", esc(server));
                    for e in story {
                        let _ = write!(out, "<li>{} {}</li>", secs(e.record.t_ns), esc(&describe_server_event(e)));
                    }
                    out.push_str("</ul></li>");
                }
            }
        }
        if let Some(later) = f.later_text() {
            let _ = write!(out, "<li class=\"later\">{}</li>", esc(&later));
        }
        out.push_str("</ul></li>");
    }
    out.push_str("</ol>");
}

fn txn_items(out: &mut String, history: &History, f: &Finding) {
    let count = f.txn_count.max(f.txns.len());
    let writes: Vec<(i64, OpId)> = f.txns.iter().filter_map(|&z| op_of_txn(history, z).map(|op| (z, op))).collect();
    let others = if writes.len() < count { " (the others session txns)" } else { "" };
    let _ = write!(out, "<li>{count} acknowledged txn(s) concerned, <code>{:#x}</code>..<code>{:#x}</code>; {} of them client writes{others}:<ul>", f.txns.first().copied().unwrap_or(0), f.txns.last().copied().unwrap_or(0), writes.len());
    for &(zxid, op) in writes.iter().rev().take(8) {
        let _ = write!(out, "<li><code>{zxid:#x}</code>: {}</li>", op_link(history, op));
    }
    if writes.len() > 8 {
        let _ = write!(out, "<li>… and {} more</li>", writes.len() - 8);
    }
    out.push_str("</ul></li>");
}

fn verdict_table(out: &mut String, reports: &[CheckReport]) {
    out.push_str("<h2>Verdicts</h2><table><tr><th>check</th><th>verdict</th><th>summary</th><th>violations</th><th>source</th></tr>");
    for r in reports {
        let class = if r.status == Status::NotApplicable { "NA" } else { r.status.label() };
        let anomalies: Vec<String> = r.anomaly_counts.iter().map(|(a, n)| format!("{n} {a}")).collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.name,
            r.status.label(),
            esc(&r.summary),
            esc(&anomalies.join(", ")),
            esc(r.source)
        );
    }
    out.push_str("</table>");
}

fn allowed_section(out: &mut String, history: &History, reports: &[CheckReport], page: &Page) {
    let a = &page.allowed;
    let sync_reads = history.ops.iter().filter(|o| o.kind == crate::history::OpKind::SyncRead).count();
    let limit = page.sync_limit_ms.map_or_else(|| "syncLimit × tickTime".to_string(), |ms| format!("syncLimit × tickTime = {:.1} s", ms as f64 / 1000.0));
    out.push_str("<h2 id=\"allowed\">Anomalies ZooKeeper allows</h2><table><tr><th>anomaly</th><th>count</th><th>why it is allowed</th></tr>");
    let _ = write!(
        out,
        "<tr><td>stale plain reads</td><td>{}</td><td>A plain read is answered by the server the client is connected to, from its own replica, without asking the leader (Programmer's Guide, <i>Consistency Guarantees</i>: reads are sequentially consistent, not linearizable; clients may see different views at the same instant). A follower cut off from the leader keeps serving its last state until it has heard nothing for {} and gives up; until then its clients read values others overwrote long ago. Each session still never goes back in time and sees its own writes (checked: monotonic-reads, read-your-writes).</td></tr>",
        a.stale_plain_reads,
        esc(&limit)
    );
    let _ = write!(
        out,
        "<tr><td>stale sync+reads (WARN)</td><td>{} of {sync_reads}</td><td>What sync changes: the server forwards the sync to the leader and answers it only after applying every txn the leader had proposed before it, so the read that follows sees every write completed before the sync was invoked. A follower cut off from the leader cannot complete a sync: the client gets ConnectionLoss, not old data. (ZooKeeper does not promise this strictly — a deposed leader may still answer a sync — so a stale sync+read is a warning, not a failure.)</td></tr>",
        a.stale_sync_reads
    );
    let _ = write!(out, "<tr><td>SessionMoved</td><td>{}</td><td>A session's owner is the server whose revalidation reached the leader last (<code>Leader.revalidateSession</code>); a client that gave up on a slow server and reconnected elsewhere can have its requests refused when the slow server's late revalidation moves the session back.</td></tr>", a.session_moved);
    let _ = write!(out, "<tr><td>unknown outcomes</td><td>{}</td><td>ConnectionLoss on a write: it may have taken effect or not; the checks never assume either (Jepsen's <code>:info</code>).</td></tr></table>", a.unknown_outcomes);
    let examples: Vec<&crate::checker::Violation> = reports.iter().flat_map(|r| r.allowed.iter()).take(3).collect();
    if !examples.is_empty() {
        out.push_str("<p>First stale plain reads:</p><ul>");
        for v in examples {
            let _ = write!(out, "<li>{}", esc(&v.explanation));
            if let Some(&op) = v.ops.last() {
                let _ = write!(out, " — <a href=\"#timeline-section\" onclick=\"return zksimFocusOp({op})\">show #{op}</a>");
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
}

fn timeline_section(out: &mut String, history: &History, reports: &[CheckReport], bands: &[FaultBand], lins: &[PartialLinearization]) {
    out.push_str("<h2 id=\"timeline-section\">Timeline</h2><p class=\"legend\">Every op of the run. Top: one lane per server (");
    for (state, colour) in [("leading", "#2e8b57"), ("following", "#6fa8dc"), ("looking", "#f2c14e"), ("observing", "#b4a7d6"), ("down", "#444"), ("paused", "#9b59b6")] {
        let _ = write!(out, "<span class=\"sw\" style=\"background:{colour}\"></span>{state} ");
    }
    out.push_str("; ▲ server events: elections, syncs, NEWLEADER/UPTODATE, snapshots, truncations, crashes, recoveries, session expiries). Red bands: faults, labelled with kind and target. Below: one lane per client, a bar from invocation to completion (<span class=\"sw\" style=\"background:#7fb3d5\"></span>read <span class=\"sw\" style=\"background:#82c785\"></span>write <span class=\"sw\" style=\"background:#bbb\"></span>failed <span class=\"sw\" style=\"background:#f4d03f\"></span>unknown <span class=\"sw\" style=\"background:#e33\"></span>in a violation <span class=\"sw\" style=\"background:#f39c12\"></span>stale read, allowed). Wheel: zoom; drag: pan; hover: the op or event.</p>");
    out.push_str("<div class=\"controls\"><button id=\"zoom-in\">zoom in</button> <button id=\"zoom-out\">zoom out</button> <button id=\"zoom-all\">whole run</button> <span id=\"view\"></span></div>");
    out.push_str("<div class=\"canvas-box\"><canvas id=\"timeline\"></canvas></div>");
    if history.ops.len() > MAX_TIMELINE_OPS {
        let _ = write!(out, "<p class=\"legend\"><b>{} ops: the timeline draws every op in a violation and an even sample of the others, {MAX_TIMELINE_OPS} in all.</b></p>", history.ops.len());
    }
    let data = timeline_data(history, reports, bands, lins);
    let text = serde_json::to_string(&data).expect("JSON").replace("</", "<\\/");
    let _ = write!(out, "<script type=\"application/json\" id=\"zksim-data\">{text}</script>");
}

/// Server names in id order (`s2` before `s10`).
fn servers(history: &History) -> Vec<String> {
    let mut names: BTreeSet<String> = history.server_events.iter().map(|e| e.record.server.clone()).collect();
    names.extend(history.ops.iter().filter_map(|o| o.server.clone()));
    if let Some(f) = &history.final_state {
        names.extend(f.replicas.keys().cloned());
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort_by_key(|n| (n.trim_start_matches(|c: char| !c.is_ascii_digit()).parse::<u64>().unwrap_or(u64::MAX), n.clone()));
    names
}

const STATES: [&str; 6] = ["looking", "leading", "following", "observing", "down", "paused"];
const MARKS: [(&str, &str); 13] = [
    ("elected", "#1b5e20"),
    ("established", "#1b5e20"),
    ("sync", "#0d47a1"),
    ("newleader", "#4a148c"),
    ("newleader_ack", "#4a148c"),
    ("uptodate", "#4a148c"),
    ("snapshot", "#777"),
    ("truncate", "#e65100"),
    ("recovered", "#006064"),
    ("session_expired", "#880e4f"),
    ("client_ahead", "#880e4f"),
    ("crash", "#b71c1c"),
    ("exit", "#b71c1c"),
];

/// Each server's state over time, from its events: (lane, start ms, end ms, state, epoch).
fn server_segments(history: &History, names: &[String], t1_ms: f64) -> Vec<Value> {
    let mut segs = Vec::new();
    for (lane, name) in names.iter().enumerate() {
        let mut events: Vec<&crate::history::ServerEvent> = history.server_events.iter().filter(|e| &e.record.server == name).collect();
        events.sort_by_key(|e| (e.record.t_ns, e.line));
        let mut current: Option<(f64, usize, i64)> = None;
        let mut before_pause: Option<(usize, i64)> = None;
        let push = |segs: &mut Vec<Value>, current: &Option<(f64, usize, i64)>, until: f64| {
            if let Some((start, state, epoch)) = *current {
                if until > start {
                    segs.push(json!([lane, round(start), round(until), state, epoch]));
                }
            }
        };
        for e in events {
            let t = ms(e.record.t_ns);
            let epoch = e.record.epoch.unwrap_or(-1);
            let next = match e.record.event.as_str() {
                s @ ("looking" | "leading" | "following" | "observing") => STATES.iter().position(|x| *x == s).map(|i| (i, epoch)),
                "crash" | "exit" => Some((4, -1)),
                "pause" => {
                    before_pause = current.map(|(_, s, e)| (s, e));
                    Some((5, -1))
                }
                "resume" => before_pause.take(),
                _ => None,
            };
            if let Some((state, epoch)) = next {
                push(&mut segs, &current, t);
                current = Some((t, state, epoch));
            } else if matches!(e.record.event.as_str(), "established" | "newleader_ack") {
                // The role's epoch is known once it is established (the state change carries
                // the epoch the server had before discovery).
                if let (Some(c), Some(epoch)) = (current.as_mut(), e.record.epoch) {
                    c.2 = epoch;
                }
            }
        }
        push(&mut segs, &current, t1_ms);
    }
    segs
}

fn server_marks(history: &History, names: &[String]) -> Vec<Value> {
    let lane = |name: &str| names.iter().position(|n| n == name);
    let mut marks = Vec::new();
    for e in &history.server_events {
        let Some(kind) = MARKS.iter().position(|(m, _)| *m == e.record.event) else { continue };
        if let Some(l) = lane(&e.record.server) {
            marks.push(json!([l, round(ms(e.record.t_ns)), describe_server_event(e), kind]));
        }
        // A sync shows on the learner's lane too.
        if e.record.event == "sync" {
            if let Some(l) = e.record.peer.as_deref().and_then(lane) {
                marks.push(json!([l, round(ms(e.record.t_ns)), describe_server_event(e), kind]));
            }
        }
    }
    marks
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn timeline_data(history: &History, reports: &[CheckReport], bands: &[FaultBand], lins: &[PartialLinearization]) -> Value {
    let names = servers(history);
    let t0 = history
        .ops
        .iter()
        .map(|o| o.invoke_ns)
        .chain(history.server_events.iter().map(|e| e.record.t_ns))
        .chain(bands.iter().map(|b| b.start_ns))
        .min()
        .unwrap_or(0);
    let t1 = super::analysis::end_ns(history).max(t0 + 1_000_000);
    let clients: Vec<i64> = history.ops.iter().map(|o| o.client).collect::<BTreeSet<_>>().into_iter().collect();
    let lane_of: BTreeMap<i64, usize> = clients.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let mut kinds: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let index = |list: &mut Vec<String>, name: &str| match list.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            list.push(name.to_string());
            list.len() - 1
        }
    };
    let flagged: BTreeSet<OpId> = reports.iter().flat_map(|r| r.violations.iter().flat_map(|v| v.ops.iter().copied())).collect();
    let stale: BTreeSet<OpId> = reports.iter().flat_map(|r| r.allowed.iter().filter_map(|v| v.ops.last().copied())).collect();
    // Op ids stay the history's (links and linearizations use them): ops left out of a bounded
    // timeline become `null`.
    let stride = history.ops.len().div_ceil(MAX_TIMELINE_OPS);
    let kept_ops: BTreeSet<OpId> = lins.iter().flat_map(|l| l.prefix.iter().copied().chain([l.stuck])).collect();
    let ops: Vec<Value> = history
        .ops
        .iter()
        .enumerate()
        .map(|(id, o)| {
            let id = id as OpId;
            if stride > 1 && id as usize % stride != 0 && !flagged.contains(&id) && !kept_ops.contains(&id) {
                return Value::Null;
            }
            let complete = if o.complete_ns == u64::MAX || o.outcome == Outcome::Unknown { -1.0 } else { round(ms(o.complete_ns)) };
            let outcome = match o.outcome {
                Outcome::Ok => 0,
                Outcome::Fail => 1,
                Outcome::Unknown => 2,
            };
            let value = if o.kind.is_node_read() { o.result.value.clone() } else { o.args.value.clone() };
            let flag = if flagged.contains(&id) { 1 } else if stale.contains(&id) { 2 } else { 0 };
            json!([
                lane_of[&o.client],
                round(ms(o.invoke_ns)),
                complete,
                index(&mut kinds, o.kind.name()),
                outcome,
                o.path.map_or(-1, |p| p as i64),
                value,
                o.result.version,
                o.result.mzxid,
                o.zxid,
                o.error.as_ref().map_or(-1, |e| index(&mut errors, e.name()) as i64),
                o.server.as_ref().and_then(|s| names.iter().position(|n| n == s)).map_or(-1, |i| i as i64),
                flag
            ])
        })
        .collect();
    let writes: Vec<&String> = kinds.iter().filter(|k| crate::history::OpKind::parse(k).is_mutation()).collect();
    let paths: Vec<&str> = (0..history.paths.len() as u32).map(|p| history.paths.name(p)).collect();
    json!({
        "t0": round(ms(t0)),
        "t1": round(ms(t1)),
        "servers": names,
        "states": STATES,
        "segs": server_segments(history, &names, ms(t1)),
        "marks": server_marks(history, &names),
        "markColours": MARKS.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        "clients": clients,
        "paths": paths,
        "kinds": kinds,
        "writes": writes,
        "errors": errors,
        "ops": ops,
        "faults": bands.iter().map(|b| json!([round(ms(b.start_ns)), b.end_ns.map_or(-1.0, |e| round(ms(e))), b.label])).collect::<Vec<_>>(),
        "lin": lins.iter().map(|l| json!({"prefix": l.prefix, "stuck": l.stuck})).collect::<Vec<_>>(),
    })
}

fn plots_section(out: &mut String, history: &History, bands: &[FaultBand]) {
    out.push_str("<h2 id=\"plots\">Latency and throughput</h2><p class=\"legend\">Shaded: faults in force. Latency per op kind: ok, failed and unknown ops (unknown ones never completed: drawn on the top edge at their invocation).</p>");
    for (name, svg) in [("latency", latency_svg(history, bands)), ("throughput", throughput_svg(history, bands))] {
        match svg {
            Ok(svg) => {
                let _ = write!(out, "<div class=\"plot\" id=\"plot-{name}\">{svg}</div>");
            }
            Err(e) => {
                let _ = write!(out, "<p>The {name} plot could not be drawn: {}</p>", esc(&e));
            }
        }
    }
}

/// Partial linearizations of the keys the black-box search found not linearizable.
fn linearizations(history: &History, reports: &[CheckReport]) -> Vec<PartialLinearization> {
    let Some(report) = reports.iter().find(|r| r.name == linearizable_blackbox::NAME) else { return Vec::new() };
    let mut paths: Vec<crate::history::PathId> = Vec::new();
    for v in &report.violations {
        let path = v.ops.iter().find_map(|&id| history.ops.get(id as usize).and_then(|o| o.path));
        if let Some(path) = path.filter(|p| !paths.contains(p)) {
            paths.push(path);
        }
    }
    paths.into_iter().take(MAX_KEYS).filter_map(|p| partial_linearization(history, p, LINEARIZATION_BUDGET)).collect()
}

fn linearization_section(out: &mut String, history: &History, lins: &[PartialLinearization]) {
    if lins.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"linearization\">Partial linearizations</h2><p class=\"legend\">As Porcupine shows them: for each key no order explains, the longest prefix of its ops that some order does explain, in that order, and the op that cannot follow it. <i>Show</i> draws the order on the timeline (green, numbered) and the op that cannot follow (red box).</p>");
    for (i, l) in lins.iter().enumerate() {
        let _ = write!(
            out,
            "<h3>{}: {} of {} ops linearize, then {} cannot follow <button onclick=\"return zksimFocusLin({i})\">show</button></h3><ol>",
            esc(history.paths.name(l.path)),
            l.prefix.len(),
            l.ops,
            format_args!("#{}", l.stuck)
        );
        let skip = l.prefix.len().saturating_sub(12);
        if skip > 0 {
            let _ = write!(out, "<li value=\"1\">… {skip} earlier ops</li>");
        }
        for (n, &id) in l.prefix.iter().enumerate().skip(skip) {
            let _ = write!(out, "<li value=\"{}\">{}</li>", n + 1, op_link(history, id));
        }
        let _ = write!(out, "</ol><p class=\"stuck\">cannot follow: {}</p>", op_link(history, l.stuck));
    }
}

fn details_section(out: &mut String, history: &History, reports: &[CheckReport]) {
    out.push_str("<h2 id=\"details\">Every check's violations</h2>");
    let mut any = false;
    for r in reports.iter().filter(|r| r.violation_count > 0) {
        any = true;
        let _ = write!(out, "<h3>{} — {} ({} violation(s), the first {} listed in time order)</h3><ul>", r.name, r.status.label(), r.violation_count, r.violations.len().min(LISTED));
        let mut list: Vec<&crate::checker::Violation> = r.violations.iter().collect();
        list.sort_by_key(|v| super::analysis::violation_time_ns(history, v));
        for v in list.into_iter().take(LISTED) {
            let _ = write!(out, "<li><b>{}</b> at {}: {}<ul>", esc(v.anomaly), secs(super::analysis::violation_time_ns(history, v)), esc(&v.explanation));
            for &op in &v.ops {
                let _ = write!(out, "<li>{}</li>", op_link(history, op));
            }
            for line in &v.lines {
                let _ = write!(out, "<li>input line {line}</li>");
            }
            out.push_str("</ul></li>");
        }
        out.push_str("</ul>");
    }
    if !any {
        out.push_str("<p>None.</p>");
    }
}
