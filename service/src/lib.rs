//! `servesim` as a library: the operations the command line runs, as typed requests and results,
//! for the binary (`src/main.rs`, which only parses flags and prints) and for other front ends
//! (the Python module). No clap types and no printing here; errors are `anyhow` chains whose
//! input errors ([`error::InputError`], [`sim::ConfigError`], …) [`error::exit_code`] classifies.
//!
//! - [`scenario`]: a scenario by built-in name, file path or TOML text → validated config.
//! - [`rundir`]: run directories (staged, hashed, published whole) and the manifest they share.
//! - [`audit`]: re-hashing run directories and checking their lineage fields.
//! - [`course`]: the course's figures that need only the simulator, and the course they are built into.
//! - [`notebooks`]: the chapter's notebooks executed and rendered to HTML (by Jupyter's nbconvert).
//! - [`ops`]: one module per operation (simulate, sweep, plan, gate, check, trace, replay,
//!   validate, groundtruth), each a request struct → a function → a result struct.
//! - [`report`]: figures and the self-contained HTML report of a saved run or sweep.

pub mod audit;
pub mod course;
pub mod error;
pub mod notebooks;
pub mod ops;
pub mod report;
pub mod rundir;
pub mod scenario;
