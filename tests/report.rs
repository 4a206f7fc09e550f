//! The run report: findings root cause first, `report.html` with server lanes, every op,
//! plots, partial linearizations; the allowed anomalies a sweep counts; the report in a real
//! browser (headless Chromium).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zksim::history::{parse_history, Format};
use zksim::testbed::cli::run_seed;
use zksim::testbed::runner::{run, run_with_analysis, write_html_report, RunOptions, Verdict};
use zksim::testbed::scenario::Scenario;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zksim-report-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn zksim(args: &[&str]) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_zksim")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

/// The check `reports/bugs.md` says catches `flag` (its "caught by" line).
fn caught_by(flag: &str) -> Option<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/bugs.md")).unwrap();
    let section = text.split(&format!("### {flag}\n")).nth(1)?;
    let line = section.lines().find(|l| l.starts_with("- caught by: `"))?;
    Some(line.trim_start_matches("- caught by: `").split('`').next()?.to_string())
}

#[test]
fn zookeeper_3911_run_names_the_lost_txn_the_server_and_the_faults_first_and_writes_the_report() {
    let out = temp_dir("3911");
    let (stdout, code) = zksim(&["run", "sim-scenarios/bugs/ZOOKEEPER-3911.json", "--seed", "0", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    let first: Vec<&str> = stdout.lines().take(8).collect();
    let head = first.join("\n");
    // The root cause: the online invariant, on s1, epoch 3, and the lost txns with the client
    // write they were; then the faults before it and what s1 did.
    assert!(first[2].starts_with("findings, root cause first"), "{head}");
    assert!(first[3].contains("1. acknowledged-write-durable (online invariant)") && first[3].contains("on s1, epoch 3"), "{head}");
    assert!(first[3].contains("txn 1.27 was acknowledged"), "{head}");
    assert!(first[4].contains("txns lost: 10 acknowledged, 0x10000001c..0x100000027") && first[4].contains("client 7 cas /k4"), "{head}");
    assert!(first[5].contains("faults before it: 10.742 s kill s1") && first[5].contains("kill s3"), "{head}");
    assert!(first[6].contains("s3 synced s1 by DIFF") && first[6].contains("s1 acked NEWLEADER") && first[6].contains("crashed") && first[6].contains("established as leader of epoch 3"), "{head}");
    // Consequences grouped, no Rust Debug anywhere.
    assert!(stdout.contains("and 44 later findings (42 reply differs from replay, 2 cas succeeded against a stale version)"), "{stdout}");
    assert!(!stdout.contains("Violation {") && !stdout.contains("ServerView {"), "{stdout}");
    let dir = out.join("ZOOKEEPER-3911-0");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("acknowledged-write-durable (online invariant) at 21.459 s on s1"));
    assert!(html.contains("Partial linearizations"), "the black-box check failed: its partial linearization is shown");
    // summary.json: verdicts and findings as fields.
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let finding = &summary["findings"][0];
    assert_eq!((finding["check"].as_str(), finding["kind"].as_str(), finding["server"].as_str(), finding["epoch"].as_i64()), (Some("acknowledged-write-durable"), Some("invariant"), Some("s1"), Some(3)));
    assert_eq!(finding["txns"].as_array().unwrap().last().and_then(|t| t.as_i64()), Some(0x1_0000_0027));
    let checks = summary["checks"].as_array().unwrap();
    let writes = checks.iter().find(|c| c["name"] == "linearizable-writes").unwrap();
    assert_eq!((writes["status"].as_str(), writes["violations"].as_u64()), (Some("FAIL"), Some(45)));
    assert_eq!(writes["first"]["ops"], serde_json::json!([85, 28]));
    assert_eq!(summary["allowed"]["unknown_outcomes"].as_u64(), Some(30));
    // The history holds the server events, and older readers' records still parse.
    let history = parse_history("h", &std::fs::read_to_string(dir.join("history.jsonl")).unwrap(), Some(Format::Zksim)).unwrap();
    // s3's DIFF to s1 at 18.957 s (20 txns) names its range; the empty one at the start does not.
    let syncs: Vec<_> = history.server_events.iter().filter(|e| e.record.event == "sync" && e.record.peer.as_deref() == Some("s1") && e.record.mode.as_deref() == Some("DIFF")).collect();
    assert_eq!(syncs.len(), 2);
    assert!(syncs[0].record.from_zxid.is_none() && syncs[0].record.detail.as_deref() == Some("0 txns"));
    assert_eq!((syncs[1].record.from_zxid, syncs[1].record.to_zxid), (Some(0x1_0000_001c), Some(0x1_0000_002f)));
}

/// Every shrunk reproducer's first finding (root cause first) is the check `reports/bugs.md`
/// lists for its flag, and its report is written.
#[test]
fn every_shrunk_bug_report_opens_with_the_check_that_catches_its_flag() {
    let out = temp_dir("shrunk");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/bugs")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.retain(|p| p.to_string_lossy().ends_with("-shrunk.json"));
    dirs.sort();
    assert_eq!(dirs.len(), 12);
    for path in dirs {
        let scenario = Scenario::load(&path).unwrap();
        let flag = scenario.bugs[0].clone();
        // A file that names its check (`expect.check`: found by explore after bugs.md was
        // generated, or shrunk to a schedule that opens with another check than the targeted
        // file's first failing seed) is held to it; the others to bugs.md's.
        let expected = scenario.expect.check.clone().or_else(|| caught_by(&flag)).expect("a check to open with");
        let seed = run_seed(None, &scenario);
        let (outcome, analysis) = run_with_analysis(&scenario, seed, &RunOptions { bugs: Vec::new(), fast_checks: false });
        assert_ne!(outcome.verdict, Verdict::Pass, "{}", path.display());
        assert_eq!(outcome.findings[0].check, expected, "{}: {:?}", path.display(), outcome.findings[0]);
        let html = write_html_report(&out, &outcome, &analysis.unwrap(), &scenario, "reproduce").unwrap();
        let page = std::fs::read_to_string(html).unwrap();
        let first = page.split("<ol class=\"findings\">").nth(1).unwrap();
        assert!(first.starts_with(&format!("<li class=\"root\"><p><b>{expected}")), "{}: the report opens with {expected}", path.display());
    }
}

/// A default-scenario report: every op of the run in the timeline data, server lanes, both
/// plots (SVG from plotters), under 5 MB — also for a run of 20,000 ops.
#[test]
fn default_reports_hold_every_op_server_lanes_and_both_plots_under_the_size_aim() {
    let out = temp_dir("default");
    for clients in [10, 40] {
        let mut scenario = Scenario::default();
        scenario.clients.count = clients;
        scenario.name = format!("default-{clients}-clients");
        let (outcome, analysis) = run_with_analysis(&scenario, 1, &RunOptions { bugs: Vec::new(), fast_checks: true });
        let analysis = analysis.unwrap();
        let path = write_html_report(&out, &outcome, &analysis, &scenario, "reproduce").unwrap();
        let page = std::fs::read_to_string(&path).unwrap();
        let size = page.len();
        assert!(size < 5 << 20, "{clients} clients: {} ops give {size} bytes", outcome.ops);
        if clients == 40 {
            assert!(outcome.ops >= 20_000, "the big run has {} ops", outcome.ops);
        }
        let data = page.split("id=\"zksim-data\">").nth(1).unwrap().split("</script>").next().unwrap();
        let data: serde_json::Value = serde_json::from_str(&data.replace("<\\/", "</")).unwrap();
        assert_eq!(data["ops"].as_array().unwrap().len(), outcome.ops, "every op is on the timeline");
        assert_eq!(data["servers"].as_array().unwrap().len(), 5);
        assert!(data["segs"].as_array().unwrap().len() >= 5 && !data["marks"].as_array().unwrap().is_empty());
        assert!(!data["faults"].as_array().unwrap().is_empty());
        for plot in ["plot-latency", "plot-throughput"] {
            let svg = page.split(&format!("id=\"{plot}\">")).nth(1).unwrap();
            assert!(svg.starts_with("<svg"), "{plot} is an inline SVG");
        }
        println!("{clients} clients: {} ops, report {size} bytes", outcome.ops);
    }
}

/// The stale-reads scenario: at least 20 stale plain reads on every seed of 0..20, and on the
/// same runs not one stale sync+read (with sync+reads done).
#[test]
fn stale_reads_scenario_shows_stale_plain_reads_and_never_a_stale_sync_read() {
    let (scenario, _) = zksim::testbed::cli::resolve_scenario(Some("sim-scenarios/stale-reads.json")).unwrap();
    let seeds: Vec<u64> = (0..20).collect();
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = seeds.chunks(10).map(|chunk| s.spawn(|| chunk.iter().map(|&seed| run(&scenario, seed, &RunOptions { bugs: Vec::new(), fast_checks: true })).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    for o in &outcomes {
        assert_eq!(o.verdict, Verdict::Pass, "seed {}: {:?}", o.seed, o.findings);
        assert!(o.allowed.stale_plain_reads >= 20, "seed {}: {} stale plain reads", o.seed, o.allowed.stale_plain_reads);
        assert_eq!(o.allowed.stale_sync_reads, 0, "seed {}", o.seed);
        let sync = o.checks.iter().find(|c| c.name == "sync-read-real-time").unwrap();
        let sync_reads: usize = sync.summary.split(' ').next().unwrap().parse().unwrap();
        assert!(sync_reads > 50, "seed {}: {}", o.seed, sync.summary);
    }
}

/// `zksim sweep stale-reads` prints the allowed anomalies per seed and in total, and its JSON
/// keeps them (merge sums them again).
#[test]
fn sweep_reports_allowed_anomaly_counts() {
    let out = temp_dir("sweep").join("sweep.json");
    let (stdout, code) = zksim(&["sweep", "stale-reads", "--seeds", "0..2", "--jobs", "2", "--json", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("allowed anomalies (ZooKeeper permits them): ") && stdout.contains("stale plain reads (2 of 2 seeds had some"), "{stdout}");
    assert!(stdout.contains("stale plain reads   stale sync+reads"), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let per_seed: u64 = summary["results"].as_array().unwrap().iter().map(|r| r["allowed"]["stale_plain_reads"].as_u64().unwrap()).sum();
    assert!(per_seed >= 40);
    assert_eq!(summary["counts"]["allowed"]["stale_plain_reads"].as_u64(), Some(per_seed));
}

// ------------------------------------------------------------------ the report in a browser

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!("headless Chromium is needed (Debian: apt-get install chromium; .ci/run installs it)");
}

/// Runs headless Chromium with a fresh profile, bounded in time; returns its stdout.
fn headless(args: &[String]) -> String {
    let profile = temp_dir(&format!("chromium-profile-{}", args.len()));
    // stdout to a file: a dumped DOM is larger than a pipe's buffer.
    let stdout_path = profile.with_extension("out");
    let mut child = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(profile);
    let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let _ = std::fs::remove_file(stdout_path);
    out
}

/// A default-scenario report loads in Chromium without a script error and draws its server
/// and client lanes and every op (the page writes what it drew into `<body data-*>`); a
/// screenshot is taken as a person would see it. The ZOOKEEPER-3911 report (root cause,
/// partial linearization) loads without a script error too.
#[test]
fn the_report_renders_in_headless_chromium() {
    let out = temp_dir("browser");
    let (stdout, code) = zksim(&["run", "default", "--seed", "1", "--report", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    let ops: usize = stdout.split(" client ops").next().and_then(|s| s.rsplit(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    let page = out.join("default-1/report.html");
    assert!(page.exists(), "{stdout}");
    let url = format!("file://{}", page.display());
    let body = rendered_body(&url);
    assert!(!body.contains("data-script-errors"), "script errors: {body}");
    assert!(body.contains("data-rendered=\"1\""), "the timeline was not drawn: {body}");
    assert!(body.contains("data-server-lanes=\"5\""), "{body}");
    assert!(body.contains("data-client-lanes=\"10\""), "{body}");
    assert!(body.contains(&format!("data-ops-drawn=\"{ops}\"")), "every one of the {ops} ops drawn at full view: {body}");
    let shot = out.join("report.png");
    headless(&["--window-size=1400,1100".to_string(), format!("--screenshot={}", shot.display()), format!("{url}#only-timeline")]);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 50_000, "a screenshot with something drawn on it ({} bytes)", png.len());

    let (stdout, _) = zksim(&["run", "sim-scenarios/bugs/ZOOKEEPER-3911.json", "--seed", "0", "--out", out.to_str().unwrap()]);
    let page = out.join("ZOOKEEPER-3911-0/report.html");
    assert!(page.exists(), "{stdout}");
    let body = rendered_body(&format!("file://{}", page.display()));
    assert!(!body.contains("data-script-errors") && body.contains("data-ops-drawn=\"232\"") && body.contains("data-server-lanes=\"3\""), "{body}");
}

/// The `<body ...>` tag of the page once its scripts ran.
fn rendered_body(url: &str) -> String {
    let dom = headless(&["--dump-dom".to_string(), url.to_string()]);
    dom.split("<body").nth(1).and_then(|b| b.split('>').next()).unwrap_or_default().to_string()
}

/// `server` lines parse, survive a round trip, and a bad one is an error naming its line;
/// histories without them (older zksim ones, the real-ZooKeeper recorder's) still load.
#[test]
fn server_lines_parse_round_trip_and_older_histories_still_load() {
    let text = concat!(
        "{\"kind\":\"meta\",\"format\":\"zksim-history\",\"format_version\":1}\n",
        "{\"kind\":\"nemesis\",\"t_ns\":5,\"action\":\"partition\",\"detail\":\"[1] | [2, 3]\"}\n",
        "{\"kind\":\"server\",\"t_ns\":7,\"server\":\"s3\",\"event\":\"sync\",\"epoch\":2,\"peer\":\"s1\",\"mode\":\"TRUNC+DIFF\",\"zxid\":\"0x100000004\",\"from_zxid\":8589934593,\"to_zxid\":8589934594}\n",
        "{\"kind\":\"server\",\"t_ns\":9,\"server\":\"s1\",\"event\":\"session_expired\",\"session\":\"0x100000f7f620001\",\"zxid\":8589934595}\n",
    );
    let history = parse_history("h.jsonl", text, Some(Format::Zksim)).unwrap();
    assert_eq!(history.server_events.len(), 2);
    let sync = &history.server_events[0].record;
    assert_eq!((sync.mode.as_deref(), sync.zxid, sync.from_zxid, history.server_events[0].line), (Some("TRUNC+DIFF"), Some(0x1_0000_0004), Some(0x2_0000_0001), 3));
    assert_eq!(history.nemesis[0].detail.as_deref(), Some("[1] | [2, 3]"));
    let again = parse_history("again", &zksim::history::to_zksim_jsonl(&history), Some(Format::Zksim)).unwrap();
    assert_eq!(again.server_events.iter().map(|e| &e.record).collect::<Vec<_>>(), history.server_events.iter().map(|e| &e.record).collect::<Vec<_>>());
    assert_eq!(again.nemesis[0].detail, history.nemesis[0].detail);
    let bad = text.replace("\"t_ns\":9,", "\"t_ns\":\"late\",");
    let error = parse_history("h.jsonl", &bad, Some(Format::Zksim)).unwrap_err().to_string();
    assert!(error.starts_with("h.jsonl:4: bad server line"), "{error}");
    let reference = zksim::history::load_history("../shared/reference/zk-3.8.0-history-3node.jsonl", None).unwrap();
    assert!(reference.server_events.is_empty() && !reference.ops.is_empty());
}

/// Porcupine's partial linearization: the longest prefix some order explains, in that order,
/// and the op that cannot follow it.
#[test]
fn a_non_linearizable_key_has_its_longest_linearizable_prefix_and_the_op_that_cannot_follow() {
    let edn = concat!(
        "{:process 0, :type :invoke, :f :write, :value 1, :time 0}\n",
        "{:process 0, :type :ok, :f :write, :value 1, :time 10}\n",
        "{:process 1, :type :invoke, :f :write, :value 2, :time 20}\n",
        "{:process 1, :type :ok, :f :write, :value 2, :time 30}\n",
        "{:process 0, :type :invoke, :f :read, :value nil, :time 40}\n",
        "{:process 0, :type :ok, :f :read, :value 1, :time 50}\n",
    );
    let history = parse_history("h.edn", edn, Some(Format::JepsenEdn)).unwrap();
    let path = history.ops[0].path.unwrap();
    let partial = zksim::checker::linearizable_blackbox::partial_linearization(&history, path, Duration::from_secs(5)).unwrap();
    assert_eq!(partial.prefix, vec![0, 1], "write 1 then write 2 linearize");
    assert_eq!(partial.stuck, 2, "the read of 1 after write 2 completed cannot follow");
    // A linearizable key has none.
    let fine = edn.replace(":value 1, :time 50", ":value 2, :time 50");
    let history = parse_history("h.edn", &fine, Some(Format::JepsenEdn)).unwrap();
    assert!(zksim::checker::linearizable_blackbox::partial_linearization(&history, path, Duration::from_secs(5)).is_none());
}

/// A history larger than the timeline's bound: every op keeps its id, the ones left out are
/// `null`, and the page stays bounded (plots sample their points too).
#[test]
fn a_huge_history_gives_a_bounded_report() {
    let history = zksim::history::synth::generate(&zksim::history::synth::SynthConfig { ops: 400_000, clients: 20, servers: 3, paths: 5, seed: 3, unknown_every: 0, churn: false });
    let page = zksim::report::html::render(&history, &[], &zksim::report::html::Page { title: "huge".into(), ..Default::default() });
    assert!(page.len() < 40 << 20, "{} bytes for 400,000 ops", page.len());
    let data = page.split("id=\"zksim-data\">").nth(1).unwrap().split("</script>").next().unwrap();
    let data: serde_json::Value = serde_json::from_str(&data.replace("<\\/", "</")).unwrap();
    let ops = data["ops"].as_array().unwrap();
    assert_eq!(ops.len(), 400_000, "op ids stay the history's");
    let drawn = ops.iter().filter(|o| !o.is_null()).count();
    assert!(drawn <= 200_000 && drawn > 150_000, "{drawn} drawn");
    assert!(page.contains("the timeline draws every op in a violation and an even sample of the others"));
}
