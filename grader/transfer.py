"""What travels between the grading client and its workers: bytes, never shared paths.

A grading task carries the student's submission as ``{relative path: bytes}`` and names
the assignment's trusted template by the SHA-256 of its archive; the archive itself is
sent once per worker (scattered by Dask, or handed over in-process by the local pool) and
unpacked once per machine into a cache keyed by that hash.  The result carries the
autograded notebooks and the feedback pages back the same way, so a worker needs no view
of the course directory and the course directory needs no view of the workers.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_SKIP = {".ipynb_checkpoints", "__pycache__"}
CACHE_DIR = "grader-templates"  # under the worker's temporary directory


@dataclass(frozen=True)
class Bundle:
    """An assignment's template as one archive: ``data`` (tar.gz bytes) and its ``sha256``."""

    sha256: str
    data: bytes


def read_tree(folder: Path, leave=lambda name: False) -> dict[str, bytes]:
    """``{relative posix path: bytes}`` of the regular files under ``folder``, less those
    whose relative path ``leave`` is true of.

    Symlinks are skipped, never followed (a submission's link to an answer key stays
    behind), and so are checkpoint and bytecode folders.  A missing folder is empty.
    """
    files: dict[str, bytes] = {}
    if not folder.is_dir():
        return files
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not os.path.islink(os.path.join(root, d)))
        for name in sorted(names):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not path.is_file() or leave(rel):
                continue
            files[rel] = path.read_bytes()
    return files


def safe_relpath(name: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside its folder, or ValueError saying why not."""
    rel = PurePosixPath(name)
    if not name or rel.is_absolute() or ".." in rel.parts or "\\" in name:
        raise ValueError(f"file name {name!r} in a grading task: expected a relative path inside the folder")
    return rel


def write_tree(files: dict[str, bytes], folder: Path) -> Path:
    """Write ``files`` (as :func:`read_tree` returns them) under ``folder``; return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / safe_relpath(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def digest(files: dict[str, bytes]) -> str:
    """SHA-256 over names and contents: equal for equal submissions, whatever their mtime."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def answer_key(name: str) -> bool:
    """A template's source notebooks are the answer keys: workers need the gradebook (which
    holds the locked cells and hidden tests), the release and the support files, not them."""
    return name.startswith("source/") and name.endswith(".ipynb")


def pack_template(root: Path) -> Bundle:
    """The template folder (gradebook, release, source support files; no answer keys) as a
    tar.gz bundle.

    Entries are sorted and their times and owners zeroed, so equal templates give equal
    hashes and a worker that has one already unpacked reuses it.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for name, data in read_tree(root, leave=answer_key).items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    return Bundle(hashlib.sha256(data).hexdigest(), data)


def template_dir(sha256: str, data: bytes, cache: Path | None = None) -> Path:
    """The unpacked template of hash ``sha256``, unpacked from ``data`` on first use.

    The archive is checked against the hash before it is trusted; unpacking goes to a
    private folder that is then renamed into place, so concurrent tasks on one machine
    never see half a template.
    """
    cache = cache or Path(tempfile.gettempdir()) / CACHE_DIR
    dest = cache / sha256
    if (dest / "gradebook.db").exists():
        os.utime(dest)  # in use: not pruned
        return dest
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"template archive does not match its hash {sha256[:12]}: expected the bytes the client packed")
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=cache))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(staging, filter="data")
    try:
        staging.rename(dest)
    except OSError:  # another task got there first: theirs is the same bytes
        shutil.rmtree(staging, ignore_errors=True)
    prune(cache, keep=dest)
    return dest


def prune(cache: Path, keep: Path, max_age_s: float = 86400) -> None:
    """Remove templates (and half-unpacked ones) not used for ``max_age_s`` seconds: every
    build of a template has a hash of its own, since its gradebook records times."""
    now = time.time()
    for entry in cache.iterdir():
        try:
            stale = entry != keep and now - entry.stat().st_mtime > max_age_s
        except FileNotFoundError:  # pruned by another task meanwhile
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
