//! `servesim lineage`: where a run, decision, sweep, course figure, model or trace came from.

use anyhow::Result;
use artifact::IdKind;
use clap::Args;
use servesim::audit::is_run_dir;
use servesim::error::input;
use servesim::ops::lineage::{find_id, lookup_kind};
use servesim::rundir::read_json;
use std::path::{Path, PathBuf};

/// Print where an artifact came from.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim lineage runs/run-aaaa
  servesim lineage gates/gate-cccc
  servesim lineage ../shared/traces/AzureLLMInferenceTrace_conv.csv
  servesim lineage run-3f2a9c0d1e2b4a5c            # an id: found under --root (default .)
  servesim lineage fig-9d1c… --root course

An id is found by what carries it: run-/val-/gate-/swp- directories, fig- in a course's
index.json, mdl- in a model card, tr- in a course's traces/index.json or a run's manifest,
prof- a calibration profile (prof- + SHA-256 of the file). Directories named target, .git and
.cache are not searched.")]
pub struct LineageArgs {
    /// An artifact: a path (run, validation, gate decision or sweep directory, course or model
    /// directory, figure data, model card, calibration profile, trace file) or an id.
    pub path: PathBuf,
    /// Where to look for an id.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
}

/// Runs `lineage`.
pub fn lineage(args: &LineageArgs) -> Result<()> {
    let given = args.path.to_string_lossy();
    let found;
    let p = if !args.path.exists() && IdKind::of_id(&given).is_some_and(lookup_kind) && !given.contains('/') {
        found = find_id(&given, &args.root)?;
        println!("{given}: {}", found.display());
        &found
    } else {
        &args.path
    };
    if p.join("decision.json").is_file() {
        let d = read_json(&p.join("decision.json"))?;
        println!("decision {} ({})", d["gate_id"].as_str().unwrap_or("?"), d["verdict"].as_str().unwrap_or("?"));
        println!(
            "├─ rules {} (sha256 {})",
            d["rules"].as_str().unwrap_or("?"),
            d["rules_sha256"].as_str().unwrap_or("?")
        );
        for who in ["baseline", "candidate"] {
            let path = PathBuf::from(d[who]["path"].as_str().unwrap_or(""));
            println!("├─ {who}");
            print_run(&path, "│  ");
        }
        return Ok(());
    }
    if let Some(done) = lineage_of_other_artifacts(p)? {
        return done;
    }
    if is_run_dir(p) {
        print_run(p, "");
        return Ok(());
    }
    if p.is_file() {
        let t = traces::formats::read_any(p, None)?;
        println!(
            "trace {} ({} requests) from {}",
            traces::id::trace_id(&t.requests, &t.classes),
            t.requests.len(),
            p.display()
        );
        return Ok(());
    }
    Err(input(format!("{}: not a run directory, a gate decision or a trace file", p.display())))
}

