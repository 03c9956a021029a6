"""Every named mistake points to the chapter and the equation that explain the right computation.

The references live in one table, ``lstm_ref.grading.mistakes.SEE`` (topic -> chapter file,
equation label or, where the book has no equation, a section heading). Here they are
checked against the book's sources (``_toc.yml`` and the chapters it lists, parsed, no
build needed) and, where ``_build/html`` is at least as new as a chapter, against the ids
Sphinx gave its equations and sections. Then every mistake of every catalogue must have a
topic, and failing checks must show the reference, on lines that the 83-column wrapping
leaves whole.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lstm_ref import grading
from lstm_ref.grading import cases, mistakes, torch_checks
from lstm_ref.grading._facing import WIDTH
from lstm_ref.params import LSTMParams
from test_equations import CODE_DIRECTIVES, display_equations

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


# --- the book's chapters, parsed --------------------------------------------------------------
def toc_files() -> set[str]:
    """Every ``file:`` of ``_toc.yml`` (and its root), as written there: ``book/cell``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    found = {toc["root"]}

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.add(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return found


def source(doc: str, tmp: Path) -> Path:
    """The chapter's MyST source; a notebook's Markdown cells are written out to ``tmp``."""
    md, nb = ROOT / f"{doc}.md", ROOT / f"{doc}.ipynb"
    if md.exists():
        return md
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    text = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    out = tmp / f"{doc.replace('/', '_')}.md"
    out.write_text(text, encoding="utf-8")
    return out


def headings(path: Path) -> list[tuple[int, str]]:
    """``(level, text)`` of the Markdown headings, outside code fences."""
    found, fences = [], []  # open fences: (backtick count, is code)
    for line in path.read_text(encoding="utf-8").split("\n"):
        fence = re.match(r"^\s*(`{3,}|~{3,})(.*)$", line)
        if fence:
            n, info = len(fence.group(1)), fence.group(2).strip()
            directive = info.split()[0] if info else ""
            if not info and fences and n >= fences[-1][0]:
                fences.pop()
            elif not any(code for _, code in fences):
                fences.append((n, not directive.startswith("{") or directive in CODE_DIRECTIVES))
            continue
        heading = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if heading and not any(code for _, code in fences):
            found.append((len(heading.group(1)), heading.group(2)))
    return found


def reference_problems(doc: str, target: str, tmp: Path) -> list[str]:
    """What is wrong with a reference to ``target`` (equation label or heading) in ``doc``."""
    if doc not in toc_files():
        return [f"{doc} is not a chapter of _toc.yml"]
    if not (ROOT / f"{doc}.md").exists() and not (ROOT / f"{doc}.ipynb").exists():
        return [f"{doc} has no source, {doc}.md or {doc}.ipynb"]
    path = source(doc, tmp)
    problems = []
    titles = [text for level, text in headings(path) if level == 1]
    if not titles or titles[0] != mistakes.CHAPTERS.get(doc):
        problems.append(f"{doc} is titled {titles[:1]}, the table says {mistakes.CHAPTERS.get(doc)!r}")
    if target.startswith("eq:"):
        labels = {label for _, label in display_equations(path) if label}
        if target not in labels:
            problems.append(f"no equation labelled ({target}) in {path.name}; its labels: {sorted(labels)}")
    elif target not in {text for level, text in headings(path) if level > 1}:
        problems.append(f"no section headed {target!r} in {path.name}")
    return problems


# --- the table --------------------------------------------------------------------------------
@pytest.mark.parametrize("topic", sorted(mistakes.SEE))
def test_each_reference_names_a_chapter_of_the_toc_and_a_label_of_that_chapter(topic, tmp_path):
    doc, target = mistakes.SEE[topic]
    assert reference_problems(doc, target, tmp_path) == []


@pytest.mark.parametrize("doc, target", [
    ("book/cell", "eq:forget-gates"),         # a misspelt label
    ("book/cell", "eq:bptt-dW"),              # a real label, in another chapter
    ("book/cel", "eq:forget-gate"),           # a chapter that is not in the toc
    ("book/sequence", "Initial state"),       # a misspelt heading
])
def test_a_misspelt_reference_is_caught(doc, target, tmp_path):
    assert reference_problems(doc, target, tmp_path)


# --- the release notebooks point back to the book ------------------------------------------------
ADDRESS = re.compile(r"`(book/[a-z_]+)\.html(?:#([a-z0-9-]+))?`")  # as the notebooks write them


def notebook_addresses() -> list[tuple[str, str, str]]:
    """``(notebook, doc, anchor)`` for every book address in the release notebooks' Markdown."""
    found = []
    for nb in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        found += [(nb.name, doc, anchor) for doc, anchor in ADDRESS.findall(text)]
    return found


def address_problem(doc: str, anchor: str, tmp: Path) -> str | None:
    """Why ``book/<doc>.html#<anchor>`` would not open at that place, or None."""
    if doc not in toc_files():
        return f"{doc} is not a chapter of _toc.yml"
    path = source(doc, tmp)
    anchors = {mistakes.anchor(label) for _, label in display_equations(path) if label}
    anchors |= {mistakes.anchor(text) for level, text in headings(path) if level > 1}
    return None if not anchor or anchor in anchors else f"{doc} has no equation or section #{anchor}"


def test_every_notebook_names_places_of_the_book_that_exist(tmp_path):
    """Each section of a release notebook names the chapter and equation it practises by their
    address in the built book (parsed from the sources here; test_browser opens the pages)."""
    addresses = notebook_addresses()
    assert len({nb for nb, _, _ in addresses}) == len(list((ROOT / "exercises").glob("*/*.ipynb")))
    problems = {(nb, doc, anchor, address_problem(doc, anchor, tmp_path)) for nb, doc, anchor in addresses}
    assert [p for p in problems if p[3]] == []


@pytest.mark.parametrize("doc, anchor", [("book/cell", "equation-eq-forget-gates"), ("book/cel", ""),
                                         ("book/experiments", "how-the-experiment-was-run")])
def test_a_wrong_notebook_address_is_caught(doc, anchor, tmp_path):
    assert address_problem(doc, anchor, tmp_path)


def test_every_chapter_title_in_the_table_is_used():
    assert set(mistakes.CHAPTERS) == {doc for doc, _ in mistakes.SEE.values()}


@pytest.mark.parametrize("doc", sorted(d for d in toc_files() if (ROOT / f"{d}.md").exists()))
def test_anchors_are_the_ids_of_the_built_html(doc, tmp_path):
    """The ids Sphinx wrote for every labelled equation and section, where the build is current."""
    page, src = HTML / f"{doc}.html", ROOT / f"{doc}.md"
    if not page.exists() or page.stat().st_mtime < src.stat().st_mtime:
        pytest.skip(f"no current build of {doc} under _build/html")
    ids = set(re.findall(r'\sid="([^"]+)"', page.read_text(encoding="utf-8")))
    targets = [label for _, label in display_equations(src) if label]
    targets += [text for level, text in headings(src) if level > 1 and "{" not in text]  # roles render otherwise
    assert [t for t in targets if mistakes.anchor(t) not in ids] == []


@pytest.mark.parametrize("doc", sorted(d for d in toc_files() if (ROOT / f"{d}.md").exists()))
def test_heading_anchors_agree_with_docutils(doc):
    """Without a build: every heading's anchor is what docutils' make_id gives it (an en dash,
    an accent or a formula in a heading included)."""
    from docutils.nodes import make_id

    texts = [text.replace("$", "") for level, text in headings(ROOT / f"{doc}.md") if level > 1 and "{" not in text]
    assert [(t, mistakes.anchor(t)) for t in texts if mistakes.anchor(t) != make_id(t)] == []


# --- every mistake has a topic ----------------------------------------------------------------
def _catalogue() -> list[tuple[str, str]]:
    """``(where, description)`` of every mistake the catalogues model."""
    found = []
    for name in cases.OUTPUTS:
        args = cases._inputs(name, cases.CASES[0])
        found += [(name, d) for d, _ in mistakes._mistakes(name, args)]
    found += [("_STEP_BACKWARD_MISTAKES", d) for d, _ in mistakes._STEP_BACKWARD_MISTAKES]
    found += [("_TRAIN_MISTAKES", d) for d, _ in torch_checks._TRAIN_MISTAKES]
    found += [("_DETACHED", torch_checks._DETACHED)]
    return found


def test_every_modelled_mistake_has_a_topic_of_the_table():
    catalogue = _catalogue()
    assert len(catalogue) > 100  # the permutations of the gate order and the blocks alone are 2 × 23 + 12
    untopical = [(where, d) for where, d in catalogue if getattr(d, "topic", None) not in mistakes.SEE]
    assert untopical == []


def test_the_checks_with_plain_mistakes_are_real_checks():
    assert set(mistakes.TOPIC_OF_CHECK) <= {"params_from_torch", "params_to_torch", "numerical_gradient"}
    assert set(mistakes.TOPIC_OF_CHECK.values()) <= set(mistakes.SEE)


def test_a_named_description_is_still_the_description():
    d = mistakes.Named("bias left out", "f")
    assert d == "bias left out" and f"{d}." == "bias left out." and "left out" in d
    import pickle
    assert pickle.loads(pickle.dumps(d)).topic == "f"
    with pytest.raises(KeyError):
        mistakes.Named("x", "no such topic")


@pytest.mark.parametrize("topic", sorted(mistakes.SEE))
def test_each_reference_fits_the_message_width(topic):
    lines = mistakes.see(mistakes.Named("x", topic), indent="  ").split("\n")[1:]
    assert len(lines) == 2 and all(len(line) <= WIDTH for line in lines), lines


# --- what a learner sees ----------------------------------------------------------------------
def _raw(check, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


def _expected(topic: str) -> tuple[str, str]:
    """The reference line and the link line, as the message shows them (whitespace aside)."""
    doc, target = mistakes.SEE[topic]
    what = f"equation ({target})" if target.startswith("eq:") else f'"{target}"'
    return f'See {what} in "{mistakes.CHAPTERS[doc]}":', f"{doc}.html#{mistakes.anchor(target)}"


def _shows(message: str, topic: str, says: str) -> None:
    flat = " ".join(message.split())
    reference, link = _expected(topic)
    assert says in flat and f"{reference} {link}" in flat, message
    assert link in message.split("\n")[-1], message  # the link is the last line, whole
    assert all(len(line) <= WIDTH for line in message.split("\n")), message


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _forget_gate_without_bias(x, h_prev, W_f, b_f):
    return _sigmoid(np.concatenate([h_prev, x], axis=1) @ W_f.T)


def _lstm_step_ifog(x, h_prev, c_prev, params):
    """CS231n's gate order i, f, o, g."""
    H = h_prev.shape[1]
    a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
    i, f, o = (_sigmoid(a[:, k * H:(k + 1) * H]) for k in (0, 1, 2))
    c = f * c_prev + i * np.tanh(a[:, 3 * H:])
    return o * np.tanh(c), c, None


def _lstm_forward_from_zeros(x, params, h0=None, c0=None):
    N, H = x.shape[1], params.W_hh.shape[1]
    h, c, hs = np.zeros((N, H)), np.zeros((N, H)), []
    for x_t in x:
        a = x_t @ params.W_ih.T + h @ params.W_hh.T + params.b
        i, f, o = (_sigmoid(a[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
        c = f * c + i * np.tanh(a[:, 2 * H:3 * H])
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs), (h, c), None


def _lstm_backward_last_grads(dhs, cache, dh_T=None, dc_T=None):
    """Parameter gradients overwritten at every step instead of summed."""
    T = cache.x.shape[0]
    dh_next = np.zeros_like(cache.h0) if dh_T is None else dh_T
    dc_next = np.zeros_like(cache.c0) if dc_T is None else dc_T
    dx = np.empty_like(cache.x)
    for t in reversed(range(T)):
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        h_prev = cache.hs[t - 1] if t else cache.h0
        c_prev = cache.cs[t - 1] if t else cache.c0
        step = (cache.x[t], h_prev, c_prev, i, f, g, o, cache.tanh_cs[t], cache.params)
        dx[t], dh_next, dc_next, grads = mistakes._step_backward_variant(dhs[t] + dh_next, dc_next, step)
    return dx, dh_next, dc_next, grads


def _params_from_torch_without_bias_hh(lstm):
    return LSTMParams(*(p.detach().numpy().copy() for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0)))


def _forward_difference(f, x, h=1e-6):
    grad, f0 = np.zeros_like(x), f()
    for k in np.ndindex(x.shape):
        old = x[k]
        x[k] = old + h
        grad[k] = (f() - f0) / h
        x[k] = old
    return grad


def _norms_of_states(loss, hs):
    return torch.stack([h.norm() for h in hs])


def _torch_step_detached(x, h_prev, c_prev, params):
    i, f, g, o = (x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b).chunk(4, dim=1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return (torch.sigmoid(o) * torch.tanh(c)).detach(), c, None


def _train_without_zero_grad(model, steps=150, lr=0.01):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        x, y = grading.memory_task(20, 64, seed=step)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("check, args, topic, says", [
    (grading.check_function, (_forget_gate_without_bias, "forget_gate"), "f", "Likely mistake: bias left out."),
    (grading.check_function, (_lstm_step_ifog, "lstm_step"), "a", "gate order swapped"),
    (grading.check_function, (_lstm_forward_from_zeros, "lstm_forward"), "h0, c0", "initial states ignored"),
    (grading.check_function, (_lstm_backward_last_grads, "lstm_backward"), "dW", "not summed over time"),
    (grading.check_params_from_torch, (_params_from_torch_without_bias_hh,), "a", "dropped bias_hh when porting"),
    (grading.check_numerical_gradient, (_forward_difference,), "numerical gradient", "forward difference"),
    (grading.check_hidden_grad_norms, (_norms_of_states,), "grad norms", "norms of the hidden states themselves"),
    (grading.check_torch_autograd, (_torch_step_detached,), "autograd", "hidden from autograd"),
    (grading.check_training, (_train_without_zero_grad, None, [1.0] * 150), "training", "zero_grad() is missing"),
], ids=["gate", "step", "forward", "backward", "porting", "numerical-gradient", "grad-norms", "autograd",
        "training"])
def test_a_failing_check_shows_the_reference(check, args, topic, says):
    _shows(_raw(check, *args), topic, says)


def test_the_message_ends_with_the_reference_as_written_here():
    """The table's entry for f, spelt out: what the learner reads, and where the link leads."""
    message = _raw(grading.check_function, _forget_gate_without_bias, "forget_gate")
    assert message.split("\n")[-3:] == [
        "  Likely mistake: bias left out.",
        '  See equation (eq:forget-gate) in "The LSTM cell":',
        "    book/cell.html#equation-eq-forget-gate",
    ]


def test_a_mistake_matching_no_model_gets_no_reference():
    def off_by_a_bit(o, c):
        out = o * np.tanh(c)
        out[0, 2] += 0.25
        return out

    message = _raw(grading.check_function, off_by_a_bit, "hidden_state")
    assert "No known mistake matches" in message and "See equation" not in message
