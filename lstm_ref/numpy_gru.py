"""The reference GRU in NumPy: gates, step, sequence forward pass and BPTT.

The gated recurrent unit of Cho et al. (2014) in ``torch.nn.GRU``'s form: layers stacked
``r, z, n`` in ``W_ih (3H, D)``, ``W_hh (3H, H)``, two biases ``b_ih``, ``b_hh (3H,)``
(see :mod:`lstm_ref.gru_params`). Sizes, time-major layout and the ``(out, cache)`` /
``(dout, cache)`` contract are those of :mod:`lstm_ref.numpy_lstm`; each function cites
the label of the equation it implements in the book's chapter on the GRU. ``torch_gru``
has the same names, signatures and layout on tensors.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import NUMPY, check_arrays
from .gru_params import GRUParams, gru_param_specs
from .numpy_lstm import sigmoid

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
]


# --- the pieces of one cell, in the per-gate form -------------------------------------
def _gate_preactivation(x, h_prev, W, b, W_name: str, b_name: str) -> np.ndarray:
    """``W · [h_prev, x] + b`` with the argument checks shared by the two gates."""
    check_arrays(
        NUMPY,
        x=(x, ("N", "D")),
        h_prev=(h_prev, ("N", "H")),
        **{W_name: (W, ("H", "H+D")), b_name: (b, ("H",))},
    )
    hx = np.concatenate([h_prev, x], axis=1)  # (N, H + D): [h_{t-1}, x_t]
    return hx @ W.T + b  # (N, H)


def reset_gate(
    x: np.ndarray, h_prev: np.ndarray, W_r: np.ndarray, b_r: np.ndarray
) -> np.ndarray:
    """Reset gate r_t = σ(W_r · [h_{t-1}, x_t] + b_r) (eq:gru-reset-gate).

    Parameters
    ----------
    x : (N, D) ndarray, input x_t
    h_prev : (N, H) ndarray, previous hidden state h_{t-1}
    W_r : (H, H + D) ndarray, columns ordered ``[h_{t-1}, x_t]``
    b_r : (H,) ndarray, ``b_ir + b_hr``

    Returns
    -------
    r : (N, H) ndarray in (0, 1): how much of W_hn h_{t-1} + b_hn the candidate sees
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_r, b_r, "W_r", "b_r"))


