"""A run's record as it grows, and files that are never seen half-written.

`conformance run` appends each scenario's results to `runs/<stamp>-<pid>.jsonl` (the run file's
head on the first line, then one result per line) as soon as they are known. A run that ends,
finished or interrupted, becomes a run JSON and its reports, and the stream goes. A run killed
outright leaves the stream, and `conformance report STREAM.jsonl` rebuilds an incomplete run
from it. Meanwhile `runs/latest.json` names the run in progress as incomplete, so a gate never
judges an older run by mistake.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.errors import UsageError

STREAM_SUFFIX = ".jsonl"
_KILLED = "the run was stopped before it finished (rebuilt from its stream of {n} results)"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary name in the same folder, so a reader (or a
    kill at any moment) sees the old file or the new one, never a part of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def dumps(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=1, sort_keys=False) + "\n"


class RunLog:
    """The stream of one run under `directory/runs/`. Each line is written with a single
    `write` on a file opened for appending, so a kill leaves whole lines (a torn last line,
    should one happen, is dropped on reading)."""

    def __init__(self, directory: Path, head: Mapping[str, Any]) -> None:
        from conformance.report.build import finish_report

        self.runs = directory / "runs"
        self.runs.mkdir(parents=True, exist_ok=True)
        stamp = str(head["created"]).replace(":", "").replace("-", "")
        self.stem = f"{stamp}-{os.getpid()}"
        self.path = self.runs / f"{self.stem}{STREAM_SUFFIX}"
        self.head = dict(head)
        self.entries: list[dict[str, Any]] = []
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._line(self.head)
        in_progress = (
            f"in progress: process {os.getpid()} started it at {head['created']}; if that "
            f"process is gone, `conformance report {self.path}` rebuilds what it ran"
        )
        write_atomic(self.runs / "latest.json", dumps(finish_report(head, [], 0.0, in_progress)))

    def append(self, entries: Sequence[Mapping[str, Any]]) -> None:
        for entry in entries:
            self._line(entry)
            self.entries.append(dict(entry))

    def close(self, remove: bool) -> None:
        """Stop writing; `remove` once the run's own JSON holds everything."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if remove and self.path.exists():
            self.path.unlink()

    def _line(self, data: Mapping[str, Any]) -> None:
        os.write(self._fd, (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8"))


def rebuild(path: Path) -> dict[str, Any]:
    """The run a stream holds, marked incomplete: its head and every whole result line."""
    from conformance.report.build import finish_report

    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the stream: {exc.strerror or exc}") from None
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):
            continue  # an empty or torn line
    if not records or not isinstance(records[0], dict) or "created" not in records[0]:
        raise UsageError(f"{path}: not a run stream: its first line is not a run's head")
    head, entries = records[0], [r for r in records[1:] if isinstance(r, dict)]
    return finish_report(head, entries, 0.0, _KILLED.format(n=len(entries)))


def write_run(report: Mapping[str, Any], directory: Path, stem: str) -> Path:
    """`runs/<stem>.json`, atomically."""
    runs = directory / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{stem}.json"
    write_atomic(path, dumps(report))
    return path


def point_latest(report: Mapping[str, Any], directory: Path) -> Path:
    """Move `runs/latest.json` to `report`: the last step of writing a run."""
    path = directory / "runs" / "latest.json"
    write_atomic(path, dumps(report))
    return path
