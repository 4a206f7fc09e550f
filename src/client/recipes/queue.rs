//! Distributed FIFO queue (ZooKeeper recipes, "Queues"), with claims so that a consumer whose
//! reply was lost can tell whether it took an item.
//!
//! Offer: protected create of `dir/_c_<guid>-qn-NNNNNNNNNN` (persistent, sequential): a lost
//! reply is resolved by finding the GUID, so an acknowledged offer is in the queue exactly
//! once. Take: list the children, take the lowest with one `multi` — delete the item and
//! create `claims/<item>` holding the consumer's name — so taking is atomic and recorded; after
//! a lost reply the claim node says who took it.
//!
//! Safety property: every item is taken at most once (one claim per item: create fails with
//! NodeExists for a second taker), and no acknowledged offer is lost: at any time it is in the
//! queue or claimed. Order: items are taken in sequence order as seen by each consumer.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{guid, protected_create, read_retrying, sorted_by_sequence, Events, RecipeError, RecipeResult};
use crate::client::api::ClientTransport;
use crate::proto::{Acl, Code, CreateMode, Op, OpResult};

pub struct Queue<T> {
    events: Events<T>,
    dir: String,
    claims: String,
    consumer: String,
    rng: ChaCha8Rng,
}

/// A taken item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub data: Vec<u8>,
}

impl<T: ClientTransport> Queue<T> {
    /// A queue in `dir` whose claims live in `claims` (both must exist); `consumer` names this
    /// client in its claims.
    pub fn new(events: &Events<T>, dir: &str, claims: &str, consumer: &str, seed: u64) -> Queue<T> {
        Queue { events: events.clone(), dir: dir.into(), claims: claims.into(), consumer: consumer.into(), rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Appends `data`; returns the item's name.
    pub async fn offer(&mut self, data: &[u8]) -> RecipeResult<String> {
        let guid = guid(&mut self.rng);
        let (name, _) = protected_create(self.events.zk(), &self.dir, "qn-", &guid, data, CreateMode::PersistentSequential).await?;
        Ok(name)
    }

    /// Takes the head of the queue; `None` if it is empty.
    pub async fn poll(&mut self) -> RecipeResult<Option<Item>> {
        let zk = self.events.zk().clone();
        let children = sorted_by_sequence(read_retrying(|| zk.get_children(&self.dir, false)).await?);
        for name in children {
            let path = format!("{}/{name}", self.dir);
            let data = match zk.get_data(&path, false).await {
                Ok((data, _)) => data,
                Err(Code::NoNode) => continue,
                Err(Code::ConnectionLoss | Code::OperationTimeout) => return Ok(None),
                Err(code) => return Err(code.into()),
            };
            if self.claim(&name, &path).await? {
                return Ok(Some(Item { name, data }));
            }
        }
        Ok(None)
    }

    /// Deletes the item and records the claim atomically; `true` if we took it.
    async fn claim(&self, name: &str, path: &str) -> RecipeResult<bool> {
        let zk = self.events.zk().clone();
        let claim = format!("{}/{name}", self.claims);
        let ops = vec![
            Op::Delete { path: path.into(), version: -1 },
            Op::Create { path: claim.clone(), data: self.consumer.as_bytes().to_vec(), acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: -1, with_stat: false },
        ];
        match zk.multi(ops).await {
            Ok(results) => Ok(!results.iter().any(|r| matches!(r, OpResult::Error { .. }))),
            Err(Code::ConnectionLoss | Code::OperationTimeout) => {
                // Who holds the claim, if anyone? Ours iff it names us. Sync first: the server
                // we reconnected to may not have applied our multi yet (we never saw its zxid).
                read_retrying(|| zk.sync(&claim)).await?;
                match read_retrying(|| zk.get_data(&claim, false)).await {
                    Ok((owner, _)) => Ok(owner == self.consumer.as_bytes()),
                    Err(RecipeError::Zk(Code::NoNode)) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Err(code) => Err(code.into()),
        }
    }
}
