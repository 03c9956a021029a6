"""Grading on a real Dask cluster: a scheduler and two workers on 127.0.0.1, in processes of their own.

The cluster is started and stopped here (``dask scheduler`` and ``dask worker --no-nanny``,
TCP on loopback, the course folder on PYTHONPATH as a deployment has it).  Every run goes
through the command line, ``python -m grader grade --scheduler tcp://...``, and is compared
with local grading (``--jobs 2``) of the very same course folder: scores, gradebook rows and
feedback pages byte for byte, autograded notebooks output for output.  Then the faults: a
worker killed in the middle of a run, the client killed in the middle of a run and started
again, and scheduler addresses that lead nowhere.  Those are slow; the first tests, of the
pieces (bytes in and out, the journal, lost tasks), take a second.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "grader_course"
sys.path.insert(0, str(FIXTURE))
sys.path.insert(0, str(ROOT / "scripts"))
import hostile  # noqa: E402
from submissions import copy_demo  # noqa: E402

DASK = str(Path(sys.executable).parent / "dask")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
LIMITS = ["--cell-timeout", "4", "--memory-mb", "1024", "--student-timeout", "240"]  # as test_grader_hostile

# a mixed class for the fault tests: student -> (notebook bytes, score out of 6)
HALF = dict(hostile.GOOD, sol_add=hostile.WRONG["sol_add"])  # add (1 point) wrong
MIX = {
    "good1": (hostile.dumps(hostile.answered(hostile.GOOD)), 6.0),
    "good2": (hostile.dumps(hostile.answered(hostile.GOOD)), 6.0),
    "half1": (hostile.dumps(hostile.answered(HALF)), 5.0),
    "half2": (hostile.dumps(hostile.answered(HALF)), 5.0),
    "wrong": (hostile.dumps(hostile.answered(hostile.WRONG)), 0.0),
    "loops": (hostile.loops(), 2.0),  # two cells time out: the longest task
}

# --- the pieces, without a cluster -------------------------------------------------------------
def test_page_masks_equal_what_differs_only_by_a_race_or_a_path():
    """The kernel's last prompt before os._exit, and the environment's prefix, are masked."""
    local = "<div>In\u00a0[7]:</div><pre>/tmp/wt/.venv/lib/python3.11/site-packages/IPython/x.py:1</pre>".encode()
    remote = "<div>In\u00a0[\u00a0]:</div><pre>~/v/lib/python3.11/site-packages/IPython/x.py:1</pre>".encode()
    assert mask_page(local) == mask_page(remote)
    assert mask_page(local.replace(b"x.py:1", b"y.py:1")) != mask_page(remote)


def test_read_tree_takes_regular_files_only(tmp_path):
    from grader.transfer import read_tree

    (tmp_path / "sub").mkdir()
    (tmp_path / "ps1.ipynb").write_bytes(b"{}")
    (tmp_path / "sub" / "data.txt").write_bytes(b"x")
    (tmp_path / "key.ipynb").symlink_to(FIXTURE / "solutions" / "ps1" / "ps1.ipynb")  # never followed
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "ps1-checkpoint.ipynb").write_bytes(b"{}")
    assert read_tree(tmp_path) == {"ps1.ipynb": b"{}", "sub/data.txt": b"x"}


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/evil", "a/../../b", ""])
def test_write_tree_refuses_names_outside_its_folder(tmp_path, name):
    from grader.transfer import write_tree

    with pytest.raises(ValueError, match="expected a relative path inside the folder"):
        write_tree({name: b"x"}, tmp_path / "out")


def test_template_bundle_leaves_answer_keys_checks_its_hash_and_is_unpacked_once(tmp_path):
    from grader.transfer import pack_template, template_dir

    root = tmp_path / "template"
    (root / "source" / "ps1").mkdir(parents=True)
    (root / "gradebook.db").write_bytes(b"gradebook")
    (root / "source" / "ps1" / "ps1.ipynb").write_bytes(b"answer key")
    (root / "source" / "ps1" / "data.csv").write_bytes(b"1,2")
    bundle = pack_template(root)
    assert pack_template(root) == bundle  # same files, same bytes, same hash
    with pytest.raises(ValueError, match="does not match its hash"):
        template_dir(bundle.sha256, bundle.data + b"tampered", tmp_path / "cache")
    unpacked = template_dir(bundle.sha256, bundle.data, tmp_path / "cache")
    assert (unpacked / "gradebook.db").read_bytes() == b"gradebook"
    assert (unpacked / "source" / "ps1" / "data.csv").exists()
    assert not (unpacked / "source" / "ps1" / "ps1.ipynb").exists()  # workers never get the keys
    assert template_dir(bundle.sha256, b"", tmp_path / "cache") == unpacked  # cached: the bytes are not read


def test_journal_keeps_its_key_and_survives_a_torn_last_line(tmp_path):
    from grader.journal import Journal, settings_key

    key = settings_key("abc", {"memory_mb": 1024})
    assert key != settings_key("abc", {"memory_mb": 2048}) and key != settings_key("abd", {"memory_mb": 1024})
    journal = Journal(tmp_path, "ps1", key)
    journal.add("ann", "sha-ann", {"student": "ann", "score": 1.0})
    Journal(tmp_path, "ps1", "other").add("bob", "sha-bob", {"student": "bob"})
    with open(journal.path, "a") as f:
        f.write('{"key": "' + key + '", "student": "cy')  # the client died while writing
    assert set(journal.committed()) == {"ann"} and journal.committed()["ann"]["submission"] == "sha-ann"
    journal.finish()
    assert not journal.path.exists() and journal.committed() == {}


class _Pool:
    """A pool whose executor hands out prepared futures, and whose cluster may have gone."""

    def __init__(self, futures, problem=None, slots=1):
        self.futures, self.reason, self.threads, self.sent = iter(futures), problem, slots, []
        self.executor = self

    def submit(self, fn, task, shared):
        from concurrent.futures import Future

        self.sent.append(task)
        return next(self.futures, None) or Future()  # then: tasks that never finish

    def slots(self):
        return self.threads

    def problem(self):
        return self.reason


def test_dispatch_keeps_a_window_and_returns_every_task_once():
    from concurrent.futures import Future

    from grader.dispatch import MIN_WINDOW, dispatch

    futures = [Future() for _ in range(10)]
    for i, f in enumerate(futures):
        f.set_result({"ok": True, "n": i})
    pool = _Pool(futures, slots=3)
    todo = ((f"s{i}", {"n": i}) for i in range(10))
    got = []
    for key, result in dispatch(None, None, todo, pool, poll_s=0.05):
        assert len(pool.sent) - len(got) <= max(MIN_WINDOW, 2 * 3)  # never more in flight
        got.append(key)
    assert sorted(got) == sorted(f"s{i}" for i in range(10)) and len(pool.sent) == 10


def test_lost_tasks_come_back_as_not_graded_and_change_nothing():
    from concurrent.futures import Future

    from grader.commit import NOT_GRADED, commit
    from grader.dispatch import dispatch

    raised, waiting = Future(), Future()
    raised.set_exception(RuntimeError("KilledWorker"))
    pool = _Pool([raised, waiting], problem="lost the connection to the Dask scheduler at tcp://x:1")
    todo = [(key, {}) for key in "abcdef"]  # a window of 4: a-d sent, e once a is done, f never
    got = dict(dispatch(None, None, todo, pool, poll_s=0.05))
    assert sorted(got) == list("abcdef") and all(r["status"] == NOT_GRADED for r in got.values())
    assert "KilledWorker" in got["a"]["error"] and "lost the connection" in got["b"]["error"]
    assert "lost the connection" in got["f"]["error"] and waiting.cancelled() and len(pool.sent) == 5
    row = commit(None, "ps1", "b", got["b"], 6.0)  # no course needed: nothing is written
    assert (row.status, row.score, row.max_score) == (NOT_GRADED, 0.0, 6.0)
    assert "run the grader again" in row.notes[0]


def test_worker_skips_the_iri_grammar_and_no_notebook_schema_needs_it():
    """grader.worker keeps jsonschema from compiling rfc3987_syntax's grammar (seconds per
    student); that is safe only while nbformat's schemas use no string format."""
    import nbformat

    def formats(node):
        if isinstance(node, dict):
            yield from ([node["format"]] if isinstance(node.get("format"), str) else [])
            for value in node.values():
                yield from formats(value)
        elif isinstance(node, list):
            for value in node:
                yield from formats(value)

    schemas = sorted(Path(nbformat.__file__).parent.glob("v*/*.schema.json"))
    assert schemas and not [f for path in schemas for f in formats(json.loads(path.read_text()))]
    probe = "import sys, grader.worker, nbformat; print(sys.modules['rfc3987_syntax'] is None)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


