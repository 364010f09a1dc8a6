"""The population spectrum and its band powers as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from ._files import _fresh


def write_spectra_csv(spectrum: dict, path: str | Path) -> Path:
    """Two CSV files: ``path`` (frequency_hz, power) and ``<stem>_bands.csv`` (band, low_hz,
    high_hz, power), with the resolution and sampling rate in a comment line."""
    from ..analysis import BANDS

    path, partial = _fresh(path)
    bands_path, bands_partial = _fresh(path.with_name(f"{path.stem}_bands.csv"))
    header = f"# resolution_hz={spectrum['resolution_hz']:.6g} sampling_rate_hz={spectrum['sampling_rate_hz']:.6g}"
    with open(partial, "w", newline="") as handle:
        handle.write(header + "\n")
        writer = csv.writer(handle)
        writer.writerow(["frequency_hz", "power"])
        writer.writerows(zip(spectrum["frequencies_hz"].tolist(), spectrum["power"].tolist()))
    with open(bands_partial, "w", newline="") as handle:
        handle.write(header + "\n")
        writer = csv.writer(handle)
        writer.writerow(["band", "low_hz", "high_hz", "power"])
        for name, value in spectrum["bands"].items():
            writer.writerow([name, *BANDS[name], value])
    partial.replace(path)
    bands_partial.replace(bands_path)
    return path
