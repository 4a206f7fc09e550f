//! ZAB's safety invariants, checked online while a simulation runs, one function per property,
//! each citing where it comes from.
//!
//! Why online: a violation is reported at the simulated moment it happens, with the server
//! that broke it, which makes a failing seed far easier to read than a verdict at the end.
//! These complement the history checker (`crate::checker`), which judges what clients saw.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::zab::peer::Observation;
use crate::zab::{make_zxid, zxid_str, ServerId};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Short name of the invariant.
    pub invariant: &'static str,
    /// Where the invariant comes from.
    pub source: &'static str,
    pub time_ms: i64,
    pub server: ServerId,
    pub detail: String,
    /// The epoch concerned (a leader's new epoch), if any.
    pub epoch: Option<i64>,
    /// The zxid concerned: where a leader starts, where digests differ, what was committed.
    pub zxid: Option<Zxid>,
    /// Txns concerned: the acknowledged txns a new leader lacks (the first
    /// [`MAX_LISTED_TXNS`]); `txn_count` says how many there are in all.
    pub txns: Vec<Zxid>,
    pub txn_count: usize,
}

/// Txns listed per violation (all are counted).
pub const MAX_LISTED_TXNS: usize = 64;

/// What a violation is about, beyond its text.
#[derive(Clone, Debug, Default)]
struct Subject {
    epoch: Option<i64>,
    zxid: Option<Zxid>,
    txns: Vec<Zxid>,
    txn_count: usize,
}

#[derive(Default)]
pub struct Invariants {
    pub violations: Vec<Violation>,
    leader_of_epoch: BTreeMap<i64, ServerId>,
    /// zxid → (txn, tree digest after it), from the first server that committed it. Looked up,
    /// never iterated: a hash map (a BTreeMap lookup among every zxid of the run cost ~1%).
    committed: rustc_hash::FxHashMap<Zxid, (Arc<TxnEntry>, u64)>,
    last_committed: BTreeMap<ServerId, Zxid>,
    acknowledged: BTreeSet<Zxid>,
    pub established_count: u64,
    pub commits_observed: u64,
    /// Session → (zxid, time) of the first commit of its closeSession txn (expiry or close):
    /// when the ensemble ended it, for histories that record session ends with their zxid.
    pub closed_sessions: BTreeMap<i64, (Zxid, i64)>,
}

const MAX_VIOLATIONS: usize = 100;

/// Every online invariant: name and one line (for `zksim list`).
pub const INVARIANTS: [(&str, &str); 6] = [
    ("one-leader-per-epoch", "at most one server establishes leadership of an epoch (ZAB primary uniqueness)"),
    ("acknowledged-write-durable", "a new leader holds every txn of an earlier epoch acknowledged to a client; the final state holds every one"),
    ("commits-in-order", "each server commits txns in increasing zxid order (ZAB total order)"),
    ("committed-prefixes-agree", "servers that commit a zxid commit the same txn (ZAB agreement)"),
    ("same-zxid-same-digest", "at the same zxid every server has the same tree digest"),
    ("one-txn-per-zxid", "a server never offers its log a different txn under a zxid it already logged"),
];

impl Invariants {
    pub fn observe(&mut self, server: ServerId, time_ms: i64, o: Observation) {
        match o {
            Observation::Established { epoch, last_zxid, digest } => {
                self.established_count += 1;
                self.one_leader_per_epoch(server, time_ms, epoch);
                self.leader_has_every_acknowledged_txn(server, time_ms, epoch, last_zxid, digest);
            }
            Observation::Committed { entry, digest } => {
                self.commits_observed += 1;
                self.committed_prefixes_agree(server, time_ms, entry, digest);
            }
            Observation::Loaded { zxid, digest } => {
                self.last_committed.insert(server, zxid);
                self.same_zxid_same_digest(server, time_ms, zxid, digest, "loaded");
            }
            Observation::Acknowledged { zxid } => {
                self.acknowledged.insert(zxid);
            }
            Observation::LogConflict { logged, offered } => {
                let detail = format!("offered {:?} at {}, which the log holds as {:?}", offered.txn, zxid_str(offered.header.zxid), logged.txn);
                let zxid = offered.header.zxid;
                let subject = Subject { zxid: Some(zxid), txns: vec![zxid], txn_count: 1, ..Subject::default() };
                self.report_on("one-txn-per-zxid", "ZAB paper §III: a zxid names one proposal (epoch, counter)", time_ms, server, detail, subject);
            }
            Observation::StateChanged { .. } | Observation::EpochRefused { .. } => {}
        }
    }

