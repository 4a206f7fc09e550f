//! Storage under random crashes (proptest on `MemDisk`): recovery returns exactly the synced
//! prefix of the log (a torn write may add whole unsynced records, never a partial one), the
//! tree rebuilt from snapshot + log equals the tree that applied the same txns directly, damage
//! before the tail is an error rather than silent loss, and log roll + snapshot purge keep
//! recovery correct.

use proptest::prelude::*;

use zksim::proto::{Acl, CreateMode, Request, SessionId, Zxid};
use zksim::server::{ServerConfig, StandaloneServer};
use zksim::storage::txn_log::{log_files, scan_log};
use zksim::storage::{Disk, MemDisk, Storage, StorageConfig, StorageError, TornWrite};
use zksim::tree::snapshot::{FuzzySnapshot, Snapshot};
use zksim::tree::{DataTree, TxnEntry};

const PATHS: &[&str] = &["/a", "/a/b", "/a/c", "/e", "/e/f"];

fn request_strategy() -> impl Strategy<Value = Request> {
    let path = prop::sample::select(PATHS).prop_map(String::from);
    let mode = prop_oneof![Just(CreateMode::Persistent), Just(CreateMode::Ephemeral), Just(CreateMode::PersistentSequential)];
    prop_oneof![
        4 => (path.clone(), mode, any::<u8>()).prop_map(|(path, mode, d)| Request::Create { path, data: vec![d; 3], acl: Acl::open_unsafe(), mode, ttl_ms: -1, with_stat: false }),
        2 => (path.clone(), -1i32..2).prop_map(|(path, version)| Request::Delete { path, version }),
        3 => (path, -1i32..2, any::<u8>()).prop_map(|(path, version, d)| Request::SetData { path, data: vec![d; 5], version }),
        1 => Just(Request::CloseSession),
    ]
}

/// A realistic txn sequence: what a standalone server logged for random requests from three
/// sessions (creates, deletes, setData, errors, createSession/closeSession with ephemerals).
fn txns_from(requests: &[(usize, Request)]) -> Vec<TxnEntry> {
    let mut config = ServerConfig::new(100);
    config.keep_txn_log = true;
    let mut now = 10_000;
    let mut server = StandaloneServer::new(config, now);
    let mut sessions: Vec<SessionId> = (0..3).map(|_| server.on_connect(now, 30_000, None, 0).unwrap()).collect();
    for (cxid, (session, request)) in requests.iter().enumerate() {
        now += 1;
        server.on_request(now, sessions[*session], cxid as i32, request.clone());
        if matches!(request, Request::CloseSession) {
            sessions[*session] = server.on_connect(now, 30_000, None, 0).unwrap();
        }
        server.drain_outputs();
    }
    server.txn_log().to_vec()
}

fn apply(tree: &mut DataTree, entries: &[TxnEntry]) {
    let mut events = Vec::new();
    for e in entries {
        tree.process_txn(&e.header, &e.txn, &mut events);
    }
}

fn tree_after(entries: &[TxnEntry]) -> DataTree {
    let mut tree = DataTree::new();
    apply(&mut tree, entries);
    tree
}

#[derive(Clone, Debug)]
enum Step {
    Append(usize),
    Sync,
    /// A fuzzy snapshot that begins after `start` of the synced txns (as a fraction) and sees
    /// more synced txns applied while it walks.
    Snapshot { start: prop::sample::Index, during: prop::sample::Index, nodes_first: usize },
    /// ZAB's TRUNC to a point between the newest snapshot's end and the appended end.
    Truncate(prop::sample::Index),
    /// A crash, perhaps tearing the last unsynced append (`keep` picks the prefix length).
    Crash { torn: Option<prop::sample::Index> },
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1usize..5).prop_map(Step::Append),
        3 => Just(Step::Sync),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0usize..6)
            .prop_map(|(start, during, nodes_first)| Step::Snapshot { start, during, nodes_first }),
        1 => any::<prop::sample::Index>().prop_map(Step::Truncate),
        2 => prop::option::of(any::<prop::sample::Index>()).prop_map(|torn| Step::Crash { torn }),
    ]
}

/// The model: txns `[..appended]` are in the log, `[..synced]` durably; no snapshot holds
/// effects of txns past `snapshot_end`.
struct Model {
    appended: usize,
    synced: usize,
    snapshot_end: usize,
    newest_snapshot_zxid: Option<Zxid>,
    /// Txns in the current log file; `None` when the next append starts a new file (after a
    /// snapshot, a truncation or a restart). Starting a file syncs the previous one.
    in_current_file: Option<usize>,
}

