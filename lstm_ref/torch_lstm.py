"""The reference LSTM in PyTorch: the same names, signatures and layout as ``numpy_lstm``.

Every function runs on the device its inputs are on (CPU or CUDA) and never moves data
between devices; float32 and float64 both work. The functions are plain tensor code, so
torch autograd can differentiate them too; the hand-written backward functions are what
the book derives and what :class:`LSTMFunction` uses.

``LSTM`` (defined in ``lstm_ref.torch_module``, importable from here) is a drop-in for
``torch.nn.LSTM``: it runs :class:`LSTMFunction` layer by layer and direction by direction.
``LSTMCell`` (``lstm_ref.torch_cell``, importable from here) is a drop-in for
``torch.nn.LSTMCell``: one step of :class:`LSTMFunction`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._checks import TORCH, check_arrays, check_step, param_specs
from ._fast_torch import fast_backward, fast_forward  # the fast path behind LSTMFunction
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
    "LSTMFunction",
    "sequence_autograd",
    "LSTM",
    "LSTMCell",
]


# --- the pieces of one cell, in the seed texts' per-gate form ------------------------------
def sigmoid(z: Tensor) -> Tensor:
    """σ(z) = 1 / (1 + e^(-z)) (eq:sigmoid), without overflow for any finite z.

    The same two-branch formula as ``numpy_lstm.sigmoid``: ``e^(-|z|) ≤ 1`` never overflows.

    z : any-shape tensor -> same shape, values in [0, 1]
    """
    e = torch.exp(-z.abs())
    return torch.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gate_preactivation(x, h_prev, W, b, W_name: str, b_name: str) -> Tensor:
    """``W · [h_prev, x] + b`` with the argument checks shared by the four gates."""
    check_arrays(
        TORCH,
        x=(x, ("N", "D")),
        h_prev=(h_prev, ("N", "H")),
        **{W_name: (W, ("H", "H+D")), b_name: (b, ("H",))},
    )
    hx = torch.cat([h_prev, x], dim=1)  # (N, H + D): the seeds' [h_{t-1}, x_t]
    return hx @ W.T + b  # (N, H)


def forget_gate(x: Tensor, h_prev: Tensor, W_f: Tensor, b_f: Tensor) -> Tensor:
    """Forget gate f_t = σ(W_f · [h_{t-1}, x_t] + b_f) (eq:forget-gate).

    Parameters
    ----------
    x : (N, D) tensor, input x_t
    h_prev : (N, H) tensor, previous hidden state h_{t-1}
    W_f : (H, H + D) tensor, columns ordered ``[h_{t-1}, x_t]``
    b_f : (H,) tensor

    Returns
    -------
    f : (N, H) tensor in (0, 1)
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_f, b_f, "W_f", "b_f"))


