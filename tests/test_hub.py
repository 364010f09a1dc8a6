"""Hub-style model folders and the pretrained zoo: save_pretrained / from_pretrained round trips, a
folder written by the reference CTM's own PyTorchModelHubMixin loads into a RateCTM with the
reference's outputs, every shipped model reproduces its headline and carries the card its
metrics render, the measuring command, bad folders and indexes in one line."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import REFERENCE_IMAGE, REFERENCE_PARITY16, tiny_config
from neurosync import hub, zoo
from neurosync.build import build_model
from neurosync.checkpoint import CheckpointError
from neurosync.cli import main
from neurosync.reference import reference_forward

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "model_keys", [{}, {"neuron": "spiking", "synchrony": "spike-multiscale", "synapse": "plastic-input"}]
)
def test_save_and_load_pretrained_round_trip(tmp_path, model_keys):
    cfg = tiny_config()
    for key, value in model_keys.items():
        setattr(cfg.model, key, value)
    model = build_model(cfg).eval()
    folder = hub.save_pretrained(model, cfg, tmp_path / "tiny")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((folder / "config.json").read_text())["format"] == "neurosync-model"
    assert (folder / "README.md").read_text().startswith("---\nlibrary_name: neurosync\n")
    loaded, config = hub.from_pretrained(folder)
    assert config == cfg and not loaded.training
    x = torch.randint(0, 2, (5, cfg.task.sequence_length)).float() * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)


def _reference_hub_folder(folder: Path, fixture_path: Path = REFERENCE_PARITY16) -> tuple[Path, dict]:
    """A folder written the way the reference writes its hub checkpoints: its ContinuousThoughtMachine
    is a PyTorchModelHubMixin, so save_pretrained stores the constructor arguments as config.json and
    the state_dict as model.safetensors. Here a module with the reference's state_dict names stands in."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    fixture = np.load(fixture_path)
    config = json.loads(str(fixture["config"]))
    config.pop("parity_sequence_length", None)
    state = {k[len("state/") :]: torch.from_numpy(fixture[k]) for k in fixture.files if k.startswith("state/")}

    class ReferenceLike(nn.Module, huggingface_hub.PyTorchModelHubMixin):
        def __init__(self, **kwargs):
            super().__init__()
            for name, tensor in state.items():
                *path, leaf = name.split(".")
                module = self
                for part in path:
                    if not hasattr(module, part):
                        module.add_module(part, nn.Module())
                    module = getattr(module, part)
                module.register_buffer(leaf, tensor.clone())

    ReferenceLike(**config).save_pretrained(folder)
    return folder, {k: fixture[k] for k in ("inputs", "predictions", "certainties")}


def test_a_reference_hub_folder_loads_into_a_ratectm_with_the_references_outputs(tmp_path):
    folder, arrays = _reference_hub_folder(tmp_path / "reference-ctm")
    assert json.loads((folder / "config.json").read_text())["iterations"] == 12  # the reference's own layout
    model, config = hub.from_pretrained(folder)
    assert type(model).__name__ == "RateCTM" and config.task.name == "parity" and config.task.sequence_length == 16
    with torch.no_grad():
        predictions, certainties = reference_forward(model, torch.from_numpy(arrays["inputs"]))
    assert np.abs(predictions.numpy() - arrays["predictions"]).max() <= 1e-5
    assert np.abs(certainties.numpy() - arrays["certainties"]).max() <= 1e-5


def test_a_reference_image_classifier_from_the_hub_layout_loads_and_saves_as_neurosync(tmp_path):
    """The reference's ResNet image classifier (its ImageNet checkpoint's family) in the hub's
    layout: loaded into a RateCTM with the reference's outputs, then saved and loaded again as a
    NeuroSync model (its config rebuilds the same network)."""
    folder, arrays = _reference_hub_folder(tmp_path / "reference-image", REFERENCE_IMAGE)
    model, config = hub.from_pretrained(folder)
    assert config.task.name == "images" and config.task.classes == 10 and config.model.backbone == "resnet18-2"
    x = torch.from_numpy(arrays["inputs"])
    with torch.no_grad():
        predictions, _ = reference_forward(model, x)
    assert np.abs(predictions.numpy() - arrays["predictions"]).max() <= 1e-5
    hub.save_pretrained(model, config, tmp_path / "again")
    again, config_again = hub.from_pretrained(tmp_path / "again")
    assert config_again.model.positional_embedding == "rotational-2d"
    with torch.no_grad():
        assert torch.equal(reference_forward(again, x)[0], predictions)


def test_a_checkpoint_directory_loads_too():
    model, config = hub.from_pretrained(REPO / "models" / "recall-spiking-plastic")
    assert config.model.synapse == "plastic-input" and not model.training


