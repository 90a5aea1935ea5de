//! From a photo to its faces and their expressions: the one path that both the app
//! (models in Web Workers, awaited) and `mien-analyse` (tract in the same process)
//! follow, so both give the same numbers for the same file.
//!
//! The steps, all here: [`picture_from_bytes`] (decode with limits, EXIF, working
//! size), then [`read_faces`]: detector input, the detector (run by the caller's
//! [`Models`]), decoding, a second look with a margin around the picture when nothing
//! was found (a picture that is nothing but a face), left-to-right order, the upright
//! crop (shown) and the classifier's gray levels (`face_levels`, read from the photo
//! itself), the classifier (the caller's again) and the fractions; or
//! [`read_whole`], the picture's centred square read as one face. The batch CSV's
//! columns and rows are in [`crate::csv`].

use std::sync::Arc;

use image::{DynamicImage, GrayImage, Rgb, RgbImage};

use crate::contract::ModelContract;
use crate::decode::{decode_image, DecodeError, DecodeLimits};
use crate::emotions::Emotions;
use crate::face::{
    centre_square, crop_face, crop_side, downscale, face_levels, Face, FaceDetector, Letterbox,
    Point, Rect, Variant, MAX_PHOTO_SIDE,
};
use crate::preprocess::{is_small_face, levels_to_gray, levels_to_input, to_gray_pixels};
use crate::tensor::TensorF32;

/// The models, run wherever the caller runs them. The app's futures wait for a
/// worker; native ones are ready at once (see [`now_or_never`]).
///
/// Used from one thread at a time, so no `Send` bound is asked of the futures.
#[allow(async_fn_in_trait)]
pub trait Models {
    /// The classifier's contract (labels, input size, normalisation).
    fn contract(&self) -> &ModelContract;

    /// BlazeFace's raw outputs for an input made by [`FaceDetector::input`], and the
    /// milliseconds the model itself took. Err: [`AnalysisError::Engine`] when the
    /// engine failed, [`AnalysisError::Output`] when its answer is malformed.
    async fn detector_outputs(
        &self,
        variant: Variant,
        input: &TensorF32,
    ) -> Result<(Vec<TensorF32>, f64), AnalysisError>;

    /// The classifier's logits for one preprocessed face (the contract's input shape),
    /// and the milliseconds the model itself took; errors as for `detector_outputs`.
    async fn logits(&self, input: Vec<f32>) -> Result<(Vec<f32>, f64), AnalysisError>;

    /// A clock in milliseconds, for the timings reported with each reading.
    fn now_ms(&self) -> f64;
}

/// Why a picture's faces could not be read, by kind, so that a caller can act on it
/// (try another engine, start a new worker, or only report it) without matching words.
/// Its text is the inner sentence. A file that cannot be decoded is a
/// [`DecodeError`] instead, from [`picture_from_bytes`].
#[derive(Clone, Debug, PartialEq)]
pub enum AnalysisError {
    /// The engine running the models failed (a worker crashed or did not answer, the
    /// GPU failed, a model could not run): another engine may succeed.
    Engine(String),
    /// The models ran, but their outputs are not what the model contract says (a
    /// BlazeFace output of the wrong shape, a classifier with the wrong number of
    /// expressions): the model files do not match, and another engine will not help.
    Output(String),
}

impl std::fmt::Display for AnalysisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnalysisError::Engine(why) | AnalysisError::Output(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for AnalysisError {}

/// How a photo's faces are looked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// The BlazeFace model.
    pub variant: Variant,
    /// When nothing is found, look again with a margin added around the picture
    /// ([`MARGIN`], [`RETRY_VARIANT`]): a picture that is nothing but a face.
    pub margin_retry: bool,
    /// When still nothing is found, read the whole picture as one face.
    pub whole_when_none: bool,
    /// Keep each face's crop as a thumbnail of at most this side (the app shows them).
    pub thumbnail: Option<u32>,
    /// Keep the exact gray model input of each face.
    pub keep_input: bool,
}

impl Options {
    /// Photos (the app's batch, `mien-analyse`): the `Back` model, with the margin retry.
    pub fn photo() -> Self {
        Options {
            variant: Variant::Back,
            margin_retry: true,
            whole_when_none: false,
            thumbnail: None,
            keep_input: false,
        }
    }

    /// Camera frames: the cheaper `Front` model once per frame, nothing kept.
    pub fn webcam() -> Self {
        Options {
            variant: Variant::Front,
            margin_retry: false,
            ..Options::photo()
        }
    }

