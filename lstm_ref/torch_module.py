"""``LSTM`` and ``GRU``: drop-ins for ``torch.nn.LSTM`` and ``torch.nn.GRU`` built from the
course's layers, :class:`LSTMFunction` and :class:`GRUFunction`.

Each *is* its ``torch.nn`` module (a subclass): the constructor, its argument checks (the
same exceptions), the parameters (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``, the LSTM's ``weight_hr_l{k}``, each also ``..._reverse``), their
initialisation, ``all_weights``, ``flatten_parameters``, ``repr``, pickling and ``.to()``
are ``torch.nn``'s, and ``isinstance(module, torch.nn.LSTM)`` (``torch.nn.GRU``) holds.
Only ``forward`` is the course's, and the two cells share it: the layers run one after
another, each layer's input is the previous layer's output (with dropout between layers in
training mode), and each direction of a layer is one course ``autograd.Function``
(:meth:`LSTM._direction`, :meth:`GRU._direction`: the only part that differs, with whether
there is a cell state ``c``). The reverse direction runs over the reversed sequence (each
row reversed within its own length for packed input) and its outputs are reversed back, as
the chapter "Running an LSTM over a sequence" does with ``lstm_forward``.

Bad input raises :class:`LSTMInputError` (:class:`GRUInputError`), a ``ValueError`` (the
course's contract) that is also a ``RuntimeError`` (what ``torch.nn`` raises for most bad
input), with a message that names the argument, its shape and the shape expected.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .torch_gru import GRUFunction
from .torch_lstm import LSTMFunction, _last_steps

__all__ = ["LSTM", "LSTMInputError", "GRU", "GRUInputError"]


class LSTMInputError(ValueError, RuntimeError):
    """Bad input to :meth:`LSTM.forward`: caught by ``except ValueError`` and ``except RuntimeError``."""


class GRUInputError(ValueError, RuntimeError):
    """Bad input to :meth:`GRU.forward`: caught by ``except ValueError`` and ``except RuntimeError``."""


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


class _DropIn:
    """``forward`` of :class:`LSTM` and :class:`GRU`: layout, states, autocast, layers, output.

    Each subclass gives ``_input_error`` (the exception it raises), ``_state_shapes(N)``
    (``h0``, and the LSTM's ``c0``) and ``_direction``, one direction of one layer.
    """

    _input_error: type[Exception]
    _cpu_autocast = True  # torch has an autocast rule for the op on the CPU (aten::lstm has)

    def forward(self, input, hx=None):
        x, batch = _time_major(self, input)  # (T, N, D)
        states = _initial_states(self, x, hx, batch)  # h0 (and c0), (L·K, N, ·)
        device_type = x.device.type
        cast = _compute_dtype(self, x)
        with torch.autocast(device_type, enabled=False):
            x, *states = (_autocast(t, cast) for t in (x, *states))
            _check_dtypes(self, x, states, cast)
            output, finals = _run_layers(self, x, states, batch.lengths, cast)
        return _lay_out(output, finals, batch)


class LSTM(_DropIn, nn.LSTM):
    """Drop-in for ``torch.nn.LSTM`` whose every layer and direction is :class:`LSTMFunction`.

    Same constructor (``input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None,
    dtype=None``), parameters and ``forward(input, (h_0, c_0)) -> (output, (h_n, c_n))`` as
    ``nn.LSTM``, for batched ``(T, N, D)`` (``(N, T, D)`` with ``batch_first``), unbatched
    ``(T, D)`` and ``PackedSequence`` input, under autocast too.

    Shapes, with L = num_layers, K = 2 if bidirectional else 1, P = proj_size or H:
    ``h_0, h_n : (L·K, N, P)``, ``c_0, c_n : (L·K, N, H)``, ``output : (T, N, K·P)``.
    """

    _input_error = LSTMInputError

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

    def _state_shapes(self, N: int) -> dict[str, tuple[str, tuple[int, int, int]]]:
        """Expected ``h0`` and ``c0``: symbolic shape and value, ``(L·K, N, P)`` and ``(L·K, N, H)``."""
        layers, LK = _layers(self)
        P_name, P = ("proj_size", self.proj_size) if self.proj_size else ("H", self.hidden_size)
        return {"h0": (f"({layers}, N, {P_name})", (LK, N, P)), "c0": (f"({layers}, N, H)", (LK, N, self.hidden_size))}

    def _direction(self, seq: Tensor, states, sfx: str, lengths, cast):
        """One direction of one layer, :class:`LSTMFunction`: ``(hs (T, N, P), h_n (N, P), c_n (N, H))``."""
        W_ih, W_hh, b, W_hr = _layer_weights(self, sfx, cast)
        h0, c0 = states
        return LSTMFunction.apply(seq, h0, c0, W_ih, W_hh, b, W_hr, lengths)


class GRU(_DropIn, nn.GRU):
    """Drop-in for ``torch.nn.GRU`` whose every layer and direction is :class:`GRUFunction`.

    Same constructor (``input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None``),
    parameters and ``forward(input, h_0) -> (output, h_n)`` as ``nn.GRU``, for batched
    ``(T, N, D)`` (``(N, T, D)`` with ``batch_first``), unbatched ``(T, D)`` and
    ``PackedSequence`` input, under autocast too. The constructor is ``nn.GRU``'s own.

    Shapes, with L = num_layers, K = 2 if bidirectional else 1:
    ``h_0, h_n : (L·K, N, H)``, ``output : (T, N, K·H)``.
    """

    _input_error = GRUInputError
    _cpu_autocast = False  # aten::gru has none: on the CPU, nn.GRU keeps the input's dtype

    def _state_shapes(self, N: int) -> dict[str, tuple[str, tuple[int, int, int]]]:
        """Expected ``h0``: symbolic shape and value, ``(L·K, N, H)``."""
        layers, LK = _layers(self)
        return {"h0": (f"({layers}, N, H)", (LK, N, self.hidden_size))}

    def _direction(self, seq: Tensor, states, sfx: str, lengths, cast):
        """One direction of one layer, :class:`GRUFunction`: ``(hs (T, N, H), h_n (N, H))``,
        ``h_n`` at each row's own last step for packed input."""
        W_ih, W_hh = getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx)
        zeros = W_ih.new_zeros(W_ih.shape[0])  # bias=False: b_ih = b_hh = 0
        b_ih, b_hh = (getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx)) if self.bias else (zeros, zeros)
        (h0,) = states
        hs, h_T = GRUFunction.apply(seq, h0, *(_autocast(w, cast) for w in (W_ih, W_hh, b_ih, b_hh)))
        last = _last_steps(lengths, hs)
        return hs, (h_T if last is None else hs[last])


