"""Small applications of the reference LSTM, run by the book's chapter *Applications*.

Every model here is built on :class:`lstm_ref.torch_lstm.LSTM`, the drop-in for a
single-layer ``torch.nn.LSTM`` whose backward pass is the hand-written BPTT of the book.

- Character-level language model: :class:`CharVocab`, :func:`char_batches`,
  :class:`CharLM`, :func:`train_char_lm`, :func:`char_loss`, :func:`unigram_loss`,
  :func:`sample`.
- One-step-ahead forecasting: :func:`load_series`, :func:`make_windows`,
  :class:`Forecaster`, :func:`train_forecaster`, :func:`persistence`, :func:`mae`,
  :func:`rmse`.
- Anomaly detection from forecast error: :func:`anomaly_threshold`,
  :func:`flag_anomalies`, :func:`detect_online`.

Shapes follow the book: time-major ``(T, N, ...)``, ``V`` the vocabulary size, ``W`` the
window length of a forecast, ``M`` the number of windows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from .torch_lstm import LSTM

__all__ = [
    "CharVocab",
    "char_batches",
    "CharLM",
    "train_char_lm",
    "char_loss",
    "unigram_loss",
    "sample",
    "load_series",
    "make_windows",
    "Forecaster",
    "train_forecaster",
    "persistence",
    "mae",
    "rmse",
    "anomaly_threshold",
    "flag_anomalies",
    "detect_online",
]


# --- character-level language model ---------------------------------------------------
@dataclass(frozen=True)
class CharVocab:
    """The characters of a text, each mapped to an integer id (sorted: stable ids)."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        if not text:
            raise ValueError(
                "text is empty; expected at least one character to build a vocabulary"
            )
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Tensor:
        """text of length L -> (L,) int64 tensor of ids."""
        index = {ch: k for k, ch in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(
                f"text has characters {unknown!r} that are not in the vocabulary "
                f"{self.chars!r}"
            )
        return torch.tensor([index[ch] for ch in text], dtype=torch.long)

    def decode(self, ids) -> str:
        """(L,) ids -> text of length L."""
        return "".join(self.chars[int(k)] for k in ids)


def char_batches(
    ids: Tensor, T: int, N: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """N random windows of T characters and, for each, the character that follows.

    Parameters
    ----------
    ids : (L,) int64 tensor, the encoded text, L > T
    T, N : window length and number of windows
    generator : torch.Generator, so that a seeded run draws the same windows

    Returns
    -------
    x : (T, N) int64 tensor, ``x[t, n] = ids[s_n + t]``
    y : (T, N) int64 tensor, the targets ``y[t, n] = ids[s_n + t + 1]`` (x shifted by
        one)
    """
    if ids.ndim != 1 or len(ids) <= T:
        raise ValueError(
            f"ids has shape {tuple(ids.shape)}; expected (L,) with L > T = {T}"
        )
    starts = torch.randint(0, len(ids) - T, (N,), generator=generator)  # (N,)
    offsets = torch.arange(T)[:, None] + starts[None, :]  # (T, N)
    return ids[offsets], ids[offsets + 1]


class CharLM(nn.Module):
    """Embedding -> reference LSTM -> linear read-out of the next character's logits."""

    def __init__(self, vocab_size: int, embed_size: int = 32, hidden_size: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = LSTM(embed_size, hidden_size)  # lstm_ref's drop-in for nn.LSTM
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        """x : (T, N) ids -> logits (T, N, V) and the final ``(h_T, c_T)``.

        ``h_T`` and ``c_T`` are each (1, N, H), as ``nn.LSTM`` returns them.
        """
        hs, state = self.lstm(self.embed(x), state)  # (T, N, E) -> (T, N, H)
        return self.head(hs), state


def _cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean of -log p(y) over all T·N positions (eq:app-lm-loss).

    logits : (T, N, V), y : (T, N) -> scalar tensor
    """
    V = logits.shape[-1]
    return nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))


def train_char_lm(
    model: CharLM,
    ids: Tensor,
    steps: int,
    T: int = 64,
    N: int = 32,
    lr: float = 3e-3,
    clip: float = 1.0,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` to predict each next character; returns the loss per step.

    The loss is the mean cross-entropy of a batch, in nats per character.

    Adam on random windows; the gradient norm is clipped at ``clip`` because a recurrent
    network's gradient can still explode (see the chapter on gradient flow).
    """
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    progress = tqdm(
        range(steps), desc="char LM", mininterval=10.0, ascii=True, ncols=72
    )
    for _ in progress:
        x, y = char_batches(ids, T, N, generator)
        logits, _ = model(x)
        loss = _cross_entropy(logits, y)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        losses.append(loss.item())
        progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return losses


@torch.no_grad()
def char_loss(model: CharLM, ids: Tensor, T: int = 256) -> float:
    """Mean cross-entropy (nats/char) of ``model`` on the text ``ids``, read in order.

    The text is cut into consecutive chunks of T characters; the state is carried from
    one chunk to the next, so every character is predicted from everything before it.
    """
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"ids has shape {tuple(ids.shape)}; expected (L,) with L >= 2")
    total, state = 0.0, None
    for start in range(0, len(ids) - 1, T):
        x = ids[start : start + T]
        y = ids[start + 1 : start + T + 1]
        x = x[: len(y)]  # the last chunk has no target for its last character
        logits, state = model(x[:, None], state)  # (T, 1, V)
        total += _cross_entropy(logits, y[:, None]).item() * len(y)
    return total / (len(ids) - 1)


def unigram_loss(train_ids: Tensor, test_ids: Tensor, vocab_size: int) -> float:
    """Cross-entropy (nats/char) on ``test_ids`` of the letter counts of ``train_ids``.

    The baseline a language model must beat: it knows how common each character is, and
    nothing about order. Add-one smoothing keeps unseen characters finite.
    """
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1.0
    log_p = torch.log(counts / counts.sum())
    return float(-log_p[test_ids].mean())


@torch.no_grad()
def sample(
    model: CharLM,
    vocab: CharVocab,
    prime: str,
    length: int,
    temperature: float = 0.8,
    seed: int = 0,
) -> str:
    """``length`` characters after ``prime``, each sampled by (eq:app-temperature).

    Each sampled character is fed back in as the next input.

    ``temperature`` < 1 sharpens the predicted distribution (safer, more repetitive
    text), > 1 flattens it (more surprising, more misspelt).
    """
    if not prime:
        raise ValueError(
            "prime is empty; expected at least one character to start from"
        )
    if temperature <= 0:
        raise ValueError(f"temperature is {temperature}; expected a positive number")
    if length < 0:
        raise ValueError(
            f"length is {length}; expected a non-negative number of characters"
        )
    generator = torch.Generator().manual_seed(seed)
    logits, state = model(vocab.encode(prime)[:, None])  # read the prime: (T, 1, V)
    out = []
    for _ in range(length):
        # (V,) (eq:app-temperature)
        p = torch.softmax(logits[-1, 0] / temperature, dim=-1)
        k = torch.multinomial(p, 1, generator=generator)  # (1,)
        out.append(int(k))
        logits, state = model(k[:, None], state)  # one step: (1, 1, V)
    return prime + vocab.decode(out)


# --- one-step-ahead forecasting -------------------------------------------------------
def load_series(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """CSV with a header and two columns (time, value) -> ``(times, values)``, (L,)."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if table.shape[1] != 2:
        raise ValueError(
            f"{path} has {table.shape[1]} columns; expected 2 (time, value)"
        )
    return table[:, 0], table[:, 1]


def make_windows(series: np.ndarray, W: int) -> tuple[Tensor, Tensor]:
    """Every window of W consecutive values and the value that follows it.

    Parameters
    ----------
    series : (L,) array, L > W
    W : window length

    Returns
    -------
    X : (W, M, 1) float32 tensor, time-major, ``X[:, m, 0] = series[m : m + W]``,
        M = L - W
    y : (M,) float32 tensor, ``y[m] = series[m + W]``
    """
    series = np.asarray(series, dtype=np.float32)
    if series.ndim != 1 or len(series) <= W or W < 1:
        raise ValueError(
            f"series has shape {series.shape}; expected (L,) with L > W = {W} >= 1"
        )
    M = len(series) - W
    X = np.stack([series[m : m + W] for m in range(M)], axis=1)  # (W, M)
    return torch.from_numpy(X[:, :, None]), torch.from_numpy(series[W:].copy())


class Forecaster(nn.Module):
    """Reference LSTM over a window, then a linear read-out of the next value.

    The read-out sees only the window's last hidden state h_T.
    """

    def __init__(self, hidden_size: int = 32, input_size: int = 1):
        super().__init__()
        self.lstm = LSTM(input_size, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, X: Tensor) -> Tensor:
        """X : (W, M, 1) windows -> (M,) one-step-ahead predictions."""
        _, (h_T, _) = self.lstm(X)  # h_T: (1, M, H)
        return self.head(h_T[0])[:, 0]


def train_forecaster(
    model: Forecaster,
    X: Tensor,
    y: Tensor,
    epochs: int,
    lr: float = 1e-2,
    seed: int = 0,
) -> list[float]:
    """Full-batch Adam on the mean squared error (eq:app-mse); the loss per epoch."""
    if X.ndim != 3 or y.shape != (X.shape[1],):
        raise ValueError(
            f"X has shape {tuple(X.shape)} and y {tuple(y.shape)}; "
            "expected (W, M, 1) and (M,)"
        )
    # nothing here is random today; kept so that a change stays reproducible
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    progress = tqdm(
        range(epochs), desc="forecaster", mininterval=10.0, ascii=True, ncols=72
    )
    for _ in progress:
        loss = nn.functional.mse_loss(model(X), y)  # (eq:app-mse)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        progress.set_postfix(mse=f"{loss.item():.4f}", refresh=False)
    return losses


def persistence(X: Tensor) -> Tensor:
    """The naive forecast: tomorrow looks like today. X (W, M, 1) -> (M,) last value."""
    return X[-1, :, 0]


def mae(prediction, truth) -> float:
    """Mean absolute error of two equal-length 1-D sequences."""
    e = np.asarray(prediction, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.mean(np.abs(e)))


def rmse(prediction, truth) -> float:
    """Root mean squared error of two equal-length 1-D sequences."""
    e = np.asarray(prediction, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(math.sqrt(np.mean(e**2)))


# --- anomaly detection from forecast error --------------------------------------------
def anomaly_threshold(errors, k: float = 4.0) -> float:
    """Threshold τ = median + k · 1.4826 · MAD of |errors| (eq:app-threshold).

    ``errors`` are forecast errors on data taken as normal. Median and median absolute
    deviation (MAD, scaled by 1.4826 to match a standard deviation under a normal
    distribution) are used instead of mean and standard deviation because they are not
    pulled up by the very outliers we want to catch.
    """
    a = np.abs(np.asarray(errors, dtype=np.float64))
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"errors has shape {a.shape}; expected (L,) with L >= 2")
    median = np.median(a)
    mad = np.median(np.abs(a - median))
    return float(median + k * 1.4826 * mad)  # (eq:app-threshold)


def flag_anomalies(errors, threshold: float) -> np.ndarray:
    """(L,) forecast errors -> (L,) bool, True where |error| exceeds the threshold."""
    return np.abs(np.asarray(errors, dtype=np.float64)) > threshold


@torch.no_grad()
def detect_online(
    model: Forecaster, series: np.ndarray, W: int, start: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Check ``series[start:]`` one value at a time, as a monitor receiving it would.

    Each value is compared with the forecast from the W values before it. A value whose
    |error| exceeds ``threshold`` is flagged and, in the inputs of later forecasts,
    replaced by its forecast: one anomaly then raises one alarm, not another at the next
    step from the forecast it spoilt.

    Parameters
    ----------
    model : Forecaster trained on data scaled like ``series``
    series : (L,) array, the observed values, scaled like the model's training data
    W : window length the model was trained with
    start : index of the first value to check, start >= W
    threshold : on |value - forecast|, in the units of ``series``

    Returns
    -------
    errors : (L - start,) array, value - forecast
    flags : (L - start,) bool array, True where |error| > threshold
    """
    clean = np.array(series, dtype=np.float32)  # (L,), flagged values get replaced
    if clean.ndim != 1 or not W <= start < len(clean):
        raise ValueError(
            f"series has shape {clean.shape} and start = {start}; "
            f"expected (L,) with W = {W} <= start < L"
        )
    errors = np.empty(len(clean) - start)
    for t in range(start, len(clean)):
        window = torch.from_numpy(clean[t - W : t]).reshape(W, 1, 1)  # (W, 1, 1)
        forecast = float(model(window)[0])
        errors[t - start] = clean[t] - forecast
        if abs(errors[t - start]) > threshold:
            clean[t] = forecast  # keep the anomaly out of later windows
    return errors, flag_anomalies(errors, threshold)
