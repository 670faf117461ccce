//! Device kinds (hardware catalog) and model variants.
//!
//! The built-in device catalog is `sim/catalog/devices.toml`, embedded in the binary, with the
//! datasheet and price sources cited there. Scenarios may add or override kinds.

use crate::check::{ConfigError, positive};
use crate::service::ServiceSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Numeric precision of a model variant's weights (and, where the hardware allows, its math).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// 32-bit float.
    Fp32,
    /// 16-bit float.
    Fp16,
    /// bfloat16.
    Bf16,
    /// 8-bit float (E4M3): tensor cores of Hopper, Ada and Blackwell compute in it; on others
    /// it is a storage format (weight-only, dequantized to fp16).
    Fp8,
    /// 8-bit integer.
    Int8,
    /// 4-bit integer.
    Int4,
}

impl Precision {
    /// Bytes per weight.
    pub fn bytes(self) -> f64 {
        match self {
            Precision::Fp32 => 4.0,
            Precision::Fp16 | Precision::Bf16 => 2.0,
            Precision::Fp8 | Precision::Int8 => 1.0,
            Precision::Int4 => 0.5,
        }
    }
}

/// Peak dense throughput per precision, TFLOP/s (TOP/s for integers).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakThroughput {
    /// fp32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp32: Option<f64>,
    /// fp16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp16: Option<f64>,
    /// bf16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bf16: Option<f64>,
    /// fp8 (dense E4M3 tensor throughput; absent where the tensor cores have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8: Option<f64>,
    /// int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8: Option<f64>,
    /// int4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int4: Option<f64>,
}

impl PeakThroughput {
    /// Peak for `p`, if the kind has one.
    pub fn get(&self, p: Precision) -> Option<f64> {
        match p {
            Precision::Fp32 => self.fp32,
            Precision::Fp16 => self.fp16,
            Precision::Bf16 => self.bf16,
            Precision::Fp8 => self.fp8,
            Precision::Int8 => self.int8,
            Precision::Int4 => self.int4,
        }
    }
}

/// A kind of device: what one unit has and costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceKind {
    /// Catalog name (`a10g`, `h100`…).
    pub name: String,
    /// One line.
    #[serde(default)]
    pub description: String,
    /// Device memory, GB (10⁹ bytes).
    pub memory_gb: f64,
    /// Memory bandwidth, GB/s.
    pub bandwidth_gb_s: f64,
    /// Peak dense throughput per precision.
    #[serde(default)]
    pub peak_tflops: PeakThroughput,
    /// Precisions with hardware support (tensor cores, AMX…).
    #[serde(default)]
    pub accelerates: Vec<Precision>,
    /// On-demand price, $ per device-hour.
    pub price_per_hour: f64,
    /// Where the price comes from.
    #[serde(default)]
    pub price_source: String,
    /// When the price was read (YYYY-MM-DD).
    #[serde(default)]
    pub price_date: String,
    /// Device-to-device link used by tensor parallelism (absent: TP communication is not modelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interconnect: Option<Interconnect>,
    /// Where memory, bandwidth and peaks come from (datasheet URL) and when it was read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spec_source: String,
    /// Rate at which a replica's weights load onto the device, GB/s (its host-to-device link;
    /// absent: autoscaling's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_gb_s: Option<f64>,
    /// Power drawn idle and busy (absent: the kind's energy is not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<crate::energy::PowerSpec>,
}

/// Kind of device-to-device link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// NVIDIA NVLink (through NVSwitch on 8-GPU boards).
    Nvlink,
    /// PCI Express through the host.
    Pcie,
}

/// The link tensor-parallel all-reduces run over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interconnect {
    /// NVLink or PCIe.
    pub kind: LinkKind,
    /// Bandwidth per direction per device, GB/s.
    pub bandwidth_gb_s: f64,
    /// Latency of one small all-reduce between two devices, µs (a ring over tp devices pays
    /// tp − 1 times it: see `llm::perf`).
    pub latency_us: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    kind: Vec<DeviceKind>,
}

/// The built-in device catalog's TOML text.
pub const BUILTIN_DEVICES: &str = include_str!("../catalog/devices.toml");

