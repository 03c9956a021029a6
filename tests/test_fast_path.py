"""The fast path (``LSTMFunction``, ``lstm_ref._fast_torch``) and the benchmark program.

The fast path must give the numbers of the plain, readable ``lstm_forward`` /
``lstm_backward`` (float64, to 1e-10) and of ``torch.nn.LSTM``; the benchmark must time
every method on the same problem and write what it measured. No test here asserts a
speed: speed is what ``python -m lstm_ref.bench`` reports, as ratios measured in one run.
"""
from __future__ import annotations

import json

import pytest
import torch

from lstm_ref import bench
from lstm_ref import torch_lstm as tl
from lstm_ref._fast_torch import auto_chunk, fast_backward, fast_forward
from lstm_ref.params import LSTMParams

F64_TOL = 1e-10  # fast path against the plain path, float64 (the bar)
F32_TOL = 2e-5  # against nn.LSTM (oneDNN/cuDNN sum in another order), float32
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none on this machine")


def _problem(T, N, D, H, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g, dtype=dtype)).to(device)

    params = LSTMParams(randn(4 * H, D, scale=0.5), randn(4 * H, H, scale=0.5), randn(4 * H))
    return randn(T, N, D), params, randn(N, H), randn(N, H), randn(T, N, H), randn(N, H), randn(N, H)


def _max_diff(a, b) -> float:
    return (a - b).abs().max().item()


# T = 1, a T that is a multiple of the block size, one that is not, N = 1, D != H
SIZES = [(1, 2, 3, 4), (16, 3, 4, 5), (37, 1, 2, 6), (70, 4, 3, 2)]


@pytest.mark.parametrize("T,N,D,H", SIZES)
@pytest.mark.parametrize("chunk", [None, 1, 4])
def test_fast_forward_backward_match_plain_float64(T, N, D, H, chunk):
    x, params, h0, c0, dhs, dh_T, dc_T = _problem(T, N, D, H)
    hs, (h_T, c_T), cache = tl.lstm_forward(x, params, h0, c0)
    dx, dh0, dc0, grads = tl.lstm_backward(dhs, cache, dh_T, dc_T)

    saved = fast_forward(x, h0, c0, *params)
    fast_hs, gates, ms, rs = saved
    assert _max_diff(fast_hs, hs) <= F64_TOL
    assert _max_diff(ms, -2 * cache.cs) <= F64_TOL  # m_t = -2 c_t
    assert _max_diff(1 - 2 * rs, cache.tanh_cs) <= F64_TOL  # tanh c_t = 1 - 2 σ(-2 c_t)
    fast = fast_backward(dhs, dh_T, dc_T, x, h0, c0, params.W_ih, params.W_hh, saved, chunk=chunk)
    for name, got, want in zip(("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"), fast, (dx, dh0, dc0, *grads)):
        assert got.shape == want.shape, name
        assert _max_diff(got, want) <= F64_TOL * max(1.0, want.abs().max().item()), name


def test_fast_backward_without_upstream_gradients():
    """dhs, dh_T, dc_T None (zero): every gradient is zero, as in the plain path."""
    x, params, h0, c0, *_ = _problem(9, 2, 3, 4)
    saved = fast_forward(x, h0, c0, *params)
    _, _, cache = tl.lstm_forward(x, params, h0, c0)
    want = tl.lstm_backward(None, cache)
    got = fast_backward(None, None, None, x, h0, c0, params.W_ih, params.W_hh, saved, chunk=4)
    for g, w in zip(got, (want[0], want[1], want[2], *want[3])):
        assert _max_diff(g, w) == 0.0


def test_only_final_state_gradient():
    """dL/dh_T alone (dhs None) reaches dx at every step, as BPTT through the chain must."""
    x, params, h0, c0, _, dh_T, _ = _problem(12, 2, 3, 4)
    saved = fast_forward(x, h0, c0, *params)
    _, _, cache = tl.lstm_forward(x, params, h0, c0)
    want = tl.lstm_backward(None, cache, dh_T, None)
    got = fast_backward(None, dh_T, None, x, h0, c0, params.W_ih, params.W_hh, saved, chunk=5)
    assert got[0][0].abs().max() > 0  # the first step's input does get a gradient
    for g, w in zip(got, (want[0], want[1], want[2], *want[3])):
        assert _max_diff(g, w) <= F64_TOL


