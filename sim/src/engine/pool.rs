//! Autoscaled pools and energy in the engine: replicas turned on and off by the pool's
//! [`Autoscaler`], their cold starts, draining, billing, and every device's power.
//!
//! An autoscaled group is one station of `max` × `servers` servers behind one queue; replica r
//! owns servers `r·servers .. (r+1)·servers`. A replica is off (servers parked, not billed),
//! starting (billed, parked, ready after the cold start), ready (serving) or draining (billed,
//! parked: it finishes its batches and turns off when the last one ends). A request never starts
//! on a replica that is not ready: parked servers are outside the station's idle set.

use super::{DeviceId, Engine, Event};
use crate::autoscale::{Autoscaler, ScalingPolicy, Tick, secs};
use crate::check::SimError;
use crate::config::ResolvedAutoscale;
use crate::metrics::{LatencyStats, TimeIntegral};
use serde::Serialize;
use traces::SimTime;

/// The state of one replica of an autoscaled pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Replica {
    Off,
    /// Cold-starting; the epoch tells its ready event from a cancelled start's.
    Starting(u32),
    Ready,
    Draining,
}

/// A replica of an autoscaled pool changed state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ScalingEvent {
    /// When.
    pub at: SimTime,
    /// The pool's device index.
    pub device: u32,
    /// The replica.
    pub replica: u32,
    /// Its new state.
    pub state: ReplicaState,
}

/// A replica's state as scaling events report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// Released: not billed, no power.
    Off,
    /// Cold-starting: billed, drawing idle power, not serving.
    Starting,
    /// Serving.
    Ready,
    /// Finishing its batches; takes no new one.
    Draining,
}

/// Rows a pool's timeline keeps at most: when full, adjacent rows merge in pairs and each row
/// then spans twice as many decisions, so memory stays flat however long the run.
pub const TIMELINE_ROWS: usize = 4096;

/// One row of the run's timeline: a pool over one or more consecutive decision intervals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineRow {
    /// End of the interval, s.
    pub t_s: f64,
    /// Length of the interval, s.
    pub dur_s: f64,
    /// The pool (device index).
    pub pool: u32,
    /// Replicas the policy asked for at the end of the interval.
    pub desired: u32,
    /// Ready replicas at the end of the interval.
    pub ready: u32,
    /// Replicas starting at the end of the interval.
    pub starting: u32,
    /// Replicas draining at the end of the interval.
    pub draining: u32,
    /// Decisions the row spans (1, or a power of two after merging).
    pub decisions: u32,
    /// Mean busy servers over the interval.
    pub busy: f64,
    /// Mean requests in the pool (queued and in service) over the interval.
    pub in_pool: f64,
    /// Requests that arrived at the pool during the interval.
    pub arrivals: u64,
    /// Requests the pool finished during the interval.
    pub completed: u64,
    /// Of them, within the scenario's SLO (0 without an SLO).
    pub slo_met: u64,
    /// Mean power over the interval, W (IT, before PUE; 0 without a power model).
    pub power_w: f64,
    /// Cost of the interval: billed replica-seconds × price, $.
    pub cost_usd: f64,
}

impl TimelineRow {
    /// `self` followed by `next`: states at the end of `next`, means weighted by duration,
    /// counts and cost summed.
    fn merge(&mut self, next: &TimelineRow) {
        let d = self.dur_s + next.dur_s;
        let mean = |a: f64, b: f64| if d > 0.0 { (a * self.dur_s + b * next.dur_s) / d } else { b };
        self.busy = mean(self.busy, next.busy);
        self.in_pool = mean(self.in_pool, next.in_pool);
        self.power_w = mean(self.power_w, next.power_w);
        self.t_s = next.t_s;
        self.dur_s = d;
        self.decisions += next.decisions;
        (self.desired, self.ready, self.starting, self.draining) =
            (next.desired, next.ready, next.starting, next.draining);
        self.arrivals += next.arrivals;
        self.completed += next.completed;
        self.slo_met += next.slo_met;
        self.cost_usd += next.cost_usd;
    }
}

/// A pool's timeline: at most [`TIMELINE_ROWS`] rows of `span` decisions each.
#[derive(Default)]
pub(super) struct Timeline {
    rows: Vec<TimelineRow>,
    span: u32,
    open: Option<TimelineRow>,
}

