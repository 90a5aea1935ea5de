//! Int8 weights: an ONNX file a quarter of float32's size that every ONNX runtime
//! still runs as is.
//!
//! [`store_int8`] rewrites each large float32 weight `w` (rank 2 or more) as an int8
//! initializer `w.q` with one float32 scale per output channel (axis 0, the step
//! between levels: [`Steps`]) and a zero point of 0, followed by a `DequantizeLinear(axis = 0)` node whose output is `w`
//! (symmetric, per-channel: the scheme onnxruntime's own weight quantizer uses). Any
//! runtime folds that node when it loads the file. [`expand_int8`] undoes the rewrite,
//! giving a plain float32 graph with exactly the values `DequantizeLinear` produces,
//! `q as f32 * scale`: mien's runtimes get that graph, like the float16 one (see
//! [`super::float16`]).

use super::{ExpandError, Initializers, Planned, Stored};
use crate::onnx::{attr_type, AttributeProto, ModelProto, NodeProto, TensorProto, FLOAT, INT8};

/// Appended to a weight's name for its int8 values, its scales and its zero points.
const SUFFIXES: [&str; 3] = [".q", ".scale", ".zero"];

/// How far apart the int8 levels are, per output channel (the channel's scale).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Steps {
    /// `largest / 127`: the finest levels that keep every value (onnxruntime's weight
    /// quantizer does the same). BlazeFace uses them: with 12 per root mean square its
    /// `Back` model found 2 of 60 faces a twentieth of a photo high instead of 7
    /// (`measure_detection_by_face_size` in tests/face_detection.rs), for 10% fewer bytes.
    Finest,
    /// This many levels per root mean square of the channel's weights, or
    /// [`Steps::Finest`] where that is coarser (so no value is clipped). The file is
    /// served compressed, and a compressor spends bits on how many levels a channel's
    /// weights really take, not on the 8 they are stored in.
    PerRms(f32),
}

/// The classifier's steps. Its weights' largest magnitude is typically 4-6 times their
/// root mean square, so the finest steps give about 40 levels per root mean square
/// (7 bits a weight compressed, 2.46 MB gzip); 12 take 5.8 bits (2.03 MB) and read
/// FER2013 val as well (docs/model-card.md, "A smaller download": 8, 10, 12, 16 and the
/// finest measured).
pub const CLASSIFIER_STEPS: Steps = Steps::PerRms(12.0);

impl Steps {
    /// The scale of one output channel's weights; 1 for a channel of zeros.
    fn of(self, channel: &[f32]) -> f32 {
        let largest = channel.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if largest == 0.0 {
            return 1.0;
        }
        let finest = largest / 127.0;
        match self {
            Steps::Finest => finest,
            Steps::PerRms(levels) => {
                let rms =
                    (channel.iter().map(|v| v * v).sum::<f32>() / channel.len() as f32).sqrt();
                finest.max(rms / levels)
            }
        }
    }
}

/// Stores every float32 initializer of at least [`super::MIN_VALUES`] values and rank 2 or more
/// as int8 with a scale per slice along axis 0 (the output channel of a Conv or a
/// transposed Gemm weight) plus a `DequantizeLinear` back to float32. Other tensors
/// (biases, small constants, anything not finite) stay as they are. Running it again
/// changes nothing.
pub fn store_int8(model: &mut ModelProto, steps: Steps) -> Result<Stored, String> {
    super::store_each(model, |name, dims, values| {
        let channels = *dims.first()?;
        if dims.len() < 2 || channels <= 0 {
            return None;
        }
        let per_channel = values.len() / channels as usize;
        let scales: Vec<f32> = values.chunks(per_channel).map(|c| steps.of(c)).collect();
        let quantized: Vec<u8> = values
            .chunks(per_channel)
            .zip(&scales)
            .flat_map(|(c, &s)| {
                c.iter()
                    .map(move |v| (v / s).round().clamp(-127.0, 127.0) as i8 as u8)
            })
            .collect();
        let [q, scale, zero] = SUFFIXES.map(|s| format!("{name}{s}"));
        let int8 = |name: &str, dims: Vec<i64>, raw_data: Vec<u8>| TensorProto {
            name: name.to_string(),
            dims,
            data_type: INT8,
            raw_data,
            ..Default::default()
        };
        let tensors = vec![
            int8(&q, dims.to_vec(), quantized),
            TensorProto::from_f32(&scale, &[channels], &scales),
            int8(&zero, vec![channels], vec![0; channels as usize]),
        ];
        let dequantize = NodeProto::new(
            "DequantizeLinear",
            &format!("{name}.dequantize"),
            &[&q, &scale, &zero],
            &[name],
            vec![AttributeProto::int("axis", 0)],
        );
        Some((tensors, dequantize))
    })
}

