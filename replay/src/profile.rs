//! Service-time profiles: what `servesim calibrate` measures and `servesim simulate --profile`
//! uses.
//!
//! A profile is a TOML file, schema `servesim.service-profile/3`:
//!
//! ```toml
//! schema = "servesim.service-profile/3"
//! created_by = "servesim 0.1.0 (abc1234)"
//! models_dir = "models/course"
//! use = "table"              # which service model simulate takes: table | affine | affine_floor
//!                            # | empirical (batch-1 runs resampled; only for devices that do not batch)
//!                            # | samples (every size's runs resampled: the measured spread at any size)
//! simulate_threads = 1       # which thread setting's entries simulate takes
//! stalls = true              # simulate models the entries' measured stalls (see below)
//! drift = false              # simulate models the entries' measured speed over time (opt-in)
//! cold = true                # simulate models the entries' cold starts after idle gaps (see below)
//!
//! [machine]                  # a profile made on another machine is refused as stale
//! cpu = "AMD EPYC 7B13"      # /proc/cpuinfo `model name`
//! cores = 2                  # logical CPUs this process may use
//! onnxruntime = "1.32.0"
//!
//! [[entries]]                # one per variant × thread setting
//! variant = "teacher-int8"   # model name in the models directory = device `variant` in scenarios
//! model_id = "mdl-…"         # the model card's id (SHA-256 of the .onnx): another id = stale
//! threads = 1                # ONNX Runtime intra-op threads
//! warmup = 5                 # untimed runs of each batch size first
//! repeats = 30               # timed runs of each batch size
//! block = 50                 # consecutive runs of one size per turn (1: the size changes every run)
//! batch = [1, 2, 4, 8, 16, 32]
//! median_ms = […]            # per batch size: median, 10th and 90th percentile of the busy
//! p10_ms = […]               # time of a server: batch handed to a worker thread → answer back,
//! p90_ms = […]               # measured through the replay's own worker path
//! samples_ms = [[…], …]      # every timed run, per batch size
//! run_median_ms = […]        # the ONNX Runtime run alone (median): the rest is thread hand-off
//! polling = true             # the threads busy-waited for each other (replay's default)
//! affine = { a_ms = …, b_ms = …, r2 = …, residuals_ms = […] }              # a + b·B (vs medians)
//! affine_floor = { a_ms = …, b_ms = …, floor_ms = …, r2 = …, residuals_ms = […] }  # max(c, a + b·B)
//! # Stalls: runs longer than their size's median by more than max(1 ms, 10 × MAD) — the worker
//! # preempted, not a slow run — as a process in wall time (absent if none was seen):
//! stalls = { rate_per_s = …, duration_ms = […], above_ms = […] }  # per second measured; each
//! #         stall's excess over its size's median; per size, the time above which a run stalled
//! # Drift: the machine's speed round by round (a round = one block of every size), absent if
//! # fewer than two rounds were measured:
//! drift = { step_ms = …, factors = […] }  # mean round duration; per round, the median over
//! #         sizes of (its block's median ÷ the size's median), stalled runs left out
//! # Cold starts: busy time after controlled idle gaps (the worker left idle g ms, the calling
//! # thread waiting as a replay's scheduling thread does), absent if not measured:
//! [entries.cold]
//! gap_ms = [0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
//! batch = [1, 64]            # sizes timed after each gap
//! burst = 3                  # back-to-back batches after each gap
//! rounds = 30                # bursts per gap and size
//! warm_ms = […]              # per size: its back-to-back median (the blocks above)
//! median_ms = [[[…]]]        # per gap, per size, per position in the burst
//! fit = { slowdown = …, idle_tau_ms = …, busy_tau_ms = …, shape = … }  # sim::service::ColdSpec
//! residuals_ms = [[[…]]]     # measured − fitted, same shape as median_ms
//! ```
//!
//! With `cold = true` (the default) and an entry that measured idle gaps, `simulate` gives the
//! device that cold-start model ([`sim::service::ColdSpec`]): a server's slowdown builds up while
//! it idles and wears off while it works, which is what separates a server at low load (long
//! gaps) from the back-to-back runs of the blocks.
//!
//! With `stalls = true` (the default) and an entry that saw stalls, `simulate` gives the device
//! those stalls ([`sim::service::StallSpec`]) and leaves the stalled runs out of resampled
//! service times (`samples`, `empirical`), so that a stall is counted once: by wall time, as it
//! happens, not once per run. Likewise with `drift = true` (opt-in: `calibrate --drift`) the
//! device's service times follow a stationary AR(1) process fitted to the measured factors
//! ([`sim::service::DriftSpec::fit`], three rounds or more) and each resampled run is divided by
//! its round's factor, so that the spread the drift explains is not counted twice.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sim::ScenarioConfig;
use sim::service::{ColdSpec, DriftSpec, ServiceSpec, StallSpec};

use crate::ReplayError;
use crate::fit::{AffineFit, AffineFloorFit, quantile};
use crate::model::card_id;

/// The schema tag.
pub const PROFILE_SCHEMA: &str = "servesim.service-profile/3";

