"""``lstm_ref.torch_lstm.LSTM`` is a drop-in for ``torch.nn.LSTM``, measured by PyTorch's own material.

- every ``ModuleInfo`` sample for ``nn.LSTM`` (``module_inputs_torch_nn_LSTM``, shipped in the
  torch wheel) gives ``nn.LSTM``'s outputs and gradients given the same state dict (float64,
  1e-10), and every error input (``module_error_inputs_torch_nn_RNN_GRU``) raises the same
  exception type with a message matching PyTorch's pattern;
- the checks of PyTorch's ``test/test_modules.py`` that apply on a CPU, run on the samples:
  forward against the sample's reference function, factory kwargs, meta-device
  construction, repr, pickle, non-contiguous inputs, gradcheck and gradgradcheck (with
  batched gradients, as PyTorch's wrappers do), contiguous outputs and gradients, train/eval;
- what the samples do not reach: longer sequences, packed sequences, dropout, autocast, a
  batch of size 0, a gradient penalty, and the error types and messages of bad forward input.

The helpers take a ``device`` so that ``test_reference_cuda.py`` runs them on a GPU.
"""
from __future__ import annotations

import copy
import io
import re
from functools import partial

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing._internal.common_modules import (
    ModuleErrorEnum,
    module_db,
    module_error_inputs_torch_nn_RNN_GRU,
    module_inputs_torch_nn_LSTM,
)
from torch.testing._internal.common_utils import freeze_rng_state, gradcheck, gradgradcheck
from torch.utils._pytree import tree_flatten

from lstm_ref import torch_module
from lstm_ref.torch_lstm import LSTM
from lstm_ref.torch_module import LSTMInputError

TOL = 1e-10  # float64, against nn.LSTM (the bar)
LSTM_INFO = next(info for info in module_db if info.module_cls is nn.LSTM)
F64 = torch.float64


# --- helpers (also used by test_reference_cuda.py) ------------------------------------------------
def samples(device="cpu", dtype=F64, requires_grad=True, training=False):
    """PyTorch's ModuleInfo samples for nn.LSTM: 2 layers, bias, batch_first, bidirectional, proj_size."""
    return module_inputs_torch_nn_LSTM(LSTM_INFO, device=device, dtype=dtype, requires_grad=requires_grad, training=training)


def error_inputs(device="cpu", dtype=F64):
    return module_error_inputs_torch_nn_RNN_GRU(LSTM_INFO, device=device, dtype=dtype, requires_grad=False, training=False)


def sample_id(sample) -> str:
    kw = sample.constructor_input.kwargs
    shapes = "+".join("x".join(map(str, t.shape)) for t in tree_flatten(sample.forward_input.args)[0])
    flags = [k for k in ("bias", "batch_first", "bidirectional") if kw[k]] + (["proj"] if kw["proj_size"] else [])
    return "-".join(flags + [shapes]) or shapes


SAMPLE_IDS = [sample_id(s) for s in samples()]


def pair(*args, device="cpu", dtype=F64, **kwargs):
    """``(nn.LSTM, ours)`` with the same weights: ours loads nn.LSTM's state dict."""
    ref = nn.LSTM(*args, device=device, dtype=dtype, **kwargs)
    ours = LSTM(*args, device=device, dtype=dtype, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def max_diff(got, want) -> float:
    """Largest absolute difference over two matching pytrees of tensors (PackedSequence included)."""
    got, want = tree_flatten(got)[0], tree_flatten(want)[0]
    assert len(got) == len(want)
    diffs = [0.0]
    for g, w in zip(got, want):
        if isinstance(w, torch.Tensor):
            assert g.shape == w.shape and g.dtype == w.dtype and g.device == w.device
            diffs.append((g.double() - w.double()).abs().max().item() if w.numel() else 0.0)
    return max(diffs)


def outputs_and_grads(module, args, grad_outputs=None, seed=0):
    """Forward ``module(*args)``, then the gradients of every differentiable input and parameter
    for ``grad_outputs`` (random, seeded, when None). Returns (outputs, grads, grad_outputs)."""
    outputs = module(*args)
    flat = [o for o in tree_flatten(outputs)[0] if isinstance(o, torch.Tensor) and o.requires_grad]
    if grad_outputs is None:
        g = torch.Generator().manual_seed(seed)
        grad_outputs = [torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device) for o in flat]
    leaves = [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor) and t.requires_grad]
    grads = torch.autograd.grad(flat, leaves + list(module.parameters()), grad_outputs, retain_graph=True)
    return outputs, grads, grad_outputs


