//! `read-your-writes`: after a session's write is acknowledged, its reads of that path
//! return that write or something newer.
//!
//! Source: ZooKeeper paper §2.3 / §4.2 (a read is processed after the session's pending
//! writes: FinalRequestProcessor orders them per session); Programmer's Guide,
//! "Sequential Consistency" and "Single System Image".

use super::context::Context;
use super::report::CheckReport;
use super::session_reads::check_sessions;
use super::CheckOptions;

pub const NAME: &str = "read-your-writes";
const SOURCE: &str = "ZooKeeper paper §2.3/§4.2; Programmer's Guide, Consistency Guarantees";

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    if !context.has_zxids() {
        return report.not_applicable("needs mzxids to order read results");
    }
    if context.session_ops().is_empty() {
        return report.not_applicable("no sessions recorded");
    }
    let reads = check_sessions(context, false, &mut report);
    report.finish(format!(
        "{reads} reads checked against each session's own acknowledged writes"
    ))
}
