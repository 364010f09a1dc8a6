"""The documentation: the Sphinx site builds with warnings as errors, with the notebooks executed and
their figures, the model cards, results and benchmark pages generated; the examples of its pages run
(doctest); the README's Python block runs as written and its model table is the one the metrics
give; nothing cites a tracker or a session; every public module, class and function has a
docstring."""

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import neurosync

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("sphinx")


@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_the_site_builds_without_a_warning_and_its_examples_run(tmp_path, builder):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            builder,
            str(REPO / "docs"),
            str(tmp_path / builder),
        ],
        capture_output=True,
        text=True,
        # the html build executes the notebooks (at small settings); the doctest build need not again
        env={**os.environ, "MPLBACKEND": "Agg", "NEUROSYNC_DOCS_EXECUTE": "force" if builder == "html" else "off"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if builder == "html":
        api = (tmp_path / "html" / "api.html").read_text()
        assert "neurosync.ctm.CTM.think_until_certain" in api and "neurosync.hub.from_pretrained" in api
        site = tmp_path / "html" / "_generated"
        for page in (
            "models/digits-cortical.html",
            "results/study-digits.html",
            "results/study-parity8.html",
            "benchmarks/index.html",
        ):
            assert (site / page).is_file(), page
        for notebook in sorted((REPO / "notebooks").glob("0*.ipynb")):  # executed, with their figures
            html = (site / "notebooks" / f"{notebook.stem}.html").read_text()
            assert "<img" in html and "Traceback" not in html, notebook.name
    else:
        report = (tmp_path / "doctest" / "output.txt").read_text()
        assert (
            re.search(r"(\d+) passed and 0 failed", report) and int(re.search(r"(\d+) passed", report).group(1)) >= 20
        )


def test_the_readme_python_blocks_run_as_written(monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 1
    monkeypatch.chdir(REPO)  # the README's relative paths are the repository's
    namespace: dict = {}
    for block in blocks:  # in order, in one namespace, as a reader pastes them
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["card"]["rows"] and namespace["fit"]["method"]
    assert namespace["output"].logits.shape[0] == 1


def test_every_neurosync_command_in_the_readme_parses():
    """Each `neurosync ...` line of the README's shell blocks is a valid command line (its
    arguments parse; nothing runs), so no example teaches an option that does not exist."""
    import shlex

    from neurosync.cli import _parser

    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    commands = [line.split("#")[0] for block in blocks for line in block.splitlines() if line.startswith("neurosync ")]
    assert len(commands) >= 10
    for command in commands:
        _parser().parse_args(shlex.split(command)[1:])


def test_the_readme_lists_the_shipped_models_from_their_metrics():
    from neurosync import zoo

    text = (REPO / "README.md").read_text()
    assert text == zoo.readme_with_table(text), "run neurosync models --measure NAME to refresh the README's table"
    assert len(text.splitlines()) <= 200


def test_nothing_in_the_product_or_its_tests_cites_a_tracker_or_a_session():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    cited = []
    for name in tracked:
        if name == "CHANGELOG.md" or not name.endswith((".py", ".md", ".rst", ".toml", ".ipynb")):
            continue
        for number, line in enumerate((REPO / name).read_text(errors="ignore").splitlines(), 1):
            if re.search(
                r"\bissue \d+|\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth) session\b",
                line,
                re.I,
            ):
                cited.append(f"{name}:{number}")
    assert not cited, cited


def _public_modules():
    for info in pkgutil.walk_packages(neurosync.__path__, "neurosync."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield info.name


def test_every_public_module_class_and_function_has_a_docstring():
    missing = []
    for name in ["neurosync", *_public_modules()]:
        module = importlib.import_module(name)
        if not inspect.getdoc(module):
            missing.append(name)
        for attr, value in vars(module).items():
            if attr.startswith("_") or getattr(value, "__module__", None) != name:
                continue
            if inspect.isfunction(value) or inspect.isclass(value):
                if not (value.__doc__ or "").strip():
                    missing.append(f"{name}.{attr}")
    assert not missing, f"{len(missing)} public names without a docstring: {missing}"
