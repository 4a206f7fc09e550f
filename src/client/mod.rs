//! The ZooKeeper client library: a deterministic core plus an async facade.
//!
//! Why a core: ZooKeeper's client (`ClientCnxn`) decides everything a checked history depends
//! on — which server a session talks to, when it gives up on one, which requests fail with
//! ConnectionLoss (outcome unknown), which watches are re-registered and which events reach
//! the application. Keeping it free of I/O, clocks and randomness (events in, actions out, like
//! etcd-raft's `RawNode`) makes it testable against the in-process server with plain unit tests
//! and deterministic in the simulator by construction; the madsim shell only moves bytes,
//! keeps time and draws the random reconnect delay from the run's seed.
//!
//! - [`core`]: [`ClientCore`], the connection state machine;
//! - [`watches`]: the client's own watch registrations (`ZKWatchManager`);
//! - [`api`]: a `ZooKeeper`-like async handle over any [`api::ClientTransport`];
//! - [`recipes`]: ZooKeeper's recipes (locks, election, barriers, queues, ...) on that handle.

pub mod api;
pub mod core;
pub mod recipes;
pub mod watches;

pub use self::core::{ClientAction, ClientConfig, ClientCore, KeeperState, OpId, ServerId};
