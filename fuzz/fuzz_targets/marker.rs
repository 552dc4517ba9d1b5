//! The pixel marker (`core::marker`).
//!
//! Invariants: reading never panics, whatever the bytes and the claimed dimensions (up to
//! `usize::MAX`); stamping a frame large enough writes only the 24 × 4 strip at the
//! bottom-left, and reading it gives the sequence number back, even with any one strip row
//! damaged arbitrarily; stamping a frame too small fails and leaves it untouched.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::marker::{
    read, read_strip, stamp, stamp_strip, MarkerRead, MARKER_HEIGHT, MARKER_WIDTH, STRIP_LEN,
};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Claimed dimensions for the raw read (anything, overflow included).
    raw_width: usize,
    raw_height: usize,
    /// Dimensions of a real frame, kept small.
    width: u8,
    height: u8,
    seq: u16,
    damaged_row: u8,
    damage: Vec<u8>,
    pixels: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let _ = read(&input.pixels, input.raw_width, input.raw_height);
    let _ = read_strip(&input.pixels);
    let _ = read(&input.pixels, input.raw_width % 64, input.raw_height % 64);

    // Up to 79 × 11: every case (too narrow, too short, just fits, larger) stays cheap.
    let (w, h) = (
        usize::from(input.width % 80),
        usize::from(input.height % 12),
    );
    let mut frame: Vec<u8> = input
        .pixels
        .iter()
        .copied()
        .cycle()
        .take(w * h * 4)
        .collect();
    frame.resize(w * h * 4, 0);
    let before = frame.clone();
    match stamp(&mut frame, w, h, input.seq) {
        Ok(()) => {
            assert!(w >= MARKER_WIDTH && h >= MARKER_HEIGHT);
            assert_eq!(read(&frame, w, h), MarkerRead::Seq(input.seq));
            for (i, (a, b)) in frame.iter().zip(&before).enumerate() {
                let (x, y) = ((i / 4) % w, (i / 4) / w);
                if x >= MARKER_WIDTH || y < h - MARKER_HEIGHT {
                    assert_eq!(a, b, "byte {i} outside the strip changed");
                }
            }
            // One damaged row out of four does not lose the probe.
            let row = h - MARKER_HEIGHT + usize::from(input.damaged_row) % MARKER_HEIGHT;
            let start = row * w * 4;
            for (b, d) in frame[start..start + MARKER_WIDTH * 4]
                .iter_mut()
                .zip(&input.damage)
            {
                *b = *d;
            }
            assert_eq!(read(&frame, w, h), MarkerRead::Seq(input.seq));
        }
        Err(_) => {
            assert!(w < MARKER_WIDTH || h < MARKER_HEIGHT);
            assert_eq!(frame, before);
        }
    }

    let mut strip = vec![0u8; STRIP_LEN];
    assert!(stamp_strip(&mut strip, input.seq).is_ok());
    assert_eq!(read_strip(&strip), MarkerRead::Seq(input.seq));
    let mut short = input.pixels.clone();
    short.truncate(STRIP_LEN - 1);
    let kept = short.clone();
    assert!(stamp_strip(&mut short, input.seq).is_err());
    assert_eq!(short, kept);
    assert_eq!(read_strip(&short), MarkerRead::NoMarker);
});
