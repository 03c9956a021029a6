"""06_sequence_models: a trained model is graded on held-out sequences, within a time bound.

The checks (``lstm_ref.grading.sequence_checks``) report the measured figure and the
threshold; an untrained model fails, and the answer key passes on every one of ten
training seeds (the slow test below trains ten models). The time bound is tested on given
numbers; the training runs here report their CPU time but never assert it.
"""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from course_cases import NOTEBOOK, ROOT, submissions
from lstm_ref import grading
from lstm_ref.grading import sequence_checks

ASSIGNMENT = "06_sequence_models"
HELD_OUT_SEED = 7301  # the answer key's hidden test


def key_namespace() -> dict:
    """The notebook's setup cell and the answer key's model and train, run in one namespace."""
    import nbformat

    key = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{NOTEBOOK[ASSIGNMENT]}.ipynb", as_version=4)
    setup = next(c.source for c in key.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    namespace: dict = {"__name__": "__main__"}
    exec(compile(setup, "<setup>", "exec"), namespace)  # noqa: S102
    for source in submissions.key_answers(ASSIGNMENT, NOTEBOOK[ASSIGNMENT]).values():
        exec(compile(source, "<answer>", "exec"), namespace)  # noqa: S102
    return namespace


class _Last(nn.Module):
    """An untrained LSTM classifier that reads the last step, as the contract asks."""

    def __init__(self, fixed_step: int | None = None):
        super().__init__()
        self.lstm, self.head, self.fixed_step = nn.LSTM(8, 8), nn.Linear(8, 4), fixed_step

    def forward(self, x):
        hs, _ = self.lstm(x)
        return self.head(hs[-1 if self.fixed_step is None else self.fixed_step])


def test_an_untrained_model_fails_with_the_figure_and_the_threshold():
    torch.manual_seed(0)
    with pytest.raises(AssertionError) as err:
        grading.check_order_accuracy(_Last(), seed=HELD_OUT_SEED)
    message = " ".join(str(err.value).split())
    assert "held-out accuracy 0." in message and "(threshold 0.95): too low" in message
    assert "forget-gate bias" in message and "gradient_flow.html#equation-eq-bias-decay" in message


def test_the_model_contract_is_checked():
    grading.check_order_model(_Last)
    with pytest.raises(AssertionError, match="reads a fixed step, not the last one"):
        grading.check_order_model(lambda: _Last(fixed_step=sequence_checks.T - 1))
    with pytest.raises(AssertionError) as err:
        grading.check_order_model(lambda: nn.Sequential(nn.LSTM(8, 4)))
    assert "returned tuple; expected logits of shape (N, 4) = (5, 4)" in " ".join(str(err.value).split())
    with pytest.raises(AssertionError, match="must build a torch.nn.Module"):
        grading.check_order_model(lambda: "a model")


def test_the_training_run_is_checked():
    grading.check_order_training([1.4] * 10 + [0.01] * 10, seconds=12.0)
    grading.check_order_training([1.4] * 10 + [0.01] * 10, seconds=None)  # not bounded
    for losses, seconds, says in [
        ([1.4] * 10 + [0.01] * 10, 150.0, "training took 150 CPU seconds; the limit is 100"),
        ([1.39] * 40, 5.0, "it should at least halve"),
        ([1.4, float("nan")], 5.0, "NaN or infinite"),
        (torch.tensor([1.0, 0.5]), 5.0, "the list of losses"),
        ([], 5.0, "the list of losses"),
    ]:
        with pytest.raises(AssertionError, match=says):
            grading.check_order_training(losses, seconds)


@pytest.mark.slow
def test_the_answer_key_reaches_the_threshold_in_ten_runs_of_ten():
    """Ten training seeds, each graded by the hidden test: all ten pass (about 1 to 2 minutes)."""
    namespace = key_namespace()
    results = []
    for seed in range(10):
        torch.manual_seed(seed)
        model = namespace["OrderClassifier"]()
        start = time.process_time()
        losses = namespace["train"](model, seed=seed)
        seconds = time.process_time() - start  # reported, not asserted: tests never assert timings
        grading.check_order_training(losses, None)
        grading.check_order_accuracy(model, seed=HELD_OUT_SEED)
        results.append((len(losses), round(seconds, 1), sequence_checks.order_accuracy(model, seed=HELD_OUT_SEED)))
    assert all(acc >= sequence_checks.AT_LEAST for _, _, acc in results), results
    print("steps, seconds, held-out accuracy per seed:", results)


@pytest.mark.slow
def test_a_different_right_answer_passes():
    """A GRU with RMSprop and another stopping rule, judged only by what it reaches."""

    class GRUClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru, self.head = nn.GRU(8, 32), nn.Linear(32, 4)
            with torch.no_grad():  # update gates start near 1: keep the state (order r, z, n)
                self.gru.bias_ih_l0[32:64] += 2.0

        def forward(self, x):
            return self.head(self.gru(x)[1][0])

    from lstm_ref.tasks import make_generator, temporal_order

    torch.set_num_threads(1)  # as the notebook does (conftest restores the count afterwards)
    torch.manual_seed(3)
    model, gen = GRUClassifier(), make_generator(3)
    optimiser = torch.optim.RMSprop(model.parameters(), lr=3e-3)
    start, losses = time.process_time(), []
    while len(losses) < 1500 and not (len(losses) >= 20 and sum(losses[-20:]) < 0.2):
        batch = temporal_order(sequence_checks.T, 64, gen)
        loss = nn.functional.cross_entropy(model(batch.x), batch.y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    print(f"{len(losses)} steps, {time.process_time() - start:.1f} CPU seconds")  # not asserted
    grading.check_order_model(GRUClassifier)
    grading.check_order_training(losses, None)
    grading.check_order_accuracy(model, seed=HELD_OUT_SEED)
