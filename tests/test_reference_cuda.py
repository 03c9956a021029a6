"""The torch reference on CUDA: same numbers as on the CPU, outputs stay on the device, and
mixing devices is refused. Skipped, visibly (-ra shows the reason), without a CUDA device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

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


@pytest.mark.parametrize("dtype,tol", [(torch.float64, TOLERANCES["torch_abs_float64"]), (torch.float32, 2e-5)])
def test_drop_in_module_matches_cudnn(dtype, tol):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(16, 32, device="cuda", dtype=dtype)
    ours = tl.LSTM(16, 32, device="cuda", dtype=dtype)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(100, 8, 16, device="cuda", dtype=dtype, requires_grad=True)
    out_r, _ = ref(x)
    out_o, _ = ours(x)
    assert out_o.device.type == "cuda"
    assert max_abs_error(out_r, out_o) <= tol
    g_r, = torch.autograd.grad(out_r.sum(), x)
    g_o, = torch.autograd.grad(out_o.sum(), x)
    assert max_abs_error(g_r, g_o) <= 10 * tol


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


# --- the drop-in on the GPU: the checks of test_dropin.py, against cuDNN's nn.LSTM ---------------
import test_dropin as dropin  # noqa: E402  (its helpers take a device)


@pytest.mark.parametrize("sample", dropin.samples(), ids=dropin.SAMPLE_IDS)
def test_pytorch_samples_on_cuda_match_cudnn(sample):
    cuda_sample = dropin.samples(device="cuda")[dropin.SAMPLE_IDS.index(dropin.sample_id(sample))]
    dropin.check_sample_matches_nn_lstm(cuda_sample, device="cuda")


def test_pytorch_error_inputs_on_cuda():
    for error_input in dropin.error_inputs(device="cuda"):
        dropin.check_error_input(error_input)


@pytest.mark.parametrize("kw", dropin.CONFIGS, ids=dropin._config_id)
def test_configurations_on_cuda_match_cudnn(kw):
    dropin.test_longer_sequences_match_nn_lstm_and_state_dicts_move_both_ways(kw, device="cuda")


@pytest.mark.parametrize("kw", dropin.CONFIGS[2:], ids=dropin._config_id)
def test_packed_sequences_on_cuda_match_cudnn(kw):
    dropin.test_packed_sequences_match_nn_lstm(kw, device="cuda")


def test_gradgradcheck_on_cuda():
    """cuDNN has no double backward; the drop-in has, on the GPU too."""
    _, ours = dropin.pair(3, 4, num_layers=2, bidirectional=True, proj_size=2, device="cuda")
    x, hx = dropin._data(3, 2, 3, {"num_layers": 2, "bidirectional": True, "proj_size": 2}, device="cuda")
    assert dropin.gradcheck_module(ours, (x, hx))
    assert dropin.gradcheck_module(ours, (x, hx), dropin.gradgradcheck)


def test_cpu_and_cuda_give_the_same_numbers():
    torch.manual_seed(0)
    cpu = tl.LSTM(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64)
    gpu = tl.LSTM(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(9, 3, 4, dtype=torch.float64)
    want, want_grads, g_out = dropin.outputs_and_grads(cpu, (x.requires_grad_(),))
    got, got_grads, _ = dropin.outputs_and_grads(gpu, (x.detach().cuda().requires_grad_(),), [g.cuda() for g in g_out])
    assert dropin.max_diff([t.cpu() for t in torch.utils._pytree.tree_flatten(got)[0]], torch.utils._pytree.tree_flatten(want)[0]) <= 1e-12
    assert dropin.max_diff([g.cpu() for g in got_grads], want_grads) <= 1e-12


def test_autocast_on_cuda_like_cudnn():
    ref, ours = dropin.pair(8, 16, num_layers=2, device="cuda", dtype=torch.float32)
    x = torch.randn(20, 4, 8, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        want, got = ref(x), ours(x)
    assert got[0].dtype == want[0].dtype == torch.float16
    assert dropin.max_diff(got, want) <= 1e-2
