//! One figure of each kind, shaped like the chapter's figures.

use figures::*;

fn runs() -> Vec<String> {
    vec!["run-3f2a9c1b7d4e5a60".to_string(), "run-91bc0de4f2a37788".to_string()]
}

pub fn line() -> Figure {
    let sim: Vec<(f64, f64)> = (1..=9).map(|i| (f64::from(i) * 0.1, 10.0 / (1.0 - f64::from(i) * 0.1) + 0.4)).collect();
    let mm1: Vec<(f64, f64)> = (1..=95).map(|i| (f64::from(i) * 0.01, 10.0 / (1.0 - f64::from(i) * 0.01))).collect();
    let batched: Vec<(f64, f64)> = (1..=9).map(|i| (f64::from(i) * 0.1, 14.0 + 3.0 * f64::from(i))).collect();
    Figure {
        facts: Default::default(),
        id: "latency-vs-load".into(),
        title: "Mean latency vs load: dynamic batching flattens the curve".into(),
        caption: "Simulated mean sojourn time against utilization, with the M/M/1 formula.".into(),
        run_ids: runs(),
        chart: Chart::Line(LineChart {
            x: Axis::new("utilization ρ", ""),
            panel: Panel::new(
                Axis::new("mean latency", "ms").log(),
                vec![
                    Series::new("no batching (sim)", sim).with_markers(),
                    Series::analytic("M/M/1 analytic", mm1),
                    Series::new("dynamic batching (sim)", batched).with_markers(),
                ],
            )
            .with_ref_line(RefLine::horizontal(100.0, "SLO 100 ms"))
            .with_ref_line(RefLine::vertical(0.8, "ρ = 0.8"))
            .with_highlight(0.7, 35.0, "plan's choice"),
        }),
    }
}

pub fn scatter() -> Figure {
    let p = |label: &str, x: f64, y: f64, size: f64, group: &str| LabeledPoint {
        label: label.into(),
        x,
        y,
        size: Some(size),
        group: Some(group.into()),
    };
    Figure {
        facts: Default::default(),
        id: "accuracy-vs-latency".into(),
        title: "Accuracy vs latency of the model variants".into(),
        caption: String::new(),
        run_ids: runs(),
        chart: Chart::Scatter(ScatterChart {
            x: Axis::new("p99 latency", "ms"),
            y: Axis::new("top-1 accuracy", "%"),
            points: vec![
                p("fp32, 1.6 GB", 42.0, 80.1, 1.6, "full"),
                p("fp16, 0.8 GB", 24.0, 80.0, 0.8, "full"),
                p("int8, 0.4 GB", 15.0, 79.2, 0.4, "quantized"),
                p("int4, 0.2 GB", 11.0, 76.5, 0.2, "quantized"),
                p("distilled, 0.3 GB", 9.0, 77.8, 0.3, "distilled"),
            ],
            size_note: Some("marker area ∝ model memory".into()),
            ref_lines: vec![RefLine::vertical(30.0, "SLO 30 ms")],
        }),
    }
}

pub fn cdf() -> Figure {
    let a: Vec<f64> = (0..5000).map(|i| 5.0 + 20.0 * (f64::from(i) / 5000.0).powi(3)).collect();
    let b: Vec<f64> = (0..300).map(|i| 8.0 + 60.0 * (f64::from(i) / 300.0).powi(4)).collect();
    Figure {
        facts: Default::default(),
        id: "latency-cdf".into(),
        title: "Latency distribution per batching policy".into(),
        caption: String::new(),
        run_ids: runs(),
        chart: Chart::Cdf(CdfChart {
            x: Axis::new("latency", "ms").log(),
            curves: vec![
                CdfCurve { name: "dynamic".into(), data: CdfData::Samples(a), style: LineStyle::Solid },
                CdfCurve { name: "static".into(), data: CdfData::Samples(b), style: LineStyle::Solid },
                CdfCurve {
                    name: "M/D/1 analytic".into(),
                    data: CdfData::Quantiles(vec![[0.0, 5.0], [0.5, 9.0], [0.9, 20.0], [0.99, 40.0], [1.0, 70.0]]),
                    style: LineStyle::Dashed,
                },
            ],
            ref_lines: vec![RefLine::vertical(50.0, "SLO 50 ms"), RefLine::horizontal(0.99, "p99")],
        }),
    }
}

pub fn two_panel() -> Figure {
    let d = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0];
    Figure {
        facts: Default::default(),
        id: "max-queue-delay".into(),
        title: "Max queue delay trades tail latency for throughput".into(),
        caption: String::new(),
        run_ids: runs(),
        chart: Chart::TwoPanel(PanelsChart {
            x: Axis::new("max queue delay", "ms"),
            top: Panel::new(
                Axis::new("p99 latency", "ms"),
                vec![Series::new("S2", d.iter().map(|&x| (x, 20.0 + 2.0 * x))).with_markers()],
            )
            .with_ref_line(RefLine::horizontal(50.0, "SLO 50 ms")),
            bottom: Panel::new(
                Axis::new("throughput", "req/s"),
                vec![
                    Series::new("S2", d.iter().map(|&x| (x, 900.0 + 400.0 * (1.0 - (-x / 4.0).exp())))).with_markers(),
                ],
            )
            .with_highlight(5.0, 900.0 + 400.0 * (1.0 - (-5.0f64 / 4.0).exp()), "chosen: 5 ms"),
        }),
    }
}

pub fn timeline() -> Figure {
    let q: Vec<(f64, f64)> =
        (0..120).map(|i| (f64::from(i) * 0.5, f64::from((i * 7919) % 23) * f64::from(i % 40) / 20.0)).collect();
    let u: Vec<(f64, f64)> =
        (0..120).map(|i| (f64::from(i) * 0.5, 0.4 + 0.5 * (f64::from(i) / 19.0).sin().abs())).collect();
    Figure {
        facts: Default::default(),
        id: "burst-timeline".into(),
        title: "A burst: queue length and utilization over time".into(),
        caption: String::new(),
        run_ids: vec!["run-3f2a9c1b7d4e5a60".into()],
        chart: Chart::Timeline(PanelsChart {
            x: Axis::new("time", "s"),
            top: Panel::new(Axis::new("queue length", "requests"), vec![Series::new("queue", q)]),
            bottom: Panel::new(Axis::new("utilization", ""), vec![Series::new("utilization", u)])
                .with_ref_line(RefLine::horizontal(0.8, "target 0.8")),
        }),
    }
}

pub fn bar() -> Figure {
    Figure {
        facts: Default::default(),
        id: "cost-per-scenario".into(),
        title: "Cost per million requests".into(),
        caption: String::new(),
        run_ids: runs(),
        chart: Chart::Bar(BarChart {
            x_label: "scenario".into(),
            categories: vec!["S1".into(), "S2".into(), "hetero".into(), "cascade".into()],
            y: Axis::new("cost", "USD per 1M requests"),
            series: vec![
                BarSeries { name: "CPU only".into(), values: vec![12.0, 30.5, 22.0, 18.0] },
                BarSeries { name: "GPU".into(), values: vec![8.0, 11.0, 9.5, 7.0] },
                BarSeries { name: "GPU + cache".into(), values: vec![5.5, 9.0, 7.5, 4.0] },
            ],
            ref_lines: vec![RefLine::horizontal(20.0, "budget")],
        }),
    }
}

pub fn all() -> Vec<Figure> {
    vec![line(), scatter(), cdf(), two_panel(), timeline(), bar()]
}
