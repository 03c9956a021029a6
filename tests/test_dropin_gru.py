"""``lstm_ref.torch_gru.GRU`` is a drop-in for ``torch.nn.GRU``, measured by PyTorch's own material.

The checks of ``test_dropin.py`` (``dropin_common.py``), for the GRU:

- every ``ModuleInfo`` sample for ``nn.GRU`` (``module_inputs_torch_nn_RNN_GRU`` with
  ``is_rnn=False``, shipped in the torch wheel: 2 layers, bias, batch_first, bidirectional,
  unbatched input with and without ``h_0``, and the packed-sequence samples) gives
  ``nn.GRU``'s outputs and gradients given the same state dict (float64, 1e-10), and every
  error input (``module_error_inputs_torch_nn_RNN_GRU``) raises the same exception type
  with a message matching PyTorch's pattern;
- the checks of PyTorch's ``test/test_modules.py`` that apply on a CPU, on the samples;
- what the samples do not reach: longer sequences, more configurations, packed sequences,
  dropout, autocast, a batch of size 0, a gradient penalty, the error types and messages of
  bad forward input, and that the hand-written BPTT is what a plain backward runs.
"""
from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn
from torch.testing._internal.common_modules import module_inputs_torch_nn_RNN_GRU

import dropin_common as common
from lstm_ref import torch_gru
from lstm_ref.gru_params import GRUParams
from lstm_ref.torch_gru import GRU
from lstm_ref.torch_module import GRUInputError

CELL = common.Cell(
    GRU, nn.GRU, GRUInputError, "GRUFunction", partial(module_inputs_torch_nn_RNN_GRU, is_rnn=False),
    {"with_packed_sequence": True},
)
F64 = common.F64
SAMPLES = common.samples(CELL)
SAMPLE_IDS = [common.sample_id(s) for s in SAMPLES]


# --- PyTorch's samples and error inputs -------------------------------------------------------------
def test_the_material_is_what_we_think():
    """32 samples in torch 2.13: 16 unbatched (8 configurations, with and without h_0), 16 packed."""
    assert CELL.info.module_inputs_func.func is module_inputs_torch_nn_RNN_GRU
    assert len(SAMPLES) >= 32 and len(set(SAMPLE_IDS)) == len(SAMPLE_IDS)
    assert sum("packed" in i for i in SAMPLE_IDS) >= 16


@pytest.mark.parametrize("sample", SAMPLES, ids=SAMPLE_IDS)
def test_pytorch_sample_matches_nn_gru(sample):
    common.check_sample_matches_reference(CELL, sample)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["float32", "float64"])
def test_pytorch_error_inputs_raise_like_nn_gru(dtype):
    errors = common.error_inputs(CELL, dtype=dtype)
    assert len(errors) >= 14  # torch 2.13 ships 14
    for error_input in errors:
        common.check_error_input(CELL, error_input)


# --- the checks of PyTorch's test/test_modules.py on the samples --------------------------------------
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_modules_forward_repr_pickle_factory_kwargs(training):
    common.check_forward_repr_pickle_factory_kwargs(CELL, training)


def test_modules_non_contiguous_inputs_and_grad_outputs():
    common.check_non_contiguous_inputs_and_grad_outputs(CELL)


def test_modules_outputs_and_input_gradients_are_contiguous():
    common.check_outputs_and_input_gradients_are_contiguous(CELL)


def test_modules_train_and_eval_modes():
    common.check_train_and_eval_modes(CELL)


@pytest.mark.parametrize("sample", SAMPLES[::3], ids=SAMPLE_IDS[::3])
def test_modules_grad_and_gradgrad(sample):
    """(Every third sample: seconds each.)"""
    common.check_grad_and_gradgrad(CELL, sample)


# --- what the samples do not reach ------------------------------------------------------------------
CONFIGS = [
    {},
    {"bias": False, "batch_first": True},
    {"num_layers": 3},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "bias": False, "batch_first": True},
]


@pytest.mark.parametrize("kw", CONFIGS, ids=common.config_id)
def test_longer_sequences_match_nn_gru_and_state_dicts_move_both_ways(kw):
    common.check_longer_sequences_and_state_dicts(CELL, kw)


@pytest.mark.parametrize("kw", CONFIGS, ids=common.config_id)
def test_gradcheck_and_gradgradcheck_per_configuration(kw):
    common.check_gradcheck_and_gradgradcheck(CELL, kw)


def test_gradient_penalty_matches_nn_gru():
    common.check_gradient_penalty(CELL)


@pytest.mark.parametrize("kw", CONFIGS[2:], ids=common.config_id)
def test_packed_sequences_match_nn_gru(kw):
    common.check_packed_sequences(CELL, kw)


