"""The xLSTM cells (lstm_ref.xlstm): gradients, stabilisation, the two mLSTM forms, bad input,
the associative-recall generator and the experiment command.

- gradients: ``torch.autograd.gradcheck`` in float64 on the sequence functions, through
  every input (x, weights, initial states), stabilised and not, for both forget gates;
- stabilisation: the stabilised cells give the unstabilised outputs (to 1e-12 relative in
  float64) where those are finite, and stay finite and right where they overflow;
- the mLSTM's step-by-step and parallel forms agree, outputs and final memory;
- bad input raises ValueError naming the argument, what it has and what was expected.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from lstm_ref import LSTMParams, rel_error
from lstm_ref.tasks import associative_recall, make_generator
from lstm_ref.train import SequenceModel
from lstm_ref.xlstm import (
    FORGET_GATES, MLSTM, SLSTM, MLSTMParams, MLSTMState, SLSTMState, exponential_gates, mlstm_forward,
    mlstm_cell, mlstm_parallel, mlstm_projections, mlstm_step, mlstm_zero_state, slstm_forward, slstm_step, slstm_zero_state, stabilised_gates,
)

T, N, D, H = 4, 2, 3, 3
f64 = torch.float64


def _slstm_problem(seed=0, scale=1.0, dtype=f64):
    params = LSTMParams.init(D, H, seed=seed).to_tensors(dtype=dtype)
    params = LSTMParams(params.W_ih * scale, params.W_hh * scale, params.b * scale)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, N, D, generator=g, dtype=dtype)
    return params, x


def _mlstm_problem(seed=0, scale=1.0, dtype=f64):
    params = MLSTMParams.init(D, H, seed=seed).to_tensors(dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, N, D, generator=g, dtype=dtype) * scale
    return params, x


def _some_state(seed=1):
    """A nonzero sLSTM state (n > 0, as every reachable normaliser is)."""
    g = torch.Generator().manual_seed(seed)
    h, c, m = (torch.randn(N, H, generator=g, dtype=f64) for _ in range(3))
    n = torch.rand(N, H, generator=g, dtype=f64) + 0.5
    return SLSTMState(h, c, n, m)


# --- gradients -------------------------------------------------------------------------------------
@pytest.mark.parametrize("forget", FORGET_GATES)
@pytest.mark.parametrize("stabilise", [True, False])
def test_slstm_gradcheck(forget, stabilise):
    params, x = _slstm_problem()
    h0, c0, n0, m0 = _some_state()
    inputs = [t.clone().requires_grad_() for t in (x, *params, h0, c0, n0, m0)]

    def f(x, W_ih, W_hh, b, h0, c0, n0, m0):
        hs, state = slstm_forward(x, LSTMParams(W_ih, W_hh, b), SLSTMState(h0, c0, n0, m0),
                                  forget=forget, stabilise=stabilise)
        # the final states, as quantities that do not depend on the scaling m_T: c_T / n_T and the
        # true log n_T (c_T itself can reach 1e3 here, too large for differences to resolve well)
        log_n = torch.log(state.n) + (state.m if stabilise else 0.0)
        return hs, state.c / state.n, log_n

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("forget", FORGET_GATES)
@pytest.mark.parametrize("form", ["recurrent", "parallel", "recurrent-unstabilised", "parallel-unstabilised"])
def test_mlstm_gradcheck(forget, form):
    params, x = _mlstm_problem(scale=2.0)  # |n_tᵀ q_t| is above 1 at some steps, below at others
    stabilise = not form.endswith("unstabilised")
    run = mlstm_parallel if form.startswith("parallel") else mlstm_forward
    inputs = [t.clone().requires_grad_() for t in (x, *params)]
    assert torch.autograd.gradcheck(
        lambda x, W, b: run(x, MLSTMParams(W, b), forget=forget, stabilise=stabilise)[0],
        inputs, eps=1e-6, atol=1e-8, rtol=1e-6,
    )


def test_mlstm_gradcheck_through_a_given_memory():
    params, x = _mlstm_problem()
    g = torch.Generator().manual_seed(3)
    C0, n0 = torch.randn(N, H, H, generator=g, dtype=f64), torch.randn(N, H, generator=g, dtype=f64)
    m0 = torch.randn(N, generator=g, dtype=f64)
    inputs = [t.clone().requires_grad_() for t in (x, *params, C0, n0, m0)]
    assert torch.autograd.gradcheck(
        lambda x, W, b, C0, n0, m0: mlstm_forward(x, MLSTMParams(W, b), MLSTMState(C0, n0, m0))[0],
        inputs, eps=1e-6, atol=1e-8, rtol=1e-6,
    )


def test_mlstm_test_problem_reaches_both_branches_of_the_max():
    """The gradchecks above are only worth something if both sides of max(|nᵀq|, 1) occur."""
    params, x = _mlstm_problem(scale=2.0)
    q, k, _, _, a_i, a_f = mlstm_projections(x, params)
    i, f = exponential_gates(a_i, a_f)
    n, dots = torch.zeros(N, H, dtype=f64), []
    for t in range(T):
        n = f[t, :, None] * n + i[t, :, None] * k[t]
        dots.append((n * q[t]).sum(dim=1).abs())
    dots = torch.stack(dots)
    assert (dots > 1).any() and (dots < 1).any(), dots


# --- stabilised = unstabilised ---------------------------------------------------------------------
@pytest.mark.parametrize("forget", FORGET_GATES)
def test_slstm_stabilised_equals_unstabilised(forget):
    for seed, scale in ((0, 1.0), (1, 4.0), (2, 10.0)):  # gates up to e^±30 or so: still finite in float64
        params, x = _slstm_problem(seed, scale)
        hs, state = slstm_forward(x, params, forget=forget)
        hs_u, state_u = slstm_forward(x, params, forget=forget, stabilise=False)
        assert torch.isfinite(hs_u).all()
        assert rel_error(hs, hs_u) < 1e-12
        for name in ("c", "n"):  # stabilised states are the true ones times exp(-m_T) (eq:xlstm-stable-states)
            assert rel_error(getattr(state, name) * torch.exp(state.m), getattr(state_u, name)) < 1e-12, name


def test_slstm_stabiliser_keeps_what_overflows_finite():
    """ĩ ≈ 800 overflows exp in float64 (and ĩ ≈ 100 in float32); the stabilised cell is unaffected."""
    params, x = _slstm_problem()
    big = LSTMParams(params.W_ih, params.W_hh, params.b.clone())
    big.b[:H] += 800.0  # input-gate bias: i_t = e^800
    with torch.no_grad():
        hs_u, _ = slstm_forward(x, big, stabilise=False)
        hs, _ = slstm_forward(x, big)
    assert not torch.isfinite(hs_u).all()  # inf / inf
    assert torch.isfinite(hs).all()
    # and right: float32 stabilised against float64 unstabilised at ĩ ≈ 100, where only float32 overflows
    medium = LSTMParams(params.W_ih, params.W_hh, params.b.clone())
    medium.b[:H] += 100.0
    hs64, _ = slstm_forward(x, medium, stabilise=False)
    p32 = medium.map(lambda a: a.float())
    hs32, _ = slstm_forward(x.float(), p32)
    hs32_u, _ = slstm_forward(x.float(), p32, stabilise=False)
    assert torch.isfinite(hs64).all() and not torch.isfinite(hs32_u).all()
    assert (hs32.double() - hs64).abs().max() < 1e-5


@pytest.mark.parametrize("forget", FORGET_GATES)
def test_mlstm_forms_agree(forget):
    """Recurrent and parallel, stabilised and not: the same outputs and the same true final memory."""
    for seed, scale in ((0, 1.0), (1, 3.0), (2, 8.0)):
        params, x = _mlstm_problem(seed, scale)
        results = {
            (run.__name__, stabilise): run(x, params, forget=forget, stabilise=stabilise)
            for run in (mlstm_forward, mlstm_parallel) for stabilise in (True, False)
        }
        hs_ref, state_ref = results[("mlstm_forward", False)]
        assert torch.isfinite(hs_ref).all()
        for key, (hs, state) in results.items():
            assert rel_error(hs, hs_ref) < 1e-12, key
            scale_back = torch.exp(state.m) if key[1] else torch.ones_like(state.m)
            assert rel_error(state.C * scale_back[:, None, None], state_ref.C) < 1e-12, key
            assert rel_error(state.n * scale_back[:, None], state_ref.n) < 1e-12, key


def test_mlstm_stabiliser_keeps_what_overflows_finite():
    params, x = _mlstm_problem()
    b = params.b.clone()
    b[4 * H] += 800.0  # ĩ ≈ 800
    big = MLSTMParams(params.W_ih, b)
    with torch.no_grad():
        for run in (mlstm_forward, mlstm_parallel):
            assert not torch.isfinite(run(x, big, stabilise=False)[0]).all(), run.__name__
        hs, _ = mlstm_forward(x, big)
        hs_p, _ = mlstm_parallel(x, big)
    assert torch.isfinite(hs).all() and rel_error(hs, hs_p) < 1e-12
    # the same cell without the offset: a constant added to every ĩ_t scales C_t and n_t alike,
    # so it changes h only where max(|nᵀq|, 1) takes the 1; with a large offset it never does
    b30 = params.b.clone()
    b30[4 * H] += 30.0  # ĩ ≈ 30: e^30 is finite, and |n_tᵀ q_t| is far above 1
    hs_ref, _ = mlstm_forward(x, MLSTMParams(params.W_ih, b30), stabilise=False)
    assert rel_error(hs, hs_ref) < 1e-10


def test_stabilised_gates_are_the_plain_gates_rescaled():
    g = torch.Generator().manual_seed(0)
    a_i, a_f, m_prev = (torch.randn(6, generator=g, dtype=f64) * 5 for _ in range(3))
    for forget in FORGET_GATES:
        i, f = exponential_gates(a_i, a_f, forget)
        i_s, f_s, m = stabilised_gates(a_i, a_f, m_prev, forget)
        assert rel_error(i_s, i * torch.exp(-m)) < 1e-12
        assert rel_error(f_s, f * torch.exp(m_prev - m)) < 1e-12
        assert (i_s <= 1).all() and (f_s <= 1).all() and ((i_s == 1) | (f_s == 1)).all()  # one of them is e^0


def test_step_functions_match_the_sequence_functions():
    """Step by step = the sequence functions (to rounding: these add the input part first)."""
    params, x = _slstm_problem()
    state = slstm_zero_state(N, H, like=x)
    hs, last = slstm_forward(x, params)
    for t in range(T):
        state = slstm_step(x[t], state, params)
        assert rel_error(state.h, hs[t]) < 1e-13
    assert all(rel_error(a, b) < 1e-13 for a, b in zip(state, last))
    mparams, x = _mlstm_problem()
    memory = mlstm_zero_state(N, H, like=x)
    hs, _ = mlstm_forward(x, mparams)
    for t in range(T):
        h, memory = mlstm_step(x[t], memory, mparams)
        assert rel_error(h, hs[t]) < 1e-13


def test_mlstm_has_no_recurrence_and_slstm_does():
    """Changing x_1 changes the mLSTM's later outputs only through its memory: with f ≡ 0 after step 1, not at all."""
    params, x = _mlstm_problem()
    b = params.b.clone()
    b[4 * H + 1] = -1e4  # forget everything at every step (log f = -1e4)
    forgetful = MLSTMParams(params.W_ih, b)
    x2 = x.clone()
    x2[0] += 1.0
    hs, _ = mlstm_parallel(x, forgetful)
    hs2, _ = mlstm_parallel(x2, forgetful)
    assert torch.equal(hs[1:], hs2[1:]) and not torch.equal(hs[0], hs2[0])
    sparams, _ = _slstm_problem()
    sb = sparams.b.clone()
    sb[H : 2 * H] = -1e4  # the sLSTM forgets its cell too, but h_{t-1} still feeds the gates
    hs, _ = slstm_forward(x, LSTMParams(sparams.W_ih, sparams.W_hh, sb))
    hs2, _ = slstm_forward(x2, LSTMParams(sparams.W_ih, sparams.W_hh, sb))
    assert (hs[1:] - hs2[1:]).abs().max() > 1e-6


