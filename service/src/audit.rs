//! Auditing run directories: re-hash every file, check the lineage fields and their consistency.

use crate::rundir::sha256_hex;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One problem found in a run directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `missing`, `tampered`, `orphaned`, `unauditable` or `inconsistent`.
    pub signal: &'static str,
    /// The file or field concerned.
    pub subject: String,
    /// What is wrong.
    pub detail: String,
}

/// The audit of one run directory.
#[derive(Clone, Debug, Serialize)]
pub struct RunAudit {
    /// The directory.
    pub path: PathBuf,
    /// Run id from the manifest, if readable.
    pub run_id: Option<String>,
    /// Files whose hash matched the manifest.
    pub verified: usize,
    /// Problems.
    pub findings: Vec<Finding>,
}

impl RunAudit {
    /// Whether the run can be promoted.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

fn finding(signal: &'static str, subject: impl Into<String>, detail: impl Into<String>) -> Finding {
    Finding { signal, subject: subject.into(), detail: detail.into() }
}

/// Audits the run directory `dir`.
pub fn audit_run(dir: &Path) -> RunAudit {
    let mut a = RunAudit { path: dir.to_path_buf(), run_id: None, verified: 0, findings: Vec::new() };
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value = match std::fs::read(&manifest_path) {
        Err(e) => {
            a.findings.push(finding("missing", "manifest.json", format!("cannot read: {e}")));
            return a;
        }
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                a.findings.push(finding("unauditable", "manifest.json", format!("not valid JSON: {e}")));
                return a;
            }
        },
    };
    let field = |path: &str| -> Option<&serde_json::Value> { path.split('.').try_fold(&manifest, |v, k| v.get(k)) };
    a.run_id = field("run_id").and_then(|v| v.as_str()).map(str::to_string);
    for required in ["run_id", "kind", "config_hash", "trace.id", "seed", "code.servesim", "code.git_commit", "files"] {
        let v = field(required);
        if v.is_none() || v.is_some_and(|v| v.is_null() || v.as_str().is_some_and(str::is_empty)) {
            a.findings.push(finding("unauditable", required, "lineage field missing from the manifest"));
        }
    }
    if field("code.git_commit").and_then(|v| v.as_str()) == Some("unknown") {
        a.findings.push(finding(
            "unauditable",
            "code.git_commit",
            "built outside a git checkout: the code version is unknown",
        ));
    }
    if let Some(id) = &a.run_id
        && dir.file_name().and_then(|n| n.to_str()) != Some(id.as_str())
    {
        a.findings.push(finding(
            "inconsistent",
            "run_id",
            format!("manifest says {id}, directory is {}", dir.display()),
        ));
    }
    let mut listed: Vec<String> = Vec::new();
    for f in field("files").and_then(|v| v.as_array()).map(Vec::as_slice).unwrap_or_default() {
        let (Some(path), Some(hash)) =
            (f.get("path").and_then(|v| v.as_str()), f.get("sha256").and_then(|v| v.as_str()))
        else {
            a.findings.push(finding("unauditable", "files", "an entry lacks path or sha256"));
            continue;
        };
        listed.push(path.to_string());
        match std::fs::read(dir.join(path)) {
            Err(_) => a.findings.push(finding("missing", path, "listed in the manifest but absent")),
            Ok(bytes) if sha256_hex(&bytes) != hash => {
                a.findings.push(finding("tampered", path, "content does not match the manifest's sha256"))
            }
            Ok(_) => a.verified += 1,
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut names: Vec<String> =
            entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in names {
            if name != "manifest.json" && !listed.contains(&name) {
                a.findings.push(finding("orphaned", &name, "present but not listed in the manifest"));
            }
        }
    }
    if let (Some(hash), Ok(bytes)) =
        (field("config_hash").and_then(|v| v.as_str()), std::fs::read(dir.join("config.resolved.toml")))
        && artifact::IdKind::Sha256.of(&bytes) != hash
    {
        a.findings.push(finding("inconsistent", "config_hash", "does not match config.resolved.toml"));
    }
    a
}

/// Whether `dir` looks like a run directory.
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join("manifest.json").is_file()
}

/// The run directories at `path`: itself if it is one, else its children that are.
pub fn run_dirs(path: &Path) -> Vec<PathBuf> {
    if is_run_dir(path) {
        return vec![path.to_path_buf()];
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