def test_packed_round_trip_and_gradgradcheck():
    common.check_packed_round_trip_and_gradgradcheck(CELL)


def test_dropout_between_layers_only_in_training(monkeypatch):
    common.check_dropout_between_layers_only_in_training(CELL, monkeypatch)


def test_dropout_warning_like_nn_gru():
    common.check_dropout_warning(CELL)


def test_batch_of_size_zero():
    common.check_batch_of_size_zero(CELL)


@pytest.mark.parametrize("module_dtype", [torch.bfloat16, torch.float32])
def test_autocast_like_nn_gru(module_dtype):
    """aten::gru has no autocast rule on the CPU: nn.GRU keeps float32 input float32 (only its
    inner products round to bfloat16), and so does the drop-in."""
    common.check_autocast(CELL, module_dtype, torch.float32)


def _bad_forward_inputs():
    """``(name, module kwargs, input, hx, words the message must contain)``."""
    z = partial(torch.zeros, dtype=F64)
    return [
        ("4-D input", {}, z(2, 3, 4, 5), None, ["(2, 3, 4, 5)", "(T, N, D)", "nn.GRU"]),
        ("wrong D", {}, z(5, 2, 3), None, ["(5, 2, 3)", "(T, N, D) = (5, 2, 4)"]),
        ("wrong D batch_first", {"batch_first": True}, z(2, 5, 3), None, ["(2, 5, 3)", "(N, T, D) = (2, 5, 4)"]),
        ("unbatched wrong D", {}, z(5, 3), None, ["(5, 3)", "(T, D) = (5, 4)"]),
        ("h0 2-D for 3-D input", {}, z(5, 2, 4), z(2, 6),
         ["h0", "(2, 6)", "(num_layers, N, H) = (1, 2, 6)", "hx should also be 3-D"]),
        ("h0 wrong N", {}, z(5, 2, 4), z(1, 3, 6), ["h0", "(1, 3, 6)", "(num_layers, N, H) = (1, 2, 6)"]),
        ("h0 one direction", {"num_layers": 2, "bidirectional": True}, z(5, 2, 4), z(2, 2, 6),
         ["h0", "(2, 2, 6)", "(num_layers * 2, N, H) = (4, 2, 6)"]),
        ("unbatched h0 3-D", {}, z(5, 4), z(1, 1, 6),
         ["h0", "(1, 1, 6)", "(num_layers, H) = (1, 6)", "hx should also be 2-D"]),
        ("hx a tuple", {}, z(5, 2, 4), (z(1, 2, 6),), ["hx", "a tensor h0 of shape (num_layers, N, H)", "tuple"]),
        ("h0 float32", {}, z(5, 2, 4), z(1, 2, 6).float(), ["h0", "float32", "float64"]),
        ("input float32", {}, z(5, 2, 4).float(), None, ["float32", "float64"]),
    ]


@pytest.mark.parametrize("case", _bad_forward_inputs(), ids=lambda c: c[0])
def test_bad_forward_input_raises_nn_grus_type_with_a_clear_message(case):
    common.check_bad_forward_input(CELL, case)


def test_empty_sequence_is_refused_like_nn_gru():
    common.check_empty_sequence_is_refused(CELL)


def test_deepcopy_gives_the_same_module():
    common.check_deepcopy(CELL)


# --- the GRU's own ----------------------------------------------------------------------------------
def test_plain_backward_runs_the_hand_written_bptt_and_double_backward_does_not(monkeypatch):
    """A plain backward is :func:`torch_gru.gru_backward`, once per layer and direction; with
    ``create_graph=True`` autograd differentiates ``gru_forward`` instead (so the second
    derivative is exact), and the two first derivatives agree."""
    calls, real = [], torch_gru.gru_backward
    monkeypatch.setattr(torch_gru, "gru_backward", lambda *a, **k: calls.append(1) or real(*a, **k))
    _, ours = common.pair(CELL, 3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(5, 2, 3, dtype=F64, requires_grad=True)
    out, h_n = ours(x)
    (plain,) = torch.autograd.grad((out**2).sum() + h_n.sum(), x)
    assert len(calls) == 4
    out, h_n = ours(x)
    (graph,) = torch.autograd.grad((out**2).sum() + h_n.sum(), x, create_graph=True)
    assert len(calls) == 4 and graph.requires_grad
    assert common.max_diff(graph, plain) <= common.TOL


def test_one_layer_module_ports_to_gru_params():
    """``GRUParams.from_torch`` reads the drop-in as it reads ``nn.GRU`` (one layer)."""
    ref, ours = common.pair(CELL, 3, 4)
    got, want = GRUParams.from_torch(ours), GRUParams.from_torch(ref)
    assert all((g == w).all() for g, w in zip(got, want))
