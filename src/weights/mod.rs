//! Compact weights: the classifier's file stores its large weights as float16 or int8,
//! each followed by the standard ONNX node that turns them back into float32 (`Cast`,
//! `DequantizeLinear`), so any ONNX runtime runs the file as is. mien's own runtimes
//! get the file [`expand`]ed: a plain float32 graph with exactly the values those nodes
//! produce (wonnx has neither float16 nor int8 and needs every Conv weight to be an
//! initializer; tract then sees the graph it was tested on). So the browser's engines,
//! the native evaluation and onnxruntime all compute with the same weights.

pub mod float16;
pub mod int8;

use crate::onnx::{GraphProto, ModelProto, NodeProto, TensorProto};

/// Initializers with fewer values stay float32: biases and small constants cost little
/// and keep full precision.
pub const MIN_VALUES: usize = 1024;

/// How the large weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// As trained.
    Float32,
    /// Half the bytes; rounding to float16 (11 significant bits).
    Float16,
    /// A quarter of the bytes; 8 bits per weight with a scale per output channel.
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "float32" => Ok(Precision::Float32),
            "float16" => Ok(Precision::Float16),
            "int8" => Ok(Precision::Int8),
            _ => Err(format!(
                "{s}: the weights are stored as float32, float16 or int8"
            )),
        }
    }
}

/// What [`store`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Initializers now stored in the smaller type.
    pub tensors: usize,
    /// Their values.
    pub values: usize,
}

/// Stores the large float32 weights of `model` at `precision` (see [`float16`] and
/// [`int8`]); float32 changes nothing.
pub fn store(model: &mut ModelProto, precision: Precision) -> Result<Stored, String> {
    match precision {
        Precision::Float32 => Ok(Stored::default()),
        Precision::Float16 => float16::store_float16(model),
        Precision::Int8 => int8::store_int8(model, int8::CLASSIFIER_STEPS),
    }
}

/// Turns every float16 or int8 weight back into the float32 initializer its `Cast` or
/// `DequantizeLinear` computes. Returns how many were expanded.
pub fn expand(model: &mut ModelProto) -> Result<usize, String> {
    Ok(float16::expand_float16(model)? + int8::expand_int8(model)?)
}

/// [`expand`] on a file's bytes; the bytes come back untouched when the file has no
/// compact weights.
pub fn expand_bytes(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut model = ModelProto::decode_bytes(&bytes).map_err(|e| e.to_string())?;
    Ok(if expand(&mut model)? == 0 {
        bytes
    } else {
        model.to_bytes()
    })
}

/// Rewrites each float32 initializer of at least [`MIN_VALUES`] values, all finite, that
/// `compact(name, dims, values)` accepts: it gives the tensors that replace it (the first
/// takes its place, the others go after every initializer) and the node that computes it
/// back under its name. Those nodes read only initializers, so they go before the
/// graph's own and the node list stays in topological order.
fn store_each(
    model: &mut ModelProto,
    compact: impl Fn(&str, &[i64], &[f32]) -> Option<(Vec<TensorProto>, NodeProto)>,
) -> Result<Stored, String> {
    let graph = model.graph.as_mut().ok_or("the ONNX file has no graph")?;
    let mut nodes = Vec::new();
    let mut extra = Vec::new();
    let mut stored = Stored::default();
    for tensor in &mut graph.initializer {
        let Some(values) = tensor.f32_values() else {
            continue;
        };
        if values.len() < MIN_VALUES || values.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let Some((tensors, node)) = compact(&tensor.name, &tensor.dims, &values) else {
            continue;
        };
        let mut tensors = tensors.into_iter();
        let Some(first) = tensors.next() else {
            continue;
        };
        *tensor = first;
        extra.extend(tensors);
        nodes.push(node);
        stored.tensors += 1;
        stored.values += values.len();
    }
    graph.initializer.append(&mut extra);
    nodes.append(&mut graph.node);
    graph.node = nodes;
    Ok(stored)
}

