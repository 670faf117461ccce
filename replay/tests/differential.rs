//! The simulator's engine and the replay's scheduler run one serving core: fed the same arrivals
//! and the same completion times, they take the same decisions, in the same order.
//!
//! The engine runs the scenario in virtual time with a deterministic batch service `a + b·B`; the
//! scheduler is driven here, without threads or ONNX Runtime, by a small event loop that hands
//! each batch back after the same `a + b·B`. Arrivals fall on random nanoseconds so that no two
//! events coincide (the loop checks it), which leaves the order of events no room to differ.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::RngExt as _;
use replay::harness::{Dispatch, Done, Scheduler};
use sim::RunOptions;
use sim::serving::Decision;
use traces::{Request, SimTime};

/// Two student replicas of two servers each behind a router, with small queue bounds,
/// deadline shedding and dynamic batching; one teacher replica; a keyed LRU cache; a cascade
/// escalating with probability 0.3. Every duration has odd nanoseconds, so that two chains of
/// them from different arrivals do not end at the same time.
const SCENARIO: &str = r#"
name = "differential"
seed = 3

[router]
kind = "random"

[cache]
policy = "lru"
capacity = 16
hit_ms = 0.0500023

[[variants]]
name = "student"
family = "student"
precision = "int8"
quality = 0.8
weight_bytes = 1000
service = { cpu = { kind = "affine", a_ms = 0.3000137, b_ms = 0.0700291 } }

[[variants]]
name = "teacher"
family = "teacher"
precision = "fp32"
quality = 0.9
weight_bytes = 1000
service = { cpu = { kind = "affine", a_ms = 0.5000613, b_ms = 0.1000457 } }

[[devices]]
name = "s"
kind = "cpu"
count = 2
servers = 2
variant = "student"
queue_capacity = 3
shed_after_ms = 0.2500311
batching = { kind = "dynamic", max_batch = 4, max_queue_delay_ms = 0.2000071 }

[[devices]]
name = "t"
kind = "cpu"
variant = "teacher"
queue_capacity = 4
batching = { kind = "dynamic", max_batch = 4, max_queue_delay_ms = 0.3000179 }

[cascade]
student = "student"
teacher = "teacher"
escalate = { kind = "probability", p = 0.3 }
"#;

/// Bursts of 200 requests 20 µs apart on average, then 200 at 500 µs: queues fill, drop and shed
/// in the bursts and drain in between. Keys from 40 values, so the cache hits.
fn trace(n: u64) -> Vec<Request> {
    let mut rng = traces::rng::stream(11, "differential");
    let mut t = 0u64;
    (0..n)
        .map(|id| {
            let mean_ns = if (id / 200) % 2 == 0 { 20_000.0 } else { 500_000.0 };
            t += 1 + (-(1.0 - rng.random::<f64>()).ln() * mean_ns) as u64;
            Request { cache_key: Some(rng.random_range(0..40)), ..Request::new(id, SimTime(t), 1) }
        })
        .collect()
}

/// A batch in service: (finish ns, sequence, device, server, trace indices, start ns).
type Running = (u64, u64, usize, u32, Vec<usize>, u64);

