"""Checks of the application assignment (06_sequence_models): a trained model on held-out data.

The task is the temporal-order problem of Hochreiter & Schmidhuber (1997, experiment 6a),
``lstm_ref.tasks.temporal_order``: a sequence of ``T`` one-hot symbols in which X or Y
appears at two far-apart steps; the class (XX, XY, YX, YY) is their order. The learner
designs a classifier and trains it in the notebook; the checks measure

- :func:`check_order_model`: the model's contract (logits ``(N, 4)`` for ``x (L, N, 8)``,
  read from the last step whatever ``L`` is);
- :func:`check_order_training`: the loss curve fell and the training took at most
  :data:`MAX_SECONDS` of CPU time (``time.process_time``, which the load of a shared grading
  machine does not inflate the way it inflates wall-clock time);
- :func:`check_order_accuracy`: the accuracy on fresh sequences against :data:`AT_LEAST`;
  the notebook's visible test uses :data:`VALIDATION_SEED`, the grader's hidden test a
  seed the learner never sees.

Every message reports the measured figure and the threshold.
"""
from __future__ import annotations

import math
from typing import Callable

from ._tripwire import Rule, _call
from .mistakes import Named, see

T = 50  # sequence length of the assignment's task
CLASSES = 4  # XX, XY, YX, YY
AT_LEAST = 0.95  # accuracy on held-out sequences; chance is 1/4
MAX_SECONDS = 100.0  # CPU seconds of training (the grader also stops a cell after 120 s of wall clock)
VALIDATION_SEED = 2024  # the notebook's validation sequences; the hidden test draws others
_ANYTHING = Rule(files=(), why="", allowed="")  # any torch code is allowed in this assignment

_LAST_STEP = Named("the model reads a fixed step, not the last one: for a sequence of L steps take the output "
                   "at step L (out[-1]), so that it has seen both X/Y symbols", "hs")
_PLATEAU = Named("accuracy at chance: the model has not learned to carry the first symbol to the end. Start "
                 "the forget gates open (a forget-gate bias of 1 to 3) so that the gradient reaches the early "
                 "steps, and train until the loss drops below ln 4 ≈ 1.39", "half-life")


def order_batch(N: int, seed: int, length: int = T):
    """``(x (L, N, 8) float32, y (N,) int64)``: N sequences of the temporal-order task."""
    from ..tasks import make_generator, temporal_order

    batch = temporal_order(length, N, make_generator(seed))
    return batch.x, batch.y


def _logits(model, x, call: str):
    """The model's logits for ``x``, checked to be ``(N, 4)`` floats."""
    import torch

    with torch.no_grad():
        out = _call(model, (x,), "model", _ANYTHING, inputs=False, call=call)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (x.shape[1], CLASSES):
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise AssertionError(f"{call} returned {shape}; expected logits of shape (N, {CLASSES}) = "
                             f"({x.shape[1]}, {CLASSES}), one row per sequence (the output at the last step "
                             "through a linear layer)")
    return out


def check_order_model(model_cls: Callable) -> None:
    """``model_cls()`` builds an ``nn.Module`` mapping ``x (L, N, 8)`` to logits ``(N, 4)``."""
    import torch

    model = _call(model_cls, (), "OrderClassifier", _ANYTHING, inputs=False, call="OrderClassifier()")
    if not isinstance(model, torch.nn.Module) or not any(p.requires_grad for p in model.parameters()):
        raise AssertionError("OrderClassifier() must build a torch.nn.Module with trainable parameters; "
                             f"got {type(model).__name__}")
    x, _ = order_batch(5, seed=1, length=T + 5)
    full = _logits(model, x, f"model(x) with x of shape {tuple(x.shape)}")
    cut = _logits(model, x[:T], f"model(x[:{T}])")
    if torch.allclose(full, cut):
        raise AssertionError(f"the logits of a {T + 5}-step sequence equal those of its first {T} steps. "
                             f"Likely mistake: {_LAST_STEP}.{see(_LAST_STEP)}")


def check_order_training(losses, seconds: float | None, *, max_seconds: float = MAX_SECONDS) -> None:
    """The training run's losses (a list of floats) fell, within ``max_seconds`` CPU seconds.

    ``seconds`` is the CPU time the training took (None: not bounded).
    """
    if not isinstance(losses, (list, tuple)) or not losses:
        raise AssertionError(f"train must return the list of losses, one per step; got {type(losses).__name__}")
    try:
        values = [float(v) for v in losses]
    except (TypeError, ValueError, RuntimeError) as err:
        raise AssertionError(f"train must return numbers (loss.item()); a loss could not be read: {err}") from None
    if not all(math.isfinite(v) for v in values):
        raise AssertionError("a loss returned by train is NaN or infinite: lower the learning rate or clip the "
                             "gradient norm")
    if seconds is not None and seconds > max_seconds:
        raise AssertionError(f"training took {seconds:.0f} CPU seconds; the limit is {max_seconds:.0f}: stop "
                             "earlier (fewer steps, or stop once the loss is low)")
    k = max(1, min(20, len(values) // 4))
    first, last = sum(values[:k]) / k, sum(values[-k:]) / k
    if last > 0.5 * first:
        raise AssertionError(f"the loss fell from {first:.3f} (mean of the first {k} steps) to only {last:.3f} "
                             f"(the last {k}); it should at least halve. Likely mistake: "
                             f"{_PLATEAU}.{see(_PLATEAU)}")


def order_accuracy(model, *, seed: int = VALIDATION_SEED, N: int = 2000) -> float:
    """The fraction of N fresh sequences (drawn with ``seed``) that ``model`` classifies right."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        x, y = order_batch(N, seed)
        logits = _logits(model, x, f"model(x) with x of shape {tuple(x.shape)}")
        return float((logits.argmax(dim=1) == y).float().mean())
    finally:
        if was_training:
            model.train()


def check_order_accuracy(model, *, seed: int = VALIDATION_SEED, seconds: float | None = None, N: int = 2000,
                         at_least: float = AT_LEAST, max_seconds: float = MAX_SECONDS) -> None:
    """At least ``at_least`` of N fresh sequences right; with ``seconds``, CPU time of training bounded too.

    Prints the measured accuracy and the threshold when it passes; says both when it fails.
    """
    which = "validation" if seed == VALIDATION_SEED else "held-out"
    accuracy = order_accuracy(model, seed=seed, N=N)
    figure = f"{which} accuracy {accuracy:.3f} on {N} fresh sequences of length {T} (threshold {at_least:.2f})"
    if accuracy < at_least:
        hint = f" Likely mistake: {_PLATEAU}.{see(_PLATEAU)}" if accuracy < 0.35 else (
            " The model has learned part of the task: train longer, or look at the loss curve for a plateau.")
        raise AssertionError(f"{figure}: too low.{hint}")
    if seconds is not None and seconds > max_seconds:
        raise AssertionError(f"{figure}, but training took {seconds:.0f} CPU seconds; the limit is "
                             f"{max_seconds:.0f}")
    print(figure + (f", trained in {seconds:.0f} CPU seconds (limit {max_seconds:.0f})" if seconds is not None else ""))
