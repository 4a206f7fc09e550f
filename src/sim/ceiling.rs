//! The shell's own limit: hosts that do no ZooKeeper work, moving packets over the same wire,
//! mailboxes and alarms as the servers, at a chosen rate.
//!
//! Why: issue 18 asks for the simulator "close to madsim's own limit". A run's wall time per
//! simulated second is about its events (packets delivered, timers fired) times the cost of
//! one. This measures that cost when every handler is empty, so `zksim bench` can say which
//! share of a default run is the shell and madsim, and how fast a scenario with the default's
//! event counts could run at best. [`endpoint_ping_pong`] measures madsim's own `Endpoint`, the
//! figure the issue quotes (~800,000 messages per wall s), for comparison.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;

use super::alarm::{now_ns, Alarm};
use super::net::{Body, Channel, NetConditions, Packet, SharedConditions};

/// What the empty hosts do.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub hosts: u64,
    /// Packets kept in flight: each delivery sends one on to a random other host.
    pub packets_in_flight: u64,
    /// Every host's own timer period (a server's tick, a client's ping), 0 for none.
    pub host_timer_period_ms: u64,
    pub latency_ms: (u64, u64),
    pub sim_s: u64,
}

/// What a run of [`measure`] did, counted by the shell's profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measured {
    pub sim_s: f64,
    pub wall_s: f64,
    pub packets: u64,
    pub timers: u64,
}

impl Measured {
    /// Events (packets sent, timers armed) per wall second.
    pub fn events_per_wall_s(&self) -> f64 {
        (self.packets + self.timers) as f64 / self.wall_s.max(1e-9)
    }

    /// Wall ns per event.
    pub fn ns_per_event(&self) -> f64 {
        self.wall_s * 1e9 / ((self.packets + self.timers).max(1) as f64)
    }
}

/// Runs `load` for its simulated seconds on a fresh runtime seeded with `seed`.
pub fn measure(seed: u64, load: Load) -> Measured {
    assert!(load.hosts >= 2, "packets go from one host to another");
    let _ = super::profile::take();
    let start_ns = super::profile::real_now_ns();
    super::cluster::block_on_seed(seed, run(load));
    let wall_s = (super::profile::real_now_ns() - start_ns) as f64 / 1e9;
    let profile = super::profile::take();
    Measured { sim_s: load.sim_s as f64, wall_s, packets: profile.packets_sent, timers: profile.timers_armed }
}

async fn run(load: Load) {
    let conditions: SharedConditions = Arc::new(Mutex::new(NetConditions::default()));
    conditions.lock().expect("conditions").wire.set_latency_ms(load.latency_ms.0, load.latency_ms.1);
    super::net::spawn_driver(Arc::clone(&conditions));
    for addr in 1..=load.hosts {
        let conditions = Arc::clone(&conditions);
        let node = super::build_node(madsim::runtime::Handle::current().create_node().name(format!("host-{addr}")).ip(super::net::ip_of(addr)));
        let starts = if addr == 1 { load.packets_in_flight } else { 0 };
        node.spawn(host(addr, load, starts, conditions));
    }
    madsim::time::sleep(Duration::from_secs(load.sim_s)).await;
}

/// One empty host: forwards every packet it receives to a random other host and re-arms its
/// timer when it fires.
async fn host(me: u64, load: Load, starts: u64, conditions: SharedConditions) {
    let mut rx = conditions.lock().expect("conditions").wire.bind(me);
    for _ in 0..starts {
        forward(me, load.hosts, &conditions);
    }
    let period_ns = load.host_timer_period_ms * 1_000_000;
    let mut next_tick_ns = if period_ns == 0 { u64::MAX } else { now_ns() + period_ns };
    let mut alarm = Alarm::new();
    loop {
        let sleep = alarm.until(next_tick_ns);
        futures::pin_mut!(sleep);
        futures::select_biased! {
            packet = rx.next() => match packet {
                Some(_) => forward(me, load.hosts, &conditions),
                None => return,
            },
            _ = sleep => next_tick_ns += period_ns,
        }
    }
}

fn forward(me: u64, hosts: u64, conditions: &SharedConditions) {
    let offset = madsim::rand::thread_rng().gen_range(1..hosts);
    let to = (me - 1 + offset) % hosts + 1;
    let mut c = conditions.lock().expect("conditions");
    let (guard, _) = c.in_flight.enter(1);
    let packet = Packet { from: me, channel: Channel::Election, conn: 0, seq: 0, body: Body::Reset };
    c.wire.send(to, packet, guard, 0);
}

/// madsim's own datagram `Endpoint`: two hosts bounce one 8-byte message, `messages` sends in
/// all. Returns the messages received and the wall seconds it took.
pub fn endpoint_ping_pong(seed: u64, messages: u64) -> (u64, f64) {
    let start_ns = super::profile::real_now_ns();
    let received = super::cluster::block_on_seed(seed, async move {
        let handle = madsim::runtime::Handle::current();
        let a = super::build_node(handle.create_node().name("ping").ip(super::net::ip_of(1)));
        let b = super::build_node(handle.create_node().name("pong").ip(super::net::ip_of(2)));
        let pong = b.spawn(async move {
            let endpoint = madsim::net::Endpoint::bind(super::net::socket_of(2)).await.expect("bind pong");
            let mut buf = [0u8; 8];
            for _ in 0..messages / 2 {
                let (_, from) = endpoint.recv_from(0, &mut buf).await.expect("recv ping");
                endpoint.send_to(from, 0, &buf).await.expect("send pong");
            }
            messages / 2
        });
        let ping = a.spawn(async move {
            let endpoint = madsim::net::Endpoint::bind(super::net::socket_of(1)).await.expect("bind ping");
            let mut buf = [0u8; 8];
            let mut received = 0;
            for i in 0..messages / 2 {
                endpoint.send_to(super::net::socket_of(2), 0, &i.to_le_bytes()).await.expect("send ping");
                endpoint.recv_from(0, &mut buf).await.expect("recv pong");
                assert_eq!(u64::from_le_bytes(buf), i, "the pong echoes this ping");
                received += 1;
            }
            received
        });
        ping.await.expect("ping") + pong.await.expect("pong")
    });
    (received, (super::profile::real_now_ns() - start_ns) as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hosts_keep_their_packets_and_timers_going() {
        let load = Load { hosts: 4, packets_in_flight: 3, host_timer_period_ms: 10, latency_ms: (1, 5), sim_s: 2 };
        let m = measure(7, load);
        // 3 packets in flight, each 1-5 ms on the wire: ~1,000 deliveries per packet over 2 s.
        assert!((1_500..=6_000).contains(&m.packets), "packets {}", m.packets);
        // Each host's 10 ms timer fires ~200 times in 2 s; the wire's driver arms more.
        assert!(m.timers >= 4 * 190, "timers {}", m.timers);
        let again = measure(7, load);
        assert_eq!((m.packets, m.timers), (again.packets, again.timers), "same seed, same run");
    }

    #[test]
    fn endpoint_ping_pong_moves_every_message() {
        assert_eq!(endpoint_ping_pong(3, 1_000).0, 1_000);
    }
}
