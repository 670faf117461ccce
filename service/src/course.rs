//! The course's figures: the chapter's figure set, built from built-in scenarios by the steps
//! `servesim course` runs (and the Python module's `servesim.figures`).
//!
//! Every point of every figure is a simulation whose run id is the one `servesim simulate` gives
//! the same config and seed; each config is written to `configs/<run-id>.toml` so any point can
//! be re-run by hand. This module holds the [`Course`] the steps write into and every step that
//! needs only the simulator ([`simulated_steps`]); the steps that build models and measure them
//! on ONNX Runtime (models, calibration, validation, the measured gate, the cascade) are in
//! [`measured`]. The binary (`src/cmd/course`) lists the steps and publishes the directory whole.

use crate::ops::progress::ProgressFn;
use anyhow::{Context, Result, anyhow};
use figures::{
    Axis, CdfChart, CdfCurve, CdfData, Chart, Figure, LabeledPoint, LineChart, LineStyle, Panel, PanelsChart, RefLine,
    ScatterChart, Series,
};
use indicatif::ProgressBar;
use serde::Serialize;
use sim::Outcome;
use sim::ScenarioConfig;
use sim::policy::batcher::BatcherSpec;
use sim::policy::cache::CachePolicy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use traces::workload::ArrivalSpec;

mod captions;
mod llm_figs;
use llm_figs::{PREFIX_SETUPS, llm_figures, llm_groundtruth_figure, llm_prefix_figure, llm_schedulers};
pub mod measured;
mod modern;
mod scaling;

/// One figure's entry in `index.json`.
#[derive(Serialize)]
pub struct IndexEntry {
    /// The figure id (its files' stem).
    pub id: String,
    /// A measurement on this machine (replay, calibration): not byte-reproducible by a re-run.
    pub measured: bool,
    /// `fig-` + 16 bytes of SHA-256 of the figure's data (its JSON): changes iff the figure does.
    pub figure_id: String,
    /// The servesim version that drew it.
    pub version: String,
    /// Its title.
    pub title: String,
    /// Its caption (computed from its data).
    pub caption: String,
    /// Its files.
    pub files: Vec<String>,
    /// The command that regenerates it.
    pub command: String,
    /// The runs (or traces, models, cases) it plots.
    pub run_ids: Vec<String>,
}

/// A course being built in a directory: the simulations counted on a progress bar, the figures
/// rendered and indexed.
pub struct Course {
    /// The directory written into (`configs/`, figures, `traces/`, …).
    pub tmp: PathBuf,
    /// Counts the simulations (or measurements) done.
    pub bar: ProgressBar,
    /// Requests per point are divided by this (10 for `--quick`).
    pub scale: u64,
    /// The index, one entry per figure emitted.
    pub entries: Vec<IndexEntry>,
    /// Every figure emitted, with its SVG.
    pub rendered: Vec<(Figure, String)>,
    /// Ids of figures that plot a measurement made by this run.
    pub measured: Vec<String>,
    /// The measured quantization gate's verdict and evidence (empty with --no-replay).
    pub decisions: Vec<(String, String)>,
    /// Also told `(done, total)` on every unit (the Python module's progress bar).
    pub on_progress: Option<ProgressFn>,
}

