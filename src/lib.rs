//! zksim: Apache ZooKeeper rebuilt as a deterministic simulation testbed.
//!
//! Layers, bottom up:
//! - [`proto`]: ZooKeeper's vocabulary (codes, stats, ACLs, requests, responses);
//! - [`tree`]: the data tree, transactions and the prepare step — a deterministic core with
//!   no I/O, clock or randomness;
//! - [`server`]: a standalone server core (sessions, per-session FIFO pipeline, watches);
//! - [`client`]: the client library (`ClientCnxn` as a deterministic core, an async facade);
//! - [`conformance`]: replays a trace recorded from a real ZooKeeper and scores the match;
//! - [`history`] and [`checker`]: recorded client histories and the checks that judge them;
//! - [`storage`]: transaction log, snapshots, epochs and recovery over a disk that loses what
//!   was not fsynced; [`sim`]: the madsim shell's plugins (the simulated disk).

pub mod checker;
pub mod client;
pub mod conformance;
pub mod history;
pub mod proto;
pub mod report;
pub mod server;
pub mod sim;
pub mod storage;
pub mod testbed;
pub mod tree;
pub mod wire;
pub mod zab;
