//! The networks: a ResNet sized for 48x48 faces (mien's default) and the torchvision
//! ResNet topologies (18/34 basic blocks, 50 bottleneck blocks), with a stem that can
//! be adapted to small inputs. Layer names follow torchvision's (`layer1.0.conv1`), so
//! weights converted from torchvision load by name.

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// The arithmetic of training's forward and backward passes. The weights (and so the
/// checkpoints and the exported file) stay float32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 everywhere.
    #[default]
    F32,
    /// Convolutions in bfloat16 (each float32 weight cast per step, so the optimiser
    /// updates float32 master weights), activations in channels-last layout,
    /// BatchNorm statistics, the head and the loss in float32: what PyTorch's CPU
    /// autocast does, spelled out, since tch's `autocast` only switches CUDA's.
    Bf16,
}

impl Precision {
    fn kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}

/// The same values in channels-last (NHWC) memory order, still indexed NCHW: the
/// layout oneDNN's bfloat16 convolutions are fastest in.
fn channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// ResNet sized for 48x48 faces (widths, depths and strides configurable).
    Fer,
    Resnet18,
    Resnet34,
    Resnet50,
}

/// The `fer` shape options of `train` and `bench`; each `None` keeps mien's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct FerShape {
    /// fer: stage widths, basic blocks per stage, stage strides, stem width.
    #[arg(long, value_delimiter = ',')]
    pub widths: Option<Vec<i64>>,
    #[arg(long, value_delimiter = ',')]
    pub blocks: Option<Vec<usize>>,
    #[arg(long, value_delimiter = ',')]
    pub strides: Option<Vec<i64>>,
    #[arg(long)]
    pub stem_width: Option<i64>,
}

/// Everything needed to rebuild a network: saved beside every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    pub channels: u32,
    pub size: u32,
    pub num_classes: usize,
    /// `fer` only: output channels of the 3x3 stem conv.
    pub stem_width: i64,
    /// `fer` only: width, number of basic blocks and stride of each stage.
    pub widths: Vec<i64>,
    pub blocks: Vec<usize>,
    pub strides: Vec<i64>,
    /// torchvision archs: replace the 7x7/2 conv + max-pool stem by a 3x3/1 conv, for
    /// small inputs.
    pub small_stem: bool,
    pub dropout: f64,
}

impl ModelSpec {
    /// mien's default face network (chosen by measurement, see the README).
    pub fn fer_default(channels: u32, size: u32, num_classes: usize) -> Self {
        ModelSpec {
            arch: Arch::Fer,
            channels,
            size,
            num_classes,
            stem_width: 32,
            widths: vec![64, 128, 256],
            blocks: vec![2, 2, 2],
            strides: vec![2, 2, 2],
            small_stem: true,
            dropout: 0.3,
        }
    }

    /// `fer` with the command line's shape options applied; other architectures are
    /// returned unchanged.
    pub fn with_fer_shape(mut self, shape: &FerShape) -> Self {
        if self.arch == Arch::Fer {
            self.widths = shape.widths.clone().unwrap_or(self.widths);
            self.blocks = shape.blocks.clone().unwrap_or(self.blocks);
            self.strides = shape.strides.clone().unwrap_or(self.strides);
            self.stem_width = shape.stem_width.unwrap_or(self.stem_width);
        }
        self
    }

    pub fn torchvision(
        arch: Arch,
        channels: u32,
        size: u32,
        num_classes: usize,
        small_stem: bool,
    ) -> Self {
        let blocks = match arch {
            Arch::Resnet18 => vec![2, 2, 2, 2],
            Arch::Resnet34 | Arch::Resnet50 | Arch::Fer => vec![3, 4, 6, 3],
        };
        ModelSpec {
            arch,
            channels,
            size,
            num_classes,
            stem_width: 64,
            widths: vec![64, 128, 256, 512],
            blocks,
            strides: vec![1, 2, 2, 2],
            small_stem,
            dropout: 0.0,
        }
    }

    pub fn bottleneck(&self) -> bool {
        self.arch == Arch::Resnet50
    }

    pub fn describe(&self) -> String {
        match self.arch {
            Arch::Fer => format!(
                "fer-resnet (stem {}, widths {:?}, blocks {:?}, strides {:?})",
                self.stem_width, self.widths, self.blocks, self.strides
            ),
            a => format!(
                "{a:?} ({} stem)",
                if self.small_stem {
                    "small-input"
                } else {
                    "ImageNet"
                }
            )
            .to_lowercase(),
        }
    }
}

