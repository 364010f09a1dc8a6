"""Copy a run's final checkpoint into models/<name>/ as a shipped model: renamed, without its
optimizer state (``checkpoint.drop_training_state``), checked to load and to stay within the zoo's
5 MB. Give the model an entry in models/zoo.toml (its summary and this command), then measure it
and render its card: ``neurosync models --measure NAME``.

    python scripts/ship_checkpoint.py RUN_DIR models/NAME [--set KEY=VALUE ...]

``--set`` changes config values that are not weights (e.g. the threshold's homeostasis,
``model.spiking.homeostasis_rate_hz``): the trained weights must still load into the model the
changed config builds, or nothing is shipped. The zoo entry's command must say what was set.
"""

import argparse
import json
import shutil
from pathlib import Path

from neurosync import checkpoint, config, hub
from neurosync.rl import rl_from_dict

LIMIT_MB = 5.0


def ship(run: Path, target: Path, overrides: list[str] = ()) -> Path:
    source = checkpoint.resolve(run)
    if target.exists():
        raise SystemExit(f"{target} exists; remove it first")
    meta = json.loads((source / "checkpoint.json").read_text())
    meta["config"] = config.apply_overrides(meta["config"], list(overrides))
    shutil.copytree(source, target)
    meta["config"]["name"] = target.name
    (target / "checkpoint.json").write_text(json.dumps(meta, indent=2))
    checkpoint.drop_training_state(target, rl_from_dict if "env" in meta["config"] else None)
    size = sum(f.stat().st_size for f in target.iterdir()) / 1e6
    try:  # a model or an RL agent, its (changed) config validated and its weights loaded
        model, _ = hub.from_pretrained(target)
    except (checkpoint.CheckpointError, config.ConfigError):
        shutil.rmtree(target)
        raise
    if size > LIMIT_MB:
        shutil.rmtree(target)
        raise SystemExit(f"{source} is {size:.1f} MB, over the zoo's {LIMIT_MB} MB")
    print(f"{target}: step {meta['step']}, {sum(p.numel() for p in model.parameters()):,} parameters, {size:.2f} MB")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("target")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        ship(Path(args.run), Path(args.target), args.overrides)
    except (config.ConfigError, checkpoint.CheckpointError) as error:
        raise SystemExit(f"error: {error}") from None
