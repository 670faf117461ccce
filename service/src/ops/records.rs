//! `requests.parquet`: one row per request of a run, as simulate, an LLM simulation and a replay
//! write it (a replay adds its own columns after the shared ones).

use replay::harness::{Plan, ReplayRecord};
use sim::Summary;
use sim::engine::RequestRecord;
use traces::SimTime;
use traces::formats::{Table, TableColumn};

/// The records table of a request-level simulation.
pub fn simulated(records: &[RequestRecord], summary: &Summary) -> Table {
    let secs = |t: Option<SimTime>| t.map(SimTime::as_secs_f64);
    let name =
        |d: Option<sim::engine::DeviceId>| d.map_or(String::new(), |d| summary.devices[d.0 as usize].name.clone());
    let mut t = Table::default();
    t.push("id", TableColumn::U64(records.iter().map(|r| r.id).collect()));
    t.push("arrival_s", TableColumn::F64(records.iter().map(|r| r.arrival.as_secs_f64()).collect()));
    t.push("start_s", TableColumn::OptF64(records.iter().map(|r| secs(r.start)).collect()));
    t.push("finish_s", TableColumn::OptF64(records.iter().map(|r| secs(r.finish)).collect()));
    t.push(
        "latency_ms",
        TableColumn::OptF64(records.iter().map(|r| r.finish.map(|f| (f - r.arrival).as_millis_f64())).collect()),
    );
    t.push("device", TableColumn::Str(records.iter().map(|r| name(r.device)).collect()));
    t.push("server", TableColumn::OptU64(records.iter().map(|r| r.server.map(u64::from)).collect()));
    t.push("batch_size", TableColumn::U64(records.iter().map(|r| u64::from(r.batch_size)).collect()));
    t.push("dropped", TableColumn::Bool(records.iter().map(|r| r.dropped).collect()));
    t.push("cache", cache_column(records.iter().map(|r| r.cache)));
    t.push("escalated", TableColumn::Bool(records.iter().map(|r| r.escalated).collect()));
    if !summary.classes.is_empty() {
        let class = |k: u16| summary.classes.get(usize::from(k)).map_or(String::new(), |c| c.name.clone());
        t.push("class", TableColumn::Str(records.iter().map(|r| class(r.class)).collect()));
    }
    t
}

/// The records table of an LLM simulation.
pub fn llm(records: &[sim::llm::LlmRecord], summary: &sim::llm::LlmSummary) -> Table {
    let secs = |t: Option<SimTime>| t.map(SimTime::as_secs_f64);
    let mut t = Table::default();
    t.push("id", TableColumn::U64(records.iter().map(|r| r.id).collect()));
    t.push("arrival_s", TableColumn::F64(records.iter().map(|r| r.arrival.as_secs_f64()).collect()));
    t.push("admitted_s", TableColumn::OptF64(records.iter().map(|r| secs(r.admitted)).collect()));
    t.push("first_token_s", TableColumn::OptF64(records.iter().map(|r| secs(r.first_token)).collect()));
    t.push("finish_s", TableColumn::OptF64(records.iter().map(|r| secs(r.finish)).collect()));
    t.push(
        "ttft_ms",
        TableColumn::OptF64(records.iter().map(|r| r.first_token.map(|f| (f - r.arrival).as_millis_f64())).collect()),
    );
    t.push(
        "tpot_ms",
        TableColumn::OptF64(
            records
                .iter()
                .map(|r| match (r.first_token, r.finish) {
                    (Some(f), Some(e)) if r.output > 1 => Some((e - f).as_millis_f64() / (r.output - 1) as f64),
                    _ => None,
                })
                .collect(),
        ),
    );
    t.push("prompt_tokens", TableColumn::U64(records.iter().map(|r| r.prompt).collect()));
    t.push("output_tokens", TableColumn::U64(records.iter().map(|r| r.output).collect()));
    t.push("cached_tokens", TableColumn::U64(records.iter().map(|r| r.cached_tokens).collect()));
    t.push("replica", TableColumn::Str(records.iter().map(|r| summary.replicas[r.replica].name.clone()).collect()));
    t.push("preemptions", TableColumn::U64(records.iter().map(|r| u64::from(r.preemptions)).collect()));
    t.push("rejected", TableColumn::Bool(records.iter().map(|r| r.rejected).collect()));
    t.push("timed_out", TableColumn::Bool(records.iter().map(|r| r.timed_out).collect()));
    if records.iter().any(|r| r.adapter.is_some()) {
        t.push("adapter", TableColumn::OptU64(records.iter().map(|r| r.adapter.map(u64::from)).collect()));
    }
    t
}

