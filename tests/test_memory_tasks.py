"""The memory tasks (recall, oneshot): generators against independent evaluations
(hypothesis), one item per tick, held-out classes, bad input in one line."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosync import config as config_mod
from neurosync.build import build_model
from neurosync.config import ConfigError, from_dict
from neurosync.tasks import get_task, oneshot, recall

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _text(row) -> str:
    """A recall row written as the paper writes it, e.g. 'c9k8j3f1??c'."""
    out = ""
    for code in row:
        code = int(code)
        out += LETTERS[code] if code < recall.DIGIT0 else "??" if code == recall.QUERY else str(code - recall.DIGIT0)
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), pairs=st.integers(1, 10), extra=st.integers(0, 16))
def test_recall_answers_are_the_queried_keys_values(seed, pairs, extra):
    vocabulary = min(26, pairs + extra)
    codes, answers = recall.make_batch(16, pairs, vocabulary, np.random.default_rng(seed))
    assert codes.shape == (16, 2 * pairs + 2) and answers.shape == (16,)
    for row, answer in zip(codes, answers):
        text = _text(row)  # independent: parse the string, build the table, look the query up
        body, query = text.split("??")
        table = dict(zip(body[0::2], body[1::2]))
        assert len(table) == pairs and len(body) == 2 * pairs  # distinct keys, one digit each
        assert set(table) <= set(LETTERS[:vocabulary]) and len(query) == 1 and query in table
        assert int(table[query]) == answer == recall.answer(row)


def _recall_config(pairs=3, repeats=2, answer_ticks=3, **model):
    ticks = (2 * pairs + 2) * repeats + answer_ticks
    return from_dict(
        {
            "task": {
                "name": "recall",
                "pairs": pairs,
                "vocabulary": 10,
                "ticks_per_input": repeats,
                "answer_ticks": answer_ticks,
            },
            "model": {
                "ticks": ticks,
                "d_model": 16,
                "d_input": 8,
                "heads": 2,
                "n_synch_out": 6,
                "n_synch_action": 5,
                **model,
            },
        }
    )


@pytest.mark.parametrize("pairs, repeats, answer_ticks", [(1, 1, 1), (3, 2, 3), (8, 1, 4)])
def test_recall_shows_one_item_per_tick(pairs, repeats, answer_ticks):
    cfg = _recall_config(pairs, repeats, answer_ticks)
    x, y = recall.sample(cfg.task, 4, torch.Generator().manual_seed(0))
    tokens = build_model(cfg).backbone(x)
    items = 2 * pairs + 2
    assert tokens.tokens.shape[:2] == (4, items + 1) and tokens.visible.shape == (4, cfg.model.ticks, items + 1)
    for tick in range(cfg.model.ticks):
        expected = np.zeros(items + 1, dtype=bool)
        expected[tick // repeats if tick < items * repeats else items] = True  # the item shown, or the blank
        assert (tokens.visible[:, tick].numpy() == expected).all(), tick
    embedded = build_model(cfg).backbone
    torch.testing.assert_close(tokens.tokens[:, :items], embedded.embedding(x.long()))
    assert (tokens.tokens[:, items] == 0).all()


def test_recall_eval_set_is_fixed_and_bad_input_is_refused():
    cfg = _recall_config()
    a, b = recall.eval_set(cfg.task, 8, 0), recall.eval_set(cfg.task, 8, 0)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], recall.eval_set(cfg.task, 8, 1)[0])
    model = build_model(cfg)
    with pytest.raises(ValueError, match=r"recall input must be \(batch, 8\)"):
        model(torch.zeros(2, 7))
    bad = a[0][:2].clone()
    bad[0, 0] = 0.5
    with pytest.raises(ValueError, match="recall codes are integers in 0..36"):
        model(bad)
    with pytest.raises(ValueError, match="pairs <= vocabulary"):
        recall.make_batch(2, 5, 4, np.random.default_rng(0))


def _pool(per_class=6, classes=10, seed=0):
    """Images whose first pixel is their pool index, so an episode's images can be traced back."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    rng.shuffle(labels)
    pool = rng.random((len(labels), 1, 8, 8)).astype(np.float32)
    pool[:, 0, 0, 0] = np.arange(len(labels))
    return pool, labels


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), ways=st.integers(2, 5), held_out=st.integers(5, 8))
def test_oneshot_answers_are_the_label_bound_to_the_querys_class(seed, ways, held_out):
    pool, labels = _pool(seed=seed)
    allowed = np.arange(10 - held_out, 10)
    drawn = oneshot.make_batch(pool, labels, allowed, 12, ways, np.random.default_rng(seed))
    assert drawn["images"].shape == (12, ways + 1, 1, 8, 8)
    for b in range(12):
        index = drawn["images"][b, :, 0, 0, 0].astype(int)  # independent: trace every image to its pool entry
        support, query = labels[index[:ways]], labels[index[ways]]
        assert len(set(support)) == ways and set(support) <= set(allowed)  # N distinct allowed classes
        assert sorted(drawn["tokens"][b]) == list(range(ways))  # the labels: a permutation, drawn per episode
        k = list(support).index(query)
        assert index[k] != index[ways]  # the query is another image of its class
        assert drawn["answers"][b] == drawn["tokens"][b][k] == oneshot.answer(support, drawn["tokens"][b], query)


