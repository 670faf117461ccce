"""The Kubernetes Indexed Job of README.md (docs/kubernetes/sweep-job.yaml).

No cluster runs here: the manifest is validated against the Kubernetes 1.33 JSON schema of batch/v1
Job (`kubernetes-validate`, pinned, strict: an unknown or misspelt field fails), the fields the README
relies on are checked, and its pods' command is run as the Job would run it — once per completion
index, with JOB_COMPLETION_INDEX set — followed by the documented merge; the merged table must equal
a single-machine sweep of the same grid.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import servesim
import yaml

ROOT = Path(os.environ.get("SERVESIM_ROOT", Path(__file__).resolve().parents[2]))
MANIFEST = ROOT / "docs/kubernetes/sweep-job.yaml"


@pytest.fixture(scope="module")
def job():
    return yaml.safe_load(MANIFEST.read_text())


def test_the_readme_shows_the_manifest():
    readme = (ROOT / "README.md").read_text()
    assert "```yaml\n" + MANIFEST.read_text() + "```" in readme


def test_valid_against_the_kubernetes_schema(job):
    assert kubernetes_validate.validate(job, "1.33", strict=True) == "1.33"
    typo = yaml.safe_load(MANIFEST.read_text())
    typo["spec"]["completionMod"] = typo["spec"].pop("completionMode")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, "1.33", strict=True)


def test_one_index_per_shard(job):
    spec = job["spec"]
    assert (job["apiVersion"], job["kind"], spec["completionMode"]) == ("batch/v1", "Job", "Indexed")
    (container,) = spec["template"]["spec"]["containers"]
    command = container["command"][-1]
    shards = int(re.search(r"--shard \$\{JOB_COMPLETION_INDEX\}/(\d+)", command).group(1))
    assert spec["completions"] == shards, "every shard index must be a completion"
    assert spec["template"]["spec"]["restartPolicy"] == "OnFailure"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/sweeps", "/cfg"} <= mounts


def test_its_pods_and_the_merge_give_the_single_machine_sweep(job, tmp_path):
    binary = os.environ["SERVESIM_BIN"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "servesim").symlink_to(binary)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    # The ConfigMap's scenario: mm1, small enough for a test (16 points).
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "my.toml").write_text(servesim.scenarios()["mm1"].replace("requests = 200000", "requests = 5000"))
    sweeps = tmp_path / "sweeps"
    spec = job["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    sh, dash_c, command = container["command"]
    assert (sh, dash_c) == ("sh", "-c")
    command = command.replace("/cfg/", f"{cfg}/").replace("-o /sweeps", f"-o {sweeps}")
    for index in range(spec["completions"]):
        p = subprocess.run([sh, dash_c, command], env={**env, "JOB_COMPLETION_INDEX": str(index)},
                           capture_output=True, text=True)
        assert p.returncode == 0, f"pod {index}: {p.stderr}"
    then = MANIFEST.read_text().splitlines()[-1]
    merge = then.split("&& ", 1)[1].replace("/sweeps", str(sweeps))
    p = subprocess.run(["sh", "-c", merge], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    single = tmp_path / "single"
    grid = re.search(r"sweep (.*) --shard", command).group(1)
    p = subprocess.run(["sh", "-c", f"servesim sweep {grid} -o {single}"], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (merged_dir,) = list((sweeps / "merged").iterdir())
    (single_dir,) = list(single.iterdir())
    assert merged_dir.name == single_dir.name
    assert (merged_dir / "sweep.csv").read_text() == (single_dir / "sweep.csv").read_text()
    assert len((single_dir / "sweep.csv").read_text().splitlines()) == 1 + spec["completions"]
