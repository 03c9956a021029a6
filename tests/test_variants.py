"""LSTM variants, the vanilla RNN and the gradient probes.

Each variant's gradients pass ``torch.autograd.gradcheck`` (float64, tiny sizes); the plain
variant is the reference LSTM to the last bit; each variant does what its equation says.
"""
from __future__ import annotations

import pytest
import torch

from lstm_ref import LSTMParams, TOLERANCES
from lstm_ref.experiments import forget_gate_products, gradient_norms_by_lag, load_core
from lstm_ref.rnn import VanillaRNN, rnn_forward, rnn_jacobian, rnn_step
from lstm_ref.tasks import adding_problem, make_generator
from lstm_ref.torch_lstm import lstm_forward
from lstm_ref.train import build_model
from lstm_ref.variants import VARIANTS, VariantLSTM, variant_forward

T, N, D, H = 4, 2, 3, 2


def _problem(seed: int = 0, T: int = T, H: int = H):
    torch.manual_seed(seed)
    params = LSTMParams.init(D, H, seed=seed, forget_bias=0.5).to_tensors()
    x = torch.randn(T, N, D, dtype=torch.float64)
    h0, c0 = torch.randn(N, H, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64)
    return params, x, h0, c0


def _peep(variant: str, H: int = H):
    return torch.randn(3, H, dtype=torch.float64) if variant == "peephole" else None


@pytest.mark.parametrize("variant", ["plain", "vanilla"])
def test_plain_variant_is_the_reference_lstm(variant):
    params, x, h0, c0 = _problem(T=7, H=5)
    hs, (h_T, c_T), trace = variant_forward(x, params, variant, None, h0, c0)
    ref_hs, (ref_h, ref_c), ref_cache = lstm_forward(x, params, h0, c0)
    for ours, ref in ((hs, ref_hs), (h_T, ref_h), (c_T, ref_c), (trace.gates, ref_cache.gates)):
        assert torch.equal(ours, ref), f"max abs error {(ours - ref).abs().max().item():.3g}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_gradients_pass_gradcheck(variant):
    params, x, h0, c0 = _problem(seed=1)
    peep = _peep(variant)
    inputs = [x, params.W_ih, params.W_hh, params.b, h0, c0] + ([peep] if peep is not None else [])
    inputs = [t.clone().requires_grad_(True) for t in inputs]

    def run(x, W_ih, W_hh, b, h0, c0, *peep):
        hs, (h_T, c_T), _ = variant_forward(x, LSTMParams(W_ih, W_hh, b), variant, peep[0] if peep else None, h0, c0)
        return hs, c_T

    assert torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-7)


def _gates(variant, seed=2):
    params, x, h0, c0 = _problem(seed)
    hs, (h_T, c_T), trace = variant_forward(x, params, variant, _peep(variant), h0, c0)
    i, f, g, o = trace.gates.chunk(4, dim=2)  # each (T, N, H)
    return params, x, h0, c0, trace, (i, f, g, o)


def test_nfg_has_no_forget_gate_and_keeps_a_constant_error_carousel():
    *_, c0, trace, (i, f, g, o) = _gates("nfg")
    assert torch.equal(f, torch.ones_like(f))
    torch.testing.assert_close(trace.cs[-1], c0 + (i * g).sum(dim=0))  # c_T = c_0 + Σ i_t g_t


def test_cifg_couples_forget_to_input():
    *_, (i, f, g, o) = _gates("cifg")
    torch.testing.assert_close(f, 1.0 - i)


def test_noaf_has_no_output_activation():
    *_, trace, (i, f, g, o) = _gates("noaf")
    torch.testing.assert_close(torch.stack(trace.hs), o * torch.stack(trace.cs))


def test_peephole_with_zero_peepholes_is_plain():
    params, x, h0, c0 = _problem(3)
    zero = torch.zeros(3, H, dtype=torch.float64)
    peep_hs, _, _ = variant_forward(x, params, "peephole", zero, h0, c0)
    plain_hs, _, _ = variant_forward(x, params, "plain", None, h0, c0)
    torch.testing.assert_close(peep_hs, plain_hs, rtol=0, atol=TOLERANCES["backends_abs_float64"])
    peep_hs, _, _ = variant_forward(x, params, "peephole", torch.ones(3, H, dtype=torch.float64), h0, c0)
    assert not torch.allclose(peep_hs, plain_hs), "non-zero peepholes must change the output"


def test_forget_bias_shifts_the_forget_gate_or_the_cifg_input_gate():
    k = slice(8, 16)  # H = 8: rows of f in i, f, g, o
    plain0, plain1 = (VariantLSTM(2, 8, "plain", forget_bias=b, seed=4) for b in (0.0, 1.0))
    torch.testing.assert_close(plain1.b[k] - plain0.b[k], torch.ones(8))
    torch.testing.assert_close(plain1.b[:8], plain0.b[:8])
    cifg0, cifg1 = (VariantLSTM(2, 8, "cifg", forget_bias=b, seed=4) for b in (0.0, 1.0))
    torch.testing.assert_close(cifg0.b[:8] - cifg1.b[:8], torch.ones(8))


