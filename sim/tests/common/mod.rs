//! Helpers shared by the sim integration tests.
#![allow(dead_code)]

use sim::{ScenarioConfig, Summary};

/// Runs `config` with seeds `0..seeds` (on every core) and returns the summaries in seed order.
pub fn over_seeds(config: &ScenarioConfig, seeds: u64, n: u64) -> Vec<Summary> {
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get()) as u64;
    let mut out: Vec<(u64, Summary)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (0..seeds)
                        .filter(|seed| seed % threads == t)
                        .map(|seed| (seed, sim::run_generated(config, seed, n, false).unwrap().summary))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    out.sort_by_key(|(seed, _)| *seed);
    out.into_iter().map(|(_, s)| s).collect()
}

/// Mean of `f` over summaries.
pub fn mean(s: &[Summary], f: impl Fn(&Summary) -> f64) -> f64 {
    s.iter().map(f).sum::<f64>() / s.len() as f64
}

/// |a/b − 1|.
pub fn rel(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}

/// A scenario with Poisson arrivals at `rate` into one device.
pub fn single(rate: f64, servers: u32, service: &str) -> ScenarioConfig {
    ScenarioConfig::parse(&format!(
        "name = \"t\"\n[workload.arrivals]\nkind = \"poisson\"\nrate = {rate}\n[[devices]]\nname = \"d\"\nservers = {servers}\nservice = {service}\n"
    ))
    .unwrap()
}

/// An LLM request: `prompt` tokens in, `output` tokens out, arriving at `at_ms`.
pub fn req(id: u64, at_ms: u64, prompt: u64, output: u64) -> traces::Request {
    let mut r = traces::Request::new(id, traces::SimTime::from_millis(at_ms), prompt);
    r.output_tokens = output;
    r
}

/// Runs the LLM scenario `c` over `reqs` with seed 1.
pub fn run_llm(c: &ScenarioConfig, reqs: Vec<traces::Request>) -> sim::llm::LlmSummary {
    sim::llm::run(c.resolve_llm().unwrap(), &mut reqs.into_iter(), 1).unwrap()
}

/// A table perf model that is easy to compute by hand: prefill(n) = 0.01 ms × n,
/// decode(b) = 4 ms + 1 ms × b.
pub const TABLE: &str = r#"
    [llm.perf]
    kind = "table"
    prefill_tokens = [100, 1000]
    prefill_ms = [1.0, 10.0]
    decode_batch = [1, 2]
    decode_ms = [5.0, 6.0]
"#;

/// `replicas` Llama-2-7B replicas on an A100 pool with continuous batching, iteration times from
/// [`TABLE`] alone (no front-end latency): `llm` holds more keys of `[llm]`, `tables` more tables.
pub fn table_scenario(replicas: u32, llm: &str, tables: &str) -> ScenarioConfig {
    ScenarioConfig::parse(&format!(
        r#"
        name = "table"
        [llm]
        model = "llama-2-7b"
        {llm}
        [llm.scheduler]
        kind = "continuous"
        [[llm.pools]]
        name = "gpu"
        kind = "a100"
        count = {replicas}
        {TABLE}
        [llm.efficiency]
        request_overhead_ms = 0.0
        {tables}
        "#
    ))
    .unwrap()
}
