//! The model contract: what a mien classifier takes and returns.
//!
//! Defined once here and used by the trainer (which writes it into the ONNX file's
//! `metadata_props`) and by the app and the evaluator (which read it back from the
//! file), so a retrained model with another input size or normalisation just works.

use crate::onnx::ModelProto;

/// The 7 expressions, in the fixed order of the model's outputs: the alphabetical
/// folder order of the FER2013 ImageFolder layout.
pub const LABELS: [&str; 7] = [
    "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise",
];

/// Number of expression classes.
pub const NUM_CLASSES: usize = LABELS.len();

/// Default input side (FER2013 faces are 48x48).
pub const DEFAULT_SIZE: u32 = 48;

/// Default normalisation, `(pixel / 255 - mean) / std`, close to FER2013's statistics.
pub const DEFAULT_MEAN: f32 = 0.5;
pub const DEFAULT_STD: f32 = 0.25;

/// Keys of the contract in the ONNX file's `metadata_props`.
pub mod keys {
    pub const LABELS: &str = "mien.labels";
    pub const INPUT_NAME: &str = "mien.input_name";
    pub const OUTPUT_NAME: &str = "mien.output_name";
    pub const INPUT_SHAPE: &str = "mien.input_shape";
    pub const MEAN: &str = "mien.mean";
    pub const STD: &str = "mien.std";
    pub const MODEL_NAME: &str = "mien.model_name";
    pub const MODEL_VERSION: &str = "mien.model_version";
    pub const VAL_ACCURACY: &str = "mien.val_accuracy";
    pub const VAL_MACRO_F1: &str = "mien.val_macro_f1";
    pub const TRAINED_ON: &str = "mien.trained_on";
    pub const SELF_TEST_LOGITS: &str = "mien.self_test_logits";
    pub const OUTPUT_KIND: &str = "mien.output";
    pub const MIRROR_AVERAGED: &str = "mien.mirror_averaged";
    pub const LIGHT_NORMALIZED: &str = "mien.light_normalized";
}

/// Everything the app and the evaluator need to know to use a classifier file.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelContract {
    /// Class names in output order.
    pub labels: Vec<String>,
    pub input_name: String,
    pub output_name: String,
    /// Input channels: 1, or 3 (the grayscale face repeated, for ImageNet-style nets).
    pub channels: u32,
    pub height: u32,
    pub width: u32,
    pub mean: f32,
    pub std: f32,
    pub model_name: String,
    pub model_version: String,
    /// Accuracy on the validation split, 0..1, as measured when exported.
    pub val_accuracy: Option<f32>,
    pub val_macro_f1: Option<f32>,
    /// What the weights were trained on, in words.
    pub trained_on: String,
    /// Logits the model gives for [`self_test_input`]: lets a runtime check itself.
    pub self_test_logits: Option<Vec<f32>>,
    /// The graph runs the network on the face and on its mirror image and outputs the
    /// mean of the two logit vectors (test-time flip averaging inside the file, so every
    /// runtime gives the same numbers; twice the compute of one view).
    pub mirror_averaged: bool,
    /// Each face's gray levels are brought to a standard brightness and contrast
    /// before the normalisation above ([`crate::preprocess::normalize_light`]): film
    /// stills and dim photos then look to the model as well lit as FER2013's faces.
    pub light_normalized: bool,
}

/// Why a model file cannot be used as a mien classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractError(pub String);

impl std::fmt::Display for ContractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this model file is not a mien expression model: {}",
            self.0
        )
    }
}

impl std::error::Error for ContractError {}

impl ModelContract {
    /// The contract of a fresh model with the given input geometry.
    pub fn new(channels: u32, height: u32, width: u32) -> Self {
        ModelContract {
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
            input_name: "input".into(),
            output_name: "logits".into(),
            channels,
            height,
            width,
            mean: DEFAULT_MEAN,
            std: DEFAULT_STD,
            model_name: "mien".into(),
            model_version: "0".into(),
            val_accuracy: None,
            val_macro_f1: None,
            trained_on: String::new(),
            self_test_logits: None,
            mirror_averaged: false,
            light_normalized: false,
        }
    }

