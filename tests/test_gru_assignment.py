"""05_gru and the numeric questions: the checks grade what they should, and only that.

In-process and fast (the notebook's cells run in one namespace, as tests/test_grading.py
does): the models of the mistakes equal the reference with their knobs at rest; the
reference of Cho's candidate backward agrees with torch's autograd and with centred
differences; answers that hand the work to lstm_ref or autograd get nothing; answers that
are right but written differently get full marks; the blank release gets nothing; a number
is accepted within its tolerance, rejected with the mistake named, and never revealed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_cases import MISTAKES, NOTEBOOK, run_in_process, submissions
from lstm_ref import numpy_gru as ref
from lstm_ref.gradcheck import FD_ACCURATE, numerical_gradient
from lstm_ref.grading import check_gru, check_number, gru_checks, gru_mistakes, numeric, worked
from lstm_ref.grading.cases import CASES

KEY = {a: submissions.key_answers(a, NOTEBOOK[a]) for a in ("03_bptt", "05_gru")}


def _tests(results: dict) -> dict:
    return {k: v for k, v in results.items() if k.startswith("test_")}


# --- the models of the mistakes ------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES[:3], ids=str)
def test_every_variant_at_rest_is_the_reference(case):
    args = gru_checks.gru_inputs("gru_forward", case)
    xs, params = args[:2]
    h0 = args[2] if len(args) > 2 else np.zeros((xs.shape[1], params.hidden_size))
    hs, h_T, _ = ref.gru_forward(xs, params, h0)
    mine = gru_mistakes.forward_variant(xs, params, h0)
    assert np.allclose(mine[0], hs, atol=1e-13) and np.allclose(mine[1], h_T, atol=1e-13)
    dh, cache = gru_checks.gru_inputs("gru_step_backward", case)
    expected = ref.gru_step_backward(dh, cache)
    got = gru_mistakes.step_backward_variant(dh, cache)
    assert all(np.allclose(a, b, atol=1e-12) for a, b in zip(gru_mistakes._flat(got), gru_mistakes._flat(expected)))
    args = gru_checks.gru_inputs("gru_backward", case)
    dx, dh0, grads = ref.gru_backward(*args)
    assert all(np.allclose(a, b, atol=1e-12) for a, b in zip(gru_mistakes.backward_variant(*args), [dx, dh0, *grads]))


def test_every_mistake_changes_the_answer():
    """A knob that computed the reference would be a mistake no answer could make."""
    case = CASES[0]
    args = gru_checks.gru_inputs("gru_backward", case)
    right = gru_mistakes.backward_variant(*args)
    for description, outputs in gru_mistakes.backward_mistakes(*args):
        assert any(not np.allclose(a, b) for a, b in zip(outputs(), right)), description
    cho = gru_checks.gru_inputs("candidate_cho_backward", case)
    for description, outputs in gru_mistakes.cho_mistakes(cho):
        assert any(not np.allclose(a, b) for a, b in zip(outputs(), gru_checks.cho_backward(*cho))), description


def test_cho_backward_reference_agrees_with_autograd_and_centred_differences():
    torch = pytest.importorskip("torch")
    dn, *inputs = gru_checks.gru_inputs("candidate_cho_backward", CASES[2])
    ours = gru_checks.cho_backward(dn, *inputs)
    tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
    x, h, r, W_in, b_in, W_hn, b_hn = tensors
    n = torch.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    auto = torch.autograd.grad(n, tensors, torch.tensor(dn))
    for a, b in zip(ours, auto):
        assert np.max(np.abs(a - b.numpy())) < 1e-12
    for a, k in zip(ours, range(len(inputs))):
        loss = lambda: float(np.sum(dn * ref.candidate_cho(*inputs)))  # noqa: E731
        assert np.max(np.abs(a - numerical_gradient(loss, inputs[k], **FD_ACCURATE))) < 1e-9


# --- answers that do not do the work ----------------------------------------------------------
CHEATS = {
    "gru_step": "from lstm_ref.numpy_gru import gru_step",
    "gru_forward": "import lstm_ref.numpy_gru as g\ngru_forward = g.gru_forward",
    "gru_step_backward": "from lstm_ref import numpy_gru\n\ndef gru_step_backward(dh, cache):\n"
                         "    return numpy_gru.gru_step_backward(dh, cache)",
    "gru_backward": "import sys\n\ndef gru_backward(dhs, cache, dh_T=None):\n"
                    "    return sys.modules['lstm_ref.numpy_gru'].gru_backward(dhs, cache, dh_T)",
    "candidate_cho_backward": '''import torch

def candidate_cho_backward(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn):
    ts = [torch.tensor(a, requires_grad=True) for a in (x, h_prev, r, W_in, b_in, W_hn, b_hn)]
    x_, h_, r_, Wi, bi, Wh, bh = ts
    n = torch.tanh(x_ @ Wi.T + bi + (r_ * h_) @ Wh.T + bh)
    return tuple(g.numpy() for g in torch.autograd.grad(n, ts, torch.tensor(dn)))''',
}
FD_CHEAT = '''from lstm_ref.gradcheck import numerical_gradient
import numpy as np

def candidate_cho_backward(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn):
    args = [np.array(a, copy=True) for a in (x, h_prev, r, W_in, b_in, W_hn, b_hn)]
    def f():
        s = args[2] * args[1]
        return float(np.sum(dn * np.tanh(args[0] @ args[3].T + args[4] + s @ args[5].T + args[6])))
    return tuple(numerical_gradient(f, a, h=1e-3, order=4) for a in args)'''


def test_answers_calling_the_reference_or_autograd_get_no_points():
    results = _tests(run_in_process("05_gru", {**KEY["05_gru"], **CHEATS}))
    code_tests = {f"test_{name}" for name in CHEATS}
    assert {k for k, v in results.items() if v} == code_tests
    assert all("which this test does not let answers use" in results[k] for k in code_tests), results
    assert "calls torch.autograd" in results["test_candidate_cho_backward"], results["test_candidate_cho_backward"]


def test_finite_differences_through_lstm_ref_gradcheck_get_no_points():
    results = _tests(run_in_process("05_gru", {**KEY["05_gru"], "candidate_cho_backward": FD_CHEAT}))
    assert "lstm_ref.gradcheck" in (results["test_candidate_cho_backward"] or "")


def test_an_answer_that_edits_the_weights_in_place_fails():
    def gru_step(x, h_prev, params):
        params.b_hh[:] = 0.0  # the outputs do not matter: the edit is reported first
        return h_prev, None

    with pytest.raises(AssertionError, match="changed argument 3's b_hh in place"):
        check_gru(gru_step, "gru_step")


# --- right answers written differently ----------------------------------------------------------
DIFFERENT = {
    # per-gate weights with [h, x] concatenated, as the chapter's per-gate functions read them
    "gru_step": '''def gru_step(x, h_prev, params):
    W_r, b_r = params.gate("r")
    W_z, b_z = params.gate("z")
    W_in, b_in, W_hn, b_hn = params.gate("n")
    hx = np.concatenate([h_prev, x], axis=1)
    r, z = sigmoid(hx @ W_r.T + b_r), sigmoid(hx @ W_z.T + b_z)
    u_n = h_prev @ W_hn.T + b_hn
    n = np.tanh(x @ W_in.T + b_in + r * u_n)
    return n + z * (h_prev - n), StepCache(x, h_prev, r, z, n, u_n, params)''',
    # preallocated outputs and no cache at all: the tests read hs and h_T only
    "gru_forward": '''def gru_forward(x, params, h0=None):
    T, N, _ = x.shape
    hs = np.empty((T, N, params.W_hh.shape[1]))
    h = np.zeros(hs.shape[1:]) if h0 is None else h0.copy()
    for t in range(T):
        hs[t] = h = gru_step(x[t], h, params)[0]
    return hs, hs[-1], None''',
    # einsum over the batch, the gradient of h_prev written as one product per gate
    "gru_step_backward": '''def gru_step_backward(dh, cache):
    x, h_prev, r, z, n, u_n, p = cache
    H = h_prev.shape[1]
    g_n = dh * (1 - z) * (1 - n * n)
    g_r = g_n * u_n * r * (1 - r)
    g_z = dh * (h_prev - n) * z * (1 - z)
    da = np.hstack([g_r, g_z, g_n])
    du = np.hstack([g_r, g_z, g_n * r])
    dh_prev = dh * z + g_r @ p.W_hh[:H] + g_z @ p.W_hh[H:2 * H] + (g_n * r) @ p.W_hh[2 * H:]
    grads = GRUParams(np.einsum("nk,nd->kd", da, x), np.einsum("nk,nh->kh", du, h_prev), da.sum(0), du.sum(0))
    return np.einsum("nk,kd->nd", da, p.W_ih), dh_prev, grads''',
    # the reference's layout: deltas for every step first, weight gradients in one product
    "gru_backward": '''def gru_backward(dhs, cache, dh_T=None):
    x, h0, gates, u_ns, hs, p = cache
    T, N, D = x.shape
    H = h0.shape[1]
    h_prev = np.concatenate([h0[None], hs[:-1]])
    da, du = np.zeros((T, N, 3 * H)), np.zeros((T, N, 3 * H))
    carry = np.zeros((N, H)) if dh_T is None else dh_T
    for t in range(T - 1, -1, -1):
        dh = dhs[t] + carry
        r, z, n = gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:]
        g_n = dh * (1 - z) * (1 - n**2)
        g_r = g_n * u_ns[t] * r * (1 - r)
        g_z = dh * (h_prev[t] - n) * z * (1 - z)
        da[t] = np.hstack([g_r, g_z, g_n])
        du[t] = np.hstack([g_r, g_z, r * g_n])
        carry = z * dh + du[t] @ p.W_hh
    A, U = da.reshape(T * N, 3 * H), du.reshape(T * N, 3 * H)
    grads = GRUParams(A.T @ x.reshape(T * N, D), U.T @ h_prev.reshape(T * N, H), A.sum(0), U.sum(0))
    return (A @ p.W_ih).reshape(T, N, D), carry, grads''',
    # a list, sums written as products with ones
    "candidate_cho_backward": '''def candidate_cho_backward(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn):
    pre = x @ W_in.T + b_in + (h_prev * r) @ W_hn.T + b_hn
    g = dn * (1 - np.tanh(pre)) * (1 + np.tanh(pre))
    back = g @ W_hn
    ones = np.ones(len(x))
    return [g @ W_in, r * back, h_prev * back, g.T @ x, ones @ g, g.T @ (h_prev * r), ones @ g]''',
    # numbers as a learner types them: rounded to four significant digits, or as NumPy values
    "dh_1": "dh_1 = float(f'{grading.numeric.QUESTIONS[\"gru_dh_1\"].expected():.4g}')",
    "db_hn_1": "db_hn_1 = np.array([grading.numeric.QUESTIONS['gru_db_hn_1'].expected() * 0.998])",
    "db_hn": "db_hn = np.array([grading.numeric.QUESTIONS['gru_db_hn'].expected() * 1.002])",
    "b_z": "b_z = np.float32(4.272)",
}


def test_right_answers_written_differently_get_full_marks():
    results = _tests(run_in_process("05_gru", {**KEY["05_gru"], **DIFFERENT}))
    assert {k: v for k, v in results.items() if v} == {}


def test_blank_release_gets_nothing():
    stub = "raise NotImplementedError()"
    blank = {k: (f"{k} = None\n{stub}" if not v.startswith(("def ", "class ")) else stub)
             for k, v in KEY["05_gru"].items()}
    results = _tests(run_in_process("05_gru", blank))
    assert results and all(results.values()), results
    numbers = {k for k in results if k in ("test_dh_1", "test_db_hn_1", "test_db_hn", "test_b_z")}
    assert len(numbers) == 4, results
    assert all("not answered yet" in results[k] for k in numbers), results


def test_every_gru_mistake_of_the_course_cases_is_a_catalogued_one():
    """The course cases cover the issue's named mistakes, each in the feedback."""
    says = {m.says for m in MISTAKES if m.assignment == "05_gru"}
    for named in ("z and 1 − z swapped", "r applied outside the tanh", "b_hn outside r", "Cho's form for PyTorch's",
                  "dh not accumulated from the future step", "the direct path left out"):
        assert named in says