def check_sample_matches_nn_lstm(sample, device="cpu", tol=TOL):
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    ref, ours = pair(*args, device=device, dtype=sample.forward_input.args[0].dtype, **kwargs)
    fwd = sample.forward_input.args
    want, want_grads, grad_outputs = outputs_and_grads(ref, fwd)
    got, got_grads, _ = outputs_and_grads(ours, fwd, grad_outputs)
    assert max_diff(got, want) <= tol
    assert max_diff(got_grads, want_grads) <= tol
    # the sample's own reference: the unbatched input run as a batch of one
    ref_out = sample.reference_fn(ours, *fwd)
    assert max_diff(got, ref_out) <= tol


def check_error_input(error_input):
    """``error_input`` raises the same exception type as nn.LSTM with PyTorch's message pattern."""
    mi = error_input.module_error_input
    c_args, c_kwargs = mi.constructor_input.args, mi.constructor_input.kwargs
    raised = {}
    for cls in (nn.LSTM, LSTM):
        try:
            m = cls(*c_args, **c_kwargs)
            if error_input.error_on == ModuleErrorEnum.FORWARD_ERROR:
                m(*mi.forward_input.args, **mi.forward_input.kwargs)
        except Exception as err:  # noqa: BLE001 - the type is what is compared
            raised[cls] = err
    want, got = raised.get(nn.LSTM), raised.get(LSTM)
    assert isinstance(want, error_input.error_type), f"nn.LSTM raised {want!r}"  # the material is right
    assert isinstance(got, type(want)), f"expected {type(want).__name__} like nn.LSTM, got {got!r}"
    assert re.search(error_input.error_regex, str(got)), str(got)


def gradcheck_module(module, inputs, check=gradcheck):
    """``check`` (PyTorch's gradcheck or gradgradcheck wrapper) of ``module``'s flattened
    outputs over its tensor inputs and parameters, under a frozen RNG (dropout)."""
    names = [n for n, _ in module.named_parameters()]
    flat_in, spec = tree_flatten(inputs)
    k = len(flat_in)

    def fn(*flat):
        args = torch.utils._pytree.tree_unflatten(list(flat[:k]), spec)
        with freeze_rng_state():
            out = torch.func.functional_call(module, dict(zip(names, flat[k:])), args)
        return tuple(t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))

    return check(fn, (*flat_in, *module.parameters()))


# --- PyTorch's samples and error inputs -------------------------------------------------------------
@pytest.mark.parametrize("sample", samples(), ids=SAMPLE_IDS)
def test_pytorch_sample_matches_nn_lstm(sample):
    check_sample_matches_nn_lstm(sample)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["float32", "float64"])
def test_pytorch_error_inputs_raise_like_nn_lstm(dtype):
    errors = error_inputs(dtype=dtype)
    assert len(errors) >= 14  # torch 2.13 ships 14
    for error_input in errors:
        check_error_input(error_input)


