//! Pixel markers on canvas `ImageData` (exported for pages and tests): `stampMarker` writes
//! one into the bottom-left strip in place; `readMarker` (the package's `marker.js`, once per
//! video frame) copies the strip's 96 red values out of the frame and has them decoded
//! here. Only the strip crosses into the wasm, never the whole frame.

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

/// Words of `readMarker`'s buffer: four red values each, the first in the low byte.
const RED_WORDS: usize = marker::RED_LEN / 4;

thread_local! {
    /// The strip's red values as `readMarker` copies them in: a buffer of its own, never
    /// freed, that the page writes through [`marker_red_buffer`]'s view of the wasm memory
    /// (words, so the page writes four values at a time).
    static RED: *mut [u32; RED_WORDS] = Box::into_raw(Box::new([0; RED_WORDS]));
}

/// A view of the wasm memory over `readMarker`'s buffer: 24 red values per row, 4 rows, top
/// row first, four to a little-endian word. It goes empty when the memory grows; ask again
/// then.
#[wasm_bindgen(js_name = __markerRedBuffer, skip_typescript)]
pub fn marker_red_buffer() -> js_sys::Uint32Array {
    // SAFETY: the buffer lives for the whole program (leaked above); Rust only reads it
    // during `read_marker_red`, while no JS runs.
    RED.with(|red| unsafe { js_sys::Uint32Array::view_mut_raw(red.cast::<u32>(), RED_WORDS) })
}

/// `readMarker(imageData)`'s decoder, over what the page wrote into the buffer: the sequence
/// number, or `-1` (no marker) or `-2` (corrupted).
#[wasm_bindgen(js_name = __readMarkerRed, skip_typescript)]
pub fn read_marker_red() -> i32 {
    // SAFETY: a valid pointer to an initialised array (see `RED`) that nothing else
    // references; the page writes it only between calls, and no JS runs during this one.
    // Wasm is little-endian: the bytes of the words are the red values in order.
    let read = RED.with(|red| marker::read_red(unsafe { &*red.cast::<[u8; marker::RED_LEN]>() }));
    match read {
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
