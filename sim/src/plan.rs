//! Capacity planning: the cheapest device mix that meets a latency objective.
//!
//! Mixes (a replica count per device group, each within bounds) are visited in order of cost.
//! Two sound-if-monotone prunes skip simulation: a mix whose peak throughput cannot carry the
//! offered rate (utilisation would reach 1), and a mix no larger than one that already failed
//! (adding devices never hurts under a load-aware router; with round-robin it can, so the
//! planner says so). Every other mix is simulated; the first that meets the objective is the
//! cheapest one.

pub mod autoscale;

use crate::config::ScenarioConfig;
use crate::engine::{SimError, Summary};
use serde::Serialize;
use std::str::FromStr;

/// Which latency statistic an objective bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyStat {
    /// Mean.
    Mean,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
}

/// A latency objective such as `p99<=50ms`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencyObjective {
    /// Statistic.
    pub stat: LatencyStat,
    /// Bound, ms.
    pub max_ms: f64,
}

impl LatencyObjective {
    /// The statistic's value in a summary, ms.
    pub fn value(&self, s: &Summary) -> f64 {
        let d = &s.latency_ms;
        match self.stat {
            LatencyStat::Mean => d.mean,
            LatencyStat::P50 => d.p50,
            LatencyStat::P90 => d.p90,
            LatencyStat::P95 => d.p95,
            LatencyStat::P99 => d.p99,
            LatencyStat::P999 => d.p999,
        }
    }
}

impl FromStr for LatencyObjective {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || {
            format!(
                "`{s}`: expected STAT<=VALUE with STAT one of mean, p50, p90, p95, p99, p999 and VALUE in ms or s, e.g. p99<=50ms"
            )
        };
        let (stat, value) = s.split_once("<=").ok_or_else(usage)?;
        let stat = match stat.trim().to_ascii_lowercase().as_str() {
            "mean" => LatencyStat::Mean,
            "p50" => LatencyStat::P50,
            "p90" => LatencyStat::P90,
            "p95" => LatencyStat::P95,
            "p99" => LatencyStat::P99,
            "p999" | "p99.9" => LatencyStat::P999,
            _ => return Err(usage()),
        };
        let v = value.trim();
        let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1e3)
        } else {
            (v, 1.0)
        };
        let max_ms = num.trim().parse::<f64>().map_err(|_| usage())? * scale;
        if !(max_ms.is_finite() && max_ms > 0.0) {
            return Err(usage());
        }
        Ok(LatencyObjective { stat, max_ms })
    }
}

/// What to plan for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanSpec {
    /// The latency objective.
    pub objective: LatencyObjective,
    /// Largest acceptable drop rate.
    pub max_drop: f64,
    /// Replica count bounds per device group (inclusive).
    pub min_count: u32,
    /// Upper bound.
    pub max_count: u32,
    /// Offered rate, requests/s (for the capacity prune).
    pub offered_per_s: f64,
}

/// What the planner concluded about one mix.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Peak throughput below the offered rate.
    PrunedCapacity {
        /// Peak throughput of the mix, requests/s.
        capacity_per_s: f64,
    },
    /// No larger than a mix that failed.
    PrunedDominated {
        /// That mix's counts.
        by: Vec<u32>,
    },
    /// The scenario does not resolve with these counts (e.g. a cascade stage left empty).
    Invalid {
        /// Why.
        reason: String,
    },
    /// Simulated.
    Simulated {
        /// The objective's statistic, ms.
        value_ms: f64,
        /// Drop rate.
        drop_rate: f64,
        /// Cost per 1000 requests, $.
        usd_per_1000_requests: f64,
        /// Energy over the run, kWh (absent without a power model).
        #[serde(skip_serializing_if = "Option::is_none")]
        kwh: Option<f64>,
        /// Whether it met the objective and the drop limit.
        meets: bool,
    },
}

/// One mix visited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// Replicas per device group, in scenario order.
    pub counts: Vec<u32>,
    /// Provisioned price, $/h.
    pub usd_per_hour: f64,
    /// Conclusion.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanReport {
    /// Device group names, in scenario order.
    pub groups: Vec<String>,
    /// Mixes visited, cheapest first.
    pub candidates: Vec<Candidate>,
    /// Index of the winner in `candidates`.
    pub winner: Option<usize>,
    /// Mixes simulated.
    pub simulated: usize,
    /// Mixes never visited because a cheaper one won.
    pub not_visited: usize,
}

/// Peak throughput of one replica of `group`, requests/s.
fn replica_capacity(config: &ScenarioConfig, group: usize) -> Result<f64, crate::config::ConfigError> {
    let mut one = config.clone();
    for (i, d) in one.devices.iter_mut().enumerate() {
        d.count = if i == group { 1 } else { d.count.max(1) };
    }
    let r = one.resolve()?;
    let d = r.devices.iter().find(|d| d.group == group).expect("group has a replica");
    let b = d.batching.build().max_batch();
    Ok(f64::from(d.servers) * b as f64 / d.service.batch_mean_s(b))
}

/// Plans `config` for `spec`, simulating with `simulate`.
pub fn plan(
    config: &ScenarioConfig,
    spec: &PlanSpec,
    simulate: impl FnMut(&ScenarioConfig) -> Result<Summary, SimError>,
) -> Result<PlanReport, SimError> {
    plan_by(config, spec, autoscale::Minimize::Cost, simulate)
}

