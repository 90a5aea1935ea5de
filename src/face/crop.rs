//! A found face, upright and framed like the classifier's training faces: read as the
//! classifier's gray levels ([`face_levels`]), or cut out in colour to show
//! ([`crop_face`]).

use std::borrow::Cow;

use super::{Face, Point};
use crate::preprocess::levels_to_gray;
use image::{imageops::FilterType, DynamicImage, GrayImage, Rgb, RgbImage};

/// Side of the crop as a multiple of the detector box's larger side, so crops are
/// framed like FER2013's faces, which the classifier learnt from: on 169 FER2013
/// faces pasted into photos, the FER image was 1.22 times BlazeFace's box (median;
/// 0.96-1.49 from the 10th to the 90th percentile; `measure_detection_by_face_size`
/// in `tests/face_detection.rs`).
pub const CROP_SCALE: f32 = 1.2;

/// How far the crop centre sits above the box centre, as a fraction of the box
/// height, along the upright face's vertical: the box runs from the brows to the
/// chin, FER2013's frame includes the forehead (measured median 0.11).
pub const CROP_SHIFT_UP: f32 = 0.1;

/// Crops are at most this many pixels a side: the classifier reads 48x48, and the
/// app shows crops as thumbnails.
pub const MAX_CROP_SIDE: u32 = 256;

/// The face's square crop, rotated so the eyes are level (the head's roll undone),
/// with the margin of [`CROP_SCALE`]. Parts beyond the photo's edge repeat the edge.
pub fn crop_face(photo: &DynamicImage, face: &Face) -> DynamicImage {
    let (centre, side) = face_square(face);
    DynamicImage::ImageRgb8(rotated_square(photo, centre, side, face.roll))
}

/// The centre and side, in photo pixels, of the square [`crop_face`] and
/// [`face_levels`] read (turned by the face's roll).
fn face_square(face: &Face) -> (Point, f32) {
    let side = face.rect.width.max(face.rect.height) * CROP_SCALE;
    let (sin, cos) = face.roll.sin_cos();
    let shift = CROP_SHIFT_UP * face.rect.height;
    let c = face.rect.centre();
    // The upright face's "up" is the photo's (sin, -cos) direction.
    let centre = Point {
        x: c.x + shift * sin,
        y: c.y - shift * cos,
    };
    (centre, side.max(1.0))
}

/// The side in pixels of the picture [`crop_face`] cuts for `face`.
pub fn crop_side(face: &Face) -> u32 {
    crop_pixels(face_square(face).1)
}

/// Pixels a side of a crop `side` photo pixels wide: one per photo pixel, at most
/// [`MAX_CROP_SIDE`].
fn crop_pixels(side: f32) -> u32 {
    (side.round() as u32).clamp(1, MAX_CROP_SIDE)
}

/// Samples per axis that [`face_levels`] averages for each of its pixels (even).
const TAPS: usize = 8;

