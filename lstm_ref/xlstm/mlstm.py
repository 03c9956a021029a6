"""The mLSTM cell of Beck et al. (2024): a matrix memory written by outer products.

Every step reads the input ``x_t`` alone (there is no ``h_{t-1}`` inside the cell) and
projects it to a query ``q_t``, a key ``k_t``, a value ``v_t``, an output gate ``o_t`` and
two scalar gate pre-activations a^i_t, a^f_t (eq:xlstm-mlstm-projections). The memory is an
``H × H`` matrix ``C_t`` that stores the pair (k_t, v_t) as the outer product ``v_t k_tᵀ``
(eq:xlstm-mlstm-state); a query reads it out as ``C_t q_t`` (eq:xlstm-mlstm-hidden).

Because no gate or projection depends on ``h_{t-1}``, all steps can be computed at once
(:func:`mlstm_parallel`, eq:xlstm-mlstm-parallel); :func:`mlstm_forward` is the same
computation step by step. One head (the paper splits the units into several).

Layout, in the spirit of ``LSTMParams``: one stacked input weight ``W_ih (4H + 2, D)`` and
bias ``b (4H + 2,)``, rows ``q, k, v, o`` (H each), then ``a^i``, then ``a^f`` (one each).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .._checks import TORCH, check_arrays
from .gates import check_forget, exponential_gates, log_forget, stabilised_gates

__all__ = [
    "MLSTMParams", "MLSTMState", "mlstm_zero_state", "mlstm_projections",
    "mlstm_cell", "mlstm_step", "mlstm_forward", "mlstm_parallel",
]


class MLSTMParams(NamedTuple):
    """Weights of one mLSTM layer: rows q, k, v, o (H each), a^i, a^f (one each)."""

    W_ih: Any  # (4H + 2, D)
    b: Any  # (4H + 2,)

    @property
    def hidden_size(self) -> int:
        """``H``, from ``W_ih``'s 4H + 2 rows."""
        return (int(self.W_ih.shape[0]) - 2) // 4

    @property
    def input_size(self) -> int:
        """``D``."""
        return int(self.W_ih.shape[1])

    @classmethod
    def init(cls, input_size: int, hidden_size: int, *, seed: int | None = None,
             forget_bias: float = 0.0, input_bias: float = 0.0, dtype=np.float64) -> "MLSTMParams":
        """Random NumPy weights U(-1/√D, 1/√D) (``nn.Linear``'s), biases 0 but a^f's and a^i's as given."""
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}")
        D, H = input_size, hidden_size
        rng = np.random.default_rng(seed)
        k = 1.0 / math.sqrt(D)
        W_ih = rng.uniform(-k, k, (4 * H + 2, D))
        b = np.zeros(4 * H + 2)
        b[4 * H], b[4 * H + 1] = input_bias, forget_bias  # rows a^i, a^f
        return cls(W_ih.astype(dtype), b.astype(dtype))

    def to_tensors(self, *, device=None, dtype=None) -> "MLSTMParams":
        """The same parameters as torch tensors (dtype defaults to the arrays' own)."""
        def convert(a):
            t = a if isinstance(a, Tensor) else torch.from_numpy(np.ascontiguousarray(a))
            return t.to(device=device if device is not None else t.device, dtype=dtype or t.dtype)

        return MLSTMParams(convert(self.W_ih), convert(self.b))


class MLSTMState(NamedTuple):
    """What an mLSTM carries from step to step (scaled by exp(-m) when stabilised)."""

    C: Tensor  # (N, H, H) matrix memory C_t: rows index the value, columns the key
    n: Tensor  # (N, H) normaliser n_t, the sum of the stored keys
    m: Tensor  # (N,) stabiliser m_t, one per sequence (the gates are scalars)


def mlstm_zero_state(N: int, H: int, *, like: Tensor) -> MLSTMState:
    """An empty memory with ``like``'s dtype and device: C (N, H, H), n (N, H), m (N,)."""
    return MLSTMState(like.new_zeros((N, H, H)), like.new_zeros((N, H)), like.new_zeros((N,)))


