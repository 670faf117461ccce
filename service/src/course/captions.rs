//! The course's captions, each a function of its figure's data alone: the chart and the
//! figure's `facts` (what the caption quotes from the scenario, profile or run that the chart does
//! not hold). A comparison is stated only when a predicate over the data holds; otherwise the
//! caption gives the numbers the data does show. `caption(&fig) == fig.caption` for every figure
//! the course writes (tested on the golden figures and on every course run).

use anyhow::{Result, anyhow, bail};
use figures::{Chart, Fact, Figure, LabeledPoint, Panel};

mod modern;
mod scaling;

/// The caption of a course figure, recomputed from its data.
pub(crate) fn caption(fig: &Figure) -> Result<String> {
    let f = Facts(fig);
    match (fig.id.as_str(), &fig.chart) {
        ("traces", Chart::Cdf(c)) => traces(&f, &c.curves.iter().map(|c| c.name.as_str()).collect::<Vec<_>>()),
        ("latency-vs-load", Chart::Line(c)) => latency_vs_load(&f, &c.panel),
        ("batching-window", Chart::TwoPanel(c)) => batching_window(&f, &c.top, &c.bottom),
        ("batch-size-frontier", Chart::Line(c)) => frontier(&f, &c.panel),
        ("hardware-cost-vs-slo", Chart::Scatter(_)) => hardware(&f),
        ("cache-hit-ratio", Chart::Line(c)) => cache(&f, &c.panel),
        ("stalls", Chart::Line(c)) => stalls(&f, &c.panel),
        ("models-accuracy-vs-memory", Chart::Scatter(c)) => models(&f, &c.points),
        ("calibration", Chart::Line(c)) => calibration(&f, &c.panel),
        ("validation", Chart::Cdf(_)) => validation(&f),
        ("cascade-threshold", Chart::TwoPanel(c)) => cascade(&f, &c.top, &c.bottom),
        ("llm-ttft-tpot-vs-load", Chart::TwoPanel(c)) => llm_load(&f, &c.top, &c.bottom),
        ("llm-kv-timeline", Chart::Timeline(c)) => kv_timeline(&f, &c.top, &c.bottom),
        ("llm-prefix-hit-rate", Chart::Line(c)) => prefix(&f, &c.panel),
        ("llm-groundtruth", Chart::Scatter(c)) => groundtruth(&f, &c.points),
        ("autoscaling-timeline", Chart::Timeline(c)) => scaling::autoscaling_timeline(&f, &c.bottom),
        ("autoscaling-policies", Chart::Scatter(c)) => scaling::autoscaling_policies(&f, &c.points),
        ("priority-surge", Chart::Timeline(c)) => scaling::surge(&f, &c.top),
        ("llm-energy", Chart::Scatter(c)) => scaling::energy(&f, &c.points),
        ("llm-kv-tiers", Chart::TwoPanel(c)) => modern::tiers(&f, &c.top, &c.bottom),
        ("llm-speculative", Chart::Line(c)) => modern::speculative(&f, &c.panel),
        ("llm-lora", Chart::TwoPanel(c)) => modern::lora(&f, &c.top, &c.bottom),
        ("llm-sessions", Chart::TwoPanel(c)) => modern::sessions(&f, &c.top, &c.bottom),
        (id, _) => bail!("no caption for a figure `{id}` of this kind"),
    }
}

/// The figure's facts, read by key.
struct Facts<'a>(&'a Figure);

impl Facts<'_> {
    fn num(&self, key: &str) -> Result<f64> {
        match self.0.facts.get(key) {
            Some(Fact::Number(x)) => Ok(*x),
            _ => Err(anyhow!("figure {}: no number `{key}` among its facts", self.0.id)),
        }
    }

    fn text(&self, key: &str) -> Result<&str> {
        match self.0.facts.get(key) {
            Some(Fact::Text(s)) => Ok(s),
            _ => Err(anyhow!("figure {}: no text `{key}` among its facts", self.0.id)),
        }
    }
}

/// The points of the series named `name` in `panel`.
fn series<'a>(panel: &'a Panel, name: &str) -> Result<&'a [[f64; 2]]> {
    panel
        .series
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.points.as_slice())
        .ok_or_else(|| anyhow!("no series `{name}`"))
}

/// y of `pts` at x (exactly one of the plotted x values).
fn at(pts: &[[f64; 2]], x: f64) -> Option<f64> {
    pts.iter().find(|p| (p[0] - x).abs() <= 1e-9 * x.abs().max(1.0)).map(|p| p[1])
}

/// How many of the x values both series share have `holds(a, b)`, and how many they share.
fn count_where(a: &[[f64; 2]], b: &[[f64; 2]], holds: impl Fn(f64, f64) -> bool) -> (usize, usize) {
    let shared: Vec<(f64, f64)> = a.iter().filter_map(|p| at(b, p[0]).map(|y| (p[1], y))).collect();
    (shared.iter().filter(|(x, y)| holds(*x, *y)).count(), shared.len())
}