NEUROSYNC_CONFIG = '{"format": "neurosync-model", "version": 1, "config": {}}'
REFERENCE_CONFIG = '{"iterations": 4, "backbone_type": "parity_backbone"}'


@pytest.mark.parametrize(
    "config, weights, message",
    [
        (None, None, "holds no model"),
        ("{not json", None, "is unreadable"),
        ("[1, 2]", None, "is not a model config"),
        ('{"hidden": 3}', b"x", "neither a NeuroSync model nor the reference"),
        (NEUROSYNC_CONFIG, None, "lacks model.safetensors"),
        (NEUROSYNC_CONFIG, b"garbage", "model.safetensors is corrupt"),
        (REFERENCE_CONFIG, b"garbage", "model.safetensors is corrupt"),
        (NEUROSYNC_CONFIG.replace('"version": 1', '"version": 7'), b"x", "model version 7 is not supported"),
    ],
)
def test_bad_folders_are_refused_in_one_line(tmp_path, config, weights, message):
    folder = tmp_path / "model"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(config)
    if weights is not None:
        (folder / "model.safetensors").write_bytes(weights)
    with pytest.raises(CheckpointError, match=message) as err:
        hub.from_pretrained(folder)
    assert "\n" not in str(err.value)


def test_weights_of_another_model_are_refused(tmp_path):
    cfg = tiny_config()
    folder = hub.save_pretrained(build_model(cfg), cfg, tmp_path / "tiny")
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["model"]["d_model"] = 24
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="weights do not fit the model"):
        hub.from_pretrained(folder)


def test_a_name_that_is_no_folder_is_a_hub_repo_id(monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the machines here are offline: the download fails in one line
    with pytest.raises(CheckpointError, match="cannot download someone/no-such-ctm from the hub"):
        hub.from_pretrained("someone/no-such-ctm")
    with pytest.raises(CheckpointError, match="neither a local folder nor a hub repository id"):
        hub.from_pretrained("no-such-folder")


def test_every_shipped_model_reproduces_its_headline_and_its_card_is_rendered_from_its_metrics():
    rows = zoo.zoo()
    assert {"parity16-cortical", "recall-spiking-plastic", "recall-spiking"} <= {row["name"] for row in rows}
    for row in rows:
        folder = REPO / "models" / row["name"]
        card = (folder / "README.md").read_text()
        assert card == zoo.render_card(row["name"]), f"{row['name']}: run neurosync models --measure {row['name']}"
        assert row["command"].strip() in card and len(card.splitlines()) <= 150
        assert row["size_mb"] <= 5.0
        assert sorted(f.name for f in folder.iterdir()) == [
            "README.md",
            "checkpoint.json",
            "metrics.json",
            "model.safetensors",
            "training.safetensors",
        ]
        samples = min(row["samples"], zoo.SUITE_SAMPLES)  # a headline on all 65,536 parity inputs: 4,096 here
        measured = zoo.measure_headline(row["name"], row["metric"], samples)
        reference = row["value"] if samples == row["samples"] else zoo.metrics(row["name"])["headline_suite"]["value"]
        assert abs(measured - reference) <= zoo.headline_tolerance(row["metric"]), (row["name"], measured, reference)


def test_pretrained_by_name_and_the_models_command(capsys):
    model, config = zoo.pretrained("recall-spiking")
    assert config.task.name == "recall" and config.model.synapse == "mlp"
    with pytest.raises(CheckpointError, match="no pretrained model 'nope'; shipped: parity16-cortical"):
        zoo.pretrained("nope")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("parity16-cortical", "recall-spiking-plastic", "recall-spiking"))


