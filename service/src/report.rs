//! Figures and a self-contained HTML report from saved results (a run directory or a sweep
//! directory), as `servesim figures` writes them; [`report_html`] also serves `servesim course`.

use crate::error::input;
use crate::rundir::read_json;
use anyhow::{Context, Result};
use figures::{Axis, BarChart, BarSeries, Chart, Figure, LineChart, Panel, PanelsChart, Series};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to report on.
#[derive(Clone, Debug)]
pub enum ReportSource {
    /// A run directory (from `simulate`).
    Run(PathBuf),
    /// A sweep directory (from `sweep` or `merge`).
    Sweep(PathBuf),
}

/// Renders the figures of `source` (`.svg`, `.png`, `.json`) and `report.html` into `out`
/// (default `<DIR>/figures`), published whole; returns the output directory.
pub fn write_report(source: &ReportSource, out: Option<&Path>) -> Result<PathBuf> {
    let (src, (figs, manifest, data), kind) = match source {
        ReportSource::Run(d) => (d, run_figures(d)?, "run"),
        ReportSource::Sweep(d) => (d, sweep_figures(d)?, "sweep"),
    };
    let out = out.map_or_else(|| src.join("figures"), Path::to_path_buf);
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let staged = artifact::StagedDir::new(&out).with_context(|| format!("creating beside {}", out.display()))?;
    let tmp = staged.path();
    let result = (|| -> Result<()> {
        let mut rendered = Vec::new();
        for fig in figs {
            fig.render(tmp, &fig.id).with_context(|| format!("rendering {}", fig.id))?;
            std::fs::write(tmp.join(format!("{}.json", fig.id)), fig.to_json()? + "\n")?;
            let svg = std::fs::read_to_string(tmp.join(format!("{}.svg", fig.id)))?;
            rendered.push((fig, svg));
        }
        let title = match kind {
            "run" => format!("servesim run {}", manifest["run_id"].as_str().unwrap_or("?")),
            _ => format!("servesim sweep {}", manifest["sweep_id"].as_str().unwrap_or("?")),
        };
        let mut sections = vec![("Manifest", manifest_rows(&manifest))];
        let point_rows: Vec<(String, String)>;
        if kind == "run" {
            sections.insert(0, ("Summary", rows_of(&data)));
        } else {
            point_rows = data
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let params: Vec<String> = p["params"]
                                .as_array()
                                .map(|x| {
                                    x.iter()
                                        .map(|kv| {
                                            format!("{}={}", kv[0].as_str().unwrap_or(""), kv[1].as_str().unwrap_or(""))
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            (params.join(" "), p["run_id"].as_str().unwrap_or("").to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            sections.insert(0, ("Points (parameters → run)", point_rows));
        }
        std::fs::write(tmp.join("report.html"), report_html(&title, &rendered, &sections))?;
        Ok(())
    })();
    result?;
    staged.publish(true).with_context(|| format!("replacing {}", out.display()))?;
    Ok(out)
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

const QUANTILES: [(&str, &str); 5] =
    [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")];

fn quantile_bars(id: &str, title: &str, caption: &str, run_id: &str, parts: &[(&str, &serde_json::Value)]) -> Figure {
    Figure {
        facts: Default::default(),
        id: id.into(),
        title: title.into(),
        caption: caption.into(),
        run_ids: vec![run_id.into()],
        chart: Chart::Bar(BarChart {
            x_label: "quantile".into(),
            categories: QUANTILES.iter().map(|(_, l)| l.to_string()).collect(),
            y: Axis::new("time", "ms"),
            series: parts
                .iter()
                .map(|(name, d)| BarSeries {
                    name: name.to_string(),
                    values: QUANTILES.iter().map(|(k, _)| f(&d[k])).collect(),
                })
                .collect(),
            ref_lines: vec![],
        }),
    }
}

/// Figures of one run.
fn run_figures(dir: &Path) -> Result<(Vec<Figure>, serde_json::Value, serde_json::Value)> {
    let manifest = read_json(&dir.join("manifest.json"))?;
    let s = read_json(&dir.join("summary.json"))?;
    let id = manifest["run_id"].as_str().unwrap_or("run").to_string();
    let l = &s["latency_ms"];
    let mut figs = Vec::new();
    if s["engine"] == "llm" {
        figs.push(quantile_bars(
            "token-latency",
            "Time to first token and end-to-end latency",
            "Quantiles of TTFT and end-to-end latency over completed requests.",
            &id,
            &[("TTFT", &l["ttft"]), ("end-to-end", &l["e2e"])],
        ));
        figs.push(quantile_bars(
            "per-token-latency",
            "Time per output token and inter-token latency",
            "TPOT per request and every gap between consecutive tokens (ITL).",
            &id,
            &[("TPOT", &l["tpot"]), ("inter-token", &l["itl"])],
        ));
        let t = &s["timeline"];
        let xs: Vec<f64> = t["t_s"].as_array().map(|a| a.iter().map(f).collect()).unwrap_or_default();
        let col = |k: &str| -> Vec<(f64, f64)> {
            xs.iter()
                .copied()
                .zip(t[k].as_array().map(|a| a.iter().map(f).collect::<Vec<_>>()).unwrap_or_default())
                .collect()
        };
        if !xs.is_empty() {
            figs.push(Figure {
                facts: Default::default(),
                id: "timeline".into(),
                title: "KV memory and sequences over time".into(),
                caption: "Used KV pages / capacity (top); running and waiting sequences (bottom).".into(),
                run_ids: vec![id.clone()],
                chart: Chart::Timeline(PanelsChart {
                    x: Axis::new("time", "s"),
                    top: Panel::new(
                        Axis::new("KV utilization", ""),
                        vec![Series::new("used / capacity", col("kv_utilization"))],
                    ),
                    bottom: Panel::new(
                        Axis::new("sequences", ""),
                        vec![Series::new("running", col("running")), Series::new("waiting", col("waiting"))],
                    ),
                }),
            });
        }
    } else {
        figs.push(quantile_bars(
            "latency",
            "Latency, queueing delay and service time",
            "Quantiles over completed requests.",
            &id,
            &[("latency", l), ("queue delay", &s["queue_delay_ms"]), ("service", &s["service_ms"])],
        ));
        let devices = s["devices"].as_array().cloned().unwrap_or_default();
        if devices.len() > 1 {
            figs.push(Figure {
                facts: Default::default(),
                id: "devices".into(),
                title: "Utilization and p99 latency per device".into(),
                caption: "Busy server-time share and p99 latency of each replica.".into(),
                run_ids: vec![id.clone()],
                chart: Chart::Bar(BarChart {
                    x_label: "device".into(),
                    categories: devices.iter().map(|d| d["name"].as_str().unwrap_or("?").to_string()).collect(),
                    y: Axis::new("utilization", ""),
                    series: vec![BarSeries {
                        name: "utilization".into(),
                        values: devices.iter().map(|d| f(&d["utilization"])).collect(),
                    }],
                    ref_lines: vec![],
                }),
            });
        }
    }
    Ok((figs, manifest, s))
}

/// Figures of one sweep: key metrics against the first varied parameter, a series per value of the others.
fn sweep_figures(dir: &Path) -> Result<(Vec<Figure>, serde_json::Value, serde_json::Value)> {
    let manifest = read_json(&dir.join("manifest.json"))?;
    if manifest["schema"] != "servesim.sweep/1" {
        return Err(input(format!("{}: not a sweep manifest", dir.join("manifest.json").display())));
    }
    let mut points = Vec::new();
    for e in
        std::fs::read_dir(dir.join("points")).with_context(|| format!("reading {}", dir.join("points").display()))?
    {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "json") {
            points.push(read_json(&p)?);
        }
    }
    points.sort_by_key(|p| p["index"].as_u64());
    let keys: Vec<String> = manifest["vary"]
        .as_array()
        .map(|a| a.iter().map(|kv| kv[0].as_str().unwrap_or("?").to_string()).collect())
        .unwrap_or_default();
    let run_ids: Vec<String> = points.iter().map(|p| p["run_id"].as_str().unwrap_or("").to_string()).collect();
    let llm = points.first().is_some_and(|p| p["metrics"].get("latency_ms.ttft.p99").is_some());
    let metrics: &[(&str, &str, &str)] = if llm {
        &[
            ("latency_ms.ttft.p99", "p99 TTFT", "ms"),
            ("latency_ms.tpot.p99", "p99 TPOT", "ms"),
            ("throughput.output_tokens_per_s", "output tokens", "1/s"),
        ]
    } else {
        &[
            ("latency_ms.p99", "p99 latency", "ms"),
            ("latency_ms.mean", "mean latency", "ms"),
            ("throughput_per_s", "throughput", "requests/s"),
        ]
    };
    let x_key = keys.first().cloned().unwrap_or_default();
    let mut figs = Vec::new();
    for (m, label, unit) in metrics {
        let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for p in &points {
            let params = p["params"].as_array().cloned().unwrap_or_default();
            let x = params.first().and_then(|kv| kv[1].as_str()).and_then(|v| v.parse::<f64>().ok());
            let rest: Vec<String> = params
                .iter()
                .skip(1)
                .map(|kv| format!("{}={}", kv[0].as_str().unwrap_or(""), kv[1].as_str().unwrap_or("")))
                .collect();
            let name = if rest.is_empty() { label.to_string() } else { rest.join(", ") };
            if let (Some(x), Some(y)) = (x, p["metrics"][*m].as_f64()) {
                groups.entry(name).or_default().push((x, y));
            }
        }
        if groups.is_empty() {
            continue;
        }
        figs.push(Figure {
            facts: Default::default(),
            id: m.replace('.', "-"),
            title: format!("{label} vs {x_key}"),
            caption: format!("Sweep {}: `{m}` at each point.", manifest["sweep_id"].as_str().unwrap_or("?")),
            run_ids: run_ids.clone(),
            chart: Chart::Line(LineChart {
                x: Axis::new(x_key.clone(), ""),
                panel: Panel::new(
                    Axis::new(*label, *unit),
                    groups.into_iter().map(|(n, pts)| Series::new(n, pts).with_markers()).collect(),
                ),
            }),
        });
    }
    if figs.is_empty() {
        return Err(input(format!("{}: the first varied key `{x_key}` has no numeric values to plot", dir.display())));
    }
    let table = serde_json::Value::Array(points);
    Ok((figs, manifest, table))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One self-contained HTML page: title, figures (their SVG inlined), a table of key/values per section.
pub fn report_html(title: &str, figures: &[(Figure, String)], sections: &[(&str, Vec<(String, String)>)]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:1240px;margin:2em auto;color:#222}}\
         figure{{margin:2em 0;max-width:1200px}} figure svg{{display:block;width:100%;height:auto;\
         box-sizing:border-box;border:1px solid #ddd}} figcaption{{overflow-wrap:anywhere}}\
         table{{border-collapse:collapse;font-size:0.9em}} td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}\
         td.n{{text-align:right;font-variant-numeric:tabular-nums}}</style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    for (fig, svg) in figures {
        let runs = match fig.run_ids.len() {
            n if n > 4 => format!("{}, … {} in all", fig.run_ids[..3].join(", "), n),
            _ => fig.run_ids.join(", "),
        };
        let body =
            svg.trim_start().strip_prefix("<?xml").map_or(svg.as_str(), |r| r.split_once("?>").map_or(r, |(_, b)| b));
        let _ = writeln!(
            h,
            "<figure id=\"{}\">{}<figcaption><b>{}</b> {} <small>(runs: {})</small></figcaption></figure>",
            escape(&fig.id),
            body,
            escape(&fig.title),
            escape(&fig.caption),
            escape(&runs)
        );
    }
    for (name, rows) in sections {
        let _ = write!(h, "<h2>{}</h2>\n<table>\n", escape(name));
        for (k, v) in rows {
            let class = if v.parse::<f64>().is_ok() { " class=\"n\"" } else { "" };
            let _ = writeln!(h, "<tr><th>{}</th><td{class}>{}</td></tr>", escape(k), escape(v));
        }
        h += "</table>\n";
    }
    h += "</body></html>\n";
    h
}

fn rows_of(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("timeline");
    }
    sim::gate::metrics_of(&v).into_iter().map(|(k, x)| (k, format!("{x}"))).collect()
}

fn manifest_rows(m: &serde_json::Value) -> Vec<(String, String)> {
    m.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| *k != "run_ids" && *k != "files")
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect()
        })
        .unwrap_or_default()
}
