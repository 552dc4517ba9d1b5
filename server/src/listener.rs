//! The HTTP/1.1 accept loop: every connection (a WebSocket too, for its whole life) takes
//! one of a bounded number of slots, a request's headers must arrive within the header
//! timeout (which also ends idle keep-alive connections), and a client arriving when every
//! slot is taken gets `503` and a close instead of a hang.
//!
//! (`axum::serve` has no header timeout and no connection limit, hence this loop.)

use crate::limits::Limits;
use crate::until_true;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Refusals answered at once; clients beyond them are closed without an answer.
const MAX_REFUSING: usize = 64;
/// How long a refused connection is drained after its `503`.
const REFUSAL_DRAIN: Duration = Duration::from_millis(250);

/// A connection and the slot it holds until it is dropped (after a WebSocket upgrade, the
/// WebSocket owns it).
struct Slotted {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Slotted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, b)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The answer to a client that finds every slot taken.
pub fn refusal(max_connections: usize) -> String {
    let body = format!(
        "{{\"error\":\"server busy: too many open connections (limit {max_connections})\"}}"
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\naccess-control-allow-origin: *\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Serves `router` on `listener` until `shutdown` turns true, with at most
/// `max_connections` connections; then waits for the open connections to end.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 << 10);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = until_true(&mut shutdown) => break,
        };
        let io = match accepted {
            Ok((io, _)) => io,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before it was taken:
                // try again shortly.
                crate::warn_limited!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = io.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            crate::warn_limited!("connection refused: {max_connections} connections open");
            if let Ok(turn) = refusing.clone().try_acquire_owned() {
                tokio::spawn(refuse(io, max_connections, turn));
            }
            continue;
        };
        let io = TokioIo::new(Slotted { io, _slot: slot });
        let conn = http
            .serve_connection(io, TowerToHyperService::new(router.clone()))
            .with_upgrades();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let mut conn = pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = until_true(&mut stop) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    // Every slot back = every connection (WebSockets included) closed.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Answers `503` at once and closes; then reads what the client sent, briefly, so that the
/// close does not reset the connection before the client has read the answer.
async fn refuse(mut io: TcpStream, max_connections: usize, _turn: OwnedSemaphorePermit) {
    let _ = io.write_all(refusal(max_connections).as_bytes()).await;
    let _ = io.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSAL_DRAIN, async {
        let mut read = 0;
        while let Ok(n) = io.read(&mut buf).await {
            read += n;
            if n == 0 || read > 64 << 10 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_is_a_complete_503() {
        let r = super::refusal(5);
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(body.contains("too many open connections (limit 5)"));
    }
}
