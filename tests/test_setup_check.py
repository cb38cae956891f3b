"""alwidgets.setup_check, the logic of notebooks/00_start_here.ipynb (issue 14).

The last test opens notebook 00 itself in a real JupyterLab (Debian's Chromium,
as tests/test_browser.py), runs it, clicks the widget check and reads the green
answer and the verdict: what a learner sees.
"""

import json
import os
import shutil
import time
from pathlib import Path

import browser_lab
import pytest

from alwidgets import config, setup_check
from alwidgets.setup_check import NOTE, OK, PROBLEM, Item

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_start_here.ipynb"


def _never(host, port, timeout):
    raise AssertionError(f"probed {host} though nothing needed downloading")


def _unreachable(host, port, timeout):
    raise config.OfflineError(
        f"x {host}:{port} cannot be reached (timed out; gave up after 3.0 s). y"
    )


def _reachable(host, port, timeout):
    assert timeout <= 5, "the probe must answer in seconds"


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Empty TFDS and cache folders; no model handle set."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ALWIDGETS_INATURALIST_HANDLE", raising=False)
    return tmp_path


def _status(items, what):
    return next(item for item in items if item.what == what)


def test_item_status_is_checked():
    with pytest.raises(ValueError, match="status must be"):
        Item("x", "fine", "y")


def test_offline_profile_needs_no_download(places):
    items = setup_check.profile_items("offline", probe=_never)
    assert [i.status for i in items] == [OK, OK, OK]
    assert "nothing to download" in _status(items, "data").found


def test_full_profile_with_everything_here_probes_nothing(places):
    (places / "tfds" / "tf_flowers" / "3.0.1").mkdir(parents=True)
    (places / "tfds" / "tf_flowers" / "3.0.1" / "dataset_info.json").write_text("{}")
    _, folder = setup_check.model_location()
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    items = setup_check.profile_items("full", probe=_never)
    assert [i.status for i in items] == [OK, OK, OK]
    assert "tf_flowers is here" in _status(items, "data").found


def test_full_profile_without_network_says_what_to_do(places):
    items = setup_check.profile_items("full", probe=_unreachable)
    data, model = _status(items, "data"), _status(items, "model")
    assert data.status == model.status == PROBLEM
    assert "download.tensorflow.org cannot be reached (timed out)" in data.found
    assert "tfhub.dev cannot be reached" in model.found
    assert "set_profile('offline')" in data.fix and "TFDS_DATA_DIR" not in data.fix
    report = setup_check.Report("full", tuple(items), 0.1)
    assert not report.ready
    assert report.verdict.startswith("NOT READY: data, model. To do: connect")
    assert report.verdict.count("connect to the network") == 1


def test_full_profile_with_network_is_ready_to_download(places):
    items = setup_check.profile_items("full", probe=_reachable)
    assert [i.status for i in items] == [OK, OK, OK]
    assert "downloads it (218 MiB, once)" in _status(items, "data").found


def test_a_model_handle_that_is_not_a_savedmodel_is_a_problem(places, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_INATURALIST_HANDLE", str(places / "usb" / "model"))
    model = _status(setup_check.profile_items("full", probe=_reachable), "model")
    assert model.status == PROBLEM and "holds no saved_model.pb" in model.found


def test_the_prefetch_marker_is_a_note(places):
    (places / "cache").mkdir()
    (places / "cache" / config.PREFETCH_MARKER).write_text("connection reset")
    items = setup_check.profile_items("full", probe=_reachable)
    assert _status(items, "pre-fetch").status == NOTE


def test_the_model_folder_is_where_backbones_puts_it(places):
    """setup_check and backbones share one rule (config.model_folder, no TensorFlow)."""
    from alwidgets import backbones

    handle, folder = setup_check.model_location()
    assert handle == backbones.INATURALIST_HANDLE
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    assert backbones.resolve_handle(handle) == folder  # found, so no download


def _memory(tmp_path, meminfo_kib=None, files=None):
    meminfo = tmp_path / "meminfo"
    if meminfo_kib is not None:
        meminfo.write_text(f"MemTotal: 99 kB\nMemAvailable: {meminfo_kib} kB\n")
    cgroup = tmp_path / "cgroup"
    for name, text in (files or {}).items():
        (cgroup / name).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / name).write_text(text)
    return {"meminfo": meminfo, "cgroup": cgroup}


