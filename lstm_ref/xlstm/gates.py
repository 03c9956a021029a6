"""Exponential gates of the xLSTM, plain and stabilised (Beck et al. 2024).

Both cells of the xLSTM, the sLSTM and the mLSTM, write with an exponential input gate
``i_t = exp(a^i_t)`` and forget with ``f_t = exp(a^f_t)`` or ``σ(a^f_t)`` (eq:xlstm-exp-gates);
``a^i_t``, ``a^f_t`` are the gates' pre-activations (the paper's ĩ_t, f̃_t).
An exponential overflows (float32 at a^i > 88.7, float64 at a^i > 709.8), and the states add up
products of such gates, so the cells carry a stabiliser ``m_t`` and use gates divided by
``exp(m_t)`` (eq:xlstm-stabiliser, eq:xlstm-stable-gates). Every state the gates scale is then
scaled by ``exp(-m_t)`` too, and the outputs, which are ratios of such states, do not change.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["FORGET_GATES", "check_forget", "exponential_gates", "log_forget", "stabilised_gates"]

#: The two forget gates of the paper: ``exp(a^f)`` (unbounded) or ``σ(a^f)`` (in (0, 1)).
FORGET_GATES = ("exp", "sigmoid")


def check_forget(forget: str) -> None:
    """ValueError unless ``forget`` names one of :data:`FORGET_GATES`."""
    if forget not in FORGET_GATES:
        raise ValueError(f"forget={forget!r}; expected one of {FORGET_GATES} (f_t = exp(a^f_t) or σ(a^f_t))")


def log_forget(a_f: Tensor, forget: str) -> Tensor:
    """``log f_t`` of either forget gate (eq:xlstm-exp-gates): ``a^f_t`` itself, or ``log σ(a^f_t)``.

    Computed without forming ``f_t``, so it is exact where ``f_t`` would overflow or
    underflow. a_f : any-shape tensor a^f_t -> same shape
    """
    if forget == "exp":
        return a_f
    # log σ(z) = min(z, 0) - log(1 + e^(-|z|)): exact and stable for any z, and (unlike
    # F.logsigmoid, ten times slower on small CPU tensors) cheap
    return torch.clamp(a_f, max=0.0) - torch.log1p(torch.exp(-a_f.abs()))


def exponential_gates(a_i: Tensor, a_f: Tensor, forget: str = "exp") -> tuple[Tensor, Tensor]:
    """Unstabilised gates ``i_t = exp(a^i_t)``, ``f_t = exp(a^f_t)`` or ``σ(a^f_t)`` (eq:xlstm-exp-gates).

    Parameters
    ----------
    a_i, a_f : same-shape tensors, pre-activations a^i_t and a^f_t
    forget : ``"exp"`` or ``"sigmoid"``

    Returns
    -------
    i, f : tensors of that shape; ``i`` is ``inf`` where a^i_t overflows the dtype
    """
    return torch.exp(a_i), torch.exp(log_forget(a_f, forget))


def stabilised_gates(
    a_i: Tensor, a_f: Tensor, m_prev: Tensor, forget: str = "exp"
) -> tuple[Tensor, Tensor, Tensor]:
    """Stabilised gates and stabiliser (eq:xlstm-stabiliser, eq:xlstm-stable-gates).

    ``m_t = max(log f_t + m_{t-1}, a^i_t)``, ``i'_t = exp(a^i_t − m_t)``,
    ``f'_t = exp(log f_t + m_{t-1} − m_t)``: both exponents are ≤ 0, so
    ``i'_t, f'_t ∈ (0, 1]``.

    ``m_t`` is returned detached: the cells' outputs do not depend on it at all
    (a change of ``m`` scales numerator and denominator alike), so no gradient
    needs to flow through it, and autograd then gives exactly the unstabilised
    cell's derivatives.

    Parameters
    ----------
    a_i, a_f : same-shape tensors, pre-activations a^i_t and a^f_t
    m_prev : tensor of that shape, the stabiliser m_{t-1}
    forget : ``"exp"`` or ``"sigmoid"``

    Returns
    -------
    i, f, m : tensors of that shape, i'_t, f'_t and m_t
    """
    log_f = log_forget(a_f, forget)
    m = torch.maximum(log_f + m_prev, a_i).detach()  # (eq:xlstm-stabiliser)
    i = torch.exp(a_i - m)  # (eq:xlstm-stable-gates)
    f = torch.exp(log_f + m_prev - m)
    return i, f, m