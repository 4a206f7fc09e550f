//! A synthetic ZooKeeper-like history generator, for benchmarks and property tests.
//!
//! Why: the checker must handle million-op histories, and tests need histories whose
//! correctness is known by construction. This models the guarantees, not the protocol: one
//! global zxid sequence (the leader), followers that lag, sessions that stay on a server and
//! move only to a server at least as new, reads served from the local replica (so stale but
//! sequentially consistent), sync+reads served at the committed zxid, conditional sets that
//! fail with BadVersion (error txns take a zxid, as in ZooKeeper), and rare unknown outcomes.

use super::model::*;
use super::record::{ZKSIM_FORMAT, ZKSIM_FORMAT_VERSION};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub ops: usize,
    pub clients: usize,
    pub servers: usize,
    pub paths: usize,
    pub seed: u64,
    /// One write in this many has an unknown outcome (0 = never).
    pub unknown_every: u64,
    /// Also delete and re-create the paths, and probe them with exists (absent states).
    pub churn: bool,
}

impl Default for SynthConfig {
    fn default() -> SynthConfig {
        SynthConfig {
            ops: 10_000,
            clients: 8,
            servers: 3,
            paths: 4,
            seed: 1,
            unknown_every: 500,
            churn: false,
        }
    }
}

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Client {
    session: SessionId,
    process: i64,
    server: usize,
    busy_until_ns: u64,
    last_zxid: Zxid,
    known_version: Vec<i32>,
    writes: u64,
}

/// One state of a path; `present` false = deleted.
#[derive(Clone, Debug)]
struct State {
    since: Zxid,
    present: bool,
    version: i32,
    value: String,
}

/// States of one path, in zxid order.
type PathStates = Vec<State>;

struct World {
    rng: Rng,
    committed: Zxid,
    applied: Vec<Zxid>,
    paths: Vec<PathStates>,
    clients: Vec<Client>,
    now_ns: u64,
}

impl World {
    fn state_at(&self, path: usize, zxid: Zxid) -> &State {
        let states = &self.paths[path];
        let i = states.partition_point(|s| s.since <= zxid);
        &states[i.saturating_sub(1)]
    }

    fn current(&self, path: usize) -> State {
        self.paths[path]
            .last()
            .expect("paths start with a state")
            .clone()
    }

    /// The serving replica's applied zxid: lagging behind the leader, never behind the session.
    fn replica_point(&mut self, c: usize) -> Zxid {
        let server = self.clients[c].server;
        let lag = self.rng.below(40) as Zxid;
        let caught_up = (self.committed - lag).max(self.applied[server]);
        self.applied[server] = caught_up.max(self.clients[c].last_zxid);
        self.applied[server]
    }
}

/// Generates a correct history (every check passes on it).
pub fn generate(config: &SynthConfig) -> History {
    assert!(
        config.clients > 0 && config.servers > 0 && config.paths > 0,
        "a history needs clients, servers and paths"
    );
    let mut history = History::new("synthetic", Format::Zksim);
    let base: Zxid = 1 << 32;
    let mut world = World {
        rng: Rng(config.seed),
        committed: base + config.paths as Zxid,
        applied: vec![base + config.paths as Zxid; config.servers],
        paths: Vec::new(),
        clients: Vec::new(),
        now_ns: 1_000_000,
    };
    for p in 0..config.paths {
        let id = history.paths.intern(&format!("/h/k{p}"));
        let mzxid = base + p as Zxid + 1;
        history.init.insert(
            id,
            NodeState {
                value: Some("init".into()),
                version: 0,
                mzxid,
                czxid: Some(mzxid),
            },
        );
        world.paths.push(vec![State {
            since: mzxid,
            present: true,
            version: 0,
            value: "init".to_string(),
        }]);
    }
    for c in 0..config.clients {
        let session = history
            .sessions
            .intern(&format!("0x{:x}", 0x1000_0000_0000 + c as u64));
        world.clients.push(Client {
            session,
            process: c as i64,
            server: c % config.servers,
            busy_until_ns: 0,
            last_zxid: 0,
            known_version: vec![0; config.paths],
            writes: 0,
        });
    }
    history.meta = serde_json::json!({"kind": "meta", "format": ZKSIM_FORMAT, "format_version": ZKSIM_FORMAT_VERSION, "generator": "synth", "seed": config.seed});
    history.ops.reserve(config.ops);
    for _ in 0..config.ops {
        let op = next_op(&mut world, config);
        history.ops.push(op);
    }
    history.ops.sort_by_key(|op| op.complete_ns);
    for (line, op) in history.ops.iter_mut().enumerate() {
        op.line = line as u32 + 2;
    }
    history.final_state = Some(final_state(&world, config, history.ops.len() as u32 + 2));
    history
}

