"""Bad input raises ValueError naming the argument, the shape it has and the shape expected;
never a silent broadcast."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_ref import LSTMParams
from lstm_ref import numpy_lstm as nl
from lstm_ref import torch_lstm as tl

T, N, D, H = 5, 3, 4, 2


@pytest.fixture(params=["numpy", "torch"])
def backend(request):
    """``(module, convert)`` for one backend; convert turns NumPy arrays into its arrays."""
    if request.param == "numpy":
        return nl, lambda a: a
    return tl, lambda a: torch.from_numpy(np.ascontiguousarray(a))


def _inputs(convert, dtype=np.float64):
    rng = np.random.default_rng(0)
    params = LSTMParams.init(D, H, seed=0, dtype=dtype).map(convert)
    x = convert(rng.normal(size=(T, N, D)).astype(dtype))
    h = convert(np.zeros((N, H), dtype=dtype))
    return params, x, h


def test_wrong_input_features(backend):
    lstm, convert = backend
    params, x, _ = _inputs(convert)
    with pytest.raises(ValueError, match=r"x has shape \(5, 3, 3\); expected \(T, N, D\) = \(5, 3, 4\)"):
        lstm.lstm_forward(x[:, :, :3], params)


def test_wrong_number_of_dimensions(backend):
    lstm, convert = backend
    params, x, _ = _inputs(convert)
    with pytest.raises(ValueError, match=r"x has shape \(3, 4\) \(2-D\); expected \(T, N, D\) \(3-D\)"):
        lstm.lstm_forward(x[0], params)


def test_initial_state_that_would_broadcast_is_rejected(backend):
    """h0 of shape (1, H) would broadcast over the batch; it must be refused instead."""
    lstm, convert = backend
    params, x, h = _inputs(convert)
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 2\); expected \(N, H\) = \(3, 2\)"):
        lstm.lstm_forward(x, params, h0=h[:1])
    with pytest.raises(ValueError, match=r"c_prev has shape \(3, 1\); expected \(N, H\) = \(3, 2\)"):
        lstm.lstm_step(x[0], h, h[:, :1], params)


def test_inconsistent_params(backend):
    lstm, convert = backend
    params, x, _ = _inputs(convert)
    bad = LSTMParams(params.W_ih, params.W_hh, params.b[:-1])
    with pytest.raises(ValueError, match=r"params.b has shape \(7,\); expected \(4H,\) = \(8,\)"):
        lstm.lstm_forward(x, bad)
    bad = LSTMParams(params.W_ih[:-1], params.W_hh, params.b)
    with pytest.raises(ValueError, match=r"params.W_ih has shape \(7, 4\); expected \(4H, D\) = \(8, 4\)"):
        lstm.lstm_forward(x, bad)


def test_per_gate_weight_in_the_wrong_concatenation_shape(backend):
    lstm, convert = backend
    params, x, h = _inputs(convert)
    W_f, b_f = params.gate("f")
    with pytest.raises(ValueError, match=r"W_f has shape \(6, 2\); expected \(H, H\+D\) = \(2, 6\)"):
        lstm.forget_gate(x[0], h, W_f.T, b_f)
    with pytest.raises(ValueError, match=r"b_g has shape \(3,\); expected \(H,\) = \(2,\)"):
        lstm.candidate(x[0], h, *params.gate("g")[:1], convert(np.zeros(3)))


def test_cell_and_hidden_state_shapes(backend):
    lstm, convert = backend
    _, _, h = _inputs(convert)
    with pytest.raises(ValueError, match=r"g has shape \(2, 2\); expected \(N, H\) = \(3, 2\)"):
        lstm.cell_state(h, h, h, h[:2])
    with pytest.raises(ValueError, match=r"c has shape \(3,\) \(1-D\)"):
        lstm.hidden_state(h, h[:, 0])


def test_mixed_dtypes(backend):
    lstm, convert = backend
    params, x, _ = _inputs(convert)
    x32 = x.astype(np.float32) if isinstance(x, np.ndarray) else x.float()
    with pytest.raises(ValueError, match=r"x has dtype .*float32; expected .*float64 \(the dtype of params.W_hh\)"):
        lstm.lstm_forward(x32, params)


def test_integer_arrays_and_wrong_types(backend):
    lstm, convert = backend
    params, x, _ = _inputs(convert)
    x_int = x.astype(np.int64) if isinstance(x, np.ndarray) else x.long()
    with pytest.raises(ValueError, match=r"x has dtype .*int64; expected a floating-point dtype"):
        lstm.lstm_forward(x_int, params)
    with pytest.raises(ValueError, match=r"x must be a .*, got list"):
        lstm.lstm_forward(x.tolist(), params)


def test_backward_gradient_shapes(backend):
    lstm, convert = backend
    params, x, _ = _inputs(convert)
    hs, _, cache = lstm.lstm_forward(x, params)
    with pytest.raises(ValueError, match=r"dhs has shape \(4, 3, 2\); expected \(T, N, H\) = \(5, 3, 2\)"):
        lstm.lstm_backward(hs[1:], cache)
    h, c, step_cache = lstm.lstm_step(x[0], hs[0], hs[0], params)
    with pytest.raises(ValueError, match=r"dc has shape \(3, 3\); expected \(N, H\) = \(3, 2\)"):
        lstm.lstm_step_backward(h, convert(np.zeros((3, 3))), step_cache)


def test_numpy_backend_refuses_tensors_and_torch_refuses_arrays():
    params, x, _ = _inputs(lambda a: a)
    with pytest.raises(ValueError, match=r"x must be a numpy.ndarray, got Tensor"):
        nl.lstm_forward(torch.from_numpy(x), params)
    with pytest.raises(ValueError, match=r"params.W_hh must be a torch.Tensor, got ndarray"):
        tl.lstm_forward(torch.from_numpy(x), params)


def test_params_conversions_reject_what_they_cannot_hold():
    with pytest.raises(ValueError, match="single-layer"):
        LSTMParams.from_torch(torch.nn.LSTM(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="expected a torch.nn.LSTM or nn.LSTMCell, got GRU"):
        LSTMParams.from_torch(torch.nn.GRU(3, 4))
    with pytest.raises(ValueError, match="kind must be 'lstm' or 'cell'"):
        LSTMParams.init(3, 4).to_torch("gru")
    with pytest.raises(ValueError, match="gate must be one of"):
        LSTMParams.init(3, 4).gate("c")
    with pytest.raises(ValueError, match="input_size and hidden_size must be positive"):
        LSTMParams.init(0, 4)
    with pytest.raises(ValueError, match=r"W_o has shape \(4, 6\); expected \(H, H\+D\) = \(4, 7\)"):
        gates = LSTMParams.init(3, 4).per_gate()
        gates["o"] = (gates["o"][0][:, :6], gates["o"][1])
        LSTMParams.from_gates(gates, input_size=3)


def test_module_rejects_bad_states_and_accepts_packed_sequences():
    module = tl.LSTM(4, 2, dtype=torch.float64)
    x = torch.zeros(5, 3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"h0 has shape \(3, 2\); expected \(num_layers, N, H\) = \(1, 3, 2\)"):
        module(x, (torch.zeros(3, 2, dtype=torch.float64), torch.zeros(1, 3, 2, dtype=torch.float64)))
    with pytest.raises(RuntimeError):  # the same error is also a RuntimeError, as nn.LSTM raises
        module(x, (torch.zeros(3, 2, dtype=torch.float64), torch.zeros(1, 3, 2, dtype=torch.float64)))
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, [5, 4, 3])  # supported: packed in, packed out
    out, _ = module(packed)
    assert isinstance(out, torch.nn.utils.rnn.PackedSequence)
    assert out.batch_sizes.tolist() == packed.batch_sizes.tolist()
