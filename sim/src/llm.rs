//! LLM serving at token level: prefill and decode iterations, continuous or static batching,
//! paged KV memory with preemption, block-level prefix caching, disaggregated prefill/decode
//! pools, and the metrics LLM serving is judged by (TTFT, TPOT, tokens/s, goodput, $/1M tokens).
//!
//! A scenario with an `[llm]` table runs here instead of the request-level engine, once
//! [`crate::ScenarioConfig::resolve_llm`] has checked it into an [`LlmScenario`] (this module
//! does not know the scenario file; `config` depends on it, not the reverse):
//!
//! ```
//! let config = sim::ScenarioConfig::parse(r#"
//!     name = "llm-example"
//!     [workload.arrivals]
//!     kind = "poisson"
//!     rate = 2.0
//!     [workload.input_size]
//!     kind = "fixed"
//!     value = 512
//!     [workload.output_tokens]
//!     kind = "fixed"
//!     value = 64
//!     [llm]
//!     model = "llama-2-7b"
//!     [[llm.pools]]
//!     name = "gpu"
//!     kind = "a100"
//! "#).unwrap();
//! let mut requests = config.workload.as_ref().unwrap().generator(1, 200).unwrap();
//! let s = sim::llm::run(config.resolve_llm().unwrap(), &mut requests, 1).unwrap();
//! assert_eq!(s.requests.completed, 200);
//! assert_eq!(s.tokens.output, 200 * 64);
//! ```

pub mod calibration;
pub mod engine;
pub mod kv;
pub mod perf;
pub mod sessions;
pub mod shape;
pub mod summary;

pub use engine::{LlmRecord, run, run_recorded};
pub use summary::LlmSummary;

use crate::catalog::{DeviceKind, Precision};
use crate::check::{ConfigError, positive};
use crate::policy::router::RouterSpec;
use perf::{Efficiency, PerfModel, PerfSpec};
use serde::{Deserialize, Serialize};
use shape::ModelShape;
use std::collections::BTreeMap;

/// The `[llm]` table of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSpec {
    /// Built-in model shape (`llama-2-7b`, `llama-2-13b`, `llama-2-70b`), or the name of `shape`.
    pub model: String,
    /// A custom model shape (then `model` is only its label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<ModelShape>,
    /// Weight precision (`int8`/`int4`: weight-only quantization; default fp16).
    #[serde(default = "fp16")]
    pub weights: Precision,
    /// KV-cache precision (default fp16).
    #[serde(default = "fp16")]
    pub kv_cache: Precision,
    /// Precision of the arithmetic (which datasheet peak applies; default fp16).
    #[serde(default = "fp16")]
    pub compute: Precision,
    /// Devices per replica (tensor parallelism splits weights, KV, FLOPs and bandwidth).
    #[serde(default = "one")]
    pub tensor_parallel: u32,
    /// Tokens per KV page (default 16, as vLLM).
    #[serde(default = "sixteen")]
    pub block_size: u32,
    /// Share of device memory for weights + KV (the rest is activations and runtime; default 0.9).
    #[serde(default = "ninety")]
    pub memory_utilization: f64,
    /// Roofline efficiency factors (absent: the built-in calibration's for the device kind,
    /// else [`Efficiency::default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<Efficiency>,
    /// Longest sequence (prompt + output tokens) the engine accepts, as vLLM's `max_model_len`:
    /// a longer request is rejected at arrival and counted (absent: the model's
    /// `max_position_embeddings` when its shape gives one, as vLLM derives it; else no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u32>,
    /// KV pages per replica as the engine allocated them (vLLM logs `num_gpu_blocks`); absent:
    /// derived from memory, weights and `memory_utilization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_blocks: Option<u64>,
    /// Iteration-time model (default: roofline).
    #[serde(default)]
    pub perf: PerfSpec,
    /// Scheduling policy of every replica.
    #[serde(default)]
    pub scheduler: SchedulerSpec,
    /// Block-level prefix caching from the requests' prefix block ids (absent: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixCacheSpec>,
    /// Replica pools.
    pub pools: Vec<PoolSpec>,
    /// Routing of arriving requests to replicas (of the mixed or prefill pools).
    #[serde(default)]
    pub router: LlmRouterSpec,
    /// Latency targets for goodput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<TokenSlo>,
    /// KV transfer bandwidth from a prefill to a decode replica, GB/s (disaggregation; default 25).
    #[serde(default = "twenty_five")]
    pub kv_transfer_gb_s: f64,
    /// CPU KV offload per replica (vLLM's `kv_offloading_size`), GB: prefix blocks evicted from
    /// the GPU stay in host memory and are loaded back (at `swap_gb_s`) instead of recomputed
    /// (default 0: none).
    #[serde(default, skip_serializing_if = "is_zero_f")]
    pub cpu_offload_gb: f64,
    /// Host link bandwidth for swapped-out KV, GB/s (default 25).
    #[serde(default = "twenty_five")]
    pub swap_gb_s: f64,
    /// Sampling interval of the KV/queue timeline, s (default 1).
    #[serde(default = "one_f")]
    pub timeline_interval_s: f64,
    /// The client gives up on a request this many seconds after sending it (default: never):
    /// the server aborts it where it is (queue, running batch, transfer), frees its KV memory
    /// and slot, and it counts in `requests.timed_out`, not in the latency statistics — which, as
    /// a benchmark client reports them, cover the requests that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_timeout_s: Option<f64>,
    /// Which waiting request a continuous-batching replica admits next and which running one it
    /// preempts, by request class (`[[classes]]`; default `fcfs`).
    #[serde(default, skip_serializing_if = "ClassScheduling::is_fcfs")]
    pub scheduling: ClassScheduling,
    /// KV cache tiers below the GPU for prefix blocks, fastest first (`[[llm.kv_tiers]]`; needs
    /// `[llm.prefix_cache]`). `cpu_offload_gb` is a first tier of its own (`cpu`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kv_tiers: Vec<KvTierSpec>,
    /// Speculative decoding (absent: off; needs the continuous scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<SpeculativeSpec>,
    /// Multi-turn conversations replayed closed-loop (absent: every request arrives when
    /// recorded, its `session` ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<sessions::SessionSpec>,
    /// LoRA adapters over the base model (absent: requests run the base model, their `adapter`
    /// ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraSpec>,
    /// The quality evidence of this configuration's precision (a declared or measured delta
    /// against the model at full precision); the `llm-release` gate blocks a precision change
    /// that comes without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<LlmQuality>,
}