/// `timeline.csv`: an autoscaled run's pools over time, one row per pool and decision.
pub fn timeline(rows: &[sim::engine::TimelineRow], summary: &Summary) -> Table {
    let mut t = Table::default();
    t.push("t_s", TableColumn::F64(rows.iter().map(|r| r.t_s).collect()));
    t.push("dur_s", TableColumn::F64(rows.iter().map(|r| r.dur_s).collect()));
    t.push("pool", TableColumn::Str(rows.iter().map(|r| summary.devices[r.pool as usize].name.clone()).collect()));
    t.push("decisions", TableColumn::U64(rows.iter().map(|r| u64::from(r.decisions)).collect()));
    for (name, f) in [
        ("desired", (|r| r.desired) as fn(&sim::engine::TimelineRow) -> u32),
        ("ready", |r| r.ready),
        ("starting", |r| r.starting),
        ("draining", |r| r.draining),
    ] {
        t.push(name, TableColumn::U64(rows.iter().map(|r| u64::from(f(r))).collect()));
    }
    t.push("busy", TableColumn::F64(rows.iter().map(|r| r.busy).collect()));
    t.push("in_pool", TableColumn::F64(rows.iter().map(|r| r.in_pool).collect()));
    t.push("arrivals", TableColumn::U64(rows.iter().map(|r| r.arrivals).collect()));
    t.push("completed", TableColumn::U64(rows.iter().map(|r| r.completed).collect()));
    t.push("slo_met", TableColumn::U64(rows.iter().map(|r| r.slo_met).collect()));
    t.push("power_w", TableColumn::F64(rows.iter().map(|r| r.power_w).collect()));
    t.push("cost_usd", TableColumn::F64(rows.iter().map(|r| r.cost_usd).collect()));
    t
}

/// `scaling.csv`: every replica state change of an autoscaled run.
pub fn scaling(events: &[sim::engine::ScalingEvent], summary: &Summary) -> Table {
    let mut t = Table::default();
    t.push("t_s", TableColumn::F64(events.iter().map(|e| e.at.as_secs_f64()).collect()));
    t.push("pool", TableColumn::Str(events.iter().map(|e| summary.devices[e.device as usize].name.clone()).collect()));
    t.push("replica", TableColumn::U64(events.iter().map(|e| u64::from(e.replica)).collect()));
    t.push(
        "state",
        TableColumn::Str(
            events
                .iter()
                .map(|e| {
                    serde_json::to_value(e.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
                })
                .collect(),
        ),
    );
    t
}

/// The `cache` column of a records table: each outcome by its serialized name.
pub fn cache_column(outcomes: impl Iterator<Item = sim::engine::CacheOutcome>) -> TableColumn {
    TableColumn::Str(
        outcomes
            .map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
            .collect(),
    )
}

/// The records table of a replay: the shared columns, then the replay's own.
pub fn replayed(records: &[ReplayRecord], plan: &Plan) -> Table {
    let s = |ns: u64| SimTime(ns).as_secs_f64();
    let os = |ns: Option<u64>| ns.map(s);
    let col = |f: &dyn Fn(&ReplayRecord) -> Option<f64>| TableColumn::OptF64(records.iter().map(f).collect());
    let mut t = Table::default();
    t.push("id", TableColumn::U64(records.iter().map(|r| r.id).collect()));
    t.push("arrival_s", TableColumn::F64(records.iter().map(|r| s(r.arrival)).collect()));
    t.push("start_s", col(&|r| os(r.start)));
    t.push("finish_s", col(&|r| os(r.finish)));
    t.push("latency_ms", col(&|r| r.latency_ns().map(|l| l as f64 / 1e6)));
    t.push(
        "device",
        TableColumn::Str(
            records.iter().map(|r| r.device.map_or(String::new(), |d| plan.devices[d].name.clone())).collect(),
        ),
    );
    t.push("server", TableColumn::OptU64(records.iter().map(|r| r.server.map(u64::from)).collect()));
    t.push("batch_size", TableColumn::U64(records.iter().map(|r| u64::from(r.batch_size)).collect()));
    t.push("dropped", TableColumn::Bool(records.iter().map(|r| r.dropped).collect()));
    t.push("cache", cache_column(records.iter().map(|r| r.cache)));
    t.push("escalated", TableColumn::Bool(records.iter().map(|r| r.escalated_from.is_some()).collect()));
    // Replay's own columns.
    t.push(
        "variant",
        TableColumn::Str(
            records.iter().map(|r| r.device.map_or(String::new(), |d| plan.devices[d].variant.clone())).collect(),
        ),
    );
    t.push("intended_s", TableColumn::F64(records.iter().map(|r| s(r.intended)).collect()));
    t.push("enqueued_s", TableColumn::F64(records.iter().map(|r| s(r.enqueued)).collect()));
    t.push("dispatch_s", col(&|r| os(r.dispatch)));
    t.push("lateness_us", TableColumn::F64(records.iter().map(|r| r.lateness_ns() as f64 / 1e3).collect()));
    t.push("overhead_us", col(&|r| r.overhead_ns.map(|o| o as f64 / 1e3)));
    t.push("ort_ms", col(&|r| r.ort_ns.map(|o| o as f64 / 1e6)));
    t.push("prediction", TableColumn::OptU64(records.iter().map(|r| r.prediction.map(u64::from)).collect()));
    t.push("correct", TableColumn::OptU64(records.iter().map(|r| r.correct.map(u64::from)).collect()));
    t.push("student_confidence", col(&|r| r.confidence.map(f64::from)));
    t.push(
        "student_prediction",
        TableColumn::OptU64(records.iter().map(|r| r.escalated_from.map(u64::from)).collect()),
    );
    t
}
