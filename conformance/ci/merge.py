"""`conformance merge`: join the run files of shards into one run, as if one machine ran it.

Shards must have run the same spec set (same hash) on the same backends with the same
baselines; a scenario x backend found in two files is an error, never silently overwritten.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from conformance.errors import UsageError
from conformance.report.runfile import RunRecord
from conformance.run.results import Status

MISSING_NAMED = 20


def merge_runs(runs: Sequence[tuple[str, RunRecord]]) -> dict[str, Any]:
    """One run's JSON data from `(file name, run)` pairs."""
    if not runs:
        raise UsageError("merge: give at least one run file")
    (first_name, first), *rest = runs
    for name, run in rest:
        _check_compatible(first_name, first, name, run)
    owner: dict[tuple[str, str], str] = {}
    entries: list[dict[str, Any]] = []
    for name, run in runs:
        for entry in run.data["results"]:
            key = (entry["scenario"], entry["backend"])
            if key in owner:
                raise UsageError(
                    f"merge: {key[0]} [{key[1]}] is in both {owner[key]} and {name}; "
                    f"were the same shard's results given twice?"
                )
            owner[key] = name
            entries.append(entry)
    order = {name: index for index, name in enumerate(first.backend_names())}
    entries.sort(key=lambda entry: (entry["scenario"], order[entry["backend"]]))
    counts = Counter(entry["status"] for entry in entries)
    data = dict(first.data)
    data.update(
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        shard=None,
        elapsed_s=max(float(run.data.get("elapsed_s", 0.0)) for _, run in runs),
        expectations={
            "files": sorted({f for _, r in runs for f in r.data["expectations"]["files"]}),
            "stale": sorted({s for _, r in runs for s in r.stale}),
        },
        summary={status.value: counts.get(status.value, 0) for status in Status},
        results=entries,
        merged_from=[
            {
                "file": name,
                "created": run.created,
                "shard": run.data.get("shard"),
                "hostname": run.environment.get("hostname"),
            }
            for name, run in runs
        ],
    )
    data.pop("incomplete", None)
    stopped = [f"{name}: {run.incomplete}" for name, run in runs if run.incomplete is not None]
    if stopped:
        # One interrupted shard makes the whole incomplete, or the gate would judge its
        # missing part as never run instead of as lost.
        data["incomplete"] = (
            f"{len(stopped)} of {len(runs)} inputs did not finish (" + "; ".join(stopped) + ")"
        )
    return data


def missing_shards(runs: Sequence[tuple[str, RunRecord]]) -> list[str]:
    """Shards of an N-way split that none of the files holds, as 'K/N'."""
    shards = [run.data.get("shard") for _, run in runs]
    if not shards or any(shard is None for shard in shards):
        return []
    count = shards[0]["count"]  # type: ignore[index]
    held = {shard["index"] for shard in shards}  # type: ignore[index]
    missing = count - sum(1 for index in held if 1 <= index <= count)
    # Only the first few are named: a damaged count must not make this loop for hours.
    named: list[str] = []
    for index in range(1, count + 1):
        if len(named) == MISSING_NAMED:
            if missing > MISSING_NAMED:
                named.append(f"(and {missing - MISSING_NAMED} more of {count})")
            break
        if index not in held:
            named.append(f"{index}/{count}")
    return named


def _check_compatible(first_name: str, first: RunRecord, name: str, run: RunRecord) -> None:
    def differ(what: str, mine: object, theirs: object) -> None:
        raise UsageError(
            f"merge: {name} and {first_name} differ in {what} ({theirs!r} vs {mine!r}); "
            f"shards must run the same specs with the same options"
        )

    if run.spec_hash != first.spec_hash:
        differ("spec set", first.spec_hash, run.spec_hash)
    if run.backend_names() != first.backend_names():
        differ("backends", first.backend_names(), run.backend_names())
    if run.data.get("baseline") != first.data.get("baseline"):
        differ("baseline", first.data.get("baseline"), run.data.get("baseline"))
    if run.data.get("timing") != first.data.get("timing"):
        differ("timing options", first.data.get("timing"), run.data.get("timing"))
    shard, first_shard = run.data.get("shard"), first.data.get("shard")
    if shard and first_shard and shard["count"] != first_shard["count"]:
        differ("shard count", first_shard["count"], shard["count"])