/// "at all n …" or "at k of the n …" (`what` in the plural).
fn of(k: usize, n: usize, what: &str) -> String {
    if k == n { format!("at all {n} {what}") } else { format!("at {k} of the {n} {what}") }
}

/// A number of requests/s, tokens or entries with thousands separators.
fn int(x: f64) -> String {
    let s = format!("{:.0}", x.round().abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < -0.5 { format!("-{out}") } else { out }
}

/// A number without trailing zeros (2, 0.25, 1.5).
fn g(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

fn traces(f: &Facts, curves: &[&str]) -> Result<String> {
    let listed: Vec<&str> = f.text("generated_rates_per_s")?.split(", ").collect();
    let rates = if listed.windows(2).all(|w| w[0] == w[1]) { listed[0].to_string() } else { listed.join(", ") };
    let (lo, hi) = (f.num("cv_min")?, f.num("cv_max")?);
    let (lo_name, hi_name) = (f.text("cv_min_trace")?, f.text("cv_max_trace")?);
    let public = if f.num("public_traces")? > 0.0 { "; public traces whole, zero gaps left out" } else { "" };
    Ok(format!(
        "Inter-arrival gaps in units of each trace's mean gap ({} generated requests per workload at {rates} \
         requests/s{public}; {} curves). A Poisson process has exponential gaps (dashed) and CV 1; a larger CV \
         means more short gaps and more long ones — bursts that queue — at the same mean rate. Here the CV runs \
         from {lo:.2} ({lo_name}) to {hi:.2} ({hi_name}). The traces are in traces/ with their ids and statistics \
         (traces/index.json).",
        int(f.num("generated_requests")?),
        curves.len()
    ))
}

/// "a + b·B ms" of an affine batch time.
fn affine(f: &Facts) -> Result<(f64, f64, String)> {
    let (a, b) = (f.num("service_a_ms")?, f.num("service_b_ms")?);
    Ok((a, b, format!("{} + {}·B ms", g(a), g(b))))
}

fn latency_vs_load(f: &Facts, p: &Panel) -> Result<String> {
    let (a, b, model) = affine(f)?;
    let unbatched = 1e3 / (a + b);
    let none = series(p, "none")?;
    let md1 = p.series.iter().find(|s| s.name.starts_with("M/D/1")).ok_or_else(|| anyhow!("no M/D/1 series"))?;
    let (_, shared) = count_where(none, &md1.points, |_, _| true);
    let worst =
        none.iter().filter_map(|q| at(&md1.points, q[0]).map(|e| ((q[1] - e) / e).abs())).fold(0.0f64, f64::max);
    let md1_text = if shared == 0 {
        "M/D/1 (dashed) has no point to compare".to_string()
    } else if worst <= 0.05 {
        format!("the simulation is within {:.1}% of M/D/1 (dashed, exact for it)", 100.0 * worst)
    } else {
        format!("the simulation is up to {:.0}% off M/D/1 (dashed)", 100.0 * worst)
    };
    let mut reach = Vec::new();
    let mut best = 0.0f64;
    for s in p.series.iter().filter(|s| s.name != "none" && !s.name.starts_with("M/D/1")) {
        if let Some(last) = s.points.last() {
            best = best.max(last[0]);
            reach.push(format!("{}, {} requests/s at a mean of {:.1} ms", s.name, int(last[0]), last[1]));
        }
    }
    let low = none.first().map(|q| q[0]).unwrap_or(f64::NAN);
    let extra: Vec<f64> = p
        .series
        .iter()
        .filter(|s| s.name != "none" && !s.name.starts_with("M/D/1"))
        .filter_map(|s| Some(at(&s.points, low)? - at(none, low)?))
        .collect();
    let (emin, emax) = extra.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    let low_text = if extra.is_empty() {
        String::new()
    } else if emin > 0.0 {
        format!(" At {} requests/s the batchers add {emin:.1}–{emax:.1} ms to the mean (they wait to fill).", int(low))
    } else {
        format!(" At {} requests/s the batchers change the mean by {emin:+.1} to {emax:+.1} ms.", int(low))
    };
    Ok(format!(
        "Mean latency vs offered load on one device whose batch of B takes {model}. Without batching it serves at \
         most 1/({} + {}) ms = {} requests/s, and {md1_text}.{low_text} The highest load tried per batcher: {} \
         (up to {:.1}× the unbatched capacity).",
        g(a),
        g(b),
        int(unbatched),
        reach.join("; "),
        best / unbatched
    ))
}

fn batching_window(f: &Facts, top: &Panel, bottom: &Panel) -> Result<String> {
    let (_, _, model) = affine(f)?;
    let p99 = series(top, "p99")?;
    let cap = series(bottom, "capacity at the mean batch size")?;
    let (first, last) = match (cap.first(), cap.last(), p99.last()) {
        (Some(a), Some(b), Some(_)) => (a, b),
        _ => bail!("empty series"),
    };
    let cap_text = if last[1] > first[1] {
        format!(
            "Longer windows build larger batches, so the device could carry more: {} requests/s at the mean batch \
             size with a {} ms window, {} with {} ms (bottom)",
            int(first[1]),
            g(first[0]),
            int(last[1]),
            g(last[0])
        )
    } else {
        format!(
            "The capacity at the mean batch size goes from {} requests/s ({} ms) to {} ({} ms; bottom)",
            int(first[1]),
            g(first[0]),
            int(last[1]),
            g(last[0])
        )
    };
    let min = p99.iter().fold([f64::NAN, f64::INFINITY], |m, q| if q[1] < m[1] { *q } else { m });
    let end = p99[p99.len() - 1];
    let tail = if end[1] > min[1] {
        format!(
            "the p99 is lowest ({:.1} ms) with a {} ms window and pays for longer waits: {:.1} ms at {} ms (top)",
            min[1],
            g(min[0]),
            end[1],
            g(end[0])
        )
    } else {
        format!("the p99 falls to {:.1} ms at {} ms (top)", end[1], g(end[0]))
    };
    Ok(format!(
        "Dynamic batching (max batch {}) at {} requests/s on the {model} device (DESIGN.md S2) as the max queue \
         delay grows. {cap_text}; {tail}.",
        f.num("max_batch")?,
        int(f.num("rate_per_s")?)
    ))
}

fn frontier(f: &Facts, p: &Panel) -> Result<String> {
    let (_, _, model) = affine(f)?;
    let sizes = f.text("batch_sizes")?;
    let lines: Vec<&figures::Series> = p.series.iter().collect();
    let (Some(low), Some(high)) = (lines.first(), lines.last()) else { bail!("no series") };
    // Each series lists its batch sizes in the same order: compare the i-th markers.
    let n = low.points.len().min(high.points.len());
    let above = (0..n).filter(|&i| high.points[i][1] > low.points[i][1]).count();
    let mut trade = Vec::new();
    let (mut more, mut slower) = (0, 0);
    for s in &lines {
        let (Some(a), Some(b)) = (s.points.first(), s.points.last()) else { continue };
        more += usize::from(b[0] > a[0]);
        slower += usize::from(b[1] > a[1]);
        trade.push(format!("{}: {} → {} requests/s, p99 {:.1} → {:.1} ms", s.name, int(a[0]), int(b[0]), a[1], b[1]));
    }
    let k = lines.len();
    let buys = if more == k && slower == k {
        "larger batches buy throughput with tail latency at every load".to_string()
    } else {
        format!("larger batches raise throughput at {more} of {k} loads and the p99 at {slower} of {k}")
    };
    let up = if above == n {
        format!("{} lies above {} at every batch size", high.name, low.name)
    } else {
        format!("{} lies above {} at {above} of {n} batch sizes", high.name, low.name)
    };
    Ok(format!(
        "Each marker is a max batch size ({sizes}; smallest first) on the {model} device, offered a fixed share \
         of the capacity that batch size gives. From the smallest batch to the largest, {buys} ({}). Running \
         closer to capacity moves the frontier up: {up}.",
        trade.join("; ")
    ))
}

fn hardware(f: &Facts) -> Result<String> {
    let slo = g(f.num("slo_ms")?);
    let winner = match f.text("plan_choice") {
        Ok(w) => format!(": {w}"),
        Err(_) => " (none does)".to_string(),
    };
    Ok(format!(
        "Every mix of up to {} {}s and {} {}s behind the {} router at {} requests/s: cost per 1,000 requests vs \
         the share answered within {slo} ms. `servesim plan` picks the cheapest mix whose p99 meets {slo} ms with \
         ≤ {}% drops{winner}.",
        f.num("max_first")?,
        f.text("first_device")?,
        f.num("max_second")?,
        f.text("second_device")?,
        f.text("router")?,
        int(f.num("rate_per_s")?),
        g(100.0 * f.num("max_drop")?)
    ))
}

/// Within this absolute hit-ratio gap a simulated curve "follows" an approximation.
const FOLLOWS: f64 = 0.02;

fn cache(f: &Facts, p: &Panel) -> Result<String> {
    let lru = series(p, "LRU")?;
    let lfu = series(p, "LFU")?;
    let che = p.series.iter().find(|s| s.name.starts_with("Che")).ok_or_else(|| anyhow!("no Che series"))?;
    let ttl = p.series.iter().find(|s| s.name.starts_with("TTL")).ok_or_else(|| anyhow!("no TTL series"))?;
    let worst = lru
        .iter()
        .filter_map(|q| at(&che.points, q[0]).map(|c| (q[0], q[1], c)))
        .max_by(|a, b| (a.1 - a.2).abs().total_cmp(&(b.1 - b.2).abs()))
        .ok_or_else(|| anyhow!("LRU and Che share no capacity"))?;
    let fresh = f.num("freshness_s").ok();
    let che_text = if (worst.1 - worst.2).abs() <= FOLLOWS {
        format!("LRU follows Che's approximation (within {:.3})", (worst.1 - worst.2).abs())
    } else {
        format!(
            "LRU stays off Che's approximation: {:.2} against {:.2} at {} entries, the largest gap. Che's \
             approximation is a warm cache's stationary hit ratio; this cache starts empty for {} requests{}",
            worst.1,
            worst.2,
            int(worst.0),
            int(f.num("requests")?),
            fresh.map_or(String::new(), |s| format!(" and refreshes entries older than {} s", g(s)))
        )
    };
    let (k, n) = count_where(lfu, lru, |a, b| a >= b);
    let lfu_text = if k == n {
        format!("LFU, which keeps the popular head, hits at least as often as LRU {}", of(k, n, "capacities"))
    } else {
        format!("LFU hits at least as often as LRU {}", of(k, n, "capacities"))
    };
    let (k, n) = count_where(&ttl.points, lru, |a, b| a <= b);
    let ttl_text = if k == n {
        format!("{} hits less often than LRU {}: it trades hits for freshness", ttl.name, of(k, n, "capacities"))
    } else {
        format!("{} hits no more often than LRU {}", ttl.name, of(k, n, "capacities"))
    };
    Ok(format!(
        "Zipf({}) requests over {} keys. {che_text}. {lfu_text}; {ttl_text}.",
        g(f.num("zipf_s")?),
        int(f.num("universe")?)
    ))
}

fn stalls(f: &Facts, p: &Panel) -> Result<String> {
    let (svc, rate, dur) = (f.num("service_ms")?, f.num("stall_rate_per_s")?, f.num("stall_ms")?);
    let plain = p.series.iter().find(|s| s.name.starts_with("p99, no stalls")).ok_or_else(|| anyhow!("no p99"))?;
    let stalled = p.series.iter().find(|s| s.name.starts_with("p99, ") && s.name != plain.name);
    let stalled = stalled.ok_or_else(|| anyhow!("no stalled p99"))?;
    let rho = f.num("compare_at_utilization")?;
    let (x, y) = (at(&plain.points, rho), at(&stalled.points, rho));
    let (x, y) = (x.ok_or_else(|| anyhow!("no p99 at {rho}"))?, y.ok_or_else(|| anyhow!("no p99 at {rho}"))?);
    let tail = if y > x {
        format!("but move the p99 at {} load from {x:.2} to {y:.2} ms", pct(rho))
    } else {
        format!("and leave the p99 at {} load at {y:.2} ms ({x:.2} without)", pct(rho))
    };
    let mean = series(p, "mean, with the stalls")?;
    let exact = p.series.iter().find(|s| s.name.ends_with("(exact)")).ok_or_else(|| anyhow!("no exact mean"))?;
    let worst =
        mean.iter().filter_map(|q| at(&exact.points, q[0]).map(|e| ((q[1] - e) / e).abs())).fold(0.0f64, f64::max);
    Ok(format!(
        "One server, {} ms per request, Poisson arrivals. Stalls of {} ms {} times a second (a worker thread \
         descheduled; `calibrate` measures a machine's own and `simulate --profile` models them) take {}% of \
         the server's time {tail}. Dashed: Avi-Itzhak and Naor's mean for M/G/1 whose server stalls \
         (preemptive-resume); the simulated mean is within {:.1}% of it.",
        g(svc),
        g(dur),
        g(rate),
        g(100.0 * rate * dur / 1e3),
        100.0 * worst
    ))
}

fn groundtruth(f: &Facts, points: &[LabeledPoint]) -> Result<String> {
    let runs: Vec<&LabeledPoint> = points.iter().filter(|p| p.label.is_empty()).collect();
    let n = runs.len();
    if n == 0 || n as f64 != f.num("cases")? {
        bail!("{n} runs plotted, the facts say {}", f.num("cases")?);
    }
    let (te, tt) = (f.num("target_e2e_pct")?, f.num("target_ttft_pct")?);
    let mut xs: Vec<f64> = runs.iter().map(|p| p.x).collect();
    let mut ys: Vec<f64> = runs.iter().map(|p| p.y).collect();
    let (me, mt) = (sim::groundtruth::median(&mut xs), sim::groundtruth::median(&mut ys));
    let ours = point(points, "servesim")?;
    if (ours.x - me).abs() > 1e-9 || (ours.y - mt).abs() > 1e-9 {
        bail!("the servesim point is not the median of the runs");
    }
    let within_e2e = runs.iter().filter(|p| p.x <= te).count();
    let within_ttft = runs.iter().filter(|p| p.y <= tt).count();
    let past = runs.iter().filter(|p| p.x > 100.0).count();
    let verdict = |m: f64, target: f64, what: &str| {
        let met = if m <= target { "met" } else { "missed" };
        format!("{what} {m:.1}% (target ≤ {}%: {met})", g(target))
    };
    let blis = (f.num("BLIS e2e_pct")?, f.num("BLIS ttft_pct")?);
    let cmp = |m: f64, b: f64| {
        if m < b {
            "below"
        } else if m > b {
            "above"
        } else {
            "equal to"
        }
    };
    let past_text = if past > 0 {
        format!(
            " {past} of the {n} runs {} predicted past the server's capacity (end-to-end error over 100%): near \
             saturation a few per cent of iteration time decide whether the queue grows.",
            if past == 1 { "is" } else { "are" }
        )
    } else {
        String::new()
    };
    Ok(format!(
        "Each unlabelled point is one of {n} real vLLM runs ({}), its mean TTFT and end-to-end latency predicted by \
         parameters fitted without it (leave-one-out, recorded by `{}`). Median |error|: {}, {}; {} of the {n} runs \
         within {}% on end-to-end latency and {} within {}% on TTFT.{past_text} Beside them, the medians other \
         simulators published on their own cases ({}): servesim's is {} BLIS's {}% on end-to-end latency and {} its \
         {}% on TTFT; LLM-Optimizer ({}% end-to-end) and Vidur (over {}%) published no TTFT.",
        f.text("gpus")?,
        f.text("calibration_command")?,
        verdict(me, te, "end-to-end"),
        verdict(mt, tt, "TTFT"),
        within_e2e,
        g(te),
        within_ttft,
        g(tt),
        f.text("anchors_source")?,
        cmp(me, blis.0),
        g(blis.0),
        cmp(mt, blis.1),
        g(blis.1),
        g(f.num("LLM-Optimizer e2e_pct")?),
        g(f.num("Vidur e2e_pct")?),
    ))
}

fn point<'a>(points: &'a [LabeledPoint], label: &str) -> Result<&'a LabeledPoint> {
    points.iter().find(|p| p.label == label).ok_or_else(|| anyhow!("no point `{label}`"))
}