/// Many LoRA adapters over one base model (`[llm.lora]`, as vLLM's `--enable-lora`; S-LoRA,
/// Punica). A request asks for an adapter (the trace's `adapter` column, else one of `adapters`
/// drawn by Zipf(`zipf_s`) on the run's `llm/lora` stream, once per conversation with sessions). A replica keeps `slots` adapters in
/// GPU memory (their weights come out of the KV capacity), least recently used evicted first
/// among those no running sequence uses; a request whose adapter is not resident loads it from
/// host memory when admitted (`latency_us` + adapter bytes / `load_gb_s`, stalling that
/// iteration). At most `max_per_batch` distinct adapters run at once (vLLM's `max_loras`): a
/// waiting request whose adapter would exceed it is passed over for the next one that fits.
/// Every token of an adapted sequence also multiplies through its adapter (2 · adapter params
/// FLOPs), and an iteration reads each distinct adapter's weights once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSpec {
    /// Adapters requests draw from when the trace names none (default 100).
    #[serde(default = "hundred")]
    pub adapters: u32,
    /// Zipf exponent of adapter popularity (default 1; 0 uniform).
    #[serde(default = "one_f")]
    pub zipf_s: f64,
    /// Rank of every adapter (default 16), on every linear layer: rank · layers · (7 · hidden +
    /// 2 · query dim + 2 · KV dim + 3 · intermediate) weights, at the weights' precision (fp16
    /// at least).
    #[serde(default = "sixteen")]
    pub rank: u32,
    /// Distinct adapters in one batch (default 4).
    #[serde(default = "four")]
    pub max_per_batch: u32,
    /// Adapters resident per replica (default `max_per_batch`; at least that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Host-to-GPU bandwidth of an adapter load, GB/s (default 25).
    #[serde(default = "twenty_five")]
    pub load_gb_s: f64,
    /// Fixed cost of one load, µs (default 0).
    #[serde(default, skip_serializing_if = "is_zero_f")]
    pub latency_us: f64,
}

fn hundred() -> u32 {
    100
}
fn four() -> u32 {
    4
}

impl LoraSpec {
    /// Resident adapters per replica.
    pub fn slots(&self) -> u32 {
        self.slots.unwrap_or(self.max_per_batch)
    }

    /// Weights of one adapter of `shape`.
    pub fn params(&self, shape: &ModelShape) -> f64 {
        let h = f64::from(shape.hidden);
        let q = shape.heads_or_default() * f64::from(shape.head_dim);
        let kv = f64::from(shape.kv_heads) * f64::from(shape.head_dim);
        let i = f64::from(if shape.intermediate > 0 { shape.intermediate } else { shape.hidden * 4 });
        f64::from(self.rank) * f64::from(shape.layers) * (7.0 * h + 2.0 * q + 2.0 * kv + 3.0 * i)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (f, v) in [("adapters", self.adapters), ("rank", self.rank), ("max_per_batch", self.max_per_batch)] {
            if v == 0 {
                return Err(ConfigError::invalid(&format!("llm.lora.{f}"), "must be at least 1"));
            }
        }
        if self.slots() < self.max_per_batch {
            return Err(ConfigError::invalid(
                "llm.lora.slots",
                format!("must be at least max_per_batch ({}): a batch's adapters are resident", self.max_per_batch),
            ));
        }
        crate::check::non_negative("llm.lora.zipf_s", self.zipf_s)?;
        positive("llm.lora.load_gb_s", self.load_gb_s)?;
        crate::check::non_negative("llm.lora.latency_us", self.latency_us)
    }
}

