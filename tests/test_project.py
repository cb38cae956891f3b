"""Project hygiene: environments agree, notebooks are committed without outputs."""

import contextlib
import importlib.util
import json
import re
import sys
import tomllib
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_binder_and_root_environments_are_identical():
    root = (ROOT / "environment.yml").read_text()
    binder = (ROOT / "binder" / "environment.yml").read_text()
    assert root == binder, "binder/environment.yml drifted from environment.yml"


def test_environment_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for dep in project["dependencies"]:
        spec = dep.split(";")[0].strip()
        name, version = spec.split("==")
        pins[name.lower().replace("_", "-")] = version
    env = (ROOT / "environment.yml").read_text()
    env_pins = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^\s*-\s*([A-Za-z0-9_.-]+)==(\S+)", env, re.M)
    }
    pins.pop("tensorflow")  # the non-Linux marker; environment.yml uses tensorflow-cpu
    assert env_pins == pins
    assert re.search(r"^\s*-\s*python=3\.1[1-9]\s*$", env, re.M), "pin Python"


def test_binder_scripts():
    post = (ROOT / "binder" / "postBuild").read_text()
    start = (ROOT / "binder" / "start").read_text()
    assert "set -e" in post
    assert start.rstrip().endswith('exec "$@"')
    assert "OMP_NUM_THREADS=1" in start


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_outputs_only_where_nbval_checks_them(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if "NBVAL_CHECK_OUTPUT" not in source:
            assert not cell["outputs"], f"{path.name}: unchecked outputs:\n{source}"
            assert cell["execution_count"] is None, f"{path.name}: execution count"
        else:
            assert cell["outputs"], f"{path.name}: checked cell has no reference output"
    assert "widgets" not in nb["metadata"]


def test_notebooks_are_numbered_and_linked():
    names = [p.name for p in NOTEBOOKS]
    assert names[0] == "00_start_here.ipynb", "the setup check comes first"
    for i, name in enumerate(names):
        assert name.startswith(f"{i:02d}_")
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert name in readme, f"README does not list {name}"


def test_one_tensorflow_wheel():
    """tensorflow-hub pulled tf-keras and a second, full TensorFlow over tensorflow-cpu."""
    from importlib import metadata

    wheels = {
        d.metadata["Name"].lower().replace("_", "-") for d in metadata.distributions()
    }
    assert len(wheels & {"tensorflow", "tensorflow-cpu", "tensorflow-intel"}) == 1
    assert not wheels & {"tensorflow-hub", "tf-keras"}


def test_prefetch_retries_then_leaves_a_marker(tmp_path, monkeypatch, capsys):
    from alwidgets import config, prefetch

    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path))
    calls = []

    def flaky():
        calls.append(1)
        raise ConnectionError("download.tensorflow.org: connection reset")

    monkeypatch.setattr(prefetch, "prefetch", flaky)
    assert prefetch.main(attempts=3, wait=0) == 1
    assert len(calls) == 3
    marker = tmp_path / config.PREFETCH_MARKER
    assert "connection reset" in marker.read_text()
    # What a notebook then says before it downloads:
    monkeypatch.setattr(
        config.socket, "create_connection", lambda *a, **k: contextlib.nullcontext()
    )
    config.check_network("example.org")
    assert "were not pre-fetched" in capsys.readouterr().out

    monkeypatch.setattr(prefetch, "prefetch", lambda: None)
    assert prefetch.main(attempts=1, wait=0) == 0
    assert not marker.exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_an_id(path):
    """nbformat >= 4.5 requires cell ids (missing ones warn today, fail later)."""
    nb = json.loads(path.read_text())
    ids = [cell.get("id") for cell in nb["cells"]]
    assert all(ids) and len(set(ids)) == len(ids), path.name


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _header_nb():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 9. Title\n\n*Notebook 9 of 9*"),
        nbformat.v4.new_markdown_cell("## Set up"),
        nbformat.v4.new_code_cell("import alwidgets"),
    ]
    return json.loads(nbformat.writes(nb))


