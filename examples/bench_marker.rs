//! Prints the cost of the pixel-marker codec per call, in nanoseconds:
//! `cargo run --release --example bench_marker`.
//!
//! A figure printer, not a test: it stamps and reads a 1280×720 RGBA frame and a 24×4
//! strip a few hundred thousand times each and divides the wall time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: a failure stops it with the reason
use std::hint::black_box;
use std::time::Instant;

use realtime_video_sdk::core::marker::{
    read, read_strip, stamp, stamp_strip, MarkerRead, STRIP_LEN,
};

const ITERATIONS: u32 = 500_000;

/// Runs `f` `ITERATIONS` times (after a short warm-up) and returns ns per call.
fn time_ns(mut f: impl FnMut(u32)) -> f64 {
    for i in 0..ITERATIONS / 10 {
        f(i);
    }
    let start = Instant::now();
    for i in 0..ITERATIONS {
        f(i);
    }
    start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS)
}

fn main() {
    let (w, h) = (1280usize, 720usize);
    let mut frame: Vec<u8> = (0..w * h * 4).map(|i| (i % 251) as u8).collect();
    let mut strip = vec![0u8; STRIP_LEN];

    let stamp_frame = time_ns(|i| {
        let r = stamp(black_box(&mut frame), black_box(w), black_box(h), i as u16);
        black_box(r).ok();
    });
    let mut hits = 0u32;
    let read_frame = time_ns(|_| {
        if let MarkerRead::Seq(_) = read(black_box(&frame), black_box(w), black_box(h)) {
            hits += 1;
        }
    });
    let stamp_s = time_ns(|i| {
        let r = stamp_strip(black_box(&mut strip), i as u16);
        black_box(r).ok();
    });
    let read_s = time_ns(|_| {
        if let MarkerRead::Seq(_) = read_strip(black_box(&strip)) {
            hits += 1;
        }
    });
    assert_eq!(
        hits,
        2 * (ITERATIONS + ITERATIONS / 10),
        "every read must find the marker"
    );

    println!("pixel marker codec, {ITERATIONS} iterations each");
    println!("  stamp  {w}x{h} frame: {stamp_frame:8.1} ns");
    println!("  read   {w}x{h} frame: {read_frame:8.1} ns");
    println!("  stamp  24x4 strip:     {stamp_s:8.1} ns");
    println!("  read   24x4 strip:     {read_s:8.1} ns");
}
