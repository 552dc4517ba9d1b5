//! Real VP8 video for the transform tests: a camera that encodes the server's test card
//! (optionally marked with the frame number) and helpers to decode and compare what came
//! back.

use realtime_reference_server::codec::{Decoder, Encoder, EncoderConfig, I420Frame};
use realtime_reference_server::transform::{read_marker, stamp_marker};
use realtime_video_sdk::core::marker::{MarkerRead, MARKER_HEIGHT};
use std::time::Instant;

/// The camera's frame size.
pub const W: usize = 320;
/// The camera's frame size.
pub const H: usize = 240;

/// What the camera sees for frame `n` (before any marker).
pub fn picture(n: u32) -> I420Frame {
    I420Frame::test_card(W, H, n as usize)
}

/// Encodes the test card with libvpx, as a browser would send it.
pub struct Camera {
    enc: Encoder,
    marked: bool,
    /// When each frame was sent, by frame number.
    pub sent: Vec<Instant>,
}

impl Camera {
    /// A camera; `marked` stamps frame `n`'s number as a pixel marker (E2E probes).
    pub fn new(marked: bool) -> Camera {
        Camera {
            enc: Encoder::new(EncoderConfig::for_size(W, H)).unwrap(),
            marked,
            sent: Vec::new(),
        }
    }

    /// Frame `n`, a keyframe when asked.
    pub fn frame(&mut self, n: u32, keyframe: bool) -> Vec<u8> {
        let mut p = picture(n);
        if self.marked {
            stamp_marker(&mut p, n as u16);
        }
        let out = self.enc.encode(&p, i64::from(n) * 3600, keyframe).unwrap();
        self.sent.push(Instant::now());
        out.into_iter().next().unwrap().data
    }
}

/// A received frame, decoded.
pub struct Shown {
    pub at: Instant,
    pub picture: I420Frame,
    pub marker: MarkerRead,
}

/// Decodes received frames in order; returns the pictures and how many frames failed.
pub fn decode_all(frames: &[(Instant, Vec<u8>)]) -> (Vec<Shown>, usize) {
    let mut dec = Decoder::new().unwrap();
    let mut shown = Vec::new();
    let mut failed = 0;
    for (at, data) in frames {
        match dec.decode(data) {
            Ok(Some(picture)) => shown.push(Shown {
                at: *at,
                marker: read_marker(&picture),
                picture,
            }),
            Ok(None) => {}
            Err(_) => failed += 1,
        }
    }
    (shown, failed)
}

/// The luma above the marker strip's rows.
pub fn luma(f: &I420Frame) -> &[u8] {
    &f.planes().0[..f.width() * (f.height() - MARKER_HEIGHT)]
}

/// Mean absolute difference of two sample slices.
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len().max(1) as f64
}

/// Mean absolute distance of the chroma from neutral gray (0 for a gray picture).
pub fn chroma_spread(f: &I420Frame) -> f64 {
    let (_, u, v) = f.planes();
    let gray = vec![128u8; u.len()];
    (mean_abs_diff(u, &gray) + mean_abs_diff(v, &gray)) / 2.0
}

/// Mean V − U of a picture: positive toward red.
pub fn redness(f: &I420Frame) -> f64 {
    let (_, u, v) = f.planes();
    let sum: i64 = u
        .iter()
        .zip(v)
        .map(|(u, v)| i64::from(*v) - i64::from(*u))
        .sum();
    sum as f64 / u.len().max(1) as f64
}

/// The median of some values (0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
