//! The course's figures on scheduling over time: autoscaling policies over a simulated day (the
//! pool over the day, and cost vs SLO per policy beside the cheapest fixed pool), a batch surge
//! with and without priority queueing, and energy per million tokens across device kinds.

use super::{Course, builtin, classic, facts, llm};
use anyhow::{Result, anyhow};
use figures::{Axis, Chart, Figure, LabeledPoint, Panel, PanelsChart, RefLine, ScatterChart, Series};
use sim::autoscale::{ScalingPolicy, ScheduleStep};
use sim::engine::TimelineRow;
use sim::{ScenarioConfig, SimTime};
use traces::workload::ArrivalSpec;

/// The policies compared besides the built-in scenario's own (utilization): their names in the
/// figures. The schedule is made from the known daily curve; see [`policy`].
pub const POLICIES: [&str; 4] = ["utilization (HPA)", "concurrency (KPA)", "predictive", "schedule"];

/// Fixed pool sizes tried for the static reference.
pub const STATIC_MAX: u32 = 8;

/// Requests of one simulated day at the scenario's mean rate.
fn day_requests(base: &ScenarioConfig) -> Result<(u64, f64, f64, f64)> {
    let Some(ArrivalSpec::Diurnal { mean_rate, amplitude, period_s }) = base.workload.as_ref().map(|w| &w.arrivals)
    else {
        return Err(anyhow!("the autoscaling scenario has a diurnal workload"));
    };
    Ok(((mean_rate * period_s) as u64, *mean_rate, *amplitude, *period_s))
}

/// Policy `name` for the built-in scenario `base` (utilization target 0.6 everywhere; the
/// schedule sizes each hour for its peak rate at that target).
fn policy(base: &ScenarioConfig, name: &str) -> Result<ScalingPolicy> {
    let (_, mean, amp, period) = day_requests(base)?;
    let service_s = base.devices[0].service.as_ref().map_or(0.15, sim::service::ServiceSpec::mean_s);
    Ok(match name {
        "utilization (HPA)" => ScalingPolicy::Utilization { target: 0.6, tolerance: 0.1 },
        "concurrency (KPA)" => {
            ScalingPolicy::Concurrency { target: 0.6, stable_window_s: 60.0, panic_window_s: 6.0, panic_threshold: 2.0 }
        }
        "predictive" => ScalingPolicy::Predictive { target: 0.6, season_s: period, alpha: 0.5, beta: 0.05, gamma: 0.3 },
        _ => {
            let hours = 24;
            let step = period / f64::from(hours);
            let steps = (0..hours)
                .map(|h| {
                    // The highest rate within the hour (the sine's maximum if it falls inside).
                    let rate = |t: f64| mean * (1.0 + amp * (2.0 * std::f64::consts::PI * t / period).sin());
                    let (a, b) = (f64::from(h) * step, f64::from(h + 1) * step);
                    let peak = if (a..b).contains(&(period / 4.0)) { rate(period / 4.0) } else { rate(a).max(rate(b)) };
                    ScheduleStep { at_s: a, replicas: (peak * service_s / 0.6).ceil().max(1.0) as u32 }
                })
                .collect();
            ScalingPolicy::Schedule { steps, period_s: Some(period) }
        }
    })
}

