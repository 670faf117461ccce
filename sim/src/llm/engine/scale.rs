//! Autoscaled LLM pools: a `mixed` pool of `max` replicas of which the policy keeps some ready.
//!
//! A replica is off (not routed to, not billed, no power), starting (billed, idle power, not
//! routed to; ready after provisioning, start-up and loading one device's weights), ready
//! (routed to), or draining (not routed to; finishes what it holds, then off). Decisions come
//! every `interval_s` from the pool's [`Autoscaler`] on the last interval: busy share of the
//! ready replicas (iteration time), sequences held (queued, running), arrivals, and the TTFT of
//! the requests that finished (the `slo` policy's latency). `min` ≥ 1 keeps one replica ready.

use super::{Engine, Event};
use crate::autoscale::{Autoscaler, ScalingPolicy, Tick, secs};
use crate::engine::PoolStats;
use crate::metrics::{LatencyStats, TimeIntegral};
use traces::SimTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Off,
    Starting(u32),
    Ready,
    Draining,
}

/// The engine's side of an autoscaled pool.
pub(super) struct LlmPool {
    scaler: Autoscaler,
    /// Its replicas (engine indices), in order.
    members: Vec<usize>,
    states: Vec<State>,
    epoch: u32,
    cold_start: SimTime,
    interval: SimTime,
    ready: TimeIntegral,
    billed: TimeIntegral,
    starting: u32,
    cold_starts: u64,
    scale_downs: u64,
    desired: u32,
    under: TimeIntegral,
    tick_start: SimTime,
    busy_ns0: u64,
    arrivals: u64,
    latency: LatencyStats,
    completed_total: u64,
}

impl LlmPool {
    fn current(&self) -> u32 {
        self.ready.value() as u32 + self.starting
    }

    fn member(&self, replica: usize) -> Option<usize> {
        self.members.iter().position(|&m| m == replica)
    }

    fn clock(&mut self, now: SimTime) {
        self.under.set(now, u64::from(self.desired > self.ready.value() as u32));
    }

    /// The pool's statistics at `end`.
    pub(super) fn stats(&self, end: SimTime) -> PoolStats {
        let mut p = PoolStats::measured(&self.ready, &self.billed, &self.under, end);
        (p.cold_starts, p.scale_downs) = (self.cold_starts, self.scale_downs);
        p
    }

    /// Billed replica-seconds up to `end`.
    pub(super) fn billed_s(&self, end: SimTime) -> f64 {
        self.billed.area_s_until(end)
    }
}

impl Engine {
    /// Sets up the autoscaled pools: their replicas beyond `initial` off, their first decisions
    /// scheduled.
    pub(super) fn init_pools(&mut self) {
        self.routable_entry = self.entry.clone();
        let weight_gb = self.r.weight_bytes / f64::from(self.r.spec.tensor_parallel) / 1e9;
        for (pi, p) in self.r.spec.pools.clone().iter().enumerate() {
            let Some(a) = &p.autoscale else {
                self.pools.push(None);
                continue;
            };
            let members: Vec<usize> = (0..self.r.replicas.len()).filter(|&i| self.r.replicas[i].pool == pi).collect();
            let initial = match a.policy {
                ScalingPolicy::Schedule { .. } => {
                    Autoscaler::new(a, 1, 0.0).scheduled(SimTime::ZERO).clamp(a.min, a.max)
                }
                _ => a.initial(),
            };
            let kind_rate = self.r.replicas.iter().find(|x| x.pool == pi).and_then(|x| x.kind.load_gb_s);
            let cold = a.cold_start_s(weight_gb, kind_rate);
            let mut states = vec![State::Off; members.len()];
            states[..initial as usize].fill(State::Ready);
            for (k, &m) in members.iter().enumerate() {
                if states[k] == State::Off {
                    self.set_routable(m, false);
                    self.replicas[m].meter.set(SimTime::ZERO, 0.0, &self.energy);
                }
            }
            let mut ready = TimeIntegral::default();
            ready.set(SimTime::ZERO, u64::from(initial));
            let interval = secs(a.interval_s);
            self.cal.schedule(interval, Event::Autoscale(pi)).expect("a positive interval");
            self.pools.push(Some(LlmPool {
                scaler: Autoscaler::new(a, 1, cold),
                members,
                states,
                epoch: 0,
                cold_start: secs(cold),
                interval,
                ready,
                billed: ready,
                starting: 0,
                cold_starts: 0,
                scale_downs: 0,
                desired: initial,
                under: TimeIntegral::default(),
                tick_start: SimTime::ZERO,
                busy_ns0: 0,
                arrivals: 0,
                latency: LatencyStats::default(),
                completed_total: 0,
            }));
        }
    }

