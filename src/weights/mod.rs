//! Compact weights: the classifier's file stores its large weights as float16 or int8,
//! each followed by the standard ONNX node that turns them back into float32 (`Cast`,
//! `DequantizeLinear`), so any ONNX runtime runs the file as is. mien's own runtimes
//! get the file [`expand`]ed: a plain float32 graph with exactly the values those nodes
//! produce (wonnx has neither float16 nor int8 and needs every Conv weight to be an
//! initializer; tract then sees the graph it was tested on). So the browser's engines,
//! the native evaluation and onnxruntime all compute with the same weights.

pub mod float16;
pub mod int8;

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::onnx::{GraphProto, ModelProto, NodeProto, TensorProto, FLOAT};

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

/// The most bytes a model may take once its compact weights are expanded to float32
/// (the whole file, as mien's runtimes get it). The served classifier takes about
/// 11 MB; a browser tab holds the expanded file a few times over while loading it (the
/// page's copy, the worker's, the runtime's), so this keeps it well inside the 4 GB a
/// WebAssembly module can address. Checked from the tensors' dimensions before
/// anything is expanded.
pub const MAX_EXPANDED_BYTES: u64 = 512 * 1_048_576;

/// Why compact weights could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// The expanded file would take `needed` bytes, more than `limit`
    /// ([`MAX_EXPANDED_BYTES`]); nothing was expanded.
    TooLarge { needed: u64, limit: u64 },
    /// Not a readable ONNX file, or a compact weight that is damaged: why.
    Invalid(String),
}

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpandError::TooLarge { needed, limit } => write!(
                f,
                "this model would need {} MB once expanded (its compact weights as float32); \
                 the most mien loads is {} MB",
                needed.div_ceil(1_048_576),
                limit / 1_048_576
            ),
            ExpandError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ExpandError {}

impl From<ExpandError> for String {
    fn from(e: ExpandError) -> String {
        e.to_string()
    }
}

/// Turns every float16 or int8 weight back into the float32 initializer its `Cast` or
/// `DequantizeLinear` computes (once per distinct computation, however many nodes ask
/// for it). Returns how many nodes were replaced. A model that would take more than
/// [`MAX_EXPANDED_BYTES`] expanded is refused before anything is expanded.
pub fn expand(model: &mut ModelProto) -> Result<usize, ExpandError> {
    expand_nodes(model, plan_any)
}

/// [`float16::plan`] or [`int8::plan`], whichever applies.
fn plan_any<'g>(
    initializers: &Initializers<'g>,
    node: &'g NodeProto,
) -> Result<Option<Planned<'g>>, ExpandError> {
    match float16::plan(initializers, node)? {
        Some(planned) => Ok(Some(planned)),
        None => int8::plan(initializers, node),
    }
}

/// [`expand`] on a file's bytes; the bytes come back untouched when the file has no
/// compact weights.
pub fn expand_bytes(bytes: Vec<u8>) -> Result<Vec<u8>, ExpandError> {
    let mut model =
        ModelProto::decode_bytes(&bytes).map_err(|e| ExpandError::Invalid(e.to_string()))?;
    if expand(&mut model)? == 0 {
        return Ok(bytes);
    }
    // The file's bytes are not needed beside the expanded model and its encoding.
    drop(bytes);
    Ok(model.to_bytes())
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

/// How many values a compact tensor of these dimensions would expand to, counted
/// without overflow (`u64::MAX` for more than that); Err for a negative dimension.
fn expanded_count(name: &str, dims: &[i64]) -> Result<u64, ExpandError> {
    dims.iter().try_fold(1u64, |n, &d| match u64::try_from(d) {
        Ok(d) => Ok(n.saturating_mul(d)),
        Err(_) => Err(ExpandError::Invalid(format!(
            "the tensor `{name}` has a negative dimension ({d})"
        ))),
    })
}

/// A graph's initializers, found by name in constant time.
pub(super) struct Initializers<'g> {
    list: &'g [TensorProto],
    by_name: HashMap<&'g str, usize>,
}

impl<'g> Initializers<'g> {
    fn new(list: &'g [TensorProto]) -> Self {
        let mut by_name = HashMap::with_capacity(list.len());
        for (at, t) in list.iter().enumerate() {
            by_name.entry(t.name.as_str()).or_insert(at);
        }
        Initializers { list, by_name }
    }

    /// The index of the initializer of this name, if it has this type.
    fn find(&self, name: &str, data_type: i32) -> Option<usize> {
        let at = *self.by_name.get(name)?;
        (self.list[at].data_type == data_type).then_some(at)
    }

