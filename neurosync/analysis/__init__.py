"""Neuroscience-style statistics of a :class:`~neurosync.recording.Recording`, one module a job:

- :mod:`.spikes`: rates, CV(ISI), Fano factors, orderings, spike-count correlations, STTC;
- :mod:`.spectra`: Welch spectra, band powers, spectrograms, coherence, the aperiodic fit;
- :mod:`.synchrony`: pairwise synchrony across timescales;
- :mod:`.figures`: rasters, spectra and matrices as matplotlib figures;
- :mod:`.dynamics`: a thought as population dynamics (decoding over time, trajectories, dimensionality);
- :mod:`.field`: field-potential proxies from the synaptic currents, their spectra parameterised;
- :mod:`.physiology`: the physiology card, each statistic beside its cortical range;
- :mod:`.plasticity`: a plastic synapse's fast weight within a thought (trajectory, currents, a lesion);
- :mod:`.ablation`: arms × seeds at equal steps into one table with CIs and verdicts (``neurosync ablate``).


Functions take a Recording (or plain arrays) and return numpy values in physical units:
rates in Hz, times in seconds, spectra in (spikes/s)²/Hz over Hz. Undefined values (the CV of a
neuron with fewer than two intervals, the Fano factor of a neuron that never fires) are NaN by
definition, never an error. The frequency resolution of a spectrum is 1 / (duration of the
segment): 1 / (ticks · dt) for a single thought; concatenate thoughts or record long ones for
finer resolution: ``sample=None`` averages the Welch spectra of all recorded thoughts (trials).

Spike trains, STTC, spectra and coherence equal Elephant's and scipy's on the same data (tested to
1e-6); the all-pairs functions (:func:`sttc_matrix`, :func:`synchrony_matrices`) are vectorised
(see ``benchmarks/analysis_speed.py``).
"""

from __future__ import annotations

from .field import field_potential, field_spectrum, field_summary, inhibition_scaled, parameterise
from .figures import (
    _pyplot,  # noqa: F401 (the lazy pyplot import that report.py and tasks/maze.py use)
    matrix_figure,
    physiology_figure,
    population_rate_curves,
    raster_figure,
    spectrum_figure,
)
from .physiology import (
    CORTICAL_RANGES,
    card_text,
    ei_balance,
    fano_factors,
    mean_pairwise_correlation,
    noise_correlation,
    physiology,
    power_law_fit,
    spectral_peaks,
)
from .spectra import (
    BANDS,
    aperiodic_fit,
    band_powers,
    group_coherence,
    population_spectrum,
    power_spectrum,
    sampling_rate,
    spectrogram,
)
from .spikes import (
    correlation_matrix,
    fano_factor,
    firing_rates,
    isi_cv,
    isi_histogram,
    neuron_order,
    population_rate,
    recording_sttc,
    sttc_matrix,
)
from .synchrony import synchrony_matrices

__all__ = [
    "BANDS",
    "CORTICAL_RANGES",
    "card_text",
    "ei_balance",
    "fano_factors",
    "field_potential",
    "field_spectrum",
    "field_summary",
    "inhibition_scaled",
    "parameterise",
    "mean_pairwise_correlation",
    "noise_correlation",
    "physiology",
    "physiology_figure",
    "population_rate_curves",
    "power_law_fit",
    "spectral_peaks",
    "aperiodic_fit",
    "band_powers",
    "correlation_matrix",
    "fano_factor",
    "firing_rates",
    "group_coherence",
    "isi_cv",
    "isi_histogram",
    "matrix_figure",
    "neuron_order",
    "population_rate",
    "population_spectrum",
    "power_spectrum",
    "raster_figure",
    "recording_sttc",
    "sampling_rate",
    "spectrogram",
    "spectrum_figure",
    "sttc_matrix",
    "synchrony_matrices",
]
