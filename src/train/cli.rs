//! The `eval`, `export` and `describe` commands.

use super::checkpoint;
use super::data::{self, Dataset};
use super::degrade::Degradation;
use super::metrics::{self, Metrics};
use super::model::Net;
use super::plots::{self, Tile};
use super::training;
use crate::contract::{self, ModelContract};
use crate::cpu::{CpuModel, TensorF32};
use crate::emotions::{argmax, softmax};
use crate::preprocess::pixels_to_input;
use plotters::style::RGBColor;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::ModuleT;

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
pub enum Tta {
    /// One view per face (what the app does).
    None,
    /// Average the face and its mirror image.
    Flip,
    /// Average the face, its mirror, and both shifted by 2 px in 4 directions (10 views).
    Crops,
}

#[derive(Clone, Debug, clap::Args)]
pub struct EvalArgs {
    /// An exported model (.onnx, run by tract with the app's preprocessing)...
    #[arg(long, conflicts_with = "run")]
    pub model: Option<PathBuf>,
    /// ...or a training run folder (its best weights, run by libtorch).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// With --run: these weights instead of best.safetensors.
    #[arg(long, requires = "run")]
    pub weights: Option<PathBuf>,
    /// An ImageFolder split: <dir>/<class>/<image> (e.g. data/fer2013/val).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write metrics.json, report.txt, confusion.csv/png, samples.png.
    #[arg(long, default_value = "results/eval")]
    pub out: PathBuf,
    /// FER+ vote counts: also report the distance to the annotators' shares.
    #[arg(long)]
    pub votes: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Tta::None)]
    pub tta: Tta,
    /// With --run: round every weight to float16 and back first, to measure what a
    /// half-size (float16) model file would cost in accuracy.
    #[arg(long, requires = "run")]
    pub f16: bool,
    /// Read every face with light normalisation (`preprocess::normalize_light`) even if
    /// the model's contract does not ask for it: measures what it would do.
    #[arg(long)]
    pub light_norm: bool,
    /// Also measure `val-c`: every face degraded each way real photos differ from
    /// FER2013 (see `degrade::Degradation::ALL`), accuracy per degradation and their mean.
    #[arg(long)]
    pub val_c: bool,
    /// Faces in the sample-prediction grid.
    #[arg(long, default_value_t = 24)]
    pub samples: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Something that turns one face (gray pixels at the contract's size) into logits.
enum Classifier {
    Onnx(CpuModel),
    Torch(Box<Net>, tch::nn::VarStore),
}

impl Classifier {
    fn logits(&self, pixels: &[u8], contract: &ModelContract) -> Result<Vec<f32>, String> {
        let input = pixels_to_input(pixels, contract);
        match self {
            Classifier::Onnx(m) => {
                let out = m.run(&[TensorF32 {
                    shape: contract.input_shape().to_vec(),
                    data: input,
                }])?;
                out.into_iter()
                    .next()
                    .map(|t| t.data)
                    .ok_or_else(|| "the model gave no output".to_string())
            }
            Classifier::Torch(net, vs) => tch::no_grad(|| {
                let shape: Vec<i64> = contract.input_shape().iter().map(|&d| d as i64).collect();
                let x = tch::Tensor::from_slice(&input)
                    .view(shape.as_slice())
                    .to_device(vs.device());
                let y = net
                    .forward_t(&x, false)
                    .to_device(tch::Device::Cpu)
                    .flatten(0, -1);
                Vec::<f32>::try_from(y).map_err(|e| e.to_string())
            }),
        }
    }
}

/// Views of a face for test-time augmentation.
fn tta_views(pixels: &[u8], h: usize, w: usize, tta: Tta) -> Vec<Vec<u8>> {
    let flip = |p: &[u8]| -> Vec<u8> {
        (0..h * w)
            .map(|i| p[(i / w) * w + (w - 1 - i % w)])
            .collect()
    };
    let shift = |p: &[u8], dx: i64, dy: i64| -> Vec<u8> {
        (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as i64 + dy, (i % w) as i64 + dx);
                p[(y.clamp(0, h as i64 - 1) as usize) * w + x.clamp(0, w as i64 - 1) as usize]
            })
            .collect()
    };
    match tta {
        Tta::None => vec![pixels.to_vec()],
        Tta::Flip => vec![pixels.to_vec(), flip(pixels)],
        Tta::Crops => {
            let mut v = Vec::new();
            for base in [pixels.to_vec(), flip(pixels)] {
                v.push(base.clone());
                for (dx, dy) in [(2, 0), (-2, 0), (0, 2), (0, -2)] {
                    v.push(shift(&base, dx, dy));
                }
            }
            v
        }
    }
}