# --- layers ------------------------------------------------------------------------------------------
def test_layers_train_in_a_sequence_model():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 5)
    for core in (SLSTM(5, 4), MLSTM(5, 4), MLSTM(5, 4, parallel=False), SLSTM(5, 4, forget="sigmoid", forget_bias=1.0)):
        model = SequenceModel(core, 4, 2)
        out = model(x)
        assert out.shape == (3, 2) and out.dtype == torch.float32
        out.sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert sum(p.numel() for p in SLSTM(5, 4).parameters()) == 4 * 4 * (5 + 4 + 1)  # the LSTM's count, one bias
    assert sum(p.numel() for p in MLSTM(5, 4).parameters()) == (4 * 4 + 2) * (5 + 1)


def test_mlstm_layer_parallel_and_recurrent_agree():
    torch.manual_seed(1)
    layer = MLSTM(5, 4, dtype=f64)
    x = torch.randn(7, 3, 5, dtype=f64)
    hs_p, _ = layer(x)
    layer.parallel = False
    hs_r, _ = layer(x)
    assert rel_error(hs_p, hs_r) < 1e-12


# --- bad input --------------------------------------------------------------------------------------
def test_bad_input_is_named():
    params, x = _slstm_problem()
    with pytest.raises(ValueError, match=r"x has shape \(4, 2, 2\); expected \(T, N, D\) = \(4, 2, 3\)"):
        slstm_forward(x[:, :, :2], params)
    with pytest.raises(ValueError, match=r"forget='tanh'; expected one of \('exp', 'sigmoid'\)"):
        slstm_forward(x, params, forget="tanh")
    state = slstm_zero_state(N, H, like=x)
    with pytest.raises(ValueError, match=r"state.n has shape \(2, 2\); expected \(N, H\) = \(2, 3\)"):
        slstm_step(x[0], state._replace(n=state.n[:, :2]), params)
    with pytest.raises(ValueError, match=r"state must be an SLSTMState \(h, c, n, m\), got tuple"):
        slstm_forward(x, params, tuple(state))
    with pytest.raises(ValueError, match=r"state.c has dtype torch.float32; expected torch.float64"):
        slstm_forward(x, params, state._replace(c=state.c.float()))
    mparams, x = _mlstm_problem()
    with pytest.raises(ValueError, match=r"params must be an MLSTMParams \(W_ih, b\), got LSTMParams"):
        mlstm_forward(x, params)
    with pytest.raises(ValueError, match=r"params must be an LSTMParams \(W_ih, W_hh, b\), got MLSTMParams"):
        slstm_forward(x, mparams)
    with pytest.raises(ValueError, match=r"params.W_ih has shape \(12, 3\); expected \(4H\+2, D\) with H >= 1"):
        mlstm_parallel(x, MLSTMParams(mparams.W_ih[:12], mparams.b[:12]))
    with pytest.raises(ValueError, match=r"params.b has shape \(13,\); expected \(4H\+2,\) = \(14,\)"):
        mlstm_forward(x, MLSTMParams(mparams.W_ih, mparams.b[:13]))
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\) \(2-D\); expected \(T, N, D\) \(3-D\)"):
        mlstm_parallel(x[0], mparams)
    memory = mlstm_zero_state(N, H, like=x)
    with pytest.raises(ValueError, match=r"state.m has shape \(2, 1\) \(2-D\); expected \(N,\) = \(2,\) \(1-D\)"):
        mlstm_step(x[0], memory._replace(m=memory.m[:, None]), mparams)
    with pytest.raises(ValueError, match=r"input_size=0, hidden_size=4: expected positive integers"):
        MLSTM(0, 4)
    with pytest.raises(ValueError, match=r"forget='relu'"):
        SLSTM(3, 4, forget="relu")


