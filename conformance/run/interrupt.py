"""SIGINT and SIGTERM as an exception the run loop catches, so an interrupted run keeps what
it has: its results so far become a run marked incomplete, and the exit status says which
signal (130 or 143, as shells report them)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A signal asked the run to stop. A BaseException, so no `except Exception` in engine
    or harness code swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Within the block, SIGINT and SIGTERM are noted, not acted on: writing a run's files
    takes a moment and must not be cut in half. The list holds the signals that came."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    previous = {signum: signal.signal(signum, lambda s, f: came.append(s)) for signum in SIGNALS}
    try:
        yield came
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
