//! The ways a face in a real photo differs from a FER2013 face, as operations on a
//! gray face image: light (brightness, contrast, gamma), blur, sensor noise, JPEG
//! compression, low resolution (down-scaled then up-scaled), and the crop being
//! shifted, scaled or turned as the face finder's crop varies. Training draws them at
//! random ([`super::augment::Augment`]); `eval --val-c` applies each at a fixed
//! strength ([`Degradation::ALL`]) to measure what each costs.

use super::geometry;
use image::{codecs::jpeg::JpegEncoder, imageops::FilterType, GrayImage};
use rand::Rng;

// The warps the degradations and augmentation share: a file of its own beside this one.

/// Brightness shift (in 0..255 units), contrast factor around mid-gray, then gamma.
pub fn light(img: &mut [u8], shift: f64, contrast: f64, gamma: f64) {
    for v in img.iter_mut() {
        let x = ((*v as f64 - 128.0) * contrast + 128.0 + shift).clamp(0.0, 255.0) / 255.0;
        *v = (x.powf(gamma) * 255.0).round() as u8;
    }
}

/// Gaussian blur with standard deviation `sigma` pixels (edges repeated).
pub fn blur(img: &mut [u8], h: usize, w: usize, sigma: f64) {
    if sigma <= 0.0 {
        return;
    }
    let r = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let pass = |src: &[f64], horizontal: bool| -> Vec<f64> {
        let mut out = vec![0.0; h * w];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as isize - r;
                    let (sx, sy) = if horizontal {
                        ((x + d).clamp(0, w as isize - 1), y)
                    } else {
                        (x, (y + d).clamp(0, h as isize - 1))
                    };
                    acc += weight * src[sy as usize * w + sx as usize];
                }
                out[y as usize * w + x as usize] = acc / total;
            }
        }
        out
    };
    let src: Vec<f64> = img.iter().map(|&v| v as f64).collect();
    let out = pass(&pass(&src, true), false);
    for (v, o) in img.iter_mut().zip(out) {
        *v = o.round().clamp(0.0, 255.0) as u8;
    }
}

/// Adds Gaussian noise of standard deviation `sigma` (0..255 units).
pub fn noise<R: Rng>(img: &mut [u8], sigma: f64, rng: &mut R) {
    for v in img.iter_mut() {
        // Box-Muller.
        let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
        let n = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        *v = (*v as f64 + sigma * n).round().clamp(0.0, 255.0) as u8;
    }
}

/// Encodes as JPEG at `quality` (1..100) and decodes again.
pub fn jpeg(img: &mut [u8], h: usize, w: usize, quality: u8) {
    let Some(gray) = GrayImage::from_raw(w as u32, h as u32, img.to_vec()) else {
        return;
    };
    let mut bytes = Vec::new();
    if JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode_image(&gray)
        .is_err()
    {
        return;
    }
    if let Ok(decoded) = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg) {
        let decoded = decoded.to_luma8();
        if decoded.len() == img.len() {
            img.copy_from_slice(decoded.as_raw());
        }
    }
}

/// Scales down by `factor` (> 1) and back up: a face with fewer real pixels.
pub fn low_resolution(img: &mut [u8], h: usize, w: usize, factor: f64) {
    let Some(gray) = GrayImage::from_raw(w as u32, h as u32, img.to_vec()) else {
        return;
    };
    let (sw, sh) = (
        ((w as f64 / factor).round() as u32).max(2),
        ((h as f64 / factor).round() as u32).max(2),
    );
    let small = image::imageops::resize(&gray, sw, sh, FilterType::Triangle);
    let back = image::imageops::resize(&small, w as u32, h as u32, FilterType::Triangle);
    img.copy_from_slice(back.as_raw());
}

/// One degradation at a fixed strength, for `eval --val-c`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Degradation {
    Jpeg(u8),
    Blur(f64),
    Noise(f64),
    Brightness(f64),
    Contrast(f64),
    Gamma(f64),
    LowResolution(f64),
    /// Crop moved by (dx, dy) pixels.
    Shift(f64, f64),
    /// Crop scaled: > 1 zooms in (tighter crop), < 1 out (looser crop).
    Scale(f64),
    /// Crop turned by degrees.
    Rotate(f64),
}

