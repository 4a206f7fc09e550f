//! Self-contained HTML report of `zksim check --html`: the same report `zksim run` writes
//! (`crate::report::html`), built from a history and its check reports alone — findings in
//! time order, verdicts, the allowed anomalies, every op on a zoomable timeline (server lanes
//! when the history has `server` lines), plots and partial linearizations.

use super::report::CheckReport;
use crate::history::History;
use crate::report::analysis::{allowed_counts, check_finding};
use crate::report::finding::root_cause_order;
use crate::report::html::{render, Page};

pub fn render_html(history: &History, reports: &[CheckReport]) -> String {
    let mut findings: Vec<_> = reports.iter().filter_map(|r| check_finding(history, r)).collect();
    root_cause_order(&mut findings);
    let page = Page {
        title: format!("zksim check: {}", history.source),
        facts: Vec::new(),
        findings: &findings,
        allowed: allowed_counts(history, reports),
        sync_limit_ms: None,
    };
    render(history, reports, &page)
}
