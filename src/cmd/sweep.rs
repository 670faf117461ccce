//! `servesim sweep` and `servesim merge`: grids over scenario parameters, in parallel, in shards.
//!
//! A sweep directory `OUT/<sweep-id>/` holds `points/<index>.json` (one per finished point,
//! written atomically: a re-run skips them, so a killed sweep resumes), `configs/<run-id>.toml`,
//! and, once every point of the shard is done, `sweep.csv`, `sweep.parquet` and `manifest.json`.
//! The sweep id hashes the scenario, the grid, the request count and the code version — not the
//! shard or `--jobs` — so shards of one sweep share it and `merge` can check they belong together.

use crate::cmd::simulate::{Outcome, drive, run_id};
use crate::error::input;
use crate::rundir::{code_version, sha256_hex};
use crate::scenario;
use anyhow::{Context, Result, anyhow};
use artifact::IdKind;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use traces::formats::{Table, TableColumn};

/// Run a grid of simulations over scenario parameters.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim sweep -s dynbatch --vary workload.arrivals.rate=500,1000,1500,2000 \\
                 --vary devices.0.batching.max_queue_delay_ms=1,2,4,8 -n 100000
  servesim sweep -s llm --vary llm.pools.0.count=1,2,3 --vary llm.scheduler.kind=static,continuous
  servesim sweep -s mmc --vary workload.arrivals.rate=200,300,360 --shard 0/2 -o sweeps   # then 1/2, then merge
  servesim merge sweeps/swp-…-shard0of2 sweeps/swp-…-shard1of2 -o merged

A key is a dotted path into the scenario's TOML (array elements by index). Values are parsed as
TOML (numbers, true/false) or taken as strings. Points run in parallel (--jobs, default: all
cores); results do not depend on --jobs. Re-running the same command skips finished points.")]
pub struct SweepArgs {
    /// Scenario: a TOML file or a built-in name.
    #[arg(long, short = 's', value_name = "FILE|NAME")]
    pub scenario: String,
    /// A parameter and its values: KEY=V1,V2,… (repeat for a grid).
    #[arg(long = "vary", value_name = "KEY=V1,V2,...", required = true)]
    pub vary: Vec<String>,
    /// Requests per point (default: the scenario's, or 100000).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Parallel jobs (default: all cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Run only shard I of N (points whose index ≡ I mod N), e.g. 0/4.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Parent directory of the sweep directory.
    #[arg(long, short = 'o', default_value = "sweeps", value_name = "DIR")]
    pub out: PathBuf,
}

/// Join the shards of one sweep.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim merge sweeps/swp-0123abcd-shard0of2 sweeps/swp-0123abcd-shard1of2 -o merged

Checks that the shards belong to one sweep and together cover every point once, then writes
OUT/<sweep-id>/ with sweep.csv, sweep.parquet and manifest.json, as an unsharded sweep would.")]
pub struct MergeArgs {
    /// Shard directories.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// Parent directory of the merged sweep directory.
    #[arg(long, short = 'o', default_value = "sweeps", value_name = "DIR")]
    pub out: PathBuf,
}

/// One finished point (`points/<index>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PointResult {
    index: usize,
    params: Vec<(String, String)>,
    run_id: String,
    metrics: BTreeMap<String, f64>,
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

fn parse_vary(args: &[String]) -> Result<Vec<(String, Vec<String>)>> {
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

fn parse_shard(s: &str) -> Result<(usize, usize)> {
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

fn metrics_of(outcome: &Outcome) -> Result<BTreeMap<String, f64>> {
    let mut v = match outcome {
        Outcome::Classic(r) => serde_json::to_value(&r.summary)?,
        Outcome::Llm(s, _) => serde_json::to_value(s)?,
    };
    // Time series do not belong in a one-row-per-point table.
    if let Some(m) = v.as_object_mut() {
        m.remove("timeline");
    }
    Ok(sim::gate::metrics_of(&v))
}

fn tables(dir: &Path, points: &[PointResult], keys: &[String]) -> Result<()> {
    let metric_names: Vec<String> = {
        let mut all = std::collections::BTreeSet::new();
        for p in points {
            all.extend(p.metrics.keys().cloned());
        }
        all.into_iter().collect()
    };
    let build = || {
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
    };
    build().write(&dir.join("sweep.csv")).context("writing sweep.csv")?;
    build().write(&dir.join("sweep.parquet")).context("writing sweep.parquet")?;
    Ok(())
}

/// Runs `sweep`; returns the sweep directory.
pub fn run(args: &SweepArgs) -> Result<PathBuf> {
    let loaded = scenario::load(&args.scenario)?;
    let vary = parse_vary(&args.vary)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
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
    let bar = ProgressBar::new(mine.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} sweep {pos}/{len} points [{elapsed_precise}, eta {eta}] {wide_bar}")
            .expect("valid template"),
    );
    bar.set_position((mine.len() - todo.len()) as u64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| anyhow!("starting {} worker threads: {e}", args.jobs.unwrap_or(0)))?;
    pool.install(|| {
        todo.par_iter().try_for_each(|&i| -> Result<()> {
            let c = &configs[i];
            let w = c.workload.as_ref().expect("checked above");
            let g = w.generator(c.seed, requests)?;
            let opts = sim::RunOptions { seed: c.seed, record: false, trace_driven: false };
            let (outcome, trace) =
                drive(c, g, &traces::Trace::default_classes(), requests, opts, "generated".to_string())?;
            let resolved = c.to_toml();
            let id = run_id(&resolved, &trace.id, c.seed);
            write_atomic(&dir.join("configs").join(format!("{id}.toml")), resolved.as_bytes())?;
            let p = PointResult { index: i, params: all[i].clone(), run_id: id, metrics: metrics_of(&outcome)? };
            write_atomic(&done(i), (serde_json::to_string_pretty(&p)? + "\n").as_bytes())?;
            bar.inc(1);
            Ok(())
        })
    })?;
    bar.finish_and_clear();
    let points: Vec<PointResult> = mine
        .iter()
        .map(|&i| -> Result<PointResult> { Ok(serde_json::from_slice(&std::fs::read(done(i))?)?) })
        .collect::<Result<_>>()?;
    finish(&dir, &sweep_id, &loaded.source, &vary, requests, configs.len(), shard, &points)?;
    println!(
        "sweep {sweep_id}: {} points ({} run now, {} already done)  ->  {}",
        points.len(),
        todo.len(),
        points.len() - todo.len(),
        dir.display()
    );
    Ok(dir)
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

/// Runs `merge`; returns the merged directory.
pub fn merge(args: &MergeArgs) -> Result<PathBuf> {
    let mut manifests = Vec::new();
    for d in &args.shards {
        let path = d.join("manifest.json");
        let bytes = std::fs::read(&path)
            .map_err(|e| input(format!("{}: cannot read ({e}); is the shard finished?", path.display())))?;
        let m: SweepManifest = serde_json::from_slice(&bytes)
            .map_err(|e| input(format!("{}: not a sweep manifest: {e}", path.display())))?;
        manifests.push(m);
    }
    let first = &manifests[0];
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
    println!(
        "merged {} shards of sweep {}: {} points  ->  {}",
        args.shards.len(),
        first.sweep_id,
        pts.len(),
        dir.display()
    );
    Ok(dir)
}
