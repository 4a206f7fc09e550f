//! Each shrunk bug scenario in `sim-scenarios/bugs/` must still show its violation with its
//! flag, and the same schedule on the correct build must not. A regression in the checker or
//! the simulator that hides a bug fails here.

use zksim::testbed::runner::{run, RunOptions, Verdict};
use zksim::testbed::scenario::Scenario;

/// (file, seed that shrink minimized).
const SHRUNK: [(&str, u64); 11] = [
    ("ack-before-fsync-shrunk", 0),
    ("commit-without-quorum-shrunk", 1),
    ("ZOOKEEPER-1154-shrunk", 0),
    ("ZOOKEEPER-2355-shrunk", 17),
    ("ZOOKEEPER-2845-shrunk", 0),
    ("ZOOKEEPER-3911-shrunk", 1),
    ("ZOOKEEPER-4643-shrunk", 1),
    ("ZOOKEEPER-4646-shrunk", 2),
    ("expiry-keeps-ephemerals-shrunk", 0),
    ("accept-client-ahead-shrunk", 4),
    ("elect-by-zxid-only-shrunk", 1),
];

#[test]
fn shrunk_bug_scenarios_fail_with_their_flag_and_pass_without_it() {
    for (name, seed) in SHRUNK {
        let path = format!("sim-scenarios/bugs/{name}.json");
        let scenario = Scenario::load(std::path::Path::new(&path)).unwrap();
        assert!(!scenario.bugs.is_empty(), "{path}: the flag travels in the file");
        let buggy = run(&scenario, seed, &RunOptions { bugs: Vec::new(), fast_checks: true });
        // Every flag but one shows a safety violation; elect-by-zxid-only can only stall the
        // ensemble (see its scenario's description), and its file says so (`expect: liveness`).
        let expected = if scenario.expect.outcome == "liveness" { Verdict::LivenessFailure } else { Verdict::SafetyViolation };
        assert_eq!(buggy.verdict, expected, "{path} seed {seed}: {:?}", buggy.findings);
        assert!(buggy.as_expected(&scenario));
        let mut correct = scenario.clone();
        correct.bugs.clear();
        let clean = run(&correct, seed, &RunOptions { bugs: Vec::new(), fast_checks: true });
        assert_eq!(clean.verdict, Verdict::Pass, "{path} seed {seed} without the flag: {:?}", clean.findings);
    }
}
