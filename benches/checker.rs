//! `cargo bench --bench checker`: figures for reports/checker-bench.md.
//!
//! 1. All zxid-based checks on a generated 1,000,000-op ZooKeeper-like history (plus, for
//!    context, generation, writing and parsing the zksim JSONL, and peak memory).
//! 2. The black-box search over the 51 Jepsen etcd histories: median and worst per history.

use std::time::{Duration, Instant};
use zksim::checker::linearizable_blackbox::{partitions, search, SearchResult};
use zksim::checker::{all_checks, check_one, CheckOptions, Context, Status};
use zksim::history::synth::{generate, SynthConfig};
use zksim::history::{load_history, parse_history, to_zksim_jsonl};

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn million_op_history() {
    let ops: usize = std::env::var("ZKSIM_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let config = SynthConfig {
        ops,
        clients: 32,
        servers: 3,
        paths: 16,
        seed: 42,
        unknown_every: 2_000,
        churn: true,
    };
    let t = Instant::now();
    let history = generate(&config);
    println!("generate {ops} ops: {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let text = to_zksim_jsonl(&history);
    println!(
        "write zksim JSONL: {:.2} s, {:.1} MiB",
        t.elapsed().as_secs_f64(),
        text.len() as f64 / 1048576.0
    );
    drop(history);
    let t = Instant::now();
    let history = parse_history("synthetic.jsonl", &text, None).expect("generated history parses");
    println!("parse zksim JSONL: {:.2} s", t.elapsed().as_secs_f64());
    drop(text);
    println!(
        "RSS with the parsed history: {:.0} MiB",
        mib(rss_kib("VmRSS:"))
    );
    // Reset the peak-RSS mark (Linux: "5" > /proc/self/clear_refs) so the peak below is the checks'.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();

    let options = CheckOptions::default();
    let t_all = Instant::now();
    let context = Context::new(&history);
    let t = Instant::now();
    let _ = context.timelines();
    let _ = context.session_ops();
    println!(
        "  shared: zxid replay + session index: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    for check in all_checks()
        .into_iter()
        .filter(|c| c.name != "linearizable-writes-blackbox")
    {
        let t = Instant::now();
        let report = (check.run)(&context, &options);
        println!(
            "  {:<30} {:>7.3} s  {}",
            check.name,
            t.elapsed().as_secs_f64(),
            report
                .verdict_line()
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
        );
        assert!(
            matches!(report.status, Status::Pass | Status::NotApplicable),
            "{}",
            report.verdict_line()
        );
    }
    let scope = if reset {
        "during the checks, history included"
    } else {
        "of the whole process"
    };
    println!(
        "ALL zxid-based checks on {ops} ops: {:.2} s, peak RSS {:.0} MiB ({scope})",
        t_all.elapsed().as_secs_f64(),
        mib(rss_kib("VmHWM:"))
    );
    let t = Instant::now();
    let options = CheckOptions {
        time_limit_ms: 60_000,
        ..CheckOptions::default()
    };
    let report =
        check_one(&history, "linearizable-writes-blackbox", &options).expect("check exists");
    println!(
        "(black-box search on the same history: {:.2} s, {}; peak RSS {:.0} MiB)",
        t.elapsed().as_secs_f64(),
        report.status.label(),
        mib(rss_kib("VmHWM:"))
    );
}

fn etcd_histories() {
    let dir = "../shared/reference/jepsen-etcd-register";
    let verdicts = std::fs::read_to_string(format!("{dir}/VERDICTS.txt")).expect("VERDICTS.txt");
    let options = CheckOptions::default();
    let mut times: Vec<(Duration, String)> = Vec::new();
    let mut agree = 0;
    let mut explained: Vec<Duration> = Vec::new();
    for line in verdicts.lines().filter(|l| !l.trim().is_empty()) {
        let (file, verdict) = line.split_once(' ').expect("file verdict");
        let history = load_history(&format!("{dir}/{file}"), None).expect("etcd history parses");
        let mut runs: Vec<Duration> = Vec::new();
        let mut linearizable = false;
        for _ in 0..7 {
            let t = Instant::now();
            linearizable = partitions(&history)
                .iter()
                .all(|p| search(&p.ops, p.init, None) == SearchResult::Linearizable);
            runs.push(t.elapsed());
        }
        runs.sort();
        agree += (linearizable == (verdict.trim() == "linearizable")) as usize;
        times.push((runs[runs.len() / 2], file.to_string()));
        let t = Instant::now();
        let report = check_one(&history, "linearizable-writes-blackbox", &options).expect("check");
        assert_eq!(report.status == Status::Pass, linearizable);
        explained.push(t.elapsed());
    }

    times.sort();
    let median = times[times.len() / 2].0;
    let (worst, worst_file) = times.last().cloned().expect("51 histories");
    let total: Duration = times.iter().map(|t| t.0).sum();
    println!("black-box search (verdict) over {} etcd histories: median {:.3} ms, worst {:.1} ms ({worst_file}), total {:.1} ms; {agree}/{} verdicts agree", times.len(), median.as_secs_f64() * 1e3, worst.as_secs_f64() * 1e3, total.as_secs_f64() * 1e3, times.len());
    explained.sort();
    println!(
        "  full check incl. shrinking the evidence of violations: median {:.3} ms, worst {:.1} ms",
        explained[explained.len() / 2].as_secs_f64() * 1e3,
        explained.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing special: run anyway.
    etcd_histories();
    million_op_history();
}