# --- numbers computed by hand -----------------------------------------------------------------------
@pytest.mark.parametrize("question", sorted(numeric.QUESTIONS))
def test_a_number_is_accepted_within_its_tolerance_and_not_outside(question):
    q = numeric.QUESTIONS[question]
    e = q.expected()
    check_number(e * (1 + 0.8 * q.rtol), question)
    check_number(float(f"{e:.4g}"), question)
    with pytest.raises(AssertionError) as err:
        check_number(e * (1 + 3 * q.rtol), question)
    message = str(err.value)
    assert f"{e:.4g}" not in message and f"{e:.3g}" not in message, "the expected value leaked"


@pytest.mark.parametrize("question", sorted(numeric.QUESTIONS))
def test_every_named_wrong_value_is_far_from_the_right_one_and_named(question):
    q = numeric.QUESTIONS[question]
    e = q.expected()
    kept = numeric.known_wrong(q, e)
    assert len(kept) >= 3
    for description, value in kept:
        assert abs(value - e) > 10 * q.rtol * max(abs(value), abs(e)), description
        with pytest.raises(AssertionError) as err:
            check_number(value, question)
        assert str(description) in " ".join(str(err.value).split()), err.value
        assert ".html#" in str(err.value)


def test_wrong_kinds_of_answer_say_what_was_expected():
    for answer, says in [(None, "not answered yet"), ("0.25", "expected a number"), (True, "expected a number"),
                         (np.ones(3), "expected one number"), (float("nan"), "finite real number"),
                         (1j, "expected one number")]:
        with pytest.raises(AssertionError, match=says):
            check_number(answer, "bptt_dc_1")
    with pytest.raises(ValueError, match="no numeric question 'dc1'"):
        check_number(0.1, "dc1")


