//! The IVS transport with the real `amazon-ivs-web-broadcast` package (installed by the
//! set-up and served by the reference server at `/vendor/`), in headless Chromium inside a
//! loopback-only namespace. AWS is unreachable, and the token of the reference server's
//! stage is not one the real SDK can use: the SDK must build its local streams and stage
//! with the real module, and the connect must fail with a clear error in bounded time,
//! leaving nothing open.
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
export function instrument(m, log) {
  class Stage extends m.Stage {
    constructor(token, strategy) {
      log.push({ what: "Stage", token });
      super(token, strategy);
      // Wrapped on the instance: the package may define them as instance properties.
      for (const name of ["join", "leave"]) {
        const original = this[name].bind(this);
        this[name] = (...args) => {
          log.push({ what: name });
          return original(...args);
        };
      }
    }
  }
  class LocalStageStream extends m.LocalStageStream {
    constructor(track, config) {
      super(track, config);
      log.push({ what: "LocalStageStream", kind: track.kind, real: this instanceof m.LocalStageStream });
    }
  }
  return Object.assign({}, m, { Stage, LocalStageStream });
}
"#)]
extern "C" {
    fn instrument(module: &JsValue, log: &js_sys::Array) -> JsValue;
}

fn vendor_url() -> String {
    format!("{}/vendor/amazon-ivs-web-broadcast.js", http_base())
}

/// Loads the real package with a script element, as a page would, and returns its global.
async fn real_module() -> JsValue {
    let doc = web_sys::window().unwrap().document().unwrap();
    let s = doc.create_element("script").unwrap();
    s.set_attribute("src", &vendor_url()).unwrap();
    doc.head().unwrap().append_child(&s).unwrap();
    assert!(
        wait_until(20_000, || get(&js_sys::global(), "IVSBroadcastClient")
            .is_object())
        .await,
        "the real package did not load from {}",
        vendor_url()
    );
    get(&js_sys::global(), "IVSBroadcastClient")
}

#[wasm_bindgen_test]
async fn real_package_stage_with_an_unusable_token_fails_clearly_in_bounded_time() {
    let module = real_module().await;
    // It is the real package (the emulator has no broadcast presets).
    assert!(
        get(&module, "BASIC_LANDSCAPE").is_object()
            || get(&module, "STANDARD_LANDSCAPE").is_object(),
        "not the real package: {:?}",
        js_sys::Object::keys(module.unchecked_ref::<js_sys::Object>())
    );

    let log = js_sys::Array::new();
    let t = Tracker::install();
    let mark = t.mark();
    let camera = fake_camera(true).await;
    let o = obj(r#"{"model": "mirage", "transport": "ivs", "maxRetries": 0}"#);
    set(&o, "ivsModule", instrument(&module, &log));
    let remote = RemoteStream::default();
    let cb = remote.callback();
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let started = now();
    let r = await_promise(call(
        &factory("test-key"),
        "connect",
        &[camera.clone().into(), o],
    ))
    .await;
    let took = now() - started;
    let e = r.expect_err("the real SDK cannot join the reference server's stage");
    let entries: Vec<String> = log
        .iter()
        .map(|x| {
            format!(
                "{}:{}",
                get(&x, "what").as_string().unwrap_or_default(),
                get(&x, "kind").as_string().unwrap_or_default()
            )
        })
        .collect();
    web_sys::console::log_1(
        &format!(
            "real SDK: {} {} after {took:.0} ms; calls {entries:?}",
            code(&e),
            message(&e)
        )
        .into(),
    );

    // The SDK built the local streams (video and the microphone) and the stage with the
    // real module, with the token of `ivs_stage_ready`, and tried to join.
    assert!(
        entries.contains(&"LocalStageStream:video".to_string()),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"LocalStageStream:audio".to_string()),
        "{entries:?}"
    );
    let stage = log
        .iter()
        .find(|x| get(x, "what").as_string().as_deref() == Some("Stage"))
        .expect("a real Stage was made");
    assert!(get(&stage, "token")
        .as_string()
        .is_some_and(|t| !t.is_empty()));
    assert!(entries.contains(&"join:".to_string()), "{entries:?}");
    // A clear error, within the stage bound (30 s) plus the setup before it.
    assert_eq!(detail(&e), "IVS_STAGE_ERROR", "{}", why(&e));
    assert!(why(&e).to_lowercase().contains("stage"), "{}", why(&e));
    assert!(took < 35_000.0, "connect took {took:.0} ms");
    // Nothing left behind: the stage was left, the signaling socket and any peer connection closed.
    let left = || {
        log.iter()
            .any(|x| get(&x, "what").as_string().as_deref() == Some("leave"))
    };
    assert!(
        wait_until(3000, left).await,
        "the stage was not left: {entries:?}"
    );
    t.assert_nothing_left_open(mark).await;
    for t in camera.get_tracks().iter() {
        call(&t, "stop", &[]);
    }
}

#[wasm_bindgen_test]
async fn real_package_is_found_by_url() {
    // The default loading path: `ivsSdkUrl` pointing at the package's script.
    let camera = fake_camera(false).await;
    let o = obj(&format!(
        r#"{{"model": "mirage", "transport": "ivs", "maxRetries": 0, "ivsSdkUrl": "{}"}}"#,
        vendor_url()
    ));
    let (outcome, _remote, _cb) = connect_client(&camera.clone().into(), &o).await;
    let e = outcome.expect_err("must fail to join");
    // Loaded (not IVS_LOAD_FAILED): the failure is the stage's.
    assert_eq!(detail(&e), "IVS_STAGE_ERROR", "{}", why(&e));
    for t in camera.get_tracks().iter() {
        call(&t, "stop", &[]);
    }
}
