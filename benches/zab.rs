//! ZAB in the simulator: committed writes per wall second on a fault-free 5-server ensemble,
//! simulated seconds per wall second, and the simulated time from a leader crash to the new
//! leader serving a write.
//!
//! Run: `cargo bench --bench zab` (release). Knobs: `ZKSIM_BENCH_SECS` (simulated seconds of
//! load, default 10), `ZKSIM_BENCH_CLIENTS` (default 50), `ZKSIM_BENCH_PIPELINE` (writes in
//! flight per client, default 8), `ZKSIM_BENCH_FAILOVER_SEEDS` (default 5).
//! Results are recorded in `reports/zab-bench.md`.

use std::time::{Duration, Instant};

use zksim::sim::cluster::{run_seeded, Cluster, ClusterConfig};
use zksim::sim::net::CLIENT_ADDR_BASE;
use zksim::sim::server_node::elapsed_ms;
use zksim::sim::writer::{spawn_writer, WriterConfig, WriterHandle};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    format!("nproc {cores}, {model}")
}

fn start_writers(cluster: &Cluster, clients: u64, pipeline: usize) -> Vec<WriterHandle> {
    let ids = cluster.ids();
    (0..clients)
        .map(|i| {
            let mut servers = ids.clone();
            servers.rotate_left(i as usize % ids.len());
            let mut config = WriterConfig::new(CLIENT_ADDR_BASE + i, servers);
            config.pipeline = pipeline;
            spawn_writer(config, cluster.ctx.conditions.clone())
        })
        .collect()
}

fn throughput(secs: u64, clients: u64, pipeline: usize) {
    let started = Instant::now();
    let (acked, sim_ms, commits, violations) = run_seeded(1, move || async move {
        let cluster = Cluster::start(ClusterConfig { voters: 5, ..ClusterConfig::default() });
        cluster.wait_for_leader(30_000).await.expect("a leader");
        let writers = start_writers(&cluster, clients, pipeline);
        madsim::time::sleep(Duration::from_secs(secs)).await;
        let acked: usize = writers.iter().map(|w| w.acked_count()).sum();
        let commits = cluster.invariants().commits_observed;
        (acked, elapsed_ms(), commits, cluster.violations().len())
    });
    let wall = started.elapsed().as_secs_f64();
    println!("throughput: 5 voters, {clients} clients x {pipeline} in flight, {secs} s of load ({:.1} s simulated in all)", sim_ms as f64 / 1e3);
    println!("  acknowledged writes     {acked}");
    println!("  wall                    {wall:.2} s");
    println!("  committed writes/wall s {:.0}", acked as f64 / wall);
    println!("  simulated s / wall s    {:.2}", sim_ms as f64 / 1e3 / wall);
    println!("  commit observations     {commits} (all servers), violations {violations}");
}

fn failover(seeds: u64) {
    let mut times = Vec::new();
    for seed in 0..seeds {
        let ms = run_seeded(seed, || async {
            let mut cluster = Cluster::start(ClusterConfig { voters: 5, ..ClusterConfig::default() });
            let leader = cluster.wait_for_leader(30_000).await.expect("a leader");
            let writers = start_writers(&cluster, 5, 2);
            madsim::time::sleep(Duration::from_secs(1)).await;
            let old_epoch = cluster.view(leader).current_epoch;
            let crashed_at = elapsed_ms();
            cluster.kill(leader);
            loop {
                let served = writers.iter().any(|w| w.acked().iter().any(|a| a.zxid >> 32 > old_epoch));
                if served {
                    return elapsed_ms() - crashed_at;
                }
                assert!(elapsed_ms() - crashed_at < 120_000, "no new leader served a write");
                madsim::time::sleep(Duration::from_millis(1)).await;
            }
        });
        println!("failover seed {seed}: {ms} ms simulated from leader kill to a write acknowledged in the new epoch");
        times.push(ms);
    }
    times.sort();
    println!("failover median: {} ms (min {}, max {}) over {seeds} seeds", times[times.len() / 2], times[0], times[times.len() - 1]);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    println!("machine: {}", machine());
    throughput(env_u64("ZKSIM_BENCH_SECS", 10), env_u64("ZKSIM_BENCH_CLIENTS", 50), env_u64("ZKSIM_BENCH_PIPELINE", 8) as usize);
    failover(env_u64("ZKSIM_BENCH_FAILOVER_SEEDS", 5));
}
