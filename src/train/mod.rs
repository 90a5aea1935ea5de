//! The trainer (native only, feature `train`): one concern per file.
//!
//! - [`config`]: every hyper-parameter, saved with the run;
//! - [`model`]: the networks;
//! - [`data`]: ImageFolder datasets and FER+ votes;
//! - [`augment`]: training-time augmentation; [`degrade`]: real-photo degradations
//!   (augmentation and `eval --val-c`); [`geometry`]: the warps both use;
//! - [`optim`]: optimisers and schedules with checkpointable state;
//! - [`precision`]: float32 or bfloat16, by measurement (`--precision auto`);
//! - [`loss`]: the objective; [`training`]: the loop;
//! - [`checkpoint`]: run folders on disk;
//! - [`metrics`], [`plots`]: accuracy, F1, confusion, calibration and their pictures
//!   (in the shared core, which `mien-analyse` uses too);
//! - [`export`]: ONNX export under wonnx's constraints; [`from_onnx`]: back from an
//!   exported file to a trainable network;
//! - [`average`]: weight averaging (SWA) of a run's snapshots.

pub mod augment;
pub mod average;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod degrade;
pub mod export;
pub mod from_onnx;
pub mod geometry;
pub mod loss;
pub mod model;
pub mod optim;
pub mod precision;
pub mod training;

pub use crate::{metrics, plots};
