//! The bad-input catalogue: every malformed input gets exit code 2, an error that names the file
//! (or flag) and the field and says why, no panic, and nothing written.

use std::path::Path;
use std::process::Command;
use traces::formats::{Table, TableColumn};

/// One malformed input: files to write (name, content), the command (`{dir}` is the temp dir),
/// and the words the error must contain.
struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    args: Vec<&'static str>,
    words: Vec<&'static str>,
}

const SCENARIO_OK: &str = "name = \"x\"\nrequests = 100\n[workload.arrivals]\nkind = \"poisson\"\nrate = 10.0\n\
[[devices]]\nname = \"d\"\nservice = { kind = \"exponential\", mean_ms = 1.0 }\n";

fn scenario(from: &str, to: &str) -> String {
    assert!(SCENARIO_OK.contains(from), "{from}");
    SCENARIO_OK.replacen(from, to, 1)
}

/// The scenario with a `[[device_kinds]]` table (named `k`) holding `fields`.
fn with_kind(fields: &str) -> String {
    let (head, rest) = SCENARIO_OK.split_at(SCENARIO_OK.find("[workload").unwrap());
    format!("{head}[[device_kinds]]\nname = \"k\"\n{fields}{rest}")
}

fn case(name: &'static str, files: Vec<(&'static str, String)>, args: &[&'static str], words: &[&'static str]) -> Case {
    Case { name, files, args: args.to_vec(), words: words.to_vec() }
}

