"""The course's figures, drawn by the same code as ``servesim course`` and shown inline in Jupyter.

Every figure of the course that needs only the simulator is a function here (and
:func:`figure` by id): it runs the same course step ``servesim course`` runs — the same
scenarios, grids and seeds, so the same run ids — and captions the figure from its data with the
same code. ``quick=True`` (the default) is the scale of ``servesim course --quick`` (a tenth of
the requests per point, seconds); ``quick=False`` that of the full course. The figures that
measure models on ONNX Runtime (:func:`models_accuracy_vs_memory`, :func:`calibration`,
:func:`validation`, :func:`cascade_threshold`; see :func:`measured_ids`) run the course's measured
steps too, on models built beforehand (``servesim models build --preset tiny --out DIR``, or
``--preset course`` for ``quick=False``) and passed as ``models=DIR``; the validation and the
cascade replay requests in real time (seconds). :func:`load` shows any figure the course wrote
(``<figure>.json``) inline.

>>> from servesim import figures
>>> fig = figures.llm_groundtruth()
>>> fig.id, fig.svg.startswith("<svg")
('llm-groundtruth', True)
>>> "llm-groundtruth" in figures.ids()
True
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import _core
from ._progress import ProgressArg, callback

__all__ = [
    "Figure",
    "autoscaling_policies",
    "autoscaling_timeline",
    "batch_size_frontier",
    "batching_window",
    "cache_hit_ratio",
    "calibration",
    "cascade_threshold",
    "figure",
    "hardware_cost_vs_slo",
    "ids",
    "latency_vs_load",
    "llm_energy",
    "llm_groundtruth",
    "llm_kv_tiers",
    "llm_kv_timeline",
    "llm_lora",
    "llm_prefix_hit_rate",
    "llm_sessions",
    "llm_speculative",
    "llm_ttft_tpot_vs_load",
    "load",
    "measured",
    "measured_ids",
    "models_accuracy_vs_memory",
    "priority_surge",
    "stalls",
    "traces",
    "validation",
]


@dataclass(frozen=True)
class Figure:
    """A course figure: ``id``, ``title``, ``caption`` (computed from the data, as in the course's
    index), ``run_ids`` (the runs, traces, models or cases it plots), ``svg`` (the image, shown
    inline by Jupyter) and ``data`` (the figure's JSON, as ``<id>.json`` of ``servesim course``).
    """

    id: str
    title: str
    caption: str
    svg: str = field(repr=False)
    json: str = field(repr=False)
    run_ids: tuple[str, ...] = field(repr=False)

    @property
    def data(self) -> dict[str, Any]:
        """The figure's data (series, axes, facts) as a dict."""
        return json.loads(self.json)

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the SVG (``.svg``) or the figure's JSON (``.json``) to ``path``."""
        p = Path(path)
        if p.suffix == ".svg":
            p.write_text(self.svg)
        elif p.suffix == ".json":
            p.write_text(self.json)
        else:
            raise ValueError(f"{p}: save as .svg or .json")
        return p


def _figure(drawn: tuple[str, str, str, str, str, list[str]]) -> Figure:
    id_, title, caption, svg, data, run_ids = drawn
    return Figure(id=id_, title=title, caption=caption, svg=svg, json=data, run_ids=tuple(run_ids))


def ids() -> list[str]:
    """The ids of the figures drawn by simulation, in course order."""
    return [i for i, _ in _core.course_figure_ids()]


def measured_ids() -> list[str]:
    """The ids of the figures that measure models on ONNX Runtime, in course order."""
    return [i for i, _ in _core.course_measured_ids()]


def figure(
    id: str,
    *,
    quick: bool = True,
    out: str | os.PathLike[str] | None = None,
    progress: ProgressArg = None,
    models: str | os.PathLike[str] | None = None,
    profile: str | os.PathLike[str] | None = None,
) -> Figure:
    """Course figure ``id`` (see :func:`ids`), simulated now. ``out`` keeps what the step writes
    (``configs/<run-id>.toml`` of every point, so any point can be re-run with ``servesim
    simulate``; ``traces/`` for the traces figure); otherwise it goes to a temporary directory.
    ``progress`` as for :func:`servesim.simulate` (in Jupyter, a bar for figures of many points).
    A measured figure (:func:`measured_ids`) needs ``models=DIR`` (see :func:`measured`).
    """
    if id in measured_ids():
        if models is None:
            raise ValueError(f"figure `{id}` measures models on ONNX Runtime: pass models=DIR (a built models directory)")
        return measured(id, models=models, quick=quick, profile=profile, out=out, progress=progress)
    units = dict(_core.course_figure_ids()).get(id, 0)
    bar = callback(progress, id, "simulations", threshold=5 if units >= 5 else 10**9)
    return _in_dir(out, lambda d: _core.course_figure(id, d, quick=quick, progress=bar))


def _in_dir(out: str | os.PathLike[str] | None, draw: Callable[[str], Any]) -> Figure:
    """The figure ``draw`` makes in directory ``out`` (created), else in a temporary one."""
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        return _figure(draw(os.fspath(out)))
    with tempfile.TemporaryDirectory(prefix="servesim-figure-") as tmp:
        return _figure(draw(tmp))


def measured(
    id: str,
    *,
    models: str | os.PathLike[str],
    quick: bool = True,
    profile: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: ProgressArg = None,
) -> Figure:
    """Measured course figure ``id`` (see :func:`measured_ids`), measured now on ONNX Runtime by
    the course's own step, on the models in ``models`` (a ``tiny`` build for ``quick=True``, a
    ``course`` build for ``quick=False``; never built here: without them an :class:`InputError`
    names the directory and the command that builds them). The calibration and validation figures
    use ``profile`` (a ``servesim calibrate`` profile of these models) when given, else measure
    one first. ``out`` keeps what the step writes (``profiles/``, ``validation/`` with its runs,
    ``cascade/``); otherwise it goes to a temporary directory.
    """
    units = dict(_core.course_measured_ids()).get(id, 0)
    bar = callback(progress, id, "measurements", threshold=5 if units >= 5 else 10**9)
    m, p = os.fspath(models), None if profile is None else os.fspath(profile)
    return _in_dir(out, lambda d: _core.course_measured_figure(id, d, m, quick=quick, profile=p, progress=bar))


def load(path: str | os.PathLike[str]) -> Figure:
    """A figure that ``servesim course`` (or ``servesim figures``) wrote, from its ``<id>.json``,
    rendered by the same code: the measured figures too (``validation.json``, …)."""
    return _figure(_core.render_figure(Path(path).read_text()))


_NAMED = {
    "traces": "How bursty the course's workloads are: inter-arrival gaps against a Poisson process.",
    "latency-vs-load": "Batching raises the load a GPU can carry: mean latency vs offered load per batching policy.",
    "batching-window": "The batching window: p99 latency and throughput vs the dynamic batcher's max queue delay.",
    "batch-size-frontier": "The throughput–latency frontier over batch sizes.",
    "hardware-cost-vs-slo": "Hardware mixes: cost per 1,000 requests vs SLO attainment, the plan's choice marked.",
    "cache-hit-ratio": "Response cache: hit ratio vs capacity per eviction policy.",
    "stalls": "Stalls: a preempted worker sets the tail (the simulator against M/G/1 with stalls).",
    "llm-ttft-tpot-vs-load": "LLM serving, static vs continuous batching: TTFT and TPOT vs offered load.",
    "llm-kv-timeline": "KV memory and queues over one LLM run, per scheduler.",
    "llm-prefix-hit-rate": "Prefix caching: hit rate vs distinct shared prefixes per routing setup.",
    "llm-groundtruth": "The LLM simulator against real vLLM runs, beside other simulators' published errors.",
    "autoscaling-timeline": "Autoscaling over a day: offered load and ready replicas per policy.",
    "autoscaling-policies": "Autoscaling policies over a day: cost vs SLO attainment, beside the cheapest fixed pool.",
    "priority-surge": "A batch surge over interactive traffic, with a FIFO and a strict-priority queue.",
    "llm-energy": "Energy and cost per million tokens of one LLM replica per device kind.",
    "llm-kv-tiers": "A KV cache tier below HBM (DRAM per replica or a pool shared by the replicas): prefix "
    "block hit rate against the workload's reuse bound, and mean TTFT, by tier capacity.",
    "llm-speculative": "Speculative decoding with a draft model: TPOT speed-up by acceptance rate at several batch "
    "sizes, beside the closed-form tokens per step.",
    "llm-lora": "LoRA adapters: mean TTFT and adapter hit rate by adapter slots per replica, round robin vs "
    "adapter-affinity routing.",
    "llm-sessions": "Multi-turn conversations replayed closed-loop: prompt length and TTFT by turn, with and without "
    "prefix caching.",
}


def _named(id: str, doc: str) -> Callable[..., Figure]:
    def draw(*, quick: bool = True, out: str | os.PathLike[str] | None = None, progress: ProgressArg = None) -> Figure:
        return figure(id, quick=quick, out=out, progress=progress)

    draw.__name__ = draw.__qualname__ = id.replace("-", "_")
    draw.__doc__ = f"{doc}\n\nCourse figure ``{id}``: :func:`figure` (``quick``, ``out``, ``progress``)."
    return draw


for _id, _doc in _NAMED.items():
    globals()[_id.replace("-", "_")] = _named(_id, _doc)


_MEASURED = {
    "models-accuracy-vs-memory": "Quantization and distillation: test accuracy vs weight memory of the built models "
    "(teacher and student, fp32 and int8, and the int4 preview).",
    "calibration": "Calibration: batch latency of each model on ONNX Runtime with its fitted line (from ``profile`` "
    "if given, else measured now).",
    "validation": "Sim vs replay: the calibrated simulator's latency distribution against a real-time replay of the "
    "same 2,000 requests on ONNX Runtime (the calibration from ``profile``, else measured now).",
    "cascade-threshold": "Distillation: a cascade (int8 student first, int8 teacher for what it is unsure of) "
    "replayed on ONNX Runtime at seven confidence thresholds: accuracy and share escalated.",
}


def _measured_named(id: str, doc: str) -> Callable[..., Figure]:
    def draw(
        models: str | os.PathLike[str],
        *,
        quick: bool = True,
        profile: str | os.PathLike[str] | None = None,
        out: str | os.PathLike[str] | None = None,
        progress: ProgressArg = None,
    ) -> Figure:
        return measured(id, models=models, quick=quick, profile=profile, out=out, progress=progress)

    draw.__name__ = draw.__qualname__ = id.replace("-", "_")
    draw.__doc__ = (
        f"{doc}\n\nCourse figure ``{id}``, measured now: :func:`measured` (``models``, ``quick``, ``profile``, "
        "``out``, ``progress``)."
    )
    return draw


for _id, _doc in _MEASURED.items():
    globals()[_id.replace("-", "_")] = _measured_named(_id, _doc)
