//! The course's measured steps: the models built (or found) in a directory, their batch latencies
//! measured on ONNX Runtime (calibration), the calibrated simulator against a real-time replay
//! (validation), the measured int8-vs-fp32 release gate and the distillation cascade replayed at
//! several confidence thresholds. `servesim course` runs them after the simulated steps, the
//! Python module's `servesim.figures` draws their figures one at a time ([`figure`]).

use super::{Course, facts};
use crate::ops::progress::ProgressFn;
use crate::ops::replay::{ReplayRun, write_run};
use crate::rundir::{TraceRef, code_version};
use anyhow::{Context, Result, anyhow};
use figures::{
    Axis, CdfChart, CdfCurve, CdfData, Chart, Figure, LabeledPoint, LineChart, LineStyle, Panel, PanelsChart, RefLine,
    ScatterChart, Series,
};
use indicatif::ProgressBar;
use sim::ScenarioConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Confidence thresholds of [`cascade_figure`].
pub const CASCADE_THRESHOLDS: [f64; 7] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// The scenario [`validation_figure`] replays and simulates: the int8 teacher on one CPU server
/// with dynamic batching, Poisson arrivals at 500 requests/s (its service times come from the
/// calibration profile, not from the `service` written here).
const VALIDATION_SCENARIO: &str = include_str!("scenarios/validation.toml");

/// Requests of the validation's replay.
const VALIDATION_REQUESTS: u64 = 2000;

/// The cascade [`cascade_figure`] replays at each of [`CASCADE_THRESHOLDS`] (the threshold in
/// the file is replaced by each in turn): the int8 student first, the int8 teacher for what it
/// is unsure of, Poisson at 300 requests/s.
const CASCADE_SCENARIO: &str = include_str!("scenarios/cascade.toml");

fn validation_scenario() -> Result<ScenarioConfig> {
    Ok(ScenarioConfig::from_toml_str(VALIDATION_SCENARIO)?)
}

/// The Poisson rate of `config`'s workload (NaN for any other arrival process).
fn poisson_rate(config: &ScenarioConfig) -> f64 {
    match config.workload.as_ref().map(|w| &w.arrivals) {
        Some(traces::workload::ArrivalSpec::Poisson { rate }) => *rate,
        _ => f64::NAN,
    }
}

/// What the measured steps report as they go: the CLI prints it (as `replay`, `validate` and
/// `gate` print theirs); [`Quiet`] drops it.
pub trait Report: Sync {
    /// A status line (a model build starting, a replay's progress).
    fn status(&self, _line: &str) {}
    /// What the validation reports as it goes.
    fn validation_event(&self, _event: crate::ops::validate::Event<'_>) {}
    /// The validation's comparison.
    fn validation(&self, _validation: &crate::ops::validate::Validation) {}
    /// The measured gate's decision.
    fn decision(&self, _request: &crate::ops::gate::GateRequest, _gated: &crate::ops::gate::Gated) {}
}

/// Reports nothing.
pub struct Quiet;

impl Report for Quiet {}

/// What the measured steps measure and how.
pub struct Measured<'a> {
    /// The models' directory (`servesim models build --out DIR`).
    pub models: PathBuf,
    /// The `--quick` scale: the `tiny` models and fewer replayed requests (else the `course` models).
    pub quick: bool,
    /// Build the models into `models` when it holds no build of the needed preset (else that is
    /// an error naming the command that builds them).
    pub build: bool,
    /// Set to stop a replay (the step then fails).
    pub stop: Option<Arc<AtomicBool>>,
    /// Told what happens.
    pub report: &'a dyn Report,
}

impl Measured<'_> {
    /// The model preset these steps need: `tiny` at the quick scale, else `course`.
    pub fn preset(&self) -> kernels::Preset {
        if self.quick { kernels::Preset::Tiny } else { kernels::Preset::Course }
    }

    /// The index of the models (built first if asked and needed).
    pub fn models_index(&self) -> Result<serde_json::Value> {
        models_index(&self.models, self.preset(), self.build, self.report)
    }
}

