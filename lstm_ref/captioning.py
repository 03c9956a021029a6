"""Image captioning on synthetic scenes: a small CNN encoder and an LSTM decoder.

Run by the book's chapter *Captioning images* (``book/captioning.md``); trained by
``python -m lstm_ref.experiments captioning``.

- Scenes, generated in code: two coloured shapes, one left of or above the other
  (:class:`Scene`, :func:`random_scene`), drawn with NumPy (:func:`render`), captioned
  "a red circle left of a blue square" (:attr:`Scene.caption`); :func:`make_batch`,
  :func:`encode_captions`.
- The model: :class:`Captioner`, a CNN's image vector fed with every word to the book's
  LSTM (:class:`lstm_ref.torch_lstm.LSTM`), trained with teacher forcing
  (:func:`caption_loss`, :func:`train_captioner`) and decoded greedily (:func:`generate`).
- Scores: :func:`corpus_bleu` (BLEU, written out here and tested), :func:`exact_match`,
  :func:`slot_accuracy`; the baseline :func:`most_frequent_caption`.

Shapes: images ``(N, 3, SIZE, SIZE)`` (channels first, as ``nn.Conv2d``), word ids
time-major ``(L, N)``, ``E`` embedding size, ``H`` hidden units.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .torch_lstm import LSTM

__all__ = [
    "COLOURS", "SHAPES", "RELATIONS", "WORDS", "SIZE", "Shape", "Scene", "check_pairs", "random_scene", "render",
    "make_batch", "encode_captions", "decode_captions", "Captioner", "caption_loss",
    "train_captioner", "greedy_ids", "generate", "ngram_counts", "modified_precision", "brevity_penalty",
    "corpus_bleu", "exact_match", "slot_accuracy", "most_frequent_caption",
]

#: RGB in [0, 1] of each colour word, before a small random jitter.
COLOURS = {"red": (0.9, 0.15, 0.15), "green": (0.15, 0.75, 0.2), "blue": (0.2, 0.35, 0.95),
           "yellow": (0.95, 0.85, 0.1)}
SHAPES = ("circle", "square", "triangle")
RELATIONS = ("left of", "above")  # the first object is always the left or the upper one
PAD, START, END = 0, 1, 2
WORDS = ("<pad>", "<start>", "<end>", "a", "left", "of", "above", *COLOURS, *SHAPES)
SIZE = 32  # image side in pixels


# --- scenes --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """One object: colour and shape words, centre (x to the right, y down), half-size r."""

    colour: str
    shape: str
    x: int
    y: int
    r: int


@dataclass(frozen=True)
class Scene:
    """Two objects; ``first`` is left of (or above) ``second``, as ``relation`` says."""

    first: Shape
    second: Shape
    relation: str

    @property
    def caption(self) -> str:
        a, b = self.first, self.second
        return f"a {a.colour} {a.shape} {self.relation} a {b.colour} {b.shape}"


def _place(rng: np.random.Generator, r1: int, r2: int) -> tuple[int, int, int, int]:
    """Centres (u1, v1, u2, v2) with u1 < u2 far apart and v1 ≈ v2 (rejection sampling).

    u runs along the relation's axis: the objects do not overlap (u2 - u1 >= r1 + r2 + 3)
    and the offset across it is at most a third of the distance along it.
    """
    while True:  # 64 candidates at a time: about a fifth of them pass
        u1, v1 = rng.integers(r1, SIZE - r1, size=(2, 64))
        u2, v2 = rng.integers(r2, SIZE - r2, size=(2, 64))
        ok = np.flatnonzero((u2 - u1 >= r1 + r2 + 3) & (3 * np.abs(v2 - v1) <= u2 - u1))
        if ok.size:
            k = ok[0]
            return int(u1[k]), int(v1[k]), int(u2[k]), int(v2[k])


def _object(rng: np.random.Generator, exclude: frozenset) -> tuple[str, str]:
    while True:
        pair = (list(COLOURS)[int(rng.integers(len(COLOURS)))], SHAPES[int(rng.integers(len(SHAPES)))])
        if pair not in exclude:
            return pair


def check_pairs(pairs, name: str) -> frozenset:
    """``pairs`` as a set of (colour, shape) tuples, each checked against COLOURS and SHAPES."""
    pairs = frozenset(tuple(p) for p in pairs)
    bad = sorted(p for p in pairs if len(p) != 2 or p[0] not in COLOURS or p[1] not in SHAPES)
    if bad:
        raise ValueError(f"{name} has pairs {bad}; expected (colour, shape) with a colour of "
                         f"{list(COLOURS)} and a shape of {list(SHAPES)}")
    return pairs


def random_scene(rng: np.random.Generator, exclude=(), require=()) -> Scene:
    """A scene whose objects are no (colour, shape) in ``exclude`` and, if ``require`` is
    given, at least one of them is a (colour, shape) in ``require``.
    """
    exclude, require = check_pairs(exclude, "exclude"), check_pairs(require, "require")
    if len(exclude) == len(COLOURS) * len(SHAPES):
        raise ValueError("exclude has every (colour, shape) pair; expected at least one left to draw")
    if require & exclude:
        raise ValueError(f"require={sorted(require)} and exclude={sorted(exclude)} overlap; expected disjoint sets")
    objects = [_object(rng, exclude), _object(rng, exclude)]
    if require and not require & set(objects):
        objects[int(rng.integers(2))] = sorted(require)[int(rng.integers(len(require)))]
    r1, r2 = (int(r) for r in rng.integers(3, 7, size=2))
    relation = RELATIONS[int(rng.integers(2))]
    u1, v1, u2, v2 = _place(rng, r1, r2)
    (x1, y1, x2, y2) = (u1, v1, u2, v2) if relation == "left of" else (v1, u1, v2, u2)
    return Scene(Shape(*objects[0], x1, y1, r1), Shape(*objects[1], x2, y2, r2), relation)


_Y, _X = np.mgrid[0:SIZE, 0:SIZE]  # (SIZE, SIZE) each: row and column of every pixel


def _mask(shape: Shape) -> np.ndarray:
    """(SIZE, SIZE) bool: the pixels the object covers."""
    dx, dy = _X - shape.x, _Y - shape.y
    if shape.shape == "circle":
        return dx**2 + dy**2 <= shape.r**2
    if shape.shape == "square":
        return (np.abs(dx) <= 0.8 * shape.r) & (np.abs(dy) <= 0.8 * shape.r)
    return (np.abs(dy) <= shape.r) & (2 * np.abs(dx) <= dy + shape.r)  # apex up, base 2r wide


def render(scene: Scene, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """The scene as a (3, SIZE, SIZE) float32 image in [0, 1]: grey background, jittered
    colours, Gaussian pixel noise of standard deviation ``noise``.
    """
    image = np.full((3, SIZE, SIZE), rng.uniform(0.1, 0.3), dtype=np.float32)
    for shape in (scene.first, scene.second):
        rgb = np.clip(np.array(COLOURS[shape.colour]) + rng.uniform(-0.08, 0.08, size=3), 0, 1)
        image[:, _mask(shape)] = rgb[:, None]
    image += rng.normal(0.0, noise, size=image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def make_batch(n: int, rng: np.random.Generator, exclude=(), require=()) -> tuple[Tensor, list[str]]:
    """``n`` fresh scenes: images (n, 3, SIZE, SIZE) float32 tensor and their captions."""
    scenes = [random_scene(rng, exclude, require) for _ in range(n)]
    images = np.stack([render(s, rng) for s in scenes])
    return torch.from_numpy(images), [s.caption for s in scenes]


def encode_captions(captions: list[str]) -> Tensor:
    """N captions -> (L + 1, N) int64 word ids, each followed by <end>, padded with <pad> (0)."""
    index = {w: k for k, w in enumerate(WORDS)}
    rows = []
    for caption in captions:
        unknown = sorted(set(caption.split()) - index.keys())
        if unknown:
            raise ValueError(f"caption {caption!r} has words {unknown} outside WORDS; expected words of {WORDS[3:]}")
        rows.append([index[w] for w in caption.split()] + [END])
    L = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (L - len(r)) for r in rows], dtype=torch.long).T  # (N, L+1) -> (L+1, N)


def decode_captions(ids: Tensor) -> list[str]:
    """(L, N) word ids -> N captions, each cut at its first <end>."""
    captions = []
    for column in ids.T.tolist():
        words = column[: column.index(END)] if END in column else column
        captions.append(" ".join(WORDS[k] for k in words if k not in (PAD, START)))
    return captions


# --- the model -----------------------------------------------------------------------------------
class Captioner(nn.Module):
    """CNN image vector (eq:cap-image-input) fed to the LSTM with every word (eq:cap-decoder).

    The CNN: two 4x4 convolutions of stride 2 (16 and 32 channels), each halving the
    image's side and followed by a ReLU, then a linear map of the (32, 8, 8) feature map
    to a vector v of the word-embedding size E. With ``image_input="every"`` the LSTM
    reads [e(w_{t-1}), v] at every step, as Donahue et al. (2015) do; with ``"first"`` it
    reads v once, before the first word, as Vinyals et al. (2015) do, and then e(w_{t-1}).
    """

    def __init__(self, embed_size: int = 32, hidden_size: int = 128, image_input: str = "every"):
        super().__init__()
        if image_input not in ("every", "first"):
            raise ValueError(f"image_input={image_input!r}; expected 'every' or 'first'")
        self.image_input = image_input
        self.cnn = nn.Sequential(
            nn.Conv2d(3, 16, 4, stride=2, padding=1), nn.ReLU(),  # (N, 16, 16, 16)
            nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),  # (N, 32, 8, 8)
            nn.Flatten(), nn.Linear(32 * (SIZE // 4) ** 2, embed_size),  # (N, E)
        )
        self.embed = nn.Embedding(len(WORDS), embed_size)
        self.lstm = LSTM(2 * embed_size if image_input == "every" else embed_size, hidden_size)
        self.W_y = nn.Linear(hidden_size, len(WORDS))

    def encode(self, images: Tensor) -> Tensor:
        """images (N, 3, SIZE, SIZE) in [0, 1] -> v (N, E) (eq:cap-image-input)."""
        return self.cnn(4 * (images - 0.5))  # pixels centred on 0, from -2 to 2

    def inputs(self, v: Tensor, words_in: Tensor) -> Tensor:
        """v (N, E), words_in (L, N) -> the LSTM's inputs, (L, N, 2E) or, for "first", (L, N, E)."""
        w = self.embed(words_in)  # (L, N, E)
        return torch.cat([w, v.expand(len(w), -1, -1)], dim=-1) if self.image_input == "every" else w

    def forward(self, images: Tensor, words_in: Tensor) -> Tensor:
        """images (N, 3, SIZE, SIZE), words_in (L + 1, N) -> logits (L + 1, N, V).

        words_in is <start>, w_1 .. w_L. Step t reads word t - 1 (and the image) and
        predicts word t, and <end> after the last word.
        """
        v = self.encode(images)[None]  # (1, N, E)
        # "first": read v alone, then the words; "every": read v with each word
        state = self.lstm(v)[1] if self.image_input == "first" else None
        hs, _ = self.lstm(self.inputs(v, words_in), state)  # (L + 1, N, H)
        return self.W_y(hs)  # (L + 1, N, V)


