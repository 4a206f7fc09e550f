//! ZooKeeper's wire-level vocabulary: error codes, stats, ACLs, create modes, requests and
//! responses, as the jute records in `zookeeper.jute` define them.
//!
//! Why a module of its own: every layer (data tree, server pipeline, ZAB, client library,
//! history recorder, checker) speaks these types, and they must mean exactly what ZooKeeper
//! means by them. Names follow ZooKeeper's.

use serde::{Deserialize, Serialize};

pub type Zxid = i64;
pub type SessionId = i64;

/// `KeeperException.Code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Code {
    Ok,
    SystemError,
    RuntimeInconsistency,
    DataInconsistency,
    ConnectionLoss,
    MarshallingError,
    Unimplemented,
    OperationTimeout,
    BadArguments,
    UnknownSession,
    NewConfigNoQuorum,
    ReconfigInProgress,
    NoNode,
    NoAuth,
    BadVersion,
    NoChildrenForEphemerals,
    NodeExists,
    NotEmpty,
    SessionExpired,
    InvalidCallback,
    InvalidAcl,
    AuthFailed,
    SessionMoved,
    NotReadOnly,
    EphemeralOnLocalSession,
    NoWatcher,
    RequestTimeout,
    ReconfigDisabled,
    QuotaExceeded,
    Throttled,
}

const CODE_TABLE: &[(Code, i32, &str)] = &[
    (Code::Ok, 0, "RolledBackError"),
    (Code::SystemError, -1, "SystemErrorError"),
    (Code::RuntimeInconsistency, -2, "RuntimeInconsistency"),
    (Code::DataInconsistency, -3, "DataInconsistency"),
    (Code::ConnectionLoss, -4, "ConnectionLoss"),
    (Code::MarshallingError, -5, "MarshallingError"),
    (Code::Unimplemented, -6, "UnimplementedError"),
    (Code::OperationTimeout, -7, "OperationTimeoutError"),
    (Code::BadArguments, -8, "BadArgumentsError"),
    (Code::UnknownSession, -12, "UnknownSessionError"),
    (Code::NewConfigNoQuorum, -13, "NewConfigNoQuorumError"),
    (Code::ReconfigInProgress, -14, "ReconfigInProcessError"),
    (Code::NoNode, -101, "NoNodeError"),
    (Code::NoAuth, -102, "NoAuthError"),
    (Code::BadVersion, -103, "BadVersionError"),
    (Code::NoChildrenForEphemerals, -108, "NoChildrenForEphemeralsError"),
    (Code::NodeExists, -110, "NodeExistsError"),
    (Code::NotEmpty, -111, "NotEmptyError"),
    (Code::SessionExpired, -112, "SessionExpiredError"),
    (Code::InvalidCallback, -113, "InvalidCallbackError"),
    (Code::InvalidAcl, -114, "InvalidACLError"),
    (Code::AuthFailed, -115, "AuthFailedError"),
    (Code::SessionMoved, -118, "SessionMovedError"),
    (Code::NotReadOnly, -119, "NotReadOnlyCallError"),
    (Code::EphemeralOnLocalSession, -120, "EphemeralOnLocalSessionError"),
    (Code::NoWatcher, -121, "NoWatcherError"),
    (Code::RequestTimeout, -122, "RequestTimeoutError"),
    (Code::ReconfigDisabled, -123, "ReconfigDisabledError"),
    (Code::QuotaExceeded, -125, "QuotaExceededError"),
    (Code::Throttled, -127, "ThrottledOpError"),
];

impl Code {
    /// The integer ZooKeeper puts on the wire.
    pub fn int_value(self) -> i32 {
        CODE_TABLE.iter().find(|(c, _, _)| *c == self).map(|(_, v, _)| *v).unwrap_or(-1)
    }

    pub fn from_int(value: i32) -> Option<Code> {
        CODE_TABLE.iter().find(|(_, v, _)| *v == value).map(|(c, _, _)| *c)
    }

    /// The exception class name the Python client kazoo raises (the golden trace's `class`);
    /// `Ok` inside a failed multi is kazoo's `RolledBackError`.
    pub fn kazoo_class(self) -> &'static str {
        CODE_TABLE.iter().find(|(c, _, _)| *c == self).map(|(_, _, n)| *n).unwrap_or("?")
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}({})", self, self.int_value())
    }
}

/// `ZooDefs.OpCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpCode {
    Notification = 0,
    Create = 1,
    Delete = 2,
    Exists = 3,
    GetData = 4,
    SetData = 5,
    GetAcl = 6,
    SetAcl = 7,
    GetChildren = 8,
    Sync = 9,
    Ping = 11,
    GetChildren2 = 12,
    Check = 13,
    Multi = 14,
    Create2 = 15,
    Reconfig = 16,
    CheckWatches = 17,
    RemoveWatches = 18,
    CreateContainer = 19,
    DeleteContainer = 20,
    CreateTtl = 21,
    MultiRead = 22,
    Auth = 100,
    SetWatches = 101,
    GetEphemerals = 103,
    GetAllChildrenNumber = 104,
    SetWatches2 = 105,
    AddWatch = 106,
    CreateSession = -10,
    CloseSession = -11,
    Error = -1,
}