/// How many values a tensor of these dimensions holds; None for a negative dimension
/// or a count beyond `usize`.
fn element_count(dims: &[i64]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))
}

/// Replaces each single-output node for which `values_of` gives (the index of the
/// stored initializer it reads, the float32 values it computes) by a float32
/// initializer holding those values under the node's output name. It takes the stored
/// tensor's place (so a stored-then-expanded graph lists its initializers in the
/// original order) unless another node still reads that tensor. Returns how many nodes
/// were replaced.
fn expand_nodes(
    model: &mut ModelProto,
    values_of: impl Fn(&GraphProto, &NodeProto) -> Result<Option<(usize, Vec<f32>)>, String>,
) -> Result<usize, String> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(0);
    };
    let mut expanded = 0;
    let mut i = 0;
    while i < graph.node.len() {
        let found = match &graph.node[i] {
            node if node.output.len() == 1 => values_of(graph, node)?,
            _ => None,
        };
        let Some((at, values)) = found else {
            i += 1;
            continue;
        };
        let node = graph.node.remove(i);
        let full = TensorProto::from_f32(&node.output[0], &graph.initializer[at].dims, &values);
        let source = &graph.initializer[at].name;
        if graph.node.iter().any(|n| n.input.contains(source)) {
            graph.initializer.push(full);
        } else {
            graph.initializer[at] = full;
        }
        expanded += 1;
    }
    Ok(expanded)
}

/// [`store`] for a classifier carrying mien's contract, whose self-test logits
/// ([`crate::contract::ModelContract::self_test_logits`]) are then replaced by what the
/// stored file computes (tract, on the expanded graph, as mien's runtimes run it), so a
/// runtime's self-test checks the file it runs. Returns what was stored and how far the
/// self-test logits moved.
#[cfg(feature = "cpu")]
pub fn store_classifier(
    model: &mut ModelProto,
    precision: Precision,
) -> Result<(Stored, f32), String> {
    use crate::contract::{self_test_input, ModelContract};
    use crate::cpu::{CpuModel, TensorF32};
    let mut contract = ModelContract::read_from(model).map_err(|e| e.to_string())?;
    let stored = store(model, precision)?;
    let input = TensorF32 {
        shape: contract.input_shape().to_vec(),
        data: self_test_input(&contract),
    };
    let logits = CpuModel::load(&expand_bytes(model.to_bytes())?)?
        .run(&[input])?
        .swap_remove(0)
        .data;
    let moved = match &contract.self_test_logits {
        Some(before) => before
            .iter()
            .zip(&logits)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max),
        None => 0.0,
    };
    contract.self_test_logits = Some(logits);
    contract.write_to(model);
    Ok((stored, moved))
}

#[cfg(test)]
mod tests {
    use super::fixture::model;
    #[cfg(feature = "cpu")]
    use super::fixture::{run_as_is, run_expanded};
    use super::*;
    use crate::onnx::FLOAT;

    /// Only the large weight is stored compactly, the file shrinks by the type's ratio
    /// (plus int8's scales and zero points), and storing again changes nothing.
    #[test]
    fn each_type_stores_the_large_weights_once() {
        let (original, _) = model();
        let size = original.to_bytes().len();
        for (precision, at_most) in [(Precision::Float16, 0.6), (Precision::Int8, 0.35)] {
            let mut stored = original.clone();
            let expected = Stored {
                tensors: 1,
                values: 2048,
            };
            assert_eq!(store(&mut stored, precision).unwrap(), expected);
            let bias = stored
                .graph
                .as_ref()
                .unwrap()
                .initializer
                .iter()
                .find(|t| t.name == "b");
            assert_eq!(
                bias.unwrap().data_type,
                FLOAT,
                "{precision:?}: a 32-value bias stays float32"
            );
            let ratio = stored.to_bytes().len() as f64 / size as f64;
            assert!(
                ratio < at_most,
                "{precision:?}: {ratio:.2} of the float32 file"
            );
            let mut again = stored.clone();
            assert_eq!(store(&mut again, precision).unwrap(), Stored::default());
            assert_eq!(
                again, stored,
                "{precision:?}: storing twice changed the file"
            );
        }
    }

