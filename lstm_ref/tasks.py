"""Synthetic long-lag tasks of Hochreiter & Schmidhuber (1997), as seeded generators.

Both tasks put the information the answer needs at the *start* of a long sequence and
ask for the answer only at its *end*, so a model can solve them only by carrying
something across the whole lag. Batches are time-major, ``x (T, N, D)``, like the rest
of ``lstm_ref``.

- :func:`adding_problem` (the paper's Experiment 4): pairs (value, marker); the target
  is ``0.5 + (X₁ + X₂) / 4`` of the two marked values, judged correct when
  ``|error| < 0.04``.
- :func:`temporal_order` (Experiment 6a): the class of a sequence is the order in which
  the symbols X and Y occur at two far-apart, randomly placed steps.

Generation runs on CPU from a ``torch.Generator`` (so a seed gives the same batch on any
machine) and the result is moved to ``device``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ADDING_TOLERANCE",
    "AddingBatch",
    "OrderBatch",
    "ORDER_SYMBOLS",
    "adding_problem",
    "adding_target",
    "make_generator",
    "temporal_order",
]

#: A sequence of the adding problem counts as correct when |y_hat - y| < 0.04.
ADDING_TOLERANCE = 0.04

#: Input alphabet of the temporal-order task (one-hot, in this order).
ORDER_SYMBOLS = ("E", "B", "a", "b", "c", "d", "X", "Y")


class AddingBatch(NamedTuple):
    """One batch of the adding problem."""

    x: Tensor  # (L, N, 2): [:, :, 0] values in [-1, 1], [:, :, 1] markers in {-1, 0, 1}
    y: Tensor  # (N, 1): 0.5 + (X1 + X2) / 4, in [0, 1]
    # (N, 2) long: steps of X1 (among the first 10) and X2 (before T/2 - 1)
    positions: Tensor


class OrderBatch(NamedTuple):
    """One batch of the temporal-order task."""

    x: Tensor  # (L, N, 8): one-hot symbols in the order of ORDER_SYMBOLS
    y: Tensor  # (N,) long: class 0..3 = XX, XY, YX, YY
    positions: Tensor  # (N, 2) long: steps of the two relevant symbols


def make_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``: one per stream of batches."""
    return torch.Generator().manual_seed(int(seed))


