//! Starting a run from an exported model file (`train --init-onnx`), for when the run
//! folder that made it is gone: the file is the only copy of the shipped weights.
//!
//! The export folded each BatchNorm into its convolution (`W' = W * g / s`,
//! `b' = beta - mean * g / s`), which cannot be undone exactly, but an equivalent
//! network can be rebuilt: the convolution keeps `W'`, and its BatchNorm gets the
//! per-channel mean `m` and variance `v` of `W' * x` measured on real inputs, with
//! `gamma = sqrt(v + eps)` and `beta = m + b'`. In eval mode that BatchNorm computes
//! exactly `W' * x + b'` (the file's numbers); in training mode, where it normalises by
//! the batch's own statistics, it computes nearly the same, so training resumes from
//! the file's accuracy instead of from a network disturbed by fresh BatchNorm layers.

use super::model::{Block, ConvBn, Net};
use crate::contract::ModelContract;
use crate::onnx::ModelProto;
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// Loads the file's weights into `net` and calibrates its BatchNorm layers on
/// `calibration` (a batch of normalised inputs, `[N, C, H, W]`). Returns a sentence
/// saying what was loaded.
pub fn init_from_onnx(net: &Net, bytes: &[u8], calibration: &Tensor) -> Result<String, String> {
    let mut model = ModelProto::decode_bytes(bytes).map_err(|e| format!("--init-onnx: {e}"))?;
    // Exported files store float16 or int8 weights: read them as float32.
    crate::weights::expand(&mut model).map_err(|e| format!("--init-onnx: {e}"))?;
    let contract = ModelContract::read_from(&model).map_err(|e| format!("--init-onnx: {e}"))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or("--init-onnx: the file has no graph")?;
    let weights: HashMap<&str, (&[i64], Vec<f32>)> = graph
        .initializer
        .iter()
        .filter_map(|t| {
            t.f32_values()
                .map(|v| (t.name.as_str(), (t.dims.as_slice(), v)))
        })
        .collect();
    let get = |name: &str, want: &[i64]| -> Result<Tensor, String> {
        let (dims, values) = weights.get(name).ok_or_else(|| {
            format!(
                "--init-onnx: the file has no weight `{name}` (is it a `{}` network?)",
                net.spec.describe()
            )
        })?;
        if *dims != want {
            return Err(format!(
                "--init-onnx: `{name}` is {dims:?} in the file, {want:?} in this network"
            ));
        }
        Ok(Tensor::from_slice(values).view(want))
    };

    tch::no_grad(|| -> Result<(), String> {
        for (name, cb) in conv_bns(net) {
            let mut w = cb.conv.ws.shallow_clone();
            w.copy_(&get(&format!("{name}.weight"), &w.size())?);
            let b = get(&format!("{name}.bias"), &[w.size()[0]])?;
            // Until calibrated: the identity BatchNorm plus the bias (exact in eval mode).
            set_batchnorm(
                cb,
                &b.zeros_like(),
                &(b.ones_like() - EPS),
                &b.ones_like(),
                &b,
            );
        }
        // Gemm's weight is stored [in, out], halved when the file averages two views.
        let head_scale = if contract.mirror_averaged { 2.0 } else { 1.0 };
        let fc_w = &net.fc.ws;
        let (out, inp) = (fc_w.size()[0], fc_w.size()[1]);
        fc_w.shallow_clone()
            .copy_(&(get("fc.weight", &[inp, out])?.transpose(0, 1) * head_scale));
        if let Some(bias) = &net.fc.bs {
            bias.shallow_clone().copy_(&get("fc.bias", &[out])?);
        }
        calibrate(net, calibration);
        Ok(())
    })?;
    Ok(format!(
        "initial weights from the exported file ({} {}, {} layers; BatchNorm rebuilt from {} calibration images)",
        contract.model_name,
        contract.model_version,
        conv_bns(net).len(),
        calibration.size()[0]
    ))
}

/// tch's default BatchNorm epsilon, which the networks are built with.
const EPS: f64 = 1e-5;

/// Every conv + BatchNorm pair with the name the exporter gives it.
fn conv_bns(net: &Net) -> Vec<(String, &ConvBn)> {
    let mut out = vec![("conv1".to_string(), &net.stem)];
    for (s, stage) in net.stages.iter().enumerate() {
        for (i, block) in stage.iter().enumerate() {
            for (j, cb) in block.convs.iter().enumerate() {
                out.push((format!("layer{}.{i}.conv{}", s + 1, j + 1), cb));
            }
            if let Some(d) = &block.downsample {
                out.push((format!("layer{}.{i}.downsample", s + 1), d));
            }
        }
    }
    out
}

fn set_batchnorm(cb: &ConvBn, mean: &Tensor, var: &Tensor, gamma: &Tensor, beta: &Tensor) {
    let bn = &cb.bn;
    bn.running_mean.shallow_clone().copy_(mean);
    bn.running_var.shallow_clone().copy_(var);
    if let Some(g) = &bn.ws {
        g.shallow_clone().copy_(gamma);
    }
    if let Some(b) = &bn.bs {
        b.shallow_clone().copy_(beta);
    }
}

/// Runs `x` through one conv + BatchNorm in eval mode, first giving the BatchNorm
/// the statistics of this conv's output on `x` (keeping what it computes).
fn calibrate_conv_bn(cb: &ConvBn, x: &Tensor) -> Tensor {
    let z = x.apply(&cb.conv);
    let mean = z.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    let var = z.var_dim([0i64, 2, 3].as_slice(), false, false);
    let bias = cb
        .bn
        .bs
        .as_ref()
        .map(|b| b.copy())
        .unwrap_or_else(|| mean.zeros_like());
    let gamma = (&var + EPS).sqrt();
    set_batchnorm(cb, &mean, &var, &gamma, &(&mean + &bias));
    z.apply_t(&cb.bn, false)
}

fn calibrate_block(block: &Block, x: &Tensor) -> Tensor {
    let mut y = x.shallow_clone();
    for (i, cb) in block.convs.iter().enumerate() {
        y = calibrate_conv_bn(cb, &y);
        if i + 1 < block.convs.len() {
            y = y.relu();
        }
    }
    let shortcut = match &block.downsample {
        Some(d) => calibrate_conv_bn(d, x),
        None => x.shallow_clone(),
    };
    (y + shortcut).relu()
}

/// The network's forward pass (as `Net::features_t` in eval mode), calibrating each
/// BatchNorm on the way.
fn calibrate(net: &Net, x: &Tensor) {
    let mut y = calibrate_conv_bn(&net.stem, x).relu();
    if net.stem_pool {
        y = y.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
    }
    for stage in &net.stages {
        for block in stage {
            y = calibrate_block(block, &y);
        }
    }
}
