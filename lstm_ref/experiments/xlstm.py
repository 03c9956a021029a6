"""LSTM vs sLSTM vs mLSTM on associative recall (book/xlstm.md).

Every run trains one model for a fixed budget of fresh training sequences of
:func:`lstm_ref.tasks.associative_recall` (P key-value pairs, then a key; answer its
value), measures the accuracy on a fixed held-out set every ``eval_every`` sequences, and
ends with the accuracy on a separate test set. The sweep writes JSON after every run, with
the command that made it, like :mod:`.runs`.

Command line (``--help`` for every option)::

    python -m lstm_ref.experiments xlstm --P 4 8 16 --models lstm slstm mlstm lstm:128 \\
        --seeds 2 --out results/xlstm_recall.json

A model is ``lstm``, ``slstm`` or ``mlstm``, optionally ``:H`` for its own hidden size.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..tasks import associative_recall, make_generator
from ..train import SequenceModel
from ..xlstm import MLSTM, SLSTM
from .report import utc_now, write_result

__all__ = ["XLSTM_MODELS", "RecallConfig", "build_recall_model", "parse_recall_model", "state_size",
           "train_recall", "run_recall", "summarise_recall", "main"]

#: Cores this experiment compares.
XLSTM_MODELS = ("lstm", "slstm", "mlstm")


@dataclass
class RecallConfig:
    """One training run on associative recall; every default is the command line's."""

    model: str = "mlstm"  # one of XLSTM_MODELS
    hidden_size: int = 32  # H; the mLSTM's memory is H x H
    P: int = 8  # key-value pairs per sequence
    n_keys: int = 32  # key alphabet (P <= n_keys)
    n_values: int = 8  # value alphabet: guessing is right 1 / n_values of the time
    gap: int = 0  # blank steps between the last pair and the query
    batch_size: int = 64  # sequences per update
    lr: float = 3e-3  # Adam
    clip: float = 1.0  # gradient-norm clipping
    forget_bias: float = 1.0  # added to the LSTM's forget-gate bias (the x-cells keep their own init)
    max_sequences: int = 300_000  # training budget: fresh sequences, none seen twice
    eval_every: int = 12_800  # held-out accuracy every this many training sequences
    eval_size: int = 2000  # held-out sequences for the learning curve
    test_size: int = 4000  # test sequences after training (another seed)
    seed: int = 0  # seeds the weights and the training, held-out and test streams

    def __post_init__(self):
        if self.model not in XLSTM_MODELS:
            raise ValueError(f"model={self.model!r}; expected one of {XLSTM_MODELS}")
        if self.P > self.n_keys:
            raise ValueError(f"P={self.P} > n_keys={self.n_keys}: the keys of a sequence must all differ")
        if self.batch_size < 1 or self.max_sequences < self.batch_size:
            raise ValueError(f"batch_size={self.batch_size}, max_sequences={self.max_sequences}: "
                             "need 1 <= batch_size <= max_sequences")

    @property
    def input_size(self) -> int:
        """D = n_keys + n_values + 1 (one-hot key, one-hot value, query flag)."""
        return self.n_keys + self.n_values + 1


def parse_recall_model(text: str, default_hidden: int) -> tuple[str, int]:
    """``"mlstm"`` -> ("mlstm", default_hidden); ``"lstm:128"`` -> ("lstm", 128)."""
    name, _, hidden = text.partition(":")
    if name not in XLSTM_MODELS:
        raise ValueError(f"model {name!r} (in {text!r}) is unknown; expected one of {XLSTM_MODELS}, optionally ':<H>'")
    if hidden and not (hidden.isdigit() and int(hidden) > 0):
        raise ValueError(f"hidden size {hidden!r} in {text!r} is not a positive integer; write e.g. 'lstm:128'")
    return name, int(hidden) if hidden else int(default_hidden)


