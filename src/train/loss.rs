//! What training minimises: soft-target cross-entropy over a batch, each image weighted
//! (class weights), and the batch it is computed on.

use tch::{Kind, Tensor};

/// One batch, ready for the network.
pub struct Batch {
    pub images: Tensor,
    /// Target distribution per image `[B, K]`.
    pub targets: Tensor,
    /// Per-image loss weight `[B]`.
    pub weights: Tensor,
}

/// Soft-target cross-entropy, weighted per image.
pub fn loss(logits: &Tensor, batch: &Batch) -> Tensor {
    let per_image = -(logits.log_softmax(-1, Kind::Float) * &batch.targets).sum_dim_intlist(
        [-1i64].as_slice(),
        false,
        Kind::Float,
    );
    (per_image * &batch.weights).sum(Kind::Float) / batch.weights.sum(Kind::Float)
}
