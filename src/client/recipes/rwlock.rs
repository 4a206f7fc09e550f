//! Shared read / exclusive write lock (ZooKeeper recipes, "Shared Locks").
//!
//! Protocol: readers create `read-NNNNNNNNNN`, writers `write-NNNNNNNNNN` (ephemeral,
//! sequential, protected) under one directory; a reader waits only behind the next lower
//! `write-` node, a writer behind the next lower node of either kind (no herd effect).
//!
//! Safety property: while a writer's session holds the write lock, no other live session
//! holds the read or the write lock; readers may share. As with [`super::lock`], a holder
//! whose session expired while it paused may still believe it holds: fence with the token.

use super::lock::{Lock, LockGuard, LockMode};
use super::{Events, RecipeResult};
use crate::client::api::ClientTransport;

/// Both halves of a read/write lock on one directory.
pub struct ReadWriteLock<T> {
    read: Lock<T>,
    write: Lock<T>,
}

impl<T: ClientTransport> ReadWriteLock<T> {
    pub fn new(events: &Events<T>, dir: &str, seed: u64) -> ReadWriteLock<T> {
        ReadWriteLock {
            read: Lock::with_mode(events, dir, seed, LockMode::Read),
            write: Lock::with_mode(events, dir, seed ^ 0x5772_6974_6531, LockMode::Write),
        }
    }

    pub async fn acquire_read(&mut self, max_ms: u64) -> RecipeResult<LockGuard> {
        self.read.acquire(max_ms).await
    }

    pub async fn acquire_write(&mut self, max_ms: u64) -> RecipeResult<LockGuard> {
        self.write.acquire(max_ms).await
    }

    pub async fn release(&mut self, guard: &LockGuard) -> RecipeResult<()> {
        self.write.release(guard).await
    }

    pub fn still_held(&self) -> bool {
        self.write.still_held()
    }
}
