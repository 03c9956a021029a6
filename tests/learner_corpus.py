"""A corpus of realistic learner submissions, to measure the grader against.

Each entry is the answer key of one assignment with one realistic change, the way learners
write it (forum posts of CS231n assignment 3 and Coursera's Sequence Models, Stack Overflow
questions on LSTM backprop), in three groups:

- ``wrong``: a wrong answer; the tests in ``fails`` must score 0 and every other test full
  points, and a helpful message points at ``about`` (informational, not matched literally);
- ``different``: a correct answer written differently: full points everywhere;
- ``sloppy``: a correct answer in a messy notebook (debug prints, warnings, leftover
  cells, magics, a scratch cell that raises): full points everywhere.

It is deliberately disjoint from the mistakes of ``tests/course_cases.py``.

``fails`` counts downstream effects: in 01_gates the key's gates and ``lstm_step`` call
the learner's ``sigmoid``; in 03_bptt the key's ``lstm_backward`` calls the learner's
``lstm_step_backward``; in 04_pytorch the key's ``LSTMCell`` calls the learner's
``lstm_step``, and ``test_memory_task`` grades the model that ``run_training`` trained with
the learner's ``LSTMCell``, ``lstm_step`` and ``train`` (on the grading machine's CPU).

    python tests/learner_corpus.py check                       # in-process, current checks
    python tests/learner_corpus.py grade --out results.json    # end to end, python -m grader
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import submissions  # noqa: E402

NOTEBOOK = {"01_gates": "gates", "02_sequences": "sequences", "03_bptt": "bptt", "04_pytorch": "pytorch"}
#: The autograded test cells of each assignment.
TESTS = {
    "01_gates": ("test_sigmoid", "test_forget_gate", "test_input_gate", "test_candidate", "test_output_gate",
                 "test_cell_state", "test_hidden_state", "test_lstm_step"),
    "02_sequences": ("test_lstm_forward", "test_params_from_torch", "test_params_to_torch"),
    "03_bptt": ("test_lstm_step_backward", "test_lstm_backward", "test_numerical_gradient"),
    "04_pytorch": ("test_lstm_step", "test_lstm_step_autograd", "test_lstm_step_device", "test_lstm_cell",
                   "test_memory_task", "test_hidden_grad_norms"),
}
#: Cells too slow for a quick in-process run (training).
SLOW = {"run_training", "test_memory_task"}
NO_KNOWN = "No known mistake matches"
#: Longer student ids make the grader's kernel socket path (ipc://<tmp>/<assignment>/students/<id>/run/
#: kernel-...) exceed the 107-byte limit of a Unix socket: at HEAD such a student scores 0 with
#: "ZMQError: File name too long". The corpus stays clear of that so it measures the checks.
MAX_NAME = 30


@dataclass(frozen=True)
class Entry:
    """One learner submission: the key of ``assignment`` with ``edits`` and ``extra_cells``."""

    name: str  # unique kebab-case, used as the student id (at most 30 characters: see MAX_NAME)
    group: str  # "wrong" | "different" | "sloppy"
    assignment: str  # "01_gates" ... "04_pytorch"
    edits: tuple = ()  # (grade_id, old, new): replace old by new (must occur); (grade_id, None, source): whole answer
    extra_cells: tuple = ()  # (after_grade_id, source, cell_type): the learner's own cells
    fails: frozenset = frozenset()  # test grade_ids that must score 0; all others full points
    about: str = ""  # wrong only: what a helpful message points at


def _code(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


def _e(name, group, assignment, edits=(), extra=(), fails="", about=""):
    return Entry(name, group, assignment, tuple(edits), tuple(extra), frozenset(fails.split()), about)


def _sub(source: str, old: str, new: str) -> str:
    """``source`` with ``old`` replaced (it must occur): variants of a learner's own answer."""
    if old not in source:
        raise ValueError(f"{old!r} not in the source it should edit")
    return source.replace(old, new)


# --- 01_gates -----------------------------------------------------------------------------
_01_GATE_USERS = "test_sigmoid test_forget_gate test_input_gate test_output_gate test_lstm_step"

_STEP_INLINE_SIGMOID = _code('''
    def lstm_step(x, h_prev, c_prev, params):
        """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
        H = h_prev.shape[1]
        a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
        i = 1 / (1 + np.exp(-a[:, 0:H]))
        f = 1 / (1 + np.exp(-a[:, H:2*H]))
        g = np.tanh(a[:, 2*H:3*H])
        o = 1 / (1 + np.exp(-a[:, 3*H:4*H]))
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        return h, c, None
''')

