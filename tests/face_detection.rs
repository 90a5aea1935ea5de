//! Face detection with the real BlazeFace models (prepared by `mien::face`, run by
//! tract) on scenes composed here from FER2013 faces: known faces at known places.
//!
//! Needs `npm ci` (the models) and `../shared/data/fer2013.tar.gz` (the faces, read
//! at run time; nothing derived from them is written anywhere).

mod common;

use common::{face_list, fer_files, pictures, read_all, walk_fer, Lcg};
use image::{imageops::FilterType, DynamicImage, GrayImage, Rgb, RgbImage};
use mien::cpu::CpuModel;
use mien::face::{
    compact_blazeface, crop_face, merge, prepare_blazeface, Face, FaceDetector, Landmark, Point,
    Variant,
};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

// ---------------------------------------------------------------------------
// Models and data

fn model(variant: Variant) -> CpuModel {
    let path = format!("{}/{}", env!("CARGO_MANIFEST_DIR"), variant.npm_path());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the BlazeFace model {path} ({e}): run `npm ci` in the repository root to install it")
    });
    let prepared = prepare_blazeface(&bytes).expect("prepare the BlazeFace model");
    CpuModel::load(&prepared).expect("tract loads the prepared model")
}

/// The file the app serves (int8 weights) is smaller than the npm file, prepares to
/// exactly the graph the native tools load from the npm file, and runs as is (its own
/// DequantizeLinear nodes, as onnxruntime would) to the same outputs in tract.
#[test]
fn the_served_file_is_smaller_and_computes_what_the_npm_file_prepares_to() {
    for variant in Variant::ALL {
        let npm = std::fs::read(format!(
            "{}/{}",
            env!("CARGO_MANIFEST_DIR"),
            variant.npm_path()
        ))
        .expect("BlazeFace: run `npm ci`");
        let served = compact_blazeface(&npm).unwrap();
        let (served_gz, npm_gz) = (gzip_len(&served), gzip_len(&npm));
        assert!(
            served_gz * 20 < npm_gz * 11,
            "{variant:?}: {served_gz} bytes gzip, the npm file {npm_gz}"
        );
        assert_eq!(compact_blazeface(&served).unwrap(), served, "{variant:?}");
        let prepared = prepare_blazeface(&npm).unwrap();
        assert_eq!(prepare_blazeface(&served).unwrap(), prepared, "{variant:?}");

        let side = variant.input_size() as usize;
        let input = mien::cpu::TensorF32 {
            shape: vec![1, side, side, 3],
            data: (0..side * side * 3)
                .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
                .collect(),
        };
        let expanded = CpuModel::load(&prepared)
            .unwrap()
            .run(std::slice::from_ref(&input))
            .unwrap();
        let as_is = CpuModel::load(&served)
            .unwrap()
            .run(std::slice::from_ref(&input))
            .unwrap();
        assert_eq!(as_is, expanded, "{variant:?}");
    }
}

/// Bytes after gzip at level 6 (as web servers send them).
fn gzip_len(bytes: &[u8]) -> usize {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap().len()
}

/// The FER2013 faces the scenes use (`tests/fer-faces.txt`: clear, frontal, upright
/// faces from the start of the archive), decoded.
fn fer_faces() -> Vec<GrayImage> {
    let files = fer_files(&face_list()).unwrap_or_else(|e| panic!("{e}"));
    files
        .iter()
        .map(|bytes| {
            image::load_from_memory(bytes)
                .expect("decode a face")
                .to_luma8()
        })
        .collect()
}

