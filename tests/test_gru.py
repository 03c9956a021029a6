"""The reference GRU, verified three ways as the LSTM is: agreement with torch.nn.GRU and
nn.GRUCell after porting the weights (float64, ≤ 1e-10), centred finite differences
(≤ 1e-7 relative) and torch autograd (≤ 1e-12); the two backends agree; bad input raises
the same ValueError messages as the LSTM's; the comparison experiment runs end to end."""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_ref import TOLERANCES, max_abs_error, rel_error
from lstm_ref import numpy_gru as ng
from lstm_ref import torch_gru as tg
from lstm_ref.gradcheck import FD_ACCURATE, numerical_gradient
from lstm_ref.gru_params import GRUParams
from reference_helpers import SHAPES, SMALL_SHAPES

TORCH_TOL = TOLERANCES["torch_abs_float64"]
BACKENDS_TOL = TOLERANCES["backends_abs_float64"]
GRAD_TOL = TOLERANCES["grad_rel_float64"]


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def random_gru_problem(T, N, D, H, seed=0, scale=1.0, dtype=np.float64):
    """``params, x (T, N, D), h0 (N, H)``; biases larger than at init so that b_hn matters."""
    rng = np.random.default_rng(seed)
    params = GRUParams.init(D, H, seed=seed + 1, update_bias=0.5, dtype=dtype)
    params = GRUParams(params.W_ih, params.W_hh, params.b_ih, (params.b_hh + rng.normal(size=3 * H)).astype(dtype))
    x = (scale * rng.normal(size=(T, N, D))).astype(dtype)
    h0 = rng.uniform(-0.9, 0.9, size=(N, H)).astype(dtype)
    return params, x, h0


# --- 1. agreement with torch.nn.GRU / nn.GRUCell ------------------------------------------------
@pytest.mark.parametrize("T,N,D,H", SHAPES)
def test_forward_matches_torch_gru(T, N, D, H):
    params, x, h0 = random_gru_problem(T, N, D, H, seed=T + N)
    hs, h_T, _ = ng.gru_forward(x, params, h0)
    out, h_n = params.to_torch("gru")(_t(x), _t(h0)[None])
    assert max_abs_error(hs, out) <= TORCH_TOL
    assert max_abs_error(h_T, h_n[0]) <= TORCH_TOL
    hs_t, h_T_t, _ = tg.gru_forward(_t(x), params.to_tensors(), _t(h0))
    assert max_abs_error(hs_t, out) <= TORCH_TOL and max_abs_error(h_T_t, h_n[0]) <= TORCH_TOL


@pytest.mark.parametrize("T,N,D,H", SHAPES[:5])
def test_step_matches_torch_gru_cell(T, N, D, H):
    params, x, h0 = random_gru_problem(T, N, D, H, seed=3)
    cell = params.to_torch("cell")
    h, h_t = h0, _t(h0)
    for t in range(T):
        h, _ = ng.gru_step(x[t], h, params)
        h_t = cell(_t(x[t]), h_t)
        assert max_abs_error(h, h_t) <= TORCH_TOL


def test_weights_port_both_ways_and_keep_both_biases():
    """b_hn sits inside r ⊙ (W_hn h + b_hn): summing the two biases, as the LSTM may, changes the output."""
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, dtype=torch.float64)
    with torch.no_grad():
        module.bias_hh_l0.normal_()
    params = GRUParams.from_torch(module)
    np.testing.assert_array_equal(params.b_hh, module.bias_hh_l0.detach().numpy())
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out, _ = module(x)
    assert max_abs_error(ng.gru_forward(x.numpy(), params)[0], out) <= TORCH_TOL
    assert max_abs_error(params.to_torch("gru")(x)[0], out) <= TORCH_TOL
    summed = GRUParams(params.W_ih, params.W_hh, params.b_ih + params.b_hh, np.zeros_like(params.b_hh))
    assert max_abs_error(ng.gru_forward(x.numpy(), summed)[0], out) > 1e-3
    cell_params = GRUParams.from_torch(params.to_torch("cell"))
    for name, value in params.items():
        np.testing.assert_array_equal(getattr(cell_params, name), value)


