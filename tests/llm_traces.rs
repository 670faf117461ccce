//! The LLM simulator on the shared public traces (read from ../shared/traces, or
//! $SERVESIM_SHARED_TRACES): scheduling comparisons with equal hardware, and the prefix cache
//! against the trace's own reuse bound.

use sim::ScenarioConfig;
use sim::llm::{LlmSummary, SchedulerSpec};
use std::collections::HashSet;
use std::path::PathBuf;
use traces::Trace;

fn shared(name: &str) -> PathBuf {
    let dir = std::env::var_os("SERVESIM_SHARED_TRACES")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/traces"), PathBuf::from);
    dir.join(name)
}

fn azure() -> Trace {
    traces::formats::read_any(&shared("AzureLLMInferenceTrace_conv.csv"), None).unwrap()
}

/// The built-in `llm` scenario with `replicas` A100s and `scheduler`.
fn llm(replicas: u32, scheduler: SchedulerSpec) -> ScenarioConfig {
    let mut c = sim::builtin::builtin("llm").unwrap().unwrap();
    let l = c.llm.as_mut().unwrap();
    l.pools[0].count = replicas;
    l.scheduler = scheduler;
    c.validate().unwrap();
    c
}

fn run(c: &ScenarioConfig, t: &Trace) -> LlmSummary {
    sim::llm::run(c.resolve_llm().unwrap(), &mut t.requests.iter().cloned(), 1).unwrap()
}

fn continuous(max_batched_tokens: u32, chunked_prefill: bool) -> SchedulerSpec {
    SchedulerSpec::Continuous {
        max_num_seqs: 256,
        max_batched_tokens,
        chunked_prefill,
        preemption: sim::llm::Preemption::Recompute,
        async_scheduling: false,
    }
}

#[test]
fn continuous_batching_beats_static_on_the_azure_trace_with_equal_hardware() {
    // One A100, the design's canonical LLM scenario: both schedulers are saturated by the trace,
    // so throughput is what each can sustain.
    let t = azure();
    let cont = run(&llm(1, continuous(8192, false)), &t);
    let stat = run(&llm(1, SchedulerSpec::Static { max_num_seqs: 64 }), &t);
    assert_eq!(cont.requests.completed, 19_366);
    assert_eq!(stat.requests.completed, 19_366);
    assert_eq!(cont.tokens.output, stat.tokens.output, "the same tokens are generated");
    assert!(
        cont.throughput.output_tokens_per_s > 3.0 * stat.throughput.output_tokens_per_s,
        "continuous {:.0} vs static {:.0} tokens/s",
        cont.throughput.output_tokens_per_s,
        stat.throughput.output_tokens_per_s
    );
    assert!(cont.latency_ms.ttft.p99 < stat.latency_ms.ttft.p99);
    assert!(cont.kv.peak_utilization <= 1.0 && stat.kv.peak_utilization <= 1.0);
}

#[test]
fn chunked_prefill_lowers_p99_tpot_under_mixed_load() {
    // Two A100s keep up with the trace; without chunking, each long prompt's prefill stalls every
    // running decode (vLLM's default); 512-token chunks ride along with the decodes (Sarathi).
    let t = azure();
    let whole = run(&llm(2, continuous(8192, false)), &t);
    let chunked = run(&llm(2, continuous(512, true)), &t);
    assert_eq!(whole.requests.completed, chunked.requests.completed);
    assert!(whole.iterations.prefill_only > 1000 && chunked.iterations.prefill_only == 0);
    assert!(
        chunked.latency_ms.tpot.p99 < 0.8 * whole.latency_ms.tpot.p99,
        "chunked {:.1} ms vs whole {:.1} ms",
        chunked.latency_ms.tpot.p99,
        whole.latency_ms.tpot.p99
    );
    assert!(chunked.latency_ms.itl.p99 < whole.latency_ms.itl.p99);
}

