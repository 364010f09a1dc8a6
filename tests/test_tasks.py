"""Tasks beyond parity: generators correct (maze routes are valid shortest paths, sort targets
sort), loaders read the real formats from tiny files written here, the losses and metrics on
hand-made cases, every task trains with falling loss, bad task parameters rejected."""

import gzip

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import shortest_path

from conftest import tiny_config
from neurosync.build import build_model
from neurosync.config import ConfigError, from_dict
from neurosync.ctm import CTMOutput
from neurosync.tasks import batch_metrics, get_task, images, maze, qa_digits, sort, task_loss


def _grid_distance(open_, start, goal):
    """Shortest path length over open squares by scipy's graph search (independent of the BFS)."""
    side = open_.shape[0]
    index = np.arange(side * side).reshape(side, side)
    rows, cols = [], []
    for r, c in np.argwhere(open_):
        for dr, dc in ((1, 0), (0, 1)):
            if r + dr < side and c + dc < side and open_[r + dr, c + dc]:
                rows.append(index[r, c])
                cols.append(index[r + dr, c + dc])
    from scipy.sparse import coo_matrix

    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(side * side, side * side))
    return shortest_path(graph, directed=False, indices=index[start])[index[goal]]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.sampled_from([5, 7, 11, 15]))
def test_mazes_are_perfect_and_routes_are_valid_shortest_paths(seed, size):
    rng = np.random.default_rng(seed)
    open_ = maze.generate(size, rng)
    cells = (size // 2) ** 2
    assert open_.sum() == 2 * cells - 1  # a spanning tree of the cells: perfect, hence connected and loop-free
    assert not open_[0].any() and not open_[:, 0].any() and not open_[-1].any() and not open_[:, -1].any()
    squares = np.argwhere(open_)
    i, j = rng.choice(len(squares), 2, replace=False)
    start, goal = tuple(squares[i]), tuple(squares[j])
    route = maze.shortest_route(open_, start, goal)
    end, valid = maze.follow(open_, start, route)
    assert valid and end == goal and len(route) == _grid_distance(open_, start, goal)


def test_maze_batches_pad_with_wait_and_mark_start_and_goal():
    images_, routes = maze.make_batch(7, 40, 8, np.random.default_rng(0))
    assert images_.shape == (8, 3, 7, 7) and routes.shape == (8, 40)
    for image, route in zip(images_, routes):
        start = tuple(np.argwhere(image[1])[0])
        goal = tuple(np.argwhere(image[2])[0])
        end, valid = maze.follow(image[0] > 0, start, route)
        assert valid and end == goal and image[1].sum() == 1 and image[2].sum() == 1
        moves = route[route != maze.WAIT]
        assert (route[len(moves) :] == maze.WAIT).all()  # waits only after the goal


def test_curriculum_mask_by_hand():
    targets = torch.tensor([[0, 1, 2, 3, 0, 1]])
    logits = torch.zeros(1, 2, 6, 5)
    logits[0, 0, :, 4] = 5  # tick 0: everything "wait": 0 correct
    logits[0, 1, [0, 1, 2], [0, 1, 2]] = 5  # tick 1: the first three steps right, then "up" where "right" is due
    logits[0, 1, 3:, 0] = 5
    mask = maze.curriculum_mask(logits.reshape(1, 2, 30), targets, lookahead=2)
    assert mask.tolist() == [[1, 1, 1, 1, 1, 0]]  # 3 correct + 2 ahead


def test_sort_targets_and_ctc_decoding_by_hand():
    cfg = from_dict({"task": {"name": "sort", "sequence_length": 4}, "model": {"ticks": 8}})
    x, y = sort.sample(cfg.task, 16, torch.Generator().manual_seed(0))
    assert torch.equal(torch.gather(x, 1, y), torch.sort(x, 1).values)
    blank = 3
    labels = [blank, 2, 2, blank, 0, 1]
    logits = torch.full((1, 6, 4), -5.0)
    logits[0, torch.arange(6), labels] = 5.0
    sequences, waits = sort.decode(logits)
    assert sequences == [[2, 0, 1]] and waits == [[1, 2, 0]]


def test_sort_ctc_loss_prefers_the_right_order():
    cfg = from_dict({"task": {"name": "sort", "sequence_length": 3}, "model": {"ticks": 6}})
    y = torch.tensor([[2, 0, 1]])

    def out(labels):
        logits = torch.full((1, 6, 4), -4.0)
        logits[0, torch.arange(6), labels] = 4.0
        return CTMOutput(logits, torch.zeros(1, 6), None, None)

    right, wrong = out([3, 2, 3, 0, 1, 3]), out([3, 0, 3, 2, 1, 3])
    assert sort.loss(right, y, cfg.task)[0] < 0.1 < sort.loss(wrong, y, cfg.task)[0]
    assert sort.batch_metrics(right, y, cfg.task) == {"sorted_exact": 1.0, "position_acc": 1.0}
    assert sort.batch_metrics(wrong, y, cfg.task)["sorted_exact"] == 0.0


def _idx(array, dims):
    header = bytes([0, 0, 8, dims]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_mnist_and_cifar10_loaders_read_tiny_files(tmp_path):
    rng = np.random.default_rng(0)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for prefix, n in (("train", 12), ("t10k", 5)):
        pixels, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        (mnist / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(pixels, 3)))
        (mnist / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels, 1))
    cfg = from_dict({"task": {"name": "images", "dataset": "mnist", "data_path": str(mnist)}})
    x, y = images.eval_set(cfg.task, 100, 0)
    assert x.shape == (5, 1, 28, 28) and torch.equal(y, torch.from_numpy(labels))
    cifar = tmp_path / "cifar"
    cifar.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = np.concatenate([rng.integers(0, 10, (3, 1)), rng.integers(0, 256, (3, 3072))], 1)
        (cifar / name).write_bytes(records.astype(np.uint8).tobytes())
    cfg = from_dict({"task": {"name": "images", "dataset": "cifar10", "data_path": str(cifar)}})
    x, y = images.sample(cfg.task, 4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 3, 32, 32) and abs(float(images._dataset("cifar10", str(cifar))["train"][0].mean())) < 1e-4
    assert torch.equal(images.eval_set(cfg.task, 10, 0)[1], torch.from_numpy(records[:, 0].astype(np.int64)))