/// ACL permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const CREATE: u32 = 4;
    pub const DELETE: u32 = 8;
    pub const ADMIN: u32 = 16;
    pub const ALL: u32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// An identity: `scheme:id`, e.g. `world:anyone`, `digest:bob:<base64 sha1>`, `ip:10.0.0.0/8`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id { scheme: scheme.to_string(), id: id.to_string() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Acl {
    pub perms: u32,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: u32, scheme: &str, id: &str) -> Acl {
        Acl { perms, id: Id::new(scheme, id) }
    }

    /// `Ids.OPEN_ACL_UNSAFE`.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, "world", "anyone")]
    }

    /// `Ids.READ_ACL_UNSAFE`.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::READ, "world", "anyone")]
    }

    /// `Ids.CREATOR_ALL_ACL`: all permissions to the creator's authenticated ids.
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, "auth", "")]
    }
}

/// The stat a client sees (`Stat` in zookeeper.jute).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stat {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: Zxid,
}

/// `CreateMode`, with its wire flag values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
}

impl CreateMode {
    pub fn from_flag(flag: i32) -> Option<CreateMode> {
        Some(match flag {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    pub fn from_bools(ephemeral: bool, sequential: bool) -> CreateMode {
        match (ephemeral, sequential) {
            (false, false) => CreateMode::Persistent,
            (true, false) => CreateMode::Ephemeral,
            (false, true) => CreateMode::PersistentSequential,
            (true, true) => CreateMode::EphemeralSequential,
        }
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }

    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }

    pub fn is_ttl(self) -> bool {
        matches!(self, CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl)
    }
}

/// `EphemeralType`: what a stored `ephemeralOwner` means. Containers and TTL nodes borrow the
/// field with the top byte set, so a real session id never has its top byte all ones.
pub mod ephemeral_type {
    pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
    const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000u64 as i64;
    pub const MAX_TTL_MS: i64 = 0x00ff_ffff_ffff_ffff;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum EphemeralType {
        Void,
        Normal,
        Container,
        Ttl,
    }

    pub fn get(owner: i64) -> EphemeralType {
        if owner == CONTAINER_EPHEMERAL_OWNER {
            EphemeralType::Container
        } else if owner & EXTENDED_MASK == EXTENDED_MASK {
            EphemeralType::Ttl
        } else if owner == 0 {
            EphemeralType::Void
        } else {
            EphemeralType::Normal
        }
    }

    pub fn ttl_owner(ttl_ms: i64) -> i64 {
        EXTENDED_MASK | ttl_ms
    }

    pub fn ttl_of(owner: i64) -> i64 {
        owner & !EXTENDED_MASK
    }
}

/// Watch event types (`Watcher.Event.EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    None,
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
    DataWatchRemoved,
    ChildWatchRemoved,
    PersistentWatchRemoved,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::None => "None",
            EventType::NodeCreated => "NodeCreated",
            EventType::NodeDeleted => "NodeDeleted",
            EventType::NodeDataChanged => "NodeDataChanged",
            EventType::NodeChildrenChanged => "NodeChildrenChanged",
            EventType::DataWatchRemoved => "DataWatchRemoved",
            EventType::ChildWatchRemoved => "ChildWatchRemoved",
            EventType::PersistentWatchRemoved => "PersistentWatchRemoved",
        }
    }
}

/// A watch notification for one watcher.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchedEvent {
    pub event_type: EventType,
    pub path: String,
}

/// `addWatch` modes (`ZooDefs.AddWatchModes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

/// `WatcherType` for removeWatches / checkWatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WatcherType {
    Children,
    Data,
    Any,
}

/// One operation of a `multi` (or `multiRead`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Create { path: String, data: Vec<u8>, acl: Vec<Acl>, mode: CreateMode, ttl_ms: i64, with_stat: bool },
    Delete { path: String, version: i32 },
    SetData { path: String, data: Vec<u8>, version: i32 },
    Check { path: String, version: i32 },
    GetData { path: String },
    GetChildren { path: String },
}

impl Op {
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. }
            | Op::GetData { path }
            | Op::GetChildren { path } => path,
        }
    }
}

