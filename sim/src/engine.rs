//! The discrete-event engine: one closed [`Event`] enum, matched in one place.
//!
//! Requests stream in from an iterator (a generator or a trace); only the next arrival is on the
//! calendar at any time, so memory is bounded by what is queued and in service. A request may
//! be answered by the response cache, or routed to a device replica whose batcher groups it with
//! others; in a cascade, a student's answer may escalate the request to a teacher.

use crate::analytic::{MD1, MG1, MG1Cold, MG1Stalls, MMc, Prediction};
use crate::calendar::Calendar;
use crate::config::{Escalation, RecordedService, Resolved, ScenarioConfig};
use crate::energy::{EnergyMeter, EnergySpec};
use crate::metrics::{LatencyStats, TimeIntegral};
use crate::service::{ColdSpec, ColdState, Drift, ServiceSampler, ServiceSpec, Stalls};
use crate::serving::{Admission, CacheCheck, Confidence, Decision, Serving, Stage, StationAction, Ticket, Waiting};
use serde::Serialize;
use std::collections::VecDeque;
use traces::rng::{StreamRng, stream};
use traces::{Request, SimTime};

mod pool;
mod summary;
pub use pool::{PoolStats, ReplicaState, ScalingEvent, TIMELINE_ROWS, TimelineRow};
pub use summary::*;

/// Index of a device replica in the resolved scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DeviceId(pub u32);

/// Everything that happens in a run, besides arrivals (which come from the request source, in
/// order, and are merged with the calendar by (time, sequence)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
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
    /// The oldest pending cache hit is delivered (hits all take the same time, so they
    /// complete in the order they were looked up; the engine keeps them in a FIFO).
    CacheHit,
    /// An autoscaled pool's periodic decision.
    Autoscale {
        /// Which pool.
        device: DeviceId,
    },
    /// A replica of an autoscaled pool finished its cold start.
    ReplicaReady {
        /// Which pool.
        device: DeviceId,
        /// Which replica.
        replica: u32,
        /// Which start of it (a cancelled start's event is ignored).
        epoch: u32,
    },
}

pub use crate::check::SimError;

/// How to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Run seed (service-time, routing, cascade streams derive from it).
    pub seed: u64,
    /// Keep one [`RequestRecord`] per request (memory grows with the run).
    pub record: bool,
    /// The requests come from a trace rather than the scenario's workload: no analytic model.
    pub trace_driven: bool,
}

/// How the response cache treated a request (decided by the serving core, recorded here).
pub use crate::serving::CacheOutcome;

/// What happened to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Request id.
    pub id: u64,
    /// Arrival time.
    pub arrival: SimTime,
    /// Start of its (last) service; absent for cache hits and drops.
    pub start: Option<SimTime>,
    /// Completion; absent if dropped.
    pub finish: Option<SimTime>,
    /// Device of its (last) service.
    pub device: Option<DeviceId>,
    /// Server of its (last) service.
    pub server: Option<u32>,
    /// Size of the batch of its (last) service (0 if none).
    pub batch_size: u32,
    /// Dropped at admission (queue full) or shed (waited past the deadline).
    pub dropped: bool,
    /// Cache outcome.
    pub cache: CacheOutcome,
    /// Escalated from student to teacher in a cascade.
    pub escalated: bool,
    /// Its class (`[[classes]]` index; 0 without classes).
    pub class: u16,
}

