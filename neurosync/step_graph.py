"""The training step's forward and backward captured in one CUDA graph and replayed (``train.cuda_graphs``).

A CTM's thought is a loop over ticks, and at the batch sizes a tick loop trains at, each tick's
few small kernels are bound by their launch latency, not by the device: the GPU waits on the
host. A CUDA graph records every kernel of the step once and replays them with one launch.

What is captured is the *inner step* ``step(x, y) -> (loss, total, grad_norm)``: the thought's
forward, the loss, ``total.backward()`` and the gradient-norm clip (``clip_grad_norm_``, which
computes the norm on the device). The optimizer step stays outside the graph, so that the
training loop can look at the loss and the norm (one host read per step, which it makes anyway
for its log) and take no step with non-finite values, exactly as the eager loop does.

Protocol, as in PyTorch's whole-network capture (``torch.cuda.graphs``): the first
``warmup`` calls run eagerly on a side stream (they are real training steps: they also let the
autograd engine, cuBLAS and the optimizer state initialise outside the capture); the next call
captures the step on static input buffers, with every gradient set to ``None`` first so that
the backward allocates them in the graph's memory pool (a replay then rewrites them rather than
adding to them), and replays it; every later call copies its batch into the static buffers and
replays. The returned tensors are the graph's static outputs: read them before the next call.

Requirements on the step, which the parts meet and ``tests/test_step_graph.py`` checks on CPU
(:func:`host_syncs_forbidden`): static shapes (the training batch never changes size), no host
synchronisation inside (no ``.item()``, ``bool(tensor)``, ``.tolist()``, ``nonzero``), random
numbers from the default CUDA generator (it is graph-safe: each replay draws fresh numbers),
no CPU tensors copied to the device. Autocast runs with its weight-cast cache off inside a
graph (``autocast(device, cache=False)``), as PyTorch asks.

On a CPU there is nothing to capture: :func:`captured_step` returns the eager step
(:func:`eager_step`, the one the training loop runs without ``train.cuda_graphs``) and says so.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable

import torch

from .config import ConfigError
from .parts.capture import capture_mode

log = logging.getLogger(__name__)

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]


def clear_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """``.grad = None`` for each parameter (as ``zero_grad(set_to_none=True)``): the step's backward then
    allocates them afresh, inside a capture from the graph's own pool."""
    for p in parameters:
        p.grad = None


class CaptureError(ConfigError):
    """The step could not be captured in a CUDA graph (a part synchronises with the host, or
    draws from a generator the graph does not know): a config error, since ``train.cuda_graphs =
    false`` trains the same model (the CLI prints one line and exits with 2)."""


class CapturedStep:
    """``step`` (see module docstring) run eagerly for ``warmup`` calls, then captured once and
    replayed; ``parameters`` are the ones whose gradients the step writes. CUDA only."""

    def __init__(self, step: Step, parameters: Iterable[torch.nn.Parameter], device: torch.device, warmup: int = 3):
        if device.type != "cuda":
            raise ValueError(f"a CUDA graph needs a CUDA device, got {device}")
        if warmup < 1:
            raise ValueError(
                f"warmup must be >= 1 (the autograd engine and cuBLAS initialise outside the capture), got {warmup}"
            )
        self.step, self.parameters, self.device, self.warmup = step, list(parameters), device, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_inputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.static_outputs: tuple[torch.Tensor, ...] | None = None
        self._side = torch.cuda.Stream(device=device)

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self.calls += 1
        if self.graph is not None:
            self.static_inputs[0].copy_(x, non_blocking=True)
            self.static_inputs[1].copy_(y, non_blocking=True)
            self.graph.replay()
            return self.static_outputs
        if self.calls <= self.warmup:
            clear_gradients(self.parameters)
            self._side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self._side):
                outputs = tuple(
                    t.detach() for t in self.step(x, y)
                )  # the autograd graph dies here, not with the caller's loss
            torch.cuda.current_stream(self.device).wait_stream(self._side)
            return outputs
        return self._capture(x, y)

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        clear_gradients(self.parameters)
        self.static_inputs = (x.clone(), y.clone())
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self.device)
        try:
            with torch.cuda.graph(graph), capture_mode():
                self.static_outputs = tuple(t.detach() for t in self.step(*self.static_inputs))
        except RuntimeError as error:
            clear_gradients(self.parameters)
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CaptureError(
                f"train.cuda_graphs: the training step could not be captured in a CUDA graph ({first_line}); "
                "a part synchronises with the host or draws random numbers from its own generator: "
                "set train.cuda_graphs = false"
            ) from error
        self.graph = graph
        graph.replay()
        return self.static_outputs


def eager_step(step: Step, parameters: Iterable[torch.nn.Parameter]) -> Step:
    """``step`` run eagerly, each call on cleared gradients (``.grad = None``, as ``zero_grad(set_to_none=True)``)."""
    parameters = list(parameters)

    def run(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        clear_gradients(parameters)
        return step(x, y)

    return run


def captured_step(step: Step, parameters: Iterable[torch.nn.Parameter], device: torch.device, warmup: int = 3) -> Step:
    """``step`` captured in a CUDA graph on a CUDA device (:class:`CapturedStep`); elsewhere the eager step
    (:func:`eager_step`), with one logged line saying so."""
    if device.type == "cuda":
        return CapturedStep(step, parameters, device, warmup)
    log.warning("train.cuda_graphs: CUDA graphs need a CUDA device; on %s the step runs eagerly", device)
    return eager_step(step, parameters)


_SYNCING = ("__bool__", "item", "tolist", "__int__", "__float__", "__index__", "nonzero", "cpu", "numpy", "__array__")


@contextlib.contextmanager
def host_syncs_forbidden():
    """Within the block, any tensor method that hands a device value to the host (``bool(t)``,
    ``t.item()``, ``t.tolist()``, ``int(t)``, ``t.nonzero()``, ``t.cpu()``, ...) raises a
    RuntimeError naming it. On a CPU nothing waits for a device, but each of these calls would stop
    a CUDA graph's capture: this is the CPU check that a step can be captured. Inside it
    :func:`neurosync.parts.capture.capturing` is true, as during a capture. (It patches
    ``torch.Tensor`` for the block: use it in tests, one thread.)"""
    names = [name for name in _SYNCING if hasattr(torch.Tensor, name)]
    own = {
        name: torch.Tensor.__dict__[name] for name in names if name in torch.Tensor.__dict__
    }  # the rest are TensorBase's

    def refuse(name):
        def method(self, *args, **kwargs):
            raise RuntimeError(
                f"host synchronisation inside a captured step: Tensor.{name} on a tensor of shape {tuple(self.shape)}"
            )

        return method

    try:
        for name in names:
            setattr(torch.Tensor, name, refuse(name))
        with capture_mode():
            yield
    finally:
        for name in names:
            if name in own:
                setattr(torch.Tensor, name, own[name])
            else:
                delattr(torch.Tensor, name)