/// The classifier's view of `face`: the square of [`crop_face`], in gray, `width` x
/// `height` gray levels (0 to 255, row by row, not rounded), read straight from the
/// photo. Each is the tent-weighted mean of [`TAPS`] x [`TAPS`] bilinear samples of
/// the photo's luma spread over its footprint (two output pixels wide), like the
/// triangle filter of a resize. Neighbouring pixels' footprints overlap by half, so
/// the samples lie on one grid, read once, and the mean is taken across, then down.
///
/// Every step is continuous in the box, its roll and the photo's pixels, so a face
/// that moves by a fraction of a pixel (a webcam frame, the GPU's box against the
/// CPU's) is read a fraction differently. Read through [`crop_face`]'s picture
/// instead, which is cut on the photo's pixel grid, sized in whole pixels and
/// rounded to whole gray levels twice, a move of 1e-4 px changed the percentages of
/// film faces by up to 0.3 point (`measure_steadiness` in `tests/face_detection.rs`).
pub fn face_levels(photo: &DynamicImage, face: &Face, width: u32, height: u32) -> Vec<f32> {
    let pixels = LumaSource::new(photo);
    let (centre, side) = face_square(face);
    let (width, height) = (width.max(1) as usize, height.max(1) as usize);
    // Output pixel u's samples are grid points HALF * u + i (i < TAPS), the grid's
    // spacing a HALF-th of the output's, centred on the square.
    const HALF: usize = TAPS / 2;
    let grid = |n: usize, step: f32| -> Vec<f32> {
        let spacing = step / HALF as f32;
        let first = 0.5 - (HALF * (n + 1)) as f32 / 2.0;
        (0..HALF * (n + 1))
            .map(|j| (j as f32 + first) * spacing)
            .collect()
    };
    let (xs, ys) = (
        grid(width, side / width as f32),
        grid(height, side / height as f32),
    );
    let weights: Vec<f32> = (0..TAPS)
        .map(|i| 1.0 - ((i as f32 + 0.5) / HALF as f32 - 1.0).abs())
        .collect();
    let total = weights.iter().sum::<f32>().powi(2);
    let (sin, cos) = face.roll.sin_cos();

    // Across: each grid row's samples, weighted into `width` sums.
    let mut across = vec![0.0f32; ys.len() * width];
    let mut row = vec![0.0f32; xs.len()];
    for (b, &dv) in ys.iter().enumerate() {
        for (sample, &du) in row.iter_mut().zip(&xs) {
            let x = centre.x + du * cos - dv * sin;
            let y = centre.y + du * sin + dv * cos;
            *sample = pixels.bilinear(x, y);
        }
        for u in 0..width {
            let taps = &row[HALF * u..HALF * u + TAPS];
            across[b * width + u] = taps.iter().zip(&weights).map(|(s, w)| s * w).sum();
        }
    }
    // Down.
    let mut levels = vec![0.0f32; width * height];
    for v in 0..height {
        for u in 0..width {
            let sum: f32 = (0..TAPS)
                .map(|i| weights[i] * across[(HALF * v + i) * width + u])
                .sum();
            levels[v * width + u] = sum / total;
        }
    }
    levels
}

/// [`face_levels`] rounded to a gray picture (to show, or to save as a training face).
pub fn face_gray(photo: &DynamicImage, face: &Face, width: u32, height: u32) -> GrayImage {
    let levels = face_levels(photo, face, width, height);
    levels_to_gray(&levels, width.max(1), height.max(1))
}

/// A photo's 8-bit pixels as they are stored (gray, gray + alpha, RGB or RGBA: a
/// webcam frame is RGBA), read as luma without converting the whole photo first.
struct LumaSource<'a> {
    raw: Cow<'a, [u8]>,
    width: usize,
    height: usize,
    channels: usize,
}

impl<'a> LumaSource<'a> {
    fn new(photo: &'a DynamicImage) -> Self {
        let (raw, channels): (Cow<'a, [u8]>, usize) = match photo {
            DynamicImage::ImageLuma8(img) => (Cow::Borrowed(img.as_raw()), 1),
            DynamicImage::ImageLumaA8(img) => (Cow::Borrowed(img.as_raw()), 2),
            DynamicImage::ImageRgb8(img) => (Cow::Borrowed(img.as_raw()), 3),
            DynamicImage::ImageRgba8(img) => (Cow::Borrowed(img.as_raw()), 4),
            other => (Cow::Owned(other.to_rgb8().into_raw()), 3),
        };
        LumaSource {
            raw,
            width: photo.width().max(1) as usize,
            height: photo.height().max(1) as usize,
            channels,
        }
    }

    /// The luma of one pixel (the weights of `image`'s own gray conversion).
    fn luma(&self, x: usize, y: usize) -> f32 {
        let i = (y * self.width + x) * self.channels;
        if self.channels < 3 {
            return self.raw[i] as f32;
        }
        let p = &self.raw[i..i + 3];
        0.2126 * p[0] as f32 + 0.7152 * p[1] as f32 + 0.0722 * p[2] as f32
    }

    /// The luma at a continuous position (pixel centres at +0.5), edges repeated.
    fn bilinear(&self, x: f32, y: f32) -> f32 {
        let (fx, fy) = (x - 0.5, y - 0.5);
        let (ix, iy) = (fx.floor(), fy.floor());
        let (ax, ay) = (fx - ix, fy - iy);
        // Clamped in f32 first: a position far outside the photo stays in range.
        let clamp = |v: f32, n: usize| v.clamp(0.0, (n - 1) as f32) as usize;
        let (x0, x1) = (clamp(ix, self.width), clamp(ix + 1.0, self.width));
        let (y0, y1) = (clamp(iy, self.height), clamp(iy + 1.0, self.height));
        let top = self.luma(x0, y0) * (1.0 - ax) + self.luma(x1, y0) * ax;
        let bottom = self.luma(x0, y1) * (1.0 - ax) + self.luma(x1, y1) * ax;
        top * (1.0 - ay) + bottom * ay
    }
}

