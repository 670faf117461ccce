//! Validation: replay a trace on real models, simulate the same trace with the calibrated
//! profile, and compare the latency distributions.

use crate::error::input;
use crate::ops::profile::{ProfileRef, apply_profile};
use crate::ops::replay::{ModelRef, ReplayInput, ReplayRun, load_requests, write_run};
use crate::ops::simulate::{ProfileInput, SimulateRequest, Simulated, TraceInput, simulate};
use crate::rundir::{FileRef, RunDir, RunManifest, TraceRef, code_version, sha256_hex};
use crate::scenario::ScenarioSource;
use anyhow::{Context, Result};
use artifact::IdKind;
use replay::busy::{Batch, GapBin, batches, gap_bins, speed_ratio, with_replay_service};
use replay::harness::{ReplayOptions, ReplayResult};
use serde::Serialize;
use sim::Outcome;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use traces::SimTime;

/// A validation.
#[derive(Clone, Debug)]
pub struct ValidateRequest {
    /// The scenario, the requests, the models and how the harness runs them.
    pub input: ReplayInput,
    /// Service-time profile from `servesim calibrate` for these models on this machine.
    pub profile: PathBuf,
    /// Replays of the trace (the sim is compared with their median, each statistic gets their
    /// range).
    pub replays: u32,
    /// Parent directory of the output directories.
    pub out: PathBuf,
    /// How manifests name the scenario, when not by its source.
    pub scenario_source: Option<String>,
    /// Set to stop a replay (the validation then fails: no comparison is written).
    pub stop: Option<Arc<AtomicBool>>,
}

/// What a validation reports as it goes.
pub enum Event<'a> {
    /// What is being replayed.
    Status(&'a str),
    /// A replay finished and was written.
    Replayed(&'a Path, &'a ReplayResult),
    /// A simulation finished and was written.
    Simulated(&'a Simulated),
}

/// A finished validation.
#[derive(Debug)]
pub struct Validation {
    /// `val-` id.
    pub val_id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// `comparison.json`.
    pub comparison: Comparison,
}

/// What a validation's manifest adds to every run's: the runs it compared, the profile and the
/// models the replay ran (`null` when the replay's manifest does not name them).
#[derive(Debug, Serialize)]
struct ValidateManifest<'a> {
    runs: Vec<&'a String>,
    profile: ProfileRef,
    models: Option<Vec<ModelRef>>,
}

