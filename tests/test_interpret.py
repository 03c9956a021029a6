"""Tests of ``lstm_ref.interpret`` (book/interpretable.md) and of the results it made.

The correlation measure is checked on synthetic units whose correlation is known in
closed form, the selection on units built to fool a measure that chooses and reports on
the same text, and the activations against the torch model they are copied from.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_ref import apps, interpret

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "cells.json"


# --- tracked quantities ---------------------------------------------------------------
def test_quantities_of_a_known_text():
    text = "ab c\n  de\n\nf"
    q = interpret.tracked_quantities(text)
    assert set(q) == set(interpret.QUANTITIES)
    assert q["position in line"].tolist() == [1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0, 1]
    assert q["position in word"].tolist() == [1, 2, 0, 1, 0, 0, 0, 1, 2, 0, 0, 1]
    assert q["line in stanza"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 0, 0]
    assert q["indented line"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    assert q["end of line near"].tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="empty"):
        interpret.tracked_quantities("")


# --- the correlation measure ----------------------------------------------------------
def test_correlation_of_a_synthetic_unit_matches_the_closed_form():
    """a = q + sigma * noise has r = std(q) / sqrt(var(q) + sigma^2)."""
    rng = np.random.default_rng(0)
    q = rng.normal(size=200_000) * 2.0  # std 2
    A = np.stack([q + s * rng.normal(size=q.size) for s in (0.0, 1.0, 2.0, 4.0)], axis=1)
    A = np.concatenate([A, -A[:, :1], 3 + 0.5 * A[:, :1]], axis=1)  # sign and scale
    r = interpret.correlations(A, q)
    expected = [2 / np.sqrt(4 + s**2) for s in (0.0, 1.0, 2.0, 4.0)] + [-1.0, 1.0]
    np.testing.assert_allclose(r, expected, atol=5e-3)


def test_correlation_agrees_with_numpy_and_handles_a_dead_unit():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(50, 3))
    A[:, 2] = 0.7  # a unit that never changes
    q = A[:, 0] + rng.normal(size=50)
    r = interpret.correlations(A, q)
    assert r[0] == pytest.approx(np.corrcoef(A[:, 0], q)[0, 1])
    assert r[2] == 0.0
    with pytest.raises(ValueError, match="constant"):
        interpret.correlations(A, np.ones(50))
    with pytest.raises(ValueError, match=r"expected \(L, U\) and \(L,\)"):
        interpret.correlations(A, q[:-1])


def test_selection_on_one_split_is_reported_on_the_other():
    """A unit that matches q only on the selection split is chosen but reported near 0."""
    rng = np.random.default_rng(2)
    q_sel, q_rep = rng.normal(size=(2, 5000))
    honest = lambda q: q + rng.normal(size=q.size)  # noqa: E731 -- r = 1/sqrt(2) on both
    A_sel = np.stack([q_sel + 0.1 * rng.normal(size=5000), honest(q_sel), rng.normal(size=5000)], 1)
    A_rep = np.stack([rng.normal(size=5000), honest(q_rep), rng.normal(size=5000)], 1)
    rows = interpret.find_units(A_sel, q_sel, A_rep, q_rep, k=2)
    assert [row["unit"] for row in rows] == [0, 1]  # chosen by the selection split alone
    assert rows[0]["r_select"] > 0.99 and abs(rows[0]["r_report"]) < 0.05
    assert rows[1]["r_report"] == pytest.approx(1 / np.sqrt(2), abs=0.03)
    with pytest.raises(ValueError, match="1 <= k <= U"):
        interpret.find_units(A_sel, q_sel, A_rep, q_rep, k=4)


# --- activations and the picture ------------------------------------------------------
def test_activations_are_the_models_states_at_every_step():
    torch.manual_seed(0)
    model = apps.CharLM(7, embed_size=4, hidden_size=5)
    ids = torch.randint(0, 7, (30,))
    A = interpret.activations(model, ids)
    assert A.shape == (30, 10)
    with torch.no_grad():
        hs, (h_T, c_T) = model.lstm(model.embed(ids)[:, None])
        _, (_, c_10) = model.lstm(model.embed(ids[:10])[:, None])
    np.testing.assert_allclose(A[:, :5], hs[:, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(A[-1, 5:], c_T[0, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(A[9, 5:], c_10[0, 0].numpy(), atol=1e-6)
    assert interpret.unit_names(5)[5] == "c0"


def test_colour_html_colours_each_character_and_escapes():
    out = interpret.colour_html("a<\n", [1.0, -1.0, 0.0])
    assert out.count("<span") == 3 and "&lt;" in out and "⏎" in out
    assert "rgb(255, 0, 0)" in out and "rgb(0, 0, 255)" in out and "rgb(255, 255, 255)" in out
    with pytest.raises(ValueError, match=r"expected \(3,\)"):
        interpret.colour_html("abc", [0.0, 1.0])


# --- the committed result -------------------------------------------------------------
@pytest.mark.skipif(not RESULTS.exists(), reason="results/cells.json not made yet")
def test_committed_correlations_reproduce_from_the_committed_weights():
    """The chapter's numbers: re-measured from the weights and the text, as the command did."""
    from lstm_ref.experiments.cells import CellsConfig, split_text

    result = json.loads(RESULTS.read_text())
    assert result["command"].startswith("python -m lstm_ref.experiments cells")
    cfg = CellsConfig(**result["config"])
    text = (ROOT / result["text"]["path"]).read_text()
    vocab = apps.CharVocab.from_text(text)
    model = apps.CharLM(vocab.size, cfg.embed_size, cfg.hidden_size)
    model.load_state_dict(torch.load(RESULTS.with_name(result["weights"])))
    report = split_text(text, cfg)["report"]
    A = interpret.activations(model, vocab.encode(report))
    q = interpret.tracked_quantities(report)
    names = interpret.unit_names(cfg.hidden_size)
    for quantity, rows in result["trained"].items():
        for row in rows:
            r = interpret.correlations(A[:, [names.index(row["name"])]], q[quantity])[0]
            assert r == pytest.approx(row["r_report"], abs=1e-3), (quantity, row)


def test_experiment_command_measures_a_tiny_model(tmp_path):
    from lstm_ref.experiments.cells import CellsConfig, run_cells

    text = ("ab cd ef\n  gh ij\n\n" * 40)[:-1]
    cfg = CellsConfig(hidden_size=6, embed_size=4, steps=2, T=8, N=2, top_k=2)
    source = tmp_path / "text.txt"
    source.write_text(text)
    result = run_cells(cfg, tmp_path / "cells.json", "python -m lstm_ref.experiments cells --steps 2", source)
    saved = json.loads((tmp_path / "cells.json").read_text())
    assert saved["command"] == result["command"] and (tmp_path / saved["weights"]).is_file()
    assert set(saved["trained"]) == set(interpret.QUANTITIES) == set(saved["untrained"])
    assert all(len(rows) == 2 and -1 <= rows[0]["r_report"] <= 1 for rows in saved["trained"].values())
