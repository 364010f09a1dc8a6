"""Mazes: from an image of a maze with a start and a goal, output the first N steps of the
shortest route (Up, Down, Left, Right, or Wait once the goal is reached), as the paper's maze
task. Trained with the reference's auto-extending curriculum: at every tick the loss covers the
route steps up to the first wrong one plus ``curriculum_lookahead`` more.

Mazes are perfect (exactly one route between any two open squares), carved by a randomised
depth-first search on a ``maze_size`` × ``maze_size`` grid (odd; cells at odd coordinates).
The image has three channels: open squares, the start, the goal. No positional embedding is
added by default (as the paper): the CNN tokens carry only what the image shows.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ModelConfig, TaskConfig
from ..losses import certainty_loss

PRIMARY = "bit_acc_certain"
MOVES = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}  # up, down, left, right; 4 = wait
MOVE_NAMES = ("up", "down", "left", "right", "wait")
WAIT = 4


def generate(size: int, rng: np.random.Generator) -> np.ndarray:
    """A perfect maze: (size, size) bool, True where open."""
    if size < 5 or size % 2 == 0:
        raise ValueError(f"maze size must be odd and >= 5, got {size}")
    open_ = np.zeros((size, size), dtype=bool)
    cells = size // 2
    start = (int(rng.integers(cells)), int(rng.integers(cells)))
    visited = np.zeros((cells, cells), dtype=bool)
    visited[start] = True
    open_[2 * start[0] + 1, 2 * start[1] + 1] = True
    stack = [start]
    while stack:
        r, c = stack[-1]
        options = [
            (r + dr, c + dc)
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= r + dr < cells and 0 <= c + dc < cells and not visited[r + dr, c + dc]
        ]
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        visited[nr, nc] = True
        open_[2 * nr + 1, 2 * nc + 1] = True
        open_[r + nr + 1, c + nc + 1] = True  # the wall between the two cells
        stack.append((nr, nc))
    return open_


def shortest_route(open_: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> list[int]:
    """Moves (0–3) of a shortest route from start to goal over open squares (BFS)."""
    previous = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here == goal:
            break
        for move, (dr, dc) in MOVES.items():
            nxt = (here[0] + dr, here[1] + dc)
            if 0 <= nxt[0] < open_.shape[0] and 0 <= nxt[1] < open_.shape[1] and open_[nxt] and nxt not in previous:
                previous[nxt] = (here, move)
                queue.append(nxt)
    if goal not in previous:
        raise ValueError("the goal cannot be reached from the start")
    moves, here = [], goal
    while previous[here] is not None:
        here, move = previous[here]
        moves.append(move)
    return moves[::-1]


def follow(open_: np.ndarray, start: tuple[int, int], moves) -> tuple[tuple[int, int], bool]:
    """Walk `moves` from start; returns the end square and whether every step stayed on open squares."""
    here, valid = start, True
    for move in moves:
        if move == WAIT:
            continue
        dr, dc = MOVES[int(move)]
        nxt = (here[0] + dr, here[1] + dc)
        if not (0 <= nxt[0] < open_.shape[0] and 0 <= nxt[1] < open_.shape[1] and open_[nxt]):
            valid = False
            break
        here = nxt
    return here, valid


def make_batch(size: int, steps: int, batch: int, rng: np.random.Generator):
    """Images (batch, 3, size, size) float32 and routes (batch, steps) int64 (padded with wait)."""
    images = np.zeros((batch, 3, size, size), dtype=np.float32)
    routes = np.full((batch, steps), WAIT, dtype=np.int64)
    for b in range(batch):
        open_ = generate(size, rng)
        squares = np.argwhere(open_)
        i, j = rng.choice(len(squares), size=2, replace=False)
        start, goal = tuple(int(v) for v in squares[i]), tuple(int(v) for v in squares[j])
        moves = shortest_route(open_, start, goal)[:steps]
        routes[b, : len(moves)] = moves
        images[b, 0] = open_
        images[b, 1][start] = 1.0
        images[b, 2][goal] = 1.0
    return images, routes


def prediction_shape(cfg: TaskConfig) -> tuple[int, int]:
    """(route steps, 5): a move (or stay) per step of the route."""
    return (cfg.sequence_length, 5)


def backbone(task: TaskConfig, model: ModelConfig):
    """(backbone, feature width): maze images (batch, 3, size, size) -> tokens: a small CNN, or
    the reference's ResNet named by ``model.backbone``."""
    from .images import ConvBackbone, image_backbone

    return image_backbone(model, 3, lambda: ConvBackbone(3, model.d_input, task.maze_size))


