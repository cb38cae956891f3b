"""Execute notebooks on the offline profile and store only the outputs nbval checks.

Usage: python tools/store_checked_outputs.py notebooks/01_*.ipynb

Every code cell is cleared, except cells marked ``# NBVAL_CHECK_OUTPUT``, which keep
the outputs of a fresh run (their reference for ``pytest --nbval-lax``).
"""

import os
import sys
from pathlib import Path

import nbformat

sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # tools/, also when imported by path
import notebook_runner  # noqa: E402

ENV = {
    "ALWIDGETS_PROFILE": "offline",
    "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
    "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg"),
}


def main(paths: list[str]) -> None:
    for path in paths:
        nb = notebook_runner.execute(path, env=ENV, timeout=1200).check(path)
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
