"""servesim for notebooks: the simulator's library code, called in-process.

Everything here runs the same Rust code as the ``servesim`` command line (no subprocess, no second
implementation): a summary from :func:`simulate` is byte for byte the ``summary.json`` that
``servesim simulate`` writes for the same scenario and seed.

>>> import servesim
>>> run = servesim.simulate("mm1", seed=7, requests=20_000)
>>> run.summary["requests"]["completed"]
20000
>>> exact = servesim.analytic.mmc(arrival_rate=50.0, service_rate=100.0, servers=1)
>>> round(exact["w_mean_ms"], 3)   # M/M/1 at ρ = 0.5: E[W] = 1 / (μ − λ) = 20 ms
20.0
>>> decision = servesim.gate(run, run, "builtin:hardware-mix")
>>> decision.verdict in {"accept", "warn", "block", "rollback"}
True
>>> table = servesim.sweep("mm1", vary={"workload.arrivals.rate": [40, 80]}, requests=5000)
>>> list(table["param.workload.arrivals.rate"])
['40', '80']

Bad input raises :class:`InputError` (a ``ValueError``) whose message is the CLI's: the file, row
or key, and the reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

from . import _core, analytic, figures, trace
from ._core import InputError, ServesimError, __version__
from ._frame import frame
from ._progress import ProgressArg, callback

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Decision",
    "GroundTruth",
    "InputError",
    "Plan",
    "Run",
    "ServesimError",
    "analytic",
    "figures",
    "gate",
    "groundtruth",
    "plan",
    "rule_sets",
    "scenarios",
    "shared_groundtruth",
    "simulate",
    "sweep",
    "trace",
]

Scenario = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def _scenario_arg(scenario: Scenario) -> tuple[str, str]:
    """(text, kind) for ``_core``: a dict is sent as JSON, a str holding TOML as TOML text, and
    anything else as the CLI's ``--scenario`` (an existing file, a path ending in ``.toml``, or a
    built-in name)."""
    if isinstance(scenario, Mapping):
        return json.dumps(scenario), "json"
    if isinstance(scenario, os.PathLike):
        return os.fspath(scenario), "name_or_path"
    if isinstance(scenario, str):
        if "\n" in scenario or "=" in scenario:
            return scenario, "toml"
        return scenario, "name_or_path"
    raise TypeError(f"scenario: expected a name, a path, TOML text or a dict, got {type(scenario).__name__}")


@dataclass(frozen=True)
class Run:
    """One simulation: its summary and the ids that name its inputs.

    ``summary`` is ``json.loads`` of ``summary_json``, the exact text ``servesim simulate`` writes
    to ``summary.json``; ``config_toml`` is its ``config.resolved.toml`` and ``config_hash`` the
    manifest's hash of it; ``trace_id`` is the content id of the requests simulated; ``id`` is the
    run id (the CLI's, for the same config, trace, seed and build, whether or not a directory was
    written). With ``out``, ``dir`` is the run directory and ``manifest`` its ``manifest.json``;
    with ``records``, ``requests`` is one row per request (the ``requests.parquet`` table); a run
    with an autoscaled pool has ``timeline``, its pools over time (the ``timeline.csv`` table).

    >>> run = simulate("md1", seed=3, requests=10_000)
    >>> run.trace_id.startswith("tr-"), run.config_hash.startswith("sha256:"), run.id.startswith("run-")
    (True, True, True)
    >>> run.summary["analytic"]["model"]
    'M/D/1'
    >>> run.dir is None and run.manifest is None and run.requests is None
    True
    """

    summary: dict[str, Any]
    summary_json: str
    config_toml: str
    config_hash: str
    trace_id: str
    trace_source: str
    request_count: int
    seed: int
    scenario: str
    scenario_source: str = field(default="")
    id: str = field(default="")
    dir: Path | None = field(default=None)
    notes: tuple[str, ...] = field(default=())
    requests: "pd.DataFrame | None" = field(default=None, compare=False, repr=False)
    timeline: "pd.DataFrame | None" = field(default=None, compare=False, repr=False)

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The run directory's ``manifest.json`` (lineage: trace, config hash, seed, code, file
        hashes), or None when no directory was written."""
        if self.dir is None:
            return None
        return json.loads((self.dir / "manifest.json").read_text())

    def __repr__(self) -> str:
        where = f", dir={str(self.dir)!r}" if self.dir is not None else ""
        return (
            f"Run(id={self.id!r}, scenario={self.scenario!r}, seed={self.seed}, trace={self.trace_id} "
            f"({self.trace_source}, {self.request_count} requests), config={self.config_hash[:19]}…{where})"
        )


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    requests: int | None = None,
    trace: str | os.PathLike[str] | None = None,
    trace_format: str | None = None,
    speed: float | None = None,
    records: bool = False,
    out: str | os.PathLike[str] | None = None,
    progress: ProgressArg = None,
) -> Run:
    """Simulate ``scenario`` and return its :class:`Run`, as ``servesim simulate`` does (the same
    library call).

    ``scenario`` is a built-in name (see :func:`scenarios`), a TOML file, TOML text or a dict of
    the same tables — LLM scenarios (an ``[llm]`` table) included. ``seed`` and ``requests``
    override the scenario's, as ``--seed`` and ``--requests`` do; ``trace`` drives the run with a
    trace file instead of the scenario's workload (CSV, Parquet or JSONL; servesim, Azure or
    Mooncake schema, or ``trace_format``), cut to its first ``requests`` when given, its arrivals
    ``speed`` times faster. ``records=True`` keeps one row per request (``Run.requests``, a
    DataFrame). ``out`` writes the run directory ``out/<run-id>/`` exactly as
    ``servesim simulate --out`` writes it (same id, same files). ``progress`` shows a bar on long
    runs (None: in Jupyter for two million requests or more; True, False, or a callable
    ``f(done, total)``).

    >>> run = simulate({"name": "tiny", "seed": 1, "requests": 1000,
    ...                 "workload": {"arrivals": {"kind": "poisson", "rate": 50.0}},
    ...                 "devices": [{"name": "gpu", "service": {"kind": "deterministic", "ms": 10.0}}]},
    ...                records=True)
    >>> run.summary["requests"]["arrived"], len(run.requests)
    (1000, 1000)
    >>> float(run.requests["latency_ms"].min()) >= 10.0
    True
    >>> simulate("no-such-scenario")
    Traceback (most recent call last):
    ...
    servesim.InputError: unknown scenario `no-such-scenario`: not a file and not a built-in (...)
    """
    text, kind = _scenario_arg(scenario)
    path = None if trace is None else os.fspath(trace)
    r = _core.simulate(
        text,
        kind,
        seed=seed,
        requests=requests,
        trace=path,
        trace_format=trace_format,
        speed=speed,
        records=records,
        out=None if out is None else os.fspath(out),
        progress=callback(progress, "simulating", "requests", threshold=2_000_000),
    )
    return Run(
        summary=json.loads(r["summary_json"]),
        summary_json=r["summary_json"],
        config_toml=r["config_toml"],
        config_hash=r["config_hash"],
        trace_id=r["trace_id"],
        trace_source=r["trace_source"],
        request_count=r["requests"],
        seed=r["seed"],
        scenario=r["scenario"],
        scenario_source=r["scenario_source"],
        id=r["run_id"],
        dir=None if r["dir"] is None else Path(r["dir"]),
        notes=tuple(r["notes"]),
        requests=None if r["records"] is None else frame(r["records"], run_id=r["run_id"], trace_id=r["trace_id"]),
        timeline=None if r["timeline"] is None else frame(r["timeline"], run_id=r["run_id"], trace_id=r["trace_id"]),
    )