/// Replicas and load over the day per policy, and cost vs SLO attainment per policy with the
/// cheapest fixed pool that meets the SLO as well.
pub(super) fn autoscaling_figures(c: &mut Course) -> Result<()> {
    let base = builtin("autoscaling")?;
    let (n, mean, amp, period) = day_requests(&base)?;
    let slo_ms = base.slo.as_ref().map_or(0.0, |s| s.latency_ms);
    let auto = base.devices[0].autoscale.clone().ok_or_else(|| anyhow!("the scenario autoscales"))?;
    let (mut ids, mut points, mut replicas) = (vec![], vec![], vec![]);
    let mut load: Vec<(f64, f64)> = Vec::new();
    let mut hpa_hours = 0.0;
    for name in POLICIES {
        let mut cfg = base.clone();
        if let Some(a) = cfg.devices[0].autoscale.as_mut() {
            a.policy = policy(&base, name)?;
        }
        let (id, o) = c.point_whole(&cfg, n)?;
        let sim::Outcome::Classic(r) = o else {
            return Err(anyhow!("a request-level run"));
        };
        let s = &r.summary;
        let stats = s.devices[0].autoscale.clone().ok_or_else(|| anyhow!("pool statistics"))?;
        if name == POLICIES[0] {
            hpa_hours = stats.replica_hours;
            load = rows_per_hour(&r.timeline, period, |rows| {
                rows.iter().map(|r| r.arrivals as f64).sum::<f64>() / rows.iter().map(|r| r.dur_s).sum::<f64>()
            });
        }
        replicas.push(Series::new(
            name,
            rows_per_hour(&r.timeline, period, |rows| {
                rows.iter().map(|r| f64::from(r.ready) * r.dur_s).sum::<f64>()
                    / rows.iter().map(|r| r.dur_s).sum::<f64>()
            }),
        ));
        points.push(LabeledPoint {
            label: format!("{name}: {} cold starts", stats.cold_starts),
            x: s.cost.usd_per_1000_requests,
            y: s.slo.as_ref().map_or(0.0, |x| x.attainment),
            size: None,
            group: Some("autoscaled".into()),
        });
        ids.push(id);
    }
    // The static reference: the smallest fixed pool whose attainment is at least the best
    // policy's (fixed pools cost in proportion to their size, so the smallest is the cheapest).
    let best = points.iter().map(|p| p.y).fold(0.0f64, f64::max);
    let mut reference = None;
    for k in 1..=STATIC_MAX {
        let mut cfg = base.clone();
        if let Some(a) = cfg.devices[0].autoscale.as_mut() {
            (a.min, a.max, a.initial) = (k, k, Some(k));
        }
        let (id, o) = c.point_whole(&cfg, n)?;
        let s = classic(o);
        let y = s.slo.as_ref().map_or(0.0, |x| x.attainment);
        ids.push(id);
        if reference.is_none() && y >= best {
            reference = Some((k, s.cost.usd_per_1000_requests, y));
        }
    }
    let mut known = facts([
        ("mean_rate_per_s", mean.into()),
        ("amplitude", amp.into()),
        ("period_h", (period / 3600.0).into()),
        ("slo_ms", slo_ms.into()),
        ("cold_start_s", auto.cold_start_s(0.0, kind_load_rate(&base)).into()),
        ("hpa_replica_hours", hpa_hours.into()),
        ("max_replicas", f64::from(auto.max).into()),
    ]);
    if let Some((k, cost, y)) = reference {
        known.insert("static_replicas".into(), f64::from(k).into());
        points.push(LabeledPoint {
            label: format!("fixed {k} replicas (cheapest fixed pool as good)"),
            x: cost,
            y,
            size: None,
            group: Some("fixed".into()),
        });
    }
    c.emit(Figure {
        facts: known.clone(),
        id: "autoscaling-timeline".into(),
        title: "Autoscaling over a day: load and replicas per policy".into(),
        caption: String::new(),
        run_ids: ids[..POLICIES.len()].to_vec(),
        chart: Chart::Timeline(PanelsChart {
            x: Axis::new("time of day", "h"),
            top: Panel::new(Axis::new("arrival rate", "requests/s"), vec![Series::new("offered", load)]),
            bottom: Panel::new(Axis::new("ready replicas (hourly mean)", ""), replicas),
        }),
    })?;
    c.emit(Figure {
        facts: known,
        id: "autoscaling-policies".into(),
        title: "Autoscaling policies: cost vs SLO attainment over a day".into(),
        caption: String::new(),
        run_ids: ids,
        chart: super::cost_vs_slo(points),
    })
}

/// The load rate of the first device group's kind, if the catalog gives one.
fn kind_load_rate(base: &ScenarioConfig) -> Option<f64> {
    let kind = base.devices[0].kind.as_deref()?;
    base.kinds().ok()?.get(kind)?.load_gb_s
}

