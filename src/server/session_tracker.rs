//! Session bookkeeping (`SessionTrackerImpl` + `ExpiryQueue`): ids, negotiated timeouts, and
//! expiry in tick-sized buckets.
//!
//! Why: only the session tracker decides that a session is dead, and it does so in rounds of
//! `tickTime`, so a session expires between `timeout` and `timeout + tickTime` after it was last
//! heard from — the window the paused-lock-holder anomaly lives in.

use std::collections::{BTreeMap, BTreeSet};

use crate::proto::{Id, SessionId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub timeout_ms: i32,
    /// Time (ms) at which the session expires unless touched, rounded up to a tick.
    pub expire_time_ms: i64,
    pub closing: bool,
    pub password: [u8; 16],
    /// Identities added by `addAuth` (ZooKeeper keeps these per connection).
    pub auth: Vec<Id>,
}

#[derive(Clone, Debug)]
pub struct SessionTracker {
    tick_time_ms: i64,
    next_session_id: SessionId,
    sessions: BTreeMap<SessionId, Session>,
    /// expire time → sessions due then.
    buckets: BTreeMap<i64, BTreeSet<SessionId>>,
}

/// `SessionTrackerImpl.initializeNextSessionId`: the server id in the top byte, a time-based
/// counter below. A container's owner marker (`Long.MIN_VALUE`) is never handed out.
pub fn initial_session_id(server_id: i64, now_ms: i64) -> SessionId {
    let mut next = ((now_ms << 24) as u64 >> 8) as i64;
    next |= server_id << 56;
    if next == i64::MIN {
        next += 1;
    }
    next
}

/// A session's password, derived from its id (ZooKeeper seeds a Random with id ^ secret).
pub fn session_password(id: SessionId) -> [u8; 16] {
    let mut x = (id as u64) ^ 0xB3C5_A1D9_7E21_4F6B;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        chunk.copy_from_slice(&x.to_be_bytes());
    }
    out
}

impl SessionTracker {
    pub fn new(tick_time_ms: i64, server_id: i64, now_ms: i64) -> SessionTracker {
        assert!(tick_time_ms > 0, "tickTime must be positive");
        SessionTracker {
            tick_time_ms,
            next_session_id: initial_session_id(server_id, now_ms),
            sessions: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    fn round_to_next_interval(&self, time_ms: i64) -> i64 {
        (time_ms / self.tick_time_ms + 1) * self.tick_time_ms
    }

    pub fn create_session(&mut self, timeout_ms: i32, now_ms: i64) -> SessionId {
        let id = self.next_session_id;
        self.next_session_id += 1;
        assert!(id != 0, "session id 0 means 'no owner' in a stat: the tracker was seeded with time 0");
        self.track_session(id, timeout_ms, now_ms);
        id
    }

    /// Adds (or refreshes) a session known from a transaction or a snapshot.
    pub fn track_session(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64) {
        self.sessions.entry(id).or_insert_with(|| Session {
            id,
            timeout_ms,
            expire_time_ms: 0,
            closing: false,
            password: session_password(id),
            auth: Vec::new(),
        });
        self.touch(id, now_ms);
    }

    /// `touchSession`: false if the session is unknown or closing.
    pub fn touch(&mut self, id: SessionId, now_ms: i64) -> bool {
        let Some(session) = self.sessions.get(&id) else { return false };
        if session.closing {
            return false;
        }
        let new_expire = self.round_to_next_interval(now_ms + session.timeout_ms as i64);
        let old_expire = session.expire_time_ms;
        if new_expire == old_expire {
            return true;
        }
        if let Some(bucket) = self.buckets.get_mut(&old_expire) {
            bucket.remove(&id);
            if bucket.is_empty() {
                self.buckets.remove(&old_expire);
            }
        }
        self.buckets.entry(new_expire).or_default().insert(id);
        self.sessions.get_mut(&id).expect("present").expire_time_ms = new_expire;
        true
    }

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    pub fn set_closing(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    pub fn remove(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.remove(&id) {
            if let Some(bucket) = self.buckets.get_mut(&s.expire_time_ms) {
                bucket.remove(&id);
                if bucket.is_empty() {
                    self.buckets.remove(&s.expire_time_ms);
                }
            }
        }
    }

    /// Sessions whose expire time has passed and that are not already closing, in id order;
    /// they are marked closing (the caller submits their closeSession transactions).
    pub fn expire(&mut self, now_ms: i64) -> Vec<SessionId> {
        let due: Vec<i64> = self.buckets.range(..=now_ms).map(|(t, _)| *t).collect();
        let mut expired = Vec::new();
        for t in due {
            for id in self.buckets.remove(&t).unwrap_or_default() {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if !s.closing {
                        s.closing = true;
                        expired.push(id);
                    }
                }
            }
        }
        expired.sort_unstable();
        expired
    }

    /// (id, timeout) of every session, sorted: what a snapshot stores.
    pub fn snapshot(&self) -> Vec<(SessionId, i32)> {
        self.sessions.values().map(|s| (s.id, s.timeout_ms)).collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_happens_in_tick_buckets() {
        let mut tracker = SessionTracker::new(200, 1, 0);
        let id = tracker.create_session(1000, 50);
        // 50 + 1000 = 1050 → next 200 ms boundary after it: 1200.
        assert_eq!(tracker.get(id).unwrap().expire_time_ms, 1200);
        assert!(tracker.expire(1199).is_empty());
        assert!(tracker.touch(id, 900)); // 1900 → 2000
        assert!(tracker.expire(1200).is_empty());
        assert_eq!(tracker.expire(2000), vec![id]);
        assert!(!tracker.touch(id, 2001), "a closing session cannot be revived");
    }

    #[test]
    fn session_ids_carry_the_server_id() {
        let id = initial_session_id(3, 1_000_000);
        assert_eq!(id >> 56, 3);
        assert_ne!(session_password(id), session_password(id + 1));
    }
}
