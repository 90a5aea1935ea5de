//! Float16 weights: an ONNX file half the size of float32 that every ONNX runtime still
//! runs as is.
//!
//! [`store_float16`] rewrites each large float32 initializer `w` as a float16 initializer
//! `w.f16` followed by a `Cast(to = FLOAT)` node whose output is `w`: the rest of the
//! graph is untouched, and onnxruntime (or any runtime) folds the Cast when it loads the
//! file. [`expand_float16`] undoes the rewrite, giving a plain float32 graph with exactly
//! the values those Casts produce: mien's runtimes get that graph (wonnx has no float16
//! and needs every Conv weight to be an initializer; tract then sees the graph it was
//! tested on), so the browser's engines, the native evaluation and onnxruntime all
//! compute with the same weights.

use super::{ExpandError, Initializers, Planned, Stored};
use crate::onnx::{attr_type, AttributeProto, ModelProto, NodeProto, TensorProto, FLOAT, FLOAT16};
use half::f16;

/// Appended to an initializer's name for its float16 copy.
const SUFFIX: &str = ".f16";

/// Stores every float32 initializer of at least [`super::MIN_VALUES`] values as float16 plus a
/// `Cast` back to float32 (rounding to nearest). A tensor with a value beyond float16's
/// range (65504) stays float32. Running it again changes nothing.
pub fn store_float16(model: &mut ModelProto) -> Result<Stored, String> {
    super::store_each(model, |name, dims, values| {
        if values.iter().any(|v| v.abs() > f16::MAX.to_f32()) {
            return None;
        }
        let half_name = format!("{name}{SUFFIX}");
        let half = TensorProto {
            name: half_name.clone(),
            dims: dims.to_vec(),
            data_type: FLOAT16,
            raw_data: values
                .iter()
                .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                .collect(),
            ..Default::default()
        };
        let cast = NodeProto::new(
            "Cast",
            &format!("{name}.cast"),
            &[&half_name],
            &[name],
            vec![AttributeProto::int("to", FLOAT as i64)],
        );
        Some((vec![half], cast))
    })
}

/// Replaces each `Cast(to = FLOAT)` of a float16 initializer by a float32 initializer
/// holding the cast's values, under the cast's output name (where the float16 tensor
/// was, so a stored-then-expanded graph lists its initializers in the original order;
/// see [`super::expand`], which does this and the int8 expansion in one pass).
/// Returns how many nodes were replaced; a graph without any is left as it was.
pub fn expand_float16(model: &mut ModelProto) -> Result<usize, ExpandError> {
    super::expand_nodes(model, plan)
}

/// A `Cast(to = FLOAT)` of a float16 initializer: what it reads and how many values it
/// gives, and the conversion to run once the graph is known to fit.
pub(super) fn plan<'g>(
    initializers: &Initializers<'g>,
    node: &'g NodeProto,
) -> Result<Option<Planned<'g>>, ExpandError> {
    let to_float = node
        .attribute
        .iter()
        .any(|a| a.name == "to" && a.r#type == attr_type::INT && a.i == FLOAT as i64);
    if node.op_type != "Cast" || !to_float || node.input.len() != 1 {
        return Ok(None);
    }
    let Some(at) = initializers.find(&node.input[0], FLOAT16) else {
        return Ok(None);
    };
    let half = initializers.get(at);
    let values = super::expanded_count(&half.name, &half.dims)?;
    Ok(Some(Planned::new(at, 0, values, move || {
        f32_raw_of_f16(half).ok_or_else(|| {
            ExpandError::Invalid(format!("the float16 tensor `{}` is damaged", half.name))
        })
    })))
}

/// The values of a float16 tensor (raw little-endian bytes, or `int32_data` holding the
/// bit patterns, as the ONNX spec allows) as float32 `raw_data`, checked against its
/// dimensions.
fn f32_raw_of_f16(t: &TensorProto) -> Option<Vec<u8>> {
    let count = super::element_count(&t.dims)?;
    if t.int32_data.is_empty() {
        if Some(t.raw_data.len()) != count.checked_mul(2) {
            return None;
        }
        Some(super::f32_raw(
            count,
            t.raw_data
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()),
        ))
    } else {
        if t.int32_data.len() != count {
            return None;
        }
        Some(super::f32_raw(
            count,
            t.int32_data
                .iter()
                .map(|&b| f16::from_bits(b as u16).to_f32()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::model;
    use super::*;

    #[test]
    fn stored_file_expands_to_the_rounded_float32_graph() {
        let (original, w) = model();
        let mut half = original.clone();
        store_float16(&mut half).unwrap();
        let g = half.graph.as_ref().unwrap();
        assert_eq!(g.node[0].op_type, "Cast");
        assert_eq!(g.initializer[0].data_type, FLOAT16);

        let mut back = half.clone();
        assert_eq!(expand_float16(&mut back).unwrap(), 1);
        let mut expected = original.clone();
        let rounded: Vec<f32> = w.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
        expected.graph.as_mut().unwrap().initializer[0] =
            TensorProto::from_f32("w", &[64, 32], &rounded);
        assert_eq!(back, expected);
        let worst = w
            .iter()
            .zip(&rounded)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-3))
            .fold(0.0, f32::max);
        assert!(worst <= 1.0 / 2048.0, "relative rounding error {worst}");
        // A file without float16 comes back byte for byte.
        let plain = original.to_bytes();
        assert_eq!(super::super::expand_bytes(plain.clone()).unwrap(), plain);
    }

    #[test]
    fn damaged_float16_data_is_a_sentence() {
        let (mut m, _) = model();
        store_float16(&mut m).unwrap();
        m.graph.as_mut().unwrap().initializer[0].raw_data.pop();
        assert!(expand_float16(&mut m)
            .unwrap_err()
            .to_string()
            .contains("damaged"));
    }
}
