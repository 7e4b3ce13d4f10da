"""The one place that sets how many threads numpy's BLAS uses.

Small-network updates are a few hundred microseconds of matmuls. A second BLAS thread buys
little there, and OpenBLAS threads spin while they wait for work: on a machine whose other core
is busy, a 2-thread SAC run took 3.5x as long as a 1-thread one (101.6 s against 28.8 s for
3,000 Pendulum steps). Everything in the project that limits BLAS threads goes through
:func:`blas_threads`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """BLAS limited to ``threads`` threads inside the ``with`` block (``None``: left as it is),
    the previous limits restored afterwards. Without threadpoolctl it does nothing."""
    limiter = _limit(threads)
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()


def _limit(threads: int | None) -> Any:
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=int(threads), user_api="blas")


def blas_info() -> list[dict[str, Any]]:
    """What threadpoolctl reports of the BLAS libraries loaded (library, version, kernel, threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
