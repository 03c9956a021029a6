"""``LSTM``: a drop-in for ``torch.nn.LSTM`` built from the course's layer, :class:`LSTMFunction`.

It *is* an ``nn.LSTM`` (a subclass): the constructor, its argument checks (the same
exceptions), the parameters (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``, ``weight_hr_l{k}``, each also ``..._reverse``), their initialisation,
``all_weights``, ``flatten_parameters``, ``repr``, pickling and ``.to()`` are
``nn.LSTM``'s, and ``isinstance(module, torch.nn.LSTM)`` holds. Only ``forward`` is the
course's: the layers run one after another, each layer's input is the previous layer's
output (with dropout between layers in training mode), and each direction of a layer is
one :class:`LSTMFunction`, the fast path with its hand-written BPTT. The reverse direction
runs over the reversed sequence (each row reversed within its own length for packed
input) and its outputs are reversed back, as the chapter "Running an LSTM over a sequence"
does with ``lstm_forward``.

Bad input raises :class:`LSTMInputError`, a ``ValueError`` (the course's contract) that is
also a ``RuntimeError`` (what ``nn.LSTM`` raises for most bad input), with a message that
names the argument, its shape and the shape expected.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .torch_lstm import LSTMFunction

__all__ = ["LSTM", "LSTMInputError"]


class LSTMInputError(ValueError, RuntimeError):
    """Bad input to :meth:`LSTM.forward`: caught by ``except ValueError`` and ``except RuntimeError``."""


class _Batch(NamedTuple):
    """How the input was laid out, to lay the output out the same way."""

    kind: str  # "batched", "unbatched" or "packed"
    batch_first: bool
    lengths: Tensor | None = None  # (N,) int64 on the CPU, packed input only (sorted order)
    packed: PackedSequence | None = None


class _SwapTN(torch.autograd.Function):
    """``(N, T, ...) <-> (T, N, ...)`` as a contiguous copy, and a contiguous gradient, as ``nn.LSTM``."""

    @staticmethod
    def forward(ctx, t):
        return t.transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx, g):
        return g.transpose(0, 1).contiguous()


class LSTM(nn.LSTM):
    """Drop-in for ``torch.nn.LSTM`` whose every layer and direction is :class:`LSTMFunction`.

    Same constructor (``input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None,
    dtype=None``), parameters and ``forward(input, (h_0, c_0)) -> (output, (h_n, c_n))`` as
    ``nn.LSTM``, for batched ``(T, N, D)`` (``(N, T, D)`` with ``batch_first``), unbatched
    ``(T, D)`` and ``PackedSequence`` input, under autocast too.

    Shapes, with L = num_layers, K = 2 if bidirectional else 1, P = proj_size or H:
    ``h_0, h_n : (L·K, N, P)``, ``c_0, c_n : (L·K, N, H)``, ``output : (T, N, K·P)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
            device=device, dtype=dtype,
        )

    def forward(self, input, hx=None):
        x, batch = _time_major(self, input)  # (T, N, D)
        h0, c0 = _initial_states(self, x, hx, batch)
        device_type = x.device.type
        cast = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
        with torch.autocast(device_type, enabled=False):
            x, h0, c0 = (_autocast(t, cast) for t in (x, h0, c0))
            _check_dtypes(self, x, h0, c0, cast)
            output, h_n, c_n = _run_layers(self, x, h0, c0, batch.lengths, cast)
        return _lay_out(output, h_n, c_n, batch)


# --- input: checks with nn.LSTM's exception types and the course's messages -------------------
def _time_major(m: LSTM, input) -> tuple[Tensor, _Batch]:
    """The input as a padded time-major ``(T, N, D)`` tensor, checked, and how it was laid out."""
    if isinstance(input, PackedSequence):
        _check_input(m, input.data, ("sum of lengths", "D"))
        x, lengths = pad_packed_sequence(PackedSequence(input.data, input.batch_sizes), batch_first=False)
        return x, _Batch("packed", False, lengths, input)  # rows in sorted order, longest first
    if not isinstance(input, Tensor):
        raise LSTMInputError(f"input must be a torch.Tensor or a PackedSequence, got {type(input).__name__}")
    if input.dim() not in (2, 3):
        raise LSTMInputError(
            f"input has shape {tuple(input.shape)} ({input.dim()}-D); expected "
            f"{'(N, T, D)' if m.batch_first else '(T, N, D)'} or unbatched (T, D) with D = {m.input_size} "
            f"(nn.LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead)"
        )
    batched = input.dim() == 3
    dims = ("N", "T", "D") if batched and m.batch_first else ("T", "N", "D") if batched else ("T", "D")
    _check_input(m, input, dims)
    x = input if not batched else _SwapTN.apply(input) if m.batch_first else input
    x = x if batched else x.unsqueeze(1)  # (T, 1, D)
    return x, _Batch("batched" if batched else "unbatched", m.batch_first)


