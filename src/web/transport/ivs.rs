//! The IVS transport's flow (`shared/PROTOCOL.md`, "Session flow, IVS"): the stage token
//! (`ivs_stage_ready`, or a viewer token over HTTP), the SDK module, the stage joined,
//! `ivs_joined` sent and the output's streams received; then the stage's events for the life
//! of the connection.

use super::ivs_sdk::{self, Names, StageConn, StageInput, StageRole, StageState};
use super::{Input, Link, Live};
use crate::core::diagnostics::phase;
use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::json::Obj;
use crate::core::protocol::{ClientMessage, IvsViewerToken, ServerMessage};
use crate::core::urls;
use crate::web::error::{from_js, Result};
use crate::web::js::{await_js, bounded, perf_now, spawn, window, BROWSER};
use crate::web::session::setup::next_setup;
use crate::web::session::{Role, Session, State, MEDIA_TIMEOUT_MS, WS_OPEN_TIMEOUT_MS};
use crate::web::transport::Connection;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The stage setup of one attempt, up to the output's streams; emits the
/// `ivs-stage-setup` phase with its steps (stage token, SDK, stage).
pub async fn setup(ctx: &Rc<Session>, live: &mut Live) -> Result<()> {
    let t0 = perf_now();
    let (token, role) = match &ctx.role {
        Role::Publisher(p) => {
            let wait = Box::pin(async {
                loop {
                    if let Some(ServerMessage::IvsStageReady {
                        client_token,
                        client_publish_participant_id,
                        ..
                    }) = next_setup(ctx, live).await?
                    {
                        return Ok((client_token, client_publish_participant_id));
                    }
                }
            });
            let (token, own) = bounded(
                WS_OPEN_TIMEOUT_MS,
                "connection",
                "waiting for ivs_stage_ready",
                wait,
            )
            .await?;
            let tracks = super::stream_tracks(p.stream.as_ref());
            (
                token,
                StageRole::Publisher {
                    tracks,
                    own_participant_id: own,
                },
            )
        }
        Role::Viewer(t) => {
            let vt = bounded(
                WS_OPEN_TIMEOUT_MS,
                "connection",
                "fetching the IVS viewer token",
                Box::pin(fetch_viewer_token(ctx, &t.sid)),
            )
            .await?;
            (
                vt.subscribe_token,
                StageRole::Viewer {
                    server_participant_id: vt.server_publish_participant_id,
                },
            )
        }
    };
    let t1 = perf_now();
    let module = ivs_sdk::load_module(ctx.ivs_module.as_ref(), &ctx.common.ivs_sdk_url).await?;
    let names = Names::read(&module)?;
    let t2 = perf_now();

    let conn = live.conn.clone();
    let (stage, joined) = StageConn::create(
        &module,
        &names,
        &token,
        role,
        &ctx.common.jitter_buffer,
        conn.tx.clone(),
        Input::Stage,
    )?;
    conn.set_link(Link::Ivs(stage));
    let tx = conn.tx.clone();
    spawn(Box::pin(async move {
        if let Err(e) = JsFuture::from(joined).await {
            tx.send(Input::Stage(StageInput::JoinFailed(ivs_sdk::join_error(
                &e,
            ))));
        }
    }));
    let join_up = Box::pin(async {
        loop {
            if conn.stage_connected.get() && conn.remote().is_some() {
                return Ok(());
            }
            next_setup(ctx, live).await?;
        }
    });
    bounded(
        MEDIA_TIMEOUT_MS,
        "connection",
        "joining the IVS stage and receiving the output",
        join_up,
    )
    .await?;
    let steps = Obj::new()
        .set("stageToken", t1 - t0)
        .set("ivsSdk", t2 - t1)
        .set("stage", perf_now() - t2)
        .build();
    ctx.phase(phase::IVS_STAGE_SETUP, t0, None, Some(steps));
    Ok(())
}

