"""``nn.Module`` wrappers of the sLSTM and mLSTM, for training (``forward(x) -> (hs, state)``).

Both take time-major ``x (T, N, D)`` and return ``hs (T, N, H)`` and the final state, like
``torch.nn.LSTM``, so they drop into ``lstm_ref.train.SequenceModel`` as its core.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..params import LSTMParams
from .gates import check_forget
from .mlstm import MLSTMParams, MLSTMState, mlstm_forward, mlstm_parallel
from .slstm import SLSTMState, slstm_forward

__all__ = ["SLSTM", "MLSTM"]


def _check_sizes(input_size: int, hidden_size: int) -> None:
    if int(input_size) != input_size or input_size < 1 or int(hidden_size) != hidden_size or hidden_size < 1:
        raise ValueError(f"input_size={input_size!r}, hidden_size={hidden_size!r}: expected positive integers")


class SLSTM(nn.Module):
    """One sLSTM layer (eq:xlstm-slstm-state) with parameters ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b (4H,)``.

    Weights are drawn U(-1/√H, 1/√H) as ``nn.LSTM`` draws them, so an sLSTM and an LSTM of
    the same sizes have the same number of parameters (``nn.LSTM`` has two biases, 4H more).
    ``forget_bias`` and ``input_bias`` are added to the a^f and a^i slices of ``b``.
    """

    def __init__(self, input_size: int, hidden_size: int, *, forget: str = "exp", forget_bias: float = 0.0,
                 input_bias: float = 0.0, stabilise: bool = True, device=None, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        check_forget(forget)
        self.forget, self.stabilise = forget, stabilise
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        H, k = hidden_size, 1.0 / math.sqrt(hidden_size)
        self.W_ih = nn.Parameter(torch.empty(4 * H, input_size, **factory).uniform_(-k, k))
        self.W_hh = nn.Parameter(torch.empty(4 * H, H, **factory).uniform_(-k, k))
        self.b = nn.Parameter(torch.empty(4 * H, **factory).uniform_(-k, k))
        with torch.no_grad():
            self.b[:H] += input_bias  # rows i, f, g, o
            self.b[H : 2 * H] += forget_bias

    def params(self) -> LSTMParams:
        """The parameters as an ``LSTMParams`` of tensors (no copy: gradients flow)."""
        return LSTMParams(self.W_ih, self.W_hh, self.b)

    def forward(self, x: Tensor, state: SLSTMState | None = None) -> tuple[Tensor, SLSTMState]:
        """x (T, N, D) -> hs (T, N, H), final SLSTMState."""
        return slstm_forward(x, self.params(), state, forget=self.forget, stabilise=self.stabilise)


class MLSTM(nn.Module):
    """One mLSTM layer (eq:xlstm-mlstm-state) with parameters ``W_ih (4H + 2, D)``, ``b (4H + 2,)``.

    ``parallel=True`` (the default) computes a sequence at once (eq:xlstm-mlstm-parallel)
    from an empty memory; ``parallel=False``, or a given ``state``, runs step by step.
    """

    def __init__(self, input_size: int, hidden_size: int, *, forget: str = "exp", forget_bias: float = 0.0,
                 input_bias: float = 0.0, parallel: bool = True, stabilise: bool = True, device=None, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        check_forget(forget)
        self.forget, self.parallel, self.stabilise = forget, parallel, stabilise
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        H, k = hidden_size, 1.0 / math.sqrt(input_size)
        self.W_ih = nn.Parameter(torch.empty(4 * H + 2, input_size, **factory).uniform_(-k, k))
        self.b = nn.Parameter(torch.zeros(4 * H + 2, **factory))
        with torch.no_grad():
            self.b[4 * H] += input_bias  # rows q, k, v, o, a^i, a^f
            self.b[4 * H + 1] += forget_bias

    def params(self) -> MLSTMParams:
        """The parameters as an ``MLSTMParams`` of tensors (no copy: gradients flow)."""
        return MLSTMParams(self.W_ih, self.b)

    def forward(self, x: Tensor, state: MLSTMState | None = None) -> tuple[Tensor, MLSTMState]:
        """x (T, N, D) -> hs (T, N, H), final MLSTMState."""
        kwargs = {"forget": self.forget, "stabilise": self.stabilise}
        if self.parallel and state is None:
            return mlstm_parallel(x, self.params(), **kwargs)
        return mlstm_forward(x, self.params(), state, **kwargs)
