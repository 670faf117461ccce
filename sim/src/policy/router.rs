//! Routing: which device (replica) a request goes to.

use crate::check::ConfigError;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use traces::SimTime;
use traces::rng::StreamRng;

/// What a router sees of one device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviceView {
    /// Requests waiting.
    pub queue_len: usize,
    /// Requests in service.
    pub in_service: usize,
    /// Servers (concurrent batches).
    pub servers: u32,
    /// Mean service time of one request alone on this device, s.
    pub service_s: f64,
    /// Device cost, $ per second.
    pub cost_per_s: f64,
}

impl DeviceView {
    /// Requests at the device (waiting or in service).
    pub fn load(&self) -> usize {
        self.queue_len + self.in_service
    }

    /// Expected completion time of one more request, s: the work ahead of it spread over the
    /// servers, plus its own service.
    pub fn expected_completion_s(&self) -> f64 {
        let ahead = (self.load() + 1).saturating_sub(self.servers as usize) as f64;
        ahead * self.service_s / f64::from(self.servers) + self.service_s
    }

    /// Cost of serving one request here, $: the device's cost for one service time.
    pub fn cost_per_request(&self) -> f64 {
        self.cost_per_s * self.service_s / f64::from(self.servers)
    }
}

/// A routing policy.
pub trait Router: Send {
    /// Picks one of `candidates` (indices into `views`; never empty).
    fn route(&mut self, candidates: &[usize], views: &[DeviceView], now: SimTime) -> usize;
}

/// Routing policy configuration (`[router]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouterSpec {
    /// Candidates in turn.
    #[default]
    RoundRobin,
    /// A uniformly random candidate.
    Random,
    /// Join the shortest queue: fewest requests waiting or in service (ties at random).
    JoinShortestQueue,
    /// Power of two choices: two random candidates, the less loaded one.
    PowerOfTwo,
    /// Least expected completion time: queue and service model of each device.
    LeastExpectedCompletion,
    /// The cheapest device (per request) whose expected completion is within `margin × slo_ms`,
    /// the least loaded among equally cheap ones; the fastest if none qualifies. The margin leaves
    /// room for the tail: an expected completion right at the SLO means many requests miss it.
    CostAware {
        /// Latency target, ms.
        slo_ms: f64,
        /// Share of the target the expected completion may use, in (0, 1] (default 0.5).
        #[serde(default = "half")]
        margin: f64,
    },
}

fn half() -> f64 {
    0.5
}

impl RouterSpec {
    /// Checks parameters.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            RouterSpec::CostAware { slo_ms, .. } if !(slo_ms.is_finite() && *slo_ms > 0.0) => {
                Err(ConfigError::invalid(
                    &format!("{key}.slo_ms"),
                    format!("must be a positive finite number, got {slo_ms}"),
                ))
            }
            RouterSpec::CostAware { margin, .. } if !(*margin > 0.0 && *margin <= 1.0) => {
                Err(ConfigError::invalid(&format!("{key}.margin"), format!("must be in (0, 1], got {margin}")))
            }
            _ => Ok(()),
        }
    }

    /// Builds the policy with its own random stream.
    pub fn build(&self, rng: StreamRng) -> Box<dyn Router> {
        match self {
            RouterSpec::RoundRobin => Box::new(RoundRobin { next: 0 }),
            RouterSpec::Random => Box::new(RandomRouter { rng }),
            RouterSpec::JoinShortestQueue => Box::new(JoinShortestQueue { rng }),
            RouterSpec::PowerOfTwo => Box::new(PowerOfTwo { rng }),
            RouterSpec::LeastExpectedCompletion => Box::new(LeastExpectedCompletion),
            RouterSpec::CostAware { slo_ms, margin } => Box::new(CostAware { budget_s: slo_ms * margin / 1e3 }),
        }
    }
}

/// Candidates in turn.
#[derive(Debug)]
pub struct RoundRobin {
    next: usize,
}

impl Router for RoundRobin {
    fn route(&mut self, candidates: &[usize], _views: &[DeviceView], _now: SimTime) -> usize {
        let c = candidates[self.next % candidates.len()];
        self.next = self.next.wrapping_add(1);
        c
    }
}

/// Uniformly random.
pub struct RandomRouter {
    rng: StreamRng,
}

impl Router for RandomRouter {
    fn route(&mut self, candidates: &[usize], _views: &[DeviceView], _now: SimTime) -> usize {
        candidates[self.rng.random_range(0..candidates.len())]
    }
}

/// The minimum of `key` over candidates, ties broken uniformly at random (reservoir sampling).
fn argmin_random_ties<K: PartialOrd>(candidates: &[usize], rng: &mut StreamRng, key: impl Fn(usize) -> K) -> usize {
    let mut best = candidates[0];
    let mut best_key = key(best);
    let mut ties = 1u32;
    for &c in &candidates[1..] {
        let k = key(c);
        if k < best_key {
            best = c;
            best_key = k;
            ties = 1;
        } else if k == best_key {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = c;
            }
        }
    }
    best
}

/// Join the shortest queue.
pub struct JoinShortestQueue {
    rng: StreamRng,
}

impl Router for JoinShortestQueue {
    fn route(&mut self, candidates: &[usize], views: &[DeviceView], _now: SimTime) -> usize {
        // Normalise by servers so that a 4-server device with 4 requests counts as idle.
        argmin_random_ties(candidates, &mut self.rng, |c| views[c].load() as f64 / f64::from(views[c].servers))
    }
}

