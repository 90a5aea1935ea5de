//! Training-time augmentation of gray face images: flip, rotation, affine and
//! perspective jitter, random crop with padding, random erasing, and the ways real
//! photos differ from FER2013's faces (light, blur, noise, JPEG, low resolution: see
//! [`super::degrade`]). Each with its own probability; all geometry is one warp with
//! bilinear sampling ([`geometry`]).

use super::degrade;
use super::geometry::{invert, mul, translate, warp, IDENTITY};
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct Augment {
    /// Probability of a horizontal flip.
    #[arg(long, default_value_t = 0.5)]
    pub flip_p: f64,
    /// Probability of a rotation, and its largest angle in degrees.
    #[arg(long, default_value_t = 0.5)]
    pub rotate_p: f64,
    #[arg(long, default_value_t = 10.0)]
    pub rotate_deg: f64,
    /// Probability of an affine jitter (scale +-`scale`, shear +-`shear_deg`).
    #[arg(long, default_value_t = 0.5)]
    pub affine_p: f64,
    #[arg(long, default_value_t = 0.1)]
    pub scale: f64,
    #[arg(long, default_value_t = 5.0)]
    pub shear_deg: f64,
    /// Probability of a perspective jitter, and its strength (fraction of the side).
    #[arg(long, default_value_t = 0.2)]
    pub perspective_p: f64,
    #[arg(long, default_value_t = 0.05)]
    pub perspective: f64,
    /// Probability of a random crop after padding by `crop_pad` pixels.
    #[arg(long, default_value_t = 1.0)]
    pub crop_p: f64,
    #[arg(long, default_value_t = 4)]
    pub crop_pad: u32,
    /// Probability of erasing a random rectangle (2%..`erase_max_area` of the image).
    #[arg(long, default_value_t = 0.5)]
    pub erase_p: f64,
    #[arg(long, default_value_t = 0.2)]
    pub erase_max_area: f64,
    /// Probability of a light change: brightness +-`light_shift` (0..255 units),
    /// contrast x(1 +- `light_contrast`), gamma between 1/`light_gamma` and `light_gamma`.
    #[arg(long, default_value_t = 0.0)]
    pub light_p: f64,
    #[arg(long, default_value_t = 40.0)]
    pub light_shift: f64,
    #[arg(long, default_value_t = 0.4)]
    pub light_contrast: f64,
    #[arg(long, default_value_t = 1.6)]
    pub light_gamma: f64,
    /// Probability of a Gaussian blur, sigma up to `blur_max` pixels.
    #[arg(long, default_value_t = 0.0)]
    pub blur_p: f64,
    #[arg(long, default_value_t = 1.2)]
    pub blur_max: f64,
    /// Probability of sensor noise, sigma up to `noise_max` (0..255 units).
    #[arg(long, default_value_t = 0.0)]
    pub noise_p: f64,
    #[arg(long, default_value_t = 12.0)]
    pub noise_max: f64,
    /// Probability of JPEG compression, quality from `jpeg_min_quality` to 90.
    #[arg(long, default_value_t = 0.0)]
    pub jpeg_p: f64,
    #[arg(long, default_value_t = 15)]
    pub jpeg_min_quality: u8,
    /// Probability of a lower resolution: scaled down by up to `lowres_max`, then up.
    #[arg(long, default_value_t = 0.0)]
    pub lowres_p: f64,
    #[arg(long, default_value_t = 3.0)]
    pub lowres_max: f64,
}

impl Default for Augment {
    /// The command line's defaults.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            augment: Augment,
        }
        <Defaults as clap::Parser>::parse_from(["defaults"]).augment
    }
}

impl Augment {
    /// No augmentation at all.
    pub fn none() -> Self {
        Augment {
            flip_p: 0.0,
            rotate_p: 0.0,
            rotate_deg: 0.0,
            affine_p: 0.0,
            scale: 0.0,
            shear_deg: 0.0,
            perspective_p: 0.0,
            perspective: 0.0,
            crop_p: 0.0,
            crop_pad: 0,
            erase_p: 0.0,
            erase_max_area: 0.0,
            light_p: 0.0,
            light_shift: 0.0,
            light_contrast: 0.0,
            light_gamma: 1.0,
            blur_p: 0.0,
            blur_max: 0.0,
            noise_p: 0.0,
            noise_max: 0.0,
            jpeg_p: 0.0,
            jpeg_min_quality: 90,
            lowres_p: 0.0,
            lowres_max: 1.0,
        }
    }

