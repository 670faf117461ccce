//! What a replay's servers were busy with: each batch, its server's idle gap before it, its busy
//! time, and what a profile predicts for it — the evidence `validate` and `calibrate`'s
//! open-loop probe read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fit::quantile;
use crate::harness::ReplayResult;
use crate::profile::Profile;

/// One batch a replay ran.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// (device, server): the batches of one server are consecutive, in time order.
    pub server: (usize, u32),
    /// Its device's variant.
    pub variant: String,
    /// Requests in it.
    pub size: u32,
    /// Dispatch − the server's previous answer back (or the replay's start), ms.
    pub gap_ms: f64,
    /// Dispatch → answer back, ms.
    pub busy_ms: f64,
}

/// Every batch of a replay, with its server's idle gap before it.
pub fn batches(r: &ReplayResult) -> Vec<Batch> {
    let mut runs: BTreeMap<(usize, u32, u64), (u32, u64)> = BTreeMap::new();
    for rec in &r.records {
        let (Some(d), Some(server), Some(sent), Some(back)) = (rec.device, rec.server, rec.dispatch, rec.returned)
        else {
            continue;
        };
        if rec.batch_size > 0 {
            runs.insert((d, server, sent), (rec.batch_size, back));
        }
    }
    let mut out = Vec::with_capacity(runs.len());
    let mut last: Option<(usize, u32, u64)> = None;
    for (&(d, server, sent), &(size, back)) in &runs {
        let free_since = match last {
            Some((ld, ls, lb)) if (ld, ls) == (d, server) => lb,
            _ => 0,
        };
        out.push(Batch {
            server: (d, server),
            variant: r.summary.devices[d].variant.clone(),
            size,
            gap_ms: sent.saturating_sub(free_since) as f64 / 1e6,
            busy_ms: back.saturating_sub(sent) as f64 / 1e6,
        });
        last = Some((d, server, back));
    }
    out
}

/// Busy times per variant and batch size, ms.
pub fn busy_times(batches: &[Batch]) -> BTreeMap<String, BTreeMap<u32, Vec<f64>>> {
    let mut measured: BTreeMap<String, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    for b in batches {
        measured.entry(b.variant.clone()).or_default().entry(b.size).or_default().push(b.busy_ms);
    }
    measured
}

/// What `profile` predicts for each batch: its size's median (linear between measured sizes)
/// times 1 + the server's cold-start slowdown at its start when the profile models cold starts
/// (the state carried along each server's batches, each taking its measured time); `None` for a
/// variant the profile did not measure.
pub fn predicted_busy_ms(profile: &Profile, batches: &[Batch]) -> Vec<Option<f64>> {
    // Per variant, once: its table of medians and its cold-start model.
    type Model = Option<(sim::service::ServiceSpec, Option<sim::service::ColdSpec>)>;
    let mut models: BTreeMap<&str, Model> = BTreeMap::new();
    let mut state: Option<((usize, u32), f64)> = None;
    batches
        .iter()
        .map(|b| {
            let model = models.entry(b.variant.as_str()).or_insert_with(|| {
                let e = profile.entry(&b.variant)?;
                let table = sim::service::ServiceSpec::Table { batch: e.batch.clone(), ms: e.median_ms.clone() };
                Some((table, e.cold.as_ref().filter(|_| profile.cold).map(|c| c.spec())))
            });
            let (table, cold) = model.as_ref()?;
            let warm = table.batch_mean_s(b.size as usize) * 1e3;
            let Some(cold) = cold else {
                return Some(warm);
            };
            let left = match state {
                Some((server, s)) if server == b.server => s,
                _ => 0.0,
            };
            let s = cold.after_idle(left, b.gap_ms);
            state = Some((b.server, cold.after_busy(s, b.busy_ms)));
            Some(warm * (1.0 + s))
        })
        .collect()
}

/// Median over the batches of busy time ÷ what the profile predicts for them; NaN if the
/// profile measured none of their variants.
pub fn speed_ratio(batches: &[Batch], profile: &Profile) -> f64 {
    let ratios: Vec<f64> =
        batches.iter().zip(predicted_busy_ms(profile, batches)).filter_map(|(b, p)| p.map(|p| b.busy_ms / p)).collect();
    quantile(&ratios, 0.5)
}

/// Busy time against the server's idle gap before the batch, measured and predicted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GapBin {
    /// Gaps in [from, to), ms (`to` infinite: `null` in JSON).
    pub gap_ms: [f64; 2],
    /// Batches in the bin.
    pub batches: usize,
    /// Their median busy time, ms.
    pub replay_busy_ms: f64,
    /// The median of what the profile predicts for the same batches, ms.
    pub predicted_busy_ms: f64,
}

/// Bin edges of [`gap_bins`], ms.
pub const GAP_EDGES_MS: [f64; 8] = [0.0, 0.05, 0.2, 0.5, 2.0, 5.0, 20.0, f64::INFINITY];