/// The closed-form model matching a scenario run on its own workload, if there is one:
/// one fixed device (not autoscaled), Poisson arrivals, unbounded FIFO queue, no batching, cache
/// or cascade, ρ < 1;
/// exponential service gives M/M/c, deterministic M/D/1, anything else with one server M/G/1;
/// one server with stalls M/G/1 with stalls, one whose cold starts wear off after one batch
/// M/G/1 with an exceptional first service (Welch).
pub fn predict(config: &ScenarioConfig) -> Option<Prediction> {
    let w = config.workload.as_ref()?;
    let [d] = config.devices.as_slice() else {
        return None;
    };
    let service = d.service.as_ref()?;
    if !w.arrivals.is_poisson()
        || d.count != 1
        || d.queue_capacity.is_some()
        || d.shed_after_ms.is_some()
        || !d.batching.is_none()
        || config.cache.is_some()
        || config.cascade.is_some()
        || d.drift.is_some()
        || d.autoscale.is_some()
        || !d.queue.is_fifo()
    {
        return None;
    }
    let lambda = w.mean_rate();
    let mean = service.mean_s();
    if let Some(st) = &d.stalls {
        if d.servers != 1 {
            return None;
        }
        let n = st.duration_ms.len() as f64;
        let q = MG1Stalls {
            base: MG1 { lambda, mean_s: mean, second_moment_s2: service.second_moment_s2() },
            rate: st.rate_per_s,
            stall_mean_s: st.mean_duration_s(),
            stall_second_moment_s2: st.duration_ms.iter().map(|d| (d / 1e3) * (d / 1e3)).sum::<f64>() / n,
            busy_only: st.busy_only,
        };
        return (q.completion().utilization() < 1.0 && d.cold.is_none()).then(|| q.predict());
    }
    if lambda * mean >= f64::from(d.servers) {
        return None;
    }
    if let Some(cold) = &d.cold {
        // Exact only when the slowdown is gone after one batch: then just the batch that starts
        // a busy period is slow (Welch's exceptional first service).
        if d.servers != 1 || cold.busy_tau_ms != 0.0 {
            return None;
        }
        let (f1, f2) = cold.factor_moments_exp_gap(lambda);
        let base = MG1 { lambda, mean_s: mean, second_moment_s2: service.second_moment_s2() };
        let q = MG1Cold { base, first_mean_s: base.mean_s * f1, first_second_moment_s2: base.second_moment_s2 * f2 };
        return (q.base.utilization() < 1.0).then(|| q.predict());
    }
    match (service, d.servers) {
        (ServiceSpec::Exponential { .. }, c) => Some(MMc { lambda, mu: 1.0 / mean, c }.predict()),
        (ServiceSpec::Deterministic { .. }, 1) => Some(MD1 { lambda, d: mean }.predict()),
        (s, 1) => Some(MG1 { lambda, mean_s: mean, second_moment_s2: s.second_moment_s2() }.predict("M/G/1")),
        _ => None,
    }
}

/// The classes of a generated workload's requests, drawn in arrival order from the classes'
/// shares on the run's `classes` stream (the engine draws them; a replay of the same generated
/// workload assigns the same ones with this).
pub struct ClassDraw {
    rng: StreamRng,
    cumulative: Vec<f64>,
}

impl ClassDraw {
    /// The draw of `config`'s classes with `seed`; none when they have no shares.
    pub fn new(config: &ScenarioConfig, seed: u64) -> Option<ClassDraw> {
        if config.classes.is_empty() || config.classes.iter().any(|c| c.share.is_none()) {
            return None;
        }
        let cumulative = config
            .classes
            .iter()
            .scan(0.0, |acc, c| {
                *acc += c.share.unwrap_or(0.0);
                Some(*acc)
            })
            .collect();
        Some(ClassDraw { rng: stream(seed, "classes"), cumulative })
    }

    /// The next request's class.
    pub fn draw(&mut self) -> u16 {
        let u: f64 = rand::RngExt::random(&mut self.rng);
        self.cumulative.iter().position(|&c| u < c).unwrap_or(self.cumulative.len() - 1) as u16
    }
}

/// A request inside the system. Kept small: it is copied through queues and batches.
#[derive(Clone, Copy)]
struct Job {
    id: u64,
    arrival: SimTime,
    /// Recorded service time, ns; `NONE`: none.
    recorded: u64,
    /// Cache key, meaningful when `has_key`.
    key: u64,
    /// Student confidence (confidence cascades), else 1.
    confidence: f32,
    /// Cost of the service it has received so far, $.
    cost: f32,
    stage: Stage,
    cache: CacheOutcome,
    has_key: bool,
    /// Its class (`[[classes]]` index; 0 without classes).
    class: u16,
}

impl Job {
    const NONE: u64 = u64::MAX;

    fn recorded(&self) -> Option<SimTime> {
        (self.recorded != Self::NONE).then_some(SimTime(self.recorded))
    }

    fn key(&self) -> Option<u64> {
        self.has_key.then_some(self.key)
    }
}

impl Ticket for Job {
    fn request_id(&self) -> u64 {
        self.id
    }

    fn class(&self) -> usize {
        usize::from(self.class)
    }
}

/// A cache hit on its way back.
#[derive(Clone, Copy)]
struct PendingHit {
    id: u64,
    arrival: SimTime,
    /// Quality of the cached answer (NaN: unknown).
    quality: f32,
    stale: bool,
    class: u16,
}

