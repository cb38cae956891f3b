"""What the real-browser tests share: a JupyterLab server and Debian's Chromium.

Each test module writes its own notebook into a folder, then
``with jupyterlab(folder, name) as url, notebook_page(url, folder, selectors) as page:``
runs it in a real JupyterLab, driven by Playwright. Needs /usr/bin/chromium
(``apt-get install chromium``; .ci/run installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)


def require_chromium():
    """Skip the calling module where Chromium is missing (on CI: fail); return sync_api."""
    if not HAVE_CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail(
                "CI needs Debian's chromium for the browser tests", pytrace=False
            )
        pytest.skip(
            "no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
        )
    return pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(folder: Path, notebook: str, env: dict[str, str] | None = None):
    """JupyterLab on 127.0.0.1 serving ``folder`` (offline profile); yields the
    URL of ``notebook`` in it. Its log is ``folder / "server.log"``."""
    port, token = _free_port(), "alwidgets-test"
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
        env={
            **os.environ,
            "ALWIDGETS_PROFILE": "offline",
            "JUPYTER_CONFIG_DIR": str(folder / ".jupyter"),
            **(env or {}),
        },
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "wb"),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            log = (folder / "server.log").read_text()[-2000:]
            pytest.fail(f"JupyterLab did not start within 60 s:\n{log}")
        yield f"http://127.0.0.1:{port}/lab/tree/{notebook}?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=20)


@contextlib.contextmanager
def notebook_page(
    url: str,
    folder: Path,
    ready: Sequence[str] = (),
    viewport: tuple[int, int] = (1300, 900),
    failure: str = "failure.png",
):
    """Chromium on ``url``: once the kernel is idle, run all cells, wait for each
    selector in ``ready``, yield the page. On an error: a screenshot named
    ``failure`` in build/screenshots/ and the server's log."""
    sync_api = require_chromium()
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
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        try:
            page.goto(url)
            page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
            # Run only once the kernel is up: a cold first start can take a while.
            page.wait_for_function(
                "window.jupyterapp.shell.currentWidget?.sessionContext?.session"
                "?.kernel?.status === 'idle'",
                timeout=120_000,
            )
            page.evaluate(
                "window.jupyterapp.commands.execute('notebook:run-all-cells')"
            )
            for selector in ready:
                page.wait_for_selector(selector, timeout=90_000)
            yield page
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / failure), full_page=True)
            print((folder / "server.log").read_text()[-3000:])
            raise
        finally:
            browser.close()


def write_notebook(folder: Path, name: str, sources: Sequence[str]) -> None:
    """A notebook of these code cells, then a tall spacer (to scroll widgets away)."""
    import nbformat

    spacer = (
        "from IPython.display import HTML\n"
        'HTML(\'<div class="spacer" style="height:3000px">end</div>\')'
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in [*sources, spacer]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, folder / name)


def label_events(path: Path) -> list[dict]:
    """The events of a label file (its header line left out); none if it is missing."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()[1:] if line]


def wait_for(predicate, timeout: float = 20.0) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def start_key_clock(page) -> None:
    """From now on the page notes the time of every key press."""
    page.evaluate(
        """() => {
        window.__alwT0 = 0;
        document.addEventListener('keydown', () => {
            window.__alwT0 = performance.now(); }, true);
    }"""
    )


def key_to_image_ms(page, key: str, image: str) -> float:
    """Press ``key``; milliseconds until the image ``image`` (a selector) is repainted.

    Needs :func:`start_key_clock` first."""
    page.evaluate(
        """(selector) => {
        window.__alwLatency = null;
        const img = document.querySelector(selector);
        const obs = new MutationObserver(() => {
            obs.disconnect();
            requestAnimationFrame(() => setTimeout(() => {
                window.__alwLatency = performance.now() - window.__alwT0;
            }, 0));
        });
        obs.observe(img, {attributes: true, attributeFilter: ['src']});
    }""",
        image,
    )
    page.keyboard.press(key)
    page.wait_for_function("window.__alwLatency !== null", timeout=10_000)
    return page.evaluate("window.__alwLatency")