GATES = [
    # wrong ------------------------------------------------------------------------------
    _e("sigmoid-abs-for-stability", "wrong", "01_gates", [("sigmoid", None, _code('''
        def sigmoid(z):
            """σ(z) for an array z of any shape, without overflow for any finite z."""
            # np.exp(-z) overflows for z = -1000, so use |z|: e^(-|z|) is never above 1
            return 1.0 / (1.0 + np.exp(-np.abs(z)))
    '''))], fails=_01_GATE_USERS, about="sigmoid of negative z: σ(|z|) ≥ 0.5; e/(1+e) for z < 0"),
    _e("sigmoid-where-both-branches", "wrong", "01_gates", [("sigmoid", None, _code('''
        def sigmoid(z):
            """σ(z) for an array z of any shape, without overflow for any finite z."""
            # each formula is only used on the side of 0 where it is safe
            positive = 1.0 / (1.0 + np.exp(-z))
            negative = np.exp(z) / (1.0 + np.exp(z))
            return np.where(z >= 0, positive, negative)
    '''))], fails="test_sigmoid", about="overflow at ±1000: np.where evaluates both branches; use e^(-|z|)"),
    _e("forget-gate-column-vectors", "wrong", "01_gates", [("forget_gate", None, _code('''
        def forget_gate(x, h_prev, W_f, b_f):
            """f_t, shape (N, H)."""
            hx = np.concatenate([h_prev, x], axis=1)  # [h_{t-1}, x_t], one row per sequence
            return sigmoid(W_f @ hx.T + b_f)  # W_f · [h_{t-1}, x_t] + b_f, as in the equation
    '''))], fails="test_forget_gate", about="f has shape (H, N) / (H, H): rows are sequences, use hx @ W_f.T"),
    _e("output-gate-bias-after-sigmoid", "wrong", "01_gates", [("output_gate", None, _code('''
        def output_gate(x, h_prev, W_o, b_o):
            """o_t, shape (N, H)."""
            z = np.concatenate([h_prev, x], axis=1) @ W_o.T
            return sigmoid(z) + b_o
    '''))], fails="test_output_gate", about="b_o added after σ instead of inside it"),
    _e("candidate-handmade-tanh", "wrong", "01_gates", [("candidate", None, _code('''
        def candidate(x, h_prev, W_g, b_g):
            """g_t (the seeds' C̃_t), shape (N, H)."""
            z = np.concatenate([h_prev, x], axis=1) @ W_g.T + b_g
            # tanh(z) = (e^z - e^-z) / (e^z + e^-z)
            return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    '''))], fails="test_candidate", about="NaN for large inputs: e^z overflows (inf/inf); use np.tanh"),
    _e("cell-candidate-squashed-twice", "wrong", "01_gates",
       [("cell_state", "f * c_prev + i * g", "f * c_prev + i * np.tanh(g)  # candidate through tanh")],
       fails="test_cell_state", about="g is already tanh'd: tanh applied twice"),
    _e("step-g-reads-f-block", "wrong", "01_gates",
       [("lstm_step", "g = np.tanh(a[:, 2 * H : 3 * H])", "g = np.tanh(a[:, H : 2 * H])")],
       fails="test_lstm_step", about="g sliced from the f block (rows H:2H); g is 2H:3H"),
    _e("step-h-prev-for-c-prev", "wrong", "01_gates",
       [("lstm_step", "c = f * c_prev + i * g", "c = f * h_prev + i * g")],
       fails="test_lstm_step", about="f gates h_{t-1} instead of c_{t-1}"),
    _e("step-per-gate-weights-x-first", "wrong", "01_gates", [("lstm_step", None, _code('''
        def lstm_step(x, h_prev, c_prev, params):
            """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
            H = h_prev.shape[1]

            def weights(k):
                rows = slice(k * H, (k + 1) * H)
                # per-gate weights and bias out of the stacked ones
                return np.hstack([params.W_ih[rows], params.W_hh[rows]]), params.b[rows]

            i = input_gate(x, h_prev, *weights(0))
            f = forget_gate(x, h_prev, *weights(1))
            g = candidate(x, h_prev, *weights(2))
            o = output_gate(x, h_prev, *weights(3))
            c = cell_state(f, c_prev, i, g)
            h = hidden_state(o, c)
            return h, c, (i, f, g, o)
    '''))], fails="test_lstm_step", about="per-gate W built as [W_ih | W_hh]; the gates expect [W_hh | W_ih] (h first)"),
    # different --------------------------------------------------------------------------
    _e("sigmoid-via-tanh", "different", "01_gates", [("sigmoid", None, _code('''
        def sigmoid(z):
            """σ(z) for an array z of any shape, without overflow for any finite z."""
            # σ(z) = (1 + tanh(z/2)) / 2, and np.tanh never overflows
            return 0.5 * (1.0 + np.tanh(0.5 * z))
    '''))]),
    _e("sigmoid-clipped-where", "different", "01_gates", [("sigmoid", None, _code('''
        def sigmoid(z):
            """σ(z) for an array z of any shape, without overflow for any finite z."""
            zc = np.clip(z, -500, 500)  # keeps np.exp finite in both branches
            return np.where(zc >= 0, 1 / (1 + np.exp(-zc)), np.exp(zc) / (1 + np.exp(zc)))
    '''))]),
    _e("gates-hstack-einsum", "different", "01_gates", [
        ("forget_gate", None, _code('''
            def forget_gate(x, h_prev, W_f, b_f):
                """f_t, shape (N, H)."""
                hx = np.hstack([h_prev, x])  # (N, H + D)
                return sigmoid(hx @ W_f.T + b_f)
        ''')),
        ("input_gate", None, _code('''
            def input_gate(x, h_prev, W_i, b_i):
                """i_t, shape (N, H)."""
                hx = np.concatenate((h_prev, x), axis=-1)
                return sigmoid(np.einsum("nk,hk->nh", hx, W_i) + b_i)
        ''')),
    ]),
    _e("gates-split-and-transposed", "different", "01_gates", [
        ("candidate", None, _code('''
            def candidate(x, h_prev, W_g, b_g):
                """g_t (the seeds' C̃_t), shape (N, H)."""
                H = h_prev.shape[1]
                # W_g = [W_gh | W_gx]: the first H columns act on h_{t-1}, the others on x_t
                return np.tanh(h_prev @ W_g[:, :H].T + x @ W_g[:, H:].T + b_g)
        ''')),
        ("output_gate", None, _code('''
            def output_gate(x, h_prev, W_o, b_o):
                """o_t, shape (N, H)."""
                v = np.concatenate([h_prev, x], axis=1)
                return sigmoid((W_o @ v.T).T + b_o)  # column-vector form, transposed back
        ''')),
    ]),
    _e("step-with-own-gate-functions", "different", "01_gates", [("lstm_step", None, _code('''
        def lstm_step(x, h_prev, c_prev, params):
            """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
            gates = {}
            for name, gate_fn in (("i", input_gate), ("f", forget_gate), ("g", candidate), ("o", output_gate)):
                W, b = params.gate(name)  # [W_hh | W_ih] rows of this gate, as in the cell above
                gates[name] = gate_fn(x, h_prev, W, b)
            c = cell_state(gates["f"], c_prev, gates["i"], gates["g"])
            h = hidden_state(gates["o"], c)
            return h, c, gates
    '''))]),
    _e("step-np-split", "different", "01_gates", [("lstm_step", None, _code('''
        def lstm_step(x, h_prev, c_prev, params):
            """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
            a = np.dot(x, params.W_ih.T) + np.dot(h_prev, params.W_hh.T) + params.b
            i, f, g, o = np.split(a, 4, axis=1)  # PyTorch's order
            i, f, o = (sigmoid(v) for v in (i, f, o))
            g = np.tanh(g)
            c = f * c_prev + i * g
            h = o * np.tanh(c)
            return h, c, dict(i=i, f=f, g=g, o=o, c=c)
    '''))]),
    # sloppy -----------------------------------------------------------------------------
    _e("debug-prints-in-gates", "sloppy", "01_gates", [
        ("forget_gate", None, _code('''
            def forget_gate(x, h_prev, W_f, b_f):
                """f_t, shape (N, H)."""
                hx = np.concatenate([h_prev, x], axis=1)
                print("forget_gate: hx", hx.shape, "W_f", W_f.shape)
                f = sigmoid(hx @ W_f.T + b_f)
                print("  f in", f.min(), f.max())
                return f
        ''')),
        ("lstm_step", "    i = sigmoid(a[:, :H])", "    print('lstm_step: a', a.shape, 'H =', H)  # DEBUG\n    i = sigmoid(a[:, :H])"),
    ]),
    _e("textbook-sigmoid-inside-step", "sloppy", "01_gates", [("lstm_step", None, _STEP_INLINE_SIGMOID)]),
    _e("seterr-raise-cell", "sloppy", "01_gates",
       extra=[("setup", "np.seterr(all=\"raise\")  # stop at the first NaN instead of carrying on", "code")]),
    _e("magics-notes-unused-imports", "sloppy", "01_gates", extra=[
        ("setup", "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport math, os, sys, time  # might need these later", "code"),
        ("test_sigmoid", "**Note to self:** the first version, `1/(1+np.exp(-z))`, warned at z = -1000. "
                         "`exp(-|z|)` fixed it.", "markdown"),
        ("test_lstm_step", "z = np.linspace(-6, 6, 200)\nplt.plot(z, sigmoid(z), label='σ')\nplt.plot(z, np.tanh(z), label='tanh')\nplt.legend()", "code"),
    ]),
]

