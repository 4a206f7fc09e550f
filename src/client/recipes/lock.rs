//! Exclusive lock without the herd effect (ZooKeeper recipes, "Locks").
//!
//! Protocol: create `dir/_c_<guid>-lock-NNNNNNNNNN` (ephemeral, sequential, protected); list
//! the children *without* a watch; the lowest sequence holds the lock; everyone else calls
//! `exists(predecessor, watch)` on the next lower node only and re-lists when it goes, so one
//! deletion wakes one waiter. Release deletes the node; so does the end of the session.
//!
//! Safety property: at any instant at most one *live session* owns the lowest lock node, so
//! no two clients are granted the lock while both sessions live. What it cannot promise: a
//! holder paused (GC, VM freeze) or cut off past its session timeout still *believes* it
//! holds the lock after ZooKeeper expired it and granted it to someone else. The holder is
//! told (its session reports `Disconnected`, then `Expired`: [`Lock::still_held`] turns
//! false) but only once it runs again — so a protected resource must check the
//! [`LockGuard::token`] (the lock node's czxid, which only grows) and refuse writes carrying
//! a lower token than one it already accepted (fencing).

use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{delete_retrying, guid, now_ms, protected_create, read_retrying, sorted_by_sequence, Events, RecipeError, RecipeResult};
use crate::client::api::{ClientTransport, ZooKeeper};
use crate::client::core::KeeperState;
use crate::proto::{Code, CreateMode, Stat};

/// A step of the protocol, for recorders (histories) and tests.
#[derive(Clone, Debug)]
pub enum LockStep {
    /// Our lock node (found again after a ConnectionLoss, or created).
    Created { path: String, stat: Stat, invoke_ms: u64, complete_ms: u64 },
    /// `exists(predecessor, watch)` found it (`zxid`: the reply header's).
    SawPredecessor { path: String, stat: Stat, zxid: i64, invoke_ms: u64, complete_ms: u64 },
}

/// A granted lock: the node and the fencing token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockGuard {
    pub path: String,
    /// The lock node's czxid: larger for every later grant.
    pub token: i64,
}

/// A lock recipe bound to one session.
pub struct Lock<T> {
    events: Events<T>,
    dir: String,
    rng: ChaCha8Rng,
    observer: Option<Box<dyn FnMut(LockStep)>>,
    mode: LockMode,
}

/// Which nodes a lock node waits behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Behind every lower node (`lock-`).
    Exclusive,
    /// Shared (`read-`): behind lower `write-` nodes only.
    Read,
    /// Exclusive against readers too (`write-`): behind every lower node.
    Write,
}

impl LockMode {
    fn prefix(self) -> &'static str {
        match self {
            LockMode::Exclusive => "lock-",
            LockMode::Read => "read-",
            LockMode::Write => "write-",
        }
    }
}

/// The node our node waits for, if any (`children` sorted by sequence).
fn predecessor(mode: LockMode, children: &[String], position: usize) -> Option<&String> {
    match mode {
        LockMode::Exclusive | LockMode::Write => position.checked_sub(1).map(|p| &children[p]),
        LockMode::Read => children[..position].iter().rev().find(|c| c.contains("write-")),
    }
}

impl<T: ClientTransport> Lock<T> {
    /// A lock on the (existing) directory `dir`; GUIDs come from `seed`.
    pub fn new(events: &Events<T>, dir: &str, seed: u64) -> Lock<T> {
        Lock::with_mode(events, dir, seed, LockMode::Exclusive)
    }

    pub fn with_mode(events: &Events<T>, dir: &str, seed: u64, mode: LockMode) -> Lock<T> {
        Lock { events: events.clone(), dir: dir.to_string(), rng: ChaCha8Rng::seed_from_u64(seed), observer: None, mode }
    }

    /// Reports each protocol step to `observer`.
    pub fn observe(&mut self, observer: impl FnMut(LockStep) + 'static) {
        self.observer = Some(Box::new(observer));
    }

    fn zk(&self) -> &ZooKeeper<T> {
        self.events.zk()
    }

    fn report(&mut self, step: LockStep) {
        if let Some(observer) = self.observer.as_mut() {
            observer(step);
        }
    }

    /// Waits for the lock, up to `max_ms`. On timeout the node is deleted again.
    pub async fn acquire(&mut self, max_ms: u64) -> RecipeResult<LockGuard> {
        let deadline_ms = now_ms() + max_ms;
        let guid = guid(&mut self.rng);
        let invoke_ms = now_ms();
        let (name, stat) = protected_create(self.zk(), &self.dir, self.mode.prefix(), &guid, b"", CreateMode::EphemeralSequential).await?;
        let path = format!("{}/{name}", self.dir);
        self.report(LockStep::Created { path: path.clone(), stat: stat.clone(), invoke_ms, complete_ms: now_ms() });
        match self.wait_lowest(&name, deadline_ms).await {
            Ok(()) => Ok(LockGuard { path, token: stat.czxid }),
            Err(error) => {
                if error != RecipeError::SessionLost {
                    let _ = delete_retrying(self.zk(), &path).await;
                }
                Err(error)
            }
        }
    }

    /// Steps 2–5: until no node we wait behind is left, watch the next lower one.
    async fn wait_lowest(&mut self, name: &str, deadline_ms: u64) -> RecipeResult<()> {
        let mut events = self.events.subscribe();
        loop {
            let zk = self.zk().clone();
            let children = sorted_by_sequence(read_retrying(|| zk.get_children(&self.dir, false)).await?);
            let Some(position) = children.iter().position(|c| c == name) else {
                // Our ephemeral is gone: the session expired (or someone deleted it).
                return Err(RecipeError::SessionLost);
            };
            let Some(before) = predecessor(self.mode, &children, position) else { return Ok(()) };
            let predecessor = format!("{}/{before}", self.dir);
            let invoke_ms = now_ms();
            match zk.exists_at(&predecessor, true).await {
                Ok(None) => continue,
                Ok(Some((zxid, stat))) => {
                    self.report(LockStep::SawPredecessor { path: predecessor.clone(), stat, zxid, invoke_ms, complete_ms: now_ms() });
                }
                Err(Code::ConnectionLoss | Code::OperationTimeout) => {
                    madsim::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(code) => return Err(code.into()),
            }
            let left = deadline_ms.saturating_sub(now_ms());
            if left == 0 || !events.wait_path(&predecessor, left).await? {
                return Err(RecipeError::Timeout);
            }
        }
    }

    /// Deletes the lock node (retrying across connection loss).
    pub async fn release(&mut self, guard: &LockGuard) -> RecipeResult<()> {
        delete_retrying(self.zk(), &guard.path).await
    }

    /// Whether the holder may still assume it holds the lock: only while connected. Once
    /// `Disconnected` the session may expire at any moment (Curator's SUSPENDED); `Expired`
    /// means the lock is gone. A paused process cannot see either until it runs: fence.
    pub fn still_held(&self) -> bool {
        self.zk().state() == Some(KeeperState::SyncConnected)
    }
}
