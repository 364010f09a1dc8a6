"""Neo: a Block with a Segment per thought, written as NIX, ready for Elephant."""

from __future__ import annotations

from pathlib import Path

from .._optional import require
from ._files import _fresh


def to_neo(recording):
    """The recording as a ``neo.Block``: one Segment per thought, a SpikeTrain per neuron (spiking)
    and AnalogSignals of the activations (and membranes). Needs the ``io`` extra."""
    neo = require("neo", "io")
    import quantities as pq

    block = neo.Block(
        name=(recording.config or {}).get("name", "ctm"),
        description=f"NeuroSync {recording.kind} CTM",
        dt_per_tick_s=recording.dt,
    )
    duration = recording.ticks * recording.dt
    for b in range(recording.samples):
        segment = neo.Segment(name=f"thought {b}", index=b)
        if recording.kind == "spiking":
            for n, times in enumerate(recording.spike_times(b)):
                segment.spiketrains.append(
                    neo.SpikeTrain(
                        times,
                        units="s",
                        t_start=0.0,
                        t_stop=duration,
                        sampling_rate=1 / recording.step_duration * pq.Hz,
                        name=f"neuron {n}",
                        neuron=n,
                    )
                )
        segment.analogsignals.append(
            neo.AnalogSignal(
                recording.activity[b], units="dimensionless", sampling_rate=1 / recording.dt * pq.Hz, name="activity"
            )
        )
        if recording.membrane is not None:
            segment.analogsignals.append(
                neo.AnalogSignal(
                    recording.membrane[b],
                    units="dimensionless",
                    sampling_rate=1 / recording.step_duration * pq.Hz,
                    name="membrane",
                )
            )
        block.segments.append(segment)
    return block


def write_neo(recording, path: str | Path) -> Path:
    """Write the Neo Block as NIX (HDF5; needs the ``io`` extra, nixio)."""
    neo = require("neo", "io")
    require("nixio", "io")
    path, partial = _fresh(path)
    io = neo.io.NixIO(str(partial), mode="ow")
    try:
        io.write_block(to_neo(recording))
    finally:
        io.close()
    partial.replace(path)
    return path


def read_neo(path: str | Path):
    """The Neo Block of a NIX file :func:`write_neo` wrote."""
    neo = require("neo", "io")
    io = neo.io.NixIO(str(path), mode="ro")
    try:
        return io.read_block()
    finally:
        io.close()
