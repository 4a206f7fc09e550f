//! The database a server's last load produced, kept to start its next load from.
//!
//! Why: a server reloads its database from its own files whenever it leaves a role (the
//! ZOOKEEPER-2845 fix, `peer::reload_database`) and on TRUNC, replaying every txn logged since
//! its newest snapshot — ~6% of a default run went into replaying the same txns again at each
//! election. A load is a function of the newest snapshot and the log after it alone, so when the
//! files still begin the same way (the same snapshot, the txns the last load replayed still the
//! log's first), the next load is the kept database with only the txns logged since applied.
//! The result is the database a fresh load builds, structure for structure (a test holds the two
//! equal through appends, truncations and snapshots); nothing about the schedule changes.
//!
//! Identity is by `Arc`: the memo holds the snapshot and the txns it replayed, so a pointer it
//! compares cannot be reused for other contents while it does.
//!
//! Most reloads do not even need the memo: the database being replaced usually *is* the load
//! up to its last applied txn — it started at the newest snapshot and applied the log's txns in
//! order ([`super::database::Lineage`]) — so [`LoadMemo::reload`] keeps it (watches dropped, the
//! only state a load does not rebuild) and replays what was logged and not yet applied. No copy
//! of the tree is made and no txn is applied twice.

use std::sync::Arc;

use super::database::{DiskMirror, ZkDatabase};
use crate::tree::snapshot::Snapshot;
use crate::tree::TxnEntry;

/// A server's last load: from which snapshot, which txns it replayed, and the database.
#[derive(Default)]
pub struct LoadMemo {
    snapshot: Option<Arc<Snapshot>>,
    replayed: Vec<Arc<TxnEntry>>,
    db: Option<ZkDatabase>,
    /// Txns applied by this memo's loads, all told (what a fresh load per call would multiply).
    applied: u64,
    /// Reloads that kept the live database.
    kept: u64,
}

impl LoadMemo {
    /// Reloads `db` from `mirror` (`loadDataBase`): the same database as [`ZkDatabase::load`].
    /// When `db`'s lineage shows it is that load up to some txn of the log (it started at the
    /// newest snapshot and applied only the log's first txns), it is kept — watches dropped —
    /// and only the rest of the log is replayed; otherwise it is replaced by [`LoadMemo::load`].
    pub fn reload(&mut self, mirror: &DiskMirror, commit_log_count: usize, db: &mut ZkDatabase) {
        let snapshot = mirror.snapshots.last();
        let from = snapshot.map_or(0, |s| s.last_zxid);
        let after: Vec<&Arc<TxnEntry>> = mirror.log.iter().filter(|e| e.header.zxid > from).collect();
        let kept = db.lineage().applied_prefix_of(snapshot, &after).filter(|_| db.commit_log_count() == commit_log_count);
        let Some(applied) = kept else {
            *db = self.load(mirror, commit_log_count);
            return;
        };
        db.drop_watches();
        for entry in &after[applied..] {
            db.replay(entry);
            self.applied += 1;
        }
        self.kept += 1;
        assert_eq!(db.last_processed_zxid(), mirror.last_logged_zxid(), "a reload ends at the last logged zxid");
    }

    /// `loadDataBase` of `mirror`: the same database as [`ZkDatabase::load`], built from the
    /// last load when the files still begin with what it read.
    pub fn load(&mut self, mirror: &DiskMirror, commit_log_count: usize) -> ZkDatabase {
        let snapshot = mirror.snapshots.last();
        let from = snapshot.map_or(0, |s| s.last_zxid);
        let after: Vec<&Arc<TxnEntry>> = mirror.log.iter().filter(|e| e.header.zxid > from).collect();
        if !self.still_begins(snapshot, &after, commit_log_count) {
            self.snapshot = snapshot.cloned();
            self.replayed.clear();
            self.db = Some(ZkDatabase::at_snapshot(snapshot, commit_log_count));
        }
        let db = self.db.as_mut().expect("a memo holds a database once it loaded");
        for entry in &after[self.replayed.len()..] {
            db.replay(entry);
            self.replayed.push(Arc::clone(entry));
            self.applied += 1;
        }
        assert_eq!(db.last_processed_zxid(), mirror.last_logged_zxid(), "a load ends at the last logged zxid");
        db.clone()
    }