def test_a_hand_computation_with_four_digits_per_step_passes():
    """The answer keys' formulas on forward values rounded to four significant digits."""
    for assignment, values in (("03_bptt", worked.lstm_forward_values), ("05_gru", worked.gru_forward_values)):
        rounded = {k: float(f"{v:.4g}") for k, v in values().items()}
        namespace = {"np": np, "case": worked.LSTM_CASE if assignment == "03_bptt" else worked.GRU_CASE, "v": rounded}
        ids = (("dc_1", "dW_hf_1", "dW_hf", "half_life") if assignment == "03_bptt"
               else ("dh_1", "db_hn_1", "db_hn", "b_z"))
        for grade_id in ids:
            exec(KEY[assignment][grade_id], namespace)
        for grade_id, question in zip(ids, [q for q in numeric.QUESTIONS if q.startswith(assignment[3:7])]):
            check_number(namespace[grade_id], question)


def test_the_worked_cases_are_not_the_books():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_scripts"))
    import hand_bptt

    assert worked.LSTM_CASE.W_ih != tuple(hand_bptt.W_IH[k] for k in "ifgo")
    assert (worked.LSTM_CASE.h0, worked.LSTM_CASE.c0) != (0.0, 0.0)
    assert math.isclose(numeric.QUESTIONS["bptt_half_life"].expected(), math.log(2) / -math.log(1 / (1 + math.exp(-3))))


