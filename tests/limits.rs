//! Every run is bounded: a storm of messages ends the run as a liveness failure naming the
//! bound it exceeded, instead of growing without limit (`zksim::sim::limits`).
//!
//! The end-to-end check — a build whose election never settles, swept over `swarm` seeds
//! 0..300 — needs a temporary change to the election and is recorded in the README.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use zksim::sim::limits::MESSAGES_IN_FLIGHT_MAX;
use zksim::sim::net::{ip_of, Body, Channel, NetConditions, Transport};
use zksim::zab::PeerMessage;

#[test]
fn a_storm_of_messages_exceeds_the_bound_in_flight_and_the_transport_stops_sending() {
    let (overflow, sent_after) = zksim::sim::cluster::run_seeded(1, || async {
        let conditions = Arc::new(Mutex::new(NetConditions::new()));
        let in_node = Arc::clone(&conditions);
        zksim::sim::build_node(madsim::runtime::Handle::current().create_node().name("storm").ip(ip_of(1)).init(move || {
            let conditions = Arc::clone(&in_node);
            async move {
                let mut transport = Transport::bind(1, conditions).await;
                // Nobody at server 2 handles them: every batch stays in flight.
                for _ in 0..(MESSAGES_IN_FLIGHT_MAX / 100 + 100) {
                    transport.send(2, Channel::Election, Body::Peer(vec![PeerMessage::Ack { zxid: 1 }; 100]));
                }
                std::future::pending::<()>().await
            }
        }));
        madsim::time::sleep(Duration::from_millis(10)).await;
        let c = conditions.lock().unwrap();
        (c.overflow.clone(), c.packets_sent)
    });
    let overflow = overflow.expect("the bound on messages in flight was exceeded");
    assert_eq!(overflow.what, format!("network: messages in flight > {MESSAGES_IN_FLIGHT_MAX}"));
    assert_eq!(sent_after, (MESSAGES_IN_FLIGHT_MAX / 100 + 1) as u64, "nothing goes on the wire after the overflow");
}

#[test]
fn healthy_runs_stay_far_below_every_bound() {
    let s = zksim::testbed::scenario::Scenario::default();
    let o = zksim::testbed::runner::run(&s, 3, &zksim::testbed::runner::RunOptions { bugs: Vec::new(), fast_checks: true });
    assert_eq!(o.overflow, None);
    assert_eq!(o.verdict, zksim::testbed::runner::Verdict::Pass, "{:?}", o.findings);
}