    /// A video's frames: the `Back` model (faces of any size, several people), once per
    /// frame, nothing kept (a faceless frame is common in a video: no second look).
    pub fn video() -> Self {
        Options {
            margin_retry: false,
            ..Options::photo()
        }
    }
}

/// How a photo's faces were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// By the detector on the picture.
    Detected,
    /// By the detector, once a margin was added around the picture.
    WithMargin,
    /// The whole picture was read as one face.
    Whole,
    /// No face.
    None,
}

impl Found {
    /// A word for each, as `mien-analyse` writes it in its `status` column.
    pub fn status(self) -> &'static str {
        match self {
            Found::Detected => "found",
            Found::WithMargin => "found-with-margin",
            Found::Whole => "whole-picture",
            Found::None => "no-face",
        }
    }
}

/// One face and what the classifier reads in it.
#[derive(Clone, Debug)]
pub struct FaceReading {
    /// Where the face is, in the analysed picture's pixels.
    pub rect: Rect,
    /// The detector's confidence (1 for a whole picture).
    pub score: f32,
    pub emotions: Emotions,
    /// The upright crop of the square the classifier read, small (with
    /// [`Options::thumbnail`]).
    pub thumbnail: Option<Arc<RgbImage>>,
    /// The gray levels the classifier read, before normalisation, rounded to whole
    /// levels (with [`Options::keep_input`]).
    pub input: Option<GrayImage>,
    /// The crop's size in the picture's pixels, and whether it is smaller than the
    /// model's input ([`crate::preprocess::is_small_face`]): a less reliable reading.
    pub crop_size: (u32, u32),
    pub small: bool,
    /// Milliseconds from crop to fractions, and of those, the model's own run.
    pub classify_ms: f64,
    pub classify_model_ms: f64,
}

/// The faces of a picture, numbered left to right (index 0 is face 1).
#[derive(Clone, Debug)]
pub struct Faces {
    pub faces: Vec<FaceReading>,
    pub found: Found,
    /// Milliseconds spent finding the faces (inputs, models, decoding), and of those,
    /// the models' own runs.
    pub detect_ms: f64,
    pub detect_model_ms: f64,
}

