//! Helpers of the browser suites: the page-facing API is driven the way a page drives it
//! (plain JS objects, promises, event listeners).
#![allow(dead_code)]

use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlVideoElement, MediaStream};

/// The reference server the test command started.
pub fn base_url() -> String {
    option_env!("REALTIME_TEST_SERVER")
        .unwrap_or("ws://127.0.0.1:8787")
        .to_string()
}

pub fn obj(json: &str) -> JsValue {
    js_sys::JSON::parse(json).expect("test JSON")
}

pub fn set(o: &JsValue, k: &str, v: impl Into<JsValue>) {
    Reflect::set(o, &k.into(), &v.into()).unwrap();
}

pub fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn call(o: &JsValue, method: &str, args: &[JsValue]) -> JsValue {
    let f: Function = get(o, method)
        .dyn_into()
        .unwrap_or_else(|_| panic!("no method {method}"));
    f.apply(o, &args.iter().collect::<Array>())
        .unwrap_or_else(|e| panic!("{method} threw {e:?}"))
}

pub async fn await_promise(p: JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(p.dyn_into::<Promise>().expect("a promise")).await
}

pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

pub fn now() -> f64 {
    js_sys::Date::now()
}

/// Chromium's synthetic camera (and microphone).
pub async fn fake_camera(audio: bool) -> MediaStream {
    let md = web_sys::window()
        .unwrap()
        .navigator()
        .media_devices()
        .unwrap();
    let c = web_sys::MediaStreamConstraints::new();
    c.set_video(&true.into());
    c.set_audio(&audio.into());
    JsFuture::from(md.get_user_media_with_constraints(&c).unwrap())
        .await
        .unwrap()
        .dyn_into()
        .unwrap()
}

/// The error code of a rejected promise / thrown error.
pub fn code(e: &JsValue) -> String {
    get(e, "code")
        .as_string()
        .unwrap_or_else(|| format!("<no code: {e:?}>"))
}

/// The most specific code of a rejected promise / thrown error (`detailCode`).
pub fn detail(e: &JsValue) -> String {
    get(e, "detailCode")
        .as_string()
        .unwrap_or_else(|| format!("<no detailCode: {e:?}>"))
}

/// The message and the cause's message, for assertion texts.
pub fn why(e: &JsValue) -> String {
    format!("{} ({})", message(e), message(&get(e, "cause")))
}

pub fn message(e: &JsValue) -> String {
    get(e, "message").as_string().unwrap_or_default()
}

/// Records every event of the given names, in order.
#[derive(Clone, Default)]
pub struct Recorder(pub Rc<RefCell<Vec<(String, JsValue)>>>);

