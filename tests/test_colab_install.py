"""Installing facelab the way a chapter's Colab cell does never changes the torch, torchvision or numpy there.

Colab comes with torch, torchvision and numpy (CUDA builds matched to its driver); re-installing any of them
breaks the runtime or downloads gigabytes. The test makes a fresh virtual environment that already holds
those packages (this project's, made visible through a ``.pth`` file, as Colab's preinstalled packages are
visible to its pip), installs a freshly built facelab wheel into it offline, and checks that pip planned to
install facelab alone and that every preinstalled version is unchanged afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PREINSTALLED = ("torch", "torchvision", "numpy")


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _versions(python: Path) -> dict[str, str]:
    listing = json.loads(_run(python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"))
    return {entry["name"].lower(): entry["version"] for entry in listing}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """facelab built into a wheel from a copy of the source (the build leaves nothing in the repository)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("facelab", "pyproject.toml", "README.md"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", out, source)
    (found,) = out.glob("facelab-*.whl")
    return found


@pytest.mark.slow
def test_installing_facelab_keeps_the_preinstalled_torch_torchvision_and_numpy(tmp_path, wheel):
    env = tmp_path / "colab"
    # no pip of its own: the preinstalled pip and setuptools (recent, as on Colab) come in with the rest
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "colab_preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    before = _versions(python)
    assert all(name in before for name in PREINSTALLED), f"the fresh environment should see {PREINSTALLED}"

    report = tmp_path / "report.json"
    _run(python, "-m", "pip", "install", "--no-index", "--dry-run", "--report", report, "-q", wheel)
    planned = [item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]]
    assert planned == ["facelab"], f"pip would also install {planned}: a requirement re-pins a Colab package"

    _run(python, "-m", "pip", "install", "--no-index", "-q", wheel)
    after = _versions(python)
    for name in PREINSTALLED:
        assert after[name] == before[name], f"installing facelab changed {name}: {before[name]} -> {after[name]}"
    assert (site / "facelab" / "__init__.py").exists(), "facelab was not installed into the fresh environment"
