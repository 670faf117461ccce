//! One module per subcommand, and `print` (how summaries are shown).

pub mod calibrate;
pub mod calibrate_llm;
pub mod check;
pub mod contract;
pub mod course;
pub mod groundtruth;
pub mod lineage;
pub mod models;
pub mod notebooks;
pub mod plan;
pub mod print;
pub mod replay;
pub mod report;
pub mod scenarios;
pub mod simulate;
pub mod sweep;
pub mod trace;
pub mod validate;

pub use servesim::rundir::create_parent;
