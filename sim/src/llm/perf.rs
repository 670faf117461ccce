//! Iteration time of an LLM replica: a roofline derived from the device and the model shape, or
//! a measured table.
//!
//! One iteration processes some prompt tokens (prefill, possibly a chunk) and one token for each
//! decoding sequence. With the roofline its time is
//!
//! ```text
//! t = max( FLOPs / (tp · peak · η_compute), weight bytes / (tp · bandwidth · η_memory) )
//!     + max( attention FLOPs / (tp · peak · η_attention), KV bytes / (tp · bandwidth · η_kv_memory) )
//!     + max( expert FLOPs / (tp · peak · η_compute · η_moe), expert bytes / (tp · bandwidth · η_memory) )
//!     + comm + overhead + layers · per_layer + per_seq · sequences
//! FLOPs = 2 · dense matmul params · tokens + 2 · hidden · vocab · sequences (LM head, once per
//!         sequence); attention FLOPs = Σ 4 · layers · heads · head_dim · context per token
//! weight bytes = dense weight bytes (+ the LoRA adapters in the batch)
//! KV bytes = KV bytes read (context of every sequence) + KV bytes written
//! expert FLOPs = 2 · active expert params · tokens; expert bytes = expert weight bytes · share
//!         of experts touched (a dense model has no expert term)
//! comm  = 2 all-reduces per layer, each 2 · (tp − 1)/tp · tokens · hidden · bytes / link bandwidth
//!         + (tp − 1) · link latency (0 when tp = 1)
//! ```
//!
//! The all-reduce is costed as a ring (the α–β model of Thakur, Rabenseifner and Gropp, 2005):
//! a reduce-scatter and an all-gather of tp − 1 steps each, every step moving 1/tp of the data
//! and paying one step latency α. Its time is 2(tp − 1)·α + 2(tp − 1)/tp · n/β: the bandwidth
//! term above, and a latency that grows with the number of devices — `latency_us` in the
//! catalog is one small all-reduce between two devices (2α), so tp devices pay tp − 1 times it.
//! In a small decode batch the latency term is what tensor parallelism costs: 160 all-reduces
//! per iteration for an 80-layer model.
//!
//! The linear layers, the attention and the expert layers are separate kernels that run one
//! after the other in every layer, so each is bound by its own FLOPs or its own bytes and their
//! times add: the KV reads of a decode batch are not hidden under the GEMMs of a prefill chunk
//! beside it. η_kv_memory (`kv_memory`, default η_memory) is the bandwidth the attention kernels
//! reach over the paged KV cache.
//!
//! So a small decode batch is bound by reading the weights and a long prefill by compute. The
//! embedding lookup is not a matmul and is not counted; a mixture of experts computes with its
//! active experts and reads the experts its tokens touch, `1 − (1 − k/E)^tokens` of them.

use crate::catalog::{DeviceKind, Precision};
use crate::check::{ConfigError, non_negative};
use crate::llm::shape::ModelShape;
use crate::service::interpolate;
use serde::{Deserialize, Serialize};

/// Efficiency factors of the roofline (achieved share of the datasheet peaks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Efficiency {
    /// Achieved share of peak FLOP/s in (0, 1] (default 0.5: large GEMMs reach 50–70 %).
    #[serde(default = "default_compute")]
    pub compute: f64,
    /// Achieved share of peak FLOP/s in the attention kernels, in (0, 1] (default: `compute`).
    /// Attention over long contexts (FlashAttention and its kin) reaches a lower share of the
    /// tensor cores than the weight GEMMs do: a long-prompt prefill is slower than its GEMMs
    /// alone would say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<f64>,
    /// Achieved share of the dense GEMMs' FLOP/s in a mixture of experts' expert layers, in
    /// (0, 1] (default 1): their grouped GEMMs run a few tokens per expert, padded to the
    /// kernel's tile, below the efficiency of one dense GEMM of the same size. Streaming the
    /// experts' weights (decode) is not slowed.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub moe: f64,
    /// Achieved share of peak memory bandwidth in (0, 1] (default 0.8).
    #[serde(default = "default_memory")]
    pub memory: f64,
    /// Achieved share of peak memory bandwidth in the attention kernels' reads and writes of the
    /// paged KV cache, in (0, 1] (default: `memory`). A decode's attention gathers its context
    /// block by block through a block table, below the bandwidth of streaming the weights
    /// (Kwon et al., "Efficient Memory Management for Large Language Model Serving with
    /// PagedAttention", SOSP 2023, §7: the paged kernel 20–26 % slower than a contiguous one):
    /// what a long-context decode batch pays and a short one does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_memory: Option<f64>,
    /// Fixed cost of every iteration (scheduling, input preparation), ms (default 0).
    #[serde(default)]
    pub overhead_ms: f64,
    /// Cost of every layer of every iteration beyond its roofline time — kernel launches and
    /// the ramp and tail of a dozen kernels per layer — µs (default 0). A deep model pays it more
    /// often: what tells 80 layers from 48 at equal bytes per device.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub layer_overhead_us: f64,
    /// CPU cost per sequence in an iteration (input preparation, sampling, detokenization), µs
    /// (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq_overhead_us: f64,
    /// Achieved share of the interconnect's listed bandwidth in tensor-parallel all-reduces (the
    /// link latency is divided by it too; default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub comm: f64,
    /// Latency every request pays outside the engine's iterations (API server, tokenization,
    /// detokenization, streaming), added to its TTFT and end-to-end latency, ms (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub request_overhead_ms: f64,
}