class Cluster:
    """``dask scheduler`` and named ``dask worker`` processes on 127.0.0.1, each worker with a
    temporary folder of its own (so what it leaves running can be found)."""

    def __init__(self, root: Path):
        self.root, self.workers = root, {}
        file = root / "scheduler.json"
        self.scheduler = self._spawn("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                                   "--no-dashboard", "--scheduler-file", str(file)], ENV)
        deadline = time.monotonic() + 60
        while not (file.exists() and file.read_text().strip()):
            assert time.monotonic() < deadline and self.scheduler.poll() is None, self.log("scheduler")
            time.sleep(0.2)
        self.address = json.loads(file.read_text())["address"]

    def _spawn(self, name: str, cmd: list[str], env: dict) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, stdout=open(self.root / f"{name}.log", "w"), stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text()[-3000:]

    def start_worker(self, name: str) -> None:
        tmp = self.root / name
        tmp.mkdir(exist_ok=True)
        cmd = [DASK, "worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        self.workers[name] = self._spawn(name, cmd, {**ENV, "TMPDIR": str(tmp)})
        self.wait_for(lambda names: name in names, f"worker {name} to join")

    def names(self) -> dict[str, str]:
        """``{worker name: address}`` as the scheduler sees them."""
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return {w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}

    def wait_for(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self.names()):
            assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
            time.sleep(0.3)

    def kill(self, name: str) -> None:
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait()
        self.wait_for(lambda names: name not in names, f"the scheduler to drop worker {name}")

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            proc.terminate()
        for proc in [*self.workers.values(), self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))  # short: kernel sockets live below the workers' TMPDIR
    cluster = Cluster(root)
    try:
        for name in ("w1", "w2"):
            cluster.start_worker(name)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def grade(course: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--no-report", *args]
    return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


def reset(course: Path) -> None:
    """The course as it was before grading: submissions and sources only."""
    for name in ("gradebook.db", "grades.csv"):
        (course / name).unlink(missing_ok=True)
    for name in ("autograded", "feedback", "report", ".grader"):
        shutil.rmtree(course / name, ignore_errors=True)


def gradebook(course: Path, assignment: str) -> dict:
    """Every stored grade and comment of ``assignment``: {student: {notebook: {...}}}."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(assignment).submissions:
            out[sub.student.id] = {nb.name: {
                "grades": {g.name: (g.auto_score, g.manual_score, g.max_score, g.needs_manual_grade) for g in nb.grades},
                "comments": {c.name: c.auto_comment for c in nb.comments},
                "late_penalty": nb.late_submission_penalty} for nb in sub.notebooks}
    return out


def scores(course: Path, assignment: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# A cell whose code kills the kernel (os._exit) shows "In [7]" or "In [ ]" as the kernel's
# last message won or lost the race with its death: the same in two local runs.  Execution
# counts are masked; every other byte of a page is compared.
# nbconvert writes "In&nbsp;[7]:" as UTF-8 bytes: a no-break space after "In" and inside an
# empty prompt.
PROMPT = re.compile(rb"(In|Out)(?:\s|\xc2\xa0)*\[(?:[0-9 ]|\xc2\xa0)*\]:")


# A warning printed by the learner's code names the file that raised it: IPython's, under the
# environment's prefix, which a worker may reach by another path (a symlinked .venv, or
# python3 against python3.11, or under another home folder). The prefix is masked; the
# rest of the line is compared.
SITE = re.compile(rb"~?/[^\s<>\"']*/site-packages/")  # IPython writes ~ for the home folder


def mask_prefix(data: bytes) -> bytes:
    return SITE.sub(b"<prefix>/site-packages/", data)


def mask_page(data: bytes) -> bytes:
    return mask_prefix(PROMPT.sub(rb"\1 [#]:", data))


def pages(folder: Path) -> dict[str, bytes]:
    return {name: mask_page(data) for name, data in files(folder).items()}


def differing_lines(local: bytes, remote: bytes) -> str:
    """The lines that differ, as a unified diff for the assertion message (a byte diff of
    two long pages shows only where they start to drift apart)."""
    import difflib

    diff = difflib.unified_diff(local.decode(errors="replace").splitlines(), remote.decode(errors="replace").splitlines(),
                                "local", "cluster", n=1, lineterm="")
    return "\n".join(list(diff)[:40])


def outputs(folder: Path) -> dict[str, list]:
    """Cell sources and outputs of every autograded notebook (not timings, not execution counts)."""
    def output(o: dict) -> dict:
        return {k: v for k, v in o.items() if k != "execution_count"}
    return {name: [(c["source"], [output(o) for o in c.get("outputs", [])])
                   for c in json.loads(mask_prefix(data))["cells"]]
            for name, data in files(folder).items() if name.endswith(".ipynb")}


def table(stdout: str) -> str:
    """The score table and its notes (the progress lines before it come in completion order)."""
    return stdout[stdout.index("student "):]


def graded_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("graded ")]


def local_then_cluster(course: Path, cluster: Cluster, assignment: str) -> tuple[dict, dict]:
    """Grade ``course`` locally, then afresh on the cluster; what each left in the course."""
    runs = {}
    for name, how in (("local", ["--jobs", "2"]), ("cluster", ["--scheduler", cluster.address])):
        reset(course)
        proc = grade(course, "--assignment", assignment, *LIMITS, *how)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs[name] = {"gradebook": gradebook(course, assignment), "feedback": pages(course / "feedback"),
                      "autograded": outputs(course / "autograded"), "table": table(proc.stdout)}
    return runs["local"], runs["cluster"]


def assert_alike(local: dict, remote: dict) -> None:
    assert remote["gradebook"] == local["gradebook"]
    assert remote["feedback"].keys() == local["feedback"].keys()
    for page, mine in local["feedback"].items():
        assert remote["feedback"][page] == mine, (page, differing_lines(mine, remote["feedback"][page]))
    assert remote["autograded"] == local["autograded"]
    assert remote["table"] == local["table"]


@pytest.mark.slow
def test_demo_submissions_grade_alike_on_the_cluster(tmp_path, cluster):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / "01_gates", course / "solutions" / "01_gates")
    copy_demo(course / "submitted")
    local, remote = local_then_cluster(course, cluster, "01_gates")
    assert set(local["gradebook"]) == {"alice", "bob", "carol"}
    assert_alike(local, remote)
    alice = sum(g[0] for nb in remote["gradebook"]["alice"].values() for g in nb["grades"].values())
    assert alice == sum(g[2] for nb in remote["gradebook"]["alice"].values() for g in nb["grades"].values())


# one of each defence (test_grader_hostile grades all thirteen locally): the sandbox, the time
# and memory limits, a dying kernel, the guard against patched checkers, the canonical
# rebuild of edited tests, a file that is not a notebook
HOSTILE = ["probe", "loops", "memory_hog", "exits", "cheat_helpers", "tamper_edit", "bad_json"]


@pytest.mark.slow
def test_hostile_submissions_grade_alike_on_the_cluster(tmp_path, cluster):
    course = tmp_path / "course"
    # the probe's loopback target: a port nothing listens on is refused as surely
    hostile.make_course(course, {s: hostile.STUDENTS[s][0](course, 9) for s in HOSTILE})
    local, remote = local_then_cluster(course, cluster, "ps1")
    assert_alike(local, remote)
    got = {s: sum(g[0] or 0 for nb in v.values() for g in nb["grades"].values()) for s, v in remote["gradebook"].items()}
    assert got == {s: hostile.STUDENTS[s][1] for s in HOSTILE}
    for page, html in remote["feedback"].items():
        assert b"HIDDEN-SENTINEL" not in html and b"GRADER-PASS" not in html, page
    assert not (course / "pwned.txt").exists()


def mixed_course(root: Path) -> Path:
    return hostile.make_course(root, {s: data for s, (data, _) in MIX.items()})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cluster) -> dict:
    """The gradebook of the mixed class after a cluster run that nothing disturbed."""
    course = mixed_course(tmp_path_factory.mktemp("mix") / "course")
    proc = grade(course, *LIMITS, "--scheduler", cluster.address)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert scores(course, "ps1") == {s: score for s, (_, score) in MIX.items()}
    return gradebook(course, "ps1")


def _busy(cluster: Cluster, name: str) -> bool:
    """Is worker ``name`` running a grading task?"""
    from distributed import Client

    with Client(cluster.address, timeout=10) as client:
        address = cluster.names().get(name)
        return any(str(k).startswith("grade_task") for k in client.processing().get(address, ()))


def leftovers(folder: Path) -> list[str]:
    """Processes still running from ``folder`` (a worker's TMPDIR): its grading subprocesses."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in p.info["cmdline"] or ()):
            found.append(" ".join(p.info["cmdline"]))
    return found


@pytest.mark.slow
def test_worker_killed_mid_run_loses_no_student(tmp_path, cluster, uninterrupted):
    course = mixed_course(tmp_path / "course")
    cmd = [sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--no-report", *LIMITS,
           "--scheduler", cluster.address]
    run = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _busy(cluster, "w1"):
            assert time.monotonic() < deadline and run.poll() is None, "w1 never started a grading task"
            time.sleep(0.3)
        time.sleep(2)  # its grader.worker subprocess is under way
        cluster.kill("w1")
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stdout[-3000:] + stderr[-3000:]
        lines = graded_lines(stdout)
        assert sorted(line.split()[1] for line in lines) == sorted(MIX)  # each student once
        assert all(line.endswith("[ok]") for line in lines), lines
        assert gradebook(course, "ps1") == uninterrupted  # every row whole, every score right
        assert not (course / ".grader").exists()  # nothing left to resume
        deadline = time.monotonic() + 15
        while leftovers(cluster.root / "w1") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not leftovers(cluster.root / "w1")  # its grading died with it
    finally:
        if run.poll() is None:
            run.kill()
        cluster.start_worker("w1")  # the next test has two workers again


@pytest.mark.slow
def test_client_killed_mid_run_then_rerun_grades_only_the_rest(tmp_path, cluster, uninterrupted):
    course = mixed_course(tmp_path / "course")
    cmd = [sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--no-report", *LIMITS,
           "--scheduler", cluster.address]
    run = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    committed = []
    for line in run.stdout:
        committed += graded_lines(line)
        if len(committed) == 2:
            run.send_signal(signal.SIGKILL)
            break
    run.wait()
    assert len(committed) == 2, "the run ended before two students were graded"
    first = scores(course, "ps1")
    assert set(first) >= {line.split()[1] for line in committed}
    proc = grade(course, *LIMITS, "--scheduler", cluster.address)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the journal line follows the commit: a student committed just as the kill came is graded again
    resumed = [line for line in proc.stdout.splitlines() if line.startswith("resuming ps1: ")]
    assert len(resumed) == 1, proc.stdout[-3000:]
    kept = int(resumed[0].split()[2])
    assert 2 <= kept <= len(first)
    regraded = {line.split()[1] for line in graded_lines(proc.stdout)}
    assert len(regraded) == len(MIX) - kept and regraded >= set(MIX) - set(first)
    assert not regraded & {line.split()[1] for line in committed}
    assert gradebook(course, "ps1") == uninterrupted
    rows = json.loads((course / "report" / "grading-run.json").read_text())["rows"]
    assert sorted(r["student"] for r in rows) == sorted(MIX)  # the report sees the whole class


@pytest.mark.slow
def test_scheduler_killed_mid_run_ends_the_run_with_the_rest_not_graded(tmp_path):
    root = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))
    own = Cluster(root)  # a cluster of its own: its scheduler dies here
    try:
        own.start_worker("w1")
        course = hostile.make_course(tmp_path / "course", {s: MIX[s][0] for s in ("good1", "half1", "loops")})
        cmd = [sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--no-report", *LIMITS,
               "--scheduler", own.address]
        run = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = next(line for line in run.stdout if line.startswith("graded "))
        own.scheduler.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = run.communicate(timeout=300)
        assert time.monotonic() - killed < 90  # the client's reconnection window, then the end
        assert run.returncode == 3, stdout[-3000:] + stderr[-3000:]
        assert "not graded" in stderr and "Traceback" not in stderr, stderr[-3000:]
        assert "lost the connection to the Dask scheduler" in stdout or "cancelled" in stdout
        graded = first.split()[1]
        assert scores(course, "ps1") == {graded: MIX[graded][1]}  # the rest were never written
    finally:
        own.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("address, reason", [
    ("tcp://127.0.0.1:9", "cannot reach a Dask scheduler"),      # nothing listens
    ("silent", "did not answer as a Dask scheduler"),              # a server that never speaks
    ("127.0.0.1", "missing port number"),                          # not an address
])
def test_bad_scheduler_address_fails_fast_and_clearly(tmp_path, address, reason):
    import socket

    course = hostile.make_course(tmp_path / "course", {"s": MIX["good1"][0]})
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    if address == "silent":
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    start = time.monotonic()
    proc = grade(course, "--scheduler", address, "--connect-timeout", "3", timeout=120)
    elapsed = time.monotonic() - start
    server.close()
    assert proc.returncode == 2
    assert reason in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert elapsed < 60  # seconds, not a hang (python and nbgrader start-up included)
    assert not (course / "gradebook.db").exists()  # nothing graded, nothing half-written