# --- 02_sequences -------------------------------------------------------------------------
SEQUENCES = [
    # wrong ------------------------------------------------------------------------------
    _e("forward-cell-state-discarded", "wrong", "02_sequences", [("lstm_forward", None, _code('''
        def _cell(x_t, h_prev, c_prev, params):
            """One step, as in assignment 1."""
            H = h_prev.shape[1]
            a = x_t @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
            i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
            g = np.tanh(a[:, 2 * H:3 * H])
            c = f * c_prev + i * g
            return o * np.tanh(c), c


        def lstm_forward(x, params, h0=None, c0=None):
            """Run the LSTM over x (T, N, D); returns (hs, (h_T, c_T), cache)."""
            T, N, _ = x.shape
            H = params.W_hh.shape[1]
            h = np.zeros((N, H)) if h0 is None else h0
            c = np.zeros((N, H)) if c0 is None else c0
            hs = []
            for t in range(T):
                h, _ = _cell(x[t], h, c, params)  # only h is needed for the output
                hs.append(h)
            return np.stack(hs), (h, c), None
    '''))], fails="test_lstm_forward", about="c never carried forward: every step starts from c0"),
    _e("forward-recurrence-reads-h0", "wrong", "02_sequences", [
        ("lstm_forward", "h = np.zeros((N, H), dtype=x.dtype) if h0 is None else h0",
         "h_prev = np.zeros((N, H), dtype=x.dtype) if h0 is None else h0"),
        ("lstm_forward", "a = ax[t] + h @ params.W_hh.T  # (N, 4H)", "a = ax[t] + h_prev @ params.W_hh.T  # (N, 4H), uses h_{t-1}"),
    ], fails="test_lstm_forward", about="h not carried forward: every step reads h0 instead of h_{t-1}"),
    _e("forward-hs-same-array", "wrong", "02_sequences", [("lstm_forward", None, _code('''
        def lstm_forward(x, params, h0=None, c0=None):
            """Run the LSTM over x (T, N, D); returns (hs, (h_T, c_T), cache)."""
            T, N, D = x.shape
            H = params.W_hh.shape[1]
            h = np.zeros((N, H)) if h0 is None else h0.copy()
            c = np.zeros((N, H)) if c0 is None else c0.copy()
            hs = []
            for t in range(T):
                a = x[t] @ params.W_ih.T + h @ params.W_hh.T + params.b
                i = sigmoid(a[:, :H])
                f = sigmoid(a[:, H:2*H])
                g = np.tanh(a[:, 2*H:3*H])
                o = sigmoid(a[:, 3*H:])
                c = f * c + i * g
                h[:] = o * np.tanh(c)  # update the state in place, no new array each step
                hs.append(h)
            return np.array(hs), (h, c), None
    '''))], fails="test_lstm_forward", about="hs holds the same array T times (h updated in place): every hs[t] is h_T"),
    _e("forward-updates-c0-in-place", "wrong", "02_sequences", [("lstm_forward", None, _code('''
        def lstm_forward(x, params, h0=None, c0=None):
            """Run the LSTM over x (T, N, D); returns (hs, (h_T, c_T), cache)."""
            T, N, D = x.shape
            H = params.W_hh.shape[1]
            h = np.zeros((N, H)) if h0 is None else h0
            c = np.zeros((N, H)) if c0 is None else c0
            ax = x @ params.W_ih.T + params.b
            hs = np.empty((T, N, H))
            for t in range(T):
                a = ax[t] + h @ params.W_hh.T
                i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H])
                g, o = np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:])
                c *= f      # forget part of the old memory (in place: no new array)
                c += i * g  # and write the new candidate
                h = o * np.tanh(c)
                hs[t] = h
            return hs, (h, c), None
    '''))], fails="test_lstm_forward", about="c0 modified in place: the caller's c0 is overwritten (c = c0; c *= f)"),
    _e("forward-hidden-size-from-x", "wrong", "02_sequences",
       [("lstm_forward", "T, N, D = x.shape\n    H = params.W_hh.shape[1]", "T, N, H = x.shape  # sizes")],
       fails="test_lstm_forward", about="H taken from x.shape (that is D); H = W_hh.shape[1] (shape error)"),
    _e("from-torch-reordered-gates", "wrong", "02_sequences", [("params_from_torch", None, _code('''
        def params_from_torch(lstm):
            """LSTMParams (NumPy) holding the weights of a one-layer torch.nn.LSTM."""
            def ours(w):
                # PyTorch stacks the gates as i, f, g, o; put them in our order i, f, o, g
                i, f, g, o = np.split(w.detach().numpy(), 4, axis=0)
                return np.concatenate([i, f, o, g], axis=0)

            b = lstm.bias_ih_l0 + lstm.bias_hh_l0
            return LSTMParams(ours(lstm.weight_ih_l0), ours(lstm.weight_hh_l0), ours(b))
    '''))], fails="test_params_from_torch", about="gate blocks reordered: both use i, f, g, o, copy as is"),
    _e("to-torch-sizes-swapped", "wrong", "02_sequences",
       [("params_to_torch", "lstm = torch.nn.LSTM(D, H, dtype=torch.float64)", "lstm = torch.nn.LSTM(H, D, dtype=torch.float64)")],
       fails="test_params_to_torch", about="nn.LSTM(input_size, hidden_size) arguments swapped (shape error in copy_)"),
    # different --------------------------------------------------------------------------
    _e("forward-lists-and-stack", "different", "02_sequences", [("lstm_forward", None, _code('''
        def lstm_forward(x, params, h0=None, c0=None):
            """Run the LSTM over x (T, N, D); returns (hs, (h_T, c_T), cache)."""
            W_ih, W_hh, b = params.W_ih, params.W_hh, params.b
            H = W_hh.shape[1]
            N = x.shape[1]
            h = np.zeros((N, H), dtype=x.dtype) if h0 is None else h0
            c = np.zeros_like(h) if c0 is None else c0
            outputs = []
            for x_t in x:  # walk over time
                a = x_t @ W_ih.T + h @ W_hh.T + b
                i, f, g, o = np.split(a, 4, axis=1)
                i, f, o = sigmoid(i), sigmoid(f), sigmoid(o)
                c = f * c + i * np.tanh(g)
                h = o * np.tanh(c)
                outputs.append(h)
            return np.stack(outputs), (h, c), None
    '''))]),
    _e("forward-per-gate-products", "different", "02_sequences", [("lstm_forward", None, _code('''
        def lstm_forward(x, params, h0=None, c0=None):
            """Run the LSTM over x (T, N, D); returns (hs, (h_T, c_T), cache)."""
            T, N, D = x.shape
            H = params.W_hh.shape[1]
            h = np.zeros((N, H)) if h0 is None else h0.copy()
            c = np.zeros((N, H)) if c0 is None else c0.copy()
            hs = np.zeros((T, N, H))
            activations = [sigmoid, sigmoid, np.tanh, sigmoid]  # i, f, g, o
            for t in range(T):
                gates = []
                for k, act in enumerate(activations):
                    rows = slice(k * H, (k + 1) * H)
                    gates.append(act(x[t] @ params.W_ih[rows].T + h @ params.W_hh[rows].T + params.b[rows]))
                i, f, g, o = gates
                c = f * c + i * g
                h = o * np.tanh(c)
                hs[t, :, :] = h
            return hs, (h, c), None
    '''))]),
    _e("porting-state-dict-half-biases", "different", "02_sequences", [
        ("params_from_torch", None, _code('''
            def params_from_torch(lstm):
                """LSTMParams (NumPy) holding the weights of a one-layer torch.nn.LSTM."""
                sd = lstm.state_dict()  # detached tensors
                W_ih = sd["weight_ih_l0"].cpu().numpy().copy()
                W_hh = sd["weight_hh_l0"].cpu().numpy().copy()
                b = np.add(sd["bias_ih_l0"].cpu().numpy(), sd["bias_hh_l0"].cpu().numpy())
                return LSTMParams(W_ih=W_ih, W_hh=W_hh, b=b)
        ''')),
        ("params_to_torch", None, _code('''
            def params_to_torch(params):
                """A float64 torch.nn.LSTM with the weights of params."""
                D, H = params.W_ih.shape[1], params.W_hh.shape[1]
                lstm = torch.nn.LSTM(input_size=D, hidden_size=H, dtype=torch.float64)
                half = torch.tensor(params.b / 2)  # nn.LSTM adds the two biases: give each one half
                with torch.no_grad():
                    lstm.weight_ih_l0.copy_(torch.tensor(params.W_ih))
                    lstm.weight_hh_l0.copy_(torch.tensor(params.W_hh))
                    lstm.bias_ih_l0.copy_(half)
                    lstm.bias_hh_l0.copy_(half)
                return lstm
        ''')),
    ]),
    # sloppy -----------------------------------------------------------------------------
    _e("forward-logging-and-stderr", "sloppy", "02_sequences", [
        ("lstm_forward", "def lstm_forward(", "import logging\nimport sys\n\n\ndef lstm_forward("),
        ("lstm_forward", "    H = params.W_hh.shape[1]\n",
         "    H = params.W_hh.shape[1]\n    print(f'lstm_forward: T={T} N={N} D={D} H={H}', file=sys.stderr)\n"
         "    if h0 is None:\n        logging.warning('lstm_forward: no initial state, starting from zeros')\n"),
    ]),
    _e("default-dtype-float32-cell", "sloppy", "02_sequences",
       extra=[("setup", "# the lecture notebook said float32 is faster\ntorch.set_default_dtype(torch.float32)", "code")]),
    _e("seed-and-scratch-nameerror", "sloppy", "02_sequences", extra=[
        ("test_lstm_forward", "np.random.seed(0)\nx_try = np.random.randn(5, 2, 3)", "code"),
        ("test_lstm_forward", "# quick look with my own weights\nhs, (h_T, c_T), _ = lstm_forward(x_try, my_params)\nhs.shape", "code"),
        ("test_lstm_forward", "TODO: ask in the forum whether `cache` is needed here", "markdown"),
    ]),
    _e("porting-warning-and-probe-cell", "sloppy", "02_sequences", [
        ("params_from_torch", "def params_from_torch(", "import warnings\n\n\ndef params_from_torch("),
        ("params_from_torch", "    b = (lstm.bias_ih_l0", "    warnings.warn('nn.LSTM has two biases; summing them into b')\n    b = (lstm.bias_ih_l0"),
    ], extra=[("params_from_torch",
               "lstm_probe = torch.nn.LSTM(3, 5)\n{name: tuple(p.shape) for name, p in lstm_probe.named_parameters()}", "code")]),
]

