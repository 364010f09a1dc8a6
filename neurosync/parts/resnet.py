"""The reference CTM's ResNet feature extractors (``models/resnet.py``) as an image backbone.

``resnet{18,34,50,101,152}-{1,2,3,4}``: a ResNet of that depth truncated after its first 1–4
stages ("hyper-blocks"), with the reference's changes to torchvision's: a 3×3 stride-1 stem
(it limits the receptive field so that the CTM must look around), then the usual 3×3/2 max
pool; BasicBlock (18, 34) or Bottleneck (50, 101, 152, expansion 4) stages of widths
64, 128, 256, 512, each after the first downsampling by 2. Before it, a 1×1 convolution
(``initial_rgb``) maps any number of input channels to 3, as the reference does for grey
images. Module names follow the reference so that its state dicts (BatchNorm statistics
included) load unchanged; in eval mode the BatchNorms use their running statistics.

:class:`ResNetBackbone` turns images (batch, C, H, W) into tokens (batch, H'·W', d) for the
CTM's attention, adding a 2-D positional embedding (see :mod:`neurosync.parts.positional`).
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from .positional import positional_2d

DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 4, 36, 3)),
}
WIDTHS = (64, 128, 256, 512)


def parse_resnet(kind: str) -> tuple[int, int]:
    """'resnet18-2' -> (18, 2); ValueError naming the allowed forms otherwise."""
    match = re.fullmatch(r"resnet(\d+)-([1-4])", kind)
    if not match or int(match.group(1)) not in DEPTHS:
        raise ValueError(f"unknown ResNet backbone {kind!r}: use resnet{{18,34,50,101,152}}-{{1,2,3,4}}")
    return int(match.group(1)), int(match.group(2))


def resnet_width(kind: str) -> int:
    """Channels of the feature map of backbone ``kind`` (e.g. 128 for resnet18-2, 512 for resnet50-2)."""
    depth, stages = parse_resnet(kind)
    return WIDTHS[stages - 1] * (4 if DEPTHS[depth][0] == "bottleneck" else 1)


def _conv(inputs: int, outputs: int, size: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, size, stride=stride, padding=size // 2, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with BatchNorm and a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inputs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1 = _conv(inputs, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (carrying the stride), 1×1 expand by 4, with a residual (ResNet-50+)."""

    expansion = 4

    def __init__(self, inputs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1 = _conv(inputs, planes, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = _conv(planes, planes * 4, 1), nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNetFeatures(nn.Module):
    """The stem and the first ``stages`` stages of a ResNet of ``depth`` layers; (batch, 3, H, W)
    -> (batch, resnet_width, H/2^stages, W/2^stages) (rounded up)."""

    def __init__(self, depth: int, stages: int):
        super().__init__()
        kind, counts = DEPTHS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1, self.bn1 = _conv(3, 64, 3), nn.BatchNorm2d(64)
        inputs = 64
        for stage in range(stages):
            planes, stride = WIDTHS[stage], (1 if stage == 0 else 2)
            downsample = None
            if stride != 1 or inputs != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(inputs, planes * block.expansion, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes * block.expansion),
                )
            layers = [block(inputs, planes, stride, downsample)]
            inputs = planes * block.expansion
            layers += [block(inputs, planes) for _ in range(1, counts[stage])]
            self.add_module(f"layer{stage + 1}", nn.Sequential(*layers))
        self.stages = stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)
        for stage in range(1, self.stages + 1):
            x = getattr(self, f"layer{stage}")(x)
        return x


class ResNetBackbone(nn.Module):
    """Images (batch, channels, H, W) -> tokens (batch, H'·W', d): ``initial_rgb`` (1×1 conv to
    3 channels), the ResNet features of ``kind`` and the 2-D positional embedding ``positional``
    (one of :data:`neurosync.parts.positional.POSITIONAL_2D`) added to them."""

    def __init__(self, kind: str, channels: int, positional: str = "none"):
        super().__init__()
        depth, stages = parse_resnet(kind)
        self.width = resnet_width(kind)
        self.initial_rgb = nn.Conv2d(channels, 3, 1)
        self.resnet = ResNetFeatures(depth, stages)
        self.positional = positional_2d(positional, self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.initial_rgb.in_channels:
            raise ValueError(
                f"images must have shape (batch, {self.initial_rgb.in_channels}, height, width), got {tuple(x.shape)}"
            )
        features = self.resnet(self.initial_rgb(x))
        if self.positional is not None:
            features = features + self.positional(features)
        return features.flatten(2).transpose(1, 2)
