"""Command line: ``python -m lstm_ref.experiments {adding,temporal-order,gru,xlstm,music,cells,seq2seq,captioning} [options]``.

Examples
--------
The adding-problem table (vanilla RNN vs LSTM, 3 seeds each)::

    python -m lstm_ref.experiments adding --T 50 100 200 --seeds 3 --models rnn lstm \\
        --out results/adding.json

The ablation (variants on one task; ``name:b`` sets the forget-gate bias b)::

    python -m lstm_ref.experiments adding --T 50 --seeds 2 \\
        --models plain:0 plain:1 plain:3 nfg noaf cifg peephole --out results/ablation.json

GRU against LSTM at equal parameter count (``gru --help``)::

    python -m lstm_ref.experiments gru adding --T 100 200 --seeds 3 --out results/gru_adding.json

LSTM vs sLSTM vs mLSTM on associative recall (``xlstm --help``)::

    python -m lstm_ref.experiments xlstm --P 4 8 16 --models lstm slstm mlstm lstm:128 \\
        --seeds 2 --out results/xlstm_recall.json

The chorale model and the interpretable cells of the character model (``music --help``,
``cells --help``)::

    python -m lstm_ref.experiments music --out results/music.json
    python -m lstm_ref.experiments cells --out results/cells.json

Translating dates (``seq2seq --help``) and captioning synthetic scenes (``captioning --help``)::

    python -m lstm_ref.experiments seq2seq --seeds 2 --out results/seq2seq_dates.json
    python -m lstm_ref.experiments captioning --seeds 2 --out results/captioning.json

``adding`` and ``temporal-order`` run on CUDA when a GPU is present (``--device``
overrides); the other experiments run on the CPU. None needs a GPU. The package docstring
(``lstm_ref/experiments/__init__.py``) lists every experiment with the command that made
its file in ``results/`` and how long it took.
"""
from __future__ import annotations

import argparse
import shlex
import sys

import torch

from ..train import MODELS, TrainConfig, default_device
from .runs import parse_model, run_sweep


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m lstm_ref.experiments",
        description="Train RNNs and LSTM variants on the long-lag tasks of Hochreiter & Schmidhuber (1997) "
        "until solved (the 2000 most recent training sequences all correct) and write the results as JSON.",
        epilog="GRU against LSTM at equal parameter count: python -m lstm_ref.experiments gru --help",
    )
    p.add_argument("task", choices=["adding", "temporal-order"], help="the adding problem (Exp. 4) or the temporal-order task (Exp. 6a)")
    p.add_argument("--T", type=int, nargs="+", default=[d.T], help="minimal sequence lengths (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=3, help="runs per model and T (default: %(default)s)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are FIRST_SEED .. FIRST_SEED+SEEDS-1 (default: %(default)s)")
    p.add_argument("--models", nargs="+", default=["rnn", "lstm"], metavar="MODEL[:B]",
                   help=f"models {MODELS}, each optionally with ':<forget bias>' (default: rnn lstm)")
    p.add_argument("--forget-bias", type=float, default=d.forget_bias, help="forget-gate bias at init where a model gives none (default: %(default)s)")
    p.add_argument("--input-bias", type=float, default=d.input_bias, help="added to the LSTMs' input-gate bias at init; < 0 closes the cell at first (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=d.hidden_size, help="hidden units H (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per update (default: %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--max-sequences", type=int, default=d.max_sequences, help="give up after this many training sequences (default: %(default)s)")
    p.add_argument("--window", type=int, default=d.window, help="solved when this many most recent sequences were all correct (default: %(default)s)")
    p.add_argument("--test-size", type=int, default=d.test_size, help="fresh test sequences after training (default: %(default)s)")
    p.add_argument("--fixed-length", action="store_true", help="every sequence exactly T steps (default: T to T + T/10, as the paper)")
    p.add_argument("--save-weights", action="store_true", help="store the trained weights of the FIRST_SEED runs in the JSON")
    p.add_argument("--resume", action="store_true", help="keep runs already in --out with identical settings")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available, else cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s; small models gain nothing from more)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.add_argument("--out", default=None, help="result file (default: results/<task>.json)")
    return p


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gru"]:  # GRU against LSTM: its own options, in lstm_ref.experiments.gru
        from .gru import main as gru_main

        return gru_main(argv[1:])
    if argv[:1] == ["xlstm"]:  # LSTM vs sLSTM vs mLSTM: its own options, in lstm_ref.experiments.xlstm
        from .xlstm import main as xlstm_main

        return xlstm_main(argv[1:])
    # book/music.md, book/interpretable.md, book/translation.md, book/captioning.md: own options
    if argv[:1] in (["music"], ["cells"], ["seq2seq"], ["captioning"]):
        from importlib import import_module

        return import_module(f".{argv[0]}", __package__).main(argv[1:])
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    base = TrainConfig(
        task=args.task, hidden_size=args.hidden, forget_bias=args.forget_bias, input_bias=args.input_bias, batch_size=args.batch_size,
        lr=args.lr, max_sequences=args.max_sequences, window=args.window, test_size=args.test_size,
        vary_length=not args.fixed_length,
    )
    try:
        specs = [parse_model(m, args.forget_bias) for m in args.models]
    except ValueError as err:
        _parser().error(str(err))
    device = torch.device(args.device) if args.device else default_device()
    result = run_sweep(
        base, specs, args.T, list(range(args.first_seed, args.first_seed + args.seeds)), args.out or f"results/{args.task}.json",
        command="python -m lstm_ref.experiments " + shlex.join(argv),
        device=device, save_weights_seed=args.first_seed if args.save_weights else None,
        resume=args.resume, progress=not args.no_progress,
    )
    for row in result["summary"]:
        print(f"T={row['T']:5d}  {row['label']:>16}  solved {row['solved']}/{row['runs']}  "
              f"median sequences {row['sequences_median']}  test wrong {row['test_wrong']}/{row['test_size']}")
    return result


if __name__ == "__main__":
    main()