# --- 03_bptt ------------------------------------------------------------------------------
# A CS231n-style step backward, correct; the wrong entries below are variants of it.
_STEP_BWD = _code('''
    def lstm_step_backward(dh, dc, cache):
        """Backward pass of one LSTM step: returns (dx, dh_prev, dc_prev, grads)."""
        x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
        # output gate
        do = dh * tanh_c
        # gradient reaching c_t: from the next step and through h_t = o * tanh(c_t)
        dc_t = dc + dh * o * (1 - tanh_c ** 2)
        di = dc_t * g
        df = dc_t * c_prev
        dg = dc_t * i
        dc_prev = dc_t * f
        # back through the nonlinearities
        da_i = di * i * (1 - i)
        da_f = df * f * (1 - f)
        da_g = dg * (1 - g ** 2)
        da_o = do * o * (1 - o)
        da = np.hstack([da_i, da_f, da_g, da_o])  # (N, 4H), order i, f, g, o
        dx = np.dot(da, params.W_ih)
        dh_prev = np.dot(da, params.W_hh)
        grads = LSTMParams((x.T @ da).T, (h_prev.T @ da).T, np.sum(da, axis=0))
        return dx, dh_prev, dc_prev, grads
''')

# A full BPTT without lstm_step_backward, correct; a wrong entry is a variant of it.
_INLINE_BWD = _code('''
    def lstm_backward(dhs, cache, dh_T=None, dc_T=None):
        """BPTT over a sequence: returns (dx, dh0, dc0, grads), grads summed over time."""
        T, N, D = cache.x.shape
        H = cache.h0.shape[1]
        W_ih, W_hh, b = cache.params
        dx = np.zeros_like(cache.x)
        dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b)
        dh_next = np.zeros((N, H)) if dh_T is None else dh_T
        dc_next = np.zeros((N, H)) if dc_T is None else dc_T
        for t in reversed(range(T)):
            i, f, g, o = np.split(cache.gates[t], 4, axis=1)
            h_prev = cache.hs[t - 1] if t > 0 else cache.h0
            c_prev = cache.cs[t - 1] if t > 0 else cache.c0
            tanh_c = cache.tanh_cs[t]
            dh = dhs[t] + dh_next
            do = dh * tanh_c
            dc = dc_next + dh * o * (1 - tanh_c ** 2)
            da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                 dc * i * (1 - g ** 2), do * o * (1 - o)], axis=1)
            dx[t] = da @ W_ih
            dW_ih += da.T @ cache.x[t]
            dW_hh += da.T @ h_prev
            db += da.sum(axis=0)
            dh_next = da @ W_hh
            dc_next = dc * f
        return dx, dh_next, dc_next, LSTMParams(dW_ih, dW_hh, db)
''')

_BOTH = "test_lstm_step_backward test_lstm_backward"

