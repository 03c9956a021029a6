"""Training on the long-lag tasks with the 1997 paper's stopping rule, on any device.

A model is a recurrent core (vanilla RNN, LSTM or an LSTM variant) read out by a linear
layer at the last step only: the error signal exists only at the end of the sequence, as
in the paper. :func:`train` streams fresh random batches (the paper's online setting: no
sequence is seen twice), counts the sequences it has used, and stops as soon as the task is
solved by the paper's criterion or a sequence budget is spent.

Stopping rule of Hochreiter & Schmidhuber (1997), Experiment 4: the 2000 most recent
training sequences were all processed correctly (``|error| < 0.04``) and their mean
squared error is below 0.01. The solved model is then tested on 2560 fresh sequences.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .rnn import VanillaRNN
from .tasks import ADDING_TOLERANCE, adding_problem, make_generator, temporal_order
from .variants import VARIANTS, VariantLSTM, canonical_variant

__all__ = ["MODELS", "TASKS", "TrainConfig", "SequenceModel", "build_model", "evaluate", "train", "default_device"]

#: Cores :func:`build_model` knows: the fast library cells and every LSTM variant.
MODELS = ("rnn", "lstm", "rnn-ref") + VARIANTS
TASKS = {"adding": (2, 1), "temporal-order": (8, 4)}  # task -> (D inputs, outputs)


@dataclass
class TrainConfig:
    """One training run; every default is what ``python -m lstm_ref.experiments`` uses."""

    task: str = "adding"  # "adding" (regression) or "temporal-order" (4 classes)
    model: str = "lstm"  # one of MODELS
    T: int = 100  # minimal sequence length
    hidden_size: int = 32  # H: small, the paper's nets had 93 weights
    forget_bias: float = 1.0  # added to the forget gate's bias at init (Jozefowicz et al. 2015)
    input_bias: float = 0.0  # added to the input gate's bias at init (LSTMs); < 0 keeps distractors out at first
    batch_size: int = 32  # sequences per update
    lr: float = 1e-2  # Adam; large for a small net, clipping keeps it stable
    clip: float = 1.0  # gradient-norm clipping: one exploding batch must not undo training
    max_sequences: int = 200_000  # give up (not solved) after this many training sequences
    window: int = 2000  # solved when this many most recent sequences were all correct
    mse_target: float = 0.01  # ... and their mean squared error is below this (adding only)
    test_size: int = 2560  # fresh test sequences after training, as in the paper
    vary_length: bool = True  # lengths in [T, T + T/10], as in the paper
    seed: int = 0  # seeds the weights and the training and test streams
    log_every: int = 50  # record the learning curve every this many updates

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; expected one of {tuple(TASKS)}")
        if self.model not in MODELS and self.model != "vanilla":
            raise ValueError(f"model={self.model!r}; expected one of {MODELS}")
        if self.batch_size < 1 or self.window < self.batch_size:
            raise ValueError(f"batch_size={self.batch_size}, window={self.window}: need 1 <= batch_size <= window")


def default_device() -> torch.device:
    """CUDA when present, else CPU: the code is device-agnostic and never needs a GPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class SequenceModel(nn.Module):
    """Recurrent core + linear read-out of the last hidden state h_T.

    ``forward(x (T, N, D)) -> (N, n_out)``.
    """

    def __init__(self, core: nn.Module, hidden_size: int, n_out: int):
        super().__init__()
        self.core = core
        self.head = nn.Linear(hidden_size, n_out)

    def forward(self, x: Tensor) -> Tensor:
        hs, _ = self.core(x)  # (T, N, H)
        return self.head(hs[-1])  # (N, n_out)


def _shift_gate_bias(core: nn.Module, gate: int, value: float) -> None:
    """Add ``value`` to the bias of gate ``gate`` (0..3 = i, f, g, o) of an nn.LSTM or VariantLSTM."""
    bias = core.bias_ih_l0 if isinstance(core, nn.LSTM) else core.b
    H = bias.shape[0] // 4
    with torch.no_grad():
        bias[gate * H : (gate + 1) * H] += value


def build_model(model: str, D: int, H: int, n_out: int, forget_bias: float = 1.0, input_bias: float = 0.0) -> SequenceModel:
    """A :class:`SequenceModel`; weights come from torch's RNG (seed it first).

    ``rnn`` and ``lstm`` are ``torch.nn.RNN`` / ``nn.LSTM`` (fused kernels, the fast way to
    train; ``lstm_ref``'s tests show they compute the reference equations); ``rnn-ref`` is
    :class:`~lstm_ref.rnn.VanillaRNN` and the variant names give a
    :class:`~lstm_ref.variants.VariantLSTM` (step by step in Python, slower).
    ``input_bias`` is added to the input-gate bias of the LSTMs (the RNNs have no gates):
    a negative value keeps the cell closed to the many distractor inputs at first, the
    1997 paper's remedy for drifting cell states.
    """
    if model == "rnn":
        core = nn.RNN(D, H, nonlinearity="tanh")
    elif model == "rnn-ref":
        core = VanillaRNN(D, H)
    elif model == "lstm":
        core = nn.LSTM(D, H)
        _shift_gate_bias(core, 1, forget_bias)
    else:
        core = VariantLSTM(D, H, variant=canonical_variant(model), forget_bias=forget_bias)
    if input_bias and not model.startswith("rnn"):
        _shift_gate_bias(core, 0, input_bias)
    return SequenceModel(core, H, n_out)


