//! Real-time open-loop replay.
//!
//! Two kinds of threads:
//! - one **worker** per device server owns an ONNX Runtime session over the device's variant and
//!   runs the batches it is handed (rows of the test split: row = request id mod rows);
//! - the **scheduling** thread (the caller's) releases each request at `start + arrival / speed`
//!   (it blocks until ~150 µs before the next release, batcher wake-up or cache-hit delivery,
//!   then polls), whether or not earlier requests have finished — releasing on this thread costs
//!   no hand-off, where a separate release thread cost a thread wake-up (tens of µs) per request.
//!   It owns a [`Scheduler`]: `sim`'s own serving core ([`sim::serving`]: cache → cascade stage →
//!   router → queue → batcher → servers, the code the simulator's engine drives), fed
//!   `now = SimTime(ns since the replay started)`; this file keeps only threads, clocks and
//!   ONNX Runtime.
//!
//! All timestamps are nanoseconds since one `Instant`, taken after every session is loaded and
//! warmed up.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use sim::engine::CacheOutcome;
use traces::{Request, SimTime};

use crate::ReplayError;
use crate::fit::quantile;
use crate::model::{ModelFile, OrtModel, TestSplit, batch_input};

mod scheduler;
pub use scheduler::{DeviceTally, Dispatch, Outcome, Queued, Scheduler};

/// Replay settings.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Trace time is divided by this (2 = twice as fast).
    pub speed: f64,
    /// ONNX Runtime intra-op threads per session.
    pub threads: usize,
    /// Warm-up runs of each batch size per session before the clock starts.
    pub warmup: usize,
    /// Set (e.g. by Ctrl-C) to stop releasing; in-flight batches finish, the result is partial.
    pub stop: Option<Arc<AtomicBool>>,
    /// Let the threads poll (busy-wait) instead of blocking when there is a core for each
    /// (workers + the scheduling thread ≤ cores): waking a blocked thread costs 15–70 µs, and how
    /// much depends on the load, which no profile can capture; polling makes hand-offs a few µs
    /// at any load, at the price of keeping every core busy. See [`polling`].
    pub poll: bool,
}

/// Whether `workers` worker threads and the scheduling thread poll: `allowed` and a core each.
pub fn polling(allowed: bool, workers: usize) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    allowed && workers < cores
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions { speed: 1.0, threads: 1, warmup: 5, stop: None, poll: true }
    }
}

/// One device replica as replay runs it.
#[derive(Clone, Debug)]
pub struct DevicePlan {
    /// Replica name.
    pub name: String,
    /// Variant (= model name).
    pub variant: String,
    /// Index into [`Plan::models`].
    pub model: usize,
    /// Concurrent batches (one worker and session each).
    pub servers: u32,
    /// The largest batch its batcher can form (sessions are warmed up to it).
    pub max_batch: usize,
    /// $ per second.
    pub cost_per_s: f64,
}

/// A scenario mapped onto model files.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// Seed of the router's and the cascade's random streams.
    pub seed: u64,
    /// The scenario (its cache, router, queues and batchers are what the scheduler runs).
    pub config: sim::ScenarioConfig,
    /// The scenario resolved (device replicas, cascade stages).
    pub resolved: sim::config::Resolved,
    /// Replicas.
    pub devices: Vec<DevicePlan>,
    /// The distinct models used.
    pub models: Vec<ModelFile>,
    /// Inputs and labels.
    pub split: TestSplit,
    /// The scenario's end-to-end latency objective, ms.
    pub slo_ms: Option<f64>,
}

