//! Planning an autoscaled pool over a time-varying load: the cheapest (or least-energy) bounds
//! and policy target that meet a latency objective.
//!
//! The scenario's first autoscaled group is sized: every `max` in the planner's bounds, and for a
//! policy with a target (utilization, concurrency, predictive) every target of [`TARGETS`], is
//! simulated on the same requests (a trace's time-varying rate, or the scenario's workload) with
//! the same seed. The winner is the candidate that meets the objective at the least cost (billed
//! replica time, cold starts included) or energy; ties go to the smaller `max`, then the higher
//! target. The frontier is every candidate no other beats on both the objective's latency and the
//! minimized quantity. Nothing is pruned: an autoscaled pool's cost is known only after its run.

use super::PlanSpec;
use crate::autoscale::ScalingPolicy;
use crate::config::ScenarioConfig;
use crate::engine::{SimError, Summary};
use serde::Serialize;

/// Policy targets tried (utilization share, or requests in flight per replica).
pub const TARGETS: [f64; 5] = [0.4, 0.5, 0.6, 0.7, 0.8];

/// What the plan minimizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Minimize {
    /// Billed cost, $.
    #[default]
    Cost,
    /// Facility energy, kWh.
    Energy,
}

/// One simulated configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AutoCandidate {
    /// Most replicas.
    pub max: u32,
    /// The policy's target (absent: a policy without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// The objective's latency statistic, ms.
    pub value_ms: f64,
    /// Drop rate.
    pub drop_rate: f64,
    /// Billed cost over the run, $.
    pub usd: f64,
    /// Facility energy over the run, kWh (absent without a power model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kwh: Option<f64>,
    /// Billed replica-hours.
    pub replica_hours: f64,
    /// Replicas started.
    pub cold_starts: u64,
    /// Meets the objective and the drop bound.
    pub meets: bool,
    /// No other candidate has both a lower latency and a lower minimized quantity.
    pub frontier: bool,
}

/// The plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AutoPlan {
    /// The group sized.
    pub group: String,
    /// Its policy kind.
    pub policy: String,
    /// What was minimized.
    pub minimize: Minimize,
    /// Every candidate, in the order simulated (by `max`, then target).
    pub candidates: Vec<AutoCandidate>,
    /// Index of the winner.
    pub winner: Option<usize>,
}

fn set_target(p: &mut ScalingPolicy, t: f64) -> bool {
    match p {
        ScalingPolicy::Utilization { target, .. }
        | ScalingPolicy::Concurrency { target, .. }
        | ScalingPolicy::Predictive { target, .. } => {
            *target = t;
            true
        }
        ScalingPolicy::Slo { .. } | ScalingPolicy::Schedule { .. } => false,
    }
}

/// Plans the first autoscaled group of `config` (None when it has none); `simulate` runs a
/// candidate configuration on the planned requests.
pub fn plan_autoscale(
    config: &ScenarioConfig,
    spec: &PlanSpec,
    minimize: Minimize,
    mut simulate: impl FnMut(&ScenarioConfig) -> Result<Summary, SimError>,
) -> Result<Option<AutoPlan>, SimError> {
    let Some(gi) = config.devices.iter().position(|d| d.autoscale.is_some()) else {
        return Ok(None);
    };
    let base = config.devices[gi].autoscale.clone().expect("found");
    let policy = serde_json::to_value(&base.policy)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_string)))
        .unwrap_or_default();
    let has_target = set_target(&mut base.policy.clone(), 0.5);
    let targets: Vec<Option<f64>> = if has_target { TARGETS.iter().map(|&t| Some(t)).collect() } else { vec![None] };
    let mut candidates = Vec::new();
    for max in spec.min_count.max(base.min).max(1)..=spec.max_count {
        for &target in &targets {
            let mut c = config.clone();
            let a = c.devices[gi].autoscale.as_mut().expect("found");
            a.max = max;
            a.initial = a.initial.map(|i| i.min(max));
            if let Some(t) = target {
                set_target(&mut a.policy, t);
            }
            c.resolve()?;
            let s = simulate(&c)?;
            let value_ms = spec.objective.value(&s);
            let stats = s.devices[gi].autoscale.clone();
            candidates.push(AutoCandidate {
                max,
                target,
                value_ms,
                drop_rate: s.drop_rate,
                usd: s.cost.provisioned_usd,
                kwh: s.energy.as_ref().map(|e| e.kwh),
                replica_hours: stats.as_ref().map_or(0.0, |x| x.replica_hours),
                cold_starts: stats.as_ref().map_or(0, |x| x.cold_starts),
                meets: value_ms <= spec.objective.max_ms && s.drop_rate <= spec.max_drop,
                frontier: false,
            });
        }
    }
    let measure = |c: &AutoCandidate| match minimize {
        Minimize::Cost => c.usd,
        Minimize::Energy => c.kwh.unwrap_or(f64::INFINITY),
    };
    let dominated: Vec<bool> = candidates
        .iter()
        .map(|c| {
            candidates.iter().any(|o| {
                o.value_ms <= c.value_ms
                    && measure(o) <= measure(c)
                    && (o.value_ms < c.value_ms || measure(o) < measure(c))
            })
        })
        .collect();
    for (c, d) in candidates.iter_mut().zip(dominated) {
        c.frontier = !d;
    }
    let winner = (0..candidates.len()).filter(|&i| candidates[i].meets).min_by(|&a, &b| {
        let (x, y) = (&candidates[a], &candidates[b]);
        measure(x)
            .total_cmp(&measure(y))
            .then(x.max.cmp(&y.max))
            .then(y.target.unwrap_or(0.0).total_cmp(&x.target.unwrap_or(0.0)))
    });
    Ok(Some(AutoPlan { group: config.devices[gi].name.clone(), policy, minimize, candidates, winner }))
}
