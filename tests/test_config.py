import os
import socket
import subprocess
import sys
import time

import pytest

import alwidgets
from alwidgets.config import OfflineError


def test_profile_switch(monkeypatch):
    monkeypatch.delenv("ALWIDGETS_PROFILE", raising=False)
    assert alwidgets.get_profile() == "full"
    assert alwidgets.set_profile("Offline") == "offline"
    assert alwidgets.get_profile() == "offline"
    monkeypatch.setenv("ALWIDGETS_PROFILE", "gpu")
    with pytest.raises(ValueError, match="ALWIDGETS_PROFILE"):
        alwidgets.get_profile()


def test_bad_profile_name_changes_nothing(monkeypatch):
    monkeypatch.setenv("ALWIDGETS_PROFILE", "offline")
    with pytest.raises(ValueError, match="unknown profile"):
        alwidgets.set_profile("fast")
    with pytest.raises(TypeError):
        alwidgets.set_profile(1)
    assert alwidgets.get_profile() == "offline"


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path / "c"))
    assert alwidgets.cache_dir("features") == tmp_path / "c" / "features"
    assert (tmp_path / "c" / "features").is_dir()
    with pytest.raises(ValueError):
        alwidgets.cache_dir("../escape")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_network_gives_a_clear_message_fast():
    start = time.monotonic()
    with pytest.raises(OfflineError, match="set_profile\\('offline'\\)"):
        alwidgets.check_network("127.0.0.1", _closed_port(), timeout=5)
    assert time.monotonic() - start < 15


def test_hanging_network_is_cut_at_the_timeout(monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(30)
        raise OSError("no answer")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    with pytest.raises(OfflineError, match="timed out"):
        alwidgets.check_network("example.invalid", 443, timeout=1)
    assert time.monotonic() - start < 3


def test_reachable_host_passes():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        alwidgets.check_network("127.0.0.1", server.getsockname()[1], timeout=5)


def _stderr_of(code: str, level: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return run.stderr.splitlines()


def test_importing_alwidgets_first_hides_tensorflows_startup_lines():
    code = "import alwidgets, keras, tensorflow as tf; tf.constant(1.0) + 1"
    assert _stderr_of(code, None) == []
    # TF_CPP_MIN_LOG_LEVEL=0 asks for everything: exactly what TensorFlow prints alone.
    plain = _stderr_of("import tensorflow as tf; tf.constant(1.0) + 1", "0")
    assert len(_stderr_of(code, "0")) == len(plain)
    # The import hook leaves TensorFlow's own loader in place.
    check = "import alwidgets, tensorflow as tf; print(type(tf.__spec__.loader))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert "alwidgets" not in out.stdout and out.returncode == 0
