//! The serving core: what happens to a request between its arrival and a server, as pure state
//! machines over `(event, now)` that return decisions. No clock, no IO, no events of its own.
//!
//! Two drivers carry the decisions out: the engine ([`crate::engine`]) in virtual time, and the
//! replay harness (`replay::harness`) on the wall clock with ONNX Runtime behind each server.
//! There is one implementation of admission, queueing, shedding, batching and routing, so the two
//! cannot disagree about them (a differential test in `replay/tests/differential.rs` feeds both
//! the same arrivals and completion times and compares their [`Decision`] logs).
//!
//! - [`FrontEnd`]: response cache lookup → cascade stage → router (skipped when one device is a
//!   candidate).
//! - [`Station`]: one device replica: a FIFO queue with enqueue times, a queue bound (arrivals
//!   beyond it dropped while no server is idle), deadline shedding, the batcher consulted until
//!   it stops dispatching, one pending wake-up, the idle servers (most recently freed on top) and
//!   the time each became idle.
//! - [`Serving`]: both, plus an optional [`Decision`] log; the drivers call only this.

use crate::config::{Escalation, Resolved, ScenarioConfig};
use crate::policy::{BatchDecision, Batcher, Cache, ClassOrder, DeviceView, Lookup, QueueView, Router};
use rand_distr::{Beta, Distribution as _};
use serde::Serialize;
use traces::SimTime;
use traces::rng::{StreamRng, stream};

/// How the response cache treated a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    /// No cache, or no key.
    None,
    /// Served fresh from the cache.
    Hit,
    /// Served stale from the cache.
    StaleHit,
    /// Found stale and sent to a model.
    StaleMiss,
    /// Sent to a model.
    Miss,
}

/// What a driver queues: anything small that names its request.
pub trait Ticket: Copy {
    /// The request's id (for the decision log).
    fn request_id(&self) -> u64;

    /// The request's class (`[[classes]]` index; 0 without classes).
    fn class(&self) -> usize {
        0
    }
}

mod queue;
use queue::ClassQueues;

/// Which model answers a request next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// No cascade: any device.
    Any,
    /// Cascade, first pass.
    Student,
    /// Cascade, escalated.
    Teacher,
}

/// A queued ticket and when it joined the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting<T> {
    /// What the driver queued.
    pub item: T,
    /// When it joined this queue.
    pub enqueued: SimTime,
}

/// What a station does next (see [`Station::next`]). It carries no request, so it comes back in
/// registers: the requests a station lets go are in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StationAction {
    /// The oldest waiting request waited past the deadline: it is removed, and is the one
    /// element of the caller's buffer (call again with the buffer emptied).
    Shed,
    /// A batch (now in the caller's buffer, in queue order) starts on `server` (call again).
    Start {
        /// The server, now busy.
        server: u32,
        /// How long the server had been idle: 0 if it went straight from one batch to the next;
        /// since time 0 for its first batch.
        idle_gap: SimTime,
    },
    /// Nothing more now; a wake-up is wanted at this time (schedule it: it is the only pending
    /// one, see [`Station::timer_due`]).
    Arm(SimTime),
    /// Nothing more now.
    Idle,
}

/// One device replica's queue, batcher and servers.
pub struct Station<T> {
    queue: ClassQueues<T>,
    /// Idle servers; the most recently freed is on top.
    idle: Vec<u32>,
    /// Per server: when it last became idle.
    idle_since: Vec<SimTime>,
    /// Requests in service.
    in_service: usize,
    capacity: Option<u64>,
    shed_after: Option<SimTime>,
    batcher: Box<dyn Batcher>,
    /// The batcher's pending wake-up.
    timer: Option<SimTime>,
    /// Per server: parked (its replica is off, starting or draining): it takes no new batch.
    parked: Vec<bool>,
}

impl<T: Ticket> Station<T> {
    /// A station with `servers` idle servers whose queue is ordered by `order`.
    pub fn new(
        servers: u32,
        capacity: Option<u64>,
        shed_after: Option<SimTime>,
        batcher: Box<dyn Batcher>,
        order: &ClassOrder,
    ) -> Self {
        Station {
            queue: ClassQueues::new(order),
            idle: (0..servers).rev().collect(),
            idle_since: vec![SimTime::ZERO; servers as usize],
            in_service: 0,
            capacity,
            shed_after,
            batcher,
            timer: None,
            parked: vec![false; servers as usize],
        }
    }

