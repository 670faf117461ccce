//! `servesim models build`: the real models of the quantization and distillation previews.

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kernels::{BuildOptions, KernelsError, Preset, Progress};
use servesim::error::input;
use servesim::rundir::code_version;
use std::path::PathBuf;

/// Build, quantize and export the course models.
#[derive(Debug, Subcommand)]
pub enum ModelsCmd {
    /// Train teacher and students, distil, quantize to int8 (and preview int4), export ONNX and cards.
    Build(BuildArgs),
}

/// `models build`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim models build                          # the course preset into ./models/ (about 2 minutes in release)
  servesim models build --preset tiny --out /tmp/models --seed 7

Writes OUT/ with <name>.onnx and <name>.card.json for teacher-fp32, teacher-int8, student-fp32,
student-int8 and student-hard-fp32, plus dataset.json, the test split, int4_preview.json,
distillation.json and index.json. Same seed, same bytes and model ids.")]
pub struct BuildArgs {
    /// Output directory (must not exist unless --overwrite).
    #[arg(long, short = 'o', default_value = "models", value_name = "DIR")]
    pub out: PathBuf,
    /// `tiny` (seconds, for tests) or `course` (a 16.8 M-parameter teacher).
    #[arg(long, default_value = "course")]
    pub preset: String,
    /// The one seed (split, initialization, batch order).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Replace an existing output directory once the new one is complete.
    #[arg(long)]
    pub overwrite: bool,
}

/// Runs the command.
pub fn run(cmd: &ModelsCmd) -> Result<()> {
    let ModelsCmd::Build(args) = cmd;
    let preset: Preset =
        args.preset.parse().map_err(|_| input(format!("--preset: `{}` is not tiny or course", args.preset)))?;
    // Check where the models go before minutes of training: create the parent directory now.
    crate::cmd::create_parent(&args.out)?;
    let v = code_version();
    let opts = BuildOptions {
        out_dir: args.out.clone(),
        preset,
        seed: args.seed,
        created_by: format!("servesim {} ({})", v.servesim, v.git_commit),
        overwrite: args.overwrite,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}] {wide_bar} {pos}/{len}")
            .expect("valid template"),
    );
    let mut on = |p: Progress| match p {
        Progress::Stage(s) => {
            bar.set_message(s);
            bar.set_length(0);
            bar.set_position(0);
        }
        Progress::Epoch { model, max_epochs, stats } => {
            bar.set_length(max_epochs as u64);
            bar.set_position(stats.epoch as u64);
            bar.set_message(format!("training {model}: val acc {:.3}", stats.val_accuracy));
        }
    };
    let report = kernels::build(&opts, &mut on).map_err(|e| match e {
        KernelsError::OutputExists(p) => {
            input(format!("{}: the output directory exists; pass --overwrite to replace it", p.display()))
        }
        KernelsError::InvalidOption { .. } => input(e.to_string()),
        other => anyhow::Error::new(other),
    })?;
    bar.finish_and_clear();
    println!("models in {}  dataset {}", report.out_dir.display(), report.dataset_id);
    println!("{:<20}{:>10}{:>12}{:>12}{:>14}  id", "model", "accuracy", "agreement", "KL", "weight bytes");
    for m in &report.models {
        let c = &m.card;
        let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
        println!(
            "{:<20}{:>10.4}{:>12}{:>12}{:>14}  {}",
            c.name,
            c.metrics.accuracy,
            opt(c.metrics.agreement_with_teacher),
            opt(c.metrics.kl_to_teacher),
            c.weight_bytes,
            c.id
        );
    }
    Ok(())
}