/// A batch in service on one server.
struct InService {
    jobs: Vec<Waiting<Job>>,
    start: SimTime,
    /// Its cold-start state (used with a [`ColdSpec`]).
    cold: ColdState,
}

/// What the engine keeps of a device replica beside its [`crate::serving::Station`].
struct Device {
    servers: Vec<InService>,
    sampler: ServiceSampler,
    rng: StreamRng,
    use_recorded: bool,
    /// Per server: its stalls and their stream (empty: no stalls).
    stalls: Vec<(Stalls, StreamRng)>,
    drift: Option<Drift>,
    cold: Option<ColdSpec>,
    cost_per_s: f64,
    variant: Option<usize>,
    stats: DeviceStats,
    /// Power of one replica (none: no energy counted).
    power: Option<crate::energy::PowerSpec>,
    /// Servers per replica.
    per: u32,
    /// Per replica: busy servers, and whether it is on (drawing power).
    busy_r: Vec<u32>,
    on_r: Vec<bool>,
    /// Current power, W, and its integral.
    watts: f64,
    meter: EnergyMeter,
    /// The autoscaler's side, for an autoscaled group.
    pool: Option<Box<pool::Pool>>,
}

impl Device {
    /// Power of replica `r` as it is now.
    fn replica_watts(&self, r: usize) -> f64 {
        match &self.power {
            Some(p) if self.on_r[r] => p.watts(f64::from(self.busy_r[r]), f64::from(self.per)),
            _ => 0.0,
        }
    }

    /// Applies `change` to replica `r` and moves the power meter at `now`.
    #[inline]
    fn repower(&mut self, r: usize, now: SimTime, energy: &EnergySpec, change: impl FnOnce(&mut Device)) {
        if self.power.is_none() {
            change(self);
            return;
        }
        let before = self.replica_watts(r);
        change(self);
        self.watts += self.replica_watts(r) - before;
        self.meter.set(now, self.watts, energy);
    }
}

/// Per-device accumulators.
#[derive(Default)]
struct DeviceStats {
    queue_len: TimeIntegral,
    busy: TimeIntegral,
    counts: Counts,
    shed: u64,
    /// Batches by size (index = size).
    batch_sizes: Vec<u64>,
    /// Time from joining this device's queue to leaving it served.
    latency: LatencyStats,
}

/// Everything the run accumulates beyond the devices.
#[derive(Default)]
struct Totals {
    arrived: u64,
    completed: u64,
    dropped: u64,
    shed: u64,
    latency: LatencyStats,
    wait: LatencyStats,
    service: LatencyStats,
    in_system: TimeIntegral,
    last_arrival: SimTime,
    cache: CacheCounts,
    slo_met: u64,
    quality_sum: f64,
    quality_n: u64,
    by_variant: Vec<VariantAcc>,
    student_path: PathAcc,
    teacher_path: PathAcc,
    escalation_checks: u64,
    /// Per request class (empty without `[[classes]]`).
    classes: Vec<ClassAcc>,
}

/// What a request class accumulates.
#[derive(Default)]
struct ClassAcc {
    arrived: u64,
    completed: u64,
    dropped: u64,
    slo_met: u64,
    latency: LatencyStats,
    cost: f64,
    /// Its latency target.
    slo: Option<SimTime>,
}

#[derive(Default)]
struct VariantAcc {
    served: u64,
    answered: u64,
}

#[derive(Default)]
struct PathAcc {
    latency: LatencyStats,
    cost: f64,
    quality: f64,
}

