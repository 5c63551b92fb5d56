"""`--shard K/N`: a deterministic split of a run's work across machines.

The unit is a scenario with all its backends, so every shard still measures its timing
ratios and cross-backend checks within one run. Scenarios are dealt round robin in id order,
so shards are balanced; every shard must select the same spec set, which `merge` checks
through the spec set's hash.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.errors import UsageError
from conformance.spec.model import Scenario

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def take(self, scenarios: Sequence[Scenario]) -> list[Scenario]:
        """This shard's scenarios, in their original order."""
        ids = sorted(scenario.id for scenario in scenarios)
        mine = {
            scenario_id for i, scenario_id in enumerate(ids) if i % self.count == self.index - 1
        }
        return [scenario for scenario in scenarios if scenario.id in mine]


def parse_shard(text: str) -> Shard:
    match = _SHARD.match(text)
    if match is None:
        raise UsageError(f"--shard {text!r}: expected K/N, e.g. 1/4")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: K must be between 1 and N")
    return Shard(index, count)
