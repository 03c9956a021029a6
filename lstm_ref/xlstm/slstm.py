"""The sLSTM cell of Beck et al. (2024): an LSTM with exponential gates and a normaliser.

Same layout as the course's LSTM (``LSTMParams``: ``W_ih (4H, D)``, ``W_hh (4H, H)``,
``b (4H,)``, gates stacked i, f, g, o) and the same fused pre-activation
``a_t = W_ih x_t + W_hh h_{t-1} + b`` (eq:fused-preactivation). What differs is what is done
with the four slices of ``a_t``:

- the input gate is ``exp(a^i_t)`` and the forget gate ``exp(a^f_t)`` or ``σ(a^f_t)``
  (eq:xlstm-exp-gates), in place of ``σ``;
- a normaliser ``n_t`` adds up the input gates as ``c_t`` adds up the written content
  (eq:xlstm-slstm-state), and the cell shows ``o_t ⊙ c_t / n_t`` in place of
  ``o_t ⊙ tanh(c_t)`` (eq:xlstm-slstm-hidden);
- with ``stabilise=True`` (the default) the gates are divided by ``exp(m_t)``
  (eq:xlstm-stable-gates): the outputs are the same, and nothing overflows.

The paper's cell input ``z_t`` is the course's candidate ``g_t``. The paper splits the
units into heads with block-diagonal recurrent weights; here ``W_hh`` is full (one head).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .._checks import TORCH, check_arrays, param_specs
from ..params import LSTMParams
from .gates import check_forget, exponential_gates, stabilised_gates

__all__ = ["SLSTMState", "slstm_zero_state", "slstm_cell", "slstm_step", "slstm_forward"]


class SLSTMState(NamedTuple):
    """The four states an sLSTM carries from step to step, each ``(N, H)``.

    Stabilised, ``c`` and ``n`` are the true states times ``exp(-m)`` (eq:xlstm-stable-states);
    unstabilised, they are the true states and ``m`` is carried along unused.
    """

    h: Tensor  # h_t, the output
    c: Tensor  # c_t, the cell state
    n: Tensor  # n_t, the normaliser state
    m: Tensor  # m_t, the stabiliser


def slstm_zero_state(N: int, H: int, *, like: Tensor) -> SLSTMState:
    """All four states zero, with ``like``'s dtype and device; shapes ``(N, H)``."""
    zero = like.new_zeros((N, H))
    return SLSTMState(zero, zero, zero, zero)


def slstm_cell(
    a: Tensor, state: SLSTMState, forget: str = "exp", stabilise: bool = True
) -> SLSTMState:
    """The states of step t from a_t (eq:xlstm-slstm-state, eq:xlstm-slstm-hidden).

    Parameters
    ----------
    a : (N, 4H) tensor, a_t in gate order i, f, g, o (eq:fused-preactivation)
    state : SLSTMState of (N, H) tensors, the states of step t - 1
    forget : ``"exp"`` or ``"sigmoid"``, the forget gate (eq:xlstm-exp-gates)
    stabilise : divide the gates by exp(m_t) (eq:xlstm-stable-gates)

    Returns
    -------
    SLSTMState of (N, H) tensors, the states of step t
    """
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)  # (N, H) each, order i, f, g, o
    if stabilise:  # (eq:xlstm-stable-gates)
        i, f, m = stabilised_gates(a_i, a_f, state.m, forget)
    else:  # (eq:xlstm-exp-gates); m is carried along unused
        (i, f), m = exponential_gates(a_i, a_f, forget), state.m
    g = torch.tanh(a_g)  # (eq:candidate), the paper's cell input z_t
    o = torch.sigmoid(a_o)  # (eq:output-gate)
    c = f * state.c + i * g  # (eq:xlstm-slstm-state)
    n = f * state.n + i  # (eq:xlstm-slstm-state): the same sum without the content
    h = o * (c / n)  # (eq:xlstm-slstm-hidden); c / n: eq:xlstm-weighted-average
    return SLSTMState(h, c, n, m)


def _check(x: Tensor, state: SLSTMState | None, params: LSTMParams, x_dims: tuple[str, ...]) -> None:
    """ValueError naming the argument whose type, shape, dtype or device is wrong."""
    if not isinstance(params, LSTMParams):
        raise ValueError(f"params must be an LSTMParams (W_ih, W_hh, b), got {type(params).__name__}")
    check_arrays(TORCH, **param_specs(params), x=(x, x_dims))
    if state is None:
        return
    if not isinstance(state, SLSTMState):
        raise ValueError(f"state must be an SLSTMState (h, c, n, m), got {type(state).__name__}")
    specs = {f"state.{name}": (value, ("N", "H")) for name, value in state._asdict().items()}
    check_arrays(TORCH, **param_specs(params), x=(x, x_dims), **specs)


def slstm_step(
    x: Tensor, state: SLSTMState, params: LSTMParams, *, forget: str = "exp", stabilise: bool = True
) -> SLSTMState:
    """One sLSTM step: eq:fused-preactivation, then :func:`slstm_cell` (eq:xlstm-slstm-state).

    Parameters
    ----------
    x : (N, D) tensor, x_t
    state : SLSTMState of (N, H) tensors (:func:`slstm_zero_state` to start)
    params : LSTMParams of tensors, W_ih (4H, D), W_hh (4H, H), b (4H,), rows i, f, g, o
    forget, stabilise : see :func:`slstm_cell`

    Returns
    -------
    SLSTMState of (N, H) tensors; its ``h`` is the output h_t
    """
    check_forget(forget)
    _check(x, state, params, ("N", "D"))
    a = x @ params.W_ih.T + state.h @ params.W_hh.T + params.b  # (N, 4H)
    return slstm_cell(a, state, forget, stabilise)


def slstm_forward(
    x: Tensor,
    params: LSTMParams,
    state: SLSTMState | None = None,
    *,
    forget: str = "exp",
    stabilise: bool = True,
) -> tuple[Tensor, SLSTMState]:
    """Run the sLSTM over a sequence (eq:xlstm-slstm-state at t = 1..T).

    Parameters
    ----------
    x : (T, N, D) tensor, time-major
    params : LSTMParams of tensors, W_ih (4H, D), W_hh (4H, H), b (4H,)
    state : SLSTMState of (N, H) tensors, the initial states (all zero when None)
    forget, stabilise : see :func:`slstm_cell`

    Returns
    -------
    hs : (T, N, H) tensor, h_1 .. h_T
    state : SLSTMState of (N, H) tensors, the states after step T
    """
    check_forget(forget)
    _check(x, state, params, ("T", "N", "D"))
    T, N, D = x.shape
    H = params.hidden_size
    state = slstm_zero_state(N, H, like=x) if state is None else state
    ax = (x.reshape(T * N, D) @ params.W_ih.T + params.b).reshape(T, N, 4 * H)  # hoisted input part
    hs = []
    for t in range(T):
        state = slstm_cell(ax[t] + state.h @ params.W_hh.T, state, forget, stabilise)  # (N, 4H) in
        hs.append(state.h)
    return torch.stack(hs), state
