"""Autograding that survives hostile and broken submissions (see book/autograder.md).

``python -m grader grade`` runs nbgrader's autograde, feedback and export over a course,
one sandboxed temporary course per student; ``python -m grader bench`` measures throughput.
"""