/// The first `n` images of each named FER2013 training class (for the measurements).
fn fer_sample(classes: &[&str], n: usize) -> Vec<GrayImage> {
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    walk_fer(|path, file| {
        let Some(class) = path
            .strip_prefix("train/")
            .and_then(|p| p.split('/').next())
        else {
            return ControlFlow::Continue(());
        };
        if !path.ends_with(".jpg")
            || !classes.contains(&class)
            || taken.get(class).copied().unwrap_or(0) == n
        {
            return ControlFlow::Continue(());
        }
        out.push(
            image::load_from_memory(&read_all(file))
                .expect("decode a face")
                .to_luma8(),
        );
        *taken.entry(class.to_string()).or_default() += 1;
        if out.len() == n * classes.len() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    out
}

// ---------------------------------------------------------------------------
// Scenes

/// A plain background of one colour, plus uniform noise of +-`noise` per channel.
fn background(width: u32, height: u32, colour: [u8; 3], noise: u8, seed: u64) -> RgbImage {
    let mut rng = Lcg(seed);
    RgbImage::from_fn(width, height, |_, _| {
        Rgb(colour.map(|c| {
            let n = if noise == 0 {
                0
            } else {
                (rng.next() % (2 * noise as u32 + 1)) as i32 - noise as i32
            };
            (c as i32 + n).clamp(0, 255) as u8
        }))
    })
}

/// A face placed in a scene: its centre and side in scene pixels.
#[derive(Clone, Copy, Debug)]
struct Placed {
    centre: Point,
    side: f32,
}

/// Pastes `face` scaled to `side` px, centred at `centre`, turned by `degrees`
/// (clockwise on screen).
fn paste(scene: &mut RgbImage, face: &GrayImage, centre: Point, side: u32, degrees: f32) -> Placed {
    let big = image::imageops::resize(face, side, side, FilterType::CatmullRom);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let half = side as f32 / 2.0;
    let reach = (half * (sin.abs() + cos.abs())).ceil() as i64 + 1;
    for y in (centre.y as i64 - reach)..(centre.y as i64 + reach) {
        for x in (centre.x as i64 - reach)..(centre.x as i64 + reach) {
            if x < 0 || y < 0 || x >= scene.width() as i64 || y >= scene.height() as i64 {
                continue;
            }
            // Scene pixel back into the face image (inverse rotation), nearest sample.
            let (dx, dy) = (x as f32 + 0.5 - centre.x, y as f32 + 0.5 - centre.y);
            let (u, v) = (dx * cos + dy * sin + half, -dx * sin + dy * cos + half);
            if u >= 0.0 && v >= 0.0 && u < side as f32 && v < side as f32 {
                let g = big.get_pixel(u as u32, v as u32)[0];
                scene.put_pixel(x as u32, y as u32, Rgb([g, g, g]));
            }
        }
    }
    Placed {
        centre,
        side: side as f32,
    }
}

// ---------------------------------------------------------------------------
// Detection

struct Detectors {
    front: (FaceDetector, CpuModel),
    back: (FaceDetector, CpuModel),
}

impl Detectors {
    fn load() -> Self {
        Detectors {
            front: (FaceDetector::new(Variant::Front), model(Variant::Front)),
            back: (FaceDetector::new(Variant::Back), model(Variant::Back)),
        }
    }

    fn get(&self, variant: Variant) -> &(FaceDetector, CpuModel) {
        match variant {
            Variant::Front => &self.front,
            Variant::Back => &self.back,
        }
    }

    /// One model's candidates (before merging) on a photo.
    fn candidates(&self, variant: Variant, photo: &DynamicImage) -> Vec<Face> {
        let (detector, model) = self.get(variant);
        let (input, letterbox) = detector.input(photo);
        let outputs = model.run(&[input]).expect("run BlazeFace");
        detector
            .candidates(&outputs, &letterbox)
            .expect("decode BlazeFace")
    }

    fn detect(&self, variant: Variant, photo: &DynamicImage) -> Vec<Face> {
        merge(self.candidates(variant, photo))
    }

    /// Both models' candidates, merged.
    fn detect_both(&self, photo: &DynamicImage) -> Vec<Face> {
        let mut all = self.candidates(Variant::Front, photo);
        all.extend(self.candidates(Variant::Back, photo));
        merge(all)
    }
}

/// The detection matching a placed face: centre within a quarter of its side.
fn matching<'a>(faces: &'a [Face], placed: &Placed) -> Option<&'a Face> {
    faces.iter().find(|f| {
        let c = f.rect.centre();
        (c.x - placed.centre.x).hypot(c.y - placed.centre.y) < placed.side * 0.25
    })
}

fn assert_found(faces: &[Face], placed: &[Placed], what: &str) {
    assert_eq!(
        faces.len(),
        placed.len(),
        "{what}: expected {} faces, found {faces:#?}",
        placed.len()
    );
    for p in placed {
        let f = matching(faces, p)
            .unwrap_or_else(|| panic!("{what}: no face near {p:?} among {faces:#?}"));
        // BlazeFace's box is smaller than the whole FER2013 image (which shows hair and
        // background) but of the same order.
        let side = f.rect.width.max(f.rect.height);
        assert!(
            side > 0.4 * p.side && side < 1.2 * p.side,
            "{what}: box {:?} for a {} px face",
            f.rect,
            p.side
        );
    }
}

