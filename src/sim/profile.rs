//! Where a run's time goes, for `zksim bench`: wall time inside the online invariants and the
//! history recorder, and counts of the simulator's own work (madsim timers armed, tasks
//! spawned, packets put on the wire).
//!
//! Why thread-local: one simulation runs on one thread at a time (`sim::sim_thread`, taken
//! clean before each run), so the counters need no lock and cannot mix runs. The wall clock is read only to measure;
//! nothing in the run looks at these figures, so they cannot change its behaviour. Inside a
//! madsim runtime `std::time::Instant` (and libc's `clock_gettime`) return *simulated* time,
//! which does not move during a synchronous call: the real clock is read by the raw syscall.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

/// One run's profile.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Profile {
    /// Wall ns of the whole simulation thread (includes the history build, the invariants and
    /// the recording below).
    pub simulation_ns: u64,
    /// Wall ns running the history checks (after the simulation).
    pub checks_ns: u64,
    /// Wall ns building the checks' history from the records (inside the simulation thread).
    pub history_build_ns: u64,
    /// Wall ns spent in `Invariants::observe` / `check_final`.
    pub invariants_ns: u64,
    /// Wall ns spent serializing the history as JSONL text (a `zksim run`; sweeps skip it).
    pub recording_ns: u64,
    /// madsim timers armed by alarms and sleeps the shell counts.
    pub timers_armed: u64,
    /// Tasks the shell spawned (wire driver, retransmits, client drivers, lanes, hubs).
    pub tasks_spawned: u64,
    /// Packets put on the simulated wire (servers and clients).
    pub packets_sent: u64,
}

impl Profile {
    /// Adds another run's figures (a sweep's total).
    pub fn add(&mut self, other: &Profile) {
        self.simulation_ns += other.simulation_ns;
        self.checks_ns += other.checks_ns;
        self.history_build_ns += other.history_build_ns;
        self.invariants_ns += other.invariants_ns;
        self.recording_ns += other.recording_ns;
        self.timers_armed += other.timers_armed;
        self.tasks_spawned += other.tasks_spawned;
        self.packets_sent += other.packets_sent;
    }
}

thread_local! {
    static PROFILE: RefCell<Profile> = RefCell::new(Profile::default());
}

/// Whether runs time their invariants and recording (the clock costs a syscall per reading:
/// ~4% of a default run, so only `zksim bench` pays it). Counts are always kept.
static TIMING: AtomicBool = AtomicBool::new(false);

/// Turns the wall-time shares on for every later run in this process.
pub fn enable_timing() {
    TIMING.store(true, Ordering::Relaxed);
}

fn timing() -> bool {
    TIMING.load(Ordering::Relaxed)
}

/// Runs `f`, adding its wall time to the invariants' share.
pub fn in_invariants<T>(f: impl FnOnce() -> T) -> T {
    timed(f, |p| &mut p.invariants_ns)
}

/// Runs `f`, adding its wall time to the recorder's share.
pub fn in_recording<T>(f: impl FnOnce() -> T) -> T {
    timed(f, |p| &mut p.recording_ns)
}

/// Runs `f`, adding its wall time to building the checks' history from the records (inside the
/// simulation thread; the bench counts it with the checks).
pub fn in_history_build<T>(f: impl FnOnce() -> T) -> T {
    timed(f, |p| &mut p.history_build_ns)
}

/// Runs `f` and, when the bench turned timing on, adds its wall ns to the `share` of the profile.
fn timed<T>(f: impl FnOnce() -> T, share: impl FnOnce(&mut Profile) -> &mut u64) -> T {
    if !timing() {
        return f();
    }
    let start = real_now_ns();
    let out = f();
    let ns = real_now_ns().saturating_sub(start);
    PROFILE.with(|p| *share(&mut p.borrow_mut()) += ns);
    out
}

/// The machine's monotonic clock in ns, past madsim's interception of `clock_gettime`.
pub fn real_now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: the syscall writes one `timespec` into `ts`, which outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts as *mut libc::timespec) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) never fails");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn timer_armed() {
    PROFILE.with(|p| p.borrow_mut().timers_armed += 1);
}

pub fn packet_sent() {
    PROFILE.with(|p| p.borrow_mut().packets_sent += 1);
}

/// `madsim::task::spawn`, counted.
pub fn spawn<F>(future: F) -> madsim::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    PROFILE.with(|p| p.borrow_mut().tasks_spawned += 1);
    madsim::task::spawn(future)
}

/// `madsim::task::spawn_local`, counted.
pub fn spawn_local<F>(future: F) -> madsim::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    PROFILE.with(|p| p.borrow_mut().tasks_spawned += 1);
    madsim::task::spawn_local(future)
}

/// This thread's profile so far, and a fresh start.
pub fn take() -> Profile {
    PROFILE.with(|p| std::mem::take(&mut *p.borrow_mut()))
}