# --- input: checks with torch.nn's exception types and the course's messages -------------------
def _time_major(m: _DropIn, input) -> tuple[Tensor, _Batch]:
    """The input as a padded time-major ``(T, N, D)`` tensor, checked, and how it was laid out."""
    if isinstance(input, PackedSequence):
        _check_input(m, input.data, ("sum of lengths", "D"))
        x, lengths = pad_packed_sequence(PackedSequence(input.data, input.batch_sizes), batch_first=False)
        return x, _Batch("packed", False, lengths, input)  # rows in sorted order, longest first
    if not isinstance(input, Tensor):
        raise m._input_error(f"input must be a torch.Tensor or a PackedSequence, got {type(input).__name__}")
    if input.dim() not in (2, 3):
        raise m._input_error(
            f"input has shape {tuple(input.shape)} ({input.dim()}-D); expected "
            f"{'(N, T, D)' if m.batch_first else '(T, N, D)'} or unbatched (T, D) with D = {m.input_size} "
            f"(nn.{m._get_name()}: Expected input to be 2D or 3D, got {input.dim()}D instead)"
        )
    batched = input.dim() == 3
    dims = ("N", "T", "D") if batched and m.batch_first else ("T", "N", "D") if batched else ("T", "D")
    _check_input(m, input, dims)
    x = input if not batched else _SwapTN.apply(input) if m.batch_first else input
    x = x if batched else x.unsqueeze(1)  # (T, 1, D)
    return x, _Batch("batched" if batched else "unbatched", m.batch_first)