/// Which measured model `simulate` takes from a profile entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseModel {
    /// The medians, interpolated linearly between measured sizes (`ServiceSpec::Table`).
    #[default]
    Table,
    /// `a + b·B`.
    Affine,
    /// `max(c, a + b·B)`.
    AffineFloor,
    /// The timed runs of batch size 1, resampled (`ServiceSpec::Empirical`): keeps the measured
    /// spread, for devices that do not batch.
    Empirical,
    /// Every timed run of every batch size, resampled (`ServiceSpec::TableSamples`): the measured
    /// spread at every size, for batching devices too.
    Samples,
}

/// A service-time profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// [`PROFILE_SCHEMA`].
    pub schema: String,
    /// The servesim build that measured it.
    pub created_by: String,
    /// The models directory it was measured on (informational; ids are what is checked).
    pub models_dir: String,
    /// Which model `simulate` uses.
    #[serde(rename = "use", default)]
    pub use_model: UseModel,
    /// Thread setting whose entries `simulate` uses.
    pub simulate_threads: usize,
    /// Whether `simulate` models the measured stalls.
    #[serde(default = "yes")]
    pub stalls: bool,
    /// Whether `simulate` models the measured drift (opt-in: `calibrate --drift`).
    #[serde(default)]
    pub drift: bool,
    /// Whether `simulate` models the measured cold starts after idle gaps.
    #[serde(default = "yes")]
    pub cold: bool,
    /// Where it was measured.
    pub machine: Machine,
    /// Measurements, one per variant × thread setting.
    pub entries: Vec<Entry>,
}

/// A machine description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs available.
    pub cores: usize,
    /// ONNX Runtime version.
    pub onnxruntime: String,
}

impl Machine {
    /// This machine.
    pub fn current() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Machine { cpu, cores, onnxruntime: crate::runtime::ORT_VERSION.to_string() }
    }
}

/// One variant × thread setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Model name.
    pub variant: String,
    /// Model id from its card.
    pub model_id: String,
    /// Intra-op threads.
    pub threads: usize,
    /// Untimed runs per batch size.
    pub warmup: usize,
    /// Timed runs per batch size.
    pub repeats: usize,
    /// Consecutive runs of one size before the next size's turn.
    #[serde(default = "default_block")]
    pub block: usize,
    /// Batch sizes, increasing.
    pub batch: Vec<u32>,
    /// Median time per batch size, ms.
    pub median_ms: Vec<f64>,
    /// 10th percentile, ms.
    pub p10_ms: Vec<f64>,
    /// 90th percentile, ms.
    pub p90_ms: Vec<f64>,
    /// Every timed run, ms: one list per batch size.
    #[serde(default)]
    pub samples_ms: Vec<Vec<f64>>,
    /// Median of the ONNX Runtime run alone per batch size, ms (the rest of `median_ms` is the
    /// hand-off to the worker thread and back).
    #[serde(default)]
    pub run_median_ms: Vec<f64>,
    /// Whether the worker and the measuring thread polled (busy-waited) for each other; a
    /// replay that blocks pays tens of µs more per hand-off.
    #[serde(default)]
    pub polling: bool,
    /// `a + b·B` fitted to the medians.
    pub affine: Option<AffineFit>,
    /// `max(c, a + b·B)` fitted to the medians.
    pub affine_floor: Option<AffineFloorFit>,
    /// Stalls seen while measuring, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalls: Option<MeasuredStalls>,
    /// The machine's speed round by round, if two rounds or more were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<MeasuredDrift>,
    /// Busy times after controlled idle gaps and the cold-start model fitted to them, if measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<MeasuredCold>,
    /// A sustained back-to-back run, if measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sustained: Option<MeasuredSustained>,
    /// The open-loop probe, if run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<MeasuredProbe>,
}

/// Back-to-back runs of one size for as long as a short replay: how the busy time moves when a
/// server works without a break.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredSustained {
    /// Batch size.
    pub batch: u32,
    /// Runs.
    pub runs: usize,
    /// Their total busy time, ms.
    pub duration_ms: f64,
    /// Median of the first third of the runs, ms.
    pub first_ms: f64,
    /// Median of the last third, ms.
    pub last_ms: f64,
    /// last_ms ÷ first_ms: > 1, the server slowed down as it kept working.
    pub ratio: f64,
}

impl MeasuredSustained {
    /// Summarises runs in the order measured (at least three).
    pub fn from_runs(batch: u32, runs_ms: &[f64]) -> MeasuredSustained {
        let third = (runs_ms.len() / 3).max(1);
        let first_ms = quantile(&runs_ms[..third], 0.5);
        let last_ms = quantile(&runs_ms[runs_ms.len() - third..], 0.5);
        MeasuredSustained {
            batch,
            runs: runs_ms.len(),
            duration_ms: runs_ms.iter().sum(),
            first_ms,
            last_ms,
            ratio: last_ms / first_ms,
        }
    }
}

/// The open-loop probe: one server without batching, Poisson arrivals at a few loads, replayed on
/// the wall clock; each batch's busy time against the entry's prediction for it (its size's
/// median × 1 + the cold-start slowdown after its idle gap). A ratio far from 1 means serving
/// does something the blocks and the bursts did not show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredProbe {
    /// Requests per load.
    pub requests: usize,
    /// Median over every probe batch of busy time ÷ prediction.
    pub ratio: f64,
    /// Per load.
    pub points: Vec<ProbePoint>,
}

