//! Group membership (ZooKeeper programmer's guide: ephemeral nodes as members).
//!
//! Protocol: a member creates the ephemeral `dir/<name>`; the view is `getChildren(dir)`;
//! a watcher re-reads the view with a child watch whenever it changes.
//!
//! Safety/liveness property: a member's node exists exactly while its session lives, so once
//! faults stop the view converges to the members whose sessions live (a crashed member leaves
//! the view one session timeout later; a member never appears that did not join).

use super::{read_retrying, Events, RecipeError, RecipeResult};
use crate::client::api::ClientTransport;
use crate::proto::{Acl, Code, CreateMode};

pub struct Group<T> {
    events: Events<T>,
    dir: String,
}

impl<T: ClientTransport> Group<T> {
    pub fn new(events: &Events<T>, dir: &str) -> Group<T> {
        Group { events: events.clone(), dir: dir.into() }
    }

    /// Joins as `name`. A create whose reply was lost is retried: NodeExists with our own
    /// session as owner means the first one happened.
    pub async fn join(&self, name: &str) -> RecipeResult<()> {
        let zk = self.events.zk();
        let path = format!("{}/{name}", self.dir);
        loop {
            match zk.create(&path, b"", Acl::open_unsafe(), CreateMode::Ephemeral).await {
                Ok(_) => return Ok(()),
                Err(Code::ConnectionLoss | Code::OperationTimeout) => continue,
                Err(Code::NodeExists) => {
                    let stat = read_retrying(|| zk.exists(&path, false)).await?;
                    match stat {
                        Some(stat) if stat.ephemeral_owner == zk.session_id() => return Ok(()),
                        // Another session's node of the same name: wait until it is gone.
                        Some(_) => madsim::time::sleep(std::time::Duration::from_millis(200)).await,
                        None => continue,
                    }
                }
                Err(code) => return Err(RecipeError::from(code)),
            }
        }
    }

    /// The members now, sorted.
    pub async fn members(&self) -> RecipeResult<Vec<String>> {
        let zk = self.events.zk().clone();
        let mut children = read_retrying(|| zk.get_children(&self.dir, false)).await?;
        children.sort();
        Ok(children)
    }

    /// Waits up to `max_ms` for the view to change from `known` (a child watch), and returns
    /// the new view (the same view if nothing changed in time).
    pub async fn next_view(&self, known: &[String], max_ms: u64) -> RecipeResult<Vec<String>> {
        let mut events = self.events.subscribe();
        let zk = self.events.zk().clone();
        let mut children = read_retrying(|| zk.get_children(&self.dir, true)).await?;
        children.sort();
        if children != known {
            return Ok(children);
        }
        events.wait_path(&self.dir, max_ms).await?;
        self.members().await
    }
}
