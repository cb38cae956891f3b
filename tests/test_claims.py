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
