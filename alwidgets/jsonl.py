"""JSON Lines files with a header: the one reader, appender and atomic writer.

The label file (:mod:`alwidgets.labels`) and the session history
(:mod:`alwidgets.session`) are both a header line ``{"format": ..., ...}`` then one
JSON object per line. A crash can leave only a last line cut short: :func:`read`
returns it apart (``tail``), and :func:`append_line` moves such a part line to a
``<name>.cut-<time>`` copy before it appends, so a file only ever grows by whole lines.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["now", "read", "append_line", "atomic_write", "cut_tail"]


def now() -> str:
    """The time now, UTC, as written in every file (``2026-01-31T12:00:00.000000Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    return Path(path)


def read(
    path, format: str, what: str, row: Callable[[object], object] = lambda r: r
) -> tuple[dict, list, bytes]:
    """``(header, rows, tail)`` of a file whose header names ``format``.

    ``row`` checks (and may convert) each parsed line; its ``TypeError`` or
    ``ValueError`` becomes a ``ValueError`` naming the line. A last line without
    its newline is kept if it is whole; if it is cut short it comes back as
    ``tail`` (bytes), else ``tail`` is ``b""``. ``what`` names the file kind in errors.
    """
    path = _path(path)
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1
    body, tail = raw[:end], raw[end:]
    lines = body.split(b"\n")[:-1] if body else [tail]
    if not body:
        tail = b""
    try:
        header = json.loads(lines[0])
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != format:
        raise ValueError(
            f"{path} is not an alwidgets {what} (its first line is not a "
            f"'{format}' header); it was left untouched. Choose another path."
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if line.strip():
            try:
                rows.append(row(json.loads(line)))
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
                raise ValueError(
                    f"{path}, line {number}: not a {what} line ({exc})"
                ) from None
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: {exc}") from None
    if tail:
        try:  # a whole line that only lacks its newline is kept
            rows.append(row(json.loads(tail)))
            tail = b""
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError):
            pass
    return header, rows, tail


def cut_tail(path, size: int) -> Path:
    """Move the last ``size`` bytes of ``path`` to a ``.cut-<time>`` copy; its path."""
    path = _path(path)
    stamp = now().replace("-", "").replace(":", "").replace(".", "")
    copy = path.with_name(f"{path.name}.cut-{stamp}")
    with open(path, "r+b") as f:
        f.seek(-size, os.SEEK_END)
        with open(copy, "xb") as out:
            out.write(f.read())
            out.flush()
            os.fsync(out.fileno())
        f.truncate(f.tell() - size)
        f.flush()
        os.fsync(f.fileno())
    return copy


def append_line(path, row: dict) -> None:
    """Append ``row`` as one line, in one write, fsynced (a crash leaves whole lines).

    A part line left by an earlier crash or failed write is first moved to a copy
    (:func:`cut_tail`); a whole last line lacking its newline gets one.
    """
    path = _path(path)
    line = (json.dumps(row) + "\n").encode("utf8")
    with open(path, "a+b") as f:
        end = f.seek(0, os.SEEK_END)
        if end:
            f.seek(0)
            raw = f.read()
            if not raw.endswith(b"\n"):
                part = raw[raw.rfind(b"\n") + 1 :]
                try:
                    json.loads(part)
                    f.write(b"\n")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    f.flush()
                    cut_tail(path, len(part))
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then rename)."""
    path = _path(path)
    if isinstance(data, str):
        data = data.encode("utf8")
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