    /// Parks `servers` (an autoscaled replica turned off or draining): the idle ones leave the
    /// idle set, the busy ones finish their batch and stay out. Returns how many are busy.
    pub fn park(&mut self, servers: std::ops::Range<u32>) -> u32 {
        for s in servers.clone() {
            self.parked[s as usize] = true;
        }
        let before = self.idle.len();
        self.idle.retain(|s| !servers.contains(s));
        let idle = (before - self.idle.len()) as u32;
        servers.len() as u32 - idle
    }

    /// Unparks `servers` at `now` (a replica ready, or a draining one taken back): the parked
    /// ones not busy join the idle set, idle since `now`; busy ones rejoin when they finish.
    /// `busy` says whether a server is in service.
    pub fn unpark(&mut self, servers: std::ops::Range<u32>, now: SimTime, busy: impl Fn(u32) -> bool) {
        for s in servers.rev() {
            if self.parked[s as usize] {
                self.parked[s as usize] = false;
                if !busy(s) {
                    self.idle.push(s);
                    self.idle_since[s as usize] = now;
                }
            }
        }
    }

    /// Idle servers among `servers`.
    pub fn idle_among(&self, servers: std::ops::Range<u32>) -> u32 {
        self.idle.iter().filter(|s| servers.contains(s)).count() as u32
    }

    /// Requests waiting.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Requests in service.
    pub fn in_service(&self) -> usize {
        self.in_service
    }

    /// Idle servers.
    pub fn idle_servers(&self) -> usize {
        self.idle.len()
    }

    /// The pending wake-up.
    pub fn timer(&self) -> Option<SimTime> {
        self.timer
    }

    /// The largest batch the batcher can dispatch.
    pub fn max_batch(&self) -> usize {
        self.batcher.max_batch()
    }

    /// Queues `item`, or gives it back (`Err`) when the queue is at its bound and no server is
    /// idle. Follow with [`Station::next`].
    #[inline]
    pub fn offer(&mut self, item: T, now: SimTime) -> Result<(), T> {
        if self.idle.is_empty() && self.capacity.is_some_and(|cap| self.queue.len() as u64 >= cap) {
            return Err(item);
        }
        self.queue.push(Waiting { item, enqueued: now });
        Ok(())
    }

    /// Whether the pending wake-up is due at `now` (it is then cleared: follow with
    /// [`Station::next`]). A wake-up at a time that is not the pending one is stale.
    #[inline]
    pub fn timer_due(&mut self, now: SimTime) -> bool {
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
            true
        } else {
            false
        }
    }

    /// The next thing to do at `now`: shed an expired request or start a batch (either moved to
    /// `out`, which the caller passes empty), or stop. Call until it returns `Arm` or `Idle`.
    #[inline]
    pub fn next(&mut self, now: SimTime, out: &mut Vec<Waiting<T>>) -> StationAction {
        if let Some(limit) = self.shed_after
            && let Some(expired) = self.queue.pop_expired(now, limit)
        {
            out.push(expired);
            return StationAction::Shed;
        }
        if self.queue.is_empty() || self.idle.is_empty() {
            return StationAction::Idle;
        }
        let view =
            QueueView { len: self.queue.len(), oldest: self.queue.oldest(), idle_servers: self.idle.len() as u32 };
        match self.batcher.decide(view, now) {
            BatchDecision::Dispatch(n) => {
                let n = n.clamp(1, self.queue.len());
                let server = self.idle.pop().expect("checked non-empty");
                self.queue.take(n, out);
                self.in_service += n;
                StationAction::Start { server, idle_gap: now.saturating_sub(self.idle_since[server as usize]) }
            }
            // One pending wake-up is enough unless the new one is earlier.
            BatchDecision::WaitUntil(t) if t > now && self.timer.is_none_or(|pending| t < pending) => {
                self.timer = Some(t);
                StationAction::Arm(t)
            }
            BatchDecision::WaitUntil(_) | BatchDecision::Hold => StationAction::Idle,
        }
    }

    /// `server` finished a batch of `size` that took `service`: it is idle from `now`, and the
    /// batcher is told. Follow with [`Station::next`].
    #[inline]
    pub fn complete(&mut self, server: u32, size: usize, service: SimTime, now: SimTime) {
        self.in_service -= size;
        self.batcher.batch_done(size, service);
        if !self.parked[server as usize] {
            self.idle.push(server);
        }
        self.idle_since[server as usize] = now;
    }
}