fn models(f: &Facts, points: &[LabeledPoint]) -> Result<String> {
    let t32 = point(points, "teacher-fp32")?;
    let t8 = point(points, "teacher-int8")?;
    let t4 = point(points, "teacher int4")?;
    let s32 = point(points, "student-fp32")?;
    let hard = point(points, "student-hard-fp32").ok();
    let acc = |a: f64, b: f64| {
        if (a - b).abs() < 5e-4 { "the same accuracy".to_string() } else { format!("accuracy {a:.3} vs {b:.3}") }
    };
    let distil = hard.map_or(String::new(), |h| {
        let verb = if s32.y > h.y {
            "beats"
        } else if s32.y < h.y {
            "does not beat"
        } else {
            "ties"
        };
        format!("; the distilled student {verb} the same student trained on hard labels ({:.3} vs {:.3})", s32.y, h.y)
    });
    Ok(format!(
        "Test accuracy vs weight bytes of the real models (`servesim models build --preset {}`, seed 42, dataset \
         {}). The int8 teacher takes {:.1}× less memory than fp32 ({} vs {} bytes, {}), the int4 preview {:.1}× \
         less ({}); the distilled student is {:.0}× smaller than the teacher{distil}. Latency is measured by the \
         replay harness (calibration). Model ids in the footer.",
        f.text("preset")?,
        f.text("dataset_id")?,
        t32.x / t8.x,
        int(t8.x),
        int(t32.x),
        acc(t8.y, t32.y),
        t32.x / t4.x,
        acc(t4.y, t32.y),
        t32.x / s32.x,
    ))
}

