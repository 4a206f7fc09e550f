//! The client-facing half of a replicated server: connections, sessions and the per-session
//! request pipeline (`FollowerRequestProcessor` / `PrepRequestProcessor` → `CommitProcessor` →
//! `FinalRequestProcessor`).
//!
//! Why here and not in `crate::server`: in an ensemble a write is not applied when it arrives —
//! it is forwarded to the leader, prepared there, broadcast, and answered by the server the
//! client is connected to when the COMMIT comes back. What the client sees is still
//! ZooKeeper's promise: replies in request order per session (a read waits behind the session's
//! own pending writes), watch events before the reply that reflects them, a reply zxid that
//! never goes back on one connection.//!
//! Cut along the pipeline: [`state`] (connections, queues), [`connections`] (connect, session
//! establishment and revalidation, disconnect), [`pipeline`] (requests in session order, replies
//! and watch events as commits are applied), [`leader_side`] (the leader's
//! `PrepRequestProcessor`: createSession, revalidation, writes, expiry).

pub mod connections;
pub mod leader_side;
pub mod pipeline;
pub mod state;
