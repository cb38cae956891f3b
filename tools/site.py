"""Build the tutorial as a static HTML site: read it without running it.

Each notebook in ``notebooks/`` is executed headless in a fresh kernel (the
offline profile unless ``--profile`` says otherwise; in a scratch copy of the
folder, so nothing is written next to the sources), with the widget state stored
(``store_widget_state``) so that widgets render as static views where the
browser can load the widget manager from its CDN, and converted to HTML with
nbconvert's ``lab`` template: figures are embedded as images. Links between
notebooks point to the pages; a landing page ``index.html`` lists the notebooks
in order with their objectives (from each notebook's first cell) and opens with
``docs/site_index.md``. The site shows the notebooks as they are in
``notebooks/``, solutions included.

Every page is checked: it must contain as many embedded images as its executed
notebook has image outputs, and no cell may raise. ``report.json`` records per
page the images and seconds, and the build time.

Usage::

    python tools/site.py                     # -> build/site/index.html
    python tools/site.py --out build/site notebooks/01_*.ipynb
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # tools/, also when imported by path
import notebook_runner  # noqa: E402

INTRO = ROOT / "docs" / "site_index.md"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
LINK = re.compile(r'href="((?:\./)?\d\d_[\w.-]+)\.ipynb(#[^"]*)?"')
EMBEDDED = re.compile(r"<img[^>]+src=\"data:image/")


def image_outputs(nb) -> int:
    """How many image outputs the executed notebook ``nb`` (a dict) holds."""
    count = 0
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            count += any(kind in data for kind in IMAGE_TYPES)
    return count


def embedded_images(page: str) -> int:
    """How many images are embedded (as data: URIs) in an HTML page."""
    return len(EMBEDDED.findall(page))


def title_and_objectives(nb) -> tuple[str, str]:
    """The title (first ``# `` line) and the objectives (the first list after a
    line mentioning "Objectives") of the notebook's first markdown cell, as
    markdown; the objectives fall back to the first paragraph after the title."""
    first = next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)
    if first is None:
        raise ValueError("the notebook has no markdown cell to take a title from")
    lines = notebook_runner.cell_text(first["source"]).split("\n")
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), "")
    if not title:
        raise ValueError("the first markdown cell has no '# ' title")
    start = next((i for i, line in enumerate(lines) if "Objectives" in line), None)
    if start is not None:
        rest, block = lines[start:], []
        for line in rest:
            if line.startswith("## "):
                break
            block.append(line)
        return title, "\n".join(block).strip()
    after = [line for line in lines[1:] if "colab-badge" not in line]
    paragraphs = "\n".join(after).strip().split("\n\n")
    return title, paragraphs[0] if paragraphs else ""


def _markdown(text: str) -> str:
    from nbconvert.filters import markdown2html_mistune

    return markdown2html_mistune(text)


def execute(path: Path, workdir: Path, profile: str, timeout: int = 1200):
    """``path`` executed in ``workdir`` with widget state stored: a notebook node."""
    # The profile, and figures shown inline (a test runner's MPLBACKEND=Agg would
    # silently drop every figure from the page).
    env = {
        "ALWIDGETS_PROFILE": profile,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    run = notebook_runner.execute(
        path, cwd=workdir, env=env, timeout=timeout, widget_state=True
    )
    return run.check(Path(path).name)


def to_html(nb) -> str:
    """One page: nbconvert's lab template, links between notebooks to pages."""
    from nbconvert import HTMLExporter

    page, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return LINK.sub(lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', page)


def landing_page(entries: list[dict], intro: str) -> str:
    """``index.html``: the introduction, then each notebook with its objectives."""
    items = "\n".join(
        f'<li><h2><a href="{html.escape(e["page"])}">{html.escape(e["title"])}</a>'
        f"</h2>{_markdown(e['objectives'])}</li>"
        for e in entries
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Active learning for image classification</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }}
ul.notebooks {{ list-style: none; padding-left: 0; }} li h2 {{ font-size: 1.2rem; margin-bottom: 0.2rem; }}
a {{ color: #0969da; }} code {{ background: #f6f8fa; padding: 0 0.2em; }}
</style></head>
<body>
{_markdown(intro)}
<ul class="notebooks">
{items}
</ul>
</body></html>
"""


def build(paths, out: Path, profile: str = "offline", intro: Path = INTRO) -> dict:
    """Execute and convert ``paths`` into ``out``; returns the report.

    Raises ``RuntimeError`` naming every page that errored or lost a figure.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no notebooks to build")
    for path in paths:
        if path.suffix != ".ipynb" or not path.is_file():
            raise ValueError(f"not a notebook file: {path}")
    if len({path.parent.resolve() for path in paths}) > 1:
        raise ValueError("the notebooks must be in one folder (they run side by side)")
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries, failures = [], []
    with tempfile.TemporaryDirectory(prefix="alwidgets-site-") as scratch:
        workdir = Path(scratch) / "notebooks"
        shutil.copytree(paths[0].parent, workdir)
        for path in paths:
            began = time.perf_counter()
            try:
                nb = execute(workdir / path.name, workdir, profile)
            except Exception as exc:  # a cell raised: name it, go on with the rest
                failures.append(f"{path.name}: {type(exc).__name__}: {exc}"[:2000])
                continue
            page = to_html(nb)
            name = path.with_suffix(".html").name
            (out / name).write_text(page)
            title, objectives = title_and_objectives(nb)
            expected, found = image_outputs(nb), embedded_images(page)
            if found < expected:
                failures.append(f"{name}: {found} images, the notebook made {expected}")
            entries.append(
                {
                    "notebook": path.name,
                    "page": name,
                    "title": title,
                    "objectives": objectives,
                    "figures": expected,
                    "images_in_page": found,
                    "seconds": round(time.perf_counter() - began, 1),
                }
            )
            print(
                f"{name}: {found} figures, {entries[-1]['seconds']} s",
                flush=True,
            )
    intro_text = intro.read_text() if intro.exists() else "# The tutorial"
    (out / "index.html").write_text(landing_page(entries, intro_text))
    report = {
        "profile": profile,
        "pages": entries,
        "seconds": round(time.perf_counter() - start, 1),
        "failures": failures,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if failures:
        raise RuntimeError("site build failed:\n" + "\n".join(failures))
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--profile", default="offline", choices=["offline", "full"])
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    try:
        report = build(paths, args.out, args.profile)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"site: {len(report['pages'])} pages in {args.out} "
        f"({report['seconds']:.0f} s, profile {args.profile})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