/// The photo's largest centred square, for when no face is found (a photo that is
/// already a face crop, for instance), at most [`MAX_CROP_SIDE`] a side.
pub fn centre_square(photo: &DynamicImage) -> DynamicImage {
    let side = photo.width().min(photo.height()).max(1);
    let square = photo.crop_imm(
        (photo.width() - side) / 2,
        (photo.height() - side) / 2,
        side,
        side,
    );
    DynamicImage::ImageRgb8(shrink(&square, MAX_CROP_SIDE, MAX_CROP_SIDE).to_rgb8())
}

/// Scales `img` to `width` x `height` if that makes it smaller: by area averaging
/// for large reductions, a triangle filter for small ones.
fn shrink(img: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    if img.width() <= width && img.height() <= height {
        img.clone()
    } else if img.width() >= 2 * width && img.height() >= 2 * height {
        img.thumbnail_exact(width, height)
    } else {
        img.resize_exact(width, height, FilterType::Triangle)
    }
}

/// The square of side `side` photo pixels centred on `centre` and turned by `angle`
/// radians (its x axis along the photo's `(cos, sin)`), sampled upright.
fn rotated_square(photo: &DynamicImage, centre: Point, side: f32, angle: f32) -> RgbImage {
    let side = side.max(1.0);
    let out = crop_pixels(side);
    let (sin, cos) = angle.sin_cos();

    // Only the axis-aligned region around the turned square is read (and, for a big
    // face, first shrunk so each output pixel averages the photo pixels it covers).
    let reach = side / 2.0 * (cos.abs() + sin.abs()) + 2.0;
    let x0 = (centre.x - reach)
        .floor()
        .clamp(0.0, photo.width().saturating_sub(1) as f32) as u32;
    let y0 = (centre.y - reach)
        .floor()
        .clamp(0.0, photo.height().saturating_sub(1) as f32) as u32;
    let x1 = ((centre.x + reach).ceil() as u32).clamp(x0 + 1, photo.width().max(1));
    let y1 = ((centre.y + reach).ceil() as u32).clamp(y0 + 1, photo.height().max(1));
    let region = photo.crop_imm(x0, y0, x1 - x0, y1 - y0);
    let shrink_by = (out as f32 / side).min(1.0);
    let target = |len: u32| ((len as f32 * shrink_by).round() as u32).max(1);
    let region = shrink(&region, target(region.width()), target(region.height())).to_rgb8();
    // Region pixels per photo pixel, per axis.
    let kx = region.width() as f32 / (x1 - x0) as f32;
    let ky = region.height() as f32 / (y1 - y0) as f32;
    let (cx, cy) = ((centre.x - x0 as f32) * kx, (centre.y - y0 as f32) * ky);
    let step = side / out as f32;

    RgbImage::from_fn(out, out, |u, v| {
        let du = (u as f32 + 0.5 - out as f32 / 2.0) * step;
        let dv = (v as f32 + 0.5 - out as f32 / 2.0) * step;
        let sx = cx + (du * cos - dv * sin) * kx;
        let sy = cy + (du * sin + dv * cos) * ky;
        bilinear(&region, sx, sy)
    })
}

