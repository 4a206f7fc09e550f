//! Double barrier (ZooKeeper recipes, "Double Barriers").
//!
//! Enter: watch `dir/ready`, create the ephemeral `dir/<name>`, list; with fewer than `size`
//! process nodes wait for `ready`, else create `ready`. Leave: delete our node and wait until
//! no process node is left — the lowest waits on the highest, the others on the lowest, so one
//! deletion wakes one process except the last. `ready` is not a process node.
//!
//! Safety property: nobody returns from `enter` before `size` processes have entered, and
//! nobody returns from `leave` before every process that entered has started to leave (its
//! node is gone: it left, or its session ended — a crashed process does not block the rest).

use super::{delete_retrying, read_retrying, Events, RecipeError, RecipeResult};
use crate::client::api::ClientTransport;
use crate::proto::{Acl, Code, CreateMode};

pub const READY: &str = "ready";

pub struct DoubleBarrier<T> {
    events: Events<T>,
    dir: String,
    name: String,
    size: usize,
}

impl<T: ClientTransport> DoubleBarrier<T> {
    pub fn new(events: &Events<T>, dir: &str, name: &str, size: usize) -> DoubleBarrier<T> {
        DoubleBarrier { events: events.clone(), dir: dir.into(), name: name.into(), size }
    }

    fn ready(&self) -> String {
        format!("{}/{READY}", self.dir)
    }

    async fn processes(&self) -> RecipeResult<Vec<String>> {
        let zk = self.events.zk().clone();
        let mut children = read_retrying(|| zk.get_children(&self.dir, false)).await?;
        children.retain(|c| c != READY);
        children.sort();
        Ok(children)
    }

    /// Waits until `size` processes entered, up to `max_ms`.
    pub async fn enter(&self, max_ms: u64) -> RecipeResult<()> {
        let zk = self.events.zk().clone();
        let mut events = self.events.subscribe();
        let ready = self.ready();
        let open = read_retrying(|| zk.exists(&ready, true)).await?.is_some();
        let me = format!("{}/{}", self.dir, self.name);
        loop {
            match zk.create(&me, b"", Acl::open_unsafe(), CreateMode::Ephemeral).await {
                Ok(_) | Err(Code::NodeExists) => break,
                Err(Code::ConnectionLoss | Code::OperationTimeout) => continue,
                Err(code) => return Err(code.into()),
            }
        }
        if open {
            return Ok(());
        }
        if self.processes().await?.len() >= self.size {
            return match zk.create(&ready, b"", Acl::open_unsafe(), CreateMode::Persistent).await {
                Ok(_) | Err(Code::NodeExists) | Err(Code::ConnectionLoss) => Ok(()),
                Err(code) => Err(code.into()),
            };
        }
        let deadline = super::now_ms() + max_ms;
        loop {
            let left = deadline.saturating_sub(super::now_ms());
            if left == 0 || !events.wait_path(&ready, left).await? {
                return Err(RecipeError::Timeout);
            }
            if read_retrying(|| zk.exists(&ready, true)).await?.is_some() {
                return Ok(());
            }
        }
    }

    /// Leaves and waits until every process node is gone, up to `max_ms`.
    pub async fn leave(&self, max_ms: u64) -> RecipeResult<()> {
        let zk = self.events.zk().clone();
        let deadline = super::now_ms() + max_ms;
        loop {
            let processes = self.processes().await?;
            let Some(lowest) = processes.first() else { return Ok(()) };
            if processes.len() == 1 && *lowest == self.name {
                return delete_retrying(&zk, &format!("{}/{}", self.dir, self.name)).await;
            }
            let watched = if *lowest == self.name {
                processes.last().expect("non-empty").clone()
            } else {
                if processes.contains(&self.name) {
                    delete_retrying(&zk, &format!("{}/{}", self.dir, self.name)).await?;
                }
                lowest.clone()
            };
            let mut events = self.events.subscribe();
            let path = format!("{}/{watched}", self.dir);
            if read_retrying(|| zk.exists(&path, true)).await?.is_none() {
                continue;
            }
            let left = deadline.saturating_sub(super::now_ms());
            if left == 0 || !events.wait_path(&path, left).await? {
                return Err(RecipeError::Timeout);
            }
        }
    }
}