def _check_params(params: MLSTMParams) -> int:
    """H of ``params``; ValueError unless W_ih has 4H + 2 rows (H >= 1) and b matches."""
    if not isinstance(params, MLSTMParams):
        raise ValueError(f"params must be an MLSTMParams (W_ih, b), got {type(params).__name__}")
    rows = params.W_ih.shape[0] if params.W_ih.ndim == 2 else None
    if rows is None or rows < 6 or (rows - 2) % 4:
        raise ValueError(
            f"params.W_ih has shape {tuple(params.W_ih.shape)}; expected (4H+2, D) with H >= 1: "
            "rows q, k, v, o (H each), then a^i and a^f"
        )
    return params.hidden_size


def _check(x: Tensor, params: MLSTMParams, x_dims: tuple[str, ...], state: MLSTMState | None = None) -> None:
    """ValueError naming the argument whose type, shape, dtype or device is wrong."""
    H = _check_params(params)
    specs = {"params.W_ih": (params.W_ih, ("4H+2", "D")), "params.b": (params.b, ("4H+2",)), "x": (x, x_dims)}
    if state is not None:
        if not isinstance(state, MLSTMState):
            raise ValueError(f"state must be an MLSTMState (C, n, m), got {type(state).__name__}")
        specs |= {"state.C": (state.C, ("N", "H", "H")), "state.n": (state.n, ("N", "H")), "state.m": (state.m, ("N",))}
    check_arrays(TORCH, {"H": H}, **specs)


def mlstm_projections(x: Tensor, params: MLSTMParams) -> tuple[Tensor, ...]:
    """Query, key, value, output gate and the gates' pre-activations (eq:xlstm-mlstm-projections).

    Parameters
    ----------
    x : (..., D) tensor, one step (N, D) or a whole sequence (T, N, D)
    params : MLSTMParams of tensors

    Returns
    -------
    q, k, v, o : (..., H) tensors; k is scaled by 1/√H, o = σ(õ) is in (0, 1)
    a_i, a_f : (...) tensors, the scalar pre-activations a^i and a^f
    """
    H = params.hidden_size
    a = x @ params.W_ih.T + params.b  # (..., 4H + 2)
    q, k, v, a_o = a[..., : 4 * H].split(H, dim=-1)  # (..., H) each
    return q, k / math.sqrt(H), v, torch.sigmoid(a_o), a[..., 4 * H], a[..., 4 * H + 1]


def mlstm_cell(
    q, k, v, o, a_i, a_f, state: MLSTMState, forget: str = "exp",
    stabilise: bool = True,
):
    """Write (k, v), read with q (eq:xlstm-mlstm-state, eq:xlstm-mlstm-hidden).

    Parameters
    ----------
    q, k, v, o : (N, H) tensors from :func:`mlstm_projections`
    a_i, a_f : (N,) tensors, a^i_t and a^f_t
    state : MLSTMState, the memory after step t - 1
    forget : ``"exp"`` or ``"sigmoid"`` (eq:xlstm-exp-gates)
    stabilise : scale gates and states by exp(-m_t) (eq:xlstm-stable-gates)

    Returns
    -------
    h : (N, H) tensor, h_t
    state : MLSTMState after step t
    """
    if stabilise:
        i, f, m = stabilised_gates(a_i, a_f, state.m, forget)  # (N,) each
        floor = torch.exp(-m)  # the 1, scaled (eq:xlstm-mlstm-stable-hidden)
    else:
        (i, f), m = exponential_gates(a_i, a_f, forget), state.m
        floor = torch.ones_like(a_i)
    vk = v[:, :, None] * k[:, None, :]  # (N, H, H): the outer products v_t k_tᵀ
    C = f[:, None, None] * state.C + i[:, None, None] * vk  # (eq:xlstm-mlstm-state)
    n = f[:, None] * state.n + i[:, None] * k  # (N, H) (eq:xlstm-mlstm-state)
    nq = (n * q).sum(dim=1)  # (N,): n_tᵀ q_t
    Cq = (C @ q[:, :, None]).squeeze(2)  # (N, H): C_t q_t (eq:xlstm-retrieval)
    h = o * Cq / torch.maximum(nq.abs(), floor)[:, None]  # (eq:xlstm-mlstm-hidden)
    return h, MLSTMState(C, n, m)