    /// Shape of the input tensor: `[1, channels, height, width]` (NCHW, batch 1).
    pub fn input_shape(&self) -> [usize; 4] {
        [
            1,
            self.channels as usize,
            self.height as usize,
            self.width as usize,
        ]
    }

    /// Number of input values for one face.
    pub fn input_len(&self) -> usize {
        self.input_shape().iter().product()
    }

    /// Writes the contract into `metadata_props`.
    pub fn write_to(&self, model: &mut ModelProto) {
        model.set_metadata(keys::LABELS, self.labels.join(","));
        model.set_metadata(keys::INPUT_NAME, self.input_name.clone());
        model.set_metadata(keys::OUTPUT_NAME, self.output_name.clone());
        let shape = self.input_shape().map(|d| d.to_string()).join(",");
        model.set_metadata(keys::INPUT_SHAPE, shape);
        model.set_metadata(keys::MEAN, self.mean.to_string());
        model.set_metadata(keys::STD, self.std.to_string());
        model.set_metadata(keys::MODEL_NAME, self.model_name.clone());
        model.set_metadata(keys::MODEL_VERSION, self.model_version.clone());
        model.set_metadata(keys::OUTPUT_KIND, "logits (apply softmax for fractions)");
        if let Some(acc) = self.val_accuracy {
            model.set_metadata(keys::VAL_ACCURACY, format!("{acc:.4}"));
        }
        if let Some(f1) = self.val_macro_f1 {
            model.set_metadata(keys::VAL_MACRO_F1, format!("{f1:.4}"));
        }
        model.set_metadata(keys::TRAINED_ON, self.trained_on.clone());
        model.set_metadata(keys::MIRROR_AVERAGED, self.mirror_averaged.to_string());
        model.set_metadata(keys::LIGHT_NORMALIZED, self.light_normalized.to_string());
        if let Some(logits) = &self.self_test_logits {
            let text: Vec<String> = logits.iter().map(|v| format!("{v:e}")).collect();
            model.set_metadata(keys::SELF_TEST_LOGITS, text.join(","));
        }
    }

    /// Reads the contract from a model's `metadata_props`, checking it is complete.
    pub fn read_from(model: &ModelProto) -> Result<Self, ContractError> {
        let get = |key: &str| {
            model
                .metadata(key)
                .ok_or_else(|| ContractError(format!("its metadata has no `{key}`")))
        };
        let labels: Vec<String> = get(keys::LABELS)?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            return Err(ContractError("its label list is malformed".into()));
        }
        let shape = parse_list::<u32>(get(keys::INPUT_SHAPE)?)
            .filter(|s| {
                s.len() == 4 && s[0] == 1 && s[2..].iter().all(|&d| (8..=1024).contains(&d))
            })
            .ok_or_else(|| {
                ContractError("its input shape must be 1,C,H,W with 8 <= H,W <= 1024".into())
            })?;
        if shape[1] != 1 && shape[1] != 3 {
            return Err(ContractError("its input must have 1 or 3 channels".into()));
        }
        let number = |key: &str| -> Result<f32, ContractError> {
            get(key)?
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| ContractError(format!("`{key}` is not a number")))
        };
        let std = number(keys::STD)?;
        if std <= 0.0 {
            return Err(ContractError(
                "its normalisation std must be positive".into(),
            ));
        }
        let optional_number = |key: &str| {
            model
                .metadata(key)
                .and_then(|v| v.trim().parse::<f32>().ok())
        };
        let self_test_logits = match model.metadata(keys::SELF_TEST_LOGITS) {
            Some(text) => Some(
                parse_list::<f32>(text)
                    .filter(|v| v.len() == labels.len())
                    .ok_or_else(|| ContractError("its self-test logits are malformed".into()))?,
            ),
            None => None,
        };
        Ok(ModelContract {
            input_name: get(keys::INPUT_NAME)?.to_string(),
            output_name: get(keys::OUTPUT_NAME)?.to_string(),
            channels: shape[1],
            height: shape[2],
            width: shape[3],
            mean: number(keys::MEAN)?,
            std,
            model_name: model
                .metadata(keys::MODEL_NAME)
                .unwrap_or("unnamed")
                .to_string(),
            model_version: model
                .metadata(keys::MODEL_VERSION)
                .unwrap_or("?")
                .to_string(),
            val_accuracy: optional_number(keys::VAL_ACCURACY),
            val_macro_f1: optional_number(keys::VAL_MACRO_F1),
            trained_on: model.metadata(keys::TRAINED_ON).unwrap_or("").to_string(),
            self_test_logits,
            mirror_averaged: model
                .metadata(keys::MIRROR_AVERAGED)
                .is_some_and(|v| v.trim() == "true"),
            light_normalized: model
                .metadata(keys::LIGHT_NORMALIZED)
                .is_some_and(|v| v.trim() == "true"),
            labels,
        })
    }

    /// Reads the contract straight from an ONNX file's bytes.
    pub fn from_onnx_bytes(bytes: &[u8]) -> Result<Self, ContractError> {
        let model = ModelProto::decode_bytes(bytes).map_err(|e| ContractError(e.to_string()))?;
        Self::read_from(&model)
    }
}

