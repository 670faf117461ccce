//! `servesim validate`: replay a trace on real models, simulate the same trace with the calibrated
//! profile, and compare the latency distributions.

use anyhow::Result;
use clap::Args;
use servesim::ops::validate::{Event, ValidateRequest, Validation, validate};
use sim::Outcome;
use std::path::PathBuf;

/// Replay, simulate the same trace with the profile, compare.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim calibrate --models models/tiny --out profile.toml
  servesim validate --scenario my.toml --models models/tiny --profile profile.toml --requests 3000
  servesim validate -s my.toml --models models/tiny --profile profile.toml --replays 3

Prints the prediction first: the sim from the profile alone (its service times, cold starts
after idle gaps and stalls, all measured by `calibrate` before any replay) against the median of
the replays, with their range. Then, out of sample, the speed factor measured on replay k scored
on replay k+1; then busy time by the server's idle gap (replays vs the profile); then, labelled
as in-sample diagnostics (fitted on the replays they are compared with: not accuracy), a sim
given the first replay's own busy times and a sim with the profile scaled to the replays' speed.

Writes under OUT: the replay run(s), the simulate run (with --records), the diagnostic and
out-of-sample simulate runs, and val-<id>/ with comparison.json (see docs/metrics.md,
section Validation), the scenarios of the extra sims, and trace.parquet, the trace all ran (arrival
times already divided by --speed).")]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: crate::cmd::replay::ReplayInput,
    /// Service-time profile from `servesim calibrate` for these models on this machine.
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
    /// Replay the trace this many times: the sim is compared with the median replay, and each
    /// statistic gets the replays' range (a replay is a measurement; its spread from one run to
    /// the next is the noise floor any sim-vs-replay error must be read against).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub replays: u32,
    /// Parent directory of the output directories.
    #[arg(long, short = 'o', default_value = "runs", value_name = "DIR")]
    pub out: PathBuf,
}

/// Prints what a validation reports as it goes, as `replay` and `simulate` print their runs.
pub(crate) fn print_event(e: Event<'_>) {
    match e {
        Event::Status(s) => eprintln!("{s}"),
        Event::Replayed(dir, r) => crate::cmd::replay::print_summary(r, dir),
        Event::Simulated(done) => {
            let path = done.dir.as_deref().unwrap_or(std::path::Path::new("-"));
            match &done.outcome {
                Outcome::Classic(r) => crate::cmd::print::print_summary(&r.summary, &done.run_id, path, &done.trace),
                Outcome::Llm(s, _) => crate::cmd::print::print_llm_summary(s, &done.run_id, path, &done.trace),
            }
        }
    }
}

/// Runs the command.
pub fn run(args: &ValidateArgs) -> Result<()> {
    let req = ValidateRequest {
        input: args.input.to_input(),
        profile: args.profile.clone(),
        replays: args.replays,
        out: args.out.clone(),
        scenario_source: None,
        stop: Some(crate::cmd::replay::ctrl_c()?),
    };
    let v = validate(&req, &mut print_event)?;
    print_validation(&v);
    Ok(())
}

/// Prints a validation's comparison.
pub(crate) fn print_validation(v: &Validation) {
    let (val_id, path, cmp) = (&v.val_id, &v.dir, &v.comparison);
    let replays = &cmp.replay_runs;
    println!("validation {val_id}  ->  {}", path.display());
    println!("prediction (the sim from the profile alone) against the replays:");
    println!(
        "{:<14}{:>12}{:>22}{:>12}{:>10}  ({} replay(s): median and range)",
        "latency ms",
        "replay",
        "replay range",
        "sim",
        "error",
        replays.len()
    );
    for (k, p) in [
        ("p50", &cmp.latency_ms_p50),
        ("p90", &cmp.latency_ms_p90),
        ("p99", &cmp.latency_ms_p99),
        ("mean", &cmp.latency_ms_mean),
    ] {
        let range = format!("{:.4}–{:.4}", p.replay_range[0], p.replay_range[1]);
        let inside = if p.sim_within_replay_range { "  (within the range)" } else { "" };
        println!("{:<14}{:>12.4}{:>22}{:>12.4}{:>9.1}%{inside}", k, p.replay, range, p.sim, 100.0 * p.relative_error);
    }
    println!(
        "KS distance {:.4}  mean batch size replay {:.3} sim {:.3}",
        cmp.ks_distance, cmp.mean_batch_size.replay, cmp.mean_batch_size.sim
    );
    println!("busy time by the server's idle gap before the batch (replays vs the profile's prediction):");
    for b in &cmp.busy_by_gap {
        println!(
            "  gap {:>6}–{:<6} ms  {:>6} batches  replay {:.4} ms  predicted {:.4} ms  ({:+.1}%)",
            b.gap_ms[0],
            if b.gap_ms[1].is_finite() { format!("{}", b.gap_ms[1]) } else { "∞".to_string() },
            b.batches,
            b.replay_busy_ms,
            b.predicted_busy_ms,
            100.0 * (b.predicted_busy_ms / b.replay_busy_ms - 1.0)
        );
    }
    for o in &cmp.speed_out_of_sample {
        println!(
            "out of sample: speed {:.3} measured on replay {}, scored on replay {}: p50 {:+.1}%  p90 {:+.1}%  p99 {:+.1}%",
            o.factor,
            o.fitted_on,
            o.scored_on,
            100.0 * o.latency_ms_p50.relative_error,
            100.0 * o.latency_ms_p90.relative_error,
            100.0 * o.latency_ms_p99.relative_error
        );
    }
    println!("in-sample diagnostics (fitted on the replays they are compared with; not accuracy):");
    let e = &cmp.sim_with_replay_service;
    println!(
        "  sim given the first replay's own busy times (the simulator's error alone): p50 {:+.1}%  p90 {:+.1}%  p99 {:+.1}%",
        100.0 * e.latency_ms_p50.relative_error,
        100.0 * e.latency_ms_p90.relative_error,
        100.0 * e.latency_ms_p99.relative_error
    );
    let e = &cmp.sim_at_replay_speed;
    println!(
        "  machine speed vs the profile (busy time ÷ profile, per replay): {}",
        cmp.profile_speed_ratio.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(" ")
    );
    println!(
        "  sim with the profile scaled to the same replays' speed: p50 {:+.1}%  p90 {:+.1}%  p99 {:+.1}%",
        100.0 * e.latency_ms_p50.relative_error,
        100.0 * e.latency_ms_p90.relative_error,
        100.0 * e.latency_ms_p99.relative_error
    );
}
