//! Captions of the scheduling-over-time figures (`src/course/scaling.rs`): autoscaling over a
//! day, autoscaling policies' cost vs SLO, the priority surge, energy per device kind.

use super::{Facts, g, int, pct, series};
use anyhow::{Result, anyhow};
use figures::{LabeledPoint, Panel};

/// Mean of a series' y values.
fn mean_y(points: &[[f64; 2]]) -> f64 {
    if points.is_empty() { 0.0 } else { points.iter().map(|p| p[1]).sum::<f64>() / points.len() as f64 }
}

pub(super) fn autoscaling_timeline(f: &Facts, bottom: &Panel) -> Result<String> {
    let per: Vec<String> = bottom
        .series
        .iter()
        .map(|s| {
            let peak = s.points.iter().map(|p| p[1]).fold(0.0f64, f64::max);
            format!("{} {:.2} (peak hour {:.1})", s.name, mean_y(&s.points), peak)
        })
        .collect();
    let most = bottom
        .series
        .iter()
        .max_by(|a, b| mean_y(&a.points).total_cmp(&mean_y(&b.points)))
        .ok_or_else(|| anyhow!("no policy series"))?;
    Ok(format!(
        "One simulated day of a {}-hour cycle (mean {} requests/s, ±{}) on an autoscaled L4 pool (at most {} \
         replicas) whose new replicas serve {} s after they are asked for: the offered rate per hour (top) and the \
         hourly mean of ready replicas under each policy (bottom). Mean ready replicas over the day: {}; {} keeps \
         the most.",
        g(f.num("period_h")?),
        g(f.num("mean_rate_per_s")?),
        pct(f.num("amplitude")?),
        int(f.num("max_replicas")?),
        g(f.num("cold_start_s")?),
        per.join(", "),
        most.name
    ))
}

pub(super) fn autoscaling_policies(f: &Facts, points: &[LabeledPoint]) -> Result<String> {
    let auto: Vec<&LabeledPoint> = points.iter().filter(|p| p.group.as_deref() == Some("autoscaled")).collect();
    let cheapest = auto.iter().min_by(|a, b| a.x.total_cmp(&b.x)).ok_or_else(|| anyhow!("no policy point"))?;
    let best = auto.iter().max_by(|a, b| a.y.total_cmp(&b.y)).ok_or_else(|| anyhow!("no policy point"))?;
    let name = |p: &LabeledPoint| p.label.split(':').next().unwrap_or_default().to_string();
    let fixed = points.iter().find(|p| p.group.as_deref() == Some("fixed"));
    let reference = match fixed {
        Some(p) => format!(
            " The smallest fixed pool that does as well as the best policy has {} replicas and costs ${:.4} per \
             1,000 requests: the cheapest policy costs {} less.",
            int(f.num("static_replicas")?),
            p.x,
            pct(1.0 - cheapest.x / p.x)
        ),
        None => " No fixed pool tried does as well as the best policy.".to_string(),
    };
    Ok(format!(
        "Each policy over the same day: cost per 1,000 requests (billed replica time, cold starts included) vs the \
         share of requests answered within {} ms; labels give each policy's cold starts. Cheapest: {} (${:.4}, \
         attainment {:.4}); best attainment: {} ({:.4}).{reference}",
        g(f.num("slo_ms")?),
        name(cheapest),
        cheapest.x,
        cheapest.y,
        name(best),
        best.y
    ))
}

pub(super) fn surge(f: &Facts, top: &Panel) -> Result<String> {
    let peak = |name: &str| -> Result<f64> { Ok(series(top, name)?.iter().map(|p| p[1]).fold(0.0f64, f64::max)) };
    let fifo = peak("interactive p99, fifo queue")?;
    let prio = peak("interactive p99, priority queue")?;
    let protects = if prio < fifo {
        "Strict priority protects the interactive requests"
    } else {
        "Strict priority does not help the interactive requests here"
    };
    Ok(format!(
        "{} interactive requests/s throughout and a surge of {} batch requests/s from minute {} to {} on {} servers \
         of {} ms each: the interactive requests' p99 latency per minute (top) and the arrivals (bottom). With one \
         FIFO queue their per-minute p99 peaks at {} ms and {} of them meet {} ms; with strict priority it peaks at \
         {} ms and {} meet it. {protects}; the batch requests pay: they wait up to {} s (FIFO: {} s).",
        int(f.num("interactive_per_s")?),
        int(f.num("batch_per_s")?),
        int(f.num("surge_from_min")?),
        int(f.num("surge_to_min")?),
        int(f.num("servers")?),
        int(f.num("service_ms")?),
        int(fifo),
        pct(f.num("fifo_interactive_attainment")?),
        int(f.num("interactive_slo_ms")?),
        int(prio),
        pct(f.num("priority_interactive_attainment")?),
        g(f.num("priority_batch_max_ms")? / 1e3),
        g(f.num("fifo_batch_max_ms")? / 1e3)
    ))
}

