"""The profile switch (``full`` or ``offline``), the cache folder and the network check.

* ``full`` (default): real ``tf_flowers`` through TensorFlow Datasets and the
  iNaturalist InceptionV3 from TF Hub / Kaggle Models. Needs the network once.
* ``offline``: generated flower images and a small backbone, built in code.
  Runs everywhere in seconds; the tests and CI use it.

Set the profile with the environment variable ``ALWIDGETS_PROFILE`` or, from a
notebook, with :func:`set_profile`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

__all__ = [
    "PROFILES",
    "get_profile",
    "set_profile",
    "cache_dir",
    "check_network",
    "OfflineError",
    "save_npz",
    "PREFETCH_MARKER",
]

PROFILES = ("full", "offline")
PROFILE_VARIABLE = "ALWIDGETS_PROFILE"
CACHE_VARIABLE = "ALWIDGETS_CACHE_DIR"

#: Written into the cache folder by ``alwidgets.prefetch`` when it could not finish.
PREFETCH_MARKER = "prefetch-failed.txt"

HOW_TO_GO_OFFLINE = (
    "To run the tutorial without the network, switch to the offline profile: "
    "run `alwidgets.set_profile('offline')` in the first cell (or set "
    "ALWIDGETS_PROFILE=offline before starting Jupyter)."
)


class OfflineError(ConnectionError):
    """The full profile needs a download and the network cannot be reached."""


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"profile must be a string, got {type(name).__name__}")
    value = name.strip().lower()
    if value not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {PROFILES}")
    return value


def get_profile() -> str:
    """The active profile: ``ALWIDGETS_PROFILE`` if set, else ``"full"``."""
    raw = os.environ.get(PROFILE_VARIABLE, "").strip()
    if not raw:
        return "full"
    try:
        return _check_name(raw)
    except ValueError:
        raise ValueError(
            f"{PROFILE_VARIABLE}={raw!r} is not a profile; use one of {PROFILES}"
        ) from None


def set_profile(name: str) -> str:
    """Make ``name`` the active profile for this process (and its children)."""
    value = _check_name(name)
    os.environ[PROFILE_VARIABLE] = value
    return value


def cache_dir(*parts: str) -> Path:
    """Folder for generated data, features and models (created if missing).

    ``ALWIDGETS_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/alwidgets`` or
    ``~/.cache/alwidgets``. Never inside the repository.
    """
    for part in parts:
        if not isinstance(part, str) or not part or "/" in part or part in {".", ".."}:
            raise ValueError(f"bad cache sub-folder name {part!r}")
    root = os.environ.get(CACHE_VARIABLE)
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = Path(xdg).expanduser() / "alwidgets"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_network(
    host: str = "download.tensorflow.org", port: int = 443, timeout: float = 5.0
) -> None:
    """Raise :class:`OfflineError` within ``timeout`` s if ``host`` is unreachable.

    Called before any download of the full profile, so that a learner without
    network gets a clear message quickly instead of minutes of retries.
    """
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number, got {timeout!r}")
    marker = cache_dir() / PREFETCH_MARKER
    if marker.exists():
        print(
            "Note: the data and model were not pre-fetched when this environment "
            f"was built ({marker.read_text().strip()}); they will download now. "
            + HOW_TO_GO_OFFLINE
        )
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            errors.append(exc)

    # A thread bounds the DNS lookup too, which socket timeouts do not cover.
    start = time.monotonic()
    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or errors:
        reason = f"{type(errors[0]).__name__}: {errors[0]}" if errors else "timed out"
        raise OfflineError(
            f"The full profile needs to download data or model weights, but "
            f"{host}:{port} cannot be reached ({reason}; gave up after "
            f"{time.monotonic() - start:.1f} s). {HOW_TO_GO_OFFLINE}"
        )


def save_npz(path: Path, **arrays) -> None:
    """Write arrays to ``path`` atomically: readers never see a half-written file."""
    import numpy as np

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
