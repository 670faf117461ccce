//! int8: symmetric per-output-channel weights in a 7-bit range, dynamic uint8 activations.
//!
//! Why 7 bits: on x86 CPUs without VNNI, ONNX Runtime's u8×s8 GEMM multiplies pairs with
//! `vpmaddubsw`, whose 16-bit sums saturate when two products of a full-range weight (±127) and
//! an activation near 255 add up (2·255·127 > 32767). Weights in ±63 keep every pair sum below
//! 2·255·64 = 32640, so the kernel is exact on every CPU and matches [`Int8Mlp::logits`].

use nalgebra::DMatrix;

use super::TensorError;
use crate::mlp::Mlp;

/// Largest weight magnitude: weights use [−63, 63] (see the module docs).
pub const WEIGHT_QMAX: i32 = 63;

/// A weight matrix (`in × out`) quantized per output channel: `w[k][j] ≈ q[j][k] · scales[j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Weights {
    /// Input dimension.
    pub in_dim: usize,
    /// Output dimension (channels).
    pub out_dim: usize,
    /// Quantized values, channel-major (`out × in`, row `j` is channel `j`).
    pub q: Vec<i8>,
    /// One scale per output channel.
    pub scales: Vec<f32>,
}

/// The symmetric scale for values of largest magnitude `amax` in ±`qmax` (1 for an all-zero block,
/// so zeros stay zeros and nothing divides by 0).
pub(crate) fn symmetric_scale(amax: f32, qmax: i32) -> f32 {
    if amax > 0.0 { amax / qmax as f32 } else { 1.0 }
}

/// `round_half_even(v / scale)` clamped to ±`qmax`.
pub(crate) fn quantize_value(v: f32, scale: f32, qmax: i32) -> i32 {
    ((v / scale).round_ties_even() as i32).clamp(-qmax, qmax)
}

impl Int8Weights {
    /// Per-output-channel symmetric quantization in ±`qmax` (`qmax` ≤ 127).
    pub fn per_channel(w: &DMatrix<f32>, qmax: i32) -> Int8Weights {
        let scales: Vec<f32> = w.column_iter().map(|c| symmetric_scale(c.amax(), qmax)).collect();
        Self::with_scales(w, scales, qmax)
    }

    /// One scale for the whole tensor (for comparison: this is what per-channel improves on).
    pub fn per_tensor(w: &DMatrix<f32>, qmax: i32) -> Int8Weights {
        let s = symmetric_scale(w.amax(), qmax);
        Self::with_scales(w, vec![s; w.ncols()], qmax)
    }

    fn with_scales(w: &DMatrix<f32>, scales: Vec<f32>, qmax: i32) -> Int8Weights {
        let (in_dim, out_dim) = w.shape();
        let mut q = Vec::with_capacity(in_dim * out_dim);
        // Column j of the column-major `w` is contiguous and becomes channel row j.
        for (j, col) in w.column_iter().enumerate() {
            q.extend(col.iter().map(|&v| quantize_value(v, scales[j], qmax) as i8));
        }
        Int8Weights { in_dim, out_dim, q, scales }
    }

    /// The reconstruction `q · scale` as an `in × out` matrix.
    pub fn dequantize(&self) -> DMatrix<f32> {
        DMatrix::from_fn(self.in_dim, self.out_dim, |k, j| self.q[j * self.in_dim + k] as f32 * self.scales[j])
    }

    /// The values in ONNX `MatMulInteger` B layout: `in × out`, row-major.
    pub fn onnx_layout(&self) -> Vec<i8> {
        let mut out = Vec::with_capacity(self.q.len());
        for k in 0..self.in_dim {
            out.extend((0..self.out_dim).map(|j| self.q[j * self.in_dim + k]));
        }
        out
    }
}

/// A batch quantized as ONNX `DynamicQuantizeLinear` does: one uint8 scale and zero point for
/// the whole tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedActivations {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row-major uint8 values.
    pub q: Vec<u8>,
    /// `(max(0, x_max) − min(0, x_min)) / 255`, or 1 if that range is empty.
    pub scale: f32,
    /// `round_half_even(clamp(−min(0, x_min) / scale, 0, 255))`.
    pub zero_point: u8,
}

/// ONNX `DynamicQuantizeLinear` on a batch: `y = saturate(round_half_even(x / scale) + zero_point)`.
///
/// The range always includes 0, so 0 is represented exactly; ONNX Runtime falls back to scale 1
/// when the range is empty (all zeros), and so does this.
pub fn dynamic_quantize_linear(x: &DMatrix<f32>) -> QuantizedActivations {
    let x_min = x.iter().copied().fold(0.0f32, f32::min);
    let x_max = x.iter().copied().fold(0.0f32, f32::max);
    let scale = if x_max == x_min { 1.0 } else { (x_max - x_min) / 255.0 };
    let zero_point = (0.0 - x_min / scale).clamp(0.0, 255.0).round_ties_even() as u8;
    let mut q = Vec::with_capacity(x.len());
    for r in 0..x.nrows() {
        for c in 0..x.ncols() {
            let v = (x[(r, c)] / scale).round_ties_even() + zero_point as f32;
            q.push(v.clamp(0.0, 255.0) as u8);
        }
    }
    QuantizedActivations { rows: x.nrows(), cols: x.ncols(), q, scale, zero_point }
}