/// The built-in device kinds, by name.
pub fn builtin_kinds() -> BTreeMap<String, DeviceKind> {
    let file: CatalogFile = toml::from_str(BUILTIN_DEVICES).expect("the embedded device catalog parses");
    file.kind.into_iter().map(|k| (k.name.clone(), k)).collect()
}

impl DeviceKind {
    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        positive(&format!("{key}.memory_gb"), self.memory_gb)?;
        positive(&format!("{key}.bandwidth_gb_s"), self.bandwidth_gb_s)?;
        if !(self.price_per_hour.is_finite() && self.price_per_hour >= 0.0) {
            return Err(ConfigError::invalid(&format!("{key}.price_per_hour"), "must be a non-negative finite number"));
        }
        if let Some(p) = &self.power {
            p.validate(&format!("{key}.power"))?;
        }
        if let Some(r) = self.load_gb_s {
            positive(&format!("{key}.load_gb_s"), r)?;
        }
        if let Some(link) = &self.interconnect {
            positive(&format!("{key}.interconnect.bandwidth_gb_s"), link.bandwidth_gb_s)?;
            crate::check::non_negative(&format!("{key}.interconnect.latency_us"), link.latency_us)?;
        }
        Ok(())
    }
}

/// Which model a variant is, in a teacher/student pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// The large reference model.
    Teacher,
    /// A smaller model distilled from the teacher.
    Student,
}

/// A deployable model variant: a model at a precision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Name, unique among variants (`teacher-int8`…).
    pub name: String,
    /// Teacher or student.
    pub family: Family,
    /// Weight precision.
    pub precision: Precision,
    /// Quality on the task, in [0, 1] (accuracy). Declared here; model cards supply measured values.
    pub quality: f64,
    /// Bytes of weights resident on the device.
    pub weight_bytes: u64,
    /// Batch service time per device kind (keys are kind names).
    #[serde(default)]
    pub service: BTreeMap<String, ServiceSpec>,
}

impl VariantSpec {
    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.quality) {
            return Err(ConfigError::invalid(
                &format!("{key}.quality"),
                format!("must be in [0, 1], got {}", self.quality),
            ));
        }
        for (kind, s) in &self.service {
            s.validate(&format!("{key}.service.{kind}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_has_the_course_devices_with_sources() {
        let k = builtin_kinds();
        for name in ["cpu", "t4", "l4", "a10g", "a100", "h100"] {
            let d = &k[name];
            d.validate(name).unwrap();
            assert!(!d.price_source.is_empty() && d.price_date.len() == 10, "{name}");
            assert!(d.peak_tflops.get(Precision::Fp32).is_some(), "{name}");
        }
        assert!(k["h100"].bandwidth_gb_s > k["a100"].bandwidth_gb_s);
        assert!(k["t4"].accelerates.contains(&Precision::Int8));
    }

    #[test]
    fn the_llm_devices_have_links_sources_and_prices() {
        let k = builtin_kinds();
        for name in ["h100-sxm", "h200", "a100-80gb", "l40s", "l4", "rtx-4090", "rtx-pro-6000", "b200"] {
            let d = &k[name];
            d.validate(name).unwrap();
            assert!(d.spec_source.starts_with("http"), "{name}");
            assert!(!d.price_source.is_empty() && d.price_date.len() == 10, "{name}");
            assert!(d.peak_tflops.get(Precision::Fp16).is_some() && d.peak_tflops.get(Precision::Bf16).is_some());
            let link = d.interconnect.as_ref().unwrap_or_else(|| panic!("{name} has no interconnect"));
            // Data-center boards talk over NVLink, the PCIe cards over the host.
            let nvlink = matches!(name, "h100-sxm" | "h200" | "a100-80gb" | "b200");
            assert_eq!(link.kind == LinkKind::Nvlink, nvlink, "{name}");
        }
        assert!(
            k["b200"].bandwidth_gb_s > k["h200"].bandwidth_gb_s
                && k["h200"].bandwidth_gb_s > k["h100-sxm"].bandwidth_gb_s
        );
    }
}
