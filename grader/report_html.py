"""The report page: one static HTML file, no script, no request, readable on a phone."""
from __future__ import annotations

import statistics
from html import escape

from .classdata import ClassData, Test
from .diagnoses import Mistake
from .report import Attention
from .report_plots import grading_times, score_histogram, test_outcomes
from .similarity import COMMON_SHARE, THRESHOLD, Pair

TOP_MISTAKES = 10   # mistakes in the class-wide ranking at the top of the section
SLOWEST = 10        # slowest gradings listed
MAX_TEXT = 200      # characters of a diagnosis shown in a table
SECTIONS = [("attention", "Attention"), ("mistakes", "Mistakes"), ("scores", "Scores"), ("similar", "Similar answers"),
            ("times", "Times"), ("all", "All"), ("files", "Files")]
FILES = [("scores.csv", "one row per student and assignment: score, status, pending points, grading time"),
         ("mistakes.csv", "every diagnosis, per test, with the students who made it"),
         ("similar_pairs.csv", "near-identical answers, for a person to look at"),
         ("canvas.csv", "Canvas gradebook import (Grades > Import)"),
         ("moodle.csv", "Moodle grade import (Grade administration > Import > CSV file)")]

CSS = """
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
header { background: #fff; border-bottom: 1px solid var(--line); }
header .inner { max-width: 1100px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; padding-top: .5rem; border-top: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
h4 { font-size: 1rem; margin: 1rem 0 .25rem; }
p, li { overflow-wrap: anywhere; }
nav a { margin-right: .9rem; white-space: nowrap; }
.muted { color: var(--muted); font-size: .92rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: .75rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .75rem; }
.card b { display: block; font-size: 1.5rem; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 1rem;
         align-items: start; }
.plots > *, .cards > * { min-width: 0; }  /* a wide table scrolls inside its box, not the page */
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .5rem; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { font-size: .9rem; color: var(--muted); }
.scroll + .plots { margin-top: 1rem; }
.scroll { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
td { overflow-wrap: break-word; }
summary { white-space: nowrap; }
th { background: #eef1f5; }
td.num, th.num { text-align: right; white-space: nowrap; }
td ul { margin: 0; padding-left: 1.1rem; }
.bar { display: inline-block; height: .7rem; background: #0072B2; border-radius: 2px; vertical-align: middle;
       margin-right: .4rem; }
.kind { font-size: .8rem; color: var(--muted); white-space: nowrap; }
.note { background: #fff8e6; border: 1px solid #f0d58a; border-radius: 8px; padding: .6rem .8rem; }
details summary { cursor: pointer; }
@media (max-width: 600px) {
  main, header .inner { padding: .6rem; }
  table.stack thead { display: none; }
  table.stack tr { display: block; border-bottom: 1px solid var(--line); padding: .35rem 0; }
  table.stack td { display: block; border: 0; padding: .1rem .6rem; text-align: left; overflow-wrap: anywhere; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; color: var(--muted); }
}
"""


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), stack: bool = False) -> str:
    """An HTML table in a horizontally scrolling box; cells are HTML already. ``stack``: on a
    phone each row becomes a block whose cells are labelled with their column."""
    def cls(k: int) -> str:
        return ' class="num"' if k in numeric else ""
    head = "".join(f"<th{cls(k)}>{h}</th>" for k, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td{cls(k)} data-label="{header[k]}">{c}</td>' for k, c in enumerate(r)) + "</tr>"
                   for r in rows)
    opening = '<table class="stack">' if stack else "<table>"
    return f'<div class="scroll">{opening}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _students(names: list[str]) -> str:
    return escape(", ".join(names))


# --- sections -----------------------------------------------------------------------------------------
def _card(number: str, what: str, detail: str = "", link: str = "") -> str:
    """A big number, what it counts (a link to its section) and a detail below."""
    text = f'<a href="#{link}">{what}</a>' if link else what
    below = f'<br><span class="muted">{detail}</span>' if detail else ""
    return f'<div class="card"><b>{number}</b>{text}{below}</div>'


