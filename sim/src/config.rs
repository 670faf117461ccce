//! Scenario files: TOML, parsed in two stages.
//!
//! [`ScenarioConfig`] is the raw serde form (`deny_unknown_fields`, every field documented);
//! [`ScenarioConfig::validate`] checks every value and names the offending key. The validated
//! config is what the engine runs and what a run directory stores as `config.resolved.toml`.

use crate::catalog::{DeviceKind, VariantSpec, builtin_kinds};
use crate::policy::{BatcherSpec, CacheSpec, ClassOrder, QueueDiscipline, RouterSpec};
use crate::service::{ColdSpec, DriftSpec, ServiceSpec, StallSpec};
use serde::{Deserialize, Serialize};
use traces::SimTime;
use traces::workload::WorkloadSpec;

pub use crate::check::{ConfigError, MAX_REPLICAS};

/// A serving scenario: workload, devices and how requests reach them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// Short name (used in run ids and listings).
    pub name: String,
    /// One line saying what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Run seed; every random stream is derived from it. The CLI's `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Number of requests to simulate (generated workloads; a trace is cut to this many).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Synthetic workload; optional when a trace is given on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSpec>,
    /// How requests are spread over devices when there are several.
    #[serde(default)]
    pub router: RouterSpec,
    /// Device kinds added to (or overriding) the built-in catalog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_kinds: Vec<DeviceKind>,
    /// Model variants the devices can serve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantSpec>,
    /// The devices (each group expands to `count` replicas with a queue of their own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceSpec>,
    /// A response cache in front of routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSpec>,
    /// A student-then-teacher cascade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade: Option<CascadeSpec>,
    /// The latency objective that SLO attainment and goodput are measured against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloSpec>,
    /// Token-level LLM serving (`[llm]`): replaces `devices`, `cache`, `cascade` and `slo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<crate::llm::LlmSpec>,
    /// Request classes (tenants, traffic classes): their priorities, weights and SLOs. A trace's
    /// `class` column names them; a generated workload draws them from their `share`s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassSpec>,
    /// Energy accounting: PUE and carbon intensity (devices draw the power of their kind either
    /// way; absent: PUE 1, no carbon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<crate::energy::EnergySpec>,
}

/// A request class (`[[classes]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// Name (a trace's `class` value).
    pub name: String,
    /// Share of a generated workload's requests (absent on every class: all requests are the
    /// first class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Priority under a `priority` queue: higher is served first (default 0).
    #[serde(default)]
    pub priority: u32,
    /// Weight under a `weighted` queue (default 1).
    #[serde(default = "unit_weight")]
    pub weight: f64,
    /// Latency target of the class, ms (default: `[slo] latency_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_ms: Option<f64>,
}

fn unit_weight() -> f64 {
    1.0
}

/// Latency objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// End-to-end latency target, ms.
    pub latency_ms: f64,
}

/// Cascade: every request goes to the student first; some escalate to the teacher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CascadeSpec {
    /// Variant answering first.
    pub student: String,
    /// Variant answering escalated requests.
    pub teacher: String,
    /// When a request escalates.
    pub escalate: Escalation,
}

/// Escalation rule of a cascade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Escalation {
    /// Each request escalates independently with probability `p`.
    Probability {
        /// Escalation probability.
        p: f64,
    },
    /// The student's confidence on each request is drawn from Beta(a, b); requests below
    /// `threshold` escalate. Confidence is taken as calibrated up to scale: the student is right
    /// on a request with probability proportional to its confidence, averaging to its quality.
    Confidence {
        /// Escalate below this confidence.
        threshold: f64,
        /// Beta shape a.
        beta_a: f64,
        /// Beta shape b.
        beta_b: f64,
    },
}

impl Escalation {
    /// Whether a student answer given with `confidence` goes on to the teacher (`rng`: the
    /// `cascade` stream, drawn only by the `probability` rule). The one rule the engine and
    /// `replay` (with a real student's confidence) both apply.
    pub fn escalates(&self, confidence: f64, rng: &mut impl rand::Rng) -> bool {
        use rand::RngExt as _;
        match *self {
            Escalation::Probability { p } => rng.random::<f64>() < p,
            Escalation::Confidence { threshold, .. } => confidence < threshold,
        }
    }
}

fn default_seed() -> u64 {
    1
}