impl Course {
    /// An empty course writing into `tmp` (which must exist) at `scale`, counting on `bar`.
    pub fn new(tmp: PathBuf, scale: u64, bar: ProgressBar) -> Result<Course> {
        std::fs::create_dir_all(tmp.join("configs")).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Course {
            tmp,
            bar,
            scale,
            entries: Vec::new(),
            rendered: Vec::new(),
            measured: Vec::new(),
            decisions: Vec::new(),
            on_progress: None,
        })
    }

    /// One more unit (a simulation, a measurement) is done.
    pub fn tick(&mut self) {
        self.bar.inc(1);
        if let Some(f) = &self.on_progress {
            f(self.bar.position(), self.bar.length().unwrap_or(0));
        }
    }

    /// Simulates `config` on its generated workload; returns the run id and the outcome.
    pub fn point(&mut self, config: &ScenarioConfig, requests: u64) -> Result<(String, Outcome)> {
        let p = crate::ops::simulate::point(config, self.requests(requests))?;
        std::fs::write(self.tmp.join("configs").join(format!("{}.toml", p.run_id)), p.resolved)?;
        self.tick();
        Ok((p.run_id, p.outcome))
    }

    /// Simulates `config` on exactly `requests` generated requests, whatever the scale (a run
    /// whose story needs its whole horizon, e.g. a day).
    pub fn point_whole(&mut self, config: &ScenarioConfig, requests: u64) -> Result<(String, Outcome)> {
        let p = crate::ops::simulate::point(config, requests)?;
        std::fs::write(self.tmp.join("configs").join(format!("{}.toml", p.run_id)), p.resolved)?;
        self.tick();
        Ok((p.run_id, p.outcome))
    }

    /// The requests a point of `requests` simulates at this scale.
    pub fn requests(&self, requests: u64) -> u64 {
        (requests / self.scale).max(1000)
    }

    /// Captions `fig` from its data (`captions`), renders it and records it in the index.
    pub fn emit(&mut self, mut fig: Figure) -> Result<()> {
        fig.caption = captions::caption(&fig).with_context(|| format!("captioning {}", fig.id))?;
        let files = fig.render(&self.tmp, &fig.id).with_context(|| format!("rendering {}", fig.id))?;
        let json = fig.to_json()? + "\n";
        let figure_id = artifact::IdKind::Figure.of(json.as_bytes()).to_string();
        std::fs::write(self.tmp.join(format!("{}.json", fig.id)), json)?;
        let mut names: Vec<String> =
            files.iter().filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        names.push(format!("{}.json", fig.id));
        let svg = std::fs::read_to_string(self.tmp.join(format!("{}.svg", fig.id)))?;
        self.entries.push(IndexEntry {
            measured: self.measured.contains(&fig.id),
            id: fig.id.clone(),
            figure_id,
            version: crate::rundir::code_version().servesim,
            title: fig.title.clone(),
            caption: fig.caption.clone(),
            files: names,
            command: "servesim course".to_string(),
            run_ids: fig.run_ids.clone(),
        });
        self.rendered.push((fig, svg));
        Ok(())
    }
}

fn classic(o: Outcome) -> sim::Summary {
    match o {
        Outcome::Classic(r) => r.summary,
        Outcome::Llm(..) => unreachable!("a request-level scenario"),
    }
}

fn llm(o: Outcome) -> sim::llm::LlmSummary {
    match o {
        Outcome::Llm(s, _) => s,
        Outcome::Classic(_) => unreachable!("an [llm] scenario"),
    }
}

/// A figure's facts (what its caption quotes that the chart does not hold) from (key, value) pairs.
pub fn facts<const N: usize>(pairs: [(&str, figures::Fact); N]) -> BTreeMap<String, figures::Fact> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The `a + b·B` ms of a device's affine batch time.
fn affine_ms(c: &ScenarioConfig) -> Result<(f64, f64)> {
    match c.devices.first().and_then(|d| d.service.as_ref()) {
        Some(sim::service::ServiceSpec::Affine { a_ms, b_ms }) => Ok((*a_ms, *b_ms)),
        _ => Err(anyhow!("course scenario `{}`: its device's batch time is not affine", c.name)),
    }
}

/// The name a config value is written with in TOML: a plain enum's string or a table's `kind`.
fn name_of<T: Serialize>(value: &T) -> String {
    match toml::Value::try_from(value) {
        Ok(toml::Value::String(s)) => s,
        Ok(toml::Value::Table(t)) => t.get("kind").and_then(|k| k.as_str()).unwrap_or("?").to_string(),
        _ => "?".to_string(),
    }
}

/// What the LLM captions quote from the `llm` scenario: model, weights, device, mean sizes.
fn llm_facts(base: &ScenarioConfig) -> Result<BTreeMap<String, figures::Fact>> {
    let l = base.llm.as_ref().ok_or_else(|| anyhow!("the llm scenario has an [llm] table"))?;
    let w = base.workload.as_ref().ok_or_else(|| anyhow!("the llm scenario has a workload"))?;
    Ok(facts([
        ("model", l.model.as_str().into()),
        ("weights", name_of(&l.weights).into()),
        ("device", l.pools.first().map_or("?", |p| p.kind.as_str()).into()),
        ("prompt_mean", w.input_size.mean().unwrap_or(f64::NAN).into()),
        ("output_mean", w.output_tokens.mean().unwrap_or(f64::NAN).into()),
    ]))
}

fn builtin(name: &str) -> Result<ScenarioConfig> {
    Ok(sim::builtin::builtin(name).ok_or_else(|| anyhow!("no built-in scenario `{name}`"))??)
}

fn set_rate(c: &mut ScenarioConfig, rate: f64) {
    if let Some(w) = c.workload.as_mut() {
        w.arrivals = ArrivalSpec::Poisson { rate };
    }
}