impl Timeline {
    fn push(&mut self, row: TimelineRow) {
        let span = self.span.max(1);
        match &mut self.open {
            Some(open) => open.merge(&row),
            None => self.open = Some(row),
        }
        if self.open.as_ref().is_some_and(|o| o.decisions >= span) {
            self.rows.push(self.open.take().expect("checked"));
        }
        if self.rows.len() == TIMELINE_ROWS {
            let rows = std::mem::take(&mut self.rows);
            let mut it = rows.into_iter();
            while let Some(mut a) = it.next() {
                if let Some(b) = it.next() {
                    a.merge(&b);
                }
                self.rows.push(a);
            }
            self.span = span * 2;
        }
    }

    /// The rows, the open one last.
    pub(super) fn finish(mut self) -> Vec<TimelineRow> {
        self.rows.extend(self.open.take());
        self.rows
    }
}

/// A pool's run statistics (`devices[i].autoscale` in the summary).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolStats {
    /// Billed replica-hours (starting, ready or draining).
    pub replica_hours: f64,
    /// Time-average ready replicas.
    pub mean_ready: f64,
    /// Most replicas ready at once.
    pub peak_ready: u64,
    /// Replicas started (each one cold start).
    pub cold_starts: u64,
    /// Replicas released (drained or cancelled).
    pub scale_downs: u64,
    /// Requests that arrived while no replica was ready (they waited for a cold start).
    pub cold_start_requests: u64,
    /// Seconds during which the policy asked for more replicas than were ready.
    pub under_provisioned_s: f64,
    /// Seconds with no replica ready.
    pub at_zero_s: f64,
}

impl PoolStats {
    /// The time-based statistics of a pool whose ready and billed replica counts are `ready` and
    /// `billed` and whose under-provisioned time is `under`, at `end` (counts left at 0).
    pub(crate) fn measured(
        ready: &TimeIntegral,
        billed: &TimeIntegral,
        under: &TimeIntegral,
        end: SimTime,
    ) -> PoolStats {
        PoolStats {
            replica_hours: billed.area_s_until(end) / 3600.0,
            mean_ready: ready.mean_until(end),
            peak_ready: ready.peak(),
            cold_starts: 0,
            scale_downs: 0,
            cold_start_requests: 0,
            under_provisioned_s: under.area_s_until(end),
            at_zero_s: 0.0,
        }
    }
}

/// What a pool did over one decision interval.
struct Measured {
    tick: Tick,
    dur: f64,
    busy: f64,
    in_pool: f64,
    arrivals: u64,
    completed: u64,
    slo_met: u64,
    power_w: f64,
    cost_usd: f64,
}

/// The engine's side of an autoscaled pool.
pub(super) struct Pool {
    pub(super) scaler: Autoscaler,
    per: u32,
    pub(super) states: Vec<Replica>,
    epoch: u32,
    cold_start: SimTime,
    pub(super) instant: bool,
    interval: SimTime,
    ready: TimeIntegral,
    billed: TimeIntegral,
    pub(super) in_pool: TimeIntegral,
    cold_starts: u64,
    scale_downs: u64,
    cold_requests: u64,
    desired: u32,
    /// 1 while the pool is under-provisioned (desired > ready), at zero ready replicas: their
    /// integrals are the seconds each held.
    under: TimeIntegral,
    zero: TimeIntegral,
    pub(super) timeline: Timeline,
    /// The groups of its shared pool (itself first when it leads; empty when it follows: the
    /// leader decides for it); `[itself]` when it is alone.
    pub(super) peers: Vec<usize>,
    /// Replicas starting.
    starting: u32,
    /// One past the highest replica index ever on: replicas at and above it are all off.
    hi: usize,
    // Since the last tick.
    tick_start: SimTime,
    busy_area0: f64,
    in_pool_area0: f64,
    billed_area0: f64,
    energy0: f64,
    arrivals: u64,
    completed: u64,
    slo_met: u64,
    latency: LatencyStats,
    completed_total: u64,
}

