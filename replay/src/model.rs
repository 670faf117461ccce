//! Models on ONNX Runtime: a model directory (as `kernels::build` writes it), its test split, and
//! one session per model file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::{ReplayError, runtime};

pub use kernels::split::TestSplit;

/// Reads a model directory's `test_split.csv` (the format is `kernels::split`'s).
pub fn load_split(dir: &Path) -> Result<TestSplit, ReplayError> {
    TestSplit::load(dir).map_err(|e| match e {
        kernels::KernelsError::Io { path, source } => ReplayError::model(&path, format!("cannot read: {source}")),
        kernels::KernelsError::Split { path, message } => ReplayError::model(&path, message),
        other => ReplayError::model(dir.join(kernels::split::FILE), other.to_string()),
    })
}

/// One model file of a directory and its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFile {
    /// Model (variant) name, the file stem: `teacher-int8`.
    pub name: String,
    /// The `.onnx` file.
    pub path: PathBuf,
    /// Model id: `mdl-` + hex SHA-256 of the file's bytes (what the card records).
    pub id: String,
}

impl ModelFile {
    /// Finds `dir/<name>.onnx`, computes its id and checks it against `dir/<name>.card.json` if
    /// the card exists.
    pub fn find(dir: &Path, name: &str) -> Result<ModelFile, ReplayError> {
        if !dir.is_dir() {
            return Err(ReplayError::model(dir, "not a model directory (build one with `servesim models build`)"));
        }
        let path = dir.join(format!("{name}.onnx"));
        let bytes = std::fs::read(&path).map_err(|e| {
            let have = available(dir);
            ReplayError::model(&path, format!("cannot read model `{name}`: {e} (models in the directory: {have})"))
        })?;
        let id: String = artifact::IdKind::Model.of(&bytes).into();
        let card = dir.join(format!("{name}.card.json"));
        if card.exists() {
            let card_id = card_id(&card)?;
            if card_id != id {
                return Err(ReplayError::model(
                    &path,
                    format!(
                        "its hash is {id} but {} says {card_id}: the file was changed after it was built",
                        card.display()
                    ),
                ));
            }
        }
        Ok(ModelFile { name: name.to_string(), path, id })
    }
}

/// The `id` field of a model card (read as `kernels::card::ModelCard`, the type `build` writes).
pub fn card_id(card: &Path) -> Result<String, ReplayError> {
    let text = std::fs::read_to_string(card).map_err(|e| ReplayError::model(card, format!("cannot read: {e}")))?;
    let card_data: kernels::card::ModelCard =
        serde_json::from_str(&text).map_err(|e| ReplayError::model(card, format!("not a model card: {e}")))?;
    Ok(card_data.id)
}

/// Model names (`.onnx` stems) in `dir`, comma-separated, sorted.
pub fn available(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".onnx").map(str::to_string)).collect())
        .unwrap_or_default();
    names.sort();
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}

/// An ONNX Runtime session over one model file.
pub struct OrtModel {
    session: Session,
    name: String,
    features: usize,
    classes: usize,
    prob_output: usize,
    logits_output: Option<usize>,
}

impl std::fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtModel").field("name", &self.name).field("features", &self.features).finish()
    }
}

/// What a batch run returns.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchOutput {
    /// Row-major class probabilities, `n × classes`.
    pub probabilities: Vec<f32>,
    /// Row-major logits, if the model has a `logits` output.
    pub logits: Option<Vec<f32>>,
    /// Classes per row.
    pub classes: usize,
}

impl BatchOutput {
    /// The probability of each row's predicted class (its largest output): the model's
    /// confidence, which a cascade compares with its threshold.
    pub fn top_probability(&self) -> Vec<f32> {
        self.probabilities.chunks(self.classes).map(|r| r.iter().copied().fold(f32::NEG_INFINITY, f32::max)).collect()
    }

    /// The predicted class of each row (first maximum).
    pub fn argmax(&self) -> Vec<u32> {
        self.probabilities
            .chunks(self.classes)
            .map(|r| {
                let mut best = 0;
                for (i, &p) in r.iter().enumerate() {
                    if p > r[best] {
                        best = i;
                    }
                }
                best as u32
            })
            .collect()
    }
}