    /// A request was routed to replica `r`.
    pub(super) fn pool_arrival(&mut self, r: usize) {
        if let Some(Some(p)) = self.pools.get_mut(self.r.replicas[r].pool) {
            p.arrivals += 1;
        }
    }

    /// A request that entered by replica `r` finished with `ttft`.
    pub(super) fn pool_finished(&mut self, r: usize, ttft: SimTime) {
        if let Some(Some(p)) = self.pools.get_mut(self.r.replicas[r].pool) {
            p.latency.record(ttft);
            p.completed_total += 1;
        }
    }

    /// After an iteration of replica `r`: a draining replica that holds nothing turns off.
    pub(super) fn pool_idle_check(&mut self, r: usize, now: SimTime) {
        let pi = self.r.replicas[r].pool;
        let Some(Some(p)) = self.pools.get(pi) else {
            return;
        };
        let k = p.member(r).expect("a member");
        let x = &self.replicas[r];
        if p.states[k] == State::Draining && x.load() == 0 && x.plan.is_none() {
            self.replica_off(pi, k, now);
        }
    }

    /// Pool `pi`'s periodic decision.
    pub(super) fn pool_tick(&mut self, pi: usize, now: SimTime) {
        let p = self.pools[pi].as_ref().expect("a pool");
        let busy_ns: u64 = p.members.iter().map(|&m| self.replicas[m].busy_ns).sum();
        let held: usize = p
            .members
            .iter()
            .enumerate()
            .filter(|(k, _)| matches!(p.states[*k], State::Ready | State::Draining))
            .map(|(_, &m)| self.replicas[m].load())
            .sum();
        let p = self.pools[pi].as_mut().expect("a pool");
        let dur = (now - p.tick_start).as_secs_f64();
        let tick = Tick {
            dur_s: dur,
            busy: if dur > 0.0 { (busy_ns - p.busy_ns0) as f64 / 1e9 / dur } else { 0.0 },
            concurrency: held as f64,
            arrivals: p.arrivals,
            latency: std::mem::take(&mut p.latency),
            occupancy_s: if p.completed_total > 0 { busy_ns as f64 / 1e9 / p.completed_total as f64 } else { 0.0 },
        };
        p.tick_start = now;
        p.busy_ns0 = busy_ns;
        p.arrivals = 0;
        let (current, ready) = (p.current(), p.ready.value() as u32);
        let desired = p.scaler.decide(tick, current, ready, now);
        self.scale_to(pi, desired, now);
        let p = self.pools[pi].as_ref().expect("a pool");
        let reactive =
            !matches!(p.scaler.spec().policy, ScalingPolicy::Schedule { .. } | ScalingPolicy::Predictive { .. });
        let live = self.seqs.iter().any(Option::is_some);
        if !self.arrivals_done || self.turns_in_flight > 0 || live || (reactive && p.current() > p.scaler.spec().min) {
            let at = now.saturating_add(p.interval);
            self.cal.schedule(at, Event::Autoscale(pi)).expect("decisions are in the future");
        }
    }