// ---------------------------------------------------------------------------
// Tests

/// Scenes for one model: two faces (one turned) on a noisy background, one face on a
/// plain one, and two faceless pictures. Faces are sized for the model: `Front`
/// needs faces about a third of the picture wide (see [`Variant`]'s measurements).
struct Scenes {
    two: DynamicImage,
    two_at: [Placed; 2],
    one: DynamicImage,
    one_at: Placed,
}

fn scenes(faces: &[GrayImage], variant: Variant) -> Scenes {
    let (two_size, one_size) = match variant {
        Variant::Back => ((640, 420), (400, 300)),
        Variant::Front => ((440, 300), (300, 240)),
    };
    let mut scene = background(two_size.0, two_size.1, [90, 120, 150], 25, 1);
    let (w, h) = (two_size.0 as f32, two_size.1 as f32);
    let a = paste(
        &mut scene,
        &faces[0],
        Point {
            x: w * 0.27,
            y: h * 0.45,
        },
        170,
        0.0,
    );
    let b = paste(
        &mut scene,
        &faces[1],
        Point {
            x: w * 0.73,
            y: h * 0.55,
        },
        150,
        12.0,
    );
    let two = DynamicImage::ImageRgb8(scene);
    let mut scene = background(one_size.0, one_size.1, [200, 200, 200], 0, 2);
    let c = paste(
        &mut scene,
        &faces[2],
        Point {
            x: one_size.0 as f32 * 0.55,
            y: one_size.1 as f32 * 0.48,
        },
        170,
        0.0,
    );
    Scenes {
        two,
        two_at: [a, b],
        one: DynamicImage::ImageRgb8(scene),
        one_at: c,
    }
}

#[test]
fn two_faces_one_face_and_none() {
    let det = Detectors::load();
    let faces = fer_faces();
    let blank = DynamicImage::ImageRgb8(background(500, 375, [128, 128, 128], 0, 3));
    let noise = DynamicImage::ImageRgb8(background(500, 375, [128, 128, 128], 100, 4));
    for variant in Variant::ALL {
        let s = scenes(&faces, variant);
        let what = |scene: &str| format!("{variant:?} model, {scene}");
        assert_found(&det.detect(variant, &s.two), &s.two_at, &what("two faces"));
        assert_found(&det.detect(variant, &s.one), &[s.one_at], &what("one face"));
        assert_found(&det.detect(variant, &blank), &[], &what("blank"));
        assert_found(&det.detect(variant, &noise), &[], &what("noise"));
    }
    // Both models' candidates merged still give one face per face.
    let s = scenes(&faces, Variant::Front);
    assert_found(
        &det.detect_both(&s.two),
        &s.two_at,
        "both models, two faces",
    );
    assert_found(&det.detect_both(&noise), &[], "both models, noise");
}

#[test]
fn a_turned_face_is_cropped_upright() {
    let det = Detectors::load();
    let face = &fer_faces()[2];
    let mut upright = background(400, 400, [60, 60, 60], 10, 5);
    let p = paste(&mut upright, face, Point { x: 200.0, y: 200.0 }, 180, 0.0);
    let mut turned = background(400, 400, [60, 60, 60], 10, 5);
    paste(&mut turned, face, p.centre, 180, 20.0);

    let level = &det.detect(Variant::Back, &DynamicImage::ImageRgb8(upright.clone()))[0];
    let tilted = &det.detect(Variant::Back, &DynamicImage::ImageRgb8(turned.clone()))[0];
    // On an upright face the right eye is further left in the image.
    assert!(level.landmark(Landmark::RightEye).x < level.landmark(Landmark::LeftEye).x);
    assert!(
        level.roll.abs() < 5f32.to_radians(),
        "upright roll {}",
        level.roll.to_degrees()
    );
    let turned_by = (tilted.roll - level.roll).to_degrees();
    assert!(
        (turned_by - 20.0).abs() < 6.0,
        "20 degree turn measured as {turned_by}"
    );

    // The upright crop of the turned face looks like the crop of the upright face, far
    // more than the same box cut without undoing the turn does.
    let a = crop_face(&DynamicImage::ImageRgb8(upright), level).to_luma8();
    let turned = DynamicImage::ImageRgb8(turned);
    let differs_by = |face: &Face| {
        let b = crop_face(&turned, face).to_luma8();
        let b = image::imageops::resize(&b, a.width(), a.height(), FilterType::Triangle);
        a.pixels()
            .zip(b.pixels())
            .map(|(p, q)| (p[0] as f32 - q[0] as f32).abs())
            .sum::<f32>()
            / a.len() as f32
    };
    let (uprighted, left_turned) = (
        differs_by(tilted),
        differs_by(&Face {
            roll: level.roll,
            ..tilted.clone()
        }),
    );
    assert!(
        uprighted < 0.75 * left_turned,
        "mean pixel difference {uprighted} uprighted, {left_turned} left turned"
    );
}

