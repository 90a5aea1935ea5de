//! A picture's faces and their expressions: every step is the shared core's
//! (`mien::analysis`), the same path `mien-analyse` follows natively; only the models
//! run elsewhere, in an engine's worker ([`Inference`]).

use image::DynamicImage;
use mien::analysis::{self, AnalysisError, Models, Options};
use mien::contract::ModelContract;
use mien::face::Variant;
use mien::tensor::TensorF32;

pub use mien::analysis::{FaceReading, Faces};

use super::backend::Inference;
use super::worker::WorkerError;

/// Side of the face thumbnails shown beside the results.
const THUMBNAIL_SIDE: u32 = 96;

impl Models for Inference {
    fn contract(&self) -> &ModelContract {
        Inference::contract(self)
    }

    async fn detector_outputs(
        &self,
        variant: Variant,
        input: &TensorF32,
    ) -> Result<(Vec<TensorF32>, f64), AnalysisError> {
        let ran = Inference::detector_outputs(self, variant, input)
            .await
            .map_err(analysis_error)?;
        Ok((ran.outputs, ran.worker_ms))
    }

    async fn logits(&self, input: Vec<f32>) -> Result<(Vec<f32>, f64), AnalysisError> {
        Inference::logits(self, input).await.map_err(analysis_error)
    }

    fn now_ms(&self) -> f64 {
        now_ms()
    }
}

/// A worker's error as the shared path's: a reply that breaks the protocol or the
/// model's contract is an output error (retrying will not help); anything else is the
/// engine's.
fn analysis_error(error: WorkerError) -> AnalysisError {
    match error {
        WorkerError::BadReply(why) => AnalysisError::Output(why),
        other => AnalysisError::Engine(other.to_string()),
    }
}

/// How the app reads a photo: the shared photo options, plus a thumbnail and the
/// model's input kept for each face ("What the model saw").
fn photo_options() -> Options {
    Options {
        thumbnail: Some(THUMBNAIL_SIDE),
        keep_input: true,
        ..Options::photo()
    }
}

/// A photo's faces, each read, with thumbnails.
pub async fn read_photo(
    inference: &Inference,
    picture: &DynamicImage,
) -> Result<Faces, AnalysisError> {
    analysis::read_faces(inference, picture, photo_options()).await
}

/// A camera frame's faces, each read.
pub async fn read_frame(
    inference: &Inference,
    picture: &DynamicImage,
) -> Result<Faces, AnalysisError> {
    analysis::read_faces(inference, picture, Options::webcam()).await
}

/// A video frame's faces, each read.
pub async fn read_video_frame(
    inference: &Inference,
    picture: &DynamicImage,
) -> Result<Faces, AnalysisError> {
    analysis::read_faces(inference, picture, Options::video()).await
}

/// Reads the picture's centred square as one face: for pictures that are already a
/// face crop where the detector finds nothing.
pub async fn read_whole(
    inference: &Inference,
    picture: &DynamicImage,
) -> Result<Faces, AnalysisError> {
    analysis::read_whole(inference, picture, photo_options()).await
}

/// Milliseconds since the page started.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}
