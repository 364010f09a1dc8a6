"""Positional embeddings of 2-D feature maps, as the reference CTM's image and maze models use them.

Each module maps a feature map (batch, channels, height, width) to an embedding that is *added*
to it: (batch or 1, d, height, width). Parameter names follow the reference
(``models/modules.py``) so that its trained weights load unchanged:

- :class:`RotationalEmbedding2D` (``custom-rotational``): a learned 2-D start vector rotated by
  0–180° along the width; the embedding of cell (i, j) is a linear map of the vectors of
  columns i and j (the reference builds a width × width grid, so the map must be square).
- :class:`LearnableFourierEmbedding` (``learnable-fourier``; Li et al. 2021, Algorithm 1):
  coordinates scaled to [0, 1], random Fourier features cos/sin(W_r·p)/sqrt(F), then
  Linear → GLU → Linear → LayerNorm.
- :class:`MultiLearnableFourierEmbedding` (``multi-learnable-fourier``): N of those with
  initial scales γ from 1 to 0.1, mixed by softmax weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

POSITIONAL_2D = ("rotational-2d", "learnable-fourier", "multi-learnable-fourier", "none")


def _rotated_columns(start: torch.Tensor, width: int) -> torch.Tensor:
    """(width, 2): ``start`` rotated by angles evenly spaced from 0 to 180 degrees."""
    angle = torch.deg2rad(torch.linspace(0, 180, width, device=start.device, dtype=start.dtype))
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack((cos * start[0] - sin * start[1], sin * start[0] + cos * start[1]), dim=-1)


class RotationalEmbedding2D(nn.Module):
    """The reference's ``custom-rotational`` embedding; output (1, d, width, width)."""

    def __init__(self, d: int):
        super().__init__()
        self.start_vector = nn.Parameter(torch.tensor([0.0, 1.0]))
        self.projection = nn.Sequential(nn.Linear(4, d))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        height, width = features.shape[-2:]
        if height != width:
            raise ValueError(f"the rotational-2d embedding needs a square feature map, got {height}x{width}")
        columns = _rotated_columns(self.start_vector, width)
        grid = torch.cat((columns[:, None].expand(width, width, 2), columns[None, :].expand(width, width, 2)), dim=-1)
        return self.projection(grid).permute(2, 0, 1).unsqueeze(0)


def coordinate_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(height, width, 2): each cell's (x, y) position scaled to [0, 1] (as the reference's
    ``add_coord_dim``; a side of 1 divides by zero there too)."""
    x = torch.arange(width, device=like.device, dtype=like.dtype) / (width - 1)
    y = torch.arange(height, device=like.device, dtype=like.dtype) / (height - 1)
    return torch.stack((x.expand(height, width), y[:, None].expand(height, width)), dim=-1)


class LearnableFourierEmbedding(nn.Module):
    """Learnable Fourier features of the 2-D position; output (batch, d, height, width).

    ``fourier`` features (half cosines, half sines) of the coordinates projected by ``Wr``
    (initialised N(0, γ⁻²)), then an MLP with a GLU to ``d`` and a LayerNorm."""

    def __init__(self, d: int, fourier: int = 256, hidden: int = 128, gamma: float = 1 / 2.5):
        super().__init__()
        self.fourier = fourier
        self.Wr = nn.Linear(2, fourier // 2, bias=False)
        self.mlp = nn.Sequential(nn.Linear(fourier, hidden), nn.GLU(), nn.Linear(hidden // 2, d), nn.LayerNorm(d))
        nn.init.normal_(self.Wr.weight, mean=0.0, std=gamma**-2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = features.shape
        projected = self.Wr(coordinate_grid(height, width, features))
        fourier = torch.cat((torch.cos(projected), torch.sin(projected)), dim=-1) / math.sqrt(self.fourier)
        return self.mlp(fourier).permute(2, 0, 1).unsqueeze(0).expand(batch, -1, -1, -1)


class MultiLearnableFourierEmbedding(nn.Module):
    """``count`` learnable Fourier embeddings with initial scales γ evenly from 1 to 0.1, summed
    with softmax(``combination``) weights; output (batch, d, height, width)."""

    def __init__(self, d: int, fourier: int = 256, hidden: int = 128, count: int = 10):
        super().__init__()
        self.embedders = nn.ModuleList(
            LearnableFourierEmbedding(d, fourier, hidden, float(gamma)) for gamma in np.linspace(1.0, 0.1, count)
        )
        self.combination = nn.Parameter(torch.ones(count))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.combination, dim=-1)
        return sum(w * embed(features) for w, embed in zip(weights, self.embedders))


def positional_2d(kind: str, d: int) -> nn.Module | None:
    """The 2-D embedding named ``kind`` (one of POSITIONAL_2D) for feature width ``d``; None for 'none'."""
    if kind not in POSITIONAL_2D:
        raise ValueError(f"unknown 2-D positional embedding {kind!r} (use one of {list(POSITIONAL_2D)})")
    return {
        "rotational-2d": RotationalEmbedding2D,
        "learnable-fourier": LearnableFourierEmbedding,
        "multi-learnable-fourier": MultiLearnableFourierEmbedding,
    }.get(kind, lambda _: None)(d)
