//! An async `ZooKeeper`-like handle over the client core, for workloads running on madsim.
//!
//! Why this shape: ZooKeeper's client has a send thread that keeps the connection alive (pings,
//! reconnects) while the application waits or sleeps. Here that thread is a [`Driver`] future
//! the shell spawns next to the application (`madsim::task::spawn_local`); handles share the core
//! behind a mutex, so several tasks may call at once and requests pipeline. Only `std` futures
//! are used (no tokio, no extra crates), so it runs on madsim's executor.
//!
//! The shell implements two small traits: [`ClientTransport`] (outbound, synchronous: connect,
//! send, disconnect, clock) and [`TransportEvents`] (inbound: the next event of the current
//! connection, or nothing by a deadline). Contract: after `disconnect()` or a new `connect()`,
//! events of the previous connection are never delivered.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::core::{ClientAction, ClientConfig, ClientCore, KeeperState, OpId, ServerId};
use crate::proto::{
    Acl, AddWatchMode, Code, CreateMode, Op, OpResult, Request, Response, SessionId, Stat, WatchedEvent,
    WatcherType, Zxid,
};
use crate::wire::{ClientMessage, ServerMessage};

/// What happened on the current connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// The connection asked for with `connect` is open.
    Connected,
    Message(ServerMessage),
    /// The connection broke, was refused or was closed by the server.
    Lost,
}

/// Outbound side of a client's network, and its clock.
pub trait ClientTransport {
    /// Simulated time in milliseconds.
    fn now_ms(&self) -> i64;
    /// Opens a connection to `server` (closing any other); its outcome arrives as an event.
    fn connect(&mut self, server: ServerId);
    /// Writes a message on the open connection, FIFO.
    fn send(&mut self, message: ClientMessage);
    /// Closes the connection.
    fn disconnect(&mut self);
    /// Puts what was written since the last flush on the wire, as one batch. `ClientCnxn`
    /// wakes its SendThread as soon as a packet is queued (`packetAdded`); here every pump
    /// ends with a flush, so a request leaves when it is made, whichever task made it.
    fn flush(&mut self) {}
}

/// Inbound side: the next event, or `None` once `deadline_ms` has passed without one.
pub trait TransportEvents {
    fn recv(&mut self, deadline_ms: i64) -> impl Future<Output = Option<TransportEvent>>;
}

/// What the application's watcher sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    Watch(WatchedEvent),
    State(KeeperState),
}

/// The longest the driver sleeps when the core names no deadline (it always does while the
/// session lives; this only bounds a wait that should not happen).
pub const DRIVER_IDLE_MS: i64 = 1_000;

/// Events queued for an application that does not read them: a bound, not a limit a
/// reading application meets (each read drains one).
const MAX_QUEUED_EVENTS: usize = 1 << 20;

/// What a traced call returns: the op's number in submission order, its place among
/// everything this handle delivered (replies, watch events, state changes), and the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traced {
    pub seq: u64,
    pub arrival: u64,
    pub result: Result<(Zxid, Response), Code>,
}

struct Shared<T> {
    core: ClientCore,
    transport: T,
    /// Completed ops: (delivery number, result).
    results: BTreeMap<OpId, (u64, Result<(Zxid, Response), Code>)>,
    waiters: BTreeMap<OpId, Waker>,
    /// Queued watch events and state changes with their delivery numbers.
    events: VecDeque<(u64, ClientEvent)>,
    /// Replies, watch events and state changes delivered so far (the delivery order the
    /// application sees, one counter for all three).
    delivered: u64,
    event_waker: Option<Waker>,
    driver_done: bool,
}

impl<T: ClientTransport> Shared<T> {
    /// Executes the core's actions in order.
    fn pump(&mut self) {
        for action in self.core.drain_actions() {
            match action {
                ClientAction::Connect { server } => self.transport.connect(server),
                ClientAction::Send(message) => self.transport.send(message),
                ClientAction::Disconnect => self.transport.disconnect(),
                ClientAction::Complete { op, result } => {
                    self.delivered += 1;
                    let previous = self.results.insert(op, (self.delivered, result));
                    assert!(previous.is_none(), "an op completes once");
                    if let Some(waker) = self.waiters.remove(&op) {
                        waker.wake();
                    }
                }
                ClientAction::Watch(event) => self.push_event(ClientEvent::Watch(event)),
                ClientAction::State(state) => self.push_event(ClientEvent::State(state)),
            }
        }
        self.transport.flush();
    }

    fn push_event(&mut self, event: ClientEvent) {
        self.delivered += 1;
        assert!(self.events.len() < MAX_QUEUED_EVENTS, "an application that never reads its events");
        self.events.push_back((self.delivered, event));
        if let Some(waker) = self.event_waker.take() {
            waker.wake();
        }
    }
}

/// A handle on one ZooKeeper session (`org.apache.zookeeper.ZooKeeper`). Cheap to clone.
pub struct ZooKeeper<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

impl<T> Clone for ZooKeeper<T> {
    fn clone(&self) -> Self {
        ZooKeeper { shared: self.shared.clone() }
    }
}