#: 03_bptt §5 answered with the learner's own backward step from §1, which the notebook allows
#: (they wrote it): right, so full marks, although no number is typed in by hand.
OWN_BACKWARD_03 = {
    "dc_1": '''params = LSTMParams(np.array(case.W_ih)[:, None], np.array(case.W_hh)[:, None], np.array(case.b))
x, h0, c0 = np.array(case.x).reshape(2, 1, 1), np.full((1, 1), case.h0), np.full((1, 1), case.c0)
hs, _, seq = lstm_forward(x, params, h0, c0)


def step(t):
    i, f, g, o = np.split(seq.gates[t], 4, axis=1)
    prev = (seq.hs[t - 1], seq.cs[t - 1]) if t else (h0, c0)
    return StepCache(seq.x[t], *prev, i, f, g, o, seq.tanh_cs[t], params)


_, dh_msg, dc_msg, grads2 = lstm_step_backward(hs[1] - case.y[1], np.zeros((1, 1)), step(1))
dh1 = hs[0] - case.y[0] + dh_msg
dc_1 = (dh1 * seq.gates[0, :, 3:4] * (1 - seq.tanh_cs[0] ** 2) + dc_msg).item()''',
    "dW_hf_1": "grads1 = lstm_step_backward(dh1, dc_msg, step(0))[3]\ndW_hf_1 = grads1.W_hh[1, 0]",
    "dW_hf": "dW_hf = grads1.W_hh[1, 0] + grads2.W_hh[1, 0]",
    "half_life": "half_life = np.log(0.5) / np.log(1 / (1 + np.exp(-3)))",
}


def test_numbers_from_the_learners_own_backward_pass_get_full_marks():
    results = _tests(run_in_process("03_bptt", {**KEY["03_bptt"], **OWN_BACKWARD_03}))
    numbers = {f"test_{k}" for k in OWN_BACKWARD_03}
    assert numbers <= set(results), results
    assert {k: v for k, v in results.items() if v} == {}


def test_a_value_that_two_slips_give_names_both():
    """In a one-unit case two slips can land on the same number: the feedback names each."""
    both = worked.lstm_dW_hf_step(worked.LSTM_CASE, 1)  # step 2's term; also δc_1 without its cell lane
    assert abs(both - worked.lstm_dc_1(c_lane=False) * worked.lstm_dW_hf_step() / worked.lstm_dc_1()) < 1e-3
    with pytest.raises(AssertionError) as err:
        check_number(both, "bptt_dW_hf_1")
    message = " ".join(str(err.value).split())
    assert "Likely mistake: dc not accumulated from the future step" in message
    assert "Or: step 2's term" in message