    fn report_on(&mut self, invariant: &'static str, source: &'static str, time_ms: i64, server: ServerId, detail: String, subject: Subject) {
        if self.violations.len() < MAX_VIOLATIONS {
            let Subject { epoch, zxid, txns, txn_count } = subject;
            self.violations.push(Violation { invariant, source, time_ms, server, detail, epoch, zxid, txns, txn_count });
        }
    }

    /// The acknowledged txns in `(after, before)`: what a server starting at `after` lacks.
    fn acknowledged_between(&self, after: Zxid, before: Zxid) -> (Vec<Zxid>, usize) {
        let range = || self.acknowledged.range(after.saturating_add(1)..before);
        (range().take(MAX_LISTED_TXNS).copied().collect(), range().count())
    }

    /// At most one established leader per epoch.
    fn one_leader_per_epoch(&mut self, server: ServerId, time_ms: i64, epoch: i64) {
        match self.leader_of_epoch.get(&epoch) {
            Some(&other) if other != server => self.report_on(
                "one-leader-per-epoch",
                "ZAB paper §III 'primary uniqueness'; TLA+ Zab `Leadership`",
                time_ms,
                server,
                format!("server {server} established as leader of epoch {epoch}, already led by {other}"),
                Subject { epoch: Some(epoch), ..Subject::default() },
            ),
            _ => {
                self.leader_of_epoch.insert(epoch, server);
            }
        }
    }

    /// A new leader's initial history holds every txn of an earlier epoch committed
    /// (acknowledged) before it, as TLA+ Zab's `PrimaryIntegrity` states it. Txns of a later
    /// epoch are not required: a deposed leader may still establish its old epoch on NEWLEADER
    /// ACKs its followers sent before moving on (TCP delivers them after a partition heals);
    /// it cannot commit, and what its clients read is judged by the history checks.
    fn leader_has_every_acknowledged_txn(&mut self, server: ServerId, time_ms: i64, epoch: i64, last_zxid: Zxid, digest: u64) {
        if let Some(&max_ack) = self.acknowledged.range(..make_zxid(epoch, 0)).next_back() {
            if max_ack > last_zxid {
                let (txns, txn_count) = self.acknowledged_between(last_zxid, make_zxid(epoch, 0));
                self.report_on(
                    "acknowledged-write-durable",
                    "ZAB paper §III 'primary integrity'; TLA+ Zab `PrimaryIntegrity`, durability of committed txns",
                    time_ms,
                    server,
                    format!(
                        "leader of epoch {epoch} starts at {} but txn {} was acknowledged to a client",
                        zxid_str(last_zxid),
                        zxid_str(max_ack)
                    ),
                    Subject { epoch: Some(epoch), zxid: Some(last_zxid), txns, txn_count },
                );
            }
        }
        self.same_zxid_same_digest(server, time_ms, last_zxid, digest, "established");
    }

    /// Servers that committed a zxid committed the same txn, and got the same tree; a server's
    /// commits move forward.
    fn committed_prefixes_agree(&mut self, server: ServerId, time_ms: i64, entry: Arc<TxnEntry>, digest: u64) {
        let zxid = entry.header.zxid;
        let last = self.last_committed.get(&server).copied().unwrap_or(0);
        if zxid <= last {
            self.report_on(
                "commits-in-order",
                "ZAB paper §III 'total order'; TLA+ Zab `Monotonicity`",
                time_ms,
                server,
                format!("committed {} after {}", zxid_str(zxid), zxid_str(last)),
                Subject { zxid: Some(zxid), txns: vec![zxid], txn_count: 1, ..Subject::default() },
            );
        }
        self.last_committed.insert(server, zxid);
        match self.committed.get(&zxid) {
            Some((first, _)) if !Arc::ptr_eq(first, &entry) && **first != *entry => {
                let detail = format!("at {} committed {:?}, another server committed {:?}", zxid_str(zxid), entry.txn, first.txn);
                let subject = Subject { zxid: Some(zxid), txns: vec![zxid], txn_count: 1, ..Subject::default() };
                self.report_on("committed-prefixes-agree", "ZAB paper §III 'agreement'; TLA+ Zab `PrefixConsistency`", time_ms, server, detail, subject);
            }
            Some(_) => self.same_zxid_same_digest(server, time_ms, zxid, digest, "committed"),
            None => {
                if let crate::tree::Txn::CloseSession { .. } = entry.txn {
                    self.closed_sessions.entry(entry.header.client_id).or_insert((zxid, time_ms));
                }
                self.committed.insert(zxid, (entry, digest));
            }
        }
    }

