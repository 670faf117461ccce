"""Closed-form queueing results, from the same code that checks the simulator (``sim::analytic``).

Rates are per second, times in seconds on input; predictions are dicts with the keys of a
summary's ``analytic`` block: ``model``, ``utilization``, ``p_wait`` (where known), ``wq_mean_ms``,
``w_mean_ms``, ``lq``, ``l`` and, where the sojourn distribution is known, ``w_p50_ms`` and
``w_p99_ms``. A queue without a steady state (ρ ≥ 1) raises :class:`servesim.InputError`.

>>> from servesim import analytic
>>> p = analytic.mmc(arrival_rate=360.0, service_rate=100.0, servers=4)   # DESIGN.md S1
>>> p["model"], round(p["wq_mean_ms"], 3)
('M/M/4', 19.694)
>>> round(analytic.md1(arrival_rate=80.0, service_time_s=0.010)["wq_mean_ms"], 3)   # ρ D / (2 (1 − ρ))
20.0
>>> round(analytic.che(5000, universe=100_000, zipf_s=0.9), 3)
0.515
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from . import _core

__all__ = ["che", "erlang_c", "md1", "mg1", "mmc", "zipf"]


def mmc(arrival_rate: float, service_rate: float, servers: int) -> dict[str, Any]:
    """M/M/c: Erlang C, mean wait and sojourn, and the FIFO sojourn median and 99th percentile.

    >>> round(mmc(50.0, 100.0, 1)["w_mean_ms"], 6)   # M/M/1: 1 / (μ − λ) = 20 ms
    20.0
    """
    return json.loads(_core.mmc(float(arrival_rate), float(service_rate), int(servers)))


def md1(arrival_rate: float, service_time_s: float) -> dict[str, Any]:
    """M/D/1: mean values, and sojourn percentiles by Erlang's waiting-time formula where it is
    accurate (omitted where not)."""
    return json.loads(_core.md1(float(arrival_rate), float(service_time_s)))


def mg1(arrival_rate: float, mean_service_s: float, second_moment_s2: float) -> dict[str, Any]:
    """M/G/1 by Pollaczek–Khinchine, from E[S] and E[S²] (mean values only).

    >>> round(mg1(80.0, 0.010, 2 * 0.010**2)["wq_mean_ms"], 6)   # exponential S: equals M/M/1
    40.0
    """
    return json.loads(_core.mg1(float(arrival_rate), float(mean_service_s), float(second_moment_s2)))


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = λ/μ (Erlang C).

    >>> round(erlang_c(2, 1.0), 6)   # a²/(2(1 − a/2)) / (1 + a + a²/(2(1 − a/2))) = 1/3
    0.333333
    """
    return _core.erlang_c(int(servers), float(offered_load))


def zipf(universe: int, zipf_s: float) -> list[float]:
    """Zipf popularities p_k ∝ k^(−s), k = 1..universe, normalised."""
    return _core.zipf(int(universe), float(zipf_s))


def che(
    capacity: float,
    *,
    universe: int | None = None,
    zipf_s: float | None = None,
    popularities: Sequence[float] | None = None,
) -> float:
    """Che's approximation of the LRU hit ratio for a cache of ``capacity`` entries, under
    independent requests with ``popularities`` (summing to 1) or Zipf(``zipf_s``) over
    ``universe`` keys (as a scenario's ``[workload.cache_keys]``)."""
    if popularities is None:
        if universe is None or zipf_s is None:
            raise TypeError("che: give popularities=, or universe= and zipf_s=")
        popularities = zipf(universe, zipf_s)
    elif universe is not None or zipf_s is not None:
        raise TypeError("che: give popularities= or universe= and zipf_s=, not both")
    return _core.che([float(p) for p in popularities], float(capacity))
