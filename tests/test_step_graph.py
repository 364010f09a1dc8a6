"""train.cuda_graphs (neurosync/step_graph.py): what a CPU can check of the capture path, and the
capture itself where a CUDA device is present.

A CUDA graph's capture fails on any host synchronisation inside the step; on CPU nothing waits
for a device, so the step is run under ``host_syncs_forbidden``, which turns every such call into
an error, for each parity config that trains on a GPU (shrunk, its thought longer than a plastic
window so that the fold runs too)."""

import contextlib
import json
import logging
from dataclasses import replace

import pytest
import torch

from conftest import config_path, tiny_config
from neurosync import config as config_mod
from neurosync.build import build_model
from neurosync.ctm import map_rows
from neurosync.parts.capture import capturing
from neurosync.parts.plastic import WINDOW, PlasticSynapse, TraceWindow
from neurosync.step_graph import CapturedStep, CaptureError, captured_step, host_syncs_forbidden
from neurosync.tasks import get_task
from neurosync.training import make_gradient_step, train

GPU_CONFIGS = [
    "parity16-rate",
    "parity16-spiking",
    "parity16-cortical",
    "parity16-cortical-gpu",
    "parity64-rate-paper",
    "parity64-spiking-gpu",
]
SMALL = [
    "model.d_model=24",
    "model.d_input=16",
    "model.heads=2",
    "model.n_synch_out=6",
    "model.n_synch_action=6",
    "task.sequence_length=8",
    "train.batch_size=4",
    "train.compile=false",
    "train.cuda_graphs=true",
]


def test_host_syncs_forbidden_refuses_each_sync_and_restores_the_methods():
    t = torch.ones(3)
    before = dict(torch.Tensor.__dict__)
    with host_syncs_forbidden():
        (t * 2 + 1).sum()  # device work is fine
        for sync in (
            lambda: bool(t.all()),
            lambda: t.sum().item(),
            lambda: t.tolist(),
            lambda: int(t[0]),
            lambda: t.nonzero(),
            lambda: t.cpu(),
            lambda: float(t[0]),
        ):
            with pytest.raises(RuntimeError, match="host synchronisation inside a captured step"):
                sync()
    assert bool(t.all()) and t.sum().item() == 3.0 and t.tolist() == [1.0, 1.0, 1.0]
    assert dict(torch.Tensor.__dict__).keys() == before.keys()


@pytest.mark.parametrize(
    "name, extra",
    [(name, []) for name in GPU_CONFIGS] + [("parity16-cortical", ["model.spiking.shared_noise_std=0.1"])],
)  # with the shared background
def test_the_gradient_step_of_every_gpu_config_has_no_host_sync(name, extra):
    """Forward, loss, backward and clip of each config run with every host sync forbidden: the step can
    be captured. 40 ticks, past a plastic window of 32, so that a factorised fast weight folds."""
    cfg = config_mod.load(config_path(name), SMALL + ["model.ticks=40"] + extra)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    x, y = get_task(cfg.task).sample(cfg.task, 4, torch.Generator().manual_seed(0))
    step = make_gradient_step(model, cfg, torch.device("cpu"))
    with host_syncs_forbidden():
        loss, total, grad_norm = step(x, y)
    assert torch.isfinite(total) and grad_norm > 0
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_a_shared_tick_count_gives_the_same_fast_weight_as_reading_the_device():
    """TraceWindow.together (the updates every row has had, known on the host) decides the slots and the
    fold exactly as the device's per-row counts do: 80 ticks (two folds) with and without it agree."""
    synapse = PlasticSynapse(6, 5, rule="miconi", implementation="factorised", trace_timescale=3.0)
    generator = torch.Generator().manual_seed(1)
    inputs = [
        (torch.randn(3, 6, generator=generator), (torch.rand(3, 5, generator=generator) < 0.3).float())
        for _ in range(80)
    ]
    states = {"host": synapse.start(3), "device": synapse.start(3)}
    states["device"] = (states["device"][0], replace(states["device"][1], together=None))
    assert states["host"][1].together == 0
    for tick, (attended, spikes) in enumerate(inputs, 1):
        currents = {}
        for key in states:
            currents[key], states[key] = synapse(attended, spikes, states[key])
        assert torch.equal(currents["host"], currents["device"]), tick
        window = states["host"][1]
        assert window.together == tick and states["device"][1].together is None
        assert window.filled.tolist() == [(tick - 1) % WINDOW + 1] * 3 and window.folded.tolist() == [tick > WINDOW] * 3


def test_row_maps_keep_a_host_value_only_where_every_state_agrees():
    empty = TraceWindow.empty(torch.zeros(1), 2, 3)
    later = replace(empty, together=5)
    keep = torch.tensor([True, False])
    blend = lambda dim, old, fresh: torch.where(keep.view(-1, *[1] * (old.dim() - 1)), old, fresh)  # noqa: E731
    assert map_rows(blend, 0, 2, later, empty).together is None  # one row restarted: counts differ
    assert map_rows(blend, 0, 2, later, later).together == 5
    assert (
        map_rows(lambda dim, t: t.index_select(dim, torch.tensor([1])), 0, 2, later).together == 5
    )  # a subset of rows


