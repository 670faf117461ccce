//! The servesim simulator: an event core, serving policies, streaming metrics and closed-form
//! queueing results to check it against.
//!
//! ```
//! let config = sim::ScenarioConfig::parse(r#"
//!     name = "example"
//!     [workload.arrivals]
//!     kind = "poisson"
//!     rate = 50.0
//!     [[devices]]
//!     name = "server"
//!     service = { kind = "exponential", mean_ms = 10.0 }
//! "#).unwrap();
//! let summary = sim::run_generated(&config, 1, 10_000, false).unwrap().summary;
//! assert_eq!(summary.requests.completed, 10_000);
//! let exact = summary.analytic.unwrap(); // M/M/1 at ρ = 0.5: E[W] = 20 ms
//! assert_eq!(exact.model, "M/M/1");
//! assert!((exact.w_mean_ms - 20.0).abs() < 1e-9);
//! ```
//!
//! **Architecture invariant:** this crate does no IO. It reads no files, links no polars, ONNX
//! Runtime, clap or plotters; requests come in through an iterator, results go out as values.
//! Policies are state machines over `(state, now)`, so the replay harness can drive them with the
//! wall clock.

pub mod analytic;
pub mod autoscale;
pub mod builtin;
pub mod calendar;
pub mod catalog;
pub mod check;
pub mod config;
pub mod energy;
pub mod engine;
pub mod gate;
pub mod groundtruth;
pub mod llm;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod service;
pub mod serving;

pub use config::{ConfigError, ScenarioConfig};
pub use engine::{RunOptions, RunResult, SimError, Summary, predict, run, run_logged};
pub use traces::SimTime;

/// What a run of any scenario produced: the request-level engine's result, or an LLM run's
/// summary with its per-request records when they were asked for.
// One per run, moved a handful of times: boxing either variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// A scenario without `[llm]`.
    Classic(RunResult),
    /// A scenario with `[llm]`: the token-level engine.
    Llm(llm::LlmSummary, Option<Vec<llm::LlmRecord>>),
}

impl Outcome {
    /// The summary as `summary.json` holds it.
    pub fn summary_value(&self) -> serde_json::Value {
        match self {
            Outcome::Classic(r) => serde_json::to_value(&r.summary),
            Outcome::Llm(s, _) => serde_json::to_value(s),
        }
        .expect("summaries serialize")
    }

    /// The summary's metrics by dotted path, time series left out ([`gate::point_metrics_of`]).
    pub fn metrics(&self) -> std::collections::BTreeMap<String, f64> {
        gate::point_metrics_of(&self.summary_value())
    }
}

/// Runs any scenario over `requests` (sorted by arrival): the token-level LLM engine when it
/// has an `[llm]` table, else the request-level engine. The one entry point the CLI, the
/// course and a Python binding share.
pub fn run_scenario(
    config: &ScenarioConfig,
    requests: &mut dyn Iterator<Item = traces::Request>,
    opts: RunOptions,
) -> Result<Outcome, SimError> {
    if config.llm.is_none() {
        return Ok(Outcome::Classic(run(config, requests, opts)?));
    }
    // A generated workload's request classes, drawn as the request-level engine draws them.
    let mut draw = if opts.trace_driven { None } else { engine::ClassDraw::new(config, opts.seed) };
    let requests = &mut requests.map(|mut r| {
        if let Some(d) = draw.as_mut() {
            r.class = traces::ClassId(d.draw());
        }
        r
    });
    if opts.record {
        let (s, r) = llm::run_recorded(config.resolve_llm()?, requests, opts.seed)?;
        Ok(Outcome::Llm(s, Some(r)))
    } else {
        Ok(Outcome::Llm(llm::run(config.resolve_llm()?, requests, opts.seed)?, None))
    }
}

/// Requests simulated for a generated workload whose scenario gives no `requests`.
pub const DEFAULT_REQUESTS: u64 = 100_000;

/// Runs `config` on its own generated workload with `seed`, `n` requests.
///
/// # Panics
/// If the scenario has no workload (a trace-only scenario); validate first.
pub fn run_generated(config: &ScenarioConfig, seed: u64, n: u64, record: bool) -> Result<RunResult, SimError> {
    let w = config.workload.as_ref().expect("scenario has a workload");
    let mut g = w.generator(seed, n).expect("a validated workload builds a generator");
    run(config, &mut g, RunOptions { seed, record, trace_driven: false })
}