/// Time per detection, in steps, printed: the model on tract, and the work of
/// `mien::face` around it on a 12-megapixel photo. A measurement, not a check, so
/// ignored; run with `cargo test --release --test face_detection time_per_detection
/// -- --ignored --nocapture`.
#[test]
#[ignore]
fn time_per_detection() {
    let det = Detectors::load();
    let photo = DynamicImage::ImageRgb8(background(4032, 3024, [120, 110, 100], 30, 6));
    for variant in Variant::ALL {
        let (detector, model) = det.get(variant);
        let runs = 5;
        let (mut input_ms, mut run_ms, mut decode_ms) = (0.0, 0.0, 0.0);
        for i in 0..=runs {
            let t0 = Instant::now();
            let (input, letterbox) = detector.input(&photo);
            let t1 = Instant::now();
            let outputs = model.run(&[input]).expect("run BlazeFace");
            let t2 = Instant::now();
            detector.decode(&outputs, &letterbox).expect("decode");
            let t3 = Instant::now();
            if i > 0 {
                // The first run warms up.
                input_ms += (t1 - t0).as_secs_f64() * 1000.0 / runs as f64;
                run_ms += (t2 - t1).as_secs_f64() * 1000.0 / runs as f64;
                decode_ms += (t3 - t2).as_secs_f64() * 1000.0 / runs as f64;
            }
        }
        eprintln!(
            "{variant:?}: model {run_ms:.1} ms; input from a 4032x3024 photo {input_ms:.1} ms; decode {decode_ms:.2} ms"
        );
    }
    // The classifier's input for one face, by the face's size in the (working-size) photo.
    let photo = DynamicImage::ImageRgb8(background(2048, 1536, [120, 110, 100], 30, 6));
    for side in [60.0, 200.0, 600.0, 1400.0] {
        let face = Face::new(
            mien::face::Rect {
                x: 300.0,
                y: 100.0,
                width: side,
                height: side,
            },
            0.9,
            [Point::default(); 6],
        );
        let runs = 10;
        let t0 = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(mien::face::face_levels(&photo, &face, 48, 48));
        }
        let t1 = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(crop_face(&photo, &face));
        }
        let t2 = Instant::now();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / runs as f64;
        eprintln!(
            "a {side} px face: classifier input {:.2} ms (face_levels); its picture {:.2} ms (crop_face)",
            ms(t1 - t0),
            ms(t2 - t1)
        );
    }
}