    /// tract given a stored file as is (its own Cast or DequantizeLinear, as any ONNX
    /// runtime would be) computes exactly what mien's runtimes compute on the expanded
    /// graph, and both stay within the storage type's rounding of the float32 output.
    #[cfg(feature = "cpu")]
    #[test]
    fn tract_runs_each_stored_file_as_is_with_the_expanded_numbers() {
        let (original, _) = model();
        // Int8's steps here are a twelfth of each row's root mean square, about 0.33.
        for (precision, tolerance) in [(Precision::Float16, 0.05), (Precision::Int8, 1.0)] {
            let mut stored = original.clone();
            store(&mut stored, precision).unwrap();
            let mut expanded = stored.clone();
            assert_eq!(expand(&mut expanded).unwrap(), 1);
            assert_eq!(run_as_is(&stored), run_expanded(&expanded), "{precision:?}");
            assert_eq!(
                run_expanded(&stored),
                run_expanded(&expanded),
                "{precision:?}"
            );
            let diff = run_expanded(&original)
                .iter()
                .zip(&run_expanded(&stored))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                diff > 0.0 && diff < tolerance,
                "{precision:?} weights moved the output by {diff}"
            );
        }
    }
}

/// A small graph and tract runs of it, for the tests of both storage types.
#[cfg(test)]
mod fixture {
    use crate::onnx::{
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto,
    };

    /// `y = x @ w + b`, x [1, 64], w [64, 32] (2048 values: stored compactly), b [32].
    pub fn model() -> (ModelProto, Vec<f32>) {
        let w: Vec<f32> = (0..64 * 32)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.3)
            .collect();
        let graph = GraphProto {
            name: "fc".into(),
            node: vec![
                NodeProto::new("MatMul", "mm", &["x", "w"], &["h"], vec![]),
                NodeProto::new("Add", "add", &["h", "b"], &["y"], vec![]),
            ],
            initializer: vec![
                TensorProto::from_f32("w", &[64, 32], &w),
                TensorProto::from_f32(
                    "b",
                    &[32],
                    &(0..32).map(|i| i as f32 * 0.1).collect::<Vec<_>>(),
                ),
            ],
            input: vec![ValueInfoProto::f32_tensor("x", &[1, 64])],
            output: vec![ValueInfoProto::f32_tensor("y", &[1, 32])],
            value_info: vec![ValueInfoProto::f32_tensor("h", &[1, 32])],
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: 7,
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            ..Default::default()
        };
        (model, w)
    }

    #[cfg(feature = "cpu")]
    fn input() -> Vec<f32> {
        (0..64).map(|i| (i as f32 * 0.37).sin()).collect()
    }

    /// `y` computed by tract on the expanded graph, as mien's runtimes run it.
    #[cfg(feature = "cpu")]
    pub fn run_expanded(m: &ModelProto) -> Vec<f32> {
        let bytes = super::expand_bytes(m.to_bytes()).unwrap();
        run(crate::cpu::CpuModel::load(&bytes).unwrap())
    }

    /// `y` computed by tract given the file as is, with its Cast or DequantizeLinear
    /// nodes, as any ONNX runtime would be.
    #[cfg(feature = "cpu")]
    pub fn run_as_is(m: &ModelProto) -> Vec<f32> {
        run(crate::cpu::CpuModel::load(&m.to_bytes()).unwrap())
    }

    #[cfg(feature = "cpu")]
    fn run(model: crate::cpu::CpuModel) -> Vec<f32> {
        let x = crate::cpu::TensorF32 {
            shape: vec![1, 64],
            data: input(),
        };
        model.run(&[x]).unwrap().swap_remove(0).data
    }
}
