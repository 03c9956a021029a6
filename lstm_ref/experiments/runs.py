"""Sweeps of training runs (models × lengths × seeds) saved as JSON, and their summary table.

A result file records the exact command that produced it, the configuration of every run
and what every run measured, so a chapter can load it, and a reader can reproduce it.
The file is rewritten after every run: an interrupted sweep keeps what it finished, and
``--resume`` skips the runs already in the file.
"""
from __future__ import annotations

import json
import platform
import statistics
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from ..train import MODELS, TrainConfig, train
from .report import utc_now, write_result

__all__ = ["PAPER_1997_ADDING", "ModelSpec", "parse_model", "run_label", "run_sweep", "summarise"]

#: Hochreiter & Schmidhuber (1997), Table 7 (Experiment 4, adding problem): minimal length T,
#: wrong answers out of 2560 test sequences, and training sequences until the stopping rule
#: held (average over 10 trials). Every trial succeeded.
PAPER_1997_ADDING = [
    {"T": 100, "test_wrong": 1, "sequences": 74_000},
    {"T": 500, "test_wrong": 0, "sequences": 209_000},
    {"T": 1000, "test_wrong": 1, "sequences": 853_000},
]


class ModelSpec(NamedTuple):
    """A model name of ``lstm_ref.train.MODELS`` and the forget bias it starts with."""

    model: str
    forget_bias: float

    @property
    def label(self) -> str:
        """``"rnn"``, ``"lstm b_f=1"``: how tables and legends name the model (nfg has no b_f)."""
        if self.model.startswith("rnn") or self.model == "nfg":
            return self.model
        return f"{self.model} b_f={self.forget_bias:g}"


def parse_model(text: str, default_forget_bias: float) -> ModelSpec:
    """``"lstm"`` -> (lstm, default); ``"plain:0"`` -> (plain, 0.0): forget bias after a colon."""
    name, _, bias = text.partition(":")
    if name not in MODELS and name != "vanilla":
        raise ValueError(f"model {name!r} (in {text!r}) is unknown; expected one of {MODELS}, optionally ':<forget bias>'")
    try:
        return ModelSpec(name, float(bias) if bias else float(default_forget_bias))
    except ValueError:
        raise ValueError(f"forget bias {bias!r} in {text!r} is not a number; write e.g. 'lstm:1'") from None


def _key(run: dict) -> tuple:
    c = run["config"]
    return (c["task"], c["model"], float(c["forget_bias"]), c.get("input_bias", 0.0), int(c["T"]), int(c["seed"]))


def _weights(model) -> dict:
    """State dict as nested lists: small models only (H = 32 is about 5,000 numbers)."""
    return {k: v.detach().cpu().tolist() for k, v in model.state_dict().items()}


def run_sweep(
    base: TrainConfig,
    specs: list[ModelSpec],
    Ts: list[int],
    seeds: list[int],
    out: str | Path,
    command: str,
    *,
    device=None,
    save_weights_seed: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train every (spec, T, seed), write ``out`` after each run, return the result dict.

    ``save_weights_seed``: store the trained weights of the runs with this seed (the book
    inspects them). ``resume``: keep the runs already in ``out`` with the same settings.
    """
    out = Path(out)
    done = {}
    if resume and out.exists():
        done = {_key(r): r for r in json.loads(out.read_text())["runs"]}
    result = {
        "command": command,
        "created": utc_now(),
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "device": str(device or "cpu"), "threads": torch.get_num_threads()},
        "base_config": asdict(base),
        "runs": [],
    }
    jobs = [(spec, T, seed) for T in Ts for spec in specs for seed in seeds]
    for spec, T, seed in tqdm(jobs, desc="runs", disable=not progress):
        cfg = replace(base, model=spec.model, forget_bias=spec.forget_bias, T=T, seed=seed)
        key = _key({"config": asdict(cfg)})
        if key in done and done[key]["config"] == asdict(cfg):
            result["runs"].append(done[key])
        else:
            model, record = train(cfg, device=device, progress=progress)
            if seed == save_weights_seed:
                record["weights"] = _weights(model)
            result["runs"].append(record)
        result["summary"] = summarise(result["runs"])
        write_result(out, result)
    return result


def run_label(config: dict) -> str:
    """How tables and legends name a run's model: ``"rnn"``, ``"lstm b_f=5 b_i=-5"``."""
    label = ModelSpec(config["model"], config["forget_bias"]).label
    input_bias = config.get("input_bias", 0.0)
    return label + (f" b_i={input_bias:g}" if input_bias and not config["model"].startswith("rnn") else "")


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (task, model, forget bias, input bias, T): solve rate and sequences needed.

    ``sequences_median`` is over the solved runs only (None if none solved);
    ``budget`` is the largest sequence budget of the group (an unsolved run used all of it).
    """
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        c = run["config"]
        groups.setdefault((c["task"], c["model"], c["forget_bias"], c.get("input_bias", 0.0), c["T"]), []).append(run)
    rows = []
    for (task, model, forget_bias, input_bias, T), group in groups.items():
        solved = [r for r in group if r["solved"]]
        seqs = [r["sequences"] for r in solved]
        rows.append({
            "task": task, "model": model, "forget_bias": forget_bias, "input_bias": input_bias, "T": T,
            "label": run_label(group[0]["config"]),
            "solved": len(solved), "runs": len(group),
            "sequences_median": statistics.median(seqs) if seqs else None,
            "sequences": [r["sequences"] for r in group],
            "test_wrong": [r["test"]["wrong"] for r in group],
            "test_size": group[0]["test"]["n"],
            "budget": max(r["config"]["max_sequences"] for r in group),
            "seconds": round(sum(r["seconds"] for r in group), 1),
        })
    return rows