    /// Servers at the same zxid have the same tree (ZooKeeper's digest check, ZOOKEEPER-3114).
    fn same_zxid_same_digest(&mut self, server: ServerId, time_ms: i64, zxid: Zxid, digest: u64, when: &str) {
        if let Some(&(_, expected)) = self.committed.get(&zxid) {
            if expected != digest {
                self.report_on(
                    "same-zxid-same-digest",
                    "ZooKeeper digest check (ZOOKEEPER-3114); TLA+ Zab `ProcessConsistency`",
                    time_ms,
                    server,
                    format!("{when} at {} with digest {digest:016x}, expected {expected:016x}", zxid_str(zxid)),
                    Subject { zxid: Some(zxid), ..Subject::default() },
                );
            }
        }
    }

    /// End of run: every acknowledged txn is in every converged server's history.
    pub fn check_final(&mut self, time_ms: i64, finals: &[(ServerId, Zxid, u64)]) {
        let max_ack = self.acknowledged.iter().next_back().copied().unwrap_or(0);
        for &(server, zxid, digest) in finals {
            if zxid < max_ack {
                let (txns, txn_count) = self.acknowledged_between(zxid, Zxid::MAX);
                self.report_on(
                    "acknowledged-write-durable",
                    "ZAB paper §III 'reliable delivery'; TLA+ Zab durability of committed txns",
                    time_ms,
                    server,
                    format!("final zxid {} is before acknowledged txn {}", zxid_str(zxid), zxid_str(max_ack)),
                    Subject { zxid: Some(zxid), txns, txn_count, ..Subject::default() },
                );
            }
            self.same_zxid_same_digest(server, time_ms, zxid, digest, "final");
        }
    }

    pub fn acknowledged_count(&self) -> usize {
        self.acknowledged.len()
    }

    /// Every zxid acknowledged to a client so far.
    pub fn acknowledged(&self) -> &BTreeSet<Zxid> {
        &self.acknowledged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::make_zxid;

    fn established(inv: &mut Invariants, server: ServerId, epoch: i64, last_zxid: Zxid) {
        inv.observe(server, 0, Observation::Established { epoch, last_zxid, digest: 0 });
    }

    #[test]
    fn a_new_leader_missing_an_earlier_epochs_acknowledged_txn_is_reported() {
        let mut inv = Invariants::default();
        inv.observe(1, 0, Observation::Acknowledged { zxid: make_zxid(1, 5) });
        established(&mut inv, 2, 2, make_zxid(1, 4));
        assert_eq!(inv.violations.len(), 1);
        assert_eq!(inv.violations[0].invariant, "acknowledged-write-durable");
        // Structured: the epoch, where the leader starts, and the txn it lacks.
        let v = &inv.violations[0];
        assert_eq!((v.epoch, v.zxid, v.txns.clone(), v.txn_count), (Some(2), Some(make_zxid(1, 4)), vec![make_zxid(1, 5)], 1));
    }

    #[test]
    fn a_new_leader_holding_every_earlier_acknowledged_txn_passes() {
        let mut inv = Invariants::default();
        inv.observe(1, 0, Observation::Acknowledged { zxid: make_zxid(1, 5) });
        established(&mut inv, 2, 2, make_zxid(1, 5));
        assert!(inv.violations.is_empty(), "{:?}", inv.violations);
    }

    #[test]
    fn a_deposed_leader_establishing_its_older_epoch_is_not_required_to_hold_newer_txns() {
        // Epoch 3 committed 3.2; the leader of epoch 2 establishes late on NEWLEADER ACKs
        // delivered after a partition healed (explore seed 426). PrimaryIntegrity only speaks
        // of earlier epochs; 1.23 is still required.
        let mut inv = Invariants::default();
        inv.observe(1, 0, Observation::Acknowledged { zxid: make_zxid(1, 0x23) });
        established(&mut inv, 3, 3, make_zxid(1, 0x23));
        inv.observe(3, 0, Observation::Acknowledged { zxid: make_zxid(3, 2) });
        established(&mut inv, 2, 2, make_zxid(1, 0x23));
        assert!(inv.violations.is_empty(), "{:?}", inv.violations);
        established(&mut inv, 1, 4, make_zxid(1, 0x23));
        assert_eq!(inv.violations.len(), 1, "epoch 4 must hold 3.2");
    }
}