/// Quality evidence for a precision (`[llm.quality]`), copied into the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmQuality {
    /// Change of the metric against the full-precision model, in its units (negative: worse),
    /// e.g. −0.004 for 0.4 points of accuracy lost.
    pub delta: f64,
    /// What was measured (`mmlu`, `gsm8k`, `perplexity`…).
    pub metric: String,
    /// Where the number comes from: `measured` (your own evaluation) or `declared` (a model
    /// card, a paper).
    pub evidence: Evidence,
    /// The run, paper or model card it comes from.
    pub source: String,
}

/// How a quality number was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Measured by the team on its own data.
    Measured,
    /// Published by someone else.
    Declared,
}

/// One tier of the KV cache hierarchy (`[[llm.kv_tiers]]`): host DRAM, a local SSD, or a pool
/// shared by every replica (Mooncake's distributed KV store).
///
/// Prefix blocks evicted from the GPU move down the local tiers (each exclusive: a block loaded
/// back leaves its tier). A `shared` tier (the last only) is inclusive and written through:
/// every block a replica prefills is stored there too, and a block found there stays for the
/// other replicas. Loading `n` blocks from a tier costs `latency_us` + n · block bytes /
/// `bandwidth_gb_s`, added to the iteration that admits the request (a stall, as vLLM's CPU
/// offload), or with `overlap` hidden behind that iteration's compute (layer-wise prefetch, as
/// Mooncake and LMCache do) and paid only beyond it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvTierSpec {
    /// Name (`dram`, `ssd`, `pool`…).
    pub name: String,
    /// Capacity, GB (per replica; a shared tier's in all).
    pub capacity_gb: f64,
    /// Bandwidth of a load into the GPU, GB/s.
    pub bandwidth_gb_s: f64,
    /// Fixed cost of one load from this tier, µs (default 0).
    #[serde(default, skip_serializing_if = "is_zero_f")]
    pub latency_us: f64,
    /// One tier for every replica (the last tier only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    /// Eviction policy (default `lru`; `slru`: segmented LRU).
    #[serde(default)]
    pub policy: kv::TierPolicy,
    /// Loads overlap the iteration's compute instead of stalling it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overlap: bool,
}

impl KvTierSpec {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid(&format!("{key}.name"), "must not be empty"));
        }
        positive(&format!("{key}.capacity_gb"), self.capacity_gb)?;
        positive(&format!("{key}.bandwidth_gb_s"), self.bandwidth_gb_s)?;
        crate::check::non_negative(&format!("{key}.latency_us"), self.latency_us)
    }
}

/// Speculative decoding (`[llm.speculative]`): a proposer guesses `k` tokens, the target model
/// verifies them in one pass of `k + 1` query tokens per sequence, the leading accepted ones plus
/// one token of the target's own are kept, and the KV of the rejected ones is freed.
///
/// Acceptance is a model input (it depends on the draft, the data and the sampling, not on the
/// hardware): one probability for every position, or one per position, each the probability that
/// position i is accepted when positions 1..i−1 were. With a constant α the expected tokens per
/// verification step are (1 − α^(k+1)) / (1 − α) (Leviathan et al., ICML 2023).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeculativeSpec {
    /// How the tokens are proposed.
    pub method: SpecMethod,
    /// Tokens proposed per step (1..=16).
    pub k: u32,
    /// Acceptance: a probability, or a list of `k` conditional probabilities by position.
    pub acceptance: Acceptance,
    /// The draft model, a built-in shape name (`method = "draft"`, unless `draft_shape`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_model: Option<String>,
    /// A custom draft shape (`method = "draft"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_shape: Option<ModelShape>,
}

/// The proposer of speculative decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecMethod {
    /// A small model of the same tokenizer on the same devices: `k` decode steps of its own per
    /// verification (its weights and KV take memory too).
    Draft,
    /// Prompt lookup (n-gram matching on the CPU): no device time, no memory.
    Ngram,
    /// Multi-token-prediction / EAGLE-style heads: one extra decoder layer plus the LM head per
    /// proposed token (its weights: one layer; its KV: one layer's).
    Mtp,
}

/// Acceptance probability of speculative tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Acceptance {
    /// The same at every position.
    Constant(f64),
    /// By position, each conditional on the previous ones accepted.
    PerPosition(Vec<f64>),
}

impl LlmSpec {
    /// The KV tiers in order: `cpu_offload_gb` as a first `cpu` tier (at `swap_gb_s`), then
    /// `kv_tiers`.
    pub fn tiers(&self) -> Vec<KvTierSpec> {
        let mut v = Vec::new();
        if self.cpu_offload_gb > 0.0 && self.prefix_cache.is_some() {
            v.push(KvTierSpec {
                name: "cpu".into(),
                capacity_gb: self.cpu_offload_gb,
                bandwidth_gb_s: self.swap_gb_s,
                latency_us: 0.0,
                shared: false,
                policy: kv::TierPolicy::Lru,
                overlap: false,
            });
        }
        v.extend(self.kv_tiers.iter().cloned());
        v
    }
}