def _check_input(m: _DropIn, x: Tensor, dims: tuple[str, ...]) -> None:
    """dtype, feature size, at least one step, device: ``x`` of shape ``dims`` (D = input_size)."""
    weight = m.weight_ih_l0
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise m._input_error(
            f"input has dtype {x.dtype}; expected {weight.dtype}, the dtype of the weights. "
            f"RNN input dtype ({x.dtype}) does not match weight dtype ({weight.dtype}). "
            f"Convert input: input.to({weight.dtype}), or convert model: model.to({x.dtype})"
        )
    expected = tuple(m.input_size if d == "D" else x.shape[k] for k, d in enumerate(dims))
    if x.shape[-1] != m.input_size:
        raise m._input_error(
            f"input has shape {tuple(x.shape)}; expected ({', '.join(dims)}) = {expected} "
            f"(input.size(-1) must be equal to input_size={m.input_size})"
        )
    if "T" in dims and x.shape[dims.index("T")] == 0:
        raise m._input_error(f"input has shape {tuple(x.shape)}; expected at least one time step (T >= 1)")
    if x.device != weight.device:
        raise m._input_error(
            f"input is on device {x.device}; expected {weight.device}, the device of the weights: "
            "move the input or the module"
        )


def _layers(m: _DropIn) -> tuple[str, int]:
    """The first dimension of the states, symbolic and its value: ``num_layers`` (``* 2``), L·K."""
    K = 2 if m.bidirectional else 1
    return "num_layers" + (" * 2" if K == 2 else ""), m.num_layers * K


def _hx_tensors(m: _DropIn, hx, shapes: dict) -> tuple[Tensor, ...]:
    """``hx`` as a tuple of its states, ``(h0, c0)`` for the LSTM, ``(h0,)`` for the GRU, or an error."""
    if len(shapes) == 1 and isinstance(hx, Tensor):
        return (hx,)
    pair = isinstance(hx, (tuple, list)) and len(hx) == len(shapes) and all(isinstance(s, Tensor) for s in hx)
    if len(shapes) > 1 and pair:
        return tuple(hx)
    symbols = [symbols for symbols, _ in shapes.values()]
    what = (f"a tuple ({', '.join(shapes)}) of two tensors of shapes {' and '.join(symbols)}" if len(shapes) > 1
            else f"a tensor h0 of shape {symbols[0]}")
    raise m._input_error(
        f"hx must be {what}, got {type(hx).__name__}"
        f"{'' if not isinstance(hx, (tuple, list)) else f' of length {len(hx)}'}"
    )


def _initial_states(m: _DropIn, x: Tensor, hx, batch: _Batch) -> list[Tensor]:
    """``[h0 (L·K, N, P)]``, with the LSTM's ``c0 (L·K, N, H)``: zeros, or ``hx`` checked
    (rows in sorted order if packed)."""
    shapes = m._state_shapes(x.shape[1])
    if hx is None:
        return [x.new_zeros(shape) for _, shape in shapes.values()]
    unbatched = batch.kind == "unbatched"
    states = []
    for (name, (symbols, shape)), s in zip(shapes.items(), _hx_tensors(m, hx, shapes)):
        want = shape[::2] if unbatched else shape  # unbatched: (L·K, P) and (L·K, H)
        if tuple(s.shape) != want:
            sym = symbols.replace(", N", "") if unbatched else symbols
            raise m._input_error(
                f"{name} has shape {tuple(s.shape)}; expected {sym} = {want}"
                + (f" (for {'unbatched 2-D' if unbatched else 'batched 3-D'} input, "
                   f"{' and '.join(('hx', 'cx')[:len(shapes)])} should "
                   f"also be {2 if unbatched else 3}-D)" if s.dim() != len(want) else "")
            )
        if s.device != x.device:
            raise m._input_error(f"{name} is on device {s.device}; expected {x.device} (the device of input)")
        states.append(s.unsqueeze(1) if unbatched else s)
    if batch.kind == "packed" and batch.packed.sorted_indices is not None:
        states = [s.index_select(1, batch.packed.sorted_indices) for s in states]
    return states