fn calibration(f: &Facts, p: &Panel) -> Result<String> {
    let fp32 = series(p, "teacher-fp32 (median)").ok();
    let int8 = series(p, "teacher-int8 (median)").ok();
    let compare = match (fp32, int8) {
        (Some(a), Some(b)) => match a.iter().rev().find_map(|q| at(b, q[0]).map(|y| (q[0], q[1], y))) {
            Some((batch, x, y)) => {
                let how = if y < x {
                    format!("{:.1}× faster", x / y)
                } else {
                    format!("no faster ({:.1}× the time)", y / x)
                };
                format!(" At batch {}, the int8 teacher takes {y:.3} ms against fp32's {x:.3} ms: {how}.", int(batch))
            }
            None => String::new(),
        },
        _ => String::new(),
    };
    Ok(format!(
        "Median time of one batch (ONNX Runtime {}, {} intra-op thread(s), {}) for the real models, with the \
         least-squares line a + b·B that `simulate --profile` can use.{compare}",
        f.text("onnxruntime")?,
        f.num("threads")?,
        f.text("cpu")?
    ))
}

fn validation(f: &Facts) -> Result<String> {
    let e = |k: &str| f.num(k).map(|x| 100.0 * x);
    let (p50, p99) = (e("error_p50")?, e("error_p99")?);
    let (s50, s99) = (e("at_speed_error_p50")?, e("at_speed_error_p99")?);
    let explained = if s50.abs() < p50.abs() && s99.abs() < p99.abs() {
        " Scaling the profile by that speed shrinks both errors: much of the gap is the machine's speed \
         between calibration and replay (BENCHMARKS.md)."
    } else {
        ""
    };
    Ok(format!(
        "The int8 teacher on ONNX Runtime with dynamic batching (max 16, 1 ms) at {} requests/s, {} requests \
         released in real time, against the simulator running the same trace and batcher with the calibrated \
         profile. Errors (sim − replay)/replay: p50 {p50:+.1}%, p90 {:+.1}%, p99 {p99:+.1}%; KS distance {:.3}. \
         The profile is each batch size's busy time measured through the replay's own worker path, the slowdown \
         of a server after idle gaps (cold starts, fitted to bursts after gaps of 0–100 ms) and the stalls seen \
         meanwhile (the worker thread preempted while it works). During the replay the machine ran at {:.2}× the \
         profile's prediction; in-sample diagnostics, not accuracy: with the profile scaled by that, the sim is \
         off by p50 {s50:+.1}%, p99 {s99:+.1}%; given the replay's own busy times, by p50 {:+.1}%, p90 {:+.1}%, \
         p99 {:+.1}%.{explained}",
        int(f.num("rate_per_s")?),
        int(f.num("requests")?),
        e("error_p90")?,
        f.num("ks_distance")?,
        f.num("speed_ratio")?,
        e("own_busy_error_p50")?,
        e("own_busy_error_p90")?,
        e("own_busy_error_p99")?,
    ))
}

