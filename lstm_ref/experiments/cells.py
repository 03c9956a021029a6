"""Interpretable cells of the character model (book/interpretable.md).

Trains :class:`lstm_ref.apps.CharLM` on the first part of Shakespeare's sonnets, then for
every quantity of :data:`lstm_ref.interpret.QUANTITIES` picks the units that correlate
most with it on a *selection* split of unseen text and re-measures them on a separate
*report* split. The same is done for the untrained model (same seed, same size): the
control that says how large |r| gets from random weights alone. Writes the weights and a
JSON file with the command that made them::

    python -m lstm_ref.experiments cells --steps 3000 --out results/cells.json

The text is cut in three, in order: training (the first 80 %), selection (the next 10 %)
and report (the last 10 %).
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

import torch

from .. import apps, interpret
from .report import load_average, utc_now, write_result

__all__ = ["CellsConfig", "split_text", "measure_units", "run_cells", "main"]

DATA = Path(__file__).resolve().parents[2] / "data" / "shakespeare_sonnets.txt"


@dataclass
class CellsConfig:
    """One run; every default is the command line's."""

    hidden_size: int = 128  # H, as in the Applications chapter's model
    embed_size: int = 32  # E
    steps: int = 3000  # Adam updates
    T: int = 64  # characters per training window
    N: int = 32  # windows per update
    lr: float = 3e-3  # Adam
    seed: int = 0  # weights and training windows
    train_fraction: float = 0.8  # the first 80 % of the text trains the model
    select_fraction: float = 0.1  # the next 10 % chooses the units; the rest reports
    top_k: int = 3  # units kept per quantity

    def __post_init__(self):
        if not (0 < self.train_fraction and 0 < self.select_fraction
                and self.train_fraction + self.select_fraction < 1):
            raise ValueError(f"train_fraction={self.train_fraction}, select_fraction="
                             f"{self.select_fraction}; expected both > 0 with a sum < 1")


def split_text(text: str, cfg: CellsConfig) -> dict[str, str]:
    """``{"train", "select", "report"}``: consecutive parts of ``text``, in that order."""
    a = int(cfg.train_fraction * len(text))
    b = int((cfg.train_fraction + cfg.select_fraction) * len(text))
    return {"train": text[:a], "select": text[a:b], "report": text[b:]}


def measure_units(model, vocab, parts: dict[str, str], k: int) -> dict[str, list[dict]]:
    """For each tracked quantity, the k units chosen on "select", measured on "report"."""
    A = {name: interpret.activations(model, vocab.encode(parts[name])) for name in ("select", "report")}
    q = {name: interpret.tracked_quantities(parts[name]) for name in ("select", "report")}
    names = interpret.unit_names(model.lstm.hidden_size)
    out = {}
    for quantity in interpret.QUANTITIES:
        rows = interpret.find_units(A["select"], q["select"][quantity], A["report"], q["report"][quantity], k)
        out[quantity] = [{"name": names[r["unit"]], **{key: round(v, 4) if isinstance(v, float) else v
                                                       for key, v in r.items()}} for r in rows]
    return out


def run_cells(cfg: CellsConfig, out: str | Path, command: str, text_path: Path = DATA,
              progress: bool = True) -> dict:
    """Train, measure the trained and the untrained model, write ``out`` and the weights."""
    load = load_average()  # the machine may be shared: say how busy
    text = Path(text_path).read_text()
    vocab = apps.CharVocab.from_text(text)  # every character of the whole text: stable ids
    parts = split_text(text, cfg)
    torch.manual_seed(cfg.seed)
    model = apps.CharLM(vocab.size, cfg.embed_size, cfg.hidden_size)
    untrained = measure_units(model, vocab, parts, cfg.top_k)
    start = time.perf_counter()
    losses = apps.train_char_lm(model, vocab.encode(parts["train"]), cfg.steps, cfg.T, cfg.N, cfg.lr,
                                seed=cfg.seed)
    seconds = time.perf_counter() - start
    out = Path(out)
    weights = out.with_name(out.stem + "_charlm.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    result = {
        "command": command,
        "created": utc_now(),
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "load_average_at_start": load,
                        "load_average_at_end": load_average()},
        "config": asdict(cfg),
        "text": {"path": f"data/{Path(text_path).name}", "vocab": vocab.chars,
                 **{name: len(part) for name, part in parts.items()}},
        "weights": weights.name,
        "train_seconds": round(seconds, 1),
        "train_loss_last_100": round(sum(losses[-100:]) / len(losses[-100:]), 4),
        "report_loss": round(apps.char_loss(model, vocab.encode(parts["report"])), 4),
        "trained": measure_units(model, vocab, parts, cfg.top_k),
        "untrained": untrained,
    }
    write_result(out, result, ensure_ascii=False)
    return result


def _parser() -> argparse.ArgumentParser:
    d = CellsConfig()
    p = argparse.ArgumentParser(
        prog="python -m lstm_ref.experiments cells",
        description="Train the character model on the sonnets and measure which units track the line "
        "position, the word position, the line in the stanza, ... (selected on one split, reported on another).")
    for name, kind in (("hidden_size", int), ("embed_size", int), ("steps", int), ("T", int), ("N", int),
                       ("lr", float), ("seed", int), ("top_k", int)):
        flag = "--" + name.replace("_", "-") if len(name) > 1 else "--" + name
        p.add_argument(flag, type=kind, default=getattr(d, name), help="(default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--out", default="results/cells.json", help="result file; the weights go beside it "
                   "as <stem>_charlm.pt (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """``python -m lstm_ref.experiments cells [options]``; prints the table, returns the result."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = CellsConfig(**{k: getattr(args, k) for k in ("hidden_size", "embed_size", "steps", "T", "N", "lr",
                                                        "seed", "top_k")})
    result = run_cells(cfg, args.out, "python -m lstm_ref.experiments cells " + shlex.join(argv))
    print(f"held-out (report split) loss {result['report_loss']} nats/char")
    for quantity, rows in result["trained"].items():
        best, control = rows[0], result["untrained"][quantity][0]
        print(f"{quantity:>18}: {best['name']:>5} r_select {best['r_select']:+.3f} r_report {best['r_report']:+.3f}"
              f"   untrained best r_report {control['r_report']:+.3f}")
    return result


if __name__ == "__main__":
    main()