fn sim_file(name: &'static str, file: &'static str, text: String, words: &[&'static str]) -> Case {
    case(name, vec![(file, text)], &["simulate", "-s", "{dir}/FILE", "-o", "{dir}/out"], words)
}

fn trace_file(name: &'static str, file: &'static str, text: &str, words: &[&'static str]) -> Case {
    case(
        name,
        vec![(file, text.to_string())],
        &["simulate", "-s", "mm1", "--trace", "{dir}/FILE", "-o", "{dir}/out"],
        words,
    )
}

/// A minimal LLM scenario with `from` replaced by `to`.
fn llm(from: &str, to: &str) -> String {
    let ok = "name = \"l\"\nrequests = 10\n[workload.arrivals]\nkind = \"poisson\"\nrate = 1.0\n\
[llm]\nmodel = \"llama-2-7b\"\ntensor_parallel = 1\n[[llm.pools]]\nname = \"g\"\nkind = \"a100\"\n";
    assert!(ok.contains(from), "{from}");
    ok.replacen(from, to, 1)
}

/// A calibration profile's header (schema 3), before its entries.
const PROFILE_HEAD: &str = "schema = \"servesim.service-profile/3\"\ncreated_by = \"x\"\nmodels_dir = \"m\"\n\
                            simulate_threads = 1\n[machine]\ncpu = \"c\"\ncores = 2\nonnxruntime = \"1.32.0\"\n";

/// A one-entry profile (schema 3) with `from` replaced by `to` in its entry.
fn profile(from: &str, to: &str) -> String {
    let entry = "[[entries]]\nvariant = \"teacher-fp32\"\nmodel_id = \"mdl-00\"\nthreads = 1\nwarmup = 1\n\
                 repeats = 1\nbatch = [1, 2]\nmedian_ms = [1.0, 2.0]\np10_ms = [1.0, 2.0]\np90_ms = [1.0, 2.0]\n\
                 run_median_ms = [1.0, 2.0]\n";
    assert!(entry.contains(from), "{from}");
    format!("{PROFILE_HEAD}{}", entry.replacen(from, to, 1))
}

/// `simulate` with `p.toml` (written from `text`) as its profile.
fn profile_case(name: &'static str, text: String, words: &[&'static str]) -> Case {
    case(
        name,
        vec![("p.toml", text)],
        &["simulate", "-s", "quantization", "--profile", "{dir}/p.toml", "--models", "{dir}", "-o", "{dir}/out"],
        words,
    )
}

fn catalogue() -> Vec<Case> {
    let h = "id,arrival_s,input_size\n";
    vec![
        // Traces, CSV.
        trace_file(
            "csv unsorted",
            "t.csv",
            &format!("{h}1,0.5,1\n2,0.1,1\n"),
            &["t.csv", "row 2", "arrival_s", "not sorted"],
        ),
        trace_file(
            "csv duplicate id",
            "t.csv",
            &format!("{h}1,0.1,1\n1,0.2,1\n"),
            &["t.csv", "row 2", "id", "duplicate"],
        ),
        trace_file(
            "csv negative time",
            "t.csv",
            &format!("{h}1,-1,1\n"),
            &["t.csv", "row 1", "arrival_s", "non-negative"],
        ),
        trace_file("csv NaN time", "t.csv", &format!("{h}1,NaN,1\n"), &["t.csv", "row 1", "arrival_s", "finite"]),
        trace_file("csv infinite time", "t.csv", &format!("{h}1,inf,1\n"), &["t.csv", "arrival_s", "finite"]),
        trace_file(
            "csv word time",
            "t.csv",
            &format!("{h}1,soon,1\n"),
            &["t.csv", "row 1", "arrival_s", "not a number"],
        ),
        trace_file("csv negative size", "t.csv", &format!("{h}1,0.1,-5\n"), &["t.csv", "input_size", "negative"]),
        trace_file("csv fractional size", "t.csv", &format!("{h}1,0.1,2.5\n"), &["t.csv", "input_size", "integer"]),
        trace_file("csv NaN size", "t.csv", &format!("{h}1,0.1,NaN\n"), &["t.csv", "input_size", "finite"]),
        trace_file("csv missing column", "t.csv", "id,arrival_s\n1,0.1\n", &["t.csv", "input_size", "missing"]),
        trace_file(
            "csv empty cell",
            "t.csv",
            &format!("{h}1,0.1,\n"),
            &["t.csv", "row 1", "input_size", "missing value"],
        ),
        trace_file("csv empty file", "t.csv", "", &["t.csv", "empty"]),
        trace_file("csv header only", "t.csv", h, &["t.csv", "no rows"]),
        trace_file(
            "csv bad blocks",
            "t.csv",
            "arrival_s,input_size,prefix_blocks\n0.1,1,1;x\n",
            &["t.csv", "prefix_blocks", "list"],
        ),
        trace_file(
            "csv negative service",
            "t.csv",
            "arrival_s,input_size,service_s\n0.1,1,-0.1\n",
            &["t.csv", "service_s", "non-negative"],
        ),
        trace_file("csv bad id", "t.csv", &format!("{h}one,0.1,1\n"), &["t.csv", "id", "not an integer"]),
        trace_file(
            "azure bad timestamp",
            "a.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\nnoon,1,1\n",
            &["a.csv", "TIMESTAMP", "noon"],
        ),
        trace_file(
            "azure out of order",
            "a.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,1,1\n2023-11-16 18:15:45.1,1,1\n",
            &["a.csv", "row 2", "TIMESTAMP", "not sorted"],
        ),
        trace_file(
            "azure negative tokens",
            "a.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,-1,1\n",
            &["a.csv", "ContextTokens", "negative"],
        ),
        trace_file("unknown extension", "t.txt", "x", &["t.txt", "extension"]),
        // Traces, JSONL.
        trace_file(
            "jsonl mistyped",
            "t.jsonl",
            "{\"arrival_s\": 0.1, \"input_size\": [1]}\n",
            &["t.jsonl", "input_size", "has type"],
        ),
        trace_file(
            "jsonl negative",
            "t.jsonl",
            "{\"arrival_s\": 0.1, \"input_size\": -4}\n",
            &["t.jsonl", "input_size", "negative"],
        ),
        trace_file("jsonl not json", "t.jsonl", "this is not json\n", &["t.jsonl", "JSONL"]),
        trace_file(
            "mooncake negative block",
            "m.jsonl",
            "{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": [1, -2]}\n",
            &["m.jsonl", "hash_ids", "negative"],
        ),
        trace_file(
            "mooncake string timestamp",
            "m.jsonl",
            "{\"timestamp\": \"later\", \"input_length\": 1, \"output_length\": 1}\n",
            &["m.jsonl", "timestamp", "not an integer"],
        ),
        // Traces, Parquet (written below with the table writer).
        case(
            "parquet truncated",
            vec![("t.parquet", "PAR1garbage".into())],
            &["simulate", "-s", "mm1", "--trace", "{dir}/t.parquet", "-o", "{dir}/out"],
            &["t.parquet", "Parquet"],
        ),
        case(
            "parquet string times",
            vec![],
            &["simulate", "-s", "mm1", "--trace", "{dir}/strings.parquet", "-o", "{dir}/out"],
            &["strings.parquet", "arrival_s", "not a number"],
        ),
        case(
            "parquet bool sizes",
            vec![],
            &["simulate", "-s", "mm1", "--trace", "{dir}/bools.parquet", "-o", "{dir}/out"],
            &["bools.parquet", "input_size", "has type"],
        ),
        // Scenarios.
        sim_file(
            "scenario unknown key",
            "FILE",
            scenario("requests = 100", "requests = 100\ncolour = 1"),
            &["FILE", "unknown field", "colour"],
        ),
        sim_file(
            "scenario wrong type",
            "FILE",
            scenario("requests = 100", "requests = \"many\""),
            &["FILE", "requests", "invalid type"],
        ),
        sim_file(
            "scenario stalls without durations",
            "FILE",
            scenario("name = \"d\"\n", "name = \"d\"\nstalls = { rate_per_s = 2.0, duration_ms = [] }\n"),
            &["FILE", "devices[0].stalls.duration_ms", "at least one"],
        ),
        sim_file(
            "scenario zero requests",
            "FILE",
            scenario("requests = 100", "requests = 0"),
            &["FILE", "requests", "at least 1"],
        ),
        sim_file(
            "scenario negative rate",
            "FILE",
            scenario("rate = 10.0", "rate = -1.0"),
            &["FILE", "workload.arrivals.rate", "positive"],
        ),
        sim_file("scenario unknown arrival kind", "FILE", scenario("\"poisson\"", "\"poison\""), &["FILE", "poison"]),
        sim_file(
            "scenario zero servers",
            "FILE",
            scenario("name = \"d\"", "name = \"d\"\nservers = 0"),
            &["FILE", "devices[0].servers", "at least 1"],
        ),
        sim_file(
            "scenario zero count",
            "FILE",
            scenario("name = \"d\"", "name = \"d\"\ncount = 0"),
            &["FILE", "devices[0].count", "at least 1"],
        ),
        sim_file(
            "scenario zero mean",
            "FILE",
            scenario("mean_ms = 1.0", "mean_ms = 0.0"),
            &["FILE", "devices[0].service.mean_ms", "positive"],
        ),
        sim_file(
            "scenario unknown service kind",
            "FILE",
            scenario("\"exponential\"", "\"weibull\""),
            &["FILE", "weibull"],
        ),
        sim_file(
            "scenario zero batch",
            "FILE",
            scenario(
                "mean_ms = 1.0 }",
                "mean_ms = 1.0 }\nbatching = { kind = \"static\", size = 0, timeout_ms = 1.0 }",
            ),
            &["FILE", "devices[0].batching.size", "at least 1"],
        ),
        sim_file(
            "scenario preferred above max",
            "FILE",
            scenario(
                "mean_ms = 1.0 }",
                "mean_ms = 1.0 }\nbatching = { kind = \"dynamic\", max_batch = 4, max_queue_delay_ms = 1.0, preferred_batch_sizes = [8] }",
            ),
            &["FILE", "preferred_batch_sizes[0]", "above max_batch"],
        ),
        sim_file(
            "scenario absurd batch",
            "FILE",
            scenario(
                "mean_ms = 1.0 }",
                "mean_ms = 1.0 }\nbatching = { kind = \"dynamic\", max_batch = 1000000000000, max_queue_delay_ms = 1.0 }",
            ),
            &["FILE", "devices[0].batching.max_batch", "largest batch size"],
        ),
        sim_file(
            "scenario absurd servers",
            "FILE",
            scenario("name = \"d\"", "name = \"d\"\nservers = 4000000000"),
            &["FILE", "devices[0].servers", "at most 100000"],
        ),
        sim_file(
            "scenario unknown router",
            "FILE",
            format!("{SCENARIO_OK}[router]\nkind = \"fastest\"\n"),
            &["FILE", "fastest"],
        ),
        sim_file(
            "scenario unknown device kind",
            "FILE",
            scenario("name = \"d\"", "name = \"d\"\nkind = \"tpu9\""),
            &["FILE", "devices[0].kind", "tpu9"],
        ),
        sim_file(
            "scenario unknown variant",
            "FILE",
            scenario("name = \"d\"", "name = \"d\"\nvariant = \"ghost\""),
            &["FILE", "devices[0].variant", "ghost"],
        ),
        sim_file(
            "scenario duplicate device",
            "FILE",
            format!("{SCENARIO_OK}[[devices]]\nname = \"d\"\nservice = {{ kind = \"deterministic\", ms = 1.0 }}\n"),
            &["FILE", "devices[1].name", "duplicate"],
        ),
        sim_file(
            "scenario cache capacity",
            "FILE",
            format!("{SCENARIO_OK}[cache]\npolicy = \"lru\"\ncapacity = 0\n"),
            &["FILE", "cache.capacity"],
        ),
        sim_file(
            "scenario slo",
            "FILE",
            format!("{SCENARIO_OK}[slo]\nlatency_ms = -5.0\n"),
            &["FILE", "slo.latency_ms"],
        ),
        sim_file("scenario not toml", "FILE", "name = \n".to_string(), &["FILE", "TOML parse error"]),
        // Catalogs: device kinds declared in a scenario.
        sim_file(
            "catalog negative memory",
            "FILE",
            with_kind("memory_gb = -1.0\nbandwidth_gb_s = 1.0\nprice_per_hour = 1.0\n"),
            &["FILE", "device_kinds[0].memory_gb", "positive"],
        ),
        sim_file(
            "catalog unknown field",
            "FILE",
            with_kind("memory_gb = 1.0\nbandwidth_gb_s = 1.0\nprice_per_hour = 1.0\nflops = 3\n"),
            &["FILE", "unknown field", "flops"],
        ),
        sim_file(
            "catalog negative price",
            "FILE",
            with_kind("memory_gb = 1.0\nbandwidth_gb_s = 1.0\nprice_per_hour = -2.0\n"),
            &["FILE", "device_kinds[0].price_per_hour"],
        ),
        // Calibration tables (the `table` service model a calibration profile fills in).
        sim_file(
            "table unsorted batches",
            "FILE",
            scenario(
                "{ kind = \"exponential\", mean_ms = 1.0 }",
                "{ kind = \"table\", batch = [1, 8, 4], ms = [1.0, 2.0, 3.0] }",
            ),
            &["FILE", "devices[0].service.batch[2]", "increase"],
        ),
        sim_file(
            "table length mismatch",
            "FILE",
            scenario("{ kind = \"exponential\", mean_ms = 1.0 }", "{ kind = \"table\", batch = [1, 2], ms = [1.0] }"),
            &["FILE", "devices[0].service.ms", "2 values of `batch`"],
        ),
        sim_file(
            "table zero time",
            "FILE",
            scenario("{ kind = \"exponential\", mean_ms = 1.0 }", "{ kind = \"table\", batch = [1], ms = [0.0] }"),
            &["FILE", "devices[0].service.ms[0]", "positive"],
        ),
        // Command-line arguments.
        case(
            "cli unknown scenario",
            vec![],
            &["simulate", "-s", "nope", "-o", "{dir}/out"],
            &["unknown scenario", "nope"],
        ),
        case("cli zero requests", vec![], &["simulate", "-s", "mm1", "-n", "0", "-o", "{dir}/out"], &["--requests"]),
        case(
            "cli negative seed",
            vec![],
            &["simulate", "-s", "mm1", "--seed=-3", "-o", "{dir}/out"],
            &["--seed", "invalid value"],
        ),
        case(
            "cli missing trace",
            vec![],
            &["simulate", "-s", "mm1", "--trace", "{dir}/none.csv", "-o", "{dir}/out"],
            &["none.csv"],
        ),
        case(
            "cli bad trace format",
            vec![],
            &["simulate", "-s", "mm1", "--trace", "x.csv", "--trace-format", "splitwise", "-o", "{dir}/out"],
            &["--trace-format", "splitwise"],
        ),
        case("cli bad objective", vec![], &["plan", "-s", "hardware", "--slo", "fast"], &["--slo", "p99<=50ms"]),
        case(
            "cli bad drop limit",
            vec![],
            &["plan", "-s", "hardware", "--slo", "p99<=5ms", "--max-drop", "1.5"],
            &["--max-drop"],
        ),
        case(
            "cli baseline not a run",
            vec![],
            &["gate", "--baseline", "{dir}", "--candidate", "{dir}", "--rules", "builtin:nope"],
            &["--baseline", "not a run directory"],
        ),
        case(
            "cli gen without scenario workload",
            vec![("FILE", SCENARIO_OK.replacen("[workload.arrivals]\nkind = \"poisson\"\nrate = 10.0\n", "", 1))],
            &["trace", "gen", "-s", "{dir}/FILE", "-o", "{dir}/out/t.csv"],
            &["FILE", "no [workload]"],
        ),
        // LLM scenarios.
        sim_file("llm unknown model", "l.toml", llm("llama-2-7b", "gpt-9"), &["l.toml", "llm.model", "gpt-9"]),
        sim_file(
            "llm model too big for the device",
            "l.toml",
            llm("llama-2-7b", "llama-2-70b"),
            &["l.toml", "llm.pools[0].kind", "does not fit", "tensor_parallel"],
        ),
        sim_file(
            "llm zero tensor parallel",
            "l.toml",
            llm("tensor_parallel = 1", "tensor_parallel = 0"),
            &["llm.tensor_parallel"],
        ),
        sim_file(
            "llm unknown device kind",
            "l.toml",
            llm("kind = \"a100\"", "kind = \"a1000\""),
            &["llm.pools[0].kind", "a1000"],
        ),
        sim_file(
            "llm prefix blocks not a multiple of pages",
            "l.toml",
            llm("tensor_parallel = 1\n", "tensor_parallel = 1\nprefix_cache = { block_tokens = 500 }\n"),
            &["llm.prefix_cache.block_tokens", "multiple"],
        ),
        sim_file(
            "llm token budget below sequences",
            "l.toml",
            llm(
                "tensor_parallel = 1\n",
                "tensor_parallel = 1\nscheduler = { kind = \"continuous\", max_num_seqs = 64, max_batched_tokens = 32 }\n",
            ),
            &["llm.scheduler.max_batched_tokens"],
        ),
        sim_file(
            "llm prefill pool without decode pool",
            "l.toml",
            llm("kind = \"a100\"\n", "kind = \"a100\"\nrole = \"prefill\"\n"),
            &["llm.pools", "decode"],
        ),
        sim_file(
            "llm with request-level devices",
            "l.toml",
            llm("[llm]", "[[devices]]\nname = \"d\"\nservice = { kind = \"exponential\", mean_ms = 1.0 }\n[llm]"),
            &["l.toml", "devices", "llm.pools"],
        ),
        sim_file(
            "workload prefixes without prompts",
            "l.toml",
            llm("rate = 1.0\n", "rate = 1.0\n[workload.prefixes]\nprompts = 0\ntokens = 10\n"),
            &["workload.prefixes.prompts"],
        ),
        // Sweeps, models, figures.
        case(
            "cli sweep bad vary",
            vec![],
            &["sweep", "-s", "mm1", "--vary", "rate", "-o", "{dir}/out"],
            &["--vary", "KEY=V1,V2"],
        ),
        case(
            "cli sweep bad shard",
            vec![],
            &["sweep", "-s", "mm1", "--vary", "workload.arrivals.rate=1,2", "--shard", "3/2", "-o", "{dir}/out"],
            &["--shard", "3/2"],
        ),
        case(
            "cli sweep key into a value",
            vec![],
            &["sweep", "-s", "mm1", "--vary", "workload.arrivals.rate.x=1", "-o", "{dir}/out"],
            &["workload.arrivals.rate", "inside a value"],
        ),
        // Calibration profiles and model directories.
        profile_case("profile not toml", "not = [toml\n".into(), &["p.toml", "not a service profile"]),
        profile_case(
            "profile of the first schema",
            PROFILE_HEAD.replace("/3", "/1").replace("[machine]", "entries = []\n[machine]"),
            &["p.toml", "stale", "re-run `servesim calibrate`"],
        ),
        profile_case(
            "profile of the second schema",
            PROFILE_HEAD.replace("/3", "/2").replace("[machine]", "entries = []\n[machine]"),
            &["p.toml", "stale", "idle gaps", "re-run `servesim calibrate`"],
        ),
        profile_case(
            "profile cold starts with a negative slowdown",
            profile(
                "run_median_ms = [1.0, 2.0]\n",
                "run_median_ms = [1.0, 2.0]\n[entries.cold]\ngap_ms = [0.0, 1.0]\nbatch = [1]\nburst = 1\nrounds = 1\n\
                 warm_ms = [1.0]\nmedian_ms = [[[1.0]], [[1.2]]]\nresiduals_ms = [[[0.0]], [[0.0]]]\n\
                 fit = { slowdown = -0.5, idle_tau_ms = 1.0, busy_tau_ms = 0.0 }\n",
            ),
            &["p.toml", "entries[0].cold.fit.slowdown", "non-negative"],
        ),
        profile_case(
            "profile lengths differ",
            profile("median_ms = [1.0, 2.0]", "median_ms = [1.0]"),
            &["p.toml", "entries[0]", "equal, non-zero lengths"],
        ),
        profile_case(
            "profile stalls not one threshold per size",
            profile(
                "run_median_ms = [1.0, 2.0]\n",
                "run_median_ms = [1.0, 2.0]\nstalls = { rate_per_s = 1.0, duration_ms = [5.0], above_ms = [2.0] }\n",
            ),
            &["p.toml", "entries[0].stalls.above_ms", "one value per batch size"],
        ),
        case(
            "cli calibrate block zero",
            vec![],
            &["calibrate", "--models", "{dir}", "--block", "0", "-o", "{dir}/p.toml"],
            &["--block", "0"],
        ),
        case(
            "models directory without a test split",
            vec![("README.md", "no models here".into())],
            &["replay", "-s", "quantization", "--models", "{dir}", "-n", "10", "-o", "{dir}/out"],
            &["test_split.csv", "cannot read"],
        ),
        case(
            "cli course public traces not a directory",
            vec![],
            &["course", "--public-traces", "{dir}/nope", "--quick", "-o", "{dir}/out"],
            &["--public-traces", "not a directory"],
        ),
        case(
            "cli course public traces none there",
            vec![("README.md", "no traces here".into())],
            &["course", "--public-traces", "{dir}", "--quick", "-o", "{dir}/out"],
            &["--public-traces", "AzureLLMInferenceTrace_conv.csv"],
        ),
        case(
            "cli models bad preset",
            vec![],
            &["models", "build", "--preset", "huge", "-o", "{dir}/out"],
            &["--preset", "huge"],
        ),
        case(
            "cli figures not a run",
            vec![("manifest.json", "{\"schema\": \"servesim.sweep/1\"".into())],
            &["figures", "--run", "{dir}", "-o", "{dir}/out"],
            &["manifest.json", "not valid JSON"],
        ),
        case(
            "cli merge a non-shard",
            vec![],
            &["merge", "{dir}", "-o", "{dir}/out"],
            &["manifest.json", "cannot read"],
        ),
        case(
            "cli import unknown extension",
            vec![("t.csv", "id,arrival_s,input_size\n1,0.1,1\n".into())],
            &["trace", "import", "{dir}/t.csv", "-o", "{dir}/out/t.xlsx"],
            &["t.xlsx", "extension"],
        ),
        case(
            "import --columns unmapped column",
            vec![("log.csv", "start,exec_s\n2024-11-15 16:57:50,0.25\n".into())],
            &["trace", "import", "{dir}/log.csv", "-o", "{dir}/out/t.parquet", "--columns", "arrival=begin"],
            &["log.csv", "begin", "columns present: start, exec_s"],
        ),
        case(
            "import --columns mistyped service",
            vec![("log.csv", "start,exec_s\n2024-11-15 16:57:50,fast\n".into())],
            &[
                "trace",
                "import",
                "{dir}/log.csv",
                "-o",
                "{dir}/out/t.parquet",
                "--columns",
                "arrival=start,service=exec_s",
            ],
            &["log.csv", "row 1", "exec_s", "`fast` is not a non-negative number"],
        ),
        case(
            "import --columns unknown field",
            vec![("log.csv", "start\n1\n".into())],
            &["trace", "import", "{dir}/log.csv", "-o", "{dir}/out/t.parquet", "--columns", "arrival=start,colour=x"],
            &["--columns", "unknown field `colour`"],
        ),
    ]
}

