//! servesim kernels (docs to come).

pub mod data;
mod error;
pub mod eval;
pub mod mlp;
pub mod rng;
pub mod train;

pub use error::KernelsError;
pub mod card;
pub mod onnx;
pub mod pipeline;
pub mod quant;

pub use pipeline::{BuildOptions, BuildReport, Preset, Progress, build};