/// Fractions of every image (softmax of the logits, averaged over TTA views).
fn classify_all(
    clf: &Classifier,
    ds: &Dataset,
    contract: &ModelContract,
    tta: Tta,
) -> Result<Vec<Vec<f32>>, String> {
    let mut out = Vec::with_capacity(ds.len());
    for i in 0..ds.len() {
        let views = tta_views(ds.image(i), ds.height, ds.width, tta);
        let mut acc = vec![0f32; contract.labels.len()];
        for v in &views {
            for (a, p) in acc.iter_mut().zip(softmax(&clf.logits(v, contract)?)) {
                *a += p / views.len() as f32;
            }
        }
        out.push(acc);
    }
    Ok(out)
}

fn load_classifier(args: &EvalArgs) -> Result<(Classifier, ModelContract), String> {
    match (&args.model, &args.run) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let contract = ModelContract::from_onnx_bytes(&bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let bytes = crate::weights::expand_bytes(bytes)?;
            Ok((Classifier::Onnx(CpuModel::load(&bytes)?), contract))
        }
        (None, Some(run)) => {
            let (vs, net, rc) =
                checkpoint::load_net(run, args.weights.as_deref(), tch::Device::Cpu)?;
            if args.f16 {
                round_to_f16(&vs);
            }
            Ok((Classifier::Torch(Box::new(net), vs), rc.contract()))
        }
        (None, None) => Err("give --model FILE.onnx or --run RUN_DIR".into()),
    }
}

/// Stores every variable (weights and BatchNorm statistics) as float16 would.
fn round_to_f16(vs: &tch::nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let rounded = v.to_kind(tch::Kind::Half).to_kind(v.kind());
            v.copy_(&rounded);
        }
    });
}

