"""Notebooks 05 and 07 in human mode (``USE_ORACLE = False``), end to end, in a real
JupyterLab driven by Playwright in Debian's Chromium (issue 20).

For each notebook: a copy with ``USE_ORACLE = False`` (outputs cleared), a fresh label
folder (data, features and heads come from the usual cache, as in
tools/benchmark_annotator.py, so it is fast), then what a learner does:

1. Run All with no labels yet: every code cell runs, none has an error output, and the
   cells after the widget say what they are waiting for.
2. Label some images by keyboard in the notebook's own widget; the label file holds
   exactly those labels, for the images that were on screen.
3. Re-run from the cell the notebook itself says to re-run from (found in its markdown or
   in what its cells print), with JupyterLab's menu Run > Run Selected Cell and All Below;
   the later cells now use the labels (the counts they print equal the keys pressed) and
   none has an error output.

Where a notebook does not say where to re-run from, that test fails and the rest still
runs, re-running from the first code cell after the widget. Screenshots, and what each
cell printed: build/screenshots/human-*.

Needs /usr/bin/chromium, like tests/test_browser.py: skipped where it is missing,
except on CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import browser_lab
import pytest

from alwidgets import config

browser_lab.require_chromium()

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = browser_lab.SCREENSHOTS
# The switch, in code (the markdown around it names it too).
SWITCH = re.compile(r"^USE_ORACLE = True\b", re.MULTILINE)

# What each notebook is expected to say (matched case-insensitively, spaces
# normalised) and how a re-run shows that it used the labels: a pattern whose first
# group is a number that must equal the keys pressed.
NOTEBOOKS = {
    "05": {
        "file": "05_label_and_retrain.ipynb",
        "keys": 15,
        "waiting": ("waiting for your labels", "no new labels yet"),
        "used": (r"(\d+) new labels, from your labels",),
    },
    "07": {
        "file": "07_live_session.ipynb",
        "keys": 20,  # two retrains at the notebook's retrain_every = 10
        "waiting": ("waiting for your labels",),
        "used": (r"(\d+) of \d+ labels",),
    },
}

# "Run > Run Selected Cell and All Below" (JupyterLab's menu), or in words.
RERUN = re.compile(
    r"run selected cell and all below"
    r"|(?:this|that|the next) cell and (?:every|all) (?:the )?cells? below"
    r"|re-?run (?:everything |all )?from here",
    re.IGNORECASE,
)
MENU_ITEM = "Run Selected Cell and All Below"
SHOWN = r"(?:pool image|item) (\d+)"

# Every cell of the open notebook: type, source, execution count, and its outputs
# reduced to text (the figures' pixels left out).
CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map((c) => ({
  type: c.model.type,
  source: c.model.sharedModel.getSource(),
  count: c.model.type === "code" ? c.model.executionCount : null,
  outputs: c.model.type !== "code" ? [] : c.model.outputs.toJSON().map((o) => ({
    type: o.output_type,
    text: o.output_type === "stream" ? [].concat(o.text).join("")
      : o.output_type === "error" ? `${o.ename}: ${o.evalue}`
      : [].concat((o.data || {})["text/plain"] || []).join(""),
  })),
}))"""

# True once the kernel is idle and every code cell from `start` on has run since
# execution count `before` — or one of them has failed (Run All stops there).
RAN = """([start, before]) => {
  const nb = window.jupyterapp.shell.currentWidget;
  if (nb.sessionContext.session?.kernel?.status !== "idle") return false;
  const code = nb.content.widgets.slice(start).filter((c) => c.model.type === "code");
  const fresh = (c) => !c.model.sharedModel.getSource().trim()
    || (c.model.executionCount ?? 0) > before;
  const failed = (c) => fresh(c)
    && c.model.outputs.toJSON().some((o) => o.output_type === "error");
  return code.every(fresh) || code.some(failed);
}"""