def _sequence_length(T: int, vary_length: bool, gen: torch.Generator) -> int:
    """T, or (paper) a length drawn uniformly from [T, T + T/10], one per batch."""
    if not vary_length:
        return T
    return T + int(torch.randint(0, T // 10 + 1, (), generator=gen))


def _check_sizes(name: str, T: int, N: int, T_min: int) -> None:
    if int(T) != T or T < T_min:
        raise ValueError(
            f"T={T!r}: the {name} needs an integer sequence length T >= {T_min}"
        )
    if int(N) != N or N < 1:
        raise ValueError(f"N={N!r}: expected a positive integer batch size")


def adding_target(x1: Tensor, x2: Tensor) -> Tensor:
    """Target of the adding problem, ``0.5 + (X₁ + X₂) / 4`` (eq:adding-target).

    The sum of the two marked values, scaled into [0, 1].
    """
    return 0.5 + (x1 + x2) / 4.0


def adding_problem(
    T: int,
    N: int,
    gen: torch.Generator,
    *,
    vary_length: bool = False,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> AddingBatch:
    """A batch of the adding problem (Hochreiter & Schmidhuber 1997, Experiment 4).

    Every step carries a pair: a value drawn uniformly from [-1, 1] and a marker. Two
    steps are marked with 1: X₁ at one of the first 10 steps, X₂ at one of the first
    T/2 − 1 steps other than X₁'s. The first and last step carry the marker −1 (unless
    the first is marked), all others 0. A marked first step has its value set to 0, as
    in the paper. The target at the last step is ``0.5 + (X₁ + X₂) / 4``; X₂ is at step
    T/2 − 1 at the latest (counting from 1), so the answer comes at least T/2 + 1 steps
    after it (the paper's "minimal time lag T/2").

    Parameters
    ----------
    T : int >= 22, (minimal) sequence length; T/2 − 1 >= 10 so X₂ can avoid X₁'s step
    N : int, batch size
    gen : torch.Generator (see :func:`make_generator`); the batch depends only on its
        state
    vary_length : if True, the length L is drawn from [T, T + T/10] once per batch, as
        the paper does per sequence (one length per batch keeps the batch rectangular)

    Returns
    -------
    AddingBatch with x (L, N, 2), y (N, 1), positions (N, 2)
    """
    _check_sizes("adding problem", T, N, T_min=22)
    L = _sequence_length(T, vary_length, gen)
    values = torch.rand(L, N, generator=gen) * 2.0 - 1.0  # (L, N), U[-1, 1]
    p1 = torch.randint(0, 10, (N,), generator=gen)  # X1 among the first 10 steps
    # X2 uniform over the first T/2 - 1 steps except p1: draw from one step fewer,
    # then skip p1.
    p2 = torch.randint(0, T // 2 - 2, (N,), generator=gen)
    p2 = p2 + (p2 >= p1).long()
    markers = torch.zeros(L, N)
    markers[0], markers[-1] = -1.0, -1.0
    cols = torch.arange(N)
    markers[p1, cols] = 1.0
    markers[p2, cols] = 1.0
    # a marked first step adds 0
    values[0] = torch.where(markers[0] == 1.0, 0.0, values[0])
    y = adding_target(values[p1, cols], values[p2, cols]).unsqueeze(1)  # (N, 1)
    x = torch.stack([values, markers], dim=2)  # (L, N, 2)
    positions = torch.stack([p1, p2], dim=1)  # (N, 2)
    return AddingBatch(x.to(device, dtype), y.to(device, dtype), positions.to(device))


def temporal_order(
    T: int,
    N: int,
    gen: torch.Generator,
    *,
    vary_length: bool = False,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> OrderBatch:
    """A batch of the temporal-order task (Hochreiter & Schmidhuber 1997, Exp. 6a).

    A sequence starts with E, ends with B, and is otherwise random symbols from
    {a, b, c, d}, except at two steps t₁ ∈ [T/10, T/5] and t₂ ∈ [T/2, 3T/5] (the
    paper's [10, 20] and [50, 60] for T = 100), which hold X or Y. The class is the
    order: XX, XY, YX or YY.

    Parameters
    ----------
    T : int >= 20, (minimal) sequence length
    N : int, batch size
    gen : torch.Generator
    vary_length : draw the length from [T, T + T/10] once per batch, as the paper does

    Returns
    -------
    OrderBatch with x (L, N, 8) one-hot, y (N,) classes 0..3, positions (N, 2)
    """
    _check_sizes("temporal-order task", T, N, T_min=20)
    L = _sequence_length(T, vary_length, gen)
    symbols = torch.randint(2, 6, (L, N), generator=gen)  # a, b, c, d
    symbols[0], symbols[-1] = 0, 1  # E ... B
    t1 = torch.randint(T // 10, T // 5 + 1, (N,), generator=gen)
    t2 = torch.randint(T // 2, 3 * T // 5 + 1, (N,), generator=gen)
    # the two relevant symbols, 0: X, 1: Y
    first, second = (torch.randint(0, 2, (N,), generator=gen) for _ in range(2))
    cols = torch.arange(N)
    symbols[t1, cols] = 6 + first
    symbols[t2, cols] = 6 + second
    x = torch.nn.functional.one_hot(symbols, len(ORDER_SYMBOLS))  # (L, N, 8)
    y = 2 * first + second  # XX=0, XY=1, YX=2, YY=3
    positions = torch.stack([t1, t2], dim=1)  # (N, 2)
    return OrderBatch(x.to(device, dtype), y.to(device), positions.to(device))


# --- associative recall (book/xlstm.md) -----------------------------------------------
class RecallBatch(NamedTuple):
    """One batch of the associative-recall task."""

    # (L, N, K + V + 1): one-hot key, one-hot value, query flag; L = P + gap + 1
    x: Tensor
    y: Tensor  # (N,) long: the value stored with the queried key, in 0..V-1
    keys: Tensor  # (N, P) long: the keys in the order they were shown, all different
    values: Tensor  # (N, P) long: the value shown with each key
    query: Tensor  # (N,) long: which pair (0..P-1) is asked for


def associative_recall(
    P: int,
    N: int,
    gen: torch.Generator,
    *,
    n_keys: int = 32,
    n_values: int = 8,
    gap: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> RecallBatch:
    """A batch of associative recall: P key-value pairs, then a key; answer its value.

    Step p (p = 0..P-1) shows one pair: a key drawn from ``n_keys`` symbols (the P keys
    of a sequence are all different) and a value drawn from ``n_values`` symbols, both
    one-hot. Then ``gap`` blank steps (all zeros), then the query step: one of the P
    keys, chosen uniformly, with the query flag set. The target is the value that was
    shown with it, so guessing gives accuracy 1 / n_values; a model must hold all P
    pairs until the end, because it does not know which one will be asked for.

    Key and value arrive on the same step, so a cell can bind them without carrying one
    of them over to the next step (a single mLSTM layer could not: its k_t and v_t both
    come from x_t).

    Parameters
    ----------
    P : int >= 1, pairs per sequence; P <= n_keys
    N : int, batch size
    gen : torch.Generator (see :func:`make_generator`)
    n_keys, n_values : int >= 1, sizes of the two alphabets
    gap : int >= 0, blank steps between the last pair and the query

    Returns
    -------
    RecallBatch with x (P + gap + 1, N, n_keys + n_values + 1), y (N,),
    keys and values (N, P), query (N,)
    """
    minimum = {"P": (P, 1), "n_keys": (n_keys, 1), "n_values": (n_values, 1),
               "gap": (gap, 0)}
    for name, (value, low) in minimum.items():
        if int(value) != value or value < low:
            raise ValueError(f"{name}={value!r}: expected an integer >= {low}")
    if P > n_keys:
        raise ValueError(
            f"P={P} pairs need P different keys, but n_keys={n_keys}; "
            "expected P <= n_keys"
        )
    _check_sizes("associative-recall task", P, N, T_min=1)
    # (N, P), distinct in each row
    keys = torch.rand(N, n_keys, generator=gen).argsort(dim=1)[:, :P]
    values = torch.randint(0, n_values, (N, P), generator=gen)  # (N, P)
    query = torch.randint(0, P, (N,), generator=gen)  # (N,)
    rows = torch.arange(N)
    K, V = n_keys, n_values
    x = torch.zeros(P + gap + 1, N, K + V + 1)  # (L, N, K + V + 1)
    one_hot = torch.nn.functional.one_hot
    x[:P, :, :K] = one_hot(keys, K).transpose(0, 1).float()  # (P, N, K)
    x[:P, :, K : K + V] = one_hot(values, V).transpose(0, 1).float()  # (P, N, V)
    x[-1, rows, keys[rows, query]] = 1.0  # the queried key ...
    x[-1, :, -1] = 1.0  # ... with the query flag
    y = values[rows, query]  # (N,)
    return RecallBatch(
        x.to(device, dtype),
        y.to(device),
        keys.to(device),
        values.to(device),
        query.to(device),
    )


__all__ += ["RecallBatch", "associative_recall"]
