//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in replay, calibration and profile handling.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// ONNX Runtime could not be provisioned or loaded; the message lists what was tried.
    #[error("ONNX Runtime unavailable:\n{0}")]
    Runtime(String),
    /// A model directory, model file or test split is missing or unusable.
    #[error("{}: {reason}", path.display())]
    Model {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A service-time profile is malformed.
    #[error("{}: {reason}", path.display())]
    Profile {
        /// The profile file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A profile made for other models or another machine.
    #[error("{}: stale profile: {reason}; re-run `servesim calibrate` for these models on this machine", path.display())]
    StaleProfile {
        /// The profile file.
        path: PathBuf,
        /// Which model id or machine field differs.
        reason: String,
    },
    /// A scenario the harness cannot replay (e.g. an LLM scenario or a device without a variant).
    #[error("scenario: {0}")]
    Scenario(String),
    /// Bad arguments (speed, batch sizes, thread counts…).
    #[error("{0}")]
    Argument(String),
    /// ONNX Runtime failed while running a model.
    #[error("{model}: ONNX Runtime: {reason}")]
    Inference {
        /// Model name.
        model: String,
        /// ORT's message.
        reason: String,
    },
    /// A worker thread failed or an internal channel closed.
    #[error("replay harness: {0}")]
    Harness(String),
}

impl ReplayError {
    /// Whether the user can fix this by changing a file or an argument (exit code 2).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            ReplayError::Model { .. }
                | ReplayError::Profile { .. }
                | ReplayError::StaleProfile { .. }
                | ReplayError::Scenario(_)
                | ReplayError::Argument(_)
        )
    }

    pub(crate) fn model(path: impl Into<PathBuf>, reason: impl Into<String>) -> ReplayError {
        ReplayError::Model { path: path.into(), reason: reason.into() }
    }
}