/// The measurements behind `mien::face`'s choices (which model, thresholds, crop
/// framing). Ignored (about a minute); run with
/// `cargo test --test face_detection -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_detection_by_face_size() {
    let mut det = Detectors::load();
    det.front.0.min_score = 0.3;
    det.back.0.min_score = 0.3;
    let faces = fer_sample(&["angry", "happy", "neutral"], 20);
    let thresholds = [0.5f32, 0.55, 0.6, 0.65, 0.75];
    let fractions = [0.05f32, 0.08, 0.12, 0.2, 0.3, 0.45, 0.65, 0.9];
    let models = ["front", "back", "both"];
    /// Per face size: faces found alone, faces missed, extra detections.
    type Counts = Vec<(u32, u32, u32)>;
    // (model, threshold) -> counts.
    let mut table: HashMap<(usize, usize), Counts> = HashMap::new();
    let (mut ratios, mut shifts, mut eyes_ok, mut rolls) = (Vec::new(), Vec::new(), 0, Vec::new());
    for (fi, &fraction) in fractions.iter().enumerate() {
        for (k, face) in faces.iter().enumerate() {
            let mut scene =
                background(640, 480, [100 + (k as u8 % 5) * 20, 120, 140], 20, k as u64);
            let side = (480.0 * fraction) as u32;
            let jitter = (k as f32 * 37.0) % 60.0 - 30.0;
            let centre = Point {
                x: 320.0 + jitter * (1.0 - fraction),
                y: 240.0 - jitter * 0.5 * (1.0 - fraction),
            };
            let placed = paste(&mut scene, face, centre, side, 0.0);
            let photo = DynamicImage::ImageRgb8(scene);
            let front = det.candidates(Variant::Front, &photo);
            let back = det.candidates(Variant::Back, &photo);
            for (m, cands) in [front.clone(), back.clone(), [front, back].concat()]
                .into_iter()
                .enumerate()
            {
                for (t, &threshold) in thresholds.iter().enumerate() {
                    let found = merge(cands.iter().filter(|c| c.score >= threshold).cloned());
                    let row = table
                        .entry((m, t))
                        .or_insert_with(|| vec![(0, 0, 0); fractions.len()]);
                    let hit = matching(&found, &placed).is_some();
                    row[fi].0 += (hit && found.len() == 1) as u32;
                    row[fi].1 += !hit as u32;
                    row[fi].2 += found.len().saturating_sub(hit as usize) as u32;
                    if m == 2 && t == 3 && hit && (0.2..=0.45).contains(&fraction) {
                        let f = matching(&found, &placed).unwrap();
                        let box_side = f.rect.width.max(f.rect.height);
                        ratios.push(placed.side / box_side);
                        shifts.push((placed.centre.y - f.rect.centre().y) / f.rect.height);
                        eyes_ok += (f.landmark(Landmark::RightEye).x
                            < f.landmark(Landmark::LeftEye).x)
                            as u32;
                        rolls.push(f.roll.to_degrees());
                    }
                }
            }
        }
    }
    eprintln!(
        "{} FER2013 faces per size; face side as a fraction of a 640x480 photo's height: {fractions:?}",
        faces.len()
    );
    for (m, name) in models.iter().enumerate() {
        for (t, threshold) in thresholds.iter().enumerate() {
            let row = &table[&(m, t)];
            let cells: Vec<String> = row
                .iter()
                .map(|(ok, miss, extra)| format!("{ok:>2}/{miss:>2}/{extra:>2}"))
                .collect();
            eprintln!(
                "{name:>5} >= {threshold:.2}: found/missed/extra {}",
                cells.join("  ")
            );
        }
    }
    let stats = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        (
            v.iter().sum::<f32>() / v.len() as f32,
            v[v.len() / 2],
            v[v.len() / 10],
            v[v.len() * 9 / 10],
        )
    };
    eprintln!(
        "FER image side / box side (mean, median, p10, p90): {:?}",
        stats(&mut ratios)
    );
    eprintln!(
        "FER centre below box centre, in box heights: {:?}",
        stats(&mut shifts)
    );
    eprintln!(
        "right eye left of left eye: {eyes_ok} of {}; roll of upright faces in degrees: {:?}",
        ratios.len(),
        stats(&mut rolls)
    );

    // False positives on textures with no face.
    for (m, name) in models.iter().enumerate() {
        let mut counts = vec![0; thresholds.len()];
        let mut best = 0.0f32;
        for seed in 0..40u64 {
            let mut rng = Lcg(seed);
            let noise = (rng.next() % 120) as u8;
            let colour = [rng.next() as u8, rng.next() as u8, rng.next() as u8];
            let mut img = background(640, 480, colour, noise, seed);
            // Some blobs of other colours.
            for _ in 0..6 {
                let (x, y, r) = (rng.next() % 640, rng.next() % 480, 10 + rng.next() % 80);
                let c = Rgb([rng.next() as u8, rng.next() as u8, rng.next() as u8]);
                for py in y.saturating_sub(r)..(y + r).min(480) {
                    for px in x.saturating_sub(r)..(x + r).min(640) {
                        if (px as f32 - x as f32).hypot(py as f32 - y as f32) < r as f32 {
                            img.put_pixel(px, py, c);
                        }
                    }
                }
            }
            let photo = DynamicImage::ImageRgb8(img);
            let cands = match m {
                0 => det.candidates(Variant::Front, &photo),
                1 => det.candidates(Variant::Back, &photo),
                _ => [
                    det.candidates(Variant::Front, &photo),
                    det.candidates(Variant::Back, &photo),
                ]
                .concat(),
            };
            best = cands.iter().map(|c| c.score).fold(best, f32::max);
            for (t, &threshold) in thresholds.iter().enumerate() {
                counts[t] += merge(cands.iter().filter(|c| c.score >= threshold).cloned()).len();
            }
        }
        eprintln!("{name:>5}: detections on 40 faceless textures at {thresholds:?}: {counts:?}; best score {best:.2}");
    }
}

