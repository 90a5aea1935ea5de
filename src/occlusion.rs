//! "Why this reading": occlusion sensitivity. The face's gray input is shown to the
//! model again many times, each time with one square patch greyed out; where greying
//! lowers the top expression most is where the model looked for it. No gradients are
//! needed, so every engine that runs the model can do it; the runs are independent
//! and can be sent together.
//!
//! This module makes the greyed inputs and turns the model's answers into a map; the
//! caller runs the model (natively with tract, in the browser in a worker).

use image::GrayImage;

/// Side of a greyed patch, and the step between patches, in input pixels: on a 48x48
/// input, 7 x 7 = 49 overlapping patches, each an eighth of the face's area (an eye,
/// the mouth).
pub const PATCH: u32 = 12;
pub const STRIDE: u32 = 6;

/// One greyed patch, in input pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    pub x: u32,
    pub y: u32,
    pub side: u32,
}

impl Patch {
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && x < self.x + self.side && y >= self.y && y < self.y + self.side
    }
}

/// The patches covering a `width` x `height` input, row by row; the last row and
/// column are moved in to end at the edge.
pub fn patches(width: u32, height: u32, patch: u32, stride: u32) -> Vec<Patch> {
    let side = patch.clamp(1, width.min(height).max(1));
    let starts = |length: u32| {
        let last = length.saturating_sub(side);
        let mut at: Vec<u32> = (0..=last).step_by(stride.max(1) as usize).collect();
        if at.last() != Some(&last) {
            at.push(last);
        }
        at
    };
    let columns = starts(width);
    starts(height)
        .into_iter()
        .flat_map(|y| columns.iter().map(move |&x| Patch { x, y, side }))
        .collect()
}

/// The gray value patches are filled with: the input's own mean, so a patch hides
/// detail without adding a dark or bright blob.
pub fn fill_value(gray: &GrayImage) -> u8 {
    let pixels = gray.as_raw();
    let sum: u64 = pixels.iter().map(|&v| v as u64).sum();
    (sum / pixels.len().max(1) as u64) as u8
}

/// `gray` with `patch` filled with `fill`.
pub fn greyed(gray: &GrayImage, patch: Patch, fill: u8) -> GrayImage {
    let mut out = gray.clone();
    for y in patch.y..(patch.y + patch.side).min(gray.height()) {
        for x in patch.x..(patch.x + patch.side).min(gray.width()) {
            out.put_pixel(x, y, image::Luma([fill]));
        }
    }
    out
}

/// What greying each patch did to the top expression.
#[derive(Clone, Debug, PartialEq)]
pub struct OcclusionMap {
    pub width: u32,
    pub height: u32,
    pub patches: Vec<Patch>,
    /// Per patch: the top expression's fraction as read, minus its fraction with that
    /// patch greyed. Positive: the region supported the reading.
    pub drops: Vec<f32>,
    /// Per input pixel (row-major): the mean drop of the patches covering it.
    pub pixels: Vec<f32>,
}

impl OcclusionMap {
    /// `base`: the top expression's fraction on the whole input; `occluded`: its
    /// fraction with each of `patches` greyed, in the same order.
    pub fn new(
        width: u32,
        height: u32,
        patches: Vec<Patch>,
        base: f32,
        occluded: &[f32],
    ) -> Result<Self, String> {
        if occluded.len() != patches.len() {
            return Err(format!(
                "{} answers for {} greyed patches",
                occluded.len(),
                patches.len()
            ));
        }
        let drops: Vec<f32> = occluded.iter().map(|f| base - f).collect();
        let mut sum = vec![0.0f32; (width * height) as usize];
        let mut count = vec![0u32; sum.len()];
        for (patch, drop) in patches.iter().zip(&drops) {
            for y in patch.y..(patch.y + patch.side).min(height) {
                for x in patch.x..(patch.x + patch.side).min(width) {
                    let i = (y * width + x) as usize;
                    sum[i] += drop;
                    count[i] += 1;
                }
            }
        }
        let pixels = sum
            .iter()
            .zip(&count)
            .map(|(s, &n)| if n > 0 { s / n as f32 } else { 0.0 })
            .collect();
        Ok(OcclusionMap {
            width,
            height,
            patches,
            drops,
            pixels,
        })
    }

    /// The patch whose greying lowered the top expression most.
    pub fn hottest(&self) -> Option<(Patch, f32)> {
        self.patches
            .iter()
            .copied()
            .zip(self.drops.iter().copied())
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The largest drop or rise, for a symmetric colour scale (at least 0.01).
    pub fn scale(&self) -> f32 {
        self.drops.iter().fold(0.01f32, |m, d| m.max(d.abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_cover_the_input_and_end_at_its_edges() {
        let all = patches(48, 48, PATCH, STRIDE);
        assert_eq!(all.len(), 49);
        assert_eq!(
            all[0],
            Patch {
                x: 0,
                y: 0,
                side: 12
            }
        );
        assert_eq!(
            all[48],
            Patch {
                x: 36,
                y: 36,
                side: 12
            }
        );
        for y in 0..48 {
            for x in 0..48 {
                assert!(
                    all.iter().any(|p| p.contains(x, y)),
                    "({x}, {y}) is never greyed"
                );
            }
        }
        // A size the stride does not divide: the last patch still ends at the edge.
        let odd = patches(50, 40, 12, 6);
        assert_eq!(
            odd.last(),
            Some(&Patch {
                x: 38,
                y: 28,
                side: 12
            })
        );
    }

    #[test]
    fn greying_fills_only_the_patch_with_the_mean() {
        let gray = GrayImage::from_fn(48, 48, |x, _| image::Luma([if x < 24 { 0 } else { 200 }]));
        let fill = fill_value(&gray);
        assert_eq!(fill, 100);
        let out = greyed(
            &gray,
            Patch {
                x: 20,
                y: 30,
                side: 12,
            },
            fill,
        );
        assert_eq!(out.get_pixel(20, 30).0[0], 100);
        assert_eq!(out.get_pixel(31, 41).0[0], 100);
        assert_eq!(out.get_pixel(19, 30).0[0], 0);
        assert_eq!(out.get_pixel(32, 30).0[0], 200);
        assert_eq!(out.get_pixel(25, 42).0[0], 200);
    }

    #[test]
    fn the_map_is_hottest_where_greying_lowered_the_reading() {
        let all = patches(48, 48, PATCH, STRIDE);
        // Greying anything lowers the reading a little; the patch at (18, 30) a lot.
        let occluded: Vec<f32> = all
            .iter()
            .map(|p| if p.x == 18 && p.y == 30 { 0.2 } else { 0.85 })
            .collect();
        let map = OcclusionMap::new(48, 48, all, 0.9, &occluded).unwrap();
        let (hot, drop) = map.hottest().unwrap();
        assert_eq!((hot.x, hot.y), (18, 30));
        assert!((drop - 0.7).abs() < 1e-6);
        let at = |x: u32, y: u32| map.pixels[(y * 48 + x) as usize];
        assert!(
            at(24, 36) > at(5, 5),
            "the pixel map is not hottest in the patch"
        );
        assert!((map.scale() - 0.7).abs() < 1e-6);
        assert!(OcclusionMap::new(48, 48, patches(48, 48, 12, 6), 0.9, &[0.1]).is_err());
    }
}
