//! Model cards (`<name>.card.json`), the int4 preview report and the output index.

use serde::{Deserialize, Serialize};

use crate::quant::{ModelError, TensorError};
use crate::train::{DistillConfig, TrainRecord};

/// Version tag of the card schema.
pub const CARD_SCHEMA: &str = "servesim.model-card/1";

/// One model's card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// [`CARD_SCHEMA`].
    pub schema: String,
    /// `mdl-` + hex SHA-256 of the `.onnx` file's bytes.
    pub id: String,
    /// Model name, e.g. `student-int8`.
    pub name: String,
    /// Crate version + preset, e.g. `0.1.0+course`.
    pub version: String,
    /// The ONNX file, relative to the output directory.
    pub file: String,
    /// `fp32` or `int8`.
    pub precision: String,
    /// The model this one was derived from: the teacher for the distilled student, the fp32
    /// model for an int8 one; `None` for the teacher and the hard-label baseline.
    pub parent_id: Option<String>,
    /// How it was derived from the parent: `distilled-from` or `quantized-from`.
    pub relation: Option<String>,
    /// Id of the dataset it was trained and evaluated on.
    pub dataset_id: String,
    /// Seed of the train/validation/test split.
    pub split_seed: u64,
    /// Layer widths, input first; ReLU between layers, softmax at the end.
    pub layers: Vec<usize>,
    /// Weights plus biases.
    pub parameter_count: usize,
    /// Bytes of stored weights (fp32: 4 per parameter; int8: 1 per weight plus fp32 scales and biases).
    pub weight_bytes: usize,
    /// How the weights were trained (the fp32 models; an int8 card's parent has it).
    pub training: Option<TrainRecord>,
    /// How the weights were quantized (int8 models).
    pub quantization: Option<QuantizationRecord>,
    /// Quality on the test split.
    pub metrics: Metrics,
    /// Who built it: servesim version and git commit, as passed by the caller.
    pub created_by: String,
}

/// Test-split quality of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Test examples.
    pub test_examples: usize,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Mean cross-entropy of the labels (nats).
    pub cross_entropy: f64,
    /// Share of test examples where the top-1 class equals the fp32 teacher's (`None` for the teacher).
    pub agreement_with_teacher: Option<f64>,
    /// Mean KL(teacher ‖ model) over the test examples, nats, at temperature 1.
    pub kl_to_teacher: Option<f64>,
}

/// How an int8 model was quantized, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizationRecord {
    /// Short description of the scheme.
    pub scheme: String,
    /// Weight range used, `[-qmax, qmax]`.
    pub weight_range: [i32; 2],
    /// Weight granularity.
    pub weight_granularity: String,
    /// Activation scheme.
    pub activations: String,
    /// Per-tensor reconstruction error.
    pub tensors: Vec<TensorError>,
    /// Output differences against the fp32 parent on the test split.
    pub model: ModelError,
}

/// `int4_preview.json`: int4 weight-only quantization of teacher and student, not exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Int4Report {
    /// Scheme description.
    pub scheme: String,
    /// Inputs per group.
    pub group_size: usize,
    /// One entry per quantized model.
    pub models: Vec<Int4ModelReport>,
}

/// int4 results for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Int4ModelReport {
    /// The fp32 model's name.
    pub source: String,
    /// The fp32 model's id.
    pub source_id: String,
    /// Packed int4 weights + fp32 group scales + fp32 biases.
    pub weight_bytes: usize,
    /// The fp32 model's weight bytes, for the ratio.
    pub fp32_weight_bytes: usize,
    /// Per-tensor reconstruction error.
    pub tensors: Vec<TensorError>,
    /// Output differences of the dequantized forward pass against fp32 on the test split.
    pub model: ModelError,
}

/// The distillation comparison on the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillationReport {
    /// Temperature and α of the distilled student.
    pub config: DistillConfig,
    /// Teacher test accuracy.
    pub teacher_accuracy: f64,
    /// Distilled student: accuracy, agreement, KL.
    pub distilled: Metrics,
    /// Same architecture, same init and batch order, hard labels only.
    pub hard_label: Metrics,
    /// `distilled.accuracy − hard_label.accuracy`.
    pub accuracy_gain: f64,
    /// `hard_label.kl_to_teacher − distilled.kl_to_teacher` (positive: distillation moved the
    /// student towards the teacher).
    pub kl_reduction: f64,
    /// Test examples only the distilled student gets right.
    pub only_distilled_correct: usize,
    /// Test examples only the hard-label student gets right.
    pub only_hard_label_correct: usize,
    /// Two-sided exact McNemar p-value of the accuracy difference (1 when the students never
    /// disagree on correctness).
    pub mcnemar_p: f64,
    /// One sentence saying which student won, as measured, and whether the difference is significant.
    pub verdict: String,
}

