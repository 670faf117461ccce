//! Bare `BinaryHeap` loops of S1 and S2: the baselines the engine is benchmarked against.
//! Shared by the bench and by `tests/baseline.rs`, which checks they model the same systems.

use rand_distr::{Distribution, Exp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use traces::rng::stream;

/// The M/M/c model with nothing but a heap, a FIFO queue and the sum of sojourn times.
pub fn bare_mmc(n: u64, lambda: f64, mean_s: f64, c: u32, seed: u64) -> f64 {
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
                heap.push(Reverse((now + (sv.sample(&mut svc_rng) * 1e9) as u64, seq, 1, now)));
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
                heap.push(Reverse((now + (sv.sample(&mut svc_rng) * 1e9) as u64, seq, 1, a)));
            } else {
                busy -= 1;
            }
        }
    }
    sum as f64 / n as f64 / 1e9
}

/// S2 with nothing but a heap: dynamic batcher (max 32, 4 ms from the oldest, only when idle),
/// batch time 2 + 0.25 B ms; returns the mean latency.
pub fn bare_dynbatch(n: u64, seed: u64) -> f64 {
    const ARRIVAL: u8 = 0;
    const DONE: u8 = 1;
    const TIMER: u8 = 2;
    let mut arr_rng = stream(seed, "arrivals");
    let ia = Exp::new(2000.0).unwrap();
    let mut heap: BinaryHeap<Reverse<(u64, u64, u8)>> = BinaryHeap::new();
    let mut queue: VecDeque<u64> = VecDeque::new();
    let mut in_service: Vec<u64> = Vec::with_capacity(32);
    let (mut seq, mut arrived, mut sum, mut busy) = (0u64, 0u64, 0u128, false);
    let mut timer: Option<u64> = None;
    let mut t = ia.sample(&mut arr_rng);
    heap.push(Reverse(((t * 1e9) as u64, seq, ARRIVAL)));
    while let Some(Reverse((now, _, kind))) = heap.pop() {
        match kind {
            ARRIVAL => {
                queue.push_back(now);
                arrived += 1;
                if arrived < n {
                    t += ia.sample(&mut arr_rng);
                    seq += 1;
                    heap.push(Reverse(((t * 1e9) as u64, seq, ARRIVAL)));
                }
            }
            DONE => {
                for a in in_service.drain(..) {
                    sum += u128::from(now - a);
                }
                busy = false;
            }
            _ => {
                if timer != Some(now) {
                    continue;
                }
                timer = None;
            }
        }
        if !busy && !queue.is_empty() {
            let deadline = queue[0] + 4_000_000;
            if queue.len() >= 32 || now >= deadline {
                let b = queue.len().min(32);
                in_service.extend(queue.drain(..b));
                busy = true;
                seq += 1;
                heap.push(Reverse((now + 2_000_000 + 250_000 * b as u64, seq, DONE)));
            } else if timer.is_none_or(|p| deadline < p) {
                timer = Some(deadline);
                seq += 1;
                heap.push(Reverse((deadline, seq, TIMER)));
            }
        }
    }
    sum as f64 / n as f64 / 1e9
}
