"""The reference agrees with torch.nn.LSTM / nn.LSTMCell (float64, ≤ 1e-10) and the two
backends agree with each other (≤ 1e-12)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_ref import TOLERANCES, LSTMParams, max_abs_error
from lstm_ref import numpy_lstm as nl
from lstm_ref import torch_lstm as tl
from reference_helpers import SHAPES, random_problem

TORCH_TOL = TOLERANCES["torch_abs_float64"]
BACKENDS_TOL = TOLERANCES["backends_abs_float64"]


def _t(a):
    return torch.from_numpy(a)


@pytest.mark.parametrize("T,N,D,H", SHAPES)
def test_forward_matches_torch_lstm(T, N, D, H):
    params, x, h0, c0 = random_problem(T, N, D, H, seed=T + N)
    hs, (h_T, c_T), _ = nl.lstm_forward(x, params, h0, c0)
    module = params.to_torch("lstm")
    out, (h_n, c_n) = module(_t(x), (_t(h0)[None], _t(c0)[None]))
    assert max_abs_error(hs, out) <= TORCH_TOL
    assert max_abs_error(h_T, h_n[0]) <= TORCH_TOL
    assert max_abs_error(c_T, c_n[0]) <= TORCH_TOL


@pytest.mark.parametrize("T,N,D,H", SHAPES[:5])
def test_step_matches_torch_lstm_cell(T, N, D, H):
    params, x, h0, c0 = random_problem(T, N, D, H, seed=3)
    cell = params.to_torch("cell")
    h, c = h0, c0
    h_t, c_t = _t(h0), _t(c0)
    for t in range(T):
        h, c, _ = nl.lstm_step(x[t], h, c, params)
        h_t, c_t = cell(_t(x[t]), (h_t, c_t))
        assert max_abs_error(h, h_t) <= TORCH_TOL
        assert max_abs_error(c, c_t) <= TORCH_TOL


def test_torch_weights_port_both_ways_with_both_biases():
    """Porting from nn.LSTM sums bias_ih + bias_hh; dropping bias_hh would be caught."""
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, dtype=torch.float64)
    params = LSTMParams.from_torch(module)
    np.testing.assert_allclose(
        params.b, (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy(), rtol=0, atol=0
    )
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out, _ = module(x)
    hs, _, _ = nl.lstm_forward(x.numpy(), params)
    assert max_abs_error(hs, out) <= TORCH_TOL
    back = params.to_torch("lstm")
    assert max_abs_error(back(x)[0], out) <= TORCH_TOL
    cell_params = LSTMParams.from_torch(params.to_torch("cell"))
    for name, value in params.items():
        np.testing.assert_array_equal(getattr(cell_params, name), value)


@pytest.mark.parametrize("T,N,D,H", SHAPES)
def test_numpy_and_torch_backends_agree(T, N, D, H):
    params, x, h0, c0 = random_problem(T, N, D, H, seed=7)
    hs, (h_T, c_T), cache = nl.lstm_forward(x, params, h0, c0)
    hs_t, (h_Tt, c_Tt), cache_t = tl.lstm_forward(_t(x), params.to_tensors(), _t(h0), _t(c0))
    assert max_abs_error(hs, hs_t) <= BACKENDS_TOL
    assert max_abs_error(c_T, c_Tt) <= BACKENDS_TOL
    rng = np.random.default_rng(1)
    dhs, dh_T, dc_T = rng.normal(size=hs.shape), rng.normal(size=h_T.shape), rng.normal(size=c_T.shape)
    grads_np = nl.lstm_backward(dhs, cache, dh_T, dc_T)
    grads_t = tl.lstm_backward(_t(dhs), cache_t, _t(dh_T), _t(dc_T))
    for a, b in zip(grads_np[:3], grads_t[:3]):
        assert max_abs_error(a, b) <= BACKENDS_TOL * max(1.0, float(np.abs(a).max()))
    for (name, a), b in zip(grads_np[3].items(), grads_t[3]):
        assert max_abs_error(a, b) <= BACKENDS_TOL * max(1.0, float(np.abs(a).max())), name


@pytest.mark.parametrize("fn", ["forget_gate", "input_gate", "candidate", "output_gate"])
def test_per_gate_functions_agree_across_backends(fn):
    params, x, h0, _ = random_problem(1, 3, 4, 5, seed=2)
    W, b = params.gate({"forget_gate": "f", "input_gate": "i", "candidate": "g", "output_gate": "o"}[fn])
    out_np = getattr(nl, fn)(x[0], h0, W, b)
    out_t = getattr(tl, fn)(_t(x[0]), _t(h0), _t(W), _t(b))
    assert max_abs_error(out_np, out_t) <= BACKENDS_TOL


def test_float32_runs_and_stays_float32():
    params, x, h0, c0 = random_problem(5, 2, 3, 4, dtype=np.float32)
    hs, (h_T, c_T), cache = nl.lstm_forward(x, params, h0, c0)
    dx, dh0, dc0, grads = nl.lstm_backward(np.ones_like(hs), cache)
    assert {a.dtype for a in (hs, h_T, c_T, dx, dh0, dc0, *grads)} == {np.dtype(np.float32)}
    hs_t, _, _ = tl.lstm_forward(_t(x), params.to_tensors(), _t(h0), _t(c0))
    assert hs_t.dtype == torch.float32
    assert max_abs_error(hs, hs_t) <= 1e-5


# --- the drop-in nn.Module --------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_module_is_a_drop_in_for_nn_lstm(batch_first, bias):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 5, bias=bias, batch_first=batch_first, dtype=torch.float64)
    ours = tl.LSTM(3, 5, bias=bias, batch_first=batch_first, dtype=torch.float64)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 7, 3, dtype=torch.float64) if batch_first else torch.randn(7, 2, 3, dtype=torch.float64)
    hx = (torch.randn(1, 2, 5, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64))
    (out_r, (h_r, c_r)), (out_o, (h_o, c_o)) = ref(x, hx), ours(x, hx)
    for a, b in ((out_r, out_o), (h_r, h_o), (c_r, c_o)):
        assert a.shape == b.shape
        assert max_abs_error(a, b) <= TORCH_TOL
    ref.load_state_dict(ours.state_dict())  # and back


def test_module_gradients_match_nn_lstm():
    torch.manual_seed(1)
    ref = torch.nn.LSTM(4, 3, dtype=torch.float64)
    ours = tl.LSTM(4, 3, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(9, 2, 4, dtype=torch.float64)
    x_r, x_o = x.clone().requires_grad_(), x.clone().requires_grad_()
    for module, inp in ((ref, x_r), (ours, x_o)):
        out, (h_n, c_n) = module(inp)
        (out.square().sum() + h_n.sum() + 2 * c_n.sum()).backward()
    assert max_abs_error(x_r.grad, x_o.grad) <= TORCH_TOL
    for (name, p_r), (_, p_o) in zip(ref.named_parameters(), ours.named_parameters()):
        assert max_abs_error(p_r.grad, p_o.grad) <= TORCH_TOL, name


def test_module_unbatched_input_and_default_state():
    torch.manual_seed(2)
    ref = torch.nn.LSTM(3, 4, dtype=torch.float64)
    ours = tl.LSTM(3, 4, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 3, dtype=torch.float64)
    (out_r, (h_r, _)), (out_o, (h_o, _)) = ref(x), ours(x)
    assert out_o.shape == out_r.shape == (5, 4) and h_o.shape == h_r.shape == (1, 4)
    assert max_abs_error(out_r, out_o) <= TORCH_TOL


def test_module_init_matches_nn_lstm_distribution():
    """U(-1/sqrt(H), 1/sqrt(H)) for every parameter."""
    H = 64
    module = tl.LSTM(16, H)
    bound = 1 / np.sqrt(H)
    for name, p in module.named_parameters():
        p = p.detach()
        assert float(p.abs().max()) <= bound, name
        assert float(p.std()) == pytest.approx(bound / np.sqrt(3), rel=0.1), name


@pytest.mark.parametrize("kwargs", [{"num_layers": 2}, {"bidirectional": True}, {"proj_size": 2},
                                    {"num_layers": 2, "dropout": 0.5}])
def test_module_has_nn_lstms_parameters_for_every_configuration(kwargs):
    """The configurations nn.LSTM offers exist here with its parameter names and shapes
    (tests/test_dropin.py compares their numbers)."""
    ours = {k: tuple(v.shape) for k, v in tl.LSTM(3, 4, **kwargs).state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in torch.nn.LSTM(3, 4, **kwargs).state_dict().items()}
    assert ours == theirs


# --- LSTMParams ------------------------------------------------------------------------------
def test_params_init_layout_and_forget_bias():
    p0 = LSTMParams.init(3, 4, seed=0)
    p1 = LSTMParams.init(3, 4, seed=0, forget_bias=1.0)
    assert (p0.W_ih.shape, p0.W_hh.shape, p0.b.shape) == ((16, 3), (16, 4), (16,))
    assert (p0.input_size, p0.hidden_size) == (3, 4)
    np.testing.assert_allclose(p1.b - p0.b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    assert np.abs(p0.W_hh).max() <= 0.5 and np.abs(p0.b).max() <= 1.0


def test_per_gate_slices_round_trip_and_match_the_seed_form():
    params, x, h0, _ = random_problem(1, 2, 3, 4, seed=5)
    gates = params.per_gate()
    assert gates["f"][0].shape == (4, 4 + 3)
    back = LSTMParams.from_gates(gates, input_size=3)
    for name, value in params.items():
        np.testing.assert_array_equal(getattr(back, name), value)
    # the per-gate functions on the sliced weights are exactly the fused step's gates
    _, _, cache = nl.lstm_step(x[0], h0, np.zeros_like(h0), params)
    for fn, g in (("input_gate", "i"), ("forget_gate", "f"), ("candidate", "g"), ("output_gate", "o")):
        W, b = gates[g]
        np.testing.assert_allclose(getattr(nl, fn)(x[0], h0, W, b), getattr(cache, g), atol=1e-14)
