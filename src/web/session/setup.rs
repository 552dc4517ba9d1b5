//! One connection attempt (`shared/PROTOCOL.md`, "Session flow"): the WebSocket, then
//! for WebRTC the initial state and the handshake, for IVS the stage and then the initial
//! state; each phase bounded and reported as a `phaseTiming` diagnostic.

use super::{Role, Session, ACK_TIMEOUT_MS, WS_OPEN_TIMEOUT_MS};
use crate::core::diagnostics::phase;
use crate::core::error::{ErrorCode, SdkError};
use crate::core::protocol::{ClientMessage, ServerMessage};
use crate::core::token::Transport;
use crate::web::error::Result;
use crate::web::js::{bounded, perf_now};
use crate::web::session::connect::handle;
use crate::web::transport::ws::WsEvent;
use crate::web::transport::{ivs, webrtc, Connection, Input, Live};
use std::rc::Rc;

/// Waits for the next input and handles it in the setup phase: a server message is
/// returned to the caller (who may wait for one), a failure ends the attempt.
pub async fn next_setup(ctx: &Rc<Session>, live: &mut Live) -> Result<Option<ServerMessage>> {
    match live.next().await {
        Some(input) => handle(ctx, &live.conn, input, true).await,
        None => Err(SdkError::new(
            ErrorCode::WebsocketError,
            "the connection was closed",
        )),
    }
}

/// One attempt, up to media connected and the initial state acknowledged.
pub async fn attempt(ctx: &Rc<Session>) -> Result<Live> {
    let url = (!ctx.is_ivs_viewer()).then(|| ctx.url());
    let mut live = Connection::open(url.as_deref())?;
    let t0 = perf_now();
    if live.conn.ws.is_some() {
        let open = bounded(
            WS_OPEN_TIMEOUT_MS,
            "connection",
            "opening the WebSocket",
            Box::pin(async {
                loop {
                    match live.next().await {
                        Some(Input::Ws(WsEvent::Open)) => return Ok(()),
                        Some(other) => {
                            handle(ctx, &live.conn, other, true).await?;
                        }
                        None => {
                            return Err(SdkError::new(
                                ErrorCode::WebsocketError,
                                "the WebSocket closed",
                            ))
                        }
                    }
                }
            }),
        )
        .await;
        let error = open.as_ref().err().map(|e| e.public_message());
        ctx.phase(phase::WEBSOCKET, t0, error.as_deref(), None);
        open?;
    }
    match ctx.transport() {
        Transport::Webrtc => {
            initial_state(ctx, &mut live).await?;
            webrtc::handshake(ctx, &mut live).await?;
        }
        Transport::Ivs => {
            ivs::setup(ctx, &mut live).await?;
            initial_state(ctx, &mut live).await?;
        }
    }
    ctx.phase(phase::TOTAL, t0, None, None);
    Ok(live)
}

/// The initial state, acknowledged: the image (with the prompt) → `avatar-image`; else the
/// prompt → `initial-prompt`; else, with the caller's stream, a passthrough `set_image`
/// → `initial-prompt`.
async fn initial_state(ctx: &Rc<Session>, live: &mut Live) -> Result<()> {
    let Role::Publisher(p) = &ctx.role else {
        return Ok(());
    };
    let init = &p.initial;
    let (msg, name) = if let Some(img) = &init.image_b64 {
        (
            ClientMessage::SetImage {
                image_data: Some(img.clone()),
                prompt: init.prompt.as_ref().map(|(t, _)| Some(t.clone())),
                enhance_prompt: init.prompt.as_ref().map(|(_, e)| *e),
            },
            phase::AVATAR_IMAGE,
        )
    } else if let Some((text, enhance)) = &init.prompt {
        (
            ClientMessage::Prompt {
                prompt: text.clone(),
                enhance_prompt: *enhance,
            },
            phase::INITIAL_PROMPT,
        )
    } else if p.has_input {
        (
            ClientMessage::SetImage {
                image_data: None,
                prompt: Some(None),
                enhance_prompt: None,
            },
            phase::INITIAL_PROMPT,
        )
    } else {
        return Ok(());
    };
    let t = perf_now();
    let rx = ctx.acks.register(&msg);
    live.conn.send(&msg)?;
    let wait = Box::pin(async {
        let mut rx = rx;
        loop {
            if let Ok(Some(r)) = rx.try_recv() {
                return r;
            }
            next_setup(ctx, live).await?;
        }
    });
    bounded(
        ACK_TIMEOUT_MS,
        "connection",
        "the initial state acknowledgement",
        wait,
    )
    .await?;
    ctx.phase(name, t, None, None);
    Ok(())
}
