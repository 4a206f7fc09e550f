//! `monotonic-reads`: within a session, a read of a path never returns an older state than
//! an earlier read of that path or the session's own write to it — across reconnects.
//!
//! Source: ZooKeeper Programmer's Guide, "Consistency Guarantees: Single System Image — a
//! client will see the same view of the service regardless of the server that it connects
//! to ... a client will never see an older view of the system even if it fails over to a
//! different server with the same session"; ClientCnxn sends lastZxidSeen on reconnect.

use super::context::Context;
use super::report::CheckReport;
use super::session_reads::check_sessions;
use super::CheckOptions;

pub const NAME: &str = "monotonic-reads";
const SOURCE: &str = "Programmer's Guide, Consistency Guarantees: Single System Image";

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    if !context.has_zxids() {
        return report.not_applicable("needs mzxids to order read results");
    }
    if context.session_ops().is_empty() {
        return report.not_applicable("no sessions recorded");
    }
    let reads = check_sessions(context, true, &mut report);
    report.finish(format!(
        "{reads} reads checked against each session's earlier reads and writes"
    ))
}
