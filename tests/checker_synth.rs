//! Generated ZooKeeper-like histories (correct by construction) pass every check, survive a
//! round trip through the zksim file format, and a planted fault in them is caught.

use proptest::prelude::*;
use zksim::checker::{check_history, check_one, CheckOptions, Status};
use zksim::history::synth::{generate, SynthConfig};
use zksim::history::{parse_history, to_zksim_jsonl, Format, OpKind, Outcome};

fn assert_all_pass(config: &SynthConfig) {
    let history = generate(config);
    for report in check_history(&history, &CheckOptions::default()) {
        assert!(
            matches!(report.status, Status::Pass | Status::NotApplicable),
            "{config:?}: {}",
            report.verdict_line()
        );
    }
}

proptest! {
    // ZKSIM_PROPTEST_CASES=N runs more cases.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("ZKSIM_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)))]
    #[test]
    fn generated_histories_pass(seed in 0u64..1_000_000, clients in 1usize..12, servers in 1usize..5, paths in 1usize..6, unknown_every in prop_oneof![Just(0u64), 100u64..1000], churn in any::<bool>()) {
        assert_all_pass(&SynthConfig { ops: 3_000, clients, servers, paths, seed, unknown_every, churn });
    }
}

#[test]
fn zksim_jsonl_round_trip_is_lossless() {
    let history = generate(&SynthConfig {
        ops: 5_000,
        churn: true,
        ..SynthConfig::default()
    });
    let text = to_zksim_jsonl(&history);
    let again = parse_history("synthetic.jsonl", &text, None).expect("written history parses");
    assert_eq!(again.format, Format::Zksim);
    assert_eq!(again.ops.len(), history.ops.len());
    // Interned ids may differ (first-seen order); the written text must not.
    let rewritten = to_zksim_jsonl(&again);
    for (n, (a, b)) in text.lines().zip(rewritten.lines()).enumerate() {
        assert_eq!(a, b, "line {}", n + 1);
    }
    assert_eq!(rewritten, text);
}

#[test]
fn stale_sync_read_planted_in_generated_history_is_caught() {
    let mut history = generate(&SynthConfig {
        ops: 5_000,
        unknown_every: 0,
        ..SynthConfig::default()
    });
    let init = history.init.clone();
    let id = history
        .ops
        .iter()
        .position(|op| {
            op.kind == OpKind::SyncRead
                && op.outcome == Outcome::Ok
                && op.result.version.unwrap() >= 2
        })
        .expect("a sync+read of a written path");
    let node = &init[&history.ops[id].path.unwrap()];
    let op = &mut history.ops[id];
    op.result.value = node.value.clone();
    op.result.version = Some(node.version);
    op.result.mzxid = Some(node.mzxid);
    op.zxid = None;
    let report = check_one(&history, "sync-read-real-time", &CheckOptions::default()).unwrap();
    assert_eq!(report.status, Status::Warn, "{}", report.verdict_line());
    assert!(report.anomalies().contains(&"stale sync+read"));
}

/// Acknowledged setData ops of one path, in zxid order.
fn acked_set_data(history: &zksim::history::History, path: u32) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..history.ops.len())
        .filter(|&i| {
            let op = &history.ops[i];
            op.kind.is_set_data() && op.outcome == Outcome::Ok && op.path == Some(path)
        })
        .collect();
    ids.sort_by_key(|&i| history.ops[i].result.mzxid);
    ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The zxid fast path and the zxid-free search must agree on write corruptions both can see.
    #[test]
    fn fast_path_and_blackbox_agree_on_corrupted_writes(seed in 0u64..1_000_000, pick in 0usize..10_000, delta in prop_oneof![Just(-1i32), Just(1), Just(2)], reorder in any::<bool>()) {
        let config = SynthConfig { ops: 400, clients: 4, servers: 3, paths: 2, seed, unknown_every: 0, churn: false };
        let mut history = generate(&config);
        let ids = acked_set_data(&history, 0);
        prop_assume!(ids.len() >= 2);
        let i = pick % (ids.len() - 1);
        if reorder {
            // The next write of the path, moved entirely before this one: real time contradicts zxids.
            let (a, b) = (ids[i], ids[i + 1]);
            let a_invoke = history.ops[a].invoke_ns;
            prop_assume!(a_invoke > 100);
            history.ops[b].complete_ns = a_invoke - 1;
            history.ops[b].invoke_ns = a_invoke - 50;
        } else {
            let op = &mut history.ops[ids[i]];
            op.result.version = op.result.version.map(|v| v + delta);
        }
        let options = CheckOptions::default();
        let fast = check_one(&history, "linearizable-writes", &options).unwrap();
        let blackbox = check_one(&history, "linearizable-writes-blackbox", &options).unwrap();
        prop_assert_eq!(fast.status, Status::Fail, "{}", fast.verdict_line());
        prop_assert_eq!(blackbox.status, Status::Fail, "{}", blackbox.verdict_line());
    }
}