fn one() -> f64 {
    1.0
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn default_compute() -> f64 {
    0.5
}
fn default_memory() -> f64 {
    0.8
}

impl Default for Efficiency {
    fn default() -> Self {
        Efficiency {
            compute: default_compute(),
            attention: None,
            moe: 1.0,
            memory: default_memory(),
            kv_memory: None,
            overhead_ms: 0.0,
            layer_overhead_us: 0.0,
            seq_overhead_us: 0.0,
            comm: 1.0,
            request_overhead_ms: 0.0,
        }
    }
}

/// How iteration times are obtained (`[llm.perf]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PerfSpec {
    /// The roofline of the device and model (with `[llm.efficiency]`).
    #[default]
    Roofline,
    /// Measured points, interpolated piecewise-linearly (the format a calibration writes):
    /// an iteration costs prefill(prompt tokens) + decode(decoding sequences) +
    /// `decode_ms_per_kv_token` × KV tokens read; an absent part costs nothing.
    Table {
        /// Prompt tokens of a prefill-only iteration (strictly increasing, ≥ 1).
        prefill_tokens: Vec<u32>,
        /// Its time, ms.
        prefill_ms: Vec<f64>,
        /// Sequences of a decode-only iteration at negligible context (strictly increasing, ≥ 1).
        decode_batch: Vec<u32>,
        /// Its time, ms.
        decode_ms: Vec<f64>,
        /// Extra decode time per KV token read, ms.
        #[serde(default)]
        decode_ms_per_kv_token: f64,
    },
}

impl PerfSpec {
    /// Checks the table; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            PerfSpec::Roofline => Ok(()),
            PerfSpec::Table { prefill_tokens, prefill_ms, decode_batch, decode_ms, decode_ms_per_kv_token } => {
                crate::check::check_points(key, "prefill_tokens", "prefill_ms", prefill_tokens, prefill_ms)?;
                crate::check::check_points(key, "decode_batch", "decode_ms", decode_batch, decode_ms)?;
                non_negative(&format!("{key}.decode_ms_per_kv_token"), *decode_ms_per_kv_token)
            }
        }
    }
}

impl Efficiency {
    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        for (f, v) in [
            ("compute", self.compute),
            ("attention", self.attention.unwrap_or(self.compute)),
            ("moe", self.moe),
            ("memory", self.memory),
            ("kv_memory", self.kv_memory.unwrap_or(self.memory)),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(ConfigError::invalid(&format!("{key}.{f}"), format!("must be in (0, 1], got {v}")));
            }
        }
        non_negative(&format!("{key}.overhead_ms"), self.overhead_ms)?;
        non_negative(&format!("{key}.layer_overhead_us"), self.layer_overhead_us)?;
        non_negative(&format!("{key}.seq_overhead_us"), self.seq_overhead_us)?;
        non_negative(&format!("{key}.request_overhead_ms"), self.request_overhead_ms)?;
        crate::check::positive(&format!("{key}.comm"), self.comm)
    }
}

/// What one iteration does, in the units the cost models need.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    /// Prompt tokens computed (prefill or recompute), including chunks.
    pub prefill_tokens: u64,
    /// Sequences producing one token each (decode).
    pub decode_seqs: u64,
    /// Attention FLOPs over all tokens of the iteration.
    pub attention_flops: f64,
    /// KV tokens read (every sequence's context before this iteration).
    pub kv_read_tokens: u64,
    /// Sequences in the iteration (each runs the LM head once and costs its CPU overhead).
    pub seqs: u64,
    /// Speculative tokens verified beyond one per decoding sequence (the `k` proposals each
    /// speculating sequence scores in this pass).
    pub verify_tokens: u64,
    /// Distinct LoRA adapters in the iteration.
    pub adapters: u64,
    /// Tokens of sequences with an adapter.
    pub adapter_tokens: u64,
}