/// Replaces each `DequantizeLinear` of an int8 initializer (with float32 scales, per
/// tensor or per axis, and optional int8 zero points) by a float32 initializer holding
/// its values, under the node's output name (see [`super::expand`], which does this and
/// the float16 expansion in one pass). Returns how many nodes were replaced.
pub fn expand_int8(model: &mut ModelProto) -> Result<usize, ExpandError> {
    super::expand_nodes(model, plan)
}

/// A `DequantizeLinear` of an int8 initializer: what it reads and how many values it
/// gives, and the dequantization to run once the graph is known to fit.
pub(super) fn plan<'g>(
    initializers: &Initializers<'g>,
    node: &'g NodeProto,
) -> Result<Option<Planned<'g>>, ExpandError> {
    if node.op_type != "DequantizeLinear" {
        return Ok(None);
    }
    let find = |k: usize, data_type: i32| {
        node.input
            .get(k)
            .and_then(|name| initializers.find(name, data_type))
    };
    let (Some(at), Some(scale_at)) = (find(0, INT8), find(1, FLOAT)) else {
        return Ok(None);
    };
    let zero_at = match node.input.get(2).filter(|n| !n.is_empty()) {
        Some(_) => Some(find(2, INT8).ok_or_else(|| {
            ExpandError::Invalid(format!(
                "`{}`: its zero point is not an int8 tensor",
                node.name
            ))
        })?),
        None => None,
    };
    let axis = node
        .attribute
        .iter()
        .find(|a| a.name == "axis" && a.r#type == attr_type::INT)
        .map_or(1, |a| a.i);
    let q = initializers.get(at);
    let values = super::expanded_count(&q.name, &q.dims)?;
    let scale = initializers.get(scale_at);
    let zero = zero_at.map(|z| initializers.get(z));
    Ok(Some(Planned::new(at, axis, values, move || {
        let damaged = || ExpandError::Invalid(format!("the int8 tensor `{}` is damaged", q.name));
        let scales = scale.f32_values().ok_or_else(damaged)?;
        let zeros: Vec<i8> = match zero {
            Some(z) => z.raw_data.iter().map(|&b| b as i8).collect(),
            None => vec![0; scales.len()],
        };
        dequantize(q, &scales, &zeros, axis).ok_or_else(damaged)
    })))
}