/// The error for a models directory that holds no build of `preset`.
fn missing_models(dir: &Path, preset: kernels::Preset) -> anyhow::Error {
    crate::error::input(format!(
        "{}: no {preset} models built here (no index.json of preset {preset}): build them with `servesim models \
         build --preset {preset} --out {}` (or `servesim course{} --models {}`, which builds them)",
        dir.display(),
        dir.display(),
        if preset == kernels::Preset::Tiny { " --quick" } else { "" },
        dir.display()
    ))
}

/// The model index in `dir` if it is a build of `preset`, else a fresh build there.
fn models_index(dir: &Path, preset: kernels::Preset, build: bool, report: &dyn Report) -> Result<serde_json::Value> {
    let index = dir.join("index.json");
    if let Ok(bytes) = std::fs::read(&index)
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && v["preset"] == preset.to_string()
    {
        return Ok(v);
    }
    if !build {
        return Err(missing_models(dir, preset));
    }
    let v = code_version();
    let opts = kernels::BuildOptions {
        out_dir: dir.to_path_buf(),
        preset,
        seed: 42,
        created_by: format!("servesim {} ({})", v.servesim, v.git_commit),
        overwrite: true,
    };
    crate::rundir::create_parent(dir)?;
    report.status(&format!("building the {preset} models into {} (once; later runs reuse them)", dir.display()));
    kernels::build(&opts, &mut |_| {}).map_err(|e| anyhow!("building models in {}: {e}", dir.display()))?;
    Ok(serde_json::from_slice(&std::fs::read(&index)?)?)
}

/// Figure 6: accuracy vs weight memory for teacher/student × fp32/int8 (and the int4 preview).
pub fn models_figure(c: &mut Course, m: &Measured<'_>) -> Result<()> {
    let (dir, preset) = (m.models.as_path(), m.preset());
    let index = m.models_index()?;
    let mut points = Vec::new();
    let mut ids = Vec::new();
    for m in index["models"].as_array().cloned().unwrap_or_default() {
        let name = m["name"].as_str().unwrap_or("?").to_string();
        let group = if name.starts_with("teacher") { "teacher" } else { "student" };
        points.push(LabeledPoint {
            label: name.clone(),
            x: m["weight_bytes"].as_f64().unwrap_or(f64::NAN),
            y: m["accuracy"].as_f64().unwrap_or(f64::NAN),
            size: None,
            group: Some(group.into()),
        });
        ids.push(m["id"].as_str().unwrap_or("?").to_string());
    }
    let int4_file = dir.join(index["int4_preview_file"].as_str().unwrap_or("int4_preview.json"));
    let int4: serde_json::Value = serde_json::from_slice(&std::fs::read(&int4_file)?)?;
    for m in int4["models"].as_array().cloned().unwrap_or_default() {
        points.push(LabeledPoint {
            label: format!("{} int4", m["source"].as_str().unwrap_or("?").trim_end_matches("-fp32")),
            x: m["weight_bytes"].as_f64().unwrap_or(f64::NAN),
            y: m["model"]["accuracy"].as_f64().unwrap_or(f64::NAN),
            size: None,
            group: Some("int4 preview (reference path)".into()),
        });
    }
    c.tick();
    c.emit(Figure {
        facts: facts([
            ("preset", preset.to_string().into()),
            ("dataset_id", index["dataset_id"].as_str().unwrap_or("?").into()),
        ]),
        id: "models-accuracy-vs-memory".into(),
        title: "Quantization and distillation: accuracy vs memory".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Scatter(ScatterChart {
            x: Axis::new("weight memory", "bytes").log(),
            y: Axis::new("test accuracy", ""),
            points,
            size_note: None,
            ref_lines: vec![],
        }),
    })
}

