//! `zksim check` as the CLI runs it: exit codes, verdict lines, bad-input messages that name
//! file, line and problem, the HTML report and the EDN export.

use std::path::PathBuf;
use zksim::checker::cli::{parse_args, run_check_cli, EXIT_BAD_INPUT, EXIT_PASS, EXIT_VIOLATION};
use zksim::history::{load_history, parse_history, Format};

const ZK_HISTORY: &str = "../shared/reference/zk-3.8.0-history-3node.jsonl";

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zksim-checker-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn reference_history_exits_zero_and_writes_html_and_edn() {
    let html = temp("zk.html");
    let edn = temp("zk.edn");
    let code = run_check_cli(&args(&[
        "check",
        ZK_HISTORY,
        "--html",
        html.to_str().unwrap(),
        "--export-edn",
        edn.to_str().unwrap(),
    ]));
    assert_eq!(code, EXIT_PASS);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!doctype html>")
            && page.contains("<svg")
            && !page.contains("<script src")
            && !page.contains("<link")
    );
    assert!(
        page.contains("stale plain read"),
        "allowed anomalies are listed"
    );
    let exported = std::fs::read_to_string(&edn).unwrap();
    assert!(parse_history("zk.edn", &exported, Some(Format::JepsenEdn)).is_ok());
}

#[test]
fn non_linearizable_etcd_history_exits_one_with_highlighted_html() {
    let html = temp("etcd.html");
    let code = run_check_cli(&args(&[
        "../shared/reference/jepsen-etcd-register/etcd_000.log",
        "--format",
        "jepsen-log",
        "--html",
        html.to_str().unwrap(),
    ]));
    assert_eq!(code, EXIT_VIOLATION);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("not linearizable"));
    // The root cause first, and Porcupine's partial linearization of the key.
    assert!(page.contains("<b>linearizable-writes-blackbox (history check)"));
    assert!(page.contains("Partial linearizations") && page.contains("cannot follow"));
}

#[test]
fn bad_input_exits_four() {
    let broken = temp("broken.jsonl");
    std::fs::write(&broken, "{\"kind\":\"meta\"}\n{\"kind\":\"op\",\"client\":1,\"process\":1,\"op\":\"read\",\"path\":\"/a\",\"invoke_ns\":5,\"complete_ns\":3,\"outcome\":\"ok\"}\n").unwrap();
    assert_eq!(
        run_check_cli(&args(&[broken.to_str().unwrap()])),
        EXIT_BAD_INPUT
    );
    assert_eq!(
        run_check_cli(&args(&["/nonexistent/history.jsonl"])),
        EXIT_BAD_INPUT
    );
    assert_eq!(run_check_cli(&args(&[])), EXIT_BAD_INPUT);
    assert_eq!(
        run_check_cli(&args(&[ZK_HISTORY, "--format", "xml"])),
        EXIT_BAD_INPUT
    );
    assert_eq!(
        run_check_cli(&args(&[ZK_HISTORY, "--time-limit-ms", "soon"])),
        EXIT_BAD_INPUT
    );
}

#[test]
fn parse_errors_name_file_line_and_problem() {
    let cases: [(&str, &str, u32, &str); 6] = [
        ("a.jsonl", "{\"kind\":\"meta\"}\n{\"kind\":\"op\",\"client\":1,\"process\":1,\"op\":\"read\",\"path\":\"/a\",\"invoke_ns\":5,\"complete_ns\":3,\"outcome\":\"ok\"}\n", 2, "before invoke_ns"),
        ("b.jsonl", "{\"kind\":\"meta\"}\n\n{\"kind\":\"op\", oops}\n", 3, "bad op line"),
        ("c.jsonl", "{\"kind\":\"meta\"}\n{\"kind\":\"op\",\"client\":1,\"process\":1,\"op\":\"write\",\"path\":\"/a\",\"invoke_ns\":1,\"complete_ns\":3,\"outcome\":\"maybe\"}\n", 2, "outcome must be"),
        ("d.log", "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t3\n", 2, "does not match"),
        ("e.edn", "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0 :type :ok :f :read :value [1 2}\n", 2, "column"),
        ("f.jsonl", "{\"kind\":\"meta\",\"format\":\"zksim-history\",\"format_version\":99}\n", 1, "newer than this checker"),
    ];
    for (file, text, line, problem) in cases {
        let err = parse_history(file, text, None).expect_err(file);
        assert_eq!((err.file.as_str(), err.line), (file, line), "{err}");
        assert!(err.problem.contains(problem), "{file}: {err}");
        assert!(err.to_string().starts_with(&format!("{file}:{line}: ")));
    }
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "",
        "\n\n",
        "not a history",
        "{",
        "{\"kind\":1}",
        "[1,2]",
        "{:process}",
        "INFO  jepsen.util - x",
        "{\"kind\":\"final\"}\n{\"kind\":\"op\"}",
        "\u{0}\u{1}",
    ];
    for text in inputs {
        let _ = parse_history("garbage", text, None);
        for format in [
            Format::Zksim,
            Format::ZkJsonl,
            Format::JepsenLog,
            Format::JepsenEdn,
        ] {
            let _ = parse_history("garbage", text, Some(format));
        }
    }
}

#[test]
fn args_parse() {
    let parsed = parse_args(&args(&[
        "check",
        "h.jsonl",
        "--format",
        "zk-jsonl",
        "--time-limit-ms",
        "50",
        "--strict",
    ]))
    .unwrap();
    assert_eq!(parsed.history, "h.jsonl");
    assert_eq!(parsed.format, Some(Format::ZkJsonl));
    assert_eq!(parsed.time_limit_ms, Some(50));
    assert!(parsed.strict);
    assert!(parse_args(&args(&["a", "b"])).is_err());
    assert!(parse_args(&args(&["--help-checker"])).unwrap().help);
    assert_eq!(run_check_cli(&args(&["-h"])), EXIT_PASS);
}

#[test]
fn format_detection() {
    assert_eq!(
        load_history(ZK_HISTORY, None).unwrap().format,
        Format::ZkJsonl
    );
    assert_eq!(
        load_history(
            "../shared/reference/jepsen-etcd-register/etcd_001.log",
            None
        )
        .unwrap()
        .format,
        Format::JepsenLog
    );
}