/// The connection loop (`SendThread`): run it as its own task until it returns (the session
/// ended: closed, expired or auth failed).
pub struct Driver<T, E> {
    shared: Arc<Mutex<Shared<T>>>,
    events: E,
}

fn lock<T>(shared: &Mutex<Shared<T>>) -> MutexGuard<'_, Shared<T>> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: ClientTransport, E: TransportEvents> Driver<T, E> {
    pub async fn run(mut self) {
        {
            let mut shared = lock(&self.shared);
            let now_ms = shared.transport.now_ms();
            shared.core.on_start(now_ms);
            shared.pump();
        }
        loop {
            let deadline_ms = {
                let shared = lock(&self.shared);
                if !shared.core.is_alive() {
                    break;
                }
                let now_ms = shared.transport.now_ms();
                shared.core.next_deadline_ms().unwrap_or(now_ms + DRIVER_IDLE_MS)
            };
            let event = self.events.recv(deadline_ms).await;
            let mut shared = lock(&self.shared);
            let now_ms = shared.transport.now_ms();
            match event {
                Some(TransportEvent::Connected) => shared.core.on_transport_connected(now_ms),
                Some(TransportEvent::Message(message)) => shared.core.on_message(now_ms, message),
                Some(TransportEvent::Lost) => shared.core.on_transport_lost(now_ms),
                None => {}
            }
            shared.core.on_tick(now_ms);
            shared.pump();
        }
        let mut shared = lock(&self.shared);
        shared.driver_done = true;
        if let Some(waker) = shared.event_waker.take() {
            waker.wake();
        }
    }
}

/// Waits for one op's completion.
struct OpFuture<T> {
    shared: Arc<Mutex<Shared<T>>>,
    op: OpId,
}

