//! How a run's summary is printed: the request-level and LLM summaries as the terminal shows them
//! after `simulate`, `validate` and the course's simulated steps.

use servesim::rundir::{TraceRef, peak_rss_bytes};
use sim::Summary;

/// Rows of durations in ms under `columns`, right-aligned. A row whose largest value reaches
/// 100 s is shown in seconds, its label saying so (`end-to-end (s)`); columns widen to the widest
/// cell, so no number runs into the next.
fn ms_table(columns: &[&str], rows: &[(&str, Vec<f64>)], decimals: usize) -> String {
    let big = |v: &[f64]| v.iter().any(|x| x.abs() >= 1e5);
    let mixed = rows.iter().any(|(_, v)| big(v));
    let cells: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|(name, v)| {
            let (label, scale) = match (mixed, big(v)) {
                (false, _) => (name.to_string(), 1.0),
                (true, false) => (format!("{name} (ms)"), 1.0),
                (true, true) => (format!("{name} (s)"), 1e-3),
            };
            (label, v.iter().map(|x| format!("{:.decimals$}", x * scale)).collect())
        })
        .collect();
    let width = cells
        .iter()
        .flat_map(|(_, v)| v.iter().map(|c| c.len() + 2))
        .chain(columns.iter().map(|c| c.len() + 2))
        .max()
        .unwrap_or(10)
        .max(10);
    let first = cells.iter().map(|(l, _)| l.len() + 2).max().unwrap_or(16).max(16);
    let mut out = format!("{:<first$}", if mixed { "" } else { "ms" });
    for c in columns {
        out += &format!("{c:>width$}");
    }
    out.push('\n');
    for (label, v) in &cells {
        out += &format!("{label:<first$}");
        for c in v {
            out += &format!("{c:>width$}");
        }
        out.push('\n');
    }
    out
}

