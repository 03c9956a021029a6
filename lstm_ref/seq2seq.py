"""Machine translation of dates: human-written dates -> ISO 8601, by an encoder-decoder LSTM.

Run by the book's chapter *Translating dates* (``book/translation.md``); trained by
``python -m lstm_ref.experiments seq2seq``.

- Data, generated in code: :data:`FORMATS` (twelve ways people write a date),
  :func:`format_date`, :func:`split_dates` (calendar dates split into a training and a
  held-out set), :func:`sample_pairs`, :func:`encode_sources`, :func:`encode_targets`.
- The rule baseline: :func:`rule_parse`, a hand-written parser.
- The model: :class:`DateTranslator`, an encoder LSTM and a decoder LSTM (both the book's
  :class:`lstm_ref.torch_lstm.LSTM`), with or without Luong attention
  (:func:`luong_attention`); trained with teacher forcing (:func:`translation_loss`,
  :func:`train_translator`) and decoded greedily (:func:`translate`).
- Scores: :func:`exact_match`.

Shapes: ``S`` source characters (left-padded), ``T'`` = 10 target characters, ``N``
examples, ``E`` embedding size, ``H`` hidden units.
"""
from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .torch_lstm import LSTM

__all__ = [
    "FORMATS", "MONTHS", "WEEKDAYS", "SOURCE_CHARS", "TARGET_CHARS", "TARGET_LEN", "DatePair",
    "format_date", "split_dates", "sample_pairs", "encode_sources", "encode_targets",
    "decode_targets", "rule_parse", "DateTranslator", "luong_attention",
    "translation_loss", "train_translator", "translate", "exact_match",
]

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST, LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)  # two-digit years are unambiguous here

#: Characters a source may contain; id 0 is the padding.
SOURCE_CHARS = string.ascii_letters + string.digits + " ,./-'"
#: Target characters; id 10 is '-', id 11 the start token <s> fed to the decoder first.
TARGET_CHARS = "0123456789-"
START = len(TARGET_CHARS)
TARGET_LEN = 10  # "YYYY-MM-DD"


# --- the data ------------------------------------------------------------------------------------
def _ordinal(d: int) -> str:
    """3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


#: name -> how it writes a date, with an example for 2021-03-03. Numbers with '/' are
#: month first (US); with '.' or '-' day first (European).
FORMATS: dict[str, Callable[[dt.date], str]] = {
    "3 March 2021": lambda d: f"{d.day} {_month(d)} {d.year}",
    "3rd of March 2021": lambda d: f"{_ordinal(d.day)} of {_month(d)} {d.year}",
    "March 3, 2021": lambda d: f"{_month(d)} {d.day}, {d.year}",
    "Mar 3 2021": lambda d: f"{_month(d)[:3]} {d.day} {d.year}",
    "Wednesday, March 3rd, 2021": lambda d: f"{WEEKDAYS[d.weekday()]}, {_month(d)} {_ordinal(d.day)}, {d.year}",
    "Wed 3/3/21": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.month}/{d.day}/{d.year % 100:02d}",
    "3/3/2021": lambda d: f"{d.month}/{d.day}/{d.year}",
    "03.03.2021": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "03-Mar-2021": lambda d: f"{d.day:02d}-{_month(d)[:3]}-{d.year}",
    "2021/03/03": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "3 mar 21": lambda d: f"{d.day} {_month(d)[:3].lower()} {d.year % 100:02d}",
    "Mar. 3rd, '21": lambda d: f"{_month(d)[:3]}. {_ordinal(d.day)}, '{d.year % 100:02d}",
}


def _typo(word: str, rng: np.random.Generator) -> str:
    """Drop one letter or swap two neighbours, never the first letter: 'March' -> 'Mrach'."""
    k = int(rng.integers(1, len(word) - 1))
    if rng.random() < 0.5:
        return word[:k] + word[k + 1:]
    return word[:k] + word[k + 1] + word[k] + word[k + 2:]


def format_date(d: dt.date, fmt: str, rng: np.random.Generator, typo: float = 0.0) -> str:
    """Write ``d`` in the format named ``fmt`` (a key of :data:`FORMATS`).

    With probability ``typo`` a full month name gets one typo (:func:`_typo`); the case of
    the whole text is then title (60 %), lower (30 %) or upper (10 %) for formats with
    words, so that 'march' and 'MARCH' both occur.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r} is not a format; expected one of {list(FORMATS)}")
    text = FORMATS[fmt](d)
    name = _month(d)
    if name in text and len(name) > 4 and rng.random() < typo:
        text = text.replace(name, _typo(name, rng))
    if any(ch.isalpha() for ch in text) and fmt != "3 mar 21":
        case = rng.choice(3, p=[0.6, 0.3, 0.1])
        text = (text, text.lower(), text.upper())[case]
    return text


