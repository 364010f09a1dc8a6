"""The reference CTM's QA-MNIST input (``models/ctm_qamnist.py``) as a NeuroSync backbone.

The reference's QA-MNIST CTM thinks one tick per shown item, so its thought is as long as its
input: ``X`` ticks of digit images (each image repeated ``iterations_per_digit`` times), ``Q``
ticks of question codes (index and operator parts alternating every
``iterations_per_question_part`` ticks), then ``iterations_for_answering`` ticks. On an image
tick the CTM attends (its synchrony query) to the image's CNN tokens (two 3×3 conv, BatchNorm,
ReLU, 2×2 max-pool blocks: H/4 · W/4 tokens of ``d_input``); on a question tick the part's
embedding enters the synapse directly, without attention (an index: a fixed sinusoidal table of
50 positions; an operator, code −1 or −2: a learned embedding), and zeros on the answer ticks.
:class:`QAMNISTBackbone` returns that as :class:`~neurosync.parts.perception.TickTokens` with
direct inputs and the thought's length; module names follow the reference so that its state
dicts load.

One input tensor carries both of the reference's inputs: :func:`pack_qamnist` (x (batch, X, C,
H, W) images per tick, z (batch, Q) question codes per tick) -> (batch, 2 + X·C·H·W + Q) with
X and Q in the first two columns; square images.

NeuroSync's own Q&A task (:mod:`neurosync.tasks.qa_digits`) differs on purpose: its question
parts are tokens seen through attention and its thoughts have a fixed length.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INDEX_POSITIONS = 50  # the reference's sinusoidal index table


def sinusoid_table(positions: int, width: int) -> torch.Tensor:
    """(positions, width): the transformer's sinusoidal position table (sin on even, cos on odd columns)."""
    position = torch.arange(positions, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(positions, width)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def pack_qamnist(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The reference's (x (batch, X, C, H, W), z (batch, Q)) as one (batch, 2 + X·C·H·W + Q) tensor."""
    if x.dim() != 5 or z.dim() != 2 or x.shape[0] != z.shape[0] or x.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"QA-MNIST inputs are images (batch, ticks, C, H, H) and codes (batch, ticks), got "
            f"{tuple(x.shape)} and {tuple(z.shape)}"
        )
    batch = x.shape[0]
    sizes = x.new_tensor([x.shape[1], z.shape[1]]).expand(batch, 2)
    return torch.cat((sizes, x.reshape(batch, -1), z.to(x.dtype)), dim=1)


class _DigitCNN(nn.Module):
    def __init__(self, channels: int, width: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        )

    def forward(self, x):
        return self.layers(x)


class _Lookup(nn.Module):
    """The reference's learned operator embedding (+ or −), under its parameter names."""

    def __init__(self, width: int):
        super().__init__()
        self.embedding = nn.Embedding(2, width)


class _Table(nn.Module):
    embedding: torch.Tensor  # (positions, width) sinusoid table (buffer)

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("embedding", sinusoid_table(INDEX_POSITIONS, width))


class QAMNISTBackbone(nn.Module):
    """Packed QA-MNIST inputs (:func:`pack_qamnist`) -> TickTokens with direct question inputs."""

    def __init__(self, width: int, channels: int, per_question_part: int, answering: int):
        super().__init__()
        self.width, self.channels = width, channels
        self.per_question_part, self.answering = per_question_part, answering
        self.backbone_digit = _DigitCNN(channels, width)
        self.index_backbone = _Table(width)
        self.operator_backbone = _Lookup(width)

    def unpack(self, packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inverse of :func:`pack_qamnist`: images (batch, X, C, H, H), codes (batch, Q) int64."""
        if packed.dim() != 2 or packed.shape[1] < 2:
            raise ValueError(
                f"a packed QA-MNIST input is (batch, 2 + X·C·H·W + Q) (see pack_qamnist), got {tuple(packed.shape)}"
            )
        digits, parts = int(packed[0, 0]), int(packed[0, 1])
        pixels = packed.shape[1] - 2 - parts
        side = math.isqrt(max(pixels // max(digits * self.channels, 1), 0))
        if digits < 1 or parts < 1 or digits * self.channels * side * side != pixels:
            raise ValueError(
                f"a packed QA-MNIST input of {packed.shape[1]} columns does not hold {digits} square "
                f"{self.channels}-channel images and {parts} question codes (see pack_qamnist)"
            )
        x = packed[:, 2 : 2 + pixels].reshape(packed.shape[0], digits, self.channels, side, side)
        return x, packed[:, 2 + pixels :].round().long()

    def forward(self, packed: torch.Tensor):
        from .perception import TickTokens

        x, z = self.unpack(packed)
        batch, digits = x.shape[:2]
        parts = z.shape[1]
        features = self.backbone_digit(x.flatten(0, 1))  # every tick's image: (batch·X, width, H/4, W/4)
        per_image = features.shape[-1] * features.shape[-2]
        tokens = features.flatten(2).transpose(1, 2).reshape(batch, digits * per_image, self.width)
        ticks = digits + parts + self.answering
        tick, slot = torch.arange(ticks, device=x.device), torch.arange(digits * per_image, device=x.device)
        visible = ((slot // per_image).unsqueeze(0) == tick.clamp(max=digits - 1).unsqueeze(1)).unsqueeze(0)
        index_tick = (torch.arange(parts, device=x.device) % (2 * self.per_question_part)) < self.per_question_part
        index = self.index_backbone.embedding[z.clamp(0, INDEX_POSITIONS - 1)]
        operator = self.operator_backbone.embedding((-z - 1).clamp(0, 1))
        question = torch.where(index_tick.view(1, -1, 1), index, operator)
        direct = torch.cat(
            (
                tokens.new_zeros(batch, digits, self.width),
                question.to(tokens.dtype),
                tokens.new_zeros(batch, self.answering, self.width),
            ),
            dim=1,
        )
        return TickTokens(
            tokens, visible.expand(batch, -1, -1), direct, (False,) * digits + (True,) * (parts + self.answering), ticks
        )
