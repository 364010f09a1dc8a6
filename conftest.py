"""Repository-level pytest set-up: the notebooks (collected by nbmake) run at small settings."""

import os

os.environ.setdefault("NEUROSYNC_NOTEBOOK_SCALE", "ci")
