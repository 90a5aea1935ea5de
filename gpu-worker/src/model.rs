//! One ONNX model on the GPU: a wonnx session plus the graph's declared tensor shapes,
//! which wonnx does not report (it returns flat outputs and trusts its inputs blindly).

use std::borrow::Cow;
use std::collections::HashMap;

use protobuf::Message;
use wonnx::onnx::{GraphProto, ModelProto, TensorProto, ValueInfoProto};
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
        check_initializers(proto.get_graph())?;
        add_zero_conv_biases(&mut proto)?;
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

/// `onnx.TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

/// How many values a tensor of these dimensions holds, each dimension at least `least`
/// (0 for a stored tensor; 1 for a graph input or output, which WebGPU needs static
/// and non-empty). Err, never a panic: a sentence naming the tensor for a dimension
/// below `least` (negative ones included) or a count beyond `usize` (32 bits in the
/// browser).
fn value_count(name: &str, dims: &[i64], least: i64) -> Result<usize, String> {
    dims.iter().try_fold(1usize, |n, &d| {
        if d < least {
            return Err(format!(
                "'{name}' has a dimension of {d} (its dimensions: {dims:?})"
            ));
        }
        usize::try_from(d)
            .ok()
            .and_then(|d| n.checked_mul(d))
            .ok_or_else(|| format!("'{name}' has dimensions {dims:?}: too many values to hold"))
    })
}

/// Checks every stored tensor's dimensions, and that each float32 one holds exactly the
/// values they count, so that nothing sized from a dimension (a zero bias, wonnx's
/// buffers) goes beyond what the file really holds.
fn check_initializers(graph: &GraphProto) -> Result<(), String> {
    for t in graph.get_initializer() {
        let count = value_count(t.get_name(), t.get_dims(), 0)?;
        if t.get_data_type() != FLOAT {
            continue;
        }
        let held = match t.get_float_data() {
            [] => t.get_raw_data().len(),
            values => values.len().saturating_mul(4),
        };
        if Some(held) != count.checked_mul(4) {
            return Err(format!(
                "the weight '{}' has dimensions {:?} ({count} values) but holds {held} bytes",
                t.get_name(),
                t.get_dims()
            ));
        }
    }
    Ok(())
}

/// wonnx 0.5.1 silently computes wrong numbers for some Convs that have no bias (seen:
/// 3x3, stride 1, max abs error 1.8 on logits of about 1); with a zero bias they are right.
/// Gives every bias-less Conv whose float32 weight is stored in the file a zero bias.
/// The weights must have passed [`check_initializers`], so a bias is never longer than
/// its weight; Err: a weight with no output channel.
fn add_zero_conv_biases(proto: &mut ModelProto) -> Result<(), String> {
    let graph = proto.mut_graph();
    let out_channels: HashMap<String, i64> = graph
        .get_initializer()
        .iter()
        .filter(|t| t.get_data_type() == FLOAT && !t.get_dims().is_empty())
        .map(|t| (t.get_name().to_string(), t.get_dims()[0]))
        .collect();
    let mut biases = Vec::new();
    for node in graph.mut_node().iter_mut() {
        if node.get_op_type() != "Conv" || node.get_input().len() != 2 {
            continue;
        }
        let weight = &node.get_input()[1];
        let Some(&channels) = out_channels.get(weight) else {
            continue;
        };
        let length = usize::try_from(channels)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| format!("the Conv weight '{weight}' has {channels} output channels"))?;
        let name = format!("{weight}__mien_zero_bias");
        let mut bias = TensorProto::new();
        bias.set_name(name.clone());
        bias.set_data_type(FLOAT);
        bias.set_dims(vec![channels]);
        bias.set_float_data(vec![0.0; length]);
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
    Ok(())
}