/// The pipeline's first step: the request traces. The workloads the course's scenarios draw are
/// written as trace files (`traces/<name>.parquet`) with their ids and statistics
/// (`traces/index.json`), with any public traces given by `--public-traces`; the figure shows
/// how bursty each is: inter-arrival gaps in units of the trace's mean gap, against the
/// exponential law of a Poisson process.
pub fn traces_step(c: &mut Course, public: Option<&Path>) -> Result<()> {
    let dir = c.tmp.join("traces");
    std::fs::create_dir_all(&dir)?;
    let n = (60_000 / c.scale).max(1000);
    let mut traces: Vec<(String, String, traces::Trace)> = Vec::new();
    let mut rates = Vec::new();
    let base = builtin("mm1")?;
    for (name, label, arrivals) in [
        ("poisson", "Poisson (mm1)", base.workload.as_ref().map(|w| w.arrivals.clone())),
        (
            "gamma-cv2",
            "gamma, CV 2",
            base.workload.as_ref().map(|w| ArrivalSpec::Gamma { rate: w.mean_rate(), cv: 2.0 }),
        ),
        ("bursty", "MMPP bursts (bursty)", builtin("bursty")?.workload.map(|w| w.arrivals)),
    ] {
        let mut w = base.workload.clone().ok_or_else(|| anyhow!("mm1 has no workload"))?;
        w.arrivals = arrivals.ok_or_else(|| anyhow!("a course scenario has no workload"))?;
        rates.push(w.mean_rate());
        let requests: Vec<traces::Request> = w.generator(base.seed, n)?.collect();
        traces.push((name.into(), label.into(), traces::Trace { requests, classes: traces::Trace::default_classes() }));
    }
    if let Some(dir) = public {
        if !dir.is_dir() {
            return Err(crate::error::input(format!("--public-traces {}: not a directory", dir.display())));
        }
        let before = traces.len();
        for (name, label, file) in [
            ("azure-conv", "Azure LLM conversation", "AzureLLMInferenceTrace_conv.csv"),
            ("azure-code", "Azure LLM code", "AzureLLMInferenceTrace_code.csv"),
            ("mooncake", "Mooncake conversation", "mooncake_conversation_trace.jsonl"),
        ] {
            let path = dir.join(file);
            if path.is_file() {
                traces.push((name.into(), label.into(), traces::formats::read_any(&path, None)?));
            }
        }
        if traces.len() == before {
            return Err(crate::error::input(format!(
                "--public-traces {}: none of AzureLLMInferenceTrace_conv.csv, AzureLLMInferenceTrace_code.csv, \
                 mooncake_conversation_trace.jsonl is there",
                dir.display()
            )));
        }
    }
    let mut index = Vec::new();
    let mut curves = Vec::new();
    let mut ids = Vec::new();
    let mut cvs: Vec<(f64, String)> = Vec::new();
    for (name, label, trace) in &traces {
        let file = format!("{name}.parquet");
        traces::formats::write_trace(&dir.join(&file), trace)?;
        let stats = traces::stats::stats(trace);
        let mean_gap = 1.0 / stats.mean_rate_per_s;
        // Gaps of zero (timestamps quantized to the trace's resolution) have no place on a log
        // axis; the caption gives their share.
        let gaps: Vec<f64> = trace
            .requests
            .windows(2)
            .map(|w| (w[1].arrival.as_secs_f64() - w[0].arrival.as_secs_f64()) / mean_gap)
            .filter(|g| *g > 0.0)
            .collect();
        curves.push(CdfCurve {
            name: if stats.zero_gap_fraction >= 0.01 {
                format!(
                    "{label}: CV {:.2}, {:.0}% zero gaps (not drawn)",
                    stats.interarrival_cv,
                    100.0 * stats.zero_gap_fraction
                )
            } else {
                format!("{label}: CV {:.2}", stats.interarrival_cv)
            },
            data: CdfData::Samples(gaps),
            style: LineStyle::Solid,
        });
        ids.push(stats.trace_id.clone());
        cvs.push((stats.interarrival_cv, label.clone()));
        index.push(serde_json::json!({"name": name, "file": file, "label": label, "stats": stats}));
    }
    // Exponential gaps (Poisson): F(x) = 1 − e^(−x) at x in units of the mean.
    let exp: Vec<[f64; 2]> = (1..200)
        .map(|i| {
            let p = f64::from(i) / 200.0;
            [p, -(1.0 - p).ln()]
        })
        .collect();
    curves.push(CdfCurve {
        name: "exponential (Poisson, exact)".into(),
        data: CdfData::Quantiles(exp),
        style: LineStyle::Dashed,
    });
    std::fs::write(dir.join("index.json"), serde_json::to_string_pretty(&index)? + "\n")?;
    c.tick();
    let lo = cvs.iter().min_by(|a, b| a.0.total_cmp(&b.0)).cloned().unwrap_or_default();
    let hi = cvs.iter().max_by(|a, b| a.0.total_cmp(&b.0)).cloned().unwrap_or_default();
    let rates: Vec<String> = rates.iter().map(|r| format!("{r}")).collect();
    c.emit(Figure {
        facts: facts([
            ("generated_requests", (n as f64).into()),
            ("generated_rates_per_s", rates.join(", ").into()),
            ("public_traces", f64::from(u8::from(public.is_some())).into()),
            ("cv_min", lo.0.into()),
            ("cv_min_trace", lo.1.into()),
            ("cv_max", hi.0.into()),
            ("cv_max_trace", hi.1.into()),
        ]),
        id: "traces".into(),
        title: "Traces: how bursty are the arrivals?".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Cdf(CdfChart { x: Axis::new("gap / mean gap", "×").log(), curves, ref_lines: vec![] }),
    })
}

