//! `bench`: training and inference images/second of architectures on this machine,
//! next to what the machine can do at best: the theoretical FP32 peak of its cores
//! (from /proc/cpuinfo: cores x clock x SIMD lanes x 2 for FMA x FMA units) and a
//! measured large-matmul peak through the same libtorch, same threads.
//! `make bench-train` runs it and compares with PyTorch (bench/train_torch.py).

use super::model::{cost, Arch, FerShape, ModelSpec, Net, Precision};
use super::precision;
use super::training;
use crate::contract::{self, ModelContract};
use serde_json::json;
use std::time::Instant;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// Architectures to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fer,resnet18,resnet50"
    )]
    pub archs: Vec<Arch>,
    #[command(flatten)]
    pub shape: FerShape,
    #[arg(long, default_value_t = 48)]
    pub size: u32,
    #[arg(long, default_value_t = 1)]
    pub channels: u32,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Training arithmetic to measure, each on its own row (eval is always float32).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "f32,bf16")]
    pub precisions: Vec<Precision>,
    /// Timed training steps (after 2 warm-up steps).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Write the table as JSON here too.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Side of the square matmul that measures the machine's peak (0: skip).
    #[arg(long, default_value_t = 1024)]
    pub matmul_size: i64,
    /// FMA units per core for the theoretical peak (not in /proc/cpuinfo: 2 on
    /// Intel Xeon (Skylake-SP and later) and most AVX2 cores, 1 on some).
    #[arg(long, default_value_t = 2)]
    pub fma_units: u32,
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    training::set_threads(args.threads);
    tch::manual_seed(0);
    let device = training::device(&args.device)?;
    let mut rows = Vec::new();
    let load = load_average();
    let cpu = cpu_peak(args.threads, args.fma_units);
    let peak = if args.matmul_size > 0 {
        matmul_peak(args.matmul_size, device)
    } else {
        f64::NAN
    };
    println!(
        "device {device:?}, {} threads, batch {}, input {}x{}x{}; load average {load}",
        args.threads, args.batch_size, args.channels, args.size, args.size
    );
    println!("{}", cpu.describe());
    println!("measured peak: {peak:.1} GFLOP/s (best of 5 f32 matmuls {n}x{n}x{n}, libtorch, {} threads)", args.threads, n = args.matmul_size);
    println!(
        "{:<44} {:>8} {:>9} {:>11} {:>11} {:>11} {:>11} {:>12} {:>9}",
        "architecture, training precision",
        "params",
        "MMAC/face",
        "train img/s",
        "eval img/s",
        "b1 ms/face",
        "onnx ms",
        "train GFLOP/s",
        "% matmul"
    );
    for &arch in &args.archs {
        let spec = match arch {
            Arch::Fer => ModelSpec::fer_default(args.channels, args.size, contract::NUM_CLASSES),
            a => ModelSpec::torchvision(a, args.channels, args.size, contract::NUM_CLASSES, true),
        }
        .with_fer_shape(&args.shape);
        for &precision in &args.precisions {
            let mut row = measure(&spec, precision, args, device)?;
            // Training: forward + backward (about twice the forward) = 3 x 2 FLOP per MAC.
            let macs = row["macs"].as_f64().unwrap_or(0.0);
            let train_gflops =
                row["train_images_per_second"].as_f64().unwrap_or(0.0) * 6.0 * macs / 1e9;
            let eval_gflops =
                row["eval_images_per_second"].as_f64().unwrap_or(0.0) * 2.0 * macs / 1e9;
            row["train_gflops"] = json!(train_gflops);
            row["eval_gflops"] = json!(eval_gflops);
            row["train_fraction_of_matmul_peak"] = json!(train_gflops / peak);
            row["eval_fraction_of_matmul_peak"] = json!(eval_gflops / peak);
            row["train_fraction_of_theoretical_peak"] =
                json!(train_gflops / cpu.theoretical_gflops_threads);
            println!(
                "{:<44} {:>7.2}M {:>9.0} {:>11.1} {:>11.1} {:>11.2} {:>11.2} {:>12.1} {:>8.1}%",
                format!("{}, {precision:?}", spec.describe()).to_lowercase(),
                row["params"].as_f64().unwrap_or(0.0) / 1e6,
                row["macs"].as_f64().unwrap_or(0.0) / 1e6,
                row["train_images_per_second"].as_f64().unwrap_or(0.0),
                row["eval_images_per_second"].as_f64().unwrap_or(0.0),
                row["batch1_ms_per_face"].as_f64().unwrap_or(0.0),
                row["onnx_tract_ms_per_face"].as_f64().unwrap_or(0.0),
                train_gflops,
                100.0 * train_gflops / peak,
            );
            rows.push(row);
        }
    }
    if let Some(path) = &args.json {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let doc = json!({
            "device": format!("{device:?}"),
            "threads": args.threads,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "load_average": load,
            "cpu": cpu,
            "matmul_size": args.matmul_size,
            "matmul_peak_gflops": peak,
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn measure(
    spec: &ModelSpec,
    precision: Precision,
    args: &BenchArgs,
    device: tch::Device,
) -> Result<serde_json::Value, String> {
    let (params, macs) = cost(spec);
    let train_ips =
        precision::train_images_per_second(spec, precision, args.batch_size, args.steps, device);
    let vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), spec);
    let (b, c, s) = (
        args.batch_size as i64,
        spec.channels as i64,
        spec.size as i64,
    );
    let images = Tensor::randn([b, c, s, s], (Kind::Float, device));

    let (eval_ips, b1_ms) = tch::no_grad(|| {
        let _ = net.forward_t(&images, false).double_value(&[0, 0]);
        let t = Instant::now();
        let reps = args.steps.max(3);
        for _ in 0..reps {
            let _ = net.forward_t(&images, false).double_value(&[0, 0]);
        }
        let eval_ips = (reps as i64 * b) as f64 / t.elapsed().as_secs_f64();
        let one = images.narrow(0, 0, 1);
        let _ = net.forward_t(&one, false).double_value(&[0, 0]);
        let t = Instant::now();
        let n1 = 20;
        for _ in 0..n1 {
            let _ = net.forward_t(&one, false).double_value(&[0, 0]);
        }
        (eval_ips, t.elapsed().as_secs_f64() * 1000.0 / n1 as f64)
    });

    // The exported file, run by tract (the app's CPU path, natively).
    let contract = ModelContract::new(spec.channels, spec.size, spec.size);
    let onnx = super::export::to_onnx(&net, &contract).to_bytes();
    let model = crate::cpu::CpuModel::load(&onnx)?;
    let input = crate::cpu::TensorF32 {
        shape: contract.input_shape().to_vec(),
        data: contract::self_test_input(&contract),
    };
    model.run(std::slice::from_ref(&input))?;
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        model.run(std::slice::from_ref(&input))?;
    }
    let onnx_ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    Ok(json!({
        "architecture": spec.describe(),
        "precision": precision,
        "spec": spec,
        "params": params,
        "macs": macs,
        "onnx_bytes": onnx.len(),
        "train_images_per_second": train_ips,
        "eval_images_per_second": eval_ips,
        "batch1_ms_per_face": b1_ms,
        "onnx_tract_ms_per_face": onnx_ms,
    }))
}