/// Two-sided exact McNemar test: `P(X ≤ min(b, c))·2` for `X ~ Binomial(b + c, ½)`, capped at 1.
pub fn mcnemar_exact_p(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    // Σ_{k ≤ min} C(n, k) / 2^n, in log space so large n does not overflow.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64; // ln C(n, 0)
    let mut tail = 0.0f64;
    for k in 0..=b.min(c) {
        if k > 0 {
            ln_c += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        tail += (ln_c + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

impl DistillationReport {
    /// Compares the two students and states the outcome as measured, whichever way it went.
    /// `distilled_correct[i]` / `hard_correct[i]`: whether each student gets test example `i` right.
    pub fn new(
        config: DistillConfig,
        teacher_accuracy: f64,
        distilled: Metrics,
        hard_label: Metrics,
        distilled_correct: &[bool],
        hard_correct: &[bool],
    ) -> Self {
        let gain = distilled.accuracy - hard_label.accuracy;
        let kl_reduction = hard_label.kl_to_teacher.unwrap_or(0.0) - distilled.kl_to_teacher.unwrap_or(0.0);
        let pairs = || distilled_correct.iter().zip(hard_correct);
        let only_d = pairs().filter(|&(&d, &h)| d && !h).count();
        let only_h = pairs().filter(|&(&d, &h)| !d && h).count();
        let p = mcnemar_exact_p(only_d, only_h);
        let n = distilled.test_examples;
        let diff = only_d.abs_diff(only_h);
        let significance = if p < 0.05 {
            format!("significant (exact McNemar p = {p:.3})")
        } else {
            format!("not significant on {n} test examples (exact McNemar p = {p:.2}, {} discordant)", only_d + only_h)
        };
        let mut verdict = if gain > 0.0 {
            format!(
                "the distilled student is more accurate than the hard-label student by {diff} of {n} test \
                 examples, {significance}"
            )
        } else if gain < 0.0 {
            format!(
                "distillation did not improve accuracy: the hard-label student is more accurate by {diff} of {n} \
                 test examples, {significance}"
            )
        } else {
            format!("both students have the same test accuracy ({} discordant examples)", only_d + only_h)
        };
        if let (Some(dk), Some(hk), Some(da), Some(ha)) = (
            distilled.kl_to_teacher,
            hard_label.kl_to_teacher,
            distilled.agreement_with_teacher,
            hard_label.agreement_with_teacher,
        ) {
            let closer = if dk < hk { "closer to" } else { "no closer to" };
            verdict.push_str(&format!(
                "; the distilled student is {closer} the teacher (KL {dk:.4} vs {hk:.4} nats, top-1 agreement \
                 {da:.3} vs {ha:.3})"
            ));
        }
        DistillationReport {
            config,
            teacher_accuracy,
            distilled,
            hard_label,
            accuracy_gain: gain,
            kl_reduction,
            only_distilled_correct: only_d,
            only_hard_label_correct: only_h,
            mcnemar_p: p,
            verdict,
        }
    }
}

/// `index.json`: every file of the output directory in one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Version tag of this document.
    pub schema: String,
    /// Preset name.
    pub preset: String,
    /// Build seed (split, init and batch order all derive from it).
    pub seed: u64,
    /// Dataset id.
    pub dataset_id: String,
    /// `dataset.json`.
    pub dataset_file: String,
    /// `test_split.csv`.
    pub test_split_file: String,
    /// `int4_preview.json`.
    pub int4_preview_file: String,
    /// As passed by the caller.
    pub created_by: String,
    /// The models, in build order.
    pub models: Vec<IndexEntry>,
    /// The distillation comparison.
    pub distillation: DistillationReport,
}

/// One model in `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Model name.
    pub name: String,
    /// Model id.
    pub id: String,
    /// ONNX file.
    pub file: String,
    /// Card file.
    pub card: String,
    /// `fp32` or `int8`.
    pub precision: String,
    /// Parent model id.
    pub parent_id: Option<String>,
    /// Weights plus biases.
    pub parameter_count: usize,
    /// Stored weight bytes.
    pub weight_bytes: usize,
    /// Test accuracy.
    pub accuracy: f64,
}

impl From<&ModelCard> for IndexEntry {
    fn from(c: &ModelCard) -> Self {
        IndexEntry {
            name: c.name.clone(),
            id: c.id.clone(),
            file: c.file.clone(),
            card: format!("{}.card.json", c.name),
            precision: c.precision.clone(),
            parent_id: c.parent_id.clone(),
            parameter_count: c.parameter_count,
            weight_bytes: c.weight_bytes,
            accuracy: c.metrics.accuracy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_exact_matches_hand_computed_binomial_tails() {
        assert_eq!(mcnemar_exact_p(0, 0), 1.0);
        assert!((mcnemar_exact_p(10, 0) - 2.0 / 1024.0).abs() < 1e-15);
        // b = 2, c = 5: 2·(1 + 7 + 21)/128.
        assert!((mcnemar_exact_p(2, 5) - 58.0 / 128.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact_p(5, 2), mcnemar_exact_p(2, 5));
        assert_eq!(mcnemar_exact_p(4, 4), 1.0);
        assert!(mcnemar_exact_p(2000, 1000) < 1e-20);
    }

    fn m(accuracy: f64, kl: f64) -> Metrics {
        Metrics {
            test_examples: 4,
            accuracy,
            cross_entropy: 1.0,
            agreement_with_teacher: Some(0.9),
            kl_to_teacher: Some(kl),
        }
    }

    #[test]
    fn the_verdict_says_which_student_won() {
        let cfg = DistillConfig { temperature: 4.0, alpha: 0.7 };
        let lost = DistillationReport::new(
            cfg,
            0.8,
            m(0.5, 0.1),
            m(0.75, 0.2),
            &[true, true, false, false],
            &[true, true, true, false],
        );
        assert_eq!((lost.only_distilled_correct, lost.only_hard_label_correct), (0, 1));
        assert!(lost.verdict.starts_with("distillation did not improve accuracy"), "{}", lost.verdict);
        assert!(lost.verdict.contains("not significant") && lost.verdict.contains("closer to the teacher"));
        assert!((lost.kl_reduction - 0.1).abs() < 1e-12);
        let won = DistillationReport::new(
            cfg,
            0.8,
            m(0.75, 0.3),
            m(0.5, 0.2),
            &[true, true, true, false],
            &[true, true, false, false],
        );
        assert!(won.verdict.starts_with("the distilled student is more accurate"), "{}", won.verdict);
        assert!(won.verdict.contains("no closer to"));
    }
}
