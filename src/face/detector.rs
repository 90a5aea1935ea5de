//! One BlazeFace variant's steps around the runtime: photo to input tensor, raw
//! outputs to faces.

use super::anchors::anchors;
use super::decode::{candidates, sort_outputs};
use super::letterbox::Letterbox;
use super::model::Variant;
use super::nms::merge;
use super::Face;
use crate::tensor::TensorF32;
use image::DynamicImage;

/// Everything needed to use one BlazeFace model, except running it.
#[derive(Clone, Debug)]
pub struct FaceDetector {
    variant: Variant,
    anchors: Vec<[f32; 2]>,
    /// Candidates scoring below this are ignored (default: [`Variant::min_score`]).
    pub min_score: f32,
}

impl FaceDetector {
    pub fn new(variant: Variant) -> Self {
        FaceDetector {
            variant,
            anchors: anchors(variant),
            min_score: variant.min_score(),
        }
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The model input for `photo` (named [`super::model::INPUT_NAME`]), and where the
    /// photo sits in it, for [`FaceDetector::decode`].
    pub fn input(&self, photo: &DynamicImage) -> (TensorF32, Letterbox) {
        let letterbox = Letterbox::new(photo.width(), photo.height(), self.variant.input_size());
        (letterbox.tensor(photo), letterbox)
    }

    /// The faces in the model's raw outputs (any order; see
    /// [`super::model::OUTPUT_NAMES`]), in photo pixels, best first. Fails only when
    /// the outputs are not this model's.
    pub fn decode(
        &self,
        outputs: &[TensorF32],
        letterbox: &Letterbox,
    ) -> Result<Vec<Face>, String> {
        Ok(merge(self.candidates(outputs, letterbox)?))
    }

    /// The candidates before overlapping ones are merged: for combining several
    /// models' results with [`super::merge`].
    pub fn candidates(
        &self,
        outputs: &[TensorF32],
        letterbox: &Letterbox,
    ) -> Result<Vec<Face>, String> {
        if letterbox.size != self.variant.input_size() {
            return Err(format!(
                "face detector: a letterbox for a {} px input cannot decode the {:?} model's outputs",
                letterbox.size, self.variant
            ));
        }
        Ok(candidates(
            &sort_outputs(outputs)?,
            &self.anchors,
            letterbox,
            self.min_score,
        ))
    }
}
