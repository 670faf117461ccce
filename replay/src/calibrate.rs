//! Calibration: microbenchmark each variant × thread setting over batch sizes, fit service-time
//! models, and produce a [`Profile`].

use std::path::{Path, PathBuf};

use crate::ReplayError;
use crate::busy::{batches, predicted_busy_ms};
use crate::fit::{fit_affine, fit_affine_floor, quantile};
use crate::harness::{CALIBRATION_BLOCK, Plan, ReplayOptions, replay, time_after_gaps, time_through_worker};
use crate::model::{ModelFile, OrtModel, TestSplit};
use crate::profile::{
    Entry, Machine, MeasuredCold, MeasuredProbe, MeasuredStalls, MeasuredSustained, PROFILE_SCHEMA, ProbePoint,
    Profile, UseModel, find_drift,
};

/// What to measure.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    /// Models directory (as `kernels::build` writes it).
    pub models_dir: PathBuf,
    /// Variants to measure; all `.onnx` files of the directory if empty.
    pub variants: Vec<String>,
    /// Intra-op thread settings; the first is the one `simulate` uses.
    pub threads: Vec<usize>,
    /// Batch sizes, increasing.
    pub batch: Vec<u32>,
    /// Untimed runs per batch size before measuring.
    pub warmup: usize,
    /// Timed runs per batch size.
    pub repeats: usize,
    /// Consecutive runs of one size before the next size's turn ([`CALIBRATION_BLOCK`]; 1:
    /// the size changes at every run, as on a server whose batcher forms batches of mixed sizes).
    pub block: usize,
    /// Idle gaps to time runs after, ms, increasing from 0 ([`DEFAULT_GAPS_MS`]); empty: no
    /// cold-start measurement.
    pub gaps_ms: Vec<f64>,
    /// Bursts per gap and batch size.
    pub gap_rounds: usize,
    /// Back-to-back batches per burst after a gap.
    pub gap_burst: usize,
    /// Length of the sustained back-to-back run at the smallest size, ms (0: none).
    pub sustained_ms: f64,
    /// Loads of the open-loop probe, as fractions of one server's capacity at the smallest size
    /// (empty: no probe).
    pub probe_loads: Vec<f64>,
    /// Requests per probe load.
    pub probe_requests: usize,
    /// The build that measures (goes into the profile).
    pub created_by: String,
    /// Poll instead of blocking where there is a core for it, as replay does by default
    /// ([`crate::harness::ReplayOptions::poll`]): a profile should be measured the way the
    /// replays it is compared with run.
    pub poll: bool,
}

impl CalibrateOptions {
    /// Defaults: every model, 1 thread, batch sizes 1…64 by powers of two, 5 warm-up runs, 30 repeats.
    pub fn new(models_dir: PathBuf, created_by: String) -> CalibrateOptions {
        CalibrateOptions {
            models_dir,
            variants: Vec::new(),
            threads: vec![1],
            batch: vec![1, 2, 4, 8, 16, 32, 64],
            warmup: 5,
            repeats: 30,
            block: CALIBRATION_BLOCK,
            gaps_ms: DEFAULT_GAPS_MS.to_vec(),
            gap_rounds: DEFAULT_GAP_ROUNDS,
            gap_burst: DEFAULT_GAP_BURST,
            sustained_ms: DEFAULT_SUSTAINED_MS,
            probe_loads: DEFAULT_PROBE_LOADS.to_vec(),
            probe_requests: DEFAULT_PROBE_REQUESTS,
            created_by,
            poll: true,
        }
    }
}

/// Idle gaps a calibration times runs after by default, ms: from back-to-back to the gaps of a
/// server at a few percent load.
pub const DEFAULT_GAPS_MS: [f64; 8] = [0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0];
/// The sustained run by default, ms: as long as a short replay.
pub const DEFAULT_SUSTAINED_MS: f64 = 3000.0;
/// The open-loop probe's loads by default (fractions of one server's batch-1 capacity).
pub const DEFAULT_PROBE_LOADS: [f64; 3] = [0.1, 0.4, 0.7];
/// Requests per probe load by default.
pub const DEFAULT_PROBE_REQUESTS: usize = 500;