BPTT = [
    # wrong ------------------------------------------------------------------------------
    _e("bwd-no-tanh-prime-on-g", "wrong", "03_bptt",
       [("lstm_step_backward", None, _sub(_STEP_BWD, "da_g = dg * (1 - g ** 2)", "da_g = dg  # candidate"))],
       fails=_BOTH, about="tanh' missing on dg: da_g = dg ⊙ (1 − g²)"),
    _e("bwd-sigma-prime-of-preact", "wrong", "03_bptt", [("lstm_step_backward", None, _code('''
        def lstm_step_backward(dh, dc, cache):
            """Backward pass of one LSTM step: returns (dx, dh_prev, dc_prev, grads)."""
            x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
            # pre-activations of the step, (N, 4H)
            a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
            a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
            do = dh * tanh_c
            dc_t = dc + dh * o * (1 - tanh_c ** 2)
            di, df, dg = dc_t * g, dc_t * c_prev, dc_t * i
            dc_prev = dc_t * f
            # σ'(a) = a(1 - a), tanh'(a) = 1 - a²
            da = np.concatenate([di * a_i * (1 - a_i), df * a_f * (1 - a_f),
                                 dg * (1 - a_g ** 2), do * a_o * (1 - a_o)], axis=1)
            grads = LSTMParams(da.T @ x, da.T @ h_prev, da.sum(axis=0))
            return da @ params.W_ih, da @ params.W_hh, dc_prev, grads
    '''))], fails=_BOTH, about="σ' and tanh' evaluated on the pre-activation; use the gate values: i(1−i), 1−g²"),
    _e("bwd-dc-prev-without-f", "wrong", "03_bptt",
       [("lstm_step_backward", None, _sub(_STEP_BWD, "dc_prev = dc_t * f", "dc_prev = dc_t  # the cell path is additive"))],
       fails=_BOTH, about="dc_prev misses the forget gate: dc_prev = dc ⊙ f"),
    _e("bwd-dc-in-place", "wrong", "03_bptt", [("lstm_step_backward", None, _code('''
        def lstm_step_backward(dh, dc, cache):
            """Backward pass of one LSTM step: returns (dx, dh_prev, dc_prev, grads)."""
            x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
            do = dh * tanh_c
            dc += dh * o * (1 - tanh_c ** 2)  # total gradient on c_t
            di, df, dg = dc * g, dc * c_prev, dc * i
            dc_prev = dc * f
            da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
            grads = LSTMParams(da.T @ x, da.T @ h_prev, da.sum(axis=0))
            return da @ params.W_ih, da @ params.W_hh, dc_prev, grads
    '''))], fails=_BOTH, about="dc += ... overwrites the caller's dc (and lstm_backward's dc_T) in place"),
    _e("backward-dW-hh-from-h-t", "wrong", "03_bptt",
       [("lstm_backward", None, _sub(_INLINE_BWD, "dW_hh += da.T @ h_prev", "dW_hh += da.T @ cache.hs[t]  # this step's hidden state"))],
       fails="test_lstm_backward", about="dW_hh uses h_t; it is daᵀ h_{t-1}"),
    _e("backward-walks-forward-in-time", "wrong", "03_bptt",
       [("lstm_backward", "for t in reversed(range(T)):", "for t in range(T):")],
       fails="test_lstm_backward", about="time order: walk t = T .. 1 (reversed)"),
    _e("bptt-t0-wraps-to-h-T", "wrong", "03_bptt",
       [("lstm_backward", "h_prev = cache.hs[t - 1] if t > 0 else cache.h0\n        c_prev = cache.cs[t - 1] if t > 0 else cache.c0",
         "h_prev, c_prev = cache.hs[t - 1], cache.cs[t - 1]  # the previous step's states")],
       fails="test_lstm_backward", about="at t = 0 the previous states are h0, c0 (hs[-1] wraps to h_T)"),
    _e("numgrad-rebinds-x", "wrong", "03_bptt", [("numerical_gradient", None, _code('''
        def numerical_gradient(f, x, h=1e-6):
            """Centred-difference gradient of f() with respect to x (same shape as x)."""
            grad = np.zeros_like(x)
            for k in np.ndindex(x.shape):
                e = np.zeros_like(x)
                e[k] = 1.0
                x = x + h * e  # x + h e_k
                f_plus = f()
                x = x - 2 * h * e  # x - h e_k
                f_minus = f()
                x = x + h * e
                grad[k] = (f_plus - f_minus) / (2 * h)
            return grad
    '''))], fails="test_numerical_gradient", about="x rebound to a new array: f reads the original x, so change x[k] in place (all zeros)"),
    _e("numgrad-minus-two-h", "wrong", "03_bptt",
       [("numerical_gradient", "x[k] = old - h", "x[k] = old - 2 * h  # then step back by 2h")],
       fails="test_numerical_gradient", about="second point is x − 2h, not x − h (step)"),
    _e("numgrad-forward-difference-f0", "wrong", "03_bptt", [("numerical_gradient", None, _code('''
        def numerical_gradient(f, x, h=1e-6):
            """Centred-difference gradient of f() with respect to x (same shape as x)."""
            fx = f()  # the value at x, computed once
            grad = np.zeros_like(x)
            for k in np.ndindex(x.shape):
                old = x[k]
                x[k] = old + h
                grad[k] = (f() - fx) / h
                x[k] = old
            return grad
    '''))], fails="test_numerical_gradient", about="forward difference; use the centred (f(x+h) − f(x−h)) / 2h"),
    # different --------------------------------------------------------------------------
    _e("step-backward-cs231n-style", "different", "03_bptt", [("lstm_step_backward", None, _STEP_BWD)]),
    _e("bptt-recomputes-lstm-step", "different", "03_bptt", [("lstm_backward", None, _code('''
        def lstm_backward(dhs, cache, dh_T=None, dc_T=None):
            """BPTT over a sequence: returns (dx, dh0, dc0, grads), grads summed over time."""
            T = dhs.shape[0]
            params = cache.params
            dh_next = np.zeros_like(cache.h0) if dh_T is None else dh_T
            dc_next = np.zeros_like(cache.c0) if dc_T is None else dc_T
            dx = np.zeros_like(cache.x)
            total = None
            for t in range(T - 1, -1, -1):
                h_prev = cache.h0 if t == 0 else cache.hs[t - 1]
                c_prev = cache.c0 if t == 0 else cache.cs[t - 1]
                # step t's cache, recomputed with the forward step imported in the setup cell
                _, _, step_cache = lstm_step(cache.x[t], h_prev, c_prev, params)
                dx[t], dh_next, dc_next, g = lstm_step_backward(dhs[t] + dh_next, dc_next, step_cache)
                total = g if total is None else LSTMParams(total.W_ih + g.W_ih, total.W_hh + g.W_hh, total.b + g.b)
            return dx, dh_next, dc_next, total
    '''))]),
    _e("backward-inline-accumulate", "different", "03_bptt", [("lstm_backward", None, _INLINE_BWD)]),
    _e("numgrad-plus-minus-restore", "different", "03_bptt", [("numerical_gradient", None, _code('''
        def numerical_gradient(f, x, h=1e-6):
            """Centred-difference gradient of f() with respect to x (same shape as x)."""
            grad = np.zeros_like(x)
            for k in np.ndindex(x.shape):
                x[k] += h
                f_plus = f()
                x[k] -= 2 * h
                f_minus = f()
                x[k] += h  # back to where it was
                grad[k] = (f_plus - f_minus) / (2 * h)
            return grad
    '''))]),
    _e("numgrad-nditer", "different", "03_bptt", [("numerical_gradient", None, _code('''
        def numerical_gradient(f, x, h=1e-6):
            """Centred-difference gradient of f() with respect to x (same shape as x)."""
            grad = np.empty_like(x)
            it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
            while not it.finished:
                idx = it.multi_index
                saved = float(x[idx])
                x[idx] = saved + h
                fp = f()
                x[idx] = saved - h
                fm = f()
                x[idx] = saved
                grad[idx] = (fp - fm) / (2 * h)
                it.iternext()
            return grad
    '''))]),
    # sloppy -----------------------------------------------------------------------------
    _e("backward-debug-prints", "sloppy", "03_bptt", [
        ("lstm_backward", "        grads = LSTMParams(*(a + b for a, b in zip(grads, step_grads)))",
         "        print(f't={t}: |dh_next| = {np.abs(dh_next).max():.3g}, |dc_next| = {np.abs(dc_next).max():.3g}')\n"
         "        grads = LSTMParams(*(a + b for a, b in zip(grads, step_grads)))"),
    ]),
    _e("warnings-as-errors-cell", "sloppy", "03_bptt",
       extra=[("setup", "import warnings\nwarnings.filterwarnings(\"error\")  # I want to see every problem", "code")]),
    _e("numgrad-progress-and-logging", "sloppy", "03_bptt", [("numerical_gradient", None, _code('''
        import logging
        import sys

        log = logging.getLogger("gradcheck")


        def numerical_gradient(f, x, h=1e-6):
            """Centred-difference gradient of f() with respect to x (same shape as x)."""
            grad = np.zeros_like(x)
            for j, k in enumerate(np.ndindex(x.shape)):
                old = x[k]
                x[k] = old + h
                f_plus = f()
                x[k] = old - h
                f_minus = f()
                x[k] = old
                grad[k] = (f_plus - f_minus) / (2 * h)
                if j % 10 == 0:
                    print(f"entry {j}/{x.size}", file=sys.stderr)
            log.warning("numerical gradient: %d evaluations of f", 2 * x.size)
            return grad
    '''))]),
    _e("autoreload-notes-imports", "sloppy", "03_bptt", extra=[
        ("setup", "%load_ext autoreload\n%autoreload 2\nimport itertools, math, time\nfrom pprint import pprint", "code"),
        ("test_lstm_backward", "### my notes\n- dc_prev = dc * f: the forget gate scales the gradient\n- sum the grads over t!", "markdown"),
    ]),
]

# --- 04_pytorch ---------------------------------------------------------------------------
_CELL_KEY_FORWARD = _code('''
        def forward(self, x, state=None):
            if state is None:
                zeros = x.new_zeros(x.shape[0], self.weight_hh.shape[1])
                state = (zeros, zeros)
            params = LSTMParams(self.weight_ih, self.weight_hh, self.bias_ih + self.bias_hh)
            h, c, _ = lstm_step(x, *state, params)
            return h, c
''')
_STEP_ALL = "test_lstm_step test_lstm_step_autograd test_lstm_cell"

