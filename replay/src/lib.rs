//! servesim replay: the simulator's policies against real models on ONNX Runtime.
//!
//! - [`runtime`]: provisions the ONNX Runtime native library (env var, project cache, or a
//!   verified fetch of the PyPI wheel) and loads it once per process.
//! - [`model`]: model directories written by `kernels::build`, their test split, and one ONNX
//!   Runtime session per model file.
//! - [`fit`]: least-squares fits of batch service time (`a + b·B`, `max(c, a + b·B)`).
//! - [`calibrate`]: microbenchmarks per variant × thread setting and the service-time profile
//!   that `simulate --profile` reads ([`profile`]).
//! - [`busy`]: a replay's batches with their servers' idle gaps, and what a profile predicts
//!   for them.
//! - [`harness`]: real-time open-loop replay of a trace through the *same* router, batcher and
//!   cache implementations as `sim`, fed the wall clock as `SimTime`.
//!
//! This is the only crate that links ONNX Runtime (`ort`, `load-dynamic`).

pub mod busy;
pub mod calibrate;
mod error;
pub mod fit;
pub mod harness;
pub mod model;
pub mod profile;
pub mod runtime;

pub use error::ReplayError;