/// `f` of the timeline rows of each hour of the day (rows by their end time), as (hour, value)
/// points; hours without rows are left out.
fn rows_per_hour(rows: &[TimelineRow], period: f64, f: impl Fn(&[&TimelineRow]) -> f64) -> Vec<(f64, f64)> {
    let hour = period / 24.0;
    (0..24)
        .filter_map(|h| {
            let inside: Vec<&TimelineRow> = rows
                .iter()
                .filter(|r| r.t_s > f64::from(h) * hour && r.t_s <= f64::from(h + 1) * hour && r.dur_s > 0.0)
                .collect();
            (!inside.is_empty()).then(|| (f64::from(h), f(&inside)))
        })
        .collect()
}

/// The surge: interactive requests/s all along, batch requests/s during the surge window.
pub const SURGE: (f64, f64, f64, f64, f64) = (40.0, 60.0, 600.0, 1200.0, 1800.0);

/// The surge scenario: `queue` discipline, interactive (priority 1, 200 ms) and batch (60 s).
fn surge_config(queue: &str) -> Result<ScenarioConfig> {
    Ok(ScenarioConfig::parse(&format!(
        r#"
name = "surge-{queue}"
description = "A batch surge over interactive traffic, {queue} queue"
seed = 7
[[classes]]
name = "interactive"
priority = 1
slo_ms = 200.0
[[classes]]
name = "batch"
slo_ms = 60000.0
[[devices]]
name = "gpu"
servers = 4
queue = "{queue}"
service = {{ kind = "exponential", mean_ms = 50.0 }}
"#
    ))?)
}

/// The surge's requests: Poisson interactive traffic for the whole run and Poisson batch
/// traffic in the window, merged by arrival, numbered in order.
fn surge_requests() -> Result<Vec<traces::Request>> {
    let (interactive, batch, from, to, end) = SURGE;
    let poisson = |rate: f64, n: u64, seed: u64| -> Result<Vec<traces::Request>> {
        let w: traces::workload::WorkloadSpec =
            toml::from_str(&format!("arrivals = {{ kind = \"poisson\", rate = {rate} }}"))?;
        Ok(w.generator(seed, n)?.collect())
    };
    let mut all = poisson(interactive, (interactive * end) as u64, 11)?;
    let mut b = poisson(batch, (batch * (to - from)) as u64, 12)?;
    for r in &mut b {
        r.arrival = r.arrival.saturating_add(SimTime::from_secs_f64(from).unwrap_or_default());
        r.class = traces::ClassId(1);
    }
    all.append(&mut b);
    all.sort_by_key(|r| (r.arrival, r.class));
    for (i, r) in all.iter_mut().enumerate() {
        r.id = i as u64;
    }
    Ok(all)
}

