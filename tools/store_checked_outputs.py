"""Execute notebooks on the offline profile and store only the outputs nbval checks.

Usage: python tools/store_checked_outputs.py notebooks/01_*.ipynb

Every code cell is cleared, except cells marked ``# NBVAL_CHECK_OUTPUT``, which keep
the outputs of a fresh run (their reference for ``pytest --nbval-lax``).
"""

import os
import sys

import nbformat
from nbclient import NotebookClient

os.environ["ALWIDGETS_PROFILE"] = "offline"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")


def main(paths: list[str]) -> None:
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        folder = os.path.dirname(os.path.abspath(path))
        resources = {"metadata": {"path": folder}}
        NotebookClient(nb, timeout=1200, resources=resources).execute()
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.metadata.pop("execution", None)
            if "NBVAL_CHECK_OUTPUT" not in cell.source:
                cell.outputs = []
                cell.execution_count = None
            else:  # nbval wants a reference cell to look executed
                cell.execution_count = 1
                for out in cell.outputs:
                    if "execution_count" in out:
                        out["execution_count"] = 1
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, path)
        print("stored", path)


if __name__ == "__main__":
    main(sys.argv[1:])
