"""Captioning synthetic scenes: CNN encoder + LSTM decoder against the most frequent caption.

``python -m lstm_ref.experiments captioning [options]`` (``--help`` for all)::

    python -m lstm_ref.experiments captioning --seeds 2 --steps 2000 \\
        --out results/captioning.json

Every run trains one :class:`lstm_ref.captioning.Captioner` on fresh scenes (none seen
twice) in which the (colour, shape) pairs of ``--exclude`` never occur, records the
held-out exact match and BLEU every ``eval_every`` steps, and ends with greedy captions
of three fixed held-out sets: ``test`` (scenes like the training ones, never seen),
``novel`` (each scene has an excluded pair: a combination of known words never seen
together) and ``samples`` (a few scenes the chapter draws). The baseline, the most
frequent caption of a training sample, is scored on the same sets. The file records the
command and the machine's load, and is rewritten after every run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..captioning import (
    Captioner, check_pairs, corpus_bleu, exact_match, generate, make_batch, most_frequent_caption, random_scene,
    slot_accuracy, train_captioner,
)
from .report import load_average, utc_now, write_result

__all__ = ["CaptionConfig", "held_out_sets", "score", "run_one", "run_captioning", "main"]

#: Seeds of the fixed held-out sets; the chapter redraws the sample scenes from SAMPLE_SEED.
TEST_SEED, NOVEL_SEED, SAMPLE_SEED, BASELINE_SEED = 1001, 1002, 1003, 1004


@dataclass
class CaptionConfig:
    """Settings shared by every run; every default is the command line's."""

    steps: int = 2000  # Adam steps, each on batch_size fresh scenes
    batch_size: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    embed_size: int = 32
    hidden_size: int = 128
    image_input: str = "every"  # the image with every word ("every") or once before them ("first")
    exclude: list = field(default_factory=lambda: [["yellow", "triangle"], ["green", "circle"]])
    n_test: int = 1000  # held-out scenes like the training ones
    n_novel: int = 500  # held-out scenes with an excluded pair
    n_samples: int = 8  # scenes the chapter shows
    n_baseline: int = 20_000  # training scenes whose most frequent caption is the baseline
    eval_every: int = 250
    eval_size: int = 300  # learning curve on the first eval_size test scenes

    @property
    def excluded(self) -> list[tuple[str, str]]:
        return [tuple(pair) for pair in self.exclude]


def held_out_sets(cfg: CaptionConfig) -> dict:
    """name -> (images, captions) for ``test``, ``novel`` and ``samples``; the same for every run."""
    return {
        "test": make_batch(cfg.n_test, np.random.default_rng(TEST_SEED), exclude=cfg.excluded),
        "novel": make_batch(cfg.n_novel, np.random.default_rng(NOVEL_SEED), require=cfg.excluded),
        "samples": make_batch(cfg.n_samples, np.random.default_rng(SAMPLE_SEED), exclude=cfg.excluded),
    }


def score(generated: list[str], references: list[str]) -> dict:
    """Exact match, corpus BLEU-4 and BLEU-1, and the accuracy of each part of the caption."""
    cands, refs = [g.split() for g in generated], [[r.split()] for r in references]
    return {"exact_match": round(exact_match(generated, references), 4),
            "bleu4": round(corpus_bleu(cands, refs, 4), 4), "bleu1": round(corpus_bleu(cands, refs, 1), 4),
            "slots": slot_accuracy(generated, references)}


def run_one(cfg: CaptionConfig, seed: int, sets: dict, progress: bool = True) -> dict:
    """Train one captioner; its learning curve and its scores and captions on every held-out set."""
    torch.manual_seed(seed)
    model = Captioner(cfg.embed_size, cfg.hidden_size, cfg.image_input)
    images, captions = sets["test"][0][: cfg.eval_size], sets["test"][1][: cfg.eval_size]
    curve, window = [], []

    def evaluate(step: int, loss: float) -> None:
        window.append(loss)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            s = score(generate(model, images), captions)
            curve.append([step, round(statistics.fmean(window), 5), s["exact_match"], s["bleu4"]])
            window.clear()

    start = time.perf_counter()
    train_captioner(model, cfg.steps, np.random.default_rng([seed, 7]), cfg.batch_size, cfg.lr, cfg.clip,
                    cfg.excluded, progress, evaluate)
    seconds = time.perf_counter() - start
    record = {"seed": seed, "config": asdict(cfg), "seconds": round(seconds, 1), "curve": curve,
              "parameters": sum(p.numel() for p in model.parameters())}
    for name, (imgs, refs) in sets.items():
        generated = generate(model, imgs)
        record[name] = {**score(generated, refs), "generated": generated if name == "samples" else None,
                        "wrong": [[r, g] for g, r in zip(generated, refs) if g != r][:20]}
    return record


