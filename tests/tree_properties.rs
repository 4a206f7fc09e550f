//! Properties of the data tree over random operation sequences (proptest, 1,000 cases each):
//! counters consistent with children, digest unchanged by snapshot/restore, by fuzzy snapshots
//! with replay, and by re-applying transactions; multi atomic; sequential names unique and
//! increasing per parent.

use std::collections::BTreeMap;

use proptest::prelude::*;

use zksim::proto::{Acl, Code, CreateMode, Op, OpResult, Request, Response, SessionId};
use zksim::server::{ServerConfig, ServerOutput, StandaloneServer};
use zksim::tree::snapshot::{FuzzySnapshot, Snapshot};
use zksim::tree::{DataTree, Txn, TxnEntry};

const PATHS: &[&str] = &["/a", "/a/b", "/a/c", "/a/b/d", "/e", "/e/f", "/a/e"];

#[derive(Clone, Debug)]
enum Action {
    Request { session: usize, request: Request },
    CloseSession { session: usize },
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::sample::select(PATHS).prop_map(String::from)
}

fn mode_strategy() -> impl Strategy<Value = CreateMode> {
    prop_oneof![
        4 => Just(CreateMode::Persistent),
        2 => Just(CreateMode::Ephemeral),
        3 => Just(CreateMode::PersistentSequential),
        1 => Just(CreateMode::EphemeralSequential),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (path_strategy(), mode_strategy(), any::<u8>()).prop_map(|(path, mode, d)| Op::Create {
            path,
            data: vec![d],
            acl: Acl::open_unsafe(),
            mode,
            ttl_ms: -1,
            with_stat: false,
        }),
        (path_strategy(), -1i32..3).prop_map(|(path, version)| Op::Delete { path, version }),
        (path_strategy(), -1i32..3, any::<u8>()).prop_map(|(path, version, d)| Op::SetData { path, data: vec![d; 3], version }),
        (path_strategy(), -1i32..3).prop_map(|(path, version)| Op::Check { path, version }),
    ]
}

fn request_strategy() -> impl Strategy<Value = Request> {
    prop_oneof![
        6 => op_strategy().prop_map(|op| match op {
            Op::Create { path, data, acl, mode, ttl_ms, .. } => Request::Create { path, data, acl, mode, ttl_ms, with_stat: true },
            Op::Delete { path, version } => Request::Delete { path, version },
            Op::SetData { path, data, version } => Request::SetData { path, data, version },
            Op::Check { path, .. } => Request::Exists { path, watch: true },
            _ => unreachable!(),
        }),
        2 => prop::collection::vec(op_strategy(), 1..5).prop_map(|ops| Request::Multi { ops }),
        1 => path_strategy().prop_map(|path| Request::GetChildren { path, watch: true, with_stat: true }),
    ]
}

fn action_strategy() -> impl Strategy<Value = Action> {
    prop_oneof![
        20 => (0usize..3, request_strategy()).prop_map(|(session, request)| Action::Request { session, request }),
        1 => (0usize..3).prop_map(|session| Action::CloseSession { session }),
    ]
}

/// What running a sequence of actions produced.
struct Run {
    server: StandaloneServer,
    /// (request, result, digest before, digest after)
    replies: Vec<(Request, Result<Response, Code>, u64, u64)>,
}

fn run(actions: &[Action]) -> Run {
    let mut config = ServerConfig::new(100);
    config.keep_txn_log = true;
    let mut now = 10_000;
    let mut server = StandaloneServer::new(config, now);
    let mut sessions: Vec<SessionId> = (0..3).map(|_| server.on_connect(now, 30_000, None, 0).unwrap()).collect();
    server.drain_outputs();
    let mut replies = Vec::new();
    for (cxid, action) in actions.iter().enumerate() {
        now += 1;
        let (session, request) = match action {
            Action::Request { session, request } => (*session, request.clone()),
            Action::CloseSession { session } => (*session, Request::CloseSession),
        };
        let before = server.tree.digest();
        server.on_request(now, sessions[session], cxid as i32, request.clone());
        let after = server.tree.digest();
        for output in server.drain_outputs() {
            if let ServerOutput::Reply { result, session: to, .. } = output {
                if to == sessions[session] {
                    replies.push((request.clone(), result, before, after));
                }
            }
        }
        if matches!(request, Request::CloseSession) {
            sessions[session] = server.on_connect(now, 30_000, None, 0).unwrap();
            server.drain_outputs();
        }
    }
    Run { server, replies }
}