/// A convolution without bias followed by batch normalisation: the unit the exporter
/// folds into one biased Conv.
#[derive(Debug)]
pub struct ConvBn {
    pub conv: nn::Conv2D,
    pub bn: nn::BatchNorm,
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
}

impl ConvBn {
    /// `zero_gamma` starts the BatchNorm scale at 0: used for the last conv of each
    /// residual branch, so every block starts as the identity (Goyal et al., 2017).
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &nn::Path,
        conv_name: &str,
        bn_name: &str,
        cin: i64,
        cout: i64,
        kernel: i64,
        stride: i64,
        zero_gamma: bool,
    ) -> Self {
        let padding = kernel / 2;
        let conv_cfg = nn::ConvConfig {
            stride,
            padding,
            bias: false,
            ws_init: nn::Init::Kaiming {
                dist: nn::init::NormalOrUniform::Normal,
                fan: nn::init::FanInOut::FanOut,
                non_linearity: nn::init::NonLinearity::ReLU,
            },
            ..Default::default()
        };
        let bn_cfg = nn::BatchNormConfig {
            ws_init: nn::Init::Const(if zero_gamma { 0.0 } else { 1.0 }),
            ..Default::default()
        };
        ConvBn {
            conv: nn::conv2d(p / conv_name, cin, cout, kernel, conv_cfg),
            bn: nn::batch_norm2d(p / bn_name, cout, bn_cfg),
            kernel,
            stride,
            padding,
        }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.conv).apply_t(&self.bn, train)
    }

    /// The same computation with the convolution in `precision` (`x` already in it):
    /// BatchNorm takes the low-precision activations with its float32 parameters and
    /// statistics, and returns activations in the input's precision.
    pub fn forward_in(&self, x: &Tensor, train: bool, precision: Precision) -> Tensor {
        if precision == Precision::F32 {
            return self.forward_t(x, train);
        }
        let w = channels_last(&self.conv.ws.to_kind(precision.kind()));
        let z = x.conv2d(&w, None::<Tensor>, [self.stride], [self.padding], [1], 1);
        // The layers are built with tch's default BatchNorm settings (see `ConvBn::new`).
        let cfg = nn::BatchNormConfig::default();
        let bn = &self.bn;
        z.batch_norm(
            bn.ws.as_ref(),
            bn.bs.as_ref(),
            Some(&bn.running_mean),
            Some(&bn.running_var),
            train,
            cfg.momentum,
            cfg.eps,
            false,
        )
    }
}

/// A residual block: `relu(convs(x) + shortcut(x))`.
#[derive(Debug)]
pub struct Block {
    /// Two 3x3 convs (basic) or 1x1, 3x3, 1x1 (bottleneck); ReLU between them.
    pub convs: Vec<ConvBn>,
    /// 1x1 conv + BN when the shape changes.
    pub downsample: Option<ConvBn>,
}

impl Block {
    fn basic(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        Block {
            convs: vec![
                ConvBn::new(p, "conv1", "bn1", cin, cout, 3, stride, false),
                ConvBn::new(p, "conv2", "bn2", cout, cout, 3, 1, true),
            ],
            downsample: (stride != 1 || cin != cout)
                .then(|| ConvBn::new(&(p / "downsample"), "0", "1", cin, cout, 1, stride, false)),
        }
    }

    fn bottleneck(p: &nn::Path, cin: i64, width: i64, stride: i64) -> Self {
        let cout = width * 4;
        Block {
            convs: vec![
                ConvBn::new(p, "conv1", "bn1", cin, width, 1, 1, false),
                ConvBn::new(p, "conv2", "bn2", width, width, 3, stride, false),
                ConvBn::new(p, "conv3", "bn3", width, cout, 1, 1, true),
            ],
            downsample: (stride != 1 || cin != cout)
                .then(|| ConvBn::new(&(p / "downsample"), "0", "1", cin, cout, 1, stride, false)),
        }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool, precision: Precision) -> Tensor {
        let mut y = x.shallow_clone();
        for (i, c) in self.convs.iter().enumerate() {
            y = c.forward_in(&y, train, precision);
            if i + 1 < self.convs.len() {
                y = y.relu();
            }
        }
        let shortcut = match &self.downsample {
            Some(d) => d.forward_in(x, train, precision),
            None => x.shallow_clone(),
        };
        (y + shortcut).relu()
    }
}