/// Drives a scheduler in virtual time: releases at the arrivals, each batch back after its
/// device's `a + b·B`, wake-ups when it asks. Returns its decisions.
fn drive(config: &sim::ScenarioConfig, seed: u64, requests: &[Request]) -> Vec<Decision> {
    let resolved = config.resolve().unwrap();
    let intended: Vec<u64> = requests.iter().map(|r| r.arrival.0).collect();
    let mut sched = Scheduler::new(config, &resolved, seed, requests, &intended, true);
    let mut running: BinaryHeap<Reverse<Running>> = BinaryHeap::new();
    let mut seq = 0;
    let mut next = 0;
    let mut out: Vec<Dispatch> = Vec::new();
    loop {
        let arrival = requests.get(next).map(|r| r.arrival.0);
        let finish = running.peek().map(|Reverse(b)| b.0);
        let wake = sched.deadline().map(|t| t.0);
        let Some(now) = [arrival, finish, wake].into_iter().flatten().min() else {
            break;
        };
        let due = [arrival, finish, wake].into_iter().flatten().filter(|&t| t == now).count();
        assert_eq!(due, 1, "two events at {now} ns: the order between them would be the driver's choice");
        let t = SimTime(now);
        if finish == Some(now) {
            let Reverse((end, _, device, server, idxs, start)) = running.pop().unwrap();
            assert!(running.peek().is_none_or(|Reverse(b)| b.0 != now), "two batches end at {now} ns");
            let n = idxs.len();
            let done = Done {
                device,
                server,
                predictions: idxs.iter().map(|&i| (requests[i].id % 3) as u32).collect(),
                confidences: vec![0.5; n],
                idxs,
                run_start: start,
                run_end: end,
            };
            sched.done(done, t, &mut out);
        } else if arrival == Some(now) {
            sched.release(next, t, &mut out);
            next += 1;
        } else {
            sched.wake(t, &mut out);
        }
        for Dispatch { device, server, idxs } in out.drain(..) {
            let service = resolved.devices[device].service.batch_mean_s(idxs.len());
            let end = now + SimTime::from_secs_f64(service).unwrap().0;
            running.push(Reverse((end, seq, device, server, idxs, now)));
            seq += 1;
        }
    }
    assert!(sched.quiescent());
    sched.decisions().to_vec()
}

#[test]
fn the_engine_and_the_replay_scheduler_take_the_same_decisions() {
    // A router that draws from its random stream, and one that reads the devices' loads; two
    // run seeds (router and cascade streams).
    for router in ["random", "join_shortest_queue"] {
        for seed in [5, 6] {
            same_decisions(&SCENARIO.replace("kind = \"random\"", &format!("kind = \"{router}\"")), seed);
        }
    }
}

fn same_decisions(scenario: &str, seed: u64) {
    let config = sim::ScenarioConfig::parse(scenario).unwrap();
    let requests = trace(4_000);
    let (result, engine) = sim::run_logged(
        &config,
        &mut requests.clone().into_iter(),
        RunOptions { seed, record: false, trace_driven: true },
    )
    .unwrap();
    let replay = drive(&config, seed, &requests);

    // The run exercises every decision: both student replicas and all their servers, the
    // router, the queue bound, shedding, the cache and escalations both ways.
    let count = |f: &dyn Fn(&Decision) -> bool| engine.iter().filter(|d| f(d)).count();
    assert!(count(&|d| matches!(d, Decision::Route { device: 0, .. })) > 100);
    assert!(count(&|d| matches!(d, Decision::Route { device: 1, .. })) > 100);
    assert!(count(&|d| matches!(d, Decision::Drop { .. })) > 10);
    assert!(count(&|d| matches!(d, Decision::Shed { .. })) > 10);
    assert!(count(&|d| matches!(d, Decision::CacheHit { .. })) > 100);
    assert!(count(&|d| matches!(d, Decision::Escalation { escalated: true, .. })) > 100);
    assert!(count(&|d| matches!(d, Decision::Escalation { escalated: false, .. })) > 100);
    assert!(count(&|d| matches!(d, Decision::Batch { ids, .. } if ids.len() == 4)) > 10);
    assert!(count(&|d| matches!(d, Decision::Batch { ids, .. } if ids.len() == 1)) > 10);
    for device in 0..3 {
        for server in 0..if device < 2 { 2 } else { 1 } {
            assert!(
                count(&|d| matches!(d, Decision::Batch { device: dv, server: s, .. } if *dv == device && *s == server))
                    > 10,
                "device {device} server {server}"
            );
        }
    }
    let s = &result.summary;
    assert_eq!(s.requests.arrived, 4_000);
    assert_eq!(count(&|d| matches!(d, Decision::Drop { .. } | Decision::Shed { .. })) as u64, s.requests.dropped);

    if let Some(i) = engine.iter().zip(&replay).position(|(a, b)| a != b) {
        panic!(
            "{:?}, seed {seed}: decision {i} differs:\n  engine    {:?}\n  scheduler {:?}",
            config.router, engine[i], replay[i]
        );
    }
    assert_eq!(engine.len(), replay.len());
}
