"""Music composition with the reference LSTM: Bach chorales as note events (book/music.md).

The path of a chorale through this module::

    notes (K, 3) --to_events--> events --EventVocab.encode--> ids (L,)
    ids --apps.CharLM--> next-event logits --sample_events--> events
    events --from_events--> notes --piano_roll / synthesise + wav_bytes--> picture, sound

- Data: :func:`load_chorales` reads ``data/bach_chorales.json.gz`` (written once by
  ``scripts/convert_chorales.py`` from the chorales inside music21), :func:`transpose_to_c`,
  :func:`split_chorales`.
- Encoding: :func:`to_events`, :func:`from_events`,
  :class:`EventVocab`, :func:`encode_corpus`.
- Baselines: :func:`ngram_loss` (n = 1 unigram, n = 2 bigram) and :func:`choose_alpha`.
- The model is :class:`lstm_ref.apps.CharLM` (embedding, reference LSTM, linear read-out),
  which works on any token ids; :func:`sample_events` samples a chorale from it.
- Sound: :func:`piano_roll`, :func:`synthesise`, :func:`wav_bytes`, :func:`audio_html`.

A note is ``(pitch, start, end)``: MIDI pitch (60 is middle C) and times in sixteenth
notes, ``end > start``. Shapes: ``K`` notes, ``L`` events, ``V`` the vocabulary size,
``S`` samples of sound.
"""
from __future__ import annotations

import base64
import gzip
import io
import json
import math
import re
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "Chorale", "load_chorales", "transpose_to_c", "split_chorales",
    "to_events", "from_events", "EventVocab", "encode_corpus", "ngram_loss",
    "choose_alpha", "sample_events", "piano_roll", "synthesise", "wav_bytes",
    "audio_html", "END", "MAX_STEP",
]

END = "end"  # closes a chorale; the token a new chorale is sampled after
MAX_STEP = 16  # the longest single shift or length, in sixteenths (a whole note)
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


# --- data -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Chorale:
    """One chorale: its name (``"bwv1.6"``), key (``"F major"``) and notes (K, 3)."""

    id: str
    key: str
    time_signature: str | None
    notes: np.ndarray  # (K, 3) int: pitch, start, end (sixteenths)


def load_chorales(path: str | Path) -> list[Chorale]:
    """Read the file that ``scripts/convert_chorales.py`` writes (voices dropped)."""
    with gzip.open(path, "rt") as f:
        data = json.load(f)
    return [
        Chorale(c["id"], c["key"], c["time_signature"],
                np.array(c["notes"], dtype=np.int64).reshape(-1, 4)[:, :3])
        for c in data["chorales"]
    ]


def _tonic(key: str) -> tuple[int, str]:
    """``"F# minor"`` or music21's ``"b- major"`` -> (pitch class, mode)."""
    match = re.fullmatch(r"([A-Ga-g])([#-]*) (major|minor)", key)
    if not match:
        raise ValueError(f"key {key!r}; expected e.g. 'F major', 'g minor', 'b- major'")
    letter, accidentals, mode = match.groups()
    shift = accidentals.count("#") - accidentals.count("-")
    return (_PITCH_CLASS[letter.upper()] + shift) % 12, mode


def transpose_to_c(chorale: Chorale) -> np.ndarray:
    """The notes (K, 3) moved to C major or A minor, by at most 6 semitones."""
    tonic, mode = _tonic(chorale.key)
    target = 0 if mode == "major" else 9
    shift = (target - tonic + 6) % 12 - 6  # in -6 .. 5
    return chorale.notes + np.array([shift, 0, 0])