/// The picture a file holds, ready for [`read_faces`]: decoded under `limits`, turned
/// upright by its EXIF orientation, brought to at most [`MAX_PHOTO_SIDE`] a side.
pub fn picture_from_bytes(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<DynamicImage, DecodeError> {
    Ok(downscale(decode_image(bytes, limits)?, MAX_PHOTO_SIDE))
}

/// The second look at a picture in which nothing was found: a margin of half its
/// longer side on every side (a face that fills the picture then fills half of what
/// the detector sees), read by the `Front` model (made for faces that size), whose
/// face must score at least [`RETRY_MIN_SCORE`].
///
/// Measured with the ignored test `measure_tight_crops` (tests/tight_crops.rs) on the
/// pictures `Back` alone finds nothing in: SFEW `val/` 35 of 41 found (6 of 405 left),
/// FER2013's first 600 `val/` faces 63 of 69 (6 left); faces invented: 1 of 112
/// faceless real pictures, 0 of 198 textures. `Back` with the same margin, at its
/// usual 0.5, found 38 of 41 but invented faces in 9 of the 112 real pictures.
pub const MARGIN: f32 = 0.5;
pub const RETRY_VARIANT: Variant = Variant::Front;
pub const RETRY_MIN_SCORE: f32 = 0.7;

/// Finds the faces in `picture` and reads each one.
pub async fn read_faces<M: Models>(
    models: &M,
    picture: &DynamicImage,
    options: Options,
) -> Result<Faces, AnalysisError> {
    let started = models.now_ms();
    let mut detect_model_ms = 0.0;
    let mut found = Found::Detected;
    let detector = FaceDetector::new(options.variant);
    let mut faces = detect(models, picture, &detector, &mut detect_model_ms).await?;
    if faces.is_empty() && options.margin_retry {
        let mut retry = FaceDetector::new(RETRY_VARIANT);
        retry.min_score = RETRY_MIN_SCORE;
        let (framed, framing) = with_margin(picture, MARGIN, 2 * RETRY_VARIANT.input_size());
        let on_canvas = detect(models, &framed, &retry, &mut detect_model_ms).await?;
        faces = on_canvas.iter().map(|face| framing.unframe(face)).collect();
        found = Found::WithMargin;
    }
    let detect_ms = models.now_ms() - started;
    if faces.is_empty() {
        if options.whole_when_none {
            let mut whole = read_whole(models, picture, options).await?;
            whole.detect_ms = detect_ms;
            whole.detect_model_ms = detect_model_ms;
            return Ok(whole);
        }
        return Ok(Faces {
            faces: Vec::new(),
            found: Found::None,
            detect_ms,
            detect_model_ms,
        });
    }
    faces.sort_by(|a, b| a.rect.centre().x.total_cmp(&b.rect.centre().x));
    let mut readings = Vec::with_capacity(faces.len());
    for face in &faces {
        let started = models.now_ms();
        let contract = models.contract();
        let levels = face_levels(picture, face, contract.width, contract.height);
        let side = crop_side(face);
        let mut reading = read_levels(
            models,
            levels,
            (side, side),
            face.rect,
            face.score,
            options,
            started,
        )
        .await?;
        // The picture is cut only to be shown: the classifier read the levels.
        reading.thumbnail = options
            .thumbnail
            .map(|side| thumbnail(&crop_face(picture, face), side));
        readings.push(reading);
    }
    Ok(Faces {
        faces: readings,
        found,
        detect_ms,
        detect_model_ms,
    })
}

/// Reads the picture's centred square as one face (the app's "whole picture" button).
pub async fn read_whole<M: Models>(
    models: &M,
    picture: &DynamicImage,
    options: Options,
) -> Result<Faces, AnalysisError> {
    let started = models.now_ms();
    let (w, h) = (picture.width(), picture.height());
    let side = w.min(h);
    let rect = Rect {
        x: (w - side) as f32 / 2.0,
        y: (h - side) as f32 / 2.0,
        width: side as f32,
        height: side as f32,
    };
    let square = centre_square(picture);
    let levels = to_gray_pixels(&square, models.contract())
        .iter()
        .map(|&v| v as f32)
        .collect();
    let size = (square.width(), square.height());
    let mut face = read_levels(models, levels, size, rect, 1.0, options, started).await?;
    face.thumbnail = options.thumbnail.map(|side| thumbnail(&square, side));
    Ok(Faces {
        faces: vec![face],
        found: Found::Whole,
        detect_ms: 0.0,
        detect_model_ms: 0.0,
    })
}

/// The detector's faces in `picture`, best first.
async fn detect<M: Models>(
    models: &M,
    picture: &DynamicImage,
    detector: &FaceDetector,
    model_ms: &mut f64,
) -> Result<Vec<Face>, AnalysisError> {
    let (input, letterbox): (TensorF32, Letterbox) = detector.input(picture);
    let (outputs, ms) = models.detector_outputs(detector.variant(), &input).await?;
    *model_ms += ms;
    detector
        .decode(&outputs, &letterbox)
        .map_err(AnalysisError::Output)
}

/// Reads one face from the classifier's gray levels (`levels`, the contract's width x
/// height, 0 to 255). `crop_size` is the size of the face's picture in pixels (to tell
/// a small face); the caller adds the thumbnail.
async fn read_levels<M: Models>(
    models: &M,
    levels: Vec<f32>,
    crop_size: (u32, u32),
    rect: Rect,
    score: f32,
    options: Options,
    started: f64,
) -> Result<FaceReading, AnalysisError> {
    let contract = models.contract();
    let (logits, classify_model_ms) = models.logits(levels_to_input(&levels, contract)).await?;
    if logits.len() != contract.labels.len() {
        return Err(AnalysisError::Output(format!(
            "the expression model gave {} numbers for {} expressions",
            logits.len(),
            contract.labels.len()
        )));
    }
    let emotions = Emotions::from_logits(&logits, contract);
    let input = options
        .keep_input
        .then(|| levels_to_gray(&levels, contract.width, contract.height));
    let small = is_small_face(crop_size.0, crop_size.1, contract);
    Ok(FaceReading {
        rect,
        score,
        emotions,
        thumbnail: None,
        input,
        crop_size,
        small,
        classify_ms: models.now_ms() - started,
        classify_model_ms,
    })
}

/// A face's picture shrunk to fit `side` x `side`, to show beside its reading.
fn thumbnail(crop: &DynamicImage, side: u32) -> Arc<RgbImage> {
    Arc::new(crop.thumbnail(side, side).to_rgb8())
}

/// `picture` centred on a mid-gray canvas with `margin` times its longer side added
/// on every side, at most `max_side` pixels a side (the picture is shrunk to fit;
/// the detector reads a few hundred pixels anyway), and where the picture lies on it.
pub fn with_margin(picture: &DynamicImage, margin: f32, max_side: u32) -> (DynamicImage, Framing) {
    let (w, h) = (picture.width().max(1), picture.height().max(1));
    let framed_side = w.max(h) as f32 * (1.0 + 2.0 * margin);
    let scale = (max_side as f32 / framed_side).min(1.0);
    let fit = |side: u32| ((side as f32 * scale).round() as u32).max(1);
    let small = if scale < 1.0 {
        picture.thumbnail_exact(fit(w), fit(h))
    } else {
        picture.clone()
    };
    let pad = (small.width().max(small.height()) as f32 * margin).round() as u32;
    let mut canvas = RgbImage::from_pixel(
        small.width() + 2 * pad,
        small.height() + 2 * pad,
        Rgb([128, 128, 128]),
    );
    image::imageops::replace(&mut canvas, &small.to_rgb8(), pad as i64, pad as i64);
    let framing = Framing {
        offset: Point {
            x: pad as f32,
            y: pad as f32,
        },
        scale_x: small.width() as f32 / w as f32,
        scale_y: small.height() as f32 / h as f32,
    };
    (DynamicImage::ImageRgb8(canvas), framing)
}

/// Where a picture lies on the canvas [`with_margin`] made: canvas = picture * scale + offset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Framing {
    pub offset: Point,
    pub scale_x: f32,
    pub scale_y: f32,
}