/// The offered loads of each batching policy in [`latency_vs_load`], requests/s.
const LOAD_RATES: [&[f64]; 4] = [
    &[50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 350.0, 400.0],
    &[100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0],
    &[100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0],
    &[100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0],
];
/// The dynamic batcher's max queue delays in [`batching_window`], ms.
const WINDOW_DELAYS_MS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
/// Batch sizes and offered loads (shares of capacity) of [`frontier`].
const FRONTIER_SIZES: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
const FRONTIER_LOADS: [f64; 3] = [0.5, 0.8, 0.95];
/// The most replicas of each device group in [`hardware_mixes`].
const MIX_MAX: [u32; 2] = [6, 2];
/// Cache capacities of [`cache_hit_ratio`], entries.
const CACHE_CAPACITIES: [u64; 7] = [500, 1000, 2000, 5000, 10_000, 20_000, 50_000];
/// Utilizations of [`stalls_figure`] (each simulated without and with stalls).
const STALL_LOADS: [f64; 8] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// Offered loads of [`llm_figures`], requests/s.
const LLM_RATES: [f64; 6] = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0];
/// Distinct shared prefixes of [`llm_prefix_figure`].
const PREFIX_PROMPTS: [u64; 6] = [1, 4, 16, 64, 256, 1024];

/// Figure 1: mean latency vs offered load per batching policy, with M/D/1 for no batching.
fn latency_vs_load(c: &mut Course) -> Result<()> {
    let base = builtin("dynbatch")?;
    let policies: [(&str, BatcherSpec, &[f64]); 4] = [
        ("none", BatcherSpec::None, LOAD_RATES[0]),
        ("static 8 (timeout 4 ms)", BatcherSpec::Static { size: 8, timeout_ms: 4.0 }, LOAD_RATES[1]),
        (
            "dynamic 32 (delay 4 ms)",
            BatcherSpec::Dynamic { max_batch: 32, max_queue_delay_ms: 4.0, preferred_batch_sizes: vec![] },
            LOAD_RATES[2],
        ),
        (
            "adaptive (target 6 ms)",
            BatcherSpec::Adaptive { max_batch: 32, target_ms: 6.0, increase: 1, backoff: 0.5 },
            LOAD_RATES[3],
        ),
    ];
    let mut series = Vec::new();
    let mut analytic = Vec::new();
    let mut ids = Vec::new();
    for (name, batching, rates) in policies {
        let mut pts = Vec::new();
        for &rate in rates {
            let mut cfg = base.clone();
            set_rate(&mut cfg, rate);
            cfg.devices[0].batching = batching.clone();
            let (id, o) = c.point(&cfg, 200_000)?;
            let s = classic(o);
            pts.push((rate, s.latency_ms.mean));
            if let (BatcherSpec::None, Some(a)) = (&batching, &s.analytic) {
                analytic.push((rate, a.w_mean_ms));
            }
            ids.push(id);
        }
        series.push(Series::new(name, pts).with_markers());
    }
    series.push(Series::analytic("M/D/1 (no batching, exact)", analytic));
    let (a, b) = affine_ms(&base)?;
    c.emit(Figure {
        facts: facts([("service_a_ms", a.into()), ("service_b_ms", b.into())]),
        id: "latency-vs-load".into(),
        title: "Batching raises the load a GPU can carry".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Line(LineChart {
            x: Axis::new("offered load", "requests/s"),
            panel: Panel::new(Axis::new("mean latency", "ms").log(), series),
        }),
    })
}

