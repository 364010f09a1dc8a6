"""Writing an export: a fresh name, a partial file renamed into place."""

from __future__ import annotations

from pathlib import Path


def _fresh(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.exists():
        raise ValueError(f"{path} exists; choose a new file name (exports never overwrite)")
    if not path.parent.exists():
        raise ValueError(f"directory {path.parent} does not exist")
    return path, path.with_name(f".{path.name}.partial{path.suffix}")
