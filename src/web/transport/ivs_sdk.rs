//! The IVS Web Broadcast SDK: obtaining the module (handed in, global, or a `<script>`
//! injected once per page), and one stage with its strategy, local streams and event
//! handlers, owned by a [`StageConn`] that leaves the stage and removes its handlers when
//! dropped.
//!
//! The module is bound through typed `extern` declarations; constructors, event names and
//! enum values are read from the module object at run time (`shared/PROTOCOL.md`, "Session
//! flow, IVS": never hard-code strings that differ between SDK versions). Nothing here
//! evaluates code, so it runs under a strict Content-Security-Policy.

use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::options::JitterBuffer;
use crate::web::chan::{race, Either, Sender};
use crate::web::error::{from_js, Result};
use crate::web::js::{get, set};
use futures_channel::oneshot;
use gloo_events::EventListener;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::MediaStreamTrack;

/// Bound for loading the SDK script, ms.
pub const SDK_LOAD_TIMEOUT_MS: u32 = 15_000;
/// The global a classic-script build of the SDK defines.
pub const SDK_GLOBAL: &str = "IVSBroadcastClient";
/// Marks the `<script>` element this module injected.
const SCRIPT_MARK: &str = "data-realtime-ivs-sdk";

#[wasm_bindgen]
extern "C" {
    /// `Stage` of the IVS Web Broadcast SDK.
    #[derive(Clone)]
    pub type IvsStage;
    #[wasm_bindgen(method, catch)]
    fn join(this: &IvsStage) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn leave(this: &IvsStage) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn on(
        this: &IvsStage,
        event: &str,
        handler: &Function,
    ) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn off(
        this: &IvsStage,
        event: &str,
        handler: &Function,
    ) -> std::result::Result<JsValue, JsValue>;

    /// A local or remote stage stream.
    #[derive(Clone)]
    pub type StageStream;
    #[wasm_bindgen(method, getter, js_name = mediaStreamTrack)]
    fn media_stream_track(this: &StageStream) -> JsValue;
    #[wasm_bindgen(method, catch, js_name = requestRTCStats)]
    fn request_rtc_stats(this: &StageStream) -> std::result::Result<JsValue, JsValue>;
}

fn load_error(url: &str, why: &str) -> SdkError {
    SdkError::new(
        ErrorCode::IvsLoadFailed,
        join(&[
            "the IVS Web Broadcast SDK failed to load from ",
            url,
            ": ",
            why,
        ]),
    )
}

/// True when `m` looks like the SDK module (has the `Stage` constructor and the enums).
fn is_module(m: &JsValue) -> bool {
    get(m, "Stage").is_function()
        && get(m, "LocalStageStream").is_function()
        && get(m, "StageEvents").is_object()
}

/// Checks the `ivsModule` option: an ES module namespace of the package, or its default
/// export.
pub fn module_option(m: &JsValue) -> Result<JsValue> {
    for candidate in [m.clone(), get(m, "default")] {
        if is_module(&candidate) {
            return Ok(candidate);
        }
    }
    Err(SdkError::invalid_option(
        "ivsModule",
        "the amazon-ivs-web-broadcast module (with Stage, LocalStageStream, StageEvents)",
    ))
}