/// Where a request's confidence comes from in a `confidence` cascade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confidence {
    /// Drawn from the scenario's Beta model at arrival, from the `cascade` stream (the engine).
    Modelled,
    /// The real student's, known when it answers (replay); nothing is drawn.
    Measured,
}

/// What the cache did with a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CacheCheck {
    /// Answered from the cache; the answer is back at `done` (`now + hit_ms`).
    Answered {
        /// Fresh or stale hit.
        outcome: CacheOutcome,
        /// When the answer is delivered.
        done: SimTime,
        /// What the cache holds about the answer.
        payload: f32,
    },
    /// On to a model; the outcome is `None` (no cache or no key), `Miss` or `StaleMiss`.
    Forward(CacheOutcome),
}

/// Cache → cascade stage → router.
pub struct FrontEnd {
    cache: Option<Cache>,
    hit_time: SimTime,
    router: Box<dyn Router>,
    escalation: Option<Escalation>,
    cascade_rng: StreamRng,
    beta: Option<Beta<f64>>,
    /// Candidate devices per stage (`Stage as usize`).
    candidates: [Vec<usize>; 3],
    views: Vec<DeviceView>,
}

impl FrontEnd {
    /// The cache (for lookups and inserts).
    pub fn cache(&mut self) -> Option<&mut Cache> {
        self.cache.as_mut()
    }

    /// Whether there is a response cache.
    pub fn has_cache(&self) -> bool {
        self.cache.is_some()
    }
}

/// One decision of the serving core, as both drivers log it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Answered by the response cache.
    CacheHit {
        /// When.
        at: SimTime,
        /// Request.
        id: u64,
        /// Served stale.
        stale: bool,
    },
    /// Sent to a device (by the router, or the only candidate).
    Route {
        /// When.
        at: SimTime,
        /// Request.
        id: u64,
        /// Device index.
        device: usize,
    },
    /// Refused by a full queue.
    Drop {
        /// When.
        at: SimTime,
        /// Request.
        id: u64,
        /// Device index.
        device: usize,
    },
    /// Removed after waiting past the deadline.
    Shed {
        /// When.
        at: SimTime,
        /// Request.
        id: u64,
        /// Device index.
        device: usize,
    },
    /// A batch started.
    Batch {
        /// When.
        at: SimTime,
        /// Device index.
        device: usize,
        /// Server.
        server: u32,
        /// Its requests, in queue order.
        ids: Vec<u64>,
    },
    /// A cascade's rule was applied to a student answer.
    Escalation {
        /// When.
        at: SimTime,
        /// Request.
        id: u64,
        /// Whether it went on to the teacher.
        escalated: bool,
    },
}

/// Appends to the decision log, out of the hot path (the engine's ordinary runs keep none).
#[cold]
#[inline(never)]
fn record(log: &mut Vec<Decision>, d: Decision) {
    log.push(d);
}

/// Logs a station's shed or batch (see [`record`]).
#[cold]
#[inline(never)]
fn log_station<T: Ticket>(log: &mut Vec<Decision>, action: StationAction, di: usize, now: SimTime, out: &[Waiting<T>]) {
    let ids = out.iter().map(|w| w.item.request_id());
    match action {
        StationAction::Shed => log.extend(ids.map(|id| Decision::Shed { at: now, id, device: di })),
        StationAction::Start { server, .. } => {
            log.push(Decision::Batch { at: now, device: di, server, ids: ids.collect() });
        }
        StationAction::Arm(_) | StationAction::Idle => {}
    }
}

/// The front end, one station per device replica, and the optional decision log.
pub struct Serving<T> {
    /// Cache, cascade and router.
    pub front: FrontEnd,
    /// Per device replica, in resolved order.
    pub stations: Vec<Station<T>>,
    log: Option<Vec<Decision>>,
}

/// A request admitted to a device: queued, or dropped by a full queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission<T> {
    /// Waiting at this device.
    Queued(usize),
    /// Refused by this device's full queue.
    Dropped(usize, T),
}