/// One int8 layer: weights, their fp32 bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Layer {
    /// Quantized weights.
    pub weights: Int8Weights,
    /// Bias, added in fp32 after rescaling.
    pub bias: Vec<f32>,
}

/// An [`Mlp`] with int8 weights, evaluated like the exported int8 ONNX graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Mlp {
    /// The layers, input first.
    pub layers: Vec<Int8Layer>,
}

impl Int8Mlp {
    /// Quantizes every weight matrix per output channel in ±[`WEIGHT_QMAX`]; biases stay fp32.
    pub fn from_fp32(model: &Mlp) -> Int8Mlp {
        Self::with_weight_range(model, WEIGHT_QMAX)
    }

    /// Quantizes in ±`qmax` (clamped to 1..=127): 127 gives the full-range weights that saturate
    /// ONNX Runtime's int8 GEMM on CPUs without VNNI, for demonstrating exactly that.
    pub fn with_weight_range(model: &Mlp, qmax: i32) -> Int8Mlp {
        let qmax = qmax.clamp(1, 127);
        let layers = model
            .layers
            .iter()
            .map(|l| Int8Layer { weights: Int8Weights::per_channel(&l.w, qmax), bias: l.b.iter().copied().collect() })
            .collect();
        Int8Mlp { layers }
    }