# --- the task and the experiment ------------------------------------------------------------------------
def test_associative_recall_batches():
    batch = associative_recall(5, 64, make_generator(0), n_keys=7, n_values=3, gap=2)
    K, V = 7, 3
    assert batch.x.shape == (5 + 2 + 1, 64, K + V + 1) and batch.y.shape == (64,)
    keys = batch.x[:5, :, :K].argmax(dim=2).T  # (N, P), read back from the one-hot input
    values = batch.x[:5, :, K : K + V].argmax(dim=2).T
    assert torch.equal(keys, batch.keys) and torch.equal(values, batch.values)
    assert all(len(set(row.tolist())) == 5 for row in keys)  # the keys of a sequence differ
    assert (batch.x[5:7] == 0).all()  # the gap is blank
    asked = batch.x[-1, :, :K].argmax(dim=1)
    assert (batch.x[-1, :, K : K + V] == 0).all() and (batch.x[-1, :, -1] == 1).all()
    for n in range(64):  # the target is the value shown with the asked key
        p = keys[n].tolist().index(int(asked[n]))
        assert int(batch.y[n]) == int(values[n, p]) and int(batch.query[n]) == p
    again = associative_recall(5, 64, make_generator(0), n_keys=7, n_values=3, gap=2)
    assert torch.equal(again.x, batch.x)
    other = associative_recall(5, 64, make_generator(1), n_keys=7, n_values=3, gap=2)
    assert not torch.equal(other.x, batch.x)


