"""lstm_ref.grading: the answer keys pass, every known mistake fails the right tests and is named.

The notebooks' test cells run here in-process (course_cases.run_in_process), with the
answer key's answers or one deliberately wrong answer; tests/test_course.py repeats a
representative few through the real nbgrader.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from course_cases import CHEATS, MISTAKES, NOTEBOOK, answers_with, run_in_process, submissions
from lstm_ref import grading
from lstm_ref import numpy_lstm as ref


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_answer_key_passes_every_test(assignment):
    results = run_in_process(assignment, submissions.key_answers(assignment, NOTEBOOK[assignment]))
    assert results, "no test cell ran"
    assert {k: v for k, v in results.items() if v} == {}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the naive sigmoid's
@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_mistake_fails_exactly_its_tests_and_is_named(mistake):
    results = run_in_process(mistake.assignment, answers_with(mistake))
    failed = {k for k, v in results.items() if v}
    assert failed == set(mistake.fails)
    for test in mistake.fails:
        assert mistake.says in results[test], results[test]


@pytest.mark.parametrize("assignment", sorted(CHEATS))
def test_answers_calling_the_reference_get_no_points(assignment):
    key = submissions.key_answers(assignment, NOTEBOOK[assignment])
    results = run_in_process(assignment, {**key, **CHEATS[assignment]})
    autograded = {k: v for k, v in results.items() if k.removeprefix("test_") in CHEATS[assignment]}  # not the numbers
    assert autograded and all(autograded.values()), f"a cheat passed: {[k for k, v in autograded.items() if not v]}"
    assert all("which this test does not let answers use" in v for v in autograded.values()), autograded


def test_tripwire_restores_the_previous_profiler():
    seen = []
    previous = lambda frame, event, arg: seen.append(event)  # noqa: E731
    sys.setprofile(previous)
    try:
        with pytest.raises(AssertionError, match="numpy_lstm.sigmoid"):
            grading.check_function(ref.sigmoid, "sigmoid")
        assert sys.getprofile() is previous
    finally:
        sys.setprofile(None)


def _own_sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def test_message_gives_shape_and_expected_shape():
    def transposed(o, c):
        return (o * np.tanh(c)).T

    with pytest.raises(AssertionError) as err:
        grading.check_function(transposed, "hidden_state")
    assert "output h has shape (4, 1); expected (1, 4)" in str(err.value)


def test_message_gives_the_largest_error_and_where():
    def off_by_a_bit(o, c):
        out = o * np.tanh(c)
        out[0, 2] += 0.25
        return out

    with pytest.raises(AssertionError) as err:
        grading.check_function(off_by_a_bit, "hidden_state")
    assert "largest error 0.25 at index (0, 2)" in str(err.value)
    assert "No known mistake matches" in str(err.value)


def test_wrong_return_structure_says_what_to_return():
    def no_cache(x, h_prev, c_prev, params):
        return h_prev, c_prev

    with pytest.raises(AssertionError, match=r"must return \(h, c, cache\)"):
        grading.check_function(no_cache, "lstm_step")


def test_float32_result_is_reported():
    with pytest.raises(AssertionError, match="dtype float32 for float64 inputs"):
        grading.check_function(lambda z: _own_sigmoid(z).astype(np.float32), "sigmoid")


def test_unknown_function_and_backend_raise_value_error():
    with pytest.raises(ValueError, match="no check for 'lstm_stepp'"):
        grading.check_function(_own_sigmoid, "lstm_stepp")
    with pytest.raises(ValueError, match="backend must be"):
        grading.check_function(_own_sigmoid, "sigmoid", backend="jax")


def test_correct_sigmoid_passes_visible_and_hidden_cases():
    grading.check_function(_own_sigmoid, "sigmoid")
    grading.check_function(_own_sigmoid, "sigmoid", hidden=True)


def test_cases_cover_batch_of_one_unequal_sizes_and_large_inputs():
    cases = grading.CASES + grading.HIDDEN_CASES
    assert any(c.N == 1 for c in grading.CASES)
    assert any(c.D != c.H for c in grading.CASES)
    assert any(c.scale >= 100 for c in grading.CASES)
    assert any(not c.initial_state for c in cases) and any(c.initial_state for c in cases)


def test_memory_task_is_seeded_and_rejects_a_guessing_model():
    import torch

    x1, y1 = grading.memory_task(20, 8, seed=3)
    x2, y2 = grading.memory_task(20, 8, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(x1[0, :, 0], y1 * 2.0 - 1.0)
    with pytest.raises(AssertionError, match="accuracy on fresh sequences"):
        grading.check_memory_task(lambda x: torch.zeros(x.shape[1], 2))
    # A model that reads the bit off the first step is what the check must accept.
    grading.check_memory_task(lambda x: torch.stack([-x[0, :, 0], x[0, :, 0]], dim=1))


def test_every_gru_and_numeric_mistake_has_a_topic_of_the_book():
    """The GRU catalogue and the numeric questions' wrong values each point to a place in the book."""
    from lstm_ref.grading import gru_checks, gru_mistakes, mistakes, numeric

    found = []
    for name in gru_checks.OUTPUTS:
        args = gru_checks.gru_inputs(name, grading.CASES[0])
        found += [d for d, _ in gru_mistakes.gru_mistakes(name, args)]
    for question in numeric.QUESTIONS.values():
        assert question.topic in mistakes.SEE
        found += [d for d, _ in question.wrong()]
    assert len(found) > 60
    assert [d for d in found if getattr(d, "topic", None) not in mistakes.SEE] == []
