//! The discrete-event engine: one closed [`Event`] enum, matched in one place.
//!
//! Requests stream in from an iterator (a generator or a trace); only the next arrival is on the
//! calendar at any time, so memory is bounded by what is queued and in service.

use crate::analytic::{MD1, MG1, MMc, Prediction};
use crate::calendar::{Calendar, ScheduleError};
use crate::config::{RecordedService, RouterSpec, ScenarioConfig};
use crate::metrics::{Distribution, LatencyStats, TimeIntegral};
use crate::policy::{BatchDecision, Batcher, QueueView};
use crate::service::{ServiceSampler, ServiceSpec};
use serde::Serialize;
use std::collections::VecDeque;
use traces::rng::{StreamRng, stream};
use traces::{Request, SimTime};

/// Index of a device in the scenario's `devices` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DeviceId(pub u32);

/// Everything that happens in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The next request from the source arrives.
    Arrival,
    /// A server finishes its current batch.
    Departure {
        /// Where.
        device: DeviceId,
        /// Which server of the device.
        server: u32,
    },
    /// A batcher asked to be consulted again at this time.
    BatchTimer {
        /// Whose batcher.
        device: DeviceId,
    },
}

/// A run that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The request source went back in time (an unsorted trace).
    #[error(
        "request {id} arrives at {arrival}, before the previous arrival at {previous}: the trace is not sorted"
    )]
    Unsorted {
        /// Request id.
        id: u64,
        /// Its arrival.
        arrival: SimTime,
        /// The arrival before it.
        previous: SimTime,
    },
    /// An internal scheduling bug.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// How to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Run seed (service-time and routing streams derive from it).
    pub seed: u64,
    /// Keep one [`RequestRecord`] per request (memory grows with the run).
    pub record: bool,
    /// The requests come from a trace rather than the scenario's workload: no analytic model.
    pub trace_driven: bool,
}

/// What happened to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Request id.
    pub id: u64,
    /// Arrival time.
    pub arrival: SimTime,
    /// Service start (absent if dropped).
    pub start: Option<SimTime>,
    /// Completion (absent if dropped).
    pub finish: Option<SimTime>,
    /// Device it was routed to.
    pub device: DeviceId,
    /// Server that served it.
    pub server: Option<u32>,
    /// Size of the batch it was served in (0 if dropped).
    pub batch_size: u32,
    /// Dropped at admission (queue full).
    pub dropped: bool,
}

/// Request counts. Conservation: `arrived = completed + dropped` at the end of every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests served to completion.
    pub completed: u64,
    /// Requests refused at admission.
    pub dropped: u64,
}

/// Per-device results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceSummary {
    /// Device name.
    pub name: String,
    /// Servers.
    pub servers: u32,
    /// Busy server-time / (servers × horizon).
    pub utilization: f64,
    /// Time-average number waiting in the device's queue.
    pub mean_queue_length: f64,
    /// Largest queue length seen.
    pub peak_queue_length: u64,
    /// Requests routed to the device.
    pub counts: Counts,
    /// Batches the device ran.
    pub batches: BatchStats,
}

/// Batch-size distribution of a device (or of all devices).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BatchStats {
    /// Batches dispatched.
    pub count: u64,
    /// Requests in them / batches.
    pub mean_size: f64,
    /// Largest batch.
    pub max_size: u64,
    /// `[size, batches]` pairs for every size that occurred, ascending.
    pub histogram: Vec<[u64; 2]>,
}

impl BatchStats {
    fn from_counts(counts: &[u64]) -> BatchStats {
        let count: u64 = counts.iter().sum();
        let requests: u64 = counts.iter().enumerate().map(|(b, c)| b as u64 * c).sum();
        BatchStats {
            count,
            mean_size: if count > 0 {
                requests as f64 / count as f64
            } else {
                0.0
            },
            max_size: counts.iter().rposition(|&c| c > 0).unwrap_or(0) as u64,
            histogram: counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(b, c)| [b as u64, *c])
                .collect(),
        }
    }
}

/// Little's law L = λW checked on the run: L from the time integral, λ W from the requests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LittleCheck {
    /// Time-average number in system.
    pub l: f64,
    /// Admitted throughput (completed / horizon), 1/s.
    pub lambda_per_s: f64,
    /// Mean sojourn of completed requests, s.
    pub w_s: f64,
    /// (L − λW) / L.
    pub relative_residual: f64,
}