def test_bad_variant_arguments_raise():
    params, x, h0, c0 = _problem()
    with pytest.raises(ValueError, match="variant='gru' is unknown"):
        variant_forward(x, params, "gru")
    with pytest.raises(ValueError, match="peep must be"):
        variant_forward(x, params, "peephole")
    with pytest.raises(ValueError, match="x has shape"):
        variant_forward(x[0], params)


# --- the vanilla RNN ---------------------------------------------------------------------
def _rnn_problem(seed=0):
    torch.manual_seed(seed)
    return (torch.randn(T, N, D, dtype=torch.float64), torch.randn(H, D, dtype=torch.float64),
            torch.randn(H, H, dtype=torch.float64), torch.randn(H, dtype=torch.float64),
            torch.randn(N, H, dtype=torch.float64))


def test_rnn_gradients_pass_gradcheck():
    inputs = [t.requires_grad_(True) for t in _rnn_problem()]
    assert torch.autograd.gradcheck(lambda *a: rnn_forward(*a)[0], inputs, eps=1e-6, atol=1e-7)


def test_vanilla_rnn_equals_torch_rnn():
    torch.manual_seed(0)
    ours = VanillaRNN(D, 5).double()
    torch.manual_seed(0)
    theirs = torch.nn.RNN(D, 5).double()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values())), "same init"
    x, h0 = torch.randn(6, N, D, dtype=torch.float64), torch.randn(1, N, 5, dtype=torch.float64)
    (hs, h_n), (ref_hs, ref_h) = ours(x, h0), theirs(x, h0)
    torch.testing.assert_close(hs, ref_hs, rtol=0, atol=TOLERANCES["torch_abs_float64"])
    torch.testing.assert_close(h_n, ref_h, rtol=0, atol=TOLERANCES["torch_abs_float64"])


def test_rnn_jacobian_is_the_autograd_jacobian():
    x, W_ih, W_hh, b, h0 = _rnn_problem(1)
    h = rnn_step(x[0], h0, W_ih, W_hh, b)
    for n in range(N):
        auto = torch.autograd.functional.jacobian(lambda hp: rnn_step(x[0][n : n + 1], hp, W_ih, W_hh, b)[0], h0[n : n + 1])
        torch.testing.assert_close(rnn_jacobian(h, W_hh)[n], auto[:, 0, :])


# --- gradient probes ---------------------------------------------------------------------
def test_forget_gate_products_are_the_cell_path_derivative():
    torch.manual_seed(0)
    f, u = torch.rand(6, N, H, dtype=torch.float64), torch.randn(6, N, H, dtype=torch.float64)
    cs, c = [], torch.zeros(N, H, dtype=torch.float64, requires_grad=True)
    for t in range(6):  # c_t = f_t c_{t-1} + u_t with f, u independent of c: the cell path alone
        c = f[t] * c + u[t]
        cs.append(c)
    P = forget_gate_products(f)
    for k in range(6):
        (dc,) = torch.autograd.grad(cs[-1].sum(), cs[-1 - k], retain_graph=True)  # diagonal Jacobian
        torch.testing.assert_close(P[k], dc)


def test_rnn_gradient_norms_follow_the_jacobian_chain():
    torch.manual_seed(0)
    model = load_core("rnn", None, hidden_size=4)
    batch = adding_problem(22, 3, make_generator(0))
    norms = gradient_norms_by_lag(model, batch.x, batch.y)["h"]
    out = model(batch.x)
    g = 2 * (out - batch.y) * model.head.weight  # ∂L_n/∂h_T, (N, H)
    W_hh = model.core.weight_hh_l0
    for k in range(4):
        torch.testing.assert_close(norms[k], g.norm(dim=1).mean())
        g = torch.einsum("nh,nhj->nj", g, rnn_jacobian(model.core.steps[-1 - k], W_hh))  # one step back


@pytest.mark.parametrize("model", ["rnn", "lstm", "nfg"])
def test_load_core_reproduces_the_trained_module(model):
    torch.manual_seed(7)
    fast = build_model(model, 2, 6, 1, forget_bias=1.0)
    with torch.no_grad():  # move away from the init so that a wrong mapping cannot pass
        for p in fast.parameters():
            p.add_(0.1 * torch.randn_like(p))
    weights = {k: v.tolist() for k, v in fast.state_dict().items()}
    probe = load_core(model, weights, hidden_size=6, forget_bias=1.0)
    x = adding_problem(22, 4, make_generator(1)).x
    torch.testing.assert_close(probe(x), fast(x), rtol=1e-5, atol=1e-6)
    torch.manual_seed(3)
    init = build_model(model, 2, 6, 1, forget_bias=1.0)
    torch.testing.assert_close(load_core(model, None, 6, forget_bias=1.0, seed=3)(x), init(x))