pub fn eval(args: &EvalArgs) -> Result<(), String> {
    tch::set_num_threads(args.threads as i32);
    let (clf, mut contract) = load_classifier(args)?;
    contract.light_normalized |= args.light_norm;
    let classes = data::list_classes(&args.data)?;
    if classes != contract.labels {
        return Err(format!(
            "{} has classes {classes:?} but the model's labels are {:?}",
            args.data.display(),
            contract.labels
        ));
    }
    let (mut ds, skipped) = data::load_split(&args.data, &classes, &contract, args.threads.max(1))?;
    for s in &skipped {
        eprintln!("skipped {}: {}", s.path.display(), s.reason);
    }
    if let Some(v) = &args.votes {
        let votes = data::read_votes(v, &classes)?;
        data::attach_votes(&mut ds, &votes);
    }
    let t = Instant::now();
    let probs = classify_all(&clf, &ds, &contract, args.tta)?;
    let secs = t.elapsed().as_secs_f64();
    let m = metrics::compute(&classes, &probs, &ds.labels, &ds.votes);
    let name = match (&args.model, &args.run) {
        (Some(p), _) => p.display().to_string(),
        (_, Some(r)) => r.display().to_string(),
        _ => String::new(),
    };
    let weights = if args.f16 {
        ", weights rounded to float16"
    } else {
        ""
    };
    println!(
        "{name} on {} (TTA {:?}{weights}, {} skipped files)\n",
        args.data.display(),
        args.tta,
        skipped.len()
    );
    println!("{}", m.report(&classes));
    let val_c = if args.val_c {
        Some(val_c(&clf, &ds, &contract, args.tta, &m)?)
    } else {
        None
    };
    println!(
        "{:.0} faces/s ({:.2} ms per face, {} threads)",
        ds.len() as f64 / secs,
        secs * 1000.0 / ds.len().max(1) as f64,
        args.threads
    );
    write_eval_outputs(&args.out, &classes, &m, &ds, &probs, args, &name, secs)?;
    if let Some(rows) = val_c {
        let path = args.out.join("val-c.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&rows).unwrap_or_default(),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The `val-c` table: each degradation of `degrade::Degradation::ALL` applied to every
/// face, with accuracy, macro-F1 and the recall of the classes real photos get wrong
/// most (angry, disgust, fear), then the mean over degradations.
fn val_c(
    clf: &Classifier,
    ds: &Dataset,
    contract: &ModelContract,
    tta: Tta,
    clean: &Metrics,
) -> Result<serde_json::Value, String> {
    let classes = &ds.classes;
    let recall = |m: &Metrics, c: &str| {
        m.per_class
            .iter()
            .find(|s| s.class == c)
            .map_or(f64::NAN, |s| s.recall)
    };
    let watched = ["angry", "disgust", "fear"];
    let row = |name: &str, m: &Metrics| {
        let r: Vec<String> = watched
            .iter()
            .map(|c| format!("{:>8.1}", 100.0 * recall(m, c)))
            .collect();
        println!(
            "{name:<24} {:>8.2} {:>9.4} {}",
            100.0 * m.accuracy,
            m.macro_f1,
            r.join(" ")
        );
        serde_json::json!({ "degradation": name, "accuracy": m.accuracy, "macro_f1": m.macro_f1,
            "recall": watched.iter().map(|c| (c.to_string(), recall(m, c))).collect::<std::collections::BTreeMap<_, _>>() })
    };
    println!("\nval-c: every face degraded one way at a time (recall in %)");
    println!(
        "{:<24} {:>8} {:>9} {:>8} {:>8} {:>8}",
        "degradation", "acc %", "macro-F1", "angry", "disgust", "fear"
    );
    let mut rows = vec![row("(clean)", clean)];
    let (mut acc, mut f1, mut rec) = (0.0, 0.0, [0.0; 3]);
    let n = Degradation::ALL.len() as f64;
    for d in Degradation::ALL {
        let mut degraded = Dataset {
            pixels: Vec::with_capacity(ds.pixels.len()),
            ..ds.clone()
        };
        for i in 0..ds.len() {
            degraded
                .pixels
                .extend(d.apply(ds.image(i), ds.height, ds.width, i as u64));
        }
        let probs = classify_all(clf, &degraded, contract, tta)?;
        let m = metrics::compute(classes, &probs, &ds.labels, &ds.votes);
        acc += m.accuracy / n;
        f1 += m.macro_f1 / n;
        for (r, c) in rec.iter_mut().zip(watched) {
            *r += recall(&m, c) / n;
        }
        rows.push(row(&d.name(), &m));
    }
    let r: Vec<String> = rec.iter().map(|v| format!("{:>8.1}", 100.0 * v)).collect();
    println!(
        "{:<24} {:>8.2} {:>9.4} {}",
        "mean of degradations",
        100.0 * acc,
        f1,
        r.join(" ")
    );
    println!(
        "{:<24} {:>8.2}",
        "drop from clean (points)",
        100.0 * (clean.accuracy - acc)
    );
    Ok(
        serde_json::json!({ "rows": rows, "mean_accuracy": acc, "mean_macro_f1": f1,
        "mean_recall": watched.iter().zip(rec).map(|(c, v)| (c.to_string(), v)).collect::<std::collections::BTreeMap<_, _>>() }),
    )
}

#[allow(clippy::too_many_arguments)]
fn write_eval_outputs(
    out: &Path,
    classes: &[String],
    m: &Metrics,
    ds: &Dataset,
    probs: &[Vec<f32>],
    args: &EvalArgs,
    name: &str,
    secs: f64,
) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let w = |file: &str, text: String| {
        std::fs::write(out.join(file), text)
            .map_err(|e| format!("{}: {e}", out.join(file).display()))
    };
    let doc = serde_json::json!({
        "model": name,
        "data": args.data.display().to_string(),
        "tta": format!("{:?}", args.tta).to_lowercase(),
        "f16_weights": args.f16,
        "skipped_files": 0,
        "seconds": secs,
        "faces_per_second": ds.len() as f64 / secs,
        "metrics": m,
    });
    w(
        "metrics.json",
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )?;
    w("report.txt", m.report(classes))?;
    w("confusion.csv", m.confusion_csv(classes))?;
    w("predictions.csv", predictions_csv(classes, ds, probs))?;
    plots::confusion_png(
        &out.join("confusion.png"),
        classes,
        &m.confusion,
        &format!("Confusion, accuracy {:.1}%", m.accuracy * 100.0),
    )?;
    // Sample predictions: spread over the set, as the notebook's show_samples.
    let n = args.samples.min(ds.len());
    let tiles: Vec<Tile> = (0..n)
        .map(|j| {
            let i = j * ds.len() / n.max(1);
            let p = &probs[i];
            let pred = argmax(p);
            let ok = pred == ds.labels[i];
            let mut order: Vec<usize> = (0..p.len()).collect();
            order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
            let color = if ok {
                RGBColor(20, 120, 40)
            } else {
                RGBColor(190, 30, 30)
            };
            let mut caption = vec![(
                format!("true: {}", classes[ds.labels[i]]),
                RGBColor(0, 0, 0),
            )];
            for &c in order.iter().take(3) {
                caption.push((
                    format!("{} {:.0}%", classes[c], p[c] * 100.0),
                    if c == pred {
                        color
                    } else {
                        RGBColor(80, 80, 80)
                    },
                ));
            }
            Tile {
                pixels: ds.image(i),
                height: ds.height,
                width: ds.width,
                caption,
            }
        })
        .collect();
    plots::face_grid_png(
        &out.join("samples.png"),
        &tiles,
        8,
        "Sample predictions (green: right, red: wrong)",
    )
}

/// One row per image: its path, true and predicted label, and the probability of every
/// class (6 decimals), for analyses the report does not make (calibration, thresholds,
/// prior shifts).
fn predictions_csv(classes: &[String], ds: &Dataset, probs: &[Vec<f32>]) -> String {
    use crate::csv::field;
    let names: Vec<String> = classes.iter().map(|c| field(c)).collect();
    let mut text = format!("path,label,predicted,{}\n", names.join(","));
    for ((path, &label), p) in ds.paths.iter().zip(&ds.labels).zip(probs) {
        let cells: Vec<String> = p.iter().map(|v| format!("{v:.6}")).collect();
        text.push_str(&format!(
            "{},{},{},{}\n",
            field(path),
            names[label],
            names[argmax(p)],
            cells.join(",")
        ));
    }
    text
}

#[derive(Clone, Debug, clap::Args)]
pub struct ExportArgs {
    /// Training run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Weights to export (default: the run's best.safetensors).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Where to write the ONNX file.
    #[arg(long, default_value = "public/models/mien.onnx")]
    pub out: PathBuf,
    /// Version string written into the metadata.
    #[arg(long, default_value = "1")]
    pub version: String,
    /// Val split to measure the exported file on (its accuracy goes into the metadata).
    #[arg(long)]
    pub val: Option<PathBuf>,
    /// What the weights were trained on, in words.
    #[arg(long, default_value = "FER2013 train split (28,709 faces, 48x48 gray)")]
    pub trained_on: String,
    /// Build test-time flip averaging into the file: it runs the network on the face
    /// and on its mirror image and outputs the mean of the two logit vectors (twice
    /// the compute; same weights, so the file is no larger).
    #[arg(long)]
    pub mirror_average: bool,
    /// How the large weights are stored: int8 (a scale per output channel and a
    /// DequantizeLinear: a quarter of the download, as shipped since model version 5),
    /// float16 (each followed by a Cast to float32: half) or float32. Any ONNX runtime
    /// runs the file as is; mien's expand it on load (src/weights/). The val accuracy
    /// and self-test logits are those of the stored file.
    #[arg(long, default_value = "int8")]
    pub store_weights: crate::weights::Precision,
    /// Post-hoc logit adjustment: subtract `tau * ln(prior)` from each class's bias,
    /// the prior being the class shares of `--prior` (default: the run's train/). 0
    /// keeps the training set's prior (FER2013 is 25% happy, 1.5% disgust); 1 reads
    /// faces as if every expression were equally common.
    #[arg(long, default_value_t = 0.0)]
    pub logit_adjust: f64,
    /// ImageFolder whose class counts are the prior for --logit-adjust.
    #[arg(long)]
    pub prior: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Subtracts `tau * ln(share of class c in prior_dir)` from the head's bias.
fn adjust_logits(net: &Net, tau: f64, prior_dir: &Path) -> Result<Vec<f64>, String> {
    let classes = data::list_classes(prior_dir)?;
    let counts: Vec<f64> = classes
        .iter()
        .map(|c| {
            std::fs::read_dir(prior_dir.join(c)).map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .count() as f64
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", prior_dir.display()))?;
    let total: f64 = counts.iter().sum();
    if counts.len() != net.spec.num_classes || counts.contains(&0.0) {
        return Err(format!(
            "--prior {}: needs one non-empty folder per class",
            prior_dir.display()
        ));
    }
    let shift: Vec<f64> = counts.iter().map(|c| -tau * (c / total).ln()).collect();
    let bias = net.fc.bs.as_ref().ok_or("the head has no bias")?;
    tch::no_grad(|| {
        let s = tch::Tensor::from_slice(&shift).to_kind(tch::Kind::Float);
        bias.shallow_clone().copy_(&(bias + s));
    });
    Ok(shift)
}

/// Exports, then checks the file with tract against libtorch before writing it.
pub fn export(args: &ExportArgs) -> Result<(), String> {
    tch::set_num_threads(args.threads as i32);
    let (_vs, net, rc) =
        checkpoint::load_net(&args.run, args.weights.as_deref(), tch::Device::Cpu)?;
    let mut contract = rc.contract();
    contract.model_version = args.version.clone();
    contract.trained_on = args.trained_on.clone();
    contract.mirror_averaged = args.mirror_average;
    if args.logit_adjust != 0.0 {
        let prior = args
            .prior
            .clone()
            .unwrap_or_else(|| rc.train.data.join("train"));
        let shift = adjust_logits(&net, args.logit_adjust, &prior)?;
        println!(
            "logit adjustment tau {} from the class shares of {}: bias + {shift:.3?}",
            args.logit_adjust,
            prior.display()
        );
    }
    let input = contract::self_test_input(&contract);
    let reference = torch_logits(&net, &input, &contract)?;
    contract.self_test_logits = Some(reference.clone());
    let mut model = super::export::to_onnx(&net, &contract);
    let bytes = model.to_bytes();
    let tract = CpuModel::load(&bytes)?;
    let got = tract.run(&[TensorF32 {
        shape: contract.input_shape().to_vec(),
        data: input,
    }])?;
    let diff = max_abs_diff(&got[0].data, &reference);
    if diff > 1e-3 {
        return Err(format!(
            "the exported graph disagrees with libtorch (max abs diff {diff:e}); not written"
        ));
    }
    println!("export check: tract vs libtorch max abs diff {diff:.2e}");
    let tract = if args.store_weights != crate::weights::Precision::Float32 {
        let (stored, moved) = crate::weights::store_classifier(&mut model, args.store_weights)?;
        contract = ModelContract::read_from(&model).map_err(|e| e.to_string())?;
        println!(
            "{:?} weights: {} tensors ({} values); the self-test logits moved by {moved:.2e}",
            args.store_weights, stored.tensors, stored.values
        );
        CpuModel::load(&crate::weights::expand_bytes(model.to_bytes())?)?
    } else {
        tract
    };
    if let Some(val) = &args.val {
        measure_on_val(tract, val, &mut contract, args.threads, "exported model")?;
        contract.write_to(&mut model);
    }
    write_model(&model, &args.out)
}

/// Measures `model` on a val split through the native path and records the
/// accuracy and macro-F1 in `contract` (they go into the file's metadata).
fn measure_on_val(
    model: CpuModel,
    val: &Path,
    contract: &mut ModelContract,
    threads: usize,
    what: &str,
) -> Result<(), String> {
    let classes = data::list_classes(val)?;
    let (ds, _) = data::load_split(val, &classes, contract, threads.max(1))?;
    let probs = classify_all(&Classifier::Onnx(model), &ds, contract, Tta::None)?;
    let m = metrics::compute(&classes, &probs, &ds.labels, &ds.votes);
    println!(
        "{what} on {}: accuracy {:.2}%, macro-F1 {:.4}",
        val.display(),
        m.accuracy * 100.0,
        m.macro_f1
    );
    contract.val_accuracy = Some(m.accuracy as f32);
    contract.val_macro_f1 = Some(m.macro_f1 as f32);
    Ok(())
}

fn write_model(model: &crate::onnx::ModelProto, out: &Path) -> Result<(), String> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let bytes = model.to_bytes();
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "wrote {} ({:.1} MB)",
        out.display(),
        bytes.len() as f64 / 1e6
    );
    Ok(())
}

#[derive(Clone, Debug, clap::Args)]
pub struct UpdateContractArgs {
    /// The exported file to start from (its graph and weights are kept as they are).
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the updated file.
    #[arg(long)]
    pub out: PathBuf,
    /// Read faces with light normalisation (`preprocess::normalize_light`), or not.
    #[arg(long)]
    pub light_norm: Option<bool>,
    /// Version string written into the metadata.
    #[arg(long)]
    pub version: Option<String>,
    /// Val split to measure the updated file on (its accuracy goes into the metadata).
    #[arg(long)]
    pub val: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Rewrites the contract in an exported file's metadata: how faces are prepared for
/// it changes what it reads, so the val accuracy is measured again.
pub fn update_contract(args: &UpdateContractArgs) -> Result<(), String> {
    let bytes = std::fs::read(&args.model).map_err(|e| format!("{}: {e}", args.model.display()))?;
    let mut model = crate::onnx::ModelProto::decode_bytes(&bytes)
        .map_err(|e| format!("{}: {e}", args.model.display()))?;
    let mut contract =
        ModelContract::read_from(&model).map_err(|e| format!("{}: {e}", args.model.display()))?;
    if let Some(light) = args.light_norm {
        contract.light_normalized = light;
    }
    if let Some(version) = &args.version {
        contract.model_version = version.clone();
    }
    if let Some(val) = &args.val {
        let what = args.model.display().to_string();
        measure_on_val(
            CpuModel::load(&crate::weights::expand_bytes(bytes)?)?,
            val,
            &mut contract,
            args.threads,
            &what,
        )?;
    }
    contract.write_to(&mut model);
    write_model(&model, &args.out)
}

/// Logits of libtorch's eval-mode forward pass for one input (with the contract's
/// mirror averaging: the mean of the logits of the input and of its mirror image).
pub fn torch_logits(
    net: &Net,
    input: &[f32],
    contract: &ModelContract,
) -> Result<Vec<f32>, String> {
    let shape: Vec<i64> = contract.input_shape().iter().map(|&d| d as i64).collect();
    tch::no_grad(|| {
        let x = tch::Tensor::from_slice(input).view(shape.as_slice());
        let mut y = net.forward_t(&x, false);
        if contract.mirror_averaged {
            y = (y + net.forward_t(&x.flip([3]), false)) * 0.5;
        }
        Vec::<f32>::try_from(y.flatten(0, -1)).map_err(|e| e.to_string())
    })
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[derive(Clone, Debug, clap::Args)]
pub struct DescribeArgs {
    /// Dataset root (train/ and val/) or a single split folder.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "results/dataset")]
    pub out: PathBuf,
    /// Example faces per class.
    #[arg(long, default_value_t = 8)]
    pub per_class: usize,
}

/// The notebook's dataset pictures: class distribution per split, example grid per class.
pub fn describe(args: &DescribeArgs) -> Result<(), String> {
    let splits: Vec<PathBuf> = if args.data.join("train").is_dir() {
        ["train", "val"]
            .iter()
            .map(|s| args.data.join(s))
            .filter(|p| p.is_dir())
            .collect()
    } else {
        vec![args.data.clone()]
    };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for split in splits {
        let name = split
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let classes = data::list_classes(&split)?;
        let contract = ModelContract {
            labels: classes.clone(),
            ..ModelContract::new(1, 48, 48)
        };
        let (ds, skipped) = data::load_split(&split, &classes, &contract, 2)?;
        let counts = ds.class_counts();
        println!("{name}: {} images ({} unreadable)", ds.len(), skipped.len());
        for (c, n) in classes.iter().zip(&counts) {
            println!("  {c:<10} {n:>6}");
        }
        plots::class_distribution_png(
            &args.out.join(format!("{name}_classes.png")),
            &classes,
            &counts,
            &format!("{name}: images per class"),
        )?;
        let mut tiles = Vec::new();
        for (c, class) in classes.iter().enumerate() {
            let idx: Vec<usize> = (0..ds.len()).filter(|&i| ds.labels[i] == c).collect();
            for j in 0..args.per_class.min(idx.len()) {
                let i = idx[j * idx.len() / args.per_class.min(idx.len())];
                tiles.push(Tile {
                    pixels: ds.image(i),
                    height: 48,
                    width: 48,
                    caption: vec![(class.clone(), RGBColor(0, 0, 0))],
                });
            }
        }
        plots::face_grid_png(
            &args.out.join(format!("{name}_examples.png")),
            &tiles,
            args.per_class,
            &format!("{name}: examples per class"),
        )?;
    }
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Eval through libtorch for a run, batched (used by tests and export checks).
pub fn eval_run_fast(run: &Path, split: &Path) -> Result<Metrics, String> {
    let (_vs, net, rc) = checkpoint::load_net(run, None, tch::Device::Cpu)?;
    let contract = rc.contract();
    let (ds, _) = data::load_split(split, &rc.labels, &contract, 2)?;
    let probs = training::predict(&net, &ds, &contract, tch::Device::Cpu, false);
    Ok(metrics::compute(&rc.labels, &probs, &ds.labels, &ds.votes))
}

#[cfg(test)]
mod tests {
    use super::{predictions_csv, round_to_f16, Dataset};

    #[test]
    fn f16_rounding_keeps_eleven_significant_bits() {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var_copy(
            "w",
            &tch::Tensor::from_slice(&[1.0f32 / 3.0, 1000.1, 1e-3, -2.5]),
        );
        round_to_f16(&vs);
        let got: Vec<f32> = Vec::try_from(&w).unwrap();
        assert_eq!(got, vec![0.333_251_95, 1000.0, 0.001_000_404_4, -2.5]);
    }

    #[test]
    fn predictions_csv_has_a_row_per_image_with_every_probability() {
        let classes = vec!["angry".to_string(), "happy, or not".to_string()];
        let ds = Dataset {
            classes: classes.clone(),
            height: 1,
            width: 1,
            pixels: vec![0, 255],
            labels: vec![1, 0],
            paths: vec!["val/happy/a.jpg".into(), "val/angry/b,c.jpg".into()],
            votes: vec![None, None],
        };
        let probs = vec![vec![0.25, 0.75], vec![0.125, 0.875]];
        let text = predictions_csv(&classes, &ds, &probs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "path,label,predicted,angry,\"happy, or not\"");
        assert_eq!(
            lines[1],
            "val/happy/a.jpg,\"happy, or not\",\"happy, or not\",0.250000,0.750000"
        );
        assert_eq!(
            lines[2],
            "\"val/angry/b,c.jpg\",angry,\"happy, or not\",0.125000,0.875000"
        );
    }
}