def build_recall_model(cfg: RecallConfig) -> SequenceModel:
    """Core (``nn.LSTM``, :class:`SLSTM` or :class:`MLSTM`) + linear read-out of h_T; seed torch first."""
    D, H = cfg.input_size, cfg.hidden_size
    if cfg.model == "lstm":
        core = nn.LSTM(D, H)
        with torch.no_grad():
            core.bias_ih_l0[H : 2 * H] += cfg.forget_bias  # gates i, f, g, o
    elif cfg.model == "slstm":
        core = SLSTM(D, H)
    else:
        core = MLSTM(D, H)
    return SequenceModel(core, H, cfg.n_values)


def state_size(model: str, H: int) -> int:
    """Numbers a core carries from one step to the next: LSTM h, c; sLSTM h, c, n, m; mLSTM C, n, m."""
    return {"lstm": 2 * H, "slstm": 4 * H, "mlstm": H * H + H + 1}[model]


def _batch(cfg: RecallConfig, gen: torch.Generator, n: int):
    return associative_recall(cfg.P, n, gen, n_keys=cfg.n_keys, n_values=cfg.n_values, gap=cfg.gap)


@torch.no_grad()
def _accuracy(model: SequenceModel, batches) -> float:
    right = total = 0
    for batch in batches:
        right += int((model(batch.x).argmax(dim=1) == batch.y).sum())
        total += len(batch.y)
    return right / total


def _fixed_set(cfg: RecallConfig, n: int, seed: int) -> list:
    gen = make_generator(seed)
    return [_batch(cfg, gen, min(500, n - start)) for start in range(0, n, 500)]


