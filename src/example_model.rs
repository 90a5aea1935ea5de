//! A tiny classifier with random weights for any contract (labels, input size,
//! channels): what the tests use to check that everything follows a model's own
//! contract (`cargo run --example tiny-model`, the browser test's "another model").
//! Its readings mean nothing.
//!
//! The graph keeps to what both runtimes run correctly (../shared/docs/stack.md):
//! opset 13, static shapes with a shape for every value, a Conv with a bias, a Gemm
//! whose weight is stored `[in, out]`, logits out.

use crate::contract::ModelContract;
use crate::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    ValueInfoProto,
};

/// Filters of the one convolution.
const FILTERS: i64 = 4;

/// Conv 3x3 stride 2 (FILTERS filters) -> Relu -> Flatten -> Gemm to one logit per
/// label, weights drawn from `seed`; `contract` (self-test logits included, if set)
/// is written into the metadata.
pub fn random_classifier(contract: &ModelContract, seed: u64) -> ModelProto {
    let mut state = seed | 1;
    let mut random = move |scale: f32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
    };
    let [n, c, h, w] = contract.input_shape().map(|d| d as i64);
    let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
    let features = FILTERS * oh * ow;
    let classes = contract.labels.len() as i64;
    let conv_w: Vec<f32> = (0..FILTERS * c * 9).map(|_| random(0.5)).collect();
    let conv_b: Vec<f32> = (0..FILTERS).map(|_| random(0.1)).collect();
    let fc_scale = 3.0 / (features as f32).sqrt();
    let fc_w: Vec<f32> = (0..features * classes).map(|_| random(fc_scale)).collect();
    let fc_b: Vec<f32> = (0..classes).map(|_| random(0.1)).collect();
    let (input, output) = (contract.input_name.as_str(), contract.output_name.as_str());
    let graph = GraphProto {
        name: "tiny".into(),
        node: vec![
            NodeProto::new(
                "Conv",
                "conv",
                &[input, "conv.weight", "conv.bias"],
                &["conv_out"],
                vec![
                    AttributeProto::ints("kernel_shape", &[3, 3]),
                    AttributeProto::ints("strides", &[2, 2]),
                    AttributeProto::ints("pads", &[1, 1, 1, 1]),
                ],
            ),
            NodeProto::new("Relu", "relu", &["conv_out"], &["relu_out"], vec![]),
            NodeProto::new(
                "Flatten",
                "flatten",
                &["relu_out"],
                &["flat"],
                vec![AttributeProto::int("axis", 1)],
            ),
            NodeProto::new(
                "Gemm",
                "fc",
                &["flat", "fc.weight", "fc.bias"],
                &[output],
                vec![
                    AttributeProto::float("alpha", 1.0),
                    AttributeProto::float("beta", 1.0),
                ],
            ),
        ],
        initializer: vec![
            TensorProto::from_f32("conv.weight", &[FILTERS, c, 3, 3], &conv_w),
            TensorProto::from_f32("conv.bias", &[FILTERS], &conv_b),
            TensorProto::from_f32("fc.weight", &[features, classes], &fc_w),
            TensorProto::from_f32("fc.bias", &[classes], &fc_b),
        ],
        input: vec![ValueInfoProto::f32_tensor(input, &[n, c, h, w])],
        output: vec![ValueInfoProto::f32_tensor(output, &[n, classes])],
        value_info: vec![
            ValueInfoProto::f32_tensor("conv_out", &[n, FILTERS, oh, ow]),
            ValueInfoProto::f32_tensor("relu_out", &[n, FILTERS, oh, ow]),
            ValueInfoProto::f32_tensor("flat", &[n, features]),
        ],
        ..Default::default()
    };
    let mut model = ModelProto {
        ir_version: 7,
        producer_name: "mien example_model".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        doc_string: "a tiny random-weight classifier for tests; its readings mean nothing".into(),
        ..Default::default()
    };
    contract.write_to(&mut model);
    model
}

/// [`random_classifier`] with the self-test logits tract computes for it, as
/// `mien-train export` stores them, so the app's engines can check themselves.
#[cfg(feature = "cpu")]
pub fn random_classifier_with_self_test(
    contract: &ModelContract,
    seed: u64,
) -> Result<ModelProto, String> {
    let mut contract = contract.clone();
    contract.self_test_logits = None;
    let model = random_classifier(&contract, seed);
    let runtime = crate::cpu::CpuModel::load(&model.to_bytes())?;
    let outputs = runtime.run(&[crate::tensor::TensorF32 {
        shape: contract.input_shape().to_vec(),
        data: crate::contract::self_test_input(&contract),
    }])?;
    let logits = outputs
        .into_iter()
        .next()
        .map(|t| t.data)
        .ok_or("the model gave no output")?;
    contract.self_test_logits = Some(logits);
    Ok(random_classifier(&contract, seed))
}
