"""Translating dates: encoder-decoder LSTM with and without attention against the rule baseline.

``python -m lstm_ref.experiments seq2seq [options]`` (``--help`` for all)::

    python -m lstm_ref.experiments seq2seq --seeds 2 --steps 1500 \\
        --out results/seq2seq_dates.json

Every run trains one :class:`lstm_ref.seq2seq.DateTranslator` on the same training pairs
(dates of the training split only), records the held-out exact match of greedy decoding
on the first ``eval_size`` test pairs every ``eval_every`` steps, and ends with the exact
match on all test pairs (dates never seen in training), overall, per format and for
inputs with and without a typo. The rule baseline (:func:`lstm_ref.seq2seq.rule_parse`)
is scored on the same test pairs. The file records the command, the machine's load, the
attention weights of a few test pairs and the wrong answers, and is rewritten after
every run (``--resume`` keeps finished runs).
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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..seq2seq import (
    DatePair, DateTranslator, exact_match, rule_parse, sample_pairs, split_dates, train_translator, translate,
)
from .report import load_average, utc_now, write_result

__all__ = ["DatesConfig", "score", "run_one", "run_dates", "main"]

MODELS = ("plain", "attention")
#: Test pairs whose attention weights the file keeps (indices into the test set).
SHOWN = 6


@dataclass
class DatesConfig:
    """The data and training settings shared by every run; every default is the command line's."""

    n_train: int = 20_000  # training pairs (dates of the training split)
    n_test: int = 2000  # test pairs (held-out dates)
    held_out: float = 0.1  # fraction of the calendar held out
    typo: float = 0.1  # chance of a typo in a full month name
    data_seed: int = 0  # seeds the split and both sets of pairs
    steps: int = 1500  # Adam steps
    batch_size: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    embed_size: int = 16
    hidden_size: int = 64
    eval_every: int = 250  # held-out exact match every this many steps
    eval_size: int = 500  # ... on the first eval_size test pairs


def make_data(cfg: DatesConfig) -> tuple[list[DatePair], list[DatePair]]:
    """The training and test pairs: same split and pairs for every run with this config."""
    train_days, test_days = split_dates(cfg.held_out, cfg.data_seed)
    train = sample_pairs(cfg.n_train, train_days, np.random.default_rng([cfg.data_seed, 1]), cfg.typo)
    test = sample_pairs(cfg.n_test, test_days, np.random.default_rng([cfg.data_seed, 2]), cfg.typo)
    return train, test


def score(predictions: list[str | None], test: list[DatePair]) -> dict:
    """Exact match overall, per format, and on inputs with and without a typo."""
    right = [p == q.target for p, q in zip(predictions, test)]

    def mean(keep) -> float:
        chosen = [r for r, q in zip(right, test) if keep(q)]
        return round(statistics.fmean(chosen), 4) if chosen else None

    return {
        "exact_match": round(exact_match(predictions, [q.target for q in test]), 4),
        "per_format": {f: mean(lambda q, f=f: q.format == f) for f in dict.fromkeys(q.format for q in test)},
        "typo": mean(lambda q: q.typo), "clean": mean(lambda q: not q.typo),
        "n_typo": sum(q.typo for q in test),
        "wrong": [[q.source, q.target, p] for p, q in zip(predictions, test) if p != q.target],
    }


def run_one(cfg: DatesConfig, model_name: str, seed: int, train: list[DatePair], test: list[DatePair],
            progress: bool = True) -> dict:
    """Train one model; its curve, final scores, attention weights of the first SHOWN test pairs."""
    torch.manual_seed(seed)
    model = DateTranslator(model_name == "attention", cfg.embed_size, cfg.hidden_size)
    curve, window = [], []
    sources = [q.source for q in test]

    def evaluate(step: int, loss: float) -> None:
        window.append(loss)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            outputs, _ = translate(model, sources[: cfg.eval_size])
            curve.append([step, round(statistics.fmean(window), 5),
                          round(exact_match(outputs, [q.target for q in test[: cfg.eval_size]]), 4)])
            window.clear()

    start = time.perf_counter()
    train_translator(model, train, cfg.steps, cfg.batch_size, cfg.lr, cfg.clip, seed, progress, evaluate)
    seconds = time.perf_counter() - start
    outputs, _ = translate(model, sources)
    record = {"model": model_name, "seed": seed, "config": asdict(cfg), "seconds": round(seconds, 1),
              "parameters": sum(p.numel() for p in model.parameters()), "curve": curve, **score(outputs, test)}
    if model.attention:
        shown, alpha = translate(model, sources[:SHOWN])
        record["attention"] = [{"source": s, "output": o, "weights": a[:, -len(s):].round(decimals=3).tolist()}
                               for s, o, a in zip(sources[:SHOWN], shown, alpha)]  # drop the left padding
    return record


