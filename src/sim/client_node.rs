//! The client library's transport on madsim: one connection at a time to a server, over the
//! FIFO connection layer ([`super::net`]).
//!
//! Why: the client core (`crate::client`) decides when to connect, send, ping and move on;
//! this adapter only opens and closes connections and turns packets into transport events.
//! Opening is immediate (there is no TCP handshake to simulate): if the server is down, the
//! ConnectRequest goes unanswered and the core's connect timeout moves it to the next server.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use futures::{FutureExt, StreamExt};

use super::limits::{InFlight, TurnBudget, LOOP_TURNS_PER_SIM_SECOND_MAX};
use super::alarm::Alarm;
use super::mailbox::Mailbox;
use super::net::{Addr, Body, Channel, Delivery, Packet, SharedConditions, Transport};
use super::server_node::elapsed_ms;
use crate::client::api::{ClientTransport, Driver, TransportEvent, TransportEvents, ZooKeeper, DRIVER_IDLE_MS};
use crate::client::{ClientConfig, ServerId};
use crate::wire::ClientMessage;

struct Inner {
    transport: Transport,
    current: Option<(Addr, u64)>,
    outbox: Vec<ClientMessage>,
    inbound: VecDeque<TransportEvent>,
}

impl Inner {
    fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let messages = std::mem::take(&mut self.outbox);
        if let Some((server, conn)) = self.current {
            self.transport.send(server, Channel::Client(conn), Body::FromClient(messages));
        }
    }

    fn on_packet(&mut self, packet: Packet) {
        for delivery in self.transport.on_packet(packet) {
            match delivery {
                Delivery::ToClient { conn, messages } if self.current.is_some_and(|(_, c)| c == conn) => {
                    self.inbound.extend(messages.into_iter().map(TransportEvent::Message));
                }
                Delivery::ServerClosed { conn } if self.current.is_some_and(|(_, c)| c == conn) => {
                    if let Some((server, conn)) = self.current.take() {
                        self.transport.forget(server, Channel::Client(conn));
                    }
                    self.inbound.push_back(TransportEvent::Lost);
                }
                _ => {}
            }
        }
    }
}

/// The sending half, handed to the client core.
#[derive(Clone)]
pub struct SimClientTransport(Rc<RefCell<Inner>>);

/// The receiving half, polled by the client's driver.
pub struct SimClientEvents {
    inner: Rc<RefCell<Inner>>,
    rx: Rc<futures::lock::Mutex<Mailbox<(Packet, InFlight)>>>,
    alarm: Alarm,
    budget: TurnBudget,
}

impl ClientTransport for SimClientTransport {
    fn now_ms(&self) -> i64 {
        elapsed_ms()
    }

    fn connect(&mut self, server: ServerId) {
        let mut inner = self.0.borrow_mut();
        if let Some((old, conn)) = inner.current.take() {
            inner.outbox.clear();
            inner.transport.close(old, Channel::Client(conn));
        }
        let conn = inner.transport.new_conn_id();
        inner.current = Some((server as Addr, conn));
        inner.inbound.push_back(TransportEvent::Connected);
    }

    fn send(&mut self, message: ClientMessage) {
        self.0.borrow_mut().outbox.push(message);
    }

    fn flush(&mut self) {
        self.0.borrow_mut().flush();
    }

    fn disconnect(&mut self) {
        let mut inner = self.0.borrow_mut();
        inner.flush();
        if let Some((server, conn)) = inner.current.take() {
            inner.transport.close(server, Channel::Client(conn));
            inner.transport.forget(server, Channel::Client(conn));
        }
        inner.inbound.clear();
    }
}

