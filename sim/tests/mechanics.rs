//! Serving mechanics: the response cache against Che's approximation, routers on a
//! heterogeneous pool, cascades, admission, SLOs, cost, and configuration errors.

mod common;

use common::rel;
use sim::ScenarioConfig;
use sim::analytic::{che_lru_hit_ratio, top_c_hit_ratio, zipf_popularity};
use sim::policy::cache::{CachePolicy, OnStale};
use sim::policy::{CacheSpec, Lookup};
use sim::{RunOptions, Summary};
use traces::workload::{ArrivalSpec, KeySpec, SizeSpec, WorkloadSpec};
use traces::{Request, SimTime};

/// Hit ratio of a cache policy on independent Zipf keys, after a warm-up.
fn hit_ratio(policy: CachePolicy, capacity: u64, universe: u64, s: f64, n: u64) -> f64 {
    let spec = WorkloadSpec {
        arrivals: ArrivalSpec::Poisson { rate: 1.0 },
        input_size: SizeSpec::one(),
        output_tokens: SizeSpec::zero(),
        cache_keys: Some(KeySpec { universe, zipf_s: s }),
        prefixes: None,
        sessions: None,
    };
    let mut cache =
        CacheSpec { policy, capacity, ttl_s: None, freshness_s: None, on_stale: OnStale::Miss, hit_ms: 0.0 }.build();
    let warmup = n / 5;
    let mut hits = 0u64;
    for (i, r) in spec.generator(17, n).unwrap().enumerate() {
        let key = r.cache_key.unwrap();
        match cache.lookup(key, r.arrival) {
            Lookup::Hit => hits += u64::from(i as u64 >= warmup),
            _ => cache.insert(key, r.arrival),
        }
    }
    hits as f64 / (n - warmup) as f64
}

#[test]
fn lru_matches_the_che_approximation_and_lfu_does_at_least_as_well() {
    let universe = 5_000;
    for s in [0.6, 0.8, 1.0, 1.2] {
        let p = zipf_popularity(universe, s);
        for capacity in [25, 250, 1_000] {
            let lru = hit_ratio(CachePolicy::Lru, capacity, universe, s, 300_000);
            let che = che_lru_hit_ratio(&p, capacity as f64);
            assert!((lru - che).abs() < 0.02, "s={s} C={capacity}: LRU {lru:.4} vs Che {che:.4}");
            let lfu = hit_ratio(CachePolicy::Lfu, capacity, universe, s, 300_000);
            assert!(lfu >= lru - 0.002, "s={s} C={capacity}: LFU {lfu:.4} < LRU {lru:.4}");
            // And LFU cannot beat the static optimum of holding the top C keys.
            assert!(lfu <= top_c_hit_ratio(&p, capacity as usize) + 0.01);
        }
    }
}