/// Most labels a chosen model may have: each gets a bar, a table column and a CSV
/// column, so a few dozen at most stay readable.
pub const MAX_LABELS: usize = 32;

/// Why a model file someone chose cannot be used, in a sentence for the page.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelFileError {
    /// The bytes are not an ONNX model at all.
    NotOnnx(String),
    /// An ONNX model, but not a mien expression model (no or broken `mien.*` metadata).
    NotMien(ContractError),
    /// A mien model whose graph the app cannot run as its metadata says.
    Unsupported(String),
}

impl std::fmt::Display for ModelFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelFileError::NotOnnx(why) => write!(
                f,
                "This file is not an ONNX model. Choose a classifier exported by \
                 `mien-train export`. (Details: {why}.)"
            ),
            ModelFileError::NotMien(why) => write!(
                f,
                "This ONNX file is not a mien expression model: {}. Choose a classifier \
                 exported by `mien-train export`.",
                why.0
            ),
            ModelFileError::Unsupported(why) => {
                write!(f, "mien cannot run this model: {why}.")
            }
        }
    }
}

impl std::error::Error for ModelFileError {}

impl ModelContract {
    /// Reads a classifier file someone chose and checks that the app can run it: an
    /// ONNX model, with mien's contract in its metadata, whose graph has the one input
    /// and the output the contract names, with the shapes it states (where the graph
    /// declares them), and at most [`MAX_LABELS`] distinct labels.
    pub fn from_model_file(bytes: &[u8]) -> Result<Self, ModelFileError> {
        let model =
            ModelProto::decode_bytes(bytes).map_err(|e| ModelFileError::NotOnnx(e.to_string()))?;
        let contract = Self::read_from(&model).map_err(ModelFileError::NotMien)?;
        contract.check_graph(&model)?;
        Ok(contract)
    }

