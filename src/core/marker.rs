//! The pixel marker: a 24 × 4 strip of gray pixels that carries a 16-bit probe sequence
//! number through the video pipeline (`shared/PROTOCOL.md`, "Pixel marker").
//!
//! Frames are raw RGBA buffers as `ImageData.data` holds them: row-major, 4 bytes per
//! pixel, `width * 4` bytes per row, no padding. The strip sits at x `0..24` of the last
//! [`MARKER_HEIGHT`] rows (bottom-left). Every row of the strip holds the same 24 bits:
//!
//! | pixels | content |
//! | --- | --- |
//! | 0..4 | sync pattern 1,0,1,0 |
//! | 4..20 | sequence number, most significant bit first |
//! | 20..24 | [`checksum`] of the sequence number, most significant bit first |
//!
//! A 1 bit is gray [`BIT_ONE`], a 0 bit gray [`BIT_ZERO`], alpha 255. Reading thresholds
//! the red channel at [`THRESHOLD`] and takes a strict majority vote over the rows whose
//! sync pattern survived, so one damaged row out of four does not lose the probe.
//!
//! The functions here run once per video frame: they never allocate and never panic,
//! whatever the buffer and dimensions.

use crate::core::error::{int, join};
use std::fmt;

/// Width of the marker strip, pixels.
pub const MARKER_WIDTH: usize = 24;
/// Height of the marker strip, rows.
pub const MARKER_HEIGHT: usize = 4;
/// Gray value of a 1 bit.
pub const BIT_ONE: u8 = 200;
/// Gray value of a 0 bit.
pub const BIT_ZERO: u8 = 50;
/// A red value at or above this reads as 1, below it as 0.
pub const THRESHOLD: u8 = 128;
/// Bytes of a strip buffer on its own (24 × 4 pixels × 4 bytes), as
/// `getImageData(0, height - 4, 24, 4)` returns it.
pub const STRIP_LEN: usize = MARKER_WIDTH * MARKER_HEIGHT * BYTES_PER_PIXEL;

/// RGBA.
const BYTES_PER_PIXEL: usize = 4;
/// The sync pattern 1,0,1,0 as the top 4 bits of a 24-bit row word.
const SYNC: u32 = 0b1010;
/// Bits after the sync pattern: 16 sequence bits and 4 checksum bits.
const PAYLOAD_BITS: usize = 20;

/// What a frame (or strip) says about its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerRead {
    /// A marker with a valid checksum carrying this sequence number.
    Seq(u16),
    /// No row of the strip shows the sync pattern (or the frame cannot hold a strip).
    NoMarker,
    /// Sync found, but a bit is tied between the rows or the checksum does not match.
    Corrupted,
}

/// Why a marker could not be stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerError {
    /// The frame is narrower than [`MARKER_WIDTH`] or shorter than [`MARKER_HEIGHT`].
    FrameTooSmall {
        /// Frame width, pixels.
        width: usize,
        /// Frame height, pixels.
        height: usize,
    },
    /// The buffer holds fewer than `width * height * 4` bytes.
    BufferTooShort {
        /// Bytes in the buffer.
        len: usize,
        /// Bytes the dimensions call for.
        needed: usize,
    },
    /// `width * height * 4` does not fit in `usize`.
    SizeOverflow {
        /// Frame width, pixels.
        width: usize,
        /// Frame height, pixels.
        height: usize,
    },
    /// A plane's row stride is smaller than its width (planar YUV frames).
    StrideTooSmall {
        /// Bytes per row given.
        stride: usize,
        /// Pixels per row of the plane.
        width: usize,
    },
}

impl MarkerError {
    /// What went wrong, as text (built without `format!`, which would pull the formatting
    /// machinery into the browser build).
    pub fn message(&self) -> String {
        let n = |v: usize| int(v as u64);
        match self {
            MarkerError::FrameTooSmall { width, height } => join(&[
                "frame ",
                &n(*width),
                "x",
                &n(*height),
                " is smaller than the ",
                &n(MARKER_WIDTH),
                "x",
                &n(MARKER_HEIGHT),
                " marker",
            ]),
            MarkerError::BufferTooShort { len, needed } => join(&[
                "RGBA buffer has ",
                &n(*len),
                " bytes, the frame needs ",
                &n(*needed),
            ]),
            MarkerError::SizeOverflow { width, height } => join(&[
                "frame ",
                &n(*width),
                "x",
                &n(*height),
                " is too large to address",
            ]),
            MarkerError::StrideTooSmall { stride, width } => join(&[
                "plane stride ",
                &n(*stride),
                " is smaller than its width ",
                &n(*width),
            ]),
        }
    }
}

impl fmt::Display for MarkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for MarkerError {}

/// The 4-bit checksum of a sequence number: the XOR of its four nibbles.
pub fn checksum(seq: u16) -> u8 {
    let folded = (seq >> 12) ^ (seq >> 8) ^ (seq >> 4) ^ seq;
    // Masked to 4 bits, so the cast cannot truncate.
    (folded & 0x0F) as u8
}

/// The 24 bits of one strip row, pixel 0 in bit 23.
fn row_word(seq: u16) -> u32 {
    (SYNC << PAYLOAD_BITS) | (u32::from(seq) << 4) | u32::from(checksum(seq))
}

/// Where the strip lives in a frame: the byte range of the last [`MARKER_HEIGHT`] rows
/// and the row stride.
struct Geometry {
    start: usize,
    end: usize,
    stride: usize,
}

fn geometry(len: usize, width: usize, height: usize) -> Result<Geometry, MarkerError> {
    if width < MARKER_WIDTH || height < MARKER_HEIGHT {
        return Err(MarkerError::FrameTooSmall { width, height });
    }
    let overflow = MarkerError::SizeOverflow { width, height };
    let stride = width.checked_mul(BYTES_PER_PIXEL).ok_or(overflow)?;
    let needed = stride.checked_mul(height).ok_or(overflow)?;
    if len < needed {
        return Err(MarkerError::BufferTooShort { len, needed });
    }
    // height >= MARKER_HEIGHT and stride * height did not overflow, so neither can this.
    let start = stride * (height - MARKER_HEIGHT);
    Ok(Geometry {
        start,
        end: needed,
        stride,
    })
}