def input_gate(x: Tensor, h_prev: Tensor, W_i: Tensor, b_i: Tensor) -> Tensor:
    """Input gate i_t = σ(W_i · [h_{t-1}, x_t] + b_i) (eq:input-gate).

    Shapes as in :func:`forget_gate`; returns i : (N, H) in (0, 1).
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_i, b_i, "W_i", "b_i"))


def candidate(x: Tensor, h_prev: Tensor, W_g: Tensor, b_g: Tensor) -> Tensor:
    """Candidate values g_t = C̃_t = tanh(W_g · [h_{t-1}, x_t] + b_g) (eq:candidate).

    Shapes as in :func:`forget_gate`; returns g : (N, H) in (-1, 1).
    """
    return torch.tanh(_gate_preactivation(x, h_prev, W_g, b_g, "W_g", "b_g"))


def output_gate(x: Tensor, h_prev: Tensor, W_o: Tensor, b_o: Tensor) -> Tensor:
    """Output gate o_t = σ(W_o · [h_{t-1}, x_t] + b_o) (eq:output-gate).

    Shapes as in :func:`forget_gate`; returns o : (N, H) in (0, 1).
    """
    return sigmoid(_gate_preactivation(x, h_prev, W_o, b_o, "W_o", "b_o"))


def cell_state(f: Tensor, c_prev: Tensor, i: Tensor, g: Tensor) -> Tensor:
    """Cell update c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t (eq:cell-state).

    f, c_prev, i, g : (N, H) tensors -> c : (N, H) tensor
    """
    check_arrays(TORCH, f=(f, ("N", "H")), c_prev=(c_prev, ("N", "H")), i=(i, ("N", "H")), g=(g, ("N", "H")))
    return f * c_prev + i * g


def hidden_state(o: Tensor, c: Tensor) -> Tensor:
    """Hidden state h_t = o_t ⊙ tanh(c_t) (eq:hidden-state).

    o, c : (N, H) tensors -> h : (N, H) tensor in (-1, 1)
    """
    check_arrays(TORCH, o=(o, ("N", "H")), c=(c, ("N", "H")))
    return o * torch.tanh(c)


# --- one time step, four gates fused into one matrix product -----------------------------
class StepCache(NamedTuple):
    """What :func:`lstm_step_backward` needs from the forward step."""

    x: Tensor  # (N, D)
    h_prev: Tensor  # (N, H)
    c_prev: Tensor  # (N, H)
    i: Tensor  # (N, H)
    f: Tensor  # (N, H)
    g: Tensor  # (N, H)
    o: Tensor  # (N, H)
    tanh_c: Tensor  # (N, H)
    params: LSTMParams


def _cell(a: Tensor, c_prev: Tensor):
    """Gates, cell and hidden state from the fused pre-activation ``a (N, 4H)``."""
    H = c_prev.shape[1]
    i = torch.sigmoid(a[:, :H])  # (eq:input-gate)
    f = torch.sigmoid(a[:, H : 2 * H])  # (eq:forget-gate)
    g = torch.tanh(a[:, 2 * H : 3 * H])  # (eq:candidate)
    o = torch.sigmoid(a[:, 3 * H :])  # (eq:output-gate)
    c = f * c_prev + i * g  # (eq:cell-state)
    tanh_c = torch.tanh(c)
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
    da = torch.cat(  # (N, 4H), order i, f, g, o (eq:bptt-preactivation)
        [di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g**2), do * o * (1.0 - o)], dim=1
    )
    return da, dc_prev


def lstm_step(x: Tensor, h_prev: Tensor, c_prev: Tensor, params: LSTMParams):
    """One LSTM step: a_t = W_ih x_t + W_hh h_{t-1} + b, then the gates (eq:fused-preactivation).

    Parameters
    ----------
    x : (N, D) tensor
    h_prev, c_prev : (N, H) tensors
    params : LSTMParams of tensors, W_ih (4H, D), W_hh (4H, H), b (4H,)

    Returns
    -------
    h, c : (N, H) tensors
    cache : StepCache for :func:`lstm_step_backward`
    """
    check_step(TORCH, x, h_prev, c_prev, params)
    a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b  # (N, 4H)
    i, f, g, o, c, tanh_c, h = _cell(a, c_prev)
    return h, c, StepCache(x, h_prev, c_prev, i, f, g, o, tanh_c, params)


def lstm_step_backward(dh: Tensor, dc: Tensor, cache: StepCache):
    """Backward pass of :func:`lstm_step` (eq:bptt-dx, eq:bptt-dh-prev, eq:bptt-dW).

    Parameters
    ----------
    dh : (N, H) tensors, δh_t = dL/dh_t, total: the loss at t plus what step t+1 sends back
    dc : (N, H) tensors, δ⁺c_t, the part of dL/dc_t arriving from step t+1 (eq:bptt-dc)
    cache : StepCache from :func:`lstm_step`

    Returns
    -------
    dx : (N, D) tensor
    dh_prev, dc_prev : (N, H) tensors
    grads : LSTMParams with dW_ih (4H, D), dW_hh (4H, H), db (4H,)
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
    check_arrays(TORCH, dh=(dh, ("N", "H")), dc=(dc, ("N", "H")), h=(h_prev, ("N", "H")))
    da, dc_prev = _cell_backward(dh, dc, i, f, g, o, c_prev, tanh_c)
    dx = da @ params.W_ih  # (eq:bptt-dx)
    dh_prev = da @ params.W_hh  # (eq:bptt-dh-prev)
    grads = LSTMParams(da.T @ x, da.T @ h_prev, da.sum(dim=0))  # (eq:bptt-dW)
    return dx, dh_prev, dc_prev, grads


# --- a whole sequence and BPTT -----------------------------------------------------------------
class SequenceCache(NamedTuple):
    """What :func:`lstm_backward` needs from :func:`lstm_forward`."""

    x: Tensor  # (T, N, D)
    h0: Tensor  # (N, H)
    c0: Tensor  # (N, H)
    gates: Tensor  # (T, N, 4H): i, f, g, o after their nonlinearities
    cs: Tensor  # (T, N, H): c_1 .. c_T
    tanh_cs: Tensor  # (T, N, H)
    hs: Tensor  # (T, N, H): h_1 .. h_T
    params: LSTMParams