/// Figure 7: measured batch latencies on ONNX Runtime with the fitted line, per model.
pub fn calibration_figure(c: &mut Course, m: &Measured<'_>, profile: Option<&Path>) -> Result<()> {
    let models = m.models.as_path();
    let profile = match profile {
        Some(p) => replay::profile::Profile::load(p)?,
        None => {
            let v = code_version();
            let mut opts = replay::calibrate::CalibrateOptions::new(
                models.to_path_buf(),
                format!("servesim {} ({})", v.servesim, v.git_commit),
            );
            opts.variants = ["teacher-fp32", "teacher-int8", "student-fp32", "student-int8"].map(String::from).to_vec();
            let p = replay::calibrate::calibrate(&opts, &mut |_| {})
                .map_err(|e| anyhow!("calibrating the models in {} on ONNX Runtime: {e}", models.display()))?;
            std::fs::create_dir_all(c.tmp.join("profiles"))?;
            std::fs::write(c.tmp.join("profiles/calibration.toml"), p.to_toml())?;
            c.measured.push("calibration".into());
            p
        }
    };
    let mut series = Vec::new();
    let mut ids = Vec::new();
    for e in profile.entries.iter().filter(|e| e.threads == profile.simulate_threads) {
        let pts: Vec<(f64, f64)> = e.batch.iter().zip(&e.median_ms).map(|(&b, &m)| (f64::from(b), m)).collect();
        series.push(Series::new(format!("{} (median)", e.variant), pts).with_markers());
        if let Some(f) = &e.affine {
            let line: Vec<(f64, f64)> =
                e.batch.iter().map(|&b| (f64::from(b), f.a_ms + f.b_ms * f64::from(b))).collect();
            if line.iter().all(|(_, y)| *y > 0.0) {
                series.push(Series::analytic(format!("{} fit (R² {:.3})", e.variant, f.r2), line));
            }
        }
        ids.push(e.model_id.clone());
    }
    c.tick();
    c.emit(Figure {
        facts: facts([
            ("onnxruntime", profile.machine.onnxruntime.as_str().into()),
            ("threads", (profile.simulate_threads as f64).into()),
            ("cpu", profile.machine.cpu.as_str().into()),
        ]),
        id: "calibration".into(),
        title: "Calibration: batch latency on ONNX Runtime".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Line(LineChart {
            x: Axis::new("batch size", "requests").log(),
            panel: Panel::new(Axis::new("batch time", "ms").log(), series),
        }),
    })
}

/// Figure 7b: sim vs replay latency CDFs — the calibrated simulator against ONNX Runtime, same
/// trace, same batcher.
pub fn validation_figure(c: &mut Course, m: &Measured<'_>, profile: &Path) -> Result<()> {
    let models = m.models.as_path();
    let dir = c.tmp.join("validation");
    std::fs::create_dir_all(&dir)?;
    let scenario = dir.join("scenario.toml");
    let config = validation_scenario()?;
    artifact::write_file(&scenario, config.to_toml().as_bytes())?;
    let req = crate::ops::validate::ValidateRequest {
        input: crate::ops::replay::ReplayInput {
            scenario: crate::scenario::ScenarioSource::File(scenario.clone()),
            trace: None,
            trace_format: None,
            models: models.to_path_buf(),
            speed: 1.0,
            threads: 1,
            warmup: 5,
            requests: Some(VALIDATION_REQUESTS),
            seed: None,
            poll: true,
        },
        profile: profile.to_path_buf(),
        replays: 1,
        out: dir.clone(),
        scenario_source: Some("validation/scenario.toml".into()),
        stop: m.stop.clone(),
    };
    let v = crate::ops::validate::validate(&req, &mut |e| m.report.validation_event(e))
        .context("validating the calibrated simulator against ONNX Runtime")?;
    m.report.validation(&v);
    // This validation's own comparison (a reused directory may hold earlier ones).
    let cmp: serde_json::Value = serde_json::from_slice(&std::fs::read(v.dir.join("comparison.json"))?)?;
    let run = |k: &str| cmp[k].as_str().unwrap_or("?").to_string();
    let (rep, sim) = (run("replay_run"), run("sim_run"));
    let latencies = |id: &str| traces::formats::read_f64_column(&dir.join(id).join("requests.parquet"), "latency_ms");
    let err = |q: &str| cmp[format!("latency_ms_{q}")]["relative_error"].as_f64().unwrap_or(f64::NAN) * 100.0;
    let explained =
        |sim: &str, q: &str| cmp[sim][format!("latency_ms_{q}")]["relative_error"].as_f64().unwrap_or(f64::NAN) * 100.0;
    let alone = |q: &str| explained("sim_with_replay_service", q);
    let at_speed = |q: &str| explained("sim_at_replay_speed", q);
    c.tick();
    c.measured.push("validation".into());
    c.emit(Figure {
        facts: facts([
            ("rate_per_s", poisson_rate(&config).into()),
            ("requests", (VALIDATION_REQUESTS as f64).into()),
            ("error_p50", (err("p50") / 100.0).into()),
            ("error_p90", (err("p90") / 100.0).into()),
            ("error_p99", (err("p99") / 100.0).into()),
            ("ks_distance", cmp["ks_distance"].as_f64().unwrap_or(f64::NAN).into()),
            ("speed_ratio", cmp["profile_speed_ratio"][0].as_f64().unwrap_or(f64::NAN).into()),
            ("at_speed_error_p50", (at_speed("p50") / 100.0).into()),
            ("at_speed_error_p99", (at_speed("p99") / 100.0).into()),
            ("own_busy_error_p50", (alone("p50") / 100.0).into()),
            ("own_busy_error_p90", (alone("p90") / 100.0).into()),
            ("own_busy_error_p99", (alone("p99") / 100.0).into()),
        ]),
        id: "validation".into(),
        title: "Sim vs replay: latency distributions".into(),
        caption: String::new(),
        run_ids: vec![rep.clone(), sim.clone()],
        chart: Chart::Cdf(CdfChart {
            x: Axis::new("latency", "ms").log(),
            curves: vec![
                CdfCurve {
                    name: "replay (ONNX Runtime)".into(),
                    data: CdfData::Samples(latencies(&rep)?),
                    style: LineStyle::Solid,
                },
                CdfCurve {
                    name: "simulation (calibrated)".into(),
                    data: CdfData::Samples(latencies(&sim)?),
                    style: LineStyle::Dashed,
                },
            ],
            ref_lines: vec![],
        }),
    })
}