    /// Whether the files begin with what the last load read: the same newest snapshot, and
    /// the txns it replayed the first ones after it.
    fn still_begins(&self, snapshot: Option<&Arc<Snapshot>>, after: &[&Arc<TxnEntry>], commit_log_count: usize) -> bool {
        let same_snapshot = match (&self.snapshot, snapshot) {
            (None, None) => true,
            (Some(kept), Some(now)) => Arc::ptr_eq(kept, now),
            _ => false,
        };
        let same_db = self.db.as_ref().is_some_and(|db| db.commit_log_count() == commit_log_count);
        same_db
            && same_snapshot
            && self.replayed.len() <= after.len()
            && self.replayed.iter().zip(after).all(|(kept, now)| Arc::ptr_eq(kept, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{DataTree, Txn, TxnHeader};

    fn entry(zxid: i64, path: &str) -> Arc<TxnEntry> {
        let header = TxnHeader { client_id: 7, cxid: zxid as i32, zxid, time_ms: zxid };
        let txn = Txn::Create { path: path.into(), data: vec![zxid as u8], acl: crate::proto::Acl::open_unsafe(), ephemeral: false, parent_cversion: zxid as i32, with_stat: false };
        Arc::new(TxnEntry { header, txn })
    }

    fn same(memo: &mut LoadMemo, mirror: &DiskMirror) {
        let fresh = format!("{:?}", ZkDatabase::load(mirror, 5));
        let kept = format!("{:?}", memo.load(mirror, 5));
        assert_eq!(kept, fresh, "a memo's load is a fresh load");
    }

    #[test]
    fn a_memo_load_equals_a_fresh_load_through_appends_truncations_and_snapshots() {
        let mut mirror = DiskMirror::default();
        let mut memo = LoadMemo::default();
        same(&mut memo, &mirror);
        for zxid in 1..=6 {
            mirror.append(entry(zxid, &format!("/n{zxid}")));
            same(&mut memo, &mirror);
        }
        // A TRUNC, then different txns at the truncated zxids and beyond, before the next load:
        // the log is longer than what the memo replayed, and the memo must not keep its txns.
        mirror.truncate(3);
        for zxid in 4..=7 {
            mirror.append(entry(zxid, &format!("/other{zxid}")));
        }
        same(&mut memo, &mirror);
        mirror.truncate(3);
        same(&mut memo, &mirror);
        let db = ZkDatabase::load(&mirror, 5);
        mirror.add_snapshot(Arc::new(Snapshot::of(&db.tree, &db.session_list())));
        mirror.append(entry(6, "/after-snap"));
        assert_eq!(memo.load(&mirror, 5).tree.node_count(), DataTree::new().node_count() + 4, "three creates before the snapshot, one after");
    }

    /// A reload that keeps the live database gives what a fresh load gives: after commits
    /// (applied as a server applies them, watches firing), with txns logged but not yet
    /// applied, and not after a snapshot or a TRUNC (those reload from the files).
    #[test]
    fn a_reload_keeping_the_live_database_is_a_fresh_load() {
        let mut mirror = DiskMirror::default();
        let mut memo = LoadMemo::default();
        let mut db = memo.load(&mirror, 5);
        let watcher = 42;
        for zxid in 1..=6 {
            let e = entry(zxid, &format!("/n{zxid}"));
            mirror.append(Arc::clone(&e));
            if zxid <= 4 {
                let _ = db.tree.get_children("/", Some(watcher));
                let mut events = Vec::new();
                db.apply(&e, &mut events);
                assert!(!events.is_empty(), "the child watch fired");
            }
        }
        let _ = db.tree.get_data("/n1", Some(watcher));
        memo.reload(&mirror, 5, &mut db);
        assert_eq!(memo.kept, 1, "the live database was kept");
        assert_eq!(format!("{db:?}"), format!("{:?}", ZkDatabase::load(&mirror, 5)), "kept, watches dropped, two txns replayed");
        // Applied out of the log's order (a txn the log does not hold): not kept.
        let stray = entry(7, "/stray");
        db.apply(&stray, &mut Vec::new());
        mirror.append(entry(7, "/logged"));
        memo.reload(&mirror, 5, &mut db);
        assert_eq!(memo.kept, 1);
        assert_eq!(format!("{db:?}"), format!("{:?}", ZkDatabase::load(&mirror, 5)));
        // A snapshot written since: the next reload starts from it.
        let snap = Arc::new(Snapshot::of(&db.tree, &db.session_list()));
        mirror.add_snapshot(snap);
        db.forget_lineage();
        mirror.append(entry(8, "/after-snap"));
        memo.reload(&mirror, 5, &mut db);
        assert_eq!(format!("{db:?}"), format!("{:?}", ZkDatabase::load(&mirror, 5)));
        // The reloaded database is from the snapshot: it is kept at the next reload.
        let kept = memo.kept;
        memo.reload(&mirror, 5, &mut db);
        assert_eq!(memo.kept, kept + 1);
        // The buggy DIFF path's claimed zxid is not a load: a reload starts over.
        db.set_last_processed_zxid(db.last_processed_zxid() + 10);
        memo.reload(&mirror, 5, &mut db);
        assert_eq!(memo.kept, kept + 1);
        assert_eq!(format!("{db:?}"), format!("{:?}", ZkDatabase::load(&mirror, 5)));
    }

    #[test]
    fn a_memo_load_replays_only_what_was_logged_since() {
        let mut mirror = DiskMirror::default();
        let mut memo = LoadMemo::default();
        for zxid in 1..=4 {
            mirror.append(entry(zxid, &format!("/n{zxid}")));
        }
        memo.load(&mirror, 5);
        memo.load(&mirror, 5);
        assert_eq!(memo.applied, 4, "a second load of the same files replays nothing");
        mirror.append(entry(5, "/n5"));
        memo.load(&mirror, 5);
        assert_eq!(memo.applied, 5, "only the txn logged since is replayed");
        mirror.truncate(2);
        memo.load(&mirror, 5);
        assert_eq!(memo.applied, 7, "after a truncation the memo starts over: two txns");
    }
}
