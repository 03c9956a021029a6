"""The fast path behind :class:`lstm_ref.torch_lstm.LSTM`: the same maths, arranged for speed.

``torch_lstm.lstm_forward`` / ``lstm_backward`` are the teaching code: one line per
equation, a new tensor for every intermediate. This module computes exactly the same
numbers (float64 agrees to ~1e-15) with what the book's chapter "Making it fast" measures:

- fused gates: one ``(N, H) @ (H, 4H)`` product per step instead of four;
- the input projection ``W_ih x_t + b`` of all T steps in one ``(T·N, D) @ (D, 4H)``
  product before the loop, written straight into the gate buffer;
- preallocated outputs: the per-step work is in-place ops (``addmm_``, ``sigmoid_``,
  ``addcmul_``, ``out=``) on views of a few buffers, 7 calls a step forward and 5 backward,
  so the Python and dispatch overhead stays small next to the matmul;
- no tanh (several times slower than sigmoid on CPU): tanh(z) = 2σ(2z) - 1 = 1 - 2σ(-2z)
  (eq:perf-tanh-sigmoid), with the candidate rows of the weights doubled and the cell state
  carried as m = -2c;
- backward: every local derivative that does not depend on dL/dh_t (``σ'``, ``1 - tanh²``)
  is computed for a block of steps at once; only the chain through ``dh`` and ``dc`` is a
  loop; ``dx`` is one large matrix product per block, and ``dW_ih``, ``dW_hh`` and ``db``
  together another;
- threads: a pass runs on one thread while a step's product is small
  (:data:`ONE_THREAD_MAX_MACS`), so that its many small calls never wait for a thread
  that another thread pool (NumPy's BLAS, in a notebook that uses both) has pushed off a core.

``nn.LSTM``'s projection (``proj_size``, ``h_t = W_hr (o_t ⊙ tanh c_t)``) adds one product
per step each way and ``dW_hr`` per block.

Memory: forward keeps the gates ``(T, N, 4H)``, ``m = -2c`` and ``r = σ(-2c)`` ``(T, N, H)``
and the output ``h``; backward works through blocks of a few steps, so its temporaries do not
grow with T.

Everything is plain device-agnostic torch: the same code runs on CPU and CUDA.
"""
from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager

import torch
from torch import Tensor

from .numpy_lstm import auto_chunk  # steps per backward block, the same for both


#: Per-step work (multiply-adds of ``W_hh h_{t-1}``, N·4H·P) up to which a forward or backward
#: pass runs on one thread. Its step loop is many small calls, for which an OpenMP parallel
#: region costs more than it saves, and when another thread pool is busy on the same cores
#: (NumPy's BLAS threads spin for a while after every NumPy call, so in any notebook that
#: mixes the two) every parallel region waits for a thread the kernel has descheduled; at
#: these sizes the products before and after the loop are cheap enough to give up their
#: second thread too. Above it, the work is large enough to share.
ONE_THREAD_MAX_MACS = 2**22


@contextmanager
def step_threads(N: int, H: int, P: int, device: torch.device):
    """One CPU thread inside the block if a step's product ``(N, P) @ (P, 4H)`` is small."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1 or N * 4 * H * P > ONE_THREAD_MAX_MACS:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def one_thread_if_small(fn):
    """Decorator: run ``fn(..., x, ..., W_ih, W_hh, ...)`` under :func:`step_threads`."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        a = signature.bind(*args, **kwargs).arguments
        x, H, P = a["x"], a["W_ih"].shape[0] // 4, a["W_hh"].shape[1]
        with step_threads(x.shape[1], H, P, x.device):
            return fn(*args, **kwargs)

    return wrapper


def _scale_candidate_rows(W: Tensor, H: int) -> Tensor:
    """A copy of ``W`` (4H, ...) with the candidate rows ``g`` doubled (exact in floating point)."""
    W2 = W.clone()
    W2[2 * H : 3 * H] *= 2.0
    return W2