PYTORCH = [
    # wrong ------------------------------------------------------------------------------
    _e("torch-step-zeros-no-device", "wrong", "04_pytorch", [("lstm_step", None, _code('''
        def lstm_step(x, h_prev, c_prev, params):
            """One LSTM step on tensors: returns (h, c, cache)."""
            N, H = h_prev.shape
            a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b  # (N, 4H)
            i, f, g, o = a.chunk(4, dim=1)
            c = torch.zeros(N, H)  # start the new cell from zeros
            c = c + torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            return h, c, None
    '''))], fails="test_lstm_step_device", about="torch.zeros(N, H) made on the default device: take it from the inputs"),
    _e("torch-step-o-reads-g-block", "wrong", "04_pytorch", [("lstm_step", None, _code('''
        def lstm_step(x, h_prev, c_prev, params):
            """One LSTM step on tensors: returns (h, c, cache)."""
            H = h_prev.shape[1]
            a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b  # (N, 4H)
            i = torch.sigmoid(a[:, :H])
            f = torch.sigmoid(a[:, H:2 * H])
            g = torch.tanh(a[:, 2 * H:3 * H])
            o = torch.sigmoid(a[:, 2 * H:3 * H])
            c = f * c_prev + i * g
            h = o * torch.tanh(c)
            return h, c, None
    '''))], fails=_STEP_ALL, about="o sliced from the g block (2H:3H); o is 3H:4H"),
    _e("cell-weights-plain-tensors", "wrong", "04_pytorch", [("lstm_cell", None, _code('''
        class LSTMCell(nn.Module):
            """A drop-in for torch.nn.LSTMCell, written with the step above."""

            def __init__(self, input_size, hidden_size):
                super().__init__()
                D, H = input_size, hidden_size
                k = 1.0 / H**0.5
                self.weight_ih = (torch.rand(4 * H, D) * 2 * k - k).requires_grad_()
                self.weight_hh = (torch.rand(4 * H, H) * 2 * k - k).requires_grad_()
                self.bias_ih = (torch.rand(4 * H) * 2 * k - k).requires_grad_()
                self.bias_hh = (torch.rand(4 * H) * 2 * k - k).requires_grad_()

    ''') + "\n" + textwrap.indent(_CELL_KEY_FORWARD, "    "))],
       fails="test_lstm_cell test_memory_task", about="weights are plain tensors, not nn.Parameter: not registered, not trained"),
    _e("cell-state-none-unhandled", "wrong", "04_pytorch",
       [("lstm_cell", "        if state is None:\n            zeros = x.new_zeros(x.shape[0], self.weight_hh.shape[1])\n"
                      "            state = (zeros, zeros)\n", "")],
       fails="test_lstm_cell test_memory_task", about="state=None not handled: start from zeros"),
    _e("cell-zero-state-default-dtype", "wrong", "04_pytorch",
       [("lstm_cell", "zeros = x.new_zeros(x.shape[0], self.weight_hh.shape[1])",
         "zeros = torch.zeros(x.shape[0], self.weight_hh.shape[1])")],
       fails="test_lstm_cell", about="zero state made with the default dtype/device, not x's"),
    _e("cell-weights-in-out-layout", "wrong", "04_pytorch", [("lstm_cell", None, _code('''
        class LSTMCell(nn.Module):
            """A drop-in for torch.nn.LSTMCell, written with the step above."""

            def __init__(self, input_size, hidden_size):
                super().__init__()
                k = 1.0 / hidden_size**0.5
                # (in, out) layout, so that the product is x @ W
                self.weight_ih = nn.Parameter(torch.empty(input_size, 4 * hidden_size).uniform_(-k, k))
                self.weight_hh = nn.Parameter(torch.empty(hidden_size, 4 * hidden_size).uniform_(-k, k))
                self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))
                self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k))

            def forward(self, x, state=None):
                if state is None:
                    zeros = x.new_zeros(x.shape[0], self.weight_hh.shape[0])
                    state = (zeros, zeros)
                params = LSTMParams(self.weight_ih.T, self.weight_hh.T, self.bias_ih + self.bias_hh)
                h, c, _ = lstm_step(x, *state, params)
                return h, c
    '''))], fails="test_lstm_cell", about="weight_ih (D, 4H): nn.LSTMCell's layout is (4H, D), (4H, H)"),
    _e("train-without-zero-grad", "wrong", "04_pytorch",
       [("train", "        optimizer.zero_grad()\n", "")],
       fails="test_memory_task", about="optimizer.zero_grad() missing: gradients accumulate over steps"),
    _e("train-one-fixed-batch", "wrong", "04_pytorch", [("train", None, _code('''
        def train(model, steps=150, lr=0.01):
            """Train model on the memory task; returns the list of losses."""
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            x, y = grading.memory_task(20, 64, seed=0, device=device)  # the training data
            losses = []
            for step in range(steps):
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            return losses
    '''))], fails="test_memory_task", about="one batch reused every step: a fresh batch per step (seed=step)"),
    _e("train-ignores-lr", "wrong", "04_pytorch",
       [("train", "torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.Adam(model.parameters())")],
       fails="test_memory_task", about="lr argument ignored (Adam's default 1e-3)"),
    _e("train-ignores-steps", "wrong", "04_pytorch",
       [("train", "for step in range(steps):", "for step in range(150):")],
       fails="test_memory_task", about="steps argument ignored (150 hard-coded)"),
    _e("grad-norms-squared", "wrong", "04_pytorch",
       [("hidden_grad_norms", "return torch.stack([g.norm() for g in grads])",
         "return torch.stack([(g ** 2).sum() for g in grads])  # ‖g‖²")],
       fails="test_hidden_grad_norms", about="squared norms: ‖g‖ = sqrt(Σ g²)"),
    # different --------------------------------------------------------------------------
    _e("torch-step-split-linear", "different", "04_pytorch", [("lstm_step", None, _code('''
        import torch.nn.functional as F


        def lstm_step(x, h_prev, c_prev, params):
            """One LSTM step on tensors: returns (h, c, cache)."""
            H = h_prev.shape[-1]
            gates = F.linear(x, params.W_ih, params.b) + F.linear(h_prev, params.W_hh)
            i, f, g, o = torch.split(gates, H, dim=1)
            i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
            c = f * c_prev + i * torch.tanh(g)
            h = o * c.tanh()
            return h, c, (i, f, g, o)
    '''))]),
    _e("torch-step-masked-sigmoid", "different", "04_pytorch", [("lstm_step", None, _code('''
        def _sigmoid(z):
            """The stable σ of assignment 1, with boolean masks."""
            out = torch.empty_like(z)
            pos = z >= 0
            neg = ~pos
            out[pos] = 1 / (1 + torch.exp(-z[pos]))
            e = torch.exp(z[neg])
            out[neg] = e / (1 + e)
            return out


        def lstm_step(x, h_prev, c_prev, params):
            """One LSTM step on tensors: returns (h, c, cache)."""
            a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
            i, f, g, o = a.chunk(4, dim=1)
            c = _sigmoid(f) * c_prev + _sigmoid(i) * torch.tanh(g)
            h = _sigmoid(o) * torch.tanh(c)
            return h, c, None
    '''))]),
    _e("torch-step-item-range-check", "different", "04_pytorch",
       [("lstm_step", "    return h, c, None",
         "    # sanity check while debugging: |h| <= 1 always\n    if h.abs().max().item() > 1.0:\n"
         "        raise ValueError('h out of range')\n    return h, c, None")]),
    _e("torch-step-assert-finite", "different", "04_pytorch",
       [("lstm_step", "    return h, c, None", "    assert torch.isfinite(h).all(), \"h has NaN or inf\"\n    return h, c, None")]),
    _e("cell-reset-parameters", "different", "04_pytorch", [("lstm_cell", None, _code('''
        import math


        class LSTMCell(nn.Module):
            """A drop-in for torch.nn.LSTMCell, written with the step above."""

            def __init__(self, input_size, hidden_size):
                super().__init__()
                self.input_size, self.hidden_size = input_size, hidden_size
                self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
                self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
                self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
                self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
                self.reset_parameters()

            def reset_parameters(self):
                bound = 1.0 / math.sqrt(self.hidden_size)
                for p in self.parameters():
                    nn.init.uniform_(p, -bound, bound)

            def forward(self, x, state=None):
                if state is None:
                    h = c = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
                else:
                    h, c = state
                weights = LSTMParams(self.weight_ih, self.weight_hh, self.bias_ih + self.bias_hh)
                h, c, _ = lstm_step(x, h, c, weights)
                return h, c
    '''))]),
    _e("train-loss-module-zero-grad", "different", "04_pytorch", [("train", None, _code('''
        def train(model, steps=150, lr=0.01):
            """Train model on the memory task; returns the list of losses."""
            criterion = nn.CrossEntropyLoss()
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            history = []
            for step in range(steps):
                inputs, labels = grading.memory_task(T=20, N=64, seed=step, device=device)
                model.zero_grad()
                loss = criterion(model(inputs), labels)
                loss.backward()
                opt.step()
                history.append(float(loss))
            return history
    '''))]),
    _e("grad-norms-loop-vector-norm", "different", "04_pytorch", [("hidden_grad_norms", None, _code('''
        def hidden_grad_norms(loss, hs):
            """(T,) tensor of the norms of d loss / d h_t."""
            norms = []
            for h in hs:
                (g,) = torch.autograd.grad(loss, h, retain_graph=True)
                norms.append(torch.linalg.vector_norm(g))
            return torch.stack(norms)
    '''))]),
    # sloppy -----------------------------------------------------------------------------
    _e("grad-disabled-after-evaluation", "sloppy", "04_pytorch", extra=[("test_memory_task", _code('''
        # how good is it on fresh data?
        torch.set_grad_enabled(False)
        x_eval, y_eval = grading.memory_task(20, 256, seed=999)
        accuracy = (model(x_eval).argmax(1) == y_eval).float().mean()
        print("accuracy", accuracy.item())
    '''), "code")]),
    _e("torch-leftover-setting-cells", "sloppy", "04_pytorch", extra=[
        ("setup", "%matplotlib inline\nimport numpy as np  # not used in the end\ntorch.set_num_threads(1)\n"
                  "torch.set_default_dtype(torch.float32)", "code"),
        ("lstm_cell", "Both biases are added, like `nn.LSTMCell` (see the docs).", "markdown"),
    ]),
    _e("torch-prints-logging-warnings", "sloppy", "04_pytorch", [
        ("lstm_cell", "        D, H = input_size, hidden_size\n",
         "        D, H = input_size, hidden_size\n        print(f'LSTMCell({D}, {H})')\n"),
        ("train", "def train(", "import logging\nimport sys\nimport warnings\n\n\ndef train("),
        ("train", "    losses = []\n",
         "    losses = []\n    if lr > 0.005:\n        warnings.warn(f'lr = {lr} is on the large side')\n"),
        ("train", "        losses.append(loss.item())\n",
         "        losses.append(loss.item())\n        if step % 50 == 0:\n"
         "            print(f'step {step}: loss {loss.item():.4f}')\n"
         "            print(f'step {step}: loss {loss.item():.4f}', file=sys.stderr)\n"),
        ("train", "    return losses", "    logging.warning('final loss %.4f', losses[-1])\n    return losses"),
    ]),
    _e("seeds-and-scratch-nameerror", "sloppy", "04_pytorch", extra=[
        ("setup", "import numpy as np\nnp.random.seed(0)\ntorch.manual_seed(0)", "code"),
        ("lstm_step", "h, c, _ = lstm_step(x, h0, c0, params)  # try it\nh.shape", "code"),
    ]),
]

