//! The leader's half of ZAB, one file per phase: [`lead`] (becoming leader and the tick loop),
//! [`discovery`], [`sync_follower`] and [`broadcast`]; its state in [`state`].

pub mod broadcast;
pub mod discovery;
pub mod lead;
pub mod state;
pub mod sync_follower;