def test_a_models_folder_elsewhere(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROSYNC_MODELS", str(tmp_path))
    with pytest.raises(CheckpointError, match="no zoo index"):
        zoo.zoo()
    (tmp_path / "zoo.toml").write_text('[x]\ncard = "x.md"\n')
    assert main(["models"]) == 2
    assert "[x] must give summary, metric, samples, command" in capsys.readouterr().err
    (tmp_path / "zoo.toml").write_text('[x]\nsummary = "s"\nmetric = "m"\nsamples = "many"\ncommand = "c"\n')
    assert main(["models"]) == 2
    assert "[x] samples must be a int" in capsys.readouterr().err
    (tmp_path / "zoo.toml").write_text('[x]\nsummary = "s"\nmetric = "m"\nsamples = 1\ncommand = "c"\n')
    assert main(["models"]) == 2
    assert "metrics.json is missing: run neurosync models --measure x" in capsys.readouterr().err
    assert main(["models", "--seed-runs", "a"]) == 2
    assert os.environ["NEUROSYNC_MODELS"] == str(tmp_path)


def test_measuring_a_shipped_spiking_model_writes_its_metrics_and_card(tmp_path, monkeypatch):
    import neurosync

    cfg = tiny_config(steps=2, eval_every=2, checkpoint_every=2, eval_samples=8, final_eval_samples=8)
    cfg.model.neuron, cfg.model.synchrony = "spiking", "spike-multiscale"
    neurosync.train(cfg, tmp_path / "run", progress=False)
    cfg.train.seed = 1
    neurosync.train(cfg, tmp_path / "run1", progress=False)
    _ship_script().ship(tmp_path / "run", tmp_path / "tiny")
    (tmp_path / "zoo.toml").write_text(
        '[tiny]\nsummary = "A tiny model."\nmetric = "bit_acc_certain"\nsamples = 8\n'
        'command = "neurosync train tiny.toml"\nlimitations = ["It is tiny."]\n'
    )
    monkeypatch.setenv("NEUROSYNC_MODELS", str(tmp_path))
    assert main(["models", "--measure", "tiny", "--seed-runs", str(tmp_path / "run1")]) == 0
    measured = zoo.metrics("tiny")
    assert measured["headline"]["value"] == pytest.approx(zoo.measure_headline("tiny", "bit_acc_certain", 8))
    assert [row["divisor"] for row in measured["physiology"]["steps"]] == [2, 4]
    assert [row["substeps"] for row in measured["dt_invariance"]][1:] == [
        2 * measured["dt_invariance"][0]["substeps"],
        4 * measured["dt_invariance"][0]["substeps"],
    ]
    assert measured["physiology"]["brian2_exact"]["mismatched_bins"] == 0
    assert measured["physiology"]["regime_1s"]["seconds"] == pytest.approx(1.0, abs=0.05)
    assert [row["seed"] for row in measured["training_seeds"]] == [1]
    card = (tmp_path / "tiny" / "README.md").read_text()
    assert (
        card.startswith("---\nlibrary_name: neurosync")
        and "It is tiny." in card
        and "neurosync train tiny.toml" in card
    )
    assert "## Physiology" in card and "0 of " in card  # Brian2: no spike bin differs
    assert main(["models", "--measure", "tiny"]) == 0  # measured again without --seed-runs: the seeds are kept
    assert [row["seed"] for row in zoo.metrics("tiny")["training_seeds"]] == [1]


def _ship_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ship_checkpoint", REPO / "scripts" / "ship_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipping_a_run_drops_its_optimizer_and_may_set_what_is_not_a_weight(tmp_path):
    import neurosync

    cfg = tiny_config(steps=2, eval_every=2, checkpoint_every=2, eval_samples=8, final_eval_samples=8)
    cfg.model.neuron, cfg.model.synchrony = "spiking", "spike-multiscale"
    neurosync.train(cfg, tmp_path / "run", progress=False)
    ship = _ship_script().ship
    shipped = ship(
        tmp_path / "run", tmp_path / "models" / "tiny-homeostatic", ["model.spiking.homeostasis_rate_hz=2.0"]
    )
    model, config = hub.from_pretrained(shipped)
    assert config.name == "tiny-homeostatic" and config.model.spiking.homeostasis_rate_hz == 2.0
    assert model.neuron.homeostasis_constants() is not None
    assert json.loads((shipped / "checkpoint.json").read_text())["optimizer"] is None
    with pytest.raises(CheckpointError, match="weights do not fit|size mismatch"):  # d_model is a weight's shape
        ship(tmp_path / "run", tmp_path / "models" / "wider", ["model.d_model=32"])
    assert not (tmp_path / "models" / "wider").exists()  # nothing half-shipped
    with pytest.raises(SystemExit, match="exists"):
        ship(tmp_path / "run", shipped)


def test_an_rl_agent_ships_and_loads_by_the_zoo_path(tmp_path, monkeypatch):
    from test_rl import _rl_config

    from neurosync import rl

    cfg = _rl_config()
    result = rl.train_rl(cfg, tmp_path / "run", progress=False)
    shipped = _ship_script().ship(tmp_path / "run", tmp_path / "cartpole-tiny")
    agent, config = hub.from_pretrained(shipped)
    assert isinstance(agent, rl.Agent) and config.env.id == "CartPole-v1"
    monkeypatch.setenv("NEUROSYNC_MODELS", str(tmp_path))
    measured = zoo.measure_headline("cartpole-tiny", "mean_return", 2)
    assert measured == pytest.approx(result["final"]["mean_return"])  # the agent acts as trained
    assert zoo.headline_text("mean_return", 479.25, 20) == "mean return 479.2 over 20 greedy episodes"
