"""Checks of the PyTorch assignment: autograd, devices, the cell as an ``nn.Module``, gradient
norms over time, and the long-range memory task."""
from __future__ import annotations

import copy
import itertools
import math
import re
import traceback
from typing import Callable

import numpy as np

from ..params import LSTMParams
from ._state import reference_settings
from ._tripwire import LearnerError, _call, _is_learner_code, rule_for
from .cases import CASES, HIDDEN_CASES, Case, _inputs, _to_torch_args, _torch
from .compare import _verify
from .mistakes import Named, _forward_variant, _mistakes, see
from .numpy_checks import check_function


# --- PyTorch: autograd, devices, the cell as an nn.Module -------------------------------------
def _torch_step_case(case: Case, dtype=None, device=None):
    """``x, h_prev, c_prev`` and ``LSTMParams`` of tensors for one case (fresh tensors)."""
    args = _to_torch_args(_inputs("lstm_step", case))
    x, h, c, params = args
    move = lambda t: t.to(device=device, dtype=dtype or t.dtype)  # noqa: E731
    return move(x), move(h), move(c), params.map(move)


def _autograd(fn: Callable, args: tuple, name: str, student: bool) -> list:
    """Gradients of a fixed random projection of ``(h, c)`` for every input, by autograd."""
    torch = _torch()
    with torch.enable_grad():  # whatever the notebook left switched off
        return _autograd_on(fn, args, name, student)


def _autograd_on(fn: Callable, args: tuple, name: str, student: bool) -> list:
    torch = _torch()
    x, h_prev, c_prev, params = args
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, h_prev, c_prev, *params)]
    call_args = (*leaves[:3], LSTMParams(*leaves[3:]))
    if student:
        h, c, _ = _call(fn, call_args, name, rule_for(name), inputs=False)
    else:
        with reference_settings():
            h, c, _ = fn(*call_args)
    gen = torch.Generator().manual_seed(0)
    w_h, w_c = (torch.randn(h.shape, generator=gen, dtype=h.dtype) for _ in range(2))
    loss = (h * w_h).sum() + (c * w_c).sum()
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return [None if g is None else g.numpy() for g in grads]


def check_torch_autograd(student_fn: Callable, *, hidden: bool = False) -> None:
    """Check that autograd through the learner's torch ``lstm_step`` gives the reference's gradients.

    Catches answers that detach, convert to NumPy or modify tensors in place.
    """
    from .. import torch_lstm

    name = "lstm_step"
    check_function(student_fn, name, backend="torch", hidden=hidden)  # gradients of wrong values are moot
    labels = ("dL/dx", "dL/dh_prev", "dL/dc_prev", "dL/dW_ih", "dL/dW_hh", "dL/db")
    for case in HIDDEN_CASES if hidden else CASES:
        args = _torch_step_case(case)
        expected = _autograd(torch_lstm.lstm_step, args, name, student=False)
        try:
            mine = _autograd(student_fn, args, name, student=True)
        except (RuntimeError, LearnerError) as err:
            raise AssertionError(f"autograd cannot differentiate your {name}: {err}. Use torch operations "
                                 "only (no .numpy(), no .detach(), no in-place edits of inputs).") from None
        for label, g in zip(labels, mine):
            if g is None:
                raise AssertionError(f"{name}: no gradient reaches {label[5:]}: is it used, and not detached?")
        # The values were checked first, so wrong gradients mean autograd lost part of the graph.
        _verify(f"{name} (autograd)", case, labels, mine, expected, lambda: [(_DETACHED, lambda: [None] * 6)])