/// The SDK module: `explicit` (the `ivsModule` option) when given, else the global
/// `IVSBroadcastClient`, else the script at `url`, injected once per page and awaited with a
/// bound.
pub async fn load_module(explicit: Option<&JsValue>, url: &str) -> Result<JsValue> {
    if let Some(m) = explicit {
        return module_option(m);
    }
    let global = get(&js_sys::global(), SDK_GLOBAL);
    if is_module(&global) {
        return Ok(global);
    }
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| load_error(url, "no document"))?;

    // One script element per URL and page; a failed one is removed so that a later connect
    // tries again.
    let scripts = document.get_elements_by_tag_name("script");
    let mut script = None;
    for i in 0..scripts.length() {
        if let Some(s) = scripts.item(i) {
            if s.has_attribute(SCRIPT_MARK) && s.get_attribute("src").as_deref() == Some(url) {
                script = Some(s);
            }
        }
    }
    let script = match script {
        Some(s) if s.get_attribute(SCRIPT_MARK).as_deref() == Some("failed") => {
            s.remove();
            None
        }
        other => other,
    };
    let script = match script {
        Some(s) => s,
        None => {
            let s = document.create_element("script").map_err(|e| {
                from_js(
                    ErrorCode::IvsLoadFailed,
                    "could not create a script element",
                    &e,
                )
            })?;
            let _ = s.set_attribute(SCRIPT_MARK, "loading");
            let _ = s.set_attribute("src", url);
            // No `crossorigin`: a CDN without CORS headers would then fail to load.
            let parent = document
                .head()
                .map(web_sys::Element::from)
                .or_else(|| document.document_element())
                .ok_or_else(|| load_error(url, "no document element"))?;
            parent.append_child(&s).map_err(|e| {
                from_js(
                    ErrorCode::IvsLoadFailed,
                    "could not insert the script element",
                    &e,
                )
            })?;
            s
        }
    };
    if script.get_attribute(SCRIPT_MARK).as_deref() == Some("loaded") {
        return Err(load_error(
            url,
            &join(&["the script did not define the global ", SDK_GLOBAL]),
        ));
    }

    let (tx, rx) = oneshot::channel::<std::result::Result<(), String>>();
    let tx = Rc::new(RefCell::new(Some(tx)));
    let (t1, t2) = (tx.clone(), tx);
    let (s1, s2) = (script.clone(), script.clone());
    let _load = EventListener::once(&script, "load", move |_| {
        let _ = s1.set_attribute(SCRIPT_MARK, "loaded");
        if let Some(tx) = t1.borrow_mut().take() {
            let _ = tx.send(Ok(()));
        }
    });
    let _error = EventListener::once(&script, "error", move |_| {
        let _ = s2.set_attribute(SCRIPT_MARK, "failed");
        if let Some(tx) = t2.borrow_mut().take() {
            let _ = tx.send(Err("the script could not be loaded (network error, blocked by CSP or CORS, or not found)".into()));
        }
    });
    match race(
        Box::pin(rx),
        Box::pin(TimeoutFuture::new(SDK_LOAD_TIMEOUT_MS)),
    )
    .await
    {
        Either::Left(Ok(Ok(()))) => {
            let global = get(&js_sys::global(), SDK_GLOBAL);
            if is_module(&global) {
                Ok(global)
            } else {
                Err(load_error(
                    url,
                    &join(&["the script did not define the global ", SDK_GLOBAL]),
                ))
            }
        }
        Either::Left(Ok(Err(why))) => Err(load_error(url, &why)),
        Either::Left(Err(_)) => Err(load_error(url, "the script element went away")),
        Either::Right(()) => {
            let _ = script.set_attribute(SCRIPT_MARK, "failed");
            Err(load_error(url, "no answer within 15 s"))
        }
    }
}

/// Event names and enum values of one SDK module, read at run time.
#[derive(Clone, Debug)]
pub struct Names {
    pub ev_state: String,
    pub ev_streams_added: String,
    pub ev_streams_removed: String,
    pub ev_left: String,
    pub ev_error: String,
    pub st_connected: String,
    pub st_disconnected: String,
    pub st_errored: String,
    pub sub_none: JsValue,
    pub sub_audio_video: JsValue,
}

