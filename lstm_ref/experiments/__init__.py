"""Experiments of the course: long-lag tasks, ablations and gradient probes.

- :mod:`.runs`: sweeps of :func:`lstm_ref.train.train` over models, lengths and seeds,
  written to JSON with the command that produced them; :func:`.runs.summarise` makes the
  solve-rate table.
- :mod:`.gradients`: how much gradient reaches step t − k (vanilla RNN vs LSTM) and the
  running product of forget gates along the cell path.
- :mod:`.xlstm`: LSTM vs sLSTM vs mLSTM on associative recall (``python -m
  lstm_ref.experiments xlstm``).
- ``python -m lstm_ref.experiments``: the command line (see ``--help``).
"""
from .gradients import forget_gate_products, gradient_norms_by_lag, load_core
from .report import html_table
from .runs import PAPER_1997_ADDING, ModelSpec, parse_model, run_label, run_sweep, summarise

__all__ = [
    "PAPER_1997_ADDING",
    "ModelSpec",
    "forget_gate_products",
    "gradient_norms_by_lag",
    "html_table",
    "load_core",
    "parse_model",
    "run_label",
    "run_sweep",
    "summarise",
]
