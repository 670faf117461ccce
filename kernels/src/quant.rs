//! Post-training quantization: int8 (ONNX-exportable) and an int4 weight-only preview.
//!
//! - [`int8`]: per-output-channel symmetric int8 weights in the reduced range ±[`int8::WEIGHT_QMAX`],
//!   dynamic per-tensor uint8 activations (ONNX `DynamicQuantizeLinear`), and a reference
//!   forward pass that performs exactly the graph's operations.
//! - [`int4`]: group-wise symmetric int4 weights, two per byte; a dequantized reference forward
//!   pass only (no ONNX export).
//!
//! Error statistics: per tensor ([`TensorError`]) and per model ([`ModelError`]).

pub mod int4;
pub mod int8;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::eval;
use crate::mlp::softmax_rows;

/// Reconstruction error of one quantized weight tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorError {
    /// Tensor name (as in the ONNX graph, e.g. `W0`).
    pub name: String,
    /// Shape `[in, out]`.
    pub shape: [usize; 2],
    /// Mean squared error `mean((w − ŵ)²)`.
    pub mse: f64,
    /// Largest `|w − ŵ|`.
    pub max_abs: f64,
    /// Signal-to-quantization-noise ratio `10·log10(Σw² / Σ(w − ŵ)²)` in dB (infinite if exact).
    pub sqnr_db: f64,
}

impl TensorError {
    /// Compares `w` with its dequantized reconstruction `deq`.
    pub fn measure(name: &str, w: &DMatrix<f32>, deq: &DMatrix<f32>) -> TensorError {
        let (mut signal, mut noise, mut max_abs) = (0f64, 0f64, 0f64);
        for (a, b) in w.iter().zip(deq.iter()) {
            let d = (*a as f64) - (*b as f64);
            signal += (*a as f64).powi(2);
            noise += d * d;
            max_abs = max_abs.max(d.abs());
        }
        TensorError {
            name: name.into(),
            shape: [w.nrows(), w.ncols()],
            mse: noise / w.len().max(1) as f64,
            max_abs,
            sqnr_db: if noise > 0.0 { 10.0 * (signal / noise).log10() } else { f64::INFINITY },
        }
    }
}

/// How a quantized model's outputs differ from the fp32 model's on the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelError {
    /// Largest `|logit − logit_fp32|` over the test split.
    pub max_abs_logit_error: f64,
    /// Largest `|p − p_fp32|` over the test split.
    pub max_abs_probability_error: f64,
    /// Share of test examples with the same top-1 class as fp32.
    pub top1_agreement_with_fp32: f64,
    /// Test accuracy of the quantized model.
    pub accuracy: f64,
    /// Test accuracy of the fp32 model, for the delta.
    pub fp32_accuracy: f64,
    /// `accuracy − fp32_accuracy`.
    pub accuracy_delta: f64,
}

impl ModelError {
    /// Compares quantized logits `q` with fp32 logits `f` on examples labelled `y`.
    pub fn measure(q: &DMatrix<f32>, f: &DMatrix<f32>, y: &[usize]) -> ModelError {
        let (pq, pf) = (softmax_rows(q, 1.0), softmax_rows(f, 1.0));
        let (accuracy, fp32_accuracy) = (eval::accuracy(&pq, y), eval::accuracy(&pf, y));
        ModelError {
            max_abs_logit_error: eval::max_abs_diff(q, f),
            max_abs_probability_error: eval::max_abs_diff(&pq, &pf),
            top1_agreement_with_fp32: eval::agreement(&pq, &pf),
            accuracy,
            fp32_accuracy,
            accuracy_delta: accuracy - fp32_accuracy,
        }
    }
}