def _compute_dtype(m: _DropIn, x: Tensor) -> torch.dtype | None:
    """The dtype the layers compute in under autocast; None when autocast is off.

    Autocast's (lower precision) dtype where torch has an autocast rule for the module's
    op: the LSTM's, and on CUDA also the GRU's (cuDNN's). On the CPU ``aten::gru`` has none,
    so ``nn.GRU`` keeps a float32, float16 or bfloat16 input's dtype (only its inner matrix
    products are rounded to autocast's), and ours computes in that dtype.
    """
    device_type = x.device.type
    if not torch.is_autocast_enabled(device_type):
        return None
    if device_type == "cpu" and not m._cpu_autocast and x.dtype != torch.float64:
        return x.dtype
    return torch.get_autocast_dtype(device_type)


def _autocast(t: Tensor, dtype: torch.dtype | None) -> Tensor:
    """``t`` in autocast's dtype if autocast would cast it (floating point, not float64)."""
    if dtype is None or not t.is_floating_point() or t.dtype == torch.float64:
        return t
    return t.to(dtype)


def _check_dtypes(m: _DropIn, x: Tensor, states: list[Tensor], cast) -> None:
    """The states in the input's dtype; under autocast, the input in the dtype the weights compute in."""
    weight = _autocast(m.weight_ih_l0, cast)
    if cast is not None and x.dtype != weight.dtype:
        raise m._input_error(
            f"input has dtype {x.dtype} under autocast({torch.get_autocast_dtype(x.device.type)}); "
            f"expected {weight.dtype}, the dtype the weights ({m.weight_ih_l0.dtype}) compute in"
        )
    for name, s in zip(("h0", "c0"), states):
        if s.dtype != x.dtype:
            raise m._input_error(f"{name} has dtype {s.dtype}; expected {x.dtype} (the dtype of input)")


# --- layers and directions ------------------------------------------------------------------------
def _layer_weights(m: LSTM, sfx: str, cast) -> tuple:
    """``(W_ih (4H, D_l), W_hh (4H, P), b (4H,), W_hr (P, H) or None)`` of the LSTM's layer and
    direction ``sfx`` (``_l0``, ``_l0_reverse``, ...)."""
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


def _run_layers(m: LSTM | GRU, x: Tensor, states: list[Tensor], lengths, cast):
    """Every layer over the whole sequence, each layer's output the next one's input.

    x : (T, N, D); states : [h0 (L·K, N, P)], with the LSTM's c0 (L·K, N, H), L layers,
    K directions, P = proj_size or H
    Returns output : (T, N, K·P) and [h_n (L·K, N, P)] (with c_n (L·K, N, H))
    """
    K = 2 if m.bidirectional else 1
    inp, finals = x, []
    for layer in range(m.num_layers):
        outs = []
        for direction in range(K):  # 0 forward, 1 reverse
            k = layer * K + direction
            sfx = f"_l{layer}" + ("_reverse" if direction else "")  # e.g. _l0_reverse
            seq = _reverse(inp, lengths) if direction else inp
            # one direction of one layer: an LSTMFunction (LSTM) or a GRUFunction (GRU)
            hs, *final = m._direction(seq, [s[k] for s in states], sfx, lengths, cast)
            outs.append(_reverse(hs, lengths) if direction else hs)
            finals.append(final)  # [h_k] or [h_k, c_k]
        # (eq:stacked-layers): this layer's hidden states are the next layer's input
        inp = torch.cat(outs, dim=2) if K == 2 else outs[0]  # (T, N, K·P)
        if m.dropout and layer < m.num_layers - 1 and m.training:
            inp = F.dropout(inp, m.dropout, training=True)  # not after the last
    return inp, [torch.stack(f) for f in zip(*finals)]  # h_n (and c_n), (L·K, N, ·)


def _lay_out(output: Tensor, finals: list[Tensor], batch: _Batch):
    """``(output, h_n)``, the LSTM's ``(output, (h_n, c_n))``, laid out as the input was:
    batch-first, unbatched or packed."""
    if batch.kind == "packed":
        p = batch.packed
        data = pack_padded_sequence(output, batch.lengths).data
        if p.unsorted_indices is not None:
            finals = [s.index_select(1, p.unsorted_indices) for s in finals]
        output = PackedSequence(data, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
    elif batch.kind == "unbatched":
        output, finals = output.squeeze(1), [s.squeeze(1) for s in finals]
    elif batch.batch_first:
        output = _SwapTN.apply(output)
    return output, (finals[0] if len(finals) == 1 else tuple(finals))
