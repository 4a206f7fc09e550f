//! `child-lists`: every getChildren reply is a child list the write order produced — the
//! names, the pzxid and the cversion of one state of the replayed children (`children`), not
//! already replaced at the reply's zxid.
//!
//! Source: ZooKeeper Programmer's Guide, "ZooKeeper Stat Structure" (pzxid: the zxid of the
//! change that last modified children; cversion: the number of changes to the children);
//! `DataTree.createNode` / `deleteNode`, `DataNode.copyStat` (3.8); the paper's §2.3
//! sequential consistency, for lists as for data.
//!
//! Replies with a stat (getChildren2) are placed by their pzxid; a multiRead's lists (no
//! stat) by the reply zxid, exactly — zksim serves a multiRead at one point; other formats'
//! stat-less lists are not judged. Lists of a parent from the first zxid an unknown-outcome
//! child create or delete could have taken are not judged (counted).

use std::collections::BTreeMap;

use super::children::ChildState;
use super::context::Context;
use super::report::CheckReport;
use super::CheckOptions;
use crate::history::{Format, OpId, OpKind, Outcome, PathId, Zxid};

pub const NAME: &str = "child-lists";
const SOURCE: &str = "Programmer's Guide, ZooKeeper Stat Structure (pzxid, cversion); DataTree.createNode/deleteNode; ZooKeeper paper §2.3";

/// One list to judge: the op, and which of its lists (the reply's, or a multiRead's sub-result).
#[derive(Clone, Copy)]
struct Listed {
    op: OpId,
    sub: Option<usize>,
    /// Placed by pzxid (exact) or by the reply zxid.
    by_pzxid: bool,
}

pub fn check(context: &Context, _options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::new(NAME, SOURCE);
    if !context.has_zxids() {
        return report.not_applicable("needs zxids to place child lists");
    }
    let history = context.history;
    let mut queries: BTreeMap<PathId, Vec<(Zxid, Listed)>> = BTreeMap::new();
    for (id, op) in history.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let id = id as OpId;
        match op.kind {
            OpKind::GetChildren => {
                let (Some(path), true) = (op.path, has_list(op, None)) else { continue };
                match (op.result.pzxid, op.zxid) {
                    (Some(pzxid), _) => queries.entry(path).or_default().push((pzxid, Listed { op: id, sub: None, by_pzxid: true })),
                    (None, Some(zxid)) if history.format == Format::Zksim => {
                        queries.entry(path).or_default().push((zxid, Listed { op: id, sub: None, by_pzxid: false }))
                    }
                    _ => {}
                }
            }
            OpKind::MultiRead if history.format == Format::Zksim => {
                let Some(zxid) = op.zxid else { continue };
                for (i, sub) in op.args.sub_ops.iter().enumerate() {
                    if sub.kind == OpKind::GetChildren && has_list(op, Some(i)) {
                        queries.entry(sub.path).or_default().push((zxid, Listed { op: id, sub: Some(i), by_pzxid: false }));
                    }
                }
            }
            _ => {}
        }
    }
    if queries.is_empty() {
        return report.not_applicable("no getChildren replies");
    }
    let (mut exact, mut modulo, mut unknown) = (0usize, 0usize, 0usize);
    let replay = context.children();
    for (parent, mut list) in queries {
        replay.walk(history, parent, &mut list, |listed, state| {
            if !state.known {
                unknown += 1;
                return;
            }
            match state.judgeable() {
                true => exact += 1,
                false => modulo += 1,
            }
            judge(context, parent, listed, state, &mut report);
        });
    }
    report.finish(format!(
        "{} child lists replayed: {exact} exactly (names, pzxid, cversion), {modulo} by names but for children unknown-outcome ops may have changed; {unknown} of parents whose first list is not recorded",
        exact + modulo
    ))
}

/// The names a reply (or sub-result) listed, as recorded.
fn children_of(op: &crate::history::Op, sub: Option<usize>) -> Option<&[String]> {
    let extra = op.result.extra.as_ref()?;
    let children = match sub {
        None => extra.children.as_ref()?,
        Some(i) => {
            let sub = extra.sub_results.get(i)?;
            if sub.error.is_some() {
                return None;
            }
            sub.result.extra.as_ref()?.children.as_ref()?
        }
    };
    Some(children)
}

fn has_list(op: &crate::history::Op, sub: Option<usize>) -> bool {
    children_of(op, sub).is_some()
}

/// The names a reply (or sub-result) listed, sorted (borrowed: a list is judged once per
/// query, and a directory's list is up to hundreds of names).
fn listed(op: &crate::history::Op, sub: Option<usize>) -> Option<Vec<&str>> {
    let mut names: Vec<&str> = children_of(op, sub)?.iter().map(String::as_str).collect();
    names.sort_unstable();
    Some(names)
}