/// Writes the strip pixels of one row; `row` starts at x = 0 and holds at least
/// `MARKER_WIDTH * 4` bytes (shorter rows are written as far as they go).
fn stamp_row(row: &mut [u8], word: u32) {
    let mut mask = 1u32 << (MARKER_WIDTH - 1);
    for px in row.chunks_exact_mut(BYTES_PER_PIXEL).take(MARKER_WIDTH) {
        let v = if word & mask != 0 { BIT_ONE } else { BIT_ZERO };
        if let [r, g, b, a] = px {
            *r = v;
            *g = v;
            *b = v;
            *a = 255;
        }
        mask >>= 1;
    }
}

/// Stamps `seq` into the bottom-left 24 × 4 pixels of an RGBA frame, leaving every other
/// pixel untouched.
///
/// Fails (without touching the buffer) when the frame is smaller than the strip or the
/// buffer holds fewer than `width * height * 4` bytes. Bytes beyond that are ignored.
pub fn stamp(rgba: &mut [u8], width: usize, height: usize, seq: u16) -> Result<(), MarkerError> {
    let g = geometry(rgba.len(), width, height)?;
    let word = row_word(seq);
    // `geometry` checked end <= len and start <= end, so the range exists; `get_mut`
    // keeps the path panic-free regardless.
    if let Some(region) = rgba.get_mut(g.start..g.end) {
        for row in region.chunks_exact_mut(g.stride) {
            stamp_row(row, word);
        }
    }
    Ok(())
}

/// Stamps `seq` into a strip buffer on its own (24 × 4 RGBA pixels, [`STRIP_LEN`] bytes),
/// for a page that draws only the strip, e.g. `putImageData` of a 24 × 4 `ImageData` at
/// the bottom-left of the canvas.
pub fn stamp_strip(strip: &mut [u8], seq: u16) -> Result<(), MarkerError> {
    stamp(strip, MARKER_WIDTH, MARKER_HEIGHT, seq)
}

/// The 24 thresholded bits of one row of `STEP`-byte pixels (4 for RGBA, 1 for red values
/// on their own), red first, pixel 0 in bit 23; `None` if the row is shorter than the strip.
fn read_row<const STEP: usize>(row: &[u8]) -> Option<u32> {
    let row = row.get(..MARKER_WIDTH * STEP)?;
    let mut word = 0u32;
    for px in row.chunks_exact(STEP) {
        let bit = match px {
            [r, ..] => u32::from(*r >= THRESHOLD),
            [] => 0,
        };
        word = (word << 1) | bit;
    }
    Some(word)
}

/// Majority vote over the rows (of `STEP`-byte pixels) whose sync pattern matches.
/// Counts bit-parallel: `at_least[k]` has the bits set in at least `k` of the counting rows
/// (at most [`MARKER_HEIGHT`] rows are read), so the vote is a few word operations.
fn decode<'a, const STEP: usize>(rows: impl Iterator<Item = &'a [u8]>) -> MarkerRead {
    let mut n = 0;
    let mut at_least = [0u32; MARKER_HEIGHT + 1];
    for word in rows.take(MARKER_HEIGHT).filter_map(read_row::<STEP>) {
        if word >> PAYLOAD_BITS != SYNC {
            continue;
        }
        n += 1;
        // From the top down, so each row counts once.
        for k in (1..=n).rev() {
            let below = if k == 1 { u32::MAX } else { at_least[k - 1] };
            at_least[k] |= below & word;
        }
    }
    if n == 0 {
        return MarkerRead::NoMarker;
    }
    // A 1 needs more than half of the rows (at least n/2 + 1), a 0 fewer than half (not
    // even n - n/2); an even split (possible with 2 or 4 rows) is a tie.
    let one = at_least[n / 2 + 1];
    let tie = at_least[n - n / 2] & !one;
    let payload_mask = (1u32 << PAYLOAD_BITS) - 1;
    if tie & payload_mask != 0 {
        return MarkerRead::Corrupted;
    }
    let payload = one & payload_mask;
    // payload holds 20 bits: the sequence number above the 4 checksum bits.
    let seq = (payload >> 4) as u16;
    let sum = (payload & 0x0F) as u8;
    if sum == checksum(seq) {
        MarkerRead::Seq(seq)
    } else {
        MarkerRead::Corrupted
    }
}

/// Reads the marker at the bottom-left of an RGBA frame.
///
/// A frame smaller than the strip, impossible dimensions or a buffer shorter than
/// `width * height * 4` bytes read as [`MarkerRead::NoMarker`].
pub fn read(rgba: &[u8], width: usize, height: usize) -> MarkerRead {
    let Ok(g) = geometry(rgba.len(), width, height) else {
        return MarkerRead::NoMarker;
    };
    match rgba.get(g.start..g.end) {
        Some(region) => decode::<BYTES_PER_PIXEL>(region.chunks_exact(g.stride)),
        None => MarkerRead::NoMarker,
    }
}

/// Bytes of the strip's red values on their own ([`read_red`]).
pub const RED_LEN: usize = MARKER_WIDTH * MARKER_HEIGHT;

/// Reads the marker from the strip's red values alone: [`RED_LEN`] bytes, 24 per row, top
/// row first (what a page copies out of an `ImageData` without copying the frame). Any
/// other length reads as [`MarkerRead::NoMarker`].
pub fn read_red(red: &[u8]) -> MarkerRead {
    if red.len() != RED_LEN {
        return MarkerRead::NoMarker;
    }
    decode::<1>(red.chunks_exact(MARKER_WIDTH))
}

