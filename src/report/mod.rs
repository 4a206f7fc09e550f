//! Explaining a run the way a researcher reads it: root cause first, the servers and the
//! faults on the timeline, latency and throughput plots, the anomalies ZooKeeper allows.
//!
//! Why a module of its own: `zksim run` (with the online invariants and the servers' events)
//! and `zksim check --html` (a history alone, maybe from a real ZooKeeper or Jepsen) share
//! one report; the checks stay free of presentation.

pub mod analysis;
pub mod finding;
pub mod html;
pub mod plots;
pub mod story;
pub mod text;

use crate::checker::CheckReport;
use crate::history::History;

/// What the checks saw: the parsed history and every check's report.
pub struct Analysis {
    pub history: History,
    pub reports: Vec<CheckReport>,
}
