//! The zksim history wire format: one JSON object per line (see docs/history-format.md).
//!
//! Why these types exist: the simulator records a run by serializing these records, one per
//! line, and the checker parses the same types back. The real-ZooKeeper JSONL recorder used
//! in `/work/shared/reference` writes nearly the same shape (`type` ok/fail/info instead of
//! `outcome`, `servers` with `Zxid`/`Mode` in the final line), so the same records parse it
//! through serde aliases. Fields that hold ids (zxids, sessions, servers) accept integers or
//! strings (`"0x1f"` for zxids) because recorders differ.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// `format` value of a zksim meta line.
pub const ZKSIM_FORMAT: &str = "zksim-history";
/// Current `format_version`.
pub const ZKSIM_FORMAT_VERSION: u32 = 1;

/// Any line of a zksim history, tagged by `kind`. Use [`Record::to_line`] to emit one.
/// (Variants differ in size; records are built one at a time to be written, so boxing the
/// large ones would only make the simulator's code noisier.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    Meta(MetaRecord),
    Op(OpRecord),
    Event(EventRecord),
    Session(SessionRecord),
    State(SessionRecord),
    Nemesis(NemesisRecord),
    /// A server event from the simulation (role change, sync, crash, ...): server lanes.
    Server(ServerRecord),
    Final(FinalRecord),
}

impl Record {
    /// One JSON line, without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("history records always serialize")
    }
}

/// First line of a history.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MetaRecord {
    /// `"zksim-history"` for zksim; absent in the real-ZooKeeper recorder's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_version: Option<u32>,
    /// Initial state of every recorded path that exists at the start.
    #[serde(default)]
    pub init: BTreeMap<String, NodeRecord>,
    /// Anything else (seed, servers, fault plan, ...), kept for the report.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A node's data and stat (the subset the checks use).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeRecord {
    #[serde(default, deserialize_with = "de_opt_text")]
    pub value: Option<String>,
    pub version: i32,
    #[serde(deserialize_with = "de_zxid")]
    pub mzxid: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub czxid: Option<i64>,
    /// `init` of a directory whose children are replayed: its child names, pzxid, cversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub pzxid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cversion: Option<i32>,
}

/// One operation, written when it completes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OpRecord {
    pub process: i64,
    pub client: i64,
    /// Session id as ZooKeeper prints it (`"0x100000f7f620001"`); null if none yet.
    #[serde(default, deserialize_with = "de_opt_text")]
    pub session: Option<String>,
    /// Server the client was connected to.
    #[serde(default, deserialize_with = "de_opt_text")]
    pub server: Option<String>,
    /// create, delete, exists, get_data, set_data, get_children, multi, sync, read,
    /// sync_read, write, cas, close_session, lock_acquire, lock_release, fenced_write,
    /// lock_watch.
    pub op: String,
    #[serde(default, alias = "key", skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub args: ArgsRecord,
    pub invoke_ns: u64,
    /// Absent when the client never learned the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_ns: Option<u64>,
    /// ok | fail | unknown (the real-ZooKeeper recorder writes `type`: ok | fail | info).
    #[serde(alias = "type")]
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Reply header zxid.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub zxid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultRecord>,
    /// The op's place in its session's submission order (the client library numbers requests
    /// as the application submits them): with several ops in flight, equal `invoke_ns` is
    /// common, and this is the FIFO order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The reply's place among everything the session's client delivered (replies, watch
    /// events, state changes), in delivery order; shared with `event` and `session` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<u64>,
}

/// Arguments of an op.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ArgsRecord {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub value: Option<String>,
    /// Expected version (setData/delete/check); `version` is accepted too.
    #[serde(default, alias = "version", skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i32>,
    /// Jepsen-style cas: expected value.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub expected_value: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ephemeral: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub sequential: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub watch: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<i64>,
    /// Sub-ops of a multi.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<SubOpRecord>,
    /// `add_watch`: `persistent` or `persistent_recursive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `create`: a container node.
    #[serde(default, skip_serializing_if = "is_false")]
    pub container: bool,
    /// `create`: a TTL node with this TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SubOpRecord {
    pub op: String,
    #[serde(alias = "key")]
    pub path: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub value: Option<String>,
    #[serde(default, alias = "version", skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i32>,
}

