"""Tests of ``lstm_ref.apps``, the models and helpers behind the chapter *Applications*.

The models are trained for real on tiny problems whose answer is known (a periodic text, a
sine wave), so a broken LSTM, loss or sampler makes them fail.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_ref import apps
from lstm_ref.torch_lstm import LSTM

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models here are tiny: one thread is faster than two, much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- data shipped in the repository -------------------------------------------------------------
def test_sonnets_text_is_the_whole_public_domain_file():
    text = (DATA / "shakespeare_sonnets.txt").read_text(encoding="ascii")
    assert text.startswith("THE SONNETS\nby William Shakespeare")
    assert "Shall I compare thee to a summer's day?" in text
    assert text.rstrip().endswith("Love's fire heats water, water cools not love.")


def test_sunspots_series_covers_1700_to_2008():
    years, spots = apps.load_series(DATA / "sunspots.csv")
    assert years.shape == spots.shape == (309,)
    assert (years[0], years[-1]) == (1700, 2008)
    assert np.all(np.diff(years) == 1)
    assert spots.min() >= 0 and 150 < spots.max() < 250  # the 1957 maximum, 190.2


def test_load_series_rejects_a_table_without_two_columns(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="3 columns; expected 2"):
        apps.load_series(path)


# --- character-level language model --------------------------------------------------------------
def test_vocab_round_trip_and_unknown_character():
    vocab = apps.CharVocab.from_text("hello, world")
    assert vocab.chars == " ,dehlorw"
    ids = vocab.encode("world hello")
    assert ids.dtype == torch.long and vocab.decode(ids) == "world hello"
    with pytest.raises(ValueError, match=r"\['z'\]"):
        vocab.encode("zero")
    with pytest.raises(ValueError, match="empty"):
        apps.CharVocab.from_text("")


def test_char_batches_targets_are_inputs_shifted_by_one():
    ids = torch.arange(100)
    x, y = apps.char_batches(ids, T=7, N=5, generator=torch.Generator().manual_seed(3))
    assert x.shape == y.shape == (7, 5)
    assert torch.equal(y, x + 1)  # ids = arange, so the next character is id + 1
    assert torch.equal(x[1:], x[:-1] + 1)  # each column is a contiguous window
    again, _ = apps.char_batches(ids, T=7, N=5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, again)
    with pytest.raises(ValueError, match=r"expected \(L,\) with L > T = 100"):
        apps.char_batches(ids, T=100, N=1, generator=torch.Generator())


def test_char_lm_runs_the_reference_lstm():
    model = apps.CharLM(vocab_size=11, embed_size=4, hidden_size=6)
    assert isinstance(model.lstm, LSTM)
    logits, (h, c) = model(torch.zeros(9, 3, dtype=torch.long))
    assert logits.shape == (9, 3, 11) and h.shape == c.shape == (1, 3, 6)


@pytest.fixture(scope="module")
def periodic_lm():
    """A CharLM trained on 'abcd' repeated: the next character is fully determined."""
    torch.manual_seed(0)
    vocab = apps.CharVocab.from_text("abcd")
    ids = vocab.encode("abcd" * 60)
    model = apps.CharLM(vocab.size, embed_size=4, hidden_size=16)
    losses = apps.train_char_lm(model, ids, steps=150, T=12, N=8, lr=1e-2, seed=0)
    return vocab, ids, model, losses


def test_training_learns_a_deterministic_text(periodic_lm):
    vocab, ids, model, losses = periodic_lm
    assert losses[0] > 1.0  # about ln 4 = 1.39 at the start
    assert losses[-1] < 0.05
    assert apps.char_loss(model, ids) < 0.05
    assert apps.unigram_loss(ids, ids, vocab.size) == pytest.approx(np.log(4), rel=1e-3)


def test_sampling_continues_the_learnt_pattern(periodic_lm):
    vocab, _, model, _ = periodic_lm
    text = apps.sample(model, vocab, "ab", length=20, temperature=0.5, seed=0)
    assert text == "ab" + "cdab" * 5
    assert apps.sample(model, vocab, "a", 30, temperature=1.5, seed=4) == apps.sample(
        model, vocab, "a", 30, temperature=1.5, seed=4
    )
    for bad, match in [({"temperature": 0.0}, "temperature"), ({"length": -1}, "length")]:
        with pytest.raises(ValueError, match=match):
            apps.sample(model, vocab, "a", **{"length": 5, **bad})
    with pytest.raises(ValueError, match="prime is empty"):
        apps.sample(model, vocab, "", 5)


def test_untrained_sampler_draws_from_the_whole_vocabulary():
    torch.manual_seed(0)
    vocab = apps.CharVocab.from_text("abcdefgh")
    model = apps.CharLM(vocab.size, embed_size=4, hidden_size=8)
    text = apps.sample(model, vocab, "a", length=400, temperature=1.0, seed=0)
    assert len(text) == 401 and set(text) == set(vocab.chars)


# --- forecasting ---------------------------------------------------------------------------------------
def test_make_windows_layout():
    X, y = apps.make_windows(np.arange(10.0), W=3)
    assert X.shape == (3, 7, 1) and y.shape == (7,)
    assert torch.equal(X[:, 2, 0], torch.tensor([2.0, 3.0, 4.0]))
    assert torch.equal(y, torch.arange(3.0, 10.0))
    assert torch.equal(apps.persistence(X), torch.arange(2.0, 9.0))
    with pytest.raises(ValueError, match="L > W = 10"):
        apps.make_windows(np.arange(10.0), W=10)


def test_metrics():
    assert apps.mae([1, 2, 3], [1, 4, 0]) == pytest.approx(5 / 3)
    assert apps.rmse([1, 2, 3], [1, 4, 0]) == pytest.approx(np.sqrt(13 / 3))


@pytest.fixture(scope="module")
def sine_forecaster():
    """A Forecaster trained on a noiseless sine with a period of 16 steps."""
    torch.manual_seed(0)
    series = np.sin(2 * np.pi * np.arange(200) / 16)
    X, y = apps.make_windows(series, W=10)
    model = apps.Forecaster(hidden_size=12)
    losses = apps.train_forecaster(model, X[:, :150], y[:150], epochs=150, lr=2e-2)
    return series, X, y, model, losses


def test_forecaster_beats_the_naive_forecast_on_a_sine(sine_forecaster):
    _, X, y, model, losses = sine_forecaster
    assert losses[-1] < 0.1 * losses[0]
    with torch.no_grad():
        forecast = model(X[:, 150:])
    naive = apps.persistence(X[:, 150:])
    assert apps.rmse(forecast, y[150:]) < 0.3 * apps.rmse(naive, y[150:])


def test_train_forecaster_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"expected \(W, M, 1\) and \(M,\)"):
        apps.train_forecaster(apps.Forecaster(4), torch.zeros(5, 8, 1), torch.zeros(7), epochs=1)


# --- anomaly detection ----------------------------------------------------------------------------------
def test_threshold_is_robust_to_the_outliers_it_must_catch():
    errors = np.r_[np.random.default_rng(0).uniform(-1, 1, size=1000), 50.0, -80.0]
    tau = apps.anomaly_threshold(errors, k=4.0)
    assert 1.5 < tau < 2.5  # median 0.5 + 4 · 1.4826 · 0.25, not pulled up by 50 and -80
    assert np.mean(np.abs(errors)) + 4 * np.std(np.abs(errors)) > 10  # what mean/std would give
    assert list(np.flatnonzero(apps.flag_anomalies(errors, tau))) == [1000, 1001]
    with pytest.raises(ValueError, match="L >= 2"):
        apps.anomaly_threshold([1.0])


def test_forecast_error_flags_an_injected_spike(sine_forecaster):
    series, _, _, model, _ = sine_forecaster
    corrupted = series.copy()
    corrupted[180] += 1.5
    X, y = apps.make_windows(corrupted, W=10)
    with torch.no_grad():
        errors = (model(X) - y).numpy()
    tau = apps.anomaly_threshold(errors[:150])
    flagged = np.flatnonzero(apps.flag_anomalies(errors, tau)) + 10  # window m forecasts m + W
    assert 180 in flagged
    assert not any(flagged < 180)


def test_online_detection_raises_one_alarm_per_anomaly(sine_forecaster):
    series, X, y, model, _ = sine_forecaster
    with torch.no_grad():
        tau = apps.anomaly_threshold((model(X[:, 100:150]) - y[100:150]).numpy())
    corrupted = series.copy()
    corrupted[[170, 185]] += [1.5, -1.2]
    errors, flags = apps.detect_online(model, corrupted, W=10, start=160, threshold=tau)
    assert errors.shape == flags.shape == (40,)
    assert list(np.flatnonzero(flags) + 160) == [170, 185]
    _, clean_flags = apps.detect_online(model, series, W=10, start=160, threshold=tau)
    assert not clean_flags.any()
    with pytest.raises(ValueError, match="W = 10 <= start < L"):
        apps.detect_online(model, series, W=10, start=5, threshold=tau)
