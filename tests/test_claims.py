"""Prose never contradicts the output beside it.

Measured results live in the outputs that compute them; the markdown states what a
result means, and every sentence that says a cell checks it sits next to a code cell
with an ``assert`` (run by nbval on every notebook). These tests keep it that way.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# A measured number in prose: 91.3 %, 0.42 points, ± 0.5 — these belong in outputs.
MEASURED = re.compile(r"\d+\.\d+\s?%|±\s?\d|\d+\.\d+ points")
# Prose that says a nearby cell checks what it claims.
CHECKED = re.compile(r"cells?\s+(above\s+|below\s+)?checks?|checked\s+above")


def _cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_measured_number_is_typed_into_prose(path):
    for cell in _cells(path):
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            found = MEASURED.search(text)
            assert not found, (
                f"{path.name}, cell {cell['id']}: {found.group()!r} is a measured "
                "number typed into prose; print it from the cell that computes it"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_checked_claim_has_its_assert_next_to_it(path):
    cells = _cells(path)
    for i, cell in enumerate(cells):
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown" or not CHECKED.search(text):
            continue
        near = [
            "".join(c["source"])
            for c in cells[max(0, i - 2) : i + 3]
            if c["cell_type"] == "code"
        ]
        assert any("assert" in source for source in near), (
            f"{path.name}, cell {cell['id']} says a cell checks it, but no code cell "
            "next to it asserts anything"
        )


def test_the_patterns_catch_what_they_should():
    assert MEASURED.search("reached 91.3 % on the test set")
    assert MEASURED.search("a lead of 1.4 ± 0.4")
    assert not MEASURED.search("among images predicted with 80 % confidence")
    assert CHECKED.search("(the cell above checks it)")
    assert CHECKED.search("the two cells above check it")
    assert CHECKED.search("(the cell\nchecks it)")
    assert not CHECKED.search("write it and check it against alwidgets")


# --- the 90-minute path: headers, going-further sections and notebook 00's table ---------

ROOT = Path(__file__).resolve().parents[1]
HEADER = re.compile(
    r"essential path (\d+) min(?:, plus labelling)?(?:, going further \+(\d+) min)?"
)
GOING_FURTHER = re.compile(r"^#+ .*going further.*$", re.M | re.I)
MINUTES = re.compile(r"(\d+) min")
ROW = re.compile(r"^\| (\d) [^|]+\| (\d+) min[^|]*\| (?:\+(\d+) min|—) \|", re.M)


def _header(path):
    """(essential, going further) minutes from the notebook's header line, or None."""
    title = "".join(_cells(path)[0]["source"])
    line = next((x for x in title.split("\n") if x.startswith("*Notebook")), "")
    found = HEADER.search(line)
    if not found:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def _path_table():
    start = next(p for p in NOTEBOOKS if p.name.startswith("00_"))
    text = "\n".join("".join(c["source"]) for c in _cells(start))
    return {
        int(m.group(1)): (int(m.group(2)), int(m.group(3) or 0))
        for m in ROW.finditer(text)
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_going_further_minutes_add_up_to_the_header(path):
    """A notebook whose header states its path ("essential path N min, going further
    +M min") gives every going-further heading its minutes, and they add up to M."""
    header = _header(path)
    if header is None:
        return  # a notebook that does not state its path yet
    text = "\n".join(
        "".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown"
    )
    sections = []
    for heading in GOING_FURTHER.findall(text):
        minutes = MINUTES.search(heading)
        assert minutes, f"{path.name}: {heading!r} does not say its minutes"
        sections.append(int(minutes.group(1)))
    assert sum(sections) == header[1], (path.name, sections, header)


def test_notebook_00s_table_is_the_headers_and_0_to_5_fit_in_90_minutes():
    table = _path_table()
    assert set(range(8)) <= set(table), table
    for path in NOTEBOOKS:
        number = int(path.name[:2])
        header = _header(path)
        if header is not None and number in table:
            assert table[number] == header, (path.name, table[number], header)
    # The plan leaves room under the 90-minute promise for a slower learner.
    assert sum(table[n][0] for n in range(6)) <= 90


def test_notebook_00s_total_row_is_the_sum_of_its_rows():
    table = _path_table()
    start = next(p for p in NOTEBOOKS if p.name.startswith("00_"))
    text = "\n".join("".join(c["source"]) for c in _cells(start))
    total = re.search(
        r"^\| \*\*0–5\*\* \| \*\*(\d+) min\*\* \| \+(\d+) min \|", text, re.M
    )
    assert total, "notebook 00's table has no '**0–5**' row"
    assert int(total.group(1)) == sum(table[n][0] for n in range(6)), total.group()
    assert int(total.group(2)) == sum(table[n][1] for n in range(6)), total.group()


def test_the_readme_and_the_instructor_guide_quote_the_same_minutes():
    table = _path_table()
    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "docs" / "instructor.md").read_text()
    for number, (essential, further) in table.items():
        row = next(
            x for x in readme.split("\n") if x.startswith(f"| {number} | [`0{number}_")
        )
        time = row.rstrip(" |").split(" | ")[-1]
        assert time.startswith(f"{essential} min"), (number, time)
        if further:
            assert f"+{further} going further" in time, (number, time)
        line = next(x for x in guide.split("\n") if x.startswith(f"| 0{number} "))
        assert f"| {essential} min" in line, (number, line)


def test_no_notebook_promises_that_everything_runs_in_seconds():
    for path in NOTEBOOKS:
        for cell in _cells(path):
            text = "".join(cell["source"])
            assert "every notebook runs in seconds" not in text, path.name