/// Bursts after gaps up to this long are searched for stalls too (after longer ones, the cold
/// start's own spread would pass for stalls), ms.
pub const STALL_SEARCH_MAX_GAP_MS: f64 = 10.0;
/// Bursts per gap and batch size by default.
pub const DEFAULT_GAP_ROUNDS: usize = 30;
/// Back-to-back batches per burst after a gap by default: enough to see the slowdown wear off.
pub const DEFAULT_GAP_BURST: usize = 3;

/// All model names (`.onnx` stems) of a directory, sorted.
pub fn model_names(dir: &Path) -> Result<Vec<String>, ReplayError> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| ReplayError::model(dir, format!("cannot read models directory: {e}")))?;
    let mut names: Vec<String> =
        rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".onnx").map(str::to_string)).collect();
    names.sort();
    if names.is_empty() {
        return Err(ReplayError::model(dir, "no .onnx models (build some with `servesim models build`)"));
    }
    Ok(names)
}

/// Measures and fits; `progress` is told what is being measured.
pub fn calibrate(opts: &CalibrateOptions, progress: &mut dyn FnMut(&str)) -> Result<Profile, ReplayError> {
    if opts.batch.is_empty() || opts.batch.windows(2).any(|w| w[0] >= w[1]) || opts.batch[0] == 0 {
        return Err(ReplayError::Argument("batch sizes must be increasing and at least 1".into()));
    }
    if opts.threads.is_empty() || opts.threads.contains(&0) {
        return Err(ReplayError::Argument("thread settings must be at least 1".into()));
    }
    if opts.repeats == 0 {
        return Err(ReplayError::Argument("repeats must be at least 1".into()));
    }
    if !opts.gaps_ms.is_empty()
        && (opts.gaps_ms[0] != 0.0
            || opts.gaps_ms.len() < 2
            || opts.gaps_ms.windows(2).any(|w| w[0] >= w[1] || !w[1].is_finite())
            || opts.gap_rounds == 0
            || opts.gap_burst == 0)
    {
        return Err(ReplayError::Argument(
            "idle gaps must start at 0, increase, and have another value above it; gap rounds at least 1".into(),
        ));
    }
    let dir = &opts.models_dir;
    let names = if opts.variants.is_empty() { model_names(dir)? } else { opts.variants.clone() };
    let split = crate::model::load_split(dir)?;
    let sizes: Vec<usize> = opts.batch.iter().map(|&b| b as usize).collect();
    let mut entries = Vec::new();
    for name in &names {
        let file = ModelFile::find(dir, name)?;
        for &threads in &opts.threads {
            progress(&format!("{name} × {threads} thread(s)"));
            let mut model = OrtModel::load(&file, threads, Some(split.features))?;
            model.warm_up(&split, &sizes, opts.warmup)?;
            // Through the replay's worker path, sizes interleaved (slow drift — frequency, a
            // neighbour's load — spreads evenly): a server's busy time as a replay sees it.
            let measured = time_through_worker(model, &split, &sizes, opts.repeats, opts.block, opts.poll)?;
            let times = &measured.occupancy_ms;
            // Bursts after idle gaps: runs grouped by (gap, size, position in the burst).
            let mut gap_groups: Vec<Vec<f64>> = Vec::new();
            let cold = if opts.gaps_ms.is_empty() {
                None
            } else {
                progress(&format!("{name} × {threads} thread(s) after idle gaps"));
                // The smallest and the largest size: enough to see whether the penalty depends on it.
                let mut gap_sizes = vec![sizes[0]];
                gap_sizes.extend(sizes.last().filter(|&&b| b != sizes[0]));
                let mut model = OrtModel::load(&file, threads, Some(split.features))?;
                model.warm_up(&split, &gap_sizes, opts.warmup)?;
                let gaps_ns: Vec<u64> = opts.gaps_ms.iter().map(|g| (g * 1e6).round() as u64).collect();
                let t =
                    time_after_gaps(model, &split, &gap_sizes, &gaps_ns, opts.gap_burst, opts.gap_rounds, opts.poll)?;
                let batch: Vec<u32> = gap_sizes.iter().map(|&b| b as u32).collect();
                let warm: Vec<f64> = gap_sizes
                    .iter()
                    .map(|b| quantile(&times[sizes.iter().position(|s| s == b).expect("a measured size")], 0.5))
                    .collect();
                // Where the cold start itself varies little (gaps up to 10 ms).
                gap_groups = t
                    .occupancy_ms
                    .iter()
                    .zip(&opts.gaps_ms)
                    .filter(|(_, g)| **g <= STALL_SEARCH_MAX_GAP_MS)
                    .flat_map(|(per_size, _)| per_size.iter().flatten().cloned())
                    .collect();
                MeasuredCold::from_runs(&opts.gaps_ms, &batch, &warm, &t.occupancy_ms)
            };
            let median_ms: Vec<f64> = times.iter().map(|t| quantile(t, 0.5)).collect();
            // The sustained run: as long as a short replay, back to back.
            let sustained = if opts.sustained_ms > 0.0 {
                progress(&format!("{name} × {threads} thread(s) sustained"));
                Some(sustained_runs(&file, &split, threads, sizes[0], median_ms[0], opts)?)
            } else {
                None
            };
            gap_groups.extend(sustained.iter().cloned());
            // Stalls are rare (a few a second): the bursts after short idle gaps and the sustained
            // run add several times the blocks' runs, so they are searched too, each group
            // against its own median.
            let stalls = MeasuredStalls::find_in(times, &gap_groups);
            let drift = find_drift(times, opts.block, stalls.as_ref());
            let xs: Vec<f64> = sizes.iter().map(|&b| b as f64).collect();
            entries.push(Entry {
                variant: name.clone(),
                model_id: file.id.clone(),
                threads,
                warmup: opts.warmup,
                repeats: opts.repeats,
                block: opts.block,
                batch: opts.batch.clone(),
                p10_ms: times.iter().map(|t| quantile(t, 0.1)).collect(),
                p90_ms: times.iter().map(|t| quantile(t, 0.9)).collect(),
                samples_ms: times.clone(),
                run_median_ms: measured.run_ms.iter().map(|t| quantile(t, 0.5)).collect(),
                polling: measured.polling,
                affine: fit_affine(&xs, &median_ms),
                affine_floor: fit_affine_floor(&xs, &median_ms),
                stalls,
                drift,
                cold,
                median_ms,
                sustained: sustained.map(|runs| MeasuredSustained::from_runs(opts.batch[0], &runs)),
                probe: None,
            });
            let entry = entries.last_mut().expect("just pushed");
            if !opts.probe_loads.is_empty() {
                progress(&format!("{name} × {threads} thread(s) open-loop probe"));
                entry.probe = Some(probe(dir, entry, threads, opts)?);
            }
        }
    }
    Ok(Profile {
        schema: PROFILE_SCHEMA.to_string(),
        created_by: opts.created_by.clone(),
        models_dir: dir.display().to_string(),
        use_model: UseModel::Table,
        simulate_threads: opts.threads[0],
        stalls: true,
        drift: false,
        cold: true,
        machine: Machine::current(),
        entries,
    })
}