impl Pool {
    /// A pool with `initial` replicas ready at time 0.
    pub(super) fn new(a: &ResolvedAutoscale) -> Pool {
        let initial = match a.spec.policy {
            crate::autoscale::ScalingPolicy::Schedule { .. } => {
                Autoscaler::new(&a.spec, a.servers_per_replica, a.cold_start_s).scheduled(SimTime::ZERO)
            }
            _ => a.spec.initial(),
        }
        .clamp(a.spec.min, a.spec.max);
        let mut states = vec![Replica::Off; a.spec.max as usize];
        states[..initial as usize].fill(Replica::Ready);
        let mut ready = TimeIntegral::default();
        ready.set(SimTime::ZERO, u64::from(initial));
        Pool {
            scaler: Autoscaler::new(&a.spec, a.servers_per_replica, a.cold_start_s),
            per: a.servers_per_replica,
            states,
            epoch: 0,
            cold_start: secs(a.cold_start_s),
            instant: a.spec.interval_s == 0.0,
            interval: secs(a.spec.interval_s),
            ready,
            billed: ready,
            in_pool: TimeIntegral::default(),
            cold_starts: 0,
            scale_downs: 0,
            cold_requests: 0,
            desired: initial,
            under: TimeIntegral::default(),
            zero: {
                let mut z = TimeIntegral::default();
                z.set(SimTime::ZERO, u64::from(initial == 0));
                z
            },
            timeline: Timeline::default(),
            peers: Vec::new(),
            starting: 0,
            hi: initial as usize,
            tick_start: SimTime::ZERO,
            busy_area0: 0.0,
            in_pool_area0: 0.0,
            billed_area0: 0.0,
            energy0: 0.0,
            arrivals: 0,
            completed: 0,
            slo_met: 0,
            latency: LatencyStats::default(),
            completed_total: 0,
        }
    }

    fn count(&self, which: fn(&Replica) -> bool) -> u32 {
        self.states[..self.hi].iter().filter(|s| which(s)).count() as u32
    }

    pub(super) fn ready_count(&self) -> u32 {
        self.ready.value() as u32
    }

    /// Ready and starting replicas: what the policy counts as current.
    fn current(&self) -> u32 {
        self.ready_count() + self.starting
    }

    fn servers(&self, r: usize) -> std::ops::Range<u32> {
        r as u32 * self.per..(r as u32 + 1) * self.per
    }

    /// The interval between decisions (0: instant).
    pub(super) fn interval(&self) -> SimTime {
        self.interval
    }

    /// The under-provisioned and at-zero clocks at `now`.
    fn clocks(&mut self, now: SimTime) {
        let ready = self.ready_count();
        self.under.set(now, u64::from(self.desired > ready));
        self.zero.set(now, u64::from(ready == 0));
    }

    /// The statistics at the end of the run.
    pub(super) fn stats(&self, end: SimTime) -> PoolStats {
        let mut p = PoolStats::measured(&self.ready, &self.billed, &self.under, end);
        (p.cold_starts, p.scale_downs, p.cold_start_requests) =
            (self.cold_starts, self.scale_downs, self.cold_requests);
        p.at_zero_s = self.zero.area_s_until(end);
        p
    }

    /// Billed replica-seconds up to `end`.
    pub(super) fn billed_s(&self, end: SimTime) -> f64 {
        self.billed.area_s_until(end)
    }

    /// Time-average ready servers over [0, end].
    pub(super) fn mean_ready_servers(&self, end: SimTime) -> f64 {
        self.ready.mean_until(end) * f64::from(self.per)
    }
}

