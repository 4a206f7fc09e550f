//! Jepsen histories as other tools and Jepsen versions write them, not only as zksim's own
//! tests saw them: log fields separated by runs of spaces (Porcupine reads any whitespace),
//! the trailing forms (`nil`, vectors, an `:info` with a timeout message), and
//! `jepsen.independent` histories whose values are `[key value]` tuples.

use std::path::PathBuf;

use zksim::checker::cli::{run_check_cli, EXIT_BAD_INPUT, EXIT_PASS, EXIT_VIOLATION};
use zksim::checker::{check_one, CheckOptions, Status};
use zksim::history::{parse_history, ErrorCode, Format, History, OpKind, Outcome};

const ETCD_DIR: &str = "../shared/reference/jepsen-etcd-register";

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zksim-jepsen-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A log with every tab replaced by a run of 1 to 4 spaces (varying by position, as column
/// padding does), and the `INFO  jepsen.util -` prefix's own spacing varied too.
fn space_separated(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for (n, line) in text.lines().enumerate() {
        let line = if n % 2 == 0 { line.replacen("INFO  jepsen.util - ", "INFO jepsen.util   -  ", 1) } else { line.to_string() };
        for (i, field) in line.split('\t').enumerate() {
            if i > 0 {
                out.push_str(&" ".repeat(1 + (n + i) % 4));
            }
            out.push_str(field);
        }
        out.push('\n');
    }
    out
}

fn etcd_verdicts() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(format!("{ETCD_DIR}/VERDICTS.txt")).expect("VERDICTS.txt");
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(file, verdict)| (file.to_string(), verdict.trim() == "linearizable"))
        .collect()
}

#[test]
fn zksim_check_gives_the_published_verdict_on_space_separated_etcd_logs() {
    let verdicts = etcd_verdicts();
    assert_eq!(verdicts.len(), 51);
    for (file, linearizable) in verdicts {
        let original = std::fs::read_to_string(format!("{ETCD_DIR}/{file}")).unwrap();
        let spaced = space_separated(&original);
        assert!(!spaced.contains('\t') && spaced.contains(":invoke  "), "{file}: converted");
        let path = temp(&file);
        std::fs::write(&path, &spaced).unwrap();
        let args: Vec<String> = ["check", path.to_str().unwrap()].iter().map(|s| s.to_string()).collect();
        let code = run_check_cli(&args);
        let expected = if linearizable { EXIT_PASS } else { EXIT_VIOLATION };
        assert_eq!(code, expected, "{file} with spaces (published: linearizable = {linearizable})");
        // The same ops as the tab-separated original.
        let tabbed = parse_history(&file, &original, None).unwrap();
        let spaced = parse_history(&file, &spaced, None).unwrap();
        assert_eq!(spaced.format, Format::JepsenLog);
        assert_eq!(spaced.ops.len(), tabbed.ops.len(), "{file}");
        for (a, b) in tabbed.ops.iter().zip(&spaced.ops) {
            assert_eq!((a.kind.clone(), &a.args.value, &a.result.value, a.outcome), (b.kind.clone(), &b.args.value, &b.result.value, b.outcome), "{file} line {}", a.line);
        }
    }
}