def _teacher_inputs(ids: Tensor) -> Tensor:
    """(L + 1, N) targets w_1 .. <end> -> (L + 1, N) inputs <start>, w_1 .. w_L."""
    return torch.cat([torch.full_like(ids[:1], START), ids[:-1]])


def caption_loss(model: Captioner, images: Tensor, captions: list[str]) -> Tensor:
    """Mean cross-entropy of every caption word and <end>, padding ignored (eq:cap-loss)."""
    ids = encode_captions(captions)  # (L + 1, N)
    logits = model(images, _teacher_inputs(ids))  # (L + 1, N, V)
    return nn.functional.cross_entropy(logits.reshape(-1, len(WORDS)), ids.reshape(-1), ignore_index=PAD)


def train_captioner(model: Captioner, steps: int, rng: np.random.Generator, batch_size: int = 64,
                    lr: float = 3e-3, clip: float = 1.0, exclude=(), progress: bool = False,
                    callback: Callable[[int, float], None] | None = None) -> list[float]:
    """Adam on ``steps`` batches of fresh scenes (none seen twice); the loss of every step.

    ``exclude``: (colour, shape) pairs never shown in training. ``callback(step, loss)``
    runs after every step.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in tqdm(range(1, steps + 1), desc="train", disable=not progress, mininterval=5.0, ascii=True, ncols=80):
        images, captions = make_batch(batch_size, rng, exclude)
        model.train()
        loss = caption_loss(model, images, captions)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
    return losses


@torch.no_grad()
def greedy_ids(model: Captioner, images: Tensor, max_words: int = 12) -> Tensor:
    """Greedy decoding (eq:cap-greedy): <start>, then each most likely word, with the image.

    Returns the (L, N) word ids, L <= max_words + 1, stopping once every image has an <end>.
    """
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, SIZE, SIZE):
        raise ValueError(f"images has shape {tuple(images.shape)}; expected (N, 3, {SIZE}, {SIZE})")
    model.eval()
    v = model.encode(images)[None]  # (1, N, E)
    state = model.lstm(v)[1] if model.image_input == "first" else None
    y = torch.full((1, len(images)), START, dtype=torch.long)
    words = []
    for _ in range(max_words + 1):
        h, state = model.lstm(model.inputs(v, y), state)  # (1, N, H)
        y = model.W_y(h).argmax(dim=-1)  # (1, N)
        words.append(y)
        if bool((torch.cat(words) == END).any(dim=0).all()):
            break
    return torch.cat(words)


def generate(model: Captioner, images: Tensor, max_words: int = 12) -> list[str]:
    """The greedy caption of every image (:func:`greedy_ids`, eq:cap-greedy), cut at <end>."""
    return decode_captions(greedy_ids(model, images, max_words))


# --- scores --------------------------------------------------------------------------------------
def ngram_counts(tokens: list[str], n: int) -> Counter:
    """How often each n-gram (a tuple of n tokens) occurs in ``tokens``."""
    return Counter(tuple(tokens[k : k + n]) for k in range(len(tokens) - n + 1))


def modified_precision(candidates: list[list[str]], references: list[list[list[str]]], n: int) -> tuple[int, int]:
    """Clipped n-gram matches and candidate n-grams over the corpus (eq:bleu-precision).

    Each candidate n-gram counts at most as often as it occurs in any one of its
    references. Returns (matches, total); p_n = matches / total.
    """
    matches = total = 0
    for cand, refs in zip(candidates, references):
        counts = ngram_counts(cand, n)
        most = Counter()
        for ref in refs:
            most |= ngram_counts(ref, n)  # elementwise maximum over the references
        matches += sum(min(c, most[g]) for g, c in counts.items())
        total += sum(counts.values())
    return matches, total


def brevity_penalty(c: int, r: int) -> float:
    """BP = 1 if c > r else exp(1 - r / c) (eq:bleu-brevity); c candidate, r reference length."""
    if c == 0:
        return 0.0
    return 1.0 if c > r else math.exp(1 - r / c)


def _closest_length(cand: list[str], refs: list[list[str]]) -> int:
    """The length of the reference closest in length to ``cand``, the shorter on a tie."""
    return min((abs(len(ref) - len(cand)), len(ref)) for ref in refs)[1]


def corpus_bleu(
    candidates: list[list[str]], references: list[list[list[str]]], max_n: int = 4
) -> float:
    """BLEU (eq:bleu) of Papineni et al. (2002): BP · exp(sum_n log(p_n) / max_n).

    Parameters
    ----------
    candidates : N token lists, the generated texts
    references : N lists of reference token lists (one or more per candidate)
    max_n : longest n-gram; the weights are uniform, 1 / max_n

    r is the sum over candidates of the reference length closest to the candidate's
    (the shorter on a tie); BLEU, in [0, 1], is 0 when some p_n is 0 (no smoothing).
    """
    if len(candidates) != len(references) or not candidates:
        n, m = len(candidates), len(references)
        raise ValueError(f"{n} candidates and {m} reference lists; expected the same "
                         "number, at least one")
    if any(not refs for refs in references):
        raise ValueError("a candidate has no reference; expected at least one each")
    log_p = 0.0
    for n in range(1, max_n + 1):
        matches, total = modified_precision(candidates, references, n)
        if matches == 0:
            return 0.0
        log_p += math.log(matches / total) / max_n
    c = sum(len(cand) for cand in candidates)
    r = sum(_closest_length(cand, refs) for cand, refs in zip(candidates, references))
    return brevity_penalty(c, r) * math.exp(log_p)


def exact_match(generated: list[str], references: list[str]) -> float:
    """Fraction of generated captions equal to their reference, word for word."""
    if len(generated) != len(references) or not references:
        raise ValueError(f"{len(generated)} captions for {len(references)} references; expected as many, at least one")
    return sum(g.split() == r.split() for g, r in zip(generated, references)) / len(references)


def slot_accuracy(generated: list[str], references: list[str]) -> dict[str, float]:
    """Per part of the caption: first object, relation, second object (fraction right).

    A caption of the wrong form counts as wrong in every part.
    """
    def parts(caption: str) -> tuple:
        w = caption.split()
        rel_len = 2 if w[3:4] == ["left"] else 1
        return (tuple(w[1:3]), " ".join(w[3 : 3 + rel_len]), tuple(w[4 + rel_len : 6 + rel_len]))

    right = np.zeros(3)
    for g, r in zip(generated, references):
        right += np.array([a == b for a, b in zip(parts(g), parts(r))])
    return dict(zip(("first object", "relation", "second object"), (right / len(references)).round(4).tolist()))


def most_frequent_caption(captions: list[str]) -> str:
    """The baseline: the caption seen most often in training (the first of equals)."""
    if not captions:
        raise ValueError("no captions; expected the training captions")
    return Counter(captions).most_common(1)[0][0]
