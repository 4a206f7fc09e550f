//! The madsim disk plugin: a killed node loses its unsynced bytes and keeps the synced ones, a
//! torn write is cut away by recovery and never applied, and the same seed gives the same
//! crashes, tears and recovered logs.
#![cfg(madsim)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};
use madsim::Config;

use zksim::proto::Zxid;
use zksim::sim::disk::SimDisk;
use zksim::storage::{inspect, Storage, StorageConfig};
use zksim::tree::{Txn, TxnEntry, TxnHeader};

fn entry(zxid: Zxid) -> TxnEntry {
    TxnEntry {
        header: TxnHeader { client_id: 7, cxid: zxid as i32, zxid, time_ms: zxid * 10 },
        txn: Txn::SetData { path: "/x".into(), data: vec![zxid as u8; (zxid % 50) as usize], version: zxid as i32 },
    }
}

/// What one seed did: per kill, (bytes lost, bytes kept by a tear, txns recovered, torn-tail
/// bytes recovery cut).
type Outcome = Vec<(usize, usize, usize, usize)>;

const KILLS: usize = 8;

fn run(seed: u64) -> Outcome {
    let rt = Runtime::with_seed_and_config(seed, Config::default());
    rt.add_simulator::<SimDisk>();
    rt.block_on(async move {
        let sim = SimDisk::current();
        sim.set_torn_write_probability(0.7);
        sim.set_default_fsync_latency(Duration::from_millis(3));
        // State captured outside the node's init survives its restarts: what it acknowledged.
        let acked: Arc<Mutex<Zxid>> = Arc::new(Mutex::new(0));
        let acked_in_node = acked.clone();
        let node = Handle::current()
            .create_node()
            .name("server")
            .init(move || {
                let acked = acked_in_node.clone();
                async move {
                    let disk = SimDisk::current_node_disk();
                    let latency = disk.fsync_latency();
                    let mut storage = Storage::new(disk, StorageConfig { txns_per_log_file: 5, snapshots_retained: 3 });
                    let recovered = storage.recover().expect("recovery after a kill");
                    let mut next = recovered.last_logged_zxid.unwrap_or(0) + 1;
                    loop {
                        let batch: Vec<TxnEntry> = (0..thread_rng().gen_range(1..4)).map(|i| entry(next + i)).collect();
                        next += batch.len() as i64;
                        storage.append_txns(&batch).unwrap();
                        // The fsync takes time; a kill may land before it completes.
                        madsim::time::sleep(latency).await;
                        storage.sync_log();
                        *acked.lock().unwrap() = batch.last().unwrap().header.zxid;
                        madsim::time::sleep(Duration::from_micros(thread_rng().gen_range(0..2_000))).await;
                    }
                }
            })
            .build();
        let id = node.id();
        let mut outcome = Outcome::new();
        for _ in 0..KILLS {
            madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(5..40))).await;
            let durable_before = sim.durable_files(id);
            Handle::current().kill(id);
            let crash = sim.crashes().last().cloned().expect("kill crashed the disk");
            let torn_kept = crash.outcome.torn.as_ref().map_or(0, |(_, kept)| *kept);
            // Synced bytes are kept; unsynced ones are gone unless a tear kept a prefix.
            let after = sim.with_disk(id, |d| d.files());
            assert_eq!(after.keys().collect::<Vec<_>>(), durable_before.keys().collect::<Vec<_>>());
            for (name, bytes) in &after {
                let durable = &durable_before[name];
                assert!(bytes.starts_with(durable), "{name}: synced bytes lost");
                let torn_here = crash.outcome.torn.as_ref().is_some_and(|(torn, _)| torn == name);
                assert_eq!(bytes.len(), durable.len() + if torn_here { torn_kept } else { 0 }, "{name}");
            }
            // Recovery: every acknowledged txn, nothing torn, and only txns that were appended.
            let handle = sim.handle(id);
            let recovered = inspect(&handle).expect("recoverable");
            let zxids: Vec<Zxid> = recovered.log.iter().map(|e| e.header.zxid).collect();
            let acked_zxid = *acked.lock().unwrap();
            assert!(zxids.len() as i64 >= acked_zxid, "acknowledged txn lost: acked {acked_zxid}, recovered {zxids:?}");
            assert!(zxids.iter().copied().eq(1..=zxids.len() as i64), "a prefix, in order: {zxids:?}");
            assert!(recovered.log.iter().all(|e| *e == entry(e.header.zxid)), "recovered txns are the appended ones");
            if recovered.truncated_tail_bytes > 0 {
                assert!(torn_kept > 0, "only a tear leaves a torn tail");
            }
            *acked.lock().unwrap() = zxids.len() as i64;
            outcome.push((crash.outcome.lost_bytes, torn_kept, zxids.len(), recovered.truncated_tail_bytes));
            Handle::current().restart(id);
        }
        // The restarted node cut the last torn tail itself and kept going.
        madsim::time::sleep(Duration::from_millis(20)).await;
        let final_state = inspect(&sim.handle(id)).unwrap();
        assert!(final_state.log.len() as i64 >= *acked.lock().unwrap());
        outcome
    })
}

fn run_on_fresh_thread(seed: u64) -> Outcome {
    std::thread::spawn(move || run(seed)).join().expect("simulation panicked")
}

#[test]
fn killed_node_loses_unsynced_bytes_keeps_synced_ones_and_recovery_cuts_torn_writes() {
    let mut lost = 0;
    let mut torn_tails_cut = 0;
    for seed in 1..=12 {
        let outcome = run_on_fresh_thread(seed);
        eprintln!("seed {seed}: {outcome:?}");
        lost += outcome.iter().filter(|o| o.0 > 0).count();
        torn_tails_cut += outcome.iter().filter(|o| o.3 > 0).count();
    }
    // The test must be able to see what it claims: kills that lost bytes, tears that recovery cut.
    assert!(lost > 10, "only {lost} kills lost unsynced bytes");
    assert!(torn_tails_cut > 3, "only {torn_tails_cut} torn tails cut");
}

#[test]
fn same_seed_same_crashes() {
    for seed in [3, 99] {
        assert_eq!(run_on_fresh_thread(seed), run_on_fresh_thread(seed), "seed {seed}");
    }
    assert_ne!(run_on_fresh_thread(3), run_on_fresh_thread(99), "different seeds differ");
}