def split_chorales(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[list[int], ...]:
    """Indices of n chorales, shuffled with ``seed``, cut into train/validation/test."""
    if n < len(fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"n={n}, fractions={fractions}; expected n >= {len(fractions)} "
                         "and fractions that sum to 1")
    order = np.random.default_rng(seed).permutation(n).tolist()
    cuts = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
    return tuple(sorted(part) for part in np.split(order, cuts))


# --- note events ----------------------------------------------------------------------
def _check_notes(notes) -> np.ndarray:
    notes = np.asarray(notes, dtype=np.int64)
    if notes.ndim != 2 or notes.shape[1] != 3:
        raise ValueError(f"notes has shape {notes.shape}; expected (K, 3): pitch, start, end")
    if len(notes) and (notes[:, 2] <= notes[:, 1]).any():
        raise ValueError("a note ends before it starts; expected end > start for every note")
    if len(notes) and notes[:, 1].min() < 0:
        raise ValueError("a note starts before time 0; expected start >= 0")
    return notes


def _sorted_notes(notes) -> np.ndarray:
    """Notes (K, 3) in the order the events list them: by start, pitch, then end."""
    notes = _check_notes(notes)
    return notes[np.lexsort((notes[:, 2], notes[:, 0], notes[:, 1]))]


def _steps(kind: str, length: int) -> list[str]:
    """``length`` sixteenths as ``"kind:S"`` events of at most MAX_STEP each."""
    full, rest = divmod(length, MAX_STEP)
    return [f"{kind}:{MAX_STEP}"] * full + ([f"{kind}:{rest}"] if rest else [])


def to_events(notes) -> list[str]:
    """Notes (K, 3) -> events ``"on:P"``, ``"len:D"``, ``"shift:S"``, ending in ``"end"``.

    Each note is ``"on:P"`` followed by its length in ``"len:D"`` events (one, or
    several that add up when the note is longer than MAX_STEP sixteenths); the notes that
    start together are listed from low to high, then ``"shift:S"`` moves time on to the
    next start (several for a long gap). A note never has to be switched off, so a
    sampled note cannot be left sounding forever.
    """
    events, now = [], 0
    for pitch, start, end in _sorted_notes(notes).tolist():
        events += _steps("shift", start - now)
        events += [f"on:{pitch}"] + _steps("len", end - start)
        now = start
    return events + [END]


def from_events(events) -> np.ndarray:
    """Events -> notes (K, 3), sorted by start, pitch, end; stops at the first ``"end"``.

    Forgiving, because sampled events need not be well formed: a ``"len"`` that follows
    no ``"on"`` is ignored, and so is an ``"on"`` that no ``"len"`` follows.
    """
    notes, now, note = [], 0, None  # note: [pitch, start, end] still taking lengths
    for event in list(events) + [END]:
        kind, _, value = event.partition(":")
        if kind == "len" and note is not None:
            note[2] += int(value)
            continue
        if note is not None and note[2] > note[1]:
            notes.append(note)
        note = None
        if kind == "end":
            break
        if kind == "shift":
            now += int(value)
        elif kind == "on":
            note = [int(value), now, now]
        elif kind != "len":
            raise ValueError(f"event {event!r}; expected 'on:P', 'len:D', 'shift:S' or 'end'")
    return _sorted_notes(np.array(notes, dtype=np.int64).reshape(-1, 3))


@dataclass(frozen=True)
class EventVocab:
    """Every event of pitches ``low .. high`` and steps 1 .. MAX_STEP, mapped to ids.

    Id 0 is ``"end"``, then the shifts, the lengths and the ``"on"`` of each pitch:
    ``V = 1 + 2 MAX_STEP + (high - low + 1)``.
    """

    low: int
    high: int

    def __post_init__(self):
        if not 0 <= self.low <= self.high <= 127:
            raise ValueError(f"pitches {self.low}..{self.high}; expected 0 <= low <= high <= 127")

    @classmethod
    def from_notes(cls, *note_arrays) -> "EventVocab":
        """The smallest vocabulary that holds every pitch of the given (K, 3) arrays."""
        pitches = np.concatenate([np.asarray(n)[:, 0] for n in note_arrays])
        return cls(int(pitches.min()), int(pitches.max()))

    @property
    def events(self) -> list[str]:
        steps = range(1, MAX_STEP + 1)
        return ([END] + [f"shift:{s}" for s in steps] + [f"len:{d}" for d in steps]
                + [f"on:{p}" for p in range(self.low, self.high + 1)])

    @property
    def size(self) -> int:
        return 1 + 2 * MAX_STEP + (self.high - self.low + 1)

    def encode(self, events) -> Tensor:
        """L events -> (L,) int64 ids."""
        index = {e: k for k, e in enumerate(self.events)}
        unknown = sorted(set(events) - index.keys())
        if unknown:
            raise ValueError(f"events {unknown[:5]} are not in the vocabulary of pitches "
                             f"{self.low}..{self.high} and steps 1..{MAX_STEP}")
        return torch.tensor([index[e] for e in events], dtype=torch.long)

    def decode(self, ids) -> list[str]:
        """(L,) ids -> L events."""
        events = self.events
        return [events[int(k)] for k in ids]


def encode_corpus(note_arrays, vocab: EventVocab) -> Tensor:
    """Chorales, each (K, 3) notes -> their events, joined: (L,) ids, each ending in end."""
    return torch.cat([vocab.encode(to_events(notes)) for notes in note_arrays])


# --- n-gram baselines -----------------------------------------------------------------
def _ngram_counts(ids: list[int], n: int) -> tuple[Counter, Counter]:
    grams = Counter(tuple(ids[t - n + 1 : t + 1]) for t in range(n - 1, len(ids)))
    contexts = Counter()
    for gram, count in grams.items():
        contexts[gram[:-1]] += count
    return grams, contexts


def ngram_loss(train_ids, test_ids, vocab_size: int, n: int = 2,
               alpha: float = 1.0) -> float:
    """Cross-entropy (nats/event) of add-alpha n-gram counts (eq:music-ngram).

    Counted on ``train_ids``; n = 1 is the unigram model, n = 2 the bigram model.
    Every event of ``test_ids`` from index n - 1 on is predicted from the n - 1
    events before it.
    """
    if n < 1 or alpha <= 0:
        raise ValueError(f"n={n}, alpha={alpha}; expected n >= 1 and alpha > 0")
    train, test = [int(k) for k in train_ids], [int(k) for k in test_ids]
    if len(test) < n:
        raise ValueError(f"test_ids has {len(test)} events; "
                         f"expected at least n = {n}")
    grams, contexts = _ngram_counts(train, n)
    total = 0.0
    for t in range(n - 1, len(test)):
        gram = tuple(test[t - n + 1 : t + 1])
        # (eq:music-ngram)
        p = (grams[gram] + alpha) / (contexts[gram[:-1]] + alpha * vocab_size)
        total -= math.log(p)
    return total / (len(test) - n + 1)


def choose_alpha(fit_ids, val_ids, vocab_size: int, n: int,
                 alphas=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)) -> float:
    """The alpha of ``alphas`` whose n-gram counted on ``fit_ids`` best predicts ``val_ids``."""
    losses = [ngram_loss(fit_ids, val_ids, vocab_size, n, a) for a in alphas]
    return alphas[int(np.argmin(losses))]


