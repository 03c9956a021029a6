"""GRU parameters in ``torch.nn.GRU``'s stacked layout, and conversions.

``W_ih (3H, D)`` and ``W_hh (3H, H)`` hold the three layers stacked in PyTorch's order:
reset gate ``r``, update gate ``z``, candidate ``n`` (eq:gru-fused-preactivation). Unlike
the LSTM's, the two biases ``b_ih (3H,)`` and ``b_hh (3H,)`` are kept apart: ``b_hn`` sits
inside ``r ⊙ (W_hn h_{t-1} + b_hn)`` (eq:gru-candidate), so it is not interchangeable with
``b_in``. For ``r`` and ``z`` only their sum matters.

The per-gate form: ``W_r = [W_hh[r] | W_ih[r]]`` of shape ``(H, H + D)`` acting on
``[h_{t-1}, x_t]`` with ``b_r = b_ih[r] + b_hh[r]`` (likewise ``z``); the candidate keeps
its four pieces ``W_in (H, D)``, ``b_in (H,)``, ``W_hn (H, H)``, ``b_hn (H,)``.

The fields may be NumPy arrays or torch tensors; gradients (``grads``) use the same class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Iterator

import numpy as np

from .gradcheck import to_numpy

GRU_GATES = ("r", "z", "n")


def _concat(parts, axis):
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=axis)
    import torch

    return torch.cat(parts, dim=axis)


def gru_param_specs(params, prefix: str = "params.") -> dict:
    """``check_arrays`` specs of a ``GRUParams``: ``W_hh (3H, H)``, ``W_ih (3H, D)``, ``b_ih``, ``b_hh (3H,)``.

    ``W_hh`` comes first so that ``H`` is bound before ``3H`` is checked.
    """
    return {
        prefix + "W_hh": (params.W_hh, ("3H", "H")),
        prefix + "W_ih": (params.W_ih, ("3H", "D")),
        prefix + "b_ih": (params.b_ih, ("3H",)),
        prefix + "b_hh": (params.b_hh, ("3H",)),
    }


@dataclass
class GRUParams:
    """Weights of one GRU layer, layers stacked in the order ``r, z, n``.

    Attributes
    ----------
    W_ih : (3H, D) array, input-to-hidden weights
    W_hh : (3H, H) array, hidden-to-hidden weights
    b_ih : (3H,) array, input-side bias (``nn.GRU``'s ``bias_ih_l0``)
    b_hh : (3H,) array, hidden-side bias (``bias_hh_l0``); its n-slice is b_hn
    """

    W_ih: Any
    W_hh: Any
    b_ih: Any
    b_hh: Any

    GATES: ClassVar[tuple[str, ...]] = GRU_GATES

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
        """``W_ih, W_hh, b_ih, b_hh = params``."""
        return iter(getattr(self, f.name) for f in fields(self))

    def items(self) -> list[tuple[str, Any]]:
        """``[("W_ih", W_ih), ("W_hh", W_hh), ("b_ih", b_ih), ("b_hh", b_hh)]``."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def map(self, fn) -> "GRUParams":
        """A new ``GRUParams`` with ``fn`` applied to every field."""
        return GRUParams(*(fn(v) for v in self))

    # --- construction ---------------------------------------------------------------
    @classmethod
    def init(
        cls, input_size: int, hidden_size: int, *, seed: int | None = None, update_bias: float = 0.0, dtype=np.float64
    ) -> "GRUParams":
        """Random NumPy parameters drawn as ``torch.nn.GRU`` draws them: all U(-1/√H, 1/√H).

        ``update_bias`` is added to the update gate's slice of ``b_ih``: a positive value
        starts z_t near 1, so that h_t keeps h_{t-1} (eq:gru-hidden-state), the GRU's
        counterpart of a large forget-gate bias with a closed input gate.
        """
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}"
            )
        D, H = input_size, hidden_size
        rng = np.random.default_rng(seed)
        k = 1.0 / math.sqrt(H)
        W_ih, W_hh = rng.uniform(-k, k, (3 * H, D)), rng.uniform(-k, k, (3 * H, H))
        b_ih, b_hh = rng.uniform(-k, k, 3 * H), rng.uniform(-k, k, 3 * H)
        b_ih[H : 2 * H] += update_bias  # the update gate's slice, order r, z, n
        return cls(*(a.astype(dtype) for a in (W_ih, W_hh, b_ih, b_hh)))

    # --- the per-gate form ------------------------------------------------------------
    def gate_slice(self, gate: str) -> slice:
        """Rows of the stacked weights and biases that belong to ``gate`` (``"r"``, ``"z"``, ``"n"``)."""
        if gate not in GRU_GATES:
            raise ValueError(f"gate must be one of {GRU_GATES}, got {gate!r}")
        H = self.hidden_size
        k = GRU_GATES.index(gate)
        return slice(k * H, (k + 1) * H)

    def gate(self, gate: str) -> tuple:
        """The arguments of one gate's function after ``(x, h_prev)``.

        ``"r"``, ``"z"``: ``(W (H, H + D) = [W_hh[k] | W_ih[k]], b (H,) = b_ih[k] + b_hh[k])``;
        ``"n"``: ``(W_in (H, D), b_in (H,), W_hn (H, H), b_hn (H,))``.
        """
        k = self.gate_slice(gate)
        if gate == "n":
            return self.W_ih[k], self.b_ih[k], self.W_hh[k], self.b_hh[k]
        return _concat([self.W_hh[k], self.W_ih[k]], axis=1), self.b_ih[k] + self.b_hh[k]

    # --- torch.nn.GRU / nn.GRUCell --------------------------------------------------------
    @classmethod
    def from_torch(cls, module, *, as_tensors: bool = False) -> "GRUParams":
        """Parameters of a single-layer ``nn.GRU`` or an ``nn.GRUCell``, both biases kept.

        A module built with ``bias=False`` gives zero biases. Returns NumPy arrays of the
        module's dtype, or detached tensor copies on its device with ``as_tensors=True``.
        """
        W_ih, W_hh, b_ih, b_hh = _torch_weights(module)
        if b_ih is None:
            b_ih, b_hh = W_ih.new_zeros(W_ih.shape[0]), W_ih.new_zeros(W_ih.shape[0])
        params = cls(*(t.detach().clone() for t in (W_ih, W_hh, b_ih, b_hh)))
        return params if as_tensors else params.map(to_numpy)

    def to_torch(self, kind: str = "gru", *, device=None, dtype=None):
        """A new ``nn.GRU`` (``kind="gru"``) or ``nn.GRUCell`` (``kind="cell"``) with these weights."""
        import torch

        tensors = self.to_tensors(device=device, dtype=dtype)
        D, H = self.input_size, self.hidden_size
        kw = {"device": tensors.W_ih.device, "dtype": tensors.W_ih.dtype}
        if kind == "gru":
            module = torch.nn.GRU(D, H, **kw)
        elif kind == "cell":
            module = torch.nn.GRUCell(D, H, **kw)
        else:
            raise ValueError(f"kind must be 'gru' or 'cell', got {kind!r}")
        self.copy_into(module, tensors)
        return module

    def copy_into(self, module, tensors: "GRUParams | None" = None) -> None:
        """Overwrite a single-layer ``nn.GRU``'s / ``nn.GRUCell``'s weights with these."""
        import torch

        dst = _torch_weights(module)
        if dst[2] is None:
            raise ValueError("the module was built with bias=False; it cannot hold b_ih and b_hh")
        src = tensors or self.to_tensors(device=dst[0].device, dtype=dst[0].dtype)
        for (name, value), target in zip(src.items(), dst):
            if tuple(target.shape) != tuple(value.shape):
                raise ValueError(
                    f"{name} has shape {tuple(value.shape)}; the module expects {tuple(target.shape)}"
                )
        with torch.no_grad():
            for (_, value), target in zip(src.items(), dst):
                target.copy_(value)

    def to_tensors(self, *, device=None, dtype=None) -> "GRUParams":
        """The same parameters as torch tensors (dtype defaults to the arrays' own)."""
        import torch

        def convert(a):
            t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
            return t.to(device=device if device is not None else t.device, dtype=dtype or t.dtype)

        return self.map(convert)

    def to_numpy(self) -> "GRUParams":
        """The same parameters as NumPy arrays."""
        return self.map(to_numpy)


def _torch_weights(module):
    """``(W_ih, W_hh, bias_ih or None, bias_hh or None)`` of a one-layer GRU or GRUCell."""
    import torch

    if isinstance(module, torch.nn.GRUCell):
        return module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh
    # torch.nn.GRU, or lstm_ref.torch_gru.GRU (same parameter names; not imported here: it imports this module)
    is_gru = isinstance(module, torch.nn.GRU) or (type(module).__name__ == "GRU" and hasattr(module, "weight_ih_l0"))
    if not is_gru:
        raise ValueError(f"expected a torch.nn.GRU or nn.GRUCell, got {type(module).__name__}")
    layers = getattr(module, "num_layers", 1)
    if layers != 1 or getattr(module, "bidirectional", False):
        raise ValueError(
            "expected a single-layer, unidirectional GRU; got "
            f"num_layers={layers}, bidirectional={module.bidirectional}"
        )
    return (
        module.weight_ih_l0,
        module.weight_hh_l0,
        getattr(module, "bias_ih_l0", None),
        getattr(module, "bias_hh_l0", None),
    )