# The index of the cell that shows the widget.
WIDGET_CELL = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .findIndex((c) => c.node.querySelector(".alwidgets-annotator") !== null)"""


def _prepare(folder: Path, name: str) -> None:
    """The notebook with ``USE_ORACLE = False`` and no outputs, into ``folder``."""
    nb = json.loads((ROOT / "notebooks" / name).read_text())
    switched = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        text, n = SWITCH.subn("USE_ORACLE = False", "".join(cell["source"]))
        cell["source"], cell["outputs"], cell["execution_count"] = text, [], None
        switched += n
    assert switched == 1, f"{name}: expected one code line 'USE_ORACLE = True'"
    (folder / name).write_text(json.dumps(nb))


def _cache(folder: Path) -> Path:
    """A cache whose data, features and heads are the usual ones (linked; made there
    if missing, so a first run fills the usual cache) and whose labels are new."""
    cache = folder / "cache"
    cache.mkdir()
    for part in ("data", "features", "heads"):
        (cache / part).symlink_to(config.cache_dir(part), target_is_directory=True)
    return cache


def _text(outputs: list[dict]) -> str:
    return " ".join(" ".join(o["text"] for o in outputs).split())


def _cells_ran(page, start: int, before: int, timeout_s: float) -> list[dict]:
    page.wait_for_function(
        RAN, arg=[start, before], polling=250, timeout=timeout_s * 1000
    )
    return page.evaluate(CELLS)


def _shown(page) -> int:
    text = page.evaluate(
        "document.querySelector('.alwidgets-annotator .alw-panel').innerText"
    )
    return int(re.search(SHOWN, text).group(1))


def _settled(page, item: int) -> None:
    """The kernel has confirmed every key, and another image than ``item`` shows."""
    page.wait_for_function(
        "(item) => !document.querySelector('.alw-status')?.classList.contains('alw-busy')"
        " && !document.querySelector('.alw-saving')?.innerText"
        " && !new RegExp(`(pool image|item) ${item}\\\\b`).test("
        "document.querySelector('.alwidgets-annotator .alw-panel').innerText)",
        arg=item,
        timeout=15_000,
    )


def _label_files(cache: Path) -> list[Path]:
    """The label files in ``cache`` (the session's history files left out)."""
    return [f for f in (cache / "labels").glob("*.jsonl") if "history" not in f.name]


def _events(cache: Path) -> list[dict]:
    return [e for f in _label_files(cache) for e in browser_lab.label_events(f)]


def _said_rerun(cells: list[dict], widget: int) -> tuple[int, str] | None:
    """Where the notebook says to re-run from, after labelling: ``(code cell, the
    sentence)`` — a code cell after the widget that prints it means itself, a
    markdown cell after the widget means the next code cell."""
    for i in range(widget + 1, len(cells)):
        cell = cells[i]
        text = (
            _text(cell["outputs"])
            if cell["type"] == "code"
            else " ".join(cell["source"].split())
        )
        found = RERUN.search(text)
        if not found:
            continue
        if cell["type"] == "code":
            return i, text
        after = [j for j in range(i + 1, len(cells)) if cells[j]["type"] == "code"]
        if after:
            return after[0], text
    return None


def _run_menu(page, start: int) -> None:
    """Select cell ``start`` and use Run > Run Selected Cell and All Below."""
    page.evaluate(
        """(i) => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.deselectAll();
        nb.activeCellIndex = i;
        nb.mode = "command";
        nb.activeCell.node.scrollIntoView({block: "center"});
    }""",
        start,
    )
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=MENU_ITEM).click()