/// Power of two choices.
pub struct PowerOfTwo {
    rng: StreamRng,
}

impl Router for PowerOfTwo {
    fn route(&mut self, candidates: &[usize], views: &[DeviceView], _now: SimTime) -> usize {
        if candidates.len() == 1 {
            return candidates[0];
        }
        let a = self.rng.random_range(0..candidates.len());
        let mut b = self.rng.random_range(0..candidates.len() - 1);
        if b >= a {
            b += 1;
        }
        let (a, b) = (candidates[a], candidates[b]);
        let load = |c: usize| views[c].load() as f64 / f64::from(views[c].servers);
        if load(b) < load(a) { b } else { a }
    }
}

/// Least expected completion time.
#[derive(Debug)]
pub struct LeastExpectedCompletion;

impl Router for LeastExpectedCompletion {
    fn route(&mut self, candidates: &[usize], views: &[DeviceView], _now: SimTime) -> usize {
        let mut best = candidates[0];
        for &c in &candidates[1..] {
            if views[c].expected_completion_s() < views[best].expected_completion_s() {
                best = c;
            }
        }
        best
    }
}

/// Cheapest device expected to meet the SLO within its margin.
#[derive(Debug)]
pub struct CostAware {
    budget_s: f64,
}

impl Router for CostAware {
    fn route(&mut self, candidates: &[usize], views: &[DeviceView], now: SimTime) -> usize {
        let meeting = candidates.iter().copied().filter(|&c| views[c].expected_completion_s() <= self.budget_s).min_by(
            |&a, &b| {
                views[a]
                    .cost_per_request()
                    .total_cmp(&views[b].cost_per_request())
                    .then(views[a].expected_completion_s().total_cmp(&views[b].expected_completion_s()))
            },
        );
        meeting.unwrap_or_else(|| LeastExpectedCompletion.route(candidates, views, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(queue_len: usize, servers: u32, service_ms: f64, cost_per_h: f64) -> DeviceView {
        DeviceView { queue_len, in_service: 0, servers, service_s: service_ms / 1e3, cost_per_s: cost_per_h / 3600.0 }
    }

    #[test]
    fn each_router_decides_as_specified_on_a_fixed_view() {
        let views = [view(5, 1, 10.0, 1.0), view(1, 1, 40.0, 0.2), view(3, 1, 5.0, 4.0)];
        let all = [0, 1, 2];
        let rng = || traces::rng::from_seed(1);
        let now = SimTime::ZERO;
        assert_eq!(RouterSpec::JoinShortestQueue.build(rng()).route(&all, &views, now), 1);
        // Expected completion: 0 → 5·10+10 = 60 ms, 1 → 1·40+40 = 80 ms, 2 → 3·5+5 = 20 ms.
        assert_eq!(RouterSpec::LeastExpectedCompletion.build(rng()).route(&all, &views, now), 2);
        // Under a 100 ms SLO all three qualify: the cheapest per request is device 1
        // (0.2 $/h × 40 ms) < device 0 (1 $/h × 10 ms) < device 2 (4 $/h × 5 ms).
        assert_eq!(RouterSpec::CostAware { slo_ms: 100.0, margin: 1.0 }.build(rng()).route(&all, &views, now), 1);
        // Under a 70 ms budget (140 ms × 0.5) device 1 (80 ms) no longer qualifies: device 0 is
        // the cheaper of the rest.
        assert_eq!(RouterSpec::CostAware { slo_ms: 140.0, margin: 0.5 }.build(rng()).route(&all, &views, now), 0);
        // Under 10 ms none does: fall back to the fastest.
        assert_eq!(RouterSpec::CostAware { slo_ms: 10.0, margin: 1.0 }.build(rng()).route(&all, &views, now), 2);
        let mut rr = RouterSpec::RoundRobin.build(rng());
        let seq: Vec<usize> = (0..4).map(|_| rr.route(&[2, 0], &views, now)).collect();
        assert_eq!(seq, vec![2, 0, 2, 0]);
        let mut p2 = RouterSpec::PowerOfTwo.build(rng());
        // Equally cheap devices: the less loaded one.
        let twins = [view(3, 1, 10.0, 1.0), view(1, 1, 10.0, 1.0)];
        assert_eq!(RouterSpec::CostAware { slo_ms: 1000.0, margin: 1.0 }.build(rng()).route(&[0, 1], &twins, now), 1);
        for _ in 0..50 {
            // Whatever pair it draws, it never picks the most loaded device 0 over another.
            assert_ne!(p2.route(&all, &views, now), 0);
        }
    }

    #[test]
    fn jsq_breaks_ties_at_random_but_reproducibly() {
        let views = [view(0, 1, 1.0, 1.0); 4];
        let picks = |seed| {
            let mut r = RouterSpec::JoinShortestQueue.build(traces::rng::from_seed(seed));
            (0..64).map(|_| r.route(&[0, 1, 2, 3], &views, SimTime::ZERO)).collect::<Vec<_>>()
        };
        let a = picks(3);
        assert_eq!(a, picks(3));
        for d in 0..4 {
            assert!(a.contains(&d), "device {d} never chosen on ties");
        }
    }
}
