//! Ground-truth cases: parsing (errors name the file and key), workloads (Mooncake rows,
//! seeded shared-prefix generation) and the scenario a case becomes.

use sim::groundtruth::{Case, relative_error};
use sim::llm::SchedulerSpec;
use sim::llm::calibration::Calibration;
use sim::llm::shape::builtin_shape;
use traces::SimTime;

const CASE: &str = r#"
id = "tiny"
source = "hand"
license = "none"
kind = "summary"

[server]
engine = "vllm"
engine_version = "0.15.1"
model = "llama-2-7b"
moe = false
gpu = "h100-sxm"
gpus = 1
tensor_parallel = 1
data_parallel = 1
dtype = "float16"
kv_cache_dtype = "auto"
max_num_seqs = 128
max_num_batched_tokens = 2048
max_model_len = 4096
block_size = 16
gpu_memory_utilization = 0.9
chunked_prefill = false
prefix_caching = true
cpu_offload_gib = 8

[workload]
kind = "shared_prefix"
system_prompt_tokens = 100
question_tokens = 466
chat_template_tokens = 27
output_tokens = 247
system_prompts = 3
users_per_system_prompt = 4
requests = 300
stages = [{ rate_per_s = 5.0, duration_s = 20 }, { rate_per_s = 10.0, duration_s = 20 }]

[measured]
ttft_ms = { mean = 28.0, p90 = 40.0 }
e2e_ms = { mean = 2081.0 }
throughput_rps = 7.46
"#;

fn parse(text: &str) -> Result<Case, String> {
    Case::parse("cases/tiny/case.toml", text).map_err(|e| e.to_string())
}

#[test]
fn a_case_parses_and_flattens_its_measurements() {
    let c = parse(CASE).unwrap();
    assert_eq!(c.id, "tiny");
    assert!(c.server.is_v1());
    assert_eq!(c.measured.len(), 4);
    assert_eq!(c.measured["ttft_ms.p90"], 40.0);
    assert_eq!(c.measured["throughput_rps"], 7.46);
}

#[test]
fn malformed_cases_name_the_file_and_the_key() {
    for (from, to, key) in [
        ("gpu = \"h100-sxm\"\n", "", "`server.gpu`: missing"),
        ("tensor_parallel = 1", "tensor_parallel = 0", "`server.tensor_parallel`"),
        ("dtype = \"float16\"", "dtype = \"float9\"", "`server.dtype`: unknown dtype"),
        ("engine = \"vllm\"", "engine = \"sglang\"", "`server.engine`"),
        (
            "{ rate_per_s = 5.0, duration_s = 20 }",
            "{ rate_per_s = -5.0, duration_s = 20 }",
            "`workload.stages[0].rate_per_s`",
        ),
        (
            "ttft_ms = { mean = 28.0, p90 = 40.0 }",
            "ttft_ms = { mean = 28.0, p42 = 40.0 }",
            "`measured.ttft_ms.p42`: unknown statistic",
        ),
        ("gpu_memory_utilization = 0.9", "gpu_memory_utilization = 1.5", "`server.gpu_memory_utilization`"),
        ("kind = \"summary\"", "kind = \"guess\"", "`kind`"),
    ] {
        assert!(CASE.contains(from), "{from}");
        let e = parse(&CASE.replacen(from, to, 1)).unwrap_err();
        assert!(e.starts_with("cases/tiny/case.toml: "), "{e}");
        assert!(e.contains(key), "{key}: {e}");
    }
    let e = parse("id = ").unwrap_err();
    assert!(e.contains("not valid TOML"), "{e}");
}

#[test]
fn mooncake_rows_become_requests_and_bad_rows_name_the_line() {
    let text = CASE.replace(
        r#"kind = "shared_prefix""#,
        "requests_file = \"workload.jsonl\"\nformat = \"mooncake\"\nhash_block_tokens = 16",
    );
    let c = parse(&text).unwrap();
    let rows = "{\"timestamp\": 0.0, \"input_length\": 40, \"output_length\": 5, \"hash_ids\": [7, 8]}\n\
                {\"timestamp\": 1.5, \"input_length\": 20, \"output_length\": 3, \"hash_ids\": [7]}\n";
    let r = c.mooncake_requests("w.jsonl", rows).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].arrival, SimTime(1_500_000));
    assert_eq!((r[1].input_size, r[1].output_tokens), (20, 3));
    assert_eq!(r[0].prefix_blocks.as_deref(), Some(&[7u64, 8][..]));
    let bad = rows.replace("\"input_length\": 20", "\"input_length\": -2");
    let e = c.mooncake_requests("w.jsonl", &bad).unwrap_err().to_string();
    assert!(e.starts_with("w.jsonl: `line 2: input_length`"), "{e}");
    let unsorted = rows.replace("1.5", "-1").replace("0.0", "3.0");
    assert!(c.mooncake_requests("w.jsonl", &unsorted).unwrap_err().to_string().contains("line 2: timestamp"));
}