def _initial_states(x, params, h0, c0):
    """Zero initial states where none are given, then the shape checks of the sequence."""
    N = x.shape[1] if isinstance(x, Tensor) and x.ndim == 3 else 0
    H = params.hidden_size
    like = x if isinstance(x, Tensor) else params.W_hh
    h0 = like.new_zeros((N, H)) if h0 is None else h0
    c0 = like.new_zeros((N, H)) if c0 is None else c0
    check_arrays(
        TORCH, **param_specs(params), x=(x, ("T", "N", "D")), h0=(h0, ("N", "H")), c0=(c0, ("N", "H"))
    )
    return h0, c0


def lstm_forward(x: Tensor, params: LSTMParams, h0: Tensor | None = None, c0: Tensor | None = None):
    """Run the LSTM over a sequence (eq:fused-preactivation applied at t = 1..T).

    The input projection ``W_ih x_t + b`` of every step is one matrix product before the
    loop; only ``W_hh h_{t-1}`` has to wait for the previous step.

    Parameters
    ----------
    x : (T, N, D) tensor, time-major
    params : LSTMParams of tensors
    h0, c0 : (N, H) tensors, initial states (zeros when None)

    Returns
    -------
    hs : (T, N, H) tensor, h_1 .. h_T
    (h_T, c_T) : (N, H) tensors, the final states
    cache : SequenceCache for :func:`lstm_backward`
    """
    h0, c0 = _initial_states(x, params, h0, c0)
    T, N, D = x.shape
    H = params.hidden_size
    ax = (x.reshape(T * N, D) @ params.W_ih.T + params.b).reshape(T, N, 4 * H)  # hoisted
    steps = []
    h, c = h0, c0
    for t in range(T):
        a = ax[t] + h @ params.W_hh.T  # (N, 4H)
        i, f, g, o, c, tanh_c, h = _cell(a, c)
        steps.append((torch.cat([i, f, g, o], dim=1), c, tanh_c, h))
    gates, cs, tanh_cs, hs = (torch.stack(s) for s in zip(*steps))
    return hs, (h, c), SequenceCache(x, h0, c0, gates, cs, tanh_cs, hs, params)


def lstm_backward(
    dhs: Tensor | None,
    cache: SequenceCache,
    dh_T: Tensor | None = None,
    dc_T: Tensor | None = None,
):
    """Backpropagation through time over the whole sequence (eq:bptt-dh, eq:bptt-dW).

    Parameters
    ----------
    dhs : (T, N, H) tensor or None, dL/dh_t of the loss terms at every step (None: zero)
    cache : SequenceCache from :func:`lstm_forward`
    dh_T, dc_T : (N, H) tensors or None, gradients on the final states (None: zero)

    Returns
    -------
    dx : (T, N, D) tensor
    dh0, dc0 : (N, H) tensors
    grads : LSTMParams, each summed over all time steps
    """
    x, h0, c0, gates, cs, tanh_cs, hs, params = cache
    T, N, D = x.shape
    H = params.hidden_size
    dhs = torch.zeros_like(hs) if dhs is None else dhs
    dh_next = hs.new_zeros((N, H)) if dh_T is None else dh_T
    dc_next = hs.new_zeros((N, H)) if dc_T is None else dc_T
    check_arrays(
        TORCH, hs=(hs, ("T", "N", "H")), dhs=(dhs, ("T", "N", "H")),
        dh_T=(dh_next, ("N", "H")), dc_T=(dc_next, ("N", "H")),
    )
    das = [None] * T
    for t in reversed(range(T)):
        dh = dhs[t] + dh_next  # total dL/dh_t: loss at t plus step t+1 (eq:bptt-dh)
        i, f, g, o = gates[t].chunk(4, dim=1)
        c_prev = cs[t - 1] if t > 0 else c0
        das[t], dc_next = _cell_backward(dh, dc_next, i, f, g, o, c_prev, tanh_cs[t])
        dh_next = das[t] @ params.W_hh  # (eq:bptt-dh-prev)
    h_prevs = torch.cat([h0[None], hs[:-1]], dim=0)  # (T, N, H): h_0 .. h_{T-1}
    da = torch.stack(das).reshape(T * N, 4 * H)
    dx = (da @ params.W_ih).reshape(T, N, D)  # (eq:bptt-dx), all steps at once
    grads = LSTMParams(  # summed over time (eq:bptt-dW)
        da.T @ x.reshape(T * N, D), da.T @ h_prevs.reshape(T * N, H), da.sum(dim=0)
    )
    return dx, dh_next, dc_next, grads


