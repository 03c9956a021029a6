"""The long-lag task generators: shapes, markers, targets, value ranges, seeds."""
from __future__ import annotations

import pytest
import torch

from lstm_ref.tasks import ORDER_SYMBOLS, adding_problem, make_generator, temporal_order

N_BIG = 4000  # large enough that every allowed marker position occurs


@pytest.fixture(scope="module")
def adding():
    return adding_problem(60, N_BIG, make_generator(0))


def test_adding_shapes_and_dtypes(adding):
    assert adding.x.shape == (60, N_BIG, 2)
    assert adding.y.shape == (N_BIG, 1)
    assert adding.positions.shape == (N_BIG, 2)
    assert adding.x.dtype == adding.y.dtype == torch.float32


def test_adding_values_in_range(adding):
    values = adding.x[:, :, 0]
    assert values.min() >= -1.0 and values.max() <= 1.0
    assert values.std() == pytest.approx((1 / 3) ** 0.5, rel=0.02)  # U[-1, 1]


def test_adding_markers(adding):
    markers = adding.x[:, :, 1]
    assert set(markers.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert ((markers == 1.0).sum(dim=0) == 2).all(), "exactly two marked steps per sequence"
    p1, p2 = adding.positions.T
    cols = torch.arange(N_BIG)
    assert (markers[p1, cols] == 1).all() and (markers[p2, cols] == 1).all()
    assert (p1 != p2).all()
    # X1 among the first 10 steps, X2 among the first T/2 - 1, every position used.
    assert set(p1.tolist()) == set(range(10))
    assert set(p2.tolist()) == set(range(60 // 2 - 1))
    # First and last step carry -1 unless marked; everything else unmarked is 0.
    assert (markers[-1] == -1).all()
    assert ((markers[0] == -1) | (markers[0] == 1)).all()
    middle = markers[1:-1]
    assert ((middle == 0) | (middle == 1)).all()


def test_adding_target_from_the_marked_values(adding):
    values, markers = adding.x[:, :, 0], adding.x[:, :, 1]
    marked_sum = (values * (markers == 1)).sum(dim=0)  # X1 + X2
    torch.testing.assert_close(adding.y[:, 0], 0.5 + marked_sum / 4.0)
    assert adding.y.min() >= 0.0 and adding.y.max() <= 1.0


def test_adding_marked_first_step_adds_zero(adding):
    first_marked = adding.x[0, :, 1] == 1.0
    assert first_marked.any(), "with 4000 sequences some mark the first step"
    assert (adding.x[0, first_marked, 0] == 0).all()


def test_adding_is_reproducible_from_its_seed():
    a = adding_problem(30, 8, make_generator(5), vary_length=True)
    b = adding_problem(30, 8, make_generator(5), vary_length=True)
    c = adding_problem(30, 8, make_generator(6), vary_length=True)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert a.x.shape != c.x.shape or not torch.equal(a.x, c.x)


def test_adding_lengths_vary_between_T_and_T_plus_tenth():
    gen = make_generator(1)
    lengths = {adding_problem(100, 2, gen, vary_length=True).x.shape[0] for _ in range(200)}
    assert lengths == set(range(100, 111))
    assert adding_problem(100, 2, gen).x.shape[0] == 100


@pytest.mark.parametrize("T,N", [(21, 4), (50, 0), (40.5, 2)])
def test_adding_rejects_bad_sizes(T, N):
    with pytest.raises(ValueError, match="T=|N="):
        adding_problem(T, N, make_generator(0))


def test_temporal_order():
    T, N = 100, 2000
    batch = temporal_order(T, N, make_generator(2))
    x, y, (t1, t2) = batch.x, batch.y, batch.positions.T
    assert x.shape == (T, N, len(ORDER_SYMBOLS)) and y.shape == (N,)
    assert (x.sum(dim=2) == 1).all(), "one-hot"
    symbols = x.argmax(dim=2)  # (T, N)
    assert (symbols[0] == ORDER_SYMBOLS.index("E")).all() and (symbols[-1] == ORDER_SYMBOLS.index("B")).all()
    assert set(t1.tolist()) == set(range(10, 21)) and set(t2.tolist()) == set(range(50, 61))
    is_xy = symbols >= ORDER_SYMBOLS.index("X")
    assert (is_xy.sum(dim=0) == 2).all()
    cols = torch.arange(N)
    first_is_y = symbols[t1, cols] == ORDER_SYMBOLS.index("Y")
    second_is_y = symbols[t2, cols] == ORDER_SYMBOLS.index("Y")
    assert torch.equal(y, 2 * first_is_y.long() + second_is_y.long())
    assert set(y.tolist()) == {0, 1, 2, 3}
