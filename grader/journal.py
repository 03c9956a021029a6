"""Which students a grading run has committed, so that a run that was stopped resumes.

The client appends one line per student to ``.grader/<assignment>.jsonl`` of the course
right after that student's scores are committed to the gradebook, and removes the file
once every student of the assignment is committed.  A file that is still there at the
next run means the last run was stopped (client killed, machine rebooted) or left
students not graded (workers lost): that run grades again only the students without a
line for the same submission (the SHA-256 of its files) under the same settings (answer
keys, course configuration, limits, gradebook).  The others keep the scores already
committed, which are what grading them again would give.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

JOURNAL_DIR = ".grader"


def settings_key(sources_sha256: str, settings: dict) -> str:
    """Hash of what decides a score besides the submission: the template's sources and the limits."""
    blob = json.dumps({"sources": sources_sha256, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Journal:
    """The committed students of one assignment under one settings key."""

    def __init__(self, course_root: Path, assignment: str, key: str):
        self.path = course_root / JOURNAL_DIR / f"{assignment}.jsonl"
        self.key = key

    def committed(self) -> dict[str, dict]:
        """``{student: {"submission": sha256, "row": {...}}}`` under this key; torn lines ignored."""
        if not self.path.exists():
            return {}
        done = {}
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed run may be half written
                continue
            if entry.get("key") == self.key:
                done[entry["student"]] = entry
        return done

    def add(self, student: str, submission: str, row: dict) -> None:
        """Record ``student`` as committed, durably, before the next student is."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"key": self.key, "student": student, "submission": submission, "row": row})
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def finish(self) -> None:
        """Every student is committed: the next run starts afresh."""
        self.path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()
        except OSError:  # other assignments' journals are still there
            pass
