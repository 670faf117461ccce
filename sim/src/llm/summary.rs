//! What an LLM run reports (`summary.json`); formulas in `docs/metrics.md` (LLM section).

use crate::metrics::Distribution;
use serde::Serialize;

/// Request counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LlmCounts {
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests whose last token was produced.
    pub completed: u64,
    /// Requests refused at arrival: prompt + output need more KV memory than a replica has, or
    /// exceed `max_model_len` (those also count in `rejected_too_long`).
    pub rejected: u64,
    /// Requests refused at arrival because prompt + output tokens exceed `max_model_len`.
    pub rejected_too_long: u64,
    /// Requests with 0 output tokens in the trace, run as 1 (the prefill's token).
    pub zero_output_as_one: u64,
    /// Requests the client gave up on (`client_timeout_s`) before their last token: aborted by
    /// the server, not in the latency statistics.
    pub timed_out: u64,
}

/// Token counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TokenCounts {
    /// Prompt tokens of completed requests.
    pub input: u64,
    /// Output tokens generated (each exactly once).
    pub output: u64,
    /// Prompt tokens computed by prefill (recomputation included, cached prefix excluded).
    pub prefill_computed: u64,
    /// Prompt tokens served from the prefix cache (GPU blocks, and blocks loaded back from the
    /// CPU tier).
    pub prefix_cached: u64,
    /// Of those, prompt tokens loaded back from the CPU offload tier.
    pub offload_loaded: u64,
    /// Tokens prefilled again after a recompute preemption.
    pub recomputed: u64,
    /// Tokens computed only as padding by static batching.
    pub padding: u64,
}

/// Token-level latencies, ms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenLatency {
    /// Time to first token: first token − arrival.
    pub ttft: Distribution,
    /// Time per output token: (last token − first token) / (output tokens − 1), requests with ≥ 2 tokens.
    pub tpot: Distribution,
    /// Inter-token latency: gap between consecutive tokens of a request, every gap.
    pub itl: Distribution,
    /// End-to-end: last token − arrival.
    pub e2e: Distribution,
    /// Queueing before the first admission: admission − arrival.
    pub queue: Distribution,
}

/// Throughput over the horizon.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Throughput {
    /// Completed requests / horizon, 1/s.
    pub requests_per_s: f64,
    /// Output tokens / horizon, 1/s.
    pub output_tokens_per_s: f64,
    /// (prompt + output tokens of completed requests) / horizon, 1/s.
    pub total_tokens_per_s: f64,
}

/// Goodput under token SLOs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenSloStats {
    /// TTFT target, ms.
    pub ttft_ms: f64,
    /// TPOT target, ms.
    pub tpot_ms: f64,
    /// Share of arrived requests that completed meeting both targets (a rejection is a miss).
    pub attainment: f64,
    /// Requests meeting both targets / horizon, 1/s.
    pub goodput_per_s: f64,
}

/// KV memory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KvStats {
    /// Tokens per page.
    pub block_size: u32,
    /// KV bytes per token.
    pub bytes_per_token: f64,
    /// Pages over all replicas.
    pub capacity_pages: u64,
    /// Time-average of used pages / capacity, over all replicas.
    pub mean_utilization: f64,
    /// Largest used pages / capacity of any replica at any time (≤ 1).
    pub peak_utilization: f64,
    /// Preemptions (a running sequence evicted for lack of pages).
    pub preemptions: u64,
    /// Bytes copied to and from host memory by swap preemption.
    pub swap_bytes: f64,
    /// Bytes moved from prefill to decode replicas.
    pub transfer_bytes: f64,
}

/// Prefix cache.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrefixStats {
    /// Tokens per prefix block.
    pub block_tokens: u32,
    /// Prefix block ids of first admissions.
    pub lookups: u64,
    /// Of those, found cached.
    pub hits: u64,
    /// hits / lookups.
    pub hit_rate: f64,
    /// Cached blocks evicted.
    pub evictions: u64,
    /// Blocks found in GPU memory (first admissions).
    pub gpu_hits: u64,
    /// Prefill time the hits saved: per block hit, the time to prefill one block alone, less
    /// its load from a tier, s.
    pub saved_s: f64,
    /// Tiers below the GPU (empty without).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierStats>,
}

