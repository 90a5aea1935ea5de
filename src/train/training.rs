//! The training loop: batches from memory with augmentation on a background thread,
//! soft-target cross-entropy, a checkpoint after every epoch (written to a temporary
//! folder and renamed, so a killed process loses at most the epoch in progress), a
//! JSON-lines log, and the best-on-val weights kept separately.

use super::checkpoint::{self, RunState};
use super::config::TrainConfig;
use super::data::{self, Dataset};
use super::from_onnx;
use super::loss::{loss, Batch};
use super::metrics;
use super::model::{Net, Precision};
use super::optim::{cosine_lr, Optimizer, Param, Schedule};
use super::precision;
use crate::contract::ModelContract;
use crate::preprocess::pixels_to_input;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// Picks the device named on the command line.
pub fn device(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        "cuda" => Err("--device cuda: libtorch sees no CUDA device".into()),
        "auto" => Ok(Device::cuda_if_available()),
        other => Err(format!("unknown device `{other}` (cpu, cuda or auto)")),
    }
}

/// Normalised `[n, C, H, W]` tensor from gray images, each face through the app's own
/// [`pixels_to_input`] (so training sees exactly what the app feeds the model).
pub fn images_tensor(pixels: &[u8], n: usize, contract: &ModelContract) -> Tensor {
    let (c, h, w) = (
        contract.channels as i64,
        contract.height as i64,
        contract.width as i64,
    );
    let per = (h * w) as usize;
    let values: Vec<f32> = pixels
        .chunks(per)
        .take(n)
        .flat_map(|face| pixels_to_input(face, contract))
        .collect();
    Tensor::from_slice(&values).view([n as i64, c, h, w])
}

/// Targets of each image: folder label and/or vote shares, with label smoothing.
fn target(ds: &Dataset, i: usize, cfg: &TrainConfig) -> Vec<f32> {
    let k = ds.classes.len();
    let mut t = vec![0f32; k];
    t[ds.labels[i]] = 1.0;
    if let Some(v) = &ds.votes[i] {
        let w = cfg.soft_weight as f32;
        for c in 0..k {
            t[c] = w * v[c] + (1.0 - w) * t[c];
        }
    }
    let eps = cfg.label_smoothing as f32;
    t.iter().map(|p| (1.0 - eps) * p + eps / k as f32).collect()
}

/// Streams the epoch's augmented batches from a background thread.
fn batches(
    ds: Arc<Dataset>,
    order: Vec<usize>,
    cfg: &TrainConfig,
    contract: &ModelContract,
    class_weights: Vec<f32>,
    mut rng: rand::rngs::SmallRng,
) -> std::sync::mpsc::Receiver<Batch> {
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let cfg = cfg.clone();
    let contract = contract.clone();
    std::thread::spawn(move || {
        let (h, w) = (ds.height, ds.width);
        let k = ds.classes.len();
        for chunk in order.chunks(cfg.batch_size) {
            let mut pixels = Vec::with_capacity(chunk.len() * h * w);
            let mut targets = Vec::with_capacity(chunk.len() * k);
            let mut weights = Vec::with_capacity(chunk.len());
            for &i in chunk {
                pixels.extend(cfg.augment.apply(ds.image(i), h, w, &mut rng));
                targets.extend(target(&ds, i, &cfg));
                weights.push(class_weights[ds.labels[i]]);
            }
            let batch = Batch {
                images: images_tensor(&pixels, chunk.len(), &contract),
                targets: Tensor::from_slice(&targets).view([chunk.len() as i64, k as i64]),
                weights: Tensor::from_slice(&weights),
            };
            if tx.send(batch).is_err() {
                return;
            }
        }
    });
    rx
}

/// Class weights `(n_c / mean n)^-power`, normalised to mean 1 over images.
pub fn class_weights(counts: &[usize], power: f64) -> Vec<f32> {
    let n: usize = counts.iter().sum();
    let mean = n as f64 / counts.len() as f64;
    let raw: Vec<f64> = counts
        .iter()
        .map(|&c| (c.max(1) as f64 / mean).powf(-power))
        .collect();
    let avg = counts
        .iter()
        .zip(&raw)
        .map(|(&c, w)| c as f64 * w)
        .sum::<f64>()
        / n.max(1) as f64;
    raw.iter().map(|w| (w / avg) as f32).collect()
}

