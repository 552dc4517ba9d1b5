//! The session lifecycle: connecting with the retry policy, running the live connection,
//! reconnecting when it drops, and dispatching every input of a connection.

use super::setup::attempt;
use super::{Session, State};
use crate::core::diagnostics;
use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::protocol::{from_json, Incoming, ServerMessage};
use crate::core::retry::{is_permanent_error, RetryPolicy};
use crate::core::token::SubscribeToken;
use crate::web::chan::{race, Either};
use crate::web::error::Result;
use crate::web::js::{self, or_cancel, perf_now, spawn, BROWSER};
use crate::web::transport::ws::WsEvent;
use crate::web::transport::{ivs, webrtc, Connection, Input, Live};
use futures_channel::oneshot;
use std::rc::Rc;

/// Between two probes of the server while waiting out a reconnect backoff, ms.
const PROBE_INTERVAL_MS: u32 = 250;

fn policy(ctx: &Session) -> RetryPolicy {
    RetryPolicy {
        retries: ctx.common.max_retries,
        ..RetryPolicy::default()
    }
}

/// Connects (state `connecting`) with the retry policy; resolves with the live connection,
/// which the supervisor then runs, or rejects with the last attempt's error.
pub async fn connect(ctx: &Rc<Session>) -> Result<()> {
    ctx.set_state(State::Connecting);
    let live = with_retries(ctx, None).await?;
    spawn(Box::pin(supervise(ctx.clone(), live)));
    Ok(())
}

/// Attempts with backoff. `dropped_at` (perf ms) marks a reconnect: `reconnectAttempt` before
/// each attempt, `reconnect` after each failure and on success.
async fn with_retries(ctx: &Rc<Session>, dropped_at: Option<f64>) -> Result<Live> {
    let policy = policy(ctx);
    let max_attempts = policy.retries + 1;
    let mut retry = 0u32;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(SdkError::aborted("disconnect() was called"));
        }
        if dropped_at.is_some() {
            ctx.diagnostic(
                "reconnectAttempt",
                diagnostics::reconnect_attempt(retry + 1, max_attempts),
            );
        }
        let r = or_cancel(Box::pin(attempt(ctx)), &ctx.cancel)
            .await
            .unwrap_or_else(|| {
                Err(SdkError::aborted(
                    "the connect was abandoned (disconnect() or the abort signal)",
                ))
            });
        let error = r.as_ref().err().map(SdkError::public_message);
        if let Some(since) = dropped_at {
            let d = diagnostics::reconnect(
                retry + 1,
                max_attempts,
                perf_now() - since,
                error.as_deref(),
            );
            ctx.diagnostic("reconnect", d);
        }
        let e = match r {
            Ok(live) => {
                ctx.logger
                    .info(&join(&["connected over ", ctx.transport().as_str()]));
                return Ok(live);
            }
            Err(e) => e,
        };
        ctx.logger.debug(&join(&[
            "connect attempt failed: ",
            e.code.as_str(),
            " ",
            &e.message,
        ]));
        retry += 1;
        let Some(delay) = policy.next_delay(&e, retry) else {
            return Err(e);
        };
        backoff(ctx, delay as u32).await;
    }
}

/// Waits `ms`, or less: the browser's `online` event or a server that answers a probe again
/// ends the wait early.
async fn backoff(ctx: &Session, ms: u32) {
    let (tx, rx) = oneshot::channel();
    *ctx.wake.borrow_mut() = Some(tx);
    let probe = Box::pin(probe_until_up(ctx, ms));
    let _ = or_cancel(Box::pin(race(probe, Box::pin(rx))), &ctx.cancel).await;
    ctx.wake.borrow_mut().take();
}

/// Probes the realtime host over HTTP every [`PROBE_INTERVAL_MS`] for at most `ms`; returns
/// early once it answers (any HTTP answer: the host is reachable again).
async fn probe_until_up(ctx: &Session, ms: u32) {
    let deadline = perf_now() + f64::from(ms);
    let url = ctx.client.base_url.http_base();
    loop {
        let left = deadline - perf_now();
        if left <= 0.0 {
            return;
        }
        let step = (left as u32).min(PROBE_INTERVAL_MS);
        gloo_timers::future::TimeoutFuture::new(step).await;
        if reachable(&url).await {
            return;
        }
    }
}

/// True when `url` answers an HTTP request (opaque answers count). Under a
/// Content-Security-Policy that does not allow the host over HTTP this is always false and
/// the backoff runs its course.
async fn reachable(url: &str) -> bool {
    let Ok(window) = js::window() else {
        return false;
    };
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    init.set_mode(web_sys::RequestMode::NoCors);
    init.set_cache(web_sys::RequestCache::NoStore);
    let p = window.fetch_with_str_and_init(url, &init);
    let answered = wasm_bindgen_futures::JsFuture::from(p);
    let timeout = Box::pin(gloo_timers::future::TimeoutFuture::new(1000));
    matches!(race(Box::pin(answered), timeout).await, Either::Left(Ok(_)))
}

/// What ended a live connection.
enum Ended {
    Cancelled,
    Lost(SdkError),
}

async fn run(ctx: &Rc<Session>, live: &mut Live) -> Ended {
    loop {
        let input = match or_cancel(Box::pin(live.next()), &ctx.cancel).await {
            Some(Some(i)) => i,
            Some(None) => {
                return Ended::Lost(SdkError::new(
                    ErrorCode::WebsocketError,
                    "the connection closed",
                ))
            }
            None => return Ended::Cancelled,
        };
        if let Err(e) = handle(ctx, &live.conn, input, false).await {
            return Ended::Lost(e);
        }
    }
}

