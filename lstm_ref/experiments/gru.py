"""GRU against LSTM at equal parameter count: the adding problem and a character language model.

``python -m lstm_ref.experiments gru {adding,charlm} [options]`` (see ``--help``)::

    python -m lstm_ref.experiments gru adding --T 100 200 --seeds 3 --out results/gru_adding.json
    python -m lstm_ref.experiments gru charlm --seeds 3 --steps 1000 --out results/gru_charlm.json

The LSTM keeps the course's settings (``H = 32`` with ``b_f = 5``, ``b_i = -5`` on the adding
problem, as in the experiments chapter; ``H = 128`` in the language model of the
applications chapter); the GRU gets the hidden size whose whole model (read-out and
embedding included) has the parameter count closest to the LSTM's. Each result file
records the command that made it, the machine's load and every run, and is rewritten after
every run, so an interrupted sweep keeps what it finished (``--resume`` skips those runs).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..apps import CharLM, CharVocab, char_batches, char_loss, unigram_loss
from ..torch_gru import GRU
from ..train import TASKS, SequenceModel, TrainConfig, build_model, train
from .report import load_average, utc_now, write_result

__all__ = [
    "CharGRU", "GRUTrainConfig", "build_gru_model", "count_parameters", "equal_size_hidden",
    "main", "run_adding", "run_charlm", "summarise_adding",
]

CELLS = ("lstm", "gru")
SONNETS = Path(__file__).resolve().parents[2] / "data" / "shakespeare_sonnets.txt"


# --- models of equal size ------------------------------------------------------------------------
def count_parameters(module: nn.Module) -> int:
    """Number of trainable numbers in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def equal_size_hidden(build: Callable[[int], nn.Module], target: int) -> int:
    """The hidden size H whose ``build(H)`` has the parameter count closest to ``target`` (eq:gru-parameter-count).

    The counts are read from the modules, read-out and embedding included, not from the formula.

    The count grows with H, so a doubling search and a bisection find the crossing.
    """
    if target < count_parameters(build(1)):
        raise ValueError(f"target={target} is below the size of build(1) = {count_parameters(build(1))}")
    hi = 1
    while count_parameters(build(hi)) < target:
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:  # count(build(lo)) < target <= count(build(hi))
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count_parameters(build(mid)) < target else (lo, mid)
    return min((lo, hi), key=lambda H: (abs(count_parameters(build(H)) - target), H)) if lo else hi


def build_gru_model(D: int, H: int, n_out: int, update_bias: float = 0.0) -> SequenceModel:
    """``torch.nn.GRU`` read out from h_T, as :func:`lstm_ref.train.build_model` builds the LSTM.

    ``update_bias`` is added to the update gate's input bias (``bias_ih_l0[H:2H]``): z_t
    then starts near σ(update_bias), so h_t mostly keeps h_{t-1} (eq:gru-hidden-state).
    """
    core = nn.GRU(D, H)
    with torch.no_grad():
        core.bias_ih_l0[H : 2 * H] += update_bias  # order r, z, n
    return SequenceModel(core, H, n_out)


class CharGRU(nn.Module):
    """:class:`lstm_ref.apps.CharLM` with the book's GRU (:class:`lstm_ref.torch_gru.GRU`) as its core."""

    def __init__(self, vocab_size: int, embed_size: int = 32, hidden_size: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.gru = GRU(embed_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: Tensor, state: Tensor | None = None):
        """x : (T, N) ids -> logits (T, N, V) and the final h_T, (1, N, H)."""
        hs, state = self.gru(self.embed(x), state)  # (T, N, E) -> (T, N, H)
        return self.head(hs), state


# --- the adding problem --------------------------------------------------------------------------
@dataclass
class GRUTrainConfig(TrainConfig):
    """:class:`lstm_ref.train.TrainConfig` that also accepts ``model="gru"``."""

    update_bias: float = 0.0  # GRU only: added to the update gate's bias at init

    def __post_init__(self):
        if self.model != "gru":
            super().__post_init__()
        elif self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; expected one of {tuple(TASKS)}")
        elif self.batch_size < 1 or self.window < self.batch_size:
            raise ValueError(f"batch_size={self.batch_size}, window={self.window}: need 1 <= batch_size <= window")


def _adding_models(lstm_hidden: int, forget_bias: float, input_bias: float, update_bias: float) -> dict:
    """``{"lstm": {...}, "gru": {...}}``: hidden size, parameter count and initial biases of each."""
    D, n_out = TASKS["adding"]
    target = count_parameters(build_model("lstm", D, lstm_hidden, n_out, forget_bias, input_bias))
    gru_hidden = equal_size_hidden(lambda H: build_gru_model(D, H, n_out), target)
    return {
        "lstm": {"hidden": lstm_hidden, "parameters": target, "init": {"forget_bias": forget_bias, "input_bias": input_bias}},
        "gru": {"hidden": gru_hidden, "parameters": count_parameters(build_gru_model(D, gru_hidden, n_out)),
                "init": {"update_bias": update_bias}},
    }


def _run_key(config: dict) -> tuple:
    return tuple(config[k] for k in ("model", "T", "seed", "hidden_size", "max_sequences", "window"))


def _header(command: str) -> dict:
    return {
        "command": command,
        "created": utc_now(),
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "device": "cpu",
                        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                        "load_average_at_start": load_average()},
    }


