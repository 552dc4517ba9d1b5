//! Pixel markers through a real canvas in headless Chromium.
#![cfg(target_arch = "wasm32")]

use realtime_video_sdk::web_api::{read_marker, stamp_marker};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

wasm_bindgen_test_configure!(run_in_browser);

fn canvas(w: u32, h: u32) -> (HtmlCanvasElement, CanvasRenderingContext2d) {
    let doc = web_sys::window().unwrap().document().unwrap();
    let c: HtmlCanvasElement = doc.create_element("canvas").unwrap().dyn_into().unwrap();
    c.set_width(w);
    c.set_height(h);
    let ctx: CanvasRenderingContext2d = c.get_context("2d").unwrap().unwrap().dyn_into().unwrap();
    (c, ctx)
}

/// `readMarker`'s answer: the sequence number, `-1` for none, `-2` for corrupted.
fn kind(v: i32) -> (String, Option<f64>) {
    match v {
        -1 => ("none".into(), None),
        -2 => ("corrupted".into(), None),
        n => ("seq".into(), Some(f64::from(n))),
    }
}

#[wasm_bindgen_test]
fn stamp_and_read_through_a_canvas() {
    let (_c, ctx) = canvas(320, 180);
    // A busy background: a gradient, so the marker must survive real pixels around it.
    let g = ctx.create_linear_gradient(0.0, 0.0, 320.0, 180.0);
    g.add_color_stop(0.0, "#123456").unwrap();
    g.add_color_stop(1.0, "#fedcba").unwrap();
    ctx.set_fill_style_canvas_gradient(&g);
    ctx.fill_rect(0.0, 0.0, 320.0, 180.0);

    for seq in [0u16, 1, 0x1234, 0x8000, 0xffff] {
        let img = ctx.get_image_data(0.0, 0.0, 320.0, 180.0).unwrap();
        stamp_marker(&img, u32::from(seq)).unwrap();
        ctx.put_image_data(&img, 0.0, 0.0).unwrap();
        // Read back from the canvas, not from the stamped buffer.
        let back = ctx.get_image_data(0.0, 0.0, 320.0, 180.0).unwrap();
        assert_eq!(
            kind(read_marker(&back)),
            ("seq".to_string(), Some(f64::from(seq)))
        );
        // Reading only the 24x4 strip at the bottom-left gives the same answer.
        let strip = ctx.get_image_data(0.0, 176.0, 24.0, 4.0).unwrap();
        assert_eq!(
            kind(read_marker(&strip)),
            ("seq".to_string(), Some(f64::from(seq)))
        );
    }
}

#[wasm_bindgen_test]
fn unmarked_and_damaged_frames() {
    let (_c, ctx) = canvas(64, 32);
    ctx.set_fill_style_str("#808080");
    ctx.fill_rect(0.0, 0.0, 64.0, 32.0);
    let img = ctx.get_image_data(0.0, 0.0, 64.0, 32.0).unwrap();
    assert_eq!(kind(read_marker(&img)).0, "none");

    stamp_marker(&img, 0x00f0).unwrap();
    ctx.put_image_data(&img, 0.0, 0.0).unwrap();
    // Flip the last checksum pixel in every row: sync still matches, checksum does not.
    ctx.set_fill_style_str(if 0x00f0u16.count_ones() % 2 == 0 {
        "#c8c8c8"
    } else {
        "#323232"
    });
    let (x, y) = (23.0, 28.0);
    let before = ctx.get_image_data(x, y, 1.0, 1.0).unwrap().data()[0];
    ctx.set_fill_style_str(if before > 128 { "#323232" } else { "#c8c8c8" });
    ctx.fill_rect(x, y, 1.0, 4.0);
    let back = ctx.get_image_data(0.0, 0.0, 64.0, 32.0).unwrap();
    assert_eq!(kind(read_marker(&back)).0, "corrupted");

    // Too small for a marker: an error, not a panic.
    let tiny = ctx.get_image_data(0.0, 0.0, 10.0, 2.0).unwrap();
    assert!(stamp_marker(&tiny, 1).is_err());
    assert_eq!(kind(read_marker(&tiny)).0, "none");
    // Not an image, or a sequence number out of range: answers, not panics.
    assert_eq!(read_marker(&wasm_bindgen::JsValue::from_str("frame")), -1);
    assert_eq!(read_marker(&js_sys::Object::new()), -1);
    let img = ctx.get_image_data(0.0, 0.0, 64.0, 32.0).unwrap();
    assert!(stamp_marker(&img, 70_000).is_err());
}
