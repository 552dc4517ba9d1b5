//! VP8 decoding and encoding through libvpx, behind a small safe API: an [`I420Frame`]
//! picture type, a [`Decoder`] and an [`Encoder`]. Each codec owns its libvpx context and
//! destroys it on drop; every libvpx error becomes a [`CodecError`], never a panic.
//!
//! All `unsafe` of the server lives in this module. The invariants it relies on:
//! * a context is initialised by `vpx_codec_*_init_ver` before any other call, is only used
//!   through `&mut self` (libvpx contexts are not thread-safe, and `Decoder` / `Encoder` are
//!   neither `Send` nor `Sync`), and is destroyed exactly once, in `Drop`;
//! * the configuration passed at init lives in a `Box` next to the context for as long as
//!   the context, since libvpx may keep a pointer to it;
//! * images handed to libvpx point into an [`I420Frame`] whose planes hold exactly the
//!   sizes the image header announces (checked by construction);
//! * images and packets libvpx returns are copied out before the next call on the context.

use std::ffi::CStr;
use std::fmt;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;
use vpx_sys as ffi;

/// Largest accepted frame side, pixels (VP8 allows 16383).
pub const MAX_SIDE: usize = 16383;

/// A libvpx failure (or a frame the wrapper refuses before calling libvpx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    /// What was being done: `decoder init`, `decode`, `encoder init`, `encode`, ...
    pub op: &'static str,
    /// libvpx's error text and detail, or the wrapper's reason.
    pub message: String,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vp8 {}: {}", self.op, self.message)
    }
}

impl std::error::Error for CodecError {}

fn refuse(op: &'static str, message: impl Into<String>) -> CodecError {
    CodecError {
        op,
        message: message.into(),
    }
}

/// A picture in I420: full-resolution luma (Y), then U and V at half resolution in both
/// directions (rounded up). Each plane is tightly packed: its stride is its width.
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I420Frame({}x{})", self.width, self.height)
    }
}

