"""tools/editions.py: exercise and solution editions from one source (issue 14).

Fast here: the rules on small notebooks, both editions of every real notebook
built and checked for leaks, real runs of a small tagged notebook and of notebook
01's two editions. CI runs every edition of every notebook headless
(``make exercises-check``, after ``make test``).
"""

import ast
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

spec = importlib.util.spec_from_file_location("editions", ROOT / "tools/editions.py")
editions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(editions)

SOLVED = """\
import numpy as np


def least_confidence(p):
    # solution
    top = p.max(axis=1)
    return 1 - top
    # end solution


def margin(p):
    # solution
    s = np.sort(p, axis=1)
    return 1 - (s[:, -1] - s[:, -2])"""


def _parses(source: str) -> None:
    code = "\n".join(
        line for line in source.split("\n") if not line.lstrip().startswith(("%", "!"))
    )
    ast.parse(code)


def _notebook(*cells) -> dict:
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        make = (
            nbformat.v4.new_code_cell
            if kind == "code"
            else nbformat.v4.new_markdown_cell
        )
        cell = make(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return json.loads(nbformat.writes(nb))


def test_a_block_becomes_the_placeholder_and_the_cell_still_parses():
    out = editions.exercise_source(SOLVED)
    assert out == (
        "import numpy as np\n\n\n"
        "def least_confidence(p):\n"
        "    # Write your code here.\n"
        "    ...\n\n\n"
        "def margin(p):\n"
        "    # Write your code here.\n"
        "    ..."
    )
    namespace = {}
    exec(out, namespace)  # a function body of `...` returns None
    assert namespace["least_confidence"](None) is None


def test_code_after_the_end_marker_is_kept():
    source = "x = 1\n# solution\ny = x + 1\n# end solution\nprint(y)\n"
    assert editions.exercise_source(source) == (
        "x = 1\n# Write your code here.\n...\nprint(y)\n"
    )
    assert editions.solution_source(source) == "x = 1\ny = x + 1\nprint(y)\n"


def test_the_solution_edition_only_drops_the_markers():
    out = editions.solution_source(SOLVED)
    assert out == SOLVED.replace("    # solution\n", "").replace(
        "    # end solution\n", ""
    )
    _parses(out)
    # the JSON form (a list of lines) reads the same as the string
    as_list = SOLVED.splitlines(keepends=True)
    assert editions.exercise_source(as_list) == editions.exercise_source(SOLVED)


def test_only_an_exact_marker_line_counts():
    source = "x = 1  # solution\n# solutions below\ny = 2"
    assert editions.exercise_source(source) == source


@pytest.mark.parametrize(
    "source, message",
    [
        ("x = 1\n# end solution", "without a block"),
        ("# solution\nx = 1\n# solution\ny = 2", "inside the block"),
        ("def f():\n    # solution\n    x = 1\n# end solution", "indented differently"),
    ],
)
def test_malformed_markers_are_refused(source, message):
    with pytest.raises(ValueError, match=message):
        editions.exercise_source(source)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="notebook"):
        editions.make_edition([], "exercises")
    with pytest.raises(ValueError, match="edition must be one of"):
        editions.make_edition(_notebook(), "answers")
    with pytest.raises(TypeError, match="cell source"):
        editions.exercise_source(42)
    nb = _notebook(("markdown", "# solution\nthe answer is 42", []))
    with pytest.raises(ValueError, match="tag the cell 'solution'"):
        editions.make_edition(nb, "exercises")


def _tagged() -> dict:
    nb = _notebook(
        ("markdown", "# Title", []),
        ("code", "import math", []),
        ("code", "def area(r):\n    # solution\n    return math.pi * r**2", []),
        ("code", "assert abs(area(1) - math.pi) < 1e-12", ["check"]),
        ("markdown", "**Solution.** The area is pi r squared.", ["solution"]),
        ("code", "print(math.tau / 2 * 2.0**2)", []),
    )
    nb["cells"][1]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "x\n"}
    ]
    nb["cells"][1]["execution_count"] = 3
    return nb


def test_editions_of_a_tagged_notebook():
    nb = _tagged()
    exercise = editions.make_edition(nb, "exercises")
    solution = editions.make_edition(nb, "solutions")
    assert len(exercise["cells"]) == 5 and len(solution["cells"]) == 6
    assert "Solution." not in json.dumps(exercise)
    assert "math.pi * r**2" not in json.dumps(exercise)
    check = exercise["cells"][3]
    assert check["metadata"]["tags"] == ["check", "raises-exception"]
    assert solution["cells"][3]["metadata"]["tags"] == ["check"]
    for edition in (exercise, solution):
        code = [c for c in edition["cells"] if c["cell_type"] == "code"]
        assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
        for cell in code:
            _parses(cell["source"])
    assert nb["cells"][1]["outputs"], "the source notebook is not modified"
    assert editions.leaks(nb, exercise) == []


