//! ZooKeeper's recipes (`recipes.md` of the ZooKeeper docs) on the async [`ZooKeeper`] handle:
//! [`lock`] (no herd effect), [`rwlock`], [`election`], [`group`] membership, double
//! [`barrier`], FIFO [`queue`] and [`config`] behind a ready znode.
//!
//! Why here: these are the uses ZooKeeper exists for, and each has a safety property that
//! holds only if the recipe handles what the network does to it — a create whose reply was
//! lost (ConnectionLoss: the node may exist; the recipe finds it again by a GUID in its name,
//! Curator's "protected" create) and a session that expired (every ephemeral is gone: a lock
//! holder must be told it no longer holds anything). The tests in `tests/recipes.rs` run them
//! under crashes and partitions.
//!
//! Watches: one handle has one event queue, so recipes and the application share it through
//! an [`Events`] hub: every subscriber gets every event. Randomness (GUIDs) comes from a
//! generator the caller seeds.

pub mod barrier;
pub mod config;
pub mod election;
pub mod group;
pub mod lock;
pub mod queue;
pub mod rwlock;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::FutureExt;

use super::api::{ClientEvent, ClientTransport, ZooKeeper};
use super::core::KeeperState;
use crate::proto::{Acl, Code, CreateMode, EventType, Stat};

/// Why a recipe step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipeError {
    /// The session expired (ZooKeeper said SessionExpired, or our own ephemeral is gone) or
    /// was closed: its ephemerals are gone, nothing is held.
    SessionLost,
    /// The deadline passed first; what the call created was removed (best effort).
    Timeout,
    /// Any other error from ZooKeeper.
    Zk(Code),
}

impl From<Code> for RecipeError {
    fn from(code: Code) -> RecipeError {
        match code {
            Code::SessionExpired => RecipeError::SessionLost,
            other => RecipeError::Zk(other),
        }
    }
}

pub type RecipeResult<T> = Result<T, RecipeError>;

#[derive(Default)]
struct Queue {
    events: VecDeque<ClientEvent>,
    waker: Option<Waker>,
}

/// Fans one handle's events out to every subscriber. Call [`Events::pump`] from a task
/// (`Events::run`) and any subscriber may pull queued events synchronously too, so an event
/// the core queued before a reply is always seen before that reply is acted on.
pub struct Events<T> {
    zk: ZooKeeper<T>,
    subscribers: Rc<RefCell<Vec<Weak<RefCell<Queue>>>>>,
}

impl<T> Clone for Events<T> {
    fn clone(&self) -> Self {
        Events { zk: self.zk.clone(), subscribers: Rc::clone(&self.subscribers) }
    }
}

/// One subscriber's events.
pub struct Subscription<T> {
    events: Events<T>,
    queue: Rc<RefCell<Queue>>,
}

impl<T: ClientTransport> Events<T> {
    pub fn new(zk: &ZooKeeper<T>) -> Events<T> {
        Events { zk: zk.clone(), subscribers: Rc::new(RefCell::new(Vec::new())) }
    }

    pub fn zk(&self) -> &ZooKeeper<T> {
        &self.zk
    }

    /// Moves every queued event of the handle to every live subscriber.
    pub fn pump(&self) {
        while let Some(event) = self.zk.try_next_event() {
            self.deliver(event);
        }
    }

    fn deliver(&self, event: ClientEvent) {
        let mut subscribers = self.subscribers.borrow_mut();
        subscribers.retain(|weak| weak.strong_count() > 0);
        for queue in subscribers.iter().filter_map(Weak::upgrade) {
            let mut queue = queue.borrow_mut();
            queue.events.push_back(event.clone());
            if let Some(waker) = queue.waker.take() {
                waker.wake();
            }
        }
    }

    /// The hub's task: forwards events until the session ended and all were read.
    pub async fn run(self) {
        while let Some(event) = self.zk.next_event().await {
            self.deliver(event);
        }
        self.deliver(ClientEvent::State(KeeperState::Closed));
    }

    pub fn subscribe(&self) -> Subscription<T> {
        let queue = Rc::new(RefCell::new(Queue::default()));
        self.subscribers.borrow_mut().push(Rc::downgrade(&queue));
        Subscription { events: self.clone(), queue }
    }
}

impl<T: ClientTransport> Subscription<T> {
    /// An event already delivered, if any (pumps the handle first).
    pub fn try_next(&mut self) -> Option<ClientEvent> {
        self.events.pump();
        self.queue.borrow_mut().events.pop_front()
    }

