"""servesim.gate decides as `servesim gate` does on the same runs and rules."""

from __future__ import annotations

import json

import pytest
import servesim
from _helpers import cli_error


def test_the_decision_and_its_evidence_are_the_clis(cli, tmp_path):
    runs = {}
    for seed in ("1", "2"):
        out = tmp_path / f"runs{seed}"
        cli("simulate", "-s", "hardware", "--seed", seed, "-n", "5000", "--out", str(out))
        (runs[seed],) = [p for p in out.iterdir() if p.is_dir()]
    p = cli(
        "gate", "--baseline", str(runs["1"]), "--candidate", str(runs["2"]), "--rules", "builtin:hardware-mix",
        "--out", str(tmp_path / "gates"), check=False,
    )
    (gate_dir,) = list((tmp_path / "gates").iterdir())
    expected = json.loads((gate_dir / "decision.json").read_text())

    base = servesim.simulate("hardware", seed=1, requests=5000)
    cand = servesim.simulate("hardware", seed=2, requests=5000)
    d = servesim.gate(base, cand, "builtin:hardware-mix")
    assert d.verdict == expected["verdict"] and d.exit_code == expected["exit_code"] == p.returncode
    assert d.rules == expected["rules"] == "hardware-mix"
    assert d.evidence == expected["evidence"]
    # Summaries as dicts decide the same.
    assert servesim.gate(base.summary, cand.summary, "builtin:hardware-mix") == d


def test_every_verdict_and_its_next_action(tmp_path):
    rules = """name = "t"
[[rule]]
metric = "latency_ms.p99"
kind = "max_relative_increase"
limit = 0.1
action = "block"
[[rule]]
metric = "quality"
kind = "max_absolute_decrease"
limit = 0.01
action = "rollback"
[[rule]]
metric = "slo.attainment"
kind = "min"
limit = 0.99
action = "warn"
"""
    base = {"latency_ms": {"p99": 100.0}, "quality": 0.90, "slo": {"attainment": 0.995}}

    def cand(p99, q, slo):
        return {"latency_ms": {"p99": p99}, "quality": q, "slo": {"attainment": slo}}

    verdicts = [
        servesim.gate(base, cand(109.0, 0.895, 0.995), rules),
        servesim.gate(base, cand(109.0, 0.895, 0.98), rules),
        servesim.gate(base, cand(111.0, 0.895, 0.98), rules),
        servesim.gate(base, cand(111.0, 0.88, 0.98), rules),
    ]
    assert [d.verdict for d in verdicts] == ["accept", "warn", "block", "rollback"]
    assert [d.exit_code for d in verdicts] == [0, 3, 4, 5]
    assert [len(d.failed) for d in verdicts] == [0, 1, 2, 3]
    assert "roll back" in verdicts[3].next_action and "verdict: rollback" in str(verdicts[3])
    path = tmp_path / "rules.toml"
    path.write_text(rules)
    assert servesim.gate(base, cand(111.0, 0.88, 0.98), str(path)) == verdicts[3]
    # A metric missing from the candidate fails its rule.
    missing = servesim.gate(base, {"quality": 0.9, "slo": {"attainment": 1.0}}, rules)
    assert missing.verdict == "block" and "missing from the candidate" in missing.failed[0]["outcome"]


def test_bad_rules_are_input_errors(cli, tmp_path):
    with pytest.raises(servesim.InputError, match="unknown built-in rule set `nope`"):
        servesim.gate({}, {}, "builtin:nope")
    path = tmp_path / "r.toml"
    path.write_text('name = "x"\n[[rule]]\nmetric = "q"\nkind = "max_relative_increase"\nlimit = -1.0\naction = "warn"\n')
    with pytest.raises(servesim.InputError) as e:
        servesim.gate({}, {}, str(path))
    assert "rule[0].limit" in str(e.value) and str(path) in str(e.value)
    assert set(servesim.rule_sets()) >= {"int8-vs-fp32", "hardware-mix", "llm-release"}