/// Figure 2: p99 latency and throughput vs the dynamic batcher's max queue delay.
fn batching_window(c: &mut Course) -> Result<()> {
    let base = builtin("dynbatch")?;
    let (a, b_ms) = affine_ms(&base)?;
    const MAX_BATCH: usize = 32;
    let (mut p99, mut mean_b, mut thr, mut cap, mut ids) = (vec![], vec![], vec![], vec![], vec![]);
    for delay in WINDOW_DELAYS_MS {
        let mut cfg = base.clone();
        cfg.devices[0].batching =
            BatcherSpec::Dynamic { max_batch: MAX_BATCH, max_queue_delay_ms: delay, preferred_batch_sizes: vec![] };
        let (id, o) = c.point(&cfg, 200_000)?;
        let s = classic(o);
        p99.push((delay, s.latency_ms.p99));
        mean_b.push((delay, s.latency_ms.mean));
        thr.push((delay, s.throughput_per_s));
        let b = s.batches.mean_size;
        cap.push((delay, b / (a + b_ms * b) * 1e3));
        ids.push(id);
    }
    c.emit(Figure {
        facts: facts([
            ("service_a_ms", a.into()),
            ("service_b_ms", b_ms.into()),
            ("max_batch", (MAX_BATCH as f64).into()),
            ("rate_per_s", base.workload.as_ref().map_or(f64::NAN, |w| w.mean_rate()).into()),
        ]),
        id: "batching-window".into(),
        title: "The batching window: tail latency vs headroom".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::TwoPanel(PanelsChart {
            x: Axis::new("max queue delay", "ms").log(),
            top: Panel::new(
                Axis::new("latency", "ms"),
                vec![Series::new("p99", p99).with_markers(), Series::new("mean", mean_b).with_markers()],
            ),
            bottom: Panel::new(
                Axis::new("throughput", "requests/s"),
                vec![
                    Series::new("achieved", thr).with_markers(),
                    Series::new("capacity at the mean batch size", cap).with_markers(),
                ],
            ),
        }),
    })
}

/// Figure 3: the throughput–latency frontier over batch sizes.
fn frontier(c: &mut Course) -> Result<()> {
    let base = builtin("dynbatch")?;
    let (a, b_ms) = affine_ms(&base)?;
    let sizes = FRONTIER_SIZES;
    let mut series = Vec::new();
    let mut ids = Vec::new();
    for load in FRONTIER_LOADS {
        let mut pts = Vec::new();
        for b in sizes {
            // Offered load as a share of what batches of b can carry: b / (a + b_ms·b) per ms.
            let capacity = b as f64 / (a + b_ms * b as f64) * 1e3;
            let mut cfg = base.clone();
            set_rate(&mut cfg, load * capacity);
            cfg.devices[0].batching =
                BatcherSpec::Dynamic { max_batch: b, max_queue_delay_ms: 4.0, preferred_batch_sizes: vec![] };
            let (id, o) = c.point(&cfg, 200_000)?;
            let s = classic(o);
            pts.push((s.throughput_per_s, s.latency_ms.p99));
            ids.push(id);
        }
        series.push(Series::new(format!("offered {:.0}% of capacity", load * 100.0), pts).with_markers());
    }
    let sizes: Vec<String> = sizes.iter().map(|b| b.to_string()).collect();
    c.emit(Figure {
        facts: facts([
            ("service_a_ms", a.into()),
            ("service_b_ms", b_ms.into()),
            ("batch_sizes", sizes.join(", ").into()),
        ]),
        id: "batch-size-frontier".into(),
        title: "Throughput–latency frontier over batch sizes".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Line(LineChart {
            x: Axis::new("throughput", "requests/s").log(),
            panel: Panel::new(Axis::new("p99 latency", "ms").log(), series),
        }),
    })
}

