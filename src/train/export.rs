//! Writes a trained network as the ONNX file the app loads, under the constraints
//! that make `wonnx` compute correctly (see ../shared/docs/stack.md): opset 13, batch 1
//! static, BatchNorm folded into every Conv (so every Conv has a bias), the head's
//! weight stored `[in, out]` (no `transB`), a shape for every intermediate value,
//! logits out (softmax happens in Rust), and the model contract in `metadata_props`.

use super::model::{ConvBn, Net};
use crate::contract::ModelContract;
use crate::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    ValueInfoProto,
};
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
        self.graph
            .value_info
            .push(ValueInfoProto::f32_tensor(&name, shape));
        name
    }

    /// Adds an initializer once (a mirror-averaged graph uses every weight twice).
    fn weight(&mut self, name: &str, t: &Tensor) -> String {
        if self.graph.initializer.iter().any(|i| i.name == name) {
            return name.to_string();
        }
        let t = t
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let dims = t.size();
        let values: Vec<f32> = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap_or_default();
        self.graph
            .initializer
            .push(TensorProto::from_f32(name, &dims, &values));
        name.to_string()
    }

    /// Conv with BatchNorm folded in; returns the output value and its shape.
    fn conv_bn(
        &mut self,
        name: &str,
        cb: &ConvBn,
        input: &str,
        shape: &[i64],
    ) -> (String, Vec<i64>) {
        let (w, b) = fold(cb);
        let wn = self.weight(&format!("{name}.weight"), &w);
        let bn = self.weight(&format!("{name}.bias"), &b);
        let k = cb.kernel;
        let out_side = |s: i64| (s + 2 * cb.padding - k) / cb.stride + 1;
        let out_shape = vec![1, w.size()[0], out_side(shape[2]), out_side(shape[3])];
        let out = self.value(name, &out_shape);
        self.graph.node.push(NodeProto::new(
            "Conv",
            &out,
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

    fn unary(
        &mut self,
        op: &str,
        input: &str,
        shape: &[i64],
        attrs: Vec<AttributeProto>,
        out_shape: &[i64],
    ) -> String {
        let out = self.value(&op.to_lowercase(), out_shape);
        let _ = shape;
        let name = out.clone();
        self.graph
            .node
            .push(NodeProto::new(op, &name, &[input], &[&out], attrs));
        out
    }

    /// The network up to its global average pool; returns the pooled value and shape.
    /// Called twice for a mirror-averaged model: the second call reuses the weights.
    fn features(&mut self, net: &Net, input: &str, in_shape: &[i64]) -> (String, Vec<i64>) {
        let (mut x, mut shape) = self.conv_bn("conv1", &net.stem, input, in_shape);
        x = self.unary("Relu", &x, &shape, vec![], &shape.clone());
        if net.stem_pool {
            let out_shape = vec![
                1,
                shape[1],
                (shape[2] + 2 - 3) / 2 + 1,
                (shape[3] + 2 - 3) / 2 + 1,
            ];
            let attrs = vec![
                AttributeProto::ints("kernel_shape", &[3, 3]),
                AttributeProto::ints("strides", &[2, 2]),
                AttributeProto::ints("pads", &[1, 1, 1, 1]),
            ];
            x = self.unary("MaxPool", &x, &shape, attrs, &out_shape);
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
                    let (o, os) =
                        self.conv_bn(&format!("{prefix}.conv{}", j + 1), cb, &y, &y_shape);
                    y = o;
                    y_shape = os;
                    if j + 1 < block.convs.len() {
                        y = self.unary("Relu", &y, &y_shape, vec![], &y_shape.clone());
                    }
                }
                let shortcut = match &block.downsample {
                    Some(d) => {
                        self.conv_bn(&format!("{prefix}.downsample"), d, &block_in, &in_shape)
                            .0
                    }
                    None => block_in,
                };
                let sum = self.value("add", &y_shape);
                self.graph.node.push(NodeProto::new(
                    "Add",
                    &sum,
                    &[&y, &shortcut],
                    &[&sum],
                    vec![],
                ));
                x = self.unary("Relu", &sum, &y_shape, vec![], &y_shape.clone());
                shape = y_shape;
            }
        }
        let pooled_shape = vec![1, shape[1], 1, 1];
        (
            self.unary("GlobalAveragePool", &x, &shape, vec![], &pooled_shape),
            pooled_shape,
        )
    }

    /// The input mirrored left to right: `x @ J` per channel, J the anti-diagonal
    /// matrix (a stacked MatMul with equal leading dimensions, which wonnx supports).
    fn mirror(&mut self, input: &str, shape: &[i64]) -> String {
        let (c, w) = (shape[1], shape[3]);
        let j: Vec<f32> = (0..c * w * w)
            .map(|i| {
                if (i % w) + (i / w) % w == w - 1 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        self.graph
            .initializer
            .push(TensorProto::from_f32("mirror", &[1, c, w, w], &j));
        let out = self.value("mirror", shape);
        self.graph.node.push(NodeProto::new(
            "MatMul",
            &out,
            &[input, "mirror"],
            &[&out],
            vec![],
        ));
        out
    }
}

/// The conv's weight and bias with its BatchNorm (running statistics) folded in.
pub fn fold(cb: &ConvBn) -> (Tensor, Tensor) {
    tch::no_grad(|| {
        let bn = &cb.bn;
        let gamma = bn
            .ws
            .as_ref()
            .map(|t| t.shallow_clone())
            .unwrap_or_else(|| bn.running_mean.ones_like());
        let beta = bn
            .bs
            .as_ref()
            .map(|t| t.shallow_clone())
            .unwrap_or_else(|| bn.running_mean.zeros_like());
        let scale = &gamma / (&bn.running_var + 1e-5).sqrt();
        let w = &cb.conv.ws * scale.view([-1, 1, 1, 1]);
        let b = &beta - &bn.running_mean * &scale;
        (w, b)
    })
}

/// Builds the ONNX model of `net` with `contract` in its metadata. With
/// `contract.mirror_averaged`, the graph also runs the network on the mirror image of
/// its input (a MatMul with the anti-diagonal matrix, exact in float32; the two branches
/// share every weight) and outputs the mean of the two logit vectors.
pub fn to_onnx(net: &Net, contract: &ModelContract) -> ModelProto {
    let mut b = Builder {
        graph: GraphProto {
            name: contract.model_name.clone(),
            ..Default::default()
        },
        counter: 0,
    };
    let in_shape: Vec<i64> = contract.input_shape().iter().map(|&d| d as i64).collect();
    b.graph
        .input
        .push(ValueInfoProto::f32_tensor(&contract.input_name, &in_shape));

    let (mut pooled, pooled_shape) = b.features(net, &contract.input_name, &in_shape);
    let mut head_scale = 1.0;
    if contract.mirror_averaged {
        let mirrored = b.mirror(&contract.input_name, &in_shape);
        let (pooled_mirror, _) = b.features(net, &mirrored, &in_shape);
        let sum = b.value("add", &pooled_shape);
        b.graph.node.push(NodeProto::new(
            "Add",
            &sum,
            &[&pooled, &pooled_mirror],
            &[&sum],
            vec![],
        ));
        // The head is linear: head(a + b) with halved weights is the mean of both logits.
        pooled = sum;
        head_scale = 0.5;
    }
    let flat_shape = vec![1, pooled_shape[1]];
    let flat = b.unary(
        "Flatten",
        &pooled,
        &pooled_shape,
        vec![AttributeProto::int("axis", 1)],
        &flat_shape,
    );
    // Gemm without transB: the weight is stored [in, out].
    let w = b.weight("fc.weight", &(net.fc.ws.transpose(0, 1) * head_scale));
    let bias = match &net.fc.bs {
        Some(t) => t.shallow_clone(),
        None => Tensor::zeros(
            [net.spec.num_classes as i64],
            (Kind::Float, tch::Device::Cpu),
        ),
    };
    let bias = b.weight("fc.bias", &bias);
    let k = net.spec.num_classes as i64;
    b.graph.node.push(NodeProto::new(
        "Gemm",
        "fc",
        &[&flat, &w, &bias],
        &[&contract.output_name],
        vec![
            AttributeProto::float("alpha", 1.0),
            AttributeProto::float("beta", 1.0),
        ],
    ));
    b.graph
        .output
        .push(ValueInfoProto::f32_tensor(&contract.output_name, &[1, k]));

    let mut model = ModelProto {
        ir_version: 7,
        producer_name: "mien".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(b.graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        doc_string: format!("mien expression classifier: {}", net.spec.describe()),
        ..Default::default()
    };
    contract.write_to(&mut model);
    model
}