def test_from_torch_without_bias_and_init_layout():
    module = torch.nn.GRU(2, 3, bias=False, dtype=torch.float64)
    params = GRUParams.from_torch(module)
    assert not params.b_ih.any() and not params.b_hh.any()
    x = torch.randn(4, 1, 2, dtype=torch.float64)
    assert max_abs_error(ng.gru_forward(x.numpy(), params)[0], module(x)[0]) <= TORCH_TOL
    p0, p5 = GRUParams.init(2, 3, seed=1), GRUParams.init(2, 3, seed=1, update_bias=5.0)
    np.testing.assert_allclose(p5.b_ih - p0.b_ih, [0, 0, 0, 5, 5, 5, 0, 0, 0])  # order r, z, n
    assert np.abs(p0.W_hh).max() <= 1 / np.sqrt(3)


# --- 2. the backends agree --------------------------------------------------------------------------
@pytest.mark.parametrize("T,N,D,H", SHAPES)
def test_numpy_and_torch_backends_agree(T, N, D, H):
    params, x, h0 = random_gru_problem(T, N, D, H, seed=7)
    hs, h_T, cache = ng.gru_forward(x, params, h0)
    hs_t, _, cache_t = tg.gru_forward(_t(x), params.to_tensors(), _t(h0))
    assert max_abs_error(hs, hs_t) <= BACKENDS_TOL
    rng = np.random.default_rng(1)
    dhs, dh_T = rng.normal(size=hs.shape), rng.normal(size=h_T.shape)
    dx, dh0, grads = ng.gru_backward(dhs, cache, dh_T)
    dx_t, dh0_t, grads_t = tg.gru_backward(_t(dhs), cache_t, _t(dh_T))
    for name, a, b in [("dx", dx, dx_t), ("dh0", dh0, dh0_t), *((n, v, w) for (n, v), w in zip(grads.items(), grads_t))]:
        assert max_abs_error(a, b) <= BACKENDS_TOL * max(1.0, float(np.abs(a).max())), name


@pytest.mark.parametrize("fn,gate", [("reset_gate", "r"), ("update_gate", "z")])
def test_per_gate_functions_are_the_fused_step(fn, gate):
    params, x, h0 = random_gru_problem(1, 3, 4, 5, seed=2)
    _, cache = ng.gru_step(x[0], h0, params)
    expected = getattr(cache, gate)
    assert max_abs_error(getattr(ng, fn)(x[0], h0, *params.gate(gate)), expected) <= BACKENDS_TOL
    got_t = getattr(tg, fn)(_t(x[0]), _t(h0), *(_t(a) for a in params.gate(gate)))
    assert max_abs_error(got_t, expected) <= BACKENDS_TOL


def test_candidate_and_hidden_state_are_the_fused_step():
    params, x, h0 = random_gru_problem(1, 3, 4, 5, seed=4)
    h, cache = ng.gru_step(x[0], h0, params)
    n = ng.candidate(x[0], h0, cache.r, *params.gate("n"))
    n_t = tg.candidate(_t(x[0]), _t(h0), _t(cache.r), *(_t(a) for a in params.gate("n")))
    assert max_abs_error(n, cache.n) <= BACKENDS_TOL and max_abs_error(n_t, cache.n) <= BACKENDS_TOL
    assert max_abs_error(ng.hidden_state(cache.z, n, h0), h) <= BACKENDS_TOL
    assert max_abs_error(tg.hidden_state(_t(cache.z), _t(n), _t(h0)), h) <= BACKENDS_TOL
    assert max_abs_error(h, (1 - cache.z) * cache.n + cache.z * h0) <= BACKENDS_TOL  # written out again