def test_bad_data_files_are_rejected_in_one_line(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(b"\x80\x04pickle")  # the pickled Python version
    cfg = from_dict({"task": {"name": "images", "dataset": "cifar10", "data_path": str(tmp_path)}})
    with pytest.raises(ConfigError, match="nothing here unpickles"):
        images.sample(cfg.task, 2, torch.Generator())
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x09\x03" + bytes(12))
    cfg = from_dict({"task": {"name": "images", "dataset": "mnist", "data_path": str(tmp_path)}})
    with pytest.raises(ConfigError, match="not an idx file"):
        images.sample(cfg.task, 2, torch.Generator())


def test_digits_split_and_ece_equals_compare():
    from neurosync.compare import expected_calibration_error

    cfg = from_dict({"task": {"name": "images"}})
    x, y = images.eval_set(cfg.task, 10_000, 0)
    train_x, _ = images._dataset("digits", "")["train"]
    assert x.shape == (360, 1, 8, 8) and train_x.shape == (1437, 1, 8, 8) and set(y.tolist()) == set(range(10))
    logits = torch.randn(50, 3, 10, generator=torch.Generator().manual_seed(0)) * 3
    certainty = torch.rand(50, 3, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (50,), generator=torch.Generator().manual_seed(2))
    sums = images.batch_metrics(CTMOutput(logits, certainty, None, None), labels, cfg.task)
    final = images.finalise({k: v / 50 for k, v in sums.items()})
    probs = torch.softmax(logits[torch.arange(50), certainty.argmax(1)], -1)
    ece, _ = expected_calibration_error(probs.max(-1).values.numpy(), (probs.argmax(-1) == labels).numpy())
    assert final["ece"] == pytest.approx(ece, abs=1e-6) and "ece_bin0_n" not in final


@pytest.mark.parametrize(
    "task, extra, neuron",
    [
        ("sort", {"sequence_length": 3}, "nlm"),
        ("sort", {"sequence_length": 3}, "spiking"),
        ("images", {}, "nlm"),
        ("images", {}, "spiking"),
        ("maze", {"maze_size": 5, "sequence_length": 4}, "nlm"),
        ("maze", {"maze_size": 5, "sequence_length": 4}, "spiking"),
        ("qa_digits", {"images_shown": 1, "operations": 1}, "nlm"),
        ("qa_digits", {"images_shown": 1, "operations": 1}, "spiking"),
        ("recall", {"pairs": 2, "vocabulary": 4, "ticks_per_input": 1, "answer_ticks": 2}, "nlm"),
        ("recall", {"pairs": 2, "vocabulary": 4, "ticks_per_input": 1, "answer_ticks": 2}, "spiking"),
        ("oneshot", {"ways": 2, "ticks_per_input": 1, "answer_ticks": 2}, "nlm"),
        ("oneshot", {"ways": 2, "ticks_per_input": 1, "answer_ticks": 2}, "spiking"),
    ],
)
def test_every_task_trains_with_falling_loss(task, extra, neuron):
    cfg = tiny_config()
    cfg.task.name = task
    for key, value in extra.items():
        setattr(cfg.task, key, value)
    cfg.model.ticks = cfg.task.qa_ticks() if task in ("qa_digits", "recall", "oneshot") else 6
    if neuron == "spiking":
        cfg.model.neuron, cfg.model.synchrony = "spiking", "spike-multiscale"
    spec = get_task(cfg.task)
    torch.manual_seed(0)
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = spec.sample(cfg.task, 32, torch.Generator().manual_seed(0))  # one fixed batch: the loss must fall on it
    losses = []
    for _ in range(60):
        loss, _ = task_loss(spec, model(x), y, cfg.task)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5]), losses  # falls by more than 10%
    metrics = batch_metrics(spec, model(x), y, cfg.task)
    assert all(np.isfinite(v) and v >= 0 for v in metrics.values())