# --- sampling -------------------------------------------------------------------------
@torch.no_grad()
def sample_events(model, vocab: EventVocab, prime=(END,), max_events: int = 600,
                  temperature: float = 1.0, seed: int = 0, min_events: int = 0) -> list[str]:
    """Events sampled by (eq:app-temperature) after ``prime``, up to ``"end"``.

    ``model`` maps ids (T, 1) to logits (T, 1, V) and a state, as
    :class:`lstm_ref.apps.CharLM` does. The default prime ``("end",)`` asks for a chorale
    from its start. ``"end"`` cannot be drawn before ``min_events`` events (its
    probability is set to 0 and the rest renormalised). Returns the sampled events only,
    without the prime or the end.
    """
    if temperature <= 0 or not 0 <= min_events <= max_events or max_events < 1 or not prime:
        raise ValueError(f"temperature={temperature}, min_events={min_events}, max_events={max_events}, "
                         f"prime={prime!r}; expected temperature > 0, 0 <= min_events <= max_events, "
                         "max_events >= 1 and a non-empty prime")
    generator = torch.Generator().manual_seed(seed)
    logits, state = model(vocab.encode(list(prime))[:, None])  # (T, 1, V)
    out = []
    for n in range(max_events):
        p = torch.softmax(logits[-1, 0] / temperature, dim=-1)  # (V,) (eq:app-temperature)
        if n < min_events:
            p[0] = 0.0  # no "end" yet; multinomial renormalises
        k = torch.multinomial(p, 1, generator=generator)  # (1,)
        if int(k) == 0:  # "end"
            break
        out.append(int(k))
        logits, state = model(k[:, None], state)  # one step: (1, 1, V)
    return vocab.decode(out)


