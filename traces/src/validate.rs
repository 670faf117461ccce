//! The trace contract, checked on requests already parsed from a file.
//!
//! Field-level problems (a NaN, a negative size, a missing column) are caught while parsing, where
//! the row and column are known; this module checks what needs the whole trace: ordering, unique
//! ids, non-emptiness.

use crate::error::{Result, TraceError};
use crate::request::Request;
use std::collections::HashSet;
use std::path::Path;

/// Checks that `requests` is non-empty, sorted by arrival (ties allowed) and has unique ids.
///
/// Rows in errors are 1-based positions in `requests` (the file's data rows).
pub fn validate(file: &Path, requests: &[Request]) -> Result<()> {
    if requests.is_empty() {
        return Err(TraceError::invalid(file, None, None, "the trace has no requests"));
    }
    let mut seen = HashSet::with_capacity(requests.len());
    for (i, pair) in requests.windows(2).enumerate() {
        if pair[1].arrival < pair[0].arrival {
            return Err(TraceError::invalid(
                file,
                Some(i + 2),
                Some("arrival_s"),
                format!(
                    "rows are not sorted by arrival time: {} comes after {} (row {})",
                    pair[1].arrival,
                    pair[0].arrival,
                    i + 1
                ),
            ));
        }
    }
    for (i, r) in requests.iter().enumerate() {
        if !seen.insert(r.id) {
            return Err(TraceError::invalid(file, Some(i + 1), Some("id"), format!("duplicate request id {}", r.id)));
        }
    }
    Ok(())
}
