//! A tiny writer client as a madsim node, for the ensemble tests and the benchmark: it opens a
//! session on one server, keeps up to `pipeline` writes in flight (`create` of its own node, then
//! `setData` on it), records every write the server acknowledged (reply `Ok` with its zxid), and
//! when its connection breaks or stalls it moves on to the next server with a new session.
//!
//! Why not the client library (`crate::client`): that is the full `ClientCnxn` with watches,
//! auth and session re-establishment, and the checker's histories come from it. These tests need
//! only "which writes were acknowledged", as fast as possible, so this speaks the wire protocol
//! directly over [`Transport`] — one request batch per packet.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rand::Rng;

use super::limits::InFlight as PacketInFlight;
use super::mailbox::Mailbox;
use super::net::{Addr, Body, Channel, Delivery, Packet, SharedConditions, Transport};
use super::server_node::elapsed_ms;
use crate::proto::{Acl, Code, CreateMode, Request, Zxid};
use crate::wire::{ClientMessage, ConnectRequest, ServerMessage};
use crate::zab::ServerId;

/// One writer's shape.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// This client's host address (≥ `net::CLIENT_ADDR_BASE`).
    pub addr: Addr,
    /// Servers tried in order, round-robin, starting with the first.
    pub servers: Vec<ServerId>,
    /// Writes kept in flight on a connection.
    pub pipeline: usize,
    /// A connection with requests outstanding and no reply for this long is abandoned.
    pub stall_timeout_ms: u64,
    pub session_timeout_ms: i32,
    /// Pause before connecting again after a connection failed (plus a seeded 0–50 ms jitter).
    pub reconnect_delay_ms: u64,
}

impl WriterConfig {
    pub fn new(addr: Addr, servers: Vec<ServerId>) -> WriterConfig {
        WriterConfig { addr, servers, pipeline: 4, stall_timeout_ms: 3_000, session_timeout_ms: 10_000, reconnect_delay_ms: 100 }
    }

    /// The node this writer creates and then overwrites.
    pub fn path(&self) -> String {
        format!("/w{}", self.addr)
    }
}

/// A write the ensemble acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedWrite {
    pub zxid: Zxid,
    pub path: String,
    pub data: Vec<u8>,
    pub server: ServerId,
}

/// What a writer did, shared with the test.
#[derive(Debug, Default)]
pub struct WriterLog {
    pub acked: Vec<AckedWrite>,
    /// Writes answered with an error code (not acknowledged).
    pub failed: u64,
    pub sessions: u64,
    pub connections_lost: u64,
}

/// The handle a test keeps: the log and a stop switch.
#[derive(Clone, Default)]
pub struct WriterHandle {
    pub log: Arc<Mutex<WriterLog>>,
    stop: Arc<AtomicBool>,
}

impl WriterHandle {
    /// Stop issuing writes (in-flight ones may still be acknowledged).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn acked(&self) -> Vec<AckedWrite> {
        self.log.lock().expect("writer log").acked.clone()
    }

    pub fn acked_count(&self) -> usize {
        self.log.lock().expect("writer log").acked.len()
    }
}

/// Starts a writer node; it runs until the run ends or [`WriterHandle::stop`].
pub fn spawn_writer(config: WriterConfig, conditions: SharedConditions) -> WriterHandle {
    assert!(config.addr >= super::net::CLIENT_ADDR_BASE && !config.servers.is_empty() && config.pipeline >= 1);
    let handle = WriterHandle::default();
    let h = handle.clone();
    crate::sim::build_node(
        madsim::runtime::Handle::current()
            .create_node()
            .name(format!("writer-{}", config.addr))
            .ip(super::net::ip_of(config.addr))
            .init(move || writer_main(config.clone(), Arc::clone(&conditions), h.clone()))
    );
    handle
}

struct InFlight {
    xid: i32,
    data: Vec<u8>,
    create: bool,
}

enum Event {
    Messages(Vec<ServerMessage>),
    Closed,
    Stalled,
}