fn cascade(f: &Facts, top: &Panel, bottom: &Panel) -> Result<String> {
    let acc = series(top, "cascade (measured)")?;
    let alone = series(top, "the student alone, same requests")?;
    let esc = series(bottom, "escalated")?;
    let (Some(a0), Some(a1), Some(e0), Some(e1)) = (acc.first(), acc.last(), esc.first(), esc.last()) else {
        bail!("empty series")
    };
    let trade = if a1[1] > a0[1] && e1[1] > e0[1] {
        "raising the threshold buys accuracy with teacher time"
    } else {
        "raising the threshold does not buy accuracy here"
    };
    let (k, n) = count_where(acc, alone, |c, s| c > s);
    Ok(format!(
        "The distilled int8 student answers first; when its own top-class probability is below the threshold the \
         request goes on to the int8 teacher. Replayed on ONNX Runtime ({} requests at {}/s per threshold). From \
         threshold {} to {} the escalated share goes from {:.0}% to {:.0}% and the cascade's accuracy from \
         {:.3} to {:.3}: {trade}. The cascade beats the student alone {}; p99 latency {:.2}–{:.2} ms.",
        int(f.num("requests")?),
        int(f.num("rate_per_s")?),
        g(a0[0]),
        g(a1[0]),
        e0[1],
        e1[1],
        a0[1],
        a1[1],
        of(k, n, "thresholds"),
        f.num("p99_min_ms")?,
        f.num("p99_max_ms")?
    ))
}