/// The whole classifier.
#[derive(Debug)]
pub struct Net {
    pub spec: ModelSpec,
    pub stem: ConvBn,
    /// 3x3/2 max-pool after the stem (torchvision's ImageNet stem).
    pub stem_pool: bool,
    /// Residual stages, each a list of blocks.
    pub stages: Vec<Vec<Block>>,
    pub fc: nn::Linear,
    /// Stages (counting the stem as stage 0) up to this index run in eval mode and are
    /// not trained: `0` trains everything.
    pub frozen_stages: usize,
    /// Arithmetic of the forward pass (training speed only; see [`Precision`]).
    pub precision: Precision,
}

impl Net {
    pub fn new(root: &nn::Path, spec: &ModelSpec) -> Self {
        let c = spec.channels as i64;
        let (stem, stem_pool) = match (spec.arch, spec.small_stem) {
            (Arch::Fer, _) => (
                ConvBn::new(root, "conv1", "bn1", c, spec.stem_width, 3, 1, false),
                false,
            ),
            (_, true) => (ConvBn::new(root, "conv1", "bn1", c, 64, 3, 1, false), false),
            (_, false) => (ConvBn::new(root, "conv1", "bn1", c, 64, 7, 2, false), true),
        };
        let mut cin = if spec.arch == Arch::Fer {
            spec.stem_width
        } else {
            64
        };
        let mut stages = Vec::new();
        for (s, ((&width, &n), &stride)) in spec
            .widths
            .iter()
            .zip(&spec.blocks)
            .zip(&spec.strides)
            .enumerate()
        {
            let stage_path = root / format!("layer{}", s + 1);
            let mut blocks = Vec::new();
            for b in 0..n {
                let p = &stage_path / b;
                let st = if b == 0 { stride } else { 1 };
                if spec.bottleneck() {
                    blocks.push(Block::bottleneck(&p, cin, width, st));
                    cin = width * 4;
                } else {
                    blocks.push(Block::basic(&p, cin, width, st));
                    cin = width;
                }
            }
            stages.push(blocks);
        }
        // The head has its own parameter group, so it can get its own learning rate.
        let fc = nn::linear(
            root.set_group(1) / "fc",
            cin,
            spec.num_classes as i64,
            Default::default(),
        );
        Net {
            spec: spec.clone(),
            stem,
            stem_pool,
            stages,
            fc,
            frozen_stages: 0,
            precision: Precision::F32,
        }
    }

    /// Features before the head: `[N, C]`.
    pub fn features_t(&self, x: &Tensor, train: bool) -> Tensor {
        let p = self.precision;
        let x = if p == Precision::F32 {
            x.shallow_clone()
        } else {
            channels_last(&x.to_kind(p.kind()))
        };
        let mut y = self
            .stem
            .forward_in(&x, train && self.frozen_stages == 0, p)
            .relu();
        if self.stem_pool {
            y = y.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for (s, stage) in self.stages.iter().enumerate() {
            let stage_train = train && s + 1 >= self.frozen_stages;
            for block in stage {
                y = block.forward_t(&y, stage_train, p);
            }
        }
        y.adaptive_avg_pool2d([1, 1])
            .flatten(1, -1)
            .to_kind(Kind::Float)
    }

    /// Output channels of the last stage (the head's input).
    pub fn feature_dim(&self) -> i64 {
        self.fc.ws.size()[1]
    }
}

impl ModuleT for Net {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.features_t(x, train)
            .dropout(self.spec.dropout, train)
            .apply(&self.fc)
    }
}

/// Parameters and multiply-accumulates per face of a spec, counted from its layers.
pub fn cost(spec: &ModelSpec) -> (u64, u64) {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let net = Net::new(&vs.root(), spec);
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    let mut macs = 0u64;
    let mut side = spec.size as i64;
    let conv_macs = |cb: &ConvBn, side_in: i64| -> (u64, i64) {
        let out = (side_in + 2 * cb.padding - cb.kernel) / cb.stride + 1;
        let w = cb.conv.ws.size();
        ((out * out * w[0] * w[1] * w[2] * w[3]) as u64, out)
    };
    let (m, s) = conv_macs(&net.stem, side);
    macs += m;
    side = if net.stem_pool {
        (s + 2 - 3) / 2 + 1
    } else {
        s
    };
    for stage in &net.stages {
        for block in stage {
            let mut s = side;
            for c in &block.convs {
                let (m, o) = conv_macs(c, s);
                macs += m;
                s = o;
            }
            if let Some(d) = &block.downsample {
                macs += conv_macs(d, side).0;
            }
            side = s;
        }
    }
    macs += (net.feature_dim() * spec.num_classes as i64) as u64;
    (params as u64, macs)
}
