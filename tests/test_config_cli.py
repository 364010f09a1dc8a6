import subprocess
import sys

import pytest

from conftest import REPO, tiny_config
from neurosync import config as config_mod
from neurosync import export
from neurosync._optional import MissingDependency, require
from neurosync.cli import main
from neurosync.training import train

EXPERIMENTS = sorted((REPO / "experiments").glob("*.toml"))  # studies, ablations, sweeps, probes
CONFIGS = sorted((REPO / "configs").glob("*/*.toml"))  # training configs by task
STUDIES = [p for p in EXPERIMENTS if "configs" in config_mod.read_toml(p)]
ABLATIONS = [p for p in EXPERIMENTS if "arm" in config_mod.read_toml(p)]  # test_ablation.py
TUNES = [p for p in EXPERIMENTS if "pruner" in config_mod.read_toml(p)]  # Optuna searches (test_tune.py)
SWEEPS = [p for p in EXPERIMENTS if "space" in config_mod.read_toml(p) and p not in TUNES]
RL_CONFIGS = [p for p in CONFIGS if "agent" in config_mod.read_toml(p)]
ZOO = [REPO / "models" / "zoo.toml"]  # the index of the shipped models (test_hub.py)
MODELS = sorted(set(CONFIGS) - set(RL_CONFIGS))


def test_every_experiment_file_is_a_study_an_ablation_or_a_sweep():
    assert EXPERIMENTS and sorted(STUDIES + ABLATIONS + SWEEPS + TUNES) == EXPERIMENTS
    assert MODELS and RL_CONFIGS and len(STUDIES) >= 2


@pytest.mark.parametrize("path", TUNES, ids=[p.stem for p in TUNES])
def test_shipped_tune_files_load(path):
    from neurosync.tune import load_tune

    tune = load_tune(path)  # the config loads at every listed value and both ends of every range
    assert tune.name == path.stem and tune.trials >= 1


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_shipped_sweeps_load(path):
    from neurosync.sweep import load_sweep, points

    sweep = load_sweep(path)  # every point's config loads
    assert sweep.name == path.stem and len(points(sweep)) >= 2


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_shipped_configs_load(path):
    cfg = config_mod.load(path)
    assert cfg.name == path.stem


