"""Convert the Bach chorales that ship inside music21 into ``data/bach_chorales.json.gz``.

Run once, by hand; the book and the tests read the file it writes and never import
music21::

    python scripts/convert_chorales.py                 # all of them (minutes)
    python scripts/convert_chorales.py --limit 5 --out /tmp/few.json.gz

Source: the folder ``music21/corpus/bach`` of the PyPI package ``music21`` (pinned in
requirements.txt): 413 scores in MusicXML or Humdrum (the 20 roman-numeral analyses
beside them are not scores and are not read). J. S. Bach's chorale harmonisations
(1720s-1740s) are in the public domain; music21's ``corpus/license.txt`` says the
encodings are distributed with the permission of their encoders. The file written here
keeps only what the music is: for each chorale its four voices as notes (MIDI pitch,
onset, end), its time signature and the key music21's analysis finds.

What is kept, and what is left out (each left-out score is listed with its reason):

- the parts named Soprano, Alto, Tenor and Bass, or the only four parts of a score
  with four unnamed parts; instrumental parts (horns, strings) are dropped;
- tied notes merged into one note (``stripTies``); a chord inside a voice gives one
  note per pitch;
- times in sixteenth notes; a score with a note that does not start and end on a
  sixteenth (triplets, thirty-seconds) is left out rather than rounded;
- a score whose notes repeat those of an earlier one, transposed or not, is left out
  (the corpus has a few doubles), and so is a second file of the same chorale in
  another format (``bwv277.krn`` beside ``bwv277.mxl``: the two encodings differ, a repeat
  written out or a few notes, so their notes do not match; the MusicXML file is kept), so
  that no chorale can be in
  both the training and the held-out set of :mod:`lstm_ref.music`.
"""
from __future__ import annotations

import argparse
import gzip
import json
import shlex
import sys
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "bach_chorales.json.gz"
VOICES = ("soprano", "alto", "tenor", "bass")
SUFFIXES = (".mxl", ".xml", ".krn")
STEPS_PER_QUARTER = 4  # time unit: a sixteenth note


def score_paths() -> list[Path]:
    """The scores in music21's ``corpus/bach`` folder, sorted by name; of two files of one
    chorale, the MusicXML one first (the three Humdrum files carry "Rights to all
    derivative electronic formats reserved")."""
    import music21

    folder = Path(music21.__file__).parent / "corpus" / "bach"
    return sorted((p for p in folder.iterdir() if p.suffix in SUFFIXES), key=lambda p: (p.stem, SUFFIXES.index(p.suffix)))


def voice_parts(score) -> list:
    """The four parts Soprano, Alto, Tenor, Bass of ``score``, in that order.

    Raises ValueError when the score has no such four parts.
    """
    parts = list(score.parts)
    named = {}
    for part in parts:
        name = (part.partName or "").strip().lower()
        for voice in VOICES:
            if name.startswith(voice) and voice not in named:
                named[voice] = part
    if len(named) == 4:
        return [named[v] for v in VOICES]
    if len(parts) == 4 and not named:
        return parts
    names = [p.partName for p in parts]
    raise ValueError(f"parts {names}; expected Soprano, Alto, Tenor and Bass")


def to_steps(quarters) -> int:
    """A time in quarter notes -> sixteenths; ValueError when not a whole number."""
    steps = Fraction(quarters) * STEPS_PER_QUARTER
    if steps.denominator != 1:
        raise ValueError(f"time {quarters} quarter notes is not on a sixteenth")
    return int(steps)


def part_notes(part, voice: int) -> list[list[int]]:
    """A part -> ``[[pitch, start, end, voice], ...]`` in sixteenths, ties merged."""
    notes = []
    for n in part.stripTies().flatten().notes:
        start = to_steps(n.offset)
        end = start + to_steps(n.quarterLength)
        if end <= start:  # grace notes have no duration
            continue
        notes.extend([p.midi, start, end, voice] for p in n.pitches)
    return notes


def convert_score(path: Path) -> dict:
    """One score file -> ``{"id", "key", "time_signature", "notes"}``."""
    from music21 import converter

    score = converter.parse(path)
    notes = []
    for voice, part in enumerate(voice_parts(score)):
        notes.extend(part_notes(part, voice))
    if not notes:
        raise ValueError("no notes")
    notes.sort(key=lambda n: (n[1], n[3], n[0]))  # by onset, then voice
    signatures = score.recurse().getElementsByClass("TimeSignature")
    return {
        "id": path.stem,
        "key": str(score.analyze("key")),
        "time_signature": signatures[0].ratioString if signatures else None,
        "notes": notes,
    }


def fingerprint(notes: list[list[int]]) -> tuple:
    """The notes with the lowest pitch subtracted: equal for transposed doubles."""
    low = min(n[0] for n in notes)
    return tuple((p - low, s, e, v) for p, s, e, v in notes)


def convert(paths: list[Path], progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Convert every score; returns ``(chorales, skipped)``, skipped with a reason."""
    from tqdm import tqdm

    chorales, skipped, seen = [], [], {}
    for path in tqdm(paths, desc="chorales", ascii=True, ncols=72, disable=not progress):
        if path.stem in seen.values():  # another encoding of a chorale already kept
            skipped.append({"id": path.name, "reason": f"another encoding of {path.stem}, kept from its MusicXML file"})
            continue
        try:
            chorale = convert_score(path)
        except Exception as err:  # noqa: BLE001 -- any unreadable score is skipped, with why
            skipped.append({"id": path.stem, "reason": f"{type(err).__name__}: {err}"})
            continue
        key = fingerprint(chorale["notes"])
        if key in seen:
            skipped.append({"id": path.stem, "reason": f"same notes as {seen[key]}"})
            continue
        seen[key] = chorale["id"]
        chorales.append(chorale)
    return chorales, skipped


def write(out: Path, chorales: list[dict], skipped: list[dict], command: str) -> None:
    """Gzipped JSON, one chorale per line, byte-identical for identical input."""
    import music21

    header = {
        "command": command,
        "source": f"music21 {music21.__version__}, folder music21/corpus/bach (PyPI)",
        "unit": "sixteenth note",
        "fields": ["pitch (MIDI)", "start", "end", "voice"],
        "voices": list(VOICES),
        "skipped": skipped,
    }
    lines = [json.dumps(header)[:-1] + ', "chorales": [']
    lines += [json.dumps(c, separators=(",", ":")) + "," for c in chorales]
    lines[-1] = lines[-1].rstrip(",")
    text = "\n".join(lines) + "\n]}\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text.encode())


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="default: %(default)s")
    parser.add_argument("--limit", type=int, default=None, help="only the first N scores")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    paths = score_paths()[: args.limit]
    chorales, skipped = convert(paths, progress=not args.no_progress)
    command = "python scripts/convert_chorales.py " + shlex.join(argv)
    write(args.out, chorales, skipped, command.strip())
    notes = sum(len(c["notes"]) for c in chorales)
    print(f"{len(chorales)} chorales ({notes:,} notes) -> {args.out}; "
          f"{len(skipped)} of {len(paths)} scores left out")


if __name__ == "__main__":
    main()