/// One load of the probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbePoint {
    /// Fraction of one server's batch-1 capacity (1 ÷ its median).
    pub load: f64,
    /// Arrival rate, 1/s.
    pub rate_per_s: f64,
    /// Batches run.
    pub batches: usize,
    /// Median idle gap before a batch, ms.
    pub median_gap_ms: f64,
    /// Median busy time, ms.
    pub busy_median_ms: f64,
    /// Median of the predictions for the same batches, ms.
    pub predicted_median_ms: f64,
    /// Median of busy time ÷ prediction.
    pub ratio: f64,
}

fn yes() -> bool {
    true
}

fn default_block() -> usize {
    crate::harness::CALIBRATION_BLOCK
}

/// Stalls found among timed runs: a run longer than its size's median by more than
/// max([`STALL_MIN_EXCESS_MS`], [`STALL_MADS`] × its size's median absolute deviation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredStalls {
    /// Stalls per second of measured time without them.
    pub rate_per_s: f64,
    /// Each stall's excess over the median of its size, ms.
    pub duration_ms: Vec<f64>,
    /// Per batch size: runs longer than this stalled, ms.
    pub above_ms: Vec<f64>,
}

/// Least excess over the median that makes a run a stall, ms.
pub const STALL_MIN_EXCESS_MS: f64 = 1.0;
/// Median absolute deviations above the median that make a run a stall.
pub const STALL_MADS: f64 = 10.0;

impl MeasuredStalls {
    /// Finds the stalls among `runs_ms` (per batch size) and among `more` (other groups of runs
    /// alike enough to share a median, e.g. bursts after one idle gap): the rate and durations
    /// count both, the thresholds (`above_ms`) are those of `runs_ms`' sizes.
    pub fn find_in(runs_ms: &[Vec<f64>], more: &[Vec<f64>]) -> Option<MeasuredStalls> {
        let all: Vec<Vec<f64>> = runs_ms.iter().chain(more).cloned().collect();
        let mut found = MeasuredStalls::find(&all)?;
        found.above_ms.truncate(runs_ms.len());
        Some(found)
    }

    /// Finds the stalls among `runs_ms` (per batch size, in any order); `None` if there are none.
    pub fn find(runs_ms: &[Vec<f64>]) -> Option<MeasuredStalls> {
        let mut above_ms = Vec::with_capacity(runs_ms.len());
        let mut duration_ms = Vec::new();
        let mut up_ms = 0.0;
        for runs in runs_ms {
            let median = quantile(runs, 0.5);
            let deviations: Vec<f64> = runs.iter().map(|x| (x - median).abs()).collect();
            let mad = quantile(&deviations, 0.5);
            let above = median + STALL_MIN_EXCESS_MS.max(STALL_MADS * mad);
            for &x in runs {
                if x > above {
                    duration_ms.push(x - median);
                    up_ms += median;
                } else {
                    up_ms += x;
                }
            }
            above_ms.push(above);
        }
        (!duration_ms.is_empty() && up_ms > 0.0).then(|| MeasuredStalls {
            rate_per_s: duration_ms.len() as f64 / (up_ms / 1e3),
            duration_ms,
            above_ms,
        })
    }

    /// Whether run `x` of size index `i` stalled.
    pub fn stalled(&self, i: usize, x: f64) -> bool {
        x > self.above_ms.get(i).copied().unwrap_or(f64::INFINITY)
    }

    /// As a device's stall model.
    pub fn spec(&self) -> StallSpec {
        // The rate is per second of the runs searched, and a stall while the worker idled is
        // not seen: stalls of busy servers (BENCHMARKS.md: closer to the replays' p99 than the
        // same rate in wall time, which over-predicted it by up to 44 %).
        StallSpec { rate_per_s: self.rate_per_s, duration_ms: self.duration_ms.clone(), busy_only: true }
    }
}

/// The machine's speed round by round, as measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredDrift {
    /// Mean duration of a round, ms.
    pub step_ms: f64,
    /// Per round, in time order: its speed factor.
    pub factors: Vec<f64>,
}

impl MeasuredDrift {
    /// The stationary AR(1) process fitted to the factors ([`DriftSpec::fit`]); `None` with fewer
    /// than three rounds.
    pub fn spec(&self) -> Option<DriftSpec> {
        DriftSpec::fit(self.step_ms, &self.factors)
    }
}

