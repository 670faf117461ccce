//! `servesim validate`: replay a trace on real models, simulate the same trace with the calibrated
//! profile, and compare the latency distributions.

use crate::cmd::replay::{load_requests, write_run};
use crate::cmd::simulate::{Outcome, SimulateArgs, TraceRef};
use crate::error::input;
use crate::rundir::{FileRef, RunDir, RunManifest, code_version, sha256_hex};
use crate::scenario;
use anyhow::{Context, Result};
use artifact::IdKind;
use clap::Args;
use replay::busy::{Batch, GapBin, batches, busy_times, gap_bins, speed_ratio};
use replay::harness::ReplayOptions;
use serde::Serialize;
use std::path::PathBuf;
use traces::SimTime;

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
    /// How manifests name the scenario file, when not by `scenario` (the course validates in a
    /// directory that is renamed into place afterwards).
    #[arg(skip)]
    pub scenario_source: Option<String>,
}

/// What a validation's manifest adds to every run's: the runs it compared, the profile and the
/// models the replay ran (`null` when the replay's manifest does not name them).
#[derive(Debug, Serialize)]
struct ValidateManifest<'a> {
    runs: Vec<&'a String>,
    profile: crate::cmd::calibrate::ProfileRef,
    models: Option<Vec<crate::cmd::replay::ModelRef>>,
}

/// Sim vs replay, one statistic.
#[derive(Debug, Serialize)]
struct Pair {
    /// The median over the replays.
    replay: f64,
    /// Smallest and largest value over the replays.
    replay_range: [f64; 2],
    sim: f64,
    /// (sim − replay) / replay.
    relative_error: f64,
    /// The sim lies within the replays' range.
    sim_within_replay_range: bool,
}

impl Pair {
    /// `replays`: the statistic in each replay.
    fn new(replays: &[f64], sim: f64) -> Pair {
        let replay = replay::fit::quantile(replays, 0.5);
        let lo = replays.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = replays.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Pair {
            replay,
            replay_range: [lo, hi],
            sim,
            relative_error: if replay != 0.0 { (sim - replay) / replay } else { f64::NAN },
            sim_within_replay_range: lo <= sim && sim <= hi,
        }
    }
}

#[derive(Debug, Serialize)]
struct Comparison {
    schema: &'static str,
    scenario: String,
    /// The first replay.
    replay_run: String,
    /// Every replay (`--replays`).
    replay_runs: Vec<String>,
    sim_run: String,
    profile: String,
    profile_sha256: String,
    speed: f64,
    requests: u64,
    latency_ms_p50: Pair,
    latency_ms_p90: Pair,
    latency_ms_p99: Pair,
    latency_ms_mean: Pair,
    /// sup |F_replay − F_sim| over the completed requests' latencies (every replay's pooled).
    ks_distance: f64,
    mean_batch_size: Pair,
    /// sim − replay.
    mean_batch_size_difference: f64,
    dropped: (u64, u64),
    /// In-sample diagnostic: the sim again, given the busy times the first replay itself
    /// measured: the error left is the simulator's (queueing, batching, routing), not the
    /// profile's.
    sim_with_replay_service: Explained,
    /// Per replay: the median over its batches of busy time ÷ the profile's median for that
    /// size (> 1: the machine ran slower than when it was calibrated).
    profile_speed_ratio: Vec<f64>,
    /// In-sample diagnostic: the sim with the profile's times scaled by the median of
    /// `profile_speed_ratio`, against the same replays the factor was measured on.
    sim_at_replay_speed: Explained,
    /// Out of sample: the factor measured on replay k, the sim scaled by it, scored on replay
    /// k + 1 (empty with one replay).
    speed_out_of_sample: Vec<SpeedOutOfSample>,
    /// Busy time by the server's idle gap before the batch: every replay's batches against the
    /// profile's prediction for them (its size's median plus the cold-start extra).
    busy_by_gap: Vec<GapBin>,
}

/// Completed requests' latencies, ms.
fn latencies_ms(records: &[sim::engine::RequestRecord]) -> Vec<f64> {
    records.iter().filter_map(|r| r.finish.map(|f| (f - r.arrival).as_millis_f64())).collect()
}

/// Writes `config` as `file` in the validation directory and simulates it on the validation's
/// trace like `base` but without a profile (its service models are in it); returns the run and
/// its latencies, ms.
fn simulate_variant(
    dir: &mut RunDir,
    val_id: &str,
    file: &str,
    config: &sim::ScenarioConfig,
    base: &SimulateArgs,
) -> Result<(PathBuf, Vec<f64>)> {
    dir.write(file, config.to_toml().as_bytes())?;
    let args = SimulateArgs {
        scenario: dir.path(file).display().to_string(),
        profile: None,
        models: None,
        scenario_source: Some(format!("../{val_id}/{file}")),
        ..base.clone()
    };
    let (run, outcome) = crate::cmd::simulate::run_full(&args)?;
    let Outcome::Classic(sim::RunResult { records: Some(records), .. }) = outcome else {
        return Err(input("validate: [llm] scenarios are not replayed"));
    };
    Ok((run, latencies_ms(&records)))
}

