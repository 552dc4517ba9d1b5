//! A cancellation signal that a session owns: every spawned task selects on it, so
//! `disconnect()` (or dropping the owner) stops them all.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Inner {
    cancelled: bool,
    wakers: Vec<Waker>,
}

/// Cheap to clone; all clones share one state.
#[derive(Clone, Default)]
pub struct CancelToken(Rc<RefCell<Inner>>);

impl CancelToken {
    /// A fresh, uncancelled token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels, waking every waiter. Idempotent.
    pub fn cancel(&self) {
        let wakers = {
            let mut inner = self.0.borrow_mut();
            inner.cancelled = true;
            std::mem::take(&mut inner.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.borrow().cancelled
    }

    /// Resolves when cancelled.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled(self.clone())
    }
}

/// Future of [`CancelToken::cancelled`].
pub struct Cancelled(CancelToken);

impl Future for Cancelled {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = (self.0).0.borrow_mut();
        if inner.cancelled {
            Poll::Ready(())
        } else {
            if !inner.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                inner.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}

/// Cancels the token when dropped: owners hold one so that dropping them stops their tasks.
pub struct CancelOnDrop(pub CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