/// The machine's speed round by round: `runs_ms[i]` are size i's runs in the order measured, in
/// blocks of `block` per round (as [`crate::harness::time_through_worker`] measures them).
/// Each round's factor is the median over sizes of its block's median ÷ the size's median;
/// stalled runs are left out of both. `None` with fewer than two rounds.
pub fn find_drift(runs_ms: &[Vec<f64>], block: usize, stalls: Option<&MeasuredStalls>) -> Option<MeasuredDrift> {
    let block = block.max(1);
    let rounds = runs_ms.iter().map(|r| r.len().div_ceil(block)).max().unwrap_or(0);
    if rounds < 2 {
        return None;
    }
    let kept = |i: usize, v: &[f64]| -> Vec<f64> {
        v.iter().copied().filter(|&x| !stalls.is_some_and(|s| s.stalled(i, x))).collect()
    };
    let medians: Vec<f64> = runs_ms.iter().enumerate().map(|(i, r)| quantile(&kept(i, r), 0.5)).collect();
    let mut factors = Vec::with_capacity(rounds);
    let mut full_rounds_ms = Vec::new();
    for r in 0..rounds {
        let mut ratios = Vec::new();
        let mut duration = 0.0;
        let mut full = true;
        for (i, runs) in runs_ms.iter().enumerate() {
            let lo = (r * block).min(runs.len());
            let hi = ((r + 1) * block).min(runs.len());
            full &= hi - lo == block;
            duration += runs[lo..hi].iter().sum::<f64>();
            let m = quantile(&kept(i, &runs[lo..hi]), 0.5);
            if m.is_finite() && medians[i] > 0.0 {
                ratios.push(m / medians[i]);
            }
        }
        factors.push(if ratios.is_empty() { 1.0 } else { quantile(&ratios, 0.5) });
        if full {
            full_rounds_ms.push(duration);
        }
    }
    let step_ms = if full_rounds_ms.is_empty() {
        return None;
    } else {
        full_rounds_ms.iter().sum::<f64>() / full_rounds_ms.len() as f64
    };
    Some(MeasuredDrift { step_ms, factors })
}

/// Busy times after controlled idle gaps ([`crate::harness::time_after_gaps`]) and the
/// cold-start model fitted to them ([`MeasuredCold::fit`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredCold {
    /// Idle gaps before a burst, ms, increasing from 0 (0: straight after the previous burst).
    pub gap_ms: Vec<f64>,
    /// Batch sizes timed after each gap.
    pub batch: Vec<u32>,
    /// Back-to-back batches per burst.
    pub burst: usize,
    /// Bursts per gap and size.
    pub rounds: usize,
    /// The warm time of each size: its median in back-to-back blocks, ms.
    pub warm_ms: Vec<f64>,
    /// Per gap, per size, per position in the burst: median busy time, ms.
    pub median_ms: Vec<Vec<Vec<f64>>>,
    /// The fitted model.
    pub fit: ColdSpec,
    /// Per gap, per size, per position: measured − fitted median, ms.
    pub residuals_ms: Vec<Vec<Vec<f64>>>,
}

/// The grid [`MeasuredCold`] searches τ_idle over, ms (log-spaced, 20 points a decade), cut at
/// the longest gap measured.
pub const COLD_IDLE_TAU_MS: (f64, f64) = (0.05, 2_000.0);
/// The shapes k it tries.
pub const COLD_SHAPES: [f64; 5] = [1.0, 1.5, 2.0, 3.0, 4.0];
/// The grid it searches τ_busy over, ms (0, then log-spaced, 20 points a decade).
pub const COLD_BUSY_TAU_MS: (f64, f64) = (0.05, 200.0);

fn log_grid(lo: f64, hi: f64, per_decade: f64) -> Vec<f64> {
    let n = (((hi / lo).log10() * per_decade).round() as usize).max(1);
    (0..=n).map(|k| lo * (hi / lo).powf(k as f64 / n as f64)).collect()
}

