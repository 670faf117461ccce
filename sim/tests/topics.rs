//! Each built-in course scenario shows the trade-off its description promises.

mod common;

use common::rel;
use sim::ScenarioConfig;
use sim::analytic::{che_lru_hit_ratio, zipf_popularity};

fn builtin(name: &str) -> ScenarioConfig {
    sim::builtin::builtin(name).unwrap().unwrap()
}

fn run(cfg: &ScenarioConfig, n: u64) -> sim::Summary {
    sim::run_generated(cfg, 1, n, false).unwrap().summary
}

#[test]
fn batching_keeps_an_otherwise_overloaded_gpu_stable() {
    let batched = builtin("batching");
    let s = run(&batched, 300_000);
    // What the scenario's comment promises: mean batches of about 5, p99 about 8 ms.
    assert!((4.0..6.0).contains(&s.batches.mean_size), "{:?}", s.batches);
    assert!((7.0..9.0).contains(&s.latency_ms.p99), "{:?}", s.latency_ms);
    assert!(s.slo.unwrap().attainment > 0.999);
    let mut unbatched = batched.clone();
    unbatched.devices[0].batching = sim::policy::BatcherSpec::None;
    let u = run(&unbatched, 60_000);
    // 1500/s against 444/s: the queue grows for the whole run.
    assert!(u.latency_ms.mean > 1000.0 * s.latency_ms.mean / 10.0, "{} vs {}", u.latency_ms.mean, s.latency_ms.mean);
    assert!(u.slo.unwrap().attainment < 0.01);
}

#[test]
fn caching_hits_as_che_predicts_and_the_median_is_the_hit_time() {
    let cfg = builtin("caching");
    let s = run(&cfg, 300_000);
    let c = s.cache.unwrap();
    let che = che_lru_hit_ratio(&zipf_popularity(100_000, 0.9), 5000.0);
    // Fresh hits plus stale entries found (refreshed as misses) are what LRU alone would hit;
    // the cold start costs a little.
    let lru_hits = (c.hits + c.stale_misses) as f64 / c.lookups as f64;
    assert!((lru_hits - che).abs() < 0.02, "{lru_hits} vs Che {che}");
    assert!((s.latency_ms.p50 - 0.2).abs() < 0.01, "{}", s.latency_ms.p50);
}

#[test]
fn quantization_trades_a_little_quality_for_speed_and_memory() {
    let s = run(&builtin("quantization"), 50_000);
    let [fp32, int8] = [&s.variants[0], &s.variants[1]];
    assert_eq!((fp32.name.as_str(), int8.name.as_str()), ("teacher-fp32", "teacher-int8"));
    assert!(int8.latency_ms.mean < fp32.latency_ms.mean / 1.3, "{} vs {}", int8.latency_ms.mean, fp32.latency_ms.mean);
    // The run's quality is each variant's quality weighted by the requests it answered: with the
    // traffic split evenly it lies between the two, near their mean.
    let answered = (fp32.answered + int8.answered) as f64;
    let weighted = (fp32.quality * fp32.answered as f64 + int8.quality * int8.answered as f64) / answered;
    let q = s.quality.unwrap();
    assert!(rel(q, weighted) < 1e-12, "{q} vs {weighted}");
    assert!(q > int8.quality && q < fp32.quality, "{q}");
    assert!(rel(fp32.answered as f64, int8.answered as f64) < 0.05, "{} vs {}", fp32.answered, int8.answered);
}

#[test]
fn distillation_escalates_the_beta_fraction_and_beats_the_student_alone() {
    let s = run(&builtin("distillation"), 200_000);
    let c = s.cascade.unwrap();
    // I_0.6(5, 2) = 6·0.6⁵·0.4 + 0.6⁶ = 0.23328.
    assert!(rel(c.escalation_fraction, 0.23328) < 0.01, "{}", c.escalation_fraction);
    assert!(s.quality.unwrap() > 0.86 + 0.03);
    assert!(c.student_path.latency_ms.mean < c.escalated_path.latency_ms.mean);
    assert!(c.student_path.mean_cost_usd < c.escalated_path.mean_cost_usd / 5.0);
}

#[test]
fn hardware_cost_aware_routing_meets_the_slo_more_often_than_round_robin() {
    let cfg = builtin("hardware");
    let aware = run(&cfg, 100_000);
    let mut rr = cfg.clone();
    rr.router = sim::policy::RouterSpec::RoundRobin;
    let rr = run(&rr, 100_000);
    // Round-robin gives each T4 225/s against its 125/s: they fill up and drop.
    assert!(rr.drop_rate > 0.05, "{}", rr.drop_rate);
    assert!(aware.drop_rate < 0.001, "{}", aware.drop_rate);
    assert!(aware.slo.as_ref().unwrap().attainment > rr.slo.as_ref().unwrap().attainment + 0.1);
    assert!(aware.cost.usd_per_1000_requests < rr.cost.usd_per_1000_requests);
}
