//! `LearnerHandler.syncFollower`: which sync a learner gets (DIFF, TRUNC, TRUNC+DIFF, SNAP),
//! exactly as ZooKeeper 3.8 chooses it from the committed-log window, then `startForwarding`
//! and NEWLEADER (ZAB phase 2).

use std::sync::Arc;

use crate::proto::Zxid;
use crate::tree::TxnEntry;
use crate::zab::fault_point::FaultPoint;
use crate::zab::message::PeerMessage;
use crate::zab::peer::QuorumPeer;
use crate::zab::{epoch_of, make_zxid, zxid_str, Bug, ServerId};
use crate::zab::leader::state::HandlerPhase;

impl QuorumPeer {
    /// `LearnerHandler.syncFollower` + `startForwarding` + NEWLEADER.
    pub(in crate::zab) fn sync_learner(&mut self, sid: ServerId) {
        assert!(self.leader_ref().election_finished, "learners are synced only once the new epoch is current");
        let peer_last_zxid = self.leader_ref().handlers[&sid].peer_last_zxid;
        let (packets, current_zxid) = self.sync_packets(peer_last_zxid);
        assert!(
            matches!(packets.first(), Some(PeerMessage::Diff { .. } | PeerMessage::Trunc { .. } | PeerMessage::Snap { .. })),
            "a sync opens with DIFF, TRUNC or SNAP"
        );
        assert!(current_zxid <= self.db.last_processed_zxid(), "a sync never brings a learner past the leader");
        if !self.config.bugs.has(Bug::StaleAckAcrossResync) {
            self.forget_acks_above(sid, current_zxid);
        }
        tracing::debug!(
            server = self.config.my_id,
            learner = sid,
            peer_last_zxid = %zxid_str(peer_last_zxid),
            mode = packets.first().map_or("DIFF", |p| p.kind()),
            packets = packets.len(),
            "syncing a learner"
        );
        for msg in packets {
            self.send(sid, msg);
        }
        // startForwarding: uncommitted proposals after what the learner has now.
        let observer = self.leader_ref().handlers[&sid].observer;
        if !observer {
            let pending: Vec<Arc<TxnEntry>> = self
                .leader_ref()
                .outstanding
                .values()
                .filter(|p| p.entry.header.zxid > current_zxid)
                .map(|p| Arc::clone(&p.entry))
                .collect();
            for entry in pending {
                self.send(sid, PeerMessage::Proposal(entry));
            }
        }
        let epoch = self.leader_ref().epoch.expect("syncing in an epoch");
        self.send(sid, PeerMessage::NewLeader { zxid: make_zxid(epoch, 0) });
        if let Some(h) = self.leader().handlers.get_mut(&sid) {
            h.phase = HandlerPhase::WaitingForNewLeaderAck;
        }
        self.pass(FaultPoint::SyncPacketsQueued, Some(sid));
    }

    /// A learner that syncs again holds nothing above `synced_zxid` once the sync packets are
    /// applied (a TRUNC removes what it had logged and ACKed in its previous connection), so
    /// its earlier ACKs of outstanding proposals above that point no longer stand for a copy
    /// on its disk. It ACKs them again after UPTODATE, once `startForwarding`'s copies are
    /// logged. ZooKeeper 3.8 keeps the stale ACKs (`Leader.processAck` never drops them): a
    /// proposal ACKed by a follower that was then truncated can commit on that ACK and be
    /// lost (`StaleAckAcrossResync`, found by `zksim explore`).
    pub(in crate::zab) fn forget_acks_above(&mut self, sid: ServerId, synced_zxid: Zxid) {
        assert_ne!(sid, self.config.my_id, "the leader's own ACKs stand: its log is not truncated by a sync");
        for (_, p) in self.leader().outstanding.range_mut(synced_zxid + 1..) {
            p.acks.remove(&sid);
        }
    }

    /// Chooses DIFF / TRUNC / TRUNC+DIFF / SNAP from the committed-log window, exactly as
    /// ZooKeeper 3.8's `syncFollower` and `queueCommittedProposals`. Returns the packets and
    /// the zxid the learner will be at.
    pub(in crate::zab) fn sync_packets(&self, peer_last_zxid: Zxid) -> (Vec<PeerMessage>, Zxid) {
        let last_processed = self.db.last_processed_zxid();
        let (min_committed, max_committed) = self.db.committed_window();
        let is_peer_new_epoch_zxid = peer_last_zxid & 0xffff_ffff == 0;
        assert!(min_committed <= max_committed && max_committed <= last_processed, "the committed window ends at or before the tree");
        let mut packets = Vec::new();
        if last_processed == peer_last_zxid {
            packets.push(PeerMessage::Diff { zxid: peer_last_zxid });
            return (packets, peer_last_zxid);
        }
        if peer_last_zxid > max_committed && !is_peer_new_epoch_zxid {
            packets.push(PeerMessage::Trunc { zxid: max_committed });
            return (packets, max_committed);
        }
        if max_committed >= peer_last_zxid && min_committed <= peer_last_zxid {
            if let Some(result) = self.queue_committed_proposals(peer_last_zxid, max_committed) {
                return result;
            }
        }
        let snapshot = Arc::new(self.db.snapshot());
        (vec![PeerMessage::Snap { snapshot }], last_processed)
    }

    /// `queueCommittedProposals`; `None` means "fall back to SNAP".
    pub(in crate::zab) fn queue_committed_proposals(&self, peer_last_zxid: Zxid, last_committed: Zxid) -> Option<(Vec<PeerMessage>, Zxid)> {
        let is_peer_new_epoch_zxid = peer_last_zxid & 0xffff_ffff == 0;
        let mut packets = Vec::new();
        let mut need_op_packet = true;
        let mut queued_zxid = peer_last_zxid;
        let mut prev_proposal_zxid = -1;
        for entry in self.db.committed_log() {
            let packet_zxid = entry.header.zxid;
            if packet_zxid < peer_last_zxid {
                prev_proposal_zxid = packet_zxid;
                continue;
            }
            if need_op_packet {
                if packet_zxid == peer_last_zxid {
                    packets.push(PeerMessage::Diff { zxid: last_committed });
                    need_op_packet = false;
                    continue;
                }
                if is_peer_new_epoch_zxid {
                    packets.push(PeerMessage::Diff { zxid: last_committed });
                    need_op_packet = false;
                } else if packet_zxid > peer_last_zxid {
                    // The peer has a txn we never committed.
                    if self.config.bugs.has(Bug::Zk1154) {
                        // ZOOKEEPER-1154: the peer's zxid lies inside the committed range, so a
                        // plain DIFF is sent, without the TRUNC that removes the peer's txn.
                        packets.push(PeerMessage::Diff { zxid: last_committed });
                    } else if epoch_of(packet_zxid) != epoch_of(peer_last_zxid) {
                        return None;
                    } else {
                        packets.push(PeerMessage::Trunc { zxid: prev_proposal_zxid });
                    }
                    need_op_packet = false;
                }
            }
            if packet_zxid <= queued_zxid {
                continue;
            }
            packets.push(PeerMessage::Proposal(Arc::clone(entry)));
            packets.push(PeerMessage::Commit { zxid: packet_zxid });
            queued_zxid = packet_zxid;
        }
        if need_op_packet && is_peer_new_epoch_zxid {
            packets.push(PeerMessage::Diff { zxid: last_committed });
            need_op_packet = false;
        }
        if need_op_packet {
            return None;
        }
        assert!(queued_zxid <= last_committed, "only committed proposals are queued for a sync");
        Some((packets, queued_zxid))
    }
}