impl Names {
    /// Reads the names from `module`; a missing one is an `IVS_LOAD_FAILED` error naming it.
    pub fn read(module: &JsValue) -> Result<Names> {
        let s = |e: &str, k: &str| -> Result<String> {
            get(&get(module, e), k).as_string().ok_or_else(|| {
                SdkError::new(
                    ErrorCode::IvsLoadFailed,
                    join(&["the IVS SDK module has no ", e, ".", k]),
                )
            })
        };
        Ok(Names {
            ev_state: s("StageEvents", "STAGE_CONNECTION_STATE_CHANGED")?,
            ev_streams_added: s("StageEvents", "STAGE_PARTICIPANT_STREAMS_ADDED")?,
            ev_streams_removed: s("StageEvents", "STAGE_PARTICIPANT_STREAMS_REMOVED")?,
            ev_left: s("StageEvents", "STAGE_LEFT")?,
            ev_error: s("StageEvents", "ERROR")?,
            st_connected: s("StageConnectionState", "CONNECTED")?,
            st_disconnected: s("StageConnectionState", "DISCONNECTED")?,
            st_errored: s("StageConnectionState", "ERRORED")?,
            sub_none: s("SubscribeType", "NONE")?.into(),
            sub_audio_video: s("SubscribeType", "AUDIO_VIDEO")?.into(),
        })
    }
}

/// What a stage reports, forwarded into the session's input channel.
#[derive(Debug)]
pub enum StageInput {
    /// `STAGE_CONNECTION_STATE_CHANGED`: the new state, classified.
    State(StageState, String),
    /// Streams added for a remote participant (local ones are not forwarded).
    StreamsAdded {
        participant_id: String,
        streams: Vec<JsValue>,
    },
    /// Streams removed for a remote participant.
    StreamsRemoved { streams: Vec<JsValue> },
    /// `STAGE_LEFT` with its reason.
    Left(String),
    /// `ERROR` with a description.
    Error(String),
    /// `join()` rejected.
    JoinFailed(SdkError),
}

/// The stage connection states the session acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    Connected,
    Disconnected,
    Errored,
    Other,
}

/// Who joins: the publishing client or a subscribe-only viewer.
pub enum StageRole {
    /// Publishes `tracks` (first video, first audio); subscribes to everyone but itself.
    Publisher {
        tracks: Vec<MediaStreamTrack>,
        own_participant_id: Option<String>,
    },
    /// Subscribes only to `server_participant_id`.
    Viewer { server_participant_id: String },
}

/// A stage event name and the handler registered for it.
type Handler = (String, Closure<dyn FnMut(JsValue, JsValue)>);

/// One joined (or joining) stage. Dropping it removes the handlers and leaves the stage.
pub struct StageConn {
    stage: IvsStage,
    local_streams: Vec<StageStream>,
    remote_streams: RefCell<Vec<StageStream>>,
    handlers: Vec<Handler>,
    _strategy: Vec<Closure<dyn Fn(JsValue) -> JsValue>>,
}

impl Drop for StageConn {
    fn drop(&mut self) {
        for (event, handler) in &self.handlers {
            let _ = self.stage.off(event, handler.as_ref().unchecked_ref());
        }
        let _ = self.stage.leave();
    }
}

fn construct(module: &JsValue, class: &str, args: &Array) -> Result<JsValue> {
    let ctor: Function = get(module, class).dyn_into().map_err(|_| {
        SdkError::new(
            ErrorCode::IvsLoadFailed,
            join(&["the IVS SDK module has no ", class]),
        )
    })?;
    Reflect::construct(&ctor, args).map_err(|e| {
        from_js(
            ErrorCode::IvsStageError,
            &join(&["new ", class, "() threw"]),
            &e,
        )
    })
}

/// The streams of a stage event, unless the participant is the local one.
fn remote_streams(participant: &JsValue, streams: &JsValue) -> Option<Vec<JsValue>> {
    if get(participant, "isLocal").as_bool() == Some(true) {
        return None;
    }
    Some(if Array::is_array(streams) {
        Array::from(streams).iter().collect()
    } else {
        Vec::new()
    })
}

fn participant_id(p: &JsValue) -> Option<String> {
    get(p, "id").as_string()
}

