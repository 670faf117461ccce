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

criterion_group!(benches, s1, s2);
criterion_main!(benches);