impl<T: Ticket> Serving<T> {
    /// Builds the core of `config` (resolved as `resolved`), its router and cascade streams from
    /// `seed`; `log` keeps every [`Decision`].
    pub fn new(config: &ScenarioConfig, resolved: &Resolved, seed: u64, confidence: Confidence, log: bool) -> Self {
        let stations: Vec<Station<T>> = resolved
            .devices
            .iter()
            .map(|d| Station::new(d.servers, d.queue_capacity, d.shed_after, d.batching.build(), &d.order))
            .collect();
        let views = resolved
            .devices
            .iter()
            .map(|d| DeviceView {
                queue_len: 0,
                in_service: 0,
                servers: d.servers,
                service_s: d.service.batch_mean_s(1),
                cost_per_s: d.cost_per_s,
            })
            .collect();
        let n = resolved.devices.len();
        let serving = |v: usize| -> Vec<usize> { (0..n).filter(|&i| resolved.devices[i].variant == Some(v)).collect() };
        let (student, teacher) = match &resolved.cascade {
            Some(c) => (serving(c.student), serving(c.teacher)),
            None => (Vec::new(), Vec::new()),
        };
        let escalation = resolved.cascade.as_ref().map(|c| c.escalate.clone());
        let beta = match (&escalation, confidence) {
            (Some(Escalation::Confidence { beta_a, beta_b, .. }), Confidence::Modelled) => {
                Some(Beta::new(*beta_a, *beta_b).expect("validated shapes"))
            }
            _ => None,
        };
        Serving {
            front: FrontEnd {
                cache: config.cache.as_ref().map(|c| c.build()),
                hit_time: config.cache.as_ref().and_then(|c| SimTime::from_millis_f64(c.hit_ms)).unwrap_or_default(),
                router: config.router.build(stream(seed, "routing")),
                escalation,
                cascade_rng: stream(seed, "cascade"),
                beta,
                candidates: [(0..n).collect(), student, teacher],
                views,
            },
            stations,
            log: log.then(Vec::new),
        }
    }

    /// The decisions so far (empty unless built with `log`).
    pub fn decisions(&self) -> &[Decision] {
        self.log.as_deref().unwrap_or_default()
    }

    /// Takes the decision log.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        self.log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Looks `key` up in the response cache at `now`.
    #[inline]
    pub fn lookup(&mut self, id: u64, key: Option<u64>, now: SimTime) -> CacheCheck {
        let (Some(cache), Some(key)) = (self.front.cache.as_mut(), key) else {
            return CacheCheck::Forward(CacheOutcome::None);
        };
        let (lookup, payload) = cache.lookup_payload(key, now);
        let outcome = match lookup {
            Lookup::Hit => CacheOutcome::Hit,
            Lookup::StaleHit => CacheOutcome::StaleHit,
            Lookup::StaleMiss => return CacheCheck::Forward(CacheOutcome::StaleMiss),
            Lookup::Miss => return CacheCheck::Forward(CacheOutcome::Miss),
        };
        if let Some(log) = self.log.as_mut() {
            record(log, Decision::CacheHit { at: now, id, stale: outcome == CacheOutcome::StaleHit });
        }
        CacheCheck::Answered { outcome, done: now.saturating_add(self.front.hit_time), payload }
    }

    /// The stage a request that missed the cache starts at, and its confidence (drawn from the
    /// Beta model when [`Confidence::Modelled`]; else 1).
    #[inline]
    pub fn entry_stage(&mut self) -> (Stage, f64) {
        match &self.front.beta {
            Some(beta) => (Stage::Student, beta.sample(&mut self.front.cascade_rng)),
            None if self.front.escalation.is_some() => (Stage::Student, 1.0),
            None => (Stage::Any, 1.0),
        }
    }

    /// Whether a student answer given with `confidence` goes on to the teacher (the scenario's
    /// rule, [`Escalation::escalates`], on the `cascade` stream).
    #[inline]
    pub fn escalates(&mut self, id: u64, confidence: f64, now: SimTime) -> bool {
        let Some(rule) = &self.front.escalation else {
            return false;
        };
        let escalated = rule.escalates(confidence, &mut self.front.cascade_rng);
        if let Some(log) = self.log.as_mut() {
            record(log, Decision::Escalation { at: now, id, escalated });
        }
        escalated
    }

    /// Routes `item` to a device of `stage` (the router is skipped when there is one candidate)
    /// and offers it to that device's queue. When queued, follow with [`Serving::next`].
    #[inline]
    pub fn admit(&mut self, item: T, stage: Stage, now: SimTime) -> Admission<T> {
        let cands = &self.front.candidates[stage as usize];
        let di = if cands.len() == 1 {
            cands[0]
        } else {
            for &c in cands {
                let s = &self.stations[c];
                self.front.views[c] =
                    DeviceView { queue_len: s.queue.len(), in_service: s.in_service, ..self.front.views[c] };
            }
            self.front.router.route(cands, &self.front.views, now)
        };
        let queued = self.stations[di].offer(item, now);
        if let Some(log) = self.log.as_mut() {
            let id = item.request_id();
            record(log, Decision::Route { at: now, id, device: di });
            if queued.is_err() {
                record(log, Decision::Drop { at: now, id, device: di });
            }
        }
        match queued {
            Ok(()) => Admission::Queued(di),
            Err(item) => Admission::Dropped(di, item),
        }
    }