CORPUS: list[Entry] = GATES + SEQUENCES + BPTT + PYTORCH


def _check_corpus() -> None:
    names = [e.name for e in CORPUS]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate entry names: {sorted(dupes)}")
    for e in CORPUS:
        if len(e.name) > MAX_NAME or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", e.name, re.IGNORECASE):
            raise ValueError(f"{e.name}: names are kebab-case, at most {MAX_NAME} characters")
        if e.group not in ("wrong", "different", "sloppy"):
            raise ValueError(f"{e.name}: unknown group {e.group!r}")
        if not e.fails <= set(TESTS[e.assignment]):
            raise ValueError(f"{e.name}: unknown tests {sorted(e.fails - set(TESTS[e.assignment]))}")
        if (e.group == "wrong") != bool(e.fails) or (e.group == "wrong") != bool(e.about):
            raise ValueError(f"{e.name}: wrong entries (only) have fails and about")


_check_corpus()


# --- building the notebooks ----------------------------------------------------------------
def answers(entry: Entry, root: Path = ROOT) -> dict[str, str]:
    """``{grade_id: source}`` of the entry's answer cells: the key with the edits applied."""
    ans = submissions.key_answers(entry.assignment, NOTEBOOK[entry.assignment], root)
    for grade_id, old, new in entry.edits:
        if grade_id not in ans:
            raise ValueError(f"{entry.name}: {grade_id!r} is not an answer cell of {entry.assignment}")
        if old is None:
            ans = {**ans, grade_id: new}
        else:
            try:
                ans = submissions.mutate(ans, grade_id, old, new)
            except ValueError as err:
                raise ValueError(f"{entry.name}: {err}") from None
    return ans


def _new_cell(source: str, cell_type: str):
    return new_markdown_cell(source) if cell_type == "markdown" else new_code_cell(source)


def _insert_extras(nb, entry: Entry) -> None:
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    for after, source, cell_type in reversed(entry.extra_cells):  # reversed: several after one cell keep their order
        if after not in ids:
            raise ValueError(f"{entry.name}: no cell {after!r} to put a cell after")
        index = ids.index(after) + 1
        nb.cells.insert(index, _new_cell(source, cell_type))
        ids.insert(index, None)


def notebook(entry: Entry, root: Path = ROOT) -> nbformat.NotebookNode:
    """The release notebook filled in with the entry's answers and extra cells."""
    nb = submissions.submission(entry.assignment, NOTEBOOK[entry.assignment], answers(entry, root), root)
    _insert_extras(nb, entry)
    return nb


# --- running the tests in-process (no kernel) -----------------------------------------------
def _strip_magics(source: str) -> str:
    return "\n".join("pass  # " + ln if ln.lstrip().startswith("%") else ln for ln in source.splitlines())


