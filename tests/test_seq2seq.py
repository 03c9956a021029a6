"""Tests of ``lstm_ref.seq2seq`` (dates -> ISO) and its experiment, run by book/translation.md.

The data generator is checked against the examples its format names promise, the rule
baseline against dates it must and must not read, attention against a loop written from
its equations, and the model by a short training run whose loss must fall.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_ref import seq2seq as s2s
from lstm_ref.experiments import seq2seq as exp

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "seq2seq_dates.json"
MARCH_3 = dt.date(2021, 3, 3)  # a Wednesday: every format's name is this date in that format


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(s2s.FORMATS))
def test_each_format_writes_the_example_in_its_name(fmt):
    rng = np.random.default_rng(0)
    for _ in range(5):  # the case varies; the text does not
        assert s2s.format_date(MARCH_3, fmt, rng).lower() == fmt.lower()


def test_ordinals_and_two_digit_years():
    rng = np.random.default_rng(0)
    days = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st",
            22: "22nd", 23: "23rd", 31: "31st"}
    for d, text in days.items():
        assert s2s.format_date(dt.date(2005, 1, d), "3rd of March 2021", rng).lower() == f"{text} of january 2005"
    assert s2s.format_date(dt.date(1950, 1, 9), "3 mar 21", rng) == "9 jan 50"


def test_typos_change_one_letter_of_the_month_name_only():
    rng = np.random.default_rng(1)
    pairs = s2s.sample_pairs(300, np.array([dt.date(2021, 9, 13).toordinal()]), rng, typo=1.0,
                             formats=("3 March 2021",))
    assert all(p.typo for p in pairs)
    for p in pairs:
        day, month, year = p.source.lower().split()
        assert (day, year) == ("13", "2021") and month != "september"
        dropped = ["september"[:k] + "september"[k + 1:] for k in range(1, 8)]
        swapped = ["september"[:k] + "september"[k + 1] + "september"[k] + "september"[k + 2:] for k in range(1, 8)]
        assert month in dropped + swapped, month


def test_split_covers_the_calendar_once():
    train, held = s2s.split_dates(0.1, seed=3)
    every = np.arange(dt.date(1950, 1, 1).toordinal(), dt.date(2049, 12, 31).toordinal() + 1)
    assert np.array_equal(np.sort(np.concatenate([train, held])), every)
    assert not set(train) & set(held)
    assert 0.09 < len(held) / len(every) < 0.11
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        s2s.split_dates(1.0)


def test_pairs_come_from_their_dates_and_are_well_formed():
    train, held = s2s.split_dates()
    pairs = s2s.sample_pairs(400, held, np.random.default_rng(0))
    held_set = set(held.tolist())
    assert {p.format for p in pairs} == set(s2s.FORMATS)
    for p in pairs:
        assert dt.date.fromisoformat(p.target).toordinal() in held_set
        assert set(p.source) <= set(s2s.SOURCE_CHARS)
    assert 0 < sum(p.typo for p in pairs) < 0.1 * len(pairs)


def test_encoding_pads_on_the_left_and_rejects_bad_text():
    src = s2s.encode_sources(["3/3/21", "March 3, 2021"])
    assert src.shape == (13, 2) and src.dtype == torch.long
    assert (src[:7, 0] == 0).all() and (src[7:, 0] > 0).all() and (src[:, 1] > 0).all()
    tgt = s2s.encode_targets(["2021-03-03", "1950-12-31"])
    assert tgt.shape == (10, 2) and s2s.decode_targets(tgt) == ["2021-03-03", "1950-12-31"]
    with pytest.raises(ValueError, match=r"characters \['é'\]"):
        s2s.encode_sources(["3 févr. 2021"])
    with pytest.raises(ValueError, match="expected 'YYYY-MM-DD'"):
        s2s.encode_targets(["2021-3-3"])


# --- the rule baseline ---------------------------------------------------------------------------
def test_rules_read_every_format_when_the_day_exceeds_12():
    rng = np.random.default_rng(0)
    for d in (dt.date(2021, 3, 23), dt.date(1950, 12, 31), dt.date(2049, 2, 13)):
        for fmt in s2s.FORMATS:
            text = s2s.format_date(d, fmt, rng)
            assert s2s.rule_parse(text) == d.isoformat(), (fmt, text)


def test_rules_fail_where_documented():
    assert s2s.rule_parse("04.03.2021") == "2021-04-03"  # read in the US order: wrong, it is 4 March
    assert s2s.rule_parse("Mrach 3, 2021") is None  # a typo hides the month
    assert s2s.rule_parse("31/2/2021") is None  # no such date
    assert s2s.rule_parse("Tue 3/2/49") == "2049-03-02" and s2s.rule_parse("3 jan 50") == "1950-01-03"


# --- the model -----------------------------------------------------------------------------------
def test_attention_matches_its_equations_and_weights_sum_to_one():
    torch.manual_seed(0)
    S, T, N, H = 5, 3, 2, 4
    h, h_bar = torch.randn(T, N, H, dtype=torch.float64), torch.randn(S, N, H, dtype=torch.float64)
    W_a = torch.nn.Linear(H, H, bias=False).double()
    mask = torch.zeros(S, N, dtype=torch.bool)
    mask[:2, 1] = True  # example 1 has two padding steps
    ctx, alpha = s2s.luong_attention(h, h_bar, W_a, mask)
    assert ctx.shape == (T, N, H) and alpha.shape == (N, T, S)
    for n in range(N):
        for t in range(T):
            e = torch.stack([h[t, n] @ W_a.weight @ h_bar[s, n] for s in range(S)])  # eq:s2s-score
            e[mask[:, n]] = -torch.inf
            a = torch.softmax(e, dim=0)
            torch.testing.assert_close(alpha[n, t], a, rtol=0, atol=1e-12)
            torch.testing.assert_close(ctx[t, n], (a[:, None] * h_bar[:, n]).sum(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(N, T, dtype=torch.float64))
    assert (alpha[1, :, :2] == 0).all()


@pytest.mark.parametrize("attention", [False, True])
def test_model_shapes_and_greedy_decoding(attention):
    torch.manual_seed(0)
    model = s2s.DateTranslator(attention, embed_size=8, hidden_size=16)
    sources = ["3/3/21", "Wednesday, March 3rd, 2021"]
    logits, alpha = model(s2s.encode_sources(sources), s2s.encode_targets(["2021-03-03"] * 2))
    assert logits.shape == (10, 2, len(s2s.TARGET_CHARS))
    outputs, weights = s2s.translate(model, sources)
    assert [len(o) for o in outputs] == [10, 10] and all(set(o) <= set(s2s.TARGET_CHARS) for o in outputs)
    if attention:
        assert alpha.shape == weights.shape == (2, 10, 26)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 10))
        assert (weights[0, :, :20] == 0).all()  # the left padding of the short source
    else:
        assert alpha is None and weights is None


def test_a_short_training_run_reduces_the_loss():
    train, _ = s2s.split_dates()
    pairs = s2s.sample_pairs(256, train, np.random.default_rng(0), formats=("2021/03/03", "03.03.2021"))
    torch.manual_seed(0)
    model = s2s.DateTranslator(True, embed_size=8, hidden_size=32)
    losses = s2s.train_translator(model, pairs, steps=60, batch_size=32, lr=1e-2)
    assert np.mean(losses[:5]) > 2.0  # about ln 11 at the start
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


def test_exact_match_counts_and_checks_lengths():
    assert s2s.exact_match(["2021-03-03", None, "2021-03-04"], ["2021-03-03"] * 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="2 predictions for 3 targets"):
        s2s.exact_match(["a", "b"], ["a", "b", "c"])


# --- the experiment ------------------------------------------------------------------------------
def test_command_line_writes_a_result_file(tmp_path):
    from lstm_ref.experiments.__main__ import main

    out = tmp_path / "dates.json"
    argv = ["seq2seq", "--seeds", "1", "--steps", "4", "--n-train", "200", "--n-test", "40", "--eval-size", "20",
            "--eval-every", "2", "--hidden-size", "8", "--embed-size", "4", "--no-progress", "--out", str(out)]
    result = main(argv)
    saved = json.loads(out.read_text())
    assert saved["command"] == "python -m lstm_ref.experiments " + " ".join(argv)
    assert [r["model"] for r in saved["runs"]] == ["plain", "attention"]
    assert [row["model"] for row in saved["summary"]] == ["rules", "plain", "attention"]
    assert [p[0] for p in saved["runs"][0]["curve"]] == [2, 4]
    weights = np.array(saved["runs"][1]["attention"][0]["weights"])
    assert weights.shape == (10, len(saved["runs"][1]["attention"][0]["source"]))
    assert np.allclose(weights.sum(1), 1, atol=0.01)
    assert result["baseline"]["exact_match"] == saved["baseline"]["exact_match"] > 0.8


def test_committed_results_match_the_generator_and_the_rules():
    """The file was made by the generator and baseline in the repository now: re-score the rules."""
    if not RESULTS.exists():
        pytest.skip("results/seq2seq_dates.json not made yet")
    saved = json.loads(RESULTS.read_text())
    assert saved["command"].startswith("python -m lstm_ref.experiments seq2seq")
    cfg = exp.DatesConfig(**saved["config"])
    _, test = exp.make_data(cfg)
    assert [[q.source, q.target, q.format] for q in test[: exp.SHOWN]] == saved["test_examples"]
    assert exp.score([s2s.rule_parse(q.source) for q in test], test) == saved["baseline"]
    for run in saved["runs"]:
        assert run["config"] == saved["config"] and len(run["curve"]) >= 2
