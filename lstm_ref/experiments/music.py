"""An LSTM over the note events of Bach's chorales against n-gram baselines (book/music.md).

Reads ``data/bach_chorales.json.gz`` (``scripts/convert_chorales.py``), moves every
chorale to C major or A minor, splits the chorales 80/10/10 into training, validation and
test (whole chorales, seeded), and measures on the test chorales, in nats per event:

- the unigram, bigram and trigram models of :func:`lstm_ref.music.ngram_loss`, counted on
  the training chorales with their smoothing alpha chosen on the validation chorales;
- :class:`lstm_ref.apps.CharLM` over event ids, trained on random windows of the
  training events, with its validation loss recorded along the way.

Writes the JSON with the command that made it, and the weights beside it::

    python -m lstm_ref.experiments music --steps 3000 --out results/music.json
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .. import apps, music
from .report import load_average, utc_now, write_result

__all__ = ["MusicConfig", "prepare", "baselines", "train_events", "run_music", "main"]

DATA = Path(__file__).resolve().parents[2] / "data" / "bach_chorales.json.gz"


@dataclass
class MusicConfig:
    """One run; every default is the command line's."""

    hidden_size: int = 128  # H
    embed_size: int = 32  # E
    steps: int = 3000  # Adam updates
    T: int = 128  # events per training window (a chorale is about 800)
    N: int = 32  # windows per update
    lr: float = 3e-3  # Adam
    clip: float = 1.0  # gradient-norm clipping
    eval_every: int = 250  # validation loss every this many updates
    seed: int = 0  # weights and training windows
    split_seed: int = 0  # which chorales are training, validation and test


def prepare(path: str | Path = DATA, split_seed: int = 0):
    """Chorales -> ``(vocab, ids, names)``: ids and names keyed by train/validation/test.

    Every chorale is moved to C major or A minor; the vocabulary spans the pitches of all
    of them (a range, learnt from nothing but the lowest and highest note).
    """
    chorales = music.load_chorales(path)
    notes = [music.transpose_to_c(c) for c in chorales]
    vocab = music.EventVocab.from_notes(*notes)
    parts = dict(zip(("train", "validation", "test"), music.split_chorales(len(chorales), seed=split_seed)))
    ids = {name: music.encode_corpus([notes[i] for i in idx], vocab) for name, idx in parts.items()}
    names = {name: [chorales[i].id for i in idx] for name, idx in parts.items()}
    return vocab, ids, names


def baselines(ids: dict, vocab_size: int) -> dict[str, dict]:
    """Unigram, bigram and trigram test losses, alpha chosen on the validation events.

    Every model predicts the same test events, ``test[2:]``, so the numbers compare.
    """
    out = {}
    for n, name in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        alpha = music.choose_alpha(ids["train"], ids["validation"], vocab_size, n)
        test = ids["test"][2 - (n - 1):]  # the first predicted event is test[2] for every n
        out[name] = {"n": n, "alpha": alpha, "test": round(music.ngram_loss(ids["train"], test, vocab_size, n, alpha), 4)}
    return out


def train_events(model, ids: dict, cfg: MusicConfig, progress: bool = True) -> list[list[float]]:
    """Adam on random windows of the training events; the curve ``[step, train, validation]``.

    ``train`` is the mean batch loss since the last point, ``validation`` the loss on the
    validation chorales read in order (:func:`lstm_ref.apps.char_loss`), both nats/event.
    """
    generator = torch.Generator().manual_seed(cfg.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    curve, recent = [], []
    bar = tqdm(range(1, cfg.steps + 1), desc="chorale LM", ascii=True, ncols=72, mininterval=10.0,
               disable=not progress)
    for step in bar:
        x, y = apps.char_batches(ids["train"], cfg.T, cfg.N, generator)  # (T, N) each
        logits, _ = model(x)  # (T, N, V)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimiser.step()
        recent.append(loss.item())
        if step % cfg.eval_every == 0 or step == cfg.steps:
            curve.append([step, round(float(np.mean(recent)), 4), round(apps.char_loss(model, ids["validation"]), 4)])
            recent = []
            bar.set_postfix(validation=f"{curve[-1][2]:.3f}", refresh=False)
    return curve


def run_music(cfg: MusicConfig, out: str | Path, command: str, data: Path = DATA, progress: bool = True) -> dict:
    """Baselines, training and the test loss; writes ``out`` and ``<stem>_lstm.pt``."""
    load = load_average()  # the machine may be shared: say how busy
    vocab, ids, names = prepare(data, cfg.split_seed)
    result = {
        "command": command,
        "created": utc_now(),
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "load_average_at_start": load},
        "config": asdict(cfg),
        "data": {"path": f"data/{Path(data).name}", "low": vocab.low, "high": vocab.high, "vocab_size": vocab.size,
                 **{f"{k}_chorales": len(v) for k, v in names.items()},
                 **{f"{k}_events": len(v) for k, v in ids.items()}, "test_ids": names["test"]},
        "baselines": baselines(ids, vocab.size),
    }
    torch.manual_seed(cfg.seed)
    model = apps.CharLM(vocab.size, cfg.embed_size, cfg.hidden_size)
    start = time.perf_counter()
    result["curve"] = train_events(model, ids, cfg, progress)
    result["train_seconds"] = round(time.perf_counter() - start, 1)
    result["environment"]["load_average_at_end"] = load_average()
    # the LSTM predicts test[1:]; the baselines test[2:]: score it on the same events
    result["lstm_test"] = round(_loss_from(model, ids["test"], first=2), 4)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result["weights"] = out.stem + "_lstm.pt"
    torch.save(model.state_dict(), out.with_name(result["weights"]))
    write_result(out, result)
    return result


@torch.no_grad()
def _loss_from(model, ids, first: int) -> float:
    """Mean -log p of ids[first:], each predicted from everything before it."""
    logits, _ = model(ids[:-1, None])  # (L-1, 1, V): logits[t] predicts ids[t + 1]
    losses = nn.functional.cross_entropy(logits[:, 0], ids[1:], reduction="none")  # (L-1,)
    return float(losses[first - 1 :].mean())


def _parser() -> argparse.ArgumentParser:
    d = MusicConfig()
    p = argparse.ArgumentParser(
        prog="python -m lstm_ref.experiments music",
        description="Train an LSTM on the note events of Bach's chorales and compare its test loss with "
        "unigram, bigram and trigram models.")
    for name, kind in (("hidden_size", int), ("embed_size", int), ("steps", int), ("T", int), ("N", int),
                       ("lr", float), ("eval_every", int), ("seed", int), ("split_seed", int)):
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(d, name), help="(default: %(default)s)")
    p.add_argument("--data", type=Path, default=DATA, help="(default: data/bach_chorales.json.gz)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--out", default="results/music.json", help="result file; the weights go beside it "
                   "as <stem>_lstm.pt (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """``python -m lstm_ref.experiments music [options]``; prints the losses, returns the result."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = MusicConfig(**{k: getattr(args, k) for k in ("hidden_size", "embed_size", "steps", "T", "N", "lr",
                                                        "eval_every", "seed", "split_seed")})
    result = run_music(cfg, args.out, "python -m lstm_ref.experiments music " + shlex.join(argv), args.data,
                       progress=not args.no_progress)
    print("test loss, nats/event:", {k: v["test"] for k, v in result["baselines"].items()},
          f"LSTM {result['lstm_test']}")
    return result


if __name__ == "__main__":
    main()
