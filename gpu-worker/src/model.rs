//! One ONNX model on the GPU: a wonnx session plus the graph's declared tensor shapes,
//! which wonnx does not report (it returns flat outputs and trusts its inputs blindly).

use std::borrow::Cow;
use std::collections::HashMap;

use protobuf::Message;
use wonnx::onnx::{ModelProto, TensorProto, ValueInfoProto};
use wonnx::utils::{InputTensor, OutputTensor};

/// A plain f32 tensor: name, shape and row-major values (the protocol's).
pub use crate::protocol::Tensor;

pub struct Model {
    session: wonnx::Session,
    /// The graph's real inputs (initializers excluded), in graph order.
    inputs: Vec<(String, Vec<usize>)>,
    outputs: Vec<(String, Vec<usize>)>,
}

impl Model {
    /// Parses the ONNX bytes and compiles them into GPU pipelines. Needs a WebGPU adapter:
    /// wonnx panics without one, so the caller probes for it first.
    pub async fn load(bytes: &[u8]) -> Result<Model, String> {
        let mut proto = ModelProto::parse_from_bytes(bytes)
            .map_err(|e| format!("this is not an ONNX model file ({e})"))?;
        add_zero_conv_biases(&mut proto);
        let graph = proto.get_graph();
        let initializers: Vec<&str> = graph
            .get_initializer()
            .iter()
            .map(|t| t.get_name())
            .collect();
        let inputs = graph
            .get_input()
            .iter()
            .filter(|v| !initializers.contains(&v.get_name()))
            .map(|v| declared_shape(v, true))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = graph
            .get_output()
            .iter()
            .map(|v| declared_shape(v, false))
            .collect::<Result<Vec<_>, _>>()?;
        let session = wonnx::Session::from_model(proto)
            .await
            .map_err(|e| format!("WebGPU (wonnx) cannot compile this model: {e}"))?;
        Ok(Model {
            session,
            inputs,
            outputs,
        })
    }

    /// Runs the model; returns the named outputs in the order asked for.
    pub async fn run(&self, inputs: Vec<Tensor>, wanted: &[String]) -> Result<Vec<Tensor>, String> {
        for (name, _) in &self.inputs {
            if !inputs.iter().any(|t| &t.name == name) {
                return Err(format!(
                    "input '{name}' is missing ({})",
                    self.describe_inputs()
                ));
            }
        }
        let mut feed = HashMap::new();
        for t in inputs {
            let Some((_, shape)) = self.inputs.iter().find(|(n, _)| *n == t.name) else {
                return Err(format!(
                    "the model has no input '{}' ({})",
                    t.name,
                    self.describe_inputs()
                ));
            };
            if &t.shape != shape {
                return Err(format!(
                    "input '{}' has shape {:?}; the model expects {shape:?}",
                    t.name, t.shape
                ));
            }
            if t.data.len() != shape.iter().product::<usize>() {
                return Err(format!(
                    "input '{}' has {} values; its shape {shape:?} needs {}",
                    t.name,
                    t.data.len(),
                    shape.iter().product::<usize>()
                ));
            }
            feed.insert(t.name, InputTensor::F32(Cow::Owned(t.data)));
        }
        let mut shapes = Vec::with_capacity(wanted.len());
        for name in wanted {
            let Some((_, shape)) = self.outputs.iter().find(|(n, _)| n == name) else {
                let known: Vec<&str> = self.outputs.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!(
                    "the model has no output '{name}' (its outputs: {})",
                    known.join(", ")
                ));
            };
            shapes.push(shape.clone());
        }

        let mut results = self
            .session
            .run(&feed)
            .await
            .map_err(|e| format!("WebGPU inference failed: {e}"))?;
        wanted
            .iter()
            .zip(shapes)
            .map(|(name, shape)| {
                let data: Vec<f32> = match results.remove(name) {
                    Some(OutputTensor::F32(v)) => v,
                    Some(OutputTensor::I32(v)) => v.into_iter().map(|x| x as f32).collect(),
                    Some(OutputTensor::I64(v)) => v.into_iter().map(|x| x as f32).collect(),
                    Some(OutputTensor::U8(v)) => v.into_iter().map(f32::from).collect(),
                    None => {
                        return Err(format!(
                            "WebGPU (wonnx) returned no value for output '{name}'"
                        ))
                    }
                };
                if data.len() != shape.iter().product::<usize>() {
                    return Err(format!(
                        "WebGPU (wonnx) returned {} values for output '{name}' of shape {shape:?}",
                        data.len()
                    ));
                }
                Ok(Tensor {
                    name: name.clone(),
                    shape,
                    data,
                })
            })
            .collect()
    }

    fn describe_inputs(&self) -> String {
        let list: Vec<String> = self
            .inputs
            .iter()
            .map(|(n, s)| format!("'{n}' {s:?}"))
            .collect();
        format!("its inputs: {}", list.join(", "))
    }
}

/// wonnx 0.5.1 silently computes wrong numbers for some Convs that have no bias (seen:
/// 3x3, stride 1, max abs error 1.8 on logits of about 1); with a zero bias they are right.
/// Gives every bias-less Conv whose weight is stored in the file a zero bias.
fn add_zero_conv_biases(proto: &mut ModelProto) {
    const FLOAT: i32 = 1;
    let graph = proto.mut_graph();
    let out_channels: HashMap<String, i64> = graph
        .get_initializer()
        .iter()
        .filter(|t| !t.get_dims().is_empty())
        .map(|t| (t.get_name().to_string(), t.get_dims()[0]))
        .collect();
    let mut biases = Vec::new();
    for node in graph.mut_node().iter_mut() {
        if node.get_op_type() != "Conv" || node.get_input().len() != 2 {
            continue;
        }
        let Some(&channels) = out_channels.get(&node.get_input()[1]) else {
            continue;
        };
        let name = format!("{}__mien_zero_bias", node.get_input()[1]);
        let mut bias = TensorProto::new();
        bias.set_name(name.clone());
        bias.set_data_type(FLOAT);
        bias.set_dims(vec![channels]);
        bias.set_float_data(vec![0.0; channels as usize]);
        biases.push(bias);
        node.mut_input().push(name);
    }
    for bias in biases {
        if !graph
            .get_initializer()
            .iter()
            .any(|t| t.get_name() == bias.get_name())
        {
            graph.mut_initializer().push(bias);
        }
    }
}

/// The static shape the graph declares for a value; inputs must also be float32.
fn declared_shape(value: &ValueInfoProto, is_input: bool) -> Result<(String, Vec<usize>), String> {
    let name = value.get_name();
    let tensor = value.get_field_type().get_tensor_type();
    const FLOAT: i32 = 1; // onnx.TensorProto.DataType.FLOAT
    if is_input && tensor.get_elem_type() != FLOAT {
        return Err(format!(
            "input '{name}' is not float32 (only float32 inputs are supported)"
        ));
    }
    if !tensor.has_shape() {
        return Err(format!(
            "'{name}' has no declared shape (WebGPU needs static shapes)"
        ));
    }
    let shape = tensor
        .get_shape()
        .get_dim()
        .iter()
        .map(|d| match d.has_dim_value() && d.get_dim_value() > 0 {
            true => Ok(d.get_dim_value() as usize),
            false => Err(format!(
                "'{name}' has a dynamic dimension '{}' (WebGPU needs static shapes, batch included)",
                d.get_dim_param()
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.to_string(), shape))
}
