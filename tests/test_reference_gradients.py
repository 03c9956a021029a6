"""Three ways to trust the hand-written BPTT: centred finite differences (float64,
relative error ≤ 1e-7), torch autograd on the same computation, and
``torch.autograd.gradcheck`` of the autograd op that uses it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_ref import TOLERANCES, LSTMParams, max_abs_error, rel_error
from lstm_ref import numpy_lstm as nl
from lstm_ref import torch_lstm as tl
from lstm_ref.gradcheck import FD_ACCURATE, numerical_gradient, numerical_gradient_array
from reference_helpers import SMALL_SHAPES, random_problem

GRAD_TOL = TOLERANCES["grad_rel_float64"]


def _loss_weights(T, N, H, seed, every_step: bool):
    """Upstream gradients: at every step (and on the final states), or only on (h_T, c_T)."""
    rng = np.random.default_rng(seed)
    dhs = rng.normal(size=(T, N, H)) if every_step else None
    return dhs, rng.normal(size=(N, H)), rng.normal(size=(N, H))


def _scalar_loss(x, params, h0, c0, dhs, dh_T, dc_T) -> float:
    """L = Σ_t <dhs_t, h_t> + <dh_T, h_T> + <dc_T, c_T>, whose gradients are the backward's."""
    hs, (h_T, c_T), _ = nl.lstm_forward(x, params, h0, c0)
    loss = np.sum(h_T * dh_T) + np.sum(c_T * dc_T)
    return float(loss + (np.sum(hs * dhs) if dhs is not None else 0.0))


@pytest.mark.parametrize("every_step", [True, False], ids=["loss-every-step", "loss-last-step-only"])
@pytest.mark.parametrize("T,N,D,H", SMALL_SHAPES)
def test_lstm_backward_matches_finite_differences(T, N, D, H, every_step):
    params, x, h0, c0 = random_problem(T, N, D, H, seed=11)
    dhs, dh_T, dc_T = _loss_weights(T, N, H, seed=12, every_step=every_step)
    _, _, cache = nl.lstm_forward(x, params, h0, c0)
    dx, dh0, dc0, grads = nl.lstm_backward(dhs, cache, dh_T, dc_T)

    def loss():
        return _scalar_loss(x, params, h0, c0, dhs, dh_T, dc_T)

    checks = {"x": (x, dx), "h0": (h0, dh0), "c0": (c0, dc0)}
    checks.update({name: (getattr(params, name), getattr(grads, name)) for name, _ in params.items()})
    for name, (value, analytic) in checks.items():
        assert rel_error(numerical_gradient(loss, value, **FD_ACCURATE), analytic) <= GRAD_TOL, name


@pytest.mark.parametrize("T,N,D,H", SMALL_SHAPES)
def test_lstm_step_backward_matches_finite_differences(T, N, D, H):
    params, x, h0, c0 = random_problem(1, N, D, H, seed=21)
    x = x[0]
    rng = np.random.default_rng(22)
    dh, dc = rng.normal(size=(N, H)), rng.normal(size=(N, H))
    h, c, cache = nl.lstm_step(x, h0, c0, params)
    dx, dh_prev, dc_prev, grads = nl.lstm_step_backward(dh, dc, cache)

    def loss():
        h, c, _ = nl.lstm_step(x, h0, c0, params)
        return float(np.sum(h * dh) + np.sum(c * dc))

    checks = {"x": (x, dx), "h_prev": (h0, dh_prev), "c_prev": (c0, dc_prev)}
    checks.update({name: (getattr(params, name), getattr(grads, name)) for name, _ in params.items()})
    for name, (value, analytic) in checks.items():
        assert rel_error(numerical_gradient(loss, value, **FD_ACCURATE), analytic) <= GRAD_TOL, name


def test_gate_functions_match_finite_differences_of_their_formula():
    """numerical_gradient_array checks a vector-Jacobian product; sanity-check it on σ."""
    z = np.random.default_rng(0).normal(size=(3, 4))
    dout = np.random.default_rng(1).normal(size=(3, 4))
    s = nl.sigmoid(z)
    assert rel_error(numerical_gradient_array(lambda: nl.sigmoid(z), z, dout, **FD_ACCURATE), dout * s * (1 - s)) <= GRAD_TOL


def _autograd_grads(x, params, h0, c0, dhs, dh_T, dc_T):
    """torch autograd's gradients of the loss of :func:`_scalar_loss`, and the plain torch
    forward's cache: ``(grads of x, h0, c0, W_ih, W_hh, b), (dhs, dh_T, dc_T) as tensors, cache``."""
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0, *params)]
    x_t, h0_t, c0_t, W_ih, W_hh, b = leaves
    hs, (h_T, c_T), cache = tl.lstm_forward(x_t, LSTMParams(W_ih, W_hh, b), h0_t, c0_t)
    loss = (h_T * torch.tensor(dh_T)).sum() + (c_T * torch.tensor(dc_T)).sum()
    if dhs is not None:
        loss = loss + (hs * torch.tensor(dhs)).sum()
    loss.backward()
    return [leaf.grad for leaf in leaves], cache


