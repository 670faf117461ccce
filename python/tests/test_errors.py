"""Bad input raises servesim.InputError with the CLI's message: the file, row or key, and why."""

from __future__ import annotations

import pytest
import servesim
from _helpers import cli_error


def test_an_unknown_scenario_is_named_as_the_cli_names_it(cli):
    with pytest.raises(servesim.InputError) as e:
        servesim.simulate("no-such-scenario")
    assert str(e.value) == cli_error(cli("simulate", "-s", "no-such-scenario", check=False))
    assert "mm1" in str(e.value)  # the built-ins are listed


def test_a_bad_value_in_a_scenario_file_names_the_file_and_key(cli, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(servesim.scenarios()["mm1"].replace("servers = 1", "servers = 0"))
    with pytest.raises(servesim.InputError) as e:
        servesim.simulate(str(path))
    message = str(e.value)
    assert message == cli_error(cli("simulate", "-s", str(path), check=False))
    assert str(path) in message and "devices[0].servers" in message


def test_an_unknown_key_names_the_key(cli, tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(servesim.scenarios()["mm1"].replace("requests = 200000", "requets = 200000"))
    with pytest.raises(servesim.InputError) as e:
        servesim.simulate(path)
    assert str(e.value) == cli_error(cli("simulate", "-s", str(path), check=False))
    assert "requets" in str(e.value)


def test_a_dict_and_toml_text_name_the_key_too():
    scenario = {
        "name": "d",
        "workload": {"arrivals": {"kind": "poisson", "rate": -5.0}},
        "devices": [{"name": "gpu", "service": {"kind": "exponential", "mean_ms": 1.0}}],
    }
    with pytest.raises(servesim.InputError, match=r"<dict>: invalid scenario: .*rate"):
        servesim.simulate(scenario)
    with pytest.raises(servesim.InputError, match=r"<toml>: invalid scenario: .*servers"):
        servesim.simulate(servesim.scenarios()["mm1"].replace("servers = 1", "servers = 0"))


def test_a_bad_trace_row_names_file_row_and_column(cli, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,arrival_s,input_size\n0,0.5,10\n1,oops,10\n")
    with pytest.raises(servesim.InputError) as e:
        servesim.trace.read(path)
    assert str(e.value) == cli_error(cli("trace", "inspect", str(path), check=False))
    assert str(path) in str(e.value) and "arrival_s" in str(e.value)
    with pytest.raises(servesim.InputError) as e2:
        servesim.simulate("mm1", trace=path)
    assert str(e2.value) == str(e.value)


def test_a_missing_trace_file_is_an_input_error(cli, tmp_path):
    path = tmp_path / "missing.csv"
    with pytest.raises(servesim.InputError) as e:
        servesim.trace.read(path)
    assert str(e.value) == cli_error(cli("trace", "inspect", str(path), check=False))


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="scenario"):
        servesim.simulate(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="baseline"):
        servesim.gate([1], {}, "builtin:llm-release")  # type: ignore[arg-type]