/// Probabilities for every image of a dataset, in eval mode, batched.
pub fn predict(
    net: &Net,
    ds: &Dataset,
    contract: &ModelContract,
    device: Device,
    flip_tta: bool,
) -> Vec<Vec<f32>> {
    let n = ds.len();
    let per = ds.height * ds.width;
    let mut out = Vec::with_capacity(n);
    tch::no_grad(|| {
        for start in (0..n).step_by(256) {
            let end = (start + 256).min(n);
            let x = images_tensor(&ds.pixels[start * per..end * per], end - start, contract)
                .to_device(device);
            let mut p = net.forward_t(&x, false).softmax(-1, Kind::Float);
            if flip_tta {
                let pf = net.forward_t(&x.flip([3]), false).softmax(-1, Kind::Float);
                p = (p + pf) / 2.0;
            }
            let p = p.to_device(Device::Cpu);
            let k = p.size()[1] as usize;
            let flat: Vec<f32> = Vec::<f32>::try_from(p.flatten(0, -1)).unwrap_or_default();
            out.extend(flat.chunks(k).map(|c| c.to_vec()));
        }
    });
    out
}

/// Sets libtorch's compute threads (its OpenMP threads spin: never more than the free
/// cores) and one inter-op thread. libtorch accepts the inter-op setting only once per
/// process (several runs in one process, as in the tests, would abort otherwise).
pub fn set_threads(threads: usize) {
    static INTEROP: std::sync::Once = std::sync::Once::new();
    tch::set_num_threads(threads as i32);
    INTEROP.call_once(|| tch::set_num_interop_threads(1));
}

