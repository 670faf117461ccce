//! LoRA adapters over one base model: adapter size from the shape, adapter loads and the
//! per-batch limit by hand, adapter-affinity routing, and the memory the slots take.

mod common;
use common::{req, run_llm as run, table_scenario};
use sim::llm::LlmRouterSpec;
use traces::Request;

/// Llama-2-7B adapters of rank 16: 16 · 32 · (7 · 4096 + 2 · 4096 + 2 · 4096 + 3 · 11008) =
/// 39,976,960 weights, 79,953,920 bytes in fp16: 1 ms at 79.95392 GB/s.
fn lora(slots: u32, max_per_batch: u32) -> String {
    format!(
        "[llm.lora]\nadapters = 8\nrank = 16\nslots = {slots}\nmax_per_batch = {max_per_batch}\nload_gb_s = 79.95392"
    )
}

fn adapted(id: u64, at_ms: u64, adapter: u32) -> Request {
    let mut r = req(id, at_ms, 100, 2);
    r.adapter = Some(adapter);
    r
}

#[test]
fn adapter_size_follows_the_shape() {
    let spec: sim::llm::LoraSpec = toml::from_str("rank = 16").unwrap();
    let s8 = sim::llm::shape::builtin_shape("llama-3.1-8b").unwrap();
    assert_eq!(spec.params(&s8), 16.0 * 32.0 * (7.0 * 4096.0 + 2.0 * 4096.0 + 2.0 * 1024.0 + 3.0 * 14336.0));
    let s = run(&table_scenario(1, "", &lora(1, 1)), vec![adapted(0, 0, 0)]);
    assert_eq!(s.lora.unwrap().adapter_mb, 79.95392);
}

#[test]
fn loads_and_the_batch_limit_by_hand() {
    // One adapter slot, one adapter per batch. A (adapter 0), B (1), C (0) arrive at 0. A is
    // admitted alone: load 1 ms + prefill 1 ms → first token at 2. B does not fit the batch
    // (adapter 1 while 0 runs): C is admitted past it (0 is resident), prefill 1 ms → 3; A and C
    // decode together (6 ms) → both done at 9. B then evicts 0 and loads 1 (1 ms), prefills
    // (1 ms) → 11, decodes (5 ms) → 16.
    let (s, recs) = sim::llm::run_recorded(
        table_scenario(1, "", &lora(1, 1)).resolve_llm().unwrap(),
        &mut vec![adapted(0, 0, 0), adapted(1, 0, 1), adapted(2, 0, 0)].into_iter(),
        1,
    )
    .unwrap();
    let at = |id: u64, f: fn(&sim::llm::LlmRecord) -> Option<traces::SimTime>| {
        f(recs.iter().find(|r| r.id == id).unwrap()).unwrap().as_nanos() as f64 / 1e6
    };
    let first = |r: &sim::llm::LlmRecord| r.first_token;
    let done = |r: &sim::llm::LlmRecord| r.finish;
    assert_eq!((at(0, first), at(2, first), at(1, first)), (2.0, 3.0, 11.0));
    assert_eq!((at(0, done), at(2, done), at(1, done)), (9.0, 9.0, 16.0));
    let l = s.lora.unwrap();
    assert_eq!((l.admissions, l.resident_hits, l.loads, l.evictions, l.passed_over), (3, 1, 2, 1, 1));
    assert!((l.load_s - 0.002).abs() < 1e-12);
    assert!(l.mean_adapters_per_iteration <= 1.0);
}

#[test]
fn adapter_affinity_routing_avoids_reloads() {
    // Two replicas with one slot each; adapters 0 0 1 1 0 0 1 1 …, 50 ms apart (queues empty).
    // Round robin sends each replica both adapters in turn: a load at every request. Affinity
    // sends each adapter where it is resident: two loads in all.
    let reqs = || (0..16).map(|i| adapted(i, i * 50, (i / 2 % 2) as u32)).collect::<Vec<_>>();
    let loads = |router: LlmRouterSpec, seed: u64| {
        let mut c = table_scenario(2, "", &lora(1, 1));
        c.llm.as_mut().unwrap().router = router;
        sim::llm::run(c.resolve_llm().unwrap(), &mut reqs().into_iter(), seed).unwrap().lora.unwrap().loads
    };
    assert_eq!(loads(LlmRouterSpec::RoundRobin, 1), 16);
    for seed in 1..=5 {
        assert_eq!(loads(LlmRouterSpec::LoraAffinity { slack: 8 }, seed), 2, "seed {seed}");
    }
}

