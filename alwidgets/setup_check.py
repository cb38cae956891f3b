"""The setup check behind ``notebooks/00_start_here.ipynb``: is this machine ready?

:func:`run` looks at what the tutorial needs and gives one verdict:

* the versions: Python, and each package ``alwidgets`` pins against the one
  installed (another version is a note: the tutorial was tested with the pins);
  TensorFlow must import;
* the profile and its data and model: offline, the images are generated on this
  machine and the backbone's weights ship with the package; full, ``tf_flowers``
  and the iNaturalist InceptionV3 are either already here (the TFDS folder, the
  cache, ``ALWIDGETS_INATURALIST_HANDLE``) or their hosts answer within seconds;
* memory: what this machine (or its container: Binder's 2 GB is a cgroup limit)
  can still give, against the 1.8 GiB one notebook needs at most;
* the cache folder is writable.

:func:`widget_check` is a tiny interactive check: a button that only a working
widget front end shows, and that turns green when the click has gone to Python
and back. Nothing here blocks, so the notebook also runs headless.

No TensorFlow is imported until :func:`run` checks that it imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import importlib.metadata
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import config

__all__ = [
    "NEEDED_GIB",
    "Item",
    "Report",
    "available_memory",
    "versions",
    "pins",
    "model_location",
    "profile_items",
    "memory_item",
    "cache_item",
    "run",
    "widget_check",
]

#: The most one notebook needs (the full profile's peak on one core, measured by
#: ``make fullscale``, stays under it; Binder gives 2 GB).
NEEDED_GIB = 1.8
GIB = 1024**3
#: pyproject.toml's requires-python (Colab, for one, has its own Python).
MIN_PYTHON = (3, 11)
OK, NOTE, PROBLEM = "ok", "note", "problem"

#: Hosts the full profile downloads from: TFDS's tf_flowers; TF Hub (which
#: redirects to Kaggle Models) for the iNaturalist InceptionV3.
DATA_HOST = "download.tensorflow.org"
MODEL_HOST = "tfhub.dev"


@dataclasses.dataclass(frozen=True)
class Item:
    """One thing checked: what, its status (``ok``, ``note``, ``problem``),
    what was found, and what to do when it is not ok."""

    what: str
    status: str
    found: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in (OK, NOTE, PROBLEM):
            raise ValueError(f"status must be ok, note or problem, got {self.status!r}")


@dataclasses.dataclass(frozen=True, repr=False)
class Report:
    """All items and the verdict: ready unless an item is a problem."""

    profile: str
    items: tuple[Item, ...]
    seconds: float

    @property
    def ready(self) -> bool:
        return all(item.status != PROBLEM for item in self.items)

    @property
    def verdict(self) -> str:
        problems = [item for item in self.items if item.status == PROBLEM]
        if not problems:
            notes = sum(item.status == NOTE for item in self.items)
            extra = f" ({notes} note{'s' * (notes != 1)} below)" if notes else ""
            return (
                f"READY: the {self.profile} profile can run every notebook{extra}. "
                "Go on with notebook 01."
            )
        fixes = list(dict.fromkeys(item.fix for item in problems))  # once each
        names = ", ".join(item.what for item in problems)
        return (
            f"NOT READY: {names}. To do: {' '.join(fixes)} Then run this check again."
        )

    def __str__(self) -> str:
        mark = {OK: "ok     ", NOTE: "note   ", PROBLEM: "PROBLEM"}
        lines = []
        for i in self.items:
            lines.append(f"{mark[i.status]}  {i.what}: {i.found}")
            if i.fix and i.status != OK:
                lines.append(f"         -> {i.fix}")
        return "\n".join(
            [*lines, "", self.verdict, f"(checked in {self.seconds:.1f} s)"]
        )

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {OK: "#1a7f37", NOTE: "#9a6700", PROBLEM: "#cf222e"}
        rows = "".join(
            f"<tr><td style='color:{colour[i.status]};font-weight:bold'>{i.status}</td>"
            f"<td>{html.escape(i.what)}</td><td>{html.escape(i.found)}"
            + (f"<br><b>→ {html.escape(i.fix)}</b>" if i.fix and i.status != OK else "")
            + "</td></tr>"
            for i in self.items
        )
        ready = colour[OK] if self.ready else colour[PROBLEM]
        return (
            f"<table>{rows}</table>"
            f"<p style='font-size:1.2em;color:{ready};font-weight:bold'>"
            f"{html.escape(self.verdict)}</p>"
            f"<p>(checked in {self.seconds:.1f} s)</p>"
        )


def pins() -> dict[str, str]:
    """``{package: version}`` that this installation of ``alwidgets`` pins."""
    from packaging.requirements import Requirement

    pins = {}
    for text in importlib.metadata.requires("alwidgets") or []:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue  # another platform's wheel, or a test-only extra
        for spec in requirement.specifier:
            if spec.operator == "==":
                pins[requirement.name] = spec.version
    return pins


def versions(in_colab: bool | None = None) -> list[Item]:
    """Python (3.11 or newer) and each pinned package against what is installed."""
    if in_colab is None:
        in_colab = "google.colab" in sys.modules
    items = []
    python = platform.python_version()
    if sys.version_info[:2] >= MIN_PYTHON:
        items.append(Item("Python", OK, python))
    else:
        items.append(
            Item("Python", PROBLEM, python, "the tutorial needs Python 3.11 or newer.")
        )
    missing, other = [], []
    for name, pinned in pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if installed != pinned:
            other.append(f"{name} {installed} (tested with {pinned})")
    if missing:
        items.append(
            Item(
                "packages",
                PROBLEM,
                "missing: " + ", ".join(missing),
                "install the tutorial's environment: `make lab`, or "
                "`pip install -e .` in the repository.",
            )
        )
    elif other:
        where = "Colab's own versions" if in_colab else "not the tested versions"
        items.append(
            Item(
                "packages",
                NOTE,
                f"{where}: " + ", ".join(other),
                "usually fine; if a notebook fails, install the pinned versions "
                "(`make lab` creates them in .venv).",
            )
        )
    else:
        items.append(Item("packages", OK, f"the {len(pins())} tested versions"))
    return items


def _tensorflow_item() -> Item:
    start = time.perf_counter()
    try:
        import tensorflow as tf
    except Exception as exc:  # ImportError, or a broken wheel's own errors
        return Item(
            "TensorFlow",
            PROBLEM,
            f"does not import ({type(exc).__name__}: {exc})",
            "reinstall the environment (`make clean lab`).",
        )
    seconds = time.perf_counter() - start
    return Item("TensorFlow", OK, f"{tf.__version__}, imports in {seconds:.1f} s")


def _tfds_folder() -> Path:
    return Path(
        os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets"
    ).expanduser()


def model_location() -> tuple[str, Path]:
    """The iNaturalist model's handle and the folder where it is (or will be)."""
    handle = config.inaturalist_handle()
    return handle, config.model_folder(handle)


