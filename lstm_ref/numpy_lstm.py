"""The reference LSTM in NumPy: gates, cell, sequence forward pass and BPTT.

Notation (the book's notation table): ``N`` batch, ``T`` time steps, ``D`` input
features, ``H`` hidden units. Sequences are time-major, ``x (T, N, D)``. Gates are
stacked in PyTorch's order ``i, f, g, o``. Each function cites the label of the book
equation it implements; ``torch_lstm`` has the same names, signatures and layout on
tensors.

Forward functions return ``(out, cache)``; backward functions take ``(dout, cache)``
and return gradients named ``d<arg>`` in the forward's argument order.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import NUMPY, check_arrays, check_step, param_specs
from .params import LSTMParams

__all__ = [
    "LSTMParams",
    "sigmoid",
    "forget_gate",
    "input_gate",
    "candidate",
    "output_gate",
    "cell_state",
    "hidden_state",
    "lstm_step",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
]


# --- the pieces of one cell, in the seed texts' per-gate form ------------------------
def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(-z)) (eq:sigmoid), without overflow for any finite z.

    ``e^(-|z|)`` never exceeds 1, so ``1 / (1 + e^(-z))`` for z ≥ 0 and
    ``e^z / (1 + e^z)`` for z < 0 are both computed from it without overflow.

    z : any-shape ndarray -> same shape, values in [0, 1]
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gate_preactivation(x, h_prev, W, b, W_name: str, b_name: str) -> np.ndarray:
    """``W · [h_prev, x] + b`` with the argument checks shared by the four gates."""
    check_arrays(
        NUMPY,
        x=(x, ("N", "D")),
        h_prev=(h_prev, ("N", "H")),
        **{W_name: (W, ("H", "H+D")), b_name: (b, ("H",))},
    )
    hx = np.concatenate([h_prev, x], axis=1)  # (N, H + D): the seeds' [h_{t-1}, x_t]
    return hx @ W.T + b  # (N, H)


def forget_gate(
    x: np.ndarray, h_prev: np.ndarray, W_f: np.ndarray, b_f: np.ndarray
) -> np.ndarray:
    """Forget gate f_t = σ(W_f · [h_{t-1}, x_t] + b_f) (eq:forget-gate).

    Parameters
    ----------
    x : (N, D) ndarray, input x_t
    h_prev : (N, H) ndarray, previous hidden state h_{t-1}
    W_f : (H, H + D) ndarray, columns ordered ``[h_{t-1}, x_t]``
    b_f : (H,) ndarray

    Returns
    -------
    f : (N, H) ndarray in (0, 1): how much of each entry of c_{t-1} to keep
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_f, b_f, "W_f", "b_f"))


def input_gate(
    x: np.ndarray, h_prev: np.ndarray, W_i: np.ndarray, b_i: np.ndarray
) -> np.ndarray:
    """Input gate i_t = σ(W_i · [h_{t-1}, x_t] + b_i) (eq:input-gate).

    Shapes as in :func:`forget_gate`; returns i : (N, H) in (0, 1), how much of each
    candidate value to write.
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_i, b_i, "W_i", "b_i"))


def candidate(
    x: np.ndarray, h_prev: np.ndarray, W_g: np.ndarray, b_g: np.ndarray
) -> np.ndarray:
    """Candidate values g_t = C̃_t = tanh(W_g · [h_{t-1}, x_t] + b_g) (eq:candidate).

    Shapes as in :func:`forget_gate`; returns g : (N, H) in (-1, 1), the values that
    could be written to the cell.
    """
    return np.tanh(_gate_preactivation(x, h_prev, W_g, b_g, "W_g", "b_g"))


def output_gate(
    x: np.ndarray, h_prev: np.ndarray, W_o: np.ndarray, b_o: np.ndarray
) -> np.ndarray:
    """Output gate o_t = σ(W_o · [h_{t-1}, x_t] + b_o) (eq:output-gate).

    Shapes as in :func:`forget_gate`; returns o : (N, H) in (0, 1), how much of each
    entry of tanh(c_t) to expose as h_t.
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_o, b_o, "W_o", "b_o"))


def cell_state(
    f: np.ndarray, c_prev: np.ndarray, i: np.ndarray, g: np.ndarray
) -> np.ndarray:
    """Cell update c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t (eq:cell-state).

    f, c_prev, i, g : (N, H) ndarrays -> c : (N, H) ndarray
    """
    check_arrays(
        NUMPY,
        f=(f, ("N", "H")),
        c_prev=(c_prev, ("N", "H")),
        i=(i, ("N", "H")),
        g=(g, ("N", "H")),
    )
    return f * c_prev + i * g


