"""Exports of a thought to the tools neuroscientists use: NWB, Neo (NIX), NIR, CSV, NPZ.

- :func:`to_nwb` / :func:`write_nwb`: spike trains as a pynwb ``Units`` table (spike times in
  seconds, ``resolution`` = the simulation step), one trial per recorded thought, and the
  continuous signals (post-activations, membranes, certainty, logits) as ``TimeSeries`` in the
  ``misc`` processing module; DANDI-ready (see :func:`to_nwb`). Samples are laid end to end:
  thought b starts at b · ticks · dt.
- :func:`to_neo` / :func:`write_neo`: a ``neo.Block`` with one ``Segment`` per thought, a
  ``SpikeTrain`` per neuron and ``AnalogSignal`` s of the activations and membranes, ready for
  Elephant; written as NIX (HDF5).
- :func:`to_nir` / :func:`write_nir`: the spiking core of a SpikingCTM as a NIR 1.x graph
  (see its docstring for the mapping).
- :func:`write_spectra_csv`: the Welch population spectrum and band powers as CSV.

Every writer writes to a temporary name and renames, and refuses to overwrite.
"""

from __future__ import annotations

from .neo import read_neo, to_neo, write_neo
from .nir_graph import simulate_nir, to_nir, write_nir
from .nwb import inspect_nwb, to_nwb, write_nwb
from .spectra_csv import write_spectra_csv

FORMATS = ("nwb", "neo", "nir", "npz", "csv")

__all__ = [
    "FORMATS",
    "inspect_nwb",
    "read_neo",
    "simulate_nir",
    "to_neo",
    "to_nir",
    "to_nwb",
    "write_neo",
    "write_nir",
    "write_nwb",
    "write_spectra_csv",
]