/// Batches of one or more replays (one list each, so that the cold-start state restarts with
/// each) binned by idle gap ([`GAP_EDGES_MS`]); empty bins left out.
pub fn gap_bins(all: &[Vec<Batch>], profile: &Profile) -> Vec<GapBin> {
    let pairs: Vec<(&Batch, f64)> = all
        .iter()
        .flat_map(|r| r.iter().zip(predicted_busy_ms(profile, r)).filter_map(|(b, p)| Some((b, p?))))
        .collect();
    GAP_EDGES_MS
        .windows(2)
        .filter_map(|w| {
            let inside: Vec<&(&Batch, f64)> =
                pairs.iter().filter(|(b, _)| b.gap_ms >= w[0] && b.gap_ms < w[1]).collect();
            (!inside.is_empty()).then(|| GapBin {
                gap_ms: [w[0], w[1]],
                batches: inside.len(),
                replay_busy_ms: quantile(&inside.iter().map(|(b, _)| b.busy_ms).collect::<Vec<_>>(), 0.5),
                predicted_busy_ms: quantile(&inside.iter().map(|(_, p)| *p).collect::<Vec<_>>(), 0.5),
            })
        })
        .collect()
}

/// `config` (already given `profile`) with each measured variant's service model replaced by the
/// busy times `first` measured (dispatch → answer back, per batch size, resampled): what error is
/// left in a sim of it belongs to the simulator, not to the profile. The replay's busy times
/// carry its own drift and cold starts, so those are dropped; stalls among them are modelled as
/// stalls, as a profile's are (unless the profile leaves its stalls out), at the rate they came
/// in `first`'s wall time per worker.
pub fn with_replay_service(
    config: &sim::ScenarioConfig,
    first: &ReplayResult,
    profile: &Profile,
) -> sim::ScenarioConfig {
    let measured = busy_times(&batches(first));
    let mut explained = config.clone();
    for dev in &mut explained.devices {
        if let Some(m) = dev.variant.as_ref().and_then(|v| measured.get(v)) {
            let mut samples_ms: Vec<Vec<f64>> = m.values().cloned().collect();
            dev.stalls = None;
            dev.drift = None;
            dev.cold = None;
            if profile.stalls
                && let Some(mut st) = crate::profile::MeasuredStalls::find(&samples_ms)
            {
                for (i, runs) in samples_ms.iter_mut().enumerate() {
                    runs.retain(|&x| x <= st.above_ms[i]);
                }
                // Stalls happen in wall time, idle or not: one that catches the idle worker shows
                // up in the busy time of the request that arrives during it. So the rate is per
                // second of the replay, not of its busy time (a calibration is busy throughout,
                // where the two are the same). And per worker: the model has one stall process
                // per server.
                let workers: std::collections::HashSet<(usize, u32)> = first
                    .records
                    .iter()
                    .filter_map(|r| Some((r.device?, r.server?)))
                    .filter(|&(d, _)| dev.variant.as_deref() == Some(first.summary.devices[d].variant.as_str()))
                    .collect();
                st.rate_per_s =
                    st.duration_ms.len() as f64 / first.summary.duration_s.max(1e-9) / workers.len().max(1) as f64;
                dev.stalls = Some(st.spec());
            }
            dev.service =
                Some(sim::service::ServiceSpec::TableSamples { batch: m.keys().copied().collect(), samples_ms });
        }
    }
    explained
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(server: u32, gap_ms: f64, busy_ms: f64) -> Batch {
        Batch { server: (0, server), variant: "v".into(), size: 1, gap_ms, busy_ms }
    }

    #[test]
    fn the_cold_start_state_follows_each_server_and_restarts_with_another() {
        let mut p: Profile = toml::from_str(crate::profile::tests::MINIMAL_PROFILE).unwrap();
        let e = &mut p.entries[0];
        e.cold = Some(crate::profile::MeasuredCold {
            gap_ms: vec![0.0, 1.0],
            batch: vec![1],
            burst: 1,
            rounds: 1,
            warm_ms: vec![1.0],
            median_ms: vec![vec![vec![1.0]], vec![vec![2.0]]],
            fit: sim::service::ColdSpec { slowdown: 1.0, idle_tau_ms: 10.0, busy_tau_ms: 1.0, shape: 1.0 },
            residuals_ms: vec![vec![vec![0.0]], vec![vec![0.0]]],
        });
        // Server 0: 10 ms idle (s = 1 − e^−1), then straight on (what is left after 2 ms of work);
        // server 1 starts warm again: after 0 ms, no slowdown.
        let bs = [batch(0, 10.0, 2.0), batch(0, 0.0, 1.0), batch(1, 0.0, 1.0)];
        let pred = predicted_busy_ms(&p, &bs);
        let s1 = 1.0 - (-1.0f64).exp();
        let s2 = s1 * (-2.0f64).exp();
        let want = [1.0 + s1, 1.0 + s2, 1.0];
        for (got, w) in pred.iter().zip(want) {
            assert!((got.unwrap() - w).abs() < 1e-12, "{pred:?} vs {want:?}");
        }
        // Without cold starts modelled: the table alone.
        p.cold = false;
        assert_eq!(predicted_busy_ms(&p, &bs), vec![Some(1.0); 3]);
        let bins = gap_bins(&[bs.to_vec()], &p);
        assert_eq!(bins.iter().map(|b| b.batches).sum::<usize>(), 3);
        assert_eq!(bins[0].gap_ms, [0.0, 0.05]);
    }
}