fn replay(log: &[TxnEntry], onto: &mut DataTree) {
    let mut events = Vec::new();
    for entry in log {
        onto.process_txn(&entry.header, &entry.txn, &mut events);
    }
}

/// Successful creates + deletes of direct children, per live node (a re-created node starts
/// again from zero), computed from the transaction log.
fn child_changes(log: &[TxnEntry]) -> BTreeMap<String, i32> {
    fn parent(path: &str) -> String {
        let i = path.rfind('/').unwrap();
        if i == 0 { "/".into() } else { path[..i].into() }
    }
    fn created(path: &str, out: &mut BTreeMap<String, i32>) {
        *out.entry(parent(path)).or_default() += 1;
        out.insert(path.to_string(), 0);
    }
    fn deleted(path: &str, out: &mut BTreeMap<String, i32>) {
        *out.entry(parent(path)).or_default() += 1;
        out.remove(path);
    }
    fn count(txn: &Txn, out: &mut BTreeMap<String, i32>) {
        match txn {
            Txn::Create { path, .. } => created(path, out),
            Txn::Delete { path } => deleted(path, out),
            Txn::CloseSession { paths_to_delete } => paths_to_delete.iter().for_each(|p| deleted(p, out)),
            Txn::Multi { txns } if !txn.is_error() => txns.iter().for_each(|t| count(t, out)),
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for entry in log {
        count(&entry.txn, &mut out);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn counters_agree_with_children(actions in prop::collection::vec(action_strategy(), 1..60)) {
        let run = run(&actions);
        let tree = &run.server.tree;
        let changes = child_changes(run.server.txn_log());
        for image in tree.canonical_images() {
            let node = tree.node(&image.path).unwrap();
            let stat = node.copy_stat();
            prop_assert_eq!(stat.num_children as usize, node.children().len());
            if !image.path.starts_with("/zookeeper") && image.path != "/" {
                let expected = changes.get(&image.path).copied().unwrap_or(0);
                prop_assert_eq!(stat.cversion, expected, "cversion of {}", image.path);
            }
        }
        prop_assert_eq!(tree.digest(), tree.recompute_digest());
    }

    #[test]
    fn snapshot_round_trip_and_replay_preserve_the_digest(actions in prop::collection::vec(action_strategy(), 1..60)) {
        let run = run(&actions);
        let tree = &run.server.tree;
        let snapshot = run.server.snapshot();
        let decoded = Snapshot::decode(&snapshot.encode()).unwrap();
        prop_assert_eq!(&decoded, &snapshot);
        let restored = decoded.restore().unwrap();
        prop_assert_eq!(restored.digest(), tree.digest());
        prop_assert_eq!(restored.canonical_images(), tree.canonical_images());
        // A replica that applies the same log reaches the same tree.
        let mut replica = DataTree::new();
        replay(run.server.txn_log(), &mut replica);
        prop_assert_eq!(replica.digest(), tree.digest());
    }

    #[test]
    fn reapplying_any_suffix_of_the_log_changes_nothing(
        actions in prop::collection::vec(action_strategy(), 1..60),
        cut in any::<prop::sample::Index>(),
    ) {
        let run = run(&actions);
        let log = run.server.txn_log();
        let mut tree = run.server.tree.clone();
        let digest = tree.digest();
        let images = tree.canonical_images();
        replay(&log[cut.index(log.len())..], &mut tree);
        prop_assert_eq!(tree.digest(), digest);
        prop_assert_eq!(tree.canonical_images(), images);
    }

    #[test]
    fn fuzzy_snapshot_plus_replay_equals_no_snapshot(
        actions in prop::collection::vec(action_strategy(), 1..60),
        start in any::<prop::sample::Index>(),
        pace in 1usize..4,
    ) {
        let run = run(&actions);
        let log = run.server.txn_log();
        let start = start.index(log.len());
        // A replica applies the log; a snapshot walk starts at `start` and advances `pace`
        // nodes between transactions, so the image mixes states.
        let mut live = DataTree::new();
        replay(&log[..start], &mut live);
        let mut walk = FuzzySnapshot::begin(&live, &[]);
        let mut events = Vec::new();
        let mut done = false;
        for entry in &log[start..] {
            live.process_txn(&entry.header, &entry.txn, &mut events);
            done = done || walk.step(&live, pace);
        }
        while !done {
            done = walk.step(&live, pace);
        }
        let snapshot = walk.finish();
        let mut recovered = Snapshot::decode(&snapshot.encode()).unwrap().restore().unwrap();
        let from = snapshot.last_zxid;
        replay(&log.iter().filter(|e| e.header.zxid > from).cloned().collect::<Vec<_>>(), &mut recovered);
        prop_assert_eq!(recovered.digest(), run.server.tree.digest());
        prop_assert_eq!(recovered.canonical_images(), run.server.tree.canonical_images());
    }

    #[test]
    fn multi_is_all_or_nothing(actions in prop::collection::vec(action_strategy(), 1..60)) {
        let run = run(&actions);
        for (request, result, before, after) in &run.replies {
            if let (Request::Multi { ops }, Ok(Response::Multi { results })) = (request, result) {
                prop_assert_eq!(ops.len(), results.len());
                let failed = results.iter().any(|r| matches!(r, OpResult::Error { .. }));
                if failed {
                    prop_assert_eq!(before, after, "a failed multi changed the tree");
                    let first = results.iter().position(|r| !matches!(r, OpResult::Error { code: Code::Ok })).unwrap();
                    let rolled_back = OpResult::Error { code: Code::Ok };
                    let inconsistent = OpResult::Error { code: Code::RuntimeInconsistency };
                    prop_assert!(results[..first].iter().all(|r| *r == rolled_back), "ops before the failure: {:?}", results);
                    prop_assert!(results[first + 1..].iter().all(|r| *r == inconsistent), "ops after the failure: {:?}", results);
                } else {
                    let changes = ops.iter().any(|o| !matches!(o, Op::Check { .. }));
                    prop_assert_eq!(changes, before != after, "a successful multi applies all its ops: {:?}", ops);
                }
            }
        }
    }

    /// Per parent *node*: a parent deleted and created again starts its counter (its cversion)
    /// at 0, as ZooKeeper's does (proptest found /a/b0000000000 after /a/e0000000000 of the
    /// deleted /a — the property, not the tree, was wrong).
    #[test]
    fn sequential_names_are_unique_and_increasing_per_parent(actions in prop::collection::vec(action_strategy(), 1..80)) {
        let run = run(&actions);
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        fn check(last: &mut BTreeMap<String, i64>, requested: &str, created: &str) -> Result<(), TestCaseError> {
            let suffix: i64 = created[requested.len()..].parse().unwrap();
            prop_assert_eq!(created.len(), requested.len() + 10);
            let parent = requested[..requested.rfind('/').unwrap()].to_string();
            if let Some(prev) = last.get(&parent) {
                prop_assert!(suffix > *prev, "{} after suffix {}", created, prev);
            }
            last.insert(parent, suffix);
            Ok(())
        }
        for (request, result, _, _) in &run.replies {
            match (request, result) {
                (Request::Create { path, mode, .. }, Ok(Response::Create { path: created, .. })) if mode.is_sequential() => {
                    check(&mut last, path, created)?;
                }
                (Request::Delete { path, .. }, Ok(_)) => {
                    last.remove(path);
                }
                (Request::Multi { ops }, Ok(Response::Multi { results })) => {
                    for (op, r) in ops.iter().zip(results) {
                        match (op, r) {
                            (Op::Create { path, mode, .. }, OpResult::Create { path: created, .. }) if mode.is_sequential() => {
                                check(&mut last, path, created)?;
                            }
                            (Op::Delete { path, .. }, OpResult::Delete) => {
                                last.remove(path);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