/// Trains per `cfg`; returns the best val accuracy.
pub fn train(cfg: &TrainConfig) -> Result<f64, String> {
    cfg.validate()?;
    set_threads(cfg.threads);
    let device = device(&cfg.device)?;
    let classes = data::check_layout(&cfg.data)?;
    std::fs::create_dir_all(&cfg.out)
        .map_err(|e| format!("cannot create {}: {e}", cfg.out.display()))?;

    // A resumed run must continue the run that was started, not a new one.
    let state = if cfg.resume {
        checkpoint::latest(&cfg.out)?
    } else {
        None
    };
    if cfg.resume && state.is_none() {
        eprintln!(
            "--resume: no finished epoch in {}, starting from scratch",
            cfg.out.display()
        );
    }
    if !cfg.resume && checkpoint::latest(&cfg.out)?.is_some() {
        return Err(format!(
            "{} already holds a run; pass --resume to continue it, or choose another --out",
            cfg.out.display()
        ));
    }
    if let Some((_, _)) = &state {
        let saved = checkpoint::read_config(&cfg.out)?;
        if saved.model_spec(classes.len()) != cfg.model_spec(classes.len()) {
            return Err("--resume with a different architecture than the saved run".into());
        }
    }

    let mut contract = ModelContract::new(cfg.channels, cfg.size, cfg.size);
    contract.labels = classes.clone();
    contract.light_normalized = cfg.light_norm;
    let t0 = Instant::now();
    let (mut train_ds, skipped_train) = data::load_split(
        &cfg.data.join("train"),
        &classes,
        &contract,
        cfg.threads.max(2),
    )?;
    let (mut val_ds, skipped_val) = data::load_split(
        &cfg.data.join("val"),
        &classes,
        &contract,
        cfg.threads.max(2),
    )?;
    for s in skipped_train.iter().chain(&skipped_val) {
        eprintln!("skipped {}: {}", s.path.display(), s.reason);
    }
    if let Some(limit) = cfg.limit {
        truncate_balanced(&mut train_ds, limit);
    }
    for dir in &cfg.extra {
        let (extra, skipped) = data::load_split(dir, &classes, &contract, cfg.threads.max(2))?;
        for s in &skipped {
            eprintln!("skipped {}: {}", s.path.display(), s.reason);
        }
        eprintln!(
            "extra: {} images from {} (x{} per epoch)",
            extra.len(),
            dir.display(),
            cfg.extra_repeat
        );
        train_ds.append(&extra, cfg.extra_repeat);
    }
    if let Some(votes_path) = &cfg.votes {
        let votes = data::read_votes(votes_path, &classes)?;
        let a = data::attach_votes(&mut train_ds, &votes);
        let b = data::attach_votes(&mut val_ds, &votes);
        eprintln!(
            "votes: {a} of {} training and {b} of {} val images have FER+ votes",
            train_ds.len(),
            val_ds.len()
        );
    }
    eprintln!(
        "loaded {} training and {} val images in {:.1}s ({} unreadable files skipped)",
        train_ds.len(),
        val_ds.len(),
        t0.elapsed().as_secs_f64(),
        skipped_train.len() + skipped_val.len()
    );
    if train_ds.is_empty() || val_ds.is_empty() {
        return Err("no readable images in train/ or val/".into());
    }

    let spec = cfg.model_spec(classes.len());
    // The initial weights follow --seed too, so the same command gives the same run.
    tch::manual_seed(cfg.seed as i64);
    let mut vs = nn::VarStore::new(device);
    let mut net = Net::new(&vs.root(), &spec);
    // A resumed run takes its weights from its checkpoint, so the initial ones are skipped.
    let fresh = state.is_none();
    if let Some(init) = cfg.init.as_ref().filter(|_| fresh) {
        let report = checkpoint::load_matching(&mut vs, init)?;
        eprintln!("{report}");
    }
    if let Some(path) = cfg.init_onnx.as_ref().filter(|_| fresh) {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Calibration faces spread over the training set, unaugmented.
        let n = train_ds.len().min(512);
        let per = train_ds.height * train_ds.width;
        let pixels: Vec<u8> = (0..n)
            .flat_map(|j| train_ds.image(j * train_ds.len() / n).to_vec())
            .collect();
        debug_assert_eq!(pixels.len(), n * per);
        let x = images_tensor(&pixels, n, &contract).to_device(device);
        eprintln!("{}", from_onnx::init_from_onnx(&net, &bytes, &x)?);
    }
    let (precision, why) = precision::resolve(cfg.precision, &spec, cfg.batch_size, device);
    eprintln!("training in {why}");
    net.precision = precision;
    if cfg.linear_probe {
        net.frozen_stages = spec.widths.len() + 1;
    } else if cfg.freeze_stages > 0 {
        net.frozen_stages = cfg.freeze_stages + 1;
    }
    if cfg.linear_probe {
        // A new head on frozen features.
        tch::no_grad(|| {
            let bound = 1.0 / (net.feature_dim() as f64).sqrt();
            let _ = net.fc.ws.uniform_(-bound, bound);
            if let Some(b) = &mut net.fc.bs {
                let _ = b.zero_();
            }
        });
    }
    let params = trainable_params(&vs, &net);
    let head_lr_ratio = cfg.head_lr.map(|h| h / cfg.lr).unwrap_or(1.0);
    let mut opt = Optimizer::new(
        cfg.optimizer,
        params,
        cfg.momentum,
        !cfg.no_nesterov,
        cfg.weight_decay,
    );

    let mut run = RunState::new();
    if let Some((epoch_dir, saved)) = state {
        checkpoint::load_epoch(&epoch_dir, &mut vs, &mut opt)?;
        run = saved;
        eprintln!(
            "resumed after epoch {} (best val accuracy {:.2}%)",
            run.epochs_done,
            run.best_accuracy * 100.0
        );
    } else {
        checkpoint::write_config(&cfg.out, cfg, &spec, &contract)?;
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: stopping; the last finished epoch is saved (Ctrl-C again to quit now)");
        });
    }

    let weights = class_weights(&train_ds.class_counts(), cfg.class_weight_power);
    let train_ds = Arc::new(train_ds);
    let steps_per_epoch = train_ds.len().div_ceil(cfg.batch_size);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.out.join("log.jsonl"))
        .map_err(|e| format!("cannot open the log: {e}"))?;

    for epoch in run.epochs_done..cfg.epochs {
        tch::manual_seed((cfg.seed * 1_000 + epoch as u64) as i64);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(cfg.seed * 1_000_003 + epoch as u64);
        let mut order: Vec<usize> = (0..train_ds.len()).collect();
        order.shuffle(&mut rng);
        let rx = batches(
            train_ds.clone(),
            order,
            cfg,
            &contract,
            weights.clone(),
            rng,
        );

        let bar = ProgressBar::new(steps_per_epoch as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:28}] {pos}/{len} {msg} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, cfg.epochs));
        let started = Instant::now();
        let (mut loss_sum, mut seen, mut correct) = (0.0, 0usize, 0usize);
        let mut lr_now = cfg.lr;
        for (step, batch) in rx.into_iter().enumerate() {
            if interrupted.load(Ordering::SeqCst) {
                bar.abandon();
                return Err(format!(
                    "interrupted during epoch {}; resume with --resume",
                    epoch + 1
                ));
            }
            let frac_epoch = epoch as f64 + step as f64 / steps_per_epoch as f64;
            lr_now = match cfg.schedule {
                Schedule::Cosine => {
                    cosine_lr(cfg.lr, frac_epoch, cfg.warmup_epochs, cfg.epochs as f64)
                }
                Schedule::Plateau => {
                    cfg.lr
                        * run.plateau.scale
                        * if frac_epoch < cfg.warmup_epochs {
                            (frac_epoch + 1e-3) / cfg.warmup_epochs
                        } else {
                            1.0
                        }
                }
            };
            let batch = Batch {
                images: batch.images.to_device(device),
                targets: batch.targets.to_device(device),
                weights: batch.weights.to_device(device),
            };
            let logits = net.forward_t(&batch.images, true);
            let l = loss(&logits, &batch);
            opt.zero_grad();
            l.backward();
            opt.step(&[lr_now, lr_now * head_lr_ratio]);
            let b = batch.weights.size()[0] as usize;
            loss_sum += l.double_value(&[]) * b as f64;
            seen += b;
            let pred = logits.argmax(-1, false);
            let truth = batch.targets.argmax(-1, false);
            correct += pred.eq_tensor(&truth).sum(Kind::Int64).int64_value(&[]) as usize;
            bar.inc(1);
            if step % 5 == 0 {
                bar.set_message(format!(
                    "loss {:.4} acc {:.1}% {:.0} img/s lr {:.4}",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64,
                    seen as f64 / started.elapsed().as_secs_f64(),
                    lr_now
                ));
            }
        }
        bar.finish_and_clear();
        let train_secs = started.elapsed().as_secs_f64();

        // Val is always measured in float32, as the exported file computes.
        net.precision = Precision::F32;
        let probs = predict(&net, &val_ds, &contract, device, false);
        net.precision = precision;
        let m = metrics::compute(&classes, &probs, &val_ds.labels, &val_ds.votes);
        if cfg.schedule == Schedule::Plateau {
            run.plateau.observe(m.accuracy, cfg.patience);
        }
        run.epochs_done = epoch + 1;
        let improved = m.accuracy > run.best_accuracy;
        if improved {
            run.best_accuracy = m.accuracy;
            run.best_epoch = epoch + 1;
        }
        let line = json!({
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen.max(1) as f64,
            "train_accuracy": correct as f64 / seen.max(1) as f64,
            "val_accuracy": m.accuracy,
            "val_macro_f1": m.macro_f1,
            "val_nll": m.nll,
            "val_ece": m.ece,
            "val_vote_tvd": m.vote_tvd,
            "lr": lr_now,
            "train_seconds": train_secs,
            "images_per_second": seen as f64 / train_secs,
            "best_val_accuracy": run.best_accuracy,
        });
        checkpoint::save_epoch(&cfg.out, &vs, &opt, &run)?;
        if improved {
            checkpoint::save_best(&cfg.out, &vs, &line)?;
        }
        writeln!(log, "{line}").map_err(|e| format!("cannot write the log: {e}"))?;
        eprintln!(
            "epoch {:>3}/{}  train loss {:.4} acc {:.2}%  val acc {:.2}% macro-F1 {:.4}  {:.0} img/s  {:.0}s{}",
            epoch + 1,
            cfg.epochs,
            loss_sum / seen.max(1) as f64,
            100.0 * correct as f64 / seen.max(1) as f64,
            m.accuracy * 100.0,
            m.macro_f1,
            seen as f64 / train_secs,
            train_secs,
            if improved { "  (best)" } else { "" }
        );
        if interrupted.load(Ordering::SeqCst) {
            return Err(format!(
                "interrupted after epoch {} (saved); resume with --resume",
                epoch + 1
            ));
        }
        if cfg.stop_after.is_some_and(|n| epoch + 1 >= n) && epoch + 1 < cfg.epochs {
            eprintln!(
                "stopped after epoch {} of {} (--stop-after); continue with --resume",
                epoch + 1,
                cfg.epochs
            );
            break;
        }
    }
    Ok(run.best_accuracy)
}

