//! Autoscaling of a device pool: the policies, as pure controllers over what the engine measured
//! since the last decision. No clock and no events: the engine ticks them
//! (`engine::pool` carries the decisions out: starts, cold starts, draining).
//!
//! A pool scales in replicas of `servers` servers each. Every `interval_s` the engine hands the
//! controller one [`Tick`] (mean busy servers, mean requests in the pool, arrivals, the latencies
//! of the requests that finished) and the current replica count (ready + starting); the policy
//! recommends a count, which is clamped to `[min, max]`. Scale-down is stabilized as
//! Kubernetes' HPA does it: a recommendation below the current count is replaced by the highest
//! recommendation of the last `scale_down_delay_s` (never above the current count), so a short
//! lull does not release capacity that the next burst needs.
//!
//! | policy | recommendation |
//! |---|---|
//! | `utilization` (HPA) | ⌈busy servers / (servers per replica · target)⌉; unchanged within ± `tolerance` of the target |
//! | `concurrency` (Knative KPA) | ⌈mean requests in the pool over the stable window / target⌉; panic mode when the panic window asks for `panic_threshold` × the ready count: no scale-down for a stable window |
//! | `slo` | quantile of the finished requests' latency over the window above the target: × min(2, q / target); below `scale_down_below` × target: one fewer |
//! | `predictive` | additive Holt–Winters forecast of the arrival rate one start-up ahead × measured busy time per request / (servers per replica · target), never below `utilization`'s |
//! | `schedule` | the replicas of the step in force (cyclic with `period_s`) |
//!
//! With `interval_s = 0` a `concurrency` policy decides at every arrival and completion on the
//! instantaneous count (Knative's activator with target 1 and no delays is M/M/∞).

use crate::check::{ConfigError, MAX_REPLICAS, non_negative, positive};
use crate::metrics::LatencyStats;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use traces::SimTime;

/// `[devices.autoscale]`: how a device group's replica count follows the load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSpec {
    /// Fewest replicas (0: scale to zero; the first request then waits for a cold start).
    pub min: u32,
    /// Most replicas.
    pub max: u32,
    /// Replicas ready at time 0 (default `min`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<u32>,
    /// The policy.
    pub policy: ScalingPolicy,
    /// Seconds between decisions (default 15, HPA's sync period); 0: at every arrival and
    /// completion (`concurrency` only).
    #[serde(default = "default_interval")]
    pub interval_s: f64,
    /// Scale-down stabilization window, s (default 300, HPA's): a lower count is used only when
    /// every recommendation of the window was at most it.
    #[serde(default = "default_down_delay")]
    pub scale_down_delay_s: f64,
    /// Node provisioning delay before the model can load, s (default 0: a node is at hand).
    #[serde(default)]
    pub provision_s: f64,
    /// Fixed start-up of the server process (container, runtime, warm-up), s (default 0).
    #[serde(default)]
    pub startup_s: f64,
    /// Bytes to load, GB (default: the group's variant's weights; 0 without a variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_gb: Option<f64>,
    /// Read rate of the weights onto the device, GB/s (default: the device kind's `load_gb_s`,
    /// its host-to-device link; else 2, network or NVMe storage). Give the storage's rate when
    /// the weights are not in host memory already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_gb_s: Option<f64>,
    /// A heterogeneous pool: device groups naming the same pool share one controller (the first
    /// group's `utilization` policy, decision interval and target), which sizes their total
    /// capacity and fills it from the kind with the lowest price per unit of capacity first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

fn default_interval() -> f64 {
    15.0
}
fn default_down_delay() -> f64 {
    300.0
}
/// Load rate when neither the spec nor the device kind gives one, GB/s.
pub const DEFAULT_LOAD_GB_S: f64 = 2.0;
fn default_tolerance() -> f64 {
    0.1
}
fn default_stable() -> f64 {
    60.0
}
fn default_panic() -> f64 {
    6.0
}
fn default_panic_threshold() -> f64 {
    2.0
}
fn default_quantile() -> f64 {
    0.99
}
fn default_scale_down_below() -> f64 {
    0.5
}
fn default_alpha() -> f64 {
    0.5
}
fn default_beta() -> f64 {
    0.05
}
fn default_gamma() -> f64 {
    0.3
}

