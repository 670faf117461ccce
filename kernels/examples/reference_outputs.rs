//! Writes the Rust reference logits of every model in a build output directory, for comparing
//! against another runtime (e.g. ONNX Runtime):
//! `cargo run --release -p kernels --example reference_outputs -- OUT_DIR REF_DIR`.
//!
//! For each `<name>.onnx` it writes `REF_DIR/<name>.batch.csv` (the whole test split as one
//! batch) and `REF_DIR/<name>.single.csv` (one example per call): one row of logits per example.

use std::fs;

use kernels::onnx::{Imported, import};
use nalgebra::DMatrix;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (out_dir, ref_dir) = (args.next().ok_or("OUT_DIR missing")?, args.next().ok_or("REF_DIR missing")?);
    let csv = fs::read_to_string(format!("{out_dir}/test_split.csv"))?;
    let rows: Vec<Vec<f32>> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            v[1..v.len() - 1].iter().map(|s| s.parse().unwrap()).collect()
        })
        .collect();
    let x = DMatrix::from_fn(rows.len(), rows[0].len(), |r, c| rows[r][c]);
    fs::create_dir_all(&ref_dir)?;
    let mut names: Vec<String> = fs::read_dir(&out_dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".onnx").map(str::to_string))
        .collect();
    names.sort();
    for name in names {
        let model = import(&fs::read(format!("{out_dir}/{name}.onnx"))?)?;
        let logits = |x: &DMatrix<f32>| match &model {
            Imported::Fp32(m) => m.logits(x),
            Imported::Int8(m) => m.logits(x),
        };
        let text = |m: &DMatrix<f32>| {
            (0..m.nrows())
                .map(|r| m.row(r).iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + "\n")
                .collect::<String>()
        };
        fs::write(format!("{ref_dir}/{name}.batch.csv"), text(&logits(&x)))?;
        let single: Vec<DMatrix<f32>> = (0..x.nrows()).map(|r| logits(&x.rows(r, 1).clone_owned())).collect();
        let single = DMatrix::from_fn(x.nrows(), single[0].ncols(), |r, c| single[r][(0, c)]);
        fs::write(format!("{ref_dir}/{name}.single.csv"), text(&single))?;
        println!("{name}: {} examples", x.nrows());
    }
    Ok(())
}