/// Reads a strip buffer on its own (24 × 4 RGBA pixels, [`STRIP_LEN`] bytes), as
/// `getImageData(0, height - 4, 24, 4)` returns it. A shorter buffer reads as
/// [`MarkerRead::NoMarker`].
pub fn read_strip(strip: &[u8]) -> MarkerRead {
    read(strip, MARKER_WIDTH, MARKER_HEIGHT)
}

/// The gray values of the strip for `seq`, row by row (every row is the same), for frames
/// that are not RGBA: the luma plane of a YUV frame takes [`gray_to_luma`] of each.
pub fn strip_gray(seq: u16) -> [u8; MARKER_WIDTH] {
    let word = row_word(seq);
    let mut row = [0u8; MARKER_WIDTH];
    let mut mask = 1u32 << (MARKER_WIDTH - 1);
    for v in row.iter_mut() {
        *v = if word & mask != 0 { BIT_ONE } else { BIT_ZERO };
        mask >>= 1;
    }
    row
}

/// The luma (Y) value that shows as gray `v` once converted back to RGB: `v` itself for
/// full-range video, `16 + v * 219 / 255` (rounded) for limited ("TV") range. With neutral
/// chroma (128) every YUV matrix gives R = G = B.
pub fn gray_to_luma(v: u8, full_range: bool) -> u8 {
    if full_range {
        v
    } else {
        // At most 16 + 219 = 235: fits in u8.
        (16 + (u32::from(v) * 219 + 127) / 255) as u8
    }
}

/// Chroma value of gray (no color) in YUV.
pub const NEUTRAL_CHROMA: u8 = 128;

/// The bytes a plane of `rows` rows of `width` pixels at `stride` bytes per row must hold
/// (the last row needs only `width` bytes).
fn plane_len(stride: usize, width: usize, rows: usize) -> Result<usize, MarkerError> {
    if stride < width {
        return Err(MarkerError::StrideTooSmall { stride, width });
    }
    let overflow = MarkerError::SizeOverflow {
        width,
        height: rows,
    };
    stride
        .checked_mul(rows.saturating_sub(1))
        .and_then(|n| n.checked_add(width))
        .ok_or(overflow)
}

/// Checks that a plane holds `rows` rows of `width` pixels at `stride`.
fn check_plane(len: usize, stride: usize, width: usize, rows: usize) -> Result<(), MarkerError> {
    let needed = plane_len(stride, width, rows)?;
    if len < needed {
        return Err(MarkerError::BufferTooShort { len, needed });
    }
    Ok(())
}

/// Reads the marker from the luma (Y) plane of a YUV frame: `height` rows of `stride`
/// bytes, `width` pixels each. Bits are thresholded at the luma of gray [`THRESHOLD`]
/// ([`gray_to_luma`]; `full_range` as there), then voted on exactly as [`read`] does.
///
/// A frame smaller than the strip, a stride below the width or a plane too short for the
/// dimensions read as [`MarkerRead::NoMarker`].
pub fn read_luma(
    y: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    full_range: bool,
) -> MarkerRead {
    if width < MARKER_WIDTH || height < MARKER_HEIGHT {
        return MarkerRead::NoMarker;
    }
    if check_plane(y.len(), stride, width, height).is_err() {
        return MarkerRead::NoMarker;
    }
    let threshold = gray_to_luma(THRESHOLD, full_range);
    let first = height - MARKER_HEIGHT;
    read_bits(|r, x| {
        y.get((first + r) * stride + x)
            .map(|&luma| luma >= threshold)
    })
}

/// Votes on the strip whose bit at (row, x) `bit` gives (`None`: the strip is incomplete,
/// no marker): the bits become red values (255 / 0), so the vote is [`read_red`]'s.
fn read_bits(mut bit: impl FnMut(usize, usize) -> Option<bool>) -> MarkerRead {
    let mut red = [0u8; RED_LEN];
    for (r, out) in red.chunks_exact_mut(MARKER_WIDTH).enumerate() {
        for (x, v) in out.iter_mut().enumerate() {
            let Some(one) = bit(r, x) else {
                return MarkerRead::NoMarker;
            };
            *v = if one { 255 } else { 0 };
        }
    }
    read_red(&red)
}

/// The luma of an RGB pixel (BT.601 weights, 8-bit fixed point: 77, 150, 29 of 256).
fn rgb_luma(r: u8, g: u8, b: u8) -> u8 {
    let y = (77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8;
    // The weights sum to 256, so y <= 255.
    y.min(255) as u8
}

/// Reads a strip buffer on its own (24 × 4 RGBA pixels, [`STRIP_LEN`] bytes) as
/// [`read_strip`] does, but thresholds each pixel's luma (BT.601:
/// 0.299 R + 0.587 G + 0.114 B) at [`THRESHOLD`] instead of its red channel. For the gray
/// pixels a marker is made of the two are the same; after a lossy codec they are not: the
/// chroma of the picture above the strip leaks into the strip's chroma (the strip's 2
/// chroma rows share their transform blocks and macroblock with the picture's), which moves
/// red by up to 1.4 times the chroma error while it leaves the luma alone. A decoded frame's own luma plane is better still
/// ([`read_luma`]). A shorter buffer reads as [`MarkerRead::NoMarker`].
pub fn read_strip_luma(strip: &[u8]) -> MarkerRead {
    if strip.len() < STRIP_LEN {
        return MarkerRead::NoMarker;
    }
    read_bits(|r, x| {
        let i = (r * MARKER_WIDTH + x) * BYTES_PER_PIXEL;
        match strip.get(i..i + 3) {
            Some(&[red, green, blue]) => Some(rgb_luma(red, green, blue) >= THRESHOLD),
            _ => None,
        }
    })
}

/// The writable planes of an I420 frame: luma at full resolution, U and V at half
/// resolution in both directions (rounded up), each with its row stride in bytes.
#[derive(Debug)]
pub struct I420Planes<'a> {
    /// Luma plane: `height` rows of `y_stride` bytes.
    pub y: &'a mut [u8],
    /// Bytes per luma row (at least `width`).
    pub y_stride: usize,
    /// U plane: `ceil(height / 2)` rows of `uv_stride` bytes.
    pub u: &'a mut [u8],
    /// V plane, laid out as U.
    pub v: &'a mut [u8],
    /// Bytes per chroma row (at least `ceil(width / 2)`).
    pub uv_stride: usize,
    /// Frame width, pixels.
    pub width: usize,
    /// Frame height, pixels.
    pub height: usize,
}

