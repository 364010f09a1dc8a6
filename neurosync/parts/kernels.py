"""The spiking neurons' tick in compiled C on CPU (``kernels.c``, ``kernels_tick.h``).

Within a tick every spiking neuron runs a recursion over its M sub-steps: the OU noise, the soma
(membrane, reset, spike, refractory countdown, adaptation) and, in the backward, its adjoint walk.
Written with PyTorch operations each sub-step is several small tensor operations, and on a CPU
their dispatch costs more than their arithmetic; the parts that vectorise over the sub-steps
(the current in closed form, its soft bounds, the parameter gradients) are each a pass over
(M, B, N) memory. :class:`~neurosync.parts.substeps.CompiledTick` runs the whole tick, forward
and backward, here instead: one pass over memory each, vectorised over the neurons.

The C repeats the PyTorch statement (:meth:`SpikingNeurons.forward_fused
<neurosync.parts.spiking.SpikingNeurons.forward_fused>` with
:class:`~neurosync.parts.substeps.SomaSequence`) loop for loop and is compiled without
floating-point contraction: the spikes are the same, membranes and gradients equal within float
rounding (``tests/test_kernels.py``), independent of the number of threads. It is built once,
with the system's C compiler (``$CC``, else ``cc``), into the user cache (``$NEUROSYNC_CACHE``,
else ``$XDG_CACHE_HOME/neurosync``, else ``~/.cache/neurosync``), keyed by the source and the
flags. Without a compiler the PyTorch loops run, after one warning. ``NEUROSYNC_KERNELS=0`` (or
:func:`use_kernels`) selects the PyTorch loops; only CPU float32/float64 tensors take the kernels.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("kernels.c")
_SOURCES = (_SOURCE, _SOURCE.with_name("kernels_tick.h"))
# no contraction into fused multiply-adds: the C rounds like the PyTorch statement; no traps and no
# errno, so that the loops with selects vectorise (neither changes a result)
_FLAGS = ["-O3", "-shared", "-fPIC", "-fopenmp", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno"]
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}

_library: ctypes.CDLL | None = None
_failed = False
_enabled = os.environ.get("NEUROSYNC_KERNELS", "1") != "0"


def cache_dir() -> Path:
    """Where the compiled library is kept."""
    if "NEUROSYNC_CACHE" in os.environ:
        return Path(os.environ["NEUROSYNC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neurosync"


def _build() -> ctypes.CDLL:
    """Compile kernels.c (once per source and compiler) and load it."""
    source = b"".join(path.read_bytes() for path in _SOURCES)
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C compiler ({compiler!r} is not on PATH)")
    key = hashlib.sha256(source + " ".join([compiler, *_FLAGS]).encode()).hexdigest()[:16]
    target = cache_dir() / f"kernels-{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            built = Path(scratch) / target.name
            errors = []
            for flags in (_FLAGS, [f for f in _FLAGS if f != "-fopenmp"]):  # without OpenMP: one thread
                result = subprocess.run(
                    [compiler, *flags, "-o", str(built), str(_SOURCE)], capture_output=True, text=True
                )
                if result.returncode == 0:
                    break
                errors.append((result.stderr.strip().splitlines() or ["no message"])[0])
            else:
                raise RuntimeError(f"{compiler} failed on {_SOURCE.name}: {errors[-1]}")
            os.replace(built, target)  # atomic: concurrent processes each load a whole library
    return ctypes.CDLL(str(target))


def _load() -> ctypes.CDLL | None:
    global _library, _failed
    if _library is None and not _failed:
        try:
            _library = _build()
        except (OSError, RuntimeError) as error:
            _failed = True
            warnings.warn(f"neurosync: compiled tick kernels unavailable ({error}); using PyTorch loops", stacklevel=3)
    return _library


@contextlib.contextmanager
def use_kernels(enabled: bool) -> Iterator[None]:
    """Within the block, take (True) or bypass (False) the compiled loops."""
    global _enabled
    previous, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = previous


def available(*tensors: torch.Tensor) -> bool:
    """Whether these tensors take the compiled loops: enabled, CPU, float32/float64, built."""
    if not _enabled:
        return False
    first = tensors[0]
    if first.dtype not in _SUFFIX or any(t.device.type != "cpu" or t.dtype != first.dtype for t in tensors):
        return False
    return _load() is not None


def max_filters() -> int:
    """The dendritic filters per neuron the tick kernels take (``MAX_FILTERS`` in kernels.c); call
    after :func:`available`."""
    library = _load()
    assert library is not None  # callers check available() first
    return ctypes.c_int.in_dll(library, "neurosync_max_filters").value


def _pointer(tensor: torch.Tensor | None) -> ctypes.c_void_p:
    """The address of a tensor that the caller keeps alive (and contiguous) over the call."""
    assert tensor is None or tensor.is_contiguous()
    return ctypes.c_void_p(None if tensor is None else tensor.data_ptr())


def _kernel(name: str, dtype: torch.dtype):
    library = _load()
    assert library is not None  # callers check available() first
    return getattr(library, f"{name}_{_SUFFIX[dtype]}")


def _scalar(value: float, dtype: torch.dtype):
    return ctypes.c_float(value) if dtype == torch.float32 else ctypes.c_double(value)


def _threads() -> ctypes.c_int:
    return ctypes.c_int(torch.get_num_threads())


def ou_sequence(decay: float, scale: float, start: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """n[m] = ε n[m−1] + c ξ[m], m = 1..M, from n[0] = ``start``: ``(M, *start.shape)``."""
    start, xi = start.contiguous(), xi.contiguous()
    out = torch.empty_like(xi)
    _kernel("ou_sequence", xi.dtype)(
        ctypes.c_int(xi.shape[0]),
        ctypes.c_ssize_t(start.numel()),
        _scalar(decay, xi.dtype),
        _scalar(scale, xi.dtype),
        _pointer(start),
        _pointer(xi),
        _pointer(out),
        _threads(),
    )
    return out


class TickShape(ctypes.Structure):
    """The constants of one tick (``TickShape`` in kernels.c)."""

    _fields_ = [
        ("steps", ctypes.c_int),
        ("rows", ctypes.c_int),
        ("neurons", ctypes.c_int),
        ("filters", ctypes.c_int),
        ("threshold_per_sample", ctypes.c_int),
        ("bounded", ctypes.c_int),
        ("relative_floor", ctypes.c_int),
        ("floor_value", ctypes.c_double),
        ("floor_margin", ctypes.c_double),
        ("ceiling_margin", ctypes.c_double),
        ("width", ctypes.c_double),
        ("refractory_steps", ctypes.c_int),
        ("surrogate", ctypes.c_int),
        ("slope", ctypes.c_double),
        ("threads", ctypes.c_int),
    ]


def tick_forward(shape: TickShape, *tensors: torch.Tensor | None) -> None:
    """``tick_forward`` of kernels.c on contiguous tensors, in its argument order."""
    _call("tick_forward", shape, tensors)


def tick_backward(shape: TickShape, *tensors: torch.Tensor | None) -> None:
    """``tick_backward`` of kernels.c on contiguous tensors, in its argument order."""
    _call("tick_backward", shape, tensors)


def _call(name: str, shape: TickShape, tensors: tuple[torch.Tensor | None, ...]) -> None:
    dtype = next(t.dtype for t in tensors if t is not None)
    shape.threads = torch.get_num_threads()
    _kernel(name, dtype)(ctypes.byref(shape), *(_pointer(t) for t in tensors))