#[test]
fn resident_slots_take_kv_memory_and_adapters_are_drawn_when_the_trace_names_none() {
    let base = run(&table_scenario(1, "", ""), vec![req(0, 0, 100, 2)]);
    let with = run(&table_scenario(1, "", &lora(4, 4)), (0..200).map(|i| req(i, i * 20, 100, 2)).collect());
    // Four adapters of 79,953,920 bytes in pages of 16 tokens × 524,288 bytes.
    let page = 16.0 * 524_288.0;
    let lost = base.kv.capacity_pages - with.kv.capacity_pages;
    assert!((lost as f64 - 4.0 * 79_953_920.0 / page).abs() <= 1.0, "{lost} pages");
    let l = with.lora.unwrap();
    assert!(l.adapters > 1 && l.adapters <= 8, "drawn from the 8 adapters: {}", l.adapters);
    assert_eq!(with.requests.completed, 200);
}

#[test]
fn lora_settings_are_checked() {
    let bad = |t: &str| {
        sim::ScenarioConfig::parse(&format!(
            "name = \"s\"\n[llm]\nmodel = \"llama-2-7b\"\n[[llm.pools]]\nname = \"g\"\nkind = \"a100\"\n[llm.lora]\n{t}"
        ))
        .unwrap_err()
        .to_string()
    };
    assert!(bad("slots = 2\nmax_per_batch = 4").contains("llm.lora.slots"));
    assert!(bad("rank = 0").contains("llm.lora.rank"));
    assert!(bad("load_gb_s = 0.0").contains("llm.lora.load_gb_s"));
}

#[test]
fn a_conversation_keeps_the_adapter_its_first_turn_drew() {
    let mut c = table_scenario(
        1,
        "",
        &format!("{}\n[llm.sessions]\nthink = {{ kind = \"deterministic\", ms = 10.0 }}", lora(4, 4)),
    );
    c.llm.as_mut().unwrap().lora.as_mut().unwrap().adapters = 64;
    let reqs: Vec<Request> = (0..60)
        .map(|i| {
            let mut r = req(i, i, 20, 2);
            r.session = Some(i % 12);
            r
        })
        .collect();
    let (_, recs) = sim::llm::run_recorded(c.resolve_llm().unwrap(), &mut reqs.clone().into_iter(), 1).unwrap();
    assert_eq!(recs.len(), 60);
    for s in 0..12 {
        let adapters: std::collections::BTreeSet<u32> =
            recs.iter().filter(|r| r.id % 12 == s).map(|r| r.adapter.unwrap()).collect();
        assert_eq!(adapters.len(), 1, "session {s}: {adapters:?}");
    }
    let all: std::collections::BTreeSet<u32> = recs.iter().map(|r| r.adapter.unwrap()).collect();
    assert!(all.len() > 1, "sessions draw different adapters");
}

#[test]
fn disaggregated_decode_replicas_respect_the_adapter_limit() {
    // Prefill and decode pools: a handed-over sequence whose adapter would exceed the decode
    // replica's batch limit waits in its queue instead of joining (and evicting an adapter in use).
    let mut c = table_scenario(1, "", &lora(2, 2));
    let l = c.llm.as_mut().unwrap();
    l.pools[0].role = sim::llm::Role::Prefill;
    let mut decode = l.pools[0].clone();
    decode.name = "decode".into();
    decode.role = sim::llm::Role::Decode;
    l.pools.push(decode);
    let reqs: Vec<Request> = (0..40)
        .map(|i| {
            let mut r = req(i, i, 50, 30);
            r.adapter = Some((i % 7) as u32);
            r
        })
        .collect();
    let s = run(&c, reqs);
    assert_eq!((s.requests.completed, s.tokens.output), (40, 40 * 30));
    assert!(s.lora.unwrap().mean_adapters_per_iteration <= 2.0);
}

#[test]
fn a_static_scheduler_refuses_lora() {
    let text = "name = \"s\"\n[llm]\nmodel = \"llama-2-7b\"\n[llm.scheduler]\nkind = \"static\"\n[[llm.pools]]\nname = \
                \"g\"\nkind = \"a100\"\n[llm.lora]\n";
    assert!(sim::ScenarioConfig::parse(text).unwrap_err().to_string().contains("continuous scheduler"));
}
