//! Ground-truth cases: real vLLM measurements as scenarios (`servesim groundtruth`).
//!
//! A case is a directory (format: `../shared/groundtruth/README.md`) with `case.toml` (server,
//! workload, measured statistics) and, for per-request cases, `workload.jsonl` (Mooncake
//! format) and `measured.csv`. This module does no IO: the caller reads the files and hands
//! their text over; every error names the file, the key (or line) and the reason.
//!
//! How a case becomes a scenario:
//! - the server: one pool of `data_parallel` replicas of `gpu`, each `tensor_parallel` devices;
//!   vLLM ≥ 0.10 (the V1 engine) always chunks prefills, earlier versions as the case says;
//!   vLLM ≥ 0.14 schedules asynchronously unless the case sets `async_scheduling = false`;
//!   `max_num_seqs`, `max_num_batched_tokens`, `max_model_len`, `block_size`,
//!   `gpu_memory_utilization` and the recorded `kv_blocks` carry over; prefix caching shares
//!   the prompt blocks that carry an id;
//! - the workload: Mooncake rows replayed (`timestamp` ms, `input_length`, `output_length`,
//!   `hash_ids` of `hash_block_tokens` each; a known but unhashed `prefix_tokens` becomes ids
//!   every request shares), or a `shared_prefix` spec generated: Poisson arrivals per stage
//!   (`round(rate × duration)` arrivals from the stage's start, seeded stream
//!   `groundtruth/<id>/arrivals`); as inference-perf's shared-prefix generator does
//!   (`datagen/shared_prefix_datagen.py`: prompts drawn once per user, shuffled once, request
//!   i sends prompt i mod users), the users are shuffled once (stream
//!   `groundtruth/<id>/users`) and cycled, so a user's prompt (system prompt + question + chat
//!   template tokens) repeats exactly: the system prompt's full blocks are shared within its
//!   group, the rest of the prompt's full blocks by the user's own requests;
//! - the client: a request it gives up on is aborted by the server and leaves the statistics
//!   (`client_timeout_s` in `[server]`, else the client's default, [`client_default_timeout_s`]).

use crate::catalog::Precision;
use crate::config::ScenarioConfig;
use crate::llm::calibration::{Calibration, Source};
use crate::llm::perf::{Efficiency, PerfSpec};
use crate::llm::shape::ModelShape;
use crate::llm::{LlmRouterSpec, LlmSpec, LlmSummary, PoolSpec, Preemption, PrefixCacheSpec, Role, SchedulerSpec};
use rand::RngExt;
use rand::seq::SliceRandom;
use serde::Serialize;
use std::collections::BTreeMap;
use traces::rng::stream;
use traces::{Request, SimTime};

/// A malformed case: which file, which key (or line and field), why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}: `{key}`: {reason}")]
pub struct CaseError {
    /// File (as the caller named it).
    pub file: String,
    /// Dotted key, or `line N: field`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

fn err(file: &str, key: &str, reason: impl Into<String>) -> CaseError {
    CaseError { file: file.to_string(), key: key.to_string(), reason: reason.into() }
}

/// One stage of a generated workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stage {
    /// Poisson rate, 1/s.
    pub rate_per_s: f64,
    /// Duration, s.
    pub duration_s: f64,
}

/// The workload of a case.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Workload {
    /// Requests in a Mooncake JSONL file.
    Mooncake {
        /// File name, relative to the case directory.
        requests_file: String,
        /// Tokens per hash id (0: no hashes).
        hash_block_tokens: u32,
        /// A shared but unhashed prefix, tokens.
        prefix_tokens: u64,
    },
    /// inference-perf's shared-prefix generator.
    SharedPrefix {
        /// System prompt tokens (shared within a group).
        system_prompt_tokens: u64,
        /// Question tokens (fresh per request).
        question_tokens: u64,
        /// Extra tokens the chat template adds.
        chat_template_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
        /// Groups.
        system_prompts: u64,
        /// Users per group.
        users_per_system_prompt: u64,
        /// Stages, one after the other.
        stages: Vec<Stage>,
    },
}

