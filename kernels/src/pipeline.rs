//! The build: data → teacher → students → quantized variants → ONNX files, cards and reports,
//! written atomically into one output directory.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use artifact::{IdKind, StagedDir};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::KernelsError;
use crate::card::{
    CARD_SCHEMA, DistillationReport, Index, IndexEntry, Int4ModelReport, Int4Report, Metrics, ModelCard,
    QuantizationRecord,
};
use crate::data::{Dataset, RawData};
use crate::eval;
use crate::mlp::{Mlp, softmax_rows};
use crate::onnx::{self, ExportMeta};
use crate::quant::int4::Int4Mlp;
use crate::quant::int8::{Int8Mlp, WEIGHT_QMAX};
use crate::quant::{ModelError, int4};
use crate::train::{DistillConfig, EpochStats, Objective, TrainConfig, TrainRecord, train};

/// A named set of architectures and schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Small enough for tests in the debug profile (seconds): teacher 11→64→64→3, student 11→8→3.
    Tiny,
    /// The course models: teacher 11→4096→4096→3 (16.8 M parameters, 67 MB of fp32 weights,
    /// larger than a last-level cache, so batch-1 inference is memory-bound), student 11→32→32→3.
    Course,
}

/// Everything a preset fixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetConfig {
    /// Teacher training.
    pub teacher: TrainConfig,
    /// Student training (both students).
    pub student: TrainConfig,
    /// Distillation temperature and weight.
    pub distill: DistillConfig,
    /// int4 preview group size.
    pub int4_group_size: usize,
}

impl Preset {
    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Course => "course",
        }
    }

    /// Its configuration.
    pub fn config(self) -> PresetConfig {
        let distill = DistillConfig { temperature: 4.0, alpha: 0.7 };
        match self {
            Preset::Tiny => PresetConfig {
                teacher: TrainConfig::new(vec![64, 64], 60, 32, 3e-3, 8),
                student: TrainConfig::new(vec![8], 80, 32, 1e-2, 10),
                distill,
                int4_group_size: 32,
            },
            Preset::Course => PresetConfig {
                // Measured (seed 42, ~2.5 s per epoch): lr 3e-5 overfits within 10 epochs and its
                // validation loss jumps by ±0.05 from epoch to epoch; lr 1e-5 with batch 128 still
                // improves at epoch 34 (best val CE 0.737 vs 0.747-0.772). 60 epochs with
                // patience 8 bound the build at about 2.5 minutes.
                teacher: TrainConfig::new(vec![4096, 4096], 60, 128, 1e-5, 8),
                student: TrainConfig::new(vec![32, 32], 200, 32, 3e-3, 15),
                distill,
                int4_group_size: 32,
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = KernelsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tiny" => Ok(Preset::Tiny),
            "course" => Ok(Preset::Course),
            other => Err(KernelsError::InvalidOption {
                field: "preset",
                reason: format!("unknown preset `{other}` (expected `tiny` or `course`)"),
            }),
        }
    }
}

/// What to build and where.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    /// The output directory (created; its parent must exist).
    pub out_dir: PathBuf,
    /// Architectures and schedules.
    pub preset: Preset,
    /// The one seed: split, initializations and batch orders derive from it.
    pub seed: u64,
    /// Written into every card: servesim version and git commit. Not part of any id.
    pub created_by: String,
    /// Replace an existing output directory (after the new one is complete).
    pub overwrite: bool,
}

/// Progress events, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A stage begins (`data`, `teacher`, `student`, `student-hard`, `quantize`, `export`, `write`).
    Stage(String),
    /// An epoch of `model` finished.
    Epoch {
        /// The model being trained.
        model: String,
        /// Its epoch limit (training may stop earlier).
        max_epochs: usize,
        /// The epoch's statistics.
        stats: EpochStats,
    },
}

/// One model in the [`BuildReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuiltModel {
    /// Its card (also written to `<name>.card.json`).
    pub card: ModelCard,
    /// Path of the ONNX file in the final output directory.
    pub path: PathBuf,
}

