//! Pictures that are nothing but a face (SFEW's aligned film crops, FER2013's 48x48
//! faces given as photos): does the app's path find the face, and does its second
//! look (a margin around the picture) invent faces in faceless pictures?
//!
//! `tight_crops_are_found` (run by `cargo test`) checks a few FER2013 faces and a few
//! faceless textures. The ignored `measure_tight_crops` measures the ways of looking
//! again on whole folders (the numbers in `src/analysis.rs` and the benchmarks):
//!
//! ```sh
//! MIEN_PROBE_DIRS=data/sfew/val:data/val MIEN_FACELESS=some/folder \
//!   cargo test --release --test tight_crops -- --ignored --nocapture
//! ```

mod common;

use common::{pictures, read_all, walk_fer, Lcg};
use image::{DynamicImage, Rgb, RgbImage};
use mien::analysis::{picture_from_bytes, with_margin, CpuModels, Found, Options};
use mien::cpu::CpuModel;
use mien::decode::DecodeLimits;
use mien::face::{prepare_blazeface, FaceDetector, Variant};
use std::ops::ControlFlow;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn models() -> CpuModels {
    let classifier =
        std::fs::read(format!("{ROOT}/public/models/mien.onnx")).expect("the shipped model");
    let read = |v: Variant| {
        std::fs::read(format!("{ROOT}/{}", v.npm_path())).expect("BlazeFace: run `npm ci`")
    };
    let (back, front) = (read(Variant::Back), read(Variant::Front));
    CpuModels::load(
        &classifier,
        &[(Variant::Back, &back), (Variant::Front, &front)],
    )
    .expect("load the models")
}

/// Faceless pictures: smooth gradients, noise and discs of random colours, at sizes
/// from FER2013's to a photo's.
fn textures(n: u64) -> Vec<DynamicImage> {
    (0..n)
        .map(|seed| {
            let mut rng = Lcg(seed + 100);
            let sizes = [(48, 48), (143, 181), (320, 240), (640, 480)];
            let (w, h) = sizes[seed as usize % sizes.len()];
            let (a, b) = (
                [rng.next() as u8, rng.next() as u8, rng.next() as u8],
                [rng.next() as u8, rng.next() as u8, rng.next() as u8],
            );
            let noise = rng.next() % 60;
            let mut img = RgbImage::from_fn(w, h, |x, y| {
                let t = (x + y) as f32 / (w + h) as f32;
                Rgb([0, 1, 2].map(|c| {
                    let v = a[c] as f32 * (1.0 - t) + b[c] as f32 * t;
                    let jitter = if noise > 0 {
                        (rng.next() % (2 * noise + 1)) as f32 - noise as f32
                    } else {
                        0.0
                    };
                    (v + jitter).clamp(0.0, 255.0) as u8
                }))
            });
            for _ in 0..(rng.next() % 5) {
                let (cx, cy, r) = (
                    rng.next() % w,
                    rng.next() % h,
                    3 + rng.next() % (w / 3).max(4),
                );
                let colour = Rgb([rng.next() as u8, rng.next() as u8, rng.next() as u8]);
                for (x, y, p) in img.enumerate_pixels_mut() {
                    if (x as f32 - cx as f32).hypot(y as f32 - cy as f32) < r as f32 {
                        *p = colour;
                    }
                }
            }
            DynamicImage::ImageRgb8(img)
        })
        .collect()
}

/// FER2013 `val/` faces, as the files are (48x48 gray JPEGs), the first `n` of the archive.
fn fer_val(n: usize) -> Vec<DynamicImage> {
    let mut out = Vec::new();
    walk_fer(|path, file| {
        if path.starts_with("val/") && path.ends_with(".jpg") {
            out.push(
                picture_from_bytes(&read_all(file), &DecodeLimits::default())
                    .expect("decode a face"),
            );
        }
        if out.len() == n {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    out
}

#[test]
fn tight_crops_are_found_and_textures_stay_faceless() {
    let models = models();
    let faces = fer_val(12);
    let found = faces
        .iter()
        .filter(|f| {
            !models
                .read_faces(f, Options::photo())
                .unwrap()
                .faces
                .is_empty()
        })
        .count();
    assert!(
        found >= 10,
        "only {found} of {} FER2013 faces given as photos were found",
        faces.len()
    );
    for (i, texture) in textures(12).iter().enumerate() {
        let read = models.read_faces(texture, Options::photo()).unwrap();
        assert!(
            read.faces.is_empty(),
            "texture {i} ({}x{}): a face was invented",
            texture.width(),
            texture.height()
        );
        assert_eq!(read.found, Found::None);
    }
}

// ---------------------------------------------------------------------------
// The measurement

fn detector(variant: Variant) -> (FaceDetector, CpuModel) {
    let bytes =
        std::fs::read(format!("{ROOT}/{}", variant.npm_path())).expect("BlazeFace: run `npm ci`");
    (
        FaceDetector::new(variant),
        CpuModel::load(&prepare_blazeface(&bytes).unwrap()).unwrap(),
    )
}

/// The best candidate's score (0 without any above 0.3).
fn best_score(det: &(FaceDetector, CpuModel), picture: &DynamicImage) -> f32 {
    let mut detector = det.0.clone();
    detector.min_score = 0.3;
    let (input, letterbox) = detector.input(picture);
    let candidates = detector
        .candidates(&det.1.run(&[input]).unwrap(), &letterbox)
        .unwrap();
    candidates.iter().map(|c| c.score).fold(0.0, f32::max)
}

#[test]
#[ignore = "a measurement over whole folders: see the module's documentation"]
fn measure_tight_crops() {
    let (back, front) = (detector(Variant::Back), detector(Variant::Front));
    let margins = [0.25f32, 0.5, 1.0];
    let thresholds = [0.5f32, 0.6, 0.7, 0.8, 0.9];
    let mut sets: Vec<(String, Vec<DynamicImage>)> = Vec::new();
    let dirs = std::env::var("MIEN_PROBE_DIRS").unwrap_or_else(|_| format!("{ROOT}/data/sfew/val"));
    for dir in dirs.split(':').filter(|d| !d.is_empty()) {
        let paths = pictures(Path::new(dir));
        let pics = paths
            .iter()
            .filter_map(|p| {
                picture_from_bytes(&std::fs::read(p).unwrap(), &DecodeLimits::default()).ok()
            })
            .collect();
        sets.push((dir.to_string(), pics));
    }
    sets.push(("FER2013 val (first 600)".into(), fer_val(600)));
    sets.push(("textures".into(), textures(200)));
    for (name, pics) in &sets {
        let missed: Vec<&DynamicImage> =
            pics.iter().filter(|p| best_score(&back, p) < 0.5).collect();
        eprintln!(
            "{name}: {} pictures, {} without a face; found again at score >= {thresholds:?}:",
            pics.len(),
            missed.len()
        );
        for &m in &margins {
            for (det_name, det) in [("back", &back), ("front", &front)] {
                let scores: Vec<f32> = missed
                    .iter()
                    .map(|p| {
                        best_score(det, &with_margin(p, m, 2 * det.0.variant().input_size()).0)
                    })
                    .collect();
                let found: Vec<usize> = thresholds
                    .iter()
                    .map(|&t| scores.iter().filter(|&&s| s >= t).count())
                    .collect();
                eprintln!("  {det_name} with margin {m}: {found:?}");
            }
        }
    }
}