impl Work {
    /// Tokens through the weights.
    pub fn tokens(&self) -> u64 {
        self.prefill_tokens + self.decode_seqs + self.verify_tokens
    }
}

/// A resolved iteration-time model for one replica.
#[derive(Clone, Debug, PartialEq)]
pub enum PerfModel {
    /// Roofline.
    Roofline(Box<Roofline>),
    /// Measured points.
    Table {
        /// (tokens, ms).
        prefill: (Vec<u32>, Vec<f64>),
        /// (batch, ms).
        decode: (Vec<u32>, Vec<f64>),
        /// ms per KV token read.
        per_kv_ms: f64,
    },
}

/// The roofline of one replica, in the units [`PerfModel::iteration_s`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Roofline {
    /// 2 · matmul params: FLOPs per token through the weights.
    pub flops_per_token: f64,
    /// Of those, the active experts' (0 for a dense model).
    pub expert_flops_per_token: f64,
    /// Achieved share of the roofline in the expert layers.
    pub moe: f64,
    /// 2 · hidden · vocab: LM-head FLOPs per sequence.
    pub flops_per_seq: f64,
    /// Achieved FLOP/s of the replica (all tensor-parallel devices).
    pub flops_per_s: f64,
    /// Achieved FLOP/s of its attention kernels.
    pub attention_flops_per_s: f64,
    /// Weight bytes read by every iteration (all but the experts).
    pub dense_bytes: f64,
    /// Expert weight bytes (read in proportion to the experts touched).
    pub expert_bytes: f64,
    /// Experts per layer and experts per token (0, 0 for a dense model).
    pub experts: (u32, u32),
    /// KV bytes per token.
    pub kv_bytes_per_token: f64,
    /// Achieved bytes/s of the replica.
    pub bytes_per_s: f64,
    /// Achieved bytes/s of its attention kernels over the paged KV cache.
    pub kv_bytes_per_s: f64,
    /// All-reduce bytes per token per layer pass: 2 · (tp − 1)/tp · hidden · activation bytes
    /// (0 when tp = 1).
    pub comm_bytes_per_token: f64,
    /// All-reduces per iteration (2 per layer; 0 when tp = 1).
    pub all_reduces: f64,
    /// Link bandwidth, bytes/s.
    pub link_bytes_per_s: f64,
    /// Latency of one all-reduce over the replica's devices, s: (tp − 1) × the link's two-device
    /// latency (a ring's 2(tp − 1) steps).
    pub link_latency_s: f64,
    /// Fixed cost, s.
    pub overhead_s: f64,
    /// Cost per sequence, s.
    pub seq_overhead_s: f64,
    /// Weight-only quantization (weights narrower than the arithmetic): vector operations per
    /// weight to dequantize it, once per tile of [`DEQUANT_TILE`] tokens (0 when none).
    pub dequant_ops: f64,
    /// Bytes per weight (to count weights from bytes).
    pub weight_bytes_per_param: f64,
    /// Bytes of one LoRA adapter (read once per iteration for each distinct adapter in it).
    pub lora_bytes: f64,
    /// FLOPs per token through its LoRA adapter.
    pub lora_flops_per_token: f64,
    /// Achieved vector (CUDA-core) FLOP/s of the replica, which the dequantization runs on.
    pub vector_flops_per_s: f64,
}

/// Tokens per GEMM tile in the dequantization model: a weight is dequantized once per tile of
/// this many tokens (Marlin-style kernels reuse a dequantized tile across the tokens of a block).
pub const DEQUANT_TILE: u64 = 128;

/// Vector operations to dequantize one weight for arithmetic at a wider precision, counted at the
/// packed-half rate (two fp16 lanes per fp32 lane): a 4-bit weight costs about one (bit tricks
/// unpack eight at a time, then one fused scale per pair of lanes), an 8-bit one about half. An
/// estimate from the kernels' structure (Frantar et al., "MARLIN", 2024), not a measurement: it
/// keeps small-batch decode memory-bound, as measured, and costs a few per cent at large batches.
pub fn dequant_ops(weights: Precision, compute: Precision) -> f64 {
    if weights.bytes() >= compute.bytes() {
        return 0.0;
    }
    match weights {
        Precision::Int4 => 1.0,
        Precision::Int8 | Precision::Fp8 => 0.5,
        _ => 0.0,
    }
}