    /// Logits, computed as the int8 ONNX graph does, layer by layer:
    /// `DynamicQuantizeLinear(h)` → `MatMulInteger(h_q, W_q, h_zp)` (exact int32) → `Cast` to
    /// float → `Mul` by `(h_scale · w_scale[j])` → `Add` bias → `Relu` (all but the last layer).
    /// The batch shares one activation scale per layer, as in the graph.
    pub fn logits(&self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let a = dynamic_quantize_linear(&h);
            let w = &layer.weights;
            let zp = a.zero_point as i16;
            let mut out = DMatrix::zeros(a.rows, w.out_dim);
            let mut centered = vec![0i16; a.cols];
            for r in 0..a.rows {
                for (c, v) in centered.iter_mut().zip(&a.q[r * a.cols..(r + 1) * a.cols]) {
                    *c = *v as i16 - zp;
                }
                for j in 0..w.out_dim {
                    let channel = &w.q[j * w.in_dim..(j + 1) * w.in_dim];
                    let acc: i32 = centered.iter().zip(channel).map(|(&a, &b)| a as i32 * b as i32).sum();
                    let v = acc as f32 * (a.scale * w.scales[j]) + layer.bias[j];
                    out[(r, j)] = if i + 1 < self.layers.len() { v.max(0.0) } else { v };
                }
            }
            h = out;
        }
        h
    }

    /// Bytes of the weights as stored in the ONNX file: int8 values, fp32 scales, fp32 biases.
    pub fn weight_bytes(&self) -> usize {
        self.layers.iter().map(|l| l.weights.q.len() + 4 * l.weights.scales.len() + 4 * l.bias.len()).sum()
    }

    /// Reconstruction error of each weight tensor (`W0`, `W1`, …) against `fp32`.
    pub fn tensor_errors(&self, fp32: &Mlp) -> Vec<TensorError> {
        self.layers
            .iter()
            .zip(&fp32.layers)
            .enumerate()
            .map(|(i, (q, f))| TensorError::measure(&format!("W{i}"), &f.w, &q.weights.dequantize()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matrix(rows: usize, cols: usize, values: &[f32]) -> DMatrix<f32> {
        DMatrix::from_fn(rows, cols, |r, c| values[(r * cols + c) % values.len()])
    }

    proptest! {
        #[test]
        fn round_trip_error_is_at_most_half_a_step(
            values in proptest::collection::vec(-10.0f32..10.0, 1..60),
            rows in 1usize..8,
            cols in 1usize..8,
        ) {
            let w = matrix(rows, cols, &values);
            let q = Int8Weights::per_channel(&w, WEIGHT_QMAX);
            prop_assert!(q.q.iter().all(|v| (-63..=63).contains(&(*v as i32))));
            let deq = q.dequantize();
            for k in 0..rows {
                for j in 0..cols {
                    let err = (w[(k, j)] - deq[(k, j)]).abs();
                    prop_assert!(err <= q.scales[j] / 2.0 * (1.0 + 1e-5), "err {} scale {}", err, q.scales[j]);
                }
            }
        }

        #[test]
        fn dynamic_quantization_round_trips_within_half_a_step(
            values in proptest::collection::vec(-50.0f32..50.0, 1..40),
        ) {
            let x = matrix(1, values.len(), &values);
            let a = dynamic_quantize_linear(&x);
            for (i, &v) in values.iter().enumerate() {
                let back = (a.q[i] as f32 - a.zero_point as f32) * a.scale;
                // Half a step from rounding plus the zero point's own rounding (also ≤ half a step).
                prop_assert!((back - v).abs() <= a.scale * (1.0 + 1e-4), "{} -> {}", v, back);
            }
        }
    }

    #[test]
    fn per_channel_beats_per_tensor_on_rows_of_different_magnitude() {
        // Output channel j has magnitude 10^(j−2): per-tensor quantization rounds the small
        // channels to zero, per-channel keeps them.
        let w = DMatrix::from_fn(16, 5, |k, j| ((k as f32 * 0.37).sin()) * 10f32.powi(j as i32 - 2));
        let pc = TensorError::measure("w", &w, &Int8Weights::per_channel(&w, WEIGHT_QMAX).dequantize());
        let pt = TensorError::measure("w", &w, &Int8Weights::per_tensor(&w, WEIGHT_QMAX).dequantize());
        assert!(pc.mse <= pt.mse);
        assert!(pc.sqnr_db > pt.sqnr_db + 1.0, "{} dB vs {} dB", pc.sqnr_db, pt.sqnr_db);
        // Channel-wise too: per-channel is never worse on any channel.
        let (dc, dt) = (Int8Weights::per_channel(&w, 63).dequantize(), Int8Weights::per_tensor(&w, 63).dequantize());
        for j in 0..5 {
            let e = |d: &DMatrix<f32>| (0..16).map(|k| (w[(k, j)] - d[(k, j)]).powi(2)).sum::<f32>();
            assert!(e(&dc) <= e(&dt) * (1.0 + 1e-6) + 1e-12, "channel {j}");
        }
    }

    #[test]
    fn dynamic_quantize_linear_follows_the_onnx_formula() {
        // ONNX spec example: x = [0, 2, -3, -2.5, 1.34, 0.5] → scale 5/255, zero point 153.
        let x = DMatrix::from_row_slice(1, 6, &[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
        let a = dynamic_quantize_linear(&x);
        assert!((a.scale - 0.019_607_844).abs() < 1e-9);
        assert_eq!(a.zero_point, 153);
        assert_eq!(a.q, vec![153, 255, 0, 26, 221, 179]);
        let zeros = dynamic_quantize_linear(&DMatrix::zeros(2, 2));
        assert_eq!((zeros.scale, zeros.zero_point, zeros.q), (1.0, 0, vec![0; 4]));
    }

    #[test]
    fn onnx_layout_is_row_major_in_by_out() {
        let w = DMatrix::from_row_slice(2, 3, &[1.0, -2.0, 3.0, -4.0, 5.0, -6.0]);
        let q = Int8Weights::per_tensor(&w, 6);
        assert_eq!(q.onnx_layout(), vec![1, -2, 3, -4, 5, -6]);
    }

    #[test]
    fn weight_range_is_respected_and_full_range_is_finer() {
        let model = Mlp::new(&[6, 32, 3], &mut crate::rng::stream(4, "range"));
        let max = |m: &Int8Mlp| m.layers.iter().flat_map(|l| &l.weights.q).map(|v| v.unsigned_abs()).max().unwrap();
        let (seven, full) = (Int8Mlp::from_fp32(&model), Int8Mlp::with_weight_range(&model, 127));
        assert_eq!((max(&seven), max(&full)), (63, 127));
        let sqnr = |m: &Int8Mlp| m.tensor_errors(&model)[0].sqnr_db;
        // One bit more resolution is worth about 6 dB.
        assert!(sqnr(&full) > sqnr(&seven) + 5.0, "{} vs {}", sqnr(&full), sqnr(&seven));
    }

    #[test]
    fn int8_forward_tracks_fp32() {
        let mut rng = crate::rng::stream(9, "int8");
        let model = Mlp::new(&[6, 32, 16, 3], &mut rng);
        let x = DMatrix::from_fn(20, 6, |_, _| crate::rng::symmetric(&mut rng, 2.0));
        let f = model.logits(&x);
        let q = Int8Mlp::from_fp32(&model).logits(&x);
        let scale = f.amax();
        assert!(
            crate::eval::max_abs_diff(&q, &f) < 0.05 * scale as f64,
            "{} vs scale {scale}",
            crate::eval::max_abs_diff(&q, &f)
        );
    }
}
