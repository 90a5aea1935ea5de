//! A picture's faces and their expressions: every step is the shared core's
//! (`mien::face`, `mien::preprocess`, `mien::emotions`), so the page shows what the
//! native evaluation computes; only the models run elsewhere, in an engine's worker.

use std::sync::Arc;

use image::{DynamicImage, RgbImage};
use mien::emotions::Emotions;
use mien::face::{centre_square, crop_face, FaceDetector, Rect, Variant};
use mien::preprocess::preprocess;

use super::backend::Inference;

/// Side of the face thumbnails shown beside the results.
const THUMBNAIL_SIDE: u32 = 96;

/// One face and what the classifier reads in it.
#[derive(Clone, Debug)]
pub struct FaceReading {
    /// Where the face is, in the analysed picture's pixels.
    pub rect: Rect,
    pub emotions: Emotions,
    /// The upright crop the classifier read, small (when asked for).
    pub thumbnail: Option<Arc<RgbImage>>,
    /// Milliseconds from crop to fractions, and of those, the model's run in its worker.
    pub classify_ms: f64,
    pub classify_model_ms: f64,
}

/// The faces of a picture, numbered left to right (index 0 is face 1).
#[derive(Clone, Debug)]
pub struct Faces {
    pub faces: Vec<FaceReading>,
    /// Milliseconds spent finding the faces (input, model, decoding), and of those,
    /// the model's run in its worker.
    pub detect_ms: f64,
    pub detect_model_ms: f64,
}

/// Finds the faces in `picture` with the given BlazeFace variant and reads each one.
pub async fn read_faces(
    inference: &Inference,
    picture: &DynamicImage,
    variant: Variant,
    thumbnails: bool,
) -> Result<Faces, String> {
    let started = now_ms();
    let detector = FaceDetector::new(variant);
    let (input, letterbox) = detector.input(picture);
    let ran = inference.detector_outputs(variant, &input).await?;
    let mut found = detector.decode(&ran.outputs, &letterbox)?;
    let detect_ms = now_ms() - started;
    found.sort_by(|a, b| a.rect.centre().x.total_cmp(&b.rect.centre().x));
    let mut faces = Vec::with_capacity(found.len());
    for face in &found {
        let started = now_ms();
        let crop = crop_face(picture, face);
        faces.push(read_crop(inference, &crop, face.rect, thumbnails, started).await?);
    }
    Ok(Faces { faces, detect_ms, detect_model_ms: ran.worker_ms })
}

/// Reads the picture's centred square as one face: for pictures that are already a
/// face crop (FER2013-style), where the detector finds nothing.
pub async fn read_whole(inference: &Inference, picture: &DynamicImage) -> Result<Faces, String> {
    let started = now_ms();
    let (w, h) = (picture.width(), picture.height());
    let side = w.min(h);
    let rect = Rect {
        x: (w - side) as f32 / 2.0,
        y: (h - side) as f32 / 2.0,
        width: side as f32,
        height: side as f32,
    };
    let face = read_crop(inference, &centre_square(picture), rect, true, started).await?;
    Ok(Faces { faces: vec![face], detect_ms: 0.0, detect_model_ms: 0.0 })
}

async fn read_crop(
    inference: &Inference,
    crop: &DynamicImage,
    rect: Rect,
    thumbnail: bool,
    started: f64,
) -> Result<FaceReading, String> {
    let (logits, classify_model_ms) = inference.logits(preprocess(crop, inference.contract())).await?;
    let emotions = Emotions::from_logits(&logits, inference.contract());
    let thumbnail = thumbnail.then(|| Arc::new(crop.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8()));
    Ok(FaceReading { rect, emotions, thumbnail, classify_ms: now_ms() - started, classify_model_ms })
}

/// Milliseconds since the page started.
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or_else(js_sys::Date::now, |p| p.now())
}
