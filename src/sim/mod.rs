//! The madsim shell: servers and clients as madsim nodes, FIFO connections over madsim's
//! network, a disk that loses what was not fsynced, and the cluster harness with its online
//! invariant checks.
//!
//! Why a thin shell: every protocol decision lives in the deterministic cores (`crate::zab`,
//! `crate::client`); the shell only moves their messages and persistence actions through
//! madsim's seeded network, clock and node lifecycle (kill, restart, pause).

pub mod client_node;
pub mod cluster;
#[cfg(madsim)]
pub mod disk;
pub mod invariants;
pub mod net;
pub mod server_node;
pub mod writer;