def test_oneshot_curriculum_repeats_the_support_image_in_training_only():
    """same_image_fraction: that share of training episodes asks about the support's own image
    (matching); 0 draws exactly the episodes of the task as defined; evaluation never repeats."""
    pool, labels = _pool(seed=3)
    allowed = np.arange(5)
    plain = oneshot.make_batch(pool, labels, allowed, 400, 5, np.random.default_rng(1))
    assert np.array_equal(
        plain["images"], oneshot.make_batch(pool, labels, allowed, 400, 5, np.random.default_rng(1), 0.0)["images"]
    )
    half = oneshot.make_batch(pool, labels, allowed, 400, 5, np.random.default_rng(1), 0.5)
    index = half["images"][:, :, 0, 0, 0].astype(int)
    repeated = index[np.arange(400), half["asked"]] == index[:, 5]
    assert 0.4 < repeated.mean() < 0.6 and np.array_equal(half["answers"], plain["answers"])
    cfg = from_dict(
        {
            "task": {"name": "oneshot", "ways": 5, "ticks_per_input": 1, "answer_ticks": 2, "same_image_fraction": 1.0},
            "model": {"ticks": 8},
        }
    )
    x, _ = oneshot.eval_set(cfg.task, 50, 0)
    images_ = x[:, : 6 * 64].reshape(50, 6, 64)
    assert not bool((images_[:, :5] == images_[:, 5:]).all(-1).any())  # held-out episodes still ask for a new image
    with pytest.raises(ConfigError, match=r"task.same_image_fraction must lie in \[0, 1\]"):
        from_dict(
            {
                "task": {
                    "name": "oneshot",
                    "ways": 5,
                    "ticks_per_input": 1,
                    "answer_ticks": 2,
                    "same_image_fraction": 1.5,
                },
                "model": {"ticks": 8},
            }
        )


def test_oneshot_train_and_evaluation_classes_are_disjoint():
    cfg = from_dict(
        {"task": {"name": "oneshot", "ways": 5, "ticks_per_input": 1, "answer_ticks": 2}, "model": {"ticks": 8}}
    )
    assert list(oneshot.classes(cfg.task, "train")) == [0, 1, 2, 3, 4] and list(oneshot.classes(cfg.task, "test")) == [
        5,
        6,
        7,
        8,
        9,
    ]
    from neurosync.tasks import images

    data = images._dataset("digits", "")
    for split, x in (
        ("train", oneshot.sample(cfg.task, 40, torch.Generator().manual_seed(0))[0]),
        ("test", oneshot.eval_set(cfg.task, 40, 0)[0]),
    ):
        pool, labels = data[split]
        shown = x[:, : 6 * 64].reshape(-1, 64)
        match = (shown[:, None, :] - pool.reshape(1, -1, 64)).abs().amax(-1) < 1e-6  # every image is of this split
        assert bool(match.any(1).all()), split
        found = labels[match.float().argmax(1)]
        assert set(found.tolist()) <= set(oneshot.classes(cfg.task, split).tolist()), split
    # the batch's chance metric is 1 / ways
    assert oneshot.prediction_shape(cfg.task) == (5,)


def test_oneshot_shows_each_image_with_its_label_then_the_query_alone():
    cfg = from_dict(
        {
            "task": {"name": "oneshot", "ways": 3, "ticks_per_input": 2, "answer_ticks": 2},
            "model": {"ticks": 10, "d_model": 16, "d_input": 8, "heads": 2, "n_synch_out": 6, "n_synch_action": 5},
        }
    )
    x, _ = oneshot.sample(cfg.task, 4, torch.Generator().manual_seed(1))
    model = build_model(cfg)
    tokens = model.backbone(x)
    per_image, bank = 16, 4 * 16 + 3 + 1
    assert tokens.visible.shape == (4, 10, bank)
    for tick in range(10):
        expected = np.zeros(bank, dtype=bool)
        item = tick // 2
        if item < 4:
            expected[item * per_image : (item + 1) * per_image] = True
            if item < 3:
                expected[4 * per_image + item] = True  # support item k: image k and its label token
        else:
            expected[-1] = True
        assert (tokens.visible[:, tick].numpy() == expected).all(), tick
    torch.testing.assert_close(
        tokens.tokens[:, 4 * per_image : 4 * per_image + 3], model.backbone.label_embedding(x[:, -3:].long())
    )
    with pytest.raises(ValueError, match=r"one-shot input must be \(batch, 259\)"):
        model(x[:, :-1])
    bad = x.clone()
    bad[0, -1] = 3
    with pytest.raises(ValueError, match="label tokens are integers in 0..2"):
        model(bad)


