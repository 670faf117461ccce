//! The dataset: red wine quality (UCI, Cortez et al. 2009), as embedded in `linfa-datasets`.
//!
//! 1,599 wines, 11 physico-chemical features, a sensory quality score 3..8. The score is
//! bucketed into three classes ([`CLASS_NAMES`]): the raw labels are too unbalanced (scores 3 and
//! 8 have 10 and 18 wines) for a 15 % test split to score them meaningfully. The split is a
//! seeded shuffle (70/15/15); features are standardized with the training split's mean and
//! (population) standard deviation.

use artifact::IdKind;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::KernelsError;
use crate::split::TestSplit;

/// Feature names, in column order.
pub const FEATURE_NAMES: [&str; 11] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];

/// Class names: quality ≤ 5, quality 6, quality ≥ 7.
pub const CLASS_NAMES: [&str; 3] = ["low (quality <= 5)", "medium (quality 6)", "high (quality >= 7)"];

/// The class of a wine quality score.
pub fn quality_class(quality: usize) -> usize {
    match quality {
        0..=5 => 0,
        6 => 1,
        _ => 2,
    }
}

/// Shares of the rows that go to the training and validation splits; the test split gets the rest.
pub const SPLIT_FRACTIONS: (f64, f64) = (0.70, 0.15);

/// Raw rows before splitting: features and class labels, in the source's row order.
#[derive(Debug, Clone)]
pub struct RawData {
    /// Source name, for `dataset.json`.
    pub source: String,
    /// Feature names, one per column.
    pub feature_names: Vec<String>,
    /// Class names, one per label value.
    pub class_names: Vec<String>,
    /// Row-major features, `rows × feature_names.len()`.
    pub features: Vec<f32>,
    /// One class label per row.
    pub labels: Vec<usize>,
}

impl RawData {
    /// The red wine quality data embedded in `linfa-datasets`, labels bucketed by [`quality_class`].
    pub fn wine_quality() -> RawData {
        let ds = linfa_datasets::winequality();
        let (rows, cols) = (ds.records.nrows(), ds.records.ncols());
        let mut features = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                features.push(ds.records[[r, c]] as f32);
            }
        }
        RawData {
            source: "UCI wine quality (red), Cortez et al. 2009, via the linfa-datasets crate".into(),
            feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            class_names: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
            features,
            labels: ds.targets.iter().map(|&q| quality_class(q)).collect(),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The content id: `ds-` + hex SHA-256 over the canonical bytes (a version tag, the shape as
    /// u64 LE, the row-major features as f32 LE, the labels as u32 LE).
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"servesim-dataset-v1\0");
        h.update((self.rows() as u64).to_le_bytes());
        h.update((self.feature_names.len() as u64).to_le_bytes());
        for v in &self.features {
            h.update(v.to_le_bytes());
        }
        for &l in &self.labels {
            h.update((l as u32).to_le_bytes());
        }
        IdKind::Dataset.from_digest(&h.finalize()).into()
    }
}

/// One split: standardized features (`rows × features`) and labels.
#[derive(Debug, Clone)]
pub struct Split {
    /// Standardized features, one row per example.
    pub x: DMatrix<f32>,
    /// Class labels.
    pub y: Vec<usize>,
    /// Each example's row index in the source data.
    pub rows: Vec<usize>,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The examples at `idx` (in that order).
    pub fn select(&self, idx: &[usize]) -> (DMatrix<f32>, Vec<usize>) {
        let x = DMatrix::from_fn(idx.len(), self.x.ncols(), |r, c| self.x[(idx[r], c)]);
        (x, idx.iter().map(|&i| self.y[i]).collect())
    }
}

/// A split, standardized dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Content id of the raw data (see [`RawData::id`]).
    pub id: String,
    /// The seed the split was drawn with.
    pub split_seed: u64,
    /// Source description.
    pub source: String,
    /// Feature names.
    pub feature_names: Vec<String>,
    /// Class names.
    pub class_names: Vec<String>,
    /// Training-split mean per feature.
    pub mean: Vec<f32>,
    /// Training-split population standard deviation per feature (1 where it is 0).
    pub std: Vec<f32>,
    /// Training split.
    pub train: Split,
    /// Validation split (early stopping).
    pub val: Split,
    /// Test split (every reported metric).
    pub test: Split,
}

