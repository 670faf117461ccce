//! The operations of servesim, one module each: a typed request, a function, a typed result.
//! The command line translates its flags into these requests and prints the results; a Python
//! binding calls the same functions. Nothing here prints (long operations report progress
//! through a callback or an optional progress bar on stderr).

pub mod calibrate_llm;
pub mod check;
pub mod gate;
pub mod groundtruth;
pub mod lineage;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod records;
pub mod replay;
pub mod simulate;
pub mod sweep;
pub mod trace;
pub mod validate;
