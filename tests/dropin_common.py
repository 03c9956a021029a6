"""The checks of ``test_dropin.py`` (LSTM) and ``test_dropin_gru.py`` (GRU), written once.

A :class:`Cell` names a drop-in (``lstm_ref.torch_lstm.LSTM``, ``lstm_ref.torch_gru.GRU``),
the ``torch.nn`` module it stands in for and PyTorch's test material for that module; every
``check_*`` function takes one and asserts, so a test file is a list of parametrised calls.
The helpers take a ``device`` so that ``test_reference_cuda.py`` runs them on a GPU.
"""
from __future__ import annotations

import copy
import io
import re
from dataclasses import dataclass, field
from typing import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torch.testing._internal.common_modules import ModuleErrorEnum, module_db, module_error_inputs_torch_nn_RNN_GRU
from torch.testing._internal.common_utils import freeze_rng_state, gradcheck, gradgradcheck
from torch.utils._pytree import tree_flatten, tree_unflatten

from lstm_ref import torch_module

TOL = 1e-10  # float64, against torch.nn (issue 17's bar)
F64 = torch.float64


@dataclass(frozen=True)
class Cell:
    """A drop-in, the ``torch.nn`` module it replaces, and PyTorch's samples for that module."""

    ours: type  # lstm_ref's module
    ref: type  # nn.LSTM or nn.GRU
    error: type  # what ours raises on bad forward input
    function: str  # the course's autograd Function in lstm_ref.torch_module, one per layer and direction
    samples_fn: Callable  # PyTorch's module_inputs_torch_nn_* for ref
    sample_kwargs: dict = field(default_factory=dict)

    @property
    def info(self):
        return next(info for info in module_db if info.module_cls is self.ref)

    @property
    def has_c(self) -> bool:
        """The LSTM's second state: ``hx = (h0, c0)``; the GRU's is ``h0`` alone."""
        return issubclass(self.ref, nn.LSTM)


# --- PyTorch's material ---------------------------------------------------------------------------
def samples(cell: Cell, device="cpu", dtype=F64, requires_grad=True, training=False):
    """PyTorch's ModuleInfo samples for ``cell.ref``."""
    return cell.samples_fn(
        cell.info, device=device, dtype=dtype, requires_grad=requires_grad, training=training, **cell.sample_kwargs
    )


def error_inputs(cell: Cell, device="cpu", dtype=F64):
    return module_error_inputs_torch_nn_RNN_GRU(
        cell.info, device=device, dtype=dtype, requires_grad=False, training=False
    )


def _is_packed(sample) -> bool:
    return isinstance(sample.forward_input.args[0], PackedSequence)


def sample_id(sample) -> str:
    kw = sample.constructor_input.kwargs
    args = sample.forward_input.args
    if _is_packed(sample):
        args = (args[0].data, *args[1:])
    shapes = "+".join("x".join(map(str, t.shape)) for t in tree_flatten(args)[0])
    flags = [k for k in ("bias", "batch_first", "bidirectional") if kw[k]] + (["proj"] if kw.get("proj_size") else [])
    flags += ["packed"] if _is_packed(sample) else []
    return "-".join(flags + [shapes]) or shapes


def pair(cell: Cell, *args, device="cpu", dtype=F64, **kwargs):
    """``(torch.nn module, ours)`` with the same weights: ours loads the reference's state dict."""
    ref = cell.ref(*args, device=device, dtype=dtype, **kwargs)
    ours = cell.ours(*args, device=device, dtype=dtype, **kwargs)
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