def test_cho_candidate_differs_from_pytorch_unless_the_reset_gate_is_open():
    params, x, h0 = random_gru_problem(1, 3, 4, 5, seed=5)
    W_in, b_in, W_hn, b_hn = params.gate("n")
    r = np.random.default_rng(0).uniform(0.1, 0.9, size=h0.shape)
    cho = ng.candidate_cho(x[0], h0, r, W_in, b_in, W_hn, b_hn)
    expected = np.stack([np.tanh(W_in @ x[0][k] + b_in + W_hn @ (r[k] * h0[k]) + b_hn) for k in range(3)])
    assert max_abs_error(cho, expected) <= BACKENDS_TOL
    cho_t = tg.candidate_cho(*(_t(a) for a in (x[0], h0, r, W_in, b_in, W_hn, b_hn)))
    assert max_abs_error(cho_t, cho) <= BACKENDS_TOL
    assert max_abs_error(cho, ng.candidate(x[0], h0, r, W_in, b_in, W_hn, b_hn)) > 1e-3
    ones = np.ones_like(r)  # r = 1: nothing reset, the two forms are one
    assert max_abs_error(ng.candidate_cho(x[0], h0, ones, *params.gate("n")), ng.candidate(x[0], h0, ones, *params.gate("n"))) <= BACKENDS_TOL


# --- 3. finite differences -------------------------------------------------------------------------
@pytest.mark.parametrize("T,N,D,H", SMALL_SHAPES)
def test_sequence_gradients_match_finite_differences(T, N, D, H):
    params, x, h0 = random_gru_problem(T, N, D, H, seed=11)
    rng = np.random.default_rng(12)
    dhs, dh_T = rng.normal(size=(T, N, H)), rng.normal(size=(N, H))

    def loss():
        hs, h_T, _ = ng.gru_forward(x, params, h0)
        return float(np.sum(dhs * hs) + np.sum(dh_T * h_T))

    _, _, cache = ng.gru_forward(x, params, h0)
    dx, dh0, grads = ng.gru_backward(dhs, cache, dh_T)
    for name, arr, analytic in [("x", x, dx), ("h0", h0, dh0), *((n, v, g) for (n, v), g in zip(params.items(), grads))]:
        numeric = numerical_gradient(loss, arr, **FD_ACCURATE)
        assert rel_error(analytic, numeric) <= GRAD_TOL, name


def test_step_gradients_match_finite_differences():
    params, x, h0 = random_gru_problem(1, 3, 2, 4, seed=13)
    x = x[0]
    dh = np.random.default_rng(14).normal(size=h0.shape)
    _, cache = ng.gru_step(x, h0, params)
    dx, dh_prev, grads = ng.gru_step_backward(dh, cache)

    def loss():
        return float(np.sum(dh * ng.gru_step(x, h0, params)[0]))

    for name, arr, analytic in [("x", x, dx), ("h_prev", h0, dh_prev), *((n, v, g) for (n, v), g in zip(params.items(), grads))]:
        assert rel_error(analytic, numerical_gradient(loss, arr, **FD_ACCURATE)) <= GRAD_TOL, name


# --- 4. autograd -----------------------------------------------------------------------------------
@pytest.mark.parametrize("T,N,D,H", SHAPES[:6])
def test_hand_written_bptt_matches_autograd(T, N, D, H):
    params, x, h0 = random_gru_problem(T, N, D, H, seed=21)
    leaves = [_t(a).clone().requires_grad_() for a in (x, h0, *params)]
    hs, h_T, cache = tg.gru_forward(leaves[0], GRUParams(*leaves[2:]), leaves[1])
    rng = np.random.default_rng(22)
    dhs, dh_T = _t(rng.normal(size=(T, N, H))), _t(rng.normal(size=(N, H)))
    auto = torch.autograd.grad((hs * dhs).sum() + (h_T * dh_T).sum(), leaves)
    with torch.no_grad():
        dx, dh0, grads = tg.gru_backward(dhs, cache, dh_T)
    np_grads = ng.gru_backward(dhs.numpy(), ng.gru_forward(x, params, h0)[2], dh_T.numpy())
    for k, (a, hand, hand_np) in enumerate(zip(auto, (dx, dh0, *grads), (np_grads[0], np_grads[1], *np_grads[2]))):
        scale = max(1.0, float(a.abs().max()))
        assert max_abs_error(a, hand) <= BACKENDS_TOL * scale, k
        assert max_abs_error(a, hand_np) <= BACKENDS_TOL * scale, k


