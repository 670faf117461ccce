//! The course's figures on modern LLM serving mechanisms: the prefix hit rate and TTFT as KV
//! tiers grow below the GPU, the speed-up of speculative decoding by acceptance rate and batch
//! size, LoRA adapter slots against TTFT with and without adapter affinity, and a multi-turn
//! conversation's context growth with and without prefix caching.

use super::{Course, builtin, facts, llm, set_rate};
use anyhow::{Result, anyhow};
use figures::{Axis, Chart, Figure, LineChart, Panel, PanelsChart, RefLine, Series};
use sim::ScenarioConfig;
use sim::llm::{KvTierSpec, LlmRouterSpec, PrefixCacheSpec, kv::TierPolicy};

/// Capacity of the tier below the GPU, GB (per replica for DRAM; in all for the shared pool).
pub const TIER_GB: [f64; 4] = [16.0, 64.0, 256.0, 1024.0];

/// Offered load of the tier figure, requests/s (the two replicas keep up).
pub const TIER_RATE: f64 = 0.5;

/// The tier figure's workload: long shared prefixes (documents, agent contexts) of 8,192 tokens,
/// 16 blocks of 512: one replica's HBM holds about fifty of them.
fn tier_prefixes() -> traces::workload::PrefixSpec {
    traces::workload::PrefixSpec { prompts: 4096, tokens: 8192, zipf_s: 0.8, block_tokens: 512 }
}

/// The built-in `llm` scenario with the tier figure's prefixes and prefix caching.
fn tier_base() -> Result<ScenarioConfig> {
    let mut base = builtin("llm")?;
    set_rate(&mut base, TIER_RATE);
    if let Some(w) = base.workload.as_mut() {
        w.prefixes = Some(tier_prefixes());
    }
    if let Some(l) = base.llm.as_mut() {
        // The scenario's join-shortest-queue router: reuse crosses replicas, which a shared pool
        // catches and per-replica DRAM does not.
        l.prefix_cache = Some(PrefixCacheSpec { block_tokens: 512 });
    }
    Ok(base)
}

fn tier(name: &str, capacity_gb: f64, shared: bool) -> KvTierSpec {
    KvTierSpec {
        name: name.into(),
        capacity_gb,
        bandwidth_gb_s: 25.0,
        latency_us: 10.0,
        shared,
        policy: TierPolicy::Lru,
        overlap: false,
    }
}

/// Hit rate and mean TTFT vs the size of one tier below HBM: per-replica DRAM or a pool shared by
/// the replicas, with the workload's reuse bound and HBM alone.
pub(super) fn tiers_figure(c: &mut Course) -> Result<()> {
    let base = tier_base()?;
    let (id, o) = c.point(&base, 6_000)?;
    let hbm = llm(o);
    let mut ids = vec![id];
    let hbm_hit = hbm.prefix.as_ref().map_or(0.0, |p| p.hit_rate);
    let (mut hits, mut ttfts) = (vec![], vec![]);
    for (name, shared) in [("DRAM per replica", false), ("pool shared by the replicas", true)] {
        let (mut h, mut t) = (vec![], vec![]);
        for gb in TIER_GB {
            let mut cfg = base.clone();
            if let Some(l) = cfg.llm.as_mut() {
                l.kv_tiers = vec![tier(if shared { "pool" } else { "dram" }, gb, shared)];
            }
            let (id, o) = c.point(&cfg, 6_000)?;
            let s = llm(o);
            h.push((gb, s.prefix.as_ref().map_or(0.0, |p| p.hit_rate)));
            t.push((gb, s.latency_ms.ttft.mean));
            ids.push(id);
        }
        hits.push(Series::new(name, h).with_markers());
        ttfts.push(Series::new(name, t).with_markers());
    }
    // The workload's own bound: blocks whose id appeared in an earlier request.
    let w = base.workload.as_ref().ok_or_else(|| anyhow!("a workload"))?;
    let bound = traces::stats::repeated_block_fraction(w.generator(base.seed, c.requests(6_000))?);
    hits.push(Series::analytic("reuse bound of the workload", TIER_GB.map(|gb| (gb, bound))));
    let p = tier_prefixes();
    let known = facts([
        ("model", base.llm.as_ref().map_or("?", |l| l.model.as_str()).into()),
        ("rate_per_s", TIER_RATE.into()),
        ("prompts", (p.prompts as f64).into()),
        ("prefix_tokens", (p.tokens as f64).into()),
        ("hbm_hit_rate", hbm_hit.into()),
        ("hbm_ttft_ms", hbm.latency_ms.ttft.mean.into()),
        ("bandwidth_gb_s", 25.0.into()),
    ]);
    c.emit(Figure {
        facts: known,
        id: "llm-kv-tiers".into(),
        title: "A KV cache tier below HBM: prefix hits and TTFT".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::TwoPanel(PanelsChart {
            x: Axis::new("tier capacity", "GB").log(),
            top: Panel::new(Axis::new("prefix block hit rate", ""), hits)
                .with_ref_line(RefLine::horizontal(hbm_hit, "HBM only")),
            bottom: Panel::new(Axis::new("mean TTFT", "ms"), ttfts)
                .with_ref_line(RefLine::horizontal(hbm.latency_ms.ttft.mean, "HBM only")),
        }),
    })
}

