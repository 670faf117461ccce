//! Model cards (`<name>.card.json`), the int4 preview report and the output index.

use serde::Serialize;

use crate::quant::{ModelError, TensorError};
use crate::train::{DistillConfig, TrainRecord};

/// Version tag of the card schema.
pub const CARD_SCHEMA: &str = "servesim.model-card/1";

/// One model's card.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Int4Report {
    /// Scheme description.
    pub scheme: String,
    /// Inputs per group.
    pub group_size: usize,
    /// One entry per quantized model.
    pub models: Vec<Int4ModelReport>,
}

/// int4 results for one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// One sentence saying which student won, as measured.
    pub verdict: String,
}

impl DistillationReport {
    /// Compares the two students and states the outcome as measured, whichever way it went.
    pub fn new(config: DistillConfig, teacher_accuracy: f64, distilled: Metrics, hard_label: Metrics) -> Self {
        let gain = distilled.accuracy - hard_label.accuracy;
        let kl_reduction = hard_label.kl_to_teacher.unwrap_or(0.0) - distilled.kl_to_teacher.unwrap_or(0.0);
        let n = distilled.test_examples;
        let verdict = if gain > 0.0 {
            format!(
                "the distilled student is more accurate than the hard-label student by {:.1} points ({} of {n} test examples)",
                100.0 * gain,
                (gain * n as f64).round()
            )
        } else if gain < 0.0 {
            format!(
                "distillation did not help accuracy here: the hard-label student is {:.1} points ({} of {n} test \
                 examples) more accurate; on a small tabular dataset the teacher's soft targets carry little beyond \
                 the labels, and a difference of a few examples is within seed-to-seed noise",
                -100.0 * gain,
                (-gain * n as f64).round()
            )
        } else {
            "both students have the same test accuracy".to_string()
        };
        DistillationReport {
            config,
            teacher_accuracy,
            distilled,
            hard_label,
            accuracy_gain: gain,
            kl_reduction,
            verdict,
        }
    }
}

/// `index.json`: every file of the output directory in one place.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
