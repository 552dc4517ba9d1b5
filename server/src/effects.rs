//! The "model" of transform mode: cheap, visible image operations on I420 frames, chosen
//! by words in the prompt, and a tint toward the mean colour of a reference image.
//!
//! | words in the prompt | effect |
//! | --- | --- |
//! | gray, grey, grayscale, greyscale, black and white, monochrome, noir | [`Effect::Grayscale`] |
//! | sketch, edges, pencil, drawing, outline | [`Effect::Sketch`] |
//! | invert, inverted, negative | [`Effect::Invert`] |
//! | warm, warmer, sunset, golden | [`Effect::Warm`] |
//! | cool, cooler, cold, winter, icy | [`Effect::Cool`] |
//! | posterize, poster, cartoon, comic | [`Effect::Posterize`] |
//! | mirror, mirrored, flip | [`Effect::Mirror`] |
//!
//! Matching ignores case and punctuation and takes whole words (or the whole phrase).
//! Effects run in the order of [`Effect`], whatever the order of the words; the tint of a
//! reference image comes last. No matching word and no image is the passthrough.
//!
//! Colours are BT.601 limited range ("studio swing"), as browsers encode camera video.

use crate::codec::I420Frame;

/// One image operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// Flip left and right.
    Mirror,
    /// Dark edges on white (gradient magnitude of the luma), no colour.
    Sketch,
    /// Four levels of luma and of each chroma plane.
    Posterize,
    /// No colour (chroma 128).
    Grayscale,
    /// Toward red and yellow.
    Warm,
    /// Toward blue.
    Cool,
    /// The negative: every sample becomes 255 − itself.
    Invert,
}

/// Word (or phrase) → effect, in the order of the table in the module docs.
const WORDS: &[(&str, Effect)] = &[
    ("gray", Effect::Grayscale),
    ("grey", Effect::Grayscale),
    ("grayscale", Effect::Grayscale),
    ("greyscale", Effect::Grayscale),
    ("black and white", Effect::Grayscale),
    ("monochrome", Effect::Grayscale),
    ("noir", Effect::Grayscale),
    ("sketch", Effect::Sketch),
    ("edges", Effect::Sketch),
    ("pencil", Effect::Sketch),
    ("drawing", Effect::Sketch),
    ("outline", Effect::Sketch),
    ("invert", Effect::Invert),
    ("inverted", Effect::Invert),
    ("negative", Effect::Invert),
    ("warm", Effect::Warm),
    ("warmer", Effect::Warm),
    ("sunset", Effect::Warm),
    ("golden", Effect::Warm),
    ("cool", Effect::Cool),
    ("cooler", Effect::Cool),
    ("cold", Effect::Cool),
    ("winter", Effect::Cool),
    ("icy", Effect::Cool),
    ("posterize", Effect::Posterize),
    ("poster", Effect::Posterize),
    ("cartoon", Effect::Posterize),
    ("comic", Effect::Posterize),
    ("mirror", Effect::Mirror),
    ("mirrored", Effect::Mirror),
    ("flip", Effect::Mirror),
];

/// A colour in BT.601 limited-range YUV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv {
    /// Luma, 16..=235.
    pub y: u8,
    /// Blue-difference chroma, 16..=240.
    pub u: u8,
    /// Red-difference chroma, 16..=240.
    pub v: u8,
}

fn to_u8(v: f64) -> u8 {
    // Clamped to the u8 range first, so the cast cannot truncate.
    v.round().clamp(0.0, 255.0) as u8
}

impl Yuv {
    /// The colour of an RGB triple.
    pub fn from_rgb([r, g, b]: [u8; 3]) -> Yuv {
        let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
        Yuv {
            y: to_u8(16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0),
            u: to_u8(128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0),
            v: to_u8(128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0),
        }
    }

    /// The RGB triple of this colour.
    pub fn to_rgb(self) -> [u8; 3] {
        let y = 1.164 * (f64::from(self.y) - 16.0);
        let (u, v) = (f64::from(self.u) - 128.0, f64::from(self.v) - 128.0);
        [
            to_u8(y + 1.596 * v),
            to_u8(y - 0.392 * u - 0.813 * v),
            to_u8(y + 2.017 * u),
        ]
    }
}