def run_adding(
    Ts: list[int], seeds: list[int], out: str | Path, command: str, *, lstm_hidden: int = 32,
    forget_bias: float = 5.0, input_bias: float = -5.0, update_bias: float = 5.0,
    max_sequences: int = 60_000, window: int = 2000, test_size: int = 2560, cells: tuple[str, ...] = CELLS,
    resume: bool = False, progress: bool = True,
) -> dict:
    """Train LSTM and GRU on the adding problem for every T and seed; write ``out`` after each run.

    The stopping rule and every training setting are :class:`lstm_ref.train.TrainConfig`'s;
    both cells start in the "keep" state: the LSTM with f = σ(5), i = σ(−5), the GRU with
    z = σ(5), which is the same thing for a cell whose input is 1 − z (eq:gru-hidden-state).
    ``cells`` picks the cells to train (both sizes are recorded either way).
    """
    unknown = sorted(set(cells) - set(CELLS))
    if unknown or not cells:
        raise ValueError(f"cells={cells!r}; expected one or both of {CELLS}")
    out = Path(out)
    done = {_run_key(r["config"]): r for r in json.loads(out.read_text())["runs"]} if resume and out.exists() else {}
    models = _adding_models(lstm_hidden, forget_bias, input_bias, update_bias)
    result = {**_header(command), "models": models, "runs": []}
    D, n_out = TASKS["adding"]
    jobs = [(T, cell, seed) for T in Ts for cell in CELLS if cell in cells for seed in seeds]
    for T, cell, seed in tqdm(jobs, desc="runs", disable=not progress):
        H = models[cell]["hidden"]
        cfg = GRUTrainConfig(
            task="adding", model=cell, T=T, seed=seed, hidden_size=H, max_sequences=max_sequences, window=window,
            test_size=test_size, forget_bias=forget_bias if cell == "lstm" else 0.0,
            input_bias=input_bias if cell == "lstm" else 0.0, update_bias=update_bias if cell == "gru" else 0.0,
        )
        key = _run_key(asdict(cfg))
        if key in done and done[key]["config"] == asdict(cfg):
            result["runs"].append(done[key])
        else:
            model = None
            if cell == "gru":
                torch.manual_seed(seed)  # as train() seeds before it builds the LSTM
                model = build_gru_model(D, H, n_out, update_bias)
            result["runs"].append(train(cfg, device="cpu", progress=progress, model=model)[1])
        result["summary"] = summarise_adding(result["runs"])
        result["environment"]["load_average_at_end"] = load_average()
        write_result(out, result)
    return result