impl OrtModel {
    /// Opens a session over `file` with `threads` intra-op threads (sequential execution, no
    /// spinning: idle sessions must not steal the release thread's core). Checks the model
    /// takes `features` floats per row (when `Some`).
    pub fn load(file: &ModelFile, threads: usize, features: Option<usize>) -> Result<OrtModel, ReplayError> {
        let env = runtime::environment()?;
        let path = &file.path;
        if threads == 0 {
            return Err(ReplayError::Argument("intra-op threads must be at least 1".into()));
        }
        let fail = |e: String| ReplayError::model(path, format!("ONNX Runtime cannot load it: {e}"));
        let mut builder = Session::builder(env)
            .map_err(|e| fail(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| fail(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| fail(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| fail(e.to_string()))?
            .with_intra_op_spinning(false)
            .map_err(|e| fail(e.to_string()))?;
        let session = builder.commit_from_file(path).map_err(|e| fail(e.to_string()))?;
        if session.inputs().len() != 1 {
            return Err(ReplayError::model(path, format!("expects one input, has {}", session.inputs().len())));
        }
        let shape = session.inputs()[0].dtype().tensor_shape().map(|s| s.to_vec());
        let width = match shape.as_deref() {
            Some([_, w]) if *w > 0 => *w as usize,
            other => {
                return Err(ReplayError::model(
                    path,
                    format!("input must be a float matrix [N, F], has shape {other:?}"),
                ));
            }
        };
        if let Some(f) = features
            && f != width
        {
            return Err(ReplayError::model(
                path,
                format!("input width {width} does not match the test split's {f} features"),
            ));
        }
        let out_index = |name: &str| session.outputs().iter().position(|o| o.name() == name);
        let prob_output = out_index("probabilities").unwrap_or(0);
        let classes = match session.outputs()[prob_output].dtype().tensor_shape().map(|s| s.to_vec()).as_deref() {
            Some([_, c]) if *c > 0 => *c as usize,
            other => return Err(ReplayError::model(path, format!("output must be [N, classes], has {other:?}"))),
        };
        let logits_output = out_index("logits");
        Ok(OrtModel { session, name: file.name.clone(), features: width, classes, prob_output, logits_output })
    }

    /// Model name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input width.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Runs a batch of `x.len() / features` rows.
    pub fn run(&mut self, x: &[f32]) -> Result<BatchOutput, ReplayError> {
        let n = x.len() / self.features;
        let fail = |e: ort::Error| ReplayError::Inference { model: self.name.clone(), reason: e.to_string() };
        let input = TensorRef::from_array_view(([n, self.features], x)).map_err(fail)?;
        let outputs = self
            .session
            .run(ort::inputs![input])
            .map_err(|e| ReplayError::Inference { model: self.name.clone(), reason: e.to_string() })?;
        let extract = |i: usize| -> Result<Vec<f32>, ReplayError> {
            let (_, data) = outputs[i]
                .try_extract_tensor::<f32>()
                .map_err(|e| ReplayError::Inference { model: self.name.clone(), reason: e.to_string() })?;
            Ok(data.to_vec())
        };
        let probabilities = extract(self.prob_output)?;
        let logits = self.logits_output.map(extract).transpose()?;
        Ok(BatchOutput { probabilities, logits, classes: self.classes })
    }

    /// Runs each batch size `repeats` times on rows of `split` (the first runs of a size are
    /// slower: allocations, kernel selection).
    pub fn warm_up(&mut self, split: &TestSplit, sizes: &[usize], repeats: usize) -> Result<(), ReplayError> {
        for &b in sizes {
            let x = batch_input(split, (0..b as u64).collect::<Vec<_>>().as_slice());
            for _ in 0..repeats {
                self.run(&x)?;
            }
        }
        Ok(())
    }

    /// Times one run of `x`, seconds.
    pub fn time_run(&mut self, x: &[f32]) -> Result<f64, ReplayError> {
        let t = Instant::now();
        self.run(x)?;
        Ok(t.elapsed().as_secs_f64())
    }
}

/// The input of a batch: the rows of `split` that the requests `ids` use, concatenated.
pub fn batch_input(split: &TestSplit, ids: &[u64]) -> Vec<f32> {
    let mut x = Vec::with_capacity(ids.len() * split.features);
    for &id in ids {
        x.extend_from_slice(split.row(split.row_of(id)));
    }
    x
}