def test_memory_reads_the_machine_and_the_container(tmp_path):
    gib = setup_check.GIB
    where = _memory(tmp_path, 8 * 1024**2)
    assert setup_check.available_memory(**where) == (8 * gib, "the machine")
    # Binder: a 2 GB cgroup v2 limit, 0.5 GB already used
    where = _memory(
        tmp_path,
        8 * 1024**2,
        {"memory.max": "2000000000\n", "memory.current": "500000000\n"},
    )
    assert setup_check.available_memory(**where) == (
        1_500_000_000,
        "the container's limit",
    )
    item = setup_check.memory_item(**where)
    assert item.status == PROBLEM and "1.4 GiB available" in item.found
    # no limit ("max"), and cgroup v1's "no limit"
    (tmp_path / "cgroup" / "memory.max").write_text("max\n")
    assert setup_check.memory_item(**where).status == OK
    shutil.rmtree(tmp_path / "cgroup")
    where = _memory(
        tmp_path,
        8 * 1024**2,
        {
            "memory/memory.limit_in_bytes": f"{2**63 - 4096}\n",
            "memory/memory.usage_in_bytes": "1\n",
        },
    )
    assert setup_check.available_memory(**where)[1] == "the machine"


def test_memory_unknown_is_a_note_and_arguments_are_checked(tmp_path):
    item = setup_check.memory_item(**_memory(tmp_path))
    assert item.status == NOTE and "unknown" in item.found
    with pytest.raises(TypeError, match="needed_gib"):
        setup_check.memory_item("2")
    with pytest.raises(ValueError, match="needed_gib"):
        setup_check.memory_item(0)


def test_versions_missing_is_a_problem_other_is_a_note(monkeypatch):
    assert [i.status for i in setup_check.versions()] == [OK, OK]
    monkeypatch.setattr(setup_check, "pins", lambda: {"numpy": "0.0.1"})
    item = setup_check.versions(in_colab=True)[1]
    assert item.status == NOTE and "Colab's own versions: numpy" in item.found
    monkeypatch.setattr(setup_check, "pins", lambda: {"no-such-package-i14": "1"})
    item = setup_check.versions()[1]
    assert item.status == PROBLEM and "no-such-package-i14" in item.found


def test_pins_are_the_projects_runtime_pins():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split("==")[0].strip() for dep in project["dependencies"]}
    assert set(setup_check.pins()) <= names
    assert {"keras", "numpy", "ipywidgets", "anywidget"} <= set(setup_check.pins())


def test_an_unwritable_cache_is_a_problem(monkeypatch):
    def refuse(*parts):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(config, "cache_dir", refuse)
    item = setup_check.cache_item()
    assert item.status == PROBLEM and "ALWIDGETS_CACHE_DIR" in item.fix


def test_run_here_is_ready_on_the_offline_profile(places):
    report = setup_check.run("offline", probe=_never)
    assert report.ready, str(report)
    assert report.verdict.startswith("READY: the offline profile")
    assert report.seconds < 60
    from IPython.core.formatters import DisplayFormatter

    shown, _ = DisplayFormatter().format(report)  # what Jupyter shows
    assert report.verdict in str(report) and "READY" in shown["text/html"]
    assert repr(report) == str(report)


def test_the_widget_answers_a_click():
    box = setup_check.widget_check()
    check = box.children[1]
    assert check.answer == ""
    check.clicks = 1  # what the front end's click sends
    assert check.answer == "Widgets work: click 1 reached Python and came back."


@pytest.mark.skipif(
    not browser_lab.HAVE_CHROMIUM and not os.environ.get("CI"),
    reason="no /usr/bin/chromium (apt-get install chromium; CI installs it)",
)
def test_notebook_00_in_jupyterlab_reaches_a_green_verdict(tmp_path):
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    env = {"ALWIDGETS_CACHE_DIR": str(tmp_path / "cache")}
    with (
        browser_lab.jupyterlab(tmp_path, NOTEBOOK.name, env) as url,
        browser_lab.notebook_page(
            url, tmp_path, [".alwidgets-setup-check button"], failure="00-failure.png"
        ) as page,
    ):
        page.wait_for_function(
            "document.body.innerText.includes('READY: the offline profile')",
            timeout=90_000,
        )
        page.locator(".alwidgets-setup-check button").click()
        page.wait_for_function(
            "document.querySelector('.alwidgets-setup-check')"
            ".innerText.includes('came back')",
            timeout=20_000,
        )
        text = page.locator(".alwidgets-setup-check").inner_text()
        page.screenshot(path=str(browser_lab.SCREENSHOTS / "00.png"), full_page=True)
    assert "Widgets work: click 1 reached Python and came back." in text
    # The notebook on disk is untouched by the run (committed without outputs).
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(not c.get("outputs") for c in cells)


def test_the_default_probe_is_quiet_and_bounded(places, monkeypatch, capsys):
    """The real probe (config.check_network) without its pre-fetch note; a host
    that does not answer gives a problem within its timeout, not a hang."""
    (places / "cache").mkdir()
    (places / "cache" / config.PREFETCH_MARKER).write_text("connection reset")

    def no_network(address, timeout):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(config.socket, "create_connection", no_network)
    start = time.monotonic()
    items = setup_check.profile_items("full")
    assert time.monotonic() - start < 10
    assert _status(items, "data").status == PROBLEM
    assert "Network is unreachable" in _status(items, "data").found
    assert _status(items, "pre-fetch").status == NOTE
    assert capsys.readouterr().out == ""
