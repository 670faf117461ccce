"""Run directories, records, sweeps, plans, gates on run directories and ground truth: the same
library calls as the CLI, so the same ids and the same files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import servesim
from _helpers import cli_error, manifest


def files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("scenario,requests", [("caching", 5000), ("llm", 100)])
def test_out_writes_the_clis_run_directory_with_the_same_id(simulate_cli, tmp_path, scenario, requests):
    cli_dir = simulate_cli("-s", scenario, "--seed", "5", "-n", str(requests), "--records")
    run = servesim.simulate(scenario, seed=5, requests=requests, records=True, out=tmp_path / "py")
    assert run.id == cli_dir.name == manifest(cli_dir)["run_id"]
    assert run.dir == tmp_path / "py" / run.id
    assert files(run.dir) == files(cli_dir)
    assert "requests.parquet" in files(run.dir)
    assert run.manifest == manifest(cli_dir)
    # The records are the table requests.parquet was written from.
    df = run.requests
    assert len(df) == run.request_count == requests and df.attrs["run_id"] == run.id
    assert (df["id"].diff().dropna() > 0).all()
    if scenario == "llm":
        done = df["finish_s"].notna()
        assert int(done.sum()) == run.summary["requests"]["completed"]
        assert (df.loc[done, "ttft_ms"] > 0).all()
    else:
        done = df["latency_ms"].notna()
        latency = (df.loc[done, "finish_s"] - df.loc[done, "arrival_s"]) * 1e3
        assert ((latency - df.loc[done, "latency_ms"]).abs() < 1e-6).all()
        assert df["cache"].isin(["hit", "miss", "none"]).all()
        hits = int((df["cache"] == "hit").sum())
        assert hits == run.summary["cache"]["hits"]


def test_without_out_the_run_id_is_the_same_and_nothing_is_written(simulate_cli):
    cli_dir = simulate_cli("-s", "mm1", "--seed", "9", "-n", "3000")
    run = servesim.simulate("mm1", seed=9, requests=3000)
    assert run.id == cli_dir.name and run.dir is None and run.manifest is None and run.requests is None


def test_a_cut_trace_is_noted_with_the_parameter_name(tmp_path):
    csv = tmp_path / "t.csv"
    servesim.trace.generate("mm1", requests=2000, seed=1, out=csv)
    run = servesim.simulate("mm1", trace=csv, requests=500)
    assert run.request_count == 500
    assert run.notes == (f"simulating the first 500 of the 2000 requests of {csv} (requests)",)


def test_progress_callbacks_see_the_run_advance_to_its_end():
    seen: list[tuple[int, int]] = []
    servesim.simulate("mm1", seed=1, requests=300_000, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (300_000, 300_000)
    assert all(t == 300_000 for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    points: list[tuple[int, int]] = []
    servesim.sweep("mm1", {"workload.arrivals.rate": [10, 20, 30]}, requests=2000, progress=lambda d, t: points.append((d, t)))
    assert points[-1] == (3, 3)
    with pytest.raises(ZeroDivisionError):
        servesim.simulate("mm1", requests=200_000, progress=lambda d, t: 1 / 0)


def test_sweep_is_the_clis_sweep_table(cli, tmp_path):
    vary = {"workload.arrivals.rate": [60, 90], "devices.0.servers": [1, 2]}
    cli(
        "sweep", "-s", "mm1", "-n", "4000", "-o", str(tmp_path / "cli"),
        "--vary", "workload.arrivals.rate=60,90", "--vary", "devices.0.servers=1,2",
    )
    (cli_dir,) = (tmp_path / "cli").iterdir()
    df = servesim.sweep("mm1", vary, requests=4000, jobs=2, out=tmp_path / "py")
    assert df.attrs["sweep_id"] == cli_dir.name
    py_dir = Path(df.attrs["dir"])
    assert (py_dir / "sweep.csv").read_bytes() == (cli_dir / "sweep.csv").read_bytes()
    assert (py_dir / "sweep.parquet").read_bytes() == (cli_dir / "sweep.parquet").read_bytes()
    expected = pd.read_csv(cli_dir / "sweep.csv", dtype={"param.workload.arrivals.rate": str, "param.devices.0.servers": str})
    assert list(df.columns) == list(expected.columns) and len(df) == 4
    assert list(df["run_id"]) == list(expected["run_id"])
    assert list(df["param.devices.0.servers"]) == ["1", "2", "1", "2"]
    for col in expected.columns[4:]:
        assert ((df[col].astype("float64") - expected[col]).abs() <= 1e-9 * expected[col].abs().clip(lower=1)).all(), col
    # Without out the sweep runs in a temporary directory: the same table, no directory kept.
    again = servesim.sweep("mm1", vary, requests=4000)
    assert again.attrs["dir"] is None
    pd.testing.assert_frame_equal(again.reset_index(drop=True), df.reset_index(drop=True), check_exact=True)


def test_sweep_errors_name_the_parameter(cli, tmp_path):
    with pytest.raises(servesim.InputError) as e:
        servesim.sweep("mm1", {"devices.9.servers": [1]}, requests=1000)
    args = ["sweep", "-s", "mm1", "--vary", "devices.9.servers=1", "-n", "1000", "-o", str(tmp_path)]
    expected = cli_error(cli(*args, check=False))
    assert str(e.value) == expected.replace("--vary", "vary")
    with pytest.raises(servesim.InputError, match=r"^jobs: must be at least 1$"):
        servesim.sweep("mm1", {"workload.arrivals.rate": [1]}, jobs=0)
    with pytest.raises(TypeError, match="vary"):
        servesim.sweep("mm1", {"workload.arrivals.rate": 5})  # type: ignore[dict-item]


def test_plan_is_the_clis_plan(cli):
    expected = json.loads(cli("plan", "-s", "hardware", "--slo", "p99<=40ms", "--max-count", "3", "-n", "5000", "--json").stdout)
    p = servesim.plan("hardware", "p99<=40ms", max_count=3, requests=5000)
    assert p.report == expected
    assert p.winner is not None and list(p.winner) == expected["groups"]
    c = p.candidates
    assert len(c) == len(expected["candidates"]) and set(c["verdict"]) <= {
        "simulated", "pruned_capacity", "pruned_dominated", "invalid"
    }
    assert bool(c.loc[expected["winner"], "meets"])
    with pytest.raises(servesim.InputError) as e:
        servesim.plan("hardware", "p99<=40ms", max_drop=2.0)
    expected = cli_error(cli("plan", "-s", "hardware", "--slo", "p99<=40ms", "--max-drop", "2", check=False))
    assert str(e.value) == expected.replace("--max-drop", "max_drop")
    with pytest.raises(servesim.InputError, match="slo `p99 under 40`"):
        servesim.plan("hardware", "p99 under 40")


def test_gate_on_run_directories_is_the_clis_gate_with_its_audits(cli, tmp_path):
    runs = tmp_path / "runs"
    a = servesim.simulate("mm1", seed=1, requests=5000, out=runs)
    b = servesim.simulate("mm1", seed=2, requests=5000, out=runs)
    gate_args = ["gate", "--baseline", str(a.dir), "--candidate", str(b.dir), "--rules", "builtin:hardware-mix"]
    cli(*gate_args, "--out", str(tmp_path / "cli"), check=False)
    (cli_gate,) = (tmp_path / "cli").iterdir()
    d = servesim.gate(a, b, "builtin:hardware-mix", out=tmp_path / "py")
    assert d.gate_id == cli_gate.name and d.dir == tmp_path / "py" / d.gate_id
    assert files(d.dir) == files(cli_gate)
    assert d.runs == (a.id, b.id) and [x["run_id"] for x in d.audits] == [a.id, b.id]
    # Paths work as well as runs; the default output is gates/ beside the runs.
    by_path = servesim.gate(str(a.dir), b.dir, "builtin:hardware-mix")
    assert by_path.gate_id == d.gate_id and by_path.dir == runs / "gates" / d.gate_id
    # A candidate whose files no longer match its manifest is blocked, with the finding as evidence.
    summary = b.dir / "summary.json"
    summary.write_text(summary.read_text().replace('"completed"', '"completed" ', 1))
    tampered = servesim.gate(a, b, "builtin:hardware-mix", out=tmp_path / "t")
    assert tampered.verdict in {"block", "rollback"}
    (audit,) = [e for e in tampered.evidence if e["metric"] == "audit.candidate"]
    assert not audit["passed"] and "summary.json" in audit["outcome"]
    p = cli(*gate_args, "--out", str(tmp_path / "cli2"), check=False)
    assert p.returncode == tampered.exit_code
    with pytest.raises(servesim.InputError, match=r"^candidate .*: not a run directory \(no manifest.json\)$"):
        servesim.gate(a, tmp_path, "builtin:hardware-mix")


# A small ground-truth case (the shape of the shared h30 cases, 120 requests, the built-in model).
CASE = (Path(__file__).parent / "data" / "py-small-llama" / "case.toml").read_text()


def test_groundtruth_is_the_clis_comparison(cli, tmp_path):
    case = tmp_path / "cases" / "py-small-llama"
    case.mkdir(parents=True)
    (case / "case.toml").write_text(CASE)
    cli("groundtruth", str(case), "--out", str(tmp_path / "cli"))
    r = servesim.groundtruth([case], out=tmp_path / "py")
    assert r.calibration == "builtin" and r.models == ["llama-2-7b builtin"]
    (d,) = r.dirs
    assert d is not None and files(d) == files(tmp_path / "cli" / "py-small-llama")
    assert r.comparisons == [json.loads((d / "comparison.json").read_text())]
    assert r.summaries == [json.loads((d / "summary.json").read_text())]
    t = r.table
    assert set(t["metric"]) == {"ttft_ms.mean", "e2e_ms.mean", "throughput_rps"}
    row = t.set_index("metric").loc["ttft_ms.mean"]
    assert row["relative_error"] == pytest.approx((row["sim"] - 27.1) / 27.1)
    assert r.median_abs_error["ttft_ms.mean"] == pytest.approx(abs(row["relative_error"]))
    # The directory of cases stands for its cases; in memory the comparison is the same.
    assert servesim.groundtruth(tmp_path / "cases").comparisons == r.comparisons
    # A malformed case names the file and key, as the CLI does.
    (case / "case.toml").write_text(CASE.replace("max_num_seqs = 128", "max_num_seqs = -1"))
    with pytest.raises(servesim.InputError) as e:
        servesim.groundtruth([case])
    assert str(e.value) == cli_error(cli("groundtruth", str(case), "--out", str(tmp_path / "x"), check=False))
    assert "case.toml" in str(e.value) and "max_num_seqs" in str(e.value)


def test_llm_groundtruth_on_the_shared_cases_when_present():
    gt = servesim.shared_groundtruth()
    if gt is None:
        # Nothing shared on this machine: the function says so rather than guessing a path.
        assert servesim.shared_groundtruth() is None
        return
    r = servesim.groundtruth(gt / "cases" / "h30-h100-llama-2-7b-roleplay", models=gt / "models")
    assert r.models[0].startswith("llama-2-7b sha256:")
    assert abs(r.table.set_index("metric").loc["e2e_ms.mean", "relative_error"]) < 0.5


def test_cli_flags_in_library_messages_become_parameters():
    from servesim import _core  # noqa: F401

    with pytest.raises(servesim.InputError, match=r"^speed: must be a positive number, got -1$"):
        servesim.simulate("mm1", trace=__file__, speed=-1.0)
    assert re.search(r"give a trace with trace=$", _no_workload_message())


def _no_workload_message() -> str:
    scenario = {"name": "no-workload", "devices": [{"name": "gpu", "service": {"kind": "deterministic", "ms": 1.0}}]}
    with pytest.raises(servesim.InputError) as e:
        servesim.simulate(scenario)
    assert str(e.value).startswith("<dict>: the scenario has no [workload]")
    return str(e.value)


def test_lora_records_name_each_requests_adapter():
    import tomllib

    cfg = tomllib.loads(servesim.scenarios()["llm"])
    cfg["llm"]["lora"] = {"adapters": 16, "max_per_batch": 4}
    cfg["llm"]["router"] = {"kind": "lora_affinity"}
    run = servesim.simulate(cfg, requests=300, records=True)
    df = run.requests
    assert df["adapter"].between(0, 15).all()
    assert df["adapter"].nunique() == run.summary["lora"]["adapters"]
    assert run.summary["lora"]["admissions"] >= len(df)
