//! "Why this reading" with the shipped model (tract, the CPU engine's runtime) on real
//! FER2013 faces: for faces the model reads as clearly happy, greying the mouth lowers
//! "happy", and the occlusion map is hottest around the mouth.

mod common;

use common::{read_all, walk_fer};
use mien::contract::ModelContract;
use mien::cpu::{CpuModel, TensorF32};
use mien::emotions::Emotions;
use mien::occlusion::{fill_value, greyed, patches, OcclusionMap, Patch, PATCH, STRIDE};
use mien::preprocess::{pixels_to_input, to_gray_pixels};
use std::ops::ControlFlow;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/public/models/mien.onnx");

/// FER2013 faces are aligned: the mouth sits in the lower middle of the 48x48 frame,
/// about x 12..36, y 30..42: these two patches side by side.
const MOUTH: [Patch; 2] = [
    Patch {
        x: 12,
        y: 30,
        side: PATCH,
    },
    Patch {
        x: 24,
        y: 30,
        side: PATCH,
    },
];

#[test]
fn greying_the_mouth_of_a_happy_face_lowers_happy_and_the_map_is_hottest_there() {
    let bytes = std::fs::read(MODEL).unwrap_or_else(|e| panic!("cannot read {MODEL}: {e}"));
    let contract =
        ModelContract::from_onnx_bytes(&bytes).expect("the shipped model carries the contract");
    let expanded = mien::weights::expand_bytes(bytes).expect("its weights expand");
    let model = CpuModel::load(&expanded).expect("tract loads the shipped model");
    let happy = contract
        .labels
        .iter()
        .position(|l| l == "happy")
        .expect("the model reads happy");
    let read = |gray: &image::GrayImage| {
        let input = TensorF32 {
            shape: contract.input_shape().to_vec(),
            data: pixels_to_input(gray.as_raw(), &contract),
        };
        let logits = model
            .run(&[input])
            .expect("the shipped model runs")
            .remove(0)
            .data;
        Emotions::from_logits(&logits, &contract).shares[happy].fraction
    };

    // The first five faces of train/happy that the model reads as at least 90% happy.
    let mut faces = Vec::new();
    walk_fer(|path, file| {
        if path.starts_with("train/happy/") && path.ends_with(".jpg") {
            let face = image::load_from_memory(&read_all(file)).expect("FER2013 images decode");
            let gray = to_gray_pixels(&face, &contract);
            if read(&gray) >= 0.9 {
                faces.push((path.to_string(), gray));
            }
        }
        if faces.len() == 5 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(
        faces.len(),
        5,
        "fewer than 5 clearly happy faces in train/happy"
    );

    for (path, gray) in &faces {
        let base = read(gray);
        let fill = fill_value(gray);
        let mouth = read(&greyed(&greyed(gray, MOUTH[0], fill), MOUTH[1], fill));
        let all = patches(gray.width(), gray.height(), PATCH, STRIDE);
        let occluded: Vec<f32> = all.iter().map(|&p| read(&greyed(gray, p, fill))).collect();
        let map = OcclusionMap::new(gray.width(), gray.height(), all, base, &occluded).unwrap();
        let (hot, drop) = map.hottest().unwrap();
        println!(
            "{path}: happy {base:.3}, mouth greyed {mouth:.3}; hottest patch at ({}, {}), drop {drop:.3}",
            hot.x, hot.y
        );
        assert!(
            mouth < base - 0.05,
            "{path}: greying the mouth left happy at {mouth:.3} (from {base:.3})"
        );
        // At least half of the hottest patch covers the mouth region (x 12..36, y 30..42):
        // a patch over the eyes, brows or a cheek covers at most a sliver of it. (Mouths
        // sit a few pixels higher or lower from face to face: a patch over the lower lip
        // and chin, y 36..48, covers half.)
        let overlap =
            |lo: u32, len: u32, a: u32, b: u32| (lo + len).min(b).saturating_sub(lo.max(a));
        let covered = overlap(hot.x, hot.side, 12, 36) * overlap(hot.y, hot.side, 30, 42);
        assert!(
            2 * covered >= hot.side * hot.side,
            "{path}: the map is hottest at ({}, {}), away from the mouth",
            hot.x,
            hot.y
        );
    }
}
