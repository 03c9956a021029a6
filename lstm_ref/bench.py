"""Benchmark the course's LSTMs against ``torch.nn.LSTM``: ``python -m lstm_ref.bench``.

For each size ``(T, N, D, H)`` it times the forward pass and forward + backward of

==================  ======================================================================
``numpy``           ``numpy_lstm.lstm_forward`` + ``lstm_backward`` (fused gates, hand BPTT)
``torch autograd``  ``torch_lstm.lstm_forward`` differentiated by torch autograd
``torch plain``     ``torch_lstm.lstm_forward`` + ``lstm_backward``, the readable hand BPTT
``torch fast``      ``torch_lstm.LSTM``, the fast path (``LSTMFunction``, ``_fast_torch``)
``nn.LSTM``         ``torch.nn.LSTM``: oneDNN's fused RNN on CPU, cuDNN on CUDA (the baseline)
``matmuls only``    the matrix products of ``torch fast`` and nothing else: its floor
==================  ======================================================================

and, on a machine with CUDA, the torch methods again on the GPU (baseline: cuDNN). Extra
rows (``--extras``, on by default except for ``--full``) time ``torch fast`` against
``nn.LSTM`` again, each pair on its own: ``+ NumPy between``, with NumPy's forward +
backward run (untimed) before every timed call, as in a notebook that uses both, so that
the two libraries' thread pools meet; ``2 layers bidir`` and ``proj_size H/2``, two more
``nn.LSTM`` configurations; and ``torch GRU``, the GRU drop-in ``torch_gru.GRU`` (every
layer and direction a ``GRUFunction``, the readable hand-written BPTT: there is no GRU fast
path), against ``nn.GRU``, one layer. All
methods of one size run interleaved, repeat after repeat, so that a change in the machine's
load hits them alike: the *ratio to nn.LSTM in the same run* is the figure to compare; the
absolute times vary with load. Each repeat is one call; the table reports medians.

FLOP/s count the matrix products only (forward ``2·T·N·4H·(D+H)``, backward twice that),
against the machine's matrix-multiply peak: the best of a square ``mm`` probe timed once
per repeat, interleaved with the methods.

Peak memory of forward + backward (``--memory T``) is measured per method in a fresh
subprocess: on the CPU the rise of the resident-set high-water mark over one call (Linux
``/proc``; sees torch, oneDNN and NumPy alike), on CUDA ``torch.cuda.max_memory_allocated``.
See :func:`measure_memory_here`.

Presets: ``--quick`` (seconds), the default (the two target sizes), ``--full`` (sweeps over
T, N and H; minutes). ``--sizes T,N,D,H [T,N,D,H ...]`` replaces the preset's sizes.
Results go to a table on stdout and a JSON file: ``results/bench_cpu.json`` for ``--full``
(the file the book's chapter "Making it fast" reads), ``results/bench_cpu_<preset>.json``
otherwise (``cuda`` for ``cpu`` when the GPU paths ran), or ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import numpy_lstm as nl
from . import torch_gru as tg
from . import torch_lstm as tl
from .params import LSTMParams

BASELINE = "nn.LSTM"
PRODUCTS = "matmuls only"
CPU_METHODS = ("numpy", "torch autograd", "torch plain", "torch fast", BASELINE, PRODUCTS)
GPU_METHODS = ("torch autograd", "torch plain", "torch fast", BASELINE, PRODUCTS)
#: Extra rows, in pairs ``torch fast <row>`` / ``nn.LSTM <row>`` (each pair's own baseline):
#: NumPy's forward + backward run (untimed) before every timed call, as in a notebook that
#: mixes them, and two ``nn.LSTM`` configurations beyond one layer.
NUMPY_BETWEEN = "+ NumPy between"
CONFIGS = {
    "2 layers bidir": lambda H: {"num_layers": 2, "bidirectional": True},
    "proj_size H/2": lambda H: {"proj_size": H // 2},
}
EXTRA_ROWS = (NUMPY_BETWEEN, *CONFIGS)
#: The GRU drop-in and its baseline, one layer: an extra pair with its own names.
GRU_OURS, GRU_BASELINE = "torch GRU", "nn.GRU"
GRU_METHODS = (GRU_OURS, GRU_BASELINE)
TARGET_SIZES = [(100, 32, 64, 128), (200, 64, 128, 256)]
PRESETS = {
    "quick": {"sizes": [(10, 8, 16, 32), (100, 32, 64, 128)], "repeats": 5, "memory_T": None},
    "default": {"sizes": TARGET_SIZES, "repeats": 15, "memory_T": 1000},
    "full": {
        "sizes": sorted(
            {(T, 32, 64, 128) for T in (10, 30, 100, 300, 1000)}
            | {(100, N, 64, 128) for N in (1, 4, 16, 64, 256)}
            | {(100, 32, 64, H) for H in (32, 64, 256, 512, 1024)}
            | set(TARGET_SIZES)
        ),
        "repeats": 9,
        "memory_T": 1000,
    },
}
NOTE = (
    "Times vary with the machine's load; the ratios to nn.LSTM, measured interleaved in the "
    "same run, are the figures to compare."
)


# --- one method at one size -----------------------------------------------------------------
@dataclass
class Case:
    """The two timed calls of one method at one size."""

    forward: Callable[[], object]
    forward_backward: Callable[[], object]
    sync: Callable[[], None] = lambda: None  # waits for the GPU, so a timing covers its work
    before: Callable[[], object] = lambda: None  # untimed work before each timed call
    module: object = None  # the nn.Module timed, if the method is one


def split_method(method: str) -> tuple[str, str]:
    """``"torch fast + NumPy between"`` -> ``("torch fast", "+ NumPy between")``; ``(method, "")`` for a core one."""
    for row in EXTRA_ROWS:
        if method.endswith(" " + row):
            return method[: -len(row) - 1], row
    return method, ""


def extra_methods(device: str = "cpu") -> list[str]:
    """The extra rows' methods: ``torch fast`` and ``nn.LSTM`` for each (no NumPy on a GPU),
    then the GRU pair."""
    rows = EXTRA_ROWS if device == "cpu" else tuple(CONFIGS)
    return [f"{m} {row}" for row in rows for m in ("torch fast", BASELINE)] + list(GRU_METHODS)


def baseline_of(method: str) -> str:
    """The method a row is compared with: ``nn.LSTM`` with the same extra row (``nn.GRU`` for the GRU's)."""
    if method in GRU_METHODS:
        return GRU_BASELINE
    row = split_method(method)[1]
    return f"{BASELINE} {row}" if row else BASELINE


def _inputs(T: int, N: int, D: int, H: int, seed: int = 0, **config):
    """Seeded weights (``nn.LSTM(D, H, **config)``'s initialisation), input ``x (T, N, D)`` and
    ``dL/dh (T, N, K·P)`` (K = 2 if bidirectional, P = proj_size or H)."""
    torch.manual_seed(seed)
    ref = torch.nn.LSTM(D, H, **config)
    x = torch.randn(T, N, D)
    dhs = torch.randn(T, N, (2 if ref.bidirectional else 1) * (ref.proj_size or H))
    return ref, x, dhs


def make_case(method: str, T: int, N: int, D: int, H: int, device: str = "cpu", seed: int = 0) -> Case:
    """Build ``method``'s forward and forward + backward calls on seeded float32 inputs.

    Every method gets the same weights, ``x`` and upstream gradient ``dL/dh_t`` (random, so
    no method can shortcut a constant), and computes dx, dh0, dc0 and all weight gradients.
    """
    core, row = split_method(method)
    if core in GRU_METHODS:
        return _gru_case(core, T, N, D, H, device, seed)
    if row == NUMPY_BETWEEN:
        case = make_case(core, T, N, D, H, device, seed)
        case.before = make_case("numpy", T, N, D, H, "cpu", seed).forward_backward
        return case
    config = CONFIGS[row](H) if row else {}
    if config and core not in ("torch fast", BASELINE):
        raise ValueError(f"row {row!r} is timed for 'torch fast' and {BASELINE!r} only, got {core!r}")
    method = core
    ref, x, dhs = _inputs(T, N, D, H, seed, **config)
    if method == "numpy":
        if device != "cpu":
            raise ValueError(f"method 'numpy' runs on the CPU only, got device={device!r}")
        params = LSTMParams.from_torch(ref)
        xn, dhn = x.numpy(), dhs.numpy()

        def np_fb():
            hs, _, cache = nl.lstm_forward(xn, params)
            return nl.lstm_backward(dhn, cache)

        return Case(lambda: nl.lstm_forward(xn, params), np_fb)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    x, dhs = x.to(device), dhs.to(device)
    if method in (BASELINE, "torch fast"):
        module = ref.to(device) if method == BASELINE else tl.LSTM(D, H, device=device, **config)
        if method == "torch fast":
            module.load_state_dict(ref.state_dict())
        return _module_case(module, x, dhs, sync)
    params = LSTMParams.from_torch(ref, as_tensors=True).map(lambda t: t.detach().to(device))
    if method == PRODUCTS:
        return _products_case(x, dhs, params, sync)
    if method == "torch plain":

        @torch.no_grad()
        def plain_fb():
            hs, _, cache = tl.lstm_forward(x, params)
            return tl.lstm_backward(dhs, cache)

        return Case(torch.no_grad()(lambda: tl.lstm_forward(x, params)), plain_fb, sync)
    if method == "torch autograd":
        leaves = params.map(lambda t: t.clone().requires_grad_())
        xg = x.clone().requires_grad_()

        def autograd_fb():
            for t in (xg, *leaves):
                t.grad = None
            hs, _, _ = tl.lstm_forward(xg, leaves)
            hs.backward(dhs)

        return Case(torch.no_grad()(lambda: tl.lstm_forward(x, params)), autograd_fb, sync)
    raise ValueError(f"unknown method {method!r}; expected one of {CPU_METHODS}")


def _module_case(module, x, dhs, sync) -> Case:
    """An ``nn.Module``'s forward (no graph) and forward + backward (dx and every weight's gradient)."""
    xg = x.clone().requires_grad_()

    def module_fb():
        module.zero_grad(set_to_none=True)
        xg.grad = None
        out, _ = module(xg)
        out.backward(dhs)

    return Case(torch.no_grad()(lambda: module(x)), module_fb, sync, module=module)


def _gru_case(method: str, T: int, N: int, D: int, H: int, device: str = "cpu", seed: int = 0) -> Case:
    """``torch GRU`` (``torch_gru.GRU``) or ``nn.GRU``, one layer: seeded ``nn.GRU(D, H)``
    weights, ``x (T, N, D)`` and ``dL/dh (T, N, H)``, the same for both."""
    torch.manual_seed(seed)
    ref = torch.nn.GRU(D, H)
    x, dhs = torch.randn(T, N, D).to(device), torch.randn(T, N, H).to(device)
    module = ref.to(device) if method == GRU_BASELINE else tg.GRU(D, H, device=device)
    module.load_state_dict(ref.state_dict())
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return _module_case(module, x, dhs, sync)


def _products_case(x, dhs, params: LSTMParams, sync) -> Case:
    """The matrix products of the fast path (``_fast_torch``), same shapes and calls, and no
    elementwise work: how fast ``torch fast`` could be if its gates cost nothing."""
    T, N, D = x.shape
    H = params.hidden_size
    W_ih, W_hh, b = params
    n = nl.auto_chunk(N, H)
    a, da = x.new_empty((T, N, 4 * H)), 0.01 * torch.randn((T, N, 4 * H), dtype=x.dtype, device=x.device)
    dx, dh, dW = x.new_empty((T, N, D)), x.new_empty((N, H)), x.new_zeros((4 * H, D + H + 1))
    xh = torch.cat([x, torch.cat([x.new_zeros((1, N, H)), dhs[:-1]]), x.new_ones((T, N, 1))], 2)

    def forward():
        torch.addmm(b, x.reshape(T * N, D), W_ih.t(), out=a.view(T * N, 4 * H))
        for t in range(T):
            a[t].addmm_(dhs[t], W_hh.t())

    def forward_backward():
        forward()
        for start in range((T - 1) // n * n, -1, -n):
            for t in reversed(range(start, min(start + n, T))):
                torch.addmm(dhs[t], da[t], W_hh, out=dh)
            block = slice(start, start + n)
            torch.mm(da[block].reshape(-1, 4 * H), W_ih, out=dx[block].view(-1, D))
            dW.addmm_(da[block].reshape(-1, 4 * H).t(), xh[block].reshape(-1, D + H + 1))

    return Case(forward, forward_backward, sync)


def matmul_flops(
    T: int, N: int, D: int, H: int, num_layers: int = 1, bidirectional: bool = False, proj_size: int = 0,
    gates: int = 4,
) -> tuple[float, float]:
    """Matrix-product FLOPs of (forward, forward + backward) (eq:perf-flops): ``2·T·N·4H·(D+H)``, 3× that.

    Backward has twice the forward's products: dx and dW_ih from W_ih's, dh and dW_hh from
    W_hh's. Elementwise work is not counted. For ``nn.LSTM``'s other configurations: the sum
    over layers and directions, layer l > 0 with ``K·P`` inputs, ``W_hh`` acting on ``P``
    features and the projection's ``2·T·N·H·P`` (K = 2 if bidirectional, P = proj_size or H).
    ``gates=3`` counts a GRU's (``W_ih (3H, D)``, ``W_hh (3H, H)``).
    """
    K, P = (2 if bidirectional else 1), proj_size or H
    forward = 0.0
    for layer in range(num_layers):
        D_l = D if layer == 0 else K * P
        forward += K * 2.0 * T * N * (gates * H * (D_l + P) + (H * P if proj_size else 0))
    return forward, 3.0 * forward


def matmul_gflops(device: str = "cpu", n: int = 512) -> float:
    """GFLOP/s of one square float32 ``mm`` of size n (after a warm-up): a probe of the peak.

    The benchmark runs it once per repeat, interleaved with the methods, and takes the best
    as the machine's practical matrix-multiply peak in that run.
    """
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.mm(a, b)
    return 2.0 * n**3 / (_time_call(lambda: torch.mm(a, b), sync) * 1e-3) / 1e9


# --- the matrix products alone, three ways (the chapter's first two optimisations) -------------
def products_ablation(T: int = 100, N: int = 32, D: int = 64, H: int = 128, repeats: int = 7) -> dict[str, float]:
    """Median ms of the matrix products of one forward pass, arranged three ways (torch, CPU).

    ``per gate``: the seed texts' form, ``W_gate · [h_{t-1}, x_t]`` for each of the four
    gates at every step; ``fused``: ``W_ih x_t + W_hh h_{t-1} + b`` with the gates stacked
    (two products a step); ``fused, hoisted``: ``W_ih x_t + b`` for all steps in one product,
    then ``W_hh h_{t-1}`` added in place at every step. Same numbers, same FLOPs
    (eq:perf-flops); only the arrangement differs. Interleaved repeats.
    """
    torch.manual_seed(0)
    x, h = torch.randn(T, N, D), torch.randn(N, H)
    W_ih, W_hh, b = torch.randn(4 * H, D), torch.randn(4 * H, H), torch.randn(4 * H)
    per_gate = [(torch.cat([W_hh[k * H : (k + 1) * H], W_ih[k * H : (k + 1) * H]], 1), b[k * H : (k + 1) * H]) for k in range(4)]

    def gates_separately():
        for t in range(T):
            hx = torch.cat([h, x[t]], 1)  # (N, H + D): [h_{t-1}, x_t]
            [torch.addmm(b_k, hx, W_k.t()) for W_k, b_k in per_gate]

    def fused():
        for t in range(T):
            x[t] @ W_ih.t() + h @ W_hh.t() + b

    def fused_hoisted():
        a = torch.addmm(b, x.reshape(T * N, D), W_ih.t()).view(T, N, 4 * H)
        for t in range(T):
            a[t].addmm_(h, W_hh.t())

    calls = {"per gate": gates_separately, "fused": fused, "fused, hoisted": fused_hoisted}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for fn in calls.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in calls.items():
            times[name].append(_time_call(fn, lambda: None))
    return {name: statistics.median(v) for name, v in times.items()}


# --- timing: interleaved repeats, medians -----------------------------------------------------
@dataclass
class Timing:
    """Medians (ms) of one method at one size, and every repeat."""

    method: str
    device: str
    T: int
    N: int
    D: int
    H: int
    forward_ms: float = float("nan")
    forward_backward_ms: float = float("nan")
    forward_all: list[float] = field(default_factory=list)
    forward_backward_all: list[float] = field(default_factory=list)
    ratio_forward: float = float("nan")  # to the baseline on the same device, same run
    ratio_forward_backward: float = float("nan")
    gflops_forward_backward: float = float("nan")
    peak_fraction: float = float("nan")


def _time_call(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - t0) * 1e3


def time_size(size, methods, repeats: int, bar=None, probes: dict | None = None) -> list[Timing]:
    """Time every ``(method, device)`` of ``methods`` at ``size``, interleaved over ``repeats``.

    With ``probes`` (a dict device -> list), each repeat also appends a
    :func:`matmul_gflops` probe for every device used.
    """
    T, N, D, H = size
    cases = {m: make_case(m[0], T, N, D, H, device=m[1]) for m in methods}
    timings = {m: Timing(m[0], m[1], T, N, D, H) for m in methods}
    for case in cases.values():  # warm-up: first-call allocations, oneDNN primitive creation
        case.forward_backward()
        case.forward()
    order = list(methods)
    for _ in range(repeats):
        for m in order:
            cases[m].before()
            timings[m].forward_all.append(_time_call(cases[m].forward, cases[m].sync))
            cases[m].before()
            timings[m].forward_backward_all.append(_time_call(cases[m].forward_backward, cases[m].sync))
        order = order[1:] + order[:1]  # rotate, so no method always runs right after another
        for device in {m[1] for m in methods} if probes is not None else ():
            probes.setdefault(device, []).append(matmul_gflops(device))
        if bar is not None:
            bar.update(1)
    for t in timings.values():
        t.forward_ms = statistics.median(t.forward_all)
        t.forward_backward_ms = statistics.median(t.forward_backward_all)
    return list(timings.values())


def add_ratios(timings: list[Timing], peaks: dict[str, float]) -> None:
    """Ratios to the baseline of the same size and device (:func:`baseline_of`), achieved
    GFLOP/s, fraction of ``peaks`` (GFLOP/s)."""
    by_key = {(t.method, t.device, t.T, t.N, t.D, t.H): t for t in timings}
    for t in timings:
        b = by_key.get((baseline_of(t.method), t.device, t.T, t.N, t.D, t.H))
        if b is not None:
            t.ratio_forward = t.forward_ms / b.forward_ms
            t.ratio_forward_backward = t.forward_backward_ms / b.forward_backward_ms
        row = split_method(t.method)[1]
        config = CONFIGS[row](t.H) if row in CONFIGS else {"gates": 3} if t.method in GRU_METHODS else {}
        flops = matmul_flops(t.T, t.N, t.D, t.H, **config)[1]
        t.gflops_forward_backward = flops / (t.forward_backward_ms * 1e-3) / 1e9
        t.peak_fraction = t.gflops_forward_backward / peaks[t.device]


# --- peak memory, each method in a fresh subprocess -------------------------------------------
def _rss_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (high-water mark) of this process, from /proc (Linux)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def measure_memory_here(method: str, T: int, N: int, D: int, H: int, device: str = "cpu") -> dict:
    """Peak memory of one forward + backward of ``method``, above what was resident before it.

    CPU (Linux): after a warm-up call, the resident-set high-water mark is reset (``echo 5 >
    /proc/self/clear_refs``), then ``VmHWM - VmRSS`` over one call is its peak working memory:
    everything the call allocated and touched, torch, oneDNN and NumPy alike. Run it in a
    fresh process with ``MALLOC_MMAP_THRESHOLD_`` set (as :func:`measure_memory` does), so
    freed buffers go back to the system instead of staying resident. CUDA:
    ``torch.cuda.max_memory_allocated`` above the memory allocated before the call.
    """
    case = make_case(method, T, N, D, H, device=device)
    case.forward_backward()  # warm-up: oneDNN primitives, thread pools, cuDNN workspaces
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        case.forward_backward()
        torch.cuda.synchronize()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - before, "how": "torch.cuda.max_memory_allocated"}
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current VmRSS
    before = _rss_kib("VmRSS")
    case.forward_backward()
    return {"peak_bytes": (_rss_kib("VmHWM") - before) * 1024, "how": "VmHWM - VmRSS, /proc/self/status"}


def measure_memory(method: str, size, device: str = "cpu") -> dict:
    """:func:`measure_memory_here` in a fresh Python process, so earlier runs leave no trace."""
    T, N, D, H = size
    code = (
        "import json, sys; from lstm_ref.bench import measure_memory_here; "
        f"print(json.dumps(measure_memory_here({method!r}, {T}, {N}, {D}, {H}, {device!r})))"
    )
    # glibc: serve every buffer above 64 KiB by mmap, so that a free returns it to the system
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return {"method": method, "device": device, "T": T, "N": N, "D": D, "H": H, **json.loads(out.stdout.splitlines()[-1])}


# --- machine description, table, main -----------------------------------------------------------
def machine_info() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = os.getloadavg()
    return info


def format_table(timings: list[Timing]) -> str:
    """Plain-text table: one row per size and method, ratios to nn.LSTM on the same device."""
    head = f"{'T':>5} {'N':>4} {'D':>4} {'H':>5}  {'method':<29} {'dev':<4} {'fwd ms':>9} {'x nn':>6} {'fwd+bwd ms':>11} {'x nn':>6} {'GFLOP/s':>8} {'%peak':>6}"
    rows = [head, "-" * len(head)]
    for t in timings:
        rows.append(
            f"{t.T:>5} {t.N:>4} {t.D:>4} {t.H:>5}  {t.method:<29} {t.device[:4]:<4} {t.forward_ms:>9.2f} "
            f"{t.ratio_forward:>6.2f} {t.forward_backward_ms:>11.2f} {t.ratio_forward_backward:>6.2f} "
            f"{t.gflops_forward_backward:>8.1f} {100 * t.peak_fraction:>5.0f}%"
        )
    return "\n".join(rows)


def parse_size(text: str) -> tuple[int, int, int, int]:
    """``"100,32,64,128"`` -> ``(T, N, D, H)``; ValueError with the expected form otherwise."""
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 4 or min(size) < 1:
        raise ValueError(f"size {text!r} is not T,N,D,H with four positive integers, e.g. 100,32,64,128")
    return size  # type: ignore[return-value]


def run(
    sizes, repeats: int, device: str = "auto", memory_T: int | None = None, progress: bool = True,
    threads: int | None = None, extras: bool = False, only: list[str] | None = None,
) -> dict:
    """Run the benchmark; returns the JSON-ready results (see :func:`main` for the CLI).

    ``threads`` sets torch's thread count (None: leave it, torch's default is one per core);
    NumPy's BLAS gets the same count. ``extras`` adds the rows of :data:`EXTRA_ROWS`;
    ``only`` keeps the methods named (their ``nn.LSTM`` baselines are always timed).
    """
    from threadpoolctl import threadpool_limits

    if threads:
        torch.set_num_threads(threads)
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    methods = [(m, "cpu") for m in CPU_METHODS] + ([(m, "cuda") for m in GPU_METHODS] if use_cuda else [])
    if extras:
        methods += [(m, "cpu") for m in extra_methods("cpu")] + ([(m, "cuda") for m in extra_methods("cuda")] if use_cuda else [])
    if only:
        keep = set(only) | {baseline_of(m) for m in only}
        methods = [(m, dev) for m, dev in methods if m in keep]
    probes: dict[str, list[float]] = {}
    timings: list[Timing] = []
    with threadpool_limits(limits=torch.get_num_threads(), user_api="blas"):
        with tqdm(total=len(sizes) * repeats, desc="timing", unit="repeat", disable=not progress) as bar:
            for size in sizes:
                bar.set_postfix_str("T,N,D,H=" + ",".join(map(str, size)))
                timings += time_size(size, methods, repeats, bar, probes)
    peaks = {dev: max(v) for dev, v in probes.items()}  # the best the machine did in this run
    add_ratios(timings, peaks)
    memory = []
    if memory_T:
        T, N, D, H = memory_T, *TARGET_SIZES[0][1:]
        # the core methods; PRODUCTS is a floor of time, not of memory
        measured = [(m, dev) for m, dev in methods if m not in (PRODUCTS, *GRU_METHODS) and not split_method(m)[1]]
        for m, dev in tqdm(measured, desc=f"memory at T={T}", disable=not progress):
            memory.append(measure_memory(m, (T, N, D, H), dev))
        base = {m["device"]: m["peak_bytes"] for m in memory if m["method"] == BASELINE}
        for m in memory:
            m["ratio"] = m["peak_bytes"] / base[m["device"]]
    return {
        "note": NOTE,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "repeats": repeats,
        "peak_gflops": peaks,  # best of the interleaved matmul probes, per device
        "peak_gflops_median": {dev: statistics.median(v) for dev, v in probes.items()},
        "timings": [asdict(t) for t in timings],
        "numpy_between": numpy_between(timings),
        "memory": memory,
    }


def numpy_between(timings: list[Timing]) -> list[dict]:
    """Per size: how much slower fwd+bwd gets with NumPy's forward + backward run before each call."""
    ms = {(t.method, t.T, t.N, t.D, t.H): t.forward_backward_ms for t in timings if t.device == "cpu"}
    rows = []
    for (method, *size), with_numpy in ms.items():
        core, row = split_method(method)
        if row == NUMPY_BETWEEN and (core, *size) in ms:
            rows.append({"method": core, **dict(zip("TNDH", size)), "slowdown": with_numpy / ms[(core, *size)]})
    return rows


def default_out(results: dict, preset: str) -> str:
    """``results/bench_cpu.json`` for ``--full`` (the file the book reads), else
    ``results/bench_cpu_<preset>.json``; ``cuda`` instead of ``cpu`` when the GPU paths ran."""
    device = "cuda" if any(t["device"] != "cpu" for t in results["timings"]) else "cpu"
    return os.path.join("results", f"bench_{device}.json" if preset == "full" else f"bench_{device}_{preset}.json")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m lstm_ref.bench", description=__doc__.split("\n\n")[0])
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="two small sizes, 5 repeats, no memory (seconds)")
    preset.add_argument("--full", action="store_true", help="sweeps over T, N and H, memory at T=1000 (minutes)")
    parser.add_argument("--sizes", nargs="+", metavar="T,N,D,H", help="sizes to time instead of the preset's")
    parser.add_argument("--repeats", type=int, help="interleaved repeats per size (median reported)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch and NumPy's BLAS (default: torch's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="add the GPU paths (auto: if CUDA is there)")
    parser.add_argument("--memory", dest="memory_T", type=int, help="measure peak memory at this T (0: skip)")
    parser.add_argument("--out", default=None, help="JSON file (default: see default_out)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--only", nargs="+", metavar="METHOD", help="time only these methods (and their nn.LSTM baselines)")
    parser.add_argument(
        "--extras", action=argparse.BooleanOptionalAction, default=None,
        help="the extra rows: NumPy between calls, 2 layers bidirectional, proj_size, GRU (default: on, off for --full)",
    )
    args = parser.parse_args(argv)
    preset_name = "quick" if args.quick else "full" if args.full else "default"
    chosen = PRESETS[preset_name]
    try:
        sizes = [parse_size(s) for s in args.sizes] if args.sizes else chosen["sizes"]
    except ValueError as err:
        parser.error(str(err))
    repeats = args.repeats or chosen["repeats"]
    memory_T = chosen["memory_T"] if args.memory_T is None else args.memory_T
    extras = not args.full if args.extras is None else args.extras
    results = run(
        sizes, repeats, args.device, memory_T, progress=not args.no_progress, threads=args.threads, extras=extras,
        only=args.only,
    )
    results["command"] = "python -m lstm_ref.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    print(format_table([Timing(**t) for t in results["timings"]]))
    for r in results["numpy_between"]:
        print(f"NumPy between calls: {r['method']} fwd+bwd x{r['slowdown']:.2f} at T={r['T']} N={r['N']} D={r['D']} H={r['H']}")
    for m in results["memory"]:
        print(f"peak memory T={m['T']} N={m['N']} D={m['D']} H={m['H']}  {m['method']:<15} {m['device']:<4} {m['peak_bytes'] / 2**20:8.1f} MiB  x nn {m['ratio']:.2f}")
    out = args.out or default_out(results, "custom" if args.sizes else preset_name)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
