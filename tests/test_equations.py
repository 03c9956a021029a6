"""The book's labelled equations and the code that implements them agree.

Four kinds of check, none of which needs a book build:

1. every display equation in ``book/**/*.md`` carries a label ``(eq:...)``;
2. every label cited in ``lstm_ref`` is defined exactly once in the book;
3. every label defined in the core chapters is either cited by ``lstm_ref`` or listed in
   ``DERIVATION_ONLY`` with the reason it has no implementation;
4. for each implemented label of the core chapters, a numeric test runs the code that cites
   it against the equation written out again here, independently (forward equations), or
   against centred finite differences of an independent forward pass (BPTT equations).
   Every such label must have a test in ``CHECKS``; a new label without one fails.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_ref import LSTMParams
from lstm_ref import numpy_lstm as nl
from lstm_ref import torch_lstm as tl

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CORE_CHAPTERS = ["intro", "notation", "rnn", "cell", "sequence", "bptt", "further_reading"]

#: Labels of the core chapters that no code implements, and why.
DERIVATION_ONLY = {
    "eq:cell-state-jacobian": "a local derivative used in the text; its consequence is eq:bptt-dc-prev",
    "eq:concat-split": "the identity W_f [h, x] = W_hf h + W_if x; LSTMParams.gate is tested in test_reference_*",
    "eq:rnn-jacobian-product": "a product of eq:rnn-jacobian factors; rnn.md checks it against autograd",
    "eq:rnn-bound": "an inequality (norm of a product), illustrated by measurement in rnn.md",
    "eq:rnn-spectral-radius": "Gelfand's formula, a mathematical fact quoted in rnn.md",
    "eq:clip-grad-norm": "torch.nn.utils.clip_grad_norm_ implements it; the course does not reimplement it",
    "eq:cec": "the design argument for the constant error carousel, no computation",
    "eq:bptt-loss": "defines the loss; any loss of this form is what lstm_backward's arguments encode",
    "eq:bptt-forward": "restates eq:fused-preactivation with names for the slices of a_t",
    "eq:bptt-chain-rule": "the chain rule on a graph; every eq:bptt-* equation is an instance",
    "eq:bptt-dc-unrolled": "a closed form of the eq:bptt-dc recursion; bptt.md checks it numerically",
    "eq:bptt-truncated": "the cut of truncated BPTT, done by calling lstm_backward per chunk in bptt.md",
}

LABEL = r"eq:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
#: Directives whose body is code, not Markdown; any other ``{directive}`` holds Markdown.
CODE_DIRECTIVES = {"{code-cell}", "{literalinclude}", "{code-block}", "{code}", "{sourcecode}"}


# --- parsing the book -------------------------------------------------------------------------
def book_files() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.md") if "_build" not in p.parts)


def display_equations(path: Path) -> list[tuple[int, str | None]]:
    """``(line, label or None)`` for every display equation of a MyST file.

    Math is looked for in Markdown, including inside directives such as admonitions, but
    not in code fences (code cells, literal includes, plain code). ``{math}`` directives
    count as display equations; their label is the ``:label:`` option.
    """
    found: list[tuple[int, str | None]] = []
    stack: list[tuple[int, str]] = []  # open fences: (backtick count, "code" | "math" | "markdown")
    lines = path.read_text(encoding="utf-8").split("\n")
    k = 0
    while k < len(lines):
        line = lines[k]
        fence = re.match(r"^\s*(`{3,}|~{3,})(.*)$", line)
        in_code = any(kind == "code" for _, kind in stack)
        if fence:
            n, info = len(fence.group(1)), fence.group(2).strip()
            directive = info.split()[0] if info else ""
            if not info and stack and n >= stack[-1][0]:
                stack.pop()  # a bare fence closes the innermost open one
            elif in_code:
                pass  # a fence-like line inside code is code
            elif directive == "{math}":
                stack.append((n, "math"))
                label = None
                j = k + 1
                while j < len(lines) and lines[j].lstrip().startswith(":"):
                    opt = re.match(rf"^\s*:label:\s*({LABEL})\s*$", lines[j])
                    label = opt.group(1) if opt else label
                    j += 1
                found.append((k + 1, label))
            elif directive.startswith("{") and directive not in CODE_DIRECTIVES:
                stack.append((n, "markdown"))  # admonitions, figures, ...: Markdown inside
            else:
                stack.append((n, "code"))
            k += 1
            continue
        if not in_code and not any(kind == "math" for _, kind in stack) and line.lstrip().startswith("$$"):
            start = k
            rest = line.lstrip()[2:]
            if "$$" in rest:  # one-line display: $$ ... $$ (eq:label)
                closing = rest[rest.index("$$"):]
            else:
                k += 1
                while k < len(lines) and not lines[k].lstrip().startswith("$$"):
                    k += 1
                closing = lines[k].lstrip() if k < len(lines) else ""
            m = re.match(rf"^\$\$\s*(?:\(({LABEL})\))?\s*$", closing)
            found.append((start + 1, m.group(1) if m else None))
        k += 1
    return found


def book_labels() -> dict[str, list[str]]:
    """Label -> ``["book/x.md:line", ...]`` for every labelled display equation."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in book_files():
        for line, label in display_equations(path):
            if label:
                where[label].append(f"{path.relative_to(ROOT)}:{line}")
    return where


def core_labels() -> set[str]:
    labels = set()
    for name in CORE_CHAPTERS:
        path = BOOK / f"{name}.md"
        labels |= {label for _, label in display_equations(path) if label}
    return labels


def cited_labels() -> dict[str, set[str]]:
    """Label -> files of ``lstm_ref`` whose code or docstrings cite it."""
    cited: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "lstm_ref").rglob("*.py")):
        for label in re.findall(rf"(?<![\w]){LABEL}", path.read_text(encoding="utf-8")):
            cited[label].add(str(path.relative_to(ROOT)))
    return cited


# --- 1-3: labels ------------------------------------------------------------------------------------
def test_parser_finds_the_core_equations():
    """Guards the parser itself: it must see labelled equations where we know there are some."""
    labels = {label for _, label in display_equations(BOOK / "cell.md")}
    assert {"eq:sigmoid", "eq:forget-gate", "eq:cell-state", "eq:hidden-state"} <= labels


def test_parser_flags_an_unlabelled_equation(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n$$\na = b\n$$\n\n```{code-cell} ipython3\nx = '$$'\n```\n\n$$\nc = d\n$$ (eq:c)\n"
        ":::{note}\n$$\ne = f\n$$\n:::\n"
    )
    assert display_equations(page) == [(3, None), (11, "eq:c"), (15, None)]


def test_every_display_equation_is_labelled():
    missing = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in book_files()
        for line, label in display_equations(path)
        if label is None
    ]
    assert not missing, f"display equations without a (eq:...) label: {missing}"


def test_no_label_is_defined_twice():
    twice = {label: where for label, where in book_labels().items() if len(where) > 1}
    assert not twice, f"labels defined more than once: {twice}"


def test_every_label_cited_by_lstm_ref_is_defined_once_in_the_book():
    defined = book_labels()
    problems = {
        label: f"cited in {sorted(files)}, defined {len(defined.get(label, []))} times"
        for label, files in cited_labels().items()
        if len(defined.get(label, [])) != 1
    }
    assert not problems, f"labels cited by lstm_ref but not defined exactly once in the book: {problems}"


def test_core_labels_are_implemented_or_derivation_only():
    cited = cited_labels()
    unexplained = sorted(label for label in core_labels() if label not in cited and label not in DERIVATION_ONLY)
    assert not unexplained, (
        f"labels defined in the core chapters that no code in lstm_ref cites: {unexplained}; "
        "cite them where they are implemented, or add them to DERIVATION_ONLY with a reason"
    )


def test_derivation_only_list_is_current():
    stale = sorted(set(DERIVATION_ONLY) - core_labels())
    implemented = sorted(set(DERIVATION_ONLY) & set(cited_labels()))
    assert not stale, f"DERIVATION_ONLY names labels the core chapters no longer define: {stale}"
    assert not implemented, f"DERIVATION_ONLY names labels that lstm_ref does cite (give them a CHECK): {implemented}"


