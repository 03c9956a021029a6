"""Reference LSTM for the LSTM course: the single source of truth.

- ``lstm_ref.numpy_lstm`` and ``lstm_ref.torch_lstm``: the same functions (gates, cell,
  step, sequence forward pass, BPTT) on NumPy arrays and torch tensors.
- ``lstm_ref.params.LSTMParams``: weights in ``torch.nn.LSTM``'s layout, conversions.
- ``lstm_ref.gradcheck``: ``rel_error``, centred differences, the stated tolerances.
"""
from .gradcheck import TOLERANCES, max_abs_error, rel_error
from .params import GATES, LSTMParams

__all__ = ["GATES", "LSTMParams", "TOLERANCES", "max_abs_error", "rel_error"]
__version__ = "0.1.0"
