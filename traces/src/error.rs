//! Errors of the traces crate.

use std::path::PathBuf;

/// Where in an input a problem was found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The file (or a label such as `<generated>`).
    pub file: PathBuf,
    /// 1-based data row (the header is not counted), if the problem is in one row.
    pub row: Option<usize>,
    /// Column or field name, if the problem is in one column.
    pub column: Option<String>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(r) = self.row {
            write!(f, ", row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column `{c}`")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong reading, writing, generating or validating a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The input breaks the trace contract (bad value, missing column, unsorted rows…).
    #[error("{at}: {reason}")]
    Invalid {
        /// Where.
        at: Location,
        /// Why, in words a user can act on.
        reason: String,
    },
    /// A generator or size specification is impossible (negative rate, cv ≤ 0…).
    #[error("{field}: {reason}")]
    Spec {
        /// The specification key, e.g. `arrivals.rate`.
        field: String,
        /// Why.
        reason: String,
    },
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file format library failed (unreadable Parquet, malformed CSV quoting…).
    #[error("{path}: cannot read or write as {format}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Format name.
        format: &'static str,
        /// The library's message.
        message: String,
    },
}

impl TraceError {
    /// A contract violation at `file`, optional row and column.
    pub fn invalid(
        file: impl Into<PathBuf>,
        row: Option<usize>,
        column: Option<&str>,
        reason: impl Into<String>,
    ) -> TraceError {
        TraceError::Invalid {
            at: Location { file: file.into(), row, column: column.map(str::to_string) },
            reason: reason.into(),
        }
    }

    /// An impossible specification value.
    pub fn spec(field: impl Into<String>, reason: impl Into<String>) -> TraceError {
        TraceError::Spec { field: field.into(), reason: reason.into() }
    }

    /// Whether the error is the user's input (exit code 2) rather than the machine's.
    pub fn is_input_error(&self) -> bool {
        match self {
            TraceError::Invalid { .. } | TraceError::Spec { .. } | TraceError::Format { .. } => true,
            TraceError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData | std::io::ErrorKind::PermissionDenied
            ),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = TraceError> = std::result::Result<T, E>;