/// What [`build`] produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// The output directory.
    pub out_dir: PathBuf,
    /// Dataset id.
    pub dataset_id: String,
    /// The models, in build order: teacher-fp32, teacher-int8, student-fp32, student-int8, student-hard-fp32.
    pub models: Vec<BuiltModel>,
    /// The distillation comparison.
    pub distillation: DistillationReport,
    /// The int4 preview.
    pub int4: Int4Report,
    /// Wall-clock seconds per stage (not written to any file: outputs must not depend on time).
    pub stage_seconds: Vec<(String, f64)>,
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), KernelsError> {
    let path = dir.join(name);
    fs::write(&path, bytes).map_err(|source| KernelsError::Io { path, source })
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, KernelsError> {
    let mut v = serde_json::to_vec_pretty(value)?;
    v.push(b'\n');
    Ok(v)
}

/// `mdl-` + hex SHA-256 of an ONNX file's bytes.
pub fn model_id(onnx: &[u8]) -> String {
    IdKind::Model.of(onnx).into()
}

fn metrics(probs: &DMatrix<f32>, y: &[usize], teacher: Option<&DMatrix<f32>>) -> Metrics {
    Metrics {
        test_examples: y.len(),
        accuracy: eval::accuracy(probs, y),
        cross_entropy: eval::cross_entropy(probs, y),
        agreement_with_teacher: teacher.map(|t| eval::agreement(t, probs)),
        kl_to_teacher: teacher.map(|t| eval::mean_kl(t, probs)),
    }
}

struct Stages<'a> {
    progress: &'a mut dyn FnMut(Progress),
    times: Vec<(String, f64)>,
    current: Option<(String, Instant)>,
}

impl Stages<'_> {
    fn start(&mut self, name: &str) {
        self.finish();
        (self.progress)(Progress::Stage(name.into()));
        self.current = Some((name.into(), Instant::now()));
    }

    fn finish(&mut self) {
        if let Some((name, t0)) = self.current.take() {
            self.times.push((name, t0.elapsed().as_secs_f64()));
        }
    }

    fn train(
        &mut self,
        model: &str,
        streams: &str,
        data: &Dataset,
        cfg: &TrainConfig,
        objective: Objective<'_>,
        seed: u64,
    ) -> Result<(Mlp, TrainRecord), KernelsError> {
        self.start(model);
        let progress = &mut *self.progress;
        train(streams, data, cfg, objective, seed, &mut |stats| {
            progress(Progress::Epoch { model: model.into(), max_epochs: cfg.max_epochs, stats: stats.clone() })
        })
    }
}

/// Builds every model of `opts.preset` and writes the output directory:
///
/// `teacher-fp32`, `teacher-int8`, `student-fp32` (distilled), `student-int8`,
/// `student-hard-fp32` (`.onnx` + `.card.json` each), `dataset.json`, `test_split.csv`,
/// `int4_preview.json`, `index.json`. The files are written into a temporary sibling directory
/// and renamed into place, so the output is either complete or absent. The same options give
/// byte-identical files.
pub fn build(opts: &BuildOptions, progress: &mut dyn FnMut(Progress)) -> Result<BuildReport, KernelsError> {
    let cfg = opts.preset.config();
    build_with(opts, &cfg, progress)
}