    /// Checks `model`'s graph against this contract (see [`Self::from_model_file`]).
    pub fn check_graph(&self, model: &ModelProto) -> Result<(), ModelFileError> {
        let unsupported = |why: String| Err(ModelFileError::Unsupported(why));
        if self.labels.len() > MAX_LABELS {
            return unsupported(format!(
                "it has {} labels, and mien shows at most {MAX_LABELS}",
                self.labels.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = self.labels.iter().find(|l| !seen.insert(l.as_str())) {
            return unsupported(format!("its label \"{twice}\" appears twice"));
        }
        let Some(graph) = model.graph.as_ref() else {
            return unsupported("it has no graph".into());
        };
        // Older files list their weights among the inputs too.
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !graph.initializer.iter().any(|w| w.name == i.name))
            .collect();
        let Some(input) = inputs.iter().find(|i| i.name == self.input_name) else {
            return unsupported(format!(
                "its graph has no input `{}`, the one its metadata names",
                self.input_name
            ));
        };
        if inputs.len() > 1 {
            return unsupported(format!(
                "its graph takes {} inputs, and mien gives it one face",
                inputs.len()
            ));
        }
        let shape_text = |s: &[i64]| {
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" × ")
        };
        let tensor_type = input.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
        if let Some(t) = tensor_type {
            if t.elem_type != crate::onnx::FLOAT {
                return unsupported(format!("its input `{}` is not float32", input.name));
            }
        }
        let wanted: Vec<i64> = self.input_shape().iter().map(|&d| d as i64).collect();
        if let Some(dims) = tensor_type.and_then(|t| t.shape.as_ref()).map(|s| &s.dim) {
            let fits = dims.len() == 4
                && dims
                    .iter()
                    .zip(&wanted)
                    .all(|(d, &w)| d.dim_value.is_none_or(|v| v == w));
            if !fits {
                let declared: Vec<i64> = dims.iter().map(|d| d.dim_value.unwrap_or(-1)).collect();
                return unsupported(format!(
                    "its input is {} but its metadata says {}",
                    shape_text(&declared),
                    shape_text(&wanted)
                ));
            }
        }
        let Some(output) = graph.output.iter().find(|o| o.name == self.output_name) else {
            return unsupported(format!(
                "its graph has no output `{}`, the one its metadata names",
                self.output_name
            ));
        };
        if let Some(shape) = output.static_shape() {
            let numbers: i64 = shape.iter().product();
            if numbers != self.labels.len() as i64 {
                return unsupported(format!(
                    "its output `{}` gives {numbers} numbers for its {} labels",
                    output.name,
                    self.labels.len()
                ));
            }
        }
        Ok(())
    }
}

/// A fixed, deterministic input (a smooth pattern spanning the normalised range) whose
/// logits the exporter stores in the file, so a runtime can check its own numbers.
pub fn self_test_input(contract: &ModelContract) -> Vec<f32> {
    let [_, c, h, w] = contract.input_shape();
    let mut out = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                let v = (6.0 * fx + 1.3 * ch as f32).sin() * (4.0 * fy).cos() + 0.5 * (fx - fy);
                out.push(v * 1.5);
            }
        }
    }
    out
}

