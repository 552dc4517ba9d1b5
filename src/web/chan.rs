//! Single-threaded async plumbing: an unbounded channel for a connection's inputs (JS
//! callbacks push, one task reads) and a race of two futures. The browser runs all of it on
//! one thread, so `Rc` and `RefCell` do what atomics would elsewhere, in far less code.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Shared<T> {
    queue: RefCell<VecDeque<T>>,
    waker: RefCell<Option<Waker>>,
    senders: Cell<usize>,
    receiving: Cell<bool>,
}

impl<T> Shared<T> {
    fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The sending half (cheap to clone).
pub struct Sender<T>(Rc<Shared<T>>);

/// The receiving half.
pub struct Receiver<T>(Rc<Shared<T>>);

/// A new unbounded channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        queue: RefCell::new(VecDeque::new()),
        waker: RefCell::new(None),
        senders: Cell::new(1),
        receiving: Cell::new(true),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `v`; false (and `v` dropped) when the receiver is gone.
    pub fn send(&self, v: T) -> bool {
        if !self.0.receiving.get() {
            return false;
        }
        self.0.queue.borrow_mut().push_back(v);
        self.0.wake();
        true
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.senders.set(self.0.senders.get() + 1);
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.senders.set(self.0.senders.get().saturating_sub(1));
        if self.0.senders.get() == 0 {
            self.0.wake();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.receiving.set(false);
        self.0.queue.borrow_mut().clear();
    }
}

impl<T> Receiver<T> {
    /// The next value queued, if any, without waiting.
    pub fn try_next(&mut self) -> Option<T> {
        self.0.queue.borrow_mut().pop_front()
    }

    /// The next value; `None` once every sender is gone and the queue is empty.
    pub fn next(&mut self) -> Next<'_, T> {
        Next(self)
    }
}

/// Future of [`Receiver::next`].
pub struct Next<'a, T>(&'a mut Receiver<T>);

impl<T> Future for Next<'_, T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let shared = &(self.0).0;
        if let Some(v) = shared.queue.borrow_mut().pop_front() {
            return Poll::Ready(Some(v));
        }
        if shared.senders.get() == 0 {
            return Poll::Ready(None);
        }
        *shared.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Which of two raced futures finished first.
pub enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Polls `a` and `b` until one is ready (`a` first); the other is dropped.
pub async fn race<A, B>(
    mut a: Pin<Box<dyn Future<Output = A> + '_>>,
    mut b: Pin<Box<dyn Future<Output = B> + '_>>,
) -> Either<A, B> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}