impl SpeculativeSpec {
    /// The acceptance probability of each of the `k` positions.
    pub fn alphas(&self) -> Vec<f64> {
        match &self.acceptance {
            Acceptance::Constant(a) => vec![*a; self.k as usize],
            Acceptance::PerPosition(v) => v.clone(),
        }
    }

    /// Expected tokens per verification step when all `k` are proposed:
    /// Σ_{i=0..k} Π_{j≤i} α_j (with a constant α: (1 − α^(k+1)) / (1 − α)).
    pub fn expected_tokens_per_step(&self) -> f64 {
        let mut p = 1.0;
        let mut sum = 1.0;
        for a in self.alphas() {
            p *= a;
            sum += p;
        }
        sum
    }

    /// The proposer's shape: the draft model's, the target's own layer for `mtp`, none for `ngram`.
    fn proposer_shape(&self, target: &ModelShape) -> Result<Option<ModelShape>, ConfigError> {
        match self.method {
            SpecMethod::Ngram => Ok(None),
            SpecMethod::Mtp => {
                // One decoder layer of the target's (its share of the resident weights) plus the
                // LM head it shares with the target, read by every proposal.
                let layers = f64::from(target.layers.max(1));
                let per_layer = if target.intermediate > 0 {
                    (target.resident_params_from_architecture() - target.embedding_params()) / layers
                } else {
                    target.params / layers
                };
                let mut s = target.clone();
                s.name = format!("{}-mtp", target.name);
                s.params = per_layer + target.lm_head_params();
                s.layers = 1;
                Ok(Some(s))
            }
            SpecMethod::Draft => match (&self.draft_shape, &self.draft_model) {
                (Some(s), _) => {
                    s.validate("llm.speculative.draft_shape")?;
                    Ok(Some(s.clone()))
                }
                (None, Some(m)) => shape::builtin_shape(m).map(Some).ok_or_else(|| {
                    let known: Vec<String> = shape::builtin_shapes().into_iter().map(|s| s.name).collect();
                    ConfigError::invalid(
                        "llm.speculative.draft_model",
                        format!("unknown model `{m}` (built-in: {})", known.join(", ")),
                    )
                }),
                (None, None) => Err(ConfigError::invalid(
                    "llm.speculative.draft_model",
                    "method `draft` needs draft_model (a built-in shape) or [llm.speculative.draft_shape]",
                )),
            },
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=16).contains(&self.k) {
            return Err(ConfigError::invalid("llm.speculative.k", format!("must be in 1..=16, got {}", self.k)));
        }
        if let Acceptance::PerPosition(v) = &self.acceptance
            && v.len() != self.k as usize
        {
            return Err(ConfigError::invalid(
                "llm.speculative.acceptance",
                format!("{} probabilities for k = {} positions", v.len(), self.k),
            ));
        }
        for (i, a) in self.alphas().iter().enumerate() {
            if !(0.0..=1.0).contains(a) {
                return Err(ConfigError::invalid(
                    &format!("llm.speculative.acceptance[{i}]"),
                    format!("must be a probability in [0, 1], got {a}"),
                ));
            }
        }
        if self.method != SpecMethod::Draft && (self.draft_model.is_some() || self.draft_shape.is_some()) {
            return Err(ConfigError::invalid(
                "llm.speculative.draft_model",
                format!("only method `draft` has a draft model (method is `{:?}`)", self.method).to_lowercase(),
            ));
        }
        Ok(())
    }
}

/// Admission and preemption order by request class (`llm.scheduling`).
///
/// `fcfs`: arrival order; the last admitted is preempted first. `priority` (vLLM's
/// `--scheduling-policy priority`): the waiting request of the highest class `priority` is admitted
/// first (earliest arrival within it), and the running request of the lowest priority (latest
/// arrival within it) is preempted first. `fair` (the virtual token counter of Sheng et al.,
/// "Fairness in Serving Large Language Models", OSDI 2024): every class counts the service it has
/// received, `prompt_weight` per prefilled token plus `output_weight` per generated token, divided
/// by its `weight`; the waiting request of the class with the smallest counter is admitted first
/// and the running one of the class with the largest preempted first; a class that had nothing
/// waiting or running restarts at the smallest counter of the active classes (it does not bank
/// service it did not ask for).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClassScheduling {
    /// Arrival order.
    #[default]
    Fcfs,
    /// Strict priority by class.
    Priority,
    /// Virtual token counter fair sharing.
    Fair {
        /// Counter cost of a prefilled token (default 1).
        #[serde(default = "one_f")]
        prompt_weight: f64,
        /// Counter cost of a generated token (default 2).
        #[serde(default = "two_f")]
        output_weight: f64,
    },
}

impl ClassScheduling {
    /// Whether this is the default.
    pub fn is_fcfs(&self) -> bool {
        *self == ClassScheduling::Fcfs
    }
}

fn two_f() -> f64 {
    2.0
}

fn fp16() -> Precision {
    Precision::Fp16
}
fn one() -> u32 {
    1
}
fn sixteen() -> u32 {
    16
}
fn ninety() -> f64 {
    0.9
}
fn twenty_five() -> f64 {
    25.0
}
fn one_f() -> f64 {
    1.0
}
fn is_zero_f(v: &f64) -> bool {
    *v == 0.0
}

