//! Run folders on disk:
//!
//! ```text
//! <out>/config.json                 every hyper-parameter, the model spec, the contract
//! <out>/log.jsonl                   one line of metrics per finished epoch
//! <out>/ckpt/epoch-0007/            the last finished epoch: model + optimiser + state
//! <out>/best.safetensors, best.json the best-on-val weights and their metrics
//! ```
//!
//! Every write goes to a temporary name first and is renamed into place, so a crash
//! never leaves a half-written checkpoint.

use super::config::TrainConfig;
use super::model::ModelSpec;
use super::optim::{Optimizer, Plateau};
use crate::contract::ModelContract;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;

/// Progress of a run, saved with each epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_done: usize,
    pub best_accuracy: f64,
    pub best_epoch: usize,
    pub plateau: Plateau,
}

impl RunState {
    pub fn new() -> Self {
        RunState {
            epochs_done: 0,
            best_accuracy: 0.0,
            best_epoch: 0,
            plateau: Plateau::new(),
        }
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}

/// What `config.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    pub train: TrainConfig,
    pub model: ModelSpec,
    pub labels: Vec<String>,
    pub mean: f32,
    pub std: f32,
}

impl RunConfig {
    /// The model contract of this run's weights.
    pub fn contract(&self) -> ModelContract {
        let mut c = ModelContract::new(self.model.channels, self.model.size, self.model.size);
        c.labels = self.labels.clone();
        c.mean = self.mean;
        c.std = self.std;
        c.model_name = self.train.name.clone();
        c.light_normalized = self.train.light_norm;
        c
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

pub fn write_config(
    out: &Path,
    cfg: &TrainConfig,
    spec: &ModelSpec,
    contract: &ModelContract,
) -> Result<(), String> {
    let rc = RunConfig {
        train: cfg.clone(),
        model: spec.clone(),
        labels: contract.labels.clone(),
        mean: contract.mean,
        std: contract.std,
    };
    let text = serde_json::to_string_pretty(&rc).map_err(|e| e.to_string())?;
    write_atomic(&out.join("config.json"), text.as_bytes())
}

/// Reads a run folder's `config.json`.
pub fn read_run_config(run_dir: &Path) -> Result<RunConfig, String> {
    let path = run_dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{} is not a training run folder ({})",
            run_dir.display(),
            io_err(&path, e)
        )
    })?;
    serde_json::from_str(&text).map_err(|e| io_err(&path, e))
}

pub fn read_config(out: &Path) -> Result<TrainConfig, String> {
    Ok(read_run_config(out)?.train)
}

/// The last finished epoch's folder and state, if any.
pub fn latest(out: &Path) -> Result<Option<(PathBuf, RunState)>, String> {
    let dir = out.join("ckpt");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(None);
    };
    let mut epochs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with("epoch-")
                        && !n.to_string_lossy().ends_with(".tmp")
                })
        })
        .collect();
    epochs.sort();
    match epochs.pop() {
        None => Ok(None),
        Some(p) => {
            let text = std::fs::read_to_string(p.join("state.json")).map_err(|e| io_err(&p, e))?;
            let state: RunState = serde_json::from_str(&text).map_err(|e| io_err(&p, e))?;
            Ok(Some((p, state)))
        }
    }
}

/// Saves a finished epoch and removes the older ones.
pub fn save_epoch(
    out: &Path,
    vs: &VarStore,
    opt: &Optimizer,
    run: &RunState,
) -> Result<(), String> {
    let ckpt = out.join("ckpt");
    let name = format!("epoch-{:04}", run.epochs_done);
    let tmp = ckpt.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    vs.save(tmp.join("model.safetensors"))
        .map_err(|e| io_err(&tmp, e))?;
    let state = opt.state();
    Tensor::write_safetensors(&state, tmp.join("optim.safetensors"))
        .map_err(|e| io_err(&tmp, e))?;
    let text = serde_json::to_string_pretty(run).map_err(|e| e.to_string())?;
    std::fs::write(tmp.join("state.json"), text).map_err(|e| io_err(&tmp, e))?;
    let final_dir = ckpt.join(&name);
    let _ = std::fs::remove_dir_all(&final_dir);
    std::fs::rename(&tmp, &final_dir).map_err(|e| io_err(&final_dir, e))?;
    if let Ok(entries) = std::fs::read_dir(&ckpt) {
        for e in entries.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("epoch-") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

pub fn load_epoch(dir: &Path, vs: &mut VarStore, opt: &mut Optimizer) -> Result<(), String> {
    vs.load(dir.join("model.safetensors"))
        .map_err(|e| io_err(dir, e))?;
    let state =
        Tensor::read_safetensors(dir.join("optim.safetensors")).map_err(|e| io_err(dir, e))?;
    opt.load_state(state)
}

/// Keeps the best-on-val weights and their metrics.
pub fn save_best(out: &Path, vs: &VarStore, metrics: &serde_json::Value) -> Result<(), String> {
    let tmp = out.join("best.tmp.safetensors");
    vs.save(&tmp).map_err(|e| io_err(&tmp, e))?;
    let path = out.join("best.safetensors");
    std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    write_atomic(&out.join("best.json"), metrics.to_string().as_bytes())
}

/// Loads the tensors of `path` whose names and shapes match the var store; reports
/// what was loaded and what was not.
pub fn load_matching(vs: &mut VarStore, path: &Path) -> Result<String, String> {
    let tensors = Tensor::read_safetensors(path).map_err(|e| io_err(path, e))?;
    let vars = vs.variables();
    let (mut loaded, mut skipped) = (0, Vec::new());
    tch::no_grad(|| {
        for (name, t) in &tensors {
            match vars.get(name) {
                Some(v) if v.size() == t.size() => {
                    let mut v = v.shallow_clone();
                    v.copy_(t);
                    loaded += 1;
                }
                Some(_) => skipped.push(format!("{name} (shape differs)")),
                None => skipped.push(format!("{name} (not in this model)")),
            }
        }
    });
    let mut s = format!(
        "initial weights from {}: {loaded} of {} model tensors loaded",
        path.display(),
        vars.len()
    );
    if !skipped.is_empty() {
        s += &format!("; not loaded: {}", skipped.join(", "));
    }
    Ok(s)
}

/// Builds the network of a run folder and loads weights (`best` by default).
pub fn load_net(
    run_dir: &Path,
    weights: Option<&Path>,
    device: tch::Device,
) -> Result<(VarStore, super::model::Net, RunConfig), String> {
    let rc = read_run_config(run_dir)?;
    let mut vs = VarStore::new(device);
    let net = super::model::Net::new(&vs.root(), &rc.model);
    let path = weights
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run_dir.join("best.safetensors"));
    vs.load(&path).map_err(|e| io_err(&path, e))?;
    Ok((vs, net, rc))
}