@pytest.mark.parametrize(
    "task, message",
    [
        ({"name": "sort", "sequence_length": 30}, "CTC emits at most one number per tick"),
        ({"name": "maze", "maze_size": 8}, "odd"),
        ({"name": "images", "dataset": "imagenet"}, "task.dataset"),
        ({"name": "mazes"}, "task.name"),
        ({"name": "qa_digits", "images_shown": 2, "operations": 2}, r"model.ticks must be 18 for this qa_digits task"),
        ({"name": "recall", "pairs": 3}, r"model.ticks must be 20 for this recall task: \(2·pairs \+ 2\)"),
        ({"name": "recall", "pairs": 9, "vocabulary": 8}, "1 <= pairs <= vocabulary <= 26"),
        ({"name": "oneshot", "ways": 6}, r"task.ways must be in \[2, 5\]"),
        ({"name": "oneshot", "test_classes": 9}, r"task.test_classes must be in \[2, 8\]"),
        ({"name": "oneshot", "ways": 3}, r"model.ticks must be 12 for this oneshot task: \(ways \+ 1\)"),
        ({"name": "qa_digits", "dataset": "cifar10", "data_path": "x"}, "task.dataset"),
        ({"name": "qa_digits", "operations": 0}, "task.operations must be >= 1"),
    ],
)
def test_bad_task_parameters_are_rejected(task, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"task": task, "model": {"ticks": 10}})