def _baseline(cfg: CaptionConfig, sets: dict) -> dict:
    """The most frequent caption of ``cfg.n_baseline`` training scenes, scored on every held-out set."""
    rng = np.random.default_rng(BASELINE_SEED)
    caption = most_frequent_caption([random_scene(rng, cfg.excluded).caption for _ in range(cfg.n_baseline)])
    return {"caption": caption, "training_scenes": cfg.n_baseline,
            **{name: score([caption] * len(refs), refs) for name, (_, refs) in sets.items()}}


def summarise(runs: list[dict], baseline: dict) -> list[dict]:
    """One row per held-out set and model: exact match and BLEU-4 of every seed."""
    rows = []
    for name in ("test", "novel"):
        rows.append({"set": name, "model": "most frequent caption", "exact_match": [baseline[name]["exact_match"]],
                     "bleu4": [baseline[name]["bleu4"]]})
        rows.append({"set": name, "model": "CNN + LSTM", "seeds": [r["seed"] for r in runs],
                     "exact_match": [r[name]["exact_match"] for r in runs], "bleu4": [r[name]["bleu4"] for r in runs]})
    return rows


def run_captioning(cfg: CaptionConfig, seeds: list[int], out: str | Path, command: str, *,
                   resume: bool = False, progress: bool = True) -> dict:
    """Score the baseline, train every seed, write ``out`` after each run."""
    out = Path(out)
    done = json.loads(out.read_text())["runs"] if resume and out.exists() else []
    sets = held_out_sets(cfg)
    result = {
        "command": command,
        "created": utc_now(),
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "device": "cpu",
                        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                        "load_average_at_start": load_average()},
        "config": asdict(cfg), "seeds": {"test": TEST_SEED, "novel": NOVEL_SEED, "samples": SAMPLE_SEED},
        "sample_captions": sets["samples"][1], "baseline": _baseline(cfg, sets), "runs": [],
    }
    for seed in seeds:
        previous = [r for r in done if (r["seed"], r["config"]) == (seed, asdict(cfg))]
        result["runs"].append(previous[0] if previous else run_one(cfg, seed, sets, progress))
        result["summary"] = summarise(result["runs"], result["baseline"])
        result["environment"]["load_average_at_end"] = load_average()
        write_result(out, result)
    return result


def _pair(text: str) -> list[str]:
    colour, _, shape = text.partition(":")
    return [colour, shape]


def _parser() -> argparse.ArgumentParser:
    d = CaptionConfig()
    p = argparse.ArgumentParser(
        prog="python -m lstm_ref.experiments captioning",
        description="Train a CNN + LSTM captioner on synthetic scenes; score it and the most frequent "
        "caption on held-out scenes (exact match, BLEU); write JSON.",
    )
    p.add_argument("--seeds", type=int, default=2, help="runs (default: %(default)s)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds FIRST_SEED .. FIRST_SEED+SEEDS-1 (default: %(default)s)")
    for name, value in asdict(d).items():
        if name == "image_input":
            p.add_argument("--image-input", choices=["every", "first"], default=value,
                           help="the image vector with every word or once before them (default: %(default)s)")
        elif name != "exclude":
            p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value, help="(default: %(default)s)")
    p.add_argument("--exclude", nargs="*", type=_pair, default=d.exclude, metavar="COLOUR:SHAPE",
                   help="pairs never shown in training (default: yellow:triangle green:circle)")
    p.add_argument("--resume", action="store_true", help="keep runs already in --out with identical settings")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.add_argument("--out", default="results/captioning.json", help="result file (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """``python -m lstm_ref.experiments captioning [options]``; prints the summary, returns the result."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = CaptionConfig(**{k: getattr(args, k) for k in asdict(CaptionConfig())})
    if not cfg.exclude:
        parser.error("--exclude needs at least one COLOUR:SHAPE pair: the novel set is made of them")
    try:
        check_pairs(cfg.exclude, "--exclude")
    except ValueError as err:
        parser.error(str(err))
    result = run_captioning(cfg, list(range(args.first_seed, args.first_seed + args.seeds)), args.out,
                            command="python -m lstm_ref.experiments captioning " + shlex.join(argv),
                            resume=args.resume, progress=not args.no_progress)
    for row in result["summary"]:
        print(f"{row['set']:>6}  {row['model']:>22}  exact match {row['exact_match']}  BLEU-4 {row['bleu4']}")
    return result


if __name__ == "__main__":
    main()
