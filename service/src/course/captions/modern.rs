//! Captions of the modern-mechanism figures (`src/course/modern.rs`): KV tiers, speculative
//! decoding, LoRA slots, multi-turn conversations.

use super::{Facts, at, count_where, g, int, of, pct, series};
use anyhow::{Result, anyhow};
use figures::Panel;

/// The last point of a series.
fn last(points: &[[f64; 2]]) -> Result<[f64; 2]> {
    points.last().copied().ok_or_else(|| anyhow!("an empty series"))
}

fn first(points: &[[f64; 2]]) -> Result<[f64; 2]> {
    points.first().copied().ok_or_else(|| anyhow!("an empty series"))
}

pub(super) fn tiers(f: &Facts, top: &Panel, bottom: &Panel) -> Result<String> {
    let (dram, pool) = ("DRAM per replica", "pool shared by the replicas");
    let bound = first(series(top, "reuse bound of the workload")?)?[1];
    let (d, p) = (series(top, dram)?, series(top, pool)?);
    let (dl, pl) = (last(d)?, last(p)?);
    let (wins, shared) = count_where(p, d, |a, b| a > b);
    let (td, tp) = (last(series(bottom, dram)?)?, last(series(bottom, pool)?)?);
    let best = if tp[1] <= td[1] { ("the shared pool", tp[1]) } else { ("DRAM", td[1]) };
    Ok(format!(
        "{} on two replicas at {} requests/s, prompts opening with one of {} shared prefixes of {} tokens (Zipf \
         0.8): HBM alone finds {} of prefix blocks. One tier below it (loads at {} GB/s): at {} GB, DRAM per replica \
         finds {} and a pool shared by the replicas {}, against the workload's reuse bound of {}; the shared pool \
         finds more {}. Mean TTFT: {} ms with HBM alone, {} ms with {} at {} GB.",
        f.text("model")?,
        g(f.num("rate_per_s")?),
        int(f.num("prompts")?),
        int(f.num("prefix_tokens")?),
        pct(f.num("hbm_hit_rate")?),
        g(f.num("bandwidth_gb_s")?),
        int(dl[0]),
        pct(dl[1]),
        pct(pl[1]),
        pct(bound),
        of(wins, shared, "capacities"),
        int(f.num("hbm_ttft_ms")?),
        int(best.1),
        best.0,
        int(pl[0]),
    ))
}

pub(super) fn speculative(f: &Facts, panel: &Panel) -> Result<String> {
    let curves: Vec<&figures::Series> = panel.series.iter().filter(|s| s.name.starts_with("batch ")).collect();
    let (small, large) =
        (curves.first().ok_or_else(|| anyhow!("no curve"))?, curves.last().ok_or_else(|| anyhow!("no curve"))?);
    let a = 0.8;
    let (s1, sn) = (
        at(&small.points, a).ok_or_else(|| anyhow!("no point at α = {a}"))?,
        at(&large.points, a).ok_or_else(|| anyhow!("no point at α = {a}"))?,
    );
    let closed = at(series(panel, "tokens per step (closed form)")?, a).ok_or_else(|| anyhow!("no closed form"))?;
    let trend = if s1 > sn {
        format!(
            "it pays less as the batch grows ({} at α = {a}): decoding more sequences at once turns the step compute-bound, where verifying {} extra tokens per sequence is not free",
            g(sn),
            g(f.num("k")?)
        )
    } else {
        format!("at {} the speed-up is {} at α = {a}", large.name, g(sn))
    };
    let slow: Vec<String> = curves
        .iter()
        .filter_map(|c| {
            let below: Vec<String> = c.points.iter().filter(|p| p[1] < 1.0).map(|p| g(p[0])).collect();
            (!below.is_empty()).then(|| format!("{} at α = {}", c.name, below.join(", ")))
        })
        .collect();
    let slower =
        if slow.is_empty() { String::new() } else { format!(" Speculation slows decoding for {}.", slow.join(", ")) };
    Ok(format!(
        "{} on one {} with a {} draft proposing k = {} tokens: TPOT without speculation over TPOT with it, by \
         acceptance rate, at a steady batch of running sequences. At α = {a} a step keeps {} tokens on average (the \
         closed form); at {} the speed-up is {}× — the draft's {} decode steps cost time too — and {}.{slower}",
        f.text("model")?,
        f.text("device")?,
        f.text("draft")?,
        g(f.num("k")?),
        g(closed),
        small.name,
        g(s1),
        g(f.num("k")?),
        trend,
    ))
}