/// Acceptance rates of the speculative decoding figure.
pub const SPEC_ALPHAS: [f64; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];

/// Running sequences (`max_num_seqs`, kept full by a saturating load) of its curves.
pub const SPEC_BATCHES: [u32; 3] = [1, 16, 64];

/// Proposals per step.
pub const SPEC_K: u32 = 4;

/// Requests per run (whatever the scale: each run's decode steps are what the figure shows).
const SPEC_REQUESTS: u64 = 200;

/// Llama-3.1-8B on one H100 SXM decoding 128-token answers to 256-token prompts, `batch`
/// sequences at a time (arrivals far faster than service keep the batch full).
fn spec_base(batch: u32) -> Result<ScenarioConfig> {
    let mut base = builtin("llm")?;
    set_rate(&mut base, 10_000.0);
    if let Some(w) = base.workload.as_mut() {
        w.input_size = traces::workload::SizeSpec::Fixed { value: 256 };
        w.output_tokens = traces::workload::SizeSpec::Fixed { value: 128 };
    }
    let l = base.llm.as_mut().ok_or_else(|| anyhow!("an [llm] table"))?;
    l.pools[0].count = 1;
    l.pools[0].kind = "h100-sxm".into();
    l.scheduler = sim::llm::SchedulerSpec::Continuous {
        max_num_seqs: batch,
        max_batched_tokens: 8192,
        chunked_prefill: true,
        preemption: sim::llm::Preemption::Recompute,
        async_scheduling: false,
    };
    Ok(base)
}

/// TPOT speed-up of a Llama-3.2-1B draft (k = 4) over plain decoding, by acceptance rate, at
/// several batch sizes; the closed-form tokens per step for reference.
pub(super) fn speculative_figure(c: &mut Course) -> Result<()> {
    let (mut series, mut ids) = (vec![], vec![]);
    for batch in SPEC_BATCHES {
        let base = spec_base(batch)?;
        let (id, o) = c.point_whole(&base, SPEC_REQUESTS)?;
        let plain = llm(o).latency_ms.tpot.mean;
        ids.push(id);
        let mut pts = vec![];
        for alpha in SPEC_ALPHAS {
            let mut cfg = base.clone();
            if let Some(l) = cfg.llm.as_mut() {
                l.speculative = Some(sim::llm::SpeculativeSpec {
                    method: sim::llm::SpecMethod::Draft,
                    k: SPEC_K,
                    acceptance: sim::llm::Acceptance::Constant(alpha),
                    draft_model: Some("llama-3.2-1b".into()),
                    draft_shape: None,
                });
            }
            let (id, o) = c.point_whole(&cfg, SPEC_REQUESTS)?;
            pts.push((alpha, plain / llm(o).latency_ms.tpot.mean));
            ids.push(id);
        }
        series.push(Series::new(format!("batch {batch}"), pts).with_markers());
    }
    let closed = |a: f64| (1.0 - a.powi(SPEC_K as i32 + 1)) / (1.0 - a);
    series.push(Series::analytic("tokens per step (closed form)", SPEC_ALPHAS.map(|a| (a, closed(a)))));
    let known = facts([
        ("model", "llama-3.1-8b".into()),
        ("draft", "llama-3.2-1b".into()),
        ("device", "h100-sxm".into()),
        ("k", f64::from(SPEC_K).into()),
    ]);
    c.emit(Figure {
        facts: known,
        id: "llm-speculative".into(),
        title: "Speculative decoding: speed-up vs acceptance and batch size".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::Line(LineChart {
            x: Axis::new("acceptance rate α", ""),
            panel: Panel::new(Axis::new("TPOT speed-up", "×"), series)
                .with_ref_line(RefLine::horizontal(1.0, "no speed-up")),
        }),
    })
}

/// Adapter slots per replica of the LoRA figure (also the adapters allowed in one batch).
pub const LORA_SLOTS: [u32; 5] = [1, 2, 4, 8, 16];

/// Distinct adapters, Zipf(1) popularity.
pub const LORA_ADAPTERS: u32 = 64;

/// Offered load of the LoRA figure, requests/s.
pub const LORA_RATE: f64 = 3.0;