def hidden_state(o: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Hidden state h_t = o_t ⊙ tanh(c_t) (eq:hidden-state).

    o, c : (N, H) ndarrays -> h : (N, H) ndarray in (-1, 1)
    """
    check_arrays(NUMPY, o=(o, ("N", "H")), c=(c, ("N", "H")))
    return o * np.tanh(c)


# --- one time step, four gates fused into one matrix product -------------------------
class StepCache(NamedTuple):
    """What :func:`lstm_step_backward` needs from the forward step."""

    x: np.ndarray  # (N, D)
    h_prev: np.ndarray  # (N, H)
    c_prev: np.ndarray  # (N, H)
    i: np.ndarray  # (N, H)
    f: np.ndarray  # (N, H)
    g: np.ndarray  # (N, H)
    o: np.ndarray  # (N, H)
    tanh_c: np.ndarray  # (N, H)
    params: LSTMParams


def _sigmoid_(z: np.ndarray) -> np.ndarray:
    """σ(z) = (1 + tanh(z/2)) / 2 (eq:sigmoid), (eq:perf-sigmoid-tanh), in place.

    Overwrites ``z`` and returns it. The same function as :func:`sigmoid`, also free of
    overflow, but four ufunc calls with no temporary array instead of nine: ``np.tanh``
    is as fast as ``np.exp``.
    """
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


def _cell(a: np.ndarray, c_prev: np.ndarray):
    """Gates, cell and hidden state from the fused pre-activation ``a (N, 4H)``.

    The gates overwrite their slices of ``a`` (views, no copies), so ``a`` holds
    ``[i, f, g, o]`` afterwards. One in-place sigmoid runs over all of ``a`` (NumPy is
    several times slower on a column slice than on a whole array); the candidate's slot
    is saved before and restored after.
    """
    H = c_prev.shape[1]
    g = np.tanh(a[:, 2 * H : 3 * H])  # (eq:candidate)
    # (eq:input-gate), (eq:forget-gate), (eq:output-gate); and σ(a_g), replaced next
    _sigmoid_(a)
    a[:, 2 * H : 3 * H] = g
    i, f, o = a[:, :H], a[:, H : 2 * H], a[:, 3 * H :]
    c = f * c_prev + i * g  # (eq:cell-state)
    tanh_c = np.tanh(c)
    h = o * tanh_c  # (eq:hidden-state)
    return i, f, g, o, c, tanh_c, h


def _cell_backward(dh, dc, i, f, g, o, c_prev, tanh_c):
    """Gradient of the fused pre-activation ``da (N, 4H)`` and ``dc_prev (N, H)``.

    ``dh`` is δh_t, the total derivative dL/dh_t (the loss at t plus step t+1);
    ``dc`` is δ⁺c_t, the part of dL/dc_t that arrives from step t+1. The path through
    h_t = o_t ⊙ tanh(c_t) is added here to give the total δc_t (eq:bptt-dc).
    """
    do = dh * tanh_c  # (eq:bptt-do)
    dc = dc + dh * o * (1.0 - tanh_c**2)  # total dL/dc_t: both paths (eq:bptt-dc)
    df, di, dg = dc * c_prev, dc * g, dc * i  # (eq:bptt-gates)
    dc_prev = dc * f  # (eq:bptt-dc-prev)
    da = np.concatenate(  # (N, 4H), order i, f, g, o (eq:bptt-preactivation)
        [di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g**2), do * o * (1.0 - o)],
        axis=1,
    )
    return da, dc_prev


def lstm_step(
    x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, params: LSTMParams
):
    """One LSTM step: the fused a_t (eq:fused-preactivation), then the cell equations.

    Parameters
    ----------
    x : (N, D) ndarray
    h_prev, c_prev : (N, H) ndarrays
    params : LSTMParams with W_ih (4H, D), W_hh (4H, H), b (4H,)

    Returns
    -------
    h, c : (N, H) ndarrays
    cache : StepCache for :func:`lstm_step_backward`
    """
    check_step(NUMPY, x, h_prev, c_prev, params)
    a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b  # (N, 4H)
    i, f, g, o, c, tanh_c, h = _cell(a, c_prev)
    return h, c, StepCache(x, h_prev, c_prev, i, f, g, o, tanh_c, params)


def lstm_step_backward(dh: np.ndarray, dc: np.ndarray, cache: StepCache):
    """Backward pass of :func:`lstm_step` (eq:bptt-dx, eq:bptt-dh-prev, eq:bptt-dW).

    Parameters
    ----------
    dh : (N, H) ndarray, δh_t = dL/dh_t, total: the loss at t plus what step t+1
        sends back
    dc : (N, H) ndarray, δ⁺c_t, the part of dL/dc_t arriving from step t+1
        (eq:bptt-dc)
    cache : StepCache from :func:`lstm_step`

    Returns
    -------
    dx : (N, D) ndarray
    dh_prev, dc_prev : (N, H) ndarrays
    grads : LSTMParams with dW_ih (4H, D), dW_hh (4H, H), db (4H,)
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
    check_arrays(
        NUMPY, dh=(dh, ("N", "H")), dc=(dc, ("N", "H")), h=(h_prev, ("N", "H"))
    )
    da, dc_prev = _cell_backward(dh, dc, i, f, g, o, c_prev, tanh_c)
    dx = da @ params.W_ih  # (eq:bptt-dx)
    dh_prev = da @ params.W_hh  # (eq:bptt-dh-prev)
    grads = LSTMParams(da.T @ x, da.T @ h_prev, da.sum(axis=0))  # (eq:bptt-dW)
    return dx, dh_prev, dc_prev, grads


# --- a whole sequence and BPTT --------------------------------------------------------
class SequenceCache(NamedTuple):
    """What :func:`lstm_backward` needs from :func:`lstm_forward`."""

    x: np.ndarray  # (T, N, D)
    h0: np.ndarray  # (N, H)
    c0: np.ndarray  # (N, H)
    gates: np.ndarray  # (T, N, 4H): i, f, g, o after their nonlinearities
    cs: np.ndarray  # (T, N, H): c_1 .. c_T
    tanh_cs: np.ndarray  # (T, N, H)
    hs: np.ndarray  # (T, N, H): h_1 .. h_T
    params: LSTMParams


def _initial_states(x, params, h0, c0):
    """Zero initial states where none are given, then the checks of the sequence."""
    T, N = x.shape[:2] if getattr(x, "ndim", 0) == 3 else (0, 0)
    H = params.hidden_size
    # a non-array x is reported by the checks below
    dtype = x.dtype if isinstance(x, np.ndarray) else None
    h0 = np.zeros((N, H), dtype=dtype) if h0 is None else h0
    c0 = np.zeros((N, H), dtype=dtype) if c0 is None else c0
    check_arrays(
        NUMPY,
        **param_specs(params),
        x=(x, ("T", "N", "D")),
        h0=(h0, ("N", "H")),
        c0=(c0, ("N", "H")),
    )
    return h0, c0


def lstm_forward(
    x: np.ndarray,
    params: LSTMParams,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
):
    """Run the LSTM over a sequence (eq:fused-preactivation applied at t = 1..T).

    The input projection ``W_ih x_t + b`` of every step is one matrix product before the
    loop; only ``W_hh h_{t-1}`` has to wait for the previous step.

    Parameters
    ----------
    x : (T, N, D) ndarray, time-major
    params : LSTMParams
    h0, c0 : (N, H) ndarrays, initial states (zeros when None)

    Returns
    -------
    hs : (T, N, H) ndarray, h_1 .. h_T
    (h_T, c_T) : (N, H) ndarrays, the final states
    cache : SequenceCache for :func:`lstm_backward`
    """
    h0, c0 = _initial_states(x, params, h0, c0)
    T, N, D = x.shape
    H = params.hidden_size
    # W_ih x_t + b for every t in one product (hoisted); each step turns its a_t into
    # the gates
    gates = (x.reshape(T * N, D) @ params.W_ih.T + params.b).reshape(T, N, 4 * H)
    cs, tanh_cs, hs = (np.empty((T, N, H), dtype=x.dtype) for _ in range(3))
    # (H, 4H) row-major: BLAS is faster on it than on the transposed view
    W_hhT = np.ascontiguousarray(params.W_hh.T)
    h, c = h0, c0
    for t in range(T):
        a = gates[t]  # (N, 4H) view
        a += h @ W_hhT  # a_t (eq:fused-preactivation)
        # gates[t] now holds i, f, g, o
        i, f, g, o, cs[t], tanh_cs[t], hs[t] = _cell(a, c)
        h, c = hs[t], cs[t]
    return hs, (h, c), SequenceCache(x, h0, c0, gates, cs, tanh_cs, hs, params)


def auto_chunk(N: int, H: int) -> int:
    """Steps per block of the backward pass: about 2^15 numbers per (n, N, H) array.

    A block's local derivatives are then still in the CPU's cache when the step loop
    reads them.
    """
    return max(1, min(64, 2**15 // (N * H)))


def _local_derivatives(i, f, g, o, c_prev, tanh_c):
    """The factors of BPTT that do not depend on δh or δc, for many steps at once.

    i, f, g, o, c_prev, tanh_c : (..., N, H) ndarrays

    Returns
    -------
    dc_dh : (..., N, H), o ⊙ (1 - tanh² c): δh_t to δc_t (eq:bptt-dc)
    da_dc : (..., N, 3, H), δc_t to δa_i, δa_f, δa_g: g σ'(a_i), c_{t-1} σ'(a_f),
        i (1 - g²) (eq:bptt-gates), (eq:bptt-preactivation)
    da_dh : (..., N, H), tanh(c) σ'(a_o): δh_t to δa_o (eq:bptt-do)
    """
    dc_dh = o * (1.0 - tanh_c**2)
    da_dc = np.stack(
        [g * i * (1.0 - i), c_prev * f * (1.0 - f), i * (1.0 - g**2)], axis=-2
    )
    da_dh = tanh_c * o * (1.0 - o)
    return dc_dh, da_dc, da_dh


def lstm_backward(
    dhs: np.ndarray | None,
    cache: SequenceCache,
    dh_T: np.ndarray | None = None,
    dc_T: np.ndarray | None = None,
):
    """Backpropagation through time over the whole sequence (eq:bptt-dh, eq:bptt-dW).

    Parameters
    ----------
    dhs : (T, N, H) ndarray or None, ∂ℓ_t/∂h_t of the loss terms at every step
        (None: zero)
    cache : SequenceCache from :func:`lstm_forward`
    dh_T, dc_T : (N, H) ndarrays or None, gradients on the final states (None: zero)

    Returns
    -------
    dx : (T, N, D) ndarray
    dh0, dc0 : (N, H) ndarrays
    grads : LSTMParams, each summed over all time steps
    """
    x, h0, c0, gates, cs, tanh_cs, hs, params = cache
    T, N, D = x.shape
    H = params.hidden_size
    zeros = np.zeros((N, H), dtype=x.dtype)
    dhs = np.zeros_like(hs) if dhs is None else dhs
    dh_next = zeros if dh_T is None else dh_T
    dc_next = zeros if dc_T is None else dc_T
    check_arrays(
        NUMPY, hs=(hs, ("T", "N", "H")), dhs=(dhs, ("T", "N", "H")),
        dh_T=(dh_next, ("N", "H")), dc_T=(dc_next, ("N", "H")),
    )
    i, f, g, o = (gates[:, :, k * H : (k + 1) * H] for k in range(4))  # (T, N, H) views
    c_prevs = np.concatenate([c0[None], cs[:-1]])  # (T, N, H): c_0 .. c_{T-1}
    das = np.empty((T, N, 4, H), dtype=x.dtype)  # δa_t, filled from t = T down to 1
    dc = dc_next.copy()  # δ⁺c_t, made total and then passed back, in place
    n = auto_chunk(N, H)
    # blocks of n steps, the last block first
    for start in range((T - 1) // n * n, -1, -n):
        block = slice(start, start + n)
        # the block's local derivatives at once: they do not depend on δh or δc
        dc_dh, da_dc, da_dh = _local_derivatives(
            i[block], f[block], g[block], o[block], c_prevs[block], tanh_cs[block]
        )
        for t in reversed(range(start, min(start + n, T))):
            dh = dhs[t] + dh_next  # total dL/dh_t: loss at t plus step t+1 (eq:bptt-dh)
            dc += dh * dc_dh[t - start]  # total dL/dc_t: both paths (eq:bptt-dc)
            # δa_i, δa_f, δa_g (eq:bptt-preactivation)
            np.multiply(da_dc[t - start], dc[:, None], out=das[t, :, :3])
            np.multiply(dh, da_dh[t - start], out=das[t, :, 3])  # δa_o
            dc *= f[t]  # δ⁺c_{t-1} (eq:bptt-dc-prev)
            # δ⁺h_{t-1} (eq:bptt-dh-prev)
            dh_next = das[t].reshape(N, 4 * H) @ params.W_hh
    h_prevs = np.concatenate([h0[None], hs[:-1]], axis=0)  # (T, N, H): h_0 .. h_{T-1}
    da = das.reshape(T * N, 4 * H)
    dx = (da @ params.W_ih).reshape(T, N, D)  # (eq:bptt-dx), all steps at once
    grads = LSTMParams(  # summed over time (eq:bptt-dW)
        da.T @ x.reshape(T * N, D), da.T @ h_prevs.reshape(T * N, H), da.sum(axis=0)
    )
    return dx, dh_next, dc, grads
