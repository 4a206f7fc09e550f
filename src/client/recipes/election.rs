//! Leader election (ZooKeeper recipes, "Leader Election").
//!
//! Protocol: every candidate creates `dir/_c_<guid>-lock-NNNNNNNNNN` (ephemeral, sequential,
//! protected); the lowest sequence leads; every other candidate watches only the next lower
//! node and, when it goes, checks again whether it is now the lowest (no herd effect). It is
//! the lock protocol with a candidacy that never times out.
//!
//! Safety property: at any instant at most one *live session* is the leader; a leader whose
//! session expired is told (`Expired`) once it runs again — until then it may still believe it
//! leads, so leaders' actions need the [`Leadership::token`] (fencing). Liveness: once the
//! ensemble serves, some candidate with a live session leads.

use super::lock::{Lock, LockGuard};
use super::{read_retrying, sorted_by_sequence, Events, RecipeResult};
use crate::client::api::ClientTransport;

pub type Leadership = LockGuard;

pub struct Election<T> {
    events: Events<T>,
    dir: String,
    candidacy: Lock<T>,
}

impl<T: ClientTransport> Election<T> {
    pub fn new(events: &Events<T>, dir: &str, seed: u64) -> Election<T> {
        Election { events: events.clone(), dir: dir.into(), candidacy: Lock::new(events, dir, seed) }
    }

    /// Volunteers and waits (up to `max_ms`) to be elected.
    pub async fn lead(&mut self, max_ms: u64) -> RecipeResult<Leadership> {
        self.candidacy.acquire(max_ms).await
    }

    /// Steps down: deletes the candidacy, the next candidate is woken.
    pub async fn resign(&mut self, leadership: &Leadership) -> RecipeResult<()> {
        self.candidacy.release(leadership).await
    }

    /// Whether a leader may still act as one (connected); see the module doc.
    pub fn still_leading(&self) -> bool {
        self.candidacy.still_held()
    }

    /// The current leader's node name, as the ensemble says now.
    pub async fn current_leader(&self) -> RecipeResult<Option<String>> {
        let zk = self.events.zk().clone();
        let children = read_retrying(|| zk.get_children(&self.dir, false)).await?;
        Ok(sorted_by_sequence(children).into_iter().next())
    }
}
