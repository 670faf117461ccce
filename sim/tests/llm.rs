//! Token-level LLM serving: hand-computed micro-scenarios, roofline-driven comparisons and
//! property tests of the invariants (KV within capacity, tokens conserved).

mod common;
use proptest::prelude::*;
use sim::ScenarioConfig;
use traces::{Request, SimTime};

/// A scenario on the table above. Its iteration times are the table's alone: no front-end
/// latency unless `extra` declares one (the built-in calibration's would otherwise apply).
fn scenario(scheduler: &str, extra: &str) -> ScenarioConfig {
    let extra = table_times_only(extra);
    ScenarioConfig::parse(&format!(
        r#"
        name = "micro"
        [llm]
        model = "llama-2-7b"
        scheduler = {scheduler}
        [[llm.pools]]
        name = "gpu"
        kind = "a100"
        {TABLE}
        {extra}
        "#
    ))
    .unwrap()
}

use common::{TABLE, req, run_llm as run};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

// Two requests: A (t = 0, 100-token prompt, 3 output tokens), B (t = 2 ms, 200, 2).

#[test]
fn continuous_batching_by_hand() {
    // 0: prefill A (1 ms) → A's first token at 1. 1: decode A (5 ms) → 6. B arrived at 2.
    // 6: prefill B alone (2 ms; A waits) → B's first token at 8. 8: decode A, B (6 ms) → 14:
    // both finish. TTFT A 1, B 6; e2e A 14, B 12; TPOT A (14 − 1)/2 = 6.5, B 6.
    let s = run(&scenario(r#"{ kind = "continuous" }"#, ""), vec![req(0, 0, 100, 3), req(1, 2, 200, 2)]);
    assert_eq!((s.requests.completed, s.tokens.output, s.tokens.input), (2, 5, 300));
    let l = &s.latency_ms;
    assert!(close(l.ttft.mean, 3.5) && close(l.ttft.max, 6.0), "{l:?}");
    assert!(close(l.e2e.mean, 13.0) && close(l.e2e.max, 14.0));
    assert!(close(l.tpot.mean, 6.25) && close(l.tpot.max, 6.5));
    // Gaps: A 5 and 8, B 6.
    assert!(close(l.itl.mean, 19.0 / 3.0) && close(l.itl.max, 8.0) && l.itl.count == 3);
    assert!(close(s.horizon_s, 0.014));
    assert_eq!((s.iterations.count, s.iterations.prefill_only), (4, 1));
    // A front-end latency of 2 ms per request adds 2 ms to every TTFT and e2e, nothing else.
    let c = scenario(r#"{ kind = "continuous" }"#, "[llm.efficiency]\nrequest_overhead_ms = 2.0");
    let t = run(&c, vec![req(0, 0, 100, 3), req(1, 2, 200, 2)]);
    let m = &t.latency_ms;
    assert!(close(m.ttft.mean, 5.5) && close(m.ttft.max, 8.0) && close(m.e2e.mean, 15.0), "{m:?}");
    assert_eq!((&m.tpot, &m.itl, t.horizon_s), (&l.tpot, &l.itl, s.horizon_s));
}

#[test]
fn chunked_prefill_by_hand() {
    // Budget 150 tokens. 0: prefill A → 1. 1: decode A → 6. 6: decode A + 149 of B's prompt
    // (5 + 1.49 ms) → 12.49: A done. 12.49: B's last 51 tokens (0.51) → 13.00: B's first token.
    // 13: decode B (5) → 18: B done. A never waits for B's whole prompt.
    let c =
        scenario(r#"{ kind = "continuous", max_num_seqs = 8, max_batched_tokens = 150, chunked_prefill = true }"#, "");
    let s = run(&c, vec![req(0, 0, 100, 3), req(1, 2, 200, 2)]);
    let l = &s.latency_ms;
    assert!(close(l.e2e.max, 16.0) && close(l.e2e.mean, (12.49 + 16.0) / 2.0), "{l:?}");
    assert!(close(l.ttft.max, 11.0) && close(l.ttft.mean, 6.0));
    assert!(close(l.tpot.mean, (11.49 / 2.0 + 5.0) / 2.0));
    assert_eq!((s.iterations.count, s.iterations.prefill_only, s.tokens.prefill_computed), (5, 0, 300));
}

#[test]
fn static_batching_by_hand() {
    // A alone (B not yet there): prefill 1 → 1, two decodes → 6, 11. B waits for the whole
    // batch: prefill 2 → 13, decode → 18.
    let s = run(&scenario(r#"{ kind = "static" }"#, ""), vec![req(0, 0, 100, 3), req(1, 2, 200, 2)]);
    let l = &s.latency_ms;
    assert!(close(l.e2e.max, 16.0) && close(l.e2e.mean, 13.5), "{l:?}");
    assert!(close(l.ttft.max, 11.0) && close(l.ttft.mean, 6.0));
    assert!(close(l.queue.max, 9.0));
    // Three at t = 0: the first starts alone (prefill 1 ms, one token); the next two form one
    // batch at 1: prompts padded to 200 (prefill of 400 tokens, 4 ms) → first tokens at 5; two
    // decodes of batch 2 (6 ms each) → 11 (the 2-token one is done), 17.
    let reqs = vec![req(0, 0, 100, 1), req(1, 0, 100, 3), req(2, 0, 200, 2)];
    let s = run(&scenario(r#"{ kind = "static" }"#, ""), reqs);
    assert_eq!((s.tokens.padding, s.tokens.output), (100 + 1, 6), "100 prompt pads, one decode slot");
    assert!(close(s.latency_ms.ttft.max, 5.0) && close(s.latency_ms.e2e.max, 17.0));
    assert!(close(s.latency_ms.e2e.mean, 29.0 / 3.0), "{:?}", s.latency_ms.e2e);
}

/// A tiny model on a tiny device: `pages` KV pages of 16 tokens (4 bytes per token).
fn tiny(pages: f64, scheduler: &str, extra: &str) -> ScenarioConfig {
    tiny_pools(pages, scheduler, "[[llm.pools]]\nname = \"gpu\"\nkind = \"toy\"", extra)
}

/// `extra` with `[llm.efficiency]` declared (no front-end latency) unless it declares one.
fn table_times_only(extra: &str) -> String {
    if extra.contains("[llm.efficiency]") {
        extra.to_string()
    } else {
        format!("[llm.efficiency]\nrequest_overhead_ms = 0.0\n{extra}")
    }
}

fn tiny_pools(pages: f64, scheduler: &str, pools: &str, extra: &str) -> ScenarioConfig {
    let mem_gb = (2e6 + pages * 64.0) / 1e9;
    let extra = table_times_only(extra);
    ScenarioConfig::parse(&format!(
        r#"
        name = "tiny"
        [[device_kinds]]
        name = "toy"
        memory_gb = {mem_gb}
        bandwidth_gb_s = 100.0
        peak_tflops = {{ fp16 = 1.0 }}
        price_per_hour = 3.6
        [llm]
        model = "toy"
        shape = {{ name = "toy", params = 1e6, layers = 1, hidden = 8, kv_heads = 1, head_dim = 1 }}
        memory_utilization = 1.0
        scheduler = {scheduler}
        {pools}
        {TABLE}
        {extra}
        "#
    ))
    .unwrap()
}

#[test]
fn kv_pressure_preempts_and_recomputes_and_every_token_is_made_once() {
    // 10 pages = 160 tokens. Each request alone needs ⌈(64 + 59)/16⌉ = 8 pages; two cannot
    // both finish, so the later-admitted one is preempted and recomputed.
    for mode in ["recompute", "swap"] {
        let c = tiny(10.5, &format!(r#"{{ kind = "continuous", preemption = "{mode}" }}"#), "");
        let s = run(&c, vec![req(0, 0, 64, 60), req(1, 0, 64, 60)]);
        assert_eq!((s.requests.completed, s.tokens.output), (2, 120), "{mode}");
        assert!(s.kv.preemptions >= 1, "{mode}");
        assert!(s.kv.peak_utilization <= 1.0 && s.kv.peak_utilization > 0.9, "{mode}");
        if mode == "recompute" {
            assert!(s.tokens.recomputed > 0 && s.tokens.prefill_computed > 128);
        } else {
            assert!(s.kv.swap_bytes > 0.0 && s.tokens.recomputed == 0);
        }
    }
    // With prefix caching, the preempted sequence's full blocks stay cached (vLLM caches every
    // full block, the answer's too), released tail first. B is preempted holding 5 full blocks
    // (64 prompt + 16 generated tokens); A, growing from 5 to 8 pages, evicts three of them —
    // B's tail, blocks 4, 3, 2 — and B, readmitted when A finishes, finds blocks 0 and 1: it
    // computes 32 tokens fewer than without the cache. (Released head first, A would have
    // evicted blocks 0–2, and B would find nothing.)
    let mode = r#"{ kind = "continuous", preemption = "recompute" }"#;
    let plain = run(&tiny(10.5, mode, ""), vec![req(0, 0, 64, 60), req(1, 0, 64, 60)]);
    let cached =
        run(&tiny(10.5, mode, "[llm.prefix_cache]\nblock_tokens = 16"), vec![req(0, 0, 64, 60), req(1, 0, 64, 60)]);
    assert_eq!((plain.kv.preemptions, cached.kv.preemptions), (1, 1));
    assert_eq!(
        plain.tokens.prefill_computed - cached.tokens.prefill_computed,
        32,
        "{:?} {:?}",
        plain.tokens,
        cached.tokens
    );
    assert_eq!((cached.requests.completed, cached.tokens.output), (2, 120));
    // Only the discarded partial block is counted as recomputed: nothing, at 80 tokens.
    assert_eq!((plain.tokens.recomputed, cached.tokens.recomputed), (80, 0));
    // A request that cannot fit even alone is refused, not left waiting forever.
    let c = tiny(10.5, r#"{ kind = "continuous" }"#, "");
    let s = run(&c, vec![req(0, 0, 150, 20), req(1, 0, 10, 5)]);
    assert_eq!((s.requests.rejected, s.requests.completed), (1, 1));
}

#[test]
fn prefix_blocks_are_reused_and_skip_their_prefill() {
    // Blocks of 32 tokens. A computes blocks 1, 2 (64 of its 70 tokens are full blocks); B
    // shares block 1 and 2 then differs; C shares only block 1.
    let c = tiny(1000.5, r#"{ kind = "continuous" }"#, "[llm.prefix_cache]\nblock_tokens = 32");
    let mut reqs = vec![req(0, 0, 70, 2), req(1, 100, 70, 2), req(2, 200, 70, 2)];
    reqs[0].prefix_blocks = Some(vec![1, 2, 3].into());
    reqs[1].prefix_blocks = Some(vec![1, 2, 4].into());
    reqs[2].prefix_blocks = Some(vec![1, 5, 6].into());
    let s = run(&c, reqs);
    let p = s.prefix.as_ref().unwrap();
    assert_eq!((p.lookups, p.hits), (9, 3));
    assert_eq!(s.tokens.prefix_cached, 96);
    assert_eq!(s.tokens.prefill_computed, 210 - 96);
}

#[test]
fn cpu_offload_keeps_evicted_prefix_blocks_and_loads_them_back() {
    // 4 pages of 16 tokens; prefix blocks of 32 tokens (2 pages). A (40 tokens, block 1) runs
    // and leaves block 1 cached. B (60 tokens, block 9) needs all 4 pages: block 1 is evicted.
    // C (40 tokens, block 1) then finds block 1 in the CPU tier (with offload) and computes only
    // its last 8 tokens, after loading 32 tokens × 4 B at 1 kB/s = 128 ms; without offload it
    // computes all 40.
    let reqs = || {
        let mut v = vec![req(0, 0, 40, 2), req(1, 100, 60, 2), req(2, 200, 40, 2)];
        v[0].prefix_blocks = Some(vec![1].into());
        v[1].prefix_blocks = Some(vec![9].into());
        v[2].prefix_blocks = Some(vec![1].into());
        v
    };
    let sched = "{ kind = \"continuous\" }\nswap_gb_s = 0.000001";
    let plain = run(&tiny(4.5, sched, "[llm.prefix_cache]\nblock_tokens = 32"), reqs());
    let offload = run(
        &tiny(4.5, &format!("{sched}\ncpu_offload_gb = 0.000001"), "[llm.prefix_cache]\nblock_tokens = 32"),
        reqs(),
    );
    // Block 1 is evicted for B, block 9 for C.
    assert_eq!(plain.prefix.as_ref().unwrap().evictions, 2);
    assert_eq!((plain.tokens.offload_loaded, plain.tokens.prefill_computed), (0, 140));
    assert_eq!((offload.tokens.offload_loaded, offload.tokens.prefix_cached), (32, 32));
    assert_eq!(offload.tokens.prefill_computed, 40 + 60 + 8);
    assert_eq!(offload.prefix.as_ref().unwrap().hits, 1);
    // C's first token waits for the load.
    assert!(offload.latency_ms.ttft.max >= 128.0 && plain.latency_ms.ttft.max < 128.0, "{:?}", offload.latency_ms.ttft);
    assert_eq!(offload.requests.completed, 3);
}

#[test]
fn disaggregated_pools_hand_over_the_kv() {
    let pools = r#"
        [[llm.pools]]
        name = "prefill"
        kind = "toy"
        role = "prefill"
        [[llm.pools]]
        name = "decode"
        kind = "toy"
        role = "decode"
    "#;
    let sched = "{ kind = \"continuous\" }\nkv_transfer_gb_s = 0.000001";
    let c = tiny_pools(100.5, sched, pools, "");
    // Prefill 100 tokens (1 ms) → first token at 1; 100 tokens × 4 B at 1 kB/s = 0.4 s of
    // transfer; then 2 decodes of 5 ms.
    let s = run(&c, vec![req(0, 0, 100, 3)]);
    assert!(close(s.latency_ms.ttft.max, 1.0) && close(s.latency_ms.e2e.max, 1.0 + 400.0 + 10.0), "{:?}", s.latency_ms);
    assert_eq!(s.kv.transfer_bytes, 400.0);
    assert_eq!(s.replicas.iter().map(|r| r.iterations).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn continuous_beats_static_on_throughput_and_ttft_on_the_roofline() {
    let text = |sched: &str| {
        format!(
            r#"
            name = "cmp"
            [workload.arrivals]
            kind = "poisson"
            rate = 12.0
            [workload.input_size]
            kind = "log_normal"
            mean = 800.0
            cv = 1.0
            [workload.output_tokens]
            kind = "log_normal"
            mean = 200.0
            cv = 1.0
            [llm]
            model = "llama-2-7b"
            scheduler = {sched}
            [[llm.pools]]
            name = "gpu"
            kind = "a100"
            "#
        )
    };
    let go = |sched: &str| {
        let c = ScenarioConfig::parse(&text(sched)).unwrap();
        let mut g = c.workload.as_ref().unwrap().generator(3, 3000).unwrap();
        sim::llm::run(c.resolve_llm().unwrap(), &mut g, 3).unwrap()
    };
    let cont = go(r#"{ kind = "continuous" }"#);
    let stat = go(r#"{ kind = "static", max_num_seqs = 32 }"#);
    assert_eq!(cont.tokens.output, stat.tokens.output);
    assert!(cont.horizon_s < stat.horizon_s, "{} vs {}", cont.horizon_s, stat.horizon_s);
    assert!(cont.latency_ms.ttft.p99 < stat.latency_ms.ttft.p99 / 2.0);
}

fn arb_requests() -> impl Strategy<Value = Vec<Request>> {
    prop::collection::vec((0u64..50, 1u64..120, 0u64..40, prop::collection::vec(0u64..6, 0..4)), 1..40).prop_map(|v| {
        let mut t = 0;
        v.into_iter()
            .enumerate()
            .map(|(i, (gap, prompt, out, blocks))| {
                t += gap;
                let mut r = req(i as u64, t, prompt, out);
                r.prefix_blocks = Some(blocks.into());
                r
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn kv_stays_within_capacity_and_tokens_are_conserved(
        reqs in arb_requests(),
        pages in 9u32..40,
        sched in 0usize..5,
    ) {
        let scheduler = [
            r#"{ kind = "continuous", max_num_seqs = 4, max_batched_tokens = 64 }"#,
            r#"{ kind = "continuous", max_num_seqs = 4, max_batched_tokens = 64, chunked_prefill = true }"#,
            r#"{ kind = "continuous", max_num_seqs = 8, preemption = "swap" }"#,
            r#"{ kind = "continuous", max_num_seqs = 8, max_batched_tokens = 32, chunked_prefill = true, preemption = "swap" }"#,
            r#"{ kind = "static", max_num_seqs = 3 }"#,
        ][sched];
        let prefix = if sched == 4 { "" } else { "[llm.prefix_cache]\nblock_tokens = 32" };
        let c = tiny(f64::from(pages) + 0.5, scheduler, prefix);
        let expect: u64 = reqs.iter().map(|r| r.output_tokens.max(1)).sum();
        let n = reqs.len() as u64;
        let s = run(&c, reqs);
        prop_assert_eq!(s.requests.arrived, n);
        prop_assert_eq!(s.requests.completed + s.requests.rejected, n);
        prop_assert!(s.kv.peak_utilization <= 1.0);
        if s.requests.rejected == 0 {
            prop_assert_eq!(s.tokens.output, expect);
        }
        prop_assert!(s.latency_ms.ttft.max <= s.latency_ms.e2e.max);
        let max_seqs = [4.0, 4.0, 8.0, 8.0, 3.0][sched];
        prop_assert!(s.iterations.mean_seqs <= max_seqs);
        if let Some(p) = &s.prefix {
            prop_assert!(p.hits <= p.lookups);
        }
    }
}

#[test]
fn weight_only_quantization_buys_kv_room_and_faster_decode() {
    // The LLM side of the quantization preview: Llama-2-7B on one A100 at moderate load.
    let go = |weights: &str, kv: &str| {
        let c = ScenarioConfig::parse(&format!(
            r#"
            name = "quant"
            [workload.arrivals]
            kind = "poisson"
            rate = 2.0
            [workload.input_size]
            kind = "fixed"
            value = 1000
            [workload.output_tokens]
            kind = "fixed"
            value = 200
            [llm]
            model = "llama-2-7b"
            weights = "{weights}"
            kv_cache = "{kv}"
            [[llm.pools]]
            name = "gpu"
            kind = "a100"
            "#
        ))
        .unwrap();
        let mut g = c.workload.as_ref().unwrap().generator(5, 1500).unwrap();
        sim::llm::run(c.resolve_llm().unwrap(), &mut g, 5).unwrap()
    };
    let fp16 = go("fp16", "fp16");
    let int8 = go("int8", "fp16");
    let int4 = go("int4", "int8");
    // KV pages: (72 GB − weights) / page bytes; int8 weights free 6.7 GB, an int8 KV cache halves a page.
    assert!(int8.kv.capacity_pages > fp16.kv.capacity_pages);
    assert!(int4.kv.capacity_pages > 2 * int8.kv.capacity_pages);
    // Decode is bound by reading the weights: half the bytes, about half the step.
    let ratio = int8.model.decode_step_batch1_ms / fp16.model.decode_step_batch1_ms;
    assert!(ratio > 0.5 && ratio < 0.6, "{ratio}");
    assert!(int8.latency_ms.tpot.mean < 0.75 * fp16.latency_ms.tpot.mean);
    assert!(int4.latency_ms.tpot.mean < int8.latency_ms.tpot.mean);
    // Prefill is compute-bound at fp16 either way, plus dequantizing the int8 weights once per
    // 128-token tile: a little slower, TTFT barely moves.
    let prefill = int8.model.prefill_1024_ms / fp16.model.prefill_1024_ms;
    assert!(prefill > 1.0 && prefill < 1.03, "{prefill}");
}

#[test]
fn max_model_len_rejects_at_arrival_and_slo_attainment_counts_it_as_a_miss() {
    // max_model_len 300: A (100 + 3) runs, B (200 + 150 = 350 > 300) is refused at arrival.
    let mut c = scenario(r#"{ kind = "continuous" }"#, "[llm.slo]\nttft_ms = 1000.0\ntpot_ms = 1000.0");
    c.llm.as_mut().unwrap().max_model_len = Some(300);
    let s = run(&c, vec![req(0, 0, 100, 3), req(1, 2, 200, 150)]);
    assert_eq!((s.requests.arrived, s.requests.completed), (2, 1));
    assert_eq!((s.requests.rejected, s.requests.rejected_too_long), (1, 1));
    // A met both targets; B arrived and was refused: 1 of 2.
    assert!(close(s.slo.as_ref().unwrap().attainment, 0.5));
}

#[test]
fn chunked_prefill_spends_the_token_budget_on_decodes_first() {
    // Budget 150 tokens. A (100-token prompt) prefills in one chunk at t = 0 (1 ms), then
    // decodes. B (400 tokens) arrives at 0.5 ms: from t = 1 each iteration gives A's decode 1
    // token and B a 149-token chunk, so B's prompt takes 3 iterations (149 + 149 + 102) while A
    // keeps decoding in each of them. Iteration = prefill(chunk) + decode(1) from the table:
    // 1.49 + 5 = 6.49 ms, 6.49 ms, then 1.02 + 5 = 6.02 ms.
    let c =
        scenario(r#"{ kind = "continuous", max_num_seqs = 8, max_batched_tokens = 150, chunked_prefill = true }"#, "");
    let mut b = req(1, 0, 400, 2);
    b.arrival = SimTime(500_000);
    let s = run(&c, vec![req(0, 0, 100, 5), b]);
    assert_eq!(s.requests.completed, 2);
    // B's first token lands at 1 + 6.49 + 6.49 + 6.02 = 20 ms: TTFT 19.5 ms.
    let ttft_b = 1.0 + 6.49 + 6.49 + 6.02 - 0.5;
    assert!((s.latency_ms.ttft.max - ttft_b).abs() < 1e-3, "{:?}", s.latency_ms.ttft);
    // A decoded in each of B's three iterations (no prefill-only iteration held it back).
    assert_eq!(s.iterations.prefill_only, 0);
}

#[test]
fn a_client_time_out_aborts_the_request_where_it_is_and_frees_its_place() {
    // The timeline of `continuous_batching_by_hand`, plus C (t = 20 ms, 100-token prompt, 2
    // out), with a client that gives up after 13.5 ms. A (deadline 13.5) is in the decode
    // iteration 8 → 14: dropped when it ends, its third token never counted; B (deadline
    // 15.5) finishes at 14; C finds the server empty: prefill 1 ms, decode 5 ms → e2e 6.
    let sched = "{ kind = \"continuous\" }\nclient_timeout_s = 0.0135";
    let reqs = || vec![req(0, 0, 100, 3), req(1, 2, 200, 2), req(2, 20, 100, 2)];
    let s = run(&scenario(sched, ""), reqs());
    assert_eq!((s.requests.completed, s.requests.timed_out, s.tokens.output), (2, 1, 6));
    let l = &s.latency_ms;
    // Latencies over the requests that finished, as the client reports them.
    assert_eq!(l.e2e.count, 2);
    assert!(close(l.e2e.mean, (12.0 + 6.0) / 2.0) && close(l.ttft.mean, (6.0 + 1.0) / 2.0), "{l:?}");
    // A client that gives up after 3 ms: A (in its decode, 1 → 6) is dropped at 6; B leaves
    // the queue at 5 without being served; C times out at 23 inside its decode (21 → 26).
    let sched = "{ kind = \"continuous\" }\nclient_timeout_s = 0.003";
    let s = run(&scenario(sched, ""), reqs());
    assert_eq!((s.requests.completed, s.requests.timed_out, s.tokens.output), (0, 3, 2));
    assert_eq!((s.latency_ms.e2e.count, s.latency_ms.ttft.count), (0, 0));
    assert_eq!(s.tokens.prefill_computed, 200, "B was never prefilled");
    // Records say which requests timed out; each request once.
    let (_, recs) =
        sim::llm::run_recorded(scenario(sched, "").resolve_llm().unwrap(), &mut reqs().into_iter(), 1).unwrap();
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r.timed_out && r.finish.is_none()));
}

#[test]
fn a_time_out_frees_kv_memory_for_the_queue() {
    // 6 pages of 16 tokens: A (60-token prompt, 10 out) takes 4 at 0 (prefill 0.6 ms), B (60
    // tokens, t = 4 ms) needs 4 and waits. A decodes 0.6 → 5.6 → 10.6; its client gives up at
    // 8 ms, inside the second decode; at 10.6 A's pages are freed and B is admitted at once
    // (and done at 11.2, before its own client gives up at 12).
    let sched = "{ kind = \"continuous\" }\nclient_timeout_s = 0.008";
    let c = tiny(6.5, sched, "");
    let (s, recs) =
        sim::llm::run_recorded(c.resolve_llm().unwrap(), &mut vec![req(0, 0, 60, 10), req(1, 4, 60, 1)].into_iter(), 1)
            .unwrap();
    assert_eq!((s.requests.completed, s.requests.timed_out), (1, 1), "{recs:?}");
    let b = recs.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(b.admitted, Some(SimTime(10_600_000)), "{recs:?}");
}

#[test]
fn max_model_len_defaults_to_the_models_context_as_in_vllm() {
    // Llama-2-7B was trained for 4,096 positions: 4,000 + 97 tokens are one too many.
    let s = run(&scenario(r#"{ kind = "continuous" }"#, ""), vec![req(0, 0, 4000, 97), req(1, 0, 4000, 96)]);
    assert_eq!((s.requests.rejected_too_long, s.requests.completed), (1, 1));
    // A declared limit wins over the model's.
    let c = scenario("{ kind = \"continuous\" }\nmax_model_len = 8192", "");
    let s = run(&c, vec![req(0, 0, 4000, 97)]);
    assert_eq!((s.requests.rejected_too_long, s.requests.completed), (0, 1));
}

#[test]
fn static_batches_reserve_kv_for_the_padding_their_compute_pays() {
    // 7 pages of 16 tokens. X (t = 0, 16 tokens, 1 out) runs alone; A (16-token prompt, 2 out)
    // and B (48, 2) wait for it. Unpadded they need 2 + 4 = 6 pages and would share the next
    // batch; padded to its longest prompt and output each needs ⌈(48 + 2 − 1)/16⌉ = 4, 8 in
    // all: B waits for A's batch. With 8 pages they share it.
    let reqs = || vec![req(9, 0, 16, 1), req(0, 0, 16, 2), req(1, 0, 48, 2)];
    let (s, recs) = sim::llm::run_recorded(
        tiny(7.5, r#"{ kind = "static" }"#, "").resolve_llm().unwrap(),
        &mut reqs().into_iter(),
        1,
    )
    .unwrap();
    assert_eq!((s.requests.completed, s.kv.capacity_pages), (3, 7));
    let (a, b) = (recs.iter().find(|r| r.id == 0).unwrap(), recs.iter().find(|r| r.id == 1).unwrap());
    assert_eq!(b.admitted, a.finish, "{recs:?}");
    let (s, recs) = sim::llm::run_recorded(
        tiny(8.5, r#"{ kind = "static" }"#, "").resolve_llm().unwrap(),
        &mut reqs().into_iter(),
        1,
    )
    .unwrap();
    let (a, b) = (recs.iter().find(|r| r.id == 0).unwrap(), recs.iter().find(|r| r.id == 1).unwrap());
    assert!(a.admitted == b.admitted && a.admitted > Some(SimTime::ZERO), "{recs:?}");
    assert_eq!(s.kv.peak_utilization, 1.0, "two padded sequences of 4 pages fill all 8");
}

#[test]
fn run_scenario_picks_the_engine_a_scenario_needs() {
    let opts = |record| sim::RunOptions { seed: 1, record, trace_driven: true };
    let c = scenario(r#"{ kind = "continuous" }"#, "");
    let reqs = || vec![req(0, 0, 100, 3), req(1, 2, 200, 2)];
    match sim::run_scenario(&c, &mut reqs().into_iter(), opts(true)).unwrap() {
        sim::Outcome::Llm(s, Some(records)) => {
            assert_eq!(s, run(&c, reqs()));
            assert_eq!(records.len(), 2);
        }
        _ => panic!("an [llm] scenario runs token by token, with records when asked"),
    }
    let mm1 = sim::builtin::builtin("mm1").unwrap().unwrap();
    let classic = sim::run_scenario(&mm1, &mut reqs().into_iter(), opts(false)).unwrap();
    assert!(matches!(classic, sim::Outcome::Classic(r) if r.summary.requests.arrived == 2));
}

#[test]
fn the_time_outs_of_finished_requests_do_not_stretch_the_run() {
    // Both requests finish by 14 ms; their clients' 10 s time-outs never fire: the run ends at
    // 14 ms, and throughput is over that.
    let sched = "{ kind = \"continuous\" }\nclient_timeout_s = 10.0";
    let s = run(&scenario(sched, ""), vec![req(0, 0, 100, 3), req(1, 2, 200, 2)]);
    assert_eq!((s.requests.completed, s.requests.timed_out), (2, 0));
    assert!(close(s.horizon_s, 0.014), "{}", s.horizon_s);
    assert!(s.timeline.t_s.last().unwrap() <= &0.014);
}

#[test]
fn async_scheduling_admits_a_new_request_one_iteration_later() {
    // A (t = 0, 100-token prompt, 4 out), B (t = 2 ms, 200, 2); chunked, budget 1,000.
    // Without async scheduling: 0: prefill A (1 ms) → 1. 1: decode A (5) → 6. 6: decode A +
    // B's prompt (5 + 2) → 13: B's first token. 13: decode A, B (6) → 19: both done.
    let sched = |on: bool| {
        format!(
            "{{ kind = \"continuous\", max_num_seqs = 8, max_batched_tokens = 1000, chunked_prefill = true, \
             async_scheduling = {on} }}"
        )
    };
    let reqs = || vec![req(0, 0, 100, 4), req(1, 2, 200, 2)];
    let s = run(&scenario(&sched(false), ""), reqs());
    let l = &s.latency_ms;
    assert!(close(l.ttft.max, 11.0) && close(l.e2e.mean, (19.0 + 17.0) / 2.0), "{l:?}");
    // With it, the iteration that starts at 6 was planned at 1, before B arrived: B joins the
    // one after. 0: prefill A → 1 (the engine was idle: planned at once). 1: decode A → 6.
    // 6: decode A → 11. 11: decode A + B's prompt (7) → 18: A done, B's first token.
    // 18: decode B → 23.
    let a = run(&scenario(&sched(true), ""), reqs());
    let m = &a.latency_ms;
    assert!(close(m.ttft.max, 16.0) && close(m.e2e.mean, (18.0 + 21.0) / 2.0), "{m:?}");
    assert_eq!((a.iterations.count, a.tokens.output), (5, 6));
    // Nothing planned ahead: the engine plans afresh and loses nothing. A (1 token) is done
    // at 1; B (t = 0.5 ms) is prefilled from 1 to 3 either way.
    let mut b = req(1, 0, 200, 1);
    b.arrival = SimTime(500_000);
    for on in [false, true] {
        let s = run(&scenario(&sched(on), ""), vec![req(0, 0, 100, 1), b.clone()]);
        assert!(close(s.latency_ms.ttft.max, 2.5), "async {on}: {:?}", s.latency_ms.ttft);
    }
}

#[test]
fn llm_energy_is_idle_power_plus_full_power_during_iterations() {
    // A alone: prefill 0–1 ms, decodes 1–6 and 6–11; B at 20: prefill 20–21. Busy 12 ms of 21.
    // An A100 (catalog: 55 W idle, 400 W busy): 55 × 0.021 + 345 × 0.012 = 5.295 J; 400 g/kWh.
    let c = scenario(r#"{ kind = "continuous" }"#, "[energy]\ncarbon_g_per_kwh = 400.0");
    let s = run(&c, vec![req(0, 0, 100, 3), req(1, 20, 100, 1)]);
    assert!(close(s.horizon_s, 0.021));
    let e = s.energy.expect("the a100 has a power model");
    assert!((e.kwh * 3.6e6 - 5.295).abs() < 1e-9, "{} J", e.kwh * 3.6e6);
    assert!((e.gco2e - 5.295 / 3.6e6 * 400.0).abs() < 1e-12);
    assert!((e.kwh_per_million_tokens - e.kwh * 1e6 / 204.0).abs() < 1e-15);
}

const LOW_HIGH: &str = r#"
[[classes]]
name = "batch"
[[classes]]
name = "interactive"
priority = 1
"#;

fn classed(id: u64, at_ms: u64, prompt: u64, output: u64, class: u16) -> Request {
    let mut r = req(id, at_ms, prompt, output);
    r.class = traces::ClassId(class);
    r
}

#[test]
fn priority_scheduling_admits_the_higher_class_first_by_hand() {
    // One sequence at a time. X (batch) runs 0–6 ms (prefill 1 ms, one decode of 5 ms); A and B
    // (batch) arrive at 1 and 2, C (interactive) at 3. When X finishes, fcfs admits A, B, C in
    // turn (first tokens at 7, 13, 19 ms: TTFT 6, 11, 16); priority admits C first (first token at
    // 7: TTFT 4), then A (13: 12) and B (19: 17).
    let sched = r#"{ kind = "continuous", max_num_seqs = 1 }"#;
    let reqs =
        || vec![classed(0, 0, 100, 2, 0), classed(1, 1, 100, 2, 0), classed(2, 2, 100, 2, 0), classed(3, 3, 100, 2, 1)];
    for (policy, ttft) in [("fcfs", [6.0, 11.0, 16.0]), ("priority", [12.0, 17.0, 4.0])] {
        let c = scenario(sched, &format!("[llm.scheduling]\nkind = \"{policy}\"\n{LOW_HIGH}"));
        let (s, recs) = sim::llm::run_recorded(c.resolve_llm().unwrap(), &mut reqs().into_iter(), 1).unwrap();
        for (id, want) in [(1u64, ttft[0]), (2, ttft[1]), (3, ttft[2])] {
            let r = recs.iter().find(|r| r.id == id).unwrap();
            let got = (r.first_token.unwrap() - r.arrival).as_millis_f64();
            assert!(close(got, want), "{policy}: request {id} TTFT {got} ms, expected {want}");
        }
        assert_eq!(s.classes.iter().map(|c| c.completed).collect::<Vec<_>>(), vec![3, 1]);
    }
}

#[test]
fn the_virtual_token_counter_shares_a_saturated_replica_between_tenants() {
    // Two tenants keep a one-replica server saturated: "bulk" sends 400-token prompts, "chat"
    // 50-token ones, both 4 output tokens, 200 each at once. FCFS serves them in arrival order
    // (interleaved), so bulk gets 8x chat's prompt service; the virtual token counter keeps the
    // service each has been admitted for within one full batch plus one request of the other's
    // (the counters are charged as the work runs, up to max_num_seqs requests behind admission).
    let tenants = "[[classes]]\nname = \"bulk\"\n[[classes]]\nname = \"chat\"\n";
    let sched = r#"{ kind = "continuous", max_num_seqs = 4 }"#;
    let reqs =
        || (0..400u64).map(|i| classed(i, 0, if i % 2 == 0 { 400 } else { 50 }, 4, (i % 2) as u16)).collect::<Vec<_>>();
    let fair = scenario(sched, &format!("[llm.scheduling]\nkind = \"fair\"\n{tenants}"));
    let (s, recs) = sim::llm::run_recorded(fair.resolve_llm().unwrap(), &mut reqs().into_iter(), 1).unwrap();
    // While both tenants wait (until chat's last admission), their counters stay close: compare
    // the prompt tokens each had admitted by then.
    let chat_done = recs.iter().filter(|r| r.id % 2 == 1).map(|r| r.admitted.unwrap()).max().unwrap();
    let served = |t: u64| -> f64 {
        recs.iter().filter(|r| r.id % 2 == t && r.admitted.unwrap() <= chat_done).map(|r| r.prompt as f64 + 8.0).sum()
    };
    let (bulk, chat) = (served(0), served(1));
    assert!(
        (bulk - chat).abs() <= (4.0 + 1.0) * 408.0,
        "fair: bulk {bulk} vs chat {chat} token-units by {chat_done:?}"
    );
    assert!(bulk / chat < 1.5, "fair: bulk {bulk} vs chat {chat}");
    assert!(s.classes[1].ttft_ms.mean < s.classes[0].ttft_ms.mean, "chat waits less under fair");
    // FCFS: by the time chat's requests are all admitted, bulk has had about 8x the service.
    let fcfs = scenario(sched, tenants);
    let (_, recs) = sim::llm::run_recorded(fcfs.resolve_llm().unwrap(), &mut reqs().into_iter(), 1).unwrap();
    let chat_done = recs.iter().filter(|r| r.id % 2 == 1).map(|r| r.admitted.unwrap()).max().unwrap();
    let served = |t: u64| -> f64 {
        recs.iter().filter(|r| r.id % 2 == t && r.admitted.unwrap() <= chat_done).map(|r| r.prompt as f64 + 8.0).sum()
    };
    assert!(served(0) > 5.0 * served(1), "fcfs: bulk {} vs chat {}", served(0), served(1));
}

fn toy_pool(pool: &str) -> ScenarioConfig {
    tiny_pools(10_000.0, r#"{ kind = "continuous" }"#, pool, "[llm.router]\nkind = \"join_shortest_queue\"")
}

fn steady(n: u64, every_ms: u64) -> Vec<Request> {
    (0..n).map(|i| req(i, i * every_ms, 200, 20)).collect()
}

#[test]
fn a_fixed_autoscaled_llm_pool_is_the_same_as_a_fixed_count() {
    let fixed = toy_pool("[[llm.pools]]\nname = \"gpu\"\nkind = \"toy\"\ncount = 2");
    let auto = toy_pool(
        "[[llm.pools]]\nname = \"gpu\"\nkind = \"toy\"\nautoscale = { min = 2, max = 2, interval_s = 1.0, policy = { kind = \"utilization\", target = 0.5 } }",
    );
    let (a, b) = (run(&fixed, steady(2000, 20)), run(&auto, steady(2000, 20)));
    assert_eq!(
        (a.latency_ms.ttft.clone(), a.latency_ms.e2e.clone()),
        (b.latency_ms.ttft.clone(), b.latency_ms.e2e.clone())
    );
    assert_eq!((a.horizon_s, a.tokens.clone()), (b.horizon_s, b.tokens.clone()));
    assert!((a.cost.usd - b.cost.usd).abs() < 1e-9 * a.cost.usd, "{} vs {}", a.cost.usd, b.cost.usd);
    let s = &b.autoscale[0].stats;
    assert_eq!((s.cold_starts, s.peak_ready), (0, 2));
}

#[test]
fn an_llm_pool_scales_up_by_schedule_and_routes_nothing_to_a_replica_still_loading() {
    // One replica until t = 10 s, two from then on; a replica takes 5 s to start: replica 1
    // receives requests only from t = 15 s, and the pool was under-provisioned for exactly 5 s.
    let c = toy_pool(
        "[[llm.pools]]\nname = \"gpu\"\nkind = \"toy\"\nautoscale = { min = 1, max = 2, interval_s = 1.0, startup_s = 5.0, model_gb = 0.0, policy = { kind = \"schedule\", steps = [{ at_s = 0.0, replicas = 1 }, { at_s = 10.0, replicas = 2 }] } }",
    );
    let (s, recs) = sim::llm::run_recorded(c.resolve_llm().unwrap(), &mut steady(1500, 20).into_iter(), 1).unwrap();
    let first_on_1 = recs.iter().filter(|r| r.replica == 1).map(|r| r.arrival).min().unwrap();
    assert!(first_on_1 >= SimTime::from_millis(15_000), "{first_on_1:?}");
    assert!(first_on_1 <= SimTime::from_millis(15_100), "the second replica takes arrivals once ready: {first_on_1:?}");
    let p = &s.autoscale[0].stats;
    assert_eq!(p.cold_starts, 1);
    assert!((p.under_provisioned_s - 5.0).abs() < 1e-9, "{}", p.under_provisioned_s);
    // Billed: one replica all along, the second from 10 s (starting included).
    let price_s = 3.6 / 3600.0;
    assert!((s.cost.usd - price_s * (s.horizon_s + (s.horizon_s - 10.0))).abs() < 1e-9, "{}", s.cost.usd);
}

#[test]
fn an_llm_pool_follows_its_load_up_and_down_within_its_bounds() {
    // A burst (one request every 5 ms for 30 s), then a trickle (one a second for 60 s): the
    // utilization policy starts replicas for the burst and releases them in the trickle.
    let c = toy_pool(
        "[[llm.pools]]\nname = \"gpu\"\nkind = \"toy\"\nautoscale = { min = 1, max = 4, interval_s = 2.0, scale_down_delay_s = 10.0, startup_s = 3.0, model_gb = 0.0, policy = { kind = \"utilization\", target = 0.5 } }",
    );
    let mut reqs: Vec<Request> = (0..6000).map(|i| req(i, i * 5, 200, 20)).collect();
    reqs.extend((0..60).map(|i| req(6000 + i, 30_000 + i * 1000, 200, 20)));
    let (s, recs) = sim::llm::run_recorded(c.resolve_llm().unwrap(), &mut reqs.into_iter(), 1).unwrap();
    let p = &s.autoscale[0].stats;
    assert!(p.cold_starts >= 1 && p.scale_downs >= 1, "{p:?}");
    assert!(p.peak_ready <= 4 && p.peak_ready >= 2, "{p:?}");
    assert!(p.mean_ready >= 1.0 && p.replica_hours * 3600.0 >= p.mean_ready * s.horizon_s - 1e-6, "{p:?}");
    assert_eq!(s.requests.completed, 6060);
    // The trickle ends on one replica: the last requests all went to the same one.
    let last: std::collections::BTreeSet<usize> = recs.iter().filter(|r| r.id >= 6050).map(|r| r.replica).collect();
    assert_eq!(last.len(), 1, "{last:?}");
}
