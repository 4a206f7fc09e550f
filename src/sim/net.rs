//! Connections with TCP's guarantees over the simulated wire ([`super::wire`]).
//!
//! Why: ZAB assumes FIFO channels (ZAB paper §III: "we assume that processes communicate over
//! TCP"), but the wire, like madsim's datagram `Endpoint`, gives every packet its own latency,
//! so packets reorder.
//! This layer numbers packets per connection and reassembles them in order at the receiver.
//!
//! Faults look like they do to a TCP application:
//! - a cut link (partition, one-way link) holds the sender's packets and retries until it heals,
//!   as TCP retransmits; nothing on an open connection is lost or reordered;
//! - packet loss costs a retransmission timeout of delay, not a gap;
//! - an election stream adopted mid-way after a restart may have a gap nothing will fill; it is
//!   skipped after [`ELECTION_GAP_SKIP_MS`] (the notifications are lost, as with a reconnect);
//! - a killed receiver loses what arrives while it is down; when it comes back, a packet in the
//!   middle of a connection it does not know is answered with a reset (TCP RST), and the sender's
//!   application learns that the connection broke;
//! - closing a connection drops whatever was in flight on it (RST); shutting it down delivers
//!   what was sent first (FIN); the next send opens a new one.
//!
//! Connections are of three kinds: election traffic between servers (`QuorumCnxManager`),
//! ZAB traffic between a learner and its leader, and client sessions' connections.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rand::Rng;

use super::limits::{InFlight, InFlightCounter, Overflow, RunOver, MESSAGES_IN_FLIGHT_MAX, MESSAGES_PER_SIM_SECOND_MAX, REORDER_BUFFER_MAX};
use super::alarm::{now_ns, Alarm};
use super::mailbox::Mailbox;
use super::wire::Wire;
use crate::wire::{ClientMessage, ServerMessage};
use crate::zab::PeerMessage;

/// A simulated host: servers are 1..=n, clients start at [`CLIENT_ADDR_BASE`].
pub type Addr = u64;
pub const CLIENT_ADDR_BASE: Addr = 1_000;
pub const PORT: u16 = 2888;

pub fn ip_of(addr: Addr) -> IpAddr {
    if addr < CLIENT_ADDR_BASE {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, addr as u8))
    } else {
        let i = addr - CLIENT_ADDR_BASE;
        IpAddr::V4(Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250 + 1) as u8))
    }
}

pub fn socket_of(addr: Addr) -> SocketAddr {
    SocketAddr::new(ip_of(addr), PORT)
}

/// How long an election packet waits behind a missing one before the gap is given up.
///
/// Election streams are adopted wherever they start (a restarted server does not know where a
/// peer's stream was), so a packet that arrived while the receiver was down can leave a gap
/// right after the adopted one that no retransmission fills (explore seed 3159: seq 3 and 4
/// lost while the peer was down, seq 2 delivered late after a pause, the stream stuck at 3
/// forever). In ZooKeeper the broken connection would be re-opened and the messages lost with
/// it; Fast Leader Election tolerates lost notifications (it resends on timeout), so the
/// receiver skips such a gap. Jitter and retransmission reorder by far less than this.
pub const ELECTION_GAP_SKIP_MS: u64 = 2_000;

/// Skips the missing packets in front of an election stream's buffer once the gap is stale.
fn skip_stale_election_gap(stream: &mut InStream) {
    let Some(&first_buffered) = stream.buffer.keys().next() else { return };
    if first_buffered == stream.expected {
        stream.gap_since_ms = None;
        return;
    }
    let now_ms = crate::sim::clock::elapsed().as_millis() as u64;
    match stream.gap_since_ms {
        None => stream.gap_since_ms = Some(now_ms),
        Some(since_ms) if now_ms.saturating_sub(since_ms) >= ELECTION_GAP_SKIP_MS => {
            stream.expected = first_buffered;
            stream.gap_since_ms = None;
        }
        Some(_) => {}
    }
}

/// Which connection a packet travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Election,
    Zab,
    /// A client connection, named by its id (unique in the run).
    Client(u64),
}

