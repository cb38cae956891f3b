"""Fixtures shared by the test files."""

import socket

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Every connection fails at once, as on a machine without network."""

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable (patched by the test)")

    monkeypatch.setattr(socket, "create_connection", unreachable)
