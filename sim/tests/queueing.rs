//! The simulator against closed-form queueing theory.

mod common;
use common::{mean, over_seeds, rel, single};

#[test]
fn mm4_at_rho_09_matches_erlang_c_over_many_seeds() {
    let cfg = sim::builtin::builtin("mmc").unwrap().unwrap();
    let exact = sim::predict(&cfg).unwrap();
    let t = std::time::Instant::now();
    let runs = over_seeds(&cfg, 48, 1_000_000);
    eprintln!("48 x 1e6 in {:?}", t.elapsed());
    let wq = mean(&runs, |s| s.queue_delay_ms.mean);
    let p50 = mean(&runs, |s| s.latency_ms.p50);
    let p99 = mean(&runs, |s| s.latency_ms.p99);
    let pw = mean(&runs, |s| s.utilization);
    eprintln!("wq {wq} vs {}, p50 {p50} vs {:?}, p99 {p99} vs {:?}", exact.wq_mean_ms, exact.w_p50_ms, exact.w_p99_ms);
    assert!(rel(wq, exact.wq_mean_ms) < 0.01, "E[Wq] {wq} vs {}", exact.wq_mean_ms);
    assert!(rel(p50, exact.w_p50_ms.unwrap()) < 0.02, "p50 {p50}");
    assert!(rel(p99, exact.w_p99_ms.unwrap()) < 0.02, "p99 {p99}");
    assert!(rel(pw, 0.9) < 0.005, "utilization {pw}");
}

/// Mean wait and sojourn percentiles over seeds against a closed-form prediction.
fn check_single_server(rate: f64, service: &str, seeds: u64, n: u64) {
    let cfg = single(rate, 1, service);
    let exact = sim::predict(&cfg).unwrap();
    let runs = over_seeds(&cfg, seeds, n);
    let wq = mean(&runs, |s| s.queue_delay_ms.mean);
    let w = mean(&runs, |s| s.latency_ms.mean);
    let label = format!("{} at λ={rate}", exact.model);
    assert!(rel(wq, exact.wq_mean_ms) < 0.01, "{label}: E[Wq] {wq} vs {}", exact.wq_mean_ms);
    assert!(rel(w, exact.w_mean_ms) < 0.01, "{label}: E[W] {w} vs {}", exact.w_mean_ms);
    for (q, sim_q, exact_q) in [
        ("p50", mean(&runs, |s| s.latency_ms.p50), exact.w_p50_ms),
        ("p99", mean(&runs, |s| s.latency_ms.p99), exact.w_p99_ms),
    ] {
        let exact_q = exact_q.unwrap_or_else(|| panic!("{label}: no {q} formula"));
        assert!(rel(sim_q, exact_q) < 0.02, "{label}: {q} {sim_q} vs {exact_q}");
    }
}

#[test]
fn mm1_at_rho_05_and_08_matches_its_formulas() {
    check_single_server(50.0, "{ kind = \"exponential\", mean_ms = 10.0 }", 20, 200_000);
    check_single_server(80.0, "{ kind = \"exponential\", mean_ms = 10.0 }", 24, 500_000);
}

#[test]
fn md1_at_rho_05_and_08_matches_pollaczek_khinchine_and_erlangs_distribution() {
    check_single_server(50.0, "{ kind = \"deterministic\", ms = 10.0 }", 20, 200_000);
    check_single_server(80.0, "{ kind = \"deterministic\", ms = 10.0 }", 24, 500_000);
}

#[test]
fn mg1_lognormal_matches_pollaczek_khinchine() {
    let cfg = single(60.0, 1, "{ kind = \"log_normal\", mean_ms = 10.0, cv = 2.0 }");
    let exact = sim::predict(&cfg).unwrap();
    assert_eq!(exact.model, "M/G/1");
    // E[Wq] = λ E[S²] / (2(1−ρ)) with E[S²] = m²(1+cv²): 60 · 1e-4 · 5 / 0.8 s = 37.5 ms.
    assert!(rel(exact.wq_mean_ms, 37.5) < 1e-12);
    let runs = over_seeds(&cfg, 24, 500_000);
    let wq = mean(&runs, |s| s.queue_delay_ms.mean);
    assert!(rel(wq, exact.wq_mean_ms) < 0.02, "E[Wq] {wq} vs {}", exact.wq_mean_ms);
}

