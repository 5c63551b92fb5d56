"""How backends are kept apart: the settings the CLI and the pytest plugin both take.

Light on imports on purpose: pytest loads the plugin's options, and so this module, on every
run, including runs that never ask for conformance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.spec.model import Scenario

MODES = ("process", "none")


@dataclass(frozen=True, slots=True)
class Isolation:
    """How backends are kept apart. `timeout_s` bounds one run of a scenario (a check or one
    timed round), `bench_timeout_s` the same for scenarios tagged `bench`; `memory_limit_mb`
    caps a worker's private memory (None: no cap); `threads` is each backend's thread count
    (None: the library's default)."""

    mode: str = "process"
    timeout_s: float = 60.0
    bench_timeout_s: float = 300.0
    memory_limit_mb: int | None = 4096
    threads: int | None = 1

    def limit_for(self, scenario: Scenario) -> float:
        return self.bench_timeout_s if "bench" in scenario.tags else self.timeout_s

    def record(self) -> dict[str, Any]:
        """What the run JSON says about isolation."""
        return {
            "mode": self.mode,
            "timeout_s": self.timeout_s,
            "bench_timeout_s": self.bench_timeout_s,
            "memory_limit_mb": self.memory_limit_mb,
        }
