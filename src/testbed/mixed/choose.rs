//! What the next request of a `mixed` lane is: an operation drawn from the mix, aimed at a
//! register, a directory or a node the client knows, and the history's description of it.
//!
//! Why the client keeps a little knowledge (versions, child names): a conditional write, a
//! delete or a grandchild create needs a target that may exist; a guess that no longer holds
//! (another session deleted the node, bumped the version) is a near miss the checks must
//! accept — BadVersion, NoNode, NotEmpty — so stale knowledge is part of the point.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::history::record::{ArgsRecord, SubOpRecord};
use crate::proto::{Acl, CreateMode, Op, Request};

/// Operation names a scenario's `workload.ops` may weigh, with the built-in weights.
pub const OP_NAMES: [&str; 16] = [
    "get_data",
    "exists",
    "get_children",
    "read_child",
    "sync_read",
    "multi_read",
    "set_data",
    "cas",
    "create",
    "create_sequential",
    "create_ephemeral",
    "create_child",
    "create_container",
    "create_ttl",
    "delete",
    "multi",
];

const DEFAULT_WEIGHTS: [f64; 16] = [0.12, 0.06, 0.06, 0.05, 0.05, 0.03, 0.09, 0.06, 0.09, 0.08, 0.07, 0.05, 0.01, 0.01, 0.06, 0.05];

/// Creates scale with the run's drawn growth factor.
fn is_create(name: &str) -> bool {
    name.starts_with("create")
}

/// Known child names per parent: a sample, not the truth (bounded).
const KNOWN_PER_PARENT: usize = 256;

/// Children a client last saw in a directory past which its creates there turn into deletes:
/// the tree levels off at thousands of nodes (16 directories of ~200, and grandchildren)
/// instead of growing as long as the run lasts — in a 1-hour run the child lists its reads
/// record made the history grow with the square of the run's length.
const DIR_STEADY_CHILDREN: usize = 200;

/// A client's knowledge of the tree, shared by its lanes and kept across its sessions.
#[derive(Debug, Default)]
pub struct Knowledge {
    /// Last version seen per path.
    pub versions: BTreeMap<String, i32>,
    /// Child names seen or created, per parent path.
    pub children: BTreeMap<String, Vec<String>>,
    /// Unique suffix for this client's names and values.
    pub counter: u64,
}

impl Knowledge {
    pub fn learn_child(&mut self, path: &str) {
        let Some((parent, name)) = split(path) else { return };
        if !self.children.contains_key(parent) {
            self.children.insert(parent.to_string(), Vec::new());
        }
        let known = self.children.get_mut(parent).expect("inserted above");
        if !known.iter().any(|n| n == name) {
            if known.len() >= KNOWN_PER_PARENT {
                known.remove(0);
            }
            known.push(name.to_string());
        }
    }

    pub fn forget(&mut self, path: &str) {
        if let Some((parent, name)) = split(path) {
            if let Some(known) = self.children.get_mut(parent) {
                known.retain(|n| n != name);
            }
        }
        self.versions.remove(path);
        self.children.remove(path);
        // Every path under `path` starts with `path/`, so they sort together from it on.
        let prefix = format!("{path}/");
        let under: Vec<String> = self.children.range(prefix.clone()..).map(|(p, _)| p).take_while(|p| p.starts_with(&prefix)).cloned().collect();
        for p in under {
            self.children.remove(&p);
        }
    }