def _quiet_check_network(host: str, port: int, timeout: float) -> None:
    """config.check_network without its pre-fetch note (an item here says it once)."""
    with contextlib.redirect_stdout(io.StringIO()):
        config.check_network(host, port, timeout=timeout)


def _reachable(probe: Callable[..., None], host: str) -> str | None:
    """``None`` if ``host`` answers, else why not (in a few seconds at most)."""
    try:
        probe(host, 443, timeout=3.0)
    except config.OfflineError as exc:
        return str(exc).split(" (")[1].split(";")[0] if " (" in str(exc) else str(exc)
    return None


def profile_items(
    name: str | None = None, probe: Callable[..., None] | None = None
) -> list[Item]:
    """The profile, and whether its data and model are here or can be downloaded.

    ``probe(host, port, timeout=...)`` raises ``config.OfflineError`` when a host
    cannot be reached (default: :func:`alwidgets.config.check_network`); it is
    called only for the full profile, and only for what is not here yet.
    """
    record = config.profile(name)
    probe = probe or _quiet_check_network
    items = [
        Item(
            "profile",
            OK,
            f"{record.name} (switch with alwidgets.set_profile('offline') or "
            f"('full'), or {config.PROFILE_VARIABLE} before starting Jupyter)",
        )
    ]
    if record.name == "offline":
        from importlib import resources

        weights = Path(
            str(
                resources.files("alwidgets").joinpath("weights/tiny_offline.weights.h5")
            )
        )
        items.append(
            Item(
                "data",
                OK,
                "generated on this machine at first use (seconds), then cached in "
                f"{config.cache_dir('data')}; nothing to download",
            )
        )
        if weights.is_file():
            items.append(
                Item("model", OK, f"offline backbone weights shipped ({weights.name})")
            )
        else:
            items.append(
                Item(
                    "model",
                    PROBLEM,
                    f"{weights} is missing",
                    "reinstall alwidgets (`pip install -e .`).",
                )
            )
        return items

    go_offline = (
        "connect to the network, point the tutorial at local copies (README: "
        "Offline and workshop use), or use the offline profile: "
        "alwidgets.set_profile('offline') in the first cell."
    )
    flowers = sorted(_tfds_folder().glob("tf_flowers/*/dataset_info.json"))
    if flowers:
        items.append(Item("data", OK, f"tf_flowers is here ({flowers[0].parent})"))
    else:
        why = _reachable(probe, DATA_HOST)
        if why is None:
            items.append(
                Item(
                    "data",
                    OK,
                    f"tf_flowers not here yet; {DATA_HOST} answers, so notebook 02 "
                    "downloads it (218 MiB, once)",
                )
            )
        else:
            items.append(
                Item(
                    "data",
                    PROBLEM,
                    f"tf_flowers is not in {_tfds_folder()} and {DATA_HOST} "
                    f"cannot be reached ({why})",
                    go_offline,
                )
            )
    handle, folder = model_location()
    if (folder / "saved_model.pb").exists():
        items.append(Item("model", OK, f"iNaturalist InceptionV3 is here ({folder})"))
    elif os.path.isdir(handle) or "://" not in handle:
        items.append(
            Item(
                "model",
                PROBLEM,
                f"ALWIDGETS_INATURALIST_HANDLE={handle} holds no saved_model.pb",
                "point it at an extracted SavedModel folder, or unset it.",
            )
        )
    else:
        host = handle.split("://", 1)[1].split("/", 1)[0].split(":")[0]
        why = _reachable(probe, host)
        if why is None:
            items.append(
                Item(
                    "model",
                    OK,
                    f"not here yet; {host} answers, so notebook 03 downloads it once",
                )
            )
        else:
            items.append(
                Item(
                    "model",
                    PROBLEM,
                    f"not in the cache and {host} cannot be reached ({why})",
                    go_offline,
                )
            )
    marker = config.cache_dir() / config.PREFETCH_MARKER
    if marker.exists():
        items.append(
            Item(
                "pre-fetch",
                NOTE,
                f"the environment's pre-fetch failed ({marker.read_text().strip()})",
                "the data and model download at first use instead.",
            )
        )
    return items


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None  # "max" means no limit