/// The colour at a continuous position (pixel centres at +0.5), edges repeated.
fn bilinear(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (fx, fy) = (x - 0.5, y - 0.5);
    let (ix, iy) = (fx.floor(), fy.floor());
    let (ax, ay) = (fx - ix, fy - iy);
    let at = |dx: i64, dy: i64| {
        let px = (ix as i64 + dx).clamp(0, w - 1) as u32;
        let py = (iy as i64 + dy).clamp(0, h - 1) as u32;
        img.get_pixel(px, py).0
    };
    let (p00, p10, p01, p11) = (at(0, 0), at(1, 0), at(0, 1), at(1, 1));
    let mut out = [0u8; 3];
    for c in 0..3 {
        let top = p00[c] as f32 * (1.0 - ax) + p10[c] as f32 * ax;
        let bottom = p01[c] as f32 * (1.0 - ax) + p11[c] as f32 * ax;
        out[c] = (top * (1.0 - ay) + bottom * ay).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::{Landmark, Rect};

    /// A white photo with two dark 6 px "eyes" at `right` and `left`.
    fn photo_with_eyes(right: Point, left: Point) -> DynamicImage {
        let img = RgbImage::from_fn(300, 240, |x, y| {
            let near = |p: Point| (x as f32 + 0.5 - p.x).hypot(y as f32 + 0.5 - p.y) < 6.0;
            if near(right) || near(left) {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        DynamicImage::ImageRgb8(img)
    }

    fn face_with_eyes(right: Point, left: Point) -> Face {
        let mut kp = [Point::default(); 6];
        kp[Landmark::RightEye as usize] = right;
        kp[Landmark::LeftEye as usize] = left;
        let c = Point {
            x: (right.x + left.x) / 2.0,
            y: (right.y + left.y) / 2.0,
        };
        Face::new(
            Rect {
                x: c.x - 50.0,
                y: c.y - 50.0,
                width: 100.0,
                height: 100.0,
            },
            0.9,
            kp,
        )
    }

    /// Centroid of the dark pixels in one half of the crop.
    fn dark_centroid(img: &RgbImage, left_half: bool) -> (f32, f32) {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for (x, y, p) in img.enumerate_pixels() {
            if p[0] < 128 && ((x < img.width() / 2) == left_half) {
                sx += x as f32;
                sy += y as f32;
                n += 1.0;
            }
        }
        assert!(n > 0.0, "no eye in this half");
        (sx / n, sy / n)
    }

    #[test]
    fn a_tilted_eye_pair_comes_out_level() {
        // Eyes 60 px apart on a line tilted by 30 degrees (down to the right).
        let angle = 30f32.to_radians();
        let right = Point { x: 120.0, y: 100.0 };
        let left = Point {
            x: 120.0 + 60.0 * angle.cos(),
            y: 100.0 + 60.0 * angle.sin(),
        };
        let face = face_with_eyes(right, left);
        assert!((face.roll - angle).abs() < 1e-5);
        let crop = crop_face(&photo_with_eyes(right, left), &face).to_rgb8();
        let side = (100.0 * CROP_SCALE).round() as u32;
        assert_eq!(crop.dimensions(), (side, side));
        let (r, l) = (dark_centroid(&crop, true), dark_centroid(&crop, false));
        assert!((r.1 - l.1).abs() < 1.0, "eyes not level: {r:?} {l:?}");
        assert!(
            ((l.0 - r.0) - 60.0).abs() < 1.5,
            "eye distance kept at scale 1: {r:?} {l:?}"
        );
        // The eyes' midpoint (the box centre here) is centred across, and sits
        // CROP_SHIFT_UP box heights below the middle, since the crop moves up the face.
        assert!(((r.0 + l.0) / 2.0 - side as f32 / 2.0).abs() < 1.0);
        let below = (r.1 + l.1) / 2.0 - side as f32 / 2.0;
        assert!((below - CROP_SHIFT_UP * 100.0).abs() < 1.0, "{below}");
    }

    #[test]
    fn level_eyes_are_not_turned_and_big_faces_are_shrunk() {
        let (right, left) = (Point { x: 100.0, y: 120.0 }, Point { x: 200.0, y: 120.0 });
        let mut face = face_with_eyes(right, left);
        assert_eq!(face.roll, 0.0);
        face.rect = Rect {
            x: 0.0,
            y: 0.0,
            width: 300.0,
            height: 240.0,
        };
        let crop = crop_face(&photo_with_eyes(right, left), &face).to_rgb8();
        assert_eq!(crop.dimensions(), (MAX_CROP_SIDE, MAX_CROP_SIDE));
        let (r, l) = (dark_centroid(&crop, true), dark_centroid(&crop, false));
        assert!((r.1 - l.1).abs() < 1.0);
        // 100 px apart in the photo, 300 * 1.3 photo px over 256 crop px.
        let expected = 100.0 * MAX_CROP_SIDE as f32 / (300.0 * CROP_SCALE);
        assert!(
            ((l.0 - r.0) - expected).abs() < 1.5,
            "{r:?} {l:?} vs {expected}"
        );
    }

    #[test]
    fn a_face_at_the_edge_repeats_the_edge() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(100, 100, Rgb([200, 10, 10])));
        let face = Face::new(
            Rect {
                x: -40.0,
                y: -40.0,
                width: 60.0,
                height: 60.0,
            },
            0.9,
            [Point::default(); 6],
        );
        let crop = crop_face(&img, &face).to_rgb8();
        assert!(crop.pixels().all(|p| p.0 == [200, 10, 10]));
    }

    /// A 640x480 photo of smooth colour waves with sharp-edged blobs: detail at every
    /// scale, as a webcam frame has.
    fn textured_photo() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(640, 480, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let wave = |k: f32, a: f32| ((fx * k + fy * a).sin() * 0.5 + 0.5) * 255.0;
            let blob = ((x / 23 + y / 17) % 3 == 0) as u8 as f32 * 60.0;
            Rgb([
                (wave(0.05, 0.02) * 0.7 + blob) as u8,
                (wave(0.013, 0.09) * 0.7 + blob) as u8,
                wave(0.31, 0.07) as u8,
            ])
        }))
    }

    fn face_at(x: f32, y: f32, side: f32, roll: f32) -> Face {
        let mut face = Face::new(
            Rect {
                x,
                y,
                width: side,
                height: side,
            },
            0.9,
            [Point::default(); 6],
        );
        face.roll = roll;
        face
    }

    #[test]
    fn the_classifier_input_moves_smoothly_with_the_box() {
        // Faces from smaller than the input to much larger, boxes and rolls nudged by
        // less than a thousandth of a pixel and a ten-thousandth of a radian: every
        // gray level moves in proportion to how far its samples move (the photo's
        // sharpest edge is about 60 levels per pixel), never by a jump.
        let photo = textured_photo();
        for (i, &side) in [30.0f32, 47.3, 90.5, 211.7, 400.2].iter().enumerate() {
            let roll = 0.1 * i as f32 - 0.2;
            let face = face_at(151.37, 40.61, side, roll);
            let base = face_levels(&photo, &face, 48, 48);
            for k in 1..=8 {
                let e = k as f32 * 1e-4;
                let nudged = face_at(151.37 + e, 40.61 - e, side + e, roll + e * 0.1);
                let moved = face_levels(&photo, &nudged, 48, 48);
                let largest = base
                    .iter()
                    .zip(&moved)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                // The samples move by at most e (box) + e / 10 x the crop's half-diagonal (roll).
                let moved_px = e * (2.0 + 0.1 * side);
                assert!(
                    largest < 100.0 * moved_px,
                    "side {side}, nudge {e}: {largest} levels"
                );
            }
        }
    }

    #[test]
    fn the_classifier_input_is_the_crop_in_gray() {
        // The same square as crop_face, read the same way up: the two agree up to
        // their resampling, for a level face and a turned one, small and large.
        let photo = textured_photo();
        for (side, roll) in [(40.0f32, 0.0f32), (160.0, 0.0), (160.0, 0.3), (350.0, -0.2)] {
            let face = face_at(200.0, 60.0, side, roll);
            let crop = crop_face(&photo, &face).to_luma8();
            assert_eq!(crop.dimensions(), (crop_side(&face), crop_side(&face)));
            let resized = image::imageops::resize(&crop, 48, 48, FilterType::Triangle);
            let gray = face_gray(&photo, &face, 48, 48);
            let mean = gray
                .iter()
                .zip(resized.iter())
                .map(|(p, q)| p.abs_diff(*q) as f32)
                .sum::<f32>()
                / gray.len() as f32;
            assert!(mean < 4.0, "side {side}, roll {roll}: {mean}");
        }
    }

    #[test]
    fn centre_square_crops_the_middle_and_caps_the_size() {
        // 300x100: a black middle third, white sides.
        let img = RgbImage::from_fn(300, 100, |x, _| {
            if (100..200).contains(&x) {
                Rgb([0, 0, 0])
            } else {
                Rgb([255; 3])
            }
        });
        let sq = centre_square(&DynamicImage::ImageRgb8(img)).to_rgb8();
        assert_eq!(sq.dimensions(), (100, 100));
        assert!(sq.pixels().all(|p| p.0 == [0, 0, 0]));
        let big = DynamicImage::ImageRgb8(RgbImage::new(1200, 900));
        assert_eq!(centre_square(&big).width(), MAX_CROP_SIDE);
    }
}