impl Roofline {
    /// Share of the expert weights an iteration of `tokens` tokens reads.
    fn expert_share(&self, tokens: u64) -> f64 {
        let (e, k) = self.experts;
        if e == 0 {
            return 1.0;
        }
        1.0 - (1.0 - f64::from(k) / f64::from(e)).powf(tokens as f64)
    }

    /// Seconds of the all-reduces of an iteration over `tokens` tokens.
    pub fn comm_s(&self, tokens: u64) -> f64 {
        if self.all_reduces == 0.0 {
            return 0.0;
        }
        self.all_reduces * (self.comm_bytes_per_token * tokens as f64 / self.link_bytes_per_s + self.link_latency_s)
    }
}

impl PerfModel {
    /// The roofline of `shape` on `tp` devices of `kind`; `compute` picks the peak used.
    pub fn roofline(
        shape: &ModelShape,
        kind: &DeviceKind,
        tp: u32,
        weights: Precision,
        kv: Precision,
        compute: Precision,
        eff: &Efficiency,
    ) -> Result<PerfModel, ConfigError> {
        let peak = kind.peak_tflops.get(compute).ok_or_else(|| {
            let hint = if compute == Precision::Fp8 {
                " (no fp8 tensor cores: keep compute = \"fp16\" and set weights = \"fp8\" for weight-only fp8, as \
                 vLLM runs it on Ampere)"
            } else {
                ""
            };
            ConfigError::invalid(
                "llm.compute",
                format!("device kind `{}` lists no peak for {compute:?} in the catalog{hint}", kind.name),
            )
        })?;
        let tpf = f64::from(tp);
        let expert_bytes = shape.expert_params() * weights.bytes();
        let (link_bytes_per_s, link_latency_s) = kind.interconnect.as_ref().map_or((f64::INFINITY, 0.0), |l| {
            (l.bandwidth_gb_s * 1e9 * eff.comm, f64::from(tp.saturating_sub(1)) * l.latency_us / 1e6 / eff.comm)
        });
        let tp_comm = tp > 1 && kind.interconnect.is_some();
        Ok(PerfModel::Roofline(Box::new(Roofline {
            flops_per_token: 2.0 * shape.matmul_params_per_token(),
            expert_flops_per_token: if shape.experts > 1 {
                2.0 * shape.expert_params() * f64::from(shape.experts_per_token) / f64::from(shape.experts)
            } else {
                0.0
            },
            moe: eff.moe,
            flops_per_seq: 2.0 * shape.lm_head_params(),
            flops_per_s: tpf * peak * 1e12 * eff.compute,
            attention_flops_per_s: tpf * peak * 1e12 * eff.attention.unwrap_or(eff.compute),
            dense_bytes: shape.weight_bytes(weights) - expert_bytes,
            expert_bytes,
            experts: if shape.experts > 1 { (shape.experts, shape.experts_per_token) } else { (0, 0) },
            kv_bytes_per_token: shape.kv_bytes_per_token(kv),
            bytes_per_s: tpf * kind.bandwidth_gb_s * 1e9 * eff.memory,
            kv_bytes_per_s: tpf * kind.bandwidth_gb_s * 1e9 * eff.kv_memory.unwrap_or(eff.memory),
            comm_bytes_per_token: if tp_comm {
                2.0 * (tpf - 1.0) / tpf * f64::from(shape.hidden) * compute.bytes().max(2.0)
            } else {
                0.0
            },
            all_reduces: if tp_comm { 2.0 * f64::from(shape.layers) } else { 0.0 },
            link_bytes_per_s,
            link_latency_s,
            overhead_s: eff.overhead_ms / 1e3 + f64::from(shape.layers) * eff.layer_overhead_us / 1e6,
            seq_overhead_s: eff.seq_overhead_us / 1e6,
            dequant_ops: dequant_ops(weights, compute),
            lora_bytes: 0.0,
            lora_flops_per_token: 0.0,
            weight_bytes_per_param: weights.bytes(),
            // Packed halves: twice the fp32 peak (without one listed, CUDA cores at 1/16 of the
            // tensor peak).
            vector_flops_per_s: 2.0 * tpf * kind.peak_tflops.fp32.unwrap_or(peak / 16.0) * 1e12 * eff.compute,
        })))
    }