def _toml_value(v: Any) -> str:
    """A sweep value as the CLI's ``--vary`` takes it: TOML for numbers and booleans, else text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    raise TypeError(f"vary: values must be numbers, booleans or strings, got {type(v).__name__}")


def sweep(
    scenario: Scenario,
    vary: Mapping[str, Sequence[Any]],
    *,
    requests: int | None = None,
    jobs: int | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: ProgressArg = None,
) -> "pd.DataFrame":
    """Simulate the grid of ``vary`` over ``scenario``, as ``servesim sweep`` does: one row per
    point (``point``, ``run_id``, ``param.KEY`` for each varied key, then every metric), the
    table ``sweep.csv`` holds. Keys are dotted paths into the scenario's TOML (array elements by
    index); the grid is the product of the values, the last key varying fastest. Points run in
    parallel (``jobs``, default: all cores); results do not depend on it. ``out`` keeps the sweep
    directory ``out/<sweep-id>/`` (otherwise it is written to a temporary directory and removed).
    ``df.attrs`` holds ``sweep_id`` and ``dir``.

    >>> df = sweep("mm1", {"workload.arrivals.rate": [50, 90]}, requests=5000)
    >>> bool(df["run_id"].str.startswith("run-").all()), df.attrs["sweep_id"].startswith("swp-")
    (True, True)
    >>> bool(df["latency_ms.mean"].iloc[0] < df["latency_ms.mean"].iloc[1])
    True
    """
    if not isinstance(vary, Mapping):
        raise TypeError(f"vary: expected a dict of key -> list of values, got {type(vary).__name__}")
    grid = []
    for key, values in vary.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"vary[{key!r}]: expected a list of values, got {type(values).__name__}")
        grid.append((key, [_toml_value(v) for v in values]))
    text, kind = _scenario_arg(scenario)
    bar = callback(progress, "sweep", "points", threshold=1)

    def run(parent: str) -> tuple[str, str, Any, int]:
        return _core.sweep(text, kind, grid, parent, requests=requests, jobs=jobs, progress=bar)

    if out is None:
        with tempfile.TemporaryDirectory(prefix="servesim-sweep-") as tmp:
            sweep_id, _, columns, _ = run(tmp)
            return frame(columns, sweep_id=sweep_id, dir=None)
    sweep_id, where, columns, _ = run(os.fspath(out))
    return frame(columns, sweep_id=sweep_id, dir=where)


@dataclass(frozen=True)
class Plan:
    """A capacity plan: every device mix visited (cheapest first) with its verdict, and the
    winner — the cheapest mix that meets the objective. ``report`` is what ``servesim plan
    --json`` prints."""

    scenario: str
    offered_per_s: float
    report: dict[str, Any]

    @property
    def winner(self) -> dict[str, Any] | None:
        """The winning mix as {device group: count}, or None if no mix met the objective. For an
        autoscaled pool's plan: the winning candidate (``max``, ``target``, ``usd``, ``kwh``, …)."""
        w = self.report.get("winner")
        if w is None:
            return None
        if "groups" not in self.report:
            return dict(self.report["candidates"][w])
        return dict(zip(self.report["groups"], self.report["candidates"][w]["counts"]))

    @property
    def candidates(self) -> "pd.DataFrame":
        """One row per mix visited: a count column per device group, ``usd_per_hour``,
        ``verdict`` (``simulated``, ``pruned_capacity``, ``pruned_dominated``, ``invalid``) and its
        numbers (``value_ms``, ``drop_rate``, ``usd_per_1000_requests``, ``meets``, …)."""
        import pandas as pd

        rows = []
        for c in self.report["candidates"]:
            row: dict[str, Any] = dict(zip(self.report.get("groups", []), c.get("counts", [])))
            row.update((k, v) for k, v in c.items() if k != "counts")
            rows.append(row)
        return pd.DataFrame(rows)


