//! Pixel markers on canvas `ImageData` (exported for pages and tests): `stampMarker` writes
//! one into the bottom-left strip in place, `readMarker` reads it. Only the strip's 24 × 4
//! pixels cross into the wasm, never the whole frame.

use crate::core::error::{ErrorCode, SdkError};
use crate::core::marker::{self, MarkerRead, MARKER_HEIGHT, MARKER_WIDTH, STRIP_LEN};
use crate::web::error::to_js;
use js_sys::Uint8ClampedArray;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// An `ImageData` (or anything with `width`, `height` and an RGBA `data` array).
    type Image;
    #[wasm_bindgen(method, getter)]
    fn width(this: &Image) -> u32;
    #[wasm_bindgen(method, getter)]
    fn height(this: &Image) -> u32;
    #[wasm_bindgen(method, getter)]
    fn data(this: &Image) -> JsValue;
}

/// `readMarker` when the frame has no marker.
pub const NO_MARKER: i32 = -1;
/// `readMarker` when the marker's checksum does not match.
pub const CORRUPTED: i32 = -2;

/// The image's RGBA array, when it has one.
fn rgba(image: &JsValue) -> Option<(&Image, Uint8ClampedArray)> {
    if !image.is_object() {
        return None;
    }
    let image: &Image = image.unchecked_ref();
    Some((image, image.data().dyn_into().ok()?))
}

/// Byte ranges (`start`, `end`) of the strip's rows in an RGBA image, bottom-left; `None` when
/// the image is smaller than the strip or its data shorter than it says.
fn strip_rows(w: usize, h: usize, len: usize) -> Option<impl Iterator<Item = (u32, u32)>> {
    if w < MARKER_WIDTH || h < MARKER_HEIGHT || len < w.checked_mul(h)?.checked_mul(4)? {
        return None;
    }
    Some((h - MARKER_HEIGHT..h).map(move |y| {
        let start = y * w * 4;
        (start as u32, (start + MARKER_WIDTH * 4) as u32)
    }))
}

/// `readMarker(imageData)`: the sequence number, or `-1` (no marker) or `-2` (corrupted).
#[wasm_bindgen(js_name = readMarker, skip_typescript)]
pub fn read_marker(image: &JsValue) -> i32 {
    let Some((image, data)) = rgba(image) else {
        return NO_MARKER;
    };
    let Some(rows) = strip_rows(
        image.width() as usize,
        image.height() as usize,
        data.length() as usize,
    ) else {
        return NO_MARKER;
    };
    let mut strip = [0u8; STRIP_LEN];
    for (chunk, (start, end)) in strip.chunks_exact_mut(MARKER_WIDTH * 4).zip(rows) {
        data.subarray(start, end).copy_to(chunk);
    }
    match marker::read_strip(&strip) {
        MarkerRead::Seq(n) => i32::from(n),
        MarkerRead::NoMarker => NO_MARKER,
        MarkerRead::Corrupted => CORRUPTED,
    }
}

/// `stampMarker(imageData, seq)`: writes the marker of `seq` into the bottom-left strip.
#[wasm_bindgen(js_name = stampMarker, skip_typescript)]
pub fn stamp_marker(image: &JsValue, seq: u32) -> Result<(), JsValue> {
    let bad = |what: &str| {
        to_js(
            &SdkError::invalid_option(
                what,
                "an ImageData of at least 24 × 4 pixels and a sequence number from 0 to 65535",
            ),
            "",
        )
    };
    let seq = u16::try_from(seq).map_err(|_| bad("seq"))?;
    let (image, data) = rgba(image).ok_or_else(|| bad("imageData"))?;
    let rows = strip_rows(
        image.width() as usize,
        image.height() as usize,
        data.length() as usize,
    )
    .ok_or_else(|| bad("imageData"))?;
    let mut strip = [0u8; STRIP_LEN];
    marker::stamp_strip(&mut strip, seq).map_err(|_| {
        to_js(
            &SdkError::new(ErrorCode::Internal, "the strip has the wrong size"),
            "",
        )
    })?;
    for (chunk, (start, end)) in strip.chunks_exact(MARKER_WIDTH * 4).zip(rows) {
        data.subarray(start, end).copy_from(chunk);
    }
    Ok(())
}
