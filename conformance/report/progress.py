"""Progress people can see: a bar at a terminal from the first result, and in a CI log (not a
terminal) a plain line every few seconds, so a long job never looks stuck."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from conformance.run.results import ScenarioResult

LOG_EVERY_S = 10.0  # a log line at least this often while results come
LOG_SHARE = 0.1  # ... and at each tenth of the runs


class Progress:
    """Counts results per backend as they come; a context manager giving `advance`."""

    def __init__(
        self,
        total: int,
        backends: Sequence[str],
        stream: TextIO | None = None,
        every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.backends = list(backends)
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.clock = clock
        self.done: Counter[str] = Counter()
        self.failed = 0
        self.bar: Any = None
        self.started = self.logged = clock()
        self.step = max(1, int(total * LOG_SHARE))

    def __enter__(self) -> Callable[[ScenarioResult], None]:
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, file=self.stream, unit="run", leave=False)
        return self.advance

    def advance(self, result: ScenarioResult) -> None:
        self.done[result.backend] += 1
        self.failed += not result.ok
        if self.bar is not None:
            self.bar.set_postfix_str(self._counts(), refresh=False)
            self.bar.update()
            return
        count, now = sum(self.done.values()), self.clock()
        if now - self.logged >= self.every_s or count % self.step == 0 or count == self.total:
            self.logged = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        count = sum(self.done.values())
        return (
            f"progress: {count}/{self.total} runs ({self._counts()}), "
            f"{self.failed} failed so far, {self.clock() - self.started:.0f} s"
        )

    def _counts(self) -> str:
        per = self.total // max(len(self.backends), 1)
        return ", ".join(f"{name} {self.done[name]}/{per}" for name in self.backends)

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()
