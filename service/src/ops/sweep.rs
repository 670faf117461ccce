//! Sweeps and merges: grids over scenario parameters, in parallel, in shards.
//!
//! A sweep directory `OUT/<sweep-id>/` holds `points/<index>.json` (one per finished point,
//! written atomically: a re-run skips them, so a killed sweep resumes), `configs/<run-id>.toml`,
//! and, once every point of the shard is done, `sweep.csv`, `sweep.parquet` and `manifest.json`.
//! The sweep id hashes the scenario, the grid, the request count and the code version — not the
//! shard or `--jobs` — so shards of one sweep share it and `merge` can check they belong together.

use crate::error::input;
use crate::ops::progress::{Progress, Reporter};
use crate::ops::simulate::point;
use crate::rundir::{code_version, sha256_hex};
use crate::scenario::ScenarioSource;
use anyhow::{Context, Result, anyhow};
use artifact::IdKind;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use traces::formats::{Table, TableColumn};

/// A grid of simulations.
#[derive(Clone, Debug)]
pub struct SweepRequest {
    /// The scenario (it needs a `[workload]`).
    pub scenario: ScenarioSource,
    /// Each varied key (a dotted path into the scenario's TOML) with its values, parsed as TOML
    /// or taken as strings; the grid is their product, the last key varying fastest.
    pub vary: Vec<(String, Vec<String>)>,
    /// Requests per point (default: the scenario's, or 100000).
    pub requests: Option<u64>,
    /// Parallel jobs (default: all cores).
    pub jobs: Option<usize>,
    /// Only shard I of N (points whose index ≡ I mod N).
    pub shard: Option<(usize, usize)>,
    /// Parent directory of the sweep directory.
    pub out: PathBuf,
    /// Where progress goes (a bar on stderr, or a callback), counting points.
    pub progress: Progress,
}

/// A finished sweep (or shard).
#[derive(Debug)]
pub struct Sweep {
    /// `swp-` id, shared by the shards of one sweep.
    pub sweep_id: String,
    /// The sweep directory.
    pub dir: PathBuf,
    /// This shard's points in index order.
    pub points: Vec<PointResult>,
    /// How many were simulated now (the others were done by an earlier run).
    pub ran_now: usize,
}

/// The shards of one sweep to join.
#[derive(Clone, Debug)]
pub struct MergeRequest {
    /// Shard directories.
    pub shards: Vec<PathBuf>,
    /// Parent directory of the merged sweep directory.
    pub out: PathBuf,
}

/// A merged sweep.
#[derive(Debug)]
pub struct Merged {
    /// The sweep id.
    pub sweep_id: String,
    /// The merged directory.
    pub dir: PathBuf,
    /// Every point.
    pub points: usize,
}

/// One finished point (`points/<index>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointResult {
    /// Index in the grid.
    pub index: usize,
    /// The point's (key, value) pairs.
    pub params: Vec<(String, String)>,
    /// Its run id (the one `simulate` gives its config).
    pub run_id: String,
    /// Its summary's metrics by dotted path.
    pub metrics: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SweepManifest {
    schema: String,
    sweep_id: String,
    scenario: String,
    vary: Vec<(String, Vec<String>)>,
    requests: u64,
    points: usize,
    shard: Option<(usize, usize)>,
    complete: bool,
    run_ids: Vec<String>,
    code: crate::rundir::CodeVersion,
}

/// Parses `KEY=V1,V2,…` arguments.
pub fn parse_vary(args: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    args.iter()
        .map(|a| {
            let (k, v) = a.split_once('=').ok_or_else(|| input(format!("--vary `{a}`: expected KEY=V1,V2,...")))?;
            let vals: Vec<String> = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            if k.trim().is_empty() || vals.is_empty() {
                return Err(input(format!("--vary `{a}`: needs a key and at least one value")));
            }
            Ok((k.trim().to_string(), vals))
        })
        .collect()
}

