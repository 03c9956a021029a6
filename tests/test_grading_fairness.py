"""The grading helpers are fair to honest work: one behaviour per test, in-process and fast.

The end-to-end corpus (tests/test_learner_corpus.py) grades realistic notebooks through
``python -m grader grade``; these tests pin each mechanism on its own, so a regression
says which one broke.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from nbformat import NotebookNode

from lstm_ref import grading, numpy_lstm as ref
from lstm_ref.grading._tripwire import _RUNAWAY, LearnerError, _call
from lstm_ref.params import LSTMParams


def _raw(check, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


def _message(check, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return " ".join(str(info.value).split())  # messages are wrapped for narrow displays


# --- global settings ---------------------------------------------------------------------------
def test_a_learner_setting_numpy_to_raise_does_not_reach_the_reference():
    def lstm_step(x, h_prev, c_prev, params):
        H = h_prev.shape[1]
        a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
        with np.errstate(all="ignore"):
            i, f, o = (1 / (1 + np.exp(-a[:, k * H:(k + 1) * H])) for k in (0, 1, 3))
        c = f * c_prev + i * np.tanh(a[:, 2 * H:3 * H])
        h = o * np.tanh(c)
        np.seterr(all="raise")  # left in by a learner: it must not reach the reference's next evaluation
        return h, c, None

    before = np.geterr()
    grading.check_function(lstm_step, "lstm_step", hidden=True)  # ×1000 inputs: exp overflows in the reference's range
    assert np.geterr() == before  # and the learner's change did not outlive the call


def test_a_learner_switching_grad_off_does_not_break_the_autograd_check():
    def lstm_step(x, h_prev, c_prev, params):
        a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
        i, f, g, o = a.chunk(4, dim=1)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c, None

    torch.set_grad_enabled(False)  # a leftover cell in the notebook
    try:
        grading.check_torch_autograd(lstm_step)
    finally:
        torch.set_grad_enabled(True)


def test_kernel_guard_puts_back_numerical_settings_before_a_test():
    """The guard in a real IPython shell: np.seterr, warnings, torch dtype and grad mode come back."""
    from pathlib import Path

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    guard = (Path(__file__).parents[1] / "grader" / "kernel_guard.py").read_text()
    shell.run_cell(f"import types, sys\n_g = types.ModuleType('_g')\nexec(compile({guard!r}, 'g', 'exec'), _g.__dict__)\n"
                   "_g.snapshot(['numpy', 'torch'], fresh=[])")
    shell.run_cell("import torch\ntorch.set_default_dtype(torch.float64)\n_g.record([])")  # a setup cell
    shell.run_cell("import numpy as np, warnings\nnp.seterr(all='raise')\nwarnings.simplefilter('error')\n"
                   "torch.set_default_dtype(torch.float32)\ntorch.set_grad_enabled(False)")
    try:
        assert np.geterr()["over"] == "raise"
        shell.run_cell("_g.restore()")
        assert np.geterr()["over"] == "warn" and torch.get_default_dtype() == torch.float64
        assert torch.is_grad_enabled()
        with warnings.catch_warnings(record=True):
            warnings.warn("not an error any more")
    finally:
        np.seterr(all="warn", under="ignore")
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        warnings.resetwarnings()
        sys.modules.pop("_g", None)


# --- the verdict and stderr ----------------------------------------------------------------------
def test_stderr_is_relabelled_and_the_verdict_decides():
    from grader.execute import STDERR_NOTE, RobustExecute
    from grader.instrument import add_token
    from grader.kernel_guard import VERDICT_MIME

    def cell(outputs):
        return NotebookNode(cell_type="code", source=add_token("check()", "ab12"), outputs=outputs,
                            metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}})

    def stream(name, text):
        return NotebookNode(output_type="stream", name=name, text=text)

    verdict = NotebookNode(output_type="display_data", data={VERDICT_MIME: {"token": "ab12"}}, metadata={})
    passing = cell([stream("stderr", "RuntimeWarning: overflow\n"), stream("stderr", "in exp\n"), verdict])
    RobustExecute._check_token(None, passing)
    assert [o.output_type for o in passing.outputs] == ["stream"]
    assert passing.outputs[0].name == "stdout" and passing.outputs[0].text == STDERR_NOTE + "RuntimeWarning: overflow\nin exp\n"
    forged = cell([stream("stdout", "GRADER-PASS ab12\n"), NotebookNode(output_type="display_data", data={VERDICT_MIME: {"token": "0000"}}, metadata={})])
    RobustExecute._check_token(None, forged)
    assert forged.outputs[-1].ename == "GraderError"


# --- the tripwire ----------------------------------------------------------------------------------
def test_the_backward_may_use_the_forward_the_notebook_imports():
    def lstm_step_backward(dh, dc, cache):
        return ref.lstm_step_backward(dh, dc, cache)

    def lstm_backward(dhs, cache, dh_T=None, dc_T=None):  # recomputes each step with the imported lstm_step
        T = cache.x.shape[0]
        dh_next = np.zeros_like(cache.h0) if dh_T is None else dh_T
        dc_next = np.zeros_like(cache.c0) if dc_T is None else dc_T
        h, c, steps = cache.h0, cache.c0, []
        for t in range(T):
            h, c, step = ref.lstm_step(cache.x[t], h, c, cache.params)
            steps.append(step)
        dx, total = np.empty_like(cache.x), None
        for t in reversed(range(T)):
            dx[t], dh_next, dc_next, g = my_step_backward(dhs[t] + dh_next, dc_next, steps[t])
            total = g if total is None else LSTMParams(*(a + b for a, b in zip(total, g)))
        return dx, dh_next, dc_next, total

    def my_step_backward(dh, dc, cache):
        x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
        dct = dc + dh * o * (1 - tanh_c**2)
        da = np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f), dct * i * (1 - g**2),
                             dh * tanh_c * o * (1 - o)], axis=1)
        return da @ params.W_ih, da @ params.W_hh, dct * f, LSTMParams(da.T @ x, da.T @ h_prev, da.sum(0))

    grading.check_function(lstm_backward, "lstm_backward")  # allowed: lstm_step is the notebook's own import
    message = _message(grading.check_function, lstm_step_backward, "lstm_step_backward")
    assert "lstm_ref.numpy_lstm.lstm_step_backward" in message and "does not let answers use" in message


# --- inputs, exceptions, runaway functions --------------------------------------------------------
def test_overwriting_the_callers_h0_is_a_named_mistake():
    def lstm_forward(x, params, h0=None, c0=None):
        T, N, _ = x.shape
        H = params.W_hh.shape[1]
        h = np.zeros((N, H)) if h0 is None else h0
        c = np.zeros((N, H)) if c0 is None else c0
        hs = np.empty((T, N, H))
        for t in range(T):
            h_new, c_new, _ = ref.lstm_step(x[t], h, c, params)
            h[...], c[...] = h_new, c_new  # writes into the caller's h0 and c0
            hs[t] = h
        return hs, (h.copy(), c.copy()), None

    message = _message(grading.check_function, lstm_forward, "lstm_forward", hidden=False)
    assert "changed its input h0 in place" in message or "does not let answers use" in message


def test_an_exception_says_which_call_raised_it():
    def lstm_step(x, h_prev, c_prev, params):
        a = x @ params.W_ih + h_prev @ params.W_hh.T  # W_ih not transposed
        return a, a, None

    message = _message(grading.check_function, lstm_step, "lstm_step")
    assert message.startswith("lstm_step(x=ndarray (1, 3) float64") and "raised ValueError" in message
    assert all(len(line) <= 83 for line in _raw(grading.check_function, lstm_step, "lstm_step").splitlines())
    assert "at `a = x @ params.W_ih + h_prev @ params.W_hh.T" in message


def test_a_function_stopped_once_is_not_run_again():
    calls = []

    def spins(z):
        calls.append(1)
        raise KeyboardInterrupt  # what the cell time limit delivers to a loop

    try:
        with pytest.raises(LearnerError, match="ran past the cell's time limit"):
            _call(spins, (np.zeros(2),), "sigmoid")
        with pytest.raises(LearnerError, match="not run: .* stopped in an earlier test"):
            _call(lambda z: spins(z), (np.zeros(2),), "sigmoid")
        assert len(calls) == 1
    finally:
        _RUNAWAY.clear()


def test_restoring_x_up_to_one_ulp_is_right():
    def numerical_gradient(f, x, h=1e-6):
        grad = np.zeros_like(x)
        for k in np.ndindex(x.shape):
            x[k] += h
            f_plus = f()
            x[k] -= 2 * h
            f_minus = f()
            x[k] += h  # back to the start, up to rounding
            grad[k] = (f_plus - f_minus) / (2 * h)
        return grad

    grading.check_numerical_gradient(numerical_gradient, hidden=True)


# --- devices ------------------------------------------------------------------------------------------
def _torch_step(extra):
    def lstm_step(x, h_prev, c_prev, params):
        a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
        i, f, g, o = a.chunk(4, dim=1)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return extra(h, c), c, None
    return lstm_step


@pytest.mark.parametrize("extra", [
    lambda h, c: h if float(h.abs().max().item()) <= 1 else h,          # .item()
    lambda h, c: torch.where(h > 2, torch.zeros_like(h), h) if bool((h > 2).any()) else h,  # data-dependent branch
    lambda h, c: h.masked_fill(torch.isnan(h), 0.0),                      # a mask
])
def test_device_agnostic_code_that_meta_cannot_run_passes(extra):
    def checked(h, c):
        assert torch.isfinite(h).all()
        return extra(h, c)
    grading.check_device_agnostic(_torch_step(checked))


def test_a_tensor_made_on_a_fixed_device_is_named():
    message = _message(grading.check_device_agnostic, _torch_step(lambda h, c: h + torch.zeros(h.shape)))
    assert "made a tensor on cpu while its inputs are on meta" in message and "torch.zeros(h.shape)" in message


# --- localisation ---------------------------------------------------------------------------------------
def test_an_unknown_forward_mistake_is_localised_to_its_gate():
    def lstm_step(x, h_prev, c_prev, params):
        H = h_prev.shape[1]
        a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
        i, f, o = (1 / (1 + np.exp(-a[:, k * H:(k + 1) * H])) for k in (0, 1, 3))
        c = 0.5 * f * c_prev + i * np.tanh(a[:, 2 * H:3 * H])  # a forget gate halved
        return o * np.tanh(c), c, None

    message = _message(grading.check_function, lstm_step, "lstm_step")
    assert "Where to look" in message and "only through the forget gate f" in message


def test_an_unknown_backward_mistake_is_localised_to_its_block():
    def lstm_step_backward(dh, dc, cache):
        x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
        dct = dc + dh * o * (1 - tanh_c**2)
        da = np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f), dct * i * (1 - g**2),
                             dh * tanh_c * o * (1 - o) * 0.5], axis=1)  # the o block halved
        return da @ params.W_ih, da @ params.W_hh, dct * f, LSTMParams(da.T @ x, da.T @ h_prev, da.sum(0))

    message = _message(grading.check_function, lstm_step_backward, "lstm_step_backward")
    assert "only in the o block" in message


def test_a_carrying_bug_in_bptt_is_localised_in_time():
    def lstm_backward(dhs, cache, dh_T=None, dc_T=None):
        dx, dh0, dc0, grads = ref.lstm_backward(dhs, cache, dh_T, dc_T)
        return dx, dh0, dc0, grads

    wrong = _message(grading.check_function, lambda dhs, cache, dh_T=None, dc_T=None: _half_carry(dhs, cache, dh_T, dc_T),
                     "lstm_backward")
    assert "right for sequences of up to T = 1" in wrong or "from t =" in wrong


def _half_carry(dhs, cache, dh_T, dc_T):
    from lstm_ref.grading.mistakes import _step_backward_variant

    T = cache.x.shape[0]
    dh_next = np.zeros_like(cache.h0) if dh_T is None else dh_T
    dc_next = np.zeros_like(cache.c0) if dc_T is None else dc_T
    dx, total = np.empty_like(cache.x), None
    for t in reversed(range(T)):
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        h_prev = cache.hs[t - 1] if t else cache.h0
        c_prev = cache.cs[t - 1] if t else cache.c0
        step = ref.StepCache(cache.x[t], h_prev, c_prev, i, f, g, o, cache.tanh_cs[t], cache.params)
        dx[t], dh_next, dc_next, gr = _step_backward_variant(dhs[t] + dh_next, dc_next, step)
        dc_next = 0.5 * dc_next  # an unknown carrying bug
        total = gr if total is None else LSTMParams(*(a + b for a, b in zip(total, gr)))
    return dx, dh_next, dc_next, total


# --- the training task ------------------------------------------------------------------------------------
def _train(zero_grad=True, fresh=True):
    def train(model, steps=150, lr=0.01):
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        criterion = torch.nn.CrossEntropyLoss()
        losses = []
        for step in range(steps):
            x, y = grading.memory_task(20, 64, seed=step if fresh else 0)
            if zero_grad:
                model.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
        return losses
    return train


def test_training_mistakes_are_named_and_a_different_correct_loop_passes():
    from lstm_ref.grading.torch_checks import _training_mistake

    assert _training_mistake(_train()) is None
    assert "zero_grad() is missing" in _training_mistake(_train(zero_grad=False))
    assert "same batch" in _training_mistake(_train(fresh=False))