/// Stamps `seq` into the bottom-left 24 × 4 pixels of an I420 frame: the strip's luma
/// takes [`gray_to_luma`] of each bit's gray, and the chroma samples under the strip (x
/// 0..12, the chroma rows that cover the last 4 luma rows) become [`NEUTRAL_CHROMA`], so
/// the strip stays gray through re-encoding. Nothing else changes.
///
/// Fails (without touching the planes) when the frame is smaller than the strip, a stride
/// is below its plane's width or a plane is too short for the dimensions.
pub fn stamp_i420(planes: I420Planes<'_>, seq: u16, full_range: bool) -> Result<(), MarkerError> {
    let I420Planes {
        y,
        y_stride,
        u,
        v,
        uv_stride,
        width,
        height,
    } = planes;
    if width < MARKER_WIDTH || height < MARKER_HEIGHT {
        return Err(MarkerError::FrameTooSmall { width, height });
    }
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    check_plane(y.len(), y_stride, width, height)?;
    check_plane(u.len(), uv_stride, cw, ch)?;
    check_plane(v.len(), uv_stride, cw, ch)?;
    let gray = strip_gray(seq).map(|g| gray_to_luma(g, full_range));
    for row in height - MARKER_HEIGHT..height {
        let start = row * y_stride;
        if let Some(dst) = y.get_mut(start..start + MARKER_WIDTH) {
            dst.copy_from_slice(&gray);
        }
    }
    // Chroma rows (height - 4) / 2 ..= (height - 1) / 2 cover the strip's luma rows.
    for row in (height - MARKER_HEIGHT) / 2..ch {
        let start = row * uv_stride;
        for plane in [&mut *u, &mut *v] {
            if let Some(dst) = plane.get_mut(start..start + MARKER_WIDTH / 2) {
                dst.fill(NEUTRAL_CHROMA);
            }
        }
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Bytes of one row of the strip.
    const ROW_BYTES: usize = MARKER_WIDTH * BYTES_PER_PIXEL;
    const O: u8 = BIT_ONE;
    const Z: u8 = BIT_ZERO;

    /// Gray values of one strip row for seq 0x1234 (checksum 1^2^3^4 = 4).
    const ROW_0X1234: [u8; MARKER_WIDTH] = [
        O, Z, O, Z, // sync
        Z, Z, Z, O, // 0x1
        Z, Z, O, Z, // 0x2
        Z, Z, O, O, // 0x3
        Z, O, Z, Z, // 0x4
        Z, O, Z, Z, // checksum 0x4
    ];

    fn frame(width: usize, height: usize, fill: u8) -> Vec<u8> {
        vec![fill; width * height * 4]
    }

    fn strip_for(seq: u16) -> Vec<u8> {
        let mut s = vec![0u8; STRIP_LEN];
        stamp_strip(&mut s, seq).unwrap();
        s
    }

    /// Sets pixel `x` of strip row `row` to gray `v`.
    fn set_px(strip: &mut [u8], row: usize, x: usize, v: u8) {
        let i = (row * MARKER_WIDTH + x) * 4;
        strip[i..i + 3].copy_from_slice(&[v, v, v]);
    }

    fn flip_px(strip: &mut [u8], row: usize, x: usize) {
        let i = (row * MARKER_WIDTH + x) * 4;
        let v = if strip[i] >= THRESHOLD { Z } else { O };
        set_px(strip, row, x, v);
    }

    #[test]
    fn checksum_is_xor_of_nibbles() {
        assert_eq!(checksum(0x0000), 0);
        assert_eq!(checksum(0x1234), 0x4);
        assert_eq!(checksum(0xFFFF), 0);
        assert_eq!(checksum(0x000F), 0xF);
        assert_eq!(checksum(0xA5C3), 0xA ^ 0x5 ^ 0xC ^ 0x3);
    }

    #[test]
    fn known_vector_0x1234() {
        let s = strip_for(0x1234);
        for row in 0..MARKER_HEIGHT {
            for (x, &v) in ROW_0X1234.iter().enumerate() {
                let i = (row * MARKER_WIDTH + x) * 4;
                assert_eq!(&s[i..i + 4], &[v, v, v, 255], "row {row} pixel {x}");
            }
        }
        assert_eq!(read_strip(&s), MarkerRead::Seq(0x1234));
    }

    #[test]
    fn known_vectors_extremes() {
        // 0x0000: sync then twenty zeros; 0xFFFF: sync then sixteen ones and checksum 0.
        let s = strip_for(0x0000);
        let reds: Vec<u8> = s.chunks(4).take(MARKER_WIDTH).map(|p| p[0]).collect();
        let mut want = vec![O, Z, O, Z];
        want.extend([Z; 20]);
        assert_eq!(reds, want);
        let s = strip_for(0xFFFF);
        let reds: Vec<u8> = s.chunks(4).take(MARKER_WIDTH).map(|p| p[0]).collect();
        let mut want = vec![O, Z, O, Z];
        want.extend([O; 16]);
        want.extend([Z; 4]);
        assert_eq!(reds, want);
    }

    #[test]
    fn stamp_goes_bottom_left_and_leaves_the_rest_alone() {
        let (w, h) = (64, 20);
        let mut f = frame(w, h, 7);
        stamp(&mut f, w, h, 0x1234).unwrap();
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 4;
                let px = &f[i..i + 4];
                match (y >= h - MARKER_HEIGHT, ROW_0X1234.get(x)) {
                    (true, Some(&v)) => assert_eq!(px, &[v, v, v, 255], "({x},{y})"),
                    _ => assert_eq!(px, &[7, 7, 7, 7], "({x},{y}) must be untouched"),
                }
            }
        }
        assert_eq!(read(&f, w, h), MarkerRead::Seq(0x1234));
    }

    #[test]
    fn stamp_strip_matches_frame_stamp() {
        // A strip stamped alone equals the bottom-left region of a stamped frame.
        let (w, h) = (40, 9);
        let mut f = frame(w, h, 0);
        stamp(&mut f, w, h, 0xBEEF).unwrap();
        let s = strip_for(0xBEEF);
        for row in 0..MARKER_HEIGHT {
            let fi = ((h - MARKER_HEIGHT + row) * w) * 4;
            assert_eq!(
                &f[fi..fi + ROW_BYTES],
                &s[row * ROW_BYTES..(row + 1) * ROW_BYTES]
            );
        }
    }

    #[test]
    fn exact_minimum_frame_and_longer_buffer() {
        let mut f = frame(MARKER_WIDTH, MARKER_HEIGHT, 0);
        stamp(&mut f, MARKER_WIDTH, MARKER_HEIGHT, 9).unwrap();
        assert_eq!(read(&f, MARKER_WIDTH, MARKER_HEIGHT), MarkerRead::Seq(9));
        // Trailing bytes beyond width*height*4 are ignored.
        let mut f = vec![0u8; 30 * 5 * 4 + 13];
        stamp(&mut f, 30, 5, 10).unwrap();
        assert_eq!(read(&f, 30, 5), MarkerRead::Seq(10));
        assert!(f[30 * 5 * 4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn majority_survives_one_damaged_row() {
        // Damage every payload bit of one row while keeping its sync: 3 against 1.
        for bad_row in 0..MARKER_HEIGHT {
            let mut s = strip_for(0x1234);
            for x in 4..MARKER_WIDTH {
                flip_px(&mut s, bad_row, x);
            }
            assert_eq!(read_strip(&s), MarkerRead::Seq(0x1234), "row {bad_row}");
        }
        // Destroy one row's sync: the other three still count.
        let mut s = strip_for(0x4321);
        set_px(&mut s, 2, 0, Z);
        for x in 4..MARKER_WIDTH {
            flip_px(&mut s, 2, x);
        }
        assert_eq!(read_strip(&s), MarkerRead::Seq(0x4321));
    }

    #[test]
    fn single_surviving_row_is_enough() {
        let mut s = strip_for(777);
        for row in 1..MARKER_HEIGHT {
            set_px(&mut s, row, 1, O); // sync 1,1,1,0: row no longer counts
        }
        assert_eq!(read_strip(&s), MarkerRead::Seq(777));
    }

    #[test]
    fn tie_is_corrupted() {
        // Two of four rows disagree on one data bit.
        let mut s = strip_for(0x1234);
        flip_px(&mut s, 0, 10);
        flip_px(&mut s, 1, 10);
        assert_eq!(read_strip(&s), MarkerRead::Corrupted);
        // Whatever the bit (0 or 1 in the stamp), a 2–2 split never resolves to a value.
        for x in 4..MARKER_WIDTH {
            let mut s = strip_for(0x1234);
            flip_px(&mut s, 1, x);
            flip_px(&mut s, 3, x);
            assert_eq!(read_strip(&s), MarkerRead::Corrupted, "pixel {x}");
        }
        // Two counting rows (the others lost sync) that disagree on a checksum bit.
        let mut s = strip_for(0x1234);
        set_px(&mut s, 2, 0, Z);
        set_px(&mut s, 3, 0, Z);
        flip_px(&mut s, 0, 22);
        assert_eq!(read_strip(&s), MarkerRead::Corrupted);
    }

    #[test]
    fn wrong_checksum_is_corrupted() {
        // The same data bit flipped in all rows: unanimous, but the checksum no longer fits.
        let mut s = strip_for(0x1234);
        for row in 0..MARKER_HEIGHT {
            flip_px(&mut s, row, 19);
        }
        assert_eq!(read_strip(&s), MarkerRead::Corrupted);
        // Checksum bits flipped everywhere.
        let mut s = strip_for(0x1234);
        for row in 0..MARKER_HEIGHT {
            flip_px(&mut s, row, 23);
        }
        assert_eq!(read_strip(&s), MarkerRead::Corrupted);
    }

    #[test]
    fn no_sync_is_no_marker() {
        assert_eq!(read_strip(&[0u8; STRIP_LEN]), MarkerRead::NoMarker);
        assert_eq!(read_strip(&[255u8; STRIP_LEN]), MarkerRead::NoMarker);
        // A stamped strip whose sync is broken in every row.
        let mut s = strip_for(0x1234);
        for row in 0..MARKER_HEIGHT {
            set_px(&mut s, row, 3, O);
        }
        assert_eq!(read_strip(&s), MarkerRead::NoMarker);
        // A marker at the top-left of a frame is not where the reader looks.
        let (w, h) = (30, 8);
        let mut f = frame(w, h, 0);
        stamp(&mut f[..w * MARKER_HEIGHT * 4], w, MARKER_HEIGHT, 5).unwrap();
        assert_eq!(
            read(&f[..w * MARKER_HEIGHT * 4], w, MARKER_HEIGHT),
            MarkerRead::Seq(5)
        );
        assert_eq!(read(&f, w, h), MarkerRead::NoMarker);
    }

    #[test]
    fn too_small_or_short_input() {
        let mut f = frame(23, 4, 0);
        assert_eq!(
            stamp(&mut f, 23, 4, 1),
            Err(MarkerError::FrameTooSmall {
                width: 23,
                height: 4
            })
        );
        assert!(f.iter().all(|&b| b == 0), "a failed stamp writes nothing");
        assert_eq!(read(&f, 23, 4), MarkerRead::NoMarker);
        let mut f = frame(24, 3, 0);
        assert_eq!(
            stamp(&mut f, 24, 3, 1),
            Err(MarkerError::FrameTooSmall {
                width: 24,
                height: 3
            })
        );
        assert_eq!(read(&f, 24, 3), MarkerRead::NoMarker);

        let mut short = vec![0u8; 100 * 10 * 4 - 1];
        assert_eq!(
            stamp(&mut short, 100, 10, 1),
            Err(MarkerError::BufferTooShort {
                len: 3999,
                needed: 4000
            })
        );
        assert!(short.iter().all(|&b| b == 0));
        assert_eq!(read(&short, 100, 10), MarkerRead::NoMarker);

        let mut tiny = [0u8; STRIP_LEN - 1];
        assert!(matches!(
            stamp_strip(&mut tiny, 1),
            Err(MarkerError::BufferTooShort { .. })
        ));
        assert_eq!(read_strip(&tiny), MarkerRead::NoMarker);

        assert_eq!(
            stamp(&mut [], usize::MAX, 4, 1),
            Err(MarkerError::SizeOverflow {
                width: usize::MAX,
                height: 4
            })
        );
        assert_eq!(read(&[], usize::MAX / 4, usize::MAX), MarkerRead::NoMarker);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            MarkerError::FrameTooSmall {
                width: 10,
                height: 2
            }
            .to_string(),
            "frame 10x2 is smaller than the 24x4 marker"
        );
        assert_eq!(
            MarkerError::BufferTooShort {
                len: 3,
                needed: 384
            }
            .to_string(),
            "RGBA buffer has 3 bytes, the frame needs 384"
        );
    }

    #[test]
    fn every_seq_round_trips() {
        let mut s = [0u8; STRIP_LEN];
        let (w, h) = (25, 5);
        let mut f = frame(w, h, 0);
        for seq in 0..=u16::MAX {
            stamp_strip(&mut s, seq).unwrap();
            assert_eq!(read_strip(&s), MarkerRead::Seq(seq));
            stamp(&mut f, w, h, seq).unwrap();
            assert_eq!(read(&f, w, h), MarkerRead::Seq(seq));
        }
    }

    #[test]
    fn every_single_bit_error_in_all_rows_is_detected() {
        // A unanimous single-bit error in any payload bit changes either the seq or the
        // checksum by one bit, which the nibble XOR always notices.
        for seq in [0u16, 1, 0x1234, 0x8000, 0xFFFF, 0xA5A5] {
            for x in 4..MARKER_WIDTH {
                let mut s = strip_for(seq);
                for row in 0..MARKER_HEIGHT {
                    flip_px(&mut s, row, x);
                }
                assert_eq!(
                    read_strip(&s),
                    MarkerRead::Corrupted,
                    "seq {seq:#x} pixel {x}"
                );
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::super::*;
        use super::ROW_BYTES;
        use proptest::prelude::*;

        /// Frame dimensions that hold a strip, with random content of the exact size.
        fn random_frame() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
            (MARKER_WIDTH..=80usize, MARKER_HEIGHT..=24usize).prop_flat_map(|(w, h)| {
                (
                    Just(w),
                    Just(h),
                    proptest::collection::vec(any::<u8>(), w * h * 4),
                )
            })
        }

        proptest! {
            #[test]
            fn read_never_panics_on_arbitrary_input(
                bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                width in prop_oneof![0usize..64, any::<usize>()],
                height in prop_oneof![0usize..64, any::<usize>()],
            ) {
                let _ = read(&bytes, width, height);
                let _ = read_strip(&bytes);
                let mut copy = bytes.clone();
                let _ = stamp(&mut copy, width, height, 1);
                let _ = stamp_strip(&mut copy, 1);
            }

            #[test]
            fn luma_functions_never_panic(
                bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                stride in prop_oneof![0usize..80, any::<usize>()],
                width in prop_oneof![0usize..64, any::<usize>()],
                height in prop_oneof![0usize..64, any::<usize>()],
            ) {
                let _ = read_luma(&bytes, stride, width, height, false);
                let _ = read_strip_luma(&bytes);
                let (mut y, mut u, mut v) = (bytes.clone(), bytes.clone(), bytes.clone());
                let planes = I420Planes {
                    y: &mut y,
                    y_stride: stride,
                    u: &mut u,
                    v: &mut v,
                    uv_stride: stride / 2,
                    width,
                    height,
                };
                let _ = stamp_i420(planes, 7, true);
            }

            #[test]
            fn read_never_panics_on_fitting_random_frames((w, h, f) in random_frame()) {
                let _ = read(&f, w, h);
            }

            #[test]
            fn stamped_random_frame_reads_back((w, h, f) in random_frame(), seq in any::<u16>()) {
                let mut stamped = f.clone();
                stamp(&mut stamped, w, h, seq).unwrap();
                prop_assert_eq!(read(&stamped, w, h), MarkerRead::Seq(seq));
                // Outside the strip nothing changed.
                for y in 0..h {
                    for x in 0..w {
                        if y >= h - MARKER_HEIGHT && x < MARKER_WIDTH {
                            continue;
                        }
                        let i = (y * w + x) * 4;
                        prop_assert_eq!(&stamped[i..i + 4], &f[i..i + 4]);
                    }
                }
            }

            #[test]
            fn noise_of_40_on_marker_pixels_reads_back(
                (w, h, f) in random_frame(),
                seq in any::<u16>(),
                noise in proptest::collection::vec(-40i16..=40, MARKER_WIDTH * MARKER_HEIGHT * 3),
            ) {
                let mut f = f;
                stamp(&mut f, w, h, seq).unwrap();
                let mut k = 0;
                for row in 0..MARKER_HEIGHT {
                    for x in 0..MARKER_WIDTH {
                        let i = ((h - MARKER_HEIGHT + row) * w + x) * 4;
                        for c in 0..3 {
                            f[i + c] = (i16::from(f[i + c]) + noise[k]).clamp(0, 255) as u8;
                            k += 1;
                        }
                    }
                }
                prop_assert_eq!(read(&f, w, h), MarkerRead::Seq(seq));
            }

            #[test]
            fn the_red_values_alone_read_as_the_frame_does(
                (w, h, f) in random_frame(),
                seq in any::<u16>(),
                stamped in any::<bool>(),
                noise in proptest::collection::vec(-90i16..=90, RED_LEN),
            ) {
                let mut f = f;
                if stamped {
                    stamp(&mut f, w, h, seq).unwrap();
                }
                let mut red = Vec::with_capacity(RED_LEN);
                for row in h - MARKER_HEIGHT..h {
                    for x in 0..MARKER_WIDTH {
                        let i = (row * w + x) * 4;
                        let k = red.len();
                        f[i] = (i16::from(f[i]) + noise[k]).clamp(0, 255) as u8;
                        red.push(f[i]);
                    }
                }
                prop_assert_eq!(read_red(&red), read(&f, w, h));
                prop_assert_eq!(read_red(&red[1..]), MarkerRead::NoMarker);
            }

            #[test]
            fn one_arbitrary_row_cannot_break_a_marker(
                seq in any::<u16>(),
                bad_row in 0..MARKER_HEIGHT,
                garbage in proptest::collection::vec(any::<u8>(), ROW_BYTES),
            ) {
                let mut s = [0u8; STRIP_LEN];
                stamp_strip(&mut s, seq).unwrap();
                s[bad_row * ROW_BYTES..(bad_row + 1) * ROW_BYTES].copy_from_slice(&garbage);
                prop_assert_eq!(read_strip(&s), MarkerRead::Seq(seq));
            }
        }
    }

    #[test]
    fn strip_gray_matches_the_rgba_stamp() {
        for seq in [0u16, 1, 0x1234, 0x8000, 0xFFFF] {
            let s = strip_for(seq);
            let reds: Vec<u8> = s.chunks(4).take(MARKER_WIDTH).map(|p| p[0]).collect();
            assert_eq!(strip_gray(seq).to_vec(), reds, "seq {seq:#x}");
        }
    }

    /// An I420 frame as three planes with strides (`pad` extra bytes per row).
    struct Yuv {
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
        w: usize,
        h: usize,
        pad: usize,
    }

    impl Yuv {
        fn new(w: usize, h: usize, pad: usize) -> Yuv {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            Yuv {
                y: vec![90; (w + pad) * h],
                u: vec![40; (cw + pad) * ch],
                v: vec![220; (cw + pad) * ch],
                w,
                h,
                pad,
            }
        }

        fn planes(&mut self) -> I420Planes<'_> {
            I420Planes {
                y: &mut self.y,
                y_stride: self.w + self.pad,
                u: &mut self.u,
                v: &mut self.v,
                uv_stride: self.w.div_ceil(2) + self.pad,
                width: self.w,
                height: self.h,
            }
        }

        fn read(&self, full_range: bool) -> MarkerRead {
            read_luma(&self.y, self.w + self.pad, self.w, self.h, full_range)
        }
    }

    #[test]
    fn i420_stamp_reads_back_and_touches_only_the_strip() {
        for (w, h, pad) in [(64, 20, 0), (65, 21, 7), (24, 4, 0), (25, 5, 3)] {
            for full_range in [false, true] {
                let mut f = Yuv::new(w, h, pad);
                let before = (f.y.clone(), f.u.clone(), f.v.clone());
                stamp_i420(f.planes(), 0xBEEF, full_range).unwrap();
                assert_eq!(f.read(full_range), MarkerRead::Seq(0xBEEF), "{w}x{h}+{pad}");
                let gray = strip_gray(0xBEEF);
                let ys = w + pad;
                for row in 0..h {
                    #[allow(clippy::needless_range_loop)]
                    for x in 0..ys {
                        let i = row * ys + x;
                        if row >= h - MARKER_HEIGHT && x < MARKER_WIDTH {
                            assert_eq!(f.y[i], gray_to_luma(gray[x], full_range));
                        } else {
                            assert_eq!(f.y[i], before.0[i], "luma ({x},{row}) untouched");
                        }
                    }
                }
                let cs = w.div_ceil(2) + pad;
                for row in 0..h.div_ceil(2) {
                    for x in 0..cs {
                        let i = row * cs + x;
                        let under = row >= (h - MARKER_HEIGHT) / 2 && x < MARKER_WIDTH / 2;
                        let (u, v) = if under {
                            (NEUTRAL_CHROMA, NEUTRAL_CHROMA)
                        } else {
                            (before.1[i], before.2[i])
                        };
                        assert_eq!((f.u[i], f.v[i]), (u, v), "chroma ({x},{row})");
                    }
                }
            }
        }
    }

    #[test]
    fn luma_read_thresholds_and_votes_like_rgba() {
        let mut f = Yuv::new(40, 8, 2);
        assert_eq!(f.read(false), MarkerRead::NoMarker);
        stamp_i420(f.planes(), 0x1234, false).unwrap();
        // Codec noise of ±40 on limited-range luma keeps every bit.
        let ys = 42;
        for (k, row) in (4..8).enumerate() {
            for x in 0..MARKER_WIDTH {
                let i = row * ys + x;
                let noise: i16 = if (x + k) % 2 == 0 { 40 } else { -40 };
                f.y[i] = (i16::from(f.y[i]) + noise).clamp(0, 255) as u8;
            }
        }
        assert_eq!(f.read(false), MarkerRead::Seq(0x1234));
        // One row of garbage is outvoted; two disagreeing rows tie.
        let mut f = Yuv::new(40, 8, 0);
        stamp_i420(f.planes(), 0x1234, true).unwrap();
        f.y[4 * 40 + 10] = 255 - f.y[4 * 40 + 10];
        assert_eq!(f.read(true), MarkerRead::Seq(0x1234));
        f.y[5 * 40 + 10] = 255 - f.y[5 * 40 + 10];
        assert_eq!(f.read(true), MarkerRead::Corrupted);
        for seq in [0u16, 1, 0x8000, 0xFFFF] {
            let mut f = Yuv::new(30, 6, 1);
            stamp_i420(f.planes(), seq, false).unwrap();
            assert_eq!(f.read(false), MarkerRead::Seq(seq));
        }
    }

    #[test]
    fn i420_bad_geometry_is_an_error_and_writes_nothing() {
        let mut f = Yuv::new(23, 8, 0);
        assert_eq!(
            stamp_i420(f.planes(), 1, false),
            Err(MarkerError::FrameTooSmall {
                width: 23,
                height: 8
            })
        );
        let mut f = Yuv::new(40, 8, 0);
        let mut p = f.planes();
        p.y_stride = 39;
        assert_eq!(
            stamp_i420(p, 1, false),
            Err(MarkerError::StrideTooSmall {
                stride: 39,
                width: 40
            })
        );
        let mut p = f.planes();
        p.height = 9;
        assert!(matches!(
            stamp_i420(p, 1, false),
            Err(MarkerError::BufferTooShort { .. })
        ));
        let mut short_v = Yuv::new(40, 8, 0);
        short_v.v.pop();
        assert!(matches!(
            stamp_i420(short_v.planes(), 1, false),
            Err(MarkerError::BufferTooShort { .. })
        ));
        assert!(
            short_v.y.iter().all(|&b| b == 90),
            "a failed stamp writes nothing"
        );
        let mut p = f.planes();
        p.y_stride = usize::MAX;
        assert!(matches!(
            stamp_i420(p, 1, false),
            Err(MarkerError::SizeOverflow { .. })
        ));
        assert_eq!(read_luma(&f.y, 40, 40, 9, false), MarkerRead::NoMarker);
        assert_eq!(read_luma(&f.y, 30, 40, 8, false), MarkerRead::NoMarker);
        assert_eq!(
            read_luma(&f.y, usize::MAX, 40, 8, false),
            MarkerRead::NoMarker
        );
        assert_eq!(read_luma(&[], 0, 0, 0, false), MarkerRead::NoMarker);
        assert_eq!(
            MarkerError::StrideTooSmall {
                stride: 3,
                width: 4
            }
            .to_string(),
            "plane stride 3 is smaller than its width 4"
        );
    }

    /// An RGBA strip of `seq` whose every pixel carries a colour shift, as a decoder's YUV →
    /// RGB conversion (BT.601) makes of chroma that leaked into the strip: `cb`, `cr` are
    /// the chroma errors (chroma − 128).
    fn tinted_strip(seq: u16, cb: f64, cr: f64) -> Vec<u8> {
        let mut s = strip_for(seq);
        for px in s.chunks_exact_mut(4) {
            let y = f64::from(px[0]);
            let c = |v: f64| v.round().clamp(0.0, 255.0) as u8;
            px[0] = c(y + 1.402 * cr);
            px[1] = c(y - 0.344 * cb - 0.714 * cr);
            px[2] = c(y + 1.772 * cb);
        }
        s
    }

    #[test]
    fn luma_read_of_rgba_ignores_chroma_that_moves_red() {
        for seq in [0u16, 1, 0x1234, 0x8000, 0xFFFF, 0xA5A5] {
            let gray = strip_for(seq);
            assert_eq!(read_strip_luma(&gray), MarkerRead::Seq(seq));
            // A reddish leak (Cr +60): every 0 bit reads as 1 in red; luma is unchanged.
            let red = tinted_strip(seq, -20.0, 60.0);
            assert_ne!(read_strip(&red), MarkerRead::Seq(seq), "seq {seq:#x}");
            assert_eq!(read_strip_luma(&red), MarkerRead::Seq(seq), "seq {seq:#x}");
            // A greenish one (Cr -60): every 1 bit reads as 0 in red.
            let green = tinted_strip(seq, 20.0, -60.0);
            assert_ne!(read_strip(&green), MarkerRead::Seq(seq), "seq {seq:#x}");
            assert_eq!(
                read_strip_luma(&green),
                MarkerRead::Seq(seq),
                "seq {seq:#x}"
            );
        }
        // Luma still thresholds: a 1 bit darkened below 128 is a 0.
        let mut s = strip_for(0x1234);
        for row in 0..MARKER_HEIGHT {
            set_px(&mut s, row, 7, 120);
        }
        assert_eq!(read_strip_luma(&s), MarkerRead::Corrupted);
        assert_eq!(read_strip_luma(&s[..STRIP_LEN - 1]), MarkerRead::NoMarker);
        assert_eq!(read_strip_luma(&[0u8; STRIP_LEN]), MarkerRead::NoMarker);
    }

    #[test]
    fn luma_of_gray_round_trips_through_limited_range() {
        assert_eq!(gray_to_luma(BIT_ONE, true), BIT_ONE);
        assert_eq!(gray_to_luma(0, false), 16);
        assert_eq!(gray_to_luma(255, false), 235);
        for v in [BIT_ZERO, BIT_ONE] {
            // Limited-range expansion back to RGB: (Y - 16) * 255 / 219.
            let y = f64::from(gray_to_luma(v, false));
            let back = ((y - 16.0) * 255.0 / 219.0).round();
            assert!((back - f64::from(v)).abs() <= 1.0, "{v} -> {y} -> {back}");
            assert_eq!(back >= f64::from(THRESHOLD), v == BIT_ONE);
        }
    }
}