impl Plan {
    /// Maps a scenario's devices to models of `models_dir` by their `variant` names.
    pub fn new(config: &sim::ScenarioConfig, models_dir: &Path) -> Result<Plan, ReplayError> {
        if config.llm.is_some() {
            return Err(ReplayError::Scenario(format!(
                "`{}` is an [llm] scenario; replay runs request-level scenarios",
                config.name
            )));
        }
        let resolved = config.resolve().map_err(|e| ReplayError::Scenario(e.to_string()))?;
        let split = crate::model::load_split(models_dir)?;
        let mut models: Vec<ModelFile> = Vec::new();
        let mut devices = Vec::new();
        for d in &resolved.devices {
            if d.autoscale.is_some() {
                return Err(ReplayError::Scenario(format!(
                    "devices[{}] (`{}`) is autoscaled: replay runs a fixed set of replicas (simulate it instead)",
                    d.group, d.name
                )));
            }
            let Some(v) = d.variant else {
                return Err(ReplayError::Scenario(format!(
                    "devices[{}] (`{}`) has no `variant`: replay needs a model name from the models directory",
                    d.group, d.name
                )));
            };
            let variant = resolved.variants[v].name.clone();
            let model = match models.iter().position(|m| m.name == variant) {
                Some(i) => i,
                None => {
                    models.push(ModelFile::find(models_dir, &variant)?);
                    models.len() - 1
                }
            };
            devices.push(DevicePlan {
                name: d.name.clone(),
                variant,
                model,
                servers: d.servers,
                max_batch: d.batching.build().max_batch(),
                cost_per_s: d.cost_per_s,
            });
        }
        Ok(Plan {
            scenario: config.name.clone(),
            seed: config.seed,
            config: config.clone(),
            resolved,
            devices,
            models,
            split,
            slo_ms: config.slo.as_ref().map(|s| s.latency_ms),
        })
    }
}

/// One request's fate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayRecord {
    /// Request id.
    pub id: u64,
    /// Intended release time (trace arrival / speed), ns: the arrival the latency is measured
    /// from, as in the simulator.
    pub intended: u64,
    /// Actual release time, ns (late by the release lateness).
    pub arrival: u64,
    /// When the scheduler took it in, ns.
    pub enqueued: u64,
    /// When its batch was dispatched, ns.
    pub dispatch: Option<u64>,
    /// When ONNX Runtime started its batch, ns.
    pub start: Option<u64>,
    /// When its answer was ready, ns (a cache hit: release + the scenario's `hit_ms`).
    pub finish: Option<u64>,
    /// Device index.
    pub device: Option<usize>,
    /// Server (worker) index within the device.
    pub server: Option<u32>,
    /// Size of its batch (0 if not served by a model).
    pub batch_size: u32,
    /// Dropped (queue full, shed, or stopped early).
    pub dropped: bool,
    /// Response-cache outcome.
    pub cache: CacheOutcome,
    /// Predicted class.
    pub prediction: Option<u32>,
    /// Whether the prediction matches the test label.
    pub correct: Option<bool>,
    /// ONNX Runtime run time of its batch, ns.
    pub ort_ns: Option<u64>,
    /// When the scheduler took its answer from the worker, ns.
    pub returned: Option<u64>,
    /// Harness time: release → scheduler, dispatch → run start, run end → scheduler, ns.
    pub overhead_ns: Option<u64>,
    /// In a cascade: the student's confidence in its answer (its top class probability).
    pub confidence: Option<f32>,
    /// In a cascade: the student's answer, when the request escalated to the teacher.
    pub escalated_from: Option<u32>,
}

impl ReplayRecord {
    /// Release lateness (actual − intended), ns.
    pub fn lateness_ns(&self) -> u64 {
        self.arrival.saturating_sub(self.intended)
    }

    /// Latency (answer back on the scheduling thread − intended release), ns: what a client of
    /// the front end that sent the request on time waits, measured from the same arrival as the
    /// simulator's latency, which models busy times measured through the same worker path
    /// (`calibrate`). Release lateness is not hidden: it is part of this and reported on its own
    /// ([`ReplayRecord::lateness_ns`]).
    pub fn latency_ns(&self) -> Option<u64> {
        self.returned.or(self.finish).map(|f| f.saturating_sub(self.intended))
    }
}

/// Distribution summary, in the unit its field name says.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Dist {
    /// Samples.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Dist {
    /// Summarizes `v`.
    pub fn of(v: &[f64]) -> Dist {
        if v.is_empty() {
            return Dist::default();
        }
        Dist {
            count: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p50: quantile(v, 0.5),
            p90: quantile(v, 0.9),
            p99: quantile(v, 0.99),
            max: v.iter().copied().fold(f64::MIN, f64::max),
        }
    }
}

/// Request counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Released.
    pub arrived: u64,
    /// Answered (by a model or the cache).
    pub completed: u64,
    /// Dropped by a full queue or shedding.
    pub dropped: u64,
    /// Not released, or left waiting, because the run was stopped.
    pub unfinished: u64,
}

/// Per-variant results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantResult {
    /// Variant (model) name.
    pub name: String,
    /// Model id.
    pub model_id: String,
    /// Requests answered by this model (cache hits excluded).
    pub served: u64,
    /// Fraction of them predicted correctly (test labels): measured accuracy.
    pub accuracy: Option<f64>,
    /// Latency of its requests, ms.
    pub latency_ms: Dist,
}

