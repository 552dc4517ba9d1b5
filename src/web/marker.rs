//! Pixel markers on canvas `ImageData` (exported for pages and tests).

use crate::core::error::{ErrorCode, SdkError};
use crate::core::marker::{self, MarkerRead};
use crate::web::error::js_result;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::ImageData;

/// Stamps sequence number `seq` into the bottom-left 24×4 pixels of `image` (in place).
#[wasm_bindgen(js_name = stampMarker)]
pub fn stamp_marker(image: &ImageData, seq: u16) -> Result<(), JsValue> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let data = image.data();
    let mut bytes = data.to_vec();
    js_result(
        marker::stamp(&mut bytes, w, h, seq)
            .map_err(|e| SdkError::new(ErrorCode::InvalidOptions, e.to_string())),
    )?;
    // ImageData.data is a live Uint8ClampedArray view: copy the stamped bytes back.
    let view: js_sys::Uint8ClampedArray =
        js_sys::Reflect::get(image, &"data".into())?.unchecked_into();
    view.copy_from(&bytes);
    Ok(())
}

/// Reads the marker of `image`: `{kind: "seq", seq}`, `{kind: "none"}` or `{kind: "corrupted"}`.
#[wasm_bindgen(js_name = readMarker, unchecked_return_type = "MarkerRead")]
pub fn read_marker(image: &ImageData) -> JsValue {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let read = marker::read(&image.data(), w, h);
    read_to_js(read)
}

pub(crate) fn read_to_js(read: MarkerRead) -> JsValue {
    let o = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = js_sys::Reflect::set(&o, &k.into(), &v);
    };
    match read {
        MarkerRead::Seq(n) => {
            set("kind", "seq".into());
            set("seq", n.into());
        }
        MarkerRead::NoMarker => set("kind", "none".into()),
        MarkerRead::Corrupted => set("kind", "corrupted".into()),
    }
    o.into()
}