/// The replayed names a sorted list lacks, and the listed names the replay lacks, each in
/// order: one merge walk (a binary search per replayed name, before). A name listed twice
/// matches its replayed name both times.
fn differences<'a>(replayed: &'a std::collections::BTreeSet<String>, listed: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    debug_assert!(listed.windows(2).all(|w| w[0] <= w[1]), "the list is sorted");
    let (mut only_replayed, mut only_listed) = (Vec::new(), Vec::new());
    let mut replayed = replayed.iter().map(String::as_str).peekable();
    let mut head_matched = false;
    for &name in listed {
        while let Some(&head) = replayed.peek() {
            if head >= name {
                break;
            }
            if !head_matched {
                only_replayed.push(head);
            }
            head_matched = false;
            replayed.next();
        }
        if replayed.peek() == Some(&name) {
            head_matched = true;
        } else {
            only_listed.push(name);
        }
    }
    only_replayed.extend(replayed.skip(usize::from(head_matched)));
    (only_replayed, only_listed)
}

fn judge(context: &Context, parent: PathId, listed_at: Listed, state: &ChildState, report: &mut CheckReport) {
    let history = context.history;
    let op = &history.ops[listed_at.op as usize];
    let names = listed(op, listed_at.sub).expect("queried lists have names");
    let describe = || history.describe_op(listed_at.op);
    let parent_name = history.paths.name(parent);
    let mut ops = vec![listed_at.op];
    ops.extend(state.last_writer.and_then(|w| w.op()));
    if !state.present {
        let text = format!("{} listed children of {parent_name}, which the replay has absent there", describe());
        report.violation("child list of a missing node", ops, text);
        return;
    }
    if listed_at.by_pzxid && state.judgeable() {
        let pzxid = op.result.pzxid.expect("placed by pzxid");
        if state.pzxid != pzxid {
            let text = format!("{} returned pzxid {pzxid:#x}, but no child of {parent_name} was created or deleted at that zxid (the replay's pzxid there is {:#x})", describe(), state.pzxid);
            report.violation("child list never existed", ops, text);
            return;
        }
        if let Some(cversion) = op.result.extra.as_ref().and_then(|e| e.cversion) {
            if cversion as i64 != state.reported_cversion() {
                let text = format!("{} returned cversion {cversion}, the replay gives {} ({} creations, {} children)", describe(), state.reported_cversion(), state.stored_cversion, state.names.len());
                report.violation("cversion differs from replay", ops.clone(), text);
            }
        }
        if let Some(header) = op.zxid.filter(|&h| h >= state.next_change) {
            let text = format!("{} carried reply zxid {header:#x}, but its list of {parent_name} (pzxid {pzxid:#x}) was replaced at {:#x}: the replica returned children it had already changed", describe(), state.next_change);
            report.violation("child list contradicts its reply zxid", ops.clone(), text);
        }
    }
    let (only_replayed, only_listed) = differences(&state.names, &names);
    let missing: Vec<&str> = only_replayed.into_iter().filter(|n| !state.may_omit(n)).take(5).collect();
    let extra: Vec<&str> = only_listed.into_iter().filter(|n| !state.may_list(n)).take(5).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let text = format!(
            "{} listed {} children of {parent_name}; the replay at that point has {}: missing {missing:?}, not there {extra:?}",
            describe(),
            names.len(),
            state.names.len()
        );
        report.violation("child list differs from replay", ops, text);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand::{Rng, SeedableRng};

    use super::differences;

    /// The merge walk gives what a search of each name in the other side gives, duplicates in
    /// the list included.
    #[test]
    fn differences_are_those_a_search_finds() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(18);
        let pool = ["a", "b", "b-0000000001", "c", "d", "e1", "e2", "z"];
        for _ in 0..2_000 {
            let replayed: BTreeSet<String> = pool.iter().filter(|_| rng.gen_bool(0.5)).map(|s| s.to_string()).collect();
            let mut listed: Vec<&str> = pool.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
            if rng.gen_bool(0.2) && !listed.is_empty() {
                let twice = listed[rng.gen_range(0..listed.len())];
                listed.push(twice);
            }
            listed.sort_unstable();
            let expected_replayed: Vec<&str> = replayed.iter().map(String::as_str).filter(|n| listed.binary_search(n).is_err()).collect();
            let expected_listed: Vec<&str> = listed.iter().copied().filter(|n| !replayed.contains(*n)).collect();
            assert_eq!(differences(&replayed, &listed), (expected_replayed, expected_listed), "{replayed:?} vs {listed:?}");
        }
    }
}