def test_a_data_set_without_its_folder_is_refused_when_read():
    """A config that only describes a model (e.g. a reference CIFAR classifier) needs no data
    path; reading the data does."""

    for name in ("images", "qa_digits"):
        cfg = from_dict(
            {"task": {"name": name, "dataset": "mnist"}, "model": {"ticks": 24 if name == "qa_digits" else 10}}
        )
        with pytest.raises(ConfigError, match="needs task.data_path"):
            get_task(cfg.task).eval_set(cfg.task, 4, 0)
    cfg = from_dict({"task": {"name": "images", "classes": 1000}})
    with pytest.raises(ConfigError, match="task.classes = 1000, but task.dataset 'digits' has 10 classes"):
        images.sample(cfg.task, 2, torch.Generator())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), digits=st.integers(1, 4), operations=st.integers(1, 4))
def test_qa_digits_answers_are_right(seed, digits, operations):
    rng = np.random.default_rng(seed)
    pool_images, pool_labels = rng.random((50, 1, 8, 8)), rng.integers(0, 10, 50)
    batch = qa_digits.make_batch(pool_images, pool_labels, 8, digits, operations, rng)
    assert batch["images"].shape == (8, digits, 1, 8, 8) and batch["questions"].shape == (8, 1 + 2 * operations)
    for labels, question, asked, result in zip(batch["labels"], batch["questions"], batch["asked"], batch["answers"]):
        assert 1 <= asked <= operations and (question != qa_digits.PAD).sum() == 1 + 2 * asked
        assert (question[1 + 2 * asked :] == qa_digits.PAD).all()
        # evaluate the written-out equation independently: ((a op b) mod 10 op c) mod 10 ...
        expression = str(labels[question[0]])
        for operator, index in zip(question[1 : 1 + 2 * asked : 2], question[2 : 1 + 2 * asked : 2]):
            expression = f"(({expression}) {'+' if operator == qa_digits.PLUS else '-'} {labels[index]}) % 10"
        assert result == eval(expression) % 10  # noqa: S307 (digits and operators built here)
        assert (question[0 : 1 + 2 * asked : 2] >= 0).all() and (question[0 : 1 + 2 * asked : 2] < digits).all()


def test_qa_digits_tick_schedule_and_bad_questions():
    schedule = qa_digits.tick_schedule(digits=2, operations=1, repeats=3, answer_ticks=4)
    assert len(schedule) == 2 * 3 + 3 * 3 + 4 and schedule[:3] == [("digit", 0)] * 3 and schedule[-1] == ("answer", -1)
    padded = qa_digits.tick_schedule(digits=2, operations=1, repeats=3, answer_ticks=4, max_operations=2)
    assert padded[6:12] == [("blank", -1)] * 6 and padded[12:] == schedule[6:]
    assert qa_digits.answer(np.array([7, 5]), [0, qa_digits.MINUS, 1, qa_digits.PLUS, 0]) == (7 - 5 + 7) % 10
    with pytest.raises(ValueError, match="pairs"):
        qa_digits.answer(np.array([1]), [0, qa_digits.PLUS])


def _qa_config(digits=2, operations=2, repeats=2, answer_ticks=3, **model):
    return from_dict(
        {
            "task": {
                "name": "qa_digits",
                "images_shown": digits,
                "operations": operations,
                "ticks_per_input": repeats,
                "answer_ticks": answer_ticks,
            },
            "model": {
                "ticks": (digits + 1 + 2 * operations) * repeats + answer_ticks,
                "d_model": 16,
                "d_input": 8,
                "heads": 2,
                "n_synch_out": 6,
                "n_synch_action": 5,
                **model,
            },
        }
    )