impl Recorder {
    pub fn attach(&self, client: &JsValue, names: &[&str]) -> Vec<Closure<dyn FnMut(JsValue)>> {
        names
            .iter()
            .map(|n| {
                let log = self.0.clone();
                let name = n.to_string();
                let cb = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
                    log.borrow_mut().push((name.clone(), v))
                });
                call(client, "on", &[JsValue::from_str(n), cb.as_ref().clone()]);
                cb
            })
            .collect()
    }

    pub fn of(&self, name: &str) -> Vec<JsValue> {
        self.0
            .borrow()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn states(&self) -> Vec<String> {
        self.of("connectionChange")
            .iter()
            .filter_map(|v| v.as_string())
            .collect()
    }

    pub fn diagnostics(&self, kind: &str) -> Vec<JsValue> {
        self.of("diagnostic")
            .into_iter()
            .filter(|d| get(d, "kind").as_string().as_deref() == Some(kind))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// Asserts that the recorded session goes `reconnecting` within `drop_ms`, is live again
/// (`connected` or `generating`) within `back_ms` after that, and reported `reconnect`
/// diagnostics.
pub async fn assert_reconnects(events: &Recorder, drop_ms: u32, back_ms: u32) {
    assert!(
        wait_until(drop_ms, || events
            .states()
            .iter()
            .any(|x| x == "reconnecting"))
        .await,
        "{:?}",
        events.states()
    );
    let back = wait_until(back_ms, || {
        let st = events.states();
        let i = st.iter().position(|x| x == "reconnecting");
        i.is_some_and(|i| {
            st[i..]
                .iter()
                .any(|x| x == "connected" || x == "generating")
        })
    })
    .await;
    assert!(back, "{:?}", events.states());
    // The attempt's `reconnect` diagnostic follows its last step (on IVS, the initial state
    // after the stage is connected).
    let reported = wait_until(5000, || {
        events
            .diagnostics("reconnect")
            .iter()
            .any(|d| get(&get(d, "data"), "success").as_bool() == Some(true))
    })
    .await;
    assert!(
        reported,
        "{} reconnect diagnostics",
        events.diagnostics("reconnect").len()
    );
}

/// Waits until `f` is true, polling every 100 ms, at most `ms`.
pub async fn wait_until(ms: u32, mut f: impl FnMut() -> bool) -> bool {
    let end = now() + f64::from(ms);
    while now() < end {
        if f() {
            return true;
        }
        sleep(100).await;
    }
    f()
}

/// Plays `stream` in a muted video element and returns it.
pub fn play(stream: &MediaStream) -> HtmlVideoElement {
    let doc = web_sys::window().unwrap().document().unwrap();
    let v: HtmlVideoElement = doc.create_element("video").unwrap().dyn_into().unwrap();
    v.set_muted(true);
    v.set_autoplay(true);
    v.set_src_object(Some(stream));
    doc.body().unwrap().append_child(&v).unwrap();
    let _ = v.play();
    v
}

/// Frames the element has presented so far.
pub fn frames(v: &HtmlVideoElement) -> u32 {
    v.get_video_playback_quality().total_video_frames()
}

/// A holder for the stream handed to `onRemoteStream`.
#[derive(Clone, Default)]
pub struct RemoteStream(pub Rc<RefCell<Option<MediaStream>>>);

impl RemoteStream {
    pub fn callback(&self) -> Closure<dyn FnMut(JsValue)> {
        let slot = self.0.clone();
        Closure::new(move |s: JsValue| *slot.borrow_mut() = s.dyn_into().ok())
    }
    pub fn get(&self) -> Option<MediaStream> {
        self.0.borrow().clone()
    }
}

/// `createDecartClient({realtimeBaseUrl, apiKey}).realtime`, against the test server.
pub fn factory(api_key: &str) -> JsValue {
    let o = Object::new();
    set(&o, "realtimeBaseUrl", base_url());
    set(&o, "apiKey", api_key);
    let client = realtime_video_sdk::web_api::create_decart_client(o.into()).expect("client");
    get(&client, "realtime")
}

/// A connected client as the suites hold it: the client, its recorded events, its remote
/// stream, and the callbacks that must live as long as it.
pub struct Session {
    pub client: JsValue,
    pub events: Recorder,
    pub remote: RemoteStream,
    pub _cbs: Vec<Closure<dyn FnMut(JsValue)>>,
    pub _on_remote: Closure<dyn FnMut(JsValue)>,
}

/// `realtime.connect(stream, options)` with the test key, the way a page calls it, with an
/// `onRemoteStream` holder set in `options`: the outcome, the holder, and its callback
/// (which must live as long as the client).
pub async fn connect_client(
    stream: &JsValue,
    options: &JsValue,
) -> (
    Result<JsValue, JsValue>,
    RemoteStream,
    Closure<dyn FnMut(JsValue)>,
) {
    let remote = RemoteStream::default();
    let on_remote = remote.callback();
    set(options, "onRemoteStream", on_remote.as_ref().clone());
    let outcome = await_promise(call(
        &factory("test-key"),
        "connect",
        &[stream.clone(), options.clone()],
    ))
    .await;
    (outcome, remote, on_remote)
}

/// Every `RTCPeerConnection` and `WebSocket` the page creates from now on (the SDK's and the
/// IVS SDK's alike), for checking that nothing is left open. The globals are wrapped in a
/// `Proxy` once per page; `instanceof` keeps working.
#[derive(Clone)]
pub struct Tracker(Rc<RefCell<Vec<JsValue>>>);

thread_local! {
    static TRACKED: Rc<RefCell<Vec<JsValue>>> = {
        let list: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        for name in ["RTCPeerConnection", "WebSocket"] {
            let global = js_sys::global();
            let target: Function = get(&global, name).dyn_into().expect(name);
            let l = list.clone();
            let construct = Closure::<dyn FnMut(JsValue, Array, JsValue) -> Result<JsValue, JsValue>>::new(move |target: JsValue, args: Array, new_target: JsValue| {
                let o = Reflect::construct_with_new_target(target.unchecked_ref(), &args, new_target.unchecked_ref())?;
                l.borrow_mut().push(o.clone());
                Ok(o)
            });
            let handler = Object::new();
            set(&handler, "construct", construct.as_ref().clone());
            construct.forget();
            let proxy = js_sys::Proxy::new(&target, &handler);
            set(&global, name, proxy);
        }
        list
    };
}

impl Tracker {
    pub fn install() -> Tracker {
        Tracker(TRACKED.with(|t| t.clone()))
    }
    /// How many objects were created so far (to look only at later ones).
    pub fn mark(&self) -> usize {
        self.0.borrow().len()
    }
    /// Peer connections created after `mark` that are not closed.
    pub fn open_peer_connections(&self, mark: usize) -> usize {
        self.0.borrow()[mark..]
            .iter()
            .filter(|o| {
                get(o, "connectionState")
                    .as_string()
                    .is_some_and(|s| s != "closed")
            })
            .count()
    }
    /// WebSockets created after `mark` that are connecting or open.
    pub fn open_sockets(&self, mark: usize) -> usize {
        self.0.borrow()[mark..]
            .iter()
            .filter(|o| get(o, "readyState").as_f64().is_some_and(|s| s < 2.0))
            .count()
    }
    /// Waits (up to 3 s) until every peer connection and socket created after `mark` is
    /// closed; fails the test naming what is left open.
    pub async fn assert_nothing_left_open(&self, mark: usize) {
        let closed = wait_until(3000, || {
            self.open_peer_connections(mark) == 0 && self.open_sockets(mark) == 0
        })
        .await;
        assert!(
            closed,
            "left open: {} peer connections, {} sockets",
            self.open_peer_connections(mark),
            self.open_sockets(mark)
        );
    }
    /// Peer connections / sockets created after `mark`.
    pub fn created(&self, mark: usize, kind: &str) -> usize {
        self.0.borrow()[mark..]
            .iter()
            .filter(|o| {
                if kind == "pc" {
                    get(o, "connectionState").is_string()
                } else {
                    get(o, "readyState").as_f64().is_some()
                }
            })
            .count()
    }
}

/// The reference server over HTTP.
pub fn http_base() -> String {
    base_url().replacen("ws://", "http://", 1)
}
