//! `servesim`: simulate model serving, replay traces against real models, make the figures.
//!
//! The binary owns the command line (clap) and printing: each command translates its flags into
//! a typed request of the `servesim` library (`servesim::ops`) and prints the result.

mod cmd;

use servesim::error;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Discrete-event simulation of inference serving.
#[derive(Debug, Parser)]
#[command(
    name = "servesim",
    version,
    about,
    after_help = "\
Examples:
  servesim course                                 # the whole course figure set into ./course/
  servesim scenarios                              # what is built in
  servesim simulate --scenario mmc                # S1: M/M/4 against Erlang C
  servesim trace inspect ../shared/traces/AzureLLMInferenceTrace_conv.csv

Exit codes: 0 success, 2 bad input (file, flag or scenario; the message names it), 1 anything else."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a scenario and write a run directory.
    Simulate(cmd::simulate::SimulateArgs),
    /// Replay a trace in real time against real models (ONNX Runtime) through the same policies.
    Replay(cmd::replay::ReplayArgs),
    /// Measure batch service times of real models and write a service-time profile.
    Calibrate(cmd::calibrate::CalibrateArgs),
    /// Replay, simulate the same trace with a calibrated profile, and compare.
    Validate(cmd::validate::ValidateArgs),
    /// Regenerate the course's figure set from built-in scenarios.
    Course(cmd::course::CourseArgs),
    /// Execute the chapter's notebooks and render them to HTML.
    Notebooks(cmd::notebooks::NotebooksArgs),
    /// Build the real models of the quantization and distillation previews.
    #[command(subcommand)]
    Models(cmd::models::ModelsCmd),
    /// Run a grid of simulations over scenario parameters (parallel, shardable, resumable).
    Sweep(cmd::sweep::SweepArgs),
    /// Join the shards of one sweep.
    Merge(cmd::sweep::MergeArgs),
    /// Render figures and an HTML report from a saved run or sweep.
    Figures(cmd::report::FiguresArgs),
    /// Find the cheapest device mix that meets a latency objective.
    Plan(cmd::plan::PlanArgs),
    /// List the built-in scenarios.
    Scenarios(cmd::scenarios::ScenariosArgs),
    /// Compare a candidate run with a baseline under declared rules and decide.
    Gate(cmd::contract::GateArgs),
    /// Re-hash runs and check their lineage.
    Audit(cmd::contract::AuditArgs),
    /// Run the failure checks (stale, malformed, inconsistent, unauditable, too costly).
    Check(cmd::check::CheckArgs),
    /// Print where a run, decision or trace came from.
    Lineage(cmd::lineage::LineageArgs),
    /// Simulate real vLLM measurements (ground-truth cases) and compare with what was measured.
    Groundtruth(cmd::groundtruth::GroundtruthArgs),
    /// Fit the LLM iteration model to ground-truth cases (with leave-one-out cross-validation).
    CalibrateLlm(cmd::calibrate_llm::CalibrateLlmArgs),
    /// Generate, import and inspect request traces.
    #[command(subcommand)]
    Trace(cmd::trace::TraceCmd),
}

fn main() -> ExitCode {
    // `servesim … | head` closes stdout early: end quietly, as a process killed by SIGPIPE would
    // (exit 141), instead of panicking on the next print.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload().downcast_ref::<String>().map(String::as_str).unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Gate(a) => cmd::contract::gate(a).map(|code| {
            if code != 0 {
                std::process::exit(i32::from(code))
            }
        }),
        Command::Audit(a) => cmd::contract::audit(a).map(|code| {
            if code != 0 {
                std::process::exit(i32::from(code))
            }
        }),
        Command::Lineage(a) => cmd::lineage::lineage(a),
        Command::Check(a) => cmd::check::run(a).map(|code| {
            if code != 0 {
                std::process::exit(i32::from(code))
            }
        }),
        Command::Simulate(a) => cmd::simulate::run(a).map(|_| ()),
        Command::Replay(a) => cmd::replay::run(a).map(|_| ()),
        Command::Calibrate(a) => cmd::calibrate::run(a).map(|_| ()),
        Command::Validate(a) => cmd::validate::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Course(a) => cmd::course::run(a),
        Command::Notebooks(a) => cmd::notebooks::run(a),
        Command::Figures(a) => cmd::report::run(a).map(|_| ()),
        Command::Sweep(a) => cmd::sweep::run(a).map(|_| ()),
        Command::Merge(a) => cmd::sweep::merge(a).map(|_| ()),
        Command::Models(m) => cmd::models::run(m),
        Command::Scenarios(a) => cmd::scenarios::run(a),
        Command::Trace(t) => cmd::trace::run(t),
        Command::Groundtruth(a) => cmd::groundtruth::run(a),
        Command::CalibrateLlm(a) => cmd::calibrate_llm::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error::message(&e));
            ExitCode::from(error::exit_code(&e) as u8)
        }
    }
}
