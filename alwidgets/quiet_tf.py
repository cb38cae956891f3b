"""Quiet TensorFlow start-up: ``import alwidgets`` calls :func:`quiet_tensorflow_startup`.

TensorFlow 2.21 prints its start-up lines (oneDNN, CPU instructions) through absl
*before* it reads TF_CPP_MIN_LOG_LEVEL, so that variable alone does not hide them;
in Jupyter they show as red text above the first output. While TensorFlow's package
loads, file descriptor 2 goes to /dev/null; afterwards the log level applies.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys

__all__ = ["quiet_tensorflow_startup"]


@contextlib.contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _stderr_to_devnull():
            self._loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._loader  # leave no trace

    def __getattr__(self, name):  # resource readers and the like
        return getattr(self._loader, name)


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once, and not for the lookup below
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_startup() -> None:
    """Hide TensorFlow's start-up lines; ``import alwidgets`` calls it, nothing else to do.

    Sets ``TF_CPP_MIN_LOG_LEVEL`` to 2 (errors only) unless it is set, and, when
    TensorFlow is not loaded yet and that level is not 0, silences the C++ lines it
    prints while loading. To see everything, set ``TF_CPP_MIN_LOG_LEVEL=0`` before
    starting Jupyter. Python errors from the import still show.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if (
        "tensorflow" in sys.modules
        or os.environ["TF_CPP_MIN_LOG_LEVEL"].strip() == "0"
        or any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path)
    ):
        return
    sys.meta_path.insert(0, _QuietTensorFlow())