pub(crate) fn print_llm_summary(s: &sim::llm::LlmSummary, run_id: &str, path: &std::path::Path, trace: &TraceRef) {
    println!("run {run_id}  ->  {}", path.display());
    println!(
        "scenario {}  seed {}  trace {} ({}, {} requests)  scheduler {}",
        s.scenario, s.seed, trace.id, trace.source, trace.requests, s.scheduler
    );
    println!(
        "model {}  {:.1} GB weights x tp {}  decode step (batch 1) {:.2} ms  prefill of 1024 tokens {:.1} ms",
        s.model.model,
        s.model.weight_bytes / 1e9,
        s.model.tensor_parallel,
        s.model.decode_step_batch1_ms,
        s.model.prefill_1024_ms
    );
    println!(
        "requests: {} arrived, {} completed, {} rejected ({} longer than max_model_len, the rest too long for KV memory){}",
        s.requests.arrived,
        s.requests.completed,
        s.requests.rejected,
        s.requests.rejected_too_long,
        if s.requests.timed_out > 0 { format!(", {} timed out", s.requests.timed_out) } else { String::new() }
    );
    println!(
        "tokens: {} prompt, {} output, {} prefilled, {} from prefix cache, {} recomputed",
        s.tokens.input, s.tokens.output, s.tokens.prefill_computed, s.tokens.prefix_cached, s.tokens.recomputed
    );
    let l = &s.latency_ms;
    let rows: Vec<(&str, Vec<f64>)> =
        [("TTFT", &l.ttft), ("TPOT", &l.tpot), ("inter-token", &l.itl), ("end-to-end", &l.e2e)]
            .into_iter()
            .map(|(name, d)| (name, vec![d.mean, d.p50, d.p90, d.p99, d.p999, d.max]))
            .collect();
    print!("{}", ms_table(&["mean", "p50", "p90", "p99", "p99.9", "max"], &rows, 2));
    println!(
        "throughput {:.2} requests/s  {:.0} output tokens/s  {:.0} tokens/s over {:.1} s",
        s.throughput.requests_per_s, s.throughput.output_tokens_per_s, s.throughput.total_tokens_per_s, s.horizon_s
    );
    println!(
        "KV: {} pages of {} tokens  mean utilization {:.3}  peak {:.3}  preemptions {}",
        s.kv.capacity_pages, s.kv.block_size, s.kv.mean_utilization, s.kv.peak_utilization, s.kv.preemptions
    );
    println!(
        "iterations {}  mean {:.1} sequences, {:.1} tokens  prefill-only {}",
        s.iterations.count, s.iterations.mean_seqs, s.iterations.mean_tokens, s.iterations.prefill_only
    );
    if let Some(p) = &s.prefix {
        println!(
            "prefix cache: hit rate {:.4} ({} of {} blocks)  evictions {}",
            p.hit_rate, p.hits, p.lookups, p.evictions
        );
        for t in &p.tiers {
            println!(
                "  tier {:<8} hits {:>8} ({:.4})  loaded {:.1} GB  written {:.1} GB  resident {} of {} blocks  \
                 prefill saved {:.1} s{}",
                t.name,
                t.hits,
                t.hit_rate,
                t.bytes_loaded / 1e9,
                t.bytes_written / 1e9,
                t.resident_blocks,
                t.capacity_blocks,
                t.saved_s,
                if t.shared { "  (shared)" } else { "" }
            );
        }
    }
    if let Some(sp) = &s.speculative {
        println!(
            "speculative ({}, k = {}): {:.3} tokens per step (closed form {:.3})  acceptance {:.4}  proposer {:.1} s",
            sp.method, sp.k, sp.tokens_per_step, sp.expected_tokens_per_step, sp.acceptance_rate, sp.proposer_s
        );
    }
    if let Some(l) = &s.lora {
        println!(
            "LoRA: {} adapters ({:.1} MB each)  resident at admission {:.4}  loads {} ({:.2} s)  evictions {}  passed \
             over {}  {:.2} adapters per iteration",
            l.adapters,
            l.adapter_mb,
            l.hit_rate,
            l.loads,
            l.load_s,
            l.evictions,
            l.passed_over,
            l.mean_adapters_per_iteration
        );
    }
    if let Some(c) = &s.sessions {
        let last = c.by_turn.last();
        println!(
            "sessions: {} conversations, {} completed, {} abandoned  think {:.1} s  last turn: prompt {:.0} tokens, {:.0}% \
             cached, TTFT {:.1} ms",
            c.sessions,
            c.completed,
            c.abandoned,
            c.mean_think_s,
            last.map_or(0.0, |t| t.mean_prompt_tokens),
            100.0 * last.map_or(0.0, |t| t.cached_share),
            last.map_or(0.0, |t| t.ttft_ms.mean)
        );
    }
    if let Some(slo) = &s.slo {
        println!(
            "SLO TTFT <= {} ms and TPOT <= {} ms: attainment {:.4}  goodput {:.2}/s",
            slo.ttft_ms, slo.tpot_ms, slo.attainment, slo.goodput_per_s
        );
    }
    println!(
        "cost {:.4} $  {:.4} $ per 1M output tokens  {:.4} $ per 1M tokens",
        s.cost.usd, s.cost.usd_per_million_output_tokens, s.cost.usd_per_million_tokens
    );
    for c in &s.classes {
        let slo = c.attainment.map_or(String::new(), |a| format!("  SLO attainment {a:.4}"));
        println!(
            "  class {:<12} {:>7} arrived {:>7} completed  TTFT mean {:.1} ms  p99 {:.1} ms  e2e mean {:.1} ms{slo}",
            c.name, c.arrived, c.completed, c.ttft_ms.mean, c.ttft_ms.p99, c.e2e_ms.mean
        );
    }
    if let Some(j) = s.fairness {
        println!("fairness (Jain's index over the classes' SLO attainment) {j:.4}");
    }
    for p in &s.autoscale {
        let a = &p.stats;
        println!(
            "autoscale {}: {:.2} replica-hours  mean ready {:.2}  peak {}  {} cold starts  {} released  \
             under-provisioned {:.0} s",
            p.pool, a.replica_hours, a.mean_ready, a.peak_ready, a.cold_starts, a.scale_downs, a.under_provisioned_s
        );
    }
    if let Some(e) = &s.energy {
        println!(
            "energy {:.4} kWh  mean power {:.1} W  {:.4} kWh per 1M tokens  {:.2} gCO2e ({:.2} g per 1M tokens)",
            e.kwh, e.mean_power_w, e.kwh_per_million_tokens, e.gco2e, e.gco2e_per_million_tokens
        );
    }
    if let Some(b) = peak_rss_bytes() {
        println!("peak memory {:.1} MiB", b as f64 / (1024.0 * 1024.0));
    }
}