    pub fn learn_children(&mut self, parent: &str, names: &[String]) {
        let mut names: Vec<String> = names.to_vec();
        if names.len() > KNOWN_PER_PARENT {
            names.drain(..names.len() - KNOWN_PER_PARENT);
        }
        self.children.insert(parent.to_string(), names);
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A known child of one of `parents` (full path), if any: a parent drawn among those
    /// with known children, then one of its children (a few draws for a persistent one).
    fn known_child(&self, rng: &mut ChaCha8Rng, parents: &[String], persistent_only: bool) -> Option<String> {
        let with_children: Vec<(&String, &Vec<String>)> =
            parents.iter().filter_map(|p| self.children.get(p).filter(|c| !c.is_empty()).map(|c| (p, c))).collect();
        let &(parent, names) = with_children.choose(rng)?;
        (0..4)
            .map(|_| names.choose(rng).expect("non-empty"))
            .find(|name| !persistent_only || !name.starts_with('e'))
            .map(|name| format!("{parent}/{name}"))
    }
}

fn split(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    (i > 0).then(|| (&path[..i], &path[i + 1..]))
}


/// The run's operation mix (weights by name, creates scaled by the growth factor).
#[derive(Clone, Debug)]
pub struct Mix {
    weights: Vec<(&'static str, f64)>,
    total: f64,
}

impl Mix {
    pub fn new(overrides: &BTreeMap<String, f64>, growth: f64) -> Mix {
        let weights: Vec<(&'static str, f64)> = OP_NAMES
            .iter()
            .zip(DEFAULT_WEIGHTS)
            .map(|(&name, default)| {
                let base = if overrides.is_empty() { default } else { overrides.get(name).copied().unwrap_or(0.0) };
                (name, if is_create(name) { base * growth } else { base })
            })
            .collect();
        let total = weights.iter().map(|(_, w)| w).sum::<f64>().max(f64::MIN_POSITIVE);
        Mix { weights, total }
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> &'static str {
        let mut x = rng.gen::<f64>() * self.total;
        for &(name, weight) in &self.weights {
            if x < weight {
                return name;
            }
            x -= weight;
        }
        self.weights.iter().rev().find(|(_, w)| *w > 0.0).map_or("get_data", |(n, _)| n)
    }
}

/// What a lane sends and how the history names it.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The history's op name.
    pub op: &'static str,
    pub path: String,
    pub args: ArgsRecord,
    /// `sync_read`: a sync of `path` goes first.
    pub sync_first: bool,
    pub request: Request,
}

/// Where a lane's requests go.
pub struct Targets<'a> {
    pub client: usize,
    pub registers: &'a [String],
    pub dirs: &'a [String],
}

/// Draws the next request.
pub fn choose(rng: &mut ChaCha8Rng, mix: &Mix, targets: &Targets, knowledge: &mut Knowledge) -> Planned {
    let name = mix.pick(rng);
    let register = targets.registers.choose(rng).expect("registers").clone();
    let dir = targets.dirs.choose(rng).expect("dirs").clone();
    let c = targets.client;
    let watch = rng.gen_bool(0.5);
    let full = knowledge.children.get(&dir).is_some_and(|known| known.len() >= DIR_STEADY_CHILDREN);
    if is_create(name) && full {
        return delete(rng, knowledge, std::slice::from_ref(&dir), &dir, watch);
    }
    match name {
        "get_data" => read("get_data", &register, watch, Request::GetData { path: register.clone(), watch }),
        "exists" => {
            // A register, or a name this client is about to create (an exist watch on an
            // absent node: NodeCreated).
            let path = if rng.gen_bool(0.5) { register } else { format!("{dir}/c{c}-{}", knowledge.counter + 1) };
            read("exists", &path, watch, Request::Exists { path: path.clone(), watch })
        }
        "get_children" => {
            let path = match rng.gen_bool(0.8) {
                true => dir,
                false => knowledge.known_child(rng, targets.dirs, true).unwrap_or(dir),
            };
            read("get_children", &path, watch, Request::GetChildren { path: path.clone(), watch, with_stat: true })
        }
        "read_child" => {
            let path = knowledge.known_child(rng, targets.dirs, false).unwrap_or(register);
            read("get_data", &path, watch, Request::GetData { path: path.clone(), watch })
        }
        "sync_read" => {
            let mut planned = read("sync_read", &register, false, Request::GetData { path: register.clone(), watch: false });
            planned.sync_first = true;
            planned
        }
        "multi_read" => multi_read(&register, &dir, targets.registers.choose(rng).expect("registers")),
        "set_data" => {
            let path = match rng.gen_bool(0.7) {
                true => register,
                false => knowledge.known_child(rng, targets.dirs, false).unwrap_or(register),
            };
            let value = format!("c{c}-{}", knowledge.next());
            set("set_data", &path, value, -1)
        }
        "cas" => {
            let expected = knowledge.versions.get(&register).copied().unwrap_or(0);
            let value = format!("c{c}-{}", knowledge.next());
            set("cas", &register, value, expected)
        }
        "create" => {
            let n = knowledge.next();
            create(&format!("{dir}/c{c}-{n}"), format!("c{c}-{n}"), CreateMode::Persistent)
        }
        "create_sequential" => {
            let n = knowledge.next();
            create(&format!("{dir}/s-"), format!("c{c}-{n}"), CreateMode::PersistentSequential)
        }
        "create_ephemeral" => {
            let n = knowledge.next();
            match rng.gen_bool(0.5) {
                true => create(&format!("{dir}/e{c}-"), format!("c{c}-{n}"), CreateMode::EphemeralSequential),
                false => create(&format!("{dir}/ep-c{c}-{n}"), format!("c{c}-{n}"), CreateMode::Ephemeral),
            }
        }
        "create_child" => {
            let n = knowledge.next();
            let parent = knowledge.known_child(rng, targets.dirs, true).unwrap_or(dir);
            let mode = if rng.gen_bool(0.5) { CreateMode::PersistentSequential } else { CreateMode::Persistent };
            let path = match mode {
                CreateMode::Persistent => format!("{parent}/g-c{c}-{n}"),
                _ => format!("{parent}/g-"),
            };
            create(&path, format!("c{c}-{n}"), mode)
        }
        "create_container" => {
            let n = knowledge.next();
            create(&format!("{dir}/ctr-c{c}-{n}"), format!("c{c}-{n}"), CreateMode::Container)
        }
        "create_ttl" => {
            // Off by default in ZooKeeper (`extendedTypesEnabled`): Unimplemented.
            let n = knowledge.next();
            let mut planned = create(&format!("{dir}/ttl-c{c}-{n}"), format!("c{c}-{n}"), CreateMode::PersistentWithTtl);
            planned.args.ttl_ms = Some(10_000);
            if let Request::Create { ttl_ms, .. } = &mut planned.request {
                *ttl_ms = 10_000;
            }
            planned
        }
        "delete" => delete(rng, knowledge, targets.dirs, &dir, watch),
        _ => multi(rng, targets, &register, &dir, knowledge),
    }
}

/// A delete of a known child of one of `parents` (any version, or 30% of the time the last
/// version seen); with none known, a getChildren of `dir` to learn some.
fn delete(rng: &mut ChaCha8Rng, knowledge: &Knowledge, parents: &[String], dir: &str, watch: bool) -> Planned {
    let Some(path) = knowledge.known_child(rng, parents, false) else {
        return read("get_children", dir, watch, Request::GetChildren { path: dir.to_string(), watch, with_stat: true });
    };
    let version = match rng.gen_bool(0.3) {
        true => knowledge.versions.get(&path).copied().unwrap_or(0),
        false => -1,
    };
    let args = ArgsRecord { expected_version: Some(version), ..ArgsRecord::default() };
    Planned { op: "delete", path: path.clone(), args, sync_first: false, request: Request::Delete { path, version } }
}

fn read(op: &'static str, path: &str, watch: bool, request: Request) -> Planned {
    let args = ArgsRecord { watch, ..ArgsRecord::default() };
    Planned { op, path: path.to_string(), args, sync_first: false, request }
}

fn set(op: &'static str, path: &str, value: String, version: i32) -> Planned {
    let args = ArgsRecord { value: Some(value.clone()), expected_version: Some(version), ..ArgsRecord::default() };
    let request = Request::SetData { path: path.to_string(), data: value.into_bytes(), version };
    Planned { op, path: path.to_string(), args, sync_first: false, request }
}

fn create(path: &str, value: String, mode: CreateMode) -> Planned {
    let args = ArgsRecord {
        value: Some(value.clone()),
        ephemeral: mode.is_ephemeral(),
        sequential: mode.is_sequential(),
        container: mode.is_container(),
        ..ArgsRecord::default()
    };
    let request = Request::Create { path: path.to_string(), data: value.into_bytes(), acl: Acl::open_unsafe(), mode, ttl_ms: -1, with_stat: true };
    Planned { op: "create", path: path.to_string(), args, sync_first: false, request }
}

fn multi_read(a: &str, dir: &str, b: &str) -> Planned {
    let ops = vec![Op::GetData { path: a.to_string() }, Op::GetChildren { path: dir.to_string() }, Op::GetData { path: b.to_string() }];
    let args = ArgsRecord { ops: ops.iter().map(sub_op_record).collect(), ..ArgsRecord::default() };
    Planned { op: "multi_read", path: a.to_string(), args, sync_first: false, request: Request::MultiRead { ops } }
}

/// check (a register's last known version) + setData (another register) + create (a new
/// child), and sometimes a delete of a known child: all or nothing.
fn multi(rng: &mut ChaCha8Rng, targets: &Targets, register: &str, dir: &str, knowledge: &mut Knowledge) -> Planned {
    let c = targets.client;
    let checked = targets.registers.choose(rng).expect("registers").clone();
    // Half the checks name the last version seen (often stale: the multi fails), half any
    // version (-1: it holds while the node exists).
    let expected = match rng.gen_bool(0.5) {
        true => knowledge.versions.get(&checked).copied().unwrap_or(0),
        false => -1,
    };
    let n = knowledge.next();
    let value = format!("c{c}-{n}");
    let mut ops = vec![
        Op::Check { path: checked, version: expected },
        Op::SetData { path: register.to_string(), data: value.clone().into_bytes(), version: -1 },
        Op::Create { path: format!("{dir}/m-c{c}-{n}"), data: value.into_bytes(), acl: Acl::open_unsafe(), mode: CreateMode::Persistent, ttl_ms: -1, with_stat: false },
    ];
    if rng.gen_bool(0.3) {
        if let Some(path) = knowledge.known_child(rng, targets.dirs, false) {
            ops.push(Op::Delete { path, version: -1 });
        }
    }
    let args = ArgsRecord { ops: ops.iter().map(sub_op_record).collect(), ..ArgsRecord::default() };
    Planned { op: "multi", path: register.to_string(), args, sync_first: false, request: Request::Multi { ops } }
}

fn sub_op_record(op: &Op) -> SubOpRecord {
    let (name, value, expected_version) = match op {
        Op::Create { data, .. } => ("create", Some(String::from_utf8_lossy(data).into_owned()), None),
        Op::Delete { version, .. } => ("delete", None, Some(*version)),
        Op::SetData { data, version, .. } => ("set_data", Some(String::from_utf8_lossy(data).into_owned()), Some(*version)),
        Op::Check { version, .. } => ("check", None, Some(*version)),
        Op::GetData { .. } => ("get_data", None, None),
        Op::GetChildren { .. } => ("get_children", None, None),
    };
    SubOpRecord { op: name.to_string(), path: op.path().to_string(), value, expected_version }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `forget` drops the path, its subtree's entries and nothing else, as a filter over every
    /// entry did (siblings that share a prefix, like `/a/b` and `/a/b-1`, stay).
    #[test]
    fn forget_drops_exactly_the_subtree() {
        let paths = ["/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/b-1", "/a/b-1/x", "/a/bb", "/a/b0", "/a.b", "/b", "/a/b/"];
        for forgotten in ["/a/b", "/a", "/a/b/c", "/b", "/zz"] {
            let mut knowledge = Knowledge::default();
            for p in paths {
                knowledge.learn_child(&format!("{p}/n"));
            }
            let mut expected = knowledge.children.clone();
            let prefix = format!("{forgotten}/");
            expected.retain(|p, _| p != forgotten && !p.starts_with(&prefix));
            if let Some((parent, name)) = split(forgotten) {
                if let Some(known) = expected.get_mut(parent) {
                    known.retain(|n| n != name);
                }
            }
            knowledge.forget(forgotten);
            assert_eq!(knowledge.children, expected, "forgetting {forgotten}");
        }
    }
}
