//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, quantizing or exporting models.
#[derive(Debug, thiserror::Error)]
pub enum KernelsError {
    /// A build or training option is out of range.
    #[error("invalid option `{field}`: {reason}")]
    InvalidOption {
        /// The option's name.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The dataset is unusable (too few rows, inconsistent shapes).
    #[error("dataset: {0}")]
    Dataset(String),
    /// Training produced a non-finite loss.
    #[error("training `{model}` diverged at epoch {epoch}: loss is {loss}")]
    Diverged {
        /// The model being trained.
        model: String,
        /// The epoch (1-based) at which the loss stopped being finite.
        epoch: usize,
        /// The offending loss value.
        loss: f32,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `test_split.csv` does not parse.
    #[error("{path}: {message}")]
    Split {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// The output directory exists and overwriting was not asked for.
    #[error("{0}: output directory already exists (pass overwrite to replace it)")]
    OutputExists(PathBuf),
    /// An ONNX file is not one this crate wrote (missing or misshapen initializers).
    #[error("ONNX model: {0}")]
    InvalidModel(String),
    /// Encoding or decoding an ONNX protobuf failed.
    #[error("ONNX protobuf: {0}")]
    Onnx(#[from] protobuf::Error),
    /// Encoding a JSON document failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}
