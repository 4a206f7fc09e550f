//! Transactions: what the leader's prepare step turns a write request into, and what every
//! replica applies in zxid order (`org.apache.zookeeper.txn.*`).
//!
//! Why: a transaction is idempotent and self-contained — it carries the absolute outcome
//! (new version, parent's new child counter, the exact paths a closeSession deletes), never a
//! relative change — so replaying it over a fuzzy snapshot that already contains its effect
//! leaves the tree unchanged. A failed request still becomes a transaction (`Error`) and takes a
//! zxid, as in ZooKeeper.

use serde::{Deserialize, Serialize};

use crate::proto::{Acl, Code, SessionId, Zxid};

/// `TxnHeader`: who asked, their request number, the zxid, and the leader's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnHeader {
    pub client_id: SessionId,
    pub cxid: i32,
    pub zxid: Zxid,
    pub time_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Txn {
    /// `create` / `create2` (with_stat): the parent's stored child counter after the create.
    Create { path: String, data: Vec<u8>, acl: Vec<Acl>, ephemeral: bool, parent_cversion: i32, with_stat: bool },
    CreateContainer { path: String, data: Vec<u8>, acl: Vec<Acl>, parent_cversion: i32 },
    CreateTtl { path: String, data: Vec<u8>, acl: Vec<Acl>, parent_cversion: i32, ttl_ms: i64 },
    Delete { path: String },
    DeleteContainer { path: String },
    /// The node's new version (absolute, so replay is idempotent).
    SetData { path: String, data: Vec<u8>, version: i32 },
    /// The node's new aversion.
    SetAcl { path: String, acl: Vec<Acl>, version: i32 },
    /// A multi's version check; it changes nothing.
    Check { path: String, version: i32 },
    CreateSession { timeout_ms: i32 },
    /// The ephemerals to delete, decided by the leader (ZooKeeper 3.6+ `CloseSessionTxn`).
    CloseSession { paths_to_delete: Vec<String> },
    Error { err: Code },
    Multi { txns: Vec<Txn> },
}

impl Txn {
    pub fn type_name(&self) -> &'static str {
        match self {
            Txn::Create { with_stat: false, .. } => "create",
            Txn::Create { with_stat: true, .. } => "create2",
            Txn::CreateContainer { .. } => "createContainer",
            Txn::CreateTtl { .. } => "createTTL",
            Txn::Delete { .. } => "delete",
            Txn::DeleteContainer { .. } => "deleteContainer",
            Txn::SetData { .. } => "setData",
            Txn::SetAcl { .. } => "setACL",
            Txn::Check { .. } => "check",
            Txn::CreateSession { .. } => "createSession",
            Txn::CloseSession { .. } => "closeSession",
            Txn::Error { .. } => "error",
            Txn::Multi { .. } => "multi",
        }
    }

    /// Whether this is a failed request's transaction (a multi counts if any op failed).
    pub fn is_error(&self) -> bool {
        match self {
            Txn::Error { .. } => true,
            Txn::Multi { txns } => txns.iter().any(|t| matches!(t, Txn::Error { .. })),
            _ => false,
        }
    }
}

/// A logged transaction: header plus body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnEntry {
    pub header: TxnHeader,
    pub txn: Txn,
}
