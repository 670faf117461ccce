"""Request traces as pandas DataFrames: generated from a scenario's ``[workload]`` or read from a
file, by the same code as ``servesim trace gen`` and ``servesim simulate --trace``.

Columns are the servesim trace schema (``id``, ``arrival_s``, ``class``, ``input_size``,
``output_tokens``, and ``cache_key``, ``prefix_blocks``, ``service_s`` when some request has one);
``df.attrs["trace_id"]`` is the trace's content id (the id ``servesim trace inspect`` prints, and
the ``trace_id`` of a :class:`servesim.Run` over the same requests).

>>> from servesim import trace
>>> df = trace.generate("mm1", requests=1000, seed=7)
>>> len(df), list(df.columns)
(1000, ['id', 'arrival_s', 'class', 'input_size', 'output_tokens'])
>>> df.attrs["trace_id"].startswith("tr-")
True
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import _core
from ._frame import frame

if TYPE_CHECKING:
    import pandas as pd

    from . import Scenario

__all__ = ["generate", "import_columns", "read"]


def generate(
    scenario: "Scenario",
    *,
    requests: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
) -> "pd.DataFrame":
    """The requests of ``scenario``'s workload (a built-in name, TOML file, TOML text or dict);
    ``requests`` and ``seed`` default to the scenario's. ``out`` also writes them as
    ``servesim trace gen -o`` does (CSV, Parquet or JSONL by extension), for
    :func:`servesim.simulate`'s ``trace``.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> df = generate("caching", requests=500, seed=1, out=path)
    >>> read(path).attrs["trace_id"] == df.attrs["trace_id"]
    True
    """
    from . import _scenario_arg

    text, kind = _scenario_arg(scenario)
    where = None if out is None else os.fspath(out)
    columns, trace_id = _core.trace_generate(text, kind, requests=requests, seed=seed, out=where)
    return frame(columns, trace_id=trace_id, source="generated")


def read(path: str | os.PathLike[str], *, format: str | None = None) -> "pd.DataFrame":
    """Read a trace file (CSV, Parquet or JSONL by extension; servesim, Azure or Mooncake schema,
    detected from the columns unless ``format`` is ``"servesim"``, ``"azure"`` or ``"mooncake"``).
    Every value is checked: an error names the file, row and column."""
    p = os.fspath(path)
    columns, trace_id = _core.trace_read(p, format)
    return frame(columns, trace_id=trace_id, source=p)


def import_columns(
    path: str | os.PathLike[str],
    columns: str,
    out: str | os.PathLike[str],
    *,
    time_unit: str = "s",
    filters: list[str] | None = None,
) -> "pd.DataFrame":
    """Read any CSV, Parquet or JSONL table through a column mapping and write it in the servesim
    schema to ``out``, as ``servesim trace import --columns`` does: ``columns`` is
    ``"arrival=COL[,service=COL,class=COL,key=COL,session=COL,adapter=COL,input=COL,output=COL]"``, arrivals numbers in
    ``time_unit`` (``s``, ``ms``, ``us``, ``ns``) or wall-clock datetimes, ``filters`` keep rows
    whose column equals a value (``["status=SUCCEED"]``). Rows are sorted by arrival, idle gaps kept.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> src, dst = os.path.join(d, "jobs.csv"), os.path.join(d, "jobs.parquet")
    >>> _ = open(src, "w").write("start,exec_s,status\\n2024-11-15 16:57:50,2.5,SUCCEED\\n2024-11-15 16:57:52,1.0,FAILED\\n")
    >>> df = import_columns(src, "arrival=start,service=exec_s", dst, filters=["status=SUCCEED"])
    >>> len(df), float(df["service_s"][0])
    (1, 2.5)
    """
    p = os.fspath(path)
    cols, trace_id = _core.trace_import_columns(p, columns, os.fspath(out), time_unit=time_unit, filters=filters or [])
    return frame(cols, trace_id=trace_id, source=p)