@one_thread_if_small
@torch.no_grad()
def fast_forward(
    x: Tensor, h0: Tensor, c0: Tensor, W_ih: Tensor, W_hh: Tensor, b: Tensor,
    W_hr: Tensor | None = None,
):
    """Forward pass over a sequence (eq:fused-preactivation at t = 1..T), in place.

    Two sigmoid calls and no tanh per step (eq:perf-tanh-sigmoid). The candidate rows of
    the weights are doubled, so that slot of the one sigmoid over all four gates holds
    ``s = σ(2 a_g)`` and ``g = tanh(a_g) = 2s - 1``. The cell state is carried as
    ``m = -2c``, so that ``r = σ(m) = σ(-2c)`` gives ``tanh(c) = 1 - 2r`` and
    ``h = o - 2 o r`` in one call. (``torch.tanh`` is several times slower per element
    than ``torch.sigmoid`` on CPU.) With a projection (``nn.LSTM(proj_size=P)``, the
    LSTMP of Sak et al. 2014) the hidden state is ``h_t = W_hr (o_t ⊙ tanh c_t)``,
    one more product per step, and ``W_hh`` acts on that ``(N, P)`` state.

    Parameters
    ----------
    x : (T, N, D) tensor
    h0 : (N, P) tensor; c0 : (N, H) tensor (P = H without projection)
    W_ih : (4H, D), W_hh : (4H, P), b : (4H,) tensors, gates in the order i, f, g, o
    W_hr : (P, H) tensor or None, the projection

    Returns
    -------
    hs : (T, N, P) tensor, h_1 .. h_T
    gates : (T, N, 4H) tensor, i, f, s = (g + 1) / 2, o
    ms, rs : (T, N, H) tensors, m_t = -2 c_t and r_t = σ(-2 c_t) = (1 - tanh c_t) / 2
    """
    T, N, D = x.shape
    H, P = W_ih.shape[0] // 4, W_hh.shape[1]
    W_ih2, W_hh2, b2 = (_scale_candidate_rows(W, H) for W in (W_ih, W_hh, b))
    # a_t = W_ih x_t + b for every t at once (hoisted); the loop adds W_hh h_{t-1}
    gates = torch.addmm(b2, x.reshape(T * N, D), W_ih2.t()).view(T, N, 4 * H)
    ms, rs = x.new_empty((T, N, H)), x.new_empty((T, N, H))
    hs = x.new_empty((T, N, P))
    # o ⊙ tanh c before the projection
    u = None if W_hr is None else x.new_empty((N, H))
    W_hhT, W_hrT = W_hh2.t(), None if W_hr is None else W_hr.t()
    # Per-step views, made once by C++ (indexing in the loop costs microseconds each)
    a_ = gates.unbind(0)  # T × (N, 4H)
    # 4 × T × (N, H)
    i_, f_, s_, o_ = (v.unbind(0) for v in gates.view(T, N, 4, H).unbind(2))
    m_, r_, h_ = ms.unbind(0), rs.unbind(0), hs.unbind(0)
    h, m = h0, torch.mul(c0, -2.0)
    for t in range(T):
        a_[t].addmm_(h, W_hhT)  # a_t += W_hh h_{t-1} (eq:fused-preactivation)
        # i, f, o and s = σ(2 a_g) (eq:input-gate, eq:forget-gate, eq:output-gate)
        a_[t].sigmoid_()
        # m_t = -2 c_t = f m_{t-1} - 2 i (2s - 1) (eq:candidate, eq:cell-state)
        torch.mul(f_[t], m, out=m_[t])
        m_[t].addcmul_(i_[t], s_[t], value=-4.0).add_(i_[t], alpha=2.0)
        torch.sigmoid(m_[t], out=r_[t])  # r_t = σ(-2 c_t)
        if u is None:  # o (1 - 2r) = o tanh(c_t) (eq:hidden-state)
            torch.addcmul(o_[t], o_[t], r_[t], value=-2.0, out=h_[t])
        else:  # then the projection h_t = W_hr (o ⊙ tanh c_t)
            torch.addcmul(o_[t], o_[t], r_[t], value=-2.0, out=u)
            torch.mm(u, W_hrT, out=h_[t])
        h, m = h_[t], m_[t]
    return hs, gates, ms, rs


def _shifted(states: Tensor, first: Tensor, start: int, stop: int) -> Tensor:
    """``states[start-1 : stop-1]`` with ``first`` (s_0) in front: s_start .. s_{stop-1} as (n, N, H)."""
    if start > 0:
        return states[start - 1 : stop - 1]
    return torch.cat([first[None], states[: stop - 1]])


