//! S1 (M/M/4, 1e6 requests) through the full engine with all metrics on, beside a bare
//! `BinaryHeap` loop of the same model in the same run. Results: BENCHMARKS.md.
//!
//! `cargo bench -p sim --bench engine`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_distr::{Distribution, Exp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hint::black_box;
use traces::rng::stream;

const N: u64 = 1_000_000;

/// The M/M/c model with nothing but a heap, a FIFO queue and the sum of sojourn times.
fn bare_mmc(n: u64, lambda: f64, mean_s: f64, c: u32, seed: u64) -> f64 {
    let mut arr_rng = stream(seed, "arrivals");
    let mut svc_rng = stream(seed, "service/0");
    let ia = Exp::new(lambda).unwrap();
    let sv = Exp::new(1.0 / mean_s).unwrap();
    // (time ns, seq, kind: 0 arrival / 1 departure, arrival time of the departing job)
    let mut heap: BinaryHeap<Reverse<(u64, u64, u8, u64)>> = BinaryHeap::new();
    let mut queue: VecDeque<u64> = VecDeque::new();
    let (mut seq, mut busy, mut arrived, mut sum) = (0u64, 0u32, 0u64, 0u128);
    let mut t = 0.0f64;
    t += ia.sample(&mut arr_rng);
    heap.push(Reverse(((t * 1e9) as u64, seq, 0, 0)));
    while let Some(Reverse((now, _, kind, arr))) = heap.pop() {
        if kind == 0 {
            arrived += 1;
            if busy < c {
                busy += 1;
                seq += 1;
                heap.push(Reverse((
                    now + (sv.sample(&mut svc_rng) * 1e9) as u64,
                    seq,
                    1,
                    now,
                )));
            } else {
                queue.push_back(now);
            }
            if arrived < n {
                t += ia.sample(&mut arr_rng);
                seq += 1;
                heap.push(Reverse(((t * 1e9) as u64, seq, 0, 0)));
            }
        } else {
            sum += u128::from(now - arr);
            if let Some(a) = queue.pop_front() {
                seq += 1;
                heap.push(Reverse((
                    now + (sv.sample(&mut svc_rng) * 1e9) as u64,
                    seq,
                    1,
                    a,
                )));
            } else {
                busy -= 1;
            }
        }
    }
    sum as f64 / n as f64 / 1e9
}

fn s1(c: &mut Criterion) {
    let cfg = sim::builtin::builtin("mmc").unwrap().unwrap();
    let mut g = c.benchmark_group("s1_mmc_1e6");
    g.sample_size(10).throughput(Throughput::Elements(N));
    g.bench_function("bare_binaryheap_loop", |b| {
        b.iter(|| black_box(bare_mmc(N, 360.0, 0.010, 4, 1)))
    });
    g.bench_function("servesim_engine_all_metrics", |b| {
        b.iter(|| {
            black_box(
                sim::run_generated(&cfg, 1, N, false)
                    .unwrap()
                    .summary
                    .latency_ms
                    .mean,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, s1);
criterion_main!(benches);
