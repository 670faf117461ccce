//! Times a full build: `cargo run --release -p kernels --example build_course -- [OUT_DIR] [PRESET] [SEED]`.
//!
//! Defaults: `target/kernels-course`, preset `course`, seed 42. Prints each epoch, the stage
//! times and the headline metrics; the output directory is replaced if it exists.

use std::time::Instant;

use kernels::{BuildOptions, Preset, Progress, build};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out_dir = args.next().unwrap_or_else(|| "target/kernels-course".into());
    let preset: Preset = args.next().as_deref().unwrap_or("course").parse()?;
    let seed: u64 = args.next().as_deref().unwrap_or("42").parse()?;
    let opts = BuildOptions {
        out_dir: out_dir.into(),
        preset,
        seed,
        created_by: format!("kernels example {}", env!("CARGO_PKG_VERSION")),
        overwrite: true,
    };
    let t0 = Instant::now();
    let report = build(&opts, &mut |p| match p {
        Progress::Stage(s) => eprintln!("[{:7.1} s] stage {s}", t0.elapsed().as_secs_f64()),
        Progress::Epoch { model, max_epochs, stats } => eprintln!(
            "[{:7.1} s] {model} epoch {}/{max_epochs}: train {:.4}, val loss {:.4}, val acc {:.4}",
            t0.elapsed().as_secs_f64(),
            stats.epoch,
            stats.train_loss,
            stats.val_loss,
            stats.val_accuracy
        ),
    })?;
    println!("preset {preset}, seed {seed}: total {:.1} s", t0.elapsed().as_secs_f64());
    for (stage, secs) in &report.stage_seconds {
        println!("  {stage:<13} {secs:8.1} s");
    }
    for m in &report.models {
        let c = &m.card;
        println!(
            "  {:<18} params {:>10}  bytes {:>10}  acc {:.4}  agree {}  kl {}",
            c.name,
            c.parameter_count,
            c.weight_bytes,
            c.metrics.accuracy,
            c.metrics.agreement_with_teacher.map_or("-".into(), |v| format!("{v:.4}")),
            c.metrics.kl_to_teacher.map_or("-".into(), |v| format!("{v:.4}")),
        );
        if let Some(q) = &c.quantization {
            println!(
                "      int8 vs fp32: max|dlogit| {:.4}  max|dp| {:.4}  top1 agree {:.4}  acc delta {:+.4}  sqnr {:?}",
                q.model.max_abs_logit_error,
                q.model.max_abs_probability_error,
                q.model.top1_agreement_with_fp32,
                q.model.accuracy_delta,
                q.tensors.iter().map(|t| format!("{:.1}", t.sqnr_db)).collect::<Vec<_>>()
            );
        }
    }
    for m in &report.int4.models {
        println!(
            "  int4 {:<13} bytes {:>10}  max|dlogit| {:.4}  top1 agree {:.4}  acc delta {:+.4}",
            m.source,
            m.weight_bytes,
            m.model.max_abs_logit_error,
            m.model.top1_agreement_with_fp32,
            m.model.accuracy_delta
        );
    }
    println!("  distillation: {}", report.distillation.verdict);
    Ok(())
}
