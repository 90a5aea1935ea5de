//! Optimisers and learning-rate schedules, written out so their whole state (momentum
//! buffers, plateau counters) is saved with every checkpoint and `--resume` continues
//! exactly where training stopped.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adamw,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear warm-up, then cosine decay to zero at the last epoch.
    Cosine,
    /// Divide the rate by 10 when val accuracy has not improved for `patience` epochs.
    Plateau,
}

/// A trainable parameter: its name in the var store, and its group (0 body, 1 head).
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
    pub group: usize,
}

/// SGD with momentum (optionally Nesterov) or AdamW; decoupled from tch's C++
/// optimiser so the state can be checkpointed. Weight decay skips 1-D tensors
/// (BatchNorm scales and biases).
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub params: Vec<Param>,
    /// Per parameter: momentum buffer (SGD) or first moment (AdamW).
    buf1: Vec<Tensor>,
    /// Per parameter: second moment (AdamW only).
    buf2: Vec<Tensor>,
    pub steps: i64,
}

impl Optimizer {
    pub fn new(
        kind: OptimizerKind,
        params: Vec<Param>,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    ) -> Self {
        let zeros = |p: &Param| Tensor::zeros_like(&p.tensor);
        let buf1 = params.iter().map(zeros).collect();
        let buf2 = if kind == OptimizerKind::Adamw {
            params.iter().map(zeros).collect()
        } else {
            Vec::new()
        };
        Optimizer {
            kind,
            momentum,
            nesterov,
            weight_decay,
            params,
            buf1,
            buf2,
            steps: 0,
        }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    /// One update with a learning rate per group (`lrs[group]`).
    pub fn step(&mut self, lrs: &[f64]) {
        self.steps += 1;
        let t = self.steps as f64;
        tch::no_grad(|| {
            for (i, p) in self.params.iter_mut().enumerate() {
                let grad = p.tensor.grad();
                if !grad.defined() {
                    continue;
                }
                let lr = lrs[p.group.min(lrs.len() - 1)];
                let decay = if p.tensor.dim() > 1 {
                    self.weight_decay
                } else {
                    0.0
                };
                match self.kind {
                    OptimizerKind::Sgd => {
                        let g = if decay > 0.0 {
                            &grad + &p.tensor * decay
                        } else {
                            grad
                        };
                        let buf = &mut self.buf1[i];
                        let _ = buf.g_mul_scalar_(self.momentum);
                        let _ = buf.g_add_(&g);
                        let update = if self.nesterov {
                            &g + &*buf * self.momentum
                        } else {
                            buf.shallow_clone()
                        };
                        let _ = p.tensor.g_sub_(&(update * lr));
                    }
                    OptimizerKind::Adamw => {
                        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
                        if decay > 0.0 {
                            let _ = p.tensor.g_mul_scalar_(1.0 - lr * decay);
                        }
                        let m = &mut self.buf1[i];
                        let _ = m.g_mul_scalar_(b1);
                        let _ = m.g_add_(&(&grad * (1.0 - b1)));
                        let v = &mut self.buf2[i];
                        let _ = v.g_mul_scalar_(b2);
                        let _ = v.g_add_(&(&grad * &grad * (1.0 - b2)));
                        let m_hat = &self.buf1[i] / (1.0 - b1.powf(t));
                        let v_hat = &self.buf2[i] / (1.0 - b2.powf(t));
                        let _ = p.tensor.g_sub_(&(m_hat / (v_hat.sqrt() + eps) * lr));
                    }
                }
            }
        });
    }

    /// The optimiser's state as named tensors, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            out.push((format!("m1.{}", p.name), self.buf1[i].shallow_clone()));
            if let Some(b) = self.buf2.get(i) {
                out.push((format!("m2.{}", p.name), b.shallow_clone()));
            }
        }
        out.push(("steps".into(), Tensor::from(self.steps)));
        out
    }

    /// Restores [`Optimizer::state`].
    pub fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<(), String> {
        let map: BTreeMap<String, Tensor> = state.into_iter().collect();
        tch::no_grad(|| -> Result<(), String> {
            for (i, p) in self.params.iter().enumerate() {
                let m1 = map
                    .get(&format!("m1.{}", p.name))
                    .ok_or_else(|| format!("optimiser state lacks {}", p.name))?;
                self.buf1[i].copy_(m1);
                if let Some(b) = self.buf2.get_mut(i) {
                    let m2 = map
                        .get(&format!("m2.{}", p.name))
                        .ok_or_else(|| format!("optimiser state lacks {}", p.name))?;
                    b.copy_(m2);
                }
            }
            Ok(())
        })?;
        self.steps = map.get("steps").map(|t| t.int64_value(&[])).unwrap_or(0);
        Ok(())
    }
}

/// Learning rate at a given (fractional) epoch of a cosine schedule with warm-up.
pub fn cosine_lr(base: f64, epoch: f64, warmup: f64, total: f64) -> f64 {
    if epoch < warmup {
        return base * (epoch + 1e-3) / warmup;
    }
    let progress = ((epoch - warmup) / (total - warmup).max(1e-9)).clamp(0.0, 1.0);
    base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Reduce-on-plateau state: the current multiplier of the base rate.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Plateau {
    pub scale: f64,
    /// Best metric so far; minus infinity (`null` in JSON) before the first epoch.
    #[serde(deserialize_with = "null_is_minus_infinity")]
    pub best: f64,
    pub bad_epochs: usize,
}

/// JSON has no infinities: serde_json writes them as `null`.
fn null_is_minus_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
}

impl Plateau {
    pub fn new() -> Self {
        Plateau {
            scale: 1.0,
            best: f64::NEG_INFINITY,
            bad_epochs: 0,
        }
    }

    /// Records an epoch's val accuracy; divides the rate by 10 after `patience` epochs
    /// without improvement.
    pub fn observe(&mut self, metric: f64, patience: usize) {
        if metric > self.best + 1e-4 {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs > patience {
                self.scale *= 0.1;
                self.bad_epochs = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays_to_zero() {
        assert!(cosine_lr(0.1, 0.0, 2.0, 10.0) < 0.001);
        assert!((cosine_lr(0.1, 2.0, 2.0, 10.0) - 0.1).abs() < 1e-9);
        assert!((cosine_lr(0.1, 6.0, 2.0, 10.0) - 0.05).abs() < 1e-9);
        assert!(cosine_lr(0.1, 10.0, 2.0, 10.0).abs() < 1e-12);
    }

    #[test]
    fn plateau_state_survives_json() {
        let p = Plateau::new();
        let back: Plateau = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back.best, f64::NEG_INFINITY);
        assert_eq!(back.scale, 1.0);
    }

    #[test]
    fn plateau_divides_after_patience() {
        let mut p = Plateau::new();
        for acc in [0.5, 0.6, 0.6, 0.6, 0.6] {
            p.observe(acc, 2);
        }
        assert!((p.scale - 0.1).abs() < 1e-12);
    }
}