/// A speed factor fitted on one replay and scored on the next.
#[derive(Debug, Serialize)]
struct SpeedOutOfSample {
    /// Replay the factor was measured on (0-based).
    fitted_on: usize,
    /// Replay it is scored against.
    scored_on: usize,
    /// The factor (busy time ÷ profile prediction, median over the fitted replay's batches).
    factor: f64,
    sim_run: String,
    latency_ms_p50: Pair,
    latency_ms_p90: Pair,
    latency_ms_p99: Pair,
}

/// The sim given the first replay's measured busy times, against that replay.
#[derive(Debug, Serialize)]
struct Explained {
    sim_run: String,
    latency_ms_p50: Pair,
    latency_ms_p90: Pair,
    latency_ms_p99: Pair,
}

/// Two-sample Kolmogorov–Smirnov distance.
pub(crate) fn ks_distance(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    traces::stats::ks_two_sample(a, b).0
}

/// Runs the command.
pub fn run(args: &ValidateArgs) -> Result<()> {
    if !(args.input.speed > 0.0 && args.input.speed.is_finite()) {
        return Err(input(format!("--speed must be a positive number, got {}", args.input.speed)));
    }
    if args.replays == 0 {
        return Err(input("--replays: must be at least 1"));
    }
    let mut loaded = scenario::load(&args.input.scenario)?;
    if let Some(label) = &args.scenario_source {
        loaded.source = label.clone();
    }
    let mut config = loaded.config;
    if let Some(seed) = args.input.seed {
        config.seed = seed;
    }
    // Refuse a stale profile before spending the replay's wall time.
    let mut sim_config = config.clone();
    let profile_ref = crate::cmd::calibrate::apply_profile(&mut sim_config, &args.profile, &args.input.models)?;
    let profile = replay::profile::Profile::load(&args.profile)?;

    let (mut trace, _) = load_requests(&mut config, &args.input, &loaded.source)?;
    // Both runs see the sped-up arrivals: replay at speed 1 of the scaled trace.
    for r in &mut trace.requests {
        r.arrival = SimTime((r.arrival.0 as f64 / args.input.speed).round() as u64);
    }
    let mut hasher = traces::id::TraceHasher::new(&trace.classes);
    for r in &trace.requests {
        hasher.push(r);
    }
    let n = hasher.count();
    let trace_id = hasher.finish();
    let profile_bytes = std::fs::read(&args.profile).with_context(|| format!("{}", args.profile.display()))?;
    let profile_sha256 = sha256_hex(&profile_bytes);
    let val_id: String =
        IdKind::Validation.of(format!("{}\0{trace_id}\0{profile_sha256}\0{}", config.to_toml(), config.seed)).into();
    let mut dir = RunDir::create(&args.out, &val_id)?;
    let trace_path = dir.path("trace.parquet");
    traces::formats::write_trace(&trace_path, &trace).context("writing trace.parquet")?;
    dir.register("trace.parquet")?;

    let opts = ReplayOptions {
        speed: 1.0,
        threads: args.input.threads,
        warmup: args.input.warmup,
        stop: Some(crate::cmd::replay::ctrl_c()?),
        poll: !args.input.no_poll,
    };
    config.workload = None;
    // The runs sit beside the validation directory, so they name its trace relative to
    // themselves: the path stays true when the directory is renamed into place or moved whole.
    let final_trace = format!("../{val_id}/trace.parquet");
    let trace_ref = TraceRef { id: trace_id.clone(), source: final_trace.clone(), requests: n };
    let mut replays = Vec::new();
    for k in 0..args.replays {
        let (dir, replayed) = write_run(
            &config,
            &loaded.source,
            &args.input.models,
            &trace.requests,
            trace_ref.clone(),
            &opts,
            &args.out,
            k,
        )?;
        crate::cmd::replay::print_summary(&replayed, &dir);
        if replayed.summary.partial {
            return Err(input("validate: the replay was stopped; no comparison written"));
        }
        replays.push((dir, replayed));
    }
    let replay_dir = replays[0].0.clone();

    let sim_args = SimulateArgs {
        scenario: args.input.scenario.clone(),
        trace: Some(trace_path.clone()),
        trace_format: None,
        seed: Some(config.seed),
        requests: None,
        out: args.out.clone(),
        records: true,
        json: false,
        profile: Some(args.profile.clone()),
        models: Some(args.input.models.clone()),
        speed: None,
        trace_source: Some(final_trace),
        scenario_source: Some(loaded.source.clone()),
    };
    let (sim_dir, outcome) = crate::cmd::simulate::run_full(&sim_args)?;
    let Outcome::Classic(sim::RunResult { summary, records: Some(records) }) = outcome else {
        return Err(input("validate: [llm] scenarios are not replayed"));
    };
    let sim_lat = latencies_ms(&records);

    // The sim again, given the busy times the first replay measured (dispatch → answer back,
    // per variant and batch size): what error is left belongs to the simulator, not the profile.
    let ran: Vec<Vec<Batch>> = replays.iter().map(|(_, r)| batches(r)).collect();
    let measured = &busy_times(&ran[0]);
    // Stalls among them are modelled as stalls, as a profile's are (counted by wall time, not
    // resampled per batch), unless the profile leaves its stalls out.
    let mut explained = sim_config.clone();
    for dev in &mut explained.devices {
        if let Some(m) = dev.variant.as_ref().and_then(|v| measured.get(v)) {
            let mut samples_ms: Vec<Vec<f64>> = m.values().cloned().collect();
            dev.stalls = None;
            // The replay's busy times carry its own drift and cold starts; resampled, they
            // stand for them.
            dev.drift = None;
            dev.cold = None;
            if profile.stalls
                && let Some(mut st) = replay::profile::MeasuredStalls::find(&samples_ms)
            {
                for (i, runs) in samples_ms.iter_mut().enumerate() {
                    runs.retain(|&x| x <= st.above_ms[i]);
                }
                // Stalls happen in wall time, idle or not: one that catches the idle worker shows
                // up in the busy time of the request that arrives during it. So the rate is per
                // second of the replay, not of its busy time (a calibration is busy throughout,
                // where the two are the same).
                // And per worker: the model has one stall process per server.
                let first = &replays[0].1;
                let workers: std::collections::HashSet<(usize, u32)> = first
                    .records
                    .iter()
                    .filter_map(|r| Some((r.device?, r.server?)))
                    .filter(|&(d, _)| dev.variant.as_deref() == Some(first.summary.devices[d].variant.as_str()))
                    .collect();
                st.rate_per_s =
                    st.duration_ms.len() as f64 / first.summary.duration_s.max(1e-9) / workers.len().max(1) as f64;
                dev.stalls = Some(st.spec());
            }
            dev.service =
                Some(sim::service::ServiceSpec::TableSamples { batch: m.keys().copied().collect(), samples_ms });
        }
    }
    let (explained_dir, explained_lat) =
        simulate_variant(&mut dir, &val_id, "scenario-replay-service.toml", &explained, &sim_args)?;

    // How much slower (> 1) or faster each replay's machine ran than the profile's: its batches'
    // busy times over the profile's medians for their sizes. The sim a third time, with the
    // profile's times scaled by the replays' median ratio: everything still predicted (spread,
    // stalls, batch-size dependence, queueing) except the machine's speed of the day.
    let speed_ratio: Vec<f64> = ran.iter().map(|b| speed_ratio(b, &profile)).collect();
    let at_speed = |factor: f64| {
        let mut c = sim_config.clone();
        for dev in &mut c.devices {
            if dev.variant.as_deref().and_then(|v| profile.entry(v)).is_some() && factor.is_finite() {
                // Cold starts are a multiple of the service time: scaled with it.
                dev.service = dev.service.as_ref().map(|s| s.scaled(factor));
            }
        }
        c
    };
    let factor = replay::fit::quantile(&speed_ratio, 0.5);
    let (at_speed_dir, at_speed_lat) =
        simulate_variant(&mut dir, &val_id, "scenario-replay-speed.toml", &at_speed(factor), &sim_args)?;
    let rep_lats: Vec<Vec<f64>> = replays
        .iter()
        .map(|(_, r)| r.records.iter().filter_map(|r| r.latency_ns()).map(|l| l as f64 / 1e6).collect())
        .collect();
    let mut speed_out_of_sample = Vec::new();
    for k in 1..replays.len() {
        let f = speed_ratio[k - 1];
        let file = format!("scenario-speed-of-replay-{}.toml", k - 1);
        let (run, lat) = simulate_variant(&mut dir, &val_id, &file, &at_speed(f), &sim_args)?;
        let pair = |p: f64| Pair::new(&[replay::fit::quantile(&rep_lats[k], p)], replay::fit::quantile(&lat, p));
        speed_out_of_sample.push(SpeedOutOfSample {
            fitted_on: k - 1,
            scored_on: k,
            factor: f,
            sim_run: run.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string(),
            latency_ms_p50: pair(0.5),
            latency_ms_p90: pair(0.9),
            latency_ms_p99: pair(0.99),
        });
    }
    let pooled: Vec<f64> = rep_lats.concat();
    let q = replay::fit::quantile;
    let each = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..replays.len()).map(f).collect() };
    let quantile_pair = |p: f64| Pair::new(&each(&|k| q(&rep_lats[k], p)), q(&sim_lat, p));
    let mean_batch = Pair::new(&each(&|k| replays[k].1.summary.mean_batch_size), summary.batches.mean_size);
    let name = |p: &std::path::Path| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let cmp = Comparison {
        schema: "servesim.validation/1",
        scenario: config.name.clone(),
        replay_run: name(&replay_dir),
        replay_runs: replays.iter().map(|(d, _)| name(d)).collect(),
        sim_run: name(&sim_dir),
        profile: args.profile.display().to_string(),
        profile_sha256,
        speed: args.input.speed,
        requests: n,
        latency_ms_p50: quantile_pair(0.5),
        latency_ms_p90: quantile_pair(0.9),
        latency_ms_p99: quantile_pair(0.99),
        latency_ms_mean: Pair::new(&each(&|k| replays[k].1.summary.latency_ms.mean), summary.latency_ms.mean),
        ks_distance: ks_distance(&pooled, &sim_lat),
        mean_batch_size_difference: summary.batches.mean_size - mean_batch.replay,
        mean_batch_size: mean_batch,
        dropped: (replays.iter().map(|(_, r)| r.summary.requests.dropped).sum(), summary.requests.dropped),
        sim_with_replay_service: Explained {
            sim_run: name(&explained_dir),
            latency_ms_p50: Pair::new(&[q(&rep_lats[0], 0.5)], q(&explained_lat, 0.5)),
            latency_ms_p90: Pair::new(&[q(&rep_lats[0], 0.9)], q(&explained_lat, 0.9)),
            latency_ms_p99: Pair::new(&[q(&rep_lats[0], 0.99)], q(&explained_lat, 0.99)),
        },
        profile_speed_ratio: speed_ratio.clone(),
        sim_at_replay_speed: Explained {
            sim_run: name(&at_speed_dir),
            latency_ms_p50: Pair::new(&each(&|k| q(&rep_lats[k], 0.5)), q(&at_speed_lat, 0.5)),
            latency_ms_p90: Pair::new(&each(&|k| q(&rep_lats[k], 0.9)), q(&at_speed_lat, 0.9)),
            latency_ms_p99: Pair::new(&each(&|k| q(&rep_lats[k], 0.99)), q(&at_speed_lat, 0.99)),
        },
        busy_by_gap: gap_bins(&ran, &profile),
        speed_out_of_sample,
    };
    let json = serde_json::to_string_pretty(&cmp)? + "\n";
    dir.write("comparison.json", json.as_bytes())?;
    // The models the replay ran, as its manifest names them (variant, id, file).
    #[derive(serde::Deserialize)]
    struct ReplayModels {
        models: Vec<crate::cmd::replay::ModelRef>,
    }
    let replay_models = std::fs::read(replay_dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<ReplayModels>(&b).ok())
        .map(|m| m.models);
    let files = dir.files().to_vec();
    let manifest = RunManifest {
        schema: "servesim.run/1",
        run_id: &val_id,
        kind: "validate",
        scenario: &config.name,
        scenario_source: &loaded.source,
        config_hash: IdKind::Sha256.of(config.to_toml()).to_string(),
        trace: TraceRef { id: trace_id.clone(), source: "trace.parquet".into(), requests: n },
        seed: config.seed,
        extra: ValidateManifest {
            runs: cmp
                .replay_runs
                .iter()
                .chain([&cmp.sim_run, &cmp.sim_with_replay_service.sim_run, &cmp.sim_at_replay_speed.sim_run])
                .chain(cmp.speed_out_of_sample.iter().map(|o| &o.sim_run))
                .collect(),
            profile: profile_ref,
            models: replay_models,
        },
        code: code_version(),
        files: FileRef::list(&files),
    };
    dir.write("manifest.json", (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())?;
    let path = dir.commit()?;
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ks_distance;

    #[test]
    fn ks_of_equal_and_disjoint_samples() {
        assert_eq!(ks_distance(&[1.0, 2.0, 3.0], &[3.0, 1.0, 2.0]), 0.0);
        assert_eq!(ks_distance(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert!((ks_distance(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]) - 0.5).abs() < 1e-12);
    }
}
