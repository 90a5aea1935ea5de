//! The CPU runtime: ONNX models run by tract, natively (evaluation, tests) and in
//! the browser's CPU worker. Tensors in, tensors out; no model knowledge here.

use std::io::Cursor;
use tract_onnx::prelude::*;

pub use crate::tensor::TensorF32;

/// An optimised, ready-to-run ONNX model.
pub struct CpuModel {
    plan: Arc<TypedRunnableModel>,
}

impl CpuModel {
    /// Loads an ONNX file's bytes (static input shapes, as mien's models have) exactly
    /// as given: float16 or int8 weights go through the file's own `Cast` or
    /// `DequantizeLinear` nodes, as in any other ONNX runtime. mien's callers expand
    /// such files first (`mien::weights::expand_bytes`), so tract runs the float32
    /// graph the browser's engines run.
    pub fn load(bytes: &[u8]) -> Result<Self, String> {
        let plan = tract_onnx::onnx()
            .model_for_read(&mut Cursor::new(bytes))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| format!("the CPU runtime cannot load this model: {e}"))?;
        Ok(CpuModel { plan })
    }

    /// Runs the model on its inputs, in the graph's input order.
    pub fn run(&self, inputs: &[TensorF32]) -> Result<Vec<TensorF32>, String> {
        let inputs = inputs
            .iter()
            .map(|t| {
                tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), t.data.clone())
                    .map(|a| Tensor::from(a).into())
                    .map_err(|e| format!("input tensor of wrong size: {e}"))
            })
            .collect::<Result<TVec<TValue>, String>>()?;
        let outputs = self
            .plan
            .run(inputs)
            .map_err(|e| format!("CPU inference failed: {e}"))?;
        outputs
            .iter()
            .map(|o| {
                let view = o
                    .to_plain_array_view::<f32>()
                    .map_err(|e| format!("unexpected output type: {e}"))?;
                Ok(TensorF32 {
                    shape: view.shape().to_vec(),
                    data: view.iter().copied().collect(),
                })
            })
            .collect()
    }
}