impl Dataset {
    /// Splits and standardizes `raw` with a shuffle drawn from `seed`.
    pub fn split(raw: &RawData, seed: u64) -> Result<Dataset, KernelsError> {
        let n = raw.rows();
        let f = raw.feature_names.len();
        if f == 0 || raw.features.len() != n * f {
            return Err(KernelsError::Dataset(format!("{} values for {n} rows × {f} features", raw.features.len())));
        }
        if let Some(&bad) = raw.labels.iter().find(|&&l| l >= raw.class_names.len()) {
            return Err(KernelsError::Dataset(format!("label {bad} but only {} classes", raw.class_names.len())));
        }
        let n_train = (n as f64 * SPLIT_FRACTIONS.0).floor() as usize;
        let n_val = (n as f64 * SPLIT_FRACTIONS.1).floor() as usize;
        if n_train == 0 || n_val == 0 || n_train + n_val >= n {
            return Err(KernelsError::Dataset(format!("{n} rows are too few for a 70/15/15 split")));
        }
        let mut order: Vec<usize> = (0..n).collect();
        crate::rng::shuffle(&mut order, &mut crate::rng::stream(seed, "kernels/split"));
        let (train_rows, rest) = order.split_at(n_train);
        let (val_rows, test_rows) = rest.split_at(n_val);

        let mut mean = vec![0f64; f];
        let mut var = vec![0f64; f];
        for &r in train_rows {
            for (m, v) in mean.iter_mut().zip(&raw.features[r * f..(r + 1) * f]) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n_train as f64);
        for &r in train_rows {
            for ((s, v), m) in var.iter_mut().zip(&raw.features[r * f..(r + 1) * f]).zip(&mean) {
                *s += (*v as f64 - m).powi(2);
            }
        }
        let std: Vec<f32> = var
            .iter()
            .map(|v| {
                let s = (v / n_train as f64).sqrt() as f32;
                if s > 0.0 { s } else { 1.0 }
            })
            .collect();
        let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let make = |rows: &[usize]| Split {
            x: DMatrix::from_fn(rows.len(), f, |i, c| (raw.features[rows[i] * f + c] - mean[c]) / std[c]),
            y: rows.iter().map(|&r| raw.labels[r]).collect(),
            rows: rows.to_vec(),
        };
        Ok(Dataset {
            id: raw.id(),
            split_seed: seed,
            source: raw.source.clone(),
            feature_names: raw.feature_names.clone(),
            class_names: raw.class_names.clone(),
            train: make(train_rows),
            val: make(val_rows),
            test: make(test_rows),
            mean,
            std,
        })
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The share of the test split in its most frequent class: the accuracy of always guessing it.
    pub fn test_majority_rate(&self) -> f64 {
        let mut counts = vec![0usize; self.n_classes()];
        self.test.y.iter().for_each(|&y| counts[y] += 1);
        *counts.iter().max().unwrap_or(&0) as f64 / self.test.len().max(1) as f64
    }

    /// The description written to `dataset.json`.
    pub fn info(&self) -> DatasetInfo {
        let counts = |s: &Split| {
            let mut c = vec![0usize; self.n_classes()];
            s.y.iter().for_each(|&y| c[y] += 1);
            c
        };
        DatasetInfo {
            id: self.id.clone(),
            source: self.source.clone(),
            feature_names: self.feature_names.clone(),
            class_names: self.class_names.clone(),
            split_seed: self.split_seed,
            split_fractions: [SPLIT_FRACTIONS.0, SPLIT_FRACTIONS.1, 1.0 - SPLIT_FRACTIONS.0 - SPLIT_FRACTIONS.1],
            split_sizes: SplitSizes { train: self.train.len(), val: self.val.len(), test: self.test.len() },
            class_counts: SplitCounts { train: counts(&self.train), val: counts(&self.val), test: counts(&self.test) },
            standardization: Standardization { mean: self.mean.clone(), std: self.std.clone() },
            test_rows: self.test.rows.clone(),
        }
    }

    /// The test split as CSV: `row`, the standardized features (f32, shortest exact text), `label`.
    pub fn test_csv(&self) -> String {
        self.test_split().to_csv()
    }

    /// The test split as `test_split.csv` holds it ([`crate::split`]).
    pub fn test_split(&self) -> TestSplit {
        let features = self.n_features();
        TestSplit {
            feature_names: self.feature_names.iter().map(|n| n.replace(" ", "_")).collect(),
            source_rows: self.test.rows.clone(),
            features,
            x: (0..self.test.len())
                .flat_map(|i| (0..features).map(move |c| (i, c)))
                .map(|ix| self.test.x[ix])
                .collect(),
            labels: self.test.y.iter().map(|&y| y as u32).collect(),
        }
    }
}

/// `dataset.json`: what the replay harness and the cards need to know about the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Content id of the raw data.
    pub id: String,
    /// Where the data comes from.
    pub source: String,
    /// Feature names, in the models' input order.
    pub feature_names: Vec<String>,
    /// Class names, in the models' output order.
    pub class_names: Vec<String>,
    /// The split seed.
    pub split_seed: u64,
    /// Train, validation and test shares.
    pub split_fractions: [f64; 3],
    /// Rows per split.
    pub split_sizes: SplitSizes,
    /// Rows per class, per split.
    pub class_counts: SplitCounts,
    /// The standardization applied to every split (`(x - mean) / std`, training statistics).
    pub standardization: Standardization,
    /// Source row index of each test example, in `test_split.csv` order.
    pub test_rows: Vec<usize>,
}