/// The production contract on measured numbers: the fp32 teacher replayed on the validation's
/// trace as the baseline, the int8 teacher's replay from the validation as the candidate, and
/// the built-in `int8-vs-fp32` rules deciding (accuracy on the test labels, p99 latency, cost,
/// drops). Writes `gates/<gate-id>/decision.json`; the report's rows go to `c.decisions`.
pub fn quantization_gate(c: &mut Course, m: &Measured<'_>, final_out: &Path) -> Result<()> {
    let models = m.models.as_path();
    let dir = c.tmp.join("validation");
    let val = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("val-")))
        .ok_or_else(|| anyhow!("no validation to gate"))?;
    let cmp: serde_json::Value = serde_json::from_slice(&std::fs::read(val.join("comparison.json"))?)?;
    let candidate = cmp["replay_run"].as_str().unwrap_or("?").to_string();
    // The validation's scenario with the fp32 teacher in place of the int8 one.
    let mut config = ScenarioConfig::from_toml_str(&std::fs::read_to_string(dir.join("scenario.toml"))?)?;
    config.name = "course-validation-fp32".into();
    for v in &mut config.variants {
        v.name = "teacher-fp32".into();
        v.precision = sim::catalog::Precision::Fp32;
    }
    for d in &mut config.devices {
        d.variant = Some("teacher-fp32".into());
    }
    artifact::write_file(&dir.join("scenario-fp32.toml"), config.to_toml().as_bytes())?;
    let trace = traces::formats::read_trace(&val.join("trace.parquet"))?;
    let val_name = val.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let trace_ref = TraceRef {
        id: traces::id::trace_id(&trace.requests, &trace.classes),
        source: format!("../{val_name}/trace.parquet"),
        requests: trace.requests.len() as u64,
    };
    let opts = replay::harness::ReplayOptions { speed: 1.0, threads: 1, warmup: 5, stop: m.stop.clone(), poll: true };
    let run = ReplayRun {
        config: &config,
        scenario_source: "validation/scenario-fp32.toml",
        models,
        requests: &trace.requests,
        trace: trace_ref,
        opts: &opts,
        out: &dir,
        repetition: 0,
    };
    let (baseline_dir, replayed) = write_run(run, &mut |s| m.report.status(s))
        .context("replaying the fp32 teacher (the quantization gate's baseline)")?;
    if replayed.summary.partial {
        return Err(crate::error::input("course: the replay was stopped"));
    }
    let baseline = baseline_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let gates = c.tmp.join("gates");
    let req = crate::ops::gate::GateRequest {
        baseline: baseline_dir.clone(),
        candidate: dir.join(&candidate),
        rules: "builtin:int8-vs-fp32".into(),
        out: gates.clone(),
        recorded_paths: Some([
            final_out.join("validation").join(&baseline).display().to_string(),
            final_out.join("validation").join(&candidate).display().to_string(),
        ]),
    };
    let gated = crate::ops::gate::gate(&req).context("gating the int8 teacher against the fp32 teacher")?;
    m.report.decision(&req, &gated);
    let gate_dir = std::fs::read_dir(&gates)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("decision.json").is_file())
        .ok_or_else(|| anyhow!("the gate wrote no decision"))?;
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(gate_dir.join("decision.json"))?)?;
    let num = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.6}"));
    let mut rows = vec![(
        format!("verdict ({})", d["gate_id"].as_str().unwrap_or("?")),
        format!(
            "{} (exit code {}); baseline {baseline} (teacher-fp32), candidate {candidate} (teacher-int8), rules int8-vs-fp32",
            d["verdict"].as_str().unwrap_or("?"),
            d["exit_code"]
        ),
    )];
    for e in d["evidence"].as_array().into_iter().flatten() {
        rows.push((
            format!("{} ({})", e["metric"].as_str().unwrap_or("?"), e["action"].as_str().unwrap_or("?")),
            format!(
                "baseline {}, candidate {}: {}",
                num(&e["baseline"]),
                num(&e["candidate"]),
                e["outcome"].as_str().unwrap_or("?")
            ),
        ));
    }
    c.decisions = rows;
    c.tick();
    Ok(())
}

