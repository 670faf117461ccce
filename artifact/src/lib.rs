//! The artifact contract every servesim crate shares: how an artifact is named and how it is
//! written.
//!
//! - [`id`]: content ids (`run-…`, `tr-…`, `mdl-…`, …), a prefix and a truncated SHA-256 of the
//!   artifact's canonical bytes, built in one place ([`IdKind`], [`ContentId`]).
//! - [`publish`]: atomic writes. A file is written to a temporary file beside it and persisted
//!   over it ([`write_file`]); a directory is built beside its target and swapped in
//!   ([`StagedDir`]). A reader never sees a half-written file or directory.
//!
//! It is its own leaf crate (only `sha2` and `tempfile`) because every crate that writes
//! artifacts needs it, and they share no other dependency: `figures` depends on no servesim
//! crate, and `traces` without its `formats` feature does no IO (that is how `sim` uses it).

pub mod id;
pub mod publish;

pub use id::{ContentId, IdKind, hex, sha256_hex};
pub use publish::{StagedDir, WriteError, write_file, write_file_with};