def test_on_cpu_the_graphed_run_is_the_eager_run_and_says_so(tmp_path, caplog):
    """Nothing to capture on CPU: train.cuda_graphs = true trains eagerly, bit for bit the eager run, with one
    logged line saying so."""
    with caplog.at_level(logging.WARNING, logger="neurosync.step_graph"):
        graphed = train(
            tiny_config(steps=3, eval_every=1, cuda_graphs=True), tmp_path / "graphed", progress=False, device="cpu"
        )
    eager = train(tiny_config(steps=3, eval_every=1), tmp_path / "eager", progress=False, device="cpu")
    curves = [
        [json.loads(line)["train_loss"] for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        for run in ("eager", "graphed")
    ]
    assert len(curves[0]) == 3 and curves[0] == curves[1]
    assert graphed["final"] == eager["final"]
    assert any("CUDA graphs need a CUDA device" in r.getMessage() for r in caplog.records)


def test_a_captured_step_needs_a_cuda_device_and_a_warmup():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        CapturedStep(lambda x, y: (x,), [], torch.device("cpu"))
    weight = torch.nn.Parameter(torch.ones(2))
    weight.grad = torch.full((2,), 7.0)
    step = captured_step(lambda x, y: ((weight * x).sum().backward(),), [weight], torch.device("cpu"))
    step(torch.tensor([1.0, 2.0]), None)
    assert weight.grad.tolist() == [1.0, 2.0]  # eager, on cleared gradients: not added to the 7s
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="warmup must be >= 1"):
            CapturedStep(lambda x, y: (x,), [], torch.device("cuda"), warmup=0)


class _FakeCuda:
    """Stand-ins for torch.cuda's streams and graphs on a CPU: a capture runs its body (recording nothing),
    a replay is counted. Enough to check CapturedStep's protocol, not a graph's semantics (the CUDA test
    below does that on a GPU)."""

    def __init__(self):
        self.replays, self.captures = 0, 0

    def install(self, monkeypatch):
        fake = self

        class Graph:
            def replay(self):
                fake.replays += 1

        @contextlib.contextmanager
        def graph(g):
            fake.captures += 1
            yield

        for name, value in {
            "Stream": lambda device=None: _Waits(),
            "current_stream": lambda device=None: _Waits(),
            "stream": lambda s: contextlib.nullcontext(),
            "synchronize": lambda device=None: None,
            "CUDAGraph": Graph,
            "graph": graph,
        }.items():
            monkeypatch.setattr(torch.cuda, name, value)
        return self


class _Waits:
    def wait_stream(self, other):
        pass


def test_captured_step_protocol_warms_up_captures_once_then_replays(monkeypatch):
    """Calls 1-3 run the step eagerly on cleared gradients; call 4 captures it once on static copies of its
    inputs (capturing() true inside) and replays; later calls copy their batch into those buffers and only
    replay. A failed capture is one CaptureError line, a ConfigError (the CLI's exit 2)."""
    fake = _FakeCuda().install(monkeypatch)
    weight = torch.nn.Parameter(torch.ones(2))
    seen = []

    def step(x, y):
        assert weight.grad is None  # every eager call and the capture start from cleared gradients
        seen.append((x.clone(), capturing()))
        loss = (weight * x).sum() + y.sum()
        loss.backward()
        return loss, loss, weight.grad.norm()

    run = CapturedStep(step, [weight], torch.device("cuda"), warmup=3)
    for i in range(6):
        outputs = run(torch.full((2,), float(i)), torch.zeros(1))
        assert all(not t.requires_grad for t in outputs)  # detached: no autograd graph kept alive by the caller
    assert [bool(c) for _, c in seen] == [False, False, False, True] and len(seen) == 4
    assert fake.captures == 1 and fake.replays == 3 and run.captured and run.calls == 6
    assert run.static_inputs[0].tolist() == [5.0, 5.0]  # the last batch, copied into the captured buffers

    def syncing(x, y):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    failing = CapturedStep(syncing, [weight], torch.device("cuda"), warmup=1)
    with pytest.raises(RuntimeError):
        failing(torch.zeros(2), torch.zeros(1))  # the eager warm-up call: the step's own error
    with pytest.raises(
        CaptureError,
        match=r"could not be captured in a CUDA graph \(operation not permitted when stream is "
        r"capturing\); .* set train.cuda_graphs = false$",
    ) as error:
        failing(torch.zeros(2), torch.zeros(1))
    assert isinstance(error.value, config_mod.ConfigError) and not failing.captured


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["parity16-rate", "parity16-cortical"])
def test_captured_steps_follow_the_eager_steps_on_cuda(name):
    """On a GPU: 8 steps eager and 8 steps through CapturedStep (3 eager warm-up steps, the capture, 4
    replays) from the same weights on the same batches, with AdamW after each: the losses agree (the
    cortical model's noise comes from the same generator; bf16 autocast, hence the tolerance) and the
    replays are replays (the graph was captured once)."""
    cfg = config_mod.load(config_path(name), SMALL[:-1] + ["model.ticks=12"])
    task, device = get_task(cfg.task), torch.device("cuda")
    losses = {}
    for graphed in (False, True):
        torch.manual_seed(0)
        model = build_model(cfg).to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        step = make_gradient_step(model, cfg, device)
        run = CapturedStep(step, [p for p in model.parameters() if p.requires_grad], device) if graphed else None
        losses[graphed] = []
        for i in range(8):
            x, y = task.sample(cfg.task, 4, torch.Generator().manual_seed(i))
            if graphed:
                loss, _, _ = run(x.to(device), y.to(device))
            else:
                optimizer.zero_grad(set_to_none=True)
                loss, _, _ = step(x.to(device), y.to(device))
            losses[graphed].append(loss.item())
            optimizer.step()
        if graphed:
            assert run.captured and run.calls == 8
    assert losses[True] == pytest.approx(losses[False], rel=2e-2, abs=2e-3)
