"""Fixtures shared by the test files."""

import socket

import numpy as np
import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Every connection fails at once, as on a machine without network."""

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable (patched by the test)")

    monkeypatch.setattr(socket, "create_connection", unreachable)


def gaussian_blobs(
    sizes: dict[str, int],
    n_classes: int = 5,
    dim: int = 12,
    spread: float = 1.3,
    centre_scale: float = 1.0,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Overlapping Gaussian classes: ``{split: (float32 features, int labels)}``,
    one split per entry of ``sizes``, drawn in that order from ``seed``."""
    rng = np.random.default_rng(seed)
    centres = centre_scale * rng.normal(size=(n_classes, dim))
    out = {}
    for name, n in sizes.items():
        y = rng.integers(0, n_classes, n)
        out[name] = (
            (centres[y] + spread * rng.normal(size=(n, dim))).astype(np.float32),
            y,
        )
    return out


@pytest.fixture(scope="session")
def blobs():
    """:func:`gaussian_blobs`, the feature fixture of the loop and session tests."""
    return gaussian_blobs


@pytest.fixture(scope="session")
def front_end():
    """``front_end(widget, content)``: send ``content`` to ``widget`` as its front
    end does (a custom message on its comm)."""

    def send(widget, content: dict) -> None:
        data = {"method": "custom", "content": content}
        widget.comm.handle_msg({"content": {"data": data}, "buffers": []})

    return send


@pytest.fixture
def sent(monkeypatch):
    """``sent(widget)``: a list that collects what ``widget`` sends to its front end."""

    def collect(widget):
        messages = []
        monkeypatch.setattr(
            widget.comm,
            "send",
            lambda data=None, metadata=None, buffers=None: messages.append(
                (data, buffers)
            ),
        )
        return messages

    return collect