pub(super) fn energy(f: &Facts, points: &[LabeledPoint]) -> Result<String> {
    let low = points.iter().min_by(|a, b| a.y.total_cmp(&b.y)).ok_or_else(|| anyhow!("no point"))?;
    let high = points.iter().max_by(|a, b| a.y.total_cmp(&b.y)).ok_or_else(|| anyhow!("no point"))?;
    let cheap = points.iter().min_by(|a, b| a.x.total_cmp(&b.x)).ok_or_else(|| anyhow!("no point"))?;
    let kind = |p: &LabeledPoint| p.label.split(' ').next().unwrap_or_default().to_string();
    let idle = if f.num("max_busy")? < 0.5 {
        format!(
            " No device is busy half the time at this load (at most {}), so idle power weighs on every token.",
            pct(f.num("max_busy")?)
        )
    } else {
        String::new()
    };
    Ok(format!(
        "{} at {} requests/s on one replica of each device kind: energy per 1M tokens (facility energy, PUE {}) vs \
         cost per 1M tokens; labels give each device's busy share / SLO attainment (TTFT and TPOT). Least energy: {} ({:.3} kWh), most: {} ({:.3} \
         kWh, {:.1}×); cheapest: {} (${:.2}).{idle}",
        f.text("model")?,
        g(f.num("rate_per_s")?),
        g(f.num("pue")?),
        kind(low),
        low.y,
        kind(high),
        high.y,
        high.y / low.y,
        kind(cheap),
        cheap.x
    ))
}

#[cfg(test)]
mod tests {
    use super::super::caption;
    use super::super::tests::golden;
    use figures::{Chart, Fact};

    #[test]
    fn the_surge_caption_says_whether_priority_protects() {
        let mut fig = golden("priority-surge");
        assert!(caption(&fig).unwrap().contains("Strict priority protects"));
        // Make the priority queue's interactive p99 the worse one: the caption turns around.
        let Chart::Timeline(c) = &mut fig.chart else { panic!("a timeline") };
        for s in &mut c.top.series {
            if s.name.contains("priority") {
                s.points.iter_mut().for_each(|p| p[1] = 1e7);
            }
        }
        assert!(caption(&fig).unwrap().contains("does not help"), "{}", caption(&fig).unwrap());
    }

    #[test]
    fn the_policy_caption_names_the_cheapest_and_compares_with_the_fixed_pool() {
        let mut fig = golden("autoscaling-policies");
        let Chart::Scatter(c) = &mut fig.chart else { panic!("a scatter") };
        // The cheapest point by hand, and without a fixed pool the caption says none does as well.
        let cheapest = c
            .points
            .iter()
            .filter(|p| p.group.as_deref() == Some("autoscaled"))
            .min_by(|a, b| a.x.total_cmp(&b.x))
            .unwrap()
            .label
            .split(':')
            .next()
            .unwrap()
            .to_string();
        c.points.retain(|p| p.group.as_deref() != Some("fixed"));
        let text = caption(&fig).unwrap();
        assert!(text.contains(&format!("Cheapest: {cheapest} (")), "{text}");
        assert!(text.contains("No fixed pool tried"), "{text}");
    }

    #[test]
    fn the_energy_caption_blames_idle_power_only_when_every_device_idles() {
        let mut fig = golden("llm-energy");
        fig.facts.insert("max_busy".into(), Fact::Number(0.3));
        assert!(caption(&fig).unwrap().contains("idle power weighs"));
        fig.facts.insert("max_busy".into(), Fact::Number(0.7));
        assert!(!caption(&fig).unwrap().contains("idle power"));
    }
}