/// What to do with a trace's recorded service time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedService {
    /// Use the recorded time when a request has one, else sample the device's distribution.
    #[default]
    Prefer,
    /// Always sample the device's distribution.
    Ignore,
}

/// A group of identical devices (model replicas), each a FIFO queue in front of `servers`
/// servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// Name, unique among device groups; replicas are `name/0`, `name/1`… when `count` > 1.
    pub name: String,
    /// Device kind from the catalog (memory, price); optional for abstract servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Number of replicas in the group.
    #[serde(default = "one")]
    pub count: u32,
    /// Number of servers per replica (concurrent batches), at least 1.
    #[serde(default = "one")]
    pub servers: u32,
    /// Maximum number of waiting requests while every server is busy; arrivals beyond it are
    /// dropped. Unbounded if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<u64>,
    /// Deadline shedding: a request that has waited longer than this is dropped instead of
    /// served, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shed_after_ms: Option<f64>,
    /// The model variant this group serves (must fit the kind's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Service time of one batch on one server; defaults to the variant's model for this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
    /// How waiting requests are grouped into batches (default: none, one at a time).
    #[serde(default, skip_serializing_if = "BatcherSpec::is_none")]
    pub batching: BatcherSpec,
    /// Whether a trace's recorded service time overrides the distribution.
    #[serde(default)]
    pub recorded_service: RecordedService,
    /// Stalls of each server (preempted worker, pauses); none if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalls: Option<StallSpec>,
    /// The machine's speed over time (service times multiplied by it); none if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftSpec>,
    /// Cold starts: extra service time after a server's idle gap; none if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<ColdSpec>,
    /// Autoscaling of the group's replica count (then `count` stays 1: the replicas are
    /// `autoscale.min..=autoscale.max`, behind one queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<crate::autoscale::AutoscaleSpec>,
    /// Order of the queue by request class (default `fifo`).
    #[serde(default, skip_serializing_if = "QueueDiscipline::is_fifo")]
    pub queue: QueueDiscipline,
    /// Power of one replica (default: its kind's; absent both: no energy counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<crate::energy::PowerSpec>,
}

fn one() -> u32 {
    1
}