def mlstm_step(x: Tensor, state: MLSTMState, params: MLSTMParams, *, forget: str = "exp", stabilise: bool = True):
    """One mLSTM step: :func:`mlstm_projections`, then :func:`mlstm_cell` (eq:xlstm-mlstm-state).

    x : (N, D) tensor; state : MLSTMState (:func:`mlstm_zero_state` to start)
    -> h (N, H), MLSTMState
    """
    check_forget(forget)
    _check(x, params, ("N", "D"), state)
    return mlstm_cell(*mlstm_projections(x, params), state, forget, stabilise)


def mlstm_forward(
    x: Tensor, params: MLSTMParams, state: MLSTMState | None = None, *, forget: str = "exp", stabilise: bool = True
) -> tuple[Tensor, MLSTMState]:
    """The mLSTM over a sequence, step by step (eq:xlstm-mlstm-state at t = 1..T).

    Parameters
    ----------
    x : (T, N, D) tensor, time-major
    params : MLSTMParams of tensors
    state : MLSTMState, the initial memory (empty when None)
    forget, stabilise : see :func:`mlstm_cell`

    Returns
    -------
    hs : (T, N, H) tensor
    state : MLSTMState after step T
    """
    check_forget(forget)
    _check(x, params, ("T", "N", "D"), state)
    T, N, _ = x.shape
    state = mlstm_zero_state(N, params.hidden_size, like=x) if state is None else state
    projections = mlstm_projections(x, params)  # all steps at once: no h_{t-1} inside
    hs = []
    for t in range(T):
        h, state = mlstm_cell(*(p[t] for p in projections), state, forget, stabilise)
        hs.append(h)
    return torch.stack(hs), state


def mlstm_parallel(
    x: Tensor, params: MLSTMParams, *, forget: str = "exp", stabilise: bool = True
) -> tuple[Tensor, MLSTMState]:
    """All h_t of a sequence at once, from an empty memory (eq:xlstm-mlstm-parallel).

    ``D̃[t, s] = Σ_{r=s+1..t} log f_r + a^i_s`` for s ≤ t (−∞ above the diagonal)
    is the log of the weight with which step s's pair is still in the memory at
    step t. Stabilised, each row t is shifted by its maximum ``m_t``
    (eq:xlstm-parallel-stabiliser). Costs O(T²) time and memory per sequence,
    where the step-by-step form costs O(T) and O(1) in T.

    Parameters
    ----------
    x : (T, N, D) tensor, time-major
    params : MLSTMParams of tensors
    forget, stabilise : see :func:`mlstm_cell`

    Returns
    -------
    hs : (T, N, H) tensor, equal to :func:`mlstm_forward`'s
    state : MLSTMState after step T (C, n scaled by exp(-m_T) for this form's m_T)
    """
    check_forget(forget)
    _check(x, params, ("T", "N", "D"))
    T = x.shape[0]
    projections = mlstm_projections(x, params)
    q, k, v, o, a_i, a_f = (p.transpose(0, 1) for p in projections)  # (N, T, ...)
    log_F = torch.cumsum(log_forget(a_f, forget), dim=1)  # (N, T): Σ_{r≤t} log f_r
    log_D = log_F[:, :, None] - log_F[:, None, :] + a_i[:, None, :]  # (N, T, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    log_D = log_D.masked_fill(~causal, -math.inf)  # step t sees steps s <= t only
    if stabilise:  # (eq:xlstm-parallel-stabiliser): m_t, the maximum of row t
        m = log_D.amax(dim=2).detach()  # (N, T)
    else:
        m = torch.zeros_like(log_F)
    D = torch.exp(log_D - m[:, :, None])  # (N, T, T), in [0, 1] when stabilised
    S = (q @ k.transpose(1, 2)) * D  # (N, T, T): q_tᵀ k_s times pair s's weight
    nq = S.sum(dim=2)  # (N, T): n_tᵀ q_t (scaled like the rows)
    hs = o * (S @ v) / torch.maximum(nq.abs(), torch.exp(-m))[:, :, None]  # (N, T, H)
    w = D[:, -1, :]  # (N, T): the last row, pair s's weight in the final memory
    C = torch.einsum("ns,nsv,nsk->nvk", w, v, k)  # (N, H, H) = Σ_s w_s v_s k_sᵀ
    n = torch.einsum("ns,nsk->nk", w, k)  # (N, H)
    return hs.transpose(0, 1), MLSTMState(C, n, m[:, -1])