/// Parses `I/N` (0 ≤ I < N).
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || input(format!("--shard `{s}`: expected I/N with 0 <= I < N"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `key` set to `value` (TOML if it parses as a value, else a string) in `doc`.
fn set_path(doc: &mut toml::Value, key: &str, value: &str) -> Result<()> {
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = doc;
    for (depth, part) in parts.iter().enumerate() {
        let last = depth + 1 == parts.len();
        let here = parts[..=depth].join(".");
        cur = match cur {
            toml::Value::Table(t) => {
                if last {
                    t.insert(part.to_string(), parsed);
                    return Ok(());
                }
                t.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(a) => {
                let i: usize = part
                    .parse()
                    .map_err(|_| input(format!("--vary {key}: `{here}` indexes an array: use a number")))?;
                let len = a.len();
                let slot = a
                    .get_mut(i)
                    .ok_or_else(|| input(format!("--vary {key}: `{here}` is past the end ({len} elements)")))?;
                if last {
                    *slot = parsed;
                    return Ok(());
                }
                slot
            }
            _ => return Err(input(format!("--vary {key}: `{here}` is inside a value, not a table"))),
        };
    }
    Ok(())
}

/// The grid's points in index order: (index, [(key, value)]).
fn grid(vary: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut points: Vec<Vec<(String, String)>> = vec![vec![]];
    for (k, vals) in vary {
        points = points
            .into_iter()
            .flat_map(|p| {
                vals.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((k.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    points
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    artifact::write_file(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The sweep table of `points` (`sweep.csv`, `sweep.parquet`): `point`, `run_id`, one
/// `param.KEY` column per varied key, then every metric of any point by name.
pub fn table(points: &[PointResult], keys: &[String]) -> Table {
    let metric_names: Vec<String> = {
        let mut all = std::collections::BTreeSet::new();
        for p in points {
            all.extend(p.metrics.keys().cloned());
        }
        all.into_iter().collect()
    };
    let mut t = Table::default();
    t.push("point", TableColumn::U64(points.iter().map(|p| p.index as u64).collect()));
    t.push("run_id", TableColumn::Str(points.iter().map(|p| p.run_id.clone()).collect()));
    for (ki, k) in keys.iter().enumerate() {
        // Prefixed: a varied key may also be a summary metric (devices.0.servers).
        t.push(&format!("param.{k}"), TableColumn::Str(points.iter().map(|p| p.params[ki].1.clone()).collect()));
    }
    for m in &metric_names {
        t.push(m, TableColumn::OptF64(points.iter().map(|p| p.metrics.get(m).copied()).collect()));
    }
    t
}

fn tables(dir: &Path, points: &[PointResult], keys: &[String]) -> Result<()> {
    table(points, keys).write(&dir.join("sweep.csv")).context("writing sweep.csv")?;
    table(points, keys).write(&dir.join("sweep.parquet")).context("writing sweep.parquet")?;
    Ok(())
}

/// Runs the sweep (or one shard of it) into `OUT/<sweep-id>[-shardIofN]/`, skipping points an
/// earlier run finished.
pub fn sweep(args: &SweepRequest) -> Result<Sweep> {
    let loaded = args.scenario.load()?;
    let vary = args.vary.clone();
    let shard = args.shard;
    if let Some((i, n)) = shard
        && (n == 0 || i >= n)
    {
        return Err(input(format!("--shard `{i}/{n}`: expected I/N with 0 <= I < N")));
    }
    if args.jobs == Some(0) {
        return Err(input("--jobs: must be at least 1"));
    }
    if args.requests == Some(0) {
        return Err(input("--requests: must be at least 1"));
    }
    let base = toml::Value::try_from(&loaded.config).context("scenario as TOML")?;
    let requests = args.requests.or(loaded.config.requests).unwrap_or(sim::DEFAULT_REQUESTS);
    // Every point's config first: a bad key or value is an input error before anything runs.
    let all = grid(&vary);
    let mut configs = Vec::with_capacity(all.len());
    for params in &all {
        let mut doc = base.clone();
        for (k, v) in params {
            set_path(&mut doc, k, v)?;
        }
        let text = toml::to_string(&doc).context("point as TOML")?;
        let mut c = sim::ScenarioConfig::parse(&text).map_err(|e| {
            let at: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            input(format!("{}: point {}: {e}", loaded.source, at.join(" ")))
        })?;
        if c.workload.is_none() {
            return Err(input(format!("{}: a sweep needs a scenario with a [workload]", loaded.source)));
        }
        c.requests = Some(requests);
        configs.push(c);
    }
    let v = code_version();
    let key = format!(
        "servesim-sweep-v1\0{}\0{}\0{requests}\0{}",
        sha256_hex(loaded.config.to_toml().as_bytes()),
        serde_json::to_string(&vary)?,
        v.servesim
    );
    let sweep_id: String = IdKind::Sweep.of(key).into();
    let dir_name = match shard {
        Some((i, n)) => format!("{sweep_id}-shard{i}of{n}"),
        None => sweep_id.clone(),
    };
    let dir = args.out.join(dir_name);
    std::fs::create_dir_all(dir.join("points")).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir_all(dir.join("configs"))?;
    let mine: Vec<usize> = (0..configs.len()).filter(|i| shard.is_none_or(|(s, n)| i % n == s)).collect();
    let done = |i: usize| dir.join("points").join(format!("{i:06}.json"));
    let todo: Vec<usize> = mine.iter().copied().filter(|&i| !done(i).is_file()).collect();
    let template = "{spinner} sweep {pos}/{len} points [{elapsed_precise}, eta {eta}] {wide_bar}";
    let bar = Reporter::new(&args.progress, mine.len() as u64, template, true);
    bar.set((mine.len() - todo.len()) as u64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| anyhow!("starting {} worker threads: {e}", args.jobs.unwrap_or(0)))?;
    pool.install(|| {
        todo.par_iter().try_for_each(|&i| -> Result<()> {
            let p = point(&configs[i], requests)?;
            let id = p.run_id;
            write_atomic(&dir.join("configs").join(format!("{id}.toml")), p.resolved.as_bytes())?;
            let p = PointResult { index: i, params: all[i].clone(), run_id: id, metrics: p.outcome.metrics() };
            write_atomic(&done(i), (serde_json::to_string_pretty(&p)? + "\n").as_bytes())?;
            bar.inc();
            Ok(())
        })
    })?;
    bar.finish();
    let points: Vec<PointResult> = mine
        .iter()
        .map(|&i| -> Result<PointResult> { Ok(serde_json::from_slice(&std::fs::read(done(i))?)?) })
        .collect::<Result<_>>()?;
    finish(&dir, &sweep_id, &loaded.source, &vary, requests, configs.len(), shard, &points)?;
    let ran_now = todo.len();
    Ok(Sweep { sweep_id, dir, points, ran_now })
}

#[allow(clippy::too_many_arguments)]
fn finish(
    dir: &Path,
    sweep_id: &str,
    scenario: &str,
    vary: &[(String, Vec<String>)],
    requests: u64,
    total: usize,
    shard: Option<(usize, usize)>,
    points: &[PointResult],
) -> Result<()> {
    let keys: Vec<String> = vary.iter().map(|(k, _)| k.clone()).collect();
    tables(dir, points, &keys)?;
    let m = SweepManifest {
        schema: "servesim.sweep/1".into(),
        sweep_id: sweep_id.into(),
        scenario: scenario.into(),
        vary: vary.to_vec(),
        requests,
        points: total,
        shard,
        complete: true,
        run_ids: points.iter().map(|p| p.run_id.clone()).collect(),
        code: code_version(),
    };
    write_atomic(&dir.join("manifest.json"), (serde_json::to_string_pretty(&m)? + "\n").as_bytes())
}

/// Joins the shards of one sweep into `OUT/<sweep-id>/`, as an unsharded sweep would have written
/// it, after checking that they belong together and cover every point once.
pub fn merge(args: &MergeRequest) -> Result<Merged> {
    let mut manifests = Vec::new();
    for d in &args.shards {
        let path = d.join("manifest.json");
        let bytes = std::fs::read(&path)
            .map_err(|e| input(format!("{}: cannot read ({e}); is the shard finished?", path.display())))?;
        let m: SweepManifest = serde_json::from_slice(&bytes)
            .map_err(|e| input(format!("{}: not a sweep manifest: {e}", path.display())))?;
        manifests.push(m);
    }
    let first = manifests.first().ok_or_else(|| input("merge: give at least one shard directory"))?;
    let mut points: BTreeMap<usize, PointResult> = BTreeMap::new();
    for (d, m) in args.shards.iter().zip(&manifests) {
        if m.sweep_id != first.sweep_id {
            return Err(input(format!(
                "{}: belongs to sweep {}, not {} (of {})",
                d.display(),
                m.sweep_id,
                first.sweep_id,
                args.shards[0].display()
            )));
        }
        for e in std::fs::read_dir(d.join("points"))? {
            let p: PointResult = serde_json::from_slice(&std::fs::read(e?.path())?)?;
            if points.insert(p.index, p).is_some() {
                return Err(input(format!("{}: point {} is in more than one shard", d.display(), first.points)));
            }
        }
    }
    if let Some(missing) = (0..first.points).find(|i| !points.contains_key(i)) {
        return Err(input(format!(
            "sweep {}: point {missing} is in no shard given ({} of {} points present)",
            first.sweep_id,
            points.len(),
            first.points
        )));
    }
    let dir = args.out.join(&first.sweep_id);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let staged = artifact::StagedDir::new(&dir).with_context(|| format!("creating beside {}", dir.display()))?;
    let tmp = staged.path();
    std::fs::create_dir_all(tmp.join("points"))?;
    std::fs::create_dir_all(tmp.join("configs"))?;
    for d in &args.shards {
        for e in std::fs::read_dir(d.join("configs"))? {
            let e = e?;
            std::fs::copy(e.path(), tmp.join("configs").join(e.file_name()))?;
        }
    }
    for p in points.values() {
        std::fs::write(
            tmp.join("points").join(format!("{:06}.json", p.index)),
            serde_json::to_string_pretty(p)? + "\n",
        )?;
    }
    let pts: Vec<PointResult> = points.into_values().collect();
    finish(tmp, &first.sweep_id, &first.scenario, &first.vary, first.requests, first.points, None, &pts)?;
    staged.publish(true).with_context(|| format!("replacing {}", dir.display()))?;
    Ok(Merged { sweep_id: first.sweep_id.clone(), dir, points: pts.len() })
}