def test_auto_chunk_bounds():
    assert auto_chunk(1, 1) == 64
    assert auto_chunk(256, 1024) == 1
    assert auto_chunk(32, 128) == 8


def test_lstm_function_gradcheck():
    """torch.autograd.gradcheck: the hand-written backward against finite differences."""
    x, params, h0, c0, *_ = _problem(5, 2, 3, 4)
    inputs = [t.clone().requires_grad_() for t in (x, h0, c0, *params)]
    assert torch.autograd.gradcheck(tl.LSTMFunction.apply, inputs, eps=1e-6, atol=1e-7)


def _projected_problem(T, N, D, H, P, seed=3, device="cpu"):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return (0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)).to(device)

    x, h0, c0 = randn(T, N, D), randn(N, P), randn(N, H)
    weights = randn(4 * H, D), randn(4 * H, P), randn(4 * H), randn(P, H)
    return x, h0, c0, weights, randn(T, N, P), randn(N, P), randn(N, H)


@pytest.mark.parametrize("T,N,D,H,P,chunk", [(1, 2, 3, 4, 2, None), (13, 3, 2, 5, 3, 4), (9, 1, 3, 4, 1, 1)])
def test_fast_path_with_projection_matches_autograd(T, N, D, H, P, chunk, device="cpu"):
    """nn.LSTM's proj_size (h_t = W_hr (o_t ⊙ tanh c_t)): the fast path against torch autograd
    differentiating the plain loop of ``sequence_autograd``, float64."""
    x, h0, c0, weights, dhs, dh_T, dc_T = _projected_problem(T, N, D, H, P, device=device)
    leaves = [t.clone().requires_grad_() for t in (x, h0, c0, *weights)]
    hs, h_T, c_T = tl.sequence_autograd(*leaves)
    want = torch.autograd.grad((hs, h_T, c_T), leaves, (dhs, dh_T, dc_T))
    W_ih, W_hh, b, W_hr = weights
    saved = fast_forward(x, h0, c0, W_ih, W_hh, b, W_hr)
    assert _max_diff(saved[0], hs) <= F64_TOL and saved[0].shape == (T, N, P)
    got = fast_backward(dhs, dh_T, dc_T, x, h0, c0, W_ih, W_hh, saved, chunk=chunk, W_hr=W_hr)
    for name, g, w in zip(("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db", "dW_hr"), got, want):
        assert g.shape == w.shape, name
        assert _max_diff(g, w) <= F64_TOL, name


def test_lstm_function_gradcheck_with_projection_and_lengths():
    """Rows of different lengths (final states at each row's own last step) and a projection:
    first and second derivatives, batched gradients included."""
    from torch.testing._internal.common_utils import gradcheck, gradgradcheck

    x, h0, c0, weights, *_ = _projected_problem(5, 3, 2, 4, 2)
    lengths = torch.tensor([5, 2, 4])
    inputs = [t.clone().requires_grad_() for t in (x, h0, c0, *weights)]

    def f(*args):
        return tl.LSTMFunction.apply(*args, lengths)

    hs, h_n, c_n = f(*inputs)
    _, want_h, want_c = tl.sequence_autograd(*inputs, lengths)
    assert _max_diff(h_n[1], hs[1, 1]) == 0.0  # row 1 ends at step 2
    assert _max_diff(h_n, want_h) <= F64_TOL and _max_diff(c_n, want_c) <= F64_TOL
    assert gradcheck(f, inputs) and gradgradcheck(f, inputs)


def test_step_loops_run_on_one_thread_only_while_a_step_is_small():
    from lstm_ref import _fast_torch

    torch.set_num_threads(2)  # the autouse fixture of conftest.py restores the count
    cpu = torch.device("cpu")
    small = (32, 128, 128)  # N, H, P: 2^21 multiply-adds per step
    with _fast_torch.step_threads(*small, cpu):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with _fast_torch.step_threads(64, 256, 256, cpu):  # 2^24: shared
        assert torch.get_num_threads() == 2
    with _fast_torch.step_threads(*small, torch.device("meta")):  # not a CPU loop
        assert torch.get_num_threads() == 2
    with pytest.raises(KeyError):
        with _fast_torch.step_threads(*small, cpu):
            raise KeyError
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("N,H,threads", [(4, 8, 1), (64, 256, 2)])
def test_fast_passes_run_on_one_thread_when_small(monkeypatch, N, H, threads):
    """The whole forward and backward pass (loop and products) of a small layer: one thread."""
    from lstm_ref import _fast_torch

    torch.set_num_threads(2)
    seen, scale = [], _fast_torch._scale_candidate_rows
    monkeypatch.setattr(_fast_torch, "_scale_candidate_rows", lambda W, H: (seen.append(torch.get_num_threads()), scale(W, H))[1])
    local = _fast_torch._local_derivatives
    monkeypatch.setattr(_fast_torch, "_local_derivatives", lambda *a: (seen.append(torch.get_num_threads()), local(*a))[1])
    x, params, h0, c0, dhs, *_ = _problem(3, N, 5, H, dtype=torch.float32)
    saved = fast_forward(x, h0, c0, *params)
    fast_backward(dhs, None, None, x, h0, c0, params.W_ih, params.W_hh, saved)
    assert seen and set(seen) == {threads}
    assert torch.get_num_threads() == 2


