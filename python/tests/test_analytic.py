"""servesim.analytic against values computed by hand, and against the simulator's own prediction."""

from __future__ import annotations

import math

import pytest
import servesim
from servesim import analytic


def test_erlang_c_two_servers_by_hand():
    # c = 2, a = 1: (a²/2)/(1 − a/2) = 1 over 1 + a + 1 = 3.
    assert analytic.erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)


def test_mmc_two_servers_by_hand():
    # λ = 1/s, μ = 1/s, c = 2: C = 1/3, E[Wq] = C / (cμ − λ) = 1/3 s, E[W] = E[Wq] + 1/μ.
    p = analytic.mmc(arrival_rate=1.0, service_rate=1.0, servers=2)
    assert p["model"] == "M/M/2"
    assert p["utilization"] == pytest.approx(0.5)
    assert p["p_wait"] == pytest.approx(1 / 3, rel=1e-12)
    assert p["wq_mean_ms"] == pytest.approx(1000 / 3, rel=1e-12)
    assert p["w_mean_ms"] == pytest.approx(4000 / 3, rel=1e-12)
    assert p["lq"] == pytest.approx(1 / 3, rel=1e-12) and p["l"] == pytest.approx(4 / 3, rel=1e-12)


def test_mm1_sojourn_quantiles_are_exponential():
    # M/M/1: W ~ Exp(μ − λ); quantile q at −ln(1 − q) / (μ − λ).
    p = analytic.mmc(arrival_rate=50.0, service_rate=100.0, servers=1)
    assert p["w_p50_ms"] == pytest.approx(1e3 * math.log(2) / 50, rel=1e-9)
    assert p["w_p99_ms"] == pytest.approx(1e3 * math.log(100) / 50, rel=1e-9)


def test_md1_is_half_the_mm1_wait_and_mg1_with_exponential_moments_is_mm1():
    md1 = analytic.md1(arrival_rate=80.0, service_time_s=0.010)
    assert md1["wq_mean_ms"] == pytest.approx(20.0, rel=1e-12)  # ρD / (2(1 − ρ))
    mg1 = analytic.mg1(arrival_rate=80.0, mean_service_s=0.010, second_moment_s2=2e-4)
    mm1 = analytic.mmc(arrival_rate=80.0, service_rate=100.0, servers=1)
    assert mg1["wq_mean_ms"] == pytest.approx(mm1["wq_mean_ms"], rel=1e-12) == pytest.approx(2 * md1["wq_mean_ms"])


def test_che_on_uniform_popularity_is_capacity_over_keys():
    # Uniform p = 1/n: n(1 − e^(−T/n)) = C gives hit ratio 1 − e^(−T/n) = C/n exactly.
    assert analytic.che(250, popularities=[1 / 1000] * 1000) == pytest.approx(0.25, rel=1e-9)
    assert analytic.che(2000, universe=1000, zipf_s=0.9) == 1.0
    z = analytic.zipf(100, 1.0)
    assert sum(z) == pytest.approx(1.0) and z[0] == pytest.approx(2 * z[1])


def test_the_simulators_summary_carries_the_same_prediction():
    run = servesim.simulate("mmc", seed=1, requests=200_000)
    exact = analytic.mmc(arrival_rate=360.0, service_rate=100.0, servers=4)
    assert run.summary["analytic"] == exact
    # And the simulation agrees with it (S1: within 2 % on the mean sojourn at 200k requests).
    assert run.summary["latency_ms"]["mean"] == pytest.approx(exact["w_mean_ms"], rel=0.02)


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: analytic.mmc(100.0, 10.0, 2), ["arrival_rate", "steady state"]),
        (lambda: analytic.md1(0.0, 0.01), ["arrival_rate", "positive"]),
        (lambda: analytic.mg1(10.0, 0.01, 1e-6), ["second_moment_s2"]),
        (lambda: analytic.mmc(1.0, 1.0, 0), ["servers"]),
        (lambda: analytic.che(10, popularities=[0.5, 0.6]), ["popularities", "sum to 1"]),
    ],
)
def test_bad_arguments_name_themselves(call, words):
    with pytest.raises(servesim.InputError) as e:
        call()
    for w in words:
        assert w in str(e.value)