def check_sample_matches_reference(cell: Cell, sample, device="cpu", tol=TOL):
    """Outputs and every gradient as the torch.nn module's, and as the sample's own reference."""
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    ref, ours = pair(cell, *args, device=device, dtype=tree_flatten(sample.forward_input.args)[0][0].dtype, **kwargs)
    fwd = sample.forward_input.args
    want, want_grads, grad_outputs = outputs_and_grads(ref, fwd)
    got, got_grads, _ = outputs_and_grads(ours, fwd, grad_outputs)
    assert max_diff(got, want) <= tol
    assert max_diff(got_grads, want_grads) <= tol
    if not _is_packed(sample):  # the sample's own reference: the unbatched input run as a batch of one
        ref_out = sample.reference_fn(ours, *fwd)
        assert max_diff(got, ref_out) <= tol


def check_error_input(cell: Cell, error_input):
    """``error_input`` raises the same exception type as the torch.nn module with PyTorch's message pattern."""
    mi = error_input.module_error_input
    c_args, c_kwargs = mi.constructor_input.args, mi.constructor_input.kwargs
    raised = {}
    for cls in (cell.ref, cell.ours):
        try:
            m = cls(*c_args, **c_kwargs)
            if error_input.error_on == ModuleErrorEnum.FORWARD_ERROR:
                m(*mi.forward_input.args, **mi.forward_input.kwargs)
        except Exception as err:  # noqa: BLE001 - the type is what is compared
            raised[cls] = err
    want, got = raised.get(cell.ref), raised.get(cell.ours)
    assert isinstance(want, error_input.error_type), f"{cell.ref.__name__} raised {want!r}"  # the material is right
    assert isinstance(got, type(want)), f"expected {type(want).__name__} like {cell.ref.__name__}, got {got!r}"
    assert re.search(error_input.error_regex, str(got)), str(got)


def gradcheck_module(module, inputs, check=gradcheck):
    """``check`` (PyTorch's gradcheck or gradgradcheck wrapper) of ``module``'s flattened
    outputs over its tensor inputs and parameters, under a frozen RNG (dropout)."""
    names = [n for n, _ in module.named_parameters()]
    flat_in, spec = tree_flatten(inputs)
    k = len(flat_in)

    def fn(*flat):
        args = tree_unflatten(list(flat[:k]), spec)
        with freeze_rng_state():
            out = torch.func.functional_call(module, dict(zip(names, flat[k:])), args)
        return tuple(t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))

    return check(fn, (*flat_in, *module.parameters()))


# --- the checks of PyTorch's test/test_modules.py on the samples --------------------------------------
def _fresh(cell: Cell, sample, device="cpu", dtype=F64, training=False):
    m = cell.ours(*sample.constructor_input.args, **sample.constructor_input.kwargs).to(device).to(dtype)
    return m.train(training)


def check_forward_repr_pickle_factory_kwargs(cell: Cell, training: bool):
    for sample in samples(cell, training=training):
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        fwd = sample.forward_input.args
        m = _fresh(cell, sample, training=training)
        out = m(*fwd)
        if not _is_packed(sample):
            assert max_diff(out, sample.reference_fn(m, *fwd)) == 0.0  # test_forward
        m.double()
        m(*fwd)
        assert {(p.device.type, p.dtype) for p in m.parameters()} == {("cpu", F64)}
        assert repr(m) == repr(cell.ref(*args, **kwargs)) and str(m)  # test_repr: torch.nn's text
        buf = io.BytesIO()  # test_pickle
        torch.save(m, buf)
        buf.seek(0)
        assert max_diff(torch.load(buf, weights_only=False)(*fwd), out) == 0.0
        made = cell.ours(*args, device="cpu", dtype=F64, **kwargs)  # test_factory_kwargs
        assert {(p.device.type, p.dtype) for p in made.parameters()} == {("cpu", F64)}
        with torch.device("meta"):  # test_device_ctx_init
            meta = cell.ours(*args, **kwargs)
        assert [(n, p.shape, p.is_meta) for n, p in meta.named_parameters()] == [
            (n, p.shape, True) for n, p in made.named_parameters()
        ]


