//! servesim kernels: the real models behind the quantization and distillation topics.
//!
//! Trains a teacher MLP and a distilled student on a real tabular dataset, quantizes them,
//! exports ONNX files and writes a model card per file. Pure Rust on nalgebra: this crate never
//! links ONNX Runtime (the `replay` crate does) and has no CLI: the `servesim` binary calls
//! [`build`] and shows [`Progress`] as a progress bar.
//!
//! ```no_run
//! let opts = kernels::BuildOptions {
//!     out_dir: "models/course".into(),
//!     preset: kernels::Preset::Course,
//!     seed: 42,
//!     created_by: "servesim 0.1.0 (abc1234)".into(),
//!     overwrite: false,
//! };
//! let report = kernels::build(&opts, &mut |_progress| {})?;
//! println!("{}", report.distillation.verdict);
//! # Ok::<(), kernels::KernelsError>(())
//! ```
//!
//! # Dataset
//! Red wine quality (UCI; Cortez et al., 2009): 1,599 wines, 11 physico-chemical features. It
//! ships inside the `linfa-datasets` crate (feature `winequality`, a 23 kB gzipped CSV compiled
//! into the binary), so a build needs no network and no data files; the crate's dependencies
//! (linfa, ndarray, csv, flate2) add about a minute to a clean debug build. The 0–10 quality
//! score is bucketed into 3 classes, ≤ 5 / 6 / ≥ 7 (744 / 638 / 217 wines): scores 3 and 8 have
//! 10 and 18 wines, too few to score on a 241-row test split. Split 70/15/15 (1,119 / 239 / 241)
//! by a seeded shuffle; features standardized with the training split's mean and population
//! standard deviation. Dataset id = `ds-` + hex SHA-256 over a version tag, the shape, the raw
//! features (f32 LE, row-major) and the class labels (u32 LE); it names the data, not the split.
//!
//! # Models and training
//! ReLU MLPs with a softmax output, f32 ([`mlp`]); mini-batch Adam on cross-entropy, early
//! stopping on validation cross-entropy with patience, best epoch's weights kept ([`train`]).
//! Presets ([`Preset`]):
//!
//! | preset | teacher | student | build time (release, 2 cores) |
//! |---|---|---|---|
//! | `tiny` | 11→64→64→3 (5,123 params) | 11→8→3 (123) | < 1 s (tests run it in the dev profile) |
//! | `course` | 11→4096→4096→3 (16,842,755 params, 67 MB fp32) | 11→32→32→3 (1,539) | see BENCHMARKS.md |
//!
//! The course teacher's fp32 weights exceed a last-level cache, so its batch-1 inference is
//! memory-bound: that is what makes int8 (4× fewer bytes) and the student visibly faster in the
//! replay harness. Products go through nalgebra's `gemm`, which hands dynamic matrices to
//! `matrixmultiply` (blocked, SIMD, single-threaded; transposes are stride-swapped views):
//! an epoch of the course teacher (1,119 rows, forward + backward + Adam over 16.8 M
//! parameters, about 120 GFLOP) takes about 2.1–2.5 s on 2 shared cores, ~50 GFLOP/s.
//!
//! Every random draw comes from a `Pcg64` stream derived as SHA-256(seed, label)
//! (`traces::rng`): `kernels/split`, `kernels/<model>/init`, `kernels/<model>/shuffle`. The
//! two students share the `student` streams (same initialization, same batch order), so their
//! comparison isolates the objective.
//!
//! # Distillation
//! The student minimizes α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1−α)·CE(labels)
//! with T = 4, α = 0.7; the same architecture trained on labels alone is the baseline. The
//! [`card::DistillationReport`] gives test accuracy, top-1 agreement with the teacher and KL to
//! the teacher for both, the examples only one of them gets right, an exact McNemar p-value,
//! and a verdict sentence stating which won, as measured. On this small tabular dataset the
//! accuracy difference is a few test examples either way (the course preset at seed 42: the
//! hard-label student wins by 2 of 241, not significant), while the distilled student is
//! consistently closer to the teacher (lower KL, higher top-1 agreement); the report says so.
//!
//! # Quantization
//! - **int8** ([`quant::int8`]): weights symmetric per output channel in **[−63, 63]**, biases
//!   fp32; activations uint8, asymmetric, one scale per tensor computed at run time exactly as
//!   ONNX `DynamicQuantizeLinear` (scale = (max(0, x_max) − min(0, x_min)) / 255, zero point =
//!   round-half-even(−min(0, x_min) / scale) saturated to [0, 255]). Why 7 bits: on x86 CPUs
//!   without VNNI, ONNX Runtime's u8×s8 GEMM adds pairs of products in saturating 16-bit lanes
//!   (`vpmaddubsw`); 255·127·2 overflows them, 255·64·2 does not. (On a CPU with VNNI, as the
//!   development machine has, full-range weights also match ONNX Runtime exactly; the reduced
//!   range costs about 6 dB of weight SQNR and keeps the files exact on every CPU.) The reference forward pass
//!   [`quant::int8::Int8Mlp::logits`] performs the exported graph's operations in the same
//!   order (integer accumulation, then `(a_scale · w_scale) · acc + bias`).
//! - **int4 preview** ([`quant::int4`]): weight-only, symmetric [−7, 7], one scale per 32
//!   consecutive inputs of an output channel, two values per byte; dequantized forward pass
//!   only, reported in `int4_preview.json`, not exported.
//!
//! Errors are reported per tensor (MSE, max |Δw|, SQNR in dB) and per model on the test split
//! (max |Δlogit|, max |Δp|, top-1 agreement with fp32, accuracy and its delta).
//!
//! # ONNX
//! Written with `onnx-protobuf` 0.2.3 / `protobuf` 3.4.0: opset 17, IR version 8, input
//! `input` float `[N, 11]` with symbolic `N`, outputs `probabilities` (Softmax) and `logits`
//! (float `[N, 3]`); fp32 graph `MatMul → Add → Relu … → Softmax`; int8 graph
//! `DynamicQuantizeLinear → MatMulInteger(u8 × s8) → Cast → Mul(a_scale · w_scale) → Add →
//! Relu …` (see [`onnx`]). Metadata props carry the model name, dataset id, split seed, class
//! names and parent id; the `created_by` string is not in the file, so ids do not change with the
//! commit that built them.
//!
//! # Output directory
//! ```text
//! <out_dir>/
//!   teacher-fp32.onnx       teacher-fp32.card.json
//!   teacher-int8.onnx       teacher-int8.card.json       (parent: teacher-fp32)
//!   student-fp32.onnx       student-fp32.card.json       (parent: teacher-fp32, distilled)
//!   student-int8.onnx       student-int8.card.json       (parent: student-fp32)
//!   student-hard-fp32.onnx  student-hard-fp32.card.json  (no parent: the hard-label baseline)
//!   dataset.json            id, source, names, split seed/sizes/class counts, standardization, test rows
//!   test_split.csv          row, 11 standardized features (f32, exact text), label
//!   int4_preview.json       int4 results for teacher and student
//!   index.json              preset, seed, dataset id, created_by, every model, the distillation report
//! ```
//! Written into `.tmp-<name>-…-<pid>/` beside it and published with `artifact::StagedDir`: the
//! directory is complete or absent, and an overwritten one is replaced without a gap. Same options → byte-identical files and ids (tested).
//!
//! # Model card (`<name>.card.json`, schema `servesim.model-card/1`)
//! `id` (`mdl-` + hex SHA-256 of the `.onnx` bytes), `name`, `version` (crate version +
//! preset, e.g. `0.1.0+course`), `file`, `precision` (`fp32`/`int8`), `parent_id`, `relation`
//! (`distilled-from`/`quantized-from`), `dataset_id`, `split_seed`, `layers`,
//! `parameter_count`, `weight_bytes`, `training` (config, objective, distillation T/α, seed,
//! epochs run, best epoch, best validation loss/accuracy, stopped early), `quantization` (scheme,
//! weight range, per-tensor errors, model errors vs fp32), `metrics` (test examples, accuracy,
//! cross-entropy, agreement with the teacher, KL to the teacher), `created_by`. See [`card`].

pub mod card;
pub mod data;
mod error;
pub mod eval;
pub mod mlp;
pub mod onnx;
pub mod pipeline;
pub mod quant;
pub mod rng;
pub mod split;
pub mod train;

pub use error::KernelsError;
pub use pipeline::{BuildOptions, BuildReport, Preset, Progress, build};
