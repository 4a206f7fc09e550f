//! Configuration behind a ready znode (ZooKeeper programmer's guide, "Ordering guarantees":
//! a new leader deletes `ready`, changes the configuration, then creates `ready`).
//!
//! Writer: delete `ready`, set every key, create `ready` (FIFO session order keeps the steps
//! in order). Reader: `exists(ready, watch)`; if present, read every key, and keep the result
//! only if no notification about `ready` arrived before the last read's reply — ZooKeeper
//! delivers a watch event before any reply that reflects the change, so a reader that sees
//! `ready` and no event read a configuration that was complete.
//!
//! Safety property: a reader that returns a configuration saw all keys of one publication
//! (never a mix of an old and a new one).

use super::{delete_retrying, read_retrying, Events, RecipeResult};
use crate::client::api::ClientTransport;
use crate::proto::{Acl, Code, CreateMode};

pub const READY: &str = "ready";

pub struct Config<T> {
    events: Events<T>,
    dir: String,
    keys: Vec<String>,
}

impl<T: ClientTransport> Config<T> {
    /// A configuration of `keys` (existing children of `dir`).
    pub fn new(events: &Events<T>, dir: &str, keys: &[&str]) -> Config<T> {
        Config { events: events.clone(), dir: dir.into(), keys: keys.iter().map(|k| k.to_string()).collect() }
    }

    fn ready(&self) -> String {
        format!("{}/{READY}", self.dir)
    }

    /// Publishes `values` (one per key).
    pub async fn publish(&self, values: &[Vec<u8>]) -> RecipeResult<()> {
        let zk = self.events.zk();
        delete_retrying(zk, &self.ready()).await?;
        for (key, value) in self.keys.iter().zip(values) {
            let path = format!("{}/{key}", self.dir);
            loop {
                match zk.set_data(&path, value, -1).await {
                    Ok(_) => break,
                    Err(Code::ConnectionLoss | Code::OperationTimeout) => continue,
                    Err(code) => return Err(code.into()),
                }
            }
        }
        loop {
            match zk.create(&self.ready(), b"", Acl::open_unsafe(), CreateMode::Persistent).await {
                Ok(_) | Err(Code::NodeExists) => return Ok(()),
                Err(Code::ConnectionLoss | Code::OperationTimeout) => continue,
                Err(code) => return Err(code.into()),
            }
        }
    }

    /// A complete configuration, or `None` if `ready` is absent or changed while reading.
    pub async fn read(&self) -> RecipeResult<Option<Vec<Vec<u8>>>> {
        let zk = self.events.zk().clone();
        let mut events = self.events.subscribe();
        let ready = self.ready();
        if read_retrying(|| zk.exists(&ready, true)).await?.is_none() {
            return Ok(None);
        }
        let mut values = Vec::new();
        for key in &self.keys {
            let path = format!("{}/{key}", self.dir);
            match zk.get_data(&path, false).await {
                Ok((data, _)) => values.push(data),
                Err(Code::ConnectionLoss | Code::OperationTimeout) => return Ok(None),
                Err(code) => return Err(code.into()),
            }
        }
        if events.saw_path(&ready) {
            return Ok(None);
        }
        Ok(Some(values))
    }
}