fn next_op(world: &mut World, config: &SynthConfig) -> Op {
    let c = world.rng.below(config.clients as u64) as usize;
    let invoke_ns = world.now_ns.max(world.clients[c].busy_until_ns) + world.rng.below(500);
    world.now_ns = invoke_ns;
    let complete_ns = invoke_ns + 200 + world.rng.below(20_000);
    world.clients[c].busy_until_ns = complete_ns + 1;
    if world.rng.below(1000) == 0 {
        let server = world.rng.below(config.servers as u64) as usize;
        world.clients[c].server = server;
    }
    let path = world.rng.below(config.paths as u64) as usize;
    let mut op = blank_op(world, c, path, invoke_ns, complete_ns);
    let roll = world.rng.below(100);
    match roll {
        _ if config.churn && roll >= 85 => churn(world, c, path, roll, &mut op),
        0..=39 => read(world, c, path, false, &mut op),
        40..=49 => read(world, c, path, true, &mut op),
        50..=74 => write(world, c, path, None, config, &mut op),
        _ => {
            let expected = world.clients[c].known_version[path];
            write(world, c, path, Some(expected), config, &mut op)
        }
    }
    op
}

fn blank_op(world: &World, c: usize, path: usize, invoke_ns: u64, complete_ns: u64) -> Op {
    let client = &world.clients[c];
    Op {
        line: 0,
        process: client.process,
        client: c as i64,
        session: Some(client.session),
        server: Some(format!("s{}", client.server + 1)),
        kind: OpKind::Read,
        path: Some(path as PathId),
        args: OpArgs::default(),
        invoke_ns,
        complete_ns,
        outcome: Outcome::Ok,
        error: None,
        zxid: None,
        result: OpResult::default(),
        seq: None,
        arrival: None,
    }
}

fn read(world: &mut World, c: usize, path: usize, sync: bool, op: &mut Op) {
    let point = if sync {
        world.committed
    } else {
        world.replica_point(c)
    };
    let server = world.clients[c].server;
    world.applied[server] = world.applied[server].max(point);
    let state = world.state_at(path, point).clone();
    op.kind = if sync { OpKind::SyncRead } else { OpKind::Read };
    op.zxid = Some(point);
    if state.present {
        op.result = OpResult {
            value: Some(state.value),
            version: Some(state.version),
            mzxid: Some(state.since),
            exists: Some(true),
            ..OpResult::default()
        };
    } else {
        op.outcome = Outcome::Fail;
        op.error = Some(ErrorCode::NoNode);
        op.result = OpResult {
            exists: Some(false),
            ..OpResult::default()
        };
    }
    let client = &mut world.clients[c];
    client.last_zxid = client.last_zxid.max(point);
    client.known_version[path] = state.version;
}

