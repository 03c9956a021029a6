"""Build the answer keys solutions/<assignment>/<name>.ipynb from authoring/<assignment>/<name>.py.

The authoring files are plain Python, reviewable as code: cells are separated by marker lines

    # %% [markdown]                      prose (each line starts with "# ")
    # %% [code]                          an ordinary code cell the learner may edit
    # %% [readonly] id=setup             a locked cell (imports, data, plots)
    # %% [solution] id=sigmoid           an autograded answer: ### BEGIN/END SOLUTION inside
    # %% [tests] id=test_sigmoid points=1   an autograder test (may hold ### BEGIN HIDDEN TESTS)
    # %% [manual] id=why points=2        a manually graded written answer (markdown)

and become cells with nbgrader's metadata (schema 3). A sentinel comment is planted in
every solution region and every hidden-test region, so a test can prove that none of them
reaches exercises/. Output is deterministic: no outputs, fixed cell ids, sorted JSON.

    python scripts/build_solutions.py          # write solutions/
    python scripts/build_solutions.py --check  # exit 1 if solutions/ is out of date
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
AUTHORING = ROOT / "authoring"
SOLUTIONS = ROOT / "solutions"

SENTINEL_SOLUTION = "SENTINEL-SOLUTION"
SENTINEL_HIDDEN = "SENTINEL-HIDDEN"
_MARKER = re.compile(r"^# %% \[(markdown|code|readonly|solution|tests|manual)\]((?:\s+\w+=\S+)*)\s*$")
_KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _options(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split())


def _metadata(kind: str, opts: dict[str, str], where: str) -> dict:
    """nbgrader cell metadata for one cell kind."""
    if kind in ("markdown", "code"):
        return {}
    if "id" not in opts:
        raise ValueError(f"{where}: a [{kind}] cell needs id=<grade_id>")
    graded = kind in ("tests", "manual")
    if graded and "points" not in opts:
        raise ValueError(f"{where}: a [{kind}] cell needs points=<n>")
    meta = {
        "grade": graded,
        "grade_id": opts["id"],
        "locked": kind in ("readonly", "tests"),
        "schema_version": 3,
        "solution": kind in ("solution", "manual"),
        "task": False,
    }
    if graded:
        meta["points"] = int(opts["points"])
    return meta


def _plant_sentinels(source: str, kind: str, label: str) -> str:
    """A sentinel line right after each BEGIN SOLUTION / BEGIN HIDDEN TESTS delimiter."""
    out = []
    for line in source.splitlines():
        out.append(line)
        stripped, indent = line.strip(), line[: len(line) - len(line.lstrip())]
        if stripped == "### BEGIN SOLUTION":
            text = f"{SENTINEL_SOLUTION} {label}"
            out.append(f"<!-- {text} -->" if kind == "manual" else f"{indent}# {text}")
        elif stripped == "### BEGIN HIDDEN TESTS":
            out.append(f"{indent}# {SENTINEL_HIDDEN} {label}")
    return "\n".join(out)


def parse(path: Path) -> nbformat.NotebookNode:
    """The answer-key notebook described by one authoring file."""
    cells, kind, opts, lines, start = [], None, {}, [], 0
    label_prefix = f"{path.parent.name}/{path.stem}"

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind in ("markdown", "manual"):
            body = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
        where = f"{path.relative_to(ROOT)}:{start}"
        meta = _metadata(kind, opts, where)
        label = f"{label_prefix}:{opts.get('id', len(cells))}"
        body = _plant_sentinels(body, kind, label)
        new = nbformat.v4.new_markdown_cell if kind in ("markdown", "manual") else nbformat.v4.new_code_cell
        cell = new(body, id=f"{opts.get('id', kind)}-{len(cells)}".replace("_", "-"))
        if meta:
            cell.metadata["nbgrader"] = meta
        cells.append(cell)

    for n, line in enumerate(path.read_text().splitlines(), start=1):
        match = _MARKER.match(line)
        if match:
            flush()
            kind, opts, lines, start = match.group(1), _options(match.group(2)), [], n
        elif kind is not None:
            lines.append(line)
        elif line.strip():
            raise ValueError(f"{path}:{n}: text before the first '# %% [kind]' marker")
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": _KERNEL, "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def targets() -> dict[Path, Path]:
    """authoring/<a>/<name>.py -> solutions/<a>/<name>.ipynb, for every authoring file."""
    return {
        src: SOLUTIONS / src.parent.name / f"{src.stem}.ipynb"
        for src in sorted(AUTHORING.glob("*/*.py"))
    }


def render(src: Path) -> str:
    return nbformat.writes(parse(src)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    args = parser.parse_args(argv)
    stale = []
    for src, dst in targets().items():
        text = render(src)
        if dst.exists() and dst.read_text() == text:
            continue
        stale.append(dst.relative_to(ROOT))
        if not args.check:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text)
    verb = "out of date" if args.check else "written"
    print(f"{len(stale)} answer key(s) {verb}" + "".join(f"\n  {p}" for p in stale))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
