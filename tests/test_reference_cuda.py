"""The torch reference on CUDA: same numbers as on the CPU, outputs stay on the device, and
mixing devices is refused. Skipped, visibly (-ra shows the reason), without a CUDA device."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._pytree import tree_flatten

from lstm_ref import TOLERANCES, max_abs_error
from lstm_ref import torch_lstm as tl
from reference_helpers import random_problem

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


def _on(device, *arrays):
    return [torch.from_numpy(a).to(device) for a in arrays]


def test_forward_and_backward_on_cuda_match_cpu_float64():
    params, x, h0, c0 = random_problem(50, 4, 6, 8, seed=0)
    results = {}
    for device in ("cpu", "cuda"):
        p = params.to_tensors(device=device)
        x_d, h0_d, c0_d = _on(device, x, h0, c0)
        hs, (h_T, c_T), cache = tl.lstm_forward(x_d, p, h0_d, c0_d)
        dx, dh0, dc0, grads = tl.lstm_backward(torch.ones_like(hs), cache)
        outputs = [hs, h_T, c_T, dx, dh0, dc0, *grads]
        assert {t.device.type for t in outputs} == {device}
        results[device] = outputs
    for a, b in zip(results["cpu"], results["cuda"]):
        assert max_abs_error(a, b) <= 1e-12 * max(1.0, float(a.abs().max()))


DTYPES = [(torch.float64, TOLERANCES["torch_abs_float64"]), (torch.float32, 2e-5)]


def _check_drop_in_on_cuda(ref_cls, ours_cls, x_shape, dtype, tol):
    """``ours_cls(16, 32)`` on CUDA: outputs as ``ref_cls``'s (cuDNN's for nn.LSTM) to ``tol``, and
    the input's gradient of their sum to ``10 tol``. Returns the module and the input."""
    torch.manual_seed(0)
    ref = ref_cls(16, 32, device="cuda", dtype=dtype)
    ours = ours_cls(16, 32, device="cuda", dtype=dtype)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(*x_shape, 16, device="cuda", dtype=dtype, requires_grad=True)
    out_r, out_o = (tree_flatten(m(x))[0] for m in (ref, ours))
    assert {t.device.type for t in out_o} == {"cuda"}
    assert max(max_abs_error(r, o) for r, o in zip(out_r, out_o)) <= tol
    g_r, = torch.autograd.grad(sum(t.sum() for t in out_r), x)
    g_o, = torch.autograd.grad(sum(t.sum() for t in out_o), x)
    assert max_abs_error(g_r, g_o) <= 10 * tol
    return ours, x


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_drop_in_module_matches_cudnn(dtype, tol):
    _check_drop_in_on_cuda(torch.nn.LSTM, tl.LSTM, (100, 8), dtype, tol)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_drop_in_cell_matches_nn_lstmcell_on_cuda(dtype, tol):
    ours, x = _check_drop_in_on_cuda(torch.nn.LSTMCell, tl.LSTMCell, (8,), dtype, tol)
    with pytest.raises(RuntimeError, match="expected the same dtype and device"):
        ours(x.cpu())


def test_mixing_devices_is_refused():
    params, x, h0, _ = random_problem(3, 2, 3, 4)
    p = params.to_tensors(device="cuda")
    (x_cpu,) = _on("cpu", x)
    with pytest.raises(ValueError, match=r"x is on device cpu; expected cuda:0 \(the device of params.W_hh\)"):
        tl.lstm_forward(x_cpu, p)


def test_params_to_torch_on_cuda():
    params, x, _, _ = random_problem(4, 2, 3, 4)
    module = params.to_torch("lstm", device="cuda")
    out, _ = module(torch.from_numpy(x).cuda())
    hs, _, _ = tl.lstm_forward(torch.from_numpy(x).cuda(), params.to_tensors(device="cuda"))
    assert max_abs_error(out, hs) <= TOLERANCES["torch_abs_float64"]
    assert np.isfinite(out.detach().cpu().numpy()).all()