# --- 4: numeric checks, one per implemented label ---------------------------------------------------
rng = np.random.default_rng(20260)
TOL = 1e-7  # relative error of centred differences in float64 (lstm_ref.TOLERANCES)


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numeric_grad(f, x: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Five-point centred differences of the scalar f() w.r.t. x, perturbing x in place.

    Error O(eps⁴) + O(1e-16 / eps): about 1e-12, so small gradient entries are checked to a
    relative 1e-7 too. Written here so that the check does not depend on lstm_ref.gradcheck.
    """
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        old = x[k]
        values = []
        for step in (2, 1, -1, -2):
            x[k] = old + step * eps
            values.append(f())
        x[k] = old
        grad[k] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * eps)
    return grad


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def ref_step(x, h, c, W_ih, W_hh, b):
    """One LSTM step written out again, example by example, gate rows taken by hand."""
    H = h.shape[1]
    hs, cs = np.empty_like(h), np.empty_like(c)
    for n in range(x.shape[0]):
        a = W_ih @ x[n] + W_hh @ h[n] + b
        i, f, g, o = sig(a[:H]), sig(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H]), sig(a[3 * H :])
        cs[n] = f * c[n] + i * g
        hs[n] = o * np.tanh(cs[n])
    return hs, cs


def sizes(N=3, D=4, H=5):
    params = LSTMParams.init(D, H, seed=int(rng.integers(1 << 30)), forget_bias=0.5)
    x, h, c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    return params, x, h, c


def both_backends(fn_name):
    """The NumPy function and the torch one wrapped to take and return NumPy arrays."""
    def torch_version(*args):
        conv = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
        out = getattr(tl, fn_name)(*conv)
        return out.numpy()

    return [getattr(nl, fn_name), torch_version]


def check_sigmoid():
    z = rng.uniform(-30, 30, 200)
    for sigmoid in both_backends("sigmoid"):
        assert rel_err(sigmoid(z), 1 / (1 + np.exp(-z))) < 1e-12
        with np.errstate(over="raise", invalid="raise"):  # no overflow; exactly 0 and 1 at the extremes
            assert np.array_equal(sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
    zz = rng.uniform(-8, 8, 50)  # where σ' is large enough for differences to resolve it
    s = nl.sigmoid(zz)
    assert rel_err(numeric_grad(lambda: float(np.sum(nl.sigmoid(zz))), zz), s * (1 - s)) < TOL  # σ' = σ(1 - σ)


def _check_gate(fn_name, gate, act):
    params, x, h, _ = sizes()
    H = params.hidden_size
    k = "ifgo".index(gate)
    rows = slice(k * H, (k + 1) * H)
    W = np.hstack([params.W_hh[rows], params.W_ih[rows]])  # [h_{t-1}, x_t] order, by hand
    expected = np.stack([act(W @ np.concatenate([h[n], x[n]]) + params.b[rows]) for n in range(len(x))])
    for fn in both_backends(fn_name):
        assert rel_err(fn(x, h, W, params.b[rows]), expected) < 1e-12
    # and the fused step computes the same gate (its cache keeps the gates)
    _, _, cache = nl.lstm_step(x, h, np.zeros_like(h), params)
    assert rel_err(getattr(cache, gate), expected) < 1e-12


def check_forget_gate():
    _check_gate("forget_gate", "f", sig)


def check_input_gate():
    _check_gate("input_gate", "i", sig)


def check_candidate():
    _check_gate("candidate", "g", np.tanh)


def check_output_gate():
    _check_gate("output_gate", "o", sig)


def check_cell_state():
    f, c_prev, i, g = (rng.uniform(-1, 1, (3, 4)) for _ in range(4))
    expected = np.array([[f[n, j] * c_prev[n, j] + i[n, j] * g[n, j] for j in range(4)] for n in range(3)])
    for fn in both_backends("cell_state"):
        assert rel_err(fn(f, c_prev, i, g), expected) < 1e-12
    params, x, h, c = sizes()
    _, c_new, cache = nl.lstm_step(x, h, c, params)
    assert rel_err(c_new, cache.f * c + cache.i * cache.g) < 1e-12


def check_hidden_state():
    o, c = rng.uniform(0, 1, (3, 4)), rng.uniform(-3, 3, (3, 4))
    expected = np.array([[o[n, j] * np.tanh(c[n, j]) for j in range(4)] for n in range(3)])
    for fn in both_backends("hidden_state"):
        assert rel_err(fn(o, c), expected) < 1e-12


def check_fused_preactivation():
    params, x, h, c = sizes()
    h_ref, c_ref = ref_step(x, h, c, *params)
    for step in (nl.lstm_step, lambda *a: tl.lstm_step(*(torch.from_numpy(v) for v in a[:3]), a[3].to_tensors())):
        h_new, c_new, _ = step(x, h, c, params)
        assert rel_err(np.asarray(h_new), h_ref) < 1e-12 and rel_err(np.asarray(c_new), c_ref) < 1e-12
    xs = rng.standard_normal((4,) + x.shape)  # and over a sequence, with the input projection hoisted
    hs, _, _ = nl.lstm_forward(xs, params, h, c)
    for t in range(4):
        h, c = ref_step(xs[t], h, c, *params)
        assert rel_err(hs[t], h) < 1e-12


def check_rnn_step():
    from lstm_ref.rnn import rnn_step

    x, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    W_ih, W_hh, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 5)), rng.standard_normal(5)
    expected = np.stack([np.tanh(W_hh @ h[n] + W_ih @ x[n] + b) for n in range(3)])
    got = rnn_step(*(torch.from_numpy(a) for a in (x, h, W_ih, W_hh, b)))
    assert rel_err(got.numpy(), expected) < 1e-12


def check_rnn_jacobian():
    from lstm_ref.rnn import rnn_jacobian

    x, h_prev = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    W_ih, W_hh, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 4)) * 0.5, rng.standard_normal(4)
    h = np.tanh(h_prev @ W_hh.T + x @ W_ih.T + b)
    J = rnn_jacobian(torch.from_numpy(h), torch.from_numpy(W_hh)).numpy()  # (N, H, H)
    for n in range(2):
        for j in range(4):  # row j of the Jacobian = gradient of h_j w.r.t. h_prev, by differences
            hp = h_prev[n].copy()
            num = numeric_grad(lambda: float(np.tanh(W_hh @ hp + W_ih @ x[n] + b)[j]), hp)
            assert rel_err(J[n, j], num) < TOL


# BPTT pieces: the backward of one cell, from the fused pre-activation a (N, 4H) and c_prev.
def _cell_setup(N=3, H=4):
    a = rng.standard_normal((N, 4 * H))
    c_prev, dh, dc = (rng.standard_normal((N, H)) for _ in range(3))
    return a, c_prev, dh, dc, H


def _cell_forward_from(a, c_prev, H):
    i, f, g, o = sig(a[:, :H]), sig(a[:, H : 2 * H]), np.tanh(a[:, 2 * H : 3 * H]), sig(a[:, 3 * H :])
    c = f * c_prev + i * g
    return i, f, g, o, c, np.tanh(c), o * np.tanh(c)


def _cell_backward_numpy_and_torch(dh, dc, i, f, g, o, c_prev, tanh_c):
    out_np = nl._cell_backward(dh, dc, i, f, g, o, c_prev, tanh_c)
    t = [torch.from_numpy(v) for v in (dh, dc, i, f, g, o, c_prev, tanh_c)]
    out_t = tuple(v.numpy() for v in tl._cell_backward(*t))
    return [out_np, out_t]


def _loss(h, c, dh, dc):
    """L = <dh, h_t> + <dc, c_t>: dh is then δh_t and dc is δ⁺c_t, as the step receives them."""
    return float(np.sum(dh * h) + np.sum(dc * c))


def check_bptt_preactivation():
    a, c_prev, dh, dc, H = _cell_setup()
    i, f, g, o, c, tanh_c, h = _cell_forward_from(a, c_prev, H)

    def L():
        *_, c, _, h = _cell_forward_from(a, c_prev, H)
        return _loss(h, c, dh, dc)

    num = numeric_grad(L, a)
    for da, _ in _cell_backward_numpy_and_torch(dh, dc, i, f, g, o, c_prev, tanh_c):
        assert rel_err(da, num) < TOL


def _gate_grads_by_differences(a, c_prev, dh, dc, H):
    """δi, δf, δg, δo, δc by differences: perturb each quantity with the others held fixed."""
    i, f, g, o, c, _, _ = _cell_forward_from(a, c_prev, H)
    q = {"i": i.copy(), "f": f.copy(), "g": g.copy(), "o": o.copy()}

    def L():
        cc = q["f"] * c_prev + q["i"] * q["g"]
        return _loss(q["o"] * np.tanh(cc), cc, dh, dc)

    grads = {name: numeric_grad(L, q[name]) for name in q}
    cc = c.copy()
    grads["c"] = numeric_grad(lambda: _loss(o * np.tanh(cc), cc, dh, dc), cc)  # total δc_t: both paths
    cp = c_prev.copy()  # gates held fixed: the share of δc_{t-1} that flows through c_t
    grads["c_prev"] = numeric_grad(lambda: _loss(o * np.tanh(f * cp + i * g), f * cp + i * g, dh, dc), cp)
    return grads


def _code_gate_grads(da, dc_prev, i, f, g, o, H):
    """Undo the local derivatives of eq:bptt-preactivation to read δi, δf, δg, δo out of da."""
    return {
        "i": da[:, :H] / (i * (1 - i)),
        "f": da[:, H : 2 * H] / (f * (1 - f)),
        "g": da[:, 2 * H : 3 * H] / (1 - g**2),
        "o": da[:, 3 * H :] / (o * (1 - o)),
        "c": dc_prev / f,  # dc_prev = f ⊙ δc_t (eq:bptt-dc-prev)
    }


def _check_cell_piece(names):
    a, c_prev, dh, dc, H = _cell_setup()
    a[:] = np.clip(a, -3, 3)  # keep σ' and tanh' away from 0 so that dividing by them is exact enough
    i, f, g, o, c, tanh_c, _ = _cell_forward_from(a, c_prev, H)
    expected = _gate_grads_by_differences(a, c_prev, dh, dc, H)
    for da, dc_prev in _cell_backward_numpy_and_torch(dh, dc, i, f, g, o, c_prev, tanh_c):
        got = _code_gate_grads(da, dc_prev, i, f, g, o, H) | {"c_prev": dc_prev}
        for name in names:
            assert rel_err(got[name], expected[name]) < 1e-6, name


def check_bptt_do():
    _check_cell_piece(["o"])


def check_bptt_dc():
    _check_cell_piece(["c"])


def check_bptt_gates():
    _check_cell_piece(["i", "f", "g"])


def check_bptt_dc_prev():
    _check_cell_piece(["c_prev"])


def _step_grads_by_differences(params, x, h, c, dh, dc):
    W_ih, W_hh, b = (params.W_ih.copy(), params.W_hh.copy(), params.b.copy())
    args = {"x": x.copy(), "h_prev": h.copy(), "W_ih": W_ih, "W_hh": W_hh, "b": b}

    def L():
        h_new, c_new = ref_step(args["x"], args["h_prev"], c, args["W_ih"], args["W_hh"], args["b"])
        return _loss(h_new, c_new, dh, dc)

    return {name: numeric_grad(L, arr) for name, arr in args.items()}


def _check_step_piece(names):
    params, x, h, c = sizes()
    dh, dc = rng.standard_normal(h.shape), rng.standard_normal(h.shape)
    expected = _step_grads_by_differences(params, x, h, c, dh, dc)
    results = []
    _, _, cache = nl.lstm_step(x, h, c, params)
    results.append(nl.lstm_step_backward(dh, dc, cache))
    T = lambda a: torch.from_numpy(a)  # noqa: E731
    _, _, cache_t = tl.lstm_step(T(x), T(h), T(c), params.to_tensors())
    dx, dh_prev, dc_prev, grads = tl.lstm_step_backward(T(dh), T(dc), cache_t)
    results.append((dx.numpy(), dh_prev.numpy(), dc_prev.numpy(), grads.to_numpy()))
    for dx, dh_prev, _, grads in results:
        got = {"x": dx, "h_prev": dh_prev, "W_ih": grads.W_ih, "W_hh": grads.W_hh, "b": grads.b}
        for name in names:
            assert rel_err(got[name], expected[name]) < TOL, name


def check_bptt_dx():
    _check_step_piece(["x"])


def check_bptt_dh_prev():
    _check_step_piece(["h_prev"])


def _check_sequence(names, T=4):
    """lstm_backward against differences of the independent forward loop, loss at every step."""
    params, x0, h0, c0 = sizes()
    xs = rng.standard_normal((T,) + x0.shape)
    dhs = rng.standard_normal((T,) + h0.shape)
    W = {"W_ih": params.W_ih.copy(), "W_hh": params.W_hh.copy(), "b": params.b.copy()}
    args = {"x": xs.copy(), "h0": h0.copy(), **W}

    def L():
        h, c, total = args["h0"], c0, 0.0
        for t in range(T):
            h, c = ref_step(args["x"][t], h, c, args["W_ih"], args["W_hh"], args["b"])
            total += float(np.sum(dhs[t] * h))
        return total

    expected = {name: numeric_grad(L, arr) for name, arr in args.items() if name in names}
    _, _, cache = nl.lstm_forward(xs, params, h0, c0)
    dx, dh0, _, grads = nl.lstm_backward(dhs, cache)
    got = {"x": dx, "h0": dh0, "W_ih": grads.W_ih, "W_hh": grads.W_hh, "b": grads.b}
    _, _, cache_t = tl.lstm_forward(torch.from_numpy(xs), params.to_tensors(), torch.from_numpy(h0), torch.from_numpy(c0))
    dx_t, dh0_t, _, grads_t = tl.lstm_backward(torch.from_numpy(dhs), cache_t)
    got_t = {"x": dx_t.numpy(), "h0": dh0_t.numpy(), **dict(grads_t.to_numpy().items())}
    for name in names:
        assert rel_err(got[name], expected[name]) < TOL, name
        assert rel_err(got_t[name], expected[name]) < TOL, f"torch {name}"


def check_bptt_dh():
    _check_sequence(["h0", "x"])  # δh_t must add the loss at t and the message from t+1


def check_bptt_dW():
    _check_step_piece(["W_ih", "W_hh", "b"])
    _check_sequence(["W_ih", "W_hh", "b"])  # summed over all T steps


def check_stacked_layers(T=5, L=3):
    """Layer l's input sequence is layer l-1's hidden states: composing NumPy lstm_forward
    calls, each with its own layer's weights and states, gives torch.nn.LSTM(num_layers=L)
    and the drop-in LSTM (whose _run_layers cites the label) to float64 rounding."""
    N, D, H = 2, 3, 4
    torch.manual_seed(3)
    theirs = torch.nn.LSTM(D, H, num_layers=L, dtype=torch.float64)
    ours = tl.LSTM(D, H, num_layers=L, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    x, h0, c0 = rng.standard_normal((T, N, D)), rng.standard_normal((L, N, H)), rng.standard_normal((L, N, H))
    seq, h_n, c_n = x, [], []
    for layer in range(L):
        w = {k: getattr(theirs, f"{k}_l{layer}").detach().numpy() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        params = LSTMParams(w["weight_ih"], w["weight_hh"], w["bias_ih"] + w["bias_hh"])
        seq, (h_T, c_T), _ = nl.lstm_forward(seq, params, h0[layer], c0[layer])  # (eq:stacked-layers)
        h_n.append(h_T), c_n.append(c_T)
    for m in (theirs, ours):
        out, (h, c) = m(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
        for got, want in ((out, seq), (h, np.stack(h_n)), (c, np.stack(c_n))):
            assert np.max(np.abs(got.detach().numpy() - want)) < 1e-12, type(m).__module__


CHECKS = {
    "eq:stacked-layers": check_stacked_layers,
    "eq:sigmoid": check_sigmoid,
    "eq:forget-gate": check_forget_gate,
    "eq:input-gate": check_input_gate,
    "eq:candidate": check_candidate,
    "eq:output-gate": check_output_gate,
    "eq:cell-state": check_cell_state,
    "eq:hidden-state": check_hidden_state,
    "eq:fused-preactivation": check_fused_preactivation,
    "eq:rnn-step": check_rnn_step,
    "eq:rnn-jacobian": check_rnn_jacobian,
    "eq:bptt-dh": check_bptt_dh,
    "eq:bptt-do": check_bptt_do,
    "eq:bptt-dc": check_bptt_dc,
    "eq:bptt-gates": check_bptt_gates,
    "eq:bptt-dc-prev": check_bptt_dc_prev,
    "eq:bptt-preactivation": check_bptt_preactivation,
    "eq:bptt-dx": check_bptt_dx,
    "eq:bptt-dh-prev": check_bptt_dh_prev,
    "eq:bptt-dW": check_bptt_dW,
}


def implemented_core_labels() -> list[str]:
    return sorted(core_labels() & set(cited_labels()))


def test_every_implemented_core_label_has_a_numeric_check():
    missing = [label for label in implemented_core_labels() if label not in CHECKS]
    assert not missing, f"implemented labels of the core chapters without a numeric check in CHECKS: {missing}"


@pytest.mark.parametrize("label", sorted(CHECKS))
def test_equation_is_implemented_as_written(label):
    assert label in cited_labels(), f"{label} has a check but no code in lstm_ref cites it"
    assert label in core_labels(), f"{label} has a check but the core chapters do not define it"
    CHECKS[label]()


# --- cell.md: the total cell-state Jacobian and the hand-worked step (issue 14) -------------------
DERIVATION_ONLY["eq:cell-state-jacobian"] = (
    "the local partial along the cell path, diag(f_t); its total is eq:cell-state-total-jacobian"
)
DERIVATION_ONLY["eq:cell-state-total-jacobian"] = (
    "derived in cell.md; test_total_cell_state_jacobian_matches_autograd checks it against autograd"
)
DERIVATION_ONLY.update({
    label: "a number of the hand-worked step; test_hand_worked_cell_step_matches_the_reference checks it"
    for label in ("eq:hand-cell-state", "eq:hand-hidden-state", "eq:hand-total-jacobian")
})


def _total_cell_jacobian_by_formula(params, x, h_prev, c_prev, o_prev):
    """eq:cell-state-total-jacobian for one example: diag(f) + [three terms] diag(o_prev ⊙ tanh'(c_prev))."""
    H = params.hidden_size
    a = params.W_ih @ x + params.W_hh @ h_prev + params.b
    i, f, g = sig(a[:H]), sig(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H])
    W_hi, W_hf, W_hg = params.W_hh[:H], params.W_hh[H : 2 * H], params.W_hh[2 * H : 3 * H]
    through_h = (
        np.diag(c_prev * f * (1 - f)) @ W_hf + np.diag(g * i * (1 - i)) @ W_hi + np.diag(i * (1 - g**2)) @ W_hg
    )
    return np.diag(f) + through_h @ np.diag(o_prev * (1 - np.tanh(c_prev) ** 2)), f


def _total_cell_jacobian_by_autograd(params, x, c_prev, o_prev):
    """d c_t / d c_{t-1} by torch.autograd, with h_{t-1} = o_{t-1} ⊙ tanh(c_{t-1}) recomputed from c_{t-1}."""
    W_ih, W_hh, b, x_t, o_t = (torch.from_numpy(v) for v in (params.W_ih, params.W_hh, params.b, x, o_prev))
    H = params.hidden_size

    def c_next(c):
        h = o_t * torch.tanh(c)  # (eq:hidden-state) at step t-1: o_{t-1} does not depend on c_{t-1}
        a = W_ih @ x_t + W_hh @ h + b
        i, f, g = torch.sigmoid(a[:H]), torch.sigmoid(a[H : 2 * H]), torch.tanh(a[2 * H : 3 * H])
        return f * c + i * g

    c0 = torch.from_numpy(c_prev)
    J = torch.autograd.functional.jacobian(c_next, c0).numpy()
    # the same c_t as lstm_ref computes from the same state
    _, c_ref, _ = nl.lstm_step(x[None], (o_prev * np.tanh(c_prev))[None], c_prev[None], params)
    assert rel_err(c_next(c0).numpy(), c_ref[0]) < 1e-12
    return J


def test_total_cell_state_jacobian_matches_autograd():
    """eq:cell-state-total-jacobian equals autograd's Jacobian to 1e-12 in float64, and is not diag(f_t)."""
    for seed in range(5):
        params = LSTMParams.init(3, 4, seed=seed, forget_bias=1.0)
        params = LSTMParams(params.W_ih * 2, params.W_hh * 2, params.b)  # larger weights: larger extra terms
        local = np.random.default_rng(seed)
        x, c_prev, o_prev = local.standard_normal(3), local.standard_normal(4), local.uniform(0.05, 0.95, 4)
        J, f = _total_cell_jacobian_by_formula(params, x, o_prev * np.tanh(c_prev), c_prev, o_prev)
        J_auto = _total_cell_jacobian_by_autograd(params, x, c_prev, o_prev)
        assert np.max(np.abs(J - J_auto)) < 1e-12, np.max(np.abs(J - J_auto))
        assert np.max(np.abs(J - np.diag(f))) > 1e-2  # the paths through h_{t-1} are not negligible here


def test_total_cell_state_jacobian_reduces_to_the_forget_gate():
    """The cases cell.md names: no recurrent weights into the gates, or a cell that holds (f ≈ 1, i ≈ 0)."""
    params = LSTMParams.init(3, 4, seed=11)
    local = np.random.default_rng(11)
    x, c_prev, o_prev = local.standard_normal(3), local.standard_normal(4), local.uniform(0.05, 0.95, 4)
    h_prev = o_prev * np.tanh(c_prev)
    no_recurrence = LSTMParams(params.W_ih, np.zeros_like(params.W_hh), params.b)
    J, f = _total_cell_jacobian_by_formula(no_recurrence, x, h_prev, c_prev, o_prev)
    assert np.array_equal(J, np.diag(f))
    H = 4
    hold = params.b.copy()
    hold[:H], hold[H : 2 * H] = -12.0, 12.0  # input gate shut, forget gate open: the cell holds
    holding = LSTMParams(params.W_ih, params.W_hh, hold)
    J, f = _total_cell_jacobian_by_formula(holding, x, h_prev, c_prev, o_prev)
    assert np.max(np.abs(J - np.diag(f))) < 1e-4
    assert np.max(np.abs(J - _total_cell_jacobian_by_autograd(holding, x, c_prev, o_prev))) < 1e-12


def test_hand_worked_cell_step_matches_the_reference():
    """book/_scripts/hand_cell.py's scalar step (the opening of cell.md) is lstm_ref's step, to 1e-12."""
    import sys

    sys.path.insert(0, str(BOOK / "_scripts"))
    try:
        import hand_cell
    finally:
        sys.path.pop(0)
    hand = hand_cell.step()
    gates = {name: (np.array(W), np.array(b)) for name, (W, b) in hand_cell.per_gate_weights().items()}
    params = LSTMParams.from_gates(gates, input_size=1)
    x, h_prev, c_prev = (np.array([[v]]) for v in (hand_cell.X, hand_cell.H_PREV, hand_cell.C_PREV))
    h, c, cache = nl.lstm_step(x, h_prev, c_prev, params)
    got = {"h": h, "c": c, "i": cache.i, "f": cache.f, "g": cache.g, "o": cache.o, "tanh_c": cache.tanh_c}
    for name, value in got.items():
        assert abs(value.item() - hand[name]) < 1e-12, (name, value.item(), hand[name])
    h_t, c_t, _ = tl.lstm_step(*(torch.from_numpy(v) for v in (x, h_prev, c_prev)), params.to_tensors())
    assert abs(h_t.item() - hand["h"]) < 1e-12 and abs(c_t.item() - hand["c"]) < 1e-12
    # the per-gate functions of the chapter give the same gates
    assert abs(nl.forget_gate(x, h_prev, *params.gate("f")).item() - hand["f"]) < 1e-12
    # the pre-activations were chosen to be whole numbers, so that the step can be done by hand
    assert all(float(hand[f"a_{g}"]).is_integer() for g in "ifgo")


# --- bptt.md: the corrected RNN recursion and the hand-worked backward pass (issue 14) ------------
DERIVATION_ONLY["eq:bptt-rnn-total"] = (
    "the forward (total-derivative) recursion of a vanilla RNN, shown to correct the d2l notation"
)


def _hand_bptt():
    """book/_scripts/hand_bptt.py, the scalar computation that bptt.md prints."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hand_bptt", BOOK / "_scripts" / "hand_bptt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hand_bptt_by_reference(hb):
    """The same example through lstm_ref: forward cache, lstm_backward, and each step's backward."""
    W_ih, W_hh, b = (np.array(v, dtype=np.float64) for v in hb.stacked())
    params = LSTMParams(W_ih, W_hh, b)
    x = np.array(hb.X, dtype=np.float64).reshape(2, 1, 1)  # (T, N, D)
    hs, _, cache = nl.lstm_forward(x, params)
    dhs = np.zeros((2, 1, 1))
    dhs[1] = hs[1] - hb.TARGET  # ℓ_2 = ½ (h_2 - y)², ℓ_1 = 0
    return params, x, hs, cache, dhs, nl.lstm_backward(dhs, cache)


def test_hand_worked_backward_matches_lstm_ref():
    """Every number of bptt.md's hand-worked example, forward and backward, to 1e-12 in float64."""
    hb = _hand_bptt()
    v = hb.worked_example()
    params, x, hs, cache, dhs, (dx, dh0, dc0, grads) = _hand_bptt_by_reference(hb)
    H = 1
    got: dict[str, float] = {}
    for t in (1, 2):  # forward: the cache holds i, f, g, o (after their nonlinearities), c, tanh c, h
        for k, gate in enumerate("ifgo"):
            got[f"{gate}{t}"] = cache.gates[t - 1, 0, k * H]
        got[f"c{t}"], got[f"tanh_c{t}"], got[f"h{t}"] = cache.cs[t - 1, 0, 0], cache.tanh_cs[t - 1, 0, 0], hs[t - 1, 0, 0]
        h_prev = 0.0 if t == 1 else hs[0, 0, 0]
        a = params.W_ih[:, 0] * x[t - 1, 0, 0] + params.W_hh[:, 0] * h_prev + params.b
        for k, gate in enumerate("ifgo"):
            got[f"a_{gate}{t}"] = a[k]
    got["L"] = 0.5 * (hs[1, 0, 0] - hb.TARGET) ** 2
    # the whole sequence: inputs, initial states, weights (rows i, f, g, o)
    got["dx1"], got["dx2"], got["dh0"], got["dc0"] = dx[0, 0, 0], dx[1, 0, 0], dh0[0, 0], dc0[0, 0]
    for k, gate in enumerate("ifgo"):
        got[f"dW_ih_{gate}"], got[f"dW_hh_{gate}"], got[f"db_{gate}"] = grads.W_ih[k, 0], grads.W_hh[k, 0], grads.b[k]
    # step by step: the messages each step receives and sends, δa_t, and the gates' δ read out of δa_t
    dh_next, dc_next = np.zeros((1, 1)), np.zeros((1, 1))
    for t in (2, 1):
        got[f"dhp{t}"], got[f"dcp{t}"] = dh_next[0, 0], dc_next[0, 0]
        got[f"dh{t}"] = dhs[t - 1, 0, 0] + dh_next[0, 0]
        h_prev = np.zeros((1, 1)) if t == 1 else hs[0]
        c_prev = np.zeros((1, 1)) if t == 1 else cache.cs[0]
        _, _, step_cache = nl.lstm_step(x[t - 1], h_prev, c_prev, params)
        _, dh_next, dc_next, step_grads = nl.lstm_step_backward(dhs[t - 1] + dh_next, dc_next, step_cache)
        i, f, g, o = (float(cache.gates[t - 1, 0, k]) for k in range(4))
        da = step_grads.b  # N = 1: δb of one step is δa_t
        for k, gate in enumerate("ifgo"):
            got[f"da_{gate}{t}"] = da[k]
        got[f"di{t}"], got[f"df{t}"] = da[0] / (i * (1 - i)), da[1] / (f * (1 - f))
        got[f"dg{t}"], got[f"do{t}"] = da[2] / (1 - g**2), da[3] / (o * (1 - o))
        got[f"dc{t}"] = dc_next[0, 0] / f  # δ⁺c_{t-1} = f_t δc_t (eq:bptt-dc-prev)
        got[f"dc{t}_h"] = got[f"dc{t}"] - got[f"dcp{t}"]
        got[f"dl{t}"] = dhs[t - 1, 0, 0]
    assert abs(dh_next[0, 0] - dh0[0, 0]) < 1e-15 and abs(dc_next[0, 0] - dc0[0, 0]) < 1e-15
    # torch's lstm_backward gives the same weight gradients
    _, _, cache_t = tl.lstm_forward(torch.from_numpy(x), params.to_tensors())
    grads_t = tl.lstm_backward(torch.from_numpy(dhs), cache_t)[3].to_numpy()
    for name in ("W_ih", "W_hh", "b"):
        assert np.abs(getattr(grads_t, name) - getattr(grads, name)).max() < 1e-12, name

    computed = {k: value for k, value in v.items() if k not in hb.CHOSEN}
    assert not set(computed) - set(got), f"numbers of the example the test does not check: {set(computed) - set(got)}"
    gaps = {k: abs(computed[k] - float(got[k])) for k in computed}
    assert max(gaps.values()) < 1e-12, sorted(gaps.items(), key=lambda kv: -kv[1])[:5]


def test_hand_worked_backward_says_what_the_chapter_says():
    """The sentences of bptt.md about the example's numbers hold for the numbers the script makes."""
    v = _hand_bptt().worked_example()
    assert v["i1"] > 0.5 > v["i2"] and v["f2"] > v["f1"] > 0.5 and v["o2"] > v["o1"] == 0.5  # the gates' jobs
    assert v["g1"] > 0.9 and v["g2"] < 0  # "a value near 1"; "a negative value" on the blank
    assert abs(v["dcp1"]) > abs(v["dc1_h"])  # "most of it arrived along the cell lane"
    assert v["df1"] == 0 and v["da_f1"] == 0  # c_0 = 0: nothing to forget
    assert v["da_i1"] < 0 < v["da_i2"] and v["db_i"] < 0  # the two uses disagree, step 1 wins
    assert v["db_f"] < 0 and v["db_o"] < 0  # a larger forget bias and output bias lower the loss
    assert v["dW_hh_i"] > 0  # "the loss wants the input gate to shut harder when something is stored"


def test_bptt_chapter_prints_the_hand_numbers_from_the_script():
    """bptt.md glues every number of the example from hand_bptt.formatted(); none is typed in."""
    hb = _hand_bptt()
    text = (BOOK / "bptt.md").read_text(encoding="utf-8")
    assert "hand_bptt.formatted()" in text and 'glue(f"hb_{name}", text, display=False)' in text
    keys = re.findall(r"\{glue:text\}`hb_(\w+)`", text)
    formatted = hb.formatted()
    assert not set(keys) - set(formatted), f"glued names the script does not make: {set(keys) - set(formatted)}"
    # every number of the example is printed, except δx_t (the tables stop at δa_t and the
    # messages) and the h-path share of δc_2, which is all of δc_2
    assert set(formatted) - set(keys) == {"dx1", "dx2", "dc2_h"}, set(formatted) - set(keys)
    # the section itself types no decimal number (the chosen inputs are small integers)
    section = text[text.index("## A backward pass by hand"):text.index("## The graph of one step")]
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    assert not re.findall(r"\d\.\d", prose), re.findall(r".{20}\d\.\d.{20}", prose)
    # what is printed is the value rounded to four decimals (or the chosen value as typed)
    for key, value in hb.worked_example().items():
        shown = float(formatted[key].replace("\u2212", "-"))
        assert abs(shown - value) <= (0 if key in hb.CHOSEN else 5e-5), key


# --- gru.md: the GRU's equations and the code that cites them (issue 15) ------------------------
from lstm_ref import numpy_gru as ngru  # noqa: E402
from lstm_ref import torch_gru as tgru  # noqa: E402
from lstm_ref.gru_params import GRUParams  # noqa: E402

GRU_DERIVATION_ONLY = {
    "eq:gru-from-cifg": "a step of the derivation (CIFG renamed); its end point is eq:gru-hidden-state",
    "eq:gru-no-cell": "a step of the derivation (h_t = c_t); its end point is eq:gru-hidden-state",
}
gru_rng = np.random.default_rng(2015)  # its own stream: the LSTM checks above keep theirs


def gru_chapter_labels() -> set[str]:
    return {label for _, label in display_equations(BOOK / "gru.md") if label}


def gru_ref_step(x, h, W_ih, W_hh, b_ih, b_hh):
    """One GRU step written out again, example by example, rows r, z, n taken by hand."""
    H = h.shape[1]
    out = np.empty_like(h)
    for k in range(x.shape[0]):
        a, u = W_ih @ x[k] + b_ih, W_hh @ h[k] + b_hh
        r, z = sig(a[:H] + u[:H]), sig(a[H : 2 * H] + u[H : 2 * H])
        n = np.tanh(a[2 * H :] + r * u[2 * H :])
        out[k] = (1 - z) * n + z * h[k]
    return out


def gru_sizes(N=3, D=4, H=5):
    p = GRUParams.init(D, H, seed=int(gru_rng.integers(1 << 30)), update_bias=0.5)
    p = GRUParams(p.W_ih, p.W_hh, p.b_ih, p.b_hh + gru_rng.standard_normal(3 * H))  # b_hn matters
    return p, gru_rng.standard_normal((N, D)), gru_rng.uniform(-1, 1, (N, H))


def gru_both(fn_name):
    def torch_version(*args):
        return getattr(tgru, fn_name)(*(torch.from_numpy(a) for a in args)).numpy()

    return [getattr(ngru, fn_name), torch_version]


def _check_gru_gate(fn_name, gate):
    p, x, h = gru_sizes()
    H = p.hidden_size
    k = "rzn".index(gate)
    rows = slice(k * H, (k + 1) * H)
    W = np.hstack([p.W_hh[rows], p.W_ih[rows]])  # [h_{t-1}, x_t] order, by hand
    expected = np.stack([sig(W @ np.concatenate([h[n], x[n]]) + p.b_ih[rows] + p.b_hh[rows]) for n in range(len(x))])
    for fn in gru_both(fn_name):
        assert rel_err(fn(x, h, W, p.b_ih[rows] + p.b_hh[rows]), expected) < 1e-12
    _, cache = ngru.gru_step(x, h, p)  # the fused step computes the same gate
    assert rel_err(getattr(cache, gate), expected) < 1e-12


def check_gru_candidate():
    p, x, h = gru_sizes()
    r = gru_rng.uniform(0, 1, h.shape)
    W_in, b_in, W_hn, b_hn = p.gate("n")
    expected = np.stack([np.tanh(W_in @ x[k] + b_in + r[k] * (W_hn @ h[k] + b_hn)) for k in range(len(x))])
    for fn in gru_both("candidate"):
        assert rel_err(fn(x, h, r, W_in, b_in, W_hn, b_hn), expected) < 1e-12
    _, cache = ngru.gru_step(x, h, p)
    assert rel_err(cache.n, ngru.candidate(x, h, cache.r, *p.gate("n"))) < 1e-12


def check_gru_candidate_cho():
    p, x, h = gru_sizes()
    r = gru_rng.uniform(0, 1, h.shape)
    W_in, b_in, W_hn, b_hn = p.gate("n")
    expected = np.stack([np.tanh(W_in @ x[k] + b_in + W_hn @ (r[k] * h[k]) + b_hn) for k in range(len(x))])
    for fn in gru_both("candidate_cho"):
        assert rel_err(fn(x, h, r, W_in, b_in, W_hn, b_hn), expected) < 1e-12


def check_gru_hidden_state():
    z, n, h = gru_rng.uniform(0, 1, (3, 4)), gru_rng.uniform(-1, 1, (3, 4)), gru_rng.uniform(-1, 1, (3, 4))
    expected = np.array([[(1 - z[k, j]) * n[k, j] + z[k, j] * h[k, j] for j in range(4)] for k in range(3)])
    for fn in gru_both("hidden_state"):
        assert rel_err(fn(z, n, h), expected) < 1e-12


def check_gru_fused_preactivation():
    p, x, h = gru_sizes()
    expected = gru_ref_step(x, h, *p)
    assert rel_err(ngru.gru_step(x, h, p)[0], expected) < 1e-12
    h_t, _ = tgru.gru_step(torch.from_numpy(x), torch.from_numpy(h), p.to_tensors())
    assert rel_err(h_t.numpy(), expected) < 1e-12
    xs = gru_rng.standard_normal((4,) + x.shape)  # over a sequence, input projection hoisted
    hs, _, _ = ngru.gru_forward(xs, p, h)
    for t in range(4):
        h = gru_ref_step(xs[t], h, *p)
        assert rel_err(hs[t], h) < 1e-12


def _gru_cell_setup(N=3, H=4):
    a, u = np.clip(gru_rng.standard_normal((N, 3 * H)), -2.5, 2.5), np.clip(gru_rng.standard_normal((N, 3 * H)), -2.5, 2.5)
    return a, u, gru_rng.uniform(-1, 1, (N, H)), gru_rng.standard_normal((N, H)), H


def _gru_cell_from(a, u, h_prev, H):
    r, z = sig(a[:, :H] + u[:, :H]), sig(a[:, H : 2 * H] + u[:, H : 2 * H])
    n = np.tanh(a[:, 2 * H :] + r * u[:, 2 * H :])
    return r, z, n, (1 - z) * n + z * h_prev


def _gru_cell_backward_both(dh, h_prev, r, z, n, u_n):
    out_t = tgru._cell_backward(*(torch.from_numpy(v) for v in (dh, h_prev, r, z, n, u_n)))
    return [ngru._cell_backward(dh, h_prev, r, z, n, u_n), tuple(v.numpy() for v in out_t)]


def check_gru_bptt_preactivation():
    a, u, h_prev, dh, H = _gru_cell_setup()
    r, z, n, _ = _gru_cell_from(a, u, h_prev, H)
    num_a = numeric_grad(lambda: float(np.sum(dh * _gru_cell_from(a, u, h_prev, H)[3])), a)
    num_u = numeric_grad(lambda: float(np.sum(dh * _gru_cell_from(a, u, h_prev, H)[3])), u)
    for da, du, _ in _gru_cell_backward_both(dh, h_prev, r, z, n, u[:, 2 * H :]):
        assert rel_err(da, num_a) < TOL and rel_err(du, num_u) < TOL


def _gru_gate_grads_by_differences():
    """δn, δz, δr by differences, each quantity perturbed with the others held fixed."""
    a, u, h_prev, dh, H = _gru_cell_setup()
    r, z, n, _ = _gru_cell_from(a, u, h_prev, H)
    q = {"z": z.copy(), "n": n.copy()}
    grads = {k: numeric_grad(lambda: float(np.sum(dh * ((1 - q["z"]) * q["n"] + q["z"] * h_prev))), q[k]) for k in q}
    rr = r.copy()

    def through_r():
        nn_ = np.tanh(a[:, 2 * H :] + rr * u[:, 2 * H :])
        return float(np.sum(dh * ((1 - z) * nn_ + z * h_prev)))

    grads["r"] = numeric_grad(through_r, rr)
    return (a, u, h_prev, dh, H, r, z, n), grads


def _gru_code_gate_grads(da, r, z, n, H):
    """Undo the slopes of eq:gru-bptt-preactivation to read δr, δz, δn out of δa."""
    return {"r": da[:, :H] / (r * (1 - r)), "z": da[:, H : 2 * H] / (z * (1 - z)), "n": da[:, 2 * H :] / (1 - n**2)}


def _check_gru_cell_piece(names):
    (a, u, h_prev, dh, H, r, z, n), expected = _gru_gate_grads_by_differences()
    for da, _, _ in _gru_cell_backward_both(dh, h_prev, r, z, n, u[:, 2 * H :]):
        got = _gru_code_gate_grads(da, r, z, n, H)
        for name in names:
            assert rel_err(got[name], expected[name]) < 1e-6, name


def check_gru_bptt_gates():
    _check_gru_cell_piece(["n", "z"])


def check_gru_bptt_reset():
    _check_gru_cell_piece(["r"])


def _gru_step_grads_by_differences(p, x, h, dh):
    args = {"x": x.copy(), "h_prev": h.copy(), **{name: v.copy() for name, v in p.items()}}

    def L():
        return float(np.sum(dh * gru_ref_step(args["x"], args["h_prev"], args["W_ih"], args["W_hh"], args["b_ih"], args["b_hh"])))

    return {name: numeric_grad(L, arr) for name, arr in args.items()}


def _check_gru_step_piece(names):
    p, x, h = gru_sizes()
    dh = gru_rng.standard_normal(h.shape)
    expected = _gru_step_grads_by_differences(p, x, h, dh)
    _, cache = ngru.gru_step(x, h, p)
    results = [ngru.gru_step_backward(dh, cache)]
    _, cache_t = tgru.gru_step(torch.from_numpy(x), torch.from_numpy(h), p.to_tensors())
    dx, dh_prev, grads = tgru.gru_step_backward(torch.from_numpy(dh), cache_t)
    results.append((dx.numpy(), dh_prev.numpy(), grads.to_numpy()))
    for dx, dh_prev, grads in results:
        got = {"x": dx, "h_prev": dh_prev, **dict(grads.items())}
        for name in names:
            assert rel_err(got[name], expected[name]) < TOL, name


def check_gru_bptt_dx():
    _check_gru_step_piece(["x"])


def check_gru_bptt_dh_prev():
    _check_gru_step_piece(["h_prev"])
    # the direct path alone: with every layer's weights zero, δ⁺h_{t-1} = z ⊙ δh_t
    p, x, h = gru_sizes()
    p = GRUParams(np.zeros_like(p.W_ih), np.zeros_like(p.W_hh), p.b_ih, p.b_hh)
    dh = gru_rng.standard_normal(h.shape)
    _, cache = ngru.gru_step(x, h, p)
    assert rel_err(ngru.gru_step_backward(dh, cache)[1], cache.z * dh) < 1e-12


def _check_gru_sequence(names, T=4):
    p, x0, h0 = gru_sizes()
    xs, dhs = gru_rng.standard_normal((T,) + x0.shape), gru_rng.standard_normal((T,) + h0.shape)
    args = {"x": xs.copy(), "h0": h0.copy(), **{name: v.copy() for name, v in p.items()}}

    def L():
        h, total = args["h0"], 0.0
        for t in range(T):
            h = gru_ref_step(args["x"][t], h, args["W_ih"], args["W_hh"], args["b_ih"], args["b_hh"])
            total += float(np.sum(dhs[t] * h))
        return total

    expected = {name: numeric_grad(L, arr) for name, arr in args.items() if name in names}
    dx, dh0, grads = ngru.gru_backward(dhs, ngru.gru_forward(xs, p, h0)[2])
    got = {"x": dx, "h0": dh0, **dict(grads.items())}
    _, _, cache_t = tgru.gru_forward(torch.from_numpy(xs), p.to_tensors(), torch.from_numpy(h0))
    dx_t, dh0_t, grads_t = tgru.gru_backward(torch.from_numpy(dhs), cache_t)
    got_t = {"x": dx_t.numpy(), "h0": dh0_t.numpy(), **dict(grads_t.to_numpy().items())}
    for name in names:
        assert rel_err(got[name], expected[name]) < TOL, name
        assert rel_err(got_t[name], expected[name]) < TOL, f"torch {name}"


def check_gru_bptt_dh():
    _check_gru_sequence(["h0", "x"])  # δh_t adds the loss at t and the message from t+1


def check_gru_bptt_dW():
    _check_gru_step_piece(["W_ih", "W_hh", "b_ih", "b_hh"])
    _check_gru_sequence(["W_ih", "W_hh", "b_ih", "b_hh"])  # summed over all T steps


def check_gru_parameter_count():
    from lstm_ref.experiments.gru import count_parameters, equal_size_hidden

    for D, H in ((2, 32), (32, 128), (5, 3)):
        assert count_parameters(torch.nn.LSTM(D, H)) == 4 * H * (D + H) + 8 * H
        assert count_parameters(torch.nn.GRU(D, H)) == 3 * H * (D + H) + 6 * H
    target = 4 * 32 * 34 + 8 * 32  # an LSTM layer, D = 2, H = 32
    H = equal_size_hidden(lambda h: torch.nn.GRU(2, h), target)
    assert H == min(range(1, 100), key=lambda h: abs(3 * h * (2 + h) + 6 * h - target)) == 37


GRU_CHECKS = {
    "eq:gru-reset-gate": lambda: _check_gru_gate("reset_gate", "r"),
    "eq:gru-update-gate": lambda: _check_gru_gate("update_gate", "z"),
    "eq:gru-candidate": check_gru_candidate,
    "eq:gru-candidate-cho": check_gru_candidate_cho,
    "eq:gru-hidden-state": check_gru_hidden_state,
    "eq:gru-fused-preactivation": check_gru_fused_preactivation,
    "eq:gru-parameter-count": check_gru_parameter_count,
    "eq:gru-bptt-dh": check_gru_bptt_dh,
    "eq:gru-bptt-gates": check_gru_bptt_gates,
    "eq:gru-bptt-reset": check_gru_bptt_reset,
    "eq:gru-bptt-preactivation": check_gru_bptt_preactivation,
    "eq:gru-bptt-dx": check_gru_bptt_dx,
    "eq:gru-bptt-dh-prev": check_gru_bptt_dh_prev,
    "eq:gru-bptt-dW": check_gru_bptt_dW,
}


def test_gru_labels_are_implemented_and_checked_or_derivation_only():
    """As for the core chapters: every label of gru.md is cited by lstm_ref (and then checked) or explained."""
    labels, cited = gru_chapter_labels(), cited_labels()
    assert {"eq:gru-hidden-state", "eq:gru-bptt-dh-prev"} <= labels  # guards the parser
    unexplained = sorted(label for label in labels if label not in cited and label not in GRU_DERIVATION_ONLY)
    assert not unexplained, f"labels of gru.md that no code cites: {unexplained}; cite them or explain them"
    unchecked = sorted(label for label in labels & set(cited) if label not in GRU_CHECKS)
    assert not unchecked, f"implemented labels of gru.md without a numeric check in GRU_CHECKS: {unchecked}"
    stale = sorted((set(GRU_CHECKS) | set(GRU_DERIVATION_ONLY)) - labels)
    assert not stale, f"GRU_CHECKS / GRU_DERIVATION_ONLY name labels gru.md does not define: {stale}"


@pytest.mark.parametrize("label", sorted(GRU_CHECKS))
def test_gru_equation_is_implemented_as_written(label):
    assert label in cited_labels(), f"{label} has a check but no code in lstm_ref cites it"
    GRU_CHECKS[label]()


# --- xlstm.md: the sLSTM's and mLSTM's equations and the code that cites them (issue 15) ------------
from lstm_ref import xlstm as xl  # noqa: E402
from lstm_ref.xlstm import MLSTMParams  # noqa: E402

xl_rng = np.random.default_rng(2024)  # its own stream: the checks above keep theirs


def xlstm_chapter_labels() -> set[str]:
    return {label for _, label in display_equations(BOOK / "xlstm.md") if label}


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _np_forget(a_f, forget):
    return np.exp(a_f) if forget == "exp" else 1.0 / (1.0 + np.exp(-a_f))


def xl_ref_slstm(x, W_ih, W_hh, b, forget="exp"):
    """The sLSTM without stabiliser, example by example and step by step, gate rows by hand.

    Returns hs (T, N, H), the final c and n (N, H), and the per-step i, f, g, o (T, N, H).
    """
    T, N, _ = x.shape
    H = W_hh.shape[1]
    hs, gates = np.zeros((T, N, H)), np.zeros((4, T, N, H))
    c_T, n_T = np.zeros((N, H)), np.zeros((N, H))
    for n in range(N):
        h, c, nn_ = np.zeros(H), np.zeros(H), np.zeros(H)
        for t in range(T):
            a = W_ih @ x[t, n] + W_hh @ h + b
            i, f = np.exp(a[:H]), _np_forget(a[H : 2 * H], forget)
            g, o = np.tanh(a[2 * H : 3 * H]), sig(a[3 * H :])
            c, nn_ = f * c + i * g, f * nn_ + i
            h = o * c / nn_
            hs[t, n], gates[:, t, n] = h, (i, f, g, o)
        c_T[n], n_T[n] = c, nn_
    return hs, c_T, n_T, gates


def xl_slstm_problem(T=5, N=2, D=3, H=4, scale=1.0):
    p = LSTMParams.init(D, H, seed=int(xl_rng.integers(1 << 30)))
    return LSTMParams(p.W_ih * scale, p.W_hh * scale, p.b * scale), xl_rng.standard_normal((T, N, D))


def xl_ref_projections(x, W_ih, b, H):
    """q, k, v, o, a^i, a^f of one input vector, rows taken by hand (eq:xlstm-mlstm-projections)."""
    a = W_ih @ x + b
    return a[:H], a[H : 2 * H] / np.sqrt(H), a[2 * H : 3 * H], sig(a[3 * H : 4 * H]), a[4 * H], a[4 * H + 1]


def xl_ref_mlstm(x, W_ih, b, forget="exp"):
    """The mLSTM without stabiliser, one example and one step at a time, with np.outer.

    Returns hs (T, N, H), the final C (N, H, H) and n (N, H), and the weights w[t, s] (N, T, T)
    with which step s's pair is in the memory at step t.
    """
    T, N, _ = x.shape
    H = (W_ih.shape[0] - 2) // 4
    hs, C_T, n_T, w = np.zeros((T, N, H)), np.zeros((N, H, H)), np.zeros((N, H)), np.zeros((N, T, T))
    for n in range(N):
        C, nv = np.zeros((H, H)), np.zeros(H)
        for t in range(T):
            q, k, v, o, a_i, a_f = xl_ref_projections(x[t, n], W_ih, b, H)
            i, f = np.exp(a_i), _np_forget(a_f, forget)
            C, nv = f * C + i * np.outer(v, k), f * nv + i * k
            hs[t, n] = o * (C @ q) / max(abs(nv @ q), 1.0)
            w[n, t, : t + 1] = np.append(w[n, t - 1, :t] * f if t else [], i)
        C_T[n], n_T[n] = C, nv
    return hs, C_T, n_T, w


def xl_mlstm_problem(T=6, N=2, D=3, H=4, scale=2.0):
    p = MLSTMParams.init(D, H, seed=int(xl_rng.integers(1 << 30)))
    return p, xl_rng.standard_normal((T, N, D)) * scale


def check_xlstm_exp_gates():
    a_i, a_f = xl_rng.uniform(-20, 20, 50), xl_rng.uniform(-20, 20, 50)
    for forget in ("exp", "sigmoid"):
        i, f = xl.exponential_gates(_t(a_i), _t(a_f), forget)
        assert rel_err(i.numpy(), np.exp(a_i)) < 1e-12 and rel_err(f.numpy(), _np_forget(a_f, forget)) < 1e-12
        log_f = xl.log_forget(_t(np.array([-800.0, 800.0])), forget).numpy()  # exact where f_t under/overflows
        assert np.allclose(log_f, [-800.0, 800.0] if forget == "exp" else [-800.0, 0.0], rtol=0, atol=1e-12)


def _check_slstm_against_reference(forget):
    params, x = xl_slstm_problem(scale=3.0)
    hs_ref, c_ref, n_ref, _ = xl_ref_slstm(x, *params, forget=forget)
    for stabilise in (False, True):
        hs, state = xl.slstm_forward(_t(x), params.to_tensors(), forget=forget, stabilise=stabilise)
        scale = np.exp(state.m.numpy()) if stabilise else 1.0
        assert rel_err(hs.numpy(), hs_ref) < 1e-12
        assert rel_err(state.c.numpy() * scale, c_ref) < 1e-12 and rel_err(state.n.numpy() * scale, n_ref) < 1e-12


def check_xlstm_slstm_state():
    for forget in ("exp", "sigmoid"):
        _check_slstm_against_reference(forget)


def check_xlstm_slstm_hidden():
    params, x = xl_slstm_problem()
    hs, _ = xl.slstm_forward(_t(x), params.to_tensors())
    _, _, _, (i, f, g, o) = xl_ref_slstm(x, *params)
    c = n = 0.0
    for t in range(len(x)):  # the ratio, from the reference's gates: c_t / n_t times o_t
        c, n = f[t] * c + i[t] * g[t], f[t] * n + i[t]
        assert rel_err(hs[t].numpy(), o[t] * c / n) < 1e-12
    assert np.all(np.abs(hs.numpy()) < 1)  # a weighted average of tanh values, gated: no tanh needed


def check_xlstm_weighted_average():
    params, x = xl_slstm_problem(scale=2.0)
    hs, _ = xl.slstm_forward(_t(x), params.to_tensors(), forget="sigmoid")
    _, _, _, (i, f, g, o) = xl_ref_slstm(x, *params, forget="sigmoid")
    T = len(x)
    for t in range(T):  # w_{t,s} = i_s prod_{r=s+1..t} f_r, written out
        w = np.stack([i[s] * np.prod(f[s + 1 : t + 1], axis=0) for s in range(t + 1)])  # (t+1, N, H)
        average = np.sum(w * g[: t + 1], axis=0) / np.sum(w, axis=0)
        assert rel_err(hs[t].numpy() / o[t], average) < 1e-12


def check_xlstm_stabiliser():
    a_i, a_f, m_prev = (xl_rng.uniform(-30, 30, 40) for _ in range(3))
    for forget in ("exp", "sigmoid"):
        log_f = a_f if forget == "exp" else np.log(sig(a_f))
        _, _, m = xl.stabilised_gates(_t(a_i), _t(a_f), _t(m_prev), forget)
        assert rel_err(m.numpy(), np.maximum(log_f + m_prev, a_i)) < 1e-12
        assert not m.requires_grad  # the stabiliser carries no gradient


def check_xlstm_stable_gates():
    a_i, a_f, m_prev = (xl_rng.uniform(-30, 30, 40) for _ in range(3))
    for forget in ("exp", "sigmoid"):
        log_f = a_f if forget == "exp" else np.log(sig(a_f))
        m = np.maximum(log_f + m_prev, a_i)
        i, f, _ = xl.stabilised_gates(_t(a_i), _t(a_f), _t(m_prev), forget)
        assert rel_err(i.numpy(), np.exp(a_i - m)) < 1e-12 and rel_err(f.numpy(), np.exp(log_f + m_prev - m)) < 1e-12
        assert np.all(i.numpy() <= 1) and np.all(f.numpy() <= 1)


def check_xlstm_stable_states():
    params, x = xl_slstm_problem(T=8, scale=4.0)
    _, c_ref, n_ref, _ = xl_ref_slstm(x, *params)
    state = xl.slstm_zero_state(x.shape[1], params.hidden_size, like=_t(x))
    for t in range(len(x)):  # at every step, not only the last: c'_t = e^{-m_t} c_t
        state = xl.slstm_step(_t(x[t]), state, params.to_tensors())
        _, c_t, n_t, _ = xl_ref_slstm(x[: t + 1], *params)
        m = state.m.numpy()
        assert rel_err(state.c.numpy(), np.exp(-m) * c_t) < 1e-12 and rel_err(state.n.numpy(), np.exp(-m) * n_t) < 1e-12
    assert np.max(np.abs(state.m.numpy())) > 1  # the stabiliser did shift something


def check_xlstm_mlstm_projections():
    p, x = xl_mlstm_problem()
    H = p.hidden_size
    got = [a.numpy() for a in xl.mlstm_projections(_t(x), p.to_tensors())]
    for t in range(x.shape[0]):
        for n in range(x.shape[1]):
            for ours, ref in zip(got, xl_ref_projections(x[t, n], *p, H)):
                assert rel_err(ours[t, n], ref) < 1e-12


def _check_mlstm_recurrent(stabilise):
    for forget in ("exp", "sigmoid"):
        p, x = xl_mlstm_problem()
        hs_ref, C_ref, n_ref, _ = xl_ref_mlstm(x, *p, forget=forget)
        hs, state = xl.mlstm_forward(_t(x), p.to_tensors(), forget=forget, stabilise=stabilise)
        scale = np.exp(state.m.numpy()) if stabilise else np.ones(x.shape[1])
        assert rel_err(hs.numpy(), hs_ref) < 1e-12
        assert rel_err(state.C.numpy() * scale[:, None, None], C_ref) < 1e-12
        assert rel_err(state.n.numpy() * scale[:, None], n_ref) < 1e-12


def check_xlstm_mlstm_state():
    _check_mlstm_recurrent(stabilise=False)


def check_xlstm_mlstm_hidden():
    _check_mlstm_recurrent(stabilise=False)
    # both branches of max(|n_t^T q_t|, 1) occur in this problem, or the check would be half a check
    p, x = xl_mlstm_problem()
    H = p.hidden_size
    dots, nv = [], np.zeros((x.shape[1], H))
    for t in range(x.shape[0]):
        for n in range(x.shape[1]):
            q, k, _, _, a_i, a_f = xl_ref_projections(x[t, n], *p, H)
            nv[n] = np.exp(a_f) * nv[n] + np.exp(a_i) * k
            dots.append(abs(nv[n] @ q))
    assert min(dots) < 1 < max(dots), (min(dots), max(dots))


def check_xlstm_mlstm_stable_hidden():
    _check_mlstm_recurrent(stabilise=True)


def check_xlstm_retrieval():
    p, x = xl_mlstm_problem()
    H = p.hidden_size
    _, C_T, _, w = xl_ref_mlstm(x, *p)
    _, state = xl.mlstm_forward(_t(x), p.to_tensors(), stabilise=False)
    T = x.shape[0]
    q = xl_rng.standard_normal(H)
    for n in range(x.shape[1]):  # C_T q = sum_s w_{T,s} (k_s^T q) v_s
        pairs = [xl_ref_projections(x[s, n], *p, H) for s in range(T)]
        expected = sum(w[n, T - 1, s] * (pairs[s][1] @ q) * pairs[s][2] for s in range(T))
        assert rel_err(state.C[n].numpy() @ q, expected) < 1e-12
    # one-hot keys, f = i = 1: the query of pair p reads v_p exactly
    eye, values = np.eye(H), xl_rng.standard_normal((H, H))
    C = sum(np.outer(values[j], eye[j]) for j in range(H))
    state = xl.MLSTMState(_t(C[None]), _t(eye.sum(0)[None]), _t(np.zeros(1)))
    zero = _t(np.zeros(1))
    for j in range(H):
        h, _ = xl.mlstm_cell(_t(eye[j : j + 1]), _t(np.zeros((1, H))), _t(np.zeros((1, H))), _t(np.ones((1, H))),
                             zero - 1e4, zero, state)
        assert rel_err(h.numpy()[0], values[j]) < 1e-12


def _ref_parallel(x, W_ih, b, stabilise, forget="exp"):
    """eq:xlstm-mlstm-parallel (and its stabilised form) with explicit loops over t and s."""
    T, N, _ = x.shape
    H = (W_ih.shape[0] - 2) // 4
    hs, ms = np.zeros((T, N, H)), np.zeros((N, T))
    for n in range(N):
        proj = [xl_ref_projections(x[t, n], W_ih, b, H) for t in range(T)]
        log_f = [np.log(_np_forget(pr[5], forget)) for pr in proj]
        for t in range(T):
            D = np.array([sum(log_f[s + 1 : t + 1]) + proj[s][4] for s in range(t + 1)])
            m = D.max() if stabilise else 0.0
            S = np.array([(proj[t][0] @ proj[s][1]) * np.exp(D[s] - m) for s in range(t + 1)])
            numerator = sum(S[s] * proj[s][2] for s in range(t + 1))
            hs[t, n] = proj[t][3] * numerator / max(abs(S.sum()), np.exp(-m))
            ms[n, t] = m
    return hs, ms


def check_xlstm_mlstm_parallel():
    for forget in ("exp", "sigmoid"):
        p, x = xl_mlstm_problem()
        expected, _ = _ref_parallel(x, *p, stabilise=False, forget=forget)
        hs, _ = xl.mlstm_parallel(_t(x), p.to_tensors(), forget=forget, stabilise=False)
        assert rel_err(hs.numpy(), expected) < 1e-12
        assert rel_err(expected, xl_ref_mlstm(x, *p, forget=forget)[0]) < 1e-12  # = the recurrent form


def check_xlstm_parallel_stabiliser():
    p, x = xl_mlstm_problem()
    expected, ms = _ref_parallel(x, *p, stabilise=True)
    hs, state = xl.mlstm_parallel(_t(x), p.to_tensors())
    assert rel_err(hs.numpy(), expected) < 1e-12 and rel_err(state.m.numpy(), ms[:, -1]) < 1e-12
    assert np.max(np.abs(ms)) > 1  # the rows were shifted


XLSTM_CHECKS = {
    "eq:xlstm-exp-gates": check_xlstm_exp_gates,
    "eq:xlstm-slstm-state": check_xlstm_slstm_state,
    "eq:xlstm-slstm-hidden": check_xlstm_slstm_hidden,
    "eq:xlstm-weighted-average": check_xlstm_weighted_average,
    "eq:xlstm-stabiliser": check_xlstm_stabiliser,
    "eq:xlstm-stable-gates": check_xlstm_stable_gates,
    "eq:xlstm-stable-states": check_xlstm_stable_states,
    "eq:xlstm-mlstm-projections": check_xlstm_mlstm_projections,
    "eq:xlstm-mlstm-state": check_xlstm_mlstm_state,
    "eq:xlstm-mlstm-hidden": check_xlstm_mlstm_hidden,
    "eq:xlstm-retrieval": check_xlstm_retrieval,
    "eq:xlstm-mlstm-stable-hidden": check_xlstm_mlstm_stable_hidden,
    "eq:xlstm-mlstm-parallel": check_xlstm_mlstm_parallel,
    "eq:xlstm-parallel-stabiliser": check_xlstm_parallel_stabiliser,
}


def test_every_xlstm_label_is_implemented_and_checked():
    """Every equation of xlstm.md is cited by lstm_ref and has a numeric check, and no check is stale."""
    labels, cited = xlstm_chapter_labels(), cited_labels()
    assert len(labels) >= 10, labels  # guards the parser: the chapter has its equations
    assert sorted(labels - set(cited)) == [], "labels of xlstm.md that no code in lstm_ref cites"
    assert sorted(labels - set(XLSTM_CHECKS)) == [], "labels of xlstm.md without a check in XLSTM_CHECKS"
    assert sorted(set(XLSTM_CHECKS) - labels) == [], "checks for labels xlstm.md no longer defines"


@pytest.mark.parametrize("label", sorted(XLSTM_CHECKS))
def test_xlstm_equation_is_implemented_as_written(label):
    assert label in cited_labels(), f"{label} has a check but no code in lstm_ref cites it"
    XLSTM_CHECKS[label]()