    /// The next event.
    pub async fn next(&mut self) -> ClientEvent {
        if let Some(event) = self.try_next() {
            return event;
        }
        let queue = Rc::clone(&self.queue);
        futures::future::poll_fn(move |cx| {
            let mut q = queue.borrow_mut();
            match q.events.pop_front() {
                Some(event) => Poll::Ready(event),
                None => {
                    q.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Waits for an event on `path` (any type) or the end of the session, up to `max_ms`.
    /// `Ok(true)`: the path changed; `Ok(false)`: time ran out.
    pub async fn wait_path(&mut self, path: &str, max_ms: u64) -> RecipeResult<bool> {
        let sleep = madsim::time::sleep(Duration::from_millis(max_ms)).fuse();
        futures::pin_mut!(sleep);
        loop {
            let next = self.next().fuse();
            futures::pin_mut!(next);
            let event = futures::select_biased! {
                event = next => event,
                _ = sleep => return Ok(false),
            };
            match event {
                ClientEvent::Watch(w) if w.path == path => return Ok(true),
                ClientEvent::State(s) if session_over(s) => return Err(RecipeError::SessionLost),
                _ => {}
            }
        }
    }

    /// Whether an event on `path` (or the end of the session) is already queued; drains it.
    pub fn saw_path(&mut self, path: &str) -> bool {
        let mut seen = false;
        while let Some(event) = self.try_next() {
            match event {
                ClientEvent::Watch(w) if w.path == path && w.event_type != EventType::None => seen = true,
                ClientEvent::State(s) if session_over(s) => seen = true,
                _ => {}
            }
        }
        seen
    }
}

/// The states after which a session holds nothing.
pub fn session_over(state: KeeperState) -> bool {
    matches!(state, KeeperState::Expired | KeeperState::Closed | KeeperState::AuthFailed)
}

/// The sequence number ZooKeeper appended (the last 10 digits).
pub fn sequence_of(name: &str) -> Option<u64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    digits.parse().ok()
}

/// Children sorted by sequence number (names without one are left out).
pub fn sorted_by_sequence(mut children: Vec<String>) -> Vec<String> {
    children.retain(|c| sequence_of(c).is_some());
    children.sort_by_key(|c| (sequence_of(c), c.clone()));
    children
}

/// A fresh GUID for a protected name, drawn from the caller's seeded generator.
pub fn guid(rng: &mut impl rand::Rng) -> String {
    format!("{:016x}", rng.gen::<u64>())
}

/// Curator's protected create of `dir/_c_<guid>-<prefix>` (sequential): after a
/// ConnectionLoss the node may exist, so the children of `dir` are searched for the GUID
/// before creating again. Returns the child's name and its stat.
pub async fn protected_create<T: ClientTransport>(
    zk: &ZooKeeper<T>,
    dir: &str,
    prefix: &str,
    guid: &str,
    data: &[u8],
    mode: CreateMode,
) -> RecipeResult<(String, Stat)> {
    let marker = format!("_c_{guid}-");
    let path = format!("{dir}/{marker}{prefix}");
    for _attempt in 0..1_000 {
        match zk.create2(&path, data, Acl::open_unsafe(), mode).await {
            Ok((created, stat)) => return Ok((child_name(&created), stat)),
            Err(Code::ConnectionLoss | Code::OperationTimeout) => {}
            Err(code) => return Err(code.into()),
        }
        // The reply was lost: did the create happen?
        if let Some(found) = find_protected(zk, dir, &marker).await? {
            return Ok(found);
        }
    }
    Err(RecipeError::Zk(Code::ConnectionLoss))
}

/// The child of `dir` whose name carries `marker`, with its stat; retried across connection
/// loss (the session, and so an ephemeral, lives on while we reconnect).
async fn find_protected<T: ClientTransport>(zk: &ZooKeeper<T>, dir: &str, marker: &str) -> RecipeResult<Option<(String, Stat)>> {
    // The server we reconnected to may not have applied the lost create yet (we never saw its
    // zxid): sync first, or we would create a second node.
    read_retrying(|| zk.sync(dir)).await?;
    let children = read_retrying(|| zk.get_children(dir, false)).await?;
    let Some(name) = children.into_iter().find(|c| c.starts_with(marker)) else { return Ok(None) };
    let path = format!("{dir}/{name}");
    Ok(read_retrying(|| zk.exists(&path, false)).await?.map(|stat| (name, stat)))
}

/// Deletes `path`, retrying across connection loss; a missing node counts as deleted.
pub async fn delete_retrying<T: ClientTransport>(zk: &ZooKeeper<T>, path: &str) -> RecipeResult<()> {
    loop {
        match zk.delete(path, -1).await {
            Ok(()) | Err(Code::NoNode) => return Ok(()),
            Err(Code::ConnectionLoss | Code::OperationTimeout) => madsim::time::sleep(Duration::from_millis(50)).await,
            Err(code) => return Err(code.into()),
        }
    }
}

/// Creates `path` (and its missing parents) as persistent nodes; existing ones are fine.
pub async fn ensure_path<T: ClientTransport>(zk: &ZooKeeper<T>, path: &str) -> RecipeResult<()> {
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        loop {
            match zk.create(&prefix, b"", Acl::open_unsafe(), CreateMode::Persistent).await {
                Ok(_) | Err(Code::NodeExists) => break,
                Err(Code::ConnectionLoss | Code::OperationTimeout) => madsim::time::sleep(Duration::from_millis(50)).await,
                Err(code) => return Err(code.into()),
            }
        }
    }
    Ok(())
}

/// Retries a read across connection loss (reads have no side effects).
pub async fn read_retrying<R, F, Fut>(mut read: F) -> RecipeResult<R>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<R, Code>>,
{
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(Code::ConnectionLoss | Code::OperationTimeout) => madsim::time::sleep(Duration::from_millis(50)).await,
            Err(code) => return Err(code.into()),
        }
    }
}

/// The last path component.
pub fn child_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Simulated time, ms.
fn now_ms() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_millis() as u64
}