#[test]
fn littles_law_holds_on_a_long_run() {
    let cfg = sim::builtin::builtin("mmc").unwrap().unwrap();
    let s = sim::run_generated(&cfg, 7, 1_000_000, false).unwrap().summary;
    let l = &s.little;
    // The residual compares the time integral of the number in system with the sum of the
    // sojourns (docs/metrics.md): equal up to rounding on any run, so only rounding is allowed.
    // That it is ~0 says no request was lost from the count, not that Little's law holds; the
    // law is checked against M/M/4's analytic L below.
    assert!(l.relative_residual.abs() < 1e-9, "{l:?}");
    // And L matches the analytic L of M/M/4 (a different computation path) within sampling error.
    let exact = sim::predict(&cfg).unwrap();
    assert!(rel(l.l, exact.l) < 0.05, "L {} vs {}", l.l, exact.l);
    assert!(rel(s.mean_queue_length, exact.lq) < 0.06, "Lq {} vs {}", s.mean_queue_length, exact.lq);
}

#[test]
fn the_little_residual_stays_at_rounding_with_drops_and_cache_hits() {
    // Every path that takes a request out of the system (a drop at a full queue, a cache hit)
    // must leave the count as it arrived: any slip shows in the residual.
    for name in ["overload", "caching"] {
        let cfg = sim::builtin::builtin(name).unwrap().unwrap();
        let s = sim::run_generated(&cfg, 3, 100_000, false).unwrap().summary;
        assert!(s.little.relative_residual.abs() < 1e-9, "{name}: {:?}", s.little);
        assert!(s.little.l > 0.0, "{name}");
    }
    let cfg = sim::builtin::builtin("overload").unwrap().unwrap();
    let s = sim::run_generated(&cfg, 3, 100_000, false).unwrap().summary;
    assert!(s.requests.dropped > 0, "overload drops: {:?}", s.requests);
}

fn with_stalls(mut cfg: sim::ScenarioConfig, rate_per_s: f64, duration_ms: &[f64]) -> sim::ScenarioConfig {
    cfg.devices[0].stalls =
        Some(sim::service::StallSpec { rate_per_s, duration_ms: duration_ms.to_vec(), busy_only: false });
    cfg.validate().unwrap();
    cfg
}

#[test]
fn mg1_with_stalls_matches_avi_itzhak_and_naor() {
    // D 10 ms at λ = 60/s, 50 ms stalls at 2/s of up time: stretch 1 + αE[D] = 1.1, E[C] = 11 ms,
    // E[C²] = 1e-4·1.21 + 2·0.01·0.0025 = 1.71e-4 s², ρ_C = 0.66, Wq = 60·1.71e-4 / 0.68 s
    // + 2·0.0025 / 2.2 s = 15.088 + 2.273 ms, W = 28.361 ms.
    let cfg = with_stalls(single(60.0, 1, "{ kind = \"deterministic\", ms = 10.0 }"), 2.0, &[50.0]);
    let exact = sim::predict(&cfg).unwrap();
    assert_eq!(exact.model, "M/G/1 with stalls");
    assert!(rel(exact.w_mean_ms, 28.361) < 1e-4, "{}", exact.w_mean_ms);
    assert!(rel(exact.utilization, 0.66) < 1e-12);
    let runs = over_seeds(&cfg, 16, 200_000);
    let w = mean(&runs, |s| s.latency_ms.mean);
    assert!(rel(w, exact.w_mean_ms) < 0.02, "E[W] {w} vs {}", exact.w_mean_ms);
    // Stalls that strike only a busy server: no stall to wait out on arrival, W = 26.088 ms.
    let mut busy = cfg.clone();
    busy.devices[0].stalls.as_mut().unwrap().busy_only = true;
    let exact_busy = sim::predict(&busy).unwrap();
    assert!(rel(exact_busy.w_mean_ms, 26.088) < 1e-4, "{}", exact_busy.w_mean_ms);
    let w = mean(&over_seeds(&busy, 16, 200_000), |s| s.latency_ms.mean);
    assert!(rel(w, exact_busy.w_mean_ms) < 0.02, "busy-only E[W] {w} vs {}", exact_busy.w_mean_ms);
    // Without its stalls the same queue is M/D/1 and much faster: the stalls are what moved it.
    let plain = sim::predict(&single(60.0, 1, "{ kind = \"deterministic\", ms = 10.0 }")).unwrap();
    assert!(exact.w_mean_ms > 1.5 * plain.w_mean_ms);

    // Exponential service and a two-point stall distribution (5 and 20 ms, 5/s).
    let cfg = with_stalls(single(40.0, 1, "{ kind = \"exponential\", mean_ms = 15.0 }"), 5.0, &[5.0, 20.0]);
    let exact = sim::predict(&cfg).unwrap();
    let runs = over_seeds(&cfg, 16, 200_000);
    let w = mean(&runs, |s| s.latency_ms.mean);
    assert!(rel(w, exact.w_mean_ms) < 0.02, "E[W] {w} vs {}", exact.w_mean_ms);
}