def update_gate(
    x: np.ndarray, h_prev: np.ndarray, W_z: np.ndarray, b_z: np.ndarray
) -> np.ndarray:
    """Update gate z_t = σ(W_z · [h_{t-1}, x_t] + b_z) (eq:gru-update-gate).

    Shapes as in :func:`reset_gate`; returns z : (N, H) in (0, 1), how much of h_{t-1}
    to keep (and 1 - z, how much of the candidate to write).
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_z, b_z, "W_z", "b_z"))


def candidate(
    x: np.ndarray, h_prev: np.ndarray, r: np.ndarray,
    W_in: np.ndarray, b_in: np.ndarray, W_hn: np.ndarray, b_hn: np.ndarray,
) -> np.ndarray:
    """n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn)) (eq:gru-candidate).

    PyTorch's (and cuDNN's) form: the reset gate scales the recurrent term after the
    matrix product, bias b_hn included.

    Parameters
    ----------
    x : (N, D) ndarray; h_prev, r : (N, H) ndarrays
    W_in : (H, D), b_in : (H,), W_hn : (H, H), b_hn : (H,) ndarrays

    Returns
    -------
    n : (N, H) ndarray in (-1, 1)
    """
    check_arrays(
        NUMPY, W_hn=(W_hn, ("H", "H")), x=(x, ("N", "D")), h_prev=(h_prev, ("N", "H")),
        r=(r, ("N", "H")), W_in=(W_in, ("H", "D")), b_in=(b_in, ("H",)),
        b_hn=(b_hn, ("H",)),
    )
    return np.tanh(x @ W_in.T + b_in + r * (h_prev @ W_hn.T + b_hn))


def candidate_cho(
    x: np.ndarray, h_prev: np.ndarray, r: np.ndarray,
    W_in: np.ndarray, b_in: np.ndarray, W_hn: np.ndarray, b_hn: np.ndarray,
) -> np.ndarray:
    """ñ_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn) (eq:gru-candidate-cho).

    Cho et al.'s candidate: the reset gate scales h_{t-1} before the matrix product. Not
    what ``nn.GRU`` computes; here so that the two forms can be compared. Shapes as in
    :func:`candidate`.
    """
    check_arrays(
        NUMPY, W_hn=(W_hn, ("H", "H")), x=(x, ("N", "D")), h_prev=(h_prev, ("N", "H")),
        r=(r, ("N", "H")), W_in=(W_in, ("H", "D")), b_in=(b_in, ("H",)),
        b_hn=(b_hn, ("H",)),
    )
    return np.tanh(x @ W_in.T + b_in + (r * h_prev) @ W_hn.T + b_hn)


def hidden_state(z: np.ndarray, n: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
    """Hidden state h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1} (eq:gru-hidden-state).

    z, n, h_prev : (N, H) ndarrays -> h : (N, H) ndarray
    """
    check_arrays(
        NUMPY, z=(z, ("N", "H")), n=(n, ("N", "H")), h_prev=(h_prev, ("N", "H"))
    )
    return (1.0 - z) * n + z * h_prev


# --- one time step, three layers fused into two matrix products -----------------------
class StepCache(NamedTuple):
    """What :func:`gru_step_backward` needs from the forward step."""

    x: np.ndarray  # (N, D)
    h_prev: np.ndarray  # (N, H)
    r: np.ndarray  # (N, H)
    z: np.ndarray  # (N, H)
    n: np.ndarray  # (N, H)
    u_n: np.ndarray  # (N, H): W_hn h_{t-1} + b_hn, the term r scales
    params: GRUParams


def _cell(a: np.ndarray, u: np.ndarray, h_prev: np.ndarray):
    """Gates and hidden state from the two fused pre-activations ``a``, ``u (N, 3H)``.

    ``a = W_ih x_t + b_ih``, ``u = W_hh h_{t-1} + b_hh`` (eq:gru-fused-preactivation).
    """
    H = h_prev.shape[1]
    r = sigmoid(a[:, :H] + u[:, :H])  # (eq:gru-reset-gate)
    z = sigmoid(a[:, H : 2 * H] + u[:, H : 2 * H])  # (eq:gru-update-gate)
    u_n = u[:, 2 * H :]  # W_hn h_{t-1} + b_hn
    n = np.tanh(a[:, 2 * H :] + r * u_n)  # (eq:gru-candidate)
    h = (1.0 - z) * n + z * h_prev  # (eq:gru-hidden-state)
    return r, z, n, u_n, h


def _cell_backward(dh, h_prev, r, z, n, u_n):
    """δa_t, δu_t and the direct share of δ⁺h_{t-1}, from δh_t.

    The equations eq:gru-bptt-gates, eq:gru-bptt-reset and eq:gru-bptt-preactivation.

    Parameters
    ----------
    dh : (N, H), δh_t, the total derivative dL/dh_t (the loss at t plus step t+1)
    h_prev, r, z, n : (N, H), from the forward step
    u_n : (N, H), u^n_t = W_hn h_{t-1} + b_hn, the term the reset gate scales

    Returns
    -------
    da : (N, 3H), δa_t, a_t = W_ih x_t + b_ih, order r, z, n
    du : (N, 3H), δu_t, u_t = W_hh h_{t-1} + b_hh
    dh_direct : (N, H), z_t ⊙ δh_t, the path h_{t-1} -> h_t that skips every weight
        (eq:gru-bptt-dh-prev)
    """
    dn = dh * (1.0 - z)  # (eq:gru-bptt-gates)
    dz = dh * (h_prev - n)  # (eq:gru-bptt-gates)
    da_n = dn * (1.0 - n**2)  # δ of a^n_t + r_t ⊙ u^n_t, the candidate's pre-activation
    dr = da_n * u_n  # (eq:gru-bptt-reset)
    da_r, da_z = dr * r * (1.0 - r), dz * z * (1.0 - z)
    # (eq:gru-bptt-preactivation): u^n_t enters the candidate scaled by r_t
    da = np.concatenate([da_r, da_z, da_n], axis=1)  # (N, 3H), δa_t
    du = np.concatenate([da_r, da_z, r * da_n], axis=1)  # (N, 3H), δu_t
    return da, du, z * dh


def _check_step(x, h_prev, params) -> None:
    check_arrays(
        NUMPY, **gru_param_specs(params), x=(x, ("N", "D")), h_prev=(h_prev, ("N", "H"))
    )


def gru_step(x: np.ndarray, h_prev: np.ndarray, params: GRUParams):
    """One GRU step from its two fused pre-activations (eq:gru-fused-preactivation).

    a_t = W_ih x_t + b_ih and u_t = W_hh h_{t-1} + b_hh, each (N, 3H), order r, z, n.

    Parameters
    ----------
    x : (N, D) ndarray
    h_prev : (N, H) ndarray
    params : GRUParams with W_ih (3H, D), W_hh (3H, H), b_ih, b_hh (3H,)

    Returns
    -------
    h : (N, H) ndarray
    cache : StepCache for :func:`gru_step_backward`
    """
    _check_step(x, h_prev, params)
    a = x @ params.W_ih.T + params.b_ih  # (N, 3H)
    u = h_prev @ params.W_hh.T + params.b_hh  # (N, 3H)
    r, z, n, u_n, h = _cell(a, u, h_prev)
    return h, StepCache(x, h_prev, r, z, n, u_n, params)


def gru_step_backward(dh: np.ndarray, cache: StepCache):
    """Backward pass of one step (eq:gru-bptt-dx, eq:gru-bptt-dh-prev, eq:gru-bptt-dW).

    Parameters
    ----------
    dh : (N, H) ndarray, δh_t = dL/dh_t, total: the loss at t plus what step t+1 sends
    cache : StepCache from :func:`gru_step`

    Returns
    -------
    dx : (N, D) ndarray
    dh_prev : (N, H) ndarray, δ⁺h_{t-1}, both paths (direct and through W_hh)
    grads : GRUParams with dW_ih (3H, D), dW_hh (3H, H), db_ih, db_hh (3H,)
    """
    x, h_prev, r, z, n, u_n, params = cache
    check_arrays(NUMPY, dh=(dh, ("N", "H")), h=(h_prev, ("N", "H")))
    da, du, dh_direct = _cell_backward(dh, h_prev, r, z, n, u_n)
    dx = da @ params.W_ih  # (eq:gru-bptt-dx)
    dh_prev = dh_direct + du @ params.W_hh  # (eq:gru-bptt-dh-prev)
    # (eq:gru-bptt-dW), one step's share
    grads = GRUParams(da.T @ x, du.T @ h_prev, da.sum(axis=0), du.sum(axis=0))
    return dx, dh_prev, grads


# --- a whole sequence and BPTT --------------------------------------------------------
class SequenceCache(NamedTuple):
    """What :func:`gru_backward` needs from :func:`gru_forward`."""

    x: np.ndarray  # (T, N, D)
    h0: np.ndarray  # (N, H)
    gates: np.ndarray  # (T, N, 3H): r, z, n after their nonlinearities
    u_ns: np.ndarray  # (T, N, H): W_hn h_{t-1} + b_hn
    hs: np.ndarray  # (T, N, H): h_1 .. h_T
    params: GRUParams


def _initial_state(x, params, h0):
    """A zero initial state where none is given, then the checks of the sequence."""
    N = x.shape[1] if getattr(x, "ndim", 0) == 3 else 0
    dtype = x.dtype if isinstance(x, np.ndarray) else None  # other x: reported below
    h0 = np.zeros((N, params.hidden_size), dtype=dtype) if h0 is None else h0
    check_arrays(
        NUMPY, **gru_param_specs(params), x=(x, ("T", "N", "D")), h0=(h0, ("N", "H"))
    )
    return h0


def gru_forward(x: np.ndarray, params: GRUParams, h0: np.ndarray | None = None):
    """Run the GRU over a sequence (eq:gru-fused-preactivation applied at t = 1..T).

    ``W_ih x_t + b_ih`` of every step is one matrix product before the loop; only
    ``W_hh h_{t-1} + b_hh`` has to wait for the previous step.

    Parameters
    ----------
    x : (T, N, D) ndarray, time-major
    params : GRUParams
    h0 : (N, H) ndarray, initial state (zeros when None)

    Returns
    -------
    hs : (T, N, H) ndarray, h_1 .. h_T
    h_T : (N, H) ndarray, the final state
    cache : SequenceCache for :func:`gru_backward`
    """
    h0 = _initial_state(x, params, h0)
    T, N, D = x.shape
    H = params.hidden_size
    # a_t = W_ih x_t + b_ih for every t in one product (hoisted), (T, N, 3H)
    a_seq = (x.reshape(T * N, D) @ params.W_ih.T + params.b_ih).reshape(T, N, 3 * H)
    gates = np.empty((T, N, 3 * H), dtype=x.dtype)
    u_ns, hs = np.empty((T, N, H), dtype=x.dtype), np.empty((T, N, H), dtype=x.dtype)
    h = h0
    for t in range(T):
        u = h @ params.W_hh.T + params.b_hh  # (N, 3H)
        r, z, n, u_ns[t], hs[t] = _cell(a_seq[t], u, h)
        gates[t] = np.concatenate([r, z, n], axis=1)
        h = hs[t]
    return hs, h, SequenceCache(x, h0, gates, u_ns, hs, params)


def gru_backward(
    dhs: np.ndarray | None, cache: SequenceCache, dh_T: np.ndarray | None = None
):
    """Backpropagation through time over a sequence (eq:gru-bptt-dh, eq:gru-bptt-dW).

    Parameters
    ----------
    dhs : (T, N, H) ndarray or None, ∂ℓ_t/∂h_t of the loss terms at every step (None: 0)
    cache : SequenceCache from :func:`gru_forward`
    dh_T : (N, H) ndarray or None, gradient on the final state (None: zero)

    Returns
    -------
    dx : (T, N, D) ndarray
    dh0 : (N, H) ndarray
    grads : GRUParams, each summed over all time steps
    """
    x, h0, gates, u_ns, hs, params = cache
    T, N, D = x.shape
    H = params.hidden_size
    dhs = np.zeros_like(hs) if dhs is None else dhs
    dh_next = np.zeros((N, H), dtype=x.dtype) if dh_T is None else dh_T
    check_arrays(
        NUMPY, hs=(hs, ("T", "N", "H")), dhs=(dhs, ("T", "N", "H")),
        dh_T=(dh_next, ("N", "H")),
    )
    h_prevs = np.concatenate([h0[None], hs[:-1]], axis=0)  # (T, N, H): h_0 .. h_{T-1}
    das = np.empty((T, N, 3 * H), dtype=x.dtype)  # δa_t, filled from t = T down to 1
    dus = np.empty((T, N, 3 * H), dtype=x.dtype)  # δu_t
    for t in reversed(range(T)):
        dh = dhs[t] + dh_next  # total dL/dh_t: loss at t plus step t+1 (eq:gru-bptt-dh)
        r, z, n = gates[t, :, :H], gates[t, :, H : 2 * H], gates[t, :, 2 * H :]
        das[t], dus[t], dh_direct = _cell_backward(dh, h_prevs[t], r, z, n, u_ns[t])
        dh_next = dh_direct + dus[t] @ params.W_hh  # δ⁺h_{t-1} (eq:gru-bptt-dh-prev)
    da, du = das.reshape(T * N, 3 * H), dus.reshape(T * N, 3 * H)
    dx = (da @ params.W_ih).reshape(T, N, D)  # (eq:gru-bptt-dx), all steps at once
    grads = GRUParams(  # summed over time (eq:gru-bptt-dW)
        da.T @ x.reshape(T * N, D), du.T @ h_prevs.reshape(T * N, H),
        da.sum(axis=0), du.sum(axis=0),
    )
    return dx, dh_next, grads