/// Figure 4: cost per 1,000 requests vs SLO attainment across hardware mixes, the plan's choice marked.
fn hardware_mixes(c: &mut Course) -> Result<()> {
    let base = builtin("hardware")?;
    let slo_ms = base.slo.as_ref().map_or(40.0, |s| s.latency_ms);
    let names: Vec<String> = base.devices.iter().map(|d| d.name.clone()).collect();
    let label = |counts: &[u32]| {
        let parts: Vec<String> =
            counts.iter().zip(&names).filter(|(n, _)| **n > 0).map(|(n, name)| format!("{n}×{name}")).collect();
        parts.join("+")
    };
    let spec = sim::plan::PlanSpec {
        objective: sim::plan::LatencyObjective { stat: sim::plan::LatencyStat::P99, max_ms: slo_ms },
        max_drop: 0.001,
        min_count: 0,
        max_count: 4,
        offered_per_s: base.workload.as_ref().map_or(0.0, |w| w.mean_rate()),
    };
    let n = 100_000 / c.scale;
    let report = sim::plan::plan(&base, &spec, |cfg| {
        let w = cfg.workload.as_ref().expect("hardware has a workload");
        let mut g = w.generator(cfg.seed, n).expect("validated workload");
        sim::run(cfg, &mut g, sim::RunOptions { seed: cfg.seed, record: false, trace_driven: false }).map(|r| r.summary)
    })?;
    let winner = report.winner.map(|i| report.candidates[i].counts.clone());
    let mut points = Vec::new();
    let mut ids = Vec::new();
    let [max_t4, max_a100] = MIX_MAX;
    for t4 in 0..=max_t4 {
        for a100 in 0..=max_a100 {
            if t4 + a100 == 0 {
                continue;
            }
            let counts = [t4, a100];
            let mut cfg = base.clone();
            for (d, &k) in cfg.devices.iter_mut().zip(&counts) {
                d.count = k;
            }
            cfg.devices.retain(|d| d.count > 0);
            let (id, o) = c.point(&cfg, 100_000)?;
            let s = classic(o);
            let chosen = winner.as_deref() == Some(&counts[..]);
            let y = s.slo.as_ref().map_or(0.0, |x| x.attainment);
            // Labels only where they say something: the choice and the mixes in between.
            let text = if chosen {
                format!("{} (plan's choice)", label(&counts))
            } else if (0.05..0.95).contains(&y) {
                label(&counts)
            } else {
                String::new()
            };
            points.push(LabeledPoint {
                label: text,
                x: s.cost.usd_per_1000_requests,
                y,
                size: None,
                group: Some(if chosen { "plan's choice".into() } else { "mix".into() }),
            });
            ids.push(id);
        }
    }
    let router = name_of(&base.router).replace('_', "-");
    let mut known = facts([
        ("max_first", f64::from(max_t4).into()),
        ("first_device", names[0].as_str().into()),
        ("max_second", f64::from(max_a100).into()),
        ("second_device", names[1].as_str().into()),
        ("router", router.into()),
        ("rate_per_s", spec.offered_per_s.into()),
        ("slo_ms", slo_ms.into()),
        ("max_drop", spec.max_drop.into()),
    ]);
    if let Some(w) = winner.as_deref() {
        known.insert("plan_choice".into(), label(w).into());
    }
    c.emit(Figure {
        facts: known,
        id: "hardware-cost-vs-slo".into(),
        title: "Hardware mixes: cost vs SLO attainment".into(),
        caption: String::new(),
        run_ids: ids,
        chart: cost_vs_slo(points),
    })
}

/// A scatter of cost per 1,000 requests against SLO attainment.
fn cost_vs_slo(points: Vec<LabeledPoint>) -> Chart {
    Chart::Scatter(ScatterChart {
        x: Axis::new("cost per 1,000 requests", "$"),
        y: Axis::new("SLO attainment", ""),
        points,
        size_note: None,
        ref_lines: vec![],
    })
}

/// The cache policies of [`cache_hit_ratio`]: name, policy, TTL s.
const CACHE_POLICIES: [(&str, CachePolicy, Option<f64>); 3] = [
    ("LRU", CachePolicy::Lru, None),
    ("LFU", CachePolicy::Lfu, None),
    ("TTL 60 s (FIFO)", CachePolicy::Fifo, Some(60.0)),
];

/// Figure 5: cache hit ratio vs capacity for LRU, LFU and TTL, with Che's approximation.
fn cache_hit_ratio(c: &mut Course) -> Result<()> {
    let base = builtin("caching")?;
    let keys = base.workload.as_ref().and_then(|w| w.cache_keys.clone()).ok_or_else(|| anyhow!("caching has keys"))?;
    let p = sim::analytic::zipf_popularity(keys.universe, keys.zipf_s);
    let caps = CACHE_CAPACITIES;
    let mut series = Vec::new();
    let mut ids = Vec::new();
    for (name, policy, ttl) in CACHE_POLICIES {
        let mut pts = Vec::new();
        for &cap in &caps {
            let mut cfg = base.clone();
            let cache = cfg.cache.as_mut().ok_or_else(|| anyhow!("caching has a cache"))?;
            cache.policy = policy;
            cache.capacity = cap;
            cache.ttl_s = ttl;
            let (id, o) = c.point(&cfg, 300_000)?;
            let s = classic(o);
            pts.push((cap as f64, s.cache.map_or(0.0, |x| x.hit_ratio)));
            ids.push(id);
        }
        series.push(Series::new(name, pts).with_markers());
    }
    let che: Vec<(f64, f64)> =
        caps.iter().map(|&k| (k as f64, sim::analytic::che_lru_hit_ratio(&p, k as f64))).collect();
    series.push(Series::analytic("Che approximation (LRU)", che));
    let mut known = facts([
        ("zipf_s", keys.zipf_s.into()),
        ("universe", (keys.universe as f64).into()),
        ("requests", (c.requests(300_000) as f64).into()),
    ]);
    if let Some(fresh) = base.cache.as_ref().and_then(|k| k.freshness_s) {
        known.insert("freshness_s".into(), fresh.into());
    }
    c.emit(Figure {
        facts: known,
        id: "cache-hit-ratio".into(),
        title: "Response cache: hit ratio vs capacity".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Line(LineChart {
            x: Axis::new("cache capacity", "entries").log(),
            panel: Panel::new(Axis::new("hit ratio", ""), series),
        }),
    })
}