def plan(
    scenario: Scenario,
    slo: str,
    *,
    max_drop: float = 0.001,
    rate: float | None = None,
    trace: str | os.PathLike[str] | None = None,
    trace_format: str | None = None,
    min_count: int = 0,
    max_count: int = 8,
    requests: int | None = None,
    seed: int | None = None,
    minimize: str = "cost",
) -> Plan:
    """The cheapest device mix of ``scenario`` whose latency meets ``slo`` (``"p99<=40ms"``;
    STAT one of mean, p50, p90, p95, p99, p999) with a drop rate at most ``max_drop``, as
    ``servesim plan`` finds it: each group's count from ``min_count`` to ``max_count``, mixes
    visited cheapest first, pruned when they cannot carry the offered ``rate`` (or the trace's),
    the rest simulated with the same seed. ``minimize="energy"`` simulates every mix not pruned
    and picks the least energy that meets the objective. A scenario with an autoscaled pool gets
    that pool's plan instead: every ``max`` up to ``max_count`` and policy target simulated, the
    winner the least ``minimize`` (``"cost"`` or ``"energy"``) among those that meet the objective.

    >>> p = plan("hardware", "p99<=40ms", max_count=3, requests=5000)
    >>> p.winner is not None and sum(p.winner.values()) > 0
    True
    """
    text, kind = _scenario_arg(scenario)
    name, offered, report = _core.plan(
        text,
        kind,
        slo,
        max_drop=max_drop,
        rate=rate,
        trace=None if trace is None else os.fspath(trace),
        trace_format=trace_format,
        min_count=min_count,
        max_count=max_count,
        requests=requests,
        seed=seed,
        minimize=minimize,
    )
    return Plan(scenario=name, offered_per_s=offered, report=json.loads(report))