/// The `[server]` table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Server {
    /// `vllm`.
    pub engine: String,
    /// e.g. `0.11.0`.
    pub engine_version: String,
    /// Model name (a built-in shape or `models/<model>.json`).
    pub model: String,
    /// Device kind.
    pub gpu: String,
    /// Devices per replica.
    pub tensor_parallel: u32,
    /// Replicas.
    pub data_parallel: u32,
    /// Weight precision.
    pub dtype: Precision,
    /// KV precision.
    pub kv_cache_dtype: Precision,
    /// vLLM `max_num_seqs`.
    pub max_num_seqs: u32,
    /// vLLM `max_num_batched_tokens`.
    pub max_num_batched_tokens: u32,
    /// vLLM `max_model_len`.
    pub max_model_len: u32,
    /// Tokens per KV block.
    pub block_size: u32,
    /// vLLM `gpu_memory_utilization`.
    pub gpu_memory_utilization: f64,
    /// Chunked prefill as configured (V1 always chunks).
    pub chunked_prefill: bool,
    /// Prefix caching.
    pub prefix_caching: bool,
    /// Async scheduling: `async_scheduling` when the case gives it, else vLLM's default for
    /// its version ([`Server::async_by_default`]).
    pub async_scheduling: bool,
    /// GPU KV blocks the engine allocated, when recorded.
    pub kv_blocks: Option<u64>,
    /// CPU KV offload, GiB (a second tier for evicted prefix blocks).
    pub cpu_offload_gib: f64,
    /// The benchmark client, as the case names it.
    pub client: String,
    /// Seconds after which the client gives up on a request: `client_timeout_s` when the case
    /// gives it, else the client's documented default ([`client_default_timeout_s`]).
    pub client_timeout_s: Option<f64>,
}

/// The default time-out of a benchmark client named in a case's `client`, s (None: none known).
///
/// - inference-perf: its `request_timeout` is unset by default and its aiohttp session then
///   uses aiohttp's default `ClientTimeout(total = 300 s)` per request (connection wait,
///   queueing at the server and streaming included). On time-out the client disconnects and
///   vLLM's API server aborts the request. Runs past the server's capacity (the `reasoning`
///   preset) are shaped by it: the latencies it reports are those of the requests that finished
///   within 300 s.
pub fn client_default_timeout_s(client: &str) -> Option<f64> {
    client.to_ascii_lowercase().contains("inference-perf").then_some(300.0)
}

impl Server {
    /// (major, minor) of `engine_version` (unparsable parts count as 0).
    fn version(&self) -> (u32, u32) {
        let mut parts = self.engine_version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// vLLM ≥ 0.10 runs the V1 engine (chunked prefill always on).
    pub fn is_v1(&self) -> bool {
        let (major, minor) = self.version();
        major > 0 || minor >= 10
    }

    /// vLLM ≥ 0.14 schedules asynchronously unless told not to (`async_scheduling` left unset
    /// is turned on when nothing incompatible is configured: vLLM PR #27614, the last item of
    /// its async-scheduling plan, issue #27679).
    pub fn async_by_default(&self) -> bool {
        let (major, minor) = self.version();
        major > 0 || minor >= 14
    }
}

/// A parsed `case.toml`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Case {
    /// Case id.
    pub id: String,
    /// `per_request` or `summary`.
    pub kind: String,
    /// The server.
    pub server: Server,
    /// The workload.
    pub workload: Workload,
    /// Requests the case declares.
    pub requests: u64,
    /// Measured statistics, flattened (`ttft_ms.mean`, `itl_ms_mean`, `throughput_rps`…).
    pub measured: BTreeMap<String, f64>,
}

/// Typed access to a TOML table with errors naming `file` and the dotted key.
struct Tab<'a> {
    file: &'a str,
    prefix: &'a str,
    t: &'a toml::Table,
}

