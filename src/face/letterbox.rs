//! Fitting a photo of any shape into the detector's square input, and mapping the
//! detector's coordinates back onto the photo.
//!
//! The photo is scaled to fit the square, keeping its aspect ratio, and centred;
//! the bands left over are black (-1), as in MediaPipe's own letterboxing.

use super::Point;
use crate::tensor::TensorF32;
use image::{imageops::FilterType, DynamicImage};
use serde::{Deserialize, Serialize};

/// Where a photo sits inside a square model input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Letterbox {
    /// Side of the square input, in input pixels.
    pub size: u32,
    pub photo_width: u32,
    pub photo_height: u32,
    /// The photo's size once scaled into the input.
    pub scaled_width: u32,
    pub scaled_height: u32,
    /// Offset of the scaled photo's top-left corner in the input.
    pub pad_x: u32,
    pub pad_y: u32,
}

impl Letterbox {
    /// The placement of a `photo_width` x `photo_height` photo in a `size` square.
    pub fn new(photo_width: u32, photo_height: u32, size: u32) -> Self {
        let (w, h) = (photo_width.max(1), photo_height.max(1));
        let longest = w.max(h) as f64;
        let fit = |side: u32| ((side as f64 * size as f64 / longest).round() as u32).clamp(1, size);
        let (scaled_width, scaled_height) = (fit(w), fit(h));
        Letterbox {
            size,
            photo_width: w,
            photo_height: h,
            scaled_width,
            scaled_height,
            pad_x: (size - scaled_width) / 2,
            pad_y: (size - scaled_height) / 2,
        }
    }

    /// Photo pixels per input pixel, horizontally and vertically.
    fn photo_per_input(&self) -> (f32, f32) {
        (
            self.photo_width as f32 / self.scaled_width as f32,
            self.photo_height as f32 / self.scaled_height as f32,
        )
    }

    /// A point in the detector's normalised coordinates (0..1 across the input
    /// square) to photo pixels.
    pub fn to_photo(&self, x: f32, y: f32) -> Point {
        let (sx, sy) = self.photo_per_input();
        let s = self.size as f32;
        Point {
            x: (x * s - self.pad_x as f32) * sx,
            y: (y * s - self.pad_y as f32) * sy,
        }
    }

    /// A width and height in normalised input units to photo pixels.
    pub fn size_to_photo(&self, width: f32, height: f32) -> (f32, f32) {
        let (sx, sy) = self.photo_per_input();
        let s = self.size as f32;
        (width * s * sx, height * s * sy)
    }

    /// A photo pixel position to normalised input coordinates (the inverse of
    /// [`Letterbox::to_photo`]).
    pub fn to_input(&self, p: Point) -> (f32, f32) {
        let (sx, sy) = self.photo_per_input();
        let s = self.size as f32;
        (
            (p.x / sx + self.pad_x as f32) / s,
            (p.y / sy + self.pad_y as f32) / s,
        )
    }

    /// Whether a photo pixel position lies on the photo.
    pub fn contains(&self, p: Point) -> bool {
        p.x >= 0.0 && p.y >= 0.0 && p.x < self.photo_width as f32 && p.y < self.photo_height as f32
    }

    /// The detector input for `photo`: NHWC `[1, size, size, 3]`, RGB scaled to [-1, 1].
    pub fn tensor(&self, photo: &DynamicImage) -> TensorF32 {
        let (w, h) = (self.scaled_width, self.scaled_height);
        // Large reductions by area averaging (fast on multi-megapixel photos, no
        // aliasing); small ones and enlargements with a triangle filter.
        let scaled = if photo.width() >= 2 * w && photo.height() >= 2 * h {
            photo.thumbnail_exact(w, h)
        } else {
            photo.resize_exact(w, h, FilterType::Triangle)
        }
        .to_rgb8();
        let s = self.size as usize;
        let mut data = vec![-1.0f32; s * s * 3];
        for (x, y, px) in scaled.enumerate_pixels() {
            let at = ((y + self.pad_y) as usize * s + (x + self.pad_x) as usize) * 3;
            for c in 0..3 {
                data[at + c] = px[c] as f32 / 127.5 - 1.0;
            }
        }
        TensorF32 {
            shape: vec![1, s, s, 3],
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn wide_photo_is_centred_with_bands_above_and_below() {
        let lb = Letterbox::new(400, 200, 128);
        assert_eq!(
            (lb.scaled_width, lb.scaled_height, lb.pad_x, lb.pad_y),
            (128, 64, 0, 32)
        );
        let tall = Letterbox::new(300, 600, 256);
        assert_eq!(
            (
                tall.scaled_width,
                tall.scaled_height,
                tall.pad_x,
                tall.pad_y
            ),
            (128, 256, 64, 0)
        );
    }

    #[test]
    fn photo_and_input_coordinates_round_trip() {
        for (w, h, size) in [
            (400, 200, 128),
            (333, 1000, 256),
            (48, 48, 128),
            (4032, 3024, 256),
        ] {
            let lb = Letterbox::new(w, h, size);
            for p in [
                Point { x: 0.0, y: 0.0 },
                Point {
                    x: w as f32 * 0.3,
                    y: h as f32 * 0.9,
                },
                Point {
                    x: w as f32,
                    y: h as f32,
                },
            ] {
                let (nx, ny) = lb.to_input(p);
                assert!(
                    (0.0..=1.0).contains(&nx) && (0.0..=1.0).contains(&ny),
                    "{nx} {ny}"
                );
                let back = lb.to_photo(nx, ny);
                let tolerance = 1e-4 * w.max(h) as f32;
                assert!(
                    (back.x - p.x).abs() < tolerance && (back.y - p.y).abs() < tolerance,
                    "{p:?} -> {back:?}"
                );
            }
            // The photo's corners land on the band edges.
            let (x0, y0) = lb.to_input(Point { x: 0.0, y: 0.0 });
            assert!(
                (x0 * size as f32 - lb.pad_x as f32).abs() < 1e-4
                    && (y0 * size as f32 - lb.pad_y as f32).abs() < 1e-4
            );
            let (bw, bh) = lb.size_to_photo(
                lb.scaled_width as f32 / size as f32,
                lb.scaled_height as f32 / size as f32,
            );
            assert!((bw - w as f32).abs() < 1e-2 && (bh - h as f32).abs() < 1e-2);
        }
    }

    #[test]
    fn tensor_is_nhwc_rgb_in_minus_one_to_one_with_black_bands() {
        // 200x100: left half red, right half white.
        let img = RgbImage::from_fn(200, 100, |x, _| {
            if x < 100 {
                Rgb([255, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let lb = Letterbox::new(200, 100, 128);
        let t = lb.tensor(&DynamicImage::ImageRgb8(img));
        assert_eq!(t.shape, vec![1, 128, 128, 3]);
        let px = |x: usize, y: usize| &t.data[(y * 128 + x) * 3..(y * 128 + x) * 3 + 3];
        assert_eq!(px(5, 5), [-1.0, -1.0, -1.0], "band");
        assert_eq!(px(10, 64), [1.0, -1.0, -1.0], "red");
        assert_eq!(px(120, 64), [1.0, 1.0, 1.0], "white");
        assert_eq!(px(120, 127), [-1.0, -1.0, -1.0], "band");
        assert!(t.data.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}