def test_step_backward_matches_autograd():
    params, x, h0 = random_gru_problem(1, 2, 3, 4, seed=23)
    leaves = [_t(a).clone().requires_grad_() for a in (x[0], h0, *params)]
    h, cache = tg.gru_step(leaves[0], leaves[1], GRUParams(*leaves[2:]))
    dh = _t(np.random.default_rng(24).normal(size=h0.shape))
    auto = torch.autograd.grad((h * dh).sum(), leaves)
    with torch.no_grad():
        dx, dh_prev, grads = tg.gru_step_backward(dh, cache)
    for k, (a, hand) in enumerate(zip(auto, (dx, dh_prev, *grads))):
        assert max_abs_error(a, hand) <= BACKENDS_TOL * max(1.0, float(a.abs().max())), k


# --- 5. the drop-in module ---------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_module_is_a_drop_in_for_nn_gru(batch_first, bias):
    torch.manual_seed(0)
    ref = torch.nn.GRU(3, 5, bias=bias, batch_first=batch_first, dtype=torch.float64)
    ours = tg.GRU(3, 5, bias=bias, batch_first=batch_first, dtype=torch.float64)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 7, 3, dtype=torch.float64) if batch_first else torch.randn(7, 2, 3, dtype=torch.float64)
    h0 = torch.randn(1, 2, 5, dtype=torch.float64)
    (out_r, h_r), (out_o, h_o) = ref(x, h0), ours(x, h0)
    assert out_r.shape == out_o.shape and h_r.shape == h_o.shape
    assert max_abs_error(out_r, out_o) <= TORCH_TOL and max_abs_error(h_r, h_o) <= TORCH_TOL
    (u_r, hu_r), (u_o, hu_o) = ref(x[0]), ours(x[0])  # unbatched (T, D)
    assert u_r.shape == u_o.shape and hu_r.shape == hu_o.shape and max_abs_error(u_r, u_o) <= TORCH_TOL
    ref.load_state_dict(ours.state_dict())  # and back


def test_module_gradients_match_nn_gru():
    torch.manual_seed(1)
    ref = torch.nn.GRU(3, 4, dtype=torch.float64)
    ours = tg.GRU(3, 4, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    h0 = torch.randn(1, 2, 4, dtype=torch.float64)
    grads = []
    for module in (ref, ours):
        xx, hh = x.clone().requires_grad_(), h0.clone().requires_grad_()
        out, h_n = module(xx, hh)
        loss = (out**2).sum() + h_n.sum()
        grads.append(torch.autograd.grad(loss, [xx, hh, *module.parameters()]))
    for k, (a, b) in enumerate(zip(*grads)):
        assert max_abs_error(a, b) <= TORCH_TOL, k


def test_gru_function_passes_gradcheck():
    params, x, h0 = random_gru_problem(4, 2, 3, 3, seed=31)
    leaves = [_t(a).clone().requires_grad_() for a in (x, h0, *params)]
    assert torch.autograd.gradcheck(lambda *a: tg.GRUFunction.apply(*a), leaves, eps=1e-6, atol=1e-8)


def test_float32_runs_and_stays_float32():
    params, x, h0 = random_gru_problem(5, 2, 3, 4, dtype=np.float32)
    hs, h_T, cache = ng.gru_forward(x, params, h0)
    dx, dh0, grads = ng.gru_backward(np.ones_like(hs), cache)
    assert {a.dtype for a in (hs, h_T, dx, dh0, *grads)} == {np.dtype(np.float32)}
    hs_t, _, _ = tg.gru_forward(_t(x), params.to_tensors(), _t(h0))
    assert hs_t.dtype == torch.float32 and max_abs_error(hs, hs_t) <= 1e-5


# --- 6. bad input: the LSTM's ValueError messages ---------------------------------------------------
@pytest.fixture(params=["numpy", "torch"])
def backend(request):
    if request.param == "numpy":
        return ng, lambda a: a
    return tg, _t


def _bad_inputs(convert):
    params, x, h0 = random_gru_problem(5, 3, 4, 2, seed=0)
    return params.map(convert), convert(x), convert(h0)


def test_wrong_input_shapes(backend):
    gru, convert = backend
    params, x, h = _bad_inputs(convert)
    with pytest.raises(ValueError, match=r"x has shape \(5, 3, 3\); expected \(T, N, D\) = \(5, 3, 4\)"):
        gru.gru_forward(x[:, :, :3], params)
    with pytest.raises(ValueError, match=r"x has shape \(3, 4\) \(2-D\); expected \(T, N, D\) \(3-D\)"):
        gru.gru_forward(x[0], params)
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 2\); expected \(N, H\) = \(3, 2\)"):
        gru.gru_forward(x, params, h0=h[:1])  # would broadcast over the batch
    with pytest.raises(ValueError, match=r"h_prev has shape \(3, 1\); expected \(N, H\) = \(3, 2\)"):
        gru.gru_step(x[0], h[:, :1], params)


