"""servesim.simulate and servesim.trace give what the CLI gives on the same inputs, byte for byte."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import servesim
from _helpers import cli_error, manifest


@pytest.mark.parametrize(
    "scenario,requests",
    [("mm1", 20_000), ("md1", 20_000), ("dynbatch", 20_000), ("caching", 20_000), ("hardware", 5_000), ("llm", 200)],
)
def test_summary_is_the_clis_summary_json_byte_for_byte(simulate_cli, scenario, requests):
    run_dir = simulate_cli("-s", scenario, "--seed", "7", "-n", str(requests))
    run = servesim.simulate(scenario, seed=7, requests=requests)
    assert run.summary_json == (run_dir / "summary.json").read_text()
    assert run.config_toml == (run_dir / "config.resolved.toml").read_text()
    m = manifest(run_dir)
    assert run.config_hash == m["config_hash"]
    assert run.trace_id == m["trace"]["id"]
    assert (run.request_count, run.seed, run.scenario) == (requests, 7, scenario)
    assert run.summary == json.loads((run_dir / "summary.json").read_text())


def test_a_toml_file_a_toml_string_and_a_dict_are_the_same_scenario(simulate_cli, tmp_path):
    text = servesim.scenarios()["mm1"]
    path = tmp_path / "mine.toml"
    path.write_text(text)
    run_dir = simulate_cli("-s", str(path), "--seed", "3", "-n", "10000")
    expected = (run_dir / "summary.json").read_text()
    assert servesim.simulate(str(path), seed=3, requests=10_000).summary_json == expected
    assert servesim.simulate(path, seed=3, requests=10_000).summary_json == expected
    assert servesim.simulate(text, seed=3, requests=10_000).summary_json == expected
    import tomllib

    assert servesim.simulate(tomllib.loads(text), seed=3, requests=10_000).summary_json == expected


def test_a_trace_file_drives_the_run_as_with_the_cli(cli, simulate_cli, tmp_path):
    csv = tmp_path / "t.csv"
    out = cli("trace", "gen", "-s", "caching", "-n", "5000", "--seed", "11", "-o", str(csv)).stdout
    run_dir = simulate_cli("-s", "caching", "--trace", str(csv), "-n", "4000")
    run = servesim.simulate("caching", trace=csv, requests=4000)
    assert run.summary_json == (run_dir / "summary.json").read_text()
    assert run.trace_id == manifest(run_dir)["trace"]["id"]
    assert run.request_count == 4000

    # The same requests, generated in Python and read back from the CLI's file: one trace id.
    generated = servesim.trace.generate("caching", requests=5000, seed=11)
    read = servesim.trace.read(csv)
    assert generated.attrs["trace_id"] == read.attrs["trace_id"]
    assert f"trace id {read.attrs['trace_id']}" in out
    inspected = json.loads(cli("trace", "inspect", str(csv), "--json").stdout)
    assert inspected["trace_id"] == read.attrs["trace_id"]
    pd.testing.assert_frame_equal(generated.drop(columns="arrival_s"), read.drop(columns="arrival_s"))
    # Arrivals are nanoseconds inside; both sides round-trip them to the same seconds.
    assert (generated["arrival_s"] - read["arrival_s"]).abs().max() < 1e-9
    raw = pd.read_csv(csv)
    assert list(read.columns) == list(raw.columns)
    assert (read["cache_key"].astype("int64") == raw["cache_key"]).all()
    assert str(read["cache_key"].dtype) == "UInt64" and str(read["id"].dtype) == "uint64"


def test_llm_traces_keep_their_prefix_blocks(tmp_path):
    df = servesim.trace.generate("llm", requests=50, seed=2)
    assert df["output_tokens"].min() > 0
    if "prefix_blocks" in df.columns:
        assert all(isinstance(b, list) for b in df["prefix_blocks"].dropna())


def test_seed_changes_the_run_and_requests_must_be_positive():
    a = servesim.simulate("mm1", seed=1, requests=5000)
    b = servesim.simulate("mm1", seed=2, requests=5000)
    assert a.trace_id != b.trace_id and a.summary != b.summary
    assert servesim.simulate("mm1", seed=1, requests=5000).summary_json == a.summary_json
    with pytest.raises(servesim.InputError, match="requests: must be at least 1"):
        servesim.simulate("mm1", requests=0)


def test_an_autoscaled_run_has_the_clis_timeline(simulate_cli):
    run_dir = simulate_cli("-s", "autoscaling", "--seed", "5", "-n", "50000")
    run = servesim.simulate("autoscaling", seed=5, requests=50_000)
    assert run.summary_json == (run_dir / "summary.json").read_text()
    cli = pd.read_csv(run_dir / "timeline.csv")
    assert list(run.timeline.columns) == list(cli.columns)
    assert len(run.timeline) == len(cli) > 0
    assert run.timeline["arrivals"].sum() == run.summary["requests"]["arrived"]
    pd.testing.assert_series_equal(run.timeline["ready"], cli["ready"], check_dtype=False)
    # A run without autoscaling has none.
    assert servesim.simulate("mm1", requests=1000).timeline is None


def test_a_column_mapped_import_is_the_clis(tmp_path):
    src = tmp_path / "jobs.csv"
    src.write_text("start,exec_ms,tenant,status\n1000,2500,a,OK\n3000,1000,b,FAIL\n2000,500,b,OK\n")
    df = servesim.trace.import_columns(
        src, "arrival=start,service=exec_ms,class=tenant", tmp_path / "out.parquet", time_unit="ms", filters=["status=OK"]
    )
    # Arrivals from the first one, sorted; the FAIL row left out.
    assert list(df["arrival_s"]) == [0.0, 1.0] and list(df["service_s"]) == [2.5, 0.5]
    assert servesim.trace.read(tmp_path / "out.parquet").attrs["trace_id"] == df.attrs["trace_id"]
    with pytest.raises(servesim.InputError, match="column `nope`: mapped as arrival"):
        servesim.trace.import_columns(src, "arrival=nope", tmp_path / "x.parquet")