impl MeasuredCold {
    /// Summarises bursts measured per gap, size and position (`runs_ms[gap][size][position]`,
    /// every round) and fits the model: for every (τ_idle, k, τ_busy) of the grids the experiment is
    /// replayed through the model's state with S = 1 — rounds repeat, so twice over, the second
    /// pass scored — each batch taking its measured median; the slowdown at each batch's start is
    /// then S·u, so S ≥ 0 is linear least squares of (median − warm) on warm·u. The pair with the
    /// least squared error wins. `None` unless the first gap is 0 and another is above it.
    pub fn from_runs(
        gap_ms: &[f64],
        batch: &[u32],
        warm_ms: &[f64],
        runs_ms: &[Vec<Vec<Vec<f64>>>],
    ) -> Option<MeasuredCold> {
        if gap_ms.first() != Some(&0.0)
            || gap_ms.len() < 2
            || runs_ms.len() != gap_ms.len()
            || warm_ms.len() != batch.len()
            || runs_ms.iter().any(|per_size| per_size.len() != batch.len())
        {
            return None;
        }
        let median_ms: Vec<Vec<Vec<f64>>> = runs_ms
            .iter()
            .map(|per_size| per_size.iter().map(|per_pos| per_pos.iter().map(|r| quantile(r, 0.5)).collect()).collect())
            .collect();
        let burst = median_ms[0][0].len();
        // The experiment in order, batch by batch.
        // (gap before, size index, measured median, where it sits in `median_ms`).
        type Run = (f64, usize, f64, (usize, usize, usize));
        let mut order: Vec<Run> = Vec::new();
        for i in 0..batch.len() {
            for (g, per_size) in median_ms.iter().enumerate() {
                for (j, &m) in per_size[i].iter().enumerate() {
                    order.push((if j == 0 { gap_ms[g] } else { 0.0 }, i, m, (g, i, j)));
                }
            }
        }
        if order.iter().any(|o| !o.2.is_finite()) {
            return None;
        }
        let unit = |idle_tau_ms: f64, busy_tau_ms: f64, shape: f64| -> Vec<f64> {
            let spec = ColdSpec { slowdown: 1.0, idle_tau_ms, busy_tau_ms, shape };
            let mut s = 0.0;
            let mut u = vec![0.0; order.len()];
            for pass in 0..2 {
                for (k, &(gap, _, took, _)) in order.iter().enumerate() {
                    let start = spec.after_idle(s, gap);
                    if pass == 1 {
                        u[k] = start;
                    }
                    s = spec.after_busy(start, took);
                }
            }
            u
        };
        let mut busy_taus = vec![0.0];
        busy_taus.extend(log_grid(COLD_BUSY_TAU_MS.0, COLD_BUSY_TAU_MS.1, 20.0));
        let mut best: Option<(ColdSpec, f64)> = None;
        // τ_idle no longer than the longest gap measured: beyond it nothing says the slowdown
        // keeps building up, and a curve still rising there would extrapolate without bound.
        let longest =
            gap_ms.last().copied().unwrap_or(COLD_IDLE_TAU_MS.1).clamp(COLD_IDLE_TAU_MS.0, COLD_IDLE_TAU_MS.1);
        for (idle, &shape) in log_grid(COLD_IDLE_TAU_MS.0, longest, 20.0)
            .into_iter()
            .flat_map(|idle| COLD_SHAPES.iter().map(move |s| (idle, s)))
        {
            for &busy in &busy_taus {
                let u = unit(idle, busy, shape);
                let (mut xy, mut xx) = (0.0, 0.0);
                for (k, &(_, i, took, _)) in order.iter().enumerate() {
                    let x = warm_ms[i] * u[k];
                    xy += x * (took - warm_ms[i]);
                    xx += x * x;
                }
                let slowdown = if xx > 0.0 { (xy / xx).max(0.0) } else { 0.0 };
                let sse: f64 = order
                    .iter()
                    .enumerate()
                    .map(|(k, &(_, i, took, _))| (took - warm_ms[i] * (1.0 + slowdown * u[k])).powi(2))
                    .sum();
                if best.as_ref().is_none_or(|(_, b)| sse < *b) {
                    best = Some((ColdSpec { slowdown, idle_tau_ms: idle, busy_tau_ms: busy, shape }, sse));
                }
            }
        }
        let (fit, _) = best?;
        let u = unit(fit.idle_tau_ms, fit.busy_tau_ms, fit.shape);
        let mut residuals_ms = vec![vec![vec![0.0; burst]; batch.len()]; gap_ms.len()];
        for (k, &(_, i, took, (g, bi, j))) in order.iter().enumerate() {
            residuals_ms[g][bi][j] = took - warm_ms[i] * (1.0 + fit.slowdown * u[k]);
        }
        Some(MeasuredCold {
            gap_ms: gap_ms.to_vec(),
            batch: batch.to_vec(),
            burst,
            rounds: runs_ms[0][0].first().map_or(0, Vec::len),
            warm_ms: warm_ms.to_vec(),
            median_ms,
            fit,
            residuals_ms,
        })
    }

    /// As a device's cold-start model.
    pub fn spec(&self) -> ColdSpec {
        self.fit.clone()
    }
}

impl Entry {
    /// The service model `use_model` selects; with `stalls`, resampled runs leave out the
    /// stalled ones (the device stalls instead).
    pub fn service(&self, use_model: UseModel, stalls: bool, drift: bool) -> Option<ServiceSpec> {
        let runs = |i: usize| -> Vec<f64> {
            let Some(v) = self.samples_ms.get(i) else { return Vec::new() };
            let factors = self.drift.as_ref().filter(|_| drift).map(|d| &d.factors);
            v.iter()
                .enumerate()
                .filter(|&(_, &x)| !(stalls && self.stalls.as_ref().is_some_and(|s| s.stalled(i, x))))
                .map(|(j, &x)| x / factors.and_then(|f| f.get(j / self.block.max(1))).copied().unwrap_or(1.0))
                .collect()
        };
        match use_model {
            UseModel::Table => Some(ServiceSpec::Table { batch: self.batch.clone(), ms: self.median_ms.clone() }),
            UseModel::Affine => self.affine.as_ref().map(|f| ServiceSpec::Affine { a_ms: f.a_ms, b_ms: f.b_ms }),
            UseModel::AffineFloor => self.affine_floor.as_ref().map(|f| ServiceSpec::AffineFloor {
                a_ms: f.a_ms,
                b_ms: f.b_ms,
                floor_ms: f.floor_ms,
            }),
            UseModel::Samples => {
                if self.samples_ms.len() != self.batch.len() || self.samples_ms.iter().any(Vec::is_empty) {
                    return None;
                }
                let samples_ms: Vec<Vec<f64>> = (0..self.batch.len()).map(runs).collect();
                Some(ServiceSpec::TableSamples { batch: self.batch.clone(), samples_ms })
            }
            UseModel::Empirical => {
                let i = self.batch.iter().position(|&b| b == 1)?;
                let values_ms = Some(runs(i)).filter(|v| !v.is_empty())?;
                Some(ServiceSpec::Empirical { values_ms })
            }
        }
    }
}

