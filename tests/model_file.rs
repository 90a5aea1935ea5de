//! A model file the user chooses: one made for another contract (8 FER+ classes on a
//! 40 x 40 input, by `mien::example_model`) is read and checked, one the app cannot
//! run is refused with a sentence that says why, and one that passes runs through the
//! shared path with its own labels. Across the core's modules (contract, example
//! model, analysis, CSV), so here rather than inside one of them.

#[cfg(feature = "cpu")]
use mien::analysis::{now_or_never, CpuModels, Models, Options};
#[cfg(feature = "cpu")]
use mien::contract::self_test_input;
use mien::contract::{keys, ModelContract, ModelFileError};
#[cfg(feature = "cpu")]
use mien::csv;
use mien::example_model;
use mien::onnx::{ModelProto, ValueInfoProto};

/// The 8 FER+ classes on a 40 x 40 input: another model than the shipped one.
fn ferplus() -> ModelContract {
    let mut c = ModelContract::new(1, 40, 40);
    c.labels = "anger,contempt,disgust,fear,happiness,neutral,sadness,surprise"
        .split(',')
        .map(String::from)
        .collect();
    c
}

#[test]
fn a_chosen_model_file_is_read_and_checked() {
    let contract = ferplus();
    let bytes = example_model::random_classifier(&contract, 3).to_bytes();
    let read = ModelContract::from_model_file(&bytes).unwrap();
    assert_eq!(read, contract);
    assert_eq!(read.labels.len(), 8);
    assert_eq!(read.input_shape(), [1, 1, 40, 40]);
}

#[test]
fn onnx_without_mien_metadata_is_not_a_mien_model() {
    let mut model = example_model::random_classifier(&ferplus(), 3);
    model.metadata_props.clear();
    let err = ModelContract::from_model_file(&model.to_bytes()).unwrap_err();
    assert!(matches!(err, ModelFileError::NotMien(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not a mien expression model"), "{text}");
    assert!(text.contains("mien.labels"), "{text}");
}

#[test]
fn shapes_the_app_cannot_run_are_refused() {
    let refused = |model: &ModelProto, words: &str| {
        let err = ModelContract::from_model_file(&model.to_bytes()).unwrap_err();
        assert!(matches!(err, ModelFileError::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains(words), "{err} lacks {words:?}");
    };
    let base = example_model::random_classifier(&ferplus(), 3);

    // The graph's input is 48 x 48, its metadata says 40 x 40.
    let mut model = base.clone();
    let graph = model.graph.as_mut().unwrap();
    graph.input[0] = ValueInfoProto::f32_tensor("input", &[1, 1, 48, 48]);
    refused(
        &model,
        "1 × 1 × 48 × 48 but its metadata says 1 × 1 × 40 × 40",
    );

    // Eight labels, seven logits.
    let mut model = base.clone();
    model.graph.as_mut().unwrap().output[0] = ValueInfoProto::f32_tensor("logits", &[1, 7]);
    refused(&model, "gives 7 numbers for its 8 labels");

    // A metadata input name the graph does not have.
    let mut model = base.clone();
    model.set_metadata(keys::INPUT_NAME, "image");
    refused(&model, "no input `image`");

    // A second input the app cannot give.
    let mut model = base.clone();
    let graph = model.graph.as_mut().unwrap();
    graph
        .input
        .push(ValueInfoProto::f32_tensor("mask", &[1, 1]));
    refused(&model, "takes 2 inputs");

    // The same label twice.
    let mut model = base.clone();
    model.set_metadata(keys::LABELS, "a,b,c,d,e,f,g,a");
    refused(&model, "\"a\" appears twice");

    // A shape the metadata itself rules out is a broken contract.
    let mut model = base;
    model.set_metadata(keys::INPUT_SHAPE, "1,4,40,40");
    let err = ModelContract::from_model_file(&model.to_bytes()).unwrap_err();
    assert!(matches!(err, ModelFileError::NotMien(_)), "{err:?}");
}

/// The example model runs in tract, reproduces its own self-test logits, and the
/// shared path reads it with its own labels: 8 shares, 8 CSV columns.
#[cfg(feature = "cpu")]
#[test]
fn another_model_runs_with_its_own_labels() {
    let contract = ferplus();
    let bytes = example_model::random_classifier_with_self_test(&contract, 5)
        .unwrap()
        .to_bytes();
    let read = ModelContract::from_model_file(&bytes).unwrap();
    let expected = read.self_test_logits.clone().unwrap();
    assert_eq!(expected.len(), 8);
    let models = CpuModels::load(&bytes, &[]).unwrap();
    let (logits, _) = now_or_never(Models::logits(&models, self_test_input(&read)))
        .unwrap()
        .unwrap();
    assert_eq!(logits, expected);
    let picture = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(90, 70, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, 100])
    }));
    let faces = models.read_whole(&picture, Options::photo()).unwrap();
    let emotions = &faces.faces[0].emotions;
    let labels: Vec<&str> = emotions.shares.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, read.labels);
    let row = csv::Row::face("a.png", 1, emotions, &read.labels);
    let text = csv::csv(&[row], &read.labels);
    let header = text.lines().next().unwrap();
    assert!(
        header.ends_with(
            ",anger_percent,contempt_percent,disgust_percent,fear_percent,\
                          happiness_percent,neutral_percent,sadness_percent,surprise_percent"
        ),
        "{header}"
    );
    assert_eq!(text.lines().nth(1).unwrap().split(',').count(), 4 + 8);
}
