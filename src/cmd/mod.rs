//! One module per subcommand.

pub mod check;
pub mod contract;
pub mod course;
pub mod models;
pub mod plan;
pub mod report;
pub mod scenarios;
pub mod simulate;
pub mod sweep;
pub mod trace;