/// Stalls: the worker preempted for a few ms now and then (what `calibrate` measures on a shared
/// machine) costs little capacity but sets the tail at low load.
fn stalls_figure(c: &mut Course) -> Result<()> {
    const SERVICE_MS: f64 = 0.75;
    let stalls = sim::service::StallSpec { rate_per_s: 2.0, duration_ms: vec![5.0], busy_only: false };
    let mut base = builtin("mm1")?;
    base.devices[0].service = Some(sim::service::ServiceSpec::Deterministic { ms: SERVICE_MS });
    let loads = STALL_LOADS;
    let (mut plain, mut stalled, mut mean, mut exact) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ids = Vec::new();
    for &rho in &loads {
        let rate = rho / (SERVICE_MS / 1e3);
        for with in [false, true] {
            let mut cfg = base.clone();
            set_rate(&mut cfg, rate);
            cfg.devices[0].stalls = with.then(|| stalls.clone());
            let (id, o) = c.point(&cfg, 200_000)?;
            let s = classic(o);
            if with {
                stalled.push((rho, s.latency_ms.p99));
                mean.push((rho, s.latency_ms.mean));
                if let Some(a) = &s.analytic {
                    exact.push((rho, a.w_mean_ms));
                }
            } else {
                plain.push((rho, s.latency_ms.p99));
            }
            ids.push(id);
        }
    }
    let series = vec![
        Series::new("p99, no stalls (M/D/1)", plain).with_markers(),
        Series::new(format!("p99, {} ms stalls at {}/s", stalls.duration_ms[0], stalls.rate_per_s), stalled)
            .with_markers(),
        Series::new("mean, with the stalls", mean).with_markers(),
        Series::analytic("mean, M/G/1 with stalls (exact)", exact),
    ];
    c.emit(Figure {
        facts: facts([
            ("service_ms", SERVICE_MS.into()),
            ("stall_rate_per_s", stalls.rate_per_s.into()),
            ("stall_ms", stalls.duration_ms[0].into()),
            ("compare_at_utilization", 0.3.into()),
        ]),
        id: "stalls".into(),
        title: "Stalls: a preempted worker sets the tail".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Line(LineChart {
            x: Axis::new("utilization", ""),
            panel: Panel::new(Axis::new("latency", "ms").log(), series),
        }),
    })
}

/// Writes `index.json` and `index.md` of `entries` (and the measured release decision) into `dir`.
pub fn write_index(dir: &Path, entries: &[IndexEntry], decisions: &[(String, String)]) -> Result<()> {
    std::fs::write(dir.join("index.json"), serde_json::to_string_pretty(entries)? + "\n")?;
    let mut md = String::from("# servesim course figures\n\nRegenerate with `servesim course`.\n\n");
    for e in entries {
        md += &format!(
            "## {}\n\n![{}]({}.svg)\n\n{}\n\nFigure {} (servesim {}). Files: {}. Command: `{}`. Runs: {} (configs in \
             `configs/`).\n\n",
            e.title,
            e.title,
            e.id,
            e.caption,
            e.figure_id,
            e.version,
            e.files.join(", "),
            e.command,
            e.run_ids.join(", ")
        );
    }
    if !decisions.is_empty() {
        md += "## Release decision, measured\n\nThe int8 teacher (candidate) against the fp32 teacher (baseline), both \
               replayed on ONNX Runtime on the same requests, under the built-in `int8-vs-fp32` rules \
               (`gates/*/decision.json`; `servesim lineage` on it walks back to both runs).\n\n| rule | evidence |\n|---|---|\n";
        for (k, v) in decisions {
            md += &format!("| {k} | {v} |\n");
        }
        md += "\n";
    }
    std::fs::write(dir.join("index.md"), md)?;
    Ok(())
}

