//! One module per subcommand.

pub mod calibrate;
pub mod calibrate_llm;
pub mod check;
pub mod contract;
pub mod course;
pub mod groundtruth;
pub mod models;
pub mod plan;
pub mod replay;
pub mod report;
pub mod scenarios;
pub mod simulate;
pub mod sweep;
pub mod trace;
pub mod validate;

/// Creates the directory `path` will be written into (its parent), before any work, so that a
/// bad output path fails at once instead of after minutes of training or measuring.
pub fn create_parent(path: &std::path::Path) -> anyhow::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|e| {
            crate::error::input(format!("{}: cannot create the output's parent directory: {e}", parent.display()))
        }),
        None => Ok(()),
    }
}
