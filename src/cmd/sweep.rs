//! `servesim sweep` and `servesim merge`: grids over scenario parameters, in parallel, in shards.
//!
//! A sweep directory `OUT/<sweep-id>/` holds `points/<index>.json` (one per finished point,
//! written atomically: a re-run skips them, so a killed sweep resumes), `configs/<run-id>.toml`,
//! and, once every point of the shard is done, `sweep.csv`, `sweep.parquet` and `manifest.json`.
//! The sweep id hashes the scenario, the grid, the request count and the code version — not the
//! shard or `--jobs` — so shards of one sweep share it and `merge` can check they belong together.

use anyhow::Result;
use clap::Args;
use servesim::ops::sweep::{MergeRequest, SweepRequest, merge as merge_shards, parse_shard, parse_vary, sweep};
use servesim::scenario::ScenarioSource;
use std::path::PathBuf;

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

/// Runs `sweep`; returns the sweep directory.
pub fn run(args: &SweepArgs) -> Result<PathBuf> {
    let vary = parse_vary(&args.vary)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let req = SweepRequest {
        scenario: ScenarioSource::Arg(args.scenario.clone()),
        vary,
        requests: args.requests,
        jobs: args.jobs,
        shard,
        out: args.out.clone(),
        progress: servesim::ops::progress::Progress::Bar,
    };
    let done = sweep(&req)?;
    let n = done.points.len();
    println!(
        "sweep {}: {n} points ({} run now, {} already done)  ->  {}",
        done.sweep_id,
        done.ran_now,
        n - done.ran_now,
        done.dir.display()
    );
    Ok(done.dir)
}

/// Runs `merge`; returns the merged directory.
pub fn merge(args: &MergeArgs) -> Result<PathBuf> {
    let done = merge_shards(&MergeRequest { shards: args.shards.clone(), out: args.out.clone() })?;
    println!(
        "merged {} shards of sweep {}: {} points  ->  {}",
        args.shards.len(),
        done.sweep_id,
        done.points,
        done.dir.display()
    );
    Ok(done.dir)
}