/// The highest x of `pts` up to which every y is within `limit` ("none" if the first is not).
fn within_up_to(pts: &[[f64; 2]], limit: f64) -> Option<f64> {
    pts.iter().take_while(|q| q[1] <= limit).last().map(|q| q[0])
}

fn llm_load(f: &Facts, top: &Panel, bottom: &Panel) -> Result<String> {
    let ttft_slo = f.num("ttft_slo_ms")?;
    let mut reach = Vec::new();
    for s in &top.series {
        reach.push(match within_up_to(&s.points, ttft_slo) {
            Some(x) => format!("{} up to {} requests/s", s.name, g(x)),
            None => format!("{} at none of the loads", s.name),
        });
    }
    let chunked = bottom.series.iter().find(|s| s.name.contains("chunked"));
    let plain = series(bottom, "continuous")?;
    let tpot = match chunked {
        Some(c) => {
            let (k, n) = count_where(&c.points, plain, |a, b| a < b);
            format!(
                " Chunked prefill, which keeps decodes flowing during long prompts, has a lower p99 TPOT than plain \
                 continuous batching {}.",
                of(k, n, "loads")
            )
        }
        None => String::new(),
    };
    Ok(format!(
        "{} ({} weights) on one {} replica (roofline), prompts of {} and outputs of {} tokens on average as in \
         the Azure conversation trace. The p99 TTFT stays within the {} ms SLO {} (top).{tpot}",
        f.text("model")?,
        f.text("weights")?,
        f.text("device")?,
        int(f.num("prompt_mean")?),
        int(f.num("output_mean")?),
        int(ttft_slo),
        reach.join(", ")
    ))
}

/// KV use at or above this share of capacity counts as full.
const FULL: f64 = 0.95;

