//! `servesim calibrate` (a profile is applied to a scenario by `servesim::ops::profile`).

use anyhow::{Context, Result};
use clap::Args;
use replay::calibrate::{CalibrateOptions, calibrate};
use replay::profile::Profile;
use servesim::error::input;
use servesim::rundir::code_version;
use std::path::{Path, PathBuf};

/// Measure batch service times of real models and write a service-time profile.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim models build --preset tiny --out models/tiny
  servesim calibrate --models models/tiny --out profiles/tiny.toml
  servesim calibrate --models models/course --threads 1,2 --variant teacher-fp32 --variant teacher-int8
  servesim simulate --scenario my.toml --profile profiles/tiny.toml --models models/tiny

Per variant and thread setting: warm-up runs of every batch size, then --repeats timed runs
(interleaved over batch sizes), each through the replay's own worker path (batch handed to a
worker thread, built from test rows, run, answer back: a server's busy time as `replay` sees
it; the ONNX Runtime run alone is reported beside it); median, p10 and p90; least-squares fits of a + b·B and
max(c, a + b·B) with R² and residuals. Then bursts of --gap-burst batches after each idle gap of
--gaps (at the smallest and the largest size, --gap-rounds times): a server that idled runs its
next batches slower, and the slowdown S·(1 − e^(−(gap/τ_idle)^k)), wearing off over τ_busy of
work, is fitted and used by `simulate` (--no-cold skips it). Stalls (runs far above their
group's median) are searched in the blocks and the bursts after short gaps. The profile records
each model's id and this machine: `simulate --profile` refuses it for other models or another
machine (stale). Last, a sustained back-to-back run (--sustained-ms) and an open-loop probe
(--probe-loads: one server, Poisson arrivals, replayed on the wall clock): measured and reported
against the profile's own prediction, so that a profile says how well it describes serving.")]
pub struct CalibrateArgs {
    /// Models directory (written by `servesim models build`).
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
    /// Variants to measure (repeatable); all models in DIR if omitted.
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// ONNX Runtime intra-op thread settings, comma-separated; simulate uses the first.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub threads: Vec<usize>,
    /// Batch sizes, comma-separated, increasing.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    pub batch: Vec<u32>,
    /// Untimed runs of each batch size first.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Timed runs of each batch size.
    #[arg(long, default_value_t = 30)]
    pub repeats: usize,
    /// Which service model `simulate` takes from the profile: the medians per size (`table`),
    /// a fit (`affine`, `affine_floor`), batch-1 runs resampled (`empirical`), or every size's
    /// runs resampled (`samples`: keeps the measured spread).
    #[arg(long = "use", default_value = "table", value_parser = ["table", "affine", "affine_floor", "empirical", "samples"])]
    pub use_model: String,
    /// Block instead of polling while handing batches to the worker thread (as `replay
    /// --no-poll` does); by default the threads busy-wait, as replays do by default.
    #[arg(long)]
    pub no_poll: bool,
    /// Consecutive timed runs of one batch size before the next size's turn: 50 is how a server
    /// without batching runs (always size 1), 1 how a batching server does (sizes change batch
    /// to batch). Whether the shape changes cost time depends on the model and the sizes;
    /// measure both if it matters (BENCHMARKS.md: no difference beyond noise at sizes 1–4 here).
    #[arg(long, default_value_t = replay::harness::CALIBRATION_BLOCK, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub block: usize,
    /// Leave stalls out of what `simulate` models: by default a run longer than its size's
    /// median by more than max(1 ms, 10 MADs) counts as a stall (the worker preempted), and
    /// `simulate` stalls the device at the measured rate instead of resampling those runs.
    #[arg(long)]
    pub no_stalls: bool,
    /// Model the machine's speed over time (opt-in): with two rounds or more (repeats > block),
    /// each round's speed factor is recorded (always) and, with this flag, `simulate` multiplies
    /// service times by the factor of the moment.
    #[arg(long)]
    pub drift: bool,
    /// Idle gaps to time bursts after, ms, comma-separated, increasing from 0: the worker is
    /// left idle that long before each burst (the calling thread waiting as a replay's scheduling
    /// thread does), at the smallest and the largest batch size. A slowdown that builds up while
    /// idle and wears off while busy is fitted to them (sim's `cold` model) and `simulate` gives
    /// it to every server.
    #[arg(long, value_delimiter = ',', default_values_t = replay::calibrate::DEFAULT_GAPS_MS.to_vec())]
    pub gaps: Vec<f64>,
    /// Bursts per idle gap and batch size.
    #[arg(long, default_value_t = replay::calibrate::DEFAULT_GAP_ROUNDS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub gap_rounds: usize,
    /// Back-to-back batches per burst after each gap (the slowdown wearing off).
    #[arg(long, default_value_t = replay::calibrate::DEFAULT_GAP_BURST, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub gap_burst: usize,
    /// Measure no idle gaps: `simulate` then models a server's busy time as the same whether it
    /// idled before or not.
    #[arg(long)]
    pub no_cold: bool,
    /// Length of a sustained back-to-back run at the smallest size, ms (0: none): whether a
    /// server that works without a break slows down over a replay's length (recorded, reported).
    #[arg(long, default_value_t = replay::calibrate::DEFAULT_SUSTAINED_MS)]
    pub sustained_ms: f64,
    /// Loads of the open-loop probe, comma-separated fractions of one server's batch-1 capacity:
    /// Poisson arrivals replayed on one server without batching, each batch's busy time against
    /// the profile's prediction for it (recorded, reported).
    #[arg(long, value_delimiter = ',', default_values_t = replay::calibrate::DEFAULT_PROBE_LOADS.to_vec())]
    pub probe_loads: Vec<f64>,
    /// Requests per probe load.
    #[arg(long, default_value_t = replay::calibrate::DEFAULT_PROBE_REQUESTS)]
    pub probe_requests: usize,
    /// Run no open-loop probe.
    #[arg(long)]
    pub no_probe: bool,
    /// Profile file to write.
    #[arg(long, short = 'o', default_value = "profile.toml", value_name = "FILE")]
    pub out: PathBuf,
}

/// The `created_by` string of artifacts.
pub(crate) fn created_by() -> String {
    let v = code_version();
    format!("servesim {} ({})", v.servesim, v.git_commit)
}

/// Runs the command; returns the profile.
pub fn run(args: &CalibrateArgs) -> Result<Profile> {
    let mut opts = CalibrateOptions::new(args.models.clone(), created_by());
    opts.variants = args.variants.clone();
    opts.threads = args.threads.clone();
    opts.batch = args.batch.clone();
    opts.warmup = args.warmup;
    opts.repeats = args.repeats;
    opts.block = args.block;
    opts.poll = !args.no_poll;
    opts.gaps_ms = if args.no_cold { Vec::new() } else { args.gaps.clone() };
    opts.gap_rounds = args.gap_rounds;
    opts.gap_burst = args.gap_burst;
    opts.sustained_ms = args.sustained_ms;
    opts.probe_loads = if args.no_probe { Vec::new() } else { args.probe_loads.clone() };
    opts.probe_requests = args.probe_requests;
    if !(args.sustained_ms >= 0.0 && args.sustained_ms.is_finite()) {
        return Err(input(format!("--sustained-ms: must be a non-negative number of ms, got {}", args.sustained_ms)));
    }
    if let Some(l) = opts.probe_loads.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
        return Err(input(format!("--probe-loads: each load must be in (0, 1), got {l}")));
    }
    if opts.probe_requests == 0 {
        return Err(input("--probe-requests: must be at least 1"));
    }
    crate::cmd::create_parent(&args.out)?;
    let mut profile = calibrate(&opts, &mut |what| eprintln!("calibrating {what}"))?;
    profile.use_model = serde_json::from_value(serde_json::Value::String(args.use_model.clone()))
        .map_err(|e| input(format!("--use {}: {e}", args.use_model)))?;
    profile.stalls = !args.no_stalls;
    profile.drift = args.drift;
    profile.cold = !args.no_cold;
    write_atomic(&args.out, profile.to_toml().as_bytes())?;
    println!(
        "profile -> {}  ({}, {} cores, ONNX Runtime {})",
        args.out.display(),
        profile.machine.cpu,
        profile.machine.cores,
        profile.machine.onnxruntime
    );
    for e in &profile.entries {
        println!("{} ({}), {} thread(s):", e.variant, e.model_id, e.threads);
        println!("  {:>6}{:>12}{:>12}{:>12}{:>14}", "batch", "median ms", "p10 ms", "p90 ms", "ORT alone ms");
        for i in 0..e.batch.len() {
            println!(
                "  {:>6}{:>12.4}{:>12.4}{:>12.4}{:>14.4}",
                e.batch[i], e.median_ms[i], e.p10_ms[i], e.p90_ms[i], e.run_median_ms[i]
            );
        }
        if let Some(f) = &e.affine {
            println!("  a + b·B: a {:.4} ms  b {:.6} ms  R² {:.4}", f.a_ms, f.b_ms, f.r2);
        }
        if let Some(f) = &e.affine_floor {
            println!(
                "  max(c, a + b·B): a {:.4} ms  b {:.6} ms  c {:.4} ms  R² {:.4}",
                f.a_ms, f.b_ms, f.floor_ms, f.r2
            );
        }
        match &e.stalls {
            Some(st) => println!(
                "  stalls: {} ({:.2}/s), {:.2} ms mean{}",
                st.duration_ms.len(),
                st.rate_per_s,
                st.duration_ms.iter().sum::<f64>() / st.duration_ms.len() as f64,
                if profile.stalls { "" } else { " (not modelled: --no-stalls)" }
            ),
            None => println!("  stalls: none seen"),
        }
        match &e.drift {
            Some(d) => {
                let (lo, hi) = d.factors.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &f| (l.min(f), h.max(f)));
                println!(
                    "  drift: {} rounds of {:.0} ms, speed factor {:.3}–{:.3}{}",
                    d.factors.len(),
                    d.step_ms,
                    lo,
                    hi,
                    if profile.drift { "" } else { " (not modelled; --drift models it)" }
                );
            }
            None => println!("  drift: one round only (repeats ≤ block): not measured"),
        }
        match &e.cold {
            Some(c) => {
                println!(
                    "  after idle gaps (median ms of a burst of {} at sizes {:?}; warm {}):",
                    c.burst,
                    c.batch,
                    c.warm_ms.iter().map(|w| format!("{w:.4}")).collect::<Vec<_>>().join(" / ")
                );
                for (g, per_size) in c.gap_ms.iter().zip(&c.median_ms) {
                    let cells: Vec<String> = per_size
                        .iter()
                        .map(|pos| pos.iter().map(|m| format!("{m:.4}")).collect::<Vec<_>>().join(" "))
                        .collect();
                    println!("    gap {g:>7} ms: {}", cells.join("  |  "));
                }
                println!(
                    "  cold starts: slowdown {:.3} building up over τ_idle {:.3} ms, wearing off over τ_busy {:.3} ms{}",
                    c.fit.slowdown,
                    c.fit.idle_tau_ms,
                    c.fit.busy_tau_ms,
                    if profile.cold { "" } else { " (not modelled: --no-cold)" }
                );
            }
            None => println!("  cold starts: not measured (--no-cold)"),
        }
        if let Some(st) = &e.sustained {
            println!(
                "  sustained: {} runs of size {} back to back ({:.0} ms): first third {:.4} ms, last third {:.4} ms ({:.3}×)",
                st.runs, st.batch, st.duration_ms, st.first_ms, st.last_ms, st.ratio
            );
        }
        if let Some(p) = &e.probe {
            let pts: Vec<String> = p
                .points
                .iter()
                .map(|q| {
                    format!(
                        "load {:.2} ({:.0}/s, median gap {:.2} ms): busy {:.4} ms vs {:.4} predicted ({:.3}×)",
                        q.load, q.rate_per_s, q.median_gap_ms, q.busy_median_ms, q.predicted_median_ms, q.ratio
                    )
                })
                .collect();
            println!("  open-loop probe, {} requests a load (busy ÷ prediction {:.3}×):", p.requests, p.ratio);
            for line in pts {
                println!("    {line}");
            }
        }
    }
    Ok(profile)
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    artifact::write_file(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}