impl Model {
    fn append_one(&mut self, txns_per_log_file: usize) {
        if self.in_current_file.is_none_or(|n| n >= txns_per_log_file) {
            self.synced = self.appended;
            self.in_current_file = Some(0);
        }
        self.appended += 1;
        *self.in_current_file.as_mut().unwrap() += 1;
    }
}

fn zxid_index(txns: &[TxnEntry], zxid: Zxid) -> usize {
    txns.iter().take_while(|e| e.header.zxid <= zxid).count()
}

/// Recovers and checks the result against the model; returns how many txns survived.
fn recover_and_check(storage: &mut Storage<MemDisk>, txns: &[TxnEntry], model: &Model, torn: bool) -> Result<usize, TestCaseError> {
    let recovered = storage.recover().map_err(|e| TestCaseError::fail(format!("recovery failed: {e}")))?;
    let snapshot_zxid = recovered.snapshot.as_ref().map(|(z, _)| *z);
    prop_assert_eq!(snapshot_zxid, model.newest_snapshot_zxid);
    let from = snapshot_zxid.map_or(0, |z| zxid_index(txns, z));
    let survived = from + recovered.log.len();
    // Exactly the synced prefix; a torn write may add whole unsynced records, never more.
    if torn {
        prop_assert!(survived >= model.synced && survived <= model.appended, "survived {} synced {} appended {}", survived, model.synced, model.appended);
    } else {
        prop_assert_eq!(survived, model.synced, "without a tear exactly the synced txns survive");
        prop_assert_eq!(recovered.truncated_tail_bytes, 0);
    }
    prop_assert_eq!(&recovered.log[..], &txns[from..survived], "recovered txns are the logged ones, in order");
    // Snapshot + replay ≡ applying the same txns directly.
    let rebuilt = recovered.rebuild().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let direct = tree_after(&txns[..survived]);
    prop_assert_eq!(rebuilt.tree.digest(), direct.digest());
    prop_assert_eq!(rebuilt.tree.canonical_images(), direct.canonical_images());
    // The cut is durable: a second recovery finds nothing more to cut.
    prop_assert_eq!(storage.recover().unwrap().truncated_tail_bytes, 0);
    Ok(survived)
}

fn run_steps(txns: &[TxnEntry], steps: &[Step], config: StorageConfig) -> Result<(), TestCaseError> {
    let mut storage = Storage::new(MemDisk::new(), config);
    let mut model = Model { appended: 0, synced: 0, snapshot_end: 0, newest_snapshot_zxid: None, in_current_file: None };
    for step in steps {
        match step {
            Step::Append(n) => {
                let end = (model.appended + n).min(txns.len());
                storage.append_txns(&txns[model.appended..end]).unwrap();
                while model.appended < end {
                    model.append_one(config.txns_per_log_file);
                }
            }
            Step::Sync => {
                storage.sync_log();
                model.synced = model.appended;
            }
            Step::Snapshot { start, during, nodes_first } => {
                // Only committed (hence synced) txns are ever applied to the tree.
                let start = start.index(model.synced + 1);
                let end = start + during.index(model.synced - start + 1);
                let mut tree = tree_after(&txns[..start]);
                let mut walk = FuzzySnapshot::begin(&tree, &[]);
                walk.step(&tree, *nodes_first);
                apply(&mut tree, &txns[start..end]);
                while !walk.step(&tree, usize::MAX) {}
                let snapshot = walk.finish();
                let zxid = snapshot.last_zxid;
                storage.write_snapshot(zxid, &snapshot).unwrap();
                model.synced = model.appended; // write_snapshot syncs the log
                model.in_current_file = None; // and rolls it
                model.snapshot_end = model.snapshot_end.max(end);
                model.newest_snapshot_zxid = model.newest_snapshot_zxid.max(Some(zxid));
            }
            Step::Truncate(at) => {
                let keep = model.snapshot_end + at.index(model.appended - model.snapshot_end + 1);
                let zxid = if keep == 0 { 0 } else { txns[keep - 1].header.zxid };
                storage.truncate_log(zxid).unwrap();
                model.appended = keep;
                model.synced = keep;
                model.in_current_file = None;
            }
            Step::Crash { torn } => {
                let tear = torn.as_ref().and_then(|i| {
                    storage.disk().torn_write_candidate().map(|(_, len)| TornWrite { keep_bytes: i.index(len + 1) })
                });
                storage.disk_mut().crash(tear);
                let survived = recover_and_check(&mut storage, txns, &model, tear.is_some())?;
                model.appended = survived;
                model.synced = survived;
                model.in_current_file = None;
            }
        }
    }
    storage.disk_mut().crash(None);
    recover_and_check(&mut storage, txns, &model, false)?;
    Ok(())
}

