//! The madsim shell: servers and clients as madsim nodes, FIFO connections over a simulated
//! wire (`wire`: packets in flight with seeded latencies, on madsim's clock), a disk that loses what was not fsynced, and the cluster harness with its online
//! invariant checks.
//!
//! Why a thin shell: every protocol decision lives in the deterministic cores (`crate::zab`,
//! `crate::client`); the shell only moves their messages and persistence actions through
//! the wire and madsim's seeded clock, RNG and node lifecycle (kill, restart, pause).

pub mod alarm;
pub mod ceiling;
pub mod client_node;
pub mod clock;
pub mod cluster;
#[cfg(madsim)]
pub mod disk;
pub mod events;
pub mod fault_points;
pub mod invariants;
pub mod limits;
pub mod mailbox;
pub mod net;
pub mod profile;
pub mod server_log;
pub mod server_node;
pub mod sim_thread;
pub mod wire;
pub mod writer;

/// Nodes of the running simulation, so that [`reap_nodes`] can end every task they still have.
///
/// Why: a madsim task that never finishes keeps itself alive (its future holds the task's info,
/// which holds the task's waker), so whatever it owns outlives the runtime. A sweep running
/// thousands of seeds in one process grew by megabytes per seed that way. Each simulation runs
/// on one thread at a time, so a thread-local list, cleared before each run, is exactly one run's
/// nodes.
mod reaper {
    use std::cell::RefCell;

    thread_local! {
        static NODES: RefCell<Vec<madsim::task::NodeId>> = const { RefCell::new(Vec::new()) };
    }

    pub fn build_node(builder: madsim::runtime::NodeBuilder<'_>) -> madsim::runtime::NodeHandle {
        let node = builder.build();
        NODES.with(|nodes| nodes.borrow_mut().push(node.id()));
        node
    }

    /// A run that panicked never reaped: its nodes are not the next run's.
    pub fn forget_nodes() {
        NODES.with(|nodes| nodes.borrow_mut().clear());
    }

    pub async fn reap_nodes() {
        let nodes: Vec<_> = NODES.with(|nodes| std::mem::take(&mut *nodes.borrow_mut()));
        let handle = madsim::runtime::Handle::current();
        for id in nodes {
            handle.kill(id);
        }
        // The executor drops the futures of a killed node's woken tasks before time moves on.
        madsim::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
pub use reaper::{build_node, forget_nodes, reap_nodes};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    /// A task still waiting when the run ends must not outlive the run: whatever it owns is
    /// dropped by the time `block_on_seed` returns.
    #[test]
    fn a_run_leaves_no_pending_task_behind() {
        let witness = Arc::new(());
        let held = Arc::clone(&witness);
        std::thread::spawn(move || {
            super::cluster::block_on_seed(1, async move {
                let node = super::build_node(madsim::runtime::Handle::current().create_node().name("waiter"));
                node.spawn(async move {
                    let _held = held;
                    std::future::pending::<()>().await
                });
                madsim::time::sleep(std::time::Duration::from_millis(10)).await;
            })
        })
        .join()
        .expect("simulation thread");
        assert_eq!(Arc::strong_count(&witness), 1, "the pending task's state outlived its runtime");
    }
}