#[test]
fn a_saturated_server_is_stretched_by_one_plus_rate_times_mean_stall() {
    // 20,000 requests of 1 ms all at t = 0: 20 s of work, interrupted by 5 ms stalls at 10/s of
    // up time (Poisson: 200 ± 14 of them) → 21 s ± 0.07 s.
    let mut cfg = with_stalls(single(1.0, 1, "{ kind = \"deterministic\", ms = 1.0 }"), 10.0, &[5.0]);
    cfg.workload = None;
    for seed in 0..3 {
        let reqs: Vec<traces::Request> = (0..20_000).map(|i| traces::Request::new(i, sim::SimTime::ZERO, 1)).collect();
        let r =
            sim::run(&cfg, &mut reqs.into_iter(), sim::RunOptions { seed, record: true, trace_driven: true }).unwrap();
        let recs = r.records.unwrap();
        let last = recs.iter().filter_map(|r| r.finish).max().unwrap().as_secs_f64();
        assert!(rel(last, 21.0) < 0.015, "seed {seed}: makespan {last} s");
        // Every request took at least its 1 ms; the stretched ones by whole stalls.
        for r in &recs {
            let took = (r.finish.unwrap() - r.start.unwrap()).as_nanos();
            assert!(took == 1_000_000 || took >= 6_000_000 - 1, "{took} ns");
        }
    }
}

/// Log service times of a run of 1 ms deterministic work under `drift`, in arrival order.
fn drifted_log_services(drift: sim::service::DriftSpec, seed: u64) -> Vec<f64> {
    let mut cfg = single(20.0, 1, "{ kind = \"deterministic\", ms = 1.0 }");
    cfg.devices[0].drift = Some(drift);
    cfg.validate().unwrap();
    assert!(sim::predict(&cfg).is_none(), "no closed form with drift");
    let mut recs = sim::run_generated(&cfg, seed, 40_000, true).unwrap().records.unwrap();
    recs.sort_by_key(|r| r.id);
    recs.iter().map(|r| ((r.finish.unwrap() - r.start.unwrap()).as_nanos() as f64 / 1e6).ln()).collect()
}

fn lag1(x: &[f64]) -> f64 {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let v = x.iter().map(|a| (a - m) * (a - m)).sum::<f64>();
    x.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum::<f64>() / v
}

#[test]
fn drift_is_a_stationary_ar1_on_the_log_speed_factor() {
    // Steps of 50 ms, φ = 0.9, σ = 0.1: the log factor has stationary sd 0.1/√0.19 = 0.2294 and
    // E[factor] = exp(0.2294²/2) = 1.0267; arrivals 50 ms apart on average see consecutive
    // factors that are strongly correlated. 40,000 requests ≈ 40,000 steps ≈ 2,100 independent
    // ones at φ = 0.9: the mean factor is known to ±0.5 %.
    let spec = sim::service::DriftSpec { step_ms: 50.0, phi: 0.9, sigma: 0.1 };
    let x = drifted_log_services(spec.clone(), 3);
    let mean_factor = x.iter().map(|v| v.exp()).sum::<f64>() / x.len() as f64;
    assert!(rel(mean_factor, (0.2294f64 * 0.2294 / 2.0).exp()) < 0.02, "mean factor {mean_factor}");
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let sd = (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64).sqrt();
    assert!(rel(sd, 0.2294) < 0.1, "sd of the log factor {sd}");
    assert!(lag1(&x) > 0.5, "persistent: lag-1 correlation {}", lag1(&x));
    // φ = 0 and 1 ms steps: a fresh factor every step, and requests 50 ms apart rarely share
    // one — no memory from one request to the next.
    let iid = drifted_log_services(sim::service::DriftSpec { step_ms: 1.0, phi: 0.0, sigma: 0.2294 }, 3);
    assert!(lag1(&iid).abs() < 0.05, "i.i.d.: lag-1 correlation {}", lag1(&iid));
    // σ = 0: the factor is exactly 1.
    let flat = drifted_log_services(sim::service::DriftSpec { step_ms: 50.0, phi: 0.5, sigma: 0.0 }, 3);
    assert!(flat.iter().all(|v| v.abs() < 1e-9));
    // A fit to a long path of the process recovers it.
    let mut drift = sim::service::Drift::new(&spec, traces::rng::stream(9, "drift/0"));
    let factors: Vec<f64> = (0..20_000u64).map(|k| drift.factor(sim::SimTime::from_millis(50 * k))).collect();
    let fit = sim::service::DriftSpec::fit(50.0, &factors).unwrap();
    assert!((fit.phi - 0.9).abs() < 0.02 && rel(fit.sigma, 0.1) < 0.05, "{fit:?}");
}

