//! The history checker: does a recorded run respect ZooKeeper's guarantees?
//!
//! Why this shape: each guarantee is a named check in its own file, citing where ZooKeeper
//! promises it, returning pass / violations / unknown. The near-linear checks lean on
//! ZooKeeper's zxids (one per transaction, applied in order everywhere: `timeline`); the
//! black-box search (`linearizable_blackbox`) trusts no zxid and cross-checks them.
//! Unknown outcomes are never assumed to have happened, nor not to have happened.

pub mod cli;
pub mod child_lists;
pub mod children;
pub mod context;
pub mod durability;
pub mod ephemerals;
pub mod fifo_client_order;
pub mod html;
pub mod linearizable_blackbox;
pub mod linearizable_writes;
pub mod lock_mutual_exclusion;
pub mod monotonic_reads;
pub mod multi_atomicity;
pub mod read_your_writes;
pub mod replica_convergence;
pub mod report;
pub mod sequential_consistency;
pub mod sequential_names;
pub mod session_reads;
pub mod sync_read_real_time;
pub mod timeline;
pub mod watches;

pub use context::Context;
pub use report::{CheckReport, Severity, Status, Violation};

use crate::history::History;

/// Knobs for a run of the checks.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Budget for the black-box search, per key; exceeded → unknown.
    pub time_limit_ms: u64,
    /// Run the black-box search (on by default).
    pub blackbox: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            time_limit_ms: 10_000,
            blackbox: true,
        }
    }
}

/// A check: a name and a function from the shared context to a report.
pub struct Check {
    pub name: &'static str,
    pub run: fn(&Context, &CheckOptions) -> CheckReport,
}

/// Every check, in report order.
pub fn all_checks() -> Vec<Check> {
    vec![
        Check {
            name: linearizable_writes::NAME,
            run: linearizable_writes::check,
        },
        Check {
            name: linearizable_blackbox::NAME,
            run: linearizable_blackbox::check,
        },
        Check {
            name: fifo_client_order::NAME,
            run: fifo_client_order::check,
        },
        Check {
            name: monotonic_reads::NAME,
            run: monotonic_reads::check,
        },
        Check {
            name: read_your_writes::NAME,
            run: read_your_writes::check,
        },
        Check {
            name: sequential_consistency::NAME,
            run: sequential_consistency::check,
        },
        Check {
            name: sync_read_real_time::NAME,
            run: sync_read_real_time::check,
        },
        Check {
            name: durability::NAME,
            run: durability::check,
        },
        Check {
            name: replica_convergence::NAME,
            run: replica_convergence::check,
        },
        Check {
            name: ephemerals::NAME,
            run: ephemerals::check,
        },
        Check {
            name: watches::NAME,
            run: watches::check,
        },
        Check {
            name: child_lists::NAME,
            run: child_lists::check,
        },
        Check {
            name: sequential_names::NAME,
            run: sequential_names::check,
        },
        Check {
            name: multi_atomicity::NAME,
            run: multi_atomicity::check,
        },
        Check {
            name: lock_mutual_exclusion::NAME,
            run: lock_mutual_exclusion::check,
        },
    ]
}

/// Runs every check on `history`.
pub fn check_history(history: &History, options: &CheckOptions) -> Vec<CheckReport> {
    let context = Context::new(history);
    all_checks()
        .iter()
        .map(|check| (check.run)(&context, options))
        .collect()
}

/// Runs one check by name.
pub fn check_one(history: &History, name: &str, options: &CheckOptions) -> Option<CheckReport> {
    let context = Context::new(history);
    all_checks()
        .into_iter()
        .find(|c| c.name == name)
        .map(|check| (check.run)(&context, options))
}

/// The names of every check, in report order (for `zksim list` and scenario validation).
pub fn all_check_names() -> Vec<&'static str> {
    all_checks().into_iter().map(|c| c.name).collect()
}
