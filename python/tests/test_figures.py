"""The course's figures from Python are the course's: the same step, the same data and caption
as `servesim course --quick` (tests/golden/course-quick, checked against the binary by
tests/cli.rs), shown inline as SVG."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import servesim
from servesim import figures

ROOT = Path(os.environ.get("SERVESIM_ROOT", Path(__file__).resolve().parents[2]))
GOLDEN = ROOT / "tests/golden/course-quick"


def test_every_simulated_course_figure_is_here_by_id_and_by_name():
    ids = figures.ids()
    assert ids[0] == "traces" and len(ids) == len(set(ids)) == 19
    for i in ids:
        named = getattr(figures, i.replace("-", "_"))
        assert named.__name__ == i.replace("-", "_") and f"``{i}``" in named.__doc__, i
        assert i.replace("-", "_") in figures.__all__
    # Every golden figure of the course is either drawn here or measured on ONNX Runtime.
    golden = {p.stem for p in GOLDEN.glob("*.json")}
    assert golden - set(ids) == {"models-accuracy-vs-memory"}
    measured = figures.measured_ids()
    assert measured == ["models-accuracy-vs-memory", "calibration", "validation", "cascade-threshold"]
    assert golden - set(ids) <= set(measured)
    for i in measured:
        named = getattr(figures, i.replace("-", "_"))
        assert f"``{i}``" in named.__doc__ and i.replace("-", "_") in figures.__all__, i


def test_a_measured_figure_without_its_models_names_their_directory_and_the_command(tmp_path):
    # The measured figures run the course's own steps on ONNX Runtime, on models built beforehand:
    # never built here, and the error says where they were looked for and how to build them.
    missing = tmp_path / "models"
    for draw in (figures.models_accuracy_vs_memory, figures.calibration, figures.validation, figures.cascade_threshold):
        with pytest.raises(servesim.InputError, match="no tiny models built here") as e:
            draw(models=missing, out=tmp_path / "out")
        assert str(e.value).startswith(f"{missing}: ")
        assert f"`servesim models build --preset tiny --out {missing}`" in str(e.value), e.value
    # A build of the other preset is not taken for the one the scale needs.
    missing.mkdir()
    (missing / "index.json").write_text('{"preset": "tiny"}')
    with pytest.raises(servesim.InputError, match=f"`servesim models build --preset course --out {missing}`"):
        figures.figure("cascade-threshold", models=missing, quick=False)
    with pytest.raises(ValueError, match="measures models on ONNX Runtime: pass models=DIR"):
        figures.figure("validation")
    with pytest.raises(servesim.InputError, match="unknown measured figure `stalls`"):
        figures.measured("stalls", models=missing)


@pytest.mark.parametrize("id", ["latency-vs-load", "cache-hit-ratio", "llm-prefix-hit-rate", "llm-groundtruth"])
def test_a_figure_is_the_courses_golden_figure(id, tmp_path):
    fig = figures.figure(id, out=tmp_path)
    assert fig.json == (GOLDEN / f"{id}.json").read_text()
    golden = json.loads(fig.json)
    assert (fig.title, fig.caption, list(fig.run_ids)) == (golden["title"], golden["caption"], golden["run_ids"])
    assert fig._repr_svg_().startswith("<svg") and fig.title in fig.svg
    # Every simulated point left its config, named by the run id the figure cites.
    configs = {p.stem for p in (tmp_path / "configs").glob("*.toml")}
    assert set(fig.run_ids) <= configs or id == "llm-groundtruth"


def test_a_config_of_a_point_reruns_to_the_same_run_id(tmp_path):
    fig = figures.cache_hit_ratio(out=tmp_path)
    run_id = fig.run_ids[0]
    run = servesim.simulate(tmp_path / "configs" / f"{run_id}.toml")
    assert run.id == run_id


def test_load_renders_what_the_course_wrote(tmp_path):
    fig = figures.load(GOLDEN / "models-accuracy-vs-memory.json")
    assert fig.id == "models-accuracy-vs-memory" and fig.svg.startswith("<svg")
    assert fig.save(tmp_path / "m.svg").read_text() == fig.svg
    with pytest.raises(servesim.InputError, match="not a servesim figure"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        figures.load(bad)


def test_an_unknown_figure_lists_the_ones_there_are():
    with pytest.raises(servesim.InputError, match=r"unknown figure `nope`: .*latency-vs-load"):
        figures.figure("nope")


def test_progress_counts_the_figures_simulations():
    seen: list[tuple[int, int]] = []
    figures.batching_window(progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (7, 7)