/// (id, finish ns) of a trace-driven run of `cfg` on arrivals at these µs.
fn finishes(cfg: &sim::ScenarioConfig, arrivals_us: &[u64], seed: u64) -> Vec<u64> {
    let reqs: Vec<traces::Request> = arrivals_us
        .iter()
        .enumerate()
        .map(|(i, &a)| traces::Request::new(i as u64, sim::SimTime::from_micros(a), 1))
        .collect();
    let r = sim::run(cfg, &mut reqs.into_iter(), sim::RunOptions { seed, record: true, trace_driven: true }).unwrap();
    let mut recs = r.records.unwrap();
    recs.sort_by_key(|r| r.id);
    recs.iter().map(|r| r.finish.unwrap().as_nanos()).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// One FIFO server with the same service times: stalls, and cold starts on top of them, can
    /// only delay every request, never reorder them or speed one up.
    #[test]
    fn stalls_and_slowing_drift_only_delay(
        gaps_us in proptest::collection::vec(0u64..3_000, 1..200),
        rate in 1.0f64..200.0,
        durations in proptest::collection::vec(0.01f64..5.0, 1..4),
        slowdown in 0.0f64..3.0,
        idle_tau in 0.01f64..20.0,
        busy_tau in 0.0f64..5.0,
        seed in 0u64..1_000,
    ) {
        let mut t = 0;
        let arrivals: Vec<u64> = gaps_us.iter().map(|g| { t += g; t }).collect();
        let mut cfg = single(1.0, 1, "{ kind = \"deterministic\", ms = 1.0 }");
        cfg.workload = None;
        let plain = finishes(&cfg, &arrivals, seed);
        cfg.devices[0].stalls = Some(sim::service::StallSpec { rate_per_s: rate, duration_ms: durations, busy_only: rate > 100.0 });
        let stalled = finishes(&cfg, &arrivals, seed);
        cfg.devices[0].cold =
            Some(sim::service::ColdSpec { slowdown, idle_tau_ms: idle_tau, busy_tau_ms: busy_tau, shape: 1.0 + busy_tau });
        let drifted = finishes(&cfg, &arrivals, seed);
        for i in 0..arrivals.len() {
            proptest::prop_assert!(stalled[i] >= plain[i], "request {}: {} < {}", i, stalled[i], plain[i]);
            proptest::prop_assert!(drifted[i] >= stalled[i], "request {}: {} < {}", i, drifted[i], stalled[i]);
            if i > 0 {
                proptest::prop_assert!(stalled[i] > stalled[i - 1] && drifted[i] > drifted[i - 1]);
            }
        }
    }
}

fn with_cold(mut cfg: sim::ScenarioConfig, slowdown: f64, idle_tau_ms: f64, busy_tau_ms: f64) -> sim::ScenarioConfig {
    cfg.devices[0].cold = Some(sim::service::ColdSpec { slowdown, idle_tau_ms, busy_tau_ms, shape: 1.0 });
    cfg.validate().unwrap();
    cfg
}

