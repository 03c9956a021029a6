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


def test_the_material_is_what_we_think():
    """32 samples in torch 2.13: 16 unbatched (8 configurations, with and without h_0), 16 packed."""
    assert CELL.info.module_inputs_func.func is module_inputs_torch_nn_RNN_GRU
    assert len(SAMPLES) >= 32 and len(set(SAMPLE_IDS)) == len(SAMPLE_IDS)
    assert sum("packed" in i for i in SAMPLE_IDS) >= 16


CONFIGS = [
    {},
    {"bias": False, "batch_first": True},
    {"num_layers": 3},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "bias": False, "batch_first": True},
]


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


class TestGRU(common.DropInChecks):
    """Every check of ``dropin_common`` on ``lstm_ref.torch_gru.GRU`` against ``nn.GRU``."""

    CELL = CELL
    CONFIGS = CONFIGS
    BAD_FORWARD_INPUTS = _bad_forward_inputs()
    AUTOCAST_DTYPE = torch.float32  # aten::gru has no autocast rule on the CPU: only its products round


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
