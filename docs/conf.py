"""Sphinx configuration of NeuroSync's documentation (built by tests/test_docs.py with warnings as errors).

sphinx-build -W -b html docs docs/_build/html      # the site
sphinx-build -W -b doctest docs docs/_build/doctest # runs the examples of the pages
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "NeuroSync"
author = "NeuroSync"
copyright = "2026, NeuroSync"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest", "sphinx.ext.mathjax", "sphinx.ext.viewcode"]
exclude_patterns = ["_build"]
autodoc_default_options = {"members": True, "ignore-module-all": True, "member-order": "bysource"}
autodoc_inherit_docstrings = False  # torch.autograd.Function's own forward/backward texts are torch's, not ours
autodoc_typehints = "description"
html_theme = "alabaster"
html_static_path = []
doctest_global_setup = """
import torch
torch.manual_seed(0)
"""