#[test]
fn mg1_with_cold_starts_matches_welchs_exceptional_first_service() {
    // D 5 ms at λ = 100/s; a batch after an idle gap g takes D·(1 + 0.6·(1 − e^(−g/5 ms))), the
    // slowdown gone after it (τ_busy = 0). The idle gap before a request that finds the server
    // idle is Exp(λ), so with a = 1/τ = 200/s: E[s] = 0.6 · 200/300 = 0.4,
    // E[s²] = 0.36 · (1 − 200/300 + 100/500) = 0.192; E[S₀] = 5 · 1.4 = 7 ms,
    // E[S₀²] = 25e-6 · (1 + 0.8 + 0.192) = 49.8e-6 s²; ρ = 0.5;
    // Wq = 100·25e-6/1 + 100·24.8e-6/(2·1.2) s = 2.5 + 1.0333 ms; p₀ = 0.5/1.2;
    // W = 3.5333 + (5/12)·7 + (7/12)·5 = 9.3667 ms (M/D/1 without cold starts: 7.5 ms).
    let cfg = with_cold(single(100.0, 1, "{ kind = \"deterministic\", ms = 5.0 }"), 0.6, 5.0, 0.0);
    let exact = sim::predict(&cfg).unwrap();
    assert_eq!(exact.model, "M/G/1 with cold starts");
    assert!(rel(exact.w_mean_ms, 9.36667) < 1e-5, "{}", exact.w_mean_ms);
    assert!(rel(exact.utilization, 1.0 - 0.5 / 1.2) < 1e-12);
    let runs = over_seeds(&cfg, 16, 200_000);
    let w = mean(&runs, |s| s.latency_ms.mean);
    let wq = mean(&runs, |s| s.queue_delay_ms.mean);
    let u = mean(&runs, |s| s.utilization);
    assert!(rel(w, exact.w_mean_ms) < 0.01, "E[W] {w} vs {}", exact.w_mean_ms);
    assert!(rel(wq, exact.wq_mean_ms) < 0.02, "E[Wq] {wq} vs {}", exact.wq_mean_ms);
    assert!(rel(u, exact.utilization) < 0.01, "utilization {u} vs {}", exact.utilization);

    // Lognormal service (cv 1) near saturation: few requests find the server idle, so cold
    // starts matter less — and the formula still holds.
    let cfg = with_cold(single(160.0, 1, "{ kind = \"log_normal\", mean_ms = 5.0, cv = 1.0 }"), 0.3, 0.5, 0.0);
    let exact = sim::predict(&cfg).unwrap();
    let runs = over_seeds(&cfg, 24, 400_000);
    let w = mean(&runs, |s| s.latency_ms.mean);
    assert!(rel(w, exact.w_mean_ms) < 0.02, "E[W] {w} vs {}", exact.w_mean_ms);
    // A late build-up (shape 2: (g/τ)² in the exponent), its moments by quadrature.
    let mut cfg = with_cold(single(60.0, 1, "{ kind = \"exponential\", mean_ms = 6.0 }"), 1.0, 8.0, 0.0);
    cfg.devices[0].cold.as_mut().unwrap().shape = 2.0;
    let exact = sim::predict(&cfg).unwrap();
    let runs = over_seeds(&cfg, 16, 300_000);
    let w = mean(&runs, |s| s.latency_ms.mean);
    assert!(rel(w, exact.w_mean_ms) < 0.015, "E[W] {w} vs {}", exact.w_mean_ms);
    // A slowdown that lingers past one batch has no closed form here.
    let lingering = with_cold(single(100.0, 1, "{ kind = \"deterministic\", ms = 5.0 }"), 0.6, 5.0, 1.0);
    assert!(sim::predict(&lingering).is_none());
}

#[test]
fn cold_starts_build_up_while_idle_and_wear_off_while_busy() {
    // Three requests of 1 ms; S = 2, τ_idle = τ_busy = 1 ms. The first arrives at 10 ms to a
    // server warm at 0: s = 2(1 − e^−10), it takes 1 + s. The second (at 10.5 ms) waits and
    // starts the moment the server frees: it pays what is left, s·e^−(1 + s). The third arrives
    // 1 ms after the second one's end: s builds up from there towards 2 over that 1 ms.
    let mut cfg = with_cold(single(1.0, 1, "{ kind = \"deterministic\", ms = 1.0 }"), 2.0, 1.0, 1.0);
    cfg.workload = None;
    let s1 = 2.0 * (1.0 - (-10.0f64).exp());
    let t1 = 1.0 + s1;
    let s2 = s1 * (-t1).exp();
    let t2 = 1.0 + s2;
    let s3 = 2.0 - (2.0 - s2 * (-t2).exp()) * (-1.0f64).exp();
    let t3 = 1.0 + s3;
    let at = |ms: f64| sim::SimTime::from_millis_f64(ms).unwrap();
    let third = 10.0 + t1 + t2 + 1.0;
    let reqs = vec![
        traces::Request::new(0, at(10.0), 1),
        traces::Request::new(1, at(10.5), 1),
        traces::Request::new(2, at(third), 1),
    ];
    let r =
        sim::run(&cfg, &mut reqs.into_iter(), sim::RunOptions { seed: 1, record: true, trace_driven: true }).unwrap();
    let mut recs = r.records.unwrap();
    recs.sort_by_key(|r| r.id);
    let took: Vec<f64> = recs.iter().map(|r| (r.finish.unwrap() - r.start.unwrap()).as_secs_f64() * 1e3).collect();
    for (t, w) in took.iter().zip([t1, t2, t3]) {
        assert!((t - w).abs() < 1e-5, "{took:?} vs {:?}", [t1, t2, t3]);
    }
}
