"""The reference GRU in PyTorch: the same names, signatures and layout as ``numpy_gru``.

Every function runs on the device its inputs are on and never moves data between
devices; float32 and float64 both work. The functions are plain tensor code, so torch
autograd can differentiate them too; the hand-written backward functions are what the book
derives and what :class:`GRUFunction` uses.

``GRU`` (defined in ``lstm_ref.torch_module``, importable from here) is a drop-in for
``torch.nn.GRU``: it runs :class:`GRUFunction`, whose backward pass is the hand-written
BPTT, layer by layer and direction by direction.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ._checks import TORCH, check_arrays
from .gru_params import GRUParams, gru_param_specs
from .torch_lstm import _differentiable_backward, _is_batched, sigmoid

__all__ = [
    "GRUParams",
    "sigmoid",
    "reset_gate",
    "update_gate",
    "candidate",
    "candidate_cho",
    "hidden_state",
    "gru_step",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
    "GRUFunction",
    "sequence_autograd",
    "GRU",
]


# --- the pieces of one cell, in the per-gate form --------------------------------------------
def _gate_preactivation(x, h_prev, W, b, W_name: str, b_name: str) -> Tensor:
    """``W · [h_prev, x] + b`` with the argument checks shared by the two gates."""
    check_arrays(
        TORCH,
        x=(x, ("N", "D")),
        h_prev=(h_prev, ("N", "H")),
        **{W_name: (W, ("H", "H+D")), b_name: (b, ("H",))},
    )
    hx = torch.cat([h_prev, x], dim=1)  # (N, H + D): [h_{t-1}, x_t]
    return hx @ W.T + b  # (N, H)


def reset_gate(x: Tensor, h_prev: Tensor, W_r: Tensor, b_r: Tensor) -> Tensor:
    """Reset gate r_t = σ(W_r · [h_{t-1}, x_t] + b_r) (eq:gru-reset-gate).

    Parameters
    ----------
    x : (N, D) tensor, input x_t
    h_prev : (N, H) tensor, previous hidden state h_{t-1}
    W_r : (H, H + D) tensor, columns ordered ``[h_{t-1}, x_t]``
    b_r : (H,) tensor, ``b_ir + b_hr``

    Returns
    -------
    r : (N, H) tensor in (0, 1)
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_r, b_r, "W_r", "b_r"))


