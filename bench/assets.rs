//! The benchmarks' native helper (`cargo run --release --example bench-assets`):
//!
//! - `models OUT_DIR [--matmul N]`: writes the files the in-browser benchmark loads,
//!   each exactly as both of mien's runtimes and onnxruntime-web get it: the classifier
//!   (`public/models/mien.onnx`, int8 weights expanded as the app does), the two BlazeFace models after
//!   [`mien::face::prepare_blazeface`], and a one-node `MatMul` model (`[N, N] x [N, N]`,
//!   the weight a constant) that measures a backend's peak; plus `models.json` with
//!   each file's input and output names and shapes and its multiply-accumulates per run,
//!   counted by tract's cost model on the decluttered graph (the same count for every
//!   runtime, so "achieved GFLOP/s" columns compare like with like).
//! - `scene [--faces N]`: prints a PNG photo to stdout: FER2013 faces (read at run time
//!   from `../shared/data/fer2013.tar.gz`, or `$FER_TARBALL`, by `tests/common`) pasted on a noisy
//!   background. Research-use data: the photo is made in memory each run and never
//!   written into the repository.
//! - `video [--faces N] OUT.y4m`: the same kind of scene at 640x480 as a one-frame Y4M
//!   file (4:2:0), for Chromium's fake camera (`--use-file-for-fake-video-capture`,
//!   which loops it): what `bench/webcam.mjs` shows the webcam view. Write it outside the
//!   repository (a temporary folder).
//!
//! Nothing here is measured; the timing is done by `bench/*.mjs`.

/// The FER2013 tarball reader and face list the tests use.
#[path = "../tests/common/mod.rs"]
mod common;

use image::{imageops::FilterType, GrayImage, Rgb, RgbImage};
use mien::face::{prepare_blazeface, Variant};
use mien::onnx::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto,
};
use mien::weights::expand_bytes;
use serde_json::json;
use std::io::{Cursor, Write};
use std::path::PathBuf;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::Cost;

const CLASSIFIER: &str = "public/models/mien.onnx";

/// After the tests' faces (`tests/fer-faces.txt`: clear, frontal, upright), one from
/// another class, so the photo shows different expressions.
const MORE_FACES: [&str; 1] = ["train/happy/"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("models") => models(&args[1..]),
        Some("scene") => scene(&args[1..]),
        Some("video") => video(&args[1..]),
        _ => Err(
            "usage: bench-assets models OUT_DIR [--matmul N] | scene [--faces N] \
                  > photo.png | video [--faces N] OUT.y4m"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("bench-assets: {e}");
        std::process::exit(1);
    }
}

fn flag(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
        None => Ok(default),
    }
}

// ---------------------------------------------------------------------------
// models

fn models(args: &[String]) -> Result<(), String> {
    let out = PathBuf::from(args.first().ok_or("models needs an output folder")?);
    let n = flag(args, "--matmul", 512)?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let read = |p: &str| {
        std::fs::read(p).map_err(|e| format!("{p}: {e} (run `npm ci` for the BlazeFace models)"))
    };

    let mut files: Vec<(&str, String, Vec<u8>)> = vec![(
        "classifier",
        "mien.onnx".into(),
        expand_bytes(read(CLASSIFIER)?)?,
    )];
    for (name, variant) in [("face-back", Variant::Back), ("face-front", Variant::Front)] {
        let prepared = prepare_blazeface(&read(&variant.npm_path())?)?;
        files.push((name, format!("{name}.onnx"), prepared));
    }
    files.push(("matmul", "matmul.onnx".into(), matmul_model(n)));

    let mut doc = serde_json::Map::new();
    for (name, file, bytes) in &files {
        std::fs::write(out.join(file), bytes).map_err(|e| format!("{file}: {e}"))?;
        let model = ModelProto::decode_bytes(bytes).map_err(|e| format!("{file}: {e}"))?;
        let graph = model.graph.as_ref().ok_or(format!("{file}: no graph"))?;
        let initializers: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let io = |values: &[ValueInfoProto]| -> Vec<serde_json::Value> {
            values
                .iter()
                .filter(|v| !initializers.contains(v.name.as_str()))
                .map(|v| json!({ "name": v.name, "shape": v.static_shape() }))
                .collect()
        };
        let macs = count_macs(bytes).map_err(|e| format!("{file}: {e}"))?;
        doc.insert(
            name.to_string(),
            json!({
                "file": file,
                "bytes": bytes.len(),
                "macs": macs,
                "inputs": io(&graph.input),
                "outputs": io(&graph.output),
            }),
        );
        eprintln!(
            "bench-assets: {file:<16} {:>9} bytes {:>8.1} MMAC",
            bytes.len(),
            macs as f64 / 1e6
        );
    }
    let path = out.join("models.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// `y = x · w` with `x` `[n, n]` an input and `w` `[n, n]` a constant: the plainest
/// dense kernel a backend has, `n³` multiply-accumulates.
fn matmul_model(n: usize) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let weights: Vec<f32> = (0..n * n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let d = n as i64;
    let graph = GraphProto {
        name: "matmul".into(),
        node: vec![NodeProto::new(
            "MatMul",
            "matmul",
            &["x", "w"],
            &["y"],
            vec![],
        )],
        initializer: vec![TensorProto::from_f32("w", &[d, d], &weights)],
        input: vec![ValueInfoProto::f32_tensor("x", &[d, d])],
        output: vec![ValueInfoProto::f32_tensor("y", &[d, d])],
        ..Default::default()
    };
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "mien bench-assets".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .to_bytes()
}

/// Multiply-accumulates of one run, summed over the nodes of tract's decluttered graph.
fn count_macs(bytes: &[u8]) -> TractResult<u64> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut Cursor::new(bytes))?
        .into_typed()?
        .into_decluttered()?;
    let mut macs = 0u64;
    for id in model.eval_order()? {
        let node = model.node(id);
        let inputs = model.node_input_facts(id)?;
        for (cost, count) in node.op.cost(&inputs)? {
            if let Cost::FMA(_) = cost {
                macs += count.to_i64()? as u64;
            }
        }
    }
    Ok(macs)
}

