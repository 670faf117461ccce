//! `servesim plan`: the cheapest device mix that meets a latency objective.

use anyhow::Result;
use clap::Args;
use servesim::ops::plan::{PlanRequest, Planned, plan};
use servesim::scenario::ScenarioSource;
use sim::plan::autoscale::{AutoPlan, Minimize};
use sim::plan::{LatencyObjective, Verdict};
use std::path::PathBuf;
use traces::formats::SourceFormat;

/// Find the cheapest device mix that meets a latency objective.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim plan --scenario hardware --slo \"p99<=40ms\"
  servesim plan --scenario hardware --slo \"p99<=40ms\" --rate 1500 --max-count 6
  servesim plan --scenario my.toml --slo \"mean<=20ms\" --trace ../shared/traces/AzureLLMInferenceTrace_conv.csv

Each device group's `count` varies from --min-count to --max-count. Mixes are visited
cheapest first: those whose peak throughput cannot carry the offered rate, and those no larger
than a mix that already failed, are skipped (the second assumes more devices never hurt, true
for load-aware routers); the rest are simulated. The first mix that meets the objective and the
drop limit wins.")]
pub struct PlanArgs {
    /// Scenario: a TOML file or a built-in name; its device groups are what the plan sizes.
    #[arg(long, short = 's')]
    pub scenario: String,
    /// Latency objective: STAT<=VALUE, STAT one of mean, p50, p90, p95, p99, p999.
    #[arg(long, value_name = "OBJECTIVE")]
    pub slo: LatencyObjective,
    /// Largest acceptable drop rate.
    #[arg(long, default_value_t = 0.001)]
    pub max_drop: f64,
    /// Offered rate, requests/s (rescales the scenario's arrival process).
    #[arg(long, conflicts_with = "trace")]
    pub rate: Option<f64>,
    /// Plan for this trace instead of the scenario's workload.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Schema of --trace, if detection should not decide.
    #[arg(long, requires = "trace")]
    pub trace_format: Option<SourceFormat>,
    /// Fewest replicas per device group.
    #[arg(long, default_value_t = 0)]
    pub min_count: u32,
    /// Most replicas per device group.
    #[arg(long, default_value_t = 8)]
    pub max_count: u32,
    /// Requests per simulated mix (default: the scenario's, at most 100 000).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Seed (the same for every mix: common random numbers).
    #[arg(long)]
    pub seed: Option<u64>,
    /// What to minimize: cost or energy (a fixed mix: every mix not pruned is simulated for
    /// energy; an autoscaled pool: its billed cost or energy).
    #[arg(long, value_parser = ["cost", "energy"], default_value = "cost")]
    pub minimize: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints an autoscaled pool's plan.
fn print_auto(a: &AutoPlan, scenario: &str, offered: f64, args: &PlanArgs) -> Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(a)?);
        return Ok(());
    }
    println!(
        "plan for {scenario} at {offered:.2} requests/s on average: autoscaled pool `{}` ({} policy), {:?} latency \
         <= {} ms, drop rate <= {}, minimizing {}",
        a.group, a.policy, args.slo.stat, args.slo.max_ms, args.max_drop, args.minimize
    );
    println!(
        " {:>4} {:>6} {:>12} {:>10} {:>8} {:>10} {:>6} {:>11}  verdict",
        "max", "target", "cost $", "kWh", "drops", "replica-h", "starts", "latency ms"
    );
    for (i, c) in a.candidates.iter().enumerate() {
        let mark = if a.winner == Some(i) { "*" } else { " " };
        println!(
            "{mark}{:>4} {:>6} {:>12.4} {:>10} {:>8.4} {:>10.2} {:>6} {:>11.3}  {}{}",
            c.max,
            c.target.map_or("-".to_string(), |t| format!("{t}")),
            c.usd,
            c.kwh.map_or("-".to_string(), |k| format!("{k:.3}")),
            c.drop_rate,
            c.replica_hours,
            c.cold_starts,
            c.value_ms,
            if c.meets { "MEETS" } else { "fails" },
            if c.frontier { "  (frontier)" } else { "" }
        );
    }
    match a.winner {
        Some(w) => {
            let c = &a.candidates[w];
            println!(
                "winner: max {}{} at {:.4} $ ({} kWh): the least {} among the {} configurations that meet the \
                 objective ({} simulated); the frontier rows are those no other beats on both latency and {}",
                c.max,
                c.target.map_or(String::new(), |t| format!(", target {t}")),
                c.usd,
                c.kwh.map_or("-".to_string(), |k| format!("{k:.3}")),
                args.minimize,
                a.candidates.iter().filter(|c| c.meets).count(),
                a.candidates.len(),
                args.minimize
            );
        }
        None => println!(
            "no configuration within the bounds meets the objective ({} simulated): raise --max-count or relax the SLO",
            a.candidates.len()
        ),
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: &PlanArgs) -> Result<()> {
    let req = PlanRequest {
        scenario: ScenarioSource::Arg(args.scenario.clone()),
        slo: args.slo,
        max_drop: args.max_drop,
        rate: args.rate,
        trace: args.trace.clone(),
        trace_format: args.trace_format,
        min_count: args.min_count,
        max_count: args.max_count,
        requests: args.requests,
        seed: args.seed,
        minimize: if args.minimize == "energy" { Minimize::Energy } else { Minimize::Cost },
    };
    let Planned { scenario, offered_per_s: offered, report, auto } = plan(&req)?;
    if let Some(a) = auto {
        return print_auto(&a, &scenario, offered, args);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "plan for {} at {:.2} requests/s: {:?} latency <= {} ms, drop rate <= {}",
        scenario, offered, args.slo.stat, args.slo.max_ms, args.max_drop
    );
    println!("{:<28} {:>10}  verdict", report.groups.join(" + "), "$/h");
    for (i, c) in report.candidates.iter().enumerate() {
        let counts: Vec<String> = c.counts.iter().map(u32::to_string).collect();
        let verdict = match &c.verdict {
            Verdict::PrunedCapacity { capacity_per_s } => {
                format!("pruned: peak throughput {capacity_per_s:.1}/s cannot carry {offered:.1}/s")
            }
            Verdict::PrunedDominated { by } => format!("pruned: no larger than {by:?}, which failed"),
            Verdict::Invalid { reason } => format!("invalid: {reason}"),
            Verdict::Simulated { value_ms, drop_rate, usd_per_1000_requests, kwh, meets } => format!(
                "{} {:?} {:.3} ms, drops {:.4}, {:.6} $/1000 req{}",
                if *meets { "MEETS" } else { "fails" },
                args.slo.stat,
                value_ms,
                drop_rate,
                usd_per_1000_requests,
                kwh.map_or(String::new(), |k| format!(", {k:.4} kWh"))
            ),
        };
        let mark = if report.winner == Some(i) { "*" } else { " " };
        println!("{mark}{:<27} {:>10.3}  {verdict}", counts.join(" + "), c.usd_per_hour);
    }
    match report.winner {
        Some(w) => {
            let c = &report.candidates[w];
            let mix: Vec<String> = c
                .counts
                .iter()
                .zip(&report.groups)
                .filter(|(n, _)| **n > 0)
                .map(|(n, g)| format!("{n}x {g}"))
                .collect();
            if args.minimize == "energy" {
                println!(
                    "winner: {} at {:.3} $/h: the least energy among the mixes that meet the objective ({} simulated, \
                     every mix not pruned)",
                    mix.join(" + "),
                    c.usd_per_hour,
                    report.simulated
                );
            } else {
                println!(
                    "winner: {} at {:.3} $/h: the cheapest mix that meets the objective; every cheaper mix above \
                     was pruned or failed ({} simulated, {} more expensive mixes not visited)",
                    mix.join(" + "),
                    c.usd_per_hour,
                    report.simulated,
                    report.not_visited
                );
            }
        }
        None => println!(
            "no mix within the bounds meets the objective ({} simulated): raise --max-count or relax the SLO",
            report.simulated
        ),
    }
    Ok(())
}