/// The reply. Stat fields use ZooKeeper's names.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ResultRecord {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub mzxid: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub czxid: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub pzxid: Option<i64>,
    /// exists: false when the node was absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub ephemeral_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<String>>,
    /// create: the path actually created (sequential names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// lock_acquire: the fencing token (lock node czxid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<i64>,
    /// Stat: child-change counter (get_children with a stat, exists, get_data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cversion: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_children: Option<i32>,
    /// multi / multi_read: one result per sub-op, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<SubResultRecord>,
}

/// One sub-op's result inside a multi or multi_read: its error code, or what it returned.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SubResultRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub result: ResultRecord,
}

/// A watch notification delivered to a client.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EventRecord {
    pub client: i64,
    #[serde(default, deserialize_with = "de_opt_text")]
    pub session: Option<String>,
    pub t_ns: u64,
    /// NodeCreated | NodeDeleted | NodeDataChanged | NodeChildrenChanged.
    #[serde(rename = "type")]
    pub event_type: String,
    pub path: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub zxid: Option<i64>,
    /// Delivery order within the session (see `OpRecord::arrival`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<u64>,
}

/// A session or connection state change (`session` lines; the real recorder's `state` lines).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    pub client: i64,
    #[serde(default, deserialize_with = "de_opt_text")]
    pub session: Option<String>,
    pub t_ns: u64,
    /// connected | disconnected | expired | closed (real recorder: CONNECTED/SUSPENDED/LOST).
    pub state: String,
    /// zxid of the closeSession transaction, if known.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub zxid: Option<i64>,
    /// Delivery order within the session (see `OpRecord::arrival`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<u64>,
    /// `"ensemble"`: not what the client saw but the ensemble's commit of the session's
    /// closeSession txn (`zxid`), recorded by a simulator that sees its servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A fault injected by the nemesis.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NemesisRecord {
    pub t_ns: u64,
    pub action: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub server: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Something a server did or had done to it, recorded by the simulator (its server lanes):
/// `event` is `looking`, `leading`, `following`, `observing`, `elected`, `established`,
/// `sync`, `newleader`, `newleader_ack`, `uptodate`, `crash`, `exit`, `restart`,
/// `recovered`, `pause`, `resume`, `snapshot`, `truncate`, `loaded`, `session_expired`,
/// `client_ahead` (others are kept and shown as they are). No check depends on these lines.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerRecord {
    pub t_ns: u64,
    #[serde(deserialize_with = "de_text")]
    pub server: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de_opt_zxid")]
    pub zxid: Option<i64>,
    /// The other server concerned: the leader chosen, the learner synced.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de_opt_text")]
    pub peer: Option<String>,
    /// `sync`: DIFF, TRUNC, TRUNC+DIFF or SNAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de_opt_zxid")]
    pub from_zxid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de_opt_zxid")]
    pub to_zxid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de_opt_text")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Last line: the ensemble's state after the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FinalRecord {
    /// Final state per recorded path; null = absent.
    #[serde(default, alias = "keys")]
    pub nodes: BTreeMap<String, Option<NodeRecord>>,
    /// Per replica: last zxid, tree digest, mode.
    #[serde(default, alias = "servers")]
    pub replicas: BTreeMap<String, ReplicaRecord>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ReplicaRecord {
    #[serde(
        default,
        alias = "Zxid",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_zxid"
    )]
    pub zxid: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_text"
    )]
    pub digest: Option<String>,
    #[serde(default, alias = "Mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

/// Parses a zxid written as an integer or as a `"0x…"` / decimal string.
pub fn parse_zxid_text(text: &str) -> Option<i64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|z| z as i64),
        None => text.parse().ok(),
    }
}

struct ZxidVisitor;

impl<'de> serde::de::Visitor<'de> for ZxidVisitor {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a zxid: integer, \"0x…\" string or null")
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as i64))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_zxid_text(v)
            .map(Some)
            .ok_or_else(|| E::custom(format!("bad zxid {v:?}")))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ZxidVisitor)
    }
}

fn de_opt_zxid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(ZxidVisitor)
}

fn de_zxid<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(ZxidVisitor)?
        .ok_or_else(|| serde::de::Error::custom("zxid must not be null"))
}

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string, number or null")
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

/// A string or a number (as its decimal text), not null.
fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(TextVisitor)?
        .ok_or_else(|| serde::de::Error::custom("must not be null"))
}

/// Strings, numbers (as their decimal text) or null.
fn de_opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(TextVisitor)
}
