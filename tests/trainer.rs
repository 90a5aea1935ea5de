//! The trainer on small synthetic datasets built here: it learns, checkpoints, resumes,
//! reports broken files, and exports ONNX that tract runs exactly like libtorch.
#![cfg(feature = "train")]

use clap::Parser;
use image::{GrayImage, Luma};
use mien::contract::{self, ModelContract};
use mien::cpu::{CpuModel, TensorF32};
use mien::train::cli::{max_abs_diff, torch_logits};
use mien::train::config::TrainConfig;
use mien::train::model::{Arch, ModelSpec, Net, Precision};
use mien::train::{checkpoint, export, training};
use std::path::{Path, PathBuf};
use tch::nn;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    cfg: TrainConfig,
}

const CLASSES: [&str; 3] = ["bars", "blob", "dots"];

/// A 24x24 face-sized picture whose class is obvious: horizontal bars, a central blob,
/// or a grid of dots, with noise.
fn synthetic(class: usize, seed: u32) -> GrayImage {
    let mut s = seed
        .wrapping_mul(2_654_435_761)
        .wrapping_add(class as u32 * 97);
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s % 40) as i32
    };
    GrayImage::from_fn(24, 24, |x, y| {
        let base = match class {
            0 => {
                if (y / 3) % 2 == 0 {
                    200
                } else {
                    40
                }
            }
            1 => {
                if (x as i32 - 12).pow(2) + (y as i32 - 12).pow(2) < 40 {
                    220
                } else {
                    30
                }
            }
            _ => {
                if x % 6 < 2 && y % 6 < 2 {
                    210
                } else {
                    60
                }
            }
        };
        Luma([(base + noise() - 20).clamp(0, 255) as u8])
    })
}

fn make_dataset(root: &Path, per_class: usize) {
    for (split, n) in [("train", per_class), ("val", per_class / 3)] {
        for (c, name) in CLASSES.iter().enumerate() {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                synthetic(
                    c,
                    (i * 7 + c) as u32 + if split == "val" { 10_000 } else { 0 },
                )
                .save(dir.join(format!("{i:04}.png")))
                .unwrap();
            }
        }
    }
}