@pytest.mark.parametrize("kwargs, message", [
    ({"P": 9, "n_keys": 8}, r"P=9 pairs need P different keys, but n_keys=8"),
    ({"P": 0}, r"P=0: expected an integer >= 1"),
    ({"P": 2, "gap": -1}, r"gap=-1: expected an integer >= 0"),
])
def test_associative_recall_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        associative_recall(N=4, gen=make_generator(0), **kwargs)


def test_mlstm_can_store_pairs_by_hand():
    """With one-hot keys written at f = 1, C q returns the value of the asked key (eq:xlstm-retrieval)."""
    P, Hh = 5, 8
    g = torch.Generator().manual_seed(0)
    values = torch.randn(P, 1, Hh, generator=g, dtype=f64)
    memory = mlstm_zero_state(1, Hh, like=values)
    zero, ones = torch.zeros(1, dtype=f64), torch.ones(1, Hh, dtype=f64)
    eye = torch.eye(Hh, dtype=f64)
    for p in range(P):  # ĩ = 0 (i = 1), f̃ = 0 (f = e^0 = 1): store v_p under key e_p
        _, memory = mlstm_cell(eye[p : p + 1], eye[p : p + 1], values[p], ones, zero, zero, memory)
    for p in range(P):
        h, _ = mlstm_cell(eye[p : p + 1], eye[p : p + 1] * 0, values[0] * 0, ones, zero - 1e4, zero, memory)
        assert rel_error(h, values[p]) < 1e-12  # |n q| = 1 here, so nothing is divided