# --- the checks of PyTorch's test/test_modules.py on the samples --------------------------------------
def _fresh(sample, device="cpu", dtype=F64, training=False):
    m = LSTM(*sample.constructor_input.args, **sample.constructor_input.kwargs).to(device).to(dtype)
    return m.train(training)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_modules_forward_repr_pickle_factory_kwargs(training):
    for sample in samples(training=training):
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        fwd = sample.forward_input.args
        m = _fresh(sample, training=training)
        out = m(*fwd)
        assert max_diff(out, sample.reference_fn(m, *fwd)) == 0.0  # test_forward
        m.double()
        m(*fwd)
        assert {(p.device.type, p.dtype) for p in m.parameters()} == {("cpu", F64)}
        assert repr(m) == repr(nn.LSTM(*args, **kwargs)) and str(m)  # test_repr: nn.LSTM's text
        buf = io.BytesIO()  # test_pickle
        torch.save(m, buf)
        buf.seek(0)
        assert max_diff(torch.load(buf, weights_only=False)(*fwd), out) == 0.0
        made = LSTM(*args, device="cpu", dtype=F64, **kwargs)  # test_factory_kwargs
        assert {(p.device.type, p.dtype) for p in made.parameters()} == {("cpu", F64)}
        with torch.device("meta"):  # test_device_ctx_init
            meta = LSTM(*args, **kwargs)
        assert [(n, p.shape, p.is_meta) for n, p in meta.named_parameters()] == [
            (n, p.shape, True) for n, p in made.named_parameters()
        ]


def _non_contiguous(t):
    if not isinstance(t, torch.Tensor):
        return tuple(_non_contiguous(s) for s in t)
    out = torch.repeat_interleave(t, 2, dim=-1)[..., ::2].detach()  # as test_modules.py
    return out.requires_grad_(t.requires_grad)


def test_modules_non_contiguous_inputs_and_grad_outputs():
    for sample in samples():
        m = _fresh(sample)
        fwd = sample.forward_input.args
        nc = _non_contiguous(fwd)
        assert not nc[0].is_contiguous()
        want, want_grads, grad_outputs = outputs_and_grads(m, fwd)
        for inputs in (fwd, nc):
            for g_out in (grad_outputs, [_non_contiguous(g) for g in grad_outputs]):
                got, got_grads, _ = outputs_and_grads(m, inputs, g_out)
                assert max_diff(got, want) <= TOL and max_diff(got_grads, want_grads) <= TOL


def test_modules_outputs_and_input_gradients_are_contiguous():
    """test_memory_format: every output and every gradient of an input is contiguous."""
    for sample in samples():
        m = _fresh(sample, training=True)
        fwd = sample.forward_input.args
        outputs, grads, _ = outputs_and_grads(m, fwd)
        assert all(t.is_contiguous() for t in tree_flatten(outputs)[0] + list(grads))


def test_modules_train_and_eval_modes():
    """test_if_train_and_eval_modes_differ: without ``training`` only an AttributeError naming it
    may come (nn.LSTM's ModuleInfo says train and eval differ); in eval mode there is no dropout."""
    for sample in samples():
        m = _fresh(sample)
        del m.training
        try:
            m(*sample.forward_input.args)
        except AttributeError as err:
            assert "'training'" in str(err) and LSTM_INFO.train_and_eval_differ


@pytest.mark.parametrize("sample", samples()[::3], ids=SAMPLE_IDS[::3])
def test_modules_grad_and_gradgrad(sample):
    """test_grad and test_gradgrad: PyTorch's wrappers (fast mode, batched gradients), the total
    derivative over inputs and parameters. (Every third sample: seconds each.)"""
    m = _fresh(sample)
    assert gradcheck_module(m, sample.forward_input.args)
    assert gradcheck_module(m, sample.forward_input.args, gradgradcheck)


# --- what the samples do not reach ------------------------------------------------------------------
CONFIGS = [
    {},
    {"bias": False, "batch_first": True},
    {"num_layers": 3},
    {"bidirectional": True},
    {"proj_size": 3},
    {"num_layers": 2, "bidirectional": True, "proj_size": 2, "batch_first": True},
]