impl I420Frame {
    /// A `width` × `height` frame filled with one colour (Y, U, V).
    pub fn filled(width: usize, height: usize, yuv: [u8; 3]) -> Result<I420Frame, CodecError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(refuse(
                "frame",
                format!("{width}x{height} is not a VP8 frame size (1..={MAX_SIDE} per side)"),
            ));
        }
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        Ok(I420Frame {
            width,
            height,
            y: vec![yuv[0]; width * height],
            u: vec![yuv[1]; cw * ch],
            v: vec![yuv[2]; cw * ch],
        })
    }

    /// A moving test picture for benchmarks and tests (any size from 1×1; larger sizes are
    /// clamped to [`MAX_SIDE`]): a luma ramp, six colour bars, a fine checkerboard in the
    /// middle third and a bright box that moves with `t`; every frame differs like camera
    /// video does.
    pub fn test_card(width: usize, height: usize, t: usize) -> I420Frame {
        let (width, height) = (width.clamp(1, MAX_SIDE), height.clamp(1, MAX_SIDE));
        let mut f = I420Frame {
            width,
            height,
            y: vec![0; width * height],
            u: vec![0; width.div_ceil(2) * height.div_ceil(2)],
            v: vec![0; width.div_ceil(2) * height.div_ceil(2)],
        };
        let (bx, by, side) = ((t * 7) % width, (t * 3) % height, (height / 5).max(1));
        for (i, p) in f.y.iter_mut().enumerate() {
            let (x, row) = (i % width, i / width);
            let in_box = x >= bx && x < bx + side && row >= by && row < by + side;
            let checker = row >= height / 3 && row < 2 * height / 3 && (x / 2 + row / 2) % 2 == 0;
            *p = if in_box {
                230
            } else if checker {
                40
            } else {
                (30 + (x * 170) / width + (t % 16)) as u8
            };
        }
        const BARS: [(u8, u8); 6] = [
            (60, 200),
            (200, 60),
            (90, 90),
            (170, 170),
            (128, 230),
            (230, 128),
        ];
        let cw = f.chroma_width();
        for (i, (u, v)) in f.u.iter_mut().zip(f.v.iter_mut()).enumerate() {
            let bar = ((i % cw) * BARS.len() / cw).min(BARS.len() - 1);
            (*u, *v) = BARS.get(bar).copied().unwrap_or((128, 128));
        }
        f
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width of the U and V planes.
    pub fn chroma_width(&self) -> usize {
        self.width.div_ceil(2)
    }

    /// Height of the U and V planes.
    pub fn chroma_height(&self) -> usize {
        self.height.div_ceil(2)
    }

    /// The planes (Y, U, V).
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        (&self.y, &self.u, &self.v)
    }

    /// The planes (Y, U, V), writable; their sizes stay fixed.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        (&mut self.y, &mut self.u, &mut self.v)
    }

    /// The image header libvpx reads this frame through. Valid while `self` is borrowed
    /// and unchanged.
    fn as_vpx_image(&self) -> ffi::vpx_image_t {
        // SAFETY: vpx_image_t is plain C data; all-zero is a valid value for every field
        // (the enums have a 0 variant, pointers may be null).
        let mut img: ffi::vpx_image_t = unsafe { MaybeUninit::zeroed().assume_init() };
        img.fmt = ffi::vpx_img_fmt::VPX_IMG_FMT_I420;
        img.cs = ffi::vpx_color_space::VPX_CS_BT_601;
        img.range = ffi::vpx_color_range::VPX_CR_STUDIO_RANGE;
        // Sizes are at most MAX_SIDE, so they fit in c_uint and c_int.
        let (w, h, cw) = (
            self.width as c_uint,
            self.height as c_uint,
            self.chroma_width() as c_int,
        );
        img.w = w;
        img.h = h;
        img.d_w = w;
        img.d_h = h;
        img.r_w = w;
        img.r_h = h;
        img.bit_depth = 8;
        img.x_chroma_shift = 1;
        img.y_chroma_shift = 1;
        img.bps = 12;
        // libvpx only reads an input image; the casts to *mut follow its C signature.
        img.planes = [
            self.y.as_ptr().cast_mut(),
            self.u.as_ptr().cast_mut(),
            self.v.as_ptr().cast_mut(),
            ptr::null_mut(),
        ];
        img.stride = [w as c_int, cw, cw, 0];
        img
    }

    /// Copies a decoded libvpx image (I420, 8 bit).
    ///
    /// # Safety
    /// `img` must be an image libvpx just returned and not yet invalidated.
    unsafe fn from_vpx_image(img: &ffi::vpx_image_t) -> Result<I420Frame, CodecError> {
        if img.fmt != ffi::vpx_img_fmt::VPX_IMG_FMT_I420
            || img.x_chroma_shift != 1
            || img.y_chroma_shift != 1
        {
            return Err(refuse(
                "decode",
                format!("unexpected image format {:?}", img.fmt),
            ));
        }
        let mut frame = I420Frame::filled(img.d_w as usize, img.d_h as usize, [0, 128, 128])?;
        let (cw, ch) = (frame.chroma_width(), frame.chroma_height());
        let (w, h) = (frame.width, frame.height);
        let (y, u, v) = frame.planes_mut();
        for (plane, dst, pw, ph) in [(0, y, w, h), (1, u, cw, ch), (2, v, cw, ch)] {
            let stride = img.stride[plane];
            let src = img.planes[plane];
            if src.is_null() || stride < 0 || (stride as usize) < pw {
                return Err(refuse("decode", "decoder returned an unusable image"));
            }
            for (row, out) in dst.chunks_exact_mut(pw).take(ph).enumerate() {
                // SAFETY: libvpx guarantees `ph` rows of `stride >= pw` bytes per plane.
                let line = std::slice::from_raw_parts(src.add(row * stride as usize), pw);
                out.copy_from_slice(line);
            }
        }
        Ok(frame)
    }
}

/// libvpx's text for `err`, plus the context's detail when there is one.
fn describe(ctx: &mut ffi::vpx_codec_ctx_t, err: ffi::vpx_codec_err_t) -> String {
    // SAFETY: both functions return static or context-owned NUL-terminated strings (or
    // null for the detail), read before the next call on the context.
    unsafe {
        let text = CStr::from_ptr(ffi::vpx_codec_err_to_string(err))
            .to_string_lossy()
            .into_owned();
        let detail = ffi::vpx_codec_error_detail(ctx);
        if detail.is_null() {
            text
        } else {
            format!("{text} ({})", CStr::from_ptr(detail).to_string_lossy())
        }
    }
}