/// The engine's state. Lives for one run.
struct Engine<'a> {
    resolved: &'a Resolved,
    cal: Calendar<Event>,
    /// Admission, queues, batchers and routing: the serving core the replay harness also runs.
    core: Serving<Job>,
    devices: Vec<Device>,
    pending_hits: VecDeque<PendingHit>,
    /// Whether per-device latency needs its own histograms (else it equals the overall one).
    track_device_latency: bool,
    /// Confidence is drawn from a Beta model (a `confidence` cascade).
    modelled_confidence: bool,
    /// Mean student confidence (scales confidence into the probability of a right answer).
    mean_confidence: f64,
    slo: Option<SimTime>,
    records: Option<Vec<RequestRecord>>,
    /// A spare batch buffer (see `depart`).
    scratch: Vec<Waiting<Job>>,
    /// The buffer the next batch is formed in (swapped into its server's slot).
    batch: Vec<Waiting<Job>>,
    t: Totals,
    /// PUE and carbon intensity.
    energy: EnergySpec,
    /// Every replica state change of the autoscaled pools (kept with `record`).
    scaling: Option<Vec<ScalingEvent>>,
    /// The request source is exhausted (pools stop ticking once the system is empty).
    arrivals_done: bool,
    /// The end of the run: the last event that changed anything (an autoscaler's decision that
    /// changed no replica does not extend the run).
    last: SimTime,
    /// Draws the class of a generated request, when the classes have shares.
    class_draw: Option<ClassDraw>,
}

/// Runs `config` on the requests from `source` (consumed to the end).
pub fn run(
    config: &ScenarioConfig,
    source: &mut dyn Iterator<Item = Request>,
    opts: RunOptions,
) -> Result<RunResult, SimError> {
    run_inner(config, source, opts, false).map(|(r, _)| r)
}

/// [`run`], also returning every decision of the serving core in the order it was taken (for
/// comparing drivers: `replay/tests/differential.rs`).
pub fn run_logged(
    config: &ScenarioConfig,
    source: &mut dyn Iterator<Item = Request>,
    opts: RunOptions,
) -> Result<(RunResult, Vec<Decision>), SimError> {
    run_inner(config, source, opts, true)
}