def _summary(data: ClassData, people: list[Attention], mistakes: list[Mistake], pairs: list[Pair]) -> str:
    named = sum(1 for m in mistakes if m.diagnosis.kind == "mistake")
    cards = [_card(str(len(data.students)), "students"),
             _card(str(sum(1 for p in people if p.problems)), "need attention", link="attention"),
             _card(f"{sum(s.pending for s in data.submissions.values()):g}", "points wait for a person",
                   f"{sum(1 for s in data.submissions.values() if s.pending)} submissions", "attention"),
             _card(str(named), "named mistakes", f"{len(mistakes)} kinds of failure in all", "mistakes"),
             _card(str(len(pairs)), "pairs to look at", "near-identical answers", "similar")]
    for a, max_score in data.assignments.items():
        scores = [s.score for (_, x), s in data.submissions.items() if x == a and s.in_gradebook]
        median = f"median {statistics.median(scores):g} / {max_score:g}" if scores else "nothing graded"
        cards.append(_card(str(len(scores)), f"{escape(a)} graded", median, "scores"))
    return f'<section id="summary"><div class="cards">{"".join(cards)}</div></section>'


def _name(data: ClassData, student: str) -> str:
    """The id, and the name below it when the gradebook has one."""
    name = data.students[student].name
    return escape(student) + (f'<br><span class="muted">{escape(name)}</span>' if name != student else "")


def _waiting(data: ClassData) -> str:
    """Per assignment: submissions with answers waiting for a person, their points, who."""
    rows = []
    for a in data.assignments:
        subs = [s for (_, x), s in data.submissions.items() if x == a and s.pending]
        if subs:
            names = _students(sorted(s.student for s in subs))
            rows.append([escape(a), str(len(subs)), f"{sum(s.pending for s in subs):g}",
                         f"<details><summary>who</summary>{names}</details>"])
    if not rows:
        return ""
    return ("<h3>Waiting for manual grading</h3><p>Written answers that only a person can grade "
            "(Formgrader&rsquo;s manual grading view); their points are not in the scores yet.</p>"
            + _table(["assignment", "submissions", "points pending", "students"], rows, {1, 2}, stack=True))


def _attention(people: list[Attention], data: ClassData) -> str:
    flagged = [p for p in people if p.problems]
    head = f'<section id="attention"><h2>Students who need attention ({len(flagged)})</h2>'
    if not flagged:
        table = "<p>Nobody: every submission was graded and complete, with at least half the points.</p>"
    else:
        rows = [[_name(data, p.student), f"{p.share:.0%}", "<ul>" + "".join(f"<li>{escape(r)}</li>" for r in p.reasons)
                 + "</ul>"] for p in flagged]  # pending points too: a student with problems gets them all in one place
        table = ("<p>Lowest share of all points first: low scores, missing work, broken submissions, failed or "
                 "timed-out gradings.</p>" + _table(["student", "share of points", "why"], rows, {1}, stack=True))
    return head + table + _waiting(data) + "</section>"


def _who(m: Mistake, most: int) -> str:
    """A bar as long as the count, and the names folded."""
    n = len(m.students)
    bar = f'<span class="bar" style="width:{4 * n / most:.2f}rem"></span>'
    return f"<details><summary>{bar}{n} student{'s' * (n != 1)}</summary>{_students(m.students)}</details>"


KIND_LABEL = {"mistake": "named mistake", "where to look": "no known mistake: first place to look", "error": "error"}


def _what(m: Mistake) -> str:
    """The diagnosis (cut at :data:`MAX_TEXT` characters, whole in its tooltip and mistakes.csv) and its kind."""
    text, label = m.diagnosis.text, KIND_LABEL.get(m.diagnosis.kind)
    shown = escape(text)
    if len(text) > MAX_TEXT:
        shown = f'<span title="{escape(text)}">{escape(text[:MAX_TEXT].rstrip())}…</span>'
    return shown + (f'<br><span class="kind">{label}</span>' if label else "")


