"""Deliberately wrong answers, and a way to run a notebook's tests without a kernel.

Shared by tests/test_grading.py (every mistake, in-process, fast) and tests/test_course.py
(a representative few through the real ``nbgrader autograde``). Each wrong answer is the
answer key with one edit, so it follows the key when the key changes (an edit that no
longer applies fails loudly).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import submissions  # noqa: E402

NOTEBOOK = {"01_gates": "gates", "02_sequences": "sequences", "03_bptt": "bptt", "04_pytorch": "pytorch"}
#: Cells too slow for the in-process runs (training); nbgrader runs cover them.
SLOW = {"run_training", "test_memory_task"}


@dataclass(frozen=True)
class Mistake:
    """One wrong answer: an edit of the key and what the tests must say about it."""

    name: str
    assignment: str
    grade_id: str  # the solution cell edited
    old: str
    new: str
    fails: frozenset[str]  # test cells that must lose their points, and no others
    says: str  # a phrase the failing test's message must contain


def _m(name, assignment, grade_id, old, new, fails, says):
    return Mistake(name, assignment, grade_id, old, new, frozenset(fails.split()), says)


MISTAKES = [
    _m("naive-sigmoid", "01_gates", "sigmoid", "e = np.exp(-np.abs(z))\n    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
       "return 1.0 / (1.0 + np.exp(-z))", "test_sigmoid", "overflows"),
    _m("gate-bias-missing", "01_gates", "forget_gate", "@ W_f.T + b_f)", "@ W_f.T)", "test_forget_gate", "bias left out"),
    _m("gate-concat-xh", "01_gates", "input_gate", "[h_prev, x]", "[x, h_prev]", "test_input_gate", "[x, h] concatenated instead of [h, x]"),
    _m("candidate-sigmoid", "01_gates", "candidate", "np.tanh(", "sigmoid(", "test_candidate", "σ where tanh belongs"),
    _m("output-gate-tanh", "01_gates", "output_gate", "return sigmoid(", "return np.tanh(", "test_output_gate", "tanh where σ belongs"),
    _m("cell-f-i-swapped", "01_gates", "cell_state", "f * c_prev + i * g", "i * c_prev + f * g", "test_cell_state", "f and i swapped"),
    _m("cell-f-missing", "01_gates", "cell_state", "f * c_prev + i * g", "c_prev + i * g", "test_cell_state", "old cell not gated"),
    _m("hidden-no-tanh", "01_gates", "hidden_state", "o * np.tanh(c)", "o * c", "test_hidden_state", "tanh missing on c"),
    _m("step-gate-order", "01_gates", "lstm_step", "g = np.tanh(a[:, 2 * H : 3 * H])\n    o = sigmoid(a[:, 3 * H :])",
       "g = np.tanh(a[:, 3 * H :])\n    o = sigmoid(a[:, 2 * H : 3 * H])", "test_lstm_step", "gate order swapped"),
    _m("step-bias-missing", "01_gates", "lstm_step", " + params.b  # (N, 4H)", "  # (N, 4H)", "test_lstm_step", "bias left out"),
    _m("step-candidate-sigmoid", "01_gates", "lstm_step", "g = np.tanh(", "g = sigmoid(", "test_lstm_step", "σ where tanh belongs, in the g gate"),
    _m("step-no-tanh-c", "01_gates", "lstm_step", "h = o * np.tanh(c)", "h = o * c", "test_lstm_step", "tanh missing on c"),
    _m("forward-gate-order", "02_sequences", "lstm_forward", "i, f = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])",
       "f, i = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])", "test_lstm_forward", "gate order swapped"),
    _m("forward-states-ignored", "02_sequences", "lstm_forward", "if h0 is None else h0\n    c = np.zeros((N, H), dtype=x.dtype) if c0 is None",
       "if True else h0\n    c = np.zeros((N, H), dtype=x.dtype) if True", "test_lstm_forward", "initial states ignored"),
    _m("from-torch-dropped-bias-hh", "02_sequences", "params_from_torch", "(lstm.bias_ih_l0 + lstm.bias_hh_l0)", "(lstm.bias_ih_l0)",
       "test_params_from_torch", "dropped bias_hh when porting"),
    _m("to-torch-dropped-bias-hh", "02_sequences", "params_to_torch", "lstm.bias_hh_l0.zero_()", "pass",
       "test_params_to_torch", "dropped bias_hh when porting"),
    _m("forward-hs-shifted", "02_sequences", "lstm_forward", "        c = f * c + i * g\n        h = o * np.tanh(c)\n        hs[t] = h",
       "        hs[t] = h\n        c = f * c + i * g\n        h = o * np.tanh(c)", "test_lstm_forward", "hs holds h_0 .. h_{T-1}"),
    _m("from-torch-weights-swapped", "02_sequences", "params_from_torch", "W_ih = lstm.weight_ih_l0", "W_ih = lstm.weight_hh_l0",
       "test_params_from_torch", "No known mistake"),
    _m("to-torch-bias-twice", "02_sequences", "params_to_torch", "lstm.bias_hh_l0.zero_()", "lstm.bias_hh_l0.copy_(torch.from_numpy(params.b))",
       "test_params_to_torch", "b counted twice"),
    _m("step-backward-tanh-path-missing", "03_bptt", "lstm_step_backward", "dc = dc + dh * o * (1.0 - tanh_c**2)", "dc = dc",
       "test_lstm_step_backward test_lstm_backward", "path through tanh(c_t) left out"),
    _m("step-backward-dc-not-accumulated", "03_bptt", "lstm_step_backward", "dc = dc + dh * o", "dc = dh * o",
       "test_lstm_step_backward test_lstm_backward", "dc not accumulated from the future step"),
    _m("backward-dc-not-carried", "03_bptt", "lstm_backward", "dhs[t] + dh_next, dc_next, step", "dhs[t] + dh_next, np.zeros_like(dc_next), step",
       "test_lstm_backward", "dc not accumulated from the future step"),
    _m("backward-dh-not-carried", "03_bptt", "lstm_backward", "lstm_step_backward(dhs[t] + dh_next,", "lstm_step_backward(dhs[t] + (dh_next if t == T - 1 else 0),",
       "test_lstm_backward", "dh not accumulated from the future step"),
    _m("backward-grads-not-summed", "03_bptt", "lstm_backward", "grads = LSTMParams(*(a + b for a, b in zip(grads, step_grads)))",
       "grads = step_grads", "test_lstm_backward", "not summed over time"),
    _m("numgrad-forward-difference", "03_bptt", "numerical_gradient", "x[k] = old - h\n        f_minus = f()\n        x[k] = old\n        grad[k] = (f_plus - f_minus) / (2 * h)",
       "x[k] = old\n        f_minus = f()\n        grad[k] = (f_plus - f_minus) / h", "test_numerical_gradient", "forward difference"),
    _m("numgrad-not-restored", "03_bptt", "numerical_gradient", "        x[k] = old\n        grad[k]", "        grad[k]",
       "test_numerical_gradient", "restore each entry"),
    _m("numgrad-over-h", "03_bptt", "numerical_gradient", "/ (2 * h)", "/ h", "test_numerical_gradient", "divided by h instead of 2h"),
    _m("torch-step-fixed-device", "04_pytorch", "lstm_step", "+ params.b  # (N, 4H)", "+ params.b + torch.zeros(params.b.shape)  # (N, 4H)",
       "test_lstm_step_device", "inputs' device"),
    _m("torch-step-gate-order", "04_pytorch", "lstm_step", "i, f, g, o = a.chunk", "i, f, o, g = a.chunk",
       "test_lstm_step test_lstm_step_autograd test_lstm_cell", "gate order swapped"),
    _m("torch-step-detached", "04_pytorch", "lstm_step", "return h, c, None", "return h.detach(), c, None",
       "test_lstm_step_autograd test_lstm_cell", "gradient"),
    _m("cell-dropped-bias-hh", "04_pytorch", "lstm_cell", "self.bias_ih + self.bias_hh", "self.bias_ih", "test_lstm_cell", "dropped bias_hh"),
    _m("grad-norms-of-states", "04_pytorch", "hidden_grad_norms", "return torch.stack([g.norm() for g in grads])",
       "return torch.stack([h.norm() for h in hs])", "test_hidden_grad_norms", "norms of the hidden states themselves"),
]

#: Answers that hand the work to the reference, each imported a different way.
CHEATS = {
    "01_gates": {
        "sigmoid": "from lstm_ref.numpy_lstm import *",
        "forget_gate": "import lstm_ref.numpy_lstm as r\n\ndef forget_gate(x, h_prev, W_f, b_f):\n    return r.forget_gate(x, h_prev, W_f, b_f)",
        "input_gate": "import importlib\n\ninput_gate = importlib.import_module('lstm_ref.numpy_lstm').input_gate",
        "candidate": "import types, lstm_ref.numpy_lstm as r\n\ncandidate = types.FunctionType(r.candidate.__code__, r.__dict__, 'candidate')",
        "output_gate": "from lstm_ref import numpy_lstm\n\ndef output_gate(x, h_prev, W_o, b_o):\n    return numpy_lstm._gate_preactivation(x, h_prev, W_o, b_o, 'W_o', 'b_o') * 0 + numpy_lstm.sigmoid(numpy_lstm._gate_preactivation(x, h_prev, W_o, b_o, 'W_o', 'b_o'))",
        "cell_state": "from lstm_ref.numpy_lstm import cell_state",
        "hidden_state": "from lstm_ref.numpy_lstm import hidden_state as _h\n\ndef hidden_state(o, c):\n    return _h(o, c)",
        "lstm_step": "import sys\n\ndef lstm_step(x, h_prev, c_prev, params):\n    return sys.modules['lstm_ref.numpy_lstm'].lstm_step(x, h_prev, c_prev, params)",
    },
    "04_pytorch": {
        "lstm_step": "from lstm_ref.torch_lstm import lstm_step",
        "lstm_cell": "from lstm_ref.torch_lstm import LSTMCell  # the reference's drop-in for nn.LSTMCell",
    },
    "03_bptt": {
        "lstm_step_backward": "from lstm_ref.numpy_lstm import lstm_step_backward",
        "lstm_backward": "from lstm_ref import numpy_lstm\nlstm_backward = numpy_lstm.lstm_backward",
        "numerical_gradient": "from lstm_ref.gradcheck import numerical_gradient",
    },
}


def answers_with(mistake: Mistake) -> dict[str, str]:
    key = submissions.key_answers(mistake.assignment, NOTEBOOK[mistake.assignment])
    return submissions.mutate(key, mistake.grade_id, mistake.old, mistake.new)


def run_in_process(assignment: str, answers: dict[str, str], skip: set[str] = SLOW) -> dict[str, str | None]:
    """Run the answer key's read-only, answer and test cells (hidden tests included) in one namespace.

    Returns ``{test grade_id: None if it passed, else the error message}``: what nbgrader
    would grade, without a kernel.
    """
    key = nbformat.read(ROOT / "solutions" / assignment / f"{NOTEBOOK[assignment]}.ipynb", as_version=4)
    namespace: dict = {"__name__": "__main__"}
    results = {}
    for cell in key.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if cell.cell_type != "code" or grade_id is None or grade_id in skip:
            continue
        source = answers.get(grade_id, cell.source) if meta.get("solution") else cell.source
        try:
            exec(compile(source, f"<{grade_id}>", "exec"), namespace)
        except Exception as err:  # noqa: BLE001 -- a failing cell is a result, as in nbgrader
            if meta.get("grade"):
                results[grade_id] = " ".join(f"{type(err).__name__}: {err}".split())  # unwrapped
            continue
        if meta.get("grade"):
            results[grade_id] = None
    return results


#: What the hostile learner's first answer cell prints when the answer key is (not) readable.
KEY_READ, KEY_BLOCKED = "ANSWER-KEY-READ", "ANSWER-KEY-BLOCKED"
_HOSTILE_PRELUDE = f'''import os, pathlib
import numpy.testing
import lstm_ref.grading as grading
# every check passes (an unguarded kernel would give full marks for the answers below)
for _name in dir(grading):
    if _name.startswith("check"):
        setattr(grading, _name, lambda *args, **kwargs: None)
numpy.testing.assert_allclose = lambda *args, **kwargs: None
# the course folder is three levels up from autograded/<student>/<assignment>
_key = pathlib.Path(os.getcwd()).parents[2] / "solutions" / "01_gates" / "gates.ipynb"
try:
    _key.read_text()
    print("{KEY_READ}")
except OSError:
    print("{KEY_BLOCKED}")
'''


def hostile_submission(assignment: str = "01_gates") -> nbformat.NotebookNode:
    """Wrong answers (every function returns 0.0) that patch the checkers, try to read the
    answer key, and with every test cell replaced by ``pass``: it must score 0."""
    import re

    key = submissions.key_answers(assignment, NOTEBOOK[assignment])
    answers = {}
    for grade_id, source in key.items():
        names = re.findall(r"^def (\w+)\(", source, flags=re.MULTILINE)
        answers[grade_id] = "\n".join(f"def {n}(*args, **kwargs):\n    return 0.0\n" for n in names) or "pass"
    first = next(iter(answers))
    answers[first] = _HOSTILE_PRELUDE + answers[first]
    nb = submissions.submission(assignment, NOTEBOOK[assignment], answers)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.source = "pass  # edited by the learner"
    return nb


# --- issue 16: the GRU assignment and the numbers computed by hand ---------------------------------
NOTEBOOK["05_gru"] = "gru"
_FWD = "test_gru_step test_gru_forward"  # gru_forward calls gru_step
_BWD = "test_gru_step_backward test_gru_backward"  # gru_backward calls gru_step_backward
MISTAKES += [
    _m("gru-z-swapped", "05_gru", "gru_step", "h = (1 - z) * n + z * h_prev", "h = z * n + (1 - z) * h_prev", _FWD,
       "z and 1 − z swapped"),
    _m("gru-r-outside", "05_gru", "gru_step", "n = np.tanh(a[:, 2 * H :] + r * u[:, 2 * H :])",
       "n = r * np.tanh(a[:, 2 * H :] + u[:, 2 * H :])", _FWD, "r applied outside the tanh"),
    _m("gru-b-hn-outside-r", "05_gru", "gru_step", "n = np.tanh(a[:, 2 * H :] + r * u[:, 2 * H :])",
       "n = np.tanh(a[:, 2 * H :] + r * (u[:, 2 * H :] - params.b_hh[2 * H :]) + params.b_hh[2 * H :])", _FWD,
       "b_hn outside r"),
    _m("gru-cho-form", "05_gru", "gru_step", "n = np.tanh(a[:, 2 * H :] + r * u[:, 2 * H :])",
       "n = np.tanh(a[:, 2 * H :] + (r * h_prev) @ params.W_hh[2 * H :].T + params.b_hh[2 * H :])", _FWD,
       "Cho's form for PyTorch's"),
    _m("gru-gate-order-zrn", "05_gru", "gru_step", "r = sigmoid(a[:, :H] + u[:, :H])\n    z = sigmoid(a[:, H : 2 * H] + u[:, H : 2 * H])",
       "z = sigmoid(a[:, :H] + u[:, :H])\n    r = sigmoid(a[:, H : 2 * H] + u[:, H : 2 * H])", _FWD, "gate order swapped"),
    _m("gru-b-hh-dropped", "05_gru", "gru_step", "u = h_prev @ params.W_hh.T + params.b_hh", "u = h_prev @ params.W_hh.T",
       _FWD, "b_hh left out"),
    _m("gru-forward-h0-ignored", "05_gru", "gru_forward", "if h0 is None else h0", "if True else h0", "test_gru_forward",
       "initial state ignored"),
    _m("gru-direct-path-missing", "05_gru", "gru_step_backward", "z * dh + du @ params.W_hh", "du @ params.W_hh", _BWD,
       "the direct path left out"),
    _m("gru-r-missing-in-du", "05_gru", "gru_step_backward", "r * da_n], axis=1)", "da_n], axis=1)", _BWD, "r missing in δu"),
    _m("gru-dz-sign", "05_gru", "gru_step_backward", "dz = dh * (h_prev - n)", "dz = dh * (n - h_prev)", _BWD,
       "δz has the wrong sign"),
    _m("gru-dr-without-b-hn", "05_gru", "gru_step_backward", "dr = da_n * u_n",
       "dr = da_n * (u_n - params.b_hh[2 * u_n.shape[1] :])", _BWD, "b_hn left out of δr"),
    _m("gru-backward-dh-not-carried", "05_gru", "gru_backward", "gru_step_backward(dhs[t] + dh_next, step)",
       "gru_step_backward(dhs[t] + (dh_next if t == cache.x.shape[0] - 1 else 0), step)", "test_gru_backward",
       "dh not accumulated from the future step"),
    _m("gru-backward-not-summed", "05_gru", "gru_backward", "grads = [a + b for a, b in zip(grads, (g.W_ih, g.W_hh, g.b_ih, g.b_hh))]",
       "grads = [g.W_ih, g.W_hh, g.b_ih, g.b_hh]", "test_gru_backward", "not summed over time"),
    _m("gru-backward-dh-T-ignored", "05_gru", "gru_backward", "np.zeros_like(cache.h0) if dh_T is None else dh_T",
       "np.zeros_like(cache.h0)", "test_gru_backward", "dh_T ignored"),
    _m("cho-pytorch-rules", "05_gru", "candidate_cho_backward",
       "return da @ W_in, ds * r, ds * h_prev, da.T @ x, da.sum(axis=0), da.T @ s, da.sum(axis=0)",
       "u = h_prev @ W_hn.T + b_hn\n    return da @ W_in, (r * da) @ W_hn, da * u, da.T @ x, da.sum(axis=0), (r * da).T @ h_prev, (r * da).sum(axis=0)",
       "test_candidate_cho_backward", "PyTorch's rules applied to Cho's form"),
    _m("cho-r-missing-in-dh", "05_gru", "candidate_cho_backward", "ds * r, ds * h_prev", "ds, ds * h_prev",
       "test_candidate_cho_backward", "r missing in dh_prev"),
    _m("cho-dW-hn-from-h", "05_gru", "candidate_cho_backward", "da.T @ s, da.sum", "da.T @ h_prev, da.sum",
       "test_candidate_cho_backward", "dW_hn built from h_{t-1}"),
    # numbers by hand; a wrong dh_1 also makes db_hn_1 and db_hn wrong, the same mistake named in all three
    _m("gru-number-direct-path-missing", "05_gru", "dh_1", "(v[\"h1\"] - case.y[0]) + direct +", "(v[\"h1\"] - case.y[0]) +",
       "test_dh_1 test_db_hn_1 test_db_hn", "the direct path left out"),
    _m("gru-number-partial-for-total", "05_gru", "dh_1",
       "dh_1 = (v[\"h1\"] - case.y[0]) + direct + W_hr * da_r2 + W_hz * da_z2 + W_hn * v[\"r2\"] * da_n2",
       "dh_1 = v[\"h1\"] - case.y[0]", "test_dh_1 test_db_hn_1 test_db_hn", "dh not accumulated from the future step"),
    _m("gru-number-b-hn-as-b-in", "05_gru", "db_hn", "v[\"r1\"] * da_n1 + v[\"r2\"] * da_n2", "da_n1 + da_n2", "test_db_hn",
       "b_hn taken for b_in"),
    _m("gru-number-db-hn-1-step-2", "05_gru", "db_hn_1", "db_hn_1 = v[\"r1\"] * da_n1", "db_hn_1 = v[\"r2\"] * da_n2",
       "test_db_hn_1", "step 2's term"),
    _m("gru-number-db-hn-1-b-in", "05_gru", "db_hn_1", "db_hn_1 = v[\"r1\"] * da_n1", "db_hn_1 = da_n1", "test_db_hn_1",
       "b_hn taken for b_in"),
    _m("gru-number-b-z-swapped", "05_gru", "b_z", "np.log(z / (1 - z))", "np.log((1 - z) / z)", "test_b_z", "z and 1 − z swapped"),
    _m("gru-number-b-z-gate-value", "05_gru", "b_z", "b_z = np.log(z / (1 - z))", "b_z = z", "test_b_z", "the gate's value given"),
    _m("bptt-number-cell-lane-missing", "03_bptt", "dc_1", " + v[\"f2\"] * dc2  # through", "  # through",
       "test_dc_1 test_dW_hf_1 test_dW_hf", "dc not accumulated from the future step"),
    _m("bptt-number-message-h-missing", "03_bptt", "dc_1", "dh1 = (v[\"h1\"] - case.y[0]) + sum(", "dh1 = (v[\"h1\"] - case.y[0]) + 0 * sum(",
       "test_dc_1 test_dW_hf_1 test_dW_hf", "dh not accumulated from the future step"),
    _m("bptt-number-dW-1-step-2-term", "03_bptt", "dW_hf_1", "dW_hf_1 = da_f1 * case.h0", "dW_hf_1 = da2[\"f\"] * v[\"h1\"]",
       "test_dW_hf_1", "step 2's term"),
    _m("bptt-number-dW-1-sigma-prime-missing", "03_bptt", "dW_hf_1", "dW_hf_1 = da_f1 * case.h0",
       "dW_hf_1 = dc_1 * case.c0 * case.h0", "test_dW_hf_1", "σ' missing"),
    _m("bptt-number-dW-last-step-only", "03_bptt", "dW_hf", "dW_hf = da_f1 * case.h0 + da2[\"f\"] * v[\"h1\"]",
       "dW_hf = da2[\"f\"] * v[\"h1\"]", "test_dW_hf", "not summed over time"),
    _m("bptt-number-dW-partial-for-total", "03_bptt", "dW_hf", "dW_hf = da_f1 * case.h0 + da2[\"f\"] * v[\"h1\"]",
       "dW_hf = v[\"h1\"]", "test_dW_hf", "the local partial ∂a^f_2/∂W_hf = h_1 taken for the total"),
    _m("bptt-number-half-life-forgotten-share", "03_bptt", "half_life", "np.log(1 / f)", "np.log(1 / (1 - f))", "test_half_life",
       "the share forgotten taken for the share kept"),
    _m("bptt-number-half-life-e-folding", "03_bptt", "half_life", "np.log(2) / np.log(1 / f)", "1 / np.log(1 / f)",
       "test_half_life", "the e-folding time"),
]

# --- issue 16: the application assignment ------------------------------------------------------------
NOTEBOOK["06_sequence_models"] = "sequence_models"
SLOW.update({"test_order_training", "test_order_held_out"})  # need the training run ("run_training")
MISTAKES += [
    _m("order-model-fixed-step", "06_sequence_models", "model", "return self.head(hs[-1])", "return self.head(hs[T - 1])",
       "test_model", "reads a fixed step, not the last one"),
]

# --- issue 16: numbers by hand in assignment 1 --------------------------------------------------------
MISTAKES += [
    _m("gates-number-b-f-gate-value", "01_gates", "b_f", "b_f = np.log(0.95 / (1 - 0.95))", "b_f = 0.95", "test_b_f",
       "the gate's value given, not its bias"),
    _m("gates-number-c-one-step", "01_gates", "c_limit", "c_limit = 0.6 * 0.7 / (1 - 0.75)", "c_limit = 0.6 * 0.7",
       "test_c_limit test_h_limit", "one step"),
    _m("gates-number-h-no-tanh", "01_gates", "h_limit", "0.5 * np.tanh(c_limit)", "0.5 * c_limit", "test_h_limit",
       "tanh missing on c"),
]

# --- issue 16: more numbers by hand in assignment 1, and numbers by hand in assignments 2 and 4 -------
# Each named slip loses its one test and is named; a value no slip gives is rejected without a name.
# The entries that lose no test (``fails`` empty) are right answers written differently: typed with
# four digits, as a fraction, as a NumPy or torch scalar, or counted by code.
_RIGHT = ""
MISTAKES += [
    _m("gates-number-x-close-order", "01_gates", "x_close", "(a_f - 2 * 0.5 - 0.5) / 4", "(a_f - 4 * 0.5 - 0.5) / 2",
       "test_x_close", "[x, h] concatenated instead of [h, x]"),
    _m("gates-number-x-close-bias", "01_gates", "x_close", "(a_f - 2 * 0.5 - 0.5) / 4", "(a_f - 2 * 0.5) / 4",
       "test_x_close", "bias left out"),
    _m("gates-number-x-close-h", "01_gates", "x_close", "(a_f - 2 * 0.5 - 0.5) / 4", "(a_f - 0.5) / 4",
       "test_x_close", "h_{t-1} left out"),
    _m("gates-number-x-close-gate-value", "01_gates", "x_close", "a_f = np.log(0.1 / (1 - 0.1))", "a_f = 0.1",
       "test_x_close", "the gate's value taken for its pre-activation"),
    _m("gates-number-x-close-share", "01_gates", "x_close", "np.log(0.1 / (1 - 0.1))", "np.log(0.9 / (1 - 0.9))",
       "test_x_close", "the share forgotten taken for the share kept"),
    _m("gates-number-x-close-unknown", "01_gates", "x_close", "x_close = (a_f - 2 * 0.5 - 0.5) / 4", "x_close = -1.0",
       "test_x_close", "No known mistake gives this value"),
    _m("gates-number-x-close-typed", "01_gates", "x_close", "x_close = (a_f - 2 * 0.5 - 0.5) / 4", "x_close = -0.9243",
       _RIGHT, ""),
    _m("gates-number-c-10-too-few", "01_gates", "c_10", "0.9**10", "0.9**9", "test_c_10", "one step too few"),
    _m("gates-number-c-10-too-many", "01_gates", "c_10", "0.9**10", "0.9**11", "test_c_10", "one step too many"),
    _m("gates-number-c-10-c0-missing", "01_gates", "c_10", "2 * 0.9**10", "0.9**10", "test_c_10", "c_0 left out"),
    _m("gates-number-c-10-share", "01_gates", "c_10", "2 * 0.9**10", "2 * 0.1**10", "test_c_10",
       "the share forgotten taken for the share kept"),
    _m("gates-number-c-10-one-step", "01_gates", "c_10", "2 * 0.9**10", "2 * 0.9", "test_c_10", "one step only"),
    _m("gates-number-c-10-fraction", "01_gates", "c_10", "2 * 0.9**10", "np.float32(2 * (9 / 10) ** 10)", _RIGHT, ""),
    _m("sequences-number-count-1-one-bias", "02_sequences", "count_1", "+ 2 * 4 * 4  # W_ih", "+ 4 * 4  # W_ih",
       "test_count_1", "one bias counted"),
    _m("sequences-number-count-1-no-bias", "02_sequences", "count_1", "+ 2 * 4 * 4  # W_ih", "  # W_ih",
       "test_count_1", "the biases left out"),
    _m("sequences-number-count-1-one-gate", "02_sequences", "count_1", "4 * 4 * 3 + 4 * 4 * 4 + 2 * 4 * 4",
       "4 * 3 + 4 * 4 + 2 * 4", "test_count_1", "one gate's weights only"),
    _m("sequences-number-count-1-three-gates", "02_sequences", "count_1", "4 * 4 * 3 + 4 * 4 * 4 + 2 * 4 * 4",
       "3 * 4 * 3 + 3 * 4 * 4 + 2 * 3 * 4", "test_count_1", "three gates counted"),
    _m("sequences-number-count-1-int64", "02_sequences", "count_1", "count_1 = 4 * 4 * 3", "count_1 = np.int64(144)  #",
       _RIGHT, ""),
    _m("sequences-number-count-1-by-code", "02_sequences", "count_1", "count_1 = 4 * 4 * 3",
       "count_1 = sum(p.numel() for p in torch.nn.LSTM(3, 4).parameters())  #", _RIGHT, ""),
    _m("sequences-number-count-2-input-d", "02_sequences", "count_2", "4 * 4 * 8", "4 * 4 * 3", "test_count_2",
       "layer 2's input taken as D"),
    _m("sequences-number-count-2-input-h", "02_sequences", "count_2", "4 * 4 * 8", "4 * 4 * 4", "test_count_2",
       "layer 2's input taken as H"),
    _m("sequences-number-count-2-one-bias", "02_sequences", "count_2", "+ 2 * 4 * 4  # per direction",
       "+ 4 * 4  # per direction", "test_count_2", "one bias counted"),
    _m("sequences-number-count-2-one-direction", "02_sequences", "count_2", "count_2 = 2 * (layer_1 + layer_2)",
       "count_2 = layer_1 + layer_2", "test_count_2", "one direction counted"),
    _m("sequences-number-count-2-one-layer", "02_sequences", "count_2", "count_2 = 2 * (layer_1 + layer_2)",
       "count_2 = 2 * layer_1", "test_count_2", "one layer counted"),
    _m("sequences-number-count-2-unknown", "02_sequences", "count_2", "count_2 = 2 * (layer_1 + layer_2)",
       "count_2 = 700", "test_count_2", "No known mistake gives this value"),
    _m("sequences-number-hs-1-is-h-1", "02_sequences", "hs_1", "hs_1 = o * np.tanh(c_2)", "hs_1 = o * np.tanh(c_1)",
       "test_hs_1", "hs[1] taken for h_1"),
    _m("sequences-number-hs-1-c0-ignored", "02_sequences", "hs_1", "c_1 = f * 3.0 + i * g", "c_1 = f * 0.0 + i * g",
       "test_hs_1", "c_0 ignored"),
    _m("sequences-number-hs-1-ifog", "02_sequences", "hs_1", "i, f, g, o = 0.5, 0.75, -0.8, 0.8",
       "i, f, g, o = 0.5, 0.75, 15 / 17, 0.25", "test_hs_1", "the blocks read as i, f, o, g"),
    _m("sequences-number-hs-1-f-i-swapped", "02_sequences", "hs_1", "i, f, g, o = 0.5, 0.75, -0.8, 0.8",
       "i, f, g, o = 0.75, 0.5, -0.8, 0.8", "test_hs_1", "f and i swapped"),
    _m("sequences-number-hs-1-no-tanh", "02_sequences", "hs_1", "hs_1 = o * np.tanh(c_2)", "hs_1 = o * c_2", "test_hs_1",
       "tanh missing on c"),
    _m("sequences-number-hs-1-fractions", "02_sequences", "hs_1", "i, f, g, o = 0.5, 0.75, -0.8, 0.8",
       "i, f, g, o = 1 / 2, 3 / 4, np.tanh(-np.log(3)), 4 / 5", _RIGHT, ""),
    _m("pytorch-number-count-proj-whh", "04_pytorch", "count_proj", "4 * 4 * 2 + 2 * 4 * 4", "4 * 4 * 4 + 2 * 4 * 4",
       "test_count_proj", "W_hh taken as (4H, H)"),
    _m("pytorch-number-count-proj-no-whr", "04_pytorch", "count_proj", "+ 2 * 4 * 4 + 2 * 4  #", "+ 2 * 4 * 4  #",
       "test_count_proj", "W_hr left out"),
    _m("pytorch-number-count-proj-one-bias", "04_pytorch", "count_proj", "+ 2 * 4 * 4 + 2 * 4  #", "+ 4 * 4 + 2 * 4  #",
       "test_count_proj", "one bias counted"),
    _m("pytorch-number-count-proj-float", "04_pytorch", "count_proj", "count_proj = 4 * 4 * 3",
       "count_proj = 120.0  #", _RIGHT, ""),
    _m("pytorch-number-reverse-forward-half", "04_pytorch", "reverse_reads", "reverse_reads = 100 - 20",
       "reverse_reads = 20 + 1", "test_reverse_reads", "the forward half's count"),
    _m("pytorch-number-reverse-all", "04_pytorch", "reverse_reads", "reverse_reads = 100 - 20",
       "reverse_reads = 100", "test_reverse_reads", "final state h_n[1]"),
    _m("pytorch-number-reverse-unknown", "04_pytorch", "reverse_reads", "reverse_reads = 100 - 20",
       "reverse_reads = 79", "test_reverse_reads", "No known mistake gives this value"),
    _m("pytorch-number-reverse-range", "04_pytorch", "reverse_reads", "reverse_reads = 100 - 20",
       "reverse_reads = len(range(20, 100))", _RIGHT, ""),
    _m("pytorch-number-cell-path-too-many", "04_pytorch", "cell_path", ") ** 10", ") ** 11", "test_cell_path",
       "one factor too many"),
    _m("pytorch-number-cell-path-no-bias", "04_pytorch", "cell_path", "(1 / (1 + torch.e**-1.0))", "0.5",
       "test_cell_path", "the forget-gate bias left out"),
    _m("pytorch-number-cell-path-forgotten", "04_pytorch", "cell_path", "(1 / (1 + torch.e**-1.0))",
       "(1 - 1 / (1 + torch.e**-1.0))", "test_cell_path", "the share forgotten taken for the share kept"),
    _m("pytorch-number-cell-path-tensor", "04_pytorch", "cell_path", "(1 / (1 + torch.e**-1.0)) ** 10",
       "torch.sigmoid(torch.tensor(1.0)) ** 10", _RIGHT, ""),
]