fn requests_strategy() -> impl Strategy<Value = Vec<(usize, Request)>> {
    prop::collection::vec((0usize..3, request_strategy()), 5..50)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn recovery_returns_the_synced_prefix_and_rebuilds_the_same_tree(
        requests in requests_strategy(),
        steps in prop::collection::vec(step_strategy(), 1..40),
        txns_per_log_file in 1usize..6,
        snapshots_retained in 1usize..4,
    ) {
        let txns = txns_from(&requests);
        run_steps(&txns, &steps, StorageConfig { txns_per_log_file, snapshots_retained })?;
    }

    #[test]
    fn damage_before_the_tail_is_an_error_never_silent_loss(
        requests in requests_strategy(),
        txns_per_log_file in 1usize..8,
        victim in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let txns = txns_from(&requests);
        prop_assume!(txns.len() >= 2);
        let mut storage = Storage::new(MemDisk::new(), StorageConfig { txns_per_log_file, snapshots_retained: 3 });
        storage.append_txns(&txns).unwrap();
        storage.sync_log();
        // Any byte of any record, file headers included, but the very last record's length
        // field (a longer length makes it look cut short, like a torn write; ZooKeeper also
        // takes a record running past the end for the end of the file). The last record's
        // checksum and payload count: a whole record with a bad CRC is bit rot, never a tear.
        let scan = scan_log(storage.disk()).unwrap();
        let files = log_files(storage.disk());
        let last = scan.records.last().unwrap();
        let victims: Vec<(String, usize)> = files
            .iter()
            .flat_map(|(_, name)| {
                let len = storage.disk().len(name).unwrap();
                let in_last_file = *name == files[last.file_index].1;
                (0..len).filter(move |&offset| !(in_last_file && (last.offset..last.offset + 4).contains(&offset))).map(move |offset| (name.clone(), offset))
            })
            .collect();
        let (name, offset) = &victims[victim.index(victims.len())];
        let old = storage.disk().read(name).unwrap()[*offset];
        storage.disk_mut().corrupt(name, *offset, &[old ^ flip]);
        match storage.recover() {
            Err(StorageError::CorruptLog { file, .. }) => prop_assert_eq!(&file, name),
            Err(StorageError::LogOutOfOrder { .. }) => {} // a flipped zxid that still decodes
            Err(other) => prop_assert!(false, "unexpected error {}", other),
            Ok(recovered) => {
                // Only acceptable if nothing was lost: a flip inside a payload that still
                // checksums is impossible (crc32 catches every 1-byte error), so Ok is a bug.
                prop_assert!(false, "corruption at {}:{} went unnoticed ({} txns recovered)", name, offset, recovered.log.len());
            }
        }
    }
}

#[test]
fn a_bad_newest_snapshot_is_skipped_and_all_bad_snapshots_fail() {
    let txns = txns_from(&[(0, Request::Create { path: "/a".into(), data: vec![1], acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: -1, with_stat: false })]);
    let mut storage = Storage::new(MemDisk::new(), StorageConfig::default());
    storage.append_txns(&txns).unwrap();
    let first = Snapshot::of(&tree_after(&txns[..1]), &[]);
    let second = Snapshot::of(&tree_after(&txns), &[]);
    storage.write_snapshot(first.last_zxid, &first).unwrap();
    storage.write_snapshot(second.last_zxid, &second).unwrap();
    let newest = format!("snapshot.{:x}", second.last_zxid);
    storage.disk_mut().corrupt(&newest, 10, b"\xee");
    let recovered = storage.recover().unwrap();
    assert_eq!(recovered.snapshot.as_ref().unwrap().0, first.last_zxid);
    assert_eq!(recovered.skipped_snapshots[0].0, newest);
    assert_eq!(recovered.rebuild().unwrap().tree.digest(), tree_after(&txns).digest());
    let oldest = format!("snapshot.{:x}", first.last_zxid);
    storage.disk_mut().corrupt(&oldest, 10, b"\xee");
    let err = storage.recover().unwrap_err();
    assert!(matches!(err, StorageError::NoValidSnapshot { .. }));
    assert!(err.to_string().contains(&oldest) && err.to_string().contains(&newest), "{err}");
}

#[test]
fn accepted_epoch_below_current_epoch_fails_startup() {
    let mut disk = MemDisk::new();
    disk.write_file("acceptedEpoch", b"2\n");
    disk.write_file("currentEpoch", b"5\n");
    disk.sync("acceptedEpoch");
    disk.sync("currentEpoch");
    let err = zksim::storage::recover(&mut disk).unwrap_err();
    assert_eq!(err.to_string(), "The accepted epoch, 2 is less than the current epoch, 5");
}