def test_inconsistent_params(backend):
    gru, convert = backend
    params, x, _ = _bad_inputs(convert)
    bad = GRUParams(params.W_ih, params.W_hh, params.b_ih, params.b_hh[:-1])
    with pytest.raises(ValueError, match=r"params.b_hh has shape \(5,\); expected \(3H,\) = \(6,\)"):
        gru.gru_forward(x, bad)
    bad = GRUParams(params.W_ih[:-1], params.W_hh, params.b_ih, params.b_hh)
    with pytest.raises(ValueError, match=r"params.W_ih has shape \(5, 4\); expected \(3H, D\) = \(6, 4\)"):
        gru.gru_forward(x, bad)


def test_per_gate_arguments(backend):
    gru, convert = backend
    params, x, h = _bad_inputs(convert)
    W_r, b_r = params.gate("r")
    with pytest.raises(ValueError, match=r"W_r has shape \(6, 2\); expected \(H, H\+D\) = \(2, 6\)"):
        gru.reset_gate(x[0], h, W_r.T, b_r)
    W_in, b_in, W_hn, b_hn = params.gate("n")
    with pytest.raises(ValueError, match=r"b_hn has shape \(3,\); expected \(H,\) = \(2,\)"):
        gru.candidate(x[0], h, h, W_in, b_in, W_hn, convert(np.zeros(3)))
    with pytest.raises(ValueError, match=r"n has shape \(2, 2\); expected \(N, H\) = \(3, 2\)"):
        gru.hidden_state(h, h[:2], h)


def test_mixed_dtypes_and_backward_shapes(backend):
    gru, convert = backend
    params, x, h = _bad_inputs(convert)
    with pytest.raises(ValueError, match=r"x has dtype .*float32; expected .*float64 \(the dtype of params.W_hh\)"):
        gru.gru_forward(x.astype(np.float32) if gru is ng else x.float(), params)
    hs, _, cache = gru.gru_forward(x, params)
    with pytest.raises(ValueError, match=r"dhs has shape \(5, 3, 1\); expected \(T, N, H\) = \(5, 3, 2\)"):
        gru.gru_backward(hs[:, :, :1], cache)


def test_porting_rejects_what_it_cannot_hold():
    with pytest.raises(ValueError, match="expected a torch.nn.GRU or nn.GRUCell, got LSTM"):
        GRUParams.from_torch(torch.nn.LSTM(2, 3))
    with pytest.raises(ValueError, match="num_layers=2"):
        GRUParams.from_torch(torch.nn.GRU(2, 3, num_layers=2))
    with pytest.raises(ValueError, match="bias=False"):
        GRUParams.init(2, 3).copy_into(torch.nn.GRU(2, 3, bias=False))
    with pytest.raises(ValueError, match="gate must be one of"):
        GRUParams.init(2, 3).gate("f")
    with pytest.raises(ValueError, match="num_layers must be greater than zero"):
        tg.GRU(2, 3, num_layers=0)  # as nn.GRU; every nn.GRU configuration: test_dropin_gru.py
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 3\); expected \(num_layers, N, H\)"):
        tg.GRU(2, 3)(torch.zeros(4, 2, 2), torch.zeros(2, 3))


