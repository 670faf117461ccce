//! Capacity planning: the cheapest device mix that meets a latency objective.

use crate::error::input;
use crate::scenario::ScenarioSource;
use anyhow::Result;
use sim::RunOptions;
use sim::plan::autoscale::{AutoPlan, Minimize};
use sim::plan::{LatencyObjective, PlanReport, PlanSpec};
use std::path::PathBuf;
use traces::formats::SourceFormat;
use traces::workload::ArrivalSpec;

/// A plan to make.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    /// The scenario; its device groups are what the plan sizes.
    pub scenario: ScenarioSource,
    /// Latency objective (`p99<=40ms`).
    pub slo: LatencyObjective,
    /// Largest acceptable drop rate, in [0, 1).
    pub max_drop: f64,
    /// Offered rate, requests/s (rescales the scenario's arrival process).
    pub rate: Option<f64>,
    /// Plan for this trace instead of the scenario's workload.
    pub trace: Option<PathBuf>,
    /// Schema of the trace, if detection should not decide.
    pub trace_format: Option<SourceFormat>,
    /// Fewest replicas per device group.
    pub min_count: u32,
    /// Most replicas per device group.
    pub max_count: u32,
    /// Requests per simulated mix (default: the scenario's, at most 100 000).
    pub requests: Option<u64>,
    /// Seed (the same for every mix: common random numbers).
    pub seed: Option<u64>,
    /// What an autoscaled pool's plan minimizes (fixed mixes: cost only).
    pub minimize: Minimize,
}

/// A finished plan.
#[derive(Debug)]
pub struct Planned {
    /// The scenario's name.
    pub scenario: String,
    /// The offered rate planned for, requests/s.
    pub offered_per_s: f64,
    /// Every mix visited, with its verdict, and the winner (empty for an autoscaled pool).
    pub report: PlanReport,
    /// The plan of the scenario's autoscaled pool, when it has one: every bound and target
    /// simulated, the frontier and the winner.
    pub auto: Option<AutoPlan>,
}

fn scale_arrivals(a: &mut ArrivalSpec, rate: f64) {
    let f = rate / a.mean_rate();
    match a {
        ArrivalSpec::Poisson { rate: r }
        | ArrivalSpec::Gamma { rate: r, .. }
        | ArrivalSpec::Deterministic { rate: r } => *r *= f,
        ArrivalSpec::Mmpp { rates, .. } => rates.iter_mut().for_each(|r| *r *= f),
        ArrivalSpec::Diurnal { mean_rate, .. } => *mean_rate *= f,
    }
}

/// Plans `req`: mixes in cost order, pruned or simulated, the cheapest that meets the objective
/// the winner.
pub fn plan(args: &PlanRequest) -> Result<Planned> {
    let loaded = args.scenario.load()?;
    let mut config = loaded.config;
    if !(0.0..1.0).contains(&args.max_drop) {
        return Err(input(format!("--max-drop: must be in [0, 1), got {}", args.max_drop)));
    }
    if args.max_count < args.min_count || args.max_count == 0 {
        return Err(input("--max-count: must be at least 1 and at least --min-count"));
    }
    if config.devices.len() > 6 || (u64::from(args.max_count) + 1).pow(config.devices.len() as u32) > 1_000_000 {
        return Err(input("too many mixes: use fewer device groups or a smaller --max-count"));
    }
    let seed = args.seed.unwrap_or(config.seed);
    let n = args.requests.unwrap_or(config.requests.unwrap_or(sim::DEFAULT_REQUESTS).min(100_000));
    let trace = match &args.trace {
        Some(p) => {
            let mut t = traces::formats::read_any(p, args.trace_format)?;
            t.requests.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            Some(t)
        }
        None => None,
    };
    let offered = match (&trace, &mut config.workload) {
        (Some(t), _) => {
            let s = traces::stats::stats(t);
            s.mean_rate_per_s
        }
        (None, Some(w)) => {
            if let Some(r) = args.rate {
                if !(r.is_finite() && r > 0.0) {
                    return Err(input(format!("--rate: must be a positive number, got {r}")));
                }
                scale_arrivals(&mut w.arrivals, r);
            }
            w.mean_rate()
        }
        (None, None) => return Err(input(format!("{}: the scenario has no [workload]; give --trace", loaded.source))),
    };
    let spec = PlanSpec {
        objective: args.slo,
        max_drop: args.max_drop,
        min_count: args.min_count,
        max_count: args.max_count,
        offered_per_s: offered,
    };
    let simulate = |c: &sim::ScenarioConfig| {
        let opts = RunOptions { seed, record: false, trace_driven: trace.is_some() };
        let r = match &trace {
            Some(t) => sim::run(c, &mut t.requests.iter().cloned(), opts)?,
            None => {
                let w = c.workload.as_ref().expect("checked");
                let mut g = w.generator(seed, n).expect("validated workload");
                sim::run(c, &mut g, opts)?
            }
        };
        Ok(r.summary)
    };
    if config.devices.iter().any(|d| d.autoscale.is_some()) {
        let auto = sim::plan::autoscale::plan_autoscale(&config, &spec, args.minimize, simulate)?;
        let report = PlanReport { groups: vec![], candidates: vec![], winner: None, simulated: 0, not_visited: 0 };
        return Ok(Planned { scenario: config.name, offered_per_s: offered, report, auto });
    }
    let report = sim::plan::plan_by(&config, &spec, args.minimize, simulate)?;
    Ok(Planned { scenario: config.name, offered_per_s: offered, report, auto: None })
}