/// A scaling policy (`[devices.autoscale.policy]`, `kind = …`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScalingPolicy {
    /// Target utilization of the ready replicas' servers (Kubernetes HPA).
    Utilization {
        /// Target busy share in (0, 1].
        target: f64,
        /// No change while utilization / target is within 1 ± tolerance (default 0.1).
        #[serde(default = "default_tolerance")]
        tolerance: f64,
    },
    /// Target requests in flight per replica (Knative KPA).
    Concurrency {
        /// Requests per replica (> 0).
        target: f64,
        /// Averaging window, s (default 60).
        #[serde(default = "default_stable")]
        stable_window_s: f64,
        /// Short window that triggers panic mode, s (default 6).
        #[serde(default = "default_panic")]
        panic_window_s: f64,
        /// Panic when the short window asks for this multiple of the ready replicas (default 2).
        #[serde(default = "default_panic_threshold")]
        panic_threshold: f64,
    },
    /// Latency feedback: scale on a latency quantile over a window.
    Slo {
        /// Target, ms.
        latency_ms: f64,
        /// Quantile in (0, 1] (default 0.99).
        #[serde(default = "default_quantile")]
        quantile: f64,
        /// Window, s (default 60).
        #[serde(default = "default_stable")]
        window_s: f64,
        /// One replica fewer while the quantile is below this share of the target (default 0.5).
        #[serde(default = "default_scale_down_below")]
        scale_down_below: f64,
    },
    /// Forecast of the arrival rate (additive Holt–Winters over the run's own history).
    Predictive {
        /// Target utilization in (0, 1].
        target: f64,
        /// Season length, s (e.g. 86400 for a daily cycle); a multiple of `interval_s`.
        season_s: f64,
        /// Level smoothing in (0, 1] (default 0.5).
        #[serde(default = "default_alpha")]
        alpha: f64,
        /// Trend smoothing in [0, 1] (default 0.05).
        #[serde(default = "default_beta")]
        beta: f64,
        /// Season smoothing in [0, 1] (default 0.3).
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
    /// Replicas by time of day (or any period).
    Schedule {
        /// Steps (sorted by `at_s`; the first applies from time 0 until the second).
        steps: Vec<ScheduleStep>,
        /// Repeat every this many seconds (absent: the last step holds forever).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        period_s: Option<f64>,
    },
}

/// From `at_s` on, `replicas` replicas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleStep {
    /// Start, s (within the period).
    pub at_s: f64,
    /// Replicas.
    pub replicas: u32,
}

fn unit(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("must be in (0, 1], got {v}")))
    }
}

fn share(key: &str, v: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("must be in [0, 1], got {v}")))
    }
}

