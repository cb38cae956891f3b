"""Give notebooks their Colab/Binder badges and a Colab-only install cell.

Idempotent: running it again rewrites the same header, so it is also how the
header is updated everywhere (change it here, run it on every notebook).

* Badges: one line under the title (the first line of the first markdown cell),
  "Open in Colab" and Binder, both opening this notebook. The repository is
  ``alwidgets/alwidgets`` on GitHub, the placeholder the README's Binder badge
  uses too (the project has no public remote yet): pass ``--repo`` once it has.
* Install cell: the first code cell, id ``colab-install``. In Colab only
  (``"google.colab" in sys.modules``) it installs ``alwidgets`` from the
  repository without its pinned dependencies (Colab brings its own TensorFlow,
  and a second TensorFlow wheel must not be installed over it) plus the pinned
  widget packages, and turns on Colab's custom widget manager (needed for
  anywidget and ipywidgets 8). Anywhere else it does nothing, so nbval and
  local runs are unaffected.

Usage::

    python tools/notebook_header.py notebooks/00_start_here.ipynb
    python tools/notebook_header.py notebooks/*.ipynb --repo owner/name --branch main
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = "alwidgets/alwidgets"
BRANCH = "main"
INSTALL_ID = "colab-install"
#: The widget packages pinned in pyproject.toml (tests/test_project.py keeps them equal).
WIDGET_PINS = ("ipywidgets==8.1.9", "anywidget==0.11.0")
BADGE_MARK = "colab-badge.svg"


def badge_line(name: str, repo: str = REPO, branch: str = BRANCH) -> str:
    """The Colab and Binder badges of notebook ``name`` (a file name)."""
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{name}"
    binder = (
        f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/notebooks/{name}"
    )
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/{BADGE_MARK})]"
        f"({colab}) [![Binder](https://mybinder.org/badge_logo.svg)]({binder})"
    )


def install_source(repo: str = REPO, branch: str = BRANCH) -> str:
    """The install cell: a no-op outside Colab."""
    pins = ", ".join(f'"{pin}"' for pin in WIDGET_PINS)
    return (
        "# Colab only: install the tutorial's package (does nothing anywhere else).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]\n'
        f'    url = "alwidgets @ git+https://github.com/{repo}@{branch}"\n'
        '    subprocess.run([*pip, "--no-deps", url], check=True)\n'
        f"    subprocess.run([*pip, {pins}], check=True)\n"
        "    from google.colab import output\n"
        "\n"
        "    output.enable_custom_widget_manager()"
    )


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def apply_header(nb: dict, name: str, repo: str = REPO, branch: str = BRANCH) -> dict:
    """``nb`` (a notebook dict, changed in place and returned) with the header."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError("nb must be a notebook: a dict with a list of 'cells'")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ValueError(f"repo must be 'owner/name', got {repo!r}")
    cells = nb["cells"]
    title = next((c for c in cells if c["cell_type"] == "markdown"), None)
    if title is None or not _text(title["source"]).startswith("# "):
        raise ValueError(
            f"{name}: the first markdown cell must start with a '# ' title"
        )
    heading, *rest = [
        line for line in _text(title["source"]).split("\n") if BADGE_MARK not in line
    ]
    while rest and rest[0] == "":
        rest.pop(0)
    title["source"] = "\n".join(
        [heading, "", badge_line(name, repo, branch), "", *rest]
    )

    install = {
        "cell_type": "code",
        "execution_count": None,
        "id": INSTALL_ID,
        "metadata": {},
        "outputs": [],
        "source": install_source(repo, branch),
    }
    cells[:] = [c for c in cells if c.get("id") != INSTALL_ID]
    first_code = next(
        (i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells)
    )
    cells.insert(first_code, install)
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--repo", default=REPO)
    parser.add_argument("--branch", default=BRANCH)
    args = parser.parse_args(argv)
    import nbformat

    for path in args.notebooks:
        before = path.read_text()
        nb = json.loads(before)
        apply_header(nb, path.name, args.repo, args.branch)
        after = nbformat.writes(nbformat.from_dict(nb)) + "\n"
        if after != before:
            path.write_text(after)
        print(f"{path}: {'header written' if after != before else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