/// The static shape the graph declares for a value; inputs must also be float32.
/// Every dimension must be a number of at least 1, and their product must fit.
fn declared_shape(value: &ValueInfoProto, is_input: bool) -> Result<(String, Vec<usize>), String> {
    let name = value.get_name();
    let tensor = value.get_field_type().get_tensor_type();
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
    let dims = tensor
        .get_shape()
        .get_dim()
        .iter()
        .map(|d| match d.has_dim_value() {
            true => Ok(d.get_dim_value()),
            false => Err(format!(
                "'{name}' has a dynamic dimension '{}' (WebGPU needs static shapes, batch included)",
                d.get_dim_param()
            )),
        })
        .collect::<Result<Vec<i64>, _>>()?;
    value_count(name, &dims, 1)?;
    // Each dimension is at least 1 and their product fits, so each fits.
    let shape = dims.iter().map(|&d| d as usize).collect();
    Ok((name.to_string(), shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wonnx::onnx::{NodeProto, TensorShapeProto_Dimension};

    /// A graph with one bias-less Conv whose weight `w` has these dimensions and holds
    /// `values` float32 values.
    fn conv(dims: &[i64], values: usize) -> ModelProto {
        let mut proto = ModelProto::new();
        let graph = proto.mut_graph();
        let mut w = TensorProto::new();
        w.set_name("w".into());
        w.set_data_type(1);
        w.set_dims(dims.to_vec());
        w.set_float_data(vec![0.5; values]);
        graph.mut_initializer().push(w);
        let mut node = NodeProto::new();
        node.set_op_type("Conv".into());
        node.mut_input().push("x".into());
        node.mut_input().push("w".into());
        node.mut_output().push("y".into());
        graph.mut_node().push(node);
        proto
    }

    fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
        let mut v = ValueInfoProto::new();
        v.set_name(name.into());
        let tensor = v.mut_field_type().mut_tensor_type();
        tensor.set_elem_type(1);
        for &d in dims {
            let mut dim = TensorShapeProto_Dimension::new();
            dim.set_dim_value(d);
            tensor.mut_shape().mut_dim().push(dim);
        }
        v
    }

    /// What [`Model::load`] does before handing the graph to wonnx.
    fn prepare(proto: &mut ModelProto) -> Result<(), String> {
        check_initializers(proto.get_graph())?;
        add_zero_conv_biases(proto)
    }

    #[test]
    fn a_conv_weight_with_a_negative_dimension_is_an_error_not_a_panic() {
        let outcome = std::panic::catch_unwind(|| prepare(&mut conv(&[-1, 3, 3, 3], 27)));
        assert!(outcome.is_ok(), "it panicked");
        let why = outcome.unwrap().unwrap_err();
        assert!(why.contains("'w' has a dimension of -1"), "{why}");
    }

    #[test]
    fn a_conv_weight_declaring_more_values_than_it_holds_is_an_error() {
        let outcome = std::panic::catch_unwind(|| prepare(&mut conv(&[1 << 40, 1, 1, 1], 4)));
        assert!(outcome.is_ok(), "it panicked");
        let why = outcome.unwrap().unwrap_err();
        assert!(why.contains("holds 16 bytes"), "{why}");
        // Dimensions whose product overflows are refused as such.
        let why = prepare(&mut conv(&[1 << 40, 1 << 40, 1 << 40], 4)).unwrap_err();
        assert!(why.contains("too many values"), "{why}");
    }

    #[test]
    fn a_conv_weight_without_output_channels_is_an_error() {
        let why = prepare(&mut conv(&[0, 3, 3, 3], 0)).unwrap_err();
        assert!(why.contains("0 output channels"), "{why}");
    }

    #[test]
    fn a_conv_weight_that_agrees_with_its_data_gets_its_zero_bias() {
        let mut proto = conv(&[2, 1, 3, 3], 18);
        prepare(&mut proto).unwrap();
        let graph = proto.get_graph();
        assert_eq!(graph.get_node()[0].get_input()[2], "w__mien_zero_bias");
        let bias = &graph.get_initializer()[1];
        assert_eq!(
            (bias.get_dims(), bias.get_float_data()),
            (&[2][..], &[0.0, 0.0][..])
        );
        // Raw little-endian data counts the same.
        let mut proto = conv(&[2, 1, 3, 3], 0);
        let w = &mut proto.mut_graph().mut_initializer()[0];
        w.set_raw_data(vec![0; 18 * 4]);
        prepare(&mut proto).unwrap();
        // One byte short of them is not.
        let mut proto = conv(&[2, 1, 3, 3], 0);
        proto.mut_graph().mut_initializer()[0].set_raw_data(vec![0; 18 * 4 - 1]);
        assert!(prepare(&mut proto).unwrap_err().contains("holds 71 bytes"));
    }

    #[test]
    fn a_declared_shape_too_large_to_count_is_an_error() {
        let huge = value("x", &[1 << 40, 1 << 40]);
        let why = declared_shape(&huge, true).unwrap_err();
        assert!(why.contains("too many values"), "{why}");
    }

    #[test]
    fn a_declared_dimension_below_one_is_named() {
        for d in [0, -3] {
            let why = declared_shape(&value("x", &[1, d, 4]), false).unwrap_err();
            assert!(why.contains(&format!("a dimension of {d}")), "{why}");
        }
        assert_eq!(
            declared_shape(&value("x", &[1, 3, 4]), true).unwrap(),
            ("x".to_string(), vec![1, 3, 4])
        );
    }
}
