//! Which arithmetic trains fastest on this machine. bfloat16 is 2.2x faster than
//! float32 on CPUs with AMX and AVX512-BF16, and about 10x slower where it is emulated
//! (an AMD EPYC with AVX2 only): `--precision auto` times both on the run's own network
//! and batch size, on a throwaway copy, and takes the faster.

use super::loss::{loss, Batch};
use super::model::{ModelSpec, Net, Precision};
use super::optim::{Optimizer, OptimizerKind, Param};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// The `--precision` the command line takes: one of the two, or `auto` to measure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    /// Time a few training steps in each and take the faster.
    #[default]
    Auto,
    F32,
    Bf16,
}

/// Training images per second of `spec` in `precision`: `steps` timed steps of forward,
/// backward and SGD on random data (after two untimed ones), on a new network.
pub fn train_images_per_second(
    spec: &ModelSpec,
    precision: Precision,
    batch_size: usize,
    steps: usize,
    device: Device,
) -> f64 {
    let vs = nn::VarStore::new(device);
    let mut net = Net::new(&vs.root(), spec);
    net.precision = precision;
    let mut params: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let params = params
        .into_iter()
        .map(|(name, tensor)| Param {
            name,
            tensor,
            group: 0,
        })
        .collect();
    let mut opt = Optimizer::new(OptimizerKind::Sgd, params, 0.9, true, 5e-4);
    let (b, k) = (batch_size as i64, spec.num_classes as i64);
    let (c, s) = (spec.channels as i64, spec.size as i64);
    let batch = Batch {
        images: Tensor::randn([b, c, s, s], (Kind::Float, device)),
        targets: Tensor::full([b, k], 1.0 / k as f64, (Kind::Float, device)),
        weights: Tensor::ones([b], (Kind::Float, device)),
    };
    let mut step = || {
        let l = loss(&net.forward_t(&batch.images, true), &batch);
        opt.zero_grad();
        l.backward();
        opt.step(&[0.01, 0.01]);
        let _ = l.double_value(&[]);
    };
    for _ in 0..2 {
        step();
    }
    let t = Instant::now();
    for _ in 0..steps {
        step();
    }
    (steps * batch_size) as f64 / t.elapsed().as_secs_f64()
}

/// The precision to train in, and a sentence saying why.
pub fn resolve(
    choice: PrecisionChoice,
    spec: &ModelSpec,
    batch_size: usize,
    device: Device,
) -> (Precision, String) {
    match choice {
        PrecisionChoice::F32 => (Precision::F32, "float32 (--precision f32)".into()),
        PrecisionChoice::Bf16 => (Precision::Bf16, "bfloat16 (--precision bf16)".into()),
        PrecisionChoice::Auto => {
            // Each measured three times, in turn, and the best of each kept: a build or
            // another run on the same cores slows whichever runs beside it, and one
            // reading each let such a moment pick float32 on a CPU with AMX.
            let (steps, rounds) = (3, 3);
            let (mut f32_rate, mut bf16_rate) = (0f64, 0f64);
            for _ in 0..rounds {
                let rate = |p| train_images_per_second(spec, p, batch_size, steps, device);
                f32_rate = f32_rate.max(rate(Precision::F32));
                bf16_rate = bf16_rate.max(rate(Precision::Bf16));
            }
            let (chosen, name) = pick(f32_rate, bf16_rate);
            let why = format!(
                "{name} (--precision auto: {f32_rate:.1} img/s in float32 and {bf16_rate:.1} in \
                 bfloat16 on this machine, best of {rounds} times {steps} steps of batch \
                 {batch_size} each{})",
                bf16_hardware_note()
            );
            (chosen, why)
        }
    }
}

/// The faster of the two rates; float32 unless bfloat16 is at least 10% faster (a
/// near tie is noise, and float32 is the exact one).
fn pick(f32_rate: f64, bf16_rate: f64) -> (Precision, &'static str) {
    if bf16_rate > 1.1 * f32_rate {
        (Precision::Bf16, "bfloat16")
    } else {
        (Precision::F32, "float32")
    }
}

/// What /proc/cpuinfo says of bfloat16 hardware (Linux x86), for the message.
fn bf16_hardware_note() -> String {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return String::new();
    };
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    match (has("amx_bf16"), has("avx512_bf16")) {
        (true, _) => "; the CPU has AMX".into(),
        (false, true) => "; the CPU has AVX512-BF16".into(),
        (false, false) => "; the CPU has no bfloat16 units".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfloat16_only_when_clearly_faster() {
        assert_eq!(pick(100.0, 220.0).0, Precision::Bf16);
        assert_eq!(pick(46.5, 4.6).0, Precision::F32);
        assert_eq!(pick(100.0, 105.0).0, Precision::F32);
    }
}
