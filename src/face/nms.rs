//! Merging overlapping candidates into one face each: MediaPipe's weighted
//! non-maximum suppression.
//!
//! Take the best-scoring candidate; every remaining candidate overlapping it by
//! more than [`IOU_THRESHOLD`] belongs to the same face. The face's box and
//! keypoints are the score-weighted mean of the group's, its score the best one's.
//! Repeat with what is left. Blending (rather than keeping only the best box)
//! steadies boxes and keypoints, which the upright crop depends on.

use super::{Face, Point, Rect};

/// Candidates overlapping more than this (intersection over union) are one face.
pub const IOU_THRESHOLD: f32 = 0.3;

/// Merges overlapping candidates (from one model, or from several models mapped to
/// the same photo) into one face each, best score first.
pub fn merge(candidates: impl IntoIterator<Item = Face>) -> Vec<Face> {
    let mut left: Vec<Face> = candidates.into_iter().collect();
    left.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut faces = Vec::new();
    while !left.is_empty() {
        let best = left[0].rect;
        let (group, rest): (Vec<Face>, Vec<Face>) =
            left.into_iter().partition(|c| c.rect.iou(&best) > IOU_THRESHOLD || c.rect == best);
        left = rest;
        faces.push(blend(&group));
    }
    faces
}

/// The score-weighted mean of a group (its first member scoring best).
fn blend(group: &[Face]) -> Face {
    let total: f32 = group.iter().map(|f| f.score).sum();
    let mean = |value: &dyn Fn(&Face) -> f32| group.iter().map(|f| value(f) * f.score).sum::<f32>() / total;
    let rect = Rect {
        x: mean(&|f| f.rect.x),
        y: mean(&|f| f.rect.y),
        width: mean(&|f| f.rect.width),
        height: mean(&|f| f.rect.height),
    };
    let mut keypoints = [Point::default(); 6];
    for (k, p) in keypoints.iter_mut().enumerate() {
        *p = Point { x: mean(&|f| f.keypoints[k].x), y: mean(&|f| f.keypoints[k].y) };
    }
    Face::new(rect, group[0].score, keypoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, side: f32, score: f32) -> Face {
        let mut kp = [Point { x, y }; 6];
        kp[1].x += side / 2.0;
        Face::new(Rect { x, y, width: side, height: side }, score, kp)
    }

    #[test]
    fn two_overlapping_boxes_blend_into_one_weighted_by_score() {
        // IoU of 100x100 boxes 10 px apart: 9000 / 11000 = 0.82.
        let faces = merge([face(10.0, 0.0, 100.0, 0.6), face(0.0, 0.0, 100.0, 0.9)]);
        assert_eq!(faces.len(), 1);
        let f = &faces[0];
        assert_eq!(f.score, 0.9, "the best score is kept");
        // x = (0 * 0.9 + 10 * 0.6) / 1.5 = 4.
        assert!((f.rect.x - 4.0).abs() < 1e-5, "{:?}", f.rect);
        assert!((f.keypoints[0].x - 4.0).abs() < 1e-5 && (f.keypoints[1].x - 54.0).abs() < 1e-5);
        assert_eq!(f.rect.width, 100.0);
    }

    #[test]
    fn distant_boxes_are_two_faces_best_first() {
        let faces = merge([face(0.0, 0.0, 100.0, 0.7), face(300.0, 0.0, 100.0, 0.95), face(305.0, 2.0, 100.0, 0.8)]);
        assert_eq!(faces.len(), 2);
        assert_eq!((faces[0].score, faces[1].score), (0.95, 0.7));
        assert!(faces[0].rect.x > 300.0 && faces[0].rect.x < 305.0);
        assert_eq!(faces[1].rect.x, 0.0);
    }

    #[test]
    fn slight_overlap_below_the_threshold_keeps_both() {
        // 100x100 boxes 60 px apart: IoU 4000 / 16000 = 0.25 < 0.3.
        assert_eq!(merge([face(0.0, 0.0, 100.0, 0.9), face(60.0, 0.0, 100.0, 0.8)]).len(), 2);
        assert!(merge([]).is_empty());
    }
}