#[derive(Debug)]
pub enum Body {
    Peer(Vec<PeerMessage>),
    FromClient(Vec<ClientMessage>),
    ToClient(Vec<ServerMessage>),
    /// The sender closed connection `conn` (or does not know it: TCP RST).
    Reset,
    /// The sender closed connection `conn` after the data before it (TCP FIN): delivered in
    /// order, like data.
    Fin,
}

impl Body {
    /// Messages in the body (a control packet counts as one).
    pub fn messages(&self) -> usize {
        match self {
            Body::Peer(m) => m.len().max(1),
            Body::FromClient(m) => m.len().max(1),
            Body::ToClient(m) => m.len().max(1),
            Body::Reset | Body::Fin => 1,
        }
    }
}

#[derive(Debug)]
pub struct Packet {
    pub from: Addr,
    pub channel: Channel,
    /// Connection id: larger is newer (creation time in the high bits).
    pub conn: u64,
    pub seq: u64,
    pub body: Body,
}

/// Network conditions shared by every node of a run (set by the nemesis).
#[derive(Debug, Default)]
pub struct NetConditions {
    /// Directed links that carry nothing: (from, to).
    pub cut: BTreeSet<(Addr, Addr)>,
    /// Probability that a packet needs a retransmission.
    pub loss_rate: f64,
    /// Retransmission timeout paid by a lost packet.
    pub rto_ms: u64,
    /// Extra one-way delay for packets from or to a host (latency spikes).
    pub extra_delay_ms: BTreeMap<Addr, u64>,
    /// Packets sent and delivered, for statistics.
    pub packets_sent: u64,
    /// Messages in flight (sent, not yet handled by the receiving process), with their bound.
    pub in_flight: InFlightCounter,
    /// The most messages in flight at once in this run.
    pub in_flight_peak: usize,
    /// Messages sent in the current simulated second (`second`), for the work budget.
    pub second: u64,
    pub sent_this_second: u64,
    /// The most messages sent in one simulated second of this run.
    pub sent_per_second_peak: u64,
    /// The run exceeded a bound (`limits`): nothing is sent any more, the run ends.
    pub overflow: Option<Overflow>,
    /// Set with `overflow` (and by the server-event queue's overflow: the run shares it).
    pub over: RunOver,
    /// Every packet in flight.
    pub wire: Wire<Packet>,
}

impl NetConditions {
    pub fn new() -> NetConditions {
        NetConditions { rto_ms: 200, ..NetConditions::default() }
    }

    pub fn is_cut(&self, from: Addr, to: Addr) -> bool {
        self.cut.contains(&(from, to))
    }