/// How a replica forms its iterations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchedulerSpec {
    /// Request-level batching (FasterTransformer): an idle replica takes up to `max_num_seqs`
    /// waiting requests, reserves KV for their prompts and outputs, prefills them together and
    /// decodes until the longest is done; nothing joins a running batch.
    Static {
        /// Sequences per batch.
        #[serde(default = "thirty_two")]
        max_num_seqs: u32,
    },
    /// Iteration-level batching (Orca, vLLM): sequences join and leave between iterations.
    Continuous {
        /// Sequences running at once.
        #[serde(default = "two_five_six")]
        max_num_seqs: u32,
        /// Tokens per iteration (prompt tokens + one per decoding sequence).
        #[serde(default = "eight_k")]
        max_batched_tokens: u32,
        /// Sarathi-style chunked prefill: decodes first, prompt chunks fill the rest of the token
        /// budget. Without it a prefill iteration holds back every decode (vLLM's default).
        #[serde(default)]
        chunked_prefill: bool,
        /// What happens to a sequence evicted for lack of KV memory.
        #[serde(default)]
        preemption: Preemption,
        /// vLLM's async scheduling (its default from 0.14): the next iteration is planned
        /// while the current one runs, so a request that arrives during an iteration can join
        /// only the one after the next (when the engine was idle, the next). Chunks of
        /// admitted prompts and decodes are planned ahead as usual and lose nothing.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        async_scheduling: bool,
    },
}

fn thirty_two() -> u32 {
    32
}
fn two_five_six() -> u32 {
    256
}
fn eight_k() -> u32 {
    8192
}

impl Default for SchedulerSpec {
    fn default() -> Self {
        SchedulerSpec::Continuous {
            max_num_seqs: two_five_six(),
            max_batched_tokens: eight_k(),
            chunked_prefill: false,
            preemption: Preemption::Recompute,
            async_scheduling: false,
        }
    }
}

/// Preemption mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preemption {
    /// Drop the KV; later prefill prompt + generated tokens again.
    #[default]
    Recompute,
    /// Copy the KV to host memory and back (costs `swap_gb_s` both ways).
    Swap,
}

/// Prefix caching.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixCacheSpec {
    /// Tokens per prefix block id (Mooncake: 512); a multiple of `block_size`.
    #[serde(default = "five_twelve")]
    pub block_tokens: u32,
}

fn five_twelve() -> u32 {
    512
}

/// What a pool's replicas do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Prefill and decode.
    #[default]
    Mixed,
    /// Prefill only; the KV then moves to a decode replica (Splitwise, DistServe).
    Prefill,
    /// Decode only, fed by prefill replicas.
    Decode,
}

/// A pool of identical replicas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Name; replicas are `name/0`, `name/1`… when `count` > 1.
    pub name: String,
    /// Device kind (catalog name).
    pub kind: String,
    /// Replicas.
    #[serde(default = "one")]
    pub count: u32,
    /// Role.
    #[serde(default)]
    pub role: Role,
    /// Autoscaling of a `mixed` pool's replica count (then `count` stays 1: the pool has
    /// `autoscale.max` replicas, `min` of them at least ready or starting; `min` ≥ 1). A new
    /// replica loads the weights of one device (`model_gb` default: weights / tensor_parallel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<crate::autoscale::AutoscaleSpec>,
}

/// Routing across replicas (`[llm.router]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LlmRouterSpec {
    /// Replicas in turn.
    #[default]
    RoundRobin,
    /// A uniformly random replica.
    Random,
    /// Fewest sequences waiting or running (ties at random).
    JoinShortestQueue,
    /// Two random replicas, the less loaded.
    PowerOfTwo,
    /// Most free KV memory (pages), ties to the fewest sequences.
    KvAware,
    /// Most leading prefix blocks already cached, among replicas whose load is within `slack`
    /// sequences of the least loaded; otherwise the least loaded.
    PrefixAware {
        /// Extra sequences a replica may hold over the least loaded and still win on prefix.
        #[serde(default = "eight")]
        slack: u32,
    },
    /// A replica with the request's LoRA adapter resident, else one with a free adapter slot,
    /// among replicas whose load is within `slack` sequences of the least loaded; ties to the
    /// least loaded.
    LoraAffinity {
        /// Extra sequences a replica may hold over the least loaded and still win on adapter.
        #[serde(default = "eight")]
        slack: u32,
    },
}

fn eight() -> u32 {
    8
}

impl LlmRouterSpec {
    /// The request-level router this one reuses, if any.
    pub fn shared(&self) -> Option<RouterSpec> {
        match self {
            LlmRouterSpec::RoundRobin => Some(RouterSpec::RoundRobin),
            LlmRouterSpec::Random => Some(RouterSpec::Random),
            LlmRouterSpec::JoinShortestQueue => Some(RouterSpec::JoinShortestQueue),
            LlmRouterSpec::PowerOfTwo => Some(RouterSpec::PowerOfTwo),
            LlmRouterSpec::KvAware | LlmRouterSpec::PrefixAware { .. } | LlmRouterSpec::LoraAffinity { .. } => None,
        }
    }
}

