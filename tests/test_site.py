"""tools/site.py: the static site (issue 14), on two small notebooks here.

CI builds the real site after ``make test`` (``make site``): tools/site.py itself
fails when a page has fewer images than its executed notebook has figures, or a
cell raises.
"""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("site_tool", ROOT / "tools/site.py")
site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site)


def _write(folder: Path, name: str, *cells) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        make = (
            nbformat.v4.new_code_cell
            if kind == "code"
            else nbformat.v4.new_markdown_cell
        )
        nb.cells.append(make(source))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = folder / name
    nbformat.write(nb, path)
    return path


PLOT = (
    "import matplotlib.pyplot as plt\n"
    "for k in range({n}):\n"
    "    plt.figure(figsize=(2, 2))\n"
    "    plt.plot([0, 1], [k, 1])\n"
    "    plt.show()"
)


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    first = _write(
        folder,
        "01_plots.ipynb",
        (
            "markdown",
            "# 1. Plots\n\n*next: [2. Widgets](02_widgets.ipynb)*\n\n"
            "**Objectives.** You can\n\n- draw two lines;\n\n## Set up\n\ntext",
        ),
        ("code", PLOT.format(n=2)),
        ("code", "open('written-by-the-run.txt', 'w').write('x')"),
    )
    second = _write(
        folder,
        "02_widgets.ipynb",
        ("markdown", "# 2. Widgets\n\nA slider and one plot."),
        ("code", "import ipywidgets\n\nipywidgets.IntSlider(value=7)"),
        ("code", PLOT.format(n=1)),
    )
    return [first, second]


def test_the_site_builds_with_every_figure_and_a_landing_page(notebooks, tmp_path):
    out = tmp_path / "site"
    report = site.build(notebooks, out, intro=tmp_path / "missing.md")
    assert report["failures"] == []
    assert [
        (p["page"], p["figures"], p["images_in_page"]) for p in report["pages"]
    ] == [
        ("01_plots.html", 2, 2),
        ("02_widgets.html", 1, 1),
    ]
    first = (out / "01_plots.html").read_text()
    second = (out / "02_widgets.html").read_text()
    assert site.embedded_images(first) == 2 and site.embedded_images(second) == 1
    assert 'href="02_widgets.html"' in first and "02_widgets.ipynb" not in first
    # the slider's state is stored in the page, for a static view
    assert "application/vnd.jupyter.widget-state+json" in second
    index = (out / "index.html").read_text()
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', index)
    assert links == [("01_plots.html", "1. Plots"), ("02_widgets.html", "2. Widgets")]
    assert "draw two lines" in index and "A slider and one plot." in index
    assert "Set up" not in index
    assert json.loads((out / "report.json").read_text())["pages"][0]["figures"] == 2
    # ran in a scratch copy: nothing written next to the sources
    assert not (notebooks[0].parent / "written-by-the-run.txt").exists()


def test_a_cell_that_raises_fails_the_build_and_names_the_notebook(notebooks, tmp_path):
    bad = _write(
        notebooks[0].parent,
        "03_broken.ipynb",
        ("markdown", "# 3. Broken"),
        ("code", "raise ValueError('no such split')"),
    )
    with pytest.raises(RuntimeError, match="03_broken.ipynb: CellExecutionError"):
        site.build([notebooks[1], bad], tmp_path / "site")
    report = json.loads((tmp_path / "site" / "report.json").read_text())
    assert [p["page"] for p in report["pages"]] == ["02_widgets.html"]


def test_counting_images_and_refusing_bad_input(tmp_path):
    page = '<img alt="x" src="data:image/png;base64,AAA"><img src="badge.svg">'
    assert site.embedded_images(page) == 1
    nb = {
        "cells": [
            {"cell_type": "code", "outputs": [{"data": {"image/png": "AAA"}}]},
            {"cell_type": "code", "outputs": [{"data": {"text/plain": "1"}}]},
        ]
    }
    assert site.image_outputs(nb) == 1
    with pytest.raises(ValueError, match="no notebooks"):
        site.build([], tmp_path)
    with pytest.raises(ValueError, match="not a notebook"):
        site.build([tmp_path / "missing.ipynb"], tmp_path)
    with pytest.raises(ValueError, match="title"):
        site.title_and_objectives({"cells": [{"cell_type": "markdown", "source": "x"}]})


def test_every_notebook_has_a_title_and_objectives_for_the_landing_page():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        title, objectives = site.title_and_objectives(json.loads(path.read_text()))
        assert title[0].isdigit(), path.name
        assert objectives, path.name


def test_make_site_is_wired_and_ci_builds_it():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^site: setup$", makefile, re.M)
    assert "tools/site.py" in makefile
    assert "make site" in (ROOT / ".ci" / "run").read_text()
