//! A calibration profile applied to a scenario (`simulate --profile`), and the lineage edge a
//! run's manifest records for it.

use anyhow::{Context, Result};
use artifact::IdKind;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A calibration profile as a run's manifest names it: the lineage edge from a simulation to
/// the measurements (and through them to the models) its service times came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileRef {
    /// `prof-` + the first 32 hex digits of the file's SHA-256.
    pub id: String,
    /// The profile's path as given.
    pub source: String,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// The entries the run used: variant, model id, threads.
    pub used: Vec<ProfileUse>,
}

/// One profile entry a run used.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileUse {
    /// The variant (model name) measured.
    pub variant: String,
    /// Its model id.
    pub model_id: String,
    /// ONNX Runtime intra-op threads it was measured with.
    pub threads: usize,
}

/// Applies the profile at `profile_path` (measured on the models in `models`) to `config`
/// ([`replay::profile::Profile::apply`]); returns its reference for the run's manifest.
pub fn apply_profile(config: &mut sim::ScenarioConfig, profile_path: &Path, models: &Path) -> Result<ProfileRef> {
    let profile = replay::profile::Profile::load(profile_path)?;
    let bytes = std::fs::read(profile_path).with_context(|| format!("{}", profile_path.display()))?;
    let used = profile
        .apply(profile_path, models, config)?
        .into_iter()
        .map(|e| ProfileUse { variant: e.variant.clone(), model_id: e.model_id.clone(), threads: e.threads })
        .collect();
    Ok(ProfileRef {
        id: IdKind::Profile.of(&bytes).into(),
        source: profile_path.display().to_string(),
        sha256: artifact::sha256_hex(&bytes),
        used,
    })
}