    /// Cuts both directions between every pair across the two sides.
    pub fn partition(&mut self, side_a: &[Addr], side_b: &[Addr]) {
        for &a in side_a {
            for &b in side_b {
                self.cut.insert((a, b));
                self.cut.insert((b, a));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
        self.extra_delay_ms.clear();
        self.loss_rate = 0.0;
    }

    /// Records that the run exceeded a bound (the first one is kept).
    pub fn exceed(&mut self, what: String) {
        if self.overflow.is_none() {
            let time_ms = crate::sim::clock::elapsed().as_millis() as i64;
            tracing::warn!(time_ms, %what, "a bound of the run was exceeded: the run ends as a liveness failure");
            self.overflow = Some(Overflow { what, time_ms });
            self.over.set();
        }
    }
}

pub type SharedConditions = Arc<Mutex<NetConditions>>;

/// What a node's application learns from the network.
#[derive(Debug)]
pub enum Delivery {
    Peer { from: Addr, messages: Vec<PeerMessage> },
    /// The ZAB connection with `from` broke.
    PeerDisconnected { from: Addr },
    /// A new client connection (its first packet follows).
    ClientConnected { conn: u64 },
    FromClient { conn: u64, messages: Vec<ClientMessage> },
    ClientDisconnected { conn: u64 },
    ToClient { conn: u64, messages: Vec<ServerMessage> },
    /// The server side closed (or does not know) the client's connection.
    ServerClosed { conn: u64 },
}

struct InStream {
    conn: u64,
    expected: u64,
    buffer: BTreeMap<u64, Body>,
    closed: bool,
    /// Since when a packet has waited behind a missing one (election streams only).
    gap_since_ms: Option<u64>,
}

struct OutStream {
    conn: u64,
    next_seq: u64,
}

/// One node's end of the network.
pub struct Transport {
    pub me: Addr,
    inbox: Option<Mailbox<(Packet, InFlight)>>,
    conditions: SharedConditions,
    /// Outgoing stream per (peer, channel).
    out: BTreeMap<(Addr, Channel), OutStream>,
    /// Incoming stream per (peer, channel).
    incoming: BTreeMap<(Addr, Channel), InStream>,
    conn_counter: u64,
}

impl Transport {
    pub async fn bind(me: Addr, conditions: SharedConditions) -> Transport {
        let inbox = conditions.lock().expect("conditions").wire.bind(me);
        Transport { me, inbox: Some(inbox), conditions, out: BTreeMap::new(), incoming: BTreeMap::new(), conn_counter: 0 }
    }

    /// Ends the run: a bound was exceeded (`limits`).
    pub fn exceed(&self, what: String) {
        self.conditions.lock().expect("conditions").exceed(what);
    }

    /// The packets that arrive for this host, in arrival order (taken once).
    pub fn inbox(&mut self) -> Mailbox<(Packet, InFlight)> {
        self.inbox.take().expect("the inbox is taken once")
    }

    /// A fresh connection id: creation time first, so newer connections compare larger.
    pub fn new_conn_id(&mut self) -> u64 {
        self.conn_counter += 1;
        let now_ns = crate::sim::clock::elapsed().as_nanos() as u64;
        (now_ns << 20) | ((self.me & 0x3ff) << 10) | (self.conn_counter & 0x3ff)
    }

    fn out_stream(&mut self, to: Addr, channel: Channel) -> (u64, u64) {
        let key = (to, channel);
        if let Some(stream) = self.out.get_mut(&key) {
            // An open connection (nearly every send): one lookup.
            let seq = stream.next_seq;
            stream.next_seq += 1;
            return (stream.conn, seq);
        }
        let conn = match channel {
            Channel::Client(id) => id,
            _ => 0,
        };
        if channel == Channel::Zab {
            // A connection we open replaces whatever we had with that peer.
            self.incoming.remove(&key);
        }
        let fresh = if conn == 0 { self.new_conn_id() } else { conn };
        self.out.insert(key, OutStream { conn: fresh, next_seq: 1 });
        (fresh, 0)
    }

    /// Sends a body on the (possibly new) connection to `to`.
    pub fn send(&mut self, to: Addr, channel: Channel, body: Body) {
        let (conn, seq) = self.out_stream(to, channel);
        self.send_packet(to, Packet { from: self.me, channel, conn, seq, body });
    }

    /// Closes our connection with `to` on `channel`: in-flight data is dropped, the peer told.
    pub fn close(&mut self, to: Addr, channel: Channel) {
        let out = self.out.remove(&(to, channel));
        let incoming = self.incoming.get_mut(&(to, channel));
        let conn = match (&out, incoming) {
            (Some(o), Some(i)) => {
                i.closed = true;
                o.conn.max(i.conn)
            }
            (Some(o), None) => o.conn,
            (None, Some(i)) => {
                i.closed = true;
                i.conn
            }
            (None, None) => return,
        };
        self.send_packet(to, Packet { from: self.me, channel, conn, seq: u64::MAX, body: Body::Reset });
    }

    /// Closes our connection with `to` on `channel` once everything sent on it has arrived (TCP
    /// FIN after the data): the peer reads what was sent, then learns the connection closed.
    /// What the peer sends meanwhile is dropped, as after [`close`](Self::close).
    pub fn shutdown(&mut self, to: Addr, channel: Channel) {
        let Some(out) = self.out.remove(&(to, channel)) else {
            // Nothing sent on it: no data to keep in order.
            self.close(to, channel);
            return;
        };
        if let Some(incoming) = self.incoming.get_mut(&(to, channel)) {
            incoming.closed = true;
        }
        self.send_packet(to, Packet { from: self.me, channel, conn: out.conn, seq: out.next_seq, body: Body::Fin });
    }

    fn send_packet(&mut self, to: Addr, packet: Packet) {
        let mut c = self.conditions.lock().expect("conditions");
        if c.overflow.is_some() {
            // The run is over (a bound was exceeded): nothing more goes on the wire.
            return;
        }
        c.packets_sent += 1;
        let messages = packet.body.messages();
        let (guard, in_flight) = c.in_flight.enter(messages);
        c.in_flight_peak = c.in_flight_peak.max(in_flight);
        let second = crate::sim::clock::elapsed().as_secs();
        if second != c.second {
            c.second = second;
            c.sent_this_second = 0;
        }
        c.sent_this_second += messages as u64;
        c.sent_per_second_peak = c.sent_per_second_peak.max(c.sent_this_second);
        if in_flight > MESSAGES_IN_FLIGHT_MAX {
            c.exceed(format!("network: messages in flight > {MESSAGES_IN_FLIGHT_MAX}"));
        } else if c.sent_this_second > MESSAGES_PER_SIM_SECOND_MAX {
            c.exceed(format!("network: messages sent in one simulated second > {MESSAGES_PER_SIM_SECOND_MAX}"));
        }
        let lost = c.loss_rate > 0.0 && madsim::rand::thread_rng().gen_bool(c.loss_rate.min(1.0));
        let extra_ms = c.extra_delay_ms.get(&self.me).copied().unwrap_or(0) + c.extra_delay_ms.get(&to).copied().unwrap_or(0);
        let (cut, rto_ms) = (c.is_cut(self.me, to), c.rto_ms);
        if !cut && !lost {
            c.wire.send(to, packet, guard, extra_ms);
            return;
        }
        drop(c);
        let conditions = Arc::clone(&self.conditions);
        let me = self.me;
        crate::sim::profile::spawn(async move {
            let mut delay_ms = extra_ms + if lost { rto_ms } else { 0 };
            let mut backoff_ms = rto_ms.max(1);
            loop {
                if delay_ms > 0 {
                    madsim::time::sleep(Duration::from_millis(delay_ms)).await;
                }
                let mut c = conditions.lock().expect("conditions");
                if !c.is_cut(me, to) {
                    c.wire.send(to, packet, guard, 0);
                    return;
                }
                drop(c);
                // TCP retransmits with exponential backoff while the link is down.
                delay_ms = backoff_ms;
                backoff_ms = (backoff_ms * 2).min(1_600);
            }
        });
    }

    /// Feeds a packet through the reassembly; returns what the application should see.
    pub fn on_packet(&mut self, packet: Packet) -> Vec<Delivery> {
        let mut out = Vec::new();
        self.on_packet_into(packet, &mut out);
        out
    }

    /// [`Transport::on_packet`] into a buffer the caller keeps across packets (`out` empty).
    pub fn on_packet_into(&mut self, packet: Packet, out: &mut Vec<Delivery>) {
        debug_assert!(out.is_empty(), "the caller handled the last packet's deliveries");
        let key = (packet.from, packet.channel);
        if let Body::Reset = packet.body {
            self.on_reset(key, packet.conn, out);
            return;
        }
        let known = self.incoming.get(&key).map(|s| (s.conn, s.closed));
        match known {
            Some((conn, _)) if packet.conn < conn => return, // a stale connection's packet
            Some((conn, closed)) if packet.conn > conn => {
                if !closed {
                    self.connection_broke(key, out);
                }
                if !self.open_incoming(key, &packet, out) {
                    return;
                }
            }
            Some((_, true)) => return, // we closed this connection
            Some(_) => {}
            None => {
                if !self.open_incoming(key, &packet, out) {
                    return;
                }
            }
        }
        let stream = self.incoming.get_mut(&key).expect("open");
        if packet.seq < stream.expected {
            return;
        }
        if packet.seq == stream.expected && stream.buffer.is_empty() {
            // In order with nothing waiting (nearly every packet): what the buffer would hand
            // straight back, without building a B-tree node for it.
            stream.expected += 1;
            if packet.channel == Channel::Election {
                stream.gap_since_ms = None;
            }
            match packet.body {
                Body::Fin => self.connection_broke(key, out),
                body => out.push(Self::delivery(packet.from, packet.channel, body)),
            }
            return;
        }
        if stream.buffer.len() >= REORDER_BUFFER_MAX {
            self.exceed(format!("transport: out-of-order packets buffered on one connection > {REORDER_BUFFER_MAX}"));
            return;
        }
        stream.buffer.insert(packet.seq, packet.body);
        if packet.channel == Channel::Election {
            skip_stale_election_gap(stream);
        }
        let mut finished = false;
        while let Some(body) = stream.buffer.remove(&stream.expected) {
            stream.expected += 1;
            if let Body::Fin = body {
                finished = true;
                break;
            }
            out.push(Self::delivery(packet.from, packet.channel, body));
        }
        if finished {
            self.connection_broke(key, out);
        }
    }

    /// A packet of a connection we do not know. Election traffic is adopted wherever it
    /// starts; ZAB and client connections must start at their first packet, else RST.
    fn open_incoming(&mut self, key: (Addr, Channel), packet: &Packet, out: &mut Vec<Delivery>) -> bool {
        let (from, channel) = key;
        let starts_here = packet.seq == 0 || channel == Channel::Election;
        if !starts_here {
            self.incoming.remove(&key);
            self.send_packet(from, Packet { from: self.me, channel, conn: packet.conn, seq: u64::MAX, body: Body::Reset });
            return false;
        }
        self.incoming.insert(key, InStream { conn: packet.conn, expected: packet.seq, buffer: BTreeMap::new(), closed: false, gap_since_ms: None });
        match channel {
            Channel::Zab => {
                // Replies go back on the connection the peer opened (ours, if we opened it).
                if self.out.get(&key).is_none_or(|o| o.conn != packet.conn) {
                    self.out.insert(key, OutStream { conn: packet.conn, next_seq: 0 });
                }
            }
            Channel::Client(conn) => {
                if self.me < CLIENT_ADDR_BASE {
                    out.push(Delivery::ClientConnected { conn });
                }
            }
            Channel::Election => {}
        }
        true
    }

    fn connection_broke(&mut self, key: (Addr, Channel), out: &mut Vec<Delivery>) {
        let (from, channel) = key;
        self.incoming.remove(&key);
        self.out.remove(&key);
        match channel {
            Channel::Zab => out.push(Delivery::PeerDisconnected { from }),
            Channel::Client(conn) if self.me < CLIENT_ADDR_BASE => out.push(Delivery::ClientDisconnected { conn }),
            Channel::Client(conn) => out.push(Delivery::ServerClosed { conn }),
            Channel::Election => {}
        }
    }

    fn on_reset(&mut self, key: (Addr, Channel), conn: u64, out: &mut Vec<Delivery>) {
        let in_match = self.incoming.get(&key).is_some_and(|s| s.conn <= conn && !s.closed);
        let out_match = self.out.get(&key).is_some_and(|s| s.conn <= conn);
        if in_match || out_match {
            self.connection_broke(key, out);
        }
    }

    fn delivery(from: Addr, channel: Channel, body: Body) -> Delivery {
        match (channel, body) {
            (_, Body::Peer(messages)) => Delivery::Peer { from, messages },
            (Channel::Client(conn), Body::FromClient(messages)) => Delivery::FromClient { conn, messages },
            (Channel::Client(conn), Body::ToClient(messages)) => Delivery::ToClient { conn, messages },
            (channel, body) => panic!("unexpected body {body:?} on {channel:?}"),
        }
    }

    /// Forgets a client connection on the client side (after it was closed or replaced).
    pub fn forget(&mut self, to: Addr, channel: Channel) {
        self.out.remove(&(to, channel));
        self.incoming.remove(&(to, channel));
    }
}

/// Resolves when a packet earlier than the armed arrival (or the first one) is put on the wire.
struct Woken<'a>(&'a SharedConditions);

impl Future for Woken<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut c = self.0.lock().expect("conditions");
        if c.wire.take_woken() {
            return Poll::Ready(());
        }
        c.wire.park_driver(cx.waker().clone());
        Poll::Pending
    }
}

/// Starts the run's wire driver: it hands due packets to their hosts and sleeps until the next
/// arrival. Call from the runtime's main task (it must outlive every node).
pub fn spawn_driver(conditions: SharedConditions) {
    crate::sim::profile::spawn(async move {
        let mut alarm = Alarm::new();
        loop {
            let next = conditions.lock().expect("conditions").wire.deliver_due(now_ns());
            match next {
                Some(at_ns) => {
                    let sleep = alarm.until(at_ns);
                    futures::pin_mut!(sleep);
                    let woken = Woken(&conditions);
                    futures::pin_mut!(woken);
                    futures::future::select(sleep, woken).await;
                }
                None => Woken(&conditions).await,
            }
        }
    });
}
