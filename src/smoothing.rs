//! Readings smoothed over the frames of a video (the webcam), face by face, so the bars
//! do not flicker from one frame to the next.
//!
//! Each face of a new frame is matched with the face of the previous frame it overlaps
//! most (intersection over union at least [`MIN_OVERLAP`]); its fractions are then an
//! exponential moving average: `weight * new + (1 - weight) * previous`. A face with no
//! match starts afresh. Fractions stay a distribution (they still sum to 1).

use crate::emotions::{Emotions, Share};
use crate::face::Rect;

/// How much a face must overlap its place in the previous frame to be the same face.
pub const MIN_OVERLAP: f32 = 0.3;

/// The weight of the newest frame: 0.4 lets a real change show within 3-4 frames
/// (under a second at the webcam's usual rates) while damping frame-to-frame noise.
pub const DEFAULT_WEIGHT: f32 = 0.4;

/// The smoothed faces of the last frame.
#[derive(Clone, Debug)]
pub struct Smoother {
    weight: f32,
    previous: Vec<(Rect, Emotions)>,
}

impl Default for Smoother {
    fn default() -> Self {
        Smoother::new(DEFAULT_WEIGHT)
    }
}

impl Smoother {
    /// `weight` (0..=1) is the newest frame's share; 1 means no smoothing.
    pub fn new(weight: f32) -> Self {
        Smoother {
            weight: weight.clamp(0.0, 1.0),
            previous: Vec::new(),
        }
    }

    /// Forgets the past frames (the camera stopped, or smoothing was turned off).
    pub fn reset(&mut self) {
        self.previous.clear();
    }

    /// The smoothed readings of a new frame's faces, in the order given.
    pub fn update(&mut self, faces: &[(Rect, Emotions)]) -> Vec<Emotions> {
        let mut unused: Vec<bool> = vec![true; self.previous.len()];
        let mut smoothed = Vec::with_capacity(faces.len());
        for (rect, emotions) in faces {
            let best = self
                .previous
                .iter()
                .enumerate()
                .filter(|(i, _)| unused[*i])
                .map(|(i, (old, _))| (i, rect.iou(old)))
                .filter(|(_, overlap)| *overlap >= MIN_OVERLAP)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let reading = match best {
                Some((i, _)) if same_labels(&self.previous[i].1, emotions) => {
                    unused[i] = false;
                    blend(&self.previous[i].1, emotions, self.weight)
                }
                _ => emotions.clone(),
            };
            smoothed.push(reading);
        }
        self.previous = faces
            .iter()
            .map(|(r, _)| *r)
            .zip(smoothed.iter().cloned())
            .collect();
        smoothed
    }
}

fn same_labels(a: &Emotions, b: &Emotions) -> bool {
    a.shares.len() == b.shares.len()
        && a.shares
            .iter()
            .zip(&b.shares)
            .all(|(x, y)| x.label == y.label)
}

fn blend(old: &Emotions, new: &Emotions, weight: f32) -> Emotions {
    let shares = old
        .shares
        .iter()
        .zip(&new.shares)
        .map(|(o, n)| Share {
            label: n.label.clone(),
            fraction: weight * n.fraction + (1.0 - weight) * o.fraction,
        })
        .collect();
    Emotions { shares }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ModelContract;

    fn reading(logits: &[f32]) -> Emotions {
        Emotions::from_logits(logits, &ModelContract::new(1, 48, 48))
    }

    fn rect(x: f32) -> Rect {
        Rect {
            x,
            y: 10.0,
            width: 100.0,
            height: 100.0,
        }
    }

    const HAPPY: [f32; 7] = [0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0];
    const SAD: [f32; 7] = [0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0];

    #[test]
    fn a_one_frame_flicker_is_damped_and_a_lasting_change_comes_through() {
        let mut smoother = Smoother::default();
        let happy = smoother.update(&[(rect(0.0), reading(&HAPPY))]);
        assert_eq!(
            happy[0],
            reading(&HAPPY),
            "the first frame is shown as read"
        );
        // One sad frame (the face moved a little): happy stays on top.
        let flicker = smoother.update(&[(rect(5.0), reading(&SAD))]);
        assert_eq!(flicker[0].top().label, "happy");
        let sum: f32 = flicker[0].shares.iter().map(|s| s.fraction).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        // Sad for a few frames: it takes over.
        let mut last = flicker;
        for _ in 0..3 {
            last = smoother.update(&[(rect(5.0), reading(&SAD))]);
        }
        assert_eq!(last[0].top().label, "sad");
    }

    #[test]
    fn faces_are_matched_by_place_not_by_order() {
        let mut smoother = Smoother::default();
        smoother.update(&[(rect(0.0), reading(&HAPPY)), (rect(500.0), reading(&SAD))]);
        // Same faces, given in the other order, each reading the opposite for one frame.
        let next = smoother.update(&[(rect(500.0), reading(&HAPPY)), (rect(0.0), reading(&SAD))]);
        assert_eq!(
            next[0].top().label,
            "sad",
            "the right face keeps its own past"
        );
        assert_eq!(
            next[1].top().label,
            "happy",
            "the left face keeps its own past"
        );
    }

    #[test]
    fn a_new_face_elsewhere_starts_afresh_and_reset_forgets() {
        let mut smoother = Smoother::default();
        smoother.update(&[(rect(0.0), reading(&HAPPY))]);
        let elsewhere = smoother.update(&[(rect(300.0), reading(&SAD))]);
        assert_eq!(elsewhere[0], reading(&SAD));
        smoother.reset();
        let fresh = smoother.update(&[(rect(300.0), reading(&HAPPY))]);
        assert_eq!(fresh[0], reading(&HAPPY));
        let unsmoothed = Smoother::new(1.0).update(&[(rect(0.0), reading(&SAD))]);
        assert_eq!(unsmoothed[0], reading(&SAD));
    }
}