fn run_inner(
    config: &ScenarioConfig,
    source: &mut dyn Iterator<Item = Request>,
    opts: RunOptions,
    log: bool,
) -> Result<(RunResult, Vec<Decision>), SimError> {
    let resolved = config.resolve()?;
    let mut engine = Engine::new(config, &resolved, opts, log);
    // Shared pools: the first group of each leads (decides for all); the others follow.
    let mut leaders: Vec<(Option<String>, usize)> = Vec::new();
    for di in 0..engine.devices.len() {
        let Some(a) = resolved.devices[di].autoscale.as_ref() else {
            continue;
        };
        let name = a.spec.pool.clone();
        let lead = name.as_ref().and_then(|n| leaders.iter().find(|(m, _)| m.as_ref() == Some(n)).map(|(_, l)| *l));
        match lead {
            Some(l) => engine.devices[l].pool.as_mut().expect("a pool").peers.push(di),
            None => {
                engine.devices[di].pool.as_mut().expect("a pool").peers.push(di);
                leaders.push((name, di));
            }
        }
    }
    for di in 0..engine.devices.len() {
        if let Some(p) = &engine.devices[di].pool
            && !p.instant
            && !p.peers.is_empty()
        {
            let at = p.interval();
            engine.cal.schedule(at, Event::Autoscale { device: DeviceId(di as u32) })?;
        }
    }
    // The next arrival waits beside the calendar rather than in it, with the sequence number it
    // would have had there: the same order as a heap entry, one push and pop fewer per request.
    let mut pending = source.next().map(|r| (r.arrival, engine.cal.next_seq(), r));
    loop {
        let arrival_first = match (&pending, engine.cal.peek_key()) {
            (Some((t, seq, _)), Some(top)) => (*t, *seq) < top,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if arrival_first {
            let (now, _, r) = pending.take().expect("checked");
            engine.cal.advance(now)?;
            engine.arrive(r, now)?;
            engine.last = now;
            // Sequenced after whatever the arrival scheduled, as if scheduled at this point.
            pending = source.next().map(|n| (n.arrival, engine.cal.next_seq(), n));
            engine.arrivals_done = pending.is_none();
            if let Some((t, _, n)) = &pending
                && *t < now
            {
                return Err(SimError::Unsorted { id: n.id, arrival: *t, previous: now });
            }
            continue;
        }
        let (now, event) = engine.cal.pop().expect("checked");
        if !matches!(event, Event::Autoscale { .. }) {
            engine.last = now;
        }
        match event {
            Event::Departure { device, server } => engine.depart(device.0 as usize, server, now)?,
            Event::BatchTimer { device } => {
                let di = device.0 as usize;
                if engine.core.stations[di].timer_due(now) {
                    engine.dispatch(di, now)?;
                }
            }
            Event::CacheHit => {
                let hit = engine.pending_hits.pop_front().expect("a CacheHit event has its pending hit");
                engine.cache_hit_done(hit, now);
            }
            Event::Autoscale { device } => engine.pool_tick(device.0 as usize, now)?,
            Event::ReplicaReady { device, replica, epoch } => {
                engine.replica_event(device.0 as usize, replica as usize, epoch, now)?;
            }
        }
    }
    let summary = engine.summarize(config, opts);
    let decisions = engine.core.take_decisions();
    let mut timeline: Vec<TimelineRow> = Vec::new();
    for d in &mut engine.devices {
        if let Some(p) = d.pool.as_mut() {
            timeline.extend(std::mem::take(&mut p.timeline).finish());
        }
    }
    let scaling = engine.scaling.take().unwrap_or_default();
    Ok((RunResult { summary, records: engine.records, timeline, scaling }, decisions))
}

impl<'a> Engine<'a> {
    fn new(config: &ScenarioConfig, resolved: &'a Resolved, opts: RunOptions, log: bool) -> Engine<'a> {
        let core: Serving<Job> = Serving::new(config, resolved, opts.seed, Confidence::Modelled, log);
        let devices: Vec<Device> = resolved
            .devices
            .iter()
            .zip(&core.stations)
            .enumerate()
            .map(|(i, (d, station))| {
                let max_batch = station.max_batch();
                Device {
                    servers: (0..d.servers)
                        .map(|_| InService {
                            jobs: Vec::with_capacity(max_batch.min(1024)),
                            start: SimTime::ZERO,
                            cold: ColdState::default(),
                        })
                        .collect(),
                    sampler: d.service.sampler(),
                    rng: stream(opts.seed, &format!("service/{i}")),
                    use_recorded: d.recorded_service == RecordedService::Prefer,
                    stalls: d
                        .stalls
                        .iter()
                        .flat_map(|spec| {
                            (0..d.servers).map(move |k| {
                                let mut rng = stream(opts.seed, &format!("stalls/{i}/{k}"));
                                (Stalls::new(spec, &mut rng), rng)
                            })
                        })
                        .collect(),
                    drift: d.drift.as_ref().map(|spec| Drift::new(spec, stream(opts.seed, &format!("drift/{i}")))),
                    cold: d.cold.clone(),
                    cost_per_s: d.cost_per_s,
                    variant: d.variant,
                    // Grown on demand: a batcher's maximum may be far above the batches it forms.
                    stats: DeviceStats { batch_sizes: vec![0; max_batch.min(1024) + 1], ..DeviceStats::default() },
                    power: d.power.clone(),
                    per: d.servers_per_replica(),
                    busy_r: vec![0; (d.servers / d.servers_per_replica()) as usize],
                    on_r: vec![true; (d.servers / d.servers_per_replica()) as usize],
                    watts: 0.0,
                    meter: EnergyMeter::default(),
                    pool: d.autoscale.as_ref().map(|a| Box::new(pool::Pool::new(a))),
                }
            })
            .collect();
        let (modelled_confidence, mean_confidence) = match resolved.cascade.as_ref().map(|c| &c.escalate) {
            Some(Escalation::Confidence { beta_a, beta_b, .. }) => (true, beta_a / (beta_a + beta_b)),
            _ => (false, 1.0),
        };
        let energy = config.energy.clone().unwrap_or_default();
        let mut core = core;
        let mut devices = devices;
        for (di, dev) in devices.iter_mut().enumerate() {
            if let Some(pool) = &dev.pool {
                // Replicas not ready at time 0 are off: parked, no power.
                for (r, state) in pool.states.iter().enumerate() {
                    if *state == pool::Replica::Off {
                        core.stations[di].park(r as u32 * dev.per..(r as u32 + 1) * dev.per);
                        dev.on_r[r] = false;
                    }
                }
                core.set_servers(di, pool.ready_count() * dev.per);
            }
            dev.watts = (0..dev.on_r.len()).map(|r| dev.replica_watts(r)).sum();
            dev.meter.set(SimTime::ZERO, dev.watts, &energy);
        }
        Engine {
            resolved,
            cal: Calendar::new(),
            core,
            energy,
            scaling: opts.record.then(Vec::new),
            arrivals_done: false,
            last: SimTime::ZERO,
            class_draw: if opts.trace_driven { None } else { ClassDraw::new(config, opts.seed) },
            pending_hits: VecDeque::new(),
            track_device_latency: devices.len() > 1 || config.cache.is_some() || resolved.cascade.is_some(),
            modelled_confidence,
            mean_confidence,
            slo: config.slo.as_ref().and_then(|s| SimTime::from_millis_f64(s.latency_ms)),
            records: opts.record.then(Vec::new),
            scratch: Vec::new(),
            batch: Vec::new(),
            t: Totals {
                by_variant: (0..resolved.variants.len()).map(|_| VariantAcc::default()).collect(),
                classes: config
                    .classes
                    .iter()
                    .map(|c| ClassAcc {
                        slo: c.slo_ms.or(config.slo.as_ref().map(|s| s.latency_ms)).and_then(SimTime::from_millis_f64),
                        ..ClassAcc::default()
                    })
                    .collect(),
                ..Totals::default()
            },
            devices,
        }
    }

    fn arrive(&mut self, r: Request, now: SimTime) -> Result<(), SimError> {
        self.t.arrived += 1;
        self.t.last_arrival = now;
        self.t.in_system.add(now, 1);
        let class = self.class_of(&r)?;
        let outcome = match self.core.lookup(r.id, r.cache_key, now) {
            CacheCheck::Answered { outcome, done, payload } => {
                let c = &mut self.t.cache;
                c.lookups += 1;
                let stale = outcome == CacheOutcome::StaleHit;
                if stale {
                    c.stale_hits += 1;
                } else {
                    c.hits += 1;
                }
                self.pending_hits.push_back(PendingHit { id: r.id, arrival: now, quality: payload, stale, class });
                self.cal.schedule(done, Event::CacheHit)?;
                return Ok(());
            }
            CacheCheck::Forward(outcome) => {
                let c = &mut self.t.cache;
                match outcome {
                    CacheOutcome::StaleMiss => {
                        c.lookups += 1;
                        c.stale_misses += 1;
                    }
                    CacheOutcome::Miss => {
                        c.lookups += 1;
                        c.misses += 1;
                    }
                    _ => {}
                }
                outcome
            }
        };
        let (stage, confidence) = self.core.entry_stage();
        let job = Job {
            id: r.id,
            arrival: r.arrival,
            recorded: r.service.map_or(Job::NONE, SimTime::as_nanos),
            key: r.cache_key.unwrap_or(0),
            confidence: confidence as f32,
            cost: 0.0,
            stage,
            cache: outcome,
            has_key: r.cache_key.is_some(),
            class,
        };
        self.admit(job, now)
    }

    /// The class of an arriving request: drawn from the classes' shares for a generated
    /// workload, else the request's own (which must name one of the scenario's classes).
    fn class_of(&mut self, r: &Request) -> Result<u16, SimError> {
        if self.t.classes.is_empty() {
            return Ok(0);
        }
        let class = match self.class_draw.as_mut() {
            Some(d) => d.draw(),
            None => r.class.0,
        };
        let Some(acc) = self.t.classes.get_mut(usize::from(class)) else {
            return Err(SimError::Config(crate::config::ConfigError::invalid(
                "classes",
                format!(
                    "request {} is of class {class}, but the scenario lists {} classes",
                    r.id,
                    self.t.classes.len()
                ),
            )));
        };
        acc.arrived += 1;
        Ok(class)
    }

    /// A request of `class` finished with `latency`, having cost `cost`.
    fn class_done(&mut self, class: u16, latency: SimTime, cost: f64) {
        if let Some(acc) = self.t.classes.get_mut(usize::from(class)) {
            acc.completed += 1;
            acc.latency.record(latency);
            acc.cost += cost;
            if acc.slo.is_some_and(|s| latency <= s) {
                acc.slo_met += 1;
            }
        }
    }

    /// Routes `job` to a device of its stage and queues it there (or drops it).
    fn admit(&mut self, job: Job, now: SimTime) -> Result<(), SimError> {
        match self.core.admit(job, job.stage, now) {
            Admission::Queued(di) => {
                let stats = &mut self.devices[di].stats;
                stats.counts.arrived += 1;
                stats.queue_len.add(now, 1);
                self.pool_arrival(di, now)?;
                self.dispatch(di, now)
            }
            Admission::Dropped(di, job) => {
                let stats = &mut self.devices[di].stats;
                stats.counts.arrived += 1;
                stats.counts.dropped += 1;
                self.drop_job(job, Some(di), now);
                Ok(())
            }
        }
    }

    fn drop_job(&mut self, job: Job, device: Option<usize>, now: SimTime) {
        self.t.dropped += 1;
        if let Some(acc) = self.t.classes.get_mut(usize::from(job.class)) {
            acc.dropped += 1;
        }
        self.t.in_system.add(now, -1);
        if let Some(rec) = self.records.as_mut() {
            rec.push(RequestRecord {
                id: job.id,
                arrival: job.arrival,
                start: None,
                finish: None,
                device: device.map(|d| DeviceId(d as u32)),
                server: None,
                batch_size: 0,
                dropped: true,
                cache: job.cache,
                escalated: job.stage == Stage::Teacher,
                class: job.class,
            });
        }
    }

    /// Lets the device's station shed and start batches on idle servers until it stops; arms
    /// its timer.
    fn dispatch(&mut self, di: usize, now: SimTime) -> Result<(), SimError> {
        loop {
            match self.core.next(di, now, &mut self.batch) {
                StationAction::Shed => {
                    let w = self.batch.pop().expect("the shed request");
                    let stats = &mut self.devices[di].stats;
                    stats.queue_len.add(now, -1);
                    stats.counts.dropped += 1;
                    stats.shed += 1;
                    self.t.shed += 1;
                    self.drop_job(w.item, Some(di), now);
                    if self.devices[di].pool.is_some() {
                        self.pool_departure(di, 1, now)?;
                    }
                }
                StationAction::Start { server, idle_gap } => {
                    let dev = &mut self.devices[di];
                    let slot = &mut dev.servers[server as usize];
                    slot.start = now;
                    std::mem::swap(&mut slot.jobs, &mut self.batch);
                    let n = slot.jobs.len();
                    for w in &slot.jobs {
                        self.t.wait.record(now - w.enqueued);
                    }
                    dev.stats.queue_len.add(now, -(n as i64));
                    let s = match slot.jobs[0].item.recorded() {
                        Some(t) if n == 1 && dev.use_recorded => t,
                        _ => {
                            let mut s = dev.sampler.sample(&mut dev.rng, n);
                            if let Some(cold) = &dev.cold {
                                // The server's idle time before this batch sets its cold start.
                                s = slot.cold.serve(cold, idle_gap, s);
                            }
                            dev.drift.as_mut().map_or(s, |d| d.apply(now, s))
                        }
                    };
                    if n >= dev.stats.batch_sizes.len() {
                        dev.stats.batch_sizes.resize(n + 1, 0);
                    }
                    dev.stats.batch_sizes[n] += 1;
                    dev.stats.busy.add(now, 1);
                    let r = (server / dev.per) as usize;
                    dev.repower(r, now, &self.energy, |d| d.busy_r[r] += 1);
                    let done = match dev.stalls.get_mut(server as usize) {
                        Some((stalls, rng)) => stalls.finish(now, s, rng),
                        None => now.saturating_add(s),
                    };
                    self.cal.schedule(done, Event::Departure { device: DeviceId(di as u32), server })?;
                }
                StationAction::Arm(t) => {
                    self.cal.schedule(t, Event::BatchTimer { device: DeviceId(di as u32) })?;
                    return Ok(());
                }
                StationAction::Idle => return Ok(()),
            }
        }
    }

    fn depart(&mut self, di: usize, server: u32, now: SimTime) -> Result<(), SimError> {
        let dev = &mut self.devices[di];
        let slot = &mut dev.servers[server as usize];
        let start = slot.start;
        let size = slot.jobs.len();
        // Swap the batch out for the (empty) scratch buffer: the server is free for a new batch at
        // once, even one started while these jobs are still being finished.
        let mut jobs = std::mem::take(&mut self.scratch);
        std::mem::swap(&mut jobs, &mut slot.jobs);
        dev.stats.busy.add(now, -1);
        let r = (server / dev.per) as usize;
        dev.repower(r, now, &self.energy, |d| d.busy_r[r] -= 1);
        let dev = &mut self.devices[di];
        dev.stats.counts.completed += size as u64;
        let service = now - start;
        let cost_each = (dev.cost_per_s * service.as_secs_f64() / size as f64) as f32;
        let variant = dev.variant;
        self.core.stations[di].complete(server, size, service, now);
        self.t.service.record_n(service, size as u64);
        let pooled = self.devices[di].pool.is_some();
        if pooled {
            self.pool_server_done(di, server, now);
            for w in &jobs {
                self.pool_finished(di, now - w.item.arrival);
            }
        }
        for w in &mut jobs {
            let job = &mut w.item;
            job.cost += cost_each;
            if self.track_device_latency {
                self.devices[di].stats.latency.record(now - w.enqueued);
            }
            if let Some(v) = variant {
                self.t.by_variant[v].served += 1;
            }
            if job.stage == Stage::Student && self.escalates(job, now) {
                job.stage = Stage::Teacher;
                self.admit(*job, now)?;
                continue;
            }
            self.finish(job, variant, Some((di, server, start, size)), now);
        }
        jobs.clear();
        self.scratch = jobs;
        if pooled {
            self.pool_departure(di, size as u64, now)?;
        }
        self.dispatch(di, now)
    }

    fn escalates(&mut self, job: &Job, now: SimTime) -> bool {
        if self.resolved.cascade.is_none() {
            return false;
        }
        self.t.escalation_checks += 1;
        self.core.escalates(job.id, f64::from(job.confidence), now)
    }

    /// Quality of `variant`'s answer to `job`.
    fn answer_quality(&self, job: &Job, variant: Option<usize>) -> Option<f64> {
        let v = &self.resolved.variants[variant?];
        Some(if job.stage == Stage::Student && self.modelled_confidence {
            (v.quality * f64::from(job.confidence) / self.mean_confidence).min(1.0)
        } else {
            v.quality
        })
    }

    fn finish(
        &mut self,
        job: &Job,
        variant: Option<usize>,
        served: Option<(usize, u32, SimTime, usize)>,
        now: SimTime,
    ) {
        let latency = now - job.arrival;
        self.t.completed += 1;
        self.t.in_system.add(now, -1);
        self.t.latency.record(latency);
        self.class_done(job.class, latency, f64::from(job.cost));
        if self.slo.is_some_and(|slo| latency <= slo) {
            self.t.slo_met += 1;
        }
        let quality = self.answer_quality(job, variant);
        if let Some(q) = quality {
            self.t.quality_sum += q;
            self.t.quality_n += 1;
            if let Some(v) = variant {
                self.t.by_variant[v].answered += 1;
            }
        }
        if let (Some(key), Some(cache)) = (job.key(), self.core.front.cache()) {
            // The cached response remembers how good it is (NaN: unknown).
            cache.insert_payload(key, now, quality.map_or(f32::NAN, |q| q as f32));
        }
        if self.resolved.cascade.is_some() {
            let path = if job.stage == Stage::Teacher { &mut self.t.teacher_path } else { &mut self.t.student_path };
            path.latency.record(latency);
            path.cost += f64::from(job.cost);
            path.quality += quality.unwrap_or(0.0);
        }
        if let Some(rec) = self.records.as_mut() {
            let (device, server, start, size) = match served {
                Some((d, s, st, n)) => (Some(DeviceId(d as u32)), Some(s), Some(st), n as u32),
                None => (None, None, None, 0),
            };
            rec.push(RequestRecord {
                id: job.id,
                arrival: job.arrival,
                start,
                finish: Some(now),
                device,
                server,
                batch_size: size,
                dropped: false,
                cache: job.cache,
                escalated: job.stage == Stage::Teacher,
                class: job.class,
            });
        }
    }

    fn cache_hit_done(&mut self, hit: PendingHit, now: SimTime) {
        let PendingHit { id, arrival, quality, stale, class } = hit;
        let latency = now - arrival;
        self.t.completed += 1;
        self.t.in_system.add(now, -1);
        self.t.latency.record(latency);
        self.class_done(class, latency, 0.0);
        if self.slo.is_some_and(|slo| latency <= slo) {
            self.t.slo_met += 1;
        }
        // A cached response is as good as the answer that filled it.
        if !quality.is_nan() {
            self.t.quality_sum += f64::from(quality);
            self.t.quality_n += 1;
        }
        if let Some(rec) = self.records.as_mut() {
            rec.push(RequestRecord {
                id,
                arrival,
                start: None,
                finish: Some(now),
                device: None,
                server: None,
                batch_size: 0,
                dropped: false,
                cache: if stale { CacheOutcome::StaleHit } else { CacheOutcome::Hit },
                escalated: false,
                class,
            });
        }
    }
}
