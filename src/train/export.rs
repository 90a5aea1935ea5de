//! Writes a trained network as the ONNX file the app loads, under the constraints
//! that make `wonnx` compute correctly (see ../shared/docs/stack.md): opset 13, batch 1
//! static, BatchNorm folded into every Conv (so every Conv has a bias), the head's
//! weight stored `[in, out]` (no `transB`), a shape for every intermediate value,
//! logits out (softmax happens in Rust), and the model contract in `metadata_props`.

use super::model::{ConvBn, Net};
use crate::contract::ModelContract;
use crate::onnx::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto};
use tch::{Kind, Tensor};

pub const OPSET: i64 = 13;

/// Accumulates nodes, weights and value shapes.
struct Builder {
    graph: GraphProto,
    counter: usize,
}

impl Builder {
    fn value(&mut self, prefix: &str, shape: &[i64]) -> String {
        self.counter += 1;
        let name = format!("{prefix}_{}", self.counter);
        self.graph.value_info.push(ValueInfoProto::f32_tensor(&name, shape));
        name
    }

    fn weight(&mut self, name: &str, t: &Tensor) -> String {
        let t = t.to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
        let dims = t.size();
        let values: Vec<f32> = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap_or_default();
        self.graph.initializer.push(TensorProto::from_f32(name, &dims, &values));
        name.to_string()
    }

    /// Conv with BatchNorm folded in; returns the output value and its shape.
    fn conv_bn(&mut self, name: &str, cb: &ConvBn, input: &str, shape: &[i64]) -> (String, Vec<i64>) {
        let (w, b) = fold(cb);
        let wn = self.weight(&format!("{name}.weight"), &w);
        let bn = self.weight(&format!("{name}.bias"), &b);
        let k = cb.kernel;
        let out_side = |s: i64| (s + 2 * cb.padding - k) / cb.stride + 1;
        let out_shape = vec![1, w.size()[0], out_side(shape[2]), out_side(shape[3])];
        let out = self.value(name, &out_shape);
        self.graph.node.push(NodeProto::new(
            "Conv",
            name,
            &[input, &wn, &bn],
            &[&out],
            vec![
                AttributeProto::ints("kernel_shape", &[k, k]),
                AttributeProto::ints("strides", &[cb.stride, cb.stride]),
                AttributeProto::ints("pads", &[cb.padding, cb.padding, cb.padding, cb.padding]),
                AttributeProto::ints("dilations", &[1, 1]),
                AttributeProto::int("group", 1),
            ],
        ));
        (out, out_shape)
    }

    fn unary(&mut self, op: &str, input: &str, shape: &[i64], attrs: Vec<AttributeProto>, out_shape: &[i64]) -> String {
        let out = self.value(&op.to_lowercase(), out_shape);
        let _ = shape;
        let name = out.clone();
        self.graph.node.push(NodeProto::new(op, &name, &[input], &[&out], attrs));
        out
    }
}

/// The conv's weight and bias with its BatchNorm (running statistics) folded in.
pub fn fold(cb: &ConvBn) -> (Tensor, Tensor) {
    tch::no_grad(|| {
        let bn = &cb.bn;
        let gamma = bn.ws.as_ref().map(|t| t.shallow_clone()).unwrap_or_else(|| bn.running_mean.ones_like());
        let beta = bn.bs.as_ref().map(|t| t.shallow_clone()).unwrap_or_else(|| bn.running_mean.zeros_like());
        let scale = &gamma / (&bn.running_var + 1e-5).sqrt();
        let w = &cb.conv.ws * scale.view([-1, 1, 1, 1]);
        let b = &beta - &bn.running_mean * &scale;
        (w, b)
    })
}

/// Builds the ONNX model of `net` with `contract` in its metadata.
pub fn to_onnx(net: &Net, contract: &ModelContract) -> ModelProto {
    let mut b = Builder { graph: GraphProto { name: contract.model_name.clone(), ..Default::default() }, counter: 0 };
    let in_shape: Vec<i64> = contract.input_shape().iter().map(|&d| d as i64).collect();
    b.graph.input.push(ValueInfoProto::f32_tensor(&contract.input_name, &in_shape));

    let (mut x, mut shape) = b.conv_bn("conv1", &net.stem, &contract.input_name, &in_shape);
    x = b.unary("Relu", &x, &shape, vec![], &shape.clone());
    if net.stem_pool {
        let out_shape = vec![1, shape[1], (shape[2] + 2 - 3) / 2 + 1, (shape[3] + 2 - 3) / 2 + 1];
        let attrs = vec![
            AttributeProto::ints("kernel_shape", &[3, 3]),
            AttributeProto::ints("strides", &[2, 2]),
            AttributeProto::ints("pads", &[1, 1, 1, 1]),
        ];
        x = b.unary("MaxPool", &x, &shape, attrs, &out_shape);
        shape = out_shape;
    }
    for (s, stage) in net.stages.iter().enumerate() {
        for (i, block) in stage.iter().enumerate() {
            let prefix = format!("layer{}.{}", s + 1, i);
            let block_in = x.clone();
            let in_shape = shape.clone();
            let mut y = block_in.clone();
            let mut y_shape = in_shape.clone();
            for (j, cb) in block.convs.iter().enumerate() {
                let (o, os) = b.conv_bn(&format!("{prefix}.conv{}", j + 1), cb, &y, &y_shape);
                y = o;
                y_shape = os;
                if j + 1 < block.convs.len() {
                    y = b.unary("Relu", &y, &y_shape, vec![], &y_shape.clone());
                }
            }
            let shortcut = match &block.downsample {
                Some(d) => b.conv_bn(&format!("{prefix}.downsample"), d, &block_in, &in_shape).0,
                None => block_in,
            };
            let sum = b.value("add", &y_shape);
            b.graph.node.push(NodeProto::new("Add", &sum, &[&y, &shortcut], &[&sum], vec![]));
            x = b.unary("Relu", &sum, &y_shape, vec![], &y_shape.clone());
            shape = y_shape;
        }
    }
    let pooled_shape = vec![1, shape[1], 1, 1];
    let pooled = b.unary("GlobalAveragePool", &x, &shape, vec![], &pooled_shape);
    let flat_shape = vec![1, shape[1]];
    let flat = b.unary("Flatten", &pooled, &pooled_shape, vec![AttributeProto::int("axis", 1)], &flat_shape);
    // Gemm without transB: the weight is stored [in, out].
    let w = b.weight("fc.weight", &net.fc.ws.transpose(0, 1));
    let bias = match &net.fc.bs {
        Some(t) => t.shallow_clone(),
        None => Tensor::zeros([net.spec.num_classes as i64], (Kind::Float, tch::Device::Cpu)),
    };
    let bias = b.weight("fc.bias", &bias);
    let k = net.spec.num_classes as i64;
    b.graph.node.push(NodeProto::new(
        "Gemm",
        "fc",
        &[&flat, &w, &bias],
        &[&contract.output_name],
        vec![AttributeProto::float("alpha", 1.0), AttributeProto::float("beta", 1.0)],
    ));
    b.graph.output.push(ValueInfoProto::f32_tensor(&contract.output_name, &[1, k]));

    let mut model = ModelProto {
        ir_version: 7,
        producer_name: "mien".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(b.graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        doc_string: format!("mien expression classifier: {}", net.spec.describe()),
        ..Default::default()
    };
    contract.write_to(&mut model);
    model
}
