//! Following faces through a video: each face found in a sampled frame gets the number
//! of the face it continues from the frames before, so that a timeline can be drawn
//! per person.
//!
//! Matching is greedy, closest first: every pair (a face still followed, a face of the
//! new frame) whose boxes overlap by at least [`MIN_OVERLAP`] (intersection over union)
//! or whose centres lie at most [`MAX_SHIFT`] face widths apart may match; the pairs are
//! taken in order of centre distance, each face and each track at most once. A face
//! without a match starts a new track with the next number (so faces are numbered in
//! order of first appearance, left to right within a frame when the caller gives them
//! that way). A track not matched for more than `max_missed` sampled frames in a row
//! ends; its number is never given again.

use crate::face::Rect;

/// Boxes overlapping at least this much (intersection over union) may be the same face.
pub const MIN_OVERLAP: f32 = 0.3;

/// Centres at most this many face sizes apart may be the same face (a face that moved
/// quickly between two sampled frames; at 2 frames per second a turn of the head moves
/// a face by about half its width).
pub const MAX_SHIFT: f32 = 0.6;

/// Sampled frames a face may go unseen (a blink of the detector, a hand before the face)
/// and keep its number.
pub const DEFAULT_MAX_MISSED: u32 = 3;

#[derive(Clone, Debug)]
struct Track {
    number: usize,
    rect: Rect,
    missed: u32,
}

/// The faces being followed, and the numbers given so far.
#[derive(Clone, Debug)]
pub struct Tracker {
    tracks: Vec<Track>,
    given: usize,
    max_missed: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(DEFAULT_MAX_MISSED)
    }
}

impl Tracker {
    pub fn new(max_missed: u32) -> Self {
        Tracker {
            tracks: Vec::new(),
            given: 0,
            max_missed,
        }
    }

    /// How many face numbers were given so far (the number of different faces seen).
    pub fn faces_seen(&self) -> usize {
        self.given
    }

    /// The faces of the next sampled frame: the number (from 1) of each, in the order given.
    pub fn update(&mut self, rects: &[Rect]) -> Vec<usize> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (r, rect) in rects.iter().enumerate() {
                let shift = centre_shift(&track.rect, rect);
                if shift <= MAX_SHIFT || track.rect.iou(rect) >= MIN_OVERLAP {
                    pairs.push((shift, t, r));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut numbers: Vec<Option<usize>> = vec![None; rects.len()];
        let mut matched = vec![false; self.tracks.len()];
        for (_, t, r) in pairs {
            if matched[t] || numbers[r].is_some() {
                continue;
            }
            matched[t] = true;
            numbers[r] = Some(self.tracks[t].number);
            self.tracks[t].rect = rects[r];
            self.tracks[t].missed = 0;
        }
        for (t, track) in self.tracks.iter_mut().enumerate() {
            if !matched[t] {
                track.missed += 1;
            }
        }
        let max_missed = self.max_missed;
        self.tracks.retain(|t| t.missed <= max_missed);
        numbers
            .into_iter()
            .zip(rects)
            .map(|(number, rect)| {
                number.unwrap_or_else(|| {
                    self.given += 1;
                    self.tracks.push(Track {
                        number: self.given,
                        rect: *rect,
                        missed: 0,
                    });
                    self.given
                })
            })
            .collect()
    }
}

/// The distance between the boxes' centres, in sizes of the larger box (its mean side).
fn centre_shift(a: &Rect, b: &Rect) -> f32 {
    let (ca, cb) = (a.centre(), b.centre());
    let distance = ((ca.x - cb.x).powi(2) + (ca.y - cb.y).powi(2)).sqrt();
    let size = ((a.width + a.height) / 2.0).max((b.width + b.height) / 2.0);
    if size > 0.0 {
        distance / size
    } else {
        f32::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, side: f32) -> Rect {
        Rect {
            x,
            y,
            width: side,
            height: side,
        }
    }

    #[test]
    fn faces_keep_their_numbers_as_they_move_and_swap_order() {
        let mut tracker = Tracker::default();
        assert_eq!(
            tracker.update(&[face(0.0, 0.0, 100.0), face(400.0, 0.0, 100.0)]),
            [1, 2]
        );
        // Both move by a third of a face; given in the other order.
        assert_eq!(
            tracker.update(&[face(433.0, 10.0, 100.0), face(30.0, 5.0, 100.0)]),
            [2, 1]
        );
        // Moving towards each other by half a face: each keeps its own number.
        assert_eq!(
            tracker.update(&[face(80.0, 5.0, 100.0), face(380.0, 10.0, 100.0)]),
            [1, 2]
        );
        assert_eq!(tracker.faces_seen(), 2);
    }

    #[test]
    fn a_face_missed_briefly_keeps_its_number_and_a_long_absence_ends_it() {
        let mut tracker = Tracker::new(2);
        assert_eq!(tracker.update(&[face(0.0, 0.0, 100.0)]), [1]);
        assert_eq!(tracker.update(&[]), Vec::<usize>::new());
        assert_eq!(tracker.update(&[]), Vec::<usize>::new());
        assert_eq!(
            tracker.update(&[face(10.0, 0.0, 100.0)]),
            [1],
            "missed twice: kept"
        );
        for _ in 0..3 {
            tracker.update(&[]);
        }
        assert_eq!(
            tracker.update(&[face(10.0, 0.0, 100.0)]),
            [2],
            "missed three times: a new number, never an old one again"
        );
    }

    #[test]
    fn a_new_face_elsewhere_gets_the_next_number_and_one_track_takes_one_face() {
        let mut tracker = Tracker::default();
        assert_eq!(tracker.update(&[face(0.0, 0.0, 100.0)]), [1]);
        // A second face appears far away, left of nothing: it is new.
        assert_eq!(
            tracker.update(&[face(0.0, 0.0, 100.0), face(600.0, 300.0, 80.0)]),
            [1, 2]
        );
        // Two faces near the one track: the closer continues it, the other is new.
        assert_eq!(
            tracker.update(&[face(40.0, 0.0, 100.0), face(5.0, 0.0, 100.0)]),
            [3, 1]
        );
        // A face that jumped across the picture is not the same face.
        let mut tracker = Tracker::default();
        tracker.update(&[face(0.0, 0.0, 100.0)]);
        assert_eq!(tracker.update(&[face(500.0, 0.0, 100.0)]), [2]);
        // Degenerate boxes never panic or match by accident.
        assert_eq!(tracker.update(&[face(0.0, 0.0, 0.0)]), [3]);
    }
}
