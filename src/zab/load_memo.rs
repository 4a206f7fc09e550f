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
//! Identity is by `Arc`: a database's lineage ([`super::database::Lineage`]) holds the
//! snapshot it started at and the txns it applied, so a pointer it compares cannot be reused for
//! other contents while it does.
//!
//! Most reloads do not even need the memo: the database being replaced usually *is* the load
//! up to its last applied txn — it started at the newest snapshot and applied the log's txns in
//! order — so [`LoadMemo::reload`] keeps it (watches dropped, the only state a load does not
//! rebuild) and replays what was logged and not yet applied. No copy of the tree is made and no
//! txn is applied twice. The memo's own database is judged by the same lineage.

use std::sync::Arc;

use super::database::{DiskMirror, ZkDatabase};
use crate::tree::snapshot::Snapshot;
use crate::tree::TxnEntry;

/// A server's last load of its files (its lineage says what it read).
#[derive(Default)]
pub struct LoadMemo {
    db: Option<ZkDatabase>,
    /// Txns applied by this memo's loads, all told (what a fresh load per call would multiply).
    applied: u64,
    /// Reloads that kept the live database.
    kept: u64,
}

/// What a load of `mirror` applies: the newest snapshot (if any) and the logged txns after it.
fn load_input(mirror: &DiskMirror) -> (Option<&Arc<Snapshot>>, Vec<&Arc<TxnEntry>>) {
    let snapshot = mirror.snapshots.last();
    let from = snapshot.map_or(0, |s| s.last_zxid);
    (snapshot, mirror.log.iter().filter(|e| e.header.zxid > from).collect())
}

/// How many of `after`'s txns `db` is the load of, when its lineage is the beginning of that
/// load (same snapshot, the log's first txns, the same commitLogCount).
fn loaded_so_far(db: &ZkDatabase, snapshot: Option<&Arc<Snapshot>>, after: &[&Arc<TxnEntry>], commit_log_count: usize) -> Option<usize> {
    db.lineage().applied_prefix_of(snapshot, after).filter(|_| db.commit_log_count() == commit_log_count)
}

/// Replays `after`'s txns from the `done`th on; returns how many.
fn catch_up(db: &mut ZkDatabase, after: &[&Arc<TxnEntry>], done: usize, mirror: &DiskMirror) -> u64 {
    for entry in &after[done..] {
        db.replay(entry);
    }
    assert_eq!(db.last_processed_zxid(), mirror.last_logged_zxid(), "a load ends at the last logged zxid");
    (after.len() - done) as u64
}

impl LoadMemo {
    /// Reloads `db` from `mirror` (`loadDataBase`): the same database as [`ZkDatabase::load`].
    /// When `db`'s lineage shows it is that load up to some txn of the log, it is kept — watches
    /// dropped — and only the rest of the log is replayed; otherwise it is replaced by
    /// [`LoadMemo::load`].
    pub fn reload(&mut self, mirror: &DiskMirror, commit_log_count: usize, db: &mut ZkDatabase) {
        let (snapshot, after) = load_input(mirror);
        let Some(done) = loaded_so_far(db, snapshot, &after, commit_log_count) else {
            *db = self.load(mirror, commit_log_count);
            return;
        };
        db.drop_watches();
        self.applied += catch_up(db, &after, done, mirror);
        self.kept += 1;
    }

    /// `loadDataBase` of `mirror`: the same database as [`ZkDatabase::load`], built from the
    /// last load when the files still begin with what it read.
    pub fn load(&mut self, mirror: &DiskMirror, commit_log_count: usize) -> ZkDatabase {
        let (snapshot, after) = load_input(mirror);
        let done = self.db.as_ref().and_then(|db| loaded_so_far(db, snapshot, &after, commit_log_count));
        if done.is_none() {
            self.db = Some(ZkDatabase::at_snapshot(snapshot, commit_log_count));
        }
        let db = self.db.as_mut().expect("a memo holds a database once it loaded");
        self.applied += catch_up(db, &after, done.unwrap_or(0), mirror);
        db.clone()
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