def test_batch_of_size_zero_in_the_fast_path():
    x, params, h0, c0, dhs, *_ = _problem(4, 0, 3, 5)
    saved = fast_forward(x, h0, c0, *params)
    dx, dh0, dc0, dW_ih, dW_hh, db, dW_hr = fast_backward(dhs, None, None, x, h0, c0, params.W_ih, params.W_hh, saved)
    assert dx.shape == (4, 0, 3) and dh0.shape == (0, 5) and dW_hr is None
    assert dW_ih.abs().max() == dW_hh.abs().max() == db.abs().max() == 0.0


def _pair(D, H, dtype, device="cpu", **kw):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H, dtype=dtype, device=device, **kw)
    ours = tl.LSTM(D, H, dtype=dtype, device=device, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _run(module, x, state, dout):
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    state = None if state is None else tuple(s.clone().requires_grad_() for s in state)
    out, (h_n, c_n) = module(x, state)
    (out * dout).sum().backward() if dout is not None else None
    (h_n.sum() + 2 * c_n.sum()).backward() if dout is None else None
    grads = [x.grad] + ([s.grad for s in state] if state else []) + [p.grad for p in module.parameters()]
    return [out, h_n, c_n], grads


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, F32_TOL)])
@pytest.mark.parametrize("kw", [{}, {"batch_first": True}, {"bias": False}])
@pytest.mark.parametrize("with_state", [False, True])
def test_module_matches_nn_lstm(dtype, tol, kw, with_state):
    T, N, D, H = 23, 3, 5, 7
    ref, ours = _pair(D, H, dtype, **kw)
    torch.manual_seed(1)
    shape = (N, T, D) if kw.get("batch_first") else (T, N, D)
    x = torch.randn(shape, dtype=dtype)
    state = (torch.randn(1, N, H, dtype=dtype), torch.randn(1, N, H, dtype=dtype)) if with_state else None
    dout = torch.randn(shape[:2] + (H,), dtype=dtype)
    want_out, want_grads = _run(ref, x, state, dout)
    got_out, got_grads = _run(ours, x, state, dout)
    for g, w in zip(got_out + got_grads, want_out + want_grads):
        assert g.shape == w.shape
        assert _max_diff(g, w) <= tol * max(1.0, w.abs().max().item())


def test_module_final_states_only_and_unbatched():
    """Loss on (h_n, c_n) only, and an unbatched (T, D) input."""
    ref, ours = _pair(4, 6, torch.float64)
    x = torch.randn(11, 2, 4, dtype=torch.float64)
    for g, w in zip(*(sum(_run(m, x, None, None), []) for m in (ours, ref))):
        assert _max_diff(g, w) <= 1e-12
    xu = torch.randn(11, 4, dtype=torch.float64)
    (o1, (h1, c1)), (o2, (h2, c2)) = ours(xu), ref(xu)
    assert o1.shape == (11, 6) and h1.shape == h2.shape == (1, 6)
    assert max(_max_diff(o1, o2), _max_diff(h1, h2), _max_diff(c1, c2)) <= 1e-12


def test_backward_twice_with_retain_graph():
    """The saved tensors are not overwritten by backward: a second backward gives the same grads."""
    _, ours = _pair(3, 4, torch.float64)
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    out, _ = ours(x)
    out.sum().backward(retain_graph=True)
    first = [p.grad.clone() for p in ours.parameters()] + [x.grad.clone()]
    out.sum().backward()
    second = [p.grad for p in ours.parameters()] + [x.grad]
    for a, b in zip(first, second):
        assert _max_diff(2 * a, b) <= 1e-12


