//! Hand-computed micro-scenarios, determinism, conservation and run-level invariants.

mod common;

use proptest::prelude::*;
use sim::engine::{DeviceId, RequestRecord};
use sim::{RunOptions, ScenarioConfig};
use traces::{Request, SimTime};

fn ms(x: u64) -> SimTime {
    SimTime::from_millis(x)
}

fn with_service(id: u64, arrival_ms: u64, service_ms: u64) -> Request {
    Request { service: Some(ms(service_ms)), ..Request::new(id, ms(arrival_ms), 1) }
}

fn device_config(servers: u32, cap: Option<u64>) -> ScenarioConfig {
    let cap = cap.map_or(String::new(), |c| format!("queue_capacity = {c}\n"));
    ScenarioConfig::parse(&format!(
        "name = \"micro\"\n[[devices]]\nname = \"d\"\nservers = {servers}\n{cap}service = {{ kind = \"deterministic\", ms = 1.0 }}\n"
    ))
    .unwrap()
}

fn run_trace(cfg: &ScenarioConfig, reqs: Vec<Request>) -> (sim::Summary, Vec<RequestRecord>) {
    let r = sim::run(cfg, &mut reqs.into_iter(), RunOptions { seed: 1, record: true, trace_driven: true }).unwrap();
    let mut rec = r.records.unwrap();
    rec.sort_by_key(|r| r.id);
    (r.summary, rec)
}

#[test]
fn two_servers_six_requests_by_hand() {
    // Recorded service times; worked out on paper (see the comments for the tie at t = 7 and 11:
    // the departure was scheduled earlier than the arrival, so it pops first).
    let reqs = vec![
        with_service(0, 0, 10), // S0 [0, 10)
        with_service(1, 2, 5),  // S1 [2, 7)
        with_service(2, 3, 4),  // waits; S1 [7, 11) after r1 leaves at 7
        with_service(3, 7, 1),  // arrives at 7 after that departure: waits; S0 [10, 11)
        with_service(4, 8, 6),  // waits; S1 [11, 17) (r2's departure at 11 pops before r3's)
        with_service(5, 20, 2), // idle system; S1 was freed last, so it is on top of the idle stack
    ];
    let (s, rec) = run_trace(&device_config(2, None), reqs);
    let got: Vec<(u64, u64, u32)> = rec
        .iter()
        .map(|r| (r.start.unwrap().0 / 1_000_000, r.finish.unwrap().0 / 1_000_000, r.server.unwrap()))
        .collect();
    assert_eq!(got, vec![(0, 10, 0), (2, 7, 1), (7, 11, 1), (10, 11, 0), (11, 17, 1), (20, 22, 1)]);
    assert!(rec.iter().all(|r| r.device == Some(DeviceId(0)) && !r.dropped));
    assert_eq!(s.requests.completed, 6);
    assert!((s.queue_delay_ms.mean - 10.0 / 6.0).abs() < 1e-9);
    assert!((s.latency_ms.mean - 38.0 / 6.0).abs() < 1e-9);
    assert_eq!(s.horizon_s, 0.022);
    // Busy server-time 28 ms over 2 servers × 22 ms.
    assert!((s.utilization - 28.0 / 44.0).abs() < 1e-12);
    assert_eq!(s.devices[0].peak_queue_length, 2);
}

#[test]
fn a_full_queue_drops_and_every_request_is_counted() {
    // One server busy [0, 10); queue capacity 1: r1 waits, r2 and r3 are dropped, r4 arrives later.
    let reqs = vec![
        with_service(0, 0, 10),
        with_service(1, 1, 1),
        with_service(2, 2, 1),
        with_service(3, 3, 1),
        with_service(4, 30, 1),
    ];
    let (s, rec) = run_trace(&device_config(1, Some(1)), reqs);
    assert_eq!((s.requests.arrived, s.requests.completed, s.requests.dropped), (5, 3, 2));
    let dropped: Vec<u64> = rec.iter().filter(|r| r.dropped).map(|r| r.id).collect();
    assert_eq!(dropped, vec![2, 3]);
    assert!((s.drop_rate - 0.4).abs() < 1e-12);
}

#[test]
fn same_seed_same_summary_other_seed_other_summary() {
    let cfg = sim::builtin::builtin("mmc").unwrap().unwrap();
    let a = serde_json::to_string(&sim::run_generated(&cfg, 3, 20_000, false).unwrap().summary).unwrap();
    let b = serde_json::to_string(&sim::run_generated(&cfg, 3, 20_000, false).unwrap().summary).unwrap();
    let c = serde_json::to_string(&sim::run_generated(&cfg, 4, 20_000, false).unwrap().summary).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn overload_with_a_bounded_queue_conserves_requests_and_bounds_the_queue() {
    let cfg = sim::builtin::builtin("overload").unwrap().unwrap();
    let s = sim::run_generated(&cfg, 1, 200_000, false).unwrap().summary;
    assert_eq!(s.requests.arrived, 200_000);
    assert_eq!(s.requests.arrived, s.requests.completed + s.requests.dropped);
    assert!(s.devices[0].peak_queue_length <= 64);
    // Capacity 400/s against 600/s offered: about a third must go.
    assert!((s.drop_rate - 1.0 / 3.0).abs() < 0.02, "{}", s.drop_rate);
}

#[test]
fn an_unsorted_source_is_an_error_not_a_panic() {
    let reqs = vec![with_service(0, 5, 1), with_service(1, 4, 1)];
    let cfg = device_config(1, None);
    let e = sim::run(&cfg, &mut reqs.into_iter(), RunOptions::default()).err().unwrap();
    assert!(e.to_string().contains("not sorted"), "{e}");
}

fn arb_trace() -> impl Strategy<Value = Vec<Request>> {
    prop::collection::vec((0u64..50, 1u64..30), 1..200).prop_map(|v| {
        let mut t = 0;
        v.into_iter()
            .enumerate()
            .map(|(i, (gap, svc))| {
                t += gap;
                with_service(i as u64, t, svc)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn invariants_hold_on_arbitrary_traces(reqs in arb_trace(), servers in 1u32..4, cap in prop::option::of(0u64..5)) {
        let n = reqs.len() as u64;
        let services: Vec<SimTime> = reqs.iter().map(|r| r.service.unwrap()).collect();
        let (s, rec) = run_trace(&device_config(servers, cap), reqs);
        // Conservation: every request is completed or dropped, exactly once.
        prop_assert_eq!(s.requests.arrived, n);
        prop_assert_eq!(s.requests.completed + s.requests.dropped, n);
        prop_assert_eq!(rec.len() as u64, n);
        for r in &rec {
            if r.dropped {
                prop_assert!(r.start.is_none() && r.finish.is_none());
                continue;
            }
            let (start, finish) = (r.start.unwrap(), r.finish.unwrap());
            // No service before arrival; service takes exactly the recorded time.
            prop_assert!(start >= r.arrival);
            prop_assert_eq!(finish - start, services[r.id as usize]);
        }
        // FIFO on one queue: start times follow arrival order.
        let starts: Vec<SimTime> = rec.iter().filter_map(|r| r.start).collect();
        prop_assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        // A server never serves two requests at once.
        for srv in 0..servers {
            let mut spans: Vec<(SimTime, SimTime)> =
                rec.iter().filter(|r| r.server == Some(srv)).map(|r| (r.start.unwrap(), r.finish.unwrap())).collect();
            spans.sort();
            prop_assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
        }
        if let Some(c) = cap {
            prop_assert!(s.devices[0].peak_queue_length <= c);
        }
        prop_assert!(s.little.relative_residual.abs() < 1e-9);
    }
}
