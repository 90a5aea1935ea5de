//! Every hyper-parameter of a training run, as one command-line struct that is saved
//! beside the weights (`config.json`), so each model can say exactly how it was made.

use super::augment::Augment;
use super::model::{Arch, FerShape, ModelSpec};
use super::optim::{OptimizerKind, Schedule};
use super::precision::PrecisionChoice;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    /// Dataset root with train/<class>/* and val/<class>/* (FER2013 / Kaggle layout).
    #[arg(long)]
    pub data: PathBuf,
    /// Run folder: config, log, checkpoints and best weights go here.
    #[arg(long, default_value = "runs/fer")]
    pub out: PathBuf,
    /// FER+ vote counts (ferplus_votes.csv): train on the annotators' vote shares.
    #[arg(long)]
    pub votes: Option<PathBuf>,
    /// With --votes: target = w * vote shares + (1 - w) * folder label.
    #[arg(long, default_value_t = 1.0)]
    pub soft_weight: f64,
    /// More training images: an ImageFolder split (`<dir>/<class>/<image>`, the same
    /// class names), e.g. SFEW's train/ or faces cropped by the app's path. Repeatable.
    #[arg(long)]
    #[serde(default)]
    pub extra: Vec<PathBuf>,
    /// How many times each --extra image appears per epoch (oversampling a small set).
    #[arg(long, default_value_t = 1)]
    #[serde(default)]
    pub extra_repeat: usize,

    /// Bring every face to a standard brightness and contrast before the network
    /// (`preprocess::normalize_light`; recorded in the exported file's contract).
    #[arg(long)]
    #[serde(default)]
    pub light_norm: bool,

    /// Network topology.
    #[arg(long, value_enum, default_value_t = Arch::Fer)]
    pub arch: Arch,
    /// Input side in pixels (images are resized to it).
    #[arg(long, default_value_t = 48)]
    pub size: u32,
    /// Input channels: 1 (gray) or 3 (gray repeated, for ImageNet-style weights).
    #[arg(long, default_value_t = 1)]
    pub channels: u32,
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: FerShape,
    /// torchvision archs: keep the 7x7/2 + max-pool ImageNet stem instead of the
    /// small-input 3x3/1 stem.
    #[arg(long)]
    pub imagenet_stem: bool,
    /// Dropout before the classifier head.
    #[arg(long)]
    pub dropout: Option<f64>,

    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Learning rate of the classifier head (default: --lr).
    #[arg(long)]
    pub head_lr: Option<f64>,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Plain momentum instead of Nesterov's.
    #[arg(long)]
    pub no_nesterov: bool,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    #[arg(long, value_enum, default_value_t = Schedule::Cosine)]
    pub schedule: Schedule,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_epochs: f64,
    /// Plateau schedule: epochs without val improvement before dividing the rate by 10.
    #[arg(long, default_value_t = 4)]
    pub patience: usize,
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f64,
    /// Weight classes by (frequency)^-power: 0 = off, 0.5 = inverse square root, 1 = inverse.
    #[arg(long, default_value_t = 0.0)]
    pub class_weight_power: f64,

    /// Initial weights (a checkpoint's .safetensors); tensors are matched by name and
    /// shape, and the unmatched are listed.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Initial weights from an exported mien .onnx file of the same architecture (its
    /// BatchNorm rebuilt from training images; see `from_onnx`).
    #[arg(long, conflicts_with = "init")]
    #[serde(default)]
    pub init_onnx: Option<PathBuf>,
    /// Linear probe: freeze every layer but a new head.
    #[arg(long)]
    pub linear_probe: bool,
    /// Freeze the stem and the first N residual stages (N = 1..).
    #[arg(long, default_value_t = 0)]
    pub freeze_stages: usize,

    #[command(flatten)]
    pub augment: Augment,

    /// Arithmetic of the training passes: f32, bf16 (bfloat16 convolutions with
    /// float32 master weights; faster on CPUs with AVX512-BF16 or AMX, far slower
    /// without), or auto: time a few steps of each on this machine and take the faster.
    #[arg(long, value_enum, default_value_t = PrecisionChoice::Auto)]
    #[serde(default)]
    pub precision: PrecisionChoice,

    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// libtorch CPU threads (its OpenMP threads spin: never more than the free cores).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// cpu, cuda, or auto (cuda when available).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Continue from the last finished epoch in --out.
    #[arg(long)]
    pub resume: bool,
    /// End this sitting once this many epochs of the run are done (saved as always), to
    /// continue later with --resume: the schedule still follows --epochs, so a run
    /// stopped and resumed ends where an unbroken one ends.
    #[arg(long, value_name = "EPOCHS")]
    #[serde(skip)]
    pub stop_after: Option<usize>,
    /// Use at most this many training images (quick experiments, tests).
    #[arg(long)]
    pub limit: Option<usize>,
    /// A name for the model (written into the ONNX metadata on export).
    #[arg(long, default_value = "mien-fer-resnet")]
    pub name: String,
}

impl TrainConfig {
    pub fn model_spec(&self, num_classes: usize) -> ModelSpec {
        let mut spec = match self.arch {
            Arch::Fer => ModelSpec::fer_default(self.channels, self.size, num_classes),
            a => ModelSpec::torchvision(
                a,
                self.channels,
                self.size,
                num_classes,
                !self.imagenet_stem,
            ),
        }
        .with_fer_shape(&self.shape);
        if let Some(d) = self.dropout {
            spec.dropout = d;
        }
        spec
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.channels != 1 && self.channels != 3 {
            return Err("--channels must be 1 or 3".into());
        }
        if !(16..=512).contains(&self.size) {
            return Err("--size must be between 16 and 512".into());
        }
        if self.arch == Arch::Fer {
            let spec = self.model_spec(7);
            if spec.widths.len() != spec.blocks.len()
                || spec.widths.len() != spec.strides.len()
                || spec.widths.is_empty()
            {
                return Err(
                    "--widths, --blocks and --strides need the same, non-zero number of stages"
                        .into(),
                );
            }
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return Err("--epochs and --batch-size must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.soft_weight) {
            return Err("--soft-weight must be in 0..1".into());
        }
        Ok(())
    }
}
