//! Raw BlazeFace outputs to scored face candidates in photo pixels.
//!
//! For anchor `i` the model gives one score logit and 16 numbers: the box centre
//! offset (x, y) and size (w, h), then six keypoint offsets (x, y), all in input
//! pixels. score = sigmoid(logit); positions = anchor centre + offset / input size.

use super::letterbox::Letterbox;
use super::{Face, Point, Rect};
use crate::tensor::TensorF32;

/// Numbers per anchor in the box outputs: 4 for the box, 2 for each of 6 keypoints.
pub const BOX_VALUES: usize = 16;

/// MediaPipe clips score logits to this before the sigmoid.
const LOGIT_CLIP: f32 = 100.0;

/// A box wider or higher than this many times the photo's longer side is no face
/// (BlazeFace's own boxes stay within about one photo).
pub const MAX_BOX_PHOTOS: f32 = 4.0;

/// The model's outputs sorted out: scores and box rows, both in anchor order.
#[derive(Clone, Debug)]
pub struct RawOutputs<'a> {
    /// One score logit per anchor, fine grid then coarse grid.
    pub logits: Vec<&'a [f32]>,
    /// Sixteen values per anchor, fine grid then coarse grid.
    pub boxes: Vec<&'a [f32]>,
}

/// Finds the four outputs among `outputs` by shape, in whatever order a runtime
/// returns them: scores are `[1, n, 1]`, boxes `[1, n, 16]`, with n = 512 for the
/// fine grid and 384 for the coarse one.
pub fn sort_outputs(outputs: &[TensorF32]) -> Result<RawOutputs<'_>, String> {
    let find = |n: usize, k: usize| -> Result<&[f32], String> {
        outputs
            .iter()
            .find(|t| t.shape == [1, n, k] && t.data.len() == n * k)
            .map(|t| t.data.as_slice())
            .ok_or_else(|| {
                let shapes: Vec<_> = outputs.iter().map(|t| &t.shape).collect();
                format!(
                    "face detector: no [1, {n}, {k}] output among the model's outputs {shapes:?}"
                )
            })
    };
    Ok(RawOutputs {
        logits: vec![find(512, 1)?, find(384, 1)?],
        boxes: vec![find(512, BOX_VALUES)?, find(384, BOX_VALUES)?],
    })
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-LOGIT_CLIP, LOGIT_CLIP)).exp())
}

