"""Time each notebook headless, and estimate its reading time: a table for the
instructor guide (and the README's times).

Each notebook runs in a fresh kernel with ``jupyter nbconvert --to notebook
--execute`` (kernel start included), one after the other in the order given, by
default from an empty cache folder (a learner's first run: generated data and
features are made on the way); ``--warm`` keeps your cache instead. The profile
is ``offline`` unless ``--profile full`` (which needs the data and model, or the
network: see the README).

Reading time is an estimate, not a measurement: the words of the markdown cells
at 200 words per minute plus the words of the code cells at 100 words per minute
(code is read slower); say so wherever it is quoted.

Usage::

    python tools/time_notebooks.py                       # every notebook
    python tools/time_notebooks.py notebooks/03_*.ipynb --out build/times.json

Writes the JSON (``--out``) and a markdown table next to it (``.md``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # tools/, also when imported by path
import notebook_runner  # noqa: E402

PROSE_WPM = 200
CODE_WPM = 100


def words(nb: dict) -> tuple[int, int]:
    """Words in the markdown cells and in the code cells of notebook ``nb``."""
    prose = code = 0
    for cell in nb["cells"]:
        source = cell["source"]
        text = notebook_runner.cell_text(source)
        n = len(re.findall(r"\S+", text))
        if cell["cell_type"] == "markdown":
            prose += n
        elif cell["cell_type"] == "code":
            code += n
    return prose, code


def reading_minutes(nb: dict) -> float:
    """The estimated reading time of ``nb`` in minutes (see the module docstring)."""
    prose, code = words(nb)
    return prose / PROSE_WPM + code / CODE_WPM


def run(path: Path, env: dict, timeout: int = 1800) -> tuple[float, str]:
    """Seconds to execute ``path`` headless in a fresh kernel, and ``"ok"`` or
    the tail of the error."""
    done = notebook_runner.execute(path, env=env, timeout=timeout)
    return done.seconds, "ok" if done.ok else done.log[-1500:]


def table(report: dict) -> str:
    """The markdown table of a report."""
    lines = [
        f"Profile `{report['profile']}`, {report['cache']} cache, on {report['machine']}"
        f" ({report['date']}). Running: `jupyter nbconvert --execute`, fresh kernel,"
        f" kernel start included. Reading: estimated from word counts ({PROSE_WPM}"
        f" words/min prose, {CODE_WPM} words/min code).",
        "",
        "| notebook | running (s) | reading (min, estimated) | outcome |",
        "|---|---|---|---|",
    ]
    for row in report["notebooks"]:
        outcome = "ok" if row["outcome"] == "ok" else "**failed**"
        lines.append(
            f"| {row['notebook']} | {row['seconds']:.0f} | {row['reading_min']:.0f} "
            f"| {outcome} |"
        )
    total = sum(r["seconds"] for r in report["notebooks"])
    reading = sum(r["reading_min"] for r in report["notebooks"])
    lines.append(f"| **total** | {total:.0f} | {reading:.0f} | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "times.json")
    parser.add_argument("--profile", default="offline", choices=["offline", "full"])
    parser.add_argument(
        "--warm", action="store_true", help="use your cache instead of an empty one"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    env = {
        **os.environ,
        "ALWIDGETS_PROFILE": args.profile,
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
    }
    with tempfile.TemporaryDirectory(prefix="alwidgets-cache-") as cache:
        if not args.warm:
            env["ALWIDGETS_CACHE_DIR"] = cache
        rows = []
        for path in paths:
            nb = json.loads(path.read_text())
            seconds, outcome = run(path, env)
            prose, code = words(nb)
            rows.append(
                {
                    "notebook": path.name,
                    "seconds": round(seconds, 1),
                    "outcome": outcome,
                    "words_prose": prose,
                    "words_code": code,
                    "reading_min": round(reading_minutes(nb), 1),
                }
            )
            print(f"{path.name}: {seconds:.1f} s, {outcome[:200]}", flush=True)
    report = {
        "profile": args.profile,
        "cache": "own (warm)" if args.warm else "an empty",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "date": datetime.date.today().isoformat(),
        "notebooks": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(table(report))
    print(table(report))
    return 0 if all(r["outcome"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