def _non_contiguous(t):
    if isinstance(t, PackedSequence):
        return PackedSequence(_non_contiguous(t.data), t.batch_sizes, t.sorted_indices, t.unsorted_indices)
    if not isinstance(t, torch.Tensor):
        return tuple(_non_contiguous(s) for s in t)
    out = torch.repeat_interleave(t, 2, dim=-1)[..., ::2].detach()  # as test_modules.py
    return out.requires_grad_(t.requires_grad)


def check_non_contiguous_inputs_and_grad_outputs(cell: Cell):
    for sample in samples(cell):
        m = _fresh(cell, sample)
        fwd = sample.forward_input.args
        nc = _non_contiguous(fwd)
        assert not tree_flatten(nc)[0][0].is_contiguous()
        want, want_grads, grad_outputs = outputs_and_grads(m, fwd)
        for inputs in (fwd, nc):
            for g_out in (grad_outputs, [_non_contiguous(g) for g in grad_outputs]):
                got, got_grads, _ = outputs_and_grads(m, inputs, g_out)
                assert max_diff(got, want) <= TOL and max_diff(got_grads, want_grads) <= TOL


def check_outputs_and_input_gradients_are_contiguous(cell: Cell):
    """test_memory_format: every output and every gradient of an input is contiguous."""
    for sample in samples(cell):
        m = _fresh(cell, sample, training=True)
        fwd = sample.forward_input.args
        outputs, grads, _ = outputs_and_grads(m, fwd)
        assert all(t.is_contiguous() for t in tree_flatten(outputs)[0] + list(grads) if t is not None)


def check_train_and_eval_modes(cell: Cell):
    """test_if_train_and_eval_modes_differ: without ``training`` only an AttributeError naming it
    may come (the ModuleInfo says train and eval differ); in eval mode there is no dropout."""
    for sample in samples(cell):
        m = _fresh(cell, sample)
        del m.training
        try:
            m(*sample.forward_input.args)
        except AttributeError as err:
            assert "'training'" in str(err) and cell.info.train_and_eval_differ


def check_grad_and_gradgrad(cell: Cell, sample):
    """test_grad and test_gradgrad: PyTorch's wrappers (fast mode, batched gradients), the total
    derivative over inputs and parameters."""
    m = _fresh(cell, sample)
    assert gradcheck_module(m, sample.forward_input.args)
    assert gradcheck_module(m, sample.forward_input.args, gradgradcheck)


