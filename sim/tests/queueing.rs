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
    assert!(l.relative_residual.abs() < 0.01, "{l:?}");
    // And L matches the analytic L of M/M/4 (a different computation path) within sampling error.
    let exact = sim::predict(&cfg).unwrap();
    assert!(rel(l.l, exact.l) < 0.05, "L {} vs {}", l.l, exact.l);
    assert!(rel(s.mean_queue_length, exact.lq) < 0.06, "Lq {} vs {}", s.mean_queue_length, exact.lq);
}
