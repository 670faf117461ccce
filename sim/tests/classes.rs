//! Request classes: priority and weighted queues against queueing theory, per-class SLOs and
//! Jain's fairness index.

mod common;
use common::{mean, over_seeds, rel};
use sim::ScenarioConfig;
use sim::engine::jain;

fn two_classes(rate: f64, queue: &str, classes: &str, extra: &str) -> ScenarioConfig {
    ScenarioConfig::parse(&format!(
        r#"
name = "classes"
{classes}
[workload.arrivals]
kind = "poisson"
rate = {rate}
[[devices]]
name = "d"
queue = "{queue}"
service = {{ kind = "exponential", mean_ms = 10.0 }}
{extra}
"#
    ))
    .unwrap()
}

const HIGH_LOW: &str = r#"
[[classes]]
name = "interactive"
share = 0.3
priority = 1
slo_ms = 50.0
[[classes]]
name = "batch"
share = 0.7
slo_ms = 50.0
"#;

#[test]
fn strict_priority_matches_cobhams_formula() {
    // M/M/1 with non-preemptive priority (Cobham 1954): W0 = Σ λ_i E[S_i²] / 2 = ρ / μ for
    // exponential service; E[Wq_1] = W0 / (1 − ρ1), E[Wq_2] = W0 / ((1 − ρ1)(1 − ρ1 − ρ2)).
    // λ = 80/s, μ = 100/s: ρ1 = 0.24, ρ2 = 0.56.
    let cfg = two_classes(80.0, "priority", HIGH_LOW, "");
    let (rho1, rho2, mu) = (0.24, 0.56, 100.0);
    let w0 = (rho1 + rho2) / mu;
    let wq = [w0 / (1.0 - rho1), w0 / ((1.0 - rho1) * (1.0 - rho1 - rho2))];
    let runs = over_seeds(&cfg, 16, 400_000);
    for (k, exact) in wq.iter().enumerate() {
        let sim_wq = mean(&runs, |s| s.classes[k].latency_ms.mean) / 1e3 - 1.0 / mu;
        assert!(rel(sim_wq, *exact) < 0.03, "class {k}: E[Wq] {sim_wq} s vs {exact} s");
    }
    // Conservation (Kleinrock): the ρ-weighted mean wait is that of FIFO M/M/1, ρ/(μ − λ).
    let fifo = two_classes(80.0, "fifo", HIGH_LOW, "");
    let f = over_seeds(&fifo, 16, 400_000);
    let both = |s: &[sim::Summary]| {
        mean(s, |x| (rho1 * x.classes[0].latency_ms.mean + rho2 * x.classes[1].latency_ms.mean) / (rho1 + rho2))
    };
    assert!(rel(both(&runs), both(&f)) < 0.02, "{} vs {}", both(&runs), both(&f));
    assert!(rel(mean(&f, |x| x.queue_delay_ms.mean) / 1e3, 0.8 / 20.0) < 0.02);
    // The shares drawn are the declared ones.
    let share = mean(&runs, |s| s.classes[0].requests.arrived as f64 / s.requests.arrived as f64);
    assert!(rel(share, 0.3) < 0.01, "{share}");
}

#[test]
fn weighted_queues_split_a_saturated_server_by_weight() {
    // Offered twice the capacity, half and half; weights 3 : 1. Requests that waited 200 ms are
    // shed, so both queues stay backlogged and the server serves them 3 : 1. (A shared queue
    // bound would not do: tail drop admits the classes as they arrive, 1 : 1, whatever the
    // order of service.)
    let classes = r#"
[[classes]]
name = "gold"
share = 0.5
weight = 3.0
[[classes]]
name = "bronze"
share = 0.5
"#;
    let cfg = two_classes(200.0, "weighted", classes, "shed_after_ms = 200.0");
    let runs = over_seeds(&cfg, 4, 200_000);
    let ratio = mean(&runs, |s| s.classes[0].requests.completed as f64 / s.classes[1].requests.completed as f64);
    assert!(rel(ratio, 3.0) < 0.02, "gold / bronze {ratio}");
    // FIFO serves them as they come: 1 : 1.
    let fifo = two_classes(200.0, "fifo", classes, "shed_after_ms = 200.0");
    let f = over_seeds(&fifo, 4, 200_000);
    let even = mean(&f, |s| s.classes[0].requests.completed as f64 / s.classes[1].requests.completed as f64);
    assert!(rel(even, 1.0) < 0.02, "{even}");
}

#[test]
fn jains_index_on_known_allocations() {
    assert_eq!(jain(&[0.5, 0.5, 0.5, 0.5]), 1.0);
    assert_eq!(jain(&[1.0, 0.0, 0.0, 0.0]), 0.25);
    assert!((jain(&[1.0, 0.5]) - 0.9).abs() < 1e-15);
    assert_eq!(jain(&[0.0, 0.0]), 1.0);
}

#[test]
fn per_class_slos_and_fairness_are_reported() {
    let cfg = two_classes(80.0, "priority", HIGH_LOW, "");
    let s = sim::run_generated(&cfg, 3, 50_000, false).unwrap().summary;
    let (a, b) = (s.classes[0].attainment.unwrap(), s.classes[1].attainment.unwrap());
    assert!(a > b, "priority protects the interactive class: {a} vs {b}");
    assert!((s.fairness.unwrap() - jain(&[a, b])).abs() < 1e-15);
    assert_eq!(s.classes.iter().map(|c| c.requests.arrived).sum::<u64>(), s.requests.arrived);
    // A trace class the scenario does not list is an error naming the classes.
    let mut reqs = vec![traces::Request::new(0, sim::SimTime::ZERO, 1)];
    reqs[0].class = traces::ClassId(5);
    let e = sim::run(&cfg, &mut reqs.into_iter(), sim::RunOptions { seed: 1, record: false, trace_driven: true })
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("classes") && e.contains("class 5"), "{e}");
}