@contextlib.contextmanager
def _isolated():
    """Undo what a notebook does to process-wide state (numpy errors, warnings, torch modes)."""
    import numpy as np
    import torch

    grad, dtype, threads = torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads()
    cwd = os.getcwd()
    with warnings.catch_warnings(), np.errstate(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        try:
            yield
        finally:
            torch.set_grad_enabled(grad)
            torch.set_default_dtype(dtype)
            torch.set_num_threads(threads)
            os.chdir(cwd)


def run_in_process(entry: Entry, skip: set[str] = SLOW, root: Path = ROOT) -> dict[str, str | None]:
    """Run the key notebook (hidden tests included) with the entry's answers and extra cells.

    Like ``tests/course_cases.run_in_process``, plus the learner's extra cells and the
    course's plain code cells (errors there are ignored, as nbgrader does); magics are
    skipped. Returns ``{test grade_id: None if it passed, else the error message}``.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    key = copy.deepcopy(nbformat.read(root / "solutions" / entry.assignment / f"{NOTEBOOK[entry.assignment]}.ipynb", 4))
    _insert_extras(key, entry)
    ans = answers(entry, root)
    namespace: dict = {"__name__": "__main__"}
    results: dict[str, str | None] = {}
    with _isolated():
        for cell in key.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if cell.cell_type != "code" or grade_id in skip:
                continue
            source = ans.get(grade_id, cell.source) if meta.get("solution") else cell.source
            try:
                exec(compile(_strip_magics(source), f"<{grade_id or 'cell'}>", "exec"), namespace)
            except Exception as err:  # noqa: BLE001 -- a failing cell is a result, as in nbgrader
                if meta.get("grade"):
                    results[grade_id] = f"{type(err).__name__}: {err}"
                continue
            if meta.get("grade"):
                results[grade_id] = None
    return {t: results.get(t, "not run") for t in TESTS[entry.assignment] if t not in skip}


def check_in_process(entries: list[Entry], skip: set[str] = SLOW) -> list[dict]:
    """Compare each entry's ``fails`` with what the current checks say, in-process."""
    rows = []
    for entry in entries:
        started = time.time()
        results = run_in_process(entry, skip)
        failing = {t for t, msg in results.items() if msg is not None}
        expected = {t for t in entry.fails if t in results}
        rows.append(dict(name=entry.name, group=entry.group, assignment=entry.assignment,
                         false_pass=sorted(expected - failing), false_fail=sorted(failing - expected),
                         messages={t: m for t, m in results.items() if m is not None},
                         seconds=round(time.time() - started, 1)))
    return rows


# --- grading end to end with python -m grader -----------------------------------------------
def write_course(dest: Path, entries: list[Entry], root: Path = ROOT) -> Path:
    """A temporary course at ``dest`` with every entry's notebook under submitted/."""
    import make_exercises

    course = make_exercises.temp_course(dest, root)
    for entry in entries:
        submissions.write(notebook(entry, root), course / "submitted", entry.name, entry.assignment, NOTEBOOK[entry.assignment])
    return course


def _cell_messages(path: Path) -> dict[str, str]:
    """``{test grade_id: text of its error outputs}`` of an autograded notebook."""
    if not path.exists():
        return {}
    nb = nbformat.read(path, as_version=4)
    found = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or not grade_id:
            continue
        parts = []
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                parts.append(" ".join(f"{out.ename}: {out.evalue}".split()))  # messages are wrapped for display
        found[grade_id] = "\n".join(parts)
    return found


def _statuses(log: str) -> dict[tuple[str, str], str]:
    """``{(student, assignment): status}`` from the "graded <student> <assignment>: x/y [status]" lines."""
    return {(m[1], m[2]): m[3] for m in re.finditer(r"^graded (\S+) (\S+): \S+ \[(\w+)\]$", log, re.MULTILINE)}


def read_results(course: Path, entries: list[Entry], log: str = "") -> list[dict]:
    """Per entry: the score of every test, the tests that lost points and their messages."""
    from nbgrader.api import Gradebook, MissingEntry

    statuses = _statuses(log)
    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for entry in entries:
            nb_name = NOTEBOOK[entry.assignment]
            row = dict(name=entry.name, group=entry.group, assignment=entry.assignment, fails=sorted(entry.fails),
                       about=entry.about, scores={}, failing=[], messages={}, graded=False,
                       status=statuses.get((entry.name, entry.assignment), "?"))
            try:
                sub = gb.find_submission(entry.assignment, entry.name)
            except MissingEntry:
                rows.append(row)
                continue
            for nb in sub.notebooks:
                if nb.name != nb_name:
                    continue
                for grade in nb.grades:
                    if grade.name in TESTS[entry.assignment]:
                        row["scores"][grade.name] = [grade.score, grade.max_score]
            row["graded"] = len(row["scores"]) == len(TESTS[entry.assignment])
            row["failing"] = sorted(t for t, (s, m) in row["scores"].items() if s is None or s < m)
            msgs = _cell_messages(course / "autograded" / entry.name / entry.assignment / f"{nb_name}.ipynb")
            row["messages"] = {t: msgs.get(t, "") for t in row["failing"]}
            rows.append(row)
    return rows


def _no_known_only(message: str) -> bool:
    """The message says no known mistake matches and points nowhere ("Where to look" lines localise)."""
    return NO_KNOWN in message and "Where to look" not in message


def summarize(rows: list[dict]) -> dict:
    false_passes, false_fails, no_known, ungraded = [], [], [], []
    for row in rows:
        if not row["graded"] or row.get("status") not in ("ok", "?"):
            ungraded.append(dict(name=row["name"], status=row.get("status"), test="-", message=""))
        if not row["graded"]:
            continue
        failing, expected = set(row["failing"]), set(row["fails"])
        for t in sorted(expected - failing):
            false_passes.append(dict(name=row["name"], assignment=row["assignment"], test=t, about=row["about"]))
        for t in sorted(failing - expected):
            false_fails.append(dict(name=row["name"], group=row["group"], assignment=row["assignment"], test=t,
                                    message=row["messages"].get(t, "")[:600]))
        if row["group"] == "wrong":
            for t in sorted(expected & failing):
                if _no_known_only(row["messages"].get(t, "")):
                    no_known.append(dict(name=row["name"], test=t, about=row["about"], message=row["messages"][t][:600]))
    counts = {}
    for row in rows:
        key = f"{row['group']}/{row['assignment']}"
        counts[key] = counts.get(key, 0) + 1
    return dict(entries=len(rows), counts=dict(sorted(counts.items())),
                false_passes=false_passes, false_fails=false_fails, no_known_mistake=no_known, ungraded=ungraded,
                totals=dict(false_passes=len(false_passes), false_fails=len(false_fails),
                            no_known_mistake=len(no_known), ungraded=len(ungraded)))


def grade(python: str, pythonpath: str | None, entries: list[Entry], jobs: int = 2, keep: Path | None = None,
          sandbox: bool = True) -> dict:
    """Grade ``entries`` with ``python -m grader grade`` in a temporary course; summarize."""
    tmp = Path(tempfile.mkdtemp(prefix="learner-corpus-")) if keep is None else keep
    course = write_course(tmp / "course" if keep is None else keep, entries)
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [python, "-m", "grader", "grade", "--jobs", str(jobs), "--no-export"]
    if not sandbox:
        cmd.append("--no-sandbox")
    started = time.time()
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
    (course / "grade.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    rows = read_results(course, entries, proc.stdout)
    result = summarize(rows)
    result.update(course=str(course), returncode=proc.returncode, seconds=round(time.time() - started),
                  command=" ".join(cmd), pythonpath=pythonpath, rows=rows)
    return result


def _select(only: str | None) -> list[Entry]:
    if not only:
        return list(CORPUS)
    wanted = set(only.split(","))
    chosen = [e for e in CORPUS if e.name in wanted or e.assignment in wanted or e.group in wanted]
    if not chosen:
        raise SystemExit(f"no entry matches {only!r}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="grade", choices=["grade", "check", "list"])
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs python -m grader")
    parser.add_argument("--pythonpath", default=str(ROOT), help="PYTHONPATH for the grader (the checkout to measure)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--only", help="comma-separated entry names, assignments or groups")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build the course here (kept) instead of a temporary folder")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--slow", action="store_true", help="check: also run the training cells")
    args = parser.parse_args(argv)
    entries = _select(args.only)
    if args.command == "list":
        for e in entries:
            print(f"{e.group:<10} {e.assignment:<13} {e.name:<42} {' '.join(sorted(e.fails))}")
        return 0
    if args.command == "check":
        rows = check_in_process(entries, set() if args.slow else SLOW)
        for row in rows:
            flag = "ok" if not (row["false_pass"] or row["false_fail"]) else "DIFFERS"
            print(f"{flag:<8} {row['name']:<42} false_pass={row['false_pass']} false_fail={row['false_fail']} ({row['seconds']} s)")
            for t, m in row["messages"].items():
                print(f"           {t}: {m[:400]!r}")
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    result = grade(args.python, args.pythonpath, entries, args.jobs, args.keep, not args.no_sandbox)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps({k: result[k] for k in ("entries", "counts", "totals", "returncode", "seconds", "course")}, indent=1))
    for kind in ("false_passes", "false_fails", "no_known_mistake", "ungraded"):
        for item in result[kind]:
            print(f"{kind}: {item['name']} {item['test']}: {item.get('message', item.get('about', ''))[:300]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
