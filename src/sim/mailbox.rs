//! A host's mailbox: the packets the wire handed over, in arrival order, and the waker of the
//! task that reads them.
//!
//! Why not `futures`' unbounded channel, which this replaces: it allocates a queue node for
//! every message and synchronizes through atomics a simulation (one thread at a time) does not
//! need — ~5% of a swarm sweep's time went into its send and receive. Here a message is one slot
//! of a reused `VecDeque`.
//!
//! The wakeups are the channel's, exactly, because the schedule depends on them (a madsim task
//! woken once more or less moves every later random draw): a receiver that finds the queue
//! empty leaves its waker (replacing the one it left before) and a send wakes and forgets it;
//! a receiver that finds a message leaves nothing, so a waker left earlier stays until the next
//! send. When the sender goes, a waiting receiver is woken and then sees the end (`None`) once
//! the queue is empty; when the receiver goes, what is queued is dropped with it and later
//! sends fail.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::stream::{FusedStream, Stream};

struct Shared<T> {
    queue: VecDeque<T>,
    /// The waker the receiver left when it found the queue empty.
    waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// The wire's end of a mailbox.
pub struct MailboxSender<T>(Arc<Mutex<Shared<T>>>);

/// The host's end: a stream of what arrived.
pub struct Mailbox<T> {
    shared: Arc<Mutex<Shared<T>>>,
    /// `None` was returned: the stream is over.
    terminated: bool,
}

/// A new mailbox's two ends.
pub fn mailbox<T>() -> (MailboxSender<T>, Mailbox<T>) {
    let shared = Arc::new(Mutex::new(Shared { queue: VecDeque::new(), waker: None, sender_alive: true, receiver_alive: true }));
    (MailboxSender(Arc::clone(&shared)), Mailbox { shared, terminated: false })
}

impl<T> MailboxSender<T> {
    /// Queues `item` and wakes a waiting receiver; `Err(item)` when the receiver is gone.
    pub fn send(&self, item: T) -> Result<(), T> {
        let waker = {
            let mut shared = self.0.lock().expect("mailbox");
            if !shared.receiver_alive {
                return Err(item);
            }
            shared.queue.push_back(item);
            shared.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for MailboxSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut shared = self.0.lock().expect("mailbox");
            shared.sender_alive = false;
            shared.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Stream for Mailbox<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.terminated {
            return Poll::Ready(None);
        }
        let mut shared = self.shared.lock().expect("mailbox");
        if let Some(item) = shared.queue.pop_front() {
            return Poll::Ready(Some(item));
        }
        if !shared.sender_alive {
            drop(shared);
            self.terminated = true;
            return Poll::Ready(None);
        }
        match &shared.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => shared.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> FusedStream for Mailbox<T> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<T> Drop for Mailbox<T> {
    fn drop(&mut self) {
        let dropped = {
            let mut shared = self.shared.lock().expect("mailbox");
            shared.receiver_alive = false;
            shared.waker = None;
            std::mem::take(&mut shared.queue)
        };
        // What was queued goes with the receiver (its in-flight guards included), outside the lock.
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::{waker, ArcWake};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl ArcWake for CountingWaker {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll<T>(rx: &mut Mailbox<T>, counter: &Arc<CountingWaker>) -> Poll<Option<T>> {
        let waker = waker(Arc::clone(counter));
        Pin::new(rx).poll_next(&mut Context::from_waker(&waker))
    }

    #[test]
    fn items_arrive_in_order_and_a_waiting_receiver_is_woken_once_per_wait() {
        let wakes = Arc::new(CountingWaker::default());
        let (tx, mut rx) = mailbox();
        assert_eq!(poll(&mut rx, &wakes), Poll::Pending);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "the second send finds no waker left");
        assert_eq!(poll(&mut rx, &wakes), Poll::Ready(Some(1)));
        assert_eq!(poll(&mut rx, &wakes), Poll::Ready(Some(2)));
        assert_eq!(poll(&mut rx, &wakes), Poll::Pending);
        tx.send(3).unwrap();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_waker_left_before_a_ready_poll_stays_until_the_next_send() {
        // As the futures channel: finding a message does not take the waker left earlier.
        let wakes = Arc::new(CountingWaker::default());
        let (tx, mut rx) = mailbox();
        assert_eq!(poll(&mut rx, &wakes), Poll::Pending);
        let mut shared = rx.shared.lock().unwrap();
        shared.queue.push_back(7);
        drop(shared);
        assert_eq!(poll(&mut rx, &wakes), Poll::Ready(Some(7)));
        tx.send(8).unwrap();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "the stale waker is woken by the next send");
    }

    #[test]
    fn the_stream_ends_after_the_queue_when_the_sender_goes() {
        let wakes = Arc::new(CountingWaker::default());
        let (tx, mut rx) = mailbox();
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(poll(&mut rx, &wakes), Poll::Ready(Some(1)));
        assert_eq!(poll(&mut rx, &wakes), Poll::Ready(None));
        assert!(rx.is_terminated());
        assert_eq!(poll(&mut rx, &wakes), Poll::Ready(None));
    }

    #[test]
    fn a_waiting_receiver_is_woken_when_the_sender_goes() {
        let wakes = Arc::new(CountingWaker::default());
        let (tx, mut rx) = mailbox::<u32>();
        assert_eq!(poll(&mut rx, &wakes), Poll::Pending);
        drop(tx);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert_eq!(poll(&mut rx, &wakes), Poll::Ready(None));
    }

    #[test]
    fn sends_fail_once_the_receiver_is_gone_and_queued_items_are_dropped_with_it() {
        let item = Arc::new(());
        let (tx, rx) = mailbox();
        tx.send(Arc::clone(&item)).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&item), 1, "the queued item went with the receiver");
        assert!(tx.send(Arc::clone(&item)).is_err());
    }
}