/// Per-device results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceResult {
    /// Replica name.
    pub name: String,
    /// Variant.
    pub variant: String,
    /// Requests completed.
    pub completed: u64,
    /// Requests dropped.
    pub dropped: u64,
    /// Fraction of server time inside ONNX Runtime runs.
    pub utilization: f64,
    /// The scenario's queue bound (`None`: unbounded).
    pub queue_capacity: Option<u64>,
}

/// What a replay measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplaySummary {
    /// Scenario name.
    pub scenario: String,
    /// Speed factor.
    pub speed: f64,
    /// Intra-op threads per session.
    pub threads: usize,
    /// Stopped before the trace ended.
    pub partial: bool,
    /// Request counts.
    pub requests: Counts,
    /// Wall time from start to the last answer, s.
    pub duration_s: f64,
    /// Completed requests per second of `duration_s`.
    pub throughput_per_s: f64,
    /// Latency (answer back − intended release), ms.
    pub latency_ms: Dist,
    /// Queue delay (dispatch − enqueue), ms.
    pub queue_delay_ms: Dist,
    /// ONNX Runtime run time per batch, ms.
    pub batch_run_ms: Dist,
    /// Batches run.
    pub batches: u64,
    /// Mean requests per batch.
    pub mean_batch_size: f64,
    /// Release lateness (actual − intended), µs.
    pub lateness_us: Dist,
    /// Harness overhead per served request, µs (the sum of the three parts below).
    pub overhead_us: Dist,
    /// Release thread → scheduling thread, µs.
    pub handoff_release_us: Dist,
    /// Dispatch → ONNX Runtime run start (handing the batch to the worker, building the input), µs.
    pub handoff_dispatch_us: Dist,
    /// Run end → scheduling thread (output extraction, handing the answer back), µs.
    pub handoff_return_us: Dist,
    /// Accuracy over every model answer.
    pub accuracy: Option<f64>,
    /// Per variant.
    pub variants: Vec<VariantResult>,
    /// Per device.
    pub devices: Vec<DeviceResult>,
    /// Cache hits (fresh + stale) over lookups.
    pub cache_hit_ratio: Option<f64>,
    /// Whether the threads polled (see [`ReplayOptions::poll`]).
    pub polling: bool,
    /// The cascade, measured on the real models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cascade: Option<CascadeResult>,
    /// The measured accuracy again, under the name `simulate`'s summary gives answer quality,
    /// so the same gate rules (`quality`) compare replays: measured, not declared.
    pub quality: Option<f64>,
    /// dropped / arrived.
    pub drop_rate: f64,
    /// The scenario's latency objective, measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloResult>,
    /// Provisioned cost of the scenario's devices over the run.
    pub cost: CostResult,
}

/// A cascade on real models.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CascadeResult {
    /// Escalated / answered by the student.
    pub escalation_fraction: f64,
    /// Mean confidence of the student's answers.
    pub mean_student_confidence: f64,
    /// Requests the student's answer settled.
    pub kept: CascadePath,
    /// Requests that went on to the teacher (their final answer is the teacher's).
    pub escalated: CascadePath,
    /// How often the student's own answer was right on the requests it escalated: what the
    /// escalation saved.
    pub student_accuracy_on_escalated: Option<f64>,
}

/// One path through a cascade.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CascadePath {
    /// Completed requests.
    pub requests: u64,
    /// Accuracy of their final answers.
    pub accuracy: Option<f64>,
    /// Their latency, ms.
    pub latency_ms: Dist,
}

/// A latency objective, measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloResult {
    /// The objective, ms.
    pub latency_ms: f64,
    /// Requests answered within it over requests arrived.
    pub attainment: f64,
}

/// Cost over a replay, priced like `simulate` prices a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostResult {
    /// Σ over devices of the scenario's price, $/h.
    pub usd_per_hour: f64,
    /// usd_per_hour × duration, $.
    pub provisioned_usd: f64,
    /// provisioned / completed × 1000, $.
    pub usd_per_1000_requests: f64,
}

/// Records and summary of a replay.
#[derive(Clone, Debug)]
pub struct ReplayResult {
    /// One per request of the trace (in trace order).
    pub records: Vec<ReplayRecord>,
    /// Summary.
    pub summary: ReplaySummary,
}

enum Msg {
    Done(Done),
    Failed(ReplayError),
}

