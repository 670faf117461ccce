//! `test_split.csv`: the test examples a model directory ships, written by `build` and read by
//! the replay harness. This module owns the format both ways.
//!
//! One header line `row,<feature names with spaces as _>,label`, then one line per example: its
//! row index in the source data, the standardized features as `f32` in Rust's shortest
//! round-trip text, and the class label.

use crate::KernelsError;
use std::path::Path;

/// The file name inside a model directory.
pub const FILE: &str = "test_split.csv";

/// The test split: standardized features and labels, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct TestSplit {
    /// Column names of the features, as written in the header (no spaces).
    pub feature_names: Vec<String>,
    /// Each example's row index in the source data.
    pub source_rows: Vec<usize>,
    /// Features per row.
    pub features: usize,
    /// Row-major features, `rows × features`.
    pub x: Vec<f32>,
    /// Class label of each row.
    pub labels: Vec<u32>,
}

impl TestSplit {
    /// The CSV text (see the module docs).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("row");
        for name in &self.feature_names {
            out.push(',');
            out.push_str(&name.replace(' ', "_"));
        }
        out.push_str(",label\n");
        for i in 0..self.rows() {
            out.push_str(&self.source_rows[i].to_string());
            for v in self.row(i) {
                out.push(',');
                out.push_str(&v.to_string());
            }
            out.push(',');
            out.push_str(&self.labels[i].to_string());
            out.push('\n');
        }
        out
    }

    /// Parses the CSV text; errors name the line.
    pub fn parse(text: &str) -> Result<TestSplit, String> {
        let mut lines = text.lines();
        let header = lines.next().ok_or("empty file")?;
        let names: Vec<&str> = header.split(',').collect();
        let cols = names.len();
        if cols < 3 {
            return Err("header needs `row`, at least one feature and `label`".into());
        }
        let features = cols - 2;
        let (mut source_rows, mut x, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for (i, line) in lines.enumerate() {
            let v: Vec<&str> = line.split(',').collect();
            let bad = |what: &str| format!("line {}: {what}", i + 2);
            if v.len() != cols {
                return Err(bad(&format!("{} fields, expected {cols}", v.len())));
            }
            source_rows.push(v[0].parse::<usize>().map_err(|_| bad("row is not a row index"))?);
            for s in &v[1..cols - 1] {
                x.push(s.parse::<f32>().map_err(|_| bad(&format!("`{s}` is not a number")))?);
            }
            labels.push(v[cols - 1].parse::<u32>().map_err(|_| bad("label is not a class index"))?);
        }
        if labels.is_empty() {
            return Err("no rows".into());
        }
        let feature_names = names[1..cols - 1].iter().map(|s| s.to_string()).collect();
        Ok(TestSplit { feature_names, source_rows, features, x, labels })
    }

    /// Reads `dir/test_split.csv`.
    pub fn load(dir: &Path) -> Result<TestSplit, KernelsError> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| KernelsError::Io { path: path.clone(), source })?;
        TestSplit::parse(&text).map_err(|message| KernelsError::Split { path, message })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.features..(i + 1) * self.features]
    }

    /// The row a request uses: its id modulo the number of rows.
    pub fn row_of(&self, request_id: u64) -> usize {
        (request_id % self.rows() as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_byte_for_byte() {
        let text = "row,fixed_acidity,pH,label\n7,0.1,-1.25,2\n3,0.0000001,-0,0\n";
        let s = TestSplit::parse(text).unwrap();
        assert_eq!((s.rows(), s.features), (2, 2));
        assert_eq!(s.row(1), [1e-7, -0.0]);
        assert_eq!(s.source_rows, [7, 3]);
        assert_eq!(s.to_csv(), text);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(TestSplit::parse("").unwrap_err(), "empty file");
        assert!(TestSplit::parse("row,label\n").unwrap_err().contains("header"));
        assert_eq!(TestSplit::parse("row,a,label\n").unwrap_err(), "no rows");
        assert_eq!(TestSplit::parse("row,a,label\n0,1,0\n1,x,0\n").unwrap_err(), "line 3: `x` is not a number");
        assert_eq!(TestSplit::parse("row,a,label\n0,1\n").unwrap_err(), "line 2: 2 fields, expected 3");
        assert_eq!(TestSplit::parse("row,a,label\n0,1,-1\n").unwrap_err(), "line 2: label is not a class index");
    }
}