def _assert_same_grads(want, got):
    for name, w, g in zip(["x", "h0", "c0", "W_ih", "W_hh", "b"], want, [*got[:3], *got[3]]):
        assert max_abs_error(w, g) <= 1e-12 * max(1.0, float(w.abs().max())), name


@pytest.mark.parametrize("every_step", [True, False], ids=["loss-every-step", "loss-last-step-only"])
@pytest.mark.parametrize("T,N,D,H", [(1, 1, 2, 3), (8, 3, 4, 5), (40, 2, 3, 3)])
def test_hand_written_backward_agrees_with_torch_autograd(T, N, D, H, every_step):
    params, x, h0, c0 = random_problem(T, N, D, H, seed=31)
    dhs, dh_T, dc_T = _loss_weights(T, N, H, seed=32, every_step=every_step)
    want, cache = _autograd_grads(x, params, h0, c0, dhs, dh_T, dc_T)
    with torch.no_grad():
        ours = tl.lstm_backward(
            None if dhs is None else torch.tensor(dhs), cache, torch.tensor(dh_T), torch.tensor(dc_T)
        )
    _assert_same_grads(want, ours)
    # and the NumPy backward gives the same numbers
    _, _, cache_np = nl.lstm_forward(x, params, h0, c0)
    _assert_same_grads(want, nl.lstm_backward(dhs, cache_np, dh_T, dc_T))


@pytest.mark.parametrize("block", [1, 3, 10, 64])
def test_numpy_backward_in_blocks_agrees_with_torch_autograd(block, monkeypatch):
    """NumPy's lstm_backward works through blocks of auto_chunk(N, H) steps (one block at
    these small sizes, several at large ones): every block size gives autograd's gradients,
    including a last block that is cut short (T = 10, blocks of 3)."""
    monkeypatch.setattr(nl, "auto_chunk", lambda N, H: block)
    T, N, D, H = 10, 2, 3, 4
    params, x, h0, c0 = random_problem(T, N, D, H, seed=41)
    dhs, dh_T, dc_T = _loss_weights(T, N, H, seed=42, every_step=True)
    want, _ = _autograd_grads(x, params, h0, c0, dhs, dh_T, dc_T)
    _, _, cache = nl.lstm_forward(x, params, h0, c0)
    _assert_same_grads(want, nl.lstm_backward(dhs, cache, dh_T, dc_T))


def test_auto_chunk_gives_several_blocks_at_the_target_size():
    """The blockwise path is what runs at the benchmark's sizes (not only in the test above)."""
    assert 1 < nl.auto_chunk(32, 128) < 100 and nl.auto_chunk(64, 256) >= 1


@pytest.mark.parametrize("T,N,D,H", [(1, 1, 1, 1), (4, 2, 3, 2), (6, 1, 2, 3)])
def test_autograd_gradcheck_of_the_lstm_function(T, N, D, H):
    params, x, h0, c0 = random_problem(T, N, D, H, seed=41)
    inputs = tuple(torch.tensor(a, requires_grad=True) for a in (x, h0, c0, *params))
    assert torch.autograd.gradcheck(tl.LSTMFunction.apply, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_autograd_gradcheck_of_the_drop_in_module():
    torch.manual_seed(5)
    module = tl.LSTM(2, 3, dtype=torch.float64)
    x = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, 2, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(1, 2, 3, dtype=torch.float64, requires_grad=True)

    def f(x, h0, c0):
        out, (h_n, c_n) = module(x, (h0, c0))
        return out, h_n, c_n

    assert torch.autograd.gradcheck(f, (x, h0, c0), eps=1e-6, atol=1e-8)


def test_finite_differences_would_catch_a_wrong_gradient():
    """The check is able to fail: dropping the cell path from dc_prev is detected."""
    params, x, h0, c0 = random_problem(4, 2, 3, 2, seed=51)
    dhs, dh_T, dc_T = _loss_weights(4, 2, 2, seed=52, every_step=True)
    _, _, cache = nl.lstm_forward(x, params, h0, c0)
    _, _, dc0, _ = nl.lstm_backward(dhs, cache, dh_T, dc_T)
    numeric = numerical_gradient(lambda: _scalar_loss(x, params, h0, c0, dhs, dh_T, dc_T), c0, **FD_ACCURATE)
    assert rel_error(numeric, dc0) <= GRAD_TOL
    assert rel_error(numeric, dc0 * 0.999) > GRAD_TOL