def summarise_adding(runs: list[dict]) -> list[dict]:
    """One row per (cell, T): solve rate, sequences to solve (median of the solved runs), test errors."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["config"]["model"], run["config"]["T"]), []).append(run)
    rows = []
    for (cell, T), group in groups.items():
        solved = [r["sequences"] for r in group if r["solved"]]
        rows.append({
            "model": cell, "T": T, "hidden": group[0]["config"]["hidden_size"],
            "solved": len(solved), "runs": len(group),
            "sequences_median": statistics.median(solved) if solved else None,
            "sequences": [r["sequences"] for r in group], "seeds": [r["config"]["seed"] for r in group],
            "test_wrong": [r["test"]["wrong"] for r in group], "test_size": group[0]["test"]["n"],
            "budget": max(r["config"]["max_sequences"] for r in group),
            "seconds": round(sum(r["seconds"] for r in group), 1),
        })
    return rows


# --- the character language model ---------------------------------------------------------------
def _train_lm(model, train_ids, test_ids, *, steps, T, N, lr, clip, seed, eval_every, progress, label) -> dict:
    """Adam on random windows, as :func:`lstm_ref.apps.train_char_lm`, with held-out checkpoints.

    Returns ``train_curve`` (``[step, mean training loss of the last eval_every steps]``),
    ``held_out_curve`` (``[step, held-out nats/char]``) and the training ``seconds``
    (the held-out evaluations not counted).
    """
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses, train_curve, held_out_curve, seconds = [], [], [], 0.0
    start = time.perf_counter()
    for step in tqdm(range(1, steps + 1), desc=label, disable=not progress, mininterval=10.0, ascii=True, ncols=80):
        x, y = char_batches(train_ids, T, N, generator)  # (T, N) each
        logits, _ = model(x)  # (T, N, V)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            seconds += time.perf_counter() - start
            train_curve.append([step, round(statistics.fmean(losses[-eval_every:]), 5)])
            held_out_curve.append([step, round(char_loss(model, test_ids), 5)])
            start = time.perf_counter()
    return {"train_curve": train_curve, "held_out_curve": held_out_curve, "seconds": round(seconds, 2)}


def _lm_builders(vocab_size: int, embed: int, lstm_hidden: int) -> tuple[dict, dict]:
    """The two language models' constructors and their sizes, the GRU's hidden size matched."""
    target = count_parameters(CharLM(vocab_size, embed, lstm_hidden))
    gru_hidden = equal_size_hidden(lambda H: CharGRU(vocab_size, embed, H), target)
    build = {"lstm": lambda: CharLM(vocab_size, embed, lstm_hidden), "gru": lambda: CharGRU(vocab_size, embed, gru_hidden)}
    models = {
        "lstm": {"hidden": lstm_hidden, "parameters": target, "module": "lstm_ref.apps.CharLM (lstm_ref.torch_lstm.LSTM)"},
        "gru": {"hidden": gru_hidden, "parameters": count_parameters(build["gru"]()),
                "module": "lstm_ref.experiments.gru.CharGRU (lstm_ref.torch_gru.GRU)"},
    }
    return build, models


def run_charlm(
    seeds: list[int], out: str | Path, command: str, *, steps: int = 1000, T: int = 64, N: int = 32,
    lr: float = 3e-3, clip: float = 1.0, lstm_hidden: int = 128, embed: int = 32, eval_every: int = 250,
    text_path: str | Path = SONNETS, resume: bool = False, progress: bool = True,
) -> dict:
    """Train the applications chapter's character model and its GRU twin on the sonnets, every seed.

    The last 10 % of the text is held out, as in the applications chapter; the result is
    the held-out cross-entropy in nats per character (eq:app-lm-loss), against the uniform
    (ln V) and unigram baselines.
    """
    out = Path(out)
    text = Path(text_path).read_text()
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = int(0.9 * len(ids))
    train_ids, test_ids = ids[:cut], ids[cut:]
    build, models = _lm_builders(vocab.size, embed, lstm_hidden)
    settings = {"steps": steps, "T": T, "N": N, "lr": lr, "clip": clip, "embed": embed, "eval_every": eval_every}
    done = {}
    if resume and out.exists():
        done = {(r["model"], r["seed"]): r for r in json.loads(out.read_text())["runs"] if r["settings"] == settings}
    result = {
        **_header(command), "models": models, "settings": settings,
        "data": {"file": Path(text_path).name, "characters": len(ids), "train": cut, "held_out": len(ids) - cut, "V": vocab.size},
        "baselines": {"uniform": round(float(torch.log(torch.tensor(float(vocab.size)))), 5),
                      "unigram": round(unigram_loss(train_ids, test_ids, vocab.size), 5)},
        "runs": [],
    }
    for cell, seed in tqdm([(c, s) for c in CELLS for s in seeds], desc="runs", disable=not progress):
        if (cell, seed) in done:
            result["runs"].append(done[(cell, seed)])
        else:
            torch.manual_seed(seed)
            model = build[cell]()
            record = _train_lm(model, train_ids, test_ids, seed=seed, progress=progress, label=f"{cell} seed={seed}",
                               steps=steps, T=T, N=N, lr=lr, clip=clip, eval_every=eval_every)
            result["runs"].append({"model": cell, "seed": seed, "settings": settings,
                                   "held_out": record["held_out_curve"][-1][1], **record})
        result["summary"] = summarise_charlm(result["runs"])
        result["environment"]["load_average_at_end"] = load_average()
        write_result(out, result)
    return result


def summarise_charlm(runs: list[dict]) -> list[dict]:
    """One row per cell: held-out nats/char of every seed, their mean and range, training seconds."""
    rows = []
    for cell in dict.fromkeys(r["model"] for r in runs):
        group = [r for r in runs if r["model"] == cell]
        values = [r["held_out"] for r in group]
        rows.append({"model": cell, "runs": len(group), "seeds": [r["seed"] for r in group], "held_out": values,
                     "mean": round(statistics.fmean(values), 5), "min": min(values), "max": max(values),
                     "seconds": round(sum(r["seconds"] for r in group), 1)})
    return rows


# --- command line ---------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lstm_ref.experiments gru",
        description="GRU against LSTM at equal parameter count, on CPU; results as JSON with the command that made them.",
    )
    sub = p.add_subparsers(dest="task", required=True)
    a = sub.add_parser("adding", help="the adding problem (experiments chapter), solve rate and sequences to solve")
    a.add_argument("--T", type=int, nargs="+", default=[100, 200], help="minimal sequence lengths (default: %(default)s)")
    a.add_argument("--lstm-hidden", type=int, default=32, help="H of the LSTM; the GRU's is matched (default: %(default)s)")
    a.add_argument("--forget-bias", type=float, default=5.0, help="LSTM forget-gate bias at init (default: %(default)s)")
    a.add_argument("--input-bias", type=float, default=-5.0, help="LSTM input-gate bias at init (default: %(default)s)")
    a.add_argument("--update-bias", type=float, default=5.0, help="GRU update-gate bias at init (default: %(default)s)")
    a.add_argument("--max-sequences", type=int, default=60_000, help="give up after this many sequences (default: %(default)s)")
    a.add_argument("--window", type=int, default=2000, help="solved when this many most recent sequences were all correct (default: %(default)s)")
    a.add_argument("--test-size", type=int, default=2560, help="fresh test sequences after training (default: %(default)s)")
    a.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS), help="cells to train (default: both)")
    c = sub.add_parser("charlm", help="the character language model (applications chapter), held-out nats/char")
    c.add_argument("--steps", type=int, default=1000, help="Adam steps per run (default: %(default)s)")
    c.add_argument("--lstm-hidden", type=int, default=128, help="H of the LSTM; the GRU's is matched (default: %(default)s)")
    c.add_argument("--embed", type=int, default=32, help="embedding size (default: %(default)s)")
    c.add_argument("--eval-every", type=int, default=250, help="held-out evaluation every this many steps (default: %(default)s)")
    c.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default: %(default)s)")
    for q in (a, c):
        q.add_argument("--seeds", type=int, default=3, help="runs per cell (and T) (default: %(default)s)")
        q.add_argument("--first-seed", type=int, default=0, help="seeds are FIRST_SEED .. FIRST_SEED+SEEDS-1 (default: %(default)s)")
        q.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
        q.add_argument("--resume", action="store_true", help="keep runs already in --out with identical settings")
        q.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
        q.add_argument("--out", default=None, help="result file (default: results/gru_<task>.json)")
    return p


def main(argv: list[str]) -> dict:
    """``python -m lstm_ref.experiments gru ...``; ``argv`` is what follows ``gru``."""
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    common = {"out": args.out or f"results/gru_{args.task}.json", "resume": args.resume, "progress": not args.no_progress,
              "command": "python -m lstm_ref.experiments gru " + shlex.join(argv)}
    if args.task == "adding":
        result = run_adding(args.T, seeds, lstm_hidden=args.lstm_hidden, forget_bias=args.forget_bias, input_bias=args.input_bias,
                            update_bias=args.update_bias, max_sequences=args.max_sequences, window=args.window,
                            test_size=args.test_size, cells=tuple(args.cells), **common)
        for row in result["summary"]:
            print(f"T={row['T']:4d}  {row['model']} H={row['hidden']}  solved {row['solved']}/{row['runs']}  "
                  f"median sequences {row['sequences_median']}  test wrong {row['test_wrong']}/{row['test_size']}")
    else:
        result = run_charlm(seeds, steps=args.steps, lstm_hidden=args.lstm_hidden, embed=args.embed,
                            eval_every=args.eval_every, lr=args.lr, **common)
        for row in result["summary"]:
            print(f"{row['model']} H={result['models'][row['model']]['hidden']}  held-out nats/char {row['held_out']}  mean {row['mean']}")
    return result