/// create, delete or exists (only with `churn`).
fn churn(world: &mut World, c: usize, path: usize, roll: u64, op: &mut Op) {
    if roll < 90 {
        let point = world.replica_point(c);
        let state = world.state_at(path, point).clone();
        op.kind = OpKind::Exists;
        op.zxid = Some(point);
        op.result = match state.present {
            true => OpResult {
                version: Some(state.version),
                mzxid: Some(state.since),
                exists: Some(true),
                ..OpResult::default()
            },
            false => OpResult {
                exists: Some(false),
                ..OpResult::default()
            },
        };
        world.clients[c].last_zxid = world.clients[c].last_zxid.max(point);
        return;
    }
    let creating = roll < 95;
    op.kind = if creating {
        OpKind::Create
    } else {
        OpKind::Delete
    };
    world.clients[c].writes += 1;
    let value = format!("c{}-{}", c, world.clients[c].writes);
    if creating {
        op.args.value = Some(value.clone());
    }
    let current = world.current(path);
    let zxid = commit(world, c);
    op.zxid = Some(zxid);
    match (creating, current.present) {
        (true, false) => {
            world.paths[path].push(State {
                since: zxid,
                present: true,
                version: 0,
                value,
            });
            op.result = OpResult {
                mzxid: Some(zxid),
                czxid: Some(zxid),
                ..OpResult::default()
            };
        }
        (false, true) => world.paths[path].push(State {
            since: zxid,
            present: false,
            version: 0,
            value: String::new(),
        }),
        (true, true) => (op.outcome, op.error) = (Outcome::Fail, Some(ErrorCode::NodeExists)),
        (false, false) => (op.outcome, op.error) = (Outcome::Fail, Some(ErrorCode::NoNode)),
    }
}

/// The leader takes the next zxid; the client's server has applied it when it replies.
fn commit(world: &mut World, c: usize) -> Zxid {
    let zxid = world.committed + 1;
    world.committed = zxid;
    let server = world.clients[c].server;
    world.applied[server] = zxid;
    world.clients[c].last_zxid = zxid;
    zxid
}

fn write(
    world: &mut World,
    c: usize,
    path: usize,
    expected: Option<i32>,
    config: &SynthConfig,
    op: &mut Op,
) {
    world.clients[c].writes += 1;
    let value = format!("c{}-{}", c, world.clients[c].writes);
    op.kind = if expected.is_some() {
        OpKind::Cas
    } else {
        OpKind::Write
    };
    op.args.value = Some(value.clone());
    op.args.expected_version = expected;
    let unknown = config.unknown_every > 0 && world.rng.below(config.unknown_every) == 0;
    let current = world.current(path);
    let version = current.version;
    let applies = current.present && expected.is_none_or(|e| e == version);
    if unknown && world.rng.below(2) == 0 {
        op.outcome = Outcome::Unknown;
        op.error = Some(ErrorCode::ConnectionLoss);
        let client = &mut world.clients[c];
        client.process += config.clients as i64;
        return; // never reached the leader
    }
    let zxid = commit(world, c);
    if applies {
        world.paths[path].push(State {
            since: zxid,
            present: true,
            version: version + 1,
            value,
        });
        world.clients[c].known_version[path] = version + 1;
        op.result = OpResult {
            version: Some(version + 1),
            mzxid: Some(zxid),
            ..OpResult::default()
        };
        op.zxid = Some(zxid);
    } else {
        op.outcome = Outcome::Fail;
        op.error = Some(if current.present {
            ErrorCode::BadVersion
        } else {
            ErrorCode::NoNode
        });
        op.zxid = Some(zxid);
        world.clients[c].known_version[path] = version;
    }
    if unknown {
        op.outcome = Outcome::Unknown;
        op.error = Some(ErrorCode::ConnectionLoss);
        op.result = OpResult::default();
        op.zxid = None;
        world.clients[c].process += config.clients as i64;
    }
}

fn final_state(world: &World, config: &SynthConfig, line: u32) -> FinalState {
    let mut nodes = BTreeMap::new();
    for (p, states) in world.paths.iter().enumerate() {
        let last = states.last().expect("non-empty").clone();
        let node = last.present.then_some(NodeState {
            value: Some(last.value),
            version: last.version,
            mzxid: last.since,
            czxid: None,
        });
        nodes.insert(p as PathId, node);
    }
    let replicas = (0..config.servers)
        .map(|s| {
            (
                format!("s{}", s + 1),
                ReplicaFinal {
                    zxid: Some(world.committed),
                    digest: Some(format!("{:x}", world.committed.wrapping_mul(31))),
                    mode: Some(if s == 0 { "leader" } else { "follower" }.into()),
                },
            )
        })
        .collect();
    FinalState {
        line,
        nodes,
        replicas,
    }
}
