//! The source layout rules the README states, checked: no import cycle among `src/` files, and
//! no file of the ZAB core over 500 lines.
//!
//! Why a test: a cycle or an overgrown file creeps in one convenient `use` at a time; the
//! check is cheap and names the offending edges.
//!
//! An edge A → B is any `crate::`, `super::` or `self::` path in A (in a `use` or inline, outside
//! its `#[cfg(test)]` module) that resolves to B's module; a path resolves to the longest module
//! prefix that is a file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    if parts == ["main"] {
        parts = vec!["<main>".into()];
    }
    parts
}

/// Paths like `crate::a::b::{c, d::e}` or `super::super::x` in `text` (comments removed), expanded.
fn paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let starts = ["crate::", "super::", "self::"].iter().any(|p| rest.starts_with(p));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        if !(starts && boundary) {
            i += 1;
            continue;
        }
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
        let head: Vec<String> = rest[..end].split("::").filter(|s| !s.is_empty()).map(String::from).collect();
        if rest[end..].starts_with('{') && rest[..end].ends_with("::") {
            let close = rest[end..].find('}').map_or(rest.len(), |c| end + c);
            for item in rest[end + 1..close].split(',') {
                let item = item.split(" as ").next().unwrap_or("").trim();
                let mut p = head.clone();
                if !item.is_empty() && item != "self" {
                    p.extend(item.split("::").map(|s| s.trim().trim_start_matches('{').to_string()).filter(|s| !s.is_empty()));
                }
                out.push(p);
            }
            i += close.max(end);
        } else {
            out.push(head);
            i += end.max(1);
        }
    }
    out
}

fn resolve(current: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let (mut base, mut rest): (Module, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("self") => (current.clone(), &path[1..]),
        Some("super") => (current.clone(), path),
        _ => return None,
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    (0..=rest.len()).rev().map(|n| base.iter().chain(&rest[..n]).cloned().collect::<Module>()).find(|m| modules.contains(m))
}

fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let me = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        // A file's `#[cfg(test)]` module (its `use super::*` is the file itself) is not its layout.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let targets: BTreeSet<Module> = paths(&text).iter().filter_map(|p| resolve(&me, p, &modules)).filter(|t| *t != me).collect();
        edges.insert(me, targets);
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in &edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut s = State { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on_stack: BTreeSet::new(), out: Vec::new() };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn describe(component: &[Module], edges: &BTreeMap<Module, BTreeSet<Module>>) -> String {
    let set: BTreeSet<&Module> = component.iter().collect();
    let mut lines = Vec::new();
    for a in component {
        for b in edges[a].iter().filter(|b| set.contains(b)) {
            lines.push(format!("{} -> {}", a.join("/"), b.join("/")));
        }
    }
    lines.sort();
    lines.join("; ")
}

#[test]
fn no_import_cycle_among_src_files() {
    let edges = import_graph();
    assert!(edges.len() > 100, "the walk found the source files ({})", edges.len());
    let found = cycles(&edges);
    let text: Vec<String> = found.iter().map(|c| describe(c, &edges)).collect();
    assert!(found.is_empty(), "{} import cycle(s): {}", found.len(), text.join(" | "));
}

/// The checker itself: a planted cycle (two modules naming each other) is found, a chain is not.
#[test]
fn the_cycle_finder_finds_a_planted_cycle_and_accepts_a_chain() {
    let m = |s: &str| -> Module { s.split('/').map(String::from).collect() };
    let modules: BTreeSet<Module> = [m("a"), m("a/b"), m("c")].into_iter().collect();
    let text_b = "use super::super::c::Thing;\nfn f() { crate::a::helper(); }";
    let b_edges: BTreeSet<Module> = paths(text_b).iter().filter_map(|p| resolve(&m("a/b"), p, &modules)).collect();
    assert_eq!(b_edges, [m("a"), m("c")].into_iter().collect());
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    edges.insert(m("a"), [m("a/b")].into_iter().collect());
    edges.insert(m("a/b"), b_edges);
    edges.insert(m("c"), BTreeSet::new());
    assert_eq!(cycles(&edges).len(), 1, "a -> a/b -> a is a cycle");
    edges.insert(m("a"), BTreeSet::new());
    assert!(cycles(&edges).is_empty(), "a/b -> a and a/b -> c is a chain");
}

#[test]
fn no_zab_core_file_over_500_lines() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/zab"), &mut files);
    assert!(files.len() > 10, "found the ZAB core's files");
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > 500)
        .map(|(f, n)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(long.is_empty(), "split along the protocol's seams: {long:?}");
}
