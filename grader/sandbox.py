"""Start a student's IPython kernel inside limits, and (on Linux) inside bubblewrap.

The kernelspec the grader writes for each temporary course runs
``python -m grader.sandbox --workdir W --rundir R [...] -- python -m ipykernel_launcher -f CONN``.
This launcher sets resource limits that are inherited by the kernel (address space, CPU
seconds, processes, file size), asks to be killed with its parent, and then replaces itself
with ``bwrap``, which gives the kernel:

* a new network namespace with no interfaces but a down loopback: no network at all
  (the kernel talks to the grader over Unix sockets, ZMQ's ``ipc`` transport);
* a new PID, IPC and UTS namespace, so it sees and signals none of the host's processes;
* a file system made of read-only system directories, the Python installation, the
  packages the notebooks import (``lstm_ref``), a private ``/tmp``, and only two writable
  directories: the notebook's own working copy and the socket directory.  The course's
  answer keys, gradebook and the other students' work are simply not there;
* when started as root, an unprivileged uid of its own (``--uid``, one per student), so
  the process limit applies to that student alone and nothing root-owned is writable.

With ``--no-bwrap`` only the limits are applied (``make grade GRADE_ARGS=--no-sandbox``).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import signal
import sys
from pathlib import Path

NOBODY = 65534  # the default uid; the grader gives every student a uid of its own
SYSTEM_RO = ["/usr", "/etc", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/opt"]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m grader.sandbox", description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True, help="the notebook's directory (writable, the cwd)")
    p.add_argument("--rundir", required=True, help="directory of the connection file and ipc sockets")
    p.add_argument("--ro", action="append", default=[], help="extra read-only path (repeatable)")
    p.add_argument("--memory-mb", type=int, default=2048, help="address-space limit of the kernel")
    p.add_argument("--cpu-s", type=int, default=300, help="CPU seconds before the kernel is killed")
    p.add_argument("--nproc", type=int, default=256, help="processes+threads of the kernel's uid")
    p.add_argument("--uid", type=int, default=NOBODY, help="unprivileged uid the kernel runs as (when root)")
    p.add_argument("--no-bwrap", action="store_true", help="limits only, no namespaces")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- kernel command")
    args = p.parse_args(argv)
    if args.cmd[:1] == ["--"]:
        args.cmd = args.cmd[1:]
    if not args.cmd:
        p.error("no kernel command after --")
    return args


def set_limits(memory_mb: int, cpu_s: int, nproc: int) -> None:
    """Limits inherited across exec: a runaway cell fails (MemoryError) or is killed (CPU)."""
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    if os.geteuid() == 0:  # the kernel will run under its own uid; for a normal user the
        # limit would count every process the user already has, so it is left alone
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG: if the grader's worker dies, so does the kernel (no orphans)."""
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def python_paths() -> list[str]:
    """Directories the kernel's Python needs: the venv, the base install, imported packages."""
    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    import importlib.util

    for name in ("lstm_ref",):
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            paths.update(spec.submodule_search_locations)
    return sorted(p for p in paths if p and os.path.exists(p))


def parent_dirs(paths: list[str]) -> list[str]:
    """``--dir`` for the parents of bind mounts, world-traversable (bwrap makes them 0700)."""
    covered = [p for p in SYSTEM_RO if os.path.isdir(p)]
    parents: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent != "/" and not any(parent == c or parent.startswith(c + "/") for c in covered):
            parents.add(parent)
            parent = os.path.dirname(parent)
    argv: list[str] = []
    for parent in sorted(parents, key=lambda p: p.count("/")):
        argv += ["--perms", "0755", "--dir", parent]
    return argv


def bwrap_argv(args: argparse.Namespace) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SystemExit("grader.sandbox: bubblewrap (bwrap) is not installed; apt-get install bubblewrap, or grade with --no-sandbox")
    argv = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--hostname", "sandbox"]
    for path in SYSTEM_RO:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    binds = [("--ro-bind", p) for p in python_paths() + args.ro] + [("--bind", p) for p in (args.workdir, args.rundir)]
    argv += parent_dirs([p for _, p in binds])
    for flag, path in sorted(binds, key=lambda b: b[1].count("/")):
        argv += [flag, path, path]
    argv += ["--chdir", args.workdir, "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp"]
    if os.geteuid() == 0:
        # bwrap drops every capability of a root caller; keep just enough to become nobody
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                 shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={args.uid}", f"--regid={args.uid}",
                 "--clear-groups", "--inh-caps=-all"]
    else:
        argv += ["--"]
    return argv + args.cmd


def prepare_dirs(args: argparse.Namespace) -> None:
    """Let the kernel's uid write the two writable directories and read the connection file."""
    if os.geteuid() != 0:
        return
    for path in (args.workdir, args.rundir):
        for root, dirs, files in os.walk(path):
            os.chown(root, args.uid, args.uid)
            for name in files:
                os.chown(os.path.join(root, name), args.uid, args.uid)


def preflight() -> str | None:
    """Why the sandbox cannot work on this machine, or None when it can.

    Checked once before grading: without it every kernel would die at start and every
    student would get 0.
    """
    import subprocess

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap (or grade with --no-sandbox)"
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bubblewrap cannot create namespaces here ({probe.stderr.strip()}); grade with --no-sandbox"
    return None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for var in THREAD_VARS:  # one thread per kernel: graders run one kernel per core
        os.environ[var] = "1"
    # in a PID namespace the kernel's parent is bwrap's init (pid 1), which ipykernel's
    # parent poller takes for "orphaned"; --die-with-parent does that job instead
    os.environ.pop("JPY_PARENT_PID", None)
    # without JPY_PARENT_PID ipykernel prints its connection banner on fd 1, into the
    # instructor's terminal; learners' output reaches the notebook over ZMQ, not through it
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    die_with_parent()
    if args.no_bwrap:
        set_limits(args.memory_mb, args.cpu_s, args.nproc)
        os.chdir(args.workdir)
        os.execvp(args.cmd[0], args.cmd)
    prepare_dirs(args)
    argv = bwrap_argv(args)
    set_limits(args.memory_mb, args.cpu_s, args.nproc)
    # jupyter_client interrupts a cell with SIGINT to the kernel's whole process group, which
    # bwrap is in: bwrap has no handler and would die, taking the kernel with it (so every
    # timed-out cell cost a restart).  Ignored here, and so in bwrap; ipykernel installs its
    # own handler while it runs a cell, so the cell still gets its KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