/// What the output looks like: the prompt's effects and a reference image's tint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    effects: Vec<Effect>,
    tint: Option<Yuv>,
}

impl Look {
    /// The look of a prompt (`None`: no prompt) and an optional reference tint.
    pub fn new(prompt: Option<&str>, tint: Option<Yuv>) -> Look {
        let mut effects = prompt.map(effects_of).unwrap_or_default();
        effects.sort();
        effects.dedup();
        Look { effects, tint }
    }

    /// The effects, in the order they run.
    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    /// The reference image's tint, if any.
    pub fn tint(&self) -> Option<Yuv> {
        self.tint
    }

    /// Whether the picture is left as it is.
    pub fn is_passthrough(&self) -> bool {
        self.effects.is_empty() && self.tint.is_none()
    }

    /// Applies every effect, then the tint, in place.
    pub fn apply(&self, frame: &mut I420Frame) {
        for effect in &self.effects {
            apply(*effect, frame);
        }
        if let Some(tint) = self.tint {
            apply_tint(tint, frame);
        }
    }
}

/// The effects named in `prompt`, in table order (may repeat).
fn effects_of(prompt: &str) -> Vec<Effect> {
    let words: Vec<String> = prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let text = format!(" {} ", words.join(" "));
    WORDS
        .iter()
        .filter(|(phrase, _)| text.contains(&format!(" {phrase} ")))
        .map(|(_, e)| *e)
        .collect()
}

/// Applies one effect in place.
pub fn apply(effect: Effect, frame: &mut I420Frame) {
    let (w, cw) = (frame.width(), frame.chroma_width());
    let (y, u, v) = frame.planes_mut();
    match effect {
        Effect::Mirror => {
            y.chunks_exact_mut(w).for_each(<[u8]>::reverse);
            u.chunks_exact_mut(cw).for_each(<[u8]>::reverse);
            v.chunks_exact_mut(cw).for_each(<[u8]>::reverse);
        }
        Effect::Sketch => {
            sketch(y, w);
            u.fill(128);
            v.fill(128);
        }
        Effect::Posterize => {
            for p in y.iter_mut().chain(u.iter_mut()).chain(v.iter_mut()) {
                // Four levels: the middle of each quarter of the range.
                *p = (*p & 0xC0) | 0x20;
            }
        }
        Effect::Grayscale => {
            u.fill(128);
            v.fill(128);
        }
        Effect::Warm => shift_chroma(u, v, -24, 24),
        Effect::Cool => shift_chroma(u, v, 24, -24),
        Effect::Invert => {
            for p in y.iter_mut().chain(u.iter_mut()).chain(v.iter_mut()) {
                *p = 255 - *p;
            }
        }
    }
}

fn shift_chroma(u: &mut [u8], v: &mut [u8], du: i16, dv: i16) {
    for p in u.iter_mut() {
        *p = (i16::from(*p) + du).clamp(16, 240) as u8;
    }
    for p in v.iter_mut() {
        *p = (i16::from(*p) + dv).clamp(16, 240) as u8;
    }
}

/// Dark lines where the luma changes: 235 (white) minus three times the central-difference
/// gradient magnitude, at least 16 (black).
fn sketch(y: &mut [u8], w: usize) {
    if w == 0 {
        return;
    }
    let src = y.to_vec();
    let h = src.len() / w;
    let at = |x: usize, r: usize| i32::from(src.get(r * w + x).copied().unwrap_or(0));
    for (r, row) in y.chunks_exact_mut(w).enumerate() {
        for (x, out) in row.iter_mut().enumerate() {
            let (l, rt) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let (up, dn) = (r.saturating_sub(1), (r + 1).min(h - 1));
            let g = (at(rt, r) - at(l, r)).abs() + (at(x, dn) - at(x, up)).abs();
            *out = (235 - 3 * g).clamp(16, 235) as u8;
        }
    }
}

/// Moves the picture toward `tint`: chroma halfway, luma a quarter of the way.
fn apply_tint(tint: Yuv, frame: &mut I420Frame) {
    let (y, u, v) = frame.planes_mut();
    let blend = |p: &mut u8, target: u8, num: u16, den: u16| {
        *p = ((u16::from(*p) * (den - num) + u16::from(target) * num) / den) as u8;
    };
    y.iter_mut().for_each(|p| blend(p, tint.y, 1, 4));
    u.iter_mut().for_each(|p| blend(p, tint.u, 1, 2));
    v.iter_mut().for_each(|p| blend(p, tint.v, 1, 2));
}