impl<'a> Tab<'a> {
    fn key(&self, k: &str) -> String {
        if self.prefix.is_empty() { k.to_string() } else { format!("{}.{k}", self.prefix) }
    }
    fn get(&self, k: &str) -> Result<&'a toml::Value, CaseError> {
        self.t.get(k).ok_or_else(|| err(self.file, &self.key(k), "missing"))
    }
    fn str(&self, k: &str) -> Result<String, CaseError> {
        match self.get(k)? {
            toml::Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            v => Err(err(self.file, &self.key(k), format!("must be a non-empty string, got {v}"))),
        }
    }
    fn int_opt(&self, k: &str) -> Result<Option<u64>, CaseError> {
        match self.t.get(k) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(v) => Err(err(self.file, &self.key(k), format!("must be a non-negative integer, got {v}"))),
        }
    }
    fn int(&self, k: &str) -> Result<u64, CaseError> {
        self.get(k)?;
        self.int_opt(k).map(|v| v.expect("present"))
    }
    fn pos_u32(&self, k: &str) -> Result<u32, CaseError> {
        let v = self.int(k)?;
        u32::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| err(self.file, &self.key(k), format!("must be a positive integer below 2^32, got {v}")))
    }
    fn float_opt(&self, k: &str) -> Result<Option<f64>, CaseError> {
        match self.t.get(k) {
            None => Ok(None),
            Some(toml::Value::Float(f)) if f.is_finite() && *f >= 0.0 => Ok(Some(*f)),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as f64)),
            Some(v) => Err(err(self.file, &self.key(k), format!("must be a non-negative number, got {v}"))),
        }
    }
    fn float(&self, k: &str) -> Result<f64, CaseError> {
        self.get(k)?;
        self.float_opt(k).map(|v| v.expect("present"))
    }
    fn bool(&self, k: &str) -> Result<bool, CaseError> {
        match self.get(k)? {
            toml::Value::Boolean(b) => Ok(*b),
            v => Err(err(self.file, &self.key(k), format!("must be true or false, got {v}"))),
        }
    }
    fn table(&self, k: &'a str) -> Result<Tab<'a>, CaseError> {
        match self.get(k)? {
            toml::Value::Table(t) => Ok(Tab { file: self.file, prefix: k, t }),
            v => Err(err(self.file, &self.key(k), format!("must be a table, got {v}"))),
        }
    }
}

fn precision(file: &str, key: &str, v: &str, auto: Option<Precision>) -> Result<Precision, CaseError> {
    Ok(match v {
        "auto" => auto.ok_or_else(|| err(file, key, "`auto` is only valid for kv_cache_dtype"))?,
        "float16" | "half" | "fp16" => Precision::Fp16,
        "bfloat16" | "bf16" => Precision::Bf16,
        "float32" | "float" | "fp32" => Precision::Fp32,
        // fp8 KV and weights: one byte per value, as int8.
        "fp8" | "fp8_e4m3" | "fp8_e5m2" | "int8" => Precision::Int8,
        _ => return Err(err(file, key, format!("unknown dtype `{v}` (float16, bfloat16, float32, fp8, auto)"))),
    })
}

