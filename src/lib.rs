//! zksim: Apache ZooKeeper rebuilt as a deterministic simulation testbed.
