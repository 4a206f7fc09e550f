//! The follower's and observer's half of ZAB, one file per phase: [`discovery`],
//! [`sync_with_leader`] and [`broadcast`]; its state in [`state`].

pub mod broadcast;
pub mod discovery;
pub mod state;
pub mod sync_with_leader;
