"""Image classification: a small CNN backbone turns an image into tokens (one per feature-map
position) that the CTM attends to over its ticks; the loss is the CTM's certainty loss.

Data sets (``task.dataset``):

- ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, shipped with the package):
  a fixed split of 1,437 training and 360 test images.
- ``mnist``: the four MNIST idx files (optionally .gz) in ``task.data_path``.
- ``cifar10``: the CIFAR-10 *binary* batches (``data_batch_1.bin`` … ``test_batch.bin``) in
  ``task.data_path``; the Python version of CIFAR-10 is a pickle and is refused, since
  nothing here unpickles data.

Images are scaled to [0, 1] and standardised with the training set's mean and deviation.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError, ModelConfig, TaskConfig

PRIMARY = "accuracy_certain"
CLASSES = 10


class ConvBackbone(nn.Module):
    """Two 3×3 conv blocks (BatchNorm, ReLU), the second with stride 2 for images larger than
    16 pixels; output tokens (batch, H'·W', width). It reads the images it was built for,
    (batch, channels, side, side); any other shape is a ValueError."""

    def __init__(self, channels: int, width: int, side: int):
        super().__init__()
        self.channels, self.side = channels, side
        stride = 2 if side > 16 else 1
        self.layers = nn.Sequential(
            nn.Conv2d(channels, width // 2, 3, padding=1),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, stride=stride, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.channels, self.side, self.side)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"this model reads images of shape (batch, {', '.join(map(str, expected))}), got shape {tuple(x.shape)}"
            )
        return self.layers(x).flatten(2).transpose(1, 2)


def _mnist_file(folder: Path, stem: str) -> bytes:
    for name in (stem, stem + ".gz"):
        path = folder / name
        if path.is_file():
            return gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    raise ConfigError(f"task.data_path: {folder} lacks the MNIST file {stem}[.gz]")


def _idx(data: bytes, name: str, dims: int) -> np.ndarray:
    """Parse an idx file (big-endian: magic 0x0000 08 dims, then the sizes, then uint8 data)."""
    if len(data) < 4 + 4 * dims or data[:3] != b"\x00\x00\x08" or data[3] != dims:
        raise ConfigError(f"task.data_path: {name} is not an idx file of {dims} dimension(s) of unsigned bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ConfigError(f"task.data_path: {name} holds {body.size} values, its header says {shape}")
    return body.reshape(shape)


def _load_mnist(folder: Path):
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _idx(_mnist_file(folder, f"{prefix}-images-idx3-ubyte"), f"{prefix}-images-idx3-ubyte", 3)
        labels = _idx(_mnist_file(folder, f"{prefix}-labels-idx1-ubyte"), f"{prefix}-labels-idx1-ubyte", 1)
        if images.shape[0] != labels.shape[0]:
            raise ConfigError(f"task.data_path: {prefix} images and labels differ in number")
        parts[split] = (images[:, None].astype(np.float32) / 255.0, labels.astype(np.int64))
    return parts


def _load_cifar10(folder: Path):
    record = 1 + 3 * 32 * 32
    parts = {}
    for split, names in (("train", [f"data_batch_{i}.bin" for i in range(1, 6)]), ("test", ["test_batch.bin"])):
        chunks = []
        for name in names:
            path = folder / name
            if not path.is_file():
                if (folder / "data_batch_1").exists():
                    raise ConfigError(
                        f"task.data_path: {folder} holds the pickled Python CIFAR-10; use the binary version "
                        "(cifar-10-binary.tar.gz), nothing here unpickles data"
                    )
                raise ConfigError(f"task.data_path: {folder} lacks the CIFAR-10 binary batch {name}")
            raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
            if raw.size % record:
                raise ConfigError(f"task.data_path: {name} is not a whole number of CIFAR-10 records")
            chunks.append(raw.reshape(-1, record))
        data = np.concatenate(chunks)
        parts[split] = (data[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, data[:, 0].astype(np.int64))
    return parts


def _load_digits():
    from .._optional import require

    digits = require("sklearn.datasets", "tasks").load_digits()
    images = (digits.images[:, None] / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))  # a fixed split, the same for every seed
    test, train = order[:360], order[360:]
    return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}


def _split(cfg: TaskConfig, split: str):
    if cfg.classes != CLASSES:
        raise ConfigError(
            f"task.classes = {cfg.classes}, but task.dataset {cfg.dataset!r} has {CLASSES} classes: the "
            f"model predicts the wrong number of classes for this data"
        )
    return _dataset(cfg.dataset, cfg.data_path)[split]


@lru_cache(maxsize=4)
def _dataset(name: str, data_path: str):
    """{split: (images float32 (n, C, H, W) standardised, labels int64)} (cached per process)."""
    if name == "digits":
        parts = _load_digits()
    else:
        if not data_path:
            raise ConfigError(f"task.dataset = {name!r} needs task.data_path (a local folder with its files)")
        folder = Path(data_path)
        if not folder.is_dir():
            raise ConfigError(f"task.data_path: {folder} is not a directory")
        parts = (_load_mnist if name == "mnist" else _load_cifar10)(folder)
    train_images = parts["train"][0]
    mean = train_images.mean(axis=(0, 2, 3), keepdims=True)
    std = train_images.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    return {
        split: (torch.from_numpy((images - mean) / std), torch.from_numpy(labels))
        for split, (images, labels) in parts.items()
    }


def image_shape(cfg: TaskConfig) -> tuple[int, int, int]:
    """(channels, height, width) of the data set's images."""
    return {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}[cfg.dataset]


