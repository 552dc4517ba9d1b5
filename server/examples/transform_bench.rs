//! What transform mode costs the server per frame: decode, effect and encode times (median
//! and p90) at 640×480 and at a model's size (1280×704), the CPU one session at 20 fps
//! takes, and how many such 640×480 sessions one core holds.
//!
//! ```text
//! cargo run --profile server -p realtime-reference-server --example transform_bench [FRAMES]
//! ```
//!
//! The input is the server's moving test card encoded as a browser would send it (libvpx,
//! realtime, at the bitrate the server itself targets); the effects are those of the
//! prompt "warm mirror posterize" (and each effect alone at 640×480). CPU time is the
//! thread's own (`/proc/thread-self/schedstat`), so other load on the machine does not
//! count; the per-stage times are wall-clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: a failure stops it with the reason
use realtime_reference_server::codec::{Encoder, EncoderConfig, I420Frame};
use realtime_reference_server::effects::{self, Effect, Look};
use realtime_reference_server::transform::{restyle, Decoded, Pipeline};
use std::time::{Duration, Instant};

/// CPU time this thread has used.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and 90th percentile, ms.
fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| ms(*d))
    };
    (at(0.5), at(0.9))
}

/// The test card encoded as a client would send it.
fn client_stream(w: usize, h: usize, frames: usize) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(EncoderConfig::for_size(w, h)).expect("encoder");
    (0..frames)
        .map(|t| {
            let pic = I420Frame::test_card(w, h, t);
            let out = enc.encode(&pic, t as i64 * 4500, false).expect("encode");
            out.into_iter().next().map(|f| f.data).unwrap_or_default()
        })
        .collect()
}

struct Figures {
    decode: (f64, f64),
    effect: (f64, f64),
    encode: (f64, f64),
    cpu_per_frame_ms: Option<f64>,
}

/// Runs the server's pipeline over a client stream, timing each stage.
fn measure(w: usize, h: usize, frames: usize, look: &Look) -> Figures {
    let stream = client_stream(w, h, frames);
    let mut pipeline = Pipeline::new().expect("pipeline");
    let (mut dec, mut eff, mut enc) = (Vec::new(), Vec::new(), Vec::new());
    let cpu_start = thread_cpu();
    for (t, data) in stream.iter().enumerate() {
        let t0 = Instant::now();
        let Decoded::Picture(mut pic) = pipeline.decode(data, true) else {
            continue;
        };
        let t1 = Instant::now();
        restyle(&mut pic, look, None);
        let t2 = Instant::now();
        pipeline
            .encode(&pic, t as i64 * 4500, false)
            .expect("encode");
        let t3 = Instant::now();
        dec.push(t1 - t0);
        eff.push(t2 - t1);
        enc.push(t3 - t2);
    }
    let n = dec.len().max(1) as f64;
    let cpu_per_frame_ms = cpu_start
        .zip(thread_cpu())
        .map(|(a, b)| ms(b.saturating_sub(a)) / n);
    Figures {
        decode: stats(dec),
        effect: stats(eff),
        encode: stats(enc),
        cpu_per_frame_ms,
    }
}

fn main() {
    let frames: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let prompt = "warm mirror posterize";
    let look = Look::new(Some(prompt), None);
    println!("transform_bench: {frames} frames per size, prompt {prompt:?}, libvpx VP8 realtime");
    println!(
        "{:>10}  {:>17}  {:>17}  {:>17}  {:>13}  {:>12}",
        "size",
        "decode ms med/p90",
        "effect ms med/p90",
        "encode ms med/p90",
        "cpu ms/frame",
        "kbit/s target"
    );
    let mut at_640 = None;
    for (w, h) in [(640, 480), (1280, 704)] {
        let f = measure(w, h, frames, &look);
        let cpu = f.cpu_per_frame_ms;
        println!(
            "{:>10}  {:>8.2} / {:>6.2}  {:>8.2} / {:>6.2}  {:>8.2} / {:>6.2}  {:>13}  {:>12}",
            format!("{w}x{h}"),
            f.decode.0,
            f.decode.1,
            f.effect.0,
            f.effect.1,
            f.encode.0,
            f.encode.1,
            cpu.map_or("n/a".into(), |c| format!("{c:.2}")),
            EncoderConfig::for_size(w, h).bitrate_kbps
        );
        if w == 640 {
            at_640 = cpu;
        }
    }
    println!("each effect alone at 640x480 (median ms):");
    let card = I420Frame::test_card(640, 480, 7);
    for effect in [
        Effect::Mirror,
        Effect::Sketch,
        Effect::Posterize,
        Effect::Grayscale,
        Effect::Warm,
        Effect::Cool,
        Effect::Invert,
    ] {
        let times: Vec<Duration> = (0..50)
            .map(|_| {
                let mut f = card.clone();
                let t = Instant::now();
                effects::apply(effect, &mut f);
                t.elapsed()
            })
            .collect();
        println!("  {effect:?}: {:.3}", stats(times).0);
    }
    match at_640 {
        Some(cpu) => {
            let per_session = cpu * 20.0 / 1000.0;
            println!(
                "one 640x480 session at 20 fps: {cpu:.2} ms CPU per frame = {:.1} % of a core; one core holds about {} such sessions",
                per_session * 100.0,
                (1.0 / per_session).floor()
            );
        }
        None => {
            println!("CPU time per thread is not available here (no /proc/thread-self/schedstat)")
        }
    }
}