/// The summary of a run (`summary.json`). Metric definitions: `docs/metrics.md`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Run seed.
    pub seed: u64,
    /// Request counts.
    pub requests: Counts,
    /// Simulated time from 0 to the last event, s.
    pub horizon_s: f64,
    /// Arrivals / time of the last arrival, 1/s.
    pub offered_rate_per_s: f64,
    /// Completed / horizon, 1/s.
    pub throughput_per_s: f64,
    /// Dropped / arrived.
    pub drop_rate: f64,
    /// Sojourn time (finish − arrival) of completed requests, ms.
    pub latency_ms: Distribution,
    /// Queueing delay (start − arrival), ms.
    pub queue_delay_ms: Distribution,
    /// Service time (finish − start), ms.
    pub service_ms: Distribution,
    /// Busy server-time / (all servers × horizon).
    pub utilization: f64,
    /// Batches over all devices.
    pub batches: BatchStats,
    /// Time-average number waiting, all devices.
    pub mean_queue_length: f64,
    /// Time-average number in system (waiting + in service).
    pub mean_in_system: f64,
    /// Little's-law residual.
    pub little: LittleCheck,
    /// Per-device results.
    pub devices: Vec<DeviceSummary>,
    /// The closed-form prediction, when the scenario has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytic: Option<Prediction>,
}

/// A finished run.
pub struct RunResult {
    /// Aggregates.
    pub summary: Summary,
    /// Per-request records, if asked for.
    pub records: Option<Vec<RequestRecord>>,
}

#[derive(Clone, Copy)]
struct Job {
    id: u64,
    arrival: SimTime,
    recorded: Option<SimTime>,
}

/// A batch in service on one server.
struct InService {
    jobs: Vec<Job>,
    start: SimTime,
}

struct Device {
    queue: VecDeque<Job>,
    servers: Vec<InService>,
    /// Idle servers; the most recently freed is on top.
    idle: Vec<u32>,
    capacity: Option<u64>,
    sampler: ServiceSampler,
    rng: StreamRng,
    use_recorded: bool,
    batcher: Box<dyn Batcher>,
    /// The batcher's pending wake-up; a timer event at any other time is stale and ignored.
    timer: Option<SimTime>,
    queue_len: TimeIntegral,
    busy: TimeIntegral,
    counts: Counts,
    /// Batches by size (index = size).
    batch_sizes: Vec<u64>,
}

impl Device {
    fn view(&self) -> QueueView {
        QueueView {
            len: self.queue.len(),
            oldest: self.queue.front().map(|j| j.arrival),
            idle_servers: self.idle.len() as u32,
        }
    }
}

/// The closed-form model matching a scenario run on its own workload, if there is one:
/// one device, Poisson arrivals, unbounded FIFO queue, ρ < 1; exponential service gives M/M/c,
/// deterministic M/D/1, anything else with one server M/G/1.
pub fn predict(config: &ScenarioConfig) -> Option<Prediction> {
    let w = config.workload.as_ref()?;
    let [d] = config.devices.as_slice() else {
        return None;
    };
    if !w.arrivals.is_poisson() || d.queue_capacity.is_some() || !d.batching.is_none() {
        return None;
    }
    let lambda = w.mean_rate();
    let mean = d.service.mean_s();
    if lambda * mean >= f64::from(d.servers) {
        return None;
    }
    match (&d.service, d.servers) {
        (ServiceSpec::Exponential { .. }, c) => Some(
            MMc {
                lambda,
                mu: 1.0 / mean,
                c,
            }
            .predict(),
        ),
        (ServiceSpec::Deterministic { .. }, 1) => Some(MD1 { lambda, d: mean }.predict()),
        (s, 1) => Some(
            MG1 {
                lambda,
                mean_s: mean,
                second_moment_s2: s.second_moment_s2(),
            }
            .predict("M/G/1"),
        ),
        _ => None,
    }
}