impl Degradation {
    /// The `val-c` set: each at a strength seen in ordinary photos and in the face
    /// finder's crops. The crop's scale spread is measured: on FER2013 faces pasted into
    /// photos the face image was 0.96-1.49 times BlazeFace's box (10th-90th percentile)
    /// around the 1.2 the app crops at, i.e. about +-20%.
    pub const ALL: [Degradation; 12] = [
        Degradation::Jpeg(20),
        Degradation::Blur(1.0),
        Degradation::Noise(10.0),
        Degradation::Brightness(50.0),
        Degradation::Brightness(-50.0),
        Degradation::Contrast(0.5),
        Degradation::Gamma(1.6),
        Degradation::LowResolution(3.0),
        Degradation::Shift(3.0, -3.0),
        Degradation::Scale(1.2),
        Degradation::Scale(0.8),
        Degradation::Rotate(12.0),
    ];

    pub fn name(&self) -> String {
        match self {
            Degradation::Jpeg(q) => format!("jpeg q{q}"),
            Degradation::Blur(s) => format!("blur sigma {s}"),
            Degradation::Noise(s) => format!("noise sigma {s}"),
            Degradation::Brightness(b) => format!("brightness {b:+}"),
            Degradation::Contrast(c) => format!("contrast x{c}"),
            Degradation::Gamma(g) => format!("gamma {g}"),
            Degradation::LowResolution(f) => format!("low resolution 1/{f}"),
            Degradation::Shift(x, y) => format!("crop shift {x:+},{y:+} px"),
            Degradation::Scale(s) => format!("crop scale x{s}"),
            Degradation::Rotate(d) => format!("rotation {d} deg"),
        }
    }

    /// A degraded copy of a `h x w` gray face (noise seeded by `seed`, so every model
    /// sees the same faces).
    pub fn apply(&self, src: &[u8], h: usize, w: usize, seed: u64) -> Vec<u8> {
        let mut img = src.to_vec();
        match *self {
            Degradation::Jpeg(q) => jpeg(&mut img, h, w, q),
            Degradation::Blur(s) => blur(&mut img, h, w, s),
            Degradation::Noise(s) => noise(
                &mut img,
                s,
                &mut <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(seed),
            ),
            Degradation::Brightness(b) => light(&mut img, b, 1.0, 1.0),
            Degradation::Contrast(c) => light(&mut img, 0.0, c, 1.0),
            Degradation::Gamma(g) => light(&mut img, 0.0, 1.0, g),
            Degradation::LowResolution(f) => low_resolution(&mut img, h, w, f),
            Degradation::Shift(dx, dy) => {
                img = geometry::warp_similarity(src, h, w, 1.0, 0.0, dx, dy)
            }
            Degradation::Scale(s) => img = geometry::warp_similarity(src, h, w, s, 0.0, 0.0, 0.0),
            Degradation::Rotate(d) => img = geometry::warp_similarity(src, h, w, 1.0, d, 0.0, 0.0),
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn face() -> Vec<u8> {
        (0..48 * 48)
            .map(|i| (((i % 48) * 5 + (i / 48) * 3) % 256) as u8)
            .collect()
    }

    #[test]
    fn neutral_strengths_change_nothing() {
        let mut img = face();
        light(&mut img, 0.0, 1.0, 1.0);
        blur(&mut img, 48, 48, 0.0);
        assert_eq!(img, face());
    }

    #[test]
    fn each_degradation_changes_the_face_but_keeps_its_size() {
        for d in Degradation::ALL {
            let out = d.apply(&face(), 48, 48, 1);
            assert_eq!(out.len(), 48 * 48, "{}", d.name());
            assert_ne!(out, face(), "{} changed nothing", d.name());
            assert_eq!(
                out,
                d.apply(&face(), 48, 48, 1),
                "{} is not repeatable",
                d.name()
            );
        }
    }

    #[test]
    fn blur_keeps_a_flat_image_flat_and_smooths_an_edge() {
        let mut flat = vec![100u8; 48 * 48];
        blur(&mut flat, 48, 48, 1.5);
        assert!(flat.iter().all(|&v| v == 100));
        let mut edge: Vec<u8> = (0..48 * 48)
            .map(|i| if i % 48 < 24 { 0 } else { 255 })
            .collect();
        blur(&mut edge, 48, 48, 1.5);
        assert!(
            edge[24] > 60 && edge[24] < 200 && edge[0] == 0 && edge[47] == 255,
            "{:?}",
            &edge[20..28]
        );
    }

    #[test]
    fn noise_has_the_asked_spread() {
        let mut img = vec![128u8; 10_000];
        noise(&mut img, 10.0, &mut rand::rngs::SmallRng::seed_from_u64(3));
        let mean = img.iter().map(|&v| v as f64).sum::<f64>() / 1e4;
        let sd = (img.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 1e4).sqrt();
        assert!(
            (mean - 128.0).abs() < 0.5 && (sd - 10.0).abs() < 0.5,
            "mean {mean} sd {sd}"
        );
    }
}