/// A worker's answer to a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    /// Device index.
    pub device: usize,
    /// Server (worker) of the device.
    pub server: u32,
    /// The batch's requests, by trace index.
    pub idxs: Vec<usize>,
    /// ONNX Runtime run start, ns.
    pub run_start: u64,
    /// ONNX Runtime run end, ns.
    pub run_end: u64,
    /// Each answer's predicted class.
    pub predictions: Vec<u32>,
    /// Each answer's top class probability.
    pub confidences: Vec<f32>,
}

struct Job {
    /// The replay's start (jobs only exist after it).
    t0: Instant,
    idxs: Vec<usize>,
    ids: Vec<u64>,
}

fn elapsed_ns(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

/// Batch sizes a device's sessions are warmed up with: powers of two up to its batcher's
/// maximum (capped at 256), and that maximum.
fn warm_sizes(max_batch: usize) -> Vec<usize> {
    let max = max_batch.clamp(1, 256);
    let mut v: Vec<usize> = std::iter::successors(Some(1usize), |b| Some(b * 2)).take_while(|&b| b < max).collect();
    v.push(max);
    v
}

/// Replays `requests` (sorted by arrival) through `plan` in real time.
pub fn replay(plan: &Plan, requests: &[Request], opts: &ReplayOptions) -> Result<ReplayResult, ReplayError> {
    if !(opts.speed > 0.0 && opts.speed.is_finite()) {
        return Err(ReplayError::Argument(format!("--speed must be a positive number, got {}", opts.speed)));
    }
    if requests.windows(2).any(|w| w[1].arrival < w[0].arrival) {
        return Err(ReplayError::Argument("the trace's arrivals must be sorted".into()));
    }
    let (tx, rx) = mpsc::channel::<Msg>();
    let split = Arc::new(plan.split.clone());

    // Workers: load and warm up every session before the clock starts.
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), ReplayError>>();
    let mut senders: Vec<Vec<Sender<Job>>> = Vec::new();
    let mut handles = Vec::new();
    let mut n_workers = 0;
    let poll = polling(opts.poll, plan.devices.iter().map(|d| d.servers as usize).sum());
    for (di, d) in plan.devices.iter().enumerate() {
        let sizes = warm_sizes(d.max_batch);
        let mut device_senders = Vec::new();
        for s in 0..d.servers {
            let (jtx, jrx) = mpsc::channel::<Job>();
            device_senders.push(jtx);
            let (file, split, tx, ready) = (plan.models[d.model].clone(), split.clone(), tx.clone(), ready_tx.clone());
            let (threads, warmup, sizes) = (opts.threads, opts.warmup, sizes.clone());
            handles.push(thread::spawn(move || {
                let model = OrtModel::load(&file, threads, Some(split.features))
                    .and_then(|mut m| m.warm_up(&split, &sizes, warmup).map(|()| m));
                match model {
                    Ok(m) => {
                        ready.send(Ok(())).ok();
                        drop(ready);
                        worker(m, di, s, &split, jrx, tx, poll);
                    }
                    Err(e) => {
                        ready.send(Err(e)).ok();
                    }
                }
            }));
            n_workers += 1;
        }
        senders.push(device_senders);
    }
    drop(ready_tx);
    for _ in 0..n_workers {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ReplayError::Harness("a worker died while loading its model".into())),
        }
    }

    let t0 = Instant::now();
    let intended: Vec<u64> =
        requests.iter().map(|r| (r.arrival.as_secs_f64() / opts.speed * 1e9).round() as u64).collect();
    let stop = opts.stop.clone().unwrap_or_default();
    drop(tx);

    let mut sched = Scheduler::new(&plan.config, &plan.resolved, plan.seed, requests, &intended, false);
    let mut next_release = 0usize;
    let mut failure: Option<ReplayError> = None;
    let mut batches: Vec<Dispatch> = Vec::new();

    loop {
        let releasing = next_release < requests.len() && !stop.load(Ordering::Relaxed);
        if !releasing && sched.quiescent() {
            break;
        }
        if failure.is_some() {
            // The failed worker's batch never comes back: stop at once (the others are joined).
            break;
        }
        let next_release_at = releasing.then(|| intended[next_release]);
        let deadline = match (sched.deadline().map(|t| t.0), next_release_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let msg = match deadline {
            Some(t) => {
                let now = elapsed_ns(t0);
                let left = t.saturating_sub(now);
                if left <= TIMER_SPIN_NS || poll {
                    // A timed wait wakes 50–100 µs late; the last stretch is polled (all of it
                    // when polling, in 50 ms slices so that a stop is noticed).
                    match spin_recv(&rx, t0, t.min(now + 50_000_000)) {
                        Ok(m) => m,
                        Err(()) => break,
                    }
                } else {
                    // In slices, so that a stop is noticed within 50 ms.
                    match rx.recv_timeout(Duration::from_nanos((left - TIMER_SPIN_NS).min(50_000_000))) {
                        Ok(m) => Some(m),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
            None if poll => match spin_recv(&rx, t0, elapsed_ns(t0) + 50_000_000) {
                Ok(m) => m,
                Err(()) => break,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
        };
        let now = SimTime(elapsed_ns(t0));
        // A worker's message first, then every release that is due, then due wake-ups.
        match msg {
            Some(Msg::Failed(e)) => {
                failure.get_or_insert(e);
            }
            Some(Msg::Done(done)) => sched.done(done, now, &mut batches),
            None => {}
        }
        while next_release < requests.len() && intended[next_release] <= now.0 && !stop.load(Ordering::Relaxed) {
            sched.release(next_release, now, &mut batches);
            next_release += 1;
        }
        sched.wake(now, &mut batches);
        for Dispatch { device, server, idxs } in batches.drain(..) {
            let ids = idxs.iter().map(|&i| requests[i].id).collect();
            senders[device][server as usize]
                .send(Job { t0, idxs, ids })
                .map_err(|_| ReplayError::Harness(format!("worker {server} of device {device} is gone")))?;
        }
    }
    senders.clear();
    for h in handles {
        h.join().map_err(|_| ReplayError::Harness("a worker thread panicked".into()))?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let mut outcome = sched.finish();
    let mut partial = false;
    for (rec, &released) in outcome.records.iter_mut().zip(&outcome.released) {
        if !released || (rec.finish.is_none() && !rec.dropped) {
            rec.dropped = true;
            partial = true;
        }
        // Scored against the test label of row id mod rows.
        if rec.finish.is_some() {
            rec.correct = rec.prediction.map(|p| plan.split.labels[plan.split.row_of(rec.id)] == p);
        }
    }
    let summary = summarize(plan, opts, &outcome, partial);
    Ok(ReplayResult { records: outcome.records, summary })
}

/// How close to a batcher's timer the scheduling thread stops blocking and polls, ns.
const TIMER_SPIN_NS: u64 = 150_000;

/// Polls `rx` until a message arrives (`Some`) or `deadline` passes (`None`); `Err` if every
/// sender is gone.
fn spin_recv(rx: &Receiver<Msg>, t0: Instant, deadline: u64) -> Result<Option<Msg>, ()> {
    loop {
        match rx.try_recv() {
            Ok(m) => return Ok(Some(m)),
            Err(mpsc::TryRecvError::Disconnected) => return Err(()),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if elapsed_ns(t0) >= deadline {
            return Ok(None);
        }
        std::hint::spin_loop();
    }
}

/// Runs the batches it is handed; `poll`: busy-waits for the next one instead of blocking.
fn worker(
    mut model: OrtModel,
    device: usize,
    server: u32,
    split: &TestSplit,
    jobs: Receiver<Job>,
    tx: Sender<Msg>,
    poll: bool,
) {
    let next = |jobs: &Receiver<Job>| -> Option<Job> {
        if poll {
            loop {
                match jobs.try_recv() {
                    Ok(j) => return Some(j),
                    Err(mpsc::TryRecvError::Disconnected) => return None,
                    Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
                }
            }
        }
        jobs.recv().ok()
    };
    while let Some(job) = next(&jobs) {
        let t0 = job.t0;
        let x = batch_input(split, &job.ids);
        let run_start = elapsed_ns(t0);
        match model.run(&x) {
            Ok(out) => {
                let predictions = out.argmax();
                let confidences = out.top_probability();
                let run_end = elapsed_ns(t0);
                let done = Done { device, server, idxs: job.idxs, run_start, run_end, predictions, confidences };
                if tx.send(Msg::Done(done)).is_err() {
                    return;
                }
            }
            Err(e) => {
                tx.send(Msg::Failed(e)).ok();
                return;
            }
        }
    }
}

/// Consecutive runs of one batch size in a calibration block, by default.
pub const CALIBRATION_BLOCK: usize = 50;

/// Batch times measured the way a replay runs batches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerTimes {
    /// Whether the worker and the caller polled.
    pub polling: bool,
    /// Per batch size, every run: hand-over to the worker → answer back on the calling thread,
    /// ms (how long a replay's server is busy with the batch).
    pub occupancy_ms: Vec<Vec<f64>>,
    /// Per batch size, every run: the ONNX Runtime run alone, ms.
    pub run_ms: Vec<Vec<f64>>,
}

/// Times batches through the replay's own worker path: each batch is handed over a channel to a
/// worker thread that owns `model`, built there from test rows (different rows every time, as in
/// a replay), run, and its answer sent back. Each size runs in blocks of `block` consecutive
/// batches (a server without batching runs one size back to back; `block` = 1 changes size every
/// run, as a batching server does) and the blocks of all sizes are interleaved round after round,
/// so slow drift spreads over every size and each round measures the machine's speed of its
/// moment ([`crate::profile::find_drift`]); `repeats` runs per size in all.
/// This is what `calibrate` measures, so that `simulate` models a server's busy time as a replay
/// sees it, thread hand-offs included; `poll` as in [`ReplayOptions::poll`] (one worker).
pub fn time_through_worker(
    model: OrtModel,
    split: &TestSplit,
    sizes: &[usize],
    repeats: usize,
    block: usize,
    poll: bool,
) -> Result<WorkerTimes, ReplayError> {
    let poll = polling(poll, 1);
    let (mut bench, handle) = WorkerBench::start(model, split, poll);
    let mut times = WorkerTimes {
        polling: poll,
        occupancy_ms: vec![Vec::with_capacity(repeats); sizes.len()],
        run_ms: vec![Vec::with_capacity(repeats); sizes.len()],
    };
    let mut left = vec![repeats; sizes.len()];
    while left.iter().any(|&l| l > 0) {
        for (i, &b) in sizes.iter().enumerate() {
            let block = left[i].min(block.max(1));
            left[i] -= block;
            for _ in 0..block {
                let (occupancy, run) = bench.round_trip(b)?;
                times.occupancy_ms[i].push(occupancy);
                times.run_ms[i].push(run);
            }
        }
    }
    bench.finish(handle)?;
    Ok(times)
}

/// The calibration's end of a worker: hands it batches one at a time and waits for each answer
/// the way the replay's scheduling thread does (polling or blocking).
struct WorkerBench {
    jtx: Sender<Job>,
    rx: Receiver<Msg>,
    t0: Instant,
    poll: bool,
    next_id: u64,
}

fn calibration_worker_gone() -> ReplayError {
    ReplayError::Harness("the calibration worker died".into())
}

impl WorkerBench {
    /// Starts a worker thread owning `model`.
    fn start(model: OrtModel, split: &TestSplit, poll: bool) -> (WorkerBench, thread::JoinHandle<()>) {
        let split = Arc::new(split.clone());
        let (tx, rx) = mpsc::channel::<Msg>();
        let (jtx, jrx) = mpsc::channel::<Job>();
        let handle = thread::spawn(move || worker(model, 0, 0, &split, jrx, tx, poll));
        (WorkerBench { jtx, rx, t0: Instant::now(), poll, next_id: 0 }, handle)
    }

    /// One batch of `b` fresh rows: (hand-over → answer back, the ONNX Runtime run alone), ms.
    fn round_trip(&mut self, b: usize) -> Result<(f64, f64), ReplayError> {
        let ids: Vec<u64> = (self.next_id..self.next_id + b as u64).collect();
        self.next_id += b as u64;
        let sent = elapsed_ns(self.t0);
        self.jtx.send(Job { t0: self.t0, idxs: (0..b).collect(), ids }).map_err(|_| calibration_worker_gone())?;
        let answer = if self.poll {
            loop {
                match self.rx.try_recv() {
                    Ok(m) => break Ok(m),
                    Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(mpsc::TryRecvError::Disconnected) => break Err(calibration_worker_gone()),
                }
            }
        } else {
            self.rx.recv().map_err(|_| calibration_worker_gone())
        };
        match answer? {
            Msg::Done(d) => {
                let back = elapsed_ns(self.t0);
                Ok(((back - sent) as f64 / 1e6, (d.run_end - d.run_start) as f64 / 1e6))
            }
            Msg::Failed(e) => Err(e),
        }
    }

    /// Leaves the worker idle for `gap_ns`, the way a replay's idle server waits: the calling
    /// thread spins when polling (as the scheduling thread does between releases), else sleeps.
    fn idle(&self, gap_ns: u64) {
        let until = elapsed_ns(self.t0) + gap_ns;
        if self.poll {
            while elapsed_ns(self.t0) < until {
                std::hint::spin_loop();
            }
        } else if gap_ns > 0 {
            thread::sleep(Duration::from_nanos(gap_ns));
        }
    }

    fn finish(self, handle: thread::JoinHandle<()>) -> Result<(), ReplayError> {
        drop(self.jtx);
        handle.join().map_err(|_| calibration_worker_gone())
    }
}

/// Busy times after controlled idle gaps, measured through the replay's worker path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GapTimes {
    /// Per gap, per batch size, per position in the burst after the gap, every run:
    /// hand-over → answer back, ms.
    pub occupancy_ms: Vec<Vec<Vec<Vec<f64>>>>,
}

/// Times bursts of `burst` back-to-back batches of each of `sizes` after each idle gap of
/// `gaps_ns`, `rounds` times: a round visits each size in turn and, for it, every gap in order
/// (one size at a time, as a server without batching runs: switching shapes between bursts cost
/// a few % more here), so the machine's slow drift spreads evenly over the gaps. How the first batch after a gap and the
/// ones after it differ from back-to-back runs is the cold-start behaviour of
/// [`sim::service::ColdSpec`].
pub fn time_after_gaps(
    model: OrtModel,
    split: &TestSplit,
    sizes: &[usize],
    gaps_ns: &[u64],
    burst: usize,
    rounds: usize,
    poll: bool,
) -> Result<GapTimes, ReplayError> {
    let (mut bench, handle) = WorkerBench::start(model, split, polling(poll, 1));
    let burst = burst.max(1);
    let mut times =
        GapTimes { occupancy_ms: vec![vec![vec![Vec::with_capacity(rounds); burst]; sizes.len()]; gaps_ns.len()] };
    for _ in 0..rounds {
        for (i, &b) in sizes.iter().enumerate() {
            for (g, &gap) in gaps_ns.iter().enumerate() {
                bench.idle(gap);
                for j in 0..burst {
                    times.occupancy_ms[g][i][j].push(bench.round_trip(b)?.0);
                }
            }
        }
    }
    bench.finish(handle)?;
    Ok(times)
}

fn summarize(plan: &Plan, opts: &ReplayOptions, outcome: &Outcome, partial: bool) -> ReplaySummary {
    let Outcome { records, released, devices, batch_runs, last_finish, lookups, hits } = outcome;
    let (last_finish, lookups, hits) = (*last_finish, *lookups, *hits);
    let arrived = released.iter().filter(|r| **r).count() as u64;
    let completed: Vec<&ReplayRecord> = records.iter().filter(|r| r.finish.is_some()).collect();
    let dropped = devices.iter().map(|d| d.dropped).sum::<u64>();
    let unfinished = records.iter().filter(|r| r.dropped).count() as u64 - dropped;
    let ms = |v: u64| v as f64 / 1e6;
    let lat: Vec<f64> = completed.iter().filter_map(|r| r.latency_ns()).map(ms).collect();
    let duration_s = last_finish as f64 / 1e9;
    let served: Vec<&&ReplayRecord> = completed.iter().filter(|r| r.batch_size > 0).collect();
    let answered: Vec<bool> = completed.iter().filter_map(|r| r.correct).collect();
    let accuracy = |v: &[bool]| (!v.is_empty()).then(|| v.iter().filter(|c| **c).count() as f64 / v.len() as f64);
    let variants = plan
        .models
        .iter()
        .enumerate()
        .map(|(mi, m)| {
            let mine: Vec<&&ReplayRecord> =
                served.iter().filter(|r| r.device.is_some_and(|d| plan.devices[d].model == mi)).copied().collect();
            let correct: Vec<bool> = mine.iter().filter_map(|r| r.correct).collect();
            VariantResult {
                name: m.name.clone(),
                model_id: m.id.clone(),
                served: mine.len() as u64,
                accuracy: accuracy(&correct),
                latency_ms: Dist::of(&mine.iter().filter_map(|r| r.latency_ns()).map(ms).collect::<Vec<_>>()),
            }
        })
        .collect();
    let horizon = last_finish.max(1) as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let usd_per_hour = plan.devices.iter().map(|d| d.cost_per_s * 3600.0).sum::<f64>();
    let provisioned_usd = usd_per_hour * duration_s / 3600.0;
    let overall_accuracy = accuracy(&answered);
    ReplaySummary {
        scenario: plan.scenario.clone(),
        speed: opts.speed,
        threads: opts.threads,
        partial,
        requests: Counts { arrived, completed: completed.len() as u64, dropped, unfinished },
        duration_s,
        throughput_per_s: if duration_s > 0.0 { completed.len() as f64 / duration_s } else { 0.0 },
        latency_ms: Dist::of(&lat),
        queue_delay_ms: Dist::of(
            &served.iter().filter_map(|r| r.dispatch.map(|d| ms(d.saturating_sub(r.enqueued)))).collect::<Vec<_>>(),
        ),
        batch_run_ms: Dist::of(batch_runs),
        batches: batch_runs.len() as u64,
        // Batch slots over batches (an escalated request was in two batches).
        mean_batch_size: if batch_runs.is_empty() {
            0.0
        } else {
            devices.iter().map(|d| d.completed).sum::<u64>() as f64 / batch_runs.len() as f64
        },
        lateness_us: Dist::of(
            &records
                .iter()
                .zip(released)
                .filter(|(_, r)| **r)
                .map(|(r, _)| r.lateness_ns() as f64 / 1e3)
                .collect::<Vec<_>>(),
        ),
        overhead_us: Dist::of(&served.iter().filter_map(|r| r.overhead_ns).map(|o| o as f64 / 1e3).collect::<Vec<_>>()),
        handoff_release_us: Dist::of(
            &served.iter().map(|r| r.enqueued.saturating_sub(r.arrival) as f64 / 1e3).collect::<Vec<_>>(),
        ),
        handoff_dispatch_us: Dist::of(
            &served.iter().filter_map(|r| Some(r.start?.saturating_sub(r.dispatch?) as f64 / 1e3)).collect::<Vec<_>>(),
        ),
        handoff_return_us: Dist::of(
            &served.iter().filter_map(|r| Some(r.returned?.saturating_sub(r.finish?) as f64 / 1e3)).collect::<Vec<_>>(),
        ),
        accuracy: overall_accuracy,
        variants,
        devices: plan
            .devices
            .iter()
            .zip(devices)
            .zip(&plan.resolved.devices)
            .map(|((p, d), r)| DeviceResult {
                name: p.name.clone(),
                variant: p.variant.clone(),
                completed: d.completed,
                dropped: d.dropped,
                utilization: d.busy_ns as f64 / (horizon * f64::from(p.servers)),
                queue_capacity: r.queue_capacity,
            })
            .collect(),
        cache_hit_ratio: (lookups > 0).then(|| hits as f64 / lookups as f64),
        polling: polling(opts.poll, plan.devices.iter().map(|d| d.servers as usize).sum()),
        cascade: plan.resolved.cascade.as_ref().map(|_| {
            let answered: Vec<&&ReplayRecord> = completed.iter().filter(|r| r.confidence.is_some()).collect();
            let path = |escalated: bool| {
                let mine: Vec<&&ReplayRecord> =
                    answered.iter().filter(|r| r.escalated_from.is_some() == escalated).copied().collect();
                CascadePath {
                    requests: mine.len() as u64,
                    accuracy: accuracy(&mine.iter().filter_map(|r| r.correct).collect::<Vec<_>>()),
                    latency_ms: Dist::of(&mine.iter().filter_map(|r| r.latency_ns()).map(ms).collect::<Vec<_>>()),
                }
            };
            let (kept, escalated) = (path(false), path(true));
            let student_right: Vec<bool> = answered
                .iter()
                .filter_map(|r| r.escalated_from.map(|p| plan.split.labels[plan.split.row_of(r.id)] == p))
                .collect();
            CascadeResult {
                escalation_fraction: ratio(escalated.requests as f64, (kept.requests + escalated.requests) as f64),
                mean_student_confidence: ratio(
                    answered.iter().filter_map(|r| r.confidence).map(f64::from).sum(),
                    answered.len() as f64,
                ),
                kept,
                escalated,
                student_accuracy_on_escalated: accuracy(&student_right),
            }
        }),
        quality: overall_accuracy,
        drop_rate: ratio(dropped as f64, arrived as f64),
        slo: plan.slo_ms.map(|slo| SloResult {
            latency_ms: slo,
            attainment: ratio(lat.iter().filter(|l| **l <= slo).count() as f64, arrived as f64),
        }),
        cost: CostResult {
            usd_per_hour,
            provisioned_usd,
            usd_per_1000_requests: ratio(provisioned_usd * 1000.0, completed.len() as f64),
        },
    }
}
