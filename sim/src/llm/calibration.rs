//! Fitted iteration-model parameters per device kind (`servesim calibrate-llm` writes them; a
//! copy fitted on the shared ground-truth cases is built in, `calibration.toml`).
//!
//! A calibration holds one [`Efficiency`] per device kind it saw and a `pooled` one fitted on
//! every case. Scenarios without `[llm.efficiency]` take the built-in entry of their device
//! kind (and [`Efficiency::default`] for kinds it has not seen); `servesim groundtruth` takes
//! the device entry, else the pooled one, and says which. A calibration of another schema or
//! servesim version is refused as stale.

use super::perf::Efficiency;
use serde::{Deserialize, Serialize};

/// The schema tag of a calibration file.
pub const SCHEMA: &str = "servesim.llm-calibration/1";

/// The built-in calibration's text.
pub const BUILTIN: &str = include_str!("calibration.toml");

/// A calibration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// [`SCHEMA`].
    pub schema: String,
    /// servesim version that wrote it.
    pub servesim: String,
    /// The command that wrote it.
    #[serde(default)]
    pub command: String,
    /// What the fit minimised.
    #[serde(default)]
    pub objective: String,
    /// Fitted on every case.
    pub pooled: Entry,
    /// Fitted on each device kind's cases.
    #[serde(default, rename = "device")]
    pub devices: Vec<Entry>,
}

/// The parameters of one device kind (or of all, `pooled`) and what they were fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Device kind (`pooled` for the pooled entry).
    pub kind: String,
    /// The parameters.
    pub efficiency: Efficiency,
    /// GPU memory the engine keeps outside weights and KV (activations, CUDA graphs), GB,
    /// fitted from the cases that recorded their KV blocks (0 if none did).
    #[serde(default)]
    pub kv_reserve_gb: f64,
    /// `id sha256:<hash of case.toml>` of each case fitted on.
    #[serde(default)]
    pub cases: Vec<String>,
    /// `name sha256:<hash of config.json>` (or `name builtin`) of each model of those cases.
    #[serde(default)]
    pub models: Vec<String>,
    /// In-sample mean |ln(sim / measured)| of mean TTFT and of mean E2E.
    #[serde(default)]
    pub fit_ttft: f64,
    /// See `fit_ttft`.
    #[serde(default)]
    pub fit_e2e: f64,
}

/// Which entry applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The device kind's own entry.
    Device,
    /// The pooled entry (the kind was not calibrated).
    Pooled,
}

impl Source {
    /// `device` or `pooled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Device => "device",
            Source::Pooled => "pooled",
        }
    }
}

/// The version calibrations must match: major.minor of this crate.
fn version_key(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

impl Calibration {
    /// Parses and checks a calibration; errors name the key (and say why it is stale).
    pub fn parse(text: &str) -> Result<Calibration, String> {
        let c: Calibration = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        if c.schema != SCHEMA {
            return Err(format!("`schema`: stale calibration: `{}`, this servesim reads `{SCHEMA}`", c.schema));
        }
        let ours = env!("CARGO_PKG_VERSION");
        if version_key(&c.servesim) != version_key(ours) {
            return Err(format!(
                "`servesim`: stale calibration: written by servesim {}, this is {ours}; run calibrate-llm again",
                c.servesim
            ));
        }
        for (i, e) in c.devices.iter().enumerate() {
            e.efficiency.validate(&format!("device[{i}].efficiency")).map_err(|e| e.to_string())?;
        }
        c.pooled.efficiency.validate("pooled.efficiency").map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// The built-in calibration.
    pub fn builtin() -> Calibration {
        Calibration::parse(BUILTIN).expect("the built-in calibration parses")
    }

    /// The entry of device kind `kind`, else the pooled one.
    pub fn entry(&self, kind: &str) -> (&Entry, Source) {
        match self.devices.iter().find(|e| e.kind == kind) {
            Some(e) => (e, Source::Device),
            None => (&self.pooled, Source::Pooled),
        }
    }

    /// TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a calibration serializes")
    }
}

/// The built-in efficiency of device kind `kind` for scenarios that give none: its calibrated
/// entry, else [`Efficiency::default`].
pub fn builtin_efficiency(kind: &str) -> Efficiency {
    let c = Calibration::builtin();
    match c.entry(kind) {
        (e, Source::Device) => e.efficiency.clone(),
        (_, Source::Pooled) => Efficiency::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_calibrations_are_refused_naming_the_key() {
        let mut c = Calibration::builtin();
        c.schema = "servesim.llm-calibration/0".into();
        assert!(Calibration::parse(&c.to_toml()).unwrap_err().starts_with("`schema`: stale"));
        let mut c = Calibration::builtin();
        c.servesim = "99.0.0".into();
        assert!(Calibration::parse(&c.to_toml()).unwrap_err().starts_with("`servesim`: stale"));
        let mut c = Calibration::builtin();
        c.pooled.efficiency.compute = 2.0;
        assert!(Calibration::parse(&c.to_toml()).unwrap_err().contains("pooled.efficiency.compute"));
    }

    #[test]
    fn unknown_kinds_fall_back_to_the_pooled_entry() {
        let c = Calibration::builtin();
        assert_eq!(c.entry("no-such-gpu").1, Source::Pooled);
        assert_eq!(builtin_efficiency("no-such-gpu"), Efficiency::default());
        for e in &c.devices {
            assert_eq!(c.entry(&e.kind).1, Source::Device);
            assert_eq!(builtin_efficiency(&e.kind), e.efficiency);
        }
    }
}