impl Framing {
    /// A point on the canvas, in the picture's own pixels.
    pub fn to_picture(&self, p: Point) -> Point {
        Point {
            x: (p.x - self.offset.x) / self.scale_x,
            y: (p.y - self.offset.y) / self.scale_y,
        }
    }

    /// A face found on the canvas, moved into the picture's own pixels.
    pub fn unframe(&self, face: &Face) -> Face {
        let corner = self.to_picture(Point {
            x: face.rect.x,
            y: face.rect.y,
        });
        let rect = Rect {
            x: corner.x,
            y: corner.y,
            width: face.rect.width / self.scale_x,
            height: face.rect.height / self.scale_y,
        };
        Face::new(rect, face.score, face.keypoints.map(|p| self.to_picture(p)))
    }
}

/// The value of a future that needs no waiting (the native [`Models`]' are all like
/// that); `None` if it would have to wait.
pub fn now_or_never<T>(future: impl std::future::Future<Output = T>) -> Option<T> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(value) => Some(value),
        std::task::Poll::Pending => None,
    }
}

/// The models run natively by tract, in this process: the classifier and the
/// BlazeFace variants given. Shareable across threads.
#[cfg(feature = "cpu")]
pub struct CpuModels {
    contract: ModelContract,
    classifier: crate::cpu::CpuModel,
    detectors: Vec<(Variant, crate::cpu::CpuModel)>,
    started: std::time::Instant,
}