fn write_parquet_fixtures(dir: &Path) {
    let mut t = Table::default();
    t.push("arrival_s", TableColumn::Str(vec!["soon".into()]));
    t.push("input_size", TableColumn::U64(vec![1]));
    t.write(&dir.join("strings.parquet")).unwrap();
    let mut t = Table::default();
    t.push("arrival_s", TableColumn::F64(vec![0.1]));
    t.push("input_size", TableColumn::Bool(vec![true]));
    t.write(&dir.join("bools.parquet")).unwrap();
}

#[test]
fn every_malformed_input_is_refused_with_a_precise_error_and_exit_code_2() {
    let cases = catalogue();
    assert!(cases.len() >= 40, "the catalogue has {} cases", cases.len());
    for c in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_parquet_fixtures(dir);
        let mut file_name = "";
        for (name, text) in &c.files {
            let name = if *name == "FILE" { "scenario.toml" } else { name };
            file_name = name;
            std::fs::write(dir.join(name), text).unwrap();
        }
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| {
                a.replace("{dir}", dir.to_str().unwrap())
                    .replace("FILE", if file_name.is_empty() { "FILE" } else { file_name })
            })
            .collect();
        let o = Command::new(env!("CARGO_BIN_EXE_servesim")).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: exit {:?}\n{err}", c.name, o.status.code());
        assert!(!err.contains("panicked"), "{}: {err}", c.name);
        for w in &c.words {
            let w = w.replace("FILE", "scenario.toml");
            assert!(err.contains(&w), "{}: error lacks `{w}`:\n{err}", c.name);
        }
        let out = dir.join("out");
        let written: Vec<_> =
            std::fs::read_dir(&out).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
        assert!(written.is_empty(), "{}: wrote {written:?}", c.name);
    }
}