/// How steady a reading is: each face of the first 40 photos in `MIEN_PROBE_DIR`
/// (default `data/sfew/val`, unpacked from `../shared/data/sfew.tar.gz`) is read again
/// with its box moved by 1e-4 px and its roll by 1e-5 rad (about what separates the
/// GPU's box from the CPU's, or two still webcam frames), three ways: through
/// `face_levels` (the app's path), through `face_gray` (the same, rounded to whole gray
/// levels) and through the picture `crop_face` cuts, resized (the app until 2026-12-02).
/// Prints the largest and median change of the percentages. A measurement, so ignored:
/// `cargo test --release --test face_detection measure_steadiness -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_steadiness() {
    use mien::analysis::picture_from_bytes;
    use mien::contract::ModelContract;
    use mien::decode::DecodeLimits;
    use mien::emotions::softmax;
    use mien::face::{face_gray, face_levels};
    use mien::preprocess::{levels_to_input, pixels_to_input, to_gray_pixels};
    use mien::tensor::TensorF32;

    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::var("MIEN_PROBE_DIR").unwrap_or(format!("{root}/data/sfew/val"));
    let bytes =
        std::fs::read(format!("{root}/public/models/mien.onnx")).expect("the shipped model");
    let contract = ModelContract::from_onnx_bytes(&bytes).expect("its contract");
    let expanded = mien::weights::expand_bytes(bytes).expect("its weights expand");
    let classifier = CpuModel::load(&expanded).expect("tract loads it");
    let fractions = |input: Vec<f32>| {
        let input = TensorF32 {
            shape: vec![1, 1, contract.height as usize, contract.width as usize],
            data: input,
        };
        softmax(&classifier.run(&[input]).expect("classify")[0].data)
    };
    let largest_change = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    let files = pictures(Path::new(&dir));
    let det = Detectors::load();
    let (w, h) = (contract.width, contract.height);
    type Read<'a> = &'a dyn Fn(&DynamicImage, &Face) -> Vec<f32>;
    let ways: [(&str, Read); 3] = [
        ("face_levels (the app's path)", &|p, f| {
            levels_to_input(&face_levels(p, f, w, h), &contract)
        }),
        ("face_gray (rounded)", &|p, f| {
            pixels_to_input(face_gray(p, f, w, h).as_raw(), &contract)
        }),
        ("crop_face, resized (before)", &|p, f| {
            pixels_to_input(
                to_gray_pixels(&crop_face(p, f), &contract).as_raw(),
                &contract,
            )
        }),
    ];
    let mut changes = vec![Vec::new(); ways.len()];
    for file in files.iter().take(40) {
        let Ok(photo) = picture_from_bytes(&std::fs::read(file).unwrap(), &DecodeLimits::default())
        else {
            continue;
        };
        for face in det.detect_both(&photo) {
            let mut moved = face.clone();
            moved.rect.x += 1e-4;
            moved.rect.y -= 1e-4;
            moved.roll += 1e-5;
            for ((_, read), out) in ways.iter().zip(&mut changes) {
                out.push(largest_change(
                    &fractions(read(&photo, &face)),
                    &fractions(read(&photo, &moved)),
                ));
            }
        }
    }
    for ((name, _), mut c) in ways.iter().zip(changes) {
        c.sort_by(f32::total_cmp);
        println!(
            "{name}: {} faces, percentages changed by up to {:.2e} (median {:.2e})",
            c.len(),
            c.last().copied().unwrap_or(0.0),
            c.get(c.len() / 2).copied().unwrap_or(0.0)
        );
    }
}
