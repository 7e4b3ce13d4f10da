"""Fresh Python processes for the benchmarks: each measurement starts with clean imports and
thread pools (a BLAS or OpenMP pool left spinning by one setting would steal a core from the next)."""

from __future__ import annotations

import os
import subprocess
import sys


def thread_env(threads: int) -> dict[str, str]:
    """This process's environment with OpenMP, OpenBLAS and MKL limited to ``threads`` threads."""
    n = str(threads)
    return {**os.environ, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n}


def run_python(args: list[str], env: dict[str, str] | None = None) -> str:
    """The stdout of ``python *args`` run to completion in a fresh process; a ``RuntimeError``
    naming the command and ending with its stderr if it fails."""
    cmd = [sys.executable, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def last_line(stdout: str) -> str:
    """The last line a child printed (its result; anything before is progress or warnings)."""
    return stdout.strip().splitlines()[-1]