/// Rows per split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitSizes {
    /// Training rows.
    pub train: usize,
    /// Validation rows.
    pub val: usize,
    /// Test rows.
    pub test: usize,
}

/// Class counts per split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitCounts {
    /// Training split.
    pub train: Vec<usize>,
    /// Validation split.
    pub val: Vec<usize>,
    /// Test split.
    pub test: Vec<usize>,
}

/// Per-feature standardization statistics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Standardization {
    /// Training mean.
    pub mean: Vec<f32>,
    /// Training population standard deviation.
    pub std: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wine_quality_has_the_documented_shape_and_classes() {
        let raw = RawData::wine_quality();
        assert_eq!(raw.rows(), 1599);
        assert_eq!(raw.features.len(), 1599 * 11);
        let mut counts = [0; 3];
        raw.labels.iter().for_each(|&l| counts[l] += 1);
        // UCI counts: scores 3..5 = 10 + 53 + 681, 6 = 638, 7..8 = 199 + 18.
        assert_eq!(counts, [744, 638, 217]);
        assert!(raw.id().starts_with("ds-") && raw.id().len() == 3 + 64);
    }

    #[test]
    fn split_is_a_seeded_partition_with_train_statistics() {
        let raw = RawData::wine_quality();
        let a = Dataset::split(&raw, 7).unwrap();
        let b = Dataset::split(&raw, 7).unwrap();
        let c = Dataset::split(&raw, 8).unwrap();
        assert_eq!(a.test.rows, b.test.rows);
        assert_ne!(a.test.rows, c.test.rows);
        assert_eq!((a.train.len(), a.val.len(), a.test.len()), (1119, 239, 241));
        let mut all: Vec<usize> = [&a.train.rows[..], &a.val.rows[..], &a.test.rows[..]].concat();
        all.sort_unstable();
        assert_eq!(all, (0..1599).collect::<Vec<_>>());
        for col in 0..11 {
            let column = a.train.x.column(col);
            let mean = column.mean();
            let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / column.len() as f32;
            assert!(mean.abs() < 1e-4, "feature {col} mean {mean}");
            assert!((var - 1.0).abs() < 1e-3, "feature {col} variance {var}");
        }
        assert_eq!(a.id, c.id, "the id names the data, not the split");
    }

    /// `test_split.csv` read back (as the replay harness reads it) is the split, bit for bit, and
    /// writes the same bytes again.
    #[test]
    fn the_test_split_file_reads_back_exactly() {
        let d = Dataset::split(&RawData::wine_quality(), 7).unwrap();
        let csv = d.test_csv();
        let back = TestSplit::parse(&csv).unwrap();
        let split = d.test_split();
        assert_eq!(back.feature_names, split.feature_names);
        assert_eq!(back.source_rows, split.source_rows);
        assert_eq!(back.labels, split.labels);
        assert!(back.x.iter().zip(&split.x).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!((back.rows(), back.features), (241, 11));
        assert_eq!(back.row(5)[3].to_bits(), d.test.x[(5, 3)].to_bits());
        assert_eq!(back.labels[7] as usize, d.test.y[7]);
        assert_eq!(back.to_csv(), csv);
    }

    #[test]
    fn bad_raw_data_is_an_error_not_a_panic() {
        let raw = RawData {
            source: "test".into(),
            feature_names: vec!["a".into()],
            class_names: vec!["x".into(), "y".into()],
            features: vec![1.0, 2.0, 3.0],
            labels: vec![0, 1, 0],
        };
        assert!(matches!(Dataset::split(&raw, 1), Err(KernelsError::Dataset(m)) if m.contains("too few")));
        let mut bad = raw.clone();
        bad.labels[1] = 2;
        assert!(matches!(Dataset::split(&bad, 1), Err(KernelsError::Dataset(m)) if m.contains("label 2")));
        let mut bad = raw;
        bad.features.pop();
        assert!(Dataset::split(&bad, 1).is_err());
    }

    #[test]
    fn id_changes_with_any_value() {
        let raw = RawData::wine_quality();
        let mut other = raw.clone();
        other.features[5] += 0.001;
        assert_ne!(raw.id(), other.id());
        let mut other = raw.clone();
        other.labels[0] = (other.labels[0] + 1) % 3;
        assert_ne!(raw.id(), other.id());
    }
}