/// The var store's trainable tensors with their names, the head in group 1.
fn trainable_params(vs: &nn::VarStore, net: &Net) -> Vec<Param> {
    let frozen_prefixes: Vec<String> = if net.frozen_stages == 0 {
        Vec::new()
    } else {
        let mut p = vec!["conv1.".to_string(), "bn1.".to_string()];
        for s in 1..net.frozen_stages {
            p.push(format!("layer{s}."));
        }
        p
    };
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .filter_map(|(name, mut t)| {
            if frozen_prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                t = t.set_requires_grad(false);
                let _ = t;
                return None;
            }
            let group = if name.starts_with("fc.") { 1 } else { 0 };
            Some(Param {
                name,
                tensor: t,
                group,
            })
        })
        .collect()
}

/// Keeps about `limit` images, the same share of each class.
fn truncate_balanced(ds: &mut Dataset, limit: usize) {
    if ds.len() <= limit {
        return;
    }
    let stride = ds.len() as f64 / limit as f64;
    let keep: Vec<usize> = (0..limit).map(|i| (i as f64 * stride) as usize).collect();
    let per = ds.height * ds.width;
    let mut pixels = Vec::with_capacity(limit * per);
    for &i in &keep {
        pixels.extend_from_slice(ds.image(i));
    }
    ds.pixels = pixels;
    ds.labels = keep.iter().map(|&i| ds.labels[i]).collect();
    ds.paths = keep.iter().map(|&i| ds.paths[i].clone()).collect();
    ds.votes = keep.iter().map(|&i| ds.votes[i].clone()).collect();
}
