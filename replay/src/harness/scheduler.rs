//! The scheduling thread's state, without threads or clocks.
//!
//! [`Scheduler`] runs `sim`'s serving core ([`sim::serving::Serving`]: cache → cascade stage →
//! router → admission → station) for a replay. Each method takes one message and `now` and
//! returns the batches to hand to workers; [`super::replay`] feeds it the wall clock, and a test
//! can feed it any times (`replay/tests/differential.rs` feeds it the engine's).

use std::collections::VecDeque;

use sim::ScenarioConfig;
use sim::config::Resolved;
use sim::engine::CacheOutcome;
use sim::serving::{Admission, CacheCheck, Confidence, Decision, Serving, Stage, StationAction, Waiting};
use traces::{Request, SimTime};

use super::{Done, ReplayRecord};

/// What the scheduler queues: a request's index in the trace, and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Index in the trace (and in the records).
    pub idx: usize,
    /// Request id.
    pub id: u64,
    /// Its class (the scenario's `[[classes]]` index, as the engine numbers it).
    pub class: u16,
}

impl sim::serving::Ticket for Queued {
    fn request_id(&self) -> u64 {
        self.id
    }

    fn class(&self) -> usize {
        usize::from(self.class)
    }
}

/// A batch to hand to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// Device index.
    pub device: usize,
    /// Server (worker) of the device.
    pub server: u32,
    /// The requests, by trace index, in queue order.
    pub idxs: Vec<usize>,
}

/// Per-device counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceTally {
    /// Σ ONNX Runtime run time of its batches, ns.
    pub busy_ns: u64,
    /// Requests its batches answered (an escalated request counts at both devices).
    pub completed: u64,
    /// Requests its full queue refused or its deadline shed.
    pub dropped: u64,
}

/// What a scheduler leaves when the replay is over.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// One per trace request.
    pub records: Vec<ReplayRecord>,
    /// Whether each request was released.
    pub released: Vec<bool>,
    /// Per device.
    pub devices: Vec<DeviceTally>,
    /// ONNX Runtime run time of every batch, ms.
    pub batch_runs: Vec<f64>,
    /// The last answer's time, ns.
    pub last_finish: u64,
    /// Cache lookups.
    pub lookups: u64,
    /// Cache hits (fresh or stale).
    pub hits: u64,
}

/// The scheduling state of one replay.
pub struct Scheduler<'a> {
    core: Serving<Queued>,
    requests: &'a [Request],
    /// Per device: serves a cascade's student (its answers meet the escalation rule).
    student: Vec<bool>,
    /// Cache hits on their way back: (delivery time, trace index), in delivery order.
    pending_hits: VecDeque<(SimTime, usize)>,
    batch: Vec<Waiting<Queued>>,
    out: Outcome,
}