    fn get(&self, at: usize) -> &'g TensorProto {
        &self.list[at]
    }
}

/// A node whose float32 output can be computed from a stored initializer: what it
/// reads and how much it gives, known from the dimensions alone, and the computation
/// itself, run only once the whole graph is known to fit [`MAX_EXPANDED_BYTES`].
pub(super) struct Planned<'g> {
    /// The index of the stored initializer it reads; the output has its dimensions.
    source: usize,
    /// What besides the node's type and inputs decides its values (DequantizeLinear's
    /// axis), so that nodes computing the same values are expanded once.
    variant: i64,
    /// How many float32 values it gives.
    values: u64,
    /// Those values as little-endian `raw_data`; Err: the stored tensor is damaged.
    compute: Box<dyn FnOnce() -> Result<Vec<u8>, ExpandError> + 'g>,
}

impl<'g> Planned<'g> {
    pub(super) fn new(
        source: usize,
        variant: i64,
        values: u64,
        compute: impl FnOnce() -> Result<Vec<u8>, ExpandError> + 'g,
    ) -> Self {
        Planned {
            source,
            variant,
            values,
            compute: Box::new(compute),
        }
    }
}

/// Replaces each single-output node that `plan` recognises by a float32 initializer
/// holding its values under the node's output name. Nodes computing the same values
/// (same type, inputs and [`Planned::variant`]) share one initializer, under the first
/// one's output: later nodes read it instead (a graph output among them gets an
/// `Identity` of it). The initializer takes the stored tensor's place (so a
/// stored-then-expanded graph lists its initializers in the original order) unless a
/// remaining node still reads that tensor. The whole graph is planned before anything
/// is computed, so a model larger than [`MAX_EXPANDED_BYTES`] once expanded is
/// refused without allocating; everything is found by name in constant time, so the
/// work is linear in the size of the graph. Returns how many nodes were replaced.
fn expand_nodes(
    model: &mut ModelProto,
    plan: impl for<'g> Fn(&Initializers<'g>, &'g NodeProto) -> Result<Option<Planned<'g>>, ExpandError>,
) -> Result<usize, ExpandError> {
    let file = model.encoded_len() as u64;
    let Some(graph) = model.graph.as_mut() else {
        return Ok(0);
    };
    // One expansion per distinct computation: its output name, its source, the
    // tensor's dimensions and its raw float32 data once computed.
    struct Expansion {
        name: String,
        source: usize,
        dims: Vec<i64>,
        raw: Vec<u8>,
        in_place: bool,
    }
    let (replaced, expansions, aliases) = {
        let g: &GraphProto = graph;
        let initializers = Initializers::new(&g.initializer);
        let mut groups: HashMap<(&str, &[String], i64), usize> = HashMap::new();
        let mut planned: Vec<(&str, Planned)> = Vec::new();
        let mut replaced = vec![false; g.node.len()];
        // Output of a node that computes what an earlier one does -> that one's output.
        let mut aliases: HashMap<String, String> = HashMap::new();
        for (i, node) in g.node.iter().enumerate() {
            let [output] = node.output.as_slice() else {
                continue;
            };
            let Some(p) = plan(&initializers, node)? else {
                continue;
            };
            replaced[i] = true;
            let key = (node.op_type.as_str(), node.input.as_slice(), p.variant);
            match groups.get(&key) {
                Some(&group) => {
                    aliases.insert(output.clone(), planned[group].0.to_string());
                }
                None => {
                    groups.insert(key, planned.len());
                    planned.push((output.as_str(), p));
                }
            }
        }
        if planned.is_empty() {
            return Ok(0);
        }
        // A stored tensor still read by a remaining node (or named as a graph output)
        // stays; otherwise the last expansion of it takes its place.
        let read: HashSet<&str> = g
            .node
            .iter()
            .zip(&replaced)
            .filter(|(_, &r)| !r)
            .flat_map(|(n, _)| n.input.iter().map(String::as_str))
            .chain(g.output.iter().map(|v| v.name.as_str()))
            .collect();
        let mut last_of: HashMap<usize, usize> = HashMap::new();
        for (k, (_, p)) in planned.iter().enumerate() {
            last_of.insert(p.source, k);
        }
        let in_place = |k: usize, source: usize| {
            last_of[&source] == k && !read.contains(initializers.get(source).name.as_str())
        };
        let mut needed = file;
        for (k, (_, p)) in planned.iter().enumerate() {
            needed = needed.saturating_add(p.values.saturating_mul(4));
            if in_place(k, p.source) {
                needed = needed.saturating_sub(initializers.get(p.source).encoded_len() as u64);
            }
        }
        if needed > MAX_EXPANDED_BYTES {
            return Err(ExpandError::TooLarge {
                needed,
                limit: MAX_EXPANDED_BYTES,
            });
        }
        let mut expansions = Vec::with_capacity(planned.len());
        for (k, (name, p)) in planned.into_iter().enumerate() {
            let in_place = in_place(k, p.source);
            expansions.push(Expansion {
                name: name.to_string(),
                source: p.source,
                dims: initializers.get(p.source).dims.clone(),
                raw: (p.compute)()?,
                in_place,
            });
        }
        (replaced, expansions, aliases)
    };

    let count = replaced.iter().filter(|&&r| r).count();
    // The remaining nodes in one pass, reading each shared expansion by its name; a
    // graph output that was a later node's gets an Identity of it.
    let outputs: HashSet<&str> = graph.output.iter().map(|v| v.name.as_str()).collect();
    let mut nodes: Vec<NodeProto> = aliases
        .iter()
        .filter(|(alias, _)| outputs.contains(alias.as_str()))
        .map(|(alias, name)| {
            NodeProto::new(
                "Identity",
                &format!("{alias}.identity"),
                &[name],
                &[alias],
                vec![],
            )
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes.reserve(graph.node.len() - count);
    for (mut node, replaced) in std::mem::take(&mut graph.node).into_iter().zip(replaced) {
        if replaced {
            continue;
        }
        for input in &mut node.input {
            if let Some(name) = aliases.get(input) {
                input.clone_from(name);
            }
        }
        nodes.push(node);
    }
    graph.node = nodes;
    if !aliases.is_empty() {
        graph
            .value_info
            .retain(|v| outputs.contains(v.name.as_str()) || !aliases.contains_key(&v.name));
    }
    for e in expansions {
        let tensor = TensorProto {
            name: e.name,
            dims: e.dims,
            data_type: FLOAT,
            raw_data: e.raw,
            ..Default::default()
        };
        if e.in_place {
            graph.initializer[e.source] = tensor;
        } else {
            graph.initializer.push(tensor);
        }
    }
    Ok(count)
}

/// Float32 values as little-endian `raw_data`, written once into a buffer of the
/// right size.
pub(super) fn f32_raw(count: usize, values: impl Iterator<Item = f32>) -> Vec<u8> {
    let mut raw = Vec::with_capacity(count * 4);
    for v in values {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    raw
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

    /// `readers` DequantizeLinear nodes reading one int8 weight `w.q` of `dims`, node
    /// `k` giving `w{k}` (read by an `Add` of its own, `y{k}`); with `shared_scale` all
    /// read one scale `w.scale` (so they compute the same values), otherwise each its
    /// own scalar `s{k}`. `w5` is also a graph output.
    fn many_readers(readers: usize, dims: &[i64], raw: Vec<u8>, shared_scale: bool) -> ModelProto {
        use crate::onnx::{ValueInfoProto, INT8};
        let mut initializer = vec![TensorProto {
            name: "w.q".into(),
            dims: dims.to_vec(),
            data_type: INT8,
            raw_data: raw,
            ..Default::default()
        }];
        if shared_scale {
            initializer.push(TensorProto::from_f32("w.scale", &[], &[0.5]));
        }
        let mut dequantize = Vec::new();
        let mut add = Vec::new();
        for k in 0..readers {
            let (w, y, scale) = (format!("w{k}"), format!("y{k}"), format!("s{k}"));
            let scale = if shared_scale {
                "w.scale".to_string()
            } else {
                initializer.push(TensorProto::from_f32(&scale, &[], &[k as f32 + 1.0]));
                scale
            };
            dequantize.push(NodeProto::new(
                "DequantizeLinear",
                &format!("dq{k}"),
                &["w.q", &scale],
                &[&w],
                vec![],
            ));
            add.push(NodeProto::new(
                "Add",
                &format!("add{k}"),
                &["x", &w],
                &[&y],
                vec![],
            ));
        }
        dequantize.append(&mut add);
        ModelProto {
            ir_version: 7,
            graph: Some(GraphProto {
                name: "many".into(),
                node: dequantize,
                initializer,
                input: vec![ValueInfoProto::f32_tensor("x", dims)],
                output: vec![
                    ValueInfoProto::f32_tensor("y0", dims),
                    ValueInfoProto::f32_tensor("w5", dims),
                ],
                ..Default::default()
            }),
            opset_import: vec![crate::onnx::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            ..Default::default()
        }
    }

    /// tract computes the same outputs from a graph whose readers share one expanded
    /// weight (a graph output among them included) as from the file as is.
    #[cfg(feature = "cpu")]
    #[test]
    fn readers_of_a_shared_expansion_compute_what_they_did() {
        use crate::cpu::{CpuModel, TensorF32};
        let raw: Vec<u8> = (0..64 * 32)
            .map(|i: i32| (i % 200 - 100) as i8 as u8)
            .collect();
        let stored = many_readers(8, &[64, 32], raw, true);
        let mut expanded = stored.clone();
        assert_eq!(expand(&mut expanded).unwrap(), 8);
        let x = TensorF32 {
            shape: vec![64, 32],
            data: (0..64 * 32).map(|i| (i as f32 * 0.37).sin()).collect(),
        };
        let run = |m: &ModelProto| {
            let outputs = CpuModel::load(&m.to_bytes())
                .unwrap()
                .run(std::slice::from_ref(&x))
                .unwrap();
            outputs.into_iter().map(|t| t.data).collect::<Vec<_>>()
        };
        let (before, after) = (run(&stored), run(&expanded));
        assert_eq!(after.len(), 2);
        assert_eq!(before, after);
    }

    /// 20,000 DequantizeLinear nodes computing the same values from one stored weight
    /// give one float32 copy of it, not 20,000, which every reader then reads.
    #[test]
    fn a_weight_read_by_many_nodes_is_expanded_once() {
        let readers = 20_000;
        let raw: Vec<u8> = (0..64 * 32)
            .map(|i: i32| (i % 200 - 100) as i8 as u8)
            .collect();
        let mut m = many_readers(readers, &[64, 32], raw, true);
        assert_eq!(expand(&mut m).unwrap(), readers);
        let g = m.graph.as_ref().unwrap();
        let copies: Vec<&str> = g
            .initializer
            .iter()
            .filter(|t| t.data_type == FLOAT && t.dims == [64, 32])
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(copies.len(), 1, "float32 copies of the weight");
        assert!(g.node.iter().all(|n| n.op_type != "DequantizeLinear"));
        let adds: Vec<&NodeProto> = g.node.iter().filter(|n| n.op_type == "Add").collect();
        assert_eq!(adds.len(), readers);
        assert!(adds.iter().all(|n| n.input == ["x", copies[0]]));
        let w = g.initializer.iter().find(|t| t.name == copies[0]).unwrap();
        assert_eq!(w.f32_values().unwrap()[..3], [-50.0, -49.5, -49.0]);
        // A graph output among the readers' outputs is still computed.
        assert!(
            copies[0] == "w5"
                || g.node
                    .iter()
                    .any(|n| n.output == ["w5"] && n.input == [copies[0]])
        );
    }

    /// A file whose weights would take more than the bound once expanded is refused
    /// with a sentence saying so, from its dimensions, before anything is allocated:
    /// dimensions of 10^10 values (with hardly any data behind them), and 150 nodes
    /// each computing its own 4 MB float32 copy of one 1 MB int8 weight.
    #[test]
    fn a_file_too_large_once_expanded_is_refused_before_allocating() {
        use crate::onnx::FLOAT16;
        let huge = [100_000, 100_000];
        let mut int8 = many_readers(1, &huge, vec![0; 16], true);
        let mut float16 = int8.clone();
        let g = float16.graph.as_mut().unwrap();
        g.initializer[0].data_type = FLOAT16;
        g.node[0] = NodeProto::new(
            "Cast",
            "cast",
            &["w.q"],
            &["w0"],
            vec![crate::onnx::AttributeProto::int("to", FLOAT as i64)],
        );
        let mut copies = many_readers(150, &[1000, 1000], vec![1; 1_000_000], false);
        for (what, m) in [
            ("int8", &mut int8),
            ("float16", &mut float16),
            ("150 copies", &mut copies),
        ] {
            let why = expand(m).unwrap_err();
            assert!(
                matches!(why, ExpandError::TooLarge { needed, limit: MAX_EXPANDED_BYTES } if needed > MAX_EXPANDED_BYTES),
                "{what}: {why:?}"
            );
            let why = why.to_string();
            assert!(
                why.contains("once expanded") && why.contains("MB"),
                "{what}: {why}"
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
