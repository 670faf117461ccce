//! The KV cache hierarchy: prefix blocks below the GPU in local tiers and a pool shared by the
//! replicas. A hand fixture whose reuse bound is computed by hand, load times by hand (stalled
//! and overlapped), and a property test that no configuration beats the trace's own bound.

mod common;
use common::{req, run_llm as run, table_scenario};
use proptest::prelude::*;
use sim::ScenarioConfig;
use traces::Request;

/// Llama-2-7B (524,288 KV bytes per token): a 32-token block is 16,777,216 bytes, 1 ms at
/// 16.777216 GB/s. 10 GPU pages of 16 tokens per replica: one request's blocks at a time.
fn scenario(replicas: u32, tiers: &str) -> ScenarioConfig {
    let tables = format!("[llm.prefix_cache]\nblock_tokens = 32\n[llm.router]\nkind = \"round_robin\"\n{tiers}");
    table_scenario(replicas, "kv_blocks = 10", &tables)
}

const POOL: &str = r#"
    [[llm.kv_tiers]]
    name = "pool"
    capacity_gb = 1000.0
    bandwidth_gb_s = 16.777216
    latency_us = 500.0
    shared = true
"#;

/// A request of four 32-token blocks (+ 10 tokens) with the given chain, one second apart.
fn chained(i: u64, chain: [u64; 4]) -> Request {
    let mut r = req(i, i * 1000, 4 * 32 + 10, 2);
    r.prefix_blocks = Some(chain.into());
    r
}

/// Chains A..F: repeats 0, 2, 4, 0, 4, 2 of 24 blocks: the reuse bound is 12 / 24.
fn fixture() -> Vec<Request> {
    [[1, 2, 3, 4], [1, 2, 5, 6], [1, 2, 3, 4], [7, 8, 9, 10], [1, 2, 5, 6], [7, 8, 11, 12]]
        .into_iter()
        .enumerate()
        .map(|(i, c)| chained(i as u64, c))
        .collect()
}

#[test]
fn a_shared_pool_reaches_the_reuse_bound_exactly() {
    // Round robin over three replicas: A, D → 0; B, E → 1; C, F → 2. GPU memory alone: only E
    // finds its blocks (B's, on the same replica): 4 of 24.
    let gpu = run(&scenario(3, ""), fixture()).prefix.unwrap();
    assert_eq!((gpu.lookups, gpu.hits, gpu.gpu_hits), (24, 4, 4));
    // A local DRAM tier per replica changes nothing: the reuse crosses replicas.
    let dram = "[[llm.kv_tiers]]\nname = \"dram\"\ncapacity_gb = 100.0\nbandwidth_gb_s = 25.0";
    assert_eq!(run(&scenario(3, dram), fixture()).prefix.unwrap().hits, 4);
    // A shared pool written through by every prefill: B loads 1, 2; C loads 1–4; E hits B's
    // blocks in GPU memory; F loads 7, 8 (D's): 12 of 24, the bound.
    let s = run(&scenario(3, POOL), fixture());
    let p = s.prefix.unwrap();
    assert_eq!((p.hits, p.gpu_hits, p.hit_rate), (12, 4, 0.5));
    let pool = &p.tiers[0];
    assert_eq!((pool.hits, pool.blocks_loaded, pool.resident_blocks), (8, 8, 12));
    assert_eq!(pool.bytes_loaded, 8.0 * 16_777_216.0);
    assert_eq!(pool.bytes_written, 12.0 * 16_777_216.0, "each distinct block written once");
    assert_eq!(s.tokens.prefix_cached, 12 * 32);
    assert_eq!(s.tokens.offload_loaded, 8 * 32);
}

#[test]
fn loads_stall_the_iteration_unless_they_overlap_its_compute() {
    // Two replicas: A prefills 138 tokens on replica 0 (1.38 ms); the same chain on replica 1 a
    // second later loads four blocks from the pool (0.5 ms + 4 × 1 ms) and prefills 10 tokens
    // (0.1 ms): TTFT 4.6 ms. Overlapped, the load hides 0.1 ms of it: 4.5 ms.
    let reqs = || vec![chained(0, [1, 2, 3, 4]), chained(1, [1, 2, 3, 4])];
    let stalled = run(&scenario(2, POOL), reqs());
    assert!((stalled.latency_ms.ttft.max - 4.6).abs() < 1e-6, "{:?}", stalled.latency_ms.ttft);
    assert!((stalled.latency_ms.ttft.mean - (1.38 + 4.6) / 2.0).abs() < 1e-6);
    let overlapped = run(&scenario(2, &format!("{POOL}overlap = true")), reqs());
    assert!((overlapped.latency_ms.ttft.max - 4.5).abs() < 1e-6, "{:?}", overlapped.latency_ms.ttft);
    // The saving: four blocks' prefill (0.32 ms each, the table's 32 tokens) less the load.
    let p = stalled.prefix.unwrap();
    assert!((p.tiers[0].saved_s - (4.0 * 0.32e-3 - 4.5e-3)).abs() < 1e-12, "{}", p.tiers[0].saved_s);
}

