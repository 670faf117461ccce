//! The benchmark baselines are only fair if they simulate what the engine does.

#[path = "../benches/baseline/mod.rs"]
mod baseline;

#[test]
fn bare_loops_model_the_same_systems() {
    // The baselines are only fair if they simulate what the engine does: same means.
    let s1 = sim::run_generated(&sim::builtin::builtin("mmc").unwrap().unwrap(), 1, 200_000, false).unwrap();
    assert!((baseline::bare_mmc(200_000, 360.0, 0.010, 4, 1) * 1e3 / s1.summary.latency_ms.mean - 1.0).abs() < 1e-3);
    let s2 = sim::run_generated(&sim::builtin::builtin("dynbatch").unwrap().unwrap(), 1, 200_000, false).unwrap();
    assert!((baseline::bare_dynbatch(200_000, 1) * 1e3 / s2.summary.latency_ms.mean - 1.0).abs() < 1e-3);
}