def available_memory(
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> tuple[int | None, str]:
    """Bytes this process can still use, and where the number comes from.

    The smaller of the machine's ``MemAvailable`` and, in a container, the cgroup's
    limit minus its current use (cgroup v2 ``memory.max``/``memory.current``, or
    v1 ``memory.limit_in_bytes``/``memory.usage_in_bytes``). ``(None, why)``
    where neither can be read (macOS, Windows).
    """
    found: list[tuple[int, str]] = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "the machine"))
    except (OSError, ValueError):
        pass
    for limit_file, used_file in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        limit = _read_int(cgroup / limit_file)
        used = _read_int(cgroup / used_file)
        if limit is not None and limit < 2**60:  # v1 writes "no limit" as ~2**63
            found.append((limit - (used or 0), "the container's limit"))
            break
    if not found:
        return None, "no /proc/meminfo or cgroup limit to read"
    return min(found)


def memory_item(needed_gib: float = NEEDED_GIB, **where) -> Item:
    """Available memory against ``needed_gib`` (``where``: see available_memory)."""
    if isinstance(needed_gib, bool) or not isinstance(needed_gib, (int, float)):
        raise TypeError(f"needed_gib must be a number, got {needed_gib!r}")
    if not needed_gib > 0:
        raise ValueError(f"needed_gib must be positive, got {needed_gib!r}")
    free, source = available_memory(**where)
    if free is None:
        return Item(
            "memory",
            NOTE,
            f"unknown ({source})",
            f"make sure about {needed_gib} GiB is free while a notebook runs.",
        )
    found = f"{free / GIB:.1f} GiB available ({source}); a notebook needs {needed_gib}"
    if free >= needed_gib * GIB:
        return Item("memory", OK, found)
    return Item(
        "memory",
        PROBLEM,
        found,
        "close other notebooks and programs (Kernel > Shut Down All Kernels), "
        "or use a machine with more memory.",
    )


def cache_item() -> Item:
    """The cache folder exists and is writable."""
    try:
        folder = config.cache_dir()
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Item(
            "cache folder",
            PROBLEM,
            f"not writable ({exc})",
            f"set {config.CACHE_VARIABLE} to a writable folder.",
        )
    return Item("cache folder", OK, f"{folder} (writable)")


def run(profile: str | None = None, probe: Callable[..., None] | None = None) -> Report:
    """Check everything (a few seconds; TensorFlow's import is most of it)."""
    start = time.perf_counter()
    items = [*versions(), _tensorflow_item()]
    items += profile_items(profile, probe)
    items += [memory_item(), cache_item()]
    name = config.profile(profile).name
    return Report(name, tuple(items), time.perf_counter() - start)


def widget_check():
    """A button that proves widgets work: it appears only where the front end
    renders anywidget and ipywidgets 8, and its click goes to Python, which
    answers in green. Returns the widget (display it; nothing waits for it)."""
    import anywidget
    import ipywidgets
    import traitlets

    class WidgetCheck(anywidget.AnyWidget):
        _esm = Path(__file__).parent / "static" / "setup_check.js"
        clicks = traitlets.Int(0).tag(sync=True)
        answer = traitlets.Unicode("").tag(sync=True)

        @traitlets.observe("clicks")
        def _answer(self, change) -> None:
            self.answer = (
                f"Widgets work: click {change['new']} reached Python and came back."
            )

    heading = ipywidgets.HTML(
        "<b>Widget check</b> (ipywidgets 8 + anywidget). If you read "
        "<code>VBox(...)</code> as text instead of a button, see the troubleshooting."
    )
    box = ipywidgets.VBox([heading, WidgetCheck()])
    return box