#[test]
fn prefix_aware_routing_counts_blocks_in_local_tiers() {
    // Two replicas with a DRAM tier each, slack 0. A [1 2 3 4] lands on some replica X. At 1 s,
    // B [1 2 5 6] follows its blocks 1, 2 to X and evicts 3, 4 into X's DRAM; D [1 2 9 10],
    // arriving with B, must take the idle replica Y. At 2 s, C [1 2 3 4] finds blocks 1, 2 in
    // GPU memory on both replicas, and 3, 4 only in X's DRAM: it goes to X whatever the seed
    // (counting GPU blocks alone, it would be a coin toss).
    let dram = "[[llm.kv_tiers]]\nname = \"dram\"\ncapacity_gb = 100.0\nbandwidth_gb_s = 100.0";
    let mut c = scenario(2, dram);
    c.llm.as_mut().unwrap().router = sim::llm::LlmRouterSpec::PrefixAware { slack: 0 };
    let mut d = chained(2, [1, 2, 9, 10]);
    d.arrival = traces::SimTime::from_millis(1000);
    let mut last = chained(3, [1, 2, 3, 4]);
    last.arrival = traces::SimTime::from_millis(2000);
    for seed in 1..=8 {
        let reqs = vec![chained(0, [1, 2, 3, 4]), chained(1, [1, 2, 5, 6]), d.clone(), last.clone()];
        let (s, recs) = sim::llm::run_recorded(c.resolve_llm().unwrap(), &mut reqs.into_iter(), seed).unwrap();
        let on = |id| recs.iter().find(|r| r.id == id).unwrap().replica;
        assert_eq!((on(1), on(3)), (on(0), on(0)), "seed {seed}");
        assert_ne!(on(2), on(0));
        let p = s.prefix.unwrap();
        assert_eq!((p.gpu_hits, p.tiers[0].hits), (2 + 2, 2), "B: 1 2 in GPU; C: 1 2 in GPU, 3 4 in DRAM");
    }
}

#[test]
fn tier_settings_are_checked() {
    let bad = |tiers: &str| {
        let text = format!(
            "name = \"s\"\n[llm]\nmodel = \"llama-2-7b\"\n[llm.prefix_cache]\nblock_tokens = 512\n[[llm.pools]]\nname = \
             \"g\"\nkind = \"a100\"\n{tiers}"
        );
        ScenarioConfig::parse(&text).unwrap_err().to_string()
    };
    let tier = |name: &str, extra: &str| {
        format!("[[llm.kv_tiers]]\nname = \"{name}\"\ncapacity_gb = 10.0\nbandwidth_gb_s = 10.0\n{extra}\n")
    };
    assert!(bad(&format!("{}{}", tier("pool", "shared = true"), tier("ssd", ""))).contains("only the last tier"));
    assert!(bad(&format!("{}{}", tier("a", ""), tier("a", ""))).contains("duplicate tier name `a`"));
    assert!(bad(&tier("a", "").replace("10.0\nbandwidth", "0.1\nbandwidth")).contains("less than one 512-token"));
    assert!(bad(&tier("a", "").replace("bandwidth_gb_s = 10.0", "bandwidth_gb_s = 0.0")).contains("bandwidth_gb_s"));
    let no_cache = "name = \"s\"\n[llm]\nmodel = \"llama-2-7b\"\n[[llm.pools]]\nname = \"g\"\nkind = \"a100\"\n";
    let err = ScenarioConfig::parse(&format!("{no_cache}{}", tier("a", ""))).unwrap_err().to_string();
    assert!(err.contains("add [llm.prefix_cache]"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    /// Chains drawn from a small tree (every block id names its whole prefix, as Mooncake's hash
    /// ids do): whatever the tiers, replicas and policy, the hit rate never exceeds the bound
    /// (blocks whose id appeared in an earlier request over all blocks), hits split exactly
    /// over the GPU and the tiers, and every token is generated.
    #[test]
    fn no_tier_configuration_beats_the_reuse_bound(
        picks in prop::collection::vec((0u64..3, 0u64..3, 0u64..3, 0u64..4), 4..30),
        replicas in 1u32..4,
        dram_blocks in 0u32..6,
        pool_blocks in 0u32..12,
        slru in any::<bool>(),
        gap_ms in prop::sample::select(vec![0u64, 2, 1000]),
    ) {
        let block = 16_777_216.0 / 1e9;
        let policy = if slru { "slru" } else { "lru" };
        let mut tiers = String::new();
        if dram_blocks > 0 {
            tiers += &format!("[[llm.kv_tiers]]\nname = \"dram\"\ncapacity_gb = {}\nbandwidth_gb_s = 25.0\npolicy = \"{policy}\"\n", f64::from(dram_blocks) * block);
        }
        if pool_blocks > 0 {
            tiers += &format!("[[llm.kv_tiers]]\nname = \"pool\"\ncapacity_gb = {}\nbandwidth_gb_s = 5.0\nshared = true\npolicy = \"{policy}\"\n", f64::from(pool_blocks) * block);
        }
        let reqs: Vec<Request> = picks.iter().enumerate().map(|(i, &(a, b, c, d))| {
            // Block j of the chain is named by the choices up to j.
            let chain = [1 + a, 10 + a * 10 + b, 100 + a * 100 + b * 10 + c, 1000 + a * 1000 + b * 100 + c * 10 + d];
            let mut r = chained(i as u64, chain);
            r.arrival = traces::SimTime::from_millis(i as u64 * gap_ms);
            r
        }).collect();
        let mut seen = std::collections::HashSet::new();
        let repeats = reqs.iter().flat_map(|r| r.prefix_blocks.as_deref().unwrap().to_vec()).filter(|&h| !seen.insert(h)).count();
        let s = run(&scenario(replicas, &tiers), reqs.clone());
        let p = s.prefix.unwrap();
        prop_assert_eq!(p.lookups, 4 * reqs.len() as u64);
        prop_assert!(p.hits as usize <= repeats, "{} hits, {} repeats", p.hits, repeats);
        prop_assert_eq!(p.hits, p.gpu_hits + p.tiers.iter().map(|t| t.hits).sum::<u64>());
        prop_assert_eq!(s.tokens.output, 2 * reqs.len() as u64);
        for t in &p.tiers {
            prop_assert!(t.resident_blocks <= t.capacity_blocks);
        }
    }
}
