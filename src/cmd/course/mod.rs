//! `servesim course`: the chapter's figure set, regenerated from built-in scenarios.
//!
//! Every step is the library's (`servesim::course`, its measured steps in
//! `servesim::course::measured`; the Python module calls them too): this command turns flags into
//! a list of steps, prints what they report and publishes the output directory whole or not at all.

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use servesim::course::measured::{
    self, CASCADE_THRESHOLDS, Measured, calibration_figure, cascade_figure, models_figure, quantization_gate,
    validation_figure,
};
use servesim::course::{Course, SimStep, simulated_step, traces_step, write_index};
use servesim::notebooks::NotebooksRequest;
use servesim::ops::gate::{GateRequest, Gated};
use servesim::ops::validate::{Event, Validation};
use servesim::rundir::sha256_hex;
use std::path::{Path, PathBuf};

/// Regenerate the course figures.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim course                      # everything into ./course/
  servesim course --out /tmp/course --quick
  servesim course --public-traces ../shared/traces --no-replay

The pipeline: traces (traces/*.parquet + traces/index.json) -> simulations of every topic ->
models (built into --models once) -> calibration on ONNX Runtime (profiles/) -> replay and
validation (validation/) -> the measured int8-vs-fp32 release gate (gates/) -> the distillation
cascade replayed at seven confidence thresholds (cascade/) -> figures -> the notebooks executed
(notebooks/*.html, as `servesim notebooks`) -> report. Writes OUT/ with <figure>.svg and
<figure>.png, <figure>.json (the data behind each figure), configs/<run-id>.toml for every
simulated point, index.md / index.json (file, caption, command and run ids per figure) and
report.html (every figure inlined, opens offline). Same code and seed, same bytes (except figures
marked `measured`, and the executed notebooks, which show temporary paths and timings).")]
pub struct CourseArgs {
    /// Output directory (replaced as a whole).
    #[arg(long, short = 'o', default_value = "course", value_name = "DIR")]
    pub out: PathBuf,
    /// Fewer requests per point and the `tiny` models (for a first look; the curves get noisier).
    #[arg(long)]
    pub quick: bool,
    /// The models of the quantization and distillation previews: used if DIR holds a build of the
    /// needed preset (course, or tiny with --quick), else built there first (about 2 minutes).
    #[arg(long, default_value = "models", value_name = "DIR")]
    pub models: PathBuf,
    /// A calibration profile (`servesim calibrate`) for the calibration figure. Without it the
    /// models are measured on ONNX Runtime now and the profile is saved beside the figures; a
    /// measurement is never byte-reproducible, a saved profile is.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Skip every real-time replay: the sim-vs-replay figure (2,000 requests), the measured
    /// int8-vs-fp32 gate (2,000 more) and the cascade figure (7 × 1,500): about 50 s of wall time.
    #[arg(long)]
    pub no_replay: bool,
    /// The chapter's notebooks, executed and rendered to OUT/notebooks/*.html (see `servesim
    /// notebooks`; skipped, with a note, when DIR does not exist or no Python has servesim and
    /// nbconvert).
    #[arg(long, default_value = "notebooks", value_name = "DIR")]
    pub notebooks: PathBuf,
    /// Do not execute the notebooks.
    #[arg(long)]
    pub no_notebooks: bool,
    /// A directory holding public traces (AzureLLMInferenceTrace_conv.csv, _code.csv,
    /// mooncake_conversation_trace.jsonl; any subset): added to the traces step and its figure.
    #[arg(long, value_name = "DIR")]
    pub public_traces: Option<PathBuf>,
}

/// Prints what the measured steps report, as `replay`, `validate` and `gate` print theirs.
struct Printer;

impl measured::Report for Printer {
    fn status(&self, line: &str) {
        eprintln!("{line}");
    }
    fn validation_event(&self, event: Event<'_>) {
        crate::cmd::validate::print_event(event);
    }
    fn validation(&self, validation: &Validation) {
        crate::cmd::validate::print_validation(validation);
    }
    fn decision(&self, request: &GateRequest, gated: &Gated) {
        crate::cmd::contract::print_decision(request, gated);
    }
}

/// The notebooks rendered into `tmp/notebooks/`: (file, verdict) rows for the report, or None
/// when they are not executed (said on stderr: no directory, or no Python with servesim and
/// nbconvert — the rest of the course is rendered all the same).
fn notebooks_step(args: &CourseArgs, tmp: &Path) -> Result<Option<Vec<(String, String)>>> {
    if args.no_notebooks {
        return Ok(None);
    }
    if !args.notebooks.is_dir() {
        eprintln!("notebooks: {} is not a directory: not rendered (--notebooks DIR)", args.notebooks.display());
        return Ok(None);
    }
    let req = NotebooksRequest { dir: args.notebooks.clone(), out: tmp.join("notebooks"), python: None };
    eprintln!("notebooks: executing {}/*.ipynb", args.notebooks.display());
    let r = servesim::notebooks::render(&req)?;
    if let Some(why) = &r.skipped {
        eprintln!("notebooks: not executed: {why}; the figures and the report are rendered without them");
        return Ok(None);
    }
    Ok(Some(
        r.html
            .iter()
            .map(|h| {
                let name = h.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                (format!("notebooks/{name}"), servesim::notebooks::verdict(h).unwrap_or_default())
            })
            .collect(),
    ))
}

/// Runs the command.
pub fn run(args: &CourseArgs) -> Result<()> {
    let parent = args.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = args.out.file_name().ok_or_else(|| servesim::error::input("--out: needs a directory name"))?;
    let _ = name;
    let staged =
        artifact::StagedDir::new(&args.out).with_context(|| format!("creating beside {}", args.out.display()))?;
    let tmp = staged.path().to_path_buf();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} course: {pos}/{len} simulations [{elapsed_precise}] {wide_bar}")
            .expect("valid template"),
    );
    let mut c = Course::new(tmp.clone(), if args.quick { 10 } else { 1 }, bar)?;
    let result = (|| -> Result<()> {
        let m = Measured {
            models: args.models.clone(),
            quick: args.quick,
            build: true,
            stop: if args.no_replay { None } else { Some(crate::cmd::replay::ctrl_c()?) },
            report: &Printer,
        };
        let m = &m;
        let profile = args.profile.clone().unwrap_or_else(|| tmp.join("profiles/calibration.toml"));
        // The pipeline: each step with the simulations (or measurements) it counts on the bar.
        type Run<'a> = Box<dyn FnOnce(&mut Course) -> Result<()> + 'a>;
        let sim = |id: &str| -> Result<(u64, Run)> {
            let SimStep { units, run, .. } = simulated_step(id)?;
            Ok((units, Box::new(run)))
        };
        let mut steps: Vec<(u64, Run)> = vec![(1, Box::new(|c| traces_step(c, args.public_traces.as_deref())))];
        for id in ["latency-vs-load", "batching-window", "batch-size-frontier", "hardware-cost-vs-slo"] {
            steps.push(sim(id)?);
        }
        steps.push(sim("cache-hit-ratio")?);
        steps.push(sim("stalls")?);
        steps.extend::<[(u64, Run); 2]>([
            (1, Box::new(|c| models_figure(c, m))),
            (1, Box::new(|c| calibration_figure(c, m, args.profile.as_deref()))),
        ]);
        if !args.no_replay {
            steps.push((1, Box::new(|c| validation_figure(c, m, &profile))));
            steps.push((1, Box::new(|c| quantization_gate(c, m, &args.out))));
            steps.push((CASCADE_THRESHOLDS.len() as u64, Box::new(|c| cascade_figure(c, m))));
        }
        for id in [
            "llm-ttft-tpot-vs-load",
            "llm-prefix-hit-rate",
            "llm-groundtruth",
            "autoscaling-timeline",
            "priority-surge",
            "llm-energy",
            "llm-kv-tiers",
            "llm-speculative",
            "llm-lora",
            "llm-sessions",
        ] {
            steps.push(sim(id)?);
        }
        c.bar.set_length(steps.iter().map(|s| s.0).sum());
        for (units, step) in steps {
            let before = c.bar.position();
            step(&mut c)?;
            debug_assert_eq!(c.bar.position() - before, units, "a course step counted other units than it declared");
        }
        write_index(&tmp, &c.entries, &c.decisions)?;
        let ids: Vec<(String, String)> = c
            .entries
            .iter()
            .map(|e| (format!("{} ({})", e.id, e.figure_id), format!("{} runs, configs in configs/", e.run_ids.len())))
            .collect();
        let mut sections = vec![("Figures", ids)];
        if let Some(rows) = notebooks_step(args, &tmp)? {
            sections.push(("Notebooks, executed (notebooks/)", rows));
        }
        if !c.decisions.is_empty() {
            sections.push((
                "Release decision, measured: int8 teacher vs fp32 teacher on ONNX Runtime",
                c.decisions.clone(),
            ));
        }
        let html = servesim::report::report_html("servesim course figures", &c.rendered, &sections);
        std::fs::write(tmp.join("report.html"), html)?;
        Ok(())
    })();
    c.bar.finish_and_clear();
    result?;
    staged.publish(true).with_context(|| format!("replacing {}", args.out.display()))?;
    let digest = sha256_hex(std::fs::read(args.out.join("index.json"))?.as_slice());
    println!("{} figures in {} (index.md, index.json sha256 {})", c.entries.len(), args.out.display(), &digest[..16]);
    Ok(())
}