/// Every anchor scoring at least `min_score`, as a face in photo pixels (before
/// overlapping candidates are merged). `anchors` are those of the model's variant;
/// candidates centred outside the photo (in the letterbox bands) are dropped, and so
/// is any candidate with a number that is not finite (a GPU can give NaN or
/// infinity), or a box no larger than nothing or larger than [`MAX_BOX_PHOTOS`]
/// photos: whatever the floats, every face returned has finite, positive geometry.
pub fn candidates(
    raw: &RawOutputs,
    anchors: &[[f32; 2]],
    letterbox: &Letterbox,
    min_score: f32,
) -> Vec<Face> {
    let size = letterbox.size as f32;
    let logits = raw.logits.iter().flat_map(|s| s.iter());
    let rows = raw.boxes.iter().flat_map(|b| b.chunks_exact(BOX_VALUES));
    let mut out = Vec::new();
    for ((&logit, row), anchor) in logits.zip(rows).zip(anchors) {
        let score = sigmoid(logit);
        if score < min_score || !score.is_finite() {
            continue;
        }
        let at =
            |dx: f32, dy: f32| letterbox.to_photo(anchor[0] + dx / size, anchor[1] + dy / size);
        let centre = at(row[0], row[1]);
        let (width, height) = letterbox.size_to_photo(row[2] / size, row[3] / size);
        // Written so that NaN is refused too (every comparison with NaN is false).
        if !(letterbox.contains(centre) && width > 0.0 && height > 0.0) {
            continue;
        }
        let too_big = MAX_BOX_PHOTOS * letterbox.photo_width.max(letterbox.photo_height) as f32;
        if !(width.is_finite() && height.is_finite() && width <= too_big && height <= too_big) {
            continue;
        }
        let rect = Rect {
            x: centre.x - width / 2.0,
            y: centre.y - height / 2.0,
            width,
            height,
        };
        let mut keypoints = [Point::default(); 6];
        for (k, p) in keypoints.iter_mut().enumerate() {
            *p = at(row[4 + 2 * k], row[5 + 2 * k]);
        }
        if !keypoints.iter().all(|p| p.x.is_finite() && p.y.is_finite()) {
            continue;
        }
        out.push(Face::new(rect, score, keypoints));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::anchors::anchors;
    use crate::face::model::Variant;

    /// Outputs of a 128 px model where every anchor scores -10 but `hits`.
    fn outputs(hits: &[(usize, f32, [f32; 16])]) -> Vec<TensorF32> {
        let mut logits = vec![-10.0f32; 896];
        let mut boxes = vec![0.0f32; 896 * 16];
        for &(i, logit, row) in hits {
            logits[i] = logit;
            boxes[i * 16..(i + 1) * 16].copy_from_slice(&row);
        }
        let t = |shape: Vec<usize>, data: &[f32]| TensorF32 {
            shape,
            data: data.to_vec(),
        };
        // Graph order: scores 512, scores 384, boxes 512, boxes 384.
        vec![
            t(vec![1, 512, 1], &logits[..512]),
            t(vec![1, 384, 1], &logits[512..]),
            t(vec![1, 512, 16], &boxes[..512 * 16]),
            t(vec![1, 384, 16], &boxes[512 * 16..]),
        ]
    }

    #[test]
    fn a_hand_made_output_decodes_to_photo_pixels() {
        // Anchor 600 is in the coarse grid: cell (600-512)/6 = 14 -> row 1, column 6,
        // centre (104, 24) in input pixels.
        let mut row = [0.0f32; 16];
        row[..4].copy_from_slice(&[4.0, -8.0, 32.0, 40.0]);
        for k in 0..6 {
            row[4 + 2 * k] = k as f32;
            row[5 + 2 * k] = -(k as f32);
        }
        let outs = outputs(&[(600, 2.0, row)]);
        // A square 256 px photo in the 128 input: photo = 2 x input, no bands.
        let lb = Letterbox::new(256, 256, 128);
        let faces = candidates(
            &sort_outputs(&outs).unwrap(),
            &anchors(Variant::Front),
            &lb,
            0.5,
        );
        assert_eq!(faces.len(), 1);
        let f = &faces[0];
        assert!((f.score - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6);
        let c = f.rect.centre();
        assert!(
            (c.x - 216.0).abs() < 1e-3 && (c.y - 32.0).abs() < 1e-3,
            "{c:?}"
        );
        assert!((f.rect.width - 64.0).abs() < 1e-3 && (f.rect.height - 80.0).abs() < 1e-3);
        for (k, p) in f.keypoints.iter().enumerate() {
            assert!(
                (p.x - (208.0 + 2.0 * k as f32)).abs() < 1e-3
                    && (p.y - (48.0 - 2.0 * k as f32)).abs() < 1e-3
            );
        }
    }

    #[test]
    fn outputs_are_found_by_shape_in_any_order_and_low_scores_dropped() {
        let mut outs = outputs(&[(3, 0.1, [1.0; 16]), (10, -0.1, [1.0; 16])]);
        outs.reverse();
        let lb = Letterbox::new(128, 128, 128);
        let faces = candidates(
            &sort_outputs(&outs).unwrap(),
            &anchors(Variant::Front),
            &lb,
            0.5,
        );
        assert_eq!(faces.len(), 1, "sigmoid(0.1) > 0.5 > sigmoid(-0.1)");
        outs.pop();
        let err = sort_outputs(&outs).unwrap_err();
        assert!(err.contains("[1, 512, 1]"), "{err}");
    }

    #[test]
    fn any_float_decodes_without_panic_and_keeps_only_finite_boxes() {
        let lb = Letterbox::new(640, 480, 128);
        let odd = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
            1e30,
            -0.0,
            f32::MIN_POSITIVE,
        ];
        let anchors = anchors(Variant::Front);
        for (i, &bad) in odd.iter().enumerate() {
            for slot in 0..16 {
                let mut row = [0.0f32; 16];
                row[2] = 20.0;
                row[3] = 20.0;
                row[slot] = bad;
                // The same box twice (anchors 272.. are centred on the photo, at row 8 of
                // the fine grid) plus a clean one: the merge must see the odd ones too.
                let outs = outputs(&[
                    (272 + 2 * i, 5.0, row),
                    (273 + 2 * i, bad, row),
                    (300, 5.0, [10.0; 16]),
                ]);
                let faces = candidates(&sort_outputs(&outs).unwrap(), &anchors, &lb, 0.5);
                for f in &faces {
                    let values = [
                        f.rect.x,
                        f.rect.y,
                        f.rect.width,
                        f.rect.height,
                        f.score,
                        f.roll,
                    ];
                    assert!(
                        values.iter().all(|v| v.is_finite()),
                        "slot {slot} = {bad}: {f:?}"
                    );
                    assert!(
                        f.keypoints
                            .iter()
                            .all(|p| p.x.is_finite() && p.y.is_finite()),
                        "slot {slot} = {bad}: {f:?}"
                    );
                    assert!(
                        f.rect.width > 0.0 && f.rect.height > 0.0,
                        "slot {slot} = {bad}: {f:?}"
                    );
                }
                let merged = crate::face::merge(faces);
                assert!(
                    !merged.is_empty(),
                    "slot {slot} = {bad}: the clean box was lost"
                );
            }
        }
    }

    #[test]
    fn candidates_centred_in_the_letterbox_band_are_dropped() {
        // A 256x128 photo in a 128 input: bands of 32 px above and below.
        let lb = Letterbox::new(256, 128, 128);
        let mut row = [0.0f32; 16];
        row[2] = 10.0;
        row[3] = 10.0;
        // Anchor 0 is centred at (4, 4): inside the top band.
        let outs = outputs(&[(0, 5.0, row), (2 * 16 * 8, 5.0, row)]);
        let faces = candidates(
            &sort_outputs(&outs).unwrap(),
            &anchors(Variant::Front),
            &lb,
            0.5,
        );
        assert_eq!(faces.len(), 1);
        assert!((faces[0].rect.centre().y - (68.0 - 32.0) * 2.0).abs() < 1e-3);
    }
}