fn scenario(text: &str) -> ScenarioConfig {
    ScenarioConfig::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn run(cfg: &ScenarioConfig, n: u64) -> Summary {
    sim::run_generated(cfg, 1, n, false).unwrap().summary
}

const HETERO: &str = r#"
name = "hetero"
[workload.arrivals]
kind = "poisson"
rate = 200.0
[[devices]]
name = "fast"
service = { kind = "exponential", mean_ms = 5.0 }
[[devices]]
name = "slow"
service = { kind = "exponential", mean_ms = 20.0 }
"#;

#[test]
fn jsq_and_friends_beat_round_robin_on_a_heterogeneous_pool_at_high_load() {
    // Capacity 200 + 50 = 250/s against 200/s (ρ = 0.8). Round-robin sends 100/s to the slow
    // device, which can serve only 50/s: its queue grows without bound.
    let mean = |router: &str| {
        let cfg = scenario(&format!("{HETERO}[router]\n{router}\n"));
        run(&cfg, 100_000).latency_ms.mean
    };
    let rr = mean("kind = \"round_robin\"");
    let jsq = mean("kind = \"join_shortest_queue\"");
    let p2c = mean("kind = \"power_of_two\"");
    let lect = mean("kind = \"least_expected_completion\"");
    let random = mean("kind = \"random\"");
    assert!(jsq < rr / 10.0, "JSQ {jsq} vs RR {rr}");
    assert!(p2c < rr / 10.0, "P2C {p2c} vs RR {rr}");
    assert!(lect <= jsq, "LECT {lect} should use the service model and beat JSQ {jsq}");
    assert!(random > jsq, "random {random} vs JSQ {jsq}");
}

fn cascade(escalate: &str) -> ScenarioConfig {
    scenario(&format!(
        r#"
name = "cascade"
[workload.arrivals]
kind = "poisson"
rate = 100.0
[[variants]]
name = "student"
family = "student"
precision = "int8"
quality = 0.80
weight_bytes = 50_000_000
service = {{ t4 = {{ kind = "deterministic", ms = 2.0 }} }}
[[variants]]
name = "teacher"
family = "teacher"
precision = "fp16"
quality = 0.92
weight_bytes = 2_000_000_000
service = {{ a100 = {{ kind = "deterministic", ms = 8.0 }} }}
[[devices]]
name = "small"
kind = "t4"
variant = "student"
[[devices]]
name = "big"
kind = "a100"
variant = "teacher"
[cascade]
student = "student"
teacher = "teacher"
escalate = {escalate}
"#
    ))
}

#[test]
fn cascade_escalates_the_configured_fraction_and_reports_both_paths() {
    let s = run(&cascade("{ kind = \"probability\", p = 0.3 }"), 200_000);
    let c = s.cascade.as_ref().unwrap();
    assert!(rel(c.escalation_fraction, 0.3) < 0.01, "{}", c.escalation_fraction);
    assert_eq!(c.student_path.requests + c.escalated_path.requests, 200_000);
    // Escalated requests pay for both models: slower and dearer, and better.
    assert!(c.escalated_path.latency_ms.mean > c.student_path.latency_ms.mean + 7.9);
    assert!(c.escalated_path.mean_cost_usd > c.student_path.mean_cost_usd);
    assert!((c.student_path.mean_quality - 0.80).abs() < 1e-9);
    assert!((c.escalated_path.mean_quality - 0.92).abs() < 1e-9);
    let q = s.quality.unwrap();
    assert!((q - (0.7 * 0.80 + 0.3 * 0.92)).abs() < 0.005, "{q}");
    let served: Vec<(&str, u64, u64)> = s.variants.iter().map(|v| (v.name.as_str(), v.served, v.answered)).collect();
    assert_eq!(served[0].1, 200_000);
    assert_eq!(served[0].2 + served[1].2, 200_000);
}

#[test]
fn confidence_cascade_escalates_below_the_threshold_and_raises_student_quality() {
    // Beta(2, 5) below 0.3: I_0.3(2, 5) = 1 − 0.7⁶ − 6·0.3·0.7⁵ = 0.579825.
    let s = run(&cascade("{ kind = \"confidence\", threshold = 0.3, beta_a = 2.0, beta_b = 5.0 }"), 200_000);
    let c = s.cascade.as_ref().unwrap();
    assert!(rel(c.escalation_fraction, 0.579825) < 0.01, "{}", c.escalation_fraction);
    // The student keeps its confident answers, which are better than its average.
    assert!(c.student_path.mean_quality > 0.80, "{}", c.student_path.mean_quality);
}

#[test]
fn slo_attainment_and_goodput_on_a_hand_computed_fixture() {
    // Ten requests at t = 0 into one server of 10 ms: latencies 10, 20, …, 100 ms.
    let cfg = scenario(
        "name = \"slo\"\n[slo]\nlatency_ms = 70.0\n[[devices]]\nname = \"d\"\nservice = { kind = \"deterministic\", ms = 10.0 }\n",
    );
    let reqs: Vec<Request> = (0..10).map(|i| Request::new(i, SimTime::ZERO, 1)).collect();
    let s = sim::run(&cfg, &mut reqs.into_iter(), RunOptions { seed: 1, record: false, trace_driven: true })
        .unwrap()
        .summary;
    let slo = s.slo.unwrap();
    assert!((slo.attainment - 0.7).abs() < 1e-12);
    assert!((slo.goodput_per_s - 70.0).abs() < 1e-9, "7 good answers in 0.1 s");
}

#[test]
fn shedding_and_queue_caps_conserve_requests_and_bound_waits() {
    let cfg = scenario(
        "name = \"shed\"\n[workload.arrivals]\nkind = \"poisson\"\nrate = 300.0\n[slo]\nlatency_ms = 60.0\n\
         [[devices]]\nname = \"d\"\ncount = 2\nshed_after_ms = 50.0\nservice = { kind = \"exponential\", mean_ms = 10.0 }\n\
         [router]\nkind = \"join_shortest_queue\"\n",
    );
    let s = run(&cfg, 100_000);
    assert_eq!(s.requests.arrived, s.requests.completed + s.requests.dropped);
    assert!(s.shed > 0 && s.shed == s.requests.dropped, "{} shed of {} dropped", s.shed, s.requests.dropped);
    // Nobody waits more than the deadline: queueing delay max ≤ 50 ms.
    assert!(s.queue_delay_ms.max <= 50.0, "{}", s.queue_delay_ms.max);
    assert_eq!(s.devices.len(), 2);
    assert_eq!(s.devices[0].name, "d/0");
}

#[test]
fn provisioned_cost_is_price_times_count_times_horizon() {
    let cfg = scenario(
        "name = \"cost\"\n[workload.arrivals]\nkind = \"deterministic\"\nrate = 10.0\n\
         [[devices]]\nname = \"g\"\nkind = \"a10g\"\ncount = 3\nservice = { kind = \"deterministic\", ms = 1.0 }\n",
    );
    let s = run(&cfg, 36_000); // last arrival at 3600 s, done 1 ms later
    let price = sim::catalog::builtin_kinds()["a10g"].price_per_hour;
    assert!((s.cost.usd_per_hour - 3.0 * price).abs() < 1e-9);
    assert!(rel(s.cost.provisioned_usd, 3.0 * price * (3600.001 / 3600.0)) < 1e-9, "{}", s.cost.provisioned_usd);
    assert!(rel(s.cost.usd_per_1000_requests, s.cost.provisioned_usd / 36.0) < 1e-12);
}

#[test]
fn stale_hits_are_counted_and_hits_are_fast() {
    let cfg = scenario(
        "name = \"c\"\n[workload.arrivals]\nkind = \"poisson\"\nrate = 100.0\n[workload.cache_keys]\nuniverse = 50\nzipf_s = 1.0\n\
         [cache]\npolicy = \"lru\"\ncapacity = 50\nfreshness_s = 2.0\non_stale = \"serve\"\nhit_ms = 0.5\n\
         [[devices]]\nname = \"d\"\nservice = { kind = \"deterministic\", ms = 5.0 }\n",
    );
    let s = run(&cfg, 20_000);
    let c = s.cache.unwrap();
    assert_eq!(c.lookups, 20_000);
    assert_eq!(c.hits + c.stale_hits + c.misses + c.stale_misses, c.lookups);
    assert!(c.stale_hits > 0 && c.stale_misses == 0, "{c:?}");
    // All keys fit: after the first 50 misses everything hits; with served stale entries never
    // refreshed, every entry eventually goes stale.
    assert!(c.hit_ratio > 0.99, "{c:?}");
    assert!((s.latency_ms.p50 - 0.5).abs() < 0.01, "{}", s.latency_ms.p50);
}

#[test]
fn configuration_errors_name_the_key() {
    let err = |text: &str| ScenarioConfig::parse(text).unwrap_err().to_string();
    let base = "name = \"x\"\n[[devices]]\nname = \"d\"\nservice = { kind = \"deterministic\", ms = 1.0 }\n";
    let e = err(&format!("{base}[router]\nkind = \"fastest\"\n"));
    assert!(e.contains("fastest") && e.contains("unknown variant"), "{e}");
    let e = err(&base.replace(
        "ms = 1.0 }",
        "ms = 1.0 }\nbatching = { kind = \"dynamic\", max_batch = 0, max_queue_delay_ms = 1.0 }",
    ));
    assert!(e.contains("devices[0].batching.max_batch") && e.contains("at least 1"), "{e}");
    let e = err(&base.replace("name = \"d\"", "name = \"d\"\nkind = \"tpu9\""));
    assert!(e.contains("devices[0].kind") && e.contains("tpu9") && e.contains("a100"), "{e}");
    let e = err(&base.replace("name = \"d\"", "name = \"d\"\nvariant = \"ghost\""));
    assert!(e.contains("devices[0].variant") && e.contains("ghost"), "{e}");
    let big = "[[variants]]\nname = \"huge\"\nfamily = \"teacher\"\nprecision = \"fp32\"\nquality = 0.9\nweight_bytes = 140_000_000_000\n";
    let e = err(&format!("{}{big}", base.replace("name = \"d\"", "name = \"d\"\nkind = \"a100\"\nvariant = \"huge\"")));
    assert!(e.contains("devices[0].variant") && e.contains("140.0 GB") && e.contains("80 GB"), "{e}");
    let small = big.replace("140_000_000_000", "1_000");
    let no_model = base.replace("name = \"d\"", "name = \"d\"\nkind = \"h100\"\nvariant = \"huge\"");
    let e = err(&format!("{}{small}", no_model.replace("service = { kind = \"deterministic\", ms = 1.0 }\n", "")));
    assert!(e.contains("devices[0].service") && e.contains("no service model for kind `h100`"), "{e}");
    let e = err(&format!(
        "{base}[cascade]\nstudent = \"a\"\nteacher = \"b\"\nescalate = {{ kind = \"probability\", p = 0.1 }}\n"
    ));
    assert!(e.contains("cascade.student") && e.contains("unknown variant `a`"), "{e}");
    let e = err(&format!("{base}[cache]\npolicy = \"lru\"\ncapacity = 0\n"));
    assert!(e.contains("cache.capacity"), "{e}");
    let e = err(&format!("{base}[cache]\npolicy = \"arc\"\ncapacity = 5\n"));
    assert!(e.contains("arc"), "{e}");
    let e = err(&base.replace("name = \"d\"", "name = \"d\"\ncount = 0"));
    assert!(e.contains("devices[0].count"), "{e}");
}

#[test]
fn the_planner_finds_the_hand_computed_cheapest_mix() {
    use sim::plan::{PlanSpec, Verdict, plan};
    // Deterministic arrivals at 150/s; a T4 serves in 10 ms (100/s), an A100 in 1 ms.
    let cfg = scenario(
        "name = \"p\"\n[workload.arrivals]\nkind = \"deterministic\"\nrate = 150.0\n[router]\nkind = \"join_shortest_queue\"\n\
         [[devices]]\nname = \"t4\"\nkind = \"t4\"\nservice = { kind = \"deterministic\", ms = 10.0 }\n\
         [[devices]]\nname = \"a100\"\nkind = \"a100\"\nservice = { kind = \"deterministic\", ms = 1.0 }\n",
    );
    let spec = |slo: &str| PlanSpec {
        objective: slo.parse().unwrap(),
        max_drop: 0.0,
        min_count: 0,
        max_count: 3,
        offered_per_s: 150.0,
    };
    let sim = |c: &ScenarioConfig| sim::run_generated(c, 1, 3_000, false).map(|r| r.summary);
    // p99 ≤ 12 ms: one T4 cannot carry 150/s (pruned); two alternate requests 13.3 ms apart and
    // answer each in exactly 10 ms: the winner at 2 × 0.526 $/h, far below an A100.
    let r = plan(&cfg, &spec("p99<=12ms"), sim).unwrap();
    let w = &r.candidates[r.winner.unwrap()];
    assert_eq!(w.counts, vec![2, 0]);
    assert!(matches!(r.candidates[0].verdict, Verdict::PrunedCapacity { .. }), "{:?}", r.candidates[0]);
    // p99 ≤ 5 ms: no T4 can ever answer in time, so only A100-only mixes meet it.
    let r = plan(&cfg, &spec("p99<=5ms"), sim).unwrap();
    assert_eq!(r.candidates[r.winner.unwrap()].counts, vec![0, 1]);
    // Everything cheaper than the winner was pruned or simulated and failed.
    for c in &r.candidates[..r.winner.unwrap()] {
        assert!(!matches!(c.verdict, Verdict::Simulated { meets: true, .. }), "{c:?}");
    }
}