impl Case {
    /// Parses the text of `case.toml` (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<Case, CaseError> {
        let root: toml::Table = toml::from_str(text)
            .map_err(|e| err(file, "(file)", format!("not valid TOML: {}", e.to_string().trim())))?;
        let top = Tab { file, prefix: "", t: &root };
        let id = top.str("id")?;
        if id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(err(file, "id", format!("`{id}` must not contain a path separator or start with a dot")));
        }
        let kind = top.str("kind")?;
        if kind != "per_request" && kind != "summary" {
            return Err(err(file, "kind", format!("must be `per_request` or `summary`, got `{kind}`")));
        }
        let s = top.table("server")?;
        let engine = s.str("engine")?;
        if engine != "vllm" {
            return Err(err(file, "server.engine", format!("only `vllm` is simulated, got `{engine}`")));
        }
        let dtype_s = s.str("dtype")?;
        let dtype = precision(file, "server.dtype", &dtype_s, None)?;
        let kv_s = s.t.get("kv_cache_dtype").and_then(|v| v.as_str()).unwrap_or("auto").to_string();
        let kv_cache_dtype = precision(file, "server.kv_cache_dtype", &kv_s, Some(dtype))?;
        let util = s.float("gpu_memory_utilization")?;
        if !(util > 0.0 && util <= 1.0) {
            return Err(err(file, "server.gpu_memory_utilization", format!("must be in (0, 1], got {util}")));
        }
        let server = Server {
            engine,
            engine_version: s.str("engine_version")?,
            model: s.str("model")?,
            gpu: s.str("gpu")?,
            tensor_parallel: s.pos_u32("tensor_parallel")?,
            data_parallel: s.pos_u32("data_parallel")?,
            dtype,
            kv_cache_dtype,
            max_num_seqs: s.pos_u32("max_num_seqs")?,
            max_num_batched_tokens: s.pos_u32("max_num_batched_tokens")?,
            max_model_len: s.pos_u32("max_model_len")?,
            block_size: s.pos_u32("block_size")?,
            gpu_memory_utilization: util,
            chunked_prefill: s.bool("chunked_prefill")?,
            prefix_caching: s.bool("prefix_caching")?,
            async_scheduling: false,
            kv_blocks: match s.int_opt("kv_blocks")? {
                Some(0) => return Err(err(file, "server.kv_blocks", "must be at least 1")),
                v => v,
            },
            cpu_offload_gib: s.float_opt("cpu_offload_gib")?.unwrap_or(0.0),
            client: s.t.get("client").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
            client_timeout_s: match s.float_opt("client_timeout_s")? {
                Some(t) if t.is_nan() || t <= 0.0 => {
                    return Err(err(file, "server.client_timeout_s", format!("must be > 0, got {t}")));
                }
                Some(t) => Some(t),
                None => client_default_timeout_s(s.t.get("client").and_then(|v| v.as_str()).unwrap_or_default()),
            },
        };
        let server = Server {
            async_scheduling: match s.t.get("async_scheduling") {
                Some(_) => s.bool("async_scheduling")?,
                None => server.async_by_default(),
            },
            ..server
        };
        let w = top.table("workload")?;
        let workload = if w.t.contains_key("requests_file") {
            let format = w.str("format")?;
            if format != "mooncake" {
                return Err(err(file, "workload.format", format!("only `mooncake` is read, got `{format}`")));
            }
            let hash_block_tokens = match w.int_opt("hash_block_tokens")? {
                None => 0,
                Some(t) => u32::try_from(t).map_err(|_| err(file, "workload.hash_block_tokens", "too large"))?,
            };
            if hash_block_tokens > 0 && !hash_block_tokens.is_multiple_of(server.block_size) {
                return Err(err(
                    file,
                    "workload.hash_block_tokens",
                    format!("must be a multiple of server.block_size ({}), got {hash_block_tokens}", server.block_size),
                ));
            }
            let requests_file = w.str("requests_file")?;
            if requests_file.contains("..") || requests_file.starts_with('/') {
                return Err(err(file, "workload.requests_file", "must name a file inside the case directory"));
            }
            Workload::Mooncake {
                requests_file,
                hash_block_tokens,
                prefix_tokens: w.int_opt("prefix_tokens")?.unwrap_or(0),
            }
        } else {
            let k = w.str("kind")?;
            if k != "shared_prefix" {
                return Err(err(
                    file,
                    "workload.kind",
                    format!("must be `shared_prefix` (or give requests_file), got `{k}`"),
                ));
            }
            let stages_v = match w.get("stages")? {
                toml::Value::Array(a) if !a.is_empty() => a,
                v => return Err(err(file, "workload.stages", format!("must be a non-empty array of tables, got {v}"))),
            };
            let mut stages = Vec::new();
            for (i, st) in stages_v.iter().enumerate() {
                let key = format!("workload.stages[{i}]");
                let t = st.as_table().ok_or_else(|| err(file, &key, "must be a table"))?;
                let tab = Tab { file, prefix: &key, t };
                let rate = tab.float("rate_per_s")?;
                let dur = tab.float("duration_s")?;
                if rate <= 0.0 || dur <= 0.0 {
                    return Err(err(file, &key, "rate_per_s and duration_s must be positive"));
                }
                stages.push(Stage { rate_per_s: rate, duration_s: dur });
            }
            let pos = |k: &str| -> Result<u64, CaseError> {
                let v = w.int(k)?;
                if v == 0 { Err(err(file, &w.key(k), "must be at least 1")) } else { Ok(v) }
            };
            Workload::SharedPrefix {
                system_prompt_tokens: w.int("system_prompt_tokens")?,
                question_tokens: pos("question_tokens")?,
                chat_template_tokens: w.int_opt("chat_template_tokens")?.unwrap_or(0),
                output_tokens: pos("output_tokens")?,
                system_prompts: pos("system_prompts")?,
                users_per_system_prompt: pos("users_per_system_prompt")?,
                stages,
            }
        };
        let requests = w.int("requests")?;
        let m = top.table("measured")?;
        let mut measured = BTreeMap::new();
        for (k, v) in m.t {
            match v {
                toml::Value::Table(t) => {
                    for (stat, x) in t {
                        let key = format!("measured.{k}.{stat}");
                        let x = match x {
                            toml::Value::Float(f) if f.is_finite() && *f >= 0.0 => *f,
                            toml::Value::Integer(i) if *i >= 0 => *i as f64,
                            _ => return Err(err(file, &key, format!("must be a non-negative number, got {x}"))),
                        };
                        measured.insert(format!("{k}.{stat}"), x);
                    }
                }
                toml::Value::Float(f) if f.is_finite() && *f >= 0.0 => {
                    measured.insert(k.clone(), *f);
                }
                toml::Value::Integer(i) if *i >= 0 => {
                    measured.insert(k.clone(), *i as f64);
                }
                _ => return Err(err(file, &format!("measured.{k}"), format!("must be a number or a table, got {v}"))),
            }
        }
        for k in measured.keys() {
            if stat(k).is_none() {
                return Err(err(file, &format!("measured.{k}"), "unknown statistic"));
            }
        }
        if !measured.contains_key("ttft_ms.mean") || !measured.contains_key("e2e_ms.mean") {
            return Err(err(file, "measured", "needs at least ttft_ms.mean and e2e_ms.mean"));
        }
        Ok(Case { id, kind, server, workload, requests, measured })
    }

    /// The requests of a Mooncake workload from the text of its file (`file` names it in errors).
    pub fn mooncake_requests(&self, file: &str, text: &str) -> Result<Vec<Request>, CaseError> {
        let Workload::Mooncake { hash_block_tokens, prefix_tokens, .. } = &self.workload else {
            return Err(err(file, "workload", "the case has no requests file"));
        };
        let shared_blocks = match prefix_block_tokens(self) {
            Some(bt) if *hash_block_tokens == 0 => prefix_tokens / u64::from(bt),
            _ => 0,
        };
        let mut out = Vec::new();
        let mut last = SimTime::ZERO;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let row: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| err(file, &format!("line {n}"), format!("not valid JSON: {e}")))?;
            let num = |k: &str| -> Result<&serde_json::Value, CaseError> {
                row.get(k).ok_or_else(|| err(file, &format!("line {n}: {k}"), "missing"))
            };
            let ts = num("timestamp")?
                .as_f64()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .ok_or_else(|| err(file, &format!("line {n}: timestamp"), "must be a non-negative number (ms)"))?;
            let int = |k: &str| -> Result<u64, CaseError> {
                num(k)?.as_u64().ok_or_else(|| err(file, &format!("line {n}: {k}"), "must be a non-negative integer"))
            };
            let input = int("input_length")?;
            let output = int("output_length")?;
            if input == 0 {
                return Err(err(file, &format!("line {n}: input_length"), "must be at least 1"));
            }
            let arrival = SimTime::round_ns(ts * 1e6);
            if arrival < last {
                return Err(err(file, &format!("line {n}: timestamp"), "earlier than the previous row's"));
            }
            last = arrival;
            let mut blocks: Vec<u64> = Vec::new();
            if let Some(h) = row.get("hash_ids") {
                let a = h
                    .as_array()
                    .ok_or_else(|| err(file, &format!("line {n}: hash_ids"), "must be an array of integers"))?;
                for x in a {
                    blocks.push(x.as_u64().ok_or_else(|| {
                        err(file, &format!("line {n}: hash_ids"), format!("must be non-negative integers, got {x}"))
                    })?);
                }
            }
            if blocks.is_empty() && shared_blocks > 0 {
                // One id per shared block, out of the range Mooncake ids use.
                blocks = (0..shared_blocks).map(|b| u64::MAX - b).collect();
            }
            let mut r = Request::new(i as u64, arrival, input);
            r.output_tokens = output;
            if !blocks.is_empty() && self.server.prefix_caching {
                r.prefix_blocks = Some(blocks.into_boxed_slice());
            }
            out.push(r);
        }
        if out.is_empty() {
            return Err(err(file, "(file)", "no requests"));
        }
        Ok(out)
    }

    /// The requests of a `shared_prefix` workload, generated with `seed`.
    pub fn generated_requests(&self, seed: u64) -> Vec<Request> {
        let Workload::SharedPrefix {
            system_prompt_tokens,
            question_tokens,
            chat_template_tokens,
            output_tokens,
            system_prompts,
            users_per_system_prompt,
            stages,
        } = &self.workload
        else {
            return Vec::new();
        };
        let mut arrivals = stream(seed, &format!("groundtruth/{}/arrivals", self.id));
        let mut users = stream(seed, &format!("groundtruth/{}/users", self.id));
        let bt = prefix_block_tokens(self).map_or(0, u64::from);
        let shared = system_prompt_tokens.checked_div(bt).unwrap_or(0);
        let prompt = system_prompt_tokens + question_tokens + chat_template_tokens;
        let full = prompt.checked_div(bt).unwrap_or(0);
        let n_users = system_prompts * users_per_system_prompt;
        // inference-perf draws one prompt per user up front (group-major), shuffles the list
        // once and sends request i the prompt i mod users: a user's prompt repeats exactly.
        let mut order: Vec<u64> = (0..n_users).collect();
        order.shuffle(&mut users);
        let mut out = Vec::new();
        let mut start = 0.0;
        let mut last = SimTime::ZERO;
        for st in stages {
            let n = (st.rate_per_s * st.duration_s).round() as u64;
            let mut t = start;
            for _ in 0..n {
                let u: f64 = arrivals.random();
                t += -(1.0 - u).ln() / st.rate_per_s;
                let user = order[out.len() % order.len()];
                let group = user / users_per_system_prompt;
                let arrival = SimTime::round_ns(t * 1e9).max(last);
                last = arrival;
                let mut r = Request::new(out.len() as u64, arrival, prompt);
                r.output_tokens = *output_tokens;
                if full > 0 {
                    // The system prompt's full blocks are its group's; every later full block
                    // is the user's own (ids in a namespace above the groups').
                    let id = |b: u64| if b < shared { (group << 32) | b } else { ((system_prompts + user) << 32) | b };
                    r.prefix_blocks = Some((0..full).map(id).collect());
                }
                out.push(r);
            }
            start += st.duration_s;
        }
        out
    }

    /// The scenario of this case with `model` and the parameters of `calibration` (the device
    /// kind's entry, else the pooled one — returned beside).
    pub fn scenario(&self, model: &ModelShape, calibration: &Calibration) -> Result<(ScenarioConfig, Source), String> {
        let (entry, source) = calibration.entry(&self.server.gpu);
        Ok((self.scenario_with(model, &entry.efficiency, entry.kv_reserve_gb)?, source))
    }

    /// GPU memory the engine kept outside weights and KV, GB, when the case recorded its KV
    /// blocks: tp · memory · utilization − weights − kv_blocks · block bytes (None otherwise).
    pub fn kv_reserve_gb(&self, model: &ModelShape) -> Option<f64> {
        let s = &self.server;
        let blocks = s.kv_blocks?;
        let kind = crate::catalog::builtin_kinds().get(&s.gpu)?.clone();
        let total = f64::from(s.tensor_parallel) * kind.memory_gb * 1e9 * s.gpu_memory_utilization;
        let kv = blocks as f64 * f64::from(s.block_size) * model.kv_bytes_per_token(s.kv_cache_dtype);
        Some((total - model.weight_bytes(s.dtype) - kv) / 1e9)
    }

    /// The scenario of this case with `model`, iteration parameters `eff` and `kv_reserve_gb`
    /// of memory kept outside weights and KV (used only when the case recorded no KV blocks).
    pub fn scenario_with(
        &self,
        model: &ModelShape,
        eff: &Efficiency,
        kv_reserve_gb: f64,
    ) -> Result<ScenarioConfig, String> {
        let s = &self.server;
        let mut c = ScenarioConfig::from_toml_str(&format!(
            "name = \"groundtruth-{}\"\ndescription = \"ground-truth case {}: {} on {} x {} (vLLM {})\"",
            self.id, self.id, s.model, s.tensor_parallel, s.gpu, s.engine_version
        ))
        .map_err(|e| e.to_string())?;
        let mut memory_utilization = s.gpu_memory_utilization;
        if s.kv_blocks.is_none() && kv_reserve_gb > 0.0 {
            // Fitted memory the engine keeps outside weights and KV: fewer usable bytes.
            let kinds = c.kinds().map_err(|e| e.to_string())?;
            if let Some(k) = kinds.get(&s.gpu) {
                let total = f64::from(s.tensor_parallel) * k.memory_gb;
                memory_utilization = ((total * s.gpu_memory_utilization - kv_reserve_gb) / total).max(1e-6);
            }
        }
        c.llm = Some(LlmSpec {
            model: s.model.clone(),
            shape: Some(model.clone()),
            weights: s.dtype,
            kv_cache: s.kv_cache_dtype,
            compute: s.dtype,
            tensor_parallel: s.tensor_parallel,
            block_size: s.block_size,
            memory_utilization,
            efficiency: Some(eff.clone()),
            max_model_len: Some(s.max_model_len),
            kv_blocks: s.kv_blocks,
            perf: PerfSpec::Roofline,
            scheduler: SchedulerSpec::Continuous {
                max_num_seqs: s.max_num_seqs,
                max_batched_tokens: s.max_num_batched_tokens.max(s.max_num_seqs),
                chunked_prefill: s.is_v1() || s.chunked_prefill,
                preemption: Preemption::Recompute,
                async_scheduling: s.async_scheduling,
            },
            prefix_cache: prefix_block_tokens(self).map(|bt| PrefixCacheSpec { block_tokens: bt }),
            pools: vec![PoolSpec {
                name: s.gpu.clone(),
                kind: s.gpu.clone(),
                count: s.data_parallel,
                role: Role::Mixed,
                autoscale: None,
            }],
            router: if s.data_parallel > 1 { LlmRouterSpec::JoinShortestQueue } else { LlmRouterSpec::RoundRobin },
            slo: None,
            kv_transfer_gb_s: 25.0,
            // vLLM's offload size is GiB.
            cpu_offload_gb: s.cpu_offload_gib * 1.073_741_824,
            swap_gb_s: 25.0,
            timeline_interval_s: 1.0,
            client_timeout_s: s.client_timeout_s,
            scheduling: crate::llm::ClassScheduling::Fcfs,
            kv_tiers: Vec::new(),
            speculative: None,
            sessions: None,
            quality: None,
            lora: None,
        });
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

/// Tokens per prefix id the scenario uses (None: prefix caching off or nothing to share).
fn prefix_block_tokens(case: &Case) -> Option<u32> {
    if !case.server.prefix_caching {
        return None;
    }
    match &case.workload {
        Workload::Mooncake { hash_block_tokens, .. } if *hash_block_tokens > 0 => Some(*hash_block_tokens),
        _ => Some(case.server.block_size),
    }
}

/// A statistic a case can measure.
#[derive(Clone, Copy)]
enum Stat {
    /// (distribution, statistic) of `ttft_ms`, `e2e_ms`, `tpot_ms`, `itl_ms`.
    Dist(usize, usize),
    ItlMean,
    Throughput,
    Requests,
}

const DISTS: [&str; 4] = ["ttft_ms", "e2e_ms", "tpot_ms", "itl_ms"];
const STATS: [&str; 5] = ["mean", "p50", "p90", "p95", "p99"];

fn stat(key: &str) -> Option<Stat> {
    match key.split_once('.') {
        Some((d, st)) => Some(Stat::Dist(DISTS.iter().position(|x| *x == d)?, STATS.iter().position(|x| *x == st)?)),
        None => match key {
            "itl_ms_mean" => Some(Stat::ItlMean),
            "throughput_rps" => Some(Stat::Throughput),
            "requests" => Some(Stat::Requests),
            _ => None,
        },
    }
}

/// The simulated value of measured statistic `key` (None: unknown statistic).
pub fn metric_of(key: &str, s: &LlmSummary) -> Option<f64> {
    let l = &s.latency_ms;
    Some(match stat(key)? {
        Stat::Dist(d, st) => {
            let d = [&l.ttft, &l.e2e, &l.tpot, &l.itl][d];
            [d.mean, d.p50, d.p90, d.p95, d.p99][st]
        }
        Stat::ItlMean => l.itl.mean,
        Stat::Throughput => s.throughput.requests_per_s,
        Stat::Requests => s.requests.completed as f64,
    })
}

/// One statistic: measured, simulated, (sim − measured) / measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Compared {
    /// Measured.
    pub measured: f64,
    /// Simulated.
    pub sim: f64,
    /// (sim − measured) / measured (0 when both are 0).
    pub relative_error: f64,
}