def summarise(runs: list[dict], baseline: dict) -> list[dict]:
    """One row per model (and the rule baseline): exact match of every seed and their mean."""
    rows = [{"model": "rules", "exact_match": [baseline["exact_match"]], "mean": baseline["exact_match"],
             "typo": [baseline["typo"]], "clean": [baseline["clean"]], "parameters": 0}]
    for name in dict.fromkeys(r["model"] for r in runs):
        group = [r for r in runs if r["model"] == name]
        rows.append({"model": name, "seeds": [r["seed"] for r in group],
                     "exact_match": [r["exact_match"] for r in group],
                     "mean": round(statistics.fmean(r["exact_match"] for r in group), 4),
                     "typo": [r["typo"] for r in group], "clean": [r["clean"] for r in group],
                     "parameters": group[0]["parameters"], "seconds": round(sum(r["seconds"] for r in group), 1)})
    return rows


def _header(command: str, cfg: DatesConfig) -> dict:
    return {
        "command": command,
        "created": utc_now(),
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "device": "cpu",
                        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                        "load_average_at_start": load_average()},
        "config": asdict(cfg),
    }


def run_dates(cfg: DatesConfig, models: list[str], seeds: list[int], out: str | Path, command: str, *,
              resume: bool = False, progress: bool = True) -> dict:
    """Score the rule baseline, train every (model, seed), write ``out`` after each run."""
    out = Path(out)
    done = json.loads(out.read_text())["runs"] if resume and out.exists() else []
    train, test = make_data(cfg)
    result = {**_header(command, cfg), "baseline": score([rule_parse(q.source) for q in test], test),
              "test_examples": [[q.source, q.target, q.format] for q in test[:SHOWN]], "runs": []}
    for name in models:
        for seed in seeds:
            previous = [r for r in done if (r["model"], r["seed"], r["config"]) == (name, seed, asdict(cfg))]
            result["runs"].append(previous[0] if previous else run_one(cfg, name, seed, train, test, progress))
            result["summary"] = summarise(result["runs"], result["baseline"])
            result["environment"]["load_average_at_end"] = load_average()
            write_result(out, result)
    return result


def _parser() -> argparse.ArgumentParser:
    d = DatesConfig()
    p = argparse.ArgumentParser(
        prog="python -m lstm_ref.experiments seq2seq",
        description="Train encoder-decoder LSTMs (without and with attention) to translate dates written "
        "in many formats into ISO form; score them and a rule baseline on held-out dates; write JSON.",
    )
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="(default: %(default)s)")
    p.add_argument("--seeds", type=int, default=2, help="runs per model (default: %(default)s)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds FIRST_SEED .. FIRST_SEED+SEEDS-1 (default: %(default)s)")
    for name, value in asdict(d).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value, help="(default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="keep runs already in --out with identical settings")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.add_argument("--out", default="results/seq2seq_dates.json", help="result file (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """``python -m lstm_ref.experiments seq2seq [options]``; prints the summary, returns the result."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = DatesConfig(**{k: getattr(args, k) for k in asdict(DatesConfig())})
    if cfg.n_test < max(cfg.eval_size, SHOWN) or cfg.n_train < cfg.batch_size:
        parser.error(f"--n-test {cfg.n_test} must be >= --eval-size {cfg.eval_size} and >= {SHOWN}, "
                     f"--n-train {cfg.n_train} >= --batch-size {cfg.batch_size}")
    result = run_dates(cfg, args.models, list(range(args.first_seed, args.first_seed + args.seeds)), args.out,
                       command="python -m lstm_ref.experiments seq2seq " + shlex.join(argv),
                       resume=args.resume, progress=not args.no_progress)
    for row in result["summary"]:
        print(f"{row['model']:>10}  exact match {row['exact_match']}  (typo {row['typo']}, clean {row['clean']})"
              f"  {row['parameters']} parameters")
    return result


if __name__ == "__main__":
    main()