def train_recall(cfg: RecallConfig, progress: bool = True) -> tuple[SequenceModel, dict]:
    """Train for ``cfg.max_sequences`` sequences (Adam, cross-entropy at the last step).

    Returns
    -------
    model : the trained SequenceModel
    record : dict with ``curve`` (``[sequences, held-out accuracy]`` every ``eval_every``
        sequences), ``sequences_to_99`` (first point of the curve at >= 99 %, else None),
        ``test_accuracy``, ``parameters``, ``state_size``, ``seconds`` and ``config``
    """
    torch.manual_seed(cfg.seed)
    model = build_recall_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen, held_out = make_generator(cfg.seed), _fixed_set(cfg, cfg.eval_size, 20_000 + cfg.seed)
    curve, seen, start = [], 0, time.perf_counter()
    label = f"recall P={cfg.P} {cfg.model} H={cfg.hidden_size} seed={cfg.seed}"
    with tqdm(total=cfg.max_sequences, desc=label, unit="seq", disable=not progress, leave=False) as bar:
        while seen + cfg.batch_size <= cfg.max_sequences:
            batch = _batch(cfg, gen, cfg.batch_size)
            loss = nn.functional.cross_entropy(model(batch.x), batch.y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            seen += cfg.batch_size
            bar.update(cfg.batch_size)
            if seen % cfg.eval_every < cfg.batch_size:
                curve.append([seen, round(_accuracy(model, held_out), 4)])
                bar.set_postfix(held_out=f"{curve[-1][1]:.3f}", loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - start
    return model, {
        "curve": curve,
        "sequences_to_99": next((s for s, acc in curve if acc >= 0.99), None),
        "test_accuracy": round(_accuracy(model, _fixed_set(cfg, cfg.test_size, 30_000 + cfg.seed)), 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "state_size": state_size(cfg.model, cfg.hidden_size),
        "sequences": seen,
        "seconds": round(seconds, 1),
        "config": asdict(cfg),
    }


def _label(config: dict) -> str:
    return f"{config['model']} H={config['hidden_size']}"


def summarise_recall(runs: list[dict]) -> list[dict]:
    """One row per (P, model, H): test accuracy over seeds, sequences to 99 %, size and time."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        c = run["config"]
        groups.setdefault((c["P"], c["model"], c["hidden_size"]), []).append(run)
    rows = []
    for (P, model, H), group in groups.items():
        accs = [r["test_accuracy"] for r in group]
        reached = [r["sequences_to_99"] for r in group if r["sequences_to_99"] is not None]
        rows.append({
            "P": P, "model": model, "hidden_size": H, "label": _label(group[0]["config"]), "runs": len(group),
            "test_accuracy": accs, "test_accuracy_mean": round(statistics.fmean(accs), 4),
            "reached_99": len(reached), "sequences_to_99_median": statistics.median(reached) if reached else None,
            "parameters": group[0]["parameters"], "state_size": group[0]["state_size"],
            "budget": group[0]["config"]["max_sequences"], "seconds": round(sum(r["seconds"] for r in group), 1),
            "chance": round(1 / group[0]["config"]["n_values"], 4),
        })
    return rows


def run_recall(base: RecallConfig, models: list[tuple[str, int]], Ps: list[int], seeds: list[int],
               out: str | Path, command: str, *, resume: bool = False, progress: bool = True) -> dict:
    """Train every (P, model, seed), write ``out`` after each run, return the result dict.

    ``resume``: keep the runs already in ``out`` whose configuration is identical.
    """
    out = Path(out)
    done = json.loads(out.read_text())["runs"] if resume and out.exists() else []
    result = {
        "command": command,
        "created": utc_now(),
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "device": "cpu",
                        "threads": torch.get_num_threads(), "machine": platform.machine()},
        "base_config": asdict(base),
        "runs": [],
    }
    jobs = [(P, model, H, seed) for P in Ps for model, H in models for seed in seeds]
    for P, model, H, seed in tqdm(jobs, desc="runs", disable=not progress):
        cfg = replace(base, P=P, model=model, hidden_size=H, seed=seed)
        previous = [r for r in done if r["config"] == asdict(cfg)]
        result["runs"].append(previous[0] if previous else train_recall(cfg, progress)[1])
        result["summary"] = summarise_recall(result["runs"])
        write_result(out, result)
    return result


def _parser() -> argparse.ArgumentParser:
    d = RecallConfig()
    p = argparse.ArgumentParser(
        prog="python -m lstm_ref.experiments xlstm",
        description="Train LSTM, sLSTM and mLSTM cores on associative recall for a fixed budget of sequences "
        "and write held-out learning curves and test accuracies as JSON.",
    )
    p.add_argument("--P", type=int, nargs="+", default=[d.P], help="key-value pairs per sequence (default: %(default)s)")
    p.add_argument("--models", nargs="+", default=list(XLSTM_MODELS), metavar="MODEL[:H]",
                   help=f"cores {XLSTM_MODELS}, each optionally with ':<hidden size>' (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=2, help="runs per model and P (default: %(default)s)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds FIRST_SEED .. FIRST_SEED+SEEDS-1 (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=d.hidden_size, help="hidden size H where a model gives none (default: %(default)s)")
    for name in ("n_keys", "n_values", "gap", "batch_size", "max_sequences", "eval_every", "eval_size", "test_size"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name), help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="keep runs already in --out with identical settings")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.add_argument("--out", default="results/xlstm_recall.json", help="result file (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """``python -m lstm_ref.experiments xlstm [options]``; prints the summary, returns the result."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        models = [parse_recall_model(m, args.hidden) for m in args.models]
        base = RecallConfig(**{k: getattr(args, k) for k in ("n_keys", "n_values", "gap", "batch_size", "lr",
                                                               "max_sequences", "eval_every", "eval_size", "test_size")},
                            P=min(args.P))
    except ValueError as err:
        parser.error(str(err))
    if max(args.P) > args.n_keys:
        parser.error(f"--P {max(args.P)} > --n-keys {args.n_keys}: the keys of a sequence must all differ")
    result = run_recall(base, models, args.P, list(range(args.first_seed, args.first_seed + args.seeds)), args.out,
                        command="python -m lstm_ref.experiments xlstm " + shlex.join(argv),
                        resume=args.resume, progress=not args.no_progress)
    for row in result["summary"]:
        print(f"P={row['P']:3d}  {row['label']:>12}  test accuracy {row['test_accuracy']}  "
              f"reached 99% {row['reached_99']}/{row['runs']} (median sequences {row['sequences_to_99_median']})  "
              f"{row['parameters']} parameters, state {row['state_size']}")
    return result


if __name__ == "__main__":
    main()