@pytest.mark.parametrize("path", RL_CONFIGS, ids=[p.stem for p in RL_CONFIGS])
def test_shipped_rl_configs_load(path):
    from neurosync.rl import load_rl

    assert load_rl(path).name == path.stem


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_shipped_studies_load(path):
    from neurosync.study import _model_configs, load_study

    for quick in (False, True):
        configs = _model_configs(load_study(path, quick=quick))
        assert {kind for kind, _ in configs} == set(load_study(path).configs) and "rate" in {
            kind for kind, _ in configs
        }


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.foo=1", "unknown key 'model.foo'"),
        ("model.ticks=0", "model.ticks must be >= 1"),
        ("model.ticks='ten'", "model.ticks must be an integer"),
        ("model.n_synch_out=999", "model.n_synch_out must be between 1 and model.d_model"),
        ("model.neuron_pairing='nearest'", "model.neuron_pairing = 'nearest' is not one of"),
        ("task.name='chess'", "task.name = 'chess' is not one of"),
        ("train.lr=-0.1", "train.lr must be > 0"),
        ("train.precision='fp16'", "train.precision = 'fp16' is not one of bf16, fp32"),
        ("train.batch_size=1.5", "train.batch_size must be an integer"),
        ("model.nlm.deep=3", "model.nlm.deep must be true or false"),
        ("model.heads=3", "must be divisible by model.heads"),
        ("model=3", "model must be a table"),
        ("nonsense", "expected KEY=VALUE"),
        ("train.lr=inf", "train.lr must be a finite number"),
        ("model.spiking.noise_std=nan", "model.spiking.noise_std must be a finite number"),
        ("model.spiking.homeostasis_rate_hz=-1", "model.spiking.homeostasis_rate_hz must be >= 0"),
        ("model.spiking.homeostasis_tau_ms=0", "model.spiking.homeostasis_tau_ms must be > 0"),
        ("model.spiking.homeostasis_min_scale=1.5", "model.spiking.homeostasis_min_scale must be in"),
        ("model.spiking.input_floor_width=0", "model.spiking.input_floor_width must be > 0"),
        ("model.spiking.input_floor_margin=-0.1", "model.spiking.input_floor_margin must be >= 0"),
        ("name='..'", "name must be a non-empty string without"),
        ("name='a\\\\b'", "name must be a non-empty string without"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(config_mod.ConfigError, match=message) as err:
        config_mod.load(REPO / "configs" / "parity" / "parity16-rate.toml", [override])
    assert "\n" not in str(err.value)


def test_first_last_needs_room_for_both_readouts():
    with pytest.raises(config_mod.ConfigError, match="first-last"):
        config_mod.load(
            REPO / "configs" / "parity" / "parity16-rate.toml",
            ["model.neuron_pairing='first-last'", "model.n_synch_out=100", "model.n_synch_action=100"],
        )


def test_overrides_parse_toml_values():
    cfg = config_mod.load(
        REPO / "configs" / "parity" / "parity16-rate.toml", ["train.lr=3e-4", "model.nlm.deep=false", "name=x"]
    )
    assert cfg.train.lr == 3e-4 and cfg.model.nlm.deep is False and cfg.name == "x"


def test_unreadable_config_files(tmp_path):
    with pytest.raises(config_mod.ConfigError, match="not found"):
        config_mod.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nticks = ")
    with pytest.raises(config_mod.ConfigError, match="not valid TOML"):
        config_mod.load(bad)
    binary = tmp_path / "model.toml"
    binary.write_bytes(bytes(range(128, 256)))
    with pytest.raises(config_mod.ConfigError, match=f"config file {binary} is not text"):
        config_mod.load(binary)
    with pytest.raises(config_mod.ConfigError, match="is a directory"):
        config_mod.load(tmp_path)


def test_diverging_training_stops_at_the_first_non_finite_step(tmp_path, capsys):
    """lr = 1e30: the run stops with one line (exit 1) before a non-finite step, every checkpoint
    it kept holds finite weights, and every JSON it wrote is valid."""
    import json

    from safetensors.torch import load_file

    code, _, err = _cli(
        [
            "train",
            str(REPO / "configs" / "parity" / "parity16-rate.toml"),
            "--run-dir",
            str(tmp_path / "run"),
            "--quiet",
            "--set",
            "train.lr=1e30",
            "--set",
            "train.steps=40",
            "--set",
            "train.checkpoint_every=1",
            "--set",
            "train.eval_every=1",
            "--set",
            "train.eval_samples=16",
            "--set",
            "train.warmup_steps=0",
            "--set",
            "model.ticks=3",
            "--set",
            "model.d_model=16",
            "--set",
            "model.d_input=8",
            "--set",
            "model.heads=2",
            "--set",
            "model.n_synch_out=4",
            "--set",
            "model.n_synch_action=4",
        ],
        capsys,
    )
    assert code == 1 and err.count("\n") == 1 and "training diverged at step" in err and "last finite checkpoint" in err
    kept = sorted((tmp_path / "run" / "checkpoints").glob("step-*"))
    assert kept, err  # it diverged after a step, not at the first
    for directory in kept:
        assert all(bool(t.isfinite().all()) for t in load_file(str(directory / "model.safetensors")).values())
        json.loads(
            (directory / "checkpoint.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON")
        )
    for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.jsonl"))
    assert not (tmp_path / "run" / "results.json").exists()


def _cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_exit_codes(tmp_path, capsys):
    cfg_path = REPO / "configs" / "parity" / "parity16-rate.toml"
    code, _, err = _cli(["train", str(cfg_path), "--set", "model.ticks=0"], capsys)
    assert code == 2 and err.count("\n") == 1 and "model.ticks" in err
    code, _, err = _cli(["evaluate", str(tmp_path / "missing")], capsys)
    assert code == 2 and "checkpoint not found" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])
    assert exit_info.value.code == 2
    assert _cli([], capsys)[0] == 2
    assert _cli(["--version"], capsys) == (0, "0.2.0\n", "")


def test_cli_train_then_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        str(REPO / "configs" / "parity" / "parity16-rate.toml"),
        "--run-dir",
        str(run),
        "--quiet",
        "--device",
        "cpu",
        "--set",
        "train.steps=2",
        "--set",
        "model.d_model=32",
        "--set",
        "model.ticks=3",
        "--set",
        "model.n_synch_out=8",
        "--set",
        "model.n_synch_action=8",
        "--set",
        "train.final_eval_samples=16",
        "--set",
        "train.eval_samples=16",
    ]
    code, out, _ = _cli(args, capsys)
    assert code == 0 and "per-bit" in out
    code, out, _ = _cli(["evaluate", str(run), "--samples", "8"], capsys)
    assert code == 0 and '"step": 2' in out
    code, _, err = _cli(args, capsys)  # the run exists: refuse, keep it
    assert code == 2 and "--resume" in err
    (run / "checkpoints" / "step-00000002" / "checkpoint.json").write_text("garbage")
    code, _, err = _cli(["evaluate", str(run / "checkpoints" / "step-00000002")], capsys)
    assert code == 2 and "unreadable" in err


