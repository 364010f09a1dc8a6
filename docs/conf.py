"""Sphinx configuration of NeuroSync's documentation (built by tests/test_docs.py with warnings as errors).

sphinx-build -W -b html docs docs/_build/html      # the site, the notebooks executed at small settings
sphinx-build -W -b doctest docs docs/_build/doctest # runs the examples of the pages

The model zoo, the benchmark pages and the notebooks are generated into ``docs/_generated/`` at
every build, from ``models/*/metrics.json``, ``benchmarks/results/*.md`` and ``notebooks/``.
"""

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NEUROSYNC_NOTEBOOK_SCALE", "ci")  # the notebooks run at their small settings
os.environ.setdefault("NEUROSYNC_ROOT", str(ROOT))  # where the executed notebooks find models/ and configs/


def _front_matter_removed(card: str) -> str:
    return card.split("\n---\n", 1)[1].lstrip() if card.startswith("---\n") else card


def _generate() -> None:
    """Write the pages generated from committed files into docs/_generated/."""
    from neurosync import zoo

    out = DOCS / "_generated"
    shutil.rmtree(out, ignore_errors=True)
    (out / "models").mkdir(parents=True)
    names = [row["name"] for row in zoo.zoo()]
    toctree = "\n".join(names)
    (out / "models" / "index.md").write_text(
        "# Pretrained models\n\n"
        "The models shipped in `models/`, each a self-contained folder; every number below is read from "
        "its `metrics.json`, written by `neurosync models --measure NAME`. Load one with "
        "`neurosync.pretrained(name)`.\n\n"
        + zoo.zoo_table(link="{name}.md")
        + f"\n\n```{{toctree}}\n:hidden:\n\n{toctree}\n```\n"
    )
    for name in names:
        (out / "models" / f"{name}.md").write_text(_front_matter_removed(zoo.render_card(name)))
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    _section(
        out / "benchmarks",
        "Benchmarks",
        "Each page is a committed result of a script in `benchmarks/`, with the command and the machine that "
        "gave it; ratios are measured side by side in one run.",
        {path.stem: path.read_text() for path in results},
    )
    from neurosync.study import summary_markdown

    pages = {}
    for path in sorted((ROOT / "experiments" / "results").glob("study-*.json")):
        summary = json.loads(path.read_text())
        pages[path.stem] = (
            f"# The study `{summary['name']}`\n\nFrom `experiments/results/{path.name}`, the `study.json` that "
            f"`neurosync study` wrote.\n\n" + summary_markdown(summary)
        )
    from neurosync.analysis import dynamics, field

    committed = ROOT / "experiments" / "results"
    pages["field-potential"] = field.report_markdown(json.loads((committed / "field-potential.json").read_text()))
    pages["thought-dynamics"] = dynamics.report_markdown(json.loads((committed / "thought-dynamics.json").read_text()))
    for path in sorted(committed.glob("tune-*.md")):  # neurosync tune's tables, as written
        pages[path.stem] = path.read_text()
    figures = sorted((ROOT / "experiments" / "figures").glob("*-field.png"))
    _section(
        out / "results",
        "Results",
        "The committed results of the experiments in `experiments/`, rendered from their JSON.",
        pages,
    )
    for figure in figures:  # the field page's figures, beside it
        shutil.copy(figure, out / "results" / figure.name)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    _section(
        out / "notebooks",
        "Notebooks",
        "The notebooks of `notebooks/`, executed when this site was built, at their small settings "
        "(`NEUROSYNC_NOTEBOOK_SCALE=ci`).",
        {path.stem: path for path in notebooks},
    )


def _section(folder: Path, title: str, text: str, pages: dict) -> None:
    """A folder of generated pages (Markdown text, or a notebook's path to copy) and its index."""
    folder.mkdir()
    for stem, page in pages.items():
        if isinstance(page, Path):
            shutil.copy(page, folder / page.name)
        else:
            (folder / f"{stem}.md").write_text(page)
    listing = "\n".join(pages)
    (folder / "index.md").write_text(f"# {title}\n\n{text}\n\n```{{toctree}}\n:maxdepth: 1\n\n{listing}\n```\n")


_generate()

project = "NeuroSync"
author = "NeuroSync"
copyright = "2026, NeuroSync"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest", "sphinx.ext.mathjax", "sphinx.ext.viewcode", "myst_nb"]
exclude_patterns = ["_build", "jupyter_execute"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
# every build executes the notebooks, so that their figures are the code's; NEUROSYNC_DOCS_EXECUTE=off skips it
nb_execution_mode = os.environ.get("NEUROSYNC_DOCS_EXECUTE", "force")
if nb_execution_mode != "off":  # the kernels inherit the environment: their figures inline, not into Agg
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
nb_execution_timeout = 600
nb_execution_raise_on_error = True  # a failing cell fails the build
autodoc_default_options = {"members": True, "ignore-module-all": True, "member-order": "bysource"}
autodoc_inherit_docstrings = False  # torch.autograd.Function's own forward/backward texts are torch's, not ours
autodoc_typehints = "description"
html_theme = "alabaster"
html_static_path = []
doctest_global_setup = """
import torch
torch.manual_seed(0)
"""