def _batch(cfg: TrainConfig, gen: torch.Generator, n: int, device):
    make = adding_problem if cfg.task == "adding" else temporal_order
    return make(cfg.T, n, gen, vary_length=cfg.vary_length, device=device)


def _loss_and_correct(cfg: TrainConfig, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, per-sequence error, per-sequence correct). Adding: MSE and |error| < 0.04 (eq:adding-target)."""
    if cfg.task == "adding":
        err = (out - y).squeeze(1)  # (N,)
        return (err**2).mean(), err**2, err.abs() < ADDING_TOLERANCE
    loss = nn.functional.cross_entropy(out, y, reduction="none")  # (N,)
    return loss.mean(), loss, out.argmax(dim=1) == y


@torch.no_grad()
def evaluate(model: SequenceModel, cfg: TrainConfig, n: int, seed: int, device=None) -> dict:
    """Wrong answers and mean loss on ``n`` fresh sequences drawn from ``seed``."""
    device = device or next(model.parameters()).device
    gen, wrong, loss_sum = make_generator(seed), 0, 0.0
    for start in range(0, n, 256):
        batch = _batch(cfg, gen, min(256, n - start), device)
        _, losses, correct = _loss_and_correct(cfg, model(batch.x), batch.y)
        wrong += int((~correct).sum())
        loss_sum += float(losses.sum())
    return {"wrong": wrong, "n": n, "loss": loss_sum / n}


class _RecentWindow:
    """Correctness and squared errors of the most recent ``size`` training sequences."""

    def __init__(self, size: int):
        self.size, self.batches, self.count = size, deque(), 0

    def push(self, losses: Tensor, correct: Tensor) -> None:
        self.batches.append((float(losses.sum()), int((~correct).sum()), len(correct)))
        self.count += len(correct)
        while self.count - self.batches[0][2] >= self.size:  # drop what is older than the window
            self.count -= self.batches.popleft()[2]

    def stats(self) -> tuple[int, int, float]:
        """(sequences in the window, wrong among them, their mean loss)."""
        loss, wrong, n = (sum(b[k] for b in self.batches) for k in range(3))
        return n, wrong, loss / max(n, 1)


def train(cfg: TrainConfig, device=None, progress: bool = True, model: SequenceModel | None = None) -> tuple[SequenceModel, dict]:
    """Train until solved (the paper's rule) or ``cfg.max_sequences`` sequences are used.

    Returns
    -------
    model : the trained SequenceModel
    record : dict with ``solved``, ``sequences`` (training sequences used until solved, or
        the budget), ``updates``, ``test`` (see :func:`evaluate`, on ``cfg.test_size`` fresh
        sequences), ``seconds``, ``curve`` (``[sequences, window wrong, window loss]`` every
        ``cfg.log_every`` updates) and ``config``.
    """
    device = torch.device(device) if device is not None else default_device()
    torch.manual_seed(cfg.seed)
    D, n_out = TASKS[cfg.task]
    model = (model or build_model(cfg.model, D, cfg.hidden_size, n_out, cfg.forget_bias, cfg.input_bias)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = make_generator(cfg.seed)
    window, curve, seen, solved = _RecentWindow(cfg.window), [], 0, False
    start = time.perf_counter()
    label = f"{cfg.task} T={cfg.T} {cfg.model} seed={cfg.seed}"
    with tqdm(total=cfg.max_sequences, desc=label, unit="seq", disable=not progress, leave=False) as bar:
        for update in range(1, math.ceil(cfg.max_sequences / cfg.batch_size) + 1):
            batch = _batch(cfg, gen, cfg.batch_size, device)
            loss, losses, correct = _loss_and_correct(cfg, model(batch.x), batch.y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            seen += cfg.batch_size
            window.push(losses.detach(), correct)
            n, wrong, mean_loss = window.stats()
            if update % cfg.log_every == 0:
                curve.append([seen, wrong, round(mean_loss, 6)])
                bar.set_postfix(wrong=f"{wrong}/{n}", loss=f"{mean_loss:.4f}")
            bar.update(cfg.batch_size)
            # Solved: the last `window` sequences all correct (and, adding, their MSE < 0.01).
            if n >= cfg.window and wrong == 0 and (cfg.task != "adding" or mean_loss < cfg.mse_target):
                solved = True
                break
    seconds = time.perf_counter() - start
    test = evaluate(model, cfg, cfg.test_size, seed=10_000 + cfg.seed, device=device)
    record = {
        "solved": solved, "sequences": seen, "updates": update, "test": test,
        "seconds": round(seconds, 2), "curve": curve, "config": asdict(cfg),
    }
    return model, record