/// The distillation preview on real models: a cascade (distilled int8 student first, int8
/// teacher for what the student is unsure of) replayed on ONNX Runtime at several confidence
/// thresholds. Measured accuracy of the cascade and of the student alone on the same requests
/// (top), share escalated to the teacher (bottom).
pub fn cascade_figure(c: &mut Course, m: &Measured<'_>) -> Result<()> {
    let (models, quick) = (m.models.as_path(), m.quick);
    let dir = c.tmp.join("cascade");
    std::fs::create_dir_all(&dir)?;
    let index = m.models_index()?;
    let test_accuracy = |name: &str| {
        index["models"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["name"] == name)
            .and_then(|m| m["accuracy"].as_f64())
    };
    let n = if quick { 300 } else { 1500 };
    let thresholds = CASCADE_THRESHOLDS;
    let base = ScenarioConfig::from_toml_str(CASCADE_SCENARIO)?;
    let (mut cascade_acc, mut student_acc, mut escalated, mut ids, mut p99) = (vec![], vec![], vec![], vec![], vec![]);
    for &threshold in &thresholds {
        let mut config = base.clone();
        if let Some(sim::config::CascadeSpec {
            escalate: sim::config::Escalation::Confidence { threshold: t, .. },
            ..
        }) = &mut config.cascade
        {
            *t = threshold;
        }
        let file = format!("scenario-{threshold}.toml");
        artifact::write_file(&dir.join(&file), config.to_toml().as_bytes())?;
        let w = config.workload.clone().ok_or_else(|| anyhow!("the cascade scenario has a workload"))?;
        let requests: Vec<traces::Request> = w.generator(config.seed, n)?.collect();
        let trace_ref = TraceRef {
            id: traces::id::trace_id(&requests, &traces::Trace::default_classes()),
            source: "generated".into(),
            requests: n,
        };
        let opts = replay::harness::ReplayOptions {
            warmup: 5,
            stop: m.stop.clone(),
            ..replay::harness::ReplayOptions::default()
        };
        let source = format!("cascade/{file}");
        let replay_run = ReplayRun {
            config: &config,
            scenario_source: &source,
            models,
            requests: &requests,
            trace: trace_ref,
            opts: &opts,
            out: &dir,
            repetition: 0,
        };
        let (run, result) = write_run(replay_run, &mut |s| m.report.status(s)).context("replaying the cascade")?;
        let s = &result.summary;
        if s.partial {
            return Err(crate::error::input("course: the replay was stopped"));
        }
        let cs = s.cascade.as_ref().ok_or_else(|| anyhow!("a cascade replay has a cascade summary"))?;
        // The student alone on the same requests: right on what it kept as often as measured, and
        // on what it escalated as often as its own answers there were.
        let (kept, esc) = (cs.kept.requests as f64, cs.escalated.requests as f64);
        let student_right =
            cs.kept.accuracy.unwrap_or(0.0) * kept + cs.student_accuracy_on_escalated.unwrap_or(0.0) * esc;
        let answered = (kept + esc).max(1.0);
        cascade_acc.push((threshold, s.accuracy.unwrap_or(f64::NAN)));
        student_acc.push((threshold, student_right / answered));
        escalated.push((threshold, 100.0 * cs.escalation_fraction));
        p99.push(s.latency_ms.p99);
        ids.push(run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        c.tick();
    }
    c.measured.push("cascade-threshold".into());
    let mut top = Panel::new(
        Axis::new("accuracy", ""),
        vec![
            Series::new("cascade (measured)", cascade_acc).with_markers(),
            Series::new("the student alone, same requests", student_acc).with_markers(),
        ],
    );
    if let Some(a) = test_accuracy("teacher-int8") {
        top = top.with_ref_line(RefLine::horizontal(a, format!("teacher-int8 alone (test set) {a:.3}")));
    }
    let (lo, hi) = p99.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
    c.emit(Figure {
        facts: facts([
            ("requests", (n as f64).into()),
            ("rate_per_s", 300.0.into()),
            ("p99_min_ms", lo.into()),
            ("p99_max_ms", hi.into()),
        ]),
        id: "cascade-threshold".into(),
        title: "Distillation: a cascade on real models".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::TwoPanel(PanelsChart {
            x: Axis::new("confidence threshold", ""),
            top,
            bottom: Panel::new(
                Axis::new("escalated to the teacher", "%"),
                vec![Series::new("escalated", escalated).with_markers()],
            ),
        }),
    })
}

/// The figures of the measured steps, each with the units (measurements) its step counts.
pub fn figure_ids() -> Vec<(&'static str, u64)> {
    vec![
        ("models-accuracy-vs-memory", 1),
        ("calibration", 1),
        ("validation", 1),
        ("cascade-threshold", CASCADE_THRESHOLDS.len() as u64),
    ]
}

/// Measured figure `id` of the course (see [`figure_ids`]), as `servesim course` (or `--quick`)
/// draws it: its step run into `dir` (which keeps what the step writes: `profiles/`,
/// `validation/`, `cascade/`), the figure captioned from its data. The calibration and validation
/// figures use `profile` (a `servesim calibrate` profile of these models) when given, else
/// measure one first (saved as `dir/profiles/calibration.toml`). Returns the figure with its SVG;
/// `progress` is told `(done, total)` measurements.
pub fn figure(
    id: &str,
    dir: &Path,
    m: &Measured<'_>,
    profile: Option<&Path>,
    progress: Option<ProgressFn>,
) -> Result<(Figure, String)> {
    let known = figure_ids();
    let Some(&(_, units)) = known.iter().find(|(f, _)| *f == id) else {
        let ids: Vec<&str> = known.iter().map(|(f, _)| *f).collect();
        return Err(crate::error::input(format!("unknown measured figure `{id}`: they are {}", ids.join(", "))));
    };
    // Every measured figure but a calibration drawn from a given profile needs the models.
    if !(id == "calibration" && profile.is_some()) {
        m.models_index()?;
    }
    let calibrate_first = id == "validation" && profile.is_none();
    let bar = ProgressBar::hidden();
    bar.set_length(units + u64::from(calibrate_first));
    let mut c = Course::new(dir.to_path_buf(), if m.quick { 10 } else { 1 }, bar)?;
    c.on_progress = progress;
    match id {
        "models-accuracy-vs-memory" => models_figure(&mut c, m)?,
        "calibration" => calibration_figure(&mut c, m, profile)?,
        "validation" => {
            let measured = dir.join("profiles/calibration.toml");
            if calibrate_first {
                calibration_figure(&mut c, m, None)?;
            }
            validation_figure(&mut c, m, profile.unwrap_or(&measured))?;
        }
        _ => cascade_figure(&mut c, m)?,
    }
    c.rendered.into_iter().find(|(f, _)| f.id == id).ok_or_else(|| anyhow!("the step of figure `{id}` did not emit it"))
}
