//! Iteration time of an LLM replica: a roofline derived from the device and the model shape, or
//! a measured table.
//!
//! One iteration processes some prompt tokens (prefill, possibly a chunk) and one token for each
//! decoding sequence. With the roofline its time is
//!
//! ```text
//! t = max( FLOPs / (tp · peak · η_compute),  bytes / (tp · bandwidth · η_memory) ) + overhead
//! FLOPs = 2 · params · tokens + Σ attention FLOPs (4 · layers · hidden · context per token)
//! bytes = weight bytes + KV bytes read (context of every sequence) + KV bytes written (new tokens)
//! ```
//!
//! so a small decode batch is bound by reading the weights and a long prefill by compute.

use crate::catalog::{DeviceKind, Precision};
use crate::config::{ConfigError, non_negative};
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
    /// Achieved share of peak memory bandwidth in (0, 1] (default 0.8).
    #[serde(default = "default_memory")]
    pub memory: f64,
    /// Fixed cost of every iteration (scheduling, kernel launches), ms (default 0).
    #[serde(default)]
    pub overhead_ms: f64,
}

fn default_compute() -> f64 {
    0.5
}
fn default_memory() -> f64 {
    0.8
}

impl Default for Efficiency {
    fn default() -> Self {
        Efficiency { compute: default_compute(), memory: default_memory(), overhead_ms: 0.0 }
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
                crate::config::check_points(key, "prefill_tokens", "prefill_ms", prefill_tokens, prefill_ms)?;
                crate::config::check_points(key, "decode_batch", "decode_ms", decode_batch, decode_ms)?;
                non_negative(&format!("{key}.decode_ms_per_kv_token"), *decode_ms_per_kv_token)
            }
        }
    }
}

impl Efficiency {
    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        for (f, v) in [("compute", self.compute), ("memory", self.memory)] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(ConfigError::invalid(&format!("{key}.{f}"), format!("must be in (0, 1], got {v}")));
            }
        }
        non_negative(&format!("{key}.overhead_ms"), self.overhead_ms)
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
}

impl Work {
    /// Tokens through the weights.
    pub fn tokens(&self) -> u64 {
        self.prefill_tokens + self.decode_seqs
    }
}

/// A resolved iteration-time model for one replica.
#[derive(Clone, Debug, PartialEq)]
pub enum PerfModel {
    /// Roofline.
    Roofline {
        /// 2 · params: FLOPs per token through the weights.
        flops_per_token: f64,
        /// Achieved FLOP/s of the replica (all tensor-parallel devices).
        flops_per_s: f64,
        /// Weight bytes read per iteration.
        weight_bytes: f64,
        /// KV bytes per token.
        kv_bytes_per_token: f64,
        /// Achieved bytes/s of the replica.
        bytes_per_s: f64,
        /// Fixed cost, s.
        overhead_s: f64,
    },
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
            ConfigError::invalid(
                "llm.compute",
                format!("device kind `{}` lists no peak for {compute:?} in the catalog", kind.name),
            )
        })?;
        let tp = f64::from(tp);
        Ok(PerfModel::Roofline {
            flops_per_token: 2.0 * shape.params,
            flops_per_s: tp * peak * 1e12 * eff.compute,
            weight_bytes: shape.weight_bytes(weights),
            kv_bytes_per_token: shape.kv_bytes_per_token(kv),
            bytes_per_s: tp * kind.bandwidth_gb_s * 1e9 * eff.memory,
            overhead_s: eff.overhead_ms / 1e3,
        })
    }

    /// Seconds one iteration doing `w` takes.
    pub fn iteration_s(&self, w: &Work) -> f64 {
        match self {
            PerfModel::Roofline {
                flops_per_token,
                flops_per_s,
                weight_bytes,
                kv_bytes_per_token,
                bytes_per_s,
                overhead_s,
            } => {
                let flops = flops_per_token * w.tokens() as f64 + w.attention_flops;
                let bytes = weight_bytes + kv_bytes_per_token * (w.kv_read_tokens + w.tokens()) as f64;
                (flops / flops_per_s).max(bytes / bytes_per_s) + overhead_s
            }
            PerfModel::Table { prefill, decode, per_kv_ms } => {
                let mut ms = 0.0;
                if w.prefill_tokens > 0 {
                    ms += interpolate(&prefill.0, &prefill.1, w.prefill_tokens as f64);
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
        let w = Work { prefill_tokens: 0, decode_seqs: 1, attention_flops: 0.0, kv_read_tokens: 16 };
        let expect = 6.74e9 * 2.0 / (a100.bandwidth_gb_s * 1e9 * eff.memory);
        let got = m.iteration_s(&w);
        assert!((got / expect - 1.0).abs() < 0.01, "decode {got} vs {expect}");
        // Prefill: 2 · params · tokens / (FLOP/s × η) within 1 % for a short prompt, where the
        // attention FLOPs (counted) are small next to the weights'; exact with them at any length.
        let s = builtin_shape("llama-2-7b").unwrap();
        let flops_s = a100.peak_tflops.fp16.unwrap() * 1e12 * eff.compute;
        for tokens in [256u64, 2048] {
            let t = tokens as f64;
            let attention = s.attention_flops(t * (t - 1.0) / 2.0);
            let w = Work { prefill_tokens: tokens, decode_seqs: 0, attention_flops: attention, kv_read_tokens: 0 };
            let got = m.iteration_s(&w);
            let weights_only = 2.0 * 6.74e9 * t / flops_s;
            assert!(((2.0 * 6.74e9 * t + attention) / flops_s / got - 1.0).abs() < 1e-12);
            if tokens == 256 {
                assert!((got / weights_only - 1.0).abs() < 0.01, "prefill {got} vs {weights_only}");
            }
        }
    }

    #[test]
    fn weight_only_int8_halves_memory_bound_decode_and_tp_splits_it() {
        let kinds = builtin_kinds();
        let s = builtin_shape("llama-2-7b").unwrap();
        let eff = Efficiency::default();
        let mk =
            |w, tp| PerfModel::roofline(&s, &kinds["a100"], tp, w, Precision::Fp16, Precision::Fp16, &eff).unwrap();
        let w = Work { prefill_tokens: 0, decode_seqs: 1, attention_flops: 0.0, kv_read_tokens: 0 };
        let fp16 = mk(Precision::Fp16, 1).iteration_s(&w);
        let int8 = mk(Precision::Int8, 1).iteration_s(&w);
        let int4 = mk(Precision::Int4, 1).iteration_s(&w);
        assert!((int8 / fp16 - 0.5).abs() < 0.001 && (int4 / fp16 - 0.25).abs() < 0.001);
        assert!((mk(Precision::Fp16, 2).iteration_s(&w) / fp16 - 0.5).abs() < 1e-9);
    }

    #[test]
    fn tables_interpolate_and_add_their_parts() {
        let m = PerfModel::Table {
            prefill: (vec![100, 200], vec![10.0, 20.0]),
            decode: (vec![1, 9], vec![5.0, 9.0]),
            per_kv_ms: 0.001,
        };
        let w = Work { prefill_tokens: 150, decode_seqs: 5, attention_flops: 0.0, kv_read_tokens: 1000 };
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
