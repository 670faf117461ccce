//! Autoscaled pools and energy against closed forms and hand-computed fixtures.

mod common;
use common::{mean, over_seeds, rel};
use proptest::prelude::*;
use sim::analytic::MMc;
use sim::engine::{ReplicaState, RunOptions};
use sim::{ScenarioConfig, SimTime};
use traces::Request;

fn pool(rate: f64, mean_ms: f64, autoscale: &str) -> ScenarioConfig {
    ScenarioConfig::parse(&format!(
        r#"
name = "t"
[workload.arrivals]
kind = "poisson"
rate = {rate}
[[devices]]
name = "d"
service = {{ kind = "exponential", mean_ms = {mean_ms} }}
autoscale = {autoscale}
"#
    ))
    .unwrap()
}

#[test]
fn infinite_instant_scaling_is_m_m_infinity() {
    // A replica per request in flight, started and released at once: nobody waits, and the
    // number of ready replicas is Poisson with mean λ/μ = 2 (P(0) = e^-2).
    let cfg = pool(
        20.0,
        100.0,
        r#"{ min = 0, max = 10000, interval_s = 0.0, scale_down_delay_s = 0.0, policy = { kind = "concurrency", target = 1.0, stable_window_s = 0.0, panic_window_s = 0.0 } }"#,
    );
    let runs = over_seeds(&cfg, 8, 200_000);
    let wait = mean(&runs, |s| s.queue_delay_ms.max);
    assert_eq!(wait, 0.0, "a request waited");
    let ready = mean(&runs, |s| s.devices[0].autoscale.as_ref().unwrap().mean_ready);
    assert!(rel(ready, 2.0) < 0.01, "mean replicas {ready} vs λ/μ = 2");
    let p0 = mean(&runs, |s| s.devices[0].autoscale.as_ref().unwrap().at_zero_s / s.horizon_s);
    assert!(rel(p0, (-2f64).exp()) < 0.02, "P(0) {p0} vs e^-2");
    // Little: in system = ready replicas (each holds one request).
    let l = mean(&runs, |s| s.mean_in_system);
    assert!(rel(l, ready) < 1e-6, "L {l} vs replicas {ready}");
}

