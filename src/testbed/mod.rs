//! The testbed: scenario files, workloads, the nemesis, history recording, and the runner that
//! turns (scenario, seed) into a verdict with a reproduce line.
//!
//! Why here: this is what users touch (`zksim run`, `zksim sweep`); it composes the cluster
//! harness (`crate::sim`), the client library (`crate::client`) and the checker
//! (`crate::checker`) without adding protocol logic of its own.

pub mod bench;
pub mod bench_baseline;
pub mod bugs_report;
pub mod cli;
pub mod coverage;
pub mod ensemble_ops;
pub mod explore;
pub mod faults_report;
pub mod fenced_store;
pub mod generic_report;
pub mod liveness;
pub mod lock_workload;
pub mod mixed;
pub mod nemesis;
pub mod recorder;
pub mod runner;
pub mod scenario;
pub mod workload;
