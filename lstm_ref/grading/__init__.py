"""Checks behind the exercise notebooks' tests: a learner's function against the reference.

Every check calls the learner's function and the reference on the same random inputs
(several shapes, ``N = 1`` and ``D ≠ H`` among them, large-magnitude inputs, float64).
On a mismatch it raises ``AssertionError`` saying which output is wrong, its shape against
the expected one and the largest error; when the wrong answer equals one of the known
mistakes modelled in ``mistakes`` (gate order, ``[x, h]`` concatenation, missing bias, wrong
nonlinearity, ...) the message names the mistake.

While the learner's code runs, a profiler hook watches for calls into the reference
(``numpy_lstm``, ``torch_lstm``): an answer that delegates to ``lstm_ref`` fails, however
the reference was imported, because the hook compares code objects, not names.

Notebook test cells make one call each::

    grading.check_function(forget_gate, "forget_gate")

The package's modules, in the order a check uses them: ``cases`` (test cases, inputs),
``_tripwire`` (calls into the reference), ``mistakes`` (known wrong answers), ``compare``
(mismatch messages), ``numpy_checks`` and ``torch_checks`` (the checks themselves). The GRU
assignment has its own ``gru_checks`` and ``gru_mistakes``; ``numeric`` checks numbers a
learner computes by hand from the small cases of ``worked``; ``sequence_checks`` measures a
trained model on held-out sequences (06_sequence_models).
"""
from ..gradcheck import TOLERANCES
from ..params import GATES, LSTMParams
from . import gru_checks as _gru_checks, numeric as _numeric, numpy_checks as _np_checks, torch_checks as _torch_checks
from . import sequence_checks as _seq_checks
from . import worked
from ._facing import learner_facing
from .cases import CASES, HIDDEN_CASES, OUTPUTS, Case
from .torch_checks import memory_task

# The checks the notebooks call: a failure shows the learner the message, not our frames.
check_function = learner_facing(_np_checks.check_function)
check_numerical_gradient = learner_facing(_np_checks.check_numerical_gradient)
check_params_from_torch = learner_facing(_np_checks.check_params_from_torch)
check_params_to_torch = learner_facing(_np_checks.check_params_to_torch)
check_device_agnostic = learner_facing(_torch_checks.check_device_agnostic)
check_hidden_grad_norms = learner_facing(_torch_checks.check_hidden_grad_norms)
check_lstm_cell = learner_facing(_torch_checks.check_lstm_cell)
check_memory_task = learner_facing(_torch_checks.check_memory_task)
check_training = learner_facing(_torch_checks.check_training)
check_torch_autograd = learner_facing(_torch_checks.check_torch_autograd)
# 05_gru and the numbers computed by hand (03_bptt, 05_gru)
check_gru = learner_facing(_gru_checks.check_gru)
check_number = learner_facing(_numeric.check_number)
# 06_sequence_models: a trained model on held-out sequences
check_order_model = learner_facing(_seq_checks.check_order_model)
check_order_training = learner_facing(_seq_checks.check_order_training)
check_order_accuracy = learner_facing(_seq_checks.check_order_accuracy)
order_accuracy = _seq_checks.order_accuracy

__all__ = [
    "CASES", "HIDDEN_CASES", "OUTPUTS", "Case",
    "check_function", "check_numerical_gradient", "check_params_from_torch", "check_params_to_torch",
    "check_torch_autograd", "check_device_agnostic", "check_lstm_cell", "check_hidden_grad_norms",
    "memory_task", "check_memory_task", "check_training",
    "check_gru", "check_number", "worked",
    "check_order_model", "check_order_training", "check_order_accuracy", "order_accuracy",
    "GATES", "LSTMParams", "TOLERANCES",
]
