//! The run summary (`summary.json`): every metric of `docs/metrics.md`, computed once at the end.

use super::{Engine, RequestRecord, RunOptions};
use crate::analytic::Prediction;
use crate::config::ScenarioConfig;
use crate::metrics::{Distribution, LatencyStats};
use serde::Serialize;
use traces::SimTime;

/// Request counts. Conservation: `arrived = completed + dropped` at the end of every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests answered (by a model or the cache).
    pub completed: u64,
    /// Requests refused at admission or shed.
    pub dropped: u64,
}

/// Batch-size distribution of a device (or of all devices).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BatchStats {
    /// Batches dispatched.
    pub count: u64,
    /// Requests in them / batches.
    pub mean_size: f64,
    /// Largest batch.
    pub max_size: u64,
    /// `[size, batches]` pairs for every size that occurred, ascending.
    pub histogram: Vec<[u64; 2]>,
}

impl BatchStats {
    pub(crate) fn from_counts(counts: &[u64]) -> BatchStats {
        let count: u64 = counts.iter().sum();
        let requests: u64 = counts.iter().enumerate().map(|(b, c)| b as u64 * c).sum();
        BatchStats {
            count,
            mean_size: if count > 0 { requests as f64 / count as f64 } else { 0.0 },
            max_size: counts.iter().rposition(|&c| c > 0).unwrap_or(0) as u64,
            histogram: counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(b, c)| [b as u64, *c]).collect(),
        }
    }
}

/// Per-device-replica results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceSummary {
    /// Replica name.
    pub name: String,
    /// Device kind, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Variant served, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Servers.
    pub servers: u32,
    /// Busy server-time / (servers × horizon).
    pub utilization: f64,
    /// Time-average number waiting in the device's queue.
    pub mean_queue_length: f64,
    /// Largest queue length held for a positive time.
    pub peak_queue_length: u64,
    /// Requests routed to the device, served by it, refused by it.
    pub counts: Counts,
    /// Of `counts.dropped`, those shed after waiting past the deadline.
    pub shed: u64,
    /// Time from joining the device's queue to leaving it served, ms.
    pub latency_ms: Distribution,
    /// Batches the device ran.
    pub batches: BatchStats,
    /// Provisioned cost over the horizon, $ (an autoscaled group: its billed replica-seconds
    /// × price).
    pub cost_usd: f64,
    /// Energy of its replicas over the horizon, kWh (× PUE; absent without a power model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_kwh: Option<f64>,
    /// Autoscaling statistics of an autoscaled group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<super::PoolStats>,
}

/// Per-variant results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantSummary {
    /// Variant name.
    pub name: String,
    /// Requests it served (including ones it then escalated).
    pub served: u64,
    /// Requests whose final answer it gave.
    pub answered: u64,
    /// Declared quality.
    pub quality: f64,
    /// Time from joining a queue of the variant to being served, ms.
    pub latency_ms: Distribution,
}

/// Little's law L = λW checked on the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LittleCheck {
    /// Time-average number in system.
    pub l: f64,
    /// Completed / horizon, 1/s.
    pub lambda_per_s: f64,
    /// Mean latency of completed requests, s.
    pub w_s: f64,
    /// (L − λW) / L.
    pub relative_residual: f64,
}

/// Response-cache counters (accumulated during the run).
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheCounts {
    pub(crate) lookups: u64,
    pub(crate) hits: u64,
    pub(crate) stale_hits: u64,
    pub(crate) stale_misses: u64,
    pub(crate) misses: u64,
}

/// Response-cache results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheStats {
    /// Requests with a key (looked up).
    pub lookups: u64,
    /// Fresh hits.
    pub hits: u64,
    /// Stale entries served.
    pub stale_hits: u64,
    /// Stale entries treated as misses.
    pub stale_misses: u64,
    /// Absent or expired.
    pub misses: u64,
    /// (hits + stale_hits) / lookups.
    pub hit_ratio: f64,
    /// (stale_hits + stale_misses) / lookups.
    pub stale_ratio: f64,
}

/// One path through a cascade.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathStats {
    /// Requests that took it.
    pub requests: u64,
    /// End-to-end latency, ms.
    pub latency_ms: Distribution,
    /// Mean service cost per request, $.
    pub mean_cost_usd: f64,
    /// Mean answer quality.
    pub mean_quality: f64,
}

