"""``LSTMCell``: a drop-in for ``torch.nn.LSTMCell``, one step of the course's LSTM.

It *is* an ``nn.LSTMCell`` (a subclass): the constructor (``input_size, hidden_size,
bias=True, device=None, dtype=None``), the parameters ``weight_ih (4H, D)``,
``weight_hh (4H, H)``, ``bias_ih``, ``bias_hh (4H,)`` in the gate order i, f, g, o, their
initialisation, ``repr``, state dicts and ``.to()`` are ``torch.nn``'s. Only ``forward``
is the course's: one step of eq:fused-preactivation to eq:hidden-state, computed by
:class:`lstm_ref.torch_lstm.LSTMFunction` over a sequence of length 1, so its backward is
the hand-written one of the chapter "Backpropagation through time" and its second
derivatives are exact (autograd differentiates the forward when ``create_graph``).

Importable as ``lstm_ref.torch_lstm.LSTMCell``. Assignment 4 asks learners to write this
class; the grader blocks this one in that assignment's tests.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .torch_lstm import LSTMFunction

__all__ = ["LSTMCell", "LSTMCellInputError"]


class LSTMCellInputError(ValueError, RuntimeError):
    """Bad input to :meth:`LSTMCell.forward`: a ``ValueError`` (the course's contract) that is
    also the ``RuntimeError`` ``nn.LSTMCell`` raises for inconsistent sizes."""


class LSTMCell(nn.LSTMCell):
    """Drop-in for ``torch.nn.LSTMCell`` whose step is :class:`LSTMFunction`.

    ``forward(input, hx=None) -> (h_1, c_1)``: ``input (N, D)``, or ``(D,)`` unbatched;
    ``hx = (h_0, c_0)``, each ``(N, H)`` (``(H,)`` unbatched), zeros when ``None``;
    ``h_1, c_1`` have the shape of ``h_0``.
    """

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        _check_dims(input, hx)
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (N, D)
        if hx is None:
            h0 = c0 = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            h0, c0 = (s if batched else s.unsqueeze(0) for s in hx)
        _check_sizes(self, x, h0, c0)
        # (4H,), as LSTMParams.from_torch; zeros only when bias=False, not on every call
        b = self.bias_ih + self.bias_hh if self.bias else self.weight_ih.new_zeros(4 * self.hidden_size)
        _, h1, c1 = LSTMFunction.apply(x.unsqueeze(0), h0, c0, self.weight_ih, self.weight_hh, b)
        return (h1, c1) if batched else (h1.squeeze(0), c1.squeeze(0))


def _check_dims(input, hx) -> None:
    """Tensors of 1 or 2 dimensions, ``hx`` a pair with as many as ``input`` (``nn.LSTMCell``'s words);
    a TypeError, as ``nn.LSTMCell`` raises, when ``input`` is not a tensor or ``hx`` not a pair of them."""
    if not isinstance(input, Tensor):
        raise TypeError(f"LSTMCell: expected input to be a tensor (N, D) or (D,), got {type(input).__name__}")
    if input.dim() not in (1, 2):
        raise LSTMCellInputError(f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead "
                                 f"(input of shape {tuple(input.shape)}; expected (N, D) or (D,))")
    if hx is None:
        return
    if not (isinstance(hx, (tuple, list)) and len(hx) == 2 and all(isinstance(s, Tensor) for s in hx)):
        raise TypeError(f"LSTMCell: expected hx to be a pair of tensors (h_0, c_0), got {type(hx).__name__}")
    for k, s in enumerate(hx):
        if s.dim() not in (1, 2):
            raise LSTMCellInputError(f"LSTMCell: Expected hx[{k}] to be 1D or 2D, got {s.dim()}D instead "
                                     f"(shape {tuple(s.shape)}; expected (N, H) or (H,))")
        if s.dim() != input.dim():
            raise LSTMCellInputError(f"LSTMCell: hx[{k}] has {s.dim()} dimensions and input {input.dim()}: "
                                     "expected (N, D) with (N, H) states, or (D,) with (H,) states")


def _check_sizes(cell: LSTMCell, x: Tensor, h0: Tensor, c0: Tensor) -> None:
    """Sizes, dtypes and devices of ``x (N, D)``, ``h0`` and ``c0 (N, H)`` against the cell."""
    D, H, N = cell.input_size, cell.hidden_size, x.shape[0]
    if x.shape[1] != D:
        raise LSTMCellInputError(f"input has inconsistent input_size: got {x.shape[1]} expected {D} "
                                 f"(input of shape {tuple(x.shape)}; expected (N, {D}))")
    for k, s in enumerate((h0, c0)):
        if s.shape[1] != H:
            raise LSTMCellInputError(f"hidden{k} has inconsistent hidden_size: got {s.shape[1]}, expected {H} "
                                     f"(hx[{k}] of shape {tuple(s.shape)}; expected ({N}, {H}))")
        if s.shape[0] != N:
            raise LSTMCellInputError(f"Input batch size {N} doesn't match hidden{k} batch size {s.shape[0]} "
                                     f"(input {tuple(x.shape)}, hx[{k}] {tuple(s.shape)})")
    weight = cell.weight_ih
    for name, t in (("input", x), ("hx[0]", h0), ("hx[1]", c0)):
        if t.dtype != weight.dtype or t.device != weight.device:
            raise LSTMCellInputError(f"{name} is {t.dtype} on {t.device}, the cell's weights {weight.dtype} on "
                                     f"{weight.device}: expected the same dtype and device (use .to())")