impl AutoscaleSpec {
    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.max == 0 || self.max > MAX_REPLICAS {
            return Err(ConfigError::invalid(&format!("{key}.max"), format!("must be in 1..={MAX_REPLICAS}")));
        }
        if self.min > self.max {
            return Err(ConfigError::invalid(
                &format!("{key}.min"),
                format!("{} is more than max = {}", self.min, self.max),
            ));
        }
        if let Some(i) = self.initial
            && !(self.min..=self.max).contains(&i)
        {
            return Err(ConfigError::invalid(
                &format!("{key}.initial"),
                format!("{i} is outside [min, max] = [{}, {}]", self.min, self.max),
            ));
        }
        non_negative(&format!("{key}.interval_s"), self.interval_s)?;
        non_negative(&format!("{key}.scale_down_delay_s"), self.scale_down_delay_s)?;
        non_negative(&format!("{key}.provision_s"), self.provision_s)?;
        non_negative(&format!("{key}.startup_s"), self.startup_s)?;
        if let Some(g) = self.model_gb {
            non_negative(&format!("{key}.model_gb"), g)?;
        }
        if let Some(r) = self.load_gb_s {
            positive(&format!("{key}.load_gb_s"), r)?;
        }
        let p = format!("{key}.policy");
        if self.interval_s == 0.0 && !matches!(self.policy, ScalingPolicy::Concurrency { .. }) {
            return Err(ConfigError::invalid(
                &format!("{key}.interval_s"),
                "0 (decide at every arrival and completion) needs a `concurrency` policy",
            ));
        }
        match &self.policy {
            ScalingPolicy::Utilization { target, tolerance } => {
                unit(&format!("{p}.target"), *target)?;
                share(&format!("{p}.tolerance"), *tolerance)?;
            }
            ScalingPolicy::Concurrency { target, stable_window_s, panic_window_s, panic_threshold } => {
                positive(&format!("{p}.target"), *target)?;
                non_negative(&format!("{p}.stable_window_s"), *stable_window_s)?;
                non_negative(&format!("{p}.panic_window_s"), *panic_window_s)?;
                if panic_window_s > stable_window_s {
                    return Err(ConfigError::invalid(
                        &format!("{p}.panic_window_s"),
                        format!("{panic_window_s} is longer than stable_window_s = {stable_window_s}"),
                    ));
                }
                if !(panic_threshold.is_finite() && *panic_threshold >= 1.0) {
                    return Err(ConfigError::invalid(
                        &format!("{p}.panic_threshold"),
                        format!("must be at least 1, got {panic_threshold}"),
                    ));
                }
            }
            ScalingPolicy::Slo { latency_ms, quantile, window_s, scale_down_below } => {
                positive(&format!("{p}.latency_ms"), *latency_ms)?;
                unit(&format!("{p}.quantile"), *quantile)?;
                positive(&format!("{p}.window_s"), *window_s)?;
                share(&format!("{p}.scale_down_below"), *scale_down_below)?;
            }
            ScalingPolicy::Predictive { target, season_s, alpha, beta, gamma } => {
                unit(&format!("{p}.target"), *target)?;
                positive(&format!("{p}.season_s"), *season_s)?;
                unit(&format!("{p}.alpha"), *alpha)?;
                share(&format!("{p}.beta"), *beta)?;
                share(&format!("{p}.gamma"), *gamma)?;
                let ticks = season_s / self.interval_s;
                if (ticks - ticks.round()).abs() > 1e-9 || ticks < 2.0 {
                    return Err(ConfigError::invalid(
                        &format!("{p}.season_s"),
                        format!("must be a multiple (at least 2) of interval_s = {}, got {season_s}", self.interval_s),
                    ));
                }
            }
            ScalingPolicy::Schedule { steps, period_s } => {
                if steps.is_empty() {
                    return Err(ConfigError::invalid(&format!("{p}.steps"), "at least one step is needed"));
                }
                for (i, s) in steps.iter().enumerate() {
                    non_negative(&format!("{p}.steps[{i}].at_s"), s.at_s)?;
                    if i > 0 && s.at_s <= steps[i - 1].at_s {
                        return Err(ConfigError::invalid(
                            &format!("{p}.steps[{i}].at_s"),
                            "steps must be in increasing order of at_s",
                        ));
                    }
                }
                if let Some(period) = period_s {
                    positive(&format!("{p}.period_s"), *period)?;
                    if steps.last().is_some_and(|s| s.at_s >= *period) {
                        return Err(ConfigError::invalid(
                            &format!("{p}.period_s"),
                            format!("every step's at_s must be below the period {period}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Replicas ready at time 0.
    pub fn initial(&self) -> u32 {
        self.initial.unwrap_or(self.min)
    }

    /// Seconds from deciding to start a replica until it serves: provisioning, start-up and the
    /// model load: `model_gb` (default `variant_gb`) / `load_gb_s` (default `kind_gb_s`, the device
    /// kind's load rate, else [`DEFAULT_LOAD_GB_S`]).
    pub fn cold_start_s(&self, variant_gb: f64, kind_gb_s: Option<f64>) -> f64 {
        let rate = self.load_gb_s.or(kind_gb_s).unwrap_or(DEFAULT_LOAD_GB_S);
        self.provision_s + self.startup_s + self.model_gb.unwrap_or(variant_gb) / rate
    }
}

/// `v` seconds (validated finite and non-negative; beyond the clock's range: forever).
pub fn secs(v: f64) -> SimTime {
    SimTime::from_secs_f64(v).unwrap_or(SimTime::MAX)
}

/// What the engine measured over one decision interval of a pool.
#[derive(Clone, Default)]
pub struct Tick {
    /// Length of the interval, s.
    pub dur_s: f64,
    /// Mean busy servers.
    pub busy: f64,
    /// Mean requests in the pool (queued and in service).
    pub concurrency: f64,
    /// Requests that arrived at the pool.
    pub arrivals: u64,
    /// Latencies of the requests the pool finished.
    pub latency: LatencyStats,
    /// Busy server-seconds per finished request over the whole run so far (0: none yet).
    pub occupancy_s: f64,
}

/// Additive Holt–Winters (level, trend and a season of `m` ticks).
#[derive(Clone, Debug)]
struct HoltWinters {
    alpha: f64,
    beta: f64,
    gamma: f64,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    /// Observations so far.
    n: usize,
}

impl HoltWinters {
    fn new(m: usize, alpha: f64, beta: f64, gamma: f64) -> Self {
        HoltWinters { alpha, beta, gamma, level: 0.0, trend: 0.0, season: vec![0.0; m], n: 0 }
    }

    /// Adds observation `x` (the first season initializes: level its mean, each season index its
    /// deviation from it).
    fn observe(&mut self, x: f64) {
        let m = self.season.len();
        let i = self.n % m;
        if self.n < m {
            self.season[i] = x;
            if self.n + 1 == m {
                self.level = self.season.iter().sum::<f64>() / m as f64;
                let level = self.level;
                self.season.iter_mut().for_each(|s| *s -= level);
            }
        } else {
            let prev = self.level;
            self.level = self.alpha * (x - self.season[i]) + (1.0 - self.alpha) * (prev + self.trend);
            self.trend = self.beta * (self.level - prev) + (1.0 - self.beta) * self.trend;
            self.season[i] = self.gamma * (x - self.level) + (1.0 - self.gamma) * self.season[i];
        }
        self.n += 1;
    }

    /// Forecast `h` ≥ 1 observations ahead; before a full season, the last observation.
    fn forecast(&self, h: usize, last: f64) -> f64 {
        let m = self.season.len();
        if self.n < m {
            return last;
        }
        (self.level + h as f64 * self.trend + self.season[(self.n + h - 1) % m]).max(0.0)
    }
}

/// A pool's controller: the policy and the history it needs.
#[derive(Clone)]
pub struct Autoscaler {
    spec: AutoscaleSpec,
    servers_per_replica: f64,
    /// Ticks of the cold start (forecast horizon of `predictive`).
    lead_ticks: usize,
    /// Recent ticks' (concurrency, latencies) for windowed policies, newest last.
    window: VecDeque<(f64, LatencyStats)>,
    /// (time, recommendation) within the scale-down window.
    recent: VecDeque<(SimTime, u32)>,
    panic_until: Option<SimTime>,
    hw: Option<HoltWinters>,
    last_rate: f64,
}

impl Autoscaler {
    /// The controller of a pool of replicas of `servers_per_replica` servers whose cold start
    /// takes `cold_start_s`.
    pub fn new(spec: &AutoscaleSpec, servers_per_replica: u32, cold_start_s: f64) -> Self {
        let interval = spec.interval_s.max(f64::MIN_POSITIVE);
        let hw = match spec.policy {
            ScalingPolicy::Predictive { season_s, alpha, beta, gamma, .. } => {
                Some(HoltWinters::new((season_s / interval).round() as usize, alpha, beta, gamma))
            }
            _ => None,
        };
        Autoscaler {
            spec: spec.clone(),
            servers_per_replica: f64::from(servers_per_replica),
            lead_ticks: (cold_start_s / interval).ceil() as usize + 1,
            window: VecDeque::new(),
            recent: VecDeque::new(),
            panic_until: None,
            hw,
            last_rate: 0.0,
        }
    }

    /// The spec.
    pub fn spec(&self) -> &AutoscaleSpec {
        &self.spec
    }

    fn ticks(&self, seconds: f64) -> usize {
        if self.spec.interval_s == 0.0 { 1 } else { ((seconds / self.spec.interval_s).ceil() as usize).max(1) }
    }

    /// Replicas for the next interval, given what the last one measured, `current` replicas
    /// (ready and starting) and `ready` of them serving, at `now` (the end of the interval).
    pub fn decide(&mut self, tick: Tick, current: u32, ready: u32, now: SimTime) -> u32 {
        let per = self.servers_per_replica;
        let reactive = |busy: f64, target: f64| (busy / (per * target) - 1e-9).ceil().max(0.0) as u32;
        let raw = match self.spec.policy.clone() {
            ScalingPolicy::Utilization { target, tolerance } => {
                let ready_servers = f64::from(ready) * per;
                let u = if ready_servers > 0.0 { tick.busy / ready_servers } else { f64::INFINITY };
                let within = ready > 0 && (u / target - 1.0).abs() <= tolerance;
                if within || (ready == 0 && tick.concurrency == 0.0) {
                    current
                } else {
                    reactive(tick.busy, target).max(u32::from(tick.concurrency > 0.0))
                }
            }
            ScalingPolicy::Concurrency { target, stable_window_s, panic_window_s, panic_threshold } => {
                self.push(tick.concurrency, tick.latency, stable_window_s);
                let mean = |n: usize, w: &VecDeque<(f64, LatencyStats)>| {
                    let k = n.min(w.len()).max(1);
                    w.iter().rev().take(k).map(|(c, _)| c).sum::<f64>() / k as f64
                };
                let stable = (mean(self.ticks(stable_window_s), &self.window) / target - 1e-9).ceil().max(0.0) as u32;
                let panic = (mean(self.ticks(panic_window_s), &self.window) / target - 1e-9).ceil().max(0.0) as u32;
                if ready > 0 && f64::from(panic) >= panic_threshold * f64::from(ready) {
                    self.panic_until = Some(now.saturating_add(secs(stable_window_s)));
                }
                if self.panic_until.is_some_and(|t| now < t) {
                    panic.max(stable).max(current)
                } else {
                    self.panic_until = None;
                    stable
                }
            }
            ScalingPolicy::Slo { latency_ms, quantile, window_s, scale_down_below } => {
                let busy_now = tick.concurrency;
                self.push(tick.concurrency, tick.latency, window_s);
                let mut merged = LatencyStats::default();
                for (_, l) in &self.window {
                    merged.merge(l);
                }
                if merged.count() == 0 {
                    if busy_now > 0.0 { current.max(1) } else { current.saturating_sub(1) }
                } else {
                    let q = merged.quantile_s(quantile) * 1e3;
                    if q > latency_ms {
                        let grow = (f64::from(current.max(1)) * (q / latency_ms).min(2.0)).ceil() as u32;
                        grow.max(current + 1)
                    } else if q < scale_down_below * latency_ms {
                        current.saturating_sub(1).max(u32::from(busy_now > 0.0))
                    } else {
                        current
                    }
                }
            }
            ScalingPolicy::Predictive { target, .. } => {
                let rate = if tick.dur_s > 0.0 { tick.arrivals as f64 / tick.dur_s } else { 0.0 };
                let hw = self.hw.as_mut().expect("a predictive policy has its model");
                hw.observe(rate);
                self.last_rate = rate;
                let forecast = hw.forecast(self.lead_ticks, rate);
                let predicted = (forecast * tick.occupancy_s / (per * target) - 1e-9).ceil().max(0.0) as u32;
                predicted.max(reactive(tick.busy, target)).max(u32::from(tick.concurrency > 0.0))
            }
            ScalingPolicy::Schedule { .. } => return self.scheduled(now).clamp(self.spec.min, self.spec.max),
        };
        self.stabilize(raw.clamp(self.spec.min, self.spec.max), current, now)
    }

    /// `rec` replicas clamped to the bounds and stabilized against scale-down like every decision
    /// (a shared pool's controller decides its groups' counts itself).
    pub fn stabilized(&mut self, rec: u32, current: u32, now: SimTime) -> u32 {
        self.stabilize(rec.clamp(self.spec.min, self.spec.max), current, now)
    }

    /// The instantaneous decision of a `concurrency` policy with `interval_s = 0`: ⌈in pool /
    /// target⌉, stabilized.
    pub fn decide_instant(&mut self, in_pool: u64, current: u32, now: SimTime) -> u32 {
        let ScalingPolicy::Concurrency { target, .. } = self.spec.policy else {
            unreachable!("validated: interval 0 needs a concurrency policy")
        };
        let raw = (in_pool as f64 / target - 1e-9).ceil().max(0.0) as u32;
        self.stabilize(raw.clamp(self.spec.min, self.spec.max), current, now)
    }

    /// Replicas the schedule asks for at `now`.
    pub fn scheduled(&self, now: SimTime) -> u32 {
        let ScalingPolicy::Schedule { steps, period_s } = &self.spec.policy else {
            return self.spec.initial();
        };
        let t = now.as_secs_f64();
        let t = period_s.map_or(t, |p| t.rem_euclid(p));
        steps.iter().rev().find(|s| s.at_s <= t).unwrap_or(&steps[0]).replicas
    }

    fn push(&mut self, concurrency: f64, latency: LatencyStats, window_s: f64) {
        self.window.push_back((concurrency, latency));
        let keep = self.ticks(window_s);
        while self.window.len() > keep {
            self.window.pop_front();
        }
    }

    /// HPA's scale-down stabilization: below `current`, the highest recommendation of the window.
    fn stabilize(&mut self, rec: u32, current: u32, now: SimTime) -> u32 {
        let delay = secs(self.spec.scale_down_delay_s);
        self.recent.push_back((now, rec));
        while self.recent.front().is_some_and(|(t, _)| now.saturating_sub(*t) > delay) {
            self.recent.pop_front();
        }
        if rec >= current {
            rec
        } else {
            let highest = self.recent.iter().map(|(_, r)| *r).max().unwrap_or(rec);
            highest.min(current)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(policy: ScalingPolicy) -> AutoscaleSpec {
        AutoscaleSpec {
            min: 1,
            max: 10,
            initial: None,
            policy,
            interval_s: 10.0,
            scale_down_delay_s: 0.0,
            provision_s: 0.0,
            startup_s: 0.0,
            model_gb: None,
            load_gb_s: None,
            pool: None,
        }
    }

    fn s(v: f64) -> SimTime {
        secs(v)
    }

    fn tick(busy: f64, concurrency: f64) -> Tick {
        Tick { dur_s: 10.0, busy, concurrency, ..Tick::default() }
    }

    #[test]
    fn utilization_asks_for_busy_over_target_and_holds_within_the_tolerance() {
        let mut a = Autoscaler::new(&spec(ScalingPolicy::Utilization { target: 0.5, tolerance: 0.1 }), 2, 0.0);
        // 3 busy servers of 2 replicas x 2 servers = 75 % vs 50 %: 3 / (2 x 0.5) = 3 replicas.
        assert_eq!(a.decide(tick(3.0, 3.0), 2, 2, s(10.0)), 3);
        // 2.1 busy of 4 servers: 52.5 %, within 10 % of the target: unchanged.
        assert_eq!(a.decide(tick(2.1, 2.1), 2, 2, s(20.0)), 2);
        // Idle: the minimum.
        assert_eq!(a.decide(tick(0.0, 0.0), 4, 4, s(30.0)), 1);
        // Capped at max.
        assert_eq!(a.decide(tick(40.0, 40.0), 4, 4, s(40.0)), 10);
    }

    #[test]
    fn scale_down_waits_for_the_highest_recommendation_of_the_window() {
        let mut sp = spec(ScalingPolicy::Utilization { target: 0.5, tolerance: 0.0 });
        sp.scale_down_delay_s = 25.0;
        let mut a = Autoscaler::new(&sp, 1, 0.0);
        assert_eq!(a.decide(tick(3.0, 3.0), 6, 6, s(10.0)), 6); // asks 6
        assert_eq!(a.decide(tick(1.0, 1.0), 6, 6, s(20.0)), 6); // asks 2; 6 was asked 10 s ago
        assert_eq!(a.decide(tick(1.0, 1.0), 6, 6, s(30.0)), 6); // 20 s ago: still in the window
        assert_eq!(a.decide(tick(1.0, 1.0), 6, 6, s(40.0)), 2); // 30 s ago: out
        // Up at once, whatever the window holds.
        assert_eq!(a.decide(tick(4.0, 4.0), 2, 2, s(50.0)), 8);
    }

    #[test]
    fn concurrency_averages_the_stable_window_and_panics_on_a_burst() {
        let p = ScalingPolicy::Concurrency {
            target: 2.0,
            stable_window_s: 60.0,
            panic_window_s: 10.0,
            panic_threshold: 2.0,
        };
        let mut a = Autoscaler::new(&spec(p), 1, 0.0);
        for k in 1..=6 {
            assert_eq!(a.decide(tick(4.0, 4.0), 2, 2, s(10.0 * f64::from(k))), 2);
        }
        // A burst: 20 in flight for one tick; the stable mean is (5 x 4 + 20) / 6 = 6.67 -> 4,
        // the panic window asks 10 >= 2 x 2 ready: panic, so 10.
        assert_eq!(a.decide(tick(20.0, 20.0), 2, 2, s(70.0)), 10);
        // Load gone, but in panic (60 s) nothing is released.
        assert_eq!(a.decide(tick(0.0, 0.0), 10, 10, s(80.0)), 10);
        // After the panic window of 60 s, the stable mean rules again: (20 + 0 x 5) / 6 -> 2.
        for k in 9..=13 {
            a.decide(tick(0.0, 0.0), 10, 10, s(10.0 * f64::from(k)));
        }
        assert_eq!(a.decide(tick(0.0, 0.0), 10, 10, s(140.0)), 1);
    }

    #[test]
    fn the_instant_policy_follows_the_count_in_the_pool() {
        let mut sp = spec(ScalingPolicy::Concurrency {
            target: 1.0,
            stable_window_s: 0.0,
            panic_window_s: 0.0,
            panic_threshold: 2.0,
        });
        sp.interval_s = 0.0;
        sp.min = 0;
        let mut a = Autoscaler::new(&sp, 1, 0.0);
        assert_eq!(a.decide_instant(3, 0, s(1.0)), 3);
        assert_eq!(a.decide_instant(0, 3, s(2.0)), 0);
    }

    #[test]
    fn schedules_repeat_with_their_period() {
        let p = ScalingPolicy::Schedule {
            steps: vec![ScheduleStep { at_s: 0.0, replicas: 2 }, ScheduleStep { at_s: 100.0, replicas: 5 }],
            period_s: Some(200.0),
        };
        let a = Autoscaler::new(&spec(p), 1, 0.0);
        assert_eq!([50.0, 150.0, 250.0, 399.0].map(|t| a.scheduled(s(t))), [2, 5, 2, 5]);
    }

    #[test]
    fn holt_winters_learns_a_seasonal_pattern() {
        // A season of 4: 10, 20, 30, 20 repeated; after a few seasons the forecast of the next
        // value is the pattern's.
        let mut hw = HoltWinters::new(4, 0.5, 0.05, 0.3);
        let pattern = [10.0, 20.0, 30.0, 20.0];
        for k in 0..40 {
            hw.observe(pattern[k % 4]);
        }
        for h in 1..=4 {
            assert!((hw.forecast(h, 0.0) - pattern[(40 + h - 1) % 4]).abs() < 1e-6, "{h}");
        }
    }

    #[test]
    fn a_cold_start_loads_the_weights_at_the_spec_s_rate_else_the_kind_s() {
        let mut sp = spec(ScalingPolicy::Utilization { target: 0.5, tolerance: 0.1 });
        (sp.provision_s, sp.startup_s) = (60.0, 20.0);
        // 16 GB at the kind's 25 GB/s, at the default 2 GB/s without one, at the spec's 4 GB/s.
        assert!((sp.cold_start_s(16.0, Some(25.0)) - 80.64).abs() < 1e-12);
        assert!((sp.cold_start_s(16.0, None) - 88.0).abs() < 1e-12);
        sp.load_gb_s = Some(4.0);
        assert!((sp.cold_start_s(16.0, Some(25.0)) - 84.0).abs() < 1e-12);
        sp.model_gb = Some(0.0);
        assert_eq!(sp.cold_start_s(16.0, Some(25.0)), 80.0);
    }

    #[test]
    fn bad_specs_name_the_key() {
        let mut sp = spec(ScalingPolicy::Utilization { target: 1.5, tolerance: 0.1 });
        assert!(sp.validate("a").unwrap_err().to_string().contains("a.policy.target"));
        sp.policy = ScalingPolicy::Utilization { target: 0.5, tolerance: 0.1 };
        sp.min = 11;
        assert!(sp.validate("a").unwrap_err().to_string().contains("a.min"));
        sp.min = 0;
        sp.interval_s = 0.0;
        assert!(sp.validate("a").unwrap_err().to_string().contains("a.interval_s"));
        sp.interval_s = 7.0;
        sp.policy = ScalingPolicy::Predictive { target: 0.5, season_s: 100.0, alpha: 0.5, beta: 0.1, gamma: 0.1 };
        assert!(sp.validate("a").unwrap_err().to_string().contains("a.policy.season_s"));
    }
}
