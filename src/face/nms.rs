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
        // The best is always its own group's first member, even a box that overlaps
        // nothing, not even itself (a NaN box): so every round takes one out.
        let best = left.remove(0);
        let (mut group, rest): (Vec<Face>, Vec<Face>) = left
            .into_iter()
            .partition(|c| c.rect.iou(&best.rect) > IOU_THRESHOLD);
        group.insert(0, best);
        left = rest;
        faces.push(blend(&group));
    }
    faces
}

/// The score-weighted mean of a group (its first member scoring best); the best
/// member alone when the weights cannot give a finite mean (scores of zero, or
/// numbers so large their sum overflows).
fn blend(group: &[Face]) -> Face {
    let total: f32 = group.iter().map(|f| f.score).sum();
    if group.len() == 1 || !(total > 0.0 && total.is_finite()) {
        return group[0].clone();
    }
    let mean = |value: &dyn Fn(&Face) -> f32| {
        group.iter().map(|f| value(f) * f.score).sum::<f32>() / total
    };
    let rect = Rect {
        x: mean(&|f| f.rect.x),
        y: mean(&|f| f.rect.y),
        width: mean(&|f| f.rect.width),
        height: mean(&|f| f.rect.height),
    };
    let mut keypoints = [Point::default(); 6];
    for (k, p) in keypoints.iter_mut().enumerate() {
        *p = Point {
            x: mean(&|f| f.keypoints[k].x),
            y: mean(&|f| f.keypoints[k].y),
        };
    }
    let blended = Face::new(rect, group[0].score, keypoints);
    let finite = [rect.x, rect.y, rect.width, rect.height]
        .iter()
        .all(|v| v.is_finite())
        && keypoints.iter().all(|p| p.x.is_finite() && p.y.is_finite());
    if finite {
        blended
    } else {
        group[0].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, side: f32, score: f32) -> Face {
        let mut kp = [Point { x, y }; 6];
        kp[1].x += side / 2.0;
        Face::new(
            Rect {
                x,
                y,
                width: side,
                height: side,
            },
            score,
            kp,
        )
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
        let faces = merge([
            face(0.0, 0.0, 100.0, 0.7),
            face(300.0, 0.0, 100.0, 0.95),
            face(305.0, 2.0, 100.0, 0.8),
        ]);
        assert_eq!(faces.len(), 2);
        assert_eq!((faces[0].score, faces[1].score), (0.95, 0.7));
        assert!(faces[0].rect.x > 300.0 && faces[0].rect.x < 305.0);
        assert_eq!(faces[1].rect.x, 0.0);
    }

    #[test]
    fn any_float_merges_without_panic() {
        // A NaN or infinite box overlaps nothing, not even itself (NaN != NaN): it
        // must still come out as its own face, and nothing may panic.
        let odd = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            0.0,
            -1.0,
        ];
        for &a in &odd {
            for &b in &odd {
                let faces = merge([
                    Face::new(
                        Rect {
                            x: a,
                            y: 0.0,
                            width: b,
                            height: a,
                        },
                        0.9,
                        [Point { x: a, y: b }; 6],
                    ),
                    face(0.0, 0.0, 100.0, 0.8),
                    face(1.0, 0.0, 100.0, b),
                    Face::new(
                        Rect {
                            x: b,
                            y: a,
                            width: 1.0,
                            height: 1.0,
                        },
                        a,
                        [Point::default(); 6],
                    ),
                ]);
                assert!(!faces.is_empty() && faces.len() <= 4, "{a} {b}: {faces:?}");
            }
        }
        // Scores of zero do not blend into NaN.
        let faces = merge([face(0.0, 0.0, 100.0, 0.0), face(1.0, 0.0, 100.0, 0.0)]);
        assert_eq!(faces.len(), 1);
        assert!(faces[0].rect.x.is_finite(), "{:?}", faces[0]);
    }

    #[test]
    fn slight_overlap_below_the_threshold_keeps_both() {
        // 100x100 boxes 60 px apart: IoU 4000 / 16000 = 0.25 < 0.3.
        assert_eq!(
            merge([face(0.0, 0.0, 100.0, 0.9), face(60.0, 0.0, 100.0, 0.8)]).len(),
            2
        );
        assert!(merge([]).is_empty());
    }
}