def split_dates(held_out: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every date from 1950-01-01 to 2049-12-31, split at random into training and held-out.

    Returns two sorted int arrays of proleptic Gregorian ordinals (``date.toordinal()``):
    a held-out date never occurs in training, in any format.
    """
    if not 0 < held_out < 1:
        raise ValueError(f"held_out={held_out}; expected a fraction strictly between 0 and 1")
    days = np.arange(FIRST.toordinal(), LAST.toordinal() + 1)
    is_held_out = np.random.default_rng(seed).random(len(days)) < held_out
    return days[~is_held_out], days[is_held_out]


@dataclass(frozen=True)
class DatePair:
    """One example: ``source`` as a person wrote it, ``target`` in ISO form, ``format`` used."""

    source: str
    target: str
    format: str
    typo: bool = False


def sample_pairs(n: int, days: np.ndarray, rng: np.random.Generator, typo: float = 0.1,
                 formats: tuple[str, ...] | None = None) -> list[DatePair]:
    """``n`` pairs, each a date drawn from ``days`` (ordinals) in a format drawn uniformly."""
    formats = tuple(FORMATS) if formats is None else formats
    pairs = []
    for day, k in zip(rng.choice(days, size=n), rng.integers(len(formats), size=n)):
        d = dt.date.fromordinal(int(day))
        source = format_date(d, formats[k], rng, typo)
        clean = FORMATS[formats[k]](d)  # the same text without a typo, in its own case
        pairs.append(DatePair(source, d.isoformat(), formats[k], source.lower() != clean.lower()))
    return pairs


def encode_sources(texts: list[str]) -> Tensor:
    """N texts -> (S, N) int64 ids, **left**-padded with 0 to the longest, S = its length.

    Left padding puts every text's last character at the last step, so the encoder's
    final state follows the text for every row.
    """
    index = {ch: k + 1 for k, ch in enumerate(SOURCE_CHARS)}
    for text in texts:
        unknown = sorted(set(text) - index.keys())
        if unknown or not text:
            raise ValueError(f"source {text!r} has characters {unknown} outside SOURCE_CHARS "
                             f"or is empty; expected a non-empty text of {SOURCE_CHARS!r}")
    S = max(len(t) for t in texts)
    ids = [[0] * (S - len(t)) + [index[ch] for ch in t] for t in texts]
    return torch.tensor(ids, dtype=torch.long).T  # (N, S) -> (S, N)


def encode_targets(isos: list[str]) -> Tensor:
    """N ISO dates -> (T', N) int64 ids of their characters, T' = 10."""
    bad = [s for s in isos if len(s) != TARGET_LEN or set(s) - set(TARGET_CHARS)]
    if bad:
        raise ValueError(f"targets {bad[:3]} are not ISO dates; expected 'YYYY-MM-DD'")
    return torch.tensor([[TARGET_CHARS.index(ch) for ch in s] for s in isos], dtype=torch.long).T


def decode_targets(ids: Tensor) -> list[str]:
    """(T', N) ids -> N strings (the start token, never predicted, would read '^')."""
    chars = TARGET_CHARS + "^"
    return ["".join(chars[int(k)] for k in column) for column in ids.T]


# --- the rule baseline ---------------------------------------------------------------------------
_MONTH_WORDS = {m.lower(): k + 1 for k, m in enumerate(MONTHS)} | {m[:3].lower(): k + 1 for k, m in enumerate(MONTHS)}


def _year(token: str) -> int:
    """'2021' -> 2021; a two-digit year is 2000-2049 or 1950-1999."""
    y = int(token)
    return y if len(token) == 4 else (2000 + y if y < 50 else 1900 + y)


def rule_parse(text: str) -> str | None:
    """The baseline: a date parser written by hand, blind to the data's conventions.

    A month name or its three-letter abbreviation gives the month, a four-digit
    number the year; with a month name the first other number is the day and a
    remaining two-digit number the year. All-numeric dates are year/month/day when
    the year comes first, else month/day/year (the US order) unless the first number
    exceeds 12. Words it does not know (weekdays, 'of', ordinal endings, typos) are
    skipped. Returns the ISO date, or None when the numbers make no valid date.
    """
    tokens = re.findall(r"[a-z]+|\d+", text.lower())
    months = [_MONTH_WORDS[t] for t in tokens if t in _MONTH_WORDS]
    numbers = [t for t in tokens if t.isdigit()]
    try:
        if months and len(numbers) == 2:
            long_ = [t for t in numbers if len(t) == 4]
            day = next(t for t in numbers if t not in long_) if long_ else numbers[0]
            y, m, d = _year(long_[0] if long_ else numbers[1]), months[0], int(day)
        elif not months and len(numbers) == 3:
            a, b, c = numbers
            if len(a) == 4:
                y, m, d = _year(a), int(b), int(c)
            else:
                m, d = (int(a), int(b)) if int(a) <= 12 else (int(b), int(a))
                y = _year(c)
        else:
            return None
        return dt.date(y, m, d).isoformat()
    except ValueError:
        return None


# --- the model -----------------------------------------------------------------------------------
def luong_attention(
    h: Tensor, h_bar: Tensor, W_a: nn.Linear, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """Luong attention (eq:s2s-score, eq:s2s-attention-weights, eq:s2s-context).

    Parameters
    ----------
    h : (T', N, H) decoder states h_t
    h_bar : (S, N, H) encoder states h̄_s
    W_a : the bilinear map of the "general" score, e_{t,s} = h_t · W_a h̄_s
    mask : (S, N) bool, True at the padding (weight 0 there)

    Returns
    -------
    ctx : (T', N, H) context vectors, ctx_t = sum_s alpha_{t,s} h̄_s
    alpha : (N, T', S) attention weights, each row sums to 1
    """
    keys = W_a(h_bar).permute(1, 2, 0)  # (S, N, H) -> (N, H, S)
    e = torch.bmm(h.transpose(0, 1), keys)  # (N, T', H) @ (N, H, S) -> (N, T', S)
    e = e.masked_fill(mask.T[:, None, :], float("-inf"))  # padding never attended
    alpha = torch.softmax(e, dim=-1)  # over s
    ctx = torch.bmm(alpha, h_bar.transpose(0, 1))  # (N,T',S) @ (N,S,H) -> (N,T',H)
    return ctx.transpose(0, 1), alpha  # (T', N, H), (N, T', S)


class DateTranslator(nn.Module):
    """Encoder and decoder LSTMs (eq:s2s-encoder, eq:s2s-decoder), read out (eq:s2s-output) or with attention (eq:s2s-attentional-output).

    Both LSTMs are :class:`lstm_ref.torch_lstm.LSTM`; the decoder starts from the encoder's
    final state. Without attention the logits are W_y h_t + b_y; with attention
    W_y h̃_t + b_y, h̃_t = tanh(W_c [ctx_t, h_t] + b_c), ctx_t from :func:`luong_attention`.
    """

    def __init__(self, attention: bool, embed_size: int = 16, hidden_size: int = 64):
        super().__init__()
        H = hidden_size
        self.attention = attention
        self.embed_source = nn.Embedding(len(SOURCE_CHARS) + 1, embed_size, padding_idx=0)
        self.embed_target = nn.Embedding(len(TARGET_CHARS) + 1, embed_size)
        self.encoder = LSTM(embed_size, H)
        self.decoder = LSTM(embed_size, H)
        if attention:
            self.W_a = nn.Linear(H, H, bias=False)
            self.W_c = nn.Linear(2 * H, H)
        self.W_y = nn.Linear(H, len(TARGET_CHARS))

    def encode(self, src: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """src (S, N) ids -> h̄ (S, N, H) and the final (h̄_S, c̄_S), each (1, N, H)."""
        return self.encoder(self.embed_source(src))

    def read_out(self, h: Tensor, h_bar: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        """Decoder states (T', N, H) -> logits (T', N, 11) and the weights (N, T', S) or None."""
        if not self.attention:
            return self.W_y(h), None
        ctx, alpha = luong_attention(h, h_bar, self.W_a, mask)
        h_tilde = torch.tanh(self.W_c(torch.cat([ctx, h], dim=-1)))  # (T', N, H)
        return self.W_y(h_tilde), alpha

    def forward(self, src: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: src (S, N), tgt_in (T', N) -> logits (T', N, 11), weights.

        tgt_in is <s>, y_1 .. y_{T'-1}; the weights are (N, T', S), or None.
        """
        h_bar, state = self.encode(src)
        h, _ = self.decoder(self.embed_target(tgt_in), state)  # (T', N, H)
        return self.read_out(h, h_bar, src == 0)


def _teacher_inputs(tgt: Tensor) -> Tensor:
    """(T', N) targets -> (T', N) decoder inputs: <s> then the targets shifted by one."""
    return torch.cat([torch.full_like(tgt[:1], START), tgt[:-1]])


def translation_loss(model: DateTranslator, src: Tensor, tgt: Tensor) -> Tensor:
    """Mean cross-entropy of every target character under teacher forcing (eq:s2s-loss)."""
    logits, _ = model(src, _teacher_inputs(tgt))  # (T', N, 11)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))


def train_translator(model: DateTranslator, pairs: list[DatePair], steps: int, batch_size: int = 64,
                     lr: float = 3e-3, clip: float = 1.0, seed: int = 0, progress: bool = False,
                     callback: Callable[[int, float], None] | None = None) -> list[float]:
    """Adam on random batches of ``pairs``; returns the loss of every step.

    ``callback(step, loss)`` runs after every step (the experiment evaluates with it).
    """
    if len(pairs) < batch_size:
        raise ValueError(f"{len(pairs)} pairs for batch_size={batch_size}; expected at least batch_size pairs")
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in tqdm(range(1, steps + 1), desc="train", disable=not progress, mininterval=5.0, ascii=True, ncols=80):
        batch = [pairs[k] for k in rng.choice(len(pairs), size=batch_size, replace=False)]
        model.train()
        loss = translation_loss(model, encode_sources([p.source for p in batch]),
                                encode_targets([p.target for p in batch]))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
    return losses


@torch.no_grad()
def translate(model: DateTranslator, sources: list[str]) -> tuple[list[str], Tensor | None]:
    """Greedy decoding (eq:s2s-greedy): each step feeds back the likeliest character.

    Returns the N translations and, with attention, the weights (N, T', S), else
    None; column s of the weights is character s of the left-padded source.
    """
    model.eval()
    src = encode_sources(sources)
    h_bar, state = model.encode(src)
    y = torch.full((1, src.shape[1]), START, dtype=torch.long)  # (1, N): <s>
    outputs, alphas = [], []
    for _ in range(TARGET_LEN):
        h, state = model.decoder(model.embed_target(y), state)  # (1, N, H)
        logits, alpha = model.read_out(h, h_bar, src == 0)
        y = logits.argmax(dim=-1)  # (1, N)
        outputs.append(y)
        alphas.append(alpha)
    ids = torch.cat(outputs)  # (T', N)
    weights = torch.cat(alphas, dim=1) if model.attention else None  # (N, T', S)
    return decode_targets(ids), weights


def exact_match(predictions: list[str | None], targets: list[str]) -> float:
    """Fraction of predictions equal to their target, character for character."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets; expected as many, at least one")
    return sum(p == t for p, t in zip(predictions, targets)) / len(targets)