fn zeroed_ctx() -> Box<ffi::vpx_codec_ctx_t> {
    // SAFETY: vpx_codec_ctx_t is plain C data (pointers, integers, an enum with 0 = OK, a
    // union of pointers); all-zero is the state libvpx expects before init.
    Box::new(unsafe { MaybeUninit::zeroed().assume_init() })
}

/// A VP8 decoder.
pub struct Decoder {
    ctx: Box<ffi::vpx_codec_ctx_t>,
    _cfg: Box<ffi::vpx_codec_dec_cfg_t>,
}

impl Decoder {
    /// A single-threaded VP8 decoder.
    pub fn new() -> Result<Decoder, CodecError> {
        let mut ctx = zeroed_ctx();
        let cfg = Box::new(ffi::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        });
        // SAFETY: ctx and cfg are valid and outlive the context (both owned by `Decoder`).
        let err = unsafe {
            ffi::vpx_codec_dec_init_ver(
                &mut *ctx,
                ffi::vpx_codec_vp8_dx(),
                &*cfg,
                0,
                ffi::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            // Not initialised: nothing to destroy.
            return Err(refuse("decoder init", describe(&mut ctx, err)));
        }
        Ok(Decoder { ctx, _cfg: cfg })
    }

    /// Decodes one VP8 frame; `None` when it produced no picture (e.g. an invisible frame).
    /// A corrupt frame, or an inter frame before the first keyframe, is an error.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, CodecError> {
        if data.is_empty() {
            return Err(refuse("decode", "empty frame"));
        }
        let len = c_uint::try_from(data.len()).map_err(|_| refuse("decode", "frame too large"))?;
        // SAFETY: the context is initialised; `data` is valid for `len` bytes during the call.
        let err = unsafe {
            ffi::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0)
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(refuse("decode", describe(&mut self.ctx, err)));
        }
        let mut iter: ffi::vpx_codec_iter_t = ptr::null();
        let mut picture = None;
        loop {
            // SAFETY: the context is initialised; the returned image stays valid until the
            // next decode call, and it is copied right away.
            let img = unsafe { ffi::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: non-null image just returned by libvpx.
            picture = Some(unsafe { I420Frame::from_vpx_image(&*img) }?);
        }
        Ok(picture)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe {
            ffi::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// How an [`Encoder`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Frame width, pixels.
    pub width: usize,
    /// Frame height, pixels.
    pub height: usize,
    /// Target bitrate, kbit/s (constant bitrate rate control).
    pub bitrate_kbps: u32,
}

impl EncoderConfig {
    /// The bitrate a browser would get for this size: 1500 kbit/s at 640×480, scaled with
    /// the pixel count, within 150..=4000 kbit/s.
    pub fn for_size(width: usize, height: usize) -> EncoderConfig {
        let pixels = (width * height) as u64;
        let kbps = (1500 * pixels / (640 * 480)).clamp(150, 4000) as u32;
        EncoderConfig {
            width,
            height,
            bitrate_kbps: kbps,
        }
    }
}

/// One encoded VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The VP8 bitstream of the frame.
    pub data: Vec<u8>,
    /// Whether it is a keyframe.
    pub keyframe: bool,
}

/// A realtime VP8 encoder (one pass, constant bitrate, no lag, error resilient, keyframes
/// only on request or after 3000 frames), set up as a WebRTC sender sets up libvpx.
pub struct Encoder {
    ctx: Box<ffi::vpx_codec_ctx_t>,
    _cfg: Box<ffi::vpx_codec_enc_cfg_t>,
    config: EncoderConfig,
    last_pts: Option<i64>,
}

/// The encoder's timebase: 90 kHz, the RTP clock of video.
const TIMEBASE_HZ: c_int = 90_000;