/// A case's `comparison.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Case id.
    pub case: String,
    /// Which calibration entry applied (`device` or `pooled`).
    pub calibration: String,
    /// Requests simulated, and of those rejected at arrival.
    pub requests: u64,
    /// Rejected at arrival (too long or larger than the KV memory).
    pub rejected: u64,
    /// Every measured statistic against the simulation.
    pub metrics: BTreeMap<String, Compared>,
}

/// Relative error (s − m) / m; 0 when both are 0, infinite when only m is.
pub fn relative_error(measured: f64, sim: f64) -> f64 {
    if measured == 0.0 { if sim == 0.0 { 0.0 } else { f64::INFINITY } } else { (sim - measured) / measured }
}

impl Case {
    /// Compares the simulation `s` with every measured statistic.
    pub fn compare(&self, s: &LlmSummary, source: Source) -> Comparison {
        let metrics = self
            .measured
            .iter()
            .map(|(k, &m)| {
                let sim = metric_of(k, s).expect("statistics were checked at parse time");
                (k.clone(), Compared { measured: m, sim, relative_error: relative_error(m, sim) })
            })
            .collect();
        Comparison {
            case: self.id.clone(),
            calibration: source.as_str().to_string(),
            requests: s.requests.arrived,
            rejected: s.requests.rejected,
            metrics,
        }
    }
}

/// Median of `v` (NaN when empty); `v` is sorted in place.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Per metric: the median |relative error| over the comparisons that measured it, and how many did.
pub fn median_abs_errors(comparisons: &[Comparison]) -> BTreeMap<String, (f64, usize)> {
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for c in comparisons {
        for (k, m) in &c.metrics {
            by.entry(k.clone()).or_default().push(m.relative_error.abs());
        }
    }
    by.into_iter()
        .map(|(k, mut v)| {
            let n = v.len();
            (k, (median(&mut v), n))
        })
        .collect()
}
