"""The profiles (``full`` or ``offline``), the cache folder and the network check.

* ``full`` (default): real ``tf_flowers`` through TensorFlow Datasets and the
  iNaturalist InceptionV3 from TF Hub / Kaggle Models. Needs the network once.
* ``offline``: generated flower images and a small CNN pre-trained on other
  generated shapes (weights shipped with the package).
  Runs everywhere in seconds; the tests and CI use it.

Set the profile with the environment variable ``ALWIDGETS_PROFILE`` or, from a
notebook, with :func:`set_profile`. :data:`PROFILES` holds what each profile uses
(split sizes, backbone, labelling budget, rounds); nothing else keeps a copy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from . import jsonl

__all__ = [
    "Profile",
    "PROFILES",
    "profile",
    "get_profile",
    "set_profile",
    "cache_dir",
    "check_network",
    "OfflineError",
    "save_npz",
    "cached_arrays",
    "PREFETCH_MARKER",
    "INATURALIST_HANDLE",
    "HANDLE_VARIABLE",
    "inaturalist_handle",
    "model_folder",
]


@dataclasses.dataclass(frozen=True)
class Profile:
    """What a profile uses: the one table every module and notebook reads."""

    name: str
    #: Images per split: train (labelled at the start), validation, test, pool.
    sizes: dict[str, int]
    #: The backbone (a key of ``alwidgets.backbones.BACKBONES``).
    backbone: str
    #: Labels to spend in notebooks 4-5 (the article's 500 on tf_flowers).
    budget: int
    #: Notebook 6: the same budget, spent in ``rounds`` rounds of ``batch``.
    rounds: int
    batch: int


PROFILES = {
    # The article's code: train[:1000], train[1000:1500], train[1500:2500], the rest.
    "full": Profile(
        "full",
        {"train": 1000, "validation": 500, "test": 1000, "pool": 1170},
        "inaturalist_inception_v3",
        budget=500,
        rounds=5,
        batch=100,
    ),
    # A small labelled start (a fifth of the article's); a validation split of 500,
    # which steadies the head's choice of L2; a test set of 1,000 (one image is a
    # tenth of a point); a pool in which the budget is a small share (5 %), as in
    # real use. Generated and featurised in seconds.
    "offline": Profile(
        "offline",
        {"train": 200, "validation": 250, "test": 1000, "pool": 2000},
        "tiny_offline",
        budget=100,
        rounds=10,
        batch=10,
    ),
}
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
        raise ValueError(f"unknown profile {name!r}; choose one of {list(PROFILES)}")
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
            f"{PROFILE_VARIABLE}={raw!r} is not a profile; use one of {list(PROFILES)}"
        ) from None


def profile(name: str | None = None) -> Profile:
    """The :class:`Profile` record of ``name`` (default: the active profile)."""
    return PROFILES[get_profile() if name is None else _check_name(name)]


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


#: The iNaturalist InceptionV3 feature vector on TF Hub (now served by Kaggle Models).
INATURALIST_HANDLE = (
    "https://tfhub.dev/google/inaturalist/inception_v3/feature_vector/5"
)
#: Overrides INATURALIST_HANDLE: a local SavedModel folder or a .tar.gz URL.
HANDLE_VARIABLE = "ALWIDGETS_INATURALIST_HANDLE"


def inaturalist_handle() -> str:
    """The iNaturalist model's handle: ``ALWIDGETS_INATURALIST_HANDLE`` or TF Hub's."""
    return os.environ.get(HANDLE_VARIABLE) or INATURALIST_HANDLE


def model_folder(handle: str) -> Path:
    """Where the SavedModel of ``handle`` is, or goes once fetched: a local folder
    as it is, a URL into the cache. No TensorFlow needed (notebook 00 uses it)."""
    if os.path.isdir(handle):
        return Path(handle)
    name = hashlib.sha1(handle.encode("utf8")).hexdigest()[:16]
    return cache_dir("models") / name


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

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    jsonl.atomic_write(path, buffer.getvalue())


def cached_arrays(
    path: Path,
    key: str,
    compute: Callable[[], dict],
    valid: Callable[[dict], bool] = lambda arrays: True,
) -> dict:
    """Arrays stored in ``path`` for ``key``, computed (and saved) only when needed.

    The one cache helper: a file is used if it is readable, was written for
    ``key`` and passes ``valid``; otherwise (with a warning, unless it is simply
    missing) ``compute()`` runs and its arrays are written atomically with the key.
    """
    import numpy as np

    if path.exists():
        try:
            with np.load(path) as f:
                arrays = {name: f[name] for name in f.files if name != "cache_key"}
                stored = str(f["cache_key"]) if "cache_key" in f.files else None
            if stored == key and valid(arrays):
                return arrays
            warnings.warn(f"cache {path.name} does not match its key; recomputing it")
        except Exception as exc:  # truncated, not a zip, missing keys...
            warnings.warn(f"cache {path.name} is unreadable ({exc}); recomputing it")
    arrays = compute()
    save_npz(path, cache_key=np.array(key), **arrays)
    return arrays
