//! Exit codes: 2 for bad input (the user can fix it), 1 for everything else.

/// An error in what the user gave us: a file, a flag, a scenario. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Shorthand for an [`InputError`] wrapped in anyhow.
pub fn input(msg: impl Into<String>) -> anyhow::Error {
    InputError(msg.into()).into()
}

/// The exit code for `err`: 2 if anything in its chain is an input error.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.is::<InputError>() || cause.is::<sim::ConfigError>() {
            return 2;
        }
        if let Some(t) = cause.downcast_ref::<traces::TraceError>() {
            return if t.is_input_error() { 2 } else { 1 };
        }
        if let Some(r) = cause.downcast_ref::<replay::ReplayError>() {
            return if r.is_input_error() { 2 } else { 1 };
        }
        if let Some(sim::SimError::Unsorted { .. }) = cause.downcast_ref::<sim::SimError>() {
            return 2;
        }
    }
    1
}
