//! The course's LLM figures: schedulers under load, the KV timeline, prefix caching on the
//! Mooncake trace and generated prefixes, and the simulator against real vLLM runs (ground truth).

use super::*;

/// The schedulers [`llm_figures`] compares.
pub(super) fn llm_schedulers() -> [(&'static str, sim::llm::SchedulerSpec); 3] {
    [
        ("static (32 sequences)", sim::llm::SchedulerSpec::Static { max_num_seqs: 32 }),
        ("continuous", sim::llm::SchedulerSpec::default()),
        (
            "continuous + chunked prefill (512)",
            sim::llm::SchedulerSpec::Continuous {
                max_num_seqs: 256,
                max_batched_tokens: 512,
                chunked_prefill: true,
                preemption: sim::llm::Preemption::Recompute,
                async_scheduling: false,
            },
        ),
    ]
}

/// Figure 8: TTFT and TPOT vs load, static vs continuous batching; and a KV/queue timeline.
pub(super) fn llm_figures(c: &mut Course) -> Result<()> {
    let mut base = builtin("llm")?;
    if let Some(l) = base.llm.as_mut() {
        l.pools[0].count = 1;
    }
    let schedulers = llm_schedulers();
    const TIMELINE_RATE: f64 = 2.5;
    let (mut ttft, mut tpot, mut ids) = (vec![], vec![], vec![]);
    let mut timeline = None;
    for (name, sched) in schedulers {
        let (mut a, mut b) = (vec![], vec![]);
        for rate in LLM_RATES {
            let mut cfg = base.clone();
            set_rate(&mut cfg, rate);
            if let Some(l) = cfg.llm.as_mut() {
                l.scheduler = sched.clone();
            }
            let (id, o) = c.point(&cfg, 6_000)?;
            let s = llm(o);
            a.push((rate, s.latency_ms.ttft.p99));
            b.push((rate, s.latency_ms.tpot.p99));
            if rate == TIMELINE_RATE && name == "continuous" {
                timeline = Some((id.clone(), s));
            }
            ids.push(id);
        }
        ttft.push(Series::new(name, a).with_markers());
        tpot.push(Series::new(name, b).with_markers());
    }
    let slo = base.llm.as_ref().and_then(|l| l.slo.clone());
    let mut top = Panel::new(Axis::new("p99 TTFT", "ms").log(), ttft);
    let mut bottom = Panel::new(Axis::new("p99 TPOT", "ms").log(), tpot);
    if let Some(slo) = &slo {
        top = top.with_ref_line(RefLine::horizontal(slo.ttft_ms, "TTFT SLO"));
        bottom = bottom.with_ref_line(RefLine::horizontal(slo.tpot_ms, "TPOT SLO"));
    }
    let mut known = llm_facts(&base)?;
    if let Some(slo) = &slo {
        known.insert("ttft_slo_ms".into(), slo.ttft_ms.into());
    }
    c.emit(Figure {
        facts: known,
        id: "llm-ttft-tpot-vs-load".into(),
        title: "LLM serving: static vs continuous batching".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::TwoPanel(PanelsChart { x: Axis::new("offered load", "requests/s"), top, bottom }),
    })?;
    let (id, s) = timeline.ok_or_else(|| anyhow!("the timeline run was made"))?;
    let t = &s.timeline;
    let pts = |v: Vec<f64>| t.t_s.iter().copied().zip(v).collect::<Vec<_>>();
    c.emit(Figure {
        facts: facts([
            ("rate_per_s", TIMELINE_RATE.into()),
            ("capacity_pages", (s.kv.capacity_pages as f64).into()),
            ("block_size", f64::from(s.kv.block_size).into()),
            ("interval_s", t.interval_s.into()),
            ("preemptions", (s.kv.preemptions as f64).into()),
        ]),
        id: "llm-kv-timeline".into(),
        title: "KV memory and queues over one run".into(),
        caption: String::new(),
        run_ids: vec![id],
        chart: Chart::Timeline(PanelsChart {
            x: Axis::new("time", "s"),
            top: Panel::new(
                Axis::new("KV utilization", ""),
                vec![Series::new("used / capacity", pts(t.kv_utilization.clone()))],
            ),
            bottom: Panel::new(
                Axis::new("sequences", ""),
                vec![
                    Series::new("running", pts(t.running.iter().map(|&x| x as f64).collect())),
                    Series::new("waiting", pts(t.waiting.iter().map(|&x| x as f64).collect())),
                ],
            ),
        }),
    })
}

/// The setups of [`llm_prefix_figure`]: name, replicas, router, offered load (requests/s).
pub(super) const PREFIX_SETUPS: [(&str, u32, sim::llm::LlmRouterSpec, f64); 3] = [
    ("1 replica", 1, sim::llm::LlmRouterSpec::RoundRobin, 2.0),
    ("4 replicas, random routing", 4, sim::llm::LlmRouterSpec::Random, 8.0),
    ("4 replicas, prefix-aware routing", 4, sim::llm::LlmRouterSpec::PrefixAware { slack: 8 }, 8.0),
];

/// Figure 8c: prefix cache hit rate vs the number of distinct shared prefixes, per routing policy.
pub(super) fn llm_prefix_figure(c: &mut Course) -> Result<()> {
    let base = builtin("llm")?;
    let setups = PREFIX_SETUPS;
    let prompts = PREFIX_PROMPTS;
    let prefix = |k| traces::workload::PrefixSpec { prompts: k, tokens: 2048, zipf_s: 0.8, block_tokens: 512 };
    let mut series = Vec::new();
    let mut bound = Vec::new();
    let mut ids = Vec::new();
    let replicas = setups.iter().map(|s| s.1).max().unwrap_or(1);
    for (name, count, router, rate) in setups {
        let mut pts = Vec::new();
        for &k in &prompts {
            let mut cfg = base.clone();
            set_rate(&mut cfg, rate);
            if let Some(w) = cfg.workload.as_mut() {
                w.prefixes = Some(prefix(k));
            }
            if let Some(l) = cfg.llm.as_mut() {
                l.pools[0].count = count;
                l.router = router.clone();
                l.prefix_cache = Some(sim::llm::PrefixCacheSpec { block_tokens: 512 });
            }
            let (id, o) = c.point(&cfg, 6_000)?;
            let s = llm(o);
            pts.push((k as f64, s.prefix.map_or(0.0, |p| p.hit_rate)));
            ids.push(id);
            if count == 1 {
                // The workload's own bound: blocks whose id appeared in an earlier request.
                let n = c.requests(6_000);
                let w = cfg.workload.as_ref().expect("a workload");
                bound.push((k as f64, traces::stats::repeated_block_fraction(w.generator(cfg.seed, n)?)));
            }
        }
        series.push(Series::new(name, pts).with_markers());
    }
    series.push(Series::analytic("reuse bound of the workload", bound));
    let mut known = llm_facts(&base)?;
    let shared = prefix(1);
    for (k, v) in [
        ("prefix_tokens", shared.tokens as f64),
        ("block_tokens", shared.block_tokens as f64),
        ("zipf_s", shared.zipf_s),
        ("replicas", f64::from(replicas)),
    ] {
        known.insert(k.into(), v.into());
    }
    c.emit(Figure {
        facts: known,
        id: "llm-prefix-hit-rate".into(),
        title: "Prefix caching: hit rate vs shared prefixes".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Line(LineChart {
            x: Axis::new("distinct shared prefixes", "").log(),
            panel: Panel::new(Axis::new("prefix block hit rate", ""), series),
        }),
    })
}

/// The published medians the LLM simulator is compared with: (name, mean E2E %, mean TTFT %),
/// from inference-sim/sim-to-real-accuracy-validation (vLLM on H100/A100/L40S, their own cases).
const ANCHORS: [(&str, f64, Option<f64>); 5] = [
    ("BLIS", 6.5, Some(14.0)),
    ("AIConfigurator", 21.0, Some(600.0)),
    ("LLM-Optimizer", 39.0, None),
    ("LLMServingSim", 18.0, Some(70.0)),
    ("Vidur", 600.0, None),
];

/// |relative error| in %, floored at 0.1 % (a log axis has no zero).
fn abs_pct(measured: f64, sim: f64) -> f64 {
    (100.0 * (sim - measured).abs() / measured).max(0.1)
}

/// Figure 8d: the LLM simulator against real vLLM runs — each ground-truth case predicted by
/// parameters fitted without it, as the built-in calibration recorded it, beside the other
/// simulators' published medians.
pub(super) fn llm_groundtruth_figure(c: &mut Course) -> Result<()> {
    let cal = sim::llm::calibration::Calibration::builtin();
    let loo: Vec<(&sim::llm::calibration::CaseCheck, f64, f64)> = cal
        .checks
        .iter()
        .filter_map(|k| Some((k, k.e2e_loo?, k.ttft_loo?)))
        .map(|(k, e, t)| (k, abs_pct(k.e2e_measured, e), abs_pct(k.ttft_measured, t)))
        .collect();
    if loo.is_empty() {
        return Err(anyhow!("the built-in LLM calibration records no leave-one-out predictions (made with --no-loo)"));
    }
    let mut points: Vec<LabeledPoint> = loo
        .iter()
        .map(|(_, x, y)| LabeledPoint {
            label: String::new(),
            x: *x,
            y: *y,
            size: None,
            group: Some("one real vLLM run, predicted without it".into()),
        })
        .collect();
    let mut e2e: Vec<f64> = loo.iter().map(|p| p.1).collect();
    let mut ttft: Vec<f64> = loo.iter().map(|p| p.2).collect();
    let (me, mt) = (sim::groundtruth::median(&mut e2e), sim::groundtruth::median(&mut ttft));
    points.push(LabeledPoint {
        label: "servesim".into(),
        x: me,
        y: mt,
        size: None,
        group: Some("median over the runs".into()),
    });
    for (name, e2e, ttft) in ANCHORS {
        if let Some(t) = ttft {
            points.push(LabeledPoint {
                label: name.into(),
                x: e2e,
                y: t,
                size: None,
                group: Some("published medians, other simulators (their cases)".into()),
            });
        }
    }
    let gpus: Vec<&str> =
        loo.iter().map(|p| p.0.gpu.as_str()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut known = facts([
        ("cases", (loo.len() as f64).into()),
        ("gpus", gpus.join(", ").as_str().into()),
        ("target_e2e_pct", 6.0.into()),
        ("target_ttft_pct", 15.0.into()),
        ("anchors_source", "inference-sim/sim-to-real-accuracy-validation (vLLM on H100, A100, L40S; their own cases), as quoted in servesim's issue 15".into()),
        ("calibration_command", "servesim calibrate-llm".into()),
    ]);
    for (name, e2e, ttft) in ANCHORS {
        known.insert(format!("{name} e2e_pct"), e2e.into());
        if let Some(t) = ttft {
            known.insert(format!("{name} ttft_pct"), t.into());
        }
    }
    c.tick();
    c.emit(Figure {
        facts: known,
        id: "llm-groundtruth".into(),
        title: "The LLM simulator against real vLLM runs".into(),
        caption: String::new(),
        // The cases (their content hashes are in the calibration's `cases`).
        run_ids: loo.iter().map(|p| p.0.case.clone()).collect(),
        chart: Chart::Scatter(ScatterChart {
            x: Axis::new("|error| of mean end-to-end latency", "%").log(),
            y: Axis::new("|error| of mean TTFT", "%").log(),
            points,
            size_note: None,
            ref_lines: vec![RefLine::vertical(6.0, "target 6 %"), RefLine::horizontal(15.0, "target 15 %")],
        }),
    })
}