def test_xlstm_experiment_command_writes_its_results(tmp_path):
    from lstm_ref.experiments.__main__ import main

    out = tmp_path / "recall.json"
    argv = ["xlstm", "--P", "2", "--models", "lstm", "slstm", "mlstm:6", "--seeds", "1", "--max-sequences", "128",
            "--batch-size", "32", "--eval-every", "64", "--eval-size", "50", "--test-size", "60", "--n-keys", "4",
            "--n-values", "3", "--no-progress", "--out", str(out)]
    result = main(argv)
    saved = json.loads(out.read_text())
    assert saved["command"] == "python -m lstm_ref.experiments xlstm " + " ".join(argv[1:])
    assert [(r["config"]["model"], r["config"]["hidden_size"]) for r in saved["runs"]] == [
        ("lstm", 32), ("slstm", 32), ("mlstm", 6)]
    for run in saved["runs"]:
        assert [s for s, _ in run["curve"]] == [64, 128] and run["sequences"] == 128
        assert 0 <= run["test_accuracy"] <= 1 and all(0 <= a <= 1 for _, a in run["curve"])
    assert saved["runs"][2]["state_size"] == 6 * 6 + 6 + 1
    assert saved["runs"][2]["parameters"] == (4 * 6 + 2) * (4 + 3 + 1 + 1) + 6 * 3 + 3
    assert [row["label"] for row in result["summary"]] == ["lstm H=32", "slstm H=32", "mlstm H=6"]
    assert math.isclose(result["summary"][0]["chance"], 1 / 3, rel_tol=1e-3)


def test_xlstm_experiment_rejects_unknown_models(capsys):
    from lstm_ref.experiments.xlstm import main

    with pytest.raises(SystemExit):
        main(["--models", "gru", "--out", "unused.json"])
    assert "model 'gru' (in 'gru') is unknown" in capsys.readouterr().err
