//! Run directories: written into a temporary directory beside the target and renamed into place,
//! so that a reader never sees half a run.

use anyhow::{Context, Result};
use artifact::StagedDir;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// servesim's version and the commit it was built from.
pub fn code_version() -> CodeVersion {
    CodeVersion { servesim: env!("CARGO_PKG_VERSION").to_string(), git_commit: env!("SERVESIM_GIT_COMMIT").to_string() }
}

/// The code that made an artifact.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct CodeVersion {
    /// Crate version.
    pub servesim: String,
    /// Git commit of the build (`unknown` outside a checkout).
    pub git_commit: String,
}

/// The trace that drove a run, as the manifest names it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct TraceRef {
    /// Trace id.
    pub id: String,
    /// Where the requests came from (a path, or `generated`).
    pub source: String,
    /// How many.
    pub requests: u64,
}

/// A run's `manifest.json` (schema `servesim.run/1`): what every kind of run records, and
/// `extra`, a kind's own fields, between `seed` and `code`.
#[derive(Debug, Serialize)]
pub struct RunManifest<'a, E: Serialize> {
    /// `servesim.run/1`.
    pub schema: &'static str,
    /// The run's id (its directory's name).
    pub run_id: &'a str,
    /// `simulate`, `replay`, `validate` or `groundtruth`.
    pub kind: &'static str,
    /// The scenario's `name`.
    pub scenario: &'a str,
    /// Where the scenario came from (`builtin:NAME`, a path, a label).
    pub scenario_source: &'a str,
    /// `sha256:` of `config.resolved.toml`.
    pub config_hash: String,
    /// The requests that drove the run.
    pub trace: TraceRef,
    /// The run seed.
    pub seed: u64,
    /// The kind's own fields.
    #[serde(flatten)]
    pub extra: E,
    /// The code that made the run.
    pub code: CodeVersion,
    /// Every file of the directory but the manifest, with its hash.
    pub files: Vec<FileRef<'a>>,
}

/// One output file of a run and its hash.
#[derive(Debug, Serialize)]
pub struct FileRef<'a> {
    /// Path inside the run directory.
    pub path: &'a str,
    /// Hex SHA-256 of its bytes.
    pub sha256: &'a str,
}

impl<'a> FileRef<'a> {
    /// The manifest's list of `(file, sha256)` pairs ([`RunDir::files`]).
    pub fn list(files: &'a [(String, String)]) -> Vec<FileRef<'a>> {
        files.iter().map(|(p, h)| FileRef { path: p, sha256: h }).collect()
    }
}

pub use artifact::sha256_hex;

/// Reads a JSON artifact; an unreadable or malformed file is an input error naming it.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bytes =
        std::fs::read(path).map_err(|e| crate::error::input(format!("{}: cannot read: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| crate::error::input(format!("{}: not valid JSON: {e}", path.display())))
}

/// A run directory being written: an [`artifact::StagedDir`] plus the hashes of what went in.
pub struct RunDir {
    staged: StagedDir,
    files: Vec<(String, String)>,
}

impl RunDir {
    /// Starts `parent/name` (published on [`RunDir::commit`]).
    pub fn create(parent: &Path, name: &str) -> Result<RunDir> {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create output directory", parent.display()))?;
        StagedDir::remove_abandoned(parent);
        let target = parent.join(name);
        let staged = StagedDir::new(&target).with_context(|| format!("{}: cannot create beside", target.display()))?;
        Ok(RunDir { staged, files: Vec::new() })
    }

    /// The temporary path of `file` (for writers that need a path, such as Parquet).
    pub fn path(&self, file: &str) -> PathBuf {
        self.staged.path().join(file)
    }

    /// Writes `bytes` as `file` and remembers its hash for the manifest.
    pub fn write(&mut self, file: &str, bytes: &[u8]) -> Result<()> {
        std::fs::write(self.path(file), bytes).with_context(|| format!("cannot write {file}"))?;
        self.files.push((file.to_string(), sha256_hex(bytes)));
        Ok(())
    }

    /// Records the hash of a file already written at [`RunDir::path`].
    pub fn register(&mut self, file: &str) -> Result<()> {
        let bytes = std::fs::read(self.path(file)).with_context(|| format!("cannot read back {file}"))?;
        self.files.push((file.to_string(), sha256_hex(&bytes)));
        Ok(())
    }

    /// (file, sha256) of everything written so far.
    pub fn files(&self) -> &[(String, String)] {
        &self.files
    }

    /// Moves the finished directory into place, replacing an earlier run with the same id without
    /// a moment in which neither exists (see [`artifact::publish`]). A run that fails before
    /// this (or is dropped) leaves nothing behind.
    pub fn commit(self) -> Result<PathBuf> {
        let target = self.staged.target().to_path_buf();
        self.staged.publish(true).with_context(|| format!("{}: cannot move into place", target.display()))
    }
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

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
