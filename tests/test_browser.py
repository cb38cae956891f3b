"""The annotator in a real JupyterLab, driven by Playwright in Debian's Chromium.

Needs /usr/bin/chromium (``apt-get install chromium``; .ci/run installs it). Skipped
where it is missing, except on CI (``CI`` set), where that is a failure.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from alwidgets import data

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        pytest.fail("CI needs Debian's chromium for the browser test", pytrace=False)
    pytest.skip(
        "no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )

sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    images, _, _ = data.make_offline_flowers(8, seed=5)
    np.save(folder / "images.npy", images)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "from alwidgets import ImageAnnotator\n"
            "names = ['dandelion', 'daisy', 'tulips', 'sunflowers', 'roses']\n"
            "annotator = ImageAnnotator(np.load('images.npy'), names, 'labels.jsonl',\n"
            "                           probs=np.full((8, 5), 0.2))\n"
            "annotator"
        )
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, folder / "annotate.ipynb")
    port, token = _free_port(), "alwidgets-test"
    env = {
        **os.environ,
        "ALWIDGETS_PROFILE": "offline",
        "JUPYTER_CONFIG_DIR": str(folder / ".jupyter"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.allow_root=True",
            "--LabApp.news_url=",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "wb"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        log = (folder / "server.log").read_text()[-2000:]
        pytest.fail(f"JupyterLab did not start within 60 s:\n{log}")
    yield f"http://127.0.0.1:{port}/lab/tree/annotate.ipynb?token={token}", folder
    server.terminate()
    server.wait(timeout=20)


def _labels(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_label_by_keyboard_and_mouse_in_jupyterlab(lab):
    url, folder = lab
    label_file = folder / "labels.jsonl"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        try:
            _label_in_lab(page, url, label_file)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "failure.png"), full_page=True)
            print((folder / "server.log").read_text()[-3000:])
            raise
        finally:
            browser.close()

    events = _labels(label_file)
    assert [e["label"] for e in events] == ["daisy", "roses", "tulips", None]
    assert [e["item"] for e in events] == [0, 1, 2, 2]


def _label_in_lab(page, url: str, label_file: Path) -> None:
    page.goto(url)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
    # Run only once the kernel is up: a cold first start can take a while.
    page.wait_for_function(
        "window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'",
        timeout=120_000,
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".alwidgets-annotator img", timeout=90_000)
    # The widget takes the focus itself: no click needed before the first key.
    page.wait_for_selector(".alw-keys.alw-on", timeout=20_000)

    page.keyboard.press("2")  # daisy
    assert _wait_for(lambda: len(_labels(label_file)) == 1)
    page.keyboard.press("5")  # roses
    assert _wait_for(lambda: len(_labels(label_file)) == 2)
    page.get_by_role("button", name="3 · tulips").click()  # by mouse
    assert _wait_for(lambda: len(_labels(label_file)) == 3)
    page.wait_for_timeout(400)  # past the double-click guard
    page.keyboard.press("u")  # keys still work after a click: undo tulips
    assert _wait_for(lambda: len(_labels(label_file)) == 4)
    page.wait_for_function(
        "document.querySelector('.alwidgets-annotator').innerText.includes('2 of 8 labelled')",
        timeout=10_000,
    )
    page.screenshot(path=str(SCREENSHOTS / "annotator.png"), full_page=True)

    # JupyterLab did not take the digits as its own shortcuts (cell to heading).
    assert page.locator(".jp-Notebook .jp-MarkdownCell").count() == 0
