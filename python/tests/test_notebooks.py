"""Every notebook in notebooks/ is committed without outputs and executes without an error."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(os.environ.get("SERVESIM_ROOT", Path(__file__).resolve().parents[2]))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {ROOT / 'notebooks'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_executes_without_error(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # Runs in a scratch directory, so that nothing a notebook writes lands in the tree; a cell that
    # raises fails the test with the cell and its traceback (nbclient's CellExecutionError).
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("verdict" in t for t in text), f"{path.name} does not print the gate's verdict"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_uses_the_python_api_and_ends_with_the_four_steps(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import servesim" in code
    for shell in ("subprocess", "os.system", "\n!"):
        assert shell not in code, f"{path.name}: runs a command ({shell!r}) instead of the Python API"
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("## ")]
    steps = [h for h in headings if h[3:4].isdigit()]
    assert [h[3:5] for h in steps] == ["1.", "2.", "3.", "4."], f"{path.name}: {headings}"
    assert "servesim.gate(" in code, f"{path.name}: no declared rule is applied"


def test_servesim_notebooks_executes_and_renders_them_to_html(cli, tmp_path):
    # `servesim notebooks` (the last step of `servesim course`): nbconvert in the environment beside
    # the binary — this one. One notebook here (they all run above); its HTML shows its verdict.
    src = tmp_path / "src"
    src.mkdir()
    (src / "quantization-preview.ipynb").write_bytes((ROOT / "notebooks/quantization-preview.ipynb").read_bytes())
    out = cli("notebooks", "--dir", str(src), "--out", str(tmp_path / "html")).stdout
    html = (tmp_path / "html" / "quantization-preview.html").read_text()
    assert "<html" in html and "verdict: " in html and "teacher-int8" in html
    verdict = html[html.rindex("verdict: ") :].split("\n")[0]
    assert f"quantization-preview.html  {verdict}" in out.replace("&gt;", ">")
    assert "1 notebooks executed" in out


def test_without_a_usable_python_nothing_is_executed_and_it_says_why(cli, tmp_path):
    args = ["--dir", str(ROOT / "notebooks"), "--out", str(tmp_path / "h"), "--python", str(tmp_path / "none")]
    p = cli("notebooks", *args, check=False)
    assert p.returncode == 1 and "notebooks not executed: no Python 3 at" in p.stderr
    assert not (tmp_path / "h").exists()


def test_a_long_run_shows_a_progress_bar_in_jupyter(tmp_path):
    # In a kernel, progress=None draws a bar only for long runs; progress=True always (an HTML
    # <progress> updated in place where tqdm is not installed, as in this environment).
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('import servesim\nrun = servesim.simulate("mm1", requests=300_000, progress=True)'),
        nbformat.v4.new_code_cell('short = servesim.simulate("mm1", requests=300_000)'),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [o["data"]["text/html"] for o in nb.cells[0].outputs if "text/html" in o.get("data", {})]
    # One bar, updated in place (nbclient applies the updates to it) until the run is done.
    assert len(shown) == 1 and "<progress" in shown[0]
    assert 'value="300000" max="300000"' in shown[0] and "300,000/300,000 requests" in shown[0]
    assert nb.cells[1].outputs == []