async fn writer_main(config: WriterConfig, conditions: SharedConditions, handle: WriterHandle) {
    let mut transport = Transport::bind(config.addr, conditions).await;
    let mut rx = transport.inbox();
    let path = config.path();
    let mut next_server = 0usize;
    let mut last_zxid_seen: Zxid = 0;
    let mut counter: u64 = 0;
    let mut xid: i32 = 0;
    let mut first_attempt = true;
    while !handle.stop.load(Ordering::SeqCst) {
        if !first_attempt {
            let jitter = madsim::rand::thread_rng().gen_range(0..50u64);
            madsim::time::sleep(Duration::from_millis(config.reconnect_delay_ms + jitter)).await;
        }
        first_attempt = false;
        let server = config.servers[next_server % config.servers.len()];
        next_server += 1;
        let conn = transport.new_conn_id();
        let channel = Channel::Client(conn);
        let connect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            timeout_ms: config.session_timeout_ms,
            session_id: 0,
            password: [0; 16],
            read_only: false,
        };
        transport.send(server, channel, Body::FromClient(vec![ClientMessage::Connect(connect)]));
        let mut connected = false;
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut need_create = true;
        'connection: loop {
            // Fill the pipeline once the session is open.
            if connected && !handle.stop.load(Ordering::SeqCst) {
                let mut batch = Vec::new();
                while in_flight.len() < config.pipeline {
                    xid += 1;
                    counter += 1;
                    let data = format!("{}:{counter}", config.addr).into_bytes();
                    let request = if need_create {
                        need_create = false;
                        Request::Create {
                            path: path.clone(),
                            data: data.clone(),
                            acl: Acl::open_unsafe(),
                            mode: CreateMode::Persistent,
                            ttl_ms: 0,
                            with_stat: false,
                        }
                    } else {
                        Request::SetData { path: path.clone(), data: data.clone(), version: -1 }
                    };
                    let create = matches!(request, Request::Create { .. });
                    in_flight.push_back(InFlight { xid, data, create });
                    batch.push(ClientMessage::Request { xid, request });
                }
                if !batch.is_empty() {
                    transport.send(server, channel, Body::FromClient(batch));
                }
            }
            if handle.stop.load(Ordering::SeqCst) && in_flight.is_empty() && connected {
                break 'connection;
            }
            let event = next_event(&mut transport, &mut rx, conn, config.stall_timeout_ms).await;
            match event {
                Event::Closed | Event::Stalled => break 'connection,
                Event::Messages(messages) => {
                    for message in messages {
                        match message {
                            ServerMessage::Connected(response) => {
                                if response.timeout_ms == 0 {
                                    break 'connection;
                                }
                                connected = true;
                                handle.log.lock().expect("writer log").sessions += 1;
                            }
                            ServerMessage::Reply { xid: reply_xid, zxid, result } => {
                                if zxid > 0 {
                                    last_zxid_seen = last_zxid_seen.max(zxid);
                                }
                                let Some(request) = in_flight.pop_front() else { break 'connection };
                                if request.xid != reply_xid {
                                    // "Xid out of order": drop the connection.
                                    break 'connection;
                                }
                                let mut log = handle.log.lock().expect("writer log");
                                match result {
                                    Ok(_) => log.acked.push(AckedWrite { zxid, path: path.clone(), data: request.data, server }),
                                    Err(Code::NodeExists) if request.create => {}
                                    Err(_) => log.failed += 1,
                                }
                            }
                            ServerMessage::Event { .. } => {}
                        }
                    }
                }
            }
        }
        handle.log.lock().expect("writer log").connections_lost += 1;
        transport.close(server, channel);
        transport.forget(server, channel);
    }
}

/// The next thing that happens on connection `conn`: messages, its close, or a stall.
async fn next_event(transport: &mut Transport, rx: &mut Mailbox<(Packet, PacketInFlight)>, conn: u64, stall_timeout_ms: u64) -> Event {
    let deadline = elapsed_ms() + stall_timeout_ms as i64;
    loop {
        let wait_ms = (deadline - elapsed_ms()).max(0) as u64;
        let sleep = madsim::time::sleep(Duration::from_millis(wait_ms)).fuse();
        futures::pin_mut!(sleep);
        let packet = futures::select_biased! {
            packet = rx.next() => match packet {
                Some((packet, _in_flight)) => packet,
                None => return Event::Closed,
            },
            _ = sleep => return Event::Stalled,
        };
        let mut messages = Vec::new();
        for delivery in transport.on_packet(packet) {
            match delivery {
                Delivery::ToClient { conn: c, messages: m } if c == conn => messages.extend(m),
                Delivery::ServerClosed { conn: c } if c == conn => return Event::Closed,
                _ => {}
            }
        }
        if !messages.is_empty() {
            return Event::Messages(messages);
        }
    }
}