/// Token-latency targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSlo {
    /// Time to first token, ms.
    pub ttft_ms: f64,
    /// Time per output token, ms.
    pub tpot_ms: f64,
}

/// One replica after resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmReplica {
    /// Name.
    pub name: String,
    /// Pool index.
    pub pool: usize,
    /// Role.
    pub role: Role,
    /// Device kind.
    pub kind: DeviceKind,
    /// KV capacity, pages.
    pub kv_pages: u64,
    /// Iteration time model.
    pub perf: PerfModel,
    /// $ per second (all tensor-parallel devices).
    pub cost_per_s: f64,
    /// Latency added to each request's TTFT and end-to-end latency outside the iterations, s.
    pub request_overhead_s: f64,
    /// The speculative proposer's iteration model (a draft model or MTP heads on the same
    /// devices; none without speculation or for `ngram`).
    pub proposer: Option<PerfModel>,
}

/// A scenario's `[llm]` table checked and resolved, with the scenario's name: what the engine
/// runs ([`crate::ScenarioConfig::resolve_llm`] builds it).
#[derive(Clone, Debug)]
pub struct LlmScenario {
    /// The scenario's name (in the summary).
    pub name: String,
    /// The resolved table.
    pub llm: ResolvedLlm,
    /// PUE and carbon intensity (the scenario's `[energy]`).
    pub energy: crate::energy::EnergySpec,
    /// Request classes (the scenario's `[[classes]]`).
    pub classes: Vec<crate::config::ClassSpec>,
}

/// An `[llm]` table ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedLlm {
    /// The spec.
    pub spec: LlmSpec,
    /// The model shape.
    pub shape: ModelShape,
    /// Replicas in pool order.
    pub replicas: Vec<LlmReplica>,
    /// KV bytes per token.
    pub kv_bytes_per_token: f64,
    /// Weight bytes of one replica (all devices).
    pub weight_bytes: f64,
}