impl Profile {
    /// Reads and checks a profile file.
    pub fn load(path: &Path) -> Result<Profile, ReplayError> {
        let bad = |reason: String| ReplayError::Profile { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let p: Profile = toml::from_str(&text).map_err(|e| bad(format!("not a service profile: {e}")))?;
        if p.schema == "servesim.service-profile/2" {
            return Err(bad(format!(
                "schema `{}` is stale: it has no busy times after idle gaps, so `simulate` cannot model a \
                 server that idles between requests (`{PROFILE_SCHEMA}` measures them); re-run `servesim calibrate`",
                p.schema
            )));
        }
        if p.schema == "servesim.service-profile/1" {
            return Err(bad(format!(
                "schema `{}` is stale: it timed ONNX Runtime runs alone, not a server's busy time through the \
                 replay's worker path (`{PROFILE_SCHEMA}`); re-run `servesim calibrate`",
                p.schema
            )));
        }
        if p.schema != PROFILE_SCHEMA {
            return Err(bad(format!("schema `{}`, expected `{PROFILE_SCHEMA}`", p.schema)));
        }
        for (i, e) in p.entries.iter().enumerate() {
            let n = e.batch.len();
            if n == 0
                || e.median_ms.len() != n
                || e.p10_ms.len() != n
                || e.p90_ms.len() != n
                || e.run_median_ms.len() != n
            {
                return Err(bad(format!(
                    "entries[{i}]: batch, median_ms, p10_ms, p90_ms and run_median_ms need equal, non-zero lengths"
                )));
            }
            if let Some(s) = e.service(p.use_model, p.stalls, p.drift) {
                s.validate(&format!("entries[{i}]")).map_err(|err| bad(err.to_string()))?;
            }
            if let Some(d) = &e.drift {
                DriftSpec { step_ms: d.step_ms, phi: 0.0, sigma: 0.0 }
                    .validate(&format!("entries[{i}].drift"))
                    .map_err(|err| bad(err.to_string()))?;
                if let Some(j) = d.factors.iter().position(|f| !(*f > 0.0 && f.is_finite())) {
                    return Err(bad(format!("entries[{i}].drift.factors[{j}]: must be a positive number")));
                }
            }
            if let Some(c) = &e.cold {
                c.spec().validate(&format!("entries[{i}].cold.fit")).map_err(|err| bad(err.to_string()))?;
                if c.median_ms.len() != c.gap_ms.len() || c.warm_ms.len() != c.batch.len() {
                    return Err(bad(format!(
                        "entries[{i}].cold: median_ms needs one row per gap and warm_ms one value per batch size"
                    )));
                }
            }
            if let Some(st) = &e.stalls {
                st.spec().validate(&format!("entries[{i}].stalls")).map_err(|err| bad(err.to_string()))?;
                if st.above_ms.len() != n {
                    return Err(bad(format!("entries[{i}].stalls.above_ms: needs one value per batch size ({n})")));
                }
            }
        }
        Ok(p)
    }

    /// Writes the profile as TOML with a header comment pointing at the format.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).expect("profiles serialize");
        format!(
            "# servesim service-time profile ({PROFILE_SCHEMA}): measured batch service times of real models on\n\
             # ONNX Runtime. Format: replay/src/profile.rs. Used by `servesim simulate --profile`.\n{body}"
        )
    }