/// A step of the course that needs only the simulator.
#[derive(Clone, Copy)]
pub struct SimStep {
    /// The figures it emits, in order.
    pub figures: &'static [&'static str],
    /// The simulations it counts on the progress bar.
    pub units: u64,
    /// The step (the traces step without public traces).
    pub run: fn(&mut Course) -> Result<()>,
}

/// Every step of the course that needs only the simulator, in course order, each with the units
/// it counts from the grids it runs (a debug assertion in the course checks each count).
pub fn simulated_steps() -> Vec<SimStep> {
    let n = |a: &[&[f64]]| a.iter().map(|r| r.len() as u64).sum::<u64>();
    let mix = u64::from(MIX_MAX[0] + 1) * u64::from(MIX_MAX[1] + 1) - 1;
    let step = |figures, units, run| SimStep { figures, units, run };
    vec![
        step(&["traces"], 1, |c| traces_step(c, None)),
        step(&["latency-vs-load"], n(&LOAD_RATES), latency_vs_load),
        step(&["batching-window"], WINDOW_DELAYS_MS.len() as u64, batching_window),
        step(&["batch-size-frontier"], (FRONTIER_SIZES.len() * FRONTIER_LOADS.len()) as u64, frontier),
        step(&["hardware-cost-vs-slo"], mix, hardware_mixes),
        step(&["cache-hit-ratio"], (CACHE_CAPACITIES.len() * CACHE_POLICIES.len()) as u64, cache_hit_ratio),
        step(&["stalls"], 2 * STALL_LOADS.len() as u64, stalls_figure),
        step(
            &["llm-ttft-tpot-vs-load", "llm-kv-timeline"],
            (llm_schedulers().len() * LLM_RATES.len()) as u64,
            llm_figures,
        ),
        step(&["llm-prefix-hit-rate"], (PREFIX_SETUPS.len() * PREFIX_PROMPTS.len()) as u64, llm_prefix_figure),
        step(&["llm-groundtruth"], 1, llm_groundtruth_figure),
        step(
            &["autoscaling-timeline", "autoscaling-policies"],
            (scaling::POLICIES.len() + scaling::STATIC_MAX as usize) as u64,
            scaling::autoscaling_figures,
        ),
        step(&["priority-surge"], 2, scaling::surge_figure),
        step(&["llm-energy"], scaling::ENERGY_KINDS.len() as u64, scaling::energy_figure),
        step(&["llm-kv-tiers"], 1 + 2 * modern::TIER_GB.len() as u64, modern::tiers_figure),
        step(
            &["llm-speculative"],
            (modern::SPEC_BATCHES.len() * (1 + modern::SPEC_ALPHAS.len())) as u64,
            modern::speculative_figure,
        ),
        step(&["llm-lora"], 2 * modern::LORA_SLOTS.len() as u64, modern::lora_figure),
        step(&["llm-sessions"], 2, modern::sessions_figure),
    ]
}

/// The step that emits figure `id`.
pub fn simulated_step(id: &str) -> Result<SimStep> {
    let steps = simulated_steps();
    steps.iter().find(|s| s.figures.contains(&id)).copied().ok_or_else(|| {
        let ids: Vec<&str> = steps.iter().flat_map(|s| s.figures.iter().copied()).collect();
        crate::error::input(format!(
            "unknown figure `{id}`: the figures made by simulation are {} (the others, {}, measure models on ONNX \
             Runtime: `servesim course` draws them, and from built models `servesim.figures.measured`)",
            ids.join(", "),
            measured::figure_ids().iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// Figure `id` of the course, as `servesim course` (or `--quick`) draws it: its step run into
/// `dir` (which keeps the step's `configs/` and, for the traces figure, `traces/`), the figure
/// captioned from its data. Returns it with its SVG; `progress` is told `(done, total)`
/// simulations.
pub fn figure(id: &str, dir: &Path, quick: bool, progress: Option<ProgressFn>) -> Result<(Figure, String)> {
    let step = simulated_step(id)?;
    let bar = ProgressBar::hidden();
    bar.set_length(step.units);
    let mut c = Course::new(dir.to_path_buf(), if quick { 10 } else { 1 }, bar)?;
    c.on_progress = progress;
    (step.run)(&mut c)?;
    debug_assert_eq!(c.bar.position(), step.units, "the step counted other units than it declared");
    c.rendered.into_iter().find(|(f, _)| f.id == id).ok_or_else(|| anyhow!("the step of figure `{id}` did not emit it"))
}
