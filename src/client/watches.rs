//! The client's own record of its watches (`ZKWatchManager`).
//!
//! Why: the server forgets a session's watches when its connection goes; the client remembers
//! them, re-registers them on reconnect (`SetWatches`), and decides which notifications reach
//! the application. ZooKeeper keeps each kind in a Java `HashMap` keyed by path, and the order of
//! `SetWatches`' lists — which decides the order of the events a new server fires at once — is
//! that map's key order, so the sets here are [`JavaHashSet`]s.
//!
//! One watcher only: every watch is the session's default watcher (`watch = true`), so an event
//! that several registrations match is delivered once, as ZooKeeper does for a single watcher.

use crate::proto::{AddWatchMode, Code, EventType, Request, Response, WatchedEvent, WatcherType};
use crate::tree::java_hash_set::JavaHashSet;

/// Java's `HashMap` default capacity.
const JAVA_DEFAULT_CAPACITY: usize = 16;

#[derive(Clone, Debug)]
pub struct ClientWatches {
    pub data: JavaHashSet,
    pub exist: JavaHashSet,
    pub child: JavaHashSet,
    pub persistent: JavaHashSet,
    pub persistent_recursive: JavaHashSet,
}

impl Default for ClientWatches {
    fn default() -> Self {
        ClientWatches {
            data: JavaHashSet::with_capacity(JAVA_DEFAULT_CAPACITY),
            exist: JavaHashSet::with_capacity(JAVA_DEFAULT_CAPACITY),
            child: JavaHashSet::with_capacity(JAVA_DEFAULT_CAPACITY),
            persistent: JavaHashSet::with_capacity(JAVA_DEFAULT_CAPACITY),
            persistent_recursive: JavaHashSet::with_capacity(JAVA_DEFAULT_CAPACITY),
        }
    }
}

fn owned(set: &JavaHashSet) -> Vec<String> {
    set.iter_order().into_iter().map(String::from).collect()
}

impl ClientWatches {
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.persistent_recursive.is_empty()
    }

    /// The `SetWatches` request a reconnect sends (`primeConnection`), or None without watches.
    pub fn set_watches_request(&self, relative_zxid: i64) -> Option<Request> {
        if self.is_empty() {
            return None;
        }
        Some(Request::SetWatches {
            relative_zxid,
            data_watches: owned(&self.data),
            exist_watches: owned(&self.exist),
            child_watches: owned(&self.child),
            persistent_watches: owned(&self.persistent),
            persistent_recursive_watches: owned(&self.persistent_recursive),
        })
    }

    /// `WatchRegistration.register`: what a completed request adds (`shouldAddWatch`).
    pub fn register(&mut self, request: &Request, result: &Result<Response, Code>) {
        match (request, result) {
            // ExistsWatchRegistration: present → data watch, absent → exist watch.
            (Request::Exists { path, watch: true }, Ok(_)) => {
                self.data.insert(path);
            }
            (Request::Exists { path, watch: true }, Err(Code::NoNode)) => {
                self.exist.insert(path);
            }
            (Request::GetData { path, watch: true }, Ok(_)) => {
                self.data.insert(path);
            }
            (Request::GetChildren { path, watch: true, .. }, Ok(_)) => {
                self.child.insert(path);
            }
            (Request::AddWatch { path, mode }, Ok(_)) => {
                match mode {
                    AddWatchMode::Persistent => self.persistent.insert(path),
                    AddWatchMode::PersistentRecursive => self.persistent_recursive.insert(path),
                };
            }
            _ => {}
        }
    }

    /// `ZKWatchManager.materialize`: removes the one-time watches an event triggers and says
    /// whether any watch (one-time or persistent) wants it.
    pub fn materialize(&mut self, event: &WatchedEvent) -> bool {
        let path = event.path.as_str();
        let mut matched = false;
        match event.event_type {
            EventType::NodeDataChanged | EventType::NodeCreated => {
                matched |= self.data.remove(path);
                matched |= self.exist.remove(path);
            }
            EventType::NodeChildrenChanged => {
                matched |= self.child.remove(path);
            }
            EventType::NodeDeleted => {
                matched |= self.data.remove(path);
                matched |= self.exist.remove(path); // "shouldn't happen", ZooKeeper removes it anyway
                matched |= self.child.remove(path);
            }
            _ => return false,
        }
        matched |= self.persistent.contains(path);
        // Recursive watches promise no child events (the server may still send them for a
        // standard child watch on a descendant).
        if event.event_type != EventType::NodeChildrenChanged {
            matched |= path_and_ancestors(path).any(|p| self.persistent_recursive.contains(p));
        }
        matched
    }

    /// A successful `removeWatches`: drops the local registrations of that type at `path` and
    /// returns the removal events ZooKeeper delivers locally to the removed watcher.
    pub fn remove(&mut self, path: &str, watcher_type: WatcherType) -> Vec<WatchedEvent> {
        let mut removed_data = false;
        let mut removed_child = false;
        let mut removed_persistent = false;
        if matches!(watcher_type, WatcherType::Children | WatcherType::Any) {
            removed_child |= self.child.remove(path);
        }
        if matches!(watcher_type, WatcherType::Data | WatcherType::Any) {
            removed_data |= self.data.remove(path);
            removed_data |= self.exist.remove(path);
        }
        removed_persistent |= self.persistent.remove(path);
        removed_persistent |= self.persistent_recursive.remove(path);
        let event = |event_type| WatchedEvent { event_type, path: path.to_string() };
        let mut events = Vec::new();
        if removed_data {
            events.push(event(EventType::DataWatchRemoved));
        }
        if removed_child {
            events.push(event(EventType::ChildWatchRemoved));
        }
        if removed_persistent {
            events.push(event(EventType::PersistentWatchRemoved));
        }
        events
    }
}

/// `PathParentIterator.forAll`: the path itself, then each ancestor up to `/`.
fn path_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current == "/" {
            None
        } else {
            match current.rfind('/') {
                Some(0) => Some("/"),
                Some(i) => Some(&current[..i]),
                None => None,
            }
        };
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_run_up_to_root() {
        let all: Vec<&str> = path_and_ancestors("/a/b/c").collect();
        assert_eq!(all, ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(path_and_ancestors("/").collect::<Vec<_>>(), ["/"]);
    }

    #[test]
    fn one_time_watches_fire_once_and_recursive_skip_child_events() {
        let mut w = ClientWatches::default();
        w.register(&Request::Exists { path: "/x".into(), watch: true }, &Err(Code::NoNode));
        assert!(w.exist.contains("/x"));
        let created = WatchedEvent { event_type: EventType::NodeCreated, path: "/x".into() };
        assert!(w.materialize(&created));
        assert!(!w.materialize(&created), "a standard watch fires once");
        w.register(&Request::AddWatch { path: "/r".into(), mode: AddWatchMode::PersistentRecursive }, &Ok(Response::Empty));
        let child = WatchedEvent { event_type: EventType::NodeChildrenChanged, path: "/r/a".into() };
        assert!(!w.materialize(&child));
        let changed = WatchedEvent { event_type: EventType::NodeDataChanged, path: "/r/a/b".into() };
        assert!(w.materialize(&changed) && w.materialize(&changed), "persistent watches stay");
    }
}
