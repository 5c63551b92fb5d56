"""Limits a backend runs under: its thread count, a memory cap, and dying with the harness.

Thread counts are set before an engine is imported (its BLAS and OpenMP read the environment
once) and again afterwards for torch, whose intra-op pool may already exist. A timing ratio
that depends on who set OMP_NUM_THREADS is not a diff.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
_PR_SET_PDEATHSIG = 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_KEEP_FREED = 1 << 30  # bytes of free heap kept before any goes back to the system
_MMAP_FROM = 32 << 20  # allocations from this size on get pages of their own


def set_thread_environment(threads: int | None) -> None:
    """Ask every math library loaded after this call for `threads` threads."""
    if threads is None:
        return
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)


@contextmanager
def thread_environment(threads: int | None) -> Iterator[None]:
    """Within the block, processes started inherit the thread variables for `threads`.

    A worker imports the harness, and with it numpy and its BLAS, before its own code runs, so
    the variables must be in its environment from the start, not set once it is running."""
    if threads is None:
        yield
        return
    saved = {variable: os.environ.get(variable) for variable in THREAD_VARIABLES}
    set_thread_environment(threads)
    try:
        yield
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def set_loaded_threads(threads: int | None) -> None:
    """Apply `threads` to libraries already imported that keep their own pool (torch)."""
    if threads is None:
        return
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(threads)


def cap_memory(megabytes: int | None) -> None:
    """Cap this process's private writable memory, so a runaway allocation becomes a
    MemoryError instead of swapping the machine. RLIMIT_DATA rather than RLIMIT_AS: device
    runtimes reserve huge inaccessible address ranges that count against AS but not DATA."""
    if not megabytes:
        return
    try:
        import resource
    except ImportError:  # not on this platform: the run goes on uncapped
        return
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def keep_freed_memory() -> None:
    """Let freed memory be reused instead of going back to the system after each run.

    A worker runs one engine alone, so after a scenario's 4 MB arrays are freed nothing else
    sits above them on the heap, and glibc returns them; the next timed round then pays a
    page fault per page (the 1000x1000 chain took 5x as long). The harness's own process,
    busy with everything else, never trims, so without this a worker would time something no
    long-lived user process sees. glibc only; elsewhere the allocator's defaults stand."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED)
    except (OSError, AttributeError):  # not glibc
        return


def die_with_parent() -> None:
    """Have the kernel kill this worker when the harness dies, even by SIGKILL, so a worker
    stuck in a hung engine never outlives the run (Linux only; elsewhere the worker ends at
    its next read from the closed pipe)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