    /// Tells the router device `di` now serves with `servers` servers (an autoscaled pool's
    /// ready replicas).
    pub fn set_servers(&mut self, di: usize, servers: u32) {
        self.front.views[di].servers = servers.max(1);
    }

    /// [`Station::next`] of device `di`, logged.
    #[inline]
    pub fn next(&mut self, di: usize, now: SimTime, out: &mut Vec<Waiting<T>>) -> StationAction {
        let action = self.stations[di].next(now, out);
        if let Some(log) = self.log.as_mut()
            && matches!(action, StationAction::Shed | StationAction::Start { .. })
        {
            log_station(log, action, di, now, out);
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::BatcherSpec;

    impl Ticket for u64 {
        fn request_id(&self) -> u64 {
            *self
        }
    }

    const fn ms(v: u64) -> SimTime {
        SimTime::from_millis(v)
    }

    fn dynamic(servers: u32, capacity: Option<u64>, shed_ms: Option<u64>) -> Station<u64> {
        let b = BatcherSpec::Dynamic { max_batch: 4, max_queue_delay_ms: 2.0, preferred_batch_sizes: vec![] };
        Station::new(servers, capacity, shed_ms.map(ms), b.build(), &ClassOrder::default())
    }

    #[test]
    fn a_station_batches_arms_one_timer_and_reports_idle_gaps() {
        let mut s = dynamic(2, None, None);
        let mut out = Vec::new();
        s.offer(1, ms(10)).unwrap();
        assert_eq!(s.next(ms(10), &mut out), StationAction::Arm(ms(12)));
        // A later decision wanting the same wake-up does not arm a second one.
        s.offer(2, ms(11)).unwrap();
        assert_eq!(s.next(ms(11), &mut out), StationAction::Idle);
        assert!(!s.timer_due(ms(11)));
        assert!(s.timer_due(ms(12)));
        assert_eq!(s.timer(), None);
        // Server 0 (top of the idle stack) has been idle since time 0.
        assert_eq!(s.next(ms(12), &mut out), StationAction::Start { server: 0, idle_gap: ms(12) });
        assert_eq!(out.iter().map(|w| (w.item, w.enqueued)).collect::<Vec<_>>(), vec![(1, ms(10)), (2, ms(11))]);
        assert_eq!((s.in_service(), s.queue_len(), s.idle_servers()), (2, 0, 1));
        assert_eq!(s.next(ms(12), &mut out), StationAction::Idle);
        s.complete(0, 2, ms(3), ms(15));
        assert_eq!(s.in_service(), 0);
        // Four waiting: a full batch at once on the most recently freed server, straight after
        // its last batch ended (gap 0).
        out.clear();
        for id in 3..7 {
            s.offer(id, ms(15)).unwrap();
        }
        assert_eq!(s.next(ms(15), &mut out), StationAction::Start { server: 0, idle_gap: SimTime::ZERO });
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn a_full_queue_drops_only_while_every_server_is_busy_and_old_requests_are_shed() {
        let mut s = dynamic(1, Some(1), Some(5));
        let mut out = Vec::new();
        for id in 0..4 {
            s.offer(id, ms(0)).unwrap(); // an idle server: no bound yet
        }
        assert!(matches!(s.next(ms(0), &mut out), StationAction::Start { server: 0, .. }));
        out.clear();
        s.offer(10, ms(1)).unwrap();
        assert_eq!(s.offer(11, ms(1)), Err(11));
        // Waited 6 ms > 5 ms: shed when the station is next consulted.
        s.complete(0, 4, ms(6), ms(7));
        assert_eq!(s.next(ms(7), &mut out), StationAction::Shed);
        assert_eq!(out, vec![Waiting { item: 10, enqueued: ms(1) }]);
        out.clear();
        assert_eq!(s.next(ms(7), &mut out), StationAction::Idle);
        assert_eq!(s.queue_len(), 0);
    }
}