/// Cascade results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CascadeStats {
    /// Escalated / answered by the student first.
    pub escalation_fraction: f64,
    /// Answered by the student alone.
    pub student_path: PathStats,
    /// Escalated to the teacher.
    pub escalated_path: PathStats,
}

/// SLO results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloStats {
    /// Latency target, ms.
    pub latency_ms: f64,
    /// Requests answered within the target / arrived (drops count as misses).
    pub attainment: f64,
    /// Requests answered within the target / horizon, 1/s.
    pub goodput_per_s: f64,
}

/// One request class over the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassSummary {
    /// Name.
    pub name: String,
    /// Priority (`priority` queues).
    pub priority: u32,
    /// Weight (`weighted` queues).
    pub weight: f64,
    /// Requests.
    pub requests: Counts,
    /// End-to-end latency of its completed requests, ms.
    pub latency_ms: Distribution,
    /// Its latency target, ms (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo_ms: Option<f64>,
    /// Completed within its target / arrived (absent without a target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attainment: Option<f64>,
    /// Completed within its target per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_per_s: Option<f64>,
    /// Service cost of its requests: Σ busy time × price / batch size, $.
    pub service_cost_usd: f64,
}

/// Energy and carbon over the run (devices with a power model).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnergyStats {
    /// Facility energy: ∫ power dt × PUE, kWh.
    pub kwh: f64,
    /// Mean IT power, W.
    pub mean_power_w: f64,
    /// kWh × 1,000,000 / completed requests: Wh per 1,000 requests.
    pub wh_per_1000_requests: f64,
    /// ∫ power × PUE × carbon intensity dt, gCO₂e.
    pub gco2e: f64,
    /// gCO₂e per 1,000 completed requests.
    pub gco2e_per_1000_requests: f64,
}

/// Cost results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostStats {
    /// Σ over replicas of price × billed time (the horizon; an autoscaled replica's time on), $.
    pub provisioned_usd: f64,
    /// provisioned_usd / horizon, $/h.
    pub usd_per_hour: f64,
    /// provisioned / completed × 1000, $.
    pub usd_per_1000_requests: f64,
}

/// The summary of a run (`summary.json`). Metric definitions: `docs/metrics.md`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Run seed.
    pub seed: u64,
    /// Request counts.
    pub requests: Counts,
    /// Of `requests.dropped`, those shed after waiting past a deadline.
    pub shed: u64,
    /// Simulated time from 0 to the last event, s.
    pub horizon_s: f64,
    /// Arrivals / time of the last arrival, 1/s.
    pub offered_rate_per_s: f64,
    /// Completed / horizon, 1/s.
    pub throughput_per_s: f64,
    /// Dropped / arrived.
    pub drop_rate: f64,
    /// End-to-end latency (finish − arrival) of completed requests, ms.
    pub latency_ms: Distribution,
    /// Queueing delay (start − joining the queue) per service, ms.
    pub queue_delay_ms: Distribution,
    /// Service time of the batch, per request served, ms.
    pub service_ms: Distribution,
    /// Busy server-time / (all servers × horizon).
    pub utilization: f64,
    /// Batches over all devices.
    pub batches: BatchStats,
    /// Time-average number waiting, all devices.
    pub mean_queue_length: f64,
    /// Time-average number in system.
    pub mean_in_system: f64,
    /// Little's-law residual.
    pub little: LittleCheck,
    /// Latency objective results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloStats>,
    /// Cost.
    pub cost: CostStats,
    /// Energy and carbon (absent when no device has a power model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergyStats>,
    /// Per request class (empty without `[[classes]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassSummary>,
    /// Jain's fairness index over the classes' SLO attainment, (Σx)² / (n Σx²) in [1/n, 1]
    /// (two or more classes with targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fairness: Option<f64>,
    /// Mean answer quality over answered requests with a known variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
    /// Response cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheStats>,
    /// Cascade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cascade: Option<CascadeStats>,
    /// Per-variant results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantSummary>,
    /// Per-replica results.
    pub devices: Vec<DeviceSummary>,
    /// The closed-form prediction, when the scenario has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytic: Option<Prediction>,
}