def check_device_agnostic(student_fn: Callable) -> None:
    """Check that torch ``lstm_step`` keeps its inputs' device and dtype.

    It runs on real devices (CPU in float32 and float64, and CUDA when there is one) and
    must return ``h`` and ``c`` there.  Then it runs on the ``meta`` device (shapes only)
    while every tensor the answer creates is watched: a tensor made on another device
    (``torch.zeros(N, H)`` with no ``device=``, or a fixed ``device="cpu"``) fails the test
    with the line that made it.  Code that ``meta`` cannot run (``.item()``, boolean masks,
    ``assert``s on values) is fine: the real devices decide for it.
    """
    torch = _torch()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device, dtype in itertools.product(devices, (torch.float32, torch.float64)):
        args = _torch_step_case(CASES[0], dtype=dtype, device=device)
        try:
            h, c, _ = _call(student_fn, args, "lstm_step", rule_for("lstm_step"))
        except LearnerError as err:
            raise AssertionError(f"lstm_step fails on {device} tensors ({dtype}): {err}") from None
        _same_place(h, c, device, dtype)
    _watch_meta_run(student_fn)


def _same_place(h, c, device: str, dtype) -> None:
    for label, out in (("h", h), ("c", c)):
        if out.device.type != device or out.dtype != dtype:
            raise AssertionError(
                f"lstm_step returned {label} on {out.device} with {out.dtype} for inputs on {device} with "
                f"{dtype}: keep the inputs' device and dtype (never name a device or dtype)"
            )


def _watch_meta_run(student_fn: Callable) -> None:
    torch = _torch()
    args = _torch_step_case(CASES[0], dtype=torch.float32, device="meta")
    with _Placement("meta") as placed:
        try:
            h, c, _ = _call(student_fn, args, "lstm_step", rule_for("lstm_step"), inputs=False)
        except LearnerError as err:
            if placed.elsewhere and "device" in str(err.original):
                raise AssertionError(placed.message()) from None
            return  # meta cannot run every operation; the runs on real devices passed
    if placed.elsewhere and (h.device.type != "meta" or c.device.type != "meta"):
        raise AssertionError(placed.message())
    _same_place(h, c, "meta", torch.float32)


class _Placement:
    """A torch function mode recording the first operation whose result is not on ``device``."""

    def __init__(self, device: str):
        from torch.overrides import TorchFunctionMode

        watcher = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                watcher._look(func, out)
                return out

        self.device, self.mode, self.elsewhere = device, Mode(), None

    def _look(self, func, out) -> None:
        torch = _torch()
        if self.elsewhere is None and isinstance(out, torch.Tensor) and out.device.type != self.device:
            frames = [f for f in traceback.extract_stack() if _is_learner_code(f.filename)]
            line = f" at `{frames[-1].line}`" if frames and frames[-1].line else ""
            self.elsewhere = (getattr(func, "__name__", str(func)), out.device.type, line)

    def message(self) -> str:
        func, device, line = self.elsewhere
        return (f"lstm_step made a tensor on {device} while its inputs are on {self.device} ({func}{line}): create "
                "tensors on the inputs' device and dtype, e.g. torch.zeros_like(h_prev) or x.new_zeros(...), "
                "or pass device=x.device; never a fixed device.")

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


_DETACHED = Named("h and c are right but their gradients are not: part of the computation is hidden from "
                  "autograd (.detach(), .numpy(), .data or an in-place edit)", "autograd")
_CELL_PARAMS = {"weight_ih": ("4H", "D"), "weight_hh": ("4H", "H"), "bias_ih": ("4H",), "bias_hh": ("4H",)}