/// `/proc/loadavg`'s three load averages, as text ("3.45 3.81 3.96").
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The CPU's theoretical FP32 peak, from /proc/cpuinfo.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CpuPeak {
    pub model: String,
    /// Physical cores (hyper-threads share their core's FMA units).
    pub cores: usize,
    pub logical_cpus: usize,
    /// Threads the benchmark uses, capped at the physical cores.
    pub threads_used: usize,
    /// The clock /proc/cpuinfo reports (no turbo or AVX-512 licence clocks known).
    pub mhz: f64,
    pub simd: String,
    pub f32_lanes: u32,
    pub fma: bool,
    pub fma_units: u32,
    pub theoretical_gflops_all_cores: f64,
    pub theoretical_gflops_threads: f64,
}

impl CpuPeak {
    pub fn describe(&self) -> String {
        format!(
            "CPU: {} ({} cores, {} logical), {:.0} MHz, {} ({} f32 lanes){}; theoretical FP32 peak = cores x GHz x lanes x {} x {} FMA unit(s) = {:.1} GFLOP/s on {} core(s) ({:.1} on all {})",
            self.model,
            self.cores,
            self.logical_cpus,
            self.mhz,
            self.simd,
            self.f32_lanes,
            if self.fma { ", FMA" } else { "" },
            if self.fma { 2 } else { 1 },
            self.fma_units,
            self.theoretical_gflops_threads,
            self.threads_used,
            self.theoretical_gflops_all_cores,
            self.cores,
        )
    }
}

pub fn cpu_peak(threads: usize, fma_units: u32) -> CpuPeak {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |line: &str, key: &str| -> Option<String> {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    };
    let first = |key: &str| info.lines().find_map(|l| field(l, key));
    let logical = info
        .lines()
        .filter(|l| field(l, "processor").is_some())
        .count()
        .max(1);
    let mut cores = std::collections::BTreeSet::new();
    let mut physical = String::new();
    for line in info.lines() {
        if let Some(p) = field(line, "physical id") {
            physical = p;
        }
        if let Some(c) = field(line, "core id") {
            cores.insert((physical.clone(), c));
        }
    }
    let cores = if cores.is_empty() {
        logical
    } else {
        cores.len()
    };
    let flags: std::collections::HashSet<String> = first("flags")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let (simd, lanes) = if flags.contains("avx512f") {
        ("AVX-512", 16)
    } else if flags.contains("avx") {
        ("AVX/AVX2", 8)
    } else if flags.contains("sse") {
        ("SSE", 4)
    } else {
        ("scalar", 1)
    };
    let fma = flags.contains("fma");
    let mhz = first("cpu MHz")
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let per_core = mhz / 1e3 * lanes as f64 * if fma { 2.0 } else { 1.0 } * fma_units as f64;
    let threads_used = threads.clamp(1, cores);
    CpuPeak {
        model: first("model name").unwrap_or_else(|| "unknown".into()),
        cores,
        logical_cpus: logical,
        threads_used,
        mhz,
        simd: simd.into(),
        f32_lanes: lanes,
        fma,
        fma_units,
        theoretical_gflops_all_cores: per_core * cores as f64,
        theoretical_gflops_threads: per_core * threads_used as f64,
    }
}

/// The best of 5 timed `n x n` f32 matmuls (after one warm-up), in GFLOP/s.
pub fn matmul_peak(n: i64, device: tch::Device) -> f64 {
    let a = Tensor::randn([n, n], (Kind::Float, device));
    let b = Tensor::randn([n, n], (Kind::Float, device));
    let _ = a.matmul(&b).double_value(&[0, 0]);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let _ = a.matmul(&b).double_value(&[0, 0]);
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}