/// [`build`] with an explicit configuration (the preset name is still recorded).
pub fn build_with(
    opts: &BuildOptions,
    cfg: &PresetConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<BuildReport, KernelsError> {
    cfg.teacher.validate()?;
    cfg.student.validate()?;
    if cfg.int4_group_size == 0 {
        return Err(KernelsError::InvalidOption { field: "int4_group_size", reason: "must be at least 1".into() });
    }
    // Fail before minutes of training, not after.
    if opts.out_dir.exists() && !opts.overwrite {
        return Err(KernelsError::OutputExists(opts.out_dir.clone()));
    }
    opts.out_dir.file_name().ok_or_else(|| KernelsError::InvalidOption {
        field: "out_dir",
        reason: format!("{} has no final component", opts.out_dir.display()),
    })?;
    let parent = match opts.out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "the parent directory does not exist");
        return Err(KernelsError::Io { path: parent, source });
    }

    let mut st = Stages { progress, times: Vec::new(), current: None };
    st.start("data");
    let data = Dataset::split(&RawData::wine_quality(), opts.seed)?;
    let (x, y) = (&data.test.x, &data.test.y[..]);

    let (teacher, teacher_rec) =
        st.train("teacher", "teacher", &data, &cfg.teacher, Objective::HardLabels, opts.seed)?;
    let teacher_train_logits = teacher.logits_chunked(&data.train.x, 256);
    // Both students share the `student` streams: same initialization, same batch order; only the
    // objective differs, so the comparison isolates distillation.
    let objective = Objective::Distill { teacher_logits: &teacher_train_logits, config: cfg.distill };
    let (student, student_rec) = st.train("student", "student", &data, &cfg.student, objective, opts.seed)?;
    let (hard, hard_rec) =
        st.train("student-hard", "student", &data, &cfg.student, Objective::HardLabels, opts.seed)?;

    st.start("quantize");
    let t_logits = teacher.logits_chunked(x, 256);
    let t_probs = softmax_rows(&t_logits, 1.0);
    let s_logits = student.logits_chunked(x, 256);
    let s_probs = softmax_rows(&s_logits, 1.0);
    let h_probs = hard.probabilities(x);
    let teacher_q = Int8Mlp::from_fp32(&teacher);
    let student_q = Int8Mlp::from_fp32(&student);
    let tq_logits = teacher_q.logits(x);
    let sq_logits = student_q.logits(x);
    let tq_probs = softmax_rows(&tq_logits, 1.0);
    let sq_probs = softmax_rows(&sq_logits, 1.0);

    let teacher_m = metrics(&t_probs, y, None);
    let student_m = metrics(&s_probs, y, Some(&t_probs));
    let hard_m = metrics(&h_probs, y, Some(&t_probs));
    let correct = |p: &DMatrix<f32>| eval::argmax_rows(p).iter().zip(y).map(|(a, b)| a == b).collect::<Vec<_>>();
    let distillation = DistillationReport::new(
        cfg.distill,
        teacher_m.accuracy,
        student_m.clone(),
        hard_m.clone(),
        &correct(&s_probs),
        &correct(&h_probs),
    );

    st.start("export");
    let version = format!("{}+{}", env!("CARGO_PKG_VERSION"), opts.preset.name());
    // Fields every card shares; each model below overrides what is its own.
    let base = ModelCard {
        schema: CARD_SCHEMA.into(),
        id: String::new(),
        name: String::new(),
        version: version.clone(),
        file: String::new(),
        precision: "fp32".into(),
        parent_id: None,
        relation: None,
        dataset_id: data.id.clone(),
        split_seed: data.split_seed,
        layers: Vec::new(),
        parameter_count: 0,
        weight_bytes: 0,
        training: None,
        quantization: None,
        metrics: teacher_m.clone(),
        created_by: opts.created_by.clone(),
    };
    let fp32 = |name: &str, m: &Mlp, training: TrainRecord, metrics: Metrics| ModelCard {
        name: name.into(),
        layers: m.sizes(),
        parameter_count: m.param_count(),
        weight_bytes: 4 * m.param_count(),
        training: Some(training),
        metrics,
        ..base.clone()
    };
    let int8 = |name: &str, q: &Int8Mlp, f: &Mlp, ql: &DMatrix<f32>, fl: &DMatrix<f32>, metrics: Metrics| ModelCard {
        name: name.into(),
        precision: "int8".into(),
        relation: Some("quantized-from".into()),
        layers: f.sizes(),
        parameter_count: f.param_count(),
        weight_bytes: q.weight_bytes(),
        quantization: Some(QuantizationRecord {
            scheme: "int8 weights (symmetric, per output channel, 7-bit range) x uint8 activations (dynamic, per \
                     tensor)"
                .into(),
            weight_range: [-WEIGHT_QMAX, WEIGHT_QMAX],
            weight_granularity: "per output channel".into(),
            activations: "uint8, asymmetric, per tensor, computed at run time (DynamicQuantizeLinear)".into(),
            tensors: q.tensor_errors(f),
            model: ModelError::measure(ql, fl, y),
        }),
        metrics,
        ..base.clone()
    };
    let meta = |name: &str, parent: Option<&str>| {
        let mut props = vec![
            ("servesim.model_name".to_string(), name.to_string()),
            ("servesim.dataset_id".to_string(), data.id.clone()),
            ("servesim.split_seed".to_string(), data.split_seed.to_string()),
            ("servesim.classes".to_string(), data.class_names.join(";")),
        ];
        if let Some(p) = parent {
            props.push(("servesim.parent_id".to_string(), p.to_string()));
        }
        ExportMeta {
            name: name.into(),
            version: version.clone(),
            doc: format!("servesim kernels: {name}, wine quality (red) in 3 classes; input = standardized features"),
            props,
        }
    };
    let mut cards: Vec<(ModelCard, Vec<u8>)> = Vec::new();
    // Sets the id (hash of the bytes) and file name, records the card, returns the id.
    let mut add = |card: ModelCard, bytes: Vec<u8>| {
        let card = ModelCard { id: model_id(&bytes), file: format!("{}.onnx", card.name), ..card };
        let id = card.id.clone();
        cards.push((card, bytes));
        id
    };

    let teacher_id = add(
        fp32("teacher-fp32", &teacher, teacher_rec, teacher_m.clone()),
        onnx::export_fp32(&teacher, &meta("teacher-fp32", None))?,
    );
    add(
        ModelCard {
            parent_id: Some(teacher_id.clone()),
            ..int8("teacher-int8", &teacher_q, &teacher, &tq_logits, &t_logits, metrics(&tq_probs, y, Some(&t_probs)))
        },
        onnx::export_int8(&teacher_q, &meta("teacher-int8", Some(&teacher_id)))?,
    );
    let student_id = add(
        ModelCard {
            parent_id: Some(teacher_id.clone()),
            relation: Some("distilled-from".into()),
            ..fp32("student-fp32", &student, student_rec, student_m)
        },
        onnx::export_fp32(&student, &meta("student-fp32", Some(&teacher_id)))?,
    );
    add(
        ModelCard {
            parent_id: Some(student_id.clone()),
            ..int8("student-int8", &student_q, &student, &sq_logits, &s_logits, metrics(&sq_probs, y, Some(&t_probs)))
        },
        onnx::export_int8(&student_q, &meta("student-int8", Some(&student_id)))?,
    );
    add(
        fp32("student-hard-fp32", &hard, hard_rec, hard_m),
        onnx::export_fp32(&hard, &meta("student-hard-fp32", None))?,
    );

    let int4_model = |name: &str, id: &str, m: &Mlp, fl: &DMatrix<f32>| {
        let q = Int4Mlp::from_fp32(m, cfg.int4_group_size);
        Int4ModelReport {
            source: name.into(),
            source_id: id.into(),
            weight_bytes: q.weight_bytes(),
            fp32_weight_bytes: 4 * m.param_count(),
            tensors: q.tensor_errors(m),
            model: ModelError::measure(&q.dequantized().logits_chunked(x, 256), fl, y),
        }
    };
    let int4 = Int4Report {
        scheme: format!(
            "int4 weight-only, symmetric [-{q}, {q}], one fp32 scale per {g} consecutive inputs of an output \
             channel, two values per byte; dequantized reference forward pass, no ONNX export",
            q = int4::QMAX,
            g = cfg.int4_group_size
        ),
        group_size: cfg.int4_group_size,
        models: vec![
            int4_model("teacher-fp32", &teacher_id, &teacher, &t_logits),
            int4_model("student-fp32", &student_id, &student, &s_logits),
        ],
    };

    st.start("write");
    let staged =
        StagedDir::new(&opts.out_dir).map_err(|source| KernelsError::Io { path: parent.to_path_buf(), source })?;
    let tmp = staged.path().to_path_buf();
    for (card, bytes) in &cards {
        write(&tmp, &card.file, bytes)?;
        write(&tmp, &format!("{}.card.json", card.name), &json(card)?)?;
    }
    write(&tmp, "dataset.json", &json(&data.info())?)?;
    write(&tmp, crate::split::FILE, data.test_csv().as_bytes())?;
    write(&tmp, "int4_preview.json", &json(&int4)?)?;
    let index = Index {
        schema: "servesim.kernels-index/1".into(),
        preset: opts.preset.name().into(),
        seed: opts.seed,
        dataset_id: data.id.clone(),
        dataset_file: "dataset.json".into(),
        test_split_file: crate::split::FILE.into(),
        int4_preview_file: "int4_preview.json".into(),
        created_by: opts.created_by.clone(),
        models: cards.iter().map(|(c, _)| IndexEntry::from(c)).collect(),
        distillation: distillation.clone(),
    };
    write(&tmp, "index.json", &json(&index)?)?;
    staged.publish(opts.overwrite).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => KernelsError::OutputExists(opts.out_dir.clone()),
        _ => KernelsError::Io { path: opts.out_dir.clone(), source },
    })?;
    st.finish();

    Ok(BuildReport {
        out_dir: opts.out_dir.clone(),
        dataset_id: data.id.clone(),
        models: cards.into_iter().map(|(card, _)| BuiltModel { path: opts.out_dir.join(&card.file), card }).collect(),
        distillation,
        int4,
        stage_seconds: st.times,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(hidden: &[usize]) -> usize {
        let mut sizes = vec![11];
        sizes.extend(hidden);
        sizes.push(3);
        sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    #[test]
    fn presets_have_the_promised_sizes() {
        for preset in [Preset::Tiny, Preset::Course] {
            let cfg = preset.config();
            let (t, s) = (params(&cfg.teacher.hidden), params(&cfg.student.hidden));
            assert!(t >= 10 * s, "{preset}: teacher {t}, student {s}");
            cfg.teacher.validate().unwrap();
            cfg.student.validate().unwrap();
        }
        let course = params(&Preset::Course.config().teacher.hidden);
        assert!(course >= 16_000_000, "{course}");
        assert_eq!(course, 16_842_755);
    }

    #[test]
    fn presets_parse_by_name() {
        assert_eq!("course".parse::<Preset>().unwrap(), Preset::Course);
        assert_eq!(Preset::Tiny.to_string().parse::<Preset>().unwrap(), Preset::Tiny);
        let err = "huge".parse::<Preset>().unwrap_err();
        assert!(matches!(err, KernelsError::InvalidOption { field: "preset", .. }), "{err}");
    }
}