fn tiny_config(data: &Path, out: &Path, epochs: usize, extra: &[&str]) -> TrainConfig {
    let mut argv: Vec<String> = ["test", "--data"].iter().map(|s| s.to_string()).collect();
    argv.push(data.display().to_string());
    argv.push("--out".into());
    argv.push(out.display().to_string());
    for a in [
        "--size",
        "24",
        "--widths",
        "8,16",
        "--blocks",
        "1,1",
        "--strides",
        "2,2",
        "--stem-width",
        "8",
        "--batch-size",
        "16",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--warmup-epochs",
        "0.5",
        "--lr",
        "0.05",
    ] {
        argv.push(a.to_string());
    }
    argv.push("--epochs".into());
    argv.push(epochs.to_string());
    // float32 unless a test names a precision: `auto` would time both on every run.
    if !extra.contains(&"--precision") {
        argv.extend(["--precision".to_string(), "f32".to_string()]);
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    Args::parse_from(argv).cfg
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mien-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn log_lines(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// libtorch's random generator is one per process: tests that train take turns, or one
/// test's draws (initial weights, dropout) land in another's run.
fn torch_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn learns_a_separable_task_and_resumes_where_it_stopped() {
    let _turn = torch_turn();
    tch::set_num_threads(1);
    let dir = temp_dir("learn");
    let data = dir.join("data");
    make_dataset(&data, 60);
    let out = dir.join("run");

    // Two epochs, then "stop"; the loss must already fall.
    let best = training::train(&tiny_config(&data, &out, 2, &[])).unwrap();
    let log = log_lines(&out);
    assert_eq!(log.len(), 2);
    let (l1, l2) = (
        log[0]["train_loss"].as_f64().unwrap(),
        log[1]["train_loss"].as_f64().unwrap(),
    );
    assert!(l2 < l1, "training loss did not fall: {l1} -> {l2}");
    // Three separable classes: two epochs already beat chance (1/3) clearly.
    assert!(best > 0.5, "best val accuracy after 2 epochs {best}");

    // Starting again without --resume must refuse to overwrite the run.
    assert!(training::train(&tiny_config(&data, &out, 6, &[]))
        .unwrap_err()
        .contains("--resume"));

    // Resume to 6 epochs: continues at epoch 3, and ends near-perfect.
    let best = training::train(&tiny_config(&data, &out, 6, &["--resume"])).unwrap();
    let log = log_lines(&out);
    let epochs: Vec<u64> = log.iter().map(|l| l["epoch"].as_u64().unwrap()).collect();
    assert_eq!(epochs, vec![1, 2, 3, 4, 5, 6]);
    assert!(best >= 0.95, "best val accuracy {best}");
    let (_, state) = checkpoint::latest(&out).unwrap().unwrap();
    assert_eq!(state.epochs_done, 6);

    // Eval's confusion matrix counts every val image once.
    let m = mien::train::cli::eval_run_fast(&out, &data.join("val")).unwrap();
    assert_eq!(m.confusion.iter().flatten().sum::<usize>(), 3 * 20);
    assert_eq!(m.images, 60);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The weights of a run's last finished epoch, by name.
fn last_weights(out: &Path) -> Vec<(String, tch::Tensor)> {
    let (dir, _) = checkpoint::latest(out).unwrap().unwrap();
    let mut w = tch::Tensor::read_safetensors(dir.join("model.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

#[test]
fn a_run_stopped_and_resumed_ends_where_an_unbroken_run_ends() {
    let _turn = torch_turn();
    tch::set_num_threads(1);
    let dir = temp_dir("resume-equal");
    let data = dir.join("data");
    make_dataset(&data, 30);
    let extra = ["--light-p", "0.5", "--noise-p", "0.5"];

    let unbroken = dir.join("unbroken");
    training::train(&tiny_config(&data, &unbroken, 4, &extra)).unwrap();

    // The same run in three sittings: epochs 1, then 2-3, then 4.
    let split = dir.join("split");
    let sitting = |more: &[&'static str]| {
        let args: Vec<&str> = extra.iter().chain(more).copied().collect();
        training::train(&tiny_config(&data, &split, 4, &args)).unwrap();
    };
    sitting(&["--stop-after", "1"]);
    assert_eq!(log_lines(&split).len(), 1, "--stop-after 1 ran on");
    sitting(&["--resume", "--stop-after", "3"]);
    assert_eq!(log_lines(&split).len(), 3);
    sitting(&["--resume"]);

    let (a, b) = (log_lines(&unbroken), log_lines(&split));
    assert_eq!(a.len(), 4);
    for (x, y) in a.iter().zip(&b) {
        for key in ["epoch", "train_loss", "val_accuracy", "val_nll", "lr"] {
            assert_eq!(x[key], y[key], "{key} differs: {x} vs {y}");
        }
    }
    let (wa, wb) = (last_weights(&unbroken), last_weights(&split));
    assert_eq!(wa.len(), wb.len());
    for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let diff = (ta - tb).abs().max().double_value(&[]);
        assert_eq!(diff, 0.0, "{na} differs by {diff}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broken_files_are_reported_and_skipped_and_bad_layouts_refused() {
    let _turn = torch_turn();
    let dir = temp_dir("broken");
    let data = dir.join("data");
    make_dataset(&data, 6);
    std::fs::write(
        data.join("train/bars/broken.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    std::fs::write(data.join("train/blob/notes.txt"), b"hello").unwrap();
    let contract = ModelContract {
        labels: CLASSES.iter().map(|s| s.to_string()).collect(),
        ..ModelContract::new(1, 24, 24)
    };
    let classes = mien::train::data::check_layout(&data).unwrap();
    let (ds, skipped) =
        mien::train::data::load_split(&data.join("train"), &classes, &contract, 2).unwrap();
    assert_eq!(ds.len(), 18);
    let names: Vec<String> = skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["broken.jpg", "notes.txt"]);
    assert!(skipped.iter().all(|s| !s.reason.is_empty()));

    std::fs::create_dir_all(data.join("val/extra")).unwrap();
    let err = mien::train::data::check_layout(&data).unwrap_err();
    assert!(err.contains("different classes"), "{err}");
    std::fs::remove_dir_all(data.join("val/extra")).unwrap();
    for f in std::fs::read_dir(data.join("val/dots")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let err = mien::train::data::check_layout(&data).unwrap_err();
    assert!(err.contains("empty"), "{err}");
    std::fs::remove_dir_all(data.join("val")).unwrap();
    let err = mien::train::data::check_layout(&data).unwrap_err();
    assert!(err.contains("no val/"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Gives every BatchNorm non-trivial running statistics and affine parameters, so the
/// folding in the exporter is really exercised. A bottleneck's last BatchNorm gets a
/// small scale, as in trained ResNets: otherwise 16 random residual branches inflate
/// ResNet50's logits to where float32 rounding alone exceeds the tolerance.
fn randomise_batchnorm(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.contains("bn3") && name.ends_with("weight") {
                let _ = t.uniform_(0.1, 0.4);
            } else if name.contains("running_var") {
                let _ = t.uniform_(0.5, 2.0);
            } else if name.contains("running_mean") {
                let _ = t.normal_(0.0, 0.3);
            } else if (name.contains("bn") || name.contains("downsample.1"))
                && name.ends_with("weight")
            {
                let _ = t.uniform_(0.5, 1.5);
            } else if (name.contains("bn") || name.contains("downsample.1"))
                && name.ends_with("bias")
            {
                let _ = t.normal_(0.0, 0.2);
            }
        }
    });
}

#[test]
fn exported_onnx_equals_libtorch_for_every_architecture() {
    let _turn = torch_turn();
    tch::set_num_threads(1);
    tch::manual_seed(3);
    // (network, whether the file averages the face with its mirror image)
    let specs = vec![
        (ModelSpec::fer_default(1, 48, 7), false),
        (ModelSpec::fer_default(1, 48, 7), true),
        (
            ModelSpec::torchvision(Arch::Resnet18, 1, 48, 7, true),
            false,
        ),
        (
            ModelSpec::torchvision(Arch::Resnet18, 3, 64, 7, false),
            false,
        ),
        (
            ModelSpec::torchvision(Arch::Resnet18, 3, 64, 7, false),
            true,
        ),
        (
            ModelSpec::torchvision(Arch::Resnet34, 1, 48, 7, true),
            false,
        ),
        (
            ModelSpec::torchvision(Arch::Resnet50, 3, 48, 7, true),
            false,
        ),
    ];
    for (spec, mirror_averaged) in specs {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), &spec);
        randomise_batchnorm(&vs);
        let contract = ModelContract {
            mirror_averaged,
            ..ModelContract::new(spec.channels, spec.size, spec.size)
        };
        let model = export::to_onnx(&net, &contract);
        // wonnx's constraints: every Conv biased, no transB, shapes for every value.
        let graph = model.graph.as_ref().unwrap();
        assert!(graph
            .node
            .iter()
            .filter(|n| n.op_type == "Conv")
            .all(|n| n.input.len() == 3));
        assert!(graph
            .node
            .iter()
            .all(|n| n.op_type != "BatchNormalization" && n.op_type != "Softmax"));
        assert!(graph
            .node
            .iter()
            .filter(|n| n.op_type == "Gemm")
            .all(|n| n.attribute.iter().all(|a| a.name != "transB")));
        let shaped: std::collections::HashSet<&str> =
            graph.value_info.iter().map(|v| v.name.as_str()).collect();
        for n in &graph.node {
            for o in &n.output {
                assert!(
                    shaped.contains(o.as_str()) || graph.output.iter().any(|g| &g.name == o),
                    "{o} has no shape"
                );
            }
        }
        let bytes = model.to_bytes();
        assert_eq!(ModelContract::from_onnx_bytes(&bytes).unwrap(), contract);
        let tract = CpuModel::load(&bytes).unwrap();
        if mirror_averaged {
            // One set of weights for both branches, and a face and its mirror image
            // read the same.
            let plain = export::to_onnx(
                &net,
                &ModelContract {
                    mirror_averaged: false,
                    ..contract.clone()
                },
            );
            assert_eq!(
                graph.initializer.len(),
                plain.graph.as_ref().unwrap().initializer.len() + 1
            );
            let input = contract::self_test_input(&contract);
            let [_, c, h, w] = contract.input_shape();
            let mirrored: Vec<f32> = (0..c * h * w)
                .map(|i| input[i - i % w + (w - 1 - i % w)])
                .collect();
            let run = |x: Vec<f32>| {
                tract
                    .run(&[TensorF32 {
                        shape: contract.input_shape().to_vec(),
                        data: x,
                    }])
                    .unwrap()[0]
                    .data
                    .clone()
            };
            let (a, b) = (run(input), run(mirrored));
            let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
            assert!(
                max_abs_diff(&a, &b) < 1e-5 * scale,
                "mirror-averaged logits differ for a mirrored face: {a:?} vs {b:?}"
            );
        }
        for seed in 0..2 {
            let mut input = contract::self_test_input(&contract);
            input
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v += ((i * 31 + seed * 7) % 17) as f32 / 17.0 - 0.5);
            let reference = torch_logits(&net, &input, &contract).unwrap();
            let got = tract
                .run(&[TensorF32 {
                    shape: contract.input_shape().to_vec(),
                    data: input,
                }])
                .unwrap();
            // Float32 rounding grows with the logits' size, and random BatchNorm statistics
            // (drawn from libtorch's global generator, which the other tests in this binary
            // also draw from, so they differ from run to run) can make deep nets' logits
            // large; a folding or layout mistake is off by the logits' own order instead.
            let diff = max_abs_diff(&got[0].data, &reference);
            let scale = reference.iter().fold(1f32, |m, v| m.max(v.abs()));
            assert!(diff < 1e-4 * scale, "{} (mirror {mirror_averaged}): tract vs libtorch max abs diff {diff}, logits up to {scale}", spec.describe());
        }
    }
}

#[test]
fn a_network_rebuilt_from_its_exported_file_computes_the_same_and_trains_on() {
    let _turn = torch_turn();
    tch::set_num_threads(1);
    tch::manual_seed(5);
    for mirror_averaged in [false, true] {
        let spec = ModelSpec::fer_default(1, 24, 7).with_fer_shape(&mien::train::model::FerShape {
            widths: Some(vec![8, 16]),
            blocks: Some(vec![1, 1]),
            strides: Some(vec![2, 2]),
            stem_width: Some(8),
        });
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), &spec);
        randomise_batchnorm(&vs);
        let contract = ModelContract {
            mirror_averaged,
            ..ModelContract::new(1, 24, 24)
        };
        let bytes = export::to_onnx(&net, &contract).to_bytes();

        let vs2 = nn::VarStore::new(tch::Device::Cpu);
        let rebuilt = Net::new(&vs2.root(), &spec);
        let calibration = tch::Tensor::randn([64, 1, 24, 24], (tch::Kind::Float, tch::Device::Cpu));
        let said = mien::train::from_onnx::init_from_onnx(&rebuilt, &bytes, &calibration).unwrap();
        assert!(said.contains("64 calibration images"), "{said}");
        // Eval mode: the file's numbers (one view; the file's mirror averaging is undone).
        let one_view = ModelContract {
            mirror_averaged: false,
            ..contract.clone()
        };
        let input: Vec<f32> = (0..576)
            .map(|i| ((i * 37) % 23) as f32 / 11.5 - 1.0)
            .collect();
        let (a, b) = (
            torch_logits(&net, &input, &one_view).unwrap(),
            torch_logits(&rebuilt, &input, &one_view).unwrap(),
        );
        let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
        assert!(
            max_abs_diff(&a, &b) < 1e-4 * scale,
            "mirror {mirror_averaged}: {a:?} vs {b:?}"
        );
        // Training mode on the calibration batch itself: BatchNorm's batch statistics
        // are the calibrated ones, so the rebuilt network computes the same there too.
        let (ta, tb) = tch::no_grad(|| {
            (
                rebuilt.features_t(&calibration, false),
                rebuilt.features_t(&calibration, true),
            )
        });
        let diff = f64::try_from((ta - tb).abs().max()).unwrap();
        assert!(diff < 1e-3, "training-mode features differ by {diff}");
    }
    // A file that is not a mien model is refused with a sentence.
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let net = Net::new(&vs.root(), &ModelSpec::fer_default(1, 24, 7));
    let x = tch::Tensor::zeros([2, 1, 24, 24], (tch::Kind::Float, tch::Device::Cpu));
    assert!(mien::train::from_onnx::init_from_onnx(&net, b"not onnx", &x).is_err());
}

#[test]
fn bfloat16_training_learns_like_float32() {
    let _turn = torch_turn();
    tch::set_num_threads(1);
    let dir = temp_dir("bf16");
    make_dataset(&dir.join("data"), 60);
    let mut accuracy = Vec::new();
    for precision in ["f32", "bf16"] {
        let out = dir.join(format!("run-{precision}"));
        let cfg = tiny_config(&dir.join("data"), &out, 5, &["--precision", precision]);
        accuracy.push(training::train(&cfg).unwrap());
    }
    // The synthetic task is separable (chance is a third): both precisions learn it.
    assert!(accuracy.iter().all(|&a| a > 0.85), "{accuracy:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn precision_auto_measures_both_and_says_which() {
    let _turn = torch_turn();
    use mien::train::precision::{resolve, PrecisionChoice};
    tch::set_num_threads(1);
    let spec = ModelSpec::fer_default(1, 24, 7);
    let (chosen, why) = resolve(PrecisionChoice::Auto, &spec, 8, tch::Device::Cpu);
    assert!(
        why.contains("float32") && why.contains("bfloat16") && why.contains("img/s"),
        "{why}"
    );
    let named = if chosen == Precision::Bf16 {
        "bfloat16 ("
    } else {
        "float32 ("
    };
    assert!(why.starts_with(named), "{chosen:?}: {why}");
    let (fixed, _) = resolve(PrecisionChoice::F32, &spec, 8, tch::Device::Cpu);
    assert_eq!(fixed, Precision::F32);
}