def check_lstm_cell(student_cls, *, hidden: bool = False) -> None:
    """Check an ``nn.Module`` cell against ``torch.nn.LSTMCell``.

    ``student_cls(input_size, hidden_size)`` must register ``weight_ih (4H, D)``,
    ``weight_hh (4H, H)``, ``bias_ih`` and ``bias_hh (4H,)`` as parameters (so that
    ``load_state_dict`` and optimisers see them) and ``forward(x, state=None) -> (h, c)``,
    with zeros for a missing state. Outputs and parameter gradients are compared.
    """
    torch = _torch()
    name = "LSTMCell"
    forbidden = rule_for(name)
    for case in HIDDEN_CASES if hidden else CASES:
        torch.manual_seed(case.seed)
        reference = torch.nn.LSTMCell(case.D, case.H, dtype=torch.float64)
        with torch.no_grad():
            for p in reference.parameters():
                p.normal_(0, 0.5)
        module = _call(student_cls, (case.D, case.H), name, forbidden, call=f"LSTMCell({case.D}, {case.H})")
        if not isinstance(module, torch.nn.Module):
            raise AssertionError(f"{name}(D, H) must build a torch.nn.Module; got {type(module).__name__}")
        shapes = {k: tuple(v.shape) for k, v in module.named_parameters()}
        sizes = {"4H": 4 * case.H, "D": case.D, "H": case.H}
        wanted = {k: tuple(sizes[d] for d in dims) for k, dims in _CELL_PARAMS.items()}
        if shapes != wanted:
            raise AssertionError(
                f"{name}({case.D}, {case.H}) has parameters {shapes}; expected {wanted} "
                "(nn.Parameter attributes with nn.LSTMCell's names, in the gate order i, f, g, o)"
            )
        module.to(torch.float64)
        module.load_state_dict(reference.state_dict())
        x, h, c, _ = _torch_step_case(case)
        mine = _cell_outputs(module, x, h, c, name, forbidden)
        with reference_settings():
            expected = _cell_outputs(reference, x, h, c, name, None)
        params = LSTMParams.from_torch(reference)
        sd = {k: v.numpy() for k, v in reference.state_dict().items()}

        def mistakes():
            no_hh = LSTMParams(params.W_ih, params.W_hh, sd["bias_ih"])
            step = _mistakes("lstm_step", (x.numpy(), h.numpy(), c.numpy(), params))
            wrong_bias = _forward_variant(x.numpy()[None], no_hh, h.numpy(), c.numpy())[1:]
            return [
                (_DETACHED, lambda: [expected[0], expected[1], None, None, None, None, expected[6]]),
                (Named("dropped bias_hh: add both biases, bias_ih + bias_hh", "a"),
                 lambda: [*wrong_bias, None, None, None, None, None]),
            ] + [
                (d, lambda run=run: [*run(), None, None, None, None, None]) for d, run in step
            ]

        labels = ("h", "c", "d/dweight_ih", "d/dweight_hh", "d/dbias_ih", "d/dbias_hh", "h with state=None")
        _verify(name, case, labels, mine, expected, mistakes)


def _cell_outputs(module, x, h, c, name: str, rule) -> list:
    """``h, c``, the parameter gradients of a fixed projection, and ``h`` from a zero state."""
    torch = _torch()
    module.zero_grad()
    out = _call(module, (x, (h, c)), name, rule, call="forward(x, (h, c))") if rule else module(x, (h, c))
    try:
        h_new, c_new = out
    except (TypeError, ValueError):
        raise AssertionError(f"{name}.forward(x, (h, c)) must return (h, c); got {type(out).__name__}") from None
    gen = torch.Generator().manual_seed(1)
    loss = (h_new * torch.randn(h_new.shape, generator=gen, dtype=h_new.dtype)).sum() + (c_new**2).sum()
    loss.backward()
    grads = [None if p.grad is None else p.grad.numpy().copy() for p in
             (getattr(module, k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))]
    with torch.no_grad():
        fresh = _call(module, (x,), name, rule, call="forward(x) with state=None") if rule else module(x)
    return [h_new.detach().numpy(), c_new.detach().numpy(), *grads, fresh[0].numpy()]