/// Iterations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IterationStats {
    /// Iterations run over all replicas.
    pub count: u64,
    /// Mean sequences per iteration (prefilling + decoding).
    pub mean_seqs: f64,
    /// Mean tokens per iteration.
    pub mean_tokens: f64,
    /// Iterations that only prefilled (decodes waited).
    pub prefill_only: u64,
}

/// Cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmCost {
    /// Σ replicas price × horizon, $.
    pub usd: f64,
    /// usd / output tokens × 10⁶.
    pub usd_per_million_output_tokens: f64,
    /// usd / (prompt + output tokens) × 10⁶.
    pub usd_per_million_tokens: f64,
}

/// One replica.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaSummary {
    /// Name.
    pub name: String,
    /// Device kind.
    pub kind: String,
    /// Role.
    pub role: String,
    /// KV capacity, pages.
    pub kv_pages: u64,
    /// Iterations.
    pub iterations: u64,
    /// Busy time / horizon.
    pub busy_fraction: f64,
    /// Peak used pages.
    pub kv_peak_pages: u64,
    /// Requests routed here at arrival.
    pub routed: u64,
}

/// Samples over time (for figures): KV utilization, running and waiting sequences.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timeline {
    /// Sampling interval, s.
    pub interval_s: f64,
    /// Sample times, s.
    pub t_s: Vec<f64>,
    /// Used pages / capacity, all replicas.
    pub kv_utilization: Vec<f64>,
    /// Sequences running.
    pub running: Vec<u64>,
    /// Sequences waiting (queued, swapped or in transfer).
    pub waiting: Vec<u64>,
}

/// An autoscaled pool of an LLM run (formulas as the request-level `devices[].autoscale`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmPoolStats {
    /// The pool.
    pub pool: String,
    /// Its statistics.
    #[serde(flatten)]
    pub stats: crate::engine::PoolStats,
}

/// One request class of an LLM run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmClassSummary {
    /// Name.
    pub name: String,
    /// Priority (`llm.scheduling = priority`).
    pub priority: u32,
    /// Weight (`fair`).
    pub weight: f64,
    /// Requests that arrived (rejected ones aside).
    pub arrived: u64,
    /// Requests that finished.
    pub completed: u64,
    /// Finished within `llm.slo` / arrived (absent without `llm.slo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attainment: Option<f64>,
    /// Output tokens of its finished requests.
    pub output_tokens: u64,
    /// `fair`'s virtual token counter at the end (service received / weight).
    pub counter: f64,
    /// TTFT of its finished requests, ms.
    pub ttft_ms: Distribution,
    /// End-to-end latency of its finished requests, ms.
    pub e2e_ms: Distribution,
}

/// Energy of an LLM run: every replica's devices at full power during its iterations and idle
/// between them, × PUE.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmEnergy {
    /// Facility energy, kWh.
    pub kwh: f64,
    /// Mean IT power of all devices, W.
    pub mean_power_w: f64,
    /// Wh per 1,000 completed requests.
    pub wh_per_1000_requests: f64,
    /// kWh per million tokens (input + output).
    pub kwh_per_million_tokens: f64,
    /// gCO₂e over the run.
    pub gco2e: f64,
    /// gCO₂e per million tokens.
    pub gco2e_per_million_tokens: f64,
}

/// Roofline quantities of one replica of the first pool (for reading the results).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// Model name.
    pub model: String,
    /// Parameters.
    pub params: f64,
    /// Weight bytes of one replica.
    pub weight_bytes: f64,
    /// Tensor-parallel degree.
    pub tensor_parallel: u32,
    /// Bits per weight, per KV element and of the arithmetic (what a precision change changes).
    pub weight_bits: f64,
    /// Bits per KV-cache element.
    pub kv_cache_bits: f64,
    /// Bits of the arithmetic.
    pub compute_bits: f64,
    /// A decode step of one sequence at context 1,024, ms.
    pub decode_step_batch1_ms: f64,
    /// A prefill of 1,024 tokens, ms.
    pub prefill_1024_ms: f64,
}