impl Encoder {
    /// An encoder for frames of exactly `config.width` × `config.height`.
    pub fn new(config: EncoderConfig) -> Result<Encoder, CodecError> {
        if config.width == 0
            || config.height == 0
            || config.width > MAX_SIDE
            || config.height > MAX_SIDE
        {
            return Err(refuse(
                "encoder init",
                format!("{}x{} is not a VP8 frame size", config.width, config.height),
            ));
        }
        let mut cfg = MaybeUninit::<ffi::vpx_codec_enc_cfg_t>::uninit();
        // SAFETY: libvpx fills the whole configuration on success.
        let err = unsafe {
            ffi::vpx_codec_enc_config_default(ffi::vpx_codec_vp8_cx(), cfg.as_mut_ptr(), 0)
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(refuse("encoder config", format!("error {err:?}")));
        }
        // SAFETY: initialised by the successful call above.
        let mut cfg = Box::new(unsafe { cfg.assume_init() });
        // Sizes are at most MAX_SIDE: they fit in c_uint.
        cfg.g_w = config.width as c_uint;
        cfg.g_h = config.height as c_uint;
        cfg.g_timebase = ffi::vpx_rational {
            num: 1,
            den: TIMEBASE_HZ,
        };
        cfg.g_threads = 1;
        cfg.g_lag_in_frames = 0;
        cfg.g_error_resilient = ffi::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.g_pass = ffi::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = ffi::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = config.bitrate_kbps;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        // Every input frame gives an output frame (markers ride on them).
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.kf_mode = ffi::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = 3000;
        let mut ctx = zeroed_ctx();
        // SAFETY: ctx and cfg are valid and outlive the context (both owned by `Encoder`).
        let err = unsafe {
            ffi::vpx_codec_enc_init_ver(
                &mut *ctx,
                ffi::vpx_codec_vp8_cx(),
                &*cfg,
                0,
                ffi::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(refuse("encoder init", describe(&mut ctx, err)));
        }
        let mut encoder = Encoder {
            ctx,
            _cfg: cfg,
            config,
            last_pts: None,
        };
        // libwebrtc's realtime settings for VP8 on desktop.
        encoder.control(ffi::vp8e_enc_control_id::VP8E_SET_CPUUSED, -6)?;
        encoder.control(ffi::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        encoder.control(ffi::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD, 1)?;
        encoder.control(
            ffi::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT,
            450,
        )?;
        Ok(encoder)
    }

    fn control(&mut self, id: ffi::vp8e_enc_control_id, value: c_int) -> Result<(), CodecError> {
        // SAFETY: the context is an initialised VP8 encoder; these controls take an int.
        let err = unsafe { ffi::vpx_codec_control_(&mut *self.ctx, id as c_int, value) };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(refuse("encoder control", describe(&mut self.ctx, err)));
        }
        Ok(())
    }

    /// The configuration it encodes with.
    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// Encodes `frame` (which must have the configured size) at `pts_90khz`; forces a
    /// keyframe when asked. Timestamps that do not increase are moved forward by one tick.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        pts_90khz: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, CodecError> {
        if (frame.width(), frame.height()) != (self.config.width, self.config.height) {
            return Err(refuse(
                "encode",
                format!(
                    "frame is {}x{}, the encoder {}x{}",
                    frame.width(),
                    frame.height(),
                    self.config.width,
                    self.config.height
                ),
            ));
        }
        let pts = match self.last_pts {
            Some(last) if pts_90khz <= last => last + 1,
            _ => pts_90khz,
        };
        let duration = self
            .last_pts
            .map_or(TIMEBASE_HZ as i64 / 25, |last| pts - last)
            .clamp(1, TIMEBASE_HZ as i64);
        self.last_pts = Some(pts);
        let img = frame.as_vpx_image();
        let flags = if force_keyframe {
            ffi::VPX_EFLAG_FORCE_KF as ffi::vpx_enc_frame_flags_t
        } else {
            0
        };
        // SAFETY: the context is initialised; `img` points into `frame`, borrowed for the
        // call, with plane sizes matching the header (I420Frame invariant).
        let err = unsafe {
            ffi::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts,
                duration as c_ulong,
                flags,
                ffi::VPX_DL_REALTIME as c_ulong,
            )
        };
        if err != ffi::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(refuse("encode", describe(&mut self.ctx, err)));
        }
        let mut out = Vec::new();
        let mut iter: ffi::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: the context is initialised; packets stay valid until the next encode
            // call and are copied right away.
            let pkt = unsafe { ffi::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: non-null packet just returned by libvpx.
            let pkt = unsafe { &*pkt };
            if pkt.kind != ffi::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: `frame` is the active union member for frame packets.
            let f = unsafe { pkt.data.frame };
            if f.buf.is_null() || f.sz == 0 {
                continue;
            }
            // SAFETY: libvpx owns `sz` bytes at `buf` until the next call.
            let data = unsafe { std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz as usize) };
            out.push(EncodedFrame {
                data: data.to_vec(),
                keyframe: f.flags & ffi::VPX_FRAME_IS_KEY != 0,
            });
        }
        Ok(out)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe {
            ffi::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// Whether a VP8 frame is a keyframe (bit 0 of the frame tag is 0).
pub fn is_vp8_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A moving gradient: luma ramps with x + t, chroma with y.
    fn gradient(w: usize, h: usize, t: usize) -> I420Frame {
        let mut f = I420Frame::filled(w, h, [0, 128, 128]).unwrap();
        let cw = f.chroma_width();
        let (y, u, v) = f.planes_mut();
        for (i, p) in y.iter_mut().enumerate() {
            *p = (16 + ((i % w + t * 4) % 200)) as u8;
        }
        for (i, (pu, pv)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
            *pu = (90 + (i / cw) % 60) as u8;
            *pv = 160;
        }
        f
    }

    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        let sum: u64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        sum as f64 / a.len() as f64
    }

    #[test]
    fn round_trip_keeps_the_picture() {
        let (w, h) = (320, 240);
        let mut enc = Encoder::new(EncoderConfig::for_size(w, h)).unwrap();
        let mut dec = Decoder::new().unwrap();
        for t in 0..10 {
            let src = gradient(w, h, t);
            let out = enc.encode(&src, t as i64 * 3600, false).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].keyframe, t == 0, "frame {t}");
            assert_eq!(is_vp8_keyframe(&out[0].data), out[0].keyframe);
            let pic = dec.decode(&out[0].data).unwrap().unwrap();
            assert_eq!((pic.width(), pic.height()), (w, h));
            let (sy, su, _) = src.planes();
            let (py, pu, _) = pic.planes();
            assert!(mean_abs_diff(sy, py) < 6.0, "luma differs too much");
            assert!(mean_abs_diff(su, pu) < 6.0, "chroma differs too much");
        }
    }

    #[test]
    fn keyframes_on_request_and_odd_sizes() {
        let (w, h) = (161, 99);
        let mut enc = Encoder::new(EncoderConfig::for_size(w, h)).unwrap();
        let mut dec = Decoder::new().unwrap();
        let src = gradient(w, h, 0);
        let kinds: Vec<bool> = (0..6)
            .map(|t| {
                let f = enc.encode(&src, t * 3000, t == 4).unwrap().remove(0);
                let pic = dec.decode(&f.data).unwrap().unwrap();
                assert_eq!((pic.width(), pic.height()), (w, h));
                f.keyframe
            })
            .collect();
        assert_eq!(kinds, [true, false, false, false, true, false]);
    }

    #[test]
    fn errors_instead_of_panics() {
        let mut dec = Decoder::new().unwrap();
        assert!(dec.decode(&[]).is_err());
        let err = dec.decode(&[0x10, 0x02, 0x00, 1, 2, 3]).unwrap_err();
        assert_eq!(err.op, "decode");
        assert!(!err.message.is_empty());
        // An inter frame before any keyframe.
        let mut enc = Encoder::new(EncoderConfig::for_size(64, 64)).unwrap();
        let src = gradient(64, 64, 0);
        enc.encode(&src, 0, false).unwrap();
        let inter = enc.encode(&src, 3000, false).unwrap().remove(0);
        assert!(!inter.keyframe);
        assert!(Decoder::new().unwrap().decode(&inter.data).is_err());
        // Wrong sizes.
        assert!(enc.encode(&gradient(32, 64, 0), 6000, false).is_err());
        assert!(I420Frame::filled(0, 10, [0; 3]).is_err());
        assert!(I420Frame::filled(MAX_SIDE + 1, 10, [0; 3]).is_err());
        assert!(Encoder::new(EncoderConfig::for_size(0, 10)).is_err());
        // Garbage never panics.
        let mut dec = Decoder::new().unwrap();
        for n in 1..64u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
            let _ = dec.decode(&junk);
        }
    }

    #[test]
    fn bitrate_scales_with_the_size() {
        assert_eq!(EncoderConfig::for_size(640, 480).bitrate_kbps, 1500);
        assert_eq!(EncoderConfig::for_size(1280, 704).bitrate_kbps, 4000);
        assert_eq!(EncoderConfig::for_size(320, 240).bitrate_kbps, 375);
        assert_eq!(EncoderConfig::for_size(16, 16).bitrate_kbps, 150);
    }
}
