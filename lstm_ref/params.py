"""LSTM parameters in ``torch.nn.LSTM``'s stacked layout, and conversions.

``W_ih (4H, D)``, ``W_hh (4H, H)`` and one bias ``b (4H,)`` hold the four gates stacked
in PyTorch's order: input ``i``, forget ``f``, candidate ``g``, output ``o``
(eq:fused-preactivation). The seed texts' per-gate form ``W_f · [h_{t-1}, x_t] + b_f``
is the same numbers sliced: ``W_f = [W_hh[f] | W_ih[f]]`` of shape ``(H, H + D)``.

The fields may be NumPy arrays or torch tensors; gradients (``grads``) use the same
class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Iterator

import numpy as np

from .gradcheck import to_numpy

GATES = ("i", "f", "g", "o")


def _concat(parts, axis):
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=axis)
    import torch

    return torch.cat(parts, dim=axis)


@dataclass
class LSTMParams:
    """Weights of one LSTM layer, gates stacked in the order ``i, f, g, o``.

    Attributes
    ----------
    W_ih : (4H, D) array, input-to-hidden weights
    W_hh : (4H, H) array, hidden-to-hidden weights
    b : (4H,) array, the one bias (``nn.LSTM``'s ``bias_ih + bias_hh``)
    """

    W_ih: Any
    W_hh: Any
    b: Any

    GATES: ClassVar[tuple[str, ...]] = GATES

    # --- sizes and iteration -------------------------------------------------------
    @property
    def input_size(self) -> int:
        """``D``."""
        return int(self.W_ih.shape[1])

    @property
    def hidden_size(self) -> int:
        """``H``."""
        return int(self.W_hh.shape[1])

    def __iter__(self) -> Iterator:
        """``W_ih, W_hh, b = params``."""
        return iter(getattr(self, f.name) for f in fields(self))

    def items(self) -> list[tuple[str, Any]]:
        """``[("W_ih", W_ih), ("W_hh", W_hh), ("b", b)]``."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def map(self, fn) -> "LSTMParams":
        """A new ``LSTMParams`` with ``fn`` applied to every field."""
        return LSTMParams(*(fn(v) for v in self))

    # --- construction ---------------------------------------------------------------
    @classmethod
    def init(
        cls,
        input_size: int,
        hidden_size: int,
        *,
        seed: int | None = None,
        forget_bias: float = 0.0,
        dtype=np.float64,
    ) -> "LSTMParams":
        """Random NumPy parameters drawn as ``torch.nn.LSTM`` draws them.

        Every weight and both of PyTorch's biases are U(-1/√H, 1/√H); ``b`` is the sum
        of the two biases, so its distribution matches ``nn.LSTM``'s
        ``bias_ih + bias_hh``.
        ``forget_bias`` is added to the forget-gate slice of ``b`` (Gers et al. 2000;
        Jozefowicz et al. 2015 recommend 1).
        """
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                "input_size and hidden_size must be positive, "
                f"got {input_size} and {hidden_size}"
            )
        D, H = input_size, hidden_size
        rng = np.random.default_rng(seed)
        k = 1.0 / math.sqrt(H)
        W_ih = rng.uniform(-k, k, (4 * H, D))
        W_hh = rng.uniform(-k, k, (4 * H, H))
        b = rng.uniform(-k, k, 4 * H) + rng.uniform(-k, k, 4 * H)
        b[H : 2 * H] += forget_bias  # the forget gate's slice, order i, f, g, o
        return cls(W_ih.astype(dtype), W_hh.astype(dtype), b.astype(dtype))

    # --- the seed texts' per-gate form ---------------------------------------------
    def gate_slice(self, gate: str) -> slice:
        """Rows of ``W_ih``, ``W_hh`` and ``b`` of ``gate``: "i", "f", "g" or "o"."""
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        H = self.hidden_size
        k = GATES.index(gate)
        return slice(k * H, (k + 1) * H)

    def gate(self, gate: str) -> tuple[Any, Any]:
        """``(W, b)`` of one gate in the seed texts' form, acting on ``[h_{t-1}, x_t]``.

        ``W (H, H + D) = [W_hh[k] | W_ih[k]]``, ``b (H,)``.
        """
        k = self.gate_slice(gate)
        return _concat([self.W_hh[k], self.W_ih[k]], axis=1), self.b[k]

    def per_gate(self) -> dict[str, tuple[Any, Any]]:
        """``{"i": (W_i, b_i), "f": (W_f, b_f), "g": (W_g, b_g), "o": (W_o, b_o)}``."""
        return {name: self.gate(name) for name in GATES}

    @classmethod
    def from_gates(
        cls, gates: dict[str, tuple[Any, Any]], input_size: int
    ) -> "LSTMParams":
        """Inverse of :meth:`per_gate`: stack per-gate ``(W (H, H + D), b (H,))``."""
        missing = set(GATES) - set(gates)
        if missing:
            raise ValueError(
                f"gates is missing {sorted(missing)}; expected keys {GATES}"
            )
        Ws = [gates[name][0] for name in GATES]
        H = Ws[0].shape[0]
        for name, W in zip(GATES, Ws):
            if tuple(W.shape) != (H, H + input_size):
                raise ValueError(
                    f"W_{name} has shape {tuple(W.shape)}; "
                    f"expected (H, H+D) = {(H, H + input_size)}"
                )
        W_hh = _concat([W[:, :H] for W in Ws], axis=0)  # (4H, H): the h_{t-1} columns
        W_ih = _concat([W[:, H:] for W in Ws], axis=0)  # (4H, D): the x_t columns
        b = _concat([gates[name][1] for name in GATES], axis=0)
        return cls(W_ih, W_hh, b)

    # --- torch.nn.LSTM / nn.LSTMCell -----------------------------------------------
    @classmethod
    def from_torch(cls, module, *, as_tensors: bool = False) -> "LSTMParams":
        """Parameters of a one-layer ``nn.LSTM`` or an ``nn.LSTMCell``, biases summed.

        Returns NumPy arrays of the module's dtype, or detached tensor copies on the
        module's device with ``as_tensors=True``.
        """
        W_ih, W_hh, b_ih, b_hh = _torch_weights(module)
        b = b_ih + b_hh if b_ih is not None else W_ih.new_zeros(W_ih.shape[0])
        params = cls(W_ih.detach().clone(), W_hh.detach().clone(), b.detach().clone())
        return params if as_tensors else params.map(to_numpy)

    def to_torch(self, kind: str = "lstm", *, device=None, dtype=None):
        """A new ``nn.LSTM`` or ``nn.LSTMCell`` with these weights.

        ``kind="lstm"`` builds an ``nn.LSTM``, ``kind="cell"`` an ``nn.LSTMCell``. ``b``
        goes into ``bias_ih``; ``bias_hh`` is zero (their sum is what the cell uses).
        ``dtype`` defaults to the parameters' own.
        """
        import torch

        tensors = self.to_tensors(device=device, dtype=dtype)
        D, H = self.input_size, self.hidden_size
        kw = {"device": tensors.W_ih.device, "dtype": tensors.W_ih.dtype}
        if kind == "lstm":
            module = torch.nn.LSTM(D, H, **kw)
        elif kind == "cell":
            module = torch.nn.LSTMCell(D, H, **kw)
        else:
            raise ValueError(f"kind must be 'lstm' or 'cell', got {kind!r}")
        self.copy_into(module, tensors)
        return module

    def copy_into(self, module, tensors: "LSTMParams | None" = None) -> None:
        """Overwrite the weights of a one-layer ``nn.LSTM`` or ``nn.LSTMCell``."""
        import torch

        W_ih, W_hh, b_ih, b_hh = _torch_weights(module)
        src = tensors or self.to_tensors(device=W_ih.device, dtype=W_ih.dtype)
        for name, dst, value in (("W_ih", W_ih, src.W_ih), ("W_hh", W_hh, src.W_hh)):
            if tuple(dst.shape) != tuple(value.shape):
                raise ValueError(
                    f"{name} has shape {tuple(value.shape)}; "
                    f"the module expects {tuple(dst.shape)}"
                )
        with torch.no_grad():
            W_ih.copy_(src.W_ih)
            W_hh.copy_(src.W_hh)
            if b_ih is None:
                raise ValueError(
                    "the module was built with bias=False; it cannot hold b"
                )
            b_ih.copy_(src.b)
            b_hh.zero_()

    def to_tensors(self, *, device=None, dtype=None) -> "LSTMParams":
        """The same parameters as torch tensors (dtype defaults to the arrays' own)."""
        import torch

        def convert(a):
            if isinstance(a, torch.Tensor):
                t = a
            else:
                t = torch.from_numpy(np.ascontiguousarray(a))
            return t.to(
                device=device if device is not None else t.device,
                dtype=dtype or t.dtype,
            )

        return self.map(convert)

    def to_numpy(self) -> "LSTMParams":
        """The same parameters as NumPy arrays."""
        return self.map(to_numpy)


def _torch_weights(module):
    """``(W_ih, W_hh, bias_ih or None, bias_hh or None)`` of a one-layer LSTM(Cell)."""
    import torch

    if isinstance(module, torch.nn.LSTMCell):
        return module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh
    # a GRU or RNN module has weight_ih_l0 too
    other_rnn = isinstance(module, torch.nn.RNNBase) and module.mode != "LSTM"
    is_module = isinstance(module, torch.nn.Module)
    if not is_module or not hasattr(module, "weight_ih_l0") or other_rnn:
        raise ValueError(
            f"expected a torch.nn.LSTM or nn.LSTMCell, got {type(module).__name__}"
        )
    layers = getattr(module, "num_layers", 1)
    bidirectional = getattr(module, "bidirectional", False)
    if layers != 1 or bidirectional or getattr(module, "proj_size", 0):
        raise ValueError(
            "expected a single-layer, unidirectional LSTM without projection; got "
            f"num_layers={layers}, bidirectional={module.bidirectional}, "
            f"proj_size={module.proj_size}"
        )
    return (
        module.weight_ih_l0,
        module.weight_hh_l0,
        getattr(module, "bias_ih_l0", None),
        getattr(module, "bias_hh_l0", None),
    )