impl ScenarioConfig {
    /// Parses TOML text (no validation beyond types and known keys).
    pub fn from_toml_str(text: &str) -> Result<ScenarioConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string().trim_end().to_string()))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<ScenarioConfig, ConfigError> {
        let c = Self::from_toml_str(text)?;
        c.validate()?;
        Ok(c)
    }

    /// The canonical TOML of this config (what `config.resolved.toml` holds).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a scenario config always serializes")
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid("name", "must not be empty"));
        }
        if self.requests == Some(0) {
            return Err(ConfigError::invalid("requests", "must be at least 1"));
        }
        if let Some(w) = &self.workload {
            w.validate().map_err(|e| match e {
                traces::TraceError::Spec { field, reason } => {
                    ConfigError::invalid(&format!("workload.{field}"), reason)
                }
                other => ConfigError::invalid("workload", other.to_string()),
            })?;
        }
        self.router.validate("router")?;
        if let Some(c) = &self.cache {
            c.validate("cache")?;
        }
        if let Some(slo) = &self.slo
            && !(slo.latency_ms.is_finite() && slo.latency_ms > 0.0)
        {
            return Err(ConfigError::invalid(
                "slo.latency_ms",
                format!("must be a positive finite number, got {}", slo.latency_ms),
            ));
        }
        if let Some(e) = &self.energy {
            e.validate("energy")?;
        }
        if let Some(llm) = &self.llm {
            for (key, present) in [
                ("devices", !self.devices.is_empty()),
                ("cache", self.cache.is_some()),
                ("cascade", self.cascade.is_some()),
                ("slo", self.slo.is_some()),
                ("variants", !self.variants.is_empty()),
            ] {
                if present {
                    return Err(ConfigError::invalid(
                        key,
                        "not used by an [llm] scenario (replicas are llm.pools, targets llm.slo)",
                    ));
                }
            }
            self.validate_classes()?;
            return llm.resolve(&self.kinds()?).map(|_| ());
        }
        self.resolve().map(|_| ())
    }

    /// The built-in device kinds with this scenario's additions and overrides.
    pub fn kinds(&self) -> Result<std::collections::BTreeMap<String, DeviceKind>, ConfigError> {
        let mut kinds = builtin_kinds();
        for (i, k) in self.device_kinds.iter().enumerate() {
            k.validate(&format!("device_kinds[{i}]"))?;
            kinds.insert(k.name.clone(), k.clone());
        }
        Ok(kinds)
    }

    /// Checks the `[llm]` table and resolves it against the device kinds: what the LLM engine
    /// runs ([`crate::llm::run`]). Errors if the scenario has no `[llm]` table.
    pub fn resolve_llm(&self) -> Result<crate::llm::LlmScenario, ConfigError> {
        let spec = self.llm.as_ref().ok_or_else(|| ConfigError::invalid("llm", "the scenario has no [llm] table"))?;
        Ok(crate::llm::LlmScenario {
            name: self.name.clone(),
            llm: spec.resolve(&self.kinds()?)?,
            energy: self.energy.clone().unwrap_or_default(),
            classes: self.classes.clone(),
        })
    }

    /// Expands device groups into replicas, resolves kinds, variants and service models, and
    /// checks every cross-reference; errors name the key.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let mut kinds = builtin_kinds();
        for (i, k) in self.device_kinds.iter().enumerate() {
            k.validate(&format!("device_kinds[{i}]"))?;
            kinds.insert(k.name.clone(), k.clone());
        }
        for (i, v) in self.variants.iter().enumerate() {
            let key = format!("variants[{i}]");
            if self.variants[..i].iter().any(|o| o.name == v.name) {
                return Err(ConfigError::invalid(
                    &format!("{key}.name"),
                    format!("duplicate variant name `{}`", v.name),
                ));
            }
            v.validate(&key)?;
            for kind in v.service.keys() {
                if !kinds.contains_key(kind) {
                    return Err(ConfigError::invalid(
                        &format!("{key}.service.{kind}"),
                        format!("unknown device kind `{kind}`"),
                    ));
                }
            }
        }
        self.validate_classes()?;
        let order = |discipline| ClassOrder {
            discipline,
            priorities: self.classes.iter().map(|c| c.priority).collect(),
            weights: self.classes.iter().map(|c| c.weight).collect(),
        };
        if self.devices.is_empty() {
            return Err(ConfigError::invalid("devices", "at least one device is needed"));
        }
        let mut devices = Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            let key = format!("devices[{i}]");
            if d.name.trim().is_empty() {
                return Err(ConfigError::invalid(&format!("{key}.name"), "must not be empty"));
            }
            if self.devices[..i].iter().any(|o| o.name == d.name) {
                return Err(ConfigError::invalid(
                    &format!("{key}.name"),
                    format!("duplicate device name `{}`", d.name),
                ));
            }
            for (field, v) in [("servers", d.servers), ("count", d.count)] {
                if v == 0 {
                    return Err(ConfigError::invalid(&format!("{key}.{field}"), "must be at least 1"));
                }
                if v > MAX_REPLICAS {
                    return Err(ConfigError::invalid(
                        &format!("{key}.{field}"),
                        format!("must be at most {MAX_REPLICAS}"),
                    ));
                }
            }
            d.batching.validate(&format!("{key}.batching"))?;
            let kind = match &d.kind {
                None => None,
                Some(k) => Some(kinds.get(k).cloned().ok_or_else(|| {
                    let known: Vec<&str> = kinds.keys().map(String::as_str).collect();
                    ConfigError::invalid(
                        &format!("{key}.kind"),
                        format!("unknown device kind `{k}` (known: {})", known.join(", ")),
                    )
                })?),
            };
            let variant = match &d.variant {
                None => None,
                Some(v) => Some(self.variants.iter().position(|x| &x.name == v).ok_or_else(|| {
                    ConfigError::invalid(&format!("{key}.variant"), format!("unknown variant `{v}`"))
                })?),
            };
            if let (Some(vi), Some(k)) = (variant, &kind) {
                let v = &self.variants[vi];
                let need = v.weight_bytes as f64 / 1e9;
                if need > k.memory_gb {
                    return Err(ConfigError::invalid(
                        &format!("{key}.variant"),
                        format!(
                            "variant `{}` needs {need:.1} GB of weights, more than the {} GB of a `{}`",
                            v.name, k.memory_gb, k.name
                        ),
                    ));
                }
            }
            let service = match (&d.service, variant, &kind) {
                (Some(s), _, _) => s.clone(),
                (None, Some(vi), Some(k)) => self.variants[vi].service.get(&k.name).cloned().ok_or_else(|| {
                    ConfigError::invalid(
                        &format!("{key}.service"),
                        format!("variant `{}` has no service model for kind `{}`: add variants.service.{} or give service here", self.variants[vi].name, k.name, k.name),
                    )
                })?,
                _ => {
                    return Err(ConfigError::invalid(
                        &format!("{key}.service"),
                        "missing: give a service model, or a kind and a variant that has one for it",
                    ));
                }
            };
            service.validate(&format!("{key}.service"))?;
            if let Some(st) = &d.stalls {
                st.validate(&format!("{key}.stalls"))?;
            }
            if let Some(dr) = &d.drift {
                dr.validate(&format!("{key}.drift"))?;
            }
            if let Some(c) = &d.cold {
                c.validate(&format!("{key}.cold"))?;
            }
            if let Some(p) = &d.power {
                p.validate(&format!("{key}.power"))?;
            }
            let autoscale = match &d.autoscale {
                None => None,
                Some(a) => {
                    a.validate(&format!("{key}.autoscale"))?;
                    if d.count != 1 {
                        return Err(ConfigError::invalid(
                            &format!("{key}.count"),
                            "an autoscaled group has no fixed count: give autoscale.min and autoscale.max",
                        ));
                    }
                    if u64::from(a.max) * u64::from(d.servers) > u64::from(MAX_REPLICAS) {
                        return Err(ConfigError::invalid(
                            &format!("{key}.autoscale.max"),
                            format!("max x servers must be at most {MAX_REPLICAS}"),
                        ));
                    }
                    let variant_gb = variant.map_or(0.0, |vi| self.variants[vi].weight_bytes as f64 / 1e9);
                    Some(ResolvedAutoscale {
                        spec: a.clone(),
                        servers_per_replica: d.servers,
                        cold_start_s: a.cold_start_s(variant_gb, kind.as_ref().and_then(|k| k.load_gb_s)),
                    })
                }
            };
            let shed_after = match d.shed_after_ms {
                None => None,
                Some(v) if v.is_finite() && v >= 0.0 => SimTime::from_millis_f64(v),
                Some(v) => {
                    return Err(ConfigError::invalid(
                        &format!("{key}.shed_after_ms"),
                        format!("must be a non-negative finite number, got {v}"),
                    ));
                }
            };
            for r in 0..d.count {
                devices.push(ResolvedDevice {
                    name: if d.count == 1 { d.name.clone() } else { format!("{}/{r}", d.name) },
                    group: i,
                    kind: kind.clone(),
                    servers: autoscale.as_ref().map_or(d.servers, |a| a.spec.max * d.servers),
                    queue_capacity: d.queue_capacity,
                    shed_after,
                    variant,
                    service: service.clone(),
                    batching: d.batching.clone(),
                    recorded_service: d.recorded_service,
                    stalls: d.stalls.clone(),
                    drift: d.drift.clone(),
                    cold: d.cold.clone(),
                    cost_per_s: kind.as_ref().map_or(0.0, |k| k.price_per_hour / 3600.0),
                    power: d.power.clone().or_else(|| kind.as_ref().and_then(|k| k.power.clone())),
                    order: order(d.queue),
                    autoscale: autoscale.clone(),
                });
            }
        }
        // Heterogeneous pools: every group of a shared pool uses the utilization policy and keeps
        // at least one replica (the controller, not an arrival, decides which kind starts).
        for (i, d) in self.devices.iter().enumerate() {
            if let Some(a) = &d.autoscale
                && a.pool.is_some()
            {
                let key = format!("devices[{i}].autoscale");
                if !matches!(a.policy, crate::autoscale::ScalingPolicy::Utilization { .. }) {
                    return Err(ConfigError::invalid(
                        &format!("{key}.policy"),
                        "a shared pool needs a `utilization` policy",
                    ));
                }
                if a.min == 0 {
                    return Err(ConfigError::invalid(
                        &format!("{key}.min"),
                        "a shared pool's groups keep at least 1 replica",
                    ));
                }
            }
        }
        let cascade = match &self.cascade {
            None => None,
            Some(c) => {
                let find = |field: &str, name: &str| -> Result<usize, ConfigError> {
                    let vi = self.variants.iter().position(|v| v.name == name).ok_or_else(|| {
                        ConfigError::invalid(&format!("cascade.{field}"), format!("unknown variant `{name}`"))
                    })?;
                    if !devices.iter().any(|d| d.variant == Some(vi)) {
                        return Err(ConfigError::invalid(
                            &format!("cascade.{field}"),
                            format!("no device serves variant `{name}`"),
                        ));
                    }
                    Ok(vi)
                };
                let student = find("student", &c.student)?;
                let teacher = find("teacher", &c.teacher)?;
                match c.escalate {
                    Escalation::Probability { p } if !(0.0..=1.0).contains(&p) => {
                        return Err(ConfigError::invalid("cascade.escalate.p", format!("must be in [0, 1], got {p}")));
                    }
                    Escalation::Confidence { threshold, beta_a, beta_b } => {
                        if !(0.0..=1.0).contains(&threshold) {
                            return Err(ConfigError::invalid(
                                "cascade.escalate.threshold",
                                format!("must be in [0, 1], got {threshold}"),
                            ));
                        }
                        for (f, v) in [("beta_a", beta_a), ("beta_b", beta_b)] {
                            if !(v.is_finite() && v > 0.0) {
                                return Err(ConfigError::invalid(
                                    &format!("cascade.escalate.{f}"),
                                    format!("must be a positive finite number, got {v}"),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
                Some(ResolvedCascade { student, teacher, escalate: c.escalate.clone() })
            }
        };
        Ok(Resolved { devices, variants: self.variants.clone(), cascade })
    }

    /// Checks `[[classes]]`: unique names, shares in [0, 1] summing to 1 when given (on every
    /// class or none), positive weights and SLOs.
    fn validate_classes(&self) -> Result<(), ConfigError> {
        if self.classes.len() > usize::from(u16::MAX) {
            return Err(ConfigError::invalid("classes", "at most 65535 classes"));
        }
        for (i, c) in self.classes.iter().enumerate() {
            let key = format!("classes[{i}]");
            if c.name.trim().is_empty() || self.classes[..i].iter().any(|o| o.name == c.name) {
                return Err(ConfigError::invalid(
                    &format!("{key}.name"),
                    format!("empty or duplicate name `{}`", c.name),
                ));
            }
            crate::check::positive(&format!("{key}.weight"), c.weight)?;
            if let Some(v) = c.slo_ms {
                crate::check::positive(&format!("{key}.slo_ms"), v)?;
            }
            if let Some(v) = c.share
                && !(0.0..=1.0).contains(&v)
            {
                return Err(ConfigError::invalid(&format!("{key}.share"), format!("must be in [0, 1], got {v}")));
            }
        }
        let given = self.classes.iter().filter(|c| c.share.is_some()).count();
        if given > 0 {
            if given < self.classes.len() {
                return Err(ConfigError::invalid("classes", "give a share on every class or on none"));
            }
            let sum: f64 = self.classes.iter().filter_map(|c| c.share).sum();
            if (sum - 1.0).abs() > 1e-9 {
                return Err(ConfigError::invalid("classes", format!("shares must sum to 1, got {sum}")));
            }
        }
        Ok(())
    }

    /// Total servers over all device replicas (an autoscaled group at its `max`).
    pub fn total_servers(&self) -> u64 {
        self.devices
            .iter()
            .map(|d| u64::from(d.servers) * u64::from(d.autoscale.as_ref().map_or(d.count, |a| a.max)))
            .sum()
    }
}

/// One device replica after resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedDevice {
    /// Replica name.
    pub name: String,
    /// Index of its group in `devices`.
    pub group: usize,
    /// Its kind, if given.
    pub kind: Option<DeviceKind>,
    /// Servers.
    pub servers: u32,
    /// Queue cap.
    pub queue_capacity: Option<u64>,
    /// Deadline shedding.
    pub shed_after: Option<SimTime>,
    /// Index into the variants.
    pub variant: Option<usize>,
    /// Batch service model.
    pub service: ServiceSpec,
    /// Batching policy.
    pub batching: BatcherSpec,
    /// Recorded service times.
    pub recorded_service: RecordedService,
    /// Stalls of each server.
    pub stalls: Option<StallSpec>,
    /// Speed over time.
    pub drift: Option<DriftSpec>,
    /// Cold starts after idle gaps.
    pub cold: Option<ColdSpec>,
    /// $ per second while provisioned (per replica of an autoscaled group).
    pub cost_per_s: f64,
    /// Power of one replica, if known.
    pub power: Option<crate::energy::PowerSpec>,
    /// Queue order by class.
    pub order: ClassOrder,
    /// Autoscaling: then `servers` is `max` × the servers of one replica, one queue in front.
    pub autoscale: Option<ResolvedAutoscale>,
}

/// An autoscaled group after resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedAutoscale {
    /// The policy and bounds.
    pub spec: crate::autoscale::AutoscaleSpec,
    /// Servers of one replica.
    pub servers_per_replica: u32,
    /// Seconds from the decision to start a replica until it serves.
    pub cold_start_s: f64,
}

impl ResolvedDevice {
    /// Servers of one replica (the group's `servers`).
    pub fn servers_per_replica(&self) -> u32 {
        self.autoscale.as_ref().map_or(self.servers, |a| a.servers_per_replica)
    }
}

/// A cascade after resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedCascade {
    /// Student variant index.
    pub student: usize,
    /// Teacher variant index.
    pub teacher: usize,
    /// Rule.
    pub escalate: Escalation,
}

/// A scenario ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Device replicas, in order.
    pub devices: Vec<ResolvedDevice>,
    /// Variants.
    pub variants: Vec<VariantSpec>,
    /// Cascade.
    pub cascade: Option<ResolvedCascade>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        name = "t"
        [workload.arrivals]
        kind = "poisson"
        rate = 10.0
        [[devices]]
        name = "d"
        servers = 2
        service = { kind = "exponential", mean_ms = 5.0 }
    "#;

    fn err(text: &str) -> String {
        ScenarioConfig::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_good_scenario_round_trips_through_its_resolved_toml() {
        let c = ScenarioConfig::parse(GOOD).unwrap();
        assert_eq!(ScenarioConfig::parse(&c.to_toml()).unwrap(), c);
        let s = GOOD.replace("servers = 2", "servers = 2\nstalls = { rate_per_s = 1.5, duration_ms = [4.5, 5.25] }");
        let c = ScenarioConfig::parse(&s).unwrap();
        assert_eq!(c.devices[0].stalls.as_ref().unwrap().duration_ms, vec![4.5, 5.25]);
        assert_eq!(ScenarioConfig::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn bad_scenarios_name_the_key_and_the_reason() {
        let e = err(&GOOD.replace("servers = 2", "servers = 0"));
        assert!(e.contains("devices[0].servers") && e.contains("at least 1"), "{e}");
        let e = err(&GOOD.replace("rate = 10.0", "rate = -10.0"));
        assert!(e.contains("workload.arrivals.rate") && e.contains("positive"), "{e}");
        let e = err(&GOOD.replace("servers = 2", "servers = 2\nspeed = 3"));
        assert!(e.contains("unknown field") && e.contains("speed"), "{e}");
        let e = err(&GOOD.replace("servers = 2", "servers = \"two\""));
        assert!(e.contains("servers") && e.contains("invalid type"), "{e}");
        let e = err(&GOOD.replace("\"exponential\"", "\"weibull\""));
        assert!(e.contains("weibull"), "{e}");
        let e = err(&GOOD.replace("mean_ms = 5.0", "mean_ms = 0.0"));
        assert!(e.contains("devices[0].service.mean_ms"), "{e}");
        let stalls = |v: &str| err(&GOOD.replace("servers = 2", &format!("servers = 2\nstalls = {v}")));
        let e = stalls("{ rate_per_s = 0.0, duration_ms = [5.0] }");
        assert!(e.contains("devices[0].stalls.rate_per_s") && e.contains("positive"), "{e}");
        let e = stalls("{ rate_per_s = 1.0, duration_ms = [] }");
        assert!(e.contains("devices[0].stalls.duration_ms") && e.contains("at least one"), "{e}");
        let e = stalls("{ rate_per_s = 1.0, duration_ms = [5.0, -1.0] }");
        assert!(e.contains("devices[0].stalls.duration_ms[1]"), "{e}");
        let e = err(&GOOD.replace("servers = 2", "servers = 2\ndrift = { step_ms = 100.0, phi = 1.0, sigma = 0.1 }"));
        assert!(e.contains("devices[0].drift.phi") && e.contains("[0, 1)"), "{e}");
        let e = err(&GOOD.replace("servers = 2", "servers = 2\ndrift = { step_ms = 0.0, phi = 0.5, sigma = 0.1 }"));
        assert!(e.contains("devices[0].drift.step_ms"), "{e}");
    }
}