/// Describes a stage error object (`StageError`: code, category, message) as text.
fn describe_stage_error(e: &JsValue) -> String {
    let message = get(e, "message")
        .as_string()
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "stage error".into());
    let mut text = message;
    for k in ["category", "code"] {
        let v = get(e, k);
        let value = v.as_string().or_else(|| {
            v.as_f64()
                .filter(|n| n.fract() == 0.0 && *n >= 0.0)
                .map(|n| crate::core::error::int(n as u64))
        });
        if let Some(value) = value {
            text = join(&[&text, ", ", k, " ", &value]);
        }
    }
    text
}

impl StageConn {
    /// Builds the local streams and the stage with its strategy, wires the events into
    /// `tx` and calls `join()`. The returned future resolves when `join()` does.
    pub fn create<I: 'static>(
        module: &JsValue,
        names: &Names,
        token: &str,
        role: StageRole,
        jitter_buffer: &JitterBuffer,
        tx: Sender<I>,
        map: fn(StageInput) -> I,
    ) -> Result<(Rc<StageConn>, Promise)> {
        // Local streams: the first video track (simulcast off) and the first audio track.
        let mut local_streams = Vec::new();
        let (own_id, viewer_of) = match &role {
            StageRole::Publisher {
                tracks,
                own_participant_id,
            } => {
                for kind in ["video", "audio"] {
                    if let Some(t) = tracks.iter().find(|t| t.kind() == kind) {
                        let config = Object::new();
                        if kind == "video" {
                            let simulcast = Object::new();
                            set(&simulcast, "enabled", &false.into());
                            set(&config, "simulcast", &simulcast);
                        }
                        local_streams.push(
                            construct(module, "LocalStageStream", &Array::of2(t, &config))?
                                .unchecked_into::<StageStream>(),
                        );
                    }
                }
                (own_participant_id.clone(), None)
            }
            StageRole::Viewer {
                server_participant_id,
            } => (None, Some(server_participant_id.clone())),
        };

        // The strategy.
        let publish: Array = local_streams.iter().collect();
        let has_local = !local_streams.is_empty();
        let (none, av) = (names.sub_none.clone(), names.sub_audio_video.clone());
        let streams_to_publish =
            Closure::<dyn Fn(JsValue) -> JsValue>::new(move |_p: JsValue| publish.clone().into());
        let should_publish =
            Closure::<dyn Fn(JsValue) -> JsValue>::new(move |_p: JsValue| has_local.into());
        let should_subscribe = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |p: JsValue| {
            // Old SDK versions pass no participant: subscribe then.
            if p.is_undefined() || p.is_null() {
                return av.clone();
            }
            let id = participant_id(&p);
            let subscribe = match &viewer_of {
                Some(server) => id.as_deref() == Some(server.as_str()),
                None => {
                    get(&p, "isLocal").as_bool() != Some(true) && (own_id.is_none() || id != own_id)
                }
            };
            if subscribe {
                av.clone()
            } else {
                none.clone()
            }
        });
        // `jitterBufferMinDelay` goes to the stage unchanged: ms or an IVS preset.
        let min_delay: JsValue = match jitter_buffer {
            JitterBuffer::Ms(ms) => (*ms).into(),
            JitterBuffer::Preset(p) => p.as_str().into(),
        };
        let subscribe_config = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |_p: JsValue| {
            let jb = Object::new();
            set(&jb, "minDelay", &min_delay);
            let cfg = Object::new();
            set(&cfg, "jitterBuffer", &jb);
            cfg.into()
        });
        let strategy = Object::new();
        for (k, f) in [
            ("stageStreamsToPublish", &streams_to_publish),
            ("shouldPublishParticipant", &should_publish),
            ("shouldSubscribeToParticipant", &should_subscribe),
            ("subscribeConfiguration", &subscribe_config),
        ] {
            set(&strategy, k, f.as_ref());
        }
        let stage: IvsStage =
            construct(module, "Stage", &Array::of2(&token.into(), &strategy))?.unchecked_into();

        // Events.
        let mut handlers: Vec<Handler> = Vec::new();
        let names2 = names.clone();
        let t = tx.clone();
        handlers.push((
            names.ev_state.clone(),
            Closure::new(move |state: JsValue, _: JsValue| {
                let s = state.as_string().unwrap_or_default();
                let kind = if s == names2.st_connected {
                    StageState::Connected
                } else if s == names2.st_disconnected {
                    StageState::Disconnected
                } else if s == names2.st_errored {
                    StageState::Errored
                } else {
                    StageState::Other
                };
                t.send(map(StageInput::State(kind, s)));
            }),
        ));
        let t = tx.clone();
        handlers.push((
            names.ev_streams_added.clone(),
            Closure::new(move |p: JsValue, streams: JsValue| {
                if let Some(streams) = remote_streams(&p, &streams) {
                    t.send(map(StageInput::StreamsAdded {
                        participant_id: participant_id(&p).unwrap_or_default(),
                        streams,
                    }));
                }
            }),
        ));
        let t = tx.clone();
        handlers.push((
            names.ev_streams_removed.clone(),
            Closure::new(move |p: JsValue, streams: JsValue| {
                if let Some(streams) = remote_streams(&p, &streams) {
                    t.send(map(StageInput::StreamsRemoved { streams }));
                }
            }),
        ));
        let t = tx.clone();
        handlers.push((
            names.ev_left.clone(),
            Closure::new(move |reason: JsValue, _: JsValue| {
                t.send(map(StageInput::Left(
                    reason.as_string().unwrap_or_else(|| "unknown".into()),
                )));
            }),
        ));
        let t = tx;
        handlers.push((
            names.ev_error.clone(),
            Closure::new(move |e: JsValue, _: JsValue| {
                t.send(map(StageInput::Error(describe_stage_error(&e))));
            }),
        ));
        for (event, handler) in &handlers {
            stage
                .on(event, handler.as_ref().unchecked_ref())
                .map_err(|e| from_js(ErrorCode::IvsStageError, "stage.on() threw", &e))?;
        }

        let conn = Rc::new(StageConn {
            stage,
            local_streams,
            remote_streams: RefCell::new(Vec::new()),
            handlers,
            _strategy: vec![
                streams_to_publish,
                should_publish,
                should_subscribe,
                subscribe_config,
            ],
        });
        let joined = conn
            .stage
            .join()
            .map_err(|e| from_js(ErrorCode::IvsStageError, "stage.join() threw", &e))?;
        Ok((conn, joined))
    }

    /// Records remote streams (for stats) and returns their tracks.
    pub fn add_remote(&self, streams: &[JsValue]) -> Vec<MediaStreamTrack> {
        let mut tracks = Vec::new();
        let mut remote = self.remote_streams.borrow_mut();
        for s in streams {
            let s: StageStream = s.clone().unchecked_into();
            if let Ok(t) = s.media_stream_track().dyn_into::<MediaStreamTrack>() {
                tracks.push(t);
            }
            if !remote
                .iter()
                .any(|r| JsValue::from(r.clone()) == JsValue::from(s.clone()))
            {
                remote.push(s);
            }
        }
        tracks
    }

    /// Forgets remote streams that went away.
    pub fn remove_remote(&self, streams: &[JsValue]) {
        self.remote_streams
            .borrow_mut()
            .retain(|r| !streams.iter().any(|s| *s == JsValue::from(r.clone())));
    }

    /// `requestRTCStats()` promises of every local and remote stage stream.
    pub fn stats_requests(&self) -> Vec<Promise> {
        self.local_streams
            .iter()
            .chain(self.remote_streams.borrow().iter())
            .filter_map(|s| s.request_rtc_stats().ok())
            .filter_map(|p| p.dyn_into::<Promise>().ok())
            .collect()
    }
}

/// Describes a rejected `join()`.
pub fn join_error(e: &JsValue) -> SdkError {
    SdkError::new(
        ErrorCode::IvsStageError,
        join(&["joining the IVS stage failed: ", &describe_stage_error(e)]),
    )
}
