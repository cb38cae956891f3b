"""Exercise and solution editions of the notebooks, generated from one source.

The notebooks in ``notebooks/`` hold the solutions; the exercise edition is
generated from them, so the two never drift (the scikit-learn MOOC's scheme).

The convention, in the source notebooks:

1. In a code cell, a line that is exactly ``# solution`` (any indentation) starts
   a solution block; it ends at a line ``# end solution`` with the same
   indentation (code after that line is kept), or at the end of the cell. The
   exercise edition replaces the block by two lines at the marker's indentation,
   ``# Write your code here.`` and ``...`` (so the cell still parses: a function
   body becomes ``...`` and returns None). The solution edition drops the two
   marker lines and keeps the code.
2. Cells tagged ``solution`` (cell metadata ``tags``, markdown or code) are left
   out of the exercise edition and kept in the solution edition.
3. Cells tagged ``check`` test the learner's answer. In the exercise edition they
   are expected to fail (nothing is answered yet), so they get the tag
   ``raises-exception`` and a headless run continues past them; in the solution
   edition they must pass. Later cells use the library's version, never the
   learner's, so nothing else fails. A check from ``alwidgets.exercises`` fails by
   raising ``exercises.NotYet`` (an ``AssertionError`` that Jupyter shows as its
   verdict, without a traceback); a check cell that raises anything else still
   counts as failing, and ``--execute`` names it, since a learner would see that
   exception's traceback.

Both editions are written without outputs. One ``.ipynb`` per notebook is the only
source (no jupytext pairing): the notebooks are already committed without outputs,
so their diffs are the cells' sources, and the tags this tool reads live in cell
metadata, which a paired ``py:percent`` file would have to repeat in comments;
one file and one tool fewer for contributors.

Usage::

    python tools/editions.py                       # all notebooks -> build/
    python tools/editions.py notebooks/01_*.ipynb --out build
    python tools/editions.py --execute             # and run both editions

``--execute`` runs each edition headless (nbclient, a fresh kernel per notebook)
and fails unless, in the exercise edition, every ``check`` cell raises and no
other cell does, and the solution edition raises nowhere. It also lists the check
cells of the exercise edition that raise something other than a check's miss.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # tools/, also when imported by path
import notebook_runner  # noqa: E402

START = "# solution"
END = "# end solution"
WRITE_HERE = "# Write your code here."
SOLUTION_TAG = "solution"
CHECK_TAG = "check"
RAISES_TAG = "raises-exception"
EDITIONS = ("exercises", "solutions")
#: How a check's miss shows in a run: ``exercises.NotYet``, or a plain ``assert``.
MISSES = ("NotYet", "AssertionError")

#: Lines too common to count as a leak (they say nothing about the answer).
TRIVIAL = {"...", "pass", "return", "else:", "try:", ")", "]", "}", "),", "],", "},"}


def _lines(source) -> list[str]:
    text = "".join(source) if isinstance(source, list) else source
    if not isinstance(text, str):
        raise TypeError(f"a cell source must be a string, got {type(text).__name__}")
    return text.split("\n")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def solution_blocks(source) -> list[tuple[int, int | None, str]]:
    """``(start, end, indent)`` of each solution block: line numbers of its marker
    and its end marker (``None`` when it runs to the end of the cell).

    Raises ``ValueError`` for an ``# end solution`` without a block, a block opened
    inside a block, or an end marker at another indentation than its start.
    """
    return _blocks(_lines(source))


def _blocks(lines: list[str]) -> list[tuple[int, int | None, str]]:
    blocks = []
    open_at: tuple[int, str] | None = None
    for number, line in enumerate(lines):
        marker = line.strip()
        if marker == START:
            if open_at is not None:
                raise ValueError(
                    f"line {number + 1}: '# solution' inside the block opened on "
                    f"line {open_at[0] + 1}; close it with '# end solution' first"
                )
            open_at = (number, _indent(line))
        elif marker == END:
            if open_at is None:
                raise ValueError(f"line {number + 1}: '# end solution' without a block")
            if _indent(line) != open_at[1]:
                raise ValueError(
                    f"line {number + 1}: '# end solution' is indented differently "
                    f"from its '# solution' on line {open_at[0] + 1}"
                )
            blocks.append((open_at[0], number, open_at[1]))
            open_at = None
    if open_at is not None:
        blocks.append((open_at[0], None, open_at[1]))
    return blocks


def exercise_source(source) -> str:
    """``source`` with every solution block replaced by the two placeholder lines."""
    lines = _lines(source)
    out: list[str] = []
    position = 0
    for start, end, indent in _blocks(lines):
        out += lines[position:start]
        out += [indent + WRITE_HERE, indent + "..."]
        position = len(lines) if end is None else end + 1
    out += lines[position:]
    return "\n".join(out)


def solution_source(source) -> str:
    """``source`` without its marker lines (the code between them stays)."""
    lines = _lines(source)
    drop = set()
    for start, end, _ in _blocks(lines):
        drop.add(start)
        if end is not None:
            drop.add(end)
    kept = [line for number, line in enumerate(lines) if number not in drop]
    return "\n".join(kept)


def solution_text(source) -> list[str]:
    """The lines inside the solution blocks of ``source`` (markers excluded)."""
    lines = _lines(source)
    found = []
    for start, end, _ in _blocks(lines):
        found += lines[start + 1 : len(lines) if end is None else end]
    return found


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _check_notebook(nb) -> None:
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError("nb must be a notebook: a dict with a list of 'cells'")


def _clean(cell: dict) -> dict:
    cell = copy.deepcopy(cell)
    if isinstance(cell["source"], list):
        cell["source"] = notebook_runner.cell_text(cell["source"])
    if cell["cell_type"] == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    return cell


def make_edition(nb: dict, edition: str) -> dict:
    """The ``"exercises"`` or ``"solutions"`` edition of notebook ``nb`` (a dict)."""
    _check_notebook(nb)
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    out = copy.deepcopy({k: v for k, v in nb.items() if k != "cells"})
    out["metadata"].pop("widgets", None)
    out["cells"] = []
    for number, cell in enumerate(nb["cells"]):
        tags = _tags(cell)
        if edition == "exercises" and SOLUTION_TAG in tags:
            continue
        cell = _clean(cell)
        if cell["cell_type"] == "code":
            try:
                if edition == "exercises":
                    cell["source"] = exercise_source(cell["source"])
                else:
                    cell["source"] = solution_source(cell["source"])
            except ValueError as exc:
                raise ValueError(f"cell {number} ({cell.get('id')}): {exc}") from None
            if edition == "exercises" and CHECK_TAG in tags and RAISES_TAG not in tags:
                cell.setdefault("metadata", {})["tags"] = tags + [RAISES_TAG]
        elif START in [line.strip() for line in _lines(cell["source"])]:
            raise ValueError(
                f"cell {number} ({cell.get('id')}): '# solution' in a "
                f"{cell['cell_type']} cell; tag the cell 'solution' instead"
            )
        out["cells"].append(cell)
    return out


def _significant(line: str) -> str | None:
    text = line.strip()
    if not text or text.startswith("#") or text in TRIVIAL:
        return None
    return text


def leaks(source_nb: dict, exercise_nb: dict) -> list[str]:
    """Solution lines that appear in ``exercise_nb``: an empty list means no leak.

    A solution line is a significant line (not blank, not a comment, not ``...``,
    ``pass`` or a lone bracket) of a ``# solution`` block or of a ``solution``-
    tagged cell of ``source_nb``. It leaks if it appears in ``exercise_nb`` though
    the source shows it nowhere outside its solutions (a line the notebook also
    shows elsewhere, such as an import, gives nothing away). A ``solution``-tagged
    cell that survives, by id, is reported too.
    """
    _check_notebook(source_nb)
    _check_notebook(exercise_nb)
    secret: set[str] = set()
    public: set[str] = set()
    solution_ids = set()
    for cell in source_nb["cells"]:
        source = cell["source"]
        if SOLUTION_TAG in _tags(cell):
            solution_ids.add(cell.get("id"))
            secret.update(filter(None, map(_significant, _lines(source))))
            continue
        code = cell["cell_type"] == "code"
        hidden = solution_text(source) if code else []
        secret.update(filter(None, map(_significant, hidden)))
        shown = exercise_source(source) if code else source
        public.update(filter(None, map(_significant, _lines(shown))))
    secret -= public
    found = [
        f"solution cell {cell.get('id')} kept"
        for cell in exercise_nb["cells"]
        if cell.get("id") in solution_ids or SOLUTION_TAG in _tags(cell)
    ]
    for cell in exercise_nb["cells"]:
        for line in _lines(cell["source"]):
            if line.strip() in secret:
                found.append(f"cell {cell.get('id')}: {line.strip()!r}")
    return found


def write_editions(paths, out: Path) -> list[Path]:
    """Write both editions of each notebook into ``out/exercises`` and
    ``out/solutions``; refuses (``ValueError``) if a solution would leak."""
    written = []
    for path in map(Path, paths):
        if path.suffix != ".ipynb" or not path.is_file():
            raise ValueError(f"not a notebook file: {path}")
        nb = json.loads(path.read_text())
        for edition in EDITIONS:
            result = make_edition(nb, edition)
            if edition == "exercises":
                found = leaks(nb, result)
                if found:
                    raise ValueError(f"{path.name}: solution leaks: {found}")
            target = Path(out) / edition / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
            written.append(target)
    return written


def run_notebook(path: Path, timeout: int = 1200) -> list[dict]:
    """Execute ``path`` in a fresh kernel (its folder as working directory) and
    return, per code cell, ``{"id", "tags", "error"}`` (``error``: the exception
    name, or ``None``). Execution continues past errors, so every cell is seen."""
    run = notebook_runner.execute(path, timeout=timeout, allow_errors=True)
    if run.nb is None:
        raise RuntimeError(f"{path} did not run:\n{run.log}")
    nb = run.nb
    report = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        report.append(
            {
                "id": cell.get("id"),
                "tags": _tags(cell),
                "error": errors[0]["ename"] if errors else None,
            }
        )
    return report


def problems(report: list[dict], edition: str) -> list[str]:
    """What is wrong with a run of an edition: in the exercise edition every
    ``check`` cell must raise and no other cell; in the solution edition none."""
    found = []
    for cell in report:
        expect = edition == "exercises" and CHECK_TAG in cell["tags"]
        if expect and cell["error"] is None:
            found.append(f"check cell {cell['id']} did not raise")
        elif not expect and cell["error"] is not None:
            found.append(f"cell {cell['id']} raised {cell['error']}")
    return found


def not_misses(report: list[dict], edition: str) -> list[str]:
    """The exercise edition's check cells that raised something other than a
    check's miss (:data:`MISSES`): they count as failing, but a learner sees a
    traceback there. Empty for the solution edition."""
    if edition != "exercises":
        return []
    return [
        f"check cell {cell['id']} raised {cell['error']}, not a check's miss"
        for cell in report
        if CHECK_TAG in cell["tags"] and cell["error"] not in (None, *MISSES)
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument(
        "--execute", action="store_true", help="run both editions and check them"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    written = write_editions(paths, args.out)
    print(f"wrote {len(written)} notebooks into {args.out}/{{exercises,solutions}}")
    if not args.execute:
        return 0
    failed = 0
    for path in written:
        edition = path.parent.name
        start = time.perf_counter()
        report = run_notebook(path)
        found = problems(report, edition)
        checks = sum(CHECK_TAG in cell["tags"] for cell in report)
        notes = not_misses(report, edition)
        print(
            f"{edition}/{path.name}: {time.perf_counter() - start:.0f} s, "
            f"{checks} check cells, "
            + ("ok" if not found else "; ".join(found))
            + ("".join(f"\n  note: {note}" for note in notes)),
            flush=True,
        )
        failed += bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