/// [`plan`], minimizing cost or energy. For energy every mix that is not pruned is simulated
/// (the cost order no longer says where to stop) and the winner is the one that meets the
/// objective with the least energy (ties: the cheaper, then the first visited).
pub fn plan_by(
    config: &ScenarioConfig,
    spec: &PlanSpec,
    minimize: autoscale::Minimize,
    mut simulate: impl FnMut(&ScenarioConfig) -> Result<Summary, SimError>,
) -> Result<PlanReport, SimError> {
    let groups = config.devices.len();
    let prices: Vec<f64> = {
        let r = config.resolve()?;
        (0..groups).map(|g| r.devices.iter().find(|d| d.group == g).map_or(0.0, |d| d.cost_per_s * 3600.0)).collect()
    };
    let capacity: Vec<f64> = (0..groups).map(|g| replica_capacity(config, g)).collect::<Result<_, _>>()?;
    let mut mixes: Vec<Vec<u32>> = vec![Vec::new()];
    for _ in 0..groups {
        mixes = mixes
            .into_iter()
            .flat_map(|m| {
                (spec.min_count..=spec.max_count).map(move |c| {
                    let mut m = m.clone();
                    m.push(c);
                    m
                })
            })
            .collect();
    }
    mixes.retain(|m| m.iter().any(|&c| c > 0));
    let cost = |m: &[u32]| m.iter().zip(&prices).map(|(&c, p)| f64::from(c) * p).sum::<f64>();
    // Cheapest first; among equal prices, fewer devices first, then lexicographic (stable order).
    mixes.sort_by(|a, b| {
        cost(a).total_cmp(&cost(b)).then(a.iter().sum::<u32>().cmp(&b.iter().sum::<u32>())).then(a.cmp(b))
    });
    let total = mixes.len();
    let mut candidates = Vec::new();
    let mut failed: Vec<Vec<u32>> = Vec::new();
    let mut winner = None;
    let mut simulated = 0;
    for m in mixes {
        let usd_per_hour = cost(&m);
        if let Some(w) = winner
            && minimize == autoscale::Minimize::Cost
        {
            // Visit the mixes that cost exactly as much as the winner, to report ties; stop after.
            let best: &Candidate = &candidates[w];
            if usd_per_hour > best.usd_per_hour {
                break;
            }
        }
        let cap: f64 = m.iter().zip(&capacity).map(|(&c, k)| f64::from(c) * k).sum();
        let verdict = if cap <= spec.offered_per_s * (1.0 - spec.max_drop) {
            Verdict::PrunedCapacity { capacity_per_s: cap }
        } else if let Some(by) = failed.iter().find(|f| m.iter().zip(f.iter()).all(|(a, b)| a <= b)) {
            Verdict::PrunedDominated { by: by.clone() }
        } else {
            let mut c = config.clone();
            for (d, &n) in c.devices.iter_mut().zip(&m) {
                d.count = n;
            }
            c.devices.retain(|d| d.count > 0);
            match c.resolve() {
                Err(e) => Verdict::Invalid { reason: e.to_string() },
                Ok(_) => {
                    simulated += 1;
                    let s = simulate(&c)?;
                    let value_ms = spec.objective.value(&s);
                    let meets = value_ms <= spec.objective.max_ms && s.drop_rate <= spec.max_drop;
                    if !meets {
                        failed.push(m.clone());
                    }
                    Verdict::Simulated {
                        value_ms,
                        drop_rate: s.drop_rate,
                        usd_per_1000_requests: s.cost.usd_per_1000_requests,
                        kwh: s.energy.as_ref().map(|e| e.kwh),
                        meets,
                    }
                }
            }
        };
        let meets = matches!(verdict, Verdict::Simulated { meets: true, .. });
        candidates.push(Candidate { counts: m, usd_per_hour, verdict });
        if meets && winner.is_none() {
            winner = Some(candidates.len() - 1);
        }
    }
    if minimize == autoscale::Minimize::Energy {
        let energy = |c: &Candidate| match c.verdict {
            Verdict::Simulated { kwh, .. } => kwh.unwrap_or(f64::INFINITY),
            _ => f64::INFINITY,
        };
        winner = (0..candidates.len())
            .filter(|&i| matches!(candidates[i].verdict, Verdict::Simulated { meets: true, .. }))
            .min_by(|&a, &b| {
                energy(&candidates[a])
                    .total_cmp(&energy(&candidates[b]))
                    .then(candidates[a].usd_per_hour.total_cmp(&candidates[b].usd_per_hour))
                    .then(a.cmp(&b))
            });
    }
    let not_visited = total - candidates.len();
    Ok(PlanReport {
        groups: config.devices.iter().map(|d| d.name.clone()).collect(),
        candidates,
        winner,
        simulated,
        not_visited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse_with_units_and_reject_nonsense() {
        let o: LatencyObjective = "p99<=50ms".parse().unwrap();
        assert_eq!((o.stat, o.max_ms), (LatencyStat::P99, 50.0));
        let o: LatencyObjective = "mean <= 0.2s".parse().unwrap();
        assert_eq!((o.stat, o.max_ms), (LatencyStat::Mean, 200.0));
        for bad in ["p98<=5ms", "p99<5ms", "p99<=-1ms", "p99<=fast"] {
            assert!(bad.parse::<LatencyObjective>().is_err(), "{bad}");
        }
    }
}
