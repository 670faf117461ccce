//! Finding an artifact by its id: what `servesim lineage ID` starts from.

use crate::error::input;
use crate::rundir::read_json;
use anyhow::Result;
use artifact::IdKind;
use std::path::{Path, PathBuf};

/// Whether `lineage` can look up ids of `kind` (data sets and bare hashes have no artifact of
/// their own to find).
pub fn lookup_kind(kind: IdKind) -> bool {
    !matches!(kind, IdKind::Dataset | IdKind::Sha256)
}

/// Finds the artifact that carries `id` under `root`: its path, or for a trace id only known
/// from manifests, a note of the runs that used it.
pub fn find_id(id: &str, root: &Path) -> Result<PathBuf> {
    let walk = walkdir::WalkDir::new(root).max_depth(6).into_iter().filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        !(e.file_type().is_dir()
            && (name == "target" || name == ".git" || name == ".cache" || name.starts_with(".tmp-")))
    });
    let mut used_by: Vec<PathBuf> = Vec::new();
    let kind = IdKind::of_id(id);
    for entry in walk.filter_map(|e| e.ok()) {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() {
            if name == id && (p.join("manifest.json").is_file() || p.join("decision.json").is_file()) {
                return Ok(p.to_path_buf());
            }
            continue;
        }
        if kind == Some(IdKind::Model) && name.ends_with(".card.json") {
            if read_json(p).is_ok_and(|v| v["id"] == id) {
                return Ok(p.to_path_buf());
            }
        } else if kind == Some(IdKind::Figure) && name == "index.json" {
            let v = read_json(p).unwrap_or_default();
            if let Some(f) = v.as_array().into_iter().flatten().find(|f| f["figure_id"] == id) {
                return Ok(p.with_file_name(format!("{}.json", f["id"].as_str().unwrap_or(""))));
            }
        } else if kind == Some(IdKind::Trace) && name == "index.json" {
            let v = read_json(p).unwrap_or_default();
            if let Some(t) = v.as_array().into_iter().flatten().find(|t| t["stats"]["trace_id"] == id) {
                return Ok(p.with_file_name(t["file"].as_str().unwrap_or("")));
            }
        } else if kind == Some(IdKind::Trace) && name == "manifest.json" {
            if read_json(p).is_ok_and(|v| v["trace"]["id"] == id) {
                used_by.extend(p.parent().map(Path::to_path_buf));
            }
        } else if kind == Some(IdKind::Profile)
            && name.ends_with(".toml")
            && std::fs::read(p).is_ok_and(|b| IdKind::Profile.of(b) == id)
        {
            return Ok(p.to_path_buf());
        }
    }
    if let Some(run) = used_by.first() {
        // No trace file names this id, but runs were driven by it: their manifests say where from.
        return Ok(run.clone());
    }
    Err(input(format!("{id}: no artifact with this id under {}", root.display())))
}