@pytest.fixture(scope="module", params=sorted(NOTEBOOKS))
def human(request, tmp_path_factory):
    """One notebook, end to end in human mode; what the learner saw at each step."""
    key = request.param
    spec = NOTEBOOKS[key]
    name = spec["file"]
    folder = tmp_path_factory.mktemp(f"human-{key}")
    _prepare(folder, name)
    cache = _cache(folder)
    env = {"ALWIDGETS_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    ready = (".alwidgets-annotator .alw-photo[src]", ".alwidgets-annotator .alw-panel")
    rng = random.Random(int(key))
    keys = [str(rng.randint(1, 5)) for _ in range(spec["keys"])]
    seconds = {}
    started = time.monotonic()
    with (
        browser_lab.jupyterlab(folder, name, env) as url,
        browser_lab.notebook_page(
            url,
            folder,
            ready,
            viewport=(1400, 1000),
            failure=f"human-{key}-failure.png",
        ) as page,
    ):
        # 1. Run All, no labels yet.
        first = _cells_ran(page, 0, 0, timeout_s=300)
        seconds["run all"] = time.monotonic() - started
        widget = page.evaluate(WIDGET_CELL)
        said = _said_rerun(first, widget)
        page.screenshot(path=str(SCREENSHOTS / f"human-{key}-waiting.png"))

        # 2. Label by keyboard, as a learner: scroll to the widget, click it, keys.
        t = time.monotonic()
        page.evaluate(
            "document.querySelector('.alwidgets-annotator')"
            ".scrollIntoView({block: 'start'})"
        )
        page.locator(".alwidgets-annotator .alw-panel").click()
        page.wait_for_selector(".alw-keys.alw-on", timeout=20_000)
        shown = []
        for n, k in enumerate(keys, 1):
            item = _shown(page)
            shown.append(item)
            page.keyboard.press(k)
            assert browser_lab.wait_for(lambda n=n: len(_events(cache)) == n, 15), (
                f"{name}: key {n} ({k!r} on item {item}) not saved"
            )
            _settled(page, item)
        seconds["labelling"] = time.monotonic() - t
        page.screenshot(path=str(SCREENSHOTS / f"human-{key}-labelled.png"))
        files = _label_files(cache)
        assert len(files) == 1, f"{name}: expected one label file, found {files}"
        classes = json.loads(files[0].read_text().splitlines()[0])["classes"]
        events = browser_lab.label_events(files[0])

        # 3. Re-run from where the notebook says (else the first cell after the widget).
        t = time.monotonic()
        start = said[0] if said else widget + 1
        before = max(c["count"] or 0 for c in first)
        _run_menu(page, start)
        second = _cells_ran(page, start, before, timeout_s=300)
        seconds["re-run"] = time.monotonic() - t
        page.screenshot(path=str(SCREENSHOTS / f"human-{key}-rerun.png"))
    seconds["total"] = time.monotonic() - started
    print(f"{name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    # What each cell printed, both times: to read when a test below fails.
    (SCREENSHOTS / f"human-{key}-cells.json").write_text(
        json.dumps({"run all": first, "re-run": second}, indent=1, ensure_ascii=False)
    )
    return {
        "key": key,
        "name": name,
        "spec": spec,
        "first": first,
        "widget": widget,
        "said": said,
        "keys": keys,
        "shown": shown,
        "classes": classes,
        "events": events,
        "start": start,
        "before": before,
        "second": second,
        "seconds": seconds,
    }


def _errors(cells: list[dict], start: int = 0) -> list[str]:
    return [
        f"cell {i}: {o['text']}"
        for i, c in enumerate(cells)
        if i >= start
        for o in c["outputs"]
        if o["type"] == "error"
    ]


def test_run_all_with_no_labels_runs_every_cell_without_an_error(human):
    cells = human["first"]
    assert human["widget"] > 0, "the widget is not on the page"
    assert not _errors(cells), f"{human['name']}, no labels yet: {_errors(cells)}"
    not_run = [
        i
        for i, c in enumerate(cells)
        if c["type"] == "code" and c["source"].strip() and c["count"] is None
    ]
    assert not not_run, f"{human['name']}: code cells that did not run: {not_run}"


def test_the_cells_after_the_widget_say_what_they_wait_for(human):
    after = human["first"][human["widget"] + 1 :]
    text = " ".join(_text(c["outputs"]) for c in after).lower()
    missing = [p for p in human["spec"]["waiting"] if p not in text]
    assert not missing, f"{human['name']}: not said after the widget: {missing}"


def test_the_notebook_says_where_to_rerun_from(human):
    assert human["said"] is not None, (
        f"{human['name']}: nothing after the widget says where to re-run from"
    )
    cell, _ = human["said"]
    assert human["first"][cell]["type"] == "code"
    assert cell > human["widget"]


def test_the_keys_label_the_images_shown(human):
    classes, keys, shown = human["classes"], human["keys"], human["shown"]
    assert len(set(shown)) == len(shown), f"an image was shown twice: {shown}"
    assert [(e["item"], e.get("label")) for e in human["events"]] == [
        (item, classes[int(k) - 1]) for item, k in zip(shown, keys, strict=True)
    ]
    assert not any(e.get("skip") or e.get("undo") for e in human["events"])


def test_the_rerun_uses_the_labels_without_an_error(human):
    cells, start, n = human["second"], human["start"], len(human["keys"])
    assert not _errors(cells, start), (
        f"{human['name']}, re-run: {_errors(cells, start)}"
    )
    stale = [
        i
        for i, c in enumerate(cells)
        if i >= start
        and c["type"] == "code"
        and c["source"].strip()
        and (c["count"] or 0) <= human["before"]
    ]
    assert not stale, f"{human['name']}: cells not re-run: {stale}"
    text = " ".join(_text(c["outputs"]) for c in cells[start:])
    for pattern in human["spec"]["used"]:
        found = re.search(pattern, text)
        assert found, f"{human['name']}: nothing like {pattern!r} after the re-run"
        assert int(found.group(1)) == n, (
            f"{human['name']}: {found.group(0)!r}, {n} keys"
        )
    assert "waiting for your labels" not in text.lower()
    if human["key"] == "05":
        # the training set grew by the labels, and the tf.data route checked them
        grew = re.search(r"training images: (\d+) -> (\d+)", text)
        assert grew and int(grew.group(2)) - int(grew.group(1)) == n, grew
        assert f"the {min(16, n)} first added images: same features" in text
    if human["key"] == "07":
        # the session's last retrain used every label: the resume check ran on them
        assert f"({n} labels) gives the session's head" in text, text[-1500:]