def _ranked(mistakes: list[Mistake], most: int) -> str:
    """The class-wide ranking: test, mistake, students."""
    rows = [[f'{escape(m.test)}<br><span class="kind">{escape(m.assignment)}</span>', _what(m), _who(m, most)]
            for m in mistakes]
    return _table(["test", "mistake", "students"], rows, stack=True)


def _by_test(mistakes: list[Mistake], tests: list[Test], most: int) -> str:
    """One table for an assignment: its tests in notebook order, each test's mistakes ranked."""
    body = []
    for t in tests:
        mine = [m for m in mistakes if (m.notebook, m.test) == (t.notebook, t.name)]
        for k, m in enumerate(mine):
            head = f'<td rowspan="{len(mine)}" data-label="test">{escape(t.name)}</td>' if k == 0 else ""
            body.append(f'<tr>{head}<td data-label="mistake">{_what(m)}</td>'
                        f'<td data-label="students">{_who(m, most)}</td></tr>')
    return ('<div class="scroll"><table class="stack"><thead><tr><th>test</th><th>mistake</th><th>students</th>'
            f'</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _mistakes(mistakes: list[Mistake], data: ClassData) -> str:
    parts = ['<section id="mistakes"><h2>What to re-teach: mistakes by how many students made them</h2>',
             "<p>Read from the failing tests of the autograded notebooks: the named mistake (&ldquo;Likely "
             "mistake&rdquo;), else the first place the checker said to look, else &ldquo;not diagnosed&rdquo;; "
             "errors and unanswered stubs are counted too.</p>"]
    if not mistakes:
        return "".join(parts) + "<p>No failing test in any autograded notebook.</p></section>"
    most = max(len(m.students) for m in mistakes)
    shared = [m for m in mistakes if len(m.students) > 1][:TOP_MISTAKES]
    if shared:
        parts += ["<h3>Made by more than one student</h3>", _ranked(shared, most)]
    for a in data.assignments:
        mine = [m for m in mistakes if m.assignment == a]
        if mine:
            tests = [t for t in data.tests if t.assignment == a]
            parts += [f"<h3>{escape(a)}, test by test</h3>", _by_test(mine, tests, most)]
    return "".join(parts) + "</section>"


def _distributions(data: ClassData) -> str:
    parts = ['<section id="scores"><h2>Score distributions</h2>',
             "<p>Per assignment, the total scores (dashed: the median); per test, how many students got "
             "full, partial or no points, or wait for a person.</p>"]
    for a, max_score in data.assignments.items():
        scores = [s.score for (_, x), s in data.submissions.items() if x == a and s.in_gradebook]
        parts += [f"<h3>{escape(a)}</h3>", '<div class="plots">',
                  _figure(score_histogram(scores, max_score, a), f"{a}: students per total score"),
                  _figure(test_outcomes(data, a), f"{a}: students per outcome of each test (points in brackets)"),
                  "</div>"]
    return "".join(parts) + "</section>"


def _pairs(pairs: list[Pair], data: ClassData) -> str:
    head = ('<section id="similar"><h2>Near-identical answers: for a person to look at</h2>'
            '<p class="note">These pairs of submissions share answer code beyond the release template, the answer '
            f"key and what more than {COMMON_SHARE:.0%} of the class wrote (variables renamed consistently count as "
            f"the same code). A cell is listed from {THRESHOLD:.0%} similarity. Similar code has innocent causes "
            "(allowed collaboration, the same tutorial, an answer with one natural form): this list is for a "
            "person to read both notebooks, not a verdict, and no score was changed because of it.</p>")
    if not pairs:
        return head + "<p>No pair above the threshold.</p></section>"
    submitted = data.course.submitted.name  # the folder, as the instructor sees it in the course
    rows = []
    for p in pairs:
        cells = "".join(f"<li>{escape(c.notebook)}/{escape(c.name)}: {j:.0%}</li>" for c, j in p.cells)
        where = " ".join(f"<code>{escape(submitted)}/{escape(s)}/{escape(p.assignment)}/</code>" for s in (p.a, p.b))
        students = f"{escape(p.a)} &amp; {escape(p.b)}"
        rows.append([escape(p.assignment), students, f"{p.score:.0%}", f"<ul>{cells}</ul>", where])
    table = _table(["assignment", "students", "similarity", "cells", "to read"], rows, {2}, stack=True)
    return head + table + "</section>"


def _times(data: ClassData) -> str:
    timed = [s for s in data.submissions.values() if s.seconds is not None]
    head = '<section id="times"><h2>Grading times</h2>'
    if not timed:
        return head + ("<p>Not known: no grading run recorded its times (<code>report/grading-run.json</code>)."
                       "</p></section>")
    per = {a: [s.seconds for s in timed if s.assignment == a] for a in data.assignments}
    per = {a: xs for a, xs in per.items() if xs}
    total = sum(s.seconds for s in timed)
    rows = [[escape(a), str(len(xs)), f"{sum(xs):.0f}", f"{statistics.median(xs):.1f}", f"{max(xs):.1f}"]
            for a, xs in per.items()]
    slow = sorted(timed, key=lambda s: -s.seconds)[:SLOWEST]
    slow_rows = [[escape(s.student), escape(s.assignment), f"{s.seconds:.1f}", escape(s.status)] for s in slow]
    return (head + f"<p>{len(timed)} submissions graded in {total:.0f} s of worker time (the workers run in "
            "parallel, so the run itself took less).</p>"
            + _table(["assignment", "submissions", "total s", "median s", "slowest s"], rows, {1, 2, 3, 4})
            + '<div class="plots">' + _figure(grading_times(per), "submissions per grading time")
            + "<div><h3>Slowest</h3>" + _table(["student", "assignment", "seconds", "status"], slow_rows, {2})
            + "</div></div></section>")


def _all_submissions(data: ClassData) -> str:
    rows = []
    for student in data.students:
        for a in data.assignments:
            s = data.submissions.get((student, a))
            if s is None:
                rows.append([escape(student), escape(a), "", "missing", "", ""])
                continue
            seconds = "" if s.seconds is None else f"{s.seconds:.1f}"
            rows.append([escape(student), escape(a), f"{s.score:g} / {s.max_score:g}", escape(s.status),
                         f"{s.pending:g}" if s.pending else "", seconds])
    table = _table(["student", "assignment", "score", "status", "pending", "seconds"], rows, {2, 4, 5})
    return (f'<section id="all"><h2>Every submission</h2><details><summary>{len(rows)} rows '
            f"(also in scores.csv)</summary>{table}</details></section>")


def _files() -> str:
    items = "".join(f'<li><a href="{name}">{name}</a>: {escape(what)}</li>' for name, what in FILES)
    return (f'<section id="files"><h2>Files</h2><ul>{items}</ul><p class="muted">Canvas: the student is matched on '
            "<em>SIS Login ID</em> (the nbgrader student id). Moodle: map <em>Username</em> "
            "(or <em>Email address</em>) to the user field of that name, and each assignment column to a grade "
            "item. An empty cell is no submission.</p></section>")


def render(data: ClassData, mistakes: list[Mistake], people: list[Attention], pairs: list[Pair], generated: str) -> str:
    """The whole page."""
    source = ("grading run and gradebook" if data.run_known
              else "gradebook (no grading-run.json: statuses and times unknown)")
    nav = " ".join(f'<a href="#{i}">{t}</a>' for i, t in SECTIONS)
    body = "".join([_summary(data, people, mistakes, pairs), _attention(people, data), _mistakes(mistakes, data),
                    _distributions(data), _pairs(pairs, data), _times(data), _all_submissions(data), _files()])
    title = f"Class report: {escape(data.course.course_id)}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{title}</title>'  # no favicon request
            f"<style>{CSS}</style></head><body><header><div class=\"inner\"><h1>{title}</h1>"
            f'<p class="muted">Generated {escape(generated)} from the {source}.</p><nav>{nav}</nav></div></header>'
            f"<main>{body}</main></body></html>\n")