def _local_derivatives(gates: Tensor, rs: Tensor, c_prev: Tensor):
    """The factors of BPTT that do not depend on dL/dh, for a block of n steps at once.

    Parameters
    ----------
    gates : (n, N, 4H) tensor, i, f, s, o as saved by :func:`fast_forward`
    rs : (n, N, H) tensor, r_t = σ(-2 c_t); c_prev : (n, N, H) tensor, c_{t-1}

    Returns
    -------
    f : (n, N, H) view, dc_{t-1} = f ⊙ dc_t (eq:bptt-dc-prev)
    dc_dh : (n, N, H), o (1 - tanh² c): dh -> dc (eq:bptt-dc)
    da_dc : (n, N, 3, H), dc -> da_i, da_f, da_g: g σ'(a_i), c_{t-1} σ'(a_f), i (1 - g²)
        (eq:bptt-gates, eq:bptt-preactivation)
    da_dh : (n, N, H), tanh(c) σ'(a_o): dh -> da_o (eq:bptt-do)
    """
    n, N, H4 = gates.shape
    H = H4 // 4
    i, f, s, o = gates.view(n, N, 4, H).unbind(2)  # 4 × (n, N, H) views
    q = torch.addcmul(gates, gates, gates, value=-1.0).view(n, N, 4, H)  # σ' of every slot, one call
    g = torch.mul(s, 2.0).sub_(1.0)  # tanh(a_g) = 2σ(2a_g) - 1, see fast_forward
    tanh_c = torch.rsub(rs, 1.0, alpha=2.0)  # 1 - 2r
    dc_dh = torch.addcmul(o, o, tanh_c * tanh_c, value=-1.0)
    q[:, :, 0].mul_(g)  # g σ'(a_i)
    q[:, :, 1].mul_(c_prev)  # c_{t-1} σ'(a_f)
    q[:, :, 2].mul_(i).mul_(4.0)  # i (1 - g²) = 4 i s (1 - s)
    q[:, :, 3].mul_(tanh_c)  # tanh(c) σ'(a_o)
    da_dc, da_dh = q[:, :, :3], q[:, :, 3]
    return f, dc_dh, da_dc, da_dh


