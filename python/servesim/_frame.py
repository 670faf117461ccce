"""Typed columns from ``servesim._core`` (a ``traces::formats::Table``, the columns servesim writes
result files from) as a pandas DataFrame: one dtype per column kind, gaps as ``<NA>``."""

from __future__ import annotations

from typing import Any

import pandas as pd

_DTYPES = {
    "u64": "uint64",
    "opt_u64": "UInt64",
    "f64": "float64",
    "opt_f64": "Float64",
    "bool": "bool",
    "str": "string",
    "list_u64": "object",
}


def frame(columns: list[tuple[str, str, list[Any]]], **attrs: Any) -> pd.DataFrame:
    """The DataFrame of ``columns``, with ``attrs`` (ids) in ``DataFrame.attrs``."""
    data = {}
    for name, kind, values in columns:
        try:
            dtype = _DTYPES[kind]
        except KeyError:
            raise TypeError(f"column {name}: unknown kind {kind!r}") from None
        data[name] = pd.Series(values, dtype=dtype, name=name)
    df = pd.DataFrame(data)
    df.attrs.update(attrs)
    return df
