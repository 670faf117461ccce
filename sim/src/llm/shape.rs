//! Decoder model shapes: what the roofline needs to know about a model, from a Hugging Face
//! `config.json` ([`ModelShape::from_hf_config`]) or a built-in copy of one.
//!
//! Parameter counts follow the architecture: per layer the attention projections
//! (`hidden·heads·head_dim` for Q and O, `hidden·kv_heads·head_dim` for K and V) and a gated MLP
//! (3 matrices `hidden × intermediate`); a mixture of experts has `experts` such MLPs of
//! `expert_intermediate` each plus a router (`hidden × experts`), of which `experts_per_token`
//! run for each token. Embeddings (`vocab × hidden`) and, unless tied, the LM head
//! (`hidden × vocab`) are resident too. Norms and biases are ignored (< 0.1 %).
//!
//! Compute counts the *active* matmul weights only ([`ModelShape::matmul_params_per_token`]):
//! the embedding is a lookup, not a matmul, and the LM head runs once per sampled token
//! ([`ModelShape::lm_head_params`]), not once per prompt token. Memory counts every resident
//! weight ([`ModelShape::params`]).

use crate::catalog::Precision;
use crate::check::{ConfigError, positive};
use serde::{Deserialize, Serialize};

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// The shape of a decoder-only transformer. The architecture fields after `head_dim` are
/// optional (0 = unknown); without `intermediate` the compute falls back to `params`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShape {
    /// Name (`llama-2-7b`…).
    pub name: String,
    /// Parameters resident in memory (all weights, every expert), count.
    pub params: f64,
    /// Transformer layers.
    pub layers: u32,
    /// Hidden (model) dimension.
    pub hidden: u32,
    /// Key/value heads (fewer than query heads with grouped-query attention).
    pub kv_heads: u32,
    /// Dimension of one attention head.
    pub head_dim: u32,
    /// Query heads (0: `hidden / head_dim`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heads: u32,
    /// Intermediate size of a dense MLP (0: unknown).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub intermediate: u32,
    /// Vocabulary size (0: unknown).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub vocab: u32,
    /// The LM head shares the embedding matrix.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tied_embeddings: bool,
    /// Longest context the model was trained for (`max_position_embeddings`; 0: unknown).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_position_embeddings: u32,
    /// Experts per MoE layer (0: dense).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub experts: u32,
    /// Experts each token runs through.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub experts_per_token: u32,
    /// Intermediate size of one expert (0: `intermediate`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expert_intermediate: u32,
}

/// The Hugging Face configurations embedded in the binary (see `models/PROVENANCE.md`).
const BUILTIN_CONFIGS: &[(&str, &str)] = &[
    ("codellama-34b", include_str!("models/codellama-34b.json")),
    ("llama-2-7b", include_str!("models/llama-2-7b.json")),
    ("llama-3.1-70b", include_str!("models/llama-3.1-70b.json")),
    ("llama-3.1-8b", include_str!("models/llama-3.1-8b.json")),
    ("llama-3.2-1b", include_str!("models/llama-3.2-1b.json")),
    ("mistral-nemo-12b", include_str!("models/mistral-nemo-12b.json")),
    ("mixtral-8x22b", include_str!("models/mixtral-8x22b.json")),
    ("mixtral-8x7b", include_str!("models/mixtral-8x7b.json")),
    ("qwen2.5-7b", include_str!("models/qwen2.5-7b.json")),
    ("qwen3-14b", include_str!("models/qwen3-14b.json")),
    ("yi-34b", include_str!("models/yi-34b.json")),
];

/// The text of a built-in Hugging Face configuration.
pub fn builtin_config(name: &str) -> Option<&'static str> {
    BUILTIN_CONFIGS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Llama 2 13B and 70B, whose configurations are not embedded: the released `config.json`