fn kv_timeline(f: &Facts, top: &Panel, bottom: &Panel) -> Result<String> {
    let kv = series(top, "used / capacity")?;
    let waiting = series(bottom, "waiting")?;
    let peak = kv.iter().map(|q| q[1]).fold(0.0f64, f64::max);
    let max_wait = waiting.iter().map(|q| q[1]).fold(0.0f64, f64::max);
    let first_full = kv.iter().find(|q| q[1] >= FULL).map(|q| q[0]);
    let first_wait = waiting.iter().find(|q| q[1] > 0.0).map(|q| q[0]);
    let story = match (first_full, first_wait) {
        (Some(full), Some(wait)) if full <= wait => {
            format!("memory fills (peak {}) before the queue grows (first waiting sequence at {wait:.0} s)", pct(peak))
        }
        (Some(_), Some(wait)) => format!(
            "sequences wait from {wait:.0} s, before memory fills (peak {}); at most {max_wait:.0} wait at once",
            pct(peak)
        ),
        (Some(_), None) => format!("memory fills (peak {}) and no sequence waits", pct(peak)),
        (None, Some(_)) => format!(
            "KV use peaks at {} of capacity, so memory never fills; at most {max_wait:.0} sequence(s) wait at once",
            pct(peak)
        ),
        (None, None) => format!("KV use peaks at {} of capacity and no sequence waits", pct(peak)),
    };
    Ok(format!(
        "Continuous batching at {} requests/s: KV pages in use (top; {} pages of {} tokens) and sequences running \
         or waiting (bottom), sampled every {} s. Here {story}; {} preemptions.",
        g(f.num("rate_per_s")?),
        int(f.num("capacity_pages")?),
        int(f.num("block_size")?),
        g(f.num("interval_s")?),
        int(f.num("preemptions")?)
    ))
}