def update_gate(x: Tensor, h_prev: Tensor, W_z: Tensor, b_z: Tensor) -> Tensor:
    """Update gate z_t = σ(W_z · [h_{t-1}, x_t] + b_z) (eq:gru-update-gate).

    Shapes as in :func:`reset_gate`; returns z : (N, H) in (0, 1).
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_z, b_z, "W_z", "b_z"))


def _check_candidate(x, h_prev, r, W_in, b_in, W_hn, b_hn) -> None:
    check_arrays(
        TORCH, W_hn=(W_hn, ("H", "H")), x=(x, ("N", "D")), h_prev=(h_prev, ("N", "H")), r=(r, ("N", "H")),
        W_in=(W_in, ("H", "D")), b_in=(b_in, ("H",)), b_hn=(b_hn, ("H",)),
    )


def candidate(x: Tensor, h_prev: Tensor, r: Tensor, W_in: Tensor, b_in: Tensor, W_hn: Tensor, b_hn: Tensor) -> Tensor:
    """Candidate n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn)) (eq:gru-candidate).

    x : (N, D); h_prev, r : (N, H); W_in : (H, D), b_in : (H,), W_hn : (H, H), b_hn : (H,)
    -> n : (N, H) tensor in (-1, 1)
    """
    _check_candidate(x, h_prev, r, W_in, b_in, W_hn, b_hn)
    return torch.tanh(x @ W_in.T + b_in + r * (h_prev @ W_hn.T + b_hn))


def candidate_cho(x: Tensor, h_prev: Tensor, r: Tensor, W_in: Tensor, b_in: Tensor, W_hn: Tensor, b_hn: Tensor) -> Tensor:
    """Cho et al.'s candidate ñ_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn) (eq:gru-candidate-cho).

    Not what ``nn.GRU`` computes; shapes as in :func:`candidate`.
    """
    _check_candidate(x, h_prev, r, W_in, b_in, W_hn, b_hn)
    return torch.tanh(x @ W_in.T + b_in + (r * h_prev) @ W_hn.T + b_hn)


def hidden_state(z: Tensor, n: Tensor, h_prev: Tensor) -> Tensor:
    """Hidden state h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1} (eq:gru-hidden-state).

    z, n, h_prev : (N, H) tensors -> h : (N, H) tensor
    """
    check_arrays(TORCH, z=(z, ("N", "H")), n=(n, ("N", "H")), h_prev=(h_prev, ("N", "H")))
    return (1.0 - z) * n + z * h_prev


# --- one time step, three layers fused into two matrix products --------------------------------
class StepCache(NamedTuple):
    """What :func:`gru_step_backward` needs from the forward step."""

    x: Tensor  # (N, D)
    h_prev: Tensor  # (N, H)
    r: Tensor  # (N, H)
    z: Tensor  # (N, H)
    n: Tensor  # (N, H)
    u_n: Tensor  # (N, H): W_hn h_{t-1} + b_hn
    params: GRUParams


def _cell(a: Tensor, u: Tensor, h_prev: Tensor):
    """Gates and hidden state from ``a = W_ih x_t + b_ih``, ``u = W_hh h_{t-1} + b_hh`` (eq:gru-fused-preactivation)."""
    H = h_prev.shape[1]
    r = torch.sigmoid(a[:, :H] + u[:, :H])  # (eq:gru-reset-gate)
    z = torch.sigmoid(a[:, H : 2 * H] + u[:, H : 2 * H])  # (eq:gru-update-gate)
    u_n = u[:, 2 * H :]  # W_hn h_{t-1} + b_hn
    n = torch.tanh(a[:, 2 * H :] + r * u_n)  # (eq:gru-candidate)
    h = (1.0 - z) * n + z * h_prev  # (eq:gru-hidden-state)
    return r, z, n, u_n, h


def _cell_backward(dh, h_prev, r, z, n, u_n):
    """δa_t, δu_t and the direct share of δ⁺h_{t-1} from δh_t (eq:gru-bptt-gates to eq:gru-bptt-preactivation).

    Arguments and results as ``numpy_gru._cell_backward``: ``dh``, ``h_prev``, ``r``, ``z``,
    ``n``, ``u_n`` (N, H) -> ``da``, ``du`` (N, 3H) and ``dh_direct`` = z_t ⊙ δh_t (N, H)
    (eq:gru-bptt-dh-prev).
    """
    dn = dh * (1.0 - z)  # (eq:gru-bptt-gates)
    dz = dh * (h_prev - n)  # (eq:gru-bptt-gates)
    da_n = dn * (1.0 - n**2)  # δ of the candidate's pre-activation, a^n_t + r_t ⊙ u^n_t
    dr = da_n * u_n  # (eq:gru-bptt-reset)
    da_r, da_z = dr * r * (1.0 - r), dz * z * (1.0 - z)
    da = torch.cat([da_r, da_z, da_n], dim=1)  # (N, 3H), δa_t (eq:gru-bptt-preactivation)
    du = torch.cat([da_r, da_z, r * da_n], dim=1)  # (N, 3H), δu_t: u^n_t enters scaled by r_t
    return da, du, z * dh


def gru_step(x: Tensor, h_prev: Tensor, params: GRUParams):
    """One GRU step from ``W_ih x_t + b_ih`` and ``W_hh h_{t-1} + b_hh`` (eq:gru-fused-preactivation).

    Parameters
    ----------
    x : (N, D) tensor
    h_prev : (N, H) tensor
    params : GRUParams of tensors, W_ih (3H, D), W_hh (3H, H), b_ih, b_hh (3H,)

    Returns
    -------
    h : (N, H) tensor
    cache : StepCache for :func:`gru_step_backward`
    """
    check_arrays(TORCH, **gru_param_specs(params), x=(x, ("N", "D")), h_prev=(h_prev, ("N", "H")))
    a = x @ params.W_ih.T + params.b_ih  # (N, 3H)
    u = h_prev @ params.W_hh.T + params.b_hh  # (N, 3H)
    r, z, n, u_n, h = _cell(a, u, h_prev)
    return h, StepCache(x, h_prev, r, z, n, u_n, params)


def gru_step_backward(dh: Tensor, cache: StepCache):
    """Backward pass of :func:`gru_step` (eq:gru-bptt-dx, eq:gru-bptt-dh-prev, eq:gru-bptt-dW).

    Parameters
    ----------
    dh : (N, H) tensor, δh_t = dL/dh_t, total
    cache : StepCache from :func:`gru_step`

    Returns
    -------
    dx : (N, D) tensor
    dh_prev : (N, H) tensor, δ⁺h_{t-1}
    grads : GRUParams with dW_ih (3H, D), dW_hh (3H, H), db_ih, db_hh (3H,)
    """
    x, h_prev, r, z, n, u_n, params = cache
    check_arrays(TORCH, dh=(dh, ("N", "H")), h=(h_prev, ("N", "H")))
    da, du, dh_direct = _cell_backward(dh, h_prev, r, z, n, u_n)
    dx = da @ params.W_ih  # (eq:gru-bptt-dx)
    dh_prev = dh_direct + du @ params.W_hh  # (eq:gru-bptt-dh-prev)
    grads = GRUParams(da.T @ x, du.T @ h_prev, da.sum(dim=0), du.sum(dim=0))  # (eq:gru-bptt-dW)
    return dx, dh_prev, grads


# --- a whole sequence and BPTT -----------------------------------------------------------------
class SequenceCache(NamedTuple):
    """What :func:`gru_backward` needs from :func:`gru_forward`."""

    x: Tensor  # (T, N, D)
    h0: Tensor  # (N, H)
    gates: Tensor  # (T, N, 3H): r, z, n after their nonlinearities
    u_ns: Tensor  # (T, N, H): W_hn h_{t-1} + b_hn
    hs: Tensor  # (T, N, H): h_1 .. h_T
    params: GRUParams


def _initial_state(x, params, h0):
    """A zero initial state where none is given, then the shape checks of the sequence."""
    N = x.shape[1] if isinstance(x, Tensor) and x.ndim == 3 else 0
    like = x if isinstance(x, Tensor) else params.W_hh
    h0 = like.new_zeros((N, params.hidden_size)) if h0 is None else h0
    check_arrays(TORCH, **gru_param_specs(params), x=(x, ("T", "N", "D")), h0=(h0, ("N", "H")))
    return h0


def gru_forward(x: Tensor, params: GRUParams, h0: Tensor | None = None):
    """Run the GRU over a sequence (eq:gru-fused-preactivation applied at t = 1..T).

    Parameters
    ----------
    x : (T, N, D) tensor, time-major
    params : GRUParams of tensors
    h0 : (N, H) tensor, initial state (zeros when None)

    Returns
    -------
    hs : (T, N, H) tensor, h_1 .. h_T
    h_T : (N, H) tensor
    cache : SequenceCache for :func:`gru_backward`
    """
    h0 = _initial_state(x, params, h0)
    T, N, D = x.shape
    H = params.hidden_size
    a_seq = (x.reshape(T * N, D) @ params.W_ih.T + params.b_ih).reshape(T, N, 3 * H)  # hoisted
    steps = []
    h = h0
    for t in range(T):
        r, z, n, u_n, h = _cell(a_seq[t], h @ params.W_hh.T + params.b_hh, h)
        steps.append((torch.cat([r, z, n], dim=1), u_n, h))
    gates, u_ns, hs = (torch.stack(s) for s in zip(*steps))
    return hs, h, SequenceCache(x, h0, gates, u_ns, hs, params)


def gru_backward(dhs: Tensor | None, cache: SequenceCache, dh_T: Tensor | None = None):
    """Backpropagation through time over the whole sequence (eq:gru-bptt-dh, eq:gru-bptt-dW).

    Parameters
    ----------
    dhs : (T, N, H) tensor or None, dL/dh_t of the loss terms at every step (None: zero)
    cache : SequenceCache from :func:`gru_forward`
    dh_T : (N, H) tensor or None, gradient on the final state (None: zero)

    Returns
    -------
    dx : (T, N, D) tensor
    dh0 : (N, H) tensor
    grads : GRUParams, each summed over all time steps
    """
    x, h0, gates, u_ns, hs, params = cache
    T, N, D = x.shape
    H = params.hidden_size
    dhs = torch.zeros_like(hs) if dhs is None else dhs
    dh_next = hs.new_zeros((N, H)) if dh_T is None else dh_T
    check_arrays(TORCH, hs=(hs, ("T", "N", "H")), dhs=(dhs, ("T", "N", "H")), dh_T=(dh_next, ("N", "H")))
    h_prevs = torch.cat([h0[None], hs[:-1]], dim=0)  # (T, N, H): h_0 .. h_{T-1}
    das, dus = [None] * T, [None] * T
    for t in reversed(range(T)):
        dh = dhs[t] + dh_next  # total dL/dh_t (eq:gru-bptt-dh)
        r, z, n = gates[t].chunk(3, dim=1)
        das[t], dus[t], dh_direct = _cell_backward(dh, h_prevs[t], r, z, n, u_ns[t])
        dh_next = dh_direct + dus[t] @ params.W_hh  # δ⁺h_{t-1} (eq:gru-bptt-dh-prev)
    da, du = torch.stack(das).reshape(T * N, 3 * H), torch.stack(dus).reshape(T * N, 3 * H)
    dx = (da @ params.W_ih).reshape(T, N, D)  # (eq:gru-bptt-dx)
    grads = GRUParams(  # summed over time (eq:gru-bptt-dW)
        da.T @ x.reshape(T * N, D), du.T @ h_prevs.reshape(T * N, H), da.sum(dim=0), du.sum(dim=0)
    )
    return dx, dh_next, grads


# --- autograd and nn.Module ------------------------------------------------------------------
def sequence_autograd(x, h0, W_ih, W_hh, b_ih, b_hh):
    """:class:`GRUFunction`'s outputs ``(hs, h_T)`` from :func:`gru_forward`, plain tensor code
    that torch autograd differentiates (for second derivatives and batched gradients)."""
    hs, h_T, _ = gru_forward(x, GRUParams(W_ih, W_hh, b_ih, b_hh), h0)
    return hs, h_T


class GRUFunction(torch.autograd.Function):
    """``torch.autograd`` op whose backward is :func:`gru_backward`, the hand-written BPTT.

    ``GRUFunction.apply(x, h0, W_ih, W_hh, b_ih, b_hh) -> (hs, h_T)``, shapes as in
    :func:`gru_forward`: one direction of one layer of :class:`GRU`.

    Its backward is differentiable too: with ``create_graph=True`` (a gradient penalty,
    ``gradgradcheck``), or with batched gradients (``vmap``), it differentiates
    :func:`sequence_autograd` with torch autograd instead, so second derivatives are exact.
    """

    @staticmethod
    def forward(ctx, x, h0, W_ih, W_hh, b_ih, b_hh):
        hs, h_T, cache = gru_forward(x, GRUParams(W_ih, W_hh, b_ih, b_hh), h0)
        ctx.save_for_backward(x, cache.h0, cache.gates, cache.u_ns, hs, W_ih, W_hh, b_ih, b_hh)
        return hs, h_T.clone()  # the clone: outputs must not be views of each other

    @staticmethod
    def backward(ctx, dhs, dh_T):
        x, h0, gates, u_ns, hs, *weights = ctx.saved_tensors
        if torch.is_grad_enabled() or _is_batched(dhs, dh_T):
            return _differentiable_backward(ctx, sequence_autograd, (x, h0, *weights), (dhs, dh_T))
        cache = SequenceCache(x, h0, gates, u_ns, hs, GRUParams(*weights))
        dx, dh0, grads = gru_backward(dhs.contiguous(), cache, dh_T)
        return (dx, dh0, *grads)


def __getattr__(name: str):
    """``torch_gru.GRU``, the drop-in for ``torch.nn.GRU``, lives in ``lstm_ref.torch_module``
    (it shares the layers, directions and input handling of ``torch_lstm.LSTM``), imported on
    first use."""
    if name == "GRU":
        from .torch_module import GRU

        return GRU
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