@pytest.mark.parametrize(
    "model",
    [
        {},
        {"neuron": "spiking", "synchrony": "spike-multiscale"},
        {"synapse": "plastic"},
        {"architecture": "lstm", "lstm_hidden": 12},
    ],
)
def test_a_tick_knows_nothing_of_items_not_yet_shown(model):
    """One item per tick: the logits before the query key is shown do not depend on it (CTM,
    SpikingCTM, plastic CTM and the LSTM baseline alike)."""
    cfg = _recall_config(pairs=3, repeats=2, answer_ticks=2, **model)
    torch.manual_seed(0)
    net = build_model(cfg).eval()
    x, _ = recall.eval_set(cfg.task, 4, 0)
    other = x.clone()
    other[:, -1] = (x[:, -1] + 1) % recall.LETTERS  # another query key
    with torch.no_grad():
        a, b = net(x).logits, net(other).logits
    shown = (2 * 3 + 1) * 2  # ticks before the query key appears
    torch.testing.assert_close(a[:, :shown], b[:, :shown])
    assert not torch.allclose(a[:, shown:], b[:, shown:])


def test_the_lstm_baseline_trains_saves_and_is_refused_with_ctm_parts(tmp_path):
    from neurosync.checkpoint import load_model
    from neurosync.config import ConfigError
    from neurosync.lstm import LSTMBaseline
    from neurosync.training import train

    cfg = _recall_config(pairs=2, repeats=1, answer_ticks=2, architecture="lstm", lstm_hidden=16)
    cfg.train.steps, cfg.train.eval_every, cfg.train.checkpoint_every, cfg.train.eval_samples = 30, 30, 30, 64
    cfg.train.final_eval_samples, cfg.train.lr, cfg.train.warmup_steps = 64, 1e-2, 5
    result = train(cfg, tmp_path, progress=False)
    model, _ = load_model(tmp_path)
    assert isinstance(model, LSTMBaseline) and result["steps"] == 30
    x, _ = recall.eval_set(cfg.task, 8, 0)
    out = model(x)
    assert out.logits.shape == (8, cfg.model.ticks, 10) and out.certainty.shape == (8, cfg.model.ticks)
    assert ((out.certainty >= 0) & (out.certainty <= 1)).all()
    for extra, message in (
        ({"neuron": "spiking", "synchrony": "spike-multiscale"}, "leave model.neuron = 'nlm'"),
        ({"lstm_hidden": 0}, "model.lstm_hidden must be >= 1"),
        ({"architecture": "gru"}, "model.architecture = 'gru' is not one of ctm, lstm"),
    ):
        with pytest.raises(ConfigError, match=message):
            _recall_config(**{"architecture": "lstm", **extra})


def test_the_bag_of_values_baseline_by_hand_and_by_simulation():
    assert recall.frequency_baseline(1) == pytest.approx(1.0)
    assert recall.frequency_baseline(2) == pytest.approx(0.1 * 1 + 0.9 * 0.5)  # equal values, or a coin flip
    codes, answers = recall.make_batch(100_000, 8, 26, np.random.default_rng(0))
    values = codes[:, 1:-2:2] - recall.DIGIT0
    counts = np.stack([(values == d).sum(1) for d in range(10)], 1)
    modes = counts == counts.max(1, keepdims=True)
    simulated = (modes[np.arange(len(answers)), answers] / modes.sum(1)).mean()
    assert recall.frequency_baseline(8) == pytest.approx(simulated, abs=0.005)


# a small model of every task but parity (whose own checks: tests/test_parity.py), from its cortical config
TASK_CONFIGS = [
    "digits/digits-cortical.toml",
    "recall/recall8-cortical.toml",
    "qa/qa3-cortical.toml",
    "maze/maze11-cortical.toml",
    "sort/sort8-cortical.toml",
]


def _small_model_and_inputs(config: str):
    from conftest import REPO

    cfg = config_mod.load(
        REPO / "configs" / config, ["model.d_model=32", "model.n_synch_out=8", "model.n_synch_action=8"]
    )
    x, _ = get_task(cfg.task).eval_set(cfg.task, 2, 0)
    return build_model(cfg).eval(), x


@pytest.mark.parametrize("config", TASK_CONFIGS)
def test_a_non_finite_input_is_refused_in_one_line_on_every_task(config):
    """A NaN or inf in an image, a symbol code or a number never reaches the logits: the model's
    boundary refuses it."""
    model, x = _small_model_and_inputs(config)
    assert torch.isfinite(model(x).logits).all()
    for value in (float("nan"), float("inf")):
        bad = x.clone()
        bad.view(-1)[bad.numel() // 2] = value
        with pytest.raises(ValueError, match=r"the input holds 1 non-finite value\(s\) \(NaN or inf\)") as err:
            model(bad)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("config", TASK_CONFIGS)
def test_an_input_of_the_wrong_shape_is_refused_in_one_line_on_every_task(config):
    """One value too few, the sample axes flattened, or an extra axis: a ValueError naming the shape
    the model reads, never a silent answer about a cropped image or a shorter list."""
    model, x = _small_model_and_inputs(config)
    for bad in (x[..., :-1], x.flatten(1)[:, :-1], x.unsqueeze(1)):
        with pytest.raises(ValueError) as err:
            model(bad)
        assert "\n" not in str(err.value) and str(tuple(bad.shape)) in str(err.value), str(err.value)