@one_thread_if_small
@torch.no_grad()
def fast_backward(
    dhs: Tensor | None,
    dh_T: Tensor | None,
    dc_T: Tensor | None,
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    W_ih: Tensor,
    W_hh: Tensor,
    saved: tuple[Tensor, Tensor, Tensor, Tensor],
    chunk: int | None = None,
    need_dx: bool = True,
    W_hr: Tensor | None = None,
    dcs: Tensor | None = None,
):
    """BPTT for :func:`fast_forward` (eq:bptt-dh .. eq:bptt-dW), the same numbers as ``lstm_backward``.

    Parameters
    ----------
    dhs : (T, N, P) tensor or None; dh_T : (N, P), dc_T : (N, H) tensors or None (None: zero)
    x, h0, c0, W_ih, W_hh : the forward's inputs
    saved : ``(hs, gates, ms, rs)`` as returned by :func:`fast_forward`
    chunk : steps per block of the vectorised local derivatives and weight gradients
        (None: :func:`auto_chunk`)
    need_dx : False skips the ``(T·N, 4H) @ (4H, D)`` product for dx (returns None)
    W_hr : (P, H) tensor or None, the forward's projection
    dcs : (T, N, H) tensor or None, dL/dc_t arriving directly at every step (a packed
        sequence's final cell states are at different steps)

    Returns
    -------
    dx : (T, N, D) tensor or None
    dh0 : (N, P), dc0 : (N, H) tensors
    dW_ih : (4H, D), dW_hh : (4H, P), db : (4H,) tensors
    dW_hr : (P, H) tensor, or None without projection
    """
    hs, gates, ms, rs = saved
    T, N, D = x.shape
    H, P = W_ih.shape[0] // 4, W_hh.shape[1]
    chunk = max(1, min(auto_chunk(max(N, 1), H) if chunk is None else chunk, T))
    dx = x.new_empty((T, N, D)) if need_dx else None
    # [x_t, h_{t-1}, 1] side by side: dW_ih, dW_hh and db are one product per block (eq:bptt-dW)
    xh1 = x.new_empty((chunk, N, D + P + 1))
    xh1[:, :, -1] = 1.0
    dW = x.new_zeros((4 * H, D + P + 1))
    dh_next = x.new_zeros((N, P)) if dh_T is None else dh_T
    dc = x.new_zeros((N, H)) if dc_T is None else dc_T.clone()  # carried dL/dc, updated in place
    dc3 = dc.unsqueeze(1)  # (N, 1, H) view of dc, broadcast over the gates i, f, g
    das = [x.new_empty((chunk, N, 4 * H)) for _ in range(2)]  # alternate: da_{t+1} is in the other
    # dL/dh_t of a block: kept for dW_hr with a projection, else one (N, P) buffer
    dh_block = x.new_empty((chunk if W_hr is not None else 1, N, P))
    du = dh_block[0] if W_hr is None else x.new_empty((N, H))  # dL/d(o ⊙ tanh c) (the same as dh without projection)
    dW_hr = None if W_hr is None else x.new_zeros(W_hr.shape)
    m0 = torch.mul(c0, -2.0)  # the forward's m_0 = -2 c_0
    da_next = None  # da_{t+1} (N, 4H); None at t = T - 1
    for k, start in enumerate(range((T - 1) // chunk * chunk, -1, -chunk)):
        stop = min(start + chunk, T)
        n = stop - start
        c_prev = _shifted(ms, m0, start, stop).mul(-0.5)  # c = -m / 2
        f, dc_dh, da_dc, da_dh = _local_derivatives(gates[start:stop], rs[start:stop], c_prev)
        da = das[k % 2][:n]  # (n, N, 4H)
        steps = _BlockViews(da, dh_block, dhs, dcs, start, stop, f, dc_dh, da_dc, da_dh)
        da_next = _backward_steps(steps, n, da_next, dh_next, dc, dc3, du, W_hh, W_hr)
        # The block's share of dx and the weight gradients: one big product each (eq:bptt-dx), (eq:bptt-dW)
        da2 = da.reshape(n * N, 4 * H)
        if need_dx:
            torch.mm(da2, W_ih, out=dx[start:stop].view(n * N, D))
        xh = xh1[:n]
        xh[:, :, :D].copy_(x[start:stop])
        xh[:, :, D : D + P].copy_(_shifted(hs, h0, start, stop))
        dW.addmm_(da2.t(), xh.view(n * N, D + P + 1))
        if W_hr is not None:  # dW_hr = Σ_t dh_t (o_t ⊙ tanh c_t)ᵀ
            o = gates[start:stop, :, 3 * H :]
            u = torch.addcmul(o, o, rs[start:stop], value=-2.0)  # (n, N, H)
            dW_hr.addmm_(dh_block[:n].reshape(n * N, P).t(), u.reshape(n * N, H))
    dh0 = torch.mm(da_next, W_hh)  # (eq:bptt-dh-prev) at t = 1
    dW_ih, dW_hh, db = dW[:, :D].contiguous(), dW[:, D : D + P].contiguous(), dW[:, -1].contiguous()
    return dx, dh0, dc, dW_ih, dW_hh, db, dW_hr


class _BlockViews:
    """Per-step views of one backward block, made once by C++ (``unbind``) before the step loop."""

    def __init__(self, da, dh_block, dhs, dcs, start, stop, f, dc_dh, da_dc, da_dh):
        n, N, H4 = da.shape
        H = H4 // 4
        self.da_ifg = da[:, :, : 3 * H].view(n, N, 3, H).unbind(0)
        self.da_o, self.da = da[:, :, 3 * H :].unbind(0), da.unbind(0)
        self.dh = dh_block[:n].unbind(0) if dh_block.shape[0] > 1 else [dh_block[0]] * n
        self.dhs = None if dhs is None else dhs[start:stop].unbind(0)
        self.dcs = None if dcs is None else dcs[start:stop].unbind(0)
        self.f, self.dc_dh, self.da_dc, self.da_dh = f.unbind(0), dc_dh.unbind(0), da_dc.unbind(0), da_dh.unbind(0)


def _backward_steps(v: _BlockViews, n: int, da_next, dh_next, dc, dc3, du, W_hh, W_hr):
    """The sequential chain of one block, steps n-1 .. 0; returns da of its first step.

    Per step: dh from the loss and from step t+1 (one product), then five in-place calls
    (plus one product with a projection). Updates ``dc`` in place.
    """
    for j in reversed(range(n)):
        dh = v.dh[j]
        # dh = dL/dh_t: the loss at t plus step t+1 through W_hh (eq:bptt-dh), (eq:bptt-dh-prev)
        if da_next is None:
            torch.add(v.dhs[j], dh_next, out=dh) if v.dhs is not None else dh.copy_(dh_next)
        elif v.dhs is None:
            torch.mm(da_next, W_hh, out=dh)
        else:
            torch.addmm(v.dhs[j], da_next, W_hh, out=dh)
        if W_hr is not None:
            torch.mm(dh, W_hr, out=du)  # back through h_t = W_hr (o ⊙ tanh c_t)
        if v.dcs is not None:
            dc.add_(v.dcs[j])
        dc.addcmul_(du, v.dc_dh[j])  # total dL/dc_t (eq:bptt-dc)
        torch.mul(v.da_dc[j], dc3, out=v.da_ifg[j])  # (eq:bptt-preactivation)
        torch.mul(du, v.da_dh[j], out=v.da_o[j])
        dc.mul_(v.f[j])  # dc_{t-1} = dc_t ⊙ f_t (eq:bptt-dc-prev)
        da_next = v.da[j]
    return da_next
