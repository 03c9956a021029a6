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