def prediction_shape(cfg: TaskConfig) -> tuple[int]:
    """(classes,): one class per image (10 for every data set here)."""
    return (cfg.classes,)


def backbone(task: TaskConfig, model: ModelConfig):
    """(backbone, feature width): images (batch, C, H, W) -> tokens (batch, H'·W', width): a
    small CNN of width d_input, or the reference's ResNet named by ``model.backbone``."""
    channels, side, _ = image_shape(task)
    return image_backbone(model, channels, lambda: ConvBackbone(channels, model.d_input, side))


def image_backbone(model: ModelConfig, channels: int, default):
    """``model.backbone``'s ResNet (with its 2-D positional embedding) for images of ``channels``
    channels, or ``default()`` (width d_input) when it is 'task'; -> (module, feature width)."""
    if model.backbone == "task":
        return default(), model.d_input
    from ..parts.resnet import ResNetBackbone

    net = ResNetBackbone(model.backbone, channels, model.positional_embedding)
    return net, net.width


def sample(cfg: TaskConfig, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: images (batch, C, H, W) float32 and labels (batch,) int64, drawn from the
    training split."""
    images, labels = _split(cfg, "train")
    chosen = torch.randint(0, labels.shape[0], (batch,), generator=generator)
    return images[chosen], labels[chosen]


def eval_set(cfg: TaskConfig, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `samples` test images (all of them when there are fewer)."""
    images, labels = _split(cfg, "test")
    return images[:samples], labels[:samples]


def per_tick_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (batch, ticks) of logits (batch, ticks, classes) against labels (batch,)."""
    batch, ticks, _ = logits.shape
    return F.cross_entropy(logits.float().permute(0, 2, 1), targets.unsqueeze(1).expand(batch, ticks), reduction="none")


def correct_units(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(batch, 1) bool: whether the class of logits (batch, classes) at one tick is right."""
    return (logits.argmax(-1) == targets).unsqueeze(1)


def batch_metrics(out, y: torch.Tensor, cfg: TaskConfig) -> dict[str, float]:
    """Accuracy at the most-certain and the last tick, and the ECE's ingredients: the sum of
    ``|accuracy − confidence|`` per confidence bin is not additive, so confidences and hits are
    summed per bin (``ece_bin{b}_n``, ``..._conf``, ``..._hit``) and :func:`headline` combines them."""
    certain = out.certainty.argmax(1)
    rows = torch.arange(y.shape[0], device=y.device)
    probs = torch.softmax(out.logits[rows, certain].float(), -1)
    confidence, predicted = probs.max(-1)
    hits = (predicted == y).float()
    metrics = {
        "accuracy_certain": hits.sum().item(),
        "accuracy_last": (out.logits[:, -1].argmax(-1) == y).float().sum().item(),
    }
    bins = torch.clamp((confidence * 10).ceil().long() - 1, 0, 9)
    for b in range(10):
        chosen = bins == b
        metrics[f"ece_bin{b}_n"] = chosen.float().sum().item()
        metrics[f"ece_bin{b}_conf"] = confidence[chosen].sum().item()
        metrics[f"ece_bin{b}_hit"] = hits[chosen].sum().item()
    return metrics


def finalise(metrics: dict) -> dict:
    """Replace the per-bin sums (already divided by the number of samples) with the ECE:
    ``Σ_b (n_b / n) |accuracy_b − confidence_b| = Σ_b |hits_b / n − confidence_b / n|``."""
    metrics = dict(metrics)
    total = 0.0
    for b in range(10):
        n, conf, hit = (metrics.pop(f"ece_bin{b}_{k}") for k in ("n", "conf", "hit"))
        if n > 0:
            total += abs(hit - conf)
    metrics["ece"] = total
    return metrics


def headline(final: dict) -> str:
    """One line: accuracy at the most-certain and the last tick, the ECE and the mean most-certain tick."""
    return (
        f"accuracy {100 * final['accuracy_certain']:.2f}% (last tick {100 * final['accuracy_last']:.2f}%), "
        f"ECE {final['ece']:.4f}, mean most-certain tick {final['certain_tick']:.1f}"
    )
