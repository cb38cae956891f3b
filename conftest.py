"""Test-wide settings, read before any test or notebook kernel starts.

Environment variables set here reach the nbval kernels too.
"""

import os
import tempfile

os.environ["ALWIDGETS_PROFILE"] = "offline"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
# A fresh cache per run, so the notebooks prove they rebuild what they need.
os.environ.setdefault(
    "ALWIDGETS_CACHE_DIR", tempfile.mkdtemp(prefix="alwidgets-test-cache-")
)
