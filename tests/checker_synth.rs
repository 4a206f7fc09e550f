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