# --- 7. the comparison experiment, tiny -----------------------------------------------------------
def test_equal_size_hidden_is_the_closest_count():
    from lstm_ref.experiments.gru import build_gru_model, count_parameters, equal_size_hidden
    from lstm_ref.train import build_model

    target = count_parameters(build_model("lstm", 2, 32, 1))  # 4H(D+H) + 8H + H + 1 = 4641
    assert target == 4 * 32 * 34 + 8 * 32 + 33
    H = equal_size_hidden(lambda h: build_gru_model(2, h, 1), target)
    counts = {h: 3 * h * (2 + h) + 6 * h + h + 1 for h in (H - 1, H, H + 1)}  # the GRU's count, by hand
    assert counts[H] == count_parameters(build_gru_model(2, H, 1))
    assert abs(counts[H] - target) == min(abs(c - target) for c in counts.values())


def test_gru_cli_adding_and_charlm_tiny(tmp_path):
    from lstm_ref.experiments.__main__ import main

    out = tmp_path / "gru_adding.json"
    argv = ["gru", "adding", "--T", "22", "--seeds", "2", "--max-sequences", "64", "--window", "32",
            "--test-size", "40", "--update-bias", "2", "--no-progress", "--out", str(out)]
    main(argv)
    result = json.loads(out.read_text())
    assert result["command"] == "python -m lstm_ref.experiments " + " ".join(argv)
    assert [(r["config"]["model"], r["config"]["seed"]) for r in result["runs"]] == [("lstm", 0), ("lstm", 1), ("gru", 0), ("gru", 1)]
    gru_runs = [r for r in result["runs"] if r["config"]["model"] == "gru"]
    assert {r["config"]["hidden_size"] for r in gru_runs} == {result["models"]["gru"]["hidden"]} == {37}
    assert {r["config"]["update_bias"] for r in gru_runs} == {2.0}
    assert [(row["model"], row["runs"], row["solved"]) for row in result["summary"]] == [("lstm", 2, 0), ("gru", 2, 0)]
    text = tmp_path / "text.txt"
    text.write_text("abcabcabd\n" * 40)
    from lstm_ref.experiments.gru import run_charlm

    lm = run_charlm([0], tmp_path / "lm.json", "test", steps=3, T=8, N=2, lstm_hidden=8, embed=4, eval_every=2,
                    text_path=text, progress=False)
    assert [r["model"] for r in lm["runs"]] == ["lstm", "gru"]
    assert [s for s, _ in lm["runs"][1]["held_out_curve"]] == [2, 3]
    assert abs(lm["models"]["gru"]["parameters"] - lm["models"]["lstm"]["parameters"]) < 0.1 * lm["models"]["lstm"]["parameters"]  # H = 8 is coarse
    assert all(0 < r["held_out"] < 2 * lm["baselines"]["uniform"] for r in lm["runs"])


# --- 8. the committed results say what book/gru.md says about them ----------------------------------
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _load(name):
    return json.loads((RESULTS / name).read_text())


