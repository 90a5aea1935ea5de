//! The model the app ships (`public/models/mien.onnx`), evaluated natively on FER2013's
//! `val/` split: its accuracy must reach a fixed floor ([`VAL_ACCURACY_FLOOR`]) and be
//! within one point of the accuracy written in its metadata, the number the app's
//! "about this model" view shows. Its labels must be the dataset's class folders.
//!
//! Uses the same code the app and `mien-train eval` use: the contract read from the
//! file, the shared preprocessing and tract. Reads the faces straight from
//! `../shared/data/fer2013.tar.gz`; nothing derived from them is written anywhere.

mod common;

use common::{read_all, walk_fer};
use mien::contract::ModelContract;
use mien::cpu::{CpuModel, TensorF32};
use mien::emotions::argmax;
use mien::preprocess::preprocess;
use std::ops::ControlFlow;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/public/models/mien.onnx");

/// The least val accuracy a shipped model may have: model version 6 scores 68.96% as shipped
/// with int8 weights (version 5: 70.19%, 4: 70.21%), so a worse model (or a regression in
/// the shared preprocessing) fails here even when its metadata agrees with it. Version 6
/// gave 1.2 points of FER2013 for 8.9 points on web photos of many populations (ExpW,
/// through the app's path); docs/model-card.md has the trade. Raise it with each better
/// model that ships.
const VAL_ACCURACY_FLOOR: f32 = 0.685;

/// Every `val/<class>/` folder name in the tarball, sorted.
fn val_classes() -> Vec<String> {
    let mut classes = std::collections::BTreeSet::new();
    walk_fer(|path, _| {
        if let ["val", class, name] = path.split('/').collect::<Vec<_>>()[..] {
            if !name.is_empty() {
                classes.insert(class.to_string());
            }
        }
        ControlFlow::Continue(())
    });
    classes.into_iter().collect()
}

/// Every `val/<class>/<file>` image in the tarball, as (label index, encoded bytes).
fn val_images(labels: &[String]) -> Vec<(usize, Vec<u8>)> {
    let mut images = Vec::new();
    walk_fer(|path, file| {
        let parts: Vec<&str> = path.split('/').collect();
        if let ["val", class, name] = parts[..] {
            if !name.is_empty() {
                let label = labels.iter().position(|l| l == class).unwrap_or_else(|| {
                    panic!("val/{class} is not one of the model's labels {labels:?}")
                });
                images.push((label, read_all(file)));
            }
        }
        ControlFlow::Continue(())
    });
    images
}

/// How many of `images` the model classifies correctly.
fn correct(bytes: &[u8], contract: &ModelContract, images: &[(usize, Vec<u8>)]) -> usize {
    let expanded = mien::weights::expand_bytes(bytes.to_vec()).expect("its weights expand");
    let model = CpuModel::load(&expanded).expect("tract loads the shipped model");
    images
        .iter()
        .filter(|(label, encoded)| {
            let face = image::load_from_memory(encoded).expect("FER2013 images decode");
            let input = TensorF32 {
                shape: contract.input_shape().to_vec(),
                data: preprocess(&face, contract),
            };
            let outputs = model.run(&[input]).expect("the shipped model runs");
            argmax(&outputs[0].data) == *label
        })
        .count()
}

#[test]
fn shipped_model_scores_what_its_metadata_says_on_val() {
    let bytes = std::fs::read(MODEL).unwrap_or_else(|e| panic!("cannot read {MODEL}: {e}"));
    let contract =
        ModelContract::from_onnx_bytes(&bytes).expect("the shipped model carries the contract");
    let claimed = contract
        .val_accuracy
        .expect("the shipped model states its val accuracy");

    let images = val_images(&contract.labels);
    assert!(
        images.len() > 3000,
        "expected FER2013's 3589 val images, found {}",
        images.len()
    );

    // Two halves on two threads: CI has 2 cores.
    let (first, second) = images.split_at(images.len() / 2);
    let right = std::thread::scope(|s| {
        let a = s.spawn(|| correct(&bytes, &contract, first));
        let b = s.spawn(|| correct(&bytes, &contract, second));
        a.join().unwrap() + b.join().unwrap()
    });
    let measured = right as f32 / images.len() as f32;
    println!(
        "shipped model {} {}: {right}/{} = {:.2}% on val (metadata says {:.2}%)",
        contract.model_name,
        contract.model_version,
        images.len(),
        measured * 100.0,
        claimed * 100.0
    );
    assert!(
        measured >= VAL_ACCURACY_FLOOR,
        "measured {:.2}% on val, below the floor of {:.2}%",
        measured * 100.0,
        VAL_ACCURACY_FLOOR * 100.0
    );
    assert!(
        (measured - claimed).abs() <= 0.01,
        "measured {:.2}% on val, the metadata claims {:.2}%",
        measured * 100.0,
        claimed * 100.0
    );
}

#[test]
fn labels_are_the_datasets_class_folders_in_order() {
    let folders = val_classes();
    assert_eq!(
        folders,
        mien::contract::LABELS,
        "the contract's labels against FER2013's val/ folders"
    );
    let bytes = std::fs::read(MODEL).unwrap_or_else(|e| panic!("cannot read {MODEL}: {e}"));
    let contract =
        ModelContract::from_onnx_bytes(&bytes).expect("the shipped model carries the contract");
    assert_eq!(
        contract.labels, folders,
        "the shipped model's labels against FER2013's val/ folders"
    );
}
