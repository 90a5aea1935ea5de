//! The `average` command: stochastic weight averaging (SWA) of a run's snapshots.
//!
//! The weights of several epochs along one low-learning-rate trajectory are averaged
//! into one network of the same size (so the app's cost does not change), then every
//! BatchNorm layer's statistics are recomputed on the (augmented) training images, because averaged
//! weights produce activations whose mean and variance no snapshot's statistics match.

use super::checkpoint;
use super::data;
use super::metrics;
use super::training;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::{ModuleT, VarStore};
use tch::{Kind, Tensor};

#[derive(Clone, Debug, clap::Args)]
pub struct AverageArgs {
    /// The run folder whose network the snapshots belong to (its config.json).
    #[arg(long)]
    pub run: PathBuf,
    /// Weight files to average (e.g. the per-epoch model.safetensors of one run).
    #[arg(long, num_args = 1.., required = true)]
    pub weights: Vec<PathBuf>,
    /// Dataset root: train/ recomputes the BatchNorm statistics, val/ is reported.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the averaged weights (use with `eval --weights`, `export --weights`).
    #[arg(long)]
    pub out: PathBuf,
    /// Images per BatchNorm batch (the statistics are averaged over batches).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

pub fn run(args: &AverageArgs) -> Result<(), String> {
    training::set_threads(args.threads);
    let (vs, net, rc) = checkpoint::load_net(&args.run, Some(&args.weights[0]), tch::Device::Cpu)?;
    average_into(&vs, &args.weights)?;
    println!("averaged {} snapshots", args.weights.len());

    let contract = rc.contract();
    let (train, skipped) = data::load_split(
        &args.data.join("train"),
        &rc.labels,
        &contract,
        args.threads,
    )?;
    if !skipped.is_empty() {
        eprintln!("skipped {} unreadable training files", skipped.len());
    }
    // The statistics the network was trained with came from augmented images: so do these.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(rc.train.seed);
    let augment = rc.train.augment.clone();
    let (h, w) = (train.height, train.width);
    let batch_size = args.batch_size.max(1);
    let batches = (0..train.len()).step_by(batch_size).map(|start| {
        let end = (start + batch_size).min(train.len());
        let pixels: Vec<u8> = (start..end)
            .flat_map(|i| augment.apply(train.image(i), h, w, &mut rng))
            .collect();
        training::images_tensor(&pixels, end - start, &contract)
    });
    let n = recompute_batchnorm(&vs, batches, |x| {
        let _ = net.forward_t(x, true);
    });
    println!(
        "BatchNorm statistics recomputed over {n} batches of {}",
        args.data.join("train").display()
    );

    let (val, _) = data::load_split(&args.data.join("val"), &rc.labels, &contract, args.threads)?;
    let probs = training::predict(&net, &val, &contract, tch::Device::Cpu, false);
    let m = metrics::compute(&rc.labels, &probs, &val.labels, &val.votes);
    println!(
        "averaged weights on val: accuracy {:.2}%, macro-F1 {:.4}, ECE {:.3}, NLL {:.3}",
        m.accuracy * 100.0,
        m.macro_f1,
        m.ece,
        m.nll
    );

    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    vs.save(&args.out)
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Sets every variable of `vs` to its mean over the weight files (which must all hold
/// every variable, with the same shapes).
pub fn average_into(vs: &VarStore, files: &[PathBuf]) -> Result<(), String> {
    let vars = vs.variables();
    let mut sums: HashMap<String, Tensor> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.zeros_like().to_kind(Kind::Double)))
        .collect();
    for file in files {
        let tensors: HashMap<String, Tensor> = read(file)?.into_iter().collect();
        for (name, sum) in sums.iter_mut() {
            let t = tensors
                .get(name)
                .ok_or_else(|| format!("{}: no tensor `{name}`", file.display()))?;
            if t.size() != sum.size() {
                return Err(format!(
                    "{}: `{name}` has shape {:?}, the network {:?}",
                    file.display(),
                    t.size(),
                    sum.size()
                ));
            }
            *sum += t.to_kind(Kind::Double);
        }
    }
    tch::no_grad(|| {
        for (name, v) in &vars {
            let mean = (&sums[name] / files.len() as f64).to_kind(v.kind());
            v.shallow_clone().copy_(&mean);
        }
    });
    Ok(())
}

fn read(path: &Path) -> Result<Vec<(String, Tensor)>, String> {
    Tensor::read_safetensors(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Replaces every BatchNorm layer's running mean and variance with their averages over
/// `batches`: each batch goes through `forward` (in training mode) from zeroed
/// statistics, so afterwards they hold `momentum x` that batch's own statistics.
/// Returns the number of batches.
pub fn recompute_batchnorm(
    vs: &VarStore,
    batches: impl Iterator<Item = Tensor>,
    mut forward: impl FnMut(&Tensor),
) -> usize {
    let stats: Vec<Tensor> = vs
        .variables()
        .into_iter()
        .filter(|(name, _)| name.ends_with("running_mean") || name.ends_with("running_var"))
        .map(|(_, t)| t)
        .collect();
    // The networks build their BatchNorm layers with tch's default running-average factor.
    let momentum = tch::nn::BatchNormConfig::default().momentum;
    let mut sums: Vec<Tensor> = stats
        .iter()
        .map(|t| t.zeros_like().to_kind(Kind::Double))
        .collect();
    let mut n = 0;
    tch::no_grad(|| {
        for x in batches {
            for t in &stats {
                let _ = t.shallow_clone().zero_();
            }
            forward(&x);
            for (sum, t) in sums.iter_mut().zip(&stats) {
                *sum += t.to_kind(Kind::Double) / momentum;
            }
            n += 1;
        }
        if n > 0 {
            for (sum, t) in sums.iter().zip(&stats) {
                t.shallow_clone().copy_(&(sum / n as f64).to_kind(t.kind()));
            }
        }
    });
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averaging_two_files_gives_their_mean() {
        let dir = std::env::temp_dir().join(format!("mien-average-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        for (i, vals) in [[1.0f32, -2.0], [3.0, 4.0]].iter().enumerate() {
            let vs = VarStore::new(tch::Device::Cpu);
            let _ = vs.root().var_copy("w", &Tensor::from_slice(vals));
            let path = dir.join(format!("{i}.safetensors"));
            vs.save(&path).unwrap();
            files.push(path);
        }
        let vs = VarStore::new(tch::Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[0.0f32, 0.0]));
        average_into(&vs, &files).unwrap();
        assert_eq!(Vec::<f32>::try_from(&w).unwrap(), vec![2.0, 1.0]);

        let other = VarStore::new(tch::Device::Cpu);
        let _ = other.root().var_copy("v", &Tensor::from_slice(&[0.0f32]));
        assert!(average_into(&other, &files)
            .unwrap_err()
            .contains("no tensor `v`"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn batchnorm_statistics_become_the_mean_over_batches() {
        let vs = VarStore::new(tch::Device::Cpu);
        let bn = tch::nn::batch_norm1d(vs.root() / "bn", 1, Default::default());
        // Two batches of one channel: means 1 and 3, unbiased variances 2 and 8.
        let batches = vec![
            Tensor::from_slice(&[0.0f32, 2.0]).view([2, 1]),
            Tensor::from_slice(&[1.0f32, 5.0]).view([2, 1]),
        ];
        let n = recompute_batchnorm(&vs, batches.into_iter(), |x| {
            let _ = bn.forward_t(x, true);
        });
        assert_eq!(n, 2);
        let mean = f32::try_from(&bn.running_mean).unwrap();
        let var = f32::try_from(&bn.running_var).unwrap();
        assert!((mean - 2.0).abs() < 1e-5, "mean {mean}");
        assert!((var - 5.0).abs() < 1e-5, "var {var}");
    }
}
