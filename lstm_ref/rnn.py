"""The vanilla (Elman) RNN baseline in PyTorch, written out step by step.

``h_t = tanh(W_ih x_t + W_hh h_{t-1} + b)`` is the whole cell (eq:rnn-step). Its
Jacobian ``∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh`` (eq:rnn-jacobian) is multiplied once
per step of lag, which is why its gradients vanish (or explode) with the lag; the
book's gradient-flow chapter measures this with :func:`rnn_forward`.

:class:`VanillaRNN` has the parameter names, shapes and initialisation of a
single-layer ``torch.nn.RNN(nonlinearity="tanh")``, so ``load_state_dict`` works both
ways: train with the fast library module, then inspect every step with this one.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import TORCH, check_arrays

__all__ = ["rnn_step", "rnn_forward", "rnn_jacobian", "VanillaRNN"]


def rnn_step(
    x: Tensor, h_prev: Tensor, W_ih: Tensor, W_hh: Tensor, b: Tensor
) -> Tensor:
    """One vanilla RNN step h_t = tanh(W_ih x_t + W_hh h_{t-1} + b) (eq:rnn-step).

    Parameters
    ----------
    x : (N, D) tensor
    h_prev : (N, H) tensor
    W_ih : (H, D) tensor
    W_hh : (H, H) tensor
    b : (H,) tensor

    Returns
    -------
    h : (N, H) tensor in (-1, 1)
    """
    return torch.tanh(x @ W_ih.T + h_prev @ W_hh.T + b)


def rnn_jacobian(h: Tensor, W_hh: Tensor) -> Tensor:
    """Per-example Jacobian ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh (eq:rnn-jacobian).

    h : (N, H) tensor, h_t -> (N, H, H) tensor
    """
    return (1.0 - h**2).unsqueeze(2) * W_hh  # (N, H, 1) * (H, H) -> (N, H, H)


def rnn_forward(
    x: Tensor, W_ih: Tensor, W_hh: Tensor, b: Tensor, h0: Tensor | None = None
) -> tuple[Tensor, list[Tensor]]:
    """Run :func:`rnn_step` over a sequence (eq:rnn-step at t = 1..T).

    Parameters
    ----------
    x : (T, N, D) tensor, time-major
    W_ih : (H, D), W_hh : (H, H), b : (H,) tensors
    h0 : (N, H) tensor or None (zeros)

    Returns
    -------
    hs : (T, N, H) tensor, h_1 .. h_T
    steps : list of the T tensors h_1 .. h_T as they enter the next step; autograd can
        differentiate a loss with respect to each (the total derivative δh_t = dL/dh_t)
    """
    if h0 is None and isinstance(x, Tensor) and x.ndim == 3:
        h0 = x.new_zeros((x.shape[1], W_hh.shape[0]))
    check_arrays(
        TORCH, W_hh=(W_hh, ("H", "H")), W_ih=(W_ih, ("H", "D")), b=(b, ("H",)),
        x=(x, ("T", "N", "D")), h0=(h0, ("N", "H")),
    )
    steps, h = [], h0
    for x_t in x:
        h = rnn_step(x_t, h, W_ih, W_hh, b)
        steps.append(h)
    return torch.stack(steps), steps


class VanillaRNN(nn.Module):
    """Single-layer tanh RNN with ``nn.RNN``'s parameters, run by :func:`rnn_forward`.

    ``forward(x (T, N, D), h0 (1, N, H) or None) -> (hs (T, N, H), h_n (1, N, H))``, as
    ``nn.RNN``. After a forward pass, ``self.steps`` holds h_1 .. h_T for gradient
    probes.
    """

    def __init__(self, input_size: int, hidden_size: int, device=None, dtype=None):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                "input_size and hidden_size must be positive, "
                f"got {input_size} and {hidden_size}"
            )
        self.input_size, self.hidden_size = input_size, hidden_size
        kw = {"device": device, "dtype": dtype}
        self.weight_ih_l0 = nn.Parameter(torch.empty(hidden_size, input_size, **kw))
        self.weight_hh_l0 = nn.Parameter(torch.empty(hidden_size, hidden_size, **kw))
        self.bias_ih_l0 = nn.Parameter(torch.empty(hidden_size, **kw))
        self.bias_hh_l0 = nn.Parameter(torch.empty(hidden_size, **kw))
        self.steps: list[Tensor] = []
        k = 1.0 / math.sqrt(hidden_size)  # U(-1/√H, 1/√H), as nn.RNN
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b = self.bias_ih_l0 + self.bias_hh_l0  # nn.RNN's two biases act as one
        h0 = None if h0 is None else h0[0]  # (1, N, H) -> (N, H)
        hs, self.steps = rnn_forward(x, self.weight_ih_l0, self.weight_hh_l0, b, h0)
        return hs, hs[-1][None]
