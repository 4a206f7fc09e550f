//! Simulation tests of the ensemble on madsim, over many seeds.

use zksim::sim::cluster::{run_seeded, Cluster, ClusterConfig};

#[test]
fn five_servers_elect_a_leader_and_reelect_after_it_crashes() {
    for seed in 0..5u64 {
        let result = run_seeded(seed, || async {
            let mut cluster = Cluster::start(ClusterConfig { voters: 5, ..ClusterConfig::default() });
            let first = cluster.wait_for_leader(20_000).await.expect("a leader");
            cluster.kill(first);
            let second = cluster.wait_for_leader(30_000).await.expect("a new leader");
            assert_ne!(first, second);
            cluster.restart(first);
            let converged = cluster.wait_converged(30_000).await;
            cluster.check_final();
            (first, second, converged, cluster.violations(), cluster.view(second).current_epoch)
        });
        let (first, second, converged, violations, epoch) = result;
        println!("seed {seed}: leader {first} then {second} (epoch {epoch})");
        assert!(converged, "seed {seed}: ensemble converged after the old leader came back");
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
        assert!(epoch >= 2);
    }
}
