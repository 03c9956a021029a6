"""Properties that hold for any sizes and inputs (hypothesis)."""
from __future__ import annotations

import warnings

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lstm_ref import LSTMParams
from lstm_ref import numpy_lstm as nl
from lstm_ref import torch_lstm as tl

sizes = st.tuples(
    st.integers(1, 6),  # T
    st.integers(1, 4),  # N
    st.integers(1, 5),  # D
    st.integers(1, 5),  # H
)
scales = st.sampled_from([0.1, 1.0, 10.0, 100.0])


def _problem(T, N, D, H, seed, scale):
    rng = np.random.default_rng(seed)
    params = LSTMParams.init(D, H, seed=seed)
    params = params.map(lambda a: a * scale)
    x = scale * rng.normal(size=(T, N, D))
    h0 = rng.uniform(-1, 1, size=(N, H))
    c0 = scale * rng.normal(size=(N, H))
    return params, x, h0, c0


@settings(max_examples=60, deadline=None)
@given(sizes, st.integers(0, 2**16), scales)
def test_gates_are_in_unit_interval_and_h_is_bounded(size, seed, scale):
    T, N, D, H = size
    params, x, h0, c0 = _problem(T, N, D, H, seed, scale)
    hs, (h_T, c_T), cache = nl.lstm_forward(x, params, h0, c0)
    i, f, g, o = np.split(cache.gates, 4, axis=2)
    for gate in (i, f, o):  # σ of a finite number is in [0, 1]; saturates to 0 or 1 only in float
        assert np.all((gate >= 0) & (gate <= 1))
    assert np.all(np.abs(g) <= 1)
    assert np.all(np.abs(hs) <= 1) and np.all(np.isfinite(cache.cs))
    assert hs.shape == (T, N, H) and h_T.shape == c_T.shape == (N, H)
    np.testing.assert_array_equal(hs[-1], h_T)


@settings(max_examples=40, deadline=None)
@given(sizes, st.integers(0, 2**16))
def test_moderate_inputs_keep_gates_strictly_inside(size, seed):
    T, N, D, H = size
    params, x, h0, c0 = _problem(T, N, D, H, seed, 1.0)
    hs, _, cache = nl.lstm_forward(x, params, h0, c0)
    i, f, g, o = np.split(cache.gates, 4, axis=2)
    for gate in (i, f, o):
        assert np.all((gate > 0) & (gate < 1))
    assert np.all(np.abs(hs) < 1)


@settings(max_examples=40, deadline=None)
@given(sizes, st.integers(0, 2**16), scales)
def test_per_gate_functions_equal_the_fused_step(size, seed, scale):
    _, N, D, H = size
    params, x, h0, c0 = _problem(1, N, D, H, seed, scale)
    h, c, cache = nl.lstm_step(x[0], h0, c0, params)
    gates = {
        "i": nl.input_gate(x[0], h0, *params.gate("i")),
        "f": nl.forget_gate(x[0], h0, *params.gate("f")),
        "g": nl.candidate(x[0], h0, *params.gate("g")),
        "o": nl.output_gate(x[0], h0, *params.gate("o")),
    }
    for name, value in gates.items():
        np.testing.assert_allclose(value, getattr(cache, name), rtol=1e-12, atol=1e-12)
    c_manual = nl.cell_state(gates["f"], c0, gates["i"], gates["g"])
    np.testing.assert_allclose(c_manual, c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nl.hidden_state(gates["o"], c_manual), h, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(sizes, st.integers(0, 2**16))
def test_sequence_forward_equals_looping_the_step(size, seed):
    T, N, D, H = size
    params, x, h0, c0 = _problem(T, N, D, H, seed, 1.0)
    hs, (h_T, c_T), _ = nl.lstm_forward(x, params, h0, c0)
    h, c = h0, c0
    for t in range(T):
        h, c, _ = nl.lstm_step(x[t], h, c, params)
        np.testing.assert_allclose(hs[t], h, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_T, c, rtol=1e-12, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e4, 1e4)))
def test_sigmoid_is_stable_and_matches_torch(z):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        s = nl.sigmoid(z)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s, torch.sigmoid(torch.from_numpy(z)).numpy(), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(tl.sigmoid(torch.from_numpy(z)).numpy(), s, rtol=1e-15, atol=1e-300)


def test_sigmoid_extremes_without_warnings():
    z = np.array([-1000.0, -745.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = nl.sigmoid(z)
        s32 = nl.sigmoid(z.astype(np.float32))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    assert s32.dtype == np.float32 and s32[0] == 0.0 and s32[-1] == 1.0
