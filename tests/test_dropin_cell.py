"""``lstm_ref.torch_lstm.LSTMCell`` is a drop-in for ``torch.nn.LSTMCell`` (SPEC: public API).

Measured against ``nn.LSTMCell`` itself in float64: PyTorch's own test material for the
module (``common_modules``: its samples and its error inputs), then configurations of our
own (batched, unbatched, no state, no bias, empty batch), first and second derivatives,
state dicts both ways, and bad input.
"""
from __future__ import annotations

import copy
import io
import itertools

import pytest
import torch
from torch import nn
from torch.testing._internal.common_modules import module_error_inputs_torch_nn_LSTMCell, module_inputs_torch_nn_LSTMCell
from torch.testing._internal.common_utils import gradgradcheck

import dropin_common as common
from lstm_ref.torch_cell import LSTMCellInputError
from lstm_ref.torch_lstm import LSTMCell

CELL = common.Cell(ours=LSTMCell, ref=nn.LSTMCell, error=LSTMCellInputError, function="LSTMFunction",
                   samples_fn=module_inputs_torch_nn_LSTMCell)
F64 = torch.float64


def _samples():
    return common.samples(CELL)


def _error_inputs():
    return module_error_inputs_torch_nn_LSTMCell(CELL.info, device="cpu", dtype=F64, requires_grad=False,
                                                 training=False)


@pytest.mark.parametrize("k", range(len(_samples())))
def test_pytorch_samples_match_torch_nn(k):
    common.check_sample_matches_reference(CELL, _samples()[k])


@pytest.mark.parametrize("k", range(len(_error_inputs())))
def test_pytorch_error_inputs_raise_like_torch_nn(k):
    common.check_error_input(CELL, _error_inputs()[k])


def _inputs(N, D, H, batched, with_state, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    shape = (N,) if batched else ()

    def make(*s):
        return torch.randn(*shape, *s, generator=g, dtype=dtype).requires_grad_()

    x = make(D)
    return (x, (make(H), make(H))) if with_state else (x,)


CONFIGS = list(itertools.product((True, False), (True, False), (True, False)))  # bias, batched, state


@pytest.mark.parametrize("bias,batched,with_state", CONFIGS,
                         ids=[f"bias={b}-batched={n}-state={s}" for b, n, s in CONFIGS])
def test_outputs_and_every_gradient_match_torch_nn(bias, batched, with_state):
    torch.manual_seed(3)
    ref, ours = common.pair(CELL, 5, 7, bias=bias)
    args = _inputs(4, 5, 7, batched, with_state)
    want, want_grads, grad_outputs = common.outputs_and_grads(ref, args)
    got, got_grads, _ = common.outputs_and_grads(ours, args, grad_outputs)
    assert got[0].shape == ((4, 7) if batched else (7,))
    assert common.max_diff(got, want) <= common.TOL
    assert common.max_diff(got_grads, want_grads) <= common.TOL


def test_a_step_is_the_references_lstm_step():
    """h_1, c_1 of the cell are those of ``torch_lstm.lstm_step`` with b = bias_ih + bias_hh."""
    from lstm_ref.params import LSTMParams
    from lstm_ref.torch_lstm import lstm_step

    cell = LSTMCell(3, 4, dtype=F64)
    x, (h, c) = _inputs(2, 3, 4, True, True, seed=5)
    h1, c1, _ = lstm_step(x, h, c, LSTMParams.from_torch(cell, as_tensors=True))
    got = cell(x, (h, c))
    assert common.max_diff(got, (h1, c1)) <= 1e-14


def test_float32_matches_torch_nn():
    ref, ours = common.pair(CELL, 6, 8, dtype=torch.float32)
    args = _inputs(3, 6, 8, True, True, dtype=torch.float32)
    assert common.max_diff(ours(*args), ref(*args)) <= 1e-5


def test_batch_of_size_zero():
    ref, ours = common.pair(CELL, 3, 4)
    x = torch.zeros(0, 3, dtype=F64)
    assert [t.shape for t in ours(x)] == [t.shape for t in ref(x)] == [(0, 4), (0, 4)]


@pytest.mark.parametrize("bias", (True, False))
def test_gradcheck_and_gradgradcheck(bias):
    torch.manual_seed(4)
    cell = LSTMCell(3, 2, bias=bias, dtype=F64)
    args = _inputs(2, 3, 2, True, True, seed=6)
    assert common.gradcheck_module(cell, args)
    assert common.gradcheck_module(cell, args, check=gradgradcheck)


def test_is_an_nn_lstmcell_with_its_parameters_init_repr_and_state_dicts():
    torch.manual_seed(0)
    ref = nn.LSTMCell(5, 3, bias=False)
    torch.manual_seed(0)
    ours = LSTMCell(5, 3, bias=False)
    assert isinstance(ours, nn.LSTMCell) and repr(ours) == repr(ref)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), ref.parameters()))  # same init, same seed
    ref.load_state_dict(ours.state_dict())  # both ways
    ours.load_state_dict(ref.state_dict())
    buffer = io.BytesIO()
    torch.save(ours, buffer)
    buffer.seek(0)
    again = torch.load(buffer, weights_only=False)
    x = torch.randn(2, 5)
    assert type(again) is LSTMCell and torch.equal(again(x)[0], ours(x)[0])
    assert torch.equal(copy.deepcopy(ours)(x)[1], ours(x)[1])


BAD = {
    "3-D input": ((torch.zeros(2, 1, 3, dtype=F64),), "Expected input to be 1D or 2D, got 3D"),
    "one state tensor": ((torch.zeros(2, 3, dtype=F64), torch.zeros(2, 4, dtype=F64)), r"pair of tensors \(h_0, c_0\)"),
    "batched input, unbatched state": (
        (torch.zeros(2, 3, dtype=F64), (torch.zeros(4, dtype=F64), torch.zeros(4, dtype=F64))), r"hx\[0\] has 1 dimensions and input 2"),
    "c_0 of the wrong size": (
        (torch.zeros(2, 3, dtype=F64), (torch.zeros(2, 4, dtype=F64), torch.zeros(2, 5, dtype=F64))),
        r"hidden1 has inconsistent hidden_size: got 5, expected 4 \(hx\[1\] of shape \(2, 5\); expected \(2, 4\)\)"),
    "float32 input": ((torch.zeros(2, 3),), "input is torch.float32 on cpu, the cell's weights torch.float64"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_raises_what_torch_nn_raises_with_a_clear_message(case):
    """Each raises in nn.LSTMCell too; ours raises an exception of the same type (TypeError, ValueError
    or RuntimeError: LSTMCellInputError is both of the last two) that names the argument and what
    was expected."""
    args, pattern = BAD[case]
    ref, ours = common.pair(CELL, 3, 4)
    with pytest.raises(Exception) as theirs:
        ref(*args)
    with pytest.raises((LSTMCellInputError, TypeError), match=pattern) as mine:
        ours(*args)
    assert isinstance(mine.value, type(theirs.value)), (theirs.value, mine.value)