/// Lineage of a course directory, a figure's data file, a sweep directory, a model directory or a
/// model card; `None` if `p` is none of them.
fn lineage_of_other_artifacts(p: &Path) -> Result<Option<Result<()>>> {
    let s = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let print_config = |configs: &Path, run: &str, indent: &str| {
        if IdKind::of_id(run) == Some(IdKind::Model) {
            println!("{indent}model {run} (see its card: servesim lineage MODELS/<name>.card.json)");
            return;
        }
        if IdKind::of_id(run) == Some(IdKind::Trace) {
            // The course's traces step: traces/index.json names the file of each trace id.
            let index = configs.parent().unwrap_or(Path::new(".")).join("traces/index.json");
            let file = read_json(&index)
                .ok()
                .and_then(|v| v.as_array()?.iter().find(|t| t["stats"]["trace_id"] == run).map(|t| s(&t["file"])));
            match file {
                Some(f) => println!("{indent}trace {run}: traces/{f}"),
                None => println!("{indent}trace {run}: NOT IN {} (unauditable)", index.display()),
            }
            return;
        }
        let path = configs.join(format!("{run}.toml"));
        // A measured run (replay, validation) keeps its own directory in a step's folder.
        let course = configs.parent().unwrap_or(Path::new("."));
        let run_dir = std::fs::read_dir(course)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join(run)))
            .find(|d| d.join("manifest.json").is_file());
        if let (false, Some(dir)) = (path.is_file(), run_dir) {
            print_run(&dir, indent);
            return;
        }
        match std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| sim::ScenarioConfig::from_toml_str(&t).ok().map(|c| (t, c)))
        {
            Some((text, c)) => println!(
                "{indent}run {run}: scenario {} seed {} (config sha256:{}, {})",
                c.name,
                c.seed,
                &servesim::rundir::sha256_hex(text.as_bytes())[..16],
                path.display()
            ),
            None => println!("{indent}run {run}: NO CONFIG at {} (unauditable)", path.display()),
        }
    };
    let figure = |dir: &Path, id: &str, fig_id: &str, runs: &[serde_json::Value]| {
        println!("figure {id} ({fig_id})");
        for (i, r) in runs.iter().enumerate() {
            let branch = if i + 1 == runs.len() { "└─ " } else { "├─ " };
            print_config(&dir.join("configs"), &s(r), branch);
        }
    };
    // A course directory: index.json is an array of figures.
    let index = p.join("index.json");
    if index.is_file() {
        let v = read_json(&index)?;
        if let Some(figs) = v.as_array() {
            println!("course at {} ({} figures)", p.display(), figs.len());
            for f in figs {
                figure(p, &s(&f["id"]), &s(&f["figure_id"]), f["run_ids"].as_array().map_or(&[][..], |a| &a[..]));
            }
            return Ok(Some(Ok(())));
        }
        if v["schema"] == "servesim.kernels-index/1" {
            println!(
                "models at {} (preset {}, seed {}, dataset {})",
                p.display(),
                s(&v["preset"]),
                v["seed"],
                s(&v["dataset_id"])
            );
            for m in v["models"].as_array().cloned().unwrap_or_default() {
                println!("├─ {} {} parent {}", s(&m["name"]), s(&m["id"]), s(&m["parent_id"]));
            }
            println!("└─ built by {}", s(&v["created_by"]));
            return Ok(Some(Ok(())));
        }
    }
    // A sweep directory.
    let manifest = p.join("manifest.json");
    if manifest.is_file() {
        let m = read_json(&manifest)?;
        if m["schema"] == "servesim.sweep/1" {
            println!(
                "sweep {} of scenario {} ({} points, {} requests each)",
                s(&m["sweep_id"]),
                s(&m["scenario"]),
                m["points"],
                m["requests"]
            );
            println!("├─ grid {}", m["vary"]);
            println!("├─ code servesim {} at commit {}", s(&m["code"]["servesim"]), s(&m["code"]["git_commit"]));
            let runs = m["run_ids"].as_array().cloned().unwrap_or_default();
            for (i, r) in runs.iter().enumerate() {
                let branch = if i + 1 == runs.len() { "└─ " } else { "├─ " };
                print_config(&p.join("configs"), &s(r), branch);
            }
            return Ok(Some(Ok(())));
        }
    }
    // A calibration profile.
    if p.is_file()
        && p.extension().is_some_and(|e| e == "toml")
        && let Ok(profile) = replay::profile::Profile::load(p)
    {
        let id = IdKind::Profile.of(std::fs::read(p)?);
        println!("profile {id} ({}, {})", profile.schema, p.display());
        println!("├─ measured by {}", profile.created_by);
        let m = &profile.machine;
        println!("├─ machine {} ({} cores), ONNX Runtime {}", m.cpu, m.cores, m.onnxruntime);
        for (i, e) in profile.entries.iter().enumerate() {
            let branch = if i + 1 == profile.entries.len() { "└─" } else { "├─" };
            println!("{branch} {} = model {} ({} threads, sizes {:?})", e.variant, e.model_id, e.threads, e.batch);
        }
        return Ok(Some(Ok(())));
    }
    if p.is_file() && p.extension().is_some_and(|e| e == "json") {
        let v = read_json(p)?;
        // A figure's data: run ids and a chart.
        if v.get("chart").is_some() && v.get("run_ids").is_some() {
            let dir = p.parent().unwrap_or(Path::new("."));
            let bytes = std::fs::read(p)?;
            let fig_id = IdKind::Figure.of(&bytes).to_string();
            figure(dir, &s(&v["id"]), &fig_id, v["run_ids"].as_array().map_or(&[][..], |a| &a[..]));
            return Ok(Some(Ok(())));
        }
        // A model card.
        if v["schema"].as_str().is_some_and(|x| x.starts_with("servesim.model-card")) {
            println!("model {} {} ({}), version {}", s(&v["name"]), s(&v["id"]), s(&v["precision"]), s(&v["version"]));
            println!("├─ parent {} ({})", s(&v["parent_id"]), s(&v["relation"]));
            println!("├─ dataset {} split seed {}", s(&v["dataset_id"]), v["split_seed"]);
            println!("└─ built by {}", s(&v["created_by"]));
            return Ok(Some(Ok(())));
        }
    }
    Ok(None)
}

fn print_run(dir: &Path, indent: &str) {
    let m = match read_json(&dir.join("manifest.json")) {
        Ok(m) => m,
        Err(e) => {
            println!("{indent}run at {}: {e:#}", dir.display());
            return;
        }
    };
    let s = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    println!("{indent}run {} ({}) at {}", s(&m["run_id"]), s(&m["kind"]), dir.display());
    println!(
        "{indent}├─ scenario {} from {} (config {})",
        s(&m["scenario"]),
        s(&m["scenario_source"]),
        s(&m["config_hash"])
    );
    println!(
        "{indent}├─ trace {} from {} ({} requests)",
        s(&m["trace"]["id"]),
        s(&m["trace"]["source"]),
        m["trace"]["requests"]
    );
    println!("{indent}├─ seed {}", m["seed"]);
    for md in m["models"].as_array().into_iter().flatten() {
        println!("{indent}├─ model {} {} from {}", s(&md["variant"]), s(&md["id"]), s(&md["file"]));
    }
    if m["profile"].is_object() {
        let p = &m["profile"];
        println!("{indent}├─ profile {} from {} (sha256 {})", s(&p["id"]), s(&p["source"]), s(&p["sha256"]));
        for u in p["used"].as_array().into_iter().flatten() {
            println!(
                "{indent}│  ├─ measured {} = model {} ({} threads)",
                s(&u["variant"]),
                s(&u["model_id"]),
                u["threads"]
            );
        }
    }
    // A validation names its replay and its simulation: they sit beside it.
    for r in m["runs"].as_array().into_iter().flatten() {
        println!("{indent}├─ compared");
        print_run(&dir.parent().unwrap_or(Path::new(".")).join(s(r)), &format!("{indent}│  "));
    }
    println!("{indent}├─ code servesim {} at commit {}", s(&m["code"]["servesim"]), s(&m["code"]["git_commit"]));
    let files = m["files"].as_array().cloned().unwrap_or_default();
    for (i, f) in files.iter().enumerate() {
        let branch = if i + 1 == files.len() { "└─" } else { "├─" };
        println!("{indent}{branch} file {} (sha256 {})", s(&f["path"]), s(&f["sha256"]));
    }
}