pub(crate) fn print_summary(s: &Summary, run_id: &str, path: &std::path::Path, trace: &TraceRef) {
    println!("run {run_id}  ->  {}", path.display());
    println!(
        "scenario {}  seed {}  trace {} ({}, {} requests)",
        s.scenario, s.seed, trace.id, trace.source, trace.requests
    );
    println!(
        "requests: {} arrived, {} completed, {} dropped ({:.3}%)",
        s.requests.arrived,
        s.requests.completed,
        s.requests.dropped,
        100.0 * s.drop_rate
    );
    let rows: Vec<(&str, Vec<f64>)> =
        [("latency", &s.latency_ms), ("queue delay", &s.queue_delay_ms), ("service", &s.service_ms)]
            .into_iter()
            .map(|(name, d)| (name, vec![d.mean, d.p50, d.p90, d.p95, d.p99, d.p999, d.max]))
            .collect();
    print!("{}", ms_table(&["mean", "p50", "p90", "p95", "p99", "p99.9", "max"], &rows, 3));
    println!(
        "throughput {:.2}/s  utilization {:.4}  mean queue {:.3}  mean in system {:.3}  Little residual {:.1e}",
        s.throughput_per_s, s.utilization, s.mean_queue_length, s.mean_in_system, s.little.relative_residual
    );
    if s.batches.max_size > 1 {
        println!("batches {}  mean size {:.2}  max {}", s.batches.count, s.batches.mean_size, s.batches.max_size);
    }
    if let Some(slo) = &s.slo {
        println!(
            "SLO latency <= {} ms: attainment {:.4}  goodput {:.2}/s",
            slo.latency_ms, slo.attainment, slo.goodput_per_s
        );
    }
    if s.cost.usd_per_hour > 0.0 {
        println!(
            "cost {:.4} $ provisioned ({:.3} $/h)  {:.6} $ per 1000 requests",
            s.cost.provisioned_usd, s.cost.usd_per_hour, s.cost.usd_per_1000_requests
        );
    }
    if let Some(e) = &s.energy {
        println!(
            "energy {:.4} kWh  mean power {:.1} W  {:.3} Wh per 1000 requests  {:.2} gCO2e ({:.3} g per 1000 requests)",
            e.kwh, e.mean_power_w, e.wh_per_1000_requests, e.gco2e, e.gco2e_per_1000_requests
        );
    }
    for c in &s.classes {
        let slo = match (c.slo_ms, c.attainment) {
            (Some(t), Some(a)) => format!("  SLO <= {t} ms: attainment {a:.4}"),
            _ => String::new(),
        };
        println!(
            "  class {:<12} {:>8} arrived {:>8} completed  latency mean {:.3} ms  p99 {:.3} ms{slo}",
            c.name, c.requests.arrived, c.requests.completed, c.latency_ms.mean, c.latency_ms.p99
        );
    }
    if let Some(j) = s.fairness {
        println!("fairness (Jain's index over the classes' SLO attainment) {j:.4}");
    }
    for d in &s.devices {
        if let Some(a) = &d.autoscale {
            println!(
                "autoscale {}: {:.2} replica-hours  mean ready {:.2}  peak {}  {} cold starts  {} released  \
                 {} requests waited for a start  under-provisioned {:.0} s  at zero {:.0} s",
                d.name,
                a.replica_hours,
                a.mean_ready,
                a.peak_ready,
                a.cold_starts,
                a.scale_downs,
                a.cold_start_requests,
                a.under_provisioned_s,
                a.at_zero_s
            );
        }
    }
    if let Some(q) = s.quality {
        println!("quality (traffic-weighted accuracy) {q:.4}");
    }
    if let Some(c) = &s.cache {
        println!(
            "cache: {} lookups, hit ratio {:.4} ({} hits, {} stale served, {} stale refreshed, {} misses)",
            c.lookups, c.hit_ratio, c.hits, c.stale_hits, c.stale_misses, c.misses
        );
    }
    if let Some(c) = &s.cascade {
        println!("cascade: {:.2}% escalated", 100.0 * c.escalation_fraction);
        for (name, p) in [("student only", &c.student_path), ("escalated", &c.escalated_path)] {
            println!(
                "  {:<13} {:>8} requests  latency mean {:.3} ms  p99 {:.3} ms  cost {:.3e} $/request  quality {:.4}",
                name, p.requests, p.latency_ms.mean, p.latency_ms.p99, p.mean_cost_usd, p.mean_quality
            );
        }
    }
    for v in &s.variants {
        println!(
            "  variant {:<16} served {:>8}  answered {:>8}  latency mean {:.3} ms  p99 {:.3} ms  quality {:.4}",
            v.name, v.served, v.answered, v.latency_ms.mean, v.latency_ms.p99, v.quality
        );
    }
    if s.devices.len() > 1 {
        for d in &s.devices {
            println!(
                "  device {:<12} {:<6} servers {:>3}  utilization {:.4}  p99 {:.3} ms  completed {}  dropped {}",
                d.name,
                d.kind.as_deref().unwrap_or("-"),
                d.servers,
                d.utilization,
                d.latency_ms.p99,
                d.counts.completed,
                d.counts.dropped
            );
        }
    }
    if let Some(a) = &s.analytic {
        let cmp = |sim: f64, exact: f64| format!("{exact:.3} (sim {sim:.3}, {:+.2}%)", 100.0 * (sim / exact - 1.0));
        print!(
            "analytic {}: E[Wq] {}  E[W] {}",
            a.model,
            cmp(s.queue_delay_ms.mean, a.wq_mean_ms),
            cmp(s.latency_ms.mean, a.w_mean_ms)
        );
        if let Some(p) = a.w_p50_ms {
            print!("  p50 {}", cmp(s.latency_ms.p50, p));
        }
        if let Some(p) = a.w_p99_ms {
            print!("  p99 {}", cmp(s.latency_ms.p99, p));
        }
        println!();
    }
    if let Some(b) = peak_rss_bytes() {
        println!("peak memory {:.1} MiB", b as f64 / (1024.0 * 1024.0));
    }
}

#[cfg(test)]
mod table_tests {
    use super::ms_table;

    #[test]
    fn large_values_are_shown_in_seconds_and_never_run_together() {
        let rows = vec![("TTFT", vec![12.5, 10.0]), ("end-to-end", vec![1_775_762.381_662, 1_662_152.34])];
        let t = ms_table(&["mean", "max"], &rows, 2);
        assert!(t.contains("end-to-end (s)") && t.contains("1775.76") && t.contains("TTFT (ms)"), "{t}");
        for line in t.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.iter().filter(|f| f.parse::<f64>().is_ok()).count() == 2, "{line}");
        }
        // A value too wide for ten characters even in seconds widens every column.
        let rows = vec![("x", vec![123_456_789_012.0, 1.0])];
        let t = ms_table(&["mean", "max"], &rows, 2);
        let row: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row, ["x", "(s)", "123456789.01", "0.00"], "{t}");
        // All in ms: the header says so once, as before.
        let t = ms_table(&["mean"], &[("latency", vec![29.619])], 3);
        assert_eq!(t, format!("{:<16}{:>10}\n{:<16}{:>10}\n", "ms", "mean", "latency", "29.619"));
    }
}
