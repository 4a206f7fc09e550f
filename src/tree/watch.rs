//! Server-side watch bookkeeping (`WatchManager`): standard one-time watches, persistent and
//! persistent-recursive watches, and the trigger rules.
//!
//! Why: which events a client receives, in which order, and which watches survive, is part of
//! ZooKeeper's contract (golden trace sections watch and watch-2clients). The data tree owns two
//! managers, one for data watches (getData/exists) and one for child watches (getChildren),
//! exactly as ZooKeeper's `DataTree` does; a persistent watch is registered in both.
//!
//! Rules (from `WatchManager.triggerWatch`): a trigger on path P fires every watcher on P; if
//! any recursive watch exists, it also visits P's ancestors, where only recursive watches fire,
//! and never for NodeChildrenChanged. Standard watches are removed once fired; persistent ones
//! stay. A watcher fires at most once per trigger, and the caller can suppress watchers that
//! already got the same event (a delete fires NodeDeleted once for data + child watches).

use rustc_hash::{FxHashMap, FxHashSet};

use crate::proto::{EventType, WatchedEvent};

/// Who receives events: the server's id for a client connection (zksim uses the session id).
pub type WatcherId = i64;

/// A notification to deliver: (watcher, event).
pub type Notification = (WatcherId, WatchedEvent);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatcherMode {
    Standard,
    Persistent,
    PersistentRecursive,
}

impl WatcherMode {
    fn is_persistent(self) -> bool {
        self != WatcherMode::Standard
    }

    fn is_recursive(self) -> bool {
        self == WatcherMode::PersistentRecursive
    }
}

#[derive(Clone, Debug, Default)]
pub struct WatchManager {
    /// path → watchers, in registration order.
    watch_table: FxHashMap<String, Vec<WatcherId>>,
    /// watcher → paths it watches here.
    watch_to_paths: FxHashMap<WatcherId, FxHashSet<String>>,
    /// Non-standard modes; absent means Standard (`WatcherModeManager`).
    modes: FxHashMap<(WatcherId, String), WatcherMode>,
    recursive_count: usize,
}

impl WatchManager {
    pub fn add_watch(&mut self, path: &str, watcher: WatcherId, mode: WatcherMode) {
        let watchers = self.watch_table.entry(path.to_string()).or_default();
        if !watchers.contains(&watcher) {
            watchers.push(watcher);
        }
        self.watch_to_paths.entry(watcher).or_default().insert(path.to_string());
        self.set_mode(watcher, path, mode);
    }

    fn set_mode(&mut self, watcher: WatcherId, path: &str, mode: WatcherMode) {
        let key = (watcher, path.to_string());
        let old = if mode == WatcherMode::Standard {
            self.modes.remove(&key)
        } else {
            self.modes.insert(key, mode)
        };
        if old == Some(WatcherMode::PersistentRecursive) {
            self.recursive_count -= 1;
        }
        if mode == WatcherMode::PersistentRecursive {
            self.recursive_count += 1;
        }
    }

    fn mode_of(&self, watcher: WatcherId, path: &str) -> WatcherMode {
        self.modes.get(&(watcher, path.to_string())).copied().unwrap_or(WatcherMode::Standard)
    }

    /// Fires the watches for `event_type` on `path`, appending one notification per watcher to
    /// `out` (watchers in ascending id order, so output never depends on hash order). Returns the
    /// watchers that fired, including suppressed ones, as ZooKeeper's `WatcherOrBitSet` does.
    pub fn trigger(
        &mut self,
        path: &str,
        event_type: EventType,
        suppress: &[WatcherId],
        out: &mut Vec<Notification>,
    ) -> Vec<WatcherId> {
        let mut fired: Vec<WatcherId> = Vec::new();
        let mut local_path = path;
        let mut at_parent = false;
        loop {
            self.collect_fired(local_path, at_parent, event_type, &mut fired);
            if self.recursive_count == 0 || local_path == "/" {
                break;
            }
            local_path = match local_path.rfind('/') {
                Some(0) => "/",
                Some(i) => &local_path[..i],
                None => break,
            };
            at_parent = true;
        }
        fired.sort_unstable();
        fired.dedup();
        for &watcher in &fired {
            if !suppress.contains(&watcher) {
                out.push((watcher, WatchedEvent { event_type, path: path.to_string() }));
            }
        }
        fired
    }

    fn collect_fired(&mut self, local_path: &str, at_parent: bool, event_type: EventType, fired: &mut Vec<WatcherId>) {
        let Some(watchers) = self.watch_table.get(local_path) else { return };
        let mut removed: Vec<WatcherId> = Vec::new();
        for &watcher in watchers {
            let mode = self.mode_of(watcher, local_path);
            if mode.is_recursive() {
                if event_type != EventType::NodeChildrenChanged {
                    fired.push(watcher);
                }
            } else if !at_parent {
                fired.push(watcher);
                if !mode.is_persistent() {
                    removed.push(watcher);
                }
            }
        }
        for watcher in removed {
            self.remove_one(local_path, watcher);
        }
    }

    fn remove_one(&mut self, path: &str, watcher: WatcherId) -> bool {
        let Some(watchers) = self.watch_table.get_mut(path) else { return false };
        let Some(pos) = watchers.iter().position(|&w| w == watcher) else { return false };
        watchers.remove(pos);
        if watchers.is_empty() {
            self.watch_table.remove(path);
        }
        if let Some(paths) = self.watch_to_paths.get_mut(&watcher) {
            paths.remove(path);
            if paths.is_empty() {
                self.watch_to_paths.remove(&watcher);
            }
        }
        self.set_mode(watcher, path, WatcherMode::Standard);
        true
    }

    /// `removeWatcher(path, watcher)` for removeWatches: false if there was none.
    pub fn remove_watch(&mut self, path: &str, watcher: WatcherId) -> bool {
        self.remove_one(path, watcher)
    }

    /// Drops every watch of a closed connection.
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(paths) = self.watch_to_paths.remove(&watcher) else { return };
        let mut paths: Vec<String> = paths.into_iter().collect();
        paths.sort();
        for path in paths {
            if let Some(watchers) = self.watch_table.get_mut(&path) {
                watchers.retain(|&w| w != watcher);
                if watchers.is_empty() {
                    self.watch_table.remove(&path);
                }
            }
            self.set_mode(watcher, &path, WatcherMode::Standard);
        }
    }

    /// `containsWatcher`: a watch on `path` itself, or a recursive one on an ancestor.
    pub fn contains_watcher(&self, path: &str, watcher: WatcherId) -> bool {
        if self.watch_table.get(path).is_some_and(|w| w.contains(&watcher)) {
            return true;
        }
        let mut local = path;
        while let Some(i) = local.rfind('/') {
            local = if i == 0 { "/" } else { &local[..i] };
            if self.mode_of(watcher, local).is_recursive()
                && self.watch_table.get(local).is_some_and(|w| w.contains(&watcher))
            {
                return true;
            }
            if local == "/" {
                break;
            }
        }
        false
    }

    /// The paths a watcher watches here, sorted, with their modes (for re-registration).
    pub fn watches_of(&self, watcher: WatcherId) -> Vec<(String, WatcherMode)> {
        let mut out: Vec<(String, WatcherMode)> = self
            .watch_to_paths
            .get(&watcher)
            .map(|paths| paths.iter().map(|p| (p.clone(), self.mode_of(watcher, p))).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn watch_count(&self) -> usize {
        self.watch_table.values().map(Vec::len).sum()
    }
}
