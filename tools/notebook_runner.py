"""The one way the tools execute a notebook: a fresh kernel in a child process.

:func:`execute` runs ``path`` with nbclient in a child process (so that the
environment, the one-core pinning and the memory measurement apply to it alone) and
returns a :class:`Run`: the executed notebook, seconds, exit status, the peak
memory of the kernel (VmHWM, Linux) and the tail of the log. Options: working folder,
extra environment, timeout, allow errors (every cell runs; errors stay in the
outputs), widget state stored in the notebook, one core (``taskset -c 0`` and one
thread per library). editions, site, time_notebooks, fullscale and
store_checked_outputs use it, and so does ``make tutorial``::

    python tools/notebook_runner.py --out build/executed notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: One thread per library: with ``one_core``, what a one-core machine runs.
ONE_CORE = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def cell_text(source) -> str:
    """A cell's source as one string (nbformat stores a string or a list of lines)."""
    return "".join(source) if isinstance(source, list) else source


class CellExecutionError(RuntimeError):
    """A notebook did not run to the end (a cell raised, or it timed out)."""


@dataclasses.dataclass
class Run:
    """One execution: the executed notebook (``None`` if none was written), the
    seconds, the exit status (0: ran to the end), the kernel's peak RSS in MiB and
    the last lines of the log."""

    nb: object
    seconds: float
    exit: int
    peak_rss_mib: float
    log: str

    @property
    def ok(self) -> bool:
        return self.exit == 0

    def check(self, name: str):
        """The executed notebook; :class:`CellExecutionError` if it did not run."""
        if not self.ok or self.nb is None:
            raise CellExecutionError(f"{name} did not run to the end:\n{self.log}")
        return self.nb


# --- memory of a process tree ----------------------------------------------------------


def _tree(pid: int) -> list[int]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return [pid, *(c.pid for c in proc.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def _hwm_mib(pid: int) -> tuple[float, str]:
    """(peak RSS so far in MiB, command line) of ``pid``, from /proc (Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return 0.0, ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024, cmdline.decode(errors="replace")
    return 0.0, ""


def measure(cmd: list[str], env: dict, log: Path, timeout: float, cwd=None) -> dict:
    """Run ``cmd``: wall time, exit status, peak RSS (VmHWM) of the working process.

    That is the Jupyter kernel if ``cmd`` starts one, else ``cmd``'s own process.
    Killed (with its children) after ``timeout`` seconds.
    """
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        peaks: dict[int, tuple[float, str]] = {}
        status = None
        while status is None:
            for pid in _tree(proc.pid):
                mib, line = _hwm_mib(pid)
                if mib >= peaks.get(pid, (0.0, ""))[0]:
                    peaks[pid] = (mib, line or peaks.get(pid, (0, ""))[1])
            waited, status = os.waitpid(proc.pid, os.WNOHANG)
            if waited == 0:
                status = None
                if time.monotonic() - start > timeout:
                    for pid in reversed(_tree(proc.pid)):
                        try:
                            os.kill(pid, 9)
                        except OSError:
                            pass
                time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    kernel = [m for m, line in peaks.values() if "ipykernel" in line]
    polled = max(kernel) if kernel else peaks.get(proc.pid, (0.0, ""))[0]
    # (Not ru_maxrss: on Linux a child's counts its parent's RSS at fork/exec.)
    return {
        "wall_s": round(time.monotonic() - start, 1),
        "exit": proc.returncode,
        "peak_rss_mib": round(polled, 1),
        "biggest": max(peaks.values(), default=(0, ""))[1][:200],
    }


# --- executing a notebook ----------------------------------------------------------------


def execute(
    path,
    *,
    cwd=None,
    env: dict | None = None,
    timeout: float = 1200,
    allow_errors: bool = False,
    widget_state: bool = False,
    one_core: bool = False,
    log: Path | None = None,
) -> Run:
    """Execute the notebook ``path`` in a fresh kernel; see the module docstring.

    ``cwd``: the kernel's working folder (default: the notebook's). ``env``: added
    to this process's environment. ``log``: keep the log there (default: dropped).
    """
    import nbformat

    path = Path(path).resolve()
    if not path.is_file():
        raise ValueError(f"no notebook at {path}")
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or timeout <= 0
    ):
        raise ValueError(
            f"timeout must be a positive number of seconds, got {timeout!r}"
        )
    cwd = Path(cwd or path.parent).resolve()
    full_env = {**os.environ, **(ONE_CORE if one_core else {}), **(env or {})}
    pin = ["taskset", "-c", "0"] if one_core and shutil.which("taskset") else []
    with tempfile.TemporaryDirectory(prefix="alwidgets-run-") as tmp:
        out, log = Path(tmp) / "executed.ipynb", Path(log or Path(tmp) / "log.txt")
        cmd = [*pin, sys.executable, __file__, "--child", str(path), str(out), str(cwd)]
        cmd += [str(timeout), str(int(allow_errors)), str(int(widget_state))]
        result = measure(cmd, full_env, log, timeout + 60, cwd=cwd)
        nb = nbformat.read(out, as_version=4) if out.exists() else None
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
    return Run(nb, result["wall_s"], result["exit"], result["peak_rss_mib"], tail)


def _child(path, out, cwd, timeout, allow_errors, widget_state) -> int:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=float(timeout),
        allow_errors=allow_errors == "1",
        kernel_name="python3",
        store_widget_state=widget_state == "1",
        resources={"metadata": {"path": cwd}},
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, out)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child(*argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="write the executed copies here")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--one-core", action="store_true")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks:
        run = execute(path, timeout=args.timeout, one_core=args.one_core)
        print(f"{path.name}: {run.seconds} s, {run.peak_rss_mib} MiB, exit {run.exit}")
        if not run.ok:
            failed += 1
            print(run.log)
        if args.out and run.nb is not None:
            import nbformat

            args.out.mkdir(parents=True, exist_ok=True)
            nbformat.write(run.nb, args.out / path.name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