#[test]
fn shared_prefix_workloads_are_seeded_staged_and_repeat_each_users_prompt() {
    let c = parse(CASE).unwrap();
    let a = c.generated_requests(1);
    assert_eq!(a, c.generated_requests(1), "same seed, same requests");
    assert_ne!(a, c.generated_requests(2));
    // round(5 × 20) + round(10 × 20) requests, prompt 100 + 466 + 27.
    assert_eq!(a.len(), 300);
    assert!(a.iter().all(|r| r.input_size == 593 && r.output_tokens == 247));
    assert!(a.windows(2).all(|w| w[0].arrival <= w[1].arrival));
    // Rates: about 100 arrivals in the first 20 s, 200 after.
    let first = a.iter().filter(|r| r.arrival < SimTime::from_secs_f64(20.0).unwrap()).count();
    assert!((70..=130).contains(&first), "{first}");
    // As inference-perf sends them: 3 × 4 users' prompts, shuffled once and cycled, so request
    // i repeats request i − 12 exactly; ⌊593 / 16⌋ = 37 full blocks per prompt.
    let blocks = |r: &traces::Request| r.prefix_blocks.as_deref().unwrap().to_vec();
    assert!(a.iter().all(|r| blocks(r).len() == 37));
    assert!((12..a.len()).all(|i| blocks(&a[i]) == blocks(&a[i - 12])));
    let mut prompts: Vec<Vec<u64>> = a.iter().map(blocks).collect();
    prompts.sort();
    prompts.dedup();
    assert_eq!(prompts.len(), 12, "one prompt per user");
    // Their first ⌊100 / 16⌋ = 6 blocks are the system prompt's: one set per group (3), and
    // the rest of each prompt is its user's own.
    let mut systems: Vec<&[u64]> = prompts.iter().map(|p| &p[..6]).collect();
    systems.sort();
    systems.dedup();
    assert_eq!(systems.len(), 3);
    let mut own: Vec<u64> = prompts.iter().flat_map(|p| p[6..].to_vec()).collect();
    own.sort();
    own.dedup();
    assert_eq!(own.len(), 12 * 31, "no block past the system prompt is shared between users");
    // The shuffle is seeded: another seed, another order of the same 12 prompts.
    let b = c.generated_requests(2);
    assert_ne!(a.iter().take(12).map(blocks).collect::<Vec<_>>(), b.iter().take(12).map(blocks).collect::<Vec<_>>());
}

#[test]
fn the_scenario_is_vllm_v1_with_the_case_settings_and_the_calibration() {
    let c = parse(CASE).unwrap();
    let shape = builtin_shape("llama-2-7b").unwrap();
    let cal = Calibration::builtin();
    let (config, _) = c.scenario(&shape, &cal).unwrap();
    let l = config.llm.as_ref().unwrap();
    // vLLM 0.15 is V1: chunked prefill although the case says false.
    assert_eq!(
        l.scheduler,
        SchedulerSpec::Continuous {
            max_num_seqs: 128,
            max_batched_tokens: 2048,
            chunked_prefill: true,
            preemption: sim::llm::Preemption::Recompute,
            async_scheduling: true,
        }
    );
    assert_eq!(l.max_model_len, Some(4096));
    assert_eq!(l.prefix_cache.as_ref().unwrap().block_tokens, 16);
    assert_eq!(l.efficiency.as_ref(), Some(&cal.entry("h100-sxm").0.efficiency));
    // The scenario round-trips through its TOML (what scenario.toml holds).
    assert_eq!(sim::ScenarioConfig::parse(&config.to_toml()).unwrap(), config);
    // An older engine keeps its own chunked-prefill setting.
    let v0 = parse(&CASE.replace("0.15.1", "0.6.3")).unwrap();
    let (config, _) = v0.scenario(&shape, &cal).unwrap();
    assert!(matches!(
        config.llm.unwrap().scheduler,
        SchedulerSpec::Continuous { chunked_prefill: false, async_scheduling: false, .. }
    ));
    // vLLM schedules asynchronously by default from 0.14; a case can say otherwise.
    let async_of = |text: &str| {
        let (config, _) = parse(text).unwrap().scenario(&shape, &cal).unwrap();
        matches!(config.llm.unwrap().scheduler, SchedulerSpec::Continuous { async_scheduling: true, .. })
    };
    assert!(!async_of(&CASE.replace("0.15.1", "0.13.0")));
    assert!(async_of(&CASE.replace("0.15.1", "0.14.0")));
    assert!(!async_of(&CASE.replace("cpu_offload_gib = 8", "cpu_offload_gib = 8\nasync_scheduling = false")));
    let e = parse(&CASE.replace("cpu_offload_gib = 8", "cpu_offload_gib = 8\nasync_scheduling = 1")).unwrap_err();
    assert!(e.contains("`server.async_scheduling`: must be true or false"), "{e}");
}

#[test]
fn the_comparison_holds_every_measured_statistic() {
    let c = parse(CASE).unwrap();
    let shape = builtin_shape("llama-2-7b").unwrap();
    let (config, source) = c.scenario(&shape, &Calibration::builtin()).unwrap();
    let s = sim::llm::run(config.resolve_llm().unwrap(), &mut c.generated_requests(1).into_iter(), 1).unwrap();
    let cmp = c.compare(&s, source);
    assert_eq!(cmp.metrics.len(), c.measured.len());
    let t = &cmp.metrics["ttft_ms.p90"];
    assert_eq!((t.measured, t.sim), (40.0, s.latency_ms.ttft.p90));
    assert_eq!(t.relative_error, (t.sim - 40.0) / 40.0);
    assert_eq!(cmp.metrics["throughput_rps"].sim, s.throughput.requests_per_s);
    assert_eq!(relative_error(0.0, 0.0), 0.0);
}