/// One KV tier over a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TierStats {
    /// Name.
    pub name: String,
    /// Shared by every replica.
    pub shared: bool,
    /// Blocks it holds in all (a local tier: per replica × replicas).
    pub capacity_blocks: u64,
    /// Blocks found here at first admission.
    pub hits: u64,
    /// hits / prefix lookups.
    pub hit_rate: f64,
    /// Blocks loaded into GPU memory (re-admissions after preemption too).
    pub blocks_loaded: u64,
    /// Bytes of those loads.
    pub bytes_loaded: f64,
    /// Bytes written through (a shared tier: every newly prefilled block).
    pub bytes_written: f64,
    /// Blocks held at the end.
    pub resident_blocks: u64,
    /// Blocks evicted for lack of room.
    pub evictions: u64,
    /// Prefill time its hits saved: block prefill time less load time, s.
    pub saved_s: f64,
}

/// LoRA adapters over a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoraStats {
    /// Distinct adapters requested.
    pub adapters: u64,
    /// Size of one adapter, MB.
    pub adapter_mb: f64,
    /// Admissions of sequences with an adapter (re-admissions after preemption too).
    pub admissions: u64,
    /// Of those, with the adapter already resident on the replica.
    pub resident_hits: u64,
    /// resident_hits / admissions.
    pub hit_rate: f64,
    /// Adapter loads from host memory.
    pub loads: u64,
    /// Seconds of those loads (each stalls its iteration).
    pub load_s: f64,
    /// Resident adapters evicted to make room.
    pub evictions: u64,
    /// Admissions that passed over an earlier waiting request whose adapter did not fit the batch.
    pub passed_over: u64,
    /// Distinct adapters per iteration, averaged over iterations.
    pub mean_adapters_per_iteration: f64,
}

/// Speculative decoding over a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpecStats {
    /// `draft`, `ngram` or `mtp`.
    pub method: String,
    /// Tokens proposed per step.
    pub k: u32,
    /// Verification steps with at least one proposal.
    pub steps: u64,
    /// Tokens proposed (fewer than k near a sequence's last token).
    pub proposed: u64,
    /// Proposals accepted.
    pub accepted: u64,
    /// accepted / proposed.
    pub acceptance_rate: f64,
    /// (accepted + steps) / steps: tokens per verification step.
    pub tokens_per_step: f64,
    /// The closed form for a full `k`: Σ_{i=0..k} Π_{j≤i} α_j.
    pub expected_tokens_per_step: f64,
    /// Device time of the proposer (draft model or heads), s.
    pub proposer_s: f64,
}

/// The summary of an LLM run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmSummary {
    /// Always `llm`.
    pub engine: &'static str,
    /// Scenario name.
    pub scenario: String,
    /// Run seed.
    pub seed: u64,
    /// Scheduler kind (`static`, `continuous`, `continuous+chunked`).
    pub scheduler: String,
    /// Last completion (or arrival), s.
    pub horizon_s: f64,
    /// Counts.
    pub requests: LlmCounts,
    /// Tokens.
    pub tokens: TokenCounts,
    /// Latencies, ms.
    pub latency_ms: TokenLatency,
    /// Throughput.
    pub throughput: Throughput,
    /// SLO goodput, if targets are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<TokenSloStats>,
    /// KV memory.
    pub kv: KvStats,
    /// Prefix cache, if on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<PrefixStats>,
    /// Iterations.
    pub iterations: IterationStats,
    /// Cost.
    pub cost: LlmCost,
    /// Energy and carbon (absent when the device kind has no power model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy: Option<LlmEnergy>,
    /// Per request class (empty without `[[classes]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<LlmClassSummary>,
    /// Jain's index over the classes' SLO attainment (two or more classes and `llm.slo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fairness: Option<f64>,
    /// Autoscaled pools (empty without).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub autoscale: Vec<LlmPoolStats>,
    /// Speculative decoding, if on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speculative: Option<SpecStats>,
    /// Closed-loop conversations, if on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<super::sessions::SessionStats>,
    /// LoRA adapters, if on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraStats>,
    /// The scenario's quality evidence for its precision (`[llm.quality]`), if declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<super::LlmQuality>,
    /// Model.
    pub model: ModelInfo,
    /// Replicas.
    pub replicas: Vec<ReplicaSummary>,
    /// Timeline.
    pub timeline: Timeline,
}