# --- autograd and nn.Module ------------------------------------------------------------------
def _last_steps(lengths: Tensor | None, like: Tensor):
    """``(t, n)`` index of every row's last step, ``len_n - 1``, on ``like``'s device; None for full rows."""
    if lengths is None:
        return None
    return (lengths - 1).to(like.device), torch.arange(len(lengths), device=like.device)


def sequence_autograd(x, h0, c0, W_ih, W_hh, b, W_hr=None, lengths=None):
    """:class:`LSTMFunction`'s outputs from plain tensor code that torch autograd differentiates.

    The loop of :func:`lstm_forward` (eq:fused-preactivation, then :func:`_cell`), with
    ``nn.LSTM``'s projection ``h_t = W_hr (o_t ⊙ tanh c_t)`` when ``W_hr`` is given, and each
    row's final state taken at its own length. ``LSTMFunction.backward`` differentiates this
    when a second derivative (``create_graph=True``) or batched gradients are asked for.

    Parameters
    ----------
    x : (T, N, D); h0 : (N, P); c0 : (N, H); W_ih : (4H, D); W_hh : (4H, P); b : (4H,) tensors
    W_hr : (P, H) tensor or None (then P = H)
    lengths : (N,) int64 CPU tensor or None, steps of each row (the rest is padding)

    Returns
    -------
    hs : (T, N, P) tensor; h_n : (N, P), c_n : (N, H) tensors, the states at each row's last step
    """
    T = x.shape[0]
    ax = x @ W_ih.T + b  # (T, N, 4H), hoisted
    h, c, hs, cs = h0, c0, [], []
    for t in range(T):
        *_, c, _, h = _cell(ax[t] + h @ W_hh.T, c)
        h = h if W_hr is None else h @ W_hr.T  # (N, P): the projection
        hs.append(h)
        cs.append(c)
    hs, cs = torch.stack(hs), torch.stack(cs)  # (T, N, P), (T, N, H)
    last = _last_steps(lengths, x)
    return (hs, hs[-1], cs[-1]) if last is None else (hs, hs[last], cs[last])


def _check_layer(x, h0, c0, W_ih, W_hh, b, W_hr):
    """The shape, dtype and device checks of :class:`LSTMFunction` (ValueError)."""
    if W_hr is None:
        return _initial_states(x, LSTMParams(W_ih, W_hh, b), h0, c0)
    check_arrays(
        TORCH, W_hr=(W_hr, ("P", "H")), W_hh=(W_hh, ("4H", "P")), W_ih=(W_ih, ("4H", "D")), b=(b, ("4H",)),
        x=(x, ("T", "N", "D")), h0=(h0, ("N", "P")), c0=(c0, ("N", "H")),
    )
    return h0, c0


def _is_batched(*tensors) -> bool:
    """True for the batched tensors of ``vmap`` (gradcheck's ``check_batched_grad``, ``is_grads_batched``)."""
    f = torch._C._functorch
    return any(t is not None and (f.is_batchedtensor(t) or f.is_legacy_batchedtensor(t)) for t in tensors)


