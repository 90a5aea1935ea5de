//! The one tensor type the runtimes exchange: shape and row-major f32 values.

/// A plain f32 tensor: shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorF32 {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}