/// `(q - zero) * scale` per element, with one scale and zero point for the whole
/// tensor or one per slice along `axis`, as float32 `raw_data`. None: sizes that do
/// not agree.
fn dequantize(q: &TensorProto, scales: &[f32], zeros: &[i8], axis: i64) -> Option<Vec<u8>> {
    let count = super::element_count(&q.dims)?;
    let dims: Vec<usize> = q.dims.iter().map(|&d| d as usize).collect();
    if q.raw_data.len() != count || zeros.len() != scales.len() || scales.is_empty() {
        return None;
    }
    // Elements sharing a scale come in runs of `inner`, cycling through the channels.
    let (channels, inner) = if scales.len() == 1 {
        (1, count.max(1))
    } else {
        let axis = usize::try_from(if axis < 0 {
            axis + dims.len() as i64
        } else {
            axis
        })
        .ok()?;
        let channels = *dims.get(axis)?;
        (channels, dims[axis + 1..].iter().product::<usize>().max(1))
    };
    if channels != scales.len() {
        return None;
    }
    Some(super::f32_raw(
        count,
        q.raw_data.iter().enumerate().map(|(k, &b)| {
            let c = (k / inner) % channels;
            (f32::from(b as i8) - f32::from(zeros[c])) * scales[c]
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::model;
    use super::*;

    #[test]
    fn stored_file_expands_to_the_dequantized_graph() {
        let (original, w) = model();
        let mut small = original.clone();
        store_int8(&mut small, CLASSIFIER_STEPS).unwrap();
        let g = small.graph.as_ref().unwrap();
        assert_eq!(g.node[0].op_type, "DequantizeLinear");
        assert_eq!(g.node[0].input, ["w.q", "w.scale", "w.zero"]);
        assert_eq!(g.initializer[0].data_type, INT8);

        let mut back = small.clone();
        assert_eq!(expand_int8(&mut back).unwrap(), 1);
        let g = back.graph.as_ref().unwrap();
        assert_eq!(g.node.len(), 2, "the DequantizeLinear is gone");
        assert_eq!(g.initializer[0].name, "w", "in the original's place");
        let got = g.initializer[0].f32_values().unwrap();
        // Each row (axis 0) has its own step, a twelfth of its root mean square, and no
        // value moves more than half a step.
        for (row, (a, b)) in w.chunks(32).zip(got.chunks(32)).enumerate() {
            let rms = (a.iter().map(|v| v * v).sum::<f32>() / 32.0).sqrt();
            let step = CLASSIFIER_STEPS.of(a);
            assert_eq!(step, rms / 12.0, "row {row}");
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= step * 0.5 + 1e-6, "row {row}: {x} -> {y}");
            }
        }
        // Beside the weight, only the scales and zero points were added.
        assert_eq!(g.initializer.len(), 4);
    }

    #[test]
    fn a_channel_with_an_outlier_keeps_it_unclipped() {
        let mut channel = vec![0.01f32; 1000];
        channel[7] = -5.0;
        assert_eq!(CLASSIFIER_STEPS.of(&channel), 5.0 / 127.0);
        assert_eq!(Steps::Finest.of(&channel), 5.0 / 127.0);
        assert_eq!(Steps::PerRms(12.0).of(&[0.0; 8]), 1.0);
    }

    #[test]
    fn a_per_tensor_scale_and_a_missing_zero_point_are_read_as_onnx_says() {
        let (mut m, _) = model();
        let g = m.graph.as_mut().unwrap();
        g.initializer[0] = TensorProto {
            name: "w.q".into(),
            dims: vec![64, 32],
            data_type: INT8,
            raw_data: (0..2048)
                .map(|i: i32| (i % 255 - 127) as i8 as u8)
                .collect(),
            ..Default::default()
        };
        g.initializer
            .push(TensorProto::from_f32("w.scale", &[], &[0.5]));
        g.node.insert(
            0,
            NodeProto::new(
                "DequantizeLinear",
                "dq",
                &["w.q", "w.scale"],
                &["w"],
                vec![],
            ),
        );
        assert_eq!(expand_int8(&mut m).unwrap(), 1);
        let w = m.graph.as_ref().unwrap().initializer[0]
            .f32_values()
            .unwrap();
        assert_eq!(w[0], -63.5);
        assert_eq!(w[254], 63.5);
    }

    #[test]
    fn damaged_int8_data_is_a_sentence() {
        let (mut m, _) = model();
        store_int8(&mut m, Steps::Finest).unwrap();
        m.graph.as_mut().unwrap().initializer[0].raw_data.pop();
        assert!(expand_int8(&mut m)
            .unwrap_err()
            .to_string()
            .contains("damaged"));
        let (mut m, _) = model();
        store_int8(&mut m, Steps::Finest).unwrap();
        let g = m.graph.as_mut().unwrap();
        let scale = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "w.scale")
            .unwrap();
        scale.raw_data.truncate(8);
        scale.dims = vec![2];
        assert!(expand_int8(&mut m)
            .unwrap_err()
            .to_string()
            .contains("damaged"));
    }
}