impl Engine<'_> {
    /// Sets replica `r`'s state and logs it.
    fn set_state(&mut self, di: usize, r: usize, state: Replica, now: SimTime) {
        let pool = self.devices[di].pool.as_mut().expect("a pool");
        if matches!(pool.states[r], Replica::Starting(_)) {
            pool.starting -= 1;
        }
        if matches!(state, Replica::Starting(_)) {
            pool.starting += 1;
        }
        pool.hi = pool.hi.max(r + 1);
        pool.states[r] = state;
        let Some(log) = self.scaling.as_mut() else {
            return;
        };
        let state = match state {
            Replica::Off => ReplicaState::Off,
            Replica::Starting(_) => ReplicaState::Starting,
            Replica::Ready => ReplicaState::Ready,
            Replica::Draining => ReplicaState::Draining,
        };
        log.push(ScalingEvent { at: now, device: di as u32, replica: r as u32, state });
    }

    /// A request joined pool `di`'s queue.
    pub(super) fn pool_arrival(&mut self, di: usize, now: SimTime) -> Result<(), SimError> {
        let Some(pool) = self.devices[di].pool.as_mut() else {
            return Ok(());
        };
        pool.in_pool.add(now, 1);
        pool.arrivals += 1;
        if pool.ready_count() == 0 {
            pool.cold_requests += 1;
        }
        if pool.instant {
            let current = pool.current();
            let d = pool.scaler.decide_instant(pool.in_pool.value(), current, now);
            return self.scale_to(di, d, now);
        }
        if pool.current() == 0 {
            // Scale from zero: the request itself triggers a cold start (Knative's activator).
            return self.scale_to(di, 1, now);
        }
        Ok(())
    }

    /// `n` requests left pool `di` (finished, escalated or shed); `latencies` of those finished.
    pub(super) fn pool_departure(&mut self, di: usize, n: u64, now: SimTime) -> Result<(), SimError> {
        let Some(pool) = self.devices[di].pool.as_mut() else {
            return Ok(());
        };
        pool.in_pool.add(now, -(n as i64));
        if pool.instant {
            let current = pool.current();
            let d = pool.scaler.decide_instant(pool.in_pool.value(), current, now);
            return self.scale_to(di, d, now);
        }
        Ok(())
    }

    /// A request finished at pool `di` with end-to-end `latency`.
    pub(super) fn pool_finished(&mut self, di: usize, latency: SimTime) {
        let slo = self.slo;
        if let Some(pool) = self.devices[di].pool.as_mut() {
            pool.completed += 1;
            pool.completed_total += 1;
            pool.latency.record(latency);
            if slo.is_some_and(|s| latency <= s) {
                pool.slo_met += 1;
            }
        }
    }

    /// After server `server` of pool `di` finished a batch: a draining replica whose last batch
    /// this was turns off.
    pub(super) fn pool_server_done(&mut self, di: usize, server: u32, now: SimTime) {
        let Some(pool) = self.devices[di].pool.as_ref() else {
            return;
        };
        let r = (server / pool.per) as usize;
        if pool.states[r] == Replica::Draining && self.devices[di].busy_r[r] == 0 {
            self.replica_off(di, r, now);
        }
    }

    /// What pool `di` did since its last decision (its accumulators restart at `now`).
    fn measure(&mut self, di: usize, now: SimTime) -> Measured {
        let end_busy = self.devices[di].stats.busy.area_s_until(now);
        let (energy_now, _) = self.devices[di].meter.until(now, &self.energy);
        let cost_per_s = self.resolved.devices[di].cost_per_s;
        let pue = self.energy.pue;
        let pool = self.devices[di].pool.as_mut().expect("ticks are for pools");
        let dur = (now - pool.tick_start).as_secs_f64();
        let in_pool_area = pool.in_pool.area_s_until(now);
        let billed_area = pool.billed.area_s_until(now);
        let mean = |a: f64, b: f64| if dur > 0.0 { (a - b) / dur } else { 0.0 };
        let tick = Tick {
            dur_s: dur,
            busy: mean(end_busy, pool.busy_area0),
            concurrency: mean(in_pool_area, pool.in_pool_area0),
            arrivals: pool.arrivals,
            latency: std::mem::take(&mut pool.latency),
            occupancy_s: if pool.completed_total > 0 { end_busy / pool.completed_total as f64 } else { 0.0 },
        };
        let m = Measured {
            dur,
            busy: tick.busy,
            in_pool: tick.concurrency,
            arrivals: tick.arrivals,
            completed: pool.completed,
            slo_met: pool.slo_met,
            power_w: mean(energy_now, pool.energy0) * 3.6e6 / pue,
            cost_usd: (billed_area - pool.billed_area0) * cost_per_s,
            tick,
        };
        pool.tick_start = now;
        pool.busy_area0 = end_busy;
        pool.in_pool_area0 = in_pool_area;
        pool.billed_area0 = billed_area;
        pool.energy0 = energy_now;
        pool.arrivals = 0;
        pool.completed = 0;
        pool.slo_met = 0;
        m
    }

    /// Moves pool `di` to `desired`, and records the decision in its timeline.
    fn carry_out(&mut self, di: usize, m: &Measured, desired: u32, now: SimTime) -> Result<(), SimError> {
        let pool = self.devices[di].pool.as_ref().expect("a pool");
        let before = (pool.cold_starts, pool.scale_downs);
        self.scale_to(di, desired, now)?;
        let pool = self.devices[di].pool.as_mut().expect("a pool");
        if (pool.cold_starts, pool.scale_downs) != before {
            self.last = now;
        }
        let row = TimelineRow {
            t_s: now.as_secs_f64(),
            dur_s: m.dur,
            pool: di as u32,
            decisions: 1,
            desired,
            ready: pool.ready_count(),
            starting: pool.count(|s| matches!(s, Replica::Starting(_))),
            draining: pool.count(|s| *s == Replica::Draining),
            busy: m.busy,
            in_pool: m.in_pool,
            arrivals: m.arrivals,
            completed: m.completed,
            slo_met: m.slo_met,
            power_w: m.power_w,
            cost_usd: m.cost_usd,
        };
        pool.timeline.push(row);
        Ok(())
    }

    /// The periodic decision of pool `di` (of every group of its shared pool, when it leads one).
    pub(super) fn pool_tick(&mut self, di: usize, now: SimTime) -> Result<(), SimError> {
        let peers = self.devices[di].pool.as_ref().expect("a pool").peers.clone();
        if peers.len() > 1 {
            let measured: Vec<Measured> = peers.iter().map(|&p| self.measure(p, now)).collect();
            let counts = self.shared_counts(&peers, &measured, now);
            for ((&p, m), n) in peers.iter().zip(&measured).zip(counts) {
                self.carry_out(p, m, n, now)?;
            }
        } else {
            let m = self.measure(di, now);
            let pool = self.devices[di].pool.as_mut().expect("a pool");
            let (current, ready) = (pool.current(), pool.ready_count());
            let desired = pool.scaler.decide(m.tick.clone(), current, ready, now);
            self.carry_out(di, &m, desired, now)?;
        }
        // Once the last request is done, a reactive pool keeps deciding until it is down to its
        // minimum (the tail is billed); a schedule or a forecast would go on forever: they stop.
        let pool = self.devices[di].pool.as_ref().expect("a pool");
        let reactive = !matches!(
            pool.scaler.spec().policy,
            crate::autoscale::ScalingPolicy::Schedule { .. } | crate::autoscale::ScalingPolicy::Predictive { .. }
        );
        let above_min = peers.iter().any(|&p| {
            let q = self.devices[p].pool.as_ref().expect("a pool");
            q.current() > q.scaler.spec().min
        });
        let idle = self.arrivals_done && self.t.in_system.value() == 0;
        if !idle || (reactive && above_min) {
            let interval = pool.interval;
            self.cal.schedule(now.saturating_add(interval), Event::Autoscale { device: DeviceId(di as u32) })?;
        }
        Ok(())
    }

    /// A shared pool's counts: the load its groups serve, in requests/s (Σ busy servers / mean
    /// service time), over the leader's target is the capacity asked for (unchanged within its
    /// tolerance); it is filled from every group's `min` upward, cheapest capacity first (price /
    /// (servers / mean service time)), each group up to its `max`; every count is then stabilized
    /// against scale-down by its own group's window.
    fn shared_counts(&mut self, peers: &[usize], measured: &[Measured], now: SimTime) -> Vec<u32> {
        let ScalingPolicy::Utilization { target, tolerance } =
            self.devices[peers[0]].pool.as_ref().expect("a pool").scaler.spec().policy
        else {
            unreachable!("validated: a shared pool uses the utilization policy")
        };
        let per_s = |e: &Self, p: usize| e.resolved.devices[p].service.batch_mean_s(1);
        let load: f64 = peers.iter().zip(measured).map(|(&p, m)| m.busy / per_s(self, p)).sum();
        let capacity: Vec<f64> = peers
            .iter()
            .map(|&p| f64::from(self.devices[p].pool.as_ref().expect("a pool").per) / per_s(self, p))
            .collect();
        fn pool<'e>(e: &'e Engine<'_>, p: usize) -> &'e Pool {
            e.devices[p].pool.as_ref().expect("a pool")
        }
        let ready_capacity: f64 =
            peers.iter().zip(&capacity).map(|(&p, c)| f64::from(pool(self, p).ready_count()) * c).sum();
        let current: Vec<u32> = peers.iter().map(|&p| pool(self, p).current()).collect();
        let hold = ready_capacity > 0.0 && (load / ready_capacity / target - 1.0).abs() <= tolerance;
        let mut counts: Vec<u32> = if hold {
            current.clone()
        } else {
            let want = load / target;
            let mut n: Vec<u32> = peers.iter().map(|&p| pool(self, p).scaler.spec().min).collect();
            let mut have: f64 = n.iter().zip(&capacity).map(|(&k, c)| f64::from(k) * c).sum();
            let mut order: Vec<usize> = (0..peers.len()).collect();
            let price = |k: usize| self.resolved.devices[peers[k]].cost_per_s / capacity[k];
            order.sort_by(|&a, &b| price(a).total_cmp(&price(b)).then(a.cmp(&b)));
            for k in order {
                let max = pool(self, peers[k]).scaler.spec().max;
                while have < want - 1e-9 && n[k] < max {
                    n[k] += 1;
                    have += capacity[k];
                }
            }
            n
        };
        for (k, &p) in peers.iter().enumerate() {
            let scaler = &mut self.devices[p].pool.as_mut().expect("a pool").scaler;
            counts[k] = scaler.stabilized(counts[k], current[k], now);
        }
        counts
    }

    /// Moves pool `di` towards `desired` ready-or-starting replicas: takes draining replicas
    /// back, starts off ones; or cancels starts, then drains the ready replicas with the most
    /// idle servers.
    pub(super) fn scale_to(&mut self, di: usize, desired: u32, now: SimTime) -> Result<(), SimError> {
        let pool = self.devices[di].pool.as_mut().expect("a pool");
        pool.desired = desired;
        let current = pool.current();
        // Replicas at and above `hi` are all off: only the first one of them is ever looked at.
        let n = pool.states.len();
        let hi = |e: &Self| e.devices[di].pool.as_ref().expect("a pool").hi;
        let state = |e: &Self, r: usize| e.devices[di].pool.as_ref().expect("a pool").states[r];
        if desired > current {
            let mut need = desired - current;
            // Draining replicas first: they are warm.
            for r in 0..hi(self) {
                if need > 0 && state(self, r) == Replica::Draining {
                    need -= 1;
                    self.replica_ready(di, r, now, false)?;
                }
            }
            let mut r = 0;
            while need > 0 && r < n {
                if state(self, r) == Replica::Off {
                    need -= 1;
                    self.replica_start(di, r, now)?;
                }
                r += 1;
            }
        } else if desired < current {
            let mut extra = current - desired;
            for r in (0..hi(self)).rev() {
                if extra > 0 && matches!(state(self, r), Replica::Starting(_)) {
                    extra -= 1;
                    self.replica_off(di, r, now);
                }
            }
            while extra > 0 {
                // The ready replica with the fewest busy servers (the highest index on a tie).
                let dev = &self.devices[di];
                let Some(r) =
                    (0..hi(self)).rev().filter(|&r| state(self, r) == Replica::Ready).min_by_key(|&r| dev.busy_r[r])
                else {
                    break;
                };
                extra -= 1;
                self.replica_drain(di, r, now);
            }
        }
        self.devices[di].pool.as_mut().expect("a pool").clocks(now);
        Ok(())
    }

    fn replica_start(&mut self, di: usize, r: usize, now: SimTime) -> Result<(), SimError> {
        let pool = self.devices[di].pool.as_mut().expect("a pool");
        pool.cold_starts += 1;
        pool.billed.add(now, 1);
        if pool.cold_start == SimTime::ZERO {
            let epoch = pool.epoch;
            self.set_state(di, r, Replica::Starting(epoch), now);
            return self.replica_ready(di, r, now, true);
        }
        pool.epoch += 1;
        let at = now.saturating_add(pool.cold_start);
        let epoch = pool.epoch;
        self.set_state(di, r, Replica::Starting(epoch), now);
        self.power_on(di, r, true, now);
        self.cal.schedule(at, Event::ReplicaReady { device: DeviceId(di as u32), replica: r as u32, epoch })?;
        Ok(())
    }

    /// A replica's ready event: ignored if its start was cancelled since.
    pub(super) fn replica_event(&mut self, di: usize, r: usize, epoch: u32, now: SimTime) -> Result<(), SimError> {
        let pool = self.devices[di].pool.as_ref().expect("a pool");
        if pool.states[r] != Replica::Starting(epoch) {
            return Ok(());
        }
        self.replica_ready(di, r, now, false)
    }

    /// Replica `r` serves from `now` (`fresh`: it was off a moment ago, turned on with no delay).
    fn replica_ready(&mut self, di: usize, r: usize, now: SimTime, fresh: bool) -> Result<(), SimError> {
        self.set_state(di, r, Replica::Ready, now);
        let pool = self.devices[di].pool.as_mut().expect("a pool");
        pool.ready.add(now, 1);
        let range = pool.servers(r);
        let ready_servers = pool.ready_count() * pool.per;
        if fresh {
            self.power_on(di, r, true, now);
        }
        let dev = &self.devices[di];
        let busy = |s: u32| !dev.servers[s as usize].jobs.is_empty();
        self.core.stations[di].unpark(range, now, busy);
        self.core.set_servers(di, ready_servers);
        self.devices[di].pool.as_mut().expect("a pool").clocks(now);
        self.dispatch(di, now)
    }

    fn replica_drain(&mut self, di: usize, r: usize, now: SimTime) {
        let pool = self.devices[di].pool.as_mut().expect("a pool");
        pool.ready.add(now, -1);
        let range = pool.servers(r);
        let ready_servers = pool.ready_count() * pool.per;
        let busy = self.core.stations[di].park(range);
        self.core.set_servers(di, ready_servers);
        if busy == 0 {
            self.replica_off(di, r, now);
        } else {
            self.set_state(di, r, Replica::Draining, now);
        }
    }

    /// Replica `r` of device `di` turns on (draws power) or off at `now`.
    pub(super) fn power_on(&mut self, di: usize, r: usize, on: bool, now: SimTime) {
        let energy = &self.energy;
        self.devices[di].repower(r, now, energy, |d| d.on_r[r] = on);
    }

    /// Replica `r` (starting or drained) is released: not billed, no power.
    fn replica_off(&mut self, di: usize, r: usize, now: SimTime) {
        self.set_state(di, r, Replica::Off, now);
        let pool = self.devices[di].pool.as_mut().expect("a pool");
        pool.scale_downs += 1;
        pool.billed.add(now, -1);
        self.power_on(di, r, false, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(k: u64) -> TimelineRow {
        TimelineRow {
            t_s: (k + 1) as f64,
            dur_s: 1.0,
            pool: 0,
            decisions: 1,
            desired: k as u32,
            ready: k as u32,
            starting: 0,
            draining: 0,
            busy: k as f64,
            in_pool: 1.0,
            arrivals: k,
            completed: 1,
            slo_met: 1,
            power_w: 10.0,
            cost_usd: 0.5,
        }
    }

    #[test]
    fn a_long_timeline_merges_in_pairs_and_keeps_its_totals() {
        let n = 3 * TIMELINE_ROWS as u64 + 5;
        let mut t = Timeline::default();
        for k in 0..n {
            t.push(row(k));
        }
        let rows = t.finish();
        assert!(rows.len() <= TIMELINE_ROWS + 1, "{}", rows.len());
        assert_eq!(rows.iter().map(|r| u64::from(r.decisions)).sum::<u64>(), n);
        assert_eq!(rows.iter().map(|r| r.arrivals).sum::<u64>(), n * (n - 1) / 2);
        assert_eq!(rows.iter().map(|r| r.dur_s).sum::<f64>(), n as f64);
        // Means are duration-weighted: the busy mean over all rows is the mean of 0..n.
        let busy = rows.iter().map(|r| r.busy * r.dur_s).sum::<f64>() / n as f64;
        assert!((busy - (n - 1) as f64 / 2.0).abs() < 1e-9);
        // States are those at the end of each row; the last row ends at the last decision.
        let last = rows.last().unwrap();
        assert_eq!((last.t_s, last.ready), (n as f64, (n - 1) as u32));
        assert!(rows.windows(2).all(|w| w[0].t_s < w[1].t_s));
    }
}
