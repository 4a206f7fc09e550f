//! The data tree and everything that changes it: paths, ACLs, watches, transactions, the
//! prepare step, snapshots. A deterministic core: no I/O, no clock, no randomness.

pub mod acl;
pub mod data_tree;
pub mod java_hash_set;
pub mod path;
pub mod prep;
pub mod snapshot;
pub mod txn;
pub mod watch;

pub use data_tree::{DataNode, DataTree, ProcessTxnResult, StatPersisted};
pub use txn::{Txn, TxnEntry, TxnHeader};