#[test]
fn a_fixed_pool_is_m_m_c_behind_one_queue() {
    // min = max = 4 replicas of one server: Erlang C at ρ = 0.8.
    let cfg = pool(32.0, 100.0, r#"{ min = 4, max = 4, policy = { kind = "utilization", target = 0.5 } }"#);
    let exact = MMc { lambda: 32.0, mu: 10.0, c: 4 }.predict();
    let runs = over_seeds(&cfg, 16, 200_000);
    let wq = mean(&runs, |s| s.queue_delay_ms.mean);
    assert!(rel(wq, exact.wq_mean_ms) < 0.02, "E[Wq] {wq} vs {}", exact.wq_mean_ms);
    let u = mean(&runs, |s| s.utilization);
    assert!(rel(u, 0.8) < 0.01, "utilization {u}");
    for s in &runs {
        let a = s.devices[0].autoscale.as_ref().unwrap();
        assert_eq!((a.cold_starts, a.scale_downs, a.peak_ready), (0, 0, 4));
    }
}

fn secs(v: f64) -> SimTime {
    SimTime::from_secs_f64(v).unwrap()
}

/// Requests at `times` (s), 1 s each on the scenario's deterministic service.
fn trace(times: &[f64]) -> Vec<Request> {
    times.iter().enumerate().map(|(i, &t)| Request::new(i as u64, secs(t), 1)).collect()
}

#[test]
fn a_load_step_with_a_known_start_up_gives_the_hand_computed_violation_window() {
    // One replica until t = 100, three from then on by schedule; a replica needs 30.25 s to
    // start. Arrivals every 2 s on [0, 98], then every 0.5 s on [100, 159.5]; service 1 s.
    // Burst request k (arrival 100 + k/2) starts at 100 + k on the single replica while the two
    // new ones start (k <= 30); they are ready at 130.25, after which three servers take three
    // requests a second: k = 31 + 3n and 32 + 3n start at 130.25 + n, k = 33 + 3n at 131 + n,
    // a wait of 14.75 - n/2, 14.25 - n/2 and 14.5 - n/2. With an SLO of 5 s (wait > 4 s
    // violates): k = 9 (wait 4.5) is the first violator, k = 94 (n = 21, wait 4.25) the last.
    let cfg = ScenarioConfig::parse(
        r#"
name = "step"
[slo]
latency_ms = 5000.0
[[devices]]
name = "d"
service = { kind = "deterministic", ms = 1000.0 }
autoscale = { min = 1, max = 3, interval_s = 1.0, provision_s = 30.25, policy = { kind = "schedule", steps = [{ at_s = 0.0, replicas = 1 }, { at_s = 100.0, replicas = 3 }] } }
"#,
    )
    .unwrap();
    let mut times: Vec<f64> = (0..50).map(|i| 2.0 * f64::from(i)).collect();
    times.extend((0..120).map(|k| 100.0 + 0.5 * f64::from(k)));
    let r = sim::run(&cfg, &mut trace(&times).into_iter(), RunOptions { seed: 1, record: true, trace_driven: true })
        .unwrap();
    let records = r.records.unwrap();
    let late: Vec<u64> = records
        .iter()
        .filter(|x| x.finish.unwrap() - x.arrival > SimTime::from_millis(5000))
        .map(|x| x.id - 50)
        .collect();
    assert_eq!(late, (9..=94).collect::<Vec<u64>>());
    let a = r.summary.devices[0].autoscale.as_ref().unwrap();
    assert_eq!(a.cold_starts, 2);
    assert!((a.under_provisioned_s - 30.25).abs() < 1e-9, "{}", a.under_provisioned_s);
    let slo = r.summary.slo.unwrap();
    assert!((slo.attainment - (170.0 - 86.0) / 170.0).abs() < 1e-12);
    // The new replicas were ready at 130.25 exactly, and no batch started on one before.
    let ready: Vec<f64> =
        r.scaling.iter().filter(|e| e.state == ReplicaState::Ready).map(|e| e.at.as_secs_f64()).collect();
    assert_eq!(ready, vec![130.25, 130.25]);
}

#[test]
fn energy_is_the_integral_of_power_over_a_deterministic_run() {
    // 100 W idle, 500 W busy, linear; three 1-s requests at 0, 2, 4: busy 3 s of 5 s.
    // ∫ P dt = 100 x 5 + 400 x 3 = 1,700 J; PUE 1.2 -> 2,040 J; 500 g/kWh.
    let cfg = ScenarioConfig::parse(
        r#"
name = "energy"
[energy]
pue = 1.2
carbon_g_per_kwh = 500.0
[[devices]]
name = "d"
service = { kind = "deterministic", ms = 1000.0 }
power = { idle_w = 100.0, max_w = 500.0 }
"#,
    )
    .unwrap();
    let r = sim::run(&cfg, &mut trace(&[0.0, 2.0, 4.0]).into_iter(), RunOptions { seed: 1, ..RunOptions::default() })
        .unwrap();
    let e = r.summary.energy.unwrap();
    assert!((e.kwh * 3.6e6 - 2040.0).abs() < 1e-6, "{} J", e.kwh * 3.6e6);
    assert!((e.mean_power_w - 340.0).abs() < 1e-9, "{}", e.mean_power_w);
    assert!((e.gco2e - 2040.0 / 3.6e6 * 500.0).abs() < 1e-12);
    assert!((e.wh_per_1000_requests - 2040.0 / 3600.0 / 3.0 * 1000.0).abs() < 1e-9);
}

#[test]
fn a_pool_at_zero_cold_starts_on_the_first_request_and_pays_for_its_start() {
    // Scale to zero; a 10 s cold start; a request at t = 5 waits 10 s, then is served in 1 s.
    // The replica is billed and draws idle power from 5 s. Decisions every 5 s on the last
    // interval's mean concurrency: at 20 it was 0.2 (one request for 1 s of 5): one replica; at
    // 25 it is 0: released. The run ends there (the tail is billed).
    let cfg = ScenarioConfig::parse(
        r#"
name = "zero"
[[devices]]
name = "d"
kind = "l4"
service = { kind = "deterministic", ms = 1000.0 }
power = { idle_w = 20.0, max_w = 70.0 }
autoscale = { min = 0, max = 2, interval_s = 5.0, scale_down_delay_s = 0.0, startup_s = 10.0, policy = { kind = "concurrency", target = 1.0, stable_window_s = 5.0, panic_window_s = 5.0 } }
"#,
    )
    .unwrap();
    let r = sim::run(&cfg, &mut trace(&[5.0]).into_iter(), RunOptions { seed: 1, record: true, trace_driven: true })
        .unwrap();
    let rec = &r.records.unwrap()[0];
    assert_eq!(rec.finish.unwrap(), secs(16.0));
    let s = &r.summary;
    let a = s.devices[0].autoscale.as_ref().unwrap();
    assert_eq!((a.cold_starts, a.cold_start_requests), (1, 1));
    let states: Vec<(f64, ReplicaState)> = r.scaling.iter().map(|e| (e.at.as_secs_f64(), e.state)).collect();
    assert_eq!(states, vec![(5.0, ReplicaState::Starting), (15.0, ReplicaState::Ready), (25.0, ReplicaState::Off)]);
    // Billed 5 s .. 25 s; energy 20 W x 20 s + 50 W x 1 s; no replica ready on [0, 15).
    assert_eq!(s.horizon_s, 25.0);
    assert!((a.replica_hours * 3600.0 - 20.0).abs() < 1e-9, "{}", a.replica_hours);
    let price = sim::catalog::builtin_kinds()["l4"].price_per_hour;
    assert!((s.devices[0].cost_usd - price * 20.0 / 3600.0).abs() < 1e-12);
    assert!((s.energy.as_ref().unwrap().kwh * 3.6e6 - 450.0).abs() < 1e-6);
    assert!((a.at_zero_s - 15.0).abs() < 1e-9, "{}", a.at_zero_s);
}

fn policy(i: u8) -> &'static str {
    match i % 4 {
        0 => r#"{ kind = "utilization", target = 0.6 }"#,
        1 => r#"{ kind = "concurrency", target = 2.0, stable_window_s = 20.0, panic_window_s = 4.0 }"#,
        2 => r#"{ kind = "slo", latency_ms = 300.0, window_s = 10.0 }"#,
        _ => r#"{ kind = "predictive", target = 0.6, season_s = 60.0 }"#,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Never more replicas than max nor fewer than min, no batch on a replica that is not ready,
    /// every request accounted for, and the billed time at least the ready time.
    #[test]
    fn scaling_respects_its_bounds_and_never_serves_from_a_loading_replica(
        seed in 0u64..1000,
        p in 0u8..4,
        min in 0u32..3,
        extra in 1u32..6,
        servers in 1u32..3,
        start_s in 0.0f64..20.0,
        rate in 5.0f64..60.0,
    ) {
        let max = min + extra;
        let cfg = ScenarioConfig::parse(&format!(
            r#"
name = "prop"
[workload.arrivals]
kind = "poisson"
rate = {rate}
[[devices]]
name = "d"
servers = {servers}
service = {{ kind = "exponential", mean_ms = 100.0 }}
power = {{ idle_w = 50.0, max_w = 300.0 }}
autoscale = {{ min = {min}, max = {max}, interval_s = 2.0, scale_down_delay_s = 6.0, provision_s = {start_s}, policy = {} }}
"#,
            policy(p)
        ))
        .unwrap();
        let r = sim::run_generated(&cfg, seed, 3000, true).unwrap();
        let s = &r.summary;
        prop_assert_eq!(s.requests.arrived, s.requests.completed + s.requests.dropped);
        for row in &r.timeline {
            prop_assert!(row.ready + row.starting <= max, "{:?}", row);
            prop_assert!(row.ready + row.starting >= min, "{:?}", row);
            prop_assert!(row.desired <= max && row.desired >= min);
        }
        // Replay the state changes: a batch starts only on a ready replica.
        let mut state = vec![ReplicaState::Off; max as usize];
        let initial = min as usize;
        state[..initial].fill(ReplicaState::Ready);
        let mut events = r.scaling.iter().peekable();
        let mut starts: Vec<(SimTime, u32)> =
            r.records.as_ref().unwrap().iter().filter_map(|x| Some((x.start?, x.server?))).collect();
        starts.sort();
        for (at, server) in starts {
            while let Some(e) = events.next_if(|e| e.at <= at) {
                state[e.replica as usize] = e.state;
            }
            prop_assert_eq!(state[(server / servers) as usize], ReplicaState::Ready, "batch at {:?}", at);
        }
        let a = s.devices[0].autoscale.as_ref().unwrap();
        prop_assert!(a.replica_hours * 3600.0 + 1e-9 >= a.mean_ready * s.horizon_s);
        let e = s.energy.as_ref().unwrap();
        prop_assert!(e.kwh * 3.6e6 + 1e-6 >= 50.0 * a.replica_hours * 3600.0);
        prop_assert!(e.kwh * 3.6e6 <= 300.0 * a.replica_hours * 3600.0 + 1e-6);
    }
}

#[test]
fn the_autoscale_plan_picks_the_least_cost_or_energy_that_meets_the_objective() {
    use sim::plan::autoscale::{Minimize, TARGETS, plan_autoscale};
    use sim::plan::{LatencyObjective, PlanSpec};
    let cfg = pool(
        30.0,
        100.0,
        r#"{ min = 1, max = 8, initial = 4, interval_s = 5.0, scale_down_delay_s = 30.0, provision_s = 10.0, policy = { kind = "utilization", target = 0.5 } }"#,
    );
    let mut cfg = cfg;
    cfg.devices[0].kind = Some("l4".into());
    let spec = PlanSpec {
        objective: "p99<=1000ms".parse::<LatencyObjective>().unwrap(),
        max_drop: 0.0,
        min_count: 0,
        max_count: 6,
        offered_per_s: 30.0,
    };
    for minimize in [Minimize::Cost, Minimize::Energy] {
        let plan = plan_autoscale(&cfg, &spec, minimize, |c| Ok(sim::run_generated(c, 3, 20_000, false)?.summary))
            .unwrap()
            .expect("the scenario autoscales");
        assert_eq!(plan.candidates.len(), 6 * TARGETS.len());
        let measure = |c: &sim::plan::autoscale::AutoCandidate| match minimize {
            Minimize::Cost => c.usd,
            Minimize::Energy => c.kwh.unwrap(),
        };
        let w = plan.winner.expect("some configuration meets p99 <= 1 s");
        assert!(plan.candidates[w].meets);
        for c in plan.candidates.iter().filter(|c| c.meets) {
            assert!(measure(&plan.candidates[w]) <= measure(c));
        }
        // The frontier: no candidate beats a frontier one on both latency and the measure.
        for f in plan.candidates.iter().filter(|c| c.frontier) {
            assert!(!plan.candidates.iter().any(|o| o.value_ms < f.value_ms && measure(o) < measure(f)));
        }
        // Too few replicas for 3 busy servers' worth of load: fails.
        assert!(plan.candidates.iter().filter(|c| c.max <= 3).all(|c| !c.meets));
    }
}

#[test]
fn an_autoscaled_or_prioritized_device_has_no_closed_form_prediction() {
    let fixed = common::single(5.0, 1, r#"{ kind = "exponential", mean_ms = 100.0 }"#);
    assert!(sim::predict(&fixed).is_some());
    let auto = pool(5.0, 100.0, r#"{ min = 1, max = 1, policy = { kind = "utilization", target = 0.5 } }"#);
    assert!(sim::predict(&auto).is_none(), "an autoscaled pool is not M/M/1");
    let mut prio = fixed.clone();
    prio.devices[0].queue = sim::policy::QueueDiscipline::Priority;
    assert!(sim::predict(&prio).is_none());
}

const HETERO: &str = r#"
name = "hetero"
[workload.arrivals]
kind = "diurnal"
mean_rate = 40.0
amplitude = 0.9
period_s = 3600.0
[router]
kind = "join_shortest_queue"
[[devices]]
name = "cheap"
kind = "l4"
service = { kind = "exponential", mean_ms = 100.0 }
autoscale = { min = 1, max = 4, interval_s = 10.0, scale_down_delay_s = 0.0, pool = "mixed", policy = { kind = "utilization", target = 0.6 } }
[[devices]]
name = "dear"
kind = "a100"
service = { kind = "exponential", mean_ms = 50.0 }
autoscale = { min = 1, max = 6, interval_s = 10.0, scale_down_delay_s = 0.0, pool = "mixed", policy = { kind = "utilization", target = 0.6 } }
"#;

#[test]
fn a_heterogeneous_pool_adds_the_cheapest_capacity_first_and_releases_the_dearest_first() {
    // Two kinds behind a join-shortest-queue router, one controller: an L4 replica serves 10
    // requests/s for 0.805 $/h (0.08 $/h per request/s), an A100 replica 20/s for 5.12 $/h (0.256).
    // As the diurnal load rises the pool adds L4s up to their max before any A100 beyond its
    // minimum, and as it falls it gives back A100s first (no scale-down window here: with one,
    // each group's count lags its own recommendations).
    let cfg = ScenarioConfig::parse(HETERO).unwrap();
    let r = sim::run_generated(&cfg, 4, 144_000, false).unwrap();
    let rows = |pool: u32| r.timeline.iter().filter(|x| x.pool == pool).collect::<Vec<_>>();
    let (cheap, dear) = (rows(0), rows(1));
    assert_eq!(cheap.len(), dear.len(), "one controller decides both, at the same times");
    let mut dear_above_min = 0;
    for (c, d) in cheap.iter().zip(&dear) {
        assert_eq!(c.t_s, d.t_s);
        if d.desired > 1 {
            dear_above_min += 1;
            assert_eq!(c.desired, 4, "an A100 beyond its minimum only with every L4 asked for, at {} s", c.t_s);
        }
    }
    assert!(dear_above_min > 0, "the peak needs more than the L4s");
    let s = &r.summary;
    assert!(s.devices.iter().all(|d| d.autoscale.as_ref().unwrap().cold_starts > 0));
    assert_eq!(s.requests.arrived, s.requests.completed + s.requests.dropped);
    // A shared pool needs the utilization policy.
    let slo =
        HETERO.replacen(r#"{ kind = "utilization", target = 0.6 }"#, r#"{ kind = "slo", latency_ms = 100.0 }"#, 1);
    let e = ScenarioConfig::parse(&slo).unwrap_err().to_string();
    assert!(e.contains("devices[0].autoscale.policy") && e.contains("shared pool"), "{e}");
}