# --- what the samples do not reach ------------------------------------------------------------------
def config_id(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "default"


def data(cell: Cell, T, N, D, kw, seed=1, device="cpu", dtype=F64):
    """``x`` (batch-first if asked) and random ``hx`` (``(h0, c0)`` for the LSTM) for a module built with ``kw``."""
    g = torch.Generator().manual_seed(seed)
    K = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    H, P = 5, kw.get("proj_size") or 5
    shape = (N, T, D) if kw.get("batch_first") else (T, N, D)
    x, h0, c0 = (torch.randn(s, generator=g, dtype=dtype).to(device) for s in (shape, (K, N, P), (K, N, H)))
    x, h0, c0 = x.requires_grad_(), h0.requires_grad_(), c0.requires_grad_()
    return x, ((h0, c0) if cell.has_c else h0)


def check_longer_sequences_and_state_dicts(cell: Cell, kw, device="cpu"):
    ref, ours = pair(cell, 4, 5, device=device, **kw)
    assert isinstance(ours, cell.ref)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    assert [[p.shape for p in w] for w in ours.all_weights] == [[p.shape for p in w] for w in ref.all_weights]
    ours.flatten_parameters()  # a no-op on the CPU, as torch.nn's
    x, hx = data(cell, 17, 3, 4, kw, device=device)
    for args in ((x,), (x, hx)):
        want, want_grads, g_out = outputs_and_grads(ref, args)
        got, got_grads, _ = outputs_and_grads(ours, args, g_out)
        assert max_diff(got, want) <= TOL and max_diff(got_grads, want_grads) <= TOL
    back = cell.ref(4, 5, device=device, dtype=F64, **kw)
    back.load_state_dict(ours.state_dict())
    assert max_diff(back(x), ref(x)) == 0.0


def check_gradcheck_and_gradgradcheck(cell: Cell, kw, device="cpu"):
    _, ours = pair(cell, 3, 5, device=device, **kw)
    x, hx = data(cell, 3, 2, 3, kw, device=device)
    assert gradcheck_module(ours, (x, hx))
    assert gradcheck_module(ours, (x, hx), gradgradcheck)


def check_gradient_penalty(cell: Cell):
    """``loss = out.sum() + ‖∂out/∂x‖²``: the penalty's gradient reaches the weights, as torch.nn's."""
    grads, plain = [], []
    for m in pair(cell, 3, 4, num_layers=2, bidirectional=True):
        x = torch.randn(6, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(3)).requires_grad_()
        out, _ = m(x)
        (dx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        plain.append(torch.autograd.grad(out.sum(), list(m.parameters()), retain_graph=True))
        grads.append(torch.autograd.grad(out.sum() + dx.pow(2).sum(), list(m.parameters())))
    assert max_diff(grads[1], grads[0]) <= TOL
    assert max_diff(grads[1], plain[1]) > 1e-3  # the penalty term does change the gradient


def packed(T, lengths, D, seed=2, device="cpu", dtype=F64):
    x = torch.randn(T, len(lengths), D, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)
    return x.requires_grad_(), pack_padded_sequence(x, lengths, enforce_sorted=False)


def check_packed_sequences(cell: Cell, kw, device="cpu"):
    """Unsorted lengths, with and without hx: output data, the final states and every gradient."""
    ref, ours = pair(cell, 4, 5, device=device, **kw)  # batch_first does not apply to packed input
    lengths = [3, 7, 1, 7, 5]
    for with_state in (False, True):
        x, p = packed(7, lengths, 4, device=device)
        _, hx = data(cell, 7, 5, 4, kw, device=device)
        args = (p, hx) if with_state else (p,)
        want, want_grads, g_out = outputs_and_grads(ref, args)
        got, got_grads, _ = outputs_and_grads(ours, args, g_out)
        assert torch.equal(got[0].batch_sizes, want[0].batch_sizes)
        assert torch.equal(got[0].unsorted_indices, want[0].unsorted_indices)
        assert max_diff(got, want) <= TOL and max_diff(got_grads, want_grads) <= TOL
        (x_grad,) = torch.autograd.grad(got[0].data.sum(), x)
        assert x_grad[1:, 2].abs().max() == 0.0  # padding gets no gradient


def check_packed_round_trip_and_gradgradcheck(cell: Cell, **kw):
    _, ours = pair(cell, 2, 3, num_layers=2, bidirectional=True, **kw)
    x, p = packed(4, [2, 4, 3], 2)
    out, _ = ours(p)
    padded, lengths = pad_packed_sequence(out)
    K_P = 2 * (kw.get("proj_size") or 3)
    assert lengths.tolist() == [2, 4, 3] and padded.shape == (4, 3, K_P)
    assert padded[2:, 0].abs().max() == 0.0  # beyond length 2: padding
    assert gradcheck_module(ours, (p,))
    names = [n for n, _ in ours.named_parameters()]

    def through_packing(x, *params):
        p = pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False)
        out, hx = torch.func.functional_call(ours, dict(zip(names, params)), (p,))
        return (out.data, *tree_flatten(hx)[0])

    assert gradgradcheck(through_packing, (x, *ours.parameters()))


def check_dropout_between_layers_only_in_training(cell: Cell, monkeypatch):
    """Layer 2 gets layer 1's output with a fraction p zeroed and the rest scaled by 1/(1-p);
    the last layer's output is not dropped; in eval mode nothing is, and torch.nn agrees."""
    p, calls, real = 0.3, [], getattr(torch_module, cell.function)

    class Spy:  # records what each layer gets and gives
        @staticmethod
        def apply(seq, *args):
            out = real.apply(seq, *args)
            calls.append((seq, out[0]))
            return out

    monkeypatch.setattr(torch_module, cell.function, Spy)
    ref, ours = pair(cell, 4, 64, num_layers=2, dropout=p)
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


def check_dropout_warning(cell: Cell):
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        cell.ours(3, 4, dropout=0.5)


def check_batch_of_size_zero(cell: Cell):
    ref, ours = pair(cell, 3, 4, num_layers=2, bidirectional=True)
    for m in (ref, ours):
        x = torch.randn(5, 0, 3, dtype=F64, requires_grad=True)
        out, hx = m(x)
        states = tree_flatten(hx)[0]
        assert out.shape == (5, 0, 8) and [s.shape for s in states] == [(4, 0, 4)] * (2 if cell.has_c else 1)
        (out.sum() + sum(s.sum() for s in states)).backward()
        assert x.grad.shape == x.shape
        assert all(q.grad is not None and q.grad.abs().max() == 0 for q in m.parameters())


def check_autocast(cell: Cell, module_dtype, out_dtype):
    """Under CPU autocast (bfloat16), a bfloat16 or float32 module takes float32 input and
    returns ``out_dtype``, as torch.nn's; float32 parameters get float32 gradients."""
    ref, ours = pair(cell, 3, 8, num_layers=2, dtype=module_dtype)
    x = torch.randn(9, 2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = ref(x)
        got = ours(x)
    assert {t.dtype for t in tree_flatten(want)[0]} == {out_dtype}  # what torch.nn does
    assert [t.dtype for t in tree_flatten(got)[0]] == [t.dtype for t in tree_flatten(want)[0]]
    assert max_diff(got, want) <= 0.03  # bfloat16 has 8 bits of mantissa
    got[0].float().sum().backward()
    assert {q.grad.dtype for q in ours.parameters()} == {module_dtype}
    with pytest.raises(ValueError, match="does not match weight dtype"):
        cell.ours(3, 8, dtype=torch.bfloat16)(x)  # outside autocast: refused, as by torch.nn


def check_bad_forward_input(cell: Cell, case):
    """``case`` = (name, module kwargs, input, hx, words the message must contain)."""
    _, kw, x, hx, words = case
    ref, ours = pair(cell, 4, 6, **kw)
    with pytest.raises(Exception) as want:
        ref(x, hx)
    with pytest.raises(cell.error) as got:
        ours(x, hx)
    assert isinstance(got.value, (ValueError, RuntimeError))
    if isinstance(want.value, (ValueError, RuntimeError)):  # the types torch.nn raises on purpose
        assert isinstance(got.value, type(want.value)), (want.value, got.value)
    for word in words:
        assert word in str(got.value), (word, str(got.value))


def check_empty_sequence_is_refused(cell: Cell):
    ref, ours = pair(cell, 3, 4)
    for m in (ref, ours):
        with pytest.raises(RuntimeError):
            m(torch.zeros(0, 2, 3, dtype=F64))


def check_deepcopy(cell: Cell):
    _, ours = pair(cell, 3, 4, num_layers=2)
    twin = copy.deepcopy(ours)
    x = torch.randn(4, 2, 3, dtype=F64)
    assert max_diff(twin(x), ours(x)) == 0.0


# --- the tests, inherited by test_dropin.TestLSTM and test_dropin_gru.TestGRU -------------------------
class DropInChecks:
    """Every check above as a pytest test of ``CELL``; a subclass sets the class attributes."""

    CELL: Cell
    CONFIGS: list[dict]  # constructor keywords beyond the samples'; packed input from the third on
    BAD_FORWARD_INPUTS: list[tuple]  # for check_bad_forward_input
    AUTOCAST_DTYPE: torch.dtype  # what torch.nn's module returns for float32 input under CPU autocast
    PACKED_ROUND_TRIP: dict = {}  # extra constructor keywords for the packed round trip

    def pytest_generate_tests(self, metafunc):
        """The subclass's samples (all; every third for gradgradcheck: seconds each), configurations
        and bad inputs as parameters."""
        all_samples = samples(self.CELL)
        ids = [sample_id(s) for s in all_samples]
        params = {
            "sample": (all_samples, ids),
            "every_third_sample": (all_samples[::3], ids[::3]),
            "kw": (self.CONFIGS, [config_id(kw) for kw in self.CONFIGS]),
            "packed_kw": (self.CONFIGS[2:], [config_id(kw) for kw in self.CONFIGS[2:]]),
            "case": (self.BAD_FORWARD_INPUTS, [c[0] for c in self.BAD_FORWARD_INPUTS]),
        }
        for name, (values, value_ids) in params.items():
            if name in metafunc.fixturenames:
                metafunc.parametrize(name, values, ids=value_ids)

    # PyTorch's samples and error inputs
    def test_pytorch_sample_matches_torch_nn(self, sample):
        check_sample_matches_reference(self.CELL, sample)

    @pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["float32", "float64"])
    def test_pytorch_error_inputs_raise_like_torch_nn(self, dtype):
        errors = error_inputs(self.CELL, dtype=dtype)
        assert len(errors) >= 14  # torch 2.13 ships 14
        for error_input in errors:
            check_error_input(self.CELL, error_input)

    # the checks of PyTorch's test/test_modules.py on the samples
    @pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
    def test_modules_forward_repr_pickle_factory_kwargs(self, training):
        check_forward_repr_pickle_factory_kwargs(self.CELL, training)

    def test_modules_non_contiguous_inputs_and_grad_outputs(self):
        check_non_contiguous_inputs_and_grad_outputs(self.CELL)

    def test_modules_outputs_and_input_gradients_are_contiguous(self):
        check_outputs_and_input_gradients_are_contiguous(self.CELL)

    def test_modules_train_and_eval_modes(self):
        check_train_and_eval_modes(self.CELL)

    def test_modules_grad_and_gradgrad(self, every_third_sample):
        check_grad_and_gradgrad(self.CELL, every_third_sample)

    # what the samples do not reach
    def test_longer_sequences_and_state_dicts_both_ways(self, kw):
        check_longer_sequences_and_state_dicts(self.CELL, kw)

    def test_gradcheck_and_gradgradcheck_per_configuration(self, kw):
        check_gradcheck_and_gradgradcheck(self.CELL, kw)

    def test_gradient_penalty_matches_torch_nn(self):
        check_gradient_penalty(self.CELL)

    def test_packed_sequences_match_torch_nn(self, packed_kw):
        check_packed_sequences(self.CELL, packed_kw)

    def test_packed_round_trip_and_gradgradcheck(self):
        check_packed_round_trip_and_gradgradcheck(self.CELL, **self.PACKED_ROUND_TRIP)

    def test_dropout_between_layers_only_in_training(self, monkeypatch):
        check_dropout_between_layers_only_in_training(self.CELL, monkeypatch)

    def test_dropout_warning_like_torch_nn(self):
        check_dropout_warning(self.CELL)

    def test_batch_of_size_zero(self):
        check_batch_of_size_zero(self.CELL)

    @pytest.mark.parametrize("module_dtype", [torch.bfloat16, torch.float32])
    def test_autocast_like_torch_nn(self, module_dtype):
        check_autocast(self.CELL, module_dtype, self.AUTOCAST_DTYPE)

    def test_bad_forward_input_raises_torch_nns_type_with_a_clear_message(self, case):
        check_bad_forward_input(self.CELL, case)

    def test_empty_sequence_is_refused_like_torch_nn(self):
        check_empty_sequence_is_refused(self.CELL)

    def test_deepcopy_gives_the_same_module(self):
        check_deepcopy(self.CELL)
