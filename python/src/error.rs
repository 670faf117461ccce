//! Python exceptions with the CLI's messages.
//!
//! `InputError` is what the CLI reports with exit code 2 (a file, key or value the user can fix:
//! the message names the file, row or key, and the reason); `ServesimError` is anything else
//! (exit code 1). The text is the line the CLI prints after `error: `.

use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};

create_exception!(
    servesim,
    InputError,
    PyValueError,
    "Bad input (a file, key or value): the message names it and says why, as the CLI does (exit code 2)."
);
create_exception!(
    servesim,
    ServesimError,
    PyRuntimeError,
    "A failure that is not the input's fault (CLI exit code 1)."
);

/// An input error with `msg`.
pub(crate) fn input(msg: impl Into<String>) -> PyErr {
    InputError::new_err(msg.into())
}

/// An error of the library (`servesim::ops`, `servesim::scenario`): an `InputError` where the CLI
/// exits with 2, else a `ServesimError`; the message is the CLI's line, with the flags it names
/// written as this module's parameters (`--max-drop` → `max_drop`).
pub(crate) fn ops(err: &anyhow::Error) -> PyErr {
    let text = parameters(&servesim::error::message(err));
    if servesim::error::exit_code(err) == 2 { InputError::new_err(text) } else { ServesimError::new_err(text) }
}

/// `line` with every CLI flag (`--name-of-it`) written as the Python parameter (`name_of_it`);
/// a flag that ends the line is the advice to give it, written `name_of_it=`. A command quoted
/// to be run in a shell (`` `servesim models build --out DIR` ``) keeps its flags.
pub(crate) fn parameters(line: &str) -> String {
    let parts: Vec<&str> = line.split('`').collect();
    let last = parts.len() - 1;
    let kept = |i: usize, part: &str| i % 2 == 1 && i < last && part.starts_with("servesim ");
    let out: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| if kept(i, part) { (*part).to_string() } else { flags(part, i == last) })
        .collect();
    out.join("`")
}

/// [`parameters`] of a stretch of a line (`ends` if it ends the line).
fn flags(line: &str, ends: bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("--") {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let name_len = tail[2..].find(|c: char| !(c.is_ascii_lowercase() || c == '-')).unwrap_or(tail.len() - 2);
        let name = &tail[2..2 + name_len];
        let starts_word = head.is_empty() || head.ends_with([' ', '(']);
        if name.is_empty() || !starts_word || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push_str("--");
            rest = &tail[2..];
            continue;
        }
        out.push_str(&name.replace('-', "_"));
        rest = &tail[2 + name_len..];
        if rest.is_empty() && ends {
            out.push('=');
        }
    }
    out.push_str(rest);
    out
}

/// [`parameters`] of each line.
pub(crate) fn parameters_all(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| parameters(l)).collect()
}

/// Anything else that went wrong (a result that does not serialize).
pub(crate) fn other(err: impl std::fmt::Display) -> PyErr {
    ServesimError::new_err(err.to_string())
}