pub(super) fn lora(f: &Facts, top: &Panel, bottom: &Panel) -> Result<String> {
    let (rr, aff) = ("round robin", "adapter affinity");
    let (tr, ta) = (series(top, rr)?, series(top, aff)?);
    let (hr, ha) = (series(bottom, rr)?, series(bottom, aff)?);
    let (lo, hi) = (first(tr)?[0], last(tr)?[0]);
    let (better, shared) = count_where(ta, tr, |a, b| a < b);
    Ok(format!(
        "{} on two replicas at {} requests/s, each request for one of {} LoRA adapters (Zipf 1; rank {}, {} MB, \
         loaded at {} GB/s). With {} slot per replica, the adapter is resident at {} of admissions under round \
         robin and {} under adapter affinity (mean TTFT {} vs {} ms); with {} slots, {} and {} ({} vs {} ms). \
         Affinity gives the lower TTFT {}.",
        f.text("model")?,
        g(f.num("rate_per_s")?),
        int(f.num("adapters")?),
        int(f.num("rank")?),
        int(f.num("adapter_mb")?),
        g(f.num("load_gb_s")?),
        int(lo),
        pct(at(hr, lo).unwrap_or(0.0)),
        pct(at(ha, lo).unwrap_or(0.0)),
        int(at(tr, lo).unwrap_or(0.0)),
        int(at(ta, lo).unwrap_or(0.0)),
        int(hi),
        pct(at(hr, hi).unwrap_or(0.0)),
        pct(at(ha, hi).unwrap_or(0.0)),
        int(at(tr, hi).unwrap_or(0.0)),
        int(at(ta, hi).unwrap_or(0.0)),
        of(better, shared, "slot counts"),
    ))
}

pub(super) fn sessions(f: &Facts, top: &Panel, bottom: &Panel) -> Result<String> {
    let prompt = top.series.first().ok_or_else(|| anyhow!("no prompt series"))?;
    let (p1, pn) = (first(&prompt.points)?, last(&prompt.points)?);
    let (c, n) = (series(bottom, "prefix cache")?, series(bottom, "no prefix cache")?);
    let (cn, nn) = (last(c)?, last(n)?);
    let verdict = if cn[1] < nn[1] {
        format!(
            "the prefix cache holds {} of it and cuts mean TTFT to {} ms from {} ms",
            pct(f.num("cached_share_last")?),
            int(cn[1]),
            int(nn[1])
        )
    } else {
        format!(
            "the prefix cache holds {} of it, yet mean TTFT is {} ms with it and {} ms without",
            pct(f.num("cached_share_last")?),
            int(cn[1]),
            int(nn[1])
        )
    };
    Ok(format!(
        "Conversations of {} turns on {}, replayed closed-loop: each turn is sent a think time (mean {} s) after the \
         previous answer, its prompt the conversation so far plus a new message (mean {} tokens). The prompt grows \
         from {} tokens at turn {} to {} at turn {}; at the last turn {}.",
        int(f.num("turns")?),
        f.text("model")?,
        g(f.num("think_s")?),
        int(f.num("message_mean")?),
        int(p1[1]),
        int(p1[0]),
        int(pn[1]),
        int(pn[0]),
        verdict,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::caption;
    use super::super::tests::golden;
    use figures::Chart;

    #[test]
    fn the_speculative_caption_says_how_the_batch_changes_the_speed_up() {
        let mut fig = golden("llm-speculative");
        let text = caption(&fig).unwrap();
        assert!(text.contains("it pays less as the batch grows"), "{text}");
        // Make every curve the same: no trend to state, and no slowdown.
        let Chart::Line(c) = &mut fig.chart else { panic!("a line chart") };
        for s in c.panel.series.iter_mut().filter(|s| s.name.starts_with("batch ")) {
            s.points.iter_mut().for_each(|p| p[1] = 1.5);
        }
        let text = caption(&fig).unwrap();
        assert!(!text.contains("pays less") && !text.contains("slows decoding"), "{text}");
    }

    #[test]
    fn the_sessions_caption_credits_the_prefix_cache_only_when_it_is_faster() {
        let mut fig = golden("llm-sessions");
        assert!(caption(&fig).unwrap().contains("cuts mean TTFT"));
        let Chart::TwoPanel(c) = &mut fig.chart else { panic!("two panels") };
        for s in c.bottom.series.iter_mut().filter(|s| s.name == "prefix cache") {
            s.points.iter_mut().for_each(|p| p[1] = 1e6);
        }
        assert!(caption(&fig).unwrap().contains("yet mean TTFT"));
    }
}
