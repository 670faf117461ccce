//! `servesim simulate`.

use crate::cmd::print::{print_llm_summary, print_summary};
use anyhow::Result;
use clap::Args;
use servesim::ops::simulate::{ProfileInput, SimulateRequest, TraceInput, simulate};
use servesim::scenario::ScenarioSource;
use sim::Outcome;
use std::path::PathBuf;
use traces::formats::SourceFormat;

/// Simulate a scenario and write a run directory.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Examples:
  servesim simulate --scenario mmc
  servesim simulate --scenario mmc --seed 7 --requests 100000 --records
  servesim simulate --scenario my.toml --trace ../shared/traces/AzureLLMInferenceTrace_conv.csv
  servesim simulate --scenario overload --out /tmp/runs

Writes OUT/<run-id>/ with manifest.json, config.resolved.toml, summary.json and, with
--records, requests.parquet; the directory appears whole or not at all.")]
pub struct SimulateArgs {
    /// Scenario: a TOML file or a built-in name (see `servesim scenarios`).
    #[arg(long, short = 's', value_name = "FILE|NAME")]
    pub scenario: String,
    /// Drive the run with this trace instead of the scenario's workload (CSV, Parquet or JSONL;
    /// servesim, Azure or Mooncake schema, detected from the columns).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Schema of --trace, if detection should not decide.
    #[arg(long, value_name = "servesim|azure|mooncake", requires = "trace")]
    pub trace_format: Option<SourceFormat>,
    /// Run seed (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of requests (overrides the scenario's; cuts a --trace to its first N, which
    /// nothing else does).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Parent directory of the run directory.
    #[arg(long, short = 'o', default_value = "runs", value_name = "DIR")]
    pub out: PathBuf,
    /// Also write one record per request (requests.parquet).
    #[arg(long)]
    pub records: bool,
    /// Replay the trace this many times faster (arrival times divided by X; the trace id is that
    /// of the compressed requests).
    #[arg(long, value_name = "X", requires = "trace")]
    pub speed: Option<f64>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Service-time profile from `servesim calibrate`: devices whose `variant` it measured take
    /// its service model, and the stalls and drift it saw (unless the profile turns them off).
    /// Refused if stale (other models than --models, or another machine).
    #[arg(long, value_name = "FILE", requires = "models")]
    pub profile: Option<PathBuf>,
    /// Models directory the profile must have been measured on (with --profile).
    #[arg(long, value_name = "DIR", requires = "profile")]
    pub models: Option<PathBuf>,
}

impl SimulateArgs {
    /// The library's request for these flags.
    pub fn request(&self) -> SimulateRequest {
        SimulateRequest {
            scenario: ScenarioSource::Arg(self.scenario.clone()),
            trace: self.trace.as_ref().map(|path| TraceInput {
                path: path.clone(),
                format: self.trace_format,
                speed: self.speed,
            }),
            seed: self.seed,
            requests: self.requests,
            profile: match (&self.profile, &self.models) {
                (Some(profile), Some(models)) => {
                    Some(ProfileInput { profile: profile.clone(), models: models.clone() })
                }
                _ => None,
            },
            records: self.records,
            out: Some(self.out.clone()),
            trace_source: None,
            scenario_source: None,
            progress: servesim::ops::progress::Progress::Bar,
        }
    }
}

/// Runs the command; returns the run directory.
pub fn run(args: &SimulateArgs) -> Result<PathBuf> {
    let done = simulate(&args.request())?;
    for note in &done.notes {
        eprintln!("{note}");
    }
    let path = done.dir.clone().expect("an output directory was given");
    if args.json {
        println!("{}", done.summary_json()?.trim_end());
    } else {
        match &done.outcome {
            Outcome::Classic(r) => print_summary(&r.summary, &done.run_id, &path, &done.trace),
            Outcome::Llm(s, _) => print_llm_summary(s, &done.run_id, &path, &done.trace),
        }
    }
    Ok(path)
}