impl LlmSpec {
    /// Checks everything and builds the replicas; errors name the key under `llm.`.
    pub fn resolve(&self, kinds: &BTreeMap<String, DeviceKind>) -> Result<ResolvedLlm, ConfigError> {
        let shape = match &self.shape {
            Some(s) => {
                s.validate("llm.shape")?;
                s.clone()
            }
            None => shape::builtin_shape(&self.model).ok_or_else(|| {
                let known: Vec<String> = shape::builtin_shapes().into_iter().map(|s| s.name).collect();
                ConfigError::invalid(
                    "llm.model",
                    format!("unknown model `{}` (built-in: {}; or give [llm.shape])", self.model, known.join(", ")),
                )
            })?,
        };
        for (f, v) in [("tensor_parallel", self.tensor_parallel), ("block_size", self.block_size)] {
            if v == 0 {
                return Err(ConfigError::invalid(&format!("llm.{f}"), "must be at least 1"));
            }
        }
        if self.tensor_parallel > 64 {
            return Err(ConfigError::invalid("llm.tensor_parallel", "must be at most 64"));
        }
        if !(self.memory_utilization > 0.0 && self.memory_utilization <= 1.0) {
            return Err(ConfigError::invalid(
                "llm.memory_utilization",
                format!("must be in (0, 1], got {}", self.memory_utilization),
            ));
        }
        if let Some(e) = &self.efficiency {
            e.validate("llm.efficiency")?;
        }
        if self.max_model_len == Some(0) {
            return Err(ConfigError::invalid("llm.max_model_len", "must be at least 1"));
        }
        if self.kv_blocks == Some(0) {
            return Err(ConfigError::invalid("llm.kv_blocks", "must be at least 1"));
        }
        self.perf.validate("llm.perf")?;
        positive("llm.kv_transfer_gb_s", self.kv_transfer_gb_s)?;
        positive("llm.swap_gb_s", self.swap_gb_s)?;
        crate::check::non_negative("llm.cpu_offload_gb", self.cpu_offload_gb)?;
        if let Some(t) = self.client_timeout_s {
            crate::check::positive("llm.client_timeout_s", t)?;
        }
        positive("llm.timeline_interval_s", self.timeline_interval_s)?;
        if let ClassScheduling::Fair { prompt_weight, output_weight } = self.scheduling {
            crate::check::non_negative("llm.scheduling.prompt_weight", prompt_weight)?;
            positive("llm.scheduling.output_weight", output_weight)?;
        }
        match &self.scheduler {
            SchedulerSpec::Static { max_num_seqs } if *max_num_seqs == 0 => {
                return Err(ConfigError::invalid("llm.scheduler.max_num_seqs", "must be at least 1"));
            }
            SchedulerSpec::Continuous { max_num_seqs, max_batched_tokens, .. } => {
                if *max_num_seqs == 0 {
                    return Err(ConfigError::invalid("llm.scheduler.max_num_seqs", "must be at least 1"));
                }
                if *max_batched_tokens < *max_num_seqs {
                    return Err(ConfigError::invalid(
                        "llm.scheduler.max_batched_tokens",
                        format!("must be at least max_num_seqs ({max_num_seqs}): every running sequence decodes"),
                    ));
                }
            }
            _ => {}
        }
        if let Some(p) = &self.prefix_cache
            && (p.block_tokens == 0 || p.block_tokens % self.block_size != 0)
        {
            return Err(ConfigError::invalid(
                "llm.prefix_cache.block_tokens",
                format!("must be a positive multiple of llm.block_size ({}), got {}", self.block_size, p.block_tokens),
            ));
        }
        if let Some(s) = &self.sessions {
            s.validate()?;
        }
        if let Some(l) = &self.lora {
            l.validate()?;
            if matches!(self.scheduler, SchedulerSpec::Static { .. }) {
                return Err(ConfigError::invalid("llm.lora", "LoRA serving needs the continuous scheduler"));
            }
        }
        if let Some(q) = &self.quality {
            if !q.delta.is_finite() {
                return Err(ConfigError::invalid("llm.quality.delta", "must be a finite number"));
            }
            if q.metric.trim().is_empty() || q.source.trim().is_empty() {
                return Err(ConfigError::invalid("llm.quality", "name the metric and the source of the number"));
            }
        }
        for (i, t) in self.kv_tiers.iter().enumerate() {
            let key = format!("llm.kv_tiers[{i}]");
            t.validate(&key)?;
            if self.prefix_cache.is_none() {
                return Err(ConfigError::invalid(&key, "KV tiers hold prefix blocks: add [llm.prefix_cache]"));
            }
            if self.kv_tiers[..i].iter().any(|o| o.name == t.name) || (t.name == "cpu" && self.cpu_offload_gb > 0.0) {
                return Err(ConfigError::invalid(&format!("{key}.name"), format!("duplicate tier name `{}`", t.name)));
            }
            if t.shared && i + 1 != self.kv_tiers.len() {
                return Err(ConfigError::invalid(&format!("{key}.shared"), "only the last tier can be shared"));
            }
        }
        if let Some(slo) = &self.slo {
            positive("llm.slo.ttft_ms", slo.ttft_ms)?;
            positive("llm.slo.tpot_ms", slo.tpot_ms)?;
        }
        if self.pools.is_empty() {
            return Err(ConfigError::invalid("llm.pools", "at least one pool is needed"));
        }
        let kv_bytes_per_token = shape.kv_bytes_per_token(self.kv_cache);
        let weight_bytes = shape.weight_bytes(self.weights);
        if let Some(c) = &self.prefix_cache {
            let block_bytes = f64::from(c.block_tokens) * kv_bytes_per_token;
            for (i, t) in self.kv_tiers.iter().enumerate() {
                if t.capacity_gb * 1e9 < block_bytes {
                    return Err(ConfigError::invalid(
                        &format!("llm.kv_tiers[{i}].capacity_gb"),
                        format!(
                            "{} GB holds less than one {}-token prefix block ({:.1} MB of KV)",
                            t.capacity_gb,
                            c.block_tokens,
                            block_bytes / 1e6
                        ),
                    ));
                }
            }
        }
        // A speculative proposer's weights and KV share the replica's memory.
        let proposer = match &self.speculative {
            Some(sp) => {
                sp.validate()?;
                if matches!(self.scheduler, SchedulerSpec::Static { .. }) {
                    return Err(ConfigError::invalid(
                        "llm.speculative",
                        "speculative decoding needs the continuous scheduler",
                    ));
                }
                sp.proposer_shape(&shape)?
            }
            None => None,
        };
        // Resident LoRA adapters take memory too.
        let lora_bytes = self.lora.as_ref().map_or(0.0, |l| l.params(&shape) * self.weights.bytes().max(2.0));
        let lora_slots = self.lora.as_ref().map_or(0, LoraSpec::slots);
        // MTP heads share the target's LM head: only their layer is extra memory.
        let proposer_weights = proposer.as_ref().map_or(0.0, |p| {
            let shared = if p.layers == 1 && self.speculative.as_ref().is_some_and(|x| x.method == SpecMethod::Mtp) {
                p.lm_head_params()
            } else {
                0.0
            };
            (p.params - shared) * self.weights.bytes()
        });
        let proposer_kv = proposer.as_ref().map_or(0.0, |p| p.kv_bytes_per_token(self.kv_cache));
        let mut replicas = Vec::new();
        for (i, p) in self.pools.iter().enumerate() {
            let key = format!("llm.pools[{i}]");
            if p.name.trim().is_empty() {
                return Err(ConfigError::invalid(&format!("{key}.name"), "must not be empty"));
            }
            if self.pools[..i].iter().any(|o| o.name == p.name) {
                return Err(ConfigError::invalid(&format!("{key}.name"), format!("duplicate pool name `{}`", p.name)));
            }
            if p.count == 0 || p.count > crate::check::MAX_REPLICAS {
                return Err(ConfigError::invalid(
                    &format!("{key}.count"),
                    format!("must be in 1..={}", crate::check::MAX_REPLICAS),
                ));
            }
            let kind = kinds.get(&p.kind).cloned().ok_or_else(|| {
                let known: Vec<&str> = kinds.keys().map(String::as_str).collect();
                ConfigError::invalid(
                    &format!("{key}.kind"),
                    format!("unknown device kind `{}` (known: {})", p.kind, known.join(", ")),
                )
            })?;
            let memory = f64::from(self.tensor_parallel) * kind.memory_gb * 1e9 * self.memory_utilization;
            let kv_room = memory - weight_bytes - proposer_weights - lora_bytes * f64::from(lora_slots);
            let page_bytes = (kv_bytes_per_token + proposer_kv) * f64::from(self.block_size);
            let derived = if kv_room > 0.0 { (kv_room / page_bytes).floor() as u64 } else { 0 };
            let pages = if kv_room > 0.0 { self.kv_blocks.unwrap_or(derived) } else { 0 };
            let min_pages = self.prefix_cache.as_ref().map_or(1, |c| u64::from(c.block_tokens / self.block_size));
            if pages < min_pages {
                return Err(ConfigError::invalid(
                    &format!("{key}.kind"),
                    format!(
                        "`{}` at {:.0} GB {:?} weights does not fit {} × `{}` ({} GB each, {:.0}% usable): raise \
                         llm.tensor_parallel or quantize the weights",
                        shape.name,
                        weight_bytes / 1e9,
                        self.weights,
                        self.tensor_parallel,
                        kind.name,
                        kind.memory_gb,
                        self.memory_utilization * 100.0
                    ),
                ));
            }
            let eff = self.efficiency.clone().unwrap_or_else(|| calibration::builtin_efficiency(&kind.name));
            let roofline = |s: &ModelShape| {
                PerfModel::roofline(s, &kind, self.tensor_parallel, self.weights, self.kv_cache, self.compute, &eff)
            };
            let perf = match &self.perf {
                PerfSpec::Roofline => {
                    let mut m = roofline(&shape)?;
                    if let (PerfModel::Roofline(x), Some(l)) = (&mut m, &self.lora) {
                        x.lora_bytes = lora_bytes;
                        x.lora_flops_per_token = 2.0 * l.params(&shape);
                    }
                    m
                }
                PerfSpec::Table { prefill_tokens, prefill_ms, decode_batch, decode_ms, decode_ms_per_kv_token } => {
                    PerfModel::Table {
                        prefill: (prefill_tokens.clone(), prefill_ms.clone()),
                        decode: (decode_batch.clone(), decode_ms.clone()),
                        per_kv_ms: *decode_ms_per_kv_token,
                    }
                }
            };
            let count = match &p.autoscale {
                None => p.count,
                Some(a) => {
                    let key = format!("llm.pools[{i}].autoscale");
                    a.validate(&key)?;
                    if p.count != 1 {
                        return Err(ConfigError::invalid(
                            &format!("llm.pools[{i}].count"),
                            "an autoscaled pool has no fixed count: give autoscale.min and autoscale.max",
                        ));
                    }
                    if p.role != Role::Mixed {
                        return Err(ConfigError::invalid(&key, "only a `mixed` pool autoscales"));
                    }
                    if a.min == 0 {
                        return Err(ConfigError::invalid(
                            &format!("{key}.min"),
                            "an LLM pool keeps at least one replica (scale to zero is request-level only)",
                        ));
                    }
                    if a.interval_s == 0.0 {
                        return Err(ConfigError::invalid(
                            &format!("{key}.interval_s"),
                            "must be positive for an LLM pool",
                        ));
                    }
                    a.max
                }
            };
            for r in 0..count {
                replicas.push(LlmReplica {
                    name: if count == 1 { p.name.clone() } else { format!("{}/{r}", p.name) },
                    pool: i,
                    role: p.role,
                    kind: kind.clone(),
                    kv_pages: pages,
                    perf: perf.clone(),
                    cost_per_s: f64::from(self.tensor_parallel) * kind.price_per_hour / 3600.0,
                    request_overhead_s: eff.request_overhead_ms / 1e3,
                    proposer: proposer.as_ref().map(roofline).transpose()?,
                });
            }
        }
        let has = |role: Role| replicas.iter().any(|r| r.role == role);
        if has(Role::Prefill) != has(Role::Decode) {
            return Err(ConfigError::invalid(
                "llm.pools",
                "a disaggregated setup needs both a `prefill` and a `decode` pool",
            ));
        }
        if has(Role::Prefill) && matches!(self.scheduler, SchedulerSpec::Static { .. }) {
            return Err(ConfigError::invalid(
                "llm.scheduler",
                "disaggregated prefill/decode pools need the continuous scheduler",
            ));
        }
        let mut spec = self.clone();
        if spec.max_model_len.is_none() && shape.max_position_embeddings > 0 {
            // vLLM's default: the model's own context length.
            spec.max_model_len = Some(shape.max_position_embeddings);
        }
        Ok(ResolvedLlm { spec, shape, replicas, kv_bytes_per_token, weight_bytes })
    }
}
