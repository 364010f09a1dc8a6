"""Repository-level pytest set-up: notebooks run with `pytest --nbmake notebooks` run at small settings."""

import os

os.environ.setdefault("NEUROSYNC_NOTEBOOK_SCALE", "ci")