/// Mean TTFT and adapter hit rate vs adapter slots, round robin vs adapter affinity.
pub(super) fn lora_figure(c: &mut Course) -> Result<()> {
    let mut base = builtin("llm")?;
    set_rate(&mut base, LORA_RATE);
    let (mut ttft, mut hit, mut ids) = (vec![], vec![], vec![]);
    for (name, router) in
        [("round robin", LlmRouterSpec::RoundRobin), ("adapter affinity", LlmRouterSpec::LoraAffinity { slack: 8 })]
    {
        let (mut t, mut h) = (vec![], vec![]);
        for slots in LORA_SLOTS {
            let mut cfg = base.clone();
            if let Some(l) = cfg.llm.as_mut() {
                l.router = router.clone();
                l.lora = Some(
                    toml::from_str(&format!("adapters = {LORA_ADAPTERS}\nmax_per_batch = {slots}"))
                        .map_err(|e| anyhow!("the LoRA table: {e}"))?,
                );
            }
            let (id, o) = c.point(&cfg, 6_000)?;
            let s = llm(o);
            let l = s.lora.as_ref().ok_or_else(|| anyhow!("LoRA statistics"))?;
            t.push((f64::from(slots), s.latency_ms.ttft.mean));
            h.push((f64::from(slots), l.hit_rate));
            ids.push(id);
        }
        ttft.push(Series::new(name, t).with_markers());
        hit.push(Series::new(name, h).with_markers());
    }
    let spec: sim::llm::LoraSpec = toml::from_str("").map_err(|e| anyhow!("{e}"))?;
    let shape = sim::llm::shape::builtin_shape("llama-3.1-8b").ok_or_else(|| anyhow!("a built-in model"))?;
    let known = facts([
        ("model", "llama-3.1-8b".into()),
        ("adapters", f64::from(LORA_ADAPTERS).into()),
        ("rate_per_s", LORA_RATE.into()),
        ("rank", f64::from(spec.rank).into()),
        ("adapter_mb", (spec.params(&shape) * 2.0 / 1e6).into()),
        ("load_gb_s", spec.load_gb_s.into()),
    ]);
    c.emit(Figure {
        facts: known,
        id: "llm-lora".into(),
        title: "LoRA adapters: slots per replica vs TTFT".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::TwoPanel(PanelsChart {
            x: Axis::new("adapter slots per replica (= adapters per batch)", "").log(),
            top: Panel::new(Axis::new("mean TTFT", "ms").log(), ttft),
            bottom: Panel::new(Axis::new("adapter hit rate", ""), hit),
        }),
    })
}

/// Turns per conversation of the sessions figure.
pub const SESSION_TURNS: u64 = 8;

/// Turns sent per second across conversations when answers come back at once (open-loop pace of
/// first turns: the workload's rate / turns).
pub const SESSION_RATE: f64 = 2.0;

/// Prompt length and TTFT by turn number of eight-turn conversations, with and without
/// prefix caching.
pub(super) fn sessions_figure(c: &mut Course) -> Result<()> {
    let mut base = builtin("llm")?;
    set_rate(&mut base, SESSION_RATE);
    if let Some(w) = base.workload.as_mut() {
        w.sessions = Some(traces::workload::SessionGenSpec {
            turns: traces::workload::SizeSpec::Fixed { value: SESSION_TURNS },
        });
    }
    if let Some(l) = base.llm.as_mut() {
        l.sessions = Some(
            toml::from_str("think = { kind = \"exponential\", mean_ms = 10000.0 }")
                .map_err(|e| anyhow!("the sessions table: {e}"))?,
        );
        l.router = LlmRouterSpec::PrefixAware { slack: 8 };
    }
    let (mut prompt, mut ttft, mut ids) = (vec![], vec![], vec![]);
    let mut cached_last = 0.0;
    for (name, cache) in [("prefix cache", true), ("no prefix cache", false)] {
        let mut cfg = base.clone();
        if let Some(l) = cfg.llm.as_mut() {
            l.prefix_cache = cache.then_some(PrefixCacheSpec { block_tokens: 512 });
        }
        let (id, o) = c.point(&cfg, 6_000)?;
        let s = llm(o);
        let st = s.sessions.as_ref().ok_or_else(|| anyhow!("session statistics"))?;
        let turns: Vec<_> = st.by_turn.iter().filter(|t| t.completed > 0).collect();
        if cache {
            prompt.push(
                Series::new(
                    "prompt (history + new message)",
                    turns.iter().map(|t| (f64::from(t.turn), t.mean_prompt_tokens)),
                )
                .with_markers(),
            );
            cached_last = turns.last().map_or(0.0, |t| t.cached_share);
        }
        ttft.push(Series::new(name, turns.iter().map(|t| (f64::from(t.turn), t.ttft_ms.mean))).with_markers());
        ids.push(id);
    }
    let w = base.workload.as_ref().ok_or_else(|| anyhow!("a workload"))?;
    let known = facts([
        ("model", "llama-3.1-8b".into()),
        ("turns", (SESSION_TURNS as f64).into()),
        ("think_s", 10.0.into()),
        ("message_mean", w.input_size.mean().unwrap_or(f64::NAN).into()),
        ("cached_share_last", cached_last.into()),
    ]);
    c.emit(Figure {
        facts: known,
        id: "llm-sessions".into(),
        title: "Multi-turn conversations: context growth and its prefix reuse".into(),
        caption: String::new(),
        run_ids: ids,
        chart: Chart::TwoPanel(PanelsChart {
            x: Axis::new("turn", ""),
            top: Panel::new(Axis::new("prompt", "tokens"), prompt),
            bottom: Panel::new(Axis::new("mean TTFT", "ms").log(), ttft),
        }),
    })
}