// ---------------------------------------------------------------------------
// scene

/// The faces of `tests/fer-faces.txt`, then [`MORE_FACES`].
fn fer_faces() -> Result<Vec<GrayImage>, String> {
    let names: Vec<&str> = common::face_list().into_iter().chain(MORE_FACES).collect();
    let files = common::fer_files(&names)?;
    files
        .iter()
        .zip(&names)
        .map(|(bytes, name)| {
            Ok(image::load_from_memory(bytes)
                .map_err(|e| format!("{name}: {e}"))?
                .to_luma8())
        })
        .collect()
}

fn scene(args: &[String]) -> Result<(), String> {
    let photo = scene_image(flag(args, "--faces", 3)?, 800, 480)?;
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(photo)
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    std::io::stdout().write_all(&png).map_err(|e| e.to_string())
}

/// `count` faces (at most the list's length), 170 px each, spread over a `w` x `h`
/// noisy background.
fn scene_image(count: usize, w: u32, h: u32) -> Result<RgbImage, String> {
    let faces = fer_faces()?;
    let count = count.clamp(1, faces.len());
    let mut random = common::Lcg(7);
    let mut photo = RgbImage::from_fn(w, h, |x, y| {
        let noise = (random.next() % 21) as i32 - 10;
        let base = [150 + (x * 40 / w) as i32, 170, 190 - (y * 40 / h) as i32];
        Rgb(base.map(|c| (c + noise).clamp(0, 255) as u8))
    });
    let side = 170u32.min(w / count as u32);
    for (i, face) in faces.iter().take(count).enumerate() {
        let big = image::imageops::resize(face, side, side, FilterType::CatmullRom);
        let cx = (w as usize * (2 * i + 1) / (2 * count)) as u32;
        let cy = h / 2 + if i % 2 == 0 { 20 } else { 0 } - 10;
        for (x, y, p) in big.enumerate_pixels() {
            let (px, py) = (cx - side / 2 + x, cy - side / 2 + y);
            if px < w && py < h {
                photo.put_pixel(px, py, Rgb([p[0]; 3]));
            }
        }
    }
    Ok(photo)
}

// ---------------------------------------------------------------------------
// video

fn video(args: &[String]) -> Result<(), String> {
    let out = args
        .iter()
        .rev()
        .find(|a| a.ends_with(".y4m"))
        .ok_or("video needs an output file ending in .y4m")?;
    let frame = scene_image(flag(args, "--faces", 3)?, 640, 480)?;
    std::fs::write(out, y4m(&frame)).map_err(|e| format!("{out}: {e}"))
}

/// One frame of YUV4MPEG2, 4:2:0 (BT.601, full range, as JPEG): the luma plane, then
/// each chroma plane averaged over 2x2 blocks.
fn y4m(rgb: &RgbImage) -> Vec<u8> {
    let (w, h) = rgb.dimensions();
    let yuv = |p: &Rgb<u8>| {
        let [r, g, b] = p.0.map(f32::from);
        [
            0.299 * r + 0.587 * g + 0.114 * b,
            128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b,
            128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b,
        ]
    };
    let byte = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    let mut out = format!("YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\nFRAME\n").into_bytes();
    out.extend(rgb.pixels().map(|p| byte(yuv(p)[0])));
    for plane in [1, 2] {
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let mut sum = 0.0;
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    sum += yuv(rgb.get_pixel((x + dx).min(w - 1), (y + dy).min(h - 1)))[plane];
                }
                out.push(byte(sum / 4.0));
            }
        }
    }
    out
}