#[test]
fn prefix_hit_rate_never_exceeds_the_mooncake_traces_own_reuse_bound() {
    let t = traces::formats::read_any(&shared("mooncake_conversation_trace.jsonl"), None).unwrap();
    // The bound: blocks whose id appeared in an earlier request, over all blocks.
    let mut seen = HashSet::new();
    let (mut total, mut repeats) = (0u64, 0u64);
    for r in &t.requests {
        for &h in r.prefix_blocks.as_deref().unwrap_or_default() {
            total += 1;
            repeats += u64::from(!seen.insert(h));
        }
    }
    let bound = repeats as f64 / total as f64;
    assert!((bound - 0.366).abs() < 0.0005, "the trace README states 36.6%, got {bound}");
    // Llama-3.1-70B (128k context: the prompts fit), tensor parallel 4, on A100s whose memory is an A100's (80 GB: about 900
    // cached blocks per replica) or, like Mooncake's pooled DRAM KV store, big enough for the
    // whole trace. The trace is stretched 20x in time so that one replica keeps up.
    let mut slow = t.clone();
    for r in &mut slow.requests {
        r.arrival = traces::SimTime(r.arrival.0 * 20);
    }
    let setup = |memory_gb: f64, replicas: u32, router: sim::llm::LlmRouterSpec| {
        let mut c = llm(replicas, continuous(8192, false));
        let mut kind = sim::catalog::builtin_kinds()["a100"].clone();
        kind.name = "a100-kvpool".into();
        kind.memory_gb = memory_gb;
        c.device_kinds.push(kind);
        let l = c.llm.as_mut().unwrap();
        l.prefix_cache = Some(sim::llm::PrefixCacheSpec { block_tokens: 512 });
        l.model = "llama-3.1-70b".into();
        l.tensor_parallel = 4;
        l.pools[0].kind = "a100-kvpool".into();
        l.router = router;
        c.validate().unwrap();
        c
    };
    let mut last = 0.0;
    for memory_gb in [80.0, 400.0, 20_000.0] {
        let s = run(&setup(memory_gb, 1, sim::llm::LlmRouterSpec::RoundRobin), &slow);
        let p = s.prefix.unwrap();
        assert_eq!(p.lookups, total);
        assert_eq!(s.tokens.prefix_cached, p.hits * 512);
        assert!(p.hit_rate <= bound, "hit rate {} above the bound {bound} at {memory_gb} GB", p.hit_rate);
        assert!(p.hit_rate > last, "more memory, more hits: {} after {last}", p.hit_rate);
        last = p.hit_rate;
    }
    assert!(last > 0.9 * bound, "a cache holding the whole trace catches almost all reuse: {last} vs {bound}");
    // Spread over 4 replicas at random, reuse is lost; prefix-aware routing keeps it.
    let random = run(&setup(20_000.0, 4, sim::llm::LlmRouterSpec::Random), &slow).prefix.unwrap().hit_rate;
    let aware = run(&setup(20_000.0, 4, sim::llm::LlmRouterSpec::PrefixAware { slack: 8 }), &slow);
    let aware = aware.prefix.unwrap().hit_rate;
    assert!(aware > random + 0.05 && aware <= bound, "prefix-aware {aware} vs random {random}");
}

#[test]
fn a_kv_hierarchy_lifts_the_mooncake_hit_rate_toward_its_bound() {
    // The built-in `llm` scenario (two A100s) with 512-token prefix blocks: one GPU's HBM holds
    // few of the trace's prefixes. Below it, per replica, 256 GB of host DRAM (PCIe, 25 GB/s) and
    // 2 TB of NVMe (5 GB/s), and an 8 TB pool shared by both (RDMA, 25 GB/s), loads overlapping
    // compute: the hit rate approaches the trace's own bound.
    let t = traces::formats::read_any(&shared("mooncake_conversation_trace.jsonl"), None).unwrap();
    let mut seen = HashSet::new();
    let blocks: Vec<u64> =
        t.requests.iter().flat_map(|r| r.prefix_blocks.as_deref().unwrap_or_default().to_vec()).collect();
    let bound = blocks.iter().filter(|&&h| !seen.insert(h)).count() as f64 / blocks.len() as f64;
    let mut c = sim::builtin::builtin("llm").unwrap().unwrap();
    let l = c.llm.as_mut().unwrap();
    l.prefix_cache = Some(sim::llm::PrefixCacheSpec { block_tokens: 512 });
    c.validate().unwrap();
    let hbm = run(&c, &t).prefix.unwrap();
    let tier = |name: &str, capacity_gb: f64, bandwidth_gb_s: f64, shared: bool| sim::llm::KvTierSpec {
        name: name.into(),
        capacity_gb,
        bandwidth_gb_s,
        latency_us: 10.0,
        shared,
        policy: sim::llm::kv::TierPolicy::Lru,
        overlap: true,
    };
    c.llm.as_mut().unwrap().kv_tiers =
        vec![tier("dram", 256.0, 25.0, false), tier("ssd", 2000.0, 5.0, false), tier("pool", 8000.0, 25.0, true)];
    c.validate().unwrap();
    let s = run(&c, &t);
    let tiered = s.prefix.unwrap();
    eprintln!(
        "mooncake prefix hit rate: HBM only {:.4}, with tiers {:.4}, bound {bound:.4}",
        hbm.hit_rate, tiered.hit_rate
    );
    assert!(hbm.hit_rate < 0.25 * bound, "HBM alone holds few prefixes: {}", hbm.hit_rate);
    assert!(tiered.hit_rate <= bound && tiered.hit_rate > 0.9 * bound, "{} vs bound {bound}", tiered.hit_rate);
    assert!(tiered.tiers.iter().all(|x| x.hits > 0), "every tier serves hits");
    assert!(tiered.saved_s > hbm.saved_s);
    // The numbers README.md quotes.
    let pct = |x: f64| format!("{:.1}", 100.0 * x);
    assert_eq!((pct(hbm.hit_rate), pct(tiered.hit_rate), pct(bound)), ("4.6".into(), "36.4".into(), "36.6".into()));
}