def _config_id(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "default"


def _data(T, N, D, kw, seed=1, device="cpu", dtype=F64):
    """``x`` (batch-first if asked) and random ``(h0, c0)`` for a module built with ``kw``."""
    g = torch.Generator().manual_seed(seed)
    K = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    H, P = 5, kw.get("proj_size") or 5
    shape = (N, T, D) if kw.get("batch_first") else (T, N, D)
    x, h0, c0 = (torch.randn(s, generator=g, dtype=dtype).to(device) for s in (shape, (K, N, P), (K, N, H)))
    return x.requires_grad_(), (h0.requires_grad_(), c0.requires_grad_())


@pytest.mark.parametrize("kw", CONFIGS, ids=_config_id)
def test_longer_sequences_match_nn_lstm_and_state_dicts_move_both_ways(kw, device="cpu"):
    ref, ours = pair(4, 5, device=device, **kw)
    assert isinstance(ours, nn.LSTM)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    assert [[p.shape for p in w] for w in ours.all_weights] == [[p.shape for p in w] for w in ref.all_weights]
    ours.flatten_parameters()  # a no-op on the CPU, as nn.LSTM's
    x, hx = _data(17, 3, 4, kw, device=device)
    for args in ((x,), (x, hx)):
        want, want_grads, g_out = outputs_and_grads(ref, args)
        got, got_grads, _ = outputs_and_grads(ours, args, g_out)
        assert max_diff(got, want) <= TOL and max_diff(got_grads, want_grads) <= TOL
    back = nn.LSTM(4, 5, device=device, dtype=F64, **kw)
    back.load_state_dict(ours.state_dict())
    assert max_diff(back(x), ref(x)) == 0.0


@pytest.mark.parametrize("kw", CONFIGS, ids=_config_id)
def test_gradcheck_and_gradgradcheck_per_configuration(kw):
    _, ours = pair(3, 5, **kw)
    x, hx = _data(3, 2, 3, kw)
    assert gradcheck_module(ours, (x, hx))
    assert gradcheck_module(ours, (x, hx), gradgradcheck)


def test_gradient_penalty_matches_nn_lstm():
    """``loss = out.sum() + ‖∂out/∂x‖²``: the penalty's gradient reaches the weights, as nn.LSTM's."""
    grads, plain = [], []
    for m in pair(3, 4, num_layers=2, bidirectional=True):
        x = torch.randn(6, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(3)).requires_grad_()
        out, _ = m(x)
        (dx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        plain.append(torch.autograd.grad(out.sum(), list(m.parameters()), retain_graph=True))
        grads.append(torch.autograd.grad(out.sum() + dx.pow(2).sum(), list(m.parameters())))
    assert max_diff(grads[1], grads[0]) <= TOL
    assert max_diff(grads[1], plain[1]) > 1e-3  # the penalty term does change the gradient


def _packed(T, lengths, D, seed=2, device="cpu", dtype=F64):
    x = torch.randn(T, len(lengths), D, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)
    return x.requires_grad_(), pack_padded_sequence(x, lengths, enforce_sorted=False)


@pytest.mark.parametrize("kw", CONFIGS[2:], ids=_config_id)
def test_packed_sequences_match_nn_lstm(kw, device="cpu"):
    """Unsorted lengths, with and without hx: output data, h_n, c_n and every gradient."""
    ref, ours = pair(4, 5, device=device, **kw)  # batch_first does not apply to packed input
    lengths = [3, 7, 1, 7, 5]
    for with_state in (False, True):
        x, packed = _packed(7, lengths, 4, device=device)
        _, hx = _data(7, 5, 4, kw, device=device)
        args = (packed, hx) if with_state else (packed,)
        want, want_grads, g_out = outputs_and_grads(ref, args)
        got, got_grads, _ = outputs_and_grads(ours, args, g_out)
        assert torch.equal(got[0].batch_sizes, want[0].batch_sizes)
        assert torch.equal(got[0].unsorted_indices, want[0].unsorted_indices)
        assert max_diff(got, want) <= TOL and max_diff(got_grads, want_grads) <= TOL
        (x_grad,) = torch.autograd.grad(got[0].data.sum(), x)
        assert x_grad[1:, 2].abs().max() == 0.0  # padding gets no gradient


def test_packed_round_trip_and_gradgradcheck():
    _, ours = pair(2, 3, num_layers=2, bidirectional=True, proj_size=2)
    x, packed = _packed(4, [2, 4, 3], 2)
    out, _ = ours(packed)
    padded, lengths = pad_packed_sequence(out)
    assert lengths.tolist() == [2, 4, 3] and padded.shape == (4, 3, 4)
    assert padded[2:, 0].abs().max() == 0.0  # beyond length 2: padding
    assert gradcheck_module(ours, (packed,))
    names = [n for n, _ in ours.named_parameters()]

    def through_packing(x, *params):
        p = pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False)
        out, (h, c) = torch.func.functional_call(ours, dict(zip(names, params)), (p,))
        return out.data, h, c

    assert gradgradcheck(through_packing, (x, *ours.parameters()))


def test_dropout_between_layers_only_in_training(monkeypatch):
    """Layer 2 gets layer 1's output with a fraction p zeroed and the rest scaled by 1/(1-p);
    the last layer's output is not dropped; in eval mode nothing is, and nn.LSTM agrees."""
    p, calls, real = 0.3, [], torch_module.LSTMFunction

    class Spy:  # records what each layer gets and gives
        @staticmethod
        def apply(seq, *args):
            out = real.apply(seq, *args)
            calls.append((seq, out[0]))
            return out

    monkeypatch.setattr(torch_module, "LSTMFunction", Spy)
    ref, ours = pair(4, 64, num_layers=2, dropout=p)
    x = torch.randn(50, 8, 4, dtype=F64)
    out, _ = ours.train()(x)
    (_, hs0), (seq1, hs1) = calls
    kept = seq1 != 0
    zeroed = 1.0 - kept.double().mean().item()
    n = seq1.numel()
    assert abs(zeroed - p) <= 5 * (p * (1 - p) / n) ** 0.5  # binomial, 5 sigma
    assert torch.allclose(seq1[kept], hs0[kept] / (1 - p), rtol=1e-12, atol=0)
    assert torch.equal(out, hs1)  # no dropout after the last layer
    calls.clear()
    out_eval, _ = ours.eval()(x)
    assert torch.equal(calls[1][0], calls[0][1])
    assert max_diff(out_eval, ref.eval()(x)[0]) <= TOL


def test_dropout_warning_like_nn_lstm():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        LSTM(3, 4, dropout=0.5)


def test_batch_of_size_zero():
    ref, ours = pair(3, 4, num_layers=2, bidirectional=True)
    for m in (ref, ours):
        x = torch.randn(5, 0, 3, dtype=F64, requires_grad=True)
        out, (h, c) = m(x)
        assert out.shape == (5, 0, 8) and h.shape == c.shape == (4, 0, 4)
        (out.sum() + h.sum() + c.sum()).backward()
        assert x.grad.shape == x.shape
        assert all(q.grad is not None and q.grad.abs().max() == 0 for q in m.parameters())


@pytest.mark.parametrize("module_dtype", [torch.bfloat16, torch.float32])
def test_autocast_like_nn_lstm(module_dtype):
    """Under CPU autocast (bfloat16), a bfloat16 or float32 module takes float32 input and
    returns bfloat16, as nn.LSTM; float32 parameters get float32 gradients."""
    ref, ours = pair(3, 8, num_layers=2, dtype=module_dtype)
    x = torch.randn(9, 2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = ref(x)
        got = ours(x)
    assert [t.dtype for t in tree_flatten(got)[0]] == [t.dtype for t in tree_flatten(want)[0]]
    assert max_diff(got, want) <= 0.03  # bfloat16 has 8 bits of mantissa
    got[0].float().sum().backward()
    assert {q.grad.dtype for q in ours.parameters()} == {module_dtype}
    with pytest.raises(ValueError, match="does not match weight dtype"):
        LSTM(3, 8, dtype=torch.bfloat16)(x)  # outside autocast: refused, as by nn.LSTM


def _bad_forward_inputs():
    """``(name, module kwargs, input, hx, words the message must contain)``."""
    z = partial(torch.zeros, dtype=F64)
    return [
        ("4-D input", {}, z(2, 3, 4, 5), None, ["(2, 3, 4, 5)", "(T, N, D)"]),
        ("wrong D", {}, z(5, 2, 3), None, ["(5, 2, 3)", "(T, N, D) = (5, 2, 4)"]),
        ("wrong D batch_first", {"batch_first": True}, z(2, 5, 3), None, ["(2, 5, 3)", "(N, T, D) = (2, 5, 4)"]),
        ("unbatched wrong D", {}, z(5, 3), None, ["(5, 3)", "(T, D) = (5, 4)"]),
        ("h0 2-D for 3-D input", {}, z(5, 2, 4), (z(2, 6), z(1, 2, 6)), ["h0", "(2, 6)", "(1, 2, 6)"]),
        ("h0 wrong N", {}, z(5, 2, 4), (z(1, 3, 6), z(1, 2, 6)), ["h0", "(1, 3, 6)", "(num_layers, N, H) = (1, 2, 6)"]),
        ("c0 wrong layers", {"num_layers": 2}, z(5, 2, 4), (z(2, 2, 6), z(1, 2, 6)), ["c0", "(num_layers, N, H) = (2, 2, 6)"]),
        ("h0 not projected", {"proj_size": 3, "bidirectional": True}, z(5, 2, 4), (z(2, 2, 6), z(2, 2, 6)),
         ["h0", "(num_layers * 2, N, proj_size) = (2, 2, 3)"]),
        ("unbatched h0 3-D", {}, z(5, 4), (z(1, 1, 6), z(1, 6)), ["h0", "(1, 1, 6)", "(num_layers, H) = (1, 6)"]),
        ("hx of three", {}, z(5, 2, 4), (z(1, 2, 6),) * 3, ["hx", "length 3"]),
        ("h0 float32", {}, z(5, 2, 4), (z(1, 2, 6).float(), z(1, 2, 6)), ["h0", "float32", "float64"]),
        ("input float32", {}, z(5, 2, 4).float(), None, ["float32", "float64"]),
    ]


@pytest.mark.parametrize("case", _bad_forward_inputs(), ids=lambda c: c[0])
def test_bad_forward_input_raises_nn_lstms_type_with_a_clear_message(case):
    _, kw, x, hx, words = case
    ref, ours = pair(4, 6, **kw)
    with pytest.raises(Exception) as want:
        ref(x, hx)
    with pytest.raises(LSTMInputError) as got:
        ours(x, hx)
    assert isinstance(got.value, (ValueError, RuntimeError))
    if isinstance(want.value, (ValueError, RuntimeError)):  # the types nn.LSTM raises on purpose
        assert isinstance(got.value, type(want.value)), (want.value, got.value)
    for word in words:
        assert word in str(got.value), (word, str(got.value))


def test_empty_sequence_is_refused_like_nn_lstm():
    ref, ours = pair(3, 4)
    for m in (ref, ours):
        with pytest.raises(RuntimeError):
            m(torch.zeros(0, 2, 3, dtype=F64))


def test_deepcopy_gives_the_same_module():
    _, ours = pair(3, 4, num_layers=2)
    twin = copy.deepcopy(ours)
    x = torch.randn(4, 2, 3, dtype=F64)
    assert max_diff(twin(x), ours(x)) == 0.0
