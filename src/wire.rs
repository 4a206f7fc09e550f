//! Client ↔ server messages: ZooKeeper's client protocol as Rust values instead of jute bytes.
//!
//! Why: the client library, the servers and the simulated network agree on exactly these
//! shapes. Special xids follow ZooKeeper's `ClientCnxn`: watch events travel with xid −1,
//! pings with −2, `addAuth` with −4 and `setWatches` with −8; their replies echo the xid.

use serde::{Deserialize, Serialize};

use crate::proto::{Code, Request, Response, SessionId, WatchedEvent, Zxid};

/// xid of a watch notification.
pub const NOTIFICATION_XID: i32 = -1;
/// xid of a ping and its reply.
pub const PING_XID: i32 = -2;
/// xid of an `addAuth` request and its reply.
pub const AUTH_XID: i32 = -4;
/// xid of a `setWatches` request and its reply.
pub const SET_WATCHES_XID: i32 = -8;

/// `ConnectRequest`: the first message on a new connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    /// The highest zxid this client has seen; a server that is behind must refuse it.
    pub last_zxid_seen: Zxid,
    pub timeout_ms: i32,
    /// 0 asks for a new session.
    pub session_id: SessionId,
    pub password: [u8; 16],
    pub read_only: bool,
}

/// `ConnectResponse`: `timeout_ms == 0` means the session is expired (or the password wrong);
/// the server closes the connection right after sending it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub password: [u8; 16],
    pub read_only: bool,
}

/// What a client sends on its connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    Connect(ConnectRequest),
    /// Any request, pings (`Request::Ping`, xid −2) and `closeSession` included.
    Request { xid: i32, request: Request },
}

/// What a server sends on a client connection, in the order the client must see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    Connected(ConnectResponse),
    /// `ReplyHeader` (xid, zxid, err) plus the response body when err is Ok.
    Reply { xid: i32, zxid: Zxid, result: Result<Response, Code> },
    /// A watch notification (xid −1 in ZooKeeper).
    Event { event: WatchedEvent },
}