/// `GET /v1/subscribe-ivs/{sid}` with the `x-api-key` header.
async fn fetch_viewer_token(ctx: &Session, sid: &str) -> Result<IvsViewerToken> {
    let headers =
        web_sys::Headers::new().map_err(|e| from_js(ErrorCode::Internal, "Headers failed", &e))?;
    headers.set("x-api-key", &ctx.client.api_key).map_err(|e| {
        from_js(
            ErrorCode::InvalidOptions,
            "the API key is not a valid header value",
            &e,
        )
    })?;
    let init = web_sys::RequestInit::new();
    init.set_headers(&headers);
    let url = urls::ivs_viewer_token_url(&ctx.client.base_url, sid);
    let failed = "fetching the IVS viewer token failed";
    let resp = await_js(
        window()?.fetch_with_str_and_init(&url, &init),
        ErrorCode::NetworkError,
        failed,
    )
    .await?;
    let resp: web_sys::Response = resp.unchecked_into();
    let text = resp
        .text()
        .map_err(|e| from_js(ErrorCode::NetworkError, failed, &e))?;
    let body = await_js(text, ErrorCode::NetworkError, failed)
        .await?
        .as_string()
        .unwrap_or_default();
    let status = resp.status();
    let json = (BROWSER.parse)(&body);
    if !(200..300).contains(&status) {
        let code = if status == 401 || status == 403 {
            ErrorCode::Unauthorized
        } else {
            ErrorCode::ServerError
        };
        let mut text = join(&[
            "the IVS viewer token request answered HTTP ",
            &crate::core::error::int(u64::from(status)),
        ]);
        if let Some(detail) = json.as_ref().and_then(|j| j.str("error")) {
            text = join(&[&text, ": ", detail]);
        }
        return Err(SdkError::new(code, text));
    }
    json.as_ref()
        .and_then(|j| IvsViewerToken::from_json(j).ok())
        .ok_or_else(|| {
            SdkError::new(
                ErrorCode::ProtocolError,
                "the IVS viewer token answer is not valid",
            )
        })
}

/// Handles a stage event: `connected` sends `ivs_joined` once; remote streams become the
/// output stream; a disconnected, errored or left stage, or a stage error, ends the
/// connection (a connect in progress rejects, a live session reconnects).
pub fn on_stage(ctx: &Session, conn: &Connection, ev: StageInput) -> Result<()> {
    let stage_error = |why: &str| SdkError::new(ErrorCode::IvsStageError, why);
    match ev {
        StageInput::State(state, raw) => {
            ctx.diagnostic("stageConnectionStateChange", raw.into());
            match state {
                StageState::Connected => {
                    if !conn.stage_connected.replace(true) && conn.ws.is_some() {
                        conn.send(&ClientMessage::IvsJoined)?;
                    }
                    if !ctx.is_ivs_viewer() {
                        ctx.set_state(State::Connected);
                    }
                    Ok(())
                }
                StageState::Disconnected => Err(stage_error("the IVS stage disconnected")),
                StageState::Errored => Err(stage_error("the IVS stage connection errored")),
                StageState::Other => Ok(()),
            }
        }
        StageInput::StreamsAdded {
            participant_id,
            streams,
        } => {
            let Some(stage) = conn.stage() else {
                return Ok(());
            };
            let tracks = stage.add_remote(&streams);
            ctx.diagnostic(
                "stageStreamsAdded",
                Obj::new()
                    .set("participantId", participant_id)
                    .set("tracks", tracks.len())
                    .build(),
            );
            if tracks.is_empty() {
                return Ok(());
            }
            conn.deliver_tracks(ctx, &tracks, None)?;
            if ctx.is_ivs_viewer() {
                ctx.set_state(State::Connected);
            }
            Ok(())
        }
        StageInput::StreamsRemoved { streams } => {
            if let Some(stage) = conn.stage() {
                stage.remove_remote(&streams);
            }
            Ok(())
        }
        StageInput::Left(reason) => Err(stage_error(&join(&[
            "left the IVS stage (reason: ",
            &reason,
            ")",
        ]))),
        StageInput::Error(e) => Err(stage_error(&join(&["IVS stage error: ", &e]))),
        StageInput::JoinFailed(e) => Err(e),
    }
}