/// Largest side of a reference image, pixels.
const MAX_IMAGE_SIDE: u32 = 8192;

/// The mean colour of a PNG or JPEG reference image (the tint of `set_image`).
pub fn reference_tint(bytes: &[u8]) -> Result<Yuv, String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read image_data: {e}"))?;
    if !matches!(
        reader.format(),
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg)
    ) {
        return Err("image_data is not a PNG or JPEG image".into());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("image_data is not a decodable PNG or JPEG image: {e}"))?
        .into_rgb8();
    let n = u64::from(img.width()) * u64::from(img.height());
    if n == 0 {
        return Err("image_data is an empty image".into());
    }
    let mut sum = [0u64; 3];
    for px in img.pixels() {
        for (s, c) in sum.iter_mut().zip(px.0) {
            *s += u64::from(c);
        }
    }
    // Means of u8 values fit in u8.
    Ok(Yuv::from_rgb(sum.map(|s| (s / n) as u8)))
}

/// The frame as packed RGB (3 bytes per pixel, row-major), e.g. to save it as a picture.
pub fn to_rgb(frame: &I420Frame) -> Vec<u8> {
    let (w, cw) = (frame.width(), frame.chroma_width());
    let (y, u, v) = frame.planes();
    let mut out = Vec::with_capacity(y.len() * 3);
    for (i, &luma) in y.iter().enumerate() {
        let c = (i / w / 2) * cw + (i % w) / 2;
        let (cu, cv) = (
            u.get(c).copied().unwrap_or(128),
            v.get(c).copied().unwrap_or(128),
        );
        out.extend_from_slice(
            &Yuv {
                y: luma,
                u: cu,
                v: cv,
            }
            .to_rgb(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8×4, luma ramping left to right, distinct chroma on each half.
    fn sample() -> I420Frame {
        let mut f = I420Frame::filled(8, 4, [0, 0, 0]).unwrap();
        let (y, u, v) = f.planes_mut();
        for (i, p) in y.iter_mut().enumerate() {
            *p = 20 + 25 * (i % 8) as u8;
        }
        for (i, (pu, pv)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
            (*pu, *pv) = if i % 4 < 2 { (90, 170) } else { (160, 100) };
        }
        f
    }

    #[test]
    fn prompt_words_choose_effects() {
        let look = |p: &str| Look::new(Some(p), None).effects().to_vec();
        assert_eq!(look("A cat, in Black-and-White!"), [Effect::Grayscale]);
        assert_eq!(look("GRAYSCALE"), [Effect::Grayscale]);
        assert_eq!(
            look("negative sketch, mirrored"),
            [Effect::Mirror, Effect::Sketch, Effect::Invert]
        );
        assert_eq!(look("warm sunset"), [Effect::Warm]);
        assert_eq!(look("icy winter"), [Effect::Cool]);
        assert_eq!(look("comic book poster"), [Effect::Posterize]);
        // Whole words only.
        assert!(look("greyhound coolant, inverter").is_empty());
        assert!(Look::new(Some("a cat"), None).is_passthrough());
        assert!(Look::new(None, None).is_passthrough());
        assert!(!Look::new(None, Some(Yuv::from_rgb([1, 2, 3]))).is_passthrough());
    }

    #[test]
    fn grayscale_neutralises_chroma_only() {
        let src = sample();
        let mut f = src.clone();
        apply(Effect::Grayscale, &mut f);
        assert_eq!(f.planes().0, src.planes().0);
        assert!(f.planes().1.iter().chain(f.planes().2).all(|&c| c == 128));
    }

    #[test]
    fn invert_is_the_negative_and_undoes_itself() {
        let src = sample();
        let mut f = src.clone();
        apply(Effect::Invert, &mut f);
        for (a, b) in f.planes().0.iter().zip(src.planes().0) {
            assert_eq!(*a, 255 - b);
        }
        assert_eq!(f.planes().1[0], 255 - 90);
        apply(Effect::Invert, &mut f);
        assert_eq!(f, src);
    }

    #[test]
    fn mirror_flips_rows_of_every_plane() {
        let src = sample();
        let mut f = src.clone();
        apply(Effect::Mirror, &mut f);
        assert_eq!(&f.planes().0[..8], &[195, 170, 145, 120, 95, 70, 45, 20]);
        assert_eq!(&f.planes().1[..4], &[160, 160, 90, 90]);
        apply(Effect::Mirror, &mut f);
        assert_eq!(f, src);
    }

    #[test]
    fn warm_cool_posterize_sketch() {
        let src = sample();
        let mut warm = src.clone();
        apply(Effect::Warm, &mut warm);
        assert!(warm.planes().2[0] > src.planes().2[0] && warm.planes().1[0] < src.planes().1[0]);
        let mut cool = src.clone();
        apply(Effect::Cool, &mut cool);
        assert!(cool.planes().1[0] > src.planes().1[0] && cool.planes().2[0] < src.planes().2[0]);
        let mut poster = src.clone();
        apply(Effect::Posterize, &mut poster);
        let mut levels: Vec<u8> = poster.planes().0.to_vec();
        levels.sort();
        levels.dedup();
        assert!(levels.len() <= 4, "{levels:?}");
        // A flat picture sketches to white; a ramp to grey lines.
        let mut flat = I420Frame::filled(8, 4, [100, 90, 160]).unwrap();
        apply(Effect::Sketch, &mut flat);
        assert!(flat.planes().0.iter().all(|&p| p == 235));
        assert!(flat.planes().1.iter().all(|&p| p == 128));
        let mut ramp = src.clone();
        apply(Effect::Sketch, &mut ramp);
        assert!(ramp.planes().0[3] < 100, "{:?}", ramp.planes().0);
    }

    #[test]
    fn tint_pulls_toward_the_reference_colour() {
        let red = Yuv::from_rgb([255, 0, 0]);
        assert!(red.v > 200 && red.u < 128);
        let mut f = I420Frame::filled(4, 4, [126, 128, 128]).unwrap();
        Look::new(None, Some(red)).apply(&mut f);
        let (_, u, v) = f.planes();
        assert_eq!(v[0], ((128 + u16::from(red.v)) / 2) as u8);
        assert_eq!(u[0], ((128 + u16::from(red.u)) / 2) as u8);
        let [r, g, b] = Yuv {
            y: f.planes().0[0],
            u: u[0],
            v: v[0],
        }
        .to_rgb();
        assert!(r > g + 40 && r > b + 40, "reddish: {r} {g} {b}");
    }

    #[test]
    fn rgb_round_trip() {
        for rgb in [[0, 0, 0], [255, 255, 255], [200, 50, 30], [10, 120, 240]] {
            let back = Yuv::from_rgb(rgb).to_rgb();
            for (a, b) in rgb.iter().zip(back) {
                assert!(a.abs_diff(b) <= 3, "{rgb:?} -> {back:?}");
            }
        }
        let c = Yuv::from_rgb([200, 50, 30]);
        let f = I420Frame::filled(3, 3, [c.y, c.u, c.v]).unwrap();
        let rgb = to_rgb(&f);
        assert_eq!(rgb.len(), 27);
        assert!(rgb[24].abs_diff(200) <= 3 && rgb[26].abs_diff(30) <= 3);
    }

    fn encode_png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn reference_images_png_and_jpeg() {
        let tint = reference_tint(&encode_png(16, 8, [30, 60, 220])).unwrap();
        assert_eq!(tint, Yuv::from_rgb([30, 60, 220]));
        let img = image::RgbImage::from_pixel(16, 16, image::Rgb([220, 120, 20]));
        let mut jpeg = std::io::Cursor::new(Vec::new());
        img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
        let [r, g, b] = reference_tint(jpeg.get_ref()).unwrap().to_rgb();
        assert!(r.abs_diff(220) < 12 && g.abs_diff(120) < 12 && b.abs_diff(20) < 12);
        assert!(reference_tint(b"not an image")
            .unwrap_err()
            .contains("PNG or JPEG"));
        let mut truncated = encode_png(16, 8, [1, 2, 3]);
        truncated.truncate(40);
        assert!(reference_tint(&truncated).is_err());
        assert!(reference_tint(b"GIF89a\x01\x00\x01\x00").is_err());
    }
}
