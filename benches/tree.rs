//! Data-tree throughput: transactions applied per wall second on one core (release build).
//! Run: `cargo bench --bench tree`. Prints figures; asserts nothing about speed.

use std::hint::black_box;
use std::time::Instant;

use zksim::proto::Acl;
use zksim::tree::{DataTree, Txn, TxnHeader};

const SESSION: i64 = 0x0100_0000_0000_0001;

fn header(zxid: i64) -> TxnHeader {
    TxnHeader { client_id: SESSION, cxid: zxid as i32, zxid, time_ms: zxid }
}

fn create_txns(parents: usize, per_parent: usize, first_zxid: i64) -> Vec<(TxnHeader, Txn)> {
    let mut out = Vec::with_capacity(parents * (per_parent + 1));
    let mut zxid = first_zxid;
    for p in 0..parents {
        let parent = format!("/bench{p}");
        out.push((header(zxid), Txn::Create { path: parent.clone(), data: vec![1; 16], acl: Acl::open_unsafe(), ephemeral: false, parent_cversion: p as i32 + 1, with_stat: false }));
        zxid += 1;
        for c in 0..per_parent {
            out.push((header(zxid), Txn::Create { path: format!("{parent}/n{c:07}"), data: vec![2; 100], acl: Acl::open_unsafe(), ephemeral: false, parent_cversion: c as i32 + 1, with_stat: false }));
            zxid += 1;
        }
    }
    out
}

fn apply_all(tree: &mut DataTree, txns: &[(TxnHeader, Txn)]) -> f64 {
    let mut events = Vec::new();
    let start = Instant::now();
    for (h, t) in txns {
        black_box(tree.process_txn(h, t, &mut events));
    }
    let seconds = start.elapsed().as_secs_f64();
    assert!(events.is_empty(), "no watches are set in the benchmark");
    txns.len() as f64 / seconds
}

fn main() {
    let (parents, per_parent) = (100, 5_000);
    let creates = create_txns(parents, per_parent, 1);
    let mut tree = DataTree::new();
    let create_rate = apply_all(&mut tree, &creates);
    let mut zxid = creates.len() as i64 + 1;

    let nodes: Vec<String> = (0..parents).flat_map(|p| (0..per_parent).map(move |c| format!("/bench{p}/n{c:07}"))).collect();
    let sets: Vec<(TxnHeader, Txn)> = (0..2_000_000)
        .map(|i| {
            zxid += 1;
            (header(zxid), Txn::SetData { path: nodes[(i * 7919) % nodes.len()].clone(), data: vec![3; 100], version: 1 })
        })
        .collect();
    let set_rate = apply_all(&mut tree, &sets);

    let deletes: Vec<(TxnHeader, Txn)> = nodes
        .iter()
        .map(|p| {
            zxid += 1;
            (header(zxid), Txn::Delete { path: p.clone() })
        })
        .collect();
    let delete_rate = apply_all(&mut tree, &deletes);
    assert_eq!(tree.digest(), tree.recompute_digest(), "incremental digest stays exact");

    println!("data tree, one core, release build, 100-byte values:");
    println!("  creates  {:>10.0} txn/s  ({} nodes under {} parents)", create_rate, creates.len(), parents);
    println!("  setData  {:>10.0} txn/s  ({} txns)", set_rate, sets.len());
    println!("  deletes  {:>10.0} txn/s  ({} txns)", delete_rate, deletes.len());
}