fn parse_list<T: std::str::FromStr>(text: &str) -> Option<Vec<T>> {
    text.split(',')
        .map(|s| s.trim().parse::<T>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trainer numbers classes by their sorted folder names, so LABELS must be
    /// sorted to match; that they are FER2013's folders is checked against the real
    /// dataset in `tests/shipped_model.rs`.
    #[test]
    fn labels_are_in_folder_order() {
        let mut sorted = LABELS;
        sorted.sort();
        assert_eq!(sorted, LABELS);
        let mut unique = LABELS.to_vec();
        unique.dedup();
        assert_eq!(unique.len(), NUM_CLASSES, "a label appears twice");
    }

    #[test]
    fn contract_round_trips_through_metadata() {
        let mut c = ModelContract::new(3, 64, 56);
        c.val_accuracy = Some(0.7123);
        c.self_test_logits = Some(vec![1.5, -2.0, 0.0, 3.25e-3, 4.0, -1e6, 7.0]);
        c.trained_on = "FER2013 train".into();
        c.mirror_averaged = true;
        let mut model = ModelProto {
            graph: Some(Default::default()),
            ..Default::default()
        };
        c.write_to(&mut model);
        let bytes = model.to_bytes();
        let back = ModelContract::from_onnx_bytes(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.input_shape(), [1, 3, 64, 56]);
    }

    #[test]
    fn incomplete_metadata_is_a_clear_error() {
        let mut model = ModelProto {
            graph: Some(Default::default()),
            ..Default::default()
        };
        ModelContract::new(1, 48, 48).write_to(&mut model);
        model.metadata_props.retain(|p| p.key != keys::INPUT_SHAPE);
        let err = ModelContract::read_from(&model).unwrap_err();
        assert!(err.to_string().contains("mien.input_shape"), "{err}");
        model.set_metadata(keys::INPUT_SHAPE, "1,2,48,48");
        assert!(ModelContract::read_from(&model).is_err());
    }

    #[test]
    fn bytes_that_are_not_onnx_are_a_sentence() {
        for bytes in [&b"name,value\n1,2\n"[..], &[], &[0xff; 64]] {
            let err = ModelContract::from_model_file(bytes).unwrap_err();
            assert!(matches!(err, ModelFileError::NotOnnx(_)), "{err:?}");
            assert!(
                err.to_string()
                    .starts_with("This file is not an ONNX model"),
                "{err}"
            );
        }
    }

    /// The self-test input is what every exported file's self-test logits were computed
    /// on (the shipped model's included), so it must fill the model's input exactly
    /// (channel by channel, row by row), span most of the range real faces take after
    /// normalisation (pixels 0 to 255 are -2 to 2 with the default mean and std),
    /// differ between channels, vary smoothly, and never change: the pinned values fail
    /// if the pattern does, which would fail every existing file's self-test.
    #[test]
    fn self_test_input_is_a_fixed_smooth_pattern_filling_the_input() {
        for (c, h, w) in [(1, 48, 48), (3, 64, 56), (1, 40, 32)] {
            let contract = ModelContract::new(c, h, w);
            let a = self_test_input(&contract);
            let [_, c, h, w] = contract.input_shape();
            assert_eq!(a.len(), c * h * w, "{c} x {h} x {w}");
            let (lo, hi) = a
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert!(
                a.iter().all(|v| v.is_finite()) && lo >= -2.25 && hi <= 2.25,
                "{c} x {h} x {w}: values from {lo} to {hi}, beyond the normalised range"
            );
            assert!(
                lo < -1.5 && hi > 1.5,
                "{c} x {h} x {w}: values only from {lo} to {hi}, not spanning the range"
            );
            let at = |ch: usize, y: usize, x: usize| a[(ch * h + y) * w + x];
            let mut steepest = 0f32;
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        if x + 1 < w {
                            steepest = steepest.max((at(ch, y, x + 1) - at(ch, y, x)).abs());
                        }
                        if y + 1 < h {
                            steepest = steepest.max((at(ch, y + 1, x) - at(ch, y, x)).abs());
                        }
                    }
                }
            }
            // Smooth: a few waves across the picture, whatever its size (neighbours
            // differ by at most 12 / side, about a sixteenth of the range at 48 x 48).
            assert!(
                steepest * (h.min(w) as f32) < 12.0,
                "{c} x {h} x {w}: neighbours differ by {steepest}"
            );
            if c > 1 {
                let plane = h * w;
                assert_ne!(
                    a[..plane],
                    a[plane..2 * plane],
                    "channels 0 and 1 are equal"
                );
            }
        }
        let pinned = |(c, h, w): (u32, u32, u32), (ch, y, x): (usize, usize, usize), v: f32| {
            let a = self_test_input(&ModelContract::new(c, h, w));
            let got = a[(ch * h as usize + y) * w as usize + x];
            assert!(
                (got - v).abs() < 1e-5,
                "{c} x {h} x {w} at ({ch}, {y}, {x}): {got}, was {v}"
            );
        };
        pinned((1, 48, 48), (0, 0, 0), 0.0);
        pinned((1, 48, 48), (0, 10, 20), 0.759_88);
        pinned((1, 48, 48), (0, 24, 5), -0.662_104_6);
        pinned((1, 48, 48), (0, 47, 47), 0.425_347_3);
        pinned((3, 64, 56), (1, 0, 0), 1.445_337_3);
        pinned((3, 64, 56), (2, 30, 7), -0.164_851_4);
    }
}