impl TransportEvents for SimClientEvents {
    async fn recv(&mut self, deadline_ms: i64) -> Option<TransportEvent> {
        if !self.budget.turn(elapsed_ms() as u64) {
            let inner = self.inner.borrow();
            inner.transport.exceed(format!("client {}: session-driver turns in one simulated second > {LOOP_TURNS_PER_SIM_SECOND_MAX}", inner.transport.me));
            drop(inner);
            // The run is over (the servers stop; the runner ends it at its next look): this
            // driver no longer spins but lets simulated time go on until then.
            madsim::time::sleep(std::time::Duration::from_millis(DRIVER_IDLE_MS as u64)).await;
            return None;
        }
        self.inner.borrow_mut().flush();
        loop {
            if let Some(event) = self.inner.borrow_mut().inbound.pop_front() {
                return Some(event);
            }
            let now = elapsed_ms();
            if now >= deadline_ms {
                return None;
            }
            let sleep = self.alarm.until(deadline_ms as u64 * 1_000_000);
            futures::pin_mut!(sleep);
            let mut rx = self.rx.lock().await;
            let next = rx.next().fuse();
            futures::pin_mut!(next);
            futures::select_biased! {
                packet = next => match packet {
                    Some((packet, _in_flight)) => self.inner.borrow_mut().on_packet(packet),
                    None => return None,
                },
                _ = sleep => return None,
            }
        }
    }
}

/// Opens the client's network endpoint on this node. The endpoint is bound once per node;
/// several sessions (one after another) share it.
pub struct ClientEndpoint {
    inner: Rc<RefCell<Inner>>,
    rx: Rc<futures::lock::Mutex<Mailbox<(Packet, InFlight)>>>,
}

impl ClientEndpoint {
    pub async fn bind(addr: Addr, conditions: SharedConditions) -> ClientEndpoint {
        let mut transport = Transport::bind(addr, conditions).await;
        let rx = transport.inbox();
        let inner = Inner { transport, current: None, outbox: Vec::new(), inbound: VecDeque::new() };
        ClientEndpoint { inner: Rc::new(RefCell::new(inner)), rx: Rc::new(futures::lock::Mutex::new(rx)) }
    }

    /// A new session's handle and its driver (spawn the driver with `spawn_local`). The
    /// previous session's driver must have ended.
    pub fn session(&mut self, config: ClientConfig) -> (ZooKeeper<SimClientTransport>, Driver<SimClientTransport, SimClientEvents>) {
        let (transport, events) = self.session_parts();
        ZooKeeper::new(config, transport, events)
    }

    /// The two halves of a new session's transport, for a shell that wraps them (a test that
    /// records what arrives, in order); `session` hands them to `ZooKeeper::new`.
    pub fn session_parts(&mut self) -> (SimClientTransport, SimClientEvents) {
        let rx = Rc::clone(&self.rx);
        {
            let mut inner = self.inner.borrow_mut();
            inner.current = None;
            inner.outbox.clear();
            inner.inbound.clear();
        }
        let transport = SimClientTransport(Rc::clone(&self.inner));
        let events = SimClientEvents { inner: Rc::clone(&self.inner), rx, alarm: Alarm::new(), budget: TurnBudget::default() };
        (transport, events)
    }
}

/// Starts a client host at `addr` on the cluster's network, running `body(endpoint)`; returns
/// its madsim node (for client faults) and a receiver for what `body` returns. madsim may run
/// `init` again on a restart; the result is sent once.
pub fn spawn_client_host<T, F, Fut>(
    name: &str,
    addr: super::net::Addr,
    conditions: SharedConditions,
    body: F,
) -> (madsim::task::NodeId, futures::channel::oneshot::Receiver<T>)
where
    T: Send + 'static,
    F: Fn(ClientEndpoint) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let body = std::sync::Arc::new(body);
    let node = crate::sim::build_node(
        madsim::runtime::Handle::current()
            .create_node()
            .name(name)
            .ip(super::net::ip_of(addr))
            .init(move || {
                let (tx, body, conditions) = (std::sync::Arc::clone(&tx), std::sync::Arc::clone(&body), std::sync::Arc::clone(&conditions));
                async move {
                    let out = body(ClientEndpoint::bind(addr, conditions).await).await;
                    if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        let _ = tx.send(out);
                    }
                }
            })
    );
    (node.id(), rx)
}