    fn scale_to(&mut self, pi: usize, desired: u32, now: SimTime) {
        let p = self.pools[pi].as_mut().expect("a pool");
        p.desired = desired;
        let current = p.current();
        let n = p.states.len();
        let state = |e: &Self, k: usize| e.pools[pi].as_ref().expect("a pool").states[k];
        if desired > current {
            let mut need = desired - current;
            for k in 0..n {
                if need > 0 && state(self, k) == State::Draining {
                    need -= 1;
                    self.replica_ready(pi, k, now);
                }
            }
            for k in 0..n {
                if need > 0 && state(self, k) == State::Off {
                    need -= 1;
                    self.replica_start(pi, k, now);
                }
            }
        } else if desired < current {
            let mut extra = current - desired;
            for k in (0..n).rev() {
                if extra > 0 && matches!(state(self, k), State::Starting(_)) {
                    extra -= 1;
                    self.replica_off(pi, k, now);
                }
            }
            while extra > 0 {
                // The ready replica holding the fewest sequences (the last on a tie).
                let members = &self.pools[pi].as_ref().expect("a pool").members;
                let Some(k) = (0..n)
                    .rev()
                    .filter(|&k| state(self, k) == State::Ready)
                    .min_by_key(|&k| self.replicas[members[k]].load())
                else {
                    break;
                };
                extra -= 1;
                self.replica_drain(pi, k, now);
            }
        }
        self.pools[pi].as_mut().expect("a pool").clock(now);
    }

    fn replica_start(&mut self, pi: usize, k: usize, now: SimTime) {
        let p = self.pools[pi].as_mut().expect("a pool");
        p.cold_starts += 1;
        p.billed.add(now, 1);
        p.epoch += 1;
        p.states[k] = State::Starting(p.epoch);
        p.starting += 1;
        let (m, at, epoch) = (p.members[k], now.saturating_add(p.cold_start), p.epoch);
        self.power(m, true, now);
        self.cal.schedule(at, Event::ReplicaReady(m, epoch)).expect("ready in the future");
    }

    /// Replica `m`'s cold start ended (ignored if that start was cancelled).
    pub(super) fn replica_event(&mut self, m: usize, epoch: u32, now: SimTime) {
        let pi = self.r.replicas[m].pool;
        let p = self.pools[pi].as_ref().expect("a pool");
        let k = p.member(m).expect("a member");
        if p.states[k] == State::Starting(epoch) {
            self.replica_ready(pi, k, now);
        }
    }

    fn replica_ready(&mut self, pi: usize, k: usize, now: SimTime) {
        let p = self.pools[pi].as_mut().expect("a pool");
        if matches!(p.states[k], State::Starting(_)) {
            p.starting -= 1;
        }
        p.states[k] = State::Ready;
        p.ready.add(now, 1);
        let m = p.members[k];
        p.clock(now);
        self.set_routable(m, true);
        self.kick(m, now);
    }

    fn replica_drain(&mut self, pi: usize, k: usize, now: SimTime) {
        let p = self.pools[pi].as_mut().expect("a pool");
        p.states[k] = State::Draining;
        p.ready.add(now, -1);
        let m = p.members[k];
        self.set_routable(m, false);
        self.pool_idle_check(m, now);
    }

    fn replica_off(&mut self, pi: usize, k: usize, now: SimTime) {
        let p = self.pools[pi].as_mut().expect("a pool");
        if matches!(p.states[k], State::Starting(_)) {
            p.starting -= 1;
        }
        p.states[k] = State::Off;
        p.scale_downs += 1;
        p.billed.add(now, -1);
        let m = p.members[k];
        self.set_routable(m, false);
        self.power(m, false, now);
    }

    /// Whether arrivals may be routed to replica `m` (ready), with the list the router reads.
    fn set_routable(&mut self, m: usize, on: bool) {
        self.routable[m] = on;
        self.routable_entry = self.entry.iter().copied().filter(|&i| self.routable[i]).collect();
    }

    /// Replica `m` turns on (idle power) or off (none) at `now`.
    fn power(&mut self, m: usize, on: bool, now: SimTime) {
        let x = &mut self.replicas[m];
        if let Some((idle, _)) = x.power {
            x.meter.set(now, if on { idle } else { 0.0 }, &self.energy);
        }
    }
}