    /// The entry `simulate` uses for `variant`.
    pub fn entry(&self, variant: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.variant == variant && e.threads == self.simulate_threads)
    }

    /// Gives every device of `config` whose `variant` has an entry here that entry's service
    /// model (and its measured stalls, drift and cold starts, unless this profile leaves them out
    /// or the device declares its own), after refusing a stale profile (other models than the
    /// cards in `models_dir`, another machine). `path` names the profile in errors. Returns the
    /// entries used, once per variant.
    pub fn apply(
        &self,
        path: &Path,
        models_dir: &Path,
        config: &mut ScenarioConfig,
    ) -> Result<Vec<&Entry>, ReplayError> {
        let bad = |reason: String| ReplayError::Profile { path: path.to_path_buf(), reason };
        let variants: Vec<String> = config.devices.iter().filter_map(|d| d.variant.clone()).collect();
        let names: Vec<&str> = variants.iter().map(String::as_str).collect();
        self.check_fresh(path, models_dir, &names)?;
        let mut used: Vec<&Entry> = Vec::new();
        let mut applied = 0;
        for d in &mut config.devices {
            let Some(entry) = d.variant.as_deref().and_then(|v| self.entry(v)) else { continue };
            if self.use_model == UseModel::Empirical && !d.batching.is_none() {
                return Err(bad(format!(
                    "`use = \"empirical\"` resamples batch-1 runs, but device `{}` batches; use `table`",
                    d.name
                )));
            }
            let service = entry
                .service(self.use_model, self.stalls, self.drift)
                .ok_or_else(|| bad(format!("entry `{}` has no {:?} fit", entry.variant, self.use_model)))?;
            d.service = Some(service);
            if self.stalls && d.stalls.is_none() {
                d.stalls = entry.stalls.as_ref().map(|st| st.spec());
            }
            if self.drift && d.drift.is_none() {
                d.drift = entry.drift.as_ref().and_then(|m| m.spec());
            }
            if self.cold && d.cold.is_none() {
                d.cold = entry.cold.as_ref().map(|c| c.spec());
            }
            applied += 1;
            if !used.iter().any(|u| u.variant == entry.variant) {
                used.push(entry);
            }
        }
        if applied == 0 {
            return Err(bad(format!(
                "no device of the scenario serves a variant the profile measured ({})",
                self.entries.iter().map(|e| e.variant.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(used)
    }

    /// `config` with the service model of every device this profile measured multiplied by
    /// `factor` (cold starts are a multiple of the service time: they scale with it); unchanged
    /// for a factor that is not finite.
    pub fn scaled(&self, config: &ScenarioConfig, factor: f64) -> ScenarioConfig {
        let mut c = config.clone();
        for dev in &mut c.devices {
            if dev.variant.as_deref().and_then(|v| self.entry(v)).is_some() && factor.is_finite() {
                dev.service = dev.service.as_ref().map(|s| s.scaled(factor));
            }
        }
        c
    }

    /// Refuses a profile made on another machine, or for models other than the ones whose cards
    /// are in `models_dir` (each of `variants` that the profile has an entry for).
    pub fn check_fresh(&self, path: &Path, models_dir: &Path, variants: &[&str]) -> Result<(), ReplayError> {
        let stale = |reason: String| ReplayError::StaleProfile { path: path.to_path_buf(), reason };
        let here = Machine::current();
        if self.machine.cpu != here.cpu || self.machine.onnxruntime != here.onnxruntime {
            return Err(stale(format!(
                "measured on `{}` with ONNX Runtime {}, this machine is `{}` with {}",
                self.machine.cpu, self.machine.onnxruntime, here.cpu, here.onnxruntime
            )));
        }
        for v in variants {
            let Some(e) = self.entry(v) else { continue };
            let card: PathBuf = models_dir.join(format!("{v}.card.json"));
            let id = card_id(&card)?;
            if id != e.model_id {
                return Err(stale(format!(
                    "variant `{v}` was measured for model {} but {} is {id}",
                    e.model_id,
                    card.display()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-entry profile (variant `v`, sizes 1 and 2 at 1 and 2 ms), for tests elsewhere.
    pub(crate) const MINIMAL_PROFILE: &str = "schema = \"servesim.service-profile/3\"\ncreated_by = \"t\"\n\
        models_dir = \"m\"\nsimulate_threads = 1\n[machine]\ncpu = \"c\"\ncores = 2\nonnxruntime = \"1.32.0\"\n\
        [[entries]]\nvariant = \"v\"\nmodel_id = \"mdl-0\"\nthreads = 1\nwarmup = 1\nrepeats = 1\nbatch = [1, 2]\n\
        median_ms = [1.0, 2.0]\np10_ms = [1.0, 2.0]\np90_ms = [1.0, 2.0]\nrun_median_ms = [1.0, 2.0]\n";

    fn runs(base: f64, n: usize, extra: &[f64]) -> Vec<f64> {
        let mut v = vec![base; n];
        v.extend_from_slice(extra);
        v
    }

    /// An entry of sizes 1 and 2 with these runs (medians and the rest are not read here).
    fn entry(
        samples_ms: Vec<Vec<f64>>,
        block: usize,
        stalls: Option<MeasuredStalls>,
        drift: Option<MeasuredDrift>,
    ) -> Entry {
        let medians: Vec<f64> = samples_ms.iter().map(|v| quantile(v, 0.5)).collect();
        Entry {
            variant: "v".into(),
            model_id: "mdl-x".into(),
            threads: 1,
            warmup: 1,
            repeats: samples_ms[0].len(),
            block,
            batch: vec![1, 2],
            median_ms: medians.clone(),
            p10_ms: medians.clone(),
            p90_ms: medians.clone(),
            stalls,
            drift,
            samples_ms,
            run_median_ms: medians,
            polling: true,
            affine: None,
            affine_floor: None,
            cold: None,
            sustained: None,
            probe: None,
        }
    }

    #[test]
    fn stalls_are_runs_far_above_their_size_median_counted_per_second_of_up_time() {
        // Size 1: 97 runs of 1 ms, one of 1.9 (0.9 ms over: not a stall), two of 6 (stalls of 5);
        // size 2: 99 runs of 2 ms, one of 9 (a stall of 7). Up time: 97 + 1.9 + 2·1 + 100·2 ms.
        let measured = vec![runs(1.0, 97, &[1.9, 6.0, 6.0]), runs(2.0, 99, &[9.0])];
        let st = MeasuredStalls::find(&measured).unwrap();
        assert_eq!(st.duration_ms, vec![5.0, 5.0, 7.0]);
        assert_eq!(st.above_ms, vec![2.0, 3.0]);
        assert!((st.rate_per_s - 3.0 / 0.3009).abs() < 1e-9, "{}", st.rate_per_s);
        // A wide size needs 10 MADs: median 10, MAD 0.5 → above 15 ms.
        let wide: Vec<f64> = [runs(9.5, 30, &[]), runs(10.0, 41, &[]), runs(10.5, 30, &[14.0, 16.0])].concat();
        let st = MeasuredStalls::find(&[wide]).unwrap();
        assert_eq!(st.duration_ms, vec![6.0]);
        assert!(MeasuredStalls::find(&[runs(1.0, 50, &[1.5])]).is_none());
        // Other groups add their stalls and time, not thresholds: a burst group of 19 runs of
        // 3 ms and one of 9 (a stall of 6) beside 100 runs of 1 ms.
        let st = MeasuredStalls::find_in(&[runs(1.0, 100, &[])], &[runs(3.0, 19, &[9.0])]).unwrap();
        assert_eq!((st.duration_ms.clone(), st.above_ms.clone()), (vec![6.0], vec![2.0]));
        assert!((st.rate_per_s - 1.0 / 0.16).abs() < 1e-9, "{}", st.rate_per_s);
    }

    #[test]
    fn cold_start_fit_recovers_the_model_that_made_the_bursts() {
        // Bursts of 3 batches of warm time 1 ms after gaps of 0–100 ms, timed through the
        // simulator's own cold-start state (S = 1, τ_idle = 20 ms, k = 2, τ_busy = 2 ms), twice
        // around the experiment so that the second round starts where the first ended.
        let truth = ColdSpec { slowdown: 1.0, idle_tau_ms: 20.0, busy_tau_ms: 2.0, shape: 2.0 };
        let gaps = [0.0, 1.0, 3.0, 10.0, 30.0, 100.0];
        let mut state = sim::service::ColdState::default();
        let mut runs = vec![vec![vec![Vec::new(); 3]; 1]; gaps.len()];
        for _ in 0..2 {
            for (g, gap) in gaps.iter().enumerate() {
                for (j, slot) in runs[g][0].iter_mut().enumerate() {
                    let idle = sim::SimTime::from_millis_f64(if j == 0 { *gap } else { 0.0 }).unwrap();
                    let took = state.serve(&truth, idle, sim::SimTime::from_millis(1));
                    slot.push(took.as_nanos() as f64 / 1e6);
                }
            }
        }
        // Each group's median is the second round's run (of two, the upper): keep that one.
        for per_size in &mut runs {
            for pos in &mut per_size[0] {
                pos.remove(0);
            }
        }
        let c = MeasuredCold::from_runs(&gaps, &[1], &[1.0], &runs).unwrap();
        let f = &c.fit;
        assert_eq!(f.shape, 2.0, "{f:?}");
        assert!((f.slowdown - 1.0).abs() < 0.03, "{f:?}");
        assert!((f.idle_tau_ms / 20.0 - 1.0).abs() < 0.06 && (f.busy_tau_ms / 2.0 - 1.0).abs() < 0.06, "{f:?}");
        assert!(c.residuals_ms.iter().flatten().flatten().all(|r| r.abs() < 0.01), "{c:?}");
        // τ_idle stays within the gaps measured: a curve still rising at 100 ms is not extrapolated.
        let rising: Vec<Vec<Vec<Vec<f64>>>> = gaps.iter().map(|g| vec![vec![vec![1.0 + g / 50.0]; 1]]).collect();
        let r = MeasuredCold::from_runs(&gaps, &[1], &[1.0], &rising).unwrap();
        assert!(r.fit.idle_tau_ms <= 100.0 + 1e-9, "{:?}", r.fit);
        assert!(MeasuredCold::from_runs(&[1.0, 2.0], &[1], &[1.0], &rising[..2]).is_none(), "the first gap must be 0");
    }

    #[test]
    fn drift_is_each_rounds_median_over_its_sizes_median_and_resampled_runs_are_divided_by_it() {
        // Blocks of 2, three rounds; the machine runs twice as slow in the second.
        let samples_ms = vec![vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0], vec![3.0, 3.0, 6.0, 6.0, 3.0, 3.0]];
        let d = find_drift(&samples_ms, 2, None).unwrap();
        assert_eq!(d.factors, vec![1.0, 2.0, 1.0]);
        assert!((d.step_ms - 32.0 / 3.0).abs() < 1e-12, "{}", d.step_ms);
        assert!(find_drift(&[vec![1.0, 1.0]], 2, None).is_none(), "one round: no drift");
        let e = entry(samples_ms, 2, None, Some(d));
        let Some(ServiceSpec::TableSamples { samples_ms, .. }) = e.service(UseModel::Samples, true, true) else {
            panic!()
        };
        assert_eq!(samples_ms, vec![vec![1.0; 6], vec![3.0; 6]]);
        let Some(ServiceSpec::TableSamples { samples_ms, .. }) = e.service(UseModel::Samples, true, false) else {
            panic!()
        };
        assert_eq!(samples_ms[0], vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn modelled_stalls_leave_the_resampled_runs_and_go_to_the_device() {
        let samples_ms = vec![runs(1.0, 97, &[1.9, 6.0, 6.0]), runs(2.0, 99, &[9.0])];
        let stalls = MeasuredStalls::find(&samples_ms);
        let e = entry(samples_ms, 50, stalls, None);
        let Some(ServiceSpec::TableSamples { samples_ms, .. }) = e.service(UseModel::Samples, true, true) else {
            panic!()
        };
        assert_eq!(samples_ms.iter().map(Vec::len).collect::<Vec<_>>(), vec![98, 99]);
        assert!(samples_ms.iter().flatten().all(|&x| x < 2.5));
        let Some(ServiceSpec::TableSamples { samples_ms, .. }) = e.service(UseModel::Samples, false, true) else {
            panic!()
        };
        assert_eq!(samples_ms.iter().map(Vec::len).collect::<Vec<_>>(), vec![100, 100]);
        let Some(ServiceSpec::Empirical { values_ms }) = e.service(UseModel::Empirical, true, true) else { panic!() };
        assert_eq!(values_ms.len(), 98);
        let spec = e.stalls.as_ref().unwrap().spec();
        assert_eq!(spec.duration_ms, vec![5.0, 5.0, 7.0]);
        spec.validate("s").unwrap();
    }
}
