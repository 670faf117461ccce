//! S1 (M/M/4) and S2 (dynamic batching), 1e6 requests each, through the full engine with all
//! metrics on, each beside a bare `BinaryHeap` loop of the same model in the same run.
//! Results: BENCHMARKS.md.
//!
//! `cargo bench -p sim --bench engine`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
mod baseline;

use baseline::{bare_dynbatch, bare_mmc};
use std::hint::black_box;

const N: u64 = 1_000_000;

fn s2(c: &mut Criterion) {
    let cfg = sim::builtin::builtin("dynbatch").unwrap().unwrap();
    let mut g = c.benchmark_group("s2_dynbatch_1e6");
    g.sample_size(10).throughput(Throughput::Elements(N));
    g.bench_function("bare_binaryheap_loop", |b| b.iter(|| black_box(bare_dynbatch(N, 1))));
    g.bench_function("servesim_engine_all_metrics", |b| {
        b.iter(|| black_box(sim::run_generated(&cfg, 1, N, false).unwrap().summary.latency_ms.mean))
    });
    g.finish();
}

fn s1(c: &mut Criterion) {
    let cfg = sim::builtin::builtin("mmc").unwrap().unwrap();
    let mut g = c.benchmark_group("s1_mmc_1e6");
    g.sample_size(10).throughput(Throughput::Elements(N));
    g.bench_function("bare_binaryheap_loop", |b| b.iter(|| black_box(bare_mmc(N, 360.0, 0.010, 4, 1))));
    g.bench_function("servesim_engine_all_metrics", |b| {
        b.iter(|| black_box(sim::run_generated(&cfg, 1, N, false).unwrap().summary.latency_ms.mean))
    });
    g.finish();
}

/// A heterogeneous pool with everything on: Zipf-keyed LRU cache, a confidence cascade from a
/// student pool to a teacher pool, cost-aware routing, dynamic batching, SLO and cost.
const HETERO: &str = r#"
name = "hetero-all-on"
[workload.arrivals]
kind = "poisson"
rate = 2000.0
[workload.cache_keys]
universe = 100000
zipf_s = 0.9
[cache]
policy = "lru"
capacity = 5000
freshness_s = 60.0
[slo]
latency_ms = 30.0
[router]
kind = "cost_aware"
slo_ms = 30.0
[[variants]]
name = "student"
family = "student"
precision = "int8"
quality = 0.86
weight_bytes = 2000000
service = { t4 = { kind = "affine", a_ms = 0.4, b_ms = 0.05 }, l4 = { kind = "affine", a_ms = 0.3, b_ms = 0.04 } }
[[variants]]
name = "teacher"
family = "teacher"
precision = "fp16"
quality = 0.91
weight_bytes = 40000000
service = { a100 = { kind = "affine", a_ms = 0.5, b_ms = 0.05 } }
[[devices]]
name = "t4"
kind = "t4"
count = 2
variant = "student"
batching = { kind = "dynamic", max_batch = 16, max_queue_delay_ms = 1.0 }
[[devices]]
name = "l4"
kind = "l4"
count = 2
variant = "student"
batching = { kind = "dynamic", max_batch = 16, max_queue_delay_ms = 1.0 }
[[devices]]
name = "a100"
kind = "a100"
count = 2
variant = "teacher"
batching = { kind = "dynamic", max_batch = 32, max_queue_delay_ms = 1.0 }
[cascade]
student = "student"
teacher = "teacher"
escalate = { kind = "confidence", threshold = 0.6, beta_a = 5.0, beta_b = 2.0 }
"#;

fn hetero(c: &mut Criterion) {
    let s2 = sim::builtin::builtin("dynbatch").unwrap().unwrap();
    let cfg = sim::ScenarioConfig::parse(HETERO).unwrap();
    let mut g = c.benchmark_group("hetero_vs_s2_1e6");
    g.sample_size(10).throughput(Throughput::Elements(N));
    g.bench_function("s2_engine", |b| {
        b.iter(|| black_box(sim::run_generated(&s2, 1, N, false).unwrap().summary.latency_ms.mean))
    });
    g.bench_function("hetero_cache_cascade_cost_aware", |b| {
        b.iter(|| black_box(sim::run_generated(&cfg, 1, N, false).unwrap().summary.latency_ms.mean))
    });
    // The same with a probability cascade (one uniform draw per request instead of a Beta draw).
    let by_probability = sim::ScenarioConfig::parse(&HETERO.replace(
        "escalate = { kind = \"confidence\", threshold = 0.6, beta_a = 5.0, beta_b = 2.0 }",
        "escalate = { kind = \"probability\", p = 0.23 }",
    ))
    .unwrap();
    g.bench_function("hetero_probability_cascade", |b| {
        b.iter(|| black_box(sim::run_generated(&by_probability, 1, N, false).unwrap().summary.latency_ms.mean))
    });
    g.finish();
}

criterion_group!(benches, s1, s2, hetero);
criterion_main!(benches);
