"""Import optional dependencies with a one-line message naming the extra that provides them."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


def require(module: str, extra: str) -> ModuleType:
    try:
        # import-time notices of third-party packages are theirs (fooof announces specparam
        # after setting every warning to 'always'); recording them here keeps the filters intact
        with warnings.catch_warnings(record=True):
            return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"'{module}' is needed for this feature: pip install 'neurosync[{extra}]'") from None