def test_leaks_are_found_and_public_lines_are_not_leaks():
    nb = _tagged()
    exercise = editions.make_edition(nb, "exercises")
    leaked = json.loads(json.dumps(exercise))
    leaked["cells"][-1]["source"] = "    return math.pi * r**2"
    assert editions.leaks(nb, leaked) == [
        f"cell {leaked['cells'][-1]['id']}: 'return math.pi * r**2'"
    ]
    kept = json.loads(json.dumps(nb))
    kept["cells"][-1]["metadata"]["tags"] = ["solution"]
    assert editions.leaks(nb, kept)[0].startswith("solution cell")
    # a line the notebook shows outside its solutions gives nothing away
    nb["cells"][2]["source"] = "def area(r):\n    # solution\n    import math"
    assert editions.leaks(nb, editions.make_edition(nb, "exercises")) == []


def test_both_editions_run_as_the_convention_says(tmp_path):
    """A real headless run: the check cell raises in the exercise edition only."""
    source = tmp_path / "notebooks" / "01_demo.ipynb"
    source.parent.mkdir()
    source.write_text(json.dumps(_tagged()))
    written = editions.write_editions([source], tmp_path / "build")
    assert [p.relative_to(tmp_path / "build").as_posix() for p in written] == [
        "exercises/01_demo.ipynb",
        "solutions/01_demo.ipynb",
    ]
    exercise = editions.run_notebook(written[0], timeout=120)
    assert [c["error"] for c in exercise] == [None, None, "TypeError", None]
    assert editions.problems(exercise, "exercises") == []
    solution = editions.run_notebook(written[1], timeout=120)
    assert [c["error"] for c in solution] == [None] * 4
    assert editions.problems(solution, "solutions") == []
    # what a broken tag would look like
    assert editions.problems(solution, "exercises") == [
        f"check cell {solution[2]['id']} did not raise"
    ]
    assert editions.problems(exercise, "solutions") == [
        f"cell {exercise[2]['id']} raised TypeError"
    ]


def test_every_notebook_gets_both_editions_without_leaks(tmp_path):
    written = editions.write_editions(NOTEBOOKS, tmp_path)
    assert len(written) == 2 * len(NOTEBOOKS)
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        exercise = json.loads((tmp_path / "exercises" / path.name).read_text())
        solution = json.loads((tmp_path / "solutions" / path.name).read_text())
        assert editions.leaks(nb, exercise) == [], path.name
        source_cells = {c["id"]: c for c in nb["cells"]}
        kept = [
            c for c in nb["cells"] if "solution" not in c["metadata"].get("tags", [])
        ]
        assert [c["id"] for c in exercise["cells"]] == [c["id"] for c in kept]
        assert [c["id"] for c in solution["cells"]] == [c["id"] for c in nb["cells"]]
        for cell in exercise["cells"] + solution["cells"]:
            if cell["cell_type"] != "code":
                continue
            _parses(cell["source"])
            assert cell["outputs"] == [], path.name
            tags = cell["metadata"].get("tags", [])
            if "check" in tags and cell in exercise["cells"]:
                assert "raises-exception" in tags
        for cell in solution["cells"]:
            # the solution edition is the source without its marker lines, so
            # nbval's run of notebooks/ runs the solution edition's code
            original = "".join(source_cells[cell["id"]]["source"]).split("\n")
            markers = {"# solution", "# end solution"}
            kept = [line for line in original if line.strip() not in markers]
            assert cell["source"].split("\n") == kept, path.name


def test_make_targets_and_ci_run_the_editions():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^exercises: setup$", makefile, re.M)
    assert re.search(r"^exercises-check: setup$", makefile, re.M)
    assert "make exercises-check" in (ROOT / ".ci" / "run").read_text()


def test_notebook_01s_exercise_edition_runs_as_the_convention_says(tmp_path):
    """One real notebook here (the fastest, about 2 s a run); CI runs them all."""
    (path,) = [p for p in NOTEBOOKS if p.name.startswith("01_")]
    exercise, solution = editions.write_editions([path], tmp_path)
    report = editions.run_notebook(exercise, timeout=300)
    assert sum("check" in cell["tags"] for cell in report) >= 1
    assert editions.problems(report, "exercises") == []
    assert (
        editions.problems(editions.run_notebook(solution, timeout=300), "solutions")
        == []
    )