/// Interactive p99 latency per minute under a FIFO and a priority queue, and the arrival rate
/// per class.
pub(super) fn surge_figure(c: &mut Course) -> Result<()> {
    let requests = surge_requests()?;
    let classes = vec!["interactive".to_string(), "batch".to_string()];
    let minutes = (SURGE.4 / 60.0) as usize;
    let (mut ids, mut p99s, mut known) = (vec![], vec![], std::collections::BTreeMap::new());
    for queue in ["fifo", "priority"] {
        let cfg = surge_config(queue)?;
        let p = crate::ops::simulate::point_on(&cfg, requests.clone(), &classes)?;
        std::fs::write(c.tmp.join("configs").join(format!("{}.toml", p.run_id)), &p.resolved)?;
        c.tick();
        let sim::Outcome::Classic(r) = p.outcome else {
            return Err(anyhow!("a request-level run"));
        };
        let records = r.records.ok_or_else(|| anyhow!("records were kept"))?;
        let mut per_minute: Vec<Vec<f64>> = vec![Vec::new(); minutes];
        for x in records.iter().filter(|x| x.class == 0) {
            let m = ((x.arrival.as_secs_f64() / 60.0) as usize).min(minutes - 1);
            if let Some(f) = x.finish {
                per_minute[m].push((f - x.arrival).as_millis_f64());
            }
        }
        let points: Vec<(f64, f64)> = per_minute
            .iter_mut()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(m, v)| {
                v.sort_by(f64::total_cmp);
                (m as f64, v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1])
            })
            .collect();
        p99s.push(Series::new(format!("interactive p99, {queue} queue"), points));
        let s = &r.summary;
        known.insert(format!("{queue}_interactive_attainment"), s.classes[0].attainment.unwrap_or(0.0).into());
        known.insert(format!("{queue}_interactive_p99_ms"), s.classes[0].latency_ms.p99.into());
        known.insert(format!("{queue}_batch_max_ms"), s.classes[1].latency_ms.max.into());
        ids.push(p.run_id);
    }
    let (interactive, batch, from, to, _) = SURGE;
    for (k, v) in [
        ("interactive_per_s", interactive),
        ("batch_per_s", batch),
        ("surge_from_min", from / 60.0),
        ("surge_to_min", to / 60.0),
        ("servers", 4.0),
        ("service_ms", 50.0),
        ("interactive_slo_ms", 200.0),
    ] {
        known.insert(k.into(), v.into());
    }
    let rate = |class: u16| -> Vec<(f64, f64)> {
        let mut counts = vec![0u64; minutes];
        for r in requests.iter().filter(|r| r.class.0 == class) {
            counts[((r.arrival.as_secs_f64() / 60.0) as usize).min(minutes - 1)] += 1;
        }
        counts.iter().enumerate().map(|(m, &n)| (m as f64, n as f64 / 60.0)).collect()
    };
    c.emit(Figure {
        facts: known,
        id: "priority-surge".into(),
        title: "A batch surge, with and without priorities".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Timeline(PanelsChart {
            x: Axis::new("time", "min"),
            top: Panel::new(Axis::new("interactive p99 latency", "ms").log(), p99s)
                .with_ref_line(RefLine::horizontal(200.0, "interactive SLO")),
            bottom: Panel::new(
                Axis::new("arrival rate", "requests/s"),
                vec![Series::new("interactive", rate(0)), Series::new("batch", rate(1))],
            ),
        }),
    })
}

/// Device kinds of the energy figure (each holds Llama-3.1-8B in fp16 on one device).
pub const ENERGY_KINDS: [&str; 6] = ["l4", "rtx-4090", "l40s", "a100-80gb", "h100-sxm", "b200"];

/// Offered load of the energy figure, requests/s (no replica's queue grows without bound; an
/// L4's decode steps are slow enough to miss the scenario's TPOT target all the same).
pub const ENERGY_RATE: f64 = 0.3;

/// Energy and cost per million tokens of the built-in LLM scenario on one replica of each kind.
pub(super) fn energy_figure(c: &mut Course) -> Result<()> {
    let mut base = builtin("llm")?;
    super::set_rate(&mut base, ENERGY_RATE);
    let (mut points, mut ids, mut max_busy) = (vec![], vec![], 0.0f64);
    for kind in ENERGY_KINDS {
        let mut cfg = base.clone();
        if let Some(l) = cfg.llm.as_mut() {
            l.pools[0].count = 1;
            l.pools[0].kind = kind.to_string();
        }
        let (id, o) = c.point(&cfg, 3000)?;
        let s = llm(o);
        let e = s.energy.as_ref().ok_or_else(|| anyhow!("`{kind}` has a power model"))?;
        let busy = s.replicas.first().map_or(0.0, |r| r.busy_fraction);
        max_busy = max_busy.max(busy);
        points.push(LabeledPoint {
            label: format!("{kind} {:.0}%/{:.0}%", 100.0 * busy, 100.0 * s.slo.as_ref().map_or(0.0, |x| x.attainment)),
            x: s.cost.usd_per_million_tokens,
            y: e.kwh_per_million_tokens,
            size: None,
            group: None,
        });
        ids.push(id);
    }
    let pue = base.energy.as_ref().map_or(1.0, |e| e.pue);
    let known = facts([
        ("rate_per_s", ENERGY_RATE.into()),
        ("model", base.llm.as_ref().map_or("?", |l| l.model.as_str()).into()),
        ("pue", pue.into()),
        ("max_busy", max_busy.into()),
    ]);
    c.emit(Figure {
        facts: known,
        id: "llm-energy".into(),
        title: "Energy and cost per million tokens across device kinds".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Scatter(ScatterChart {
            x: Axis::new("cost per 1M tokens", "$"),
            y: Axis::new("energy per 1M tokens", "kWh"),
            points,
            size_note: None,
            ref_lines: vec![],
        }),
    })
}