impl<T> Future for OpFuture<T> {
    type Output = (u64, Result<(Zxid, Response), Code>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut shared = lock(&self.shared);
        match shared.results.remove(&self.op) {
            Some(delivered) => Poll::Ready(delivered),
            None => {
                shared.waiters.insert(self.op, cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A submitted request: its number in submission order, and the wait for its reply.
pub struct Submitted<T> {
    shared: Arc<Mutex<Shared<T>>>,
    op: OpId,
}

impl<T> Submitted<T> {
    pub fn seq(&self) -> u64 {
        self.op.0
    }

    pub async fn wait(self) -> Traced {
        let seq = self.op.0;
        let (arrival, result) = OpFuture { shared: self.shared, op: self.op }.await;
        Traced { seq, arrival, result }
    }
}

/// Waits for the next watcher event.
struct EventFuture<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

impl<T> Future for EventFuture<T> {
    type Output = Option<(u64, ClientEvent)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut shared = lock(&self.shared);
        if let Some(event) = shared.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        if shared.driver_done {
            return Poll::Ready(None);
        }
        shared.event_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn unexpected(response: Response) -> Code {
    tracing::error!("client: unexpected response {response:?}");
    Code::MarshallingError
}

impl<T: ClientTransport> ZooKeeper<T> {
    /// A handle and its driver; nothing happens until the driver runs.
    pub fn new<E: TransportEvents>(config: ClientConfig, transport: T, events: E) -> (ZooKeeper<T>, Driver<T, E>) {
        let shared = Arc::new(Mutex::new(Shared {
            core: ClientCore::new(config),
            transport,
            results: BTreeMap::new(),
            waiters: BTreeMap::new(),
            events: VecDeque::new(),
            delivered: 0,
            event_waker: None,
            driver_done: false,
        }));
        (ZooKeeper { shared: shared.clone() }, Driver { shared, events })
    }

    pub fn session_id(&self) -> SessionId {
        lock(&self.shared).core.session_id()
    }

    pub fn state(&self) -> Option<KeeperState> {
        lock(&self.shared).core.state()
    }

    pub fn last_zxid(&self) -> Zxid {
        lock(&self.shared).core.last_zxid()
    }

    /// Runs `f` on the core (tests and recorders that need more than the handle shows).
    pub fn with_core<R>(&self, f: impl FnOnce(&ClientCore) -> R) -> R {
        f(&lock(&self.shared).core)
    }

    /// Any request; the reply zxid comes with the response (what a history records).
    pub async fn call(&self, request: Request) -> Result<(Zxid, Response), Code> {
        self.call_traced(request).await.result
    }

    /// `call`, also telling where the op stands in submission order and where its reply
    /// stands among everything this handle delivered (a pipelining recorder's FIFO evidence).
    pub async fn call_traced(&self, request: Request) -> Traced {
        self.submit_traced(request).wait().await
    }

    /// Submits a request now (its submission number is known at once); `wait` for the reply.
    pub fn submit_traced(&self, request: Request) -> Submitted<T> {
        let op = {
            let mut shared = lock(&self.shared);
            let now_ms = shared.transport.now_ms();
            let op = shared.core.submit(now_ms, request);
            shared.pump();
            op
        };
        Submitted { shared: self.shared.clone(), op }
    }

    /// The next watch event or state change; `None` once the session has ended and all
    /// events were read.
    pub async fn next_event(&self) -> Option<ClientEvent> {
        self.next_event_traced().await.map(|(_, event)| event)
    }

    /// `next_event` with the event's delivery number (see [`Traced::arrival`]).
    pub async fn next_event_traced(&self) -> Option<(u64, ClientEvent)> {
        EventFuture { shared: self.shared.clone() }.await
    }

    /// The next watch event or state change if one is already queued (never waits).
    pub fn try_next_event(&self) -> Option<ClientEvent> {
        lock(&self.shared).events.pop_front().map(|(_, event)| event)
    }

    /// `create`: the created path (sequential suffix included).
    pub async fn create(&self, path: &str, data: &[u8], acl: Vec<Acl>, mode: CreateMode) -> Result<String, Code> {
        let request = Request::Create { path: path.into(), data: data.to_vec(), acl, mode, ttl_ms: -1, with_stat: false };
        match self.call(request).await?.1 {
            Response::Create { path, .. } => Ok(path),
            other => Err(unexpected(other)),
        }
    }

    /// `create2`: the created path and its stat.
    pub async fn create2(&self, path: &str, data: &[u8], acl: Vec<Acl>, mode: CreateMode) -> Result<(String, Stat), Code> {
        let request = Request::Create { path: path.into(), data: data.to_vec(), acl, mode, ttl_ms: -1, with_stat: true };
        match self.call(request).await?.1 {
            Response::Create { path, stat: Some(stat) } => Ok((path, stat)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn delete(&self, path: &str, version: i32) -> Result<(), Code> {
        self.call(Request::Delete { path: path.into(), version }).await.map(|_| ())
    }

    /// `exists`: `None` for a missing node (with `watch`, an exist watch is left on it).
    pub async fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>, Code> {
        self.exists_at(path, watch).await.map(|found| found.map(|(_, stat)| stat))
    }

    /// `exists` with the reply header's zxid when the node is there (recorders judge a read
    /// against the serving replica's state by it).
    pub async fn exists_at(&self, path: &str, watch: bool) -> Result<Option<(Zxid, Stat)>, Code> {
        match self.call(Request::Exists { path: path.into(), watch }).await {
            Ok((zxid, Response::Exists { stat })) => Ok(Some((zxid, stat))),
            Ok((_, other)) => Err(unexpected(other)),
            Err(Code::NoNode) => Ok(None),
            Err(code) => Err(code),
        }
    }

    pub async fn get_data(&self, path: &str, watch: bool) -> Result<(Vec<u8>, Stat), Code> {
        match self.call(Request::GetData { path: path.into(), watch }).await?.1 {
            Response::GetData { data, stat } => Ok((data, stat)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat, Code> {
        match self.call(Request::SetData { path: path.into(), data: data.to_vec(), version }).await?.1 {
            Response::SetData { stat } => Ok(stat),
            other => Err(unexpected(other)),
        }
    }

    pub async fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>, Code> {
        match self.call(Request::GetChildren { path: path.into(), watch, with_stat: false }).await?.1 {
            Response::GetChildren { children, .. } => Ok(children),
            other => Err(unexpected(other)),
        }
    }

    /// `multi`: per-op results; a failed multi reports its error codes inside the results
    /// (ZooKeeper's `multi` would throw the first one).
    pub async fn multi(&self, ops: Vec<Op>) -> Result<Vec<OpResult>, Code> {
        match self.call(Request::Multi { ops }).await?.1 {
            Response::Multi { results } => Ok(results),
            other => Err(unexpected(other)),
        }
    }

    pub async fn sync(&self, path: &str) -> Result<(), Code> {
        self.call(Request::Sync { path: path.into() }).await.map(|_| ())
    }

    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<(), Code> {
        self.call(Request::AddWatch { path: path.into(), mode }).await.map(|_| ())
    }

    pub async fn remove_watches(&self, path: &str, watcher_type: WatcherType) -> Result<(), Code> {
        self.call(Request::RemoveWatches { path: path.into(), watcher_type }).await.map(|_| ())
    }

    /// `addAuthInfo`: remembered and re-sent on every reconnect.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<(), Code> {
        self.call(Request::Auth { scheme: scheme.into(), auth: auth.to_vec() }).await.map(|_| ())
    }

    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat), Code> {
        match self.call(Request::GetAcl { path: path.into() }).await?.1 {
            Response::GetAcl { acl, stat } => Ok((acl, stat)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn set_acl(&self, path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat, Code> {
        match self.call(Request::SetAcl { path: path.into(), acl, version }).await?.1 {
            Response::SetAcl { stat } => Ok(stat),
            other => Err(unexpected(other)),
        }
    }

    /// `close`: ends the session; the driver returns afterwards.
    pub async fn close(&self) -> Result<(), Code> {
        let op = {
            let mut shared = lock(&self.shared);
            let now_ms = shared.transport.now_ms();
            let op = shared.core.close(now_ms);
            shared.pump();
            op
        };
        OpFuture { shared: self.shared.clone(), op }.await.1.map(|_| ())
    }
}
