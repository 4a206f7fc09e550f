//! zksim: Apache ZooKeeper rebuilt as a deterministic simulation testbed.
pub mod history;
pub mod checker;
