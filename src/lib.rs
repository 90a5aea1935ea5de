//! mien's shared core: everything both the browser app and the native trainer need
//! to agree on, so the numbers a user sees in the browser equal what the native
//! evaluation reports for the same image.
//!
//! - [`contract`]: labels, input geometry, normalisation, carried in the ONNX metadata;
//! - [`onnx`]: reading and writing ONNX files;
//! - [`weights`]: float16 or int8 weights in ONNX files (a smaller download), expanded on load;
//! - [`example_model`]: a tiny random-weight classifier for any contract (tests);
//! - [`decode`]: user files to upright images, with limits and clear errors;
//! - [`preprocess`]: face crop to input tensor;
//! - [`occlusion`]: "why this reading": the model's sensitivity to greyed patches;
//! - [`emotions`]: logits to per-expression fractions;
//! - [`face`]: finding, aligning and cropping faces (BlazeFace);
//! - [`smoothing`]: readings smoothed over a video's frames, face by face;
//! - [`tracking`]: following faces from frame to frame of a video, with stable numbers;
//! - [`timeline`]: a video's readings over time: frames to read, per-face summary, CSV
//!   and chart geometry;
//! - [`tensor`]: the tensor type the runtimes exchange;
//! - [`analysis`]: photo to faces to readings, the one path the app and
//!   `mien-analyse` share; [`csv`]: the batch results as CSV;
//! - [`metrics`], [`plots`]: scores on a labelled set and their pictures (the trainer's
//!   eval and `mien-analyse`'s scoring; pictures natively only);
//! - `protocol` (wasm32 only): the messages between the app and its inference workers
//!   (`docs/worker-protocol.md`), also included by `gpu-worker/`;
//! - [`cpu`]: the CPU runtime (tract), used natively and in the browser's CPU worker
//!   (feature `cpu`, on by default; the app's own wasm leaves it out).

pub mod analysis;
pub mod contract;
#[cfg(feature = "cpu")]
pub mod cpu;
pub mod csv;
pub mod decode;
pub mod emotions;
pub mod example_model;
pub mod face;
pub mod metrics;
pub mod occlusion;
pub mod onnx;
#[cfg(all(feature = "cpu", not(target_arch = "wasm32")))]
pub mod plots;
pub mod preprocess;
#[cfg(target_arch = "wasm32")]
pub mod protocol;
pub mod smoothing;
pub mod tensor;
pub mod timeline;
pub mod tracking;
pub mod weights;

#[cfg(all(feature = "train", not(target_arch = "wasm32")))]
pub mod train;