# --- picture and sound ----------------------------------------------------------------
def piano_roll(notes, low: int, high: int) -> np.ndarray:
    """Notes (K, 3) -> (high - low + 1, S) bool, row r = pitch low + r, column = sixteenth."""
    notes = _check_notes(notes)
    steps = int(notes[:, 2].max()) if len(notes) else 0
    roll = np.zeros((high - low + 1, steps), dtype=bool)
    for pitch, start, end in notes.tolist():
        if not low <= pitch <= high:
            raise ValueError(f"pitch {pitch} is outside the roll's {low}..{high}")
        roll[pitch - low, start:end] = True
    return roll


def synthesise(notes, rate: int = 8000, step_seconds: float = 0.15,
               harmonics=(1.0, 0.5, 0.25, 0.125)) -> np.ndarray:
    """Notes (K, 3) -> (S,) float64 sound in [-1, 1], organ-like (eq:music-tone).

    Each note is a sum of harmonics of f = 440 · 2^((p - 69)/12) Hz (eq:music-pitch),
    shaped by a 10 ms rise and a 40 ms fall so that it does not click.
    """
    notes = _check_notes(notes)
    if rate < 1000 or step_seconds <= 0:
        raise ValueError(f"rate={rate}, step_seconds={step_seconds}; "
                         "expected rate >= 1000 samples/s and step_seconds > 0")
    S = int(round((notes[:, 2].max() if len(notes) else 0) * step_seconds * rate))
    sound = np.zeros(S)
    for pitch, start, end in notes.tolist():
        a, b = (int(round(t * step_seconds * rate)) for t in (start, end))
        sound[a:b] += _tone(pitch, b - a, rate, harmonics)
    peak = np.abs(sound).max() if S else 0.0
    return sound / peak * 0.9 if peak > 0 else sound


def _tone(pitch: int, length: int, rate: int, harmonics) -> np.ndarray:
    """One note of ``length`` samples (eq:music-tone)."""
    f = 440.0 * 2.0 ** ((pitch - 69) / 12)  # (eq:music-pitch)
    t = np.arange(length) / rate
    wave = sum(a * np.sin(2 * np.pi * (k + 1) * f * t)
               for k, a in enumerate(harmonics) if (k + 1) * f < rate / 2)
    rise, fall = (min(length, int(s * rate)) for s in (0.010, 0.040))
    envelope = np.ones(length)
    envelope[:rise] = np.linspace(0, 1, rise, endpoint=False)
    tail = envelope[length - fall :]  # a view: the last `fall` samples
    tail[:] = np.minimum(tail, np.linspace(1, 0, fall))
    return wave * envelope


def wav_bytes(sound, rate: int = 8000) -> bytes:
    """(S,) sound in [-1, 1] -> a mono 16-bit PCM WAV file: 44-byte header + 2S bytes."""
    sound = np.asarray(sound, dtype=np.float64)
    if sound.ndim != 1 or not np.isfinite(sound).all() or np.abs(sound).max(initial=0) > 1:
        raise ValueError(f"sound has shape {sound.shape}; expected (S,) finite values in [-1, 1]")
    pcm = np.round(sound * 32767).astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16,
        1, 1, rate, 2 * rate, 2, 16,  # PCM, mono, rate, bytes/s, bytes/sample, bits
        b"data", len(pcm))
    buffer = io.BytesIO()
    buffer.write(header)
    buffer.write(pcm)
    return buffer.getvalue()


def audio_html(wav: bytes, label: str = "sampled chorale") -> str:
    """An HTML ``<audio>`` element that plays ``wav`` from a data: URL (works offline)."""
    data = base64.b64encode(wav).decode("ascii")
    return (f'<audio controls preload="auto" aria-label="{label}" '
            f'src="data:audio/wav;base64,{data}"></audio>')