    /// Returns an augmented copy of a `h x w` gray image.
    pub fn apply<R: Rng>(&self, src: &[u8], h: usize, w: usize, rng: &mut R) -> Vec<u8> {
        let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
        // Forward map from source to output coordinates, built around the centre.
        let mut m = translate(-cx, -cy);
        if rng.random_bool(self.flip_p.clamp(0.0, 1.0)) {
            m = mul(&[[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], &m);
        }
        if rng.random_bool(self.affine_p.clamp(0.0, 1.0)) {
            let s = 1.0 + rng.random_range(-1.0..=1.0) * self.scale;
            let sh = (rng.random_range(-1.0..=1.0) * self.shear_deg)
                .to_radians()
                .tan();
            m = mul(&[[s, s * sh, 0.0], [0.0, s, 0.0], [0.0, 0.0, 1.0]], &m);
        }
        if rng.random_bool(self.rotate_p.clamp(0.0, 1.0)) {
            let a = (rng.random_range(-1.0..=1.0) * self.rotate_deg).to_radians();
            m = mul(
                &[
                    [a.cos(), -a.sin(), 0.0],
                    [a.sin(), a.cos(), 0.0],
                    [0.0, 0.0, 1.0],
                ],
                &m,
            );
        }
        if rng.random_bool(self.perspective_p.clamp(0.0, 1.0)) {
            let k = self.perspective / (w.max(h) as f64 / 2.0);
            let (px, py) = (
                rng.random_range(-1.0..=1.0) * k,
                rng.random_range(-1.0..=1.0) * k,
            );
            m = mul(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [px, py, 1.0]], &m);
        }
        let (mut tx, mut ty) = (cx, cy);
        if self.crop_pad > 0 && rng.random_bool(self.crop_p.clamp(0.0, 1.0)) {
            let p = self.crop_pad as i32;
            tx += rng.random_range(-p..=p) as f64;
            ty += rng.random_range(-p..=p) as f64;
        }
        m = mul(&translate(tx, ty), &m);
        let mut out = warp(src, h, w, &invert(&m).unwrap_or(IDENTITY));
        self.photo(&mut out, h, w, rng);
        if rng.random_bool(self.erase_p.clamp(0.0, 1.0)) && self.erase_max_area > 0.02 {
            erase(&mut out, h, w, self.erase_max_area, rng);
        }
        out
    }
}

impl Augment {
    /// The photographic changes, in the order a camera and a web page make them.
    fn photo<R: Rng>(&self, img: &mut [u8], h: usize, w: usize, rng: &mut R) {
        let mut coin = |p: f64| rng.random_bool(p.clamp(0.0, 1.0));
        let (lowres, blur, light, noise, jpeg) = (
            coin(self.lowres_p),
            coin(self.blur_p),
            coin(self.light_p),
            coin(self.noise_p),
            coin(self.jpeg_p),
        );
        if lowres && self.lowres_max > 1.0 {
            degrade::low_resolution(img, h, w, rng.random_range(1.0..self.lowres_max));
        }
        if blur && self.blur_max > 0.0 {
            degrade::blur(img, h, w, rng.random_range(0.0..self.blur_max));
        }
        if light {
            let shift = rng.random_range(-1.0..=1.0) * self.light_shift;
            let contrast = 1.0 + rng.random_range(-1.0..=1.0) * self.light_contrast;
            let gamma = self.light_gamma.max(1.0).powf(rng.random_range(-1.0..=1.0));
            degrade::light(img, shift, contrast, gamma);
        }
        if noise && self.noise_max > 0.0 {
            let sigma = rng.random_range(0.0..self.noise_max);
            degrade::noise(img, sigma, rng);
        }
        if jpeg && self.jpeg_min_quality < 90 {
            degrade::jpeg(img, h, w, rng.random_range(self.jpeg_min_quality..=90));
        }
    }
}

fn erase<R: Rng>(img: &mut [u8], h: usize, w: usize, max_area: f64, rng: &mut R) {
    let area = rng.random_range(0.02..max_area) * (h * w) as f64;
    let aspect = rng.random_range(0.3f64.ln()..3.3f64.ln()).exp();
    let eh = ((area * aspect).sqrt().round() as usize).clamp(1, h);
    let ew = ((area / aspect).sqrt().round() as usize).clamp(1, w);
    let (y0, x0) = (rng.random_range(0..=h - eh), rng.random_range(0..=w - ew));
    for y in y0..y0 + eh {
        for x in x0..x0 + ew {
            img[y * w + x] = rng.random();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp(h: usize, w: usize) -> Vec<u8> {
        (0..h * w)
            .map(|i| ((i % w) * 255 / (w - 1)) as u8)
            .collect()
    }

    #[test]
    fn no_augmentation_is_the_identity() {
        let img = ramp(48, 48);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        assert_eq!(Augment::none().apply(&img, 48, 48, &mut rng), img);
    }

    #[test]
    fn flip_mirrors_the_image() {
        let img = ramp(48, 48);
        let aug = Augment {
            flip_p: 1.0,
            ..Augment::none()
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let out = aug.apply(&img, 48, 48, &mut rng);
        for y in 0..48 {
            for x in 0..48 {
                assert_eq!(out[y * 48 + x], img[y * 48 + 47 - x]);
            }
        }
    }

    #[test]
    fn default_augmentation_keeps_the_picture_recognisable() {
        let img = ramp(48, 48);
        let aug = Augment {
            erase_p: 0.0,
            flip_p: 0.0,
            ..Augment::default()
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..20 {
            let out = aug.apply(&img, 48, 48, &mut rng);
            let mean_diff: f64 = out
                .iter()
                .zip(&img)
                .map(|(a, b)| (*a as f64 - *b as f64).abs())
                .sum::<f64>()
                / img.len() as f64;
            assert!(mean_diff < 40.0, "{mean_diff}");
        }
    }

    #[test]
    fn erasing_changes_a_bounded_region() {
        let img = vec![128u8; 48 * 48];
        let aug = Augment {
            erase_p: 1.0,
            erase_max_area: 0.2,
            ..Augment::none()
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let out = aug.apply(&img, 48, 48, &mut rng);
        let changed = out.iter().filter(|&&v| v != 128).count();
        assert!(changed > 0 && changed as f64 <= 0.21 * 2304.0, "{changed}");
    }
}