def test_notebook_header_is_idempotent_and_placed_where_it_belongs():
    header = _tool("notebook_header")
    nb = header.apply_header(_header_nb(), "09_demo.ipynb")
    once = json.dumps(nb)
    assert json.dumps(header.apply_header(nb, "09_demo.ipynb")) == once
    title = nb["cells"][0]["source"].split("\n")
    assert title[0] == "# 9. Title" and title[1] == "" and title[3] == ""
    assert title[2] == header.badge_line("09_demo.ipynb")
    assert (
        "colab.research.google.com/github/alwidgets/alwidgets/blob/main/"
        "notebooks/09_demo.ipynb" in title[2]
    )
    assert [c.get("id") for c in nb["cells"]][2] == "colab-install"
    assert "".join(nb["cells"][3]["source"]) == "import alwidgets"
    with pytest.raises(ValueError, match="owner/name"):
        header.apply_header(_header_nb(), "x.ipynb", repo="not a repo")
    with pytest.raises(ValueError, match="title"):
        header.apply_header({"cells": []}, "x.ipynb")


def test_colab_install_cell_does_nothing_outside_colab(monkeypatch):
    header = _tool("notebook_header")
    calls = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: calls.append(a[0]))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(header.install_source(), {})
    assert calls == []
    # In Colab: the package without its pins (Colab keeps its TensorFlow), the
    # pinned widget packages, and Colab's custom widget manager.
    output = types.SimpleNamespace(enable=[])
    output.enable_custom_widget_manager = lambda: output.enable.append(True)
    colab = types.ModuleType("google.colab")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    sys.modules["google"].colab = colab
    exec(header.install_source(), {})
    assert [c[4:] for c in calls] == [
        [
            "-q",
            "--no-deps",
            "alwidgets @ git+https://github.com/alwidgets/alwidgets@main",
        ],
        ["-q", "ipywidgets==8.1.9", "anywidget==0.11.0"],
    ]
    assert output.enable == [True]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(header.WIDGET_PINS) <= set(project["dependencies"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_the_colab_header(path):
    """tools/notebook_header.py was run on it (Colab/Binder badges, install cell)."""
    header = _tool("notebook_header")
    nb = json.loads(path.read_text())
    before = json.dumps(nb, sort_keys=True)
    header.apply_header(nb, path.name)
    for cell in nb["cells"]:
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    assert json.dumps(nb, sort_keys=True) == before, "run tools/notebook_header.py"


def test_time_notebooks_writes_a_table(tmp_path):
    import nbformat

    timer = _tool("time_notebooks")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 1. Demo\n\n" + "word " * 397),
        nbformat.v4.new_code_cell("x = 1 + 1\nprint(x)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, tmp_path / "01_demo.ipynb")
    out = tmp_path / "times.json"
    assert timer.main([str(tmp_path / "01_demo.ipynb"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    (row,) = report["notebooks"]
    assert row["outcome"] == "ok" and 0 < row["seconds"] < 120
    assert (row["words_prose"], row["words_code"]) == (400, 6)
    assert row["reading_min"] == round(400 / 200 + 6 / 100, 1)
    table = out.with_suffix(".md").read_text()
    assert "| 01_demo.ipynb |" in table and "estimated from word counts" in table


def test_instructor_guide_quotes_the_measured_times():
    """docs/instructor.md's running times are docs/times-offline.json's, which
    tools/time_notebooks.py wrote (re-measure: make times, copy build/times.json)."""
    guide = (ROOT / "docs" / "instructor.md").read_text()
    measured = json.loads((ROOT / "docs" / "times-offline.json").read_text())
    assert measured["profile"] == "offline"
    rows = measured["notebooks"]
    assert all(row["outcome"] == "ok" for row in rows)
    for row in rows:
        number = row["notebook"][:2]
        line = next(
            (x for x in guide.splitlines() if x.startswith(f"| {number} ")), None
        )
        assert line, f"the guide's table has no row for notebook {number}"
        offline = line.split("|")[2].strip()
        assert offline == f"{row['seconds']:.0f} s", (number, offline)
        reading = line.split("|")[4].strip()
        assert reading.startswith(f"{row['reading_min']:.0f} min"), (number, reading)
    total = sum(row["seconds"] for row in rows)
    assert f"| **total** | {total:.0f} s |" in guide
    for section in (
        "Half-day workshop",
        "90-minute workshop",
        "Where learners get stuck",
    ):
        assert f"## {section}" in guide
    assert "## Cheat sheet" in guide and "offline plan" in guide