#[cfg(feature = "cpu")]
impl CpuModels {
    /// The classifier's ONNX bytes (float16 or int8 weights expanded here, as the app
    /// does: [`crate::weights::expand_bytes`]) and the BlazeFace files as npm ships them
    /// (prepared here with [`crate::face::prepare_blazeface`]).
    pub fn load(classifier: &[u8], detectors: &[(Variant, &[u8])]) -> Result<Self, String> {
        let contract = ModelContract::from_onnx_bytes(classifier).map_err(|e| e.to_string())?;
        let classifier =
            crate::cpu::CpuModel::load(&crate::weights::expand_bytes(classifier.to_vec())?)?;
        let detectors = detectors
            .iter()
            .map(|&(variant, bytes)| {
                Ok((
                    variant,
                    crate::cpu::CpuModel::load(&crate::face::prepare_blazeface(bytes)?)?,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(CpuModels {
            contract,
            classifier,
            detectors,
            started: std::time::Instant::now(),
        })
    }

    /// [`read_faces`], run here and now.
    pub fn read_faces(
        &self,
        picture: &DynamicImage,
        options: Options,
    ) -> Result<Faces, AnalysisError> {
        now_or_never(read_faces(self, picture, options)).unwrap_or_else(waited)
    }

    /// [`read_whole`], run here and now.
    pub fn read_whole(
        &self,
        picture: &DynamicImage,
        options: Options,
    ) -> Result<Faces, AnalysisError> {
        now_or_never(read_whole(self, picture, options)).unwrap_or_else(waited)
    }
}

/// Native models never wait; if one did, that is the engine's failure.
#[cfg(feature = "cpu")]
fn waited() -> Result<Faces, AnalysisError> {
    Err(AnalysisError::Engine("the native models waited".into()))
}

#[cfg(feature = "cpu")]
impl Models for CpuModels {
    fn contract(&self) -> &ModelContract {
        &self.contract
    }

    async fn detector_outputs(
        &self,
        variant: Variant,
        input: &TensorF32,
    ) -> Result<(Vec<TensorF32>, f64), AnalysisError> {
        let (_, model) = self
            .detectors
            .iter()
            .find(|(v, _)| *v == variant)
            .ok_or_else(|| {
                AnalysisError::Engine(format!("the {variant:?} face detector is not loaded"))
            })?;
        let started = self.now_ms();
        let outputs = model
            .run(std::slice::from_ref(input))
            .map_err(AnalysisError::Engine)?;
        Ok((outputs, self.now_ms() - started))
    }

    async fn logits(&self, input: Vec<f32>) -> Result<(Vec<f32>, f64), AnalysisError> {
        let started = self.now_ms();
        let tensor = TensorF32 {
            shape: self.contract.input_shape().to_vec(),
            data: input,
        };
        let outputs = self
            .classifier
            .run(&[tensor])
            .map_err(AnalysisError::Engine)?;
        let logits = outputs
            .into_iter()
            .next()
            .map(|t| t.data)
            .unwrap_or_default();
        Ok((logits, self.now_ms() - started))
    }

    fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Models that answer as they are told: an engine error, or outputs of some shape.
    struct Told {
        contract: ModelContract,
        detector: Result<Vec<TensorF32>, AnalysisError>,
        logits: Result<Vec<f32>, AnalysisError>,
    }

    impl Models for Told {
        fn contract(&self) -> &ModelContract {
            &self.contract
        }

        async fn detector_outputs(
            &self,
            _: Variant,
            _: &TensorF32,
        ) -> Result<(Vec<TensorF32>, f64), AnalysisError> {
            self.detector.clone().map(|outputs| (outputs, 0.0))
        }

        async fn logits(&self, _: Vec<f32>) -> Result<(Vec<f32>, f64), AnalysisError> {
            self.logits.clone().map(|logits| (logits, 0.0))
        }

        fn now_ms(&self) -> f64 {
            0.0
        }
    }

    fn told(
        detector: Result<Vec<TensorF32>, AnalysisError>,
        logits: Result<Vec<f32>, AnalysisError>,
    ) -> Told {
        Told {
            contract: ModelContract::new(1, 48, 48),
            detector,
            logits,
        }
    }

    fn photo() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(160, 120, Rgb([90, 120, 150])))
    }

    fn read_faces_now(models: &Told) -> Result<Faces, AnalysisError> {
        now_or_never(read_faces(models, &photo(), Options::photo())).expect("no waiting")
    }

    fn read_whole_now(models: &Told) -> Result<Faces, AnalysisError> {
        now_or_never(read_whole(models, &photo(), Options::photo())).expect("no waiting")
    }

    #[test]
    fn an_engine_failure_is_an_engine_error() {
        fn crashed<T>() -> Result<T, AnalysisError> {
            Err(AnalysisError::Engine("the worker crashed".to_string()))
        }
        assert_eq!(
            read_faces_now(&told(crashed(), Ok(vec![0.0; 7]))).unwrap_err(),
            AnalysisError::Engine("the worker crashed".into())
        );
        let whole = read_whole_now(&told(Ok(Vec::new()), crashed())).unwrap_err();
        assert_eq!(whole, AnalysisError::Engine("the worker crashed".into()));
        assert_eq!(whole.to_string(), "the worker crashed");
    }

    #[test]
    fn outputs_that_break_the_contract_are_output_errors() {
        // BlazeFace with no outputs at all.
        let err = read_faces_now(&told(Ok(Vec::new()), Ok(vec![0.0; 7]))).unwrap_err();
        assert!(matches!(err, AnalysisError::Output(_)), "{err:?}");
        // A classifier giving 3 numbers for 7 expressions.
        let err = read_whole_now(&told(Ok(Vec::new()), Ok(vec![0.0; 3]))).unwrap_err();
        assert_eq!(
            err,
            AnalysisError::Output("the expression model gave 3 numbers for 7 expressions".into())
        );
        // Models that find their own answer malformed (a worker's reply missing an
        // output) say so, and it stays an output error.
        let malformed = AnalysisError::Output("model `classifier` gave no output".into());
        let passed = read_whole_now(&told(Ok(Vec::new()), Err(malformed.clone()))).unwrap_err();
        assert_eq!(passed, malformed);
    }

    #[test]
    fn a_picture_read_whole_gives_one_face() {
        let faces = read_whole_now(&told(Ok(Vec::new()), Ok(vec![0.0; 7]))).unwrap();
        assert_eq!(faces.found, Found::Whole);
        assert_eq!(faces.faces.len(), 1);
    }
}