/// Keeps a session alive: runs the live connection, reconnects when it drops.
async fn supervise(ctx: Rc<Session>, mut live: Live) {
    loop {
        *ctx.conn.borrow_mut() = Some(live.conn.clone());
        if let Some(remote) = live.conn.remote() {
            ctx.start_latency_reading(&remote);
        }
        crate::web::stats::spawn(&ctx, &live.conn);
        let ended = run(&ctx, &mut live).await;
        ctx.conn.borrow_mut().take();
        if let Some(l) = ctx.publisher().and_then(|p| p.latency.as_ref()) {
            l.on_disconnected();
        }
        drop(live);
        let lost = match ended {
            Ended::Cancelled => return,
            Ended::Lost(e) => e,
        };
        ctx.acks.fail_all(&SdkError::new(
            ErrorCode::NotConnected,
            "the connection was lost",
        ));
        if ctx.cancel.is_cancelled() {
            return;
        }
        let dropped_at = perf_now();
        if !ctx.common.reconnect || ctx.is_ivs_viewer() || is_permanent_error(&lost) {
            ctx.emit_error(&lost);
            ctx.set_state(State::Disconnected);
            return;
        }
        ctx.logger.warn(&join(&[
            "connection lost (",
            lost.code.as_str(),
            "): ",
            &lost.message,
            "; reconnecting",
        ]));
        ctx.set_state(State::Reconnecting);
        match with_retries(&ctx, Some(dropped_at)).await {
            Ok(l) => live = l,
            Err(e) => {
                if e.code != ErrorCode::Aborted {
                    ctx.emit_error(&e);
                    ctx.set_state(State::Disconnected);
                }
                return;
            }
        }
    }
}

/// Handles one input in any phase. In `setup`, server messages are returned (the setup may
/// be waiting for one); an error means the connection is over.
pub async fn handle(
    ctx: &Rc<Session>,
    conn: &Rc<Connection>,
    input: Input,
    setup: bool,
) -> Result<Option<ServerMessage>> {
    match input {
        Input::Ws(WsEvent::Open) => Ok(None),
        Input::Ws(WsEvent::Closed { code, reason }) => {
            let code = crate::core::error::int(u64::from(code));
            let why = if reason.is_empty() {
                join(&["the WebSocket closed (code ", &code, ")"])
            } else {
                join(&["the WebSocket closed (code ", &code, ": ", &reason, ")"])
            };
            Err(SdkError::new(ErrorCode::WebsocketError, why))
        }
        Input::Ws(WsEvent::Message(text)) => {
            let parsed = (BROWSER.parse)(&text).map(|v| from_json::<ServerMessage>(&v));
            match parsed {
                Some(Ok(Incoming::Message(m))) => {
                    if webrtc::is_signal(&m) {
                        webrtc::on_signal(ctx, conn, &m, setup).await?;
                        return Ok(Some(m));
                    }
                    on_message(ctx, conn, m, setup)
                }
                Some(Ok(Incoming::Unknown(_))) => Ok(None),
                Some(Err(e)) => {
                    ctx.logger
                        .debug(&join(&["ignored a malformed message: ", &e.reason]));
                    Ok(None)
                }
                None => {
                    ctx.logger.debug("ignored a message that is not JSON");
                    Ok(None)
                }
            }
        }
        Input::Pc(ev) => webrtc::on_pc_event(ctx, conn, ev).map(|()| None),
        Input::Stage(ev) => ivs::on_stage(ctx, conn, ev).map(|()| None),
    }
}

/// The messages that are not signaling (see [`webrtc::is_signal`]).
fn on_message(
    ctx: &Rc<Session>,
    conn: &Rc<Connection>,
    m: ServerMessage,
    setup: bool,
) -> Result<Option<ServerMessage>> {
    match &m {
        ServerMessage::PromptAck {
            prompt,
            success,
            error,
        } => {
            let r = if *success {
                Ok(())
            } else {
                Err(SdkError::server(
                    error.as_deref().unwrap_or("prompt refused"),
                ))
            };
            ctx.acks.prompt_acked(prompt, r);
        }
        ServerMessage::SetImageAck { success, error } => {
            let r = if *success {
                Ok(())
            } else {
                Err(SdkError::server(
                    error.as_deref().unwrap_or("image refused"),
                ))
            };
            ctx.acks.image_acked(&r);
        }
        ServerMessage::Error { error } => {
            let e = SdkError::server(error);
            // In setup, or when retrying cannot help (a refused or expired key, a session
            // past its duration limit), the error ends the connection.
            if setup || is_permanent_error(&e) {
                return Err(e);
            }
            ctx.emit_error(&e);
        }
        ServerMessage::GenerationStarted => ctx.set_state(State::Generating),
        ServerMessage::GenerationTick { seconds } => {
            let o = js_sys::Object::new();
            js::set(&o, "seconds", &(*seconds).into());
            ctx.events.emit("generationTick", o.into());
        }
        ServerMessage::SessionId {
            session_id,
            server_ip,
            server_port,
        } => {
            // One identity per connection: a second one is not trusted.
            if conn.has_session_id.replace(true) {
                ctx.ignored("session_id", "a second one on the same connection");
            } else {
                let token = SubscribeToken {
                    sid: session_id.clone(),
                    ip: server_ip.clone(),
                    port: *server_port,
                    transport: ctx.transport(),
                };
                ctx.set_ids(session_id.clone(), token.encode_with(BROWSER));
            }
        }
        ServerMessage::MetricsReport(r) => {
            if let Some(l) = ctx.publisher().and_then(|p| p.latency.as_ref()) {
                l.on_server_metrics(r);
            }
            ctx.stats.on_server_metrics(r);
            ctx.emit_json("serverMetrics", &r.received);
        }
        _ => {}
    }
    Ok(Some(m))
}