def test_cuda_request_without_gpu_is_a_config_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(config_mod.ConfigError, match="no CUDA device"):
        train(tiny_config(), tmp_path, device="cuda", progress=False)


def test_import_is_light():
    code = "import sys, neurosync; print(sorted(m for m in ('torch', 'brian2', 'matplotlib', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, neurosync.ctm, neurosync.training; print('brian2' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_missing_optional_dependency_names_the_extra():
    with pytest.raises(MissingDependency, match=r"pip install 'neurosync\[analysis\]'") as err:
        require("a_module_that_does_not_exist", "analysis")
    assert "\n" not in str(err.value)


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path, capsys):
    """A file where a folder must be, for train, validate, analyze and export: one line, exit 2;
    an npz export into a folder that does not exist yet creates it."""
    cfg = tiny_config(steps=2, eval_every=2, checkpoint_every=2)
    cfg.model.neuron, cfg.model.synchrony = "spiking", "spike-multiscale"
    train(cfg, tmp_path / "run", progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for args in (
        ["train", str(REPO / "configs" / "parity" / "parity16-rate.toml"), "--run-dir", str(blocker / "run")],
        ["validate", str(tmp_path / "run"), "--out", str(blocker / "v")],
        ["analyze", str(tmp_path / "run"), "--out", str(blocker / "a")],
        ["export", str(tmp_path / "run"), "--format", "npz", "--out", str(blocker / "x.npz")],
    ):
        code, _, err = _cli(args + ["--quiet"] if args[0] in ("train", "validate") else args, capsys)
        assert code == 2 and err.count("\n") == 1 and f"{blocker} is a file, not a directory" in err, (args, err)
    code, _, err = _cli(
        [
            "export",
            str(tmp_path / "run"),
            "--format",
            "npz",
            "--samples",
            "2",
            "--ticks",
            "4",
            "--out",
            str(tmp_path / "new" / "deeper" / "x.npz"),
        ],
        capsys,
    )
    assert code == 0 and (tmp_path / "new" / "deeper" / "x.npz").is_file(), err
    code, _, err = _cli(["validate", str(tmp_path / "run"), "--sample", "-1", "--out", str(tmp_path / "v")], capsys)
    assert code == 2 and "--sample must be >= 0" in err
    code, _, err = _cli(["study", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err
    code, _, err = _cli(["export", str(tmp_path / "run"), "--format", "npz", "--nir-dt-ms", "0.1"], capsys)
    assert code == 2 and "--nir-dt-ms must be > 0 and goes with --format nir" in err
    code, _, err = _cli(["export", str(tmp_path / "run"), "--format", "nir", "--nir-dt-ms", "0.3"], capsys)
    assert code == 2 and "must divide" in err and err.count("\n") == 1
    code, _, err = _cli(["export", str(tmp_path / "run"), "--format", "nwb", "--experimenter", "Jane Doe"], capsys)
    assert code == 2 and "'LastName, FirstName'" in err and err.count("\n") == 1
    for fmt in ("npz", "nir"):
        code, _, err = _cli(["export", str(tmp_path / "run"), "--format", fmt, "--lean"], capsys)
        assert code == 2 and "go with --format nwb" in err, (fmt, err)
    code, _, err = _cli(
        [
            "export",
            str(tmp_path / "run"),
            "--format",
            "nwb",
            "--experimenter",
            "Doe, Jane",
            "--lean",
            "--samples",
            "2",
            "--ticks",
            "12",
            "--out",
            str(tmp_path / "t.nwb"),
        ],
        capsys,
    )
    assert code == 0 and export.inspect_nwb(tmp_path / "t.nwb") == [], err
    code, out, err = _cli(
        ["export", str(tmp_path / "run"), "--format", "nir", "--nir-dt-ms", "0.5", "--out", str(tmp_path / "core.nir")],
        capsys,
    )
    assert code == 0 and (tmp_path / "core.nir").is_file(), err


def _cli_unprivileged(args) -> tuple[int, str]:
    """``main(args)`` in a forked child without root's privileges (as ``nobody`` when the suite
    runs as root, which may write anywhere), so that a read-only folder is read-only to it.
    Returns (exit status, stderr)."""
    import contextlib
    import io
    import json
    import os
    import signal

    import torch

    import neurosync.brian  # noqa: F401  (imported before the fork: the child needs no new files)
    import neurosync.report  # noqa: F401

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, send (status, stderr) back, never return to pytest
        try:
            os.close(read)
            signal.alarm(120)  # a child that hangs (a lock held at the fork) dies, and the parent fails
            torch.set_num_threads(1)  # the parent's thread pool does not survive a fork
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(args)
            os.write(write, json.dumps([code, err.getvalue()]).encode())
        except BaseException as exc:  # noqa: BLE001 (reported to the parent, which fails the test)
            os.write(write, json.dumps([-1, f"{type(exc).__name__}: {exc}"]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    assert data, f"the unprivileged child sent nothing back (wait status {status}) running {args}"
    return tuple(json.loads(data))


def test_a_read_only_output_directory_is_refused_in_one_line_before_any_work():
    """A read-only output folder for export (nwb, npz), analyze, train and validate;
    checked as an unprivileged user (root writes into a 0o555 folder), nothing written."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="neurosync-ro-"))  # outside pytest's root-only tmp folders
    try:
        os.chmod(base, 0o755)
        cfg = tiny_config(steps=2, eval_every=2, checkpoint_every=2)
        cfg.model.neuron, cfg.model.synchrony = "spiking", "spike-multiscale"
        train(cfg, base / "run", progress=False)
        config = base / "parity.toml"
        shutil.copy(REPO / "configs" / "parity" / "parity16-rate.toml", config)
        for path in [base, *base.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        os.chmod(locked, 0o555)
        run = str(base / "run")
        for args in (
            ["export", run, "--format", "nwb", "--out", str(locked / "x.nwb")],
            ["export", run, "--format", "npz", "--out", str(locked / "x.npz")],
            ["analyze", run, "--out", str(locked / "a")],
            ["train", str(config), "--run-dir", str(locked / "run"), "--quiet"],
            ["validate", run, "--out", str(locked / "v"), "--quiet"],
        ):
            code, err = _cli_unprivileged(args)
            assert code == 2 and err.count("\n") == 1 and f"{locked} is not writable" in err, (args, code, err)
        assert not any(locked.iterdir())
    finally:
        shutil.rmtree(base)


def test_an_input_floor_above_the_threshold_is_refused():
    with pytest.raises(
        config_mod.ConfigError, match=r"model.spiking.input_floor \(0.3\) must lie below the threshold"
    ) as err:
        config_mod.load(
            REPO / "configs" / "parity" / "parity16-spiking.toml",
            ["model.spiking.bounded_input=true", "model.spiking.input_floor=0.3"],
        )
    assert "\n" not in str(err.value)


def test_a_floor_relative_to_each_threshold_leaves_the_absolute_floor_unused():
    cfg = config_mod.load(
        REPO / "configs" / "parity" / "parity16-spiking.toml",
        ["model.spiking.bounded_input=true", "model.spiking.input_floor=0.3", "model.spiking.input_floor_margin=0.08"],
    )
    assert cfg.model.spiking.input_floor_margin == 0.08


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.spiking.input_ceiling_margin=0.1"], "needs model.spiking.bounded_input = true"),
        (
            [
                "model.spiking.bounded_input=true",
                "model.spiking.input_floor_margin=0.1",
                "model.spiking.input_ceiling_margin=-0.1",
            ],
            r"puts the ceiling \(threshold -0.1\) at or below the floor \(threshold - 0.1\): the band would be empty",
        ),
        (
            [
                "model.spiking.bounded_input=true",
                "model.spiking.input_floor=0.05",
                "model.spiking.threshold=0.25",
                "model.spiking.input_ceiling_margin=-0.2",
            ],
            r"at or below the floor \(input_floor 0.05\)",
        ),
        (["model.spiking.dendritic_gain=0"], "model.spiking.dendritic_gain must be > 0"),
        (["model.spiking.recurrent_scale=-1"], "model.spiking.recurrent_scale must be > 0"),
        (["model.spiking.inhibition_dominance=0"], "model.spiking.inhibition_dominance must be > 0"),
    ],
)
def test_a_ceiling_without_a_bounded_input_or_an_empty_band_is_refused(overrides, message):
    with pytest.raises(config_mod.ConfigError, match=message) as err:
        config_mod.load(REPO / "configs" / "parity" / "parity16-spiking.toml", overrides)
    assert "\n" not in str(err.value)