def _check_input(m: LSTM, x: Tensor, dims: tuple[str, ...]) -> None:
    """dtype, feature size, at least one step, device: ``x`` of shape ``dims`` (D = input_size)."""
    weight = m.weight_ih_l0
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise LSTMInputError(
            f"input has dtype {x.dtype}; expected {weight.dtype}, the dtype of the weights. "
            f"RNN input dtype ({x.dtype}) does not match weight dtype ({weight.dtype}). "
            f"Convert input: input.to({weight.dtype}), or convert model: model.to({x.dtype})"
        )
    expected = tuple(m.input_size if d == "D" else x.shape[k] for k, d in enumerate(dims))
    if x.shape[-1] != m.input_size:
        raise LSTMInputError(
            f"input has shape {tuple(x.shape)}; expected ({', '.join(dims)}) = {expected} "
            f"(input.size(-1) must be equal to input_size={m.input_size})"
        )
    if "T" in dims and x.shape[dims.index("T")] == 0:
        raise LSTMInputError(f"input has shape {tuple(x.shape)}; expected at least one time step (T >= 1)")
    if x.device != weight.device:
        raise LSTMInputError(
            f"input is on device {x.device}; expected {weight.device}, the device of the weights: "
            "move the input or the module"
        )


def _state_shapes(m: LSTM, N: int) -> dict[str, tuple[str, tuple[int, int, int]]]:
    """Expected ``h0`` and ``c0``: symbolic shape and value, ``(L·K, N, P)`` and ``(L·K, N, H)``."""
    layers = "num_layers" + (" * 2" if m.bidirectional else "")
    LK = m.num_layers * (2 if m.bidirectional else 1)
    P_name, P = ("proj_size", m.proj_size) if m.proj_size else ("H", m.hidden_size)
    return {"h0": (f"({layers}, N, {P_name})", (LK, N, P)), "c0": (f"({layers}, N, H)", (LK, N, m.hidden_size))}


def _initial_states(m: LSTM, x: Tensor, hx, batch: _Batch) -> tuple[Tensor, Tensor]:
    """``(h0 (L·K, N, P), c0 (L·K, N, H))``: zeros, or ``hx`` checked (rows in sorted order if packed)."""
    N = x.shape[1]
    shapes = _state_shapes(m, N)
    if hx is None:
        return tuple(x.new_zeros(shape) for _, shape in shapes.values())
    if not isinstance(hx, (tuple, list)) or len(hx) != 2 or not all(isinstance(s, Tensor) for s in hx):
        raise LSTMInputError(
            f"hx must be a tuple (h0, c0) of two tensors of shapes {shapes['h0'][0]} and {shapes['c0'][0]}, "
            f"got {type(hx).__name__}{'' if not isinstance(hx, (tuple, list)) else f' of length {len(hx)}'}"
        )
    unbatched = batch.kind == "unbatched"
    states = []
    for (name, (symbols, shape)), s in zip(shapes.items(), hx):
        want = shape[::2] if unbatched else shape  # unbatched: (L·K, P) and (L·K, H)
        if tuple(s.shape) != want:
            sym = symbols.replace(", N", "") if unbatched else symbols
            raise LSTMInputError(
                f"{name} has shape {tuple(s.shape)}; expected {sym} = {want}"
                + (f" (for {'unbatched 2-D' if unbatched else 'batched 3-D'} input, hx and cx should "
                   f"also be {2 if unbatched else 3}-D)" if s.dim() != len(want) else "")
            )
        if s.device != x.device:
            raise LSTMInputError(f"{name} is on device {s.device}; expected {x.device} (the device of input)")
        states.append(s.unsqueeze(1) if unbatched else s)
    if batch.kind == "packed" and batch.packed.sorted_indices is not None:
        states = [s.index_select(1, batch.packed.sorted_indices) for s in states]
    return states[0], states[1]