/// Runs `config` on the requests from `source` (consumed to the end).
pub fn run(
    config: &ScenarioConfig,
    source: &mut dyn Iterator<Item = Request>,
    opts: RunOptions,
) -> Result<RunResult, SimError> {
    let mut devices: Vec<Device> = config
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let batcher = d.batching.build();
            let max_batch = batcher.max_batch();
            Device {
                queue: VecDeque::new(),
                servers: (0..d.servers)
                    .map(|_| InService {
                        jobs: Vec::with_capacity(max_batch),
                        start: SimTime::ZERO,
                    })
                    .collect(),
                idle: (0..d.servers).rev().collect(),
                capacity: d.queue_capacity,
                sampler: d.service.sampler(),
                rng: stream(opts.seed, &format!("service/{i}")),
                use_recorded: d.recorded_service == RecordedService::Prefer,
                batcher,
                timer: None,
                queue_len: TimeIntegral::default(),
                busy: TimeIntegral::default(),
                counts: Counts::default(),
                batch_sizes: vec![0; max_batch + 1],
            }
        })
        .collect();
    let mut router = Router::new(&config.router, devices.len());
    let mut cal: Calendar<Event> = Calendar::new();
    let mut latency = LatencyStats::default();
    let mut wait = LatencyStats::default();
    let mut service = LatencyStats::default();
    let mut in_system = TimeIntegral::default();
    let mut records = opts.record.then(Vec::new);
    let mut last_arrival = SimTime::ZERO;

    let mut next = source.next();
    if let Some(r) = &next {
        cal.schedule(r.arrival, Event::Arrival)?;
    }

    while let Some((now, event)) = cal.pop() {
        match event {
            Event::Arrival => {
                let r = next
                    .take()
                    .expect("an Arrival event always has its request");
                last_arrival = now;
                in_system.add(now, 1);
                let job = Job {
                    id: r.id,
                    arrival: r.arrival,
                    recorded: r.service,
                };
                let di = router.route();
                let dev = &mut devices[di];
                dev.counts.arrived += 1;
                if dev.idle.is_empty()
                    && dev
                        .capacity
                        .is_some_and(|cap| dev.queue.len() as u64 >= cap)
                {
                    dev.counts.dropped += 1;
                    in_system.add(now, -1);
                    if let Some(rec) = records.as_mut() {
                        rec.push(RequestRecord {
                            id: job.id,
                            arrival: job.arrival,
                            start: None,
                            finish: None,
                            device: DeviceId(di as u32),
                            server: None,
                            batch_size: 0,
                            dropped: true,
                        });
                    }
                } else {
                    dev.queue.push_back(job);
                    dev.queue_len.add(now, 1);
                    dispatch(&mut cal, dev, di, now, &mut wait)?;
                }
                next = source.next();
                if let Some(n) = &next {
                    if n.arrival < now {
                        return Err(SimError::Unsorted {
                            id: n.id,
                            arrival: n.arrival,
                            previous: now,
                        });
                    }
                    cal.schedule(n.arrival, Event::Arrival)?;
                }
            }
            Event::Departure { device, server } => {
                let di = device.0 as usize;
                let dev = &mut devices[di];
                let batch = &mut dev.servers[server as usize];
                let start = batch.start;
                let size = batch.jobs.len();
                dev.busy.add(now, -1);
                dev.counts.completed += size as u64;
                in_system.add(now, -(size as i64));
                for job in batch.jobs.drain(..) {
                    latency.record(now - job.arrival);
                    service.record(now - start);
                    if let Some(rec) = records.as_mut() {
                        rec.push(RequestRecord {
                            id: job.id,
                            arrival: job.arrival,
                            start: Some(start),
                            finish: Some(now),
                            device,
                            server: Some(server),
                            batch_size: size as u32,
                            dropped: false,
                        });
                    }
                }
                dev.batcher.batch_done(size, now - start);
                dev.idle.push(server);
                dispatch(&mut cal, dev, di, now, &mut wait)?;
            }
            Event::BatchTimer { device } => {
                let di = device.0 as usize;
                let dev = &mut devices[di];
                if dev.timer == Some(now) {
                    dev.timer = None;
                    dispatch(&mut cal, dev, di, now, &mut wait)?;
                }
            }
        }
    }

    let end = cal.now();
    let horizon = end.as_secs_f64();
    let per_s = |x: u64| {
        if horizon > 0.0 {
            x as f64 / horizon
        } else {
            0.0
        }
    };
    let mut total = Counts::default();
    let mut busy_area = 0.0;
    let mut queue_area = 0.0;
    let mut all_batches: Vec<u64> = Vec::new();
    let device_summaries: Vec<DeviceSummary> = devices
        .iter()
        .zip(&config.devices)
        .map(|(d, spec)| {
            total.arrived += d.counts.arrived;
            total.completed += d.counts.completed;
            total.dropped += d.counts.dropped;
            let busy = d.busy.mean_until(end);
            busy_area += busy;
            if all_batches.len() < d.batch_sizes.len() {
                all_batches.resize(d.batch_sizes.len(), 0);
            }
            for (b, c) in d.batch_sizes.iter().enumerate() {
                all_batches[b] += c;
            }
            queue_area += d.queue_len.mean_until(end);
            DeviceSummary {
                name: spec.name.clone(),
                servers: spec.servers,
                utilization: busy / f64::from(spec.servers),
                mean_queue_length: d.queue_len.mean_until(end),
                peak_queue_length: d.queue_len.peak(),
                batches: BatchStats::from_counts(&d.batch_sizes),
                counts: d.counts,
            }
        })
        .collect();
    let l = in_system.mean_until(end);
    let lambda = per_s(total.completed);
    let w = latency.mean_s();
    let summary = Summary {
        scenario: config.name.clone(),
        seed: opts.seed,
        requests: total,
        horizon_s: horizon,
        offered_rate_per_s: if last_arrival > SimTime::ZERO {
            total.arrived as f64 / last_arrival.as_secs_f64()
        } else {
            0.0
        },
        throughput_per_s: lambda,
        drop_rate: if total.arrived > 0 {
            total.dropped as f64 / total.arrived as f64
        } else {
            0.0
        },
        latency_ms: latency.summary_ms(),
        queue_delay_ms: wait.summary_ms(),
        service_ms: service.summary_ms(),
        utilization: busy_area / config.total_servers() as f64,
        batches: BatchStats::from_counts(&all_batches),
        mean_queue_length: queue_area,
        mean_in_system: l,
        little: LittleCheck {
            l,
            lambda_per_s: lambda,
            w_s: w,
            relative_residual: if l > 0.0 { (l - lambda * w) / l } else { 0.0 },
        },
        devices: device_summaries,
        analytic: if opts.trace_driven {
            None
        } else {
            predict(config)
        },
    };
    Ok(RunResult { summary, records })
}