    /// Seconds one iteration doing `w` takes.
    pub fn iteration_s(&self, w: &Work) -> f64 {
        match self {
            PerfModel::Roofline(m) => {
                let tokens = w.tokens();
                let t = tokens as f64;
                let gemm = (m.flops_per_token - m.expert_flops_per_token) * t
                    + m.flops_per_seq * w.seqs as f64
                    + m.lora_flops_per_token * w.adapter_tokens as f64;
                // The linear layers and the attention are kernels of their own, run one after
                // the other: each is bound by its own FLOPs or its own bytes.
                let weight_bytes = m.dense_bytes + m.lora_bytes * w.adapters as f64;
                let kv_bytes = m.kv_bytes_per_token * (w.kv_read_tokens + tokens) as f64;
                let attention_s = (w.attention_flops / m.attention_flops_per_s).max(kv_bytes / m.kv_bytes_per_s);
                // The expert layers are kernels of their own: a roofline of their own.
                let experts_s = if m.expert_bytes > 0.0 {
                    (m.expert_flops_per_token * t / (m.flops_per_s * m.moe))
                        .max(m.expert_bytes * m.expert_share(tokens) / m.bytes_per_s)
                } else {
                    0.0
                };
                // Weight-only quantization dequantizes every weight read, once per token tile.
                let dequant_s = if m.dequant_ops > 0.0 {
                    let params = (m.dense_bytes + m.expert_bytes * m.expert_share(tokens)) / m.weight_bytes_per_param;
                    params * m.dequant_ops * tokens.div_ceil(DEQUANT_TILE).max(1) as f64 / m.vector_flops_per_s
                } else {
                    0.0
                };
                (gemm / m.flops_per_s + dequant_s).max(weight_bytes / m.bytes_per_s)
                    + attention_s
                    + experts_s
                    + m.comm_s(tokens)
                    + m.overhead_s
                    + m.seq_overhead_s * w.seqs as f64
            }
            PerfModel::Table { prefill, decode, per_kv_ms } => {
                let mut ms = 0.0;
                // Speculative tokens verified are costed as prompt tokens (a pass of several
                // query tokens per sequence).
                if w.prefill_tokens + w.verify_tokens > 0 {
                    ms += interpolate(&prefill.0, &prefill.1, (w.prefill_tokens + w.verify_tokens) as f64);
                }
                if w.decode_seqs > 0 {
                    ms += interpolate(&decode.0, &decode.1, w.decode_seqs as f64) + per_kv_ms * w.kv_read_tokens as f64;
                }
                ms / 1e3
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builtin_kinds;
    use crate::llm::shape::builtin_shape;

    fn a100_7b(eff: &Efficiency) -> PerfModel {
        let kinds = builtin_kinds();
        let s = builtin_shape("llama-2-7b").unwrap();
        PerfModel::roofline(&s, &kinds["a100"], 1, Precision::Fp16, Precision::Fp16, Precision::Fp16, eff).unwrap()
    }

    #[test]
    fn batch_one_decode_reads_the_weights_and_a_long_prefill_is_compute_bound() {
        let eff = Efficiency::default();
        let m = a100_7b(&eff);
        let kinds = builtin_kinds();
        let a100 = &kinds["a100"];
        // Decode of one token at a short context: weight bytes / (bandwidth × η) within 1 %.
        let w = Work { decode_seqs: 1, kv_read_tokens: 16, ..Work::default() };
        let expect = 6.74e9 * 2.0 / (a100.bandwidth_gb_s * 1e9 * eff.memory);
        let got = m.iteration_s(&w);
        assert!((got / expect - 1.0).abs() < 0.01, "decode {got} vs {expect}");
        // Prefill: 2 · matmul params · tokens / (FLOP/s × η) within 1 % for a short prompt,
        // where the attention FLOPs (counted) are small next to the weights'; exact with them at
        // any length. Matmul params exclude the embeddings: 6,476,005,376 for Llama-2-7B.
        let s = builtin_shape("llama-2-7b").unwrap();
        let flops_s = a100.peak_tflops.fp16.unwrap() * 1e12 * eff.compute;
        let matmul = 6_476_005_376.0;
        for tokens in [256u64, 2048] {
            let t = tokens as f64;
            let attention = s.attention_flops(t * (t - 1.0) / 2.0);
            let w = Work { prefill_tokens: tokens, attention_flops: attention, ..Work::default() };
            let got = m.iteration_s(&w);
            let weights_only = 2.0 * matmul * t / flops_s;
            assert!(((2.0 * matmul * t + attention) / flops_s / got - 1.0).abs() < 1e-12);
            if tokens == 256 {
                assert!((got / weights_only - 1.0).abs() < 0.01, "prefill {got} vs {weights_only}");
            }
            // One sequence adds its LM head once: 2 · 4096 · 32000 FLOPs.
            let w1 = Work { seqs: 1, ..w };
            assert!(
                ((2.0 * matmul * t + attention + 2.0 * 4096.0 * 32000.0) / flops_s / m.iteration_s(&w1) - 1.0).abs()
                    < 1e-12
            );
        }
    }

    #[test]
    fn tensor_parallel_pays_two_all_reduces_per_layer() {
        let kinds = builtin_kinds();
        let h100 = &kinds["h100-sxm"];
        let s = builtin_shape("llama-2-70b").unwrap();
        let eff = Efficiency { compute: 0.5, memory: 0.8, ..Efficiency::default() };
        let m = PerfModel::roofline(&s, h100, 4, Precision::Fp16, Precision::Fp16, Precision::Fp16, &eff).unwrap();
        let PerfModel::Roofline(r) = &m else { panic!("a roofline") };
        // 2 all-reduces × 80 layers, each a ring over 4 devices: 2 · 3/4 · tokens · 8192 · 2 B /
        // 450 GB/s + 3 × 8 µs (the catalog's 8 µs is one all-reduce between two devices).
        let tokens = 1000u64;
        let one = 2.0 * 0.75 * 1000.0 * 8192.0 * 2.0 / 450e9 + 3.0 * 8e-6;
        assert!((r.comm_s(tokens) / (160.0 * one) - 1.0).abs() < 1e-12, "{}", r.comm_s(tokens));
        // Two devices pay one link latency per all-reduce, eight pay seven: a one-token decode's
        // communication is latency alone.
        for (tp, hops) in [(2u32, 1.0), (8, 7.0)] {
            let m = PerfModel::roofline(&s, h100, tp, Precision::Fp16, Precision::Fp16, Precision::Fp16, &eff).unwrap();
            let PerfModel::Roofline(r) = &m else { panic!("a roofline") };
            let bytes = 2.0 * (f64::from(tp) - 1.0) / f64::from(tp) * 8192.0 * 2.0 / 450e9;
            assert!((r.comm_s(1) / (160.0 * (bytes + hops * 8e-6)) - 1.0).abs() < 1e-12, "tp {tp}");
        }
        // TP 1 communicates nothing; a kind without a link listed neither.
        let m1 = PerfModel::roofline(&s, h100, 1, Precision::Fp16, Precision::Fp16, Precision::Fp16, &eff).unwrap();
        let PerfModel::Roofline(r1) = &m1 else { panic!("a roofline") };
        assert_eq!(r1.comm_s(tokens), 0.0);
        let legacy =
            PerfModel::roofline(&s, &kinds["a100"], 4, Precision::Fp16, Precision::Fp16, Precision::Fp16, &eff)
                .unwrap();
        let PerfModel::Roofline(r2) = &legacy else { panic!("a roofline") };
        assert_eq!(r2.comm_s(tokens), 0.0);
        // It is part of the iteration time.
        let w = Work { prefill_tokens: tokens, ..Work::default() };
        let compute = 2.0 * s.matmul_params_per_token() * 1000.0 / (4.0 * 989.4e12 * 0.5);
        let weights = s.params * 2.0 / (4.0 * 3350e9 * 0.8);
        let kv_written = 1000.0 * s.kv_bytes_per_token(Precision::Fp16) / (4.0 * 3350e9 * 0.8);
        assert!((m.iteration_s(&w) - (compute.max(weights) + kv_written + 160.0 * one)).abs() < 1e-12);
    }

    #[test]
    fn a_moe_decode_reads_only_the_experts_it_touches_and_the_overheads_add() {
        let kinds = builtin_kinds();
        let s = builtin_shape("mixtral-8x7b").unwrap();
        let eff = Efficiency { overhead_ms: 2.0, seq_overhead_us: 10.0, ..Efficiency::default() };
        let h100 = &kinds["h100-sxm"];
        let m = PerfModel::roofline(&s, h100, 1, Precision::Fp16, Precision::Fp16, Precision::Fp16, &eff).unwrap();
        // One token reads the dense weights and 2 of 8 experts: memory bound.
        let w = Work { decode_seqs: 1, seqs: 1, ..Work::default() };
        let experts = s.expert_params() * 2.0;
        let bytes = s.params * 2.0 - experts + experts * 0.25 + s.kv_bytes_per_token(Precision::Fp16);
        let expect = bytes / (3350e9 * 0.8) + 2e-3 + 10e-6;
        assert!((m.iteration_s(&w) / expect - 1.0).abs() < 1e-12, "{} vs {expect}", m.iteration_s(&w));
    }

    #[test]
    fn attention_experts_and_layers_pay_at_their_own_rates() {
        let kinds = builtin_kinds();
        let h100 = &kinds["h100-sxm"];
        let f = 989.4e12;
        // Attention at a quarter of peak, the GEMMs at half: a long prefill adds the two.
        let s = builtin_shape("llama-2-7b").unwrap();
        let eff = Efficiency { compute: 0.5, attention: Some(0.25), ..Efficiency::default() };
        let m = PerfModel::roofline(&s, h100, 1, Precision::Fp16, Precision::Fp16, Precision::Fp16, &eff).unwrap();
        let t = 4096.0;
        let attention = s.attention_flops(t * (t - 1.0) / 2.0);
        let w = Work { prefill_tokens: 4096, attention_flops: attention, ..Work::default() };
        let expect = 2.0 * s.matmul_params_per_token() * t / (f * 0.5) + attention / (f * 0.25);
        assert!((m.iteration_s(&w) / expect - 1.0).abs() < 1e-12, "{} vs {expect}", m.iteration_s(&w));
        // 25 µs per layer: 32 layers add 0.8 ms to any iteration.
        let layered = Efficiency { layer_overhead_us: 25.0, ..eff.clone() };
        let ml = PerfModel::roofline(&s, h100, 1, Precision::Fp16, Precision::Fp16, Precision::Fp16, &layered).unwrap();
        assert!((ml.iteration_s(&w) - m.iteration_s(&w) - 32.0 * 25e-6).abs() < 1e-12);
        // A mixture of experts: a 4,096-token prefill is compute bound in the expert layers too,
        // and moe = 0.5 doubles their time; a one-token decode streams the experts it touches at
        // full speed whatever moe is.
        let x = builtin_shape("mixtral-8x7b").unwrap();
        let plain = Efficiency { compute: 0.5, memory: 0.8, ..Efficiency::default() };
        let slow = Efficiency { moe: 0.5, ..plain.clone() };
        let mk = |e: &Efficiency| {
            PerfModel::roofline(&x, h100, 1, Precision::Fp16, Precision::Fp16, Precision::Fp16, e).unwrap()
        };
        let (a, b) = (mk(&plain), mk(&slow));
        let prefill = Work { prefill_tokens: 4096, ..Work::default() };
        let expert_s = 2.0 * x.expert_params() * 2.0 / 8.0 * t / (f * 0.5);
        assert!((b.iteration_s(&prefill) - a.iteration_s(&prefill) - expert_s).abs() < 1e-9 * expert_s);
        let decode = Work { decode_seqs: 1, ..Work::default() };
        assert_eq!(a.iteration_s(&decode), b.iteration_s(&decode));
    }

    #[test]
    fn the_attention_is_a_kernel_of_its_own_at_its_own_bandwidth() {
        // CodeLlama-34B on two H100s: a 1,024-token prefill chunk beside 128 decodes at 2,000
        // tokens of context. The chunk makes the linear layers compute-bound; the decodes' KV
        // reads run in the attention kernels after them, not hidden under those FLOPs.
        let kinds = builtin_kinds();
        let h100 = &kinds["h100-sxm"];
        let s = builtin_shape("codellama-34b").unwrap();
        let eff = Efficiency { compute: 0.5, memory: 0.8, ..Efficiency::default() };
        let mk = |e: &Efficiency| {
            PerfModel::roofline(&s, h100, 2, Precision::Fp16, Precision::Fp16, Precision::Fp16, e).unwrap()
        };
        let m = mk(&eff);
        let PerfModel::Roofline(r) = &m else { panic!("a roofline") };
        let w = Work { prefill_tokens: 1024, decode_seqs: 128, kv_read_tokens: 128 * 2000, ..Work::default() };
        let tokens = 1152.0;
        let gemm = 2.0 * s.matmul_params_per_token() * tokens / (2.0 * 989.4e12 * 0.5);
        let weights = s.params * 2.0 / (2.0 * 3350e9 * 0.8);
        assert!(gemm > weights, "the chunk makes the linear layers compute-bound");
        let kv = (128.0 * 2000.0 + tokens) * s.kv_bytes_per_token(Precision::Fp16) / (2.0 * 3350e9 * 0.8);
        let expect = gemm + kv + r.comm_s(1152);
        assert!((m.iteration_s(&w) / expect - 1.0).abs() < 1e-12, "{} vs {expect}", m.iteration_s(&w));
        // kv_memory = 0.4 doubles the KV part of a decode and nothing else.
        let slow = mk(&Efficiency { kv_memory: Some(0.4), ..eff.clone() });
        let d = Work { decode_seqs: 128, kv_read_tokens: 128 * 2000, ..Work::default() };
        let kv_d = (128.0 * 2000.0 + 128.0) * s.kv_bytes_per_token(Precision::Fp16) / (2.0 * 3350e9 * 0.8);
        assert!((slow.iteration_s(&d) - m.iteration_s(&d) - kv_d).abs() < 1e-12 * kv_d.max(1.0));
        let bad = Efficiency { kv_memory: Some(1.5), ..eff };
        assert!(bad.validate("llm.efficiency").unwrap_err().to_string().contains("llm.efficiency.kv_memory"));
    }

    #[test]
    fn weight_only_int8_halves_memory_bound_decode_and_tp_splits_it() {
        let kinds = builtin_kinds();
        let s = builtin_shape("llama-2-7b").unwrap();
        let eff = Efficiency::default();
        let mk =
            |w, tp| PerfModel::roofline(&s, &kinds["a100"], tp, w, Precision::Fp16, Precision::Fp16, &eff).unwrap();
        let w = Work { decode_seqs: 1, ..Work::default() };
        let fp16 = mk(Precision::Fp16, 1).iteration_s(&w);
        let int8 = mk(Precision::Int8, 1).iteration_s(&w);
        let int4 = mk(Precision::Int4, 1).iteration_s(&w);
        assert!((int8 / fp16 - 0.5).abs() < 0.001 && (int4 / fp16 - 0.25).abs() < 0.001);
        assert!((mk(Precision::Fp16, 2).iteration_s(&w) / fp16 - 0.5).abs() < 1e-9);
        // fp8 weights store as int8 (weight-only on an A100).
        assert_eq!(mk(Precision::Fp8, 1).iteration_s(&w), int8);
        // A large prefill is compute-bound: dequantizing every weight once per 128-token tile
        // costs 64 tiles × params × 1 op / (2 × 19.5 TFLOP/s × 0.5) more for int4.
        let p = Work { prefill_tokens: 8192, seqs: 1, ..Work::default() };
        let PerfModel::Roofline(m) = mk(Precision::Int4, 1) else { unreachable!() };
        let params = m.dense_bytes / 0.5;
        let extra = mk(Precision::Int4, 1).iteration_s(&p) - mk(Precision::Fp16, 1).iteration_s(&p);
        assert!((extra - 64.0 * params / (2.0 * 19.5e12 * 0.5)).abs() < 1e-9, "{extra}");
        // fp8 arithmetic needs fp8 tensor cores: an H100 has them, an A100 does not.
        let fp8 =
            |kind: &str| PerfModel::roofline(&s, &kinds[kind], 1, Precision::Fp8, Precision::Fp8, Precision::Fp8, &eff);
        let h100 = fp8("h100-sxm").unwrap().iteration_s(&p);
        let h100_fp16 =
            PerfModel::roofline(&s, &kinds["h100-sxm"], 1, Precision::Fp16, Precision::Fp16, Precision::Fp16, &eff)
                .unwrap()
                .iteration_s(&p);
        assert!(h100 < 0.6 * h100_fp16, "fp8 prefill at twice the peak: {h100} vs {h100_fp16}");
        assert!(fp8("a100").unwrap_err().to_string().contains("weight-only fp8"));
    }

    #[test]
    fn tables_interpolate_and_add_their_parts() {
        let m = PerfModel::Table {
            prefill: (vec![100, 200], vec![10.0, 20.0]),
            decode: (vec![1, 9], vec![5.0, 9.0]),
            per_kv_ms: 0.001,
        };
        let w = Work { prefill_tokens: 150, decode_seqs: 5, kv_read_tokens: 1000, ..Work::default() };
        assert!((m.iteration_s(&w) - (15.0 + 7.0 + 1.0) / 1e3).abs() < 1e-12);
        let bad = PerfSpec::Table {
            prefill_tokens: vec![100, 100],
            prefill_ms: vec![1.0, 2.0],
            decode_batch: vec![1],
            decode_ms: vec![1.0],
            decode_ms_per_kv_token: 0.0,
        };
        let e = bad.validate("llm.perf").unwrap_err().to_string();
        assert!(e.contains("llm.perf.prefill_tokens[1]"), "{e}");
    }
}
