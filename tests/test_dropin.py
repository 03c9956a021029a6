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

The checks live in ``dropin_common.py``, shared with ``test_dropin_gru.py`` (the same for
``lstm_ref.torch_gru.GRU`` against ``torch.nn.GRU``); they take a ``device`` so that
``test_reference_cuda.py`` runs them on a GPU.
"""
from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn
from torch.testing._internal.common_modules import module_inputs_torch_nn_LSTM

import dropin_common as common
from lstm_ref.torch_lstm import LSTM
from lstm_ref.torch_module import LSTMInputError

CELL = common.Cell(LSTM, nn.LSTM, LSTMInputError, "LSTMFunction", module_inputs_torch_nn_LSTM)
F64 = common.F64
SAMPLES = common.samples(CELL)
SAMPLE_IDS = [common.sample_id(s) for s in SAMPLES]


# --- PyTorch's samples and error inputs -------------------------------------------------------------
@pytest.mark.parametrize("sample", SAMPLES, ids=SAMPLE_IDS)
def test_pytorch_sample_matches_nn_lstm(sample):
    common.check_sample_matches_reference(CELL, sample)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["float32", "float64"])
def test_pytorch_error_inputs_raise_like_nn_lstm(dtype):
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
    {"proj_size": 3},
    {"num_layers": 2, "bidirectional": True, "proj_size": 2, "batch_first": True},
]


@pytest.mark.parametrize("kw", CONFIGS, ids=common.config_id)
def test_longer_sequences_match_nn_lstm_and_state_dicts_move_both_ways(kw):
    common.check_longer_sequences_and_state_dicts(CELL, kw)


@pytest.mark.parametrize("kw", CONFIGS, ids=common.config_id)
def test_gradcheck_and_gradgradcheck_per_configuration(kw):
    common.check_gradcheck_and_gradgradcheck(CELL, kw)


def test_gradient_penalty_matches_nn_lstm():
    common.check_gradient_penalty(CELL)


@pytest.mark.parametrize("kw", CONFIGS[2:], ids=common.config_id)
def test_packed_sequences_match_nn_lstm(kw):
    common.check_packed_sequences(CELL, kw)


def test_packed_round_trip_and_gradgradcheck():
    common.check_packed_round_trip_and_gradgradcheck(CELL, proj_size=2)


def test_dropout_between_layers_only_in_training(monkeypatch):
    common.check_dropout_between_layers_only_in_training(CELL, monkeypatch)


def test_dropout_warning_like_nn_lstm():
    common.check_dropout_warning(CELL)


def test_batch_of_size_zero():
    common.check_batch_of_size_zero(CELL)


@pytest.mark.parametrize("module_dtype", [torch.bfloat16, torch.float32])
def test_autocast_like_nn_lstm(module_dtype):
    """aten::lstm has an autocast rule on the CPU: the output is bfloat16."""
    common.check_autocast(CELL, module_dtype, torch.bfloat16)


def _bad_forward_inputs():
    """``(name, module kwargs, input, hx, words the message must contain)``."""
    z = partial(torch.zeros, dtype=F64)
    return [
        ("4-D input", {}, z(2, 3, 4, 5), None, ["(2, 3, 4, 5)", "(T, N, D)", "nn.LSTM"]),
        ("wrong D", {}, z(5, 2, 3), None, ["(5, 2, 3)", "(T, N, D) = (5, 2, 4)"]),
        ("wrong D batch_first", {"batch_first": True}, z(2, 5, 3), None, ["(2, 5, 3)", "(N, T, D) = (2, 5, 4)"]),
        ("unbatched wrong D", {}, z(5, 3), None, ["(5, 3)", "(T, D) = (5, 4)"]),
        ("h0 2-D for 3-D input", {}, z(5, 2, 4), (z(2, 6), z(1, 2, 6)), ["h0", "(2, 6)", "(1, 2, 6)", "hx and cx"]),
        ("h0 wrong N", {}, z(5, 2, 4), (z(1, 3, 6), z(1, 2, 6)), ["h0", "(1, 3, 6)", "(num_layers, N, H) = (1, 2, 6)"]),
        ("c0 wrong layers", {"num_layers": 2}, z(5, 2, 4), (z(2, 2, 6), z(1, 2, 6)), ["c0", "(num_layers, N, H) = (2, 2, 6)"]),
        ("h0 not projected", {"proj_size": 3, "bidirectional": True}, z(5, 2, 4), (z(2, 2, 6), z(2, 2, 6)),
         ["h0", "(num_layers * 2, N, proj_size) = (2, 2, 3)"]),
        ("unbatched h0 3-D", {}, z(5, 4), (z(1, 1, 6), z(1, 6)), ["h0", "(1, 1, 6)", "(num_layers, H) = (1, 6)"]),
        ("hx of three", {}, z(5, 2, 4), (z(1, 2, 6),) * 3, ["hx", "a tuple (h0, c0) of two tensors", "length 3"]),
        ("h0 float32", {}, z(5, 2, 4), (z(1, 2, 6).float(), z(1, 2, 6)), ["h0", "float32", "float64"]),
        ("input float32", {}, z(5, 2, 4).float(), None, ["float32", "float64"]),
    ]


@pytest.mark.parametrize("case", _bad_forward_inputs(), ids=lambda c: c[0])
def test_bad_forward_input_raises_nn_lstms_type_with_a_clear_message(case):
    common.check_bad_forward_input(CELL, case)


def test_empty_sequence_is_refused_like_nn_lstm():
    common.check_empty_sequence_is_refused(CELL)


def test_deepcopy_gives_the_same_module():
    common.check_deepcopy(CELL)
