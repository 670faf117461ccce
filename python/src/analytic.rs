//! Closed-form queueing results (`sim::analytic`) with their inputs checked: a Python caller gets
//! an `InputError` naming the argument, not a NaN, for a queue that has no steady state.

use crate::error::{input, other};
use pyo3::prelude::*;
use sim::analytic::{MD1, MG1, MMc, Prediction};

fn positive(name: &str, v: f64) -> PyResult<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(input(format!("{name}: must be a positive finite number, got {v}")))
    }
}

fn stable(rho: f64) -> PyResult<()> {
    if rho < 1.0 {
        Ok(())
    } else {
        Err(input(format!("arrival_rate: the queue has no steady state: utilization ρ = {rho} ≥ 1")))
    }
}

fn json(p: &Prediction) -> PyResult<String> {
    serde_json::to_string(p).map_err(other)
}

/// M/M/c: Erlang C and the FIFO sojourn distribution; the prediction as JSON.
#[pyfunction]
pub(crate) fn mmc(arrival_rate: f64, service_rate: f64, servers: u32) -> PyResult<String> {
    if servers == 0 {
        return Err(input("servers: must be at least 1"));
    }
    let q = MMc {
        lambda: positive("arrival_rate", arrival_rate)?,
        mu: positive("service_rate", service_rate)?,
        c: servers,
    };
    stable(q.utilization())?;
    json(&q.predict())
}

/// M/D/1 (Erlang's waiting-time formula); the prediction as JSON.
#[pyfunction]
pub(crate) fn md1(arrival_rate: f64, service_time_s: f64) -> PyResult<String> {
    let q = MD1 { lambda: positive("arrival_rate", arrival_rate)?, d: positive("service_time_s", service_time_s)? };
    stable(q.lambda * q.d)?;
    json(&q.predict())
}

/// M/G/1 (Pollaczek–Khinchine) from the service time's first two moments; the prediction as JSON.
#[pyfunction]
pub(crate) fn mg1(arrival_rate: f64, mean_service_s: f64, second_moment_s2: f64) -> PyResult<String> {
    let mean = positive("mean_service_s", mean_service_s)?;
    let m2 = positive("second_moment_s2", second_moment_s2)?;
    if m2 < mean * mean * (1.0 - 1e-12) {
        return Err(input(format!(
            "second_moment_s2: E[S²] = {m2} is below E[S]² = {}: no distribution has these moments",
            mean * mean
        )));
    }
    let q = MG1 { lambda: positive("arrival_rate", arrival_rate)?, mean_s: mean, second_moment_s2: m2 };
    stable(q.utilization())?;
    json(&q.predict("M/G/1"))
}

/// Erlang C: the probability that an arrival waits in M/M/c with offered load a = λ/μ.
#[pyfunction]
pub(crate) fn erlang_c(servers: u32, offered_load: f64) -> PyResult<f64> {
    if servers == 0 {
        return Err(input("servers: must be at least 1"));
    }
    Ok(sim::analytic::erlang_c(servers, positive("offered_load", offered_load)?))
}

/// Zipf popularities p_k ∝ k^(−s), k = 1..n.
#[pyfunction]
pub(crate) fn zipf(n: u64, s: f64) -> PyResult<Vec<f64>> {
    if n == 0 {
        return Err(input("universe: must be at least 1"));
    }
    if !(s.is_finite() && s >= 0.0) {
        return Err(input(format!("zipf_s: must be a non-negative finite number, got {s}")));
    }
    Ok(sim::analytic::zipf_popularity(n, s))
}

/// Che's approximation of the LRU hit ratio for popularities `p` and `capacity` entries.
#[pyfunction]
pub(crate) fn che(popularities: Vec<f64>, capacity: f64) -> PyResult<f64> {
    if popularities.is_empty() {
        return Err(input("popularities: must not be empty"));
    }
    if let Some((i, p)) = popularities.iter().enumerate().find(|(_, p)| !(p.is_finite() && **p >= 0.0)) {
        return Err(input(format!("popularities[{i}]: must be a non-negative finite number, got {p}")));
    }
    let total: f64 = popularities.iter().sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(input(format!("popularities: must sum to 1, got {total}")));
    }
    Ok(sim::analytic::che_lru_hit_ratio(&popularities, positive("capacity", capacity)?))
}
