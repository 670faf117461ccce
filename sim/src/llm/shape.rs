//! Decoder model shapes: what the roofline needs to know about a model.

use crate::catalog::Precision;
use crate::config::{ConfigError, positive};
use serde::{Deserialize, Serialize};

/// The shape of a decoder-only transformer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShape {
    /// Name (`llama-2-7b`…).
    pub name: String,
    /// Parameters (all weights), count.
    pub params: f64,
    /// Transformer layers.
    pub layers: u32,
    /// Hidden (model) dimension.
    pub hidden: u32,
    /// Key/value heads (fewer than query heads with grouped-query attention).
    pub kv_heads: u32,
    /// Dimension of one attention head.
    pub head_dim: u32,
}

/// Built-in shapes, from the models' published configurations (Llama 2 paper, Touvron et al.
/// 2023, Table 1 and the released `config.json` files).
pub fn builtin_shapes() -> Vec<ModelShape> {
    vec![
        ModelShape { name: "llama-2-7b".into(), params: 6.74e9, layers: 32, hidden: 4096, kv_heads: 32, head_dim: 128 },
        ModelShape {
            name: "llama-2-13b".into(),
            params: 13.0e9,
            layers: 40,
            hidden: 5120,
            kv_heads: 40,
            head_dim: 128,
        },
        ModelShape {
            name: "llama-2-70b".into(),
            params: 68.98e9,
            layers: 80,
            hidden: 8192,
            kv_heads: 8,
            head_dim: 128,
        },
    ]
}

/// The built-in shape `name`.
pub fn builtin_shape(name: &str) -> Option<ModelShape> {
    builtin_shapes().into_iter().find(|s| s.name == name)
}

impl ModelShape {
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
    /// 2 matrix-vector products of size hidden × context per layer, 2 FLOPs per multiply-add.
    pub fn attention_flops(&self, context: f64) -> f64 {
        4.0 * f64::from(self.layers) * f64::from(self.hidden) * context
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
}
