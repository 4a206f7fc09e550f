//! The findings of a run as terminal lines, root cause first: the earliest finding with what
//! it is about (server, epoch, zxid, the txns lost and the client ops they were), the faults
//! just before it and what the servers concerned did; then every other check's first
//! violation in time, with the later ones grouped.

use super::analysis::ms;
use super::finding::Finding;
use super::story::{describe_server_event, fault_bands, faults_before, op_of_txn, server_story};
use crate::history::History;

/// Faults listed before a finding.
const FAULTS_SHOWN: usize = 6;
/// Server events listed before a finding, and how far back they may be.
const STORY_SHOWN: usize = 8;
const STORY_WINDOW_NS: u64 = 5_000_000_000;

fn secs(t_ms: f64) -> String {
    format!("{:.3} s", t_ms / 1_000.0)
}

/// The findings, one block each; the first is the root cause. `history` (when the run
/// recorded one) adds the context: faults, server events, the client ops of lost txns.
pub fn render_findings(findings: &[Finding], history: Option<&History>) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        return out;
    }
    out.push_str("findings, root cause first (earliest in time):\n");
    for (i, f) in findings.iter().enumerate() {
        if i == 1 {
            out.push_str("then:\n");
        }
        out.push_str(&format!("  {}. {}\n", i + 1, headline(f)));
        for line in context_lines(f, history, i == 0) {
            out.push_str(&format!("     {line}\n"));
        }
    }
    out
}

/// `acknowledged-write-durable (online invariant) at 21.651 s on s1, epoch 3, zxid 0x…: …`
pub fn headline(f: &Finding) -> String {
    let kind = match f.kind.as_str() {
        "invariant" => "online invariant",
        "check" => "history check",
        other => other,
    };
    let mut text = if kind == f.check { f.check.clone() } else { format!("{} ({kind})", f.check) };
    if let Some(t) = f.t_ms {
        text.push_str(&format!(" at {}", secs(t)));
    }
    if let Some(server) = &f.server {
        text.push_str(&format!(" on {server}"));
    }
    if let Some(epoch) = f.epoch {
        text.push_str(&format!(", epoch {epoch}"));
    }
    if let Some(zxid) = f.zxid {
        text.push_str(&format!(", zxid {zxid:#x}"));
    }
    match &f.anomaly {
        Some(anomaly) if f.kind == "check" => text.push_str(&format!(": [{anomaly}] {}", f.detail)),
        _ => text.push_str(&format!(": {}", f.detail)),
    }
    text
}

fn context_lines(f: &Finding, history: Option<&History>, root: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if let (Some(history), false) = (history, f.txns.is_empty()) {
        lines.push(lost_txns_line(f, history));
    }
    if let (Some(history), Some(t_ms)) = (history, f.t_ms) {
        let t_ns = (t_ms * 1e6) as u64;
        let bands = fault_bands(history);
        let shown = if root { FAULTS_SHOWN } else { 2 };
        let faults: Vec<String> = faults_before(&bands, t_ns, shown)
            .iter()
            .map(|b| {
                let until = b.end_ns.map_or_else(|| " (not undone)".to_string(), |e| if e <= t_ns { format!(" until {}", secs(ms(e))) } else { format!(" (still in force, until {})", secs(ms(e))) });
                format!("{} {}{until}", secs(ms(b.start_ns)), b.label)
            })
            .collect();
        if !faults.is_empty() {
            lines.push(format!("faults before it: {}", faults.join("; ")));
        } else if root {
            lines.push("faults before it: none".to_string());
        }
        if let (Some(server), true) = (&f.server, root) {
            let story: Vec<String> =
                server_story(history, server, t_ns, STORY_WINDOW_NS, STORY_SHOWN).iter().map(|e| format!("{} {}", secs(ms(e.record.t_ns)), describe_server_event(e))).collect();
            if !story.is_empty() {
                lines.push(format!("{server} just before: {}", story.join("; ")));
            }
        }
    }
    if let Some(later) = f.later_text() {
        lines.push(later);
    }
    lines
}

/// `txns lost: 12 acknowledged, 0x10000001b..0x100000028, 6 of them client writes: …`
fn lost_txns_line(f: &Finding, history: &History) -> String {
    let count = f.txn_count.max(f.txns.len());
    let first = f.txns.first().copied().unwrap_or(0);
    let last = f.txns.last().copied().unwrap_or(0);
    let range = if count == 1 { format!("{first:#x}") } else { format!("{first:#x}..{last:#x}") };
    let verb = if f.check == "acknowledged-write-durable" { "lost" } else { "concerned" };
    let writes: Vec<(i64, u32)> = f.txns.iter().filter_map(|&z| op_of_txn(history, z).map(|op| (z, op))).collect();
    let mut line = format!("txns {verb}: {count} acknowledged, {range}");
    if writes.is_empty() {
        line.push_str(" (session txns, no recorded client write among them)");
        return line;
    }
    let others = if writes.len() < count { " (the others session txns)" } else { "" };
    line.push_str(&format!(", {} of them client writes{others}, latest: ", writes.len()));
    let shown: Vec<String> = writes
        .iter()
        .rev()
        .take(3)
        .map(|&(z, op)| format!("{z:#x} = {} (acknowledged at {})", history.describe_op(op), secs(ms(history.ops[op as usize].complete_ns))))
        .collect();
    line.push_str(&shown.join("; "));
    line
}