impl<'a> Scheduler<'a> {
    /// The scheduler of `config` (resolved as `resolved`) for `requests`, to be released at
    /// `intended` (ns, one per request); `seed` gives the router's and cascade's streams; `log`
    /// keeps the core's decisions.
    pub fn new(
        config: &ScenarioConfig,
        resolved: &Resolved,
        seed: u64,
        requests: &'a [Request],
        intended: &[u64],
        log: bool,
    ) -> Scheduler<'a> {
        let records = requests
            .iter()
            .zip(intended)
            .map(|(r, &at)| ReplayRecord {
                id: r.id,
                intended: at,
                arrival: at,
                enqueued: at,
                dispatch: None,
                start: None,
                finish: None,
                device: None,
                server: None,
                batch_size: 0,
                dropped: false,
                cache: CacheOutcome::None,
                prediction: None,
                correct: None,
                ort_ns: None,
                returned: None,
                overhead_ns: None,
                confidence: None,
                escalated_from: None,
            })
            .collect();
        let student = resolved
            .devices
            .iter()
            .map(|d| resolved.cascade.as_ref().is_some_and(|c| d.variant == Some(c.student)))
            .collect();
        Scheduler {
            core: Serving::new(config, resolved, seed, Confidence::Measured, log),
            requests,
            student,
            pending_hits: VecDeque::new(),
            batch: Vec::new(),
            out: Outcome {
                records,
                released: vec![false; requests.len()],
                devices: vec![DeviceTally::default(); resolved.devices.len()],
                batch_runs: Vec::new(),
                last_finish: 0,
                lookups: 0,
                hits: 0,
            },
        }
    }

    /// Request `idx` is released at `now`: the cache answers it (delivered at `now + hit_ms`,
    /// see [`Scheduler::wake`]), or it is routed and queued; batches that start go to `out`.
    pub fn release(&mut self, idx: usize, now: SimTime, out: &mut Vec<Dispatch>) {
        let r = &self.requests[idx];
        self.out.released[idx] = true;
        let rec = &mut self.out.records[idx];
        rec.arrival = now.0;
        rec.enqueued = now.0;
        match self.core.lookup(r.id, r.cache_key, now) {
            CacheCheck::Answered { outcome, done, payload } => {
                self.out.lookups += 1;
                self.out.hits += 1;
                rec.cache = outcome;
                // The cache holds the prediction that filled it.
                if payload.is_finite() {
                    rec.prediction = Some(payload as u32);
                }
                self.pending_hits.push_back((done, idx));
                return;
            }
            CacheCheck::Forward(outcome) => {
                if outcome != CacheOutcome::None {
                    self.out.lookups += 1;
                }
                rec.cache = outcome;
            }
        }
        let (stage, _) = self.core.entry_stage();
        self.admit(idx, stage, now, out);
    }

    /// A worker's batch is back at `now`: its server is free; each answer is final, or (a
    /// student's, by the cascade's rule on its real confidence) goes on to the teacher.
    pub fn done(&mut self, done: Done, now: SimTime, out: &mut Vec<Dispatch>) {
        let Done { device, server, idxs, run_start, run_end, predictions, confidences } = done;
        let n = idxs.len();
        let run = run_end.saturating_sub(run_start);
        // The server was busy from the dispatch to now, as the engine's batcher sees a service.
        let sent = self.out.records[idxs[0]].dispatch.unwrap_or(run_start);
        self.core.stations[device].complete(server, n, SimTime(now.0.saturating_sub(sent)), now);
        let tally = &mut self.out.devices[device];
        tally.busy_ns += run;
        tally.completed += n as u64;
        self.out.batch_runs.push(run as f64 / 1e6);
        self.out.last_finish = self.out.last_finish.max(now.0);
        for ((&idx, &p), &confidence) in idxs.iter().zip(&predictions).zip(&confidences) {
            if self.student[device] {
                self.out.records[idx].confidence = Some(confidence);
                if self.core.escalates(self.requests[idx].id, f64::from(confidence), now) {
                    self.out.records[idx].escalated_from = Some(p);
                    self.admit(idx, Stage::Teacher, now, out);
                    continue;
                }
            }
            let rec = &mut self.out.records[idx];
            rec.start = Some(run_start);
            rec.finish = Some(run_end);
            rec.ort_ns = Some(run);
            rec.prediction = Some(p);
            rec.returned = Some(now.0);
            let dispatch = rec.dispatch.unwrap_or(run_start);
            rec.overhead_ns = Some(
                rec.enqueued.saturating_sub(rec.arrival)
                    + run_start.saturating_sub(dispatch)
                    + now.0.saturating_sub(run_end),
            );
            if let (Some(c), Some(key)) = (self.core.front.cache(), self.requests[idx].cache_key) {
                c.insert_payload(key, now, p as f32);
            }
        }
        self.dispatch(device, now, out);
    }

    /// Delivers the cache hits due at `now` and consults the stations whose wake-up is due.
    pub fn wake(&mut self, now: SimTime, out: &mut Vec<Dispatch>) {
        while let Some(&(at, idx)) = self.pending_hits.front() {
            if at > now {
                break;
            }
            self.pending_hits.pop_front();
            let rec = &mut self.out.records[idx];
            rec.finish = Some(at.0);
            rec.returned = Some(now.0);
            self.out.last_finish = self.out.last_finish.max(now.0);
        }
        for di in 0..self.core.stations.len() {
            if self.core.stations[di].timer_due(now) {
                self.dispatch(di, now, out);
            }
        }
    }

    /// When [`Scheduler::wake`] is next needed: the earliest station wake-up or cache-hit
    /// delivery.
    pub fn deadline(&self) -> Option<SimTime> {
        let timers = self.core.stations.iter().filter_map(|s| s.timer()).min();
        let hit = self.pending_hits.front().map(|&(at, _)| at);
        match (timers, hit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Nothing in service, no hit on its way and no wake-up pending: without more releases,
    /// nothing will happen.
    pub fn quiescent(&self) -> bool {
        self.pending_hits.is_empty() && self.core.stations.iter().all(|s| s.in_service() == 0 && s.timer().is_none())
    }

    /// The decisions so far (empty unless built with `log`).
    pub fn decisions(&self) -> &[Decision] {
        self.core.decisions()
    }

    /// The records and counts.
    pub fn finish(self) -> Outcome {
        self.out
    }

    fn admit(&mut self, idx: usize, stage: Stage, now: SimTime, out: &mut Vec<Dispatch>) {
        let ticket = Queued { idx, id: self.requests[idx].id, class: self.requests[idx].class.0 };
        match self.core.admit(ticket, stage, now) {
            Admission::Queued(di) => {
                self.out.records[idx].device = Some(di);
                self.dispatch(di, now, out);
            }
            Admission::Dropped(di, _) => {
                let rec = &mut self.out.records[idx];
                rec.device = Some(di);
                rec.dropped = true;
                self.out.devices[di].dropped += 1;
            }
        }
    }

    fn dispatch(&mut self, di: usize, now: SimTime, out: &mut Vec<Dispatch>) {
        loop {
            match self.core.next(di, now, &mut self.batch) {
                StationAction::Shed => {
                    let w = self.batch.pop().expect("the shed request");
                    self.out.records[w.item.idx].dropped = true;
                    self.out.devices[di].dropped += 1;
                }
                StationAction::Start { server, .. } => {
                    let n = self.batch.len();
                    let idxs: Vec<usize> = self.batch.drain(..).map(|w| w.item.idx).collect();
                    for &i in &idxs {
                        let rec = &mut self.out.records[i];
                        rec.dispatch = Some(now.0);
                        rec.server = Some(server);
                        rec.batch_size = n as u32;
                    }
                    out.push(Dispatch { device: di, server, idxs });
                }
                StationAction::Arm(_) | StationAction::Idle => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler_for(text: &str) -> (ScenarioConfig, Resolved) {
        let config = ScenarioConfig::parse(text).unwrap();
        let resolved = config.resolve().unwrap();
        (config, resolved)
    }

    const ONE_DEVICE: &str = r#"
        name = "one"
        [cache]
        policy = "lru"
        capacity = 4
        hit_ms = 0.25
        [[devices]]
        name = "d"
        service = { kind = "deterministic", ms = 1.0 }
    "#;

    fn keyed(id: u64, at_ns: u64) -> Request {
        Request { cache_key: Some(7), ..Request::new(id, SimTime(at_ns), 1) }
    }

    fn answer(device: usize, idxs: Vec<usize>, start: u64, end: u64) -> Done {
        let n = idxs.len();
        Done {
            device,
            server: 0,
            idxs,
            run_start: start,
            run_end: end,
            predictions: vec![2; n],
            confidences: vec![1.0; n],
        }
    }

    #[test]
    fn a_cache_hit_is_answered_after_hit_ms_and_latency_runs_from_the_intended_release() {
        let (config, resolved) = scheduler_for(ONE_DEVICE);
        let requests = [keyed(0, 0), keyed(1, 5_000_000)];
        let intended = [0, 5_000_000];
        let mut s = Scheduler::new(&config, &resolved, 1, &requests, &intended, false);
        let mut out = Vec::new();
        s.release(0, SimTime(0), &mut out);
        assert_eq!(out, vec![Dispatch { device: 0, server: 0, idxs: vec![0] }]);
        s.done(answer(0, vec![0], 10_000, 1_000_000), SimTime(1_020_000), &mut out);
        // Released 30 µs late; the cache answers 0.25 ms after the release.
        s.release(1, SimTime(5_030_000), &mut out);
        assert_eq!(s.deadline(), Some(SimTime(5_280_000)));
        assert!(!s.quiescent());
        s.wake(SimTime(5_279_999), &mut out);
        assert_eq!(s.deadline(), Some(SimTime(5_280_000)), "not delivered before hit_ms");
        s.wake(SimTime(5_281_000), &mut out);
        assert!(s.quiescent());
        let o = s.finish();
        let hit = &o.records[1];
        assert_eq!(
            (hit.cache, hit.finish, hit.returned, hit.prediction),
            (CacheOutcome::Hit, Some(5_280_000), Some(5_281_000), Some(2))
        );
        assert_eq!(hit.lateness_ns(), 30_000);
        assert_eq!(hit.latency_ns(), Some(281_000));
        assert_eq!(o.records[0].latency_ns(), Some(1_020_000));
        assert_eq!((o.lookups, o.hits), (2, 1));
    }

    #[test]
    fn a_queue_without_a_scenario_bound_drops_nothing() {
        // 20,000 requests at once on one server: all wait (the replay's old 10,000 default would
        // have dropped half).
        let (config, resolved) = scheduler_for(ONE_DEVICE);
        let requests: Vec<Request> = (0..20_000).map(|i| Request::new(i, SimTime(0), 1)).collect();
        let intended = vec![0; requests.len()];
        let mut s = Scheduler::new(&config, &resolved, 1, &requests, &intended, true);
        let mut out = Vec::new();
        for i in 0..requests.len() {
            s.release(i, SimTime(0), &mut out);
        }
        assert_eq!(out.len(), 1);
        let o = s.finish();
        assert!(o.records.iter().all(|r| !r.dropped));
        assert_eq!(o.devices[0].dropped, 0);
    }
}
