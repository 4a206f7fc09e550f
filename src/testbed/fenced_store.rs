//! The resource a lock protects, for the lock workload's fencing-token check.
//!
//! Why its own file: the workload's shared state holds it and the lock client writes to it;
//! neither should have to name the other to reach it.

/// The resource the lock protects: it remembers the highest token it accepted.
#[derive(Debug, Default)]
pub struct FencedStore {
    pub fencing: bool,
    highest: Option<i64>,
}

impl FencedStore {
    pub fn new(fencing: bool) -> FencedStore {
        FencedStore { fencing, highest: None }
    }

    /// Accepts the write unless fencing is on and `token` is lower than one accepted before.
    pub fn write(&mut self, token: i64) -> bool {
        if self.fencing && self.highest.is_some_and(|h| token < h) {
            return false;
        }
        self.highest = Some(self.highest.map_or(token, |h| h.max(token)));
        true
    }
}