def test_adding_results_hold_what_the_chapter_says():
    adding = _load("gru_adding.json")
    assert adding["command"].startswith("python -m lstm_ref.experiments gru adding --T 100 200 --seeds 3")
    runs = adding["runs"]
    keys = sorted((r["config"]["model"], r["config"]["T"], r["config"]["seed"]) for r in runs)
    assert keys == sorted((c, T, s) for c in ("lstm", "gru") for T in (100, 200) for s in range(3))
    sizes = adding["models"]
    assert abs(sizes["gru"]["parameters"] - sizes["lstm"]["parameters"]) <= 0.02 * sizes["lstm"]["parameters"]
    assert all(r["solved"] for r in runs), "the chapter says every run met the stopping rule"
    assert max(r["test"]["wrong"] for r in runs) <= 5, "'at most a handful of errors'"
    seqs = {(c, T): [r["sequences"] for r in sorted(runs, key=lambda r: r["config"]["seed"])
                     if (r["config"]["model"], r["config"]["T"]) == (c, T)] for c in ("lstm", "gru") for T in (100, 200)}
    for T in (100, 200):  # "the spread between seeds is as large as the difference": the ranges overlap
        assert min(seqs["gru", T]) <= max(seqs["lstm", T]) and min(seqs["lstm", T]) <= max(seqs["gru", T])
    pairs = [(g, l) for T in (100, 200) for g, l in zip(seqs["gru", T], seqs["lstm", T])]
    k = max(sum(g < l for g, l in pairs), sum(g > l for g, l in pairs))
    p = 2 * sum(math.comb(len(pairs), j) for j in range(k, len(pairs) + 1)) / 2 ** len(pairs)
    assert p > 0.05, "'a sign test does not tell apart from chance'"


def test_lstm_runs_reproduce_the_experiments_chapter():
    """Same settings, same seed: the LSTM needs the same number of sequences as in results/adding_*closed*."""
    earlier = _load("adding_closed.json")["runs"] + [r for s in range(3) for r in _load(f"adding_T200_closed_s{s}.json")["runs"]]
    earlier = {(r["config"]["T"], r["config"]["seed"]): r for r in earlier
               if (r["config"]["forget_bias"], r["config"]["input_bias"], r["config"]["hidden_size"]) == (5.0, -5.0, 32)}
    ours = [r for r in _load("gru_adding.json")["runs"] if r["config"]["model"] == "lstm"]
    assert len(ours) == 6
    for r in ours:
        before = earlier[(r["config"]["T"], r["config"]["seed"])]
        assert r["sequences"] == before["sequences"], (r["config"]["T"], r["config"]["seed"])
        assert r["test"]["wrong"] == before["test"]["wrong"] and abs(r["test"]["loss"] - before["test"]["loss"]) < 1e-8


def test_update_bias_zero_stays_on_the_plateau():
    bz0 = _load("gru_adding_bz0.json")
    assert "--update-bias 0" in bz0["command"] and {r["config"]["update_bias"] for r in bz0["runs"]} == {0.0}
    assert not any(r["solved"] for r in bz0["runs"])
    assert all(r["curve"][-1][2] > 0.03 for r in bz0["runs"]), "still near the mean predictor's MSE, about 0.04"


def test_language_model_results_hold_what_the_chapter_says():
    lm = _load("gru_charlm.json")
    assert lm["command"].startswith("python -m lstm_ref.experiments gru charlm")
    held = {c: [r["held_out"] for r in lm["runs"] if r["model"] == c] for c in ("lstm", "gru")}
    assert len(held["lstm"]) == len(held["gru"]) == 3
    assert max(held["gru"]) < min(held["lstm"]), "'every GRU run below every LSTM run'"
    gap = statistics.fmean(held["lstm"]) - statistics.fmean(held["gru"])
    assert 0.01 < gap / statistics.fmean(held["lstm"]) < 0.03, "'about 2 %'"
    assert max(held["lstm"]) < lm["baselines"]["unigram"]

    def mean_at(cell, step):
        return statistics.fmean(dict(map(tuple, r["held_out_curve"]))[step] for r in lm["runs"] if r["model"] == cell)

    assert mean_at("gru", 1000) >= mean_at("gru", 750) - 0.005, "'the GRU stopped improving'"
    assert mean_at("lstm", 1000) < mean_at("lstm", 750) - 0.01, "'the LSTM was still improving'"
    assert all(mean_at("gru", s) < mean_at("lstm", s) for s in (250, 500, 750, 1000)), "'got ahead early'"