/// A client request, as the server receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `create` (path only in reply), `create2` (path + stat), container and TTL creates.
    Create { path: String, data: Vec<u8>, acl: Vec<Acl>, mode: CreateMode, ttl_ms: i64, with_stat: bool },
    Delete { path: String, version: i32 },
    SetData { path: String, data: Vec<u8>, version: i32 },
    SetAcl { path: String, acl: Vec<Acl>, version: i32 },
    Multi { ops: Vec<Op> },
    Exists { path: String, watch: bool },
    GetData { path: String, watch: bool },
    GetAcl { path: String },
    GetChildren { path: String, watch: bool, with_stat: bool },
    GetAllChildrenNumber { path: String },
    GetEphemerals { prefix_path: String },
    MultiRead { ops: Vec<Op> },
    Sync { path: String },
    AddWatch { path: String, mode: AddWatchMode },
    RemoveWatches { path: String, watcher_type: WatcherType },
    CheckWatches { path: String, watcher_type: WatcherType },
    SetWatches {
        relative_zxid: Zxid,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    },
    Auth { scheme: String, auth: Vec<u8> },
    Ping,
    CloseSession,
}

impl Request {
    /// Whether the request changes state and so becomes a transaction with a zxid.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Multi { .. }
                | Request::CloseSession
        )
    }

    /// Bytes of the request packet as jute serializes it (length prefix excluded), which the
    /// server compares with `jute.maxbuffer` before reading the request.
    pub fn wire_length(&self) -> usize {
        const HEADER: usize = 8; // xid + type
        fn s(x: &str) -> usize {
            4 + x.len()
        }
        fn acl_len(acl: &[Acl]) -> usize {
            4 + acl.iter().map(|a| 4 + s(&a.id.scheme) + s(&a.id.id)).sum::<usize>()
        }
        fn op_len(op: &Op) -> usize {
            12 + match op {
                Op::Create { path, data, acl, .. } => s(path) + 4 + data.len() + acl_len(acl) + 4,
                Op::Delete { path, .. } | Op::Check { path, .. } => s(path) + 4,
                Op::SetData { path, data, .. } => s(path) + 4 + data.len() + 4,
                Op::GetData { path } | Op::GetChildren { path } => s(path) + 1,
            }
        }
        HEADER
            + match self {
                Request::Create { path, data, acl, ttl_ms, .. } => {
                    s(path) + 4 + data.len() + acl_len(acl) + 4 + if *ttl_ms > 0 { 8 } else { 0 }
                }
                Request::Delete { path, .. } => s(path) + 4,
                Request::SetData { path, data, .. } => s(path) + 4 + data.len() + 4,
                Request::SetAcl { path, acl, .. } => s(path) + acl_len(acl) + 4,
                Request::Multi { ops } | Request::MultiRead { ops } => {
                    ops.iter().map(op_len).sum::<usize>() + 9
                }
                Request::Exists { path, .. } | Request::GetData { path, .. } => s(path) + 1,
                Request::GetChildren { path, .. } => s(path) + 1,
                Request::GetAcl { path }
                | Request::GetAllChildrenNumber { path }
                | Request::Sync { path } => s(path),
                Request::GetEphemerals { prefix_path } => s(prefix_path),
                Request::AddWatch { path, .. }
                | Request::RemoveWatches { path, .. }
                | Request::CheckWatches { path, .. } => s(path) + 4,
                Request::SetWatches {
                    data_watches,
                    exist_watches,
                    child_watches,
                    persistent_watches,
                    persistent_recursive_watches,
                    ..
                } => {
                    8 + [data_watches, exist_watches, child_watches, persistent_watches, persistent_recursive_watches]
                        .iter()
                        .map(|l| 4 + l.iter().map(|p| s(p)).sum::<usize>())
                        .sum::<usize>()
                }
                Request::Auth { scheme, auth } => 4 + s(scheme) + 4 + auth.len(),
                Request::Ping | Request::CloseSession => 0,
            }
    }
}

/// `jute.maxbuffer`'s default: a packet longer than this closes the connection.
pub const JUTE_MAX_BUFFER_BYTES: usize = 0xfffff;

/// The result of one op inside a multi (`OpResult`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Create { path: String, stat: Option<Stat> },
    Delete,
    SetData { stat: Stat },
    Check,
    GetData { data: Vec<u8>, stat: Stat },
    GetChildren { children: Vec<String> },
    Error { code: Code },
}

/// A successful reply's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Create { path: String, stat: Option<Stat> },
    Delete,
    SetData { stat: Stat },
    SetAcl { stat: Stat },
    Multi { results: Vec<OpResult> },
    Exists { stat: Stat },
    GetData { data: Vec<u8>, stat: Stat },
    GetAcl { acl: Vec<Acl>, stat: Stat },
    GetChildren { children: Vec<String>, stat: Option<Stat> },
    GetAllChildrenNumber { number: i32 },
    GetEphemerals { paths: Vec<String> },
    MultiRead { results: Vec<OpResult> },
    Sync { path: String },
    Empty,
}
