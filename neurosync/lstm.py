"""The LSTM baseline (``model.architecture = "lstm"``): the task's backbone and the CTM's
attention, with an LSTM cell in place of the neurons, synapse and synchrony.

Per tick, as the CTM's tick loop::

    attended = attention(h, keys, values; the tokens visible at this tick)
    h, c     = LSTMCell(attended, (h, c))
    logits   = readout(h);   certainty = 1 − normalised entropy

so a task with one item per tick (recall, oneshot, Q&A) shows the LSTM exactly what it shows a
CTM, and the LSTM remembers earlier items only in (h, c), as the non-plastic baselines of Ba et
al. (2016) and Miconi et al. (2018). ``model.lstm_hidden`` sets the state size (parameter counts
are matched to the CTM compared with by choosing it); the start state is learned. The output
is a :class:`~neurosync.ctm.CTMOutput`, so training, evaluation and checkpoints are the CTM's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .ctm import CTMOutput, check_finite, normalised_entropy
from .parts.perception import SynchronyAttention, TickTokens


class LSTMBaseline(nn.Module):
    """The LSTM baseline (``model.architecture = "lstm"``): the task's backbone and the CTM's attention
    around an LSTM cell that steps once a tick; its logits and certainty per tick make a
    :class:`~neurosync.ctm.CTMOutput`, so training, evaluation and checkpoints are the CTM's."""

    def __init__(self, cfg, backbone: nn.Module, d_features: int, prediction_shape: tuple[int, ...]):
        super().__init__()
        hidden = cfg.lstm_hidden
        self.backbone = backbone
        self.attention = SynchronyAttention(d_features, cfg.d_input, cfg.heads, hidden, cfg.dropout)
        self.cell = nn.LSTMCell(cfg.d_input, hidden)
        self.start_hidden = nn.Parameter(torch.zeros(hidden))
        self.start_cell = nn.Parameter(torch.zeros(hidden))
        self.ticks = cfg.ticks
        self.prediction_shape = tuple(prediction_shape)
        self.readout = nn.Linear(hidden, math.prod(self.prediction_shape))

    def forward(self, x: torch.Tensor, observe=None) -> CTMOutput:
        check_finite(x)
        features = self.backbone(x)
        tick_tokens = features if isinstance(features, TickTokens) else None
        keys, values, query_weight, query_bias = self.attention.prepare(
            features.tokens if tick_tokens is not None else features
        )
        batch = x.shape[0]
        state = (self.start_hidden.expand(batch, -1), self.start_cell.expand(batch, -1))
        logits, certainties, activity = [], [], 0.0
        for t in range(self.ticks):
            visible = None if tick_tokens is None else tick_tokens.at(t)
            attended, _ = self.attention(state[0], keys, values, query_weight, query_bias, visible)
            state = self.cell(attended, state)
            tick_logits = self.readout(state[0])
            logits.append(tick_logits)
            certainties.append(1.0 - normalised_entropy(tick_logits, self.prediction_shape))
            activity = activity + state[0]
        return CTMOutput(torch.stack(logits, 1), torch.stack(certainties, 1), state[0], activity / self.ticks)