fn prefix(f: &Facts, p: &Panel) -> Result<String> {
    let (tokens, block, prompt) = (f.num("prefix_tokens")?, f.num("block_tokens")?, f.num("prompt_mean")?);
    let one = series(p, "1 replica")?;
    let random = p.series.iter().find(|s| s.name.contains("random")).ok_or_else(|| anyhow!("no random series"))?;
    let aware = p.series.iter().find(|s| s.name.contains("prefix-aware")).ok_or_else(|| anyhow!("no prefix-aware"))?;
    let bound = p.series.iter().find(|s| s.name.contains("bound")).ok_or_else(|| anyhow!("no bound"))?;
    // The point where random routing loses the most against one replica.
    let k = one
        .iter()
        .filter_map(|q| at(&random.points, q[0]).map(|r| (q[0], q[1] - r)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|x| x.0)
        .ok_or_else(|| anyhow!("no shared K"))?;
    let v = |pts: &[[f64; 2]]| at(pts, k).unwrap_or(f64::NAN);
    let (h1, hr, ha, hb) = (v(one), v(&random.points), v(&aware.points), v(&bound.points));
    let split = if hr < 0.8 * h1 {
        format!("random routing over {} replicas splits the reuse", f.num("replicas")?)
    } else {
        format!(
            "random routing over {} replicas loses little against one replica (at most {:.2} of the hit rate)",
            f.num("replicas")?,
            h1 - hr
        )
    };
    let (won, n) = count_where(&aware.points, &random.points, |a, b| a >= b);
    Ok(format!(
        "{} on {}s; each request starts with one of K shared {}-token prefixes (Zipf {}) then ~{} tokens of its \
         own, so at most {:.0} of its ~{:.0} blocks can hit. At K = {}: one replica hits {h1:.2}, {} {hr:.2}, {} \
         {ha:.2}, against the workload's bound (dashed) of {hb:.2}; {split}. Prefix-aware routing, which sends each \
         prefix where it is cached, hits at least as often as random routing {}.",
        f.text("model")?,
        f.text("device")?,
        int(tokens),
        g(f.num("zipf_s")?),
        int(prompt),
        (tokens / block).floor(),
        ((tokens + prompt) / block).ceil(),
        g(k),
        random.name,
        aware.name,
        of(won, n, "values of K")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The golden figure `id` (`tests/golden/course-quick`).
    pub(super) fn golden(id: &str) -> Figure {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/course-quick").join(format!("{id}.json"));
        Figure::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn panel_mut(fig: &mut Figure) -> &mut Panel {
        match &mut fig.chart {
            Chart::Line(c) => &mut c.panel,
            _ => panic!("a line chart"),
        }
    }

    fn set(fig: &mut Figure, name: &str, f: impl Fn(f64, f64) -> f64) {
        let s = panel_mut(fig).series.iter_mut().find(|s| s.name == name).unwrap();
        for p in &mut s.points {
            p[1] = f(p[0], p[1]);
        }
    }

    #[test]
    fn every_golden_caption_is_its_data_s_caption() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/course-quick");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let fig = Figure::from_json(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
            assert_eq!(caption(&fig).unwrap(), fig.caption, "{}", fig.id);
            n += 1;
        }
        assert_eq!(n, 20);
    }

    #[test]
    fn the_groundtruth_caption_counts_and_compares_what_is_plotted() {
        let mut fig = golden("llm-groundtruth");
        let Chart::Scatter(c) = &mut fig.chart else { panic!("a scatter") };
        // Four runs, the median of their errors, the anchors: set by hand.
        c.points.retain(|p| !p.label.is_empty() && p.label != "servesim");
        for (x, y) in [(2.0, 10.0), (4.0, 12.0), (8.0, 30.0), (300.0, 50_000.0)] {
            c.points.push(LabeledPoint { label: String::new(), x, y, size: None, group: None });
        }
        c.points.push(LabeledPoint { label: "servesim".into(), x: 6.0, y: 21.0, size: None, group: None });
        fig.facts.insert("cases".into(), Fact::Number(4.0));
        let text = caption(&fig).unwrap();
        assert!(text.contains("end-to-end 6.0% (target ≤ 6%: met), TTFT 21.0% (target ≤ 15%: missed)"), "{text}");
        assert!(text.contains("2 of the 4 runs within 6% on end-to-end latency and 2 within 15% on TTFT"), "{text}");
        assert!(text.contains("1 of the 4 runs is predicted past the server's capacity"), "{text}");
        assert!(
            text.contains("servesim's is below BLIS's 6.5% on end-to-end latency and above its 14% on TTFT"),
            "{text}"
        );
        // A servesim point that is not the runs' median, or a run count the facts deny: refused.
        let set_x = |fig: &mut Figure, x: f64| {
            let Chart::Scatter(c) = &mut fig.chart else { panic!("a scatter") };
            c.points.last_mut().unwrap().x = x;
        };
        set_x(&mut fig, 5.0);
        assert!(caption(&fig).is_err());
        set_x(&mut fig, 6.0);
        assert!(caption(&fig).is_ok());
        fig.facts.insert("cases".into(), Fact::Number(5.0));
        assert!(caption(&fig).is_err());
    }

    #[test]
    fn lru_follows_che_only_when_its_data_does() {
        let mut fig = golden("cache-hit-ratio");
        let text = caption(&fig).unwrap();
        // The course's short run starts cold and refreshes old entries: it does not follow Che.
        assert!(text.contains("stays off Che") && !text.contains("follows"), "{text}");
        let che: Vec<[f64; 2]> =
            panel_mut(&mut fig).series.iter().find(|s| s.name.starts_with("Che")).unwrap().points.clone();
        set(&mut fig, "LRU", |x, _| at(&che, x).unwrap() - 0.01);
        assert!(caption(&fig).unwrap().contains("LRU follows Che's approximation (within 0.010)"));
        // LFU below LRU somewhere: the caption counts instead of claiming.
        set(&mut fig, "LFU", |_, _| 0.0);
        let text = caption(&fig).unwrap();
        assert!(text.contains("LFU hits at least as often as LRU at 0 of the 7 capacities"), "{text}");
        assert!(!text.contains("keeps the popular head"), "{text}");
    }

    #[test]
    fn the_kv_timeline_says_memory_fills_only_when_it_does() {
        let mut fig = golden("llm-kv-timeline");
        let text = caption(&fig).unwrap();
        assert!(!text.contains("memory fills"), "{text}");
        assert!(text.contains("memory never fills"), "{text}");
        if let Chart::Timeline(c) = &mut fig.chart {
            for p in &mut c.top.series[0].points {
                p[1] = 1.0;
            }
        }
        let text = caption(&fig).unwrap();
        assert!(text.contains("memory fills (peak 100%) before the queue grows"), "{text}");
    }

    #[test]
    fn the_memory_ratios_are_the_plotted_bytes() {
        let mut fig = golden("models-accuracy-vs-memory");
        let text = caption(&fig).unwrap();
        // 20,492 / 6,040 bytes and 20,492 / 3,812 bytes (tiny preset), not "a quarter" and "an eighth".
        assert!(text.contains("3.4× less memory") && text.contains("5.4× less"), "{text}");
        if let Chart::Scatter(c) = &mut fig.chart {
            c.points.iter_mut().find(|p| p.label == "teacher-int8").unwrap().x = 20_492.0 / 4.0;
        }
        assert!(caption(&fig).unwrap().contains("4.0× less memory"));
    }

    #[test]
    fn batching_captions_take_the_device_from_the_scenario() {
        for id in ["latency-vs-load", "batching-window", "batch-size-frontier"] {
            let mut fig = golden(id);
            assert!(caption(&fig).unwrap().contains("2 + 0.25·B ms"));
            fig.facts.insert("service_b_ms".into(), Fact::Number(0.5));
            let text = caption(&fig).unwrap();
            assert!(text.contains("2 + 0.5·B ms"), "{text}");
            if id == "latency-vs-load" {
                // 1 / 2.5 ms, not a hard-coded 444.
                assert!(text.contains("= 400 requests/s"), "{text}");
            }
        }
    }

    #[test]
    fn the_prefix_caption_does_not_claim_a_split_the_data_lacks() {
        let mut fig = golden("llm-prefix-hit-rate");
        let text = caption(&fig).unwrap();
        assert!(text.contains("loses little") && !text.contains("splits"), "{text}");
        set(&mut fig, "4 replicas, random routing", |_, y| y / 4.0);
        assert!(caption(&fig).unwrap().contains("splits the reuse"));
    }

    #[test]
    fn a_missing_fact_is_an_error_naming_it() {
        let mut fig = golden("stalls");
        fig.facts.remove("stall_ms");
        let e = caption(&fig).unwrap_err().to_string();
        assert!(e.contains("stall_ms") && e.contains("stalls"), "{e}");
    }
}