/// Sim vs replay, one statistic.
#[derive(Debug, Serialize)]
pub struct Pair {
    /// The median over the replays.
    pub replay: f64,
    /// Smallest and largest value over the replays.
    pub replay_range: [f64; 2],
    /// The simulation's value.
    pub sim: f64,
    /// (sim − replay) / replay.
    pub relative_error: f64,
    /// The sim lies within the replays' range.
    pub sim_within_replay_range: bool,
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

/// `comparison.json` of a validation (see docs/metrics.md, section Validation).
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// `servesim.validation/1`.
    pub schema: &'static str,
    /// The scenario's name.
    pub scenario: String,
    /// The first replay.
    pub replay_run: String,
    /// Every replay (`--replays`).
    pub replay_runs: Vec<String>,
    /// The simulation from the profile alone.
    pub sim_run: String,
    /// The profile's path.
    pub profile: String,
    /// Hex SHA-256 of the profile file.
    pub profile_sha256: String,
    /// The replays' speed.
    pub speed: f64,
    /// Requests in the trace.
    pub requests: u64,
    /// Median latency.
    pub latency_ms_p50: Pair,
    /// p90 latency.
    pub latency_ms_p90: Pair,
    /// p99 latency.
    pub latency_ms_p99: Pair,
    /// Mean latency.
    pub latency_ms_mean: Pair,
    /// sup |F_replay − F_sim| over the completed requests' latencies (every replay's pooled).
    pub ks_distance: f64,
    /// Mean batch size.
    pub mean_batch_size: Pair,
    /// sim − replay.
    pub mean_batch_size_difference: f64,
    /// Dropped requests: (every replay's, the sim's).
    pub dropped: (u64, u64),
    /// In-sample diagnostic: the sim again, given the busy times the first replay itself
    /// measured: the error left is the simulator's (queueing, batching, routing), not the
    /// profile's.
    pub sim_with_replay_service: Explained,
    /// Per replay: the median over its batches of busy time ÷ the profile's median for that
    /// size (> 1: the machine ran slower than when it was calibrated).
    pub profile_speed_ratio: Vec<f64>,
    /// In-sample diagnostic: the sim with the profile's times scaled by the median of
    /// `profile_speed_ratio`, against the same replays the factor was measured on.
    pub sim_at_replay_speed: Explained,
    /// Out of sample: the factor measured on replay k, the sim scaled by it, scored on replay
    /// k + 1 (empty with one replay).
    pub speed_out_of_sample: Vec<SpeedOutOfSample>,
    /// Busy time by the server's idle gap before the batch: every replay's batches against the
    /// profile's prediction for them (its size's median plus the cold-start extra).
    pub busy_by_gap: Vec<GapBin>,
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
    base: &SimulateRequest,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<(PathBuf, Vec<f64>)> {
    dir.write(file, config.to_toml().as_bytes())?;
    let req = SimulateRequest {
        scenario: ScenarioSource::File(dir.path(file)),
        profile: None,
        scenario_source: Some(format!("../{val_id}/{file}")),
        ..base.clone()
    };
    let done = simulate(&req)?;
    on(Event::Simulated(&done));
    let run = done.dir.clone().expect("validate writes its runs");
    let Outcome::Classic(sim::RunResult { records: Some(records), .. }) = done.outcome else {
        return Err(input("validate: [llm] scenarios are not replayed"));
    };
    Ok((run, latencies_ms(&records)))
}

/// A speed factor fitted on one replay and scored on the next.
#[derive(Debug, Serialize)]
pub struct SpeedOutOfSample {
    /// Replay the factor was measured on (0-based).
    pub fitted_on: usize,
    /// Replay it is scored against.
    pub scored_on: usize,
    /// The factor (busy time ÷ profile prediction, median over the fitted replay's batches).
    pub factor: f64,
    /// The sim scaled by it.
    pub sim_run: String,
    /// Median latency.
    pub latency_ms_p50: Pair,
    /// p90 latency.
    pub latency_ms_p90: Pair,
    /// p99 latency.
    pub latency_ms_p99: Pair,
}

/// The sim given the first replay's measured busy times, against that replay.
#[derive(Debug, Serialize)]
pub struct Explained {
    /// The diagnostic sim.
    pub sim_run: String,
    /// Median latency.
    pub latency_ms_p50: Pair,
    /// p90 latency.
    pub latency_ms_p90: Pair,
    /// p99 latency.
    pub latency_ms_p99: Pair,
}

/// Two-sample Kolmogorov–Smirnov distance.
pub fn ks_distance(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    traces::stats::ks_two_sample(a, b).0
}

/// Replays, simulates the same trace with the profile, compares, and writes `OUT/val-<id>/`
/// (and the runs beside it); `on` hears each step as it finishes.
pub fn validate(args: &ValidateRequest, on: &mut dyn FnMut(Event<'_>)) -> Result<Validation> {
    if !(args.input.speed > 0.0 && args.input.speed.is_finite()) {
        return Err(input(format!("--speed must be a positive number, got {}", args.input.speed)));
    }
    if args.replays == 0 {
        return Err(input("--replays: must be at least 1"));
    }
    let mut loaded = args.input.scenario.load()?;
    if let Some(label) = &args.scenario_source {
        loaded.source = label.clone();
    }
    let mut config = loaded.config;
    if let Some(seed) = args.input.seed {
        config.seed = seed;
    }
    // Refuse a stale profile before spending the replay's wall time.
    let mut sim_config = config.clone();
    let profile_ref = apply_profile(&mut sim_config, &args.profile, &args.input.models)?;
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
        stop: args.stop.clone(),
        poll: args.input.poll,
    };
    config.workload = None;
    // The runs sit beside the validation directory, so they name its trace relative to
    // themselves: the path stays true when the directory is renamed into place or moved whole.
    let final_trace = format!("../{val_id}/trace.parquet");
    let trace_ref = TraceRef { id: trace_id.clone(), source: final_trace.clone(), requests: n };
    let mut replays = Vec::new();
    for k in 0..args.replays {
        let run = ReplayRun {
            config: &config,
            scenario_source: &loaded.source,
            models: &args.input.models,
            requests: &trace.requests,
            trace: trace_ref.clone(),
            opts: &opts,
            out: &args.out,
            repetition: k,
        };
        let (dir, replayed) = write_run(run, &mut |s| on(Event::Status(s)))?;
        on(Event::Replayed(&dir, &replayed));
        if replayed.summary.partial {
            return Err(input("validate: the replay was stopped; no comparison written"));
        }
        replays.push((dir, replayed));
    }
    let replay_dir = replays[0].0.clone();

    let sim_args = SimulateRequest {
        scenario: args.input.scenario.clone(),
        trace: Some(TraceInput { path: trace_path.clone(), format: None, speed: None }),
        seed: Some(config.seed),
        requests: None,
        out: Some(args.out.clone()),
        records: true,
        profile: Some(ProfileInput { profile: args.profile.clone(), models: args.input.models.clone() }),
        trace_source: Some(final_trace),
        scenario_source: Some(loaded.source.clone()),
        progress: crate::ops::progress::Progress::Hidden,
    };
    let done = simulate(&sim_args)?;
    on(Event::Simulated(&done));
    let sim_dir = done.dir.clone().expect("validate writes its runs");
    let outcome = done.outcome;
    let Outcome::Classic(sim::RunResult { summary, records: Some(records), .. }) = outcome else {
        return Err(input("validate: [llm] scenarios are not replayed"));
    };
    let sim_lat = latencies_ms(&records);

    // The sim again, given the busy times the first replay measured (dispatch → answer back,
    // per variant and batch size): what error is left belongs to the simulator, not the profile.
    let ran: Vec<Vec<Batch>> = replays.iter().map(|(_, r)| batches(r)).collect();
    // Stalls among them are modelled as stalls, as a profile's are (counted by wall time, not
    // resampled per batch), unless the profile leaves its stalls out.
    let explained = with_replay_service(&sim_config, &replays[0].1, &profile);
    let (explained_dir, explained_lat) =
        simulate_variant(&mut dir, &val_id, "scenario-replay-service.toml", &explained, &sim_args, on)?;

    // How much slower (> 1) or faster each replay's machine ran than the profile's: its batches'
    // busy times over the profile's medians for their sizes. The sim a third time, with the
    // profile's times scaled by the replays' median ratio: everything still predicted (spread,
    // stalls, batch-size dependence, queueing) except the machine's speed of the day.
    let speed_ratio: Vec<f64> = ran.iter().map(|b| speed_ratio(b, &profile)).collect();
    let at_speed = |factor: f64| profile.scaled(&sim_config, factor);
    let factor = replay::fit::quantile(&speed_ratio, 0.5);
    let (at_speed_dir, at_speed_lat) =
        simulate_variant(&mut dir, &val_id, "scenario-replay-speed.toml", &at_speed(factor), &sim_args, on)?;
    let rep_lats: Vec<Vec<f64>> = replays
        .iter()
        .map(|(_, r)| r.records.iter().filter_map(|r| r.latency_ns()).map(|l| l as f64 / 1e6).collect())
        .collect();
    let mut speed_out_of_sample = Vec::new();
    for k in 1..replays.len() {
        let f = speed_ratio[k - 1];
        let file = format!("scenario-speed-of-replay-{}.toml", k - 1);
        let (run, lat) = simulate_variant(&mut dir, &val_id, &file, &at_speed(f), &sim_args, on)?;
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
        models: Vec<ModelRef>,
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
    Ok(Validation { val_id, dir: path, comparison: cmp })
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
