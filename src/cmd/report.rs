//! `servesim figures`: figures and a self-contained HTML report from saved results (a run
//! directory or a sweep directory), written by `servesim::report`.

use anyhow::Result;
use clap::Args;
use servesim::error::input;
use servesim::report::{ReportSource, write_report};
use std::path::PathBuf;

/// Render figures and an HTML report from a saved run or sweep.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim figures --run runs/run-a1b877b69f96d2d3
  servesim figures --sweep sweeps/swp-0123456789abcdef --out /tmp/fig

Writes OUT/ (default: <DIR>/figures) with <figure>.svg, .png and .json and report.html: one
self-contained page (figures inlined, summary table, manifest) that any browser opens offline.")]
pub struct FiguresArgs {
    /// A run directory (from `simulate`).
    #[arg(long, value_name = "DIR", conflicts_with = "sweep", required_unless_present = "sweep")]
    pub run: Option<PathBuf>,
    /// A sweep directory (from `sweep` or `merge`).
    #[arg(long, value_name = "DIR")]
    pub sweep: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs the command; returns the output directory.
pub fn run(args: &FiguresArgs) -> Result<PathBuf> {
    let source = match (&args.run, &args.sweep) {
        (Some(d), _) => ReportSource::Run(d.clone()),
        (None, Some(d)) => ReportSource::Sweep(d.clone()),
        (None, None) => return Err(input("give --run DIR or --sweep DIR")),
    };
    let out = write_report(&source, args.out.as_deref())?;
    println!("figures and report.html in {}", out.display());
    Ok(out)
}