def check_hidden_grad_norms(student_fn: Callable) -> None:
    """Check ``hidden_grad_norms(loss, hs) -> (T,) tensor`` of ``‖∂loss/∂h_t‖`` (all entries).

    ``hs`` is the list of hidden states h_1 .. h_T of an unrolled ``nn.LSTMCell``.
    """
    torch = _torch()
    name = "hidden_grad_norms"
    for case in CASES[:3]:
        torch.manual_seed(case.seed)
        cell = torch.nn.LSTMCell(case.D, case.H, dtype=torch.float64)
        x = torch.randn(case.T, case.N, case.D, dtype=torch.float64)
        h = c = torch.zeros(case.N, case.H, dtype=torch.float64)
        hs = []
        for x_t in x:
            h, c = cell(x_t, (h, c))
            hs.append(h)
        loss = (h**2).sum()
        expected = torch.stack([g.norm() for g in torch.autograd.grad(loss, hs, retain_graph=True)])
        mine = _call(student_fn, (loss, hs), name, rule_for(name))
        if not isinstance(mine, torch.Tensor):
            raise AssertionError(f"{name} must return a torch.Tensor of shape (T,); got {type(mine).__name__}")
        mistakes = lambda: [  # noqa: E731
            (Named("norms of the hidden states themselves, not of their gradients", "grad norms"),
             lambda: [torch.stack([h.norm() for h in hs]).detach().numpy()]),
            (Named("squared norms: ‖g‖ = sqrt(Σ g²), e.g. g.norm()", "grad norms"), lambda: [expected.numpy() ** 2]),
        ]
        _verify(name, case, ("norms",), [mine.detach()], [expected.numpy()], mistakes, torch.Tensor)


# --- the long-range task of the PyTorch assignment -------------------------------------------
def memory_task(T: int, N: int, seed: int, device=None):
    """Remember a bit across ``T`` steps: ``x (T, N, 2)``, labels ``y (N,)`` in {0, 1}.

    Channel 0 holds the bit as ±1 at t = 0 and zeros after it; channel 1 is noise in
    [-1, 1] at every step. The label is the bit, so a model must carry it through the
    T - 1 later steps while ignoring the noise.
    """
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (N,), generator=gen)
    x = torch.zeros(T, N, 2, dtype=torch.float32)
    x[0, :, 0] = y * 2.0 - 1.0
    x[:, :, 1] = torch.rand(T, N, generator=gen) * 2 - 1
    return x.to(device), y.to(device)


def check_memory_task(model, *, T: int = 20, at_least: float = 0.9) -> None:
    """Check that a trained ``model`` (``x (T, N, 2) -> logits (N, 2)``) solves :func:`memory_task`."""
    torch = _torch()
    x, y = memory_task(T, 512, seed=12345)
    with torch.no_grad():
        logits = _call(model, (x,), "model", rule_for("model"), inputs=False, call="model(x) on held-out sequences")
    if tuple(logits.shape) != (512, 2):
        raise AssertionError(f"the model returned logits of shape {tuple(logits.shape)}; expected (N, 2) = (512, 2)")
    accuracy = float((logits.argmax(dim=1) == y).float().mean())
    if accuracy < at_least:
        raise AssertionError(
            f"accuracy on fresh sequences of length {T} is {accuracy:.3f}; expected at least {at_least}. "
            "Train longer or with a larger learning rate, and check that the loss goes down."
        )


# --- the training loop of the PyTorch assignment ----------------------------------------------
class _Classifier:
    """The assignment's MemoryClassifier around torch's own nn.LSTMCell: a train() under test
    meets a model that is certainly right."""

    def __new__(cls, hidden_size: int = 8):
        torch = _torch()
        nn = torch.nn

        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.cell, self.head = nn.LSTMCell(2, hidden_size), nn.Linear(hidden_size, 2)

            def forward(self, x):
                state = None
                for x_t in x:
                    state = self.cell(x_t, state)
                return self.head(state[0])

        return Classifier()


def _stated_train(model, steps: int, lr: float, *, zero_grad=True, fresh=True, adam=True, step=True, default_lr=False):
    """The training loop the notebook states, with switches for the usual ways to get it wrong."""
    torch = _torch()
    opt = (torch.optim.Adam if adam else torch.optim.SGD)(model.parameters(), lr=1e-3 if default_lr else lr)
    losses = []
    for k in range(steps):
        x, y = memory_task(20, 64, seed=k if fresh else 0)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        if step:
            opt.step()
        losses.append(loss.item())
    return losses


