"""LSTM variants behind one switch, for the ablation chapter (Greff et al. 2017).

All variants share ``lstm_ref``'s parameter layout (``LSTMParams``: ``W_ih (4H, D)``,
``W_hh (4H, H)``, ``b (4H,)``, gates stacked i, f, g, o) and its fused pre-activation
``a_t = W_ih x_t + W_hh h_{t-1} + b`` (eq:fused-preactivation); they differ only in
what is done with the four slices of ``a_t``:

=============  =======================================================================
``plain``      the cell of ``lstm_ref.torch_lstm`` (forget gate, no peepholes); the
               default. ``"vanilla"`` is accepted as another name for it.
``nfg``        no forget gate: f_t ≡ 1, the 1997 cell's constant error carousel
               (eq:variant-nfg); the forget rows of the weights are unused.
``noaf``       no output activation: h_t = o_t ⊙ c_t (eq:variant-noaf).
``cifg``       coupled input and forget gate: f_t = 1 − i_t (eq:variant-cifg); the
               forget rows are unused.
``peephole``   the gates also see the cell: i_t, f_t from c_{t-1} and o_t from c_t
               through diagonal weights p_i, p_f, p_o (eq:variant-peephole).
=============  =======================================================================

``forget_bias`` (added to the forget-gate bias at initialisation) is the fifth knob: 0
or 1 (Jozefowicz et al. 2015).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import TORCH, check_arrays, param_specs
from .params import LSTMParams

__all__ = [
    "VARIANTS",
    "VariantTrace",
    "canonical_variant",
    "variant_cell",
    "variant_forward",
    "VariantLSTM",
]

VARIANTS = ("plain", "nfg", "noaf", "cifg", "peephole")
_ALIASES = {"vanilla": "plain"}


def canonical_variant(variant: str) -> str:
    """The variant's name in ``VARIANTS`` (``"vanilla"`` -> ``"plain"``).

    Raises ValueError for an unknown name.
    """
    name = _ALIASES.get(variant, variant)
    if name not in VARIANTS:
        raise ValueError(
            f"variant={variant!r} is unknown; expected one of {VARIANTS} "
            "(or 'vanilla' = 'plain')"
        )
    return name


def variant_cell(
    a: Tensor, c_prev: Tensor, variant: str = "plain", peep: Tensor | None = None
):
    """Gates, cell and hidden state of one step from the fused pre-activation ``a``.

    For ``plain`` these are the operations of the reference cell (eq:input-gate ..
    eq:hidden-state), in the same order, so the results agree to the last bit.

    Parameters
    ----------
    a : (N, 4H) tensor, a_t in gate order i, f, g, o (eq:fused-preactivation)
    c_prev : (N, H) tensor, c_{t-1}
    variant : one of ``VARIANTS`` (already canonical)
    peep : (3, H) tensor of peephole weights p_i, p_f, p_o, only for ``peephole``

    Returns
    -------
    i, f, g, o, c, h : (N, H) tensors
    """
    H = c_prev.shape[1]
    # slices (N, H) of a, in the order i, f, g, o
    a_i, a_f, a_o = a[:, :H], a[:, H : 2 * H], a[:, 3 * H :]
    if variant == "peephole":
        a_i = a_i + peep[0] * c_prev  # (eq:variant-peephole)
        a_f = a_f + peep[1] * c_prev
    i = torch.sigmoid(a_i)  # (eq:input-gate)
    if variant == "nfg":
        f = torch.ones_like(i)  # (eq:variant-nfg): the cell is never reset
    elif variant == "cifg":
        f = 1.0 - i  # (eq:variant-cifg): write and forget as much
    else:
        f = torch.sigmoid(a_f)  # (eq:forget-gate)
    g = torch.tanh(a[:, 2 * H : 3 * H])  # (eq:candidate)
    c = f * c_prev + i * g  # (eq:cell-state)
    if variant == "peephole":
        # the output gate looks at the new cell (eq:variant-peephole)
        a_o = a_o + peep[2] * c
    o = torch.sigmoid(a_o)  # (eq:output-gate)
    # (eq:variant-noaf) / (eq:hidden-state)
    h = o * c if variant == "noaf" else o * torch.tanh(c)
    return i, f, g, o, c, h


class VariantTrace(NamedTuple):
    """Everything a variant computed over a sequence, for plots and gradient probes."""

    hs: list[Tensor]  # h_1 .. h_T, each (N, H), as they entered the next step
    cs: list[Tensor]  # c_1 .. c_T, each (N, H)
    gates: Tensor  # (T, N, 4H): i, f, g, o after their nonlinearities


def variant_forward(
    x: Tensor,
    params: LSTMParams,
    variant: str = "plain",
    peep: Tensor | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
):
    """Run an LSTM variant over a sequence (:func:`variant_cell` at t = 1..T).

    Autograd differentiates it (there is no hand-written backward); the ``plain``
    variant returns the same ``hs`` and final states as
    ``lstm_ref.torch_lstm.lstm_forward``.

    Parameters
    ----------
    x : (T, N, D) tensor, time-major
    params : LSTMParams of tensors, W_ih (4H, D), W_hh (4H, H), b (4H,)
    variant : one of ``VARIANTS`` or ``"vanilla"``
    peep : (3, H) tensor, peephole weights; required for ``peephole`` and only for it
    h0, c0 : (N, H) tensors, initial states (zeros when None)

    Returns
    -------
    hs : (T, N, H) tensor
    (h_T, c_T) : (N, H) tensors
    trace : VariantTrace with the per-step states and gates
    """
    variant = canonical_variant(variant)
    if (peep is not None) != (variant == "peephole"):
        shape = "None" if peep is None else tuple(peep.shape)
        raise ValueError(
            "peep must be a (3, H) tensor for variant 'peephole' and None otherwise; "
            f"got variant={variant!r}, peep={shape}"
        )
    like = params.W_hh
    N = x.shape[1] if isinstance(x, Tensor) and x.ndim == 3 else 0
    h0 = like.new_zeros((N, params.hidden_size)) if h0 is None else h0
    c0 = like.new_zeros((N, params.hidden_size)) if c0 is None else c0
    extra = {} if peep is None else {"peep": (peep, ("3", "H"))}
    check_arrays(
        TORCH,
        **param_specs(params),
        x=(x, ("T", "N", "D")),
        h0=(h0, ("N", "H")),
        c0=(c0, ("N", "H")),
        **extra,
    )
    T, N, D = x.shape
    H = params.hidden_size
    # W_ih x_t + b for all steps at once, hoisted out of the loop as in lstm_forward
    ax = (x.reshape(T * N, D) @ params.W_ih.T + params.b).reshape(T, N, 4 * H)
    hs, cs, gates = [], [], []
    h, c = h0, c0
    for t in range(T):
        i, f, g, o, c, h = variant_cell(ax[t] + h @ params.W_hh.T, c, variant, peep)
        hs.append(h)
        cs.append(c)
        gates.append(torch.cat([i, f, g, o], dim=1))
    return torch.stack(hs), (h, c), VariantTrace(hs, cs, torch.stack(gates))


class VariantLSTM(nn.Module):
    """Single-layer LSTM of any variant; ``forward`` returns what ``nn.LSTM`` returns.

    Parameters
    ----------
    input_size, hidden_size : D and H
    variant : one of ``VARIANTS`` (``"vanilla"`` = ``"plain"``)
    forget_bias : added to the forget-gate bias at initialisation; ``cifg`` has no
        forget bias of its own, so it subtracts it from the input-gate bias instead
        (f = 1 − i then starts near σ(forget_bias), as the others); ``nfg`` ignores it
    seed : seed of the initial weights (``LSTMParams.init``); None draws it from
        torch's RNG, so ``torch.manual_seed`` makes the module reproducible

    Parameters of the module: ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b (4H,)`` and, for
    ``peephole``, ``peep (3, H)``, all U(-1/√H, 1/√H) like ``nn.LSTM``'s.
    ``forward(x (T, N, D), hx=None) -> (hs (T, N, H), (h_n (1, N, H), c_n (1, N, H)))``;
    the last forward's ``VariantTrace`` is kept in ``self.trace``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        variant: str = "plain",
        forget_bias: float = 0.0,
        seed: int | None = None,
    ):
        super().__init__()
        self.variant = canonical_variant(variant)
        self.forget_bias = float(forget_bias)
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, ()))
        init = LSTMParams.init(
            input_size, hidden_size, seed=seed, forget_bias=forget_bias
        ).to_tensors(dtype=torch.float32)
        if self.variant == "cifg":
            # f = 1 - σ(a_i) = σ(-a_i): start f at σ(b_f) through the input bias
            init.b[:hidden_size] -= self.forget_bias
        self.W_ih, self.W_hh, self.b = (nn.Parameter(t) for t in init)
        if self.variant == "peephole":
            k = 1.0 / math.sqrt(hidden_size)
            rng = np.random.default_rng(seed + 1)
            peep = rng.uniform(-k, k, (3, hidden_size))  # p_i, p_f, p_o
            self.peep = nn.Parameter(torch.from_numpy(peep).float())
        else:
            self.register_parameter("peep", None)
        self.trace: VariantTrace | None = None

    @property
    def params(self) -> LSTMParams:
        """The weights as an ``LSTMParams`` of (trainable) tensors."""
        return LSTMParams(self.W_ih, self.W_hh, self.b)

    def extra_repr(self) -> str:
        D, H = self.W_ih.shape[1], self.W_hh.shape[1]
        return f"{D}, {H}, variant={self.variant!r}, forget_bias={self.forget_bias}"

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        h0, c0 = (None, None) if hx is None else (hx[0][0], hx[1][0])
        hs, (h, c), self.trace = variant_forward(
            x, self.params, self.variant, self.peep, h0, c0
        )
        return hs, (h[None], c[None])