/// Lets the device's batcher start batches on idle servers until it declines; arms its timer.
fn dispatch(
    cal: &mut Calendar<Event>,
    dev: &mut Device,
    di: usize,
    now: SimTime,
    wait: &mut LatencyStats,
) -> Result<(), SimError> {
    loop {
        if dev.queue.is_empty() || dev.idle.is_empty() {
            return Ok(());
        }
        match dev.batcher.decide(dev.view(), now) {
            BatchDecision::Dispatch(n) => {
                let n = n.clamp(1, dev.queue.len());
                let server = dev.idle.pop().expect("checked non-empty");
                let slot = &mut dev.servers[server as usize];
                slot.start = now;
                slot.jobs.extend(dev.queue.drain(..n));
                for job in &slot.jobs {
                    wait.record(now - job.arrival);
                }
                dev.queue_len.add(now, -(n as i64));
                let s = match slot.jobs[0].recorded {
                    Some(t) if n == 1 && dev.use_recorded => t,
                    _ => dev.sampler.sample(&mut dev.rng, n),
                };
                if let Some(c) = dev.batch_sizes.get_mut(n) {
                    *c += 1;
                }
                dev.busy.add(now, 1);
                cal.schedule(
                    now.saturating_add(s),
                    Event::Departure {
                        device: DeviceId(di as u32),
                        server,
                    },
                )?;
            }
            BatchDecision::WaitUntil(t) => {
                // One pending wake-up is enough unless the new one is earlier.
                if t > now && dev.timer.is_none_or(|pending| t < pending) {
                    dev.timer = Some(t);
                    cal.schedule(
                        t,
                        Event::BatchTimer {
                            device: DeviceId(di as u32),
                        },
                    )?;
                }
                return Ok(());
            }
            BatchDecision::Hold => return Ok(()),
        }
    }
}

/// Chooses a device for each arrival.
struct Router {
    n: usize,
    next: usize,
}

impl Router {
    fn new(spec: &RouterSpec, n: usize) -> Router {
        match spec {
            RouterSpec::RoundRobin => Router { n, next: 0 },
        }
    }

    #[inline]
    fn route(&mut self) -> usize {
        let d = self.next;
        self.next = (self.next + 1) % self.n;
        d
    }
}