fn parse_log(text: &str) -> History {
    parse_history("spaced.log", text, None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn trailing_forms_nil_vectors_and_info_with_a_timeout_message() {
    let log = "\
2017-01-01 12:00:00,000{GMT}\tINFO  [jepsen worker 0] jepsen.util - 0 :invoke :read nil
INFO  jepsen.util - 1    :invoke   :write   3
INFO  jepsen.util - 2 \t :invoke :cas [3 4]
INFO  jepsen.util - 0 :ok :read nil
INFO  jepsen.util - :nemesis :info :start nil
INFO  jepsen.util - 1 :info :write 3 indeterminate: Read timed out
INFO  jepsen.util - 2   :info   :cas   [3 4]   :timed-out
INFO  jepsen.util - 3 :invoke :read
INFO  jepsen.util - 3 :ok :read 3  
INFO  jepsen.util - 4 :invoke :write 5
INFO  jepsen.util - 4 :info :write :timed-out
";
    let history = parse_log(log);
    assert_eq!(history.format, Format::JepsenLog);
    let by_process = |p: i64| history.ops.iter().find(|o| o.process == p).unwrap();
    let read = by_process(0);
    assert_eq!((read.kind.clone(), read.outcome, read.result.value.clone()), (OpKind::Read, Outcome::Ok, None));
    let write = by_process(1);
    assert_eq!((write.kind.clone(), write.outcome, write.args.value.as_deref()), (OpKind::Write, Outcome::Unknown, Some("3")));
    assert_eq!(write.error, Some(ErrorCode::Other("indeterminate: Read timed out".into())));
    let cas = by_process(2);
    assert_eq!((cas.kind.clone(), cas.args.expected_value.as_deref(), cas.args.value.as_deref()), (OpKind::CasValue, Some("3"), Some("4")));
    assert_eq!((cas.outcome, cas.error.clone()), (Outcome::Unknown, Some(ErrorCode::TimedOut)));
    let bare_read = by_process(3);
    assert_eq!((bare_read.outcome, bare_read.result.value.as_deref()), (Outcome::Ok, Some("3")));
    let timed_out = by_process(4);
    assert_eq!((timed_out.outcome, timed_out.error.clone()), (Outcome::Unknown, Some(ErrorCode::TimedOut)));
    assert_eq!(history.ops.len(), 5, "the nemesis line carries no op");
}

#[test]
fn malformed_space_separated_lines_name_file_line_and_problem() {
    let cases = [
        ("INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util -   0\n", 2, "expected <process> :<type> :<f>"),
        ("INFO  jepsen.util - 0   :start   :read nil\n", 1, "unknown event type \":start\""),
        ("INFO  jepsen.util - 0  :invoke  :cas  [3 4\n", 1, "column"),
        ("INFO  jepsen.util - 0 :invoke :read nil\nINFO jepsen.util - 0 :ok :write 3\n", 2, "does not match"),
    ];
    for (text, line, problem) in cases {
        let err = parse_history("bad.log", text, Some(Format::JepsenLog)).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("bad.log", line), "{err}");
        assert!(err.problem.contains(problem), "{err}");
        assert!(err.to_string().starts_with(&format!("bad.log:{line}: ")), "{err}");
    }
    // Auto-detection knows a space-separated log for what it is.
    let err = parse_history("bad.log", "INFO jepsen.util - 0 :invoke\n", None).unwrap_err();
    assert!(err.problem.contains("expected <process>"), "{err}");
    let path = temp("bad.log");
    std::fs::write(&path, "INFO jepsen.util - 0 :invoke\n").unwrap();
    assert_eq!(run_check_cli(&["check".to_string(), path.display().to_string()]), EXIT_BAD_INPUT);
}

/// Key 0 is a clean register; key 1 reads a value nobody wrote before the write was invoked.
const INDEPENDENT_EDN: &str = "\
{:process 0, :type :invoke, :f :write, :value [0 1]}
{:process 0, :type :ok, :f :write, :value [0 1]}
{:process 1, :type :invoke, :f :read, :value [0 nil]}
{:process 1, :type :ok, :f :read, :value [0 1]}
{:process 2, :type :invoke, :f :cas, :value [0 [1 2]]}
{:process 2, :type :ok, :f :cas, :value [0 [1 2]]}
{:process 3, :type :invoke, :f :read, :value [1 nil]}
{:process 3, :type :ok, :f :read, :value [1 7]}
{:process 4, :type :invoke, :f :write, :value [1 7]}
{:process 4, :type :ok, :f :write, :value [1 7]}
{:process 5, :type :invoke, :f :write, :value [1 8]}
{:process 5, :type :info, :f :write, :value [1 8], :error :timed-out}
";

#[test]
fn independent_key_value_tuples_are_separate_registers() {
    let history = parse_history("independent.edn", INDEPENDENT_EDN, None).unwrap();
    assert_eq!(history.format, Format::JepsenEdn);
    assert_eq!(history.ops.len(), 6);
    let key = |i: usize| history.paths.name(history.ops[i].path.unwrap()).to_string();
    let keys: Vec<String> = (0..6).map(key).collect();
    assert_eq!(keys, ["0", "0", "0", "1", "1", "1"]);
    let cas = history.ops.iter().find(|o| o.kind == OpKind::CasValue).unwrap();
    assert_eq!((cas.args.expected_value.as_deref(), cas.args.value.as_deref()), (Some("1"), Some("2")));
    let read = history.ops.iter().find(|o| o.process == 1).unwrap();
    assert_eq!(read.result.value.as_deref(), Some("1"));
    let timed_out = history.ops.iter().find(|o| o.process == 5).unwrap();
    assert_eq!((timed_out.outcome, timed_out.args.value.as_deref()), (Outcome::Unknown, Some("8")));
    // Key 1 alone is not linearizable: its read of 7 completes before the write of 7 starts.
    let report = check_one(&history, "linearizable-writes-blackbox", &CheckOptions::default()).unwrap();
    assert_eq!(report.status, Status::Fail, "{}", report.verdict_line());
    let clean: String = INDEPENDENT_EDN.lines().filter(|l| l.contains(":value [0")).map(|l| format!("{l}\n")).collect();
    let clean = parse_history("key0.edn", &clean, None).unwrap();
    let report = check_one(&clean, "linearizable-writes-blackbox", &CheckOptions::default()).unwrap();
    assert_eq!(report.status, Status::Pass, "{}", report.verdict_line());
}

#[test]
fn independent_tuples_in_a_space_separated_log_too() {
    // With Windows line ends, too.
    let log = "\
INFO  jepsen.util - 0  :invoke  :write  [a 1]
INFO  jepsen.util - 0  :ok      :write  [a 1]
INFO  jepsen.util - 1  :invoke  :cas    [b [nil 2]]
INFO  jepsen.util - 1  :fail    :cas    [b [nil 2]]
";
    let history = parse_log(&log.replace('\n', "\r\n"));
    let paths: Vec<&str> = history.ops.iter().map(|o| history.paths.name(o.path.unwrap())).collect();
    assert_eq!(paths, ["a", "b"]);
    assert_eq!(history.ops[0].args.value.as_deref(), Some("1"));
    assert_eq!((history.ops[1].outcome, history.ops[1].args.value.as_deref()), (Outcome::Fail, Some("2")));
}

#[test]
fn plain_register_values_that_look_like_pairs_stay_plain() {
    // A plain register's cas is `[from to]`; without every invocation a tuple, nothing splits.
    let edn = "\
{:process 0, :type :invoke, :f :cas, :value [1 2]}
{:process 0, :type :fail, :f :cas, :value [1 2]}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value nil}
";
    let history = parse_history("plain.edn", edn, None).unwrap();
    assert!(history.ops.iter().all(|o| history.paths.name(o.path.unwrap()) == "register"));
    let cas = &history.ops[0];
    assert_eq!((cas.args.expected_value.as_deref(), cas.args.value.as_deref()), (Some("1"), Some("2")));
}
