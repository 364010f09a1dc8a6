"""Copy a run's final checkpoint into models/<name>/ as a shipped model: renamed, without its
optimizer state (``checkpoint.drop_training_state``), checked to load and to stay within the zoo's
5 MB. The run's command belongs in the model's card.

    python scripts/ship_checkpoint.py RUN_DIR models/NAME
"""

import json
import shutil
import sys
from pathlib import Path

from neurosync import checkpoint

LIMIT_MB = 5.0


def ship(run: Path, target: Path) -> Path:
    source = checkpoint.resolve(run)
    if target.exists():
        raise SystemExit(f"{target} exists; remove it first")
    shutil.copytree(source, target)
    meta = json.loads((target / "checkpoint.json").read_text())
    meta["config"]["name"] = target.name
    (target / "checkpoint.json").write_text(json.dumps(meta, indent=2))
    checkpoint.drop_training_state(target)
    size = sum(f.stat().st_size for f in target.iterdir()) / 1e6
    model, ckpt = checkpoint.load_model(target)
    if size > LIMIT_MB:
        shutil.rmtree(target)
        raise SystemExit(f"{source} is {size:.1f} MB, over the zoo's {LIMIT_MB} MB")
    print(f"{target}: step {ckpt.step}, {sum(p.numel() for p in model.parameters()):,} parameters, {size:.2f} MB")
    return target


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    ship(Path(sys.argv[1]), Path(sys.argv[2]))
