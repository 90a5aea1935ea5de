//! Finding faces in a photo with MediaPipe BlazeFace, without running any model here.
//!
//! The caller owns the runtime (tract on the CPU, wonnx on WebGPU); this module does
//! everything around it, the same way natively and in the browser:
//!
//! 1. [`prepare_blazeface`] rewrites the npm model file (or the smaller one the app
//!    serves, [`compact_blazeface`]) once so both runtimes load it;
//! 2. [`downscale()`] brings a large photo to a working size once, then
//!    [`FaceDetector::input`] letterboxes the photo into the model's square input;
//! 3. the caller runs the model on that tensor;
//! 4. [`FaceDetector::decode`] turns the raw outputs into [`Face`]s in photo pixels;
//! 5. [`face_levels`] reads each face, upright, as the classifier's gray levels (ready
//!    for [`crate::preprocess::levels_to_input`]), and [`crop_face`] cuts the same square
//!    out in colour to show ([`centre_square`] stands in for a face when none is found).
//!
//! ```no_run
//! # fn main() -> Result<(), String> {
//! use mien::face::{face_levels, prepare_blazeface, FaceDetector, Variant};
//! let npm_file: Vec<u8> = std::fs::read(Variant::Back.npm_path()).map_err(|e| e.to_string())?;
//! let model = mien::cpu::CpuModel::load(&prepare_blazeface(&npm_file)?)?;
//! let photo = image::open("group.jpg").map_err(|e| e.to_string())?;
//! let detector = FaceDetector::new(Variant::Back);
//! let (input, letterbox) = detector.input(&photo);
//! let faces = detector.decode(&model.run(&[input])?, &letterbox)?;
//! let inputs: Vec<_> = faces.iter().map(|f| face_levels(&photo, f, 48, 48)).collect();
//! # Ok(()) }
//! ```
//!
//! Files: [`model`] (the model file and its variants), [`letterbox`] (photo to input
//! tensor and back), [`anchors`], [`decode`] (raw outputs to candidates),
//! [`nms`] (merging overlapping candidates), [`detector`] (the steps above behind one
//! type), [`crop`] (face crops), [`mod@downscale`] (large photos to a working size).

pub mod anchors;
pub mod crop;
pub mod decode;
pub mod detector;
pub mod downscale;
pub mod letterbox;
pub mod model;
pub mod nms;

pub use crop::{centre_square, crop_face, crop_side, face_gray, face_levels};
pub use detector::FaceDetector;
pub use downscale::{downscale, MAX_PHOTO_SIDE};
pub use letterbox::Letterbox;
pub use model::{compact_blazeface, prepare_blazeface, Variant};
pub use nms::merge;

use serde::{Deserialize, Serialize};

/// A point in photo pixels (x to the right, y down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned rectangle in photo pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl Rect {
    pub fn centre(&self) -> Point {
        Point {
            x: self.x + self.width / 2.0,
            y: self.y + self.height / 2.0,
        }
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union, 0 for disjoint or empty rectangles.
    pub fn iou(&self, other: &Rect) -> f32 {
        let w = (self.x + self.width).min(other.x + other.width) - self.x.max(other.x);
        let h = (self.y + self.height).min(other.y + other.height) - self.y.max(other.y);
        let inter = w.max(0.0) * h.max(0.0);
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// The six BlazeFace keypoints, in the model's output order. "Right" and "left" are
/// the person's own: in an unmirrored photo of an upright face the right eye is the
/// one further left in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Landmark {
    RightEye = 0,
    LeftEye = 1,
    NoseTip = 2,
    Mouth = 3,
    RightEar = 4,
    LeftEar = 5,
}

/// One face found in a photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// The detector's box (about brows to chin, cheek to cheek), in photo pixels.
    pub rect: Rect,
    /// Detection confidence, 0..1.
    pub score: f32,
    /// The six keypoints in [`Landmark`] order, in photo pixels.
    pub keypoints: [Point; 6],
    /// Head roll in radians: the angle of the line from the right eye to the left
    /// eye against the horizontal, positive when that line runs down to the right
    /// (the head leans clockwise on screen). [`crop_face`] rotates by its opposite.
    pub roll: f32,
}

impl Face {
    /// A face from its box and keypoints; the roll follows from the eyes.
    pub fn new(rect: Rect, score: f32, keypoints: [Point; 6]) -> Self {
        let (r, l) = (
            keypoints[Landmark::RightEye as usize],
            keypoints[Landmark::LeftEye as usize],
        );
        let roll = (l.y - r.y).atan2(l.x - r.x);
        Face {
            rect,
            score,
            keypoints,
            roll,
        }
    }

    pub fn landmark(&self, which: Landmark) -> Point {
        self.keypoints[which as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect {
            x,
            y,
            width: w,
            height: h,
        }
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = rect(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&rect(20.0, 0.0, 10.0, 10.0)), 0.0);
        // Overlap 5x10 = 50, union 150.
        assert!((a.iou(&rect(5.0, 0.0, 10.0, 10.0)) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(rect(0.0, 0.0, 0.0, 0.0).iou(&rect(0.0, 0.0, 0.0, 0.0)), 0.0);
    }

    #[test]
    fn roll_follows_the_eye_line() {
        let mut kp = [Point::default(); 6];
        kp[Landmark::RightEye as usize] = Point { x: 10.0, y: 10.0 };
        kp[Landmark::LeftEye as usize] = Point { x: 20.0, y: 10.0 };
        assert_eq!(Face::new(Rect::default(), 1.0, kp).roll, 0.0);
        kp[Landmark::LeftEye as usize] = Point { x: 20.0, y: 20.0 };
        let roll = Face::new(Rect::default(), 1.0, kp).roll;
        assert!((roll - std::f32::consts::FRAC_PI_4).abs() < 1e-6, "{roll}");
    }
}