class LSTMFunction(torch.autograd.Function):
    """``torch.autograd`` op with a hand-written BPTT: one direction of one layer of :class:`LSTM`.

    ``LSTMFunction.apply(x, h0, c0, W_ih, W_hh, b, W_hr=None, lengths=None) -> (hs, h_n, c_n)``,
    shapes as in :func:`lstm_forward`, with ``nn.LSTM``'s projection ``W_hr (P, H)`` (then
    ``h0``, ``hs`` and ``h_n`` have P features) and, for padded variable-length rows,
    ``lengths (N,)``: row n's final states are those of step ``lengths[n]``. It computes the
    numbers of :func:`lstm_forward` and :func:`lstm_backward` (tested to 1e-10 in float64)
    with the optimisations of ``lstm_ref._fast_torch``: fused gates, the input projection
    hoisted out of the loop, in-place ops on preallocated buffers, no autograd graph per
    time step.

    Its backward is differentiable too: with ``create_graph=True`` (a gradient penalty,
    ``gradgradcheck``), or with batched gradients (``vmap``), it differentiates
    :func:`sequence_autograd` with torch autograd instead, so second derivatives are exact.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, W_ih, W_hh, b, W_hr=None, lengths=None):
        h0, c0 = _check_layer(x, h0, c0, W_ih, W_hh, b, W_hr)  # ValueError on bad shapes
        hs, gates, ms, rs = fast_forward(x, h0, c0, W_ih, W_hh, b, W_hr)
        ctx.lengths = lengths
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None: no zeros to add
        ctx.save_for_backward(x, h0, c0, W_ih, W_hh, b, W_hr, hs, gates, ms, rs)
        last = _last_steps(lengths, x)
        if last is None:  # c_T = -m_T / 2; the clone: outputs must not be views of each other
            return hs, hs[-1].clone(), ms[-1] * -0.5
        return hs, hs[last], ms[last] * -0.5

    @staticmethod
    def backward(ctx, dhs, dh_n, dc_n):
        x, h0, c0, W_ih, W_hh, b, W_hr, *saved = ctx.saved_tensors
        inputs = (x, h0, c0, W_ih, W_hh, b, W_hr)
        if torch.is_grad_enabled() or _is_batched(dhs, dh_n, dc_n):
            return _differentiable_backward(ctx, sequence_autograd, inputs, (dhs, dh_n, dc_n), (ctx.lengths,))
        dhs, dh_n, dc_n, dcs = _final_state_gradients(ctx.lengths, saved[0], dhs, dh_n, dc_n)
        dx, dh0, dc0, dW_ih, dW_hh, db, dW_hr = fast_backward(
            dhs, dh_n, dc_n, x, h0, c0, W_ih, W_hh, saved, need_dx=ctx.needs_input_grad[0], W_hr=W_hr, dcs=dcs
        )
        return dx, dh0, dc0, dW_ih, dW_hh, db, dW_hr, None  # None: lengths


def _final_state_gradients(lengths, hs, dhs, dh_n, dc_n):
    """With ``lengths``, move dL/dh_n and dL/dc_n to each row's last step: ``(dhs, None, None, dcs)``."""
    last = _last_steps(lengths, hs)
    if last is None or (dh_n is None and dc_n is None):
        return dhs, dh_n, dc_n, None
    if dh_n is not None:
        dhs = torch.zeros_like(hs) if dhs is None else dhs.clone()
        dhs[last] += dh_n
    dcs = None
    if dc_n is not None:
        dcs = dc_n.new_zeros((hs.shape[0], *dc_n.shape))  # (T, N, H)
        dcs[last] = dc_n
    return dhs, None, None, dcs


def _differentiable_backward(ctx, forward, inputs, grads, extra=()):
    """Gradients of ``forward(*inputs, *extra)`` by torch autograd: a graph for double backward, vmap-safe.

    The backward of an ``autograd.Function`` whose forward computes what the plain tensor
    code ``forward`` does (:func:`sequence_autograd` for :class:`LSTMFunction`): ``inputs``
    are its tensor inputs (None where absent), ``grads`` the gradients of its outputs (None
    where unused), ``extra`` its non-tensor inputs, which get None.
    """
    create_graph = torch.is_grad_enabled()
    wanted = [k for k, t in enumerate(inputs) if t is not None and ctx.needs_input_grad[k]]
    with torch.enable_grad():
        outputs = forward(*inputs, *extra)
        pairs = [(out, g) for out, g in zip(outputs, grads) if g is not None]
        found = torch.autograd.grad(
            [out for out, _ in pairs], [inputs[k] for k in wanted], [g for _, g in pairs],
            create_graph=create_graph, allow_unused=True,
        ) if pairs and wanted else ()
    result = [None] * (len(inputs) + len(extra))
    for k, g in zip(wanted, found):
        result[k] = g
    return tuple(result)


def __getattr__(name: str):
    """``torch_lstm.LSTM`` and ``torch_lstm.LSTMCell``, the drop-ins for ``torch.nn.LSTM`` and
    ``torch.nn.LSTMCell``, live in ``lstm_ref.torch_module`` and ``lstm_ref.torch_cell`` (they
    compose this module's functions, so they are imported on first use)."""
    if name == "LSTM":
        from .torch_module import LSTM

        return LSTM
    if name == "LSTMCell":
        from .torch_cell import LSTMCell

        return LSTMCell
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