def scenarios() -> dict[str, str]:
    """Every built-in scenario: name → its TOML text (``servesim scenarios --show NAME``)."""
    return dict(_core.builtin_scenarios())


def rule_sets() -> dict[str, str]:
    """Every built-in rule set for :func:`gate` (``builtin:NAME``): name → its TOML text."""
    return dict(_core.builtin_rules())


_NEXT_ACTION = {
    "accept": "promote the candidate",
    "warn": "promote the candidate and tell the owners of the failed rules",
    "block": "do not promote the candidate",
    "rollback": "do not promote, and roll back what is already out",
}


@dataclass(frozen=True)
class Decision:
    """A gate's decision: the verdict (the most severe action among failed rules), the CLI's exit
    code for it, and one evidence dict per rule (metric, kind, limit, action, owner, why,
    baseline, candidate, bound, passed, outcome). A gate on run directories also has its
    ``gate_id``, the directory it wrote (``dir``, with ``decision.json`` and ``rules.toml``) and
    both runs' ``audits``; a run that fails its audit adds an ``audit.baseline`` or
    ``audit.candidate`` evidence row that blocks."""

    verdict: str
    rules: str
    evidence: list[dict[str, Any]]
    gate_id: str | None = None
    dir: Path | None = None
    audits: list[dict[str, Any]] | None = field(default=None, compare=False)
    runs: tuple[str | None, str | None] = (None, None)

    @property
    def exit_code(self) -> int:
        """The exit code ``servesim gate`` gives this verdict (0, 3, 4, 5)."""
        return {"accept": 0, "warn": 3, "block": 4, "rollback": 5}[self.verdict]

    @property
    def next_action(self) -> str:
        """What the verdict tells the release owner to do."""
        return _NEXT_ACTION[self.verdict]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The evidence of the rules that failed."""
        return [e for e in self.evidence if not e["passed"]]

    def __str__(self) -> str:
        lines = [f"rules {self.rules}"]
        if self.gate_id is not None:
            lines.append(f"gate {self.gate_id}: baseline {self.runs[0]}, candidate {self.runs[1]}")
        for e in self.evidence:
            lines.append(f"  {e['metric']:<34} {e['action']:<9} {e['outcome']}")
        lines.append(f"verdict: {self.verdict} (exit code {self.exit_code}): {self.next_action}")
        return "\n".join(lines)


def _summary_json(x: Run | Mapping[str, Any], who: str) -> str:
    if isinstance(x, Run):
        return x.summary_json
    if isinstance(x, Mapping):
        return json.dumps(x)
    raise TypeError(f"{who}: expected a Run, a run directory or a summary dict, got {type(x).__name__}")


def _run_dir(x: Any) -> str | None:
    """The run directory ``x`` names (a Run written with ``out``, or a path), else None."""
    if isinstance(x, Run):
        return None if x.dir is None else os.fspath(x.dir)
    if isinstance(x, (str, os.PathLike)):
        return os.fspath(x)
    return None


def gate(
    baseline: Run | Mapping[str, Any] | str | os.PathLike[str],
    candidate: Run | Mapping[str, Any] | str | os.PathLike[str],
    rules: str,
    *,
    out: str | os.PathLike[str] | None = None,
) -> Decision:
    """Judge ``candidate`` against ``baseline`` under declared ``rules`` (``builtin:NAME``, a rules
    TOML file, or TOML text), as ``servesim gate`` does with the same rules.

    When both runs are run directories (paths, or :class:`Run` objects simulated with ``out``),
    this *is* ``servesim gate``: both directories are audited (a file that no longer matches its
    manifest hash blocks the candidate, with the finding as evidence) and ``out/<gate-id>/`` is
    written with ``decision.json`` and ``rules.toml`` (``out`` defaults to ``gates`` beside the
    candidate's run directory). Summaries held in memory (runs without a directory, or summary
    dicts) are judged on their metrics alone: there is nothing to audit and nothing is written.

    >>> rules = '''name = "p99"
    ... [[rule]]
    ... metric = "latency_ms.p99"
    ... kind = "max_relative_increase"
    ... limit = 0.10
    ... action = "block"'''
    >>> gate({"latency_ms": {"p99": 10.0}}, {"latency_ms": {"p99": 12.0}}, rules).verdict
    'block'
    >>> import tempfile
    >>> runs = tempfile.mkdtemp()
    >>> a = simulate("mm1", seed=1, requests=5000, out=runs)
    >>> b = simulate("mm1", seed=2, requests=5000, out=runs)
    >>> d = gate(a, b, "builtin:hardware-mix")
    >>> d.gate_id.startswith("gate-"), (d.dir / "decision.json").is_file(), len(d.audits)
    (True, True, 2)
    """
    b_dir, c_dir = _run_dir(baseline), _run_dir(candidate)
    if b_dir is not None and c_dir is not None:
        is_text = "\n" in rules
        where = Path(c_dir).parent / "gates" if out is None else Path(out)
        with tempfile.TemporaryDirectory(prefix="servesim-rules-") as tmp:
            if is_text:
                # The library reads rules by name or file, as --rules does.
                path = Path(tmp) / "rules.toml"
                path.write_text(rules)
                rules_arg = str(path)
            else:
                rules_arg = rules
            gate_id, where_written, text = _core.gate_dirs(b_dir, c_dir, rules_arg, os.fspath(where))
        d = json.loads(text)
        return Decision(
            verdict=d["verdict"],
            rules=d["rules"],
            evidence=d["evidence"],
            gate_id=gate_id,
            dir=Path(where_written),
            audits=d["audits"],
            runs=(d["baseline"]["run_id"], d["candidate"]["run_id"]),
        )
    is_text = "\n" in rules
    decision = json.loads(
        _core.gate(_summary_json(baseline, "baseline"), _summary_json(candidate, "candidate"), rules, is_text)
    )
    return Decision(verdict=decision["verdict"], rules=decision["rules"], evidence=decision["evidence"])


@dataclass(frozen=True)
class GroundTruth:
    """The LLM simulator against real measurements, one comparison per case (as
    ``comparison.json`` of ``servesim groundtruth``: every measured statistic with ``measured``,
    ``sim`` and ``relative_error`` = (sim − measured) / measured).

    ``table`` has one row per (case, metric); ``median_abs_error`` is the median |error| per
    metric over the cases (the CLI's closing table); ``calibration`` names the calibration used
    (``builtin`` or a file with its SHA-256), ``models`` each case's model (name and hash)."""

    calibration: str
    comparisons: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    models: list[str]
    dirs: list[Path | None]

    @property
    def table(self) -> "pd.DataFrame":
        import pandas as pd

        rows = [
            {"case": c["case"], "metric": m, "measured": v["measured"], "sim": v["sim"],
             "relative_error": v["relative_error"]}
            for c in self.comparisons
            for m, v in c["metrics"].items()
        ]
        return pd.DataFrame(rows, columns=["case", "metric", "measured", "sim", "relative_error"])

    @property
    def median_abs_error(self) -> "pd.Series":
        t = self.table
        return t.assign(abs_error=t["relative_error"].abs()).groupby("metric")["abs_error"].median()


def shared_groundtruth() -> Path | None:
    """The shared ground-truth directory (real vLLM measurements: ``cases/``, ``models/``):
    ``$SERVESIM_SHARED_GROUNDTRUTH``, else ``../shared/groundtruth`` beside the servesim checkout
    (``$SERVESIM_ROOT``) or the working directory; None when there is none."""
    candidates = []
    if os.environ.get("SERVESIM_SHARED_GROUNDTRUTH"):
        candidates.append(Path(os.environ["SERVESIM_SHARED_GROUNDTRUTH"]))
    if os.environ.get("SERVESIM_ROOT"):
        candidates.append(Path(os.environ["SERVESIM_ROOT"]) / "../shared/groundtruth")
    candidates.append(Path.cwd() / "../shared/groundtruth")
    for c in candidates:
        if (c / "cases").is_dir():
            return c.resolve()
    return None


def groundtruth(
    cases: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    calibration: str | os.PathLike[str] | None = None,
    *,
    models: str | os.PathLike[str] | None = None,
    seed: int = 1,
    out: str | os.PathLike[str] | None = None,
) -> GroundTruth:
    """Simulate ground-truth cases (directories with ``case.toml``) and compare every measured
    statistic, as ``servesim groundtruth`` does: each case's model from ``models`` (default
    ``CASE/../../models``) or a built-in shape, parameters from ``calibration`` (a file from
    ``servesim calibrate-llm``) or the built-in calibration. Every case is read and checked
    before anything runs; a malformed case raises :class:`InputError` naming the file and key.
    A directory holding case directories (``cases/``) stands for all of them. ``out`` writes
    ``out/<case id>/`` as the CLI does.

    >>> gt = shared_groundtruth()
    >>> r = groundtruth(gt / "cases" / "h30-h100-llama-2-7b-roleplay") if gt else None
    >>> r is None or r.comparisons[0]["case"] == "h30-h100-llama-2-7b-roleplay"
    True
    """
    items = [cases] if isinstance(cases, (str, os.PathLike)) else list(cases)
    dirs: list[str] = []
    for c in items:
        p = Path(c)
        if not (p / "case.toml").exists() and p.is_dir():
            inner = sorted(q for q in p.iterdir() if (q / "case.toml").is_file())
            if inner:
                dirs.extend(os.fspath(q) for q in inner)
                continue
        dirs.append(os.fspath(p))
    cal_ref, rows = _core.groundtruth(
        dirs,
        calibration=None if calibration is None else os.fspath(calibration),
        models=None if models is None else os.fspath(models),
        seed=seed,
        out=None if out is None else os.fspath(out),
    )
    return GroundTruth(
        calibration=cal_ref,
        comparisons=[json.loads(r[1]) for r in rows],
        summaries=[json.loads(r[2]) for r in rows],
        models=[r[3] for r in rows],
        dirs=[None if r[4] is None else Path(r[4]) for r in rows],
    )