@settings(max_examples=15, deadline=None)
@given(
    digits=st.integers(1, 3), operations=st.integers(1, 3), repeats=st.integers(1, 3), answer_ticks=st.integers(1, 3)
)
def test_qa_digits_visibility_follows_the_tick_schedule(digits, operations, repeats, answer_ticks):
    """The backbone's vectorised per-tick mask against the schedule written out tick by tick."""
    cfg = _qa_config(digits, operations, repeats, answer_ticks)
    x, y = qa_digits.sample(cfg.task, 6, torch.Generator().manual_seed(digits * 100 + operations))
    tick_tokens = build_model(cfg).backbone(x)
    per_image = 16  # 8×8 images, one 2×2 max-pool
    bank = digits * per_image + 1 + 2 * operations + 1
    assert tick_tokens.tokens.shape[:2] == (6, bank) and tick_tokens.visible.shape == (6, cfg.model.ticks, bank)
    for row in range(6):
        schedule = qa_digits.tick_schedule(digits, int(y[row, 1]), repeats, answer_ticks, operations)
        for tick, (kind, k) in enumerate(schedule):
            expected = np.zeros(bank, dtype=bool)
            if kind == "digit":
                expected[k * per_image : (k + 1) * per_image] = True
            elif kind == "question":
                expected[digits * per_image + k] = True
            else:
                expected[-1] = True
            assert (tick_tokens.visible[row, tick].numpy() == expected).all(), (row, tick, kind, k)
    assert torch.equal(tick_tokens.at(10_000), tick_tokens.visible[:, -1])  # longer thoughts keep the answer phase


def test_masked_attention_equals_attention_over_the_visible_tokens_only():
    from neurosync.parts.perception import SynchronyAttention

    torch.manual_seed(0)
    attention = SynchronyAttention(d_features=6, d_input=8, heads=2, d_synchrony=5)
    tokens, synchrony = torch.randn(3, 7, 6), torch.randn(3, 5)
    visible = torch.zeros(3, 7, dtype=torch.bool)
    visible[0, [1, 4]], visible[1, 6], visible[2, :] = True, True, True
    out, weights = attention(synchrony, *attention.prepare(tokens), visible=visible)
    assert (weights[~visible.unsqueeze(1).expand_as(weights)] == 0).all()
    for row in range(3):
        alone, _ = attention(synchrony[row : row + 1], *attention.prepare(tokens[row : row + 1, visible[row]]))
        assert torch.allclose(out[row], alone[0], atol=1e-6)


def test_qa_digits_metrics_by_number_of_operations():
    cfg = _qa_config()
    y = torch.tensor([[3, 1], [4, 1], [5, 2], [5, 2]])
    logits = torch.full((4, cfg.model.ticks, 10), -5.0)
    logits[torch.arange(4), :, torch.tensor([3, 0, 5, 5])] = 5.0  # right, wrong, right, right at every tick
    certainty = torch.zeros(4, cfg.model.ticks)
    sums = qa_digits.batch_metrics(CTMOutput(logits, certainty, None, None), y, cfg.task)
    final = qa_digits.finalise({k: v / 4 for k, v in sums.items()})
    assert final["accuracy_certain"] == final["accuracy_last"] == 0.75
    assert final["accuracy_ops1"] == 0.5 and final["accuracy_ops2"] == 1.0 and "count_ops1" not in final
    _, certain = qa_digits.loss(CTMOutput(logits, certainty, None, None), y, cfg.task)
    assert (certain >= cfg.model.ticks - cfg.task.answer_ticks).all()  # chosen among the answer ticks
    eval_x, eval_y = qa_digits.eval_set(cfg.task, 10, 0)
    assert eval_x.shape == (10, 2 * 64 + 5) and np.bincount(eval_y[:, 1].numpy()).tolist() == [0, 5, 5]
    with pytest.raises(ValueError, match=r"Q&A digits input must be \(batch, 133\)"):
        build_model(cfg).backbone(eval_x[:, :-1])


def test_qa_digits_question_only_baseline_by_hand():
    # one digit a: "a + a" = 2a mod 10 (5 values, each 1/5); "a − a" = 0 always -> (0.2 + 1) / 2
    assert qa_digits.question_only_accuracy(1, 1) == pytest.approx(0.6)
    # three digits, one operation: the same index twice (1/3), minus (always 0) or plus (1/5);
    # otherwise two independent digits (1/10)
    assert qa_digits.question_only_accuracy(3, 1) == pytest.approx(1 / 6 + 1 / 6 * 0.2 + 2 / 3 * 0.1)
    assert qa_digits.question_only_accuracy(2, 2) == pytest.approx(0.1)  # a ± b ± c over two digits: always uniform