def test_input_without_grad_still_gives_weight_grads():
    ref, ours = _pair(3, 4, torch.float64)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    for m in (ref, ours):
        m(x)[0].pow(2).sum().backward()
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert _max_diff(p.grad, q.grad) <= 1e-12


def test_lstm_function_rejects_bad_shapes():
    x, params, h0, c0, *_ = _problem(4, 2, 3, 5)
    with pytest.raises(ValueError, match="h0"):
        tl.LSTMFunction.apply(x, h0[:, :4], c0, *params)
    with pytest.raises(ValueError, match="W_hh"):
        tl.LSTMFunction.apply(x, h0, c0, params.W_ih, params.W_hh[:, :4], params.b)


@CUDA
@pytest.mark.cuda
def test_fast_path_on_cuda_matches_plain_and_cudnn():
    x, params, h0, c0, dhs, dh_T, dc_T = _problem(40, 3, 4, 5, device="cuda")
    hs, _, cache = tl.lstm_forward(x, params, h0, c0)
    want = tl.lstm_backward(dhs, cache, dh_T, dc_T)
    saved = fast_forward(x, h0, c0, *params)
    got = fast_backward(dhs, dh_T, dc_T, x, h0, c0, params.W_ih, params.W_hh, saved)
    assert saved[0].device.type == "cuda" and got[0].device.type == "cuda"
    assert _max_diff(saved[0], hs) <= F64_TOL
    for g, w in zip(got, (want[0], want[1], want[2], *want[3])):
        assert _max_diff(g, w) <= F64_TOL
    ref, ours = _pair(4, 5, torch.float32, device="cuda")
    xf = torch.randn(40, 3, 4, device="cuda")
    dout = torch.randn(40, 3, 5, device="cuda")
    for g, w in zip(*(sum(_run(m, xf, None, dout), []) for m in (ours, ref))):
        assert _max_diff(g, w) <= 1e-4


# --- the benchmark program -------------------------------------------------------------------
def test_bench_cases_compute_the_same_gradients():
    """Every timed method solves the same problem: same weights, x and dL/dh, same dW_hh."""
    T, N, D, H = 6, 2, 3, 4
    ref, x, dhs = bench._inputs(T, N, D, H)
    out, _ = ref(x)
    out.backward(dhs)
    want = ref.weight_hh_l0.grad
    for method in bench.CPU_METHODS:
        case = bench.make_case(method, T, N, D, H)
        case.forward()
        result = case.forward_backward()
        if result is not None:  # numpy and torch plain return (dx, dh0, dc0, grads)
            got = torch.as_tensor(result[3].W_hh)
            assert _max_diff(got, want) <= F32_TOL, method


