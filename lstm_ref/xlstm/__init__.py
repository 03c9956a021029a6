"""The xLSTM cells of Beck et al. (2024), in torch: the sLSTM and the mLSTM.

- :mod:`.gates`: exponential input and forget gates, plain and stabilised
  (eq:xlstm-exp-gates, eq:xlstm-stabiliser, eq:xlstm-stable-gates).
- :mod:`.slstm`: the sLSTM, the course's LSTM layout with exponential gates and a
  normaliser state (eq:xlstm-slstm-state, eq:xlstm-slstm-hidden).
- :mod:`.mlstm`: the mLSTM, a matrix memory written with outer products, step by step and
  in parallel (eq:xlstm-mlstm-state, eq:xlstm-mlstm-parallel).
- :mod:`.layers`: ``nn.Module`` layers ``SLSTM`` and ``MLSTM`` for training.

The book's chapter is ``book/xlstm.md``; tests in ``tests/test_xlstm.py``.
"""
from .gates import FORGET_GATES, exponential_gates, log_forget, stabilised_gates
from .layers import MLSTM, SLSTM
from .mlstm import (
    MLSTMParams, MLSTMState, mlstm_cell, mlstm_forward, mlstm_parallel, mlstm_projections, mlstm_step,
    mlstm_zero_state,
)
from .slstm import SLSTMState, slstm_cell, slstm_forward, slstm_step, slstm_zero_state

__all__ = [
    "FORGET_GATES", "MLSTM", "MLSTMParams", "MLSTMState", "SLSTM", "SLSTMState",
    "exponential_gates", "log_forget", "mlstm_cell", "mlstm_forward", "mlstm_parallel",
    "mlstm_projections", "mlstm_step", "mlstm_zero_state", "slstm_cell", "slstm_forward",
    "slstm_step", "slstm_zero_state", "stabilised_gates",
]