# --- the drop-ins on the GPU: the checks of test_dropin.py and test_dropin_gru.py, against cuDNN -------
import dropin_common as common  # noqa: E402  (its checks take a device)
import test_dropin  # noqa: E402
import test_dropin_gru  # noqa: E402

CELLS = {"lstm": test_dropin, "gru": test_dropin_gru}  # each test file's CELL, SAMPLES and CONFIGS
SAMPLE_CASES = [(name, k) for name, t in CELLS.items() for k in range(len(t.SAMPLES))]


@pytest.mark.parametrize("cell,k", SAMPLE_CASES, ids=[f"{n}-{CELLS[n].SAMPLE_IDS[k]}" for n, k in SAMPLE_CASES])
def test_pytorch_samples_on_cuda_match_cudnn(cell, k):
    t = CELLS[cell]
    common.check_sample_matches_reference(t.CELL, common.samples(t.CELL, device="cuda")[k], device="cuda")


@pytest.mark.parametrize("cell", CELLS)
def test_pytorch_error_inputs_on_cuda(cell):
    for error_input in common.error_inputs(CELLS[cell].CELL, device="cuda"):
        common.check_error_input(CELLS[cell].CELL, error_input)


CONFIG_CASES = [(name, kw) for name, t in CELLS.items() for kw in t.CONFIGS]


@pytest.mark.parametrize("cell,kw", CONFIG_CASES, ids=[f"{n}-{common.config_id(kw)}" for n, kw in CONFIG_CASES])
def test_configurations_on_cuda_match_cudnn(cell, kw):
    common.check_longer_sequences_and_state_dicts(CELLS[cell].CELL, kw, device="cuda")


PACKED_CASES = [(name, kw) for name, t in CELLS.items() for kw in t.CONFIGS[2:]]  # as on the CPU


@pytest.mark.parametrize("cell,kw", PACKED_CASES, ids=[f"{n}-{common.config_id(kw)}" for n, kw in PACKED_CASES])
def test_packed_sequences_on_cuda_match_cudnn(cell, kw):
    common.check_packed_sequences(CELLS[cell].CELL, kw, device="cuda")


@pytest.mark.parametrize("cell,kw", [("lstm", {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
                                     ("gru", {"num_layers": 2, "bidirectional": True})], ids=["lstm", "gru"])
def test_gradgradcheck_on_cuda(cell, kw):
    """cuDNN has no double backward; the drop-ins have, on the GPU too."""
    common.check_gradcheck_and_gradgradcheck(CELLS[cell].CELL, kw, device="cuda")


@pytest.mark.parametrize("cell", CELLS)
def test_cpu_and_cuda_give_the_same_numbers(cell):
    torch.manual_seed(0)
    ours = CELLS[cell].CELL.ours
    cpu = ours(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64)
    gpu = ours(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(9, 3, 4, dtype=torch.float64)
    want, want_grads, g_out = common.outputs_and_grads(cpu, (x.requires_grad_(),))
    got, got_grads, _ = common.outputs_and_grads(gpu, (x.detach().cuda().requires_grad_(),), [g.cuda() for g in g_out])
    flat = torch.utils._pytree.tree_flatten
    assert common.max_diff([t.cpu() for t in flat(got)[0]], flat(want)[0]) <= 1e-12
    assert common.max_diff([g.cpu() for g in got_grads], want_grads) <= 1e-12


@pytest.mark.parametrize("cell", CELLS)
def test_autocast_on_cuda_like_cudnn(cell):
    """cuDNN's RNN has an autocast rule for both cells: float16 out."""
    ref, ours = common.pair(CELLS[cell].CELL, 8, 16, num_layers=2, device="cuda", dtype=torch.float32)
    x = torch.randn(20, 4, 8, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        want, got = ref(x), ours(x)
    assert got[0].dtype == want[0].dtype == torch.float16
    assert common.max_diff(got, want) <= 1e-2
