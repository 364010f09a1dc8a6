"""What a plastic synapse's fast weight does within a thought (the mechanism of memory within a thought): its
trajectory, the current it adds, the learning rate the rule applies at every tick, and a lesion
that removes its read from a chosen tick on, so that its causal share of an answer is measured
rather than guessed.

All of it reads a :class:`~neurosync.parts.plastic.PlasticSynapse` through forward hooks, the
model left as it was; arrays are numpy, (batch, ticks, ...) with tick 0 the thought's first.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch


def _plastic_synapse(model):
    from ..parts.interfaces import fast_weight_site

    synapse = getattr(model, "synapse", None)
    if fast_weight_site(synapse) is None:
        raise ValueError(
            f"this model's synapse is {type(synapse).__name__}, not a plastic one "
            f'(model.synapse = "plastic" or "plastic-input")'
        )
    if synapse.site == "recurrent" and synapse.dale and not synapse.windowed:
        raise ValueError(
            "under dense Dale's law the plastic and the fixed recurrent weights meet inside one relu: "
            "the plastic current has no separate share to record or lesion"
        )
    return synapse


@torch.no_grad()
def record_plasticity(model, x: torch.Tensor) -> dict[str, np.ndarray]:
    """One thought per input of ``x`` (eval mode) and, per tick, what the plastic synapse did:

    - ``hebbian_norm`` (B, T): ‖H‖ (Frobenius) after the tick's update;
    - ``fast_weight_norm`` (B, T): ‖α ⊙ H‖;
    - ``plastic_current`` (B, T, D): the fast weight's read: (α ⊙ H) · s of the last tick's spikes
      (``synapse = "plastic"``) or (α ⊙ H) · o of this tick's input (``"plastic-input"``, or
      ``"plastic"`` with ``model.plasticity.site = "afferent"``);
    - ``slow_current`` (B, T, D): the rest of the synapse's output (the slow weights' share);
    - ``recurrent_current`` and ``drive`` (B, T, D), ``synapse = "plastic"`` only: W_rec · s and
      the attention input's share g(o), which sum to ``slow_current``;
    - ``learning_rate`` (B, T, D): the rule's η at the tick (constant over ticks unless neuromodulated);
    - ``logits`` (B, T, classes) and ``certainty`` (B, T).
    """
    from ..parts.interfaces import RecurrentSynapse

    synapse = _plastic_synapse(model)
    recurrent_site = isinstance(synapse, RecurrentSynapse)  # a weight of its own on the spikes, beside g(o)
    parts = ("hebbian_norm", "fast_weight_norm", "plastic_current", "slow_current", "learning_rate")
    rows: dict[str, list] = {k: [] for k in parts + (("recurrent_current", "drive") if recurrent_site else ())}
    alpha = synapse.alpha_matrix()

    def hook(module, args, output):
        attended, spikes, _, modulation = args
        current, state = output
        hebb = module.hebbian(state[1])
        plastic_current = module.fast_weight_read(attended, spikes, state)
        rows["hebbian_norm"].append(hebb.flatten(1).norm(dim=1))
        rows["fast_weight_norm"].append((alpha * hebb).flatten(1).norm(dim=1))
        rows["plastic_current"].append(plastic_current)
        rows["slow_current"].append(current - plastic_current)
        if recurrent_site:
            rows["recurrent_current"].append(module.recurrent_terms(spikes, state[1])[0])
            rows["drive"].append(module.input(attended))
        rows["learning_rate"].append(module.learning_rate(state[0], modulation).expand(spikes.shape[0], -1))

    was_training = model.training
    handle = synapse.register_forward_hook(hook)
    try:
        out = model.eval()(x)
    finally:
        handle.remove()
        model.train(was_training)
    result = {k: torch.stack(v, 1).float().numpy() for k, v in rows.items()}
    result["logits"], result["certainty"] = out.logits.float().numpy(), out.certainty.float().numpy()
    return result


@contextlib.contextmanager
def fast_weight_lesion(model, from_tick: int):
    """Within the block, the model's plastic synapse adds no fast-weight current at ticks ≥
    ``from_tick`` (0-based): H still evolves, but nothing reads it. From tick 0 this is the model
    with α = 0; from a query tick on, it asks whether the answer is read out of the fast weight."""
    synapse = _plastic_synapse(model)
    if from_tick < 0:
        raise ValueError(f"from_tick must be >= 0, got {from_tick}")
    calls = [0]  # synapse calls since the thought started

    def hook(module, args, output):
        tick, calls[0] = calls[0], calls[0] + 1
        if tick < from_tick:
            return output
        current, state = output
        return current - module.fast_weight_read(args[0], args[1], state), state

    handle = synapse.register_forward_hook(hook)
    original_start = synapse.start

    def start(batch):  # a new thought: count its ticks from 0
        calls[0] = 0
        return original_start(batch)

    synapse.start = start
    try:
        yield model
    finally:
        del synapse.start  # the class's method again
        handle.remove()


def decode(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> tuple[float, float]:
    """Cross-validated accuracy (mean, s.d. over ``folds``) of a multinomial logistic regression
    from ``features`` (samples, dims) to ``labels`` (samples,): how much of the labels a linear
    reader finds in a current or a state."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = np.asarray(features), np.asarray(labels)
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise ValueError(
            f"decode takes features (samples, dims) and labels (samples,), got {features.shape} and {labels.shape}"
        )
    reader = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    scores = cross_val_score(reader, features, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return float(scores.mean()), float(scores.std())