_TRAIN_MISTAKES = [
    (Named("optimizer.zero_grad() is missing: gradients add up over the steps, so every update uses the sum of "
           "all gradients so far; call it before loss.backward()", "training"), dict(zero_grad=False)),
    (Named("the same batch is used at every step: draw a fresh one with grading.memory_task(20, 64, seed=step)",
           "training"), dict(fresh=False)),
    (Named("the model is never updated: call optimizer.step() after loss.backward() (and optimizer.zero_grad() "
           "before loss.backward(), not between backward and step)", "training"), dict(step=False)),
    (Named("lr is ignored: pass it to the optimizer, torch.optim.Adam(model.parameters(), lr=lr)", "training"),
     dict(default_lr=True)),
    (Named("the optimizer is SGD: the notebook asks for Adam", "training"), dict(adam=False)),
]


def _loss_values(losses, steps: int) -> list[float]:
    """The returned losses as floats, or an AssertionError saying how the contract is broken."""
    if not isinstance(losses, (list, tuple)):
        raise AssertionError(f"train must return the list of losses, one per step; got {type(losses).__name__}")
    if len(losses) != steps:
        raise AssertionError(f"train(model, steps={steps}) returned {len(losses)} losses; expected one per step, "
                             f"{steps}: use the steps argument")
    try:
        values = [float(v) for v in losses]
    except (TypeError, ValueError, RuntimeError) as err:
        raise AssertionError(f"train must return numbers (loss.item()); a loss could not be read: {err}") from None
    if not all(math.isfinite(v) for v in values):
        raise AssertionError("a loss returned by train is NaN or infinite: lower lr, or check the model")
    return values


def _training_mistake(train_fn: Callable, steps: int = 8, lr: float = 0.01) -> str | None:
    """Run the learner's train for a few steps on a model of our own; name a known deviation."""
    torch = _torch()
    torch.manual_seed(0)
    base = _Classifier()
    mine = _loss_values(_call(train_fn, (copy.deepcopy(base), steps, lr), "train", inputs=False,
                              call=f"train(model, steps={steps}, lr={lr})"), steps)
    with reference_settings():
        stated = _stated_train(copy.deepcopy(base), steps, lr)
        if np.allclose(mine, stated, rtol=1e-4, atol=1e-6):
            return None
        for description, switches in _TRAIN_MISTAKES:
            if np.allclose(mine, _stated_train(copy.deepcopy(base), steps, lr, **switches), rtol=1e-4, atol=1e-6):
                return description
    return None  # another loop than the stated one: judged by what it reaches


def check_training(train_fn: Callable, model, losses, *, steps: int = 150, T: int = 20, at_least: float = 0.9) -> None:
    """Check the training task: ``train``'s contract, then the trained ``model`` on held-out data.

    ``losses`` is what ``train(model)`` returned in the notebook (``steps`` numbers).  The
    loop itself is run for a few steps on a model with torch's own ``nn.LSTMCell`` and
    compared with the stated loop and its usual mistakes (``zero_grad`` missing, one batch
    reused, no ``step``, ``lr`` ignored, SGD).  Last, ``model`` must classify ``at_least``
    of 512 fresh sequences of length ``T`` correctly.
    """
    _loss_values(losses, steps)
    mistake = _training_mistake(train_fn)
    if mistake:
        raise AssertionError(f"train does not follow the stated training loop. Likely mistake: {mistake}.{see(mistake)}")
    try:
        check_memory_task(model, T=T, at_least=at_least)
    except AssertionError as err:
        raise AssertionError(f"{err}\ntrain follows the stated loop (checked on a model with torch's nn.LSTMCell), "
                             "so look at the model: your LSTMCell (test_lstm_cell) and the loss curve above.") from None