/// A finished run.
pub struct RunResult {
    /// Aggregates.
    pub summary: Summary,
    /// Per-request records, if asked for.
    pub records: Option<Vec<RequestRecord>>,
    /// Autoscaled pools over time: per pool, rows of one or more decisions (at most
    /// [`super::pool::TIMELINE_ROWS`]), pool after pool (empty without autoscaling).
    pub timeline: Vec<super::TimelineRow>,
    /// Every replica state change of the autoscaled pools, in time order (replicas ready at time 0
    /// have none; kept only when records are).
    pub scaling: Vec<super::ScalingEvent>,
}

/// Jain's fairness index of `x`: (Σx)² / (n · Σx²); 1 when all are equal, 1/n when one has all
/// (1 when every x is 0: nobody is favoured).
pub fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let squares: f64 = x.iter().map(|v| v * v).sum();
    if squares == 0.0 { 1.0 } else { sum * sum / (x.len() as f64 * squares) }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn path(p: &super::PathAcc) -> PathStats {
    let n = p.latency.count();
    PathStats {
        requests: n,
        latency_ms: p.latency.summary_ms(),
        mean_cost_usd: ratio(p.cost, n as f64),
        mean_quality: ratio(p.quality, n as f64),
    }
}

impl Engine<'_> {
    /// Latency at variant `v`: the merged distributions of the devices serving it.
    fn variant_latency(&self, v: usize) -> LatencyStats {
        let mut merged = LatencyStats::default();
        for d in self.devices.iter().filter(|d| d.variant == Some(v)) {
            merged.merge(if self.track_device_latency { &d.stats.latency } else { &self.t.latency });
        }
        merged
    }

    pub(super) fn summarize(&self, config: &ScenarioConfig, opts: RunOptions) -> Summary {
        let end = self.last;
        let horizon = end.as_secs_f64();
        let t = &self.t;
        let mut busy_area = 0.0;
        let mut queue_area = 0.0;
        let mut all_batches: Vec<u64> = Vec::new();
        let mut per_hour = 0.0;
        let mut provisioned = 0.0;
        let mut energy_sum: Option<(f64, f64)> = None;
        let mut serving_area = 0.0;
        let devices: Vec<DeviceSummary> = self
            .devices
            .iter()
            .zip(&self.resolved.devices)
            .map(|(d, spec)| {
                let busy = d.stats.busy.mean_until(end);
                busy_area += busy;
                queue_area += d.stats.queue_len.mean_until(end);
                if all_batches.len() < d.stats.batch_sizes.len() {
                    all_batches.resize(d.stats.batch_sizes.len(), 0);
                }
                for (b, c) in d.stats.batch_sizes.iter().enumerate() {
                    all_batches[b] += c;
                }
                let cost = d.pool.as_ref().map_or(spec.cost_per_s * horizon, |p| spec.cost_per_s * p.billed_s(end));
                provisioned += cost;
                per_hour += ratio(cost * 3600.0, horizon);
                let energy = d.power.as_ref().map(|_| d.meter.until(end, &self.energy));
                if let Some((kwh, g)) = energy {
                    energy_sum = Some(energy_sum.map_or((kwh, g), |(k, c): (f64, f64)| (k + kwh, c + g)));
                }
                let serving_servers = d.pool.as_ref().map_or(f64::from(spec.servers), |p| p.mean_ready_servers(end));
                DeviceSummary {
                    name: spec.name.clone(),
                    kind: spec.kind.as_ref().map(|k| k.name.clone()),
                    variant: spec.variant.map(|v| self.resolved.variants[v].name.clone()),
                    servers: spec.servers,
                    utilization: ratio(busy, serving_servers),
                    mean_queue_length: d.stats.queue_len.mean_until(end),
                    peak_queue_length: d.stats.queue_len.peak(),
                    counts: d.stats.counts,
                    shed: d.stats.shed,
                    latency_ms: if self.track_device_latency {
                        d.stats.latency.summary_ms()
                    } else {
                        t.latency.summary_ms()
                    },
                    batches: BatchStats::from_counts(&d.stats.batch_sizes),
                    cost_usd: cost,
                    energy_kwh: energy.map(|(kwh, _)| kwh),
                    autoscale: d.pool.as_ref().map(|p| p.stats(end)),
                }
            })
            .collect();
        for (d, spec) in self.devices.iter().zip(&self.resolved.devices) {
            serving_area += d.pool.as_ref().map_or(f64::from(spec.servers), |p| p.mean_ready_servers(end));
        }
        let l = t.in_system.mean_until(end);
        let lambda = ratio(t.completed as f64, horizon);
        let w = t.latency.mean_s();
        let variants = self
            .resolved
            .variants
            .iter()
            .zip(&t.by_variant)
            .enumerate()
            .map(|(vi, (v, acc))| VariantSummary {
                name: v.name.clone(),
                served: acc.served,
                answered: acc.answered,
                quality: v.quality,
                latency_ms: self.variant_latency(vi).summary_ms(),
            })
            .collect();
        let classes: Vec<ClassSummary> = config
            .classes
            .iter()
            .zip(&t.classes)
            .map(|(spec, acc)| ClassSummary {
                name: spec.name.clone(),
                priority: spec.priority,
                weight: spec.weight,
                requests: Counts { arrived: acc.arrived, completed: acc.completed, dropped: acc.dropped },
                latency_ms: acc.latency.summary_ms(),
                slo_ms: acc.slo.map(SimTime::as_millis_f64),
                attainment: acc.slo.map(|_| ratio(acc.slo_met as f64, acc.arrived as f64)),
                goodput_per_s: acc.slo.map(|_| ratio(acc.slo_met as f64, horizon)),
                service_cost_usd: acc.cost,
            })
            .collect();
        let shares: Vec<f64> = classes.iter().filter_map(|c| c.attainment).collect();
        let fairness = (shares.len() >= 2).then(|| jain(&shares));
        let c = &t.cache;
        Summary {
            scenario: config.name.clone(),
            seed: opts.seed,
            requests: Counts { arrived: t.arrived, completed: t.completed, dropped: t.dropped },
            shed: t.shed,
            horizon_s: horizon,
            offered_rate_per_s: ratio(t.arrived as f64, t.last_arrival.as_secs_f64()),
            throughput_per_s: lambda,
            drop_rate: ratio(t.dropped as f64, t.arrived as f64),
            latency_ms: t.latency.summary_ms(),
            queue_delay_ms: t.wait.summary_ms(),
            service_ms: t.service.summary_ms(),
            utilization: ratio(busy_area, serving_area),
            batches: BatchStats::from_counts(&all_batches),
            mean_queue_length: queue_area,
            mean_in_system: l,
            little: LittleCheck { l, lambda_per_s: lambda, w_s: w, relative_residual: ratio(l - lambda * w, l) },
            slo: config.slo.as_ref().map(|s| SloStats {
                latency_ms: s.latency_ms,
                attainment: ratio(t.slo_met as f64, t.arrived as f64),
                goodput_per_s: ratio(t.slo_met as f64, horizon),
            }),
            cost: CostStats {
                provisioned_usd: provisioned,
                usd_per_hour: per_hour,
                usd_per_1000_requests: ratio(provisioned * 1000.0, t.completed as f64),
            },
            energy: energy_sum.map(|(kwh, g)| EnergyStats {
                kwh,
                mean_power_w: ratio(kwh * 3.6e6, horizon * self.energy.pue),
                wh_per_1000_requests: ratio(kwh * 1e6, t.completed as f64),
                gco2e: g,
                gco2e_per_1000_requests: ratio(g * 1000.0, t.completed as f64),
            }),
            quality: (t.quality_n > 0).then(|| t.quality_sum / t.quality_n as f64),
            cache: self.core.front.has_cache().then(|| CacheStats {
                lookups: c.lookups,
                hits: c.hits,
                stale_hits: c.stale_hits,
                stale_misses: c.stale_misses,
                misses: c.misses,
                hit_ratio: ratio((c.hits + c.stale_hits) as f64, c.lookups as f64),
                stale_ratio: ratio((c.stale_hits + c.stale_misses) as f64, c.lookups as f64),
            }),
            cascade: self.resolved.cascade.as_ref().map(|_| CascadeStats {
                escalation_fraction: ratio(t.teacher_path.latency.count() as f64, t.escalation_checks as f64),
                student_path: path(&t.student_path),
                escalated_path: path(&t.teacher_path),
            }),
            classes,
            fairness,
            variants,
            devices,
            analytic: if opts.trace_driven { None } else { super::predict(config) },
        }
    }
}