def test_bench_main_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = bench.main(["--sizes", "5,2,3,4", "7,1,2,3", "--repeats", "2", "--memory", "0", "--no-progress", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["timings"] == json.loads(json.dumps(results["timings"]))
    methods = (*bench.CPU_METHODS, *bench.extra_methods("cpu"))
    assert {(t["method"], t["T"]) for t in saved["timings"]} == {(m, T) for m in methods for T in (5, 7)}
    assert {(r["method"], r["T"]) for r in saved["numpy_between"]} == {(m, T) for m in ("torch fast", "nn.LSTM") for T in (5, 7)}
    for t in saved["timings"]:
        assert len(t["forward_all"]) == len(t["forward_backward_all"]) == 2
        assert t["forward_ms"] > 0 and t["forward_backward_ms"] > 0 and t["gflops_forward_backward"] > 0
        if t["method"] == bench.baseline_of(t["method"]):  # each extra row has its own baseline
            assert t["ratio_forward"] == t["ratio_forward_backward"] == 1.0
        else:
            assert t["ratio_forward"] > 0 and t["ratio_forward"] != 1.0
    assert saved["machine"]["torch"] == torch.__version__ and "command" in saved and saved["note"]
    table = capsys.readouterr().out
    assert "torch fast" in table and "x nn" in table


@pytest.mark.parametrize("row", list(bench.CONFIGS))
def test_bench_extra_configurations_solve_the_same_problem(row):
    """``torch fast <row>`` and ``nn.LSTM <row>``: the same weights, x and dL/dh, the same gradients."""
    T, N, D, H = 6, 2, 3, 4
    grads = []
    for method in (f"torch fast {row}", f"nn.LSTM {row}"):
        case = bench.make_case(method, T, N, D, H)
        case.forward_backward()
        grads.append([p.grad for p in case.module.parameters()])
    assert len(grads[0]) == len(grads[1]) > 4
    for g, w in zip(*grads):
        assert _max_diff(g, w) <= F32_TOL
    with pytest.raises(ValueError, match="'torch fast' and 'nn.LSTM' only"):
        bench.make_case(f"numpy {row}", T, N, D, H)


def test_bench_gru_row_solves_the_same_problem():
    """``torch GRU`` and ``nn.GRU``: the same weights, x and dL/dh, the same gradients; nn.GRU the baseline."""
    T, N, D, H = 6, 2, 3, 4
    grads = []
    for method in bench.GRU_METHODS:
        case = bench.make_case(method, T, N, D, H)
        case.forward_backward()
        grads.append([p.grad for p in case.module.parameters()])
        assert bench.baseline_of(method) == "nn.GRU"
    assert type(case.module) is torch.nn.GRU and len(grads[0]) == len(grads[1]) == 4
    for g, w in zip(*grads):
        assert _max_diff(g, w) <= F32_TOL
    assert bench.matmul_flops(T, N, D, H, gates=3)[0] == 2.0 * T * N * 3 * H * (D + H)


def test_bench_numpy_between_runs_numpy_before_each_timed_call(monkeypatch):
    case = bench.make_case("torch fast + NumPy between", 5, 2, 3, 4)
    dx, *_ = case.before()  # NumPy's lstm_forward + lstm_backward
    assert dx.shape == (5, 2, 3) and not isinstance(dx, torch.Tensor)
    calls, real = [], bench.make_case

    def recording(*args, **kwargs):
        c = real(*args, **kwargs)
        before = c.before
        c.before = lambda: (calls.append(1), before())
        return c

    monkeypatch.setattr(bench, "make_case", recording)
    bench.time_size((5, 2, 3, 4), [("torch fast + NumPy between", "cpu")], repeats=3)
    assert len(calls) == 2 * 3  # before the forward and before the forward + backward, every repeat


def test_bench_only_keeps_the_named_methods_and_their_baselines():
    results = bench.run([(5, 2, 3, 4)], repeats=1, progress=False, extras=True, only=["torch fast 2 layers bidir", "numpy"])
    assert {t["method"] for t in results["timings"]} == {"torch fast 2 layers bidir", "nn.LSTM 2 layers bidir", "numpy", "nn.LSTM"}


def test_bench_flops_of_the_extra_configurations():
    T, N, D, H = 5, 2, 3, 4
    one = 2.0 * T * N * 4 * H * (D + H)
    assert bench.matmul_flops(T, N, D, H) == (one, 3 * one)
    second_layer = 2.0 * T * N * 4 * H * (2 * H + H)  # input: both directions' H
    assert bench.matmul_flops(T, N, D, H, num_layers=2, bidirectional=True)[0] == 2 * one + 2 * second_layer
    P = 2
    projected = 2.0 * T * N * (4 * H * (D + P) + H * P)
    assert bench.matmul_flops(T, N, D, H, proj_size=P)[0] == projected


def test_bench_memory_grows_with_what_the_fast_path_keeps():
    """Peak memory (fresh subprocess) is at least the saved gates, c, tanh c, h, and not far above."""
    T, N, D, H = 600, 8, 16, 64
    m = bench.measure_memory("torch fast", (T, N, D, H))
    saved = T * N * 7 * H * 4  # float32 gates (4H) + m = -2c, r = σ(-2c), h (3H) per step
    assert saved <= m["peak_bytes"] <= 3 * saved + 8 * 2**20


def test_bench_default_out_keeps_the_books_file_for_full_runs():
    cpu = {"timings": [{"device": "cpu"}]}
    gpu = {"timings": [{"device": "cpu"}, {"device": "cuda"}]}
    assert bench.default_out(cpu, "full") == "results/bench_cpu.json"
    assert bench.default_out(cpu, "quick") == "results/bench_cpu_quick.json"
    assert bench.default_out(gpu, "default") == "results/bench_cuda_default.json"


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,1,1,1"])
def test_bench_rejects_bad_sizes(text):
    with pytest.raises(ValueError, match="T,N,D,H"):
        bench.parse_size(text)
    with pytest.raises(SystemExit):
        bench.main(["--sizes", text, "--no-progress"])