/// Back-to-back runs of one size for `opts.sustained_ms`, in order: does a server that works
/// without a break slow down (or speed up) over a replay's length?
fn sustained_runs(
    file: &ModelFile,
    split: &TestSplit,
    threads: usize,
    size: usize,
    median_ms: f64,
    opts: &CalibrateOptions,
) -> Result<Vec<f64>, ReplayError> {
    let mut model = OrtModel::load(file, threads, Some(split.features))?;
    model.warm_up(split, &[size], opts.warmup)?;
    let runs = ((opts.sustained_ms / median_ms.max(1e-3)).ceil() as usize).clamp(30, 1_000_000);
    let t = time_through_worker(model, split, &[size], runs, runs, opts.poll)?;
    Ok(t.occupancy_ms.into_iter().next().unwrap_or_default())
}

/// The open-loop probe: Poisson arrivals at each load, one server without batching, replayed
/// on the wall clock like any replay; each batch's busy time against what the entry predicts
/// for it (its size's median × 1 + the cold-start slowdown after its idle gap).
fn probe(
    dir: &std::path::Path,
    entry: &Entry,
    threads: usize,
    opts: &CalibrateOptions,
) -> Result<MeasuredProbe, ReplayError> {
    let scenario = format!(
        "name = \"calibration-probe\"\nseed = 1\n[[variants]]\nname = \"{v}\"\nfamily = \"teacher\"\n\
         precision = \"fp32\"\nquality = 1.0\nweight_bytes = 1\nservice = {{ cpu = {{ kind = \"deterministic\", ms = {ms} }} }}\n\
         [[devices]]\nname = \"probe\"\nkind = \"cpu\"\nvariant = \"{v}\"\n",
        v = entry.variant,
        ms = entry.median_ms[0],
    );
    let config = sim::ScenarioConfig::parse(&scenario).map_err(|e| ReplayError::Harness(format!("probe: {e}")))?;
    let plan = Plan::new(&config, dir)?;
    let profile = Profile {
        schema: PROFILE_SCHEMA.to_string(),
        created_by: opts.created_by.clone(),
        models_dir: dir.display().to_string(),
        use_model: UseModel::Table,
        simulate_threads: threads,
        stalls: true,
        drift: false,
        cold: true,
        machine: Machine::current(),
        entries: vec![entry.clone()],
    };
    let capacity_per_s = 1e3 / entry.median_ms[0];
    let mut points = Vec::new();
    let mut ratios = Vec::new();
    for (k, &load) in opts.probe_loads.iter().enumerate() {
        let rate = load * capacity_per_s;
        let mut rng = traces::rng::stream(k as u64, "calibrate/probe");
        let gaps = rand_distr::Exp::new(rate).map_err(|e| ReplayError::Argument(format!("probe load {load}: {e}")))?;
        let mut t = 0.0f64;
        let requests: Vec<traces::Request> = (0..opts.probe_requests)
            .map(|i| {
                t += rand_distr::Distribution::sample(&gaps, &mut rng);
                traces::Request::new(i as u64, traces::SimTime::round_ns(t * 1e9), 1)
            })
            .collect();
        let ro = ReplayOptions { threads, warmup: opts.warmup, poll: opts.poll, ..ReplayOptions::default() };
        let result = replay(&plan, &requests, &ro)?;
        let ran = batches(&result);
        let predicted = predicted_busy_ms(&profile, &ran);
        let r: Vec<f64> = ran.iter().zip(&predicted).filter_map(|(b, p)| p.map(|p| b.busy_ms / p)).collect();
        points.push(ProbePoint {
            load,
            rate_per_s: rate,
            batches: ran.len(),
            median_gap_ms: quantile(&ran.iter().map(|b| b.gap_ms).collect::<Vec<_>>(), 0.5),
            busy_median_ms: quantile(&ran.iter().map(|b| b.busy_ms).collect::<Vec<_>>(), 0.5),
            predicted_median_ms: quantile(&predicted.iter().flatten().copied().collect::<Vec<_>>(), 0.5),
            ratio: quantile(&r, 0.5),
        });
        ratios.extend(r);
    }
    Ok(MeasuredProbe { requests: opts.probe_requests, ratio: quantile(&ratios, 0.5), points })
}
