//! int4 weight-only preview: group-wise symmetric int4, two values per byte.
//!
//! Each output channel's `in` weights are cut into groups of `group_size` consecutive inputs;
//! each group has its own scale `max|w| / 7` and values in [−7, 7] (symmetric: −8 is never used,
//! so negation is exact). Values are packed channel-major, two's-complement nibbles, the even
//! index in the low nibble. Only a dequantized reference forward pass exists: no ONNX export.

use nalgebra::DMatrix;

use super::TensorError;
use super::int8::{quantize_value, symmetric_scale};
use crate::mlp::{Dense, Mlp};

/// Largest int4 magnitude used.
pub const QMAX: i32 = 7;

/// Packs signed 4-bit values (each in [−8, 7]) two per byte, the first in the low nibble; an odd
/// count leaves the last high nibble 0.
pub fn pack_nibbles(values: &[i8]) -> Vec<u8> {
    values.chunks(2).map(|p| (p[0] as u8 & 0x0f) | ((*p.get(1).unwrap_or(&0) as u8 & 0x0f) << 4)).collect()
}

/// The first `len` signed 4-bit values of `packed` (sign-extended).
pub fn unpack_nibbles(packed: &[u8], len: usize) -> Vec<i8> {
    (0..len)
        .map(|i| {
            let nibble = if i % 2 == 0 { packed[i / 2] & 0x0f } else { packed[i / 2] >> 4 };
            ((nibble << 4) as i8) >> 4
        })
        .collect()
}

/// A weight matrix (`in × out`) quantized to int4 in groups along the input dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Weights {
    /// Input dimension.
    pub in_dim: usize,
    /// Output dimension (channels).
    pub out_dim: usize,
    /// Inputs per group (the last group of a channel may be shorter).
    pub group_size: usize,
    /// Packed values, channel-major (`out × in`), two per byte.
    pub packed: Vec<u8>,
    /// Scales, `out × groups_per_channel`, row-major.
    pub scales: Vec<f32>,
}

impl Int4Weights {
    /// Quantizes `w` with one scale per (output channel, group of `group_size` inputs).
    pub fn quantize(w: &DMatrix<f32>, group_size: usize) -> Int4Weights {
        let group_size = group_size.max(1);
        let (in_dim, out_dim) = w.shape();
        let mut values = Vec::with_capacity(in_dim * out_dim);
        let mut scales = Vec::new();
        for col in w.column_iter() {
            let col = col.as_slice();
            for group in col.chunks(group_size) {
                let s = symmetric_scale(group.iter().fold(0.0f32, |m, v| m.max(v.abs())), QMAX);
                scales.push(s);
                values.extend(group.iter().map(|&v| quantize_value(v, s, QMAX) as i8));
            }
        }
        Int4Weights { in_dim, out_dim, group_size, packed: pack_nibbles(&values), scales }
    }

    /// Groups per output channel.
    pub fn groups_per_channel(&self) -> usize {
        self.in_dim.div_ceil(self.group_size)
    }

    /// The reconstruction as an `in × out` matrix.
    pub fn dequantize(&self) -> DMatrix<f32> {
        let values = unpack_nibbles(&self.packed, self.in_dim * self.out_dim);
        let g = self.groups_per_channel();
        DMatrix::from_fn(self.in_dim, self.out_dim, |k, j| {
            values[j * self.in_dim + k] as f32 * self.scales[j * g + k / self.group_size]
        })
    }

    /// Packed bytes plus fp32 scales.
    pub fn bytes(&self) -> usize {
        self.packed.len() + 4 * self.scales.len()
    }
}

/// An [`Mlp`] with int4 weights and fp32 biases.
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Mlp {
    /// Quantized weights per layer.
    pub weights: Vec<Int4Weights>,
    /// Biases per layer (fp32).
    pub biases: Vec<Vec<f32>>,
}

impl Int4Mlp {
    /// Quantizes every weight matrix with groups of `group_size` inputs.
    pub fn from_fp32(model: &Mlp, group_size: usize) -> Int4Mlp {
        Int4Mlp {
            weights: model.layers.iter().map(|l| Int4Weights::quantize(&l.w, group_size)).collect(),
            biases: model.layers.iter().map(|l| l.b.iter().copied().collect()).collect(),
        }
    }

    /// The fp32 model with the dequantized weights: the reference forward pass.
    pub fn dequantized(&self) -> Mlp {
        Mlp {
            layers: self
                .weights
                .iter()
                .zip(&self.biases)
                .map(|(w, b)| Dense { w: w.dequantize(), b: b.clone().into() })
                .collect(),
        }
    }

    /// Bytes of packed weights, scales and fp32 biases.
    pub fn weight_bytes(&self) -> usize {
        self.weights.iter().map(Int4Weights::bytes).sum::<usize>()
            + self.biases.iter().map(|b| 4 * b.len()).sum::<usize>()
    }

    /// Reconstruction error of each weight tensor against `fp32`.
    pub fn tensor_errors(&self, fp32: &Mlp) -> Vec<TensorError> {
        self.weights
            .iter()
            .zip(&fp32.layers)
            .enumerate()
            .map(|(i, (q, f))| TensorError::measure(&format!("W{i}"), &f.w, &q.dequantize()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pack_unpack_is_exact(values in proptest::collection::vec(-8i8..=7, 0..65)) {
            let packed = pack_nibbles(&values);
            prop_assert_eq!(packed.len(), values.len().div_ceil(2));
            prop_assert_eq!(unpack_nibbles(&packed, values.len()), values);
        }

        #[test]
        fn group_round_trip_error_is_at_most_half_a_step(
            values in proptest::collection::vec(-4.0f32..4.0, 1..50),
            rows in 1usize..40,
            cols in 1usize..4,
            group in 1usize..16,
        ) {
            let w = DMatrix::from_fn(rows, cols, |r, c| values[(r * cols + c) % values.len()]);
            let q = Int4Weights::quantize(&w, group);
            let deq = q.dequantize();
            let g = q.groups_per_channel();
            for k in 0..rows {
                for j in 0..cols {
                    let s = q.scales[j * g + k / group];
                    prop_assert!((w[(k, j)] - deq[(k, j)]).abs() <= s / 2.0 * (1.0 + 1e-5));
                }
            }
        }
    }

    #[test]
    fn nibbles_are_low_first_twos_complement() {
        assert_eq!(pack_nibbles(&[1, -1, -8]), vec![0xf1, 0x08]);
        assert_eq!(unpack_nibbles(&[0xf1, 0x08], 3), vec![1, -1, -8]);
    }

    #[test]
    fn smaller_groups_never_lose_accuracy_on_a_skewed_channel() {
        // One large outlier per 32 inputs: groups of 8 isolate it, a whole-channel group does not.
        let w = DMatrix::from_fn(64, 2, |k, j| if k % 32 == 0 { 5.0 } else { 0.01 * (k + j) as f32 });
        let fine = TensorError::measure("w", &w, &Int4Weights::quantize(&w, 8).dequantize());
        let coarse = TensorError::measure("w", &w, &Int4Weights::quantize(&w, 64).dequantize());
        assert!(fine.mse < coarse.mse);
    }
}
