//! Iteration order of a `java.util.HashSet<String>`, reproduced exactly.
//!
//! Why: ZooKeeper keeps a znode's children and a session's ephemerals in Java hash sets, and
//! that order leaks into what a client sees: `getChildren` returns children in hash-set order,
//! and a session close deletes its ephemerals in hash-set order, which decides the order of the
//! watch events it fires (golden trace step 216). Emulating the set makes both exact.
//!
//! Java's `HashMap` places a key in bucket `spread(hashCode) & (capacity - 1)`; a bucket is a
//! list in insertion order; a resize doubles the capacity and splits each bucket keeping
//! relative order. So the iteration order is: by bucket, then by insertion order. The capacity
//! only grows (never shrinks on removal): it doubles when the size passes 3/4 of it, and also
//! when a bucket would hold a ninth entry while the capacity is under 64 (treeify-or-resize).
//! Simplification: a bucket that turns into a red-black tree (capacity >= 64 and nine or more
//! colliding keys) keeps list order here; Java would then order it by tree position.

use rustc_hash::FxHashMap;

/// Java `String.hashCode` over UTF-16 code units.
pub fn java_string_hash(s: &str) -> i32 {
    let step = |hash: i32, unit: u16| hash.wrapping_mul(31).wrapping_add(unit as i32);
    if s.is_ascii() {
        // Every byte is one UTF-16 unit (the common case: znode names).
        s.bytes().fold(0, |hash, b| step(hash, b as u16))
    } else {
        s.encode_utf16().fold(0, step)
    }
}

/// `HashMap.hash`: the high half folded into the low half.
fn spread(hash: i32) -> u32 {
    let h = hash as u32;
    h ^ (h >> 16)
}

/// Java's `tableSizeFor`: the smallest power of two >= `cap` (at least 1).
fn table_size_for(cap: usize) -> usize {
    cap.max(1).next_power_of_two()
}

const TREEIFY_THRESHOLD: usize = 8;
const MIN_TREEIFY_CAPACITY: usize = 64;

#[derive(Clone, Debug)]
struct Entry {
    spread_hash: u32,
    insertion_seq: u64,
}

/// A set of strings whose iteration order is that of a Java `HashSet<String>` built by the
/// same sequence of inserts and removes.
#[derive(Clone, Debug)]
pub struct JavaHashSet {
    entries: FxHashMap<Box<str>, Entry>,
    /// Table capacity once allocated; `initial_capacity` until the first insert.
    capacity: usize,
    next_seq: u64,
}

impl JavaHashSet {
    /// `new HashSet<>(initial_capacity)`; Java's default constructor uses 16.
    pub fn with_capacity(initial_capacity: usize) -> Self {
        JavaHashSet {
            entries: FxHashMap::default(),
            capacity: table_size_for(initial_capacity),
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn bucket_of(&self, spread_hash: u32) -> usize {
        spread_hash as usize & (self.capacity - 1)
    }

    /// Adds `key`; returns false if it was present (Java keeps the old position then).
    pub fn insert(&mut self, key: &str) -> bool {
        if self.entries.contains_key(key) {
            return false;
        }
        let spread_hash = spread(java_string_hash(key));
        if self.capacity < MIN_TREEIFY_CAPACITY {
            let bucket = self.bucket_of(spread_hash);
            let bin_count = self
                .entries
                .values()
                .filter(|e| self.bucket_of(e.spread_hash) == bucket)
                .count();
            if bin_count >= TREEIFY_THRESHOLD {
                self.capacity *= 2; // treeifyBin on a small table resizes instead
            }
        }
        self.entries.insert(key.into(), Entry { spread_hash, insertion_seq: self.next_seq });
        self.next_seq += 1;
        if self.entries.len() > self.capacity * 3 / 4 {
            self.capacity *= 2;
        }
        debug_assert!(self.capacity.is_power_of_two());
        true
    }

    pub fn remove(&mut self, key: &str) -> bool {
        self.entries.remove(key).is_some()
    }

    /// The keys in Java iteration order.
    pub fn iter_order(&self) -> Vec<&str> {
        let mut keys: Vec<(&str, usize, u64)> = self
            .entries
            .iter()
            .map(|(k, e)| (&**k, self.bucket_of(e.spread_hash), e.insertion_seq))
            .collect();
        keys.sort_unstable_by_key(|&(_, bucket, seq)| (bucket, seq));
        keys.into_iter().map(|(k, _, _)| k).collect()
    }

    /// Any order, for callers that do not expose it (cheaper than `iter_order`).
    pub fn iter_unordered(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(|k| &**k)
    }

    /// `(HashSet) set.clone()`: Java re-inserts the entries, in iteration order, into a table
    /// sized for the current size (`tableSizeFor(size / 0.75 + 1)`).
    pub fn java_clone(&self) -> JavaHashSet {
        let wanted = (self.entries.len() as f32 / 0.75 + 1.0) as usize;
        let mut clone = JavaHashSet::with_capacity(table_size_for(wanted));
        for key in self.iter_order() {
            clone.insert(key);
        }
        clone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("Aa"), java_string_hash("BB")); // the classic collision
        assert_eq!(java_string_hash("Aa"), 2112);
        // Outside ASCII: one unit for U+00E9, a surrogate pair (0xD83D, 0xDE00) for U+1F600.
        assert_eq!(java_string_hash("é"), 233);
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
        assert_eq!(java_string_hash("aé"), 97 * 31 + 233);
    }

    #[test]
    fn children_order_matches_golden_step_107() {
        let mut set = JavaHashSet::with_capacity(8);
        for child in ["b", "a", "c", "10", "9", "aa", "Z", "a-1", "0000000001"] {
            assert!(set.insert(child));
        }
        assert_eq!(set.iter_order(), ["aa", "0000000001", "a", "b", "c", "a-1", "9", "Z", "10"]);
    }

    #[test]
    fn clone_reorders_like_java_golden_step_216() {
        let mut ephemerals = JavaHashSet::with_capacity(16);
        ephemerals.insert("/g/eph/b1");
        ephemerals.insert("/g/eph/b-0000000001");
        assert_eq!(ephemerals.iter_order(), ["/g/eph/b-0000000001", "/g/eph/b1"]);
        assert_eq!(ephemerals.java_clone().iter_order(), ["/g/eph/b1", "/g/eph/b-0000000001"]);
    }
}