def _rng(generator: torch.Generator) -> np.random.Generator:
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))


def sample(cfg: TaskConfig, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of generated mazes: images (batch, 3, size, size) and routes (batch, sequence_length) of
    moves."""
    images, routes = make_batch(cfg.maze_size, cfg.sequence_length, batch, _rng(generator))
    return torch.from_numpy(images), torch.from_numpy(routes)


def eval_set(cfg: TaskConfig, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed evaluation set of ``samples`` mazes (seeded apart from training)."""
    return sample(cfg, samples, torch.Generator().manual_seed(10_000_019 + seed))


def _step_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(batch, ticks, steps·5) logits -> cross-entropy per tick and route step (batch, ticks, steps)."""
    batch, ticks, _ = logits.shape
    steps = targets.shape[1]
    logits = logits.float().reshape(batch, ticks, steps, 5)
    return F.cross_entropy(
        logits.permute(0, 3, 1, 2), targets.unsqueeze(1).expand(batch, ticks, steps), reduction="none"
    )


def curriculum_mask(logits: torch.Tensor, targets: torch.Tensor, lookahead: int) -> torch.Tensor:
    """(batch, steps) 1 for the route steps trained: up to the longest correct prefix over the
    ticks, plus `lookahead` (the reference's auto-extending curriculum)."""
    batch, ticks, _ = logits.shape
    steps = targets.shape[1]
    correct = logits.reshape(batch, ticks, steps, 5).argmax(-1) == targets.unsqueeze(1)
    prefix = correct.long().cumprod(-1).sum(-1)  # (batch, ticks) correct steps before the first wrong one
    upto = prefix.max(1).values + lookahead
    return (torch.arange(steps, device=logits.device).unsqueeze(0) < upto.unsqueeze(1)).float()


def loss(out, y: torch.Tensor, cfg: TaskConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, most-certain tick): the certainty loss over the route steps the auto-extending curriculum
    reaches."""
    mask = curriculum_mask(out.logits.detach(), y, cfg.curriculum_lookahead).unsqueeze(1)  # (batch, 1, steps)
    per_tick = (_step_losses(out.logits, y) * mask).sum(-1) / mask.sum(-1)
    return certainty_loss(per_tick, out.certainty)


def correct_units(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(batch, route steps) bool: which moves of logits (batch, steps·5) at one tick are right."""
    return logits.reshape(logits.shape[0], -1, 5).argmax(-1) == targets


def headline(final: dict) -> str:
    """One line: route steps right and whole routes right, at the most-certain and the last tick."""
    return (
        f"route steps right {100 * final['bit_acc_certain']:.2f}%, whole route (first steps) right "
        f"{100 * final['seq_acc_certain']:.2f}% (last tick: {100 * final['bit_acc_last']:.2f}% / "
        f"{100 * final['seq_acc_last']:.2f}%), mean most-certain tick {final['certain_tick']:.1f}"
    )


def attention_figure(recording, images: torch.Tensor, sample: int = 0):
    """The maze with, for each tick, the square the CTM attended to most (mean over heads),
    coloured from early (dark) to late (bright) ticks; returns the matplotlib Figure."""
    from ..analysis import _pyplot

    plt = _pyplot()
    image = images[sample].cpu().numpy()
    side = image.shape[-1]
    weights = recording.require("attention")[sample].mean(1)  # (ticks, tokens)
    if weights.shape[-1] != side * side:
        raise ValueError(f"attention covers {weights.shape[-1]} tokens, the maze has {side * side} squares")
    peaks = np.unravel_index(weights.argmax(-1), (side, side))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    canvas = np.stack([image[0]] * 3, -1) * 0.85
    canvas[image[1] > 0] = (1.0, 0.2, 0.2)
    canvas[image[2] > 0] = (0.2, 0.8, 0.2)
    ax.imshow(canvas, interpolation="nearest")
    ax.plot(peaks[1], peaks[0], "-", color="0.5", lw=1, alpha=0.6)
    points = ax.scatter(peaks[1], peaks[0], c=np.arange(len(peaks[0])), cmap="plasma", s=40, zorder=3)
    fig.colorbar(points, ax=ax, label="tick", shrink=0.8)
    ax.set_title("most-attended square per tick (start red, goal green)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig
