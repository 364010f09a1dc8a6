"""The package as a user installs it: a wheel that builds and passes ``twine check``, and a
non-editable install of it that runs the command line and the study at its --quick settings."""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = dist.glob("neurosync-*.whl")
    return built


def test_the_wheel_holds_the_package_and_passes_twine_check(wheel):
    pytest.importorskip("twine")
    names = zipfile.ZipFile(wheel).namelist()
    assert "neurosync/cortical.py" in names and "neurosync/parts/equations.py" in names
    assert {"neurosync/parts/kernels.c", "neurosync/parts/kernels_tick.h"} <= set(names)  # the compiled tick's source
    assert not any(name.startswith(("tests/", "models/", "runs/")) for name in names)
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "PASSED" in done.stdout, done.stdout + done.stderr


def test_a_non_editable_install_runs_the_cli_and_the_quick_study(wheel, tmp_path):
    """A fresh environment holding the wheel (its dependencies reached through this environment's
    site-packages): ``neurosync --help`` and ``neurosync study experiments/study.toml --quick`` run
    from the installed package, not from this checkout."""
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(python), "-c", "import neurosync; print(neurosync.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(env)), where
    cli = env / "bin" / "neurosync"
    assert "usage: neurosync" in subprocess.run([str(cli), "--help"], check=True, capture_output=True, text=True).stdout
    out = tmp_path / "study"
    subprocess.run(
        [str(cli), "study", str(REPO / "experiments" / "study.toml"), "--quick", "--quiet", "--out", str(out)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert (out / "report.html").is_file() and (out / "study.json").is_file()