/// values (Touvron et al. 2023, Table 1).
fn llama2(name: &str, layers: u32, hidden: u32, heads: u32, kv_heads: u32, intermediate: u32) -> ModelShape {
    let mut s = ModelShape {
        name: name.into(),
        params: 0.0,
        layers,
        hidden,
        kv_heads,
        head_dim: hidden / heads,
        heads,
        intermediate,
        vocab: 32000,
        tied_embeddings: false,
        max_position_embeddings: 4096,
        experts: 0,
        experts_per_token: 0,
        expert_intermediate: 0,
    };
    s.params = s.resident_params_from_architecture();
    s
}

/// Built-in shapes: Llama-2-13B/70B and every embedded configuration, by name.
pub fn builtin_shapes() -> Vec<ModelShape> {
    let mut v: Vec<ModelShape> = BUILTIN_CONFIGS
        .iter()
        .map(|(n, t)| ModelShape::from_hf_config(n, t).expect("embedded configurations parse"))
        .collect();
    v.push(llama2("llama-2-13b", 40, 5120, 40, 40, 13824));
    v.push(llama2("llama-2-70b", 80, 8192, 64, 8, 28672));
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The built-in shape `name`.
pub fn builtin_shape(name: &str) -> Option<ModelShape> {
    builtin_shapes().into_iter().find(|s| s.name == name)
}

/// Why a `config.json` could not be read: the key and the reason (the caller adds the file).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("`{key}`: {reason}")]
pub struct HfConfigError {
    /// The JSON key.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

fn hf_err(key: &str, reason: impl Into<String>) -> HfConfigError {
    HfConfigError { key: key.into(), reason: reason.into() }
}

impl ModelShape {
    /// A shape from the text of a Hugging Face `config.json` (a multimodal model's
    /// `text_config` is used when present). Needs `num_hidden_layers`, `hidden_size`,
    /// `num_attention_heads`, `intermediate_size` and `vocab_size`; `num_key_value_heads`
    /// defaults to the attention heads and `head_dim` to hidden / heads. MoE:
    /// `num_local_experts` or `num_experts`, `num_experts_per_tok`, and `moe_intermediate_size`
    /// (else `intermediate_size`) per expert.
    pub fn from_hf_config(name: &str, text: &str) -> Result<ModelShape, HfConfigError> {
        let root: serde_json::Value =
            serde_json::from_str(text).map_err(|e| hf_err("(file)", format!("not valid JSON: {e}")))?;
        let obj = root.as_object().ok_or_else(|| hf_err("(file)", "not a JSON object"))?;
        let obj = match obj.get("text_config").and_then(|v| v.as_object()) {
            Some(t) => t,
            None => obj,
        };
        let get = |key: &str| -> Result<Option<u32>, HfConfigError> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .filter(|&x| x > 0)
                    .map(Some)
                    .ok_or_else(|| hf_err(key, format!("must be a positive integer, got {v}"))),
            }
        };
        let need = |key: &str| -> Result<u32, HfConfigError> {
            get(key)?.ok_or_else(|| {
                hf_err(key, "missing: not a Hugging Face model configuration (config.json of a decoder model)")
            })
        };
        let layers = need("num_hidden_layers")?;
        let hidden = need("hidden_size")?;
        let heads = need("num_attention_heads")?;
        let kv_heads = get("num_key_value_heads")?.unwrap_or(heads);
        let head_dim = match get("head_dim")? {
            Some(d) => d,
            None if hidden % heads == 0 => hidden / heads,
            None => return Err(hf_err("head_dim", "missing and hidden_size is not a multiple of the heads")),
        };
        let intermediate = need("intermediate_size")?;
        let vocab = need("vocab_size")?;
        let tied_embeddings = match obj.get("tie_word_embeddings") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(v) => return Err(hf_err("tie_word_embeddings", format!("must be true or false, got {v}"))),
        };
        let experts = match get("num_local_experts")? {
            Some(e) => e,
            None => get("num_experts")?.unwrap_or(0),
        };
        let (experts, experts_per_token, expert_intermediate) = if experts > 1 {
            let k = get("num_experts_per_tok")?
                .ok_or_else(|| hf_err("num_experts_per_tok", "missing for a mixture-of-experts model"))?;
            if k > experts {
                return Err(hf_err("num_experts_per_tok", format!("{k} is more than the {experts} experts")));
            }
            (experts, k, get("moe_intermediate_size")?.unwrap_or(intermediate))
        } else {
            (0, 0, 0)
        };
        let mut s = ModelShape {
            name: name.to_string(),
            params: 0.0,
            layers,
            hidden,
            kv_heads,
            head_dim,
            heads,
            intermediate,
            vocab,
            tied_embeddings,
            max_position_embeddings: get("max_position_embeddings")?.unwrap_or(0),
            experts,
            experts_per_token,
            expert_intermediate,
        };
        s.params = s.resident_params_from_architecture();
        Ok(s)
    }

    /// Query heads (`hidden / head_dim` when the shape does not give them).
    pub fn heads_or_default(&self) -> f64 {
        if self.heads > 0 { f64::from(self.heads) } else { f64::from(self.hidden) / f64::from(self.head_dim) }
    }

    fn is_moe(&self) -> bool {
        self.experts > 1 && self.experts_per_token > 0
    }

    /// Attention projection weights of one layer: Q, O (`hidden · heads · head_dim` each) and
    /// K, V (`hidden · kv_heads · head_dim` each).
    pub fn attention_params_per_layer(&self) -> f64 {
        let h = f64::from(self.hidden);
        let d = f64::from(self.head_dim);
        2.0 * h * self.heads_or_default() * d + 2.0 * h * f64::from(self.kv_heads) * d
    }

    /// Weights of one expert's (or the dense) gated MLP: 3 · hidden · its intermediate size.
    pub fn mlp_params(&self) -> f64 {
        let i =
            if self.is_moe() && self.expert_intermediate > 0 { self.expert_intermediate } else { self.intermediate };
        3.0 * f64::from(self.hidden) * f64::from(i)
    }

    /// Embedding (and untied LM head) weights.
    pub fn embedding_params(&self) -> f64 {
        let e = f64::from(self.vocab) * f64::from(self.hidden);
        if self.tied_embeddings { e } else { 2.0 * e }
    }

    /// LM head weights (`hidden × vocab`), run once per sampled token.
    pub fn lm_head_params(&self) -> f64 {
        f64::from(self.vocab) * f64::from(self.hidden)
    }

    /// Resident parameters from the architecture fields (every expert, embeddings).
    pub fn resident_params_from_architecture(&self) -> f64 {
        let per_layer = self.attention_params_per_layer()
            + if self.is_moe() {
                f64::from(self.experts) * self.mlp_params() + f64::from(self.hidden) * f64::from(self.experts)
            } else {
                self.mlp_params()
            };
        f64::from(self.layers) * per_layer + self.embedding_params()
    }

    /// Weights each prompt or decode token multiplies through (attention, the active experts
    /// and the router; no embedding, no LM head). Without the architecture (`intermediate` 0):
    /// `params` less the embeddings, if the vocabulary is known.
    pub fn matmul_params_per_token(&self) -> f64 {
        if self.intermediate == 0 && self.expert_intermediate == 0 {
            return (self.params - if self.vocab > 0 { self.embedding_params() } else { 0.0 }).max(0.0);
        }
        let mlp = if self.is_moe() {
            f64::from(self.experts_per_token) * self.mlp_params() + f64::from(self.hidden) * f64::from(self.experts)
        } else {
            self.mlp_params()
        };
        f64::from(self.layers) * (self.attention_params_per_layer() + mlp)
    }

    /// Expert weights of the whole model (0 for a dense model): the part of the weights an
    /// iteration reads only for the experts its tokens are routed to.
    pub fn expert_params(&self) -> f64 {
        if self.is_moe() { f64::from(self.layers) * f64::from(self.experts) * self.mlp_params() } else { 0.0 }
    }

    /// Expected share of the experts an iteration of `tokens` tokens touches, with each token
    /// routed to `experts_per_token` distinct experts uniformly: 1 − (1 − k/E)^tokens (1 for a
    /// dense model).
    pub fn expert_share_touched(&self, tokens: u64) -> f64 {
        if !self.is_moe() {
            return 1.0;
        }
        let miss = 1.0 - f64::from(self.experts_per_token) / f64::from(self.experts);
        1.0 - miss.powf(tokens as f64)
    }

    /// Checks values; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        positive(&format!("{key}.params"), self.params)?;
        for (f, v) in
            [("layers", self.layers), ("hidden", self.hidden), ("kv_heads", self.kv_heads), ("head_dim", self.head_dim)]
        {
            if v == 0 {
                return Err(ConfigError::invalid(&format!("{key}.{f}"), "must be at least 1"));
            }
        }
        if self.experts_per_token > self.experts {
            return Err(ConfigError::invalid(
                &format!("{key}.experts_per_token"),
                format!("{} is more than the {} experts", self.experts_per_token, self.experts),
            ));
        }
        Ok(())
    }

    /// Bytes of weights at precision `p`.
    pub fn weight_bytes(&self, p: Precision) -> f64 {
        self.params * p.bytes()
    }

    /// Bytes of KV cache per token at precision `p`: a key and a value vector per layer and KV head.
    pub fn kv_bytes_per_token(&self, p: Precision) -> f64 {
        2.0 * f64::from(self.layers) * f64::from(self.kv_heads) * f64::from(self.head_dim) * p.bytes()
    }

    /// FLOPs of attention scores and weighted values for one token attending to `context` tokens:
    /// 2 matrix-vector products of size (heads · head_dim) × context per layer, 2 FLOPs per
    /// multiply-add.
    pub fn attention_flops(&self, context: f64) -> f64 {
        4.0 * f64::from(self.layers) * self.heads_or_default() * f64::from(self.head_dim) * context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_bytes_per_token_follow_the_published_shapes() {
        // Llama-2-7B in fp16: 2 × 32 layers × 32 heads × 128 × 2 B = 512 KiB per token.
        let s7 = builtin_shape("llama-2-7b").unwrap();
        assert_eq!(s7.kv_bytes_per_token(Precision::Fp16), 524_288.0);
        // Llama-2-70B uses grouped-query attention with 8 KV heads: 320 KiB per token.
        let s70 = builtin_shape("llama-2-70b").unwrap();
        assert_eq!(s70.kv_bytes_per_token(Precision::Fp16), 327_680.0);
        assert_eq!(s70.kv_bytes_per_token(Precision::Int8), 163_840.0);
        assert!(builtin_shape("gpt-5").is_none());
    }

    #[test]
    fn llama_2_7b_parameters_by_hand() {
        // Per layer: attention 4 · 4096² = 67,108,864; MLP 3 · 4096 · 11008 = 135,266,304.
        // × 32 layers = 6,476,005,376; embeddings + LM head 2 · 32000 · 4096 = 262,144,000.
        let s = builtin_shape("llama-2-7b").unwrap();
        assert_eq!(s.params, 6_476_005_376.0 + 262_144_000.0);
        assert_eq!(s.matmul_params_per_token(), 6_476_005_376.0);
        assert_eq!(s.lm_head_params(), 131_072_000.0);
        assert_eq!(s.max_position_embeddings, 4096);
        // The published count is 6.74 B.
        assert!((s.params / 6.74e9 - 1.0).abs() < 0.001);
    }

    #[test]
    fn mixtral_counts_resident_and_active_experts_apart() {
        let s = builtin_shape("mixtral-8x7b").unwrap();
        assert_eq!((s.experts, s.experts_per_token, s.expert_intermediate), (8, 2, 14336));
        // Attention per layer: Q, O 4096 · 32 · 128 each; K, V 4096 · 8 · 128 each.
        let attn = 2.0 * 4096.0 * 4096.0 + 2.0 * 4096.0 * 1024.0;
        let expert = 3.0 * 4096.0 * 14336.0;
        let router = 4096.0 * 8.0;
        let resident = 32.0 * (attn + 8.0 * expert + router) + 2.0 * 32000.0 * 4096.0;
        let active = 32.0 * (attn + 2.0 * expert + router);
        assert_eq!(s.params, resident);
        assert_eq!(s.matmul_params_per_token(), active);
        // Published: 46.7 B total, 12.9 B active (the latter with embeddings).
        assert!((s.params / 46.7e9 - 1.0).abs() < 0.01, "{}", s.params);
        assert!(((active + 2.0 * 32000.0 * 4096.0) / 12.9e9 - 1.0).abs() < 0.01, "{active}");
        assert_eq!(s.expert_params(), 32.0 * 8.0 * expert);
        // One token touches 2 of 8 experts; many tokens touch all of them.
        assert!((s.expert_share_touched(1) - 0.25).abs() < 1e-12);
        assert!(s.expert_share_touched(256) > 0.999_999);
        assert_eq!(builtin_shape("llama-2-7b").unwrap().expert_share_touched(1), 1.0);
    }

    #[test]
    fn hf_configs_with_explicit_head_dim_tied_embeddings_and_qwen_moe_keys() {
        let text = r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 32, "intermediate_size": 100, "vocab_size": 10,
            "tie_word_embeddings": true, "num_experts": 4, "num_experts_per_tok": 2,
            "moe_intermediate_size": 16, "max_position_embeddings": 512}"#;
        let s = ModelShape::from_hf_config("tiny-moe", text).unwrap();
        // Attention: 2 · 64 · 4 · 32 + 2 · 64 · 2 · 32 = 16384 + 8192; expert 3 · 64 · 16 = 3072.
        let attn = 16384.0 + 8192.0;
        assert_eq!(s.params, 2.0 * (attn + 4.0 * 3072.0 + 64.0 * 4.0) + 640.0);
        assert_eq!(s.matmul_params_per_token(), 2.0 * (attn + 2.0 * 3072.0 + 256.0));
        assert_eq!(s.kv_bytes_per_token(Precision::Fp16), 2.0 * 2.0 * 2.0 * 32.0 * 2.0);
    }

    #[test]
    fn non_model_configs_are_refused_naming_the_key() {
        let cluster = r#"{"num_nodes": 1, "link_bw": 16, "nodes": []}"#;
        let e = ModelShape::from_hf_config("x", cluster).unwrap_err();
        assert_eq!(e.key, "num_hidden_layers");
        let e = ModelShape::from_hf_config(
            "x",
            r#"{"num_hidden_layers": 2, "hidden_size": -1, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 3}"#,
        )
        .unwrap_err();
        assert_eq!(e.key, "hidden_size");
        assert!(ModelShape::from_hf_config("x", "{").unwrap_err().reason.contains("not valid JSON"));
        let e = ModelShape::from_hf_config(
            "x",
            r#"{"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 4, "intermediate_size": 8,
                "vocab_size": 3, "num_local_experts": 4}"#,
        )
        .unwrap_err();
        assert_eq!(e.key, "num_experts_per_tok");
    }

    #[test]
    fn every_builtin_parses_and_matches_its_published_size() {
        // Published parameter counts (model cards), within 2 %.
        for (name, published) in [
            ("codellama-34b", 33.7e9),
            ("llama-3.1-8b", 8.03e9),
            ("llama-3.1-70b", 70.6e9),
            ("mistral-nemo-12b", 12.2e9),
            ("mixtral-8x22b", 141e9),
            ("qwen2.5-7b", 7.62e9),
            ("qwen3-14b", 14.8e9),
            ("yi-34b", 34.4e9),
            ("llama-2-13b", 13.0e9),
            ("llama-2-70b", 69.0e9),
        ] {
            let s = builtin_shape(name).unwrap();
            s.validate(name).unwrap();
            assert!((s.params / published - 1.0).abs() < 0.02, "{name}: {} vs {published}", s.params);
        }
    }
}
