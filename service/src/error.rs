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

/// The error and its causes on one line, `outer: cause: root`, leaving out a cause whose text
/// the line already ends with (library errors that print their source, as `{path}: {source}`,
/// would otherwise repeat it).
pub fn message(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Io {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let e = anyhow::Error::new(Io { path: "/x/.tmp-models-1".into(), source: io }).context("building models");
        assert_eq!(message(&e), "building models: /x/.tmp-models-1: No such file or directory (os error 2)");
        let plain = anyhow::anyhow!("root").context("middle").context("outer");
        assert_eq!(message(&plain), "outer: middle: root");
    }
}