def _autocast(t: Tensor, dtype: torch.dtype | None) -> Tensor:
    """``t`` in autocast's dtype if autocast would cast it (floating point, not float64)."""
    if dtype is None or not t.is_floating_point() or t.dtype == torch.float64:
        return t
    return t.to(dtype)


def _check_dtypes(m: LSTM, x: Tensor, h0: Tensor, c0: Tensor, cast) -> None:
    """The states in the input's dtype; under autocast, the input in the weights' cast dtype."""
    if cast is not None and x.dtype != _autocast(m.weight_ih_l0, cast).dtype:
        raise LSTMInputError(
            f"input has dtype {x.dtype} under autocast({cast}); expected a dtype autocast casts "
            f"to {cast} (float32, float16 or bfloat16), as the weights are"
        )
    for name, s in (("h0", h0), ("c0", c0)):
        if s.dtype != x.dtype:
            raise LSTMInputError(f"{name} has dtype {s.dtype}; expected {x.dtype} (the dtype of input)")


# --- layers and directions ------------------------------------------------------------------------
def _layer_weights(m: LSTM, layer: int, direction: int, cast) -> tuple:
    """``(W_ih (4H, D_l), W_hh (4H, P), b (4H,), W_hr (P, H) or None)`` of one layer and direction."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    W_ih, W_hh = getattr(m, "weight_ih" + sfx), getattr(m, "weight_hh" + sfx)
    b = getattr(m, "bias_ih" + sfx) + getattr(m, "bias_hh" + sfx) if m.bias else W_ih.new_zeros(W_ih.shape[0])
    W_hr = getattr(m, "weight_hr" + sfx) if m.proj_size else None
    return tuple(None if w is None else _autocast(w, cast) for w in (W_ih, W_hh, b, W_hr))


def _reverse(seq: Tensor, lengths: Tensor | None) -> Tensor:
    """Each row's first ``lengths[n]`` steps in reverse order (all T steps if None).

    seq : (T, N, F) tensor; lengths : (N,) int64 CPU tensor or None -> (T, N, F) tensor
    """
    if lengths is None:
        return seq.flip(0)
    T, N, F_ = seq.shape
    t = torch.arange(T)[:, None]  # (T, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (T, N): padding stays put
    return seq.gather(0, index.to(seq.device)[:, :, None].expand(T, N, F_))


def _run_layers(m: LSTM, x: Tensor, h0: Tensor, c0: Tensor, lengths, cast):
    """Every layer over the whole sequence, each layer's output the next one's input.

    x : (T, N, D); h0 : (L·K, N, P); c0 : (L·K, N, H) tensors, L layers, K directions
    Returns output : (T, N, K·P), h_n : (L·K, N, P), c_n : (L·K, N, H)
    """
    K = 2 if m.bidirectional else 1
    inp, h_n, c_n = x, [], []
    for layer in range(m.num_layers):
        outs = []
        for direction in range(K):  # 0 forward, 1 reverse
            k = layer * K + direction
            W_ih, W_hh, b, W_hr = _layer_weights(m, layer, direction, cast)
            seq = _reverse(inp, lengths) if direction else inp
            hs, h_k, c_k = LSTMFunction.apply(
                seq, h0[k], c0[k], W_ih, W_hh, b, W_hr, lengths
            )
            outs.append(_reverse(hs, lengths) if direction else hs)
            h_n.append(h_k)
            c_n.append(c_k)
        inp = torch.cat(outs, dim=2) if K == 2 else outs[0]  # (T, N, K·P)
        if m.dropout and layer < m.num_layers - 1 and m.training:
            inp = F.dropout(inp, m.dropout, training=True)  # not after the last
    return inp, torch.stack(h_n), torch.stack(c_n)


def _lay_out(output: Tensor, h_n: Tensor, c_n: Tensor, batch: _Batch):
    """``(output, (h_n, c_n))`` laid out as the input was: batch-first, unbatched or packed."""
    if batch.kind == "packed":
        p = batch.packed
        data = pack_padded_sequence(output, batch.lengths).data
        if p.unsorted_indices is not None:
            h_n, c_n = h_n.index_select(1, p.unsorted_indices), c_n.index_select(1, p.unsorted_indices)
        return PackedSequence(data, p.batch_sizes, p.sorted_indices, p.unsorted_indices), (h_n, c_n)
    if batch.kind == "unbatched":
        return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
    return (_SwapTN.apply(output) if batch.batch_first else output), (h_n, c_n)
