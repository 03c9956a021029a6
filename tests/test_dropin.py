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


CONFIGS = [
    {},
    {"bias": False, "batch_first": True},
    {"num_layers": 3},
    {"bidirectional": True},
    {"proj_size": 3},
    {"num_layers": 2, "bidirectional": True, "proj_size": 2, "batch_first": True},
]


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
        ("c0 wrong layers", {"num_layers": 2}, z(5, 2, 4), (z(2, 2, 6), z(1, 2, 6)),
         ["c0", "(num_layers, N, H) = (2, 2, 6)"]),
        ("h0 not projected", {"proj_size": 3, "bidirectional": True}, z(5, 2, 4), (z(2, 2, 6), z(2, 2, 6)),
         ["h0", "(num_layers * 2, N, proj_size) = (2, 2, 3)"]),
        ("unbatched h0 3-D", {}, z(5, 4), (z(1, 1, 6), z(1, 6)), ["h0", "(1, 1, 6)", "(num_layers, H) = (1, 6)"]),
        ("hx of three", {}, z(5, 2, 4), (z(1, 2, 6),) * 3, ["hx", "a tuple (h0, c0) of two tensors", "length 3"]),
        ("h0 float32", {}, z(5, 2, 4), (z(1, 2, 6).float(), z(1, 2, 6)), ["h0", "float32", "float64"]),
        ("input float32", {}, z(5, 2, 4).float(), None, ["float32", "float64"]),
    ]


class TestLSTM(common.DropInChecks):
    """Every check of ``dropin_common`` on ``lstm_ref.torch_lstm.LSTM`` against ``nn.LSTM``."""

    CELL = CELL
    CONFIGS = CONFIGS
    BAD_FORWARD_INPUTS = _bad_forward_inputs()
    AUTOCAST_DTYPE = torch.bfloat16  # aten::lstm has an autocast rule on the CPU
    PACKED_ROUND_TRIP = {"proj_size": 2}
